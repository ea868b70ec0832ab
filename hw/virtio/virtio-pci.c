/*
 * virtio over PCI, modern interface (virtio 1.2 section 4.1): the
 * structures of BAR 4 (common configuration, ISR, device configuration,
 * notifications), the vendor capabilities that point at them, the
 * PCI_CFG access window, and interrupts by MSI-X vector or INTx.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-pci.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/opts.h"

/* The fields of the common configuration, each accessed at its width. */
static unsigned common_field_width(hwaddr addr)
{
    switch (addr) {
    case VIRTIO_PCI_COMMON_STATUS:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return 1;
    case VIRTIO_PCI_COMMON_MSIX:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_Q_SELECT:
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_NOFF:
    case VIRTIO_PCI_COMMON_Q_NDATA:
    case VIRTIO_PCI_COMMON_Q_RESET:
        return 2;
    case VIRTIO_PCI_COMMON_DFSELECT:
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_GFSELECT:
    case VIRTIO_PCI_COMMON_GF:
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return 4;
    }
    return 0;
}

/* 4.1.4.3.2: the driver accesses each field at its own width. */
static bool common_access_ok(VirtIOPCIProxy *p, hwaddr addr, unsigned size)
{
    if (common_field_width(addr) == size) {
        return true;
    }
    log_guest_error("%s: %u-byte access to common configuration offset "
                    "0x%" G_GINT64_MODIFIER "x\n", p->vdev->name, size, addr);
    return false;
}

static VirtQueue *selected_queue(VirtIOPCIProxy *p)
{
    if (p->queue_sel >= p->vdev->ops->num_queues) {
        return NULL;
    }
    return &p->vdev->vq[p->queue_sel];
}

static uint32_t queue_read(VirtIOPCIProxy *p, hwaddr addr)
{
    VirtQueue *vq = selected_queue(p);

    if (!vq) {
        return 0;       /* queue_size 0: the queue does not exist */
    }
    switch (addr) {
    case VIRTIO_PCI_COMMON_Q_SIZE: return vq->num;
    case VIRTIO_PCI_COMMON_Q_MSIX: return p->queue_vector[p->queue_sel];
    case VIRTIO_PCI_COMMON_Q_ENABLE: return vq->ready;
    case VIRTIO_PCI_COMMON_Q_NOFF: return p->queue_sel;
    case VIRTIO_PCI_COMMON_Q_DESCLO: return vq->desc;
    case VIRTIO_PCI_COMMON_Q_DESCHI: return vq->desc >> 32;
    case VIRTIO_PCI_COMMON_Q_AVAILLO: return vq->avail;
    case VIRTIO_PCI_COMMON_Q_AVAILHI: return vq->avail >> 32;
    case VIRTIO_PCI_COMMON_Q_USEDLO: return vq->used;
    case VIRTIO_PCI_COMMON_Q_USEDHI: return vq->used >> 32;
    }
    return 0;           /* queue_notify_data, queue_reset: not offered */
}

/*
 * DRIVER_OK: each ready queue's notification (its index written at its
 * queue_notify_off) goes to its eventfd, so under KVM a kick does not
 * leave the kernel. Other accelerators take kicks in the notify region's
 * callback, unless the device runs its queues on an I/O thread
 * (vdev->ctx): then the software CPU's dispatch signals the eventfd and
 * the vCPU goes on while the I/O thread handles the queue.
 */
static void start_ioeventfd(VirtIOPCIProxy *p)
{
    VirtIODevice *vdev = p->vdev;

    if (!p->ioeventfd ||
        !(p->pci.qdev.machine->accel->ioeventfds || vdev->ctx)) {
        return;
    }
    memory_transaction_begin();
    for (unsigned i = 0; i < vdev->ops->num_queues; i++) {
        g_autoptr(GError) err = NULL;
        if (vdev->vq[i].ready &&
            !virtio_queue_set_host_notifier(vdev, i, &p->notify,
                                            i * VIRTIO_PCI_NOTIFY_MULT, 2,
                                            true, i, true, &err)) {
            /* the notify region's callback still takes the kicks */
            log_error_once("%s: %s", vdev->name, err->message);
        }
    }
    memory_transaction_commit();
}

