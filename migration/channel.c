/*
 * Migration transports and the byte stream over them. Every call here may
 * block (the migration threads use them, never the main loop); another
 * thread stops a blocked transfer with mig_channel_abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "util/crc32c.h"
#include "util/opts.h"

/* ---- URIs ---- */

static bool parse_tcp(const char *rest, MigUri *u, GError **errp)
{
    const char *colon;

    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':') {
            goto bad;
        }
        u->host = g_strndup(rest + 1, close - rest - 1);
        colon = close + 1;
    } else {
        colon = strrchr(rest, ':');
        if (!colon) {
            goto bad;
        }
        u->host = g_strndup(rest, colon - rest);
    }
    if (!colon[1] || strchr(colon + 1, ',')) {
        goto bad;
    }
    u->port = g_strdup(colon + 1);
    return true;
bad:
    g_set_error(errp, VIREO_ERROR, 0,
                "tcp:%s: expected tcp:HOST:PORT", rest);
    return false;
}

static bool parse_file(const char *rest, MigUri *u, GError **errp)
{
    const char *comma = strchr(rest, ',');

    u->path = comma ? g_strndup(rest, comma - rest) : g_strdup(rest);
    if (comma) {
        if (!g_str_has_prefix(comma, ",offset=") ||
            !parse_uint(comma + 8, &u->offset, NULL)) {
            g_set_error(errp, VIREO_ERROR, 0, "file:%s: expected "
                        "file:PATH[,offset=N]", rest);
            return false;
        }
    }
    return true;
}

static bool uri_parse(const char *uri, MigUri *u, GError **errp)
{
    memset(u, 0, sizeof(*u));
    if (g_str_has_prefix(uri, "tcp:")) {
        u->transport = MIG_TCP;
        return parse_tcp(uri + 4, u, errp);
    }
    if (g_str_has_prefix(uri, "unix:") && uri[5]) {
        u->transport = MIG_UNIX;
        u->path = g_strdup(uri + 5);
        return true;
    }
    if (g_str_has_prefix(uri, "exec:") && uri[5]) {
        u->transport = MIG_EXEC;
        u->path = g_strdup(uri + 5);
        return true;
    }
    if (g_str_has_prefix(uri, "file:") && uri[5]) {
        u->transport = MIG_FILE;
        return parse_file(uri + 5, u, errp);
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "unknown migration protocol: %s (tcp:HOST:PORT, unix:PATH, "
                "exec:CMD or file:PATH[,offset=N])", uri);
    return false;
}

/* On failure u holds nothing (the parsers may have filled parts of it). */
bool mig_uri_parse(const char *uri, MigUri *u, GError **errp)
{
    if (!uri_parse(uri, u, errp)) {
        mig_uri_clear(u);
        return false;
    }
    return true;
}

void mig_uri_clear(MigUri *u)
{
    g_free(u->host);
    g_free(u->port);
    g_free(u->path);
    memset(u, 0, sizeof(*u));
}

/* ---- opening ---- */

static void ignore_sigpipe(void)
{
    struct sigaction sa;

    /* a departed peer must be EPIPE, not a signal that kills the VM */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
}

static MigChannel *channel_new(int fd, bool is_socket)
{
    MigChannel *c = g_new0(MigChannel, 1);

    c->fd = fd;
    c->ret_fd = is_socket ? fd : -1;
    c->is_socket = is_socket;
    c->buf = g_malloc(MIG_BUF_SIZE);
    c->crc = 0;
    return c;
}

static bool unix_addr(const char *path, struct sockaddr_un *sa,
                      GError **errp)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        g_set_error(errp, VIREO_ERROR, 0, "unix:%s: path too long", path);
        return false;
    }
    strcpy(sa->sun_path, path);
    return true;
}

/*
 * A tcp connect(), but a migrate_cancel meanwhile (*cancel) ends the wait:
 * a host that never answers would hold a blocking connect for minutes.
 */
