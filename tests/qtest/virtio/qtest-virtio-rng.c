/*
 * virtio entropy device (virtio 1.2 section 5.4) over virtio-pci and
 * virtio-mmio: a request's device-writable buffers come back filled with
 * random bytes, the used length says how many.
 */
#include <string.h>

#include "virtio.h"

typedef struct Rng {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *vq;
} Rng;

static void rng_start(Rng *r, bool pci)
{
    uint64_t features = (1ULL << VIRTIO_F_VERSION_1) |
                        (1ULL << VIRTIO_RING_F_INDIRECT_DESC);

    if (pci) {
        r->qts = qtest_init("-M pc -device virtio-rng-pci");
        r->bus = qpci_new_pc(r->qts);
        r->dev = qvirtio_pci_device_find(r->bus, VIRTIO_ID_RNG);
    } else {
        r->qts = qtest_init("-M microvm -device virtio-rng-device");
        r->dev = qvirtio_mmio_device_new(r->qts, MICROVM_VIRTIO_MMIO_BASE);
    }
    g_assert_nonnull(r->dev);
    g_assert_cmpuint(r->dev->device_type, ==, VIRTIO_ID_RNG);
    r->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_start_device(r->dev, features);
    r->vq = qvirtqueue_setup(r->dev, r->alloc, 0);
    qvirtio_set_driver_ok(r->dev);
}

static void rng_stop(Rng *r)
{
    qvirtio_assert_vmm_alive(r->qts);
    qvirtqueue_cleanup(r->vq);
    guest_alloc_uninit(r->alloc);
    qvirtio_device_free(r->dev);
    if (r->bus) {
        qpci_free(r->bus);
    }
    qtest_quit(r->qts);
}

/* 64 bytes of zeros have odds of 2^-512 from a working source. */
static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/* Reads n random bytes through one writable buffer. */
static void read_random(Rng *r, uint64_t buf, uint8_t *out, uint32_t n)
{
    uint32_t head, len;

    qtest_memset(r->qts, buf, 0, n);
    head = qvirtqueue_add(r->qts, r->vq, buf, n, true, false);
    qvirtqueue_kick(r->qts, r->dev, r->vq, head);
    qvirtio_wait_used_elem(r->qts, r->dev, r->vq, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, n);
    qtest_memread(r->qts, buf, out, n);
}

static void check_random_bytes(bool pci)
{
    Rng r = { 0 };
    uint8_t a[64], b[64];
    uint64_t buf;

    rng_start(&r, pci);
    buf = guest_alloc(r.alloc, 4096);
    read_random(&r, buf, a, sizeof(a));
    read_random(&r, buf, b, sizeof(b));
    g_assert_false(all_zero(a, sizeof(a)));
    g_assert_false(all_zero(b, sizeof(b)));
    /* two draws of 512 bits never repeat */
    g_assert_cmpint(memcmp(a, b, sizeof(a)), !=, 0);
    rng_stop(&r);
}

static void test_pci_random(void)
{
    check_random_bytes(true);
}

static void test_mmio_random(void)
{
    check_random_bytes(false);
}

/*
 * A chain of two writable buffers and an indirect table of two: every
 * buffer is filled, the used length is their sum.
 */
static void check_chains(bool pci)
{
    Rng r = { 0 };
    QVRingIndirectDesc *ind;
    uint8_t x[100], y[28];
    uint64_t b1, b2;
    uint32_t head, len;

    rng_start(&r, pci);
    b1 = guest_alloc(r.alloc, sizeof(x));
    b2 = guest_alloc(r.alloc, sizeof(y));

    qtest_memset(r.qts, b1, 0, sizeof(x));
    qtest_memset(r.qts, b2, 0, sizeof(y));
    head = qvirtqueue_add(r.qts, r.vq, b1, sizeof(x), true, true);
    qvirtqueue_add(r.qts, r.vq, b2, sizeof(y), true, false);
    qvirtqueue_kick(r.qts, r.dev, r.vq, head);
    qvirtio_wait_used_elem(r.qts, r.dev, r.vq, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, sizeof(x) + sizeof(y));
    qtest_memread(r.qts, b1, x, sizeof(x));
    qtest_memread(r.qts, b2, y, sizeof(y));
    g_assert_false(all_zero(x, sizeof(x)));
    g_assert_false(all_zero(y, sizeof(y)));

    qtest_memset(r.qts, b1, 0, sizeof(x));
    qtest_memset(r.qts, b2, 0, sizeof(y));
    ind = qvring_indirect_desc_setup(r.qts, r.dev, r.alloc, 2);
    qvring_indirect_desc_add(r.qts, ind, b1, sizeof(x), true);
    qvring_indirect_desc_add(r.qts, ind, b2, sizeof(y), true);
    head = qvirtqueue_add_indirect(r.qts, r.vq, ind);
    qvirtqueue_kick(r.qts, r.dev, r.vq, head);
    qvirtio_wait_used_elem(r.qts, r.dev, r.vq, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, sizeof(x) + sizeof(y));
    qtest_memread(r.qts, b1, x, sizeof(x));
    qtest_memread(r.qts, b2, y, sizeof(y));
    g_assert_false(all_zero(x, sizeof(x)));
    g_assert_false(all_zero(y, sizeof(y)));
    qvring_indirect_desc_free(r.alloc, ind);

    /* a device-readable buffer is not written: nothing to report */
    qtest_memset(r.qts, b1, 0, sizeof(x));
    head = qvirtqueue_add(r.qts, r.vq, b1, sizeof(x), false, false);
    qvirtqueue_kick(r.qts, r.dev, r.vq, head);
    qvirtio_wait_used_elem(r.qts, r.dev, r.vq, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 0);
    qtest_memread(r.qts, b1, x, sizeof(x));
    g_assert_true(all_zero(x, sizeof(x)));
    g_assert_false(qvirtio_needs_reset(r.dev));
    rng_stop(&r);
}

static void test_pci_chains(void)
{
    check_chains(true);
}

static void test_mmio_chains(void)
{
    check_chains(false);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/rng/pci/random", test_pci_random);
    g_test_add_func("/virtio/rng/pci/chains", test_pci_chains);
    g_test_add_func("/virtio/rng/mmio/random", test_mmio_random);
    g_test_add_func("/virtio/rng/mmio/chains", test_mmio_chains);
    return g_test_run();
}
