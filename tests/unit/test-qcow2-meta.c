/*
 * qcow2 metadata on temporary files: refcounts of every width, cluster
 * allocation, snapshots and check/repair, cross-checked with qemu-img.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "block/qcow2.h"

#define QEMU_IMG "/usr/bin/qemu-img"
#define QEMU_IO "/usr/bin/qemu-io"

static char *tmpdir;

static bool have_qemu_img(void)
{
    if (g_file_test(QEMU_IMG, G_FILE_TEST_IS_EXECUTABLE) &&
        g_file_test(QEMU_IO, G_FILE_TEST_IS_EXECUTABLE)) {
        return true;
    }
    g_test_skip("needs " QEMU_IMG " and " QEMU_IO);
    return false;
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Runs a command line; its exit status, with stdout in *out if wanted. */
static int run(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int run(char **out, const char *fmt, ...)
{
    va_list ap;
    char *cmd, *sout = NULL, *serr = NULL;
    int status = -1;
    GError *err = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!g_spawn_command_line_sync(cmd, &sout, &serr, &status, &err)) {
        g_error("%s: %s", cmd, err->message);
    }
    if (g_test_verbose() && serr && *serr) {
        g_printerr("%s:\n%s", cmd, serr);
    }
    g_free(cmd);
    g_free(serr);
    if (out) {
        *out = sout;
    } else {
        g_free(sout);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void make_image(const char *path, const char *opts, const char *size)
{
    int ret = run(NULL, QEMU_IMG " create -f qcow2 %s%s %s %s",
                  opts ? "-o " : "", opts ? opts : "", path, size);
    g_assert_cmpint(ret, ==, 0);
}

static void qemu_io(const char *path, const char *cmd)
{
    char *out = NULL;
    int ret = run(&out, QEMU_IO " -f qcow2 -c '%s' %s", cmd, path);

    if (ret != 0 || strstr(out, "Pattern verification failed")) {
        g_error("qemu-io -c '%s' %s failed:\n%s", cmd, path, out);
    }
    g_free(out);
}

/* qemu-img check --output=json: the numbers we care about */
typedef struct QemuCheck {
    int status;
    int corruptions;
    int leaks;
    int check_errors;
    int64_t image_end_offset;
    int64_t allocated_clusters;
    int64_t total_clusters;
    int64_t fragmented_clusters;
    int64_t compressed_clusters;
} QemuCheck;

static QemuCheck qemu_img_check(const char *path)
{
    QemuCheck c = { 0 };
    char *out = NULL;
    json_error_t jerr;
    json_t *j;

    c.status = run(&out, QEMU_IMG " check --output=json %s", path);
    j = json_loads(out, 0, &jerr);
    g_assert_nonnull(j);
    c.corruptions = json_integer_value(json_object_get(j, "corruptions"));
    c.leaks = json_integer_value(json_object_get(j, "leaks"));
    c.check_errors = json_integer_value(json_object_get(j, "check-errors"));
    c.image_end_offset =
        json_integer_value(json_object_get(j, "image-end-offset"));
    c.allocated_clusters =
        json_integer_value(json_object_get(j, "allocated-clusters"));
    c.total_clusters = json_integer_value(json_object_get(j, "total-clusters"));
    c.fragmented_clusters =
        json_integer_value(json_object_get(j, "fragmented-clusters"));
    c.compressed_clusters =
        json_integer_value(json_object_get(j, "compressed-clusters"));
    json_decref(j);
    g_free(out);
    return c;
}

static void assert_qemu_clean(const char *path)
{
    QemuCheck c = qemu_img_check(path);

    if (c.status || c.corruptions || c.leaks || c.check_errors) {
        char *out = NULL;
        run(&out, QEMU_IMG " check %s 2>&1", path);
        g_error("qemu-img check %s: status %d, %d corruptions, %d leaks, "
                "%d check errors", path, c.status, c.corruptions, c.leaks,
                c.check_errors);
    }
}

static BlockDriverState *open_qcow2(const char *path)
{
    BlockOpenOptions o = { .format = "qcow2" };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(path, &o, &err);

    g_assert_no_error(err);
    g_assert_nonnull(bs);
    return bs;
}

/* Opening fails; the message, for the caller to check (g_free). */
static char *open_qcow2_error(const char *path)
{
    BlockOpenOptions o = { .format = "qcow2" };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(path, &o, &err);
    char *msg;

    g_assert_null(bs);
    g_assert_nonnull(err);
    msg = g_strdup(err->message);
    g_error_free(err);
    return msg;
}

static BDRVQcow2State *qstate(BlockDriverState *bs)
{
    return bs->opaque;
}

/* Big-endian pokes into an image file */
static void poke(const char *path, uint64_t off, uint64_t value, int bytes)
{
    FILE *f = fopen(path, "r+b");
    uint8_t b[8];

    g_assert_nonnull(f);
    for (int i = 0; i < bytes; i++) {
        b[i] = value >> (8 * (bytes - 1 - i));
    }
    g_assert_cmpint(fseeko(f, off, SEEK_SET), ==, 0);
    g_assert_cmpint(fwrite(b, 1, bytes, f), ==, bytes);
    fclose(f);
}

static uint64_t peek(const char *path, uint64_t off, int bytes)
{
    FILE *f = fopen(path, "rb");
    uint8_t b[8];
    uint64_t v = 0;

    g_assert_nonnull(f);
    g_assert_cmpint(fseeko(f, off, SEEK_SET), ==, 0);
    g_assert_cmpint(fread(b, 1, bytes, f), ==, bytes);
    fclose(f);
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

/* ---- refcount block entries ---- */

static void test_refcount_block_entries(void)
{
    for (int order = 0; order <= 6; order++) {
        BDRVQcow2State s = { 0 };
        uint8_t block[512], before[512];
        int bits = 1 << order;
        uint64_t n = sizeof(block) * 8 / bits;
        uint64_t max = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;

        s.refcount_order = order;
        s.refcount_bits = bits;
        s.refcount_max = max;
        for (size_t i = 0; i < sizeof(block); i++) {
            block[i] = g_test_rand_int();
        }
        for (uint64_t idx = 0; idx < n; idx += 1 + idx / 3) {
            uint64_t vals[] = { 0, 1, max, max / 3, max - 1 };
            for (size_t v = 0; v < G_N_ELEMENTS(vals); v++) {
                memcpy(before, block, sizeof(block));
                qcow2_refcount_block_set(&s, block, idx, vals[v]);
                g_assert_cmpuint(qcow2_refcount_block_get(&s, block, idx), ==,
                                 vals[v]);
                for (uint64_t k = 0; k < n; k++) {
                    if (k != idx) {
                        g_assert_cmpuint(
                            qcow2_refcount_block_get(&s, block, k), ==,
                            qcow2_refcount_block_get(&s, before, k));
                    }
                }
            }
        }
        /* the layout the spec fixes */
        memset(block, 0, sizeof(block));
        qcow2_refcount_block_set(&s, block, 1, 1);
        if (bits < 8) {
            g_assert_cmpuint(block[0], ==, 1u << bits);
        } else {
            g_assert_cmpuint(block[2 * (bits / 8) - 1], ==, 1);
        }
    }
}

/* ---- allocation ---- */

static void alloc_and_free(int refcount_bits)
{
    char *path = tmp_path("alloc.qcow2");
    char *opts = g_strdup_printf("cluster_size=512,refcount_bits=%d",
                                 refcount_bits);
    BlockDriverState *bs;
    BDRVQcow2State *s;
    GArray *got = g_array_new(false, false, sizeof(int64_t));
    uint64_t rc, old_table;
    /* enough to need more than one refcount block, and for 16 and 64 bits
     * more than one refcount table cluster */
    int64_t want = refcount_bits >= 16 ? 20000 : 5000;
    int64_t total = 0;

    make_image(path, opts, "64M");
    bs = open_qcow2(path);
    s = qstate(bs);
    old_table = s->refcount_table_offset;

    while (total < want) {
        int64_t n = 1 + g_test_rand_int_range(0, 64);
        int64_t off = qcow2_alloc_clusters(bs, n * 512);
        g_assert_cmpint(off, >, 0);
        g_assert_cmpint(off % 512, ==, 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = off / 512 + i;
            g_assert_cmpint(qcow2_get_refcount(bs, c, &rc), ==, 0);
            g_assert_cmpuint(rc, ==, 1);
            g_array_append_val(got, c);
        }
        total += n;
    }
    g_assert_cmpint(qcow2_check_metadata_overlap(bs, 0, 512 * g_array_index(
                        got, int64_t, 0), 512), ==, 0);
    if (refcount_bits >= 16) {
        g_assert_cmpuint(s->refcount_table_offset, !=, old_table);
    }

    /* refcounts saturate and cannot go below zero, and a failed update
     * changes nothing */
    int64_t c0 = g_array_index(got, int64_t, 0);
    if (refcount_bits == 1) {
        g_assert_cmpint(qcow2_update_refcount(bs, c0 * 512, 512, 1), ==,
                        -EINVAL);
    } else {
        g_assert_cmpint(qcow2_update_refcount(bs, c0 * 512, 512, 1), ==, 0);
        g_assert_cmpint(qcow2_get_refcount(bs, c0, &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 2);
        g_assert_cmpint(qcow2_update_refcount(bs, c0 * 512, 512, -1), ==, 0);
    }
    g_assert_cmpint(qcow2_update_refcount(bs, c0 * 512, 512, -2), ==,
                    -EINVAL);
    g_assert_cmpint(qcow2_get_refcount(bs, c0, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 1);

    /* free everything; the structures the allocation grew stay */
    for (guint i = 0; i < got->len; i++) {
        qcow2_free_clusters(bs, g_array_index(got, int64_t, i) * 512, 512);
    }
    for (guint i = 0; i < got->len; i += 97) {
        g_assert_cmpint(qcow2_get_refcount(bs, g_array_index(got, int64_t, i),
                                           &rc), ==, 0);
        g_assert_cmpuint(rc, ==, 0);
    }
    /* reuse starts at the first free cluster */
    int64_t again = qcow2_alloc_clusters(bs, 512);
    g_assert_cmpint(again, >, 0);
    g_assert_cmpint(again, <=, g_array_index(got, int64_t, 0) * 512);
    qcow2_free_clusters(bs, again, 512);

    /* a compressed piece shares its cluster's refcount */
    int64_t a = qcow2_alloc_bytes(bs, 100);
    int64_t b = qcow2_alloc_bytes(bs, 100);
    g_assert_cmpint(a, >, 0);
    g_assert_cmpint(qcow2_get_refcount(bs, a / 512, &rc), ==, 0);
    if (refcount_bits > 1) {
        g_assert_cmpint(b, ==, a + 100);
        g_assert_cmpuint(rc, ==, 2);
    } else {
        /* a refcount of 1 cannot count a second piece */
        g_assert_cmpint(b / 512, !=, a / 512);
        g_assert_cmpuint(rc, ==, 1);
    }
    qcow2_free_clusters(bs, b, 100);
    qcow2_free_clusters(bs, a, 100);
    g_assert_cmpint(qcow2_get_refcount(bs, a / 512, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 0);

    bdrv_unref(bs);
    assert_qemu_clean(path);

    g_unlink(path);
    g_array_free(got, true);
    g_free(opts);
    g_free(path);
}

static void test_alloc(gconstpointer data)
{
    if (!have_qemu_img()) {
        return;
    }
    alloc_and_free(GPOINTER_TO_INT(data));
}

static void test_alloc_at(void)
{
    char *path = tmp_path("alloc-at.qcow2");
    BlockDriverState *bs;
    uint64_t rc;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "cluster_size=4096", "4M");
    bs = open_qcow2(path);
    /* far beyond everything: new refcount blocks on the way */
    int64_t off = 1024 * 4096;
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, off, 4), ==, 4);
    g_assert_cmpint(qcow2_get_refcount(bs, off / 4096 + 3, &rc), ==, 0);
    g_assert_cmpuint(rc, ==, 1);
    /* the first is taken now */
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, off, 2), ==, 0);
    g_assert_cmpint(qcow2_alloc_clusters_at(bs, 123, 1), ==, -EINVAL);
    qcow2_free_clusters(bs, off, 4 * 4096);
    /* metadata is where the overlap check says */
    g_assert_cmpint(qcow2_check_metadata_overlap(bs, 0, 0, 512), ==,
                    QCOW2_OL_MAIN_HEADER);
    g_assert_cmpint(qcow2_check_metadata_overlap(
                        bs, 0, qstate(bs)->refcount_table_offset + 8, 8), ==,
                    QCOW2_OL_REFCOUNT_TABLE);
    g_assert_cmpint(qcow2_check_metadata_overlap(
                        bs, QCOW2_OL_REFCOUNT_TABLE,
                        qstate(bs)->refcount_table_offset, 8), ==, 0);
    bdrv_unref(bs);
    /* the file grew to the refcount block; nothing leaked */
    assert_qemu_clean(path);
    g_unlink(path);
    g_free(path);
}

/* ---- snapshots ---- */

static void test_snapshots(void)
{
    char *path = tmp_path("snap.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;
    char *out = NULL;
    BdrvSnapshotInfo *list;
    int n;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, NULL, "8M");
    qemu_io(path, "write -P 0x11 0 256k");
    qemu_io(path, "write -P 0x22 4M 64k");

    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_create(
        bs, &(BdrvSnapshotInfo){ .name = "first" }, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);

    qemu_io(path, "write -P 0x33 0 64k");
    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_create(
        bs, &(BdrvSnapshotInfo){ .name = "second" }, &err));
    g_assert_no_error(err);
    n = qcow2_snapshot_list(bs, &list);
    g_assert_cmpint(n, ==, 2);
    g_assert_cmpstr(list[0].id, ==, "1");
    g_assert_cmpstr(list[0].name, ==, "first");
    g_assert_cmpstr(list[1].id, ==, "2");
    g_assert_cmpstr(list[1].name, ==, "second");
    for (int i = 0; i < n; i++) {
        g_free(list[i].id);
        g_free(list[i].name);
    }
    g_free(list);
    bdrv_unref(bs);

    g_assert_cmpint(run(&out, QEMU_IMG " snapshot -l %s", path), ==, 0);
    g_assert_nonnull(strstr(out, "first"));
    g_assert_nonnull(strstr(out, "second"));
    g_free(out);
    assert_qemu_clean(path);

    /* change the data, then go back to the first snapshot */
    qemu_io(path, "write -P 0x44 0 512k");
    qemu_io(path, "write -P 0x55 6M 64k");
    bs = open_qcow2(path);
    g_assert_false(qcow2_snapshot_goto(bs, "nonexistent", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_true(qcow2_snapshot_goto(bs, "first", &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x11 0 256k");
    qemu_io(path, "read -P 0 256k 256k");
    qemu_io(path, "read -P 0x22 4M 64k");
    qemu_io(path, "read -P 0 6M 64k");

    /* writes after apply do not reach the snapshots */
    qemu_io(path, "write -P 0x66 0 64k");
    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_goto(bs, "2", &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    qemu_io(path, "read -P 0x33 0 64k");
    qemu_io(path, "read -P 0x11 64k 192k");

    bs = open_qcow2(path);
    g_assert_false(qcow2_snapshot_delete(bs, "nonexistent", &err));
    g_clear_error(&err);
    g_assert_true(qcow2_snapshot_delete(bs, "first", &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x33 0 64k");

    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_delete(bs, "2", &err));
    g_assert_no_error(err);
    g_assert_cmpint(qstate(bs)->nb_snapshots, ==, 0);
    bdrv_unref(bs);
    assert_qemu_clean(path);
    g_assert_cmpint(run(&out, QEMU_IMG " snapshot -l %s", path), ==, 0);
    g_assert_null(strstr(out, "second"));
    g_free(out);
    qemu_io(path, "read -P 0x33 0 64k");

    g_unlink(path);
    g_free(path);
}

/* Snapshots qemu-img made, with a different disk size */
static void test_snapshots_from_qemu(void)
{
    char *path = tmp_path("qsnap.qcow2");
    BlockDriverState *bs;
    BdrvSnapshotInfo *list;
    GError *err = NULL;
    int n;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, NULL, "4M");
    qemu_io(path, "write -P 0x77 1M 64k");
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c alpha %s", path), ==, 0);
    g_assert_cmpint(run(NULL, QEMU_IMG " resize %s 16M", path), ==, 0);
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c beta %s", path), ==, 0);
    qemu_io(path, "write -P 0x78 1M 64k");

    bs = open_qcow2(path);
    n = qcow2_snapshot_list(bs, &list);
    g_assert_cmpint(n, ==, 2);
    g_assert_cmpstr(list[0].name, ==, "alpha");
    g_assert_cmpstr(list[1].name, ==, "beta");
    g_assert_cmpstr(list[1].id, ==, "2");
    g_assert_cmpuint(qstate(bs)->snapshots[0].disk_size, ==, 4 << 20);
    g_assert_cmpuint(qstate(bs)->snapshots[1].disk_size, ==, 16 << 20);
    for (int i = 0; i < n; i++) {
        g_free(list[i].id);
        g_free(list[i].name);
    }
    g_free(list);

    /* our new snapshot gets the next id */
    g_assert_true(qcow2_snapshot_create(
        bs, &(BdrvSnapshotInfo){ .name = "gamma" }, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(qstate(bs)->snapshots[2].id_str, ==, "3");
    /* applying alpha takes the disk back to 4M */
    g_assert_true(qcow2_snapshot_goto(bs, "alpha", &err));
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, 4 << 20);
    bdrv_unref(bs);

    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x77 1M 64k");
    char *out = NULL;
    g_assert_cmpint(run(&out, QEMU_IMG " info %s", path), ==, 0);
    g_assert_nonnull(strstr(out, "virtual size: 4 MiB"));
    g_assert_nonnull(strstr(out, "gamma"));
    g_free(out);
    g_unlink(path);
    g_free(path);
}

/* Guest writes through the driver after a snapshot copy the shared
 * clusters (the COPIED flags and refcounts we set make them do so) */
static void test_snapshot_then_driver_writes(void)
{
    char *path = tmp_path("cow.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t *buf = g_malloc(128 * 1024);

    if (!have_qemu_img()) {
        g_free(buf);
        return;
    }
    make_image(path, "cluster_size=4096", "2M");
    qemu_io(path, "write -P 0x41 0 128k");
    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_create(
        bs, &(BdrvSnapshotInfo){ .name = "before" }, &err));
    g_assert_no_error(err);
    memset(buf, 0x42, 128 * 1024);
    g_assert_cmpint(bdrv_pwrite(bs, 4096, buf, 8192), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 1 << 20, buf, 4096), ==, 0);
    g_assert_cmpint(bdrv_pread(bs, 0, buf, 128 * 1024), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x41);
    g_assert_cmpint(buf[4096], ==, 0x42);
    g_assert_cmpint(buf[12288], ==, 0x41);
    bdrv_unref(bs);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x41 0 4k");
    qemu_io(path, "read -P 0x42 4k 8k");
    qemu_io(path, "read -P 0x41 12k 116k");

    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_goto(bs, "before", &err));
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pread(bs, 0, buf, 128 * 1024), ==, 0);
    for (int i = 0; i < 128 * 1024; i++) {
        g_assert_cmpint(buf[i], ==, 0x41);
    }
    g_assert_true(qcow2_snapshot_delete(bs, "before", &err));
    g_assert_no_error(err);
    /* the last reference: writes go in place again */
    memset(buf, 0x43, 4096);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 4096), ==, 0);
    bdrv_unref(bs);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x43 0 4k");
    qemu_io(path, "read -P 0 1M 4k");
    g_unlink(path);
    g_free(path);
    g_free(buf);
}

/* Applying a snapshot of a bigger disk grows the active L1 table */
static void test_snapshot_apply_grows_l1(void)
{
    char *path = tmp_path("grow.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "cluster_size=512", "16M");
    qemu_io(path, "write -P 0x21 12M 4k");
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c big %s", path), ==, 0);
    g_assert_cmpint(run(NULL, QEMU_IMG " resize --shrink %s 4M", path), ==,
                    0);
    qemu_io(path, "write -P 0x22 0 4k");

    bs = open_qcow2(path);
    uint32_t l1_before = qstate(bs)->l1_size;
    g_assert_true(qcow2_snapshot_goto(bs, "big", &err));
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, 16 << 20);
    g_assert_cmpuint(qstate(bs)->l1_size, >=, 512);
    g_assert_cmpuint(qstate(bs)->l1_size, >=, l1_before);
    bdrv_unref(bs);

    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x21 12M 4k");
    qemu_io(path, "read -P 0 0 4k");
    g_unlink(path);
    g_free(path);
}

/* A v2 image (no zero flag, no required extra data) */
static void test_snapshots_v2(void)
{
    char *path = tmp_path("v2.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "compat=0.10", "4M");
    qemu_io(path, "write -P 0x31 0 128k");
    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_create(
        bs, &(BdrvSnapshotInfo){ .name = "v2snap" }, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    qemu_io(path, "write -P 0x32 0 64k");
    assert_qemu_clean(path);
    bs = open_qcow2(path);
    g_assert_true(qcow2_snapshot_goto(bs, "v2snap", &err));
    g_assert_no_error(err);
    g_assert_true(qcow2_snapshot_delete(bs, "v2snap", &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x31 0 128k");
    g_unlink(path);
    g_free(path);
}

/* ---- check ---- */

/* Where a cluster's refcount is stored in a qemu-img image whose first
 * refcount block covers it. */
static uint64_t refcount_entry_offset(const char *path, uint64_t cluster,
                                      int *bytes)
{
    uint64_t reftable = peek(path, 48, 8);
    uint32_t order = peek(path, 96, 4);
    uint32_t cluster_bits = peek(path, 20, 4);
    uint64_t block = peek(path, reftable, 8);

    g_assert_cmpuint(order, ==, 4);
    g_assert_cmpuint(cluster, <, (1ULL << cluster_bits) / 2);
    *bytes = 2;
    return block + cluster * 2;
}

static BdrvCheckResult check_image(const char *path, int fix)
{
    BdrvCheckResult res;
    BlockOpenOptions o = { .format = "qcow2", .check = true };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(path, &o, &err);

    g_assert_no_error(err);
    g_assert_cmpint(qcow2_check(bs, &res, fix), ==, 0);
    bdrv_unref(bs);
    return res;
}

/* Our numbers are qemu-img's, for images with data, snapshots, zero and
 * compressed clusters. */
static void check_matches_qemu(const char *opts)
{
    char *path = tmp_path("clean.qcow2");

    make_image(path, opts, "1M");
    qemu_io(path, "write -P 0x11 0 8k");
    qemu_io(path, "write -P 0x11 64k 4k");
    qemu_io(path, "write -P 0x11 512k 4k");
    qemu_io(path, "write -z 512k 4k");
    qemu_io(path, "write -c -P 0x12 256k 64k");
    qemu_io(path, "write -c -P 0x13 320k 64k");
    if (!strstr(opts, "refcount_bits=1")) {    /* no room for sharing */
        g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c s %s", path), ==,
                        0);
    }
    qemu_io(path, "write -P 0x14 4k 4k");

    BdrvCheckResult res = check_image(path, 0);
    QemuCheck q = qemu_img_check(path);
    g_assert_cmpint(q.corruptions + q.leaks, ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.check_errors, ==, 0);
    g_assert_cmpint(res.total_clusters, ==, q.total_clusters);
    g_assert_cmpint(res.allocated_clusters, ==, q.allocated_clusters);
    g_assert_cmpint(res.fragmented_clusters, ==, q.fragmented_clusters);
    g_assert_cmpint(res.compressed_clusters, ==, q.compressed_clusters);
    g_assert_cmpint(res.image_end_offset, ==, q.image_end_offset);
    g_assert_cmpint(res.compressed_clusters, >=, 2);
    g_unlink(path);
    g_free(path);
}

static void test_check_clean(gconstpointer opts)
{
    if (!have_qemu_img()) {
        return;
    }
    check_matches_qemu(opts);
}

static void test_check_leak(void)
{
    char *path = tmp_path("leak.qcow2");
    int bytes;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "cluster_size=4096", "1M");
    qemu_io(path, "write -P 0x11 0 4k");
    /* the L1 table's cluster claims one reference too many */
    uint64_t l1 = peek(path, 40, 8);
    uint64_t at = refcount_entry_offset(path, l1 / 4096, &bytes);
    poke(path, at, 2, bytes);
    g_assert_cmpint(qemu_img_check(path).leaks, ==, 1);

    BdrvCheckResult res = check_image(path, 0);
    g_assert_cmpint(res.leaks, ==, 1);
    g_assert_cmpint(res.corruptions, ==, 0);
    res = check_image(path, BDRV_FIX_LEAKS);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.leaks_fixed, ==, 1);
    assert_qemu_clean(path);
    g_assert_cmpuint(peek(path, at, bytes), ==, 1);
    g_unlink(path);
    g_free(path);
}

static void test_check_refcount_too_low(void)
{
    char *path = tmp_path("low.qcow2");
    int bytes;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "cluster_size=4096", "1M");
    qemu_io(path, "write -P 0x11 0 4k");
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c s %s", path), ==, 0);
    /* the data cluster is shared by the snapshot: refcount 2 -> 1 */
    uint64_t l1 = peek(path, 40, 8);
    uint64_t l2 = peek(path, l1, 8) & L1E_OFFSET_MASK;
    uint64_t data = peek(path, l2, 8) & L2E_OFFSET_MASK;
    uint64_t at = refcount_entry_offset(path, data / 4096, &bytes);
    g_assert_cmpuint(peek(path, at, bytes), ==, 2);
    poke(path, at, 1, bytes);

    BdrvCheckResult res = check_image(path, 0);
    g_assert_cmpint(res.corruptions, >=, 1);
    res = check_image(path, BDRV_FIX_ERRORS);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.corruptions_fixed, >=, 1);
    assert_qemu_clean(path);
    g_assert_cmpuint(peek(path, at, bytes), ==, 2);
    qemu_io(path, "read -P 0x11 0 4k");
    g_unlink(path);
    g_free(path);
}

