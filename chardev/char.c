/*
 * Character device core: the registry of backends by id, -serial/-chardev
 * spec parsing (QEMU's spellings), and the byte plumbing every fd-based
 * backend shares: non-blocking writes with a bounded buffer, and reads that
 * never exceed what the frontend said it can take.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "char-priv.h"

static GHashTable *chardevs_by_id;     /* id -> Chardev* */
static GPtrArray *chardevs;            /* creation order, for cleanup */

static const ChardevBackend *const backends[] = {
    &chardev_null_backend,
    &chardev_stdio_backend,
    &chardev_file_backend,
    &chardev_pipe_backend,
    &chardev_pty_backend,
    &chardev_socket_backend,
};

/* ---- byte plumbing ---- */

bool chardev_set_nonblock(int fd, GError **errp)
{
    return g_unix_set_fd_nonblocking(fd, TRUE, errp);
}

void chardev_set_filename(Chardev *chr, const char *fmt, ...)
{
    va_list ap;

    g_free(chr->filename);
    va_start(ap, fmt);
    chr->filename = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

void chardev_send_event(Chardev *chr, ChardevEvent ev)
{
    bool open = ev == CHR_EVENT_OPENED;

    if (chr->connected == open) {
        return;
    }
    chr->connected = open;
    if (chr->has_handlers && chr->h.event) {
        chr->h.event(chr->opaque, ev);
    }
}

static void peer_gone(Chardev *chr, ChardevSide side)
{
    if (chr->be->hangup) {
        chr->be->hangup(chr, side);
    } else if (side == CHR_SIDE_INPUT) {
        chardev_detach_input(chr);
    } else {
        g_byte_array_set_size(chr->outbuf, 0);
    }
}

/*
 * Writes what the fd takes now without blocking. Returns the count written,
 * or -1 when the peer is gone. A shared blocking fd (stdout) is polled
 * first and written at most PIPE_BUF at a time, which a pipe that polled
 * writable always accepts whole.
 */
static ssize_t write_nonblocking(Chardev *chr, const uint8_t *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        size_t chunk = len - done;
        ssize_t n;

        if (chr->out_is_blocking) {
            struct pollfd pfd = { .fd = chr->out_fd, .events = POLLOUT };
            if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLOUT)) {
                if (pfd.revents & (POLLERR | POLLHUP)) {
                    return -1;
                }
                break;
            }
            chunk = MIN(chunk, PIPE_BUF);
        }
        n = write(chr->out_fd, buf + done, chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return -1;
        }
        done += n;
    }
    return done;
}

/* The output buffer is empty again: a frontend holding output may go on. */
static void output_drained(Chardev *chr)
{
    if (chr->has_handlers && chr->h.writable) {
        chr->h.writable(chr->opaque);
    }
}

