/*
 * libFuzzer target for qcow2 images: the input is the image file. It is
 * opened read-write through the block layer (header and extension checks,
 * repair of a dirty image, the snapshot table), then read across its
 * virtual disk, mapped, written, listed and checked. A bad image may fail
 * to open or fail I/O; it must never crash or overrun.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROBES 64
#define PROBE_BYTES 4096

static void exercise(BlockDriverState *bs)
{
    int64_t len = bdrv_getlength(bs);
    uint8_t *buf = g_malloc(PROBE_BYTES);

    if (len <= 0) {
        g_free(buf);
        return;
    }
    /* reads spread over the disk, so most L1 entries get looked at */
    for (int i = 0; i < PROBES; i++) {
        int64_t off = (len / PROBES) * i;
        int64_t n = MIN(PROBE_BYTES, len - off);
        if (n > 0) {
            bdrv_pread(bs, off, buf, n);
        }
    }
    int64_t off = 0;
    for (int i = 0; i < PROBES && off < len; i++) {
        int64_t pnum = 0, map;
        BlockDriverState *file;
        if (bdrv_block_status(bs, off, len - off, &pnum, &map, &file) < 0 ||
            pnum <= 0) {
            break;
        }
        off += pnum;
    }
    memset(buf, 0xa5, PROBE_BYTES);
    bdrv_pwrite(bs, 0, buf, MIN(PROBE_BYTES, len));
    bdrv_pwrite(bs, len / 2, buf, MIN(512, len - len / 2));
    bdrv_pwrite_zeroes(bs, len / 3, MIN(65536, len - len / 3), 0);
    bdrv_pdiscard(bs, len / 4, MIN(65536, len - len / 4));
    bdrv_pread(bs, 0, buf, MIN(PROBE_BYTES, len));
    bdrv_flush(bs);
    g_free(buf);

    if (bs->drv->snapshot_list) {
        BdrvSnapshotInfo *sn = NULL;
        int n = bs->drv->snapshot_list(bs, &sn);
        for (int i = 0; i < n; i++) {
            bdrv_snapshot_info_free(&sn[i]);
        }
        g_free(sn);
    }
    if (bs->drv->check) {
        BdrvCheckResult res = { 0 };
        bs->drv->check(bs, &res, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);

    if (!quiet) {
        /* open errors are expected by the thousand */
        g_log_set_handler(NULL, G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE,
                          g_log_default_handler, NULL);
        quiet = true;
    }
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    BlockOpenOptions o = {
        .format = "qcow2",
        .locking = -1,
        .no_backing = true,     /* a fuzzed name must not open host files */
    };
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open(path, &o, &err);
    if (bs) {
        exercise(bs);
        bdrv_unref(bs);
    }
    g_clear_error(&err);
    close(fd);
    return 0;
}