static void status_write(VirtIOPCIProxy *p, uint8_t val)
{
    VirtIODevice *vdev = p->vdev;
    bool was_running = vdev->status & VIRTIO_CONFIG_S_DRIVER_OK;

    if (was_running && !(val & VIRTIO_CONFIG_S_DRIVER_OK)) {
        virtio_device_stop_host_notifiers(vdev);
    }
    virtio_set_status(vdev, val);   /* 0: resets, see transport_reset */
    if (!was_running && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        start_ioeventfd(p);
    }
}

static uint64_t common_read(void *opaque, hwaddr addr, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    VirtIODevice *vdev = p->vdev;

    if (!common_access_ok(p, addr, size)) {
        return 0;
    }
    switch (addr) {
    case VIRTIO_PCI_COMMON_DFSELECT: return p->dfselect;
    case VIRTIO_PCI_COMMON_DF:
        return virtio_get_device_features(vdev, p->dfselect);
    case VIRTIO_PCI_COMMON_GFSELECT: return p->gfselect;
    case VIRTIO_PCI_COMMON_GF:
        return virtio_get_driver_features(vdev, p->gfselect);
    case VIRTIO_PCI_COMMON_MSIX: return p->config_vector;
    case VIRTIO_PCI_COMMON_NUMQ: return vdev->ops->num_queues;
    case VIRTIO_PCI_COMMON_STATUS: return vdev->status;
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return vdev->config_generation & 0xff;
    case VIRTIO_PCI_COMMON_Q_SELECT: return p->queue_sel;
    }
    return queue_read(p, addr);
}

/* A vector the function has, else NO_VECTOR, which the driver reads back. */
static uint16_t valid_vector(VirtIOPCIProxy *p, uint32_t val)
{
    return val < p->pci.msix_nvec ? val : VIRTIO_MSI_NO_VECTOR;
}

static void set_half(hwaddr *field, bool high, uint32_t val)
{
    if (high) {
        *field = (*field & 0xffffffffULL) | (uint64_t)val << 32;
    } else {
        *field = (*field & ~0xffffffffULL) | val;
    }
}

static void queue_write(VirtIOPCIProxy *p, hwaddr addr, uint32_t val)
{
    VirtQueue *vq = selected_queue(p);

    if (!vq) {
        log_guest_error("%s: queue %u does not exist\n", p->vdev->name,
                        p->queue_sel);
        return;
    }
    if (addr == VIRTIO_PCI_COMMON_Q_MSIX) {
        p->queue_vector[p->queue_sel] = valid_vector(p, val);
        return;
    }
    if (addr == VIRTIO_PCI_COMMON_Q_ENABLE) {
        /* 4.1.4.3.2: the driver MUST NOT write 0 */
        if (val == 1 && !vq->ready) {
            virtio_queue_set_ready(p->vdev, p->queue_sel, true);
        }
        return;
    }
    if (vq->ready) {
        log_guest_error("%s: queue %u set up while enabled\n", p->vdev->name,
                        p->queue_sel);
        return;
    }
    switch (addr) {
    case VIRTIO_PCI_COMMON_Q_SIZE:
        vq->num = val;          /* checked when the queue is enabled */
        break;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_DESCHI:
        set_half(&vq->desc, addr == VIRTIO_PCI_COMMON_Q_DESCHI, val);
        break;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
        set_half(&vq->avail, addr == VIRTIO_PCI_COMMON_Q_AVAILHI, val);
        break;
    case VIRTIO_PCI_COMMON_Q_USEDLO:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        set_half(&vq->used, addr == VIRTIO_PCI_COMMON_Q_USEDHI, val);
        break;
    default:
        log_guest_error("%s: write to read-only common configuration "
                        "offset 0x%" G_GINT64_MODIFIER "x\n", p->vdev->name,
                        addr);
    }
}

