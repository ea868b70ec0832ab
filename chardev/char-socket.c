/*
 * socket backend: unix:PATH and tcp:HOST:PORT, as a server (one client at a
 * time; a new one may connect after the last left) or a client. As QEMU,
 * a server waits for its first client at startup unless wait=off, and
 * output with no client connected is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "char-priv.h"

typedef struct SocketState {
    bool is_unix;
    bool server;
    bool nodelay;
    char *path;             /* unix */
    char *host, *port;      /* tcp */
    int listen_fd;
    guint listen_watch;
    int conn_fd;
} SocketState;

static void socket_set_filename(Chardev *chr)
{
    SocketState *s = chr->be_state;
    const char *state = s->conn_fd >= 0 ? "" : "disconnected:";

    if (s->is_unix) {
        chardev_set_filename(chr, "%sunix:%s%s", state, s->path,
                             s->server ? ",server=on" : "");
    } else {
        chardev_set_filename(chr, "%stcp:%s:%s%s", state, s->host, s->port,
                             s->server ? ",server=on" : "");
    }
}

static gboolean socket_accept_ready(gint fd, GIOCondition cond,
                                    gpointer opaque);

static void listen_watch_start(Chardev *chr)
{
    SocketState *s = chr->be_state;

    if (s->listen_fd >= 0 && !s->listen_watch) {
        s->listen_watch = g_unix_fd_add(s->listen_fd, G_IO_IN,
                                        socket_accept_ready, chr);
    }
}

static void socket_connected(Chardev *chr, int fd)
{
    SocketState *s = chr->be_state;
    int one = 1;

    if (!s->is_unix && s->nodelay) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    s->conn_fd = fd;
    /* one client at a time: stop accepting until this one leaves */
    if (s->listen_watch) {
        g_source_remove(s->listen_watch);
        s->listen_watch = 0;
    }
    chardev_attach_fds(chr, fd, fd);
    socket_set_filename(chr);
    chardev_send_event(chr, CHR_EVENT_OPENED);
}

static void socket_hangup(Chardev *chr, ChardevSide side)
{
    SocketState *s = chr->be_state;

    chardev_detach_fds(chr);
    if (s->conn_fd >= 0) {
        close(s->conn_fd);
        s->conn_fd = -1;
    }
    socket_set_filename(chr);
    chardev_send_event(chr, CHR_EVENT_CLOSED);
    listen_watch_start(chr);
}

static gboolean socket_accept_ready(gint fd, GIOCondition cond,
                                    gpointer opaque)
{
    Chardev *chr = opaque;
    SocketState *s = chr->be_state;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (conn < 0) {
        return G_SOURCE_CONTINUE;   /* EAGAIN, or a client that left already */
    }
    s->listen_watch = 0;            /* socket_connected must not remove us */
    socket_connected(chr, conn);
    return G_SOURCE_REMOVE;
}

/* Fills a sockaddr_un; fails when the path does not fit. */
static bool unix_addr(const char *path, struct sockaddr_un *sun,
                      GError **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        g_set_error(errp, VIREO_ERROR, 0, "unix socket path '%s' is too long "
                    "(at most %zu bytes)", path, sizeof(sun->sun_path) - 1);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

static int unix_listen(const char *path, GError **errp)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    if (!unix_addr(path, &sun, errp)) {
        return -1;
    }
    /* a stale socket from an earlier run would make bind fail */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 1) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "could not listen on unix:%s: %s",
                    path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static int unix_connect(const char *path, GError **errp)
{
    struct sockaddr_un sun;
    int fd;

    if (!unix_addr(path, &sun, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "could not connect to unix:%s: %s",
                    path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Listens on or connects to the first address of host:port that works. */
static int tcp_open(SocketState *s, GError **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = s->server ? AI_PASSIVE : 0,
    };
    struct addrinfo *res, *ai;
    const char *host = *s->host ? s->host : (s->server ? NULL : "localhost");
    int err, fd = -1, saved_errno = 0;

    err = getaddrinfo(host, s->port, &hints, &res);
    if (err) {
        g_set_error(errp, VIREO_ERROR, 0, "tcp:%s:%s: %s", s->host, s->port,
                    gai_strerror(err));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        if (s->server) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                listen(fd, 1) == 0) {
                break;
            }
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "could not %s tcp:%s:%s: %s",
                    s->server ? "listen on" : "connect to", s->host, s->port,
                    g_strerror(saved_errno));
    }
    return fd;
}

