/*
 * The virtio device core (virtio 1.2 sections 2, 3 and 6): feature
 * negotiation, status, configuration space and split virtqueues (2.7).
 * Every value read from a ring is validated before use; a malformed ring
 * sets DEVICE_NEEDS_RESET (2.1.2) and stops the device's queues.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "system/iothread.h"
#include "system/runstate.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

/* Feature bits the core implements for every device. */
#define CORE_FEATURES                                                   \
    ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
     (1ULL << VIRTIO_RING_F_EVENT_IDX))

bool virtio_has_feature(const VirtIODevice *vdev, unsigned bit)
{
    return bit < 64 && (vdev->guest_features >> bit) & 1;
}

static void queue_reset(VirtQueue *vq)
{
    vq->num = vq->num_max;
    vq->ready = false;
    /* an I/O thread polling the queue reads these two without the lock */
    __atomic_store_n(&vq->poll_avail_idx, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&vq->last_avail_idx, 0, __ATOMIC_RELAXED);
    vq->desc = vq->avail = vq->used = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->notification = true;
}

void virtio_init(VirtIODevice *vdev, const VirtioDeviceOps *ops,
                 const char *name, AddressSpace *dma_as)
{
    vdev->ops = ops;
    vdev->name = name;
    vdev->dma_as = dma_as;
    vdev->host_features = ops->features | CORE_FEATURES;
    g_assert(ops->config_size <= VIRTIO_CONFIG_MAX_SIZE);
    vdev->config = g_malloc0(ops->config_size ? ops->config_size : 1);
    vdev->vq = g_new0(VirtQueue, ops->num_queues);
    for (int i = 0; i < ops->num_queues; i++) {
        vdev->vq[i].vdev = vdev;
        vdev->vq[i].index = i;
        vdev->vq[i].num_max = ops->queue_max_size;
        vdev->vq[i].host_notifier.fd = -1;
        queue_reset(&vdev->vq[i]);
    }
}

void virtio_cleanup(VirtIODevice *vdev)
{
    if (vdev->iothread) {
        iothread_del_poller(vdev->iothread, vdev);
        vdev->iothread = NULL;
    }
    for (int i = 0; vdev->vq && i < vdev->ops->num_queues; i++) {
        VirtQueueHostNotifier *hn = &vdev->vq[i].host_notifier;
        if (hn->mr) {
            virtio_queue_set_host_notifier(vdev, i, NULL, 0, 0, false, 0,
                                           false, NULL);
        }
        if (hn->fd >= 0) {
            /* an I/O thread's handler waiting for the lock sees it gone */
            g_source_destroy(hn->watch);
            g_source_unref(hn->watch);
            close(hn->fd);
            hn->fd = -1;
        }
    }
    g_clear_pointer(&vdev->config, g_free);
    g_clear_pointer(&vdev->vq, g_free);
}

void virtio_reset(VirtIODevice *vdev)
{
    if (vdev->ops->reset) {
        vdev->ops->reset(vdev);
    }
    vdev->status = 0;
    vdev->isr = 0;
    vdev->broken = false;
    vdev->guest_features = 0;
    for (int i = 0; i < vdev->ops->num_queues; i++) {
        queue_reset(&vdev->vq[i]);
    }
    if (vdev->notify_reset) {
        vdev->notify_reset(vdev);
    }
}

