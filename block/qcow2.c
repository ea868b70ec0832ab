/*
 * The qcow2 format driver (QEMU's docs/interop/qcow2.txt, versions 2 and
 * 3): header and extensions, open-time validation, the dirty and corrupt
 * bits, information, the backing file name, and the driver's table. The
 * request path is in qcow2-io.c; create, resize and amend in
 * qcow2-create.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/log.h"


/* L2 and refcount caches: QEMU's default is 1 MiB of L2 tables, which maps
 * 8 GiB with 64 KiB clusters; the refcount cache is a quarter of that */
#define L2_CACHE_BYTES (1024 * 1024)
#define L2_CACHE_MAX_TABLES 512
#define REFCOUNT_CACHE_BYTES (256 * 1024)
#define REFCOUNT_CACHE_MAX_TABLES 128
#define CACHE_MIN_TABLES 4

static int64_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* ---- the header ---- */

/* The feature name table QEMU writes into every v3 header. */
static const struct {
    uint8_t type;
    uint8_t bit;
    const char *name;
} feature_names[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
};

static void header_parse(Qcow2Header *h, const uint8_t *b)
{
    h->magic = be32(b);
    h->version = be32(b + 4);
    h->backing_file_offset = qcow2_be64(b + 8);
    h->backing_file_size = be32(b + 16);
    h->cluster_bits = be32(b + 20);
    h->size = qcow2_be64(b + 24);
    h->crypt_method = be32(b + 32);
    h->l1_size = be32(b + 36);
    h->l1_table_offset = qcow2_be64(b + 40);
    h->refcount_table_offset = qcow2_be64(b + 48);
    h->refcount_table_clusters = be32(b + 56);
    h->nb_snapshots = be32(b + 60);
    h->snapshots_offset = qcow2_be64(b + 64);
    if (h->version >= 3) {
        h->incompatible_features = qcow2_be64(b + 72);
        h->compatible_features = qcow2_be64(b + 80);
        h->autoclear_features = qcow2_be64(b + 88);
        h->refcount_order = be32(b + 96);
        h->header_length = be32(b + 100);
    } else {
        h->incompatible_features = 0;
        h->compatible_features = 0;
        h->autoclear_features = 0;
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER_SIZE;
    }
    /* compression_type exists when header_length covers it */
    h->compression_type = h->header_length > QCOW2_V3_HEADER_SIZE ? b[104]
                                                                   : 0;
}

static size_t ext_put(uint8_t *buf, size_t off, size_t len, uint32_t magic,
                      const void *data, uint32_t dlen)
{
    size_t need = 8 + ROUND_UP((size_t)dlen, 8);

    if (off + need > len) {
        return 0;
    }
    put_be32(buf + off, magic);
    put_be32(buf + off + 4, dlen);
    if (dlen) {
        memcpy(buf + off + 8, data, dlen);
    }
    return need;
}

/*
 * Lays out the header cluster: fields from h, the backing format and
 * feature table extensions, the kept unknown extensions, the end marker
 * and the backing file name. Fills h->backing_file_offset/size and
 * h->header_length. -ENOSPC when it does not fit in len bytes.
 */
