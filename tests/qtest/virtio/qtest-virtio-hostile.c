/*
 * A driver that lies: malformed split rings (virtio 1.2 2.7) handed to
 * virtio-blk-pci and virtio-net-pci. Each case checks that the VMM stays
 * up (qtest and QMP answer), that the device either fails the request or
 * sets DEVICE_NEEDS_RESET and sends a configuration change notification
 * (2.1.2), as Vireo's core does for an impossible ring, and that after a
 * reset the device works again.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "virtio.h"

#define VIRTIO_BLK_T_IN         0
#define VIRTIO_BLK_T_OUT        1
#define VIRTIO_BLK_S_OK         0
#define VIRTIO_BLK_S_IOERR      1
#define SECTOR                  512
#define IMG_SECTORS             256
#define SMALL_QUEUE             8
/* guest RAM ends at 128 MiB (-m default); this is far beyond it */
#define OUTSIDE_RAM             (1ULL << 40)

typedef struct Dev {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *vq;
    char *dir, *img;
} Dev;

static Dev blk, net;

/* --- virtio-blk --- */

static uint8_t pattern_byte(uint64_t sector, unsigned i)
{
    return (uint8_t)(sector * 11 + i * 5 + 3);
}

static void make_image(Dev *d)
{
    g_autofree uint8_t *data = g_malloc(IMG_SECTORS * SECTOR);
    g_autoptr(GError) err = NULL;

    for (unsigned s = 0; s < IMG_SECTORS; s++) {
        for (unsigned i = 0; i < SECTOR; i++) {
            data[s * SECTOR + i] = pattern_byte(s, i);
        }
    }
    d->dir = g_dir_make_tmp("qtest-virtio-hostile-XXXXXX", &err);
    g_assert_no_error(err);
    d->img = g_build_filename(d->dir, "disk.raw", NULL);
    g_file_set_contents(d->img, (const char *)data, IMG_SECTORS * SECTOR,
                        &err);
    g_assert_no_error(err);
}

static void file_sector(Dev *d, unsigned sector, uint8_t *out)
{
    g_autofree char *all = NULL;
    gsize size;

    g_assert_true(g_file_get_contents(d->img, &all, &size, NULL));
    g_assert_cmpuint(size, ==, IMG_SECTORS * SECTOR);
    memcpy(out, all + sector * SECTOR, SECTOR);
}

/* Two queues, so that one can stay unset; INTx, so the ISR tells. */
static Dev *blk_machine(void)
{
    if (!blk.qts) {
        make_image(&blk);
        blk.qts = qtest_initf("-M pc -drive if=none,id=d0,file=%s,"
                              "format=raw -device virtio-blk-pci,drive=d0,"
                              "num-queues=2", blk.img);
        blk.bus = qpci_new_pc(blk.qts);
        blk.dev = qvirtio_pci_device_find(blk.bus, VIRTIO_ID_BLOCK);
        g_assert_nonnull(blk.dev);
    }
    if (!blk.alloc) {
        blk.alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    }
    return &blk;
}

/* Driver initialisation (3.1.1) with queue 0 of size, up to DRIVER_OK. */
static void dev_up(Dev *d, uint64_t features, uint16_t size)
{
    qvirtio_start_device(d->dev, features);
    qvirtqueue_cleanup(d->vq);
    d->vq = qvirtqueue_setup_size(d->dev, d->alloc, 0, size);
    qvirtio_set_driver_ok(d->dev);
}

static Dev *blk_up(uint64_t features, uint16_t size)
{
    Dev *d = blk_machine();

    dev_up(d, features, size);
    return d;
}

/* A request header in guest memory. */
static uint64_t blk_hdr(Dev *d, uint32_t type, uint64_t sector)
{
    uint64_t hdr = guest_alloc(d->alloc, 16);

    qtest_writel(d->qts, hdr, type);
    qtest_writel(d->qts, hdr + 4, 0);
    qtest_writeq(d->qts, hdr + 8, sector);
    return hdr;
}

static uint64_t status_byte(Dev *d)
{
    uint64_t st = guest_alloc(d->alloc, 1);

    qtest_writeb(d->qts, st, 0xff);
    return st;
}

