/*
 * virtio memory balloon (virtio 1.2 section 5.5), as QEMU 7.2's: the host
 * asks for a target size (num_pages), the guest inflates by giving page
 * frames, which we hand back to the host, and says how many it holds
 * (actual); free page reporting (5.5.6.5) gives back the blocks the guest
 * has free. The QMP/HMP commands balloon, query-balloon and info balloon,
 * and the BALLOON_CHANGE event live here too, and QEMU's guest-stats and
 * guest-stats-polling-interval properties (docs/interop/
 * virtio-balloon-stats.rst). virtio-balloon-device puts it on a
 * virtio-mmio transport, virtio-balloon-pci on PCI.
 */
#include <stdint.h>
#include <string.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "monitor/qmp.h"
#include "system/timer.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

/* Feature bits (5.5.3) */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST     0
#define VIRTIO_BALLOON_F_STATS_VQ           1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM     2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT     3
#define VIRTIO_BALLOON_F_PAGE_POISON        4
#define VIRTIO_BALLOON_F_REPORTING          5

/*
 * Queues (5.5.2), numbered as QEMU creates them from the features the
 * device offers: reporting follows stats (we offer no free page hints).
 */
#define BALLOON_Q_INFLATE   0
#define BALLOON_Q_DEFLATE   1
#define BALLOON_Q_STATS     2
#define BALLOON_Q_REPORTING 3

/* struct virtio_balloon_config (5.5.4): the fields we offer */
#define BALLOON_CFG_NUM_PAGES   0
#define BALLOON_CFG_ACTUAL      4
#define BALLOON_CONFIG_SIZE     8

/* Inflate and deflate give 32-bit page frame numbers of 4 KiB pages. */
#define BALLOON_PFN_SHIFT   12
#define BALLOON_PAGE_SIZE   (1u << BALLOON_PFN_SHIFT)

/* struct virtio_balloon_stat (5.5.6.3): le16 tag, le64 val, packed */
#define BALLOON_STAT_SIZE   10
#define BALLOON_STAT_NR     16      /* tags we keep (the spec has 0..9) */

#define BALLOON_QUEUE_SIZE  128

/* Statistics entries read from one buffer; the spec defines 10 tags. */
#define BALLOON_STATS_MAX   64

/* QEMU sends BALLOON_CHANGE at most once a second, the latest value. */
#define BALLOON_EVENT_PERIOD_NS     (1000 * 1000 * 1000LL)

typedef struct VirtIOBalloon {
    VirtIODevice vdev;
    bool free_page_reporting;   /* property */
    bool deflate_on_oom;        /* property */
    Machine *machine;
    uint32_t num_pages;         /* the target the host asks for */
    uint32_t actual;            /* what the guest says it holds */
    /* The last statistics the guest sent, by tag (5.5.6.3). */
    uint64_t stats[BALLOON_STAT_NR];
    bool stats_valid[BALLOON_STAT_NR];
    int64_t stats_last_update;      /* host wall clock, s; 0: never */
    uint32_t stats_interval;        /* s between polls; 0: no polling */
    Timer *stats_timer;
    /* BALLOON_CHANGE's rate limit */
    Timer *event_timer;
    int64_t event_last_ns;      /* when the last one went out */
    bool event_sent;            /* one went out (event_last_ns is valid) */
    bool event_pending;         /* one is held until the period ends */
} VirtIOBalloon;

/* QEMU supports one balloon, the commands act on it. */
static VirtIOBalloon *the_balloon;

static uint64_t ram_size_of(VirtIOBalloon *b)
{
    return b->machine->ram.size;
}

/* What QEMU reports as "actual": the memory the guest is left with. */
static uint64_t balloon_actual_bytes(VirtIOBalloon *b)
{
    uint64_t held = (uint64_t)b->actual << BALLOON_PFN_SHIFT;

    /* a guest may claim more than it has */
    return held >= ram_size_of(b) ? 0 : ram_size_of(b) - held;
}

/* --- the queues --- */