int qcow2_header_build(Qcow2Header *h, const char *backing_file,
                       const char *backing_fmt,
                       const Qcow2UnknownExt *unknown, int nb_unknown,
                       uint8_t *buf, size_t len)
{
    size_t off, n;

    memset(buf, 0, len);
    h->header_length = h->version >= 3 ? QCOW2_HEADER_SIZE
                                       : QCOW2_V2_HEADER_SIZE;
    off = h->header_length;
    if (backing_file && backing_fmt) {
        n = ext_put(buf, off, len, QCOW2_EXT_BACKING_FORMAT, backing_fmt,
                    strlen(backing_fmt));
        if (!n) {
            return -ENOSPC;
        }
        off += n;
    }
    if (h->version >= 3) {
        uint8_t table[G_N_ELEMENTS(feature_names) * 48] = { 0 };
        for (size_t i = 0; i < G_N_ELEMENTS(feature_names); i++) {
            table[i * 48] = feature_names[i].type;
            table[i * 48 + 1] = feature_names[i].bit;
            strncpy((char *)table + i * 48 + 2, feature_names[i].name,
                    QCOW2_FEATURE_NAME_LEN);
        }
        n = ext_put(buf, off, len, QCOW2_EXT_FEATURE_TABLE, table,
                    sizeof(table));
        if (!n) {
            return -ENOSPC;
        }
        off += n;
    }
    for (int i = 0; i < nb_unknown; i++) {
        n = ext_put(buf, off, len, unknown[i].magic, unknown[i].data,
                    unknown[i].len);
        if (!n) {
            return -ENOSPC;
        }
        off += n;
    }
    n = ext_put(buf, off, len, QCOW2_EXT_END, NULL, 0);
    if (!n) {
        return -ENOSPC;
    }
    off += n;
    h->backing_file_offset = 0;
    h->backing_file_size = 0;
    if (backing_file) {
        size_t blen = strlen(backing_file);
        if (blen > QCOW2_MAX_BACKING_FILE_NAME || off + blen > len) {
            return -ENOSPC;
        }
        memcpy(buf + off, backing_file, blen);
        h->backing_file_offset = off;
        h->backing_file_size = blen;
    }

    put_be32(buf, QCOW2_MAGIC);
    put_be32(buf + 4, h->version);
    qcow2_put_be64(buf + 8, h->backing_file_offset);
    put_be32(buf + 16, h->backing_file_size);
    put_be32(buf + 20, h->cluster_bits);
    qcow2_put_be64(buf + 24, h->size);
    put_be32(buf + 32, h->crypt_method);
    put_be32(buf + 36, h->l1_size);
    qcow2_put_be64(buf + 40, h->l1_table_offset);
    qcow2_put_be64(buf + 48, h->refcount_table_offset);
    put_be32(buf + 56, h->refcount_table_clusters);
    put_be32(buf + 60, h->nb_snapshots);
    qcow2_put_be64(buf + 64, h->snapshots_offset);
    if (h->version >= 3) {
        qcow2_put_be64(buf + 72, h->incompatible_features);
        qcow2_put_be64(buf + 80, h->compatible_features);
        qcow2_put_be64(buf + 88, h->autoclear_features);
        put_be32(buf + 96, h->refcount_order);
        put_be32(buf + 100, h->header_length);
        buf[104] = h->compression_type;
    }
    return 0;
}

int qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Header h = s->h;
    uint8_t *buf;
    int ret;

    /* the live values, which the other files keep in the state */
    h.l1_size = s->l1_size;
    h.l1_table_offset = s->l1_table_offset;
    h.refcount_table_offset = s->refcount_table_offset;
    if (s->refcount_table_size) {
        h.refcount_table_clusters =
            qcow2_size_to_clusters(s, (int64_t)s->refcount_table_size * 8);
    }
    h.nb_snapshots = s->nb_snapshots;
    h.snapshots_offset = s->snapshots_offset;
    h.compression_type = s->compression_type;

    buf = g_malloc(s->cluster_size);
    ret = qcow2_header_build(&h, bs->backing_file, bs->backing_format,
                             s->unknown_ext, s->nb_unknown_ext, buf,
                             s->cluster_size);
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, 0, buf, s->cluster_size);
    }
    g_free(buf);
    if (ret == 0) {
        s->h = h;
    }
    return ret;
}

static int write_incompat(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t b[8];

    qcow2_put_be64(b, s->h.incompatible_features);
    return bdrv_pwrite(bs->file, QCOW2_OFF_INCOMPAT, b, 8);
}

int qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->h.version < 3 ||
        (s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    /* what is on disk so far is consistent: make it durable first */
    ret = bdrv_flush(bs->file);
    if (ret < 0) {
        return ret;
    }
    s->h.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    ret = write_incompat(bs);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        s->h.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
        return ret;
    }
    s->dirty_set = true;
    return 0;
}

int qcow2_flush_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_cache_write(bs, s->l2_cache);
    int ret2 = qcow2_cache_write(bs, s->refcount_block_cache);
    bdrv_debug_event(bs->file, BLKDBG_FLUSH_TO_DISK);
    int ret3 = bdrv_flush(bs->file);

    return ret < 0 ? ret : ret2 < 0 ? ret2 : ret3;
}

int qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    s->h.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    ret = write_incompat(bs);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        s->h.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
        return ret;
    }
    s->dirty_set = false;
    return 0;
}

int qcow2_signal_corruption(BlockDriverState *bs, const char *fmt, ...)
{
    BDRVQcow2State *s = bs->opaque;
    va_list ap;
    char *msg;

    if (s->corrupt) {
        return -EIO;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_error("qcow2: Marking image as corrupt: %s; further corruption "
              "events will be suppressed", msg);
    g_free(msg);
    s->corrupt = true;
    if (!s->read_only && s->h.version >= 3) {
        s->h.incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        if (write_incompat(bs) == 0) {
            bdrv_flush(bs->file);
        }
    }
    return -EIO;
}

/* ---- open ---- */

static void set_geometry(BDRVQcow2State *s)
{
    s->cluster_bits = s->h.cluster_bits;
    s->cluster_size = 1 << s->cluster_bits;
    s->cluster_mask = s->cluster_size - 1;
    s->extended_l2 = s->h.incompatible_features & QCOW2_INCOMPAT_EXTL2;
    s->l2_entry_size = s->extended_l2 ? 16 : 8;
    s->l2_bits = s->cluster_bits - (s->extended_l2 ? 4 : 3);
    s->l2_size = 1 << s->l2_bits;
    s->subcluster_bits = s->cluster_bits - (s->extended_l2 ? 5 : 0);
    s->subcluster_size = 1 << s->subcluster_bits;
    /* "Compressed Clusters Descriptor": x = 62 - (cluster_bits - 8) */
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (1ULL << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (1ULL << s->csize_shift) - 1;
    s->refcount_order = s->h.refcount_order;
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64
                      ? UINT64_MAX : (1ULL << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits - (s->refcount_order - 3);
    s->refcount_block_size = 1 << s->refcount_block_bits;
    s->compression_type = s->h.compression_type;
}

/* "Unsupported qcow2 feature(s): ..." with the names the image gives */
static void report_unsupported(BDRVQcow2State *s, uint64_t mask,
                               GError **errp)
{
    GString *str = g_string_new(NULL);

    for (guint i = 0; s->feature_table && i < s->feature_table->len; i++) {
        const uint8_t *e = g_ptr_array_index(s->feature_table, i);
        if (e[0] == 0 && e[1] < 64 && (mask & (1ULL << e[1]))) {
            g_string_append_printf(str, "%s%.46s", str->len ? ", " : "",
                                   (const char *)e + 2);
            mask &= ~(1ULL << e[1]);
        }
    }
    if (mask) {
        g_string_append_printf(str, "%sUnknown incompatible feature: %"
                               PRIx64, str->len ? ", " : "", mask);
    }
    g_set_error(errp, VIREO_ERROR, 0, "Unsupported qcow2 feature(s): %s",
                str->str);
    g_string_free(str, TRUE);
}

static bool read_extensions(BlockDriverState *bs, const uint8_t *hdr,
                            uint64_t start, uint64_t end, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = start;

    while (off + 8 <= end) {
        uint32_t magic = be32(hdr + off);
        uint32_t len = be32(hdr + off + 4);
        off += 8;
        if (len > end - off) {
            g_set_error(errp, VIREO_ERROR, 0, "Header extension too large");
            return false;
        }
        const uint8_t *data = hdr + off;
        switch (magic) {
        case QCOW2_EXT_END:
            return true;
        case QCOW2_EXT_BACKING_FORMAT:
            if (len >= 16) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "ERROR: ext_backing_format: len=%u too large "
                            "(>=16)", len);
                return false;
            }
            g_free(bs->backing_format);
            bs->backing_format = g_strndup((const char *)data, len);
            break;
        case QCOW2_EXT_FEATURE_TABLE:
            for (uint32_t i = 0; i + 48 <= len; i += 48) {
                g_ptr_array_add(s->feature_table, g_memdup2(data + i, 48));
            }
            break;
        default:
            /* bitmaps, crypto, data file name, and what we do not know:
             * kept so header rewrites leave them in place */
            s->unknown_ext = g_renew(Qcow2UnknownExt, s->unknown_ext,
                                     s->nb_unknown_ext + 1);
            s->unknown_ext[s->nb_unknown_ext++] = (Qcow2UnknownExt) {
                .magic = magic, .len = len, .data = g_memdup2(data, len),
            };
            break;
        }
        off += ROUND_UP((uint64_t)len, 8);
    }
    return true;
}

static bool table_offset_valid(BDRVQcow2State *s, uint64_t offset,
                               uint64_t entries, uint64_t entry_len)
{
    uint64_t size = entries * entry_len;

    if (offset & s->cluster_mask) {
        return false;
    }
    /* the offset fields are 56-bit in L1/L2 entries; keep tables there */
    return offset <= (1ULL << 56) && size <= (1ULL << 56) - offset;
}

static bool header_validate(BlockDriverState *bs, const BlockOpenOptions *o,
                            int64_t file_len, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Header *h = &s->h;

    if (h->magic != QCOW2_MAGIC) {
        g_set_error(errp, VIREO_ERROR, 0, "Image is not in qcow2 format");
        return false;
    }
    if (h->version < 2 || h->version > 3) {
        g_set_error(errp, VIREO_ERROR, 0, "Unsupported qcow2 version %u",
                    h->version);
        return false;
    }
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        g_set_error(errp, VIREO_ERROR, 0, "Unsupported cluster size: 2^%u",
                    h->cluster_bits);
        return false;
    }
    uint64_t cluster_size = 1ULL << h->cluster_bits;
    if (h->version >= 3 && h->header_length < QCOW2_V3_HEADER_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2 header too short");
        return false;
    }
    if (h->header_length > cluster_size) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "qcow2 header exceeds cluster size");
        return false;
    }
    if (h->backing_file_offset > cluster_size) {
        g_set_error(errp, VIREO_ERROR, 0, "Invalid backing file offset");
        return false;
    }
    if (h->refcount_order > 6) {
        g_set_error(errp, VIREO_ERROR, 0, "Reference count entry width too "
                    "large; may not exceed 64 bits");
        return false;
    }
    return true;
}

