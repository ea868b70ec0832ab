/*
 * virtio-blk requests as a driver puts them in guest RAM, against a raw
 * image on the host: data both ways, flush, get-id, and what a hostile
 * driver may send (out of range, misaligned, unknown, no status byte,
 * writes to a read-only disk, a reset with requests in flight).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "block/block.h"
#include "hw/i386/x86.h"
#include "hw/virtio/virtio-blk.h"
#include "system/runstate.h"
#include "system/timer.h"
#include "util/le.h"

#define RAM_SIZE    0x100000
#define QSIZE       16
#define DESC        0x1000
#define AVAIL       0x2000
#define USED        0x3000
#define HDR         0x8000
#define DATA        0x10000
#define STATUS      0x9000
#define DISK_SIZE   (64 * 1024)

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11,
       T_WZ = 13 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

typedef struct Fixture {
    Machine m;
    MemoryRegion sysmem;
    uint8_t *ram;
    char *path;
    VirtIOBlock blk;
    uint16_t avail_idx;
} Fixture;

static void notify(VirtIODevice *vdev, VirtQueue *vq)
{
}

static void setup(Fixture *f, const char *extra)
{
    Machine *m = &f->m;
    g_autoptr(GError) err = NULL;
    uint8_t pattern[DISK_SIZE];
    int fd;

    memset(f, 0, sizeof(*f));
    memory_region_init_container(&f->sysmem, "system", UINT64_MAX);
    m->sysmem = &f->sysmem;
    g_assert_true(memory_region_init_ram(&m->ram, "ram", RAM_SIZE, &err));
    memory_region_add_subregion(m->sysmem, 0, &m->ram);
    address_space_init(&m->as_mem, m->sysmem, "memory");
    f->ram = memory_region_get_ram_ptr(&m->ram);

    fd = g_file_open_tmp("vblk-XXXXXX.img", &f->path, &err);
    g_assert_no_error(err);
    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = i * 7 + i / 512;
    }
    g_assert_cmpint(write(fd, pattern, sizeof(pattern)), ==,
                    sizeof(pattern));
    close(fd);
    g_autofree char *opts = g_strdup_printf(
        "file=%s,format=raw,if=none,id=vd0,serial=SER-42%s", f->path,
        extra);
    g_assert_nonnull(blk_new_from_drive_opts(opts, &err));
    g_assert_no_error(err);

    f->blk.drive = g_strdup("vd0");
    f->blk.num_queues = 1;
    f->blk.queue_size = QSIZE;
    g_assert_true(virtio_blk_init(&f->blk, m, "test-blk", &err));
    g_assert_no_error(err);
    VirtIODevice *vdev = &f->blk.vdev;
    vdev->notify = notify;
    uint64_t feat = 1ULL << VIRTIO_F_VERSION_1;
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER);
    virtio_set_driver_features(vdev, 0, feat);
    virtio_set_driver_features(vdev, 1, feat >> 32);
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    VirtQueue *vq = &vdev->vq[0];
    vq->num = QSIZE;
    vq->desc = DESC;
    vq->avail = AVAIL;
    vq->used = USED;
    virtio_queue_set_ready(vdev, 0, true);
    virtio_set_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void teardown(Fixture *f)
{
    BlockBackend *blk = f->blk.blk;

    virtio_blk_fini(&f->blk);
    g_free(f->blk.drive);
    blk_unref(blk);
    unlink(f->path);
    g_free(f->path);
    address_space_destroy(&f->m.as_mem);
    memory_region_del_subregion(f->m.sysmem, &f->m.ram);
    memory_region_destroy(&f->m.ram);
    memory_region_destroy(&f->sysmem);
}

static void put_desc(Fixture *f, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *p = f->ram + DESC + 16 * i;
    st64(p, addr);
    st32(p + 8, len);
    st16(p + 12, flags);
    st16(p + 14, next);
}

static uint16_t used_idx(Fixture *f)
{
    return ld16(f->ram + USED + 2);
}

/* Queues header + data + status as descriptors 0..2 and kicks. */
static void submit(Fixture *f, uint32_t type, uint64_t sector,
                   uint32_t data_len, bool data_writable)
{
    st32(f->ram + HDR, type);
    st32(f->ram + HDR + 4, 0);
    st64(f->ram + HDR + 8, sector);
    f->ram[STATUS] = 0xee;
    put_desc(f, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    if (data_len) {
        put_desc(f, 1, DATA, data_len,
                 VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0),
                 2);
        put_desc(f, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    } else {
        put_desc(f, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    }
    st16(f->ram + AVAIL + 4 + 2 * (f->avail_idx % QSIZE), 0);
    st16(f->ram + AVAIL + 2, ++f->avail_idx);
    virtio_queue_notify(&f->blk.vdev, 0);
}

/* Runs the main loop until the request completed; returns its status. */
static uint8_t complete(Fixture *f)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (used_idx(f) != f->avail_idx && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100);
    }
    g_assert_cmpuint(used_idx(f), ==, f->avail_idx);
    return f->ram[STATUS];
}

