/*
 * The local APIC as a guest and its vCPU use it: power-on and virtual-wire
 * state, TPR/PPR/APR priority, EOI, the spurious vector, the timer in
 * one-shot, periodic and TSC-deadline modes on the manual virtual clock,
 * IPIs between two LAPICs (fixed, INIT, SIPI, NMI, shorthands, physical,
 * logical flat and cluster destinations), ESR, APIC_BASE, and MSIs.
 */
#include <glib.h>

#include "hw/intc/x86-irqchip.h"
#include "irqchip-machine.h"

enum {
    ID = 0x20, LVR = 0x30, TPR = 0x80, APR = 0x90, PPR = 0xa0, EOI = 0xb0,
    LDR = 0xd0, DFR = 0xe0, SVR = 0xf0, ISR = 0x100, TMR = 0x180,
    IRR = 0x200, ESR = 0x280, ICR_LO = 0x300, ICR_HI = 0x310,
    LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360,
    LVT_ERROR = 0x370, TMICT = 0x380, TMCCT = 0x390, TDCR = 0x3e0,
};

#define ICR_SELF (1u << 18)
#define ICR_ALL (2u << 18)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_ASSERT (1u << 14)
#define ICR_LOGICAL (1u << 11)

static IrqTestMachine tm;

static Machine *setup(int ncpus)
{
    Machine *m = itm_init(&tm, ncpus);

    for (int i = 0; i < ncpus; i++) {
        lapic_write(m, i, SVR, 0x1ff);
    }
    return m;
}

static bool intr(Machine *m, int cpu)
{
    return cpu_has(m, cpu, CPU_INTERRUPT_HARD);
}

static int inta(Machine *m, int cpu)
{
    return apic_get_interrupt(m->cpus[cpu]->apic);
}

static void self_ipi(Machine *m, int cpu, uint8_t vector)
{
    lapic_write(m, cpu, ICR_LO, ICR_SELF | ICR_ASSERT | vector);
}

static bool irr_has(Machine *m, int cpu, uint8_t v)
{
    return lapic_read(m, cpu, IRR + 0x10 * (v / 32)) & (1u << (v % 32));
}

static void test_power_on_state(void)
{
    Machine *m = itm_init(&tm, 2);

    g_assert_cmphex(lapic_read(m, 1, ID), ==, 0x01000000);
    g_assert_cmphex(lapic_read(m, 0, LVR), ==, 0x50014);
    g_assert_cmphex(lapic_read(m, 0, SVR), ==, 0xff);
    g_assert_cmphex(lapic_read(m, 0, DFR), ==, 0xffffffff);
    g_assert_cmphex(lapic_read(m, 0, LVT_LINT0), ==, 0x10000);
    g_assert_cmphex(lapic_read(m, 0, LVT_TIMER), ==, 0x10000);
    g_assert_cmphex(apic_get_base(m->cpus[0]->apic), ==, 0xfee00900);
    g_assert_cmphex(apic_get_base(m->cpus[1]->apic), ==, 0xfee00800);
    g_assert_true(apic_enabled(m->cpus[1]->apic));

    /* direct kernel boot: as firmware leaves it */
    apic_reset(m->cpus[0]->apic, true, true);
    apic_reset(m->cpus[1]->apic, false, true);
    g_assert_cmphex(lapic_read(m, 0, SVR), ==, 0x1ff);
    g_assert_cmphex(lapic_read(m, 0, LVT_LINT0), ==, 0x700);
    g_assert_cmphex(lapic_read(m, 1, LVT_LINT0), ==, 0x10700);
    g_assert_cmphex(lapic_read(m, 1, LVT_LINT1), ==, 0x400);

    /* software disable masks every LVT and keeps them masked */
    lapic_write(m, 0, SVR, 0xff);
    g_assert_cmphex(lapic_read(m, 0, LVT_LINT0), ==, 0x10700);
    lapic_write(m, 0, LVT_LINT1, 0x400);
    g_assert_cmphex(lapic_read(m, 0, LVT_LINT1), ==, 0x10400);
    itm_fini(&tm);
}

