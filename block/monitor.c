/*
 * The block layer's QMP commands (query-block, query-blockstats,
 * query-named-block-nodes; eject and the tray and medium commands) with
 * QEMU 7.2's result shapes; HMP's info block and info blockstats print them.
 */
#include <errno.h>
#include <string.h>

#include "block/block_int.h"
#include "monitor/qmp.h"
#include "system/runstate.h"

static json_t *block_cache_info(bool writeback, bool direct, bool no_flush)
{
    return json_pack("{s:b, s:b, s:b}", "writeback", writeback,
                     "direct", direct, "no-flush", no_flush);
}

/* QEMU's BlockDeviceInfo of a node (inserted, or a named node) */
static json_t *block_device_info(BlockDriverState *bs, BlockBackend *blk)
{
    json_t *o = json_object();
    BlockDetectZeroes dz = blk ? blk_get_detect_zeroes(blk)
                               : BLOCK_DETECT_ZEROES_OFF;
    static const char *const throttle_keys[] = {
        "bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr",
        "bps_max", "bps_rd_max", "bps_wr_max", "iops_max", "iops_rd_max",
        "iops_wr_max",
    };

    json_object_set_new(o, "file", json_string(bs->filename));
    json_object_set_new(o, "node-name", json_string(bs->node_name));
    json_object_set_new(o, "ro", json_boolean(blk ? blk_is_read_only(blk)
                                                  : bs->read_only));
    json_object_set_new(o, "drv", json_string(bs->drv->format_name));
    if (bs->backing_file && *bs->backing_file) {
        json_object_set_new(o, "backing_file",
                            json_string(bs->backing_file));
    }
    json_object_set_new(o, "backing_file_depth",
                        json_integer(bdrv_backing_depth(bs)));
    json_object_set_new(o, "encrypted", json_false());
    json_object_set_new(o, "detect_zeroes",
                        json_string(blk_detect_zeroes_name(dz)));
    for (unsigned i = 0; i < G_N_ELEMENTS(throttle_keys); i++) {
        json_object_set_new(o, throttle_keys[i], json_integer(0));
    }
    if (blk) {
        json_object_set_new(o, "cache",
                            block_cache_info(blk_enable_write_cache(blk),
                                             blk_get_direct(blk),
                                             blk_get_no_flush(blk)));
    } else {
        json_object_set_new(o, "cache",
                            block_cache_info(true,
                                             bs->request_alignment > 1,
                                             false));
    }
    json_object_set_new(o, "write_threshold", json_integer(0));
    json_object_set_new(o, "image", bdrv_query_image_info(bs, true));
    return o;
}

/* QEMU's blk_iostatus_is_enabled: a device and a policy that may stop */
static bool block_iostatus_enabled(BlockBackend *blk)
{
    return blk_get_attached_dev(blk) &&
           (blk_get_on_error(blk, false) == BLOCKDEV_ON_ERROR_ENOSPC ||
            blk_get_on_error(blk, false) == BLOCKDEV_ON_ERROR_STOP ||
            blk_get_on_error(blk, true) == BLOCKDEV_ON_ERROR_STOP);
}

static json_t *block_info(BlockBackend *blk)
{
    json_t *o = json_object();
    const char *dev = blk_get_attached_dev(blk);
    /* QEMU: no device, or a CD-ROM, means the medium can change */
    bool removable = !dev || blk_get_media(blk) == BLK_MEDIA_CDROM;

    json_object_set_new(o, "device", json_string(blk_name(blk)));
    if (dev) {
        json_object_set_new(o, "qdev", json_string(dev));
    }
    void *opaque;
    const BlockDevOps *ops = blk_get_dev_ops(blk, &opaque);
    if (dev && ops) {
        removable = true;
    }
    json_object_set_new(o, "type", json_string("unknown"));
    json_object_set_new(o, "removable", json_boolean(removable));
    json_object_set_new(o, "locked",
                        json_boolean(ops && ops->is_medium_locked(opaque)));
    if (removable) {
        json_object_set_new(o, "tray_open",
                            json_boolean(ops && ops->is_tray_open(opaque)));
    }
    if (block_iostatus_enabled(blk)) {
        /* the status clears when the VM runs again (QEMU resets on cont) */
        bool stopped = runstate_get() == RUN_STATE_IO_ERROR;
        json_object_set_new(o, "io-status",
                            json_string(stopped ? "failed" : "ok"));
    }
    if (blk_bs(blk)) {
        json_object_set_new(o, "inserted",
                            block_device_info(blk_bs(blk), blk));
    }
    return o;
}

static json_t *qmp_query_block(json_t *args, GError **errp)
{
    json_t *list = json_array();

    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        json_array_append_new(list, block_info(blk));
    }
    return list;
}
QMP_COMMAND("query-block", qmp_query_block)

