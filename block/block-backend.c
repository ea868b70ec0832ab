/*
 * BlockBackend: what a device holds. -drive and -blockdev parsing with
 * QEMU's defaults and messages, the registry of drives, request checks
 * (read-only, empty, bounds), cache-mode semantics (writethrough, unsafe),
 * detect-zeroes, -snapshot overlays, I/O accounting and the completion of
 * asynchronous requests on the main loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "block/blkdebug.h"
#include "block/block_int.h"
#include "monitor/qmp.h"
#include "system/runstate.h"
#include "util/defer-call.h"
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
    bool direct;
    char *serial;
    BlockdevOnError on_read_error;
    BlockdevOnError on_write_error;
    int64_t length;             /* bytes, rounded up to sectors like QEMU */
    char *dev;
    unsigned in_flight;
    bool registered;
    bool anon;                  /* made for a device on a -blockdev node */
    BlockDetectZeroes detect_zeroes;
    BlockAcctStats stats;
    const BlockDevOps *dev_ops;
    void *dev_opaque;
};

/* Per-node settings -blockdev gives that a backend picks up later. */
typedef struct NodeConf {
    BlockDetectZeroes detect_zeroes;
    bool discard_unmap;
    bool no_flush;
    bool writethrough;
} NodeConf;

static GHashTable *node_confs;  /* BlockDriverState * -> NodeConf * */
static GPtrArray *blockdev_roots;   /* references -blockdev holds */
static bool snapshot_default;   /* -snapshot */
/*
 * Drives an if=ide bus holds (QEMU's if_max_devs[IF_IDE]): master and
 * slave on PATA; the machine lowers it to 1 where its IDE buses are
 * AHCI ports (q35), so index = bus there.
 */
static int ide_units_per_bus = 2;

static void blk_register(BlockBackend *blk);

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

/* ---- opening ---- */

BlockBackend *blk_new_open(const char *filename, const BlockOpenOptions *o,
                           GError **errp)
{
    BlockDriverState *bs = bdrv_open(filename, o, errp);

    if (!bs) {
        return NULL;
    }
    int64_t len = bdrv_getlength(bs);
    if (len < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not get the size of '%s': %s",
                    filename, g_strerror(-len));
        bdrv_unref(bs);
        return NULL;
    }

    BlockBackend *blk = g_new0(BlockBackend, 1);
    blk->bs = bs;
    blk->filename = g_strdup(filename);
    blk->read_only = o->read_only;
    blk->wce = !o->writethrough;
    blk->no_flush = o->no_flush;
    blk->discard_unmap = o->discard_unmap;
    blk->direct = o->direct;
    blk->on_read_error = BLOCKDEV_ON_ERROR_REPORT;
    blk->on_write_error = BLOCKDEV_ON_ERROR_ENOSPC;
    blk->length = ROUND_UP(len, SECTOR_SIZE);
    blk->type = IF_NONE;
    blk->index = -1;
    return blk;
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->bs;
}

static void blk_free(BlockBackend *blk)
{
    bdrv_unref(blk->bs);
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
    "copy-on-read", "addr",
    "driver", "auto-read-only", "bps", "bps_rd", "bps_wr",
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
    BlockDetectZeroes detect_zeroes;
    bool snapshot;
} DriveConf;

static const char *const detect_zeroes_names[] = {
    [BLOCK_DETECT_ZEROES_OFF] = "off",
    [BLOCK_DETECT_ZEROES_ON] = "on",
    [BLOCK_DETECT_ZEROES_UNMAP] = "unmap",
};

const char *blk_detect_zeroes_name(BlockDetectZeroes dz)
{
    return dz < G_N_ELEMENTS(detect_zeroes_names) ? detect_zeroes_names[dz]
                                                  : "?";
}

/* QEMU's rule: unmap only where discard=unmap lets requests deallocate */
static bool parse_detect_zeroes(const char *v, bool discard_unmap,
                                BlockDetectZeroes *out, GError **errp)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(detect_zeroes_names); i++) {
        if (!strcmp(v, detect_zeroes_names[i])) {
            if (i == BLOCK_DETECT_ZEROES_UNMAP && !discard_unmap) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "setting detect-zeroes to unmap is not allowed "
                            "without setting discard operation to unmap");
                return false;
            }
            *out = i;
            return true;
        }
    }
    g_set_error(errp, VIREO_ERROR, 0, "invalid parameter value: %s", v);
    return false;
}

