/*
 * The ICH9 AHCI controller (-device ahci) on pc (Serial ATA AHCI 1.3): the
 * PCI function, HBA reset, port start/stop and COMRESET, IDENTIFY, READ/
 * WRITE DMA EXT and NCQ through command lists checked against the image,
 * ATAPI READ(10) from a CD, software reset by Control FISes, MSI, and
 * hostile command lists, tables and PRDTs.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"
#include "pci.h"

#define AHCI_SLOT       4
#define DISK_SECTORS    8192        /* 4 MiB */
#define CD_SECTORS      64

/* HBA registers */
#define CAP             0x00
#define GHC             0x04
#define  GHC_HR         (1u << 0)
#define  GHC_IE         (1u << 1)
#define  GHC_AE         (1u << 31)
#define IS              0x08
#define PI              0x0c
#define VS              0x10
/* port registers */
#define PX(n, r)        (0x100 + (n) * 0x80 + (r))
#define PX_CLB          0x00
#define PX_CLBU         0x04
#define PX_FB           0x08
#define PX_FBU          0x0c
#define PX_IS           0x10
#define PX_IE           0x14
#define PX_CMD          0x18
#define  CMD_ST         (1u << 0)
#define  CMD_FRE        (1u << 4)
#define  CMD_FR         (1u << 14)
#define  CMD_CR         (1u << 15)
#define  CMD_ATAPI      (1u << 24)
#define PX_TFD          0x20
#define PX_SIG          0x24
#define PX_SSTS         0x28
#define PX_SCTL         0x2c
#define PX_SERR         0x30
#define PX_SACT         0x34
#define PX_CI           0x38

#define IS_DHRS         (1u << 0)
#define IS_PSS          (1u << 1)
#define IS_SDBS         (1u << 3)
#define IS_OFS          (1u << 24)
#define IS_HBDS         (1u << 28)
#define IS_HBFS         (1u << 29)
#define IS_TFES         (1u << 30)

/* guest memory layout */
#define CLB_BASE        0x100000    /* + port * 0x1000 */
#define FB_BASE         0x180000    /* + port * 0x1000 */
#define CTBA_BASE       0x200000    /* + slot * 0x1000 */
#define BUF_BASE        0x400000
#define RAM_END         (128ULL << 20)

typedef struct Ctx {
    QTestState *s;
    char *disk, *cd;
    QPCIBus *pcibus;
    QPCIDevice *dev;
    QPCIBar abar;
} Ctx;

typedef struct PRD {
    uint64_t addr;
    uint32_t len;
} PRD;

