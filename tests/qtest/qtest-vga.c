/*
 * The standard VGA (PCI 1234:1111) as firmware and guests drive it: PCI
 * identity and BARs, Bochs VBE DISPI modes through the ports and the MMIO
 * BAR with pixels written to the linear framebuffer and the banked
 * window, alphanumeric mode with a font loaded into plane 2, planar
 * 16-colour and mode 13h graphics, all checked in screendumps (PPM, PNG,
 * HMP); and hostile register values that must leave the device answering.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pci.h"
#include "vga-regs.h"

#define PCI_ROM_ADDRESS 0x30

typedef struct VGATest {
    QTestState *s;
    QPCIBus *bus;
    QPCIDevice *dev;
    int count;
} VGATest;

static void find_vga(QPCIDevice *d, int devfn, void *data)
{
    VGATest *t = data;

    t->count++;
    g_free(t->dev);
    t->dev = d;
}

static VGATest *vga_start(const char *extra)
{
    VGATest *t = g_new0(VGATest, 1);

    t->s = qtest_initf("-M pc -device VGA %s", extra ? extra : "");
    t->bus = qpci_new_pc(t->s);
    qpci_device_foreach(t->bus, 0x1234, 0x1111, find_vga, t);
    g_assert_cmpint(t->count, ==, 1);
    return t;
}

static void vga_stop(VGATest *t)
{
    g_free(t->dev);
    qpci_free(t->bus);
    qtest_quit(t->s);
    g_free(t);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    gchar *data = NULL;
    gsize n = 0;

    g_assert_true(g_file_get_contents(path, &data, &n, NULL));
    *len = n;
    return (uint8_t *)data;
}

/* Parses a binary PPM as screendump writes it ("P6\nW H\n255\n"). */
static Image screendump_ppm(QTestState *s)
{
    g_autofree char *path = qtest_tmp_path("screen.ppm");
    Image img = { 0 };
    size_t len, hdr;
    uint8_t *data;
    int n = 0;

    qtest_qmp_assert_success(s, "{'execute': 'screendump', 'arguments': "
                             "{'filename': '%s'}}", path);
    data = read_file(path, &len);
    /* not "%d %d\n255\n": a newline in a format skips pixel bytes too */
    g_assert_cmpint(sscanf((char *)data, "P6\n%d %d%n", &img.w, &img.h, &n),
                    ==, 2);
    g_assert_cmpint(n, >, 0);
    g_assert_cmpmem(data + n, 5, "\n255\n", 5);
    hdr = n + 5;
    g_assert_cmpuint(len, ==, hdr + (size_t)img.w * img.h * 3);
    img.rgb = g_memdup2(data + hdr, len - hdr);
    g_free(data);
    unlink(path);
    return img;
}

/* ---- PCI ---- */

static void test_pci_bars(void)
{
    VGATest *t = vga_start(NULL);
    uint64_t size;
    QPCIBar bar;

    g_assert_cmphex(qpci_config_readw(t->dev, PCI_CLASS_DEVICE), ==, 0x0300);
    g_assert_cmphex(qpci_config_readb(t->dev, PCI_REVISION_ID), ==, 2);
    g_assert_cmphex(qpci_config_readw(t->dev, PCI_SUBSYSTEM_VENDOR_ID), ==,
                    0x1af4);
    g_assert_cmphex(qpci_config_readw(t->dev, PCI_SUBSYSTEM_ID), ==, 0x1100);
    /* BAR0: 32-bit prefetchable memory, the framebuffer */
    g_assert_cmphex(qpci_config_readl(t->dev, PCI_BASE_ADDRESS_0) & 0xf, ==,
                    0x8);
    bar = qpci_iomap(t->dev, 0, &size);
    g_assert_cmphex(size, ==, 16 << 20);
    g_assert_false(bar.is_io);
    /* BAR2: 4 KiB of MMIO registers */
    bar = qpci_iomap(t->dev, 2, &size);
    g_assert_cmphex(size, ==, 4096);
    g_assert_false(bar.is_io);
    /* the VGA BIOS as an expansion ROM */
    qpci_config_writel(t->dev, PCI_ROM_ADDRESS, 0xfffff800);
    g_assert_cmphex(qpci_config_readl(t->dev, PCI_ROM_ADDRESS), !=, 0);
    vga_stop(t);
}

