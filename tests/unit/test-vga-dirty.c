/*
 * The standard VGA's renderer with VRAM dirty tracking, without a CPU:
 * an idle screen renders no scanline, a write through the linear
 * framebuffer or the 0xA0000 window renders the scanlines it touched
 * and no others, register and palette changes redraw, and the text
 * cursor and blinking characters are redrawn on their ticks. Also times
 * 1000 redraws of an idle 1024x768x32 VBE screen and an idle 80x25 text
 * screen (the figures go to the TAP log).
 */
#include <glib.h>
#include <time.h>

#include "pci-machine.h"
#include "system/timer.h"
#include "ui/console.h"
#include "../../hw/display/vga-int.h"

#define VGA_DEVFN   (2 << 3)
#define LFB         0xe0000000u
#define VBE_INDEX   0x1ce
#define VBE_DATA    0x1cf

typedef struct Heard {
    DisplayChangeListener dcl;
    int updates;
    int y_lo, y_hi;     /* union of the updated rows */
} Heard;

static void heard_update(DisplayChangeListener *dcl, int x, int y, int w,
                         int h)
{
    Heard *l = (Heard *)dcl;

    l->updates++;
    l->y_lo = MIN(l->y_lo, y);
    l->y_hi = MAX(l->y_hi, y + h - 1);
}

static const DisplayChangeListenerOps heard_ops = {
    .dpy_name = "test",
    .dpy_gfx_update = heard_update,
};

typedef struct VgaFixture {
    Fixture f;
    Device *dev;
    VGACommonState *s;
    QemuConsole *con;
    Heard heard;
} VgaFixture;

static void vbe_write(Fixture *f, uint16_t index, uint16_t val)
{
    out(f, VBE_INDEX, 2, index);
    out(f, VBE_DATA, 2, val);
}

static void vga_setup(VgaFixture *v)
{
    v->dev = add_device(&v->f, "VGA,addr=2");
    v->s = std_vga_common(v->dev);
    v->con = v->s->con;
    /* the linear framebuffer BAR, memory decoding on */
    cfg_write(&v->f, VGA_DEVFN, PCI_BASE_ADDRESS_0, 4, LFB);
    cfg_write(&v->f, VGA_DEVFN, PCI_COMMAND, 2, 0x2);
    v->heard = (Heard){ .dcl = { .ops = &heard_ops, .con = v->con } };
    register_displaychangelistener(&v->heard.dcl);
}

static void vga_teardown(VgaFixture *v)
{
    unregister_displaychangelistener(&v->heard.dcl);
    fixture_fini(&v->f);
}

/* Renders once; returns the scanlines the renderer produced. */
static uint64_t render(VgaFixture *v)
{
    uint64_t before = v->s->lines_rendered;

    v->heard.updates = 0;
    v->heard.y_lo = INT_MAX;
    v->heard.y_hi = -1;
    graphic_hw_update(v->con);
    return v->s->lines_rendered - before;
}

static uint32_t pixel(VgaFixture *v, int x, int y)
{
    DisplaySurface *surf = qemu_console_surface(v->con);

    return ((uint32_t *)(surface_data(surf) + y * surface_stride(surf)))[x] &
           0xffffff;
}

/* ---- modes ---- */

static void vbe_mode(VgaFixture *v, int w, int h, int bpp)
{
    vbe_write(&v->f, VBE_DISPI_INDEX_ENABLE, 0);
    vbe_write(&v->f, VBE_DISPI_INDEX_BPP, bpp);
    vbe_write(&v->f, VBE_DISPI_INDEX_XRES, w);
    vbe_write(&v->f, VBE_DISPI_INDEX_YRES, h);
    vbe_write(&v->f, VBE_DISPI_INDEX_ENABLE,
              VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    in(&v->f, 0x3da, 1);
    out(&v->f, 0x3c0, 1, VGA_AR_ENABLE_DISPLAY);
}

/* The register values of BIOS mode 3 (80x25, 9-dot cells, 16 lines). */
static const uint8_t mode3_sr[5] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
static const uint8_t mode3_cr[25] = {
    0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e,
    0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3,
    0xff,
};
static const uint8_t mode3_gr[9] = { 0, 0, 0, 0, 0, 0x10, 0x0e, 0, 0xff };
static const uint8_t mode3_ar[21] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b,
    0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00,
};

