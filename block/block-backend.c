/*
 * BlockBackend: what a device holds. -drive parsing with QEMU's defaults
 * and messages, the registry of drives, request checks (read-only, empty,
 * bounds), cache-mode semantics (writethrough, unsafe) and the completion
 * of asynchronous requests on the main loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "block/block_int.h"
#include "monitor/qmp.h"
#include "system/runstate.h"
#include "util/log.h"
#include "util/opts.h"

#define SECTOR_SIZE 512
#define ROUND_UP(n, d) (((n) + (d) - 1) / (d) * (d))

struct BlockBackend {
    char *name;
    BlockDriverState *bs;       /* NULL: empty drive */
    char *filename;
    BlockInterfaceType type;
    int index;
    BlockMedia media;
    bool read_only;
    bool wce;
    bool no_flush;
    bool discard_unmap;
    char *serial;
    BlockdevOnError on_read_error;
    BlockdevOnError on_write_error;
    int64_t length;             /* bytes, rounded up to sectors like QEMU */
    char *dev;
    unsigned in_flight;
    bool registered;
};

static GPtrArray *backends;     /* registered, in creation order */

static const char *const if_names[IF_COUNT] = {
    [IF_NONE] = "none",
    [IF_IDE] = "ide",
    [IF_VIRTIO] = "virtio",
    [IF_PFLASH] = "pflash",
};

static const char *const on_error_names[] = {
    [BLOCKDEV_ON_ERROR_REPORT] = "report",
    [BLOCKDEV_ON_ERROR_IGNORE] = "ignore",
    [BLOCKDEV_ON_ERROR_ENOSPC] = "enospc",
    [BLOCKDEV_ON_ERROR_STOP] = "stop",
};

/* ---- nodes ---- */

BlockDriverState *bdrv_open_node(const BlockDriver *drv, const char *filename,
                                 const BlockOpenOptions *o, GError **errp)
{
    BlockDriverState *bs = g_new0(BlockDriverState, 1);

    bs->drv = drv;
    bs->filename = g_strdup(filename);
    bs->read_only = o->read_only;
    bs->request_alignment = 1;
    if (drv != &bdrv_file) {
        bs->file = bdrv_open_node(&bdrv_file, filename, o, errp);
        if (!bs->file) {
            g_free(bs->filename);
            g_free(bs);
            return NULL;
        }
    }
    if (!drv->open(bs, filename, o, errp)) {
        drv->close(bs);     /* close tolerates a half-open state */
        bs->drv = NULL;
        bdrv_close_node(bs);
        return NULL;
    }
    return bs;
}

void bdrv_close_node(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    if (bs->drv) {
        bs->drv->close(bs);
    }
    if (bs->file) {
        bdrv_close_node(bs->file);
    }
    g_free(bs->filename);
    g_free(bs);
}

void bdrv_submit(BlockDriverState *bs, BlockRequest *req)
{
    bs->drv->submit(bs, req);
}

int bdrv_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    return bs->drv->run_sync(bs, req);
}

/* ---- opening ---- */

static bool looks_like_qcow2(BlockDriverState *file)
{
    uint8_t *buf = g_malloc0(SECTOR_SIZE);
    struct iovec v = { buf, SECTOR_SIZE };
    BlockRequest req = {
        .op = BLK_OP_READ, .offset = 0, .bytes = SECTOR_SIZE,
        .iov = &v, .iovcnt = 1,
    };
    bool qcow2 = bdrv_run_sync(file, &req) == 0 &&
                 !memcmp(buf, "QFI\xfb", 4);
    g_free(buf);
    return qcow2;
}

