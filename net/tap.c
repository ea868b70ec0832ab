/*
 * -netdev tap: frames to and from a Linux tap device (/dev/net/tun), with
 * the virtio-net header in front of each frame (IFF_VNET_HDR) so a NIC that
 * speaks it can pass checksum and segmentation offloads through. As QEMU:
 * ifname= names (or creates) the device, fd= takes one opened by the
 * caller (libvirt), script=/downscript= run when it comes and goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "net/net.h"
#include "util/log.h"
#include "util/opts.h"

/* Frames read per wakeup before the main loop gets a turn. */
#define TAP_READ_BATCH 64

typedef struct TapState {
    NetClient *nc;
    int fd;
    char ifname[IFNAMSIZ];
    char *downscript;
    bool vnet_hdr;              /* the fd carries headers */
    int hdr_len;                /* their length: 10, or 12 as the NIC sets */
    bool using_vnet_hdr;        /* the NIC sends and takes them too */
    bool gone;                  /* the interface was deleted under us */
    guint read_watch;
    guint write_watch;
    uint8_t buf[NET_FRAME_MAX + 12];
} TapState;

static void read_watch_start(TapState *s);

/*
 * The interface was deleted (`ip link del`): the descriptor now fails
 * every read and write with EBADFD and polls as an error for ever, so it
 * is no longer watched (that would spin the main loop) and frames to it
 * are dropped, as on a pulled cable. Said once.
 */
static void tap_gone(TapState *s, int err)
{
    if (!s->gone) {
        s->gone = true;
        log_error("tap %s: %s: the device is gone; its frames are dropped",
                  s->ifname, g_strerror(err));
    }
}

static gboolean tap_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    TapState *s = opaque;

    for (int i = 0; i < TAP_READ_BATCH; i++) {
        ssize_t n = read(s->fd, s->buf, sizeof(s->buf));
        if (n < 0 && (errno == EINTR)) {
            continue;
        }
        if (n < 0 && errno == EBADFD) {
            tap_gone(s, errno);
            s->read_watch = 0;
            return G_SOURCE_REMOVE;
        }
        if (n <= 0) {
            break;      /* EAGAIN; a tap has no EOF while we hold it */
        }
        /* a NIC without the header gets the bare frame */
        size_t skip = s->vnet_hdr && !s->using_vnet_hdr ? s->hdr_len : 0;
        if ((size_t)n > skip) {
            net_send(s->nc, s->buf + skip, n - skip);
        }
        if (!g_queue_is_empty(s->nc->queue)) {
            /* the NIC is full: read on when it drained (tap_drained) */
            s->read_watch = 0;
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void read_watch_start(TapState *s)
{
    if (!s->read_watch && !s->gone) {
        s->read_watch = g_unix_fd_add(s->fd, G_IO_IN, tap_readable, s);
    }
}

static void tap_drained(NetClient *nc)
{
    read_watch_start(nc->opaque);
}

static gboolean tap_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    TapState *s = opaque;

    s->write_watch = 0;
    net_flush(s->nc);           /* delivers the NIC's queue to us */
    return G_SOURCE_REMOVE;
}

static bool tap_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    TapState *s = nc->opaque;
    static const uint8_t zero_hdr[12];
    struct iovec iov[2] = {
        { (void *)zero_hdr, s->vnet_hdr && !s->using_vnet_hdr ? s->hdr_len
                                                               : 0 },
        { (void *)buf, len },
    };
    ssize_t n;

    if (s->gone) {
        return true;
    }
    /* a NIC without the header: an empty one (no offloads) in front */
    do {
        n = writev(s->fd, iov, 2);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        /* the kernel's queue is full: keep the frame, retry when it isn't */
        if (!s->write_watch) {
            s->write_watch = g_unix_fd_add(s->fd, G_IO_OUT, tap_writable, s);
        }
        return false;
    }
    if (n < 0 && errno == EBADFD) {
        tap_gone(s, errno);
    }
    /* other errors (interface down): the frame is lost, as on a wire */
    return true;
}

static bool run_script(const char *script, const char *ifname,
                       GError **errp)
{
    const char *argv[] = { script, ifname, NULL };
    g_autoptr(GError) err = NULL;
    gint status;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN,
                      NULL, NULL, NULL, NULL, &status, &err)) {
        g_set_error(errp, VIREO_ERROR, 0, "could not run %s: %s", script,
                    err->message);
        return false;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s %s failed", script, ifname);
        return false;
    }
    return true;
}

static void tap_cleanup(NetClient *nc)
{
    TapState *s = nc->opaque;

    if (s->read_watch) {
        g_source_remove(s->read_watch);
    }
    if (s->write_watch) {
        g_source_remove(s->write_watch);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->downscript && !run_script(s->downscript, s->ifname, NULL)) {
        log_warn("downscript %s %s failed", s->downscript, s->ifname);
    }
    g_free(s->downscript);
    g_free(s);
}

static bool tap_has_vnet_hdr(NetClient *nc)
{
    return ((TapState *)nc->opaque)->vnet_hdr;
}

