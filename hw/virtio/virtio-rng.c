/*
 * virtio entropy device (virtio 1.2 section 5.4): one request queue whose
 * device-writable buffers are filled from the host's getrandom(2), with
 * QEMU's optional rate limit (max-bytes per period milliseconds).
 * virtio-rng-device puts it on a virtio-mmio transport, virtio-rng-pci on
 * PCI.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio-rng.h"
#include "migration/vmstate.h"
#include "system/timer.h"
#include "util/log.h"
#include "util/opts.h"

#define RNG_QUEUE_SIZE  64

/* Fills buf from the host's random source; false on failure. */
static bool host_random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_error_once("virtio-rng: getrandom: %s", g_strerror(errno));
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

static bool rate_limited(VirtIORNG *rng)
{
    return rng->max_bytes < INT64_MAX;
}

static void rng_refill(void *opaque);

/* Starts a rate-limit period at the first byte handed out in it. */
static void period_start(VirtIORNG *rng)
{
    if (!rng->timer) {
        rng->timer = timer_new(CLK_VIRTUAL, rng_refill, rng);
    }
    if (!timer_pending(rng->timer)) {
        timer_mod(rng->timer, clock_get_ns(CLK_VIRTUAL) +
                  (int64_t)rng->period_ms * 1000000);
    }
}

static void rng_process(VirtIORNG *rng, VirtQueue *vq)
{
    VirtQueueElement *elem;
    bool pushed = false;

    while ((!rate_limited(rng) || rng->quota) && (elem = virtq_pop(vq))) {
        size_t len = elem->in_len;
        if (rate_limited(rng)) {
            period_start(rng);
            len = MIN(len, rng->quota);
            rng->quota -= len;
        }
        size_t done = 0;
        for (unsigned i = 0; i < elem->in_num && done < len; i++) {
            size_t n = MIN(elem->in_sg[i].iov_len, len - done);
            if (!host_random(elem->in_sg[i].iov_base, n)) {
                break;
            }
            done += n;
        }
        virtq_push(vq, elem, done);
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

static void rng_refill(void *opaque)
{
    VirtIORNG *rng = opaque;

    rng->quota = rng->max_bytes;
    if (rng->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) {
        rng_process(rng, &rng->vdev.vq[0]);
    }
}

static void rng_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    rng_process((VirtIORNG *)vdev, vq);
}

static void rng_reset(VirtIODevice *vdev)
{
    VirtIORNG *rng = (VirtIORNG *)vdev;

    if (rng->timer) {
        timer_del(rng->timer);
    }
    rng->quota = rng->max_bytes;
}

static const VirtioDeviceOps virtio_rng_ops = {
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max_size = RNG_QUEUE_SIZE,
    .handle_queue = rng_handle_queue,
    .reset = rng_reset,
};

bool virtio_rng_init(VirtIORNG *rng, Machine *m, GError **errp)
{
    if (rng->period_ms == 0) {
        g_set_error(errp, VIREO_ERROR, 0, "period must be at least 1 ms");
        return false;
    }
    if (rng->max_bytes == 0) {
        g_set_error(errp, VIREO_ERROR, 0, "max-bytes must be at least 1");
        return false;
    }
    virtio_init(&rng->vdev, &virtio_rng_ops, "virtio-rng", &m->as_mem);
    rng->quota = rng->max_bytes;
    return true;
}

void virtio_rng_fini(VirtIORNG *rng)
{
    if (rng->timer) {
        timer_free(rng->timer);
        rng->timer = NULL;
    }
    virtio_cleanup(&rng->vdev);
}

/* --- migration --- */

/* Beyond this a CLK_VIRTUAL deadline is no time a machine reaches. */
#define RNG_MAX_NS      (INT64_C(1) << 62)

static bool rng_pre_save(void *opaque, GError **errp)
{
    VirtIORNG *rng = opaque;

    rng->vms_refill = rng->timer && timer_pending(rng->timer)
                      ? timer_expire_time(rng->timer) : -1;
    return true;
}

/*
 * The quota is refilled by the timer, which runs whenever it is short
 * (the first byte of a period arms it): a stream without one would stop
 * the guest's entropy for good.
 */
static bool rng_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIORNG *rng = opaque;

    if (rng->vms_refill < -1 || rng->vms_refill >= RNG_MAX_NS) {
        g_set_error(errp, VIREO_ERROR, 0, "refill deadline %" G_GINT64_FORMAT
                    " is out of range", rng->vms_refill);
        return false;
    }
    if (rng->quota > rng->max_bytes) {
        g_set_error(errp, VIREO_ERROR, 0, "quota %" G_GUINT64_FORMAT " is "
                    "over max-bytes %" G_GUINT64_FORMAT, rng->quota,
                    rng->max_bytes);
        return false;
    }
    if (rng->quota < rng->max_bytes && rng->vms_refill < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "quota %" G_GUINT64_FORMAT " is "
                    "short of max-bytes %" G_GUINT64_FORMAT " with no refill "
                    "due", rng->quota, rng->max_bytes);
        return false;
    }
    if (rng->vms_refill >= 0) {
        if (!rng->timer) {
            rng->timer = timer_new(CLK_VIRTUAL, rng_refill, rng);
        }
        timer_mod(rng->timer, rng->vms_refill);
    } else if (rng->timer) {
        timer_del(rng->timer);
    }
    return true;
}

