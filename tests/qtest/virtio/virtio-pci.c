/*
 * The qtest virtio driver over modern virtio-pci (virtio 1.2 section 4.1):
 * the structures found through vendor capabilities in configuration space,
 * interrupts through masked MSI-X vectors (their PBA bits) or the ISR.
 */
#include "virtio.h"

static uint64_t common(QVirtioDevice *d, uint64_t field)
{
    return d->common_off + field;
}

static uint8_t common_readb(QVirtioDevice *d, uint64_t f)
{
    return qpci_io_readb(d->pdev, d->bar, common(d, f));
}

static uint16_t common_readw(QVirtioDevice *d, uint64_t f)
{
    return qpci_io_readw(d->pdev, d->bar, common(d, f));
}

static uint32_t common_readl(QVirtioDevice *d, uint64_t f)
{
    return qpci_io_readl(d->pdev, d->bar, common(d, f));
}

static void common_writeb(QVirtioDevice *d, uint64_t f, uint8_t v)
{
    qpci_io_writeb(d->pdev, d->bar, common(d, f), v);
}

static void common_writew(QVirtioDevice *d, uint64_t f, uint16_t v)
{
    qpci_io_writew(d->pdev, d->bar, common(d, f), v);
}

static void common_writel(QVirtioDevice *d, uint64_t f, uint32_t v)
{
    qpci_io_writel(d->pdev, d->bar, common(d, f), v);
}

/* 4.1.4.3.1: 64-bit fields are written as two 32-bit halves. */
static void common_writeq(QVirtioDevice *d, uint64_t lo, uint64_t v)
{
    common_writel(d, lo, (uint32_t)v);
    common_writel(d, lo + 4, v >> 32);
}

static uint8_t pci_config_readb(QVirtioDevice *d, uint64_t off)
{
    return qpci_io_readb(d->pdev, d->bar, d->device_off + off);
}

static uint16_t pci_config_readw(QVirtioDevice *d, uint64_t off)
{
    return qpci_io_readw(d->pdev, d->bar, d->device_off + off);
}

static uint32_t pci_config_readl(QVirtioDevice *d, uint64_t off)
{
    return qpci_io_readl(d->pdev, d->bar, d->device_off + off);
}

static void pci_config_writeb(QVirtioDevice *d, uint64_t off, uint8_t val)
{
    qpci_io_writeb(d->pdev, d->bar, d->device_off + off, val);
}

static uint64_t pci_get_features(QVirtioDevice *d)
{
    common_writel(d, VIRTIO_PCI_COMMON_DFSELECT, 0);
    uint64_t lo = common_readl(d, VIRTIO_PCI_COMMON_DF);
    common_writel(d, VIRTIO_PCI_COMMON_DFSELECT, 1);
    return lo | (uint64_t)common_readl(d, VIRTIO_PCI_COMMON_DF) << 32;
}