/* QEMU's if_max_devs: 0 for pflash, whose unit is the index */
static int drive_units_per_bus(BlockInterfaceType type)
{
    return type == IF_IDE ? ide_units_per_bus : type == IF_PFLASH ? 0 : 1;
}

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
    /* QEMU: bus= and unit= name the index (bus * devices per bus + unit) */
    const char *bus = opts_get(opts, "bus"), *unit = opts_get(opts, "unit");
    if (bus || unit) {
        int max_devs = drive_units_per_bus(c->type);
        uint64_t b = 0, u = 0;
        if (c->index >= 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "index cannot be used with bus and unit");
            return false;
        }
        if ((bus && (!parse_uint(bus, &b, NULL) || b > INT32_MAX / 2)) ||
            (unit && (!parse_uint(unit, &u, NULL) || u > INT32_MAX))) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "bus and unit expect a non-negative number");
            return false;
        }
        if (max_devs && u >= (uint64_t)max_devs) {
            g_set_error(errp, VIREO_ERROR, 0, "unit %u too big (max is %d)",
                        (unsigned)u, max_devs - 1);
            return false;
        }
        c->index = b * max_devs + u;
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
            o->aio_io_uring = true;
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
    if ((v = opts_get(opts, "detect-zeroes")) &&
        !parse_detect_zeroes(v, o->discard_unmap, &c->detect_zeroes, errp)) {
        return false;
    }
    c->snapshot = snapshot_default;
    return get_onoff(opts, "snapshot", &c->snapshot, errp);
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
        if (v && !strcmp(unsupported_keys[i], "driver") &&
            !strcmp(v, "blkdebug")) {
            /* on top, with no format above, it would see no events */
            g_set_error(errp, VIREO_ERROR, 0,
                        "driver=blkdebug is not supported on -drive; use "
                        "file=blkdebug:CONFIG:IMAGE,format=raw or -blockdev "
                        "driver=raw,file.driver=blkdebug,...");
            return false;
        }
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

/*
 * Picks the index and QEMU's name: "virtio0", "ide0-hd1", "ide1-cd0" (on
 * q35, one unit a bus: "ide2-cd0"). Only IDE's index splits into bus and
 * unit; the others' index is their unit on bus 0.
 */
static char *drive_name(DriveConf *c, const char *id, GError **errp)
{
    int units = c->type == IF_IDE ? ide_units_per_bus : 0;

    if (id && blk_find(id)) {
        g_set_error(errp, VIREO_ERROR, 0, "Duplicate ID '%s' for drive", id);
        return NULL;
    }
    if (c->index < 0) {
        for (c->index = 0; drive_find_index(c->type, c->index); c->index++) {
        }
    } else if (drive_find_index(c->type, c->index)) {
        int bus = units ? c->index / units : 0;
        int unit = units ? c->index % units : c->index;
        g_set_error(errp, VIREO_ERROR, 0,
                    "drive with bus=%d, unit=%d (index=%d) exists", bus, unit,
                    (int)c->index);
        return NULL;
    }
    if (id) {
        return g_strdup(id);
    }
    if (units) {
        return g_strdup_printf("%s%d-%s%d", if_names[c->type],
                               (int)c->index / units,
                               c->media == BLK_MEDIA_CDROM ? "cd" : "hd",
                               (int)c->index % units);
    }
    return g_strdup_printf("%s%d", if_names[c->type], (int)c->index);
}

/*
 * snapshot=on: the image, read-only, under a temporary qcow2 overlay that
 * takes the writes; the overlay's file is unlinked once open, so nothing
 * outlives the process and the image never changes.
 */
