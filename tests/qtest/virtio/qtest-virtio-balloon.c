/*
 * virtio memory balloon (virtio 1.2 section 5.5) over virtio-pci and
 * virtio-mmio: feature bits and queues, the configuration space and the
 * balloon/query-balloon commands with BALLOON_CHANGE, inflating pages
 * (which then read as zeros) and free page reports, with page frames and
 * blocks a hostile driver makes up.
 */
#include <string.h>
#include <unistd.h>

#include "virtio.h"

#define VIRTIO_ID_BALLOON               5
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING      5

#define Q_INFLATE       0
#define Q_DEFLATE       1
#define Q_STATS         2
#define Q_REPORTING     3

#define CFG_NUM_PAGES   0
#define CFG_ACTUAL      4

#define RAM_MB          256
#define MiB             (1ULL << 20)

typedef struct Balloon {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *vq[4];
    int nvqs;
    uint64_t features;
} Balloon;

static void balloon_start(Balloon *b, bool pci, const char *props)
{
    uint64_t want = (1ULL << VIRTIO_F_VERSION_1) |
                    (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
                    (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
                    (1ULL << VIRTIO_BALLOON_F_REPORTING);

    if (pci) {
        b->qts = qtest_initf("-M pc -m %d -device virtio-balloon-pci%s",
                             RAM_MB, props);
        b->bus = qpci_new_pc(b->qts);
        b->dev = qvirtio_pci_device_find(b->bus, VIRTIO_ID_BALLOON);
    } else {
        b->qts = qtest_initf("-M microvm -m %d -device "
                             "virtio-balloon-device%s", RAM_MB, props);
        b->dev = qvirtio_mmio_device_new(b->qts, MICROVM_VIRTIO_MMIO_BASE);
    }
    g_assert_nonnull(b->dev);
    g_assert_cmpuint(b->dev->device_type, ==, VIRTIO_ID_BALLOON);
    b->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    b->features = qvirtio_start_device(b->dev, want);
    b->nvqs = (b->features & (1ULL << VIRTIO_BALLOON_F_REPORTING)) ? 4 : 3;
    for (int i = 0; i < b->nvqs; i++) {
        b->vq[i] = qvirtqueue_setup(b->dev, b->alloc, i);
    }
    qvirtio_set_driver_ok(b->dev);
}

static void balloon_stop(Balloon *b)
{
    qvirtio_assert_vmm_alive(b->qts);
    for (int i = 0; i < b->nvqs; i++) {
        qvirtqueue_cleanup(b->vq[i]);
    }
    guest_alloc_uninit(b->alloc);
    qvirtio_device_free(b->dev);
    if (b->bus) {
        qpci_free(b->bus);
    }
    qtest_quit(b->qts);
}

/* A 32-bit write of the configuration space, as Linux's virtio_cwrite32. */
static void config_writel(Balloon *b, uint64_t off, uint32_t val)
{
    QVirtioDevice *d = b->dev;

    if (d->pdev) {
        qpci_io_writel(d->pdev, d->bar, d->device_off + off, val);
    } else {
        qtest_writel(b->qts, d->mmio_base + VIRTIO_MMIO_CONFIG + off, val);
    }
}

/* One device-readable buffer of len bytes at addr through queue q. */
static void send_out(Balloon *b, int q, uint64_t addr, uint32_t len)
{
    uint32_t head = qvirtqueue_add(b->qts, b->vq[q], addr, len, false, false);

    qvirtqueue_kick(b->qts, b->dev, b->vq[q], head);
    qvirtio_wait_used_elem(b->qts, b->dev, b->vq[q], head, NULL,
                           QVIRTIO_TIMEOUT_US);
}

/* Inflates (or deflates) the given page frames in one request. */
static void send_pfns(Balloon *b, int q, const uint32_t *pfns, int n)
{
    uint64_t buf = guest_alloc(b->alloc, 4096);

    for (int i = 0; i < n; i++) {
        qtest_writel(b->qts, buf + 4 * i, pfns[i]);
    }
    send_out(b, q, buf, 4 * n);
    guest_free(b->alloc, buf);
}

static bool range_is(Balloon *b, uint64_t addr, uint64_t len, uint8_t v)
{
    g_autofree uint8_t *buf = g_malloc(len);

    qtest_memread(b->qts, addr, buf, len);
    for (uint64_t i = 0; i < len; i++) {
        if (buf[i] != v) {
            return false;
        }
    }
    return true;
}

/* ---- features and queues ---- */

static void check_features(bool pci)
{
    Balloon b = { 0 };
    uint64_t f;

    balloon_start(&b, pci, "");
    f = qvirtio_get_features(b.dev);
    g_assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
    g_assert_true(f & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
    g_assert_false(f & (1ULL << VIRTIO_BALLOON_F_REPORTING));
    g_assert_false(f & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    g_assert_cmpuint(qvirtio_queue_max_size(b.dev, Q_STATS), >, 0);
    g_assert_cmpuint(qvirtio_queue_max_size(b.dev, Q_REPORTING), ==, 0);
    balloon_stop(&b);

    balloon_start(&b, pci, ",free-page-reporting=on,deflate-on-oom=on");
    f = qvirtio_get_features(b.dev);
    g_assert_true(f & (1ULL << VIRTIO_BALLOON_F_REPORTING));
    g_assert_true(f & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    g_assert_cmpuint(qvirtio_queue_max_size(b.dev, Q_REPORTING), >, 0);
    g_assert_cmpuint(qvirtio_queue_max_size(b.dev, 4), ==, 0);
    balloon_stop(&b);
}

static void test_pci_features(void)
{
    check_features(true);
}

static void test_mmio_features(void)
{
    check_features(false);
}

/* ---- configuration space and the monitor ---- */

static int64_t query_actual(Balloon *b)
{
    json_t *r = qtest_qmp(b->qts, "{'execute': 'query-balloon'}");
    int64_t v = json_integer_value(json_object_get(
                    json_object_get(r, "return"), "actual"));

    json_decref(r);
    return v;
}

static void check_qmp_error(QTestState *qts, json_t *r, const char *cls,
                            const char *desc)
{
    json_t *e = json_object_get(r, "error");

    g_assert_nonnull(e);
    g_assert_cmpstr(json_string_value(json_object_get(e, "class")), ==, cls);
    g_assert_cmpstr(json_string_value(json_object_get(e, "desc")), ==, desc);
    json_decref(r);
}

static void check_config(bool pci)
{
    Balloon b = { 0 };
    json_t *ev;
    g_autofree char *info = NULL;
    g_autofree char *out = NULL;

    balloon_start(&b, pci, "");
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_NUM_PAGES), ==, 0);
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_ACTUAL), ==, 0);
    g_assert_cmpint(query_actual(&b), ==, RAM_MB * MiB);

    /* a target of 192 MiB: 64 MiB to inflate, and a config interrupt */
    qvirtio_config_isr(b.dev);
    qtest_qmp_assert_success(b.qts, "{'execute': 'balloon', 'arguments': "
                             "{'value': %llu}}", 192 * MiB);
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_NUM_PAGES), ==,
                     64 * MiB / 4096);
    qvirtio_wait_config_isr(b.qts, b.dev, QVIRTIO_TIMEOUT_US);

    /* the driver writes actual: BALLOON_CHANGE, query-balloon follows */
    config_writel(&b, CFG_ACTUAL, 64 * MiB / 4096);
    ev = qtest_qmp_eventwait_ref(b.qts, "BALLOON_CHANGE");
    g_assert_cmpint(json_integer_value(json_object_get(
                        json_object_get(ev, "data"), "actual")), ==,
                    192 * MiB);
    json_decref(ev);
    g_assert_cmpint(query_actual(&b), ==, 192 * MiB);
    info = qtest_hmp(b.qts, "info balloon");
    g_assert_cmpstr(info, ==, "balloon: actual=192\r\n");

    /* num_pages is the device's: a driver's write does not change it */
    config_writel(&b, CFG_NUM_PAGES, 7);
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_NUM_PAGES), ==,
                     64 * MiB / 4096);

    /* HMP takes MiB; a target over the RAM size is capped to it */
    out = qtest_hmp(b.qts, "balloon 128");
    g_assert_cmpstr(out, ==, "");
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_NUM_PAGES), ==,
                     128 * MiB / 4096);
    qtest_qmp_assert_success(b.qts, "{'execute': 'balloon', 'arguments': "
                             "{'value': %llu}}", 1ULL << 50);
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_NUM_PAGES), ==, 0);
    check_qmp_error(b.qts, qtest_qmp(b.qts, "{'execute': 'balloon', "
                                     "'arguments': {'value': 0}}"),
                    "GenericError", "Parameter 'target' expects a size");
    check_qmp_error(b.qts, qtest_qmp(b.qts, "{'execute': 'balloon', "
                                     "'arguments': {'value': -4096}}"),
                    "GenericError", "Parameter 'target' expects a size");
    g_free(out);
    out = qtest_hmp(b.qts, "balloon x");
    g_assert_cmpstr(out, ==, "invalid size\r\n");

    /* a guest that claims more than it has: actual is never negative */
    config_writel(&b, CFG_ACTUAL, 0xffffffff);
    json_decref(qtest_qmp_eventwait_ref(b.qts, "BALLOON_CHANGE"));
    g_assert_cmpint(query_actual(&b), ==, 0);

    /* changes within a second of the last event make one, the latest */
    for (uint32_t n = 1; n <= 3; n++) {
        config_writel(&b, CFG_ACTUAL, n);
    }
    ev = qtest_qmp_eventwait_ref(b.qts, "BALLOON_CHANGE");
    g_assert_cmpint(json_integer_value(json_object_get(
                        json_object_get(ev, "data"), "actual")), ==,
                    RAM_MB * MiB - 3 * 4096);
    json_decref(ev);

    /* a reset empties the balloon, the target stays */
    qtest_qmp_assert_success(b.qts, "{'execute': 'balloon', 'arguments': "
                             "{'value': %llu}}", 200 * MiB);
    qvirtio_reset(b.dev);
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_ACTUAL), ==, 0);
    g_assert_cmpuint(qvirtio_config_readl(b.dev, CFG_NUM_PAGES), ==,
                     56 * MiB / 4096);
    g_assert_cmpint(query_actual(&b), ==, RAM_MB * MiB);
    qvirtio_start_device(b.dev, 1ULL << VIRTIO_F_VERSION_1);
    qvirtio_set_driver_ok(b.dev);
    balloon_stop(&b);
}