/*
 * Inflate: the guest no longer uses these pages, the host gets them back
 * (they read as zeros if the guest touches them again, as after a
 * deflate). Page frames that are not plain guest RAM — beyond it, in the
 * PCI hole, on ROM — are ignored, as QEMU ignores them.
 */
static void balloon_inflate(VirtIOBalloon *b, const VirtQueueElement *elem)
{
    AddressSpace *as = b->vdev.dma_as;
    uint32_t pfns[256];

    for (size_t off = 0; off + 4 <= elem->out_len; off += sizeof(pfns)) {
        size_t n = virtq_elem_read(elem, off, pfns, sizeof(pfns)) / 4;
        for (size_t i = 0; i < n; i++) {
            uint32_t pfn = GUINT32_FROM_LE(pfns[i]);
            hwaddr gpa = (hwaddr)pfn << BALLOON_PFN_SHIFT;
            if (!ram_discard_range(as, &b->machine->ram, gpa,
                                   BALLOON_PAGE_SIZE)) {
                log_guest_error("virtio-balloon: inflate of page frame "
                                "0x%x, which is not guest RAM, ignored\n",
                                pfn);
            }
        }
    }
}

/*
 * Free page reporting (5.5.6.5): each device-writable buffer is a block
 * of free guest memory (usually 2 or 4 MiB); the device gives it back to
 * the host and returns the buffer without writing it. virtq_pop already
 * checked that each buffer is in one RAM range; what is not the machine's
 * RAM (or not whole pages) is left alone.
 */
static void balloon_report(VirtIOBalloon *b, const VirtQueueElement *elem)
{
    AddressSpace *as = b->vdev.dma_as;

    for (unsigned i = 0; i < elem->in_num; i++) {
        const struct iovec *sg = &elem->in_sg[i];
        hwaddr gpa;
        if (!address_space_ram_gpa(as, &b->machine->ram, sg->iov_base,
                                   sg->iov_len, &gpa) ||
            !ram_discard_range(as, &b->machine->ram, gpa, sg->iov_len)) {
            log_guest_error("virtio-balloon: reported block of %zu bytes "
                            "that is not whole pages of guest RAM, "
                            "ignored\n", sg->iov_len);
        }
    }
}

/*
 * Statistics (5.5.6.3): the driver puts one buffer of tag/value pairs in
 * the queue and waits for it back before it sends fresher ones. We keep
 * the values and leave the buffer in the ring, not taken (virtq_unpop),
 * so that no request is in flight and the device migrates
 * as it is; with no polling interval (QEMU's default) it is never
 * returned, so the guest sends its statistics once.
 */
static void balloon_stats(VirtIOBalloon *b, VirtQueue *vq)
{
    VirtQueueElement *elem = virtq_pop(vq);
    uint8_t stat[BALLOON_STAT_SIZE];

    if (!elem) {
        return;
    }
    /* a driver has no more to say: the rest of a longer buffer is not read */
    size_t len = MIN(elem->out_len, BALLOON_STATS_MAX * BALLOON_STAT_SIZE);
    for (size_t off = 0; off + BALLOON_STAT_SIZE <= len;
         off += BALLOON_STAT_SIZE) {
        virtq_elem_read(elem, off, stat, BALLOON_STAT_SIZE);
        uint16_t tag = stat[0] | stat[1] << 8;
        uint64_t val;
        memcpy(&val, stat + 2, 8);
        if (tag < BALLOON_STAT_NR) {
            b->stats[tag] = GUINT64_FROM_LE(val);
            b->stats_valid[tag] = true;
        }
    }
    b->stats_last_update = g_get_real_time() / G_USEC_PER_SEC;
    virtq_unpop(vq);
    g_free(elem);
}

/*
 * Polling: hand the buffer back (empty), the guest fills it with fresh
 * statistics and queues it again. Guest time: no polls while paused.
 */
static void balloon_stats_poll(void *opaque)
{
    VirtIOBalloon *b = opaque;
    VirtQueue *vq = &b->vdev.vq[BALLOON_Q_STATS];
    VirtQueueElement *elem = virtq_pop(vq);

    if (elem) {
        virtq_push(vq, elem, 0);
        virtq_notify(vq);
        g_free(elem);
    }
    timer_mod(b->stats_timer, clock_get_ns(CLK_VIRTUAL) +
              b->stats_interval * 1000000000LL);
}

