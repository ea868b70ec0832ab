/*
 * PCI driver helpers over qtest: configuration mechanism #1 (PCI 3.0
 * 3.2.2.3.2) through ports 0xcf8/0xcfc, BAR sizing per PCI 3.0 6.2.5.1,
 * and the MSI-X table and PBA (6.8.2).
 */
#include "pci.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

#define PC_PCI_MEM_START 0xe0000000ULL
#define PC_PCI_MEM_END 0xfec00000ULL
#define PC_PCI_IO_START 0xc000
#define PC_PCI_IO_END 0x10000

struct QPCIBus {
    QTestState *qts;
    uint64_t mmio_next, mmio_end;
    uint64_t pio_next, pio_end;
};

QPCIBus *qpci_new_pc(QTestState *s)
{
    QPCIBus *bus = g_new0(QPCIBus, 1);

    bus->qts = s;
    bus->mmio_next = PC_PCI_MEM_START;
    bus->mmio_end = PC_PCI_MEM_END;
    bus->pio_next = PC_PCI_IO_START;
    bus->pio_end = PC_PCI_IO_END;
    return bus;
}

void qpci_free(QPCIBus *bus)
{
    g_free(bus);
}

QTestState *qpci_qts(QPCIBus *bus)
{
    return bus->qts;
}

/* ---- configuration space ---- */

static void select_reg(QPCIDevice *d, uint8_t offset)
{
    qtest_outl(d->bus->qts, PCI_CONFIG_ADDRESS,
               0x80000000u | (d->devfn << 8) | (offset & 0xfc));
}

uint8_t qpci_config_readb(QPCIDevice *d, uint8_t offset)
{
    select_reg(d, offset);
    return qtest_inb(d->bus->qts, PCI_CONFIG_DATA + (offset & 3));
}

uint16_t qpci_config_readw(QPCIDevice *d, uint8_t offset)
{
    select_reg(d, offset);
    return qtest_inw(d->bus->qts, PCI_CONFIG_DATA + (offset & 2));
}

uint32_t qpci_config_readl(QPCIDevice *d, uint8_t offset)
{
    select_reg(d, offset);
    return qtest_inl(d->bus->qts, PCI_CONFIG_DATA);
}

void qpci_config_writeb(QPCIDevice *d, uint8_t offset, uint8_t value)
{
    select_reg(d, offset);
    qtest_outb(d->bus->qts, PCI_CONFIG_DATA + (offset & 3), value);
}

void qpci_config_writew(QPCIDevice *d, uint8_t offset, uint16_t value)
{
    select_reg(d, offset);
    qtest_outw(d->bus->qts, PCI_CONFIG_DATA + (offset & 2), value);
}

void qpci_config_writel(QPCIDevice *d, uint8_t offset, uint32_t value)
{
    select_reg(d, offset);
    qtest_outl(d->bus->qts, PCI_CONFIG_DATA, value);
}

QPCIDevice *qpci_device_find(QPCIBus *bus, int devfn)
{
    QPCIDevice *d = g_new0(QPCIDevice, 1);

    d->bus = bus;
    d->devfn = devfn;
    if (qpci_config_readw(d, PCI_VENDOR_ID) == 0xffff) {
        g_free(d);
        return NULL;
    }
    return d;
}

void qpci_device_foreach(QPCIBus *bus, int vendor, int device,
                         void (*fn)(QPCIDevice *dev, int devfn, void *data),
                         void *data)
{
    for (int devfn = 0; devfn < 256; devfn++) {
        QPCIDevice *d = qpci_device_find(bus, devfn);

        if (!d) {
            continue;
        }
        if ((vendor != -1 && qpci_config_readw(d, PCI_VENDOR_ID) != vendor) ||
            (device != -1 && qpci_config_readw(d, PCI_DEVICE_ID) != device)) {
            g_free(d);
            continue;
        }
        fn(d, devfn, data);
    }
}

void qpci_device_enable(QPCIDevice *d)
{
    uint16_t cmd = qpci_config_readw(d, PCI_COMMAND);

    cmd |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    qpci_config_writew(d, PCI_COMMAND, cmd);
    g_assert_cmphex(qpci_config_readw(d, PCI_COMMAND) & cmd, ==, cmd);
}

