/*
 * The qtest protocol server: a test sends one command per line and gets one
 * reply line ("OK", "OK <value>", "FAIL <reason>"); "IRQ raise N" and
 * "IRQ lower N" lines report intercepted interrupt lines as they change.
 * Commands and replies are QEMU's (docs/devel/qtest.rst), except that a
 * malformed command gets a FAIL reply where QEMU would abort.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hw/intc/x86-irqchip.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "system/timer.h"
#include "util/opts.h"

/* Largest read/write/b64read/b64write, so a reply stays bounded. */
#define QTEST_MAX_XFER      (8 * 1024 * 1024)
#define QTEST_MAX_MEMSET    (1024ULL * 1024 * 1024)
/* A hex read's reply; commands wait while the client has no room for it. */
#define QTEST_MAX_REPLY     (2 * QTEST_MAX_XFER + 64)
/* A hex write's command line. */
#define QTEST_MAX_LINE      (2 * QTEST_MAX_XFER + 256)

typedef enum Intercept {
    INTERCEPT_NONE,
    INTERCEPT_IN,       /* the interrupt controllers' inputs (observed) */
    INTERCEPT_OUT,      /* the board's GSI lines (taken over) */
} Intercept;

struct QTestServer {
    Machine *m;
    QTestOutputFn *output;
    void *opaque;
    size_t (*room)(void *opaque);
    FILE *log;
    int64_t start_ns;       /* log times count from here */
    GString *inbuf;         /* input after the last complete line */
    bool discarding;        /* the current line was too long: skip it */
    Intercept intercept;
    IRQLine saved_gsi[X86_NUM_GSI];
    bool out_levels[X86_NUM_GSI];
};

typedef struct QTestCommand {
    const char *name;
    int nargs;              /* required words after the name */
    unsigned size;          /* access width of inb/readw/... */
    char *(*run)(QTestServer *s, const struct QTestCommand *cmd,
                 char **args);
} QTestCommand;

static void log_line(QTestServer *s, char dir, const char *text)
{
    int64_t us = (clock_get_ns(CLK_REALTIME) - s->start_ns) / 1000;

    if (s->log) {
        fprintf(s->log, "[%c +%" PRId64 ".%06" PRId64 "] %s\n", dir,
                us / 1000000, us % 1000000, text);
        fflush(s->log);
    }
}

/* Sends one line (text without its newline). */
static void send_line(QTestServer *s, const char *text)
{
    size_t len = strlen(text);

    log_line(s, 'S', text);
    s->output(s->opaque, text, len);
    s->output(s->opaque, "\n", 1);
}

static char *fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strconcat("FAIL ", msg, NULL);
}

/* ---- arguments ---- */

/* A number as QEMU's qtest takes it: decimal, 0x hex or 0 octal. */
static bool parse_u64(const char *word, uint64_t *out)
{
    char *end;

    if (!word[0] || word[0] == '-' || word[0] == '+') {
        return false;
    }
    errno = 0;
    *out = g_ascii_strtoull(word, &end, 0);
    return !errno && *end == '\0';
}

static bool parse_i64(const char *word, int64_t *out)
{
    char *end;

    if (!word[0]) {
        return false;
    }
    errno = 0;
    *out = g_ascii_strtoll(word, &end, 0);
    return !errno && *end == '\0';
}

/* ADDR and SIZE of a block access; the range must not wrap. */
static char *parse_range(char **args, uint64_t max, uint64_t *addr,
                         uint64_t *size)
{
    if (!parse_u64(args[0], addr)) {
        return fail("invalid address '%s'", args[0]);
    }
    if (!parse_u64(args[1], size)) {
        return fail("invalid size '%s'", args[1]);
    }
    if (*size > max) {
        return fail("size %" PRIu64 " is larger than %" PRIu64, *size, max);
    }
    if (*size && *addr + *size - 1 < *addr) {
        return fail("range wraps around the address space");
    }
    return NULL;
}

static uint64_t width_mask(unsigned size)
{
    return size == 8 ? UINT64_MAX : (1ULL << (size * 8)) - 1;
}

/* ---- port I/O and memory ---- */

