/*
 * The qcow2 format driver (QEMU's docs/interop/qcow2.txt, versions 2 and
 * 3): header and extensions, open-time validation, the request path with
 * copy-on-write, create, resize, amend and the dirty/corrupt bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/log.h"

#define ROUND_UP(n, d) (((n) + (d) - 1) / (d) * (d))

#define QCOW2_V2_HEADER_SIZE 72
#define QCOW2_V3_HEADER_SIZE 104        /* without compression_type */
#define QCOW2_HEADER_SIZE 112           /* what we write for v3 */
#define QCOW2_OFF_SIZE 24
#define QCOW2_OFF_INCOMPAT 72
#define QCOW2_FEATURE_NAME_LEN 46

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
static int header_build(Qcow2Header *h, const char *backing_file,
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
    ret = header_build(&h, bs->backing_file, bs->backing_format,
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

static int flush_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_cache_write(bs, s->l2_cache);
    int ret2 = qcow2_cache_write(bs, s->refcount_block_cache);
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
    ret = flush_caches(bs);
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
        !o->read_only) {
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

    if (s->read_only) {
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
    if (s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return repair_dirty(bs, errp);
    }
    return true;
}

static bool qcow2_open(BlockDriverState *bs, const char *filename,
                       const BlockOpenOptions *o, GError **errp)
{
    BDRVQcow2State *s = g_new0(BDRVQcow2State, 1);

    g_mutex_init(&s->lock);
    s->feature_table = g_ptr_array_new_with_free_func(g_free);
    s->read_only = o->read_only || bs->read_only;
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
    if (!s->read_only && !s->corrupt) {
        int ret = flush_caches(bs);
        /* clean only if every table made it to disk */
        if (ret == 0 && s->dirty_set) {
            qcow2_mark_clean(bs);
        }
    }
    g_mutex_unlock(&s->lock);
    qcow2_free_state(bs);
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

/* ---- the request path ---- */

/* A read or write of bytes at offset on node, from/to the part of the
 * vector starting iov_off bytes in. */
static int node_rw(BlockDriverState *node, BlockOp op, int64_t offset,
                   int64_t bytes, const struct iovec *iov, int iovcnt,
                   size_t iov_off)
{
    struct iovec stack[8];
    struct iovec *v = iovcnt <= 8 ? stack : g_new(struct iovec, iovcnt);
    size_t left = bytes;
    int n = 0, ret;

    for (int i = 0; i < iovcnt && left; i++) {
        if (iov_off >= iov[i].iov_len) {
            iov_off -= iov[i].iov_len;
            continue;
        }
        size_t take = MIN(iov[i].iov_len - iov_off, left);
        v[n].iov_base = (uint8_t *)iov[i].iov_base + iov_off;
        v[n].iov_len = take;
        n++;
        left -= take;
        iov_off = 0;
    }
    BlockRequest req = {
        .op = op, .offset = offset, .bytes = bytes, .iov = v, .iovcnt = n,
    };
    ret = left ? -EINVAL : bdrv_run_sync(node, &req);
    if (v != stack) {
        g_free(v);
    }
    return ret;
}

static int read_backing(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        const struct iovec *iov, int iovcnt, size_t iov_off)
{
    int64_t len;
    int64_t avail = 0;
    int ret;

    if (!bs->backing) {
        iov_memset(iov, iovcnt, iov_off, 0, bytes);
        return 0;
    }
    len = bdrv_getlength(bs->backing);
    if (len < 0) {
        return len;
    }
    /* a backing file shorter than the overlay reads as zeros past its end */
    if (offset < len) {
        avail = MIN(bytes, len - offset);
        ret = node_rw(bs->backing, BLK_OP_READ, offset, avail, iov, iovcnt,
                      iov_off);
        if (ret < 0) {
            return ret;
        }
    }
    if (bytes > avail) {
        iov_memset(iov, iovcnt, iov_off + avail, 0, bytes - avail);
    }
    return 0;
}

/* Reads the guest range as this node maps it now (also for COW). */
static int do_read(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int iovcnt, size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *cbuf = NULL;
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        uint64_t n = bytes, host;
        Qcow2SubclusterType type;

        ret = qcow2_get_host_offset(bs, offset, &n, &host, &type);
        if (ret < 0) {
            break;
        }
        ret = 0;
        switch (type) {
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            ret = read_backing(bs, offset, n, iov, iovcnt, iov_off);
            break;
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
            iov_memset(iov, iovcnt, iov_off, 0, n);
            break;
        case QCOW2_SUBCLUSTER_NORMAL: {
            int64_t file_len = bdrv_getlength(bs->file);
            /* data that starts past the end of the file is a broken
             * mapping, not zeros */
            if (file_len < 0 || host >= (uint64_t)file_len) {
                ret = -EIO;
                break;
            }
            ret = node_rw(bs->file, BLK_OP_READ, host, n, iov, iovcnt,
                          iov_off);
            break;
        }
        case QCOW2_SUBCLUSTER_COMPRESSED:
            if (!cbuf) {
                cbuf = g_malloc(s->cluster_size);
            }
            ret = qcow2_decompress_cluster(bs, host, cbuf);
            if (ret == 0) {
                iov_from_buf(iov, iovcnt, iov_off,
                             cbuf + (offset & s->cluster_mask), n);
            }
            break;
        default:
            ret = -EIO;
            break;
        }
        offset += n;
        bytes -= n;
        iov_off += n;
    }
    g_free(cbuf);
    return ret;
}

static int read_buf(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                    uint8_t *buf)
{
    struct iovec v = { buf, bytes };
    return bytes ? do_read(bs, offset, bytes, &v, 1, 0) : 0;
}

static uint64_t sc_mask(int first, int last)
{
    /* subclusters first..last inclusive, as allocation bits */
    uint64_t hi = last == 31 ? 0xffffffffULL : (1ULL << (last + 1)) - 1;
    return hi & ~((1ULL << first) - 1);
}

static int before_allocation(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    /* with lazy refcounts the dirty bit stands for the ordering */
    return s->lazy_refcounts ? qcow2_mark_dirty(bs) : 0;
}

static void l2_updated(BlockDriverState *bs, void *l2)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->lazy_refcounts) {
        qcow2_cache_set_dependency(s->l2_cache, s->refcount_block_cache);
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2);
}

