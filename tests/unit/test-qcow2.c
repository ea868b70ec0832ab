/*
 * The qcow2 driver on temporary files, checked against qemu-img 7.2:
 * images we create and write pass `qemu-img check` and convert to the
 * bytes we wrote; images qemu-img and qemu-io make read identically through
 * our driver; backing chains copy on write; hostile headers and tables
 * fail cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "block/block.h"
#include "block/block_int.h"
#include "util/opts.h"

#define QEMU_IMG "/usr/bin/qemu-img"
#define QEMU_IO "/usr/bin/qemu-io"

static char *tmpdir;

/* ---- helpers ---- */

static bool have_qemu_img(void)
{
    if (g_file_test(QEMU_IMG, G_FILE_TEST_IS_EXECUTABLE) &&
        g_file_test(QEMU_IO, G_FILE_TEST_IS_EXECUTABLE)) {
        return true;
    }
    g_test_skip("needs " QEMU_IMG " and " QEMU_IO " (qemu-utils)");
    return false;
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Runs a shell command; its exit status, with output in *out if asked. */
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
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    g_assert_true(g_spawn_sync(NULL, argv, NULL, 0, NULL, NULL, &sout, &serr,
                               &status, &err));
    if (g_test_verbose() || (status && !out)) {
        g_test_message("%s\n%s%s", cmd, sout, serr);
    }
    if (out) {
        *out = g_strconcat(sout, serr, NULL);
    }
    g_free(sout);
    g_free(serr);
    g_free(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* qemu-img check passes with no errors or leaks */
static void assert_qemu_check(const char *path)
{
    char *out;
    int st = run(&out, QEMU_IMG " check -f qcow2 '%s'", path);
    if (st != 0 || !strstr(out, "No errors were found on the image.")) {
        g_test_message("qemu-img check %s:\n%s", path, out);
    }
    g_assert_cmpint(st, ==, 0);
    g_assert_nonnull(strstr(out, "No errors were found on the image."));
    g_free(out);
}

/* The guest contents as qemu-img sees them */
static uint8_t *qemu_read_raw(const char *path, size_t *len)
{
    char *raw = g_strconcat(path, ".raw", NULL);
    gchar *data;
    gsize n;

    g_assert_cmpint(run(NULL, QEMU_IMG " convert -O raw '%s' '%s'", path,
                        raw), ==, 0);
    g_assert_true(g_file_get_contents(raw, &data, &n, NULL));
    g_unlink(raw);
    g_free(raw);
    *len = n;
    return (uint8_t *)data;
}

static void assert_qemu_contents(const char *path, const uint8_t *expect,
                                 size_t len)
{
    size_t n;
    uint8_t *got = qemu_read_raw(path, &n);

    g_assert_cmpuint(n, ==, len);
    for (size_t i = 0; i < len; i++) {
        if (got[i] != expect[i]) {
            g_test_message("first difference at %zu: %#x != %#x", i,
                           got[i], expect[i]);
            g_assert_cmpuint(got[i], ==, expect[i]);
        }
    }
    g_free(got);
}

static BlockDriverState *open_image(const char *path, bool read_only,
                                    GError **errp)
{
    BlockOpenOptions o = { .format = "qcow2", .read_only = read_only };
    return bdrv_open(path, &o, errp);
}

static BlockDriverState *open_ok(const char *path, bool read_only)
{
    GError *err = NULL;
    BlockDriverState *bs = open_image(path, read_only, &err);

    if (!bs) {
        g_test_message("open %s: %s", path, err->message);
    }
    g_assert_no_error(err);
    g_assert_nonnull(bs);
    return bs;
}

/* Our driver's view equals what qemu-img reads */
static void assert_reads_like_qemu(const char *path)
{
    size_t n;
    uint8_t *expect = qemu_read_raw(path, &n);
    BlockDriverState *bs = open_ok(path, true);
    uint8_t *got = g_malloc(n);

    g_assert_cmpint(bdrv_getlength(bs), ==, (int64_t)n);
    g_assert_cmpint(bdrv_pread(bs, 0, got, n), ==, 0);
    g_assert_true(memcmp(got, expect, n) == 0);
    /* and in odd pieces, across (sub)cluster boundaries */
    for (size_t off = 0; off < n; off += 77777) {
        size_t len = MIN(n - off, (size_t)12345);
        g_assert_cmpint(bdrv_pread(bs, off, got, len), ==, 0);
        g_assert_true(memcmp(got, expect + off, len) == 0);
    }
    bdrv_unref(bs);
    g_free(got);
    g_free(expect);
}

static void create_ok(const char *path, int64_t size, const char *optstr)
{
    GError *err = NULL;
    Opts *opts = optstr ? opts_parse(optstr, NULL, &err) : NULL;

    g_assert_no_error(err);
    g_assert_true(bdrv_create("qcow2", path, size, opts, &err));
    g_assert_no_error(err);
    if (opts) {
        g_assert_true(opts_check_unused(opts, "qcow2", &err));
        opts_free(opts);
    }
}

static void fill_random(GRand *r, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = g_rand_int(r);
    }
}

/* Random writes at odd offsets through bs, mirrored in shadow */
static void write_random(BlockDriverState *bs, GRand *r, uint8_t *shadow,
                         size_t size, int count, size_t max_len)
{
    uint8_t *buf = g_malloc(max_len);

    for (int i = 0; i < count; i++) {
        size_t len = g_rand_int_range(r, 1, max_len);
        size_t off = g_rand_int_range(r, 0, size - len);
        fill_random(r, buf, len);
        g_assert_cmpint(bdrv_pwrite(bs, off, buf, len), ==, 0);
        memcpy(shadow + off, buf, len);
    }
    g_free(buf);
}

static void assert_our_contents(BlockDriverState *bs, const uint8_t *expect,
                                size_t len)
{
    uint8_t *got = g_malloc(len);
    g_assert_cmpint(bdrv_pread(bs, 0, got, len), ==, 0);
    g_assert_true(memcmp(got, expect, len) == 0);
    g_free(got);
}

/* ---- images we create ---- */

typedef struct CreateCase {
    const char *name;
    const char *opts;
    size_t size;
} CreateCase;

static const CreateCase create_cases[] = {
    { "default", NULL, 3 * 1024 * 1024 + 512 },
    { "cluster-512", "cluster_size=512", 1024 * 1024 },
    { "cluster-4k", "cluster_size=4k", 2 * 1024 * 1024 },
    { "cluster-64k", "cluster_size=64k", 4 * 1024 * 1024 },
    { "cluster-2M", "cluster_size=2M", 5 * 1024 * 1024 },
    { "refcount-1", "refcount_bits=1", 2 * 1024 * 1024 },
    { "refcount-8", "refcount_bits=8", 2 * 1024 * 1024 },
    { "refcount-64", "refcount_bits=64,cluster_size=4k", 2 * 1024 * 1024 },
    { "compat-0.10", "compat=0.10", 2 * 1024 * 1024 },
    { "extended-l2", "extended_l2=on", 4 * 1024 * 1024 },
    { "extended-l2-16k", "extended_l2=on,cluster_size=16k",
      2 * 1024 * 1024 },
    { "zstd", "compression_type=zstd", 2 * 1024 * 1024 },
    { "lazy-refcounts", "lazy_refcounts=on", 2 * 1024 * 1024 },
    { "prealloc-metadata", "preallocation=metadata", 3 * 1024 * 1024 },
    { "prealloc-falloc", "preallocation=falloc,cluster_size=4k",
      2 * 1024 * 1024 },
    { "prealloc-full", "preallocation=full", 2 * 1024 * 1024 },
    { "small-l2-many-refblocks", "cluster_size=512,refcount_bits=64",
      16 * 1024 * 1024 },
};

static void test_create_case(gconstpointer data)
{
    const CreateCase *c = data;
    char *path = tmp_path("create.qcow2");
    GRand *r = g_rand_new_with_seed(1234);
    uint8_t *shadow = g_malloc0(c->size);

    if (!have_qemu_img()) {
        goto out;
    }
    create_ok(path, c->size, c->opts);
    assert_qemu_check(path);

    BlockDriverState *bs = open_ok(path, false);
    g_assert_cmpint(bdrv_getlength(bs), ==, (int64_t)c->size);
    write_random(bs, r, shadow, c->size, 60, 150000);
    /* rewrite some of it: in place this time */
    write_random(bs, r, shadow, c->size, 20, 70000);
    assert_our_contents(bs, shadow, c->size);
    bdrv_unref(bs);

    bs = open_ok(path, true);
    assert_our_contents(bs, shadow, c->size);
    bdrv_unref(bs);

    assert_qemu_check(path);
    assert_qemu_contents(path, shadow, c->size);
out:
    g_unlink(path);
    g_free(path);
    g_free(shadow);
    g_rand_free(r);
}

/* qemu-img info shows the same format-specific fields for both */
static void test_create_info_matches_qemu(void)
{
    static const char *const opts[] = {
        "compat=1.1", "compat=0.10", "compression_type=zstd,lazy_refcounts=on",
        "extended_l2=on,refcount_bits=8",
    };
    char *ours = tmp_path("ours.qcow2"), *theirs = tmp_path("theirs.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        char *a, *b;
        create_ok(ours, 1 << 30, opts[i]);
        g_assert_cmpint(run(NULL, QEMU_IMG " create -q -f qcow2 -o %s '%s' "
                            "1G", opts[i], theirs), ==, 0);
        g_assert_cmpint(run(&a, QEMU_IMG " info --output=json '%s' | "
                            "grep -v -e filename -e actual-size", ours), ==,
                        0);
        g_assert_cmpint(run(&b, QEMU_IMG " info --output=json '%s' | "
                            "grep -v -e filename -e actual-size", theirs), ==,
                        0);
        g_assert_cmpstr(a, ==, b);
        g_free(a);
        g_free(b);
        assert_qemu_check(ours);
    }
out:
    g_unlink(ours);
    g_unlink(theirs);
    g_free(ours);
    g_free(theirs);
}

static void test_create_errors(void)
{
    static const char *const bad[] = {
        "cluster_size=1000", "cluster_size=4M", "cluster_size=256",
        "refcount_bits=3", "refcount_bits=128", "compat=0.10,refcount_bits=8",
        "compat=0.10,lazy_refcounts=on", "compat=0.10,compression_type=zstd",
        "extended_l2=on,cluster_size=4k", "compression_type=lz4",
        "encryption=on", "encrypt.format=luks", "backing_fmt=qcow2",
        "compat=0.9",
    };
    char *path = tmp_path("bad.qcow2");

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        Opts *opts = opts_parse(bad[i], NULL, &err);
        g_assert_no_error(err);
        g_assert_false(bdrv_create("qcow2", path, 1 << 20, opts, &err));
        g_assert_nonnull(err);
        g_test_message("%s: %s", bad[i], err->message);
        g_error_free(err);
        opts_free(opts);
    }
    g_unlink(path);
    g_free(path);
}

