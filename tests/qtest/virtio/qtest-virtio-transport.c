/*
 * Bringing a virtio device up as a driver does (virtio 1.2 3.1.1) over both
 * transports: modern virtio-pci on pc (4.1) and virtio-mmio version 2 on
 * microvm (4.2), with virtio-rng as the device: identification, feature
 * negotiation (VERSION_1 required, unoffered bits refused), queue set-up,
 * DRIVER_OK, interrupts, and what a reset clears.
 */
#include <string.h>

#include "virtio.h"

#define RNG_SLOT        4
/* slot 4, INTA#: PIRQ (4 - 1) mod 4 = PIRQD, which the i440FX routes to 11 */
#define RNG_INTX_GSI    11
#define RNG_QUEUE_MAX   64

typedef struct Machine {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
} Machine;

/* One vireo per transport, shared by the cases; each starts by a reset. */
static Machine pc, microvm;

static Machine *pci_machine(void)
{
    if (!pc.qts) {
        pc.qts = qtest_initf("-M pc -device virtio-rng-pci,addr=%d",
                             RNG_SLOT);
        qtest_irq_intercept_in(pc.qts, "ioapic");
        pc.bus = qpci_new_pc(pc.qts);
        pc.dev = qvirtio_pci_device_find(pc.bus, VIRTIO_ID_RNG);
        g_assert_nonnull(pc.dev);
    }
    pc.alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_reset(pc.dev);
    return &pc;
}

static Machine *mmio_machine(void)
{
    if (!microvm.qts) {
        microvm.qts = qtest_init("-M microvm -device virtio-rng-device");
        qtest_irq_intercept_in(microvm.qts, "ioapic");
        microvm.dev = qvirtio_mmio_device_new(microvm.qts,
                                              MICROVM_VIRTIO_MMIO_BASE);
    }
    microvm.alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_reset(microvm.dev);
    return &microvm;
}

static void machine_done(Machine *m)
{
    qvirtio_assert_vmm_alive(m->qts);
    guest_alloc_uninit(m->alloc);
    m->alloc = NULL;
}

/* --- checks that hold on either transport --- */

/*
 * 3.1.1 and 6.1: the device offers VERSION_1 and refuses FEATURES_OK for a
 * driver that does not accept it, or that accepts bits it did not offer;
 * an acceptable set keeps FEATURES_OK.
 */
