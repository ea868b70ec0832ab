/*
 * The PIIX3 IDE function and its ATA disks on pc (ATA/ATAPI-6, SFF-8038i):
 * IDENTIFY, PIO and bus-master DMA reads and writes checked against the
 * image file, LBA48 and CHS addressing, error status for bad LBAs and
 * unknown commands, absent devices, software reset, and hostile PRD tables.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"
#include "pci.h"

#define IDE_BASE        0x1f0
#define IDE_CTRL        0x3f6
#define IDE2_BASE       0x170
#define IDE_IRQ         14

#define REG_DATA        0
#define REG_ERROR       1
#define REG_FEATURE     1
#define REG_NSECTOR     2
#define REG_SECTOR      3
#define REG_LCYL        4
#define REG_HCYL        5
#define REG_SELECT      6
#define REG_STATUS      7
#define REG_COMMAND     7

#define BSY             0x80
#define DRDY            0x40
#define DRQ             0x08
#define ERR             0x01
#define ABRT            0x04
#define IDNF            0x10

#define CMD_READ        0x20
#define CMD_READ_EXT    0x24
#define CMD_READ_DMA    0xc8
#define CMD_WRITE       0x30
#define CMD_WRITE_EXT   0x34
#define CMD_WRITE_DMA   0xca
#define CMD_READ_MULT   0xc4
#define CMD_SET_MULT    0xc6
#define CMD_FLUSH       0xe7
#define CMD_IDENTIFY    0xec

#define BM_CMD          0
#define BM_STATUS       2
#define BM_PRD          4

#define DISK_SECTORS    32768       /* 16 MiB */
#define PRD_ADDR        0x100000
#define BUF_ADDR        0x200000

typedef struct Ctx {
    QTestState *s;
    char *image;
    QPCIBus *pcibus;
    QPCIDevice *dev;
    QPCIBar bmdma;
} Ctx;

static char *make_image(void)
{
    char *path = qtest_tmp_path("ide-disk.img");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    uint8_t sector[512];

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, DISK_SECTORS * 512ULL), ==, 0);
    /* each of the first 64 sectors says its number */
    for (int i = 0; i < 64; i++) {
        memset(sector, i, sizeof(sector));
        memcpy(sector, &i, sizeof(i));
        g_assert_cmpint(pwrite(fd, sector, 512, i * 512), ==, 512);
    }
    close(fd);
    return path;
}

static void start(Ctx *c, const char *extra)
{
    c->image = make_image();
    c->s = qtest_initf("-M pc -m 128M -drive file=%s,if=ide,format=raw %s",
                       c->image, extra ? extra : "");
    qtest_irq_intercept_in(c->s, "ioapic");
}

static void start_dma(Ctx *c, const char *extra)
{
    start(c, extra);
    c->pcibus = qpci_new_pc(c->s);
    c->dev = qpci_device_find(c->pcibus, PCI_DEVFN(1, 1));
    g_assert_nonnull(c->dev);
    qpci_device_enable(c->dev);
    c->bmdma = qpci_iomap(c->dev, 4, NULL);
}

static void stop(Ctx *c)
{
    if (c->pcibus) {
        g_free(c->dev);
        qpci_free(c->pcibus);
    }
    qtest_quit(c->s);
    unlink(c->image);
    g_free(c->image);
}

static uint8_t status_alt(Ctx *c)
{
    return qtest_inb(c->s, IDE_CTRL);
}

/* Polls the alternate status until BSY clears (the block layer runs on
 * the main loop between our commands). */
static uint8_t wait_ready(Ctx *c)
{
    for (int i = 0; i < 200000; i++) {
        uint8_t st = status_alt(c);
        if (!(st & BSY)) {
            return st;
        }
        if (i > 100) {
            g_usleep(100);
        }
    }
    g_assert_not_reached();
}

