/*
 * The VGA core (IBM VGA Technical Reference, FreeVGA): misc output,
 * sequencer, CRT, graphics and attribute controllers, DAC and input
 * status registers, and the four 64 KiB planes behind the window at
 * 0xA0000 with read modes 0/1, write modes 0-3, chain-4 and odd/even.
 */
#include <string.h>

#include "vga-int.h"
#include "util/opts.h"

/* Guest-writable bits of each register (the rest read as 0) */
static const uint8_t sr_mask[VGA_SEQ_COUNT] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e };
static const uint8_t gr_mask[VGA_GFX_COUNT] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03,
                                                0x7b, 0x0f, 0x0f, 0xff };

/* Each of the low four bits of v becomes a byte of 0xff (plane lanes). */
static uint32_t expand4(uint32_t v)
{
    uint32_t r = 0;

    for (int p = 0; p < 4; p++) {
        if (v & (1u << p)) {
            r |= 0xffu << (p * 8);
        }
    }
    return r;
}

static uint32_t vram_ld32(VGACommonState *s, uint32_t dword)
{
    const uint8_t *p = s->vram_ptr + dword * 4;

    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The window's writes reach VRAM here, not through the memory API's RAM
 * path: they tell the dirty log themselves, after the data is in. */
static void vram_written(VGACommonState *s, uint32_t addr, uint32_t len)
{
    memory_region_set_dirty(&s->vram, addr, len);
}

static void vram_st32(VGACommonState *s, uint32_t dword, uint32_t v)
{
    uint8_t *p = s->vram_ptr + dword * 4;

    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
    vram_written(s, dword * 4, 4);
}

static bool dac_8bit(VGACommonState *s)
{
    return s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC;
}

/* ---- I/O ports ---- */

/* The mono ports (0x3bX) answer only with misc output bit 0 clear, the
 * colour ports (0x3dX) only with it set. */
static bool port_decoded(VGACommonState *s, uint32_t port)
{
    if (port >= 0x3b0 && port <= 0x3bf) {
        return !(s->msr & 1);
    }
    if (port >= 0x3d0 && port <= 0x3df) {
        return s->msr & 1;
    }
    return true;
}

uint32_t vga_ioport_read(VGACommonState *s, uint32_t port)
{
    uint32_t val;

    if (!port_decoded(s, port)) {
        return 0xff;
    }
    switch (port) {
    case 0x3c0:
        return s->ar_flip_flop ? 0 : s->ar_index;
    case 0x3c1:
        val = s->ar_index & 0x1f;
        return val < VGA_ATT_COUNT ? s->ar[val] : 0;
    case 0x3c2:
        return s->st00;
    case 0x3c4:
        return s->sr_index;
    case 0x3c5:
        return s->sr_index < VGA_SEQ_COUNT ? s->sr[s->sr_index] : 0;
    case 0x3c6:
        return s->pel_mask;
    case 0x3c7:
        return s->dac_state;
    case 0x3c8:
        return s->dac_write_index;
    case 0x3c9:
        val = s->palette[s->dac_read_index * 3 + s->dac_sub_index];
        if (++s->dac_sub_index == 3) {
            s->dac_sub_index = 0;
            s->dac_read_index++;
        }
        return val;
    case 0x3ca:
        return s->fcr;
    case 0x3cc:
        return s->msr;
    case 0x3ce:
        return s->gr_index;
    case 0x3cf:
        return s->gr_index < VGA_GFX_COUNT ? s->gr[s->gr_index] : 0;
    case 0x3b4:
    case 0x3d4:
        return s->cr_index;
    case 0x3b5:
    case 0x3d5:
        return s->cr_index < VGA_CRTC_COUNT ? s->cr[s->cr_index] : 0;
    case 0x3ba:
    case 0x3da:
        /* reading input status 1 resets the attribute flip-flop; the
         * retrace bits toggle so that polling loops see both phases */
        s->ar_flip_flop = false;
        s->st01 ^= VGA_ST01_V_RETRACE | VGA_ST01_DISP_ENABLE;
        return s->st01;
    default:
        return 0xff;
    }
}

static void ar_write(VGACommonState *s, uint32_t val)
{
    unsigned idx;

    if (!s->ar_flip_flop) {
        s->ar_index = val & 0x3f;
        s->ar_flip_flop = true;
        return;
    }
    s->ar_flip_flop = false;
    idx = s->ar_index & 0x1f;
    if (idx < 0x10) {
        s->ar[idx] = val & 0x3f;
    } else if (idx == VGA_ATC_MODE) {
        s->ar[idx] = val & ~0x10;
    } else if (idx == VGA_ATC_OVERSCAN) {
        s->ar[idx] = val;
    } else if (idx == VGA_ATC_PLANE_ENABLE) {
        s->ar[idx] = val & 0x3f;
    } else if (idx == VGA_ATC_PEL || idx == VGA_ATC_COLOR_PAGE) {
        s->ar[idx] = val & 0x0f;
    }
}

static void crtc_write(VGACommonState *s, uint32_t val)
{
    unsigned idx = s->cr_index;

    if (idx >= VGA_CRTC_COUNT) {
        return;
    }
    /* CR11 bit 7 protects CR00-CR07, but for CR07's line compare bit 8 */
    if ((s->cr[VGA_CRTC_V_SYNC_END] & 0x80) && idx <= VGA_CRTC_OVERFLOW) {
        if (idx == VGA_CRTC_OVERFLOW) {
            s->cr[idx] = (s->cr[idx] & ~0x10) | (val & 0x10);
        }
        return;
    }
    s->cr[idx] = val;
}

static void dac_data_write(VGACommonState *s, uint32_t val)
{
    s->dac_cache[s->dac_sub_index] = dac_8bit(s) ? val : val & 0x3f;
    if (++s->dac_sub_index == 3) {
        memcpy(&s->palette[s->dac_write_index * 3], s->dac_cache, 3);
        s->dac_sub_index = 0;
        s->dac_write_index++;
    }
}

void vga_ioport_write(VGACommonState *s, uint32_t port, uint32_t val)
{
    val &= 0xff;
    if (!port_decoded(s, port)) {
        return;
    }
    switch (port) {
    case 0x3c0:     /* 0x3c1 is the read-only data port */
        ar_write(s, val);
        break;
    case 0x3c2:
        s->msr = val & ~0x10;
        break;
    case 0x3c4:
        s->sr_index = val & 7;
        break;
    case 0x3c5:
        if (s->sr_index < VGA_SEQ_COUNT) {
            s->sr[s->sr_index] = val & sr_mask[s->sr_index];
        }
        break;
    case 0x3c6:
        s->pel_mask = val;
        break;
    case 0x3c7:
        s->dac_read_index = val;
        s->dac_sub_index = 0;
        s->dac_state = 3;
        break;
    case 0x3c8:
        s->dac_write_index = val;
        s->dac_sub_index = 0;
        s->dac_state = 0;
        break;
    case 0x3c9:
        dac_data_write(s, val);
        break;
    case 0x3ce:
        s->gr_index = val & 0x0f;
        break;
    case 0x3cf:
        if (s->gr_index < VGA_GFX_COUNT) {
            s->gr[s->gr_index] = val & gr_mask[s->gr_index];
        }
        break;
    case 0x3b4:
    case 0x3d4:
        s->cr_index = val;
        break;
    case 0x3b5:
    case 0x3d5:
        crtc_write(s, val);
        break;
    case 0x3ba:
    case 0x3da:
        s->fcr = val & 0x10;
        break;
    }
}

/* ---- the memory window ---- */

/*
 * Maps an offset in the 128 KiB window to a CPU address in the planes per
 * GR06's memory map select, or returns false when that part of the window
 * is not decoded. The 64 KiB map is also the Bochs VBE banked window.
 */
static bool window_map(VGACommonState *s, hwaddr *addr)
{
    switch ((s->gr[VGA_GFX_MISC] >> 2) & 3) {
    case 0:
        return true;
    case 1:
        if (*addr >= 0x10000) {
            return false;
        }
        *addr += s->bank_offset;
        return true;
    case 2:
        if (*addr < 0x10000 || *addr >= 0x18000) {
            return false;
        }
        *addr -= 0x10000;
        return true;
    default:
        if (*addr < 0x18000) {
            return false;
        }
        *addr -= 0x18000;
        return true;
    }
}

uint32_t vga_mem_readb(VGACommonState *s, hwaddr addr)
{
    uint32_t plane, latch, cmp;

    if (!window_map(s, &addr)) {
        return 0xff;
    }
    if (s->sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_CHN_4M) {
        /* chain-4: address bits 1:0 select the plane */
        return addr < s->vram_size ? s->vram_ptr[addr] : 0xff;
    }
    if (s->gr[VGA_GFX_MODE] & VGA_GR05_ODD_EVEN) {
        /* odd/even: A0 selects plane 0/1 (or 2/3 with read map bit 1) */
        plane = (s->gr[VGA_GFX_PLANE_READ] & 2) | (addr & 1);
        addr = (addr >> 1) * 4 + plane;
        return addr < s->vram_size ? s->vram_ptr[addr] : 0xff;
    }
    if (addr >= s->vram_size / 4) {
        return 0xff;
    }
    latch = s->latch = vram_ld32(s, addr);
    if (!(s->gr[VGA_GFX_MODE] & 0x08)) {
        /* read mode 0: the plane read map select names */
        plane = s->gr[VGA_GFX_PLANE_READ] & 3;
        return (latch >> (plane * 8)) & 0xff;
    }
    /* read mode 1: a bit is set where every plane not in "colour don't
     * care" matches the colour compare register */
    cmp = 0xff;
    for (plane = 0; plane < 4; plane++) {
        if (s->gr[VGA_GFX_COMPARE_MASK] & (1u << plane)) {
            uint32_t want = (s->gr[VGA_GFX_COMPARE_VALUE] >> plane) & 1
                                ? 0xff : 0;
            cmp &= ~((latch >> (plane * 8)) ^ want);
        }
    }
    return cmp & 0xff;
}

static uint32_t rotate_right8(uint32_t v, unsigned n)
{
    n &= 7;
    return ((v >> n) | (v << (8 - n))) & 0xff;
}

void vga_mem_writeb(VGACommonState *s, hwaddr addr, uint32_t val)
{
    uint32_t planes, v, bit_mask, latch = s->latch;

    val &= 0xff;
    if (!window_map(s, &addr)) {
        return;
    }
    if (s->sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_CHN_4M) {
        if ((s->sr[VGA_SEQ_PLANE_WRITE] & (1u << (addr & 3))) &&
            addr < s->vram_size) {
            s->vram_ptr[addr] = val;
            vram_written(s, addr, 1);
        }
        return;
    }
    if (!(s->sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_SEQ_MODE)) {
        /* odd/even: even addresses reach planes 0/2, odd ones 1/3 */
        planes = s->sr[VGA_SEQ_PLANE_WRITE] & ((addr & 1) ? 0xa : 0x5);
        addr >>= 1;
        if (addr >= s->vram_size / 4) {
            return;
        }
        for (int p = 0; p < 4; p++) {
            if (planes & (1u << p)) {
                s->vram_ptr[addr * 4 + p] = val;
            }
        }
        vram_written(s, addr * 4, 4);
        return;
    }
    if (addr >= s->vram_size / 4) {
        return;
    }
    bit_mask = s->gr[VGA_GFX_BIT_MASK];
    switch (s->gr[VGA_GFX_MODE] & 3) {
    case 0: {
        uint32_t sr_enable = expand4(s->gr[VGA_GFX_SR_ENABLE]);
        v = rotate_right8(val, s->gr[VGA_GFX_DATA_ROTATE]) * 0x01010101u;
        v = (v & ~sr_enable) | (expand4(s->gr[VGA_GFX_SR_VALUE]) & sr_enable);
        break;
    }
    case 1:
        /* the latches as they are, no bit mask or function */
        v = latch;
        goto store;
    case 2:
        v = expand4(val);
        break;
    default:
        bit_mask &= rotate_right8(val, s->gr[VGA_GFX_DATA_ROTATE]);
        v = expand4(s->gr[VGA_GFX_SR_VALUE]);
        break;
    }
    switch ((s->gr[VGA_GFX_DATA_ROTATE] >> 3) & 3) {
    case 1:
        v &= latch;
        break;
    case 2:
        v |= latch;
        break;
    case 3:
        v ^= latch;
        break;
    }
    bit_mask *= 0x01010101u;
    v = (v & bit_mask) | (latch & ~bit_mask);
store:
    planes = expand4(s->sr[VGA_SEQ_PLANE_WRITE]);
    vram_st32(s, addr, (vram_ld32(s, addr) & ~planes) | (v & planes));
}

static uint64_t lowmem_read(void *opaque, hwaddr addr, unsigned size)
{
    return vga_mem_readb(opaque, addr);
}

static void lowmem_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    vga_mem_writeb(opaque, addr, val);
}