static bool features_validate(BlockDriverState *bs, const BlockOpenOptions *o,
                              GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Header *h = &s->h;
    uint64_t unknown = h->incompatible_features & ~QCOW2_INCOMPAT_SUPPORTED;

    if (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: images with an external "
                    "data file (data-file) are not supported");
        return false;
    }
    if (unknown) {
        report_unsupported(s, unknown, errp);
        return false;
    }
    if ((h->incompatible_features & QCOW2_INCOMPAT_CORRUPT) &&
        !o->read_only && !o->check) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: Image is corrupt; cannot "
                    "be opened read/write");
        return false;
    }
    if (h->crypt_method) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: %s encrypted images are "
                    "not supported",
                    h->crypt_method == 1 ? "AES" :
                    h->crypt_method == 2 ? "LUKS" : "Unknown method");
        return false;
    }
    if (h->compression_type > QCOW2_COMPRESSION_ZSTD) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: unknown compression type: "
                    "%u", h->compression_type);
        return false;
    }
    bool bit = h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;
    if (bit != (h->compression_type != QCOW2_COMPRESSION_ZLIB)) {
        g_set_error(errp, VIREO_ERROR, 0, "qcow2: Compression type "
                    "incompatible feature bit must %sbe set",
                    bit ? "not " : "");
        return false;
    }
    if ((h->incompatible_features & QCOW2_INCOMPAT_EXTL2) &&
        h->cluster_bits < QCOW2_MIN_CLUSTER_BITS + 5) {
        g_set_error(errp, VIREO_ERROR, 0, "Unsupported subcluster size");
        return false;
    }
    return true;
}

