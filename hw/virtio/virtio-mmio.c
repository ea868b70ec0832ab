/*
 * virtio-mmio transport, version 2 (virtio 1.2 section 4.2). A transport
 * with no device plugged in answers with DeviceID 0, which drivers skip
 * (4.2.3.1.1), as a board's empty slot. While the driver runs, QueueNotify
 * writes signal the queues' eventfds (under KVM without leaving the
 * kernel) unless the property ioeventfd is off.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/opts.h"

typedef struct VirtioMMIO {
    Device parent;
    uint64_t addr;          /* property "addr" */
    uint32_t gsi;           /* property "irq" */
    bool ioeventfd;         /* property "ioeventfd" */
    MemoryRegion mr;
    bool mapped;
    IRQLine *irq;
    VirtIODevice *vdev;     /* NULL: empty slot */
    uint32_t device_features_sel;
    uint32_t driver_features_sel;
    uint32_t queue_sel;
    uint32_t shm_sel;
    bool vdev_loaded;       /* migration: the stream had the device's state */
} VirtioMMIO;

static DeviceClass virtio_mmio_class;

static void update_irq(VirtioMMIO *s)
{
    irq_set(s->irq, s->vdev && s->vdev->isr != 0);
}

static void mmio_notify(VirtIODevice *vdev, VirtQueue *vq)
{
    update_irq(vdev->transport);
}

/*
 * DRIVER_OK: each ready queue's notification (4.2.2: without
 * VIRTIO_F_NOTIFICATION_DATA, its index written to QueueNotify) goes to
 * its eventfd, where the accelerator takes such writes in the kernel.
 * A device on an I/O thread (vdev->ctx) uses them under any accelerator:
 * the software CPU's dispatch signals the eventfd, and the vCPU goes on
 * while the I/O thread handles the queue.
 */
static void start_ioeventfd(VirtioMMIO *s)
{
    VirtIODevice *vdev = s->vdev;

    if (!s->ioeventfd ||
        !(s->parent.machine->accel->ioeventfds || vdev->ctx)) {
        return;
    }
    memory_transaction_begin();
    for (unsigned i = 0; i < vdev->ops->num_queues; i++) {
        g_autoptr(GError) err = NULL;
        if (!vdev->vq[i].ready) {
            continue;
        }
        if (!virtio_queue_set_host_notifier(vdev, i, &s->mr,
                                            VIRTIO_MMIO_QUEUE_NOTIFY, 4,
                                            true, i, true, &err)) {
            /* the register callback still takes the kicks */
            log_error_once("virtio-mmio: %s", err->message);
        }
    }
    memory_transaction_commit();
}

static VirtQueue *selected_queue(VirtioMMIO *s)
{
    if (s->queue_sel >= s->vdev->ops->num_queues) {
        return NULL;
    }
    return &s->vdev->vq[s->queue_sel];
}

static uint64_t reg_read(VirtioMMIO *s, hwaddr addr)
{
    VirtIODevice *vdev = s->vdev;
    VirtQueue *vq;

    switch (addr) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION: return 2;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_ID: return vdev ? vdev->ops->device_id : 0;
    }
    if (!vdev) {
        return 0;
    }
    switch (addr) {
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return virtio_get_device_features(vdev, s->device_features_sel);
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        vq = selected_queue(s);
        return vq ? vq->num_max : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        vq = selected_queue(s);
        return vq ? vq->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return vdev->isr;
    case VIRTIO_MMIO_STATUS:
        return vdev->status;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
        return 0xffffffff;      /* 4.2.2: no shared memory region */
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return vdev->config_generation;
    }
    log_guest_error("virtio-mmio@0x%" G_GINT64_MODIFIER "x: read of "
                    "register 0x%" G_GINT64_MODIFIER "x\n", s->addr, addr);
    return 0;
}

/* 64-bit queue addresses written as two halves. */
static void set_half(hwaddr *field, bool high, uint32_t val)
{
    if (high) {
        *field = (*field & 0xffffffffULL) | (uint64_t)val << 32;
    } else {
        *field = (*field & ~0xffffffffULL) | val;
    }
}