static void common_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    VirtIODevice *vdev = p->vdev;

    if (!common_access_ok(p, addr, size)) {
        return;
    }
    switch (addr) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        p->dfselect = val;
        break;
    case VIRTIO_PCI_COMMON_GFSELECT:
        p->gfselect = val;
        break;
    case VIRTIO_PCI_COMMON_GF:
        virtio_set_driver_features(vdev, p->gfselect, val);
        break;
    case VIRTIO_PCI_COMMON_MSIX:
        p->config_vector = valid_vector(p, val);
        break;
    case VIRTIO_PCI_COMMON_STATUS:
        status_write(p, val);
        break;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        p->queue_sel = val;
        break;
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        log_guest_error("%s: write to read-only common configuration "
                        "offset 0x%" G_GINT64_MODIFIER "x\n", vdev->name,
                        addr);
        break;
    default:
        queue_write(p, addr, val);
    }
}

static const MemoryRegionOps common_ops = {
    .read = common_read,
    .write = common_write,
    .impl_min = 1,
    .impl_max = 4,
};

static void update_intx(VirtIOPCIProxy *p)
{
    pci_irq_set(&p->pci, !pci_msix_enabled(&p->pci) && p->vdev->isr != 0);
}

/* 4.1.4.5: reading the ISR status acknowledges it and lowers INTx. */
static uint64_t isr_read(void *opaque, hwaddr addr, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    uint8_t isr = p->vdev->isr;

    if (addr != 0) {
        return 0;
    }
    virtio_isr_ack(p->vdev, isr);
    update_intx(p);
    return isr;
}

static void isr_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    VirtIOPCIProxy *p = opaque;

    log_guest_error("%s: write to the ISR status\n", p->vdev->name);
}

static const MemoryRegionOps isr_ops = {
    .read = isr_read,
    .write = isr_write,
    .impl_min = 1,
    .impl_max = 4,
};

static uint64_t device_read(void *opaque, hwaddr addr, unsigned size)
{
    VirtIOPCIProxy *p = opaque;

    return virtio_config_read(p->vdev, addr, size);
}

static void device_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    VirtIOPCIProxy *p = opaque;

    virtio_config_write(p->vdev, addr, size, val);
}

static const MemoryRegionOps device_ops = {
    .read = device_read,
    .write = device_write,
    .impl_min = 1,
    .impl_max = 4,
};

static uint64_t notify_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

/* queue_notify_off is the queue index, so the address names the queue. */
static void notify_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    VirtIOPCIProxy *p = opaque;

    virtio_queue_notify(p->vdev, addr / VIRTIO_PCI_NOTIFY_MULT);
}

