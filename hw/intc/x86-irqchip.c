/*
 * Vireo's PC interrupt controllers as one unit: creates the 8259 pair, the
 * IOAPIC and a LAPIC per vCPU, routes GSIs the way the KVM path does, turns
 * MSI writes into LAPIC messages, and resets them all with the machine.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "irqchip-internal.h"
#include "migration/vmstate.h"
#include "util/opts.h"

/* Where MSI writes land: the whole 0xfee00000 - 0xfeefffff window. */
#define MSI_WINDOW_SIZE     0x100000
#define LAPIC_WINDOW_SIZE   0x1000

/* MSI address and data (SDM 10.11.1, 10.11.2) */
#define MSI_ADDR_DEST_SHIFT 12
#define MSI_ADDR_RH         (1u << 3)
#define MSI_ADDR_DM         (1u << 2)
#define MSI_DATA_DELIVERY_SHIFT 8
#define MSI_DATA_TRIGGER_LEVEL (1u << 15)

typedef struct IrqChipDevice {
    X86IrqChip chip;
    MemoryRegion msi_mmio;
    uint32_t pin_levels;    /* input levels by GSI, for the observer */
} IrqChipDevice;

/* Machines are few; a Machine* -> chip map keeps x86.h untouched. */
static GHashTable *chips;

X86IrqChip *x86_irqchip_find(Machine *m)
{
    return chips ? g_hash_table_lookup(chips, m) : NULL;
}

static int gsi_to_ioapic_pin(int gsi)
{
    return gsi == 0 ? 2 : gsi;  /* the MADT's interrupt source override */
}

void x86_irqchip_set_irq(Machine *m, int gsi, int level)
{
    IrqChipDevice *d = (IrqChipDevice *)x86_irqchip_find(m);
    int pin;

    if (!d || gsi < 0 || gsi >= X86_NUM_GSI) {
        return;
    }
    if (gsi < 16) {
        pic_set_irq(d->chip.pic, gsi, level);
    }
    if (!!(d->pin_levels & (1u << gsi)) != !!level) {
        d->pin_levels ^= 1u << gsi;
        if (d->chip.observer) {
            d->chip.observer(d->chip.observer_opaque, gsi, !!level);
        }
    }
    pin = gsi_to_ioapic_pin(gsi);
    ioapic_set_irq(d->chip.ioapic, pin, level);
}

void x86_irqchip_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    APICMessage msg = {
        .dest = (addr >> MSI_ADDR_DEST_SHIFT) & 0xff,
        .logical = addr & MSI_ADDR_DM,
        .delivery_mode = (data >> MSI_DATA_DELIVERY_SHIFT) & 7,
        .vector = data & 0xff,
        .level = data & MSI_DATA_TRIGGER_LEVEL,
    };

    if ((addr >> 20) != (X86_LAPIC_BASE >> 20) || !x86_irqchip_find(m)) {
        return;
    }
    if (m->kernel_lapic_msi) {
        m->kernel_lapic_msi(m, -1, addr, data);
        return;
    }
    /* redirection hint: lowest-priority arbitration among the targets */
    if ((addr & MSI_ADDR_RH) && msg.delivery_mode == APIC_DM_FIXED) {
        msg.delivery_mode = APIC_DM_LOWEST;
    }
    if (msg.delivery_mode != APIC_DM_FIXED &&
        msg.delivery_mode != APIC_DM_LOWEST) {
        msg.level = false;
    }
    apic_deliver(m, &msg);
}

void x86_irqchip_ioapic_eoi(Machine *m, uint8_t vector)
{
    X86IrqChip *chip = x86_irqchip_find(m);

    if (chip && chip->ioapic) {
        ioapic_eoi_broadcast(chip->ioapic, vector);
    }
}

bool x86_irqchip_intercept_ioapic(Machine *m, X86IrqObserver *fn,
                                  void *opaque)
{
    X86IrqChip *chip = x86_irqchip_find(m);

    if (!chip) {
        return false;
    }
    chip->observer = fn;
    chip->observer_opaque = opaque;
    return true;
}

/* ---- MSI window ---- */

static uint64_t msi_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0xffffffff;
}

static void msi_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    x86_irqchip_send_msi(opaque, X86_LAPIC_BASE + addr, val);
}