BlockBackend *blk_new_open(const char *filename, const BlockOpenOptions *o,
                           GError **errp)
{
    const BlockDriver *drv = NULL;
    BlockDriverState *bs;
    const char *format = o->format;

    if (format) {
        if (!strcmp(format, "raw")) {
            drv = &bdrv_raw;
        } else if (!strcmp(format, "file")) {
            drv = &bdrv_file;
        } else if (!strcmp(format, "qcow2")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Block format 'qcow2' is not supported yet");
            return NULL;
        } else {
            g_set_error(errp, VIREO_ERROR, 0, "Unknown driver '%s'", format);
            return NULL;
        }
        bs = bdrv_open_node(drv, filename, o, errp);
    } else {
        bs = bdrv_open_node(&bdrv_raw, filename, o, errp);
        if (bs && looks_like_qcow2(bs->file)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not open '%s': image format 'qcow2' (probed) "
                        "is not supported yet", filename);
            bdrv_close_node(bs);
            return NULL;
        }
        if (bs) {
            bs->probed = true;
            log_warn("Image format was not specified for '%s' and probing "
                     "guessed raw.\n"
                     "         Automatically detecting the format is "
                     "dangerous for raw images, write operations on block 0 "
                     "will be restricted.\n"
                     "         Specify the 'raw' format explicitly to remove "
                     "the restrictions.", filename);
        }
    }
    if (!bs) {
        return NULL;
    }

    int64_t len = bs->drv->getlength(bs);
    if (len < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not get the size of '%s': %s",
                    filename, g_strerror(-len));
        bdrv_close_node(bs);
        return NULL;
    }

    BlockBackend *blk = g_new0(BlockBackend, 1);
    blk->bs = bs;
    blk->filename = g_strdup(filename);
    blk->read_only = o->read_only;
    blk->wce = !o->writethrough;
    blk->no_flush = o->no_flush;
    blk->discard_unmap = o->discard_unmap;
    blk->on_read_error = BLOCKDEV_ON_ERROR_REPORT;
    blk->on_write_error = BLOCKDEV_ON_ERROR_ENOSPC;
    blk->length = ROUND_UP(len, SECTOR_SIZE);
    blk->type = IF_NONE;
    blk->index = -1;
    return blk;
}

static void blk_free(BlockBackend *blk)
{
    bdrv_close_node(blk->bs);
    g_free(blk->name);
    g_free(blk->filename);
    g_free(blk->serial);
    g_free(blk->dev);
    g_free(blk);
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    blk_drain(blk);
    if (blk->registered) {
        g_ptr_array_remove(backends, blk);
    }
    blk_free(blk);
}

/* ---- -drive ---- */

static bool parse_on_error(const char *v, bool is_read, BlockdevOnError *out,
                           GError **errp)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(on_error_names); i++) {
        if (!strcmp(v, on_error_names[i]) &&
            !(is_read && i == BLOCKDEV_ON_ERROR_ENOSPC)) {
            *out = i;
            return true;
        }
    }
    g_set_error(errp, VIREO_ERROR, 0, "'%s' invalid %s error action", v,
                is_read ? "read" : "write");
    return false;
}

/* QEMU's bdrv_parse_cache_mode */
static bool parse_cache(const char *v, bool *direct, bool *writeback,
                        bool *no_flush)
{
    *direct = *no_flush = false;
    *writeback = true;
    if (!strcmp(v, "off") || !strcmp(v, "none")) {
        *direct = true;
    } else if (!strcmp(v, "directsync")) {
        *direct = true;
        *writeback = false;
    } else if (!strcmp(v, "writeback")) {
    } else if (!strcmp(v, "unsafe")) {
        *no_flush = true;
    } else if (!strcmp(v, "writethrough")) {
        *writeback = false;
    } else {
        return false;
    }
    return true;
}

static bool get_onoff(Opts *opts, const char *key, bool *val, GError **errp)
{
    const char *v = opts_get(opts, key);
    if (v && !parse_bool(v, val, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    return true;
}

/* QEMU options we know and do not implement yet; "off" is what we do. */
static const char *const unsupported_keys[] = {
    "snapshot", "copy-on-read", "detect-zeroes", "bus", "unit", "addr",
    "driver", "node-name", "auto-read-only", "bps", "bps_rd", "bps_wr",
    "iops", "iops_rd", "iops_wr", "iops_size", "group", "boot", "trans",
    "secs", "cyls", "heads",
};

static BlockBackend *drive_find_index(BlockInterfaceType type, int index)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *b = g_ptr_array_index(backends, i);
        if (b->type == type && b->index == index) {
            return b;
        }
    }
    return NULL;
}

