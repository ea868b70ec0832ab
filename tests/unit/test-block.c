/*
 * The block layer's first floor: -drive parsing and its errors, the
 * registry, asynchronous I/O through the thread pool and Linux AIO with
 * completions on the default main context, cache modes, O_DIRECT bounce
 * buffers, read-only drives, image locking and zero-fill at EOF; the
 * generic layer (probing, backing chains, create/truncate, block status,
 * image info against qemu-img), detect-zeroes, -blockdev and -snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "block/block.h"
#include "block/block_int.h"
#include "config.h"
#include "system/runstate.h"

typedef struct Res {
    int ret;
    int calls;
} Res;

static void res_cb(void *opaque, int ret)
{
    Res *r = opaque;

    g_assert_true(bql_locked());
    r->ret = ret;
    r->calls++;
}

static int wait_res(Res *r)
{
    while (!r->calls) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_cmpint(r->calls, ==, 1);
    return r->ret;
}

/* A temporary image of size bytes filled with a pattern (or zeros). */
static char *make_image(size_t size, bool pattern)
{
    char *path = g_strdup("/var/tmp/vireo-test-block-XXXXXX");
    int fd = g_mkstemp(path);
    g_assert_cmpint(fd, >=, 0);
    if (size) {
        uint8_t *buf = g_malloc0(size);
        for (size_t i = 0; pattern && i < size; i++) {
            buf[i] = (uint8_t)(i * 7 + 3);
        }
        g_assert_cmpint(write(fd, buf, size), ==, (ssize_t)size);
        g_free(buf);
    }
    close(fd);
    return path;
}

static void drop_image(char *path)
{
    g_unlink(path);
    g_free(path);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    gchar *data;
    gsize n;
    g_assert_true(g_file_get_contents(path, &data, &n, NULL));
    *len = n;
    return (uint8_t *)data;
}

static void *aligned_buf(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, size)) {
        g_error("posix_memalign failed");
    }
    return p;
}

