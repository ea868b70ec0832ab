/*
 * virtio block device (virtio 1.2 section 5.2): read, write, flush,
 * discard, write-zeroes and get-id requests handed to the block layer
 * asynchronously; completions come back on the main loop. With iothread=,
 * the queues' kicks are handled on that I/O thread (under the big lock).
 * A request the guest malformed gets an error status, or NEEDS_RESET when
 * its shape is impossible (no status byte, no header). A request the host
 * fails follows the drive's werror/rerror: reported to the guest, ignored, or
 * held while the VM stops in io-error and resubmitted when it runs again.
 * virtio-blk-device puts it on a virtio-mmio transport, virtio-blk-pci on
 * PCI.
 */
#include <errno.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "migration/vmstate.h"
#include "util/defer-call.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"
#include "system/iothread.h"
#include "system/runstate.h"

/* Feature bits (5.2.3) */
#define VIRTIO_BLK_F_SEG_MAX        2
#define VIRTIO_BLK_F_RO             5
#define VIRTIO_BLK_F_BLK_SIZE       6
#define VIRTIO_BLK_F_FLUSH          9
#define VIRTIO_BLK_F_CONFIG_WCE     11
#define VIRTIO_BLK_F_MQ             12
#define VIRTIO_BLK_F_DISCARD        13
#define VIRTIO_BLK_F_WRITE_ZEROES   14

/* Request types and status (5.2.6) */
#define VIRTIO_BLK_T_IN             0
#define VIRTIO_BLK_T_OUT            1
#define VIRTIO_BLK_T_FLUSH          4
#define VIRTIO_BLK_T_GET_ID         8
#define VIRTIO_BLK_T_DISCARD        11
#define VIRTIO_BLK_T_WRITE_ZEROES   13
#define VIRTIO_BLK_S_OK             0
#define VIRTIO_BLK_S_IOERR          1
#define VIRTIO_BLK_S_UNSUPP         2
#define VIRTIO_BLK_ID_BYTES         20
#define VIRTIO_BLK_WZ_UNMAP         1

/* Configuration layout (5.2.4) */
#define CFG_CAPACITY                0
#define CFG_SEG_MAX                 12
#define CFG_BLK_SIZE                20
#define CFG_WRITEBACK               32
#define CFG_NUM_QUEUES              34
#define CFG_MAX_DISCARD_SECTORS     36
#define CFG_MAX_DISCARD_SEG         40
#define CFG_DISCARD_ALIGN           44
#define CFG_MAX_WZ_SECTORS          48
#define CFG_MAX_WZ_SEG              52
#define CFG_WZ_MAY_UNMAP            56
#define CFG_SIZE                    60

#define SECTOR_SIZE                 512
#define MAX_QUEUES                  16
/* What one discard or write-zeroes segment may cover (bytes < 2^31). */
#define MAX_RANGE_SECTORS           (0x3fffffffu / SECTOR_SIZE)

typedef struct BlkRequest {
    VirtIOBlock *s;
    VirtQueue *vq;
    VirtQueueElement *elem;
    uint64_t gen;
    uint32_t type;
    int64_t offset;         /* of the data, for reads and writes */
    uint8_t *status;        /* the last byte the driver gave us */
    uint32_t in_len;        /* bytes written for the used ring */
    struct iovec *iov;      /* the data buffers */
    int iovcnt;
} BlkRequest;

/* Copies the part [offset, offset+len) of sg into a new iovec array. */
static int iov_slice(const struct iovec *sg, unsigned n, size_t offset,
                     size_t len, struct iovec **out)
{
    struct iovec *v = g_new(struct iovec, n ? n : 1);
    int cnt = 0;

    for (unsigned i = 0; i < n && len; i++) {
        if (offset >= sg[i].iov_len) {
            offset -= sg[i].iov_len;
            continue;
        }
        size_t take = MIN(sg[i].iov_len - offset, len);
        v[cnt].iov_base = (uint8_t *)sg[i].iov_base + offset;
        v[cnt].iov_len = take;
        cnt++;
        len -= take;
        offset = 0;
    }
    *out = v;
    return cnt;
}

/* One interrupt for the requests that complete together (util/defer-call.h) */
static void notify_queue(void *vq)
{
    virtq_notify(vq);
}

static void request_complete(BlkRequest *r, uint8_t status)
{
    VirtIOBlock *s = r->s;

    s->in_flight--;
    if (r->gen == s->reset_gen) {
        *r->status = status;
        virtq_push(r->vq, r->elem, r->in_len);
        defer_call(notify_queue, r->vq);
    }
    g_free(r->iov);
    g_free(r->elem);
    g_free(r);
}