static char *make_image(const char *name, int sectors, int sector_size,
                        uint8_t salt)
{
    char *path = qtest_tmp_path(name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_autofree uint8_t *buf = g_malloc(sector_size);

    g_assert_cmpint(fd, >=, 0);
    for (int i = 0; i < sectors; i++) {
        memset(buf, (uint8_t)(i + salt), sector_size);
        memcpy(buf, &i, sizeof(i));
        g_assert_cmpint(pwrite(fd, buf, sector_size, (off_t)i * sector_size),
                        ==, sector_size);
    }
    close(fd);
    return path;
}

static void start(Ctx *c)
{
    c->disk = make_image("ahci-disk.img", DISK_SECTORS, 512, 0);
    c->cd = make_image("ahci-cd.iso", CD_SECTORS, 2048, 0x40);
    c->s = qtest_initf("-M pc -m 128M -device ahci,id=ahci0,addr=%d "
                       "-drive if=none,id=d0,file=%s,format=raw "
                       "-device ide-hd,drive=d0,bus=ahci0.0 "
                       "-drive if=none,id=cd0,file=%s,format=raw,media=cdrom "
                       "-device ide-cd,drive=cd0,bus=ahci0.2",
                       AHCI_SLOT, c->disk, c->cd);
    c->pcibus = qpci_new_pc(c->s);
    c->dev = qpci_device_find(c->pcibus, PCI_DEVFN(AHCI_SLOT, 0));
    g_assert_nonnull(c->dev);
    qpci_device_enable(c->dev);
    c->abar = qpci_iomap(c->dev, 5, NULL);
}

static void stop(Ctx *c)
{
    g_free(c->dev);
    qpci_free(c->pcibus);
    qtest_quit(c->s);
    unlink(c->disk);
    unlink(c->cd);
    g_free(c->disk);
    g_free(c->cd);
}

static uint32_t rd(Ctx *c, uint32_t off)
{
    return qpci_io_readl(c->dev, c->abar, off);
}

static void wr(Ctx *c, uint32_t off, uint32_t val)
{
    qpci_io_writel(c->dev, c->abar, off, val);
}

/* Command list and FIS area in RAM, errors cleared, FRE and ST on. */
static void port_start(Ctx *c, int port)
{
    wr(c, PX(port, PX_CMD), 0);
    wr(c, PX(port, PX_CLB), CLB_BASE + port * 0x1000);
    wr(c, PX(port, PX_CLBU), 0);
    wr(c, PX(port, PX_FB), FB_BASE + port * 0x1000);
    wr(c, PX(port, PX_FBU), 0);
    qtest_memset(c->s, CLB_BASE + port * 0x1000, 0, 0x400);
    qtest_memset(c->s, FB_BASE + port * 0x1000, 0, 0x100);
    wr(c, PX(port, PX_SERR), ~0u);
    wr(c, PX(port, PX_IS), ~0u);
    wr(c, PX(port, PX_IE), ~0u);
    wr(c, PX(port, PX_CMD), CMD_FRE);
    wr(c, PX(port, PX_CMD), CMD_FRE | CMD_ST);
}

/* Writes slot's header, table (CFIS, ACMD) and PRDT; returns the table. */
static uint64_t build_cmd(Ctx *c, int port, int slot, const uint8_t *fis,
                          const uint8_t *acmd, const PRD *prd, int nprd,
                          uint32_t prdtl, uint32_t cfl, bool write)
{
    uint64_t hdr = CLB_BASE + port * 0x1000 + slot * 32;
    uint64_t ctba = CTBA_BASE + slot * 0x1000;

    qtest_memset(c->s, ctba, 0, 0x80 + 16 * MAX(nprd, 1));
    qtest_memwrite(c->s, ctba, fis, 20);
    if (acmd) {
        qtest_memwrite(c->s, ctba + 0x40, acmd, 12);
    }
    for (int i = 0; i < nprd; i++) {
        uint64_t e = ctba + 0x80 + i * 16;
        qtest_writel(c->s, e, prd[i].addr);
        qtest_writel(c->s, e + 4, prd[i].addr >> 32);
        qtest_writel(c->s, e + 12, (prd[i].len - 1) | (1u << 31));
    }
    qtest_writel(c->s, hdr, cfl | (acmd ? 1 << 5 : 0) | (write ? 1 << 6 : 0) |
                 prdtl << 16);
    qtest_writel(c->s, hdr + 4, 0xdeadbeef);     /* PRDBC: the HBA's */
    qtest_writel(c->s, hdr + 8, ctba);
    qtest_writel(c->s, hdr + 12, ctba >> 32);
    return ctba;
}

/* Waits until the slots in mask left PxCI (and PxSACT) or an error. */
static uint32_t wait_done(Ctx *c, int port, uint32_t mask)
{
    for (int i = 0; i < 100000; i++) {
        /* PxCI first: the command may end between the two reads */
        uint32_t busy = (rd(c, PX(port, PX_CI)) |
                         rd(c, PX(port, PX_SACT))) & mask;
        uint32_t is = rd(c, PX(port, PX_IS));
        if (!busy || (is & (IS_TFES | IS_HBFS | IS_HBDS | IS_OFS))) {
            return is;
        }
        if (i > 100) {
            g_usleep(100);
        }
    }
    g_assert_not_reached();
}

static void h2d(uint8_t *f, uint8_t cmd, uint64_t lba, uint16_t count)
{
    memset(f, 0, 20);
    f[0] = 0x27;
    f[1] = 0x80;
    f[2] = cmd;
    f[4] = lba;
    f[5] = lba >> 8;
    f[6] = lba >> 16;
    f[7] = 0x40;
    f[8] = lba >> 24;
    f[9] = lba >> 32;
    f[10] = lba >> 40;
    f[12] = count;
    f[13] = count >> 8;
}

/* A non-queued command on slot: returns PxIS afterwards (then cleared). */
static uint32_t run_cmd(Ctx *c, int port, int slot, const uint8_t *fis,
                        const uint8_t *acmd, const PRD *prd, int nprd,
                        bool write)
{
    build_cmd(c, port, slot, fis, acmd, prd, nprd, nprd, 5, write);
    wr(c, PX(port, PX_CI), 1u << slot);
    uint32_t is = wait_done(c, port, 1u << slot);
    wr(c, PX(port, PX_IS), is);
    wr(c, IS, ~0u);
    return is;
}

static uint32_t prdbc(Ctx *c, int port, int slot)
{
    return qtest_readl(c->s, CLB_BASE + port * 0x1000 + slot * 32 + 4);
}

static void pread_file(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

static void check_identify_works(Ctx *c);

/* --- the PCI function and the HBA --- */

static void test_pci_probe(void)
{
    Ctx c = { 0 };

    start(&c);
    g_assert_cmphex(qpci_config_readw(c.dev, PCI_VENDOR_ID), ==, 0x8086);
    g_assert_cmphex(qpci_config_readw(c.dev, PCI_DEVICE_ID), ==, 0x2922);
    g_assert_cmphex(qpci_config_readb(c.dev, PCI_CLASS_PROG), ==, 0x01);
    g_assert_cmphex(qpci_config_readw(c.dev, PCI_CLASS_DEVICE), ==, 0x0106);
    g_assert_cmphex(qpci_config_readb(c.dev, PCI_INTERRUPT_PIN), ==, 1);
    g_assert_cmpuint(qpci_find_capability(c.dev, PCI_CAP_ID_MSI, 0), ==,
                     0x80);
    uint8_t sata = qpci_find_capability(c.dev, 0x12, 0);
    g_assert_cmpuint(sata, ==, 0xa8);
    /* SATACR1: the index/data pair in BAR4 at offset 0x10 */
    g_assert_cmphex(qpci_config_readl(c.dev, sata + 4), ==, 0x48);
    /* BAR5 is a 2 KiB memory BAR, BAR4 32 bytes of I/O */
    uint64_t size;
    qpci_iomap(c.dev, 4, &size);
    g_assert_cmpuint(size, ==, 32);
    g_assert_false(c.abar.is_io);

    uint32_t cap = rd(&c, CAP);
    g_assert_cmphex(cap & 0x1f, ==, 5);             /* 6 ports */
    g_assert_cmphex((cap >> 8) & 0x1f, ==, 31);     /* 32 slots */
    g_assert_true(cap & (1u << 30));                /* NCQ */
    g_assert_true(cap & (1u << 31));                /* 64-bit */
    g_assert_cmphex(rd(&c, PI), ==, 0x3f);
    g_assert_cmphex(rd(&c, VS), ==, 0x00010300);
    g_assert_cmphex(rd(&c, GHC), ==, GHC_AE);
    /* the disk and the CD announce themselves; port 1 is empty */
    g_assert_cmphex(rd(&c, PX(0, PX_SIG)), ==, 0x00000101);
    g_assert_cmphex(rd(&c, PX(0, PX_SSTS)) & 0xf, ==, 3);
    g_assert_cmphex(rd(&c, PX(2, PX_SIG)), ==, 0xeb140101);
    g_assert_true(rd(&c, PX(2, PX_CMD)) & CMD_ATAPI);
    g_assert_cmphex(rd(&c, PX(1, PX_SSTS)) & 0xf, ==, 0);
    /* the index/data pair reads the ABAR */
    QPCIBar idp = qpci_iomap(c.dev, 4, NULL);
    qpci_io_writel(c.dev, idp, 0x10, VS);
    g_assert_cmphex(qpci_io_readl(c.dev, idp, 0x14), ==, 0x00010300);
    stop(&c);
}

static void test_hba_reset(void)
{
    Ctx c = { 0 };

    start(&c);
    port_start(&c, 0);
    wr(&c, GHC, GHC_IE);
    g_assert_cmphex(rd(&c, GHC), ==, GHC_AE | GHC_IE);
    g_assert_cmphex(rd(&c, PX(0, PX_CLB)), ==, CLB_BASE);
    g_assert_true(rd(&c, PX(0, PX_CMD)) & CMD_CR);
    wr(&c, GHC, GHC_HR);
    g_assert_cmphex(rd(&c, GHC), ==, GHC_AE);       /* HR done: reads 0 */
    g_assert_cmphex(rd(&c, PX(0, PX_CLB)), ==, 0);
    g_assert_cmphex(rd(&c, PX(0, PX_IE)), ==, 0);
    g_assert_cmphex(rd(&c, PX(0, PX_CMD)) & (CMD_ST | CMD_CR | CMD_FRE), ==,
                    0);
    g_assert_cmphex(rd(&c, PX(0, PX_SIG)), ==, 0x101);
    g_assert_cmphex(rd(&c, PX(0, PX_TFD)) & 0xff, ==, 0x50);
    stop(&c);
}

/* Software reset by two Control FISes (C = 0), as a driver's softreset. */
static void test_soft_reset(void)
{
    Ctx c = { 0 };
    uint8_t fis[20] = { 0x27 };

    start(&c);
    port_start(&c, 0);
    fis[15] = 0x04;         /* SRST */
    build_cmd(&c, 0, 0, fis, NULL, NULL, 0, 0, 5, false);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_cmphex(rd(&c, PX(0, PX_CI)), ==, 0);
    g_assert_true(rd(&c, PX(0, PX_TFD)) & 0x80);   /* BSY while held */
    /* command list override clears BSY and DRQ, and reads back 0 */
    wr(&c, PX(0, PX_CMD), CMD_FRE | CMD_ST | (1u << 3));
    g_assert_false(rd(&c, PX(0, PX_TFD)) & 0x88);
    g_assert_false(rd(&c, PX(0, PX_CMD)) & (1u << 3));
    fis[15] = 0;
    build_cmd(&c, 0, 1, fis, NULL, NULL, 0, 0, 5, false);
    wr(&c, PX(0, PX_CI), 2);
    g_assert_cmphex(rd(&c, PX(0, PX_CI)), ==, 0);
    g_assert_cmphex(rd(&c, PX(0, PX_TFD)) & 0xff, ==, 0x50);
    g_assert_cmphex(rd(&c, PX(0, PX_SIG)), ==, 0x101);
    /* the signature FIS: sector count 1, LBA low 1 */
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x40), ==, 0x34);
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x4c), ==, 1);
    check_identify_works(&c);
    stop(&c);
}

