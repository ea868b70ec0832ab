/*
 * The migration state of the PCI core (vmstate_pci_device) on pc's i440FX
 * bus, with pci-testdev: a function with its BARs programmed, INTx#
 * asserted, MSI and MSI-X vectors set up (one masked with its pending bit
 * set) is saved, loaded into a fresh machine, and there reads back the
 * same, decodes at the same addresses, interrupts the same; a stream that
 * changes what the guest cannot write (IDs, capability pointers, BAR
 * types, the MSI-X vector count) is refused and leaves the device as the
 * device made it.
 */
#include <glib.h>

#include "pci-machine.h"
#include "vmstate-test.h"

#define TD_DEVFN    PCI_DEVFN(3, 0)
#define TD_MMIO     0xc0000000u
#define TD_IO       0xc000u
#define TD_MSIX     0xc0010000u
#define TD_GSI      11          /* slot 3 INTA# -> PIRQC -> IRQ 11 */
#define TD_OPTS     "pci-testdev,addr=3,msix-vectors=4,msi=on,intx=on"
#define MSI_ADDR    0xfee00000u

/* pci-testdev's registers (hw/pci/pci-testdev.c) */
#define TESTDEV_INTX    0x08
#define TESTDEV_NOTIFY  0x0c

/* MSI (64-bit, per-vector masks) and MSI-X capability offsets */
#define MSI_FLAGS       2
#define MSI_ADDR_LO     4
#define MSI_DATA_64     12
#define MSI_MASK_64     16
#define MSI_PENDING_64  20

/* pci-machine.h records interrupts in the fixture "current" points to. */
static Fixture *use(Fixture *f)
{
    current = f;
    return f;
}

static void fini(Fixture *f)
{
    fixture_fini(use(f));
}

static PCIDevice *testdev(Fixture *f)
{
    return pci_bus_get_device(pci_bus_find(&f->m, NULL), TD_DEVFN);
}

static PCIDevice *setup(Fixture *f, const char *opts)
{
    fixture_init(f);
    add_device(f, opts);
    return testdev(f);
}

/*
 * BARs mapped, INTx# high, MSI-X on with vector 1 open and vector 2
 * masked and pending, MSI programmed with vector 0 masked and pending,
 * PIRQA routed elsewhere than firmware left it.
 */
static void program(Fixture *f)
{
    PCIDevice *d = testdev(use(f));
    uint8_t msix = pci_find_capability(d, PCI_CAP_ID_MSIX);
    uint8_t msi = pci_find_capability(d, PCI_CAP_ID_MSI);

    cfg_write(f, TD_DEVFN, PCI_BASE_ADDRESS_0, 4, TD_MMIO);
    cfg_write(f, TD_DEVFN, PCI_BASE_ADDRESS_0 + 4, 4, TD_IO);
    cfg_write(f, TD_DEVFN, PCI_BASE_ADDRESS_0 + 8, 4, TD_MSIX);
    cfg_write(f, TD_DEVFN, PCI_INTERRUPT_LINE, 1, TD_GSI);
    cfg_write(f, TD_DEVFN, PCI_LATENCY_TIMER, 1, 0x40);
    cfg_write(f, TD_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_IO |
              PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    cfg_write(f, PCI_DEVFN(1, 0), 0x60, 1, 0x0b);   /* PIIX3 PIRQRC[A] */

    mem_st(f, TD_MMIO, 4, 0x11223344);
    mem_st(f, TD_MMIO + 4, 4, 0x55667788);
    mem_st(f, TD_MMIO + TESTDEV_INTX, 4, 1);
    g_assert_cmpint(f->gsi_level[TD_GSI], ==, 1);

    for (unsigned v = 1; v <= 2; v++) {
        mem_st(f, TD_MSIX + 16 * v, 4, MSI_ADDR | v << 12);
        mem_st(f, TD_MSIX + 16 * v + 8, 4, 0x50 + v);
    }
    mem_st(f, TD_MSIX + 16 + 12, 4, 0);             /* vector 1 open */
    cfg_write(f, TD_DEVFN, msix + 2, 2, 0x8000);
    mem_st(f, TD_MMIO + TESTDEV_NOTIFY, 4, 2);      /* masked: pending */
    mem_st(f, TD_MMIO + TESTDEV_NOTIFY, 4, 1);
    g_assert_cmpuint(f->msis->len, ==, 1);
    g_assert_cmphex(mem_ld(f, TD_MSIX + 2048, 1), ==, 1u << 2);

    cfg_write(f, TD_DEVFN, msi + MSI_ADDR_LO, 4, MSI_ADDR);
    cfg_write(f, TD_DEVFN, msi + MSI_DATA_64, 2, 0x60);
    cfg_write(f, TD_DEVFN, msi + MSI_MASK_64, 4, 1);
    cfg_write(f, TD_DEVFN, msi + MSI_FLAGS, 2, 0x0021);  /* 4 vectors, on */
    pci_msi_notify(d, 0);
    g_assert_cmphex(cfg_read(f, TD_DEVFN, msi + MSI_PENDING_64, 4), ==, 1);
    g_assert_cmpuint(f->msis->len, ==, 1);
}

/* Everything a driver reads back, in one fixed order. */
static GString *read_all(Fixture *f)
{
    GString *s = g_string_new(NULL);
    PCIDevice *d = testdev(use(f));

    g_string_append_printf(s, "gsi=%d count=%d", f->gsi_level[TD_GSI],
                           pci_bus_gsi_count(d->bus, TD_GSI));
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        g_string_append_printf(s, " bar%d=%" G_GINT64_MODIFIER "x", i,
                               pci_bar_address(d, i));
    }
    g_string_append_printf(s, "\nconfig");
    for (int reg = 0; reg < PCI_CONFIG_SPACE_SIZE; reg += 4) {
        g_string_append_printf(s, " %08x", cfg_read(f, TD_DEVFN, reg, 4));
    }
    g_string_append_printf(s, "\npiix3 pirq %08x host %08x",
                           cfg_read(f, PCI_DEVFN(1, 0), 0x60, 4),
                           cfg_read(f, PCI_DEVFN(0, 0), 0, 4));
    out(f, CONF_ADDR, 4, 0x80001804u);
    g_string_append_printf(s, " cf8=%08x", (uint32_t)in(f, CONF_ADDR, 4));
    g_string_append_printf(s, "\nscratch %08x %08x io %08x",
                           (uint32_t)mem_ld(f, TD_MMIO, 4),
                           (uint32_t)mem_ld(f, TD_MMIO + 4, 4),
                           (uint32_t)in(f, TD_IO, 4));
    g_string_append_printf(s, "\nmsix");
    for (int i = 0; i < 4 * 4; i++) {
        g_string_append_printf(s, " %08x",
                               (uint32_t)mem_ld(f, TD_MSIX + 4 * i, 4));
    }
    g_string_append_printf(s, " pba %02x",
                           (uint32_t)mem_ld(f, TD_MSIX + 2048, 1));
    return s;
}

