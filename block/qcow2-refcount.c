/*
 * qcow2 reference counts (qcow2.txt "Host cluster management"): the
 * refcount table and blocks of every refcount_bits, cluster allocation and
 * freeing, compressed-data packing and the metadata overlap check.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block/qcow2.h"

/* Highest host offset an L2 entry can hold (bits 9-55). */
#define QCOW2_MAX_HOST_OFFSET ((1ULL << 56) - 1)

/* Header fields rewritten in place (qcow2.txt "Header"): one small write
 * each, so a crash leaves the old or the new value. */
#define HDR_REFCOUNT_TABLE_OFFSET 48    /* + refcount_table_clusters */

/* Restarts of an allocation after the refcount structures changed; each
 * restart hooks up a block or grows the table, so this only stops a
 * hostile image from keeping us busy. */
#define MAX_STRUCTURE_RETRIES 64

uint64_t qcow2_refcount_block_get(BDRVQcow2State *s, const void *block,
                                  uint64_t index)
{
    const uint8_t *p = block;
    int bits = s->refcount_bits;

    if (bits < 8) {
        /* qcow2.txt: sub-byte entries count from the least significant
         * bit of each byte */
        uint64_t bit = index * bits;
        return (p[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    uint64_t v = 0;
    const uint8_t *e = p + index * (bits / 8);
    for (int i = 0; i < bits / 8; i++) {
        v = (v << 8) | e[i];
    }
    return v;
}

void qcow2_refcount_block_set(BDRVQcow2State *s, void *block,
                              uint64_t index, uint64_t value)
{
    uint8_t *p = block;
    int bits = s->refcount_bits;

    if (bits < 8) {
        uint64_t bit = index * bits;
        uint8_t mask = ((1u << bits) - 1) << (bit % 8);
        p[bit / 8] = (p[bit / 8] & ~mask) | ((value << (bit % 8)) & mask);
        return;
    }
    uint8_t *e = p + index * (bits / 8);
    for (int i = bits / 8 - 1; i >= 0; i--) {
        e[i] = value;
        value >>= 8;
    }
}

void qcow2_compressed_host_range(BDRVQcow2State *s, uint64_t l2_entry,
                                 uint64_t *start, uint64_t *bytes)
{
    /* qcow2.txt "Compressed Clusters Descriptor": the data begins at the
     * offset and takes the number of additional 512-byte sectors + 1,
     * counted from the sector the offset is in. */
    uint64_t coffset = l2_entry & s->cluster_offset_mask;
    uint64_t nb_sectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;

    *start = coffset & ~511ULL;
    *bytes = nb_sectors * 512;
}

/* ---- the refcount table ---- */

static void refcount_set_geometry(BDRVQcow2State *s)
{
    s->refcount_order = s->h.refcount_order;
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                                             : (1ULL << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits + 3 - s->refcount_order;
    s->refcount_block_size = 1 << s->refcount_block_bits;
}

bool qcow2_refcount_init(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t clusters = s->h.refcount_table_clusters;
    uint64_t offset = s->h.refcount_table_offset;
    int64_t file_len = bdrv_getlength(bs->file);
    uint8_t *buf;
    int ret;

    if (s->h.refcount_order > 6) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Reference count entry width too large; may not "
                    "exceed 64 bits");
        return false;
    }
    refcount_set_geometry(s);

    if (clusters == 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Image does not contain a reference count table");
        return false;
    }
    if (clusters > (QCOW2_MAX_REFTABLE_SIZE >> s->cluster_bits)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Reference count table too large");
        return false;
    }
    uint64_t bytes = clusters << s->cluster_bits;
    if (file_len < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not get the image size: %s", g_strerror(-file_len));
        return false;
    }
    if (qcow2_offset_into_cluster(s, offset) || offset == 0 ||
        offset > (uint64_t)file_len || bytes > (uint64_t)file_len - offset) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Invalid reference count table offset");
        return false;
    }

    buf = g_malloc(bytes);
    ret = bdrv_pread(bs->file, offset, buf, bytes);
    if (ret < 0) {
        g_free(buf);
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not read the reference count table: %s",
                    g_strerror(-ret));
        return false;
    }
    g_free(s->refcount_table);
    s->refcount_table_size = bytes / 8;
    s->refcount_table = g_new(uint64_t, s->refcount_table_size);
    s->reftable_hi_of = NULL;
    for (uint32_t i = 0; i < s->refcount_table_size; i++) {
        s->refcount_table[i] = qcow2_be64(buf + 8 * i);
    }
    g_free(buf);
    s->refcount_table_offset = offset;
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
    return true;
}

void qcow2_refcount_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    g_free(s->refcount_table);
    s->refcount_table = NULL;
    s->refcount_table_size = 0;
    s->reftable_hi_of = NULL;
}