static json_t *block_stats_json(const BlockAcctStats *st)
{
    static const char *const names[BLOCK_ACCT_MAX] = {
        "rd", "wr", "flush", "unmap",
    };
    static const BlockAcctStats zero;
    json_t *o = json_object();

    st = st ? st : &zero;
    for (int i = 0; i < BLOCK_ACCT_MAX; i++) {
        char *k;
        if (i != BLOCK_ACCT_FLUSH) {
            k = g_strdup_printf("%s_bytes", names[i]);
            json_object_set_new(o, k, json_integer(st->bytes[i]));
            g_free(k);
        }
        k = g_strdup_printf("%s_operations", names[i]);
        json_object_set_new(o, k, json_integer(st->ops[i]));
        g_free(k);
        k = g_strdup_printf("%s_total_time_ns", names[i]);
        json_object_set_new(o, k, json_integer(st->total_time_ns[i]));
        g_free(k);
        if (i != BLOCK_ACCT_FLUSH) {
            k = g_strdup_printf("%s_merged", names[i]);
            json_object_set_new(o, k, json_integer(0));
            g_free(k);
        }
        k = g_strdup_printf("failed_%s_operations", names[i]);
        json_object_set_new(o, k, json_integer(st->failed_ops[i]));
        g_free(k);
        k = g_strdup_printf("invalid_%s_operations", names[i]);
        json_object_set_new(o, k, json_integer(st->invalid_ops[i]));
        g_free(k);
    }
    json_object_set_new(o, "wr_highest_offset",
                        json_integer(st->wr_highest_offset));
    if (st->last_access_ns) {
        int64_t now = g_get_monotonic_time() * 1000;
        json_object_set_new(o, "idle_time_ns",
                            json_integer(now - st->last_access_ns));
    }
    json_object_set_new(o, "account_invalid", json_true());
    json_object_set_new(o, "account_failed", json_true());
    json_object_set_new(o, "timed_stats", json_array());
    return o;
}

/* A node's own stats: the block layer accounts per backend, so below the
 * backend only the node names and the shape remain (zeros). */
static json_t *node_stats(BlockDriverState *bs)
{
    json_t *o = json_object();

    json_object_set_new(o, "node-name", json_string(bs->node_name));
    json_object_set_new(o, "stats", block_stats_json(NULL));
    if (bs->file) {
        json_object_set_new(o, "parent", node_stats(bs->file));
    }
    if (bs->backing) {
        json_object_set_new(o, "backing", node_stats(bs->backing));
    }
    return o;
}

static json_t *qmp_query_blockstats(json_t *args, GError **errp)
{
    json_t *list = json_array();

    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        BlockDriverState *bs = blk_bs(blk);
        json_t *o = json_object();
        json_object_set_new(o, "device", json_string(blk_name(blk)));
        if (blk_get_attached_dev(blk)) {
            json_object_set_new(o, "qdev",
                                json_string(blk_get_attached_dev(blk)));
        }
        if (bs) {
            json_object_set_new(o, "node-name", json_string(bs->node_name));
        }
        json_object_set_new(o, "stats", block_stats_json(blk_get_stats(blk)));
        if (bs && bs->file) {
            json_object_set_new(o, "parent", node_stats(bs->file));
        }
        if (bs && bs->backing) {
            json_object_set_new(o, "backing", node_stats(bs->backing));
        }
        json_array_append_new(list, o);
    }
    return list;
}
QMP_COMMAND("query-blockstats", qmp_query_blockstats)

static json_t *qmp_query_named_block_nodes(json_t *args, GError **errp)
{
    json_t *list = json_array();

    for (BlockDriverState *bs = bdrv_next_node(NULL); bs;
         bs = bdrv_next_node(bs)) {
        json_array_append_new(list, block_device_info(bs, NULL));
    }
    return list;
}
QMP_COMMAND("query-named-block-nodes", qmp_query_named_block_nodes)

/* ---- removable media (QEMU's blockdev.c: eject, trays, media) ---- */

/* The backend named by "device" (its -drive id) or "id" (its device). */
static BlockBackend *find_removable(json_t *args, const char **name,
                                    GError **errp)
{
    const char *device = json_string_value(json_object_get(args, "device"));
    const char *id = json_string_value(json_object_get(args, "id"));

    if (!device == !id) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Need exactly one of 'device' and 'id'");
        return NULL;
    }
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        const char *dev = blk_get_attached_dev(blk);
        if ((device && !strcmp(blk_name(blk), device)) ||
            (id && dev && !strcmp(dev, id))) {
            *name = device ? device : id;
            return blk;
        }
    }
    g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                "Device '%s' not found", device ? device : id);
    return NULL;
}

static const BlockDevOps *tray_ops(BlockBackend *blk, const char *name,
                                   void **opaque, GError **errp)
{
    const BlockDevOps *ops = blk_get_dev_ops(blk, opaque);

    if (!ops) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Device '%s' is not removable", name);
    }
    return ops;
}

static void tray_moved(BlockBackend *blk, bool open)
{
    const char *dev = blk_get_attached_dev(blk);

    qmp_event_send("DEVICE_TRAY_MOVED",
                   json_pack("{s:s, s:s, s:b}", "device", blk_name(blk),
                             "id", dev ? dev : "", "tray-open", open));
}