static void set_lba28(Ctx *c, uint32_t lba, uint8_t count)
{
    qtest_outb(c->s, IDE_BASE + REG_SELECT, 0xe0 | ((lba >> 24) & 0x0f));
    qtest_outb(c->s, IDE_BASE + REG_NSECTOR, count);
    qtest_outb(c->s, IDE_BASE + REG_SECTOR, lba);
    qtest_outb(c->s, IDE_BASE + REG_LCYL, lba >> 8);
    qtest_outb(c->s, IDE_BASE + REG_HCYL, lba >> 16);
}

static void set_lba48(Ctx *c, uint64_t lba, uint16_t count)
{
    qtest_outb(c->s, IDE_BASE + REG_SELECT, 0xe0);
    qtest_outb(c->s, IDE_BASE + REG_NSECTOR, count >> 8);
    qtest_outb(c->s, IDE_BASE + REG_SECTOR, lba >> 24);
    qtest_outb(c->s, IDE_BASE + REG_LCYL, lba >> 32);
    qtest_outb(c->s, IDE_BASE + REG_HCYL, lba >> 40);
    qtest_outb(c->s, IDE_BASE + REG_NSECTOR, count);
    qtest_outb(c->s, IDE_BASE + REG_SECTOR, lba);
    qtest_outb(c->s, IDE_BASE + REG_LCYL, lba >> 8);
    qtest_outb(c->s, IDE_BASE + REG_HCYL, lba >> 16);
}

static void pio_read(Ctx *c, void *buf, size_t bytes)
{
    uint16_t *w = buf;

    for (size_t i = 0; i < bytes / 2; i++) {
        w[i] = qtest_inw(c->s, IDE_BASE + REG_DATA);
    }
}

static void pio_write(Ctx *c, const void *buf, size_t bytes)
{
    const uint16_t *w = buf;

    for (size_t i = 0; i < bytes / 2; i++) {
        qtest_outw(c->s, IDE_BASE + REG_DATA, w[i]);
    }
}

/* Reads count sectors by PIO (one DRQ block each), checking each phase. */
static void read_sectors(Ctx *c, uint8_t cmd, uint32_t lba, int count,
                         int per_block, uint8_t *buf)
{
    set_lba28(c, lba, count);
    qtest_outb(c->s, IDE_BASE + REG_COMMAND, cmd);
    for (int done = 0; done < count; done += per_block) {
        int n = MIN(per_block, count - done);
        uint8_t st = wait_ready(c);
        g_assert_cmphex(st & (DRQ | ERR), ==, DRQ);
        g_assert_true(qtest_get_irq(c->s, IDE_IRQ));
        /* reading the status register acknowledges the interrupt */
        qtest_inb(c->s, IDE_BASE + REG_STATUS);
        g_assert_false(qtest_get_irq(c->s, IDE_IRQ));
        pio_read(c, buf + done * 512, n * 512);
    }
    g_assert_cmphex(wait_ready(c), ==, DRDY | 0x10);
}

static void pread_image(Ctx *c, uint64_t off, void *buf, size_t len)
{
    int fd = open(c->image, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

static void identify_string(const uint16_t *w, int first, int words,
                            char *out)
{
    for (int i = 0; i < words; i++) {
        out[2 * i] = w[first + i] >> 8;
        out[2 * i + 1] = w[first + i];
    }
    out[2 * words] = 0;
    g_strchomp(out);
}

static void test_identify(void)
{
    Ctx c = { 0 };
    uint16_t id[256];
    char model[41], fw[9];

    start(&c, NULL);
    /* power-on: the disk's signature and a ready status */
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_STATUS), ==, 0x50);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_NSECTOR), ==, 1);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_LCYL), ==, 0);
    qtest_outb(c.s, IDE_BASE + REG_SELECT, 0xa0);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_IDENTIFY);
    g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, DRQ);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    pio_read(&c, id, sizeof(id));
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_STATUS), ==, 0x50);

    g_assert_cmphex(id[0], ==, 0x0040);
    identify_string(id, 27, 20, model);
    g_assert_cmpstr(model, ==, "QEMU HARDDISK");
    identify_string(id, 23, 4, fw);
    g_assert_cmpstr(fw, !=, "");
    g_assert_cmpuint(id[60] | (uint32_t)id[61] << 16, ==, DISK_SECTORS);
    g_assert_cmpuint(id[100] | (uint32_t)id[101] << 16, ==, DISK_SECTORS);
    g_assert_cmphex(id[49] & 0x0300, ==, 0x0300);      /* LBA, DMA */
    g_assert_true(id[83] & (1 << 10));                  /* LBA48 */
    g_assert_true(id[83] & (1 << 12));                  /* FLUSH CACHE */
    g_assert_true(id[83] & (1 << 13));                  /* ... EXT */
    g_assert_true(id[82] & (1 << 5));                   /* write cache */
    g_assert_true(id[85] & (1 << 5));                   /* ... enabled */
    g_assert_cmphex(id[88] & 0xff, ==, 0x3f);           /* UDMA 0-5 */
    g_assert_cmphex(id[63] & 0xff, ==, 0x07);           /* MWDMA 0-2 */
    g_assert_cmpuint(id[47] & 0xff, >, 0);              /* READ MULTIPLE */
    stop(&c);
}