/* ---- images qemu-img and qemu-io make ---- */

typedef struct QemuCase {
    const char *name;
    const char *create;     /* qemu-img create -o */
    const char *io;         /* qemu-io commands, ';'-separated -c */
} QemuCase;

static const QemuCase qemu_cases[] = {
    { "plain", "cluster_size=64k",
      "write -P 0xab 0 64k;write -P 0x11 100k 3k;write -P 0x22 1M 1M" },
    { "v2", "compat=0.10",
      "write -P 0xcd 7k 200k;write -P 0x01 2M 4k" },
    { "zero-clusters", "cluster_size=4k",
      "write -P 0x33 0 1M;write -z 64k 128k;write -z 300k 5k;"
      "discard 512k 64k" },
    { "extended-l2", "extended_l2=on,cluster_size=64k",
      "write -P 0x44 1k 3k;write -P 0x55 70k 2k;write -z 200k 4k;"
      "write -P 0x66 300k 100k" },
    { "cluster-512", "cluster_size=512",
      "write -P 0x77 0 100k;write -P 0x88 1M 777" },
    { "refcount-1", "refcount_bits=1,cluster_size=4k",
      "write -P 0x99 0 500k" },
};

static void qemu_io(const char *path, const char *cmds)
{
    char **c = g_strsplit(cmds, ";", -1);
    GString *args = g_string_new(NULL);

    for (int i = 0; c[i]; i++) {
        g_string_append_printf(args, " -c '%s'", c[i]);
    }
    g_assert_cmpint(run(NULL, QEMU_IO " -f qcow2%s '%s'", args->str, path),
                    ==, 0);
    g_string_free(args, TRUE);
    g_strfreev(c);
}

static void test_qemu_case(gconstpointer data)
{
    const QemuCase *c = data;
    char *path = tmp_path("qemu.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    g_assert_cmpint(run(NULL, QEMU_IMG " create -q -f qcow2 -o %s '%s' 4M",
                        c->create, path), ==, 0);
    qemu_io(path, c->io);
    assert_reads_like_qemu(path);

    /* our writes on top keep it consistent */
    size_t n;
    uint8_t *shadow = qemu_read_raw(path, &n);
    GRand *r = g_rand_new_with_seed(99);
    BlockDriverState *bs = open_ok(path, false);
    write_random(bs, r, shadow, n, 30, 100000);
    bdrv_unref(bs);
    g_rand_free(r);
    assert_qemu_check(path);
    assert_qemu_contents(path, shadow, n);
    g_free(shadow);
