/*
 * The q35 machine's chipset as firmware and an OS drive it: MCH and ICH9
 * LPC identity, PCIEXBAR placing (and refusing) the ECAM window, 4 KiB
 * configuration space through ECAM with a pcie-root-port's PCI Express
 * capability and its secondary bus, PAM and SMRAM, PIRQ route registers,
 * PMBASE moving the ICH9 PM block, reset through 0xCF9, INTx routing to
 * the IOAPIC and through the PIRQ route registers to the 8259,
 * hostile accesses (reserved lengths, odd sizes, beyond config space),
 * and -drive if=ide numbering on the built-in AHCI (one unit a port).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"

#define CONFIG_ADDRESS      0xcf8
#define CONFIG_DATA         0xcfc
#define DEVFN(slot, fn)     ((slot) << 3 | (fn))

#define MCH                 DEVFN(0, 0)
#define LPC                 DEVFN(0x1f, 0)
#define AHCI                DEVFN(0x1f, 2)
#define MCH_PCIEXBAR        0x60
#define MCH_PAM0            0x90
#define MCH_SMRAM           0x9d
#define MCH_TOLUD           0xb0
#define LPC_PMBASE          0x40
#define LPC_ACPI_CNTL       0x44
#define LPC_PIRQA           0x60
#define LPC_PIRQE           0x68

/* AHCI 1.3, 3.3: a port's SATA status; DET 3 = device present, link up */
#define ABAR                0xfe000000u
#define AHCI_PORTS          6
#define PX_SIG(n)           (0x100 + (n) * 0x80 + 0x24)
#define PX_SSTS(n)          (0x100 + (n) * 0x80 + 0x28)
#define SSTS_DET_PRESENT    3
#define SIG_ATA             0x00000101u
#define SIG_ATAPI           0xeb140101u

#define ECAM_DEFAULT        0xb0000000ULL
#define PCI_CAP_ID_EXP      0x10

/* root port at 00:04.0 with a pci-testdev behind it (INTx on) */
#define RP                  DEVFN(4, 0)
#define RP_ARGS "-device pcie-root-port,id=rp1,chassis=1,slot=2,addr=4 " \
                "-device pci-testdev,bus=rp1,intx=on "

static QTestState *start(const char *extra)
{
    return qtest_initf("-M q35 -m 1G %s", extra);
}

/* Mechanism #1: registers 0-0xff of any bus. */
static uint32_t cf8_read(QTestState *s, int bus, int devfn, int reg, int size)
{
    qtest_outl(s, CONFIG_ADDRESS,
               0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc));
    switch (size) {
    case 1:
        return qtest_inb(s, CONFIG_DATA + (reg & 3));
    case 2:
        return qtest_inw(s, CONFIG_DATA + (reg & 2));
    default:
        return qtest_inl(s, CONFIG_DATA);
    }
}

static void cf8_write(QTestState *s, int bus, int devfn, int reg, int size,
                      uint32_t val)
{
    qtest_outl(s, CONFIG_ADDRESS,
               0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc));
    switch (size) {
    case 1:
        qtest_outb(s, CONFIG_DATA + (reg & 3), val);
        break;
    case 2:
        qtest_outw(s, CONFIG_DATA + (reg & 2), val);
        break;
    default:
        qtest_outl(s, CONFIG_DATA, val);
    }
}

static uint64_t ecam_addr(uint64_t base, int bus, int devfn, int reg)
{
    return base + ((uint64_t)bus << 20 | devfn << 12 | reg);
}

static uint32_t ecam_readl(QTestState *s, uint64_t base, int bus, int devfn,
                           int reg)
{
    return qtest_readl(s, ecam_addr(base, bus, devfn, reg));
}

static void set_pciexbar(QTestState *s, uint64_t val)
{
    cf8_write(s, 0, MCH, MCH_PCIEXBAR + 4, 4, val >> 32);
    cf8_write(s, 0, MCH, MCH_PCIEXBAR, 4, (uint32_t)val);
}

