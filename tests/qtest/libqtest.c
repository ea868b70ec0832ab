/*
 * libqtest: starts vireo under -accel qtest and speaks QEMU's qtest
 * protocol (docs/devel/qtest.rst) and QMP to it. Every wait is bounded, and
 * a vireo that died or hung fails the test with its stderr attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libqtest.h"

#define QTEST_MAX_IRQ 256

struct QTestState {
    pid_t pid;
    int exit_status;        /* wait status once reaped, else -1 */
    int qtest_fd;
    int qmp_fd;
    char *tmpdir;
    char *log_path;
    GString *qtest_buf;     /* received, not yet consumed */
    GString *qmp_buf;
    GQueue events;          /* json_t * QMP events not yet waited for */
    bool irq_level[QTEST_MAX_IRQ];
    unsigned irq_raises[QTEST_MAX_IRQ];
};

/* Live instances, so an abort in a test kills vireo and removes sockets. */
static GList *live_states;
/* qtest_tmp_path's folder, removed at exit and on abort. */
static char *scratch_dir;

/* ---- failing the test ---- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *vireo_path(void);

const char *qtest_vireo_binary(void)
{
    return vireo_path();
}

int qtest_run_vireo(const char *args, char **err)
{
    g_autofree char *cmd = g_strdup_printf(
        "%s -accel qtest -display none -nodefaults %s", vireo_path(), args);
    g_auto(GStrv) argv = NULL;
    int status = -1;

    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                               NULL, NULL, NULL, err, &status, NULL));
    return status;
}

static const char *vireo_path(void)
{
    const char *env = getenv("VIREO");

    return env && *env ? env : VIREO_BINARY;
}

char *qtest_log(QTestState *s)
{
    char *text = NULL;

    if (!g_file_get_contents(s->log_path, &text, NULL, NULL)) {
        return g_strdup("(no log)");
    }
    return text;
}

static void remove_dir(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *file = g_build_filename(path, name, NULL);
        unlink(file);
    }
    if (dir) {
        g_dir_close(dir);
    }
    rmdir(path);
}

static void kill_vireo(QTestState *s)
{
    if (s->exit_status < 0 && s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &s->exit_status, 0);
    }
}

/* Describes how vireo ended, or that it still runs (caller frees). */
static char *exit_description(QTestState *s)
{
    int st = s->exit_status;

    if (st < 0) {
        return g_strdup("still running");
    }
    if (WIFSIGNALED(st)) {
        return g_strdup_printf("killed by signal %d (%s)", WTERMSIG(st),
                               strsignal(WTERMSIG(st)));
    }
    return g_strdup_printf("exited with status %d", WEXITSTATUS(st));
}

static bool reap(QTestState *s)
{
    if (s->exit_status < 0 && waitpid(s->pid, &s->exit_status, WNOHANG) <= 0) {
        s->exit_status = -1;
        return false;
    }
    return true;
}

/* Fails the test with what went wrong, how vireo ended and its stderr. */
static void G_GNUC_PRINTF(2, 3) G_GNUC_NORETURN
qtest_fail(QTestState *s, const char *fmt, ...)
{
    g_autofree char *what = NULL;
    g_autofree char *how = NULL;
    g_autofree char *log = NULL;
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    reap(s);
    how = exit_description(s);
    kill_vireo(s);
    log = qtest_log(s);
    fprintf(stderr, "libqtest: %s\nvireo (%s) %s; its stderr:\n%s\n", what,
            vireo_path(), how, log);
    g_error("libqtest: %s (vireo %s)", what, how);
}

/*
 * A failed assertion aborts (SIGABRT) and g_error traps (SIGTRAP): take
 * vireo and the sockets with the test.
 */
static void abort_handler(int sig)
{
    for (GList *l = live_states; l; l = l->next) {
        QTestState *s = l->data;
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
        }
        remove_dir(s->tmpdir);
    }
    if (scratch_dir) {
        remove_dir(scratch_dir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    static bool done;

    if (!done) {
        signal(SIGABRT, abort_handler);
        signal(SIGTRAP, abort_handler);
        signal(SIGPIPE, SIG_IGN);   /* a dead vireo shows as EPIPE instead */
        done = true;
    }
}

static void remove_scratch_dir(void)
{
    remove_dir(scratch_dir);
}

char *qtest_tmp_path(const char *name)
{
    if (!scratch_dir) {
        g_autoptr(GError) err = NULL;

        scratch_dir = g_dir_make_tmp("qtest-XXXXXX", &err);
        g_assert_no_error(err);
        atexit(remove_scratch_dir);
        install_handlers();
    }
    return g_build_filename(scratch_dir, name, NULL);
}

/* ---- starting vireo ---- */

static int listen_unix(QTestState *s, const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, 1) < 0) {
        g_error("libqtest: listen on %s: %s", path, g_strerror(errno));
    }
    return fd;
}

