/*
 * The IOAPIC through its MMIO window: identification registers, masked
 * reset state, fixed delivery of a vector to the LAPIC named by a physical
 * or logical destination, lowest priority, NMI and ExtINT entries, masking,
 * level-triggered Remote IRR cleared by the LAPIC's EOI broadcast (with
 * re-delivery while the line is still high) or the EOI register, the
 * GSI 0 -> pin 2 route, and the qtest observer.
 */
#include <glib.h>

#include "hw/intc/x86-irqchip.h"
#include "irqchip-machine.h"
#include "../../hw/intc/irqchip-internal.h"

#define IOREGSEL (X86_IOAPIC_BASE + 0x00)
#define IOWIN (X86_IOAPIC_BASE + 0x10)
#define IOEOI (X86_IOAPIC_BASE + 0x40)
#define RTE_MASKED (1u << 16)
#define RTE_LEVEL (1u << 15)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LOGICAL (1u << 11)
#define DM_LOWEST (1u << 8)
#define DM_NMI (4u << 8)
#define DM_EXTINT (7u << 8)

static IrqTestMachine tm;

static uint32_t ioapic_read(Machine *m, uint8_t reg)
{
    itm_writel(m, IOREGSEL, reg);
    return itm_readl(m, IOWIN);
}

static void ioapic_write(Machine *m, uint8_t reg, uint32_t val)
{
    itm_writel(m, IOREGSEL, reg);
    itm_writel(m, IOWIN, val);
}

static void route(Machine *m, int pin, uint32_t low, uint8_t dest)
{
    ioapic_write(m, 0x10 + 2 * pin + 1, (uint32_t)dest << 24);
    ioapic_write(m, 0x10 + 2 * pin, low);
}

