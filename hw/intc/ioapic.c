/*
 * I/O APIC after the Intel 82093AA datasheet, as version 0x20 (the PIIX4/
 * ICH flavour with a directed EOI register at 0x40): 24 pins, indirect
 * register access through IOREGSEL/IOWIN, a redirection table that sends
 * interrupt messages to the LAPICs.
 *
 * GSI levels are logical (1 = asserted), as KVM and QEMU treat them: the
 * polarity bit is kept for the guest to read back but not applied, since
 * devices already drive their lines active-high here.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "irqchip-internal.h"
#include "migration/vmstate.h"
#include "util/opts.h"

#define IOAPIC_NUM_PINS     X86_NUM_GSI
#define IOAPIC_VERSION      0x20

/* Memory-mapped registers (datasheet 3.0) */
#define IOAPIC_IOREGSEL     0x00
#define IOAPIC_IOWIN        0x10
#define IOAPIC_EOI          0x40
#define IOAPIC_MMIO_SIZE    0x100

/* Indirect registers (datasheet 3.2) */
#define IOAPIC_REG_ID       0x00
#define IOAPIC_REG_VER      0x01
#define IOAPIC_REG_ARB      0x02
#define IOAPIC_REG_REDTBL   0x10

/* Redirection table entry bits (datasheet 3.2.4) */
#define IOREDTBL_VECTOR     0xffULL
#define IOREDTBL_DELMOD_SHIFT 8
#define IOREDTBL_DESTMOD    (1ULL << 11)
#define IOREDTBL_DELIVS     (1ULL << 12)
#define IOREDTBL_INTPOL     (1ULL << 13)
#define IOREDTBL_REMOTE_IRR (1ULL << 14)
#define IOREDTBL_TRIGGER    (1ULL << 15)
#define IOREDTBL_MASK       (1ULL << 16)
#define IOREDTBL_DEST_SHIFT 56
/* bits software may write: vector through mask, and the destination */
#define IOREDTBL_RW_BITS    (0x1afffULL | (0xffULL << IOREDTBL_DEST_SHIFT))

#define IOAPIC_ID_SHIFT     24
#define IOAPIC_ID_MASK      0x0f

struct IOAPICState {
    Machine *m;
    MemoryRegion mmio;
    uint8_t regsel;
    uint8_t id;
    uint32_t levels;        /* input pins asserted */
    uint64_t redtbl[IOAPIC_NUM_PINS];
};

static bool entry_level(uint64_t e)
{
    return e & IOREDTBL_TRIGGER;
}

/*
 * Hands a message to the LAPICs: Vireo's, or (kernel-irqchip=split) the
 * accelerator's as the MSI the entry describes, in the layout of the
 * PCI/SDM MSI address and data (SDM 10.11.1, 10.11.2) that KVM takes.
 */
static bool ioapic_send(IOAPICState *s, int pin, const APICMessage *msg)
{
    uint64_t addr;
    uint32_t data;

    if (!s->m->kernel_lapic_msi) {
        return apic_deliver(s->m, msg);
    }
    addr = X86_LAPIC_BASE | ((uint64_t)msg->dest << 12) |
           (msg->logical ? 1u << 2 : 0);
    data = msg->vector | ((uint32_t)msg->delivery_mode << 8) |
           (msg->level ? (1u << 15) | (1u << 14) : 0);
    return s->m->kernel_lapic_msi(s->m, pin, addr, data);
}

/* Sends the message of one pin's entry (datasheet 3.2.4). */
static void ioapic_service(IOAPICState *s, int pin)
{
    uint64_t *e = &s->redtbl[pin];
    APICMessage msg = {
        .dest = *e >> IOREDTBL_DEST_SHIFT,
        .logical = *e & IOREDTBL_DESTMOD,
        .delivery_mode = (*e >> IOREDTBL_DELMOD_SHIFT) & 7,
        .vector = *e & IOREDTBL_VECTOR,
        .level = entry_level(*e),
    };

    if (*e & IOREDTBL_MASK) {
        return;
    }
    /* only fixed and lowest-priority messages come back with an EOI */
    if (msg.level && (msg.delivery_mode == APIC_DM_FIXED ||
                      msg.delivery_mode == APIC_DM_LOWEST)) {
        if (*e & IOREDTBL_REMOTE_IRR) {
            return;     /* the LAPIC has not sent its EOI yet */
        }
        if (ioapic_send(s, pin, &msg)) {
            *e |= IOREDTBL_REMOTE_IRR;
        }
    } else {
        msg.level = false;
        ioapic_send(s, pin, &msg);
    }
}

void ioapic_set_irq(IOAPICState *s, int pin, int level)
{
    uint32_t bit;
    bool was;

    if (pin < 0 || pin >= IOAPIC_NUM_PINS) {
        return;
    }
    bit = 1u << pin;
    was = s->levels & bit;
    if (level) {
        s->levels |= bit;
    } else {
        s->levels &= ~bit;
    }
    if (!level) {
        return;
    }
    /* edge: a message per rising edge; level: while asserted */
    if (entry_level(s->redtbl[pin]) || !was) {
        ioapic_service(s, pin);
    }
}

void ioapic_eoi_broadcast(IOAPICState *s, uint8_t vector)
{
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        uint64_t *e = &s->redtbl[pin];

        if ((*e & IOREDTBL_VECTOR) != vector || !entry_level(*e) ||
            !(*e & IOREDTBL_REMOTE_IRR)) {
            continue;
        }
        *e &= ~IOREDTBL_REMOTE_IRR;
        if (s->levels & (1u << pin)) {
            ioapic_service(s, pin);     /* still asserted: again */
        }
    }
}

/* ---- registers ---- */