static void test_pci_config(void)
{
    check_config(true);
}

static void test_mmio_config(void)
{
    check_config(false);
}

/* Without a balloon the commands fail as QEMU's do. */
static void test_no_balloon(void)
{
    QTestState *qts = qtest_init("-M pc");
    g_autofree char *out = NULL;
    const char *msg = "No balloon device has been activated";

    check_qmp_error(qts, qtest_qmp(qts, "{'execute': 'query-balloon'}"),
                    "KVMMissingCap", msg);
    check_qmp_error(qts, qtest_qmp(qts, "{'execute': 'balloon', "
                                   "'arguments': {'value': 4096}}"),
                    "KVMMissingCap", msg);
    out = qtest_hmp(qts, "info balloon");
    g_assert_cmpstr(out, ==, "Error: No balloon device has been "
                    "activated\r\n");
    qtest_quit(qts);
}

/* A second balloon is refused at start, as in QEMU. */
static void test_two_balloons(void)
{
    g_autofree char *err = NULL;
    int rc = qtest_run_vireo("-M pc -device virtio-balloon-pci "
                             "-device virtio-balloon", &err);

    g_assert_cmpint(rc, !=, 0);
    g_assert_nonnull(strstr(err, "Only one balloon device is supported"));
}

/* ---- inflate and deflate ---- */