static void test_round_trip(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;

    setup(&a, TD_OPTS);
    program(&a);
    sa = vt_save(&a.m);

    setup(&b, TD_OPTS);
    g_assert_cmpint(b.gsi_level[TD_GSI], ==, 0);
    vt_load(&b.m, sa);
    /* INTx# is driven to the bus again, and the BARs decode where they did */
    g_assert_cmpint(b.gsi_level[TD_GSI], ==, 1);
    g_assert_cmphex(pci_bar_address(testdev(&b), 0), ==, TD_MMIO);
    g_assert_cmphex(pci_bar_address(testdev(&b), 1), ==, TD_IO);
    g_assert_cmphex(pci_bar_address(testdev(&b), 2), ==, TD_MSIX);
    /* nothing was sent while loading */
    g_assert_cmpuint(b.msis->len, ==, 0);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);

    ra = read_all(&a);
    rb = read_all(&b);
    g_test_message("%s", rb->str);
    g_assert_cmpstr(rb->str, ==, ra->str);
    g_assert_nonnull(strstr(rb->str, "scratch 11223344 55667788 io 11223344"));

    /* and it interrupts as the source would have */
    use(&b);
    mem_st(&b, TD_MMIO + TESTDEV_NOTIFY, 4, 1);
    g_assert_cmpuint(b.msis->len, ==, 1);
    g_assert_cmphex(g_array_index(b.msis, Msi, 0).data, ==, 0x51);
    mem_st(&b, TD_MSIX + 2 * 16 + 12, 4, 0);        /* unmask: pending */
    g_assert_cmpuint(b.msis->len, ==, 2);
    g_assert_cmphex(g_array_index(b.msis, Msi, 1).addr, ==,
                    MSI_ADDR | 2 << 12);
    g_assert_cmphex(g_array_index(b.msis, Msi, 1).data, ==, 0x52);
    g_assert_cmphex(mem_ld(&b, TD_MSIX + 2048, 1), ==, 0);
    mem_st(&b, TD_MMIO + TESTDEV_INTX, 4, 0);
    g_assert_cmpint(b.gsi_level[TD_GSI], ==, 0);
    g_assert_cmpint(pci_bus_gsi_count(testdev(&b)->bus, TD_GSI), ==, 0);
    fini(&a);
    fini(&b);
}

/* A copy of s with n bytes at the offset of path in class cls patched. */
static GByteArray *patched(GByteArray *s, const char *cls, const char *path,
                           int delta, size_t n, uint64_t v)
{
    GByteArray *c = g_byte_array_new();

    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, cls, 0, path) + delta, n, v);
    return c;
}

static void expect_refused(Fixture *b, GByteArray *s, const char *cls,
                           const char *path, int delta, size_t n, uint64_t v,
                           const char *what)
{
    g_autoptr(GByteArray) c = patched(s, cls, path, delta, n, v);

    vt_load_fails(&b->m, c, what);
}

