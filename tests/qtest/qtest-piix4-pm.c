/*
 * The pc machine's PIIX4 power-management function at 00:01.3 (82371AB
 * datasheet, function 3): its IDs; PMBA and PMREGMISC.PMIOSE placing the
 * ACPI PM block (the PM timer shows where); read-only bits and hostile
 * bases; the SCI on IRQ 9; the FADT firmware loads through fw_cfg naming
 * the base firmware programmed; direct kernel boot's preset; -no-acpi;
 * migration.
 */
#include <string.h>
#include <unistd.h>

#include "pci.h"

#define PM_DEVFN        PCI_DEVFN(1, 3)
#define PMBA            0x40
#define DEVACTB         0x58
#define DEVRESA         0x5c
#define PMREGMISC       0x80
#define SMBBA           0x90
#define SMBHSTCFG       0xd2
#define SMBREV          0xd6

/* offsets in the PM block (ACPI 4.8.3) */
#define PM1_STS         0x00
#define PM1_EN          0x02
#define PM1_CNT         0x04
#define PM_TMR          0x08
#define  PM1_PWRBTN     0x0100
#define  PM1_CNT_SCI_EN 0x0001
#define SCI_GSI         9

#define FW_CFG_CTL      0x510
#define FW_CFG_DATA     0x511
#define FW_CFG_FILE_DIR 0x19

typedef struct PM {
    QTestState *s;
    QPCIBus *bus;
    QPCIDevice *dev;
} PM;

static void pm_start(PM *pm, const char *args)
{
    pm->s = qtest_initf("-M pc %s", args);
    pm->bus = qpci_new_pc(pm->s);
    pm->dev = qpci_device_find(pm->bus, PM_DEVFN);
}

static void pm_stop(PM *pm)
{
    g_free(pm->dev);
    qpci_free(pm->bus);
    qtest_quit(pm->s);
}

/*
 * Whether a PM timer answers at base: it is 24 bits wide (ACPI 4.8.3.3)
 * and runs at 3.58 MHz, so two reads 1 ms apart differ in the low bits
 * and have a clear top byte. Unassigned ports read all-ones.
 */
static bool timer_at(QTestState *s, uint16_t base)
{
    uint32_t a = qtest_inl(s, base + PM_TMR);
    g_usleep(1000);
    uint32_t b = qtest_inl(s, base + PM_TMR);

    return (a >> 24) == 0 && (b >> 24) == 0 && a != b;
}

static void pm_place(PM *pm, uint32_t pmba, bool pmiose)
{
    qpci_config_writel(pm->dev, PMBA, pmba);
    qpci_config_writeb(pm->dev, PMREGMISC, pmiose);
}

/* 00:01.3 is 8086:7113 rev 3, class 0x0680, as on QEMU's pc. */
static void test_ids(void)
{
    PM pm;

    pm_start(&pm, "");
    g_assert_nonnull(pm.dev);
    g_assert_cmphex(qpci_config_readw(pm.dev, PCI_VENDOR_ID), ==, 0x8086);
    g_assert_cmphex(qpci_config_readw(pm.dev, PCI_DEVICE_ID), ==, 0x7113);
    g_assert_cmphex(qpci_config_readb(pm.dev, PCI_REVISION_ID), ==, 0x03);
    g_assert_cmphex(qpci_config_readb(pm.dev, PCI_CLASS_PROG), ==, 0x00);
    g_assert_cmphex(qpci_config_readw(pm.dev, PCI_CLASS_DEVICE), ==, 0x0680);
    g_assert_cmphex(qpci_config_readb(pm.dev, PCI_HEADER_TYPE), ==, 0x00);
    g_assert_cmphex(qpci_config_readw(pm.dev, PCI_STATUS), ==, 0x0280);
    g_assert_cmphex(qpci_config_readb(pm.dev, PCI_INTERRUPT_PIN), ==, 1);
    /* power-on: PMBA's RTE bit, no decode; SeaBIOS must skip SMM */
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0x00000001);
    g_assert_cmphex(qpci_config_readb(pm.dev, PMREGMISC), ==, 0);
    g_assert_cmphex(qpci_config_readl(pm.dev, DEVACTB), ==, 0x02000000);
    g_assert_cmphex(qpci_config_readl(pm.dev, SMBBA), ==, 0x00000001);
    g_assert_cmphex(qpci_config_readb(pm.dev, SMBHSTCFG), ==, 0);
    /* the ISA bridge at 00:01.0 says there is more than one function */
    QPCIDevice *isa = qpci_device_find(pm.bus, PCI_DEVFN(1, 0));
    g_assert_cmphex(qpci_config_readb(isa, PCI_HEADER_TYPE) &
                    PCI_HEADER_TYPE_MULTI_FUNCTION, !=, 0);
    g_free(isa);
    pm_stop(&pm);
}