out:
    g_unlink(path);
    g_free(path);
}

static void test_qemu_compressed(gconstpointer data)
{
    const char *type = data;
    char *raw = tmp_path("src.raw"), *path = tmp_path("comp.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    /* compressible and incompressible clusters, and a hole */
    size_t size = 2 * 1024 * 1024;
    uint8_t *buf = g_malloc0(size);
    GRand *r = g_rand_new_with_seed(7);
    for (size_t i = 0; i < 512 * 1024; i++) {
        buf[i] = (i / 100) & 0xff;
    }
    fill_random(r, buf + 700 * 1024, 300 * 1024);
    memset(buf + 1500 * 1024, 0x5a, 100000);
    g_assert_true(g_file_set_contents(raw, (char *)buf, size, NULL));
    g_assert_cmpint(run(NULL, QEMU_IMG " convert -c -f raw -O qcow2 -o "
                        "compression_type=%s '%s' '%s'", type, raw, path),
                    ==, 0);
    assert_reads_like_qemu(path);

    /* a partial overwrite of a compressed cluster copies it out */
    BlockDriverState *bs = open_ok(path, false);
    uint8_t patch[3000];
    memset(patch, 0xee, sizeof(patch));
    g_assert_cmpint(bdrv_pwrite(bs, 10000, patch, sizeof(patch)), ==, 0);
    memcpy(buf + 10000, patch, sizeof(patch));
    bdrv_unref(bs);
    assert_qemu_check(path);
    assert_qemu_contents(path, buf, size);
    g_rand_free(r);
    g_free(buf);
out:
    g_unlink(raw);
    g_unlink(path);
    g_free(raw);
    g_free(path);
}

/* Compressed writes through our driver, read back by qemu-img */
static void test_write_compressed(gconstpointer data)
{
    const char *opts = data;
    char *path = tmp_path("wc.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    size_t size = 1024 * 1024 + 4096;     /* a short last cluster */
    create_ok(path, size, opts);
    BlockDriverState *bs = open_ok(path, false);
    uint8_t *buf = g_malloc0(size);
    GRand *r = g_rand_new_with_seed(5);
    for (size_t i = 0; i < size / 2; i++) {
        buf[i] = (i / 50) & 0xff;
    }
    fill_random(r, buf + size / 2, 128 * 1024);
    struct iovec v = { buf, size };
    BlockRequest req = {
        .op = BLK_OP_WRITE, .flags = BLK_REQ_WRITE_COMPRESSED, .offset = 0,
        .bytes = size, .iov = &v, .iovcnt = 1,
    };
    g_assert_cmpint(bdrv_run_sync(bs, &req), ==, 0);
    assert_our_contents(bs, buf, size);
    bdrv_unref(bs);
    assert_qemu_check(path);
    assert_qemu_contents(path, buf, size);
    char *out;
    /* qemu-img 7.2's map does not say; check counts them */
    g_assert_cmpint(run(&out, QEMU_IMG " check '%s'", path), ==, 0);
    g_assert_nonnull(strstr(out, "compressed clusters"));
    g_assert_null(strstr(out, " 0.00% compressed clusters"));
    g_free(out);
    g_rand_free(r);
    g_free(buf);
out:
    g_unlink(path);
    g_free(path);
}

/*
 * Compressed writes from several threads at once (vireo-img convert -c -m
 * N): they compress outside the driver's lock, so this checks that the
 * allocations, the packing of compressed data and the L2 updates they do
 * under it stay consistent, also when clusters are written twice (the
 * second write frees the first one's bytes) and mixed with normal writes.
 */
#define WC_THREADS 4
#define WC_CLUSTER (64 * 1024)
#define WC_CLUSTERS 64

typedef struct WcThread {
    BlockDriverState *bs;
    uint8_t *buf;       /* the whole disk's expected contents */
    int index;
} WcThread;

static gpointer write_compressed_thread(gpointer data)
{
    WcThread *w = data;

    for (int round = 0; round < 2; round++) {
        for (int c = w->index; c < WC_CLUSTERS; c += WC_THREADS) {
            /* some requests take the next thread's cluster too */
            int n = c % 3 == 1 && c + 1 < WC_CLUSTERS ? 2 : 1;
            struct iovec v = { w->buf + (size_t)c * WC_CLUSTER,
                               (size_t)n * WC_CLUSTER };
            BlockRequest req = {
                .op = BLK_OP_WRITE, .offset = (int64_t)c * WC_CLUSTER,
                .bytes = (int64_t)n * WC_CLUSTER, .iov = &v, .iovcnt = 1,
                /* every fifth cluster as a normal write */
                .flags = c % 5 == 4 ? 0 : BLK_REQ_WRITE_COMPRESSED,
            };
            g_assert_cmpint(bdrv_run_sync(w->bs, &req), ==, 0);
        }
    }
    return NULL;
}

static void test_write_compressed_threads(void)
{
    char *path = tmp_path("wct.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    size_t size = (size_t)WC_CLUSTERS * WC_CLUSTER;
    create_ok(path, size, "cluster_size=64k");
    BlockDriverState *bs = open_ok(path, false);
    uint8_t *buf = g_malloc0(size);
    GRand *r = g_rand_new_with_seed(11);
    for (int c = 0; c < WC_CLUSTERS; c++) {
        uint8_t *p = buf + (size_t)c * WC_CLUSTER;
        if (c % 3 == 0) {
            fill_random(r, p, WC_CLUSTER);     /* incompressible */
        } else {
            for (size_t i = 0; i < WC_CLUSTER; i++) {
                p[i] = (i / (c + 7)) & 0xff;
            }
        }
    }
    WcThread w[WC_THREADS];
    GThread *th[WC_THREADS];
    for (int i = 0; i < WC_THREADS; i++) {
        w[i] = (WcThread){ bs, buf, i };
        th[i] = g_thread_new("wc", write_compressed_thread, &w[i]);
    }
    for (int i = 0; i < WC_THREADS; i++) {
        g_thread_join(th[i]);
    }
    assert_our_contents(bs, buf, size);
    bdrv_unref(bs);
    assert_qemu_check(path);
    assert_qemu_contents(path, buf, size);
    g_rand_free(r);
    g_free(buf);
out:
    g_unlink(path);
    g_free(path);
}

static void test_qemu_snapshot(void)
{
    char *path = tmp_path("snap.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    g_assert_cmpint(run(NULL, QEMU_IMG " create -q -f qcow2 '%s' 2M", path),
                    ==, 0);
    qemu_io(path, "write -P 0x10 0 1M");
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -c s1 '%s'", path), ==, 0);
    qemu_io(path, "write -P 0x20 64k 64k;write -P 0x30 1M 64k");
    assert_reads_like_qemu(path);

    /* writes into clusters and L2 tables the snapshot shares */
    size_t n;
    uint8_t *shadow = qemu_read_raw(path, &n);
    GRand *r = g_rand_new_with_seed(17);
    BlockDriverState *bs = open_ok(path, false);
    write_random(bs, r, shadow, n, 20, 100000);
    bdrv_unref(bs);
    assert_qemu_check(path);
    assert_qemu_contents(path, shadow, n);
    /* the snapshot still has its data */
    g_assert_cmpint(run(NULL, QEMU_IMG " snapshot -a s1 '%s'", path), ==, 0);
    assert_reads_like_qemu(path);
    uint8_t *snap = qemu_read_raw(path, &n);
    for (size_t i = 0; i < 1024 * 1024; i++) {
        g_assert_cmpuint(snap[i], ==, 0x10);
    }
    g_free(snap);
    g_rand_free(r);
    g_free(shadow);
out:
    g_unlink(path);
    g_free(path);
}

/* ---- backing chains ---- */

static void test_backing_cow(gconstpointer data)
{
    const char *opts = data;
    char *base = tmp_path("base.qcow2"), *top = tmp_path("top.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    g_assert_cmpint(run(NULL, QEMU_IMG " create -q -f qcow2 '%s' 3M", base),
                    ==, 0);
    qemu_io(base, "write -P 0xb0 0 3M");
    /* the overlay is larger than the base: past it, zeros */
    char *o = g_strdup_printf("backing_file=base.qcow2,backing_fmt=qcow2%s%s",
                              *opts ? "," : "", opts);
    create_ok(top, 4 * 1024 * 1024, o);
    g_free(o);

    size_t size = 4 * 1024 * 1024;
    uint8_t *shadow = g_malloc0(size);
    memset(shadow, 0xb0, 3 * 1024 * 1024);
    BlockDriverState *bs = open_ok(top, false);
    assert_our_contents(bs, shadow, size);
    uint8_t small[100];
    memset(small, 0x1f, sizeof(small));
    g_assert_cmpint(bdrv_pwrite(bs, 5000, small, sizeof(small)), ==, 0);
    memcpy(shadow + 5000, small, sizeof(small));
    g_assert_cmpint(bdrv_pwrite(bs, 3 * 1024 * 1024 - 50, small,
                                sizeof(small)), ==, 0);
    memcpy(shadow + 3 * 1024 * 1024 - 50, small, sizeof(small));
    GRand *r = g_rand_new_with_seed(3);
    write_random(bs, r, shadow, size, 15, 50000);
    assert_our_contents(bs, shadow, size);
    /* zeroes hide the backing file; discard follows QEMU */
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 128 * 1024, 192 * 1024, 0), ==,
                    0);
    memset(shadow + 128 * 1024, 0, 192 * 1024);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 1000, 3000, 0), ==, 0);
    memset(shadow + 1000, 0, 3000);
    assert_our_contents(bs, shadow, size);
    bdrv_unref(bs);
    assert_qemu_check(top);
    assert_qemu_contents(top, shadow, size);
    g_rand_free(r);
    g_free(shadow);
