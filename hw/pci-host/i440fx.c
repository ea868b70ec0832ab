/*
 * The i440FX PCI host (Intel 82441FX PMC datasheet, 290549): configuration
 * mechanism #1 (PCI 3.0 3.2.2.3.2) at ports 0xcf8 (CONFIG_ADDRESS, dword
 * accesses only) and 0xcfc-0xcff (CONFIG_DATA), bus pci.0, the host bridge
 * function at 00:00.0 and the PIIX3 PCI-to-ISA bridge at 00:01.0 (82371SB
 * datasheet, 290550) as a placeholder holding the PIRQ route registers.
 *
 * INTx routing is that of QEMU's pc after SeaBIOS: device slot S, pin P
 * (INTA# = 0) drives PIRQ (P + S - 1) mod 4, and PIRQA-D are routed to
 * IRQ 10, 10, 11, 11; the DSDT's _PRT (hw/i386/acpi_build.c) says the same.
 */
#include "hw/i386/x86.h"
#include "hw/pci/pci.h"
#include "util/opts.h"
#include "hw/pci/i440fx.h"
#include "migration/vmstate.h"

#define PCI_CONFIG_ADDRESS  0xcf8
#define PCI_CONFIG_DATA     0xcfc
#define  CONFIG_ADDRESS_ENABLE 0x80000000u

/* 82371SB: PIRQ route control registers PIRQRC[A:D] */
#define PIIX_PIRQRC         0x60

static const uint8_t pirq_irq[4] = { 10, 10, 11, 11 };

int i440fx_route_intx(PCIDevice *d, int pin)
{
    if (pin < 1 || pin > 4) {
        return -1;
    }
    return pirq_irq[(pin - 1 + PCI_SLOT(d->devfn) + 3) & 3];
}

typedef struct I440FXHost {
    Device qdev;
    Machine *m;
    PCIBus *bus;
    uint32_t config_address;
    MemoryRegion conf, data;
} I440FXHost;

/*
 * CONFIG_ADDRESS is only a dword at 0xcf8; other accesses to it are not
 * the host bridge's (all-ones, dropped), as in QEMU. The reset control
 * byte at 0xcf9 lies above this region and takes the byte accesses there.
 */
static uint64_t conf_read(void *opaque, hwaddr addr, unsigned size)
{
    I440FXHost *s = opaque;

    return addr == 0 && size == 4 ? s->config_address : UINT64_MAX;
}

static void conf_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    I440FXHost *s = opaque;

    if (addr == 0 && size == 4) {
        /* bits 1:0 are reserved and read back as 0 */
        s->config_address = val & ~3u;
    }
}

static const MemoryRegionOps conf_ops = {
    .read = conf_read,
    .write = conf_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* Bus 0 only: other buses master-abort (all-ones, writes dropped). */
static bool data_target(I440FXHost *s, hwaddr addr, unsigned size,
                        unsigned *devfn, uint32_t *reg)
{
    uint32_t a = s->config_address;

    if (!(a & CONFIG_ADDRESS_ENABLE) || ((a >> 16) & 0xff) != 0 ||
        addr + size > 4) {
        return false;
    }
    *devfn = (a >> 8) & 0xff;
    *reg = (a & 0xfc) + addr;
    return true;
}

static uint64_t data_read(void *opaque, hwaddr addr, unsigned size)
{
    I440FXHost *s = opaque;
    unsigned devfn;
    uint32_t reg;

    if (!data_target(s, addr, size, &devfn, &reg)) {
        return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
    }
    return pci_bus_config_read(s->bus, devfn, reg, size);
}

static void data_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    I440FXHost *s = opaque;
    unsigned devfn;
    uint32_t reg;

    if (data_target(s, addr, size, &devfn, &reg)) {
        pci_bus_config_write(s->bus, devfn, reg, val, size);
    }
}

static const MemoryRegionOps data_ops = {
    .read = data_read,
    .write = data_write,
    .impl_min = 1,
    .impl_max = 4,
};

static bool host_realize(Device *dev, Machine *m, GError **errp)
{
    I440FXHost *s = (I440FXHost *)dev;

    if (pci_bus_find(m, "pci.0")) {
        g_set_error(errp, VIREO_ERROR, 0, "the machine already has pci.0");
        return false;
    }
    s->m = m;
    s->bus = pci_bus_new(m, "pci.0", m->sysmem, m->io, i440fx_route_intx);
    memory_region_init_io(&s->conf, "pci-conf-idx", &conf_ops, s, 4);
    memory_region_init_io(&s->data, "pci-conf-data", &data_ops, s, 4);
    /* below the reset control byte at 0xcf9 */
    memory_region_add_subregion_overlap(m->io, PCI_CONFIG_ADDRESS, &s->conf,
                                        -1);
    memory_region_add_subregion(m->io, PCI_CONFIG_DATA, &s->data);
    return true;
}