static void test_check_l2_past_eof(void)
{
    char *path = tmp_path("eof.qcow2");

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "cluster_size=4096", "1M");
    qemu_io(path, "write -P 0x11 0 8k");
    uint64_t l1 = peek(path, 40, 8);
    uint64_t l2 = peek(path, l1, 8) & L1E_OFFSET_MASK;
    poke(path, l2 + 8, QCOW_OFLAG_COPIED | (1ULL << 40), 8);

    BdrvCheckResult res = check_image(path, 0);
    g_assert_cmpint(res.corruptions, >=, 1);
    g_assert_cmpint(res.leaks, ==, 1);     /* the cluster it pointed at */
    res = check_image(path, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x11 0 4k");
    qemu_io(path, "read -P 0 4k 4k");
    g_unlink(path);
    g_free(path);
}

static void test_check_reftable_into_header(void)
{
    char *path = tmp_path("reft.qcow2");

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, NULL, "1M");
    qemu_io(path, "write -P 0x11 0 64k");
    uint64_t reftable = peek(path, 48, 8);
    uint64_t block0 = peek(path, reftable, 8);
    /* a second refcount block "inside" the header cluster */
    poke(path, reftable + 8, 0x200, 8);

    BdrvCheckResult res = check_image(path, 0);
    g_assert_cmpint(res.corruptions, >=, 1);
    g_assert_cmpint(qemu_img_check(path).corruptions, >=, 1);

    /* and one that is another table: the L1 table */
    poke(path, reftable + 8, peek(path, 40, 8), 8);
    res = check_image(path, 0);
    g_assert_cmpint(res.corruptions, >=, 1);

    /* the repair rebuilds the refcount structure */
    res = check_image(path, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.corruptions_fixed, >=, 1);
    assert_qemu_clean(path);
    g_assert_cmpuint(peek(path, 48, 8), !=, reftable);
    (void)block0;
    qemu_io(path, "read -P 0x11 0 64k");
    g_unlink(path);
    g_free(path);
}