static void test_port_start_stop(void)
{
    Ctx c = { 0 };

    start(&c);
    wr(&c, PX(0, PX_CLB), CLB_BASE);
    wr(&c, PX(0, PX_FB), FB_BASE);
    wr(&c, PX(0, PX_CMD), CMD_FRE);
    g_assert_true(rd(&c, PX(0, PX_CMD)) & CMD_FR);
    wr(&c, PX(0, PX_CMD), CMD_FRE | CMD_ST);
    g_assert_true(rd(&c, PX(0, PX_CMD)) & CMD_CR);
    wr(&c, PX(0, PX_CMD), CMD_FRE);
    g_assert_false(rd(&c, PX(0, PX_CMD)) & CMD_CR);
    wr(&c, PX(0, PX_CMD), 0);
    g_assert_false(rd(&c, PX(0, PX_CMD)) & CMD_FR);
    /* COMRESET: the device's D2H FIS with its signature comes back */
    wr(&c, PX(0, PX_CMD), CMD_FRE);
    wr(&c, PX(0, PX_SCTL), 1);
    wr(&c, PX(0, PX_SCTL), 0);
    g_assert_cmphex(rd(&c, PX(0, PX_SSTS)) & 0xf, ==, 3);
    g_assert_cmphex(rd(&c, PX(0, PX_SIG)), ==, 0x101);
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x40), ==, 0x34);
    stop(&c);
}

