/*
 * The VNC server: QEMU's -vnc syntax, listening sockets and clients on the
 * main loop, a display listener of console 0 that tracks what changed for
 * each client, and the monitor commands (set_password, expire_password,
 * query-vnc) with QEMU's VNC_* events. The protocol itself is in
 * ui/vnc-proto.c; this file only moves bytes.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "monitor/qmp.h"
#include "ui/display.h"
#include "util/opts.h"
#include "vnc.h"

#define VNC_PORT_BASE 5900
#define VNC_READ_CHUNK 65536
/* incremental updates wait while this much output is still queued */
#define VNC_THROTTLE (1024 * 1024)
/* a client whose queued output passes this is not reading: drop it */
#define VNC_OUTPUT_MIN_LIMIT (16 * 1024 * 1024)
/* more clients than this are turned away (each costs memory and time) */
#define VNC_MAX_CLIENTS 64
#define VNC_ACCEPT_PAUSE_MS 100
/* the refresh slows down by half, at least this much, each quiet one */
#define VNC_REFRESH_STEP 50

typedef struct VncListener {
    int fd;
    guint watch;
} VncListener;

typedef struct VncDisplay {
    VncServer vs;
    DisplayChangeListener dcl;
    DisplaySurface fallback; /* when there is no console to show */
    bool listening;
    GArray *listeners; /* of VncListener */
    char *unix_path;
    char *host, *service; /* the first listening address */
    const char *family;
    bool screen_changed; /* dpy_gfx_update since the last refresh */
    uint64_t interval;
} VncDisplay;

static VncDisplay *vnc;

static void client_drop(VncClient *c, const char *reason);

/* ---- QMP shapes ---- */

static json_t *basic_info(const char *host, const char *service,
                          const char *family)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "host", host, "service", service,
                     "family", family, "websocket", 0);
}

static json_t *server_info(void)
{
    json_t *o =
        basic_info(vnc->host ? vnc->host : "", vnc->service ? vnc->service : "",
                   vnc->family ? vnc->family : "unknown");

    json_object_set_new(o, "auth",
                        json_string(vnc->vs.auth_vnc ? "vnc" : "none"));
    return o;
}

static json_t *client_info(VncClient *c)
{
    return basic_info(c->host, c->service, c->family);
}

static void client_event(const char *name, VncClient *c)
{
    qmp_event_send(name, json_pack("{s:o, s:o}", "server", server_info(),
                                   "client", client_info(c)));
}

/* ---- sockets ---- */

static void describe_address(const struct sockaddr *sa, socklen_t len,
                             char **host, char **service, const char **family)
{
    char h[NI_MAXHOST] = "", s[NI_MAXSERV] = "";

    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
        *host =
            g_strdup(vnc && vnc->unix_path ? vnc->unix_path : sun->sun_path);
        *service = g_strdup("");
        *family = "unix";
        return;
    }
    getnameinfo(sa, len, h, sizeof(h), s, sizeof(s),
                NI_NUMERICHOST | NI_NUMERICSERV);
    *host = g_strdup(h);
    *service = g_strdup(s);
    *family = sa->sa_family == AF_INET    ? "ipv4"
              : sa->sa_family == AF_INET6 ? "ipv6"
                                          : "unknown";
}

static size_t output_limit(void)
{
    DisplaySurface *s = vnc->vs.surface;
    size_t frame = s ? (size_t)surface_width(s) * surface_height(s) * 4 : 0;

    return MAX((size_t)VNC_OUTPUT_MIN_LIMIT, 4 * frame);
}

static gboolean client_writable(gint fd, GIOCondition cond, gpointer opaque);

/* Bytes queued for the client and not yet written. */
static size_t pending(const VncClient *c)
{
    return c->out->len - c->out_sent;
}

/*
 * Writes what the socket takes now; the rest waits for G_IO_OUT. Written
 * bytes are dropped from the queue only once they are half of it, so a
 * slow client does not make every write move the whole queue.
 */
