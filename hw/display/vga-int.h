/*
 * The VGA core shared by the register/memory side (vga.c), the renderer
 * (vga-render.c) and the std-vga PCI device with Bochs VBE (std-vga.c).
 * Register facts: IBM VGA Technical Reference and FreeVGA.
 */
#ifndef HW_DISPLAY_VGA_INT_H
#define HW_DISPLAY_VGA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/memory.h"
#include "ui/console.h"

/* Register files and the sizes of their index spaces */
#define VGA_SEQ_COUNT       5       /* SR00-SR04 */
#define VGA_GFX_COUNT       9       /* GR00-GR08 */
#define VGA_ATT_COUNT       21      /* AR00-AR14 */
#define VGA_CRTC_COUNT      25      /* CR00-CR18 */

/* Sequencer */
#define VGA_SEQ_CLOCK_MODE  0x01
#define  VGA_SR01_CHAR_CLK_8DOTS 0x01
#define  VGA_SR01_DOT_CLK_DIV2   0x08
#define  VGA_SR01_SCREEN_OFF     0x20
#define VGA_SEQ_PLANE_WRITE 0x02
#define VGA_SEQ_CHARACTER_MAP 0x03
#define VGA_SEQ_MEMORY_MODE 0x04
#define  VGA_SR04_EXT_MEM   0x02
#define  VGA_SR04_SEQ_MODE  0x04    /* odd/even host writes disabled */
#define  VGA_SR04_CHN_4M    0x08

/* Graphics controller */
#define VGA_GFX_SR_VALUE    0x00
#define VGA_GFX_SR_ENABLE   0x01
#define VGA_GFX_COMPARE_VALUE 0x02
#define VGA_GFX_DATA_ROTATE 0x03
#define VGA_GFX_PLANE_READ  0x04
#define VGA_GFX_MODE        0x05
#define  VGA_GR05_ODD_EVEN  0x10    /* odd/even host reads */
#define VGA_GFX_MISC        0x06
#define  VGA_GR06_GRAPHICS_MODE 0x01
#define VGA_GFX_COMPARE_MASK 0x07
#define VGA_GFX_BIT_MASK    0x08

/* Attribute controller */
#define VGA_ATC_MODE        0x10
#define VGA_ATC_OVERSCAN    0x11
#define VGA_ATC_PLANE_ENABLE 0x12
#define VGA_ATC_PEL         0x13
#define VGA_ATC_COLOR_PAGE  0x14
#define VGA_AR_ENABLE_DISPLAY 0x20  /* PAS in the index register */

/* CRT controller */
#define VGA_CRTC_H_DISP     0x01
#define VGA_CRTC_OVERFLOW   0x07
#define VGA_CRTC_MAX_SCAN   0x09
#define VGA_CRTC_CURSOR_START 0x0a
#define VGA_CRTC_CURSOR_END 0x0b
#define VGA_CRTC_START_HI   0x0c
#define VGA_CRTC_START_LO   0x0d
#define VGA_CRTC_CURSOR_HI  0x0e
#define VGA_CRTC_CURSOR_LO  0x0f
#define VGA_CRTC_V_SYNC_END 0x11
#define VGA_CRTC_V_DISP_END 0x12
#define VGA_CRTC_OFFSET     0x13
#define VGA_CRTC_UNDERLINE  0x14
#define VGA_CRTC_MODE       0x17
#define VGA_CRTC_LINE_COMPARE 0x18

/* Input status 1 */
#define VGA_ST01_DISP_ENABLE 0x01
#define VGA_ST01_V_RETRACE  0x08

/* Bochs VBE DISPI (Bochs vbe.h, as QEMU's std-vga) */
#define VBE_DISPI_INDEX_ID          0x0
#define VBE_DISPI_INDEX_XRES        0x1
#define VBE_DISPI_INDEX_YRES        0x2
#define VBE_DISPI_INDEX_BPP         0x3
#define VBE_DISPI_INDEX_ENABLE      0x4
#define VBE_DISPI_INDEX_BANK        0x5
#define VBE_DISPI_INDEX_VIRT_WIDTH  0x6
#define VBE_DISPI_INDEX_VIRT_HEIGHT 0x7
#define VBE_DISPI_INDEX_X_OFFSET    0x8
#define VBE_DISPI_INDEX_Y_OFFSET    0x9
#define VBE_DISPI_INDEX_VIDEO_MEMORY_64K 0xa
#define VBE_DISPI_INDEX_NB          0xb

