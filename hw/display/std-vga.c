/*
 * QEMU's standard VGA ("VGA", PCI 1234:1111): the VGA core with the Bochs
 * VBE DISPI extension (Bochs vbe.h: index port 0x1ce, data 0x1cf), a
 * prefetchable linear framebuffer in BAR0 and QEMU's MMIO BAR2 (the VGA
 * ports at 0x400, the DISPI registers at 0x500, QEMU's extended registers
 * at 0x600), with vgabios-stdvga.bin as its option ROM.
 */
#include <string.h>

#include "hw/display/vga.h"
#include "hw/pci/pci.h"
#include "util/opts.h"
#include "vga-int.h"

#define PCI_VENDOR_ID_QEMU      0x1234
#define PCI_DEVICE_ID_QEMU_VGA  0x1111
#define PCI_CLASS_DISPLAY_VGA   0x030000

/* BAR2 layout (QEMU's hw/display/vga-pci.c) */
#define PCI_VGA_MMIO_SIZE       0x1000
#define PCI_VGA_IOPORT_OFFSET   0x400
#define PCI_VGA_IOPORT_SIZE     0x20    /* ports 0x3c0-0x3df */
#define PCI_VGA_BOCHS_OFFSET    0x500
#define PCI_VGA_BOCHS_SIZE      (VBE_DISPI_INDEX_NB * 2)
#define PCI_VGA_QEXT_OFFSET     0x600
#define PCI_VGA_QEXT_SIZE       8
#define  PCI_VGA_QEXT_REG_SIZE       0x0
#define  PCI_VGA_QEXT_REG_BYTEORDER  0x4
#define  PCI_VGA_QEXT_LITTLE_ENDIAN  0x1e1e1e1e

typedef struct PCIVGAState {
    PCIDevice pci;
    uint32_t vgamem_mb;
    bool mmio_enabled;
    VGACommonState vga;
    MemoryRegion mmio;
} PCIVGAState;

/* ---- Bochs VBE DISPI ---- */

VGACommonState *std_vga_common(Device *dev)
{
    return &((PCIVGAState *)dev)->vga;
}

bool vbe_enabled(const VGACommonState *s)
{
    return s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED;
}

static unsigned vbe_bytes_pp(VGACommonState *s)
{
    return (s->vbe_regs[VBE_DISPI_INDEX_BPP] + 7) / 8;
}

/*
 * Makes the mode registers consistent and the visible frame fit in VRAM
 * (the checks of QEMU's vbe_fixup_regs): unknown depths become 8 bpp,
 * resolutions are clamped to the maximum and to VRAM, offsets that would
 * run past the end are dropped. Only then does anything read VRAM with
 * them.
 */
static void vbe_fixup_regs(VGACommonState *s)
{
    uint16_t *r = s->vbe_regs;
    uint32_t line, maxy, offset;

    if (!vbe_enabled(s)) {
        return;
    }
    switch (r[VBE_DISPI_INDEX_BPP]) {
    case 8: case 15: case 16: case 24: case 32:
        break;
    default:
        r[VBE_DISPI_INDEX_BPP] = 8;
        break;
    }
    r[VBE_DISPI_INDEX_XRES] = MIN(r[VBE_DISPI_INDEX_XRES],
                                  VBE_DISPI_MAX_XRES) & ~7;
    if (!r[VBE_DISPI_INDEX_XRES]) {
        r[VBE_DISPI_INDEX_XRES] = 8;
    }
    r[VBE_DISPI_INDEX_VIRT_WIDTH] = MIN(r[VBE_DISPI_INDEX_VIRT_WIDTH],
                                        VBE_DISPI_MAX_XRES) & ~7;
    if (r[VBE_DISPI_INDEX_VIRT_WIDTH] < r[VBE_DISPI_INDEX_XRES]) {
        r[VBE_DISPI_INDEX_VIRT_WIDTH] = r[VBE_DISPI_INDEX_XRES];
    }
    line = r[VBE_DISPI_INDEX_VIRT_WIDTH] * vbe_bytes_pp(s);
    maxy = s->vram_size / line;
    r[VBE_DISPI_INDEX_YRES] = MIN(r[VBE_DISPI_INDEX_YRES],
                                  VBE_DISPI_MAX_YRES);
    r[VBE_DISPI_INDEX_YRES] = MIN(r[VBE_DISPI_INDEX_YRES], maxy);
    if (!r[VBE_DISPI_INDEX_YRES]) {
        r[VBE_DISPI_INDEX_YRES] = 1;
    }
    r[VBE_DISPI_INDEX_X_OFFSET] = MIN(r[VBE_DISPI_INDEX_X_OFFSET],
                                      VBE_DISPI_MAX_XRES);
    r[VBE_DISPI_INDEX_Y_OFFSET] = MIN(r[VBE_DISPI_INDEX_Y_OFFSET],
                                      VBE_DISPI_MAX_YRES);
    offset = r[VBE_DISPI_INDEX_X_OFFSET] * vbe_bytes_pp(s) +
             r[VBE_DISPI_INDEX_Y_OFFSET] * line;
    if ((uint64_t)offset + r[VBE_DISPI_INDEX_YRES] * line > s->vram_size) {
        r[VBE_DISPI_INDEX_X_OFFSET] = 0;
        offset = r[VBE_DISPI_INDEX_Y_OFFSET] * line;
        if ((uint64_t)offset + r[VBE_DISPI_INDEX_YRES] * line >
            s->vram_size) {
            r[VBE_DISPI_INDEX_Y_OFFSET] = 0;
            offset = 0;
        }
    }
    r[VBE_DISPI_INDEX_VIRT_HEIGHT] = MIN(maxy, 0xffff);
    s->vbe_line_offset = line;
    s->vbe_start_addr = offset & ~3u;
}