static void queue_write(VirtioMMIO *s, hwaddr addr, uint32_t val)
{
    VirtQueue *vq = selected_queue(s);

    if (!vq) {
        log_guest_error("virtio-mmio: queue %u does not exist\n", s->queue_sel);
        return;
    }
    if (addr == VIRTIO_MMIO_QUEUE_READY) {
        virtio_queue_set_ready(s->vdev, s->queue_sel, val & 1);
        return;
    }
    if (vq->ready) {
        /* 4.2.3.2: the driver sets these up while the queue is not ready */
        log_guest_error("virtio-mmio: queue %u set up while ready\n",
                        s->queue_sel);
        return;
    }
    switch (addr) {
    case VIRTIO_MMIO_QUEUE_NUM:
        vq->num = val > UINT16_MAX ? 0 : val;   /* checked at QueueReady */
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        set_half(&vq->desc, addr == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        set_half(&vq->avail, addr == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, val);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        set_half(&vq->used, addr == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, val);
        break;
    }
}

static void reg_write(VirtioMMIO *s, hwaddr addr, uint32_t val)
{
    VirtIODevice *vdev = s->vdev;

    if (!vdev) {
        return;
    }
    switch (addr) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        s->device_features_sel = val;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        virtio_set_driver_features(vdev, s->driver_features_sel, val);
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        s->driver_features_sel = val;
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        s->queue_sel = val;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_READY:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        queue_write(s, addr, val);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        /* 4.2.2: without VIRTIO_F_NOTIFICATION_DATA, the queue index */
        virtio_queue_notify(vdev, val & 0xffff);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        virtio_isr_ack(vdev, val);
        update_irq(s);
        break;
    case VIRTIO_MMIO_STATUS: {
        bool was_running = vdev->status & VIRTIO_CONFIG_S_DRIVER_OK;
        bool running = val & VIRTIO_CONFIG_S_DRIVER_OK;
        if (was_running && !running) {
            virtio_device_stop_host_notifiers(vdev);
        }
        virtio_set_status(vdev, val);
        if (val == 0) {
            s->device_features_sel = s->driver_features_sel = 0;
            s->queue_sel = s->shm_sel = 0;
        }
        if (!was_running && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
            start_ioeventfd(s);
        }
        update_irq(s);
        break;
    }
    case VIRTIO_MMIO_SHM_SEL:
        s->shm_sel = val;
        break;
    default:
        log_guest_error("virtio-mmio@0x%" G_GINT64_MODIFIER "x: write of "
                        "register 0x%" G_GINT64_MODIFIER "x\n", s->addr, addr);
    }
}

static uint64_t mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    VirtioMMIO *s = opaque;

    if (addr >= VIRTIO_MMIO_CONFIG) {
        return s->vdev ? virtio_config_read(s->vdev, addr - VIRTIO_MMIO_CONFIG,
                                            size)
                       : 0;
    }
    if (size != 4 || (addr & 3)) {
        log_guest_error("virtio-mmio: %u-byte read at 0x%" G_GINT64_MODIFIER
                        "x\n", size, addr);
        return 0;
    }
    return reg_read(s, addr);
}

static void mmio_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    VirtioMMIO *s = opaque;

    if (addr >= VIRTIO_MMIO_CONFIG) {
        if (s->vdev) {
            virtio_config_write(s->vdev, addr - VIRTIO_MMIO_CONFIG, size, val);
        }
        return;
    }
    if (size != 4 || (addr & 3)) {
        log_guest_error("virtio-mmio: %u-byte write at 0x%" G_GINT64_MODIFIER
                        "x\n", size, addr);
        return;
    }
    reg_write(s, addr, val);
}

static const MemoryRegionOps mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
    .impl_min = 1,
    .impl_max = 4,
};

bool virtio_mmio_plug(Machine *m, VirtIODevice *vdev, const char *what,
                      GError **errp)
{
    for (Device *d = m->devices; d; d = d->next) {
        VirtioMMIO *s = (VirtioMMIO *)d;
        if (d->cls != &virtio_mmio_class || s->vdev) {
            continue;
        }
        s->vdev = vdev;
        vdev->transport = s;
        vdev->notify = mmio_notify;
        vdev->notify_reset = NULL;
        return true;
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "%s: no free virtio-mmio slot (virtio-mmio devices need the "
                "microvm machine, which has a limited number of slots)", what);
    return false;
}

void virtio_mmio_unplug(VirtIODevice *vdev)
{
    VirtioMMIO *s = vdev->transport;

    if (s) {
        virtio_device_stop_host_notifiers(vdev);
        s->vdev = NULL;
        irq_set(s->irq, 0);
        vdev->transport = NULL;
        vdev->notify = NULL;
    }
}

bool virtio_mmio_get_slot(const Device *dev, uint64_t *addr, unsigned *gsi)
{
    const VirtioMMIO *s = (const VirtioMMIO *)dev;

    if (dev->cls != &virtio_mmio_class) {
        return false;
    }
    *addr = s->addr;
    *gsi = s->gsi;
    return true;
}

char *virtio_mmio_cmdline_param(uint64_t addr, unsigned gsi)
{
    return g_strdup_printf("virtio_mmio.device=%u@0x%" G_GINT64_MODIFIER
                           "x:%u", VIRTIO_MMIO_SIZE, addr, gsi);
}

static bool virtio_mmio_realize(Device *dev, Machine *m, GError **errp)
{
    VirtioMMIO *s = (VirtioMMIO *)dev;

    if (s->gsi >= X86_NUM_GSI) {
        g_set_error(errp, VIREO_ERROR, 0, "irq %u is not a GSI (0..%d)",
                    s->gsi, X86_NUM_GSI - 1);
        return false;
    }
    s->irq = &m->gsi[s->gsi];
    memory_region_init_io(&s->mr, "virtio-mmio", &mmio_ops, s,
                          VIRTIO_MMIO_SIZE);
    memory_region_add_subregion(m->sysmem, s->addr, &s->mr);
    s->mapped = true;
    return true;
}