static bool tables_validate(BlockDriverState *bs, int64_t file_len,
                            GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Header *h = &s->h;
    uint64_t l2_cover = 1ULL << (s->l2_bits + s->cluster_bits);

    if (h->size > (uint64_t)INT64_MAX / 2) {
        g_set_error(errp, VIREO_ERROR, 0, "Image size too large");
        return false;
    }
    if (h->l1_size > QCOW2_MAX_L1_SIZE / 8) {
        g_set_error(errp, VIREO_ERROR, 0, "Active L1 table too large");
        return false;
    }
    if (h->l1_size < (h->size + l2_cover - 1) / l2_cover) {
        g_set_error(errp, VIREO_ERROR, 0, "L1 table is too small");
        return false;
    }
    if (!table_offset_valid(s, h->l1_table_offset, h->l1_size, 8) ||
        (h->l1_size && (h->l1_table_offset == 0 ||
                        h->l1_table_offset + h->l1_size * 8ULL >
                        (uint64_t)file_len))) {
        g_set_error(errp, VIREO_ERROR, 0, "Invalid L1 table offset");
        return false;
    }
    if ((uint64_t)h->refcount_table_clusters << s->cluster_bits >
        QCOW2_MAX_REFTABLE_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0, "Reference count table too large");
        return false;
    }
    if (!h->refcount_table_clusters || h->refcount_table_offset == 0 ||
        !table_offset_valid(s, h->refcount_table_offset,
                            h->refcount_table_clusters, s->cluster_size)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Invalid reference count table offset");
        return false;
    }
    return true;
}

static bool read_l1_table(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    size_t len = (size_t)s->h.l1_size * 8;
    uint8_t *buf;
    int ret;

    s->l1_size = s->h.l1_size;
    s->l1_table_offset = s->h.l1_table_offset;
    s->l1_table = g_new0(uint64_t, MAX(s->l1_size, 1));
    if (!len) {
        return true;
    }
    buf = g_malloc(len);
    ret = bdrv_pread(bs->file, s->l1_table_offset, buf, len);
    if (ret < 0) {
        g_free(buf);
        g_set_error(errp, VIREO_ERROR, 0, "Could not read L1 table: %s",
                    g_strerror(-ret));
        return false;
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        s->l1_table[i] = qcow2_be64(buf + i * 8);
    }
    g_free(buf);
    return true;
}

static void create_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int l2 = CLAMP(L2_CACHE_BYTES / s->cluster_size, CACHE_MIN_TABLES,
                   L2_CACHE_MAX_TABLES);
    int rc = CLAMP(REFCOUNT_CACHE_BYTES / s->cluster_size, CACHE_MIN_TABLES,
                   REFCOUNT_CACHE_MAX_TABLES);

    s->l2_cache = qcow2_cache_create(bs, l2, s->cluster_size);
    s->refcount_block_cache = qcow2_cache_create(bs, rc, s->cluster_size);
}

static void qcow2_free_state(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s) {
        return;
    }
    qcow2_refcount_close(bs);
    qcow2_free_snapshots(bs);
    qcow2_cache_destroy(s->l2_cache);
    qcow2_cache_destroy(s->refcount_block_cache);
    g_free(s->l1_table);
    for (int i = 0; i < s->nb_unknown_ext; i++) {
        g_free(s->unknown_ext[i].data);
    }
    g_free(s->unknown_ext);
    if (s->feature_table) {
        g_ptr_array_free(s->feature_table, TRUE);
    }
    g_mutex_clear(&s->lock);
    g_mutex_clear(&s->fast_lock);
    g_cond_clear(&s->fast_cond);
    g_free(s);
    bs->opaque = NULL;
}

/* Runs the metadata repair that a crash with lazy refcounts calls for. */
static bool repair_dirty(BlockDriverState *bs, GError **errp)
{
    BdrvCheckResult res = { 0 };
    int ret = qcow2_check(bs, &res, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);

    if (ret < 0 || res.corruptions > 0 ||
        res.check_errors) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not repair dirty image: %s",
                    ret < 0 ? g_strerror(-ret) : "corruptions remain");
        return false;
    }
    ret = qcow2_mark_clean(bs);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not repair dirty image: %s",
                    g_strerror(-ret));
        return false;
    }
    return true;
}

/*
 * A refcount block that the table places past the end of the file was
 * never written; updating it would write refcounts there and grow the
 * file without bound. The image is corrupt (check -r all rebuilds it).
 */