/*
 * While VBE is on, the VGA side decodes the 64 KiB bank window linearly:
 * graphics mode, map A0000-AFFFF, chain-4 on all planes, 256-colour
 * shifting, no double scan; the CRTC says the mode's size.
 */
static void vbe_update_vgaregs(VGACommonState *s)
{
    uint32_t h;

    if (!vbe_enabled(s)) {
        return;
    }
    s->gr[VGA_GFX_MISC] = (s->gr[VGA_GFX_MISC] & ~0x0c) | 0x04 |
                          VGA_GR06_GRAPHICS_MODE;
    s->gr[VGA_GFX_MODE] = (s->gr[VGA_GFX_MODE] & ~0x60) | 0x40;
    s->sr[VGA_SEQ_MEMORY_MODE] |= VGA_SR04_CHN_4M;
    s->sr[VGA_SEQ_PLANE_WRITE] |= 0x0f;
    s->cr[VGA_CRTC_MODE] |= 3;
    s->cr[VGA_CRTC_OFFSET] = s->vbe_line_offset >> 3;
    s->cr[VGA_CRTC_H_DISP] = (s->vbe_regs[VBE_DISPI_INDEX_XRES] >> 3) - 1;
    h = s->vbe_regs[VBE_DISPI_INDEX_YRES] - 1;
    s->cr[VGA_CRTC_V_DISP_END] = h;
    s->cr[VGA_CRTC_OVERFLOW] = (s->cr[VGA_CRTC_OVERFLOW] & ~0x42) |
                               ((h >> 7) & 0x02) | ((h >> 3) & 0x40);
    s->cr[VGA_CRTC_LINE_COMPARE] = 0xff;
    s->cr[VGA_CRTC_OVERFLOW] |= 0x10;
    s->cr[VGA_CRTC_MAX_SCAN] = (s->cr[VGA_CRTC_MAX_SCAN] | 0x40) & ~0x9f;
    s->full_update = true;
}

uint32_t vbe_read_index(VGACommonState *s)
{
    return s->vbe_index;
}

void vbe_write_index(VGACommonState *s, uint32_t val)
{
    s->vbe_index = val;
}

uint32_t vbe_read_data(VGACommonState *s)
{
    unsigned idx = s->vbe_index;

    if (idx >= VBE_DISPI_INDEX_NB) {
        return 0;
    }
    if (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
        switch (idx) {
        case VBE_DISPI_INDEX_XRES:
            return VBE_DISPI_MAX_XRES;
        case VBE_DISPI_INDEX_YRES:
            return VBE_DISPI_MAX_YRES;
        case VBE_DISPI_INDEX_BPP:
            return VBE_DISPI_MAX_BPP;
        }
    }
    return s->vbe_regs[idx];
}

static void vbe_write_enable(VGACommonState *s, uint32_t val)
{
    uint16_t *r = s->vbe_regs;

    if ((val & VBE_DISPI_ENABLED) && !vbe_enabled(s)) {
        r[VBE_DISPI_INDEX_VIRT_WIDTH] = 0;
        r[VBE_DISPI_INDEX_X_OFFSET] = 0;
        r[VBE_DISPI_INDEX_Y_OFFSET] = 0;
        r[VBE_DISPI_INDEX_ENABLE] |= VBE_DISPI_ENABLED;
        vbe_fixup_regs(s);
        vbe_update_vgaregs(s);
        if (!(val & VBE_DISPI_NOCLEARMEM)) {
            size_t len = (size_t)r[VBE_DISPI_INDEX_YRES] *
                         s->vbe_line_offset;
            memset(s->vram_ptr, 0, len);
            memory_region_set_dirty(&s->vram, 0, len);
        }
    } else if (!(val & VBE_DISPI_ENABLED)) {
        s->bank_offset = 0;
    }
    r[VBE_DISPI_INDEX_ENABLE] = val & (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS |
                                       VBE_DISPI_8BIT_DAC |
                                       VBE_DISPI_LFB_ENABLED |
                                       VBE_DISPI_NOCLEARMEM);
    s->full_update = true;
}