static void test_ids(void)
{
    QTestState *s = start("-vga std -device e1000");

    g_assert_cmphex(cf8_read(s, 0, MCH, 0, 4), ==, 0x29c08086);
    g_assert_cmphex(cf8_read(s, 0, MCH, 0x0a, 2), ==, 0x0600);
    g_assert_cmphex(cf8_read(s, 0, LPC, 0, 4), ==, 0x29188086);
    g_assert_cmphex(cf8_read(s, 0, LPC, 0x0a, 2), ==, 0x0601);
    g_assert_cmphex(cf8_read(s, 0, LPC, 0x0e, 1) & 0x80, ==, 0x80);
    /* std VGA at 00:01.0 and the first free slot after it, as QEMU's q35 */
    g_assert_cmphex(cf8_read(s, 0, DEVFN(1, 0), 0, 4), ==, 0x11111234);
    g_assert_cmphex(cf8_read(s, 0, DEVFN(2, 0), 0, 2), ==, 0x8086);
    /* TOLUD: 1 GiB of low RAM, address bits 31:20 in bits 15:4 */
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_TOLUD, 2), ==, 0x4000);
    /* absent functions master-abort */
    g_assert_cmphex(cf8_read(s, 0, DEVFN(9, 0), 0, 4), ==, 0xffffffff);
    g_assert_cmphex(cf8_read(s, 7, DEVFN(0, 0), 0, 4), ==, 0xffffffff);
    qtest_quit(s);
}

/* QEMU's q35 split: all RAM below 0xb0000000 if it fits, else 2 GiB. */
static void test_lowmem(void)
{
    QTestState *s = qtest_init("-M q35 -m 2815M");

    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_TOLUD, 2), ==, 0xaff0);
    qtest_quit(s);
    s = qtest_init("-M q35 -m 2816M");
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_TOLUD, 2), ==, 0x8000);
    /* the last MiB of RAM sits above 4 GiB */
    qtest_writel(s, 0x100000000ULL + (768ULL << 20) - 4, 0x600dcafe);
    g_assert_cmphex(qtest_readl(s, 0x100000000ULL + (768ULL << 20) - 4), ==,
                    0x600dcafe);
    qtest_quit(s);
}

/* Firmware programs PCIEXBAR; the window follows base, length and EN. */
static void test_pciexbar(void)
{
    QTestState *s = start("");
    uint32_t before = qtest_readl(s, ECAM_DEFAULT);

    /* with firmware present nothing decodes until PCIEXBAR says so */
    g_assert_cmphex(before, !=, 0x29c08086);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PCIEXBAR, 4), ==, 0);
    set_pciexbar(s, ECAM_DEFAULT | 1);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PCIEXBAR, 4), ==, 0xb0000001);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 0, MCH, 0), ==, 0x29c08086);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 0, LPC, 0), ==, 0x29188086);

    /* moved to 0xe0000000: the old place no longer decodes */
    set_pciexbar(s, 0xe0000000 | 1);
    g_assert_cmphex(qtest_readl(s, ECAM_DEFAULT), ==, before);
    g_assert_cmphex(ecam_readl(s, 0xe0000000, 0, MCH, 0), ==, 0x29c08086);

    /* 64 MiB (length 10b): buses 0-63, bus 64 lies beyond the window */
    set_pciexbar(s, 0xe0000000 | 2 << 1 | 1);
    g_assert_cmphex(ecam_readl(s, 0xe0000000, 0, MCH, 0), ==, 0x29c08086);
    g_assert_cmphex(ecam_readl(s, 0xe0000000, 63, MCH, 0), ==, 0xffffffff);
    g_assert_cmphex(ecam_readl(s, 0xe0000000, 64, MCH, 0), !=, 0x29c08086);

    /* the reserved length (11b) decodes nothing */
    set_pciexbar(s, 0xe0000000 | 3 << 1 | 1);
    g_assert_cmphex(ecam_readl(s, 0xe0000000, 0, MCH, 0), !=, 0x29c08086);

    /* above 4 GiB: bits 35:32 in the high dword, the rest reserved */
    set_pciexbar(s, 0xfffffff800000001ULL);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PCIEXBAR + 4, 4), ==, 0x8);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PCIEXBAR, 4), ==, 0x00000001);
    g_assert_cmphex(ecam_readl(s, 0x800000000ULL, 0, MCH, 0), ==,
                    0x29c08086);

    /* every bit set: reserved length, so off; nothing breaks */
    set_pciexbar(s, ~0ULL);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PCIEXBAR, 4), ==, 0xfc000007);
    g_assert_cmphex(ecam_readl(s, 0xfc000000, 0, MCH, 0), !=, 0x29c08086);

    /* EN clear: off */
    set_pciexbar(s, ECAM_DEFAULT);
    g_assert_cmphex(qtest_readl(s, ECAM_DEFAULT), ==, before);
    qtest_quit(s);
}

