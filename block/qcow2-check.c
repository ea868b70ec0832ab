/*
 * qcow2 consistency check and repair, as `qemu-img check [-r]` does it:
 * count every reference the metadata makes (qcow2.txt "Host cluster
 * management"), compare with the stored refcounts, check the COPIED flags,
 * and rebuild the refcount structures when they cannot be trusted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block/qcow2.h"

#define REFT_RESERVED_MASK 0x1ffULL
/* qcow2.txt: with extended L2 entries bit 0 is reserved as well */
#define L2E_EXT_RESERVED_MASK (L2E_STD_RESERVED_MASK | 1ULL)
/* qcow2.txt "Extended L2 Entries": allocation bits 0-31, zero bits 32-63 */
#define L2_BITMAP_ALL_ZEROES 0xffffffff00000000ULL
#define SN_EXTRA_MIN_V3 16
#define HDR_REFCOUNT_TABLE_OFFSET 48

/* The references the metadata makes, one counter per cluster of the file
 * (sized from the file length, never from image fields). */
typedef struct CheckState {
    BlockDriverState *bs;
    BDRVQcow2State *s;
    BdrvCheckResult *res;
    int64_t file_len;
    uint32_t *refs;
    int64_t nb_clusters;
    bool rebuild;
} CheckState;

static uint64_t entry_get(BDRVQcow2State *s, const uint8_t *table, int idx)
{
    return qcow2_be64(table + (size_t)idx * s->l2_entry_size);
}

/* Counts one reference to every cluster [offset, offset + size) touches.
 * Regions a cluster or more past the end of the file are not counted. */
static void count_refs(CheckState *cs, uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = cs->s;

    if (size == 0) {
        return;
    }
    if (offset > (uint64_t)INT64_MAX - size ||
        (int64_t)(offset + size) - cs->file_len >= s->cluster_size) {
        fprintf(stderr, "ERROR: counting reference for region exceeding the "
                "end of the file by one cluster or more: offset %#" PRIx64
                " size %#" PRIx64 "\n", offset, size);
        cs->res->corruptions++;
        return;
    }
    int64_t first = offset >> s->cluster_bits;
    int64_t last = (offset + size - 1) >> s->cluster_bits;
    for (int64_t k = first; k <= last && k < cs->nb_clusters; k++) {
        uint64_t max = MIN(s->refcount_max, UINT32_MAX);
        if (cs->refs[k] >= max) {
            fprintf(stderr, "ERROR: overflow cluster offset=%#" PRIx64 "\n",
                    (uint64_t)k << s->cluster_bits);
            fprintf(stderr, "Use qemu-img amend to increase the refcount "
                    "entry width or qemu-img convert to create a clean copy "
                    "if the image cannot be opened for writing\n");
            cs->res->corruptions++;
            continue;
        }
        cs->refs[k]++;
    }
}

/* A region lies (mostly) inside the file, so reading it means something */
static bool region_in_file(CheckState *cs, uint64_t offset, uint64_t size)
{
    return offset <= (uint64_t)cs->file_len &&
           size <= (uint64_t)cs->file_len - offset;
}

/* Rewrites one L2 entry (and its bitmap) in place. */
static int write_l2_entry(CheckState *cs, uint64_t l2_off, int idx,
                          uint64_t entry, uint64_t bitmap, bool active)
{
    BDRVQcow2State *s = cs->s;
    uint8_t buf[16];
    size_t n = s->l2_entry_size;
    uint64_t off = l2_off + (uint64_t)idx * n;
    int ret;

    qcow2_put_be64(buf, entry);
    qcow2_put_be64(buf + 8, bitmap);
    ret = qcow2_pre_write_overlap_check(cs->bs, active ? QCOW2_OL_ACTIVE_L2
                                                       : QCOW2_OL_INACTIVE_L2,
                                        off, n);
    if (ret == 0) {
        ret = bdrv_pwrite(cs->bs->file, off, buf, n);
    }
    if (ret == 0) {
        ret = bdrv_flush(cs->bs->file);
    }
    /* the cache was flushed before the check: its copy is only stale */
    qcow2_cache_discard(s->l2_cache, l2_off);
    if (ret < 0) {
        fprintf(stderr, "ERROR: Failed to overwrite L2 table entry: %s\n",
                g_strerror(-ret));
        cs->res->check_errors++;
    }
    return ret;
}