static void balloon_stats_arm(VirtIOBalloon *b)
{
    if (!b->machine) {
        return;     /* -device's value: armed at realize */
    }
    if (!b->stats_interval) {
        if (b->stats_timer) {
            timer_del(b->stats_timer);
        }
        return;
    }
    if (!b->stats_timer) {
        b->stats_timer = timer_new(CLK_VIRTUAL, balloon_stats_poll, b);
    }
    timer_mod(b->stats_timer, clock_get_ns(CLK_VIRTUAL) +
              b->stats_interval * 1000000000LL);
}

static void balloon_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBalloon *b = (VirtIOBalloon *)vdev;
    VirtQueueElement *elem;
    bool pushed = false;

    if (vq->index == BALLOON_Q_STATS) {
        balloon_stats(b, vq);
        return;
    }
    while ((elem = virtq_pop(vq))) {
        if (vq->index == BALLOON_Q_INFLATE) {
            balloon_inflate(b, elem);
        } else if (vq->index == BALLOON_Q_REPORTING) {
            balloon_report(b, elem);
        }
        /* deflate: nothing to do, the pages fault back in as zeros */
        virtq_push(vq, elem, 0);
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

/* --- configuration space --- */

static void balloon_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIOBalloon *b = (VirtIOBalloon *)vdev;
    uint32_t v;

    v = GUINT32_TO_LE(b->num_pages);
    memcpy(config + BALLOON_CFG_NUM_PAGES, &v, 4);
    v = GUINT32_TO_LE(b->actual);
    memcpy(config + BALLOON_CFG_ACTUAL, &v, 4);
}

static void balloon_event_send(VirtIOBalloon *b)
{
    json_t *data = json_object();

    json_object_set_new(data, "actual", json_integer(balloon_actual_bytes(b)));
    qmp_event_send("BALLOON_CHANGE", data);
    b->event_last_ns = clock_get_ns(CLK_REALTIME);
    b->event_sent = true;
    b->event_pending = false;
}

static void balloon_event_timer(void *opaque)
{
    VirtIOBalloon *b = opaque;

    if (b->event_pending) {
        balloon_event_send(b);
    }
}

/*
 * A guest inflating by 128 MiB updates actual after each batch of 256
 * pages: like QEMU's monitor, send the first change at once and then at
 * most one a second, with the value of the moment it goes out.
 */
static void balloon_event(VirtIOBalloon *b)
{
    int64_t now = clock_get_ns(CLK_REALTIME);

    if (!b->event_timer) {
        b->event_timer = timer_new(CLK_REALTIME, balloon_event_timer, b);
    }
    if (timer_pending(b->event_timer)) {
        b->event_pending = true;
    } else if (b->event_sent && now - b->event_last_ns <
               BALLOON_EVENT_PERIOD_NS) {
        b->event_pending = true;
        timer_mod(b->event_timer, b->event_last_ns + BALLOON_EVENT_PERIOD_NS);
    } else {
        balloon_event_send(b);
    }
}

/* The driver writes actual; num_pages is the device's (5.5.4). */
static void balloon_set_config(VirtIODevice *vdev, const uint8_t *config)
{
    VirtIOBalloon *b = (VirtIOBalloon *)vdev;
    uint32_t v;

    memcpy(&v, config + BALLOON_CFG_ACTUAL, 4);
    if (GUINT32_FROM_LE(v) == b->actual) {
        return;
    }
    b->actual = GUINT32_FROM_LE(v);
    balloon_event(b);
}

/*
 * A reset (status 0, machine reset) forgets what the guest held: a new
 * driver starts with an empty balloon. The target stays, as in QEMU, so
 * that the guest inflates to it again; guest RAM is not touched.
 */
static void balloon_reset(VirtIODevice *vdev)
{
    VirtIOBalloon *b = (VirtIOBalloon *)vdev;

    b->actual = 0;
    memset(b->stats_valid, 0, sizeof(b->stats_valid));
}