/*
 * Writes into a cluster we own (COPIED): straight into place; the parts of
 * touched subclusters that held no data are filled from what they read as.
 */
static int64_t write_in_place(BlockDriverState *bs, void *l2, int idx,
                              uint64_t offset, uint64_t bytes,
                              const struct iovec *iov, int iovcnt,
                              size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t entry = qcow2_l2_entry(s, l2, idx);
    uint64_t bitmap = qcow2_l2_bitmap(s, l2, idx);
    uint64_t host = entry & L2E_OFFSET_MASK;
    uint64_t in_cluster = offset & s->cluster_mask;
    uint64_t guest_cluster = offset - in_cluster;
    uint64_t n = MIN(bytes, s->cluster_size - in_cluster);
    int first = in_cluster >> s->subcluster_bits;
    int last = (in_cluster + n - 1) >> s->subcluster_bits;
    uint64_t start = (uint64_t)first << s->subcluster_bits;
    uint64_t end = (uint64_t)(last + 1) << s->subcluster_bits;
    Qcow2SubclusterType tf = qcow2_subcluster_type(s, entry, bitmap, first);
    Qcow2SubclusterType tl = qcow2_subcluster_type(s, entry, bitmap, last);
    uint64_t cow_start = tf == QCOW2_SUBCLUSTER_NORMAL ? in_cluster : start;
    uint64_t cow_end = tl == QCOW2_SUBCLUSTER_NORMAL ? in_cluster + n : end;
    int ret;

    if (tf == QCOW2_SUBCLUSTER_INVALID || tl == QCOW2_SUBCLUSTER_INVALID) {
        return -EIO;
    }
    /* whole normal clusters that follow contiguously go in one write */
    if (tf == QCOW2_SUBCLUSTER_NORMAL && tl == QCOW2_SUBCLUSTER_NORMAL &&
        in_cluster + n == (uint64_t)s->cluster_size) {
        for (int i = idx + 1; i < s->l2_size && n < bytes; i++) {
            uint64_t e = qcow2_l2_entry(s, l2, i);
            uint64_t b = qcow2_l2_bitmap(s, l2, i);
            bool all_normal = s->extended_l2 ? b == 0xffffffffULL
                                             : !(e & QCOW_OFLAG_ZERO);
            if (!(e & QCOW_OFLAG_COPIED) || (e & QCOW_OFLAG_COMPRESSED) ||
                (e & L2E_OFFSET_MASK) !=
                host + ((uint64_t)(i - idx) << s->cluster_bits) ||
                !all_normal) {
                break;
            }
            n += MIN((uint64_t)s->cluster_size, bytes - n);
        }
        cow_end = in_cluster + n;
    }

    if (cow_start == in_cluster && cow_end == in_cluster + n) {
        ret = qcow2_pre_write_overlap_check(bs, 0, host + in_cluster, n);
        if (ret == 0) {
            ret = node_rw(bs->file, BLK_OP_WRITE, host + in_cluster, n, iov,
                          iovcnt, iov_off);
        }
    } else {
        uint8_t *buf = g_malloc(cow_end - cow_start);
        ret = read_buf(bs, guest_cluster + cow_start, in_cluster - cow_start,
                       buf);
        if (ret == 0) {
            ret = read_buf(bs, guest_cluster + in_cluster + n,
                           cow_end - in_cluster - n,
                           buf + (in_cluster + n - cow_start));
        }
        if (ret == 0) {
            iov_to_buf(iov, iovcnt, iov_off, buf + (in_cluster - cow_start),
                       n);
            ret = qcow2_pre_write_overlap_check(bs, 0, host + cow_start,
                                                cow_end - cow_start);
        }
        if (ret == 0) {
            ret = bdrv_pwrite(bs->file, host + cow_start, buf,
                              cow_end - cow_start);
        }
        g_free(buf);
    }
    if (ret < 0) {
        return ret;
    }

    /* the written subclusters hold data now */
    uint64_t new_entry = entry, new_bitmap = bitmap;
    if (s->extended_l2) {
        uint64_t m = sc_mask(first, last);
        new_bitmap = (bitmap | m) & ~(m << 32);
    } else {
        new_entry &= ~QCOW_OFLAG_ZERO;
    }
    if (new_entry != entry || new_bitmap != bitmap) {
        qcow2_set_l2_entry(s, l2, idx, new_entry);
        qcow2_set_l2_bitmap(s, l2, idx, new_bitmap);
        qcow2_cache_mark_dirty(s->l2_cache, l2);
    }
    return n;
}