/* The L2 entry makes a zero cluster (unallocated on v2 images, which have
 * no zero flag, and with extended L2 entries all subclusters zero). */
static void zero_l2_entry(BDRVQcow2State *s, uint64_t *entry,
                          uint64_t *bitmap)
{
    if (s->extended_l2) {
        *entry = 0;
        *bitmap = L2_BITMAP_ALL_ZEROES;
    } else {
        *entry = s->h.version >= 3 ? QCOW_OFLAG_ZERO : 0;
        *bitmap = 0;
    }
}

static void check_l2_table(CheckState *cs, uint64_t l2_off, bool frag_info,
                           int fix, bool active)
{
    BDRVQcow2State *s = cs->s;
    BdrvCheckResult *res = cs->res;
    uint8_t *table = g_malloc(s->cluster_size);
    uint64_t next_contiguous = 0;
    int ret;

    ret = bdrv_pread(cs->bs->file, l2_off, table, s->cluster_size);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l2\n");
        res->check_errors++;
        g_free(table);
        return;
    }
    for (int j = 0; j < s->l2_size; j++) {
        uint64_t e = entry_get(s, table, j);
        uint64_t bitmap = s->extended_l2
            ? qcow2_be64(table + (size_t)j * 16 + 8) : 0;

        if (e & QCOW_OFLAG_COMPRESSED) {
            uint64_t start, bytes;
            if (e & QCOW_OFLAG_COPIED) {
                fprintf(stderr, "%s: coffset=%#" PRIx64 ": copied flag must "
                        "never be set for compressed clusters\n",
                        (fix & BDRV_FIX_ERRORS) ? "Repairing" : "ERROR",
                        e & s->cluster_offset_mask);
                res->corruptions++;
                e &= ~QCOW_OFLAG_COPIED;
                if ((fix & BDRV_FIX_ERRORS) &&
                    write_l2_entry(cs, l2_off, j, e, bitmap, active) == 0) {
                    res->corruptions--;
                    res->corruptions_fixed++;
                }
            }
            qcow2_compressed_host_range(s, e, &start, &bytes);
            count_refs(cs, start, bytes);
            if (frag_info) {
                res->allocated_clusters++;
                res->compressed_clusters++;
                /* compressed data shares sectors: fragmented by nature */
                res->fragmented_clusters++;
            }
            continue;
        }

        uint64_t off = e & L2E_OFFSET_MASK;
        if (!off) {
            continue;   /* unallocated or a plain zero cluster */
        }
        uint64_t reserved = s->extended_l2 ? L2E_EXT_RESERVED_MASK
                                           : L2E_STD_RESERVED_MASK;
        if (e & reserved) {
            fprintf(stderr, "ERROR found l2 entry with reserved bits set: %"
                    PRIx64 "\n", e);
            res->corruptions++;
        }
        if (s->extended_l2 && ((bitmap >> 32) & bitmap)) {
            fprintf(stderr, "ERROR offset=%" PRIx64 ": Allocated cluster has "
                    "corrupted subcluster allocation bitmap\n", off);
            res->corruptions++;
        }
        bool has_data = s->extended_l2 ? (bitmap & 0xffffffffULL) != 0
                                       : !(e & QCOW_OFLAG_ZERO);
        if (qcow2_offset_into_cluster(s, off)) {
            res->corruptions++;
            if (has_data) {
                fprintf(stderr, "ERROR offset=%" PRIx64 ": Data cluster is "
                        "not properly aligned; L2 entry corrupted.\n", off);
            } else {
                fprintf(stderr, "%s offset=%" PRIx64 ": Preallocated cluster "
                        "is not properly aligned; L2 entry corrupted.\n",
                        (fix & BDRV_FIX_ERRORS) ? "Repairing" : "ERROR", off);
                if (fix & BDRV_FIX_ERRORS) {
                    uint64_t ne, nb;
                    zero_l2_entry(s, &ne, &nb);
                    if (write_l2_entry(cs, l2_off, j, ne, nb, active) == 0) {
                        res->corruptions--;
                        res->corruptions_fixed++;
                        continue;   /* the cluster is not used any more */
                    }
                }
            }
        } else if ((fix & BDRV_FIX_ERRORS) &&
                   (int64_t)(off + s->cluster_size) - cs->file_len >=
                   s->cluster_size) {
            /* Past the end of the file the cluster reads as zeros: making
             * it a zero cluster keeps what the guest sees. */
            uint64_t ne, nb;
            fprintf(stderr, "Repairing offset=%" PRIx64 ": Data cluster is "
                    "beyond the end of the file; L2 entry corrupted.\n", off);
            res->corruptions++;
            zero_l2_entry(s, &ne, &nb);
            if (write_l2_entry(cs, l2_off, j, ne, nb, active) == 0) {
                res->corruptions--;
                res->corruptions_fixed++;
                continue;
            }
        }
        if (frag_info) {
            res->allocated_clusters++;
            if (next_contiguous && off != next_contiguous) {
                res->fragmented_clusters++;
            }
            next_contiguous = off + s->cluster_size;
        }
        count_refs(cs, off, s->cluster_size);
    }
    g_free(table);
}