static gboolean out_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    ssize_t n = write_nonblocking(chr, chr->outbuf->data, chr->outbuf->len);

    if (n < 0) {
        chr->out_watch = 0;
        g_byte_array_set_size(chr->outbuf, 0);
        peer_gone(chr, CHR_SIDE_OUTPUT);
        output_drained(chr);
        return G_SOURCE_REMOVE;
    }
    g_byte_array_remove_range(chr->outbuf, 0, n);
    if (chr->outbuf->len == 0) {
        chr->out_watch = 0;
        output_drained(chr);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

size_t chardev_write_room(Chardev *chr)
{
    if (!chr || chr->out_fd < 0) {
        return SIZE_MAX;
    }
    return chr->out_max > chr->outbuf->len ? chr->out_max - chr->outbuf->len
                                           : 0;
}

bool chardev_is_connected(Chardev *chr)
{
    if (!chr) {
        return false;
    }
    /* only these report peers coming and going (chardev_send_event) */
    if (chr->be == &chardev_socket_backend || chr->be == &chardev_pty_backend) {
        return chr->connected;
    }
    return true;
}

void chardev_write(Chardev *chr, const uint8_t *buf, size_t len)
{
    size_t room;

    if (!chr || chr->out_fd < 0 || len == 0) {
        return;
    }
    if (chr->outbuf->len == 0) {
        ssize_t n = write_nonblocking(chr, buf, len);
        if (n < 0) {
            peer_gone(chr, CHR_SIDE_OUTPUT);
            return;
        }
        buf += n;
        len -= n;
    }
    if (len == 0) {
        return;
    }
    /* a stalled peer loses what does not fit: a UART has no flow control */
    room = chr->out_max > chr->outbuf->len ? chr->out_max - chr->outbuf->len
                                           : 0;
    if (room == 0) {
        return;
    }
    g_byte_array_append(chr->outbuf, buf, MIN(len, room));
    if (!chr->out_watch) {
        chr->out_watch = g_unix_fd_add(chr->out_fd, G_IO_OUT, out_ready, chr);
    }
}

static void in_watch_start(Chardev *chr);

static gboolean in_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    uint8_t buf[4096];
    size_t want = sizeof(buf);
    ssize_t n;

    if (chr->has_handlers && chr->h.can_receive) {
        int avail = chr->h.can_receive(chr->opaque);
        if (avail <= 0) {
            /* resumed by chardev_accept_input() */
            chr->in_watch = 0;
            chr->in_paused = true;
            return G_SOURCE_REMOVE;
        }
        want = MIN(want, (size_t)avail);
    }
    n = read(fd, buf, want);
    if (n < 0 && (errno == EINTR || errno == EAGAIN ||
                  errno == EWOULDBLOCK)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        chr->in_watch = 0;
        peer_gone(chr, CHR_SIDE_INPUT);
        /* the backend may have started a new watch (reconnect) */
        return G_SOURCE_REMOVE;
    }
    if (chr->be->filter_input) {
        n = chr->be->filter_input(chr, buf, n);
    }
    /* No frontend: bytes fall on the floor, like a UART with no cable. */
    if (n > 0 && chr->has_handlers && chr->h.receive) {
        chr->h.receive(chr->opaque, buf, n);
    }
    return G_SOURCE_CONTINUE;
}

static void in_watch_start(Chardev *chr)
{
    if (chr->in_fd >= 0 && !chr->in_watch) {
        chr->in_paused = false;
        chr->in_watch = g_unix_fd_add(chr->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      in_ready, chr);
    }
}

void chardev_drop_peer(Chardev *chr)
{
    if (chr && chr->out_fd >= 0) {
        peer_gone(chr, CHR_SIDE_OUTPUT);
    }
}

void chardev_accept_input(Chardev *chr)
{
    if (chr && chr->mux) {
        chardev_mux_accept_input(chr);
    }
    if (chr && chr->in_paused) {
        in_watch_start(chr);
    }
}

void chardev_attach_fds(Chardev *chr, int in_fd, int out_fd)
{
    chardev_detach_fds(chr);
    chr->in_fd = in_fd;
    chr->out_fd = out_fd;
    in_watch_start(chr);
}

void chardev_detach_input(Chardev *chr)
{
    if (chr->in_watch) {
        g_source_remove(chr->in_watch);
        chr->in_watch = 0;
    }
    chr->in_paused = false;
    chr->in_fd = -1;
}

void chardev_detach_output(Chardev *chr)
{
    if (chr->out_watch) {
        g_source_remove(chr->out_watch);
        chr->out_watch = 0;
    }
    g_byte_array_set_size(chr->outbuf, 0);
    chr->out_fd = -1;
}

void chardev_detach_fds(Chardev *chr)
{
    chardev_detach_input(chr);
    chardev_detach_output(chr);
}

/* ---- frontend interface ---- */

Chardev *chardev_find(const char *id)
{
    if (!id || !chardevs_by_id) {
        return NULL;
    }
    return g_hash_table_lookup(chardevs_by_id, id);
}

const char *chardev_id(Chardev *chr)
{
    return chr ? chr->id : NULL;
}

const char *chardev_filename(Chardev *chr)
{
    return chr ? chr->filename : NULL;
}