static bool entry_in_place(BDRVQcow2State *s, uint64_t entry)
{
    return !(entry & QCOW_OFLAG_COMPRESSED) && (entry & QCOW_OFLAG_COPIED) &&
           (entry & L2E_OFFSET_MASK);
}

static bool entry_has_host(uint64_t entry)
{
    return (entry & QCOW_OFLAG_COMPRESSED) || (entry & L2E_OFFSET_MASK);
}

/*
 * Writes into clusters that need new host clusters: allocates a run of
 * them at once, fills the head and tail from what the old mapping reads
 * as (copy-on-write), then points the L2 entries at them and drops the
 * references the old entries held.
 */
static int64_t write_allocate(BlockDriverState *bs, void *l2, int idx,
                              uint64_t offset, uint64_t bytes,
                              const struct iovec *iov, int iovcnt,
                              size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t in_cluster = offset & s->cluster_mask;
    uint64_t guest_cluster = offset - in_cluster;
    uint64_t n = MIN(bytes, cs - in_cluster);
    int k = 1;
    int ret;

    /* following clusters the write covers that also need allocation */
    while (in_cluster + n == (uint64_t)k * cs && n < bytes &&
           idx + k < s->l2_size &&
           !entry_in_place(s, qcow2_l2_entry(s, l2, idx + k))) {
        n += MIN(cs, bytes - n);
        k++;
    }
    uint64_t old_first = qcow2_l2_entry(s, l2, idx);
    uint64_t old_last = qcow2_l2_entry(s, l2, idx + k - 1);
    uint64_t end_in_last = in_cluster + n - (uint64_t)(k - 1) * cs;
    /* extended L2 copies only the touched subclusters of a cluster with no
     * host cluster yet; anything else is copied whole */
    uint64_t cow_start = 0;
    uint64_t cow_end_last = cs;
    if (s->extended_l2 && !entry_has_host(old_first)) {
        cow_start = in_cluster & ~(uint64_t)(s->subcluster_size - 1);
    }
    if (s->extended_l2 && !entry_has_host(old_last)) {
        cow_end_last = ROUND_UP(end_in_last, (uint64_t)s->subcluster_size);
    }
    uint64_t cow_end = (uint64_t)(k - 1) * cs + cow_end_last;

    ret = before_allocation(bs);
    if (ret < 0) {
        return ret;
    }
    int64_t host = qcow2_alloc_clusters(bs, (int64_t)k * cs);
    if (host < 0) {
        return host;
    }
    uint8_t *buf = g_malloc(cow_end - cow_start);
    ret = read_buf(bs, guest_cluster + cow_start, in_cluster - cow_start, buf);
    if (ret == 0) {
        ret = read_buf(bs, guest_cluster + in_cluster + n,
                       cow_end - in_cluster - n,
                       buf + (in_cluster + n - cow_start));
    }
    if (ret == 0) {
        iov_to_buf(iov, iovcnt, iov_off, buf + (in_cluster - cow_start), n);
        ret = qcow2_pre_write_overlap_check(bs, 0, host + cow_start,
                                            cow_end - cow_start);
    }
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, host + cow_start, buf,
                          cow_end - cow_start);
    }
    g_free(buf);
    if (ret < 0) {
        qcow2_free_clusters(bs, host, (int64_t)k * cs);
        return ret;
    }

    uint64_t *old = g_new(uint64_t, k);
    for (int j = 0; j < k; j++) {
        uint64_t e = qcow2_l2_entry(s, l2, idx + j);
        uint64_t b = qcow2_l2_bitmap(s, l2, idx + j);
        old[j] = e;
        qcow2_set_l2_entry(s, l2, idx + j,
                           (host + (uint64_t)j * cs) | QCOW_OFLAG_COPIED);
        if (s->extended_l2) {
            uint64_t a = j == 0 ? cow_start : 0;
            uint64_t z = j == k - 1 ? cow_end_last : cs;
            uint64_t m = sc_mask(a >> s->subcluster_bits,
                                 (z - 1) >> s->subcluster_bits);
            /* untouched subclusters keep reading zeros or the backing */
            b = entry_has_host(e) ? 0xffffffffULL
                                  : (m | (b & ~(m << 32) & ~0xffffffffULL));
            qcow2_set_l2_bitmap(s, l2, idx + j, b);
        }
    }
    l2_updated(bs, l2);
    for (int j = 0; j < k; j++) {
        if (entry_has_host(old[j])) {
            /* the new L2 entry reaches the disk before the old cluster's
             * refcount drops */
            qcow2_cache_set_dependency(s->refcount_block_cache, s->l2_cache);
            qcow2_free_any_cluster(bs, old[j]);
        }
    }
    g_free(old);
    return n;
}

