/*
 * Crash consistency of qcow2 under virtio-blk: a driver writes and flushes
 * through the device, vireo is killed with SIGKILL at a random moment, 20
 * times. Each time `qemu-img check` must find no corruption (leaks are
 * allowed and `vireo-img check -r leaks` repairs them) and every write the
 * driver saw flushed must be in the image.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "virtio.h"

#define VIRTIO_BLK_T_OUT        1
#define VIRTIO_BLK_T_FLUSH      4
#define VIRTIO_BLK_S_OK         0
#define VIRTIO_BLK_F_FLUSH      9

#define SECTOR          512
#define DISK_SIZE       (16 << 20)
#define AREA_SECTORS    ((8 << 20) / SECTOR)   /* where writes go */
#define MAX_REQ_SECTORS 32
#define BATCH           8
#define ROUNDS          20
#define QEMU_IMG        "/usr/bin/qemu-img"

/* A sector written by generation gen starts with this header. */
#define GEN_MAGIC       "VIREOGEN"

typedef struct Write {
    uint64_t sector;
    uint32_t n;
    uint32_t gen;
    uint64_t hdr, data, status;
    uint32_t head;
    bool done;
} Write;

/* What each sector may hold after a crash. */
typedef struct Model {
    uint32_t *durable;      /* gen the last completed flush covers; 0 */
    GArray **maybe;         /* gens written since (uint32_t each) */
} Model;

typedef struct Rig {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *vq;
} Rig;

static uint8_t base_byte(uint64_t sector, unsigned i)
{
    return (uint8_t)(sector * 13 + i * 3 + 5);
}

static void fill_sector(uint8_t *p, uint64_t sector, uint32_t gen)
{
    memcpy(p, GEN_MAGIC, 8);
    memcpy(p + 8, &gen, 4);
    memcpy(p + 12, &sector, 4);
    for (unsigned i = 16; i < SECTOR; i++) {
        p[i] = (uint8_t)(gen * 31 + sector + i);
    }
}

/* The gen a sector holds: 0 for the original content, -1 for garbage. */
static int64_t sector_gen(const uint8_t *p, uint64_t sector, bool backing)
{
    uint8_t want[SECTOR];
    uint32_t gen;

    if (memcmp(p, GEN_MAGIC, 8)) {
        for (unsigned i = 0; i < SECTOR; i++) {
            if (p[i] != (backing ? base_byte(sector, i) : 0)) {
                return -1;
            }
        }
        return 0;
    }
    memcpy(&gen, p + 8, 4);
    fill_sector(want, sector, gen);
    return memcmp(p, want, SECTOR) ? -1 : gen;
}