/*
 * Linux queues its first statistics while it sets the device up, before
 * DRIVER_OK, when kicks are not delivered: read them once the driver is
 * ready.
 */
static void balloon_set_status(VirtIODevice *vdev, uint8_t status)
{
    if (status & VIRTIO_CONFIG_S_DRIVER_OK) {
        balloon_stats((VirtIOBalloon *)vdev, &vdev->vq[BALLOON_Q_STATS]);
    }
}

static const VirtioDeviceOps virtio_balloon_ops = {
    .device_id = VIRTIO_ID_BALLOON,
    .features = 1ULL << VIRTIO_BALLOON_F_STATS_VQ,
    .config_size = BALLOON_CONFIG_SIZE,
    .num_queues = 3,
    .queue_max_size = BALLOON_QUEUE_SIZE,
    .get_config = balloon_get_config,
    .set_config = balloon_set_config,
    .handle_queue = balloon_handle_queue,
    .set_status = balloon_set_status,
    .reset = balloon_reset,
};

/* With free-page-reporting=on: a fourth queue and its feature bit. */
static const VirtioDeviceOps virtio_balloon_reporting_ops = {
    .device_id = VIRTIO_ID_BALLOON,
    .features = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
                (1ULL << VIRTIO_BALLOON_F_REPORTING),
    .config_size = BALLOON_CONFIG_SIZE,
    .num_queues = 4,
    .queue_max_size = BALLOON_QUEUE_SIZE,
    .get_config = balloon_get_config,
    .set_config = balloon_set_config,
    .handle_queue = balloon_handle_queue,
    .set_status = balloon_set_status,
    .reset = balloon_reset,
};

static bool balloon_init(VirtIOBalloon *b, Machine *m, GError **errp)
{
    if (the_balloon) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Only one balloon device is supported");
        return false;
    }
    b->machine = m;
    virtio_init(&b->vdev, b->free_page_reporting
                ? &virtio_balloon_reporting_ops : &virtio_balloon_ops,
                "virtio-balloon", &m->as_mem);
    if (b->deflate_on_oom) {
        b->vdev.host_features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    }
    the_balloon = b;
    balloon_stats_arm(b);
    return true;
}

static void balloon_fini(VirtIOBalloon *b)
{
    if (the_balloon == b) {
        the_balloon = NULL;
    }
    g_clear_pointer(&b->event_timer, timer_free);
    g_clear_pointer(&b->stats_timer, timer_free);
    virtio_cleanup(&b->vdev);
}

#define VIRTIO_BALLOON_PROPS(type, field)                                   \
    PROP_BOOL("free-page-reporting", type, field.free_page_reporting,       \
              false, "on/off: the guest reports free pages, which the "     \
              "host takes back"),                                           \
    PROP_BOOL("deflate-on-oom", type, field.deflate_on_oom, false,          \
              "on/off: the guest may deflate when it runs out of memory")

/* --- the monitor --- */

/* By tag (5.5.6.3), QEMU's names. */
static const char *const balloon_stat_names[] = {
    "stat-swap-in", "stat-swap-out", "stat-major-faults",
    "stat-minor-faults", "stat-free-memory", "stat-total-memory",
    "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
    "stat-htlb-pgfail",
};

static VirtIOBalloon *balloon_of(Device *dev);

/* qom-get guest-stats: what the guest sent last, -1 for what it did not. */
static json_t *balloon_get_stats(Device *dev)
{
    VirtIOBalloon *b = balloon_of(dev);
    json_t *stats = json_object();

    for (size_t i = 0; i < G_N_ELEMENTS(balloon_stat_names); i++) {
        json_object_set_new(stats, balloon_stat_names[i],
                            json_integer(b->stats_valid[i]
                                         ? (json_int_t)b->stats[i] : -1));
    }
    return json_pack("{s:o, s:I}", "stats", stats, "last-update",
                     (json_int_t)b->stats_last_update);
}

static json_t *balloon_get_interval(Device *dev)
{
    return json_integer(balloon_of(dev)->stats_interval);
}