static void test_vgamem_mb(void)
{
    VGATest *t = g_new0(VGATest, 1);
    uint64_t size;

    t->s = qtest_init("-M pc -device VGA,vgamem_mb=32");
    t->bus = qpci_new_pc(t->s);
    qpci_device_foreach(t->bus, 0x1234, 0x1111, find_vga, t);
    g_assert_cmpint(t->count, ==, 1);
    qpci_iomap(t->dev, 0, &size);
    g_assert_cmphex(size, ==, 32 << 20);
    g_assert_cmpuint(vbe_read(t->s, VBE_VIDEO_MEMORY_64K), ==, 512);
    vga_stop(t);
}

/* ---- Bochs VBE ---- */

static void test_dispi_id(void)
{
    VGATest *t = vga_start(NULL);

    g_assert_cmphex(vbe_read(t->s, VBE_ID), ==, 0xb0c5);
    vbe_write(t->s, VBE_ID, 0xb0c0);
    g_assert_cmphex(vbe_read(t->s, VBE_ID), ==, 0xb0c0);
    /* not a DISPI version: ignored */
    vbe_write(t->s, VBE_ID, 0x1234);
    g_assert_cmphex(vbe_read(t->s, VBE_ID), ==, 0xb0c0);
    g_assert_cmpuint(vbe_read(t->s, VBE_VIDEO_MEMORY_64K), ==, 256);
    /* GETCAPS: the maxima instead of the current mode */
    vbe_write(t->s, VBE_ENABLE, VBE_GETCAPS);
    g_assert_cmpuint(vbe_read(t->s, VBE_XRES), ==, 16000);
    g_assert_cmpuint(vbe_read(t->s, VBE_YRES), ==, 12000);
    g_assert_cmpuint(vbe_read(t->s, VBE_BPP), ==, 32);
    vga_stop(t);
}

static void vbe_set_mode(QTestState *s, int w, int h, int bpp, int flags)
{
    vbe_write(s, VBE_ENABLE, 0);
    vbe_write(s, VBE_XRES, w);
    vbe_write(s, VBE_YRES, h);
    vbe_write(s, VBE_BPP, bpp);
    vbe_write(s, VBE_ENABLE, VBE_ENABLED | flags);
    display_on(s);
}

static void test_vbe_lfb_32bpp(void)
{
    VGATest *t = vga_start(NULL);
    uint64_t size;
    QPCIBar fb;
    Image img;

    qpci_device_enable(t->dev);
    fb = qpci_iomap(t->dev, 0, &size);
    vbe_set_mode(t->s, 64, 48, 32, VBE_LFB);
    g_assert_cmpuint(vbe_read(t->s, VBE_XRES), ==, 64);
    g_assert_cmpuint(vbe_read(t->s, VBE_VIRT_WIDTH), ==, 64);
    /* red at (10, 5), green at (63, 47): B, G, R, X in memory */
    qtest_writel(t->s, fb.addr + (5 * 64 + 10) * 4, 0x00ff0000);
    qtest_writel(t->s, fb.addr + (47 * 64 + 63) * 4, 0x0000ff00);
    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 64);
    g_assert_cmpint(img.h, ==, 48);
    g_assert_cmphex(pixel(&img, 10, 5), ==, 0xff0000);
    g_assert_cmphex(pixel(&img, 63, 47), ==, 0x00ff00);
    g_assert_cmphex(pixel(&img, 0, 0), ==, 0);
    g_free(img.rgb);

    /* panning: the Y offset moves row 5 to the top */
    vbe_write(t->s, VBE_VIRT_WIDTH, 64);
    vbe_write(t->s, VBE_Y_OFFSET, 5);
    img = screendump_ppm(t->s);
    g_assert_cmphex(pixel(&img, 10, 0), ==, 0xff0000);
    g_free(img.rgb);
    vga_stop(t);
}