static void test_tpr_ppr(void)
{
    Machine *m = setup(1);

    lapic_write(m, 0, TPR, 0x50);
    self_ipi(m, 0, 0x45);
    g_assert_true(irr_has(m, 0, 0x45));
    g_assert_false(intr(m, 0));             /* class 4 <= TPR class 5 */
    g_assert_cmphex(lapic_read(m, 0, PPR), ==, 0x50);
    lapic_write(m, 0, TPR, 0x4f);
    g_assert_false(intr(m, 0));             /* same class still blocks */
    apic_set_cr8(m->cpus[0]->apic, 3);
    g_assert_cmphex(lapic_read(m, 0, TPR), ==, 0x30);
    g_assert_cmpint(apic_get_cr8(m->cpus[0]->apic), ==, 3);
    g_assert_true(intr(m, 0));
    g_assert_cmpint(inta(m, 0), ==, 0x45);
    /* in service: PPR takes the ISR class over the lower TPR */
    g_assert_cmphex(lapic_read(m, 0, PPR), ==, 0x40);
    g_assert_cmphex(lapic_read(m, 0, ISR + 0x20), ==, 1u << 5);
    self_ipi(m, 0, 0x42);
    g_assert_false(intr(m, 0));
    self_ipi(m, 0, 0x61);                   /* a higher class nests */
    g_assert_true(intr(m, 0));
    g_assert_cmphex(lapic_read(m, 0, APR), ==, 0x60);
    g_assert_cmpint(inta(m, 0), ==, 0x61);
    g_assert_false(intr(m, 0));
    lapic_write(m, 0, EOI, 0);              /* ends 0x61 */
    g_assert_false(intr(m, 0));
    lapic_write(m, 0, EOI, 0);              /* ends 0x45 */
    g_assert_true(intr(m, 0));
    g_assert_cmpint(inta(m, 0), ==, 0x42);
    lapic_write(m, 0, EOI, 0);
    g_assert_cmphex(lapic_read(m, 0, PPR), ==, 0x30);
    itm_fini(&tm);
}

static void test_spurious_vector(void)
{
    Machine *m = setup(1);

    lapic_write(m, 0, SVR, 0x1ef);
    g_assert_false(intr(m, 0));
    /* asked anyway (the request was withdrawn): the spurious vector */
    g_assert_cmpint(inta(m, 0), ==, 0xef);
    g_assert_cmphex(lapic_read(m, 0, ISR + 0x70), ==, 0);
    /* a software-disabled LAPIC refuses fixed interrupts */
    lapic_write(m, 0, SVR, 0x0ef);
    self_ipi(m, 0, 0x80);
    g_assert_false(irr_has(m, 0, 0x80));
    itm_fini(&tm);
}

static void test_oneshot_timer(void)
{
    Machine *m = setup(1);

    lapic_write(m, 0, TDCR, 0x3);           /* divide by 16 */
    lapic_write(m, 0, LVT_TIMER, 0x30);
    lapic_write(m, 0, TMICT, 1000);         /* 16 us at 1 GHz / 16 */
    g_assert_cmpuint(lapic_read(m, 0, TMICT), ==, 1000);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 1000);
    clock_virtual_step(1600);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 900);
    clock_virtual_step(16000 - 1600 - 1);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 1);
    g_assert_false(intr(m, 0));
    clock_virtual_step(1);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 0);
    g_assert_true(intr(m, 0));
    g_assert_cmpint(inta(m, 0), ==, 0x30);
    lapic_write(m, 0, EOI, 0);
    clock_virtual_step(100000);
    g_assert_false(intr(m, 0));             /* one shot only */
    g_assert_cmpint(clock_virtual_deadline(), ==, -1);

    /* masked: counts down without an interrupt */
    lapic_write(m, 0, LVT_TIMER, 0x10030);
    lapic_write(m, 0, TMICT, 10);
    clock_virtual_step(1000);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 0);
    g_assert_false(intr(m, 0));
    /* writing 0 stops a running count */
    lapic_write(m, 0, LVT_TIMER, 0x30);
    lapic_write(m, 0, TMICT, 1000);
    lapic_write(m, 0, TMICT, 0);
    clock_virtual_step(100000);
    g_assert_false(intr(m, 0));
    itm_fini(&tm);
}

