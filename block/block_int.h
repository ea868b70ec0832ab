/*
 * Inside the block layer: nodes (BlockDriverState) with a driver each, and
 * the requests that travel down to the `file` protocol. A format driver
 * (raw, qcow2) sits on a protocol child (`file`); the backend holds the top.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"
#include "util/opts.h"

typedef enum BlockOp {
    BLK_OP_READ,
    BLK_OP_WRITE,
    BLK_OP_FLUSH,
    BLK_OP_DISCARD,
    BLK_OP_ZEROES,
} BlockOp;

/* BlockRequest.flags (BLK_ZERO_MAY_UNMAP is shared with block.h) */
#define BLK_REQ_FUA 0x100   /* flush the data before completing a write */
/* A write of whole clusters that the format stores compressed where that
 * saves space (qcow2; vireo-img convert -c). Others fail it: -ENOTSUP. */
#define BLK_REQ_WRITE_COMPRESSED 0x200

typedef struct BlockRequest BlockRequest;

/*
 * Points in a format driver's work that a blkdebug node below it can turn
 * into I/O errors (QEMU's BlkdebugEvent, same names and order; blkdebug.c
 * has the names). A driver raises one on its file child just before the
 * I/O the event names; most are never raised by Vireo's drivers (see
 * docs/blkdebug.md).
 */
typedef enum BlkdebugEvent {
    BLKDBG_L1_UPDATE,
    BLKDBG_L1_GROW_ALLOC_TABLE,
    BLKDBG_L1_GROW_WRITE_TABLE,
    BLKDBG_L1_GROW_ACTIVATE_TABLE,
    BLKDBG_L2_LOAD,
    BLKDBG_L2_UPDATE,
    BLKDBG_L2_UPDATE_COMPRESSED,
    BLKDBG_L2_ALLOC_COW_READ,
    BLKDBG_L2_ALLOC_WRITE,
    BLKDBG_READ_AIO,
    BLKDBG_READ_BACKING_AIO,
    BLKDBG_READ_COMPRESSED,
    BLKDBG_WRITE_AIO,
    BLKDBG_WRITE_COMPRESSED,
    BLKDBG_VMSTATE_LOAD,
    BLKDBG_VMSTATE_SAVE,
    BLKDBG_COW_READ,
    BLKDBG_COW_WRITE,
    BLKDBG_REFTABLE_LOAD,
    BLKDBG_REFTABLE_GROW,
    BLKDBG_REFTABLE_UPDATE,
    BLKDBG_REFBLOCK_LOAD,
    BLKDBG_REFBLOCK_UPDATE,
    BLKDBG_REFBLOCK_UPDATE_PART,
    BLKDBG_REFBLOCK_ALLOC,
    BLKDBG_REFBLOCK_ALLOC_HOOKUP,
    BLKDBG_REFBLOCK_ALLOC_WRITE,
    BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS,
    BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE,
    BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE,
    BLKDBG_CLUSTER_ALLOC,
    BLKDBG_CLUSTER_ALLOC_BYTES,
    BLKDBG_CLUSTER_FREE,
    BLKDBG_FLUSH_TO_OS,
    BLKDBG_FLUSH_TO_DISK,
    BLKDBG_PWRITEV_RMW_HEAD,
    BLKDBG_PWRITEV_RMW_AFTER_HEAD,
    BLKDBG_PWRITEV_RMW_TAIL,
    BLKDBG_PWRITEV_RMW_AFTER_TAIL,
    BLKDBG_PWRITEV,
    BLKDBG_PWRITEV_ZERO,
    BLKDBG_PWRITEV_DONE,
    BLKDBG_EMPTY_IMAGE_PREPARE,
    BLKDBG_L1_SHRINK_WRITE_TABLE,
    BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS,
    BLKDBG_COR_WRITE,
    BLKDBG_CLUSTER_ALLOC_SPACE,
    BLKDBG_NONE,
    BLKDBG__MAX,
} BlkdebugEvent;

struct BlockRequest {
    BlockOp op;
    int flags;
    int64_t offset;
    int64_t bytes;
    struct iovec *iov;      /* owned by whoever made the request */
    int iovcnt;
    int ret;                /* 0 or -errno when done runs */
    /* Main loop, big lock held. */
    void (*done)(BlockRequest *req);
    void *opaque;

