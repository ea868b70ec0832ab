/*
 * qcow2 images made and changed: create with its options, preallocation,
 * resize (grow and shrink) and amend.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/log.h"


/* ---- preallocation ---- */

typedef struct HostRange {
    int64_t start, len;
} HostRange;

/* Gives the guest clusters of [start, end) without a host cluster one
 * (contiguous where possible); ranges gets where their data lies. */
static int prealloc_mapping(BlockDriverState *bs, uint64_t start,
                            uint64_t end, GArray *ranges)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t off = start / cs * cs;
    int ret;

    end = ROUND_UP(end, cs);
    while (off < end) {
        void *l2;
        int idx;
        ret = qcow2_l2_get_for_write(bs, off, &l2, &idx);
        if (ret < 0) {
            return ret;
        }
        int last = MIN((uint64_t)s->l2_size, idx + (end - off) / cs);
        while (idx < last) {
            if (qcow2_entry_has_host(qcow2_l2_entry(s, l2, idx))) {
                idx++;
                off += cs;
                continue;
            }
            int r = 1;
            while (idx + r < last &&
                   !qcow2_entry_has_host(qcow2_l2_entry(s, l2, idx + r))) {
                r++;
            }
            int64_t host = qcow2_alloc_clusters(bs, (int64_t)r * cs);
            if (host < 0) {
                qcow2_cache_put(s->l2_cache, &l2);
                return host;
            }
            for (int j = 0; j < r; j++) {
                qcow2_set_l2_entry(s, l2, idx + j,
                                   (host + (uint64_t)j * cs) |
                                   QCOW_OFLAG_COPIED);
                /* with a backing file the clusters are only reserved:
                 * reads still go to the backing file (extended L2) */
                qcow2_set_l2_bitmap(s, l2, idx + j,
                                    bs->backing_file ? 0 : 0xffffffffULL);
            }
            qcow2_l2_updated(bs, l2);
            HostRange hr = { host, (int64_t)r * cs };
            g_array_append_val(ranges, hr);
            idx += r;
            off += (uint64_t)r * cs;
        }
        qcow2_cache_put(s->l2_cache, &l2);
    }
    return 0;
}

static int write_file_zeros(BlockDriverState *bs, int64_t off, int64_t len)
{
    size_t chunk = 1024 * 1024;
    uint8_t *zeros = g_malloc0(chunk);
    int ret = 0;

    while (len > 0 && ret == 0) {
        int64_t n = MIN(len, (int64_t)chunk);
        ret = bdrv_pwrite(bs->file, off, zeros, n);
        off += n;
        len -= n;
    }
    g_free(zeros);
    return ret;
}

/* preallocation=metadata|falloc|full for the guest range [start, end) */
static int qcow2_preallocate(BlockDriverState *bs, uint64_t start,
                             uint64_t end, PreallocMode mode)
{
    GArray *ranges = g_array_new(false, false, sizeof(HostRange));
    int64_t file_len = bdrv_getlength(bs->file);
    int64_t data_end = 0;
    int ret;

    if (mode == PREALLOC_MODE_OFF || start >= end) {
        g_array_free(ranges, true);
        return 0;
    }
    if (file_len < 0) {
        g_array_free(ranges, true);
        return file_len;
    }
    ret = prealloc_mapping(bs, start, end, ranges);
    if (ret == 0) {
        ret = qcow2_flush_caches(bs);
    }
    for (guint i = 0; i < ranges->len && ret == 0; i++) {
        HostRange *r = &g_array_index(ranges, HostRange, i);
        data_end = MAX(data_end, r->start + r->len);
        if (mode == PREALLOC_MODE_FULL) {
            ret = write_file_zeros(bs, r->start, r->len);
        } else if (mode == PREALLOC_MODE_FALLOC ||
                   r->start < file_len) {
            /* reused clusters inside the file may hold old data */
            ret = bdrv_pwrite_zeroes(bs->file, r->start, r->len, 0);
        }
    }
    /* metadata: the file covers the clusters, sparse */
    if (ret == 0 && data_end > bdrv_getlength(bs->file)) {
        uint8_t zero = 0;
        ret = bdrv_pwrite(bs->file, data_end - 1, &zero, 1);
    }
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    g_array_free(ranges, true);
    return ret;
}

/* ---- create ---- */