static void check_inflate(bool pci)
{
    Balloon b = { 0 };
    uint64_t page = 160 * MiB, bios_top = 0xfffff000;
    uint8_t bios[4096], bios_after[4096];

    balloon_start(&b, pci, "");
    qtest_memset(b.qts, page, 0xaa, 3 * 4096);
    qtest_memread(b.qts, bios_top, bios, sizeof(bios));

    /* the middle page is given back, its neighbours are untouched */
    uint32_t pfn = page / 4096 + 1;
    send_pfns(&b, Q_INFLATE, &pfn, 1);
    g_assert_true(range_is(&b, page, 4096, 0xaa));
    g_assert_true(range_is(&b, page + 4096, 4096, 0));
    g_assert_true(range_is(&b, page + 8192, 4096, 0xaa));

    /* deflating changes nothing; the guest writes the page again */
    send_pfns(&b, Q_DEFLATE, &pfn, 1);
    qtest_memset(b.qts, page + 4096, 0x11, 4096);
    g_assert_true(range_is(&b, page + 4096, 4096, 0x11));

    /*
     * Page frames that are not RAM are ignored: the end of RAM, the PCI
     * hole, the LAPIC, the firmware at the top of 4 GiB, the largest
     * frame there is, legacy VGA and BIOS; the device keeps working.
     */
    uint32_t hostile[] = {
        RAM_MB * MiB / 4096, 0xe0000, 0xfee00, 0xfffff, 0xffffffff,
        0xa0, 0xf0, 0x7fffffff, 0x100000,
    };
    send_pfns(&b, Q_INFLATE, hostile, G_N_ELEMENTS(hostile));
    g_assert_false(qvirtio_needs_reset(b.dev));
    qtest_memread(b.qts, bios_top, bios_after, sizeof(bios_after));
    g_assert_cmpint(memcmp(bios, bios_after, sizeof(bios)), ==, 0);

    /* a request of 4098 bytes: the partial frame at its end is not one */
    uint64_t buf = guest_alloc(b.alloc, 8192);
    qtest_memset(b.qts, buf, 0, 8192);
    qtest_writel(b.qts, buf, page / 4096 + 2);
    send_out(&b, Q_INFLATE, buf, 6);
    g_assert_true(range_is(&b, page + 8192, 4096, 0));
    g_assert_true(range_is(&b, page, 4096, 0xaa));
    guest_free(b.alloc, buf);
    balloon_stop(&b);
}