    BlockDriverState *pool_bs;  /* whose run_sync the thread pool runs */
    /* the file protocol's bookkeeping */
    BlockDriverState *file_bs;
    int64_t align_start, align_end;
    bool serialising;
    bool tracked;
};

/* block_status results (QEMU's BDRV_BLOCK_*) */
#define BDRV_BLOCK_DATA         0x01    /* reads come from stored data */
#define BDRV_BLOCK_ZERO         0x02    /* reads return zeros */
#define BDRV_BLOCK_OFFSET_VALID 0x04    /* *map is the offset in *file */
#define BDRV_BLOCK_ALLOCATED    0x10    /* this node decides, not its backing */
#define BDRV_BLOCK_COMPRESSED   0x40

/* preallocation= of create and truncate */
typedef enum PreallocMode {
    PREALLOC_MODE_OFF,
    PREALLOC_MODE_METADATA,
    PREALLOC_MODE_FALLOC,
    PREALLOC_MODE_FULL,
} PreallocMode;

/* What check found and fixed (qemu-img check's numbers). */
typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;
    int64_t allocated_clusters;     /* guest clusters mapped in the image */
    int64_t total_clusters;         /* of the virtual disk */
    int64_t fragmented_clusters;
    int64_t compressed_clusters;
} BdrvCheckResult;

/* check's fix argument */
#define BDRV_FIX_LEAKS  0x1
#define BDRV_FIX_ERRORS 0x2

/* Facts for info and convert. */
typedef struct BlockDriverInfo {
    int cluster_size;               /* 0: none */
    bool is_dirty;                  /* qcow2: needs a check (dirty bit) */
} BlockDriverInfo;

