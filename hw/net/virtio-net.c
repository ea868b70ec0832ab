/*
 * virtio network device (virtio 1.2 section 5.1): one receive and one
 * transmit queue joined to a -netdev backend. Every frame carries the
 * 12-byte virtio-net header; a backend that speaks it (tap) gets it with
 * the checksum and segmentation offloads the driver accepted, others
 * (user) get bare frames and the guest is offered no offloads. Receive
 * buffers may be merged (VIRTIO_NET_F_MRG_RXBUF). A frame the guest has
 * no buffers for waits in the backend's queue until it posts some.
 * virtio-net-device puts it on a virtio-mmio transport, virtio-net-pci on
 * PCI.
 */
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "net/net.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

/* Feature bits (5.1.3) */
#define VIRTIO_NET_F_CSUM           0
#define VIRTIO_NET_F_GUEST_CSUM     1
#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_GUEST_TSO4     7
#define VIRTIO_NET_F_GUEST_TSO6     8
#define VIRTIO_NET_F_GUEST_ECN      9
#define VIRTIO_NET_F_HOST_TSO4      11
#define VIRTIO_NET_F_HOST_TSO6      12
#define VIRTIO_NET_F_HOST_ECN       13
#define VIRTIO_NET_F_MRG_RXBUF      15
#define VIRTIO_NET_F_STATUS         16

#define VIRTIO_NET_S_LINK_UP        1
#define NET_HDR_LEN                 12      /* with num_buffers (5.1.6) */
#define NET_HDR_NUM_BUFFERS         10
#define CFG_MAC                     0
#define CFG_STATUS                  6
#define CFG_SIZE                    8
#define RXQ                         0
#define TXQ                         1
#define QUEUE_SIZE                  256
/* A frame the driver hands us, header included, at most. */
#define TX_MAX                      (NET_HDR_LEN + NET_FRAME_MAX)

typedef struct VirtIONet {
    VirtIODevice vdev;
    char *netdev;               /* property */
    char *mac_str;              /* property */
    uint8_t mac[6];
    NetClient *nc;
    bool peer_vnet_hdr;         /* the backend takes our header as is */
    uint8_t tx_buf[TX_MAX];
    /* migration: the stream's values, checked before they are used */
    uint8_t vms_mac[6];
    uint16_t vms_link_status;
} VirtIONet;

#define NET_FROM_VDEV(v) container_of(v, VirtIONet, vdev)

/* ---- transmit ---- */

