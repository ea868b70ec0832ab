/*
 * A bare machine with Vireo's irqchip for interrupt-controller unit tests:
 * memory and I/O address spaces, hand-made vCPUs (never started, so
 * cpu_interrupt only sets bits) and GSIs routed to x86_irqchip_set_irq.
 * Time is the manual virtual clock.
 */
#ifndef TESTS_UNIT_IRQCHIP_MACHINE_H
#define TESTS_UNIT_IRQCHIP_MACHINE_H

#include <string.h>

#include <glib.h>

#include "hw/i386/x86.h"
#include "hw/intc/x86-irqchip.h"
#include "system/timer.h"

typedef struct IrqTestMachine {
    Machine m;
    MemoryRegion sysmem;
    MemoryRegion io;
} IrqTestMachine;

static void itm_gsi_handler(void *opaque, int n, int level)
{
    x86_irqchip_set_irq(opaque, n, level);
}

static void itm_kick(CPUState *cpu)
{
}

static const AccelOps itm_accel = {
    .name = "test",
    .vcpu_kick = itm_kick,
    .set_irq = x86_irqchip_set_irq,
};

static inline Machine *itm_init(IrqTestMachine *t, int ncpus)
{
    Machine *m = &t->m;
    GError *err = NULL;

    memset(t, 0, sizeof(*t));
    clock_virtual_set_manual(true);
    m->accel = &itm_accel;
    memory_region_init_container(&t->sysmem, "system", UINT64_MAX);
    memory_region_init_container(&t->io, "io", 0x10000);
    m->sysmem = &t->sysmem;
    m->io = &t->io;
    address_space_init(&m->as_mem, m->sysmem, "memory");
    address_space_init(&m->as_io, m->io, "io");
    for (int i = 0; i < X86_NUM_GSI; i++) {
        m->gsi[i] = (IRQLine){ .handler = itm_gsi_handler, .opaque = m,
                               .n = i };
    }
    m->ncpus = ncpus;
    m->cpus = g_new0(CPUState *, ncpus);
    for (int i = 0; i < ncpus; i++) {
        CPUState *cpu = g_new0(CPUState, 1);
        cpu->machine = m;
        cpu->index = i;
        cpu->apic_id = i;
        m->cpus[i] = cpu;
    }
    g_assert_true(x86_irqchip_create(m, &err));
    g_assert_no_error(err);
    return m;
}

static inline void itm_fini(IrqTestMachine *t)
{
    Machine *m = &t->m;

    current_cpu = NULL;
    address_space_destroy(&m->as_mem);
    address_space_destroy(&m->as_io);
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    memory_region_destroy(&t->sysmem);
    memory_region_destroy(&t->io);
    for (int i = 0; i < m->ncpus; i++) {
        g_free(m->cpus[i]);
    }
    g_free(m->cpus);
}

static inline void itm_outb(Machine *m, uint16_t port, uint8_t val)
{
    address_space_st(&m->as_io, port, 1, val);
}

static inline uint8_t itm_inb(Machine *m, uint16_t port)
{
    uint64_t v = 0;
    address_space_ld(&m->as_io, port, 1, &v);
    return v;
}

static inline void itm_writel(Machine *m, hwaddr addr, uint32_t val)
{
    address_space_st(&m->as_mem, addr, 4, val);
}

static inline uint32_t itm_readl(Machine *m, hwaddr addr)
{
    uint64_t v = 0;
    address_space_ld(&m->as_mem, addr, 4, &v);
    return v;
}

/* LAPIC register access as vCPU cpu performs it. */
static inline void lapic_write(Machine *m, int cpu, uint32_t reg,
                               uint32_t val)
{
    current_cpu = m->cpus[cpu];
    itm_writel(m, X86_LAPIC_BASE + reg, val);
    current_cpu = NULL;
}

static inline uint32_t lapic_read(Machine *m, int cpu, uint32_t reg)
{
    current_cpu = m->cpus[cpu];
    uint32_t v = itm_readl(m, X86_LAPIC_BASE + reg);
    current_cpu = NULL;
    return v;
}

static inline bool cpu_has(Machine *m, int cpu, int mask)
{
    return __atomic_load_n(&m->cpus[cpu]->interrupt_request,
                           __ATOMIC_SEQ_CST) & mask;
}

static inline void cpu_clear(Machine *m, int cpu, int mask)
{
    cpu_reset_interrupt(m->cpus[cpu], mask);
}

#endif