typedef struct CreateParams {
    Qcow2Header h;
    PreallocMode prealloc;
    const char *backing_file;
    const char *backing_fmt;
} CreateParams;

static bool parse_compat(const char *v, uint32_t *version, GError **errp)
{
    if (!v || !strcmp(v, "1.1") || !strcmp(v, "v3")) {
        *version = 3;
    } else if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
        *version = 2;
    } else {
        g_set_error(errp, VIREO_ERROR, 0, "Invalid parameter '%s'", v);
        return false;
    }
    return true;
}

static bool parse_create_opts(Opts *opts, CreateParams *p, GError **errp)
{
    Qcow2Header *h = &p->h;
    const char *v;
    uint64_t cluster_size, refcount_bits;
    bool lazy, extl2, encryption;

    if (!opts) {
        h->version = 3;
        h->cluster_bits = QCOW2_DEFAULT_CLUSTER_BITS;
        h->refcount_order = 4;
        return true;
    }
    if (opts_get(opts, "encrypt.format") ||
        (opts_get_bool(opts, "encryption", false, &encryption, errp) &&
         encryption)) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: encrypted images are not "
                    "supported");
        return false;
    }
    if (errp && *errp) {
        return false;
    }
    if (opts_get(opts, "data_file") || opts_get(opts, "data_file_raw")) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: external data files are "
                    "not supported");
        return false;
    }
    if (!parse_compat(opts_get(opts, "compat"), &h->version, errp) ||
        !opts_get_size(opts, "cluster_size", 65536, &cluster_size, errp) ||
        !opts_get_bool(opts, "lazy_refcounts", false, &lazy, errp) ||
        !opts_get_bool(opts, "extended_l2", false, &extl2, errp) ||
        !opts_get_uint(opts, "refcount_bits", 16, &refcount_bits, errp)) {
        return false;
    }
    if (cluster_size < 512 || cluster_size > 2 * 1024 * 1024 ||
        (cluster_size & (cluster_size - 1))) {
        g_set_error(errp, VIREO_ERROR, 0, "Cluster size must be a power of "
                    "two between 512 and 2048k");
        return false;
    }
    h->cluster_bits = __builtin_ctzll(cluster_size);
    v = opts_get(opts, "preallocation");
    if (v && !bdrv_parse_prealloc(v, &p->prealloc, errp)) {
        return false;
    }
    v = opts_get(opts, "compression_type");
    if (v && !strcmp(v, "zstd")) {
        h->compression_type = QCOW2_COMPRESSION_ZSTD;
    } else if (v && strcmp(v, "zlib")) {
        g_set_error(errp, VIREO_ERROR, 0, "Parameter 'compression-type' "
                    "does not accept value '%s'", v);
        return false;
    }
    if (h->compression_type != QCOW2_COMPRESSION_ZLIB && h->version < 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Non-zlib compression type is only "
                    "supported with compatibility level 1.1 and above (use "
                    "version=v3 or greater)");
        return false;
    }
    if (lazy && h->version < 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Lazy refcounts only supported with "
                    "compatibility level 1.1 and above (use version=v3 or "
                    "greater)");
        return false;
    }
    if (refcount_bits > 64 || !refcount_bits ||
        (refcount_bits & (refcount_bits - 1))) {
        g_set_error(errp, VIREO_ERROR, 0, "Refcount width must be a power of "
                    "two and may not exceed 64 bits");
        return false;
    }
    if (refcount_bits != 16 && h->version < 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Different refcount widths than 16 "
                    "bits require compatibility level 1.1 or above (use "
                    "version=v3 or greater)");
        return false;
    }
    h->refcount_order = __builtin_ctzll(refcount_bits);
    if (extl2 && h->version < 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Extended L2 entries are only "
                    "supported with compatibility level 1.1 and above (use "
                    "version=v3 or greater)");
        return false;
    }
    if (extl2 && cluster_size < 16384) {
        g_set_error(errp, VIREO_ERROR, 0, "Extended L2 entries are only "
                    "supported with cluster sizes of at least 16384 bytes");
        return false;
    }
    p->backing_file = opts_get(opts, "backing_file");
    p->backing_fmt = opts_get(opts, "backing_fmt");
    if (p->backing_fmt && !p->backing_file) {
        g_set_error(errp, VIREO_ERROR, 0, "Backing format cannot be used "
                    "without backing file");
        return false;
    }
    if (p->backing_file && strlen(p->backing_file) >
        QCOW2_MAX_BACKING_FILE_NAME) {
        g_set_error(errp, VIREO_ERROR, 0, "Backing file name too long");
        return false;
    }
    if (p->backing_fmt && strlen(p->backing_fmt) >= 16) {
        g_set_error(errp, VIREO_ERROR, 0, "Backing format name too long");
        return false;
    }
    if (p->backing_file && p->prealloc != PREALLOC_MODE_OFF && !extl2) {
        g_set_error(errp, VIREO_ERROR, 0, "Backing file and preallocation "
                    "can only be used at the same time if extended_l2 is "
                    "on");
        return false;
    }
    if (lazy) {
        h->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
    }
    if (extl2) {
        h->incompatible_features |= QCOW2_INCOMPAT_EXTL2;
    }
    if (h->compression_type != QCOW2_COMPRESSION_ZLIB) {
        h->incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
    }
    return true;
}