typedef struct DriveConf {
    BlockOpenOptions o;
    BlockInterfaceType type;
    BlockMedia media;
    int64_t index;
    bool writeback;
    BlockdevOnError rerror;
    BlockdevOnError werror;
} DriveConf;

/* if=, media=, index= */
static bool drive_parse_placement(Opts *opts, DriveConf *c, GError **errp)
{
    static const char *const later[] = { "scsi", "floppy", "sd", "mtd",
                                         "xen" };
    const char *v;

    if ((v = opts_get(opts, "if"))) {
        int t;
        for (t = 0; t < IF_COUNT && strcmp(v, if_names[t]); t++) {
        }
        for (unsigned i = 0; t == IF_COUNT && i < G_N_ELEMENTS(later); i++) {
            if (!strcmp(v, later[i])) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "if=%s is not supported yet", v);
                return false;
            }
        }
        if (t == IF_COUNT) {
            g_set_error(errp, VIREO_ERROR, 0, "unsupported bus type '%s'",
                        v);
            return false;
        }
        c->type = t;
    }
    if ((v = opts_get(opts, "media"))) {
        if (!strcmp(v, "cdrom")) {
            c->media = BLK_MEDIA_CDROM;
            c->o.read_only = true;
        } else if (strcmp(v, "disk")) {
            g_set_error(errp, VIREO_ERROR, 0, "'%s' invalid media", v);
            return false;
        }
    }
    if ((v = opts_get(opts, "index"))) {
        uint64_t u;
        if (!parse_uint(v, &u, NULL) || u > INT32_MAX) {
            g_set_error(errp, VIREO_ERROR, 0, "Parameter 'index' expects "
                        "a non-negative number below 2^31");
            return false;
        }
        c->index = u;
    }
    return true;
}

/* cache=, cache.*=, readonly=, aio=, discard=, file.locking= */
static bool drive_parse_io(Opts *opts, DriveConf *c, GError **errp)
{
    BlockOpenOptions *o = &c->o;
    const char *v;

    if ((v = opts_get(opts, "cache")) &&
        !parse_cache(v, &o->direct, &c->writeback, &o->no_flush)) {
        g_set_error(errp, VIREO_ERROR, 0, "invalid cache option");
        return false;
    }
    if (!get_onoff(opts, "cache.direct", &o->direct, errp) ||
        !get_onoff(opts, "cache.no-flush", &o->no_flush, errp) ||
        !get_onoff(opts, "cache.writeback", &c->writeback, errp) ||
        !get_onoff(opts, "readonly", &o->read_only, errp)) {
        return false;
    }
    o->writethrough = !c->writeback;
    if (c->media == BLK_MEDIA_CDROM) {
        o->read_only = true;    /* QEMU ignores readonly=off for a CD */
    }
    if ((v = opts_get(opts, "aio"))) {
        if (!strcmp(v, "native")) {
            o->aio_native = true;
        } else if (!strcmp(v, "io_uring")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "aio=io_uring is not supported yet");
            return false;
        } else if (strcmp(v, "threads")) {
            g_set_error(errp, VIREO_ERROR, 0, "invalid aio option");
            return false;
        }
    }
    if ((v = opts_get(opts, "discard"))) {
        if (!strcmp(v, "unmap") || !strcmp(v, "on")) {
            o->discard_unmap = true;
        } else if (strcmp(v, "ignore") && strcmp(v, "off")) {
            g_set_error(errp, VIREO_ERROR, 0, "Invalid discard option");
            return false;
        }
    }
    if ((v = opts_get(opts, "file.locking"))) {
        if (!strcmp(v, "on")) {
            o->locking = 1;
        } else if (!strcmp(v, "off")) {
            o->locking = -1;
        } else if (strcmp(v, "auto")) {
            g_set_error(errp, VIREO_ERROR, 0, "Parameter 'locking' does not "
                        "accept value '%s'", v);
            return false;
        }
    }
    o->format = opts_get(opts, "format");
    return true;
}