static const MemoryRegionOps lowmem_ops = {
    .read = lowmem_read,
    .write = lowmem_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- port regions: the offset plus the region's first port ---- */

#define VGA_PORT_OPS(base)                                                  \
    static uint64_t io_##base##_read(void *opaque, hwaddr addr,             \
                                     unsigned size)                         \
    {                                                                       \
        return vga_ioport_read(opaque, base + addr);                        \
    }                                                                       \
    static void io_##base##_write(void *opaque, hwaddr addr, uint64_t val,  \
                                  unsigned size)                            \
    {                                                                       \
        vga_ioport_write(opaque, base + addr, val);                         \
    }                                                                       \
    static const MemoryRegionOps io_##base##_ops = {                        \
        .read = io_##base##_read, .write = io_##base##_write,               \
        .impl_min = 1, .impl_max = 1,                                       \
    };

VGA_PORT_OPS(0x3b4)
VGA_PORT_OPS(0x3ba)
VGA_PORT_OPS(0x3c0)
VGA_PORT_OPS(0x3d4)
VGA_PORT_OPS(0x3da)

/* 0x1ce: index; 0x1cf (and 0x1d0, as on Bochs' non-x86 ports): data. */
static uint64_t vbe_io_read(void *opaque, hwaddr addr, unsigned size)
{
    return addr == 0 ? vbe_read_index(opaque) : vbe_read_data(opaque);
}