static BlockBackend *blk_new_snapshot(const char *filename,
                                      const BlockOpenOptions *o,
                                      GError **errp)
{
    BlockOpenOptions ro = *o;
    ro.read_only = true;
    BlockDriverState *base = bdrv_open(filename, &ro, errp);
    if (!base) {
        return NULL;
    }
    int64_t size = bdrv_getlength(base);
    const char *tmpdir = g_getenv("TMPDIR");
    char *tmp = g_build_filename(tmpdir && *tmpdir ? tmpdir : "/var/tmp",
                                 "vl.XXXXXX", NULL);
    int fd = size < 0 ? -1 : g_mkstemp(tmp);
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not get temporary filename: %s",
                    g_strerror(size < 0 ? (int)-size : errno));
        g_free(tmp);
        bdrv_unref(base);
        return NULL;
    }
    close(fd);

    BlockOpenOptions top_o = *o;
    top_o.format = "qcow2";
    top_o.no_backing = true;
    top_o.locking = 0;
    BlockBackend *blk = NULL;
    GError *err = NULL;
    if (bdrv_create("qcow2", tmp, size, NULL, &err)) {
        blk = blk_new_open(tmp, &top_o, &err);
    }
    unlink(tmp);
    if (!blk) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not create temporary overlay '%s': %s", tmp,
                    err->message);
        g_error_free(err);
        g_free(tmp);
        bdrv_unref(base);
        return NULL;
    }
    g_free(tmp);
    blk->bs->backing = base;
    g_free(blk->bs->backing_file);
    blk->bs->backing_file = g_strdup(base->filename);
    g_free(blk->bs->backing_format);
    blk->bs->backing_format = g_strdup(base->drv->format_name);
    return blk;
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
    const char *node_name = opts_get(opts, "node-name");
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

    if (node_name && bdrv_find_node(node_name)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Duplicate nodes with node-name='%s'", node_name);
        g_free(name);
        return NULL;
    }

    BlockBackend *blk;
    if (file && *file) {
        blk = c.snapshot && !c.o.read_only ? blk_new_snapshot(file, &c.o, errp)
                                           : blk_new_open(file, &c.o, errp);
        if (blk && node_name &&
            !bdrv_set_node_name(blk->bs, node_name, errp)) {
            blk_unref(blk);
            blk = NULL;
        }
        if (!blk) {
            g_autofree char *base = g_path_get_basename(file);
            /* a firmware image: say which package has it */
            if (c.type == IF_PFLASH && g_str_has_prefix(base, "OVMF") &&
                !g_file_test(file, G_FILE_TEST_EXISTS) && errp && *errp) {
                char *msg = g_strdup_printf("%s (Debian's 'ovmf' package "
                                            "has it)", (*errp)->message);
                g_free((*errp)->message);
                (*errp)->message = msg;
            }
            g_free(name);
            return NULL;
        }
        blk->detect_zeroes = c.detect_zeroes;
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
    blk_register(blk);
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

/* ---- -blockdev ---- */

void blk_set_snapshot_default(bool on)
{
    snapshot_default = on;
}

void blk_set_ide_units_per_bus(int units)
{
    g_assert(units == 1 || units == 2);
    ide_units_per_bus = units;
}

int blk_get_ide_units_per_bus(void)
{
    return ide_units_per_bus;
}

/* The value of prefix + key (marking it used), or NULL */
static const char *bd_get(Opts *opts, const char *prefix, const char *key)
{
    char *full = g_strconcat(prefix, key, NULL);
    const char *v = opts_get(opts, full);
    g_free(full);
    return v;
}

static bool bd_has_prefix(Opts *opts, const char *prefix)
{
    for (guint i = 0; i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        if (g_str_has_prefix(p->key, prefix)) {
            return true;
        }
    }
    return false;
}

static bool bd_bool(Opts *opts, const char *prefix, const char *key,
                    bool *val, GError **errp)
{
    const char *v = bd_get(opts, prefix, key);
    if (v && !parse_bool(v, val, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter '%s%s' expects 'on' or 'off'", prefix, key);
        return false;
    }
    return true;
}

static bool bd_enum(Opts *opts, const char *prefix, const char *key,
                    const char *const *names, int n, int *val, GError **errp)
{
    const char *v = bd_get(opts, prefix, key);
    if (!v) {
        return true;
    }
    for (int i = 0; i < n; i++) {
        if (!strcmp(v, names[i])) {
            *val = i;
            return true;
        }
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "Parameter '%s%s' does not accept value '%s'", prefix, key, v);
    return false;
}

/* Keys of this node (under prefix, not its children's) nobody read: the
 * error comes before anything is opened, as QEMU's parser gives it. */
static bool bd_check_unused(Opts *opts, const char *prefix, GError **errp)
{
    char *file = g_strconcat(prefix, "file.", NULL);
    char *backing = g_strconcat(prefix, "backing.", NULL);
    char *image = g_strconcat(prefix, "image.", NULL);   /* blkdebug's */
    bool ok = true;

    for (guint i = 0; ok && i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        if (!p->used && g_str_has_prefix(p->key, prefix) &&
            !g_str_has_prefix(p->key, file) &&
            !g_str_has_prefix(p->key, backing) &&
            !g_str_has_prefix(p->key, image)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Parameter '%s' is unexpected", p->key);
            ok = false;
        }
    }
    g_free(file);
    g_free(backing);
    g_free(image);
    return ok;
}

static void node_conf_set(BlockDriverState *bs, const NodeConf *nc)
{
    if (!node_confs) {
        node_confs = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    }
    g_hash_table_insert(node_confs, bs, g_memdup2(nc, sizeof(*nc)));
}

static BlockDriverState *bd_open(Opts *opts, const char *prefix, bool root,
                                 const BlockOpenOptions *parent_o,
                                 const NodeConf *parent_nc, GError **errp);

/* A child given as a node name or as prefix.* options; NULL on error. */
static BlockDriverState *bd_child(Opts *opts, const char *prefix,
                                  const char *name, bool optional,
                                  const BlockOpenOptions *o,
                                  const NodeConf *nc, GError **errp)
{
    char *sub = g_strconcat(prefix, name, ".", NULL);
    const char *ref = bd_get(opts, prefix, name);
    BlockDriverState *bs = NULL;

    if (ref) {
        bs = bdrv_find_node(ref);
        if (!bs) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Cannot find device='%s' nor node-name='%s'", ref,
                        ref);
        } else {
            bdrv_ref(bs);
        }
    } else if (bd_has_prefix(opts, sub)) {
        bs = bd_open(opts, sub, false, o, nc, errp);
    } else if (!optional) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "A block device must be specified for \"%s\"", name);
    }
    g_free(sub);
    return bs;
}