static void submit(BlkRequest *r);

static void request_done(void *opaque, int ret)
{
    BlkRequest *r = opaque;
    VirtIOBlock *s = r->s;
    bool is_read = r->type == VIRTIO_BLK_T_IN;
    uint8_t status = VIRTIO_BLK_S_OK;

    if (ret < 0) {
        switch (blk_handle_io_error(s->blk, is_read, -ret)) {
        case BLOCK_ERROR_ACTION_STOP:
            if (r->gen == s->reset_gen) {
                s->retry = g_slist_append(s->retry, r);
                return;
            }
            /* fall through: a request from before a reset is dropped */
        case BLOCK_ERROR_ACTION_REPORT:
            status = VIRTIO_BLK_S_IOERR;
            break;
        case BLOCK_ERROR_ACTION_IGNORE:
            break;
        }
        if (!is_read) {
            r->in_len = 1;
        }
    }
    request_complete(r, status);
}

/* The requests werror/rerror=stop held: dropped, or submitted again. */
static void retry_requests(VirtIOBlock *s, bool drop)
{
    GSList *list = s->retry;

    s->retry = NULL;
    for (GSList *l = list; l; l = l->next) {
        BlkRequest *r = l->data;
        if (drop || r->gen != s->reset_gen) {
            request_complete(r, VIRTIO_BLK_S_IOERR);
        } else {
            submit(r);
        }
    }
    g_slist_free(list);
}

static void vm_state_changed(void *opaque, bool running)
{
    if (running) {
        retry_requests(opaque, false);
    }
}

/* Checks [sector, sector+bytes) against the disk; false: IOERR. */
static bool range_ok(VirtIOBlock *s, uint64_t sector, uint64_t bytes)
{
    uint64_t size = blk_getlength(s->blk);

    return sector <= size / SECTOR_SIZE && bytes <= size &&
           sector * SECTOR_SIZE <= size - bytes;
}

static void submit_range(BlkRequest *r)
{
    VirtIOBlock *s = r->s;
    uint8_t seg[16];        /* sector, num_sectors, flags (5.2.6.2) */

    if (virtq_elem_read(r->elem, 16, seg, sizeof(seg)) != sizeof(seg) ||
        r->elem->out_len != 16 + sizeof(seg)) {
        /* one segment per request, as max_*_seg says */
        request_complete(r, VIRTIO_BLK_S_UNSUPP);
        return;
    }
    uint64_t sector = ld64(seg);
    uint32_t count = ld32(seg + 8);
    uint32_t flags = ld32(seg + 12);
    bool discard = r->type == VIRTIO_BLK_T_DISCARD;

    if (count > MAX_RANGE_SECTORS || (flags & ~VIRTIO_BLK_WZ_UNMAP) ||
        (discard && flags) ||
        !range_ok(s, sector, (uint64_t)count * SECTOR_SIZE)) {
        request_complete(r, discard && (flags & ~VIRTIO_BLK_WZ_UNMAP)
                                ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR);
        return;
    }
    if (discard) {
        blk_aio_pdiscard(s->blk, sector * SECTOR_SIZE,
                         (int64_t)count * SECTOR_SIZE, request_done, r);
    } else {
        blk_aio_pwrite_zeroes(s->blk, sector * SECTOR_SIZE,
                              (int64_t)count * SECTOR_SIZE,
                              flags & VIRTIO_BLK_WZ_UNMAP ? BLK_ZERO_MAY_UNMAP
                                                          : 0,
                              request_done, r);
    }
}