static bool drive_parse_errors(Opts *opts, DriveConf *c, GError **errp)
{
    const char *v;

    if ((v = opts_get(opts, "werror")) &&
        !parse_on_error(v, false, &c->werror, errp)) {
        return false;
    }
    return !(v = opts_get(opts, "rerror")) ||
           parse_on_error(v, true, &c->rerror, errp);
}

/* Known QEMU options we lack, then keys nobody knows (QEMU passes those to
 * the driver, which refuses them). Call after every other lookup. */
static bool drive_check_keys(Opts *opts, DriveConf *c, GError **errp)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(unsupported_keys); i++) {
        const char *v = opts_get(opts, unsupported_keys[i]);
        if (v && strcmp(v, "off")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "parameter '%s' is not supported yet",
                        unsupported_keys[i]);
            return false;
        }
    }
    for (guint i = 0; i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        if (!p->used) {
            bool proto = c->o.format && !strcmp(c->o.format, "file");
            g_set_error(errp, VIREO_ERROR, 0,
                        "Block %s '%s' does not support the option '%s'",
                        proto ? "protocol" : "format",
                        proto ? "file" : c->o.format ? c->o.format : "raw",
                        p->key);
            return false;
        }
    }
    return true;
}

/* Picks the index and QEMU's name: "virtio0", "ide0-hd1", "ide1-cd0". */
static char *drive_name(DriveConf *c, const char *id, GError **errp)
{
    int max_devs = c->type == IF_IDE ? 2 : 1;

    if (id && blk_find(id)) {
        g_set_error(errp, VIREO_ERROR, 0, "Duplicate ID '%s' for drive", id);
        return NULL;
    }
    if (c->index < 0) {
        for (c->index = 0; drive_find_index(c->type, c->index); c->index++) {
        }
    } else if (drive_find_index(c->type, c->index)) {
        int bus = max_devs > 1 ? c->index / max_devs : 0;
        int unit = max_devs > 1 ? c->index % max_devs : c->index;
        g_set_error(errp, VIREO_ERROR, 0,
                    "drive with bus=%d, unit=%d (index=%d) exists", bus, unit,
                    (int)c->index);
        return NULL;
    }
    if (id) {
        return g_strdup(id);
    }
    if (max_devs > 1) {
        return g_strdup_printf("%s%d-%s%d", if_names[c->type],
                               (int)c->index / max_devs,
                               c->media == BLK_MEDIA_CDROM ? "cd" : "hd",
                               (int)c->index % max_devs);
    }
    return g_strdup_printf("%s%d", if_names[c->type], (int)c->index);
}

