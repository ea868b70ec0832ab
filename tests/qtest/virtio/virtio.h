/*
 * The driver's side of a virtio 1.x device over qtest (virtio 1.2 sections
 * 2, 3 and 4): device status and feature negotiation, configuration space
 * and split virtqueues in guest memory, over the modern virtio-pci
 * transport (4.1) on pc and virtio-mmio version 2 (4.2) on microvm.
 */
#ifndef TESTS_QTEST_VIRTIO_VIRTIO_H
#define TESTS_QTEST_VIRTIO_VIRTIO_H

#include "libqtest.h"
#include "pci.h"

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

/* Device types (5) */
#define VIRTIO_ID_NET                   1
#define VIRTIO_ID_BLOCK                 2
#define VIRTIO_ID_RNG                   4

/* Split virtqueue (2.7.5, 2.7.6, 2.7.8) */
#define VRING_DESC_F_NEXT               1
#define VRING_DESC_F_WRITE              2
#define VRING_DESC_F_INDIRECT           4
#define VRING_AVAIL_F_NO_INTERRUPT      1
#define VRING_USED_F_NO_NOTIFY          1
#define VRING_DESC_SIZE                 16

/* Interrupt causes: virtio-mmio InterruptStatus, virtio-pci ISR (4.1.4.5) */
#define VIRTIO_ISR_QUEUE                0x1
#define VIRTIO_ISR_CONFIG               0x2

#define VIRTIO_PCI_VENDOR_ID            0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE       0x1040
#define VIRTIO_MSI_NO_VECTOR            0xffff

/* virtio-pci capabilities (4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG       1
#define VIRTIO_PCI_CAP_NOTIFY_CFG       2
#define VIRTIO_PCI_CAP_ISR_CFG          3
#define VIRTIO_PCI_CAP_DEVICE_CFG       4
#define VIRTIO_PCI_CAP_PCI_CFG          5
#define VIRTIO_PCI_CAP_CFG_TYPE         3
#define VIRTIO_PCI_CAP_BAR              4
#define VIRTIO_PCI_CAP_OFFSET           8
#define VIRTIO_PCI_CAP_LENGTH           12
#define VIRTIO_PCI_NOTIFY_CAP_MULT      16

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

/* virtio-mmio version 2 registers (4.2.2) */
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
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100
#define VIRTIO_MMIO_MAGIC               0x74726976  /* "virt" */

/* microvm's first virtio-mmio slot and its interrupt (hw/i386/microvm.c) */
#define MICROVM_VIRTIO_MMIO_BASE        0xfeb00000ULL
#define MICROVM_VIRTIO_MMIO_SIZE        0x200
#define MICROVM_VIRTIO_MMIO_GSI0        5

/* How long a test waits for a device to answer a request. */
#define QVIRTIO_TIMEOUT_US              (10 * 1000 * 1000)

typedef struct QVirtioDevice QVirtioDevice;
typedef struct QVirtQueue QVirtQueue;

/* What a transport does; the qvirtio_* functions below dispatch to it. */
typedef struct QVirtioBus {
    uint8_t (*config_readb)(QVirtioDevice *d, uint64_t off);
    uint16_t (*config_readw)(QVirtioDevice *d, uint64_t off);
    uint32_t (*config_readl)(QVirtioDevice *d, uint64_t off);
    void (*config_writeb)(QVirtioDevice *d, uint64_t off, uint8_t val);
    uint64_t (*get_features)(QVirtioDevice *d);
    void (*set_features)(QVirtioDevice *d, uint64_t features);
    uint64_t (*get_guest_features)(QVirtioDevice *d);
    uint8_t (*get_status)(QVirtioDevice *d);
    void (*set_status)(QVirtioDevice *d, uint8_t status);
    uint32_t (*get_config_generation)(QVirtioDevice *d);
    /* Pending queue / configuration interrupt; reading may acknowledge. */
    bool (*get_queue_isr_status)(QVirtioDevice *d, QVirtQueue *vq);
    bool (*get_config_isr_status)(QVirtioDevice *d);
    void (*queue_select)(QVirtioDevice *d, uint16_t index);
    uint16_t (*get_queue_size)(QVirtioDevice *d);   /* the maximum */
    void (*set_queue_size)(QVirtioDevice *d, uint16_t size);
    void (*set_queue_address)(QVirtioDevice *d, QVirtQueue *vq);
    void (*queue_enable)(QVirtioDevice *d);
    bool (*queue_ready)(QVirtioDevice *d);
    /* Writes queue index to where the driver notifies it. */
    void (*notify)(QVirtioDevice *d, uint16_t index);
} QVirtioBus;

