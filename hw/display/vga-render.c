/*
 * Renders the VGA's current screen into its console surface (IBM VGA
 * Technical Reference, FreeVGA): alphanumeric modes with glyphs from plane
 * 2, the CGA-compatible 2-bit and planar 16-colour modes, 256-colour
 * (mode 13h and unchained), and the Bochs VBE 8/15/16/24/32 bpp modes.
 * VRAM logs its writes (memory_region_set_log): a scanline is drawn only
 * when a VRAM page it shows was written, a register, the palette or the
 * size changed, or, in text mode, the cursor or blinking characters
 * toggled; a drawn scanline is compared with the surface and reported
 * only when it differs, so an idle screen costs nothing. Every VRAM read
 * is wrapped into VRAM.
 */
#include <string.h>

#include "system/timer.h"
#include "util/le.h"
#include "vga-int.h"

/* about 70 frames per second: the cursor toggles every 16 frames,
 * blinking characters every 32 */
#define VGA_FRAME_NS        (1000000000 / 70)

typedef struct VGAFrame {
    uint32_t pal256[256];       /* DAC index -> x8r8g8b8 */
    uint32_t pal16[16];         /* attribute index -> x8r8g8b8 */
    int width, height;
    int dirty_lo, dirty_hi;     /* changed scanlines */
    bool all;                   /* draw every scanline */
    DirtyBitmapSnapshot *vram_dirty;    /* VRAM pages written since */
} VGAFrame;

static uint8_t c6_to_8(uint8_t v)
{
    v &= 0x3f;
    return v << 2 | v >> 4;
}

static void build_palettes(VGACommonState *s, VGAFrame *f)
{
    bool wide = s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC;

    for (int i = 0; i < 256; i++) {
        const uint8_t *p = &s->palette[(i & s->pel_mask) * 3];
        uint32_t r = wide ? p[0] : c6_to_8(p[0]);
        uint32_t g = wide ? p[1] : c6_to_8(p[1]);
        uint32_t b = wide ? p[2] : c6_to_8(p[2]);
        f->pal256[i] = r << 16 | g << 8 | b;
    }
    /* attribute palette, then AR10 P5,4 select and AR14 colour select */
    for (int i = 0; i < 16; i++) {
        uint8_t v = s->ar[i & s->ar[VGA_ATC_PLANE_ENABLE]];
        if (s->ar[VGA_ATC_MODE] & 0x80) {
            v = (v & 0x0f) | (s->ar[VGA_ATC_COLOR_PAGE] & 3) << 4;
        } else {
            v &= 0x3f;
        }
        v |= (s->ar[VGA_ATC_COLOR_PAGE] & 0x0c) << 4;
        f->pal16[i] = f->pal256[v];
    }
}

/* Whether VRAM bytes [addr, addr+len), wrapped into VRAM, were written. */
static bool vram_written(VGACommonState *s, VGAFrame *f, uint32_t addr,
                         uint32_t len)
{
    addr &= s->vram_size - 1;
    if (len > s->vram_size - addr) {
        return true;    /* wraps: rare, just draw */
    }
    return memory_region_snapshot_get_dirty(f->vram_dirty, addr, len);
}

static uint8_t vram_byte(VGACommonState *s, uint32_t addr)
{
    return s->vram_ptr[addr & (s->vram_size - 1)];
}

static uint32_t *line_buffer(VGACommonState *s, int width)
{
    if (s->line_buf_len < (uint32_t)width) {
        g_free(s->line_buf);
        s->line_buf = g_new(uint32_t, width);
        s->line_buf_len = width;
    }
    return s->line_buf;
}