/* The offset of refcount block ti: 0 (none), or -EIO when the table entry
 * is not cluster aligned (the image is then marked corrupt). */
static int64_t refblock_offset(BlockDriverState *bs, uint64_t ti)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off;

    if (ti >= s->refcount_table_size) {
        return 0;
    }
    off = s->refcount_table[ti] & REFT_OFFSET_MASK;
    if (off && qcow2_offset_into_cluster(s, off)) {
        return qcow2_signal_corruption(bs, "Refblock offset %#" PRIx64
                                       " unaligned (reftable index: %#"
                                       PRIx64 ")", off, ti);
    }
    if (off > QCOW2_MAX_HOST_OFFSET) {
        return qcow2_signal_corruption(bs, "Refblock offset %#" PRIx64
                                       " out of range (reftable index: %#"
                                       PRIx64 ")", off, ti);
    }
    return off;
}

int qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                       uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    void *block;
    int64_t off;
    int ret;

    *refcount = 0;
    if (cluster_index < 0) {
        return -EINVAL;
    }
    off = refblock_offset(bs, cluster_index >> s->refcount_block_bits);
    if (off <= 0) {
        return off;
    }
    ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &block);
    if (ret < 0) {
        return ret;
    }
    *refcount = qcow2_refcount_block_get(s, block, cluster_index &
                                         (s->refcount_block_size - 1));
    qcow2_cache_put(s->refcount_block_cache, &block);
    return 0;
}

/* Writes one refcount table entry in place (and in memory). */
static int reftable_set_entry(BlockDriverState *bs, uint64_t ti,
                              uint64_t value)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t be[8];
    int64_t off = s->refcount_table_offset + ti * 8;
    int ret;

    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_REFCOUNT_TABLE, off, 8);
    if (ret < 0) {
        return ret;
    }
    qcow2_put_be64(be, value);
    ret = bdrv_pwrite(bs->file, off, be, 8);
    if (ret < 0) {
        return ret;
    }
    s->refcount_table[ti] = value;
    if (value && s->reftable_hi_of == s->refcount_table &&
        ti >= s->reftable_hi) {
        s->reftable_hi = ti + 1;
    }
    return 0;
}

/*
 * Makes the refcount table cover refcount block index needed_ti. The new
 * table and the refcount blocks describing it go in a fresh area after
 * everything the old table covers and after the end of the file, so they
 * describe themselves; the header is switched with one write, then the
 * old table is freed. 0 or -errno.
 */
static int reftable_grow(BlockDriverState *bs, uint64_t needed_ti)
{
    BDRVQcow2State *s = bs->opaque;
    int rbb = s->refcount_block_bits;
    int64_t file_len = bdrv_getlength(bs->file);
    uint64_t area_start, entries, table_clusters, nb_blocks;
    uint64_t first_ti, last_ti;
    uint8_t *buf = NULL;
    int ret;

    if (file_len < 0) {
        return file_len;
    }
    area_start = MAX((uint64_t)s->refcount_table_size << rbb,
                     (uint64_t)qcow2_size_to_clusters(s, file_len));
    first_ti = area_start >> rbb;

    /* Fixed point: the table must cover needed_ti and its own area, the
     * area holds the table and one block per index it spans. */
    entries = MAX((uint64_t)s->refcount_table_size * 3 / 2, needed_ti + 1);
    for (int iter = 0;; iter++) {
        uint64_t per_cluster = s->cluster_size / 8;
        entries = (entries + per_cluster - 1) / per_cluster * per_cluster;
        table_clusters = entries / per_cluster;
        nb_blocks = 1;
        for (;;) {
            last_ti = (area_start + nb_blocks + table_clusters - 1) >> rbb;
            if (last_ti - first_ti + 1 <= nb_blocks) {
                break;
            }
            nb_blocks = last_ti - first_ti + 1;
        }
        if (last_ti < entries || iter > 64) {
            break;
        }
        entries = last_ti + 1;
    }
    if (entries * 8 > QCOW2_MAX_REFTABLE_SIZE ||
        (area_start + nb_blocks + table_clusters) << s->cluster_bits >
        QCOW2_MAX_HOST_OFFSET) {
        return -EFBIG;
    }

    /* Refcount blocks: 1 for every cluster of the area */
    uint64_t area_end = area_start + nb_blocks + table_clusters;
    buf = g_malloc0(s->cluster_size);
    for (uint64_t b = 0; b < nb_blocks; b++) {
        uint64_t ti = first_ti + b;
        memset(buf, 0, s->cluster_size);
        for (uint64_t c = MAX(area_start, ti << rbb);
             c < MIN(area_end, (ti + 1) << rbb); c++) {
            qcow2_refcount_block_set(s, buf, c & (s->refcount_block_size - 1),
                                     1);
        }
        ret = bdrv_pwrite(bs->file, (area_start + b) << s->cluster_bits, buf,
                          s->cluster_size);
        if (ret < 0) {
            goto out;
        }
    }
    g_free(buf);

    /* The new table: the old entries and the new blocks */
    uint64_t table_off = (area_start + nb_blocks) << s->cluster_bits;
    uint64_t table_bytes = table_clusters << s->cluster_bits;
    uint64_t *new_table = g_new0(uint64_t, entries);
    memcpy(new_table, s->refcount_table, s->refcount_table_size * 8);
    for (uint64_t b = 0; b < nb_blocks; b++) {
        new_table[first_ti + b] = (area_start + b) << s->cluster_bits;
    }
    buf = g_malloc0(table_bytes);
    for (uint64_t i = 0; i < entries; i++) {
        qcow2_put_be64(buf + 8 * i, new_table[i]);
    }
    ret = bdrv_pwrite(bs->file, table_off, buf, table_bytes);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        g_free(new_table);
        goto out;
    }

    /* Switch the header (refcount_table_offset, refcount_table_clusters) */
    uint8_t hdr[12];
    qcow2_put_be64(hdr, table_off);
    hdr[8] = table_clusters >> 24;
    hdr[9] = table_clusters >> 16;
    hdr[10] = table_clusters >> 8;
    hdr[11] = table_clusters;
    ret = bdrv_pwrite(bs->file, HDR_REFCOUNT_TABLE_OFFSET, hdr, sizeof(hdr));
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        g_free(new_table);
        goto out;
    }

    uint64_t old_off = s->refcount_table_offset;
    uint64_t old_bytes = (uint64_t)s->refcount_table_size * 8;
    g_free(s->refcount_table);
    s->refcount_table = new_table;
    s->refcount_table_size = entries;
    s->reftable_hi_of = NULL;
    s->refcount_table_offset = table_off;
    s->h.refcount_table_offset = table_off;
    s->h.refcount_table_clusters = table_clusters;
    qcow2_free_clusters(bs, old_off, old_bytes);
    ret = 0;
