/*
 * qcow2 guest-to-host mapping (docs/interop/qcow2.txt, "Cluster mapping"):
 * the L1/L2 lookup with (extended L2) subclusters, L2 allocation with
 * copy-on-write, compressed clusters, zero/discard, block_status, resize.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "block/qcow2.h"

/* Compressed data is counted in 512-byte sectors ("Compressed Clusters
 * Descriptor") */
#define QCOW2_COMPRESSED_SECTOR_SIZE 512

#define ROUND_UP(n, d) (((n) + (d) - 1) / (d) * (d))

uint64_t qcow2_l2_entry(BDRVQcow2State *s, const void *l2_table, int idx)
{
    const uint8_t *p = l2_table;
    return qcow2_be64(p + (size_t)idx * s->l2_entry_size);
}

uint64_t qcow2_l2_bitmap(BDRVQcow2State *s, const void *l2_table, int idx)
{
    const uint8_t *p = l2_table;
    if (!s->extended_l2) {
        return 0;
    }
    return qcow2_be64(p + (size_t)idx * s->l2_entry_size + 8);
}

void qcow2_set_l2_entry(BDRVQcow2State *s, void *l2_table, int idx,
                        uint64_t entry)
{
    uint8_t *p = l2_table;
    qcow2_put_be64(p + (size_t)idx * s->l2_entry_size, entry);
}

void qcow2_set_l2_bitmap(BDRVQcow2State *s, void *l2_table, int idx,
                         uint64_t bitmap)
{
    uint8_t *p = l2_table;
    if (s->extended_l2) {
        qcow2_put_be64(p + (size_t)idx * s->l2_entry_size + 8, bitmap);
    }
}

void qcow2_parse_compressed_l2_entry(BDRVQcow2State *s, uint64_t l2_entry,
                                     uint64_t *coffset, int *csize)
{
    uint64_t nb_sectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;

    *coffset = l2_entry & s->cluster_offset_mask;
    /* the data starts inside its first sector */
    *csize = nb_sectors * QCOW2_COMPRESSED_SECTOR_SIZE -
             (*coffset & (QCOW2_COMPRESSED_SECTOR_SIZE - 1));
}

Qcow2SubclusterType qcow2_subcluster_type(BDRVQcow2State *s, uint64_t entry,
                                          uint64_t bitmap, int sc)
{
    uint64_t host = entry & L2E_OFFSET_MASK;

    if (entry & QCOW_OFLAG_COMPRESSED) {
        /* extended L2: the bitmap of a compressed cluster is reserved */
        return s->extended_l2 && bitmap ? QCOW2_SUBCLUSTER_INVALID
                                        : QCOW2_SUBCLUSTER_COMPRESSED;
    }
    if (s->extended_l2) {
        bool alloc = bitmap & (1ULL << sc);
        bool zero = bitmap & (1ULL << (32 + sc));
        if (alloc && zero) {
            return QCOW2_SUBCLUSTER_INVALID;
        }
        if (zero) {
            return host ? QCOW2_SUBCLUSTER_ZERO_ALLOC
                        : QCOW2_SUBCLUSTER_ZERO_PLAIN;
        }
        if (alloc) {
            return host ? QCOW2_SUBCLUSTER_NORMAL : QCOW2_SUBCLUSTER_INVALID;
        }
        return host ? QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC
                    : QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
    }
    if (entry & QCOW_OFLAG_ZERO) {
        return host ? QCOW2_SUBCLUSTER_ZERO_ALLOC
                    : QCOW2_SUBCLUSTER_ZERO_PLAIN;
    }
    return host ? QCOW2_SUBCLUSTER_NORMAL
                : QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
}

static bool type_has_host(Qcow2SubclusterType t)
{
    return t == QCOW2_SUBCLUSTER_NORMAL || t == QCOW2_SUBCLUSTER_ZERO_ALLOC ||
           t == QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC;
}

/*
 * The L2 table that L1 entry l1_index points to, from the cache; *table
 * NULL when the entry is empty. Unaligned offsets are corruption; a table
 * past the end of the file is an I/O error.
 */