out:
    g_unlink(base);
    g_unlink(top);
    g_free(base);
    g_free(top);
}

/* ---- zeroes, discard, resize, amend ---- */

static void test_zero_discard(gconstpointer data)
{
    const char *opts = data;
    char *path = tmp_path("zd.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    size_t size = 2 * 1024 * 1024;
    create_ok(path, size, opts);
    uint8_t *shadow = g_malloc0(size);
    memset(shadow, 0x42, size);
    BlockDriverState *bs = open_ok(path, false);
    g_assert_cmpint(bdrv_pwrite(bs, 0, shadow, size), ==, 0);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 65536, 65536 * 3, 0), ==, 0);
    memset(shadow + 65536, 0, 65536 * 3);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, 300000, 77777,
                                       BLK_ZERO_MAY_UNMAP), ==, 0);
    memset(shadow + 300000, 0, 77777);
    g_assert_cmpint(bdrv_pdiscard(bs, 1024 * 1024, 256 * 1024), ==, 0);
    memset(shadow + 1024 * 1024, 0, 256 * 1024);
    g_assert_cmpint(bdrv_pwrite_zeroes(bs, size - 4096, 4096, 0), ==, 0);
    memset(shadow + size - 4096, 0, 4096);
    assert_our_contents(bs, shadow, size);
    bdrv_unref(bs);
    assert_qemu_check(path);
    assert_qemu_contents(path, shadow, size);
    g_free(shadow);
out:
    g_unlink(path);
    g_free(path);
}