static void handle_request(VirtIOBlock *s, VirtQueue *vq,
                           VirtQueueElement *elem)
{
    uint8_t hdr[16];        /* type, reserved, sector (5.2.6) */
    BlkRequest *r;

    if (elem->in_len < 1 ||
        virtq_elem_read(elem, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
        virtio_error(&s->vdev, "virtio-blk: request without header or "
                     "status byte");
        g_free(elem);
        return;
    }
    r = g_new0(BlkRequest, 1);
    r->s = s;
    r->vq = vq;
    r->elem = elem;
    r->gen = s->reset_gen;
    r->type = ld32(hdr);
    r->in_len = 1;
    /* the status byte: the last byte of the last writable buffer */
    struct iovec *last = &elem->in_sg[elem->in_num - 1];
    r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
    s->in_flight++;

    uint64_t sector = ld64(hdr + 8);
    switch (r->type) {
    case VIRTIO_BLK_T_IN: {
        size_t len = elem->in_len - 1;
        if (len % SECTOR_SIZE || !range_ok(s, sector, len)) {
            request_complete(r, VIRTIO_BLK_S_IOERR);
            return;
        }
        r->iovcnt = iov_slice(elem->in_sg, elem->in_num, 0, len, &r->iov);
        r->in_len = len + 1;
        r->offset = sector * SECTOR_SIZE;
        submit(r);
        return;
    }
    case VIRTIO_BLK_T_OUT: {
        size_t len = elem->out_len - sizeof(hdr);
        if (len % SECTOR_SIZE || !range_ok(s, sector, len) ||
            blk_is_read_only(s->blk)) {
            request_complete(r, VIRTIO_BLK_S_IOERR);
            return;
        }
        r->iovcnt = iov_slice(elem->out_sg, elem->out_num, sizeof(hdr), len,
                              &r->iov);
        r->offset = sector * SECTOR_SIZE;
        submit(r);
        return;
    }
    case VIRTIO_BLK_T_FLUSH:
        submit(r);
        return;
    case VIRTIO_BLK_T_GET_ID: {
        char id[VIRTIO_BLK_ID_BYTES] = { 0 };
        const char *serial = s->serial ? s->serial : blk_get_serial(s->blk);
        if (serial) {
            memcpy(id, serial, MIN(strlen(serial), sizeof(id)));
        }
        size_t n = MIN(elem->in_len - 1, sizeof(id));
        virtq_elem_fill(elem, 0, id, n);
        r->in_len = n + 1;
        request_complete(r, VIRTIO_BLK_S_OK);
        return;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (blk_is_read_only(s->blk) ||
            (r->type == VIRTIO_BLK_T_DISCARD && !blk_discard_enabled(s->blk))) {
            request_complete(r, r->type == VIRTIO_BLK_T_DISCARD
                                    ? VIRTIO_BLK_S_UNSUPP
                                    : VIRTIO_BLK_S_IOERR);
            return;
        }
        submit(r);
        return;
    default:
        request_complete(r, VIRTIO_BLK_S_UNSUPP);
        return;
    }
}

/* Hands a checked request to the block layer (again, on a retry). */
static void submit(BlkRequest *r)
{
    VirtIOBlock *s = r->s;

    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        blk_aio_preadv(s->blk, r->offset, r->iov, r->iovcnt, request_done, r);
        break;
    case VIRTIO_BLK_T_OUT:
        blk_aio_pwritev(s->blk, r->offset, r->iov, r->iovcnt, request_done,
                        r);
        break;
    case VIRTIO_BLK_T_FLUSH:
        blk_aio_flush(s->blk, request_done, r);
        break;
    default:
        submit_range(r);
    }
}

static void blk_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBlock *s = (VirtIOBlock *)vdev;
    VirtQueueElement *elem;

    /* the requests of one kick go to the host kernel together */
    defer_call_begin();
    while ((elem = virtq_pop(vq))) {
        handle_request(s, vq, elem);
    }
    defer_call_end();
}

static void blk_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIOBlock *s = (VirtIOBlock *)vdev;

    st64(config + CFG_CAPACITY, blk_getlength(s->blk) / SECTOR_SIZE);
    st32(config + CFG_SEG_MAX, s->queue_size - 2);
    st32(config + CFG_BLK_SIZE, SECTOR_SIZE);
    config[CFG_WRITEBACK] = blk_enable_write_cache(s->blk);
    st16(config + CFG_NUM_QUEUES, s->num_queues);
    st32(config + CFG_MAX_DISCARD_SECTORS, MAX_RANGE_SECTORS);
    st32(config + CFG_MAX_DISCARD_SEG, 1);
    st32(config + CFG_DISCARD_ALIGN, 1);
    st32(config + CFG_MAX_WZ_SECTORS, MAX_RANGE_SECTORS);
    st32(config + CFG_MAX_WZ_SEG, 1);
    config[CFG_WZ_MAY_UNMAP] = 1;
}

static void blk_set_config(VirtIODevice *vdev, const uint8_t *config)
{
    VirtIOBlock *s = (VirtIOBlock *)vdev;

    /* CONFIG_WCE: the driver switches the write cache */
    blk_set_enable_write_cache(s->blk, config[CFG_WRITEBACK] & 1);
}

static void blk_reset(VirtIODevice *vdev)
{
    VirtIOBlock *s = (VirtIOBlock *)vdev;

    /* in-flight requests finish, but are not handed back to the driver */
    s->reset_gen++;
    retry_requests(s, true);
}