typedef struct BlockDriver {
    const char *format_name;
    /* 0..100: how sure the driver is that the image's first bytes (buf,
     * len of them, at least 512 or the whole file) are its format. */
    int (*probe)(const uint8_t *buf, int len, const char *filename);
    /* Opens bs on top of bs->file (formats) or filename (protocols). A
     * format with a backing file sets bs->backing_file (as stored) and
     * bs->backing_format; the generic layer opens the chain afterwards. */
    bool (*open)(BlockDriverState *bs, const char *filename,
                 const BlockOpenOptions *o, GError **errp);
    void (*close)(BlockDriverState *bs);
    int64_t (*getlength)(BlockDriverState *bs);
    /* Starts req; req->done runs later on the main loop, never inside. */
    void (*submit)(BlockDriverState *bs, BlockRequest *req);
    /* The same request synchronously, in the calling thread. */
    int (*run_sync)(BlockDriverState *bs, BlockRequest *req);

    /* Everything below is optional (NULL: not supported). */

    /* Creates an image of size bytes; takes its keys from opts (marking
     * them used; the caller rejects the rest). */
    bool (*create)(const char *filename, int64_t size, Opts *opts,
                   GError **errp);
    /* Status of [offset, offset + bytes): BDRV_BLOCK_* flags, *pnum
     * (> 0) bytes that share it, *map and *file when OFFSET_VALID.
     * 0..flags or -errno. NULL: everything is allocated data. */
    int (*block_status)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int64_t *pnum, int64_t *map, BlockDriverState **file);
    /* Resizes the virtual disk; shrinking only when shrink is set. */
    bool (*truncate)(BlockDriverState *bs, int64_t offset, bool shrink,
                     PreallocMode prealloc, GError **errp);
    bool (*get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);
    /* qemu-img info's "format-specific" object, new reference, or NULL. */
    json_t *(*get_specific_info)(BlockDriverState *bs);
    /* Bytes the image takes on the host (NULL: the file child's). */
    int64_t (*allocated_file_size)(BlockDriverState *bs);
    /* Checks the metadata and repairs what fix asks for; 0 or -errno
     * (when the check itself could not run). */
    int (*check)(BlockDriverState *bs, BdrvCheckResult *res, int fix);
    /* Changes create-time options in place (qemu-img amend -o). */
    bool (*amend)(BlockDriverState *bs, Opts *opts, GError **errp);
    /* Rewrites the backing file name and format stored in the image
     * (NULL file: no backing file). */
    int (*change_backing_file)(BlockDriverState *bs, const char *file,
                               const char *fmt);
    /* Drops every allocation so the backing file shows through again
     * (qemu-img commit's emptying of the top). */
    int (*make_empty)(BlockDriverState *bs);
    /* Internal snapshots. list: count entries into *psn (caller frees
     * each with bdrv_snapshot_info_free and the array with g_free). */
    bool (*snapshot_create)(BlockDriverState *bs, const BdrvSnapshotInfo *sn,
                            GError **errp);
    bool (*snapshot_goto)(BlockDriverState *bs, const char *name_or_id,
                          GError **errp);
    bool (*snapshot_delete)(BlockDriverState *bs, const char *name_or_id,
                            GError **errp);
    int (*snapshot_list)(BlockDriverState *bs, BdrvSnapshotInfo **psn);
    /* The VM-state area of the active image (savevm/loadvm): size bytes
     * at pos, written or read; 0 or -errno. */
    int (*vmstate_rw)(BlockDriverState *bs, bool is_write, void *buf,
                      uint64_t pos, uint64_t size);
    /*
     * Migration handover (QEMU's inactivate / invalidate_cache). inactivate
     * writes back what the node caches and lets go of its write locks, so
     * another process may take the image over; activate takes the locks
     * back and re-reads whatever the node read at open, since the other
     * process may have changed it meanwhile. A node opened inactive (the
     * destination of -incoming) holds no locks and writes nothing until
     * activated.
     */
    bool (*inactivate)(BlockDriverState *bs, GError **errp);
    bool (*activate)(BlockDriverState *bs, GError **errp);
    /* A parent raised event on this node (blkdebug); any thread. */
    void (*debug_event)(BlockDriverState *bs, BlkdebugEvent event);
} BlockDriver;

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque;               /* the driver's state */
    BlockDriverState *file;     /* protocol child of a format node */
    BlockDriverState *backing;  /* NULL: none (reads as zeros) */
    char *filename;
    char *node_name;            /* -blockdev node-name= or generated */
    char *backing_file;         /* as the image stores it, or NULL */
    char *backing_format;       /* as the image stores it, or NULL */
    bool read_only;
    bool probed;                /* format guessed: raw restricts block 0 */
    uint32_t request_alignment; /* 1, or the O_DIRECT block size */
    bool inactive;              /* handed over: no locks, no writes */
};

extern const BlockDriver bdrv_file;
extern const BlockDriver bdrv_raw;
extern const BlockDriver bdrv_qcow2;
extern const BlockDriver bdrv_blkdebug;

/*
 * The generic layer (block/block.c).
 */

/* "raw", "qcow2", "file"; NULL for other names. */
const BlockDriver *bdrv_find_format(const char *name);
/*
 * Opens filename as o->format (NULL: probed; a probed raw image gets QEMU's
 * warning and bs->probed) over a `file` node, then its backing chain
 * (read-only, relative names relative to the image's directory, format from
 * the image or probed, loops and chains deeper than 256 refused) unless
 * o->no_backing.
 */
BlockDriverState *bdrv_open(const char *filename, const BlockOpenOptions *o,
                            GError **errp);
/* Tells bs (a parent's file child) that event is about to happen, for a
 * blkdebug node's rules; nothing for other drivers or a NULL bs. */
void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event);
/* Closes bs, its file child and its backing chain. */
void bdrv_unref(BlockDriverState *bs);
/* Where bs's backing file is, for opening: NULL without one. g_free. */
char *bdrv_backing_path(BlockDriverState *bs);

/* Synchronous I/O on a node, in the calling thread; 0 or -errno. Reads
 * past the end of the node return zeros. */
int64_t bdrv_getlength(BlockDriverState *bs);
int bdrv_pread(BlockDriverState *bs, int64_t offset, void *buf,
               int64_t bytes);
int bdrv_pwrite(BlockDriverState *bs, int64_t offset, const void *buf,
                int64_t bytes);
int bdrv_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags);
int bdrv_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes);
int bdrv_flush(BlockDriverState *bs);
/* drv->block_status, or "all data at the same offset in bs" without one;
 * past the end: ZERO. */