static void spawn_vireo(QTestState *s, char **extra, const char *sock,
                        const char *qmp_sock)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    int log_fd;

    g_ptr_array_add(argv, g_strdup(vireo_path()));
    g_ptr_array_add(argv, g_strdup("-accel"));
    g_ptr_array_add(argv, g_strdup("qtest"));
    g_ptr_array_add(argv, g_strdup("-qtest"));
    g_ptr_array_add(argv, g_strdup_printf("unix:%s", sock));
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv, g_strdup_printf("unix:%s", qmp_sock));
    /* the protocol log only when asked, as QEMU's QTEST_LOG */
    if (!g_getenv("QTEST_LOG")) {
        g_ptr_array_add(argv, g_strdup("-qtest-log"));
        g_ptr_array_add(argv, g_strdup("none"));
    }
    g_ptr_array_add(argv, g_strdup("-display"));
    g_ptr_array_add(argv, g_strdup("none"));
    g_ptr_array_add(argv, g_strdup("-nodefaults"));
    for (char **a = extra; a && *a; a++) {
        g_ptr_array_add(argv, g_strdup(*a));
    }
    g_ptr_array_add(argv, NULL);

    log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
    g_assert_cmpint(log_fd, >=, 0);
    if (g_test_verbose()) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv->pdata);
        g_test_message("starting %s", cmd);
    }
    s->pid = fork();
    g_assert_cmpint(s->pid, >=, 0);
    if (s->pid == 0) {
        /* vireo must not outlive a test that crashed */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        execv(argv->pdata[0], (char **)argv->pdata);
        fprintf(stderr, "exec %s: %s\n", (char *)argv->pdata[0],
                g_strerror(errno));
        _exit(127);
    }
    close(log_fd);
}

/* Accepts vireo's connection on listen_fd, or fails after the timeout. */
static int accept_vireo(QTestState *s, int listen_fd, const char *what)
{
    int64_t deadline = now_ms() + QTEST_TIMEOUT_S * 1000;
    struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
    int fd;

    while (poll(&pfd, 1, 100) <= 0) {
        if (reap(s)) {
            qtest_fail(s, "vireo exited before connecting to the %s socket",
                       what);
        }
        if (now_ms() > deadline) {
            qtest_fail(s, "vireo did not connect to the %s socket in %d s",
                       what, QTEST_TIMEOUT_S);
        }
    }
    fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        qtest_fail(s, "accept on the %s socket: %s", what, g_strerror(errno));
    }
    return fd;
}

static void qmp_handshake(QTestState *s);

QTestState *qtest_init(const char *extra_args)
{
    QTestState *s = g_new0(QTestState, 1);
    g_auto(GStrv) extra = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *qmp_sock = NULL;
    int listen_fd, qmp_listen_fd;

    if (extra_args && *extra_args &&
        !g_shell_parse_argv(extra_args, NULL, &extra, &err)) {
        g_error("libqtest: cannot split '%s': %s", extra_args, err->message);
    }
    s->tmpdir = g_dir_make_tmp("qtest-XXXXXX", &err);
    g_assert_no_error(err);
    s->log_path = g_build_filename(s->tmpdir, "vireo.log", NULL);
    sock = g_build_filename(s->tmpdir, "qtest.sock", NULL);
    qmp_sock = g_build_filename(s->tmpdir, "qmp.sock", NULL);
    s->exit_status = -1;
    s->qtest_fd = s->qmp_fd = -1;
    s->qtest_buf = g_string_new(NULL);
    s->qmp_buf = g_string_new(NULL);
    g_queue_init(&s->events);

    install_handlers();
    live_states = g_list_prepend(live_states, s);
    listen_fd = listen_unix(s, sock);
    qmp_listen_fd = listen_unix(s, qmp_sock);
    spawn_vireo(s, extra, sock, qmp_sock);
    s->qtest_fd = accept_vireo(s, listen_fd, "qtest");
    s->qmp_fd = accept_vireo(s, qmp_listen_fd, "QMP");
    close(listen_fd);
    close(qmp_listen_fd);
    qmp_handshake(s);
    return s;
}

