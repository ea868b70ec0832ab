/*
 * qcow2 inside the driver: the on-disk layout (docs/interop/qcow2.txt of
 * QEMU, versions 2 and 3) and the state the driver's files share.
 *
 *   qcow2.c          open (validation), header and extensions, info,
 *                    dirty/corrupt bits, the driver's table
 *   qcow2-io.c       the request path
 *   qcow2-create.c   create, preallocation, resize, amend
 *   qcow2-cache.c    the L2 and refcount-block caches
 *   qcow2-cluster.c  guest offset -> host offset: L1/L2 lookup, allocation
 *                    with copy-on-write, zero, discard, compressed clusters,
 *                    subclusters, block_status, resize
 *   qcow2-refcount.c refcounts (every refcount_bits), cluster allocation and
 *                    freeing, metadata overlap checks
 *   qcow2-snapshot.c the snapshot table; create, apply, delete, list
 *   qcow2-check.c    check and repair
 *
 * One mutex (s->lock) is held for a whole request, so the metadata code is
 * single-threaded. Ordering rule for crash safety: a refcount increase is on
 * disk before any table points at the new cluster, and a table no longer
 * points at a cluster before its refcount decrease is on disk; a crash
 * leaves at most leaked clusters.
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block_int.h"

#define QCOW2_MAGIC 0x514649fb          /* "QFI\xfb" */

/* header layout */
#define QCOW2_V2_HEADER_SIZE 72
#define QCOW2_V3_HEADER_SIZE 104        /* without compression_type */
#define QCOW2_HEADER_SIZE 112           /* what we write for v3 */
#define QCOW2_OFF_SIZE 24
#define QCOW2_OFF_INCOMPAT 72
#define QCOW2_FEATURE_NAME_LEN 46


#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_DEFAULT_CLUSTER_BITS 16

/* Limits QEMU applies, so an image cannot make us allocate without bound */
#define QCOW2_MAX_L1_SIZE (32 * 1024 * 1024)            /* bytes */
#define QCOW2_MAX_REFTABLE_SIZE (8 * 1024 * 1024)       /* bytes */
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_SNAPSHOT_EXTRA_DATA 1024
#define QCOW2_MAX_BACKING_FILE_NAME 1023
#define QCOW2_MAX_HEADER_SIZE 65536     /* header + extensions: 1st cluster */
#define ROUND_UP(n, d) (((n) + (d) - 1) / (d) * (d))

/* incompatible_features */
#define QCOW2_INCOMPAT_DIRTY        (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT      (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2        (1ULL << 4)
#define QCOW2_INCOMPAT_SUPPORTED \
    (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | \
     QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2)
/* compatible_features */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)
/* autoclear_features: cleared on open, since we do not maintain them */
#define QCOW2_AUTOCLEAR_BITMAPS     (1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ULL << 1)

/* header extensions */
#define QCOW2_EXT_END               0x00000000
#define QCOW2_EXT_BACKING_FORMAT    0xe2792aca
#define QCOW2_EXT_FEATURE_TABLE     0x6803f857
#define QCOW2_EXT_CRYPTO            0x0537be77
#define QCOW2_EXT_BITMAPS           0x23852875
#define QCOW2_EXT_DATA_FILE         0x44415441

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* L1 and L2 entries */
#define QCOW_OFLAG_COPIED     (1ULL << 63)  /* refcount is exactly 1 */
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO       (1ULL << 0)   /* v3, standard clusters */
#define L1E_OFFSET_MASK       0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK       0x00fffffffffffe00ULL
#define L1E_RESERVED_MASK     0x7f000000000001ffULL
#define L2E_STD_RESERVED_MASK 0x3f000000000001feULL
#define REFT_OFFSET_MASK      0xfffffffffffffe00ULL

/* extended L2: 32 subclusters, allocation bits 0-31, zero bits 32-63 */
#define QCOW2_SUBCLUSTERS 32

/* The header fields, in host byte order. v2 images read as v3 with the
 * v3 fields at their implied values (refcount_order 4, header_length 72). */
typedef struct Qcow2Header {
    uint32_t magic;
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    /* version 3 */
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
} Qcow2Header;

/* A header extension we keep as read and write back unchanged. */
typedef struct Qcow2UnknownExt {
    uint32_t magic;
    uint32_t len;
    uint8_t *data;
} Qcow2UnknownExt;

typedef struct Qcow2Snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str;
    char *name;
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    int64_t icount;                 /* -1: none */
    uint32_t extra_data_size;       /* as read; kept when larger than ours */
    uint8_t *unknown_extra_data;    /* the part we do not understand */
} Qcow2Snapshot;