static uint8_t ecam_find_cap(QTestState *s, int bus, int devfn, uint8_t id)
{
    uint8_t off = qtest_readb(s, ecam_addr(ECAM_DEFAULT, bus, devfn, 0x34));

    for (int n = 0; off && n < 48; n++) {
        if (qtest_readb(s, ecam_addr(ECAM_DEFAULT, bus, devfn, off)) == id) {
            return off;
        }
        off = qtest_readb(s, ecam_addr(ECAM_DEFAULT, bus, devfn, off + 1));
    }
    return 0;
}

/* 4 KiB config space over ECAM, the root port's PCIe capability. */
static void test_ecam_root_port(void)
{
    QTestState *s = start(RP_ARGS);
    uint64_t rp = ecam_addr(ECAM_DEFAULT, 0, RP, 0);

    set_pciexbar(s, ECAM_DEFAULT | 1);
    g_assert_cmphex(qtest_readl(s, rp), ==, 0x000c1b36);
    g_assert_cmphex(qtest_readw(s, rp + 0x0a), ==, 0x0604);
    g_assert_cmphex(qtest_readb(s, rp + 0x0e) & 0x7f, ==, 1);

    uint8_t cap = ecam_find_cap(s, 0, RP, PCI_CAP_ID_EXP);
    g_assert_cmpuint(cap, !=, 0);
    uint16_t flags = qtest_readw(s, rp + cap + 2);
    g_assert_cmphex(flags & 0xf, ==, 2);            /* version 2 */
    g_assert_cmphex((flags >> 4) & 0xf, ==, 4);     /* root port */
    g_assert_cmphex(flags & 0x100, ==, 0x100);      /* slot implemented */
    g_assert_cmphex(qtest_readl(s, rp + cap + 0x14) >> 19, ==, 2);
    /* a device sits on the link: presence detect and link active */
    g_assert_cmphex(qtest_readw(s, rp + cap + 0x1a) & 0x40, ==, 0x40);
    g_assert_cmphex(qtest_readw(s, rp + cap + 0x12) & 0x2000, ==, 0x2000);
    /* Device Control is writable, byte and word wise */
    qtest_writew(s, rp + cap + 8, 0x2010);
    g_assert_cmphex(qtest_readw(s, rp + cap + 8), ==, 0x2010);
    qtest_writeb(s, rp + cap + 9, 0x30);
    g_assert_cmphex(qtest_readb(s, rp + cap + 9), ==, 0x30);

    /* extended space: an Express function has it (no capabilities: 0) */
    g_assert_cmphex(qtest_readl(s, rp + 0x100), ==, 0);
    g_assert_cmphex(qtest_readl(s, rp + 0xffc), ==, 0);
    qtest_writel(s, rp + 0x100, 0xdeadbeef);
    g_assert_cmphex(qtest_readl(s, rp + 0x100), ==, 0);
    /* conventional functions end at 0xff: all-ones above, as QEMU */
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 0, MCH, 0x100), ==,
                    0xffffffff);
    g_assert_cmphex(qtest_readw(s, ecam_addr(ECAM_DEFAULT, 0, MCH, 0xffe)),
                    ==, 0xffff);
    /* an access straddling two dwords is not a config request */
    g_assert_cmphex(qtest_readl(s, rp + 2), ==, 0xffffffff);
    g_assert_cmphex(qtest_readw(s, rp + 3), ==, 0xffff);
    /* mechanism #1 gives the same registers 0-0xff */
    g_assert_cmphex(cf8_read(s, 0, RP, 0, 4), ==, 0x000c1b36);
    g_assert_cmphex(cf8_read(s, 0, RP, cap + 8, 2), ==, 0x3010);
    qtest_quit(s);
}