static int connect_cancellable(int fd, const struct sockaddr *sa,
                               socklen_t len, volatile bool *cancel)
{
    int flags = fcntl(fd, F_GETFL), err = 0;
    socklen_t err_len = sizeof(err);

    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS) {
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        for (;;) {
            int n = poll(&p, 1, 100);
            if (n > 0) {
                break;
            }
            if (n < 0 && errno != EINTR) {
                return -1;
            }
            if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) {
                errno = ECANCELED;
                return -1;
            }
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0) {
            return -1;
        }
        if (err) {
            errno = err;
            return -1;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return 0;
}

/* tcp or unix; listen: bind and listen instead of connecting. */
static int socket_open(const MigUri *u, bool listen_, volatile bool *cancel,
                       GError **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    struct sockaddr_un sun;
    int fd = -1, err = 0, one = 1;

    if (u->transport == MIG_UNIX) {
        if (!unix_addr(u->path, &sun, errp)) {
            return -1;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_) {
            unlink(u->path);
        }
        if (fd < 0 || (listen_ ? bind(fd, (void *)&sun, sizeof(sun)) < 0 ||
                                     listen(fd, 1) < 0
                               : connect(fd, (void *)&sun, sizeof(sun)) < 0)) {
            g_set_error(errp, VIREO_ERROR, 0, "unix:%s: %s", u->path,
                        g_strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        return fd;
    }
    hints.ai_flags = listen_ ? AI_PASSIVE : 0;
    int gai = getaddrinfo(*u->host ? u->host : NULL, u->port, &hints, &res);
    if (gai) {
        g_set_error(errp, VIREO_ERROR, 0, "tcp:%s:%s: %s", u->host, u->port,
                    gai_strerror(gai));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (listen_) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        }
        if (listen_ ? bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                      listen(fd, 1) == 0
                    : connect_cancellable(fd, ai->ai_addr, ai->ai_addrlen,
                                          cancel) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "tcp:%s:%s: %s", u->host, u->port,
                    g_strerror(err));
    } else if (!listen_) {
        setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
    }
    return fd;
}

/* exec: sh -c CMD; the stream goes to its stdin (source) or comes from its
 * stdout (destination). */
static MigChannel *exec_open(const MigUri *u, bool source, GError **errp)
{
    char *argv[] = { "/bin/sh", "-c", u->path, NULL };
    GPid pid;
    int in = -1, out = -1;

    if (!g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                  NULL, NULL, &pid, source ? &in : NULL,
                                  source ? NULL : &out, NULL, errp)) {
        g_prefix_error(errp, "exec:%s: ", u->path);
        return NULL;
    }
    MigChannel *c = channel_new(source ? in : out, false);
    c->child = pid;
    fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    return c;
}

static MigChannel *file_open(const MigUri *u, bool source, GError **errp)
{
    int fd = open(u->path, source ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
                                  : O_RDONLY | O_CLOEXEC, 0600);

    if (fd >= 0 && u->offset && lseek(fd, u->offset, SEEK_SET) < 0) {
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "file:%s: %s", u->path,
                    g_strerror(errno));
        return NULL;
    }
    return channel_new(fd, false);
}

MigChannel *mig_channel_connect(const MigUri *u, volatile bool *cancel,
                                GError **errp)
{
    ignore_sigpipe();
    switch (u->transport) {
    case MIG_TCP:
    case MIG_UNIX: {
        int fd = socket_open(u, false, cancel, errp);
        return fd < 0 ? NULL : channel_new(fd, true);
    }
    case MIG_EXEC:
        return exec_open(u, true, errp);
    case MIG_FILE:
        return file_open(u, true, errp);
    }
    g_assert_not_reached();
}

struct MigListener {
    MigUri uri;
    int fd;                 /* listening socket, or -1 */
    MigChannel *ready;      /* exec, file: opened already */
    volatile bool aborted;
};