out:
    g_free(buf);
    return ret;
}

/*
 * The first cluster index from which nb clusters are free, searching from
 * free_cluster_index; clusters no refcount block describes are free.
 * free_cluster_index moves up to the run found: the clusters before it
 * are in use or in holes too small for this request, and are not searched
 * again until a free lowers the index (as QEMU does). Without that every
 * allocation of a growing image would rescan everything allocated before.
 */
static int64_t find_free_clusters(BlockDriverState *bs, int64_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t i = s->free_cluster_index, start = 0, run = 0;
    int64_t limit = (QCOW2_MAX_HOST_OFFSET + 1) >> s->cluster_bits;
    uint64_t mask = s->refcount_block_size - 1;

    while (run < nb) {
        if (i + (nb - run) > limit) {
            return -EFBIG;
        }
        uint64_t ti = i >> s->refcount_block_bits;
        int64_t off = refblock_offset(bs, ti);
        int64_t block_end = (int64_t)(ti + 1) << s->refcount_block_bits;
        if (off < 0) {
            return off;
        }
        if (off == 0) {
            if (run == 0) {
                start = i;
            }
            run += block_end - i;
            i = block_end;
            continue;
        }
        void *block;
        int ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &block);
        if (ret < 0) {
            return ret;
        }
        for (; i < block_end && run < nb; i++) {
            if (qcow2_refcount_block_get(s, block, i & mask) == 0) {
                if (run++ == 0) {
                    start = i;
                }
            } else {
                run = 0;
            }
        }
        qcow2_cache_put(s->refcount_block_cache, &block);
    }
    s->free_cluster_index = start;
    return start;
}

/*
 * Makes sure refcount block ti exists. 0: it did; 1: the refcount
 * structures changed (a block was hooked up or the table grew), so the
 * caller must look at refcounts again; -errno.
 */