static void test_vbe_16bpp_and_8bpp(void)
{
    VGATest *t = vga_start(NULL);
    uint64_t size;
    QPCIBar fb;
    Image img;

    qpci_device_enable(t->dev);
    fb = qpci_iomap(t->dev, 0, &size);
    vbe_set_mode(t->s, 32, 16, 16, VBE_LFB);
    qtest_writew(t->s, fb.addr + (3 * 32 + 4) * 2, 0xf800);    /* red */
    qtest_writew(t->s, fb.addr + (3 * 32 + 5) * 2, 0x001f);    /* blue */
    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 32);
    g_assert_cmphex(pixel(&img, 4, 3), ==, 0xff0000);
    g_assert_cmphex(pixel(&img, 5, 3), ==, 0x0000ff);
    g_free(img.rgb);

    /* 8 bpp goes through the DAC (6-bit components) */
    vbe_set_mode(t->s, 32, 16, 8, VBE_LFB);
    dac_set(t->s, 7, 0x3f, 0x20, 0);
    qtest_writeb(t->s, fb.addr + 2 * 32 + 9, 7);
    img = screendump_ppm(t->s);
    g_assert_cmphex(pixel(&img, 9, 2), ==, 0xff8200);
    g_free(img.rgb);
    vga_stop(t);
}

/* The DISPI registers in BAR2 at 0x500, the VGA ports at 0x400. */
static void test_vbe_mmio_bar(void)
{
    VGATest *t = vga_start(NULL);
    uint64_t size;
    QPCIBar mmio;

    qpci_device_enable(t->dev);
    mmio = qpci_iomap(t->dev, 2, &size);
    g_assert_cmphex(qpci_io_readw(t->dev, mmio, 0x500), ==, 0xb0c5);
    qpci_io_writew(t->dev, mmio, 0x500 + VBE_XRES * 2, 800);
    g_assert_cmpuint(vbe_read(t->s, VBE_XRES), ==, 800);
    /* a word to 0x3c4/0x3c5 through the MMIO window: index, data */
    qpci_io_writew(t->dev, mmio, 0x404, 0x0f02);
    qtest_outb(t->s, 0x3c4, 2);
    g_assert_cmphex(qtest_inb(t->s, 0x3c5), ==, 0x0f);
    /* QEMU's extended registers: size, little-endian framebuffer */
    g_assert_cmphex(qpci_io_readl(t->dev, mmio, 0x604), ==, 0x1e1e1e1e);
    vga_stop(t);
}

/* Without LFB, the 64 KiB window at 0xA0000 shows bank N of VRAM. */
static void test_vbe_banked_window(void)
{
    VGATest *t = vga_start(NULL);
    uint64_t size;
    QPCIBar fb;

    qpci_device_enable(t->dev);
    fb = qpci_iomap(t->dev, 0, &size);
    vbe_set_mode(t->s, 640, 480, 8, 0);
    vbe_write(t->s, VBE_BANK, 2);
    qtest_writeb(t->s, 0xa0010, 0x5a);
    g_assert_cmphex(qtest_readb(t->s, fb.addr + 0x20010), ==, 0x5a);
    g_assert_cmphex(qtest_readb(t->s, 0xa0010), ==, 0x5a);
    vbe_write(t->s, VBE_BANK, 0);
    g_assert_cmphex(qtest_readb(t->s, 0xa0010), ==, 0);
    /* a bank past VRAM wraps into it */
    vbe_write(t->s, VBE_BANK, 0xffff);
    g_assert_cmpuint(vbe_read(t->s, VBE_BANK), ==, 255);
    vga_stop(t);
}

/* ---- legacy VGA modes ---- */

/* The standard 16-entry attribute palette and its DAC colours. */
#define BLUE    0x0000aa
#define WHITE   0xffffff

/* 80x25 colour text, 8-dot characters, 16 scanlines, cursor off. */
static void setup_text_mode(QTestState *s, bool nine_dots)
{
    qtest_outb(s, 0x3c2, 0x67);
    sr_write(s, 1, nine_dots ? 0x00 : 0x01);
    sr_write(s, 2, 0x03);
    sr_write(s, 3, 0x00);
    sr_write(s, 4, 0x02);
    gr_write(s, 5, 0x10);
    gr_write(s, 6, 0x0e);
    gr_write(s, 8, 0xff);       /* every bit from the CPU */
    cr_write(s, 0x11, 0x00);
    cr_write(s, 0x01, 79);
    cr_write(s, 0x07, 0x1f);
    cr_write(s, 0x09, 0x0f);
    cr_write(s, 0x0a, 0x20);
    cr_write(s, 0x0c, 0);
    cr_write(s, 0x0d, 0);
    cr_write(s, 0x12, 0x8f);
    cr_write(s, 0x13, 40);
    cr_write(s, 0x17, 0xa3);
    ega_palette(s);
    ar_write(s, 0x10, 0x04);    /* line graphics, no blink */
    display_on(s);
}