void virtio_notify_config(VirtIODevice *vdev)
{
    vdev->config_generation++;
    if (!(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        return;
    }
    vdev->isr |= VIRTIO_ISR_CONFIG;
    if (vdev->notify) {
        vdev->notify(vdev, NULL);
    }
}

void virtio_error(VirtIODevice *vdev, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    if (vdev->broken) {
        return;     /* logged once per reset */
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_guest_error("%s: %s; device needs reset\n", vdev->name, msg);
    vdev->broken = true;
    vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    for (int i = 0; i < vdev->ops->num_queues; i++) {
        /* an I/O thread stops polling its rings */
        __atomic_store_n(&vdev->vq[i].poll_avail_idx, NULL, __ATOMIC_RELEASE);
    }
    /* 2.1.2: a DRIVER_OK device signals NEEDS_RESET by a config change */
    virtio_notify_config(vdev);
}

/* --- feature negotiation and status (3.1.1) --- */

uint32_t virtio_get_device_features(VirtIODevice *vdev, unsigned sel)
{
    return sel < 2 ? vdev->host_features >> (32 * sel) : 0;
}

uint32_t virtio_get_driver_features(VirtIODevice *vdev, unsigned sel)
{
    return sel < 2 ? vdev->guest_features >> (32 * sel) : 0;
}

void virtio_set_driver_features(VirtIODevice *vdev, unsigned sel, uint32_t val)
{
    if (sel >= 2) {
        return;     /* feature bits beyond 63: none offered, ignored */
    }
    if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) {
        log_guest_error("%s: driver features written after FEATURES_OK\n",
                        vdev->name);
        return;
    }
    uint64_t mask = 0xffffffffULL << (32 * sel);
    vdev->guest_features = (vdev->guest_features & ~mask) |
                           ((uint64_t)val << (32 * sel));
}

/* 3.1.1 step 5: whether the device accepts the driver's feature set. */
static bool features_acceptable(VirtIODevice *vdev)
{
    uint64_t f = vdev->guest_features;

    if (f & ~vdev->host_features) {
        log_guest_error("%s: driver accepted features not offered: 0x%"
                        G_GINT64_MODIFIER "x\n", vdev->name,
                        f & ~vdev->host_features);
        return false;
    }
    /* Legacy (pre-1.0) drivers are not supported by this transport. */
    if (!(f & (1ULL << VIRTIO_F_VERSION_1))) {
        log_guest_error("%s: driver did not accept VIRTIO_F_VERSION_1\n",
                        vdev->name);
        return false;
    }
    return !vdev->ops->validate_features ||
           vdev->ops->validate_features(vdev, f);
}

void virtio_set_status(VirtIODevice *vdev, uint8_t val)
{
    if (val == 0) {
        virtio_reset(vdev);
        return;
    }
    if ((val & VIRTIO_CONFIG_S_FEATURES_OK) &&
        !(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
        !features_acceptable(vdev)) {
        val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
    }
    if ((val & VIRTIO_CONFIG_S_DRIVER_OK) &&
        !(val & VIRTIO_CONFIG_S_FEATURES_OK)) {
        log_guest_error("%s: DRIVER_OK without FEATURES_OK\n", vdev->name);
    }
    /* NEEDS_RESET is the device's: only a reset clears it */
    vdev->status = (val & ~VIRTIO_CONFIG_S_NEEDS_RESET) |
                   (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
    if (vdev->ops->set_status) {
        vdev->ops->set_status(vdev, vdev->status);
    }
}

/* --- device configuration space (2.5) --- */

uint32_t virtio_config_read(VirtIODevice *vdev, uint32_t offset, unsigned size)
{
    uint32_t cs = vdev->ops->config_size;

    if (size > 4 || offset > cs || size > cs - offset) {
        return 0;
    }
    if (vdev->ops->get_config) {
        vdev->ops->get_config(vdev, vdev->config);
    }
    switch (size) {
    case 1: return vdev->config[offset];
    case 2: return ld16(vdev->config + offset);
    case 4: return ld32(vdev->config + offset);
    }
    return 0;
}

void virtio_config_write(VirtIODevice *vdev, uint32_t offset, unsigned size,
                         uint32_t val)
{
    uint32_t cs = vdev->ops->config_size;

    if (size > 4 || offset > cs || size > cs - offset) {
        return;
    }
    if (vdev->ops->get_config) {
        vdev->ops->get_config(vdev, vdev->config);
    }
    switch (size) {
    case 1: vdev->config[offset] = val; break;
    case 2: st16(vdev->config + offset, val); break;
    case 4: st32(vdev->config + offset, val); break;
    default: return;
    }
    if (vdev->ops->set_config) {
        vdev->ops->set_config(vdev, vdev->config);
    }
}

/*
 * The rings as host pointers, mapped for each use so that a driver cannot
 * make us keep a pointer to memory that went away. The used ring is mapped
 * writable (the software CPU learns that it changed).
 */
typedef struct Rings {
    uint8_t *desc;      /* num * 16 */
    uint8_t *avail;     /* flags, idx, ring[num], used_event */
    uint8_t *used;      /* flags, idx, ring[num] of 8 bytes, avail_event */
} Rings;

static bool map_rings(VirtQueue *vq, Rings *r, bool need_used);

/* --- queues: setup and notification from the driver --- */

void virtio_queue_set_ready(VirtIODevice *vdev, unsigned index, bool ready)
{
    if (index >= vdev->ops->num_queues) {
        return;
    }
    VirtQueue *vq = &vdev->vq[index];
    if (!ready) {
        vq->ready = false;
        return;
    }
    /* 2.7: size, and alignment 16/2/4 of the three areas (2.7.2) */
    if (vq->num == 0 || vq->num > vq->num_max) {
        virtio_error(vdev, "queue %u: size %u not in 1..%u", index, vq->num,
                     vq->num_max);
        return;
    }
    if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3)) {
        virtio_error(vdev, "queue %u: misaligned ring addresses", index);
        return;
    }
    Rings r;
    vq->ready = true;
    if (!map_rings(vq, &r, true)) {
        vq->ready = false;
        return;
    }
    __atomic_store_n(&vq->last_avail_idx, 0, __ATOMIC_RELAXED);
    vq->used_idx = 0;
    vq->signalled_used_valid = false;
}

void virtio_queue_notify(VirtIODevice *vdev, unsigned index)
{
    if (index >= vdev->ops->num_queues) {
        log_guest_error("%s: notify of queue %u, which does not exist\n",
                        vdev->name, index);
        return;
    }
    VirtQueue *vq = &vdev->vq[index];
    const uint8_t live = VIRTIO_CONFIG_S_DRIVER_OK |
                         VIRTIO_CONFIG_S_FEATURES_OK;
    if (vdev->broken || !vq->ready || (vdev->status & live) != live) {
        return;
    }
    vdev->ops->handle_queue(vdev, vq);
}

void virtio_isr_ack(VirtIODevice *vdev, uint8_t bits)
{
    vdev->isr &= ~bits;
}

/* --- host notifiers: notifications by eventfd --- */

/*
 * The driver kicked the queue (once or more). On the main loop the big lock
 * is held already; an I/O thread takes it, and finds the watch destroyed
 * if the device went away (virtio_cleanup) while it waited: then vq and fd
 * are no longer to be touched.
 */
static gboolean host_notifier_readable(gint fd, GIOCondition cond,
                                       gpointer opaque)
{
    bool locked = bql_locked();
    VirtQueue *vq = opaque;
    eventfd_t count;

    if (!locked) {
        bql_lock();
    }
    if (!g_source_is_destroyed(g_main_current_source()) &&
        eventfd_read(fd, &count) == 0) {
        virtio_queue_notify(vq->vdev, vq->index);
    }
    if (!locked) {
        bql_unlock();
    }
    return G_SOURCE_CONTINUE;
}

/*
 * The queue's eventfd and its watch live from the first use to
 * virtio_cleanup, so that a kick the kernel signalled just before the
 * notifier went off is still seen.
 */
static bool host_notifier_open(VirtQueue *vq, GError **errp)
{
    VirtQueueHostNotifier *hn = &vq->host_notifier;

    if (hn->fd >= 0) {
        return true;
    }
    hn->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hn->fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: queue %d: eventfd: %s",
                    vq->vdev->name, vq->index, g_strerror(errno));
        return false;
    }
    hn->watch = g_unix_fd_source_new(hn->fd, G_IO_IN);
    g_source_set_callback(hn->watch, (GSourceFunc)(void (*)(void))
                          host_notifier_readable, vq, NULL);
    g_source_attach(hn->watch, vq->vdev->ctx);
    return true;
}