/* With firmware the block starts unplaced; PMBA and PMIOSE place it. */
static void test_map_unmap(void)
{
    PM pm;

    pm_start(&pm, "");
    g_assert_false(timer_at(pm.s, 0x600));
    g_assert_cmphex(qtest_inl(pm.s, 0x608), ==, 0xffffffff);
    /* OVMF's base: not decoded before PMIOSE */
    qpci_config_writel(pm.dev, PMBA, 0xb000);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0xb001);
    g_assert_cmphex(qtest_inl(pm.s, 0xb008), ==, 0xffffffff);
    qpci_config_writeb(pm.dev, PMREGMISC, 1);
    g_assert_true(timer_at(pm.s, 0xb000));
    /* ACPI mode is always on */
    g_assert_cmphex(qtest_inw(pm.s, 0xb000 + PM1_CNT) & PM1_CNT_SCI_EN, ==,
                    PM1_CNT_SCI_EN);
    /* moving it (SeaBIOS's base) leaves nothing behind */
    qpci_config_writel(pm.dev, PMBA, 0x600);
    g_assert_true(timer_at(pm.s, 0x600));
    g_assert_cmphex(qtest_inl(pm.s, 0xb008), ==, 0xffffffff);
    /* one byte of PMBA moves it too */
    qpci_config_writeb(pm.dev, PMBA + 1, 0xc0);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0xc001);
    g_assert_true(timer_at(pm.s, 0xc000));
    g_assert_cmphex(qtest_inl(pm.s, 0x608), ==, 0xffffffff);
    /* PMIOSE off: gone */
    qpci_config_writeb(pm.dev, PMREGMISC, 0);
    g_assert_cmphex(qtest_inl(pm.s, 0xc008), ==, 0xffffffff);
    pm_stop(&pm);
}

/* Read-only bits stay; the registers firmware writes keep their values. */
static void test_readonly_bits(void)
{
    PM pm;

    pm_start(&pm, "");
    qpci_config_writel(pm.dev, PMBA, 0xffffffff);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0x0000ffc1);
    qpci_config_writel(pm.dev, PMBA, 0);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0x00000001);
    qpci_config_writel(pm.dev, PMBA, 0xb03f);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0xb001);
    qpci_config_writeb(pm.dev, PMREGMISC, 0xff);
    g_assert_cmphex(qpci_config_readb(pm.dev, PMREGMISC), ==, 0x01);
    /* SMBus: base bits 15:4, no host controller to enable */
    qpci_config_writel(pm.dev, SMBBA, 0xffffffff);
    g_assert_cmphex(qpci_config_readl(pm.dev, SMBBA), ==, 0x0000fff1);
    qpci_config_writeb(pm.dev, SMBHSTCFG, 0x09);
    g_assert_cmphex(qpci_config_readb(pm.dev, SMBHSTCFG), ==, 0x08);
    qpci_config_writeb(pm.dev, SMBREV, 0xff);
    g_assert_cmphex(qpci_config_readb(pm.dev, SMBREV), ==, 0);
    /* device resources: plain storage, but APMC_EN stays set */
    qpci_config_writel(pm.dev, DEVACTB, 0);
    g_assert_cmphex(qpci_config_readl(pm.dev, DEVACTB), ==, 0x02000000);
    qpci_config_writel(pm.dev, DEVRESA, 0x12345678);
    g_assert_cmphex(qpci_config_readl(pm.dev, DEVRESA), ==, 0x12345678);
    /* IDs ignore writes */
    qpci_config_writel(pm.dev, PCI_VENDOR_ID, 0xffffffff);
    qpci_config_writel(pm.dev, PCI_REVISION_ID, 0xffffffff);
    g_assert_cmphex(qpci_config_readl(pm.dev, PCI_VENDOR_ID), ==, 0x71138086);
    g_assert_cmphex(qpci_config_readl(pm.dev, PCI_REVISION_ID), ==,
                    0x06800003);
    pm_stop(&pm);
}