/* A rebuild in a file with unused space after the last used cluster
 * (fuzz-qcow2 found the rebuild shrinking its array below the file) */
static void test_check_rebuild_trailing_space(void)
{
    char *path = tmp_path("trail.qcow2");

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, NULL, "1M");
    qemu_io(path, "write -P 0x22 0 64k");
    uint64_t reftable = peek(path, 48, 8);
    poke(path, reftable + 8, peek(path, 40, 8), 8);
    g_assert_cmpint(truncate(path, 64 << 20), ==, 0);

    BdrvCheckResult res = check_image(path, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, ==, 0);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x22 0 64k");
    g_unlink(path);
    g_free(path);
}

/* A refcount block past the end of the file marks the image corrupt at a
 * read-write open instead of growing the file to where it points
 * (fuzz-qcow2 found a 46 TB file and a check that could not count it) */
static void test_reftable_past_eof(void)
{
    char *path = tmp_path("reft-eof.qcow2");
    uint8_t buf[512] = { 0x33 };

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, "cluster_size=512", "64k");
    qemu_io(path, "write -P 0x44 0 1k");
    uint64_t reftable = peek(path, 48, 8);
    poke(path, reftable, 0x2a0000000400ULL, 8);

    BlockDriverState *bs = open_qcow2(path);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, sizeof(buf)), ==, -EIO);
    bdrv_unref(bs);
    struct stat st;
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, <, 1 << 20);

    BdrvCheckResult res = check_image(path, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    g_assert_cmpint(res.corruptions, ==, 0);
    assert_qemu_clean(path);
    qemu_io(path, "read -P 0x44 0 1k");
    g_unlink(path);
    g_free(path);
}