bool virtio_queue_set_host_notifier(VirtIODevice *vdev, unsigned index,
                                    MemoryRegion *mr, hwaddr addr,
                                    unsigned size, bool match_data,
                                    uint64_t data, bool on, GError **errp)
{
    g_assert(index < vdev->ops->num_queues);
    VirtQueue *vq = &vdev->vq[index];
    VirtQueueHostNotifier *hn = &vq->host_notifier;

    if (hn->mr) {
        memory_region_del_eventfd(hn->mr, hn->addr, hn->size, hn->match_data,
                                  hn->data, hn->fd);
        hn->mr = NULL;
    }
    if (!on) {
        return true;
    }
    if (!host_notifier_open(vq, errp)) {
        return false;
    }
    hn->mr = mr;
    hn->addr = addr;
    hn->size = size;
    hn->match_data = match_data;
    hn->data = data;
    memory_region_add_eventfd(mr, addr, size, match_data, data, hn->fd);
    return true;
}

void virtio_device_stop_host_notifiers(VirtIODevice *vdev)
{
    memory_transaction_begin();
    for (int i = 0; i < vdev->ops->num_queues; i++) {
        virtio_queue_set_host_notifier(vdev, i, NULL, 0, 0, false, 0, false,
                                       NULL);
    }
    memory_transaction_commit();
}

bool virtio_queue_host_notifier_active(VirtIODevice *vdev, unsigned index)
{
    return index < vdev->ops->num_queues &&
           vdev->vq[index].host_notifier.mr != NULL;
}

/* --- split ring access (2.7) --- */


/* The rings as host pointers; false if any is not guest RAM. */
static bool rings_lookup(VirtQueue *vq, Rings *r, bool need_used)
{
    VirtIODevice *vdev = vq->vdev;
    uint64_t n = vq->num;

    r->desc = address_space_ram_ptr(vdev->dma_as, vq->desc, n * 16, false);
    r->avail = address_space_ram_ptr(vdev->dma_as, vq->avail, 6 + 2 * n,
                                     false);
    r->used = need_used ? address_space_ram_ptr(vdev->dma_as, vq->used,
                                                6 + 8 * n, true)
                        : NULL;
    return r->desc && r->avail && (!need_used || r->used);
}

static bool map_rings(VirtQueue *vq, Rings *r, bool need_used)
{
    if (!rings_lookup(vq, r, need_used)) {
        virtio_error(vq->vdev, "queue %d: rings outside guest RAM",
                     vq->index);
        return false;
    }
    return true;
}