/*
 * Hostile bases: 0 (what unprogrammed firmware leaves) is not decoded; the
 * top of I/O space works; a base on top of another function's I/O BAR
 * takes its ports only while it is there.
 */
static void test_hostile_bases(void)
{
    PM pm;

    pm_start(&pm, "");
    pm_place(&pm, 0, true);
    g_assert_false(timer_at(pm.s, 0));
    pm_place(&pm, 0xffc0, true);
    g_assert_true(timer_at(pm.s, 0xffc0));
    /*
     * On top of the PIIX3 IDE's bus-master registers (BAR4): its status
     * register at +2 is PM1_EN of the block while the block is there.
     */
    pm_place(&pm, 0, false);
    QPCIDevice *ide = qpci_device_find(pm.bus, PCI_DEVFN(1, 1));
    g_assert_nonnull(ide);
    QPCIBar bm = qpci_iomap(ide, 4, NULL);
    qpci_device_enable(ide);
    uint16_t bmis = qpci_bar_addr(bm) + 2;
    g_assert_cmphex(qpci_bar_addr(bm) & 0x3f, ==, 0);
    qtest_outb(pm.s, bmis, 0x60);
    g_assert_cmphex(qtest_inb(pm.s, bmis), ==, 0x60);
    pm_place(&pm, qpci_bar_addr(bm), true);
    g_assert_true(timer_at(pm.s, qpci_bar_addr(bm)));
    qtest_outw(pm.s, bmis, 0);
    qpci_config_writel(pm.dev, PMBA, 0x600);
    g_assert_cmphex(qtest_inb(pm.s, bmis), ==, 0x60);
    g_free(ide);
    g_assert_true(timer_at(pm.s, 0x600));
    /* toggling it many times costs nothing and leaves one mapping */
    for (int i = 0; i < 200; i++) {
        qpci_config_writeb(pm.dev, PMREGMISC, i & 1);
    }
    g_assert_true(timer_at(pm.s, 0x600));
    g_assert_true(qtest_alive(pm.s));
    pm_stop(&pm);
}

/* The power button raises the SCI on IRQ 9 once PM1_EN enables it. */
static void test_sci(void)
{
    PM pm;

    pm_start(&pm, "");
    qtest_irq_intercept_in(pm.s, "ioapic");
    pm_place(&pm, 0xb000, true);
    qtest_qmp_assert_success(pm.s, "{'execute': 'system_powerdown'}");
    g_assert_cmphex(qtest_inw(pm.s, 0xb000 + PM1_STS) & PM1_PWRBTN, ==,
                    PM1_PWRBTN);
    g_assert_false(qtest_get_irq(pm.s, SCI_GSI));
    qtest_outw(pm.s, 0xb000 + PM1_EN, PM1_PWRBTN);
    g_assert_true(qtest_get_irq(pm.s, SCI_GSI));
    /* write 1 to clear: the SCI drops */
    qtest_outw(pm.s, 0xb000 + PM1_STS, PM1_PWRBTN);
    g_assert_false(qtest_get_irq(pm.s, SCI_GSI));
    g_assert_cmphex(qtest_inw(pm.s, 0xb000 + PM1_STS) & PM1_PWRBTN, ==, 0);
    pm_stop(&pm);
}