static void reftable_check_eof(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len = bdrv_getlength(bs->file);

    for (uint32_t i = 0; file_len >= 0 && i < s->refcount_table_size; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;
        if (off && off + s->cluster_size > (uint64_t)file_len) {
            qcow2_signal_corruption(bs, "Refblock offset %#" PRIx64 " is "
                                    "past the end of the image file "
                                    "(reftable index: %#x)", off, i);
            return;
        }
    }
}

static bool open_state(BlockDriverState *bs, const BlockOpenOptions *o,
                       GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len = bdrv_getlength(bs->file);
    uint8_t *hdr;
    int ret;

    if (file_len < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not get the image size: %s",
                    g_strerror(-file_len));
        return false;
    }
    hdr = g_malloc0(QCOW2_MAX_HEADER_SIZE);
    ret = bdrv_pread(bs->file, 0, hdr, 512);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not read qcow2 header: %s",
                    g_strerror(-ret));
        g_free(hdr);
        return false;
    }
    header_parse(&s->h, hdr);
    if (!header_validate(bs, o, file_len, errp)) {
        g_free(hdr);
        return false;
    }
    set_geometry(s);

    /* extensions and the backing name live in the first cluster */
    size_t first = MIN(s->cluster_size, QCOW2_MAX_HEADER_SIZE);
    if (s->cluster_size > QCOW2_MAX_HEADER_SIZE) {
        hdr = g_realloc(hdr, s->cluster_size);
        first = s->cluster_size;
    }
    ret = bdrv_pread(bs->file, 0, hdr, first);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not read qcow2 header: %s",
                    g_strerror(-ret));
        g_free(hdr);
        return false;
    }
    uint64_t ext_end = s->h.backing_file_offset ? s->h.backing_file_offset
                                                : first;
    if (!read_extensions(bs, hdr, s->h.header_length, ext_end, errp)) {
        g_free(hdr);
        return false;
    }
    if (s->h.backing_file_offset) {
        if (s->h.backing_file_size > QCOW2_MAX_BACKING_FILE_NAME ||
            s->h.backing_file_size > first - s->h.backing_file_offset) {
            g_set_error(errp, VIREO_ERROR, 0, "Backing file name too long");
            g_free(hdr);
            return false;
        }
        g_free(bs->backing_file);
        bs->backing_file = g_strndup((char *)hdr + s->h.backing_file_offset,
                                     s->h.backing_file_size);
    }
    g_free(hdr);

    if (!features_validate(bs, o, errp) ||
        !tables_validate(bs, file_len, errp)) {
        return false;
    }
    s->lazy_refcounts = s->h.compatible_features &
                        QCOW2_COMPAT_LAZY_REFCOUNTS;
    s->corrupt = s->h.incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    s->refcount_table_offset = s->h.refcount_table_offset;
    s->nb_snapshots = s->h.nb_snapshots;
    s->snapshots_offset = s->h.snapshots_offset;
    create_caches(bs);
    if (!s->l2_cache || !s->refcount_block_cache) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not allocate metadata "
                    "caches");
        return false;
    }
    if (!read_l1_table(bs, errp) || !qcow2_refcount_init(bs, errp) ||
        !qcow2_read_snapshots(bs, errp)) {
        return false;
    }

    /* an inactive image belongs to another process still: read, never
     * write (activation reads it all again and does what follows) */
    if (s->read_only || bs->inactive) {
        return true;
    }
    /* autoclear bits we do not maintain must go, or another reader would
     * trust bitmaps we let go stale */
    if (s->h.autoclear_features) {
        s->h.autoclear_features = 0;
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Could not update qcow2 "
                        "header: %s", g_strerror(-ret));
            return false;
        }
    }
    if (o->check) {
        return true;
    }
    if (s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return repair_dirty(bs, errp);
    }
    reftable_check_eof(bs);
    return true;
}