/* Loads and stores of fields the guest's vCPUs access concurrently. */
static uint16_t ring_ld16(const uint8_t *p)
{
    uint16_t v = __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
    return GUINT16_FROM_LE(v);
}

static void ring_st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, GUINT16_TO_LE(v), __ATOMIC_RELAXED);
}

static bool queue_usable(VirtQueue *vq)
{
    return vq->ready && !vq->vdev->broken;
}

bool virtq_empty(VirtQueue *vq)
{
    Rings r;

    if (!queue_usable(vq) || !map_rings(vq, &r, false)) {
        return true;
    }
    return ring_ld16(r.avail + 2) == vq->last_avail_idx;
}

void virtq_set_notification(VirtQueue *vq, bool enable)
{
    Rings r;

    vq->notification = enable;
    if (!queue_usable(vq) || !map_rings(vq, &r, true)) {
        return;
    }
    if (virtio_has_feature(vq->vdev, VIRTIO_RING_F_EVENT_IDX)) {
        if (enable) {
            ring_st16(r.used + 4 + 8 * vq->num, vq->last_avail_idx);
        }
    } else {
        uint16_t flags = ring_ld16(r.used);
        flags = enable ? flags & ~VIRTQ_USED_F_NO_NOTIFY
                       : flags | VIRTQ_USED_F_NO_NOTIFY;
        ring_st16(r.used, flags);
    }
    /* the driver must see this before we look at the ring again */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* --- polling by an I/O thread --- */

static bool queue_live(VirtQueue *vq)
{
    const uint8_t live = VIRTIO_CONFIG_S_DRIVER_OK |
                         VIRTIO_CONFIG_S_FEATURES_OK;

    return vq->ready && !vq->vdev->broken &&
           (vq->vdev->status & live) == live;
}

/*
 * Without the big lock: whether a polled queue has new buffers. A queue is
 * polled only while live: a reset or virtio_error clears its avail
 * pointer. A stale answer only costs a handle that finds nothing.
 */
static bool device_poll_ready(void *opaque)
{
    VirtIODevice *vdev = opaque;

    for (int i = 0; i < vdev->ops->num_queues; i++) {
        VirtQueue *vq = &vdev->vq[i];
        const uint8_t *idx = __atomic_load_n(&vq->poll_avail_idx,
                                             __ATOMIC_ACQUIRE);
        if (idx && ring_ld16(idx) !=
                   __atomic_load_n(&vq->last_avail_idx, __ATOMIC_RELAXED)) {
            return true;
        }
    }
    return false;
}

/* Big lock held: handles the queues with new buffers; false if none moved. */
static bool device_poll_handle(void *opaque)
{
    VirtIODevice *vdev = opaque;
    bool progress = false;

    for (int i = 0; i < vdev->ops->num_queues; i++) {
        VirtQueue *vq = &vdev->vq[i];
        uint16_t before = vq->last_avail_idx;
        if (queue_live(vq) && !virtq_empty(vq)) {
            virtio_queue_notify(vdev, i);
            progress |= vq->last_avail_idx != before;
        }
    }
    return progress;
}

/*
 * Big lock held: kicks off while polling, on again after. Buffers the
 * driver added while it saw kicks off come with no kick: once they are on
 * again (and the driver sees it, the fence in virtq_set_notification), the
 * queue is handled if any is there.
 */
static void device_poll_set_notify(void *opaque, bool enable)
{
    VirtIODevice *vdev = opaque;

    for (int i = 0; i < vdev->ops->num_queues; i++) {
        VirtQueue *vq = &vdev->vq[i];
        Rings r;
        if (enable) {
            if (vq->poll_avail_idx) {
                __atomic_store_n(&vq->poll_avail_idx, NULL,
                                 __ATOMIC_RELEASE);
                virtq_set_notification(vq, true);
                if (queue_live(vq) && !virtq_empty(vq)) {
                    virtio_queue_notify(vdev, i);
                }
            }
        } else if (!vq->poll_avail_idx && queue_live(vq) &&
                   rings_lookup(vq, &r, true)) {
            virtq_set_notification(vq, false);
            __atomic_store_n(&vq->poll_avail_idx, r.avail + 2,
                             __ATOMIC_RELEASE);
        }
    }
}

void virtio_device_set_iothread(VirtIODevice *vdev, IOThread *t)
{
    IOThreadPoller p = {
        .ready = device_poll_ready,
        .handle = device_poll_handle,
        .set_notify = device_poll_set_notify,
        .opaque = vdev,
    };

    vdev->ctx = iothread_get_context(t);
    vdev->iothread = t;
    iothread_add_poller(t, &p);
}

/* A chain being collected into iovecs. */
typedef struct Chain {
    GArray *out;        /* of struct iovec */
    GArray *in;
    uint64_t out_len;
    uint64_t in_len;
} Chain;

typedef struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} Desc;

