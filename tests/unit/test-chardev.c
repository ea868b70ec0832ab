/*
 * Character backends on the default main context: spec errors, file, pipe,
 * unix/tcp sockets (events, reconnect, flow control, bounded output), pty,
 * stdio with a non-tty stdin that reaches EOF, and the mux (focus, Ctrl-a
 * escapes); output limits and the flush at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "chardev/char.h"
#include "system/runstate.h"
#include "system/vm.h"

/* A frontend that records what it gets and can refuse input. */
typedef struct Frontend {
    GByteArray *rx;
    int room;           /* what can_receive() answers */
    int opened, closed;
    int mux_in, mux_out;
} Frontend;

static int fe_can_receive(void *opaque)
{
    Frontend *fe = opaque;
    return fe->room;
}

static void fe_receive(void *opaque, const uint8_t *buf, int len)
{
    Frontend *fe = opaque;
    g_assert_cmpint(len, <=, fe->room);
    g_byte_array_append(fe->rx, buf, len);
}

static void fe_event(void *opaque, ChardevEvent ev)
{
    Frontend *fe = opaque;
    switch (ev) {
    case CHR_EVENT_OPENED:
        fe->opened++;
        break;
    case CHR_EVENT_CLOSED:
        fe->closed++;
        break;
    case CHR_EVENT_MUX_IN:
        fe->mux_in++;
        break;
    case CHR_EVENT_MUX_OUT:
        fe->mux_out++;
        break;
    }
}

static const ChardevHandlers fe_handlers = {
    .can_receive = fe_can_receive,
    .receive = fe_receive,
    .event = fe_event,
};

static void fe_init(Frontend *fe)
{
    memset(fe, 0, sizeof(*fe));
    fe->rx = g_byte_array_new();
    fe->room = 4096;
}

static void fe_fini(Frontend *fe)
{
    g_byte_array_free(fe->rx, TRUE);
}

/* Runs the main context until cond holds or 5 s pass. */
#define SPIN_UNTIL(cond)                                                 \
    do {                                                                 \
        gint64 deadline_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;  \
        while (!(cond) && g_get_monotonic_time() < deadline_) {          \
            g_main_context_iteration(NULL, FALSE);                       \
            g_usleep(1000);                                              \
        }                                                                \
        g_assert_true(cond);                                             \
    } while (0)