/* Copies a rendered scanline to the surface if it differs there. */
static void commit_line(VGACommonState *s, VGAFrame *f, int y,
                        const uint32_t *line)
{
    DisplaySurface *surf = qemu_console_surface(s->con);
    uint8_t *dst = surface_data(surf) + y * surface_stride(surf);
    size_t len = f->width * 4;

    s->lines_rendered++;
    if (!memcmp(dst, line, len)) {
        return;
    }
    memcpy(dst, line, len);
    f->dirty_lo = MIN(f->dirty_lo, y);
    f->dirty_hi = MAX(f->dirty_hi, y);
}

/* Sizes the surface; a new one is all dirty. */
static void begin_frame(VGACommonState *s, VGAFrame *f, int w, int h)
{
    DisplaySurface *surf = qemu_console_surface(s->con);

    if (surface_width(surf) != w || surface_height(surf) != h) {
        qemu_console_resize(s->con, w, h);
        s->full_update = true;
    }
    f->all |= s->full_update;
    surf = qemu_console_surface(s->con);
    f->width = surface_width(surf);
    f->height = surface_height(surf);
    f->dirty_lo = f->height;
    f->dirty_hi = -1;
}

static void end_frame(VGACommonState *s, VGAFrame *f)
{
    if (s->full_update) {
        dpy_gfx_update_full(s->con);
    } else if (f->dirty_hi >= f->dirty_lo) {
        dpy_gfx_update(s->con, 0, f->dirty_lo, f->width,
                       f->dirty_hi - f->dirty_lo + 1);
    }
    s->full_update = false;
}

/* ---- text ---- */

/* SR03: map n (0-7) starts at plane-2 offset (n & 3) * 16K + (n >> 2) * 8K;
 * attribute bit 3 picks map A, else map B */
static uint32_t font_offset(unsigned n)
{
    return (n & 3) * 0x4000 + (n >> 2) * 0x2000;
}

#define TEXT_FONT_BYTES     (256 * 32)  /* a font map: 32 lines a glyph */

/* Whether the glyphs of maps a and b differ from those last drawn; the
 * copy is brought up to date. */
static bool text_fonts_changed(VGACommonState *s, uint32_t font_a,
                               uint32_t font_b)
{
    uint32_t maps[2] = { font_a, font_b };
    bool changed = false;

    if (!s->font_copy) {
        s->font_copy = g_malloc0(2 * TEXT_FONT_BYTES);
        changed = true;
    }
    for (int m = 0; m < 2; m++) {
        uint8_t *copy = s->font_copy + m * TEXT_FONT_BYTES;
        for (uint32_t i = 0; i < TEXT_FONT_BYTES; i++) {
            uint8_t b = vram_byte(s, (maps[m] + i) * 4 + 2);
            if (copy[i] != b) {
                copy[i] = b;
                changed = true;
            }
        }
    }
    return changed;
}

/*
 * Whether the text row of cols cells from cell first must be drawn: every
 * row must, its cells were written, the cursor toggled in it (cursor is
 * the cursor's cell, UINT32_MAX if it did not toggle), or blinking
 * toggled and one of its cells blinks.
 */
static bool text_row_changed(VGACommonState *s, VGAFrame *f, uint32_t first,
                             int cols, uint32_t cursor, bool blink_toggled)
{
    if (f->all || vram_written(s, f, first * 4, cols * 4)) {
        return true;
    }
    if (cursor - first < (uint32_t)cols) {
        return true;
    }
    for (int c = 0; blink_toggled && c < cols; c++) {
        if (vram_byte(s, (first + c) * 4 + 1) & 0x80) {
            return true;
        }
    }
    return false;
}