static void text_mode(VgaFixture *v)
{
    Fixture *f = &v->f;

    out(f, 0x3c2, 1, 0x67);
    for (int i = 0; i < 5; i++) {
        out(f, 0x3c4, 1, i);
        out(f, 0x3c5, 1, mode3_sr[i]);
    }
    out(f, 0x3d4, 1, 0x11);
    out(f, 0x3d5, 1, 0x0e);     /* unlock CR00-CR07 */
    for (int i = 0; i < 25; i++) {
        out(f, 0x3d4, 1, i);
        out(f, 0x3d5, 1, mode3_cr[i]);
    }
    for (int i = 0; i < 9; i++) {
        out(f, 0x3ce, 1, i);
        out(f, 0x3cf, 1, mode3_gr[i]);
    }
    in(f, 0x3da, 1);
    for (int i = 0; i < 21; i++) {
        out(f, 0x3c0, 1, i);
        out(f, 0x3c0, 1, mode3_ar[i]);
    }
    out(f, 0x3c0, 1, VGA_AR_ENABLE_DISPLAY);
    /* DAC: the 16 colours of the EGA palette, enough for the tests */
    for (int i = 0; i < 64; i++) {
        out(f, 0x3c8, 1, i);
        out(f, 0x3c9, 1, ((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15);
        out(f, 0x3c9, 1, ((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15);
        out(f, 0x3c9, 1, (i & 1) * 0x2a + ((i >> 3) & 1) * 0x15);
    }
}

/* Text cell (col, row) of the 80-column page 0, through the LFB. */
static void text_cell(VgaFixture *v, int col, int row, uint8_t ch,
                      uint8_t attr)
{
    uint32_t cell = row * 80 + col;

    mem_st(&v->f, LFB + cell * 4, 1, ch);
    mem_st(&v->f, LFB + cell * 4 + 1, 1, attr);
}

/* Glyph ch of font map 0: every line the pattern bits. */
static void text_glyph(VgaFixture *v, uint8_t ch, uint8_t bits)
{
    for (int gl = 0; gl < 16; gl++) {
        mem_st(&v->f, LFB + (ch * 32 + gl) * 4 + 2, 1, bits);
    }
}


/* ---- what gets drawn ---- */

static void test_vbe_idle_and_writes(void)
{
    VgaFixture v;

    fixture_init(&v.f);
    vga_setup(&v);
    vbe_mode(&v, 1024, 768, 32);
    g_assert_cmpuint(render(&v), ==, 768);
    /* nothing written: nothing drawn, nothing reported */
    g_assert_cmpuint(render(&v), ==, 0);
    g_assert_cmpint(v.heard.updates, ==, 0);

    /* a pixel through the LFB: its scanline (one 4 KiB page) only */
    mem_st(&v.f, LFB + (300 * 1024 + 17) * 4, 4, 0x00ff8000);
    g_assert_cmpuint(render(&v), ==, 1);
    g_assert_cmpint(v.heard.updates, ==, 1);
    g_assert_cmpint(v.heard.y_lo, ==, 300);
    g_assert_cmpint(v.heard.y_hi, ==, 300);
    g_assert_cmphex(pixel(&v, 17, 300), ==, 0xff8000);
    g_assert_cmpuint(render(&v), ==, 0);

    /* a DMA-style block write across three scanlines */
    uint8_t buf[8192 + 8];
    memset(buf, 0x40, sizeof(buf));
    address_space_write(&v.f.m.as_mem, LFB + 10 * 4096 - 4, buf,
                        sizeof(buf));
    g_assert_cmpuint(render(&v), ==, 4);
    g_assert_cmpint(v.heard.y_lo, ==, 9);
    g_assert_cmpint(v.heard.y_hi, ==, 12);

    /* the same value again: drawn (the page was written), not reported */
    mem_st(&v.f, LFB + (300 * 1024 + 17) * 4, 4, 0x00ff8000);
    g_assert_cmpuint(render(&v), ==, 1);
    g_assert_cmpint(v.heard.updates, ==, 0);

    /* a pixel through the banked window at 0xA0000 (bank 1) */
    vbe_write(&v.f, VBE_DISPI_INDEX_BANK, 1);
    mem_st(&v.f, 0xa0000 + 8, 4, 0x000000ff);
    g_assert_cmpuint(render(&v), ==, 1);
    g_assert_cmpint(v.heard.y_lo, ==, 16);
    g_assert_cmphex(pixel(&v, 2, 16), ==, 0x0000ff);

    /* panning is a register change: every scanline again */
    vbe_write(&v.f, VBE_DISPI_INDEX_Y_OFFSET, 1);
    g_assert_cmpuint(render(&v), ==, 768);
    g_assert_cmphex(pixel(&v, 17, 299), ==, 0xff8000);
    g_assert_cmpuint(render(&v), ==, 0);

    /* invalidate: everything, reported whole */
    graphic_hw_invalidate(v.con);
    g_assert_cmpuint(render(&v), ==, 768);
    g_assert_cmpint(v.heard.y_lo, ==, 0);
    g_assert_cmpint(v.heard.y_hi, ==, 767);
    vga_teardown(&v);
}

/* Mode 13h-like: VBE 320x200x8 and a palette change redraws it all. */
static void test_palette_change(void)
{
    VgaFixture v;

    fixture_init(&v.f);
    vga_setup(&v);
    vbe_mode(&v, 320, 200, 8);
    mem_st(&v.f, LFB + 5 * 320 + 7, 1, 9);
    render(&v);
    g_assert_cmphex(pixel(&v, 7, 5), ==, 0);
    g_assert_cmpuint(render(&v), ==, 0);
    out(&v.f, 0x3c8, 1, 9);
    out(&v.f, 0x3c9, 1, 0x3f);
    out(&v.f, 0x3c9, 1, 0);
    out(&v.f, 0x3c9, 1, 0);
    g_assert_cmpuint(render(&v), ==, 200);
    g_assert_cmpint(v.heard.y_lo, ==, 5);
    g_assert_cmpint(v.heard.y_hi, ==, 5);
    g_assert_cmphex(pixel(&v, 7, 5), ==, 0xff0000);
    vga_teardown(&v);
}

/* Planar 640x480x16 through the window: write mode 2 sets a pixel. */
static void test_planar_window_write(void)
{
    VgaFixture v;
    Fixture *f = &v.f;
    static const uint8_t cr[25] = {
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0, 0,
        0, 0, 0, 0, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff,
    };
    static const uint8_t gr[9] = { 0, 0, 0, 0, 0, 0x00, 0x05, 0x0f, 0xff };
    static const uint8_t sr[5] = { 0x03, 0x01, 0x0f, 0x00, 0x06 };

    fixture_init(f);
    vga_setup(&v);
    text_mode(&v);      /* palette and attribute registers */
    out(f, 0x3c2, 1, 0xe3);
    for (int i = 0; i < 5; i++) {
        out(f, 0x3c4, 1, i);
        out(f, 0x3c5, 1, sr[i]);
    }
    for (int i = 0; i < 25; i++) {
        out(f, 0x3d4, 1, i);
        out(f, 0x3d5, 1, cr[i]);
    }
    for (int i = 0; i < 9; i++) {
        out(f, 0x3ce, 1, i);
        out(f, 0x3cf, 1, gr[i]);
    }
    in(f, 0x3da, 1);
    out(f, 0x3c0, 1, 0x10);
    out(f, 0x3c0, 1, 0x01);     /* graphics attributes */
    out(f, 0x3c0, 1, VGA_AR_ENABLE_DISPLAY);
    render(&v);
    g_assert_cmpint(surface_width(qemu_console_surface(v.con)), ==, 640);
    g_assert_cmpint(surface_height(qemu_console_surface(v.con)), ==, 480);
    g_assert_cmpuint(render(&v), ==, 0);
    /* write mode 2, bit mask 0x80: colour 4 (red) at (8, 100) */
    out(f, 0x3ce, 1, 5);
    out(f, 0x3cf, 1, 0x02);
    out(f, 0x3ce, 1, 8);
    out(f, 0x3cf, 1, 0x80);
    mem_ld(f, 0xa0000 + 100 * 80 + 1, 1);      /* load the latches */
    mem_st(f, 0xa0000 + 100 * 80 + 1, 1, 4);
    /* the GR writes redraw once; then the write alone is one page */
    render(&v);
    g_assert_cmphex(pixel(&v, 8, 100), ==, 0xaa0000);
    g_assert_cmphex(pixel(&v, 9, 100), ==, 0);
    mem_st(f, 0xa0000 + 200 * 80 + 1, 1, 1);
    /* a 4 KiB page holds 12.8 rows of 320 bytes: at most 14 drawn */
    uint64_t n = render(&v);
    g_assert_cmpuint(n, >, 0);
    g_assert_cmpuint(n, <=, 14);
    g_assert_cmpint(v.heard.y_lo, ==, 200);
    g_assert_cmpint(v.heard.y_hi, ==, 200);
    g_assert_cmphex(pixel(&v, 8, 200), ==, 0x0000aa);
    vga_teardown(&v);
}

static void text_setup(VgaFixture *v)
{
    fixture_init(&v->f);
    clock_virtual_set_manual(true);
    clock_virtual_set(0);
    vga_setup(v);
    text_mode(v);
    text_glyph(v, 'A', 0x7e);
    text_glyph(v, 0xc4, 0xff);   /* a line-drawing glyph: 9th dot too */
    for (int r = 0; r < 25; r++) {
        for (int c = 0; c < 80; c++) {
            text_cell(v, c, r, ' ', 0x07);
        }
    }
}

static void text_teardown(VgaFixture *v)
{
    vga_teardown(v);
    clock_virtual_set_manual(false);
}

/* The frame count, as the renderer derives it from the virtual clock. */
static void step_frames(int n)
{
    clock_virtual_step((int64_t)n * (1000000000 / 70) + 1);
}

static void test_text_cells(void)
{
    VgaFixture v;

    text_setup(&v);
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_START);
    out(&v.f, 0x3d5, 1, 0x20);          /* cursor off */
    g_assert_cmpuint(render(&v), ==, 400);
    g_assert_cmpuint(render(&v), ==, 0);
    step_frames(40);                    /* no blinking cell: nothing */
    g_assert_cmpuint(render(&v), ==, 0);

    /* a character in row 10: the rows sharing its page are drawn, row
     * 10 alone differs */
    text_cell(&v, 3, 10, 'A', 0x1e);
    uint64_t n = render(&v);
    g_assert_cmpuint(n, >=, 16);
    g_assert_cmpuint(n, <=, 14 * 16);
    g_assert_cmpint(v.heard.y_lo, ==, 160);
    g_assert_cmpint(v.heard.y_hi, ==, 175);
    /* 9-dot cells: 'A' at x 27..35, its 9th dot background (blue) */
    g_assert_cmphex(pixel(&v, 27, 165), ==, 0x0000aa);
    g_assert_cmphex(pixel(&v, 28, 165), ==, 0xffff55);
    g_assert_cmphex(pixel(&v, 35, 165), ==, 0x0000aa);

    /* a glyph changes: every row is drawn */
    text_glyph(&v, 'A', 0x3c);
    g_assert_cmpuint(render(&v), ==, 400);
    g_assert_cmphex(pixel(&v, 28, 165), ==, 0x0000aa);
    g_assert_cmphex(pixel(&v, 29, 165), ==, 0xffff55);

    /* line drawing: the 9th dot repeats the 8th with AR10 bit 2 set */
    text_cell(&v, 0, 0, 0xc4, 0x07);
    render(&v);
    g_assert_cmphex(pixel(&v, 8, 3), ==, 0xaaaaaa);
    in(&v.f, 0x3da, 1);
    out(&v.f, 0x3c0, 1, VGA_AR_ENABLE_DISPLAY | VGA_ATC_MODE);
    out(&v.f, 0x3c0, 1, 0x08);          /* line graphics off */
    g_assert_cmpuint(render(&v), ==, 400);
    g_assert_cmphex(pixel(&v, 7, 3), ==, 0xaaaaaa);
    g_assert_cmphex(pixel(&v, 8, 3), ==, 0);
    text_teardown(&v);
}

static void test_text_cursor_blink(void)
{
    VgaFixture v;

    text_setup(&v);
    /* cursor at cell (5, 20), scanlines 14-15 */
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_START);
    out(&v.f, 0x3d5, 1, 14);
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_END);
    out(&v.f, 0x3d5, 1, 15);
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_LO);
    out(&v.f, 0x3d5, 1, 20 * 80 + 5);
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_HI);
    out(&v.f, 0x3d5, 1, (20 * 80 + 5) >> 8);
    render(&v);
    g_assert_cmphex(pixel(&v, 46, 20 * 16 + 14), ==, 0xaaaaaa);
    g_assert_cmphex(pixel(&v, 46, 20 * 16 + 13), ==, 0);
    g_assert_cmpuint(render(&v), ==, 0);
    /* 16 frames on the cursor is off: its row alone is drawn */
    step_frames(16);
    g_assert_cmpuint(render(&v), ==, 16);
    g_assert_cmpint(v.heard.y_lo, ==, 20 * 16 + 14);
    g_assert_cmpint(v.heard.y_hi, ==, 20 * 16 + 15);
    g_assert_cmphex(pixel(&v, 46, 20 * 16 + 14), ==, 0);
    g_assert_cmpuint(render(&v), ==, 0);

    /* a blinking 'A' in row 2 (AR10 bit 3 on: blink, not bright bg) */
    text_cell(&v, 1, 2, 'A', 0xf4);
    step_frames(0);
    render(&v);
    g_assert_cmphex(pixel(&v, 10, 32 + 5), ==, 0xaa0000);  /* red fg */
    g_assert_cmphex(pixel(&v, 9, 32 + 5), ==, 0xaaaaaa);   /* bg 7 */
    step_frames(16);        /* frame 32: blink off, cursor back on */
    uint64_t n = render(&v);
    g_assert_cmpuint(n, ==, 32);    /* row 2 and the cursor's row */
    g_assert_cmphex(pixel(&v, 10, 32 + 5), ==, 0xaaaaaa);
    /* AR10 bit 3 off: bit 7 is a bright background, nothing blinks */
    in(&v.f, 0x3da, 1);
    out(&v.f, 0x3c0, 1, VGA_AR_ENABLE_DISPLAY | VGA_ATC_MODE);
    out(&v.f, 0x3c0, 1, 0x04);
    render(&v);
    g_assert_cmphex(pixel(&v, 10, 32 + 5), ==, 0xaa0000);
    g_assert_cmphex(pixel(&v, 9, 32 + 5), ==, 0xffffff);

    /* cursor disable bit, and start after end: no cursor */
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_START);
    out(&v.f, 0x3d5, 1, 0x20 | 14);
    step_frames(64);
    render(&v);
    g_assert_cmphex(pixel(&v, 46, 20 * 16 + 14), ==, 0);
    out(&v.f, 0x3d5, 1, 15);
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_END);
    out(&v.f, 0x3d5, 1, 14);
    render(&v);
    g_assert_cmphex(pixel(&v, 46, 20 * 16 + 14), ==, 0);
    text_teardown(&v);
}