static void test_pio_read_write(void)
{
    Ctx c = { 0 };
    uint8_t out[8 * 512], in[8 * 512], file[8 * 512];

    start(&c, NULL);
    read_sectors(&c, CMD_READ, 7, 2, 1, in);
    g_assert_cmpint(*(int *)in, ==, 7);
    g_assert_cmpint(*(int *)(in + 512), ==, 8);
    g_assert_cmphex(in[511], ==, 7);

    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = i * 7 + 3;
    }
    set_lba28(&c, 1000, 3);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_WRITE);
    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, DRQ);
        pio_write(&c, out + i * 512, 512);
    }
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_FLUSH);
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    pread_image(&c, 1000 * 512, file, 3 * 512);
    g_assert_cmpmem(file, 3 * 512, out, 3 * 512);

    /* READ MULTIPLE in blocks of 4 after SET MULTIPLE MODE */
    qtest_outb(c.s, IDE_BASE + REG_NSECTOR, 4);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_SET_MULT);
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    read_sectors(&c, CMD_READ_MULT, 998, 6, 4, in);
    g_assert_cmpint(*(int *)in, ==, 0);
    g_assert_cmpmem(in + 1024, 3 * 512, out, 3 * 512);
    /* a multiple count that is not a power of two is refused */
    qtest_outb(c.s, IDE_BASE + REG_NSECTOR, 3);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_SET_MULT);
    g_assert_cmphex(wait_ready(&c) & ERR, ==, ERR);
    stop(&c);
}

static void test_lba48(void)
{
    Ctx c = { 0 };
    uint8_t out[1024], in[1024];

    start(&c, NULL);
    memset(out, 0x5a, sizeof(out));
    set_lba48(&c, DISK_SECTORS - 2, 2);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_WRITE_EXT);
    for (int i = 0; i < 2; i++) {
        g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, DRQ);
        pio_write(&c, out + i * 512, 512);
    }
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    set_lba48(&c, DISK_SECTORS - 2, 2);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ_EXT);
    for (int i = 0; i < 2; i++) {
        g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, DRQ);
        pio_read(&c, in + i * 512, 512);
    }
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    g_assert_cmphex(wait_ready(&c), ==, 0x50);

    /* the high-order bytes count: LBA 2^24 + 1 is past this disk */
    set_lba48(&c, (1ULL << 24) + 1, 1);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ_EXT);
    g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, ERR);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_ERROR), ==, IDNF);
    stop(&c);
}

static void test_read_past_end(void)
{
    Ctx c = { 0 };

    start(&c, NULL);
    /* the last sector plus one */
    set_lba28(&c, DISK_SECTORS - 1, 2);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ);
    g_assert_cmphex(wait_ready(&c) & (DRQ | ERR | DRDY), ==, ERR | DRDY);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_ERROR), ==, IDNF);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    set_lba28(&c, 0x0fffffff, 1);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_WRITE);
    g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, ERR);
    /* a read of the last sector still works */
    uint8_t buf[512];
    read_sectors(&c, CMD_READ, DISK_SECTORS - 1, 1, 1, buf);
    stop(&c);
}