struct QVirtioDevice {
    QTestState *qts;
    const QVirtioBus *bus;
    uint16_t device_type;
    uint64_t features;          /* what the driver accepted last */
    /* virtio-pci: the structures of the memory BAR, from the capabilities */
    QPCIDevice *pdev;
    QPCIBar bar;
    uint64_t bar_size;
    uint64_t common_off, isr_off, device_off, notify_off;
    uint32_t notify_mult;
    uint16_t config_vector;     /* MSI-X, or VIRTIO_MSI_NO_VECTOR */
    /* virtio-mmio */
    uint64_t mmio_base;
};

struct QVirtQueue {
    QVirtioDevice *vdev;
    QGuestAllocator *alloc;
    uint16_t index;
    uint16_t size;
    uint64_t desc;              /* the three areas, in one allocation */
    uint64_t avail;
    uint64_t used;
    uint16_t free_head;         /* next descriptor qvirtqueue_add fills */
    uint16_t avail_idx;         /* our copy of avail->idx */
    uint16_t last_used_idx;     /* next used entry qvirtqueue_get_buf reads */
    bool indirect;
    bool event;
    uint16_t msix_entry;        /* virtio-pci MSI-X vector, or NO_VECTOR */
};

/* An indirect descriptor table being filled (2.7.5.3). */
typedef struct QVRingIndirectDesc {
    uint64_t desc;
    uint16_t index;
    uint16_t elem;
} QVRingIndirectDesc;

/* --- transports --- */

/*
 * The first modern virtio-pci function of device_type on the bus (device
 * ID 0x1040 + type), with BAR 4 mapped, decoding and bus mastering on and
 * the structures found through its vendor capabilities; NULL if none.
 */
QVirtioDevice *qvirtio_pci_device_find(QPCIBus *bus, uint16_t device_type);
/* MSI-X on, every vector masked, so that interrupts show in the PBA. */
void qvirtio_pci_msix_enable(QVirtioDevice *d);
void qvirtio_pci_set_config_vector(QVirtioDevice *d, uint16_t entry);
void qvirtqueue_pci_set_vector(QVirtioDevice *d, QVirtQueue *vq,
                               uint16_t entry);
/* Unmasks and masks entry again: its pending bit is delivered, cleared. */
void qvirtio_pci_msix_clear(QVirtioDevice *d, uint16_t entry);
/* Reads the ISR status (which acknowledges it and lowers INTx). */
uint8_t qvirtio_pci_isr_read(QVirtioDevice *d);

/* The virtio-mmio version 2 device at base (fails if none is there). */
QVirtioDevice *qvirtio_mmio_device_new(QTestState *qts, uint64_t base);
uint32_t qvirtio_mmio_readl(QVirtioDevice *d, uint64_t reg);
void qvirtio_mmio_writel(QVirtioDevice *d, uint64_t reg, uint32_t val);

void qvirtio_device_free(QVirtioDevice *d);

/* --- device status, features, configuration (2.1, 2.2, 2.5, 3.1) --- */

void qvirtio_reset(QVirtioDevice *d);
uint8_t qvirtio_get_status(QVirtioDevice *d);
void qvirtio_set_status(QVirtioDevice *d, uint8_t status);
void qvirtio_set_acknowledge(QVirtioDevice *d);
void qvirtio_set_driver(QVirtioDevice *d);
/* Sets FEATURES_OK and returns whether the device kept it (3.1.1 step 6). */
bool qvirtio_set_features_ok(QVirtioDevice *d);
void qvirtio_set_features_ok_checked(QVirtioDevice *d);
void qvirtio_set_driver_ok(QVirtioDevice *d);
uint64_t qvirtio_get_features(QVirtioDevice *d);
void qvirtio_set_features(QVirtioDevice *d, uint64_t features);
uint64_t qvirtio_get_guest_features(QVirtioDevice *d);
uint32_t qvirtio_get_config_generation(QVirtioDevice *d);
bool qvirtio_needs_reset(QVirtioDevice *d);
/*
 * 3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, accept features (offered
 * ones only; VERSION_1 must be offered) and FEATURES_OK, which must stick.
 * Returns the features accepted.
 */
uint64_t qvirtio_start_device(QVirtioDevice *d, uint64_t wanted);