/* 0: open; -EINPROGRESS: locked, the guest was asked (error set). */
static int open_tray(BlockBackend *blk, const char *name, bool force,
                     GError **errp)
{
    void *opaque;
    const BlockDevOps *ops = tray_ops(blk, name, &opaque, errp);

    if (!ops) {
        return -ENOTSUP;
    }
    if (ops->is_tray_open(opaque)) {
        return 0;
    }
    bool locked = ops->is_medium_locked(opaque);
    if (locked) {
        ops->eject_request_cb(opaque, force);
    }
    if (!locked || force) {
        ops->change_media_cb(opaque, false);
        tray_moved(blk, true);
        return 0;
    }
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Device '%s' is locked and force was not specified, wait "
                "for tray to open and try again", name);
    return -EINPROGRESS;
}

static bool close_tray(BlockBackend *blk, const char *name, GError **errp)
{
    void *opaque;
    const BlockDevOps *ops = tray_ops(blk, name, &opaque, errp);

    if (!ops) {
        return false;
    }
    if (ops->is_tray_open(opaque)) {
        ops->change_media_cb(opaque, true);
        tray_moved(blk, false);
    }
    return true;
}

static bool remove_medium(BlockBackend *blk, const char *name, GError **errp)
{
    void *opaque;
    const BlockDevOps *ops = tray_ops(blk, name, &opaque, errp);

    if (!ops) {
        return false;
    }
    if (!ops->is_tray_open(opaque)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Tray of device '%s' is not open", name);
        return false;
    }
    blk_remove_medium(blk);
    return true;
}

static json_t *qmp_eject(json_t *args, GError **errp)
{
    const char *name;
    BlockBackend *blk = find_removable(args, &name, errp);

    if (!blk ||
        open_tray(blk, name, json_is_true(json_object_get(args, "force")),
                  errp) ||
        !remove_medium(blk, name, errp)) {
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("eject", qmp_eject)

static json_t *qmp_blockdev_open_tray(json_t *args, GError **errp)
{
    const char *name;
    BlockBackend *blk = find_removable(args, &name, errp);
    GError *err = NULL;

    if (!blk) {
        return NULL;
    }
    int rc = open_tray(blk, name, json_is_true(json_object_get(args, "force")),
                       &err);
    /* locked: the guest was asked to open it, which is success (QEMU) */
    if (rc && rc != -EINPROGRESS) {
        g_propagate_error(errp, err);
        return NULL;
    }
    g_clear_error(&err);
    return json_object();
}
QMP_COMMAND("blockdev-open-tray", qmp_blockdev_open_tray)

static json_t *qmp_blockdev_close_tray(json_t *args, GError **errp)
{
    const char *name;
    BlockBackend *blk = find_removable(args, &name, errp);

    if (!blk || !close_tray(blk, name, errp)) {
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("blockdev-close-tray", qmp_blockdev_close_tray)

static json_t *qmp_blockdev_remove_medium(json_t *args, GError **errp)
{
    const char *name;
    BlockBackend *blk = find_removable(args, &name, errp);

    if (!blk || !remove_medium(blk, name, errp)) {
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("blockdev-remove-medium", qmp_blockdev_remove_medium)

static json_t *qmp_blockdev_insert_medium(json_t *args, GError **errp)
{
    const char *name;
    BlockBackend *blk = find_removable(args, &name, errp);
    const char *node = json_string_value(json_object_get(args, "node-name"));
    void *opaque;

    if (!blk) {
        return NULL;
    }
    const BlockDevOps *ops = tray_ops(blk, name, &opaque, errp);
    if (!ops) {
        return NULL;
    }
    BlockDriverState *bs = bdrv_find_node(node);
    if (!bs) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                    "Node '%s' not found", node);
        return NULL;
    }
    if (!ops->is_tray_open(opaque)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Tray of device '%s' is not open", name);
        return NULL;
    }
    if (!blk_insert_bs(blk, bs, errp)) {
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("blockdev-insert-medium", qmp_blockdev_insert_medium)

static json_t *qmp_blockdev_change_medium(json_t *args, GError **errp)
{
    const char *name;
    BlockBackend *blk = find_removable(args, &name, errp);
    const char *file = json_string_value(json_object_get(args, "filename"));
    const char *format = json_string_value(json_object_get(args, "format"));
    const char *mode = json_string_value(json_object_get(args,
                                                         "read-only-mode"));
    bool read_only;

    if (!blk) {
        return NULL;
    }
    read_only = blk_is_read_only(blk);
    if (mode && !strcmp(mode, "read-only")) {
        read_only = true;
    } else if (mode && !strcmp(mode, "read-write")) {
        read_only = false;
    }
    if (blk_get_media(blk) == BLK_MEDIA_CDROM) {
        read_only = true;
    }
    if (open_tray(blk, name, json_is_true(json_object_get(args, "force")),
                  errp) ||
        !remove_medium(blk, name, errp)) {
        return NULL;
    }
    if (!blk_insert_medium(blk, file, format, read_only, errp)) {
        return NULL;        /* the tray stays open and empty, as in QEMU */
    }
    if (!close_tray(blk, name, errp)) {
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("blockdev-change-medium", qmp_blockdev_change_medium)