static void host_unrealize(Device *dev)
{
    I440FXHost *s = (I440FXHost *)dev;

    memory_region_del_subregion(s->m->io, &s->conf);
    memory_region_del_subregion(s->m->io, &s->data);
    memory_region_destroy(&s->conf);
    memory_region_destroy(&s->data);
    pci_bus_free(s->bus);
}

static void host_reset(Device *dev)
{
    ((I440FXHost *)dev)->config_address = 0;
}

static bool host_post_load(void *opaque, int version_id, GError **errp)
{
    I440FXHost *s = opaque;

    if (s->config_address & 3) {
        g_set_error(errp, VIREO_ERROR, 0, "CONFIG_ADDRESS 0x%08x has its "
                    "reserved bits 1:0 set", s->config_address);
        return false;
    }
    return true;
}

static const VMStateField host_fields[] = {
    VMSTATE_UINT32(config_address, I440FXHost),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_i440fx_host = {
    .name = "i440FX-pcihost",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = host_fields,
    .post_load = host_post_load,
};

static DeviceClass i440fx_host_class = {
    .name = "i440FX-pcihost",
    .desc = "i440FX PCI host (configuration mechanism #1)",
    .child_bus_name = "pci.0",
    .child_bus_type = "PCI",
    .instance_size = sizeof(I440FXHost),
    .realize = host_realize,
    .unrealize = host_unrealize,
    .reset = host_reset,
    .vmsd = &vmstate_i440fx_host,
};
DEVICE_REGISTER(i440fx_host_class)

/* ---- the PCI functions: host bridge and ISA bridge ---- */

/*
 * 82441FX PAM0-6 (0x59-0x5f): 13 segments of 0xC0000-0xFFFFF, each with a
 * read-enable and a write-enable bit. RE+WE: shadow RAM; RE: RAM that
 * ignores writes; neither: the PCI side (the BIOS ROM at 0xE0000-0xFFFFF,
 * nothing below). WE alone (reads from ROM, writes to RAM) is treated as
 * the PCI side, as in QEMU; firmware uses it only while it copies itself,
 * which SeaBIOS does from the image below 4 GiB instead.
 */
#define I440FX_PAM0         0x59
#define I440FX_PAM_SEGMENTS 13
#define  PAM_RE             1
#define  PAM_WE             2
/* SMRAM control (0x72): D_OPEN shows the RAM under the VGA window. */
#define I440FX_SMRAM        0x72
#define  SMRAM_D_OPEN       0x40
#define  SMRAM_D_CLS        0x20
#define  SMRAM_D_LCK        0x10
#define  SMRAM_G_SMRAME     0x08
#define  SMRAM_C_BASE_SEG   0x02    /* 010b: 0xA0000, the only one */
#define SMRAM_BASE          0xa0000
#define SMRAM_SIZE          0x20000

typedef struct PAMSegment {
    MemoryRegion ram, ram_ro;
    MemoryRegion pci;           /* all-ones below the BIOS ROM */
    bool has_pci;
} PAMSegment;

typedef struct I440FXState {
    PCIDevice pci;
    Machine *m;
    PAMSegment pam[I440FX_PAM_SEGMENTS];
    MemoryRegion smram;         /* RAM at 0xA0000 while D_OPEN */
} I440FXState;

typedef struct PCIPlaceholder {
    PCIDevice pci;
} PCIPlaceholder;

static void pam_segment_range(int i, hwaddr *start, uint64_t *size)
{
    if (i == 0) {
        *start = 0xf0000;
        *size = 0x10000;
    } else {
        *start = 0xc0000 + (i - 1) * 0x4000;
        *size = 0x4000;
    }
}

/* PAM0's low nibble is reserved; PAMn (n >= 1) holds two segments. */
static uint8_t pam_attr(PCIDevice *d, int i)
{
    if (i == 0) {
        return (d->config[I440FX_PAM0] >> 4) & 3;
    }
    return (d->config[I440FX_PAM0 + (i + 1) / 2] >> ((i + 1) % 2 * 4)) & 3;
}

static void i440fx_update_memory(I440FXState *s)
{
    PCIDevice *d = &s->pci;

    memory_transaction_begin();
    for (int i = 0; i < I440FX_PAM_SEGMENTS; i++) {
        PAMSegment *seg = &s->pam[i];
        uint8_t attr = pam_attr(d, i);
        memory_region_set_enabled(&seg->ram, attr == (PAM_RE | PAM_WE));
        memory_region_set_enabled(&seg->ram_ro, attr == PAM_RE);
        if (seg->has_pci) {
            memory_region_set_enabled(&seg->pci, !(attr & PAM_RE));
        }
    }
    memory_region_set_enabled(&s->smram,
                              d->config[I440FX_SMRAM] & SMRAM_D_OPEN);
    memory_transaction_commit();
}

static uint64_t pam_pci_read(void *opaque, hwaddr addr, unsigned size)
{
    return UINT64_MAX;
}

static void pam_pci_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
}

