/*
 * The standard VGA redraws only what changed (VRAM dirty logging): each
 * mode is programmed through the ports, a screendump taken, then pixels
 * written through the linear framebuffer BAR and the 0xA0000 window must
 * show in the next screendump while the rest stays; an idle screen dumps
 * the same twice; in text mode the cursor and blinking characters follow
 * the virtual clock. A VRAM page written between two dumps must never
 * be missed, whichever way the write came.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pci.h"
#include "vga-regs.h"

/* the renderer's frame: the cursor toggles every 16, blinking every 32 */
#define FRAME_NS    (1000000000 / 70)

typedef struct VGA {
    QTestState *s;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar fb;
} VGA;

static void find_vga(QPCIDevice *d, int devfn, void *data)
{
    VGA *v = data;

    g_free(v->dev);
    v->dev = d;
}

static VGA *vga_start(void)
{
    VGA *v = g_new0(VGA, 1);
    uint64_t size;

    v->s = qtest_init("-M pc -vga std");
    v->bus = qpci_new_pc(v->s);
    qpci_device_foreach(v->bus, 0x1234, 0x1111, find_vga, v);
    g_assert_nonnull(v->dev);
    qpci_device_enable(v->dev);
    v->fb = qpci_iomap(v->dev, 0, &size);
    g_assert_cmpuint(size, ==, 16 << 20);
    return v;
}

static void vga_stop(VGA *v)
{
    g_free(v->dev);
    qpci_free(v->bus);
    qtest_quit(v->s);
    g_free(v);
}

/* A binary PPM as screendump writes it ("P6\nW H\n255\n"). */
static Image screendump(QTestState *s)
{
    g_autofree char *path = qtest_tmp_path("dirty.ppm");
    Image img = { 0 };
    gchar *data = NULL;
    gsize len = 0;
    int n = 0;

    qtest_qmp_assert_success(s, "{'execute': 'screendump', 'arguments': "
                             "{'filename': '%s'}}", path);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpint(sscanf(data, "P6\n%d %d%n", &img.w, &img.h, &n), ==, 2);
    g_assert_cmpmem(data + n, 5, "\n255\n", 5);
    g_assert_cmpuint(len, ==, n + 5 + (size_t)img.w * img.h * 3);
    img.rgb = g_memdup2(data + n + 5, len - n - 5);
    g_free(data);
    unlink(path);
    return img;
}

/* How many pixels of a and b (same size) differ. */
static int pixels_differing(const Image *a, const Image *b)
{
    int n = 0;

    g_assert_cmpint(a->w, ==, b->w);
    g_assert_cmpint(a->h, ==, b->h);
    for (int i = 0; i < a->w * a->h; i++) {
        n += memcmp(a->rgb + i * 3, b->rgb + i * 3, 3) != 0;
    }
    return n;
}

/* ---- VBE 1024x768x32 ---- */

static void test_vbe_1024x768(void)
{
    VGA *v = vga_start();
    QTestState *s = v->s;
    Image a, b;

    vbe_write(s, VBE_ENABLE, 0);
    vbe_write(s, VBE_XRES, 1024);
    vbe_write(s, VBE_YRES, 768);
    vbe_write(s, VBE_BPP, 32);
    vbe_write(s, VBE_ENABLE, VBE_ENABLED | VBE_LFB);
    display_on(s);
    a = screendump(s);
    g_assert_cmpint(a.w, ==, 1024);
    g_assert_cmpint(a.h, ==, 768);
    g_assert_cmphex(pixel(&a, 500, 400), ==, 0);

    /* a pixel through the LFB, then another: each shows in the next dump */
    qtest_writel(s, v->fb.addr + (400 * 1024 + 500) * 4, 0x00ff0000);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 500, 400), ==, 0xff0000);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 1);
    g_free(a.rgb);
    qtest_writel(s, v->fb.addr + (767 * 1024 + 1023) * 4, 0x0000ff00);
    qtest_writel(s, v->fb.addr + (400 * 1024 + 501) * 4, 0x000000ff);
    a = screendump(s);
    g_assert_cmphex(pixel(&a, 1023, 767), ==, 0x00ff00);
    g_assert_cmphex(pixel(&a, 501, 400), ==, 0x0000ff);
    g_assert_cmphex(pixel(&a, 500, 400), ==, 0xff0000);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 2);
    g_free(b.rgb);

    /* idle: the same picture again */
    b = screendump(s);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 0);
    g_free(b.rgb);

    /* the banked window at 0xA0000: bank 3 is bytes 192K.. (row 48) */
    vbe_write(s, VBE_BANK, 3);
    qtest_writel(s, 0xa0000 + 4 * 7, 0x00ffffff);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 7, 48), ==, 0xffffff);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 1);
    g_free(b.rgb);
    /* a block write across many scanlines (as a DMA would) */
    g_autofree uint8_t *buf = g_malloc(1024 * 4 * 3);
    memset(buf, 0x80, 1024 * 4 * 3);
    qtest_memwrite(s, v->fb.addr + 100 * 1024 * 4, buf, 1024 * 4 * 3);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 0, 100), ==, 0x808080);
    g_assert_cmphex(pixel(&b, 1023, 102), ==, 0x808080);
    g_assert_cmphex(pixel(&b, 0, 103), ==, 0);
    g_free(b.rgb);
    g_free(a.rgb);
    vga_stop(v);
}