static BlockBackend *drive_new(Opts *opts, GError **errp)
{
    DriveConf c = {
        .type = IF_IDE,     /* QEMU's default on pc and q35 */
        .media = BLK_MEDIA_DISK,
        .index = -1,
        .writeback = true,
        .rerror = BLOCKDEV_ON_ERROR_REPORT,
        .werror = BLOCKDEV_ON_ERROR_ENOSPC,
    };
    if (!drive_parse_placement(opts, &c, errp) ||
        !drive_parse_io(opts, &c, errp) ||
        !drive_parse_errors(opts, &c, errp)) {
        return NULL;
    }
    const char *file = opts_get(opts, "file");
    const char *id = opts_get(opts, "id");
    const char *serial = opts_get(opts, "serial");
    if (!drive_check_keys(opts, &c, errp)) {
        return NULL;
    }
    if (!(file && *file) && c.type != IF_NONE &&
        c.media != BLK_MEDIA_CDROM) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Device needs media, but drive is empty "
                    "(parameter 'file' is missing)");
        return NULL;
    }
    char *name = drive_name(&c, id, errp);
    if (!name) {
        return NULL;
    }

    BlockBackend *blk;
    if (file && *file) {
        blk = blk_new_open(file, &c.o, errp);
        if (!blk) {
            g_free(name);
            return NULL;
        }
    } else {
        blk = g_new0(BlockBackend, 1);     /* an empty drive */
        blk->read_only = c.o.read_only;
        blk->wce = c.writeback;
        blk->no_flush = c.o.no_flush;
        blk->discard_unmap = c.o.discard_unmap;
    }
    blk->name = name;
    blk->type = c.type;
    blk->index = c.index;
    blk->media = c.media;
    blk->serial = g_strdup(serial);
    blk->on_read_error = c.rerror;
    blk->on_write_error = c.werror;
    blk->registered = true;
    if (!backends) {
        backends = g_ptr_array_new();
    }
    g_ptr_array_add(backends, blk);
    return blk;
}

BlockBackend *blk_new_from_drive_opts(const char *optstr, GError **errp)
{
    Opts *opts = opts_parse(optstr, NULL, errp);
    BlockBackend *blk = NULL;

    if (opts) {
        blk = drive_new(opts, errp);
        opts_free(opts);
    }
    if (!blk) {
        g_prefix_error(errp, "-drive %s: ", optstr);
    }
    return blk;
}

/* ---- registry and properties ---- */

BlockBackend *blk_find(const char *id)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *b = g_ptr_array_index(backends, i);
        if (!strcmp(b->name, id)) {
            return b;
        }
    }
    return NULL;
}

BlockBackend *blk_by_index(BlockInterfaceType type, int index)
{
    return drive_find_index(type, index);
}

BlockBackend *blk_next(BlockBackend *blk)
{
    if (!backends) {
        return NULL;
    }
    guint i = 0;
    if (blk) {
        if (!g_ptr_array_find(backends, blk, &i)) {
            return NULL;
        }
        i++;
    }
    return i < backends->len ? g_ptr_array_index(backends, i) : NULL;
}

bool blk_attach_dev(BlockBackend *blk, const char *dev_name, GError **errp)
{
    if (blk->dev) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Drive '%s' is already in use by %s", blk_name(blk),
                    blk->dev);
        return false;
    }
    blk->dev = g_strdup(dev_name);
    return true;
}

void blk_detach_dev(BlockBackend *blk)
{
    g_clear_pointer(&blk->dev, g_free);
}

const char *blk_get_attached_dev(BlockBackend *blk)
{
    return blk->dev;
}

const char *blk_name(BlockBackend *blk)
{
    return blk->name ? blk->name : "";
}

const char *blk_get_filename(BlockBackend *blk)
{
    return blk->filename;
}

const char *blk_get_format(BlockBackend *blk)
{
    return blk->bs ? blk->bs->drv->format_name : NULL;
}

BlockInterfaceType blk_get_if(BlockBackend *blk)
{
    return blk->type;
}

const char *blk_if_name(BlockInterfaceType type)
{
    return type < IF_COUNT ? if_names[type] : "?";
}

int blk_get_index(BlockBackend *blk)
{
    return blk->index;
}

BlockMedia blk_get_media(BlockBackend *blk)
{
    return blk->media;
}

bool blk_is_inserted(BlockBackend *blk)
{
    return blk->bs != NULL;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return blk->bs ? blk->length : -ENOMEDIUM;
}

bool blk_is_read_only(BlockBackend *blk)
{
    return blk->read_only;
}

const char *blk_get_serial(BlockBackend *blk)
{
    return blk->serial;
}

bool blk_enable_write_cache(BlockBackend *blk)
{
    return blk->wce;
}

void blk_set_enable_write_cache(BlockBackend *blk, bool wce)
{
    blk->wce = wce;
}