static bool tap_set_vnet_hdr_len(NetClient *nc, int len)
{
    TapState *s = nc->opaque;

    if (!s->vnet_hdr || (len != 10 && len != 12) ||
        ioctl(s->fd, TUNSETVNETHDRSZ, &len) < 0) {
        return false;
    }
    s->hdr_len = len;
    return true;
}

static void tap_using_vnet_hdr(NetClient *nc, bool on)
{
    ((TapState *)nc->opaque)->using_vnet_hdr = on;
}

static void tap_set_offload(NetClient *nc, unsigned flags)
{
    TapState *s = nc->opaque;

    if (s->vnet_hdr && ioctl(s->fd, TUNSETOFFLOAD, flags) < 0) {
        log_warn("tap %s: TUNSETOFFLOAD 0x%x: %s", s->ifname, flags,
                 g_strerror(errno));
    }
}

static const NetClientOps tap_ops = {
    .type = "tap",
    .receive = tap_receive,
    .drained = tap_drained,
    .cleanup = tap_cleanup,
    .has_vnet_hdr = tap_has_vnet_hdr,
    .using_vnet_hdr = tap_using_vnet_hdr,
    .set_vnet_hdr_len = tap_set_vnet_hdr_len,
    .set_offload = tap_set_offload,
};

/* Opens /dev/net/tun as ifname (a pattern such as "tap%d" if NULL). */
static int tap_open(const char *ifname, bool vnet_hdr, bool *got_vnet_hdr,
                    char *name_out, GError **errp)
{
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "could not open /dev/net/tun: %s",
                    g_strerror(errno));
        return -1;
    }
    if (vnet_hdr) {
        ifr.ifr_flags |= IFF_VNET_HDR;
    }
    g_strlcpy(ifr.ifr_name, ifname ? ifname : "tap%d", IFNAMSIZ);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "could not configure /dev/net/tun (%s): %s",
                    ifname ? ifname : "tap%d", g_strerror(errno));
        close(fd);
        return -1;
    }
    *got_vnet_hdr = vnet_hdr;
    g_strlcpy(name_out, ifr.ifr_name, IFNAMSIZ);
    return fd;
}

NetClient *net_tap_new(const char *id, Opts *o, GError **errp)
{
    const char *ifname = opts_get(o, "ifname");
    const char *fdstr = opts_get(o, "fd");
    const char *script = opts_get(o, "script");
    const char *downscript = opts_get(o, "downscript");
    bool vnet_hdr, vhost;
    uint64_t fdnum = 0;
    TapState *s;
    NetClient *nc;

    if (!opts_get_bool(o, "vnet_hdr", true, &vnet_hdr, errp) ||
        !opts_get_bool(o, "vhost", false, &vhost, errp)) {
        return NULL;
    }
    if (vhost) {
        g_set_error(errp, VIREO_ERROR, 0, "vhost=on is not supported");
        return NULL;
    }
    if (ifname && strlen(ifname) >= IFNAMSIZ) {
        g_set_error(errp, VIREO_ERROR, 0, "ifname=%s: longer than %d "
                    "characters", ifname, IFNAMSIZ - 1);
        return NULL;
    }
    if (fdstr && (ifname || script || downscript)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "fd= cannot be used with ifname=, script= or "
                    "downscript=");
        return NULL;
    }
    if (fdstr && (!parse_uint(fdstr, &fdnum, NULL) || fdnum > INT32_MAX ||
                  fcntl((int)fdnum, F_GETFD) < 0)) {
        g_set_error(errp, VIREO_ERROR, 0, "fd=%s: not an open file "
                    "descriptor", fdstr);
        return NULL;
    }
    if (!opts_check_unused(o, "tap", errp)) {
        return NULL;
    }
    /* script=no (or none given): Vireo runs no script, unlike QEMU's
     * default /etc/qemu-ifup */
    if (script && !strcmp(script, "no")) {
        script = NULL;
    }
    if (downscript && !strcmp(downscript, "no")) {
        downscript = NULL;
    }

    s = g_new0(TapState, 1);
    s->fd = -1;
    s->hdr_len = 10;    /* the kernel's default: struct virtio_net_hdr */
    if (fdstr) {
        /* a tap opened with IFF_VNET_HDR says so in its flags */
        struct ifreq ifr = { 0 };
        s->fd = fdnum;
        s->vnet_hdr = ioctl(s->fd, TUNGETIFF, &ifr) == 0 &&
                      (ifr.ifr_flags & IFF_VNET_HDR);
        g_strlcpy(s->ifname, ifr.ifr_name, IFNAMSIZ);
    } else {
        s->fd = tap_open(ifname, vnet_hdr, &s->vnet_hdr, s->ifname, errp);
    }
    nc = net_client_new(&tap_ops, id, s);
    s->nc = nc;
    if (s->fd < 0 || !g_unix_set_fd_nonblocking(s->fd, TRUE, errp) ||
        (script && !run_script(script, s->ifname, errp))) {
        net_client_free(nc);
        return NULL;
    }
    s->downscript = g_strdup(downscript);
    nc->info = g_strdup_printf("tap: ifname=%s,script=%s,downscript=%s",
                               s->ifname, script ? script : "no",
                               downscript ? downscript : "no");
    read_watch_start(s);
    return nc;
}