/* Bus numbers route configuration cycles through the root port. */
static void test_root_port_buses(void)
{
    QTestState *s = start(RP_ARGS);
    uint64_t rp = ecam_addr(ECAM_DEFAULT, 0, RP, 0);

    set_pciexbar(s, ECAM_DEFAULT | 1);
    /* unnumbered: the secondary bus is unreachable */
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 1, 0, 0), ==, 0xffffffff);
    qtest_writel(s, rp + 0x18, 0x00020100);     /* primary 0, sec 1, sub 2 */
    g_assert_cmphex(qtest_readl(s, rp + 0x18) & 0xffffff, ==, 0x020100);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 1, 0, 0), ==, 0x00051b36);
    g_assert_cmphex(cf8_read(s, 1, 0, 0, 4), ==, 0x00051b36);
    /* only device 0 is there; bus 2 is in range but has nobody */
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 1, DEVFN(1, 0), 0), ==,
                    0xffffffff);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 2, 0, 0), ==, 0xffffffff);
    /* conventional device behind the port: 256 bytes */
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 1, 0, 0x100), ==, 0xffffffff);
    /* renumbered to 5: bus 1 is gone */
    qtest_writeb(s, rp + 0x19, 5);
    qtest_writeb(s, rp + 0x1a, 5);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 1, 0, 0), ==, 0xffffffff);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 5, 0, 0), ==, 0x00051b36);
    /* window registers keep what firmware writes */
    qtest_writel(s, rp + 0x20, 0xfe10fe00);
    g_assert_cmphex(qtest_readl(s, rp + 0x20), ==, 0xfe10fe00);
    qtest_quit(s);
}

/*
 * A device behind the root port answers only inside the port's windows
 * and while the port's command register enables the space.
 */
static void test_root_port_windows(void)
{
    QTestState *s = start(RP_ARGS);

    cf8_write(s, 0, RP, 0x18, 4, 0x00010100);
    cf8_write(s, 1, 0, 0x14, 4, 0xd100);        /* pci-testdev I/O BAR */
    cf8_write(s, 1, 0, 0x04, 2, 1);
    qtest_outl(s, 0xd100, 0x5a5a5a5a);          /* scratch register */
    /* the reset window (0-0xfff) and I/O space off: nothing answers */
    g_assert_cmphex(qtest_inl(s, 0xd100), ==, 0xffffffff);
    cf8_write(s, 0, RP, 0x1c, 2, 0xd0d0);       /* 0xd000-0xdfff */
    g_assert_cmphex(qtest_inl(s, 0xd100), ==, 0xffffffff);
    cf8_write(s, 0, RP, 0x04, 2, 1);            /* I/O space enable */
    qtest_outl(s, 0xd100, 0x5a5a5a5a);
    g_assert_cmphex(qtest_inl(s, 0xd100), ==, 0x5a5a5a5a);
    /* a window that ends below the BAR stops forwarding it */
    cf8_write(s, 0, RP, 0x1c, 2, 0xc0c0);
    g_assert_cmphex(qtest_inl(s, 0xd100), ==, 0xffffffff);
    cf8_write(s, 0, RP, 0x1c, 2, 0xd0d0);
    g_assert_cmphex(qtest_inl(s, 0xd100), ==, 0x5a5a5a5a);
    /* the port's command register gates it too */
    cf8_write(s, 0, RP, 0x04, 2, 0);
    g_assert_cmphex(qtest_inl(s, 0xd100), ==, 0xffffffff);
    qtest_quit(s);
}

/* INTx: slot S pin P on PIRQ E-H rotated; behind a port, swizzled. */
static void test_intx(void)
{
    QTestState *s = start(RP_ARGS "-device pci-testdev,addr=3,intx=on");

    qtest_irq_intercept_in(s, "ioapic");
    /* 00:03.0 INTA: PIRQ E + 3 = PIRQH, GSI 23 */
    cf8_write(s, 0, DEVFN(3, 0), 0x14, 4, 0xc000);
    cf8_write(s, 0, DEVFN(3, 0), 0x04, 2, 1);
    qtest_outl(s, 0xc008, 1);
    g_assert_true(qtest_get_irq(s, 23));
    qtest_outl(s, 0xc008, 0);
    g_assert_false(qtest_get_irq(s, 23));

    /* 01:00.0 INTA behind 00:04.0: INTA of slot 4, PIRQE, GSI 20 */
    cf8_write(s, 0, RP, 0x18, 4, 0x00010100);
    cf8_write(s, 0, RP, 0x1c, 2, 0xc0c0);       /* I/O window 0xc000-0xcfff */
    cf8_write(s, 0, RP, 0x04, 2, 1);
    cf8_write(s, 1, 0, 0x14, 4, 0xc100);
    cf8_write(s, 1, 0, 0x04, 2, 1);
    qtest_outl(s, 0xc108, 1);
    g_assert_true(qtest_get_irq(s, 20));
    qtest_outl(s, 0xc008, 1);
    qtest_outl(s, 0xc108, 0);
    g_assert_false(qtest_get_irq(s, 20));
    g_assert_true(qtest_get_irq(s, 23));
    qtest_outl(s, 0xc008, 0);

    /* PIRQH routed to IRQ 11 for the 8259: both inputs follow the pin */
    cf8_write(s, 0, LPC, LPC_PIRQE + 3, 1, 0x0b);
    qtest_outl(s, 0xc008, 1);
    g_assert_true(qtest_get_irq(s, 23));
    g_assert_true(qtest_get_irq(s, 11));
    /* IRQEN# set again: the 8259 route lets go */
    cf8_write(s, 0, LPC, LPC_PIRQE + 3, 1, 0x8b);
    g_assert_false(qtest_get_irq(s, 11));
    g_assert_true(qtest_get_irq(s, 23));
    /* a reserved route (IRQ 2) is not driven */
    cf8_write(s, 0, LPC, LPC_PIRQE + 3, 1, 0x02);
    g_assert_false(qtest_get_irq(s, 2));
    qtest_outl(s, 0xc008, 0);
    g_assert_false(qtest_get_irq(s, 23));
    qtest_quit(s);
}