static void test_pci_inflate(void)
{
    check_inflate(true);
}

static void test_mmio_inflate(void)
{
    check_inflate(false);
}

/* ---- free page reporting ---- */

/* Reports the blocks (device-writable buffers) in one request. */
static void report(Balloon *b, const uint64_t *addr, const uint32_t *len,
                   int n)
{
    uint32_t head = 0;

    for (int i = 0; i < n; i++) {
        uint32_t d = qvirtqueue_add(b->qts, b->vq[Q_REPORTING], addr[i],
                                    len[i], true, i < n - 1);
        if (i == 0) {
            head = d;
        }
    }
    qvirtqueue_kick(b->qts, b->dev, b->vq[Q_REPORTING], head);
}

static void check_report(bool pci)
{
    Balloon b = { 0 };
    uint64_t block = 192 * MiB;
    uint32_t len;

    balloon_start(&b, pci, ",free-page-reporting=on");
    g_assert_cmpint(b.nvqs, ==, 4);
    qtest_memset(b.qts, block, 0x5a, 4 * MiB + 8192);

    /* two 2 MiB blocks in one report: both read as zeros after it */
    uint64_t a[] = { block, block + 2 * MiB };
    uint32_t l[] = { 2 * MiB, 2 * MiB };
    report(&b, a, l, 2);
    qvirtio_wait_used_elem(b.qts, b.dev, b.vq[Q_REPORTING],
                           b.vq[Q_REPORTING]->free_head - 2, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 0);
    g_assert_true(range_is(&b, block, 4 * MiB, 0));
    g_assert_true(range_is(&b, block + 4 * MiB, 8192, 0x5a));

    /* blocks that are not whole pages are returned untouched */
    qtest_memset(b.qts, block, 0x5a, 2 * MiB);
    uint64_t ua[] = { block + 1, block + 4096 };
    uint32_t ul[] = { 4096, 100 };
    report(&b, ua, ul, 2);
    qvirtio_wait_used_elem(b.qts, b.dev, b.vq[Q_REPORTING],
                           b.vq[Q_REPORTING]->free_head - 2, NULL,
                           QVIRTIO_TIMEOUT_US);
    g_assert_true(range_is(&b, block, 3 * 4096, 0x5a));
    g_assert_false(qvirtio_needs_reset(b.dev));

    /*
     * A block reaching past the end of RAM, one wrapping around the
     * address space, one in the firmware: the ring is malformed, the
     * device asks for a reset and nothing is given back.
     */
    uint64_t bad_a[][1] = {
        { RAM_MB * MiB - 4096 }, { ~0ULL - 4095 }, { 0xfffc0000 },
    };
    uint32_t bad_l[] = { 2 * MiB, 2 * MiB, 4096 };
    for (size_t i = 0; i < G_N_ELEMENTS(bad_l); i++) {
        qtest_memset(b.qts, RAM_MB * MiB - 4096, 0x77, 4096);
        report(&b, bad_a[i], &bad_l[i], 1);
        qvirtio_wait_needs_reset(b.qts, b.dev, QVIRTIO_TIMEOUT_US);
        g_assert_true(range_is(&b, RAM_MB * MiB - 4096, 4096, 0x77));
        qvirtio_assert_vmm_alive(b.qts);
        /* start over */
        for (int q = 0; q < b.nvqs; q++) {
            qvirtqueue_cleanup(b.vq[q]);
        }
        qvirtio_start_device(b.dev, (1ULL << VIRTIO_F_VERSION_1) |
                             (1ULL << VIRTIO_BALLOON_F_REPORTING));
        for (int q = 0; q < b.nvqs; q++) {
            b.vq[q] = qvirtqueue_setup(b.dev, b.alloc, q);
        }
        qvirtio_set_driver_ok(b.dev);
    }
    balloon_stop(&b);
}