/* --- commands --- */

static void test_identify(void)
{
    Ctx c = { 0 };
    uint8_t fis[20];
    uint16_t id[256];
    PRD prd = { BUF_BASE, 512 };

    start(&c);
    wr(&c, GHC, GHC_IE);
    port_start(&c, 0);
    qtest_memset(c.s, BUF_BASE, 0xaa, 512);
    h2d(fis, 0xec, 0, 0);
    fis[7] = 0;
    build_cmd(&c, 0, 3, fis, NULL, &prd, 1, 1, 5, false);
    wr(&c, PX(0, PX_CI), 1u << 3);
    uint32_t is = wait_done(&c, 0, 1u << 3);
    g_assert_cmphex(is & (IS_DHRS | IS_PSS | IS_TFES), ==, IS_DHRS | IS_PSS);
    /* the HBA interrupt is up (INTx: the status bit) until acknowledged */
    g_assert_true(rd(&c, IS) & 1);
    g_assert_true(qpci_config_readw(c.dev, PCI_STATUS) & PCI_STATUS_INTERRUPT);
    wr(&c, PX(0, PX_IS), is);
    wr(&c, IS, 1);
    g_assert_false(qpci_config_readw(c.dev, PCI_STATUS) &
                   PCI_STATUS_INTERRUPT);
    g_assert_cmpuint(prdbc(&c, 0, 3), ==, 512);
    qtest_memread(c.s, BUF_BASE, id, 512);
    /* model "QEMU HARDDISK", LBA48 size, NCQ with 32 tags */
    g_assert_cmphex(GUINT16_FROM_LE(id[27]), ==, 'Q' << 8 | 'E');
    g_assert_cmpuint(GUINT16_FROM_LE(id[100]), ==, DISK_SECTORS);
    g_assert_true(GUINT16_FROM_LE(id[76]) & (1 << 8));
    g_assert_cmpuint(GUINT16_FROM_LE(id[75]), ==, 31);
    g_assert_cmphex(rd(&c, PX(0, PX_TFD)) & 0xff, ==, 0x50);
    /* the D2H FIS and the PIO Setup FIS in the received-FIS area */
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x40), ==, 0x34);
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x42), ==, 0x50);
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x20), ==, 0x5f);

    /* the CD answers IDENTIFY with an abort, and IDENTIFY PACKET */
    port_start(&c, 2);
    g_assert_true(run_cmd(&c, 2, 0, fis, NULL, &prd, 1, false) & IS_TFES);
    g_assert_cmphex(rd(&c, PX(2, PX_TFD)) & 0xff01, ==, 0x0401);
    wr(&c, PX(2, PX_CMD), CMD_FRE);     /* recover: ST off, then on */
    wr(&c, PX(2, PX_CMD), CMD_FRE | CMD_ST);
    h2d(fis, 0xa1, 0, 0);
    g_assert_false(run_cmd(&c, 2, 0, fis, NULL, &prd, 1, false) & IS_TFES);
    qtest_memread(c.s, BUF_BASE, id, 512);
    g_assert_cmphex(GUINT16_FROM_LE(id[0]) >> 14, ==, 2);   /* ATAPI */
    stop(&c);
}