static Desc desc_load(const uint8_t *table, unsigned i)
{
    const uint8_t *p = table + 16 * (size_t)i;
    Desc d = {
        .addr = ld64(p), .len = ld32(p + 8), .flags = ld16(p + 12),
        .next = ld16(p + 14),
    };
    return d;
}

/*
 * Maps one buffer into iovecs, one per RAM range it spans. Fails (false)
 * when any byte of it is not guest RAM.
 */
static bool map_buffer(VirtIODevice *vdev, Chain *c, const Desc *d)
{
    bool is_write = d->flags & VIRTQ_DESC_F_WRITE;
    GArray *sg = is_write ? c->in : c->out;
    uint64_t addr = d->addr, left = d->len;

    if (is_write) {
        c->in_len += left;
    } else if (c->in->len) {
        virtio_error(vdev, "device-readable descriptor after a writable one");
        return false;
    } else {
        c->out_len += left;
    }
    if (c->in_len > UINT32_MAX || c->out_len > UINT32_MAX ||
        addr + left < addr) {
        virtio_error(vdev, "descriptor chain longer than 4 GiB");
        return false;
    }
    while (left) {
        const FlatRange *fr = address_space_lookup(vdev->dma_as, addr);
        uint64_t piece = left;
        if (fr && fr->start + fr->size - addr < piece) {
            piece = fr->start + fr->size - addr;
        }
        void *p = fr ? address_space_ram_ptr(vdev->dma_as, addr, piece,
                                             is_write)
                     : NULL;
        if (!p) {
            virtio_error(vdev, "buffer 0x%" G_GINT64_MODIFIER "x+%u is not "
                         "in guest RAM", d->addr, d->len);
            return false;
        }
        /* bounds the iovec count: a chain of n descriptors can't explode */
        if (sg->len >= 2 * VIRTQ_MAX_SIZE) {
            virtio_error(vdev, "descriptor chain has too many segments");
            return false;
        }
        struct iovec iov = { .iov_base = p, .iov_len = piece };
        g_array_append_val(sg, iov);
        addr += piece;
        left -= piece;
    }
    return true;
}

/*
 * Walks the chain starting at head of a table of max entries: at most max
 * descriptors (so a loop is a chain too long), next indices below max.
 * indirect_ok: whether an INDIRECT descriptor may appear (not inside an
 * indirect table, 2.7.5.3.1).
 */
static bool walk_chain(VirtIODevice *vdev, Chain *c, const uint8_t *table,
                       unsigned max, unsigned head, bool indirect_ok)
{
    unsigned i = head;

    for (unsigned count = 0;; count++) {
        if (count >= max) {
            virtio_error(vdev, "descriptor chain loops or exceeds %u", max);
            return false;
        }
        Desc d = desc_load(table, i);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!indirect_ok) {
                virtio_error(vdev, "indirect descriptor inside an indirect "
                             "table or not negotiated");
                return false;
            }
            if (d.flags & VIRTQ_DESC_F_NEXT) {
                virtio_error(vdev, "indirect descriptor with NEXT set");
                return false;
            }
            if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_MAX_SIZE) {
                virtio_error(vdev, "indirect table of %u bytes", d.len);
                return false;
            }
            const uint8_t *itable = address_space_ram_ptr(vdev->dma_as,
                                                          d.addr, d.len,
                                                          false);
            if (!itable) {
                virtio_error(vdev, "indirect table outside guest RAM");
                return false;
            }
            /* 2.7.5.3.1: an indirect descriptor is the only one of its chain
             * in the ring (any buffer before it is still honoured) */
            return walk_chain(vdev, c, itable, d.len / 16, 0, false);
        }
        if (d.len && !map_buffer(vdev, c, &d)) {
            return false;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
            return true;
        }
        if (d.next >= max) {
            virtio_error(vdev, "descriptor %u's next %u is out of range", i,
                         d.next);
            return false;
        }
        i = d.next;
    }
}

