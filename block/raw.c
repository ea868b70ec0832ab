/*
 * The `raw` format: the image is the disk. A probed raw image (no format=
 * given) refuses writes that would make block 0 look like another format,
 * as QEMU does, so a guest cannot turn its disk into a qcow2 header.
 */
#include <errno.h>
#include <string.h>

#include "block/block_int.h"

static bool raw_open(BlockDriverState *bs, const char *filename,
                     const BlockOpenOptions *o, GError **errp)
{
    bs->request_alignment = bs->file->request_alignment;
    return true;
}

static void raw_close(BlockDriverState *bs)
{
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    return bs->file->drv->getlength(bs->file);
}

/* -EPERM for a write to block 0 of a probed image that looks like qcow2 */
static int raw_check_write(BlockDriverState *bs, BlockRequest *req)
{
    static const uint8_t qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };
    uint8_t head[4];

    if (!bs->probed || req->op != BLK_OP_WRITE || req->offset != 0 ||
        req->bytes < 4) {
        return 0;
    }
    iov_to_buf(req->iov, req->iovcnt, 0, head, sizeof(head));
    return memcmp(head, qcow2_magic, 4) ? 0 : -EPERM;
}

/* What QEMU's raw driver tells a blkdebug node below it */
static void raw_debug_event(BlockDriverState *bs, BlockRequest *req)
{
    if (req->op == BLK_OP_READ) {
        bdrv_debug_event(bs->file, BLKDBG_READ_AIO);
    } else if (req->op == BLK_OP_WRITE) {
        bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
    } else if (req->op == BLK_OP_FLUSH) {
        bdrv_debug_event(bs->file, BLKDBG_FLUSH_TO_DISK);
    }
}

static void raw_submit(BlockDriverState *bs, BlockRequest *req)
{
    int ret = raw_check_write(bs, req);
    if (ret < 0) {
        req->ret = ret;
        block_complete_later(req);
        return;
    }
    raw_debug_event(bs, req);
    bdrv_submit(bs->file, req);
}

static int raw_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    int ret = raw_check_write(bs, req);
    if (ret < 0) {
        return ret;
    }
    raw_debug_event(bs, req);
    return bdrv_run_sync(bs->file, req);
}

/* The file's holes show through: raw allocates everything itself. */
static int raw_block_status(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int64_t *pnum, int64_t *map,
                            BlockDriverState **file)
{
    int ret = bdrv_block_status(bs->file, offset, bytes, pnum, map, file);

    if (ret < 0) {
        return ret;
    }
    *map = offset;
    *file = bs->file;
    return (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) |
           BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_OFFSET_VALID;
}

static bool raw_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                         PreallocMode prealloc, GError **errp)
{
    return bdrv_truncate(bs->file, offset, shrink, prealloc, errp);
}

static bool raw_create(const char *filename, int64_t size, Opts *opts,
                       GError **errp)
{
    return bdrv_file.create(filename, size, opts, errp);
}

const BlockDriver bdrv_raw = {
    .format_name = "raw",
    .open = raw_open,
    .close = raw_close,
    .getlength = raw_getlength,
    .submit = raw_submit,
    .run_sync = raw_run_sync,
    .create = raw_create,
    .block_status = raw_block_status,
    .truncate = raw_truncate,
};
