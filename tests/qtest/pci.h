/*
 * PCI from a driver's side over qtest: configuration mechanism #1 on the pc
 * machine's i440FX, BAR sizing and assignment, capabilities and MSI-X.
 */
#ifndef TESTS_QTEST_PCI_H
#define TESTS_QTEST_PCI_H

#include "libqtest.h"

/* Configuration header (PCI 3.0 section 6.1) */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_ROM_ADDRESS         0x30
#define  PCI_COMMAND_IO         0x0001
#define  PCI_COMMAND_MEMORY     0x0002
#define  PCI_COMMAND_MASTER     0x0004
#define  PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS              0x06
#define  PCI_STATUS_INTERRUPT   0x0008
#define  PCI_STATUS_CAP_LIST    0x0010
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CLASS_DEVICE        0x0a
#define PCI_HEADER_TYPE         0x0e
#define  PCI_HEADER_TYPE_MULTI_FUNCTION 0x80
#define PCI_BASE_ADDRESS_0      0x10
#define  PCI_BASE_ADDRESS_SPACE_IO 0x01
#define  PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define  PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define  PCI_BASE_ADDRESS_MEM_MASK (~0x0fULL)
#define  PCI_BASE_ADDRESS_IO_MASK (~0x03ULL)
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_CAP_ID_MSI          0x05
#define PCI_CAP_ID_VNDR         0x09
#define PCI_CAP_ID_MSIX         0x11

/* MSI-X capability (PCI 3.0 section 6.8.2) */
#define PCI_MSIX_FLAGS          2
#define  PCI_MSIX_FLAGS_QSIZE   0x07ff
#define  PCI_MSIX_FLAGS_MASKALL 0x4000
#define  PCI_MSIX_FLAGS_ENABLE  0x8000
#define PCI_MSIX_TABLE          4
#define PCI_MSIX_PBA            8
#define  PCI_MSIX_BIR           0x7
#define PCI_MSIX_ENTRY_SIZE     16
#define  PCI_MSIX_ENTRY_LOWER_ADDR 0
#define  PCI_MSIX_ENTRY_UPPER_ADDR 4
#define  PCI_MSIX_ENTRY_DATA    8
#define  PCI_MSIX_ENTRY_VECTOR_CTRL 12
#define   PCI_MSIX_ENTRY_CTRL_MASKBIT 1

#define PCI_DEVFN(slot, fn)     ((((slot) & 0x1f) << 3) | ((fn) & 7))
#define PCI_SLOT(devfn)         (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn)         ((devfn) & 7)

typedef struct QPCIBus QPCIBus;

/* Where a BAR was placed: a port (I/O BAR) or a physical address. */
typedef struct QPCIBar {
    uint64_t addr;
    bool is_io;
} QPCIBar;

typedef struct QPCIDevice {
    QPCIBus *bus;
    int devfn;
    bool msix_enabled;
    QPCIBar msix_table_bar;
    uint64_t msix_table_off;
    QPCIBar msix_pba_bar;
    uint64_t msix_pba_off;
} QPCIDevice;

/*
 * The pc machine's bus 0. BARs get addresses from the windows above guest
 * RAM that the i440FX leaves to PCI: memory 0xe0000000-0xfebfffff (below
 * the IOAPIC), I/O ports 0xc000-0xffff, as SeaBIOS lays them out.
 */
QPCIBus *qpci_new_pc(QTestState *s);
void qpci_free(QPCIBus *bus);
QTestState *qpci_qts(QPCIBus *bus);

/* The function at devfn (g_free it), or NULL when its vendor ID is 0xffff. */
QPCIDevice *qpci_device_find(QPCIBus *bus, int devfn);
/* Calls fn for each function matching vendor/device (-1: any); fn owns dev. */
void qpci_device_foreach(QPCIBus *bus, int vendor, int device,
                         void (*fn)(QPCIDevice *dev, int devfn, void *data),
                         void *data);

uint8_t qpci_config_readb(QPCIDevice *d, uint8_t offset);
uint16_t qpci_config_readw(QPCIDevice *d, uint8_t offset);
uint32_t qpci_config_readl(QPCIDevice *d, uint8_t offset);
void qpci_config_writeb(QPCIDevice *d, uint8_t offset, uint8_t value);
void qpci_config_writew(QPCIDevice *d, uint8_t offset, uint16_t value);
void qpci_config_writel(QPCIDevice *d, uint8_t offset, uint32_t value);

/* Turns on I/O and memory decoding and bus mastering. */
void qpci_device_enable(QPCIDevice *d);

/*
 * Sizes BAR barno (the pair of registers for a 64-bit BAR), gives it an
 * address from the bus's window and returns it; *sizeptr gets the size.
 */
QPCIBar qpci_iomap(QPCIDevice *d, int barno, uint64_t *sizeptr);
void qpci_iounmap(QPCIDevice *d, QPCIBar bar);
uint64_t qpci_bar_addr(QPCIBar bar);

uint8_t qpci_io_readb(QPCIDevice *d, QPCIBar bar, uint64_t off);
uint16_t qpci_io_readw(QPCIDevice *d, QPCIBar bar, uint64_t off);
uint32_t qpci_io_readl(QPCIDevice *d, QPCIBar bar, uint64_t off);
uint64_t qpci_io_readq(QPCIDevice *d, QPCIBar bar, uint64_t off);
void qpci_io_writeb(QPCIDevice *d, QPCIBar bar, uint64_t off, uint8_t val);
void qpci_io_writew(QPCIDevice *d, QPCIBar bar, uint64_t off, uint16_t val);
void qpci_io_writel(QPCIDevice *d, QPCIBar bar, uint64_t off, uint32_t val);
void qpci_io_writeq(QPCIDevice *d, QPCIBar bar, uint64_t off, uint64_t val);

/*
 * Offset of the first capability with this ID after start_addr (0: from
 * the head of the list), or 0. Fails on a list that loops.
 */
uint8_t qpci_find_capability(QPCIDevice *d, uint8_t id, uint8_t start_addr);

/* MSI-X: enable maps the table and PBA BARs if they have no address yet. */
void qpci_msix_enable(QPCIDevice *d);
void qpci_msix_disable(QPCIDevice *d);
bool qpci_msix_pending(QPCIDevice *d, uint16_t entry);
bool qpci_msix_masked(QPCIDevice *d, uint16_t entry);
uint16_t qpci_msix_table_size(QPCIDevice *d);

#endif
