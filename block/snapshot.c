/*
 * Internal snapshots of a backend's image, for savevm, loadvm, delvm and
 * info snapshots (migration/snapshot.c): the format driver keeps them; this
 * layer checks that the image may take them and that an inactive image
 * (handed over by migration) is never written.
 */
#include <errno.h>
#include <string.h>

#include "block/block_int.h"

static BlockDriverState *snapshot_bs(BlockBackend *blk)
{
    BlockDriverState *bs = blk_is_inserted(blk) ? blk_bs(blk) : NULL;

    return bs && bs->drv->snapshot_create ? bs : NULL;
}

bool blk_can_snapshot(BlockBackend *blk)
{
    BlockDriverState *bs = snapshot_bs(blk);

    return bs && !bs->read_only && !bs->inactive && !blk_is_read_only(blk);
}

int blk_snapshot_list(BlockBackend *blk, BdrvSnapshotInfo **psn)
{
    BlockDriverState *bs = snapshot_bs(blk);

    *psn = NULL;
    if (!bs || !bs->drv->snapshot_list) {
        return 0;
    }
    int n = bs->drv->snapshot_list(bs, psn);
    return MAX(n, 0);
}

bool blk_snapshot_find(BlockBackend *blk, const char *name,
                       BdrvSnapshotInfo *out)
{
    BdrvSnapshotInfo *sns;
    int n = blk_snapshot_list(blk, &sns);
    bool found = false;

    for (int i = 0; i < n; i++) {
        if (!found && !strcmp(sns[i].name, name)) {
            found = true;
            *out = sns[i];
        } else {
            bdrv_snapshot_info_free(&sns[i]);
        }
    }
    g_free(sns);
    return found;
}

/* The image may change: check it first, and name the drive in errors. */
static BlockDriverState *writable_bs(BlockBackend *blk, GError **errp)
{
    if (!blk_can_snapshot(blk)) {
        g_set_error(errp, VIREO_ERROR, 0, "Device '%s' %s", blk_name(blk),
                    !snapshot_bs(blk) ? "does not support snapshots"
                                      : "is read-only or not active here");
        return NULL;
    }
    return blk_bs(blk);
}

bool blk_snapshot_create(BlockBackend *blk, const BdrvSnapshotInfo *sn,
                         GError **errp)
{
    BlockDriverState *bs = writable_bs(blk, errp);

    return bs && bs->drv->snapshot_create(bs, sn, errp);
}

bool blk_snapshot_goto(BlockBackend *blk, const char *name, GError **errp)
{
    BlockDriverState *bs = writable_bs(blk, errp);

    return bs && bs->drv->snapshot_goto(bs, name, errp);
}

bool blk_snapshot_delete(BlockBackend *blk, const char *name, GError **errp)
{
    BlockDriverState *bs = writable_bs(blk, errp);

    return bs && bs->drv->snapshot_delete(bs, name, errp);
}

int blk_vmstate_rw(BlockBackend *blk, bool is_write, void *buf,
                   uint64_t pos, uint64_t size)
{
    BlockDriverState *bs = snapshot_bs(blk);

    if (!bs || !bs->drv->vmstate_rw) {
        return -ENOTSUP;
    }
    if (bs->inactive || (is_write && !blk_can_snapshot(blk))) {
        return -EPERM;
    }
    return bs->drv->vmstate_rw(bs, is_write, buf, pos, size);
}
