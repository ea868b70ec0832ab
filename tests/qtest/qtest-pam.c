/*
 * The PC's BIOS mapping and the i440FX's PAM and SMRAM registers (82441FX
 * datasheet 3.2.18, 3.2.21): the reset vector fetches the BIOS image at
 * both of its addresses; PAM switches 0xC0000-0xFFFFF between the PCI side,
 * read-only and read-write shadow RAM; D_OPEN shows the RAM at 0xA0000
 * until D_LCK closes it; -bios and -L pick the image.
 */
#include <string.h>

#include "pci.h"

#define PAM0    0x59
#define SMRAM   0x72
#define BIOS    "/usr/share/seabios/bios-256k.bin"

static QTestState *start(const char *args, QPCIBus **bus, QPCIDevice **host)
{
    QTestState *s = qtest_initf("-M pc %s", args);

    *bus = qpci_new_pc(s);
    *host = qpci_device_find(*bus, 0);
    g_assert_nonnull(*host);
    return s;
}

static void stop(QTestState *s, QPCIBus *bus, QPCIDevice *host)
{
    g_free(host);
    qpci_free(bus);
    qtest_quit(s);
}

static bool have_seabios(void)
{
    if (!g_file_test(BIOS, G_FILE_TEST_EXISTS)) {
        g_test_skip("Debian's seabios package is not installed");
        return false;
    }
    return true;
}

/* Both views of the image hold the same reset vector: its last 16 bytes. */
static void test_reset_vector(void)
{
    g_autofree char *image = NULL;
    gsize len;
    uint8_t high[16], low[16];
    QPCIBus *bus;
    QPCIDevice *host;

    if (!have_seabios()) {
        return;
    }
    g_assert_true(g_file_get_contents(BIOS, &image, &len, NULL));
    QTestState *s = start("", &bus, &host);
    qtest_memread(s, 0xfffffff0, high, 16);
    qtest_memread(s, 0xffff0, low, 16);
    g_assert_cmpmem(high, 16, image + len - 16, 16);
    g_assert_cmpmem(low, 16, image + len - 16, 16);
    /* the ROM ignores writes at both addresses */
    qtest_writel(s, 0xffff0, 0xdeadbeef);
    qtest_writel(s, 0xfffffff0, 0xdeadbeef);
    g_assert_cmpmem(&(uint32_t){ qtest_readl(s, 0xffff0) }, 4,
                    image + len - 16, 4);
    g_assert_cmpmem(&(uint32_t){ qtest_readl(s, 0xfffffff0) }, 4,
                    image + len - 16, 4);
    stop(s, bus, host);
}

static void test_pam_shadow(void)
{
    QPCIBus *bus;
    QPCIDevice *host;

    if (!have_seabios()) {
        return;
    }
    QTestState *s = start("", &bus, &host);
    uint32_t rom = qtest_readl(s, 0xf0000);

    g_assert_cmphex(qpci_config_readb(host, PAM0), ==, 0);
    /* read-write shadow: the RAM under the ROM */
    qpci_config_writeb(host, PAM0, 0x30);
    qtest_writel(s, 0xf0000, 0x12345678);
    g_assert_cmphex(qtest_readl(s, 0xf0000), ==, 0x12345678);
    /* read-only: the RAM still reads, writes are lost */
    qpci_config_writeb(host, PAM0, 0x10);
    qtest_writel(s, 0xf0000, 0xcafef00d);
    g_assert_cmphex(qtest_readl(s, 0xf0000), ==, 0x12345678);
    /* PCI: the ROM again, and the RAM kept its contents */
    qpci_config_writeb(host, PAM0, 0x00);
    g_assert_cmphex(qtest_readl(s, 0xf0000), ==, rom);
    qpci_config_writeb(host, PAM0, 0x30);
    g_assert_cmphex(qtest_readl(s, 0xf0000), ==, 0x12345678);
    /* reserved bits read back as 0 */
    qpci_config_writeb(host, PAM0, 0xff);
    g_assert_cmphex(qpci_config_readb(host, PAM0), ==, 0x30);
    stop(s, bus, host);
}