bool blk_discard_enabled(BlockBackend *blk)
{
    return blk->discard_unmap;
}

uint32_t blk_get_request_alignment(BlockBackend *blk)
{
    return blk->bs ? blk->bs->request_alignment : 1;
}

BlockdevOnError blk_get_on_error(BlockBackend *blk, bool is_read)
{
    return is_read ? blk->on_read_error : blk->on_write_error;
}

BlockErrorAction blk_get_error_action(BlockBackend *blk, bool is_read,
                                      int error)
{
    switch (blk_get_on_error(blk, is_read)) {
    case BLOCKDEV_ON_ERROR_ENOSPC:
        return error == ENOSPC ? BLOCK_ERROR_ACTION_STOP
                               : BLOCK_ERROR_ACTION_REPORT;
    case BLOCKDEV_ON_ERROR_STOP:
        return BLOCK_ERROR_ACTION_STOP;
    case BLOCKDEV_ON_ERROR_IGNORE:
        return BLOCK_ERROR_ACTION_IGNORE;
    case BLOCKDEV_ON_ERROR_REPORT:
    default:
        return BLOCK_ERROR_ACTION_REPORT;
    }
}

BlockErrorAction blk_handle_io_error(BlockBackend *blk, bool is_read,
                                     int error)
{
    BlockErrorAction action = blk_get_error_action(blk, is_read, error);

    qmp_event_send("BLOCK_IO_ERROR",
                   json_pack("{s:s, s:s, s:s, s:b, s:s}",
                             "device", blk_name(blk),
                             "operation", is_read ? "read" : "write",
                             "action", blk_error_action_name(action),
                             "nospace", error == ENOSPC,
                             "reason", g_strerror(error)));
    if (action == BLOCK_ERROR_ACTION_STOP) {
        vm_stop_current(RUN_STATE_IO_ERROR);
    }
    return action;
}

const char *blk_on_error_name(BlockdevOnError e)
{
    return e < G_N_ELEMENTS(on_error_names) ? on_error_names[e] : "?";
}

const char *blk_error_action_name(BlockErrorAction a)
{
    static const char *const names[] = { "report", "ignore", "stop" };
    return a < G_N_ELEMENTS(names) ? names[a] : "?";
}

/* ---- requests ---- */

typedef struct BlkAioReq {
    BlockRequest req;
    BlockBackend *blk;
    BlockCompletionFunc *cb;
    void *opaque;
    struct iovec *iov;
} BlkAioReq;

/* 0 if the request may go down, -errno to fail it */
static int blk_check(BlockBackend *blk, BlockOp op, int64_t offset,
                     int64_t bytes)
{
    if (!blk->bs) {
        return -ENOMEDIUM;
    }
    if (op != BLK_OP_READ && op != BLK_OP_FLUSH && blk->read_only) {
        return -EPERM;
    }
    if (op == BLK_OP_FLUSH) {
        return 0;
    }
    if (offset < 0 || bytes < 0) {
        return -EIO;
    }
    if (offset > blk->length || blk->length - offset < bytes) {
        return -EIO;
    }
    return 0;
}

static void blk_aio_done(BlockRequest *req)
{
    BlkAioReq *a = container_of(req, BlkAioReq, req);
    BlockBackend *blk = a->blk;

    blk->in_flight--;
    a->cb(a->opaque, req->ret);
    g_free(a->iov);
    g_free(a);
}