/* ---- hostile snapshot tables ---- */

static void test_hostile_snapshot_tables(void)
{
    char *path = tmp_path("hostile.qcow2");
    char *msg;

    if (!have_qemu_img()) {
        return;
    }
    make_image(path, NULL, "1M");
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c s %s", path), ==, 0);
    uint64_t table = peek(path, 64, 8);

    poke(path, 60, 0x7fffffff, 4);
    msg = open_qcow2_error(path);
    g_assert_cmpstr(msg, ==, "Snapshot table too large");
    g_free(msg);

    /* more entries than the file holds */
    poke(path, 60, 1000, 4);
    msg = open_qcow2_error(path);
    g_assert_nonnull(strstr(msg, "snapshot table"));
    g_free(msg);
    poke(path, 60, 1, 4);

    poke(path, 64, 1ULL << 40, 8);
    msg = open_qcow2_error(path);
    g_assert_cmpstr(msg, ==, "Invalid snapshot table offset");
    g_free(msg);
    poke(path, 64, table + 8, 8);
    msg = open_qcow2_error(path);
    g_assert_cmpstr(msg, ==, "Invalid snapshot table offset");
    g_free(msg);
    poke(path, 64, table, 8);

    /* a name running past the end of the file */
    uint64_t name_size = peek(path, table + 14, 2);
    poke(path, table + 14, 0xffff, 2);
    msg = open_qcow2_error(path);
    g_assert_nonnull(strstr(msg, "snapshot table"));
    g_free(msg);
    poke(path, table + 14, name_size, 2);

    poke(path, table + 36, 100000, 4);
    msg = open_qcow2_error(path);
    g_assert_cmpstr(msg, ==, "Too much extra metadata in snapshot table "
                    "entry 0");
    g_free(msg);
    poke(path, table + 36, 24, 4);

    /* a snapshot L1 table that is not aligned: open works, apply says
     * why not, check reports it */
    poke(path, table, peek(path, table, 8) + 8, 8);
    BlockDriverState *bs = open_qcow2(path);
    GError *err = NULL;
    g_assert_false(qcow2_snapshot_goto(bs, "s", &err));
    g_assert_cmpstr(err->message, ==, "Snapshot L1 table offset invalid");
    g_clear_error(&err);
    BdrvCheckResult res;
    g_assert_cmpint(qcow2_check(bs, &res, 0), ==, 0);
    g_assert_cmpint(res.corruptions, >=, 1);
    bdrv_unref(bs);

    g_unlink(path);
    g_free(path);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("vireo-qcow2-meta-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/qcow2-meta/refcount-block/entries",
                    test_refcount_block_entries);
    g_test_add_data_func("/qcow2-meta/alloc/refcount-bits-1",
                         GINT_TO_POINTER(1), test_alloc);
    g_test_add_data_func("/qcow2-meta/alloc/refcount-bits-4",
                         GINT_TO_POINTER(4), test_alloc);
    g_test_add_data_func("/qcow2-meta/alloc/refcount-bits-16",
                         GINT_TO_POINTER(16), test_alloc);
    g_test_add_data_func("/qcow2-meta/alloc/refcount-bits-64",
                         GINT_TO_POINTER(64), test_alloc);
    g_test_add_func("/qcow2-meta/alloc/at-offset", test_alloc_at);
    g_test_add_func("/qcow2-meta/snapshot/create-apply-delete",
                    test_snapshots);
    g_test_add_func("/qcow2-meta/snapshot/made-by-qemu-img",
                    test_snapshots_from_qemu);
    g_test_add_func("/qcow2-meta/snapshot/apply-grows-l1",
                    test_snapshot_apply_grows_l1);
    g_test_add_func("/qcow2-meta/snapshot/v2", test_snapshots_v2);
    g_test_add_func("/qcow2-meta/snapshot/then-driver-writes",
                    test_snapshot_then_driver_writes);
    g_test_add_data_func("/qcow2-meta/check/clean-4k", "cluster_size=4096",
                         test_check_clean);
    g_test_add_data_func("/qcow2-meta/check/clean-64k-v2", "compat=0.10",
                         test_check_clean);
    g_test_add_data_func("/qcow2-meta/check/clean-extended-l2",
                         "cluster_size=16384,extended_l2=on",
                         test_check_clean);
    g_test_add_data_func("/qcow2-meta/check/clean-refcount-bits-1",
                         "cluster_size=4096,refcount_bits=1",
                         test_check_clean);
    g_test_add_func("/qcow2-meta/check/leak", test_check_leak);
    g_test_add_func("/qcow2-meta/check/refcount-too-low",
                    test_check_refcount_too_low);
    g_test_add_func("/qcow2-meta/check/l2-past-eof", test_check_l2_past_eof);
    g_test_add_func("/qcow2-meta/check/reftable-into-header",
                    test_check_reftable_into_header);
    g_test_add_func("/qcow2-meta/check/rebuild-trailing-space",
                    test_check_rebuild_trailing_space);
    g_test_add_func("/qcow2-meta/check/reftable-past-eof",
                    test_reftable_past_eof);
    g_test_add_func("/qcow2-meta/snapshot/hostile-tables",
                    test_hostile_snapshot_tables);

    ret = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