/*
 * MSI instead of INTx: the message is aimed at RAM (outside the APIC
 * window a message is a plain memory write), so the test sees each one.
 */
static void test_msi(void)
{
    Ctx c = { 0 };
    uint8_t fis[20];
    PRD prd = { BUF_BASE, 512 };
    const uint64_t msi_addr = 0x300000;

    start(&c);
    qpci_config_writel(c.dev, 0x80 + 4, msi_addr);
    qpci_config_writew(c.dev, 0x80 + 8, 0x4321);
    qpci_config_writew(c.dev, 0x80 + 2, 1);         /* MSI enable */
    wr(&c, GHC, GHC_IE);
    port_start(&c, 0);
    for (int i = 0; i < 2; i++) {
        qtest_writel(c.s, msi_addr, 0);
        h2d(fis, 0xec, 0, 0);
        build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 1, 5, false);
        wr(&c, PX(0, PX_CI), 1);
        uint32_t is = wait_done(&c, 0, 1);
        g_assert_true(is & IS_DHRS);
        g_assert_cmphex(qtest_readl(c.s, msi_addr), ==, 0x4321);
        g_assert_false(qpci_config_readw(c.dev, PCI_STATUS) &
                       PCI_STATUS_INTERRUPT);
        /* acknowledged: the next completion sends a new message */
        wr(&c, PX(0, PX_IS), is);
        wr(&c, IS, 1);
    }
    /* a port that is still pending when IS is written signals again */
    qtest_writel(c.s, msi_addr, 0);
    build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 1, 5, false);
    wr(&c, PX(0, PX_CI), 1);
    wait_done(&c, 0, 1);
    g_assert_cmphex(qtest_readl(c.s, msi_addr), ==, 0x4321);
    qtest_writel(c.s, msi_addr, 0);
    wr(&c, IS, 1);          /* PxIS not cleared first */
    g_assert_cmphex(qtest_readl(c.s, msi_addr), ==, 0x4321);
    stop(&c);
}

static void test_dma_read_write(void)
{
    Ctx c = { 0 };
    uint8_t fis[20];
    g_autofree uint8_t *buf = g_malloc(64 * 512);
    g_autofree uint8_t *img = g_malloc(64 * 512);

    start(&c);
    port_start(&c, 0);
    /* 64 sectors from LBA 100 through three uneven PRDs */
    PRD prd[3] = { { BUF_BASE, 4096 }, { BUF_BASE + 0x10000, 10240 },
                   { BUF_BASE + 0x20000, 64 * 512 - 4096 - 10240 } };
    h2d(fis, 0x25, 100, 64);
    g_assert_cmphex(run_cmd(&c, 0, 0, fis, NULL, prd, 3, false) &
                    (IS_TFES | IS_DHRS), ==, IS_DHRS);
    g_assert_cmpuint(prdbc(&c, 0, 0), ==, 64 * 512);
    for (int i = 0, off = 0; i < 3; off += prd[i].len, i++) {
        qtest_memread(c.s, prd[i].addr, buf + off, prd[i].len);
    }
    pread_file(c.disk, 100 * 512, img, 64 * 512);
    g_assert_cmpmem(buf, 64 * 512, img, 64 * 512);

    /* write a pattern to LBA 2000 and find it in the image */
    for (int i = 0; i < 16 * 512; i++) {
        buf[i] = i * 7 + 3;
    }
    qtest_memwrite(c.s, BUF_BASE, buf, 16 * 512);
    PRD w = { BUF_BASE, 16 * 512 };
    h2d(fis, 0x35, 2000, 16);
    g_assert_false(run_cmd(&c, 0, 5, fis, NULL, &w, 1, true) & IS_TFES);
    pread_file(c.disk, 2000 * 512, img, 16 * 512);
    g_assert_cmpmem(buf, 16 * 512, img, 16 * 512);

    /* FLUSH CACHE EXT */
    h2d(fis, 0xea, 0, 0);
    g_assert_false(run_cmd(&c, 0, 1, fis, NULL, NULL, 0, false) & IS_TFES);

    /* an LBA past the end: IDNF */
    h2d(fis, 0x25, DISK_SECTORS, 1);
    g_assert_true(run_cmd(&c, 0, 2, fis, NULL, prd, 1, false) & IS_TFES);
    g_assert_cmphex(rd(&c, PX(0, PX_TFD)) >> 8, ==, 0x10);
    g_assert_true(rd(&c, PX(0, PX_CI)) & (1u << 2));   /* kept for EH */
    stop(&c);
}

