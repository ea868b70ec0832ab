/*
 * The virtio device core, independent of the transport (virtio 1.2, sections
 * 2 and 3): feature negotiation, device status, device configuration space
 * and split virtqueues (2.7) with indirect descriptors and event index.
 *
 * A device embeds a VirtIODevice and fills a static VirtioDeviceOps; a
 * transport (virtio-mmio, virtio-pci) forwards the driver's register accesses
 * to the virtio_* functions below and delivers interrupts through the notify
 * hook it installs. Everything the guest controls is validated here: a
 * malformed ring puts the device in DEVICE_NEEDS_RESET, it never crashes or
 * hangs the VMM.
 */
#ifndef HW_VIRTIO_VIRTIO_H
#define HW_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "system/memory.h"

/* Device status bits (2.1) */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE     0x01
#define VIRTIO_CONFIG_S_DRIVER          0x02
#define VIRTIO_CONFIG_S_DRIVER_OK       0x04
#define VIRTIO_CONFIG_S_FEATURES_OK     0x08
#define VIRTIO_CONFIG_S_NEEDS_RESET     0x40
#define VIRTIO_CONFIG_S_FAILED          0x80

/* Reserved feature bits (6) */
#define VIRTIO_RING_F_INDIRECT_DESC     28
#define VIRTIO_RING_F_EVENT_IDX         29
#define VIRTIO_F_VERSION_1              32
#define VIRTIO_F_ACCESS_PLATFORM        33
#define VIRTIO_F_RING_PACKED            34

/* Split virtqueue layout (2.7.5, 2.7.6, 2.7.8) */
#define VIRTQ_DESC_F_NEXT               1
#define VIRTQ_DESC_F_WRITE              2
#define VIRTQ_DESC_F_INDIRECT           4
#define VIRTQ_AVAIL_F_NO_INTERRUPT      1
#define VIRTQ_USED_F_NO_NOTIFY          1
#define VIRTQ_DESC_SIZE                 16
#define VIRTQ_MAX_SIZE                  32768   /* 2.7: the spec's maximum */

/* Interrupt causes, as virtio-mmio InterruptStatus and the PCI ISR (4.1.4.5) */
#define VIRTIO_ISR_QUEUE                0x1
#define VIRTIO_ISR_CONFIG               0x2

/* Device types (5) */
#define VIRTIO_ID_NET                   1
#define VIRTIO_ID_BLOCK                 2
#define VIRTIO_ID_CONSOLE               3
#define VIRTIO_ID_RNG                   4
#define VIRTIO_ID_BALLOON               5

/* The largest device configuration space a device type may have. */
#define VIRTIO_CONFIG_MAX_SIZE          256

typedef struct VirtIODevice VirtIODevice;
typedef struct VirtQueue VirtQueue;
typedef struct VMStateDescription VMStateDescription;

/*
 * One request taken from a virtqueue: the buffers of its descriptor chain as
 * host pointers into guest RAM. out_sg are the device-readable buffers (in
 * chain order), in_sg the device-writable ones. Free with g_free().
 */
typedef struct VirtQueueElement {
    uint16_t index;         /* head descriptor, handed back by virtq_push */
    unsigned out_num;
    unsigned in_num;
    size_t out_len;         /* total bytes of out_sg */
    size_t in_len;          /* total bytes of in_sg */
    struct iovec *out_sg;
    struct iovec *in_sg;
} VirtQueueElement;

/* What a device type is, and its callbacks. All but handle_queue optional. */
typedef struct VirtioDeviceOps {
    uint16_t device_id;
    uint64_t features;          /* device-type bits; the core adds its own */
    uint32_t config_size;       /* bytes of device configuration space */
    uint16_t num_queues;
    uint16_t queue_max_size;    /* QueueNumMax of each queue */
    /* Refreshes vdev->config before the driver reads it. */
    void (*get_config)(VirtIODevice *vdev, uint8_t *config);
    /* The driver wrote vdev->config (already updated). */
    void (*set_config)(VirtIODevice *vdev, const uint8_t *config);
    /* May refuse an accepted feature set: FEATURES_OK then stays clear. */
    bool (*validate_features)(VirtIODevice *vdev, uint64_t features);
    /* The driver notified queue vq (only while DRIVER_OK and not broken). */
    void (*handle_queue)(VirtIODevice *vdev, VirtQueue *vq);
    /* After a status write that the core accepted. */
    void (*set_status)(VirtIODevice *vdev, uint8_t status);
    /* Device reset (status 0 written, or machine reset): drop requests. */
    void (*reset)(VirtIODevice *vdev);
    /*
     * Migration: refuses (false with errp) to save a state the stream
     * cannot hold, such as requests taken from a queue and not finished.
     */
    bool (*pre_save)(VirtIODevice *vdev, GError **errp);
} VirtioDeviceOps;

/*
 * Where a queue's notifications arrive by eventfd (QEMU's "host notifier",
 * virtio_queue_set_host_notifier): the eventfd, its main-loop watch, and
 * the write it stands for, while that is registered (mr not NULL).
 */
