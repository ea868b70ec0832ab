/*
 * Network core: clients joined in pairs, frame delivery with a bounded
 * queue for a receiver that is not ready, and the -netdev registry.
 */
#include <string.h>

#include "monitor/qmp.h"
#include "net/net.h"
#include "util/opts.h"

static GPtrArray *netdevs;      /* NetClient*, creation order */
static GList *clients;          /* every NetClient, for set_link */

NetClient *net_client_new(const NetClientOps *ops, const char *id,
                          void *opaque)
{
    NetClient *nc = g_new0(NetClient, 1);

    nc->ops = ops;
    nc->id = g_strdup(id);
    nc->queue = g_queue_new();
    nc->opaque = opaque;
    clients = g_list_append(clients, nc);
    return nc;
}

static void queue_purge(NetClient *nc)
{
    g_queue_free_full(nc->queue, (GDestroyNotify)g_bytes_unref);
    nc->queue = g_queue_new();
    nc->queued_bytes = 0;
}

void net_client_free(NetClient *nc)
{
    if (!nc) {
        return;
    }
    if (nc->peer) {
        queue_purge(nc->peer);      /* frames queued for us go too */
        nc->peer->peer = NULL;
    }
    if (nc->ops->cleanup) {
        nc->ops->cleanup(nc);
    }
    clients = g_list_remove(clients, nc);
    g_queue_free_full(nc->queue, (GDestroyNotify)g_bytes_unref);
    g_free(nc->info);
    g_free(nc->id);
    g_free(nc);
}

void net_connect(NetClient *a, NetClient *b)
{
    a->peer = b;
    b->peer = a;
}

static bool deliver(NetClient *to, const uint8_t *buf, size_t len)
{
    if (to->ops->can_receive && !to->ops->can_receive(to)) {
        return false;
    }
    return to->ops->receive(to, buf, len);
}

void net_send(NetClient *nc, const uint8_t *buf, size_t len)
{
    NetClient *peer = nc->peer;

    if (!peer || nc->link_down || peer->link_down || len == 0 ||
        len > NET_FRAME_MAX) {
        return;
    }
    /* in order: nothing overtakes frames already waiting */
    if (g_queue_is_empty(nc->queue) && deliver(peer, buf, len)) {
        return;
    }
    if (g_queue_get_length(nc->queue) >= NET_QUEUE_MAX_FRAMES ||
        nc->queued_bytes + len > NET_QUEUE_MAX_BYTES) {
        nc->dropped++;
        return;
    }
    g_queue_push_tail(nc->queue, g_bytes_new(buf, len));
    nc->queued_bytes += len;
}

void net_flush(NetClient *nc)
{
    NetClient *sender = nc->peer;

    while (sender && !g_queue_is_empty(sender->queue)) {
        GBytes *frame = g_queue_peek_head(sender->queue);
        gsize len;
        const uint8_t *data = g_bytes_get_data(frame, &len);

        if (!deliver(nc, data, len)) {
            return;
        }
        g_queue_pop_head(sender->queue);
        sender->queued_bytes -= len;
        g_bytes_unref(frame);
    }
    if (sender && sender->ops->drained) {
        sender->ops->drained(sender);
    }
}

bool net_peer_has_vnet_hdr(NetClient *nc)
{
    NetClient *p = nc->peer;
    return p && p->ops->has_vnet_hdr && p->ops->has_vnet_hdr(p);
}

bool net_using_vnet_hdr(NetClient *nc, bool on, int hdr_len)
{
    NetClient *p = nc->peer;

    if (!net_peer_has_vnet_hdr(nc) ||
        (on && !p->ops->set_vnet_hdr_len(p, hdr_len))) {
        return false;
    }
    p->ops->using_vnet_hdr(p, on);
    return true;
}

static void set_link_down(NetClient *nc, bool down)
{
    nc->link_down = down;
    if (down) {
        queue_purge(nc);        /* a pulled cable carries nothing */
    }
    if (nc->ops->link_status_changed) {
        nc->ops->link_status_changed(nc);
    }
}

bool net_set_link(const char *name, bool up, GError **errp)
{
    bool found = false;

    for (GList *l = clients; l; l = l->next) {
        NetClient *nc = l->data;
        if (!nc->id || strcmp(nc->id, name)) {
            continue;
        }
        found = true;
        set_link_down(nc, !up);
        /* a backend's NIC sees it, as QEMU's does */
        if (nc->peer && !strcmp(nc->peer->ops->type, "nic")) {
            set_link_down(nc->peer, !up);
        }
    }
    if (!found) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                    "Device '%s' not found", name);
    }
    return found;
}

static json_t *qmp_set_link(json_t *args, GError **errp)
{
    const char *name = json_string_value(json_object_get(args, "name"));
    bool up = json_is_true(json_object_get(args, "up"));

    return net_set_link(name, up, errp) ? json_object() : NULL;
}
QMP_COMMAND("set_link", qmp_set_link)

void net_set_offload(NetClient *nc, unsigned tun_flags)
{
    NetClient *p = nc->peer;

    if (p && p->ops->set_offload) {
        p->ops->set_offload(p, tun_flags);
    }
}

/* ---- -netdev ---- */

typedef struct NetdevType {
    const char *name;
    NetClient *(*create)(const char *id, Opts *o, GError **errp);
} NetdevType;

static const NetdevType netdev_types[] = {
    { "user", net_slirp_new },
    { "tap", net_tap_new },
};

NetClient *netdev_find(const char *id)
{
    for (guint i = 0; id && netdevs && i < netdevs->len; i++) {
        NetClient *nc = g_ptr_array_index(netdevs, i);
        if (!strcmp(nc->id, id)) {
            return nc;
        }
    }
    return NULL;
}

void netdev_foreach(void (*fn)(NetClient *nc, void *opaque), void *opaque)
{
    for (guint i = 0; netdevs && i < netdevs->len; i++) {
        fn(g_ptr_array_index(netdevs, i), opaque);
    }
}

NetClient *netdev_new_from_opts(const char *optstr, GError **errp)
{
    Opts *o = opts_parse(optstr, "type", errp);
    const NetdevType *type = NULL;
    NetClient *nc = NULL;
    const char *name, *id;

    if (!o) {
        goto out;
    }
    name = opts_get(o, "type");
    id = opts_get(o, "id");
    for (size_t i = 0; name && i < G_N_ELEMENTS(netdev_types); i++) {
        if (!strcmp(netdev_types[i].name, name)) {
            type = &netdev_types[i];
        }
    }
    if (!name) {
        g_set_error(errp, VIREO_ERROR, 0, "no network backend type given");
    } else if (!type) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "network backend '%s' is not supported (available: "
                    "user, tap)", name);
    } else if (!id || !*id) {
        g_set_error(errp, VIREO_ERROR, 0, "parameter 'id' is missing");
    } else if (netdev_find(id)) {
        g_set_error(errp, VIREO_ERROR, 0, "duplicate netdev id '%s'", id);
    } else {
        /* it checks for unknown keys before it opens anything */
        nc = type->create(id, o, errp);
    }
    if (nc) {
        if (!netdevs) {
            netdevs = g_ptr_array_new();
        }
        g_ptr_array_add(netdevs, nc);
    }
out:
    if (!nc) {
        g_prefix_error(errp, "-netdev %s: ", optstr);
    }
    opts_free(o);
    return nc;
}

void net_cleanup_all(void)
{
    for (guint i = 0; netdevs && i < netdevs->len; i++) {
        net_client_free(g_ptr_array_index(netdevs, i));
    }
    g_clear_pointer(&netdevs, g_ptr_array_unref);
}