#define VBE_DISPI_ID0               0xb0c0
#define VBE_DISPI_ID5               0xb0c5
#define VBE_DISPI_MAX_XRES          16000
#define VBE_DISPI_MAX_YRES          12000
#define VBE_DISPI_MAX_BPP           32

#define VBE_DISPI_ENABLED           0x01
#define VBE_DISPI_GETCAPS           0x02
#define VBE_DISPI_8BIT_DAC          0x20
#define VBE_DISPI_LFB_ENABLED       0x40
#define VBE_DISPI_NOCLEARMEM        0x80

#define VBE_DISPI_IOPORT_INDEX      0x1ce

/*
 * What the picture depends on besides VRAM and the clock: when any of it
 * changes between two renders, every scanline is drawn again.
 */
typedef struct VGADisplayRegs {
    uint8_t msr, pas, pel_mask;
    uint8_t sr[8], gr[16], ar[VGA_ATT_COUNT], cr[32];
    uint8_t palette[768];
    uint16_t vbe_regs[VBE_DISPI_INDEX_NB];
    uint32_t vbe_start_addr, vbe_line_offset;
} VGADisplayRegs;

typedef struct VGACommonState {
    Machine *m;
    Device *dev;

    /* VRAM: 4 bytes per planar address, plane p in byte p (QEMU's layout,
     * so chain-4 and the linear framebuffer see it as plain bytes) */
    MemoryRegion vram;
    uint8_t *vram_ptr;
    uint32_t vram_size;     /* a power of two */
    MemoryRegion lowmem;    /* the 128 KiB window at 0xA0000 */
    MemoryRegion io_3b4, io_3ba, io_3c0, io_3d4, io_3da, io_vbe;
    bool legacy_mapped;

    /* registers */
    uint32_t latch;
    uint8_t msr;            /* misc output */
    uint8_t fcr;            /* feature control */
    uint8_t st00, st01;
    uint8_t sr_index, sr[8];
    uint8_t gr_index, gr[16];
    uint8_t ar_index, ar[VGA_ATT_COUNT];
    bool ar_flip_flop;      /* true: the next 0x3c0 write is data */
    uint8_t cr_index, cr[32];
    uint8_t dac_state;      /* 0x3c7 read: 0 write mode, 3 read mode */
    uint8_t dac_sub_index;  /* 0-2: R, G, B */
    uint8_t dac_read_index, dac_write_index;
    uint8_t dac_cache[3];
    uint8_t palette[768];   /* 6-bit (or 8-bit DAC) R, G, B */
    uint8_t pel_mask;

    /* Bochs VBE */
    uint16_t vbe_index;
    uint16_t vbe_regs[VBE_DISPI_INDEX_NB];
    uint32_t vbe_start_addr;    /* bytes into VRAM */
    uint32_t vbe_line_offset;   /* bytes */
    uint32_t bank_offset;       /* bytes; the 64 KiB window's bank */

    /* display */
    QemuConsole *con;
    bool full_update;       /* redraw and report everything next time */
    VGADisplayRegs last_regs;   /* as at the last render */
    bool cursor_was_on, blink_was_on;   /* text phases last drawn */
    uint8_t *font_copy;     /* the two text font maps last drawn */
    uint32_t *line_buf;     /* one rendered scanline */
    uint32_t line_buf_len;
    uint64_t lines_rendered;    /* scanlines drawn so far (for tests) */
} VGACommonState;

/* vga.c */
bool vga_common_init(VGACommonState *s, Device *dev, Machine *m,
                     uint32_t vram_mb, GError **errp);
void vga_common_uninit(VGACommonState *s);
void vga_common_reset(VGACommonState *s);
/* Maps the ports 0x3b4-0x3da and the window at 0xA0000 into m. */
void vga_map_legacy(VGACommonState *s);
uint32_t vga_ioport_read(VGACommonState *s, uint32_t port);
void vga_ioport_write(VGACommonState *s, uint32_t port, uint32_t val);
uint32_t vga_mem_readb(VGACommonState *s, hwaddr addr);
void vga_mem_writeb(VGACommonState *s, hwaddr addr, uint32_t val);
bool vga_common_post_load(VGACommonState *s, GError **errp);
extern const VMStateDescription vmstate_vga_common;

/* std-vga.c: Bochs VBE */
VGACommonState *std_vga_common(Device *dev);
bool vbe_enabled(const VGACommonState *s);
uint32_t vbe_read_index(VGACommonState *s);
void vbe_write_index(VGACommonState *s, uint32_t val);
uint32_t vbe_read_data(VGACommonState *s);
void vbe_write_data(VGACommonState *s, uint32_t val);

/* vga-render.c */
extern const GraphicHwOps vga_graphic_ops;

#endif