static void check_negotiation(QVirtioDevice *d)
{
    uint64_t offered, bogus;

    qvirtio_set_acknowledge(d);
    qvirtio_set_driver(d);
    offered = qvirtio_get_features(d);
    g_assert_true(offered & (1ULL << VIRTIO_F_VERSION_1));
    g_assert_true(offered & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
    g_assert_false(offered & (1ULL << VIRTIO_F_RING_PACKED));

    /* a legacy driver: no VERSION_1 */
    qvirtio_set_features(d, offered & ~(1ULL << VIRTIO_F_VERSION_1));
    g_assert_false(qvirtio_set_features_ok(d));
    g_assert_cmphex(qvirtio_get_status(d), ==,
                    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);

    /* a bit the device never offered (rng offers no device bits) */
    g_assert_false(offered & 1);
    bogus = (1ULL << VIRTIO_F_VERSION_1) | 1;
    qvirtio_set_features(d, bogus);
    g_assert_false(qvirtio_set_features_ok(d));

    qvirtio_reset(d);
    qvirtio_set_acknowledge(d);
    qvirtio_set_driver(d);
    qvirtio_set_features(d, offered);
    g_assert_cmphex(qvirtio_get_guest_features(d), ==, offered);
    g_assert_true(qvirtio_set_features_ok(d));
    /* 2.2.2: features are fixed once FEATURES_OK is set */
    qvirtio_set_features(d, 1ULL << VIRTIO_F_VERSION_1);
    if (d->pdev) {
        g_assert_cmphex(qvirtio_get_guest_features(d), ==, offered);
    }
    d->features = offered;
    qvirtio_reset(d);
}

/* The one queue of virtio-rng: its size and that no second one exists. */
static void check_queue_sizes(QVirtioDevice *d)
{
    g_assert_cmpuint(qvirtio_queue_max_size(d, 0), ==, RNG_QUEUE_MAX);
    g_assert_cmpuint(qvirtio_queue_max_size(d, 1), ==, 0);
    g_assert_cmpuint(qvirtio_queue_max_size(d, 0xffff), ==, 0);
}

/* A request for n random bytes; returns its head descriptor. */
static uint32_t rng_request(Machine *m, QVirtQueue *vq, uint64_t buf,
                            uint32_t n)
{
    uint32_t head;

    qtest_memset(m->qts, buf, 0, n);
    head = qvirtqueue_add(m->qts, vq, buf, n, true, false);
    qvirtqueue_kick(m->qts, m->dev, vq, head);
    return head;
}

/* Brings the device up with one queue of size, DRIVER_OK at the end. */
static QVirtQueue *bring_up(Machine *m, uint16_t size)
{
    QVirtQueue *vq;

    qvirtio_start_device(m->dev, 1ULL << VIRTIO_F_VERSION_1);
    vq = qvirtqueue_setup_size(m->dev, m->alloc, 0, size);
    qvirtio_set_driver_ok(m->dev);
    return vq;
}

/* --- virtio-pci --- */

static void test_pci_identity(void)
{
    Machine *m = pci_machine();
    QPCIDevice *p = m->dev->pdev;

    g_assert_cmphex(qpci_config_readw(p, PCI_VENDOR_ID), ==, 0x1af4);
    g_assert_cmphex(qpci_config_readw(p, PCI_DEVICE_ID), ==, 0x1044);
    /* 4.1.2.1: a non-transitional device has revision 1 or more */
    g_assert_cmpuint(qpci_config_readb(p, PCI_REVISION_ID), >=, 1);
    g_assert_cmphex(qpci_config_readw(p, PCI_SUBSYSTEM_VENDOR_ID), !=, 0);
    /* the structures Vireo puts in its 16 KiB memory BAR 4 */
    g_assert_cmphex(m->dev->bar_size, ==, 0x4000);
    g_assert_cmphex(m->dev->common_off, <, 0x4000);
    g_assert_cmphex(m->dev->isr_off, <, 0x4000);
    g_assert_cmphex(m->dev->notify_off, <, 0x4000);
    /* 4.1.4.4: the multiplier is even (or 0) */
    g_assert_cmpuint(m->dev->notify_mult % 2, ==, 0);
    g_assert_cmpuint(qpci_find_capability(p, PCI_CAP_ID_MSIX, 0), !=, 0);
    g_assert_cmpuint(qpci_io_readw(p, m->dev->bar,
                                   m->dev->common_off +
                                   VIRTIO_PCI_COMMON_NUMQ), ==, 1);
    check_queue_sizes(m->dev);
    machine_done(m);
}

static void test_pci_negotiation(void)
{
    Machine *m = pci_machine();

    check_negotiation(m->dev);
    machine_done(m);
}

static uint32_t common_readl(QVirtioDevice *d, uint64_t f)
{
    return qpci_io_readl(d->pdev, d->bar, d->common_off + f);
}

static uint16_t common_readw(QVirtioDevice *d, uint64_t f)
{
    return qpci_io_readw(d->pdev, d->bar, d->common_off + f);
}

/*
 * Queue set-up as the driver wrote it reads back, DRIVER_OK sticks, and a
 * reset (status 0) takes everything back to the device's initial state.
 */
static void test_pci_queue_and_reset(void)
{
    Machine *m = pci_machine();
    QVirtioDevice *d = m->dev;
    QVirtQueue *vq = bring_up(m, 16);

    qpci_io_writew(d->pdev, d->bar, d->common_off + VIRTIO_PCI_COMMON_Q_SELECT,
                   0);
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_SIZE), ==, 16);
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_ENABLE), ==, 1);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_DESCLO), ==,
                    (uint32_t)vq->desc);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_DESCHI), ==, 0);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_AVAILLO), ==,
                    (uint32_t)vq->avail);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_USEDLO), ==,
                    (uint32_t)vq->used);
    g_assert_cmphex(qvirtio_get_guest_features(d), ==,
                    1ULL << VIRTIO_F_VERSION_1);

    qvirtio_reset(d);
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_SELECT), ==, 0);
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_SIZE), ==,
                     RNG_QUEUE_MAX);
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_ENABLE), ==, 0);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_DESCLO), ==, 0);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_AVAILLO), ==, 0);
    g_assert_cmphex(common_readl(d, VIRTIO_PCI_COMMON_Q_USEDLO), ==, 0);
    g_assert_cmphex(common_readw(d, VIRTIO_PCI_COMMON_MSIX), ==,
                    VIRTIO_MSI_NO_VECTOR);
    g_assert_cmphex(common_readw(d, VIRTIO_PCI_COMMON_Q_MSIX), ==,
                    VIRTIO_MSI_NO_VECTOR);
    g_assert_cmphex(qvirtio_get_guest_features(d), ==, 0);
    g_assert_cmphex(qvirtio_pci_isr_read(d), ==, 0);

    /* and the device comes up again from there */
    qvirtqueue_cleanup(vq);
    vq = bring_up(m, RNG_QUEUE_MAX);
    uint64_t buf = guest_alloc(m->alloc, 64);
    uint32_t head = rng_request(m, vq, buf, 64), len;
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 64);
    qvirtqueue_cleanup(vq);
    qvirtio_reset(d);
    machine_done(m);
}