static const char *const bd_drivers[] = { "file", "raw", "qcow2",
                                         "blkdebug" };

/* driver=blkdebug: its rules, then its image child (a node name or
 * image.*), as QEMU reads them */
static BlockDriverState *bd_open_blkdebug(Opts *opts, const char *prefix,
                                          BlockOpenOptions *o, NodeConf *nc,
                                          GError **errp)
{
    BlkdebugRules *rules = blkdebug_rules_from_opts(opts, prefix, errp);

    if (!rules) {
        return NULL;
    }
    bd_get(opts, prefix, "image");  /* read again by bd_child */
    if (!bd_check_unused(opts, prefix, errp)) {
        blkdebug_rules_free(rules);
        return NULL;
    }
    BlockDriverState *image = bd_child(opts, prefix, "image", false, o, nc,
                                       errp);
    if (!image) {
        blkdebug_rules_free(rules);
        return NULL;
    }
    return blkdebug_open_node(image, rules, image->filename, o, errp);
}

/* One node under prefix ("" or "file." ...), with its children. */
static BlockDriverState *bd_open(Opts *opts, const char *prefix, bool root,
                                 const BlockOpenOptions *parent_o,
                                 const NodeConf *parent_nc, GError **errp)
{
    static const char *const discard_names[] = { "ignore", "unmap", "off",
                                                 "on" };
    static const char *const aio_names[] = { "threads", "native",
                                             "io_uring" };
    static const char *const locking_names[] = { "auto", "on", "off" };
    BlockOpenOptions o = parent_o ? *parent_o : (BlockOpenOptions){ 0 };
    NodeConf nc = parent_nc ? *parent_nc : (NodeConf){ 0 };
    bool auto_ro = false;
    int drv_i = -1, discard = -1, aio = 0, locking = 0, dz = -1;

    o.format = NULL;
    o.no_backing = false;
    const char *driver = bd_get(opts, prefix, "driver");
    if (!driver) {
        g_set_error(errp, VIREO_ERROR, 0, "Parameter '%sdriver' is missing",
                    prefix);
        return NULL;
    }
    if (!bd_enum(opts, prefix, "driver", bd_drivers,
                 G_N_ELEMENTS(bd_drivers), &drv_i, errp)) {
        return NULL;
    }
    const char *node_name = bd_get(opts, prefix, "node-name");
    if (root && !node_name) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "'node-name' must be specified for the root node");
        return NULL;
    }
    if (node_name) {
        /* checks the name's syntax and that it is free, before opening */
        BlockDriverState probe = { 0 };
        if (!bdrv_set_node_name(&probe, node_name, errp)) {
            return NULL;
        }
        g_free(probe.node_name);
    }
    bool no_flush = o.no_flush;
    if (!bd_bool(opts, prefix, "read-only", &o.read_only, errp) ||
        !bd_bool(opts, prefix, "auto-read-only", &auto_ro, errp) ||
        !bd_bool(opts, prefix, "cache.direct", &o.direct, errp) ||
        !bd_bool(opts, prefix, "cache.no-flush", &no_flush, errp) ||
        !bd_enum(opts, prefix, "discard", discard_names,
                 G_N_ELEMENTS(discard_names), &discard, errp) ||
        !bd_enum(opts, prefix, "detect-zeroes", detect_zeroes_names,
                 G_N_ELEMENTS(detect_zeroes_names), &dz, errp)) {
        return NULL;
    }
    o.no_flush = nc.no_flush = no_flush;
    if (discard >= 0) {
        o.discard_unmap = nc.discard_unmap = discard & 1;
    }
    if (dz >= 0) {
        if (dz == BLOCK_DETECT_ZEROES_UNMAP && !nc.discard_unmap) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "setting detect-zeroes to unmap is not allowed "
                        "without setting discard operation to unmap");
            return NULL;
        }
        nc.detect_zeroes = dz;
    }

    BlockDriverState *bs = NULL;
    const BlockDriver *drv = bdrv_find_format(bd_drivers[drv_i]);
    if (!strcmp(bd_drivers[drv_i], "blkdebug")) {
        bs = bd_open_blkdebug(opts, prefix, &o, &nc, errp);
        if (!bs) {
            return NULL;
        }
    } else if (drv == &bdrv_file) {
        const char *filename = bd_get(opts, prefix, "filename");
        if (!bd_enum(opts, prefix, "aio", aio_names, G_N_ELEMENTS(aio_names),
                     &aio, errp) ||
            !bd_enum(opts, prefix, "locking", locking_names,
                     G_N_ELEMENTS(locking_names), &locking, errp)) {
            return NULL;
        }
        if (!filename) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Parameter '%sfilename' is missing", prefix);
            return NULL;
        }
        if (!bd_check_unused(opts, prefix, errp)) {
            return NULL;
        }
        o.aio_native = aio == 1;
        o.aio_io_uring = aio == 2;
        o.locking = locking == 1 ? 1 : locking == 2 ? -1 : 0;
        GError *err = NULL;
        bs = bdrv_open_format(drv, NULL, filename, &o, &err);
        if (!bs && auto_ro && !o.read_only) {
            /* auto-read-only: read-write if the file allows, else not */
            g_clear_error(&err);
            o.read_only = true;
            bs = bdrv_open_format(drv, NULL, filename, &o, &err);
        }
        if (!bs) {
            g_propagate_error(errp, err);
            return NULL;
        }
    } else {
        const char *backing = drv == &bdrv_qcow2
                              ? bd_get(opts, prefix, "backing") : NULL;
        bd_get(opts, prefix, "file");   /* read again by bd_child */
        if (!bd_check_unused(opts, prefix, errp)) {
            return NULL;
        }
        BlockDriverState *file = bd_child(opts, prefix, "file", false, &o,
                                          &nc, errp);
        if (!file) {
            return NULL;
        }
        if (file->read_only && !o.read_only) {
            if (!auto_ro) {
                g_set_error(errp, VIREO_ERROR, 0, "Block node is read-only");
                bdrv_unref(file);
                return NULL;
            }
            o.read_only = true;
        }
        BlockDriverState *backing_bs = NULL;
        if (backing && *backing && strcmp(backing, "null")) {
            backing_bs = bd_child(opts, prefix, "backing", true, &o, &nc,
                                  errp);
            if (!backing_bs) {
                bdrv_unref(file);
                return NULL;
            }
        } else if (!backing && drv == &bdrv_qcow2) {
            char *sub = g_strconcat(prefix, "backing.", NULL);
            if (bd_has_prefix(opts, sub)) {
                BlockOpenOptions bo = o;
                bo.read_only = true;
                backing_bs = bd_open(opts, sub, false, &bo, &nc, errp);
                if (!backing_bs) {
                    g_free(sub);
                    bdrv_unref(file);
                    return NULL;
                }
                backing = "";
            }
            g_free(sub);
        }
        bs = bdrv_open_format(drv, file, file->filename, &o, errp);
        if (!bs) {
            bdrv_unref(backing_bs);
            return NULL;
        }
        if (backing_bs) {
            bs->backing = backing_bs;
        } else if (!backing && !bdrv_open_backing_chain(bs, &o, errp)) {
            bdrv_unref(bs);
            return NULL;
        }
    }
    if (node_name && !bdrv_set_node_name(bs, node_name, errp)) {
        bdrv_unref(bs);
        return NULL;
    }
    node_conf_set(bs, &nc);
    return bs;
}