/* A good read of sector through the (reset and set up) device. */
static void blk_read_ok(Dev *d, unsigned sector)
{
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, sector);
    uint64_t data = guest_alloc(d->alloc, SECTOR);
    uint64_t st = status_byte(d);
    uint8_t buf[SECTOR];
    uint32_t head, len;

    head = qvirtqueue_add(d->qts, d->vq, hdr, 16, false, true);
    qvirtqueue_add(d->qts, d->vq, data, SECTOR, true, true);
    qvirtqueue_add(d->qts, d->vq, st, 1, true, false);
    qvirtqueue_kick(d->qts, d->dev, d->vq, head);
    qvirtio_wait_used_elem(d->qts, d->dev, d->vq, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, SECTOR + 1);
    g_assert_cmpuint(qtest_readb(d->qts, st), ==, VIRTIO_BLK_S_OK);
    qtest_memread(d->qts, data, buf, SECTOR);
    for (unsigned i = 0; i < SECTOR; i++) {
        g_assert_cmphex(buf[i], ==, pattern_byte(sector, i));
    }
    guest_free(d->alloc, hdr);
    guest_free(d->alloc, data);
    guest_free(d->alloc, st);
}

/*
 * The device gave up on the ring: NEEDS_RESET with a configuration change
 * interrupt (INTx, so the ISR's bit), nothing in the used ring, and the
 * VMM still answering.
 */
static void assert_needs_reset(Dev *d)
{
    qvirtio_wait_needs_reset(d->qts, d->dev, QVIRTIO_TIMEOUT_US);
    g_assert_true(qvirtio_pci_isr_read(d->dev) & VIRTIO_ISR_CONFIG);
    g_assert_cmpuint(qvirtqueue_used_idx(d->qts, d->vq), ==, 0);
    qvirtio_assert_vmm_alive(d->qts);
}

/* The device was fine with it: no NEEDS_RESET, the VMM answers. */
static void assert_healthy(Dev *d)
{
    g_assert_false(qvirtio_needs_reset(d->dev));
    qvirtio_assert_vmm_alive(d->qts);
}

/* A reset brings the device back: a normal read works again. */
static void blk_recover(Dev *d)
{
    dev_up(d, 0, SMALL_QUEUE);
    g_assert_false(qvirtio_needs_reset(d->dev));
    blk_read_ok(d, 3);
    blk_read_ok(d, IMG_SECTORS - 1);
    qvirtio_reset(d->dev);
    qvirtqueue_cleanup(d->vq);
    d->vq = NULL;
    guest_alloc_uninit(d->alloc);
    d->alloc = NULL;
}

/* Writes descriptor i of the ring and publishes head, then notifies. */
static void ring_desc(Dev *d, uint16_t i, uint64_t addr, uint32_t len,
                      uint16_t flags, uint16_t next)
{
    qvring_desc_write(d->qts, d->vq->desc, i, addr, len, flags, next);
}

static void publish_kick(Dev *d, uint32_t head)
{
    qvirtqueue_publish(d->qts, d->vq, head);
    qvirtio_notify(d->dev, d->vq->index);
}

/* 2.7.5.1: a chain whose descriptor points back to itself. */
static void test_blk_desc_self_loop(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);

    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);
    blk_recover(d);
}

/* Every descriptor of the table in one cycle: longer than the queue. */
static void test_blk_chain_longer_than_queue(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
    uint64_t data = guest_alloc(d->alloc, SECTOR);

    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    for (uint16_t i = 1; i < SMALL_QUEUE; i++) {
        ring_desc(d, i, data, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                  (i + 1) % SMALL_QUEUE);
    }
    publish_kick(d, 0);
    assert_needs_reset(d);
    blk_recover(d);
}

/* next and head indices beyond the queue size (2.7.5, 2.7.6). */
static void test_blk_index_out_of_range(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);

    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, SMALL_QUEUE + 100);
    publish_kick(d, 0);
    assert_needs_reset(d);

    dev_up(d, 0, SMALL_QUEUE);
    publish_kick(d, 0xfffe);
    assert_needs_reset(d);
    blk_recover(d);
}

/*
 * Buffers the device may not write: far beyond RAM, the device's own BAR,
 * an address range that wraps around 2^64, and the BIOS ROM below 4 GiB
 * (which must stay as it was).
 */