uint8_t qpci_find_capability(QPCIDevice *d, uint8_t id, uint8_t start_addr)
{
    uint8_t addr;
    int hops = 0;

    if (!(qpci_config_readw(d, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        return 0;
    }
    addr = start_addr ? qpci_config_readb(d, start_addr + 1)
                      : qpci_config_readb(d, PCI_CAPABILITY_LIST);
    /* the bottom two bits are reserved (PCI 3.0 6.7) */
    for (addr &= ~3; addr; addr = qpci_config_readb(d, addr + 1) & ~3) {
        /* 48 capabilities fill the 192 bytes after the header */
        g_assert_cmpint(++hops, <=, 48);
        g_assert_cmphex(addr, >=, 0x40);
        if (qpci_config_readb(d, addr) == id) {
            return addr;
        }
    }
    return 0;
}

/* ---- BARs ---- */

static uint64_t alloc_range(uint64_t *next, uint64_t end, uint64_t size,
                            const char *what)
{
    uint64_t addr = (*next + size - 1) & ~(size - 1);

    if (addr + size > end || addr + size < addr) {
        g_error("qpci_iomap: no room for %" G_GUINT64_FORMAT " bytes of %s",
                size, what);
    }
    *next = addr + size;
    return addr;
}

QPCIBar qpci_iomap(QPCIDevice *d, int barno, uint64_t *sizeptr)
{
    uint8_t reg = PCI_BASE_ADDRESS_0 + barno * 4;
    uint32_t orig, lo, hi = 0xffffffff;
    uint64_t mask, size;
    QPCIBar bar = { 0 };
    bool is_64;

    g_assert(barno >= 0 && barno < 6);
    orig = qpci_config_readl(d, reg);
    qpci_config_writel(d, reg, 0xffffffff);
    lo = qpci_config_readl(d, reg);
    bar.is_io = orig & PCI_BASE_ADDRESS_SPACE_IO;
    is_64 = !bar.is_io && (orig & 0x6) == PCI_BASE_ADDRESS_MEM_TYPE_64;
    if (is_64) {
        g_assert_cmpint(barno, <, 5);
        qpci_config_writel(d, reg + 4, 0xffffffff);
        hi = qpci_config_readl(d, reg + 4);
    }
    if (bar.is_io) {
        /* I/O BARs may implement only the low 16 bits */
        mask = (lo & PCI_BASE_ADDRESS_IO_MASK) | 0xffffffff00000000ULL;
        mask |= lo & 0xffff0000 ? 0 : 0xffff0000;
    } else {
        mask = ((uint64_t)hi << 32) | (lo & PCI_BASE_ADDRESS_MEM_MASK);
    }
    size = ~mask + 1;
    g_assert_cmphex(size, !=, 0);   /* an unimplemented BAR reads 0 */
    if (bar.is_io) {
        bar.addr = alloc_range(&d->bus->pio_next, d->bus->pio_end, size,
                               "I/O");
    } else {
        bar.addr = alloc_range(&d->bus->mmio_next, d->bus->mmio_end, size,
                               "memory");
    }
    qpci_config_writel(d, reg, (uint32_t)bar.addr);
    if (is_64) {
        qpci_config_writel(d, reg + 4, bar.addr >> 32);
    }
    if (sizeptr) {
        *sizeptr = size;
    }
    return bar;
}

void qpci_iounmap(QPCIDevice *d, QPCIBar bar)
{
    /* addresses are not reused: a test's BARs never collide */
}

uint64_t qpci_bar_addr(QPCIBar bar)
{
    return bar.addr;
}

uint8_t qpci_io_readb(QPCIDevice *d, QPCIBar bar, uint64_t off)
{
    return bar.is_io ? qtest_inb(d->bus->qts, bar.addr + off)
                     : qtest_readb(d->bus->qts, bar.addr + off);
}

uint16_t qpci_io_readw(QPCIDevice *d, QPCIBar bar, uint64_t off)
{
    return bar.is_io ? qtest_inw(d->bus->qts, bar.addr + off)
                     : qtest_readw(d->bus->qts, bar.addr + off);
}

uint32_t qpci_io_readl(QPCIDevice *d, QPCIBar bar, uint64_t off)
{
    return bar.is_io ? qtest_inl(d->bus->qts, bar.addr + off)
                     : qtest_readl(d->bus->qts, bar.addr + off);
}

/* I/O space has no 8-byte access: two dwords, low first. */
uint64_t qpci_io_readq(QPCIDevice *d, QPCIBar bar, uint64_t off)
{
    if (!bar.is_io) {
        return qtest_readq(d->bus->qts, bar.addr + off);
    }
    return qpci_io_readl(d, bar, off) |
           (uint64_t)qpci_io_readl(d, bar, off + 4) << 32;
}

void qpci_io_writeb(QPCIDevice *d, QPCIBar bar, uint64_t off, uint8_t val)
{
    if (bar.is_io) {
        qtest_outb(d->bus->qts, bar.addr + off, val);
    } else {
        qtest_writeb(d->bus->qts, bar.addr + off, val);
    }
}

void qpci_io_writew(QPCIDevice *d, QPCIBar bar, uint64_t off, uint16_t val)
{
    if (bar.is_io) {
        qtest_outw(d->bus->qts, bar.addr + off, val);
    } else {
        qtest_writew(d->bus->qts, bar.addr + off, val);
    }
}

void qpci_io_writel(QPCIDevice *d, QPCIBar bar, uint64_t off, uint32_t val)
{
    if (bar.is_io) {
        qtest_outl(d->bus->qts, bar.addr + off, val);
    } else {
        qtest_writel(d->bus->qts, bar.addr + off, val);
    }
}

void qpci_io_writeq(QPCIDevice *d, QPCIBar bar, uint64_t off, uint64_t val)
{
    if (bar.is_io) {
        qpci_io_writel(d, bar, off, val);
        qpci_io_writel(d, bar, off + 4, val >> 32);
    } else {
        qtest_writeq(d->bus->qts, bar.addr + off, val);
    }
}

/* ---- MSI-X ---- */

static uint8_t msix_cap(QPCIDevice *d)
{
    uint8_t cap = qpci_find_capability(d, PCI_CAP_ID_MSIX, 0);

    g_assert_cmphex(cap, !=, 0);
    return cap;
}

/* The BAR's current address, giving it one if firmware would have. */
static QPCIBar msix_bar(QPCIDevice *d, int barno)
{
    uint8_t reg = PCI_BASE_ADDRESS_0 + barno * 4;
    uint32_t lo = qpci_config_readl(d, reg);
    QPCIBar bar = { .is_io = lo & PCI_BASE_ADDRESS_SPACE_IO };

    g_assert_false(bar.is_io);  /* the table lives in memory space */
    bar.addr = lo & PCI_BASE_ADDRESS_MEM_MASK;
    if ((lo & 0x6) == PCI_BASE_ADDRESS_MEM_TYPE_64) {
        bar.addr |= (uint64_t)qpci_config_readl(d, reg + 4) << 32;
    }
    return bar.addr ? bar : qpci_iomap(d, barno, NULL);
}

void qpci_msix_enable(QPCIDevice *d)
{
    uint8_t cap = msix_cap(d);
    uint16_t ctrl = qpci_config_readw(d, cap + PCI_MSIX_FLAGS);
    uint32_t table = qpci_config_readl(d, cap + PCI_MSIX_TABLE);
    uint32_t pba = qpci_config_readl(d, cap + PCI_MSIX_PBA);

    qpci_config_writew(d, cap + PCI_MSIX_FLAGS,
                       ctrl | PCI_MSIX_FLAGS_ENABLE);
    d->msix_table_bar = msix_bar(d, table & PCI_MSIX_BIR);
    d->msix_table_off = table & ~PCI_MSIX_BIR;
    d->msix_pba_bar = msix_bar(d, pba & PCI_MSIX_BIR);
    d->msix_pba_off = pba & ~PCI_MSIX_BIR;
    d->msix_enabled = true;
}

void qpci_msix_disable(QPCIDevice *d)
{
    uint8_t cap = msix_cap(d);
    uint16_t ctrl = qpci_config_readw(d, cap + PCI_MSIX_FLAGS);

    qpci_config_writew(d, cap + PCI_MSIX_FLAGS,
                       ctrl & ~PCI_MSIX_FLAGS_ENABLE);
    d->msix_enabled = false;
}

bool qpci_msix_pending(QPCIDevice *d, uint16_t entry)
{
    uint32_t bits;

    g_assert(d->msix_enabled);
    bits = qpci_io_readl(d, d->msix_pba_bar,
                         d->msix_pba_off + (entry / 32) * 4);
    return bits & (1u << (entry % 32));
}

bool qpci_msix_masked(QPCIDevice *d, uint16_t entry)
{
    uint8_t cap = msix_cap(d);
    uint32_t vctrl;

    g_assert(d->msix_enabled);
    if (qpci_config_readw(d, cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_MASKALL) {
        return true;
    }
    vctrl = qpci_io_readl(d, d->msix_table_bar,
                          d->msix_table_off + entry * PCI_MSIX_ENTRY_SIZE +
                              PCI_MSIX_ENTRY_VECTOR_CTRL);
    return vctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

uint16_t qpci_msix_table_size(QPCIDevice *d)
{
    uint8_t cap = msix_cap(d);

    return (qpci_config_readw(d, cap + PCI_MSIX_FLAGS) &
            PCI_MSIX_FLAGS_QSIZE) + 1;
}