static void bd_flatten_json(Opts *opts, const char *prefix, json_t *v)
{
    OptPair pair = { 0 };

    if (json_is_object(v)) {
        const char *k;
        json_t *sub;
        json_object_foreach(v, k, sub) {
            char *p = g_strconcat(prefix, k, ".", NULL);
            if (json_is_object(sub)) {
                bd_flatten_json(opts, p, sub);
            } else {
                p[strlen(p) - 1] = '\0';
                bd_flatten_json(opts, p, sub);
            }
            g_free(p);
        }
        return;
    }
    pair.key = g_strdup(prefix);
    if (json_is_string(v)) {
        pair.value = g_strdup(json_string_value(v));
    } else if (json_is_boolean(v)) {
        pair.value = g_strdup(json_is_true(v) ? "on" : "off");
    } else if (json_is_integer(v)) {
        pair.value = g_strdup_printf("%" JSON_INTEGER_FORMAT,
                                     json_integer_value(v));
    } else if (json_is_null(v)) {
        pair.value = g_strdup("null");
    } else {
        pair.value = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    }
    g_array_append_val(opts->pairs, pair);
}

/* QEMU's -blockdev takes keyval or JSON; both become dotted keys here. */
static Opts *bd_parse(const char *optstr, GError **errp)
{
    if (optstr[0] != '{') {
        return opts_parse(optstr, "driver", errp);
    }
    json_error_t jerr;
    json_t *root = json_loads(optstr, 0, &jerr);
    if (!json_is_object(root)) {
        g_set_error(errp, VIREO_ERROR, 0, "JSON parse error, %s",
                    root ? "expected an object" : jerr.text);
        json_decref(root);
        return NULL;
    }
    Opts *opts = opts_parse("", NULL, errp);
    if (opts) {
        bd_flatten_json(opts, "", root);
    }
    json_decref(root);
    return opts;
}

