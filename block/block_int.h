/*
 * Inside the block layer: nodes (BlockDriverState) with a driver each, and
 * the requests that travel down to the `file` protocol. A format driver
 * (raw, qcow2) sits on a protocol child (`file`); the backend holds the top.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"

typedef enum BlockOp {
    BLK_OP_READ,
    BLK_OP_WRITE,
    BLK_OP_FLUSH,
    BLK_OP_DISCARD,
    BLK_OP_ZEROES,
} BlockOp;

/* BlockRequest.flags (BLK_ZERO_MAY_UNMAP is shared with block.h) */
#define BLK_REQ_FUA 0x100   /* flush the data before completing a write */

typedef struct BlockRequest BlockRequest;
typedef struct BlockDriverState BlockDriverState;

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

typedef struct BlockDriver {
    const char *format_name;
    /* Opens bs on top of bs->file (formats) or filename (protocols). */
    bool (*open)(BlockDriverState *bs, const char *filename,
                 const BlockOpenOptions *o, GError **errp);
    void (*close)(BlockDriverState *bs);
    int64_t (*getlength)(BlockDriverState *bs);
    /* Starts req; req->done runs later on the main loop, never inside. */
    void (*submit)(BlockDriverState *bs, BlockRequest *req);
    /* The same request synchronously, in the calling thread. */
    int (*run_sync)(BlockDriverState *bs, BlockRequest *req);
} BlockDriver;

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque;               /* the driver's state */
    BlockDriverState *file;     /* protocol child of a format node */
    char *filename;
    bool read_only;
    bool probed;                /* format guessed: raw restricts block 0 */
    uint32_t request_alignment; /* 1, or the O_DIRECT block size */
};

extern const BlockDriver bdrv_file;
extern const BlockDriver bdrv_raw;

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

#endif
