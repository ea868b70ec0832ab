/*
 * The PC's cascaded Intel 8259A programmable interrupt controllers (master
 * at 0x20, slave at 0xa0 on master IR2) and the PIIX/ICH edge/level control
 * registers (ELCR, 0x4d0-0x4d1), after the 8259A datasheet (ICWs, OCWs,
 * priority rotation, poll, special mask mode) as PC guests program them.
 * Special fully nested mode and buffered mode are not modelled.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "irqchip-internal.h"
#include "migration/vmstate.h"
#include "util/opts.h"

/* ICW1 bits (datasheet figure 6) */
#define ICW1_IC4        0x01    /* ICW4 follows */
#define ICW1_SNGL       0x02    /* single 8259, no ICW3 */
#define ICW1_INIT       0x10    /* marks ICW1 on the command port */
/* ICW4 bits */
#define ICW4_AEOI       0x02
/* OCW3 bits (the command port with D4=0, D3=1) */
#define OCW3_SEL        0x08
#define OCW3_RIS        0x01    /* read ISR instead of IRR */
#define OCW3_RR         0x02    /* RIS is valid */
#define OCW3_P          0x04    /* poll command */
#define OCW3_SMM        0x20    /* special mask: set or reset by ESMM */
#define OCW3_ESMM       0x40

/* OCW2 commands, bits 7:5 */
enum {
    OCW2_ROTATE_AEOI_CLEAR = 0,
    OCW2_EOI = 1,
    OCW2_NOP = 2,
    OCW2_SPECIFIC_EOI = 3,
    OCW2_ROTATE_AEOI_SET = 4,
    OCW2_ROTATE_EOI = 5,
    OCW2_SET_PRIORITY = 6,
    OCW2_ROTATE_SPECIFIC_EOI = 7,
};

#define PIC_CASCADE_IRQ 2
#define PIC_SPURIOUS_IRQ 7

/* Which inputs may be level-triggered (PIIX3 ELCR1/ELCR2). */
static const uint8_t elcr_mask[2] = { 0xf8, 0xde };

typedef struct PICChip {
    uint8_t irr;
    uint8_t imr;
    uint8_t isr;
    uint8_t lines;          /* input levels as last driven */
    uint8_t elcr;           /* 1: level-triggered */
    uint8_t irq_base;       /* ICW2 */
    uint8_t lowest;         /* IR with the lowest priority (rotation) */
    uint8_t init_step;      /* 0: ready; 1-3: ICW2-ICW4 expected */
    bool icw4_needed;
    bool single;
    bool auto_eoi;
    bool rotate_on_aeoi;
    bool read_isr;
    bool poll;
    bool special_mask;
} PICChip;

struct PICState {
    Machine *m;
    PICChip chip[2];        /* master, slave */
    MemoryRegion io[2];
    MemoryRegion elcr_io;
    bool output;
};

/* ---- priority logic ---- */

/* Priority rank (0 = highest) of the best bit in mask, or 8 if none. */
static int priority_of(PICChip *c, uint8_t mask)
{
    for (int p = 0; p < 8; p++) {
        if (mask & (1 << ((c->lowest + 1 + p) & 7))) {
            return p;
        }
    }
    return 8;
}

static int irq_of_priority(PICChip *c, int p)
{
    return (c->lowest + 1 + p) & 7;
}

/* The IR the chip would present at INTA, or -1. */
static int chip_pending_irq(PICChip *c)
{
    int req = priority_of(c, c->irr & ~c->imr);
    /* special mask mode: masked in-service levels don't block others */
    uint8_t in_service = c->special_mask ? c->isr & ~c->imr : c->isr;
    int cur = priority_of(c, in_service);

    if (req < cur) {
        return irq_of_priority(c, req);
    }
    return -1;
}

static void chip_set_line(PICChip *c, int irq, int level)
{
    uint8_t bit = 1 << irq;

    if (c->elcr & bit) {
        /* level-triggered: the request follows the line */
        if (level) {
            c->irr |= bit;
        } else {
            c->irr &= ~bit;
        }
    } else if (level && !(c->lines & bit)) {
        c->irr |= bit;      /* edge: latched on the rising edge */
    }
    if (level) {
        c->lines |= bit;
    } else {
        c->lines &= ~bit;
    }
}

static void pic_update(PICState *s)
{
    PICChip *slave = &s->chip[1];
    bool out;

    PICChip *master = &s->chip[0];
    uint8_t cascade = 1 << PIC_CASCADE_IRQ;

    /* the slave's INT is wired to IR2 and requests while it is high */
    if (chip_pending_irq(slave) >= 0) {
        master->irr |= cascade;
        master->lines |= cascade;
    } else {
        master->irr &= ~cascade;
        master->lines &= ~cascade;
    }
    out = chip_pending_irq(master) >= 0;
    if (out != s->output) {
        s->output = out;
        apic_pic_output_changed(s->m, out);
    }
}

/* Acknowledge irq on a chip: INTA or poll read. */
static void chip_ack(PICChip *c, int irq)
{
    uint8_t bit = 1 << irq;

    if (c->auto_eoi) {
        if (c->rotate_on_aeoi) {
            c->lowest = irq;
        }
    } else {
        c->isr |= bit;
    }
    if (!(c->elcr & bit)) {
        c->irr &= ~bit;
    }
}