typedef struct Qcow2Cache Qcow2Cache;

typedef struct BDRVQcow2State {
    GMutex lock;                    /* held for a whole request */
    Qcow2Header h;

    int cluster_bits;
    int cluster_size;
    int64_t cluster_mask;           /* cluster_size - 1 */
    int l2_bits;                    /* log2 of entries per L2 table */
    int l2_size;                    /* entries per L2 table */
    int l2_entry_size;              /* 8, or 16 with extended L2 */
    bool extended_l2;
    int subcluster_bits;
    int subcluster_size;            /* cluster_size, or / 32 with ext. L2 */
    int csize_shift;                /* compressed descriptor layout */
    uint64_t csize_mask;
    uint64_t cluster_offset_mask;

    uint64_t *l1_table;             /* host order, h.l1_size entries */
    uint32_t l1_size;
    uint64_t l1_table_offset;

    int refcount_order;
    int refcount_bits;
    uint64_t refcount_max;
    int refcount_block_bits;        /* log2 of entries per refcount block */
    int refcount_block_size;
    uint64_t *refcount_table;       /* host order */
    uint32_t refcount_table_size;   /* entries */
    uint64_t refcount_table_offset;
    int64_t free_cluster_index;     /* allocation search starts here */
    int64_t free_byte_offset;       /* compressed-cluster packing; 0: none */

    Qcow2Cache *l2_cache;
    Qcow2Cache *refcount_block_cache;

    Qcow2Snapshot *snapshots;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    int snapshots_size;             /* bytes of the table on disk */

    Qcow2UnknownExt *unknown_ext;   /* kept intact on header rewrites */
    int nb_unknown_ext;
    GPtrArray *feature_table;       /* raw feature-name entries (48 B) */

    bool lazy_refcounts;            /* compatible bit set on open */
    bool dirty_set;                 /* we set the dirty bit this session */
    bool corrupt;                   /* marked corrupt: all I/O fails */
    bool read_only;
    BlockOpenOptions open_opts;     /* as opened (format: NULL), to reopen */
    uint8_t compression_type;
    uint64_t file_end_seen;         /* the file was at least this long */

    /*
     * Reads and writes in place served on the main loop without the pool
     * (qcow2-io.c): how many are in flight; how many requests that may
     * free or allocate clusters are pending (no fast one starts then);
     * those of them that wait for the fast ones to end. Under fast_lock;
     * zero-filled is a valid GMutex/GCond on Linux.
     */
    GMutex fast_lock;
    GCond fast_cond;
    int fast_inflight;
    int fast_blockers;
    GQueue fast_deferred;           /* of BlockRequest, for the pool */

    /* qcow2_check_metadata_overlap: refcount table entries at and past
     * reftable_hi are 0, while reftable_hi_of/_size match the table */
    const uint64_t *reftable_hi_of;
    uint32_t reftable_hi_size;
    uint32_t reftable_hi;
} BDRVQcow2State;

static inline int64_t qcow2_offset_into_cluster(BDRVQcow2State *s,
                                                int64_t offset)
{
    return offset & s->cluster_mask;
}

static inline int64_t qcow2_size_to_clusters(BDRVQcow2State *s, int64_t size)
{
    return (size + s->cluster_size - 1) >> s->cluster_bits;
}

static inline int64_t qcow2_start_of_cluster(BDRVQcow2State *s,
                                             int64_t offset)
{
    return offset & ~s->cluster_mask;
}

/* Big-endian accessors for on-disk tables */
static inline uint64_t qcow2_be64(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)b[0] << 56) | ((uint64_t)b[1] << 48) |
           ((uint64_t)b[2] << 40) | ((uint64_t)b[3] << 32) |
           ((uint64_t)b[4] << 24) | ((uint64_t)b[5] << 16) |
           ((uint64_t)b[6] << 8) | b[7];
}

static inline void qcow2_put_be64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 7; i >= 0; i--) {
        b[i] = v;
        v >>= 8;
    }
}

/* ---- qcow2.c ---- */

/* Rewrites the header cluster from s->h, the extensions we know (backing
 * format, feature table) and the unknown ones kept from open. */
int qcow2_update_header(BlockDriverState *bs);
/* Sets the dirty bit (lazy refcounts) before the first metadata write of
 * a session that leaves refcounts stale; 0 or -errno. */