/*
 * Start addresses and pitches at their maximum: the renderer draws what
 * they show (never reading outside VRAM), and a written page still shows.
 */
static void test_wrapping_offsets(void)
{
    VgaFixture v;
    Fixture *f = &v.f;

    text_setup(&v);
    out(f, 0x3d4, 1, 0x11);
    out(f, 0x3d5, 1, 0x0e);
    for (int i = 0; i < 4; i++) {
        static const uint8_t regs[4] = {
            VGA_CRTC_H_DISP, VGA_CRTC_START_HI, VGA_CRTC_START_LO,
            VGA_CRTC_OFFSET,
        };
        out(f, 0x3d4, 1, regs[i]);
        out(f, 0x3d5, 1, 0xff);
    }
    render(&v);
    g_assert_cmpuint(render(&v), ==, 0);
    mem_st(f, LFB + 0xffff * 4, 1, 'A');   /* the first cell shown */
    g_assert_cmpuint(render(&v), >, 0);
    g_assert_cmpuint(render(&v), ==, 0);
    /* graphics: 256-colour shifting from the last planar address */
    out(f, 0x3ce, 1, VGA_GFX_MISC);
    out(f, 0x3cf, 1, 0x05);
    out(f, 0x3ce, 1, VGA_GFX_MODE);
    out(f, 0x3cf, 1, 0x40);
    render(&v);
    mem_st(f, LFB + 0x3fffc, 4, 0x01020304);
    render(&v);
    g_assert_cmpuint(render(&v), ==, 0);
    text_teardown(&v);
}