static void net_handle_tx(VirtIONet *n, VirtQueue *vq)
{
    VirtQueueElement *elem;
    bool pushed = false;

    while ((elem = virtq_pop(vq))) {
        size_t len = virtq_elem_read(elem, 0, n->tx_buf, sizeof(n->tx_buf));
        if (elem->out_len > sizeof(n->tx_buf) || len < NET_HDR_LEN) {
            /* larger than any frame, or no header: the guest's error */
            log_guest_error("virtio-net: dropped a %zu-byte transmit "
                            "buffer", elem->out_len);
        } else if (n->peer_vnet_hdr) {
            net_send(n->nc, n->tx_buf, len);
        } else {
            net_send(n->nc, n->tx_buf + NET_HDR_LEN, len - NET_HDR_LEN);
        }
        virtq_push(vq, elem, 0);
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

/* ---- receive ---- */

static bool net_rx_ready(VirtIONet *n)
{
    VirtQueue *vq = &n->vdev.vq[RXQ];

    return (n->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) && !n->vdev.broken &&
           vq->ready && !virtq_empty(vq);
}

static bool nic_can_receive(NetClient *nc)
{
    return net_rx_ready(nc->opaque);
}

/*
 * Puts one frame into the guest's receive buffers: the header and data in
 * one, or (MRG_RXBUF) spread over as many as it takes, num_buffers in the
 * first header. The buffers enter the used ring in order, head first.
 */
static bool nic_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    VirtIONet *n = nc->opaque;
    VirtQueue *vq = &n->vdev.vq[RXQ];
    bool merge = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
    uint8_t hdr[NET_HDR_LEN] = { 0 };
    VirtQueueElement *elems[64];
    uint32_t lens[64];
    unsigned count = 0;
    size_t done = 0;
    bool lost = false;

    if (!net_rx_ready(n)) {
        return false;
    }
    if (n->peer_vnet_hdr) {
        /* the backend's header comes first; num_buffers is ours to set */
        if (len < NET_HDR_LEN) {
            return true;
        }
        memcpy(hdr, buf, NET_HDR_LEN);
        buf += NET_HDR_LEN;
        len -= NET_HDR_LEN;
    }
    do {
        VirtQueueElement *elem = count < G_N_ELEMENTS(elems) ? virtq_pop(vq)
                                                            : NULL;
        size_t off = count == 0 ? NET_HDR_LEN : 0;

        if (!elem) {
            lost = true;    /* out of buffers mid-frame, or a broken ring */
            break;
        }
        if (elem->in_len < off) {
            virtio_error(&n->vdev, "virtio-net: a %zu-byte receive buffer "
                         "has no room for the header", elem->in_len);
            g_free(elem);
            lost = true;
            break;
        }
        size_t c = virtq_elem_fill(elem, off, buf + done,
                                   MIN(len - done, elem->in_len - off));
        elems[count] = elem;
        lens[count++] = off + c;
        done += c;
    } while (merge && done < len);
    if (lost || done < len) {
        log_guest_error("virtio-net: a %zu-byte frame did not fit the "
                        "receive buffers; dropped", len);
        for (unsigned i = 0; i < count; i++) {
            lens[i] = 0;
        }
    } else {
        st16(hdr + NET_HDR_NUM_BUFFERS, count);
        virtq_elem_fill(elems[0], 0, hdr, NET_HDR_LEN);
    }
    for (unsigned i = 0; i < count; i++) {
        virtq_push(vq, elems[i], lens[i]);
        g_free(elems[i]);
    }
    virtq_notify(vq);
    return true;
}

static uint16_t link_status(VirtIONet *n)
{
    return n->nc->link_down ? 0 : VIRTIO_NET_S_LINK_UP;
}

/* set_link: the status field changes and the driver hears of it (5.1.4) */
static void nic_link_status_changed(NetClient *nc)
{
    VirtIONet *n = nc->opaque;

    if (n->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) {
        virtio_notify_config(&n->vdev);
    }
}

static const NetClientOps nic_ops = {
    .type = "nic",
    .can_receive = nic_can_receive,
    .receive = nic_receive,
    .link_status_changed = nic_link_status_changed,
};

/* ---- the virtio device ---- */

static void net_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIONet *n = NET_FROM_VDEV(vdev);

    if (vq->index == TXQ) {
        net_handle_tx(n, vq);
    } else {
        net_flush(n->nc);       /* new buffers: frames that waited */
    }
}

static void net_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIONet *n = NET_FROM_VDEV(vdev);

    memcpy(config + CFG_MAC, n->mac, 6);
    st16(config + CFG_STATUS, link_status(n));
}

static void net_set_status(VirtIODevice *vdev, uint8_t status)
{
    VirtIONet *n = NET_FROM_VDEV(vdev);

    if (!(status & VIRTIO_CONFIG_S_FEATURES_OK) || !n->peer_vnet_hdr) {
        return;
    }
    /* tell the backend which offloads the driver takes on receive */
    unsigned flags = 0;
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM)) {
        flags |= TUN_F_CSUM;
        if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4)) {
            flags |= TUN_F_TSO4;
        }
        if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6)) {
            flags |= TUN_F_TSO6;
        }
        if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ECN)) {
            flags |= TUN_F_TSO_ECN;
        }
    }
    net_set_offload(n->nc, flags);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;

    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &end) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        if (v[i] > 0xff) {
            return false;
        }
        mac[i] = v[i];
    }
    return !(mac[0] & 1);   /* not a multicast address */
}