int qcow2_mark_dirty(BlockDriverState *bs);
/* Flushes everything, then clears the dirty bit. */
int qcow2_mark_clean(BlockDriverState *bs);
/*
 * The image's metadata is inconsistent: logs "qcow2: Marking image as
 * corrupt: <msg>; further corruption events will be suppressed" once, sets
 * the corrupt bit on disk (unless read-only) and makes every later request
 * fail with -EIO. Returns -EIO for "return qcow2_signal_corruption(...)".
 */
int qcow2_signal_corruption(BlockDriverState *bs, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/*
 * Lays out the header cluster in buf (len bytes): fields from h, the
 * backing format and feature table extensions, the kept unknown extensions
 * and the backing file name; fills h's backing file offset and size and
 * header_length. -ENOSPC when it does not fit.
 */
int qcow2_header_build(Qcow2Header *h, const char *backing_file,
                       const char *backing_fmt,
                       const Qcow2UnknownExt *unknown, int nb_unknown,
                       uint8_t *buf, size_t len);
/* Both caches written and the file flushed; 0 or -errno. */
int qcow2_flush_caches(BlockDriverState *bs);
/* Rewrites the backing file name and format (s->lock held). */
int qcow2_change_backing_locked(BlockDriverState *bs, const char *file,
                                const char *fmt);

/* ---- qcow2-io.c ---- */

int qcow2_run_sync(BlockDriverState *bs, BlockRequest *req);
/* BlockDriver.vmstate_rw: the VM state lives in the guest address space
 * right after the disk, at the first L1 entry past it (as QEMU keeps it) */
int qcow2_vmstate_rw(BlockDriverState *bs, bool is_write, void *buf,
                     uint64_t pos, uint64_t size);
static inline uint64_t qcow2_vm_state_offset(const BDRVQcow2State *s)
{
    int shift = s->cluster_bits + s->l2_bits;
    return ROUND_UP(s->h.size, 1ULL << shift);
}
void qcow2_submit(BlockDriverState *bs, BlockRequest *req);
/*
 * Around an operation outside the request path that frees or allocates
 * clusters (snapshots, resize, amend) while guest requests may be in flight:
 * waits until no request served on the main loop is in flight and keeps
 * new ones on the pool until unblock. Call before taking s->lock, never
 * with it held.
 */
void qcow2_fast_reads_block(BlockDriverState *bs);
void qcow2_fast_reads_unblock(BlockDriverState *bs);
/* An L2 table changed: marks it dirty, with the refcount cache as its
 * dependency (new clusters' refcounts reach the disk first). */
void qcow2_l2_updated(BlockDriverState *bs, void *l2);
/* Whether an L2 entry points at a host cluster (standard or compressed). */
bool qcow2_entry_has_host(uint64_t entry);
/* Writes real zeros to guest [offset, offset + bytes) (s->lock held). */
int qcow2_write_zero_buffer(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes);

/* ---- qcow2-create.c ---- */

bool qcow2_create(const char *filename, int64_t size, Opts *opts,
                  GError **errp);
bool qcow2_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                    PreallocMode prealloc, GError **errp);
bool qcow2_amend(BlockDriverState *bs, Opts *opts, GError **errp);

/* ---- qcow2-cache.c: write-back caches of cluster-sized tables ---- */

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               int table_size);
void qcow2_cache_destroy(Qcow2Cache *c);
/* The table at offset (read from bs->file on a miss); put it back with
 * qcow2_cache_put. 0 or -errno. */
int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table);
/* Like get, without reading: for a newly allocated table. */
int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table);
/* The table at offset if it is cached, without any I/O (put it back);
 * -ENOENT when it is not. */
int qcow2_cache_peek(Qcow2Cache *c, uint64_t offset, void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table);
/*
 * Writes the dirty tables back. Before c writes anything, the cache it
 * depends on is written and bs->file flushed (the ordering rule above).
 */
int qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
/* qcow2_cache_write and a flush of bs->file */
int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
/* Before c's next write, dependency is flushed (set per change) */
void qcow2_cache_set_dependency(Qcow2Cache *c, Qcow2Cache *dependency);
/* Forgets a table (its cluster was freed) without writing it. */
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
/* Drops every clean table and forgets every dirty one (after check -r or
 * snapshot apply re-read the metadata). */
void qcow2_cache_empty(Qcow2Cache *c);

/* ---- qcow2-refcount.c ---- */