BlockDriverState *blockdev_add(const char *optstr, GError **errp)
{
    Opts *opts = bd_parse(optstr, errp);
    BlockDriverState *bs = NULL;

    if (opts) {
        bs = bd_open(opts, "", true, NULL, NULL, errp);
        for (guint i = 0; bs && i < opts->pairs->len; i++) {
            OptPair *p = &g_array_index(opts->pairs, OptPair, i);
            if (!p->used) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "Parameter '%s' is unexpected", p->key);
                bdrv_unref(bs);
                bs = NULL;
            }
        }
        opts_free(opts);
    }
    if (!bs) {
        g_prefix_error(errp, "-blockdev %s: ", optstr);
        return NULL;
    }
    if (!blockdev_roots) {
        blockdev_roots = g_ptr_array_new();
    }
    g_ptr_array_add(blockdev_roots, bs);
    return bs;
}

void blockdev_close_all(void)
{
    BlockBackend *blk;

    blk_drain(NULL);
    while ((blk = blk_next(NULL))) {
        blk_unref(blk);
    }
    /* newest first: a node may use the ones before it */
    while (blockdev_roots && blockdev_roots->len) {
        BlockDriverState *bs = g_ptr_array_steal_index(
            blockdev_roots, blockdev_roots->len - 1);
        bdrv_unref(bs);
    }
    g_clear_pointer(&node_confs, g_hash_table_destroy);
}

/* ---- registry and properties ---- */

static void blk_register(BlockBackend *blk)
{
    blk->registered = true;
    if (!backends) {
        backends = g_ptr_array_new();
    }
    g_ptr_array_add(backends, blk);
}