/* ---- fw_cfg: the FADT names the base firmware programmed ---- */

static uint32_t fw_cfg_be32(QTestState *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v << 8 | qtest_inb(s, FW_CFG_DATA);
    }
    return v;
}

/* The key and size of a named file, from FW_CFG_FILE_DIR. */
static uint16_t fw_cfg_find(QTestState *s, const char *name, uint32_t *size)
{
    qtest_outw(s, FW_CFG_CTL, FW_CFG_FILE_DIR);
    uint32_t n = fw_cfg_be32(s);

    for (uint32_t i = 0; i < n; i++) {
        uint8_t rec[64];
        for (int j = 0; j < 64; j++) {
            rec[j] = qtest_inb(s, FW_CFG_DATA);
        }
        if (!strncmp((char *)rec + 8, name, 56)) {
            *size = (uint32_t)rec[0] << 24 | rec[1] << 16 | rec[2] << 8 |
                    rec[3];
            return rec[4] << 8 | rec[5];
        }
    }
    g_assert_not_reached();
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Selects etc/acpi/tables as firmware does and returns the FADT's
 * PM1a_EVT_BLK, checking PM_TMR_BLK and X_PM_TMR_BLK agree with it.
 */
static uint32_t fadt_pm_base(QTestState *s)
{
    uint32_t size;
    uint16_t key = fw_cfg_find(s, "etc/acpi/tables", &size);
    g_autofree uint8_t *t = g_malloc(size);

    qtest_outw(s, FW_CFG_CTL, key);
    for (uint32_t i = 0; i < size; i++) {
        t[i] = qtest_inb(s, FW_CFG_DATA);
    }
    for (uint32_t off = 0; off + 36 <= size;) {
        uint32_t len = le32(t + off + 4);
        g_assert_cmpuint(len, >=, 36);
        g_assert_cmpuint(len, <=, size - off);
        if (!memcmp(t + off, "FACP", 4)) {
            const uint8_t *f = t + off;
            uint32_t base = le32(f + 56);
            g_assert_cmphex(le32(f + 64), ==, base + 4);    /* PM1a_CNT */
            g_assert_cmphex(le32(f + 76), ==, base + PM_TMR);
            g_assert_cmphex(le32(f + 212), ==, base + PM_TMR); /* X_ */
            return base;
        }
        off += len;
        /* tables may be padded: skip to the next signature */
        while (off + 4 <= size && !t[off]) {
            off++;
        }
    }
    g_assert_not_reached();
}

static void reset_machine(QTestState *s)
{
    qtest_outb(s, 0xcf9, 0x06);
    json_decref(qtest_qmp_eventwait_ref(s, "RESET"));
}

static void test_fw_cfg_tables(void)
{
    PM pm;

    pm_start(&pm, "");
    /* OVMF's order: program the chipset, then load the tables */
    pm_place(&pm, 0xb000, true);
    g_assert_cmphex(fadt_pm_base(pm.s), ==, 0xb000);
    /* built once per boot: a later move changes no table firmware has */
    pm_place(&pm, 0xc000, true);
    g_assert_cmphex(fadt_pm_base(pm.s), ==, 0xb000);
    /* a reset unplaces the block: the tables fall back to 0x600 */
    reset_machine(pm.s);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0x00000001);
    g_assert_cmphex(qpci_config_readb(pm.dev, PMREGMISC), ==, 0);
    g_assert_cmphex(fadt_pm_base(pm.s), ==, 0x600);
    pm_stop(&pm);
}

/* ---- direct kernel boot, -no-acpi, migration ---- */

/* A multiboot image (a.out kludge) that loads at 1 MiB; it never runs. */
static char *write_multiboot_kernel(void)
{
    uint32_t hdr[16] = { 0x1badb002, 0x00010000 };
    char *path = qtest_tmp_path("mb.bin");

    hdr[2] = -(hdr[0] + hdr[1]);
    hdr[3] = 0x100000;          /* header_addr */
    hdr[4] = 0x100000;          /* load_addr */
    hdr[7] = 0x100020;          /* entry */
    g_assert_true(g_file_set_contents(path, (char *)hdr, sizeof(hdr), NULL));
    return path;
}