static void test_pci_report(void)
{
    check_report(true);
}

static void test_mmio_report(void)
{
    check_report(false);
}

/*
 * Statistics: the buffer the driver offers is read and kept in the ring,
 * not handed back (no polling interval), and no request stays in flight,
 * so the device still migrates: savevm would refuse a request in flight.
 * With guest-stats-polling-interval it is handed back each interval.
 */
static void test_pci_stats(void)
{
    Balloon b = { 0 };
    uint64_t buf;

    balloon_start(&b, true, ",id=bal");
    buf = guest_alloc(b.alloc, 4096);
    /* tag 4 (free memory) = 100 MiB, tag 5 (total) = 256 MiB */
    uint8_t stats[20] = { 4, 0 };
    uint64_t v = 100 * MiB;
    memcpy(stats + 2, &v, 8);
    stats[10] = 5;
    v = RAM_MB * MiB;
    memcpy(stats + 12, &v, 8);
    qtest_memwrite(b.qts, buf, stats, sizeof(stats));
    uint32_t head = qvirtqueue_add(b.qts, b.vq[Q_STATS], buf, sizeof(stats),
                                   false, false);
    qvirtqueue_kick(b.qts, b.dev, b.vq[Q_STATS], head);
    qvirtio_assert_no_used(b.qts, b.vq[Q_STATS], 100 * 1000);
    /* a kick without a new buffer reads the same one again, harmlessly */
    qvirtio_notify(b.dev, Q_STATS);
    qvirtio_assert_no_used(b.qts, b.vq[Q_STATS], 100 * 1000);
    g_assert_false(qvirtio_needs_reset(b.dev));

    /* qom-get guest-stats: the two values, -1 for the others */
    json_t *r = qtest_qmp(b.qts, "{'execute': 'qom-get', 'arguments': "
                          "{'path': '/machine/peripheral/bal', "
                          "'property': 'guest-stats'}}");
    json_t *st = json_object_get(json_object_get(r, "return"), "stats");
    g_assert_cmpint(json_integer_value(json_object_get(
                        st, "stat-free-memory")), ==, 100 * MiB);
    g_assert_cmpint(json_integer_value(json_object_get(
                        st, "stat-total-memory")), ==, RAM_MB * MiB);
    g_assert_cmpint(json_integer_value(json_object_get(
                        st, "stat-swap-in")), ==, -1);
    g_assert_cmpint(json_object_size(st), ==, 10);
    g_assert_cmpint(json_integer_value(json_object_get(
                        json_object_get(r, "return"), "last-update")), >, 0);
    json_decref(r);

    /* polling: after 2 s of guest time the buffer comes back, empty */
    r = qtest_qmp(b.qts, "{'execute': 'qom-set', 'arguments': "
                  "{'path': '/machine/peripheral/bal', 'property': "
                  "'guest-stats-polling-interval', 'value': 2}}");
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    qtest_clock_step(b.qts, 1000 * 1000 * 1000LL);
    qvirtio_assert_no_used(b.qts, b.vq[Q_STATS], 100 * 1000);
    qtest_clock_step(b.qts, 1000 * 1000 * 1000LL);
    uint32_t len = 1;
    qvirtio_wait_used_elem(b.qts, b.dev, b.vq[Q_STATS], head, &len,
                           1000 * 1000);
    g_assert_cmpuint(len, ==, 0);
    /* no buffer queued again: the next poll finds nothing, harmlessly */
    qtest_clock_step(b.qts, 2500 * 1000 * 1000LL);
    qvirtio_assert_no_used(b.qts, b.vq[Q_STATS], 100 * 1000);
    g_assert_false(qvirtio_needs_reset(b.dev));
    balloon_stop(&b);
}

/* ---- migration ---- */

static const char *migrate_status(QTestState *qts)
{
    static char buf[32];
    json_t *r = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    const char *st = json_string_value(json_object_get(
                         json_object_get(r, "return"), "status"));

    g_strlcpy(buf, st ? st : "none", sizeof(buf));
    json_decref(r);
    return buf;
}

