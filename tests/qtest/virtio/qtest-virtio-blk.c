/*
 * virtio block device (virtio 1.2 section 5.2) over virtio-pci on pc, and
 * once over virtio-mmio on microvm: requests built in guest memory (header,
 * data, status) read and write a raw image the test made, flush, GET_ID,
 * out-of-range and unsupported requests, indirect descriptors, and
 * completion through a masked MSI-X vector's pending bit or INTx.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "virtio.h"

/* Request types and status (5.2.6) */
#define VIRTIO_BLK_T_IN         0
#define VIRTIO_BLK_T_OUT        1
#define VIRTIO_BLK_T_FLUSH      4
#define VIRTIO_BLK_T_GET_ID     8
#define VIRTIO_BLK_S_OK         0
#define VIRTIO_BLK_S_IOERR      1
#define VIRTIO_BLK_S_UNSUPP     2
#define VIRTIO_BLK_ID_BYTES     20
/* Feature bits and configuration (5.2.3, 5.2.4) */
#define VIRTIO_BLK_F_SEG_MAX    2
#define VIRTIO_BLK_F_BLK_SIZE   6
#define VIRTIO_BLK_F_FLUSH      9
#define BLK_CFG_CAPACITY        0
#define BLK_CFG_SEG_MAX         12
#define BLK_CFG_BLK_SIZE        20

#define SECTOR                  512
#define IMG_SECTORS             2048            /* 1 MiB */
#define BLK_SERIAL              "VIREO-QTEST-0042"
#define BLK_SLOT                5
/* slot 5, INTA#: PIRQ (5 - 1) mod 4 = PIRQA, which the i440FX routes to 10 */
#define BLK_INTX_GSI            10

typedef struct Blk {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *vq;
    char *dir;
    char *img;
} Blk;

/* One vireo for the PCI cases; each case brings the device up afresh. */
static Blk pci_blk;

/* The image's known content: every byte depends on sector and offset. */
static uint8_t pattern_byte(uint64_t sector, unsigned i)
{
    return (uint8_t)((sector * 37 + i * 7 + 1) ^ (i >> 8));
}

static void make_image(Blk *b)
{
    g_autofree uint8_t *data = g_malloc((size_t)IMG_SECTORS * SECTOR);
    g_autoptr(GError) err = NULL;

    for (uint64_t s = 0; s < IMG_SECTORS; s++) {
        for (unsigned i = 0; i < SECTOR; i++) {
            data[s * SECTOR + i] = pattern_byte(s, i);
        }
    }
    b->dir = g_dir_make_tmp("qtest-virtio-blk-XXXXXX", &err);
    g_assert_no_error(err);
    b->img = g_build_filename(b->dir, "disk.raw", NULL);
    g_file_set_contents(b->img, (const char *)data,
                        (gssize)IMG_SECTORS * SECTOR, &err);
    g_assert_no_error(err);
}

static void remove_image(Blk *b)
{
    g_unlink(b->img);
    g_rmdir(b->dir);
    g_free(b->img);
    g_free(b->dir);
}

/* The image file's bytes at sector, as the host sees them now. */
static void file_read(Blk *b, uint64_t sector, uint8_t *out, size_t len)
{
    g_autofree char *all = NULL;
    gsize size;

    g_assert_true(g_file_get_contents(b->img, &all, &size, NULL));
    g_assert_cmpuint(size, ==, (gsize)IMG_SECTORS * SECTOR);
    memcpy(out, all + sector * SECTOR, len);
}

static Blk *pci_start(uint64_t features)
{
    Blk *b = &pci_blk;

    if (!b->qts) {
        make_image(b);
        b->qts = qtest_initf("-M pc -drive if=none,id=d0,file=%s,format=raw "
                             "-device virtio-blk-pci,drive=d0,addr=%d,"
                             "serial=" BLK_SERIAL, b->img, BLK_SLOT);
        qtest_irq_intercept_in(b->qts, "ioapic");
        b->bus = qpci_new_pc(b->qts);
        b->dev = qvirtio_pci_device_find(b->bus, VIRTIO_ID_BLOCK);
        g_assert_nonnull(b->dev);
    }
    b->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_start_device(b->dev, features | (1ULL << VIRTIO_BLK_F_FLUSH));
    b->vq = qvirtqueue_setup(b->dev, b->alloc, 0);
    return b;
}

