/*
 * The block layer as device models see it: a BlockBackend per drive, made
 * from a QEMU-style -drive option string, with asynchronous I/O whose
 * completions run on the main loop under the big lock.
 *
 * Under a backend sits a format driver (raw; qcow2 later) over the `file`
 * protocol (a thread pool, or libaio for aio=native).
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct BlockBackend BlockBackend;
typedef struct BlockDriverState BlockDriverState;

/* ret is 0 on success or -errno. Runs on the main loop, big lock held. */
typedef void BlockCompletionFunc(void *opaque, int ret);

/* -drive if=... (QEMU's names). */
typedef enum BlockInterfaceType {
    IF_NONE,
    IF_IDE,
    IF_VIRTIO,
    IF_PFLASH,
    IF_COUNT,
} BlockInterfaceType;

typedef enum BlockMedia {
    BLK_MEDIA_DISK,
    BLK_MEDIA_CDROM,
} BlockMedia;

/* werror= / rerror= as given (QEMU's BlockdevOnError). */
typedef enum BlockdevOnError {
    BLOCKDEV_ON_ERROR_REPORT,
    BLOCKDEV_ON_ERROR_IGNORE,
    BLOCKDEV_ON_ERROR_ENOSPC,   /* stop on ENOSPC, report the rest */
    BLOCKDEV_ON_ERROR_STOP,
} BlockdevOnError;

/* What a device does with one failed request (QEMU's BlockErrorAction). */
typedef enum BlockErrorAction {
    BLOCK_ERROR_ACTION_REPORT,  /* fail the request to the guest */
    BLOCK_ERROR_ACTION_IGNORE,  /* complete it as if it had succeeded */
    BLOCK_ERROR_ACTION_STOP,    /* pause the VM; retry the request on cont */
} BlockErrorAction;

/* blk_aio_pwrite_zeroes flags */
#define BLK_ZERO_MAY_UNMAP 0x1  /* the range may be deallocated (discard) */

/*
 * -drive file=PATH,format=raw,if=virtio|ide|none|pflash,index=N,
 * media=disk|cdrom,cache=...,aio=threads|native,readonly=on|off,
 * discard=ignore|unmap,id=ID,werror=...,rerror=...,serial=...,
 * file.locking=auto|on|off, cache.direct=, cache.no-flush=.
 * Opens the image and registers the backend. Errors start with
 * "-drive OPTSTR: ".
 */
BlockBackend *blk_new_from_drive_opts(const char *optstr, GError **errp);

/* detect-zeroes= (QEMU's BlockdevDetectZeroesOptions) */
typedef enum BlockDetectZeroes {
    BLOCK_DETECT_ZEROES_OFF,
    BLOCK_DETECT_ZEROES_ON,     /* an all-zero write becomes write-zeroes */
    BLOCK_DETECT_ZEROES_UNMAP,  /* ... which may also deallocate */
} BlockDetectZeroes;

const char *blk_detect_zeroes_name(BlockDetectZeroes dz);

/*
 * -blockdev OPTSTR (QEMU's keyval form, dotted keys for children, or
 * JSON): driver=file|raw|qcow2, node-name=, file=NODE or file.*=,
 * backing=null|NODE, read-only=, auto-read-only=, cache.direct=,
 * cache.no-flush=, discard=, detect-zeroes=, filename=, aio=, locking=.
 * The node lives until blockdev_close_all(); a device's drive= finds it
 * by node name (blk_find). Errors start with "-blockdev OPTSTR: ".
 */
BlockDriverState *blockdev_add(const char *optstr, GError **errp);
/* Drops every backend and every -blockdev node (at exit). */
void blockdev_close_all(void);
/* -snapshot: -drive defaults to snapshot=on (a temporary overlay). */
void blk_set_snapshot_default(bool on);
/*
 * Units an if=ide bus has (2, or 1 on AHCI ports), set by the machine
 * before -drive is parsed: bus= and unit= become index = bus * units +
 * unit, and unit >= units is refused, as QEMU's units_per_default_bus.
 */
void blk_set_ide_units_per_bus(int units);
int blk_get_ide_units_per_bus(void);

/*
 * Image handover at migration, as QEMU does it. Images opened while
 * blk_set_open_inactive(true) (a destination started with -incoming) take
 * no locks and keep no metadata they trust. blk_inactivate_all flushes
 * every node and releases its locks (the source, once stopped, before the
 * destination takes over); writes then fail with -EPERM. blk_activate_all
 * takes the locks back and re-reads the format metadata (the destination
 * before it runs, or the source when the migration fails or `cont` follows
 * it); on failure nothing stays activated. Both are no-ops when there is
 * nothing to do.
 */
void blk_set_open_inactive(bool on);
bool blk_inactivate_all(GError **errp);
bool blk_activate_all(GError **errp);
/* Whether any open node is inactive */
bool blk_any_inactive(void);