static int refblock_ensure(BlockDriverState *bs, uint64_t ti)
{
    BDRVQcow2State *s = bs->opaque;
    int rbb = s->refcount_block_bits;
    int64_t off, new_index;
    void *block;
    int ret;

    off = refblock_offset(bs, ti);
    if (off != 0) {
        return off < 0 ? off : 0;
    }
    if (ti >= s->refcount_table_size) {
        ret = reftable_grow(bs, ti);
        return ret < 0 ? ret : 1;
    }

    bdrv_debug_event(bs->file, BLKDBG_REFBLOCK_ALLOC);
    new_index = find_free_clusters(bs, 1);
    if (new_index < 0) {
        return new_index;
    }
    uint64_t new_ti = (uint64_t)new_index >> rbb;
    uint64_t new_off = (uint64_t)new_index << s->cluster_bits;

    if (new_ti != ti) {
        /* The new block is counted in another block, which must exist
         * first; when it does not, making it is the change we report. */
        off = refblock_offset(bs, new_ti);
        if (off <= 0) {
            if (off < 0) {
                return off;
            }
            ret = refblock_ensure(bs, new_ti);
            return ret < 0 ? ret : 1;
        }
        ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &block);
        if (ret < 0) {
            return ret;
        }
        qcow2_refcount_block_set(s, block, new_index &
                                 (s->refcount_block_size - 1), 1);
        qcow2_cache_mark_dirty(s->refcount_block_cache, block);
        qcow2_cache_put(s->refcount_block_cache, &block);
    }

    ret = qcow2_cache_get_empty(bs, s->refcount_block_cache, new_off, &block);
    if (ret < 0) {
        return ret;
    }
    memset(block, 0, s->cluster_size);
    if (new_ti == ti) {
        /* the block describes itself */
        qcow2_refcount_block_set(s, block, new_index &
                                 (s->refcount_block_size - 1), 1);
    }
    qcow2_cache_mark_dirty(s->refcount_block_cache, block);
    qcow2_cache_put(s->refcount_block_cache, &block);

    /* The block (and its own refcount) on disk before the table points
     * at it */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    ret = reftable_set_entry(bs, ti, new_off);
    if (ret < 0) {
        return ret;
    }
    if (s->free_cluster_index == new_index) {
        s->free_cluster_index = new_index + 1;
    }
    return 1;
}

/* Checks that adding addend to every cluster in [first, last] stays within
 * 0..refcount_max. 0, -EINVAL, or -errno. */
static int refcount_check_range(BlockDriverState *bs, int64_t first,
                                int64_t last, int64_t addend)
{
    BDRVQcow2State *s = bs->opaque;

    for (int64_t i = first; i <= last; i++) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, i, &rc);
        if (ret < 0) {
            return ret;
        }
        if (addend < 0 ? rc < (uint64_t)-addend
                       : rc > s->refcount_max - (uint64_t)addend) {
            return -EINVAL;
        }
    }
    return 0;
}

/* Makes sure every refcount block of [first, last] exists: 0, 1 (the
 * structures changed: check again), or -errno. */
static int refcount_prepare_range(BlockDriverState *bs, int64_t first,
                                  int64_t last)
{
    BDRVQcow2State *s = bs->opaque;
    int rbb = s->refcount_block_bits;

    for (uint64_t ti = first >> rbb; ti <= ((uint64_t)last >> rbb); ti++) {
        int ret = refblock_ensure(bs, ti);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

/* A cluster's refcount reached zero: nothing may use our cached copy. */
static void cluster_became_free(BlockDriverState *bs, int64_t index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = (uint64_t)index << s->cluster_bits;

    if (s->l2_cache) {
        qcow2_cache_discard(s->l2_cache, off);
    }
    qcow2_cache_discard(s->refcount_block_cache, off);
    if (index < s->free_cluster_index) {
        s->free_cluster_index = index;
    }
    if (s->free_byte_offset &&
        qcow2_start_of_cluster(s, s->free_byte_offset) == (int64_t)off) {
        s->free_byte_offset = 0;
    }
}

/* Adds addend to every cluster of [first, last]; the blocks exist and the
 * range was checked. freed (may be NULL) collects clusters reaching 0. */
static int refcount_apply_range(BlockDriverState *bs, int64_t first,
                                int64_t last, int64_t addend,
                                GArray *freed)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t mask = s->refcount_block_size - 1;
    int64_t i = first;

    while (i <= last) {
        uint64_t ti = (uint64_t)i >> s->refcount_block_bits;
        int64_t off = refblock_offset(bs, ti);
        void *block;
        int ret;

        if (off <= 0) {
            return off < 0 ? off : -EIO;
        }
        ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &block);
        if (ret < 0) {
            return ret;
        }
        for (; i <= last && ((uint64_t)i >> s->refcount_block_bits) == ti;
             i++) {
            uint64_t rc = qcow2_refcount_block_get(s, block, i & mask);
            rc += addend;
            qcow2_refcount_block_set(s, block, i & mask, rc);
            if (rc == 0) {
                cluster_became_free(bs, i);
                if (freed) {
                    g_array_append_val(freed, i);
                }
            }
        }
        qcow2_cache_mark_dirty(s->refcount_block_cache, block);
        qcow2_cache_put(s->refcount_block_cache, &block);
    }
    return 0;
}

