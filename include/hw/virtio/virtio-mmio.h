/*
 * virtio-mmio transport, version 2 (virtio 1.2 section 4.2): a 0x200-byte
 * register window with the device configuration at 0x100, and one interrupt
 * line held high while InterruptStatus is not zero.
 */
#ifndef HW_VIRTIO_VIRTIO_MMIO_H
#define HW_VIRTIO_VIRTIO_MMIO_H

#include "hw/device.h"
#include "hw/virtio/virtio.h"

#define TYPE_VIRTIO_MMIO        "virtio-mmio"
/* DeviceClass.bus of the devices that plug into a virtio-mmio transport */
#define VIRTIO_MMIO_BUS         "virtio-bus"
#define VIRTIO_MMIO_SIZE        0x200

/* Register offsets (4.2.2) */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC               0x74726976  /* "virt" */
#define VIRTIO_MMIO_VENDOR              0x554d4551  /* "QEMU", as QEMU's */

/*
 * Plugs vdev into the first virtio-mmio transport of m that has none (in
 * creation order, i.e. by slot). Fails with an error naming what when the
 * machine has no free transport (it isn't microvm, or all slots are used).
 */
bool virtio_mmio_plug(Machine *m, VirtIODevice *vdev, const char *what,
                      GError **errp);
/* Unplugs vdev from its transport (the device is going away). */
void virtio_mmio_unplug(VirtIODevice *vdev);

/* Whether dev is a virtio-mmio transport; if so, its address and GSI. */
bool virtio_mmio_get_slot(const Device *dev, uint64_t *addr, unsigned *gsi);

/*
 * The Linux kernel parameter that describes a transport,
 * "virtio_mmio.device=512@0xADDR:GSI", for direct boot.
 */
char *virtio_mmio_cmdline_param(uint64_t addr, unsigned gsi);

#endif