/* Options of blk_new_open (tools and tests); zero is QEMU's defaults. */
typedef struct BlockOpenOptions {
    const char *format;     /* NULL: probe (raw gets QEMU's warning) */
    bool read_only;
    bool direct;            /* O_DIRECT (cache=none, directsync) */
    bool writethrough;      /* flush after every write */
    bool no_flush;          /* cache=unsafe */
    bool aio_native;        /* libaio; needs direct */
    bool aio_io_uring;      /* aio=io_uring (liburing) */
    bool discard_unmap;
    int locking;            /* 0 auto, 1 on, -1 off */
    bool no_backing;        /* open the top image alone (vireo-img -u) */
    bool check;             /* for check -r (QEMU's BDRV_O_CHECK): a corrupt
                               image opens read-write, a dirty one is left
                               for the check to repair */
} BlockOpenOptions;

/* An unregistered backend on one image (blk_unref frees it). */
BlockBackend *blk_new_open(const char *filename, const BlockOpenOptions *o,
                           GError **errp);
/* The top node of the backend's graph (NULL: empty drive). */
BlockDriverState *blk_bs(BlockBackend *blk);
/* Waits for its requests, closes the image and drops it from the registry. */
void blk_unref(BlockBackend *blk);

/*
 * The registry of -drive backends. blk_find also takes a node name: the
 * first lookup makes an anonymous backend on the node (as QEMU does when
 * a device attaches to a -blockdev node), later ones return the same.
 */
BlockBackend *blk_find(const char *id);
/* if=virtio,index=0 is "virtio0"; if=ide index 0 is "ide0-hd0". */
BlockBackend *blk_by_index(BlockInterfaceType type, int index);
/* Iteration in creation order: blk_next(NULL) is the first. */
BlockBackend *blk_next(BlockBackend *blk);

/* A device claims a backend once ("Drive 'x' is already in use by ..."). */
bool blk_attach_dev(BlockBackend *blk, const char *dev_name, GError **errp);
void blk_detach_dev(BlockBackend *blk);
const char *blk_get_attached_dev(BlockBackend *blk);

const char *blk_name(BlockBackend *blk);
const char *blk_get_filename(BlockBackend *blk);
const char *blk_get_format(BlockBackend *blk);
BlockInterfaceType blk_get_if(BlockBackend *blk);
const char *blk_if_name(BlockInterfaceType type);
int blk_get_index(BlockBackend *blk);
BlockMedia blk_get_media(BlockBackend *blk);
/* False for an empty CD-ROM drive. */
bool blk_is_inserted(BlockBackend *blk);
/* Size in bytes, or -errno. */
int64_t blk_getlength(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
/* serial= or NULL */
const char *blk_get_serial(BlockBackend *blk);
/* The guest-visible write cache (virtio-blk WCE): false for writethrough
 * and directsync. Turning it off makes every write flush. */
bool blk_enable_write_cache(BlockBackend *blk);
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);
/* discard=unmap: the device may advertise discard. */
bool blk_discard_enabled(BlockBackend *blk);
/* 1, or 512/4096 under O_DIRECT; any request works, misaligned ones are
 * bounced, aligned ones are faster. */
uint32_t blk_get_request_alignment(BlockBackend *blk);

/*
 * Removable media (QEMU's BlockDevOps): a device with a tray (ide-cd)
 * tells the block layer what its tray does; the monitor's eject and
 * change commands go through these.
 */
typedef struct BlockDevOps {
    /* The medium was inserted or removed, or the tray moved (load: the
     * tray is closed with the medium now inside it). */
    void (*change_media_cb)(void *opaque, bool load);
    /* The monitor wants the tray open; force: unlock it first. */
    void (*eject_request_cb)(void *opaque, bool force);
    bool (*is_tray_open)(void *opaque);
    bool (*is_medium_locked)(void *opaque);
} BlockDevOps;

void blk_set_dev_ops(BlockBackend *blk, const BlockDevOps *ops,
                     void *opaque);
/* NULL: no device with a tray is attached. */
const BlockDevOps *blk_get_dev_ops(BlockBackend *blk, void **opaque);
/* Opens filename (format NULL: probed) as the backend's new medium; the
 * drive must be empty. */
bool blk_insert_medium(BlockBackend *blk, const char *filename,
                       const char *format, bool read_only, GError **errp);
/* Puts the -blockdev node bs in the empty drive. */
bool blk_insert_bs(BlockBackend *blk, BlockDriverState *bs, GError **errp);
/* Drops the medium (waits for its requests); the drive becomes empty. */
void blk_remove_medium(BlockBackend *blk);

/* cache.direct and cache.no-flush, for query-block */
bool blk_get_direct(BlockBackend *blk);
bool blk_get_no_flush(BlockBackend *blk);
BlockDetectZeroes blk_get_detect_zeroes(BlockBackend *blk);
/* Made by blk_find for a device on a -blockdev node (no name). */
bool blk_is_anonymous(BlockBackend *blk);

/* I/O accounting of the asynchronous requests (query-blockstats). */
typedef enum BlockAcctType {
    BLOCK_ACCT_READ,
    BLOCK_ACCT_WRITE,
    BLOCK_ACCT_FLUSH,
    BLOCK_ACCT_UNMAP,
    BLOCK_ACCT_MAX,
} BlockAcctType;