static const VMStateField virtio_rng_fields[] = {
    VMSTATE_UINT64(quota, VirtIORNG),
    { .name = "refill_deadline", .kind = VMS_INT64,
      .offset = offsetof(VirtIORNG, vms_refill), .size = 8, .num = 1,
      .version_id = 1 },
    VMSTATE_END_OF_LIST(),
};

/* The rate limit's state; the virtio device is the transport's to save. */
static const VMStateDescription vmstate_virtio_rng = {
    .name = "virtio-rng",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_rng_fields,
    .pre_save = rng_pre_save,
    .post_load = rng_post_load,
};

/* --- virtio-rng-device: on a virtio-mmio transport --- */

typedef struct VirtIORNGDevice {
    Device parent;
    VirtIORNG rng;
} VirtIORNGDevice;

static bool virtio_rng_device_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIORNGDevice *s = (VirtIORNGDevice *)dev;

    if (!virtio_rng_init(&s->rng, m, errp)) {
        return false;
    }
    if (!virtio_mmio_plug(m, &s->rng.vdev, dev->cls->name, errp)) {
        virtio_rng_fini(&s->rng);
        return false;
    }
    return true;
}

static void virtio_rng_device_unrealize(Device *dev)
{
    VirtIORNGDevice *s = (VirtIORNGDevice *)dev;

    virtio_mmio_unplug(&s->rng.vdev);
    virtio_rng_fini(&s->rng);
}

static const VMStateField virtio_rng_device_fields[] = {
    VMSTATE_STRUCT(rng, VirtIORNGDevice, vmstate_virtio_rng, VirtIORNG),
    VMSTATE_END_OF_LIST(),
};

/* The virtio device itself is in its virtio-mmio transport's section. */
static const VMStateDescription vmstate_virtio_rng_device = {
    .name = "virtio-rng-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_rng_device_fields,
};

static const Property virtio_rng_device_props[] = {
    VIRTIO_RNG_PROPS(VirtIORNGDevice, rng),
    PROP_END,
};

static DeviceClass virtio_rng_device_class = {
    .name = "virtio-rng-device",
    .desc = "virtio entropy device (virtio-mmio)",
    .bus = VIRTIO_MMIO_BUS,
    .instance_size = sizeof(VirtIORNGDevice),
    .props = virtio_rng_device_props,
    .user_creatable = true,
    .realize = virtio_rng_device_realize,
    .unrealize = virtio_rng_device_unrealize,
    .vmsd = &vmstate_virtio_rng_device,
};
DEVICE_REGISTER(virtio_rng_device_class)

/* --- virtio-rng-pci --- */

typedef struct VirtIORNGPCI {
    VirtIOPCIProxy proxy;
    VirtIORNG rng;
} VirtIORNGPCI;

static bool virtio_rng_pci_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIORNGPCI *s = (VirtIORNGPCI *)dev;

    if (!virtio_rng_init(&s->rng, m, errp)) {
        return false;
    }
    if (!virtio_pci_plug(&s->proxy, &s->rng.vdev, m, 0x00ff00, errp)) {
        virtio_rng_fini(&s->rng);
        return false;
    }
    return true;
}

static void virtio_rng_pci_reset(Device *dev)
{
    virtio_pci_reset(&((VirtIORNGPCI *)dev)->proxy);
}

static void virtio_rng_pci_unrealize(Device *dev)
{
    VirtIORNGPCI *s = (VirtIORNGPCI *)dev;

    virtio_pci_unplug(&s->proxy);
    virtio_rng_fini(&s->rng);
}

static const VMStateField virtio_rng_pci_fields[] = {
    VMSTATE_STRUCT(proxy, VirtIORNGPCI, vmstate_virtio_pci, VirtIOPCIProxy),
    VMSTATE_STRUCT(rng, VirtIORNGPCI, vmstate_virtio_rng, VirtIORNG),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_rng_pci = {
    .name = "virtio-rng-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_rng_pci_fields,
};

static const Property virtio_rng_pci_props[] = {
    VIRTIO_PCI_PROPS(VirtIORNGPCI, proxy),
    VIRTIO_RNG_PROPS(VirtIORNGPCI, rng),
    PROP_END,
};

static DeviceClass virtio_rng_pci_class = {
    .name = "virtio-rng-pci",
    .desc = "virtio entropy device (PCI)",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(VirtIORNGPCI),
    .props = virtio_rng_pci_props,
    .user_creatable = true,
    .realize = virtio_rng_pci_realize,
    .reset = virtio_rng_pci_reset,
    .unrealize = virtio_rng_pci_unrealize,
    .vmsd = &vmstate_virtio_rng_pci,
};
DEVICE_REGISTER(virtio_rng_pci_class)