static void vbe_io_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    if (addr == 0) {
        vbe_write_index(opaque, val);
    } else {
        vbe_write_data(opaque, val);
    }
}

static const MemoryRegionOps vbe_io_ops = {
    .read = vbe_io_read,
    .write = vbe_io_write,
    .impl_min = 2,
    .impl_max = 2,
};

/* ---- life cycle ---- */

bool vga_common_init(VGACommonState *s, Device *dev, Machine *m,
                     uint32_t vram_mb, GError **errp)
{
    uint32_t mb = 1;

    /* QEMU's rule: 1-512 MiB, rounded up to a power of two */
    vram_mb = CLAMP(vram_mb, 1, 512);
    while (mb < vram_mb) {
        mb <<= 1;
    }
    s->m = m;
    s->dev = dev;
    s->vram_size = mb << 20;
    if (!memory_region_init_ram(&s->vram, "vga.vram", s->vram_size, errp)) {
        return false;
    }
    s->vram_ptr = memory_region_get_ram_ptr(&s->vram);
    /* the renderer draws only the scanlines whose VRAM was written */
    memory_region_set_log(&s->vram, true);
    memory_region_init_io(&s->lowmem, "vga-lowmem", &lowmem_ops, s, 0x20000);
    memory_region_init_io(&s->io_3b4, "vga", &io_0x3b4_ops, s, 2);
    memory_region_init_io(&s->io_3ba, "vga", &io_0x3ba_ops, s, 1);
    memory_region_init_io(&s->io_3c0, "vga", &io_0x3c0_ops, s, 16);
    memory_region_init_io(&s->io_3d4, "vga", &io_0x3d4_ops, s, 2);
    memory_region_init_io(&s->io_3da, "vga", &io_0x3da_ops, s, 1);
    memory_region_init_io(&s->io_vbe, "vbe", &vbe_io_ops, s, 3);
    s->con = graphic_console_init(dev, 0, &vga_graphic_ops, s);
    vga_common_reset(s);
    return true;
}