static bool odirect_works(const char *path)
{
    int fd = open(path, O_RDWR | O_DIRECT);
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

static BlockBackend *drive(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static BlockBackend *drive(const char *fmt, ...)
{
    va_list ap;
    GError *err = NULL;

    va_start(ap, fmt);
    char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    BlockBackend *blk = blk_new_from_drive_opts(s, &err);
    if (!blk) {
        g_error("%s: %s", s, err->message);
    }
    g_free(s);
    return blk;
}

static char *drive_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *drive_error(const char *fmt, ...)
{
    va_list ap;
    GError *err = NULL;

    va_start(ap, fmt);
    char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    BlockBackend *blk = blk_new_from_drive_opts(s, &err);
    g_assert_null(blk);
    g_assert_nonnull(err);
    char *prefix = g_strdup_printf("-drive %s: ", s);
    g_assert_true(g_str_has_prefix(err->message, prefix));
    char *msg = g_strdup(err->message + strlen(prefix));
    g_free(prefix);
    g_free(s);
    g_error_free(err);
    return msg;
}

#define assert_drive_error(expected, ...)                               \
    do {                                                                \
        char *m_ = drive_error(__VA_ARGS__);                            \
        g_assert_cmpstr(m_, ==, expected);                              \
        g_free(m_);                                                     \
    } while (0)

/* ---- options ---- */

static void test_defaults(void)
{
    char *img = make_image(4096, false);
    BlockBackend *blk = drive("file=%s,format=raw", img);

    g_assert_cmpstr(blk_name(blk), ==, "ide0-hd0");
    g_assert_true(blk_find("ide0-hd0") == blk);
    g_assert_true(blk_by_index(IF_IDE, 0) == blk);
    g_assert_cmpint(blk_get_if(blk), ==, IF_IDE);
    g_assert_false(blk_is_read_only(blk));
    g_assert_true(blk_is_inserted(blk));
    g_assert_true(blk_enable_write_cache(blk));
    g_assert_false(blk_discard_enabled(blk));
    g_assert_null(blk_get_serial(blk));
    g_assert_cmpint(blk_getlength(blk), ==, 4096);
    g_assert_cmpuint(blk_get_request_alignment(blk), ==, 1);
    g_assert_cmpint(blk_get_on_error(blk, false), ==,
                    BLOCKDEV_ON_ERROR_ENOSPC);
    g_assert_cmpint(blk_get_on_error(blk, true), ==,
                    BLOCKDEV_ON_ERROR_REPORT);
    g_assert_cmpint(blk_get_error_action(blk, false, ENOSPC), ==,
                    BLOCK_ERROR_ACTION_STOP);
    g_assert_cmpint(blk_get_error_action(blk, false, EIO), ==,
                    BLOCK_ERROR_ACTION_REPORT);
    g_assert_cmpstr(blk_get_format(blk), ==, "raw");

    BlockBackend *ide1 = drive("file=%s,format=raw,if=ide,readonly=on,"
                               "file.locking=off", img);
    g_assert_cmpstr(blk_name(ide1), ==, "ide0-hd1");
    BlockBackend *cd = drive("if=ide,media=cdrom");
    g_assert_cmpstr(blk_name(cd), ==, "ide1-cd0");
    g_assert_false(blk_is_inserted(cd));
    g_assert_true(blk_is_read_only(cd));
    g_assert_cmpint(blk_getlength(cd), ==, -ENOMEDIUM);
    Res r = { 0 };
    char b[512];
    struct iovec v = { b, sizeof(b) };
    blk_aio_preadv(cd, 0, &v, 1, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, -ENOMEDIUM);

    blk_unref(cd);
    blk_unref(ide1);
    blk_unref(blk);
    g_assert_null(blk_find("ide0-hd0"));
    drop_image(img);
}

static void test_names_and_policies(void)
{
    char *a = make_image(4096, false);
    char *b = make_image(4096, false);
    BlockBackend *v0 = drive("file=%s,format=raw,if=virtio,serial=SN-1", a);
    BlockBackend *v1 = drive("file=%s,format=raw,if=virtio,werror=stop,"
                             "rerror=ignore,discard=unmap", b);
    BlockBackend *n = drive("if=none,id=disk0,werror=report,rerror=stop");

    g_assert_cmpstr(blk_name(v0), ==, "virtio0");
    g_assert_cmpstr(blk_name(v1), ==, "virtio1");
    g_assert_true(blk_by_index(IF_VIRTIO, 1) == v1);
    g_assert_null(blk_by_index(IF_VIRTIO, 2));
    g_assert_cmpstr(blk_get_serial(v0), ==, "SN-1");
    g_assert_true(blk_discard_enabled(v1));
    g_assert_cmpint(blk_get_error_action(v1, false, EIO), ==,
                    BLOCK_ERROR_ACTION_STOP);
    g_assert_cmpint(blk_get_error_action(v1, true, EIO), ==,
                    BLOCK_ERROR_ACTION_IGNORE);
    g_assert_true(blk_find("disk0") == n);
    g_assert_cmpint(blk_get_error_action(n, true, EIO), ==,
                    BLOCK_ERROR_ACTION_STOP);
    g_assert_cmpint(blk_get_error_action(n, false, ENOSPC), ==,
                    BLOCK_ERROR_ACTION_REPORT);
    g_assert_true(blk_next(NULL) == v0);
    g_assert_true(blk_next(v0) == v1);
    g_assert_true(blk_next(v1) == n);
    g_assert_null(blk_next(n));

    GError *err = NULL;
    g_assert_true(blk_attach_dev(n, "virtio-blk-pci", &err));
    g_assert_false(blk_attach_dev(n, "ide-hd", &err));
    g_assert_cmpstr(err->message, ==,
                    "Drive 'disk0' is already in use by virtio-blk-pci");
    g_clear_error(&err);

    assert_drive_error("Duplicate ID 'disk0' for drive", "if=none,id=disk0");
    assert_drive_error("drive with bus=0, unit=1 (index=1) exists",
                       "file=%s,format=raw,if=virtio,index=1", a);

    blk_unref(n);
    blk_unref(v1);
    blk_unref(v0);
    drop_image(a);
    drop_image(b);
}

static void test_cache_modes(void)
{
    char *img = make_image(65536, false);
    static const struct {
        const char *mode;
        bool wce, direct;
    } modes[] = {
        { "writeback", true, false },
        { "writethrough", false, false },
        { "none", true, true },
        { "directsync", false, true },
        { "unsafe", true, false },
    };
    bool direct_ok = odirect_works(img);

    for (unsigned i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (modes[i].direct && !direct_ok) {
            continue;
        }
        BlockBackend *blk = drive("file=%s,format=raw,if=none,id=c%u,"
                                  "cache=%s", img, i, modes[i].mode);
        g_assert_cmpint(blk_enable_write_cache(blk), ==, modes[i].wce);
        g_assert_cmpint(blk_get_request_alignment(blk) > 1, ==,
                        modes[i].direct);
        uint8_t buf[4096];
        memset(buf, 0x40 + i, sizeof(buf));
        struct iovec v = { buf, sizeof(buf) };
        Res r = { 0 };
        blk_aio_pwritev(blk, 4096 * i, &v, 1, res_cb, &r);
        g_assert_cmpint(wait_res(&r), ==, 0);
        r = (Res){ 0 };
        blk_aio_flush(blk, res_cb, &r);
        g_assert_cmpint(wait_res(&r), ==, 0);
        blk_unref(blk);
    }
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=cd,"
                              "cache=writeback,cache.writeback=off", img);
    g_assert_false(blk_enable_write_cache(blk));
    blk_set_enable_write_cache(blk, true);
    g_assert_true(blk_enable_write_cache(blk));
    blk_unref(blk);
    drop_image(img);
}

static void test_option_errors(void)
{
    char *img = make_image(4096, false);
    char *qcow = make_image(4096, false);
    char *missing = g_strdup_printf("%s.missing", img);
    char *msg;

    FILE *f = fopen(qcow, "r+");
    fwrite("QFI\xfb", 1, 4, f);
    fclose(f);

    assert_drive_error("Block format 'raw' does not support the option "
                       "'foo'", "file=%s,format=raw,foo=bar", img);
    assert_drive_error("Block format 'raw' does not support the option "
                       "'foo'", "file=%s,foo=bar", img);
    assert_drive_error("Block protocol 'file' does not support the option "
                       "'foo'", "file=%s,format=file,foo=bar", img);
    assert_drive_error("invalid cache option",
                       "file=%s,format=raw,cache=fast", img);
    assert_drive_error("invalid aio option",
                       "file=%s,format=raw,aio=posix", img);
#ifndef CONFIG_LINUX_IO_URING
    assert_drive_error("aio=io_uring was specified, but is not supported "
                       "in this build.", "file=%s,format=raw,aio=io_uring",
                       img);
#endif
    assert_drive_error("setting detect-zeroes to unmap is not allowed "
                       "without setting discard operation to unmap",
                       "file=%s,format=raw,detect-zeroes=unmap", img);
    assert_drive_error("invalid parameter value: maybe",
                       "file=%s,format=raw,detect-zeroes=maybe", img);
    assert_drive_error("unsupported bus type 'pci'",
                       "file=%s,format=raw,if=pci", img);
    assert_drive_error("if=scsi is not supported yet",
                       "file=%s,format=raw,if=scsi", img);
    assert_drive_error("Parameter 'readonly' expects 'on' or 'off'",
                       "file=%s,format=raw,readonly=maybe", img);
    assert_drive_error("Invalid discard option",
                       "file=%s,format=raw,discard=trim", img);
    assert_drive_error("'halt' invalid write error action",
                       "file=%s,format=raw,werror=halt", img);
    assert_drive_error("'enospc' invalid read error action",
                       "file=%s,format=raw,rerror=enospc", img);
    assert_drive_error("'tape' invalid media",
                       "file=%s,format=raw,media=tape", img);
    assert_drive_error("Unknown driver 'vmdk2'",
                       "file=%s,format=vmdk2", img);
    assert_drive_error("Parameter 'snapshot' expects 'on' or 'off'",
                       "file=%s,format=raw,snapshot=maybe", img);
    assert_drive_error("Device needs media, but drive is empty "
                       "(parameter 'file' is missing)", "if=virtio");
    assert_drive_error("Parameter 'locking' does not accept value 'x'",
                       "file=%s,format=raw,file.locking=x", img);

    msg = drive_error("file=%s,format=raw", missing);
    char *want = g_strdup_printf("Could not open '%s': No such file or "
                                 "directory", missing);
    g_assert_cmpstr(msg, ==, want);
    g_free(want);
    g_free(msg);

    /* probed as qcow2 (by its magic), which then refuses the header */
    msg = drive_error("file=%s", qcow);
    g_free(msg);

    assert_drive_error("aio=native was specified, but it requires "
                       "cache.direct=on, which was not specified.",
                       "file=%s,format=raw,aio=native", img);
    assert_drive_error("aio=native was specified, but it requires "
                       "cache.direct=on, which was not specified.",
                       "file=%s,format=raw,aio=native,cache=writethrough",
                       img);
    /* nothing failed half-registered */
    g_assert_null(blk_next(NULL));

    g_free(missing);
    drop_image(qcow);
    drop_image(img);
}

/* ---- I/O ---- */

/* Round trips through the asynchronous API for one -drive configuration. */
static void io_roundtrip(const char *extra)
{
    char *img = make_image(1 << 20, false);
    if (strstr(extra, "cache=none") && !odirect_works(img)) {
        g_test_skip("O_DIRECT is not supported on /var/tmp");
        drop_image(img);
        return;
    }
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=rt,"
                              "discard=unmap,%s", img, extra);
    size_t len = 3 * 4096;
    uint8_t *wbuf = g_malloc(len), *rbuf;
    Res r = { 0 };

    rbuf = aligned_buf(len);
    for (size_t i = 0; i < len; i++) {
        wbuf[i] = g_random_int();
    }
    /* uneven pieces, aligned in total */
    uint8_t *al;
    al = aligned_buf(len);
    memcpy(al, wbuf, len);
    struct iovec wv[3] = {
        { al, 4096 }, { al + 4096, 8192 - 4096 }, { al + 8192, 4096 },
    };
    blk_aio_pwritev(blk, 65536, wv, 3, res_cb, &r);
    g_assert_cmpint(r.calls, ==, 0);    /* never inside the call */
    g_assert_cmpuint(blk_in_flight(blk), ==, 1);
    g_assert_cmpint(wait_res(&r), ==, 0);
    g_assert_cmpuint(blk_in_flight(blk), ==, 0);

    r = (Res){ 0 };
    blk_aio_flush(blk, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);

    memset(rbuf, 0xaa, len);
    struct iovec rv[2] = { { rbuf, 4096 }, { rbuf + 4096, len - 4096 } };
    r = (Res){ 0 };
    blk_aio_preadv(blk, 65536, rv, 2, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    g_assert_cmpmem(rbuf, len, wbuf, len);

    /* the data is in the file */
    size_t flen;
    uint8_t *fdata = read_file(img, &flen);
    g_assert_cmpuint(flen, ==, 1 << 20);
    g_assert_cmpmem(fdata + 65536, len, wbuf, len);
    g_free(fdata);

    /* discard: reads back zeros on ext4/tmpfs */
    r = (Res){ 0 };
    blk_aio_pdiscard(blk, 65536, 4096, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    r = (Res){ 0 };
    blk_aio_preadv(blk, 65536, rv, 1, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    for (int i = 0; i < 4096; i++) {
        g_assert_cmpint(rbuf[i], ==, 0);
    }

    /* write zeroes, with and without unmap */
    for (int flags = 0; flags <= BLK_ZERO_MAY_UNMAP; flags++) {
        memcpy(al, wbuf, len);
        r = (Res){ 0 };
        blk_aio_pwritev(blk, 0, wv, 3, res_cb, &r);
        g_assert_cmpint(wait_res(&r), ==, 0);
        r = (Res){ 0 };
        blk_aio_pwrite_zeroes(blk, 4096, 8192, flags, res_cb, &r);
        g_assert_cmpint(wait_res(&r), ==, 0);
        r = (Res){ 0 };
        blk_aio_preadv(blk, 0, rv, 2, res_cb, &r);
        g_assert_cmpint(wait_res(&r), ==, 0);
        g_assert_cmpmem(rbuf, 4096, wbuf, 4096);
        for (int i = 4096; i < 12288; i++) {
            g_assert_cmpint(rbuf[i], ==, 0);
        }
    }

    /* beyond the end: -EIO, as QEMU's blk_check_byte_request */
    r = (Res){ 0 };
    blk_aio_preadv(blk, (1 << 20) - 4096, rv, 2, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, -EIO);

    /* synchronous API */
    g_assert_cmpint(blk_pwrite(blk, 8192, wbuf, 4096), ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    memset(rbuf, 0, 4096);
    g_assert_cmpint(blk_pread(blk, 8192, rbuf, 4096), ==, 0);
    g_assert_cmpmem(rbuf, 4096, wbuf, 4096);

    blk_unref(blk);
    free(al);
    free(rbuf);
    g_free(wbuf);
    drop_image(img);
}

static void test_io_threads(void)
{
    io_roundtrip("cache=writeback");
}

static void test_io_writethrough(void)
{
    io_roundtrip("cache=writethrough");
}

static void test_io_unsafe(void)
{
    io_roundtrip("cache=unsafe");
}

static void test_io_direct(void)
{
    io_roundtrip("cache=none");
}

static void test_io_directsync(void)
{
    io_roundtrip("cache=directsync");
}

static void test_io_native(void)
{
#ifdef CONFIG_LIBAIO
    io_roundtrip("cache=none,aio=native");
#else
    g_test_skip("built without libaio");
#endif
}

static void test_io_native_directsync(void)
{
#ifdef CONFIG_LIBAIO
    io_roundtrip("cache=directsync,aio=native");
#else
    g_test_skip("built without libaio");
#endif
}

/* Misaligned requests under O_DIRECT go through a bounce buffer. */
static void bounce(const char *extra)
{
    size_t size = 65536;
    char *img = make_image(size, true);
    if (!odirect_works(img)) {
        g_test_skip("O_DIRECT is not supported on /var/tmp");
        drop_image(img);
        return;
    }
    size_t flen;
    uint8_t *expect = read_file(img, &flen);
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=bounce,%s",
                              img, extra);
    uint32_t align = blk_get_request_alignment(blk);
    g_assert_cmpuint(align, >=, 512);

    /* misaligned offset, length and buffer: read */
    uint8_t *raw = g_malloc(8192 + 1);
    uint8_t *buf = raw + 1;
    struct iovec v[2] = { { buf, 700 }, { buf + 700, 333 } };
    Res r = { 0 };
    blk_aio_preadv(blk, 100, v, 2, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    g_assert_cmpmem(buf, 1033, expect + 100, 1033);

    /* aligned offsets with a misaligned buffer */
    r = (Res){ 0 };
    struct iovec v1 = { buf, 4096 };
    blk_aio_preadv(blk, 4096, &v1, 1, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    g_assert_cmpmem(buf, 4096, expect + 4096, 4096);

    /* many small misaligned writes sharing blocks, all at once */
    enum { N = 64, PIECE = 100 };
    Res res[N] = { { 0 } };
    uint8_t *data = g_malloc(N * PIECE);
    struct iovec wv[N];
    for (int i = 0; i < N; i++) {
        memset(data + i * PIECE, i + 1, PIECE);
        wv[i] = (struct iovec){ data + i * PIECE, PIECE };
        blk_aio_pwritev(blk, 1000 + i * PIECE, &wv[i], 1, res_cb, &res[i]);
        memset(expect + 1000 + i * PIECE, i + 1, PIECE);
    }
    blk_drain(blk);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(res[i].calls, ==, 1);
        g_assert_cmpint(res[i].ret, ==, 0);
    }
    /* misaligned write-zeroes */
    r = (Res){ 0 };
    blk_aio_pwrite_zeroes(blk, 20000, 3000, 0, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    memset(expect + 20000, 0, 3000);

    uint8_t *got = read_file(img, &flen);
    g_assert_cmpuint(flen, ==, size);
    g_assert_cmpmem(got, size, expect, size);
    g_free(got);

    /* a misaligned write at the end does not grow the file */
    char *img2 = make_image(1000, true);
    BlockBackend *b2 = drive("file=%s,format=raw,if=none,id=bounce2,%s",
                             img2, extra);
    g_assert_cmpint(blk_getlength(b2), ==, 1024);
    memset(buf, 0x5a, 10);
    g_assert_cmpint(blk_pwrite(b2, 990, buf, 10), ==, 0);
    struct stat st;
    g_assert_cmpint(stat(img2, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 1000);
    g_assert_cmpint(blk_pwrite(b2, 1010, buf, 10), ==, 0);
    g_assert_cmpint(stat(img2, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 1020);
    blk_unref(b2);
    drop_image(img2);

    blk_unref(blk);
    g_free(data);
    g_free(raw);
    g_free(expect);
    drop_image(img);
}

static void test_bounce_threads(void)
{
    bounce("cache=none");
}

static void test_bounce_native(void)
{
#ifdef CONFIG_LIBAIO
    bounce("cache=none,aio=native");
#else
    g_test_skip("built without libaio");
#endif
}

static void test_readonly(void)
{
    char *img = make_image(8192, true);
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=ro,"
                              "readonly=on,discard=unmap", img);
    uint8_t buf[512];
    struct iovec v = { buf, sizeof(buf) };
    Res r = { 0 };

    g_assert_true(blk_is_read_only(blk));
    blk_aio_pwritev(blk, 0, &v, 1, res_cb, &r);
    g_assert_cmpint(r.calls, ==, 0);
    g_assert_cmpint(wait_res(&r), ==, -EPERM);
    r = (Res){ 0 };
    blk_aio_pdiscard(blk, 0, 512, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, -EPERM);
    r = (Res){ 0 };
    blk_aio_pwrite_zeroes(blk, 0, 512, 0, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, -EPERM);
    r = (Res){ 0 };
    blk_aio_flush(blk, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    r = (Res){ 0 };
    blk_aio_preadv(blk, 0, &v, 1, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    g_assert_cmpint(buf[1], ==, 10);
    g_assert_cmpint(blk_pwrite(blk, 0, buf, 512), ==, -EPERM);
    blk_unref(blk);

    /* a file the user may not write opens read-only only */
    if (geteuid() != 0) {
        g_assert_cmpint(chmod(img, 0444), ==, 0);
        char *msg = drive_error("file=%s,format=raw,if=none,id=ro2", img);
        g_assert_nonnull(strstr(msg, "Permission denied"));
        g_free(msg);
    }
    drop_image(img);
}

static void test_probed_raw(void)
{
    char *img = make_image(8192, false);
    BlockBackend *blk = drive("file=%s,if=none,id=probed", img);
    uint8_t buf[512] = { 'Q', 'F', 'I', 0xfb };

    /* QEMU's restriction on block 0 of a probed raw image */
    g_assert_cmpint(blk_pwrite(blk, 0, buf, 512), ==, -EPERM);
    g_assert_cmpint(blk_pwrite(blk, 512, buf, 512), ==, 0);
    blk_unref(blk);
    blk = drive("file=%s,format=raw,if=none,id=explicit", img);
    g_assert_cmpint(blk_pwrite(blk, 0, buf, 512), ==, 0);
    blk_unref(blk);
    drop_image(img);
}

static void test_locking(void)
{
    char *img = make_image(8192, false);
    BlockBackend *w = drive("file=%s,format=raw,if=none,id=w1", img);
    char *msg, *want;

    msg = drive_error("file=%s,format=raw,if=none,id=w2", img);
    want = g_strdup_printf("Failed to get \"write\" lock: Is another "
                           "process using the image [%s]?", img);
    g_assert_cmpstr(msg, ==, want);
    g_free(want);
    g_free(msg);

    msg = drive_error("file=%s,format=raw,if=none,id=r1,readonly=on", img);
    want = g_strdup_printf("Failed to get shared \"write\" lock: Is another "
                           "process using the image [%s]?", img);
    g_assert_cmpstr(msg, ==, want);
    g_free(want);
    g_free(msg);

    BlockBackend *nolock = drive("file=%s,format=raw,if=none,id=w3,"
                                 "file.locking=off", img);
    blk_unref(nolock);
    blk_unref(w);

    /* readers share; a writer then waits for them */
    BlockBackend *r1 = drive("file=%s,format=raw,if=none,id=r1,readonly=on",
                             img);
    BlockBackend *r2 = drive("file=%s,format=raw,if=none,id=r2,readonly=on",
                             img);
    msg = drive_error("file=%s,format=raw,if=none,id=w4", img);
    g_assert_true(g_str_has_prefix(msg, "Failed to get \"write\" lock"));
    g_free(msg);
    blk_unref(r1);
    blk_unref(r2);
    w = drive("file=%s,format=raw,if=none,id=w5", img);
    blk_unref(w);
    drop_image(img);
}

/* A 1000-byte image is 1024 bytes long; the tail reads as zeros. */
static void eof(const char *extra)
{
    char *img = make_image(1000, true);
    if (strstr(extra, "cache=none") && !odirect_works(img)) {
        g_test_skip("O_DIRECT is not supported on /var/tmp");
        drop_image(img);
        return;
    }
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=eof,%s", img,
                              extra);
    uint8_t *buf;
    Res r = { 0 };

    buf = aligned_buf(4096);
    g_assert_cmpint(blk_getlength(blk), ==, 1024);
    memset(buf, 0xff, 1024);
    struct iovec v = { buf, 1024 };
    blk_aio_preadv(blk, 0, &v, 1, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    for (int i = 0; i < 1024; i++) {
        g_assert_cmpint(buf[i], ==, i < 1000 ? (uint8_t)(i * 7 + 3) : 0);
    }
    memset(buf, 0xff, 512);
    g_assert_cmpint(blk_pread(blk, 512, buf, 512), ==, 0);
    g_assert_cmpint(buf[487], ==, (uint8_t)(999 * 7 + 3));
    g_assert_cmpint(buf[488], ==, 0);
    g_assert_cmpint(buf[511], ==, 0);
    g_assert_cmpint(blk_pread(blk, 1024, buf, 512), ==, -EIO);
    blk_unref(blk);
    free(buf);
    drop_image(img);
}

static void test_eof_threads(void)
{
    eof("cache=writeback");
}

static void test_eof_direct(void)
{
    eof("cache=none");
}

static void test_eof_native(void)
{
#ifdef CONFIG_LIBAIO
    eof("cache=none,aio=native");
#else
    g_test_skip("built without libaio");
#endif
}

/* Many requests in flight at once; each completes exactly once. */
static void concurrent(const char *extra)
{
    enum { N = 512, BS = 4096 };
    char *img = make_image((size_t)N * BS, false);
    if (strstr(extra, "cache=none") && !odirect_works(img)) {
        g_test_skip("O_DIRECT is not supported on /var/tmp");
        drop_image(img);
        return;
    }
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=many,%s", img,
                              extra);
    uint8_t *buf;
    Res *res = g_new0(Res, N);
    struct iovec *iov = g_new(struct iovec, N);

    buf = aligned_buf((size_t)N * BS);
    for (int i = 0; i < N; i++) {
        memset(buf + (size_t)i * BS, i & 0xff, BS);
        *(uint32_t *)(buf + (size_t)i * BS) = i;
        iov[i] = (struct iovec){ buf + (size_t)i * BS, BS };
    }
    for (int i = 0; i < N; i++) {
        int k = (i * 37) % N;   /* out of order */
        blk_aio_pwritev(blk, (int64_t)k * BS, &iov[k], 1, res_cb, &res[k]);
    }
    g_assert_cmpuint(blk_in_flight(blk), ==, N);
    blk_drain(NULL);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(res[i].calls, ==, 1);
        g_assert_cmpint(res[i].ret, ==, 0);
        res[i] = (Res){ 0 };
    }
    memset(buf, 0, (size_t)N * BS);
    for (int i = 0; i < N; i++) {
        blk_aio_preadv(blk, (int64_t)i * BS, &iov[i], 1, res_cb, &res[i]);
    }
    blk_drain(blk);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(res[i].calls, ==, 1);
        g_assert_cmpint(res[i].ret, ==, 0);
        g_assert_cmpuint(*(uint32_t *)(buf + (size_t)i * BS), ==, i);
        g_assert_cmpint(buf[(size_t)i * BS + BS - 1], ==, i & 0xff);
    }
    /* nothing more arrives */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(res[i].calls, ==, 1);
    }
    blk_unref(blk);
    free(buf);
    g_free(res);
    g_free(iov);
    drop_image(img);
}

static void test_concurrent_threads(void)
{
    concurrent("cache=writeback");
}

static void test_concurrent_direct(void)
{
    concurrent("cache=none");
}

static void test_concurrent_native(void)
{
#ifdef CONFIG_LIBAIO
    concurrent("cache=none,aio=native");
#else
    g_test_skip("built without libaio");
#endif
}

/* ---- the generic layer ---- */

static bool qcow2_ready(void)
{
    return bdrv_qcow2.create != NULL && bdrv_qcow2.open != NULL;
}

static bool have_qemu_img(void)
{
    return g_file_test("/usr/bin/qemu-img", G_FILE_TEST_IS_EXECUTABLE);
}

/* Runs a command line; returns its stdout (g_free) or fails the test. */
static char *run(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *run(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL, *err = NULL;
    int status;

    va_start(ap, fmt);
    char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_error("%s: %s", cmd, err);
    }
    g_free(err);
    g_free(cmd);
    return out;
}

static char *tmp_path(const char *name)
{
    return g_strdup_printf("/var/tmp/vireo-test-block-%d-%s", getpid(),
                           name);
}

static void test_create_truncate_raw(void)
{
    char *path = tmp_path("create.raw");
    GError *err = NULL;
    struct stat st;
    Opts *opts;

    g_assert_true(bdrv_create("raw", path, 1 << 20, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 1 << 20);
    g_assert_cmpint(st.st_blocks, ==, 0);   /* sparse */

    opts = opts_parse("preallocation=full", NULL, &err);
    g_assert_true(bdrv_create("raw", path, 256 << 10, opts, &err));
    opts_free(opts);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 256 << 10);
    g_assert_cmpint(st.st_blocks * 512, >=, 256 << 10);

    opts = opts_parse("preallocation=falloc", NULL, &err);
    g_assert_true(bdrv_create("raw", path, 512 << 10, opts, &err));
    opts_free(opts);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 512 << 10);

    opts = opts_parse("preallocation=metadata", NULL, &err);
    g_assert_false(bdrv_create("raw", path, 4096, opts, &err));
    opts_free(opts);
    char *want = g_strdup_printf("%s: Unsupported preallocation mode: "
                                 "metadata", path);
    g_assert_cmpstr(err->message, ==, want);
    g_free(want);
    g_clear_error(&err);

    g_assert_false(bdrv_create("raw", "/nonexistent-dir/x.img", 4096, NULL,
                               &err));
    g_assert_cmpstr(err->message, ==, "/nonexistent-dir/x.img: Could not "
                    "create '/nonexistent-dir/x.img': No such file or "
                    "directory");
    g_clear_error(&err);
    g_assert_false(bdrv_create("vmdk9", path, 4096, NULL, &err));
    g_assert_true(g_str_has_suffix(err->message,
                                   "Unknown file format 'vmdk9'"));
    g_clear_error(&err);

    PreallocMode pm;
    g_assert_true(bdrv_parse_prealloc("falloc", &pm, NULL));
    g_assert_cmpint(pm, ==, PREALLOC_MODE_FALLOC);
    g_assert_false(bdrv_parse_prealloc("fast", &pm, NULL));

    /* truncate: grow, refuse to shrink without shrink, shrink */
    BlockOpenOptions o = { .format = "raw" };
    BlockDriverState *bs = bdrv_open(path, &o, &err);
    g_assert_no_error(err);
    g_assert_true(bdrv_truncate(bs, 1 << 20, false, PREALLOC_MODE_OFF,
                                &err));
    g_assert_cmpint(bdrv_getlength(bs), ==, 1 << 20);
    g_assert_false(bdrv_truncate(bs, 4096, false, PREALLOC_MODE_OFF, &err));
    g_clear_error(&err);
    g_assert_true(bdrv_truncate(bs, 4096, true, PREALLOC_MODE_OFF, &err));
    g_assert_cmpint(bdrv_getlength(bs), ==, 4096);
    g_assert_true(bdrv_truncate(bs, 64 << 10, false, PREALLOC_MODE_FULL,
                                &err));
    g_assert_cmpint(bdrv_getlength(bs), ==, 64 << 10);
    /* past the end reads zeros */
    uint8_t buf[512];
    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(bdrv_pread(bs, (64 << 10) - 256, buf, 512), ==, 0);
    for (int i = 0; i < 512; i++) {
        g_assert_cmpint(buf[i], ==, 0);
    }
    bdrv_unref(bs);

    o.read_only = true;
    bs = bdrv_open(path, &o, &err);
    g_assert_false(bdrv_truncate(bs, 1 << 20, false, PREALLOC_MODE_OFF,
                                 &err));
    g_assert_cmpstr(err->message, ==, "Image is read-only");
    g_clear_error(&err);
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 512), ==, -EPERM);
    bdrv_unref(bs);
    g_unlink(path);
    g_free(path);
}

static bool seek_hole_works(const char *path)
{
    int fd = open(path, O_RDONLY);
    off_t data = lseek(fd, 0, SEEK_DATA);
    close(fd);
    return data > 0;
}

static void test_block_status_sparse(void)
{
    char *path = tmp_path("sparse.raw");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t *data = g_malloc(64 << 10);
    memset(data, 0x5a, 64 << 10);
    g_assert_cmpint(ftruncate(fd, 4 << 20), ==, 0);
    g_assert_cmpint(pwrite(fd, data, 64 << 10, 1 << 20), ==, 64 << 10);
    fsync(fd);
    close(fd);
    if (!seek_hole_works(path)) {
        g_test_skip("no SEEK_DATA/SEEK_HOLE on /var/tmp");
        g_unlink(path);
        g_free(path);
        g_free(data);
        return;
    }
    BlockOpenOptions o = { .format = "raw" };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(path, &o, &err), *file;
    int64_t pnum, map;
    g_assert_no_error(err);

    int ret = bdrv_block_status(bs, 0, 4 << 20, &pnum, &map, &file);
    g_assert_cmpint(ret, ==, BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED |
                    BDRV_BLOCK_OFFSET_VALID);
    g_assert_cmpint(pnum, ==, 1 << 20);
    g_assert_true(file == bs->file);
    ret = bdrv_block_status(bs, 1 << 20, 3 << 20, &pnum, &map, &file);
    g_assert_cmpint(ret, ==, BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
                    BDRV_BLOCK_OFFSET_VALID);
    g_assert_cmpint(map, ==, 1 << 20);
    g_assert_cmpint(pnum, >=, 64 << 10);
    g_assert_cmpint(pnum, <, 3 << 20);
    ret = bdrv_block_status(bs, 2 << 20, 4 << 20, &pnum, &map, &file);
    g_assert_cmpint(ret & BDRV_BLOCK_ZERO, !=, 0);
    g_assert_cmpint(pnum, ==, 2 << 20);     /* clipped to the end */
    /* past the end */
    ret = bdrv_block_status(bs, 8 << 20, 4096, &pnum, NULL, NULL);
    g_assert_cmpint(ret, ==, BDRV_BLOCK_ZERO);
    /* a raw node with no backing allocates everything */
    g_assert_cmpint(bdrv_is_allocated_above(bs, NULL, 0, 4 << 20, &pnum),
                    ==, 1);
    bdrv_unref(bs);
    g_unlink(path);
    g_free(path);
    g_free(data);
}

static void test_probe(void)
{
    char *img = make_image(8192, true);
    BlockOpenOptions o = { .read_only = true };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(img, &o, &err);

    g_assert_no_error(err);
    g_assert_cmpstr(bs->drv->format_name, ==, "raw");
    g_assert_true(bs->probed);
    g_assert_nonnull(bs->node_name);
    g_assert_true(bs->node_name[0] == '#');
    g_assert_true(bdrv_find_node(bs->node_name) == bs);
    bdrv_unref(bs);

    o.format = "raw";
    bs = bdrv_open(img, &o, &err);
    g_assert_false(bs->probed);
    bdrv_unref(bs);

    o.format = "file";
    bs = bdrv_open(img, &o, &err);
    g_assert_true(bs->drv == &bdrv_file);
    g_assert_null(bs->file);
    bdrv_unref(bs);

    g_assert_true(bdrv_find_format("qcow2") == &bdrv_qcow2);
    g_assert_null(bdrv_find_format("vmdk"));

    if (have_qemu_img() && qcow2_ready()) {
        char *q = tmp_path("probe.qcow2");
        g_free(run("qemu-img create -f qcow2 %s 1M", q));
        o.format = NULL;
        bs = bdrv_open(q, &o, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(bs->drv->format_name, ==, "qcow2");
        g_assert_false(bs->probed);
        g_assert_cmpint(bdrv_getlength(bs), ==, 1 << 20);
        bdrv_unref(bs);
        g_unlink(q);
        g_free(q);
    }
    drop_image(img);
}

static void test_backing_path(void)
{
    BlockDriverState bs = { .filename = (char *)"/a/b/top.qcow2" };

    g_assert_null(bdrv_backing_path(&bs));
    bs.backing_file = (char *)"base.qcow2";
    char *p = bdrv_backing_path(&bs);
    g_assert_cmpstr(p, ==, "/a/b/base.qcow2");
    g_free(p);
    bs.backing_file = (char *)"/c/base.qcow2";
    p = bdrv_backing_path(&bs);
    g_assert_cmpstr(p, ==, "/c/base.qcow2");
    g_free(p);
    bs.filename = (char *)"top.qcow2";
    bs.backing_file = (char *)"../base.qcow2";
    p = bdrv_backing_path(&bs);
    g_assert_cmpstr(p, ==, "../base.qcow2");
    g_free(p);
}

/* raw base <- qcow2 mid <- qcow2 top, from qemu-img, relative names */
static void test_backing_chain(void)
{
    if (!have_qemu_img() || !qcow2_ready()) {
        g_test_skip("needs qemu-img and the qcow2 driver");
        return;
    }
    char *dir = g_dir_make_tmp("vireo-chain-XXXXXX", NULL);
    char *base = g_build_filename(dir, "base.raw", NULL);
    char *mid = g_build_filename(dir, "mid.qcow2", NULL);
    char *top = g_build_filename(dir, "top.qcow2", NULL);
    GError *err = NULL;

    g_free(run("qemu-img create -f raw %s 1M", base));
    g_free(run("qemu-io -f raw -c 'write -P 0x11 0 64k' %s", base));
    g_free(run("qemu-img create -f qcow2 -b base.raw -F raw %s", mid));
    g_free(run("qemu-io -f qcow2 -c 'write -P 0x22 64k 64k' %s", mid));
    g_free(run("qemu-img create -f qcow2 -b mid.qcow2 -F qcow2 %s", top));
    g_free(run("qemu-io -f qcow2 -c 'write -P 0x33 128k 64k' %s", top));

    BlockOpenOptions o = { 0 };
    BlockDriverState *bs = bdrv_open(top, &o, &err);
    g_assert_no_error(err);
    g_assert_nonnull(bs->backing);
    g_assert_nonnull(bs->backing->backing);
    g_assert_null(bs->backing->backing->backing);
    g_assert_true(bs->backing->read_only);
    g_assert_cmpstr(bs->backing->backing->drv->format_name, ==, "raw");
    g_assert_cmpint(bdrv_backing_depth(bs), ==, 2);
    uint8_t buf[3 * 65536];
    g_assert_cmpint(bdrv_pread(bs, 0, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x11);
    g_assert_cmpint(buf[65536], ==, 0x22);
    g_assert_cmpint(buf[131072], ==, 0x33);

    int64_t pnum;
    g_assert_cmpint(bdrv_is_allocated_above(bs, NULL, 0, 1 << 20, &pnum),
                    ==, 1);
    g_assert_cmpint(bdrv_is_allocated_above(bs, bs->backing->backing, 0,
                                            65536, &pnum), ==, 0);
    g_assert_cmpint(pnum, ==, 65536);
    g_assert_cmpint(bdrv_is_allocated_above(bs, bs->backing, 65536, 65536,
                                            &pnum), ==, 0);
    g_assert_cmpint(bdrv_is_allocated_above(bs, NULL, 65536, 65536, &pnum),
                    ==, 1);

    /* info against qemu-img's, chain included */
    json_t *mine = bdrv_query_image_info(bs, true);
    char *out = run("qemu-img info -U --output=json --backing-chain %s", top);
    json_t *theirs = json_loads(out, 0, NULL);
    g_assert_true(json_is_array(theirs));
    json_t *level = mine;
    size_t i;
    json_t *t;
    json_array_foreach(theirs, i, t) {
        const char *key;
        json_t *v;
        g_assert_nonnull(level);
        json_object_foreach(t, key, v) {
            if (!strcmp(key, "actual-size") || !strcmp(key, "dirty-flag")) {
                continue;
            }
            json_t *m = json_object_get(level, key);
            if (!m || !json_equal(m, v)) {
                g_error("%s: ours %s, qemu-img's %s", key,
                        m ? json_dumps(m, JSON_ENCODE_ANY) : "(none)",
                        json_dumps(v, JSON_ENCODE_ANY));
            }
        }
        level = json_object_get(level, "backing-image");
    }
    json_decref(theirs);
    json_decref(mine);
    g_free(out);
    bdrv_unref(bs);

    /* no_backing: the top alone */
    o.no_backing = true;
    bs = bdrv_open(top, &o, &err);
    g_assert_null(bs->backing);
    g_assert_cmpstr(bs->backing_file, ==, "mid.qcow2");
    bdrv_unref(bs);
    o.no_backing = false;

    /* a missing backing file */
    g_unlink(base);
    g_assert_null(bdrv_open(top, &o, &err));
    char *want = g_strdup_printf("Could not open backing file: Could not "
                                 "open '%s': No such file or directory",
                                 base);
    g_assert_cmpstr(err->message, ==, want);
    g_free(want);
    g_clear_error(&err);

    /* a loop: a -> b -> a */
    char *a = g_build_filename(dir, "a.qcow2", NULL);
    char *b = g_build_filename(dir, "b.qcow2", NULL);
    g_free(run("qemu-img create -f qcow2 -u -b b.qcow2 -F qcow2 %s 1M", a));
    g_free(run("qemu-img create -f qcow2 -u -b a.qcow2 -F qcow2 %s 1M", b));
    g_assert_null(bdrv_open(a, &o, &err));
    g_assert_nonnull(strstr(err->message, "infinite loop"));
    g_clear_error(&err);
    /* and itself */
    g_free(run("qemu-img create -f qcow2 -u -b a.qcow2 -F qcow2 %s 1M", a));
    g_assert_null(bdrv_open(a, &o, &err));
    g_assert_nonnull(strstr(err->message, "infinite loop"));
    g_clear_error(&err);
    g_unlink(a);
    g_unlink(b);
    g_free(a);
    g_free(b);

    /* too deep: 258 images */
    char *prev = NULL;
    char *first = NULL;
    for (int n = 0; n < 258; n++) {
        char *img = g_strdup_printf("%s/d%d.qcow2", dir, n);
        if (prev) {
            g_free(run("qemu-img create -f qcow2 -u -b %s -F qcow2 %s 64k",
                       prev, img));
        } else {
            g_free(run("qemu-img create -f qcow2 %s 64k", img));
        }
        g_free(prev);
        prev = img;
    }
    first = prev;
    g_assert_null(bdrv_open(first, &o, &err));
    g_assert_nonnull(strstr(err->message, "Backing file chain too deep"));
    g_clear_error(&err);
    g_free(first);
    g_free(run("rm -rf %s", dir));
    g_free(base);
    g_free(mid);
    g_free(top);
    g_free(dir);
}

/* image info of a raw image equals qemu-img's on the shared fields */
static void test_image_info(void)
{
    if (!have_qemu_img()) {
        g_test_skip("needs qemu-img");
        return;
    }
    const char *fmts[] = { "raw", "qcow2" };
    for (unsigned f = 0; f < G_N_ELEMENTS(fmts); f++) {
        if (!strcmp(fmts[f], "qcow2") && !qcow2_ready()) {
            continue;
        }
        char *path = tmp_path("info.img");
        g_free(run("qemu-img create -f %s %s 3M", fmts[f], path));
        if (!strcmp(fmts[f], "qcow2")) {
            g_free(run("qemu-img snapshot -c snap1 %s", path));
        }
        BlockOpenOptions o = { .format = fmts[f], .read_only = true };
        GError *err = NULL;
        BlockDriverState *bs = bdrv_open(path, &o, &err);
        g_assert_no_error(err);
        json_t *mine = bdrv_query_image_info(bs, false);
        char *out = run("qemu-img info -U --output=json %s", path);
        json_t *theirs = json_loads(out, 0, NULL);
        const char *key;
        json_t *v;
        json_object_foreach(theirs, key, v) {
            json_t *m = json_object_get(mine, key);
            if (!m || !json_equal(m, v)) {
                g_error("%s %s: ours %s, qemu-img's %s", fmts[f], key,
                        m ? json_dumps(m, JSON_ENCODE_ANY) : "(none)",
                        json_dumps(v, JSON_ENCODE_ANY));
            }
        }
        g_assert_cmpuint(json_object_size(mine), ==,
                         json_object_size(theirs));
        /* QEMU's key order, so the printed JSON diffs cleanly */
        char *a = json_dumps(mine, JSON_INDENT(4));
        char *b = json_dumps(theirs, JSON_INDENT(4));
        g_assert_cmpstr(a, ==, b);
        free(a);
        free(b);
        json_decref(mine);
        json_decref(theirs);
        g_free(out);
        bdrv_unref(bs);
        g_unlink(path);
        g_free(path);
    }
}

/* detect-zeroes=unmap punches holes for all-zero writes; off writes them */
static void test_detect_zeroes(void)
{
    static const char *const modes[] = { "off", "on", "unmap" };

    for (unsigned m = 0; m < G_N_ELEMENTS(modes); m++) {
        char *img = make_image(1 << 20, true);
        BlockBackend *blk = drive("file=%s,format=raw,if=none,id=dz%u,"
                                  "discard=unmap,detect-zeroes=%s", img, m,
                                  modes[m]);
        uint8_t *zeros = g_malloc0(256 << 10);
        struct iovec v = { zeros, 256 << 10 };
        Res r = { 0 };
        struct stat before, after;

        g_assert_cmpint(blk_get_detect_zeroes(blk), ==, m);
        g_assert_cmpint(stat(img, &before), ==, 0);
        blk_aio_pwritev(blk, 256 << 10, &v, 1, res_cb, &r);
        g_assert_cmpint(wait_res(&r), ==, 0);
        /* synchronous writes follow the same rule */
        g_assert_cmpint(blk_pwrite(blk, 0, zeros, 64 << 10), ==, 0);
        g_assert_cmpint(blk_flush(blk), ==, 0);
        g_assert_cmpint(stat(img, &after), ==, 0);
        if (m == BLOCK_DETECT_ZEROES_UNMAP) {
            g_assert_cmpint(after.st_blocks, <, before.st_blocks);
        } else if (m == BLOCK_DETECT_ZEROES_OFF) {
            g_assert_cmpint(after.st_blocks, ==, before.st_blocks);
        }
        size_t len;
        uint8_t *data = read_file(img, &len);
        for (size_t i = 256 << 10; i < 512 << 10; i++) {
            g_assert_cmpint(data[i], ==, 0);
        }
        g_assert_cmpint(data[(512 << 10) + 1], ==,
                        (uint8_t)(((512 << 10) + 1) * 7 + 3));
        g_free(data);
        /* accounted as a write either way */
        const BlockAcctStats *st = blk_get_stats(blk);
        g_assert_cmpuint(st->ops[BLOCK_ACCT_WRITE], ==, 1);
        g_assert_cmpuint(st->bytes[BLOCK_ACCT_WRITE], ==, 256 << 10);
        g_assert_cmpuint(st->wr_highest_offset, ==, 512 << 10);
        blk_unref(blk);
        g_free(zeros);
        drop_image(img);
    }
}

static void test_accounting(void)
{
    char *img = make_image(1 << 20, false);
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=acct", img);
    uint8_t buf[4096];
    struct iovec v = { buf, sizeof(buf) };
    Res r = { 0 };

    g_assert_cmpint(blk_get_stats(blk)->last_access_ns, ==, 0);
    blk_aio_preadv(blk, 0, &v, 1, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    r = (Res){ 0 };
    blk_aio_preadv(blk, 1 << 20, &v, 1, res_cb, &r);    /* out of range */
    g_assert_cmpint(wait_res(&r), ==, -EIO);
    r = (Res){ 0 };
    blk_aio_flush(blk, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    r = (Res){ 0 };
    blk_aio_pdiscard(blk, 0, 4096, res_cb, &r);
    g_assert_cmpint(wait_res(&r), ==, 0);
    const BlockAcctStats *st = blk_get_stats(blk);
    g_assert_cmpuint(st->ops[BLOCK_ACCT_READ], ==, 1);
    g_assert_cmpuint(st->bytes[BLOCK_ACCT_READ], ==, 4096);
    g_assert_cmpuint(st->invalid_ops[BLOCK_ACCT_READ], ==, 1);
    g_assert_cmpuint(st->ops[BLOCK_ACCT_FLUSH], ==, 1);
    g_assert_cmpuint(st->ops[BLOCK_ACCT_UNMAP], ==, 1);
    g_assert_cmpint(st->last_access_ns, >, 0);
    blk_unref(blk);
    drop_image(img);
}

static char *blockdev_error(const char *optstr)
{
    GError *err = NULL;
    g_assert_null(blockdev_add(optstr, &err));
    g_assert_nonnull(err);
    char *prefix = g_strdup_printf("-blockdev %s: ", optstr);
    g_assert_true(g_str_has_prefix(err->message, prefix));
    char *msg = g_strdup(err->message + strlen(prefix));
    g_free(prefix);
    g_error_free(err);
    return msg;
}

#define assert_blockdev_error(expected, ...)                            \
    do {                                                                \
        char *opt_ = g_strdup_printf(__VA_ARGS__);                      \
        char *msg_ = blockdev_error(opt_);                              \
        g_assert_cmpstr(msg_, ==, expected);                            \
        g_free(msg_);                                                   \
        g_free(opt_);                                                   \
    } while (0)

static void test_blockdev(void)
{
    char *img = make_image(1 << 20, true);
    GError *err = NULL;
    char *opt;

    /* the nested form */
    opt = g_strdup_printf("driver=raw,node-name=disk0,file.driver=file,"
                          "file.filename=%s,detect-zeroes=on", img);
    BlockDriverState *d0 = blockdev_add(opt, &err);
    g_free(opt);
    g_assert_no_error(err);
    g_assert_cmpstr(d0->node_name, ==, "disk0");
    g_assert_true(d0->file->drv == &bdrv_file);
    g_assert_true(d0->file->node_name[0] == '#');

    /* the two-step form, read-only */
    /* the same image twice in one process needs locking=off, as in QEMU */
    opt = g_strdup_printf("driver=file,node-name=f1,filename=%s,"
                          "read-only=on,locking=off", img);
    g_assert_nonnull(blockdev_add(opt, &err));
    g_free(opt);
    BlockDriverState *d1 = blockdev_add("driver=raw,node-name=d1,file=f1,"
                                        "read-only=on", &err);
    g_assert_no_error(err);
    g_assert_true(d1->file == bdrv_find_node("f1"));
    /* JSON */
    opt = g_strdup_printf("{\"driver\": \"file\", \"node-name\": \"f2\", "
                          "\"filename\": \"%s\", \"read-only\": true, "
                          "\"locking\": \"off\"}", img);
    g_assert_nonnull(blockdev_add(opt, &err));
    g_free(opt);
    g_assert_no_error(err);

    /* a device finds the node: one anonymous backend, claimed once */
    BlockBackend *blk = blk_find("disk0");
    g_assert_nonnull(blk);
    g_assert_true(blk_is_anonymous(blk));
    g_assert_cmpstr(blk_name(blk), ==, "");
    g_assert_true(blk_bs(blk) == d0);
    g_assert_cmpint(blk_getlength(blk), ==, 1 << 20);
    g_assert_cmpint(blk_get_detect_zeroes(blk), ==, BLOCK_DETECT_ZEROES_ON);
    g_assert_true(blk_find("disk0") == blk);
    g_assert_true(blk_attach_dev(blk, "vd0", &err));
    g_assert_false(blk_attach_dev(blk_find("disk0"), "vd1", &err));
    g_assert_cmpstr(err->message, ==,
                    "Drive 'disk0' is already in use by vd0");
    g_clear_error(&err);
    uint8_t buf[512];
    g_assert_cmpint(blk_pread(blk, 0, buf, 512), ==, 0);
    g_assert_cmpint(buf[1], ==, 10);
    BlockBackend *ro = blk_find("d1");
    g_assert_true(blk_is_read_only(ro));
    g_assert_cmpint(blk_pwrite(ro, 0, buf, 512), ==, -EPERM);
    g_assert_null(blk_find("nothing"));

    assert_blockdev_error("Parameter 'driver' is missing",
                          "node-name=x,filename=%s", img);
    assert_blockdev_error("Parameter 'driver' does not accept value "
                          "'vmdk9'", "driver=vmdk9,node-name=x");
    assert_blockdev_error("'node-name' must be specified for the root node",
                          "driver=file,filename=%s", img);
    assert_blockdev_error("Duplicate nodes with node-name='disk0'",
                          "driver=file,node-name=disk0,filename=%s", img);
    assert_blockdev_error("Parameter 'x' is unexpected",
                          "driver=file,node-name=n9,filename=%s,x=1", img);
    assert_blockdev_error("Parameter 'file.x' is unexpected",
                          "driver=raw,node-name=n9,file.driver=file,"
                          "file.filename=%s,file.x=1", img);
    assert_blockdev_error("Parameter 'filename' is missing",
                          "driver=file,node-name=n9");
    assert_blockdev_error("Parameter 'file.filename' is missing",
                          "driver=raw,node-name=n9,file.driver=file");
    assert_blockdev_error("A block device must be specified for \"file\"",
                          "driver=raw,node-name=n9");
    assert_blockdev_error("Cannot find device='nope' nor node-name='nope'",
                          "driver=raw,node-name=n9,file=nope");
    assert_blockdev_error("Parameter 'read-only' expects 'on' or 'off'",
                          "driver=file,node-name=n9,filename=%s,"
                          "read-only=maybe", img);
    assert_blockdev_error("Parameter 'aio' does not accept value 'posix'",
                          "driver=file,node-name=n9,filename=%s,aio=posix",
                          img);
    assert_blockdev_error("setting detect-zeroes to unmap is not allowed "
                          "without setting discard operation to unmap",
                          "driver=file,node-name=n9,filename=%s,"
                          "detect-zeroes=unmap", img);
    assert_blockdev_error("Block node is read-only",
                          "driver=raw,node-name=n9,file=f2");
    assert_blockdev_error("Invalid node-name: '1x'",
                          "driver=file,node-name=1x,filename=%s", img);
    assert_blockdev_error("Parameter 'backing' is unexpected",
                          "driver=raw,node-name=n9,file=f2,read-only=on,"
                          "backing=null");
    g_assert_null(bdrv_find_node("n9"));
#ifdef CONFIG_LINUX_IO_URING
    opt = g_strdup_printf("driver=file,node-name=u1,filename=%s,"
                          "aio=io_uring,locking=off", img);
    g_assert_nonnull(blockdev_add(opt, &err));
    g_assert_no_error(err);
    g_free(opt);
#endif

    blockdev_close_all();
    g_assert_null(bdrv_find_node("disk0"));
    g_assert_null(bdrv_find_node("f1"));
    g_assert_null(bdrv_next_node(NULL));
    g_assert_null(blk_next(NULL));
    drop_image(img);
}

/* qcow2 -blockdev with backing=null / backing=NODE */
static void test_blockdev_backing(void)
{
    if (!have_qemu_img() || !qcow2_ready()) {
        g_test_skip("needs qemu-img and the qcow2 driver");
        return;
    }
    char *base = tmp_path("bd-base.raw");
    char *other = tmp_path("bd-other.raw");
    char *top = tmp_path("bd-top.qcow2");
    GError *err = NULL;
    g_free(run("qemu-img create -f raw %s 1M", base));
    g_free(run("qemu-io -f raw -c 'write -P 0x44 0 4k' %s", base));
    g_free(run("qemu-img create -f raw %s 1M", other));
    g_free(run("qemu-io -f raw -c 'write -P 0x55 0 4k' %s", other));
    g_free(run("qemu-img create -f qcow2 -b %s -F raw %s", base, top));

    char *opt = g_strdup_printf("driver=qcow2,node-name=t0,file.driver=file,"
                                "file.filename=%s", top);
    BlockDriverState *t0 = blockdev_add(opt, &err);
    g_free(opt);
    g_assert_no_error(err);
    g_assert_nonnull(t0->backing);
    uint8_t buf[512];
    g_assert_cmpint(bdrv_pread(t0, 0, buf, 512), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x44);
    blockdev_close_all();

    opt = g_strdup_printf("driver=qcow2,node-name=t1,file.driver=file,"
                          "file.filename=%s,backing=null", top);
    BlockDriverState *t1 = blockdev_add(opt, &err);
    g_free(opt);
    g_assert_no_error(err);
    g_assert_null(t1->backing);
    g_assert_cmpint(bdrv_pread(t1, 0, buf, 512), ==, 0);
    g_assert_cmpint(buf[0], ==, 0);
    blockdev_close_all();

    opt = g_strdup_printf("driver=raw,node-name=o1,read-only=on,"
                          "file.driver=file,file.filename=%s", other);
    g_assert_nonnull(blockdev_add(opt, &err));
    g_free(opt);
    opt = g_strdup_printf("driver=qcow2,node-name=t2,file.driver=file,"
                          "file.filename=%s,backing=o1", top);
    BlockDriverState *t2 = blockdev_add(opt, &err);
    g_free(opt);
    g_assert_no_error(err);
    g_assert_true(t2->backing == bdrv_find_node("o1"));
    g_assert_cmpint(bdrv_pread(t2, 0, buf, 512), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x55);
    blockdev_close_all();
    g_unlink(base);
    g_unlink(other);
    g_unlink(top);
    g_free(base);
    g_free(other);
    g_free(top);
}

/* snapshot=on: writes land in a temporary overlay, never in the image */
static void test_snapshot(void)
{
    if (!qcow2_ready()) {
        g_test_skip("needs the qcow2 driver");
        return;
    }
    char *img = make_image(1 << 20, true);
    size_t len;
    uint8_t *before = read_file(img, &len);
    BlockBackend *blk = drive("file=%s,format=raw,if=none,id=snap,"
                              "snapshot=on", img);
    uint8_t buf[4096];

    g_assert_cmpstr(blk_get_format(blk), ==, "qcow2");
    g_assert_false(blk_is_read_only(blk));
    g_assert_cmpint(blk_getlength(blk), ==, 1 << 20);
    memset(buf, 0xee, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, 8192, buf, sizeof(buf)), ==, 0);
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(blk_pread(blk, 8192, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(buf[0], ==, 0xee);
    g_assert_cmpint(blk_pread(blk, 0, buf, 16), ==, 0);
    g_assert_cmpint(buf[1], ==, 10);
    /* the overlay's file is gone already */
    g_assert_false(g_file_test(blk_get_filename(blk), G_FILE_TEST_EXISTS));
    blk_unref(blk);
    uint8_t *after = read_file(img, &len);
    g_assert_cmpmem(before, len, after, len);
    g_free(before);
    g_free(after);

    /* -snapshot: the default for every drive */
    blk_set_snapshot_default(true);
    blk = drive("file=%s,format=raw,if=none,id=snap2", img);
    g_assert_cmpstr(blk_get_format(blk), ==, "qcow2");
    blk_unref(blk);
    blk = drive("file=%s,format=raw,if=none,id=snap3,snapshot=off", img);
    g_assert_cmpstr(blk_get_format(blk), ==, "raw");
    blk_unref(blk);
    blk_set_snapshot_default(false);
    drop_image(img);
}

static void test_io_uring(void)
{
#ifdef CONFIG_LINUX_IO_URING
    io_roundtrip("cache=writeback,aio=io_uring");
    io_roundtrip("cache=none,aio=io_uring");
#else
    g_test_skip("built without liburing");
#endif
}

static void test_eof_uring(void)
{
#ifdef CONFIG_LINUX_IO_URING
    eof("cache=writethrough,aio=io_uring");
#else
    g_test_skip("built without liburing");
#endif
}

static void test_concurrent_uring(void)
{
#ifdef CONFIG_LINUX_IO_URING
    concurrent("cache=writeback,aio=io_uring");
    concurrent("cache=none,aio=io_uring");
#else
    g_test_skip("built without liburing");
#endif
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bql_lock();
    g_test_add_func("/block/drive/defaults", test_defaults);
    g_test_add_func("/block/drive/names-policies", test_names_and_policies);
    g_test_add_func("/block/drive/cache-modes", test_cache_modes);
    g_test_add_func("/block/drive/errors", test_option_errors);
    g_test_add_func("/block/io/threads", test_io_threads);
    g_test_add_func("/block/io/writethrough", test_io_writethrough);
    g_test_add_func("/block/io/unsafe", test_io_unsafe);
    g_test_add_func("/block/io/direct", test_io_direct);
    g_test_add_func("/block/io/directsync", test_io_directsync);
    g_test_add_func("/block/io/native", test_io_native);
    g_test_add_func("/block/io/native-directsync",
                    test_io_native_directsync);
    g_test_add_func("/block/bounce/threads", test_bounce_threads);
    g_test_add_func("/block/bounce/native", test_bounce_native);
    g_test_add_func("/block/readonly", test_readonly);
    g_test_add_func("/block/probed-raw", test_probed_raw);
    g_test_add_func("/block/locking", test_locking);
    g_test_add_func("/block/eof/threads", test_eof_threads);
    g_test_add_func("/block/eof/direct", test_eof_direct);
    g_test_add_func("/block/eof/native", test_eof_native);
    g_test_add_func("/block/concurrent/threads", test_concurrent_threads);
    g_test_add_func("/block/concurrent/direct", test_concurrent_direct);
    g_test_add_func("/block/concurrent/native", test_concurrent_native);
    g_test_add_func("/block/io/io_uring", test_io_uring);
    g_test_add_func("/block/eof/io_uring", test_eof_uring);
    g_test_add_func("/block/concurrent/io_uring", test_concurrent_uring);
    g_test_add_func("/block/generic/create-truncate-raw",
                    test_create_truncate_raw);
    g_test_add_func("/block/generic/block-status-sparse",
                    test_block_status_sparse);
    g_test_add_func("/block/generic/probe", test_probe);
    g_test_add_func("/block/generic/backing-path", test_backing_path);
    g_test_add_func("/block/generic/backing-chain", test_backing_chain);
    g_test_add_func("/block/generic/image-info", test_image_info);
    g_test_add_func("/block/detect-zeroes", test_detect_zeroes);
    g_test_add_func("/block/accounting", test_accounting);
    g_test_add_func("/block/blockdev", test_blockdev);
    g_test_add_func("/block/blockdev-backing", test_blockdev_backing);
    g_test_add_func("/block/snapshot", test_snapshot);
    return g_test_run();
}