/* One L1 table and everything it reaches. */
static void check_l1_table(CheckState *cs, uint64_t l1_off, uint32_t l1_size,
                           bool frag_info, int fix, bool active)
{
    BDRVQcow2State *s = cs->s;
    uint64_t *l1 = NULL;
    uint64_t bytes = (uint64_t)l1_size * 8;

    count_refs(cs, l1_off, bytes);
    if (l1_size == 0) {
        return;
    }
    if (active) {
        l1 = g_memdup2(s->l1_table, bytes);
    } else {
        if (!region_in_file(cs, l1_off, bytes) ||
            qcow2_read_l1_table(cs->bs, l1_off, l1_size, &l1) < 0) {
            fprintf(stderr, "ERROR: I/O error in check_refcounts_l1\n");
            cs->res->check_errors++;
            return;
        }
    }
    for (uint32_t i = 0; i < l1_size; i++) {
        if (!l1[i]) {
            continue;
        }
        if (l1[i] & L1E_RESERVED_MASK) {
            fprintf(stderr, "ERROR found L1 entry with reserved bits set: %"
                    PRIx64 "\n", l1[i]);
            cs->res->corruptions++;
        }
        uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;
        if (!l2_off) {
            continue;
        }
        count_refs(cs, l2_off, s->cluster_size);
        if (qcow2_offset_into_cluster(s, l2_off)) {
            fprintf(stderr, "ERROR l2_offset=%" PRIx64 ": Table is not "
                    "cluster aligned; L1 entry corrupted\n", l2_off);
            cs->res->corruptions++;
            continue;
        }
        if (!region_in_file(cs, l2_off, s->cluster_size)) {
            continue;   /* reported by count_refs; nothing to read */
        }
        check_l2_table(cs, l2_off, frag_info, fix, active);
    }
    g_free(l1);
}

/* The refcount table's own entries: a block that is misplaced makes the
 * whole structure untrustworthy (a rebuild). */