/* ---- mode 13h and planar 640x480x16 through the window ---- */

static void test_mode_13h(void)
{
    VGA *v = vga_start();
    QTestState *s = v->s;
    Image a, b;

    qtest_outb(s, 0x3c2, 0x63);
    sr_write(s, 1, 0x01);
    sr_write(s, 2, 0x0f);
    sr_write(s, 4, 0x0e);
    gr_write(s, 5, 0x40);
    gr_write(s, 6, 0x05);
    cr_write(s, 0x11, 0x00);
    cr_write(s, 0x01, 79);
    cr_write(s, 0x07, 0x1f);
    cr_write(s, 0x09, 0x41);
    cr_write(s, 0x12, 0x8f);
    cr_write(s, 0x13, 40);
    cr_write(s, 0x17, 0xa3);
    ega_palette(s);
    ar_write(s, 0x10, 0x41);
    display_on(s);
    dac_set(s, 0x42, 63, 0, 0);
    a = screendump(s);
    g_assert_cmpint(a.w, ==, 640);
    g_assert_cmpint(a.h, ==, 400);
    qtest_writeb(s, 0xa0000 + 10 * 320 + 20, 0x42);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 40, 20), ==, 0xff0000);
    g_assert_cmphex(pixel(&b, 41, 21), ==, 0xff0000);
    /* one source pixel, doubled both ways */
    g_assert_cmpint(pixels_differing(&a, &b), ==, 4);
    g_free(a.rgb);
    /* the last pixel of the screen, far from the first write */
    qtest_writeb(s, 0xa0000 + 199 * 320 + 319, 0x0f);
    a = screendump(s);
    g_assert_cmphex(pixel(&a, 639, 399), ==, 0xffffff);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 4);
    g_free(b.rgb);
    /* a palette change shows at once, with no VRAM write */
    dac_set(s, 0x42, 0, 63, 0);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 40, 20), ==, 0x00ff00);
    g_free(a.rgb);
    g_free(b.rgb);
    vga_stop(v);
}

static void test_planar_640x480(void)
{
    VGA *v = vga_start();
    QTestState *s = v->s;
    Image a, b;

    qtest_outb(s, 0x3c2, 0xe3);
    sr_write(s, 1, 0x01);
    sr_write(s, 2, 0x0f);
    sr_write(s, 4, 0x06);
    gr_write(s, 5, 0x00);
    gr_write(s, 6, 0x05);
    cr_write(s, 0x11, 0x00);
    cr_write(s, 0x01, 79);
    cr_write(s, 0x07, 0x12);
    cr_write(s, 0x09, 0x40);
    cr_write(s, 0x12, 0xdf);
    cr_write(s, 0x13, 40);
    cr_write(s, 0x17, 0xe3);
    ega_palette(s);
    ar_write(s, 0x10, 0x01);
    display_on(s);
    a = screendump(s);
    g_assert_cmpint(a.w, ==, 640);
    g_assert_cmpint(a.h, ==, 480);

    /* write mode 2: colour 12 at (8, 300), colour 9 at (639, 479) */
    gr_write(s, 5, 0x02);
    gr_write(s, 8, 0x80);
    qtest_readb(s, 0xa0000 + 300 * 80 + 1);
    qtest_writeb(s, 0xa0000 + 300 * 80 + 1, 12);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 8, 300), ==, 0xaa0000);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 1);
    g_free(a.rgb);
    gr_write(s, 8, 0x01);
    qtest_readb(s, 0xa0000 + 479 * 80 + 79);
    qtest_writeb(s, 0xa0000 + 479 * 80 + 79, 9);
    a = screendump(s);
    g_assert_cmphex(pixel(&a, 639, 479), ==, 0x0000aa);
    g_assert_cmphex(pixel(&a, 8, 300), ==, 0xaa0000);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 1);
    g_free(a.rgb);
    g_free(b.rgb);
    vga_stop(v);
}