static void test_pam_smram(void)
{
    QTestState *s = start("");
    uint32_t rom = qtest_readl(s, 0xffff0);

    /* power-on: the BIOS ROM answers at 0xF0000, writes go nowhere */
    qtest_writel(s, 0xffff0, ~rom);
    g_assert_cmphex(qtest_readl(s, 0xffff0), ==, rom);
    /* PAM0 = 0x30: shadow RAM, writable */
    cf8_write(s, 0, MCH, MCH_PAM0, 1, 0x30);
    qtest_writel(s, 0xffff0, 0x12345678);
    g_assert_cmphex(qtest_readl(s, 0xffff0), ==, 0x12345678);
    /* 0x10: read-only RAM, still holding what was written */
    cf8_write(s, 0, MCH, MCH_PAM0, 1, 0x10);
    qtest_writel(s, 0xffff0, 0);
    g_assert_cmphex(qtest_readl(s, 0xffff0), ==, 0x12345678);
    /* reserved low nibble of PAM0 stays 0 */
    cf8_write(s, 0, MCH, MCH_PAM0, 1, 0xff);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PAM0, 1), ==, 0x30);
    /* PAM1 low nibble: 0xC0000-0xC3FFF */
    cf8_write(s, 0, MCH, MCH_PAM0 + 1, 1, 0x03);
    qtest_writel(s, 0xc0000, 0xcafef00d);
    g_assert_cmphex(qtest_readl(s, 0xc0000), ==, 0xcafef00d);

    /* SMRAM: C_BASE_SEG hardwired; D_OPEN shows RAM at 0xA0000 */
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_SMRAM, 1), ==, 0x02);
    cf8_write(s, 0, MCH, MCH_SMRAM, 1, 0x40);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_SMRAM, 1), ==, 0x42);
    qtest_writel(s, 0xa0000, 0x5a5a5a5a);
    g_assert_cmphex(qtest_readl(s, 0xa0000), ==, 0x5a5a5a5a);
    /* D_LCK closes D_OPEN and locks it until reset */
    cf8_write(s, 0, MCH, MCH_SMRAM, 1, 0x10);
    cf8_write(s, 0, MCH, MCH_SMRAM, 1, 0x40);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_SMRAM, 1), ==, 0x12);
    qtest_quit(s);
}

static void test_pirq(void)
{
    QTestState *s = start("");

    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PIRQA + i, 1), ==, 0x80);
        g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PIRQE + i, 1), ==, 0x80);
    }
    cf8_write(s, 0, LPC, LPC_PIRQA, 4, 0x0b0a0b0a);
    g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PIRQA, 4), ==, 0x0b0a0b0a);
    /* bits 6:4 are reserved */
    cf8_write(s, 0, LPC, LPC_PIRQE + 3, 1, 0xff);
    g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PIRQE + 3, 1), ==, 0x8f);
    /* 0x64-0x67 between the two groups are not route registers */
    cf8_write(s, 0, LPC, 0x64, 4, 0xffffffff);
    g_assert_cmphex(cf8_read(s, 0, LPC, 0x64, 4), ==, 0);
    qtest_quit(s);
}