static bool client_flush(VncClient *c)
{
    while (pending(c)) {
        ssize_t n =
            send(c->fd, c->out->data + c->out_sent, pending(c), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n <= 0) {
            client_drop(c, n < 0 ? g_strerror(errno) : "connection closed");
            return false;
        }
        c->bytes_out += n;
        c->out_sent += n;
    }
    if (c->out_sent == c->out->len || c->out_sent > c->out->len / 2) {
        g_byte_array_remove_range(c->out, 0, c->out_sent);
        c->out_sent = 0;
    }
    if (pending(c) > output_limit()) {
        client_drop(c, "too much output queued (the client does not read)");
        return false;
    }
    if (pending(c) && !c->out_watch) {
        c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT, client_writable, c);
    } else if (!pending(c) && c->out_watch) {
        g_source_remove(c->out_watch);
        c->out_watch = 0;
    }
    return true;
}

static void client_try_update(VncClient *c)
{
    if (pending(c) > VNC_THROTTLE && !c->force_update) {
        return;
    }
    vnc_client_send_pointer_type(c, input_is_absolute());
    vnc_client_send_update(c);
}

static gboolean client_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    VncClient *c = opaque;

    c->out_watch = 0; /* client_flush adds it again if needed */
    if (client_flush(c) && pending(c) <= VNC_THROTTLE) {
        client_try_update(c);
        client_flush(c);
    }
    return G_SOURCE_REMOVE;
}

static gboolean client_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    VncClient *c = opaque;
    uint8_t buf[VNC_READ_CHUNK];
    ssize_t n;

    n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        c->in_watch = 0;
        client_drop(c, n < 0 ? g_strerror(errno) : "client closed");
        return G_SOURCE_REMOVE;
    }
    if (!vnc_client_feed(c, buf, n)) {
        c->in_watch = 0;
        /* a refused login: the client should still see the result */
        if (c->state == VNC_STATE_CLOSING) {
            send(fd, c->out->data + c->out_sent, pending(c),
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        client_drop(c, c->drop_reason ? c->drop_reason : "protocol error");
        return G_SOURCE_REMOVE;
    }
    client_try_update(c);
    client_flush(c);
    return G_SOURCE_CONTINUE;
}

static void client_drop(VncClient *c, const char *reason)
{
    char *why = g_strdup(reason);

    for (VncClient **p = &vnc->vs.clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (c->in_watch) {
        g_source_remove(c->in_watch);
    }
    if (c->out_watch) {
        g_source_remove(c->out_watch);
    }
    close(c->fd);
    g_debug("vnc: client %s:%s dropped: %s", c->host, c->service, why);
    client_event("VNC_DISCONNECTED", c);
    vnc_client_finish(c);
    g_free(c->host);
    g_free(c->service);
    g_free(c);
    g_free(why);
}

static void client_add(int fd)
{
    VncClient *c = g_new0(VncClient, 1);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1;

    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->vs = &vnc->vs;
    c->fd = fd;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        describe_address((struct sockaddr *)&ss, len, &c->host, &c->service,
                         &c->family);
    } else {
        c->host = g_strdup("");
        c->service = g_strdup("");
        c->family = "unknown";
    }
    c->next = vnc->vs.clients;
    vnc->vs.clients = c;
    qmp_event_send("VNC_CONNECTED",
                   json_pack("{s:o, s:o}", "server", server_info(), "client",
                             client_info(c)));
    vnc_client_start(c);
    c->in_watch =
        g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable, c);
    client_flush(c);
    /* a new client wants its first screen quickly */
    vnc->interval = GUI_REFRESH_INTERVAL_DEFAULT;
    update_displaychangelistener(&vnc->dcl, vnc->interval);
}

static gboolean listener_ready(gint fd, GIOCondition cond, gpointer opaque);

static gboolean listener_resume(gpointer opaque)
{
    VncListener *l =
        &g_array_index(vnc->listeners, VncListener, GPOINTER_TO_UINT(opaque));

    l->watch = g_unix_fd_add(l->fd, G_IO_IN, listener_ready, opaque);
    return G_SOURCE_REMOVE;
}