void chardev_set_handlers(Chardev *chr, const ChardevHandlers *h, void *opaque)
{
    if (!chr) {
        return;
    }
    if (chr->mux) {
        chardev_mux_set_handlers(chr, h, opaque);
        return;
    }
    if (h) {
        chr->h = *h;
        chr->has_handlers = true;
        chr->opaque = opaque;
    } else {
        memset(&chr->h, 0, sizeof(chr->h));
        chr->has_handlers = false;
        chr->opaque = NULL;
    }
    /* a new frontend may take input the old one refused */
    chardev_accept_input(chr);
    if (h && h->event && chr->connected) {
        h->event(opaque, CHR_EVENT_OPENED);
    }
}

bool chardev_is_mux(Chardev *chr)
{
    return chr && chr->mux;
}

bool chardev_wants_monitor(Chardev *chr)
{
    return chr && chr->wants_monitor;
}

bool chardev_frontend_open(Chardev *chr)
{
    if (!chr) {
        return false;
    }
    return chr->mux ? chardev_mux_has_frontends(chr) : chr->has_handlers;
}

void chardev_foreach(void (*fn)(Chardev *chr, void *opaque), void *opaque)
{
    for (guint i = 0; chardevs && i < chardevs->len; i++) {
        fn(g_ptr_array_index(chardevs, i), opaque);
    }
}

void chardev_set_output_limit(Chardev *chr, size_t max)
{
    if (chr) {
        chr->out_max = max;
    }
}

/* ---- creation ---- */

static const ChardevBackend *backend_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(backends); i++) {
        if (!strcmp(backends[i]->name, name)) {
            return backends[i];
        }
    }
    return NULL;
}

static void chardev_free(Chardev *chr)
{
    chardev_detach_fds(chr);
    if (chr->mux) {
        chardev_mux_free(chr);
    }
    if (chr->be->close) {
        chr->be->close(chr);
    }
    g_byte_array_free(chr->outbuf, TRUE);
    g_free(chr->filename);
    g_free(chr->id);
    g_free(chr);
}

static void registry_init(void)
{
    struct sigaction sa;

    if (chardevs) {
        return;
    }
    chardevs_by_id = g_hash_table_new(g_str_hash, g_str_equal);
    chardevs = g_ptr_array_new();
    /*
     * A peer closing a pipe or socket must be an EPIPE for the backend to
     * handle, not a signal that kills the VM.
     */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
}

/* Opens backend `be` from options and registers it as `id`. */
static Chardev *chardev_open(const ChardevBackend *be, const char *id,
                             Opts *o, GError **errp)
{
    Chardev *chr;
    bool mux;

    registry_init();
    if (g_hash_table_contains(chardevs_by_id, id)) {
        g_set_error(errp, VIREO_ERROR, 0, "duplicate chardev id '%s'", id);
        return NULL;
    }
    /* unknown keys are refused before anything is opened or waited for */
    opts_get(o, "id");
    opts_get(o, "backend");
    if (!opts_get_bool(o, "mux", false, &mux, errp)) {
        return NULL;
    }
    for (const char *const *k = be->keys; k && *k; k++) {
        opts_get(o, *k);
    }
    if (!opts_check_unused(o, be->name, errp)) {
        return NULL;
    }
    chr = g_new0(Chardev, 1);
    chr->id = g_strdup(id);
    chr->be = be;
    chr->in_fd = -1;
    chr->out_fd = -1;
    chr->outbuf = g_byte_array_new();
    chr->out_max = CHARDEV_OUTBUF_MAX;
    chr->filename = g_strdup(be->name);
    if (mux) {
        /* before open: a backend connected at once sends OPENED to the mux */
        chardev_mux_init(chr);
    }
    if (!be->open(chr, o, errp)) {
        chardev_free(chr);      /* close() copes with a half-open backend */
        return NULL;
    }
    g_hash_table_insert(chardevs_by_id, chr->id, chr);
    g_ptr_array_add(chardevs, chr);
    return chr;
}