/* qom-set guest-stats-polling-interval: seconds, 0 stops polling. */
static bool balloon_set_interval(Device *dev, json_t *value, GError **errp)
{
    VirtIOBalloon *b = balloon_of(dev);

    if (!json_is_integer(value)) {
        g_set_error(errp, VIREO_ERROR, 0, "Invalid parameter type for "
                    "'guest-stats-polling-interval', expected: integer");
        return false;
    }
    json_int_t v = json_integer_value(value);
    if (v < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "timer value must be greater than zero");
        return false;
    }
    if (v > UINT32_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "timer value is too big");
        return false;
    }
    b->stats_interval = v;
    balloon_stats_arm(b);
    return true;
}

static const DynProperty virtio_balloon_dyn_props[] = {
    { "guest-stats", "any", balloon_get_stats, NULL, NULL },
    { "guest-stats-polling-interval", "int", balloon_get_interval,
      balloon_set_interval, "seconds between statistics requests to the "
      "guest, 0 for none" },
    { NULL },
};

/* QEMU's error when there is no balloon (of class KVMMissingCap). */
static VirtIOBalloon *balloon_find(GError **errp)
{
    if (!the_balloon) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_KVM_MISSING_CAP,
                    "No balloon device has been activated");
    }
    return the_balloon;
}

/*
 * balloon {"value": bytes}: the memory the guest should be left with,
 * capped to its RAM; the guest inflates or deflates towards it.
 */
static json_t *qmp_balloon(json_t *args, GError **errp)
{
    VirtIOBalloon *b = balloon_find(errp);
    json_int_t value = json_integer_value(json_object_get(args, "value"));

    if (!b) {
        return NULL;
    }
    if (value <= 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter 'target' expects a size");
        return NULL;
    }
    uint64_t target = MIN((uint64_t)value, ram_size_of(b));
    b->num_pages = (ram_size_of(b) - target) >> BALLOON_PFN_SHIFT;
    virtio_notify_config(&b->vdev);
    return json_object();
}
QMP_COMMAND("balloon", qmp_balloon)

static json_t *qmp_query_balloon(json_t *args, GError **errp)
{
    VirtIOBalloon *b = balloon_find(errp);

    if (!b) {
        return NULL;
    }
    return json_pack("{s:I}", "actual", (json_int_t)balloon_actual_bytes(b));
}
QMP_COMMAND("query-balloon", qmp_query_balloon)

/* --- migration --- */

/* The target is ours: a stream's must be one this machine can ask for. */
static bool balloon_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIOBalloon *b = opaque;

    if ((uint64_t)b->num_pages > ram_size_of(b) >> BALLOON_PFN_SHIFT) {
        g_set_error(errp, VIREO_ERROR, 0, "balloon target of %u pages is "
                    "more than the guest's RAM", b->num_pages);
        return false;
    }
    return true;
}

static const VMStateField virtio_balloon_fields[] = {
    VMSTATE_UINT32(num_pages, VirtIOBalloon),
    VMSTATE_UINT32(actual, VirtIOBalloon),
    VMSTATE_END_OF_LIST(),
};

/* QEMU's virtio-balloon-device fields; the virtio device is the transport's. */
static const VMStateDescription vmstate_virtio_balloon = {
    .name = "virtio-balloon",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_balloon_fields,
    .post_load = balloon_post_load,
};

/* --- virtio-balloon-device: on a virtio-mmio transport --- */

typedef struct VirtIOBalloonDevice {
    Device parent;
    VirtIOBalloon balloon;
} VirtIOBalloonDevice;

static bool virtio_balloon_device_realize(Device *dev, Machine *m,
                                          GError **errp)
{
    VirtIOBalloonDevice *s = (VirtIOBalloonDevice *)dev;

    if (!balloon_init(&s->balloon, m, errp)) {
        return false;
    }
    if (!virtio_mmio_plug(m, &s->balloon.vdev, dev->cls->name, errp)) {
        balloon_fini(&s->balloon);
        return false;
    }
    return true;
}