static void test_ncq(void)
{
    Ctx c = { 0 };
    uint8_t fis[20];
    g_autofree uint8_t *buf = g_malloc(8 * 512);
    g_autofree uint8_t *img = g_malloc(8 * 512);

    start(&c);
    wr(&c, GHC, GHC_IE);
    port_start(&c, 0);
    /* tag 7 writes 8 sectors at LBA 300, tag 9 reads 8 from LBA 40 */
    for (int i = 0; i < 8 * 512; i++) {
        buf[i] = i ^ 0x5a;
    }
    qtest_memwrite(c.s, BUF_BASE, buf, 8 * 512);
    PRD pw = { BUF_BASE, 8 * 512 }, pr = { BUF_BASE + 0x100000, 8 * 512 };
    h2d(fis, 0x61, 300, 0);
    fis[3] = 8;             /* count in FEATURES */
    fis[12] = 7 << 3;       /* tag */
    build_cmd(&c, 0, 7, fis, NULL, &pw, 1, 1, 5, true);
    h2d(fis, 0x60, 40, 0);
    fis[3] = 8;
    fis[12] = 9 << 3;
    build_cmd(&c, 0, 9, fis, NULL, &pr, 1, 1, 5, false);
    wr(&c, PX(0, PX_SACT), 1u << 7 | 1u << 9);
    wr(&c, PX(0, PX_CI), 1u << 7 | 1u << 9);
    uint32_t is = wait_done(&c, 0, 1u << 7 | 1u << 9);
    g_assert_cmphex(is & (IS_SDBS | IS_TFES), ==, IS_SDBS);
    g_assert_cmphex(rd(&c, PX(0, PX_SACT)), ==, 0);
    g_assert_cmphex(rd(&c, PX(0, PX_CI)), ==, 0);
    g_assert_cmphex(qtest_readb(c.s, FB_BASE + 0x58), ==, 0xa1);
    pread_file(c.disk, 300 * 512, img, 8 * 512);
    g_assert_cmpmem(buf, 8 * 512, img, 8 * 512);
    qtest_memread(c.s, BUF_BASE + 0x100000, buf, 8 * 512);
    pread_file(c.disk, 40 * 512, img, 8 * 512);
    g_assert_cmpmem(buf, 8 * 512, img, 8 * 512);

    /* a tag that is not its slot fails the command */
    wr(&c, PX(0, PX_IS), ~0u);
    h2d(fis, 0x60, 40, 0);
    fis[3] = 1;
    fis[12] = 3 << 3;
    build_cmd(&c, 0, 4, fis, NULL, &pr, 1, 1, 5, false);
    wr(&c, PX(0, PX_SACT), 1u << 4);
    wr(&c, PX(0, PX_CI), 1u << 4);
    g_assert_true(wait_done(&c, 0, 1u << 4) & IS_TFES);
    stop(&c);
}

static void test_atapi_read10(void)
{
    Ctx c = { 0 };
    uint8_t fis[20], acmd[12] = { 0x28 };
    g_autofree uint8_t *buf = g_malloc(4 * 2048);
    g_autofree uint8_t *img = g_malloc(4 * 2048);

    start(&c);
    port_start(&c, 2);
    /* the CD reports a unit attention first after power-on: clear it */
    h2d(fis, 0xa0, 0, 0);
    fis[3] = 1;             /* DMA */
    uint8_t tur[12] = { 0 };
    run_cmd(&c, 2, 0, fis, tur, NULL, 0, false);
    wr(&c, PX(2, PX_CMD), CMD_FRE);
    wr(&c, PX(2, PX_CMD), CMD_FRE | CMD_ST);

    acmd[5] = 10;           /* LBA 10 */
    acmd[8] = 4;            /* 4 sectors */
    PRD prd[2] = { { BUF_BASE, 2048 }, { BUF_BASE + 0x8000, 3 * 2048 } };
    h2d(fis, 0xa0, 0, 0);
    fis[3] = 1;
    g_assert_cmphex(run_cmd(&c, 2, 1, fis, acmd, prd, 2, false) & IS_TFES,
                    ==, 0);
    g_assert_cmpuint(prdbc(&c, 2, 1), ==, 4 * 2048);
    qtest_memread(c.s, BUF_BASE, buf, 2048);
    qtest_memread(c.s, BUF_BASE + 0x8000, buf + 2048, 3 * 2048);
    pread_file(c.cd, 10 * 2048, img, 4 * 2048);
    g_assert_cmpmem(buf, 4 * 2048, img, 4 * 2048);

    /* the same by PIO (DMA bit clear): the HBA moves the DRQ blocks */
    qtest_memset(c.s, BUF_BASE, 0, 0x10000);
    fis[3] = 0;
    fis[5] = 0x00;
    fis[6] = 0x08;          /* byte count limit 2048 */
    g_assert_false(run_cmd(&c, 2, 1, fis, acmd, prd, 2, false) & IS_TFES);
    qtest_memread(c.s, BUF_BASE + 0x8000, buf + 2048, 3 * 2048);
    g_assert_cmpmem(buf + 2048, 3 * 2048, img + 2048, 3 * 2048);
    stop(&c);
}

