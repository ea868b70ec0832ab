/*
 * The virtio core (split rings with indirect descriptors and event index,
 * hostile rings that must end in DEVICE_NEEDS_RESET), the virtio-mmio
 * register interface with its QueueNotify eventfds, and virtio-rng, on a
 * bare machine with 1 MiB of RAM.
 */
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-rng.h"
#include "system/timer.h"
#include "util/le.h"

#define RAM_SIZE    0x100000
#define QSIZE       8
#define DESC        0x1000
#define AVAIL       0x2000
#define USED        0x3000
#define BUF         0x10000
#define MMIO_BASE   0xfeb00000ULL
#define MMIO_GSI    5

#define FIXTURE_OF(v) ((Fixture *)((char *)(v) - offsetof(Fixture, vdev)))

typedef struct Fixture {
    Machine m;
    MemoryRegion sysmem;
    MemoryRegion io;
    uint8_t *ram;
    int irq_level[X86_NUM_GSI];
    /* the test device */
    VirtIODevice vdev;
    int notifies;           /* queue interrupts */
    int config_notifies;
    int handled;            /* handle_queue calls */
} Fixture;

static void gsi_handler(void *opaque, int n, int level)
{
    Fixture *f = opaque;
    f->irq_level[n] = level;
}

static void test_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    Fixture *f = FIXTURE_OF(vdev);
    f->handled++;
}

static const VirtioDeviceOps test_ops = {
    .device_id = 42,
    .features = 1ULL << 3,
    .config_size = 8,
    .num_queues = 2,
    .queue_max_size = QSIZE,
    .handle_queue = test_handle_queue,
};

static void test_notify(VirtIODevice *vdev, VirtQueue *vq)
{
    Fixture *f = FIXTURE_OF(vdev);
    if (vq) {
        f->notifies++;
    } else {
        f->config_notifies++;
    }
}

/* As KVM: doorbells may be ioeventfds (AccelOps.ioeventfds) */
static const AccelOps eventfd_accel = { .name = "eventfd", .ioeventfds = true };
static const AccelOps plain_accel = { .name = "plain" };

static void fixture_init(Fixture *f, gconstpointer data)
{
    Machine *m = &f->m;
    GError *err = NULL;

    memset(f, 0, sizeof(*f));
    clock_virtual_set_manual(true);
    memory_region_init_container(&f->sysmem, "system", UINT64_MAX);
    memory_region_init_container(&f->io, "io", 0x10000);
    m->sysmem = &f->sysmem;
    m->io = &f->io;
    m->accel = &eventfd_accel;
    g_assert_true(memory_region_init_ram(&m->ram, "ram", RAM_SIZE, &err));
    g_assert_no_error(err);
    memory_region_add_subregion(m->sysmem, 0, &m->ram);
    address_space_init(&m->as_mem, m->sysmem, "memory");
    address_space_init(&m->as_io, m->io, "io");
    for (int i = 0; i < X86_NUM_GSI; i++) {
        m->gsi[i] = (IRQLine){ .handler = gsi_handler, .opaque = f, .n = i };
    }
    f->ram = memory_region_get_ram_ptr(&m->ram);

    /* a driven-by-hand device: features negotiated, queue 0 ready */
    virtio_init(&f->vdev, &test_ops, "test", &m->as_mem);
    f->vdev.notify = test_notify;
}

static void fixture_fini(Fixture *f, gconstpointer data)
{
    Machine *m = &f->m;

    address_space_destroy(&m->as_mem);
    address_space_destroy(&m->as_io);
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    virtio_cleanup(&f->vdev);
    memory_region_del_subregion(m->sysmem, &m->ram);
    memory_region_destroy(&m->ram);
    memory_region_destroy(&f->sysmem);
    memory_region_destroy(&f->io);
}

/* Negotiates features (VERSION_1 plus extra) and makes queue 0 ready. */
static VirtQueue *start_device(Fixture *f, uint64_t extra)
{
    VirtIODevice *vdev = &f->vdev;
    uint64_t feat = (1ULL << VIRTIO_F_VERSION_1) | extra;

    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER);
    virtio_set_driver_features(vdev, 0, feat);
    virtio_set_driver_features(vdev, 1, feat >> 32);
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_cmphex(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK, ==,
                    VIRTIO_CONFIG_S_FEATURES_OK);
    VirtQueue *vq = &vdev->vq[0];
    vq->num = QSIZE;
    vq->desc = DESC;
    vq->avail = AVAIL;
    vq->used = USED;
    virtio_queue_set_ready(vdev, 0, true);
    g_assert_true(vq->ready);
    virtio_set_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
    return vq;
}