static void test_blk_addr_outside_ram(void)
{
    uint64_t targets[] = { OUTSIDE_RAM, 0, 0xfffffffffffff000ULL,
                           0xfffe0000ULL };
    Dev *d = blk_machine();
    uint8_t rom[0x2000], rom_after[0x2000];

    targets[1] = qpci_bar_addr(d->dev->bar);
    qtest_memread(d->qts, 0xfffe0000ULL, rom, sizeof(rom));
    for (unsigned t = 0; t < G_N_ELEMENTS(targets); t++) {
        uint64_t hdr, st;

        dev_up(d, 0, SMALL_QUEUE);
        hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
        st = status_byte(d);
        ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
        ring_desc(d, 1, targets[t], 0x2000,
                  VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
        ring_desc(d, 2, st, 1, VRING_DESC_F_WRITE, 0);
        publish_kick(d, 0);
        assert_needs_reset(d);
        g_assert_cmphex(qtest_readb(d->qts, st), ==, 0xff);
    }
    qtest_memread(d->qts, 0xfffe0000ULL, rom_after, sizeof(rom_after));
    g_assert_cmpmem(rom_after, sizeof(rom_after), rom, sizeof(rom));
    /* the header itself outside RAM */
    dev_up(d, 0, SMALL_QUEUE);
    ring_desc(d, 0, OUTSIDE_RAM, 16, 0, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);
    blk_recover(d);
}

/* Lengths of 0xffffffff run out of guest RAM: the device gives up. */
static void test_blk_huge_length(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
    uint64_t data = guest_alloc(d->alloc, SECTOR);
    uint64_t st = status_byte(d);

    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, data, 0xffffffff, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
              2);
    ring_desc(d, 2, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);

    /* a readable header of 4 GiB - 1 */
    dev_up(d, 0, SMALL_QUEUE);
    ring_desc(d, 0, hdr, 0xffffffff, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);
    blk_recover(d);
}

/*
 * Zero-length descriptors carry no bytes: one in the middle of a read is
 * skipped and the read succeeds; a zero-length status descriptor leaves
 * the last writable byte (the data's) as the status, and that request
 * fails; a zero-length header is no header at all (NEEDS_RESET).
 */
static void test_blk_zero_length(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 5);
    uint64_t data = guest_alloc(d->alloc, SECTOR);
    uint64_t st = status_byte(d);
    uint8_t buf[SECTOR];
    uint32_t len;

    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, data, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    ring_desc(d, 2, data, SECTOR, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
    ring_desc(d, 3, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 0);
    qvirtio_wait_used_elem(d->qts, d->dev, d->vq, 0, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, SECTOR + 1);
    g_assert_cmpuint(qtest_readb(d->qts, st), ==, VIRTIO_BLK_S_OK);
    qtest_memread(d->qts, data, buf, SECTOR);
    g_assert_cmphex(buf[0], ==, pattern_byte(5, 0));
    g_assert_cmphex(buf[SECTOR - 1], ==, pattern_byte(5, SECTOR - 1));
    assert_healthy(d);

    qtest_writeb(d->qts, st, 0xff);
    ring_desc(d, 4, hdr, 16, VRING_DESC_F_NEXT, 5);
    ring_desc(d, 5, data, SECTOR, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 6);
    ring_desc(d, 6, st, 0, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 4);
    qvirtio_wait_used_elem(d->qts, d->dev, d->vq, 4, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 1);
    g_assert_cmphex(qtest_readb(d->qts, data + SECTOR - 1), ==,
                    VIRTIO_BLK_S_IOERR);
    g_assert_cmphex(qtest_readb(d->qts, st), ==, 0xff);
    assert_healthy(d);

    dev_up(d, 0, SMALL_QUEUE);
    ring_desc(d, 0, hdr, 0, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);
    blk_recover(d);
}