static void check_refblocks(CheckState *cs)
{
    BDRVQcow2State *s = cs->s;

    for (uint32_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];
        uint64_t off = e & REFT_OFFSET_MASK;
        int64_t cluster = off >> s->cluster_bits;

        if (e & REFT_RESERVED_MASK) {
            fprintf(stderr, "ERROR refcount table entry %u has reserved bits "
                    "set\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if (qcow2_offset_into_cluster(s, off)) {
            fprintf(stderr, "ERROR refcount block %u is not cluster aligned; "
                    "refcount table entry corrupted\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if (off && cluster >= cs->nb_clusters) {
            fprintf(stderr, "ERROR refcount block %u is outside image\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if (off) {
            count_refs(cs, off, s->cluster_size);
            if (cs->refs[cluster] != 1) {
                fprintf(stderr, "ERROR refcount block %u refcount=%" PRIu32
                        "\n", i, cs->refs[cluster]);
                cs->res->corruptions++;
                cs->rebuild = true;
            }
        }
    }
}

/* Builds cs->refs from every piece of metadata. */
static int calculate_refcounts(CheckState *cs, int fix)
{
    BDRVQcow2State *s = cs->s;

    memset(cs->refs, 0, cs->nb_clusters * sizeof(uint32_t));
    cs->rebuild = false;

    count_refs(cs, 0, s->cluster_size);     /* header */
    check_l1_table(cs, s->l1_table_offset, s->l1_size, true, fix, true);
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        if (qcow2_offset_into_cluster(s, sn->l1_table_offset)) {
            fprintf(stderr, "ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": "
                    "L1 table is not cluster aligned; snapshot table entry "
                    "corrupted\n", sn->id_str, sn->name, sn->l1_table_offset);
            cs->res->corruptions++;
            continue;
        }
        if (sn->l1_size > QCOW2_MAX_L1_SIZE / 8) {
            fprintf(stderr, "ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": "
                    "L1 table is too large; snapshot table entry corrupted\n",
                    sn->id_str, sn->name, sn->l1_size);
            cs->res->corruptions++;
            continue;
        }
        check_l1_table(cs, sn->l1_table_offset, sn->l1_size, false, fix,
                       false);
    }
    count_refs(cs, s->snapshots_offset, s->snapshots_size);
    count_refs(cs, s->refcount_table_offset,
               (uint64_t)s->refcount_table_size * 8);
    check_refblocks(cs);
    return 0;
}

/* The stored refcount, treating blocks check_refblocks rejected as
 * absent (reading them would mark the image corrupt). */
static int stored_refcount(CheckState *cs, int64_t i, uint64_t *rc)
{
    BDRVQcow2State *s = cs->s;
    uint64_t ti = (uint64_t)i >> s->refcount_block_bits;
    void *block;
    int ret;

    *rc = 0;
    if (ti >= s->refcount_table_size) {
        return 0;
    }
    uint64_t e = s->refcount_table[ti];
    uint64_t off = e & REFT_OFFSET_MASK;
    if (!off || (e & REFT_RESERVED_MASK) ||
        qcow2_offset_into_cluster(s, off) ||
        (int64_t)(off >> s->cluster_bits) >= cs->nb_clusters) {
        return 0;
    }
    ret = qcow2_cache_get(cs->bs, s->refcount_block_cache, off, &block);
    if (ret < 0) {
        return ret;
    }
    *rc = qcow2_refcount_block_get(s, block, i &
                                   (s->refcount_block_size - 1));
    qcow2_cache_put(s->refcount_block_cache, &block);
    return 0;
}

static void compare_refcounts(CheckState *cs, int fix, int64_t *highest)
{
    BdrvCheckResult *res = cs->res;
    BDRVQcow2State *s = cs->s;

    *highest = -1;
    for (int64_t i = 0; i < cs->nb_clusters; i++) {
        uint64_t stored, expected = cs->refs[i];
        int ret = stored_refcount(cs, i, &stored);

        if (ret < 0) {
            fprintf(stderr, "Can't get refcount for cluster %" PRId64 ": %s\n",
                    i, g_strerror(-ret));
            res->check_errors++;
            continue;
        }
        if (stored > 0 || expected > 0) {
            *highest = i;
        }
        if (stored == expected) {
            continue;
        }
        int *num_fixed = NULL;
        if (stored == 0) {
            cs->rebuild = true;     /* no block to fix it in, maybe */
        } else if (stored > expected && (fix & BDRV_FIX_LEAKS)) {
            num_fixed = &res->leaks_fixed;
        } else if (stored < expected && (fix & BDRV_FIX_ERRORS)) {
            num_fixed = &res->corruptions_fixed;
        }
        fprintf(stderr, "%s cluster %" PRId64 " refcount=%" PRIu64
                " reference=%" PRIu64 "\n",
                num_fixed ? "Repairing" : stored < expected ? "ERROR"
                                                            : "Leaked",
                i, stored, expected);
        if (num_fixed) {
            int64_t addend = expected > stored ? (int64_t)(expected - stored)
                                               : -(int64_t)(stored - expected);
            if (qcow2_update_refcount(cs->bs, i << s->cluster_bits, 1,
                                      addend) == 0) {
                (*num_fixed)++;
                continue;
            }
        }
        if (stored < expected) {
            res->corruptions++;
        } else {
            res->leaks++;
        }
    }
}

/*
 * New refcount blocks and table from cs->refs, placed after the last used
 * cluster: the blocks for every index that has a used cluster (and for the
 * new area itself), then the table. The header switches with one write.
 */
static int rebuild_refcount_structure(CheckState *cs)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = cs->s;
    int rbb = s->refcount_block_bits;
    int64_t area_start = 0;
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t nb_ti, table_clusters = 1, nb_blocks = 0, entries;
    int ret;

    for (int64_t i = 0; i < cs->nb_clusters; i++) {
        if (cs->refs[i]) {
            area_start = i + 1;
        }
    }
    /* Indexes with used clusters below the area */
    uint64_t used_ti = area_start ? ((uint64_t)(area_start - 1) >> rbb) + 1
                                  : 0;
    bool *has = g_new0(bool, used_ti + 1);
    uint64_t nb_used = 0;
    for (int64_t i = 0; i < area_start; i++) {
        if (cs->refs[i] && !has[i >> rbb]) {
            has[i >> rbb] = true;
            nb_used++;
        }
    }
    /* Fixed point: blocks and table fit the area they describe */
    for (int iter = 0; iter < 64; iter++) {
        uint64_t area_len = nb_blocks + table_clusters;
        uint64_t first = (uint64_t)area_start >> rbb;
        uint64_t last = ((uint64_t)area_start + area_len - 1) >> rbb;
        uint64_t extra = 0;
        for (uint64_t t = first; t <= last; t++) {
            if (t >= used_ti || !has[t]) {
                extra++;
            }
        }
        uint64_t want_blocks = nb_used + extra;
        nb_ti = last + 1;
        uint64_t want_table = (nb_ti + per_cluster - 1) / per_cluster;
        if (want_blocks == nb_blocks && want_table == table_clusters) {
            break;
        }
        nb_blocks = want_blocks;
        table_clusters = want_table;
    }
    entries = table_clusters * per_cluster;
    if (entries * 8 > QCOW2_MAX_REFTABLE_SIZE) {
        g_free(has);
        fprintf(stderr, "ERROR: the rebuilt refcount table would be too "
                "large\n");
        return -EFBIG;
    }

    /* The area's clusters are used (from here on cs->refs is what the
     * new structure stores) */
    int64_t area_end = area_start + nb_blocks + table_clusters;
    /* never shrink: clusters past the area (unused ones) keep their 0 */
    uint32_t *refs = g_try_renew(uint32_t, cs->refs,
                                 MAX(cs->nb_clusters, area_end));
    if (!refs) {
        g_free(has);
        return -ENOMEM;
    }
    cs->refs = refs;
    for (int64_t i = cs->nb_clusters; i < area_end; i++) {
        refs[i] = 0;
    }
    cs->nb_clusters = MAX(cs->nb_clusters, area_end);
    for (int64_t i = area_start; i < area_end; i++) {
        refs[i] = 1;
    }

    uint64_t *table = g_new0(uint64_t, entries);
    uint8_t *block = g_malloc(s->cluster_size);
    int64_t next = area_start;
    ret = 0;
    for (uint64_t t = 0; t < nb_ti && ret == 0; t++) {
        int64_t lo = (int64_t)t << rbb;
        int64_t hi = MIN(lo + s->refcount_block_size, cs->nb_clusters);
        bool any = false;
        memset(block, 0, s->cluster_size);
        for (int64_t i = lo; i < hi; i++) {
            if (refs[i]) {
                qcow2_refcount_block_set(s, block, i - lo,
                                         MIN(refs[i], s->refcount_max));
                any = true;
            }
        }
        if (!any) {
            continue;
        }
        if (next >= area_start + (int64_t)nb_blocks) {
            ret = -EIO;     /* the count above was wrong: stop safely */
            break;
        }
        table[t] = (uint64_t)next << s->cluster_bits;
        ret = bdrv_pwrite(bs->file, table[t], block, s->cluster_size);
        next++;
    }
    g_free(block);
    g_free(has);

    uint64_t table_off = (uint64_t)(area_start + nb_blocks) << s->cluster_bits;
    uint8_t *buf = g_malloc0(entries * 8);
    for (uint64_t i = 0; i < entries; i++) {
        qcow2_put_be64(buf + 8 * i, table[i]);
    }
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, table_off, buf, entries * 8);
    }
    g_free(buf);
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret == 0) {
        uint8_t hdr[12];
        qcow2_put_be64(hdr, table_off);
        hdr[8] = table_clusters >> 24;
        hdr[9] = table_clusters >> 16;
        hdr[10] = table_clusters >> 8;
        hdr[11] = table_clusters;
        ret = bdrv_pwrite(bs->file, HDR_REFCOUNT_TABLE_OFFSET, hdr,
                          sizeof(hdr));
    }
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        g_free(table);
        fprintf(stderr, "ERROR writing the rebuilt refcount structure: %s\n",
                g_strerror(-ret));
        return ret;
    }

    /* The old blocks are gone: forget them, cached or not */
    qcow2_cache_empty(s->refcount_block_cache);
    g_free(s->refcount_table);
    s->refcount_table = table;
    s->reftable_hi_of = NULL;   /* the overlap check's bound: recompute */
    s->refcount_table_size = entries;
    s->refcount_table_offset = table_off;
    s->h.refcount_table_offset = table_off;
    s->h.refcount_table_clusters = table_clusters;
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
    return 0;
}