/* Plane 2 through sequential addressing at 0xA0000, as the VGA BIOS
 * loads the font; then back to odd/even text addressing. */
static void load_glyph(QTestState *s, uint8_t ch, const uint8_t *rows)
{
    sr_write(s, 2, 0x04);
    sr_write(s, 4, 0x06);
    gr_write(s, 4, 0x02);
    gr_write(s, 5, 0x00);
    gr_write(s, 6, 0x04);
    for (int i = 0; i < 16; i++) {
        qtest_writeb(s, 0xa0000 + ch * 32 + i, rows[i]);
    }
    sr_write(s, 2, 0x03);
    sr_write(s, 4, 0x02);
    gr_write(s, 4, 0x00);
    gr_write(s, 5, 0x10);
    gr_write(s, 6, 0x0e);
}

static void text_put(QTestState *s, int col, int row, uint8_t ch,
                     uint8_t attr)
{
    qtest_writeb(s, 0xb8000 + (row * 80 + col) * 2, ch);
    qtest_writeb(s, 0xb8000 + (row * 80 + col) * 2 + 1, attr);
}

static void test_text_mode(void)
{
    VGATest *t = vga_start(NULL);
    uint8_t glyph[16], blank[16] = { 0 };
    Image img;

    setup_text_mode(t->s, false);
    for (int i = 0; i < 16; i++) {
        glyph[i] = 0x81;        /* the cell's left and right columns */
    }
    load_glyph(t->s, 'A', glyph);
    load_glyph(t->s, ' ', blank);
    for (int r = 0; r < 25; r++) {
        for (int c = 0; c < 80; c++) {
            text_put(t->s, c, r, ' ', 0x1f);
        }
    }
    text_put(t->s, 3, 2, 'A', 0x1f);
    /* the text buffer reads back through odd/even addressing */
    g_assert_cmphex(qtest_readb(t->s, 0xb8000 + (2 * 80 + 3) * 2), ==, 'A');
    g_assert_cmphex(qtest_readb(t->s, 0xb8000 + (2 * 80 + 3) * 2 + 1), ==,
                    0x1f);

    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 640);
    g_assert_cmpint(img.h, ==, 400);
    g_assert_cmphex(pixel(&img, 3 * 8, 2 * 16), ==, WHITE);
    g_assert_cmphex(pixel(&img, 3 * 8 + 7, 2 * 16 + 15), ==, WHITE);
    g_assert_cmphex(pixel(&img, 3 * 8 + 1, 2 * 16), ==, BLUE);
    g_assert_cmphex(pixel(&img, 4 * 8, 2 * 16), ==, BLUE);
    g_assert_cmphex(pixel(&img, 0, 0), ==, BLUE);
    g_free(img.rgb);

    /* the glyph comes from plane 2: a new font changes the screen */
    glyph[0] = 0xff;
    load_glyph(t->s, 'A', glyph);
    img = screendump_ppm(t->s);
    g_assert_cmphex(pixel(&img, 3 * 8 + 3, 2 * 16), ==, WHITE);
    g_assert_cmphex(pixel(&img, 3 * 8 + 3, 2 * 16 + 1), ==, BLUE);
    g_free(img.rgb);

    /* the cursor: scanlines 14-15 of its cell in the foreground colour */
    cr_write(t->s, 0x0a, 14);
    cr_write(t->s, 0x0b, 15);
    cr_write(t->s, 0x0e, 0);
    cr_write(t->s, 0x0f, 10);
    img = screendump_ppm(t->s);
    g_assert_cmphex(pixel(&img, 10 * 8 + 3, 15), ==, WHITE);
    g_assert_cmphex(pixel(&img, 10 * 8 + 3, 13), ==, BLUE);
    g_free(img.rgb);

    /* 9-dot characters: 720 wide; the line-drawing range repeats dot 8 */
    sr_write(t->s, 1, 0x00);
    cr_write(t->s, 0x0a, 0x20);
    load_glyph(t->s, 0xc4, glyph);
    text_put(t->s, 5, 0, 0xc4, 0x1f);
    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 720);
    g_assert_cmphex(pixel(&img, 3 * 9, 2 * 16), ==, WHITE);
    g_assert_cmphex(pixel(&img, 3 * 9 + 8, 2 * 16), ==, BLUE);
    g_assert_cmphex(pixel(&img, 5 * 9 + 8, 0), ==, WHITE);
    g_free(img.rgb);
    vga_stop(t);
}