int qcow2_l2_load(BlockDriverState *bs, uint64_t l1_index, void **table)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_offset;

    *table = NULL;
    if (l1_index >= s->l1_size) {
        return 0;
    }
    l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (!l2_offset) {
        return 0;
    }
    if (l2_offset & s->cluster_mask) {
        return qcow2_signal_corruption(bs, "L2 table offset %#" PRIx64
                                       " unaligned (L1 index: %#" PRIx64 ")",
                                       l2_offset, l1_index);
    }
    /* a table past the end of the file (written tables are always in
     * it: a new one is flushed before the L1 entry points at it) */
    if (!qcow2_offset_in_file(bs, l2_offset)) {
        return -EIO;
    }
    return qcow2_cache_get(bs, s->l2_cache, l2_offset, table);
}

bool qcow2_offset_in_file(BlockDriverState *bs, uint64_t offset)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset < s->file_end_seen) {
        return true;
    }
    int64_t len = bdrv_getlength(bs->file);
    if (len > 0 && (uint64_t)len > s->file_end_seen) {
        s->file_end_seen = len;
    }
    return offset < s->file_end_seen;
}

int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          uint64_t *bytes, uint64_t *host_offset,
                          Qcow2SubclusterType *type)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t in_cluster = offset & s->cluster_mask;
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    int l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    int nb_sc = s->cluster_size >> s->subcluster_bits;
    int sc = in_cluster >> s->subcluster_bits;
    uint64_t avail = ((uint64_t)(s->l2_size - l2_index) << s->cluster_bits) -
                     in_cluster;
    uint64_t want = MIN(*bytes, avail);
    uint64_t entry, bitmap, host_cluster = 0, covered;
    Qcow2SubclusterType t;
    void *l2;
    int ret;

    *host_offset = 0;
    ret = qcow2_l2_load(bs, l1_index, &l2);
    if (ret < 0) {
        return ret;
    }
    if (!l2) {
        *type = QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
        *bytes = want;
        return *type;
    }

    entry = qcow2_l2_entry(s, l2, l2_index);
    bitmap = qcow2_l2_bitmap(s, l2, l2_index);
    t = qcow2_subcluster_type(s, entry, bitmap, sc);
    uint64_t l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (t == QCOW2_SUBCLUSTER_INVALID) {
        qcow2_cache_put(s->l2_cache, &l2);
        return qcow2_signal_corruption(bs, "Invalid cluster entry found "
                                       "(L2 offset: %#" PRIx64
                                       ", L2 index: %#x)",
                                       l2_offset, l2_index);
    }
    if ((t == QCOW2_SUBCLUSTER_ZERO_PLAIN ||
         t == QCOW2_SUBCLUSTER_ZERO_ALLOC) && s->h.version < 3) {
        qcow2_cache_put(s->l2_cache, &l2);
        return qcow2_signal_corruption(bs, "Zero cluster entry found in "
                                       "pre-v3 image (L2 offset: %#" PRIx64
                                       ", L2 index: %#x)",
                                       l2_offset, l2_index);
    }
    if (type_has_host(t)) {
        host_cluster = entry & L2E_OFFSET_MASK;
        if (host_cluster & s->cluster_mask) {
            qcow2_cache_put(s->l2_cache, &l2);
            return qcow2_signal_corruption(bs, "Cluster allocation offset %#"
                                           PRIx64 " unaligned (L2 offset: %#"
                                           PRIx64 ", L2 index: %#x)",
                                           host_cluster, l2_offset, l2_index);
        }
        *host_offset = host_cluster + in_cluster;
    } else if (t == QCOW2_SUBCLUSTER_COMPRESSED) {
        *host_offset = entry;
    }

    /* how far the same kind of mapping goes, one subcluster at a time */
    covered = ((uint64_t)(sc + 1) << s->subcluster_bits) - in_cluster;
    if (t != QCOW2_SUBCLUSTER_COMPRESSED) {
        int i = l2_index;
        while (covered < want) {
            if (++sc == nb_sc) {
                sc = 0;
                i++;
                entry = qcow2_l2_entry(s, l2, i);
                bitmap = qcow2_l2_bitmap(s, l2, i);
                if (type_has_host(t) &&
                    (entry & L2E_OFFSET_MASK) !=
                    host_cluster + ((uint64_t)(i - l2_index) <<
                                    s->cluster_bits)) {
                    break;
                }
            }
            if (qcow2_subcluster_type(s, entry, bitmap, sc) != t) {
                break;
            }
            covered += s->subcluster_size;
        }
    }
    qcow2_cache_put(s->l2_cache, &l2);
    *bytes = MIN(covered, want);
    *type = t;
    return t;
}