static void spin_for_ms(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

static char *tmpdir;

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static void expect_spec_error(const char *label, const char *spec,
                              const char *message)
{
    GError *err = NULL;
    Chardev *chr = chardev_new_from_spec(label, spec, &err);

    g_assert_null(chr);
    g_assert_nonnull(err);
    if (!strstr(err->message, message)) {
        g_error("'%s': got '%s', wanted '%s'", spec, err->message, message);
    }
    g_error_free(err);
}

static void expect_opts_error(const char *opts, const char *message)
{
    GError *err = NULL;
    Chardev *chr = chardev_new_from_opts(opts, &err);

    g_assert_null(chr);
    g_assert_nonnull(err);
    if (!strstr(err->message, message)) {
        g_error("'%s': got '%s', wanted '%s'", opts, err->message, message);
    }
    g_error_free(err);
}

static void test_bad_specs(void)
{
    g_autofree char *badfile = g_strdup_printf("file:%s/no/such/dir/x", tmpdir);

    expect_spec_error("serial0", "foo",
                      "-serial foo: unknown character backend 'foo'");
    expect_spec_error("serial0", "vc:80Cx24C",
                      "unknown character backend 'vc'");
    expect_spec_error("serial0", "file:", "'path' is missing");
    expect_spec_error("serial0", badfile, "could not open");
    expect_spec_error("serial0", "tcp:4444", "tcp:HOST:PORT");
    expect_spec_error("serial0", "unix:/tmp/x,server=on,bogus=1",
                      "invalid parameter 'bogus'");
    expect_spec_error("serial0", "unix:/tmp/x,server=maybe", "server");
    expect_spec_error("serial1", "chardev:nosuch",
                      "chardev 'nosuch' not found");
    expect_spec_error("debugcon", "bar", "-debugcon bar:");
    expect_opts_error("null", "'id' is missing");
    expect_opts_error("frob,id=x", "unknown character backend 'frob'");
    expect_opts_error("file,id=x", "'path' is missing");
    expect_opts_error("socket,id=x", "'path' or 'port' is missing");
    expect_opts_error("socket,id=x,path=/tmp/a,port=4", "not both");
    expect_opts_error("socket,id=x,path=/tmp/a,wait=on",
                      "'wait' only applies to server=on");
    expect_opts_error("null,id=x,path=/tmp/a", "invalid parameter 'path'");
    /* a failed open must not leave its id taken */
    g_assert_null(chardev_find("serial0"));
    g_assert_null(chardev_find("x"));
}

static void test_none_and_null(void)
{
    GError *err = NULL;
    Chardev *chr;

    g_assert_null(chardev_new_from_spec("serial0", "none", &err));
    g_assert_no_error(err);
    g_assert_null(chardev_new_from_spec("serial0", NULL, &err));
    g_assert_no_error(err);

    chr = chardev_new_from_spec("serial0", "null", &err);
    g_assert_no_error(err);
    g_assert_true(chardev_find("serial0") == chr);
    g_assert_cmpstr(chardev_id(chr), ==, "serial0");
    chardev_write(chr, (const uint8_t *)"dropped", 7);
    /* "chardev:ID" finds the same backend instead of opening a new one */
    g_assert_true(chardev_new_from_spec("serial1", "chardev:serial0", &err) ==
                  chr);
    g_assert_no_error(err);

    /* duplicate ids are refused */
    g_assert_nonnull(chardev_new_from_opts("null,id=n1", &err));
    g_assert_no_error(err);
    expect_opts_error("null,id=n1", "duplicate chardev id 'n1'");
    chardev_cleanup_all();
    g_assert_null(chardev_find("serial0"));
}

static void test_file_truncates(void)
{
    g_autofree char *path = tmp_path("out.txt");
    g_autofree char *spec = g_strdup_printf("file:%s", path);
    g_autofree char *opts = g_strdup_printf("file,id=f,path=%s,append=on",
                                            path);
    GError *err = NULL;
    char *data;
    Chardev *chr;

    g_assert_true(g_file_set_contents(path, "old contents\n", -1, NULL));
    chr = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    chardev_write(chr, (const uint8_t *)"hello\n", 6);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "hello\n");
    g_free(data);
    chardev_cleanup_all();

    /* append=on keeps what is there */
    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    chardev_write(chr, (const uint8_t *)"more\n", 5);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "hello\nmore\n");
    g_free(data);
    chardev_cleanup_all();
}

static void test_pipe(void)
{
    g_autofree char *base = tmp_path("fifo");
    g_autofree char *in = g_strdup_printf("%s.in", base);
    g_autofree char *out = g_strdup_printf("%s.out", base);
    g_autofree char *spec = g_strdup_printf("pipe:%s", base);
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    char buf[16];
    int win, rout;

    g_assert_cmpint(mkfifo(in, 0600), ==, 0);
    g_assert_cmpint(mkfifo(out, 0600), ==, 0);
    chr = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    fe_init(&fe);
    chardev_set_handlers(chr, &fe_handlers, &fe);

    win = open(in, O_WRONLY | O_NONBLOCK);
    rout = open(out, O_RDONLY | O_NONBLOCK);
    g_assert_cmpint(win, >=, 0);
    g_assert_cmpint(rout, >=, 0);
    g_assert_cmpint(write(win, "ping", 4), ==, 4);
    SPIN_UNTIL(fe.rx->len == 4);
    g_assert_cmpmem(fe.rx->data, 4, "ping", 4);
    /* the writer leaving is not an EOF: we hold the FIFO open ourselves */
    close(win);
    spin_for_ms(20);

    chardev_write(chr, (const uint8_t *)"pong", 4);
    g_assert_cmpint(read(rout, buf, sizeof(buf)), ==, 4);
    g_assert_cmpmem(buf, 4, "pong", 4);
    close(rout);
    chardev_cleanup_all();
    fe_fini(&fe);
}