static unsigned client_count(void)
{
    unsigned n = 0;

    for (VncClient *c = vnc->vs.clients; c; c = c->next) {
        n++;
    }
    return n;
}

static gboolean listener_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (conn < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
            return G_SOURCE_CONTINUE;
        }
        /* out of file descriptors: the socket stays readable, so pause
         * rather than spin the main loop */
        g_array_index(vnc->listeners, VncListener, GPOINTER_TO_UINT(opaque))
            .watch =
            g_timeout_add(VNC_ACCEPT_PAUSE_MS, listener_resume, opaque);
        return G_SOURCE_REMOVE;
    }
    if (client_count() >= VNC_MAX_CLIENTS) {
        close(conn);
        return G_SOURCE_CONTINUE;
    }
    client_add(conn);
    return G_SOURCE_CONTINUE;
}

static void listeners_close(void)
{
    for (guint i = 0; vnc->listeners && i < vnc->listeners->len; i++) {
        VncListener *l = &g_array_index(vnc->listeners, VncListener, i);
        if (l->watch) {
            g_source_remove(l->watch);
        }
        close(l->fd);
    }
    if (vnc->listeners) {
        g_array_set_size(vnc->listeners, 0);
    }
}

static void listener_add(int fd, const struct sockaddr *sa, socklen_t len)
{
    VncListener l = {.fd = fd};

    if (!vnc->host) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            describe_address((struct sockaddr *)&ss, sl, &vnc->host,
                             &vnc->service, &vnc->family);
        } else {
            describe_address(sa, len, &vnc->host, &vnc->service, &vnc->family);
        }
    }
    l.watch = g_unix_fd_add(fd, G_IO_IN, listener_ready,
                            GUINT_TO_POINTER(vnc->listeners->len));
    g_array_append_val(vnc->listeners, l);
}

static bool listen_unix(const char *path, GError **errp)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path) || !*path) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc unix:%s: the socket path is "
                    "%s",
                    path, *path ? "too long" : "empty");
        return false;
    }
    strcpy(sun.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 8) < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc unix:%s: could not listen: "
                    "%s",
                    path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    vnc->unix_path = g_strdup(path);
    listener_add(fd, (struct sockaddr *)&sun, sizeof(sun));
    return true;
}

/* Listens on every address of host at port; false (errno set) if one is
 * taken or fails. */
static bool listen_port(struct addrinfo *res, int port)
{
    int last_err = EAFNOSUPPORT;

    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        int one = 1;

        if (fd < 0) {
            continue; /* e.g. no IPv6 on this host */
        }
        if (ai->ai_family == AF_INET) {
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(port);
        } else if (ai->ai_family == AF_INET6) {
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(port);
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0) {
            int err = errno;
            close(fd);
            /* a host with IPv6 turned off still serves IPv4 */
            if (err == EADDRNOTAVAIL &&
                (ai->ai_next || vnc->listeners->len > 0)) {
                last_err = err;
                continue;
            }
            listeners_close();
            g_free(vnc->host);
            g_free(vnc->service);
            vnc->host = vnc->service = NULL;
            errno = err;
            return false;
        }
        listener_add(fd, ai->ai_addr, ai->ai_addrlen);
    }
    if (vnc->listeners->len == 0) {
        errno = last_err;
        return false;
    }
    return true;
}

static bool parse_display_number(const char *s, const char *spec, uint64_t *out,
                                 GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (!parse_uint(s, out, &err) || *out > 65535 - VNC_PORT_BASE) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc %s: '%s' is not a display "
                    "number (the port is 5900 + N)",
                    spec, s);
        return false;
    }
    return true;
}