/* The backend a device gets for drive=NODE (QEMU's anonymous one). */
static BlockBackend *blk_new_on_node(BlockDriverState *bs)
{
    NodeConf *nc = node_confs ? g_hash_table_lookup(node_confs, bs) : NULL;
    int64_t len = bdrv_getlength(bs);
    BlockBackend *blk = g_new0(BlockBackend, 1);

    bdrv_ref(bs);
    blk->bs = bs;
    blk->anon = true;
    blk->filename = g_strdup(bs->filename);
    blk->read_only = bs->read_only;
    blk->wce = !(nc && nc->writethrough);
    blk->no_flush = nc && nc->no_flush;
    blk->discard_unmap = nc && nc->discard_unmap;
    blk->detect_zeroes = nc ? nc->detect_zeroes : BLOCK_DETECT_ZEROES_OFF;
    blk->direct = bs->request_alignment > 1 ||
                  (bs->file && bs->file->request_alignment > 1);
    blk->on_read_error = BLOCKDEV_ON_ERROR_REPORT;
    blk->on_write_error = BLOCKDEV_ON_ERROR_ENOSPC;
    blk->length = len < 0 ? 0 : ROUND_UP(len, SECTOR_SIZE);
    blk->type = IF_NONE;
    blk->index = -1;
    blk_register(blk);
    return blk;
}

BlockBackend *blk_find(const char *id)
{
    if (!id) {
        return NULL;
    }
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *b = g_ptr_array_index(backends, i);
        if (b->name && !strcmp(b->name, id)) {
            return b;
        }
    }
    BlockDriverState *bs = bdrv_find_node(id);
    if (!bs) {
        return NULL;
    }
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *b = g_ptr_array_index(backends, i);
        if (b->anon && b->bs == bs) {
            return b;
        }
    }
    return blk_new_on_node(bs);
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
                    "Drive '%s' is already in use by %s",
                    blk->anon ? blk->bs->node_name : blk_name(blk),
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

void blk_set_dev_ops(BlockBackend *blk, const BlockDevOps *ops,
                     void *opaque)
{
    blk->dev_ops = ops;
    blk->dev_opaque = opaque;
}

const BlockDevOps *blk_get_dev_ops(BlockBackend *blk, void **opaque)
{
    if (opaque) {
        *opaque = blk->dev_opaque;
    }
    return blk->dev_ops;
}

bool blk_insert_bs(BlockBackend *blk, BlockDriverState *bs, GError **errp)
{
    int64_t len = bdrv_getlength(bs);

    if (blk->bs) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "There already is a medium in device '%s'",
                    blk_name(blk));
        return false;
    }
    if (len < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not get the size of '%s': "
                    "%s", bs->filename, g_strerror(-len));
        return false;
    }
    bdrv_ref(bs);
    blk->bs = bs;
    g_free(blk->filename);
    blk->filename = g_strdup(bs->filename);
    blk->length = ROUND_UP(len, SECTOR_SIZE);
    if (blk->media == BLK_MEDIA_CDROM || bs->read_only) {
        blk->read_only = true;
    }
    return true;
}

bool blk_insert_medium(BlockBackend *blk, const char *filename,
                       const char *format, bool read_only, GError **errp)
{
    BlockOpenOptions o = {
        .format = format,
        .read_only = read_only,
        .writethrough = !blk->wce,
        .no_flush = blk->no_flush,
        .direct = blk->direct,
    };

    if (blk->bs) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "There already is a medium in device '%s'",
                    blk_name(blk));
        return false;
    }
    BlockDriverState *bs = bdrv_open(filename, &o, errp);
    if (!bs) {
        return false;
    }
    bool ok = blk_insert_bs(blk, bs, errp);
    bdrv_unref(bs);         /* the backend holds its own reference */
    if (ok) {
        blk->read_only = read_only;
    }
    return ok;
}