static char *cmd_out(QTestServer *s, const QTestCommand *cmd, char **args)
{
    uint64_t port, value;

    if (!parse_u64(args[0], &port) || port > 0xffff) {
        return fail("invalid port '%s'", args[0]);
    }
    if (!parse_u64(args[1], &value)) {
        return fail("invalid value '%s'", args[1]);
    }
    /* QEMU keeps the low bits of a value too wide for the access */
    address_space_st(&s->m->as_io, port, cmd->size,
                     value & width_mask(cmd->size));
    return g_strdup("OK");
}

static char *cmd_in(QTestServer *s, const QTestCommand *cmd, char **args)
{
    uint64_t port, value;

    if (!parse_u64(args[0], &port) || port > 0xffff) {
        return fail("invalid port '%s'", args[0]);
    }
    address_space_ld(&s->m->as_io, port, cmd->size, &value);
    return g_strdup_printf("OK 0x%04" PRIx64, value);
}

static char *cmd_write_n(QTestServer *s, const QTestCommand *cmd,
                         char **args)
{
    uint64_t addr, value;

    if (!parse_u64(args[0], &addr) || addr + cmd->size - 1 < addr) {
        return fail("invalid address '%s'", args[0]);
    }
    if (!parse_u64(args[1], &value)) {
        return fail("invalid value '%s'", args[1]);
    }
    address_space_st(&s->m->as_mem, addr, cmd->size,
                     value & width_mask(cmd->size));
    return g_strdup("OK");
}

static char *cmd_read_n(QTestServer *s, const QTestCommand *cmd,
                        char **args)
{
    uint64_t addr, value;

    if (!parse_u64(args[0], &addr) || addr + cmd->size - 1 < addr) {
        return fail("invalid address '%s'", args[0]);
    }
    address_space_ld(&s->m->as_mem, addr, cmd->size, &value);
    return g_strdup_printf("OK 0x%016" PRIx64, value);
}

static char *cmd_read(QTestServer *s, const QTestCommand *cmd, char **args)
{
    uint64_t addr, size;
    char *err = parse_range(args, QTEST_MAX_XFER, &addr, &size);

    if (err) {
        return err;
    }
    g_autofree uint8_t *data = g_malloc(size);
    GString *reply = g_string_sized_new(2 * size + 8);
    address_space_read(&s->m->as_mem, addr, data, size);
    g_string_append(reply, "OK 0x");
    for (uint64_t i = 0; i < size; i++) {
        g_string_append_printf(reply, "%02x", data[i]);
    }
    return g_string_free(reply, FALSE);
}

static char *cmd_b64read(QTestServer *s, const QTestCommand *cmd,
                         char **args)
{
    uint64_t addr, size;
    char *err = parse_range(args, QTEST_MAX_XFER, &addr, &size);

    if (err) {
        return err;
    }
    g_autofree uint8_t *data = g_malloc(size);
    address_space_read(&s->m->as_mem, addr, data, size);
    g_autofree char *b64 = g_base64_encode(data, size);
    return g_strconcat("OK ", b64, NULL);
}

static int hex_nibble(char c)
{
    return g_ascii_isxdigit(c) ? g_ascii_xdigit_value(c) : -1;
}

/* write ADDR SIZE 0xHEX: missing trailing bytes are zero, extra ignored. */
static char *cmd_write(QTestServer *s, const QTestCommand *cmd, char **args)
{
    uint64_t addr, size;
    char *err = parse_range(args, QTEST_MAX_XFER, &addr, &size);
    const char *hex = args[2];

    if (err) {
        return err;
    }
    if (hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X')) {
        return fail("data must start with 0x");
    }
    hex += 2;
    size_t digits = strlen(hex);
    g_autofree uint8_t *data = g_malloc0(size);
    for (uint64_t i = 0; i < size && 2 * i + 1 < digits; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return fail("invalid hex data");
        }
        data[i] = hi << 4 | lo;
    }
    address_space_write(&s->m->as_mem, addr, data, size);
    return g_strdup("OK");
}

static char *cmd_b64write(QTestServer *s, const QTestCommand *cmd,
                          char **args)
{
    uint64_t addr, size;
    char *err = parse_range(args, QTEST_MAX_XFER, &addr, &size);
    gsize len;

    if (err) {
        return err;
    }
    guchar *data = g_base64_decode_inplace(args[2], &len);
    if (len != size) {
        /* QEMU warns and writes what both agree on */
        log_line(s, 'I', "b64write: data length mismatch");
    }
    address_space_write(&s->m->as_mem, addr, data, MIN(len, size));
    return g_strdup("OK");
}