/* No firmware to place the block: it is where the FADT says, 0x600. */
static void test_direct_boot_preset(void)
{
    g_autofree char *kernel = write_multiboot_kernel();
    g_autofree char *args = g_strdup_printf("-kernel %s", kernel);
    PM pm;

    pm_start(&pm, args);
    g_assert_cmphex(qpci_config_readl(pm.dev, PMBA), ==, 0x601);
    g_assert_cmphex(qpci_config_readb(pm.dev, PMREGMISC), ==, 1);
    g_assert_true(timer_at(pm.s, 0x600));
    pm_stop(&pm);
}

/* As QEMU's pc: no PIIX4 PM, no PM block with acpi=off (-no-acpi). */
static void test_no_acpi(void)
{
    PM pm;

    pm_start(&pm, "-machine acpi=off");
    g_assert_null(pm.dev);
    g_assert_cmphex(qtest_inl(pm.s, 0x608), ==, 0xffffffff);
    pm_stop(&pm);
}

static json_t *wait_migration(QTestState *s)
{
    for (int i = 0; i < 3000; i++) {
        json_t *r = qtest_qmp(s, "{'execute': 'query-migrate'}");
        json_t *ret = json_incref(json_object_get(r, "return"));
        const char *st = json_string_value(json_object_get(ret, "status"));

        json_decref(r);
        if (st && (!strcmp(st, "completed") || !strcmp(st, "failed"))) {
            return ret;
        }
        json_decref(ret);
        g_usleep(10000);
    }
    g_assert_not_reached();
}

static void assert_migration_completed(QTestState *s)
{
    json_t *r = wait_migration(s);

    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "completed");
    json_decref(r);
}

/* The configuration travels and the destination decodes the block there. */
static void test_migration(void)
{
    g_autofree char *path = qtest_tmp_path("piix4.state");
    PM src, dst;

    pm_start(&src, "-m 64");
    pm_place(&src, 0xb000, true);
    qpci_config_writel(src.dev, DEVRESA, 0xa5a5a5a5);
    qtest_qmp_assert_success(src.s, "{'execute': 'migrate', 'arguments': "
                                    "{'uri': 'file:%s'}}", path);
    assert_migration_completed(src.s);
    pm_stop(&src);

    pm_start(&dst, "-m 64 -incoming defer");
    g_assert_false(timer_at(dst.s, 0xb000));
    qtest_qmp_assert_success(dst.s, "{'execute': 'migrate-incoming', "
                                    "'arguments': {'uri': 'file:%s'}}", path);
    assert_migration_completed(dst.s);
    g_assert_cmphex(qpci_config_readl(dst.dev, PMBA), ==, 0xb001);
    g_assert_cmphex(qpci_config_readl(dst.dev, DEVRESA), ==, 0xa5a5a5a5);
    g_assert_true(timer_at(dst.s, 0xb000));
    g_assert_cmphex(qtest_inl(dst.s, 0x608), ==, 0xffffffff);
    pm_stop(&dst);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/piix4-pm/ids", test_ids);
    g_test_add_func("/qtest/piix4-pm/map-unmap", test_map_unmap);
    g_test_add_func("/qtest/piix4-pm/readonly-bits", test_readonly_bits);
    g_test_add_func("/qtest/piix4-pm/hostile-bases", test_hostile_bases);
    g_test_add_func("/qtest/piix4-pm/sci", test_sci);
    g_test_add_func("/qtest/piix4-pm/fw-cfg-tables", test_fw_cfg_tables);
    g_test_add_func("/qtest/piix4-pm/direct-boot-preset",
                    test_direct_boot_preset);
    g_test_add_func("/qtest/piix4-pm/no-acpi", test_no_acpi);
    g_test_add_func("/qtest/piix4-pm/migration", test_migration);
    return g_test_run();
}