static void test_chs(void)
{
    Ctx c = { 0 };
    uint8_t buf[512];

    start(&c, NULL);
    /* cylinder 0, head 0, sector 1 is LBA 0; C/H/S 0/0/40 is LBA 39 */
    qtest_outb(c.s, IDE_BASE + REG_SELECT, 0xa0);
    qtest_outb(c.s, IDE_BASE + REG_NSECTOR, 1);
    qtest_outb(c.s, IDE_BASE + REG_SECTOR, 40);
    qtest_outb(c.s, IDE_BASE + REG_LCYL, 0);
    qtest_outb(c.s, IDE_BASE + REG_HCYL, 0);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ);
    g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, DRQ);
    pio_read(&c, buf, 512);
    g_assert_cmpint(*(int *)buf, ==, 39);
    /* sector 0 does not exist in CHS */
    qtest_outb(c.s, IDE_BASE + REG_SECTOR, 0);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ);
    g_assert_cmphex(wait_ready(&c) & ERR, ==, ERR);
    stop(&c);
}

static void test_absent_devices(void)
{
    Ctx c = { 0 };

    start(&c, NULL);
    /* the absent slave reads as QEMU's: zero status and error */
    qtest_outb(c.s, IDE_BASE + REG_SELECT, 0xb0);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_STATUS), ==, 0);
    g_assert_cmphex(status_alt(&c), ==, 0);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_IDENTIFY);
    g_assert_cmphex(status_alt(&c), ==, 0);
    g_assert_false(qtest_get_irq(c.s, IDE_IRQ));
    g_assert_cmphex(qtest_inw(c.s, IDE_BASE + REG_DATA), ==, 0);
    /* the master still answers */
    qtest_outb(c.s, IDE_BASE + REG_SELECT, 0xa0);
    g_assert_cmphex(status_alt(&c), ==, 0x50);
    /* the empty secondary channel */
    g_assert_cmphex(qtest_inb(c.s, IDE2_BASE + REG_STATUS), ==, 0);
    qtest_outb(c.s, IDE2_BASE + REG_COMMAND, CMD_IDENTIFY);
    g_assert_cmphex(qtest_inb(c.s, IDE2_BASE + REG_STATUS), ==, 0);
    g_assert_false(qtest_get_irq(c.s, 15));
    stop(&c);
}

static void test_unknown_command_and_flush(void)
{
    Ctx c = { 0 };

    start(&c, NULL);
    qtest_outb(c.s, IDE_BASE + REG_SELECT, 0xa0);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, 0xb0);     /* SMART */
    g_assert_cmphex(wait_ready(&c), ==, DRDY | ERR);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_ERROR), ==, ABRT);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    qtest_inb(c.s, IDE_BASE + REG_STATUS);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, 0xff);
    g_assert_cmphex(wait_ready(&c) & ERR, ==, ERR);
    qtest_inb(c.s, IDE_BASE + REG_STATUS);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_FLUSH);
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    qtest_inb(c.s, IDE_BASE + REG_STATUS);
    /* FLUSH CACHE EXT */
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, 0xea);
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    /* nIEN: the interrupt stays low */
    qtest_inb(c.s, IDE_BASE + REG_STATUS);
    qtest_outb(c.s, IDE_CTRL, 0x02);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_FLUSH);
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    g_assert_false(qtest_get_irq(c.s, IDE_IRQ));
    stop(&c);
}