void vga_map_legacy(VGACommonState *s)
{
    MemoryRegion *io = s->m->io;

    memory_transaction_begin();
    /* above guest RAM, below SMRAM's D_OPEN view (the i440FX's) */
    memory_region_add_subregion_overlap(s->m->sysmem, 0xa0000, &s->lowmem, 1);
    memory_region_add_subregion(io, 0x3b4, &s->io_3b4);
    memory_region_add_subregion(io, 0x3ba, &s->io_3ba);
    memory_region_add_subregion(io, 0x3c0, &s->io_3c0);
    memory_region_add_subregion(io, 0x3d4, &s->io_3d4);
    memory_region_add_subregion(io, 0x3da, &s->io_3da);
    memory_region_add_subregion(io, VBE_DISPI_IOPORT_INDEX, &s->io_vbe);
    memory_transaction_commit();
    s->legacy_mapped = true;
}

void vga_common_uninit(VGACommonState *s)
{
    if (s->legacy_mapped) {
        MemoryRegion *io = s->m->io;

        memory_transaction_begin();
        memory_region_del_subregion(s->m->sysmem, &s->lowmem);
        memory_region_del_subregion(io, &s->io_3b4);
        memory_region_del_subregion(io, &s->io_3ba);
        memory_region_del_subregion(io, &s->io_3c0);
        memory_region_del_subregion(io, &s->io_3d4);
        memory_region_del_subregion(io, &s->io_3da);
        memory_region_del_subregion(io, &s->io_vbe);
        memory_transaction_commit();
        s->legacy_mapped = false;
    }
    graphic_console_close(s->con);
    s->con = NULL;
    memory_region_destroy(&s->lowmem);
    memory_region_destroy(&s->io_3b4);
    memory_region_destroy(&s->io_3ba);
    memory_region_destroy(&s->io_3c0);
    memory_region_destroy(&s->io_3d4);
    memory_region_destroy(&s->io_3da);
    memory_region_destroy(&s->io_vbe);
    memory_region_destroy(&s->vram);
    g_free(s->line_buf);
    s->line_buf = NULL;
    g_free(s->font_copy);
    s->font_copy = NULL;
    s->line_buf_len = 0;
}

