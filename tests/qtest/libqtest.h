/*
 * libqtest: the client side of QEMU's qtest protocol for Vireo's device
 * tests. Starts `vireo -accel qtest`, drives port I/O, memory, the virtual
 * clock and interrupt lines over one socket and QMP over another.
 */
#ifndef TESTS_QTEST_LIBQTEST_H
#define TESTS_QTEST_LIBQTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <jansson.h>

typedef struct QTestState QTestState;

/* Seconds any single wait for vireo may take before the test fails. */
#define QTEST_TIMEOUT_S 30

/*
 * Starts vireo ($VIREO, else the build's binary) with extra_args split as a
 * shell would, waits for both sockets and negotiates QMP capabilities.
 */
QTestState *qtest_init(const char *extra_args);
QTestState *qtest_initf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* SIGTERM, wait, and remove the sockets; fails if vireo crashed. */
void qtest_quit(QTestState *s);
/* The vireo binary the tests run ($VIREO, else the build's). */
const char *qtest_vireo_binary(void);
/*
 * Runs `vireo -accel qtest -display none -nodefaults ARGS` to its end (for
 * command lines that should fail): its wait status, and its stderr in *err.
 */
int qtest_run_vireo(const char *args, char **err);
/* SIGKILL, as a crash of the host process would end it, and clean up. */
void qtest_kill(QTestState *s);
/* Waits for vireo to exit by itself: its exit status, or -1 on timeout. */
int qtest_wait_exit(QTestState *s, int timeout_ms);
bool qtest_alive(QTestState *s);
/*
 * A path for a test's own socket or file (caller frees), in a folder that
 * is removed when the test program exits or fails.
 */
char *qtest_tmp_path(const char *name);
/* vireo's stderr so far (caller frees), for messages. */
char *qtest_log(QTestState *s);

/* Port I/O */
void qtest_outb(QTestState *s, uint16_t port, uint8_t value);
void qtest_outw(QTestState *s, uint16_t port, uint16_t value);
void qtest_outl(QTestState *s, uint16_t port, uint32_t value);
uint8_t qtest_inb(QTestState *s, uint16_t port);
uint16_t qtest_inw(QTestState *s, uint16_t port);
uint32_t qtest_inl(QTestState *s, uint16_t port);

/* Guest memory */
void qtest_writeb(QTestState *s, uint64_t addr, uint8_t value);
void qtest_writew(QTestState *s, uint64_t addr, uint16_t value);
void qtest_writel(QTestState *s, uint64_t addr, uint32_t value);
void qtest_writeq(QTestState *s, uint64_t addr, uint64_t value);
uint8_t qtest_readb(QTestState *s, uint64_t addr);
uint16_t qtest_readw(QTestState *s, uint64_t addr);
uint32_t qtest_readl(QTestState *s, uint64_t addr);
uint64_t qtest_readq(QTestState *s, uint64_t addr);
void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf,
                    size_t len);
void qtest_bufread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_bufwrite(QTestState *s, uint64_t addr, const void *buf,
                    size_t len);
void qtest_memset(QTestState *s, uint64_t addr, uint8_t pattern, size_t len);

/* Virtual clock; each returns the new time in ns. */
int64_t qtest_clock_step_next(QTestState *s);
int64_t qtest_clock_step(QTestState *s, int64_t ns);
int64_t qtest_clock_set(QTestState *s, int64_t ns);

/* Interrupt lines */
void qtest_irq_intercept_in(QTestState *s, const char *path);
void qtest_irq_intercept_out(QTestState *s, const char *path);
/* Level of intercepted line num after every "IRQ" line vireo sent so far. */
bool qtest_get_irq(QTestState *s, int num);
/* How many "IRQ raise num" lines vireo sent so far (pulses count too). */
unsigned qtest_irq_raise_count(QTestState *s, int num);
void qtest_set_irq_in(QTestState *s, const char *path, const char *name,
                      int num, int level);

/* Sends one line without waiting for its reply (commands that end vireo). */
void qtest_send(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* One raw protocol line and its reply (no newline, caller frees), no check. */
char *qtest_command(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/*
 * QMP. fmt is printf-style JSON; single quotes may stand for double quotes,
 * as in QEMU's tests. Returns the whole {"return": ...} or {"error": ...}
 * (caller decrefs); events seen meanwhile are queued.
 */
json_t *qtest_qmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Waits for the event (queued or new) and returns it (caller decrefs). */
json_t *qtest_qmp_eventwait_ref(QTestState *s, const char *event);
void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* human-monitor-command: the text HMP printed (caller frees). */
char *qtest_hmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* query-status's "return" object (caller decrefs). */
json_t *qtest_query_status(QTestState *s);

/* Guest memory allocator: 4 KiB-aligned blocks of [start, end). */
typedef struct QGuestAllocator QGuestAllocator;

QGuestAllocator *guest_alloc_init(uint64_t start, uint64_t end);
/* Fails the test when no block is free; contents are not zeroed. */
uint64_t guest_alloc(QGuestAllocator *a, size_t size);
void guest_free(QGuestAllocator *a, uint64_t addr);
void guest_alloc_uninit(QGuestAllocator *a);

/* RAM a test may use on pc with -m 128M (the default): 1 MiB up to 128 MiB. */
#define PC_ALLOC_START 0x100000ULL
#define PC_ALLOC_END (128ULL << 20)

#endif