static void test_periodic_timer(void)
{
    Machine *m = setup(1);

    lapic_write(m, 0, TDCR, 0xb);           /* divide by 1 */
    lapic_write(m, 0, LVT_TIMER, 0x20031);
    lapic_write(m, 0, TMICT, 100000);       /* 100 us */
    for (int i = 0; i < 3; i++) {
        clock_virtual_step(99999);
        g_assert_false(intr(m, 0));
        clock_virtual_step(1);
        g_assert_true(intr(m, 0));
        g_assert_cmpint(inta(m, 0), ==, 0x31);
        lapic_write(m, 0, EOI, 0);
    }
    clock_virtual_step(25000);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 75000);
    /* a new divider keeps the count and slows it down */
    lapic_write(m, 0, TDCR, 0x0);           /* divide by 2 */
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 75000);
    clock_virtual_step(20000);
    g_assert_cmpuint(lapic_read(m, 0, TMCCT), ==, 65000);
    itm_fini(&tm);
}

static void test_tsc_deadline(void)
{
    Machine *m = setup(1);
    APICState *s = m->cpus[0]->apic;
    int64_t offset = 123456789;
    uint64_t tsc;

    m->cpus[0]->tsc_offset = offset;
    /* ignored outside TSC-deadline mode */
    apic_set_tsc_deadline(s, 1000);
    g_assert_cmpuint(apic_get_tsc_deadline(s), ==, 0);

    lapic_write(m, 0, LVT_TIMER, 0x40032);
    tsc = clock_get_ns(CLK_VIRTUAL) + offset + 5000;
    apic_set_tsc_deadline(s, tsc);
    g_assert_cmpuint(apic_get_tsc_deadline(s), ==, tsc);
    lapic_write(m, 0, TMICT, 50);           /* no effect in this mode */
    g_assert_cmpuint(lapic_read(m, 0, TMICT), ==, 0);
    clock_virtual_step(4999);
    g_assert_false(intr(m, 0));
    clock_virtual_step(1);
    g_assert_true(intr(m, 0));
    g_assert_cmpuint(apic_get_tsc_deadline(s), ==, 0);  /* disarmed */
    g_assert_cmpint(inta(m, 0), ==, 0x32);
    lapic_write(m, 0, EOI, 0);

    /* a deadline already passed fires at once; 0 disarms */
    apic_set_tsc_deadline(s, 1);
    clock_virtual_step(0);
    g_assert_true(intr(m, 0));
    inta(m, 0);
    lapic_write(m, 0, EOI, 0);
    apic_set_tsc_deadline(s, clock_get_ns(CLK_VIRTUAL) + offset + 100);
    apic_set_tsc_deadline(s, 0);
    clock_virtual_step(1000);
    g_assert_false(intr(m, 0));

    /* leaving the mode disarms the deadline */
    apic_set_tsc_deadline(s, clock_get_ns(CLK_VIRTUAL) + offset + 100);
    lapic_write(m, 0, LVT_TIMER, 0x00032);
    clock_virtual_step(1000);
    g_assert_false(intr(m, 0));
    itm_fini(&tm);
}

static void test_ipi_fixed_physical(void)
{
    Machine *m = setup(2);

    lapic_write(m, 0, ICR_HI, 1u << 24);
    lapic_write(m, 0, ICR_LO, ICR_ASSERT | 0x50);
    g_assert_cmphex(lapic_read(m, 0, ICR_LO) & (1u << 12), ==, 0);  /* idle */
    g_assert_cmphex(lapic_read(m, 0, ICR_HI), ==, 1u << 24);
    g_assert_false(intr(m, 0));
    g_assert_true(intr(m, 1));
    g_assert_cmpint(inta(m, 1), ==, 0x50);
    lapic_write(m, 1, EOI, 0);
    /* physical broadcast */
    lapic_write(m, 1, ICR_HI, 0xffu << 24);
    lapic_write(m, 1, ICR_LO, ICR_ASSERT | 0x51);
    g_assert_true(intr(m, 0));
    g_assert_true(intr(m, 1));
    itm_fini(&tm);
}