/* Mode 12h: 640x480 planar, written with set/reset and the bit mask. */
static void test_planar_16_colours(void)
{
    VGATest *t = vga_start(NULL);
    Image img;

    qtest_outb(t->s, 0x3c2, 0xe3);
    sr_write(t->s, 1, 0x01);
    sr_write(t->s, 2, 0x0f);
    sr_write(t->s, 4, 0x06);
    gr_write(t->s, 5, 0x00);
    gr_write(t->s, 6, 0x05);
    cr_write(t->s, 0x11, 0x00);
    cr_write(t->s, 0x01, 79);
    cr_write(t->s, 0x07, 0x12);
    cr_write(t->s, 0x09, 0x40);
    cr_write(t->s, 0x12, 0xdf);
    cr_write(t->s, 0x13, 40);
    cr_write(t->s, 0x17, 0xe3);
    ega_palette(t->s);
    ar_write(t->s, 0x10, 0x01);
    display_on(t->s);

    /* write mode 0, set/reset colour 12 on all planes, leftmost pixel */
    gr_write(t->s, 0, 0x0c);
    gr_write(t->s, 1, 0x0f);
    gr_write(t->s, 8, 0x80);
    qtest_writeb(t->s, 0xa0000, 0xff);
    /* write mode 2: colour 9 at pixel 1 of row 1 */
    gr_write(t->s, 5, 0x02);
    gr_write(t->s, 8, 0x40);
    qtest_writeb(t->s, 0xa0000 + 80, 0x09);
    gr_write(t->s, 5, 0x00);
    gr_write(t->s, 1, 0x00);
    gr_write(t->s, 8, 0xff);

    /* read mode 0 per plane, read mode 1 compares colours */
    gr_write(t->s, 4, 2);
    g_assert_cmphex(qtest_readb(t->s, 0xa0000), ==, 0x80);
    gr_write(t->s, 4, 0);
    g_assert_cmphex(qtest_readb(t->s, 0xa0000), ==, 0x00);
    gr_write(t->s, 5, 0x08);
    gr_write(t->s, 2, 0x0c);
    gr_write(t->s, 7, 0x0f);
    g_assert_cmphex(qtest_readb(t->s, 0xa0000), ==, 0x80);
    gr_write(t->s, 2, 0x00);
    g_assert_cmphex(qtest_readb(t->s, 0xa0000), ==, 0x7f);
    gr_write(t->s, 5, 0x00);

    /* write mode 1 copies the latches: row 0's byte to row 2 */
    qtest_readb(t->s, 0xa0000);
    gr_write(t->s, 5, 0x01);
    qtest_writeb(t->s, 0xa0000 + 160, 0);
    gr_write(t->s, 5, 0x00);

    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 640);
    g_assert_cmpint(img.h, ==, 480);
    g_assert_cmphex(pixel(&img, 0, 0), ==, 0xaa0000);
    g_assert_cmphex(pixel(&img, 1, 0), ==, 0);
    g_assert_cmphex(pixel(&img, 1, 1), ==, 0x0000aa);
    g_assert_cmphex(pixel(&img, 0, 2), ==, 0xaa0000);
    g_free(img.rgb);
    vga_stop(t);
}