/* PMBASE and ACPI_EN place the PM block; the PM timer shows where. */
static void test_pmbase(void)
{
    QTestState *s = start("");

    g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PMBASE, 4), ==, 1);
    g_assert_cmphex(qtest_inl(s, 0x608), ==, 0xffffffff);
    cf8_write(s, 0, LPC, LPC_PMBASE, 4, 0x600);
    g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PMBASE, 4), ==, 0x601);
    /* not before ACPI_EN */
    g_assert_cmphex(qtest_inl(s, 0x608), ==, 0xffffffff);
    cf8_write(s, 0, LPC, LPC_ACPI_CNTL, 1, 0x80);
    g_assert_cmphex(qtest_inl(s, 0x608) >> 24, ==, 0);
    /* SCI_EN reads as set, SMI_EN's APMC_EN says SMM needs no setup */
    g_assert_cmphex(qtest_inw(s, 0x604) & 1, ==, 1);
    g_assert_cmphex(qtest_inl(s, 0x630) & 0x20, ==, 0x20);
    /* GPE0_EN holds what is written, GPE0_STS is write-1-to-clear */
    qtest_outb(s, 0x628, 0x0f);
    g_assert_cmphex(qtest_inb(s, 0x628), ==, 0x0f);
    qtest_outb(s, 0x620, 0xff);
    g_assert_cmphex(qtest_inb(s, 0x620), ==, 0);

    /* moved: the old place is empty, the registers kept their values */
    cf8_write(s, 0, LPC, LPC_PMBASE, 4, 0xb000);
    g_assert_cmphex(qtest_inl(s, 0x608), ==, 0xffffffff);
    g_assert_cmphex(qtest_inl(s, 0xb008) >> 24, ==, 0);
    g_assert_cmphex(qtest_inb(s, 0xb028), ==, 0x0f);
    /* the top of the I/O space: bits 6:0 are not the guest's */
    cf8_write(s, 0, LPC, LPC_PMBASE, 4, 0xffffffff);
    g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PMBASE, 4), ==, 0xff81);
    g_assert_cmphex(qtest_inl(s, 0xff88) >> 24, ==, 0);
    /* ACPI_EN off: gone */
    cf8_write(s, 0, LPC, LPC_ACPI_CNTL, 1, 0);
    g_assert_cmphex(qtest_inl(s, 0xff88), ==, 0xffffffff);
    qtest_quit(s);
}

/*
 * query-pci nests the devices behind a root port in its pci_bridge, with
 * the bus numbers and windows the guest programmed; `info pci` lists them.
 */
static void test_query_pci_bridge(void)
{
    QTestState *s = start(RP_ARGS);

    cf8_write(s, 0, RP, 0x18, 4, 0x00030300);   /* buses 0, 3, 3 */
    cf8_write(s, 0, RP, 0x1c, 2, 0x2010);       /* I/O 0x1000-0x2fff */
    cf8_write(s, 0, RP, 0x20, 4, 0xfe10fe00);   /* 0xfe000000-0xfe1fffff */
    json_t *r = qtest_qmp(s, "{'execute': 'query-pci'}");
    json_t *devs = json_object_get(json_array_get(json_object_get(r, "return"),
                                                  0), "devices");
    json_t *br = NULL, *dev;
    size_t i;

    json_array_foreach(devs, i, dev) {
        if (json_integer_value(json_object_get(dev, "slot")) == 4) {
            br = json_object_get(dev, "pci_bridge");
        }
    }
    g_assert_nonnull(br);
    json_t *bus = json_object_get(br, "bus");
    g_assert_cmpint(json_integer_value(json_object_get(bus, "secondary")), ==,
                    3);
    g_assert_cmpint(json_integer_value(json_object_get(bus, "subordinate")),
                    ==, 3);
    json_t *io = json_object_get(bus, "io_range");
    g_assert_cmphex(json_integer_value(json_object_get(io, "base")), ==,
                    0x1000);
    g_assert_cmphex(json_integer_value(json_object_get(io, "limit")), ==,
                    0x2fff);
    json_t *mem = json_object_get(bus, "memory_range");
    g_assert_cmphex(json_integer_value(json_object_get(mem, "limit")), ==,
                    0xfe1fffff);
    json_t *behind = json_array_get(json_object_get(br, "devices"), 0);
    g_assert_nonnull(behind);
    g_assert_cmpint(json_integer_value(json_object_get(behind, "bus")), ==, 3);
    json_decref(r);
    char *text = qtest_hmp(s, "info pci");
    g_assert_nonnull(strstr(text, "secondary bus 3."));
    g_assert_nonnull(strstr(text, "  Bus  3, device   0, function 0:"));
    g_free(text);
    qtest_quit(s);
}