static uint32_t last_used_len(Fixture *f)
{
    return ld32(f->ram + USED + 4 + 8 * ((used_idx(f) - 1) % QSIZE) + 4);
}

static void test_read_write_flush(void)
{
    Fixture f;
    uint8_t host[1024];

    setup(&f, "");
    submit(&f, T_IN, 2, 1024, true);
    g_assert_cmpint(complete(&f), ==, S_OK);
    g_assert_cmpuint(last_used_len(&f), ==, 1025);
    for (int i = 0; i < 1024; i++) {
        g_assert_cmpint(f.ram[DATA + i], ==,
                        (uint8_t)((1024 + i) * 7 + (1024 + i) / 512));
    }
    memset(f.ram + DATA, 0x5a, 1024);
    submit(&f, T_OUT, 10, 1024, false);
    g_assert_cmpint(complete(&f), ==, S_OK);
    submit(&f, T_FLUSH, 0, 0, false);
    g_assert_cmpint(complete(&f), ==, S_OK);
    FILE *fp = fopen(f.path, "rb");
    fseek(fp, 10 * 512, SEEK_SET);
    g_assert_cmpint(fread(host, 1, sizeof(host), fp), ==, sizeof(host));
    fclose(fp);
    for (size_t i = 0; i < sizeof(host); i++) {
        g_assert_cmpint(host[i], ==, 0x5a);
    }
    teardown(&f);
}

static void test_get_id(void)
{
    Fixture f;

    setup(&f, "");
    submit(&f, T_GET_ID, 0, 20, true);
    g_assert_cmpint(complete(&f), ==, S_OK);
    g_assert_cmpmem(f.ram + DATA, 6, "SER-42", 6);
    teardown(&f);
}

static void test_bad_requests(void)
{
    Fixture f;

    setup(&f, "");
    /* past the end, straddling it, misaligned, unknown */
    submit(&f, T_IN, DISK_SIZE / 512, 512, true);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    submit(&f, T_OUT, DISK_SIZE / 512 - 1, 1024, false);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    submit(&f, T_IN, UINT64_MAX / 2, 512, true);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    submit(&f, T_IN, 0, 100, true);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    submit(&f, 99, 0, 0, false);
    g_assert_cmpint(complete(&f), ==, S_UNSUPP);
    /* write-zeroes with flags it does not know; discard disabled */
    st64(f.ram + DATA, 0);
    st32(f.ram + DATA + 8, 1);
    st32(f.ram + DATA + 12, 0x80);
    submit(&f, T_WZ, 0, 16, false);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    submit(&f, T_DISCARD, 0, 16, false);
    g_assert_cmpint(complete(&f), ==, S_UNSUPP);
    st32(f.ram + DATA + 12, 0);
    st32(f.ram + DATA + 8, DISK_SIZE / 512 + 1);
    submit(&f, T_WZ, 0, 16, false);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    st32(f.ram + DATA + 8, 2);
    submit(&f, T_WZ, 4, 16, false);
    g_assert_cmpint(complete(&f), ==, S_OK);
    g_assert_false(f.blk.vdev.broken);

    /* a request with no writable status byte: the device needs a reset */
    put_desc(&f, 0, HDR, 16, 0, 0);
    st16(f.ram + AVAIL + 4 + 2 * (f.avail_idx % QSIZE), 0);
    st16(f.ram + AVAIL + 2, ++f.avail_idx);
    virtio_queue_notify(&f.blk.vdev, 0);
    g_assert_true(f.blk.vdev.broken);
    teardown(&f);
}

static void test_read_only(void)
{
    Fixture f;

    setup(&f, ",readonly=on");
    g_assert_true(virtio_has_feature(&f.blk.vdev, 5) ||
                  (f.blk.vdev.host_features & (1ULL << 5)));
    submit(&f, T_OUT, 0, 512, false);
    g_assert_cmpint(complete(&f), ==, S_IOERR);
    submit(&f, T_IN, 0, 512, true);
    g_assert_cmpint(complete(&f), ==, S_OK);
    teardown(&f);
}

static void test_reset_drops_requests_in_flight(void)
{
    Fixture f;

    setup(&f, "");
    submit(&f, T_IN, 0, 4096, true);
    virtio_reset(&f.blk.vdev);
    blk_drain(f.blk.blk);
    for (int i = 0; i < 50; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_cmpuint(used_idx(&f), ==, 0);      /* nothing handed back */
    g_assert_cmpint(f.ram[STATUS], ==, 0xee);
    g_assert_cmpuint(f.blk.in_flight, ==, 0);
    teardown(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bql_lock();
    timers_init();
    g_test_add_func("/virtio-blk/read-write-flush", test_read_write_flush);
    g_test_add_func("/virtio-blk/get-id", test_get_id);
    g_test_add_func("/virtio-blk/bad-requests", test_bad_requests);
    g_test_add_func("/virtio-blk/read-only", test_read_only);
    g_test_add_func("/virtio-blk/reset-drops-requests-in-flight",
                    test_reset_drops_requests_in_flight);
    return g_test_run();
}