/* A queue enabled with size 0 or misaligned rings: the device needs reset. */
static void test_pci_bad_queue_setup(void)
{
    Machine *m = pci_machine();
    QVirtioDevice *d = m->dev;
    uint64_t ring = guest_alloc(m->alloc, 0x3000);
    uint64_t q = d->common_off;

    qvirtio_start_device(d, 0);
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_SELECT, 0);
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_SIZE, 0);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_DESCLO, ring);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_AVAILLO,
                   ring + 0x1000);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_USEDLO,
                   ring + 0x2000);
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    g_assert_true(qvirtio_needs_reset(d));
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_ENABLE), ==, 0);
    qvirtio_assert_vmm_alive(m->qts);

    /* 2.7.2: the descriptor table is 16-byte aligned */
    qvirtio_start_device(d, 0);
    g_assert_false(qvirtio_needs_reset(d));
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_SELECT, 0);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_DESCLO,
                   ring + 8);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_AVAILLO,
                   ring + 0x1000);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_USEDLO,
                   ring + 0x2000);
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    g_assert_true(qvirtio_needs_reset(d));
    g_assert_cmpuint(common_readw(d, VIRTIO_PCI_COMMON_Q_ENABLE), ==, 0);

    /* rings beyond guest RAM */
    qvirtio_start_device(d, 0);
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_SELECT, 0);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_DESCLO, 0);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_DESCHI, 0x100);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_AVAILLO,
                   ring + 0x1000);
    qpci_io_writel(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_USEDLO,
                   ring + 0x2000);
    qpci_io_writew(d->pdev, d->bar, q + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    g_assert_true(qvirtio_needs_reset(d));

    /* a reset clears NEEDS_RESET, and the device works again */
    QVirtQueue *vq = bring_up(m, RNG_QUEUE_MAX);
    uint64_t buf = guest_alloc(m->alloc, 32);
    uint32_t head = rng_request(m, vq, buf, 32), len;
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 32);
    qvirtqueue_cleanup(vq);
    qvirtio_reset(d);
    machine_done(m);
}

/*
 * MSI-X: the queue's vector, masked, holds the notification in the PBA;
 * a vector the function does not have reads back as NO_VECTOR.
 */