static int do_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int iovcnt, size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;

    while (bytes > 0) {
        void *l2;
        int idx;
        int64_t n;
        int ret = qcow2_l2_get_for_write(bs, offset, &l2, &idx);
        if (ret < 0) {
            return ret;
        }
        uint64_t entry = qcow2_l2_entry(s, l2, idx);
        if (entry_in_place(s, entry) &&
            ((entry & L2E_OFFSET_MASK) & s->cluster_mask)) {
            qcow2_cache_put(s->l2_cache, &l2);
            return qcow2_signal_corruption(bs, "Cluster allocation offset %#"
                                           PRIx64 " unaligned (L2 index: "
                                           "%#x)", (uint64_t)(entry & L2E_OFFSET_MASK),
                                           idx);
        }
        if (entry_in_place(s, entry)) {
            n = write_in_place(bs, l2, idx, offset, bytes, iov, iovcnt,
                               iov_off);
        } else {
            n = write_allocate(bs, l2, idx, offset, bytes, iov, iovcnt,
                               iov_off);
        }
        qcow2_cache_put(s->l2_cache, &l2);
        if (n < 0) {
            return n;
        }
        offset += n;
        bytes -= n;
        iov_off += n;
    }
    return 0;
}

static int write_zero_buffer(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    size_t chunk = MAX((size_t)s->cluster_size, 1024 * 1024);
    uint8_t *zeros = g_malloc0(MIN(chunk, bytes));
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        uint64_t n = MIN(bytes, chunk);
        struct iovec v = { zeros, n };
        ret = do_write(bs, offset, n, &v, 1, 0);
        offset += n;
        bytes -= n;
    }
    g_free(zeros);
    return ret;
}

