/*
 * The qtest protocol server (accel/qtest/qtest.c): QEMU's line protocol for
 * driving a machine without a guest (port I/O, memory, the virtual clock,
 * interrupt lines), as QEMU's docs/devel/qtest.rst describes it.
 */
#ifndef SYSTEM_QTEST_H
#define SYSTEM_QTEST_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "chardev/char.h"
#include "hw/i386/x86.h"

typedef struct QTestServer QTestServer;

/* Where replies and "IRQ raise N" lines go (whole lines, '\n' included). */
typedef void QTestOutputFn(void *opaque, const char *text, size_t len);

/*
 * A server for machine m (built with -accel qtest); log: a FILE the
 * protocol is logged to as QEMU's -qtest-log does, or NULL.
 */
QTestServer *qtest_server_new(Machine *m, QTestOutputFn *output,
                              void *opaque, FILE *log);
/* Input from the client: complete lines are executed, the rest kept. */
void qtest_server_feed(QTestServer *s, const char *buf, size_t len);
/* Drops interception and frees the server. */
void qtest_server_free(QTestServer *s);

/*
 * -qtest SPEC [-qtest-log FILE]: serves the protocol on the chardev chr
 * (created from SPEC before the machine). log_path NULL logs to stderr,
 * "none" not at all, as in QEMU.
 */
bool qtest_chardev_start(Machine *m, Chardev *chr, const char *log_path,
                         GError **errp);
void qtest_chardev_stop(void);

#endif