static const MemoryRegionOps notify_ops = {
    .read = notify_read,
    .write = notify_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* vdev->notify: the queue's or the configuration's vector, else INTx. */
static void transport_notify(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOPCIProxy *p = vdev->transport;

    if (pci_msix_enabled(&p->pci)) {
        uint16_t vector = vq ? p->queue_vector[vq->index] : p->config_vector;
        if (vector != VIRTIO_MSI_NO_VECTOR) {
            pci_msix_notify(&p->pci, vector);
        }
        return;
    }
    update_intx(p);
}

/* vdev->notify_reset: after a device reset (status 0 or machine reset). */
static void transport_reset(VirtIODevice *vdev)
{
    VirtIOPCIProxy *p = vdev->transport;

    p->dfselect = p->gfselect = 0;
    p->queue_sel = 0;
    p->config_vector = VIRTIO_MSI_NO_VECTOR;
    for (unsigned i = 0; i < vdev->ops->num_queues; i++) {
        p->queue_vector[i] = VIRTIO_MSI_NO_VECTOR;
    }
    pci_irq_set(&p->pci, 0);
}

/* ---- the PCI configuration access window (4.1.4.9) ---- */

/* The BAR 4 access cap.offset/cap.length name, or false if malformed. */
static bool cfg_window(VirtIOPCIProxy *p, hwaddr *offset, unsigned *len)
{
    const uint8_t *cap = p->pci.config + p->cfg_cap;
    uint32_t off = pci_get_long(cap + VIRTIO_PCI_CAP_OFFSET);
    uint32_t n = pci_get_long(cap + VIRTIO_PCI_CAP_LENGTH);

    if (cap[VIRTIO_PCI_CAP_BAR] != VIRTIO_PCI_MEM_BAR ||
        (n != 1 && n != 2 && n != 4) || (off & (n - 1)) ||
        off >= VIRTIO_PCI_BAR_SIZE) {
        log_guest_error("%s: PCI_CFG window bar %u offset 0x%x length %u\n",
                        p->vdev->name, cap[VIRTIO_PCI_CAP_BAR], off, n);
        return false;
    }
    *offset = off;
    *len = n;
    return true;
}

static const MemoryRegionOps *bar_region(VirtIOPCIProxy *p, hwaddr *offset)
{
    static const MemoryRegionOps *const ops[] = {
        &common_ops, &isr_ops, &device_ops, &notify_ops,
    };
    unsigned i = *offset / VIRTIO_PCI_REGION_SIZE;

    *offset %= VIRTIO_PCI_REGION_SIZE;
    return ops[i];
}

static bool overlaps_cfg_data(VirtIOPCIProxy *p, uint32_t addr, unsigned len)
{
    uint32_t data = p->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;

    return addr < data + 4 && data < addr + len;
}

static void cfg_read(PCIDevice *d, uint32_t addr, unsigned len)
{
    VirtIOPCIProxy *p = (VirtIOPCIProxy *)d;
    hwaddr offset;
    unsigned n;

    if (!overlaps_cfg_data(p, addr, len) || !cfg_window(p, &offset, &n)) {
        return;
    }
    const MemoryRegionOps *ops = bar_region(p, &offset);
    uint32_t val = ops->read(p, offset, n);
    pci_set_long(d->config + p->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA, val);
}

static void cfg_write(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    VirtIOPCIProxy *p = (VirtIOPCIProxy *)d;
    hwaddr offset;
    unsigned n;

    if (!overlaps_cfg_data(p, addr, len) || !cfg_window(p, &offset, &n)) {
        return;
    }
    uint32_t data = pci_get_long(d->config + p->cfg_cap +
                                 VIRTIO_PCI_CFG_CAP_DATA);
    const MemoryRegionOps *ops = bar_region(p, &offset);
    ops->write(p, offset, n == 4 ? data : data & ((1u << (n * 8)) - 1), n);
}

/* ---- set-up ---- */

/* A struct virtio_pci_cap pointing at BAR 4 offset..offset+length. */
static bool add_cap(VirtIOPCIProxy *p, uint8_t type, uint8_t size,
                    uint32_t offset, uint32_t length, uint8_t *where,
                    GError **errp)
{
    uint8_t pos = pci_add_capability(&p->pci, PCI_CAP_ID_VNDR, 0, size, errp);
    uint8_t *cap = p->pci.config + pos;

    if (!pos) {
        return false;
    }
    cap[2] = size;                  /* cap_len */
    cap[VIRTIO_PCI_CAP_CFG_TYPE] = type;
    cap[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_MEM_BAR;
    pci_set_long(cap + VIRTIO_PCI_CAP_OFFSET, offset);
    pci_set_long(cap + VIRTIO_PCI_CAP_LENGTH, length);
    if (where) {
        *where = pos;
    }
    return true;
}

static bool add_caps(VirtIOPCIProxy *p, GError **errp)
{
    uint32_t config_size = p->vdev->ops->config_size;
    uint8_t notify, cfg;

    if (!add_cap(p, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_LEN,
                 VIRTIO_PCI_COMMON_OFFSET, VIRTIO_PCI_REGION_SIZE, NULL,
                 errp) ||
        !add_cap(p, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_LEN,
                 VIRTIO_PCI_ISR_OFFSET, VIRTIO_PCI_REGION_SIZE, NULL, errp) ||
        (config_size &&
         !add_cap(p, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_LEN,
                  VIRTIO_PCI_DEVICE_OFFSET, config_size, NULL, errp)) ||
        !add_cap(p, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_CAP_LEN,
                 VIRTIO_PCI_NOTIFY_OFFSET, VIRTIO_PCI_REGION_SIZE, &notify,
                 errp) ||
        !add_cap(p, VIRTIO_PCI_CAP_PCI_CFG, VIRTIO_PCI_CFG_CAP_LEN, 0, 0,
                 &cfg, errp)) {
        return false;
    }
    pci_set_long(p->pci.config + notify + VIRTIO_PCI_NOTIFY_CAP_MULT,
                 VIRTIO_PCI_NOTIFY_MULT);
    /* the window's bar, offset, length and data are the driver's */
    p->cfg_cap = cfg;
    p->pci.wmask[cfg + VIRTIO_PCI_CAP_BAR] = 0xff;
    memset(p->pci.wmask + cfg + VIRTIO_PCI_CAP_OFFSET, 0xff, 12);
    return true;
}

static void init_bar(VirtIOPCIProxy *p)
{
    struct {
        MemoryRegion *mr;
        const char *name;
        const MemoryRegionOps *ops;
        hwaddr offset;
    } regions[] = {
        { &p->common, "virtio-pci-common", &common_ops,
          VIRTIO_PCI_COMMON_OFFSET },
        { &p->isr, "virtio-pci-isr", &isr_ops, VIRTIO_PCI_ISR_OFFSET },
        { &p->device, "virtio-pci-device", &device_ops,
          VIRTIO_PCI_DEVICE_OFFSET },
        { &p->notify, "virtio-pci-notify", &notify_ops,
          VIRTIO_PCI_NOTIFY_OFFSET },
    };

    memory_region_init_container(&p->bar, "virtio-pci", VIRTIO_PCI_BAR_SIZE);
    for (unsigned i = 0; i < G_N_ELEMENTS(regions); i++) {
        memory_region_init_io(regions[i].mr, regions[i].name, regions[i].ops,
                              p, VIRTIO_PCI_REGION_SIZE);
        memory_region_add_subregion(&p->bar, regions[i].offset,
                                    regions[i].mr);
    }
    pci_register_bar(&p->pci, VIRTIO_PCI_MEM_BAR,
                     PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH, &p->bar);
}

static void destroy_bar(VirtIOPCIProxy *p)
{
    MemoryRegion *subs[] = { &p->common, &p->isr, &p->device, &p->notify };

    for (unsigned i = 0; i < G_N_ELEMENTS(subs); i++) {
        memory_region_del_subregion(&p->bar, subs[i]);
        memory_region_destroy(subs[i]);
    }
    memory_region_destroy(&p->bar);
}

bool virtio_pci_plug(VirtIOPCIProxy *p, VirtIODevice *vdev, Machine *m,
                     uint32_t class_code, GError **errp)
{
    unsigned nq = vdev->ops->num_queues;

    if (p->nvectors == VIRTIO_PCI_NVECTORS_DEFAULT) {
        p->nvectors = nq + 1;
    }
    if (p->nvectors > 2048) {
        g_set_error(errp, VIREO_ERROR, 0, "vectors=%u: at most 2048",
                    p->nvectors);
        return false;
    }
    p->vdev = vdev;
    p->info = (PCIDeviceInfo){
        .vendor_id = VIRTIO_PCI_VENDOR_ID,
        .device_id = VIRTIO_PCI_DEVICE_ID_BASE + vdev->ops->device_id,
        .revision = 1,
        .class_code = class_code,
        .interrupt_pin = 1,
        .config_write = cfg_write,
        .config_read = cfg_read,
    };
    if (!pci_device_init(&p->pci, m, &p->info, errp)) {
        return false;
    }
    init_bar(p);
    if ((p->nvectors && !pci_msix_init_exclusive_bar(
             &p->pci, p->nvectors, VIRTIO_PCI_MSIX_BAR, errp)) ||
        !add_caps(p, errp)) {
        pci_device_uninit(&p->pci);
        destroy_bar(p);
        return false;
    }
    p->queue_vector = g_new(uint16_t, nq);
    vdev->transport = p;
    vdev->notify = transport_notify;
    vdev->notify_reset = transport_reset;
    transport_reset(vdev);
    return true;
}

void virtio_pci_unplug(VirtIOPCIProxy *p)
{
    if (!p->vdev) {
        return;
    }
    virtio_device_stop_host_notifiers(p->vdev);
    p->vdev->transport = NULL;
    p->vdev->notify = NULL;
    p->vdev->notify_reset = NULL;
    pci_device_uninit(&p->pci);
    destroy_bar(p);
    g_free(p->queue_vector);
    p->queue_vector = NULL;
    p->vdev = NULL;
}

void virtio_pci_reset(VirtIOPCIProxy *p)
{
    virtio_device_stop_host_notifiers(p->vdev);
    pci_device_reset(&p->pci);
    virtio_reset(p->vdev);
}

/* ---- migration ---- */

/* One queue's MSI-X vector, as the stream carries it. */
typedef struct QueueVectorState {
    uint16_t vector;
} QueueVectorState;

static const VMStateField queue_vector_fields[] = {
    VMSTATE_UINT16(vector, QueueVectorState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_queue_vector = {
    .name = "virtio-pci-queue-vector",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = queue_vector_fields,
};

/* What valid_vector lets the driver set. */
static bool vector_ok(VirtIOPCIProxy *p, uint16_t vector, const char *what,
                      GError **errp)
{
    if (vector != valid_vector(p, vector)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s vector %u: the function has "
                    "%u MSI-X vectors", what, vector, p->pci.msix_nvec);
        return false;
    }
    return true;
}

/* A u32 queue count (the device's), then each queue's vector. */
static bool queue_vectors_save(GByteArray *out, void *opaque, GError **errp)
{
    VirtIOPCIProxy *p = opaque;
    unsigned n = p->vdev->ops->num_queues;

    vmstate_put_u32(out, n);
    for (unsigned i = 0; i < n; i++) {
        QueueVectorState v = { p->queue_vector[i] };
        if (!vmstate_save_state(out, &vmstate_queue_vector, &v, errp)) {
            return false;
        }
    }
    return true;
}

static bool queue_vectors_load(VMStateReader *in, void *opaque,
                               GError **errp)
{
    VirtIOPCIProxy *p = opaque;
    unsigned nq = p->vdev->ops->num_queues;
    uint32_t n;

    if (!vmstate_get_u32(in, &n, errp)) {
        return false;
    }
    if (n != nq) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has vectors for %u "
                    "queues, this device has %u queues", n, nq);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        QueueVectorState v;
        g_autofree char *what = g_strdup_printf("queue %u", i);
        if (!vmstate_load_state(in, &vmstate_queue_vector, &v, errp) ||
            !vector_ok(p, v.vector, what, errp)) {
            return false;
        }
        p->queue_vector[i] = v.vector;
    }
    return true;
}

static const VMStateInfo vmstate_info_queue_vectors = {
    .name = "virtio-pci-queue-vectors",
    .save = queue_vectors_save,
    .load = queue_vectors_load,
    .vmsd = &vmstate_queue_vector,
};

/*
 * The PCI function and the device are loaded (they come first): check the
 * transport's own values, then bring the host side in line with them.
 */
static bool virtio_pci_post_load(void *opaque, int version_id,
                                 GError **errp)
{
    VirtIOPCIProxy *p = opaque;

    if (!vector_ok(p, p->config_vector, "configuration", errp)) {
        return false;
    }
    /* as status_write: the notifiers are on while DRIVER_OK */
    virtio_device_stop_host_notifiers(p->vdev);
    if (p->vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) {
        start_ioeventfd(p);
    }
    update_intx(p);
    return true;
}

static const VMStateField virtio_pci_fields[] = {
    VMSTATE_STRUCT(pci, VirtIOPCIProxy, vmstate_pci_device, PCIDevice),
    VMSTATE_UINT32(dfselect, VirtIOPCIProxy),
    VMSTATE_UINT32(gfselect, VirtIOPCIProxy),
    VMSTATE_UINT16(queue_sel, VirtIOPCIProxy),
    VMSTATE_UINT16(config_vector, VirtIOPCIProxy),
    VMSTATE_CUSTOM("queue_vector", vmstate_info_queue_vectors),
    VMSTATE_STRUCT_POINTER(vdev, VirtIOPCIProxy, vmstate_virtio_device,
                           VirtIODevice),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_virtio_pci = {
    .name = "virtio-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_pci_fields,
    .post_load = virtio_pci_post_load,
};