/* BLK_OP_ZEROES: zero flags where whole (sub)clusters are covered */
static int do_write_zeroes(BlockDriverState *bs, uint64_t offset,
                           uint64_t bytes, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t end = offset + bytes;
    uint64_t cstart = ROUND_UP(offset, cs);
    uint64_t cend = end / cs * cs;
    bool may_unmap = flags & BLK_ZERO_MAY_UNMAP;
    int ret;

    /* the last cluster of the disk counts as whole */
    if (end == s->h.size) {
        cend = ROUND_UP(end, cs);
    }
    if (cstart >= cend) {
        cstart = cend = offset;     /* no whole cluster */
    }
    if (s->h.version < 3) {
        /* no zero flag: only unallocating gives zeros, without a
         * backing file; everything else is written */
        if (bs->backing || !may_unmap || cstart == cend) {
            return write_zero_buffer(bs, offset, bytes);
        }
        ret = write_zero_buffer(bs, offset, cstart - offset);
        if (ret == 0) {
            ret = qcow2_cluster_discard(bs, cstart, cend - cstart, true);
        }
        if (ret == 0) {
            ret = write_zero_buffer(bs, cend, end - MIN(end, cend));
        }
        return ret;
    }

    /* partial clusters at either end */
    uint64_t pieces[2][2] = {
        { offset, cstart }, { MAX(cend, offset), end },
    };
    if (cstart < cend) {
        ret = qcow2_cluster_zeroize(bs, cstart, cend - cstart, may_unmap);
        if (ret < 0) {
            return ret;
        }
    } else {
        pieces[0][1] = end;
        pieces[1][0] = pieces[1][1] = end;
    }
    for (int i = 0; i < 2; i++) {
        uint64_t a = pieces[i][0], b = pieces[i][1];
        uint64_t scs = s->subcluster_size;
        while (a < b) {
            uint64_t ce = MIN(b, (a / cs + 1) * cs);
            uint64_t sa = ROUND_UP(a, scs), sb = ce / scs * scs;
            if (ce == s->h.size) {
                sb = ROUND_UP(ce, scs);
            }
            if (s->extended_l2 && sa < sb) {
                ret = write_zero_buffer(bs, a, sa - a);
                if (ret == 0) {
                    ret = qcow2_subclusters_zeroize(bs, sa, sb - sa);
                    if (ret == -ENOTSUP) {
                        ret = write_zero_buffer(bs, sa, MIN(sb, ce) - sa);
                    }
                }
                if (ret == 0 && sb < ce) {
                    ret = write_zero_buffer(bs, sb, ce - sb);
                }
            } else {
                ret = write_zero_buffer(bs, a, ce - a);
            }
            if (ret < 0) {
                return ret;
            }
            a = ce;
        }
    }
    return 0;
}

