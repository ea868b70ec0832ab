/*
 * -netdev user: user-mode networking with libslirp. The guest sees a NAT
 * router at 10.0.2.2 with DHCP (first lease 10.0.2.15) and DNS at 10.0.2.3,
 * as in QEMU; hostfwd= opens host ports into the guest. libslirp's sockets
 * are polled by a GSource on the main loop, its timers are Vireo timers on
 * the virtual clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <slirp/libslirp.h>

#include "net/net.h"
#include "system/timer.h"
#include "util/log.h"
#include "util/opts.h"

typedef struct SlirpSource {
    GSource source;
    struct SlirpState *s;
} SlirpSource;

typedef struct SlirpState {
    NetClient *nc;
    Slirp *slirp;
    GSource *source;
    GArray *pollfds;            /* GPollFD, added to the source */
    GArray *fill;               /* GPollFD, what libslirp asks for now */
    int64_t deadline;           /* libslirp's next timeout (its clock), or -1 */
    char **dnssearch;
} SlirpState;

typedef struct SlirpTimer {
    Timer *timer;
    SlirpState *s;
    SlirpTimerId id;
    void *cb_opaque;
} SlirpTimer;

/* ---- libslirp's callbacks ---- */

static ssize_t slirp_send_packet(const void *buf, size_t len,
                                       void *opaque)
{
    SlirpState *s = opaque;

    net_send(s->nc, buf, len);
    return len;
}

static void slirp_guest_error(const char *msg, void *opaque)
{
    log_guest_error("slirp: %s", msg);
}

static int64_t slirp_clock_get_ns(void *opaque)
{
    return clock_get_ns(CLK_VIRTUAL);
}

static void slirp_timer_fire(void *opaque)
{
    SlirpTimer *t = opaque;
    slirp_handle_timer(t->s->slirp, t->id, t->cb_opaque);
}

static void *slirp_timer_new_opaque(SlirpTimerId id, void *cb_opaque,
                                    void *opaque)
{
    SlirpTimer *t = g_new0(SlirpTimer, 1);

    t->s = opaque;
    t->id = id;
    t->cb_opaque = cb_opaque;
    t->timer = timer_new(CLK_VIRTUAL, slirp_timer_fire, t);
    return t;
}

static void slirp_timer_free(void *timer, void *opaque)
{
    SlirpTimer *t = timer;
    timer_free(t->timer);
    g_free(t);
}

static void slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    SlirpTimer *t = timer;
    timer_mod(t->timer, expire_ms * 1000000);
}

static void slirp_register_poll_fd(int fd, void *opaque)
{
}

static void slirp_unregister_poll_fd(int fd, void *opaque)
{
}

static void slirp_notify(void *opaque)
{
    g_main_context_wakeup(NULL);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_send_packet,
    .guest_error = slirp_guest_error,
    .clock_get_ns = slirp_clock_get_ns,
    .timer_free = slirp_timer_free,
    .timer_mod = slirp_timer_mod,
    .register_poll_fd = slirp_register_poll_fd,
    .unregister_poll_fd = slirp_unregister_poll_fd,
    .notify = slirp_notify,
    .timer_new_opaque = slirp_timer_new_opaque,
};

/* ---- polling libslirp's sockets from the main loop ---- */

static int add_poll(int fd, int events, void *opaque)
{
    SlirpState *s = opaque;
    GPollFD pfd = {
        .fd = fd,
        .events = (events & SLIRP_POLL_IN ? G_IO_IN : 0) |
                  (events & SLIRP_POLL_OUT ? G_IO_OUT : 0) |
                  (events & SLIRP_POLL_PRI ? G_IO_PRI : 0) |
                  (events & SLIRP_POLL_ERR ? G_IO_ERR : 0) |
                  (events & SLIRP_POLL_HUP ? G_IO_HUP : 0),
    };

    g_array_append_val(s->fill, pfd);
    return s->fill->len - 1;
}

static int get_revents(int idx, void *opaque)
{
    SlirpState *s = opaque;
    int r = g_array_index(s->pollfds, GPollFD, idx).revents;

    return (r & G_IO_IN ? SLIRP_POLL_IN : 0) |
           (r & G_IO_OUT ? SLIRP_POLL_OUT : 0) |
           (r & G_IO_PRI ? SLIRP_POLL_PRI : 0) |
           (r & G_IO_ERR ? SLIRP_POLL_ERR : 0) |
           (r & G_IO_HUP ? SLIRP_POLL_HUP : 0);
}

/* Whether the sockets libslirp asks for now are the ones being polled. */
static bool same_fds(GArray *a, GArray *b)
{
    if (a->len != b->len) {
        return false;
    }
    for (guint i = 0; i < a->len; i++) {
        if (g_array_index(a, GPollFD, i).fd != g_array_index(b, GPollFD, i).fd) {
            return false;
        }
    }
    return true;
}

/*
 * Polls what libslirp asks for. Adding or removing a source's poll wakes
 * the main loop at once (GLib signals its wakeup fd), so doing it on every
 * iteration kept the loop spinning as long as the guest had a connection:
 * while the sockets stay the same, only their events change, in place.
 */