/* 0xCF9 = 6 resets the machine: the chipset returns to power-on state. */
static void test_reset_cf9(void)
{
    QTestState *s = start("");

    cf8_write(s, 0, MCH, MCH_PAM0, 1, 0x30);
    cf8_write(s, 0, LPC, LPC_PIRQA, 1, 0x0b);
    set_pciexbar(s, ECAM_DEFAULT | 1);
    qtest_outb(s, 0xcf9, 0x02);     /* SYS_RST alone: no reset yet */
    g_assert_cmphex(qtest_inb(s, 0xcf9), ==, 0x02);
    qtest_outb(s, 0xcf9, 0x06);
    json_decref(qtest_qmp_eventwait_ref(s, "RESET"));
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PAM0, 1), ==, 0);
    g_assert_cmphex(cf8_read(s, 0, LPC, LPC_PIRQA, 1), ==, 0x80);
    g_assert_cmphex(cf8_read(s, 0, MCH, MCH_PCIEXBAR, 4), ==, 0);
    qtest_quit(s);
}

/* Odd sizes and offsets at the config ports never reach a function. */
static void test_hostile_config(void)
{
    QTestState *s = start(RP_ARGS);

    /* CONFIG_ADDRESS is a dword register: byte writes don't change it */
    qtest_outl(s, CONFIG_ADDRESS, 0x80000000u);
    qtest_outb(s, CONFIG_ADDRESS, 0x55);
    g_assert_cmphex(qtest_inl(s, CONFIG_ADDRESS), ==, 0x80000000u);
    /* disabled CONFIG_ADDRESS: nothing answers */
    qtest_outl(s, CONFIG_ADDRESS, 0);
    g_assert_cmphex(qtest_inl(s, CONFIG_DATA), ==, 0xffffffff);
    /* writes to absent buses and functions are dropped */
    set_pciexbar(s, ECAM_DEFAULT | 1);
    for (int bus = 0; bus < 256; bus += 51) {
        qtest_writel(s, ecam_addr(ECAM_DEFAULT, bus, DEVFN(30, 7), 0x10),
                     0xffffffff);
    }
    qtest_writeq(s, ecam_addr(ECAM_DEFAULT, 0, MCH, 0x100), ~0ULL);
    /* a bridge numbered into a loop of its own range stays finite */
    cf8_write(s, 0, RP, 0x18, 4, 0x00ff0100);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 200, 0, 0), ==, 0xffffffff);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 255, 0, 0), ==, 0xffffffff);
    g_assert_cmphex(ecam_readl(s, ECAM_DEFAULT, 0, MCH, 0), ==, 0x29c08086);
    qtest_quit(s);
}