static int update_refcount(BlockDriverState *bs, int64_t offset,
                           int64_t length, int64_t addend, GArray *freed)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t first, last;
    int ret;

    if (length == 0 || addend == 0) {
        return 0;
    }
    if (offset < 0 || length < 0 || addend == INT64_MIN ||
        (uint64_t)offset > QCOW2_MAX_HOST_OFFSET ||
        (uint64_t)length > QCOW2_MAX_HOST_OFFSET + 1 - offset) {
        return -EINVAL;
    }
    first = offset >> s->cluster_bits;
    last = (offset + length - 1) >> s->cluster_bits;

    if (addend < 0 && s->l2_cache) {
        /* tables stop pointing at the clusters before the decrease */
        qcow2_cache_set_dependency(s->refcount_block_cache, s->l2_cache);
    }
    for (int tries = 0;; tries++) {
        if (tries > MAX_STRUCTURE_RETRIES) {
            return -EIO;
        }
        ret = refcount_check_range(bs, first, last, addend);
        if (ret < 0) {
            return ret;
        }
        if (addend < 0) {
            break;  /* every cluster has a refcount > 0: blocks exist */
        }
        ret = refcount_prepare_range(bs, first, last);
        if (ret < 0) {
            return ret;
        }
        if (ret == 0) {
            break;
        }
    }
    return refcount_apply_range(bs, first, last, addend, freed);
}

int qcow2_update_refcount(BlockDriverState *bs, int64_t offset,
                          int64_t length, int64_t addend)
{
    return update_refcount(bs, offset, length, addend, NULL);
}

int64_t qcow2_alloc_clusters(BlockDriverState *bs, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t nb, index;
    int ret;

    if (size <= 0 || (uint64_t)size > QCOW2_MAX_HOST_OFFSET) {
        return -EINVAL;
    }
    bdrv_debug_event(bs->file, BLKDBG_CLUSTER_ALLOC);
    nb = qcow2_size_to_clusters(s, size);
    for (int tries = 0;; tries++) {
        if (tries > MAX_STRUCTURE_RETRIES) {
            return -EIO;
        }
        index = find_free_clusters(bs, nb);
        if (index < 0) {
            return index;
        }
        ret = refcount_prepare_range(bs, index, index + nb - 1);
        if (ret < 0) {
            return ret;
        }
        if (ret == 0) {
            break;
        }
    }
    ret = refcount_apply_range(bs, index, index + nb - 1, 1, NULL);
    if (ret < 0) {
        return ret;
    }
    if (s->free_cluster_index == index) {
        s->free_cluster_index = index + nb;
    }
    if (s->l2_cache) {
        /* refcounts reach the disk before a table points at them */
        qcow2_cache_set_dependency(s->l2_cache, s->refcount_block_cache);
    }
    return index << s->cluster_bits;
}

int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t first = offset >> s->cluster_bits, n = 0;
    int ret;

    if (nb_clusters <= 0) {
        return 0;
    }
    if (qcow2_offset_into_cluster(s, offset) ||
        offset > QCOW2_MAX_HOST_OFFSET ||
        (uint64_t)nb_clusters > (QCOW2_MAX_HOST_OFFSET + 1 - offset) >>
        s->cluster_bits) {
        return -EINVAL;
    }
    for (int tries = 0;; tries++) {
        if (tries > MAX_STRUCTURE_RETRIES) {
            return -EIO;
        }
        for (n = 0; n < nb_clusters; n++) {
            uint64_t rc;
            ret = qcow2_get_refcount(bs, first + n, &rc);
            if (ret < 0) {
                return ret;
            }
            if (rc != 0) {
                break;
            }
        }
        if (n == 0) {
            return 0;
        }
        ret = refcount_prepare_range(bs, first, first + n - 1);
        if (ret < 0) {
            return ret;
        }
        if (ret == 0) {
            break;
        }
    }
    ret = refcount_apply_range(bs, first, first + n - 1, 1, NULL);
    if (ret < 0) {
        return ret;
    }
    if (s->l2_cache) {
        qcow2_cache_set_dependency(s->l2_cache, s->refcount_block_cache);
    }
    return n;
}

/*
 * Compressed data is packed byte by byte (qcow2.txt "Compressed Clusters
 * Descriptor"). A piece never crosses a cluster boundary here, so each
 * piece adds one reference to the one cluster it lies in, as check counts.
 */
int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset = s->free_byte_offset;
    int ret;

    if (size <= 0 || size > s->cluster_size) {
        return -EINVAL;
    }
    if (offset) {
        uint64_t rc;
        ret = qcow2_get_refcount(bs, offset >> s->cluster_bits, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc == 0 || rc == s->refcount_max ||
            s->cluster_size - qcow2_offset_into_cluster(s, offset) < size) {
            offset = 0;
        }
    }
    if (offset) {
        ret = update_refcount(bs, qcow2_start_of_cluster(s, offset), 1, 1,
                              NULL);
        if (ret < 0) {
            return ret;
        }
        if (s->l2_cache) {
            qcow2_cache_set_dependency(s->l2_cache, s->refcount_block_cache);
        }
    } else {
        offset = qcow2_alloc_clusters(bs, s->cluster_size);
        if (offset < 0) {
            return offset;
        }
    }
    s->free_byte_offset = offset + size;
    if (qcow2_offset_into_cluster(s, s->free_byte_offset) == 0) {
        s->free_byte_offset = 0;
    }
    return offset;
}

