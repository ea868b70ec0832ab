/*
 * vireo-img convert: copies one or more images into a new (or existing)
 * image, skipping holes the sources' block status reports and runs of
 * zeros found while copying, optionally compressing qcow2 clusters. The
 * source is read on the main thread; the target is written by a writer
 * thread (or, with -c, by -m compressing workers).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

#define MAX_SPARSE (16 * 1024 * 1024)

typedef struct Convert {
    BlockDriverState *dst;
    bool zero_init;         /* the target reads as zeros where unwritten */
    bool target_backing;    /* -B: unallocated source areas stay unwritten */
    bool compress;
    int64_t cluster_size;   /* of the target, for -c */
    int64_t min_sparse;     /* -S: zero runs at least this long are holes */
    int64_t total, done;
    ImgProgress progress;
    /* the writer thread (see convert_writer) */
    GAsyncQueue *free_bufs;     /* IMG_BUF_SIZE buffers the reader may fill */
    GAsyncQueue *jobs;          /* CopyJobs for the writer, in order */
    GThread *writer;
    int error;                  /* the writer's first -errno, atomically */
} Convert;

/* Buffers between reader and writer: one being read, one being written,
 * and one spare so neither waits for the other on a short hiccup. */
#define COPY_BUFS 3

/*
 * A piece of target to write: len bytes of buf (NULL: zeros) at doff. A
 * job with len 0 ends the writer.
 */
typedef struct CopyJob {
    int64_t doff, len;
    uint8_t *buf;
} CopyJob;

static void convert_advance(Convert *s, int64_t bytes)
{
    s->done += bytes;
    img_progress_update(&s->progress, s->total ? (double)s->done / s->total
                                               : 1.0);
}

/* A region the target must read as zeros. */
static int convert_zeroes(Convert *s, int64_t doff, int64_t bytes)
{
    if (s->zero_init || !bytes) {
        return 0;
    }
    return bdrv_pwrite_zeroes(s->dst, doff, bytes, BLK_ZERO_MAY_UNMAP);
}

/*
 * Writes len bytes of buf at doff, leaving out runs of zeros of at least
 * min_sparse bytes (aligned to it in the target), as qemu-img -S does.
 */