/* Power-on: every register 0 (the VGA BIOS sets a mode), VRAM kept. */
void vga_common_reset(VGACommonState *s)
{
    s->latch = 0;
    s->msr = s->fcr = s->st00 = s->st01 = 0;
    s->sr_index = s->gr_index = s->ar_index = s->cr_index = 0;
    memset(s->sr, 0, sizeof(s->sr));
    memset(s->gr, 0, sizeof(s->gr));
    memset(s->ar, 0, sizeof(s->ar));
    memset(s->cr, 0, sizeof(s->cr));
    s->ar_flip_flop = false;
    s->dac_state = s->dac_sub_index = 0;
    s->dac_read_index = s->dac_write_index = 0;
    memset(s->dac_cache, 0, sizeof(s->dac_cache));
    memset(s->palette, 0, sizeof(s->palette));
    s->pel_mask = 0xff;
    s->vbe_index = 0;
    memset(s->vbe_regs, 0, sizeof(s->vbe_regs));
    s->vbe_regs[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
    s->vbe_regs[VBE_DISPI_INDEX_VIDEO_MEMORY_64K] = s->vram_size >> 16;
    s->vbe_start_addr = s->vbe_line_offset = s->bank_offset = 0;
    s->full_update = true;
}

/* ---- migration ---- */

/*
 * Indices come back masked the way the port writes mask them, so that
 * every later access stays inside its register file; the VBE geometry is
 * recomputed by the caller (vbe fixup), never taken from the stream.
 */
bool vga_common_post_load(VGACommonState *s, GError **errp)
{
    if (s->dac_sub_index > 2) {
        g_set_error(errp, VIREO_ERROR, 0, "DAC component index %u",
                    s->dac_sub_index);
        return false;
    }
    if (s->vbe_regs[VBE_DISPI_INDEX_VIDEO_MEMORY_64K] != s->vram_size >> 16) {
        g_set_error(errp, VIREO_ERROR, 0, "VGA RAM of %u x 64 KiB in the "
                    "stream, the device has %u",
                    s->vbe_regs[VBE_DISPI_INDEX_VIDEO_MEMORY_64K],
                    s->vram_size >> 16);
        return false;
    }
    s->sr_index &= 7;
    s->gr_index &= 0x0f;
    s->ar_index &= 0x3f;
    for (unsigned i = 0; i < VGA_SEQ_COUNT; i++) {
        s->sr[i] &= sr_mask[i];
    }
    for (unsigned i = 0; i < VGA_GFX_COUNT; i++) {
        s->gr[i] &= gr_mask[i];
    }
    s->full_update = true;
    return true;
}

static const VMStateField vga_fields[] = {
    VMSTATE_UINT32(latch, VGACommonState),
    VMSTATE_UINT8(msr, VGACommonState),
    VMSTATE_UINT8(fcr, VGACommonState),
    VMSTATE_UINT8(st00, VGACommonState),
    VMSTATE_UINT8(st01, VGACommonState),
    VMSTATE_UINT8(sr_index, VGACommonState),
    VMSTATE_BUFFER(sr, VGACommonState),
    VMSTATE_UINT8(gr_index, VGACommonState),
    VMSTATE_BUFFER(gr, VGACommonState),
    VMSTATE_UINT8(ar_index, VGACommonState),
    VMSTATE_BUFFER(ar, VGACommonState),
    VMSTATE_BOOL(ar_flip_flop, VGACommonState),
    VMSTATE_UINT8(cr_index, VGACommonState),
    VMSTATE_BUFFER(cr, VGACommonState),
    VMSTATE_UINT8(dac_state, VGACommonState),
    VMSTATE_UINT8(dac_sub_index, VGACommonState),
    VMSTATE_UINT8(dac_read_index, VGACommonState),
    VMSTATE_UINT8(dac_write_index, VGACommonState),
    VMSTATE_BUFFER(dac_cache, VGACommonState),
    VMSTATE_BUFFER(palette, VGACommonState),
    VMSTATE_UINT8(pel_mask, VGACommonState),
    VMSTATE_UINT16(vbe_index, VGACommonState),
    VMSTATE_UINT16_ARRAY(vbe_regs, VGACommonState),
    /* VRAM is a RAM block: it travels with RAM, pages dirtied and all */
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_vga_common = {
    .name = "vga-common",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vga_fields,
};