static char *cmd_memset(QTestServer *s, const QTestCommand *cmd,
                        char **args)
{
    uint64_t addr, size, value;
    char *err = parse_range(args, QTEST_MAX_MEMSET, &addr, &size);
    uint8_t chunk[4096];

    if (err) {
        return err;
    }
    if (!parse_u64(args[2], &value)) {
        return fail("invalid value '%s'", args[2]);
    }
    memset(chunk, value & 0xff, sizeof(chunk));
    for (uint64_t done = 0; done < size; done += sizeof(chunk)) {
        address_space_write(&s->m->as_mem, addr + done, chunk,
                            MIN(sizeof(chunk), size - done));
    }
    return g_strdup("OK");
}

/* ---- the virtual clock ---- */

static char *cmd_clock_step(QTestServer *s, const QTestCommand *cmd,
                            char **args)
{
    int64_t ns;

    if (!s->m->no_guest) {
        return fail("the clock moves by itself outside -accel qtest");
    }
    if (!args[0]) {
        /* to the next timer deadline, if any */
        int64_t deadline = clock_virtual_deadline();
        int64_t now = clock_get_ns(CLK_VIRTUAL);
        ns = deadline < 0 ? 0 : MAX(deadline - now, 0);
    } else if (!parse_i64(args[0], &ns)) {
        return fail("invalid time '%s'", args[0]);
    }
    return g_strdup_printf("OK %" PRId64, clock_virtual_step(ns));
}

static char *cmd_clock_set(QTestServer *s, const QTestCommand *cmd,
                           char **args)
{
    int64_t ns;

    if (!s->m->no_guest) {
        return fail("the clock moves by itself outside -accel qtest");
    }
    if (!parse_i64(args[0], &ns)) {
        return fail("invalid time '%s'", args[0]);
    }
    return g_strdup_printf("OK %" PRId64, clock_virtual_set(ns));
}

/* ---- interrupt lines ---- */

/*
 * Paths as QEMU's tests name them: the IOAPIC ("ioapic", or a QOM path
 * ending in it) has the GSIs as inputs; "/machine" has the board's GSI
 * lines as outputs.
 */
static bool path_is_ioapic(const char *path)
{
    return !strcmp(path, "ioapic") || g_str_has_suffix(path, "/ioapic");
}

static bool path_is_machine(const char *path)
{
    return !strcmp(path, "/machine") || !strcmp(path, "machine");
}

static void send_irq(QTestServer *s, int n, int level)
{
    g_autofree char *line = g_strdup_printf("IRQ %s %d",
                                            level ? "raise" : "lower", n);
    send_line(s, line);
}

static void irq_in_observed(void *opaque, int gsi, int level)
{
    send_irq(opaque, gsi, level);
}

/* An intercepted GSI line: reported, and not passed on (as in QEMU). */
static void irq_out_handler(void *opaque, int n, int level)
{
    QTestServer *s = opaque;

    if (s->out_levels[n] != !!level) {
        s->out_levels[n] = !!level;
        send_irq(s, n, level);
    }
}

static char *cmd_irq_intercept(QTestServer *s, const QTestCommand *cmd,
                               char **args)
{
    Machine *m = s->m;
    bool in = !strcmp(cmd->name, "irq_intercept_in");

    if (in ? !path_is_ioapic(args[0]) : !path_is_machine(args[0])) {
        return g_strdup("FAIL Unknown device");
    }
    if (s->intercept != INTERCEPT_NONE) {
        return g_strdup("FAIL IRQ intercept already enabled");
    }
    if (in) {
        if (!x86_irqchip_intercept_ioapic(m, irq_in_observed, s)) {
            return g_strdup("FAIL Unknown device");
        }
        s->intercept = INTERCEPT_IN;
    } else {
        for (int i = 0; i < X86_NUM_GSI; i++) {
            s->saved_gsi[i] = m->gsi[i];
            m->gsi[i] = (IRQLine){ .handler = irq_out_handler, .opaque = s,
                                   .n = i };
        }
        s->intercept = INTERCEPT_OUT;
    }
    return g_strdup("OK");
}

