/*
 * The block layer's first floor: -drive parsing and its errors, the
 * registry, asynchronous I/O through the thread pool and Linux AIO with
 * completions on the default main context, cache modes, O_DIRECT bounce
 * buffers, read-only drives, image locking and zero-fill at EOF.
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
    assert_drive_error("aio=io_uring is not supported yet",
                       "file=%s,format=raw,aio=io_uring", img);
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
    assert_drive_error("Block format 'qcow2' is not supported yet",
                       "file=%s,format=qcow2", img);
    assert_drive_error("parameter 'snapshot' is not supported yet",
                       "file=%s,format=raw,snapshot=on", img);
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

    msg = drive_error("file=%s", qcow);
    want = g_strdup_printf("Could not open '%s': image format 'qcow2' "
                           "(probed) is not supported yet", qcow);
    g_assert_cmpstr(msg, ==, want);
    g_free(want);
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
    return g_test_run();
}