int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file);
/* 1 if some node from top down to (not including) base allocates the
 * first *pnum bytes at offset, 0 if none does; -errno on error. */
int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum);
/* drv->create for format (opts may be NULL); the caller reports unused
 * keys. Errors name the file. */
bool bdrv_create(const char *format, const char *filename, int64_t size,
                 Opts *opts, GError **errp);
bool bdrv_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                   PreallocMode prealloc, GError **errp);
/*
 * QEMU's ImageInfo as qemu-img info --output=json prints it: filename,
 * format, virtual-size, actual-size, dirty-flag, cluster-size,
 * backing-filename, full-backing-filename, backing-filename-format,
 * snapshots, format-specific; with backing_chain, "backing-image" nests
 * the same for each backing node. New reference.
 */
json_t *bdrv_query_image_info(BlockDriverState *bs, bool backing_chain);
/* The snapshot as QMP/qemu-img's SnapshotInfo object */
json_t *bdrv_snapshot_info_json(const BdrvSnapshotInfo *sn);

/*
 * The node graph beyond bdrv_open (block.c), for -blockdev, the backends
 * and the monitor.
 */
/* A format node over file (taking its reference, also on failure), or a
 * protocol node when file is NULL; registered under a generated name. */
BlockDriverState *bdrv_open_format(const BlockDriver *drv,
                                   BlockDriverState *file,
                                   const char *filename,
                                   const BlockOpenOptions *o, GError **errp);
/* Opens the backing chain below the last node that has bs->backing set. */
bool bdrv_open_backing_chain(BlockDriverState *bs, const BlockOpenOptions *o,
                             GError **errp);
/* Another reference (bdrv_unref drops one; the last closes). */
void bdrv_ref(BlockDriverState *bs);
/* Open nodes by name, and in creation order (bdrv_next_node(NULL): first) */
BlockDriverState *bdrv_find_node(const char *node_name);
BlockDriverState *bdrv_next_node(BlockDriverState *bs);
/* QEMU's rules for node-name=; "Duplicate nodes with node-name='x'". */
bool bdrv_set_node_name(BlockDriverState *bs, const char *name,
                        GError **errp);
/* Number of backing nodes below bs */
int bdrv_backing_depth(BlockDriverState *bs);
/* Bytes on the host (drv->allocated_file_size or the file child's) or
 * -errno */
int64_t bdrv_allocated_file_size(BlockDriverState *bs);
/* obj (reference taken) rebuilt in the key order QEMU prints objects in */
json_t *bdrv_json_qemu_order(json_t *obj);

/* "off", "metadata", "falloc", "full" */
bool bdrv_parse_prealloc(const char *s, PreallocMode *out, GError **errp);

/* Opens a node of drv (formats open a `file` child first); NULL on error. */
BlockDriverState *bdrv_open_node(const BlockDriver *drv, const char *filename,
                                 const BlockOpenOptions *o, GError **errp);
void bdrv_close_node(BlockDriverState *bs);
void bdrv_submit(BlockDriverState *bs, BlockRequest *req);
int bdrv_run_sync(BlockDriverState *bs, BlockRequest *req);

/* Completes req (req->ret set) on the main loop soon; any thread. */
void block_complete_later(BlockRequest *req);
/*
 * Runs bs->drv->run_sync(bs, req) in the thread pool, then req->done on the
 * main loop. A format driver (qcow2) can do its metadata work this way,
 * reading and writing its file child with bdrv_run_sync.
 */
void block_run_in_pool(BlockDriverState *bs, BlockRequest *req);

/* iovec helpers */
size_t iov_size(const struct iovec *iov, int iovcnt);
void iov_memset(const struct iovec *iov, int iovcnt, size_t offset, int c,
                size_t bytes);
void iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset,
                void *buf, size_t bytes);
void iov_from_buf(const struct iovec *iov, int iovcnt, size_t offset,
                  const void *buf, size_t bytes);
/* Points dst (room for iovcnt entries) at bytes of iov from offset on;
 * the entries used. They cover fewer bytes when iov is shorter. */
int iov_slice(struct iovec *dst, const struct iovec *iov, int iovcnt,
              size_t offset, size_t bytes);

#endif