static void test_resize(void)
{
    char *path = tmp_path("resize.qcow2");
    GError *err = NULL;

    if (!have_qemu_img()) {
        goto out;
    }
    size_t size = 1024 * 1024;
    create_ok(path, size, "cluster_size=4k");
    BlockDriverState *bs = open_ok(path, false);
    uint8_t *buf = g_malloc(size);
    memset(buf, 0x61, size);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, size), ==, 0);
    /* grow far enough to need a bigger L1 table */
    g_assert_true(bdrv_truncate(bs, 64 * 1024 * 1024, false,
                                PREALLOC_MODE_OFF, &err));
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(bs, 60 * 1024 * 1024, buf, 4096), ==, 0);
    /* shrink needs permission, and must be 512-aligned */
    g_assert_false(bdrv_truncate(bs, 512 * 1024, false, PREALLOC_MODE_OFF,
                                 &err));
    g_clear_error(&err);
    g_assert_false(bdrv_truncate(bs, 1000, true, PREALLOC_MODE_OFF, &err));
    g_clear_error(&err);
    g_assert_true(bdrv_truncate(bs, 512 * 1024 + 1536, true,
                                PREALLOC_MODE_OFF, &err));
    g_assert_no_error(err);
    /* growing again shows zeros past the old end */
    g_assert_true(bdrv_truncate(bs, 2 * 1024 * 1024, false,
                                PREALLOC_MODE_METADATA, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    uint8_t *expect = g_malloc0(2 * 1024 * 1024);
    memset(expect, 0x61, 512 * 1024 + 1536);
    assert_qemu_check(path);
    assert_qemu_contents(path, expect, 2 * 1024 * 1024);
    g_free(expect);
    g_free(buf);
out:
    g_unlink(path);
    g_free(path);
}

static void amend(BlockDriverState *bs, const char *optstr, bool ok)
{
    GError *err = NULL;
    Opts *opts = opts_parse(optstr, NULL, &err);
    g_assert_no_error(err);
    bool got = bs->drv->amend(bs, opts, &err);
    if (err) {
        g_test_message("amend %s: %s", optstr, err->message);
    }
    g_assert_cmpint(got, ==, ok);
    if (!ok) {
        g_test_message("amend %s: %s", optstr, err->message);
        g_clear_error(&err);
    }
    g_assert_no_error(err);
    opts_free(opts);
}

static void test_amend(void)
{
    char *path = tmp_path("amend.qcow2");
    char *out;

    if (!have_qemu_img()) {
        goto out;
    }
    size_t size = 1024 * 1024;
    create_ok(path, size, NULL);
    qemu_io(path, "write -P 0x12 0 1M;write -z 64k 64k");
    BlockDriverState *bs = open_ok(path, false);
    amend(bs, "lazy_refcounts=on", true);
    amend(bs, "refcount_bits=8", false);
    amend(bs, "compat=0.10", true);
    bdrv_unref(bs);
    assert_qemu_check(path);
    g_assert_cmpint(run(&out, QEMU_IMG " info '%s'", path), ==, 0);
    g_assert_nonnull(strstr(out, "compat: 0.10"));
    g_free(out);
    assert_reads_like_qemu(path);
    uint8_t *expect = g_malloc(size);
    memset(expect, 0x12, size);
    memset(expect + 65536, 0, 65536);
    assert_qemu_contents(path, expect, size);

    bs = open_ok(path, false);
    amend(bs, "compat=1.1,lazy_refcounts=on", true);
    amend(bs, "backing_file=nowhere.qcow2,backing_fmt=qcow2", true);
    bdrv_unref(bs);
    g_assert_cmpint(run(&out, QEMU_IMG " info -U --output=json '%s'", path),
                    ==, 0);
    g_assert_nonnull(strstr(out, "\"lazy-refcounts\": true"));
    g_assert_nonnull(strstr(out, "\"backing-filename\": \"nowhere.qcow2\""));
    g_free(out);
    g_free(expect);
out:
    g_unlink(path);
    g_free(path);
}

/* A crash with lazy refcounts leaves the dirty bit: open repairs it */
static void test_dirty_repair(void)
{
    char *path = tmp_path("dirty.qcow2");

    if (!have_qemu_img()) {
        goto out;
    }
    create_ok(path, 1024 * 1024, "lazy_refcounts=on");
    /* qemu-io's abort leaves the image dirty with stale refcounts */
    run(NULL, QEMU_IO " -f qcow2 -c 'write -P 0x5 0 200k' -c abort '%s'",
        path);
    char *out;
    run(&out, QEMU_IMG " info '%s'", path);
    bool dirty = strstr(out, "dirty bit") || strstr(out, "corrupt: false");
    g_free(out);
    g_assert_true(dirty);
    GError *err = NULL;
    BlockDriverState *bs = open_image(path, false, &err);
    if (!bs) {
        /* the repair itself is qcow2-check.c's (H1b) */
        g_test_message("%s", err->message);
        g_test_incomplete("repair on open failed in qcow2_check");
        g_error_free(err);
        goto out;
    }
    uint8_t buf[4096];
    g_assert_cmpint(bdrv_pread(bs, 0, buf, sizeof(buf)), ==, 0);
    g_assert_cmpuint(buf[100], ==, 5);
    bdrv_unref(bs);
    assert_qemu_check(path);
out:
    g_unlink(path);
    g_free(path);
}

/* ---- hostile images ---- */

static void patch(const char *path, off_t off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, data, len, off), ==, (ssize_t)len);
    close(fd);
}

static void patch_be32(const char *path, off_t off, uint32_t v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
    patch(path, off, b, 4);
}

static void patch_be64(const char *path, off_t off, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = v >> (56 - 8 * i);
    }
    patch(path, off, b, 8);
}

static uint64_t file_be64(const char *path, off_t off)
{
    uint8_t b[8];
    int fd = open(path, O_RDONLY);
    g_assert_cmpint(pread(fd, b, 8, off), ==, 8);
    close(fd);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | b[i];
    }
    return v;
}

/* An image with data, for patching */
static char *bad_base(const char *opts)
{
    char *path = tmp_path("bad.qcow2");
    g_assert_cmpint(run(NULL, QEMU_IMG " create -q -f qcow2 %s%s '%s' 1M",
                        opts ? "-o " : "", opts ? opts : "", path), ==, 0);
    qemu_io(path, "write -P 0x3c 0 128k");
    return path;
}

static void expect_open_error(const char *path, const char *msg)
{
    GError *err = NULL;
    BlockDriverState *bs = open_image(path, true, &err);

    g_assert_null(bs);
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    if (!strstr(err->message, msg)) {
        g_test_message("expected '%s'", msg);
    }
    g_assert_nonnull(strstr(err->message, msg));
    g_error_free(err);
}

/* The first cluster read gives -EIO, never a crash */
static void expect_read_eio(const char *path)
{
    BlockDriverState *bs = open_ok(path, true);
    uint8_t *buf = g_malloc(128 * 1024);
    g_assert_cmpint(bdrv_pread(bs, 0, buf, 128 * 1024), ==, -EIO);
    bdrv_unref(bs);
    g_free(buf);
}