int pic_acknowledge(PICState *s)
{
    PICChip *master = &s->chip[0], *slave = &s->chip[1];
    int irq = chip_pending_irq(master);
    int vector;

    if (irq < 0) {
        /* the request went away before INTA: default IR7 */
        return master->irq_base + PIC_SPURIOUS_IRQ;
    }
    chip_ack(master, irq);
    if (irq == PIC_CASCADE_IRQ) {
        int irq2 = chip_pending_irq(slave);
        if (irq2 >= 0) {
            chip_ack(slave, irq2);
            vector = slave->irq_base + irq2;
        } else {
            vector = slave->irq_base + PIC_SPURIOUS_IRQ;
        }
    } else {
        vector = master->irq_base + irq;
    }
    pic_update(s);
    return vector;
}

bool pic_int_output(PICState *s)
{
    return s->output;
}

void pic_set_irq(PICState *s, int irq, int level)
{
    if (irq < 0 || irq >= 16 || irq == PIC_CASCADE_IRQ) {
        return;     /* IR2 of the master is the cascade, not a GSI */
    }
    chip_set_line(&s->chip[irq >> 3], irq & 7, level);
    pic_update(s);
}

/* ---- register interface ---- */

static void chip_init_reset(PICChip *c)
{
    uint8_t elcr = c->elcr;
    uint8_t lines = c->lines;

    memset(c, 0, sizeof(*c));
    c->elcr = elcr;
    c->lines = lines;
    c->lowest = 7;
    /* level inputs still high keep requesting; edges need a new edge */
    c->irr = lines & elcr;
}

static void chip_eoi(PICChip *c, int irq, bool rotate)
{
    c->isr &= ~(1 << irq);
    if (rotate) {
        c->lowest = irq;
    }
}

static void chip_write_ocw2(PICChip *c, uint8_t val)
{
    int level = val & 7;
    int p;

    switch (val >> 5) {
    case OCW2_ROTATE_AEOI_CLEAR:
        c->rotate_on_aeoi = false;
        break;
    case OCW2_ROTATE_AEOI_SET:
        c->rotate_on_aeoi = true;
        break;
    case OCW2_EOI:
    case OCW2_ROTATE_EOI:
        p = priority_of(c, c->isr);
        if (p < 8) {
            chip_eoi(c, irq_of_priority(c, p), (val >> 5) == OCW2_ROTATE_EOI);
        }
        break;
    case OCW2_SPECIFIC_EOI:
        chip_eoi(c, level, false);
        break;
    case OCW2_ROTATE_SPECIFIC_EOI:
        chip_eoi(c, level, true);
        break;
    case OCW2_SET_PRIORITY:
        c->lowest = level;
        break;
    case OCW2_NOP:
    default:
        break;
    }
}

static void chip_write_command(PICChip *c, uint8_t val)
{
    if (val & ICW1_INIT) {
        chip_init_reset(c);
        c->init_step = 1;
        c->icw4_needed = val & ICW1_IC4;
        c->single = val & ICW1_SNGL;
    } else if (val & OCW3_SEL) {
        if (val & OCW3_P) {
            c->poll = true;
        }
        if (val & OCW3_RR) {
            c->read_isr = val & OCW3_RIS;
        }
        if (val & OCW3_ESMM) {
            c->special_mask = val & OCW3_SMM;
        }
    } else {
        chip_write_ocw2(c, val);
    }
}

static void chip_write_data(PICChip *c, uint8_t val)
{
    switch (c->init_step) {
    case 1:     /* ICW2: the vector base, low three bits are the IR */
        c->irq_base = val & 0xf8;
        c->init_step = c->single ? (c->icw4_needed ? 3 : 0) : 2;
        break;
    case 2:     /* ICW3: the cascade wiring is fixed on a PC */
        c->init_step = c->icw4_needed ? 3 : 0;
        break;
    case 3:     /* ICW4 */
        c->auto_eoi = val & ICW4_AEOI;
        c->init_step = 0;
        break;
    default:    /* OCW1 */
        c->imr = val;
        break;
    }
}

/* Poll command (datasheet "The Poll Command"): acknowledges like INTA. */
static uint8_t chip_poll_read(PICState *s, int idx)
{
    PICChip *c = &s->chip[idx];
    int irq = chip_pending_irq(c);

    c->poll = false;
    if (irq < 0) {
        return 0;
    }
    chip_ack(c, irq);
    pic_update(s);
    return 0x80 | irq;
}

static uint64_t pic_read(PICState *s, int idx, hwaddr addr)
{
    PICChip *c = &s->chip[idx];

    if (c->poll) {
        return chip_poll_read(s, idx);
    }
    if (addr == 0) {
        return c->read_isr ? c->isr : c->irr;
    }
    return c->imr;
}

static void pic_write(PICState *s, int idx, hwaddr addr, uint64_t val)
{
    PICChip *c = &s->chip[idx];

    if (addr == 0) {
        chip_write_command(c, val);
    } else {
        chip_write_data(c, val);
    }
    pic_update(s);
}

