/*
 * Vireo's own PC interrupt controllers, used by the software CPU, qtest and
 * KVM with kernel-irqchip=off: a LAPIC per vCPU (hw/intc/apic.c), an IOAPIC
 * (hw/intc/ioapic.c), the master/slave 8259 pair (hw/intc/i8259.c), and the
 * 8254 PIT (hw/timer/i8254.c). GSI routing matches the KVM path: GSI 0..15
 * go to the 8259 inputs and the IOAPIC pins with the same number, except
 * that GSI 0 (the PIT) reaches IOAPIC pin 2, as on every PC with an ACPI
 * MADT interrupt source override.
 */
#ifndef HW_INTC_X86_IRQCHIP_H
#define HW_INTC_X86_IRQCHIP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/i386/x86.h"

/*
 * The LAPIC timer's input clock before its divider: 1 GHz, one tick per
 * CLK_VIRTUAL nanosecond (CPUID leaves 0x15/0x16 may report it).
 */
#define X86_APIC_BUS_HZ 1000000000

/*
 * Creates the 8259 pair (ports 0x20/0xa0, ELCR 0x4d0), the IOAPIC at
 * X86_IOAPIC_BASE, the LAPIC MMIO window at X86_LAPIC_BASE and a LAPIC for
 * each vCPU in m->cpus (cpu->apic). Call after the vCPUs exist.
 * With m->kernel_lapic_msi set (KVM's kernel-irqchip=split) it makes no
 * LAPICs and no LAPIC window: the IOAPIC and MSIs go to that hook, and the
 * 8259's output raises CPU_INTERRUPT_HARD on the BSP (pic_get_interrupt).
 * They form one device ("x86-irqchip") in m->devices, so machine_reset
 * resets them: 8259s and IOAPIC to power-on, each LAPIC with
 * apic_reset(bsp = index 0, virtual_wire = m->boot.mode != BOOT_MODE_REAL).
 * Writes to 0xfee00000-0xfeefffff by anything but a vCPU are MSIs.
 */
bool x86_irqchip_create(Machine *m, GError **errp);
/* Drives a GSI; call with the big lock held. */
void x86_irqchip_set_irq(Machine *m, int gsi, int level);
/* A PCI MSI write (address 0xfeeXXXXX, data) as the LAPICs receive it. */
void x86_irqchip_send_msi(Machine *m, uint64_t addr, uint32_t data);
/*
 * kernel-irqchip=split: the accelerator's LAPIC EOIed a level-triggered
 * vector that came from the IOAPIC (KVM_EXIT_IOAPIC_EOI). Big lock held.
 */
void x86_irqchip_ioapic_eoi(Machine *m, uint8_t vector);
/*
 * For qtest's irq_intercept_in ioapic: reports each change of a GSI's
 * level, numbered as the GSI (the PIT is 0, as QEMU's qtest reports it,
 * though it reaches IOAPIC pin 2). fn NULL stops; false if the machine
 * has no Vireo interrupt controllers.
 */
typedef void X86IrqObserver(void *opaque, int gsi, int level);
bool x86_irqchip_intercept_ioapic(Machine *m, X86IrqObserver *fn,
                                  void *opaque);

/*
 * The LAPIC as its vCPU sees it. All calls are made with the big lock
 * held. The LAPIC keeps CPU_INTERRUPT_HARD in cpu->interrupt_request set
 * exactly while apic_get_interrupt() would return a vector (including an
 * ExtINT from the 8259 through LINT0), and raises CPU_INTERRUPT_NMI,
 * CPU_INTERRUPT_INIT and CPU_INTERRUPT_SIPI for those deliveries.
 */
/*
 * INTA: acknowledges the highest deliverable interrupt and returns its
 * vector (an 8259 vector for ExtINT). Call it only while
 * CPU_INTERRUPT_HARD is set: if the request went away in between, the
 * answer is a spurious vector, as on hardware (the 8259's IR7 in virtual
 * wire mode, else the SVR vector); -1 only if nothing can answer (LAPIC
 * hardware-disabled on an AP).
 */
int apic_get_interrupt(APICState *s);
/* Whether the LAPIC is hardware-enabled (APIC_BASE bit 11). */
bool apic_enabled(APICState *s);
uint64_t apic_get_base(APICState *s);
/* MSR 0x1b write; false if the value is invalid (the CPU raises #GP). */
bool apic_set_base(APICState *s, uint64_t value);
/* CR8 is TPR[7:4]. */
uint8_t apic_get_cr8(APICState *s);
void apic_set_cr8(APICState *s, uint8_t cr8);
/* MSR 0x6e0, IA32_TSC_DEADLINE (TSC as in CPUState.tsc_offset). */
uint64_t apic_get_tsc_deadline(APICState *s);
void apic_set_tsc_deadline(APICState *s, uint64_t tsc);
/*
 * Power-on state for the machine reset (SDM 10.4.7.1); with virtual_wire
 * (a kernel booted without firmware) LINT0 is ExtINT on the BSP and LINT1
 * NMI everywhere, as firmware would have left them.
 */
void apic_reset(APICState *s, bool bsp, bool virtual_wire);
/* The vCPU received INIT: the LAPIC goes to its INIT state (SDM 10.4.7.3). */
void apic_init_reset(APICState *s);

/* INTA to the 8259 when the LAPICs are not Vireo's (kernel-irqchip=split):
 * its pending vector, or -1. */
int pic_get_interrupt(Machine *m);

#endif