/* Sets up n (not yet on a transport) for the device named name. */
static bool virtio_net_init(VirtIONet *n, Machine *m, const char *name,
                            GError **errp)
{
    static unsigned nic_count;
    NetClient *backend = NULL;
    VirtioDeviceOps *ops;

    if (n->mac_str && !parse_mac(n->mac_str, n->mac)) {
        g_set_error(errp, VIREO_ERROR, 0, "mac=%s: not a unicast MAC "
                    "address (xx:xx:xx:xx:xx:xx)", n->mac_str);
        return false;
    }
    if (!n->mac_str) {
        /* QEMU's: 52:54:00:12:34:56, then ...:57 for the next NIC */
        memcpy(n->mac, "\x52\x54\x00\x12\x34\x56", 6);
        n->mac[5] += nic_count;
    }
    nic_count++;
    if (n->netdev) {
        backend = netdev_find(n->netdev);
        if (!backend) {
            g_set_error(errp, VIREO_ERROR, 0, "netdev=%s: no such netdev",
                        n->netdev);
            return false;
        }
        if (backend->peer) {
            g_set_error(errp, VIREO_ERROR, 0, "netdev=%s is already in use "
                        "by another NIC", n->netdev);
            return false;
        }
    }
    n->nc = net_client_new(&nic_ops, name, n);
    ops = g_new0(VirtioDeviceOps, 1);
    ops->device_id = VIRTIO_ID_NET;
    ops->features = (1ULL << VIRTIO_NET_F_MAC) |
                    (1ULL << VIRTIO_NET_F_STATUS) |
                    (1ULL << VIRTIO_NET_F_MRG_RXBUF);
    if (backend) {
        net_connect(n->nc, backend);
        n->peer_vnet_hdr = net_using_vnet_hdr(n->nc, true, NET_HDR_LEN);
    }
    if (n->peer_vnet_hdr) {
        ops->features |= (1ULL << VIRTIO_NET_F_CSUM) |
                         (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                         (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                         (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
                         (1ULL << VIRTIO_NET_F_GUEST_ECN) |
                         (1ULL << VIRTIO_NET_F_HOST_TSO4) |
                         (1ULL << VIRTIO_NET_F_HOST_TSO6) |
                         (1ULL << VIRTIO_NET_F_HOST_ECN);
    }
    ops->config_size = CFG_SIZE;
    ops->num_queues = 2;
    ops->queue_max_size = QUEUE_SIZE;
    ops->get_config = net_get_config;
    ops->handle_queue = net_handle_queue;
    ops->set_status = net_set_status;
    virtio_init(&n->vdev, ops, "virtio-net", &m->as_mem);
    return true;
}

static void virtio_net_fini(VirtIONet *n)
{
    const VirtioDeviceOps *ops = n->vdev.ops;

    virtio_cleanup(&n->vdev);
    g_free((void *)ops);
    net_client_free(n->nc);
    n->nc = NULL;
}

/* ---- migration ---- */

static bool net_pre_save(void *opaque, GError **errp)
{
    VirtIONet *n = opaque;

    memcpy(n->vms_mac, n->mac, sizeof(n->mac));
    n->vms_link_status = link_status(n);
    return true;
}

/*
 * The MAC the guest knows is the source's (as QEMU, it replaces mac=);
 * the backend learns the offloads the driver accepted again.
 */
static bool net_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIONet *n = opaque;

    if (n->vms_mac[0] & 1) {
        g_set_error(errp, VIREO_ERROR, 0, "MAC address %02x:%02x:%02x:%02x:"
                    "%02x:%02x is a multicast address", n->vms_mac[0],
                    n->vms_mac[1], n->vms_mac[2], n->vms_mac[3],
                    n->vms_mac[4], n->vms_mac[5]);
        return false;
    }
    if (n->vms_link_status & ~VIRTIO_NET_S_LINK_UP) {
        g_set_error(errp, VIREO_ERROR, 0, "link status 0x%x: only LINK_UP "
                    "is defined", n->vms_link_status);
        return false;
    }
    memcpy(n->mac, n->vms_mac, sizeof(n->mac));
    /* as QEMU: the link as the source had it (set_link survives) */
    n->nc->link_down = !(n->vms_link_status & VIRTIO_NET_S_LINK_UP);
    net_set_status(&n->vdev, n->vdev.status);
    return true;
}

static const VMStateField virtio_net_fields[] = {
    { .name = "mac", .kind = VMS_BUFFER,
      .offset = offsetof(VirtIONet, vms_mac), .size = 6, .num = 1,
      .version_id = 1 },
    { .name = "link_status", .kind = VMS_UINT16,
      .offset = offsetof(VirtIONet, vms_link_status), .size = 2, .num = 1,
      .version_id = 1 },
    VMSTATE_END_OF_LIST(),
};

/*
 * The NIC besides its virtio device (the transport's to save): the MAC
 * and the link status of the configuration space. Frames waiting in the
 * backend's queue are the backend's.
 */
static const VMStateDescription vmstate_virtio_net = {
    .name = "virtio-net",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_net_fields,
    .pre_save = net_pre_save,
    .post_load = net_post_load,
};

#define VIRTIO_NET_PROPS(st, f)                                             \
    PROP_STR("netdev", st, f.netdev, NULL, "the -netdev id"),               \
    PROP_STR("mac", st, f.mac_str, NULL,                                    \
             "MAC address (default 52:54:00:12:34:56 and up)")

/* --- virtio-net-device: on a virtio-mmio transport --- */

typedef struct VirtIONetDevice {
    Device parent;
    VirtIONet net;
} VirtIONetDevice;

static bool virtio_net_device_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIONetDevice *s = (VirtIONetDevice *)dev;

    if (!virtio_net_init(&s->net, m, dev->id, errp)) {
        return false;
    }
    if (!virtio_mmio_plug(m, &s->net.vdev, dev->cls->name, errp)) {
        virtio_net_fini(&s->net);
        return false;
    }
    return true;
}

static void virtio_net_device_unrealize(Device *dev)
{
    VirtIONetDevice *s = (VirtIONetDevice *)dev;

    virtio_mmio_unplug(&s->net.vdev);
    virtio_net_fini(&s->net);
}

static const VMStateField virtio_net_device_fields[] = {
    VMSTATE_STRUCT(net, VirtIONetDevice, vmstate_virtio_net, VirtIONet),
    VMSTATE_END_OF_LIST(),
};

/* The virtio device itself is in its virtio-mmio transport's section. */
static const VMStateDescription vmstate_virtio_net_device = {
    .name = "virtio-net-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_net_device_fields,
};

static const Property virtio_net_device_props[] = {
    VIRTIO_NET_PROPS(VirtIONetDevice, net),
    PROP_END,
};

static DeviceClass virtio_net_device_class = {
    .name = "virtio-net-device",
    .desc = "virtio network device (virtio-mmio)",
    .bus = VIRTIO_MMIO_BUS,
    .instance_size = sizeof(VirtIONetDevice),
    .props = virtio_net_device_props,
    .user_creatable = true,
    .realize = virtio_net_device_realize,
    .unrealize = virtio_net_device_unrealize,
    .vmsd = &vmstate_virtio_net_device,
};
DEVICE_REGISTER(virtio_net_device_class)

/* --- virtio-net-pci --- */

typedef struct VirtIONetPCI {
    VirtIOPCIProxy proxy;
    VirtIONet net;
} VirtIONetPCI;

static bool virtio_net_pci_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIONetPCI *s = (VirtIONetPCI *)dev;

    if (!virtio_net_init(&s->net, m, dev->id, errp)) {
        return false;
    }
    /* QEMU's class: Ethernet controller */
    if (!virtio_pci_plug(&s->proxy, &s->net.vdev, m, 0x020000, errp)) {
        virtio_net_fini(&s->net);
        return false;
    }
    return true;
}

