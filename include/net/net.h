/*
 * Network clients: a NIC model (frontend) and a backend (-netdev user,
 * tap, ...) are peers that hand each other Ethernet frames. A frame the
 * receiver cannot take now waits in the sender's queue and is delivered
 * when the receiver calls net_flush(), in order; only a queue past its
 * bound drops frames (a guest that never reads its ring).
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Frames waiting for a receiver, at most (then the oldest are kept). */
#define NET_QUEUE_MAX_FRAMES    10000
#define NET_QUEUE_MAX_BYTES     (16 * 1024 * 1024)
/* Largest frame either side accepts: 64 KiB of GSO payload plus headers. */
#define NET_FRAME_MAX           (65536 + 14 + 4)

typedef struct NetClient NetClient;

typedef struct NetClientOps {
    const char *type;           /* "user", "tap", "nic" */
    /* Whether a frame can be taken now; NULL: always. */
    bool (*can_receive)(NetClient *nc);
    /* Takes one frame; returns false if it cannot now (it is queued). */
    bool (*receive)(NetClient *nc, const uint8_t *buf, size_t len);
    /* Frees the client's own state (net_client_free frees nc itself). */
    void (*cleanup)(NetClient *nc);
    /* What it queued for its peer was all delivered (read on). */
    void (*drained)(NetClient *nc);
    /*
     * Backends that pass the virtio-net header with each frame (tap):
     * whether they can, and, once the NIC says it uses it, its length and
     * which offloads (TUN_F_* bits) the NIC's driver accepts.
     */
    bool (*has_vnet_hdr)(NetClient *nc);
    void (*using_vnet_hdr)(NetClient *nc, bool on);
    bool (*set_vnet_hdr_len)(NetClient *nc, int len);
    void (*set_offload)(NetClient *nc, unsigned tun_flags);
    /* nc->link_down changed (a NIC tells its guest). */
    void (*link_status_changed)(NetClient *nc);
} NetClientOps;

struct NetClient {
    const NetClientOps *ops;
    char *id;                   /* -netdev id, or the NIC's id */
    char *info;                 /* "user: net=10.0.2.0/24,...", for info */
    NetClient *peer;
    GQueue *queue;              /* of GBytes, for the peer */
    size_t queued_bytes;
    uint64_t dropped;           /* frames lost to a full queue */
    bool link_down;             /* set_link off: frames to or from it drop */
    void *opaque;
};

/* A client of ops; id may be NULL. Frees with net_client_free. */
NetClient *net_client_new(const NetClientOps *ops, const char *id,
                          void *opaque);
void net_client_free(NetClient *nc);
void net_connect(NetClient *a, NetClient *b);

/*
 * Hands a frame to nc's peer, or queues it if the peer cannot take it now.
 * No peer (a NIC without backend, a cable pulled): dropped, as on a wire.
 */
void net_send(NetClient *nc, const uint8_t *buf, size_t len);
/* nc can take frames again: deliver what its peer queued for it. */
void net_flush(NetClient *nc);

/*
 * For a NIC about its backend (nc's peer): the virtio-net header. Frames
 * carry a header only after net_using_vnet_hdr(nc, true) succeeded.
 */
bool net_peer_has_vnet_hdr(NetClient *nc);
bool net_using_vnet_hdr(NetClient *nc, bool on, int hdr_len);
void net_set_offload(NetClient *nc, unsigned tun_flags);

/*
 * QMP set_link: the link of every client named name (a -netdev or a NIC's
 * id) goes up or down; a backend's NIC follows it, as a cable pulled at
 * either end. While down, frames either way are dropped.
 */
bool net_set_link(const char *name, bool up, GError **errp);

/* -netdev TYPE,id=ID,...: creates and registers a backend. */
NetClient *netdev_new_from_opts(const char *optstr, GError **errp);
NetClient *netdev_find(const char *id);
/* Every backend, for -netdev help and "info network". */
void netdev_foreach(void (*fn)(NetClient *nc, void *opaque), void *opaque);
void net_cleanup_all(void);

/*
 * Backends (net/slirp.c, ...): make the client from parsed options,
 * refusing unknown keys (opts_check_unused) before opening anything.
 */
typedef struct Opts Opts;
NetClient *net_slirp_new(const char *id, Opts *o, GError **errp);
NetClient *net_tap_new(const char *id, Opts *o, GError **errp);

#endif