/* Migration: nothing may be in flight; see vmstate_virtio_blk. */
static bool blk_pre_save(VirtIODevice *vdev, GError **errp)
{
    VirtIOBlock *s = (VirtIOBlock *)vdev;
    guint held = g_slist_length(s->retry);

    if (held) {
        g_set_error(errp, VIREO_ERROR, 0, "virtio-blk: %u failed requests "
                    "are held for a retry (werror/rerror=stop), which "
                    "cannot be migrated yet: resolve the I/O error and "
                    "continue the VM, or reset it, before saving", held);
        return false;
    }
    if (s->in_flight) {
        g_set_error(errp, VIREO_ERROR, 0, "virtio-blk: %u requests are in "
                    "flight; the block layer must be drained before the "
                    "device state is saved", s->in_flight);
        return false;
    }
    return true;
}

static VirtioDeviceOps virtio_blk_ops_template = {
    .device_id = VIRTIO_ID_BLOCK,
    .features = (1ULL << VIRTIO_BLK_F_SEG_MAX) |
                (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
                (1ULL << VIRTIO_BLK_F_FLUSH) |
                (1ULL << VIRTIO_BLK_F_CONFIG_WCE) |
                (1ULL << VIRTIO_BLK_F_MQ) |
                (1ULL << VIRTIO_BLK_F_DISCARD) |
                (1ULL << VIRTIO_BLK_F_WRITE_ZEROES),
    .config_size = CFG_SIZE,
    .get_config = blk_get_config,
    .set_config = blk_set_config,
    .handle_queue = blk_handle_queue,
    .reset = blk_reset,
    .pre_save = blk_pre_save,
};

bool virtio_blk_init(VirtIOBlock *s, Machine *m, const char *dev_name,
                     GError **errp)
{
    VirtioDeviceOps *ops;
    IOThread *iothread = NULL;

    if (!s->drive) {
        g_set_error(errp, VIREO_ERROR, 0, "drive property not set");
        return false;
    }
    s->blk = blk_find(s->drive);
    if (!s->blk) {
        g_set_error(errp, VIREO_ERROR, 0, "drive=%s: no such drive",
                    s->drive);
        return false;
    }
    if (s->num_queues < 1 || s->num_queues > MAX_QUEUES) {
        g_set_error(errp, VIREO_ERROR, 0, "num-queues=%u: must be 1 to %d",
                    s->num_queues, MAX_QUEUES);
        return false;
    }
    if (s->queue_size < 4 || s->queue_size > 1024 ||
        (s->queue_size & (s->queue_size - 1))) {
        g_set_error(errp, VIREO_ERROR, 0, "queue-size=%u: must be a power "
                    "of 2 from 4 to 1024", s->queue_size);
        return false;
    }
    if (s->iothread && !(iothread = iothread_find(s->iothread))) {
        g_set_error(errp, VIREO_ERROR, 0, "iothread '%s' not found",
                    s->iothread);
        return false;
    }
    if (!blk_attach_dev(s->blk, dev_name, errp)) {
        return false;
    }
    /* per instance: the queue count and the read-only bit vary */
    ops = g_memdup2(&virtio_blk_ops_template, sizeof(*ops));
    ops->num_queues = s->num_queues;
    ops->queue_max_size = s->queue_size;
    if (blk_is_read_only(s->blk)) {
        ops->features |= 1ULL << VIRTIO_BLK_F_RO;
    }
    virtio_init(&s->vdev, ops, "virtio-blk", &m->as_mem);
    /* kicks are handled there; completions still come on the main loop */
    if (iothread) {
        virtio_device_set_iothread(&s->vdev, iothread);
    }
    s->state_entry = vm_add_state_change_handler(vm_state_changed, s);
    return true;
}

void virtio_blk_fini(VirtIOBlock *s)
{
    const VirtioDeviceOps *ops = s->vdev.ops;

    vm_del_state_change_handler(s->state_entry);
    s->state_entry = NULL;
    s->reset_gen++;
    retry_requests(s, true);
    if (s->blk) {
        blk_drain(s->blk);          /* completions need the device */
        blk_detach_dev(s->blk);
    }
    if (ops) {
        virtio_cleanup(&s->vdev);
        g_free((void *)ops);
    }
}

/* --- migration --- */

static bool virtio_blk_pre_save(void *opaque, GError **errp)
{
    VirtIOBlock *s = opaque;

    /* requests in flight were refused by blk_pre_save, with the vdev */
    s->vms_write_cache = blk_enable_write_cache(s->blk);
    return true;
}

static bool virtio_blk_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIOBlock *s = opaque;

    blk_set_enable_write_cache(s->blk, s->vms_write_cache);
    return true;
}