typedef struct VirtQueueHostNotifier {
    int fd;                 /* -1 until first used, then until cleanup */
    GSource *watch;         /* on vdev->ctx */
    MemoryRegion *mr;
    hwaddr addr;
    unsigned size;
    bool match_data;
    uint64_t data;
} VirtQueueHostNotifier;

/* A split virtqueue. The transport writes num/ready/addresses (2.7). */
struct VirtQueue {
    VirtIODevice *vdev;
    int index;
    uint16_t num_max;
    uint16_t num;           /* queue size chosen by the driver */
    bool ready;
    hwaddr desc;            /* descriptor table */
    hwaddr avail;           /* driver area */
    hwaddr used;            /* device area */
    /* device side state */
    uint16_t last_avail_idx;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool notification;      /* whether the driver should kick us */
    VirtQueueHostNotifier host_notifier;
    /* while an I/O thread polls the queue: its avail idx in guest RAM */
    const uint8_t *poll_avail_idx;
};

struct VirtIODevice {
    const VirtioDeviceOps *ops;
    const char *name;               /* for messages: "virtio-rng" */
    AddressSpace *dma_as;           /* guest memory the rings live in */
    uint8_t status;
    uint8_t isr;                    /* VIRTIO_ISR_* pending */
    bool broken;                    /* NEEDS_RESET set, queues stopped */
    uint64_t host_features;         /* offered */
    uint64_t guest_features;        /* accepted by the driver */
    uint32_t config_generation;
    uint8_t *config;                /* ops->config_size bytes */
    VirtQueue *vq;                  /* ops->num_queues of them */
    /*
     * Installed by the transport: raise the interrupt for vq's used buffers,
     * or (vq NULL) for a configuration change. vdev->isr is already updated.
     */
    void (*notify)(VirtIODevice *vdev, VirtQueue *vq);
    /* Lower the interrupt state after a reset (optional). */
    void (*notify_reset)(VirtIODevice *vdev);
    void *transport;
    /*
     * Where the host notifiers' handlers run: NULL for the main loop, or
     * an I/O thread's context (set by the device before the transport
     * first turns a notifier on). There the handler takes the big lock
     * around the device's handle_queue; the transport then uses eventfds
     * under every accelerator (the software CPU's dispatch signals them).
     */
    GMainContext *ctx;
    struct IOThread *iothread;      /* whose context ctx is, polling us */
    /*
     * Migration: what a stream carries for the device's own values, which
     * vmstate_virtio_device's post_load checks before using them.
     */
    uint64_t vms_host_features;
    uint32_t vms_config_len;
    uint8_t vms_config[VIRTIO_CONFIG_MAX_SIZE];
};

/* Called by devices */

void virtio_init(VirtIODevice *vdev, const VirtioDeviceOps *ops,
                 const char *name, AddressSpace *dma_as);
void virtio_cleanup(VirtIODevice *vdev);
/*
 * A guest-caused error (malformed ring, impossible request): logs it once
 * (-d guest_errors), sets DEVICE_NEEDS_RESET, stops the queues and raises a
 * configuration interrupt.
 */
void virtio_error(VirtIODevice *vdev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
bool virtio_has_feature(const VirtIODevice *vdev, unsigned bit);
/* The device configuration changed: bumps the generation, interrupts. */
void virtio_notify_config(VirtIODevice *vdev);

/*
 * The next request of vq, or NULL when there is none or the ring is
 * malformed (then the device is in NEEDS_RESET). Every descriptor is
 * bounds-checked and mapped with address_space_ram_ptr; chains are bounded
 * by the queue size (indirect tables by their own length).
 */
VirtQueueElement *virtq_pop(VirtQueue *vq);
/*
 * Puts the request virtq_pop returned last back in the ring, untaken: the
 * next pop returns it again (a device that keeps no request in flight).
 */
void virtq_unpop(VirtQueue *vq);
/* Hands elem back to the driver with len bytes written into its in_sg. */
void virtq_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len);
/* Interrupts the driver for vq unless it suppressed that (flags/used_event). */
void virtq_notify(VirtQueue *vq);
/* Whether the driver has made no new buffers available. */
bool virtq_empty(VirtQueue *vq);
/* Asks the driver for kicks or not (used flags or avail_event). */
void virtq_set_notification(VirtQueue *vq, bool enable);
/* Copies len bytes of buf into the writable buffers; returns bytes copied. */
size_t virtq_elem_fill(const VirtQueueElement *elem, size_t offset,
                       const void *buf, size_t len);
/* Copies up to len bytes out of the readable buffers; returns bytes copied. */
size_t virtq_elem_read(const VirtQueueElement *elem, size_t offset, void *buf,
                       size_t len);

/*
 * Puts the queues' host notifiers on I/O thread t (before the transport is
 * plugged) and lets t poll them before it sleeps (its poll-max-ns): while
 * it polls, the driver is asked not to kick (VIRTQ_USED_F_NO_NOTIFY, or
 * avail_event left behind with EVENT_IDX). virtio_cleanup undoes it.
 */