QTestState *qtest_initf(const char *fmt, ...)
{
    g_autofree char *args = NULL;
    va_list ap;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qtest_init(args);
}

bool qtest_alive(QTestState *s)
{
    return !reap(s);
}

int qtest_wait_exit(QTestState *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    while (!reap(s)) {
        if (now_ms() > deadline) {
            return -1;
        }
        g_usleep(5000);
    }
    return WIFEXITED(s->exit_status) ? WEXITSTATUS(s->exit_status)
                                     : 128 + WTERMSIG(s->exit_status);
}

static void state_free(QTestState *s);

void qtest_quit(QTestState *s)
{
    bool crashed = false;

    if (!reap(s)) {
        kill(s->pid, SIGTERM);
        if (qtest_wait_exit(s, QTEST_TIMEOUT_S * 1000) < 0) {
            qtest_fail(s, "vireo did not exit within %d s of SIGTERM",
                       QTEST_TIMEOUT_S);
        }
        /* SIGTERM is ours; any other signal (ASan's abort) is a crash */
        crashed = WIFSIGNALED(s->exit_status) &&
                  WTERMSIG(s->exit_status) != SIGTERM;
    } else {
        crashed = WIFSIGNALED(s->exit_status);
    }
    if (crashed) {
        qtest_fail(s, "vireo crashed");
    }
    state_free(s);
}

void qtest_kill(QTestState *s)
{
    kill_vireo(s);
    state_free(s);
}

static void state_free(QTestState *s)
{
    live_states = g_list_remove(live_states, s);
    close(s->qtest_fd);
    close(s->qmp_fd);
    remove_dir(s->tmpdir);
    g_string_free(s->qtest_buf, true);
    g_string_free(s->qmp_buf, true);
    g_queue_clear_full(&s->events, (GDestroyNotify)json_decref);
    g_free(s->tmpdir);
    g_free(s->log_path);
    g_free(s);
}

/* ---- lines on a socket ---- */

static void send_all(QTestState *s, int fd, const char *text)
{
    size_t len = strlen(text), done = 0;

    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            qtest_fail(s, "sending to vireo: %s", g_strerror(errno));
        }
        done += n;
    }
}

/* Takes one line (without its "\n" or "\r\n") out of buf, if complete. */
static char *take_line(GString *buf)
{
    char *nl = memchr(buf->str, '\n', buf->len);
    size_t len;
    char *line;

    if (!nl) {
        return NULL;
    }
    len = nl - buf->str;
    line = g_strndup(buf->str, len && nl[-1] == '\r' ? len - 1 : len);
    g_string_erase(buf, 0, len + 1);
    return line;
}

/*
 * Reads more from fd into buf, waiting up to timeout_ms (0: only what is
 * there). Returns false when nothing arrived in time; fails on EOF.
 */
static bool fill(QTestState *s, int fd, GString *buf, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char chunk[65536];
    ssize_t n;
    int r;

    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        return false;
    }
    n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) {
        g_usleep(50 * 1000);    /* let the exit status be there to report */
        qtest_fail(s, "vireo closed the %s socket",
                   fd == s->qtest_fd ? "qtest" : "QMP");
    }
    g_string_append_len(buf, chunk, n);
    return true;
}

/* The next line from fd, waiting at most QTEST_TIMEOUT_S (caller frees). */
static char *read_line(QTestState *s, int fd, GString *buf, const char *why)
{
    int64_t deadline = now_ms() + QTEST_TIMEOUT_S * 1000;
    char *line;

    while (!(line = take_line(buf))) {
        if (!fill(s, fd, buf, 200) && now_ms() > deadline) {
            qtest_fail(s, "no answer to %s within %d s", why,
                       QTEST_TIMEOUT_S);
        }
    }
    return line;
}

/* ---- the qtest protocol ---- */

/* An asynchronous "IRQ raise N" / "IRQ lower N" line: records it. */
static bool irq_line(QTestState *s, const char *line)
{
    bool raise;
    char *end;
    long num;

    if (g_str_has_prefix(line, "IRQ raise ")) {
        raise = true;
    } else if (g_str_has_prefix(line, "IRQ lower ")) {
        raise = false;
    } else {
        return false;
    }
    num = strtol(line + 10, &end, 0);
    if (*end || num < 0 || num >= QTEST_MAX_IRQ) {
        qtest_fail(s, "malformed IRQ line '%s'", line);
    }
    s->irq_level[num] = raise;
    s->irq_raises[num] += raise;
    return true;
}