/* The backing file's size, for create without a size. */
static int64_t backing_size(const char *filename, const char *backing,
                            const char *fmt, GError **errp)
{
    char *path;
    BlockOpenOptions o = { .format = fmt, .read_only = true,
                           .no_backing = true };
    BlockDriverState *bs;
    int64_t size;

    if (g_path_is_absolute(backing)) {
        path = g_strdup(backing);
    } else {
        char *dir = g_path_get_dirname(filename);
        path = g_build_filename(dir, backing, NULL);
        g_free(dir);
    }
    bs = bdrv_open(path, &o, errp);
    g_free(path);
    if (!bs) {
        g_prefix_error(errp, "Could not open backing image: ");
        return -1;
    }
    size = bdrv_getlength(bs);
    bdrv_unref(bs);
    if (size < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not get the size of the "
                    "backing image: %s", g_strerror(-size));
    }
    return size;
}

static void refcount_set_one(int refcount_order, uint8_t *block,
                             uint64_t index)
{
    int bits = 1 << refcount_order;

    if (bits < 8) {
        /* sub-byte entries count from the least significant bit */
        block[index * bits / 8] |= 1 << ((index * bits) % 8);
    } else {
        block[(index + 1) * (bits / 8) - 1] = 1;
    }
}

/*
 * The empty image: header, refcount table, refcount blocks covering the
 * metadata, and an L1 table of zeros covering the size.
 */
static bool create_layout(const char *filename, CreateParams *p,
                          GError **errp)
{
    Qcow2Header *h = &p->h;
    uint64_t cs = 1ULL << h->cluster_bits;
    uint64_t l2_entries = cs / (h->incompatible_features &
                                QCOW2_INCOMPAT_EXTL2 ? 16 : 8);
    uint64_t l2_cover = l2_entries * cs;
    uint64_t l1_size = (h->size + l2_cover - 1) / l2_cover;
    uint64_t l1_clusters = (l1_size * 8 + cs - 1) / cs;
    uint64_t rb_entries = cs * 8 >> h->refcount_order;
    uint64_t rb = 1, rt = 1, total;
    uint8_t *buf;
    bool ok = false;
    int fd;

    if (l1_size > QCOW2_MAX_L1_SIZE / 8) {
        g_set_error(errp, VIREO_ERROR, 0, "The image size is too large for "
                    "file format 'qcow2' (try using a larger cluster size)");
        return false;
    }
    for (;;) {
        total = 1 + rt + rb + l1_clusters;
        uint64_t need_rb = (total + rb_entries - 1) / rb_entries;
        uint64_t need_rt = (need_rb * 8 + cs - 1) / cs;
        if (need_rb <= rb && need_rt <= rt) {
            break;
        }
        rb = MAX(rb, need_rb);
        rt = MAX(rt, need_rt);
    }
    h->magic = QCOW2_MAGIC;
    h->l1_size = l1_size;
    h->l1_table_offset = l1_size ? (1 + rt + rb) * cs : 0;
    h->refcount_table_offset = cs;
    h->refcount_table_clusters = rt;

    fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not create '%s': %s",
                    filename, g_strerror(errno));
        return false;
    }
    buf = g_malloc0(MAX(cs, rt * cs));
    if (qcow2_header_build(h, p->backing_file, p->backing_fmt, NULL, 0, buf,
                           cs) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Header does not fit in a cluster");
        goto out;
    }
    if (ftruncate(fd, total * cs) < 0 || pwrite(fd, buf, cs, 0) != (ssize_t)cs) {
        goto io_error;
    }
    memset(buf, 0, rt * cs);
    for (uint64_t i = 0; i < rb; i++) {
        qcow2_put_be64(buf + i * 8, (1 + rt + i) * cs);
    }
    if (pwrite(fd, buf, rt * cs, cs) != (ssize_t)(rt * cs)) {
        goto io_error;
    }
    for (uint64_t i = 0; i < rb; i++) {
        memset(buf, 0, cs);
        for (uint64_t c = i * rb_entries; c < MIN(total, (i + 1) * rb_entries);
             c++) {
            refcount_set_one(h->refcount_order, buf, c - i * rb_entries);
        }
        if (pwrite(fd, buf, cs, (1 + rt + i) * cs) != (ssize_t)cs) {
            goto io_error;
        }
    }
    if (fdatasync(fd) < 0) {
        goto io_error;
    }
    ok = true;
    goto out;

