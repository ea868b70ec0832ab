/*
 * How Vireo's interrupt controllers reach each other: the 8259 pair feeds
 * the BSP's LINT0, the IOAPIC and MSIs send messages to the LAPICs, and a
 * LAPIC's EOI of a level-triggered vector goes back to the IOAPIC. Private
 * to hw/intc/ (and the unit tests).
 */
#ifndef HW_INTC_IRQCHIP_INTERNAL_H
#define HW_INTC_IRQCHIP_INTERNAL_H

#include "hw/intc/x86-irqchip.h"

typedef struct PICState PICState;
typedef struct IOAPICState IOAPICState;

/* Delivery modes of IOAPIC entries, MSIs, LVTs and the ICR (SDM 10.6.1). */
enum {
    APIC_DM_FIXED = 0,
    APIC_DM_LOWEST = 1,
    APIC_DM_SMI = 2,
    APIC_DM_NMI = 4,
    APIC_DM_INIT = 5,
    APIC_DM_STARTUP = 6,
    APIC_DM_EXTINT = 7,
};

/* An interrupt message on the (virtual) APIC bus. */
typedef struct APICMessage {
    uint8_t dest;           /* physical APIC ID or logical mask */
    bool logical;
    int delivery_mode;      /* APIC_DM_* */
    uint8_t vector;
    bool level;             /* level-triggered: the TMR bit is set */
} APICMessage;

/* The irqchip of a machine: a device, so that machine reset reaches it. */
typedef struct X86IrqChip {
    Device dev;
    Machine *m;
    PICState *pic;
    IOAPICState *ioapic;
    MemoryRegion lapic_mmio;
    bool has_lapics;        /* false: the accelerator's (kernel_lapic_msi) */
    bool mapped;
    X86IrqObserver *observer;
    void *observer_opaque;
} X86IrqChip;

/*
 * Migration state (migration/vmstate.h): of the 8259 pair, the IOAPIC,
 * one LAPIC, and a field that saves the LAPIC of every vCPU of the chip's
 * machine (its opaque is the X86IrqChip).
 */
typedef struct VMStateDescription VMStateDescription;
typedef struct VMStateInfo VMStateInfo;
extern const VMStateDescription vmstate_pic;
extern const VMStateDescription vmstate_ioapic;
extern const VMStateDescription vmstate_apic;
extern const VMStateInfo vmstate_info_lapics;

/* The irqchip of m, or NULL if x86_irqchip_create was not called. */
X86IrqChip *x86_irqchip_find(Machine *m);

/* hw/intc/i8259.c */
PICState *pic_new(Machine *m);
void pic_free(PICState *s);
void pic_reset(PICState *s);
/* Drives input 0..15 (8..15 are the slave's). */
void pic_set_irq(PICState *s, int irq, int level);
/* The master's INT output. */
bool pic_int_output(PICState *s);
/* INTA cycle: the vector, the ISR bit set (or spurious 7/15). */
int pic_acknowledge(PICState *s);

/* hw/intc/ioapic.c */
IOAPICState *ioapic_new(Machine *m);
void ioapic_free(IOAPICState *s);
void ioapic_reset(IOAPICState *s);
void ioapic_set_irq(IOAPICState *s, int pin, int level);
/* A LAPIC's EOI for a level-triggered vector (SDM 10.8.5). */
void ioapic_eoi_broadcast(IOAPICState *s, uint8_t vector);

/* hw/intc/apic.c */
APICState *apic_new(CPUState *cpu);
void apic_free(APICState *s);
/* The shared window at X86_LAPIC_BASE; opaque is the Machine. */
extern const MemoryRegionOps apic_mmio_ops;
/* Delivers a message to the LAPICs it targets; false if none accepted it. */
bool apic_deliver(Machine *m, const APICMessage *msg);
/* The 8259's INT output changed: LINT0 of the BSP, or the CPU itself. */
void apic_pic_output_changed(Machine *m, bool level);
/* Drives the LINT0/LINT1 pin of one LAPIC. */
void apic_set_lint(APICState *s, int lint, bool level);

#endif