/* Machine reset: the device behind us goes back to status 0. */
static void virtio_mmio_reset(Device *dev)
{
    VirtioMMIO *s = (VirtioMMIO *)dev;

    s->device_features_sel = s->driver_features_sel = 0;
    s->queue_sel = s->shm_sel = 0;
    if (s->vdev) {
        virtio_device_stop_host_notifiers(s->vdev);
        virtio_reset(s->vdev);
    }
    irq_set(s->irq, 0);
}

static void virtio_mmio_unrealize(Device *dev)
{
    VirtioMMIO *s = (VirtioMMIO *)dev;

    if (s->vdev) {
        virtio_mmio_unplug(s->vdev);
    }
    if (s->mapped) {
        memory_region_del_subregion(dev->machine->sysmem, &s->mr);
        memory_region_destroy(&s->mr);
        s->mapped = false;
    }
}

/* ---- migration ---- */

static bool mmio_pre_load(void *opaque, GError **errp)
{
    ((VirtioMMIO *)opaque)->vdev_loaded = false;
    return true;
}

/*
 * The device behind the transport is loaded (its subsection comes before
 * this): bring the interrupt line and the notifiers in line with it.
 */
static bool mmio_post_load(void *opaque, int version_id, GError **errp)
{
    VirtioMMIO *s = opaque;

    if (s->vdev && !s->vdev_loaded) {
        g_set_error(errp, VIREO_ERROR, 0, "%s is plugged into the transport "
                    "at 0x%" G_GINT64_MODIFIER "x, but the stream has no "
                    "device there", s->vdev->name, s->addr);
        return false;
    }
    if (s->vdev) {
        /* as a status write: the notifiers are on while DRIVER_OK */
        virtio_device_stop_host_notifiers(s->vdev);
        if (s->vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) {
            start_ioeventfd(s);
        }
    }
    update_irq(s);
    return true;
}

static bool mmio_device_needed(void *opaque)
{
    return ((VirtioMMIO *)opaque)->vdev != NULL;
}

static bool mmio_device_pre_load(void *opaque, GError **errp)
{
    VirtioMMIO *s = opaque;

    if (!s->vdev) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has a device on the "
                    "transport at 0x%" G_GINT64_MODIFIER "x, which is empty "
                    "here", s->addr);
        return false;
    }
    s->vdev_loaded = true;
    return true;
}

static const VMStateField mmio_device_fields[] = {
    VMSTATE_STRUCT_POINTER(vdev, VirtioMMIO, vmstate_virtio_device,
                           VirtIODevice),
    VMSTATE_END_OF_LIST(),
};

/* The plugged-in device's transport-independent state. */
static const VMStateDescription vmstate_virtio_mmio_device = {
    .name = "virtio-mmio/device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = mmio_device_fields,
    .needed = mmio_device_needed,
    .pre_load = mmio_device_pre_load,
};

static const VMStateField virtio_mmio_fields[] = {
    VMSTATE_UINT32(device_features_sel, VirtioMMIO),
    VMSTATE_UINT32(driver_features_sel, VirtioMMIO),
    VMSTATE_UINT32(queue_sel, VirtioMMIO),
    VMSTATE_UINT32(shm_sel, VirtioMMIO),
    VMSTATE_END_OF_LIST(),
};

/*
 * The selectors (any value: each is checked where it is used), and the
 * state of the device plugged in, if any; its device-specific state is in
 * the section of the device itself (virtio-rng-device, ...), which comes
 * later as the device was created after its transport.
 */
static const VMStateDescription vmstate_virtio_mmio = {
    .name = TYPE_VIRTIO_MMIO,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_mmio_fields,
    .pre_load = mmio_pre_load,
    .post_load = mmio_post_load,
    .subsections = (const VMStateDescription *const[]) {
        &vmstate_virtio_mmio_device,
        NULL,
    },
};

static const Property virtio_mmio_props[] = {
    PROP_U64("addr", VirtioMMIO, addr, 0, "guest physical base address"),
    PROP_U32("irq", VirtioMMIO, gsi, 0, "GSI of the interrupt line"),
    PROP_BOOL("ioeventfd", VirtioMMIO, ioeventfd, true,
              "QueueNotify writes signal eventfds (no exit under KVM)"),
    PROP_END,
};

static DeviceClass virtio_mmio_class = {
    .name = TYPE_VIRTIO_MMIO,
    .desc = "virtio-mmio transport (version 2)",
    .bus = "sys",
    .instance_size = sizeof(VirtioMMIO),
    .props = virtio_mmio_props,
    .realize = virtio_mmio_realize,
    .reset = virtio_mmio_reset,
    .unrealize = virtio_mmio_unrealize,
    .vmsd = &vmstate_virtio_mmio,
};

DEVICE_REGISTER(virtio_mmio_class)