/* QCOW_OFLAG_COPIED in the active tables must say "refcount == 1". */
static int check_oflag_copied(CheckState *cs, int fix)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = cs->s;
    BdrvCheckResult *res = cs->res;
    bool repair;
    uint8_t *table = g_malloc(s->cluster_size);
    int ret = 0;

    if (fix & BDRV_FIX_ERRORS) {
        repair = true;
    } else if (fix & BDRV_FIX_LEAKS) {
        /* refcounts are right only if their repair worked */
        repair = !res->check_errors && !res->corruptions && !res->leaks;
    } else {
        repair = false;
    }

    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l1e = s->l1_table[i];
        uint64_t l2_off = l1e & L1E_OFFSET_MASK;
        uint64_t rc;
        int dirty = 0;

        if (!l2_off || qcow2_offset_into_cluster(s, l2_off) ||
            !region_in_file(cs, l2_off, s->cluster_size)) {
            continue;
        }
        if (stored_refcount(cs, l2_off >> s->cluster_bits, &rc) < 0) {
            continue;
        }
        if ((rc == 1) != ((l1e & QCOW_OFLAG_COPIED) != 0)) {
            res->corruptions++;
            fprintf(stderr, "%s OFLAG_COPIED L2 cluster: l1_index=%u "
                    "l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                    repair ? "Repairing" : "ERROR", i, l1e, rc);
            if (repair) {
                uint8_t be[8];
                s->l1_table[i] = rc == 1 ? l1e | QCOW_OFLAG_COPIED
                                         : l1e & ~QCOW_OFLAG_COPIED;
                qcow2_put_be64(be, s->l1_table[i]);
                ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                                    s->l1_table_offset + 8 * i,
                                                    8);
                if (ret == 0) {
                    ret = bdrv_pwrite(bs->file, s->l1_table_offset + 8 * i,
                                      be, 8);
                }
                if (ret < 0) {
                    res->check_errors++;
                    goto out;
                }
                res->corruptions--;
                res->corruptions_fixed++;
            }
        }

        ret = bdrv_pread(bs->file, l2_off, table, s->cluster_size);
        if (ret < 0) {
            fprintf(stderr, "ERROR: Could not read L2 table: %s\n",
                    g_strerror(-ret));
            res->check_errors++;
            goto out;
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t e = entry_get(s, table, j);
            uint64_t off = e & L2E_OFFSET_MASK;

            if ((e & QCOW_OFLAG_COMPRESSED) || !off) {
                continue;
            }
            if (stored_refcount(cs, off >> s->cluster_bits, &rc) < 0) {
                continue;
            }
            if ((rc == 1) != ((e & QCOW_OFLAG_COPIED) != 0)) {
                res->corruptions++;
                fprintf(stderr, "%s OFLAG_COPIED data cluster: l2_entry=%"
                        PRIx64 " refcount=%" PRIu64 "\n",
                        repair ? "Repairing" : "ERROR", e, rc);
                if (repair) {
                    e = rc == 1 ? e | QCOW_OFLAG_COPIED
                                : e & ~QCOW_OFLAG_COPIED;
                    qcow2_put_be64(table + (size_t)j * s->l2_entry_size, e);
                    dirty++;
                }
            }
        }
        if (dirty) {
            ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L2,
                                                l2_off, s->cluster_size);
            if (ret == 0) {
                ret = bdrv_pwrite(bs->file, l2_off, table, s->cluster_size);
            }
            qcow2_cache_discard(s->l2_cache, l2_off);
            if (ret < 0) {
                fprintf(stderr, "ERROR: Could not write L2 table: %s\n",
                        g_strerror(-ret));
                res->check_errors++;
                goto out;
            }
            res->corruptions -= dirty;
            res->corruptions_fixed += dirty;
        }
    }
    ret = 0;