static void test_hostile_header(void)
{
    if (!have_qemu_img()) {
        return;
    }
    struct {
        off_t off;
        int width;
        uint64_t value;
        const char *msg;
    } cases[] = {
        { 36, 4, 0x7fffffff, "Active L1 table too large" },
        { 36, 4, 1, NULL },     /* valid: covers 1M */
        { 36, 4, 0, "L1 table is too small" },
        { 40, 8, 1ULL << 40, "Invalid L1 table offset" },
        { 40, 8, 0x30001, "Invalid L1 table offset" },
        { 20, 4, 30, "Unsupported cluster size: 2^30" },
        { 20, 4, 8, "Unsupported cluster size: 2^8" },
        { 96, 4, 7, "Reference count entry width too large" },
        { 72, 8, 1ULL << 40, "Unsupported qcow2 feature(s): "
                             "Unknown incompatible feature: 10000000000" },
        { 72, 8, 1 << 2, "external data file" },
        { 32, 4, 1, "encrypted images are not supported" },
        { 32, 4, 2, "encrypted images are not supported" },
        { 4, 4, 4, "Unsupported qcow2 version 4" },
        { 0, 4, 0x12345678, "Image is not in qcow2 format" },
        { 100, 4, 50, "qcow2 header too short" },
        { 100, 4, 1 << 20, "qcow2 header exceeds cluster size" },
        { 48, 8, 0x12345, "Invalid reference count table offset" },
        { 56, 4, 1 << 20, "Reference count table too large" },
        { 60, 4, 100000, NULL },    /* snapshots: H1b's validation */
        { 104, 1, 2, "unknown compression type" },
        { 104, 1, 1, "Compression type incompatible feature bit must be set" },
        { 24, 8, 1ULL << 62, "Image size too large" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *path = bad_base(NULL);
        if (cases[i].width == 4) {
            patch_be32(path, cases[i].off, cases[i].value);
        } else if (cases[i].width == 8) {
            patch_be64(path, cases[i].off, cases[i].value);
        } else {
            uint8_t b = cases[i].value;
            patch(path, cases[i].off, &b, 1);
        }
        if (cases[i].msg) {
            expect_open_error(path, cases[i].msg);
        } else {
            GError *err = NULL;
            BlockDriverState *bs = open_image(path, true, &err);
            if (bs) {
                uint8_t buf[4096];
                bdrv_pread(bs, 0, buf, sizeof(buf));
                bdrv_unref(bs);
            } else {
                g_test_message("%s", err->message);
                g_error_free(err);
            }
        }
        g_unlink(path);
        g_free(path);
    }
}

static void test_hostile_backing_name(void)
{
    if (!have_qemu_img()) {
        return;
    }
    char *path = bad_base(NULL);
    patch_be64(path, 8, 512);
    patch_be32(path, 16, 5000);
    expect_open_error(path, "Backing file name too long");
    patch_be64(path, 8, 65000);
    patch_be32(path, 16, 1000);
    expect_open_error(path, "Backing file name too long");
    patch_be64(path, 8, 1ULL << 40);
    expect_open_error(path, "Invalid backing file offset");
    g_unlink(path);
    g_free(path);

    /* an extension running past the cluster */
    path = bad_base(NULL);
    patch_be32(path, 112, 0x12345678);
    patch_be32(path, 116, 0x7fffffff);
    expect_open_error(path, "Header extension too large");
    g_unlink(path);
    g_free(path);

    /* a corrupt image only opens read-only */
    path = bad_base(NULL);
    patch_be64(path, 72, 2);
    GError *err = NULL;
    g_assert_null(open_image(path, false, &err));
    g_assert_nonnull(strstr(err->message, "Image is corrupt; cannot be "
                            "opened read/write"));
    g_clear_error(&err);
    bdrv_unref(open_ok(path, true));
    g_unlink(path);
    g_free(path);
}

static void test_hostile_tables(void)
{
    if (!have_qemu_img()) {
        return;
    }
    char *path = bad_base(NULL);
    uint64_t l1 = file_be64(path, 40);
    uint64_t l2 = file_be64(path, l1) & 0x00fffffffffffe00ULL;

    /* an L2 entry past the end of the file: reads and writes fail, and
     * the file does not grow to where it points (fuzz-qcow2) */
    patch_be64(path, l2, (1ULL << 63) | (1ULL << 45));
    expect_read_eio(path);
    {
        BlockDriverState *bs = open_image(path, false, NULL);
        uint8_t buf[512] = { 0x5a };
        g_assert_nonnull(bs);
        g_assert_cmpint(bdrv_pwrite(bs, 0, buf, sizeof(buf)), ==, -EIO);
        bdrv_unref(bs);
        struct stat st;
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_size, <, 1 << 20);
    }
    patch_be64(path, 72, 0);    /* clear the corrupt bit again */
    /* an unaligned one: corruption */
    patch_be64(path, l2, (1ULL << 63) | 0x10200);
    expect_read_eio(path);
    /* an L2 table past the end of the file: reads fail, and a write
     * must not write the table back out there (fuzz-qcow2) */
    patch_be64(path, l1, (1ULL << 63) | (1ULL << 44));
    expect_read_eio(path);
    {
        BlockDriverState *bs = open_image(path, false, NULL);
        uint8_t buf[512] = { 0x5a };
        g_assert_nonnull(bs);
        g_assert_cmpint(bdrv_pwrite(bs, 0, buf, sizeof(buf)), ==, -EIO);
        bdrv_flush(bs);
        bdrv_unref(bs);
        struct stat st;
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_size, <, 1 << 20);
    }
    patch_be64(path, 72, 0);    /* clear the corrupt bit again */
    /* an L2 table on top of the refcount table reads, but writing it
     * back is refused by the overlap check */
    patch_be64(path, l1, 0x10000 | (1ULL << 63));
    {
        BlockDriverState *bs = open_image(path, false, NULL);
        if (bs) {
            uint8_t buf[512] = { 0 };
            bdrv_pread(bs, 0, buf, sizeof(buf));
            /* the L2 update is refused when the cache writes it back */
            g_assert_true(bdrv_pwrite(bs, 0, buf, sizeof(buf)) < 0 ||
                          bdrv_flush(bs) < 0);
            bdrv_unref(bs);
        }
    }
    g_unlink(path);
    g_free(path);

    /* a compressed descriptor past the end of the file */
    path = bad_base(NULL);
    l1 = file_be64(path, 40);
    l2 = file_be64(path, l1) & 0x00fffffffffffe00ULL;
    patch_be64(path, l2, (1ULL << 62) | (1ULL << 40) | (3ULL << 54));
    expect_read_eio(path);
    /* and one with garbage data inside the file */
    patch_be64(path, l2, (1ULL << 62) | 0x200 | (3ULL << 54));
    expect_read_eio(path);
    g_unlink(path);
    g_free(path);

    /* extended L2 with both alloc and zero bits set */
    path = bad_base("extended_l2=on");
    l1 = file_be64(path, 40);
    l2 = file_be64(path, l1) & 0x00fffffffffffe00ULL;
    patch_be64(path, l2 + 8, 0x0000000100000001ULL);
    expect_read_eio(path);
    g_unlink(path);
    g_free(path);
}

/* ---- reads on the main loop racing with frees and allocations ---- */

typedef struct FastCase {
    const char *name;
    const char *create;     /* qcow2 create options */
    bool native;            /* cache=none,aio=native, else aio=threads */
} FastCase;

typedef struct FastOp {
    uint8_t *expect;        /* a read: the model when it was issued */
    uint8_t *buf;
    uint64_t off, len;
    bool read;
    bool may_zero;          /* a discard or write-zeroes overlaps it */
    int *pending;
} FastOp;