/* Loads the refcount table at open; checks it against the file. */
bool qcow2_refcount_init(BlockDriverState *bs, GError **errp);
void qcow2_refcount_close(BlockDriverState *bs);
/* The refcount of the cluster with index cluster_index (0 past the
 * table); 0 or -errno. */
int qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                       uint64_t *refcount);
/*
 * Adds addend (negative to drop) to the refcount of every cluster in
 * [offset, offset + length). -EINVAL (and nothing changed) on underflow or
 * overflow. Decreases that reach zero make the cluster free and forget
 * cached tables at it.
 */
int qcow2_update_refcount(BlockDriverState *bs, int64_t offset,
                          int64_t length, int64_t addend);
/* n contiguous free clusters with refcount 1 (growing the refcount
 * structures as needed); the host offset or -errno. */
int64_t qcow2_alloc_clusters(BlockDriverState *bs, int64_t size);
/* Claims n clusters at a given offset where they are free: how many it
 * got (from the start), or -errno. For preallocation and COW. */
int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters);
/* size bytes (<= cluster size) packed after earlier compressed data; the
 * host offset or -errno. */
int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size);
/* Drops one reference to [offset, offset + size) (discard semantics as
 * the file allows: a cluster that becomes free is punched). */
void qcow2_free_clusters(BlockDriverState *bs, int64_t offset, int64_t size);
/* Drops the references of one L2 entry (standard or compressed). */
void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry);

/* QCOW2_OL_* bits: which metadata a write may touch */
#define QCOW2_OL_MAIN_HEADER    0x001
#define QCOW2_OL_ACTIVE_L1      0x002
#define QCOW2_OL_ACTIVE_L2      0x004
#define QCOW2_OL_REFCOUNT_TABLE 0x008
#define QCOW2_OL_REFCOUNT_BLOCK 0x010
#define QCOW2_OL_SNAPSHOT_TABLE 0x020
#define QCOW2_OL_INACTIVE_L1    0x040
#define QCOW2_OL_INACTIVE_L2    0x080  /* costly: not checked by default */
#define QCOW2_OL_DEFAULT        0x07f
/* 0 if writing [offset, offset + size) hits no metadata outside ign,
 * else the QCOW2_OL_* bit it hits. */
int qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                 int64_t offset, int64_t size);
/* The same; a hit is qcow2_signal_corruption() and -EIO. */
int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size);
/*
 * For a snapshot: adds addend (+1 create, -1 delete, 0 to just fix them)
 * to the refcounts of every cluster reached from the L1 table at
 * l1_table_offset (l1_size entries), and sets or clears the COPIED flags
 * in the active L1/L2 tables to match the result.
 */
int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   int64_t l1_table_offset, int l1_size,
                                   int addend);
/* Reads and writes the refcount at index in a refcount block of any
 * refcount_bits (sub-byte widths count from the least significant bit). */
uint64_t qcow2_refcount_block_get(BDRVQcow2State *s, const void *block,
                                  uint64_t index);
void qcow2_refcount_block_set(BDRVQcow2State *s, void *block,
                              uint64_t index, uint64_t value);
/* The 512-byte sectors a compressed L2 entry's data spans: what its
 * references cover (qcow2.txt "Compressed Clusters Descriptor"). */
void qcow2_compressed_host_range(BDRVQcow2State *s, uint64_t l2_entry,
                                 uint64_t *start, uint64_t *bytes);
/* Reads an L1 table (snapshot or active) into a new host-order array
 * (g_free); -EINVAL for a size beyond QCOW2_MAX_L1_SIZE or an unaligned
 * offset. */
int qcow2_read_l1_table(BlockDriverState *bs, uint64_t offset,
                        uint32_t l1_size, uint64_t **l1);
/* qcow2_update_snapshot_refcount's walk over an L1 table in memory
 * (host order), without fixing the COPIED flags. */
int qcow2_update_l1_refcounts(BlockDriverState *bs, const uint64_t *l1,
                              uint32_t l1_size, int addend);

/* ---- qcow2-cluster.c ---- */

/* What a guest range maps to */
typedef enum Qcow2SubclusterType {
    QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN, /* backing file, or zeros */
    QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC, /* host cluster reserved, reads
                                           through to the backing file */
    QCOW2_SUBCLUSTER_ZERO_PLAIN,
    QCOW2_SUBCLUSTER_ZERO_ALLOC,        /* zeros, host cluster reserved */
    QCOW2_SUBCLUSTER_NORMAL,
    QCOW2_SUBCLUSTER_COMPRESSED,
    QCOW2_SUBCLUSTER_INVALID,
} Qcow2SubclusterType;

