/*
 * PCI core and i440FX host: configuration mechanism #1, header write masks,
 * BAR sizing and mapping, INTx routing to GSIs, MSI and MSI-X delivery,
 * -device placement, and hostile configuration writes.
 */
#include <string.h>

#include "../../hw/i386/x86_boot_internal.h"
#include "pci-machine.h"

/* pci-testdev's registers (hw/pci/pci-testdev.c) */
#define TESTDEV_INTX 0x08
#define TESTDEV_NOTIFY 0x0c

/* --- configuration mechanism #1 --- */

static uint8_t rcr_value;
static int rcr_writes;

static uint64_t rcr_read(void *opaque, hwaddr addr, unsigned size)
{
    return rcr_value;
}

static void rcr_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    rcr_value = val;
    rcr_writes++;
}

static const MemoryRegionOps rcr_ops = { .read = rcr_read,
                                         .write = rcr_write };

static void test_config_mechanism(void)
{
    Fixture f;
    MemoryRegion rcr;

    fixture_init(&f);
    /* the host bridge and the ISA bridge, as on QEMU's pc */
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(0, 0), 0, 4), ==, 0x12378086);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(0, 0), PCI_CLASS_DEVICE, 2), ==,
                    0x0600);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(1, 0), 0, 4), ==, 0x70008086);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(1, 0), PCI_DEVICE_ID, 2), ==,
                    0x7000);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(1, 0), PCI_DEVICE_ID + 1, 1),
                    ==, 0x70);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(1, 0), PCI_HEADER_TYPE, 1), ==,
                    0x80);
    /* absent functions, other buses and a disabled address: all-ones */
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(7, 0), 0, 4), ==, 0xffffffff);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(7, 0), 2, 2), ==, 0xffff);
    out(&f, CONF_ADDR, 4, 0x80010000u);
    g_assert_cmphex(in(&f, CONF_DATA, 4), ==, 0xffffffff);
    out(&f, CONF_ADDR, 4, 0x00000000u);
    g_assert_cmphex(in(&f, CONF_DATA, 4), ==, 0xffffffff);
    /* CONFIG_ADDRESS reads back without bits 1:0 */
    out(&f, CONF_ADDR, 4, 0x80000807u);
    g_assert_cmphex(in(&f, CONF_ADDR, 4), ==, 0x80000804u);

    /* the byte at 0xcf9 belongs to the reset control register above */
    memory_region_init_io(&rcr, "rcr", &rcr_ops, NULL, 1);
    memory_region_add_subregion_overlap(f.m.io, 0xcf9, &rcr, 1);
    rcr_writes = 0;
    out(&f, CONF_ADDR, 4, 0x80000000u | PCI_DEVFN(0, 4) << 8);
    g_assert_cmpint(rcr_writes, ==, 0);
    g_assert_cmphex(in(&f, CONF_ADDR, 4), ==, 0x80000400u);
    out(&f, 0xcf9, 1, 0x02);
    g_assert_cmpint(rcr_writes, ==, 1);
    g_assert_cmphex(in(&f, 0xcf9, 1), ==, 0x02);
    g_assert_cmphex(in(&f, CONF_ADDR, 4), ==, 0x80000400u);
    /* Linux's type-1 probe: a byte to 0xcfb does not disturb the address */
    out(&f, 0xcfb, 1, 0x01);
    g_assert_cmphex(in(&f, CONF_ADDR, 4), ==, 0x80000400u);
    memory_region_del_subregion(f.m.io, &rcr);
    memory_region_destroy(&rcr);
    fixture_fini(&f);
}

/* --- header masks --- */