static gboolean source_prepare(GSource *source, gint *timeout)
{
    SlirpState *s = ((SlirpSource *)source)->s;
    uint32_t ms = UINT32_MAX;

    g_array_set_size(s->fill, 0);
    slirp_pollfds_fill(s->slirp, &ms, add_poll, s);
    if (same_fds(s->pollfds, s->fill)) {
        for (guint i = 0; i < s->fill->len; i++) {
            g_array_index(s->pollfds, GPollFD, i).events =
                g_array_index(s->fill, GPollFD, i).events;
        }
    } else {
        for (guint i = 0; i < s->pollfds->len; i++) {
            g_source_remove_poll(source,
                                 &g_array_index(s->pollfds, GPollFD, i));
        }
        GArray *t = s->pollfds;
        s->pollfds = s->fill;
        s->fill = t;
        /* complete: its elements stay where they are until the next change */
        for (guint i = 0; i < s->pollfds->len; i++) {
            g_source_add_poll(source, &g_array_index(s->pollfds, GPollFD, i));
        }
    }
    *timeout = ms == UINT32_MAX ? -1 : (gint)MIN(ms, G_MAXINT);
    s->deadline = ms == UINT32_MAX ? -1 : slirp_clock_get_ns(s) +
                                          (int64_t)ms * 1000000;
    return FALSE;
}

/*
 * Ready when a socket is, or when the timeout libslirp asked for has
 * passed: its timers (the TCP fast timer's delayed ACKs, every 2 ms, and
 * the slow timer) run only in slirp_pollfds_poll. Without them a guest's
 * TCP exchange waited for the next socket event for its ACKs.
 */
static gboolean source_check(GSource *source)
{
    SlirpState *s = ((SlirpSource *)source)->s;

    for (guint i = 0; i < s->pollfds->len; i++) {
        if (g_array_index(s->pollfds, GPollFD, i).revents) {
            return TRUE;
        }
    }
    return s->deadline >= 0 && slirp_clock_get_ns(s) >= s->deadline;
}

static gboolean source_dispatch(GSource *source, GSourceFunc cb,
                                gpointer data)
{
    SlirpState *s = ((SlirpSource *)source)->s;

    slirp_pollfds_poll(s->slirp, 0, get_revents, s);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs slirp_source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

/* ---- the NetClient side ---- */

static bool slirp_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    SlirpState *s = nc->opaque;

    slirp_input(s->slirp, buf, len);
    return true;
}

static void slirp_client_cleanup(NetClient *nc)
{
    SlirpState *s = nc->opaque;

    if (s->source) {
        g_source_destroy(s->source);
        g_source_unref(s->source);
    }
    if (s->slirp) {
        slirp_cleanup(s->slirp);
    }
    g_array_free(s->pollfds, TRUE);
    g_array_free(s->fill, TRUE);
    g_strfreev(s->dnssearch);
    g_free(s);
}

static const NetClientOps slirp_ops = {
    .type = "user",
    .receive = slirp_receive,
    .cleanup = slirp_client_cleanup,
};

/* ---- options ---- */

static bool parse_addr(const char *key, const char *v, struct in_addr *out,
                       GError **errp)
{
    if (!inet_pton(AF_INET, v, out)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s=%s: not an IPv4 address", key,
                    v);
        return false;
    }
    return true;
}

/* net=ADDR[/BITS|/MASK] */
static bool parse_net(const char *v, struct in_addr *net,
                      struct in_addr *mask, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(v, "/", 2);
    uint64_t bits = 24;

    if (!parse_addr("net", parts[0], net, errp)) {
        return false;
    }
    if (parts[1] && strchr(parts[1], '.')) {
        return parse_addr("net", parts[1], mask, errp);
    }
    if (parts[1] && (!parse_uint(parts[1], &bits, NULL) || bits < 1 ||
                     bits > 30)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "net=%s: the prefix length must be 1 to 30", v);
        return false;
    }
    mask->s_addr = htonl(0xffffffffu << (32 - bits));
    return true;
}

/* An address given for host=, dhcpstart= or dns=, or the default. */
static bool net_addr(Opts *o, const char *key, uint32_t dflt_host,
                     struct in_addr net, struct in_addr mask,
                     struct in_addr *out, GError **errp)
{
    const char *v = opts_get(o, key);

    if (!v) {
        out->s_addr = net.s_addr | htonl(dflt_host);
        return true;
    }
    if (!parse_addr(key, v, out, errp)) {
        return false;
    }
    if ((out->s_addr & mask.s_addr) != net.s_addr) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s=%s is not in the guest network", key, v);
        return false;
    }
    return true;
}

/* hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static bool add_hostfwd(SlirpState *s, const char *rule, GError **errp)
{
    g_auto(GStrv) sides = g_strsplit(rule, "-", 2);
    g_auto(GStrv) host = NULL, guest = NULL;
    struct in_addr haddr = { .s_addr = INADDR_ANY }, gaddr = { 0 };
    uint64_t hport, gport;
    bool udp = false;

    if (!sides[0] || !sides[1]) {
        goto bad;
    }
    host = g_strsplit(sides[0], ":", 3);
    guest = g_strsplit(sides[1], ":", 2);
    if (g_strv_length(host) != 3 || g_strv_length(guest) != 2) {
        goto bad;
    }
    if (!strcmp(host[0], "udp")) {
        udp = true;
    } else if (*host[0] && strcmp(host[0], "tcp")) {
        goto bad;
    }
    if ((*host[1] && !inet_pton(AF_INET, host[1], &haddr)) ||
        (*guest[0] && !inet_pton(AF_INET, guest[0], &gaddr)) ||
        !parse_uint(host[2], &hport, NULL) || hport > 65535 ||
        !parse_uint(guest[1], &gport, NULL) || gport == 0 ||
        gport > 65535) {
        goto bad;
    }
    if (slirp_add_hostfwd(s->slirp, udp, haddr, hport, gaddr, gport) < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "could not set up host forwarding rule '%s': %s", rule,
                    g_strerror(errno));
        return false;
    }
    return true;
bad:
    g_set_error(errp, VIREO_ERROR, 0,
                "invalid host forwarding rule '%s' (expected "
                "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport)",
                rule);
    return false;
}

NetClient *net_slirp_new(const char *id, Opts *o, GError **errp)
{
    SlirpConfig cfg = { .version = 4, .in_enabled = true };
    struct in_addr mask = { .s_addr = htonl(0xffffff00) };
    g_autoptr(GPtrArray) fwds = opts_get_all(o, "hostfwd");
    g_autoptr(GPtrArray) search = opts_get_all(o, "dnssearch");
    const char *v;
    bool restrict_on, ipv4, ipv6;
    NetClient *nc;
    SlirpState *s;

    inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
    if ((v = opts_get(o, "net")) &&
        !parse_net(v, &cfg.vnetwork, &mask, errp)) {
        return NULL;
    }
    cfg.vnetwork.s_addr &= mask.s_addr;
    cfg.vnetmask = mask;
    if (!net_addr(o, "host", 2, cfg.vnetwork, mask, &cfg.vhost, errp) ||
        !net_addr(o, "dhcpstart", 15, cfg.vnetwork, mask, &cfg.vdhcp_start,
                  errp) ||
        !net_addr(o, "dns", 3, cfg.vnetwork, mask, &cfg.vnameserver, errp) ||
        !opts_get_bool(o, "restrict", false, &restrict_on, errp) ||
        !opts_get_bool(o, "ipv4", true, &ipv4, errp) ||
        !opts_get_bool(o, "ipv6", true, &ipv6, errp)) {
        return NULL;
    }
    if (!ipv4 && !ipv6) {
        g_set_error(errp, VIREO_ERROR, 0, "ipv4=off and ipv6=off leave no "
                    "network");
        return NULL;
    }
    cfg.restricted = restrict_on;
    cfg.in_enabled = ipv4;
    cfg.in6_enabled = ipv6;
    inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
    cfg.vprefix_len = 64;
    inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
    inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
    cfg.vhostname = opts_get(o, "hostname");
    cfg.tftp_path = opts_get(o, "tftp");
    cfg.tftp_server_name = opts_get(o, "tftp-server-name");
    cfg.bootfile = opts_get(o, "bootfile");
    cfg.vdomainname = opts_get(o, "domainname");
    if (opts_get(o, "guestfwd") || opts_get(o, "smb")) {
        g_set_error(errp, VIREO_ERROR, 0, "%s= is not supported yet",
                    opts_get(o, "guestfwd") ? "guestfwd" : "smb");
        return NULL;
    }
    if (!opts_check_unused(o, "user", errp)) {
        return NULL;
    }

    s = g_new0(SlirpState, 1);
    s->pollfds = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    s->fill = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    s->deadline = -1;
    if (search->len) {
        s->dnssearch = g_new0(char *, search->len + 1);
        for (guint i = 0; i < search->len; i++) {
            s->dnssearch[i] = g_strdup(g_ptr_array_index(search, i));
        }
        cfg.vdnssearch = (const char **)s->dnssearch;
    }
    nc = net_client_new(&slirp_ops, id, s);
    s->nc = nc;
    s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
    if (!s->slirp) {
        g_set_error(errp, VIREO_ERROR, 0, "libslirp could not start");
        net_client_free(nc);
        return NULL;
    }
    for (guint i = 0; i < fwds->len; i++) {
        if (!add_hostfwd(s, g_ptr_array_index(fwds, i), errp)) {
            net_client_free(nc);
            return NULL;
        }
    }
    s->source = g_source_new(&slirp_source_funcs, sizeof(SlirpSource));
    ((SlirpSource *)s->source)->s = s;
    g_source_attach(s->source, NULL);

    char net[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &cfg.vnetwork, net, sizeof(net));
    nc->info = g_strdup_printf("user: net=%s/%d,restrict=%s", net,
                               32 - __builtin_ctz(ntohl(mask.s_addr)),
                               restrict_on ? "on" : "off");
    return nc;
}