/* ---- compressed clusters ---- */

/*
 * Each thread keeps its (de)compression state from one cluster to the
 * next: setting up deflate allocates and clears ~270 KiB, which per
 * cluster costs more in page faults than compressing it. The state is
 * freed when the thread exits.
 */
typedef struct CodecState {
    z_stream deflate;
    bool deflate_ready;
    z_stream inflate;
    bool inflate_ready;
    ZSTD_CCtx *zstd_c;
    ZSTD_DCtx *zstd_d;
} CodecState;

static void codec_state_free(gpointer p)
{
    CodecState *c = p;

    if (c->deflate_ready) {
        deflateEnd(&c->deflate);
    }
    if (c->inflate_ready) {
        inflateEnd(&c->inflate);
    }
    ZSTD_freeCCtx(c->zstd_c);
    ZSTD_freeDCtx(c->zstd_d);
    g_free(c);
}

static GPrivate codec_key = G_PRIVATE_INIT(codec_state_free);

static CodecState *codec_state(void)
{
    CodecState *c = g_private_get(&codec_key);

    if (!c) {
        c = g_new0(CodecState, 1);
        g_private_set(&codec_key, c);
    }
    return c;
}

static int zlib_decompress(uint8_t *out, size_t out_len, const uint8_t *in,
                           size_t in_len)
{
    CodecState *c = codec_state();
    z_stream *z = &c->inflate;
    int ret;

    /* raw deflate with a 4 KiB window, as the spec says */
    if (c->inflate_ready) {
        if (inflateReset(z) != Z_OK) {
            return -EIO;
        }
    } else {
        memset(z, 0, sizeof(*z));
        if (inflateInit2(z, -12) != Z_OK) {
            return -EIO;
        }
        c->inflate_ready = true;
    }
    z->next_in = (Bytef *)in;
    z->avail_in = in_len;
    z->next_out = out;
    z->avail_out = out_len;
    ret = inflate(z, Z_FINISH);
    /* the stored size is rounded to sectors: trailing bytes are normal,
     * but the cluster must come out whole */
    bool ok = (ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z->avail_out == 0;
    return ok ? 0 : -EIO;
}

static int zstd_decompress(uint8_t *out, size_t out_len, const uint8_t *in,
                           size_t in_len)
{
    CodecState *c = codec_state();
    ZSTD_inBuffer ib = { in, in_len, 0 };
    ZSTD_outBuffer ob = { out, out_len, 0 };

    if (!c->zstd_d && !(c->zstd_d = ZSTD_createDCtx())) {
        return -ENOMEM;
    }
    /* a fresh frame, whatever the last call left behind */
    if (ZSTD_isError(ZSTD_DCtx_reset(c->zstd_d,
                                     ZSTD_reset_session_only))) {
        return -EIO;
    }
    /* streaming: the input may hold trailing bytes after the frame */
    while (ob.pos < ob.size) {
        size_t in_pos = ib.pos, out_pos = ob.pos;
        size_t r = ZSTD_decompressStream(c->zstd_d, &ob, &ib);
        if (ZSTD_isError(r) || (ib.pos == in_pos && ob.pos == out_pos)) {
            return -EIO;
        }
    }
    return 0;
}

int qcow2_decompress_cluster(BlockDriverState *bs, uint64_t l2_entry,
                             uint8_t *out)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset;
    int csize;
    int64_t file_len = bdrv_getlength(bs->file);
    int ret;

    if (file_len < 0) {
        return file_len;
    }
    qcow2_parse_compressed_l2_entry(s, l2_entry, &coffset, &csize);
    if (csize <= 0 || coffset >= (uint64_t)file_len) {
        return -EIO;
    }
    /* the last compressed cluster may end inside its last sector, before
     * the descriptor's sector count says */
    size_t len = MIN((uint64_t)csize, (uint64_t)file_len - coffset);
    uint8_t *buf = g_malloc(len);
    ret = bdrv_pread(bs->file, coffset, buf, len);
    if (ret == 0) {
        if (s->compression_type == QCOW2_COMPRESSION_ZSTD) {
            ret = zstd_decompress(out, s->cluster_size, buf, len);
        } else {
            ret = zlib_decompress(out, s->cluster_size, buf, len);
        }
    }
    g_free(buf);
    return ret;
}