static void test_pci_msix(void)
{
    Machine *m = pci_machine();
    QVirtioDevice *d = m->dev;
    QVirtQueue *vq;
    uint64_t buf = guest_alloc(m->alloc, 16);
    uint32_t head, len;

    qvirtio_pci_msix_enable(d);
    g_assert_cmpuint(qpci_msix_table_size(d->pdev), ==, 2);
    qvirtio_start_device(d, 1ULL << VIRTIO_F_VERSION_1);
    qvirtio_pci_set_config_vector(d, 0);
    vq = qvirtqueue_setup(d, m->alloc, 0);
    qvirtqueue_pci_set_vector(d, vq, 1);
    qpci_io_writew(d->pdev, d->bar, d->common_off + VIRTIO_PCI_COMMON_Q_MSIX,
                   7);
    g_assert_cmphex(common_readw(d, VIRTIO_PCI_COMMON_Q_MSIX), ==,
                    VIRTIO_MSI_NO_VECTOR);
    qvirtqueue_pci_set_vector(d, vq, 1);
    qvirtio_set_driver_ok(d);

    g_assert_false(qpci_msix_pending(d->pdev, 1));
    head = rng_request(m, vq, buf, 16);
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 16);
    g_assert_true(qvirtio_queue_isr(d, vq));
    g_assert_false(qpci_msix_pending(d->pdev, 0));   /* not the config's */
    /* 4.1.5.4: with MSI-X, the ISR is not used for queue interrupts */
    qvirtio_pci_msix_clear(d, 1);
    g_assert_false(qvirtio_queue_isr(d, vq));

    qvirtqueue_cleanup(vq);
    qvirtio_reset(d);
    qpci_msix_disable(d->pdev);
    machine_done(m);
}

/* INTx: the used buffer raises the line; reading the ISR lowers it. */
static void test_pci_intx(void)
{
    Machine *m = pci_machine();
    QVirtioDevice *d = m->dev;
    QVirtQueue *vq = bring_up(m, RNG_QUEUE_MAX);
    uint64_t buf = guest_alloc(m->alloc, 8);
    uint32_t head, len;

    g_assert_false(qtest_get_irq(m->qts, RNG_INTX_GSI));
    head = rng_request(m, vq, buf, 8);
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_true(qtest_get_irq(m->qts, RNG_INTX_GSI));
    g_assert_cmphex(qvirtio_pci_isr_read(d), ==, VIRTIO_ISR_QUEUE);
    g_assert_false(qtest_get_irq(m->qts, RNG_INTX_GSI));
    g_assert_cmphex(qvirtio_pci_isr_read(d), ==, 0);

    /* VRING_AVAIL_F_NO_INTERRUPT: the driver asked for no interrupt */
    qtest_writew(m->qts, vq->avail, VRING_AVAIL_F_NO_INTERRUPT);
    head = rng_request(m, vq, buf, 8);
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_false(qtest_get_irq(m->qts, RNG_INTX_GSI));
    g_assert_cmphex(qvirtio_pci_isr_read(d), ==, 0);

    qvirtqueue_cleanup(vq);
    qvirtio_reset(d);
    machine_done(m);
}

/* --- virtio-mmio --- */

static void test_mmio_identity(void)
{
    Machine *m = mmio_machine();
    QVirtioDevice *d = m->dev;
    QVirtioDevice *empty;

    g_assert_cmpuint(d->device_type, ==, VIRTIO_ID_RNG);
    g_assert_cmphex(qvirtio_mmio_readl(d, VIRTIO_MMIO_VENDOR_ID), !=, 0);
    check_queue_sizes(d);
    /* 4.2.3.1.1: a slot without a device reads DeviceID 0 */
    empty = qvirtio_mmio_device_new(m->qts, MICROVM_VIRTIO_MMIO_BASE +
                                            MICROVM_VIRTIO_MMIO_SIZE);
    g_assert_cmpuint(empty->device_type, ==, 0);
    qvirtio_device_free(empty);
    machine_done(m);
}

static void test_mmio_negotiation(void)
{
    Machine *m = mmio_machine();

    check_negotiation(m->dev);
    machine_done(m);
}

/*
 * QueueReady follows the driver; a reset clears status, ready and the
 * interrupt status; the interrupt line (GSI 5) follows InterruptStatus.
 */