static void test_software_reset(void)
{
    Ctx c = { 0 };

    start(&c, NULL);
    /* leave the disk in the middle of a PIO read */
    set_lba28(&c, 0, 4);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ);
    g_assert_cmphex(wait_ready(&c) & DRQ, ==, DRQ);
    qtest_outb(c.s, IDE_CTRL, 0x04);            /* SRST */
    g_assert_cmphex(status_alt(&c) & BSY, ==, BSY);
    qtest_outb(c.s, IDE_CTRL, 0x00);
    g_assert_cmphex(wait_ready(&c), ==, 0x50);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_ERROR), ==, 0x01);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_NSECTOR), ==, 1);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_SECTOR), ==, 1);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_LCYL), ==, 0);
    g_assert_cmphex(qtest_inb(c.s, IDE_BASE + REG_HCYL), ==, 0);
    /* and it works again */
    uint8_t buf[512];
    read_sectors(&c, CMD_READ, 3, 1, 1, buf);
    g_assert_cmpint(*(int *)buf, ==, 3);
    stop(&c);
}

/* --- bus-master DMA --- */

static void prd_put(Ctx *c, int i, uint32_t addr, uint32_t len, bool eot)
{
    qtest_writel(c->s, PRD_ADDR + i * 8, addr);
    qtest_writel(c->s, PRD_ADDR + i * 8 + 4,
                 (len & 0xffff) | (eot ? 0x80000000u : 0));
}

/* Runs one DMA command; returns the BM status (device status in *st). */
static uint8_t dma_cmd(Ctx *c, uint8_t cmd, uint32_t lba, uint8_t count,
                       uint8_t *st)
{
    bool to_memory = cmd == CMD_READ_DMA;

    qpci_io_writeb(c->dev, c->bmdma, BM_CMD, 0);
    qpci_io_writeb(c->dev, c->bmdma, BM_STATUS, 0x06);  /* clear INT, ERR */
    qpci_io_writel(c->dev, c->bmdma, BM_PRD, PRD_ADDR);
    set_lba28(c, lba, count);
    qtest_outb(c->s, IDE_BASE + REG_COMMAND, cmd);
    qpci_io_writeb(c->dev, c->bmdma, BM_CMD, (to_memory ? 0x08 : 0) | 1);
    for (int i = 0; i < 200000; i++) {
        uint8_t bm = qpci_io_readb(c->dev, c->bmdma, BM_STATUS);
        if ((bm & 0x04) || !(bm & 0x01)) {
            *st = wait_ready(c);
            qpci_io_writeb(c->dev, c->bmdma, BM_CMD, 0);
            return bm;
        }
        if (i > 100) {
            g_usleep(100);
        }
    }
    g_assert_not_reached();
}

static void test_dma_read_write(void)
{
    Ctx c = { 0 };
    uint8_t out[8192], in[8192], file[8192];
    uint8_t st, bm;

    start_dma(&c, NULL);
    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = i ^ (i >> 8) ^ 0xa5;
    }
    qtest_memwrite(c.s, BUF_ADDR, out, sizeof(out));
    /* two entries: 4 KiB, then 4 KiB elsewhere */
    qtest_memwrite(c.s, BUF_ADDR + 0x10000, out + 4096, 4096);
    prd_put(&c, 0, BUF_ADDR, 4096, false);
    prd_put(&c, 1, BUF_ADDR + 0x10000, 4096, true);
    bm = dma_cmd(&c, CMD_WRITE_DMA, 2000, 16, &st);
    g_assert_cmphex(bm & 0x07, ==, 0x04);       /* INT, not active */
    g_assert_cmphex(st, ==, 0x50);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    qtest_inb(c.s, IDE_BASE + REG_STATUS);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_FLUSH);
    wait_ready(&c);
    pread_image(&c, 2000 * 512, file, sizeof(file));
    g_assert_cmpmem(file, sizeof(file), out, sizeof(out));

    qtest_memset(c.s, BUF_ADDR + 0x40000, 0, sizeof(in));
    prd_put(&c, 0, BUF_ADDR + 0x40000, 8192, true);
    bm = dma_cmd(&c, CMD_READ_DMA, 2000, 16, &st);
    g_assert_cmphex(bm & 0x07, ==, 0x04);
    g_assert_cmphex(st, ==, 0x50);
    qtest_memread(c.s, BUF_ADDR + 0x40000, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    /* a zero byte count is 64 KiB */
    prd_put(&c, 0, BUF_ADDR + 0x100000, 0, true);
    bm = dma_cmd(&c, CMD_READ_DMA, 0, 128, &st);
    g_assert_cmphex(st, ==, 0x50);
    g_assert_cmphex(bm & 0x07, ==, 0x04);
    g_assert_cmpuint(qtest_readl(c.s, BUF_ADDR + 0x100000 + 127 * 512), ==,
                     0);
    g_assert_cmpuint(qtest_readl(c.s, BUF_ADDR + 0x100000 + 63 * 512), ==,
                     63);
    stop(&c);
}