/* The driver side, written straight into RAM. */
static void put_desc(Fixture *f, hwaddr table, unsigned i, uint64_t addr,
                     uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = f->ram + table + 16 * i;
    st64(p, addr);
    st32(p + 8, len);
    st16(p + 12, flags);
    st16(p + 14, next);
}

static void make_avail(Fixture *f, uint16_t head)
{
    uint16_t idx = ld16(f->ram + AVAIL + 2);
    st16(f->ram + AVAIL + 4 + 2 * (idx % QSIZE), head);
    st16(f->ram + AVAIL + 2, idx + 1);
}

static uint16_t used_idx(Fixture *f)
{
    return ld16(f->ram + USED + 2);
}

static void assert_needs_reset(Fixture *f)
{
    g_assert_true(f->vdev.broken);
    g_assert_cmphex(f->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    g_assert_cmphex(f->vdev.isr & VIRTIO_ISR_CONFIG, ==, VIRTIO_ISR_CONFIG);
    g_assert_cmpint(f->config_notifies, ==, 1);
    /* and stays stopped: nothing more is taken from the ring */
    g_assert_null(virtq_pop(&f->vdev.vq[0]));
}

static void test_ring_chain(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
    put_desc(f, DESC, 5, BUF + 0x100, 32, VIRTQ_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF + 0x200, 64, VIRTQ_DESC_F_WRITE, 0);
    g_assert_true(virtq_empty(vq));
    make_avail(f, 3);
    g_assert_false(virtq_empty(vq));

    VirtQueueElement *e = virtq_pop(vq);
    g_assert_nonnull(e);
    g_assert_cmpuint(e->index, ==, 3);
    g_assert_cmpuint(e->out_num, ==, 2);
    g_assert_cmpuint(e->in_num, ==, 1);
    g_assert_cmpuint(e->out_len, ==, 48);
    g_assert_cmpuint(e->in_len, ==, 64);
    g_assert_true(e->out_sg[0].iov_base == f->ram + BUF);
    g_assert_true(e->out_sg[1].iov_base == f->ram + BUF + 0x100);
    g_assert_true(e->in_sg[0].iov_base == f->ram + BUF + 0x200);
    g_assert_null(virtq_pop(vq));

    g_assert_cmpuint(virtq_elem_fill(e, 60, "abcdefgh", 8), ==, 4);
    g_assert_cmpmem(f->ram + BUF + 0x200 + 60, 4, "abcd", 4);
    virtq_push(vq, e, 20);
    g_free(e);
    g_assert_cmpuint(used_idx(f), ==, 1);
    g_assert_cmpuint(ld32(f->ram + USED + 4), ==, 3);
    g_assert_cmpuint(ld32(f->ram + USED + 8), ==, 20);
    virtq_notify(vq);
    g_assert_cmpint(f->notifies, ==, 1);
    g_assert_cmphex(f->vdev.isr, ==, VIRTIO_ISR_QUEUE);

    /* VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the interrupt */
    st16(f->ram + AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
    put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    make_avail(f, 0);
    e = virtq_pop(vq);
    g_assert_nonnull(e);
    virtq_push(vq, e, 8);
    g_free(e);
    virtq_notify(vq);
    g_assert_cmpint(f->notifies, ==, 1);
    g_assert_false(f->vdev.broken);
}

static void test_ring_indirect(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    hwaddr table = 0x4000;

    put_desc(f, table, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 2);
    put_desc(f, table, 2, BUF + 0x100, 20, VIRTQ_DESC_F_NEXT |
             VIRTQ_DESC_F_WRITE, 1);
    put_desc(f, table, 1, BUF + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
    put_desc(f, DESC, 4, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 4);

    VirtQueueElement *e = virtq_pop(vq);
    g_assert_nonnull(e);
    g_assert_cmpuint(e->index, ==, 4);
    g_assert_cmpuint(e->out_num, ==, 1);
    g_assert_cmpuint(e->in_num, ==, 2);
    g_assert_cmpuint(e->in_len, ==, 50);
    g_assert_true(e->in_sg[1].iov_base == f->ram + BUF + 0x200);
    virtq_push(vq, e, 50);
    g_free(e);
    g_assert_cmpuint(used_idx(f), ==, 1);
    g_assert_false(f->vdev.broken);
}

static void test_ring_event_idx(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 1ULL << VIRTIO_RING_F_EVENT_IDX);
    hwaddr used_event = AVAIL + 4 + 2 * QSIZE;
    hwaddr avail_event = USED + 4 + 8 * QSIZE;

    for (int i = 0; i < 4; i++) {
        put_desc(f, DESC, i, BUF + 0x100 * i, 16, VIRTQ_DESC_F_WRITE, 0);
        make_avail(f, i);
    }
    /* the driver wants an interrupt once used idx passes 2 */
    st16(f->ram + used_event, 2);
    int expect[4] = { 1, 1, 2, 2 };     /* the first is always sent */
    for (int i = 0; i < 4; i++) {
        VirtQueueElement *e = virtq_pop(vq);
        g_assert_nonnull(e);
        /* 2.7.10: we ask for a kick when the driver passes our position */
        g_assert_cmpuint(ld16(f->ram + avail_event), ==, i + 1);
        virtq_push(vq, e, 16);
        g_free(e);
        virtq_notify(vq);
        g_assert_cmpint(f->notifies, ==, expect[i]);
    }
    /* used_event behind: no interrupt until it moves */
    g_assert_false(f->vdev.broken);
}

/* --- hostile rings --- */

static void test_hostile_loop(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
    /* a reset clears it and the queue can be set up again */
    virtio_set_status(&f->vdev, 0);
    g_assert_false(f->vdev.broken);
    g_assert_cmphex(f->vdev.status, ==, 0);
    g_assert_false(vq->ready);
}

static void test_hostile_next_out_of_range(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, QSIZE);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_head_out_of_range(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    make_avail(f, 0xffff);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_huge_length(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, DESC, 0, BUF, 0xffffffff, VIRTQ_DESC_F_WRITE, 0);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_outside_ram(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, DESC, 0, 0xfffffffffffff000ULL, 0x2000, 0, 0);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_nested_indirect(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);

    put_desc(f, 0x4000, 0, 0x5000, 16, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc(f, 0x5000, 0, BUF, 16, 0, 0);
    put_desc(f, DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_indirect_loop(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);

    put_desc(f, 0x4000, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(f, 0x4000, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    put_desc(f, DESC, 0, 0x4000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_indirect_not_negotiated(Fixture *f,
                                                 gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, 0x4000, 0, BUF, 16, 0, 0);
    put_desc(f, DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_avail_jump(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = start_device(f, 0);

    put_desc(f, DESC, 0, BUF, 16, 0, 0);
    st16(f->ram + AVAIL + 2, QSIZE + 1);
    g_assert_null(virtq_pop(vq));
    assert_needs_reset(f);
}

static void test_hostile_rings_outside_ram(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = &f->vdev.vq[0];

    start_device(f, 0);
    vq->ready = false;
    vq->desc = RAM_SIZE - 16;   /* table of 8 runs past the end of RAM */
    virtio_queue_set_ready(&f->vdev, 0, true);
    g_assert_false(vq->ready);
    assert_needs_reset(f);
}

static void test_hostile_bad_queue_size(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = &f->vdev.vq[1];

    start_device(f, 0);
    vq->num = QSIZE * 2;
    virtio_queue_set_ready(&f->vdev, 1, true);
    g_assert_false(vq->ready);
    g_assert_true(f->vdev.broken);
}

/* --- virtio-mmio --- */

static uint32_t mmio_rd(Fixture *f, hwaddr reg)
{
    uint64_t v = 0;
    g_assert_cmpint(address_space_ld(&f->m.as_mem, MMIO_BASE + reg, 4, &v),
                    ==, MEMTX_OK);
    return v;
}

static void mmio_wr(Fixture *f, hwaddr reg, uint32_t v)
{
    g_assert_cmpint(address_space_st(&f->m.as_mem, MMIO_BASE + reg, 4, v),
                    ==, MEMTX_OK);
}

/* Runs what the main loop has ready: the queues' eventfd handlers. */
static void main_loop_run_pending(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

/* The driver kicks queue q, and the main loop runs (4.2.2 QueueNotify). */
static void mmio_kick(Fixture *f, uint32_t q)
{
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
    main_loop_run_pending();
}

/* The eventfds of the system address space's view at addr. */
static unsigned view_eventfds_at(Fixture *f, hwaddr addr)
{
    const FlatView *v = f->m.as_mem.view;
    unsigned n = 0;

    for (size_t i = 0; i < v->nr_ioeventfds; i++) {
        n += v->ioeventfds[i].addr == addr;
    }
    return n;
}

/* A transport at MMIO_BASE (ioeventfd on or off), the test device in it. */
static void mmio_setup_ioeventfd(Fixture *f, bool plug, const char *ioeventfd)
{
    GError *err = NULL;

    memory_transaction_begin();
    Device *d = x86_create_device(&f->m, TYPE_VIRTIO_MMIO, &err,
                                  "addr", "0xfeb00000", "irq", "5",
                                  "ioeventfd", ioeventfd, NULL);
    memory_transaction_commit();
    g_assert_no_error(err);
    g_assert_nonnull(d);
    if (plug) {
        g_assert_true(virtio_mmio_plug(&f->m, &f->vdev, "test", &err));
        g_assert_no_error(err);
    }
}

/* A transport at MMIO_BASE with the fixture's test device plugged in. */
static void mmio_setup(Fixture *f, bool plug)
{
    mmio_setup_ioeventfd(f, plug, "on");
}

static void test_mmio_identity(Fixture *f, gconstpointer data)
{
    mmio_setup(f, false);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_MAGIC_VALUE), ==, 0x74726976);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_VERSION), ==, 2);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_DEVICE_ID), ==, 0); /* empty */

    GError *err = NULL;
    g_assert_true(virtio_mmio_plug(&f->m, &f->vdev, "test", &err));
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_DEVICE_ID), ==, 42);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_VENDOR_ID), ==, VIRTIO_MMIO_VENDOR);
    /* one slot, now used */
    VirtIODevice other;
    virtio_init(&other, &test_ops, "other", &f->m.as_mem);
    g_assert_false(virtio_mmio_plug(&f->m, &other, "other", &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "no free virtio-mmio slot"));
    g_clear_error(&err);
    virtio_cleanup(&other);
}