static void draw_text(VGACommonState *s, VGAFrame *f)
{
    uint8_t sr3 = s->sr[VGA_SEQ_CHARACTER_MAP];
    uint32_t font_a = font_offset(((sr3 >> 2) & 3) | ((sr3 >> 3) & 4));
    uint32_t font_b = font_offset((sr3 & 3) | ((sr3 >> 2) & 4));
    int cols = s->cr[VGA_CRTC_H_DISP] + 1;
    int cheight = (s->cr[VGA_CRTC_MAX_SCAN] & 0x1f) + 1;
    int cw = (s->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_CHAR_CLK_8DOTS) ? 8 : 9;
    bool dbl = s->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_DOT_CLK_DIV2;
    int vde = s->cr[VGA_CRTC_V_DISP_END] |
              (s->cr[VGA_CRTC_OVERFLOW] & 0x02) << 7 |
              (s->cr[VGA_CRTC_OVERFLOW] & 0x40) << 3;
    int rows = (vde + 1) / cheight;
    uint32_t start = s->cr[VGA_CRTC_START_HI] << 8 | s->cr[VGA_CRTC_START_LO];
    uint32_t pitch = s->cr[VGA_CRTC_OFFSET] * 2;    /* cells per row */
    uint32_t cursor = s->cr[VGA_CRTC_CURSOR_HI] << 8 |
                      s->cr[VGA_CRTC_CURSOR_LO];
    int cur_start = s->cr[VGA_CRTC_CURSOR_START] & 0x1f;
    int cur_end = s->cr[VGA_CRTC_CURSOR_END] & 0x1f;
    bool cursor_on = !(s->cr[VGA_CRTC_CURSOR_START] & 0x20);
    bool blink_attr = s->ar[VGA_ATC_MODE] & 0x08;
    bool line_gfx = s->ar[VGA_ATC_MODE] & 0x04;
    bool underline = s->ar[VGA_ATC_MODE] & 0x02;   /* mono attributes */
    int underline_gl = s->cr[VGA_CRTC_UNDERLINE] & 0x1f;
    int64_t frame = clock_get_ns(CLK_VIRTUAL) / VGA_FRAME_NS;
    bool cursor_phase = !((frame >> 4) & 1);
    bool blink_phase = !((frame >> 5) & 1);
    int dot_w = cw * (dbl ? 2 : 1);
    uint32_t *line;
    bool draw_row = false;

    if (rows < 1) {
        rows = 1;
    }
    begin_frame(s, f, cols * dot_w, rows * cheight);
    /* fonts share pages with the text (plane 2 sits beside planes 0 and
     * 1): a written page counts when the glyphs really changed, and then
     * every row is drawn (which cells use a glyph is not worth finding
     * out; fonts change at mode sets) */
    if ((f->all || vram_written(s, f, font_a * 4, TEXT_FONT_BYTES * 4) ||
         vram_written(s, f, font_b * 4, TEXT_FONT_BYTES * 4)) &&
        text_fonts_changed(s, font_a, font_b)) {
        f->all = true;
    }
    bool cursor_toggled = cursor_phase != s->cursor_was_on;
    bool blink_toggled = blink_phase != s->blink_was_on;
    s->cursor_was_on = cursor_phase;
    s->blink_was_on = blink_phase;
    /* the surface may be narrower than asked (no memory for a new one) */
    line = line_buffer(s, MAX(f->width, cols * dot_w));
    for (int y = 0; y < f->height; y++) {
        int row = y / cheight, gl = y % cheight;
        if (gl == 0) {
            draw_row = text_row_changed(s, f, start + row * pitch, cols,
                                        cursor_toggled ? cursor : UINT32_MAX,
                                        blink_toggled && blink_attr);
        }
        if (!draw_row) {
            continue;
        }
        for (int c = 0; c < cols; c++) {
            uint32_t cell = start + row * pitch + c;
            uint8_t ch = vram_byte(s, cell * 4);
            uint8_t attr = vram_byte(s, cell * 4 + 1);
            uint32_t font = (attr & 0x08) ? font_a : font_b;
            uint8_t bits = vram_byte(s, (font + ch * 32 + gl) * 4 + 2);
            uint32_t fg = f->pal16[attr & 0x0f];
            uint32_t bg = f->pal16[blink_attr ? (attr >> 4) & 7 : attr >> 4];
            bool ninth;
            uint32_t *d = line + c * dot_w;

            if (underline && (attr & 0x77) == 0x01 && gl == underline_gl) {
                bits = 0xff;
            }
            if (blink_attr && (attr & 0x80) && !blink_phase) {
                bits = 0;
            }
            if (cursor_on && cursor_phase && cell == cursor &&
                cur_start <= cur_end && gl >= cur_start && gl <= cur_end) {
                bits = 0xff;
            }
            /* the 9th dot repeats the 8th for the line-drawing glyphs */
            ninth = line_gfx && ch >= 0xc0 && ch <= 0xdf && (bits & 1);
            for (int x = 0; x < cw; x++) {
                bool on = x < 8 ? (bits >> (7 - x)) & 1 : ninth;
                uint32_t px = on ? fg : bg;
                if (dbl) {
                    *d++ = px;
                }
                *d++ = px;
            }
        }
        commit_line(s, f, y, line);
    }
}