static void virtio_balloon_device_unrealize(Device *dev)
{
    VirtIOBalloonDevice *s = (VirtIOBalloonDevice *)dev;

    virtio_mmio_unplug(&s->balloon.vdev);
    balloon_fini(&s->balloon);
}

static const VMStateField virtio_balloon_device_fields[] = {
    VMSTATE_STRUCT(balloon, VirtIOBalloonDevice, vmstate_virtio_balloon,
                   VirtIOBalloon),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_balloon_device = {
    .name = "virtio-balloon-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_balloon_device_fields,
};

static const Property virtio_balloon_device_props[] = {
    VIRTIO_BALLOON_PROPS(VirtIOBalloonDevice, balloon),
    PROP_END,
};

static DeviceClass virtio_balloon_device_class = {
    .name = "virtio-balloon-device",
    .desc = "virtio memory balloon (virtio-mmio)",
    .bus = VIRTIO_MMIO_BUS,
    .instance_size = sizeof(VirtIOBalloonDevice),
    .props = virtio_balloon_device_props,
    .dyn_props = virtio_balloon_dyn_props,
    .user_creatable = true,
    .realize = virtio_balloon_device_realize,
    .unrealize = virtio_balloon_device_unrealize,
    .vmsd = &vmstate_virtio_balloon_device,
};
DEVICE_REGISTER(virtio_balloon_device_class)

/* --- virtio-balloon-pci --- */

typedef struct VirtIOBalloonPCI {
    VirtIOPCIProxy proxy;
    VirtIOBalloon balloon;
} VirtIOBalloonPCI;

static bool virtio_balloon_pci_realize(Device *dev, Machine *m,
                                       GError **errp)
{
    VirtIOBalloonPCI *s = (VirtIOBalloonPCI *)dev;

    if (!balloon_init(&s->balloon, m, errp)) {
        return false;
    }
    /* PCI_CLASS_OTHERS, as QEMU's */
    if (!virtio_pci_plug(&s->proxy, &s->balloon.vdev, m, 0x00ff00, errp)) {
        balloon_fini(&s->balloon);
        return false;
    }
    return true;
}

static void virtio_balloon_pci_reset(Device *dev)
{
    virtio_pci_reset(&((VirtIOBalloonPCI *)dev)->proxy);
}

static void virtio_balloon_pci_unrealize(Device *dev)
{
    VirtIOBalloonPCI *s = (VirtIOBalloonPCI *)dev;

    virtio_pci_unplug(&s->proxy);
    balloon_fini(&s->balloon);
}

static const VMStateField virtio_balloon_pci_fields[] = {
    VMSTATE_STRUCT(proxy, VirtIOBalloonPCI, vmstate_virtio_pci,
                   VirtIOPCIProxy),
    VMSTATE_STRUCT(balloon, VirtIOBalloonPCI, vmstate_virtio_balloon,
                   VirtIOBalloon),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_balloon_pci = {
    .name = "virtio-balloon-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_balloon_pci_fields,
};

static const Property virtio_balloon_pci_props[] = {
    VIRTIO_PCI_PROPS(VirtIOBalloonPCI, proxy),
    VIRTIO_BALLOON_PROPS(VirtIOBalloonPCI, balloon),
    PROP_END,
};

static DeviceClass virtio_balloon_pci_class = {
    .name = "virtio-balloon-pci",
    .alias = "virtio-balloon",
    .desc = "virtio memory balloon (PCI)",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(VirtIOBalloonPCI),
    .props = virtio_balloon_pci_props,
    .dyn_props = virtio_balloon_dyn_props,
    .user_creatable = true,
    .realize = virtio_balloon_pci_realize,
    .reset = virtio_balloon_pci_reset,
    .unrealize = virtio_balloon_pci_unrealize,
    .vmsd = &vmstate_virtio_balloon_pci,
};
DEVICE_REGISTER(virtio_balloon_pci_class)

static VirtIOBalloon *balloon_of(Device *dev)
{
    if (dev->cls == &virtio_balloon_pci_class) {
        return &((VirtIOBalloonPCI *)dev)->balloon;
    }
    return &((VirtIOBalloonDevice *)dev)->balloon;
}