static void intercept_stop(QTestServer *s)
{
    if (s->intercept == INTERCEPT_IN) {
        x86_irqchip_intercept_ioapic(s->m, NULL, NULL);
    } else if (s->intercept == INTERCEPT_OUT) {
        memcpy(s->m->gsi, s->saved_gsi, sizeof(s->saved_gsi));
    }
    s->intercept = INTERCEPT_NONE;
}

/* set_irq_in PATH NAME N LEVEL: drives input N of the IOAPIC (a GSI). */
static char *cmd_set_irq_in(QTestServer *s, const QTestCommand *cmd,
                            char **args)
{
    uint64_t n;
    int64_t level;

    if (!path_is_ioapic(args[0]) || !s->m->userspace_irqchip) {
        return g_strdup("FAIL Unknown device");
    }
    if (!parse_u64(args[2], &n) || n >= X86_NUM_GSI) {
        return fail("invalid IRQ number '%s'", args[2]);
    }
    if (!parse_i64(args[3], &level)) {
        return fail("invalid level '%s'", args[3]);
    }
    x86_irqchip_set_irq(s->m, n, level != 0);
    return g_strdup("OK");
}

static char *cmd_endianness(QTestServer *s, const QTestCommand *cmd,
                            char **args)
{
    return g_strdup("OK little");
}

static const QTestCommand commands[] = {
    { "outb", 2, 1, cmd_out },
    { "outw", 2, 2, cmd_out },
    { "outl", 2, 4, cmd_out },
    { "inb", 1, 1, cmd_in },
    { "inw", 1, 2, cmd_in },
    { "inl", 1, 4, cmd_in },
    { "writeb", 2, 1, cmd_write_n },
    { "writew", 2, 2, cmd_write_n },
    { "writel", 2, 4, cmd_write_n },
    { "writeq", 2, 8, cmd_write_n },
    { "readb", 1, 1, cmd_read_n },
    { "readw", 1, 2, cmd_read_n },
    { "readl", 1, 4, cmd_read_n },
    { "readq", 1, 8, cmd_read_n },
    { "read", 2, 0, cmd_read },
    { "write", 3, 0, cmd_write },
    { "b64read", 2, 0, cmd_b64read },
    { "b64write", 3, 0, cmd_b64write },
    { "memset", 3, 0, cmd_memset },
    { "clock_step", 0, 0, cmd_clock_step },
    { "clock_set", 1, 0, cmd_clock_set },
    { "irq_intercept_in", 1, 0, cmd_irq_intercept },
    { "irq_intercept_out", 1, 0, cmd_irq_intercept },
    { "set_irq_in", 4, 0, cmd_set_irq_in },
    { "endianness", 0, 0, cmd_endianness },
};

/* Runs one command line and sends its reply; blank lines get none. */
static void run_line(QTestServer *s, char *line)
{
    g_auto(GStrv) words = NULL;
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    const QTestCommand *cmd = NULL;
    g_autofree char *reply = NULL;

    log_line(s, 'R', line);
    words = g_strsplit_set(line, " \t\r", -1);
    for (char **w = words; *w; w++) {
        if (**w) {
            g_ptr_array_add(args, *w);
        }
    }
    if (args->len == 0) {
        return;
    }
    const char *name = g_ptr_array_index(args, 0);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (!strcmp(commands[i].name, name)) {
            cmd = &commands[i];
            break;
        }
    }
    if (!cmd) {
        reply = g_strdup_printf("FAIL Unknown command '%s'", name);
    } else if ((int)args->len - 1 < cmd->nargs) {
        reply = fail("%s needs %d argument%s", name, cmd->nargs,
                     cmd->nargs == 1 ? "" : "s");
    } else {
        g_ptr_array_add(args, NULL);    /* optional ones read as NULL */
        reply = cmd->run(s, cmd, (char **)args->pdata + 1);
    }
    send_line(s, reply);
}

/* While a reply might not fit the client's buffer, commands wait. */
static bool server_blocked(QTestServer *s)
{
    return s->room && s->room(s->opaque) < QTEST_MAX_REPLY;
}