static void blk_aio_start(BlockBackend *blk, BlockOp op, int64_t offset,
                          int64_t bytes, const struct iovec *iov, int iovcnt,
                          int flags, BlockCompletionFunc *cb, void *opaque)
{
    BlkAioReq *a = g_new0(BlkAioReq, 1);
    BlockRequest *req = &a->req;

    a->blk = blk;
    a->cb = cb;
    a->opaque = opaque;
    if (iovcnt) {
        a->iov = g_new(struct iovec, iovcnt);
        memcpy(a->iov, iov, iovcnt * sizeof(*iov));
    }
    req->op = op;
    req->offset = offset;
    req->bytes = bytes;
    req->iov = a->iov;
    req->iovcnt = iovcnt;
    req->flags = flags;
    req->done = blk_aio_done;
    blk->in_flight++;

    int ret = blk_check(blk, op, offset, bytes);
    bool noop = (op == BLK_OP_FLUSH && (blk->no_flush || blk->read_only)) ||
                (op == BLK_OP_DISCARD && !blk->discard_unmap) ||
                (bytes == 0 && op != BLK_OP_FLUSH);
    if (ret < 0 || noop) {
        req->ret = ret;
        block_complete_later(req);
        return;
    }
    if ((op == BLK_OP_WRITE || op == BLK_OP_ZEROES) && !blk->wce &&
        !blk->no_flush) {
        req->flags |= BLK_REQ_FUA;
    }
    if (!blk->discard_unmap) {
        req->flags &= ~BLK_ZERO_MAY_UNMAP;
    }
    bdrv_submit(blk->bs, req);
}

void blk_aio_preadv(BlockBackend *blk, int64_t offset, struct iovec *iov,
                    int iovcnt, BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_start(blk, BLK_OP_READ, offset, iov_size(iov, iovcnt), iov,
                  iovcnt, 0, cb, opaque);
}

void blk_aio_pwritev(BlockBackend *blk, int64_t offset, struct iovec *iov,
                     int iovcnt, BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_start(blk, BLK_OP_WRITE, offset, iov_size(iov, iovcnt), iov,
                  iovcnt, 0, cb, opaque);
}

void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_start(blk, BLK_OP_FLUSH, 0, 0, NULL, 0, 0, cb, opaque);
}

void blk_aio_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_start(blk, BLK_OP_DISCARD, offset, bytes, NULL, 0, 0, cb,
                  opaque);
}

void blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                           int flags, BlockCompletionFunc *cb, void *opaque)
{
    blk_aio_start(blk, BLK_OP_ZEROES, offset, bytes, NULL, 0,
                  flags & BLK_ZERO_MAY_UNMAP, cb, opaque);
}

unsigned blk_in_flight(BlockBackend *blk)
{
    return blk->in_flight;
}

static bool any_in_flight(void)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *b = g_ptr_array_index(backends, i);
        if (b->in_flight) {
            return true;
        }
    }
    return false;
}

void blk_drain(BlockBackend *blk)
{
    while (blk ? blk->in_flight > 0 : any_in_flight()) {
        g_main_context_iteration(NULL, TRUE);
    }
}

/* ---- synchronous ---- */

static int blk_sync(BlockBackend *blk, BlockOp op, int64_t offset,
                    void *buf, int64_t bytes)
{
    struct iovec v = { buf, bytes };
    BlockRequest req = {
        .op = op, .offset = offset, .bytes = bytes,
        .iov = &v, .iovcnt = buf ? 1 : 0,
    };
    int ret = blk_check(blk, op, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (op == BLK_OP_FLUSH && (blk->no_flush || blk->read_only)) {
        return 0;
    }
    if (op == BLK_OP_WRITE && !blk->wce && !blk->no_flush) {
        req.flags |= BLK_REQ_FUA;
    }
    if (bytes == 0 && op != BLK_OP_FLUSH) {
        return 0;
    }
    return bdrv_run_sync(blk->bs, &req);
}

int blk_pread(BlockBackend *blk, int64_t offset, void *buf, int64_t bytes)
{
    return blk_sync(blk, BLK_OP_READ, offset, buf, bytes);
}

int blk_pwrite(BlockBackend *blk, int64_t offset, const void *buf,
               int64_t bytes)
{
    return blk_sync(blk, BLK_OP_WRITE, offset, (void *)buf, bytes);
}

int blk_flush(BlockBackend *blk)
{
    return blk_sync(blk, BLK_OP_FLUSH, 0, NULL, 0);
}