static const VMStateField virtio_blk_fields[] = {
    { .name = "write_cache", .kind = VMS_BOOL,
      .offset = offsetof(VirtIOBlock, vms_write_cache), .size = 1,
      .num = 1, .version_id = 1 },
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_virtio_blk = {
    .name = "virtio-blk",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_blk_fields,
    .pre_save = virtio_blk_pre_save,
    .post_load = virtio_blk_post_load,
};

/* --- virtio-blk-device: on a virtio-mmio transport --- */

typedef struct VirtIOBlockDevice {
    Device parent;
    VirtIOBlock blk;
} VirtIOBlockDevice;

static bool virtio_blk_device_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIOBlockDevice *s = (VirtIOBlockDevice *)dev;

    if (!virtio_blk_init(&s->blk, m, dev->id ? dev->id : dev->cls->name,
                         errp)) {
        return false;
    }
    if (!virtio_mmio_plug(m, &s->blk.vdev, dev->cls->name, errp)) {
        virtio_blk_fini(&s->blk);
        return false;
    }
    return true;
}

static void virtio_blk_device_unrealize(Device *dev)
{
    VirtIOBlockDevice *s = (VirtIOBlockDevice *)dev;

    virtio_mmio_unplug(&s->blk.vdev);
    virtio_blk_fini(&s->blk);
}

static const VMStateField virtio_blk_device_fields[] = {
    VMSTATE_STRUCT(blk, VirtIOBlockDevice, vmstate_virtio_blk, VirtIOBlock),
    VMSTATE_END_OF_LIST(),
};

/* The virtio device itself is in its virtio-mmio transport's section. */
static const VMStateDescription vmstate_virtio_blk_device = {
    .name = "virtio-blk-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_blk_device_fields,
};

static const Property virtio_blk_device_props[] = {
    VIRTIO_BLK_PROPS(VirtIOBlockDevice, blk),
    PROP_END,
};

static DeviceClass virtio_blk_device_class = {
    .name = "virtio-blk-device",
    .desc = "virtio block device (virtio-mmio)",
    .bus = VIRTIO_MMIO_BUS,
    .instance_size = sizeof(VirtIOBlockDevice),
    .props = virtio_blk_device_props,
    .user_creatable = true,
    .realize = virtio_blk_device_realize,
    .unrealize = virtio_blk_device_unrealize,
    .vmsd = &vmstate_virtio_blk_device,
};
DEVICE_REGISTER(virtio_blk_device_class)

/* --- virtio-blk-pci --- */

typedef struct VirtIOBlockPCI {
    VirtIOPCIProxy proxy;
    VirtIOBlock blk;
} VirtIOBlockPCI;

static bool virtio_blk_pci_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIOBlockPCI *s = (VirtIOBlockPCI *)dev;

    if (!virtio_blk_init(&s->blk, m, dev->id ? dev->id : dev->cls->name,
                         errp)) {
        return false;
    }
    /* QEMU's class: SCSI storage controller */
    if (!virtio_pci_plug(&s->proxy, &s->blk.vdev, m, 0x010000, errp)) {
        virtio_blk_fini(&s->blk);
        return false;
    }
    return true;
}

static void virtio_blk_pci_reset(Device *dev)
{
    virtio_pci_reset(&((VirtIOBlockPCI *)dev)->proxy);
}

static void virtio_blk_pci_unrealize(Device *dev)
{
    VirtIOBlockPCI *s = (VirtIOBlockPCI *)dev;

    virtio_pci_unplug(&s->proxy);
    virtio_blk_fini(&s->blk);
}

/* The device-specific part last: it applies what the transport loaded. */
static const VMStateField virtio_blk_pci_fields[] = {
    VMSTATE_STRUCT(proxy, VirtIOBlockPCI, vmstate_virtio_pci, VirtIOPCIProxy),
    VMSTATE_STRUCT(blk, VirtIOBlockPCI, vmstate_virtio_blk, VirtIOBlock),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_blk_pci = {
    .name = "virtio-blk-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_blk_pci_fields,
};

static const Property virtio_blk_pci_props[] = {
    VIRTIO_PCI_PROPS(VirtIOBlockPCI, proxy),
    VIRTIO_BLK_PROPS(VirtIOBlockPCI, blk),
    PROP_END,
};

static DeviceClass virtio_blk_pci_class = {
    .name = "virtio-blk-pci",
    .desc = "virtio block device (PCI)",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(VirtIOBlockPCI),
    .props = virtio_blk_pci_props,
    .user_creatable = true,
    .realize = virtio_blk_pci_realize,
    .reset = virtio_blk_pci_reset,
    .unrealize = virtio_blk_pci_unrealize,
    .vmsd = &vmstate_virtio_blk_pci,
};
DEVICE_REGISTER(virtio_blk_pci_class)