void vbe_write_data(VGACommonState *s, uint32_t val)
{
    uint16_t *r = s->vbe_regs;
    unsigned idx = s->vbe_index;

    val &= 0xffff;
    switch (idx) {
    case VBE_DISPI_INDEX_ID:
        if (val >= VBE_DISPI_ID0 && val <= VBE_DISPI_ID5) {
            r[idx] = val;
        }
        break;
    case VBE_DISPI_INDEX_XRES:
    case VBE_DISPI_INDEX_YRES:
    case VBE_DISPI_INDEX_BPP:
    case VBE_DISPI_INDEX_VIRT_WIDTH:
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
        r[idx] = val;
        vbe_fixup_regs(s);
        vbe_update_vgaregs(s);
        break;
    case VBE_DISPI_INDEX_BANK:
        val &= (s->vram_size >> 16) - 1;
        r[idx] = val;
        s->bank_offset = val << 16;
        break;
    case VBE_DISPI_INDEX_ENABLE:
        vbe_write_enable(s, val);
        break;
    default:
        /* VIRT_HEIGHT and VIDEO_MEMORY_64K are computed; others absent */
        break;
    }
}

/* ---- BAR2: MMIO ---- */

static uint64_t mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    PCIVGAState *d = opaque;
    VGACommonState *s = &d->vga;

    if (addr >= PCI_VGA_IOPORT_OFFSET &&
        addr < PCI_VGA_IOPORT_OFFSET + PCI_VGA_IOPORT_SIZE) {
        uint32_t port = 0x3c0 + addr - PCI_VGA_IOPORT_OFFSET;
        uint64_t v = vga_ioport_read(s, port);
        if (size == 2) {
            v |= (uint64_t)vga_ioport_read(s, port + 1) << 8;
        }
        return v;
    }
    if (addr >= PCI_VGA_BOCHS_OFFSET &&
        addr < PCI_VGA_BOCHS_OFFSET + PCI_VGA_BOCHS_SIZE) {
        uint64_t v;
        s->vbe_index = (addr - PCI_VGA_BOCHS_OFFSET) >> 1;
        v = vbe_read_data(s);
        return size == 1 ? (v >> ((addr & 1) * 8)) & 0xff : v;
    }
    if (addr == PCI_VGA_QEXT_OFFSET + PCI_VGA_QEXT_REG_SIZE && size == 2) {
        return PCI_VGA_QEXT_SIZE;
    }
    if (addr == PCI_VGA_QEXT_OFFSET + PCI_VGA_QEXT_REG_BYTEORDER) {
        return PCI_VGA_QEXT_LITTLE_ENDIAN & 0xffff;
    }
    if (addr == PCI_VGA_QEXT_OFFSET + PCI_VGA_QEXT_REG_BYTEORDER + 2) {
        return PCI_VGA_QEXT_LITTLE_ENDIAN >> 16;
    }
    /* the EDID area and the rest read as zeros */
    return 0;
}

static void mmio_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    PCIVGAState *d = opaque;
    VGACommonState *s = &d->vga;

    if (addr >= PCI_VGA_IOPORT_OFFSET &&
        addr < PCI_VGA_IOPORT_OFFSET + PCI_VGA_IOPORT_SIZE) {
        uint32_t port = 0x3c0 + addr - PCI_VGA_IOPORT_OFFSET;
        /* a word is index then data, as outw to the port pair */
        vga_ioport_write(s, port, val & 0xff);
        if (size == 2) {
            vga_ioport_write(s, port + 1, (val >> 8) & 0xff);
        }
        return;
    }
    if (addr >= PCI_VGA_BOCHS_OFFSET &&
        addr < PCI_VGA_BOCHS_OFFSET + PCI_VGA_BOCHS_SIZE && size == 2) {
        s->vbe_index = (addr - PCI_VGA_BOCHS_OFFSET) >> 1;
        vbe_write_data(s, val);
    }
    /* the byte order register stays little-endian; the rest is read-only */
}

static const MemoryRegionOps mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
    .impl_min = 1,
    .impl_max = 2,
};

/* ---- the PCI device ---- */