/* The reply to the command just sent, past any IRQ lines (caller frees). */
static char *qtest_reply(QTestState *s, const char *cmd)
{
    for (;;) {
        char *line = read_line(s, s->qtest_fd, s->qtest_buf, cmd);
        if (!irq_line(s, line)) {
            return line;
        }
        g_free(line);
    }
}

static char *qtest_vcommand(QTestState *s, const char *fmt, va_list ap)
{
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    g_autofree char *line = g_strconcat(cmd, "\n", NULL);

    if (g_test_verbose()) {
        g_test_message("qtest> %s", cmd);
    }
    send_all(s, s->qtest_fd, line);
    return qtest_reply(s, cmd);
}

void qtest_send(QTestState *s, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    g_autofree char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strconcat(cmd, "\n", NULL);
    send_all(s, s->qtest_fd, line);
}

char *qtest_command(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    char *reply;

    va_start(ap, fmt);
    reply = qtest_vcommand(s, fmt, ap);
    va_end(ap);
    return reply;
}

/* Sends a command that must succeed; returns what follows "OK" (or ""). */
static char *G_GNUC_PRINTF(2, 3) qtest_ok(QTestState *s, const char *fmt, ...)
{
    g_autofree char *reply = NULL;
    g_autofree char *cmd = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    reply = qtest_command(s, "%s", cmd);
    if (strcmp(reply, "OK") == 0) {
        return g_strdup("");
    }
    if (!g_str_has_prefix(reply, "OK ")) {
        qtest_fail(s, "'%s' got '%s'", cmd, reply);
    }
    return g_strdup(reply + 3);
}

/* An "OK <number>" reply's number (hex with 0x, else decimal). */
static uint64_t qtest_ok_value(QTestState *s, const char *cmd)
{
    g_autofree char *arg = qtest_ok(s, "%s", cmd);
    char *end;
    uint64_t v;

    errno = 0;
    v = g_ascii_strtoull(arg, &end, 0);
    if (!*arg || *end || errno) {
        qtest_fail(s, "'%s' got 'OK %s', not a number", cmd, arg);
    }
    return v;
}

static uint64_t G_GNUC_PRINTF(2, 3)
qtest_value(QTestState *s, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qtest_ok_value(s, cmd);
}

#define QTEST_OUT(fn, name, type)                                             \
    void fn(QTestState *s, uint16_t port, type value)                         \
    {                                                                         \
        g_free(qtest_ok(s, name " 0x%x 0x%x", port, (unsigned)value));        \
    }
#define QTEST_IN(fn, name, type)                                              \
    type fn(QTestState *s, uint16_t port)                                     \
    {                                                                         \
        return qtest_value(s, name " 0x%x", port);                            \
    }
#define QTEST_WRITE(fn, name, type)                                           \
    void fn(QTestState *s, uint64_t addr, type value)                         \
    {                                                                         \
        g_free(qtest_ok(s, name " 0x%" PRIx64 " 0x%" PRIx64, addr,            \
                        (uint64_t)value));                                    \
    }
#define QTEST_READ(fn, name, type)                                            \
    type fn(QTestState *s, uint64_t addr)                                     \
    {                                                                         \
        return qtest_value(s, name " 0x%" PRIx64, addr);                      \
    }

QTEST_OUT(qtest_outb, "outb", uint8_t)
QTEST_OUT(qtest_outw, "outw", uint16_t)
QTEST_OUT(qtest_outl, "outl", uint32_t)
QTEST_IN(qtest_inb, "inb", uint8_t)
QTEST_IN(qtest_inw, "inw", uint16_t)
QTEST_IN(qtest_inl, "inl", uint32_t)
QTEST_WRITE(qtest_writeb, "writeb", uint8_t)
QTEST_WRITE(qtest_writew, "writew", uint16_t)
QTEST_WRITE(qtest_writel, "writel", uint32_t)
QTEST_WRITE(qtest_writeq, "writeq", uint64_t)
QTEST_READ(qtest_readb, "readb", uint8_t)
QTEST_READ(qtest_readw, "readw", uint16_t)
QTEST_READ(qtest_readl, "readl", uint32_t)
QTEST_READ(qtest_readq, "readq", uint64_t)

static int hex_digit(char c)
{
    return g_ascii_isxdigit(c) ? g_ascii_xdigit_value(c) : -1;
}