static void fast_op_done(void *opaque, int ret)
{
    FastOp *op = opaque;
    static const uint8_t zero[512];

    g_assert_cmpint(ret, ==, 0);
    /* sector by sector, the data before or, racing with a discard or
     * write-zeroes, zeros: never another cluster's data or metadata */
    for (uint64_t i = 0; op->read && i < op->len; i += 512) {
        if (memcmp(op->buf + i, op->expect + i, 512) != 0 &&
            !(op->may_zero && memcmp(op->buf + i, zero, 512) == 0)) {
            g_error("read at %#" G_GINT64_MODIFIER "x+%#" G_GINT64_MODIFIER
                    "x differs from the model at +%#" G_GINT64_MODIFIER "x",
                    op->off, op->len, i);
        }
    }
    free(op->buf);
    g_free(op->expect);
    (*op->pending)--;
    g_free(op);
}

static bool ranges_meet(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/*
 * Concurrent reads (served on the main loop when their mapping is cached)
 * with writes, write-zeroes and discards elsewhere that free clusters and
 * allocate them again: every read returns the model's data (reads go only
 * to ranges no in-flight request changes), and the image checks clean.
 */
static void test_fast_read_races(gconstpointer data)
{
    const FastCase *fc = data;
    char *path = tmp_path("fast.qcow2");
    const uint64_t size = 4 * 1024 * 1024, cs_max = 65536;
    GError *err = NULL;

    if (!have_qemu_img()) {
        goto out;
    }
    create_ok(path, size, fc->create);
    BlockOpenOptions o = {
        .format = "qcow2", .direct = fc->native, .aio_native = fc->native,
        .discard_unmap = true,
    };
    BlockBackend *blk = blk_new_open(path, &o, &err);
    if (!blk && fc->native) {
        g_test_skip("O_DIRECT with libaio not available here");
        g_clear_error(&err);
        goto out;
    }
    g_assert_no_error(err);

    uint8_t *model = g_malloc(size);
    GRand *r = g_rand_new_with_seed(0x5eed);
    fill_random(r, model, size);
    g_assert_cmpint(blk_pwrite(blk, 0, model, size), ==, 0);

    int pending = 0;
    for (int round = 0; round < 300; round++) {
        /* what is in flight this round: reads may overlap reads, and
         * discards and write-zeroes (which free clusters under them) */
        FastOp *busy[24];
        int nbusy = 0;
        for (int i = 0; i < 24; i++) {
            uint64_t len = (uint64_t)g_rand_int_range(r, 1, 3 * cs_max / 512)
                           * 512;
            uint64_t off = (uint64_t)g_rand_int_range(r, 0,
                                                      (size - len) / 512) * 512;
            int kind = g_rand_int_range(r, 0, 10);  /* 0-5 read */
            bool read = kind < 6, zeroing = kind >= 8, clash = false;
            if (kind == 9) {
                /* whole clusters read zeros after a discard; partial
                 * ones may keep their data: discard whole ones only */
                off &= ~(cs_max - 1);
                len = cs_max;
            }
            for (int b = 0; b < nbusy; b++) {
                bool ok = busy[b]->read ? read || zeroing
                                        : read && busy[b]->may_zero;
                clash |= !ok && ranges_meet(off, len, busy[b]->off,
                                            busy[b]->len);
            }
            if (clash) {
                continue;
            }
            FastOp *op = g_new0(FastOp, 1);
            g_assert_cmpint(posix_memalign((void **)&op->buf, 4096, len), ==,
                            0);
            op->off = off;
            op->len = len;
            op->read = read;
            op->may_zero = zeroing;
            op->pending = &pending;
            for (int b = 0; b < nbusy; b++) {
                if (ranges_meet(off, len, busy[b]->off, busy[b]->len)) {
                    /* reads before a zeroing one or during it */
                    busy[b]->may_zero |= zeroing;
                    op->may_zero |= read && busy[b]->may_zero &&
                                    !busy[b]->read;
                }
            }
            busy[nbusy++] = op;
            struct iovec v = { op->buf, len };
            pending++;
            if (read) {
                /* zeroing requests in flight already show in the model:
                 * the read may see the data from before them */
                op->expect = g_memdup2(model + off, len);
                for (int b = 0; b < nbusy - 1; b++) {
                    FastOp *z = busy[b];
                    if (!z->read && ranges_meet(off, len, z->off, z->len)) {
                        uint64_t lo = MAX(off, z->off);
                        uint64_t hi = MIN(off + len, z->off + z->len);
                        memcpy(op->expect + (lo - off),
                               z->expect + (lo - z->off), hi - lo);
                    }
                }
                blk_aio_preadv(blk, off, &v, 1, fast_op_done, op);
            } else if (kind < 8) {
                fill_random(r, op->buf, len);
                memcpy(model + off, op->buf, len);
                blk_aio_pwritev(blk, off, &v, 1, fast_op_done, op);
            } else {
                /* its old data, for reads issued while it is in flight */
                op->expect = g_memdup2(model + off, len);
                memset(model + off, 0, len);
                if (kind == 8) {
                    blk_aio_pwrite_zeroes(blk, off, len,
                                          round & 1 ? BLK_ZERO_MAY_UNMAP : 0,
                                          fast_op_done, op);
                } else {
                    blk_aio_pdiscard(blk, off, len, fast_op_done, op);
                }
            }
        }
        blk_drain(blk);
        g_assert_cmpint(pending, ==, 0);
    }
    uint8_t *got = g_malloc(size);
    g_assert_cmpint(blk_pread(blk, 0, got, size), ==, 0);
    g_assert_true(memcmp(got, model, size) == 0);
    g_free(got);
    blk_unref(blk);
    assert_qemu_check(path);
    assert_qemu_contents(path, model, size);
    g_rand_free(r);
    g_free(model);
out:
    g_unlink(path);
    g_free(path);
}

static const FastCase fast_cases[] = {
    { "native-64k", "cluster_size=64k", true },
    { "native-4k", "cluster_size=4k", true },
    { "threads-4k", "cluster_size=4k", false },
    { "native-extended-l2", "extended_l2=on", true },
};

/* ---- migration handover (inactivate / activate) ---- */

static void fill_check(BlockBackend *blk, int64_t off, int byte)
{
    uint8_t buf[4096], want[4096];

    memset(want, byte, sizeof(want));
    g_assert_cmpint(blk_pread(blk, off, buf, sizeof(buf)), ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), want, sizeof(want));
}

/* Another process's claim that nobody else writes: QEMU's byte 201. */
static int hold_no_writers(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct flock fl = {
        .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 201, .l_len = 1,
    };

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_OFD_SETLK, &fl), ==, 0);
    return fd;
}