static const MemoryRegionOps msi_ops = {
    .read = msi_read,
    .write = msi_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- the device ---- */

static void irqchip_reset(Device *dev)
{
    X86IrqChip *chip = (X86IrqChip *)dev;
    Machine *m = chip->m;
    /* a kernel loaded without firmware expects what firmware leaves */
    bool virtual_wire = m->boot.mode != BOOT_MODE_REAL;

    pic_reset(chip->pic);
    ioapic_reset(chip->ioapic);
    for (int i = 0; i < m->ncpus; i++) {
        if (m->cpus[i]->apic) {
            apic_reset(m->cpus[i]->apic, i == 0, virtual_wire);
        }
    }
}

static bool irqchip_realize(Device *dev, Machine *m, GError **errp)
{
    IrqChipDevice *d = (IrqChipDevice *)dev;
    X86IrqChip *chip = &d->chip;

    if (x86_irqchip_find(m)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "the machine already has its interrupt controllers");
        return false;
    }
    if (!chips) {
        chips = g_hash_table_new(g_direct_hash, g_direct_equal);
    }
    chip->m = m;
    g_hash_table_insert(chips, m, chip);
    /* with the accelerator's LAPICs (split), only the MSI window is ours */
    chip->has_lapics = !m->kernel_lapic_msi;
    for (int i = 0; chip->has_lapics && i < m->ncpus; i++) {
        apic_new(m->cpus[i]);
    }
    chip->ioapic = ioapic_new(m);
    chip->pic = pic_new(m);
    if (m->sysmem) {
        memory_region_init_io(&d->msi_mmio, "msi", &msi_ops, m,
                              MSI_WINDOW_SIZE);
        memory_region_add_subregion_overlap(m->sysmem, X86_LAPIC_BASE,
                                            &d->msi_mmio, 0);
        if (chip->has_lapics) {
            memory_region_init_io(&chip->lapic_mmio, "apic", &apic_mmio_ops,
                                  m, LAPIC_WINDOW_SIZE);
            memory_region_add_subregion_overlap(m->sysmem, X86_LAPIC_BASE,
                                                &chip->lapic_mmio, 1);
        }
        chip->mapped = true;
    }
    return true;
}

static void irqchip_unrealize(Device *dev)
{
    IrqChipDevice *d = (IrqChipDevice *)dev;
    X86IrqChip *chip = &d->chip;
    Machine *m = chip->m;

    if (chip->mapped) {
        if (chip->has_lapics) {
            memory_region_del_subregion(m->sysmem, &chip->lapic_mmio);
            memory_region_destroy(&chip->lapic_mmio);
        }
        memory_region_del_subregion(m->sysmem, &d->msi_mmio);
        memory_region_destroy(&d->msi_mmio);
        chip->mapped = false;
    }
    pic_free(chip->pic);
    ioapic_free(chip->ioapic);
    for (int i = 0; i < m->ncpus; i++) {
        apic_free(m->cpus[i]->apic);
    }
    chip->pic = NULL;
    chip->ioapic = NULL;
    g_hash_table_remove(chips, m);
}

/* ---- migration ---- */

static bool irqchip_post_load(void *opaque, int version_id, GError **errp)
{
    IrqChipDevice *d = opaque;

    if (d->pin_levels >> X86_NUM_GSI) {
        g_set_error(errp, VIREO_ERROR, 0, "pin levels 0x%x out of range",
                    d->pin_levels);
        return false;
    }
    return true;
}

/*
 * The LAPICs first: the 8259's post_load drives LINT0 of the loaded BSP.
 * X86IrqChip is at offset 0 of IrqChipDevice, so its members describe too.
 */
G_STATIC_ASSERT(offsetof(IrqChipDevice, chip) == 0);

static const VMStateField irqchip_fields[] = {
    VMSTATE_CUSTOM("lapics", vmstate_info_lapics),
    VMSTATE_STRUCT_POINTER(ioapic, X86IrqChip, vmstate_ioapic, IOAPICState),
    VMSTATE_STRUCT_POINTER(pic, X86IrqChip, vmstate_pic, PICState),
    VMSTATE_UINT32(pin_levels, IrqChipDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_irqchip = {
    .name = "x86-irqchip",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = irqchip_fields,
    .post_load = irqchip_post_load,
};

static DeviceClass irqchip_class = {
    .name = "x86-irqchip",
    .desc = "LAPICs, IOAPIC and 8259 pair (software irqchip)",
    .bus = "sys",
    .instance_size = sizeof(IrqChipDevice),
    .user_creatable = false,
    .realize = irqchip_realize,
    .reset = irqchip_reset,
    .unrealize = irqchip_unrealize,
    .vmsd = &vmstate_irqchip,
};

DEVICE_REGISTER(irqchip_class)

bool x86_irqchip_create(Machine *m, GError **errp)
{
    Device *dev = device_new(irqchip_class.name, errp);

    if (!dev) {
        return false;
    }
    if (!device_realize(dev, m, errp)) {
        device_free(dev);
        return false;
    }
    irqchip_reset(dev);
    return true;
}