void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    g_autofree char *hex = NULL;
    uint8_t *out = buf;

    if (!len) {
        return;
    }
    hex = qtest_ok(s, "read 0x%" PRIx64 " 0x%zx", addr, len);
    if (!g_str_has_prefix(hex, "0x") || strlen(hex) != 2 + 2 * len) {
        qtest_fail(s, "read of %zu bytes got %zu characters", len,
                   strlen(hex));
    }
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit(hex[2 + 2 * i]), lo = hex_digit(hex[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            qtest_fail(s, "read reply has a non-hex digit at %zu", i);
        }
        out[i] = hi << 4 | lo;
    }
}

void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf,
                    size_t len)
{
    const uint8_t *in = buf;
    GString *hex;

    if (!len) {
        return;
    }
    hex = g_string_sized_new(2 * len + 2);
    for (size_t i = 0; i < len; i++) {
        g_string_append_printf(hex, "%02x", in[i]);
    }
    g_free(qtest_ok(s, "write 0x%" PRIx64 " 0x%zx 0x%s", addr, len,
                    hex->str));
    g_string_free(hex, true);
}

void qtest_bufread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    g_autofree char *b64 = NULL;
    g_autofree guchar *data = NULL;
    gsize got;

    if (!len) {
        return;
    }
    b64 = qtest_ok(s, "b64read 0x%" PRIx64 " 0x%zx", addr, len);
    data = g_base64_decode(b64, &got);
    if (got != len) {
        qtest_fail(s, "b64read of %zu bytes decoded to %zu", len, got);
    }
    memcpy(buf, data, len);
}

void qtest_bufwrite(QTestState *s, uint64_t addr, const void *buf,
                    size_t len)
{
    g_autofree char *b64 = NULL;

    if (!len) {
        return;
    }
    b64 = g_base64_encode(buf, len);
    g_free(qtest_ok(s, "b64write 0x%" PRIx64 " 0x%zx %s", addr, len, b64));
}

void qtest_memset(QTestState *s, uint64_t addr, uint8_t pattern, size_t len)
{
    if (len) {
        g_free(qtest_ok(s, "memset 0x%" PRIx64 " 0x%zx 0x%02x", addr, len,
                        pattern));
    }
}

int64_t qtest_clock_step_next(QTestState *s)
{
    return qtest_value(s, "clock_step");
}

int64_t qtest_clock_step(QTestState *s, int64_t ns)
{
    return qtest_value(s, "clock_step %" PRId64, ns);
}

int64_t qtest_clock_set(QTestState *s, int64_t ns)
{
    return qtest_value(s, "clock_set %" PRId64, ns);
}

void qtest_irq_intercept_in(QTestState *s, const char *path)
{
    g_free(qtest_ok(s, "irq_intercept_in %s", path));
}

void qtest_irq_intercept_out(QTestState *s, const char *path)
{
    g_free(qtest_ok(s, "irq_intercept_out %s", path));
}

/* Consumes IRQ lines that already arrived without waiting. */
static void drain_irq_lines(QTestState *s)
{
    char *line;

    do {
        while ((line = take_line(s->qtest_buf))) {
            if (!irq_line(s, line)) {
                qtest_fail(s, "unexpected line '%s' with no command sent",
                           line);
            }
            g_free(line);
        }
    } while (fill(s, s->qtest_fd, s->qtest_buf, 0));
}

bool qtest_get_irq(QTestState *s, int num)
{
    g_assert(num >= 0 && num < QTEST_MAX_IRQ);
    drain_irq_lines(s);
    return s->irq_level[num];
}

unsigned qtest_irq_raise_count(QTestState *s, int num)
{
    g_assert(num >= 0 && num < QTEST_MAX_IRQ);
    drain_irq_lines(s);
    return s->irq_raises[num];
}

void qtest_set_irq_in(QTestState *s, const char *path, const char *name,
                      int num, int level)
{
    g_free(qtest_ok(s, "set_irq_in %s %s %d %d", path, name, num, level));
}

/* ---- QMP ---- */

/* The next QMP message that is not an event; events are queued. */
static json_t *qmp_receive(QTestState *s, const char *why)
{
    for (;;) {
        g_autofree char *line = read_line(s, s->qmp_fd, s->qmp_buf, why);
        json_error_t err;
        json_t *msg;

        if (!*line) {
            continue;
        }
        msg = json_loads(line, 0, &err);
        if (!json_is_object(msg)) {
            qtest_fail(s, "QMP sent '%s', not a JSON object (%s)", line,
                       err.text);
        }
        if (json_object_get(msg, "event")) {
            g_queue_push_tail(&s->events, msg);
            continue;
        }
        return msg;
    }
}