static int do_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t start = ROUND_UP(offset, cs);
    uint64_t end = offset + bytes;

    /* discard is advisory: partial clusters stay, except the last one of
     * the disk */
    end = end == s->h.size ? ROUND_UP(end, cs) : end / cs * cs;
    if (start >= end) {
        return 0;
    }
    return qcow2_cluster_discard(bs, start, end - start, false);
}

/* BLK_REQ_WRITE_COMPRESSED: one cluster stored compressed if that helps */
static int write_compressed_cluster(BlockDriverState *bs, uint64_t offset,
                                    const uint8_t *data)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *out = g_malloc(s->cluster_size);
    int64_t len = qcow2_compress_cluster(s, out, s->cluster_size - 1, data,
                                         s->cluster_size);
    int ret;

    if (len == -ENOSPC) {
        /* incompressible: stored as a normal cluster */
        struct iovec v = { (void *)data, s->cluster_size };
        g_free(out);
        return do_write(bs, offset, s->cluster_size, &v, 1, 0);
    }
    if (len < 0) {
        g_free(out);
        return len;
    }
    void *l2;
    int idx;
    ret = qcow2_l2_get_for_write(bs, offset, &l2, &idx);
    if (ret < 0) {
        g_free(out);
        return ret;
    }
    ret = before_allocation(bs);
    int64_t host = ret < 0 ? ret : qcow2_alloc_bytes(bs, len);
    if (host < 0) {
        ret = host;
        goto out;
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, host, len);
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, host, out, len);
    }
    if (ret < 0) {
        qcow2_free_clusters(bs, host, len);
        goto out;
    }
    uint64_t old = qcow2_l2_entry(s, l2, idx);
    uint64_t nb_csectors = ((host + len - 1) >> 9) - (host >> 9);
    qcow2_set_l2_entry(s, l2, idx, host | QCOW_OFLAG_COMPRESSED |
                       (nb_csectors << s->csize_shift));
    qcow2_set_l2_bitmap(s, l2, idx, 0);
    l2_updated(bs, l2);
    if (entry_has_host(old)) {
        qcow2_cache_set_dependency(s->refcount_block_cache, s->l2_cache);
        qcow2_free_any_cluster(bs, old);
    }
out:
    qcow2_cache_put(s->l2_cache, &l2);
    g_free(out);
    return ret;
}

static int do_write_compressed(BlockDriverState *bs, uint64_t offset,
                               uint64_t bytes, const struct iovec *iov,
                               int iovcnt)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint8_t *buf;
    int ret = 0;

    /* whole clusters; a short last cluster of the disk is padded */
    if ((offset & s->cluster_mask) ||
        ((bytes & s->cluster_mask) && offset + bytes != s->h.size)) {
        return -EINVAL;
    }
    buf = g_malloc(cs);
    for (uint64_t done = 0; done < bytes && ret == 0; done += cs) {
        uint64_t n = MIN(cs, bytes - done);
        memset(buf + n, 0, cs - n);
        iov_to_buf(iov, iovcnt, done, buf, n);
        ret = write_compressed_cluster(bs, offset + done, buf);
    }
    g_free(buf);
    return ret;
}