static bool listen_tcp(const char *spec, const char *addr, uint64_t to,
                       bool has_to, GError **errp)
{
    const char *colon = strrchr(addr, ':');
    g_autofree char *host = NULL;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE,
    };
    struct addrinfo *res;
    uint64_t first;
    int err;

    if (!colon) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc %s: expected [HOST]:N, "
                    "unix:PATH or none",
                    spec);
        return false;
    }
    if (!parse_display_number(colon + 1, spec, &first, errp)) {
        return false;
    }
    if (!has_to) {
        to = first;
    } else if (to < first || to > 65535 - VNC_PORT_BASE) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc %s: to=%" G_GUINT64_FORMAT
                    " must be a display number from %" G_GUINT64_FORMAT,
                    spec, to, first);
        return false;
    }
    host = g_strndup(addr, colon - addr);
    if (host[0] == '[' && g_str_has_suffix(host, "]")) {
        char *inner = g_strndup(host + 1, strlen(host) - 2);
        g_free(host);
        host = inner;
    }
    err = getaddrinfo(*host ? host : NULL, "0", &hints, &res);
    if (err) {
        g_set_error(errp, VIREO_ERROR, 0, "-vnc %s: address '%s': %s", spec,
                    host, gai_strerror(err));
        return false;
    }
    for (uint64_t n = first; n <= to; n++) {
        if (listen_port(res, VNC_PORT_BASE + n)) {
            freeaddrinfo(res);
            return true;
        }
        if (errno != EADDRINUSE) {
            break;
        }
    }
    err = errno;
    freeaddrinfo(res);
    if (err == EADDRINUSE && has_to) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc %s: no free port from %" G_GUINT64_FORMAT
                    " to %" G_GUINT64_FORMAT,
                    spec, VNC_PORT_BASE + first, VNC_PORT_BASE + to);
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc %s: could not listen on "
                    "port %" G_GUINT64_FORMAT ": %s",
                    spec, VNC_PORT_BASE + first, g_strerror(err));
    }
    return false;
}

/* ---- display listener ---- */

static void vnc_dpy_switch(DisplayChangeListener *dcl, DisplaySurface *s)
{
    vnc->vs.surface = s;
    for (VncClient *c = vnc->vs.clients; c; c = c->next) {
        if (vnc_client_running(c)) {
            vnc_client_surface_changed(c);
        }
    }
    vnc->screen_changed = true;
}

static void vnc_dpy_update(DisplayChangeListener *dcl, int x, int y, int w,
                           int h)
{
    for (VncClient *c = vnc->vs.clients; c; c = c->next) {
        vnc_client_mark_dirty(c, x, y, w, h);
    }
    vnc->screen_changed = true;
}

/*
 * Sends what changed to the clients that asked; the refresh slows down
 * step by step while nothing changes, so an idle screen costs little.
 */
static void vnc_dpy_refresh(DisplayChangeListener *dcl)
{
    uint64_t interval = vnc->interval;

    for (VncClient *c = vnc->vs.clients, *next; c; c = next) {
        next = c->next;
        client_try_update(c);
        client_flush(c);
    }
    if (vnc->screen_changed) {
        interval = GUI_REFRESH_INTERVAL_DEFAULT;
    } else if (!vnc->vs.clients) {
        interval = GUI_REFRESH_INTERVAL_IDLE;
    } else {
        interval = MIN(interval + MAX(interval / 2, VNC_REFRESH_STEP),
                       GUI_REFRESH_INTERVAL_IDLE);
    }
    vnc->screen_changed = false;
    if (interval != vnc->interval) {
        vnc->interval = interval;
        update_displaychangelistener(&vnc->dcl, interval);
    }
}

static const DisplayChangeListenerOps vnc_dcl_ops = {
    .dpy_name = "vnc",
    .dpy_gfx_switch = vnc_dpy_switch,
    .dpy_gfx_update = vnc_dpy_update,
    .dpy_refresh = vnc_dpy_refresh,
};

/* Input from a user: the screen will likely change, look soon. */
static void on_client_input(VncClient *c)
{
    if (vnc && vnc->interval != GUI_REFRESH_INTERVAL_DEFAULT) {
        vnc->interval = GUI_REFRESH_INTERVAL_DEFAULT;
        update_displaychangelistener(&vnc->dcl, vnc->interval);
    }
}

static void on_client_initialized(VncClient *c)
{
    if (vnc) {
        client_event("VNC_INITIALIZED", c);
    }
}

