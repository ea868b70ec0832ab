/*
 * The standard VGA's registers as the qtest programs program them: the
 * Bochs VBE (DISPI) index/data ports and the VGA's indexed registers; the
 * screendump pixels they check.
 */
#ifndef QTEST_VGA_REGS_H
#define QTEST_VGA_REGS_H

#include "libqtest.h"

#define VBE_INDEX   0x1ce
#define VBE_DATA    0x1cf
#define VBE_ID      0
#define VBE_XRES    1
#define VBE_YRES    2
#define VBE_BPP     3
#define VBE_ENABLE  4
#define VBE_BANK    5
#define VBE_VIRT_WIDTH 6
#define VBE_VIRT_HEIGHT 7
#define VBE_X_OFFSET 8
#define VBE_Y_OFFSET 9
#define VBE_VIDEO_MEMORY_64K 10
#define VBE_ENABLED 0x01
#define VBE_GETCAPS 0x02
#define VBE_LFB     0x40

static inline void vbe_write(QTestState *s, uint16_t index, uint16_t val)
{
    qtest_outw(s, VBE_INDEX, index);
    qtest_outw(s, VBE_DATA, val);
}

static inline uint16_t vbe_read(QTestState *s, uint16_t index)
{
    qtest_outw(s, VBE_INDEX, index);
    return qtest_inw(s, VBE_DATA);
}

/* Attribute controller: reset the flip-flop, then index and data. */
static inline void ar_write(QTestState *s, uint8_t index, uint8_t val)
{
    qtest_inb(s, 0x3da);
    qtest_outb(s, 0x3c0, index);
    qtest_outb(s, 0x3c0, val);
}

/* Palette address source on: the screen shows. */
static inline void display_on(QTestState *s)
{
    qtest_inb(s, 0x3da);
    qtest_outb(s, 0x3c0, 0x20);
}

static inline void dac_set(QTestState *s, uint8_t index, uint8_t r, uint8_t g,
                    uint8_t b)
{
    qtest_outb(s, 0x3c8, index);
    qtest_outb(s, 0x3c9, r);
    qtest_outb(s, 0x3c9, g);
    qtest_outb(s, 0x3c9, b);
}

static inline void sr_write(QTestState *s, uint8_t i, uint8_t v)
{
    qtest_outb(s, 0x3c4, i);
    qtest_outb(s, 0x3c5, v);
}

static inline void gr_write(QTestState *s, uint8_t i, uint8_t v)
{
    qtest_outb(s, 0x3ce, i);
    qtest_outb(s, 0x3cf, v);
}

static inline void cr_write(QTestState *s, uint8_t i, uint8_t v)
{
    qtest_outb(s, 0x3d4, i);
    qtest_outb(s, 0x3d5, v);
}

/* A screendump's pixels: w x h, 3 bytes (R, G, B) each. */
typedef struct Image {
    int w, h;
    uint8_t *rgb;
} Image;

static inline uint32_t pixel(const Image *img, int x, int y)
{
    const uint8_t *p;

    g_assert_cmpint(x, <, img->w);
    g_assert_cmpint(y, <, img->h);
    p = img->rgb + (y * img->w + x) * 3;
    return p[0] << 16 | p[1] << 8 | p[2];
}

/* The EGA colours in the attribute palette and DAC; colour 15 white. */
static inline void ega_palette(QTestState *s)
{
    for (int i = 0; i < 16; i++) {
        ar_write(s, i, i);
        dac_set(s, i, (i & 4) ? 42 : 0, (i & 2) ? 42 : 0, (i & 1) ? 42 : 0);
    }
    dac_set(s, 15, 63, 63, 63);
    ar_write(s, 0x12, 0x0f);
    ar_write(s, 0x13, 0);
    ar_write(s, 0x14, 0);
}

#endif