/* For port=0: the port the kernel picked, so users and tests can find it. */
static void tcp_update_port(SocketState *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int port = -1;

    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) < 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    if (port >= 0) {
        g_free(s->port);
        s->port = g_strdup_printf("%d", port);
    }
}

static bool socket_parse(SocketState *s, Opts *o, bool *wait, GError **errp)
{
    const char *path = opts_get(o, "path");
    const char *host = opts_get(o, "host");
    const char *port = opts_get(o, "port");
    bool nowait;

    if (path && (host || port)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "socket: give either path= or host=/port=, not both");
        return false;
    }
    if (path) {
        if (!*path) {
            g_set_error(errp, VIREO_ERROR, 0, "socket: path is empty");
            return false;
        }
        s->is_unix = true;
        s->path = g_strdup(path);
    } else if (port && *port) {
        s->host = g_strdup(host ? host : "");
        s->port = g_strdup(port);
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "socket: parameter 'path' or 'port' is missing");
        return false;
    }
    if (!opts_get_bool(o, "server", false, &s->server, errp) ||
        !opts_get_bool(o, "wait", s->server, wait, errp) ||
        !opts_get_bool(o, "nowait", false, &nowait, errp) ||
        !opts_get_bool(o, "nodelay", false, &s->nodelay, errp)) {
        return false;
    }
    if (nowait) {
        *wait = false;      /* QEMU's old spelling of wait=off */
    }
    if (*wait && !s->server) {
        /* QEMU refuses this too: only a server can wait */
        g_set_error(errp, VIREO_ERROR, 0,
                    "socket: 'wait' only applies to server=on");
        return false;
    }
    return true;
}

/* wait=on: block startup until the first client, as QEMU does. */
static bool socket_wait_client(Chardev *chr, GError **errp)
{
    SocketState *s = chr->be_state;
    int conn;

    fprintf(stderr, "vireo: waiting for connection on: %s\n", chr->filename);
    do {
        conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    } while (conn < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (conn < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "accept on %s failed: %s",
                    chr->filename, g_strerror(errno));
        return false;
    }
    socket_connected(chr, conn);
    return true;
}

static bool socket_open(Chardev *chr, Opts *o, GError **errp)
{
    SocketState *s = g_new0(SocketState, 1);
    bool wait = false;
    int fd;

    s->listen_fd = -1;
    s->conn_fd = -1;
    chr->be_state = s;
    if (!socket_parse(s, o, &wait, errp)) {
        return false;
    }
    if (s->is_unix) {
        fd = s->server ? unix_listen(s->path, errp)
                       : unix_connect(s->path, errp);
    } else {
        fd = tcp_open(s, errp);
    }
    if (fd < 0) {
        return false;
    }
    if (!s->server) {
        socket_connected(chr, fd);
        return true;
    }
    s->listen_fd = fd;
    if (!s->is_unix) {
        tcp_update_port(s);
    }
    socket_set_filename(chr);
    if (wait && !socket_wait_client(chr, errp)) {
        return false;
    }
    /* a client that vanishes between poll and accept must not block us */
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    if (!wait) {
        listen_watch_start(chr);
    }
    return true;
}

static void socket_close(Chardev *chr)
{
    SocketState *s = chr->be_state;

    if (!s) {
        return;
    }
    if (s->listen_watch) {
        g_source_remove(s->listen_watch);
    }
    if (s->conn_fd >= 0) {
        close(s->conn_fd);
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        if (s->is_unix) {
            unlink(s->path);    /* we made it; don't leave it behind */
        }
    }
    g_free(s->path);
    g_free(s->host);
    g_free(s->port);
    g_free(s);
    chr->be_state = NULL;
}

static const char *const socket_keys[] = {
    "path", "host", "port", "server", "wait", "nowait", "nodelay", NULL
};

const ChardevBackend chardev_socket_backend = {
    .name = "socket",
    .keys = socket_keys,
    .open = socket_open,
    .hangup = socket_hangup,
    .close = socket_close,
};