static void run_pending(QTestServer *s)
{
    char *nl;

    while (!server_blocked(s) &&
           (nl = memchr(s->inbuf->str, '\n', s->inbuf->len))) {
        size_t n = nl - s->inbuf->str;
        g_autofree char *line = g_strndup(s->inbuf->str, n);
        g_string_erase(s->inbuf, 0, n + 1);
        if (s->discarding) {
            s->discarding = false;
            continue;
        }
        run_line(s, line);
    }
    if (s->discarding) {
        g_string_truncate(s->inbuf, 0);
    } else if (s->inbuf->len > QTEST_MAX_LINE) {
        send_line(s, "FAIL line too long");
        s->discarding = true;
        g_string_truncate(s->inbuf, 0);
    }
}

void qtest_server_feed(QTestServer *s, const char *buf, size_t len)
{
    g_string_append_len(s->inbuf, buf, len);
    run_pending(s);
}

QTestServer *qtest_server_new(Machine *m, QTestOutputFn *output,
                              void *opaque, FILE *log)
{
    QTestServer *s = g_new0(QTestServer, 1);

    s->m = m;
    s->output = output;
    s->opaque = opaque;
    s->log = log;
    s->start_ns = clock_get_ns(CLK_REALTIME);
    s->inbuf = g_string_new(NULL);
    return s;
}

void qtest_server_free(QTestServer *s)
{
    if (!s) {
        return;
    }
    intercept_stop(s);
    g_string_free(s->inbuf, TRUE);
    g_free(s);
}

/* ---- -qtest SPEC: the server on a chardev ---- */

static struct {
    QTestServer *server;
    Chardev *chr;
    FILE *log;
} qtest_chr;

static void chr_output(void *opaque, const char *text, size_t len)
{
    chardev_write(qtest_chr.chr, (const uint8_t *)text, len);
}

static size_t chr_room(void *opaque)
{
    return chardev_write_room(qtest_chr.chr);
}

static int chr_can_receive(void *opaque)
{
    return server_blocked(qtest_chr.server) ? 0 : 4096;
}

static void chr_receive(void *opaque, const uint8_t *buf, int len)
{
    qtest_server_feed(qtest_chr.server, (const char *)buf, len);
}

static void chr_event(void *opaque, ChardevEvent event)
{
    QTestServer *s = qtest_chr.server;

    if (event == CHR_EVENT_OPENED) {
        s->start_ns = clock_get_ns(CLK_REALTIME);
        memset(s->out_levels, 0, sizeof(s->out_levels));
        log_line(s, 'I', "OPENED");
    } else if (event == CHR_EVENT_CLOSED) {
        log_line(s, 'I', "CLOSED");
        /*
         * Under -accel qtest nothing else can drive the machine, so the
         * client's end (EOF on -qtest stdio) ends vireo; QEMU would linger
         * until killed.
         */
        if (s->m->no_guest) {
            vm_request_shutdown(SHUTDOWN_HOST_QUIT, 0);
        }
    }
}

static void chr_writable(void *opaque)
{
    run_pending(qtest_chr.server);
    chardev_accept_input(qtest_chr.chr);
}

static const ChardevHandlers qtest_chr_handlers = {
    .can_receive = chr_can_receive,
    .receive = chr_receive,
    .event = chr_event,
    .writable = chr_writable,
};

bool qtest_chardev_start(Machine *m, Chardev *chr, const char *log_path,
                         GError **errp)
{
    FILE *log = stderr;

    if (log_path && !strcmp(log_path, "none")) {
        log = NULL;
    } else if (log_path) {
        log = fopen(log_path, "w");
        if (!log) {
            g_set_error(errp, VIREO_ERROR, 0, "-qtest-log %s: %s", log_path,
                        g_strerror(errno));
            return false;
        }
    }
    qtest_chr.chr = chr;
    qtest_chr.log = log;
    qtest_chr.server = qtest_server_new(m, chr_output, NULL, log);
    qtest_chr.server->room = chr_room;
    chardev_set_output_limit(chr, 2 * QTEST_MAX_REPLY);
    chardev_set_handlers(chr, &qtest_chr_handlers, NULL);
    return true;
}

void qtest_chardev_stop(void)
{
    if (!qtest_chr.server) {
        return;
    }
    chardev_set_handlers(qtest_chr.chr, NULL, NULL);
    qtest_server_free(qtest_chr.server);
    if (qtest_chr.log && qtest_chr.log != stderr) {
        fclose(qtest_chr.log);
    }
    memset(&qtest_chr, 0, sizeof(qtest_chr));
}