uint8_t qvirtio_config_readb(QVirtioDevice *d, uint64_t off);
uint16_t qvirtio_config_readw(QVirtioDevice *d, uint64_t off);
uint32_t qvirtio_config_readl(QVirtioDevice *d, uint64_t off);
uint64_t qvirtio_config_readq(QVirtioDevice *d, uint64_t off);
void qvirtio_config_writeb(QVirtioDevice *d, uint64_t off, uint8_t val);

/* Whether the device signalled vq / a configuration change (see buses). */
bool qvirtio_queue_isr(QVirtioDevice *d, QVirtQueue *vq);
bool qvirtio_config_isr(QVirtioDevice *d);
/* Polls the configuration interrupt; fails the test after timeout_us. */
void qvirtio_wait_config_isr(QTestState *qts, QVirtioDevice *d,
                             int64_t timeout_us);

/* --- split virtqueues (2.7) --- */

/* Sets queue index up with its maximum size, or with size. */
QVirtQueue *qvirtqueue_setup(QVirtioDevice *d, QGuestAllocator *alloc,
                             uint16_t index);
QVirtQueue *qvirtqueue_setup_size(QVirtioDevice *d, QGuestAllocator *alloc,
                                  uint16_t index, uint16_t size);
void qvirtqueue_cleanup(QVirtQueue *vq);
uint16_t qvirtio_queue_max_size(QVirtioDevice *d, uint16_t index);

/* Fills descriptor i of a table at desc (also indirect ones) as given. */
void qvring_desc_write(QTestState *qts, uint64_t desc, uint16_t i,
                       uint64_t addr, uint32_t len, uint16_t flags,
                       uint16_t next);
/*
 * Fills the next free descriptor with one buffer: device-writable if
 * write, chained to the next descriptor if next. Returns its index.
 */
uint32_t qvirtqueue_add(QTestState *qts, QVirtQueue *vq, uint64_t data,
                        uint32_t len, bool write, bool next);
/* A table of elem descriptors in guest memory, filled by _add. */
QVRingIndirectDesc *qvring_indirect_desc_setup(QTestState *qts,
                                               QVirtioDevice *d,
                                               QGuestAllocator *alloc,
                                               uint16_t elem);
void qvring_indirect_desc_add(QTestState *qts, QVRingIndirectDesc *indirect,
                              uint64_t data, uint32_t len, bool write);
void qvring_indirect_desc_free(QGuestAllocator *alloc,
                               QVRingIndirectDesc *indirect);
/* One ring descriptor with INDIRECT pointing at the table. */
uint32_t qvirtqueue_add_indirect(QTestState *qts, QVirtQueue *vq,
                                 QVRingIndirectDesc *indirect);
/* Puts head in the avail ring and bumps its idx, without notifying. */
void qvirtqueue_publish(QTestState *qts, QVirtQueue *vq, uint32_t head);
/* Writes avail->idx as given (for a driver that lies about it). */
void qvirtqueue_set_avail_idx(QTestState *qts, QVirtQueue *vq, uint16_t idx);
/* Publishes free_head and notifies the device unless it asked us not to. */
void qvirtqueue_kick(QTestState *qts, QVirtioDevice *d, QVirtQueue *vq,
                     uint32_t free_head);
/* Notifies queue index (which need not exist or be set up). */
void qvirtio_notify(QVirtioDevice *d, uint16_t index);

uint16_t qvirtqueue_used_idx(QTestState *qts, QVirtQueue *vq);
/* The next used element, if the device returned one since the last. */
bool qvirtqueue_get_buf(QTestState *qts, QVirtQueue *vq, uint32_t *desc_idx,
                        uint32_t *len);
/*
 * Polls the used ring until the device returns desc_idx (each qtest round
 * trip lets vireo's main loop run completions); fails after timeout_us, or
 * if another element comes first. len (if not NULL) gets its used length.
 */
void qvirtio_wait_used_elem(QTestState *qts, QVirtioDevice *d,
                            QVirtQueue *vq, uint32_t desc_idx, uint32_t *len,
                            int64_t timeout_us);
/*
 * Gives the device time to look at the ring (round trips and clock steps
 * for about wait_us), then asserts that it returned nothing.
 */
void qvirtio_assert_no_used(QTestState *qts, QVirtQueue *vq, int64_t wait_us);
/* Waits until the device sets DEVICE_NEEDS_RESET; fails after timeout. */
void qvirtio_wait_needs_reset(QTestState *qts, QVirtioDevice *d,
                              int64_t timeout_us);

/*
 * The VMM survived whatever the test did: the process is up, answers a
 * qtest command, and QMP query-status says it is running.
 */
void qvirtio_assert_vmm_alive(QTestState *qts);

#endif