static void test_header_masks(void)
{
    Fixture f;
    int df = PCI_DEVFN(2, 0);

    fixture_init(&f);
    PCIDevice *d = (PCIDevice *)add_device(&f, "pci-testdev,intx=on");
    g_assert_cmpint(d->devfn, ==, df);

    /* IDs, class, header type and pin are read-only */
    cfg_write(&f, df, 0, 4, 0);
    cfg_write(&f, df, PCI_CLASS_PROG - 1, 4, 0);
    cfg_write(&f, df, PCI_INTERRUPT_PIN, 1, 3);
    cfg_write(&f, df, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
    g_assert_cmphex(cfg_read(&f, df, 0, 4), ==, 0x00051b36);
    g_assert_cmphex(cfg_read(&f, df, PCI_CLASS_DEVICE, 2), ==, 0x00ff);
    g_assert_cmphex(cfg_read(&f, df, PCI_INTERRUPT_PIN, 1), ==, 1);
    g_assert_cmphex(cfg_read(&f, df, PCI_SUBSYSTEM_VENDOR_ID, 4), ==,
                    0x11001af4);
    /* command: only the implemented bits stick */
    cfg_write(&f, df, PCI_COMMAND, 2, 0xffff);
    g_assert_cmphex(cfg_read(&f, df, PCI_COMMAND, 2), ==, 0x0547);
    cfg_write(&f, df, PCI_COMMAND, 2, 0);
    /* status: error bits are write-1-to-clear, the rest read-only */
    d->config[PCI_STATUS + 1] |= 0x90;
    cfg_write(&f, df, PCI_STATUS, 2, 0x1000);
    g_assert_cmphex(cfg_read(&f, df, PCI_STATUS, 2) & 0xf900, ==, 0x8000);
    cfg_write(&f, df, PCI_STATUS, 2, 0x8000);
    g_assert_cmphex(cfg_read(&f, df, PCI_STATUS, 2) & 0xf900, ==, 0);
    /* interrupt line and cache line size are read/write */
    cfg_write(&f, df, PCI_INTERRUPT_LINE, 1, 11);
    cfg_write(&f, df, PCI_CACHE_LINE_SIZE, 1, 0x10);
    g_assert_cmphex(cfg_read(&f, df, PCI_INTERRUPT_LINE, 1), ==, 11);
    g_assert_cmphex(cfg_read(&f, df, PCI_CACHE_LINE_SIZE, 1), ==, 0x10);
    /* no expansion ROM */
    cfg_write(&f, df, PCI_ROM_ADDRESS, 4, 0xffffffff);
    g_assert_cmphex(cfg_read(&f, df, PCI_ROM_ADDRESS, 4), ==, 0);
    /* reset clears what the guest set */
    reset_all(&f);
    g_assert_cmphex(cfg_read(&f, df, PCI_INTERRUPT_LINE, 1), ==, 0);
    g_assert_cmphex(cfg_read(&f, df, 0, 4), ==, 0x00051b36);
    fixture_fini(&f);
}

/* --- BARs --- */

static void test_bar_sizing_and_mapping(void)
{
    Fixture f;
    int df = PCI_DEVFN(2, 0);

    fixture_init(&f);
    add_device(&f, "pci-testdev,msix-vectors=4");

    /* sizing: all-ones reads back the size mask with the type bits */
    for (int bar = 0; bar < 6; bar++) {
        cfg_write(&f, df, PCI_BASE_ADDRESS_0 + bar * 4, 4, 0xffffffff);
    }
    g_assert_cmphex(cfg_read(&f, df, 0x10, 4), ==, 0xfffff000);
    g_assert_cmphex(cfg_read(&f, df, 0x14, 4), ==, 0xffffff01);
    g_assert_cmphex(cfg_read(&f, df, 0x18, 4), ==, 0xfffff000);
    g_assert_cmphex(cfg_read(&f, df, 0x1c, 4), ==, 0);  /* not there */
    /* all-ones with decoding off maps nothing */
    PCIDevice *d = pci_bus_get_device(pci_bus_find(&f.m, "pci.0"), df);
    g_assert_cmphex(pci_bar_address(d, 0), ==, PCI_BAR_UNMAPPED);

    /* program, then enable decoding: the registers appear */
    cfg_write(&f, df, 0x10, 4, 0xc0000000);
    cfg_write(&f, df, 0x14, 4, 0xc000);
    g_assert_cmphex(mem_ld(&f, 0xc0000000, 4), ==, 0xffffffff);
    cfg_write(&f, df, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    g_assert_cmphex(pci_bar_address(d, 0), ==, 0xc0000000);
    g_assert_cmphex(pci_bar_address(d, 1), ==, 0xc000);
    mem_st(&f, 0xc0000000, 4, 0x12345678);
    g_assert_cmphex(mem_ld(&f, 0xc0000000, 4), ==, 0x12345678);
    g_assert_cmphex(in(&f, 0xc000, 4), ==, 0x12345678);  /* same regs */
    out(&f, 0xc004, 2, 0xbeef);
    g_assert_cmphex(mem_ld(&f, 0xc0000004, 2), ==, 0xbeef);

    /* moving the BAR unmaps the old place */
    cfg_write(&f, df, 0x10, 4, 0xd0000000);
    g_assert_cmphex(mem_ld(&f, 0xc0000000, 4), ==, 0xffffffff);
    g_assert_cmphex(mem_ld(&f, 0xd0000000, 4), ==, 0x12345678);
    /* disabling memory decoding unmaps it, I/O stays */
    cfg_write(&f, df, PCI_COMMAND, 2, PCI_COMMAND_IO);
    g_assert_cmphex(mem_ld(&f, 0xd0000000, 4), ==, 0xffffffff);
    g_assert_cmphex(in(&f, 0xc000, 4), ==, 0x12345678);
    /* an I/O BAR that would run past 0xffff maps nowhere */
    cfg_write(&f, df, 0x14, 4, 0xff00 | 1);
    g_assert_cmphex(pci_bar_address(d, 1), ==, 0xff00);
    cfg_write(&f, df, 0x14, 4, 0xffffff01);
    g_assert_cmphex(pci_bar_address(d, 1), ==, PCI_BAR_UNMAPPED);

    /* over RAM: allowed, RAM stays RAM, nothing breaks */
    mem_st(&f, 0x2000, 4, 0xcafef00d);
    cfg_write(&f, df, 0x10, 4, 0x2000);
    cfg_write(&f, df, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmphex(pci_bar_address(d, 0), ==, 0x2000);
    g_assert_cmphex(mem_ld(&f, 0x2000, 4), ==, 0xcafef00d);
    /* address 0 means unprogrammed */
    cfg_write(&f, df, 0x10, 4, 0);
    g_assert_cmphex(pci_bar_address(d, 0), ==, PCI_BAR_UNMAPPED);

    /* reset unmaps everything and zeroes the addresses */
    cfg_write(&f, df, 0x10, 4, 0xc0000000);
    reset_all(&f);
    g_assert_cmphex(pci_bar_address(d, 0), ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(cfg_read(&f, df, 0x10, 4), ==, 0);
    g_assert_cmphex(cfg_read(&f, df, 0x14, 4), ==, 1);
    fixture_fini(&f);
}

/* A bare PCIDevice with a 64-bit prefetchable BAR, outside -device. */
static void test_bar_64bit(void)
{
    Fixture f;
    GError *err = NULL;
    MemoryRegion mr;
    static const PCIDeviceInfo info = { .vendor_id = 0x1234,
                                        .device_id = 0x5678 };

    fixture_init(&f);
    PCIDevice *d = g_new0(PCIDevice, 1);
    d->addr_prop = g_strdup("0x1f.7");
    g_assert_true(pci_device_init(d, &f.m, &info, &err));
    g_assert_no_error(err);
    int df = PCI_DEVFN(31, 7);
    g_assert_cmpint(d->devfn, ==, df);
    memory_region_init_ram(&mr, "bar64", 0x100000, &err);
    pci_register_bar(d, 2, PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH, &mr);

    cfg_write(&f, df, 0x18, 4, 0xffffffff);
    cfg_write(&f, df, 0x1c, 4, 0xffffffff);
    g_assert_cmphex(cfg_read(&f, df, 0x18, 4), ==, 0xfff0000c);
    g_assert_cmphex(cfg_read(&f, df, 0x1c, 4), ==, 0xffffffff);
    cfg_write(&f, df, 0x18, 4, 0x00200000);
    cfg_write(&f, df, 0x1c, 4, 0x8);
    cfg_write(&f, df, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmphex(pci_bar_address(d, 2), ==, 0x800200000ULL);
    mem_st(&f, 0x800200010ULL, 8, 0x1122334455667788ULL);
    g_assert_cmphex(*(uint64_t *)((uint8_t *)memory_region_get_ram_ptr(&mr) +
                                  0x10), ==, 0x1122334455667788ULL);
    /* beyond any physical address space: not mapped, no crash */
    cfg_write(&f, df, 0x1c, 4, 0xfff00000);
    g_assert_cmphex(pci_bar_address(d, 2), ==, PCI_BAR_UNMAPPED);
    cfg_write(&f, df, 0x1c, 4, 0xffffffff);
    cfg_write(&f, df, 0x18, 4, 0xfff00000);
    g_assert_cmphex(pci_bar_address(d, 2), ==, PCI_BAR_UNMAPPED);

    pci_device_uninit(d);
    g_assert_null(pci_bus_get_device(pci_bus_find(&f.m, NULL), df));
    memory_region_destroy(&mr);
    g_free(d->addr_prop);
    g_free(d);
    fixture_fini(&f);
}

/* --- capabilities --- */

static void test_capabilities(void)
{
    Fixture f;
    GError *err = NULL;

    fixture_init(&f);
    PCIDevice *d = (PCIDevice *)add_device(&f, "pci-testdev,msi=on,"
                                           "msix-vectors=8");
    uint8_t msi = pci_find_capability(d, PCI_CAP_ID_MSI);
    uint8_t msix = pci_find_capability(d, PCI_CAP_ID_MSIX);
    g_assert_cmpint(msi, >=, 0x40);
    g_assert_cmpint(msix, >=, 0x40);
    g_assert_cmphex(d->config[PCI_STATUS] & PCI_STATUS_CAP_LIST, !=, 0);
    /* the list pointers are read-only to the guest */
    cfg_write(&f, d->devfn, PCI_CAPABILITY_LIST, 1, d->devfn);
    cfg_write(&f, d->devfn, msix + 1, 1, msix);
    g_assert_cmpint(pci_find_capability(d, PCI_CAP_ID_MSI), ==, msi);
    /* overlapping or oversized capabilities are refused */
    g_assert_cmpint(pci_add_capability(d, PCI_CAP_ID_VNDR, msi, 4, &err),
                    ==, 0);
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmpint(pci_add_capability(d, PCI_CAP_ID_VNDR, 0xfc, 8, &err),
                    ==, 0);
    g_clear_error(&err);
    uint8_t v = pci_add_capability(d, PCI_CAP_ID_VNDR, 0, 16, &err);
    g_assert_no_error(err);
    g_assert_cmpint(v, !=, 0);
    g_assert_cmpint(pci_find_capability(d, PCI_CAP_ID_VNDR), ==, v);
    fixture_fini(&f);
}

/* --- INTx --- */

static void test_intx_routing(void)
{
    Fixture f;
    PCIBus *bus;

    fixture_init(&f);
    bus = pci_bus_find(&f.m, "pci.0");
    /* slot 3 INTA: PIRQC -> GSI 11; slot 4 INTA: PIRQD -> GSI 11;
     * slot 2 INTA: PIRQB -> GSI 10 */
    PCIDevice *a = (PCIDevice *)add_device(&f, "pci-testdev,intx=on,addr=3");
    PCIDevice *b = (PCIDevice *)add_device(&f, "pci-testdev,intx=on,addr=4");
    PCIDevice *c = (PCIDevice *)add_device(&f, "pci-testdev,intx=on,addr=2");
    g_assert_cmpint(i440fx_route_intx(a, 1), ==, 11);
    g_assert_cmpint(i440fx_route_intx(b, 1), ==, 11);
    g_assert_cmpint(i440fx_route_intx(c, 1), ==, 10);
    g_assert_cmpint(i440fx_route_intx(c, 3), ==, 11);
    g_assert_cmpint(i440fx_route_intx(c, 5), ==, -1);

    /* through the device's own doorbell, in BAR0 */
    cfg_write(&f, a->devfn, 0x10, 4, 0xc0000000);
    cfg_write(&f, a->devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    mem_st(&f, 0xc0000000 + TESTDEV_INTX, 4, 1);
    g_assert_cmpint(f.gsi_level[11], ==, 1);
    g_assert_cmphex(cfg_read(&f, a->devfn, PCI_STATUS, 2) &
                    PCI_STATUS_INTERRUPT, !=, 0);
    /* shared line: high while any device asserts it */
    pci_irq_set(b, 1);
    mem_st(&f, 0xc0000000 + TESTDEV_INTX, 4, 0);
    g_assert_cmpint(f.gsi_level[11], ==, 1);
    pci_irq_set(b, 0);
    g_assert_cmpint(f.gsi_level[11], ==, 0);
    g_assert_cmpint(pci_bus_gsi_count(bus, 11), ==, 0);
    /* INTx disable masks the pin but not the status bit */
    pci_irq_set(c, 1);
    g_assert_cmpint(f.gsi_level[10], ==, 1);
    cfg_write(&f, c->devfn, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    g_assert_cmpint(f.gsi_level[10], ==, 0);
    g_assert_cmphex(cfg_read(&f, c->devfn, PCI_STATUS, 2) &
                    PCI_STATUS_INTERRUPT, !=, 0);
    cfg_write(&f, c->devfn, PCI_COMMAND, 2, 0);
    g_assert_cmpint(f.gsi_level[10], ==, 1);
    /* repeated levels don't count twice */
    pci_irq_set(c, 1);
    pci_irq_set(c, 0);
    g_assert_cmpint(f.gsi_level[10], ==, 0);
    /* reset lowers the line */
    pci_irq_set(c, 1);
    reset_all(&f);
    g_assert_cmpint(f.gsi_level[10], ==, 0);
    g_assert_cmpint(pci_bus_gsi_count(bus, 10), ==, 0);
    fixture_fini(&f);
}

/* --- MSI --- */

static void test_msi(void)
{
    Fixture f;

    fixture_init(&f);
    PCIDevice *d = (PCIDevice *)add_device(&f, "pci-testdev,msi=on");
    int df = d->devfn;
    uint8_t cap = pci_find_capability(d, PCI_CAP_ID_MSI);
    g_assert_cmpint(cap, !=, 0);
    /* 64-bit, per-vector masking, 4 vectors capable */
    uint16_t ctrl = cfg_read(&f, df, cap + 2, 2);
    g_assert_cmphex(ctrl & 0x0180, ==, 0x0180);
    g_assert_cmphex((ctrl >> 1) & 7, ==, 2);

    /* disabled: nothing */
    pci_msi_notify(d, 0);
    g_assert_cmpuint(f.msis->len, ==, 0);
    cfg_write(&f, df, cap + 4, 4, 0xfee01003);   /* bits 1:0 reserved */
    cfg_write(&f, df, cap + 8, 4, 0);
    cfg_write(&f, df, cap + 12, 2, 0x4040);
    cfg_write(&f, df, cap + 2, 2, 0x0021);      /* enable, 4 vectors */
    g_assert_true(pci_msi_enabled(d));
    pci_msi_notify(d, 2);
    g_assert_cmpuint(f.msis->len, ==, 1);
    g_assert_cmphex(g_array_index(f.msis, Msi, 0).addr, ==, 0xfee01000);
    g_assert_cmphex(g_array_index(f.msis, Msi, 0).data, ==, 0x4042);
    /* vectors beyond those enabled are dropped */
    pci_msi_notify(d, 5);
    g_assert_cmpuint(f.msis->len, ==, 1);
    /* a masked vector is pending, and fires when unmasked */
    cfg_write(&f, df, cap + 16, 4, 0x2);
    pci_msi_notify(d, 1);
    g_assert_cmpuint(f.msis->len, ==, 1);
    g_assert_cmphex(cfg_read(&f, df, cap + 20, 4), ==, 0x2);
    cfg_write(&f, df, cap + 16, 4, 0);
    g_assert_cmpuint(f.msis->len, ==, 2);
    g_assert_cmphex(g_array_index(f.msis, Msi, 1).data, ==, 0x4041);
    g_assert_cmphex(cfg_read(&f, df, cap + 20, 4), ==, 0);
    /* the pending bits are read-only */
    cfg_write(&f, df, cap + 20, 4, 0xffffffff);
    g_assert_cmphex(cfg_read(&f, df, cap + 20, 4), ==, 0);
    /* reset disables it */
    reset_all(&f);
    g_assert_false(pci_msi_enabled(d));
    fixture_fini(&f);
}

/* --- MSI-X --- */

static void test_msix(void)
{
    Fixture f;
    const uint64_t bar = 0xc0010000, table = bar, pba = bar + 2048;

    fixture_init(&f);
    PCIDevice *d = (PCIDevice *)add_device(&f, "pci-testdev,msix-vectors=4,"
                                           "addr=5");
    int df = d->devfn;
    uint8_t cap = pci_find_capability(d, PCI_CAP_ID_MSIX);
    g_assert_cmpint(cap, !=, 0);
    g_assert_cmphex(cfg_read(&f, df, cap + 2, 2), ==, 3);   /* N - 1 */
    g_assert_cmphex(cfg_read(&f, df, cap + 4, 4), ==, 0x0 | 2);
    g_assert_cmphex(cfg_read(&f, df, cap + 8, 4), ==, 2048 | 2);

    cfg_write(&f, df, 0x10, 4, 0xc0000000);
    cfg_write(&f, df, 0x18, 4, bar);
    cfg_write(&f, df, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    /* entries start masked */
    g_assert_cmphex(mem_ld(&f, table + 16 + 12, 4), ==, 1);
    mem_st(&f, table + 16, 4, 0xfee02000);
    mem_st(&f, table + 16 + 4, 4, 0);
    mem_st(&f, table + 16 + 8, 4, 0x0031);
    mem_st(&f, table + 16 + 12, 4, 0xfffffffe);   /* unmask; rsvd bits */
    g_assert_cmphex(mem_ld(&f, table + 16 + 12, 4), ==, 0);
    g_assert_cmphex(mem_ld(&f, table + 16, 8), ==, 0xfee02000);

    /* disabled: no message, nothing pending */
    pci_msix_notify(d, 1);
    g_assert_cmpuint(f.msis->len, ==, 0);
    g_assert_cmphex(mem_ld(&f, pba, 8), ==, 0);

    cfg_write(&f, df, cap + 2, 2, 0x8000);
    g_assert_true(pci_msix_enabled(d));
    /* through the device's doorbell */
    mem_st(&f, 0xc0000000 + TESTDEV_NOTIFY, 4, 1);
    g_assert_cmpuint(f.msis->len, ==, 1);
    g_assert_cmphex(g_array_index(f.msis, Msi, 0).addr, ==, 0xfee02000);
    g_assert_cmphex(g_array_index(f.msis, Msi, 0).data, ==, 0x31);

    /* masked vector 0: pending bit, then delivered on unmask */
    mem_st(&f, table, 4, 0xfee00000);
    mem_st(&f, table + 8, 4, 0x0030);
    pci_msix_notify(d, 0);
    g_assert_cmpuint(f.msis->len, ==, 1);
    g_assert_cmphex(mem_ld(&f, pba, 8), ==, 1);
    mem_st(&f, pba, 8, 0);                       /* read-only */
    g_assert_cmphex(mem_ld(&f, pba, 8), ==, 1);
    mem_st(&f, table + 12, 4, 0);
    g_assert_cmpuint(f.msis->len, ==, 2);
    g_assert_cmphex(g_array_index(f.msis, Msi, 1).data, ==, 0x30);
    g_assert_cmphex(mem_ld(&f, pba, 8), ==, 0);

    /* function mask holds both vectors; clearing it delivers them */
    cfg_write(&f, df, cap + 2, 2, 0xc000);
    g_assert_true(pci_msix_is_masked(d, 0));
    pci_msix_notify(d, 0);
    pci_msix_notify(d, 1);
    g_assert_cmpuint(f.msis->len, ==, 2);
    g_assert_cmphex(mem_ld(&f, pba, 1), ==, 3);
    cfg_write(&f, df, cap + 3, 1, 0x80);         /* byte write */
    g_assert_cmpuint(f.msis->len, ==, 4);
    g_assert_cmphex(mem_ld(&f, pba, 1), ==, 0);

    /* out-of-range vectors and table bytes are ignored */
    pci_msix_notify(d, 4);
    pci_msix_notify(d, 100000);
    g_assert_cmpuint(f.msis->len, ==, 4);
    mem_st(&f, table + 4 * 16, 4, 0x1234);
    g_assert_cmphex(mem_ld(&f, table + 4 * 16, 4), !=, 0x1234);

    /* reset: disabled, entries masked again */
    reset_all(&f);
    g_assert_false(pci_msix_enabled(d));
    g_assert_true(pci_msix_is_masked(d, 1));
    g_assert_cmphex(d->msix_table[16 + 12], ==, 1);
    fixture_fini(&f);
}

/* pci_msi_send: outside the LAPIC window an MSI is a plain memory write */
static void test_msi_send_outside_window(void)
{
    Fixture f;

    fixture_init(&f);
    pci_msi_send(&f.m, 0x3000, 0xdeadbeef);
    g_assert_cmpuint(f.msis->len, ==, 0);
    g_assert_cmphex(mem_ld(&f, 0x3000, 4), ==, 0xdeadbeef);
    pci_msi_send(&f.m, 0xfee00000, 0x41);
    g_assert_cmpuint(f.msis->len, ==, 1);
    fixture_fini(&f);
}

/* --- -device --- */

static void test_device_placement(void)
{
    Fixture f;
    GError *err = NULL;

    fixture_init(&f);
    PCIDevice *d = (PCIDevice *)add_device(&f, "pci-testdev,bus=pci.0,"
                                           "addr=0x6.0,id=t6");
    g_assert_cmpint(d->devfn, ==, PCI_DEVFN(6, 0));
    d = (PCIDevice *)add_device(&f, "pci-testdev,addr=1.2");
    g_assert_cmpint(d->devfn, ==, PCI_DEVFN(1, 2));
    /* first free slot */
    d = (PCIDevice *)add_device(&f, "pci-testdev");
    g_assert_cmpint(d->devfn, ==, PCI_DEVFN(2, 0));

    static const char *const bad[] = {
        "pci-testdev,addr=6",               /* taken */
        "pci-testdev,addr=0x20",            /* no slot 32 */
        "pci-testdev,addr=3.8",             /* no function 8 */
        "pci-testdev,addr=zz",
        "pci-testdev,addr=3.",
        "pci-testdev,bus=pci.1",
        "pci-testdev,msix-vectors=4096",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_null(device_create_from_opts(&f.m, bad[i], &err));
        g_assert_nonnull(err);
        g_test_message("%s: %s", bad[i], err->message);
        g_clear_error(&err);
    }
    g_assert_null(device_create_from_opts(&f.m, "pci-testdev,addr=6", &err));
    g_assert_nonnull(strstr(err->message, "slot 6 function 0 not available for "
                                     "pci-testdev, in use by pci-testdev"));
    g_clear_error(&err);
    fixture_fini(&f);
}

/* --- hostile guests --- */

static void test_hostile_config_writes(void)
{
    Fixture f;
    GRand *r = g_rand_new_with_seed(5);
    static const unsigned sizes[] = {1, 2, 4};

    fixture_init(&f);
    add_device(&f, "pci-testdev,msix-vectors=3,msi=on,intx=on");
    for (int i = 0; i < 200000; i++) {
        unsigned devfn = g_rand_int_range(r, 0, 24);
        unsigned reg = g_rand_int_range(r, 0, 256);
        unsigned size = sizes[g_rand_int_range(r, 0, 3)];
        unsigned port = CONF_DATA + g_rand_int_range(r, 0, 4);
        uint32_t val = g_rand_int(r);

        if (g_rand_boolean(r)) {
            val = g_rand_boolean(r) ? ~0u : 0;
        }
        out(&f, CONF_ADDR, 4, 0x80000000u | devfn << 8 | reg);
        if (g_rand_int_range(r, 0, 4)) {
            out(&f, port, size, val);
        } else {
            in(&f, port, size);
        }
        if (i % 1000 == 0) {
            /* ring every doorbell wherever the BARs ended up */
            PCIDevice *d = pci_bus_get_device(pci_bus_find(&f.m, NULL),
                                              PCI_DEVFN(2, 0));
            pci_msix_notify(d, g_rand_int_range(r, 0, 5));
            pci_msi_notify(d, g_rand_int_range(r, 0, 40));
            pci_irq_set(d, g_rand_boolean(r));
        }
    }
    /* raw accesses at odd sizes and places */
    PCIDevice *d = pci_bus_get_device(pci_bus_find(&f.m, NULL),
                                      PCI_DEVFN(2, 0));
    pci_default_config_write(d, 255, ~0u, 4);
    pci_default_config_write(d, 300, ~0u, 4);
    g_assert_cmphex(pci_default_config_read(d, 254, 4) >> 16, ==, 0xffff);
    pci_default_config_write(d, 0, ~0u, 8);
    for (unsigned p = 0xcf8; p < 0xd00; p++) {
        out(&f, p, 1, 0xff);
        out(&f, p, 2, 0xffff);
        in(&f, p, 4);
    }
    /* the read-only identity survived */
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(0, 0), 0, 4), ==, 0x12378086);
    g_assert_cmphex(cfg_read(&f, PCI_DEVFN(2, 0), 0, 4), ==, 0x00051b36);
    reset_all(&f);
    for (int g = 0; g < X86_NUM_GSI; g++) {
        g_assert_cmpint(f.gsi_level[g], ==, 0);
    }
    g_rand_free(r);
    fixture_fini(&f);
}

/* --- the DSDT's _PRT says what the i440FX does --- */

static uint64_t aml_int(const uint8_t **p)
{
    const uint8_t *q = *p;
    uint64_t v = 0;

    switch (*q) {
    case 0x00: *p = q + 1; return 0;
    case 0x01: *p = q + 1; return 1;
    case 0x0a: *p = q + 2; return q[1];
    case 0x0b: *p = q + 3; return q[1] | q[2] << 8;
    case 0x0c:
        v = q[1] | q[2] << 8 | q[3] << 16 | (uint64_t)q[4] << 24;
        *p = q + 5;
        return v;
    }
    g_assert_not_reached();
}

static void test_dsdt_prt_matches_routing(void)
{
    GError *err = NULL;
    uint32_t apic_id = 0;
    AcpiBuildConfig cfg = { .ncpus = 1, .apic_ids = &apic_id,
                            .pc_legacy = true, .pm_base = 0x600 };
    hwaddr rsdp;
    GByteArray *blob = acpi_build_tables(&cfg, 0xe0000, &rsdp, &err);
    PCIDevice fake = { 0 };

    g_assert_no_error(err);
    const uint8_t *prt = NULL;
    for (guint i = 0; i + 4 <= blob->len; i++) {
        if (!memcmp(blob->data + i, "_PRT", 4)) {
            prt = blob->data + i + 4;
            break;
        }
    }
    g_assert_nonnull(prt);
    /* Package (0x12), 2-byte PkgLength, 128 entries */
    g_assert_cmphex(prt[0], ==, 0x12);
    g_assert_cmphex(prt[1] >> 6, ==, 1);
    g_assert_cmpuint(prt[3], ==, 128);
    const uint8_t *p = prt + 4;
    for (unsigned n = 0; n < 128; n++) {
        g_assert_cmphex(p[0], ==, 0x12);
        g_assert_cmpuint(p[2], ==, 4);
        p += 3;
        uint64_t adr = aml_int(&p), pin = aml_int(&p), src = aml_int(&p);
        uint64_t gsi = aml_int(&p);
        g_assert_cmphex(adr & 0xffff, ==, 0xffff);
        g_assert_cmpuint(src, ==, 0);
        fake.devfn = PCI_DEVFN(adr >> 16, 0);
        g_assert_cmpint(i440fx_route_intx(&fake, pin + 1), ==, gsi);
    }
    g_byte_array_unref(blob);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pci/config-mechanism", test_config_mechanism);
    g_test_add_func("/pci/header-masks", test_header_masks);
    g_test_add_func("/pci/bar-sizing-mapping", test_bar_sizing_and_mapping);
    g_test_add_func("/pci/bar-64bit", test_bar_64bit);
    g_test_add_func("/pci/capabilities", test_capabilities);
    g_test_add_func("/pci/intx-routing", test_intx_routing);
    g_test_add_func("/pci/msi", test_msi);
    g_test_add_func("/pci/msix", test_msix);
    g_test_add_func("/pci/msi-send-outside-window",
                    test_msi_send_outside_window);
    g_test_add_func("/pci/device-placement", test_device_placement);
    g_test_add_func("/pci/hostile-config-writes", test_hostile_config_writes);
    g_test_add_func("/pci/dsdt-prt-matches-routing",
                    test_dsdt_prt_matches_routing);
    return g_test_run();
}