static void opts_add(Opts *o, const char *key, const char *value)
{
    OptPair pair = { g_strdup(key), g_strdup(value), false };
    g_array_append_val(o->pairs, pair);
}

Chardev *chardev_new_from_opts(const char *optstr, GError **errp)
{
    Opts *o = opts_parse(optstr, "backend", errp);
    const ChardevBackend *be;
    const char *name, *id;
    Chardev *chr = NULL;

    if (!o) {
        g_prefix_error(errp, "-chardev %s: ", optstr);
        return NULL;
    }
    name = opts_get(o, "backend");
    id = opts_get(o, "id");
    if (!name) {
        g_set_error(errp, VIREO_ERROR, 0, "-chardev %s: no backend given",
                    optstr);
    } else if (!(be = backend_find(name))) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-chardev %s: unknown character backend '%s'", optstr,
                    name);
    } else if (!id || !*id) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-chardev %s: parameter 'id' is missing", optstr);
    } else {
        chr = chardev_open(be, id, o, errp);
        if (!chr) {
            g_prefix_error(errp, "-chardev %s: ", optstr);
        }
    }
    opts_free(o);
    return chr;
}

/*
 * Turns a -serial style spec into a backend and options: "file:PATH" and
 * "pipe:PATH" take the rest verbatim as the path, "unix:" and "tcp:" take
 * a path or HOST:PORT followed by ",key=value" options.
 */
static const ChardevBackend *spec_to_opts(const char *spec, Opts **out,
                                          GError **errp)
{
    const char *rest;
    Opts *o;

    if (!strcmp(spec, "null")) {
        *out = opts_parse("", NULL, errp);
        return &chardev_null_backend;
    }
    if (!strcmp(spec, "stdio")) {
        *out = opts_parse("", NULL, errp);
        return &chardev_stdio_backend;
    }
    if (!strcmp(spec, "pty")) {
        *out = opts_parse("", NULL, errp);
        return &chardev_pty_backend;
    }
    if (g_str_has_prefix(spec, "file:") || g_str_has_prefix(spec, "pipe:")) {
        rest = strchr(spec, ':') + 1;
        o = opts_parse("", NULL, errp);
        opts_add(o, "path", rest);
        *out = o;
        return spec[0] == 'f' ? &chardev_file_backend : &chardev_pipe_backend;
    }
    if (g_str_has_prefix(spec, "unix:")) {
        *out = opts_parse(spec + 5, "path", errp);
        return *out ? &chardev_socket_backend : NULL;
    }
    if (g_str_has_prefix(spec, "tcp:")) {
        o = opts_parse(spec + 4, "hostport", errp);
        if (o) {
            const char *hp = opts_get(o, "hostport");
            const char *colon = hp ? strrchr(hp, ':') : NULL;
            if (!colon) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "expected tcp:HOST:PORT, got '%s'", spec);
                opts_free(o);
                return NULL;
            }
            char *host = g_strndup(hp, colon - hp);
            /* [v6addr] */
            if (host[0] == '[' && host[strlen(host) - 1] == ']') {
                char *h = g_strndup(host + 1, strlen(host) - 2);
                g_free(host);
                host = h;
            }
            opts_add(o, "host", host);
            opts_add(o, "port", colon + 1);
            g_free(host);
        }
        *out = o;
        return o ? &chardev_socket_backend : NULL;
    }
    {
        const char *colon = strchr(spec, ':');
        char *name = colon ? g_strndup(spec, colon - spec) : g_strdup(spec);
        g_set_error(errp, VIREO_ERROR, 0,
                    "unknown character backend '%s'", name);
        g_free(name);
    }
    return NULL;
}

/* Error messages name the option the user typed; labels follow main.c. */
static const char *option_for_label(const char *label)
{
    static const char *const options[] = {
        "-serial", "-debugcon", "-monitor", "-parallel", "-qmp",
    };

    for (size_t i = 0; label && i < G_N_ELEMENTS(options); i++) {
        if (g_str_has_prefix(label, options[i] + 1)) {
            return options[i];
        }
    }
    return "character device";
}