VirtQueueElement *virtq_pop(VirtQueue *vq)
{
    VirtIODevice *vdev = vq->vdev;
    Rings r;

    if (!queue_usable(vq) || !map_rings(vq, &r, true)) {
        return NULL;
    }
    uint16_t avail_idx = ring_ld16(r.avail + 2);
    uint16_t pending = avail_idx - vq->last_avail_idx;
    if (pending == 0) {
        return NULL;
    }
    if (pending > vq->num) {
        virtio_error(vdev, "queue %d: avail idx %u moved %u past %u entries",
                     vq->index, avail_idx, pending, vq->num);
        return NULL;
    }
    /* read the ring entry and descriptors only after the index (2.7.13) */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint16_t head = ring_ld16(r.avail + 4 + 2 * (vq->last_avail_idx % vq->num));
    if (head >= vq->num) {
        virtio_error(vdev, "queue %d: head descriptor %u out of range",
                     vq->index, head);
        return NULL;
    }

    Chain c = {
        .out = g_array_new(FALSE, FALSE, sizeof(struct iovec)),
        .in = g_array_new(FALSE, FALSE, sizeof(struct iovec)),
    };
    VirtQueueElement *elem = NULL;
    if (walk_chain(vdev, &c, r.desc, vq->num, head,
                   virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC))) {
        unsigned n = c.out->len + c.in->len;
        elem = g_malloc0(sizeof(*elem) + n * sizeof(struct iovec));
        elem->index = head;
        elem->out_num = c.out->len;
        elem->in_num = c.in->len;
        elem->out_len = c.out_len;
        elem->in_len = c.in_len;
        elem->out_sg = (struct iovec *)(elem + 1);
        elem->in_sg = elem->out_sg + elem->out_num;
        /* an empty GArray's data is NULL, which memcpy may not take */
        if (c.out->len) {
            memcpy(elem->out_sg, c.out->data,
                   c.out->len * sizeof(struct iovec));
        }
        if (c.in->len) {
            memcpy(elem->in_sg, c.in->data, c.in->len * sizeof(struct iovec));
        }
        __atomic_store_n(&vq->last_avail_idx, vq->last_avail_idx + 1,
                         __ATOMIC_RELAXED);     /* read by polling */
        if (vq->notification &&
            virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX)) {
            /* 2.7.10: kick us again once the driver passes this index */
            ring_st16(r.used + 4 + 8 * vq->num, vq->last_avail_idx);
        }
    }
    g_array_free(c.out, TRUE);
    g_array_free(c.in, TRUE);
    return elem;
}

void virtq_unpop(VirtQueue *vq)
{
    __atomic_store_n(&vq->last_avail_idx, vq->last_avail_idx - 1,
                     __ATOMIC_RELAXED);
}

void virtq_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len)
{
    Rings r;

    if (!queue_usable(vq) || !map_rings(vq, &r, true)) {
        return;
    }
    if (len > elem->in_len) {
        len = elem->in_len;     /* our own bug would otherwise leak to the guest */
    }
    uint8_t *e = r.used + 4 + 8 * (vq->used_idx % vq->num);
    st32(e, elem->index);
    st32(e + 4, len);
    /* the element before the index (2.7.8.2) */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    vq->used_idx++;
    ring_st16(r.used + 2, vq->used_idx);
}

/* 2.7.10: whether the driver wants an interrupt for used idx old..new. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void virtq_notify(VirtQueue *vq)
{
    VirtIODevice *vdev = vq->vdev;
    Rings r;
    bool notify;

    if (!queue_usable(vq) || !map_rings(vq, &r, true)) {
        return;
    }
    /* the used idx must be visible before we read the driver's wishes */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX)) {
        uint16_t used_event = ring_ld16(r.avail + 4 + 2 * vq->num);
        uint16_t old = vq->signalled_used;
        bool valid = vq->signalled_used_valid;
        vq->signalled_used = vq->used_idx;
        vq->signalled_used_valid = true;
        notify = !valid || need_event(used_event, vq->used_idx, old);
    } else {
        notify = !(ring_ld16(r.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    if (notify) {
        vdev->isr |= VIRTIO_ISR_QUEUE;
        if (vdev->notify) {
            vdev->notify(vdev, vq);
        }
    }
}

size_t virtq_elem_fill(const VirtQueueElement *elem, size_t offset,
                       const void *buf, size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < elem->in_num && done < len; i++) {
        const struct iovec *v = &elem->in_sg[i];
        if (offset >= v->iov_len) {
            offset -= v->iov_len;
            continue;
        }
        size_t n = MIN(v->iov_len - offset, len - done);
        memcpy((uint8_t *)v->iov_base + offset, (const uint8_t *)buf + done,
               n);
        done += n;
        offset = 0;
    }
    return done;
}

size_t virtq_elem_read(const VirtQueueElement *elem, size_t offset, void *buf,
                       size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < elem->out_num && done < len; i++) {
        const struct iovec *v = &elem->out_sg[i];
        if (offset >= v->iov_len) {
            offset -= v->iov_len;
            continue;
        }
        size_t n = MIN(v->iov_len - offset, len - done);
        memcpy((uint8_t *)buf + done, (const uint8_t *)v->iov_base + offset,
               n);
        done += n;
        offset = 0;
    }
    return done;
}

/* --- migration --- */

/*
 * What virtio_queue_set_ready guarantees of a ready queue, and what the
 * device guarantees when it is saved (nothing in flight); a stream that
 * breaks it is refused. The rings are only looked up in a device that
 * still uses them (not broken).
 */