/* Needs nothing from s but the compression type, and no lock: writers
 * compress before they take s->lock. */
int64_t qcow2_compress_cluster(BDRVQcow2State *s, uint8_t *out,
                               size_t out_cap, const uint8_t *in,
                               size_t in_len)
{
    CodecState *c = codec_state();

    if (s->compression_type == QCOW2_COMPRESSION_ZSTD) {
        if (!c->zstd_c && !(c->zstd_c = ZSTD_createCCtx())) {
            return -ENOMEM;
        }
        size_t r = ZSTD_compressCCtx(c->zstd_c, out, out_cap, in, in_len,
                                     ZSTD_CLEVEL_DEFAULT);
        if (ZSTD_isError(r)) {
            return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall
                   ? -ENOSPC : -EIO;
        }
        return r;
    }

    z_stream *z = &c->deflate;
    int ret;
    if (c->deflate_ready) {
        if (deflateReset(z) != Z_OK) {
            return -EIO;
        }
    } else {
        memset(z, 0, sizeof(*z));
        if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            return -EIO;
        }
        c->deflate_ready = true;
    }
    z->next_in = (Bytef *)in;
    z->avail_in = in_len;
    z->next_out = out;
    z->avail_out = out_cap;
    ret = deflate(z, Z_FINISH);
    int64_t len = out_cap - z->avail_out;
    if (ret != Z_STREAM_END) {
        return ret == Z_OK || ret == Z_BUF_ERROR ? -ENOSPC : -EIO;
    }
    return len;
}

/* ---- the L1 table ---- */

int qcow2_write_l1_entry(BlockDriverState *bs, uint64_t l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    /* the 512-byte block around the entry, which O_DIRECT writes whole */
    uint64_t start = l1_index & ~(uint64_t)63;
    uint64_t n = MIN((uint64_t)64, s->l1_size - start);
    uint64_t buf[64];
    int ret;

    for (uint64_t i = 0; i < n; i++) {
        qcow2_put_be64(&buf[i], s->l1_table[start + i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset + start * 8,
                                        n * 8);
    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file, BLKDBG_L1_UPDATE);
    return bdrv_pwrite(bs->file, s->l1_table_offset + start * 8, buf, n * 8);
}

int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_offset = s->l1_table_offset;
    uint32_t old_size = s->l1_size;
    uint64_t bytes, *new_table;
    uint8_t hdr[12];
    int64_t new_offset;
    int ret;

    if (min_size <= s->l1_size) {
        return 0;
    }
    if (min_size > QCOW2_MAX_L1_SIZE / 8) {
        return -EFBIG;
    }
    bytes = ROUND_UP(min_size * 8, (uint64_t)s->cluster_size);
    new_table = g_malloc0(bytes);
    memcpy(new_table, s->l1_table, (size_t)s->l1_size * 8);

    /* the new table's refcounts on disk before anything points at it */
    new_offset = qcow2_alloc_clusters(bs, bytes);
    if (new_offset < 0) {
        g_free(new_table);
        return new_offset;
    }
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail;
    }
    uint8_t *disk = g_malloc0(bytes);
    for (uint64_t i = 0; i < s->l1_size; i++) {
        qcow2_put_be64(disk + i * 8, new_table[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, new_offset, bytes);
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, new_offset, disk, bytes);
    }
    g_free(disk);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        goto fail;
    }

    /* l1_size (offset 36) and l1_table_offset (40) in one write */
    hdr[0] = min_size >> 24;
    hdr[1] = min_size >> 16;
    hdr[2] = min_size >> 8;
    hdr[3] = min_size;
    qcow2_put_be64(hdr + 4, new_offset);
    ret = bdrv_pwrite(bs->file, 36, hdr, sizeof(hdr));
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        goto fail;
    }
    g_free(s->l1_table);
    s->l1_table = new_table;
    s->l1_size = min_size;
    s->l1_table_offset = new_offset;
    s->h.l1_size = min_size;
    s->h.l1_table_offset = new_offset;
    if (old_offset && old_size) {
        qcow2_free_clusters(bs, old_offset, (int64_t)old_size * 8);
    }
    return 0;