out:
    g_free(table);
    return ret;
}

/* Snapshot table entries of v3 images need vm_state_size_large and
 * disk_size (qcow2.txt "Snapshot table entry"); a repair rewrites them
 * with the full extra data (disk_size then is the virtual size, as read). */
static int check_snapshot_table(CheckState *cs, int fix)
{
    BDRVQcow2State *s = cs->s;
    int incomplete = 0;

    if (s->h.version < 3) {
        return 0;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        if (sn->extra_data_size >= SN_EXTRA_MIN_V3) {
            continue;
        }
        incomplete++;
        fprintf(stderr, "%s snapshot table entry %u is incomplete\n",
                (fix & BDRV_FIX_ERRORS) ? "Repairing" : "ERROR", i);
        if (fix & BDRV_FIX_ERRORS) {
            sn->extra_data_size = 24;
        }
    }
    cs->res->corruptions += incomplete;
    if (incomplete && (fix & BDRV_FIX_ERRORS)) {
        int ret = qcow2_write_snapshots(cs->bs);
        if (ret < 0) {
            fprintf(stderr, "ERROR failed to update the snapshot table: %s\n",
                    g_strerror(-ret));
            cs->res->check_errors++;
            return ret;
        }
        cs->res->corruptions -= incomplete;
        cs->res->corruptions_fixed += incomplete;
    }
    return 0;
}