/* Drops one reference to [offset, offset + size) and gives clusters that
 * become free back to the host. 0 or -errno. */
static int free_range(BlockDriverState *bs, int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    GArray *freed = g_array_new(false, false, sizeof(int64_t));
    int ret;

    ret = update_refcount(bs, offset, size, -1, freed);
    /* Punching holes is advisory: a failure (or a file system without
     * hole punching) changes nothing the image depends on. */
    for (guint i = 0; i < freed->len; i++) {
        int64_t idx = g_array_index(freed, int64_t, i);
        int64_t n = 1;
        while (i + 1 < freed->len &&
               g_array_index(freed, int64_t, i + 1) == idx + n) {
            n++;
            i++;
        }
        bdrv_pdiscard(bs->file, idx << s->cluster_bits, n << s->cluster_bits);
    }
    g_array_free(freed, true);
    return ret;
}

void qcow2_free_clusters(BlockDriverState *bs, int64_t offset, int64_t size)
{
    int ret = free_range(bs, offset, size);

    if (ret < 0) {
        fprintf(stderr, "qcow2_free_clusters failed: %s\n", g_strerror(-ret));
    }
}

void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry)
{
    BDRVQcow2State *s = bs->opaque;

    if (l2_entry & QCOW_OFLAG_COMPRESSED) {
        uint64_t start, bytes;
        qcow2_compressed_host_range(s, l2_entry, &start, &bytes);
        qcow2_free_clusters(bs, start, bytes);
        return;
    }
    uint64_t off = l2_entry & L2E_OFFSET_MASK;
    if (!off) {
        return;
    }
    if (qcow2_offset_into_cluster(s, off)) {
        qcow2_signal_corruption(bs, "Cannot free unaligned cluster %#" PRIx64,
                                off);
        return;
    }
    qcow2_free_clusters(bs, off, s->cluster_size);
}

/* ---- metadata overlap check ---- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
                           uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

/*
 * How many refcount table entries the overlap check must look at: the
 * table is mostly empty (8192 entries in one 64 KiB cluster, a few used),
 * and this runs on every data write. The bound is kept while the table
 * array stays the same (entries set here raise it) and found again by
 * one scan when the array was replaced or its last counted entry was
 * cleared.
 */
static uint32_t reftable_used(BDRVQcow2State *s)
{
    uint32_t hi = s->reftable_hi;

    if (s->reftable_hi_of != s->refcount_table ||
        s->reftable_hi_size != s->refcount_table_size ||
        hi > s->refcount_table_size ||
        (hi > 0 && s->refcount_table[hi - 1] == 0)) {
        hi = s->refcount_table_size;
        while (hi > 0 && s->refcount_table[hi - 1] == 0) {
            hi--;
        }
        s->reftable_hi = hi;
        s->reftable_hi_of = s->refcount_table;
        s->reftable_hi_size = s->refcount_table_size;
    }
    return hi;
}

int qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                 int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int chk = QCOW2_OL_DEFAULT & ~ign;
    uint64_t cs = s->cluster_size;

    if (size <= 0 || offset < 0) {
        return 0;
    }
    /* Whole clusters: metadata owns the clusters it lies in */
    uint64_t start = qcow2_start_of_cluster(s, offset);
    uint64_t len = qcow2_start_of_cluster(s, offset + size - 1) + cs - start;

    if ((chk & QCOW2_OL_MAIN_HEADER) && start < cs) {
        return QCOW2_OL_MAIN_HEADER;
    }
    if ((chk & QCOW2_OL_ACTIVE_L1) &&
        ranges_overlap(start, len, s->l1_table_offset,
                       (uint64_t)s->l1_size * 8)) {
        return QCOW2_OL_ACTIVE_L1;
    }
    if ((chk & QCOW2_OL_REFCOUNT_TABLE) &&
        ranges_overlap(start, len, s->refcount_table_offset,
                       (uint64_t)s->refcount_table_size * 8)) {
        return QCOW2_OL_REFCOUNT_TABLE;
    }
    if ((chk & QCOW2_OL_SNAPSHOT_TABLE) &&
        ranges_overlap(start, len, s->snapshots_offset, s->snapshots_size)) {
        return QCOW2_OL_SNAPSHOT_TABLE;
    }
    if (chk & QCOW2_OL_INACTIVE_L1) {
        for (uint32_t i = 0; i < s->nb_snapshots; i++) {
            if (ranges_overlap(start, len, s->snapshots[i].l1_table_offset,
                               (uint64_t)s->snapshots[i].l1_size * 8)) {
                return QCOW2_OL_INACTIVE_L1;
            }
        }
    }
    if ((chk & QCOW2_OL_ACTIVE_L2) && s->l1_table) {
        for (uint32_t i = 0; i < s->l1_size; i++) {
            uint64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;
            if (ranges_overlap(start, len, l2, l2 ? cs : 0)) {
                return QCOW2_OL_ACTIVE_L2;
            }
        }
    }
    if ((chk & QCOW2_OL_REFCOUNT_BLOCK) && s->refcount_table) {
        uint32_t used = reftable_used(s);
        for (uint32_t i = 0; i < used; i++) {
            uint64_t rb = s->refcount_table[i] & REFT_OFFSET_MASK;
            if (ranges_overlap(start, len, rb, rb ? cs : 0)) {
                return QCOW2_OL_REFCOUNT_BLOCK;
            }
        }
    }
    /* QCOW2_OL_INACTIVE_L2 would read every snapshot's L1 table; QEMU
     * leaves it out of its default checks and so do we. */
    return 0;
}

