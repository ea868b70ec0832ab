/*
 * PCI on pc through the i440FX's configuration mechanism #1, as firmware
 * and an OS see it (PCI 3.0): enumeration of bus 0, BAR sizing and
 * remapping, command register decode gating, empty slots, capability
 * lists, INTx routing and MSI-X pending bits, with pci-testdev and
 * virtio-rng-pci as the devices under test.
 */
#include <string.h>

#include "pci.h"

#define TESTDEV_SLOT 3
#define VIRTIO_SLOT 4
#define EMPTY_SLOT 10
#define TESTDEV_SCRATCH 0x00
#define TESTDEV_INTX 0x08
#define TESTDEV_NOTIFY 0x0c
/* slot 3, INTA#: PIRQ (0 + 3 - 1) mod 4 = PIRQC, routed to IRQ 11 */
#define TESTDEV_GSI 11

static QTestState *start(const char *devices)
{
    QTestState *s = qtest_initf("-M pc %s", devices);

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static QTestState *start_testdev(const char *props, QPCIBus **bus,
                                 QPCIDevice **dev)
{
    QTestState *s = start(props);

    *bus = qpci_new_pc(s);
    *dev = qpci_device_find(*bus, PCI_DEVFN(TESTDEV_SLOT, 0));
    g_assert_nonnull(*dev);
    return s;
}

static void stop(QTestState *s, QPCIBus *bus, QPCIDevice *dev)
{
    g_free(dev);
    qpci_free(bus);
    qtest_quit(s);
}

typedef struct Found {
    int count;
    int devfn;
} Found;

static void count_device(QPCIDevice *d, int devfn, void *data)
{
    Found *f = data;

    f->count++;
    f->devfn = devfn;
    g_free(d);
}

/* Exactly one function with vendor:device, at devfn. */
static void assert_one(QPCIBus *bus, int vendor, int device, int devfn)
{
    Found f = { 0 };

    qpci_device_foreach(bus, vendor, device, count_device, &f);
    g_assert_cmpint(f.count, ==, 1);
    g_assert_cmphex(f.devfn, ==, devfn);
}

static void test_enumerate(void)
{
    QTestState *s = start("-device pci-testdev,addr=3 "
                          "-device virtio-rng-pci,addr=4");
    QPCIBus *bus = qpci_new_pc(s);
    QPCIDevice *host = qpci_device_find(bus, PCI_DEVFN(0, 0));
    QPCIDevice *isa = qpci_device_find(bus, PCI_DEVFN(1, 0));

    assert_one(bus, 0x8086, 0x1237, PCI_DEVFN(0, 0));
    assert_one(bus, 0x8086, 0x7000, PCI_DEVFN(1, 0));
    assert_one(bus, 0x1b36, 0x0005, PCI_DEVFN(TESTDEV_SLOT, 0));
    /* modern virtio-pci: 0x1040 + device type 4 (entropy source) */
    assert_one(bus, 0x1af4, 0x1044, PCI_DEVFN(VIRTIO_SLOT, 0));
    /* host bridge and ISA bridge class codes; PIIX3 is multi-function */
    g_assert_cmphex(qpci_config_readw(host, PCI_CLASS_DEVICE), ==, 0x0600);
    g_assert_cmphex(qpci_config_readw(isa, PCI_CLASS_DEVICE), ==, 0x0601);
    g_assert_cmphex(qpci_config_readb(isa, PCI_HEADER_TYPE) &
                        PCI_HEADER_TYPE_MULTI_FUNCTION, ==,
                    PCI_HEADER_TYPE_MULTI_FUNCTION);
    g_free(host);
    g_free(isa);
    qpci_free(bus);
    qtest_quit(s);
}

static void test_empty_slot(void)
{
    QTestState *s = start("");
    QPCIBus *bus = qpci_new_pc(s);
    QPCIDevice ghost = { .bus = bus, .devfn = PCI_DEVFN(EMPTY_SLOT, 0) };

    g_assert_null(qpci_device_find(bus, PCI_DEVFN(EMPTY_SLOT, 0)));
    g_assert_cmphex(qpci_config_readl(&ghost, PCI_VENDOR_ID), ==, 0xffffffff);
    g_assert_cmphex(qpci_config_readw(&ghost, PCI_COMMAND), ==, 0xffff);
    g_assert_cmphex(qpci_config_readb(&ghost, PCI_HEADER_TYPE), ==, 0xff);
    /* writes go nowhere */
    qpci_config_writel(&ghost, PCI_BASE_ADDRESS_0, 0);
    g_assert_cmphex(qpci_config_readl(&ghost, PCI_BASE_ADDRESS_0), ==,
                    0xffffffff);
    qpci_free(bus);
    qtest_quit(s);
}

/* Writes all-ones to a BAR register and returns what reads back. */
static uint32_t bar_probe(QPCIDevice *d, int bar)
{
    uint8_t reg = PCI_BASE_ADDRESS_0 + 4 * bar;

    qpci_config_writel(d, reg, 0xffffffff);
    return qpci_config_readl(d, reg);
}

static void test_bar_sizing(void)
{
    QTestState *s = start("-device pci-testdev,addr=3 "
                          "-device virtio-rng-pci,addr=4");
    QPCIBus *bus = qpci_new_pc(s);
    QPCIDevice *t = qpci_device_find(bus, PCI_DEVFN(TESTDEV_SLOT, 0));
    QPCIDevice *v = qpci_device_find(bus, PCI_DEVFN(VIRTIO_SLOT, 0));
    uint32_t lo, hi;
    uint64_t size;

    /* BAR0: 4 KiB of 32-bit memory; BAR1: 256 I/O ports */
    g_assert_cmphex(bar_probe(t, 0), ==, 0xfffff000);
    g_assert_cmphex(bar_probe(t, 1), ==, 0xffffff01);
    /* unimplemented BARs are hardwired to 0 */
    for (int bar = 2; bar < 6; bar++) {
        g_assert_cmphex(bar_probe(t, bar), ==, 0);
    }
    /* virtio-pci BAR4: 16 KiB, 64-bit, the upper half all writable */
    lo = bar_probe(v, 4);
    hi = bar_probe(v, 5);
    g_assert_cmphex(lo & 0x6, ==, PCI_BASE_ADDRESS_MEM_TYPE_64);
    g_assert_cmphex(hi, ==, 0xffffffff);
    g_assert_cmphex(~(((uint64_t)hi << 32) | (lo & ~0xfu)) + 1, ==, 0x4000);
    /* the library's sizing agrees */
    qpci_iomap(v, 4, &size);
    g_assert_cmphex(size, ==, 0x4000);
    qpci_iomap(t, 1, &size);
    g_assert_cmphex(size, ==, 0x100);
    g_free(t);
    g_free(v);
    qpci_free(bus);
    qtest_quit(s);
}

static void test_bar_remap_memory(void)
{
    QPCIBus *bus;
    QPCIDevice *d;
    QTestState *s = start_testdev("-device pci-testdev,addr=3", &bus, &d);
    QPCIBar bar = qpci_iomap(d, 0, NULL);
    uint64_t old = bar.addr, moved = bar.addr + 0x100000;

    qpci_device_enable(d);
    qpci_io_writel(d, bar, TESTDEV_SCRATCH, 0x12345678);
    g_assert_cmphex(qtest_readl(s, old), ==, 0x12345678);
    qpci_config_writel(d, PCI_BASE_ADDRESS_0, moved);
    g_assert_cmphex(qtest_readl(s, moved), ==, 0x12345678);
    /* the old address no longer reaches the device, either way */
    g_assert_cmphex(qtest_readl(s, old), !=, 0x12345678);
    qtest_writel(s, old, 0xdeadbeef);
    g_assert_cmphex(qtest_readl(s, moved), ==, 0x12345678);
    qtest_writel(s, moved + 4, 0x9abcdef0);
    g_assert_cmphex(qtest_readq(s, moved), ==, 0x9abcdef012345678ULL);
    stop(s, bus, d);
}

static void test_bar_remap_io(void)
{
    QPCIBus *bus;
    QPCIDevice *d;
    QTestState *s = start_testdev("-device pci-testdev,addr=3", &bus, &d);
    QPCIBar bar = qpci_iomap(d, 1, NULL);
    uint16_t old = bar.addr, moved = bar.addr + 0x400;

    g_assert_true(bar.is_io);
    qpci_device_enable(d);
    qpci_io_writel(d, bar, TESTDEV_SCRATCH, 0xcafef00d);
    g_assert_cmphex(qtest_inl(s, old), ==, 0xcafef00d);
    qpci_config_writel(d, PCI_BASE_ADDRESS_0 + 4, moved | 1);
    g_assert_cmphex(qtest_inl(s, moved), ==, 0xcafef00d);
    g_assert_cmphex(qtest_inl(s, old), !=, 0xcafef00d);
    stop(s, bus, d);
}

/* PCI 3.0 6.2.2: BARs decode only with their command register bit set. */
static void test_command_gating(void)
{
    QPCIBus *bus;
    QPCIDevice *d;
    QTestState *s = start_testdev("-device pci-testdev,addr=3", &bus, &d);
    QPCIBar mem = qpci_iomap(d, 0, NULL);
    QPCIBar io = qpci_iomap(d, 1, NULL);

    /* programmed but not enabled: nothing there */
    g_assert_cmphex(qpci_config_readw(d, PCI_COMMAND) &
                        (PCI_COMMAND_IO | PCI_COMMAND_MEMORY), ==, 0);
    qtest_writel(s, mem.addr, 0x11111111);
    qpci_device_enable(d);
    g_assert_cmphex(qpci_io_readl(d, mem, TESTDEV_SCRATCH), ==, 0);
    qpci_io_writel(d, mem, TESTDEV_SCRATCH, 0x5a5a5a5a);

    qpci_config_writew(d, PCI_COMMAND, PCI_COMMAND_IO);
    g_assert_cmphex(qtest_readl(s, mem.addr), !=, 0x5a5a5a5a);
    qtest_writel(s, mem.addr, 0x22222222);
    g_assert_cmphex(qpci_io_readl(d, io, TESTDEV_SCRATCH), ==, 0x5a5a5a5a);

    qpci_config_writew(d, PCI_COMMAND, PCI_COMMAND_MEMORY);
    g_assert_cmphex(qtest_inl(s, io.addr), !=, 0x5a5a5a5a);
    g_assert_cmphex(qpci_io_readl(d, mem, TESTDEV_SCRATCH), ==, 0x5a5a5a5a);
    stop(s, bus, d);
}

/* Walks the list by hand: IDs, alignment, and that it ends. */
static int walk_capabilities(QPCIDevice *d, uint8_t *ids, int max)
{
    uint8_t ptr = qpci_config_readb(d, PCI_CAPABILITY_LIST);
    int n = 0;

    while (ptr) {
        g_assert_cmpint(n, <, max);
        g_assert_cmphex(ptr, >=, 0x40);
        g_assert_cmphex(ptr & 3, ==, 0);
        ids[n++] = qpci_config_readb(d, ptr);
        ptr = qpci_config_readb(d, ptr + 1);
    }
    return n;
}

static void test_capability_list(void)
{
    QTestState *s = start("-device pci-testdev,addr=3 "
                          "-device pci-testdev,addr=5,msi=on,msix-vectors=4 "
                          "-device virtio-rng-pci,addr=4");
    QPCIBus *bus = qpci_new_pc(s);
    QPCIDevice *plain = qpci_device_find(bus, PCI_DEVFN(3, 0));
    QPCIDevice *caps = qpci_device_find(bus, PCI_DEVFN(5, 0));
    QPCIDevice *virtio = qpci_device_find(bus, PCI_DEVFN(4, 0));
    uint8_t ids[48];
    int n;

    g_assert_cmphex(qpci_config_readw(plain, PCI_STATUS) &
                        PCI_STATUS_CAP_LIST, ==, 0);
    g_assert_cmphex(qpci_find_capability(plain, PCI_CAP_ID_MSIX, 0), ==, 0);

    g_assert_cmphex(qpci_config_readw(caps, PCI_STATUS) &
                        PCI_STATUS_CAP_LIST, ==, PCI_STATUS_CAP_LIST);
    n = walk_capabilities(caps, ids, 48);
    g_assert_cmpint(n, ==, 2);
    g_assert_nonnull(memchr(ids, PCI_CAP_ID_MSI, n));
    g_assert_nonnull(memchr(ids, PCI_CAP_ID_MSIX, n));
    g_assert_cmphex(qpci_find_capability(caps, PCI_CAP_ID_MSI, 0), !=, 0);
    g_assert_cmphex(qpci_find_capability(caps, PCI_CAP_ID_VNDR, 0), ==, 0);

    /*
     * virtio-pci: common, notify, ISR, PCI_CFG (+ MSI-X); virtio-rng has
     * no device-specific configuration, so no DEVICE_CFG capability
     */
    n = walk_capabilities(virtio, ids, 48);
    g_assert_cmpint(n, >=, 4);
    {
        uint8_t cap = 0;
        int vendor_caps = 0;
        while ((cap = qpci_find_capability(virtio, PCI_CAP_ID_VNDR, cap))) {
            vendor_caps++;
        }
        g_assert_cmpint(vendor_caps, ==, 4);
    }
    g_free(plain);
    g_free(caps);
    g_free(virtio);
    qpci_free(bus);
    qtest_quit(s);
}

/* INTA# of slot 3 reaches the IOAPIC on IRQ 11 (PIIX3 PIRQC). */
static void test_intx(void)
{
    QPCIBus *bus;
    QPCIDevice *d;
    QTestState *s = start_testdev("-device pci-testdev,addr=3,intx=on", &bus,
                                  &d);
    QPCIBar bar = qpci_iomap(d, 0, NULL);

    g_assert_cmphex(qpci_config_readb(d, PCI_INTERRUPT_PIN), ==, 1);
    qpci_device_enable(d);
    g_assert_false(qtest_get_irq(s, TESTDEV_GSI));
    qpci_io_writel(d, bar, TESTDEV_INTX, 1);
    g_assert_true(qtest_get_irq(s, TESTDEV_GSI));
    g_assert_cmphex(qpci_config_readw(d, PCI_STATUS) & PCI_STATUS_INTERRUPT,
                    ==, PCI_STATUS_INTERRUPT);
    /* Interrupt Disable masks the line but not the status bit */
    qpci_config_writew(d, PCI_COMMAND,
                       qpci_config_readw(d, PCI_COMMAND) |
                           PCI_COMMAND_INTX_DISABLE);
    g_assert_false(qtest_get_irq(s, TESTDEV_GSI));
    g_assert_cmphex(qpci_config_readw(d, PCI_STATUS) & PCI_STATUS_INTERRUPT,
                    ==, PCI_STATUS_INTERRUPT);
    qpci_config_writew(d, PCI_COMMAND,
                       qpci_config_readw(d, PCI_COMMAND) &
                           ~PCI_COMMAND_INTX_DISABLE);
    g_assert_true(qtest_get_irq(s, TESTDEV_GSI));
    qpci_io_writel(d, bar, TESTDEV_INTX, 0);
    g_assert_false(qtest_get_irq(s, TESTDEV_GSI));
    stop(s, bus, d);
}

/* A masked MSI-X vector holds its message in the PBA until unmasked. */
static void test_msix_pending(void)
{
    QPCIBus *bus;
    QPCIDevice *d;
    QTestState *s = start_testdev("-device pci-testdev,addr=3,msix-vectors=4",
                                  &bus, &d);
    QPCIBar bar = qpci_iomap(d, 0, NULL);
    uint64_t entry1;

    qpci_device_enable(d);
    qpci_msix_enable(d);
    g_assert_cmpuint(qpci_msix_table_size(d), ==, 4);
    /* vectors come out of reset masked (PCI 3.0 6.8.2.9) */
    for (int i = 0; i < 4; i++) {
        g_assert_true(qpci_msix_masked(d, i));
        g_assert_false(qpci_msix_pending(d, i));
    }
    entry1 = d->msix_table_off + PCI_MSIX_ENTRY_SIZE;
    qpci_io_writel(d, d->msix_table_bar, entry1 + PCI_MSIX_ENTRY_LOWER_ADDR,
                   0xfee00000);
    qpci_io_writel(d, d->msix_table_bar, entry1 + PCI_MSIX_ENTRY_UPPER_ADDR,
                   0);
    qpci_io_writel(d, d->msix_table_bar, entry1 + PCI_MSIX_ENTRY_DATA, 0x30);
    qpci_io_writel(d, bar, TESTDEV_NOTIFY, 1);
    g_assert_true(qpci_msix_pending(d, 1));
    g_assert_false(qpci_msix_pending(d, 0));
    /* unmasking sends the pending message and clears the bit */
    qpci_io_writel(d, d->msix_table_bar,
                   entry1 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    g_assert_false(qpci_msix_masked(d, 1));
    g_assert_false(qpci_msix_pending(d, 1));
    qpci_msix_disable(d);
    stop(s, bus, d);
}

/*
 * The expansion ROM BAR (PCI 3.0 6.2.5.2): sized like a memory BAR, decoded
 * only with its enable bit and memory decoding on, read-only, and the
 * romfile= image with its 0x55AA signature; romfile= "" means none.
 */
static void test_option_rom(void)
{
    g_autofree char *dir = qtest_tmp_path("rom-dir");
    g_autofree char *file = g_build_filename(dir, "test.rom", NULL);
    g_autofree char *args = NULL;
    uint8_t image[3000] = { 0x55, 0xaa, 6 };
    const uint64_t addr = 0xfeb00000;
    QPCIBus *bus;
    QPCIDevice *d;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    image[2999] = 0x77;
    g_assert_true(g_file_set_contents(file, (char *)image, sizeof(image),
                                      NULL));
    args = g_strdup_printf("-L %s -device pci-testdev,addr=3,romfile=test.rom "
                           "-device pci-testdev,addr=4,romfile=", dir);
    QTestState *s = start_testdev(args, &bus, &d);

    /* 3000 bytes round up to a 4 KiB BAR */
    qpci_config_writel(d, PCI_ROM_ADDRESS, 0xfffff800);
    g_assert_cmphex(qpci_config_readl(d, PCI_ROM_ADDRESS), ==, 0xfffff000);
    qpci_config_writel(d, PCI_ROM_ADDRESS, addr);
    qpci_device_enable(d);
    g_assert_cmphex(qtest_readw(s, addr), ==, 0xffff);
    qpci_config_writel(d, PCI_ROM_ADDRESS, addr | 1);
    g_assert_cmphex(qtest_readw(s, addr), ==, 0xaa55);
    g_assert_cmphex(qtest_readb(s, addr + 2999), ==, 0x77);
    g_assert_cmphex(qtest_readb(s, addr + 3000), ==, 0);
    qtest_writeb(s, addr, 0);
    g_assert_cmphex(qtest_readw(s, addr), ==, 0xaa55);
    /* memory decoding off hides it too */
    qpci_config_writew(d, PCI_COMMAND, 0);
    g_assert_cmphex(qtest_readw(s, addr), ==, 0xffff);

    QPCIDevice *none = qpci_device_find(bus, PCI_DEVFN(4, 0));
    qpci_config_writel(none, PCI_ROM_ADDRESS, 0xffffffff);
    g_assert_cmphex(qpci_config_readl(none, PCI_ROM_ADDRESS), ==, 0);
    g_free(none);
    stop(s, bus, d);
    unlink(file);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/pci/enumerate", test_enumerate);
    g_test_add_func("/qtest/pci/empty-slot", test_empty_slot);
    g_test_add_func("/qtest/pci/bar-sizing", test_bar_sizing);
    g_test_add_func("/qtest/pci/bar-remap-memory", test_bar_remap_memory);
    g_test_add_func("/qtest/pci/bar-remap-io", test_bar_remap_io);
    g_test_add_func("/qtest/pci/command-gating", test_command_gating);
    g_test_add_func("/qtest/pci/capability-list", test_capability_list);
    g_test_add_func("/qtest/pci/intx", test_intx);
    g_test_add_func("/qtest/pci/option-rom", test_option_rom);
    g_test_add_func("/qtest/pci/msix-pending", test_msix_pending);
    return g_test_run();
}