MigListener *mig_listener_new(const MigUri *u, GError **errp)
{
    MigListener *l = g_new0(MigListener, 1);

    ignore_sigpipe();
    l->fd = -1;
    l->uri = *u;
    l->uri.host = g_strdup(u->host);
    l->uri.port = g_strdup(u->port);
    l->uri.path = g_strdup(u->path);
    switch (u->transport) {
    case MIG_TCP:
    case MIG_UNIX:
        l->fd = socket_open(u, true, NULL, errp);
        break;
    case MIG_EXEC:
        l->ready = exec_open(u, false, errp);
        break;
    case MIG_FILE:
        l->ready = file_open(u, false, errp);
        break;
    }
    if (l->fd < 0 && !l->ready) {
        mig_listener_free(l);
        return NULL;
    }
    return l;
}

MigChannel *mig_listener_accept(MigListener *l, GError **errp)
{
    int fd;

    if (l->ready) {
        MigChannel *c = l->ready;
        l->ready = NULL;
        return c;
    }
    do {
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR && !l->aborted);
    if (fd < 0 || l->aborted) {
        g_set_error(errp, VIREO_ERROR, 0, "accepting the migration: %s",
                    l->aborted ? "cancelled" : g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    /* one source per -incoming, as QEMU */
    close(l->fd);
    l->fd = -1;
    if (l->uri.transport == MIG_UNIX) {
        unlink(l->uri.path);
    }
    return channel_new(fd, true);
}

void mig_listener_abort(MigListener *l)
{
    l->aborted = true;
    if (l->fd >= 0) {
        shutdown(l->fd, SHUT_RDWR);
    }
}

void mig_listener_free(MigListener *l)
{
    if (!l) {
        return;
    }
    if (l->fd >= 0) {
        close(l->fd);
        if (l->uri.transport == MIG_UNIX) {
            unlink(l->uri.path);
        }
    }
    mig_channel_free(l->ready);
    mig_uri_clear(&l->uri);
    g_free(l);
}

MigChannel *mig_channel_new_rw(MigChannelRw rw, void *opaque, uint64_t size)
{
    MigChannel *c = channel_new(-1, false);

    c->rw = rw;
    c->rw_opaque = opaque;
    c->rw_size = size;
    return c;
}

void mig_channel_abort(MigChannel *c)
{
    if (c->is_socket) {
        shutdown(c->fd, SHUT_RDWR);
    }
    if (c->child) {
        kill(c->child, SIGTERM);
    }
}

static void child_reaped(GPid pid, gint status, gpointer data)
{
    g_spawn_close_pid(pid);
}

void mig_channel_free(MigChannel *c)
{
    if (!c) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->child) {
        /* the command ends on its own once its stdin/stdout is closed */
        g_child_watch_add(c->child, child_reaped, NULL);
    }
    g_free(c->buf);
    g_free(c);
}

/* ---- output ---- */

static bool cancelled(MigChannel *c, GError **errp)
{
    if (c->cancel && __atomic_load_n(c->cancel, __ATOMIC_RELAXED)) {
        g_set_error(errp, VIREO_ERROR, 0, "cancelled");
        return true;
    }
    return false;
}

/* Sleeps as long as max_bandwidth asks for n more bytes. */
static void throttle(MigChannel *c, size_t n)
{
    gint64 now = g_get_monotonic_time();

    if (!c->max_bandwidth) {
        return;
    }
    if (!c->window_start || now - c->window_start > G_USEC_PER_SEC) {
        c->window_start = now;
        c->window_bytes = 0;
    }
    c->window_bytes += n;
    gint64 due = c->window_start +
                 (gint64)(c->window_bytes * (double)G_USEC_PER_SEC /
                          c->max_bandwidth);
    while (due > now &&
           !(c->cancel && __atomic_load_n(c->cancel, __ATOMIC_RELAXED))) {
        g_usleep(MIN(due - now, 50000));
        now = g_get_monotonic_time();
    }
}

/* The bytes go to rw at the position they have in the stream. */
static bool rw_write(MigChannel *c, const uint8_t *p, size_t n,
                     GError **errp)
{
    int ret = c->rw(c->rw_opaque, true, c->rw_pos, (void *)p, n);

    c->rw_pos += n;
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "writing the VM state: %s",
                    g_strerror(-ret));
        return false;
    }
    return true;
}