static void test_hostile_stream(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;
    PCIDevice *d;
    uint8_t msi;

    setup(&a, TD_OPTS);
    program(&a);
    s = vt_save(&a.m);
    d = setup(&b, TD_OPTS);
    msi = pci_find_capability(d, PCI_CAP_ID_MSI);

    /* what the guest cannot write is the device's */
    expect_refused(&b, s, "pci-testdev", "pci.config[0]", 0, 1, 0x34,
                   "configuration byte 0x00 is 0x34 in the stream but 0x36 "
                   "in this pci-testdev");
    /* refused before anything changed: the IDs are the device's own */
    g_assert_cmphex(cfg_read(&b, TD_DEVFN, 0, 4), ==, 0x00051b36);
    g_assert_cmpint(b.gsi_level[TD_GSI], ==, 0);
    expect_refused(&b, s, "pci-testdev", "pci.config[52]", 0, 1, 0x40,
                   "configuration byte 0x34");
    expect_refused(&b, s, "pci-testdev", "pci.config[16]", 0, 1,
                   TD_MMIO | PCI_BASE_ADDRESS_MEM_TYPE_64,
                   "configuration byte 0x10");
    expect_refused(&b, s, "pci-testdev", "pci.config[61]", 0, 1, 2,
                   "configuration byte 0x3d");
    /* MSI pending bits of vectors the capability does not have */
    expect_refused(&b, s, "pci-testdev", "pci.config", msi + MSI_PENDING_64,
                   1, 0x11, "configuration byte");
    g_assert_cmphex(cfg_read(&b, TD_DEVFN, 0x34, 1), ==,
                    testdev(&a)->config[0x34]);

    /* the MSI-X table: its size, and reserved vector control bits */
    expect_refused(&b, s, "pci-testdev", "pci.msix[0].addr", -8, 4, 5,
                   "the stream has 5 MSI-X vectors, this device 4");
    expect_refused(&b, s, "pci-testdev", "pci.msix[3].ctrl", 0, 4, 3,
                   "MSI-X vector 3: pci-msix-vector: invalid state: vector "
                   "control 0x3 has reserved bits set");

    /* the device's own register and the host's */
    expect_refused(&b, s, "pci-testdev", "intx_level", 0, 4, 0,
                   "INTx doorbell 0 does not match the pin's level 1");
    expect_refused(&b, s, "i440FX-pcihost", "config_address", 0, 4,
                   0x80000003u, "CONFIG_ADDRESS 0x80000003 has its reserved");

    /* what the guest can write, a stream may set */
    g_autoptr(GByteArray) c = patched(s, "pci-testdev", "pci.config[60]", 0,
                                      1, 5);
    vt_load(&b.m, c);
    g_assert_cmphex(cfg_read(&b, TD_DEVFN, PCI_INTERRUPT_LINE, 1), ==, 5);

    /* after all that, the good stream loads */
    vt_load(&b.m, s);
    g_assert_cmpint(b.gsi_level[TD_GSI], ==, 1);
    g_assert_cmphex(pci_bar_address(testdev(&b), 2), ==, TD_MSIX);
    fini(&a);
    fini(&b);
}

/* A destination configured otherwise refuses the stream, naming why. */
static void test_other_configuration(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    setup(&a, TD_OPTS);
    program(&a);
    s = vt_save(&a.m);
    setup(&b, "pci-testdev,addr=3,msix-vectors=2,msi=on,intx=on");
    vt_load_fails(&b.m, s, "the stream has 4 MSI-X vectors, this device 2");
    fini(&b);
    setup(&b, "pci-testdev,addr=3,msix-vectors=4,msi=on");
    vt_load_fails(&b.m, s, "configuration byte 0x3d is 0x01 in the stream "
                  "but 0x00");
    fini(&b);
    fini(&a);
}

static void exercise(Machine *m, GRand *r)
{
    Fixture *f = (Fixture *)m;

    for (int i = 0; i < 16; i++) {
        uint32_t v = g_rand_int(r);
        switch (g_rand_int_range(r, 0, 5)) {
        case 0:
            cfg_write(f, TD_DEVFN, g_rand_int_range(r, 0, 256), 1, v);
            break;
        case 1:
            mem_st(f, TD_MMIO + TESTDEV_NOTIFY, 4, v & 7);
            break;
        case 2:
            mem_st(f, TD_MMIO + TESTDEV_INTX, 4, v & 1);
            break;
        case 3:
            mem_st(f, TD_MSIX + g_rand_int_range(r, 0, 4096), 4, v);
            break;
        default:
            pci_msi_notify(testdev(f), v & 7);
            break;
        }
    }
}

static void test_corrupt_streams_never_crash(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    setup(&a, TD_OPTS);
    program(&a);
    s = vt_save(&a.m);
    setup(&b, TD_OPTS);
    vt_fuzz(&b.m, s, 2000, exercise);
    fini(&a);
    fini(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pci-vmstate/round-trip", test_round_trip);
    g_test_add_func("/pci-vmstate/hostile-stream", test_hostile_stream);
    g_test_add_func("/pci-vmstate/other-configuration",
                    test_other_configuration);
    g_test_add_func("/pci-vmstate/corrupt-streams-never-crash",
                    test_corrupt_streams_never_crash);
    return g_test_run();
}