static uint32_t ioapic_reg_read(IOAPICState *s)
{
    unsigned idx;

    switch (s->regsel) {
    case IOAPIC_REG_ID:
    case IOAPIC_REG_ARB:
        return (uint32_t)(s->id & IOAPIC_ID_MASK) << IOAPIC_ID_SHIFT;
    case IOAPIC_REG_VER:
        return IOAPIC_VERSION | ((IOAPIC_NUM_PINS - 1) << 16);
    default:
        if (s->regsel < IOAPIC_REG_REDTBL) {
            return 0;
        }
        idx = (s->regsel - IOAPIC_REG_REDTBL) >> 1;
        if (idx >= IOAPIC_NUM_PINS) {
            return 0;
        }
        return (s->regsel & 1) ? s->redtbl[idx] >> 32
                               : (uint32_t)s->redtbl[idx];
    }
}

static void ioapic_redtbl_write(IOAPICState *s, unsigned pin, bool high,
                                uint32_t val)
{
    uint64_t *e = &s->redtbl[pin];
    uint64_t v = high ? ((uint64_t)val << 32) | (uint32_t)*e
                      : (*e & ~0xffffffffULL) | val;

    *e = (*e & ~IOREDTBL_RW_BITS) | (v & IOREDTBL_RW_BITS);
    if (!entry_level(*e)) {
        *e &= ~IOREDTBL_REMOTE_IRR;     /* meaningless for edge entries */
    }
    /* unmasking a level pin that is still asserted delivers it now */
    if (!high && entry_level(*e) && (s->levels & (1u << pin))) {
        ioapic_service(s, pin);
    }
}

static void ioapic_reg_write(IOAPICState *s, uint32_t val)
{
    unsigned idx;

    switch (s->regsel) {
    case IOAPIC_REG_ID:
        s->id = (val >> IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
        break;
    case IOAPIC_REG_VER:
    case IOAPIC_REG_ARB:
        break;      /* read-only */
    default:
        if (s->regsel < IOAPIC_REG_REDTBL) {
            break;
        }
        idx = (s->regsel - IOAPIC_REG_REDTBL) >> 1;
        if (idx < IOAPIC_NUM_PINS) {
            ioapic_redtbl_write(s, idx, s->regsel & 1, val);
        }
        break;
    }
}

static uint64_t ioapic_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    IOAPICState *s = opaque;

    switch (addr) {
    case IOAPIC_IOREGSEL:
        return s->regsel;
    case IOAPIC_IOWIN:
        return ioapic_reg_read(s);
    default:
        return 0;
    }
}

static void ioapic_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    IOAPICState *s = opaque;

    switch (addr) {
    case IOAPIC_IOREGSEL:
        s->regsel = val;
        break;
    case IOAPIC_IOWIN:
        ioapic_reg_write(s, val);
        break;
    case IOAPIC_EOI:
        ioapic_eoi_broadcast(s, val & 0xff);
        break;
    default:
        break;
    }
}

static const MemoryRegionOps ioapic_mmio_ops = {
    .read = ioapic_mmio_read,
    .write = ioapic_mmio_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- migration ---- */

static bool ioapic_post_load(void *opaque, int version_id, GError **errp)
{
    IOAPICState *s = opaque;

    if ((s->id & ~IOAPIC_ID_MASK) || (s->levels >> IOAPIC_NUM_PINS)) {
        g_set_error(errp, VIREO_ERROR, 0, "ID 0x%x or pin levels 0x%x out "
                    "of range", s->id, s->levels);
        return false;
    }
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        uint64_t e = s->redtbl[pin];
        /* Remote IRR exists only for level-triggered entries */
        if ((e & ~(IOREDTBL_RW_BITS | IOREDTBL_REMOTE_IRR)) ||
            ((e & IOREDTBL_REMOTE_IRR) && !entry_level(e))) {
            g_set_error(errp, VIREO_ERROR, 0, "pin %d: redirection entry "
                        "0x%016" G_GINT64_MODIFIER "x has reserved bits or "
                        "Remote IRR on an edge entry", pin, e);
            return false;
        }
    }
    return true;
}

static const VMStateField ioapic_fields[] = {
    VMSTATE_UINT8(regsel, IOAPICState),
    VMSTATE_UINT8(id, IOAPICState),
    VMSTATE_UINT32(levels, IOAPICState),
    VMSTATE_UINT64_ARRAY(redtbl, IOAPICState),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_ioapic = {
    .name = "ioapic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ioapic_fields,
    .post_load = ioapic_post_load,
};

/* ---- life cycle ---- */

void ioapic_reset(IOAPICState *s)
{
    uint32_t max_id = 0;

    s->regsel = 0;
    /* the ID the MADT gives it: the one after the CPUs' */
    for (int i = 0; i < s->m->ncpus; i++) {
        max_id = MAX(max_id, s->m->cpus[i]->apic_id);
    }
    s->id = (max_id + 1) & IOAPIC_ID_MASK;
    for (int i = 0; i < IOAPIC_NUM_PINS; i++) {
        s->redtbl[i] = IOREDTBL_MASK;
    }
}

IOAPICState *ioapic_new(Machine *m)
{
    IOAPICState *s = g_new0(IOAPICState, 1);

    s->m = m;
    memory_region_init_io(&s->mmio, "ioapic", &ioapic_mmio_ops, s,
                          IOAPIC_MMIO_SIZE);
    if (m->sysmem) {
        memory_region_add_subregion(m->sysmem, X86_IOAPIC_BASE, &s->mmio);
    }
    ioapic_reset(s);
    return s;
}

void ioapic_free(IOAPICState *s)
{
    if (!s) {
        return;
    }
    if (s->m->sysmem) {
        memory_region_del_subregion(s->m->sysmem, &s->mmio);
    }
    memory_region_destroy(&s->mmio);
    g_free(s);
}