void blk_remove_medium(BlockBackend *blk)
{
    if (!blk->bs) {
        return;
    }
    blk_drain(blk);
    bdrv_unref(blk->bs);
    blk->bs = NULL;
    blk->length = 0;
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

bool blk_get_direct(BlockBackend *blk)
{
    return blk->direct;
}

bool blk_get_no_flush(BlockBackend *blk)
{
    return blk->no_flush;
}

BlockDetectZeroes blk_get_detect_zeroes(BlockBackend *blk)
{
    return blk->detect_zeroes;
}

bool blk_is_anonymous(BlockBackend *blk)
{
    return blk->anon;
}

const BlockAcctStats *blk_get_stats(BlockBackend *blk)
{
    return &blk->stats;
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

    json_t *ev = json_pack("{s:s}", "device", blk_name(blk));
    if (blk->bs) {
        json_object_set_new(ev, "node-name", json_string(blk->bs->node_name));
    }
    json_t *rest = json_pack("{s:s, s:s, s:b, s:s}",
                             "operation", is_read ? "read" : "write",
                             "action", blk_error_action_name(action),
                             "nospace", error == ENOSPC,
                             "reason", g_strerror(error));
    json_object_update(ev, rest);
    json_decref(rest);
    qmp_event_send("BLOCK_IO_ERROR", ev);
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
    BlockAcctType acct;
    int64_t acct_bytes;
    int64_t start_ns;
    bool invalid;               /* refused by the range check */
} BlkAioReq;

static BlockAcctType blk_acct_type(BlockOp op)
{
    switch (op) {
    case BLK_OP_READ:
        return BLOCK_ACCT_READ;
    case BLK_OP_FLUSH:
        return BLOCK_ACCT_FLUSH;
    case BLK_OP_DISCARD:
        return BLOCK_ACCT_UNMAP;
    default:
        return BLOCK_ACCT_WRITE;    /* writes and write-zeroes */
    }
}

static void blk_account_done(BlkAioReq *a, int ret)
{
    BlockAcctStats *st = &a->blk->stats;
    int64_t now = g_get_monotonic_time() * 1000;

    if (a->invalid) {
        st->invalid_ops[a->acct]++;
    } else if (ret < 0) {
        st->failed_ops[a->acct]++;
    } else {
        st->ops[a->acct]++;
        st->bytes[a->acct] += a->acct_bytes;
        st->total_time_ns[a->acct] += now - a->start_ns;
        if (a->acct == BLOCK_ACCT_WRITE &&
            (uint64_t)(a->req.offset + a->acct_bytes) >
            st->wr_highest_offset) {
            st->wr_highest_offset = a->req.offset + a->acct_bytes;
        }
    }
    st->last_access_ns = now;
}

static bool iov_is_zero(const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        if (n && (p[0] || memcmp(p, p + 1, n - 1))) {
            return false;
        }
    }
    return true;
}

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
    /* handed over to a migration's other side, which may be writing */
    if (op != BLK_OP_READ && op != BLK_OP_FLUSH && blk->bs->inactive) {
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
    blk_account_done(a, req->ret);
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
    a->acct = blk_acct_type(op);
    a->acct_bytes = bytes;
    a->start_ns = g_get_monotonic_time() * 1000;

    int ret = blk_check(blk, op, offset, bytes);
    a->invalid = ret == -EIO;
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
    if (op == BLK_OP_WRITE && blk->detect_zeroes != BLOCK_DETECT_ZEROES_OFF &&
        iov_is_zero(iov, iovcnt)) {
        req->op = BLK_OP_ZEROES;
        req->iov = NULL;
        req->iovcnt = 0;
        if (blk->detect_zeroes == BLOCK_DETECT_ZEROES_UNMAP) {
            req->flags |= BLK_ZERO_MAY_UNMAP;
        }
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
        defer_call_flush();
        g_main_context_iteration(NULL, TRUE);
    }
}

bool blk_drain_flush_all(GError **errp)
{
    blk_drain(NULL);
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (!blk_is_inserted(blk)) {
            continue;
        }
        int ret = blk_flush(blk);
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "flushing drive '%s': %s",
                        blk_name(blk), g_strerror(-ret));
            return false;
        }
    }
    return true;
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
    if (op == BLK_OP_WRITE && blk->detect_zeroes != BLOCK_DETECT_ZEROES_OFF &&
        iov_is_zero(&v, 1)) {
        req.op = BLK_OP_ZEROES;
        req.iovcnt = 0;
        if (blk->detect_zeroes == BLOCK_DETECT_ZEROES_UNMAP &&
            blk->discard_unmap) {
            req.flags |= BLK_ZERO_MAY_UNMAP;
        }
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