/*
 * The destination of a migration opens its image inactive: no locks (a
 * second process writes it freely), no writes, and what it read at open
 * is read again at activation, including an L2 table it had cached. Once
 * active it holds the write lock; inactivated again it writes its caches
 * back, leaves the image clean and lets others in. An activation that
 * cannot get the write lock fails with QEMU's message and holds nothing.
 */
static void test_handover(void)
{
    char *path = tmp_path("handover.qcow2");
    GError *err = NULL;
    uint8_t buf[4096] = { 0 };

    if (!have_qemu_img()) {
        goto out;
    }
    create_ok(path, 16 << 20, "cluster_size=64k");
    g_assert_cmpint(run(NULL, QEMU_IO " -c 'write -P 0x11 4M 64k' '%s'",
                        path), ==, 0);
    blk_set_open_inactive(true);
    BlockOpenOptions o = { .format = "qcow2" };
    BlockBackend *blk = blk_new_open(path, &o, &err);
    g_assert_no_error(err);
    g_assert_true(blk_any_inactive());
    /* caches the L2 table covering 4M..; then another writer allocates */
    fill_check(blk, 4 << 20, 0x11);
    g_assert_cmpint(blk_pwrite(blk, 0, buf, sizeof(buf)), ==, -EPERM);
    g_assert_cmpint(run(NULL, QEMU_IO " -c 'write -P 0x22 0x410000 64k' "
                        "-c 'write -P 0x33 8M 64k' '%s'", path), ==, 0);

    g_assert_true(blk_activate_all(&err));
    g_assert_no_error(err);
    g_assert_false(blk_any_inactive());
    fill_check(blk, 0x410000, 0x22);
    fill_check(blk, 8 << 20, 0x33);
    char *out = NULL;
    g_assert_cmpint(run(&out, QEMU_IO " -c 'write 0 4k' '%s'", path), !=, 0);
    g_assert_nonnull(strstr(out, "Failed to get \"write\" lock"));
    g_free(out);
    memset(buf, 0x44, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, 12 << 20, buf, sizeof(buf)), ==, 0);

    /* hand it over again: all on disk, a clean image, no lock */
    g_assert_true(blk_inactivate_all(&err));
    g_assert_no_error(err);
    assert_qemu_check(path);
    g_assert_cmpint(run(NULL, QEMU_IO " -c 'read -P 0x44 12M 4k' "
                        "-c 'write -P 0x55 14M 64k' '%s'", path), ==, 0);

    /* someone keeps writers out: activation fails and takes nothing */
    int fd = hold_no_writers(path);
    g_assert_false(blk_activate_all(&err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "\"write\" lock"));
    g_clear_error(&err);
    g_assert_true(blk_any_inactive());
    close(fd);
    g_assert_cmpint(run(NULL, QEMU_IO " -c 'write -P 0x66 15M 64k' '%s'",
                        path), ==, 0);

    g_assert_true(blk_activate_all(&err));
    g_assert_no_error(err);
    fill_check(blk, 14 << 20, 0x55);
    fill_check(blk, 15 << 20, 0x66);
    fill_check(blk, 12 << 20, 0x44);
    blk_unref(blk);
    assert_qemu_check(path);
out:
    blk_set_open_inactive(false);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("vireo-test-qcow2-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    for (size_t i = 0; i < G_N_ELEMENTS(create_cases); i++) {
        char *name = g_strdup_printf("/qcow2/create/%s",
                                     create_cases[i].name);
        g_test_add_data_func(name, &create_cases[i], test_create_case);
        g_free(name);
    }
    g_test_add_func("/qcow2/create/info-matches-qemu",
                    test_create_info_matches_qemu);
    g_test_add_func("/qcow2/create/errors", test_create_errors);
    for (size_t i = 0; i < G_N_ELEMENTS(qemu_cases); i++) {
        char *name = g_strdup_printf("/qcow2/qemu-image/%s",
                                     qemu_cases[i].name);
        g_test_add_data_func(name, &qemu_cases[i], test_qemu_case);
        g_free(name);
    }
    g_test_add_data_func("/qcow2/qemu-image/compressed-zlib", "zlib",
                         test_qemu_compressed);
    g_test_add_data_func("/qcow2/qemu-image/compressed-zstd", "zstd",
                         test_qemu_compressed);
    g_test_add_func("/qcow2/qemu-image/snapshot", test_qemu_snapshot);
    g_test_add_data_func("/qcow2/write-compressed/zlib", "cluster_size=64k",
                         test_write_compressed);
    g_test_add_data_func("/qcow2/write-compressed/zstd",
                         "compression_type=zstd,cluster_size=4k",
                         test_write_compressed);
    g_test_add_data_func("/qcow2/write-compressed/extended-l2",
                         "extended_l2=on", test_write_compressed);
    g_test_add_func("/qcow2/write-compressed/threads",
                    test_write_compressed_threads);
    g_test_add_data_func("/qcow2/backing/cow", "", test_backing_cow);
    g_test_add_data_func("/qcow2/backing/cow-extended-l2", "extended_l2=on",
                         test_backing_cow);
    g_test_add_data_func("/qcow2/backing/cow-v2", "compat=0.10",
                         test_backing_cow);
    g_test_add_data_func("/qcow2/zero-discard/v3", "cluster_size=64k",
                         test_zero_discard);
    g_test_add_data_func("/qcow2/zero-discard/v2", "compat=0.10",
                         test_zero_discard);
    g_test_add_data_func("/qcow2/zero-discard/extended-l2",
                         "extended_l2=on", test_zero_discard);
    g_test_add_func("/qcow2/resize", test_resize);
    for (size_t i = 0; i < G_N_ELEMENTS(fast_cases); i++) {
        char *name = g_strdup_printf("/qcow2/fast-path/%s",
                                     fast_cases[i].name);
        g_test_add_data_func(name, &fast_cases[i], test_fast_read_races);
        g_free(name);
    }
    g_test_add_func("/qcow2/amend", test_amend);
    g_test_add_func("/qcow2/dirty-repair", test_dirty_repair);
    g_test_add_func("/qcow2/handover", test_handover);
    g_test_add_func("/qcow2/hostile/header", test_hostile_header);
    g_test_add_func("/qcow2/hostile/backing-name", test_hostile_backing_name);
    g_test_add_func("/qcow2/hostile/tables", test_hostile_tables);

    int ret = g_test_run();
    char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    run(NULL, "%s", cmd);
    g_free(cmd);
    g_free(tmpdir);
    return ret;
}