static void test_mmio_features(Fixture *f, gconstpointer data)
{
    mmio_setup(f, true);
    mmio_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = mmio_rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
    g_assert_cmphex(lo & (1u << 3), !=, 0);
    g_assert_cmphex(lo & (1u << VIRTIO_RING_F_INDIRECT_DESC), !=, 0);
    g_assert_cmphex(lo & (1u << VIRTIO_RING_F_EVENT_IDX), !=, 0);
    mmio_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_DEVICE_FEATURES), ==, 1);
    mmio_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_DEVICE_FEATURES), ==, 0);

    /* FEATURES_OK is refused without VIRTIO_F_VERSION_1 */
    mmio_wr(f, VIRTIO_MMIO_STATUS, 3);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 3);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 3);

    /* and refused for bits the device did not offer */
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1 | 2);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 3);

    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0xb);
    g_assert_true(virtio_has_feature(&f->vdev, VIRTIO_F_VERSION_1));
    g_assert_true(virtio_has_feature(&f->vdev, 3));
    /* features are fixed once FEATURES_OK is set */
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    g_assert_true(virtio_has_feature(&f->vdev, 3));
}

/* The driver's side of 4.2.3: features, one queue, DRIVER_OK. */
static void mmio_driver_init(Fixture *f, uint32_t queue_num)
{
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 3);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0xb);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0xb);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NUM, queue_num);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0xf);
}