io_error:
    g_set_error(errp, VIREO_ERROR, 0, "Could not write '%s': %s", filename,
                g_strerror(errno ? errno : EIO));
out:
    g_free(buf);
    close(fd);
    return ok;
}

bool qcow2_create(const char *filename, int64_t size, Opts *opts,
                  GError **errp)
{
    CreateParams p = { 0 };

    if (!parse_create_opts(opts, &p, errp)) {
        return false;
    }
    if (size <= 0 && p.backing_file) {
        size = backing_size(filename, p.backing_file, p.backing_fmt, errp);
        if (size < 0) {
            return false;
        }
    }
    if (size < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Image size must be positive");
        return false;
    }
    p.h.size = ROUND_UP((uint64_t)size, 512);
    if (!create_layout(filename, &p, errp)) {
        return false;
    }
    if (p.prealloc == PREALLOC_MODE_OFF || p.h.size == 0) {
        return true;
    }

    BlockOpenOptions o = { .format = "qcow2", .no_backing = true };
    BlockDriverState *bs = bdrv_open_node(&bdrv_qcow2, filename, &o, errp);
    if (!bs) {
        return false;
    }
    BDRVQcow2State *s = bs->opaque;
    g_mutex_lock(&s->lock);
    int ret = qcow2_preallocate(bs, 0, s->h.size, p.prealloc);
    g_mutex_unlock(&s->lock);
    bdrv_close_node(bs);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not preallocate '%s': %s",
                    filename, g_strerror(-ret));
        return false;
    }
    return true;
}

/* ---- resize ---- */

static int write_size(BlockDriverState *bs, uint64_t size)
{
    uint8_t b[8];
    int ret;

    qcow2_put_be64(b, size);
    ret = bdrv_pwrite(bs->file, QCOW2_OFF_SIZE, b, 8);
    return ret < 0 ? ret : bdrv_flush(bs->file);
}

static bool truncate_locked(BlockDriverState *bs, int64_t offset, bool shrink,
                            PreallocMode prealloc, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old = s->h.size;
    uint64_t l2_cover = 1ULL << (s->l2_bits + s->cluster_bits);
    int ret;

    if (s->read_only || s->corrupt) {
        g_set_error(errp, VIREO_ERROR, 0, "Image is %s",
                    s->corrupt ? "corrupt" : "read-only");
        return false;
    }
    if (offset < 0 || (offset & 511)) {
        g_set_error(errp, VIREO_ERROR, 0, "The new size must be a multiple "
                    "of 512");
        return false;
    }
    if (s->nb_snapshots) {
        g_set_error(errp, VIREO_ERROR, 0, "Can't resize an image which has "
                    "snapshots");
        return false;
    }
    if ((uint64_t)offset < old) {
        if (!shrink) {
            g_set_error(errp, VIREO_ERROR, 0, "Use the --shrink option to "
                        "perform a shrink operation.");
            return false;
        }
        if (prealloc != PREALLOC_MODE_OFF) {
            g_set_error(errp, VIREO_ERROR, 0, "Preallocation can't be used "
                        "for shrinking an image");
            return false;
        }
        ret = qcow2_shrink_mapping(bs, offset, old);
        if (ret == 0) {
            ret = qcow2_flush_caches(bs);
        }
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Failed to discard the "
                        "truncated clusters: %s", g_strerror(-ret));
            return false;
        }
    } else if ((uint64_t)offset > old) {
        uint64_t need = ((uint64_t)offset + l2_cover - 1) / l2_cover;
        if (need > QCOW2_MAX_L1_SIZE / 8) {
            g_set_error(errp, VIREO_ERROR, 0, "The image size is too large "
                        "for file format 'qcow2'");
            return false;
        }
        ret = qcow2_grow_l1_table(bs, need);
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Failed to grow the L1 table: "
                        "%s", g_strerror(-ret));
            return false;
        }
        /* the old last cluster's tail may hold data from before a shrink:
         * it must read as zeros now */
        uint64_t tail_end = MIN((uint64_t)offset,
                                ROUND_UP(old, (uint64_t)s->cluster_size));
        s->h.size = offset;
        ret = tail_end > old
                  ? qcow2_write_zero_buffer(bs, old, tail_end - old) : 0;
        if (ret == 0) {
            ret = qcow2_preallocate(bs, old, offset, prealloc);
        }
        if (ret < 0) {
            s->h.size = old;
            g_set_error(errp, VIREO_ERROR, 0, "Could not grow the image: %s",
                        g_strerror(-ret));
            return false;
        }
    }
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        ret = write_size(bs, offset);
    }
    if (ret < 0) {
        s->h.size = old;
        g_set_error(errp, VIREO_ERROR, 0, "Failed to update the image size: "
                    "%s", g_strerror(-ret));
        return false;
    }
    s->h.size = offset;
    return true;
}