static int convert_write_sparse(Convert *s, const uint8_t *buf, int64_t doff,
                                int64_t len)
{
    int64_t unit = s->min_sparse, pos = 0;
    int ret;

    if (!unit) {
        return bdrv_pwrite(s->dst, doff, buf, len);
    }
    while (pos < len) {
        /* the next unit boundary of the target */
        int64_t n = MIN(len - pos, unit - (doff + pos) % unit);
        bool zero = n == unit && img_buffer_is_zero(buf + pos, n);
        int64_t start = pos;
        pos += n;
        /* extend the run with units of the same kind */
        while (pos < len) {
            int64_t m = MIN(len - pos, unit);
            bool z = m == unit && img_buffer_is_zero(buf + pos, m);
            if (z != zero) {
                break;
            }
            pos += m;
        }
        if (zero) {
            ret = convert_zeroes(s, doff + start, pos - start);
        } else {
            ret = bdrv_pwrite(s->dst, doff + start, buf + start, pos - start);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static void convert_job_run(Convert *s, CopyJob *j)
{
    int ret = 0;

    if (!g_atomic_int_get(&s->error)) {
        ret = j->buf ? convert_write_sparse(s, j->buf, j->doff, j->len)
                     : convert_zeroes(s, j->doff, j->len);
    }
    if (ret < 0) {
        img_error("error while writing at byte %" PRId64 ": %s", j->doff,
                  g_strerror(-ret));
        g_atomic_int_set(&s->error, ret);
    }
    if (j->buf) {
        g_async_queue_push(s->free_bufs, j->buf);
    }
}

/*
 * The target is written by a thread of its own, in order, while the main
 * thread reads the next chunk of the source: on two cores the copy out of
 * the source's page cache and the copy into the target's overlap. Errors
 * are reported here and stop the reader at its next chunk.
 */
static gpointer convert_writer(gpointer opaque)
{
    Convert *s = opaque;

    for (;;) {
        CopyJob *j = g_async_queue_pop(s->jobs);
        bool end = j->len == 0;
        if (!end) {
            convert_job_run(s, j);
        }
        g_free(j);
        if (end) {
            return NULL;
        }
    }
}

static void convert_queue(Convert *s, int64_t doff, int64_t len,
                          uint8_t *buf)
{
    CopyJob j = { doff, len, buf };

    if (!s->writer) {
        convert_job_run(s, &j);     /* -m 1: no writer thread */
        return;
    }
    g_async_queue_push(s->jobs, g_memdup2(&j, sizeof(j)));
}

static void convert_writer_start(Convert *s, int workers)
{
    s->free_bufs = g_async_queue_new();
    s->jobs = g_async_queue_new();
    for (int i = 0; i < COPY_BUFS; i++) {
        g_async_queue_push(s->free_bufs, img_buf_alloc(IMG_BUF_SIZE));
    }
    if (workers > 1) {
        s->writer = g_thread_new("convert-writer", convert_writer, s);
    }
}

/* Waits for the writes queued so far; the writer's error or 0. */
static int convert_writer_stop(Convert *s)
{
    if (s->writer) {
        convert_queue(s, 0, 0, NULL);
        g_thread_join(s->writer);
    }
    for (int i = 0; i < COPY_BUFS; i++) {
        free(g_async_queue_pop(s->free_bufs));
    }
    g_async_queue_unref(s->free_bufs);
    g_async_queue_unref(s->jobs);
    return g_atomic_int_get(&s->error);
}

static int convert_data(Convert *s, BlockDriverState *src, int64_t off,
                        int64_t doff, int64_t bytes)
{
    while (bytes > 0) {
        int64_t n = MIN(bytes, IMG_BUF_SIZE - doff % IMG_BUF_SIZE);
        uint8_t *buf = g_async_queue_pop(s->free_bufs);
        int ret = g_atomic_int_get(&s->error);
        if (ret < 0) {
            g_async_queue_push(s->free_bufs, buf);
            return ret;
        }
        ret = bdrv_pread(src, off, buf, n);
        if (ret < 0) {
            g_async_queue_push(s->free_bufs, buf);
            img_error("error while reading at byte %" PRId64 ": %s", off,
                      g_strerror(-ret));
            return ret;
        }
        convert_queue(s, doff, n, buf);
        convert_advance(s, n);
        off += n;
        doff += n;
        bytes -= n;
    }
    return 0;
}

/* The status of a source area, with -B's "leave to the backing file". */
enum { AREA_DATA, AREA_ZERO, AREA_BACKING };

static int convert_area(Convert *s, BlockDriverState *src, int64_t off,
                        int64_t bytes, int64_t *pnum)
{
    int64_t map;
    int depth;
    BlockDriverState *file;
    int ret = img_chain_status(src, s->target_backing ? src->backing : NULL,
                               off, bytes, pnum, &depth, &map, &file);
    if (ret < 0) {
        return ret;
    }
    if (ret & BDRV_BLOCK_ZERO) {
        return AREA_ZERO;
    }
    if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) {
        return AREA_DATA;
    }
    return s->target_backing && src->backing ? AREA_BACKING : AREA_ZERO;
}

static int convert_source(Convert *s, BlockDriverState *src, int64_t doff0)
{
    int64_t len = bdrv_getlength(src), pnum;

    for (int64_t off = 0; off < len; off += pnum) {
        int kind = convert_area(s, src, off, len - off, &pnum);
        int ret = 0;
        if (kind < 0) {
            img_error("error while reading block status at offset %" PRId64
                      ": %s", off, g_strerror(-kind));
            return kind;
        }
        if (kind == AREA_DATA) {
            ret = convert_data(s, src, off, doff0 + off, pnum);
        } else {
            if (kind == AREA_ZERO && !s->zero_init) {
                convert_queue(s, doff0 + off, pnum, NULL);
            }
            ret = g_atomic_int_get(&s->error);
            convert_advance(s, pnum);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Reads the concatenated sources at a target offset (for -c). */
static int read_sources(BlockDriverState **srcs, int64_t *lens, int n,
                        int64_t off, uint8_t *buf, int64_t bytes)
{
    int64_t base = 0;
    for (int i = 0; i < n && bytes > 0; base += lens[i++]) {
        if (off >= base + lens[i]) {
            continue;
        }
        int64_t m = MIN(bytes, base + lens[i] - off);
        int ret = bdrv_pread(srcs[i], off - base, buf, m);
        if (ret < 0) {
            return ret;
        }
        buf += m;
        off += m;
        bytes -= m;
    }
    if (bytes > 0) {
        memset(buf, 0, (size_t)bytes);
    }
    return 0;
}

/* True when every source reads [off, off + bytes) as zeros (for -c). */
static bool sources_zero(BlockDriverState **srcs, int64_t *lens, int n,
                         int64_t off, int64_t bytes, int64_t *pnum)
{
    int64_t base = 0;
    for (int i = 0; i < n; base += lens[i++]) {
        if (off >= base + lens[i]) {
            continue;
        }
        int64_t p, map;
        int depth;
        BlockDriverState *file;
        int ret = img_chain_status(srcs[i], NULL, off - base,
                                   MIN(bytes, base + lens[i] - off), &p,
                                   &depth, &map, &file);
        *pnum = p;
        return ret >= 0 && (ret & BDRV_BLOCK_ZERO);
    }
    *pnum = bytes;
    return true;
}

/*
 * -c: whole target clusters, each stored compressed unless it is all
 * zeros (which a fresh qcow2 target already reads as). The main thread
 * reads chunks; worker threads hand their clusters to the driver, which
 * can compress several at once (-m of them, as qemu-img's coroutines).
 */
typedef struct CompressJob {
    Convert *s;
    uint8_t *buf;
    int64_t off, bytes;
} CompressJob;

typedef struct CompressPool {
    GAsyncQueue *free_bufs;
    GThreadPool *pool;
    int error;                  /* the first -errno, atomically */
    int64_t error_off;
} CompressPool;

static void compress_job_run(gpointer data, gpointer user_data)
{
    CompressJob *j = data;
    CompressPool *cp = user_data;
    int64_t cs = j->s->cluster_size;

    /* each run of clusters that are not all zeros in one request, which
     * the driver keeps together in the file */
    for (int64_t c = 0; c < j->bytes && !g_atomic_int_get(&cp->error);) {
        int64_t m = MIN(cs, j->bytes - c);
        if (img_buffer_is_zero(j->buf + c, m)) {
            c += m;
            continue;
        }
        int64_t run = m;
        while (c + run < j->bytes) {
            int64_t next = MIN(cs, j->bytes - c - run);
            if (img_buffer_is_zero(j->buf + c + run, next)) {
                break;
            }
            run += next;
        }
        struct iovec iov = { j->buf + c, run };
        BlockRequest req = {
            .op = BLK_OP_WRITE,
            .flags = BLK_REQ_WRITE_COMPRESSED,
            .offset = j->off + c,
            .bytes = run,
            .iov = &iov,
            .iovcnt = 1,
        };
        int ret = bdrv_run_sync(j->s->dst, &req);
        if (ret < 0 && g_atomic_int_compare_and_exchange(&cp->error, 0,
                                                         ret)) {
            cp->error_off = j->off + c;
        }
        c += run;
    }
    g_async_queue_push(cp->free_bufs, j->buf);
    g_free(j);
}

static int convert_compressed(Convert *s, BlockDriverState **srcs,
                              int64_t *lens, int n, int workers)
{
    int64_t cs = s->cluster_size;
    int64_t chunk = MAX(cs, IMG_BUF_SIZE / cs * cs);
    int nbufs = workers + 1;
    CompressPool cp = { .free_bufs = g_async_queue_new() };
    int ret = 0;

    for (int i = 0; i < nbufs; i++) {
        g_async_queue_push(cp.free_bufs, img_buf_alloc(chunk));
    }
    cp.pool = g_thread_pool_new(compress_job_run, &cp, workers, false, NULL);

    for (int64_t off = 0; off < s->total && !g_atomic_int_get(&cp.error);) {
        int64_t pnum;
        if (sources_zero(srcs, lens, n, off, s->total - off, &pnum) &&
            pnum >= cs) {
            /* skip whole zero clusters only */
            int64_t end = off + pnum >= s->total ? s->total
                                                 : (off + pnum) / cs * cs;
            convert_advance(s, end - off);
            off = end;
            continue;
        }
        int64_t bytes = MIN(chunk, s->total - off);
        uint8_t *buf = g_async_queue_pop(cp.free_bufs);
        ret = read_sources(srcs, lens, n, off, buf, bytes);
        if (ret < 0) {
            g_async_queue_push(cp.free_bufs, buf);
            img_error("error while reading at byte %" PRId64 ": %s", off,
                      g_strerror(-ret));
            break;
        }
        CompressJob *j = g_new(CompressJob, 1);
        *j = (CompressJob){ s, buf, off, bytes };
        g_thread_pool_push(cp.pool, j, NULL);
        convert_advance(s, bytes);
        off += bytes;
    }
    g_thread_pool_free(cp.pool, false, true);   /* waits for the jobs */
    if (ret == 0 && cp.error) {
        ret = cp.error;
        img_error("error while compressing sector %" PRId64 ": %s",
                  cp.error_off / 512, g_strerror(-ret));
    }
    for (int i = 0; i < nbufs; i++) {
        free(g_async_queue_pop(cp.free_bufs));
    }
    g_async_queue_unref(cp.free_bufs);
    return ret;
}

/*
 * The target, as qemu-img opens it: with -t unsafe (its default) every
 * flush is skipped, also the ordering flushes the qcow2 driver does while
 * allocating; a crash during convert leaves a target nobody relies on.
 */
static BlockDriverState *open_target(const char *filename, const char *fmt,
                                     bool backing, bool no_flush)
{
    BlockOpenOptions o = {
        .format = fmt,
        .no_backing = !backing,
        .no_flush = no_flush,
    };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(filename, &o, &err);

    if (!bs) {
        img_report(err);
    }
    return bs;
}

int img_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "target-is-zero", no_argument, NULL, 'Z' },
        { NULL },
    };
    const char *fmt = NULL, *out_fmt = "raw", *base = NULL, *base_fmt = NULL;
    char *optstr = NULL;
    bool compress = false, progress = false, no_create = false;
    bool target_is_zero = false;
    /* qemu-img convert writes with cache=unsafe unless -t says otherwise */
    bool flush = false;
    int workers = 8;
    int64_t min_sparse = 4096;
    int flags = 0, c, ret = 1;

    while ((c = getopt_long(argc, argv, ":hf:O:B:F:co:l:S:pt:T:qnm:WUr:C",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'B': base = optarg; break;
        case 'F': base_fmt = optarg; break;
        case 'c': compress = true; break;
        case 'p': progress = true; break;
        case 'q': progress = false; break;
        case 'n': no_create = true; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 'Z': target_is_zero = true; break;
        case 't':
            if (strcmp(optarg, "unsafe") && strcmp(optarg, "writeback") &&
                strcmp(optarg, "writethrough") && strcmp(optarg, "none") &&
                strcmp(optarg, "directsync") && strcmp(optarg, "off")) {
                g_free(optstr);
                img_error("Invalid cache option: %s", optarg);
                return 1;
            }
            flush = strcmp(optarg, "unsafe") != 0;
            break;
        case 'T':
        case 'W':
        case 'C':
            break;  /* cache modes, write order, copy offloading: hints */
        case 'r':
            break;  /* rate limit: a copy here is never throttled */
        case 'o': {
            char *j = optstr ? g_strdup_printf("%s,%s", optstr, optarg)
                             : g_strdup(optarg);
            g_free(optstr);
            optstr = j;
            break;
        }
        case 'l':
            g_free(optstr);
            return img_usage_error("-l (snapshots) is not supported");
        case 'S':
            if (!img_parse_size(optarg, &min_sparse) ||
                min_sparse % 512 || min_sparse > MAX_SPARSE) {
                g_free(optstr);
                img_error("Invalid buffer size for sparse output specified. "
                          "Valid sizes are multiples of 512 up to %d. Select "
                          "0 to disable sparse detection (fully allocates "
                          "output).", MAX_SPARSE);
                return 1;
            }
            break;
        case 'm': {
            uint64_t m;
            if (!parse_uint(optarg, &m, NULL) || m < 1 || m > 16) {
                g_free(optstr);
                img_error("Invalid number of coroutines. Allowed number of "
                          "coroutines is between 1 and 16");
                return 1;
            }
            workers = m;
            break;
        }
        case 'h':
            printf("usage: " IMG_PROG " convert [-c] [-p] [-q] [-n] [-f fmt] "
                   "[-O output_fmt] [-B backing_file [-F backing_fmt]] [-o "
                   "options] [-S sparse_size] [-m num] [-W] [-U] filename "
                   "[filename2 [...]] output_filename\n");
            return 0;
        default:
            g_free(optstr);
            return img_bad_option(argv, c);
        }
    }

    int nsrc = argc - optind - 1;
    BlockDriverState **srcs = NULL;
    int64_t *lens = NULL;
    Opts *opts = NULL;
    Convert s = { .min_sparse = min_sparse, .compress = compress };
    GError *err = NULL;

    if (optstr && (!strcmp(optstr, "help") || !strcmp(optstr, "?"))) {
        ret = img_print_create_help(out_fmt) ? 0 : 1;
        goto out;
    }
    if (nsrc < 1) {
        img_usage_error("Expecting image file name");
        goto out;
    }
    const char *dst_name = argv[argc - 1];
    if (!bdrv_find_format(out_fmt) ||
        (strcmp(out_fmt, "raw") && strcmp(out_fmt, "qcow2"))) {
        img_error("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (compress && strcmp(out_fmt, "qcow2")) {
        img_error("Compression not supported for this file format");
        goto out;
    }
    if (base && strcmp(out_fmt, "qcow2")) {
        img_error("Backing file not supported for file format '%s'",
                  out_fmt);
        goto out;
    }
    if (base && no_create) {
        img_error("Cannot use -B and -n together");
        goto out;
    }

    srcs = g_new0(BlockDriverState *, nsrc);
    lens = g_new0(int64_t, nsrc);
    for (int i = 0; i < nsrc; i++) {
        srcs[i] = img_open(argv[optind + i], fmt, flags);
        if (!srcs[i]) {
            goto out;
        }
        lens[i] = bdrv_getlength(srcs[i]);
        if (lens[i] < 0) {
            img_error("Could not get size of %s: %s", argv[optind + i],
                      g_strerror(-lens[i]));
            goto out;
        }
        s.total += lens[i];
    }
    if (base && nsrc > 1) {
        img_error("Having a backing file for the target makes no sense when "
                  "concatenating multiple input images");
        goto out;
    }

    if (!no_create) {
        opts = img_parse_create_opts(optstr);
        if (!opts) {
            goto out;
        }
        if (base) {
            img_opts_set(opts, "backing_file", base);
            img_opts_set(opts, "backing_fmt",
                         base_fmt ? base_fmt : srcs[0]->backing_format
                                               ? srcs[0]->backing_format
                                               : "qcow2");
        }
        if (!img_check_create_opts(out_fmt, opts, &err)) {
            img_report(err);
            goto out;
        }
        opts_get(opts, "nocow");
        opts_get(opts, "extent_size_hint");
        if (!bdrv_create(out_fmt, dst_name, s.total, opts, &err)) {
            img_report(err);
            goto out;
        }
    }
    s.dst = open_target(dst_name, out_fmt, base != NULL, !flush);
    if (!s.dst) {
        goto out;
    }
    if (no_create && bdrv_getlength(s.dst) < s.total) {
        img_error("Target is smaller than the source (%" PRId64 " < %" PRId64
                  " bytes)", bdrv_getlength(s.dst), s.total);
        goto out;
    }
    s.target_backing = base != NULL;
    /* a fresh image without a backing file reads as zeros */
    s.zero_init = target_is_zero || (!no_create && !base);
    if (compress) {
        s.cluster_size = img_cluster_size(s.dst);
        if (s.cluster_size <= 0 || s.cluster_size > IMG_BUF_SIZE) {
            img_error("Compression not supported for this file format");
            goto out;
        }
    }

    img_progress_init(&s.progress, progress);
    int r = 0;
    if (compress) {
        r = convert_compressed(&s, srcs, lens, nsrc, workers);
    } else {
        int64_t doff = 0;
        convert_writer_start(&s, workers);
        for (int i = 0; i < nsrc && r == 0; i++) {
            r = convert_source(&s, srcs[i], doff);
            doff += lens[i];
        }
        int w = convert_writer_stop(&s);
        r = r < 0 ? r : w;
    }
    if (r == 0 && flush) {
        r = bdrv_flush(s.dst);
        if (r < 0) {
            img_error("error while flushing the target: %s", g_strerror(-r));
        }
    }
    img_progress_end(&s.progress);
    ret = r < 0 ? 1 : 0;
out:
    if (s.dst) {
        bdrv_unref(s.dst);
    }
    for (int i = 0; srcs && i < nsrc; i++) {
        if (srcs[i]) {
            bdrv_unref(srcs[i]);
        }
    }
    g_free(srcs);
    g_free(lens);
    opts_free(opts);
    g_free(optstr);
    return ret;
}