/*
 * QEMU's tests write JSON with single quotes; jansson wants double quotes.
 * Swaps the quote characters outside of double-quoted strings.
 */
static char *single_to_double_quotes(const char *in)
{
    char *out = g_strdup(in);
    char quote = 0;

    for (char *p = out; *p; p++) {
        if (quote && *p == '\\' && p[1]) {
            p++;
        } else if (!quote && (*p == '\'' || *p == '"')) {
            quote = *p;
            *p = '"';
        } else if (quote && *p == quote) {
            quote = 0;
            *p = '"';
        }
    }
    return out;
}

static json_t *qtest_vqmp(QTestState *s, const char *fmt, va_list ap)
{
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    g_autofree char *json = single_to_double_quotes(text);
    g_autofree char *line = g_strconcat(json, "\n", NULL);
    json_error_t err;
    json_t *check = json_loads(json, 0, &err);

    /* a typo in a test is the test's bug: say so, not vireo's answer */
    if (!check) {
        g_error("libqtest: QMP command '%s' is not JSON: %s", json, err.text);
    }
    json_decref(check);
    if (g_test_verbose()) {
        g_test_message("qmp> %s", json);
    }
    send_all(s, s->qmp_fd, line);
    return qmp_receive(s, json);
}

json_t *qtest_qmp(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    json_t *r;

    va_start(ap, fmt);
    r = qtest_vqmp(s, fmt, ap);
    va_end(ap);
    return r;
}

static void qmp_handshake(QTestState *s)
{
    json_t *greeting = qmp_receive(s, "the QMP greeting");

    if (!json_object_get(greeting, "QMP")) {
        g_autofree char *text = json_dumps(greeting, 0);
        qtest_fail(s, "QMP greeting is '%s'", text);
    }
    json_decref(greeting);
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities'}");
}

void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    json_t *r;

    va_start(ap, fmt);
    r = qtest_vqmp(s, fmt, ap);
    va_end(ap);
    if (!json_object_get(r, "return")) {
        g_autofree char *text = json_dumps(r, 0);
        qtest_fail(s, "QMP command failed: %s", text);
    }
    json_decref(r);
}

json_t *qtest_qmp_eventwait_ref(QTestState *s, const char *event)
{
    int64_t deadline = now_ms() + QTEST_TIMEOUT_S * 1000;

    for (;;) {
        for (GList *l = s->events.head; l; l = l->next) {
            const char *name =
                json_string_value(json_object_get(l->data, "event"));
            if (name && strcmp(name, event) == 0) {
                json_t *ev = l->data;
                g_queue_delete_link(&s->events, l);
                return ev;
            }
        }
        if (now_ms() > deadline) {
            qtest_fail(s, "no QMP event %s within %d s", event,
                       QTEST_TIMEOUT_S);
        }
        /* anything but an event here is a reply nobody asked for */
        {
            g_autofree char *line = take_line(s->qmp_buf);
            if (line) {
                json_t *msg = json_loads(line, 0, NULL);
                if (!json_object_get(msg, "event")) {
                    qtest_fail(s, "unexpected QMP message '%s'", line);
                }
                g_queue_push_tail(&s->events, msg);
                continue;
            }
        }
        fill(s, s->qmp_fd, s->qmp_buf, 200);
    }
}

char *qtest_hmp(QTestState *s, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    json_t *args, *r, *ret;
    char *text, *out;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* jansson escapes the command line for us */
    args = json_pack("{s:s,s:{s:s}}", "execute", "human-monitor-command",
                     "arguments", "command-line", cmd);
    text = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    r = qtest_qmp(s, "%s", text);
    free(text);
    ret = json_object_get(r, "return");
    if (!json_is_string(ret)) {
        g_autofree char *dump = json_dumps(r, 0);
        qtest_fail(s, "human-monitor-command '%s' got %s", cmd, dump);
    }
    out = g_strdup(json_string_value(ret));
    json_decref(r);
    return out;
}

json_t *qtest_query_status(QTestState *s)
{
    json_t *r = qtest_qmp(s, "{'execute': 'query-status'}");
    json_t *ret = json_object_get(r, "return");

    if (!json_is_object(ret)) {
        g_autofree char *dump = json_dumps(r, 0);
        qtest_fail(s, "query-status got %s", dump);
    }
    json_incref(ret);
    json_decref(r);
    return ret;
}