static void test_ipi_init_sipi_nmi(void)
{
    Machine *m = setup(2);
    CPUState *ap = m->cpus[1];

    lapic_write(m, 0, ICR_HI, 1u << 24);
    lapic_write(m, 0, ICR_LO, 0x4500);      /* INIT, assert */
    g_assert_true(cpu_has(m, 1, CPU_INTERRUPT_INIT));
    g_assert_false(cpu_has(m, 0, CPU_INTERRUPT_INIT));
    cpu_clear(m, 1, CPU_INTERRUPT_INIT);
    lapic_write(m, 0, ICR_LO, 0x8500);      /* INIT level de-assert */
    g_assert_false(cpu_has(m, 1, CPU_INTERRUPT_INIT));
    lapic_write(m, 0, ICR_LO, 0x4608);      /* start-up at 0x8000 */
    g_assert_true(cpu_has(m, 1, CPU_INTERRUPT_SIPI));
    g_assert_cmpint(ap->sipi_vector, ==, 0x08);
    lapic_write(m, 0, ICR_LO, 0x4400);      /* NMI */
    g_assert_true(cpu_has(m, 1, CPU_INTERRUPT_NMI));
    g_assert_false(cpu_has(m, 0, CPU_INTERRUPT_NMI));

    /* the CPU handles INIT by resetting its LAPIC, ID and base kept */
    lapic_write(m, 1, LDR, 0x04000000);
    lapic_write(m, 1, TPR, 0x20);
    apic_init_reset(ap->apic);
    g_assert_cmphex(lapic_read(m, 1, ID), ==, 0x01000000);
    g_assert_cmphex(lapic_read(m, 1, LDR), ==, 0);
    g_assert_cmphex(lapic_read(m, 1, TPR), ==, 0);
    g_assert_cmphex(lapic_read(m, 1, SVR), ==, 0xff);
    g_assert_cmphex(apic_get_base(ap->apic), ==, 0xfee00800);
    itm_fini(&tm);
}

static void test_ipi_shorthands(void)
{
    Machine *m = setup(3);

    lapic_write(m, 1, ICR_LO, ICR_SELF | ICR_ASSERT | 0x61);
    g_assert_true(irr_has(m, 1, 0x61));
    g_assert_false(irr_has(m, 0, 0x61) || irr_has(m, 2, 0x61));

    lapic_write(m, 0, ICR_LO, ICR_ALL | ICR_ASSERT | 0x62);
    for (int i = 0; i < 3; i++) {
        g_assert_true(irr_has(m, i, 0x62));
    }
    lapic_write(m, 2, ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | 0x63);
    g_assert_true(irr_has(m, 0, 0x63));
    g_assert_true(irr_has(m, 1, 0x63));
    g_assert_false(irr_has(m, 2, 0x63));
    itm_fini(&tm);
}

static void test_ipi_logical(void)
{
    Machine *m = setup(3);

    /* flat model: one bit per CPU in LDR[31:24] */
    for (int i = 0; i < 3; i++) {
        lapic_write(m, i, LDR, 1u << (24 + i));
    }
    lapic_write(m, 0, ICR_HI, 0x06u << 24);
    lapic_write(m, 0, ICR_LO, ICR_LOGICAL | ICR_ASSERT | 0x70);
    g_assert_false(irr_has(m, 0, 0x70));
    g_assert_true(irr_has(m, 1, 0x70));
    g_assert_true(irr_has(m, 2, 0x70));

    /* cluster model: cluster in 7:4, members in 3:0 */
    for (int i = 0; i < 3; i++) {
        lapic_write(m, i, DFR, 0x0fffffff);
    }
    g_assert_cmphex(lapic_read(m, 0, DFR), ==, 0x0fffffff);
    lapic_write(m, 0, LDR, 0x11000000);
    lapic_write(m, 1, LDR, 0x12000000);
    lapic_write(m, 2, LDR, 0x21000000);
    lapic_write(m, 0, ICR_HI, 0x13u << 24);
    lapic_write(m, 0, ICR_LO, ICR_LOGICAL | ICR_ASSERT | 0x71);
    g_assert_true(irr_has(m, 0, 0x71));
    g_assert_true(irr_has(m, 1, 0x71));
    g_assert_false(irr_has(m, 2, 0x71));
    itm_fini(&tm);
}