static void test_mmio_queue_and_interrupt(Fixture *f, gconstpointer data)
{
    mmio_setup(f, true);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, QSIZE);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);       /* no such queue */
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);

    mmio_driver_init(f, 4);
    VirtQueue *vq = &f->vdev.vq[0];
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_QUEUE_READY), ==, 1);
    g_assert_cmpuint(vq->num, ==, 4);
    g_assert_cmphex(vq->desc, ==, DESC);
    g_assert_cmphex(vq->avail, ==, AVAIL);
    g_assert_cmphex(vq->used, ==, USED);

    mmio_kick(f, 0);
    g_assert_cmpint(f->handled, ==, 1);
    mmio_kick(f, 7);    /* ignored */
    g_assert_cmpint(f->handled, ==, 1);

    /* a used buffer raises the line until the driver acknowledges it */
    put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
    st16(f->ram + AVAIL + 4, 0);
    st16(f->ram + AVAIL + 2, 1);
    VirtQueueElement *e = virtq_pop(vq);
    g_assert_nonnull(e);
    virtq_push(vq, e, 16);
    g_free(e);
    virtq_notify(vq);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), ==, 1);
    g_assert_cmpint(f->irq_level[MMIO_GSI], ==, 1);
    mmio_wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 1);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), ==, 0);
    g_assert_cmpint(f->irq_level[MMIO_GSI], ==, 0);

    /* reset: status, features, queues and interrupt all back to 0 */
    virtio_notify_config(&f->vdev);
    g_assert_cmpint(f->irq_level[MMIO_GSI], ==, 1);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_CONFIG_GENERATION), ==, 1);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), ==, 0);
    g_assert_cmpint(f->irq_level[MMIO_GSI], ==, 0);
    g_assert_false(virtio_has_feature(&f->vdev, VIRTIO_F_VERSION_1));
}