/* ---- text 80x25: cells, cursor and blinking on the clock ---- */

static void load_glyph(QTestState *s, uint8_t ch, uint8_t bits)
{
    sr_write(s, 2, 0x04);
    sr_write(s, 4, 0x06);
    gr_write(s, 4, 0x02);
    gr_write(s, 5, 0x00);
    gr_write(s, 6, 0x04);
    for (int i = 0; i < 16; i++) {
        qtest_writeb(s, 0xa0000 + ch * 32 + i, bits);
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

static void test_text(void)
{
    VGA *v = vga_start();
    QTestState *s = v->s;
    Image a, b;

    qtest_outb(s, 0x3c2, 0x67);
    sr_write(s, 1, 0x00);       /* 9-dot characters */
    sr_write(s, 2, 0x03);
    sr_write(s, 3, 0x00);
    sr_write(s, 4, 0x02);
    gr_write(s, 5, 0x10);
    gr_write(s, 6, 0x0e);
    gr_write(s, 8, 0xff);
    cr_write(s, 0x11, 0x00);
    cr_write(s, 0x01, 79);
    cr_write(s, 0x07, 0x1f);
    cr_write(s, 0x09, 0x0f);
    cr_write(s, 0x0a, 14);      /* cursor on scanlines 14-15 */
    cr_write(s, 0x0b, 15);
    cr_write(s, 0x0c, 0);
    cr_write(s, 0x0d, 0);
    cr_write(s, 0x0e, (10 * 80 + 4) >> 8);     /* cell (4, 10) */
    cr_write(s, 0x0f, (10 * 80 + 4) & 0xff);
    cr_write(s, 0x12, 0x8f);
    cr_write(s, 0x13, 40);
    cr_write(s, 0x17, 0xa3);
    ega_palette(s);
    ar_write(s, 0x10, 0x0c);    /* line graphics, blinking */
    display_on(s);
    load_glyph(s, ' ', 0);
    load_glyph(s, 'X', 0xff);
    for (int r = 0; r < 25; r++) {
        for (int c = 0; c < 80; c++) {
            text_put(s, c, r, ' ', 0x07);
        }
    }
    qtest_clock_set(s, 0);
    a = screendump(s);
    g_assert_cmpint(a.w, ==, 720);
    g_assert_cmpint(a.h, ==, 400);
    /* the cursor shows in frame 0, 8 dots wide (the 9th is background) */
    g_assert_cmphex(pixel(&a, 4 * 9 + 3, 10 * 16 + 14), ==, 0x00aaaaaa);
    g_assert_cmphex(pixel(&a, 4 * 9 + 3, 10 * 16 + 13), ==, 0);

    /* a blinking 'X', fg white on blue, and a plain one in row 20 */
    text_put(s, 1, 2, 'X', 0x9f);
    text_put(s, 70, 20, 'X', 0x1e);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 9 + 3, 32 + 3), ==, 0xffffff);
    g_assert_cmphex(pixel(&b, 9 + 8, 32 + 3), ==, 0x0000aa); /* 9th dot */
    g_assert_cmphex(pixel(&b, 70 * 9, 20 * 16), ==, 0xaaaa00);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 2 * 9 * 16);
    g_free(a.rgb);

    /* 16 frames on: the cursor is off, the rest as it was */
    qtest_clock_step(s, 16 * FRAME_NS + 1);
    a = screendump(s);
    g_assert_cmphex(pixel(&a, 4 * 9 + 3, 10 * 16 + 14), ==, 0);
    g_assert_cmpint(pixels_differing(&a, &b), ==, 2 * 8);
    g_free(b.rgb);
    /* frame 32: the cursor is back, the blinking 'X' shows background */
    qtest_clock_step(s, 16 * FRAME_NS);
    b = screendump(s);
    g_assert_cmphex(pixel(&b, 4 * 9 + 3, 10 * 16 + 14), ==, 0x00aaaaaa);
    g_assert_cmphex(pixel(&b, 9 + 3, 32 + 3), ==, 0x0000aa);
    g_assert_cmphex(pixel(&b, 70 * 9, 20 * 16), ==, 0xaaaa00);
    g_free(a.rgb);
    g_free(b.rgb);
    vga_stop(v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vga-dirty/vbe-1024x768", test_vbe_1024x768);
    g_test_add_func("/vga-dirty/mode-13h", test_mode_13h);
    g_test_add_func("/vga-dirty/planar-640x480", test_planar_640x480);
    g_test_add_func("/vga-dirty/text", test_text);
    return g_test_run();
}