/* ---- start and stop ---- */

static bool parse_options(const char *spec, Opts *o, bool *password,
                          bool *has_to, uint64_t *to, GError **errp)
{
    const char *v;
    g_autofree char *what = g_strdup_printf("-vnc %s", spec);

    if (opts_get(o, "reverse")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: reverse connections are not "
                    "supported",
                    what);
        return false;
    }
    if (opts_get(o, "websocket")) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: websocket is not supported",
                    what);
        return false;
    }
    for (const char *const *k =
             (const char *const[]){"tls-creds", "sasl", "password-secret",
                                   "tls-authz", "sasl-authz", "acl", "audiodev",
                                   NULL};
         *k; k++) {
        if (opts_get(o, *k)) {
            g_set_error(errp, VIREO_ERROR, 0, "%s: '%s' is not supported", what,
                        *k);
            return false;
        }
    }
    if (!opts_get_bool(o, "password", false, password, errp)) {
        return false;
    }
    *has_to = opts_get(o, "to") != NULL;
    if (*has_to && !opts_get_uint(o, "to", 0, to, errp)) {
        return false;
    }
    /* every client shares the screen; the policy changes nothing here */
    v = opts_get(o, "share");
    if (v && strcmp(v, "allow-exclusive") && strcmp(v, "force-shared") &&
        strcmp(v, "ignore")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: share=%s: expected "
                    "allow-exclusive, force-shared or ignore",
                    what, v);
        return false;
    }
    return opts_check_unused(o, what, errp);
}

static void fallback_surface(void)
{
    vnc->fallback.image =
        pixman_image_create_bits(PIXMAN_x8r8g8b8, 640, 480, NULL, 0);
    vnc->vs.surface = &vnc->fallback;
}

bool vnc_display_init(const char *spec, const DisplayOptions *o, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *opts;
    const char *addr;
    bool password = false, has_to = false, ok = false;
    uint64_t to = 0;
    Keymap *km;

    if (vnc) {
        g_set_error(errp, VIREO_ERROR, 0, "-vnc: only one VNC server");
        return false;
    }
    opts = opts_parse(spec, "addr", &err);
    if (!opts) {
        g_set_error(errp, VIREO_ERROR, 0, "-vnc %s: %s", spec, err->message);
        return false;
    }
    addr = opts_get(opts, "addr");
    if (!addr || !*addr) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vnc %s: no address ([HOST]:N, "
                    "unix:PATH or none)",
                    spec);
        opts_free(opts);
        return false;
    }
    if (!parse_options(spec, opts, &password, &has_to, &to, errp) ||
        !(km = keymap_new(o->keyboard_layout, errp))) {
        opts_free(opts);
        return false;
    }
    vnc = g_new0(VncDisplay, 1);
    vnc->vs.keymap = km;
    vnc->vs.name = g_strdup(o->vm_name ? o->vm_name : "Vireo");
    vnc->vs.auth_vnc = password;
    vnc->vs.expires = INT64_MAX;
    vnc->listeners = g_array_new(false, false, sizeof(VncListener));
    if (!strcmp(addr, "none")) {
        ok = true;
    } else if (g_str_has_prefix(addr, "unix:")) {
        ok = listen_unix(addr + 5, errp);
    } else {
        ok = listen_tcp(spec, addr, to, has_to, errp);
    }
    opts_free(opts);
    if (!ok) {
        vnc_display_cleanup();
        return false;
    }
    vnc->listening = vnc->listeners->len > 0;
    vnc_client_initialized_hook = on_client_initialized;
    vnc_client_input_hook = on_client_input;
    vnc->dcl.ops = &vnc_dcl_ops;
    vnc->interval = GUI_REFRESH_INTERVAL_IDLE;
    vnc->dcl.update_interval_ms = vnc->interval;
    register_displaychangelistener(&vnc->dcl);
    if (!vnc->dcl.con) {
        fallback_surface();
    }
    return true;
}

