/*
 * The qtest virtio driver over virtio-mmio version 2 (virtio 1.2 section
 * 4.2): 32-bit registers, the device configuration at 0x100, one
 * interrupt whose causes InterruptStatus holds until InterruptACK.
 */
#include "virtio.h"

uint32_t qvirtio_mmio_readl(QVirtioDevice *d, uint64_t reg)
{
    return qtest_readl(d->qts, d->mmio_base + reg);
}

void qvirtio_mmio_writel(QVirtioDevice *d, uint64_t reg, uint32_t val)
{
    qtest_writel(d->qts, d->mmio_base + reg, val);
}

static uint8_t mmio_config_readb(QVirtioDevice *d, uint64_t off)
{
    return qtest_readb(d->qts, d->mmio_base + VIRTIO_MMIO_CONFIG + off);
}

static uint16_t mmio_config_readw(QVirtioDevice *d, uint64_t off)
{
    return qtest_readw(d->qts, d->mmio_base + VIRTIO_MMIO_CONFIG + off);
}

static uint32_t mmio_config_readl(QVirtioDevice *d, uint64_t off)
{
    return qtest_readl(d->qts, d->mmio_base + VIRTIO_MMIO_CONFIG + off);
}

static void mmio_config_writeb(QVirtioDevice *d, uint64_t off, uint8_t val)
{
    qtest_writeb(d->qts, d->mmio_base + VIRTIO_MMIO_CONFIG + off, val);
}

static uint64_t mmio_get_features(QVirtioDevice *d)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = qvirtio_mmio_readl(d, VIRTIO_MMIO_DEVICE_FEATURES);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return lo | (uint64_t)qvirtio_mmio_readl(d, VIRTIO_MMIO_DEVICE_FEATURES)
                    << 32;
}

static void mmio_set_features(QVirtioDevice *d, uint64_t features)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_DRIVER_FEATURES, features >> 32);
}

/* 4.2.2: DriverFeatures is write-only; we remember what we wrote. */
static uint64_t mmio_get_guest_features(QVirtioDevice *d)
{
    return d->features;
}

static uint8_t mmio_get_status(QVirtioDevice *d)
{
    return qvirtio_mmio_readl(d, VIRTIO_MMIO_STATUS);
}

static void mmio_set_status(QVirtioDevice *d, uint8_t status)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_STATUS, status);
}

static uint32_t mmio_get_config_generation(QVirtioDevice *d)
{
    return qvirtio_mmio_readl(d, VIRTIO_MMIO_CONFIG_GENERATION);
}

/* A pending cause is acknowledged as a driver's handler would. */
static bool mmio_isr_take(QVirtioDevice *d, uint32_t cause)
{
    uint32_t isr = qvirtio_mmio_readl(d, VIRTIO_MMIO_INTERRUPT_STATUS);

    if (!(isr & cause)) {
        return false;
    }
    qvirtio_mmio_writel(d, VIRTIO_MMIO_INTERRUPT_ACK, cause);
    return true;
}

static bool mmio_get_queue_isr_status(QVirtioDevice *d, QVirtQueue *vq)
{
    return mmio_isr_take(d, VIRTIO_ISR_QUEUE);
}

static bool mmio_get_config_isr_status(QVirtioDevice *d)
{
    return mmio_isr_take(d, VIRTIO_ISR_CONFIG);
}

static void mmio_queue_select(QVirtioDevice *d, uint16_t index)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_SEL, index);
}

static uint16_t mmio_get_queue_size(QVirtioDevice *d)
{
    return qvirtio_mmio_readl(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
}

static void mmio_set_queue_size(QVirtioDevice *d, uint16_t size)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_NUM, size);
}

static void mmio_writeq(QVirtioDevice *d, uint64_t lo, uint64_t val)
{
    qvirtio_mmio_writel(d, lo, (uint32_t)val);
    qvirtio_mmio_writel(d, lo + 4, val >> 32);
}

static void mmio_set_queue_address(QVirtioDevice *d, QVirtQueue *vq)
{
    mmio_writeq(d, VIRTIO_MMIO_QUEUE_DESC_LOW, vq->desc);
    mmio_writeq(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, vq->avail);
    mmio_writeq(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, vq->used);
}

static void mmio_queue_enable(QVirtioDevice *d)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

static bool mmio_queue_ready(QVirtioDevice *d)
{
    return qvirtio_mmio_readl(d, VIRTIO_MMIO_QUEUE_READY);
}

static void mmio_notify(QVirtioDevice *d, uint16_t index)
{
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_NOTIFY, index);
}

static const QVirtioBus qvirtio_mmio_bus = {
    .config_readb = mmio_config_readb,
    .config_readw = mmio_config_readw,
    .config_readl = mmio_config_readl,
    .config_writeb = mmio_config_writeb,
    .get_features = mmio_get_features,
    .set_features = mmio_set_features,
    .get_guest_features = mmio_get_guest_features,
    .get_status = mmio_get_status,
    .set_status = mmio_set_status,
    .get_config_generation = mmio_get_config_generation,
    .get_queue_isr_status = mmio_get_queue_isr_status,
    .get_config_isr_status = mmio_get_config_isr_status,
    .queue_select = mmio_queue_select,
    .get_queue_size = mmio_get_queue_size,
    .set_queue_size = mmio_set_queue_size,
    .set_queue_address = mmio_set_queue_address,
    .queue_enable = mmio_queue_enable,
    .queue_ready = mmio_queue_ready,
    .notify = mmio_notify,
};

QVirtioDevice *qvirtio_mmio_device_new(QTestState *qts, uint64_t base)
{
    QVirtioDevice *d = g_new0(QVirtioDevice, 1);

    d->qts = qts;
    d->bus = &qvirtio_mmio_bus;
    d->mmio_base = base;
    d->config_vector = VIRTIO_MSI_NO_VECTOR;
    g_assert_cmphex(qvirtio_mmio_readl(d, VIRTIO_MMIO_MAGIC_VALUE), ==,
                    VIRTIO_MMIO_MAGIC);
    g_assert_cmpuint(qvirtio_mmio_readl(d, VIRTIO_MMIO_VERSION), ==, 2);
    d->device_type = qvirtio_mmio_readl(d, VIRTIO_MMIO_DEVICE_ID);
    return d;
}