fail:
    g_free(new_table);
    qcow2_free_clusters(bs, new_offset, bytes);
    return ret;
}

/* ---- L2 tables for writing ---- */

/*
 * The L2 table covering offset, owned by the active L1 alone (COPIED):
 * allocated when the L1 entry is empty, copied when it is shared with a
 * snapshot. *l2_index is the entry of offset. Put the table back after.
 */
int qcow2_l2_get_for_write(BlockDriverState *bs, uint64_t offset,
                           void **table, int *l2_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    uint64_t l1e, old_offset;
    int64_t new_offset;
    void *old = NULL;
    int ret;

    *table = NULL;
    *l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    if (l1_index >= s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_index + 1);
        if (ret < 0) {
            return ret;
        }
    }
    l1e = s->l1_table[l1_index];
    old_offset = l1e & L1E_OFFSET_MASK;
    if (old_offset & s->cluster_mask) {
        return qcow2_signal_corruption(bs, "L2 table offset %#" PRIx64
                                       " unaligned (L1 index: %#" PRIx64 ")",
                                       old_offset, l1_index);
    }
    /* a table past the end of the file would be written back there */
    if (old_offset && !qcow2_offset_in_file(bs, old_offset)) {
        return qcow2_signal_corruption(bs, "L2 table offset %#" PRIx64
                                       " is past the end of the image file "
                                       "(L1 index: %#" PRIx64 ")",
                                       old_offset, l1_index);
    }
    if (old_offset && (l1e & QCOW_OFLAG_COPIED)) {
        return qcow2_cache_get(bs, s->l2_cache, old_offset, table);
    }

    if (old_offset) {
        ret = qcow2_cache_get(bs, s->l2_cache, old_offset, &old);
        if (ret < 0) {
            return ret;
        }
    }
    new_offset = qcow2_alloc_clusters(bs, s->cluster_size);
    if (new_offset < 0) {
        if (old) {
            qcow2_cache_put(s->l2_cache, &old);
        }
        return new_offset;
    }
    ret = qcow2_cache_get_empty(bs, s->l2_cache, new_offset, table);
    if (ret < 0) {
        if (old) {
            qcow2_cache_put(s->l2_cache, &old);
        }
        qcow2_free_clusters(bs, new_offset, s->cluster_size);
        return ret;
    }
    if (old) {
        memcpy(*table, old, s->cluster_size);
        qcow2_cache_put(s->l2_cache, &old);
    } else {
        memset(*table, 0, s->cluster_size);
    }
    qcow2_cache_mark_dirty(s->l2_cache, *table);

    /* refcount, then the table, then the L1 entry that points at it */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret == 0) {
        bdrv_debug_event(bs->file, BLKDBG_L2_ALLOC_WRITE);
        ret = qcow2_cache_flush(bs, s->l2_cache);
    }
    if (ret == 0) {
        s->l1_table[l1_index] = new_offset | QCOW_OFLAG_COPIED;
        ret = qcow2_write_l1_entry(bs, l1_index);
        if (ret < 0) {
            s->l1_table[l1_index] = l1e;
        }
    }
    if (ret < 0) {
        qcow2_cache_put(s->l2_cache, table);
        qcow2_cache_discard(s->l2_cache, new_offset);
        qcow2_free_clusters(bs, new_offset, s->cluster_size);
        return ret;
    }
    if (old_offset) {
        /* the snapshot keeps the old table; we drop our reference */
        qcow2_free_clusters(bs, old_offset, s->cluster_size);
    }
    return 0;
}