static int unix_connect_to(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static ssize_t read_timeout(int fd, void *buf, size_t len)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    /* keep the main loop turning: our writes may be waiting in its buffer */
    for (int i = 0; i < 5000; i++) {
        g_main_context_iteration(NULL, FALSE);
        if (poll(&pfd, 1, 1) > 0) {
            return read(fd, buf, len);
        }
    }
    return -1;
}

static void test_unix_server(void)
{
    g_autofree char *path = tmp_path("sock");
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off",
                                            path);
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    char buf[64];
    int c;

    chr = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(chardev_filename(chr), "disconnected:"));
    fe_init(&fe);
    chardev_set_handlers(chr, &fe_handlers, &fe);

    /* nobody listening: output is dropped, not queued for later */
    chardev_write(chr, (const uint8_t *)"lost", 4);

    for (int round = 1; round <= 2; round++) {
        c = unix_connect_to(path);
        g_assert_cmpint(c, >=, 0);
        SPIN_UNTIL(fe.opened == round);
        g_assert_false(g_str_has_prefix(chardev_filename(chr),
                                        "disconnected:"));

        chardev_write(chr, (const uint8_t *)"from guest", 10);
        g_assert_cmpint(read_timeout(c, buf, sizeof(buf)), ==, 10);
        g_assert_cmpmem(buf, 10, "from guest", 10);

        g_byte_array_set_size(fe.rx, 0);
        g_assert_cmpint(write(c, "to guest", 8), ==, 8);
        SPIN_UNTIL(fe.rx->len == 8);
        g_assert_cmpmem(fe.rx->data, 8, "to guest", 8);

        /* the client leaves; the server takes the next one (round 2) */
        close(c);
        SPIN_UNTIL(fe.closed == round);
        chardev_write(chr, (const uint8_t *)"lost", 4);
    }
    chardev_cleanup_all();
    /* the socket file we made is gone with us */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    fe_fini(&fe);
}

static void test_flow_control(void)
{
    g_autofree char *path = tmp_path("sock-fc");
    g_autofree char *opts = g_strdup_printf(
        "socket,id=fc,path=%s,server=on,wait=off", path);
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    int c;

    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    fe_init(&fe);
    fe.room = 3;
    chardev_set_handlers(chr, &fe_handlers, &fe);
    c = unix_connect_to(path);
    SPIN_UNTIL(fe.opened == 1);
    g_assert_cmpint(write(c, "abcdefgh", 8), ==, 8);
    SPIN_UNTIL(fe.rx->len >= 3);

    /* a full frontend gets nothing more until it says so */
    fe.room = 0;
    spin_for_ms(30);
    g_assert_cmpuint(fe.rx->len, <=, 3 * 3);
    guint seen = fe.rx->len;
    spin_for_ms(30);
    g_assert_cmpuint(fe.rx->len, ==, seen);

    fe.room = 100;
    chardev_accept_input(chr);
    SPIN_UNTIL(fe.rx->len == 8);
    g_assert_cmpmem(fe.rx->data, 8, "abcdefgh", 8);
    close(c);
    chardev_cleanup_all();
    fe_fini(&fe);
}