/* Mode 13h: chain-4, 320x200 shown doubled as 640x400. */
static void test_mode_13h(void)
{
    VGATest *t = vga_start(NULL);
    Image img;

    qtest_outb(t->s, 0x3c2, 0x63);
    sr_write(t->s, 1, 0x01);
    sr_write(t->s, 2, 0x0f);
    sr_write(t->s, 4, 0x0e);
    gr_write(t->s, 5, 0x40);
    gr_write(t->s, 6, 0x05);
    cr_write(t->s, 0x11, 0x00);
    cr_write(t->s, 0x01, 79);
    cr_write(t->s, 0x07, 0x1f);
    cr_write(t->s, 0x09, 0x41);
    cr_write(t->s, 0x12, 0x8f);
    cr_write(t->s, 0x13, 40);
    cr_write(t->s, 0x17, 0xa3);
    ega_palette(t->s);
    ar_write(t->s, 0x10, 0x41);
    display_on(t->s);
    dac_set(t->s, 0x42, 63, 0, 0);
    qtest_writeb(t->s, 0xa0000 + 10 * 320 + 20, 0x42);
    g_assert_cmphex(qtest_readb(t->s, 0xa0000 + 10 * 320 + 20), ==, 0x42);

    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 640);
    g_assert_cmpint(img.h, ==, 400);
    g_assert_cmphex(pixel(&img, 40, 20), ==, 0xff0000);
    g_assert_cmphex(pixel(&img, 41, 21), ==, 0xff0000);
    g_assert_cmphex(pixel(&img, 42, 20), ==, 0);
    g_free(img.rgb);
    vga_stop(t);
}

/* ---- hostile values ---- */

static void test_register_ranges(void)
{
    VGATest *t = vga_start(NULL);
    static const uint16_t index_ports[] = { 0x3c4, 0x3ce, 0x3d4, 0x3b4 };
    GRand *rnd = g_rand_new_with_seed(8);
    Image img;

    for (int round = 0; round < 2; round++) {
        for (size_t p = 0; p < G_N_ELEMENTS(index_ports); p++) {
            /* 0x3b4 answers with misc output bit 0 clear */
            qtest_outb(t->s, 0x3c2, p == 3 ? 0x00 : 0x01);
            for (int i = 0; i < 256; i++) {
                qtest_outb(t->s, index_ports[p], i);
                qtest_outb(t->s, index_ports[p] + 1, g_rand_int(rnd));
                qtest_inb(t->s, index_ports[p] + 1);
            }
        }
        for (int i = 0; i < 256; i++) {
            ar_write(t->s, i, g_rand_int(rnd));
            qtest_inb(t->s, 0x3c1);
            qtest_outb(t->s, 0x3c9, g_rand_int(rnd));
            qtest_inb(t->s, 0x3c9);
            qtest_outw(t->s, VBE_INDEX, i);
            qtest_outw(t->s, VBE_DATA, g_rand_int(rnd));
            qtest_inw(t->s, VBE_DATA);
        }
        for (int i = 0; i < 64; i++) {
            qtest_writeb(t->s, 0xa0000 + g_rand_int_range(rnd, 0, 0x20000),
                         g_rand_int(rnd));
            qtest_readb(t->s, 0xa0000 + g_rand_int_range(rnd, 0, 0x20000));
        }
        display_on(t->s);
        img = screendump_ppm(t->s);
        g_assert_cmpint(img.w, >, 0);
        g_free(img.rgb);
        vbe_write(t->s, VBE_ENABLE, 0);
    }

    /* the same device still answers */
    vbe_write(t->s, VBE_ID, 0xb0c5);
    g_assert_cmphex(vbe_read(t->s, VBE_ID), ==, 0xb0c5);
    qtest_outb(t->s, 0x3c4, 2);
    qtest_outb(t->s, 0x3c5, 0x0f);
    g_assert_cmphex(qtest_inb(t->s, 0x3c5), ==, 0x0f);
    g_rand_free(rnd);
    vga_stop(t);
}

