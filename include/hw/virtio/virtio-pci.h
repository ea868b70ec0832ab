/*
 * virtio over PCI (virtio 1.2 section 4.1), the modern interface: the
 * common, ISR, notification and device configuration structures in one
 * 64-bit memory BAR found through vendor-specific capabilities, the
 * PCI-configuration access window, and MSI-X vectors per queue (INTx when
 * the driver does not enable MSI-X). Devices are modern-only (device IDs
 * 0x1040 + virtio ID, revision 1), which every driver since Linux 4.0,
 * SeaBIOS and OVMF handle.
 *
 * A virtio-X-pci device type's instance begins with a VirtIOPCIProxy and
 * embeds the transport-independent device (VirtIOBlock, ...); its realize
 * sets that device up and calls virtio_pci_plug, its reset is
 * virtio_pci_reset and its unrealize calls virtio_pci_unplug first.
 */
#ifndef HW_VIRTIO_VIRTIO_PCI_H
#define HW_VIRTIO_VIRTIO_PCI_H

#include "hw/pci/pci.h"
#include "hw/virtio/virtio.h"

/* Capability cfg_type values (4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG   1
#define VIRTIO_PCI_CAP_NOTIFY_CFG   2
#define VIRTIO_PCI_CAP_ISR_CFG      3
#define VIRTIO_PCI_CAP_DEVICE_CFG   4
#define VIRTIO_PCI_CAP_PCI_CFG      5

/* struct virtio_pci_cap and its extensions (4.1.4) */
#define VIRTIO_PCI_CAP_CFG_TYPE     3
#define VIRTIO_PCI_CAP_BAR          4
#define VIRTIO_PCI_CAP_OFFSET       8
#define VIRTIO_PCI_CAP_LENGTH       12
#define VIRTIO_PCI_CAP_LEN          16
#define VIRTIO_PCI_NOTIFY_CAP_MULT  16
#define VIRTIO_PCI_NOTIFY_CAP_LEN   20
#define VIRTIO_PCI_CFG_CAP_DATA     16
#define VIRTIO_PCI_CFG_CAP_LEN      20

/* struct virtio_pci_common_cfg (4.1.4.3) */
#define VIRTIO_PCI_COMMON_DFSELECT      0x00
#define VIRTIO_PCI_COMMON_DF            0x04
#define VIRTIO_PCI_COMMON_GFSELECT      0x08
#define VIRTIO_PCI_COMMON_GF            0x0c
#define VIRTIO_PCI_COMMON_MSIX          0x10
#define VIRTIO_PCI_COMMON_NUMQ          0x12
#define VIRTIO_PCI_COMMON_STATUS        0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT      0x16
#define VIRTIO_PCI_COMMON_Q_SIZE        0x18
#define VIRTIO_PCI_COMMON_Q_MSIX        0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE      0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF        0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO      0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI      0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO     0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI     0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO      0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI      0x34
#define VIRTIO_PCI_COMMON_Q_NDATA       0x38
#define VIRTIO_PCI_COMMON_Q_RESET       0x3a

#define VIRTIO_MSI_NO_VECTOR        0xffff

/*
 * Where the structures sit in the memory BAR (QEMU's layout, so guests
 * and tools see the same addresses): each a 4 KiB page of BAR 4.
 */
#define VIRTIO_PCI_MEM_BAR          4
#define VIRTIO_PCI_MSIX_BAR         1
#define VIRTIO_PCI_COMMON_OFFSET    0x0000
#define VIRTIO_PCI_ISR_OFFSET       0x1000
#define VIRTIO_PCI_DEVICE_OFFSET    0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET    0x3000
#define VIRTIO_PCI_REGION_SIZE      0x1000
#define VIRTIO_PCI_NOTIFY_MULT      4
#define VIRTIO_PCI_BAR_SIZE         0x4000

#define VIRTIO_PCI_VENDOR_ID        0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE   0x1040

typedef struct VirtIOPCIProxy {
    PCIDevice pci;
    uint32_t nvectors;          /* property "vectors" (default: per type) */
    bool ioeventfd;             /* property "ioeventfd" */

    VirtIODevice *vdev;
    PCIDeviceInfo info;
    MemoryRegion bar;           /* container of the four structures */
    MemoryRegion common, isr, device, notify;
    uint8_t cfg_cap;            /* offset of the PCI_CFG capability */
    uint32_t dfselect, gfselect;
    uint16_t queue_sel;
    uint16_t config_vector;
    uint16_t *queue_vector;     /* per queue */
} VirtIOPCIProxy;

#define VIRTIO_PCI_NVECTORS_DEFAULT UINT32_MAX

/* The properties every virtio-X-pci type has. */
#define VIRTIO_PCI_PROPS(st, f)                                             \
    PCI_DEVICE_PROPS(st, f.pci),                                            \
    PROP_U32("vectors", st, f.nvectors, VIRTIO_PCI_NVECTORS_DEFAULT,        \
             "MSI-X vectors (0: INTx only; default queues + 1)"),           \
    PROP_BOOL("ioeventfd", st, f.ioeventfd, true,                           \
              "on/off: queue notifications through eventfds")

/*
 * Puts vdev (already virtio_init'ed) on the PCI bus as a modern virtio
 * device of PCI class class_code. Fails with a message naming what.
 */
bool virtio_pci_plug(VirtIOPCIProxy *p, VirtIODevice *vdev, Machine *m,
                     uint32_t class_code, GError **errp);
void virtio_pci_unplug(VirtIOPCIProxy *p);
/* Machine reset: PCI power-on state and a virtio reset. */
void virtio_pci_reset(VirtIOPCIProxy *p);

/*
 * Migration: the PCI function (vmstate_pci_device), the common
 * configuration's selectors and MSI-X vectors, and the virtio device
 * (vmstate_virtio_device), for a virtio-X-pci description to nest
 * (VMSTATE_STRUCT(proxy, ..., vmstate_virtio_pci, VirtIOPCIProxy)) before
 * its device-specific state. Vectors must name one of the function's
 * MSI-X vectors or be NO_VECTOR. Loading drives INTx again and, for a
 * DRIVER_OK device, registers its queues' ioeventfds as DRIVER_OK did.
 */
extern const VMStateDescription vmstate_virtio_pci;

#endif