static void blk_stop(Blk *b)
{
    qvirtio_assert_vmm_alive(b->qts);
    g_assert_false(qvirtio_needs_reset(b->dev));
    qvirtio_reset(b->dev);
    qvirtqueue_cleanup(b->vq);
    b->vq = NULL;
    guest_alloc_uninit(b->alloc);
    b->alloc = NULL;
}

/* --- requests --- */

typedef struct BlkReq {
    uint64_t hdr;           /* struct virtio_blk_req's header, 16 bytes */
    uint64_t data;
    uint32_t data_len;
    uint64_t status;
} BlkReq;

static BlkReq req_new(Blk *b, uint32_t type, uint64_t sector,
                      uint32_t data_len)
{
    BlkReq r = { .data_len = data_len };

    r.hdr = guest_alloc(b->alloc, 16);
    qtest_writel(b->qts, r.hdr, type);
    qtest_writel(b->qts, r.hdr + 4, 0);
    qtest_writeq(b->qts, r.hdr + 8, sector);
    if (data_len) {
        r.data = guest_alloc(b->alloc, data_len);
    }
    r.status = guest_alloc(b->alloc, 1);
    qtest_writeb(b->qts, r.status, 0xff);   /* the device must change it */
    return r;
}

static void req_free(Blk *b, BlkReq *r)
{
    guest_free(b->alloc, r->hdr);
    if (r->data_len) {
        guest_free(b->alloc, r->data);
    }
    guest_free(b->alloc, r->status);
}

/* Header (readable), data (writable for reads), status: returns the head. */
static uint32_t req_submit(Blk *b, BlkReq *r, bool device_writes_data)
{
    uint32_t head = qvirtqueue_add(b->qts, b->vq, r->hdr, 16, false, true);

    if (r->data_len) {
        qvirtqueue_add(b->qts, b->vq, r->data, r->data_len,
                       device_writes_data, true);
    }
    qvirtqueue_add(b->qts, b->vq, r->status, 1, true, false);
    qvirtqueue_kick(b->qts, b->dev, b->vq, head);
    return head;
}

/* Waits for the request at head; returns its status byte. */
static uint8_t req_wait(Blk *b, BlkReq *r, uint32_t head, uint32_t *len)
{
    qvirtio_wait_used_elem(b->qts, b->dev, b->vq, head, len,
                           QVIRTIO_TIMEOUT_US);
    return qtest_readb(b->qts, r->status);
}

/* A request without data; its status. */
static uint8_t blk_simple(Blk *b, uint32_t type, uint64_t sector)
{
    BlkReq r = req_new(b, type, sector, 0);
    uint32_t head = req_submit(b, &r, false), len;
    uint8_t status = req_wait(b, &r, head, &len);

    g_assert_cmpuint(len, ==, 1);
    req_free(b, &r);
    return status;
}

/* Reads n sectors at sector through the device into out. */
static uint8_t blk_read(Blk *b, uint64_t sector, uint8_t *out, uint32_t n)
{
    BlkReq r = req_new(b, VIRTIO_BLK_T_IN, sector, n * SECTOR);
    uint32_t head, len;
    uint8_t status;

    qtest_memset(b->qts, r.data, 0, n * SECTOR);
    head = req_submit(b, &r, true);
    status = req_wait(b, &r, head, &len);
    if (status == VIRTIO_BLK_S_OK) {
        g_assert_cmpuint(len, ==, n * SECTOR + 1);
        qtest_memread(b->qts, r.data, out, n * SECTOR);
    }
    req_free(b, &r);
    return status;
}

static uint8_t blk_write(Blk *b, uint64_t sector, const uint8_t *in,
                         uint32_t n)
{
    BlkReq r = req_new(b, VIRTIO_BLK_T_OUT, sector, n * SECTOR);
    uint32_t head, len;
    uint8_t status;

    qtest_memwrite(b->qts, r.data, in, n * SECTOR);
    head = req_submit(b, &r, false);
    status = req_wait(b, &r, head, &len);
    g_assert_cmpuint(len, ==, 1);       /* only the status was written */
    req_free(b, &r);
    return status;
}