static bool qcow2_open(BlockDriverState *bs, const char *filename,
                       const BlockOpenOptions *o, GError **errp)
{
    BDRVQcow2State *s = g_new0(BDRVQcow2State, 1);

    g_mutex_init(&s->lock);
    g_mutex_init(&s->fast_lock);
    g_cond_init(&s->fast_cond);
    s->feature_table = g_ptr_array_new_with_free_func(g_free);
    s->read_only = o->read_only || bs->read_only;
    s->open_opts = *o;
    s->open_opts.format = NULL;     /* the caller's string */
    bs->opaque = s;
    bs->request_alignment = 1;
    if (!open_state(bs, o, errp)) {
        qcow2_free_state(bs);
        return false;
    }
    return true;
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s) {
        return;
    }
    g_mutex_lock(&s->lock);
    /* inactive: written back at inactivation, and maybe another's now */
    if (!s->read_only && !s->corrupt && !bs->inactive) {
        int ret = qcow2_flush_caches(bs);
        /* clean only if every table made it to disk */
        if (ret == 0 && s->dirty_set) {
            qcow2_mark_clean(bs);
        }
    }
    g_mutex_unlock(&s->lock);
    qcow2_free_state(bs);
}

/* Hands the image over: every cached table on disk, the dirty bit clear. */
static bool qcow2_inactivate(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    g_mutex_lock(&s->lock);
    if (!s->read_only && !s->corrupt) {
        ret = qcow2_flush_caches(bs);
        if (ret == 0 && s->dirty_set) {
            ret = qcow2_mark_clean(bs);
        }
    }
    g_mutex_unlock(&s->lock);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "writing back qcow2 metadata: %s",
                    g_strerror(-ret));
        return false;
    }
    return true;
}

/*
 * QEMU's invalidate_cache: the other side may have allocated clusters, so
 * header, L1, refcount table, snapshots and both caches are read afresh,
 * by opening the image again into a new state. The old state stays until
 * the new one is complete, so a failure leaves the node as it was.
 */
static bool qcow2_activate(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *old = bs->opaque;
    BlockOpenOptions o = old->open_opts;

    bs->opaque = NULL;
    bs->inactive = false;
    if (!qcow2_open(bs, bs->filename, &o, errp)) {
        bs->inactive = true;
        bs->opaque = old;
        return false;
    }
    BDRVQcow2State *fresh = bs->opaque;
    bs->opaque = old;
    qcow2_free_state(bs);
    bs->opaque = fresh;
    return true;
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    return s->h.size;
}

static int qcow2_probe(const uint8_t *buf, int len, const char *filename)
{
    static const uint8_t magic[4] = { 'Q', 'F', 'I', 0xfb };
    return len >= 4 && memcmp(buf, magic, 4) == 0 ? 100 : 0;
}

/* ---- information ---- */

static bool qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    bdi->is_dirty = s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY;
    return true;
}

/* qemu-img 7.2's ImageInfoSpecificQCow2, in its field order */
static json_t *qcow2_get_specific_info(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    json_t *data = json_object();
    json_t *o = json_object();
    bool v3 = s->h.version >= 3;

    json_object_set_new(data, "compat", json_string(v3 ? "1.1" : "0.10"));
    json_object_set_new(data, "compression-type",
                        json_string(s->compression_type ==
                                    QCOW2_COMPRESSION_ZSTD ? "zstd"
                                                           : "zlib"));
    if (v3) {
        json_object_set_new(data, "lazy-refcounts",
                            json_boolean(s->lazy_refcounts));
    }
    json_object_set_new(data, "refcount-bits",
                        json_integer(s->refcount_bits));
    if (v3) {
        json_object_set_new(data, "corrupt",
                            json_boolean(s->h.incompatible_features &
                                         QCOW2_INCOMPAT_CORRUPT));
        json_object_set_new(data, "extended-l2",
                            json_boolean(s->extended_l2));
    }
    json_object_set_new(o, "type", json_string("qcow2"));
    json_object_set_new(o, "data", data);
    return o;
}

/* ---- backing file, make_empty, amend ---- */