static int check_refcounts(CheckState *cs, int fix)
{
    BdrvCheckResult *res = cs->res;
    BDRVQcow2State *s = cs->s;
    int64_t highest = -1;
    int ret;

    calculate_refcounts(cs, fix);
    BdrvCheckResult pre_compare = *res;
    compare_refcounts(cs, 0, &highest);

    if (cs->rebuild && (fix & BDRV_FIX_ERRORS)) {
        BdrvCheckResult old = *res;
        int fresh_leaks = 0;

        fprintf(stderr, "Rebuilding refcount structure\n");
        ret = rebuild_refcount_structure(cs);
        if (ret < 0) {
            res->check_errors++;
            return ret;
        }
        res->corruptions = 0;
        res->leaks = 0;
        /* the new table replaced the old: count the references again, in
         * the file that now holds it */
        cs->file_len = bdrv_getlength(cs->bs->file);
        if (cs->file_len < 0) {
            res->check_errors++;
            return cs->file_len;
        }
        calculate_refcounts(cs, 0);
        if (fix & BDRV_FIX_LEAKS) {
            /* the old structures are leaked now; only leaks the rebuild
             * itself could not fix remain */
            BdrvCheckResult saved = *res;
            *res = (BdrvCheckResult){ 0 };
            compare_refcounts(cs, BDRV_FIX_LEAKS, &highest);
            if (cs->rebuild) {
                fprintf(stderr, "ERROR rebuilt refcount structure is still "
                        "broken\n");
            }
            fresh_leaks = res->leaks;
            *res = saved;
        }
        if (res->corruptions < old.corruptions) {
            res->corruptions_fixed += old.corruptions - res->corruptions;
        }
        if (res->leaks < old.leaks) {
            res->leaks_fixed += old.leaks - res->leaks;
        }
        res->leaks += fresh_leaks;
    } else if (fix) {
        if (cs->rebuild) {
            fprintf(stderr, "ERROR need to rebuild refcount structures\n");
            res->check_errors++;
            return -EIO;
        }
        if (res->leaks || res->corruptions) {
            *res = pre_compare;
            compare_refcounts(cs, fix, &highest);
        }
    }

    ret = qcow2_cache_flush(cs->bs, s->refcount_block_cache);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    ret = check_oflag_copied(cs, fix);
    if (ret < 0) {
        return ret;
    }
    res->image_end_offset = (highest + 1) * s->cluster_size;
    return 0;
}