void virtio_device_set_iothread(VirtIODevice *vdev, struct IOThread *t);

/* Called by transports */

void virtio_reset(VirtIODevice *vdev);
/* The 32 feature bits number sel*32.. of the device / of the driver. */
uint32_t virtio_get_device_features(VirtIODevice *vdev, unsigned sel);
uint32_t virtio_get_driver_features(VirtIODevice *vdev, unsigned sel);
void virtio_set_driver_features(VirtIODevice *vdev, unsigned sel,
                                uint32_t val);
/* Status register write (2.1, 3.1.1): 0 resets; FEATURES_OK is checked. */
void virtio_set_status(VirtIODevice *vdev, uint8_t val);
/* Device configuration space, little-endian, 1/2/4-byte accesses. */
uint32_t virtio_config_read(VirtIODevice *vdev, uint32_t offset,
                            unsigned size);
void virtio_config_write(VirtIODevice *vdev, uint32_t offset, unsigned size,
                         uint32_t val);
/* The driver set QueueReady: checks size and alignment, else NEEDS_RESET. */
void virtio_queue_set_ready(VirtIODevice *vdev, unsigned index, bool ready);
/* The driver's notification (QueueNotify / notify capability). */
void virtio_queue_notify(VirtIODevice *vdev, unsigned index);
/* Acknowledges interrupt causes (virtio-mmio InterruptACK). */
void virtio_isr_ack(VirtIODevice *vdev, uint8_t bits);

/*
 * The notification fast path (ioeventfd). With on, the driver's write of
 * size bytes at offset addr of the transport's I/O region mr (with
 * match_data, only of the value data: the queue index for virtio-mmio's
 * QueueNotify) signals an eventfd of queue index instead of reaching mr's
 * write callback; under KVM the kernel signals it without an exit. The
 * eventfd's handler (on the main loop, or on vdev->ctx) then calls
 * virtio_queue_notify, under the big lock. Size 0 takes writes of any size (without match_data).
 * Turning it on again moves it. With off, writes reach mr's callback
 * again; a kick already signalled is still handled by the eventfd's handler
 * (virtio_queue_notify ignores it if the queue stopped meanwhile).
 * Returns false with errp if no eventfd could be made; the transport then
 * keeps handling the write in its callback.
 *
 * Transports turn it on for each ready queue when the driver sets
 * DRIVER_OK and off before a reset (status 0, machine reset) and when the
 * device is unplugged; the eventfds are closed by virtio_cleanup.
 */
bool virtio_queue_set_host_notifier(VirtIODevice *vdev, unsigned index,
                                    MemoryRegion *mr, hwaddr addr,
                                    unsigned size, bool match_data,
                                    uint64_t data, bool on, GError **errp);
/* Turns every queue's host notifier off. */
void virtio_device_stop_host_notifiers(VirtIODevice *vdev);
/* Whether queue index's notifications currently arrive by eventfd. */
bool virtio_queue_host_notifier_active(VirtIODevice *vdev, unsigned index);

/*
 * Migration: the transport-independent state of a VirtIODevice, for the
 * transport to nest (VMSTATE_STRUCT_POINTER(vdev, ...)): status, ISR,
 * broken, the features offered and accepted, the configuration generation
 * and bytes, and each queue's set-up and ring indices. Host-side things
 * (eventfds, the transport's notify hooks) are not state; the transport's
 * post_load turns the host notifiers on again for a DRIVER_OK device.
 *
 * Nothing in flight is saved: saving fails while a queue has requests
 * taken and not handed back (ops->pre_save says why first). The ring
 * indices need the guest RAM loaded before the devices. The configuration
 * bytes come back as the device last showed them, without set_config
 * (a device's own description applies what they mean); the features
 * offered stay this device's, the stream's only appear in errors.
 *
 * Loading checks everything, in two kinds:
 *  - rejected (the load fails with an error naming the value), for what no
 *    device of this configuration can be in, or a destination that differs
 *    from the source: a configuration space or queue count of another
 *    size; accepted features (with FEATURES_OK) that this device does not
 *    offer or without VIRTIO_F_VERSION_1; NEEDS_RESET and broken that
 *    disagree; unknown ISR bits; a ready queue whose size is 0 or over its
 *    maximum or whose rings are misaligned, and, unless the device is
 *    broken (then it uses no ring until a reset), one whose rings are not
 *    all in guest RAM or that has requests in flight;
 *  - DEVICE_NEEDS_RESET (the device is loaded broken, as virtio_error
 *    leaves it), for what a misbehaving driver can leave on the source and
 *    the source would have stumbled on at its next access: a ready queue
 *    whose size is not a power of 2 (2.7), or whose avail idx in guest RAM
 *    is more than the queue size ahead of the device's last_avail_idx.
 *    Nothing is sent while loading: the configuration interrupt is left
 *    pending in the ISR (INTx and the virtio-mmio line follow it), and an
 *    MSI-X driver sees NEEDS_RESET in the status.
 */
extern const VMStateDescription vmstate_virtio_device;

#endif