static bool virtqueue_post_load(void *opaque, int version_id, GError **errp)
{
    VirtQueue *vq = opaque;
    VirtIODevice *vdev = vq->vdev;
    uint16_t in_flight = vq->last_avail_idx - vq->used_idx;
    Rings r;

    if (!vq->ready) {
        return true;    /* the driver's scratch values until QueueReady */
    }
    if (vq->num == 0 || vq->num > vq->num_max) {
        g_set_error(errp, VIREO_ERROR, 0, "ready with size %u, not in "
                    "1..%u", vq->num, vq->num_max);
        return false;
    }
    if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3)) {
        g_set_error(errp, VIREO_ERROR, 0, "ready with misaligned rings "
                    "(desc 0x%" G_GINT64_MODIFIER "x, avail 0x%"
                    G_GINT64_MODIFIER "x, used 0x%" G_GINT64_MODIFIER "x)",
                    vq->desc, vq->avail, vq->used);
        return false;
    }
    if (vdev->broken) {
        return true;
    }
    if (!rings_lookup(vq, &r, true)) {
        g_set_error(errp, VIREO_ERROR, 0, "rings of %u entries at desc 0x%"
                    G_GINT64_MODIFIER "x, avail 0x%" G_GINT64_MODIFIER
                    "x, used 0x%" G_GINT64_MODIFIER "x are not all in guest "
                    "RAM", vq->num, vq->desc, vq->avail, vq->used);
        return false;
    }
    if (in_flight) {
        g_set_error(errp, VIREO_ERROR, 0, "%u requests in flight "
                    "(last_avail_idx %u, used_idx %u), which a saved device "
                    "never has", in_flight, vq->last_avail_idx,
                    vq->used_idx);
        return false;
    }
    return true;
}

static const VMStateField virtqueue_fields[] = {
    VMSTATE_UINT16(num, VirtQueue),
    VMSTATE_BOOL(ready, VirtQueue),
    VMSTATE_UINT64(desc, VirtQueue),
    VMSTATE_UINT64(avail, VirtQueue),
    VMSTATE_UINT64(used, VirtQueue),
    VMSTATE_UINT16(last_avail_idx, VirtQueue),
    VMSTATE_UINT16(used_idx, VirtQueue),
    VMSTATE_UINT16(signalled_used, VirtQueue),
    VMSTATE_BOOL(signalled_used_valid, VirtQueue),
    VMSTATE_BOOL(notification, VirtQueue),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtqueue = {
    .name = "virtqueue",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtqueue_fields,
    .post_load = virtqueue_post_load,
};

/* A u32 queue count (the device's), then each queue's state. */
static bool virtqueues_save(GByteArray *out, void *opaque, GError **errp)
{
    VirtIODevice *vdev = opaque;

    vmstate_put_u32(out, vdev->ops->num_queues);
    for (unsigned i = 0; i < vdev->ops->num_queues; i++) {
        if (!vmstate_save_state(out, &vmstate_virtqueue, &vdev->vq[i],
                                errp)) {
            g_prefix_error(errp, "queue %u: ", i);
            return false;
        }
    }
    return true;
}

/*
 * Loaded in place (what a failed load leaves, the device's reset clears);
 * the broken flag comes before the queues in the stream.
 */
static bool virtqueues_load(VMStateReader *in, void *opaque, GError **errp)
{
    VirtIODevice *vdev = opaque;
    uint32_t n;

    if (!vmstate_get_u32(in, &n, errp)) {
        return false;
    }
    if (n != vdev->ops->num_queues) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has %u queues, this "
                    "device %u", n, vdev->ops->num_queues);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!vmstate_load_state(in, &vmstate_virtqueue, &vdev->vq[i],
                                errp)) {
            g_prefix_error(errp, "queue %u: ", i);
            return false;
        }
    }
    return true;
}

static const VMStateInfo vmstate_info_virtqueues = {
    .name = "virtqueues",
    .save = virtqueues_save,
    .load = virtqueues_load,
    .vmsd = &vmstate_virtqueue,
};

static bool virtio_device_pre_save(void *opaque, GError **errp)
{
    VirtIODevice *vdev = opaque;

    if (vdev->ops->pre_save && !vdev->ops->pre_save(vdev, errp)) {
        return false;
    }
    for (int i = 0; i < vdev->ops->num_queues && !vdev->broken; i++) {
        VirtQueue *vq = &vdev->vq[i];
        uint16_t in_flight = vq->last_avail_idx - vq->used_idx;
        if (vq->ready && in_flight) {
            g_set_error(errp, VIREO_ERROR, 0, "%s: queue %d has %u requests "
                        "in flight, which are not saved: the device must "
                        "finish them first", vdev->name, i, in_flight);
            return false;
        }
    }
    if (vdev->ops->get_config) {
        vdev->ops->get_config(vdev, vdev->config);
    }
    vdev->vms_host_features = vdev->host_features;
    vdev->vms_config_len = vdev->ops->config_size;
    memcpy(vdev->vms_config, vdev->config, vdev->ops->config_size);
    return true;
}