static int run(const char *const *argv, char **out)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *err_text = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL,
                               out, &err_text, &status, &err));
    if (out && *out && err_text) {
        char *both = g_strconcat(*out, err_text, NULL);
        g_free(*out);
        *out = both;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *vireo_img_path(void)
{
    g_autofree char *dir = g_path_get_dirname(qtest_vireo_binary());
    return g_build_filename(dir, "tools", "vireo-img", NULL);
}

static void make_images(const char *dir, char **img, bool backing)
{
    g_autofree char *base = g_build_filename(dir, "base.raw", NULL);
    g_autofree char *size = g_strdup_printf("%d", DISK_SIZE);
    *img = g_build_filename(dir, "disk.qcow2", NULL);

    if (backing) {
        g_autofree uint8_t *data = g_malloc(DISK_SIZE);
        for (uint64_t s = 0; s < DISK_SIZE / SECTOR; s++) {
            for (unsigned i = 0; i < SECTOR; i++) {
                data[s * SECTOR + i] = base_byte(s, i);
            }
        }
        g_assert_true(g_file_set_contents(base, (char *)data, DISK_SIZE,
                                          NULL));
        const char *argv[] = { QEMU_IMG, "create", "-q", "-f", "qcow2",
                               "-b", base, "-F", "raw", *img, NULL };
        g_assert_cmpint(run(argv, NULL), ==, 0);
    } else {
        const char *argv[] = { QEMU_IMG, "create", "-q", "-f", "qcow2",
                               *img, size, NULL };
        g_assert_cmpint(run(argv, NULL), ==, 0);
    }
}

static void rig_start(Rig *r, const char *img)
{
    r->qts = qtest_initf("-M pc -drive if=none,id=d0,file=%s,format=qcow2 "
                         "-device virtio-blk-pci,drive=d0,addr=5", img);
    r->bus = qpci_new_pc(r->qts);
    r->dev = qvirtio_pci_device_find(r->bus, VIRTIO_ID_BLOCK);
    g_assert_nonnull(r->dev);
    r->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_start_device(r->dev, 1ULL << VIRTIO_BLK_F_FLUSH);
    r->vq = qvirtqueue_setup(r->dev, r->alloc, 0);
    qvirtio_set_driver_ok(r->dev);
}

static void rig_kill(Rig *r)
{
    qtest_kill(r->qts);
    qvirtio_device_free(r->dev);
    qpci_free(r->bus);
    guest_alloc_uninit(r->alloc);
    g_free(r->vq);
    memset(r, 0, sizeof(*r));
}

static void write_submit(Rig *r, Write *w)
{
    g_autofree uint8_t *buf = g_malloc(w->n * SECTOR);

    for (uint32_t i = 0; i < w->n; i++) {
        fill_sector(buf + i * SECTOR, w->sector + i, w->gen);
    }
    w->hdr = guest_alloc(r->alloc, 16);
    qtest_writel(r->qts, w->hdr, VIRTIO_BLK_T_OUT);
    qtest_writel(r->qts, w->hdr + 4, 0);
    qtest_writeq(r->qts, w->hdr + 8, w->sector);
    w->data = guest_alloc(r->alloc, w->n * SECTOR);
    qtest_memwrite(r->qts, w->data, buf, w->n * SECTOR);
    w->status = guest_alloc(r->alloc, 1);
    qtest_writeb(r->qts, w->status, 0xff);
    w->head = qvirtqueue_add(r->qts, r->vq, w->hdr, 16, false, true);
    qvirtqueue_add(r->qts, r->vq, w->data, w->n * SECTOR, false, true);
    qvirtqueue_add(r->qts, r->vq, w->status, 1, true, false);
    qvirtqueue_kick(r->qts, r->dev, r->vq, w->head);
}

/* Collects the n requests of ws (any order); each must have succeeded. */
static void wait_all(Rig *r, Write *ws, int n)
{
    int64_t deadline = g_get_monotonic_time() + QVIRTIO_TIMEOUT_US;
    int left = n;

    while (left) {
        uint32_t head, len;
        if (!qvirtqueue_get_buf(r->qts, r->vq, &head, &len)) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (ws[i].head == head && !ws[i].done) {
                g_assert_cmpuint(qtest_readb(r->qts, ws[i].status), ==,
                                 VIRTIO_BLK_S_OK);
                ws[i].done = true;
                guest_free(r->alloc, ws[i].hdr);
                if (ws[i].data) {
                    guest_free(r->alloc, ws[i].data);
                }
                guest_free(r->alloc, ws[i].status);
                left--;
            }
        }
    }
}

static void flush(Rig *r)
{
    Write f = { 0 };

    f.hdr = guest_alloc(r->alloc, 16);
    qtest_writel(r->qts, f.hdr, VIRTIO_BLK_T_FLUSH);
    qtest_writel(r->qts, f.hdr + 4, 0);
    qtest_writeq(r->qts, f.hdr + 8, 0);
    f.status = guest_alloc(r->alloc, 1);
    qtest_writeb(r->qts, f.status, 0xff);
    f.head = qvirtqueue_add(r->qts, r->vq, f.hdr, 16, false, true);
    qvirtqueue_add(r->qts, r->vq, f.status, 1, true, false);
    qvirtqueue_kick(r->qts, r->dev, r->vq, f.head);
    wait_all(r, &f, 1);
}

/* BATCH writes at random places that do not overlap each other. */
static void batch_plan(GRand *rnd, Write *ws, uint32_t *next_gen)
{
    for (int i = 0; i < BATCH; i++) {
        bool clash;
        do {
            ws[i] = (Write){
                .n = g_rand_int_range(rnd, 1, MAX_REQ_SECTORS + 1),
                .gen = *next_gen,
            };
            ws[i].sector = g_rand_int_range(rnd, 0,
                                            AREA_SECTORS - ws[i].n + 1);
            clash = false;
            for (int j = 0; j < i; j++) {
                if (ws[i].sector < ws[j].sector + ws[j].n &&
                    ws[j].sector < ws[i].sector + ws[i].n) {
                    clash = true;
                }
            }
        } while (clash);
        (*next_gen)++;
    }
}

static void model_note(Model *m, const Write *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        g_array_append_val(m->maybe[w->sector + i], w->gen);
    }
}

/* A completed flush makes each sector's last written gen durable. */
static void model_flushed(Model *m)
{
    for (uint64_t s = 0; s < AREA_SECTORS; s++) {
        GArray *a = m->maybe[s];
        if (a->len) {
            m->durable[s] = g_array_index(a, uint32_t, a->len - 1);
            g_array_set_size(a, 0);
        }
    }
}