Chardev *chardev_new_from_spec(const char *label, const char *spec,
                               GError **errp)
{
    static unsigned anon;
    const ChardevBackend *be;
    const char *full_spec = spec;
    bool mon = false;
    Opts *o = NULL;
    Chardev *chr;
    char *id;

    /* "none": no backend and, for -serial, no device (QEMU) */
    if (!spec || !strcmp(spec, "none")) {
        return NULL;
    }
    /* "mon:SPEC": SPEC muxed between the device and a human monitor */
    if (g_str_has_prefix(spec, "mon:")) {
        spec += 4;
        mon = true;
    }
    if (mon && (!strcmp(spec, "none") || g_str_has_prefix(spec, "chardev:"))) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "'mon:' needs a backend, e.g. mon:stdio");
        chr = NULL;
    } else if (g_str_has_prefix(spec, "chardev:")) {
        chr = chardev_find(spec + 8);
        if (!chr) {
            g_set_error(errp, VIREO_ERROR, 0, "chardev '%s' not found",
                        spec + 8);
        }
    } else if ((be = spec_to_opts(spec, &o, errp))) {
        if (mon) {
            opts_add(o, "mux", "on");
            if (be == &chardev_stdio_backend) {
                /* QEMU: Ctrl-C goes to the guest, C-a x quits */
                opts_add(o, "signal", "off");
            }
        }
        id = label ? g_strdup(label) : g_strdup_printf("compat%u", anon++);
        chr = chardev_open(be, id, o, errp);
        g_free(id);
        if (chr && mon) {
            chr->wants_monitor = true;
        }
    } else {
        chr = NULL;
    }
    opts_free(o);
    if (!chr) {
        g_prefix_error(errp, "%s %s: ", option_for_label(label), full_spec);
    }
    return chr;
}

/* Writes what can go now; false once nothing is left to wait for. */
static bool flush_once(Chardev *chr)
{
    ssize_t n;

    if (chr->out_fd < 0 || chr->outbuf->len == 0) {
        return false;
    }
    n = write_nonblocking(chr, chr->outbuf->data, chr->outbuf->len);
    if (n < 0) {
        g_byte_array_set_size(chr->outbuf, 0);
        return false;
    }
    g_byte_array_remove_range(chr->outbuf, 0, n);
    return chr->outbuf->len > 0;
}

/*
 * At exit, pending output (the reply to "quit") gets up to a second in all
 * to reach peers that read slowly; a peer that doesn't read loses it.
 */
static void flush_all_output(void)
{
    gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;
    g_autofree struct pollfd *pfds = g_new0(struct pollfd, chardevs->len);

    for (;;) {
        nfds_t n = 0;
        gint64 left;

        for (guint i = 0; i < chardevs->len; i++) {
            Chardev *chr = g_ptr_array_index(chardevs, i);
            if (flush_once(chr)) {
                pfds[n].fd = chr->out_fd;
                pfds[n].events = POLLOUT;
                n++;
            }
        }
        left = deadline - g_get_monotonic_time();
        if (n == 0 || left <= 0) {
            return;
        }
        if (poll(pfds, n, MIN(left / 1000 + 1, 50)) < 0 && errno != EINTR) {
            return;
        }
    }
}

void chardev_cleanup_all(void)
{
    /* the terminal first: it matters most if anything below goes wrong */
    chardev_stdio_restore_terminal();
    if (!chardevs) {
        return;
    }
    flush_all_output();
    for (guint i = chardevs->len; i-- > 0;) {
        Chardev *chr = g_ptr_array_index(chardevs, i);
        g_hash_table_remove(chardevs_by_id, chr->id);
        chardev_free(chr);
    }
    g_ptr_array_set_size(chardevs, 0);
}

/* ---- null ---- */

static bool null_open(Chardev *chr, Opts *o, GError **errp)
{
    return true;
}

const ChardevBackend chardev_null_backend = {
    .name = "null",
    .open = null_open,
};