static void test_dma_hostile_prd(void)
{
    Ctx c = { 0 };
    uint8_t st, bm;

    start_dma(&c, NULL);
    /* a table that never ends: 8192 entries of 2 bytes, no EOT */
    {
        g_autofree uint8_t *tab = g_malloc(65536);
        for (int i = 0; i < 8192; i++) {
            uint32_t e[2] = { BUF_ADDR, 2 };
            memcpy(tab + i * 8, e, 8);
        }
        qtest_memwrite(c.s, PRD_ADDR, tab, 65536);
    }
    bm = dma_cmd(&c, CMD_READ_DMA, 0, 255, &st);
    g_assert_cmphex(st & ERR, ==, ERR);
    g_assert_cmphex(bm & 0x01, ==, 0);
    g_assert_true(qtest_get_irq(c.s, IDE_IRQ));
    qtest_inb(c.s, IDE_BASE + REG_STATUS);

    /* fewer bytes than the command moves */
    prd_put(&c, 0, BUF_ADDR, 512, true);
    bm = dma_cmd(&c, CMD_READ_DMA, 0, 4, &st);
    g_assert_cmphex(st & ERR, ==, ERR);
    g_assert_cmphex(bm & 0x05, ==, 0x04);
    qtest_inb(c.s, IDE_BASE + REG_STATUS);
    bm = dma_cmd(&c, CMD_WRITE_DMA, 0, 4, &st);
    g_assert_cmphex(st & ERR, ==, ERR);
    qtest_inb(c.s, IDE_BASE + REG_STATUS);

    /* memory that isn't there: a bus error */
    prd_put(&c, 0, 0x20000000, 4096, true);
    bm = dma_cmd(&c, CMD_READ_DMA, 0, 8, &st);
    g_assert_cmphex(st & ERR, ==, ERR);
    g_assert_cmphex(bm & 0x03, ==, 0x02);
    qpci_io_writeb(c.dev, c.bmdma, BM_STATUS, 0x02);
    g_assert_cmphex(qpci_io_readb(c.dev, c.bmdma, BM_STATUS) & 0x02, ==, 0);
    bm = dma_cmd(&c, CMD_WRITE_DMA, 0, 8, &st);
    g_assert_cmphex(st & ERR, ==, ERR);
    /* the table itself outside RAM */
    qpci_io_writeb(c.dev, c.bmdma, BM_CMD, 0);
    qpci_io_writel(c.dev, c.bmdma, BM_PRD, 0x30000000);
    set_lba28(&c, 0, 1);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ_DMA);
    qpci_io_writeb(c.dev, c.bmdma, BM_CMD, 0x09);
    g_assert_cmphex(wait_ready(&c) & ERR, ==, ERR);
    qpci_io_writeb(c.dev, c.bmdma, BM_CMD, 0);

    /* stopping the engine in the middle of a command */
    prd_put(&c, 0, BUF_ADDR, 512, true);
    qpci_io_writel(c.dev, c.bmdma, BM_PRD, PRD_ADDR);
    set_lba28(&c, 0, 1);
    qtest_outb(c.s, IDE_BASE + REG_COMMAND, CMD_READ_DMA);
    qpci_io_writeb(c.dev, c.bmdma, BM_CMD, 0);
    qtest_outb(c.s, IDE_CTRL, 0x04);
    qtest_outb(c.s, IDE_CTRL, 0x00);
    wait_ready(&c);

    /* and after all that, a good transfer */
    prd_put(&c, 0, BUF_ADDR, 512, true);
    bm = dma_cmd(&c, CMD_READ_DMA, 5, 1, &st);
    g_assert_cmphex(st, ==, 0x50);
    g_assert_cmpuint(qtest_readl(c.s, BUF_ADDR), ==, 5);
    stop(&c);
}