static const MemoryRegionOps pam_pci_ops = {
    .read = pam_pci_read,
    .write = pam_pci_write,
    .impl_min = 1,
    .impl_max = 8,
};

static bool config_touches(uint32_t addr, unsigned len, uint32_t reg,
                           unsigned n)
{
    return addr < reg + n && reg < addr + len;
}

/* D_LCK freezes the register but for D_CLS, and closes D_OPEN; only reset
 * opens it again (82441FX 3.2.21). */
static void smram_update_wmask(PCIDevice *d)
{
    uint8_t smram = d->config[I440FX_SMRAM];

    if (smram & SMRAM_D_LCK) {
        d->config[I440FX_SMRAM] = smram & ~SMRAM_D_OPEN;
        d->wmask[I440FX_SMRAM] = SMRAM_D_CLS;
    } else {
        d->wmask[I440FX_SMRAM] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK |
                                 SMRAM_G_SMRAME;
    }
}

static void i440fx_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                                unsigned len)
{
    I440FXState *s = (I440FXState *)d;

    if (config_touches(addr, len, I440FX_PAM0, 7) ||
        config_touches(addr, len, I440FX_SMRAM, 1)) {
        smram_update_wmask(d);
        i440fx_update_memory(s);
    }
}

static const PCIDeviceInfo i440fx_info = {
    .vendor_id = 0x8086, .device_id = 0x1237, .revision = 0x02,
    .class_code = 0x060000,
    .config_write = i440fx_config_write,
};

static const PCIDeviceInfo piix3_info = {
    .vendor_id = 0x8086, .device_id = 0x7000,
    .class_code = 0x060100,
};

static bool i440fx_realize(Device *dev, Machine *m, GError **errp)
{
    I440FXState *s = (I440FXState *)dev;
    PCIDevice *d = &s->pci;
    /* below the BIOS ROM's view the PCI side has nothing to show */
    hwaddr pci_end = m->isa_bios ? 0x100000 - m->isa_bios->size : 0xc0000;

    if (!pci_device_init(d, m, &i440fx_info, errp)) {
        return false;
    }
    s->m = m;
    memset(d->wmask + I440FX_PAM0, 0x33, 7);
    d->wmask[I440FX_PAM0] = 0x30;
    d->config[I440FX_SMRAM] = SMRAM_C_BASE_SEG;     /* hardwired */
    smram_update_wmask(d);
    memory_transaction_begin();
    for (int i = 0; i < I440FX_PAM_SEGMENTS; i++) {
        PAMSegment *seg = &s->pam[i];
        hwaddr start;
        uint64_t size;

        pam_segment_range(i, &start, &size);
        memory_region_init_alias(&seg->ram, "pam-ram", &m->ram, start, size);
        memory_region_init_alias(&seg->ram_ro, "pam-rom", &m->ram, start,
                                 size);
        memory_region_set_readonly(&seg->ram_ro, true);
        memory_region_add_subregion_overlap(m->sysmem, start, &seg->ram, 2);
        memory_region_add_subregion_overlap(m->sysmem, start, &seg->ram_ro,
                                            2);
        seg->has_pci = start < pci_end;
        if (seg->has_pci) {
            memory_region_init_io(&seg->pci, "pam-pci", &pam_pci_ops, s,
                                  size);
            memory_region_add_subregion_overlap(m->sysmem, start, &seg->pci,
                                                2);
        }
    }
    /* above the VGA window, which devices map at priority 1 */
    memory_region_init_alias(&s->smram, "smram-open", &m->ram, SMRAM_BASE,
                             SMRAM_SIZE);
    memory_region_add_subregion_overlap(m->sysmem, SMRAM_BASE, &s->smram, 3);
    memory_transaction_commit();
    return true;
}

static void i440fx_unrealize(Device *dev)
{
    I440FXState *s = (I440FXState *)dev;

    pci_device_uninit(&s->pci);
    if (!s->m) {
        return;
    }
    for (int i = 0; i < I440FX_PAM_SEGMENTS; i++) {
        memory_region_destroy(&s->pam[i].ram);
        memory_region_destroy(&s->pam[i].ram_ro);
        if (s->pam[i].has_pci) {
            memory_region_destroy(&s->pam[i].pci);
        }
    }
    memory_region_destroy(&s->smram);
}