/* Resizes the in-memory and on-disk L1 table to hold min_size entries
 * (moving it to new clusters); 0 or -errno. */
int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size);
/*
 * Looks up guest offset: *bytes (in: wanted, out: how many share the
 * mapping, within one L2 table), *host_offset (NORMAL and *_ALLOC: the host
 * offset of offset; COMPRESSED: the raw L2 entry). The type, or -errno.
 */
int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          uint64_t *bytes, uint64_t *host_offset,
                          Qcow2SubclusterType *type);
/* Reads one compressed cluster (the raw L2 entry) into a cluster_size
 * buffer; 0 or -errno (-EIO on a descriptor out of range or bad data). */
int qcow2_decompress_cluster(BlockDriverState *bs, uint64_t l2_entry,
                             uint8_t *out);
/* Discards (full_discard: back to the backing file; else zero) or zeroes
 * guest clusters in [offset, offset + bytes), cluster-aligned. */
int qcow2_cluster_discard(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, bool full_discard);
int qcow2_cluster_zeroize(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, bool may_unmap);
/* Reads the L2 entry (and bitmap with extended L2) at index of an L2
 * table from the cache. */
uint64_t qcow2_l2_entry(BDRVQcow2State *s, const void *l2_table, int idx);
uint64_t qcow2_l2_bitmap(BDRVQcow2State *s, const void *l2_table, int idx);
void qcow2_set_l2_entry(BDRVQcow2State *s, void *l2_table, int idx,
                        uint64_t entry);
void qcow2_set_l2_bitmap(BDRVQcow2State *s, void *l2_table, int idx,
                         uint64_t bitmap);
/* Offset and size in the file of a compressed cluster's data. */
void qcow2_parse_compressed_l2_entry(BDRVQcow2State *s, uint64_t l2_entry,
                                     uint64_t *coffset, int *csize);
/* The type of subcluster sc (0 without extended L2) of an L2 entry. */
Qcow2SubclusterType qcow2_subcluster_type(BDRVQcow2State *s, uint64_t entry,
                                          uint64_t bitmap, int sc);
/* The L2 table of L1 entry l1_index from the L2 cache (NULL: none). */
int qcow2_l2_load(BlockDriverState *bs, uint64_t l1_index, void **table);
/* Whether offset lies inside the file (its length is asked for only when
 * offset is past the length seen last). */
bool qcow2_offset_in_file(BlockDriverState *bs, uint64_t offset);
/* The L2 table covering offset, made exclusive to the active L1 (new or
 * copied from a shared one); *l2_index is offset's entry. */
int qcow2_l2_get_for_write(BlockDriverState *bs, uint64_t offset,
                           void **table, int *l2_index);
/* Writes the L1 entry (its 512-byte block) to disk. */
int qcow2_write_l1_entry(BlockDriverState *bs, uint64_t l1_index);
/* Compresses in_len bytes with the image's compression type into out;
 * the length, -ENOSPC when it does not fit in out_cap, or -errno. */
int64_t qcow2_compress_cluster(BDRVQcow2State *s, uint8_t *out,
                               size_t out_cap, const uint8_t *in,
                               size_t in_len);
/* Extended L2: subclusters of one cluster read zeros from now on. */
int qcow2_subclusters_zeroize(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes);
/* The driver's block_status (takes s->lock). */
int qcow2_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int64_t *pnum, int64_t *map, BlockDriverState **file);
/* Frees the clusters and L2 tables past new_size (shrinking resize). */
int qcow2_shrink_mapping(BlockDriverState *bs, uint64_t new_size,
                         uint64_t old_size);

/* ---- qcow2-snapshot.c ---- */

/* Reads the snapshot table at open (validating every entry). */
bool qcow2_read_snapshots(BlockDriverState *bs, GError **errp);
/* Writes s->snapshots to new clusters and points the header at them. */
int qcow2_write_snapshots(BlockDriverState *bs);
void qcow2_free_snapshots(BlockDriverState *bs);
bool qcow2_snapshot_create(BlockDriverState *bs, const BdrvSnapshotInfo *info,
                           GError **errp);
bool qcow2_snapshot_goto(BlockDriverState *bs, const char *name_or_id,
                         GError **errp);
bool qcow2_snapshot_delete(BlockDriverState *bs, const char *name_or_id,
                           GError **errp);
int qcow2_snapshot_list(BlockDriverState *bs, BdrvSnapshotInfo **psn);

/* ---- qcow2-check.c ---- */

int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res, int fix);

#endif