static bool write_full(MigChannel *c, int fd, const uint8_t *p, size_t n,
                       GError **errp)
{
    if (c->rw && n) {
        return rw_write(c, p, n, errp);
    }
    while (n) {
        if (cancelled(c, errp)) {
            return false;
        }
        ssize_t r = c->is_socket ? send(fd, p, n, MSG_NOSIGNAL)
                                 : write(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            g_set_error(errp, VIREO_ERROR, 0, "writing the migration "
                        "stream: %s", r < 0 ? g_strerror(errno) : "EOF");
            return false;
        }
        p += r;
        n -= r;
    }
    return true;
}

bool mig_flush(MigChannel *c, GError **errp)
{
    size_t n = c->len;

    c->len = 0;
    throttle(c, n);
    return write_full(c, c->fd, c->buf, n, errp);
}

bool mig_put(MigChannel *c, const void *data, size_t len, GError **errp)
{
    const uint8_t *p = data;

    /* query-migrate reads it from the main thread */
    __atomic_store_n(&c->bytes, c->bytes + len, __ATOMIC_RELAXED);
    while (len) {
        size_t n = MIN(len, MIG_BUF_SIZE - c->len);
        memcpy(c->buf + c->len, p, n);
        /* of the copy: a running guest may change a page being sent */
        c->crc = crc32c(c->crc, c->buf + c->len, n);
        c->len += n;
        p += n;
        len -= n;
        if (c->len == MIG_BUF_SIZE && !mig_flush(c, errp)) {
            return false;
        }
    }
    return true;
}

bool mig_put_u8(MigChannel *c, uint8_t v, GError **errp)
{
    return mig_put(c, &v, 1, errp);
}

bool mig_put_u16(MigChannel *c, uint16_t v, GError **errp)
{
    uint8_t b[2] = { v >> 8, v };
    return mig_put(c, b, 2, errp);
}

bool mig_put_u32(MigChannel *c, uint32_t v, GError **errp)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
    return mig_put(c, b, 4, errp);
}

bool mig_put_u64(MigChannel *c, uint64_t v, GError **errp)
{
    return mig_put_u32(c, v >> 32, errp) && mig_put_u32(c, v, errp);
}

bool mig_put_str(MigChannel *c, const char *s, GError **errp)
{
    size_t n = strlen(s);

    n = MIN(n, 0xffff);
    return mig_put_u16(c, n, errp) && mig_put(c, s, n, errp);
}

/* ---- input ---- */

static bool rw_read(MigChannel *c, uint8_t *p, size_t n, size_t *got,
                    GError **errp)
{
    n = MIN(n, c->rw_size - c->rw_pos);
    if (!n) {
        g_set_error(errp, VIREO_ERROR, 0, "truncated VM state: it ends "
                    "after %" G_GUINT64_FORMAT " bytes", c->rw_size);
        return false;
    }
    int ret = c->rw(c->rw_opaque, false, c->rw_pos, p, n);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "reading the VM state: %s",
                    g_strerror(-ret));
        return false;
    }
    c->rw_pos += n;
    *got = n;
    return true;
}

static bool read_some(MigChannel *c, int fd, uint8_t *p, size_t n,
                      size_t *got, GError **errp)
{
    if (c->rw) {
        return rw_read(c, p, n, got, errp);
    }
    for (;;) {
        if (cancelled(c, errp)) {
            return false;
        }
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "reading the migration "
                        "stream: %s", g_strerror(errno));
            return false;
        }
        if (r == 0) {
            g_set_error(errp, VIREO_ERROR, 0, "truncated migration stream: "
                        "the source closed it after %" G_GUINT64_FORMAT
                        " bytes", c->bytes);
            return false;
        }
        *got = r;
        return true;
    }
}