static void test_mmio_bad_queue_num(Fixture *f, gconstpointer data)
{
    mmio_setup(f, true);
    mmio_driver_init(f, QSIZE + 1);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS) &
                    VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    /* 2.1.2: the config interrupt is only for a DRIVER_OK driver */
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), ==, 0);
    /* the driver's status writes do not clear it; a reset does */
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0xf);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0x4f);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0);
}

static void test_mmio_config(Fixture *f, gconstpointer data)
{
    mmio_setup(f, true);
    memcpy(f->vdev.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_CONFIG + 4), ==, 0x88776655);
    uint64_t v = 0;
    address_space_ld(&f->m.as_mem, MMIO_BASE + VIRTIO_MMIO_CONFIG + 1, 1, &v);
    g_assert_cmphex(v, ==, 0x22);
    address_space_st(&f->m.as_mem, MMIO_BASE + VIRTIO_MMIO_CONFIG + 2, 2,
                     0xabcd);
    g_assert_cmphex(f->vdev.config[2], ==, 0xcd);
    /* beyond the config space: reads 0, writes dropped */
    g_assert_cmphex(mmio_rd(f, VIRTIO_MMIO_CONFIG + 8), ==, 0);
    mmio_wr(f, VIRTIO_MMIO_CONFIG + 6, 0xffffffff);
    g_assert_cmphex(f->vdev.config[6], ==, 0x77);
}

/* --- QueueNotify by eventfd (ioeventfd) --- */

/*
 * While the driver runs, the kick of a ready queue signals its eventfd:
 * the write does not reach the register callback, the main loop's handler
 * runs the queue.
 */
static void test_mmio_ioeventfd_notify(Fixture *f, gconstpointer data)
{
    mmio_setup(f, true);
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 0);
    mmio_driver_init(f, 4);
    g_assert_true(virtio_queue_host_notifier_active(&f->vdev, 0));
    g_assert_false(virtio_queue_host_notifier_active(&f->vdev, 1));
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 1);
    g_assert_true(f->m.as_mem.view->ioeventfds[0].match_data);
    g_assert_cmpuint(f->m.as_mem.view->ioeventfds[0].data, ==, 0);
    g_assert_cmpuint(f->m.as_mem.view->ioeventfds[0].size, ==, 4);

    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_cmpint(f->handled, ==, 0);         /* not in the callback */
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    main_loop_run_pending();
    g_assert_cmpint(f->handled, ==, 1);         /* two kicks, one run */
    mmio_kick(f, 0);
    g_assert_cmpint(f->handled, ==, 2);

    /* status 0: the eventfd goes, kicks reach the callback again */
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0);
    g_assert_false(virtio_queue_host_notifier_active(&f->vdev, 0));
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 0);
    mmio_kick(f, 0);
    g_assert_cmpint(f->handled, ==, 2);         /* not ready: ignored */

    /* the driver starts over: the eventfd is back */
    mmio_driver_init(f, 4);
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 1);
    mmio_kick(f, 0);
    g_assert_cmpint(f->handled, ==, 3);
}

/* A kick signalled just before a reset is not run on the reset queue. */
static void test_mmio_ioeventfd_kick_before_reset(Fixture *f,
                                                  gconstpointer data)
{
    mmio_setup(f, true);
    mmio_driver_init(f, 4);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0);
    main_loop_run_pending();
    g_assert_cmpint(f->handled, ==, 0);
}