/* --- hostile command lists --- */

/* After an error the port halts; ST off and on brings it back. */
static void recover(Ctx *c, int port)
{
    g_assert_cmphex(rd(c, PX(port, PX_CI)), !=, 0);
    wr(c, PX(port, PX_CMD), CMD_FRE);
    g_assert_cmphex(rd(c, PX(port, PX_CI)), ==, 0);
    port_start(c, port);
}

static void check_identify_works(Ctx *c)
{
    uint8_t fis[20];
    PRD prd = { BUF_BASE, 512 };

    h2d(fis, 0xec, 0, 0);
    g_assert_cmphex(run_cmd(c, 0, 0, fis, NULL, &prd, 1, false) & IS_TFES,
                    ==, 0);
    g_assert_cmpuint(prdbc(c, 0, 0), ==, 512);
}

static void test_hostile_tables(void)
{
    Ctx c = { 0 };
    uint8_t fis[20];
    PRD prd = { BUF_BASE, 512 };
    uint64_t hdr = CLB_BASE;

    start(&c);
    port_start(&c, 0);

    /* a command table beyond RAM: host bus fatal error */
    h2d(fis, 0x25, 0, 1);
    build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 1, 5, false);
    qtest_writel(c.s, hdr + 8, 0xfff00000);
    qtest_writel(c.s, hdr + 12, 0x7f);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_true(wait_done(&c, 0, 1) & IS_HBFS);
    recover(&c, 0);
    check_identify_works(&c);

    /* the table's CFIS in RAM, its PRDT past the end of RAM */
    build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 1, 5, false);
    qtest_memwrite(c.s, RAM_END - 0x80, fis, 20);
    qtest_writel(c.s, hdr + 8, RAM_END - 0x80);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_true(wait_done(&c, 0, 1) & IS_HBFS);
    recover(&c, 0);
    check_identify_works(&c);

    /* the command list itself beyond RAM */
    wr(&c, PX(0, PX_CMD), CMD_FRE);
    wr(&c, PX(0, PX_CLB), 0xfffffc00);
    wr(&c, PX(0, PX_CMD), CMD_FRE | CMD_ST);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_true(wait_done(&c, 0, 1) & IS_HBFS);
    recover(&c, 0);

    /* CFL 0, 1 and 31; a D2H FIS type in the command FIS */
    for (int i = 0; i < 4; i++) {
        static const uint32_t cfl[4] = { 0, 1, 31, 5 };
        h2d(fis, 0xec, 0, 0);
        if (i == 3) {
            fis[0] = 0x34;
        }
        build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 1, cfl[i], false);
        wr(&c, PX(0, PX_CI), 1);
        g_assert_true(wait_done(&c, 0, 1) & IS_TFES);
        recover(&c, 0);
    }

    /* PRDTL 0 for a read: overflow, the command fails */
    h2d(fis, 0x25, 0, 8);
    build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 0, 5, false);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_true(wait_done(&c, 0, 1) & (IS_OFS | IS_TFES));
    recover(&c, 0);

    /* PRDTL 65535: only the entries the transfer needs are read */
    build_cmd(&c, 0, 0, fis, NULL, &(PRD){ BUF_BASE, 4096 }, 1, 65535, 5,
              false);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_cmphex(wait_done(&c, 0, 1) & IS_TFES, ==, 0);
    g_assert_cmpuint(prdbc(&c, 0, 0), ==, 4096);

    /* a 4 MiB PRD running past the end of RAM: host bus data error */
    wr(&c, PX(0, PX_IS), ~0u);
    h2d(fis, 0x25, 0, 1024);
    build_cmd(&c, 0, 0, fis, NULL,
              &(PRD){ RAM_END - 0x1000, 4u << 20 }, 1, 1, 5, false);
    qtest_writel(c.s, CTBA_BASE + 0x80 + 12, 0xffffffff);   /* all bits */
    wr(&c, PX(0, PX_CI), 1);
    g_assert_true(wait_done(&c, 0, 1) & (IS_HBDS | IS_TFES));
    recover(&c, 0);
    check_identify_works(&c);

    /* a PRD aimed at the ABAR: the data is not a register write */
    uint32_t ie = rd(&c, PX(0, PX_IE));
    h2d(fis, 0x25, 0, 8);
    build_cmd(&c, 0, 0, fis, NULL, &(PRD){ qpci_bar_addr(c.abar), 0x800 },
              1, 1, 5, false);
    wr(&c, PX(0, PX_CI), 1);
    wait_done(&c, 0, 1);
    g_assert_cmphex(rd(&c, PX(0, PX_IE)), ==, ie);
    g_assert_cmphex(rd(&c, PX(0, PX_CLB)), ==, CLB_BASE);
    g_assert_true(rd(&c, PX(0, PX_CMD)) & CMD_ST);

    /* the FIS area beyond RAM: FISes go nowhere, commands still run */
    wr(&c, PX(0, PX_CMD), 0);
    wr(&c, PX(0, PX_FB), 0xffffff00);
    wr(&c, PX(0, PX_FBU), 0xffffffff);
    wr(&c, PX(0, PX_CMD), CMD_FRE | CMD_ST);
    check_identify_works(&c);
    stop(&c);
}