/*
 * virtio_error for a device being loaded: nothing is sent to the guest
 * while loading (its vCPUs' state may come later), so the configuration
 * interrupt is only pending in the ISR (the transports drive INTx and the
 * mmio line from it); with MSI-X the driver sees NEEDS_RESET in the
 * status when it next looks.
 */
static void load_error(VirtIODevice *vdev, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void load_error(VirtIODevice *vdev, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_guest_error("%s: loaded state: %s; device needs reset\n",
                    vdev->name, msg);
    vdev->broken = true;
    vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    vdev->config_generation++;
    if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) {
        vdev->isr |= VIRTIO_ISR_CONFIG;
    }
}

/* What a driver may leave on the source: the device comes up broken. */
static void queue_check_driver_state(VirtQueue *vq)
{
    VirtIODevice *vdev = vq->vdev;
    Rings r;

    if (!vq->ready || vdev->broken || !rings_lookup(vq, &r, false)) {
        return;
    }
    uint16_t avail_idx = ring_ld16(r.avail + 2);
    uint16_t pending = avail_idx - vq->last_avail_idx;
    if (vq->num & (vq->num - 1)) {
        load_error(vdev, "queue %d: size %u is not a power of 2", vq->index,
                   vq->num);
    } else if (pending > vq->num) {
        load_error(vdev, "queue %d: avail idx %u is %u past %u entries",
                   vq->index, avail_idx, pending, vq->num);
    }
}

static bool virtio_device_post_load(void *opaque, int version_id,
                                    GError **errp)
{
    VirtIODevice *vdev = opaque;
    uint64_t f = vdev->guest_features;
    const uint8_t known_isr = VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG;

    if (vdev->vms_config_len != vdev->ops->config_size) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has %u bytes of "
                    "device configuration, this %s %u", vdev->vms_config_len,
                    vdev->name, vdev->ops->config_size);
        return false;
    }
    /* before FEATURES_OK, guest_features is the driver's scratch value */
    if ((vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
        (f & ~vdev->host_features)) {
        g_set_error(errp, VIREO_ERROR, 0, "the driver accepted features 0x%"
                    G_GINT64_MODIFIER "x that this %s does not offer (it "
                    "offers 0x%" G_GINT64_MODIFIER "x, the stream's device "
                    "0x%" G_GINT64_MODIFIER "x)", f & ~vdev->host_features,
                    vdev->name, vdev->host_features,
                    vdev->vms_host_features);
        return false;
    }
    if ((vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
        (!(f & (1ULL << VIRTIO_F_VERSION_1)) ||
         (vdev->ops->validate_features &&
          !vdev->ops->validate_features(vdev, f)))) {
        g_set_error(errp, VIREO_ERROR, 0, "FEATURES_OK with features 0x%"
                    G_GINT64_MODIFIER "x, which this %s refuses", f,
                    vdev->name);
        return false;
    }
    if (!(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET) != !vdev->broken) {
        g_set_error(errp, VIREO_ERROR, 0, "status 0x%x and broken=%d "
                    "disagree on DEVICE_NEEDS_RESET", vdev->status,
                    vdev->broken);
        return false;
    }
    if (vdev->isr & ~known_isr) {
        g_set_error(errp, VIREO_ERROR, 0, "unknown interrupt status bits "
                    "0x%x", vdev->isr & ~known_isr);
        return false;
    }
    memcpy(vdev->config, vdev->vms_config, vdev->ops->config_size);
    for (int i = 0; i < vdev->ops->num_queues; i++) {
        queue_check_driver_state(&vdev->vq[i]);
    }
    return true;
}

/* The stream's offer and configuration land in vms_*, see post_load. */
static const VMStateField virtio_device_fields[] = {
    VMSTATE_UINT8(status, VirtIODevice),
    VMSTATE_UINT8(isr, VirtIODevice),
    VMSTATE_BOOL(broken, VirtIODevice),
    { .name = "host_features", .kind = VMS_UINT64,
      .offset = offsetof(VirtIODevice, vms_host_features), .size = 8,
      .num = 1, .version_id = 1 },
    VMSTATE_UINT64(guest_features, VirtIODevice),
    VMSTATE_UINT32(config_generation, VirtIODevice),
    { .name = "config", .kind = VMS_VBUFFER,
      .offset = offsetof(VirtIODevice, vms_config), .size = 1, .num = 1,
      .version_id = 1, .len_name = "config_len",
      .len_offset = offsetof(VirtIODevice, vms_config_len),
      .len_size = sizeof(uint32_t), .max = VIRTIO_CONFIG_MAX_SIZE },
    VMSTATE_CUSTOM("queues", vmstate_info_virtqueues),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_virtio_device = {
    .name = "virtio-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_device_fields,
    .pre_save = virtio_device_pre_save,
    .post_load = virtio_device_post_load,
};