void vnc_display_cleanup(void)
{
    if (!vnc) {
        return;
    }
    while (vnc->vs.clients) {
        client_drop(vnc->vs.clients, "the server stops");
    }
    if (vnc->dcl.con) {
        unregister_displaychangelistener(&vnc->dcl);
    }
    listeners_close();
    g_array_free(vnc->listeners, TRUE);
    if (vnc->unix_path) {
        unlink(vnc->unix_path);
    }
    if (vnc->fallback.image) {
        pixman_image_unref(vnc->fallback.image);
    }
    keymap_free((Keymap *)vnc->vs.keymap);
    g_free(vnc->vs.name);
    g_free(vnc->unix_path);
    g_free(vnc->host);
    g_free(vnc->service);
    g_free(vnc);
    vnc = NULL;
    vnc_client_initialized_hook = NULL;
    vnc_client_input_hook = NULL;
}

/* ---- monitor ---- */

static json_t *qmp_query_vnc(json_t *args, GError **errp)
{
    json_t *r, *clients;

    if (!vnc || !vnc->listening) {
        return json_pack("{s:b}", "enabled", 0);
    }
    clients = json_array();
    for (VncClient *c = vnc->vs.clients; c; c = c->next) {
        json_array_append_new(clients, client_info(c));
    }
    r = json_pack("{s:b, s:s, s:s, s:s, s:s, s:o}", "enabled", 1, "host",
                  vnc->host, "family", vnc->family, "service", vnc->service,
                  "auth", vnc->vs.auth_vnc ? "vnc" : "none", "clients",
                  clients);
    return r;
}
QMP_COMMAND("query-vnc", qmp_query_vnc)

static bool check_vnc_protocol(json_t *args, GError **errp)
{
    const char *proto = json_string_value(json_object_get(args, "protocol"));
    const char *display = json_string_value(json_object_get(args, "display"));

    if (strcmp(proto, "vnc")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "The feature 'spice' is not "
                    "enabled");
        return false;
    }
    if (display && strcmp(display, "default")) {
        g_set_error(errp, VIREO_ERROR, 0, "Display '%s' not found", display);
        return false;
    }
    return true;
}

static json_t *qmp_set_password(json_t *args, GError **errp)
{
    const char *pw = json_string_value(json_object_get(args, "password"));
    const char *connected =
        json_string_value(json_object_get(args, "connected"));

    if (!check_vnc_protocol(args, errp)) {
        return NULL;
    }
    if (connected && strcmp(connected, "keep")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "VNC protocol does not support "
                    "connected=%s",
                    connected);
        return NULL;
    }
    if (!vnc || !vnc->vs.auth_vnc) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not set password");
        return NULL;
    }
    /* VNC Authentication keys DES with the first 8 bytes */
    g_strlcpy(vnc->vs.password, pw, sizeof(vnc->vs.password));
    return json_object();
}
QMP_COMMAND("set_password", qmp_set_password)

static json_t *qmp_expire_password(json_t *args, GError **errp)
{
    const char *t = json_string_value(json_object_get(args, "time"));
    int64_t now = g_get_real_time(), when;
    uint64_t secs;
    g_autoptr(GError) err = NULL;

    if (!check_vnc_protocol(args, errp)) {
        return NULL;
    }
    if (!strcmp(t, "now")) {
        when = 0;
    } else if (!strcmp(t, "never")) {
        when = INT64_MAX;
    } else if (t[0] == '+' && parse_uint(t + 1, &secs, &err) &&
               secs < INT32_MAX) {
        when = now + (int64_t)secs * G_USEC_PER_SEC;
    } else if (t[0] != '+' && parse_uint(t, &secs, &err) &&
               secs < INT64_MAX / G_USEC_PER_SEC) {
        when = (int64_t)secs * G_USEC_PER_SEC;
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Invalid parameter 'time': '%s' "
                    "(now, never, +SECONDS or SECONDS since the epoch)",
                    t);
        return NULL;
    }
    if (!vnc) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not set password expire "
                    "time");
        return NULL;
    }
    vnc->vs.expires = when;
    return json_object();
}
QMP_COMMAND("expire_password", qmp_expire_password)