static void check_image(const char *dir, const char *img, Model *m,
                        bool backing, int round)
{
    g_autofree char *vireo_img = vireo_img_path();
    g_autofree char *raw = g_build_filename(dir, "out.raw", NULL);
    g_autofree char *out = NULL;
    const char *check[] = { QEMU_IMG, "check", img, NULL };
    const char *repair[] = { vireo_img, "check", "-r", "leaks", img, NULL };
    const char *convert[] = { QEMU_IMG, "convert", "-O", "raw", img, raw,
                              NULL };

    /* 0: clean; 3: leaked clusters only. 2 would be corruption. */
    int rc = run(check, &out);
    if (rc != 0 && rc != 3) {
        g_error("round %d: qemu-img check exit %d after the crash:\n%s",
                round, rc, out);
    }
    g_clear_pointer(&out, g_free);
    rc = run(repair, &out);
    if (rc != 0) {
        g_error("round %d: vireo-img check -r leaks exit %d:\n%s", round,
                rc, out);
    }
    g_clear_pointer(&out, g_free);
    rc = run(check, &out);
    if (rc != 0) {
        g_error("round %d: qemu-img check exit %d after the repair:\n%s",
                round, rc, out);
    }
    g_assert_cmpint(run(convert, NULL), ==, 0);

    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(raw, &data, &len, NULL));
    g_assert_cmpuint(len, ==, DISK_SIZE);
    for (uint64_t s = 0; s < AREA_SECTORS; s++) {
        int64_t gen = sector_gen((uint8_t *)data + s * SECTOR, s, backing);
        bool ok = gen == m->durable[s];
        for (guint i = 0; !ok && i < m->maybe[s]->len; i++) {
            ok = gen == g_array_index(m->maybe[s], uint32_t, i);
        }
        if (!ok) {
            g_error("round %d: sector %" G_GUINT64_FORMAT " holds gen %"
                    G_GINT64_FORMAT "; flushed gen %u", round, s, gen,
                    m->durable[s]);
        }
    }
    g_unlink(raw);
}

static void crash_round(GRand *rnd, int round)
{
    g_autofree char *dir = g_dir_make_tmp("qcow2-crash-XXXXXX", NULL);
    g_autofree char *img = NULL;
    bool backing = round % 2;
    Model m = {
        .durable = g_new0(uint32_t, AREA_SECTORS),
        .maybe = g_new(GArray *, AREA_SECTORS),
    };
    uint32_t gen = 1;
    Rig r;

    for (uint64_t s = 0; s < AREA_SECTORS; s++) {
        m.maybe[s] = g_array_new(false, false, sizeof(uint32_t));
    }
    make_images(dir, &img, backing);
    rig_start(&r, img);

    int batches = g_rand_int_range(rnd, 1, 13);
    Write ws[BATCH];
    for (int b = 0; b < batches; b++) {
        batch_plan(rnd, ws, &gen);
        for (int i = 0; i < BATCH; i++) {
            model_note(&m, &ws[i]);
            write_submit(&r, &ws[i]);
        }
        wait_all(&r, ws, BATCH);
        if (g_rand_int_range(rnd, 0, 3) == 0) {
            flush(&r);
            model_flushed(&m);
        }
    }
    /* The last batch is in flight, maybe with a flush, when vireo dies. */
    batch_plan(rnd, ws, &gen);
    for (int i = 0; i < BATCH; i++) {
        model_note(&m, &ws[i]);
        write_submit(&r, &ws[i]);
    }
    g_usleep(g_rand_int_range(rnd, 0, 20000));
    rig_kill(&r);

    check_image(dir, img, &m, backing, round);

    for (uint64_t s = 0; s < AREA_SECTORS; s++) {
        g_array_free(m.maybe[s], true);
    }
    g_free(m.maybe);
    g_free(m.durable);
    g_autofree char *base = g_build_filename(dir, "base.raw", NULL);
    g_unlink(img);
    g_unlink(base);
    g_rmdir(dir);
}

static void test_kill_while_writing(void)
{
    g_autofree char *vireo_img = vireo_img_path();

    if (!g_file_test(QEMU_IMG, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("qemu-img is missing (Debian's qemu-utils)");
        return;
    }
    if (!g_file_test(vireo_img, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("vireo-img was not built next to vireo");
        return;
    }
    GRand *rnd = g_rand_new_with_seed(g_test_rand_int());
    for (int round = 0; round < ROUNDS; round++) {
        crash_round(rnd, round);
    }
    g_rand_free(rnd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qcow2/crash/kill-while-writing",
                   test_kill_while_writing);
    return g_test_run();
}