/* ---- VGA graphics ---- */

typedef enum VGAShift {
    SHIFT_PLANAR4,      /* 16 colours from the four planes */
    SHIFT_CGA2,         /* 2-bit pixels, plane 0 then plane 1 bytes */
    SHIFT_PACKED8,      /* 256 colours, one byte per pixel, doubled */
} VGAShift;

static uint32_t vram_dword(VGACommonState *s, uint32_t byte_addr)
{
    const uint8_t *p = s->vram_ptr + (byte_addr & (s->vram_size - 4));

    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void draw_line_vga(VGACommonState *s, VGAFrame *f, VGAShift shift,
                          bool dbl, uint32_t addr, uint32_t *line)
{
    uint32_t plane_mask = 0;
    int x = 0;

    for (int p = 0; p < 4; p++) {
        if (s->ar[VGA_ATC_PLANE_ENABLE] & (1u << p)) {
            plane_mask |= 0xffu << (p * 8);
        }
    }
    while (x < f->width) {
        uint32_t d = vram_dword(s, addr);
        uint32_t px[8];
        int n = 8;
        addr += 4;
        if (shift == SHIFT_PACKED8) {
            for (int i = 0; i < 4; i++) {
                px[2 * i] = px[2 * i + 1] = f->pal256[(d >> (i * 8)) & 0xff];
            }
        } else if (shift == SHIFT_CGA2) {
            d &= plane_mask;
            for (int i = 0; i < 8; i++) {
                uint8_t b = d >> (i < 4 ? 0 : 8);
                px[i] = f->pal16[(b >> (6 - (i & 3) * 2)) & 3];
            }
        } else {
            d &= plane_mask;
            for (int i = 0; i < 8; i++) {
                unsigned bit = 7 - i, v = 0;
                for (int p = 0; p < 4; p++) {
                    v |= ((d >> (p * 8 + bit)) & 1) << p;
                }
                px[i] = f->pal16[v];
            }
        }
        for (int i = 0; i < n && x < f->width; i++) {
            line[x++] = px[i];
            if (dbl && x < f->width) {
                line[x++] = px[i];
            }
        }
    }
}

static void draw_graphic(VGACommonState *s, VGAFrame *f)
{
    uint8_t mode = s->gr[VGA_GFX_MODE];
    VGAShift shift = (mode & 0x40) ? SHIFT_PACKED8
                     : (mode & 0x20) ? SHIFT_CGA2 : SHIFT_PLANAR4;
    bool dbl = shift != SHIFT_PACKED8 &&
               (s->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_DOT_CLK_DIV2);
    int width = (s->cr[VGA_CRTC_H_DISP] + 1) * 8 * (dbl ? 2 : 1);
    int height = (s->cr[VGA_CRTC_V_DISP_END] |
                  (s->cr[VGA_CRTC_OVERFLOW] & 0x02) << 7 |
                  (s->cr[VGA_CRTC_OVERFLOW] & 0x40) << 3) + 1;
    uint8_t max_scan = s->cr[VGA_CRTC_MAX_SCAN];
    uint8_t crtc_mode = s->cr[VGA_CRTC_MODE];
    int double_scan = max_scan >> 7;
    /* scanlines per memory row, less one (CGA modes repeat only for
     * double scanning) */
    int multi_scan = shift == SHIFT_CGA2
                         ? double_scan
                         : (((max_scan & 0x1f) + 1) << double_scan) - 1;
    int line_compare = s->cr[VGA_CRTC_LINE_COMPARE] |
                       (s->cr[VGA_CRTC_OVERFLOW] & 0x10) << 4 |
                       (max_scan & 0x40) << 3;
    uint32_t line_offset = s->cr[VGA_CRTC_OFFSET] << 3;
    uint32_t row_addr = (s->cr[VGA_CRTC_START_HI] << 8 |
                         s->cr[VGA_CRTC_START_LO]) * 4;
    int multi_run = multi_scan, y1 = 0;
    uint32_t *line, span;

    begin_frame(s, f, width, height);
    line = line_buffer(s, f->width);
    /* the VRAM a scanline reads: a dword per 8 pixels (16 doubled) */
    span = 4 * ((f->width + (dbl ? 15 : 7)) / (dbl ? 16 : 8));
    for (int y = 0; y < f->height; y++) {
        uint32_t addr = row_addr;
        /* CR17 bit 0 clear: the row counter's bit 0 replaces CRTC
         * address bit 13 (CGA's two banks); bit 1 clear: bit 1 replaces
         * address bit 14 (Hercules' four) */
        if (!(crtc_mode & 1)) {
            int b = 14 + ((crtc_mode >> 6) & 1);
            addr = (addr & ~(1u << b)) | (uint32_t)(y1 & 1) << b;
        }
        if (!(crtc_mode & 2)) {
            addr = (addr & ~0x8000u) | (uint32_t)(y1 & 2) << 14;
        }
        if (f->all || vram_written(s, f, addr, span)) {
            draw_line_vga(s, f, shift, dbl, addr, line);
            commit_line(s, f, y, line);
        }
        if (!multi_run) {
            int mask = (crtc_mode & 3) ^ 3;
            if ((y1 & mask) == mask) {
                row_addr += line_offset;
            }
            y1++;
            multi_run = multi_scan;
        } else {
            multi_run--;
        }
        /* split screen: the rows after the line compare start at 0 */
        if (y == line_compare) {
            row_addr = 0;
        }
    }
}

/* ---- Bochs VBE ---- */

static uint32_t vbe_pixel(VGACommonState *s, VGAFrame *f, unsigned bpp,
                          uint32_t a)
{
    uint32_t v, r, g, b;

    switch (bpp) {
    case 8:
        return f->pal256[vram_byte(s, a)];
    case 15:
    case 16:
        v = vram_byte(s, a) | vram_byte(s, a + 1) << 8;
        if (bpp == 15) {
            r = (v >> 10) & 0x1f;
            g = (v >> 5) & 0x1f;
            g = g << 3 | g >> 2;
        } else {
            r = (v >> 11) & 0x1f;
            g = (v >> 5) & 0x3f;
            g = g << 2 | g >> 4;
        }
        b = v & 0x1f;
        return (r << 3 | r >> 2) << 16 | g << 8 | (b << 3 | b >> 2);
    default:    /* 24 and 32: B, G, R (, X) in memory */
        return vram_byte(s, a + 2) << 16 | vram_byte(s, a + 1) << 8 |
               vram_byte(s, a);
    }
}

static void draw_vbe(VGACommonState *s, VGAFrame *f)
{
    unsigned bpp = s->vbe_regs[VBE_DISPI_INDEX_BPP];
    unsigned bytes = (bpp + 7) / 8;
    uint32_t *line;

    begin_frame(s, f, s->vbe_regs[VBE_DISPI_INDEX_XRES],
                s->vbe_regs[VBE_DISPI_INDEX_YRES]);
    line = line_buffer(s, f->width);
    for (int y = 0; y < f->height; y++) {
        uint32_t a = s->vbe_start_addr + y * s->vbe_line_offset;
        if (!f->all && !vram_written(s, f, a, f->width * bytes)) {
            continue;
        }
        if (bpp == 32 && a + f->width * 4ull <= s->vram_size) {
            /* the common case, a line inside VRAM: whole pixels at once */
            const uint8_t *p = s->vram_ptr + a;
            for (int x = 0; x < f->width; x++, p += 4) {
                line[x] = ld32(p) & 0xffffff;
            }
        } else {
            for (int x = 0; x < f->width; x++, a += bytes) {
                line[x] = vbe_pixel(s, f, bpp, a);
            }
        }
        commit_line(s, f, y, line);
    }
}

/* The screen is off: black, at the size it had. */
static void draw_blank(VGACommonState *s, VGAFrame *f)
{
    DisplaySurface *surf = qemu_console_surface(s->con);
    uint32_t *line;

    begin_frame(s, f, surface_width(surf), surface_height(surf));
    if (!f->all) {
        return;     /* VRAM does not show */
    }
    line = line_buffer(s, f->width);
    memset(line, 0, f->width * 4);
    for (int y = 0; y < f->height; y++) {
        commit_line(s, f, y, line);
    }
}

/* Whether what the picture depends on changed since the last render. */
static bool display_regs_changed(VGACommonState *s)
{
    VGADisplayRegs r;

    memset(&r, 0, sizeof(r));   /* the padding too: memcmp below */
    r.msr = s->msr;
    r.pas = s->ar_index & VGA_AR_ENABLE_DISPLAY;
    r.pel_mask = s->pel_mask;
    memcpy(r.sr, s->sr, sizeof(r.sr));
    memcpy(r.gr, s->gr, sizeof(r.gr));
    memcpy(r.ar, s->ar, sizeof(r.ar));
    memcpy(r.cr, s->cr, sizeof(r.cr));
    memcpy(r.palette, s->palette, sizeof(r.palette));
    memcpy(r.vbe_regs, s->vbe_regs, sizeof(r.vbe_regs));
    r.vbe_regs[VBE_DISPI_INDEX_BANK] = 0;     /* the window, not the screen */
    r.vbe_start_addr = s->vbe_start_addr;
    r.vbe_line_offset = s->vbe_line_offset;
    if (!memcmp(&r, &s->last_regs, sizeof(r))) {
        return false;
    }
    s->last_regs = r;
    return true;
}

static void vga_gfx_update(void *opaque)
{
    VGACommonState *s = opaque;
    VGAFrame f;

    if (!s->con) {
        return;
    }
    /* clear the bits before reading VRAM: a write from now on shows up
     * in this frame or sets them again for the next */
    f.vram_dirty = memory_region_snapshot_and_clear_dirty(&s->vram, 0,
                                                          s->vram_size);
    f.all = display_regs_changed(s);
    build_palettes(s, &f);
    if (!(s->ar_index & VGA_AR_ENABLE_DISPLAY) ||
        (s->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_SCREEN_OFF)) {
        draw_blank(s, &f);
    } else if (vbe_enabled(s)) {
        draw_vbe(s, &f);
    } else if (s->gr[VGA_GFX_MISC] & VGA_GR06_GRAPHICS_MODE) {
        draw_graphic(s, &f);
    } else {
        draw_text(s, &f);
    }
    end_frame(s, &f);
    memory_region_snapshot_free(f.vram_dirty);
}

static void vga_invalidate(void *opaque)
{
    ((VGACommonState *)opaque)->full_update = true;
}

const GraphicHwOps vga_graphic_ops = {
    .gfx_update = vga_gfx_update,
    .invalidate = vga_invalidate,
};