/*
 * Power-on: PAM all PCI, so the CPU fetches the BIOS ROM. Without firmware
 * (direct kernel boot) the loaders' data in 0xC0000-0xFFFFF is RAM, as
 * firmware would have left it.
 */
static void i440fx_reset(Device *dev)
{
    I440FXState *s = (I440FXState *)dev;
    PCIDevice *d = &s->pci;
    uint8_t pam = s->m->bios ? 0 : PAM_RE | PAM_WE;

    pci_device_reset(d);
    d->config[I440FX_PAM0] = pam << 4;
    memset(d->config + I440FX_PAM0 + 1, pam << 4 | pam, 6);
    d->config[I440FX_SMRAM] = SMRAM_C_BASE_SEG;
    smram_update_wmask(d);
    i440fx_update_memory(s);
}

/*
 * A state may carry SMRAM with or without D_LCK whatever this one has
 * now: the check of the stream's configuration uses the unlocked mask,
 * and post_load locks again from the value loaded.
 */
static bool i440fx_pre_load(void *opaque, GError **errp)
{
    I440FXState *s = opaque;

    s->pci.wmask[I440FX_SMRAM] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK |
                                 SMRAM_G_SMRAME;
    return true;
}

static bool i440fx_post_load(void *opaque, int version_id, GError **errp)
{
    I440FXState *s = opaque;

    smram_update_wmask(&s->pci);
    i440fx_update_memory(s);
    return true;
}

static bool piix3_realize(Device *dev, Machine *m, GError **errp)
{
    PCIDevice *d = (PCIDevice *)dev;

    if (!pci_device_init(d, m, &piix3_info, errp)) {
        return false;
    }
    memset(d->wmask + PIIX_PIRQRC, 0x8f, 4);
    return true;
}

static void placeholder_unrealize(Device *dev)
{
    pci_device_uninit((PCIDevice *)dev);
}

/* What firmware leaves in PIRQRC[A:D]: the routing i440fx_route_intx uses. */
static void piix3_reset(Device *dev)
{
    PCIDevice *d = (PCIDevice *)dev;

    pci_device_reset(d);
    for (int i = 0; i < 4; i++) {
        d->config[PIIX_PIRQRC + i] = pirq_irq[i];
    }
}

/*
 * The host bridge's PAM and SMRAM registers and the ISA bridge's PIRQ
 * routes are all configuration space.
 */
static const VMStateField i440fx_fields[] = {
    VMSTATE_STRUCT(pci, I440FXState, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_i440fx = {
    .name = "i440FX",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = i440fx_fields,
    .pre_load = i440fx_pre_load,
    .post_load = i440fx_post_load,
};

static const VMStateField placeholder_fields[] = {
    VMSTATE_STRUCT(pci, PCIPlaceholder, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_piix3 = {
    .name = "PIIX3",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = placeholder_fields,
};

static const Property i440fx_props[] = {
    PCI_DEVICE_PROPS(I440FXState, pci),
    PROP_END,
};

static const Property placeholder_props[] = {
    PCI_DEVICE_PROPS(PCIPlaceholder, pci),
    PROP_END,
};

static DeviceClass i440fx_class = {
    .name = "i440FX",
    .desc = "Host bridge",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(I440FXState),
    .props = i440fx_props,
    .realize = i440fx_realize,
    .unrealize = i440fx_unrealize,
    .reset = i440fx_reset,
    .vmsd = &vmstate_i440fx,
};
DEVICE_REGISTER(i440fx_class)

static DeviceClass piix3_class = {
    .name = "PIIX3",
    .desc = "ISA bridge",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PCIPlaceholder),
    .props = placeholder_props,
    .realize = piix3_realize,
    .unrealize = placeholder_unrealize,
    .reset = piix3_reset,
    .vmsd = &vmstate_piix3,
};
DEVICE_REGISTER(piix3_class)

bool i440fx_create(Machine *m, GError **errp)
{
    return x86_create_device(m, "i440FX-pcihost", errp, NULL) &&
           x86_create_device(m, "i440FX", errp, "addr", "0", NULL) &&
           x86_create_device(m, "PIIX3", errp, "addr", "1", "multifunction", "on",
                             NULL) &&
           /* the PIIX3 IDE function, at 00:01.1 as on QEMU's pc */
           x86_create_device(m, "piix3-ide", errp, "addr", "1.1", NULL);
}