static void assert_pattern(const uint8_t *buf, uint64_t sector, uint32_t n)
{
    for (uint32_t s = 0; s < n; s++) {
        for (unsigned i = 0; i < SECTOR; i++) {
            if (buf[s * SECTOR + i] != pattern_byte(sector + s, i)) {
                g_error("sector %" G_GUINT64_FORMAT " byte %u: 0x%02x, "
                        "expected 0x%02x", sector + s, i,
                        buf[s * SECTOR + i], pattern_byte(sector + s, i));
            }
        }
    }
}

/* --- cases --- */

static void test_config(void)
{
    Blk *b = pci_start(0);
    uint64_t offered = qvirtio_get_features(b->dev);

    g_assert_true(offered & (1ULL << VIRTIO_BLK_F_FLUSH));
    g_assert_true(offered & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
    g_assert_cmphex(qvirtio_config_readq(b->dev, BLK_CFG_CAPACITY), ==,
                    IMG_SECTORS);
    g_assert_cmpuint(qvirtio_config_readl(b->dev, BLK_CFG_BLK_SIZE), ==,
                     SECTOR);
    if (offered & (1ULL << VIRTIO_BLK_F_SEG_MAX)) {
        g_assert_cmpuint(qvirtio_config_readl(b->dev, BLK_CFG_SEG_MAX), >=,
                         1);
    }
    qvirtio_set_driver_ok(b->dev);
    blk_stop(b);
}

static void test_read(void)
{
    Blk *b = pci_start(0);
    uint8_t buf[3 * SECTOR];

    qvirtio_set_driver_ok(b->dev);
    g_assert_cmpuint(blk_read(b, 5, buf, 1), ==, VIRTIO_BLK_S_OK);
    assert_pattern(buf, 5, 1);
    g_assert_cmpuint(blk_read(b, 0, buf, 3), ==, VIRTIO_BLK_S_OK);
    assert_pattern(buf, 0, 3);
    /* the last sector of the disk */
    g_assert_cmpuint(blk_read(b, IMG_SECTORS - 1, buf, 1), ==,
                     VIRTIO_BLK_S_OK);
    assert_pattern(buf, IMG_SECTORS - 1, 1);
    blk_stop(b);
}

/* A read whose data spans two descriptors is scattered in chain order. */
static void test_read_scattered(void)
{
    Blk *b = pci_start(0);
    BlkReq r = req_new(b, VIRTIO_BLK_T_IN, 100, 0);
    uint64_t d1 = guest_alloc(b->alloc, 200), d2 = guest_alloc(b->alloc, 824);
    uint8_t buf[2 * SECTOR];
    uint32_t head, len;

    qvirtio_set_driver_ok(b->dev);
    head = qvirtqueue_add(b->qts, b->vq, r.hdr, 16, false, true);
    qvirtqueue_add(b->qts, b->vq, d1, 200, true, true);
    qvirtqueue_add(b->qts, b->vq, d2, 824, true, true);
    qvirtqueue_add(b->qts, b->vq, r.status, 1, true, false);
    qvirtqueue_kick(b->qts, b->dev, b->vq, head);
    g_assert_cmpuint(req_wait(b, &r, head, &len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(len, ==, 2 * SECTOR + 1);
    qtest_memread(b->qts, d1, buf, 200);
    qtest_memread(b->qts, d2, buf + 200, 824);
    assert_pattern(buf, 100, 2);
    req_free(b, &r);
    blk_stop(b);
}

/* A write reaches the image file after a flush; a read returns it too. */
static void test_write_flush(void)
{
    Blk *b = pci_start(0);
    uint8_t data[2 * SECTOR], back[2 * SECTOR], file[2 * SECTOR];
    const uint64_t sector = 1000;

    qvirtio_set_driver_ok(b->dev);
    for (unsigned i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(0xa5 ^ (i * 13));
    }
    g_assert_cmpuint(blk_write(b, sector, data, 2), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_simple(b, VIRTIO_BLK_T_FLUSH, 0), ==,
                     VIRTIO_BLK_S_OK);
    file_read(b, sector, file, sizeof(file));
    g_assert_cmpmem(file, sizeof(file), data, sizeof(data));
    /* the neighbours are untouched */
    file_read(b, sector - 1, file, SECTOR);
    assert_pattern(file, sector - 1, 1);
    file_read(b, sector + 2, file, SECTOR);
    assert_pattern(file, sector + 2, 1);
    g_assert_cmpuint(blk_read(b, sector, back, 2), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
    blk_stop(b);
}

/* 5.2.6: GET_ID fills 20 bytes, the serial zero-padded. */
static void test_get_id(void)
{
    Blk *b = pci_start(0);
    BlkReq r = req_new(b, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES);
    char id[VIRTIO_BLK_ID_BYTES], want[VIRTIO_BLK_ID_BYTES] = { 0 };
    uint32_t head, len;

    qvirtio_set_driver_ok(b->dev);
    qtest_memset(b->qts, r.data, 0xee, VIRTIO_BLK_ID_BYTES);
    head = req_submit(b, &r, true);
    g_assert_cmpuint(req_wait(b, &r, head, &len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(len, ==, VIRTIO_BLK_ID_BYTES + 1);
    qtest_memread(b->qts, r.data, id, sizeof(id));
    memcpy(want, BLK_SERIAL, strlen(BLK_SERIAL));
    g_assert_cmpmem(id, sizeof(id), want, sizeof(want));
    req_free(b, &r);
    blk_stop(b);
}

/* Past the end of the disk: IOERR, and nothing written to the file. */
static void test_out_of_range(void)
{
    Blk *b = pci_start(0);
    uint8_t buf[2 * SECTOR] = { 0 }, file[SECTOR];

    qvirtio_set_driver_ok(b->dev);
    g_assert_cmpuint(blk_read(b, IMG_SECTORS, buf, 1), ==,
                     VIRTIO_BLK_S_IOERR);
    /* starts inside, ends outside */
    g_assert_cmpuint(blk_read(b, IMG_SECTORS - 1, buf, 2), ==,
                     VIRTIO_BLK_S_IOERR);
    /* a sector number whose byte offset overflows 64 bits */
    g_assert_cmpuint(blk_read(b, 1ULL << 60, buf, 1), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_write(b, IMG_SECTORS - 1, buf, 2), ==,
                     VIRTIO_BLK_S_IOERR);
    file_read(b, IMG_SECTORS - 1, file, SECTOR);
    assert_pattern(file, IMG_SECTORS - 1, 1);
    /* the device carries on */
    g_assert_cmpuint(blk_read(b, 7, buf, 1), ==, VIRTIO_BLK_S_OK);
    assert_pattern(buf, 7, 1);
    blk_stop(b);
}

static void test_unsupported(void)
{
    Blk *b = pci_start(0);

    qvirtio_set_driver_ok(b->dev);
    g_assert_cmpuint(blk_simple(b, 0x55, 0), ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(blk_simple(b, 0xffffffff, 0), ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_false(qvirtio_needs_reset(b->dev));
    blk_stop(b);
}

/* VIRTIO_RING_F_INDIRECT_DESC: the whole request in an indirect table. */
static void test_indirect(void)
{
    Blk *b = pci_start(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    BlkReq r = req_new(b, VIRTIO_BLK_T_IN, 33, SECTOR);
    QVRingIndirectDesc *ind;
    uint8_t buf[SECTOR];
    uint32_t head, len;

    g_assert_true(b->dev->features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
    qvirtio_set_driver_ok(b->dev);
    ind = qvring_indirect_desc_setup(b->qts, b->dev, b->alloc, 3);
    qvring_indirect_desc_add(b->qts, ind, r.hdr, 16, false);
    qvring_indirect_desc_add(b->qts, ind, r.data, SECTOR, true);
    qvring_indirect_desc_add(b->qts, ind, r.status, 1, true);
    head = qvirtqueue_add_indirect(b->qts, b->vq, ind);
    qvirtqueue_kick(b->qts, b->dev, b->vq, head);
    g_assert_cmpuint(req_wait(b, &r, head, &len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(len, ==, SECTOR + 1);
    qtest_memread(b->qts, r.data, buf, SECTOR);
    assert_pattern(buf, 33, 1);
    qvring_indirect_desc_free(b->alloc, ind);
    req_free(b, &r);
    blk_stop(b);
}

/* Completion seen as the pending bit of the queue's masked MSI-X vector. */
static void test_msix_completion(void)
{
    Blk *b = &pci_blk;
    uint8_t buf[SECTOR];

    pci_start(0);
    qvirtio_pci_msix_enable(b->dev);
    qvirtio_pci_set_config_vector(b->dev, 0);
    qvirtqueue_pci_set_vector(b->dev, b->vq, 1);
    qvirtio_set_driver_ok(b->dev);
    g_assert_false(qpci_msix_pending(b->dev->pdev, 1));
    g_assert_cmpuint(blk_read(b, 9, buf, 1), ==, VIRTIO_BLK_S_OK);
    assert_pattern(buf, 9, 1);
    g_assert_true(qvirtio_queue_isr(b->dev, b->vq));
    g_assert_false(qpci_msix_pending(b->dev->pdev, 0));
    /* INTx stays low while MSI-X is on */
    g_assert_false(qtest_get_irq(b->qts, BLK_INTX_GSI));
    qvirtio_pci_msix_clear(b->dev, 1);
    blk_stop(b);
    qpci_msix_disable(b->dev->pdev);
}

/* Completion through INTx (GSI 10 for slot 5) and the ISR. */
static void test_intx_completion(void)
{
    Blk *b = pci_start(0);
    uint8_t buf[SECTOR];

    qvirtio_set_driver_ok(b->dev);
    g_assert_false(qtest_get_irq(b->qts, BLK_INTX_GSI));
    g_assert_cmpuint(blk_read(b, 11, buf, 1), ==, VIRTIO_BLK_S_OK);
    assert_pattern(buf, 11, 1);
    g_assert_true(qtest_get_irq(b->qts, BLK_INTX_GSI));
    g_assert_cmphex(qvirtio_pci_isr_read(b->dev), ==, VIRTIO_ISR_QUEUE);
    g_assert_false(qtest_get_irq(b->qts, BLK_INTX_GSI));
    blk_stop(b);
}

/* The same device over virtio-mmio on microvm: read, write, flush. */
static void test_mmio_read_write(void)
{
    Blk b = { 0 };
    uint8_t buf[SECTOR], data[SECTOR], file[SECTOR];

    make_image(&b);
    b.qts = qtest_initf("-M microvm -drive if=none,id=d0,file=%s,format=raw "
                        "-device virtio-blk-device,drive=d0", b.img);
    b.dev = qvirtio_mmio_device_new(b.qts, MICROVM_VIRTIO_MMIO_BASE);
    g_assert_cmpuint(b.dev->device_type, ==, VIRTIO_ID_BLOCK);
    b.alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_start_device(b.dev, 1ULL << VIRTIO_BLK_F_FLUSH);
    b.vq = qvirtqueue_setup(b.dev, b.alloc, 0);
    qvirtio_set_driver_ok(b.dev);
    g_assert_cmphex(qvirtio_config_readq(b.dev, BLK_CFG_CAPACITY), ==,
                    IMG_SECTORS);

    g_assert_cmpuint(blk_read(&b, 42, buf, 1), ==, VIRTIO_BLK_S_OK);
    assert_pattern(buf, 42, 1);
    memset(data, 0x3c, sizeof(data));
    g_assert_cmpuint(blk_write(&b, 43, data, 1), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_simple(&b, VIRTIO_BLK_T_FLUSH, 0), ==,
                     VIRTIO_BLK_S_OK);
    file_read(&b, 43, file, SECTOR);
    g_assert_cmpmem(file, SECTOR, data, SECTOR);

    blk_stop(&b);
    qvirtio_device_free(b.dev);
    qtest_quit(b.qts);
    remove_image(&b);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/blk/pci/config", test_config);
    g_test_add_func("/virtio/blk/pci/read", test_read);
    g_test_add_func("/virtio/blk/pci/read-scattered", test_read_scattered);
    g_test_add_func("/virtio/blk/pci/write-flush", test_write_flush);
    g_test_add_func("/virtio/blk/pci/get-id", test_get_id);
    g_test_add_func("/virtio/blk/pci/out-of-range", test_out_of_range);
    g_test_add_func("/virtio/blk/pci/unsupported", test_unsupported);
    g_test_add_func("/virtio/blk/pci/indirect", test_indirect);
    g_test_add_func("/virtio/blk/pci/msix-completion", test_msix_completion);
    g_test_add_func("/virtio/blk/pci/intx-completion", test_intx_completion);
    g_test_add_func("/virtio/blk/mmio/read-write", test_mmio_read_write);
    ret = g_test_run();
    if (pci_blk.qts) {
        qvirtio_device_free(pci_blk.dev);
        qpci_free(pci_blk.bus);
        qtest_quit(pci_blk.qts);
        remove_image(&pci_blk);
    }
    return ret;
}