int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    BDRVQcow2State *s = bs->opaque;
    CheckState cs = { .bs = bs, .s = s, .res = res };
    int ret;

    memset(res, 0, sizeof(*res));
    res->total_clusters = qcow2_size_to_clusters(s, s->h.size);
    if (bs->read_only || s->read_only) {
        fix = 0;
    }

    /* The check reads tables from the file: our caches go there first */
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret == 0) {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    }
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    cs.file_len = bdrv_getlength(bs->file);
    if (cs.file_len < 0) {
        res->check_errors++;
        return cs.file_len;
    }
    /* one counter per cluster the file holds, and one past a partial end */
    cs.nb_clusters = qcow2_size_to_clusters(s, cs.file_len) + 1;
    cs.refs = g_try_new0(uint32_t, cs.nb_clusters);
    if (!cs.refs) {
        res->check_errors++;
        return -ENOMEM;
    }

    /* refcounts first: repairing the snapshot table allocates clusters */
    ret = check_refcounts(&cs, fix);
    if (ret == 0) {
        ret = check_snapshot_table(&cs, fix);
    }
    g_free(cs.refs);
    if (ret < 0) {
        return ret;
    }
    if (fix && res->check_errors == 0 && res->corruptions == 0) {
        /* consistent now: the dirty and corrupt bits can go */
        ret = qcow2_mark_clean(bs);
        if (ret == 0 && (s->h.incompatible_features &
                         QCOW2_INCOMPAT_CORRUPT)) {
            s->h.incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
            s->corrupt = false;
            ret = qcow2_update_header(bs);
        }
    }
    return ret;
}