/* Builds an indirect table of n entries at table, all chained. */
static void indirect_chain(Dev *d, uint64_t table, uint64_t hdr,
                           uint64_t data, uint64_t st)
{
    qvring_desc_write(d->qts, table, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    qvring_desc_write(d->qts, table, 1, data, SECTOR,
                      VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    qvring_desc_write(d->qts, table, 2, st, 1, VRING_DESC_F_WRITE, 0);
}

/* 2.7.5.3.1: an indirect descriptor inside an indirect table. */
static void test_blk_indirect_nested(void)
{
    Dev *d = blk_up(1ULL << VIRTIO_RING_F_INDIRECT_DESC, SMALL_QUEUE);
    uint64_t outer = guest_alloc(d->alloc, 64), inner = guest_alloc(d->alloc,
                                                                     64);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
    uint64_t data = guest_alloc(d->alloc, SECTOR), st = status_byte(d);

    indirect_chain(d, inner, hdr, data, st);
    qvring_desc_write(d->qts, outer, 0, inner, 48, VRING_DESC_F_INDIRECT, 0);
    ring_desc(d, 0, outer, 16, VRING_DESC_F_INDIRECT, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);
    g_assert_cmphex(qtest_readb(d->qts, st), ==, 0xff);
    blk_recover(d);
}

/* Indirect tables of 0 bytes, or of a length not a multiple of 16. */
static void test_blk_indirect_bad_len(void)
{
    static const uint32_t lens[] = { 0, 40, 15, 0xfffffff0 };
    Dev *d = blk_machine();

    for (unsigned i = 0; i < G_N_ELEMENTS(lens); i++) {
        uint64_t table, hdr, data, st;

        dev_up(d, 1ULL << VIRTIO_RING_F_INDIRECT_DESC, SMALL_QUEUE);
        table = guest_alloc(d->alloc, 64);
        hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
        data = guest_alloc(d->alloc, SECTOR);
        st = status_byte(d);
        indirect_chain(d, table, hdr, data, st);
        ring_desc(d, 0, table, lens[i], VRING_DESC_F_INDIRECT, 0);
        publish_kick(d, 0);
        assert_needs_reset(d);
        g_assert_cmphex(qtest_readb(d->qts, st), ==, 0xff);
    }
    blk_recover(d);
}

/* Indirect tables that loop, lie outside RAM, or were not negotiated. */
static void test_blk_indirect_misc(void)
{
    Dev *d = blk_machine();
    uint64_t table, hdr, data, st;

    /* a loop inside the table */
    dev_up(d, 1ULL << VIRTIO_RING_F_INDIRECT_DESC, SMALL_QUEUE);
    table = guest_alloc(d->alloc, 64);
    hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
    data = guest_alloc(d->alloc, SECTOR);
    st = status_byte(d);
    indirect_chain(d, table, hdr, data, st);
    qvring_desc_write(d->qts, table, 2, st, 1,
                      VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
    ring_desc(d, 0, table, 48, VRING_DESC_F_INDIRECT, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);

    /* the table outside guest RAM */
    dev_up(d, 1ULL << VIRTIO_RING_F_INDIRECT_DESC, SMALL_QUEUE);
    ring_desc(d, 0, OUTSIDE_RAM, 48, VRING_DESC_F_INDIRECT, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);

    /* INDIRECT when the driver did not accept the feature (2.7.5.3.1) */
    dev_up(d, 0, SMALL_QUEUE);
    indirect_chain(d, table, hdr, data, st);
    ring_desc(d, 0, table, 48, VRING_DESC_F_INDIRECT, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);
    blk_recover(d);
}

/* 2.7.13.3: avail idx more than the queue size ahead of what was used. */
static void test_blk_avail_idx_far_ahead(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);

    qvirtqueue_set_avail_idx(d->qts, d->vq, SMALL_QUEUE + 5);
    qvirtio_notify(d->dev, 0);
    assert_needs_reset(d);

    /* after some good requests, too: the distance is what counts */
    dev_up(d, 0, SMALL_QUEUE);
    blk_read_ok(d, 1);
    qvirtqueue_set_avail_idx(d->qts, d->vq, 0x8000);
    qvirtio_notify(d->dev, 0);
    qvirtio_wait_needs_reset(d->qts, d->dev, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(qvirtqueue_used_idx(d->qts, d->vq), ==, 1);
    qvirtio_assert_vmm_alive(d->qts);
    blk_recover(d);
}

/*
 * Buffers of the wrong direction (2.7.4): a write-only header, a readable
 * status, and a readable buffer after a writable one leave no sensible
 * request; a read into a readable buffer or a write from a writable one
 * transfers nothing and touches neither the guest buffer nor the disk.
 */
static void test_blk_wrong_direction(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 2);
    uint64_t data = guest_alloc(d->alloc, SECTOR);
    uint64_t st = status_byte(d);
    uint8_t before[SECTOR], after[SECTOR];
    uint32_t len;

    ring_desc(d, 0, hdr, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);

    dev_up(d, 0, SMALL_QUEUE);
    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, data, SECTOR, VRING_DESC_F_NEXT, 2);
    ring_desc(d, 2, st, 1, 0, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);

    dev_up(d, 0, SMALL_QUEUE);
    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, st, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    ring_desc(d, 2, data, SECTOR, 0, 0);
    publish_kick(d, 0);
    assert_needs_reset(d);

    /* IN into a device-readable data buffer */
    dev_up(d, 0, SMALL_QUEUE);
    qtest_memset(d->qts, data, 0xcc, SECTOR);
    qtest_writeb(d->qts, st, 0xff);
    ring_desc(d, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    ring_desc(d, 1, data, SECTOR, VRING_DESC_F_NEXT, 2);
    ring_desc(d, 2, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 0);
    qvirtio_wait_used_elem(d->qts, d->dev, d->vq, 0, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 1);
    g_assert_cmphex(qtest_readb(d->qts, st), !=, 0xff);
    qtest_memread(d->qts, data, after, SECTOR);
    for (unsigned i = 0; i < SECTOR; i++) {
        g_assert_cmphex(after[i], ==, 0xcc);
    }
    assert_healthy(d);

    /* OUT from a device-writable data buffer: the disk is not written */
    file_sector(d, 2, before);
    qtest_writel(d->qts, hdr, VIRTIO_BLK_T_OUT);
    qtest_writeb(d->qts, st, 0xff);
    ring_desc(d, 3, hdr, 16, VRING_DESC_F_NEXT, 4);
    ring_desc(d, 4, data, SECTOR, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
    ring_desc(d, 5, st, 1, VRING_DESC_F_WRITE, 0);
    publish_kick(d, 3);
    qvirtio_wait_used_elem(d->qts, d->dev, d->vq, 3, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 1);
    g_assert_cmphex(qtest_readb(d->qts, st), !=, 0xff);
    file_sector(d, 2, after);
    g_assert_cmpmem(after, SECTOR, before, SECTOR);
    for (unsigned i = 0; i < SECTOR; i++) {
        g_assert_cmphex(after[i], ==, pattern_byte(2, i));
    }
    assert_healthy(d);
    blk_recover(d);
}

/*
 * Notifications of a queue that was never set up, of queue indices past
 * the last, and before DRIVER_OK are ignored: nothing breaks, and a
 * request published meanwhile is served once the driver is ready.
 */
static void test_blk_bad_notify(void)
{
    Dev *d = blk_machine();
    QVirtioDevice *v = d->dev;
    uint64_t hdr, data, st;
    uint32_t head, len;

    dev_up(d, 0, SMALL_QUEUE);
    g_assert_cmpuint(qvirtio_queue_max_size(v, 1), >, 0);
    qvirtio_notify(v, 1);               /* exists, never set up */
    qvirtio_notify(v, 2);               /* past the last */
    qvirtio_notify(v, 0xffff);
    /* anywhere in the notification structure */
    qpci_io_writew(v->pdev, v->bar, v->notify_off + 0xffc, 0x3ff);
    qpci_io_writel(v->pdev, v->bar, v->notify_off + 0x10, 0xdeadbeef);
    qpci_io_writeb(v->pdev, v->bar, v->notify_off + 1, 0);
    qvirtio_assert_no_used(d->qts, d->vq, 20000);
    assert_healthy(d);
    blk_read_ok(d, 4);

    /* a kick before DRIVER_OK */
    qvirtio_start_device(v, 0);
    qvirtqueue_cleanup(d->vq);
    d->vq = qvirtqueue_setup_size(v, d->alloc, 0, SMALL_QUEUE);
    hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 6);
    data = guest_alloc(d->alloc, SECTOR);
    st = status_byte(d);
    head = qvirtqueue_add(d->qts, d->vq, hdr, 16, false, true);
    qvirtqueue_add(d->qts, d->vq, data, SECTOR, true, true);
    qvirtqueue_add(d->qts, d->vq, st, 1, true, false);
    qvirtqueue_kick(d->qts, v, d->vq, head);
    qvirtio_assert_no_used(d->qts, d->vq, 20000);
    qvirtio_set_driver_ok(v);
    qvirtio_notify(v, 0);
    qvirtio_wait_used_elem(d->qts, v, d->vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, SECTOR + 1);
    g_assert_cmpuint(qtest_readb(d->qts, st), ==, VIRTIO_BLK_S_OK);
    g_assert_cmphex(qtest_readb(d->qts, data), ==, pattern_byte(6, 0));
    assert_healthy(d);
    blk_recover(d);
}

/*
 * A reset while requests are in flight: the old ring is not written after
 * the reset (the driver may already reuse its memory), and new requests
 * complete normally.
 */
static void test_blk_reset_in_flight(void)
{
    Dev *d = blk_up(0, SMALL_QUEUE);
    uint64_t old_used = d->vq->used;
    uint64_t hdr = blk_hdr(d, VIRTIO_BLK_T_IN, 0);
    uint64_t data = guest_alloc(d->alloc, SECTOR * 2);

    for (uint16_t i = 0; i < SMALL_QUEUE / 2; i++) {
        uint64_t st = status_byte(d);
        uint32_t head = qvirtqueue_add(d->qts, d->vq, hdr, 16, false, true);

        qvirtqueue_add(d->qts, d->vq, data, SECTOR * 2, true, true);
        qvirtqueue_add(d->qts, d->vq, st, 1, true, false);
        qvirtqueue_publish(d->qts, d->vq, head);
    }
    qvirtio_notify(d->dev, 0);
    qvirtio_reset(d->dev);
    /* whatever completed before the reset is in the ring; nothing after */
    uint16_t idx = qtest_readw(d->qts, old_used + 2);
    qtest_memset(d->qts, old_used, 0xaa, 4 + 8 * SMALL_QUEUE);
    for (int i = 0; i < 50; i++) {
        qtest_clock_step(d->qts, 1000);
        g_usleep(1000);
    }
    g_assert_cmphex(qtest_readw(d->qts, old_used + 2), ==, 0xaaaa);
    g_assert_cmpuint(idx, <=, SMALL_QUEUE / 2);
    qvirtio_assert_vmm_alive(d->qts);
    blk_recover(d);
}

/* --- virtio-net transmit and receive --- */

#define NET_HDR_LEN     12
#define RXQ             0
#define TXQ             1

typedef struct NetQueues {
    QVirtQueue *rx, *tx;
} NetQueues;

static NetQueues netq;

static Dev *net_up(void)
{
    if (!net.qts) {
        net.qts = qtest_init("-M pc -netdev user,id=n0 "
                             "-device virtio-net-pci,netdev=n0");
        net.bus = qpci_new_pc(net.qts);
        net.dev = qvirtio_pci_device_find(net.bus, VIRTIO_ID_NET);
        g_assert_nonnull(net.dev);
    }
    if (!net.alloc) {
        net.alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    }
    qvirtio_start_device(net.dev, 0);
    qvirtqueue_cleanup(netq.rx);
    qvirtqueue_cleanup(netq.tx);
    netq.rx = qvirtqueue_setup(net.dev, net.alloc, RXQ);
    netq.tx = qvirtqueue_setup(net.dev, net.alloc, TXQ);
    net.vq = netq.tx;
    qvirtio_set_driver_ok(net.dev);
    return &net;
}

/* An ARP request for 10.0.2.2 from 52:54:00:12:34:56 behind a zero header. */
static size_t arp_packet(uint8_t *p)
{
    static const uint8_t frame[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34,
        0x56, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15,
        0, 0, 0, 0, 0, 0, 10, 0, 2, 2,
    };

    memset(p, 0, NET_HDR_LEN);
    memcpy(p + NET_HDR_LEN, frame, sizeof(frame));
    return NET_HDR_LEN + sizeof(frame);
}

/* The ARP exchange works: the device is (again) in order. */
static void net_exchange_ok(Dev *d)
{
    uint8_t pkt[64], reply[NET_HDR_LEN + 64];
    size_t n = arp_packet(pkt);
    uint64_t tx = guest_alloc(d->alloc, n), rx = guest_alloc(d->alloc, 1526);
    uint32_t head, len;

    head = qvirtqueue_add(d->qts, netq.rx, rx, 1526, true, false);
    qvirtqueue_kick(d->qts, d->dev, netq.rx, head);
    qtest_memwrite(d->qts, tx, pkt, n);
    head = qvirtqueue_add(d->qts, netq.tx, tx, n, false, false);
    qvirtqueue_kick(d->qts, d->dev, netq.tx, head);
    qvirtio_wait_used_elem(d->qts, d->dev, netq.tx, head, &len,
                           QVIRTIO_TIMEOUT_US);
    qvirtio_wait_used_elem(d->qts, d->dev, netq.rx, 0, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, >=, NET_HDR_LEN + 42);
    qtest_memread(d->qts, rx, reply, sizeof(reply));
    /* an ARP reply (op 2) to our MAC */
    g_assert_cmphex(reply[NET_HDR_LEN + 12] << 8 | reply[NET_HDR_LEN + 13],
                    ==, 0x0806);
    g_assert_cmphex(reply[NET_HDR_LEN + 21], ==, 2);
    g_assert_cmpmem(reply + NET_HDR_LEN, 6, pkt + NET_HDR_LEN + 6, 6);
    guest_free(d->alloc, tx);
    guest_free(d->alloc, rx);
}

static void net_recover(Dev *d)
{
    net_up();
    g_assert_false(qvirtio_needs_reset(d->dev));
    net_exchange_ok(d);
    qvirtio_reset(d->dev);
    qvirtqueue_cleanup(netq.rx);
    qvirtqueue_cleanup(netq.tx);
    netq.rx = netq.tx = NULL;
    d->vq = NULL;
    guest_alloc_uninit(d->alloc);
    d->alloc = NULL;
}

/* A transmit chain that loops (2.7.5.1). */
static void test_net_tx_loop(void)
{
    Dev *d = net_up();
    uint8_t pkt[64];
    size_t n = arp_packet(pkt);
    uint64_t tx = guest_alloc(d->alloc, n);

    qtest_memwrite(d->qts, tx, pkt, n);
    qvring_desc_write(d->qts, netq.tx->desc, 0, tx, n, VRING_DESC_F_NEXT, 1);
    qvring_desc_write(d->qts, netq.tx->desc, 1, tx, n, VRING_DESC_F_NEXT, 0);
    qvirtqueue_publish(d->qts, netq.tx, 0);
    qvirtio_notify(d->dev, TXQ);
    assert_needs_reset(d);
    net_recover(d);
}

/*
 * Transmit buffers the device cannot send: only device-writable, larger
 * than any frame, shorter than the header, or all zero-length. They are
 * dropped and returned; the device carries on.
 */
static void test_net_tx_unsendable(void)
{
    Dev *d = net_up();
    uint64_t big = guest_alloc(d->alloc, 70000);
    uint8_t pkt[64];
    size_t n = arp_packet(pkt);
    uint64_t tx = guest_alloc(d->alloc, n);
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
    } bad[] = {
        { tx, n, VRING_DESC_F_WRITE },
        { big, 70000, 0 },
        { tx, NET_HDR_LEN - 2, 0 },
        { tx, 0, 0 },
    };
    uint32_t len;

    qtest_memwrite(d->qts, tx, pkt, n);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        qvring_desc_write(d->qts, netq.tx->desc, i, bad[i].addr, bad[i].len,
                          bad[i].flags, 0);
        qvirtqueue_publish(d->qts, netq.tx, i);
        qvirtio_notify(d->dev, TXQ);
        qvirtio_wait_used_elem(d->qts, d->dev, netq.tx, i, &len,
                               QVIRTIO_TIMEOUT_US);
        g_assert_cmpuint(len, ==, 0);
        assert_healthy(d);
    }
    net_recover(d);
}