/* A peer that doesn't read must not block the writer or eat memory. */
static void test_output_bounded(void)
{
    g_autofree char *path = tmp_path("sock-slow");
    g_autofree char *opts = g_strdup_printf(
        "socket,id=slow,path=%s,server=on,wait=off", path);
    const size_t total = 4 << 20;
    g_autofree uint8_t *data = g_malloc(total);
    g_autofree uint8_t *got = g_malloc(total);
    GError *err = NULL;
    size_t n = 0;
    gint64 t0;
    Chardev *chr;
    int c;

    for (size_t i = 0; i < total; i++) {
        data[i] = i * 7 + (i >> 12);
    }
    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    c = unix_connect_to(path);
    SPIN_UNTIL(g_str_has_prefix(chardev_filename(chr), "unix:"));

    t0 = g_get_monotonic_time();
    for (size_t off = 0; off < total; off += 1024) {
        chardev_write(chr, data + off, 1024);
    }
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);

    /* what arrives is a prefix of the stream: socket buffer + 64 KiB */
    for (;;) {
        ssize_t r = read_timeout(c, got + n, total - n);
        if (r <= 0) {
            break;
        }
        n += r;
        /* stop once the buffer is drained and nothing more comes */
        struct pollfd pfd = { .fd = c, .events = POLLIN };
        spin_for_ms(5);
        if (poll(&pfd, 1, 50) == 0) {
            break;
        }
    }
    g_assert_cmpuint(n, >=, 64 * 1024);
    g_assert_cmpuint(n, <, total);
    g_assert_cmpmem(got, n, data, n);
    close(c);
    chardev_cleanup_all();
}