static void wait_migrated(QTestState *qts, const char *want)
{
    for (int i = 0; i < 3000; i++) {
        const char *st = migrate_status(qts);
        if (!strcmp(st, "completed") || !strcmp(st, "failed")) {
            g_assert_cmpstr(st, ==, want);
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

/*
 * The balloon's target and actual migrate; and a page inflated while
 * migration runs, after its first pass sent it, reads as zeros on the
 * destination: the discard marks it dirty, so it is sent again (KVM's
 * log and the software CPU never see it change). The stream goes
 * through a pipe that a sleeping reader leaves full, so the first pass
 * has sent the page and is stuck behind it when the page is inflated.
 */
static void test_pci_migrate(void)
{
    Balloon b = { 0 };
    QTestState *dst;
    g_autofree char *path = qtest_tmp_path("balloon.state");
    uint64_t page = 2 * MiB;
    uint32_t pfn = page / 4096;
    json_t *r;

    balloon_start(&b, true, "");
    qtest_qmp_assert_success(b.qts, "{'execute': 'balloon', 'arguments': "
                             "{'value': %llu}}", 200 * MiB);
    config_writel(&b, CFG_ACTUAL, 1000);
    json_decref(qtest_qmp_eventwait_ref(b.qts, "BALLOON_CHANGE"));
    qtest_memset(b.qts, page, 0xaa, 2 * 4096);
    qtest_memset(b.qts, page + 8192, 0x33, 16 * MiB);
    /* the statistics buffer the driver offers is no request in flight */
    uint64_t stats = guest_alloc(b.alloc, 4096);
    qtest_memset(b.qts, stats, 0, 10);
    qvirtqueue_kick(b.qts, b.dev, b.vq[Q_STATS],
                    qvirtqueue_add(b.qts, b.vq[Q_STATS], stats, 10, false,
                                   false));

    r = qtest_qmp(b.qts, "{'execute': 'migrate', 'arguments': "
                  "{'uri': 'exec:sleep 1; cat > %s'}}", path);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    g_usleep(300 * 1000);
    g_assert_cmpstr(migrate_status(b.qts), ==, "active");
    send_pfns(&b, Q_INFLATE, &pfn, 1);
    wait_migrated(b.qts, "completed");

    dst = qtest_initf("-M pc -m %d -device virtio-balloon-pci "
                      "-incoming defer", RAM_MB);
    r = qtest_qmp(dst, "{'execute': 'migrate-incoming', 'arguments': "
                  "{'uri': 'file:%s'}}", path);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    wait_migrated(dst, "completed");
    uint8_t got[2];
    got[0] = qtest_readb(dst, page);
    got[1] = qtest_readb(dst, page + 4096);
    g_assert_cmpuint(got[0], ==, 0);
    g_assert_cmpuint(got[1], ==, 0xaa);
    r = qtest_qmp(dst, "{'execute': 'query-balloon'}");
    g_assert_cmpint(json_integer_value(json_object_get(
                        json_object_get(r, "return"), "actual")), ==,
                    RAM_MB * MiB - 1000 * 4096);
    json_decref(r);
    qtest_quit(dst);
    qtest_quit(b.qts);
    unlink(path);
    for (int i = 0; i < b.nvqs; i++) {
        qvirtqueue_cleanup(b.vq[i]);
    }
    guest_alloc_uninit(b.alloc);
    qvirtio_device_free(b.dev);
    qpci_free(b.bus);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-balloon/pci/features", test_pci_features);
    g_test_add_func("/virtio-balloon/mmio/features", test_mmio_features);
    g_test_add_func("/virtio-balloon/pci/config", test_pci_config);
    g_test_add_func("/virtio-balloon/mmio/config", test_mmio_config);
    g_test_add_func("/virtio-balloon/no-balloon", test_no_balloon);
    g_test_add_func("/virtio-balloon/two-balloons", test_two_balloons);
    g_test_add_func("/virtio-balloon/pci/inflate", test_pci_inflate);
    g_test_add_func("/virtio-balloon/mmio/inflate", test_mmio_inflate);
    g_test_add_func("/virtio-balloon/pci/report", test_pci_report);
    g_test_add_func("/virtio-balloon/mmio/report", test_mmio_report);
    g_test_add_func("/virtio-balloon/pci/stats", test_pci_stats);
    g_test_add_func("/virtio-balloon/pci/migrate", test_pci_migrate);
    return g_test_run();
}