/* Modes that would not fit in VRAM are clamped, never rendered past it. */
static void test_vbe_out_of_range(void)
{
    VGATest *t = vga_start(NULL);
    uint32_t xres, yres, vw;
    Image img;

    vbe_write(t->s, VBE_ENABLE, 0);
    vbe_write(t->s, VBE_XRES, 65535);
    vbe_write(t->s, VBE_YRES, 65535);
    vbe_write(t->s, VBE_BPP, 7);
    vbe_write(t->s, VBE_ENABLE, VBE_ENABLED | VBE_LFB);
    display_on(t->s);
    g_assert_cmpuint(vbe_read(t->s, VBE_BPP), ==, 8);
    xres = vbe_read(t->s, VBE_XRES);
    yres = vbe_read(t->s, VBE_YRES);
    g_assert_cmpuint(xres, <=, 16000);
    g_assert_cmpuint(xres % 8, ==, 0);
    vw = vbe_read(t->s, VBE_VIRT_WIDTH);
    g_assert_cmpuint((uint64_t)vw * yres, <=, 16 << 20);

    vbe_write(t->s, VBE_BPP, 32);
    vbe_write(t->s, VBE_X_OFFSET, 65535);
    vbe_write(t->s, VBE_Y_OFFSET, 65535);
    vbe_write(t->s, VBE_VIRT_WIDTH, 65535);
    xres = vbe_read(t->s, VBE_XRES);
    yres = vbe_read(t->s, VBE_YRES);
    vw = vbe_read(t->s, VBE_VIRT_WIDTH);
    g_assert_cmpuint((uint64_t)vw * 4 * (yres + vbe_read(t->s, VBE_Y_OFFSET)),
                     <=, 16 << 20);

    /* a small mode, panned as far as it goes */
    vbe_write(t->s, VBE_XRES, 64);
    vbe_write(t->s, VBE_YRES, 64);
    vbe_write(t->s, VBE_VIRT_WIDTH, 64);
    vbe_write(t->s, VBE_Y_OFFSET, 65535);
    g_assert_cmpuint(vbe_read(t->s, VBE_Y_OFFSET), <=, 12000);
    img = screendump_ppm(t->s);
    g_assert_cmpint(img.w, ==, 64);
    g_assert_cmpint(img.h, ==, 64);
    g_free(img.rgb);
    g_assert_cmphex(vbe_read(t->s, VBE_ID), ==, 0xb0c5);
    vga_stop(t);
}

/* ---- screendump ---- */

static void test_screendump_png(void)
{
    VGATest *t = vga_start(NULL);
    g_autofree char *path = qtest_tmp_path("screen.png");
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
                                    '\n' };
    uint8_t *data;
    size_t len;

    vbe_set_mode(t->s, 200, 100, 32, VBE_LFB);
    qtest_qmp_assert_success(t->s, "{'execute': 'screendump', 'arguments': "
                             "{'filename': '%s', 'format': 'png'}}", path);
    data = read_file(path, &len);
    g_assert_cmpuint(len, >, 33);
    g_assert_cmpmem(data, 8, sig, 8);
    g_assert_cmpmem(data + 12, 4, "IHDR", 4);
    g_assert_cmpuint(data[16] << 24 | data[17] << 16 | data[18] << 8 |
                     data[19], ==, 200);
    g_assert_cmpuint(data[20] << 24 | data[21] << 16 | data[22] << 8 |
                     data[23], ==, 100);
    g_free(data);
    unlink(path);

    /* HMP: screendump filename -f png */
    g_autofree char *out = qtest_hmp(t->s, "screendump %s -f png", path);
    g_assert_cmpstr(out, ==, "");
    data = read_file(path, &len);
    g_assert_cmpmem(data, 8, sig, 8);
    g_free(data);
    unlink(path);
    vga_stop(t);
}

static const char *qmp_error_desc(json_t *r)
{
    json_t *err = json_object_get(r, "error");

    g_assert_nonnull(err);
    return json_string_value(json_object_get(err, "desc"));
}

static void assert_screendump_error(QTestState *s, const char *args,
                                    const char *desc)
{
    json_t *r = qtest_qmp(s, "{'execute': 'screendump', 'arguments': %s}",
                          args);

    g_assert_cmpstr(qmp_error_desc(r), ==, desc);
    json_decref(r);
}