static const char *overlap_name(int ol)
{
    switch (ol) {
    case QCOW2_OL_MAIN_HEADER:    return "qcow2_header";
    case QCOW2_OL_ACTIVE_L1:      return "active L1 table";
    case QCOW2_OL_ACTIVE_L2:      return "active L2 table";
    case QCOW2_OL_REFCOUNT_TABLE: return "refcount table";
    case QCOW2_OL_REFCOUNT_BLOCK: return "refcount block";
    case QCOW2_OL_SNAPSHOT_TABLE: return "snapshot table";
    case QCOW2_OL_INACTIVE_L1:    return "inactive L1 table";
    default:                      return "inactive L2 table";
    }
}

int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size)
{
    int ol = qcow2_check_metadata_overlap(bs, ign, offset, size);

    if (ol == 0) {
        return 0;
    }
    return qcow2_signal_corruption(bs, "Preventing invalid write on metadata "
                                   "(overlaps with %s)", overlap_name(ol));
}

/* ---- snapshots: refcounts of whole L1 trees and the COPIED flags ---- */

static uint64_t l2_get(BDRVQcow2State *s, const void *table, int idx)
{
    return qcow2_be64((const uint8_t *)table + (size_t)idx * s->l2_entry_size);
}

static void l2_put(BDRVQcow2State *s, void *table, int idx, uint64_t entry)
{
    qcow2_put_be64((uint8_t *)table + (size_t)idx * s->l2_entry_size, entry);
}

/* Adds addend to the refcounts of everything one L2 table references. */
static int l2_update_refcounts(BlockDriverState *bs, uint64_t l2_off,
                               int addend)
{
    BDRVQcow2State *s = bs->opaque;
    void *table;
    int ret;

    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, &table);
    if (ret < 0) {
        return ret;
    }
    for (int j = 0; j < s->l2_size; j++) {
        uint64_t e = l2_get(s, table, j);
        uint64_t start, bytes;

        if (e & QCOW_OFLAG_COMPRESSED) {
            qcow2_compressed_host_range(s, e, &start, &bytes);
        } else {
            start = e & L2E_OFFSET_MASK;
            bytes = s->cluster_size;
            if (!start) {
                continue;
            }
            if (qcow2_offset_into_cluster(s, start)) {
                qcow2_cache_put(s->l2_cache, &table);
                return qcow2_signal_corruption(
                    bs, "Cluster allocation offset %#" PRIx64 " unaligned "
                    "(L2 offset: %#" PRIx64 ", L2 index: %#x)",
                    start, l2_off, j);
            }
        }
        ret = addend < 0 ? free_range(bs, start, bytes)
                         : update_refcount(bs, start, bytes, addend, NULL);
        if (ret < 0) {
            qcow2_cache_put(s->l2_cache, &table);
            return ret;
        }
    }
    qcow2_cache_put(s->l2_cache, &table);
    return 0;
}

/* Writes the whole active L1 table from s->l1_table. */
static int write_active_l1(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    size_t bytes = (size_t)s->l1_size * 8;
    uint8_t *buf;
    int ret;

    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset, bytes);
    if (ret < 0) {
        return ret;
    }
    buf = g_malloc(bytes);
    for (uint32_t i = 0; i < s->l1_size; i++) {
        qcow2_put_be64(buf + 8 * i, s->l1_table[i]);
    }
    ret = bdrv_pwrite(bs->file, s->l1_table_offset, buf, bytes);
    g_free(buf);
    return ret;
}

