/*
 * virtio block device (virtio 1.2 section 5.2) over the block layer: the
 * transport-independent part, which virtio-blk-device (virtio-mmio) and
 * virtio-blk-pci embed.
 */
#ifndef HW_VIRTIO_VIRTIO_BLK_H
#define HW_VIRTIO_VIRTIO_BLK_H

#include "block/block.h"
#include "hw/virtio/virtio.h"

typedef struct Machine Machine;

typedef struct VirtIOBlock {
    VirtIODevice vdev;
    BlockBackend *blk;
    char *drive;            /* property: the -drive id */
    uint32_t num_queues;    /* property */
    uint32_t queue_size;    /* property */
    char *serial;           /* property, else the drive's serial= */
    char *iothread;         /* property: the -object iothread id, or NULL */
    uint64_t reset_gen;     /* requests from before a reset are dropped */
    unsigned in_flight;
    GSList *retry;          /* failed requests held by werror=stop */
    struct VMStateChangeEntry *state_entry;
    bool vms_write_cache;   /* migration: the drive's cache mode (WCE) */
} VirtIOBlock;

/* The properties, for the wrapping device's Property table. */
#define VIRTIO_BLK_PROPS(st, f)                                             \
    PROP_STR("drive", st, f.drive, NULL, "the -drive id of the image"),     \
    PROP_U32("num-queues", st, f.num_queues, 1, "request queues (1-16)"),   \
    PROP_U32("queue-size", st, f.queue_size, 256,                           \
             "size of each queue (a power of 2, 4-1024)"),                  \
    PROP_STR("serial", st, f.serial, NULL, "disk serial (GET_ID)"),       \
    PROP_STR("iothread", st, f.iothread, NULL,                              \
             "the -object iothread that handles the queues' requests")

/*
 * Migration: the state of a VirtIOBlock besides its virtio device (which
 * the transport saves): the write cache mode the driver may have switched
 * (CONFIG_WCE). Requests are not saved: the device refuses to be saved
 * while any is in flight (the block layer must be drained first, after
 * the vCPUs stopped) or held for a retry by werror/rerror=stop (not
 * supported yet: the error must be resolved, or the device reset, first).
 */
extern const VMStateDescription vmstate_virtio_blk;

bool virtio_blk_init(VirtIOBlock *s, Machine *m, const char *dev_name,
                     GError **errp);
void virtio_blk_fini(VirtIOBlock *s);

#endif