/* A small raw image in the test's temporary folder (caller frees). */
static char *make_image(const char *name, size_t size)
{
    char *path = qtest_tmp_path(name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return path;
}

/* The built-in AHCI's ABAR at ABAR, memory decoding on. */
static void ahci_map(QTestState *s)
{
    cf8_write(s, 0, AHCI, 0x24, 4, ABAR);
    cf8_write(s, 0, AHCI, 0x04, 2, cf8_read(s, 0, AHCI, 0x04, 2) | 0x2);
}

/* The drive names query-block lists, as one "name,name," string. */
static char *block_names(QTestState *s)
{
    json_t *r = qtest_qmp(s, "{'execute': 'query-block'}");
    GString *names = g_string_new("");
    json_t *b;
    size_t i;

    json_array_foreach(json_object_get(r, "return"), i, b) {
        g_string_append_printf(names, "%s,",
                json_string_value(json_object_get(b, "device")));
    }
    json_decref(r);
    return g_string_free(names, FALSE);
}

/*
 * As QEMU's q35: an if=ide bus is one AHCI port with one unit, so bus=B
 * (or index=B) is port B and the drive is named ideB-hd0 / ideB-cd0;
 * -cdrom (index 2) is port 2. The guest sees a device on exactly those
 * ports.
 */
static void test_ide_drive_ports(void)
{
    g_autofree char *disk = make_image("q35-disk.img", 1 << 20);
    g_autofree char *cd = make_image("q35-cd.iso", 1 << 20);
    g_autofree char *disk4 = make_image("q35-disk4.img", 1 << 20);
    QTestState *s = qtest_initf(
        "-M q35 -m 1G -drive if=ide,bus=1,unit=0,file=%s,format=raw "
        "-cdrom %s -drive if=ide,index=4,file=%s,format=raw",
        disk, cd, disk4);
    static const uint32_t sig[AHCI_PORTS] = {
        [1] = SIG_ATA, [2] = SIG_ATAPI, [4] = SIG_ATA,
    };

    ahci_map(s);
    for (int port = 0; port < AHCI_PORTS; port++) {
        uint32_t det = qtest_readl(s, ABAR + PX_SSTS(port)) & 0xf;
        g_test_message("port %d: DET %u", port, det);
        g_assert_cmpuint(det, ==, sig[port] ? SSTS_DET_PRESENT : 0);
        if (sig[port]) {
            g_assert_cmphex(qtest_readl(s, ABAR + PX_SIG(port)), ==,
                            sig[port]);
        }
    }
    g_autofree char *names = block_names(s);
    g_assert_cmpstr(names, ==, "ide1-hd0,ide2-cd0,ide4-hd0,");
    qtest_quit(s);
    unlink(disk);
    unlink(cd);
    unlink(disk4);
}

/* vireo's exit status and stderr for a -M q35 command line that fails. */
static int run_vireo(const char *args, char **err)
{
    g_autofree char *all = g_strdup_printf("-M q35 %s", args);

    return qtest_run_vireo(all, err);
}

static void expect_error(const char *args, const char *msg)
{
    g_autofree char *err = NULL;
    int status = run_vireo(args, &err);

    if (!strstr(err, msg)) {
        g_printerr("vireo %s\nsaid: %s\nwanted: %s\n", args, err, msg);
    }
    g_assert_true(g_spawn_check_wait_status(status, NULL) == FALSE);
    g_assert_true(WIFEXITED(status));
    g_assert_nonnull(strstr(err, msg));
}

/* A second unit, a port AHCI lacks, or a port taken twice: QEMU's errors. */
static void test_ide_drive_errors(void)
{
    g_autofree char *disk = make_image("q35-err.img", 1 << 20);
    g_autofree char *a = NULL;

    a = g_strdup_printf("-drive if=ide,bus=0,unit=1,file=%s,format=raw",
                        disk);
    expect_error(a, "unit 1 too big (max is 0)");
    g_free(a);
    a = g_strdup_printf("-drive if=ide,unit=1,file=%s,format=raw", disk);
    expect_error(a, "unit 1 too big (max is 0)");
    g_free(a);
    a = g_strdup_printf("-drive if=ide,bus=6,file=%s,format=raw", disk);
    expect_error(a, "machine type does not support if=ide,bus=6,unit=0");
    g_free(a);
    a = g_strdup_printf("-drive if=ide,bus=1,file=%s,format=raw,readonly=on "
                        "-drive file=%s,format=raw,readonly=on,index=1",
                        disk, disk);
    expect_error(a, "drive with bus=1, unit=0 (index=1) exists");
    unlink(disk);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/q35/ids", test_ids);
    g_test_add_func("/qtest/q35/lowmem", test_lowmem);
    g_test_add_func("/qtest/q35/pciexbar", test_pciexbar);
    g_test_add_func("/qtest/q35/ecam-root-port", test_ecam_root_port);
    g_test_add_func("/qtest/q35/root-port-buses", test_root_port_buses);
    g_test_add_func("/qtest/q35/query-pci-bridge", test_query_pci_bridge);
    g_test_add_func("/qtest/q35/root-port-windows", test_root_port_windows);
    g_test_add_func("/qtest/q35/intx", test_intx);
    g_test_add_func("/qtest/q35/pam-smram", test_pam_smram);
    g_test_add_func("/qtest/q35/pirq", test_pirq);
    g_test_add_func("/qtest/q35/pmbase", test_pmbase);
    g_test_add_func("/qtest/q35/reset-cf9", test_reset_cf9);
    g_test_add_func("/qtest/q35/hostile-config", test_hostile_config);
    g_test_add_func("/qtest/q35/ide-drive-ports", test_ide_drive_ports);
    g_test_add_func("/qtest/q35/ide-drive-errors", test_ide_drive_errors);
    return g_test_run();
}