static void test_screendump_errors(void)
{
    VGATest *t = vga_start("-device pci-testdev,id=td");
    g_autofree char *path = qtest_tmp_path("screen.ppm");
    QTestState *s;
    json_t *r;

    assert_screendump_error(t->s, "{'filename': '/nonexistent/dir/x.ppm'}",
                            "failed to open file '/nonexistent/dir/x.ppm': "
                            "No such file or directory");
    r = qtest_qmp(t->s, "{'execute': 'screendump', 'arguments': "
                  "{'filename': '%s', 'device': 'nosuch'}}", path);
    g_assert_cmpstr(qmp_error_desc(r), ==, "Device 'nosuch' not found");
    g_assert_cmpstr(json_string_value(json_object_get(
                        json_object_get(r, "error"), "class")), ==,
                    "DeviceNotFound");
    json_decref(r);
    r = qtest_qmp(t->s, "{'execute': 'screendump', 'arguments': "
                  "{'filename': '%s', 'device': 'td'}}", path);
    g_assert_cmpstr(qmp_error_desc(r), ==,
                    "Device td (head 0) is not bound to a QemuConsole");
    json_decref(r);
    r = qtest_qmp(t->s, "{'execute': 'screendump', 'arguments': "
                  "{'filename': '%s', 'head': 1}}", path);
    g_assert_cmpstr(qmp_error_desc(r), ==,
                    "'head' must be specified together with 'device'");
    json_decref(r);
    r = qtest_qmp(t->s, "{'execute': 'screendump', 'arguments': "
                  "{'filename': '%s', 'format': 'gif'}}", path);
    g_assert_nonnull(json_object_get(r, "error"));
    json_decref(r);
    vga_stop(t);

    /* a named VGA: its head 0 is a console, head 1 is not */
    s = qtest_init("-M pc -nodefaults -device VGA,id=vga0");
    qtest_qmp_assert_success(s, "{'execute': 'screendump', 'arguments': "
                             "{'filename': '%s', 'device': 'vga0'}}", path);
    r = qtest_qmp(s, "{'execute': 'screendump', 'arguments': "
                  "{'filename': '%s', 'device': 'vga0', 'head': 1}}", path);
    g_assert_cmpstr(qmp_error_desc(r), ==,
                    "Device vga0 (head 1) is not bound to a QemuConsole");
    json_decref(r);
    qtest_quit(s);
    unlink(path);

    /* no display device at all */
    s = qtest_init("-M pc -nodefaults -vga none");
    assert_screendump_error(s, "{'filename': '/tmp/never-written.ppm'}",
                            "There is no console to take a screendump "
                            "from.");
    g_autofree char *out = qtest_hmp(s, "screendump /tmp/never-written.ppm");
    g_assert_cmpstr(out, ==, "Error: There is no console to take a "
                    "screendump from.\r\n");
    qtest_quit(s);
}

/* A second VGA would need the legacy ports twice. */
static void test_second_vga_refused(void)
{
    const char *argv[] = { qtest_vireo_binary(), "-M", "pc", "-accel",
                           "qtest", "-nodefaults", "-device", "VGA",
                           "-device", "VGA", "-display", "none", NULL };
    g_autofree char *err = NULL;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                               &err, &status, NULL));
    g_assert_false(g_spawn_check_wait_status(status, NULL));
    g_assert_nonnull(strstr(err, "at most one VGA"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vga/pci/bars", test_pci_bars);
    g_test_add_func("/vga/pci/vgamem_mb", test_vgamem_mb);
    g_test_add_func("/vga/vbe/id", test_dispi_id);
    g_test_add_func("/vga/vbe/lfb-32bpp", test_vbe_lfb_32bpp);
    g_test_add_func("/vga/vbe/16bpp-8bpp", test_vbe_16bpp_and_8bpp);
    g_test_add_func("/vga/vbe/mmio-bar", test_vbe_mmio_bar);
    g_test_add_func("/vga/vbe/banked-window", test_vbe_banked_window);
    g_test_add_func("/vga/vbe/out-of-range", test_vbe_out_of_range);
    g_test_add_func("/vga/text", test_text_mode);
    g_test_add_func("/vga/planar-16", test_planar_16_colours);
    g_test_add_func("/vga/mode-13h", test_mode_13h);
    g_test_add_func("/vga/register-ranges", test_register_ranges);
    g_test_add_func("/vga/screendump/png", test_screendump_png);
    g_test_add_func("/vga/screendump/errors", test_screendump_errors);
    g_test_add_func("/vga/second-vga-refused", test_second_vga_refused);
    return g_test_run();
}