/* ---- zero and discard ---- */

#define L2_BITMAP_ALL_ZEROES 0xffffffff00000000ULL

/* Points the active L2 entry at nothing (full) or zeros, freeing what it
 * referenced. */
static void discard_entry(BlockDriverState *bs, void *l2, int idx,
                          bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old = qcow2_l2_entry(s, l2, idx);
    uint64_t old_bitmap = qcow2_l2_bitmap(s, l2, idx);
    uint64_t entry = 0, bitmap = 0;

    if (!full_discard && (bs->backing || (old & L2E_OFFSET_MASK) ||
                          (old & QCOW_OFLAG_COMPRESSED))) {
        /* reads must give zeros, not the backing file: the zero flag on
         * v3; v2 has none, so its clusters fall back to the backing file
         * as QEMU's do */
        if (s->extended_l2) {
            bitmap = L2_BITMAP_ALL_ZEROES;
        } else if (s->h.version >= 3) {
            entry = QCOW_OFLAG_ZERO;
        }
    }
    if (entry == old && bitmap == old_bitmap) {
        return;
    }
    qcow2_set_l2_entry(s, l2, idx, entry);
    qcow2_set_l2_bitmap(s, l2, idx, bitmap);
    qcow2_cache_mark_dirty(s->l2_cache, l2);
    if ((old & L2E_OFFSET_MASK) || (old & QCOW_OFLAG_COMPRESSED)) {
        /* the L2 entry is on disk before the refcount drop */
        qcow2_cache_set_dependency(s->refcount_block_cache, s->l2_cache);
        qcow2_free_any_cluster(bs, old);
    }
}

/* Calls fn on every whole cluster of [offset, offset + bytes), one L2
 * table at a time, with the table ready for writing. */
static int for_each_cluster(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, bool skip_unallocated_l1,
                            void (*fn)(BlockDriverState *bs, void *l2,
                                       int idx, void *opaque),
                            void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = offset + bytes;

    while (offset < end) {
        uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
        uint64_t table_end = (l1_index + 1) << (s->l2_bits + s->cluster_bits);
        uint64_t n = MIN(end, table_end) - offset;
        void *l2;
        int idx, ret;

        if (skip_unallocated_l1 &&
            (l1_index >= s->l1_size ||
             !(s->l1_table[l1_index] & L1E_OFFSET_MASK))) {
            offset += n;
            continue;
        }
        ret = qcow2_l2_get_for_write(bs, offset, &l2, &idx);
        if (ret < 0) {
            return ret;
        }
        for (uint64_t i = 0; i < (n >> s->cluster_bits); i++) {
            fn(bs, l2, idx + i, opaque);
        }
        qcow2_cache_put(s->l2_cache, &l2);
        offset += n;
    }
    return 0;
}

static void discard_fn(BlockDriverState *bs, void *l2, int idx, void *opaque)
{
    discard_entry(bs, l2, idx, *(bool *)opaque);
}

int qcow2_cluster_discard(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;

    if ((offset | bytes) & s->cluster_mask) {
        return -EINVAL;
    }
    /* an empty L1 entry already reads as unallocated; with a backing file
     * a zero discard must still write zero flags there */
    return for_each_cluster(bs, offset, bytes,
                            full_discard || !bs->backing, discard_fn,
                            &full_discard);
}

static void zeroize_fn(BlockDriverState *bs, void *l2, int idx, void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    bool may_unmap = *(bool *)opaque;
    uint64_t old = qcow2_l2_entry(s, l2, idx);
    uint64_t old_bitmap = qcow2_l2_bitmap(s, l2, idx);

    /* a compressed cluster cannot carry the zero flag: always unmapped */
    if (may_unmap || (old & QCOW_OFLAG_COMPRESSED)) {
        discard_entry(bs, l2, idx, false);
        /* without a backing file discard_entry may leave it unallocated,
         * which reads as zeros too */
        return;
    }
    uint64_t entry = old, bitmap = old_bitmap;
    if (s->extended_l2) {
        bitmap = L2_BITMAP_ALL_ZEROES;
    } else {
        entry |= QCOW_OFLAG_ZERO;
    }
    if (entry != old || bitmap != old_bitmap) {
        qcow2_set_l2_entry(s, l2, idx, entry);
        qcow2_set_l2_bitmap(s, l2, idx, bitmap);
        qcow2_cache_mark_dirty(s->l2_cache, l2);
    }
}