static uint64_t pic_master_read(void *opaque, hwaddr addr, unsigned size)
{
    return pic_read(opaque, 0, addr);
}

static void pic_master_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    pic_write(opaque, 0, addr, val);
}

static uint64_t pic_slave_read(void *opaque, hwaddr addr, unsigned size)
{
    return pic_read(opaque, 1, addr);
}

static void pic_slave_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    pic_write(opaque, 1, addr, val);
}

static const MemoryRegionOps pic_ops[2] = {
    { .read = pic_master_read, .write = pic_master_write,
      .impl_min = 1, .impl_max = 1 },
    { .read = pic_slave_read, .write = pic_slave_write,
      .impl_min = 1, .impl_max = 1 },
};

static uint64_t elcr_read(void *opaque, hwaddr addr, unsigned size)
{
    PICState *s = opaque;

    return s->chip[addr & 1].elcr;
}

static void elcr_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    PICState *s = opaque;
    PICChip *c = &s->chip[addr & 1];

    c->elcr = val & elcr_mask[addr & 1];
    /* a line switched to level mode requests while high */
    c->irr = (c->irr & ~c->elcr) | (c->lines & c->elcr);
    pic_update(s);
}

static const MemoryRegionOps elcr_ops = {
    .read = elcr_read,
    .write = elcr_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- migration ---- */

static bool pic_chip_check(PICChip *c, int idx, GError **errp)
{
    if (c->lowest > 7 || c->init_step > 3 || (c->irq_base & 7) ||
        (c->elcr & ~elcr_mask[idx])) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: priority %u, init step %u, vector base 0x%x or "
                    "ELCR 0x%x out of range", idx ? "slave" : "master",
                    c->lowest, c->init_step, c->irq_base, c->elcr);
        return false;
    }
    return true;
}

static bool pic_post_load(void *opaque, int version_id, GError **errp)
{
    PICState *s = opaque;

    for (int i = 0; i < 2; i++) {
        if (!pic_chip_check(&s->chip[i], i, errp)) {
            return false;
        }
    }
    pic_update(s);      /* the cascade and INT follow from the chips */
    return true;
}

static const VMStateField pic_chip_fields[] = {
    VMSTATE_UINT8(irr, PICChip),
    VMSTATE_UINT8(imr, PICChip),
    VMSTATE_UINT8(isr, PICChip),
    VMSTATE_UINT8(lines, PICChip),
    VMSTATE_UINT8(elcr, PICChip),
    VMSTATE_UINT8(irq_base, PICChip),
    VMSTATE_UINT8(lowest, PICChip),
    VMSTATE_UINT8(init_step, PICChip),
    VMSTATE_BOOL(icw4_needed, PICChip),
    VMSTATE_BOOL(single, PICChip),
    VMSTATE_BOOL(auto_eoi, PICChip),
    VMSTATE_BOOL(rotate_on_aeoi, PICChip),
    VMSTATE_BOOL(read_isr, PICChip),
    VMSTATE_BOOL(poll, PICChip),
    VMSTATE_BOOL(special_mask, PICChip),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_pic_chip = {
    .name = "i8259-chip",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pic_chip_fields,
};

static const VMStateField pic_fields[] = {
    VMSTATE_STRUCT_ARRAY(chip, PICState, vmstate_pic_chip, PICChip),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_pic = {
    .name = "i8259",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pic_fields,
    .post_load = pic_post_load,
};

/* ---- life cycle ---- */

void pic_reset(PICState *s)
{
    for (int i = 0; i < 2; i++) {
        PICChip *c = &s->chip[i];
        uint8_t lines = c->lines;
        memset(c, 0, sizeof(*c));
        c->lines = lines;
        c->lowest = 7;
    }
    pic_update(s);
}

PICState *pic_new(Machine *m)
{
    PICState *s = g_new0(PICState, 1);

    s->m = m;
    memory_region_init_io(&s->io[0], "pic-master", &pic_ops[0], s, 2);
    memory_region_init_io(&s->io[1], "pic-slave", &pic_ops[1], s, 2);
    memory_region_init_io(&s->elcr_io, "elcr", &elcr_ops, s, 2);
    memory_region_add_subregion(m->io, 0x20, &s->io[0]);
    memory_region_add_subregion(m->io, 0xa0, &s->io[1]);
    memory_region_add_subregion(m->io, 0x4d0, &s->elcr_io);
    for (int i = 0; i < 2; i++) {
        s->chip[i].lowest = 7;
    }
    return s;
}

void pic_free(PICState *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        memory_region_del_subregion(s->m->io, &s->io[i]);
        memory_region_destroy(&s->io[i]);
    }
    memory_region_del_subregion(s->m->io, &s->elcr_io);
    memory_region_destroy(&s->elcr_io);
    g_free(s);
}

int pic_get_interrupt(Machine *m)
{
    X86IrqChip *chip = x86_irqchip_find(m);

    if (!chip || !chip->pic || !chip->pic->output) {
        return -1;
    }
    return pic_acknowledge(chip->pic);
}