static Machine *setup(void)
{
    Machine *m = itm_init(&tm, 2);

    for (int i = 0; i < 2; i++) {
        lapic_write(m, i, 0xf0, 0x1ff);     /* SVR: software-enabled */
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

static void eoi(Machine *m, int cpu)
{
    lapic_write(m, cpu, 0xb0, 0);
}

static void test_identification(void)
{
    Machine *m = setup();

    g_assert_cmphex(ioapic_read(m, 0x01), ==, 0x170020);
    /* the ID the MADT gives it: after the CPUs' (0 and 1) */
    g_assert_cmphex(ioapic_read(m, 0x00), ==, 0x02000000);
    ioapic_write(m, 0x00, 0x05000000);
    g_assert_cmphex(ioapic_read(m, 0x00), ==, 0x05000000);
    ioapic_write(m, 0x01, 0);
    g_assert_cmphex(ioapic_read(m, 0x01), ==, 0x170020);
    for (int pin = 0; pin < 24; pin++) {
        g_assert_cmphex(ioapic_read(m, 0x10 + 2 * pin), ==, RTE_MASKED);
        g_assert_cmphex(ioapic_read(m, 0x11 + 2 * pin), ==, 0);
    }
    g_assert_cmphex(itm_readl(m, IOREGSEL), ==, 0x3f);
    itm_fini(&tm);
}

static void test_fixed_physical(void)
{
    Machine *m = setup();

    route(m, 4, 0x41, 1);
    g_assert_cmphex(ioapic_read(m, 0x18), ==, 0x41);
    g_assert_cmphex(ioapic_read(m, 0x19), ==, 0x01000000);
    x86_irqchip_set_irq(m, 4, 1);
    g_assert_false(intr(m, 0));
    g_assert_true(intr(m, 1));
    g_assert_cmpint(inta(m, 1), ==, 0x41);
    g_assert_false(intr(m, 1));
    eoi(m, 1);
    /* edge: holding the line high sends nothing more */
    x86_irqchip_set_irq(m, 4, 1);
    g_assert_false(intr(m, 1));
    x86_irqchip_set_irq(m, 4, 0);
    x86_irqchip_set_irq(m, 4, 1);
    g_assert_true(intr(m, 1));
    itm_fini(&tm);
}

static void test_mask(void)
{
    Machine *m = setup();

    route(m, 7, RTE_MASKED | 0x47, 0);
    x86_irqchip_set_irq(m, 7, 1);
    g_assert_false(intr(m, 0));
    /* an edge seen while masked is gone */
    route(m, 7, 0x47, 0);
    g_assert_false(intr(m, 0));
    x86_irqchip_set_irq(m, 7, 0);
    x86_irqchip_set_irq(m, 7, 1);
    g_assert_true(intr(m, 0));
    itm_fini(&tm);
}

static void test_level_remote_irr(void)
{
    Machine *m = setup();
    uint32_t tmr;

    route(m, 9, RTE_LEVEL | 0x49, 0);
    x86_irqchip_set_irq(m, 9, 1);
    g_assert_cmphex(ioapic_read(m, 0x22) & RTE_REMOTE_IRR, !=, 0);
    /* the read-only Remote IRR survives a rewrite of the entry */
    ioapic_write(m, 0x22, RTE_LEVEL | 0x49);
    g_assert_cmphex(ioapic_read(m, 0x22) & RTE_REMOTE_IRR, !=, 0);
    g_assert_cmpint(inta(m, 0), ==, 0x49);
    tmr = lapic_read(m, 0, 0x180 + 0x10 * (0x49 / 32));
    g_assert_cmphex(tmr, ==, 1u << (0x49 % 32));
    /* EOI with the line still high: Remote IRR clears, sent again */
    eoi(m, 0);
    g_assert_true(intr(m, 0));
    g_assert_cmphex(ioapic_read(m, 0x22) & RTE_REMOTE_IRR, !=, 0);
    g_assert_cmpint(inta(m, 0), ==, 0x49);
    x86_irqchip_set_irq(m, 9, 0);
    eoi(m, 0);
    g_assert_cmphex(ioapic_read(m, 0x22) & RTE_REMOTE_IRR, ==, 0);
    g_assert_false(intr(m, 0));
    itm_fini(&tm);
}

static void test_level_masked_then_unmasked(void)
{
    Machine *m = setup();

    route(m, 10, RTE_MASKED | RTE_LEVEL | 0x4a, 0);
    x86_irqchip_set_irq(m, 10, 1);
    g_assert_false(intr(m, 0));
    route(m, 10, RTE_LEVEL | 0x4a, 0);
    g_assert_true(intr(m, 0));              /* still asserted */
    itm_fini(&tm);
}

static void test_eoi_register(void)
{
    Machine *m = setup();

    route(m, 11, RTE_LEVEL | 0x4b, 0);
    x86_irqchip_set_irq(m, 11, 1);
    g_assert_cmpint(inta(m, 0), ==, 0x4b);
    x86_irqchip_set_irq(m, 11, 0);
    itm_writel(m, IOEOI, 0x4a);             /* another vector: no effect */
    g_assert_cmphex(ioapic_read(m, 0x26) & RTE_REMOTE_IRR, !=, 0);
    itm_writel(m, IOEOI, 0x4b);
    g_assert_cmphex(ioapic_read(m, 0x26) & RTE_REMOTE_IRR, ==, 0);
    itm_fini(&tm);
}

static int observed_pin = -1, observed_level = -1, observed_count;

static void observer(void *opaque, int gsi, int level)
{
    observed_pin = gsi;
    observed_level = level;
    observed_count++;
}

static void test_gsi0_to_pin2(void)
{
    Machine *m = setup();

    x86_irqchip_intercept_ioapic(m, observer, NULL);
    route(m, 2, 0x30, 0);
    x86_irqchip_set_irq(m, 0, 1);
    g_assert_cmpint(observed_pin, ==, 0);   /* reported as the GSI */
    g_assert_cmpint(observed_level, ==, 1);
    g_assert_true(intr(m, 0));
    g_assert_cmpint(inta(m, 0), ==, 0x30);
    x86_irqchip_set_irq(m, 0, 1);           /* no change, no report */
    g_assert_cmpint(observed_count, ==, 1);
    x86_irqchip_set_irq(m, 0, 0);
    g_assert_cmpint(observed_level, ==, 0);
    x86_irqchip_set_irq(m, 17, 1);          /* PCI GSIs: same pin */
    g_assert_cmpint(observed_pin, ==, 17);
    g_assert_cmpint(observed_count, ==, 3);
    itm_fini(&tm);
}

static void test_logical_and_lowest(void)
{
    Machine *m = setup();

    lapic_write(m, 0, 0xd0, 0x01000000);    /* flat model, bit 0 */
    lapic_write(m, 1, 0xd0, 0x02000000);
    route(m, 5, RTE_LOGICAL | 0x45, 0x02);
    x86_irqchip_set_irq(m, 5, 1);
    g_assert_false(intr(m, 0));
    g_assert_true(intr(m, 1));
    g_assert_cmpint(inta(m, 1), ==, 0x45);
    eoi(m, 1);

    /* lowest priority among both: the one with the lower TPR wins */
    lapic_write(m, 0, 0x80, 0x20);
    route(m, 6, RTE_LOGICAL | DM_LOWEST | 0x46, 0x03);
    x86_irqchip_set_irq(m, 6, 1);
    g_assert_false(intr(m, 0));
    g_assert_true(intr(m, 1));
    g_assert_cmpint(inta(m, 1), ==, 0x46);
    eoi(m, 1);
    x86_irqchip_set_irq(m, 6, 0);
    lapic_write(m, 0, 0x80, 0x00);
    lapic_write(m, 1, 0x80, 0x30);
    x86_irqchip_set_irq(m, 6, 1);
    g_assert_true(intr(m, 0));
    g_assert_false(intr(m, 1));
    itm_fini(&tm);
}

static void test_nmi_and_extint(void)
{
    Machine *m = setup();

    route(m, 8, DM_NMI, 1);
    x86_irqchip_set_irq(m, 8, 1);
    g_assert_true(cpu_has(m, 1, CPU_INTERRUPT_NMI));
    g_assert_false(cpu_has(m, 0, CPU_INTERRUPT_NMI));

    /* pin 0 as ExtINT: the CPU's INTA goes to the 8259 */
    itm_outb(m, 0x20, 0x11);
    itm_outb(m, 0x21, 0x20);
    itm_outb(m, 0x21, 0x04);
    itm_outb(m, 0x21, 0x01);
    x86_irqchip_set_irq(m, 1, 1);           /* keyboard on the 8259 */
    route(m, 0, DM_EXTINT, 0);
    /* nothing on a PC drives pin 0 through a GSI; do it directly */
    ioapic_set_irq(x86_irqchip_find(m)->ioapic, 0, 1);
    g_assert_true(intr(m, 0));
    g_assert_cmpint(inta(m, 0), ==, 0x21);
    itm_fini(&tm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ioapic/identification", test_identification);
    g_test_add_func("/ioapic/fixed-physical", test_fixed_physical);
    g_test_add_func("/ioapic/mask", test_mask);
    g_test_add_func("/ioapic/level-remote-irr", test_level_remote_irr);
    g_test_add_func("/ioapic/level-unmask-asserted",
                    test_level_masked_then_unmasked);
    g_test_add_func("/ioapic/eoi-register", test_eoi_register);
    g_test_add_func("/ioapic/gsi0-to-pin2", test_gsi0_to_pin2);
    g_test_add_func("/ioapic/logical-and-lowest", test_logical_and_lowest);
    g_test_add_func("/ioapic/nmi-and-extint", test_nmi_and_extint);
    return g_test_run();
}