static const PCIDeviceInfo std_vga_info = {
    .vendor_id = PCI_VENDOR_ID_QEMU,
    .device_id = PCI_DEVICE_ID_QEMU_VGA,
    .revision = 2,
    .class_code = PCI_CLASS_DISPLAY_VGA,
};

static bool std_vga_realize(Device *dev, Machine *m, GError **errp)
{
    PCIVGAState *d = (PCIVGAState *)dev;

    for (Device *o = m->devices; o; o = o->next) {
        if (o->cls == dev->cls) {
            /* the legacy ports and window exist once */
            g_set_error(errp, VIREO_ERROR, 0, "at most one VGA device "
                        "with legacy I/O is supported");
            return false;
        }
    }
    if (!pci_device_init(&d->pci, m, &std_vga_info, errp)) {
        return false;
    }
    if (!vga_common_init(&d->vga, dev, m, d->vgamem_mb, errp)) {
        pci_device_uninit(&d->pci);
        return false;
    }
    pci_register_bar(&d->pci, 0, PCI_BASE_ADDRESS_MEM_PREFETCH, &d->vga.vram);
    memory_region_init_io(&d->mmio, "vga.mmio", &mmio_ops, d,
                          PCI_VGA_MMIO_SIZE);
    if (d->mmio_enabled) {
        pci_register_bar(&d->pci, 2, 0, &d->mmio);
    }
    if (!pci_add_option_rom(&d->pci, "vgabios-stdvga.bin", errp)) {
        pci_device_uninit(&d->pci);
        vga_common_uninit(&d->vga);
        memory_region_destroy(&d->mmio);
        return false;
    }
    vga_map_legacy(&d->vga);
    return true;
}

static void std_vga_unrealize(Device *dev)
{
    PCIVGAState *d = (PCIVGAState *)dev;

    pci_device_uninit(&d->pci);
    vga_common_uninit(&d->vga);
    memory_region_destroy(&d->mmio);
}

static void std_vga_reset(Device *dev)
{
    PCIVGAState *d = (PCIVGAState *)dev;

    pci_device_reset(&d->pci);
    vga_common_reset(&d->vga);
}

static bool std_vga_post_load(void *opaque, int version_id, GError **errp)
{
    PCIVGAState *d = opaque;
    VGACommonState *s = &d->vga;

    if (!vga_common_post_load(s, errp)) {
        return false;
    }
    s->vbe_regs[VBE_DISPI_INDEX_BANK] &= (s->vram_size >> 16) - 1;
    s->bank_offset = s->vbe_regs[VBE_DISPI_INDEX_BANK] << 16;
    vbe_fixup_regs(s);
    return true;
}

static const VMStateField std_vga_fields[] = {
    VMSTATE_STRUCT(pci, PCIVGAState, vmstate_pci_device, PCIDevice),
    VMSTATE_STRUCT(vga, PCIVGAState, vmstate_vga_common, VGACommonState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_std_vga = {
    .name = "vga",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = std_vga_fields,
    .post_load = std_vga_post_load,
};

static const Property std_vga_props[] = {
    PCI_DEVICE_PROPS(PCIVGAState, pci),
    PROP_U32("vgamem_mb", PCIVGAState, vgamem_mb, 16,
             "video memory in MiB (1-512, a power of two)"),
    PROP_BOOL("mmio", PCIVGAState, mmio_enabled, true,
              "on/off: the MMIO BAR 2 (VGA ports, DISPI registers)"),
    PROP_END,
};

static DeviceClass std_vga_class = {
    .name = "VGA",
    .desc = "VGA",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PCIVGAState),
    .props = std_vga_props,
    .user_creatable = true,
    .realize = std_vga_realize,
    .unrealize = std_vga_unrealize,
    .reset = std_vga_reset,
    .vmsd = &vmstate_std_vga,
};
DEVICE_REGISTER(std_vga_class)

/* ---- the pc machine's default display ---- */

/* Whether -device names a VGA card ("VGA" or "driver=VGA" first). */
static bool device_given(const MachineConfig *cfg)
{
    for (guint i = 0; cfg->devices && i < cfg->devices->len; i++) {
        const char *opt = g_ptr_array_index(cfg->devices, i);
        size_t n = strcspn(opt, ",");
        if ((n == 3 && !strncmp(opt, "VGA", 3)) ||
            (n == 10 && !strncmp(opt, "driver=VGA", 10))) {
            return true;
        }
    }
    return false;
}

bool pc_vga_init(Machine *m, GError **errp)
{
    const char *vga = m->cfg.vga;

    if (vga ? !strcmp(vga, "none") : m->cfg.nodefaults) {
        return true;
    }
    if (!vga && device_given(&m->cfg)) {
        return true;
    }
    return x86_create_device(m, "VGA", errp, "addr", "2", NULL) != NULL;
}