int qcow2_change_backing_locked(BlockDriverState *bs, const char *file,
                                const char *fmt)
{
    char *old_file = bs->backing_file, *old_fmt = bs->backing_format;
    int ret;

    if ((fmt && !file) || (file && strlen(file) > QCOW2_MAX_BACKING_FILE_NAME)
        || (fmt && strlen(fmt) >= 16)) {
        return -EINVAL;
    }
    bs->backing_file = file && *file ? g_strdup(file) : NULL;
    bs->backing_format = bs->backing_file && fmt ? g_strdup(fmt) : NULL;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        g_free(bs->backing_file);
        g_free(bs->backing_format);
        bs->backing_file = old_file;
        bs->backing_format = old_fmt;
        return ret;
    }
    g_free(old_file);
    g_free(old_fmt);
    return bdrv_flush(bs->file);
}

static int qcow2_change_backing_file(BlockDriverState *bs, const char *file,
                                     const char *fmt)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    ret = s->read_only ? -EPERM : qcow2_change_backing_locked(bs, file, fmt);
    g_mutex_unlock(&s->lock);
    return ret;
}

static int qcow2_make_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    if (s->read_only || s->corrupt) {
        ret = s->corrupt ? -EIO : -EPERM;
    } else {
        ret = qcow2_cluster_discard(bs, 0,
                                    ROUND_UP(s->h.size,
                                             (uint64_t)s->cluster_size),
                                    true);
        if (ret == 0) {
            ret = qcow2_flush_caches(bs);
        }
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

/* compat=0.10: zero clusters have no v2 encoding, so they become real
 * zeros (or unallocated clusters, without a backing file) first */
/* ---- snapshots and check, under the request lock ---- */

/* They allocate and free clusters: no read or write may be in flight on
 * the main loop meanwhile (qcow2_fast_reads_block). */
static bool qcow2_snap_create(BlockDriverState *bs, const BdrvSnapshotInfo *sn,
                              GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    qcow2_fast_reads_block(bs);
    g_mutex_lock(&s->lock);
    bool ok = qcow2_snapshot_create(bs, sn, errp);
    g_mutex_unlock(&s->lock);
    qcow2_fast_reads_unblock(bs);
    return ok;
}

static bool qcow2_snap_goto(BlockDriverState *bs, const char *name_or_id,
                            GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    qcow2_fast_reads_block(bs);
    g_mutex_lock(&s->lock);
    bool ok = qcow2_snapshot_goto(bs, name_or_id, errp);
    g_mutex_unlock(&s->lock);
    qcow2_fast_reads_unblock(bs);
    return ok;
}

static bool qcow2_snap_delete(BlockDriverState *bs, const char *name_or_id,
                              GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    qcow2_fast_reads_block(bs);
    g_mutex_lock(&s->lock);
    bool ok = qcow2_snapshot_delete(bs, name_or_id, errp);
    g_mutex_unlock(&s->lock);
    qcow2_fast_reads_unblock(bs);
    return ok;
}

static int qcow2_snap_list(BlockDriverState *bs, BdrvSnapshotInfo **psn)
{
    BDRVQcow2State *s = bs->opaque;
    g_mutex_lock(&s->lock);
    int n = qcow2_snapshot_list(bs, psn);
    g_mutex_unlock(&s->lock);
    return n;
}

static int qcow2_check_locked(BlockDriverState *bs, BdrvCheckResult *res,
                              int fix)
{
    BDRVQcow2State *s = bs->opaque;
    g_mutex_lock(&s->lock);
    int ret = qcow2_check(bs, res, fix);
    g_mutex_unlock(&s->lock);
    return ret;
}

const BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .getlength = qcow2_getlength,
    .submit = qcow2_submit,
    .run_sync = qcow2_run_sync,
    .create = qcow2_create,
    .block_status = qcow2_block_status,
    .truncate = qcow2_truncate,
    .get_info = qcow2_get_info,
    .get_specific_info = qcow2_get_specific_info,
    .check = qcow2_check_locked,
    .amend = qcow2_amend,
    .change_backing_file = qcow2_change_backing_file,
    .make_empty = qcow2_make_empty,
    .snapshot_create = qcow2_snap_create,
    .snapshot_goto = qcow2_snap_goto,
    .snapshot_delete = qcow2_snap_delete,
    .snapshot_list = qcow2_snap_list,
    .vmstate_rw = qcow2_vmstate_rw,
    .inactivate = qcow2_inactivate,
    .activate = qcow2_activate,
};