/* Each PAM register holds two 16 KiB segments; below the ROM, PCI is empty. */
static void test_pam_segments(void)
{
    QPCIBus *bus;
    QPCIDevice *host;

    if (!have_seabios()) {
        return;
    }
    QTestState *s = start("", &bus, &host);

    g_assert_cmphex(qtest_readl(s, 0xc0000), ==, 0xffffffff);
    qtest_writel(s, 0xc0000, 0);
    g_assert_cmphex(qtest_readl(s, 0xc0000), ==, 0xffffffff);
    /* PAM1 low nibble: 0xC0000-0xC3FFF only */
    qpci_config_writeb(host, PAM0 + 1, 0x03);
    qtest_writel(s, 0xc0000, 0xaa55aa55);
    qtest_writel(s, 0xc4000, 0x11111111);
    g_assert_cmphex(qtest_readl(s, 0xc0000), ==, 0xaa55aa55);
    g_assert_cmphex(qtest_readl(s, 0xc4000), ==, 0xffffffff);
    /* PAM6 high nibble: 0xEC000-0xEFFFF, which shows the ROM when off */
    uint32_t rom = qtest_readl(s, 0xec000);
    qpci_config_writeb(host, PAM0 + 6, 0x30);
    qtest_writel(s, 0xec000, 0x5a5a5a5a);
    g_assert_cmphex(qtest_readl(s, 0xec000), ==, 0x5a5a5a5a);
    g_assert_cmphex(qtest_readl(s, 0xe8000), !=, 0x5a5a5a5a);
    qpci_config_writeb(host, PAM0 + 6, 0x00);
    g_assert_cmphex(qtest_readl(s, 0xec000), ==, rom);
    /* a system reset puts every segment back on the PCI side */
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(qpci_config_readb(host, PAM0 + 1), ==, 0);
    g_assert_cmphex(qtest_readl(s, 0xc0000), ==, 0xffffffff);
    stop(s, bus, host);
}

static void test_smram(void)
{
    QPCIBus *bus;
    QPCIDevice *host;

    if (!have_seabios()) {
        return;
    }
    QTestState *s = start("", &bus, &host);

    g_assert_cmphex(qpci_config_readb(host, SMRAM), ==, 0x02);
    qpci_config_writeb(host, SMRAM, 0x4a);          /* D_OPEN, G_SMRAME */
    qtest_writel(s, 0xa0000, 0x600dcafe);
    g_assert_cmphex(qtest_readl(s, 0xa0000), ==, 0x600dcafe);
    /* D_LCK closes D_OPEN and freezes everything but D_CLS */
    qpci_config_writeb(host, SMRAM, 0x5a);
    g_assert_cmphex(qpci_config_readb(host, SMRAM), ==, 0x1a);
    qpci_config_writeb(host, SMRAM, 0x4a);
    g_assert_cmphex(qpci_config_readb(host, SMRAM), ==, 0x1a);
    qpci_config_writeb(host, SMRAM, 0x3a);
    g_assert_cmphex(qpci_config_readb(host, SMRAM), ==, 0x3a);
    stop(s, bus, host);
}

/* -L puts its folder first; -bios takes a name there or a path. */
static void test_bios_option(void)
{
    g_autofree char *dir = qtest_tmp_path("bios-dir");
    g_autofree char *file = g_build_filename(dir, "my.bin", NULL);
    g_autofree char *image = g_malloc0(65536);
    QPCIBus *bus;
    QPCIDevice *host;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    memcpy(image + 65536 - 16, "VIREO-TEST-BIOS!", 16);
    g_assert_true(g_file_set_contents(file, image, 65536, NULL));

    g_autofree char *args = g_strdup_printf("-L %s -bios my.bin", dir);
    QTestState *s = start(args, &bus, &host);
    char vec[16];
    qtest_memread(s, 0xfffffff0, vec, 16);
    g_assert_cmpmem(vec, 16, "VIREO-TEST-BIOS!", 16);
    qtest_memread(s, 0xffff0, vec, 16);
    g_assert_cmpmem(vec, 16, "VIREO-TEST-BIOS!", 16);
    stop(s, bus, host);
    unlink(file);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pam/reset-vector", test_reset_vector);
    g_test_add_func("/pam/shadow", test_pam_shadow);
    g_test_add_func("/pam/segments", test_pam_segments);
    g_test_add_func("/pam/smram", test_smram);
    g_test_add_func("/pam/bios-option", test_bios_option);
    return g_test_run();
}