static void virtio_net_pci_reset(Device *dev)
{
    virtio_pci_reset(&((VirtIONetPCI *)dev)->proxy);
}

static void virtio_net_pci_unrealize(Device *dev)
{
    VirtIONetPCI *s = (VirtIONetPCI *)dev;

    virtio_pci_unplug(&s->proxy);
    virtio_net_fini(&s->net);
}

static const VMStateField virtio_net_pci_fields[] = {
    VMSTATE_STRUCT(proxy, VirtIONetPCI, vmstate_virtio_pci, VirtIOPCIProxy),
    VMSTATE_STRUCT(net, VirtIONetPCI, vmstate_virtio_net, VirtIONet),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_net_pci = {
    .name = "virtio-net-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_net_pci_fields,
};

static const Property virtio_net_pci_props[] = {
    VIRTIO_PCI_PROPS(VirtIONetPCI, proxy),
    VIRTIO_NET_PROPS(VirtIONetPCI, net),
    PROP_END,
};

static DeviceClass virtio_net_pci_class = {
    .name = "virtio-net-pci",
    .desc = "virtio network device (PCI)",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(VirtIONetPCI),
    .props = virtio_net_pci_props,
    .user_creatable = true,
    .realize = virtio_net_pci_realize,
    .reset = virtio_net_pci_reset,
    .unrealize = virtio_net_pci_unrealize,
    .vmsd = &vmstate_virtio_net_pci,
};
DEVICE_REGISTER(virtio_net_pci_class)