static void test_mmio_queue_irq_reset(void)
{
    Machine *m = mmio_machine();
    QVirtioDevice *d = m->dev;
    QVirtQueue *vq = bring_up(m, 32);
    uint64_t buf = guest_alloc(m->alloc, 32);
    uint32_t head, len;

    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(qvirtio_mmio_readl(d, VIRTIO_MMIO_QUEUE_READY), ==, 1);
    g_assert_false(qtest_get_irq(m->qts, MICROVM_VIRTIO_MMIO_GSI0));
    head = rng_request(m, vq, buf, 32);
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 32);
    g_assert_true(qtest_get_irq(m->qts, MICROVM_VIRTIO_MMIO_GSI0));
    g_assert_cmphex(qvirtio_mmio_readl(d, VIRTIO_MMIO_INTERRUPT_STATUS), ==,
                    VIRTIO_ISR_QUEUE);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
    g_assert_false(qtest_get_irq(m->qts, MICROVM_VIRTIO_MMIO_GSI0));

    /* a pending interrupt and the queue go away with a reset */
    head = rng_request(m, vq, buf, 32);
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_true(qtest_get_irq(m->qts, MICROVM_VIRTIO_MMIO_GSI0));
    qvirtio_reset(d);
    g_assert_false(qtest_get_irq(m->qts, MICROVM_VIRTIO_MMIO_GSI0));
    g_assert_cmphex(qvirtio_mmio_readl(d, VIRTIO_MMIO_INTERRUPT_STATUS), ==,
                    0);
    g_assert_cmpuint(qvirtio_mmio_readl(d, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmpuint(qvirtio_mmio_readl(d, VIRTIO_MMIO_QUEUE_NUM_MAX), ==,
                     RNG_QUEUE_MAX);

    /* and it comes up again */
    qvirtqueue_cleanup(vq);
    vq = bring_up(m, RNG_QUEUE_MAX);
    head = rng_request(m, vq, buf, 32);
    qvirtio_wait_used_elem(m->qts, d, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 32);
    qvirtqueue_cleanup(vq);
    qvirtio_reset(d);
    machine_done(m);
}

/* 4.2.3.2: a queue of size 0 made ready is the driver's error. */
static void test_mmio_bad_queue_setup(void)
{
    Machine *m = mmio_machine();
    QVirtioDevice *d = m->dev;

    qvirtio_start_device(d, 0);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_NUM, 0);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_true(qvirtio_needs_reset(d));
    g_assert_cmpuint(qvirtio_mmio_readl(d, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    /* a size over QueueNumMax */
    qvirtio_start_device(d, 0);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_NUM, RNG_QUEUE_MAX * 2);
    qvirtio_mmio_writel(d, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_true(qvirtio_needs_reset(d));
    qvirtio_reset(d);
    g_assert_false(qvirtio_needs_reset(d));
    machine_done(m);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/pci/identity", test_pci_identity);
    g_test_add_func("/virtio/pci/negotiation", test_pci_negotiation);
    g_test_add_func("/virtio/pci/queue-and-reset", test_pci_queue_and_reset);
    g_test_add_func("/virtio/pci/bad-queue-setup", test_pci_bad_queue_setup);
    g_test_add_func("/virtio/pci/msix", test_pci_msix);
    g_test_add_func("/virtio/pci/intx", test_pci_intx);
    g_test_add_func("/virtio/mmio/identity", test_mmio_identity);
    g_test_add_func("/virtio/mmio/negotiation", test_mmio_negotiation);
    g_test_add_func("/virtio/mmio/queue-irq-reset", test_mmio_queue_irq_reset);
    g_test_add_func("/virtio/mmio/bad-queue-setup", test_mmio_bad_queue_setup);
    ret = g_test_run();
    if (pc.qts) {
        qvirtio_device_free(pc.dev);
        qpci_free(pc.bus);
        qtest_quit(pc.qts);
    }
    if (microvm.qts) {
        qvirtio_device_free(microvm.dev);
        qtest_quit(microvm.qts);
    }
    return ret;
}