bool qcow2_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                    PreallocMode prealloc, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool ok;

    g_mutex_lock(&s->lock);
    ok = truncate_locked(bs, offset, shrink, prealloc, errp);
    g_mutex_unlock(&s->lock);
    return ok;
}

static int expand_zero_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t end = ROUND_UP(s->h.size, cs);
    int ret;

    for (uint64_t off = 0; off < end; off += cs) {
        uint64_t n = cs, host;
        Qcow2SubclusterType type;
        ret = qcow2_get_host_offset(bs, off, &n, &host, &type);
        if (ret < 0) {
            return ret;
        }
        if (type != QCOW2_SUBCLUSTER_ZERO_PLAIN &&
            type != QCOW2_SUBCLUSTER_ZERO_ALLOC) {
            continue;
        }
        if (type == QCOW2_SUBCLUSTER_ZERO_PLAIN && !bs->backing_file) {
            ret = qcow2_cluster_discard(bs, off, cs, true);
        } else {
            ret = qcow2_write_zero_buffer(bs, off, MIN(cs, s->h.size - off));
        }
        if (ret < 0) {
            return ret;
        }
    }
    return qcow2_flush_caches(bs);
}

static bool amend_compat(BlockDriverState *bs, uint32_t version,
                         GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (version == s->h.version) {
        return true;
    }
    if (version == 3) {
        s->h.version = 3;
        s->h.incompatible_features = 0;
        s->h.compatible_features = 0;
        s->h.autoclear_features = 0;
        s->h.refcount_order = s->refcount_order;
    } else {
        if (s->refcount_order != 4) {
            g_set_error(errp, VIREO_ERROR, 0, "compat=0.10 requires "
                        "refcount_bits=16");
            return false;
        }
        if (s->extended_l2 || s->compression_type != QCOW2_COMPRESSION_ZLIB) {
            g_set_error(errp, VIREO_ERROR, 0, "Cannot downgrade an image "
                        "with %s to compat=0.10",
                        s->extended_l2 ? "extended L2 entries"
                                       : "zstd compression");
            return false;
        }
        if (s->nb_snapshots) {
            g_set_error(errp, VIREO_ERROR, 0, "Cannot downgrade an image "
                        "with internal snapshots to compat=0.10");
            return false;
        }
        ret = expand_zero_clusters(bs);
        if (ret == 0) {
            ret = qcow2_mark_clean(bs);
        }
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Failed to turn zero clusters "
                        "into data clusters: %s", g_strerror(-ret));
            return false;
        }
        s->lazy_refcounts = false;
        s->h.version = 2;
        s->h.incompatible_features = 0;
        s->h.compatible_features = 0;
        s->h.autoclear_features = 0;
    }
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to update the image "
                    "header: %s", g_strerror(-ret));
        return false;
    }
    return true;
}