int qcow2_cluster_zeroize(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, bool may_unmap)
{
    BDRVQcow2State *s = bs->opaque;

    if ((offset | bytes) & s->cluster_mask) {
        return -EINVAL;
    }
    return for_each_cluster(bs, offset, bytes, false, zeroize_fn,
                            &may_unmap);
}

/*
 * Extended L2: marks subclusters [first, first + n) of one cluster as
 * reading zeros, keeping the host cluster (the subclusters of a cluster
 * cannot be unmapped one by one).
 */
int qcow2_subclusters_zeroize(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int first = (offset & s->cluster_mask) >> s->subcluster_bits;
    int n = bytes >> s->subcluster_bits;
    uint64_t mask = ((n == 32 ? 0x100000000ULL : (1ULL << n)) - 1) << first;
    void *l2;
    int idx, ret;

    ret = qcow2_l2_get_for_write(bs, offset, &l2, &idx);
    if (ret < 0) {
        return ret;
    }
    uint64_t entry = qcow2_l2_entry(s, l2, idx);
    uint64_t bitmap = qcow2_l2_bitmap(s, l2, idx);
    if (entry & QCOW_OFLAG_COMPRESSED) {
        qcow2_cache_put(s->l2_cache, &l2);
        return -ENOTSUP;    /* the caller writes zeros instead */
    }
    uint64_t nb = (bitmap & ~mask) | (mask << 32);
    if (nb != bitmap) {
        qcow2_set_l2_bitmap(s, l2, idx, nb);
        qcow2_cache_mark_dirty(s->l2_cache, l2);
    }
    qcow2_cache_put(s->l2_cache, &l2);
    return 0;
}

/* ---- block_status ---- */

int qcow2_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t n = bytes, host;
    Qcow2SubclusterType type;
    int ret;

    g_mutex_lock(&s->lock);
    ret = s->corrupt ? -EIO
                     : qcow2_get_host_offset(bs, offset, &n, &host, &type);
    g_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    *pnum = n;
    switch (type) {
    case QCOW2_SUBCLUSTER_NORMAL:
        *map = host;
        *file = bs->file;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        *map = host;
        *file = bs->file;
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED;
    case QCOW2_SUBCLUSTER_COMPRESSED:
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_COMPRESSED;
    default:
        /* without a backing file unallocated clusters read as zeros,
         * which the generic layer works out */
        return 0;
    }
}

/* ---- shrinking ---- */

/*
 * Drops everything at and past new_size (cluster-aligned): data clusters
 * through discard, then L2 tables no longer covering any guest cluster.
 */
int qcow2_shrink_mapping(BlockDriverState *bs, uint64_t new_size,
                         uint64_t old_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_cover = 1ULL << (s->l2_bits + s->cluster_bits);
    uint64_t start = ROUND_UP(new_size, (uint64_t)s->cluster_size);
    uint64_t end = ROUND_UP(old_size, (uint64_t)s->cluster_size);
    int ret;

    if (end > start) {
        ret = qcow2_cluster_discard(bs, start, end - start, true);
        if (ret < 0) {
            return ret;
        }
    }
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) {
        return ret;
    }
    for (uint64_t i = ROUND_UP(new_size, l2_cover) / l2_cover;
         i < s->l1_size; i++) {
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK;
        if (!s->l1_table[i]) {
            continue;
        }
        s->l1_table[i] = 0;
        ret = qcow2_write_l1_entry(bs, i);
        if (ret < 0) {
            return ret;
        }
        if (l2_offset) {
            qcow2_cache_discard(s->l2_cache, l2_offset);
            qcow2_free_clusters(bs, l2_offset, s->cluster_size);
        }
    }
    return 0;
}