/* Machine reset and unplugging take the eventfds away too. */
static void test_mmio_ioeventfd_reset_and_unplug(Fixture *f,
                                                 gconstpointer data)
{
    mmio_setup(f, true);
    mmio_driver_init(f, 4);
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 1);
    Device *t = f->m.devices;
    g_assert_nonnull(t->cls->reset);
    t->cls->reset(t);
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 0);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0);

    mmio_driver_init(f, 4);
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 1);
    virtio_mmio_unplug(&f->vdev);
    g_assert_cmpuint(view_eventfds_at(f, MMIO_BASE + 0x50), ==, 0);
    g_assert_false(virtio_queue_host_notifier_active(&f->vdev, 0));
}

/* ioeventfd=off: QueueNotify runs the queue in the write, as before. */
static void test_mmio_ioeventfd_off(Fixture *f, gconstpointer data)
{
    mmio_setup_ioeventfd(f, true, "off");
    mmio_driver_init(f, 4);
    g_assert_cmpuint(f->m.as_mem.view->nr_ioeventfds, ==, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_cmpint(f->handled, ==, 1);
}

/* An accelerator without ioeventfds (the software CPU): the same. */
static void test_mmio_accel_without_ioeventfds(Fixture *f, gconstpointer data)
{
    f->m.accel = &plain_accel;
    mmio_setup(f, true);
    mmio_driver_init(f, 4);
    g_assert_cmpuint(f->m.as_mem.view->nr_ioeventfds, ==, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_cmpint(f->handled, ==, 1);
}

/*
 * The core's helper as a transport with a 2-byte notify register (as
 * virtio-pci's) uses it: set up, moved, and off.
 */
static void test_host_notifier_helper(Fixture *f, gconstpointer data)
{
    MemoryRegion notify;
    GError *err = NULL;

    memory_region_init_io(&notify, "notify", &(MemoryRegionOps){ 0 }, NULL,
                          0x100);
    memory_region_add_subregion(f->m.sysmem, 0xe0000000, &notify);
    start_device(f, 0);
    g_assert_true(virtio_queue_set_host_notifier(&f->vdev, 0, &notify, 0, 2,
                                                 false, 0, true, &err));
    g_assert_no_error(err);
    address_space_st(&f->m.as_mem, 0xe0000000, 2, 0);
    main_loop_run_pending();
    g_assert_cmpint(f->handled, ==, 1);

    /* moved: the old place is a plain register again */
    g_assert_true(virtio_queue_set_host_notifier(&f->vdev, 0, &notify, 4, 2,
                                                 false, 0, true, &err));
    g_assert_cmpuint(view_eventfds_at(f, 0xe0000000), ==, 0);
    g_assert_cmpuint(view_eventfds_at(f, 0xe0000004), ==, 1);
    address_space_st(&f->m.as_mem, 0xe0000004, 2, 0);
    main_loop_run_pending();
    g_assert_cmpint(f->handled, ==, 2);

    /* off, with a kick already signalled: it still runs */
    address_space_st(&f->m.as_mem, 0xe0000004, 2, 0);
    g_assert_true(virtio_queue_set_host_notifier(&f->vdev, 0, NULL, 0, 0,
                                                 false, 0, false, &err));
    g_assert_cmpuint(f->m.as_mem.view->nr_ioeventfds, ==, 0);
    main_loop_run_pending();
    g_assert_cmpint(f->handled, ==, 3);

    memory_region_del_subregion(f->m.sysmem, &notify);
    memory_region_destroy(&notify);
}

/* --- virtio-rng-device on a transport --- */

static void rng_setup(Fixture *f, const char *max_bytes)
{
    GError *err = NULL;

    mmio_setup(f, false);
    Device *d = device_new("virtio-rng-device", &err);
    g_assert_no_error(err);
    if (max_bytes) {
        g_assert_true(device_set_prop(d, "max-bytes", max_bytes, &err));
        g_assert_true(device_set_prop(d, "period", "1000", &err));
    }
    g_assert_true(device_realize(d, &f->m, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_DEVICE_ID), ==, VIRTIO_ID_RNG);
    mmio_driver_init(f, 4);
    g_assert_cmpuint(mmio_rd(f, VIRTIO_MMIO_STATUS), ==, 0xf);
}

static void rng_request(Fixture *f, unsigned desc, hwaddr buf, uint32_t len)
{
    put_desc(f, DESC, desc, buf, len, VIRTQ_DESC_F_WRITE, 0);
    uint16_t idx = ld16(f->ram + AVAIL + 2);
    st16(f->ram + AVAIL + 4 + 2 * (idx % 4), desc);
    st16(f->ram + AVAIL + 2, idx + 1);
    mmio_kick(f, 0);
}

static void test_rng_fills_buffers(Fixture *f, gconstpointer data)
{
    static const uint8_t zero[64];

    rng_setup(f, NULL);
    rng_request(f, 0, BUF, 64);
    g_assert_cmpuint(used_idx(f), ==, 1);
    g_assert_cmpuint(ld32(f->ram + USED + 8), ==, 64);
    g_assert_true(memcmp(f->ram + BUF, zero, 64) != 0);
    g_assert_cmpint(f->irq_level[MMIO_GSI], ==, 1);
    mmio_wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 1);
    g_assert_cmpint(f->irq_level[MMIO_GSI], ==, 0);
}

static void test_rng_rate_limit(Fixture *f, gconstpointer data)
{
    rng_setup(f, "16");
    rng_request(f, 0, BUF, 64);
    g_assert_cmpuint(used_idx(f), ==, 1);
    g_assert_cmpuint(ld32(f->ram + USED + 8), ==, 16);
    /* the quota is spent: the next request waits for the next period */
    rng_request(f, 1, BUF + 0x100, 64);
    g_assert_cmpuint(used_idx(f), ==, 1);
    clock_virtual_step(1000 * 1000000LL);
    g_assert_cmpuint(used_idx(f), ==, 2);
    g_assert_cmpuint(ld32(f->ram + USED + 8 + 8), ==, 16);
}

static void test_rng_needs_microvm_slot(Fixture *f, gconstpointer data)
{
    GError *err = NULL;

    /* no transport on this machine */
    Device *d = device_new("virtio-rng-device", &err);
    g_assert_false(device_realize(d, &f->m, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "virtio-mmio"));
    g_clear_error(&err);
    device_free(d);
}

#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fixture_init, fn, fixture_fini)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/virtio/ring/chain", test_ring_chain);
    ADD("/virtio/ring/indirect", test_ring_indirect);
    ADD("/virtio/ring/event-idx", test_ring_event_idx);
    ADD("/virtio/hostile/loop", test_hostile_loop);
    ADD("/virtio/hostile/next-out-of-range", test_hostile_next_out_of_range);
    ADD("/virtio/hostile/head-out-of-range", test_hostile_head_out_of_range);
    ADD("/virtio/hostile/huge-length", test_hostile_huge_length);
    ADD("/virtio/hostile/outside-ram", test_hostile_outside_ram);
    ADD("/virtio/hostile/nested-indirect", test_hostile_nested_indirect);
    ADD("/virtio/hostile/indirect-loop", test_hostile_indirect_loop);
    ADD("/virtio/hostile/indirect-not-negotiated",
        test_hostile_indirect_not_negotiated);
    ADD("/virtio/hostile/avail-jump", test_hostile_avail_jump);
    ADD("/virtio/hostile/rings-outside-ram", test_hostile_rings_outside_ram);
    ADD("/virtio/hostile/bad-queue-size", test_hostile_bad_queue_size);
    ADD("/virtio/mmio/identity", test_mmio_identity);
    ADD("/virtio/mmio/features", test_mmio_features);
    ADD("/virtio/mmio/queue-and-interrupt", test_mmio_queue_and_interrupt);
    ADD("/virtio/mmio/bad-queue-num", test_mmio_bad_queue_num);
    ADD("/virtio/mmio/config", test_mmio_config);
    ADD("/virtio/mmio/ioeventfd/notify", test_mmio_ioeventfd_notify);
    ADD("/virtio/mmio/ioeventfd/kick-before-reset",
        test_mmio_ioeventfd_kick_before_reset);
    ADD("/virtio/mmio/ioeventfd/reset-and-unplug",
        test_mmio_ioeventfd_reset_and_unplug);
    ADD("/virtio/mmio/ioeventfd/off", test_mmio_ioeventfd_off);
    ADD("/virtio/mmio/ioeventfd/accel-without", test_mmio_accel_without_ioeventfds);
    ADD("/virtio/host-notifier/helper", test_host_notifier_helper);
    ADD("/virtio/rng/fills-buffers", test_rng_fills_buffers);
    ADD("/virtio/rng/rate-limit", test_rng_rate_limit);
    ADD("/virtio/rng/needs-microvm-slot", test_rng_needs_microvm_slot);
    return g_test_run();
}