/* Sets QCOW_OFLAG_COPIED in the active L1 and L2 tables exactly where the
 * refcount is 1 (qcow2.txt: never on compressed clusters). */
static int fix_copied_flags(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    bool l1_dirty = false;
    int ret;

    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2_off = s->l1_table[i] & L1E_OFFSET_MASK;
        uint64_t rc;
        void *table;

        if (!l2_off) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, l2_off)) {
            return qcow2_signal_corruption(bs, "L2 table offset %#" PRIx64
                                           " unaligned (L1 index: %#x)",
                                           l2_off, i);
        }
        ret = qcow2_cache_get(bs, s->l2_cache, l2_off, &table);
        if (ret < 0) {
            return ret;
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t e = l2_get(s, table, j), want = e;
            uint64_t off = e & L2E_OFFSET_MASK;

            if (e & QCOW_OFLAG_COMPRESSED) {
                want = e & ~QCOW_OFLAG_COPIED;
            } else if (off) {
                ret = qcow2_get_refcount(bs, off >> s->cluster_bits, &rc);
                if (ret < 0) {
                    qcow2_cache_put(s->l2_cache, &table);
                    return ret;
                }
                want = rc == 1 ? e | QCOW_OFLAG_COPIED
                               : e & ~QCOW_OFLAG_COPIED;
            }
            if (want != e) {
                l2_put(s, table, j, want);
                qcow2_cache_mark_dirty(s->l2_cache, table);
            }
        }
        qcow2_cache_put(s->l2_cache, &table);

        ret = qcow2_get_refcount(bs, l2_off >> s->cluster_bits, &rc);
        if (ret < 0) {
            return ret;
        }
        uint64_t want = rc == 1 ? s->l1_table[i] | QCOW_OFLAG_COPIED
                                : s->l1_table[i] & ~QCOW_OFLAG_COPIED;
        if (want != s->l1_table[i]) {
            s->l1_table[i] = want;
            l1_dirty = true;
        }
    }
    return l1_dirty ? write_active_l1(bs) : 0;
}

/* Reads an L1 table from the image into host order (l1_size entries). */
int qcow2_read_l1_table(BlockDriverState *bs, uint64_t offset,
                        uint32_t l1_size, uint64_t **l1)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *buf;
    int ret;

    *l1 = NULL;
    if (l1_size > QCOW2_MAX_L1_SIZE / 8 ||
        (l1_size && (qcow2_offset_into_cluster(s, offset) || offset == 0))) {
        return -EINVAL;
    }
    buf = g_malloc((size_t)l1_size * 8 + 1);
    ret = bdrv_pread(bs->file, offset, buf, (size_t)l1_size * 8);
    if (ret < 0) {
        g_free(buf);
        return ret;
    }
    *l1 = g_new(uint64_t, l1_size + 1);
    for (uint32_t i = 0; i < l1_size; i++) {
        (*l1)[i] = qcow2_be64(buf + 8 * i);
    }
    g_free(buf);
    return 0;
}

int qcow2_update_l1_refcounts(BlockDriverState *bs, const uint64_t *l1,
                              uint32_t l1_size, int addend)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (addend == 0) {
        return 0;
    }
    if (addend > 0) {
        qcow2_cache_set_dependency(s->l2_cache, s->refcount_block_cache);
    }
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;
        if (!l2_off) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, l2_off)) {
            return qcow2_signal_corruption(bs, "L2 table offset %#" PRIx64
                                           " unaligned (L1 index: %#x)",
                                           l2_off, i);
        }
        /* the data first: the L2 table may be freed with the last
         * reference */
        ret = l2_update_refcounts(bs, l2_off, addend);
        if (ret == 0) {
            ret = addend < 0 ? free_range(bs, l2_off, s->cluster_size)
                             : update_refcount(bs, l2_off, s->cluster_size,
                                               addend, NULL);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   int64_t l1_table_offset, int l1_size,
                                   int addend)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l1 = NULL;
    int ret;

    if (l1_size < 0) {
        return -EINVAL;
    }
    if (addend != 0) {
        if (l1_table_offset == (int64_t)s->l1_table_offset &&
            (uint32_t)l1_size <= s->l1_size) {
            l1 = g_new(uint64_t, l1_size + 1);
            memcpy(l1, s->l1_table, (size_t)l1_size * 8);
        } else {
            ret = qcow2_read_l1_table(bs, l1_table_offset, l1_size, &l1);
            if (ret < 0) {
                return ret;
            }
        }
        ret = qcow2_update_l1_refcounts(bs, l1, l1_size, addend);
        g_free(l1);
        if (ret < 0) {
            return ret;
        }
    }
    return fix_copied_flags(bs);
}