typedef struct BlockAcctStats {
    uint64_t bytes[BLOCK_ACCT_MAX];
    uint64_t ops[BLOCK_ACCT_MAX];
    uint64_t failed_ops[BLOCK_ACCT_MAX];
    uint64_t invalid_ops[BLOCK_ACCT_MAX];   /* refused: out of range */
    uint64_t total_time_ns[BLOCK_ACCT_MAX];
    int64_t last_access_ns;     /* monotonic; 0: no request yet */
    uint64_t wr_highest_offset; /* end of the furthest write */
} BlockAcctStats;

const BlockAcctStats *blk_get_stats(BlockBackend *blk);

BlockdevOnError blk_get_on_error(BlockBackend *blk, bool is_read);
/* The action for a request that failed with -error (error > 0). */
BlockErrorAction blk_get_error_action(BlockBackend *blk, bool is_read,
                                      int error);
/*
 * For a device whose request failed with -error: the action the policy
 * takes, after sending QMP's BLOCK_IO_ERROR event and, for stop, stopping
 * the VM in the io-error state (the device keeps the request and retries
 * it when the VM runs again).
 */
BlockErrorAction blk_handle_io_error(BlockBackend *blk, bool is_read,
                                     int error);
const char *blk_on_error_name(BlockdevOnError e);
const char *blk_error_action_name(BlockErrorAction a);

/*
 * Asynchronous I/O, started with the big lock held (a vCPU thread in an MMIO
 * handler or the main loop). The iovec array is copied; the buffers must stay valid
 * until cb runs. cb runs exactly once, always later on the main loop (never
 * inside the call), with 0 or -errno: -EPERM for writes to a read-only
 * drive, -ENOMEDIUM for an empty drive, -EIO/-ENOSPC/... from the host.
 * Reads past the end of the image return zeros.
 */
void blk_aio_preadv(BlockBackend *blk, int64_t offset, struct iovec *iov,
                    int iovcnt, BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwritev(BlockBackend *blk, int64_t offset, struct iovec *iov,
                     int iovcnt, BlockCompletionFunc *cb, void *opaque);
void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque);
/* A no-op returning 0 unless discard=unmap; advisory as in QEMU. */
void blk_aio_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                           int flags, BlockCompletionFunc *cb, void *opaque);

/* Requests started and not yet completed (callbacks not yet run). */
unsigned blk_in_flight(BlockBackend *blk);
/* Runs the main context until every request of blk (NULL: of every
 * backend) has completed. Main thread, big lock held. */
void blk_drain(BlockBackend *blk);
/* Drains every backend and flushes each image to the host's disk: what a
 * stopped VM's disks must be before its state is saved (migration,
 * savevm). The error names the drive. */
bool blk_drain_flush_all(GError **errp);

/*
 * Synchronous I/O for loaders, tools and tests, in the calling thread:
 * 0 or -errno (same rules as the asynchronous calls).
 */
int blk_pread(BlockBackend *blk, int64_t offset, void *buf, int64_t bytes);
int blk_pwrite(BlockBackend *blk, int64_t offset, const void *buf,
               int64_t bytes);
int blk_flush(BlockBackend *blk);

/*
 * Internal snapshots (savevm, loadvm, delvm, info snapshots) on a
 * backend's image, as qemu-img snapshot lists them.
 */
typedef struct BdrvSnapshotInfo {
    char *id;
    char *name;
    uint64_t vm_state_size;         /* 0: a disk-only snapshot */
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    int64_t icount;                 /* -1: not recorded */
} BdrvSnapshotInfo;

void bdrv_snapshot_info_free(BdrvSnapshotInfo *sn);
/* QEMU's snapshot table: the column titles, and one row for sn (with id
 * in the ID column); both end in a newline, the row is g_free'd. */
#define BDRV_SNAPSHOT_HEADER \
    "ID        TAG               VM SIZE                DATE     VM CLOCK" \
    "     ICOUNT\n"
char *bdrv_snapshot_row(const BdrvSnapshotInfo *sn, const char *id);

/* Inserted, writable, active and its format keeps internal snapshots. */
bool blk_can_snapshot(BlockBackend *blk);
/* The image's snapshots into *psn (each freed with
 * bdrv_snapshot_info_free, the array with g_free); their count. */
int blk_snapshot_list(BlockBackend *blk, BdrvSnapshotInfo **psn);
/* Whether the image has a snapshot with that name; *out filled if so. */
bool blk_snapshot_find(BlockBackend *blk, const char *name,
                       BdrvSnapshotInfo *out);
/* sn's name, VM-state size, clock and icount; the date is now. */
bool blk_snapshot_create(BlockBackend *blk, const BdrvSnapshotInfo *sn,
                         GError **errp);
bool blk_snapshot_goto(BlockBackend *blk, const char *name, GError **errp);
bool blk_snapshot_delete(BlockBackend *blk, const char *name,
                         GError **errp);
/* The VM-state area of the active image: savevm writes it before the
 * snapshot that keeps it, loadvm reads it after going to one. */
int blk_vmstate_rw(BlockBackend *blk, bool is_write, void *buf,
                   uint64_t pos, uint64_t size);

#endif