static void test_esr_and_illegal_vector(void)
{
    Machine *m = setup(2);

    lapic_write(m, 0, ESR, 0);
    g_assert_cmphex(lapic_read(m, 0, ESR), ==, 0);
    lapic_write(m, 0, ICR_HI, 1u << 24);
    lapic_write(m, 0, ICR_LO, ICR_ASSERT | 0x05);   /* vectors 0-15 */
    g_assert_false(irr_has(m, 1, 0x05));
    /* errors show after the next ESR write */
    g_assert_cmphex(lapic_read(m, 0, ESR), ==, 0);
    lapic_write(m, 0, ESR, 0);
    g_assert_cmphex(lapic_read(m, 0, ESR), ==, 0x20);
    lapic_write(m, 0, ESR, 0);
    g_assert_cmphex(lapic_read(m, 0, ESR), ==, 0);
    /* with the error LVT unmasked, an error interrupts */
    lapic_write(m, 0, LVT_ERROR, 0xfe);
    lapic_write(m, 0, ICR_LO, ICR_ASSERT | 0x01);
    g_assert_true(irr_has(m, 0, 0xfe));
    itm_fini(&tm);
}

static void test_apic_base(void)
{
    Machine *m = setup(2);
    APICState *s = m->cpus[1]->apic;

    g_assert_false(apic_set_base(s, 0xfee00c00));   /* x2APIC: #GP */
    g_assert_false(apic_set_base(s, 0xfee00801));   /* reserved */
    /* BSP is read-only; clearing the enable bit stops the LAPIC */
    g_assert_true(apic_set_base(s, 0xfee00100));
    g_assert_cmphex(apic_get_base(s), ==, 0xfee00000);
    g_assert_false(apic_enabled(s));
    g_assert_cmphex(lapic_read(m, 1, ID), ==, 0xffffffff);
    lapic_write(m, 0, ICR_HI, 1u << 24);
    lapic_write(m, 0, ICR_LO, ICR_ASSERT | 0x40);
    g_assert_false(intr(m, 1));
    g_assert_true(apic_set_base(s, 0xfee00800));
    g_assert_cmphex(lapic_read(m, 1, SVR), ==, 0xff);   /* state was lost */
    /* moved away: no longer answers at the default address */
    g_assert_true(apic_set_base(s, 0xfed00800));
    g_assert_cmphex(lapic_read(m, 1, ID), ==, 0xffffffff);
    g_assert_cmphex(lapic_read(m, 0, ID), ==, 0);
    itm_fini(&tm);
}

static void test_msi(void)
{
    Machine *m = setup(2);

    x86_irqchip_send_msi(m, 0xfee01000, 0x4061);    /* to APIC ID 1 */
    g_assert_true(irr_has(m, 1, 0x61));
    g_assert_false(irr_has(m, 0, 0x61));
    /* a device's DMA write to the MSI window is the same message */
    itm_writel(m, 0xfee00000, 0x62);
    g_assert_true(irr_has(m, 0, 0x62));
    itm_writel(m, 0xfee01000, 0x63);
    g_assert_true(irr_has(m, 1, 0x63));
    /* level-triggered MSI sets the TMR */
    x86_irqchip_send_msi(m, 0xfee00000, 0xc064);
    g_assert_cmphex(lapic_read(m, 0, TMR + 0x30), ==, 1u << 4);
    itm_fini(&tm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/apic/power-on-state", test_power_on_state);
    g_test_add_func("/apic/tpr-ppr", test_tpr_ppr);
    g_test_add_func("/apic/spurious-vector", test_spurious_vector);
    g_test_add_func("/apic/timer/oneshot", test_oneshot_timer);
    g_test_add_func("/apic/timer/periodic", test_periodic_timer);
    g_test_add_func("/apic/timer/tsc-deadline", test_tsc_deadline);
    g_test_add_func("/apic/ipi/fixed-physical", test_ipi_fixed_physical);
    g_test_add_func("/apic/ipi/init-sipi-nmi", test_ipi_init_sipi_nmi);
    g_test_add_func("/apic/ipi/shorthands", test_ipi_shorthands);
    g_test_add_func("/apic/ipi/logical", test_ipi_logical);
    g_test_add_func("/apic/esr", test_esr_and_illegal_vector);
    g_test_add_func("/apic/apic-base", test_apic_base);
    g_test_add_func("/apic/msi", test_msi);
    return g_test_run();
}