static int qcow2_run_locked(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = s->h.size;
    uint64_t offset = req->offset, bytes = req->bytes;
    int ret;

    if (s->corrupt) {
        return -EIO;
    }
    if (req->op != BLK_OP_FLUSH && req->op != BLK_OP_READ &&
        s->read_only) {
        return -EPERM;
    }
    if (req->op != BLK_OP_FLUSH &&
        (req->offset < 0 || req->bytes < 0 ||
         (req->op != BLK_OP_READ && req->op != BLK_OP_DISCARD &&
          offset + bytes > size))) {
        return -EIO;
    }
    switch (req->op) {
    case BLK_OP_READ: {
        uint64_t in = offset >= size ? 0 : MIN(bytes, size - offset);
        ret = do_read(bs, offset, in, req->iov, req->iovcnt, 0);
        if (ret == 0 && in < bytes) {
            iov_memset(req->iov, req->iovcnt, in, 0, bytes - in);
        }
        return ret;
    }
    case BLK_OP_WRITE:
        if (req->flags & BLK_REQ_WRITE_COMPRESSED) {
            ret = do_write_compressed(bs, offset, bytes, req->iov,
                                      req->iovcnt);
        } else {
            ret = do_write(bs, offset, bytes, req->iov, req->iovcnt, 0);
        }
        break;
    case BLK_OP_ZEROES:
        ret = do_write_zeroes(bs, offset, bytes, req->flags);
        break;
    case BLK_OP_DISCARD:
        if (offset >= size) {
            return 0;
        }
        ret = do_discard(bs, offset, MIN(bytes, size - offset));
        break;
    case BLK_OP_FLUSH:
        return s->read_only ? 0 : flush_caches(bs);
    default:
        return -EINVAL;
    }
    if (ret == 0 && (req->flags & BLK_REQ_FUA)) {
        ret = flush_caches(bs);
    }
    return ret;
}

static int qcow2_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->lock);
    ret = qcow2_run_locked(bs, req);
    g_mutex_unlock(&s->lock);
    return ret;
}

static void qcow2_submit(BlockDriverState *bs, BlockRequest *req)
{
    block_run_in_pool(bs, req);
}

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
            if (entry_has_host(qcow2_l2_entry(s, l2, idx))) {
                idx++;
                off += cs;
                continue;
            }
            int r = 1;
            while (idx + r < last &&
                   !entry_has_host(qcow2_l2_entry(s, l2, idx + r))) {
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
            l2_updated(bs, l2);
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
        ret = flush_caches(bs);
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
    if (header_build(h, p->backing_file, p->backing_fmt, NULL, 0, buf,
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

static bool qcow2_create(const char *filename, int64_t size, Opts *opts,
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
            ret = flush_caches(bs);
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
        ret = tail_end > old ? write_zero_buffer(bs, old, tail_end - old) : 0;
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
    ret = flush_caches(bs);
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

static bool qcow2_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                           PreallocMode prealloc, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool ok;

    g_mutex_lock(&s->lock);
    ok = truncate_locked(bs, offset, shrink, prealloc, errp);
    g_mutex_unlock(&s->lock);
    return ok;
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

static int change_backing_locked(BlockDriverState *bs, const char *file,
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
    ret = s->read_only ? -EPERM : change_backing_locked(bs, file, fmt);
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
            ret = flush_caches(bs);
        }
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

/* compat=0.10: zero clusters have no v2 encoding, so they become real
 * zeros (or unallocated clusters, without a backing file) first */
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
            ret = write_zero_buffer(bs, off, MIN(cs, s->h.size - off));
        }
        if (ret < 0) {
            return ret;
        }
    }
    return flush_caches(bs);
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
        int ret = change_backing_locked(bs, file, bfmt ? bfmt
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
    return flush_caches(bs) == 0;
}

static bool qcow2_amend(BlockDriverState *bs, Opts *opts, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool ok;

    g_mutex_lock(&s->lock);
    ok = amend_locked(bs, opts, errp);
    g_mutex_unlock(&s->lock);
    return ok;
}

/* ---- snapshots and check, under the request lock ---- */

static bool qcow2_snap_create(BlockDriverState *bs, const char *name,
                              GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_mutex_lock(&s->lock);
    bool ok = qcow2_snapshot_create(bs, name, errp);
    g_mutex_unlock(&s->lock);
    return ok;
}

static bool qcow2_snap_goto(BlockDriverState *bs, const char *name_or_id,
                            GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_mutex_lock(&s->lock);
    bool ok = qcow2_snapshot_goto(bs, name_or_id, errp);
    g_mutex_unlock(&s->lock);
    return ok;
}

static bool qcow2_snap_delete(BlockDriverState *bs, const char *name_or_id,
                              GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_mutex_lock(&s->lock);
    bool ok = qcow2_snapshot_delete(bs, name_or_id, errp);
    g_mutex_unlock(&s->lock);
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
};