static void pci_set_features(QVirtioDevice *d, uint64_t features)
{
    common_writel(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
    common_writel(d, VIRTIO_PCI_COMMON_GF, (uint32_t)features);
    common_writel(d, VIRTIO_PCI_COMMON_GFSELECT, 1);
    common_writel(d, VIRTIO_PCI_COMMON_GF, features >> 32);
}

static uint64_t pci_get_guest_features(QVirtioDevice *d)
{
    common_writel(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
    uint64_t lo = common_readl(d, VIRTIO_PCI_COMMON_GF);
    common_writel(d, VIRTIO_PCI_COMMON_GFSELECT, 1);
    return lo | (uint64_t)common_readl(d, VIRTIO_PCI_COMMON_GF) << 32;
}

static uint8_t pci_get_status(QVirtioDevice *d)
{
    return common_readb(d, VIRTIO_PCI_COMMON_STATUS);
}

static void pci_set_status(QVirtioDevice *d, uint8_t status)
{
    common_writeb(d, VIRTIO_PCI_COMMON_STATUS, status);
    if (status == 0) {
        d->config_vector = VIRTIO_MSI_NO_VECTOR;
    }
}

static uint32_t pci_get_config_generation(QVirtioDevice *d)
{
    return common_readb(d, VIRTIO_PCI_COMMON_CFGGENERATION);
}

uint8_t qvirtio_pci_isr_read(QVirtioDevice *d)
{
    return qpci_io_readb(d->pdev, d->bar, d->isr_off);
}

/*
 * With MSI-X the vector is masked, so a notification shows as its pending
 * bit (cleared by qvirtio_pci_msix_clear); without, the ISR tells (and
 * reading it acknowledges every cause, as a driver's handler would).
 */
static bool pci_get_queue_isr_status(QVirtioDevice *d, QVirtQueue *vq)
{
    if (d->pdev->msix_enabled) {
        g_assert_cmpuint(vq->msix_entry, !=, VIRTIO_MSI_NO_VECTOR);
        return qpci_msix_pending(d->pdev, vq->msix_entry);
    }
    return qvirtio_pci_isr_read(d) & VIRTIO_ISR_QUEUE;
}

static bool pci_get_config_isr_status(QVirtioDevice *d)
{
    if (d->pdev->msix_enabled) {
        g_assert_cmpuint(d->config_vector, !=, VIRTIO_MSI_NO_VECTOR);
        return qpci_msix_pending(d->pdev, d->config_vector);
    }
    return qvirtio_pci_isr_read(d) & VIRTIO_ISR_CONFIG;
}

static void pci_queue_select(QVirtioDevice *d, uint16_t index)
{
    common_writew(d, VIRTIO_PCI_COMMON_Q_SELECT, index);
}

static uint16_t pci_get_queue_size(QVirtioDevice *d)
{
    return common_readw(d, VIRTIO_PCI_COMMON_Q_SIZE);
}

static void pci_set_queue_size(QVirtioDevice *d, uint16_t size)
{
    common_writew(d, VIRTIO_PCI_COMMON_Q_SIZE, size);
}

static void pci_set_queue_address(QVirtioDevice *d, QVirtQueue *vq)
{
    common_writeq(d, VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc);
    common_writeq(d, VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail);
    common_writeq(d, VIRTIO_PCI_COMMON_Q_USEDLO, vq->used);
}

static void pci_queue_enable(QVirtioDevice *d)
{
    common_writew(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
}

static bool pci_queue_ready(QVirtioDevice *d)
{
    return common_readw(d, VIRTIO_PCI_COMMON_Q_ENABLE);
}

/*
 * 4.1.4.4: queue index's notification address is cap.offset +
 * queue_notify_off * notify_off_multiplier. A queue that does not exist
 * has no queue_notify_off to read: we use its index, as Vireo lays them.
 */
static void pci_notify(QVirtioDevice *d, uint16_t index)
{
    uint16_t noff;

    pci_queue_select(d, index);
    noff = pci_get_queue_size(d) ? common_readw(d, VIRTIO_PCI_COMMON_Q_NOFF)
                                 : index;
    qpci_io_writew(d->pdev, d->bar,
                   d->notify_off + (uint64_t)noff * d->notify_mult, index);
}

static const QVirtioBus qvirtio_pci_bus = {
    .config_readb = pci_config_readb,
    .config_readw = pci_config_readw,
    .config_readl = pci_config_readl,
    .config_writeb = pci_config_writeb,
    .get_features = pci_get_features,
    .set_features = pci_set_features,
    .get_guest_features = pci_get_guest_features,
    .get_status = pci_get_status,
    .set_status = pci_set_status,
    .get_config_generation = pci_get_config_generation,
    .get_queue_isr_status = pci_get_queue_isr_status,
    .get_config_isr_status = pci_get_config_isr_status,
    .queue_select = pci_queue_select,
    .get_queue_size = pci_get_queue_size,
    .set_queue_size = pci_set_queue_size,
    .set_queue_address = pci_set_queue_address,
    .queue_enable = pci_queue_enable,
    .queue_ready = pci_queue_ready,
    .notify = pci_notify,
};

/* --- discovery --- */

typedef struct Search {
    uint16_t device_id;
    QPCIDevice *found;
} Search;

static void take_first(QPCIDevice *dev, int devfn, void *data)
{
    Search *s = data;

    if (s->found) {
        g_free(dev);
    } else {
        s->found = dev;
    }
}

/* Reads the struct virtio_pci_cap at cap into d's offsets (4.1.4). */
static void parse_cap(QVirtioDevice *d, uint8_t cap, int *bar)
{
    uint8_t type = qpci_config_readb(d->pdev, cap + VIRTIO_PCI_CAP_CFG_TYPE);
    uint8_t barno = qpci_config_readb(d->pdev, cap + VIRTIO_PCI_CAP_BAR);
    uint32_t off = qpci_config_readl(d->pdev, cap + VIRTIO_PCI_CAP_OFFSET);
    uint64_t *where;

    switch (type) {
    case VIRTIO_PCI_CAP_COMMON_CFG: where = &d->common_off; break;
    case VIRTIO_PCI_CAP_ISR_CFG: where = &d->isr_off; break;
    case VIRTIO_PCI_CAP_DEVICE_CFG: where = &d->device_off; break;
    case VIRTIO_PCI_CAP_NOTIFY_CFG:
        where = &d->notify_off;
        d->notify_mult = qpci_config_readl(d->pdev,
                                           cap + VIRTIO_PCI_NOTIFY_CAP_MULT);
        break;
    default:
        return;     /* PCI_CFG and vendor extensions: not ours to map */
    }
    /* 4.1.4.1: the driver uses the first capability of each type */
    if (*where != UINT64_MAX) {
        return;
    }
    /* this driver maps one BAR: Vireo's structures share BAR 4 */
    if (*bar != -1) {
        g_assert_cmpint(barno, ==, *bar);
    }
    *bar = barno;
    *where = off;
}

QVirtioDevice *qvirtio_pci_device_find(QPCIBus *bus, uint16_t device_type)
{
    Search s = { .device_id = VIRTIO_PCI_DEVICE_ID_BASE + device_type };
    QVirtioDevice *d;
    int bar = -1;

    qpci_device_foreach(bus, VIRTIO_PCI_VENDOR_ID, s.device_id, take_first,
                        &s);
    if (!s.found) {
        return NULL;
    }
    d = g_new0(QVirtioDevice, 1);
    d->qts = qpci_qts(bus);
    d->bus = &qvirtio_pci_bus;
    d->device_type = device_type;
    d->pdev = s.found;
    d->config_vector = VIRTIO_MSI_NO_VECTOR;
    d->common_off = d->isr_off = d->device_off = d->notify_off = UINT64_MAX;
    for (uint8_t cap = qpci_find_capability(d->pdev, PCI_CAP_ID_VNDR, 0);
         cap; cap = qpci_find_capability(d->pdev, PCI_CAP_ID_VNDR, cap)) {
        parse_cap(d, cap, &bar);
    }
    /* a device without configuration (virtio-rng) has no DEVICE_CFG */
    g_assert_cmphex(d->common_off, !=, UINT64_MAX);
    g_assert_cmphex(d->isr_off, !=, UINT64_MAX);
    g_assert_cmphex(d->notify_off, !=, UINT64_MAX);
    g_assert_cmpint(bar, >=, 0);
    d->bar = qpci_iomap(d->pdev, bar, &d->bar_size);
    qpci_device_enable(d->pdev);
    return d;
}

/* --- MSI-X --- */

static void msix_entry_mask(QVirtioDevice *d, uint16_t entry, bool masked)
{
    uint64_t off = d->pdev->msix_table_off + entry * PCI_MSIX_ENTRY_SIZE;

    qpci_io_writel(d->pdev, d->pdev->msix_table_bar,
                   off + PCI_MSIX_ENTRY_VECTOR_CTRL,
                   masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

void qvirtio_pci_msix_enable(QVirtioDevice *d)
{
    uint16_t n;

    qpci_msix_enable(d->pdev);
    n = qpci_msix_table_size(d->pdev);
    for (uint16_t v = 0; v < n; v++) {
        uint64_t off = d->pdev->msix_table_off + v * PCI_MSIX_ENTRY_SIZE;
        /* a LAPIC message: unmasking delivers it to the (idle) CPU */
        qpci_io_writel(d->pdev, d->pdev->msix_table_bar,
                       off + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000);
        qpci_io_writel(d->pdev, d->pdev->msix_table_bar,
                       off + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
        qpci_io_writel(d->pdev, d->pdev->msix_table_bar,
                       off + PCI_MSIX_ENTRY_DATA, 0x40 + v);
        msix_entry_mask(d, v, true);
        g_assert_true(qpci_msix_masked(d->pdev, v));
    }
}

void qvirtio_pci_set_config_vector(QVirtioDevice *d, uint16_t entry)
{
    common_writew(d, VIRTIO_PCI_COMMON_MSIX, entry);
    /* 4.1.4.3: the device answers NO_VECTOR when it cannot use it */
    g_assert_cmphex(common_readw(d, VIRTIO_PCI_COMMON_MSIX), ==, entry);
    d->config_vector = entry;
}

void qvirtqueue_pci_set_vector(QVirtioDevice *d, QVirtQueue *vq,
                               uint16_t entry)
{
    pci_queue_select(d, vq->index);
    common_writew(d, VIRTIO_PCI_COMMON_Q_MSIX, entry);
    g_assert_cmphex(common_readw(d, VIRTIO_PCI_COMMON_Q_MSIX), ==, entry);
    vq->msix_entry = entry;
}

void qvirtio_pci_msix_clear(QVirtioDevice *d, uint16_t entry)
{
    msix_entry_mask(d, entry, false);
    msix_entry_mask(d, entry, true);
    g_assert_false(qpci_msix_pending(d->pdev, entry));
}