/* ---- timing ---- */

static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double time_updates(VgaFixture *v, int n)
{
    double t0 = cpu_seconds();

    for (int i = 0; i < n; i++) {
        graphic_hw_update(v->con);
    }
    return cpu_seconds() - t0;
}

static void test_bench_idle_vbe(void)
{
    VgaFixture v;
    GByteArray *pattern = g_byte_array_sized_new(1024 * 768 * 4);

    fixture_init(&v.f);
    vga_setup(&v);
    vbe_mode(&v, 1024, 768, 32);
    for (uint32_t i = 0; i < 1024 * 768; i++) {
        uint32_t px = i * 2654435761u;
        g_byte_array_append(pattern, (const guint8 *)&px, 4);
    }
    address_space_write(&v.f.m.as_mem, LFB, pattern->data, pattern->len);
    render(&v);
    g_assert_cmphex(pixel(&v, 1, 0), ==, 2654435761u & 0xffffff);
    double t = time_updates(&v, 1000);
    g_test_message("1000 updates of an idle 1024x768x32 screen: %.1f ms "
                   "CPU", t * 1000);
    g_byte_array_free(pattern, TRUE);
    vga_teardown(&v);
}

static void test_bench_idle_text(void)
{
    VgaFixture v;

    fixture_init(&v.f);
    vga_setup(&v);
    text_mode(&v);
    text_glyph(&v, 'A', 0x7e);
    for (int r = 0; r < 25; r++) {
        for (int c = 0; c < 80; c++) {
            text_cell(&v, c, r, 'A', 0x07);
        }
    }
    /* the cursor off, so that its blinking is not timed */
    out(&v.f, 0x3d4, 1, VGA_CRTC_CURSOR_START);
    out(&v.f, 0x3d5, 1, 0x20);
    render(&v);
    g_assert_cmpint(surface_width(qemu_console_surface(v.con)), ==, 720);
    g_assert_cmpint(surface_height(qemu_console_surface(v.con)), ==, 400);
    double t = time_updates(&v, 1000);
    g_test_message("1000 updates of an idle 80x25 text screen: %.1f ms CPU",
                   t * 1000);
    vga_teardown(&v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vga-dirty/vbe-idle-and-writes",
                    test_vbe_idle_and_writes);
    g_test_add_func("/vga-dirty/palette-change", test_palette_change);
    g_test_add_func("/vga-dirty/planar-window-write",
                    test_planar_window_write);
    g_test_add_func("/vga-dirty/text-cells", test_text_cells);
    g_test_add_func("/vga-dirty/text-cursor-blink", test_text_cursor_blink);
    g_test_add_func("/vga-dirty/wrapping-offsets", test_wrapping_offsets);
    g_test_add_func("/vga-dirty/bench/idle-vbe", test_bench_idle_vbe);
    g_test_add_func("/vga-dirty/bench/idle-text", test_bench_idle_text);
    return g_test_run();
}
