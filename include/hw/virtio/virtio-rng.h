/*
 * virtio entropy device (virtio 1.2 section 5.4), independent of the
 * transport: virtio-rng-device (virtio-mmio) embeds a VirtIORNG, and so
 * will virtio-rng-pci.
 */
#ifndef HW_VIRTIO_VIRTIO_RNG_H
#define HW_VIRTIO_VIRTIO_RNG_H

#include "hw/device.h"
#include "hw/virtio/virtio.h"

typedef struct Timer Timer;

typedef struct VirtIORNG {
    VirtIODevice vdev;
    uint64_t max_bytes;     /* property: bytes per period (rate limit) */
    uint32_t period_ms;     /* property */
    uint64_t quota;         /* bytes left in this period */
    Timer *timer;           /* refills the quota; made when first needed */
    int64_t vms_refill;     /* migration: the timer's deadline, or -1 */
} VirtIORNG;

/* The properties, for a device struct that embeds a VirtIORNG as field. */
#define VIRTIO_RNG_PROPS(type, field)                                   \
    PROP_U64("max-bytes", type, field.max_bytes, INT64_MAX,             \
             "bytes of entropy the guest gets per period"),             \
    PROP_U32("period", type, field.period_ms, 1 << 16,                  \
             "rate limit period in milliseconds")

/* Sets up the virtio device (not yet on a transport). */
bool virtio_rng_init(VirtIORNG *rng, Machine *m, GError **errp);
void virtio_rng_fini(VirtIORNG *rng);

#endif