static void test_pci_config(void)
{
    Ctx c = { 0 };

    start_dma(&c, NULL);
    g_assert_cmphex(qpci_config_readw(c.dev, 0x00), ==, 0x8086);
    g_assert_cmphex(qpci_config_readw(c.dev, 0x02), ==, 0x7010);
    g_assert_cmphex(qpci_config_readl(c.dev, 0x08) >> 8, ==, 0x010180);
    g_assert_cmphex(qpci_config_readw(c.dev, 0x40), ==, 0x8000);
    qpci_config_writew(c.dev, 0x40, 0xa307);
    qpci_config_writew(c.dev, 0x42, 0x8000 | 0x77);
    g_assert_cmphex(qpci_config_readw(c.dev, 0x40), ==, 0xa307);
    g_assert_cmphex(qpci_config_readw(c.dev, 0x42), ==, 0x8077);
    g_assert_cmphex(qpci_io_readb(c.dev, c.bmdma, BM_STATUS), ==, 0);
    /* the drive-capable bits are the software's */
    qpci_io_writeb(c.dev, c.bmdma, BM_STATUS, 0x60);
    g_assert_cmphex(qpci_io_readb(c.dev, c.bmdma, BM_STATUS), ==, 0x60);
    qpci_io_writel(c.dev, c.bmdma, BM_PRD, 0x12345677);
    g_assert_cmphex(qpci_io_readl(c.dev, c.bmdma, BM_PRD), ==, 0x12345674);
    stop(&c);
}

static void test_qmp_block(void)
{
    Ctx c = { 0 };

    start(&c, "-drive if=ide,media=cdrom,index=2");
    json_t *r = qtest_qmp(c.s, "{'execute': 'query-block'}");
    json_t *list = json_object_get(r, "return");
    bool seen_hd = false, seen_cd = false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *b = json_array_get(list, i);
        const char *dev = json_string_value(json_object_get(b, "device"));
        if (!strcmp(dev, "ide0-hd0")) {
            seen_hd = true;
            g_assert_false(json_is_true(json_object_get(b, "removable")));
            g_assert_nonnull(json_object_get(b, "inserted"));
        } else if (!strcmp(dev, "ide1-cd0")) {
            seen_cd = true;
            g_assert_true(json_is_true(json_object_get(b, "removable")));
            g_assert_false(json_is_true(json_object_get(b, "tray_open")));
            g_assert_null(json_object_get(b, "inserted"));
        }
    }
    g_assert_true(seen_hd && seen_cd);
    json_decref(r);
    /* a disk is not removable */
    r = qtest_qmp(c.s, "{'execute': 'eject', 'arguments': "
                  "{'device': 'ide0-hd0'}}");
    g_assert_cmpstr(json_string_value(json_object_get(
        json_object_get(r, "error"), "desc")), ==,
        "Device 'ide0-hd0' is not removable");
    json_decref(r);
    stop(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ide/identify", test_identify);
    g_test_add_func("/ide/pio/read-write", test_pio_read_write);
    g_test_add_func("/ide/pio/lba48", test_lba48);
    g_test_add_func("/ide/pio/read-past-end", test_read_past_end);
    g_test_add_func("/ide/pio/chs", test_chs);
    g_test_add_func("/ide/absent-devices", test_absent_devices);
    g_test_add_func("/ide/unknown-command-flush-nien",
                   test_unknown_command_and_flush);
    g_test_add_func("/ide/software-reset", test_software_reset);
    g_test_add_func("/ide/dma/read-write", test_dma_read_write);
    g_test_add_func("/ide/dma/hostile-prd", test_dma_hostile_prd);
    g_test_add_func("/ide/pci-config", test_pci_config);
    g_test_add_func("/ide/qmp/query-block", test_qmp_block);
    return g_test_run();
}