/* Transmit buffers outside RAM, and a descriptor index past the queue. */
static void test_net_tx_bad_addresses(void)
{
    Dev *d = net_up();

    qvring_desc_write(d->qts, netq.tx->desc, 0, OUTSIDE_RAM, 64, 0, 0);
    qvirtqueue_publish(d->qts, netq.tx, 0);
    qvirtio_notify(d->dev, TXQ);
    assert_needs_reset(d);

    net_up();
    qvirtqueue_publish(d->qts, netq.tx, netq.tx->size + 3);
    qvirtio_notify(d->dev, TXQ);
    assert_needs_reset(d);
    net_recover(d);
}

/*
 * A receive buffer the device may only read (it must write frames): the
 * frame has nowhere to go; the device gives up on the ring.
 */
static void test_net_rx_readonly_buffer(void)
{
    Dev *d = net_up();
    uint8_t pkt[64];
    size_t n = arp_packet(pkt);
    uint64_t tx = guest_alloc(d->alloc, n), rx = guest_alloc(d->alloc, 1526);
    uint32_t head;

    qtest_memset(d->qts, rx, 0xcc, 1526);
    head = qvirtqueue_add(d->qts, netq.rx, rx, 1526, false, false);
    qvirtqueue_kick(d->qts, d->dev, netq.rx, head);
    qtest_memwrite(d->qts, tx, pkt, n);
    head = qvirtqueue_add(d->qts, netq.tx, tx, n, false, false);
    qvirtqueue_kick(d->qts, d->dev, netq.tx, head);
    /*
     * slirp answers while the request is being sent; the reply needs the
     * receive buffer, which it cannot use. From then on the device uses
     * no ring, so whether the transmit buffer came back is not specified.
     */
    qvirtio_wait_needs_reset(d->qts, d->dev, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(qvirtqueue_used_idx(d->qts, netq.rx), ==, 0);
    g_assert_cmphex(qtest_readb(d->qts, rx), ==, 0xcc);
    qvirtio_assert_vmm_alive(d->qts);
    net_recover(d);
}

/*
 * virtio-mmio on microvm (virtio-rng): notifications of queues past the
 * last are ignored; a looping chain sets NEEDS_RESET with the
 * configuration change bit in InterruptStatus and the line (GSI 5) up;
 * a reset clears both and the device works again.
 */
static void test_mmio_rng(void)
{
    QTestState *qts = qtest_init("-M microvm -device virtio-rng-device");
    QVirtioDevice *v = qvirtio_mmio_device_new(qts, MICROVM_VIRTIO_MMIO_BASE);
    QGuestAllocator *alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    uint64_t buf = guest_alloc(alloc, 64);
    QVirtQueue *vq;
    uint32_t head, len;

    qtest_irq_intercept_in(qts, "ioapic");
    qvirtio_start_device(v, 0);
    vq = qvirtqueue_setup_size(v, alloc, 0, SMALL_QUEUE);
    qvirtio_set_driver_ok(v);
    qvirtio_notify(v, 1);
    qvirtio_notify(v, 0xffff);
    qvirtio_mmio_writel(v, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
    qvirtio_assert_no_used(qts, vq, 20000);
    g_assert_false(qvirtio_needs_reset(v));
    g_assert_false(qtest_get_irq(qts, MICROVM_VIRTIO_MMIO_GSI0));

    qvring_desc_write(qts, vq->desc, 0, buf, 64,
                      VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
    qvirtqueue_publish(qts, vq, 0);
    qvirtio_notify(v, 0);
    qvirtio_wait_needs_reset(qts, v, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(qvirtqueue_used_idx(qts, vq), ==, 0);
    g_assert_true(qvirtio_mmio_readl(v, VIRTIO_MMIO_INTERRUPT_STATUS) &
                  VIRTIO_ISR_CONFIG);
    g_assert_true(qtest_get_irq(qts, MICROVM_VIRTIO_MMIO_GSI0));
    qvirtio_assert_vmm_alive(qts);

    qvirtio_reset(v);
    g_assert_false(qtest_get_irq(qts, MICROVM_VIRTIO_MMIO_GSI0));
    qvirtqueue_cleanup(vq);
    qvirtio_start_device(v, 0);
    vq = qvirtqueue_setup_size(v, alloc, 0, SMALL_QUEUE);
    qvirtio_set_driver_ok(v);
    head = qvirtqueue_add(qts, vq, buf, 64, true, false);
    qvirtqueue_kick(qts, v, vq, head);
    qvirtio_wait_used_elem(qts, v, vq, head, &len, QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 64);
    qvirtio_assert_vmm_alive(qts);

    qvirtqueue_cleanup(vq);
    guest_alloc_uninit(alloc);
    qvirtio_device_free(v);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/hostile/blk/desc-self-loop",
                    test_blk_desc_self_loop);
    g_test_add_func("/virtio/hostile/blk/chain-longer-than-queue",
                    test_blk_chain_longer_than_queue);
    g_test_add_func("/virtio/hostile/blk/index-out-of-range",
                    test_blk_index_out_of_range);
    g_test_add_func("/virtio/hostile/blk/addr-outside-ram",
                    test_blk_addr_outside_ram);
    g_test_add_func("/virtio/hostile/blk/huge-length", test_blk_huge_length);
    g_test_add_func("/virtio/hostile/blk/zero-length", test_blk_zero_length);
    g_test_add_func("/virtio/hostile/blk/indirect-nested",
                    test_blk_indirect_nested);
    g_test_add_func("/virtio/hostile/blk/indirect-bad-len",
                    test_blk_indirect_bad_len);
    g_test_add_func("/virtio/hostile/blk/indirect-misc",
                    test_blk_indirect_misc);
    g_test_add_func("/virtio/hostile/blk/avail-idx-far-ahead",
                    test_blk_avail_idx_far_ahead);
    g_test_add_func("/virtio/hostile/blk/wrong-direction",
                    test_blk_wrong_direction);
    g_test_add_func("/virtio/hostile/blk/bad-notify", test_blk_bad_notify);
    g_test_add_func("/virtio/hostile/blk/reset-in-flight",
                    test_blk_reset_in_flight);
    g_test_add_func("/virtio/hostile/net/tx-loop", test_net_tx_loop);
    g_test_add_func("/virtio/hostile/net/tx-unsendable",
                    test_net_tx_unsendable);
    g_test_add_func("/virtio/hostile/net/tx-bad-addresses",
                    test_net_tx_bad_addresses);
    g_test_add_func("/virtio/hostile/net/rx-readonly-buffer",
                    test_net_rx_readonly_buffer);
    g_test_add_func("/virtio/hostile/mmio/rng", test_mmio_rng);
    ret = g_test_run();
    if (blk.qts) {
        qvirtio_device_free(blk.dev);
        qpci_free(blk.bus);
        qtest_quit(blk.qts);
        g_unlink(blk.img);
        g_rmdir(blk.dir);
        g_free(blk.img);
        g_free(blk.dir);
    }
    if (net.qts) {
        qvirtio_device_free(net.dev);
        qpci_free(net.bus);
        qtest_quit(net.qts);
    }
    return ret;
}