bool mig_get(MigChannel *c, void *data, size_t len, GError **errp)
{
    uint8_t *p = data;

    while (len) {
        if (c->pos == c->len) {
            size_t got;
            if (!read_some(c, c->fd, c->buf, MIG_BUF_SIZE, &got, errp)) {
                return false;
            }
            c->pos = 0;
            c->len = got;
        }
        size_t n = MIN(len, c->len - c->pos);
        memcpy(p, c->buf + c->pos, n);
        c->crc = crc32c(c->crc, p, n);
        c->bytes += n;
        c->pos += n;
        p += n;
        len -= n;
    }
    return true;
}

bool mig_get_u8(MigChannel *c, uint8_t *v, GError **errp)
{
    return mig_get(c, v, 1, errp);
}

bool mig_get_u16(MigChannel *c, uint16_t *v, GError **errp)
{
    uint8_t b[2];

    if (!mig_get(c, b, 2, errp)) {
        return false;
    }
    *v = (uint16_t)b[0] << 8 | b[1];
    return true;
}

bool mig_get_u32(MigChannel *c, uint32_t *v, GError **errp)
{
    uint8_t b[4];

    if (!mig_get(c, b, 4, errp)) {
        return false;
    }
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
    return true;
}

bool mig_get_u64(MigChannel *c, uint64_t *v, GError **errp)
{
    uint32_t hi, lo;

    if (!mig_get_u32(c, &hi, errp) || !mig_get_u32(c, &lo, errp)) {
        return false;
    }
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

char *mig_get_str(MigChannel *c, size_t max, GError **errp)
{
    uint16_t n;

    if (!mig_get_u16(c, &n, errp)) {
        return NULL;
    }
    if (n > max) {
        g_set_error(errp, VIREO_ERROR, 0, "corrupt migration stream: a "
                    "string of %u bytes (at most %zu)", n, max);
        return NULL;
    }
    char *s = g_malloc(n + 1);
    if (!mig_get(c, s, n, errp)) {
        g_free(s);
        return NULL;
    }
    s[n] = 0;
    if (memchr(s, 0, n)) {
        g_set_error(errp, VIREO_ERROR, 0, "corrupt migration stream: a "
                    "string holds a NUL byte");
        g_free(s);
        return NULL;
    }
    return s;
}

/* ---- the return path ---- */

bool mig_reply_send(MigChannel *c, bool ok, const char *msg, GError **errp)
{
    size_t n = MIN(strlen(msg), 0xffff);
    g_autofree uint8_t *b = g_malloc(3 + n);

    b[0] = ok;
    b[1] = n >> 8;
    b[2] = n;
    memcpy(b + 3, msg, n);
    return write_full(c, c->ret_fd, b, 3 + n, errp);
}

/* The return path is read unbuffered: the destination sends nothing else. */
static bool ret_read(MigChannel *c, uint8_t *p, size_t n, GError **errp)
{
    while (n) {
        size_t got;
        if (!read_some(c, c->ret_fd, p, n, &got, errp)) {
            return false;
        }
        p += got;
        n -= got;
    }
    return true;
}

bool mig_reply_recv(MigChannel *c, bool *ok, char **msg, GError **errp)
{
    uint8_t h[3];
    g_autoptr(GError) err = NULL;

    if (!ret_read(c, h, 3, &err)) {
        g_set_error(errp, VIREO_ERROR, 0, "the destination closed the "
                    "connection without an answer (%s)", err->message);
        return false;
    }
    size_t n = (size_t)h[1] << 8 | h[2];
    *msg = g_malloc0(n + 1);
    if (!ret_read(c, (uint8_t *)*msg, n, errp)) {
        g_free(*msg);
        *msg = NULL;
        return false;
    }
    *ok = h[0] == 1;
    return true;
}