static bool amend_lazy(BlockDriverState *bs, bool lazy, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (lazy == s->lazy_refcounts) {
        return true;
    }
    if (lazy && s->h.version < 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Lazy refcounts only supported with "
                    "compatibility level 1.1 and above (use compat=1.1 or "
                    "greater)");
        return false;
    }
    if (!lazy) {
        /* refcounts must be right on disk before they are trusted again */
        ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Failed to make the refcounts "
                        "consistent: %s", g_strerror(-ret));
            return false;
        }
        s->h.compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
    } else {
        s->h.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
    }
    s->lazy_refcounts = lazy;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to update the image "
                    "header: %s", g_strerror(-ret));
        return false;
    }
    return true;
}

/* Options amend cannot change: refused unless they keep the value */
static bool amend_refuse_changes(BlockDriverState *bs, Opts *opts,
                                 GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t u;
    bool b;
    const char *v;

    if (opts_get(opts, "cluster_size")) {
        if (!opts_get_size(opts, "cluster_size", 0, &u, errp)) {
            return false;
        }
        if (u != (uint64_t)s->cluster_size) {
            g_set_error(errp, VIREO_ERROR, 0, "Changing the cluster size is "
                        "not supported");
            return false;
        }
    }
    if (opts_get(opts, "refcount_bits")) {
        if (!opts_get_uint(opts, "refcount_bits", 0, &u, errp)) {
            return false;
        }
        if (u != (uint64_t)s->refcount_bits) {
            g_set_error(errp, VIREO_ERROR, 0, "Changing the refcount width "
                        "(refcount_bits) is not supported");
            return false;
        }
    }
    if (opts_get(opts, "extended_l2")) {
        if (!opts_get_bool(opts, "extended_l2", false, &b, errp)) {
            return false;
        }
        if (b != s->extended_l2) {
            g_set_error(errp, VIREO_ERROR, 0, "Toggling extended L2 entries "
                        "(extended_l2) is not supported");
            return false;
        }
    }
    if ((v = opts_get(opts, "compression_type")) &&
        strcmp(v, s->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd"
                                                                : "zlib")) {
        g_set_error(errp, VIREO_ERROR, 0, "Changing the compression type "
                    "(compression_type) is not supported");
        return false;
    }
    static const char *const never[] = {
        "preallocation", "encrypt.format", "encryption", "data_file",
        "data_file_raw", "size",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(never); i++) {
        if (opts_get(opts, never[i])) {
            g_set_error(errp, VIREO_ERROR, 0, "Changing option '%s' is not "
                        "supported", never[i]);
            return false;
        }
    }
    return true;
}

static bool amend_locked(BlockDriverState *bs, Opts *opts, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const char *compat = opts_get(opts, "compat");
    const char *bfile = opts_get(opts, "backing_file");
    const char *bfmt = opts_get(opts, "backing_fmt");
    uint32_t version = s->h.version;
    bool lazy;

    if (s->read_only || s->corrupt) {
        g_set_error(errp, VIREO_ERROR, 0, "Image is %s",
                    s->corrupt ? "corrupt" : "read-only");
        return false;
    }
    if (!amend_refuse_changes(bs, opts, errp) ||
        (compat && !parse_compat(compat, &version, errp)) ||
        !opts_get_bool(opts, "lazy_refcounts",
                       s->lazy_refcounts && version >= 3, &lazy, errp)) {
        return false;
    }
    if (lazy && version < 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Lazy refcounts only supported with "
                    "compatibility level 1.1 and above (use compat=1.1 or "
                    "greater)");
        return false;
    }
    /* upgrade first, downgrade last, as QEMU orders them */
    if (version > s->h.version && !amend_compat(bs, version, errp)) {
        return false;
    }
    if (!amend_lazy(bs, lazy, errp)) {
        return false;
    }
    if (bfile || bfmt) {
        const char *file = bfile ? bfile : bs->backing_file;
        int ret = qcow2_change_backing_locked(bs, file, bfmt ? bfmt
                                              : bs->backing_format);
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Failed to change the backing "
                        "file: %s", g_strerror(-ret));
            return false;
        }
    }
    if (version < s->h.version && !amend_compat(bs, version, errp)) {
        return false;
    }
    return qcow2_flush_caches(bs) == 0;
}

bool qcow2_amend(BlockDriverState *bs, Opts *opts, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool ok;

    g_mutex_lock(&s->lock);
    ok = amend_locked(bs, opts, errp);
    g_mutex_unlock(&s->lock);
    return ok;
}