static void test_tcp(void)
{
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    const char *fn;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    char buf[16];
    int c, port;

    chr = chardev_new_from_spec("serial0", "tcp:127.0.0.1:0,server=on,"
                                "nowait,nodelay=on", &err);
    g_assert_no_error(err);
    fn = chardev_filename(chr);
    g_assert_true(g_str_has_prefix(fn, "disconnected:tcp:127.0.0.1:"));
    port = atoi(fn + strlen("disconnected:tcp:127.0.0.1:"));
    g_assert_cmpint(port, >, 0);
    fe_init(&fe);
    chardev_set_handlers(chr, &fe_handlers, &fe);

    c = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(connect(c, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    SPIN_UNTIL(fe.opened == 1);
    chardev_write(chr, (const uint8_t *)"tcp!", 4);
    g_assert_cmpint(read_timeout(c, buf, sizeof(buf)), ==, 4);
    g_assert_cmpmem(buf, 4, "tcp!", 4);
    close(c);
    SPIN_UNTIL(fe.closed == 1);
    chardev_cleanup_all();
    fe_fini(&fe);

    /* client mode to a port nobody listens on is a startup error */
    g_autofree char *spec = g_strdup_printf("tcp:127.0.0.1:%d", port);
    expect_spec_error("serial0", spec, "could not connect");
}

typedef struct DelayedConnect {
    char *path;
    int fd;
} DelayedConnect;

static void *connect_later(void *opaque)
{
    DelayedConnect *dc = opaque;

    for (int i = 0; i < 500 && dc->fd < 0; i++) {
        g_usleep(10000);
        dc->fd = unix_connect_to(dc->path);
    }
    return NULL;
}

/* server=on without wait=off blocks startup until a client is there. */
static void test_unix_wait(void)
{
    g_autofree char *path = tmp_path("sock-wait");
    g_autofree char *spec = g_strdup_printf("unix:%s,server", path);
    DelayedConnect dc = { path, -1 };
    GError *err = NULL;
    pthread_t th;
    Chardev *chr;
    char buf[8];

    pthread_create(&th, NULL, connect_later, &dc);
    chr = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    pthread_join(th, NULL);
    g_assert_cmpint(dc.fd, >=, 0);
    chardev_write(chr, (const uint8_t *)"hi", 2);
    g_assert_cmpint(read_timeout(dc.fd, buf, sizeof(buf)), ==, 2);
    close(dc.fd);
    chardev_cleanup_all();
}

static void test_unix_client(void)
{
    g_autofree char *path = tmp_path("sock-listen");
    g_autofree char *spec = g_strdup_printf("unix:%s", path);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    int l, c;

    l = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    g_assert_cmpint(bind(l, (struct sockaddr *)&sun, sizeof(sun)), ==, 0);
    g_assert_cmpint(listen(l, 1), ==, 0);
    fe_init(&fe);
    chr = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    /* connected already: a frontend attaching later hears OPENED */
    chardev_set_handlers(chr, &fe_handlers, &fe);
    g_assert_cmpint(fe.opened, ==, 1);
    c = accept(l, NULL, NULL);
    g_assert_cmpint(write(c, "x", 1), ==, 1);
    SPIN_UNTIL(fe.rx->len == 1);
    close(c);
    SPIN_UNTIL(fe.closed == 1);
    /* writing to the departed server is dropped without SIGPIPE */
    chardev_write(chr, (const uint8_t *)"y", 1);
    close(l);
    chardev_cleanup_all();
    fe_fini(&fe);
}

static void test_pty(void)
{
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    const char *fn;
    char buf[16];
    int slave;

    chr = chardev_new_from_spec("serial0", "pty", &err);
    g_assert_no_error(err);
    fn = chardev_filename(chr);
    g_assert_true(g_str_has_prefix(fn, "pty:/dev/"));
    fe_init(&fe);
    chardev_set_handlers(chr, &fe_handlers, &fe);
    /* nobody on the slave yet: dropped */
    chardev_write(chr, (const uint8_t *)"lost", 4);

    slave = open(fn + 4, O_RDWR | O_NOCTTY);
    g_assert_cmpint(slave, >=, 0);
    SPIN_UNTIL(fe.opened == 1);
    chardev_write(chr, (const uint8_t *)"pty\n", 4);
    g_assert_cmpint(read_timeout(slave, buf, sizeof(buf)), ==, 4);
    g_assert_cmpmem(buf, 4, "pty\n", 4);   /* raw: no \r added */
    g_assert_cmpint(write(slave, "k", 1), ==, 1);
    SPIN_UNTIL(fe.rx->len == 1);
    close(slave);
    SPIN_UNTIL(fe.closed == 1);
    chardev_cleanup_all();
    fe_fini(&fe);
}

/* stdin from a pipe: data arrives, EOF stops polling instead of spinning. */
static void test_stdio_eof(void)
{
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    int p[2], saved;

    g_assert_cmpint(pipe(p), ==, 0);
    saved = dup(0);
    dup2(p[0], 0);
    close(p[0]);
    g_assert_cmpint(write(p[1], "in", 2), ==, 2);
    close(p[1]);

    chr = chardev_new_from_opts("stdio,id=con,signal=on", &err);
    g_assert_no_error(err);
    expect_spec_error("serial1", "stdio", "multiple");
    fe_init(&fe);
    chardev_set_handlers(chr, &fe_handlers, &fe);
    SPIN_UNTIL(fe.rx->len == 2);
    spin_for_ms(10);
    /* nothing left to dispatch: the EOF'd stdin is no longer watched */
    g_assert_false(g_main_context_pending(NULL));
    chardev_cleanup_all();
    /* stdin's flags are restored: blocking again */
    g_assert_false(fcntl(0, F_GETFL) & O_NONBLOCK);
    dup2(saved, 0);
    close(saved);
    fe_fini(&fe);
}

static void test_mux_specs(void)
{
    GError *err = NULL;
    Chardev *chr;

    chr = chardev_new_from_spec("serial0", "mon:null", &err);
    g_assert_no_error(err);
    g_assert_true(chardev_is_mux(chr));
    g_assert_true(chardev_wants_monitor(chr));
    g_assert_cmpstr(chardev_id(chr), ==, "serial0");
    g_assert_false(chardev_frontend_open(chr));

    chr = chardev_new_from_spec("serial1", "null", &err);
    g_assert_no_error(err);
    g_assert_false(chardev_is_mux(chr));
    g_assert_false(chardev_wants_monitor(chr));

    chr = chardev_new_from_opts("null,id=m,mux=on", &err);
    g_assert_no_error(err);
    g_assert_true(chardev_is_mux(chr));
    g_assert_false(chardev_wants_monitor(chr));

    expect_spec_error("serial2", "mon:none", "'mon:' needs a backend");
    expect_spec_error("serial2", "mon:chardev:m", "'mon:' needs a backend");
    expect_spec_error("serial2", "mon:frob", "-serial mon:frob: unknown "
                      "character backend 'frob'");
    expect_opts_error("null,id=m2,mux=maybe", "mux");
    chardev_cleanup_all();
}

typedef struct CountCtx {
    int n;
    bool saw_m;
} CountCtx;

static void count_chardev(Chardev *chr, void *opaque)
{
    CountCtx *c = opaque;
    c->n++;
    c->saw_m |= !strcmp(chardev_id(chr), "m");
}

/* Reads from c until want bytes came or 5 s passed; returns the count. */
static size_t read_at_least(int c, char *buf, size_t size, size_t want)
{
    size_t n = 0;

    while (n < want) {
        ssize_t r = read_timeout(c, buf + n, size - n - 1);
        if (r <= 0) {
            break;
        }
        n += r;
    }
    buf[n] = '\0';
    return n;
}

/*
 * Two frontends on one socket: the serial port keeps the focus though the
 * monitor attached first; C-a c moves it; C-a C-a and C-a a send C-a; C-a h
 * prints help; C-a x requests the quit; output of both reaches the peer.
 */
static void test_mux_focus_and_escapes(void)
{
    g_autofree char *path = tmp_path("sock-mux");
    g_autofree char *opts = g_strdup_printf(
        "socket,id=m,path=%s,server=on,wait=off,mux=on", path);
    ChardevHandlers mon_handlers = fe_handlers;
    GError *err = NULL;
    Frontend serial, mon;
    CountCtx count = { 0 };
    char buf[512];
    int status;
    Chardev *chr;
    int c;

    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    fe_init(&serial);
    fe_init(&mon);
    mon_handlers.mux_background = true;
    chardev_set_handlers(chr, &mon_handlers, &mon);
    chardev_set_handlers(chr, &fe_handlers, &serial);
    g_assert_true(chardev_frontend_open(chr));
    chardev_foreach(count_chardev, &count);
    g_assert_cmpint(count.n, ==, 1);
    g_assert_true(count.saw_m);

    c = unix_connect_to(path);
    g_assert_cmpint(c, >=, 0);
    SPIN_UNTIL(serial.opened == 1 && mon.opened == 1);
    SPIN_UNTIL(serial.mux_in == 1);
    g_assert_cmpint(mon.mux_in, ==, 0);

    g_assert_cmpint(write(c, "ab", 2), ==, 2);
    SPIN_UNTIL(serial.rx->len == 2);
    g_assert_cmpint(mon.rx->len, ==, 0);

    /* C-a c: the monitor gets the focus, and what follows in the read */
    g_assert_cmpint(write(c, "\001cxy\001\001z\001az", 10), ==, 10);
    SPIN_UNTIL(mon.rx->len == 6);
    g_assert_cmpmem(mon.rx->data, 6, "xy\001z\001z", 6);
    g_assert_cmpint(serial.mux_out, ==, 1);
    g_assert_cmpint(mon.mux_in, ==, 1);
    g_assert_cmpint(serial.rx->len, ==, 2);

    /* C-a c again wraps to the serial port; the escape may be split */
    g_assert_cmpint(write(c, "\001", 1), ==, 1);
    spin_for_ms(20);
    g_assert_cmpint(write(c, "cq", 2), ==, 2);
    SPIN_UNTIL(serial.rx->len == 3);
    g_assert_cmpint(serial.rx->data[2], ==, 'q');
    g_assert_cmpint(mon.mux_out, ==, 1);
    g_assert_cmpint(serial.mux_in, ==, 2);

    /* output from both frontends goes to the peer */
    chardev_write(chr, (const uint8_t *)"[serial]", 8);
    chardev_write(chr, (const uint8_t *)"[mon]", 5);
    read_at_least(c, buf, sizeof(buf), 13);
    g_assert_cmpstr(buf, ==, "[serial][mon]");

    /* help lists the keys that work; unknown escapes are eaten */
    g_assert_cmpint(write(c, "\001Q\001h", 4), ==, 4);
    read_at_least(c, buf, sizeof(buf), 100);
    g_assert_nonnull(strstr(buf, "C-a x    exit emulator"));
    g_assert_nonnull(strstr(buf, "C-a c    switch between console and "
                                 "monitor"));
    g_assert_null(strstr(buf, "C-a s"));
    g_assert_cmpint(serial.rx->len, ==, 3);

    /* C-a x asks the main loop to quit, as QEMU's does */
    vm_take_shutdown_request(&status);
    g_assert_cmpint(write(c, "\001x", 2), ==, 2);
    read_at_least(c, buf, sizeof(buf), 10);
    g_assert_nonnull(strstr(buf, "terminated"));
    g_assert_cmpint(vm_take_shutdown_request(&status), ==, SHUTDOWN_HOST_QUIT);

    /* the serial port leaves: the monitor, alone, gets the focus */
    chardev_set_handlers(chr, NULL, &serial);
    SPIN_UNTIL(mon.mux_in == 2);
    g_assert_cmpint(write(c, "k", 1), ==, 1);
    SPIN_UNTIL(mon.rx->len == 7);
    g_assert_true(chardev_frontend_open(chr));
    chardev_set_handlers(chr, NULL, &mon);
    g_assert_false(chardev_frontend_open(chr));

    close(c);
    chardev_cleanup_all();
    fe_fini(&serial);
    fe_fini(&mon);
}

/* A full frontend on a mux gets its input later, in order. */
static void test_mux_flow_control(void)
{
    g_autofree char *path = tmp_path("sock-muxfc");
    g_autofree char *opts = g_strdup_printf(
        "socket,id=mfc,path=%s,server=on,wait=off,mux=on", path);
    GError *err = NULL;
    Frontend fe;
    Chardev *chr;
    int c;

    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    fe_init(&fe);
    fe.room = 0;
    chardev_set_handlers(chr, &fe_handlers, &fe);
    c = unix_connect_to(path);
    SPIN_UNTIL(fe.opened == 1);
    g_assert_cmpint(write(c, "hello", 5), ==, 5);
    spin_for_ms(30);
    g_assert_cmpuint(fe.rx->len, ==, 0);
    /* handed over at once, in pieces no larger than what it can take */
    fe.room = 2;
    chardev_accept_input(chr);
    g_assert_cmpuint(fe.rx->len, ==, 5);
    g_assert_cmpmem(fe.rx->data, 5, "hello", 5);
    g_assert_cmpint(write(c, "more", 4), ==, 4);
    SPIN_UNTIL(fe.rx->len == 9);
    close(c);
    chardev_cleanup_all();
    fe_fini(&fe);
}

/* A raised output limit keeps a large reply whole for a slow reader. */
static void test_output_limit(void)
{
    g_autofree char *path = tmp_path("sock-limit");
    g_autofree char *opts = g_strdup_printf(
        "socket,id=lim,path=%s,server=on,wait=off", path);
    const size_t total = 2 << 20;
    g_autofree uint8_t *data = g_malloc(total);
    g_autofree uint8_t *got = g_malloc(total + 1);
    GError *err = NULL;
    size_t n = 0;
    Chardev *chr;
    int c;

    for (size_t i = 0; i < total; i++) {
        data[i] = i * 13 + (i >> 10);
    }
    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    chardev_set_output_limit(chr, 16 << 20);
    c = unix_connect_to(path);
    SPIN_UNTIL(g_str_has_prefix(chardev_filename(chr), "unix:"));
    chardev_write(chr, data, total);    /* the reader is not reading yet */
    while (n < total) {
        ssize_t r = read_timeout(c, got + n, total + 1 - n);
        if (r <= 0) {
            break;
        }
        n += r;
    }
    g_assert_cmpuint(n, ==, total);
    g_assert_cmpmem(got, n, data, total);
    close(c);
    chardev_cleanup_all();
}

typedef struct SlowReader {
    int fd;
    size_t got;
} SlowReader;

static void *read_slowly(void *opaque)
{
    SlowReader *r = opaque;
    char buf[4096];
    ssize_t n;

    g_usleep(100 * 1000);   /* starts after the exit began */
    while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
        r->got += n;
    }
    return NULL;
}

/* What is pending at exit reaches a peer that reads within the second. */
static void test_flush_at_exit(void)
{
    g_autofree char *path = tmp_path("sock-flush");
    g_autofree char *opts = g_strdup_printf(
        "socket,id=fl,path=%s,server=on,wait=off", path);
    const size_t total = 1 << 20;
    g_autofree uint8_t *data = g_malloc0(total);
    SlowReader reader = { -1, 0 };
    GError *err = NULL;
    pthread_t th;
    Chardev *chr;
    gint64 t0;
    int c;

    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    chardev_set_output_limit(chr, 16 << 20);
    c = unix_connect_to(path);
    SPIN_UNTIL(g_str_has_prefix(chardev_filename(chr), "unix:"));
    chardev_write(chr, data, total);
    reader.fd = c;
    pthread_create(&th, NULL, read_slowly, &reader);
    chardev_cleanup_all();
    pthread_join(th, NULL);
    g_assert_cmpuint(reader.got, ==, total);
    close(c);

    /* a peer that never reads holds the exit up for a second at most */
    chr = chardev_new_from_opts(opts, &err);
    g_assert_no_error(err);
    chardev_set_output_limit(chr, 16 << 20);
    c = unix_connect_to(path);
    SPIN_UNTIL(g_str_has_prefix(chardev_filename(chr), "unix:"));
    chardev_write(chr, data, total);
    t0 = g_get_monotonic_time();
    chardev_cleanup_all();
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
    close(c);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("vireo-chardev-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/chardev/spec/errors", test_bad_specs);
    g_test_add_func("/chardev/spec/none-null-lookup", test_none_and_null);
    g_test_add_func("/chardev/file/truncate-append", test_file_truncates);
    g_test_add_func("/chardev/pipe/fifos", test_pipe);
    g_test_add_func("/chardev/socket/unix-server-reconnect", test_unix_server);
    g_test_add_func("/chardev/socket/unix-server-wait", test_unix_wait);
    g_test_add_func("/chardev/socket/unix-client", test_unix_client);
    g_test_add_func("/chardev/socket/flow-control", test_flow_control);
    g_test_add_func("/chardev/socket/output-bounded", test_output_bounded);
    g_test_add_func("/chardev/socket/tcp", test_tcp);
    g_test_add_func("/chardev/pty", test_pty);
    g_test_add_func("/chardev/stdio/pipe-eof", test_stdio_eof);
    g_test_add_func("/chardev/mux/specs", test_mux_specs);
    g_test_add_func("/chardev/mux/focus-escapes", test_mux_focus_and_escapes);
    g_test_add_func("/chardev/mux/flow-control", test_mux_flow_control);
    g_test_add_func("/chardev/output/limit", test_output_limit);
    g_test_add_func("/chardev/output/flush-at-exit", test_flush_at_exit);
    ret = g_test_run();

    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        /* leftovers in /tmp are harmless */
    }
    g_free(tmpdir);
    return ret;
}