static void test_hostile_registers(void)
{
    Ctx c = { 0 };
    uint8_t fis[20];
    PRD prd = { BUF_BASE, 512 };

    start(&c);
    /* commands issued with ST off are not taken */
    wr(&c, PX(0, PX_CLB), CLB_BASE);
    wr(&c, PX(0, PX_FB), FB_BASE);
    h2d(fis, 0xec, 0, 0);
    build_cmd(&c, 0, 0, fis, NULL, &prd, 1, 1, 5, false);
    wr(&c, PX(0, PX_CI), 1);
    g_assert_cmphex(rd(&c, PX(0, PX_CI)), ==, 0);
    g_assert_cmphex(rd(&c, PX(0, PX_IS)), ==, 0);
    /* ports 6-31 are not implemented: their registers read 0 */
    for (int p = 6; p < 14; p++) {
        wr(&c, PX(p, PX_CMD), CMD_ST | CMD_FRE);
        wr(&c, PX(p, PX_CI), ~0u);
        g_assert_cmphex(rd(&c, PX(p, PX_CI)), ==, 0);
        g_assert_cmphex(rd(&c, PX(p, PX_CMD)), ==, 0);
    }
    /* an empty port takes no commands */
    port_start(&c, 1);
    build_cmd(&c, 1, 0, fis, NULL, &prd, 1, 1, 5, false);
    wr(&c, PX(1, PX_CI), 1);
    wait_done(&c, 1, 1);
    /* byte writes are ignored; the device still works */
    qpci_io_writeb(c.dev, c.abar, PX(0, PX_CMD), 0xff);
    g_assert_false(rd(&c, PX(0, PX_CMD)) & CMD_ST);
    port_start(&c, 0);
    check_identify_works(&c);
    /* stopping the port in the middle of a long read cancels it */
    h2d(fis, 0x25, 0, 8000);
    build_cmd(&c, 0, 1, fis, NULL, &(PRD){ BUF_BASE, 4u << 20 }, 1, 1, 5,
              false);
    wr(&c, PX(0, PX_CI), 2);
    wr(&c, PX(0, PX_CMD), CMD_FRE);
    g_assert_cmphex(rd(&c, PX(0, PX_CI)), ==, 0);
    port_start(&c, 0);
    check_identify_works(&c);
    stop(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ahci/pci-probe", test_pci_probe);
    g_test_add_func("/ahci/hba-reset", test_hba_reset);
    g_test_add_func("/ahci/port-start-stop", test_port_start_stop);
    g_test_add_func("/ahci/soft-reset", test_soft_reset);
    g_test_add_func("/ahci/identify", test_identify);
    g_test_add_func("/ahci/dma-read-write", test_dma_read_write);
    g_test_add_func("/ahci/ncq", test_ncq);
    g_test_add_func("/ahci/msi", test_msi);
    g_test_add_func("/ahci/atapi-read10", test_atapi_read10);
    g_test_add_func("/ahci/hostile-tables", test_hostile_tables);
    g_test_add_func("/ahci/hostile-registers", test_hostile_registers);
    return g_test_run();
}
