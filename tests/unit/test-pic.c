/*
 * The 8259A pair as guests program it: the ICW sequence, masking, fixed
 * and rotating priority, EOIs, edge and level inputs (ELCR), the cascade
 * on IR2, poll mode, special mask mode, auto-EOI and the spurious IRQ7,
 * with the master's output reaching the BSP through LINT0 (ExtINT).
 */
#include <glib.h>

#include "hw/intc/x86-irqchip.h"
#include "irqchip-machine.h"

#define M_CMD 0x20
#define M_DATA 0x21
#define S_CMD 0xa0
#define S_DATA 0xa1

static IrqTestMachine tm;

/* Linux's init_8259A: vectors 0x30 and 0x38, slave on IR2. */
static Machine *setup_with(uint8_t icw4)
{
    Machine *m = itm_init(&tm, 1);

    apic_reset(m->cpus[0]->apic, true, true);  /* LINT0 ExtINT */
    itm_outb(m, M_CMD, 0x11);
    itm_outb(m, M_DATA, 0x30);
    itm_outb(m, M_DATA, 0x04);
    itm_outb(m, M_DATA, icw4);
    itm_outb(m, S_CMD, 0x11);
    itm_outb(m, S_DATA, 0x38);
    itm_outb(m, S_DATA, 0x02);
    itm_outb(m, S_DATA, icw4);
    return m;
}

static Machine *setup(void)
{
    return setup_with(0x01);
}

static bool intr(Machine *m)
{
    return cpu_has(m, 0, CPU_INTERRUPT_HARD);
}

static int inta(Machine *m)
{
    return apic_get_interrupt(m->cpus[0]->apic);
}

static uint8_t read_isr(Machine *m, uint16_t cmd)
{
    itm_outb(m, cmd, 0x0b);
    return itm_inb(m, cmd);
}

static uint8_t read_irr(Machine *m, uint16_t cmd)
{
    itm_outb(m, cmd, 0x0a);
    return itm_inb(m, cmd);
}

static void test_init_and_deliver(void)
{
    Machine *m = setup();

    g_assert_false(intr(m));
    g_assert_cmphex(itm_inb(m, M_DATA), ==, 0);     /* ICW1 clears IMR */
    x86_irqchip_set_irq(m, 3, 1);
    g_assert_true(intr(m));
    g_assert_cmphex(read_irr(m, M_CMD), ==, 0x08);
    g_assert_cmpint(inta(m), ==, 0x33);
    g_assert_false(intr(m));
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x08);
    g_assert_cmphex(read_irr(m, M_CMD), ==, 0x00);  /* edge: taken */
    itm_outb(m, M_CMD, 0x20);                       /* non-specific EOI */
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x00);
    x86_irqchip_set_irq(m, 3, 0);
    itm_fini(&tm);
}

static void test_mask(void)
{
    Machine *m = setup();

    itm_outb(m, M_DATA, 0x08);
    g_assert_cmphex(itm_inb(m, M_DATA), ==, 0x08);
    x86_irqchip_set_irq(m, 3, 1);
    g_assert_false(intr(m));
    g_assert_cmphex(read_irr(m, M_CMD), ==, 0x08);  /* requested, masked */
    itm_outb(m, M_DATA, 0x00);
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x33);
    itm_fini(&tm);
}

static void test_priority_and_eoi(void)
{
    Machine *m = setup();

    x86_irqchip_set_irq(m, 5, 1);
    x86_irqchip_set_irq(m, 4, 1);
    g_assert_cmpint(inta(m), ==, 0x34);     /* IR4 before IR5 */
    /* IR5 waits: IR4 in service has the higher priority */
    g_assert_false(intr(m));
    x86_irqchip_set_irq(m, 1, 1);           /* higher: nests */
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x31);
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x12);
    itm_outb(m, M_CMD, 0x20);               /* clears IR1, the highest */
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x10);
    g_assert_false(intr(m));
    itm_outb(m, M_CMD, 0x64);               /* specific EOI for IR4 */
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x00);
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x35);
    itm_outb(m, M_CMD, 0x20);
    itm_fini(&tm);
}

static void test_rotation(void)
{
    Machine *m = setup();

    /* set priority: IR4 lowest, so IR5 becomes the highest */
    itm_outb(m, M_CMD, 0xc4);
    x86_irqchip_set_irq(m, 1, 1);
    x86_irqchip_set_irq(m, 5, 1);
    g_assert_cmpint(inta(m), ==, 0x35);
    /* rotate on non-specific EOI: IR5 becomes lowest, IR6 highest */
    itm_outb(m, M_CMD, 0xa0);
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x00);
    x86_irqchip_set_irq(m, 5, 0);
    x86_irqchip_set_irq(m, 5, 1);
    g_assert_cmpint(inta(m), ==, 0x31);     /* IR1 ranks before IR5 now */
    itm_fini(&tm);
}

static void test_edge_and_level(void)
{
    Machine *m = setup();

    /* edge: a pulse is latched even though the line is low at INTA */
    x86_irqchip_set_irq(m, 6, 1);
    x86_irqchip_set_irq(m, 6, 0);
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x36);
    itm_outb(m, M_CMD, 0x20);

    /* level (ELCR): the request follows the line */
    itm_outb(m, 0x4d1, 0x04);               /* IRQ10 level */
    g_assert_cmphex(itm_inb(m, 0x4d1), ==, 0x04);
    itm_outb(m, 0x4d0, 0xff);
    g_assert_cmphex(itm_inb(m, 0x4d0), ==, 0xf8);  /* IRQ0-2 edge only */
    itm_outb(m, 0x4d0, 0x00);
    x86_irqchip_set_irq(m, 10, 1);
    g_assert_true(intr(m));
    x86_irqchip_set_irq(m, 10, 0);
    g_assert_false(intr(m));
    x86_irqchip_set_irq(m, 10, 1);
    g_assert_cmpint(inta(m), ==, 0x3a);
    itm_outb(m, S_CMD, 0x20);
    itm_outb(m, M_CMD, 0x20);
    /* still high after the EOIs: requests again */
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x3a);
    itm_fini(&tm);
}

static void test_cascade(void)
{
    Machine *m = setup();

    x86_irqchip_set_irq(m, 12, 1);
    g_assert_true(intr(m));
    g_assert_cmphex(read_irr(m, M_CMD), ==, 0x04);
    g_assert_cmpint(inta(m), ==, 0x3c);
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x04);
    g_assert_cmphex(read_isr(m, S_CMD), ==, 0x10);
    /* a second slave request waits for the slave's EOI... */
    x86_irqchip_set_irq(m, 14, 1);
    g_assert_false(intr(m));
    itm_outb(m, S_CMD, 0x20);
    /* ...and for the master's, IR2 being in service there */
    g_assert_false(intr(m));
    itm_outb(m, M_CMD, 0x20);
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x3e);
    /* masking the slave's input on the master blocks the slave */
    itm_outb(m, S_CMD, 0x20);
    itm_outb(m, M_CMD, 0x20);
    itm_outb(m, M_DATA, 0x04);
    x86_irqchip_set_irq(m, 9, 1);
    g_assert_false(intr(m));
    itm_outb(m, M_DATA, 0x00);
    g_assert_cmpint(inta(m), ==, 0x39);
    itm_fini(&tm);
}

static void test_poll(void)
{
    Machine *m = setup();

    itm_outb(m, M_CMD, 0x0c);               /* poll: nothing pending */
    g_assert_cmphex(itm_inb(m, M_CMD), ==, 0x00);
    x86_irqchip_set_irq(m, 7, 1);
    itm_outb(m, M_CMD, 0x0c);
    g_assert_cmphex(itm_inb(m, M_CMD), ==, 0x87);
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x80);  /* acknowledged */
    g_assert_false(intr(m));
    /* after the poll read the port is the IRR/ISR again */
    g_assert_cmphex(itm_inb(m, M_CMD), ==, 0x80);
    itm_fini(&tm);
}

static void test_special_mask(void)
{
    Machine *m = setup();

    x86_irqchip_set_irq(m, 3, 1);
    g_assert_cmpint(inta(m), ==, 0x33);
    x86_irqchip_set_irq(m, 5, 1);
    g_assert_false(intr(m));                /* IR3 in service blocks IR5 */
    itm_outb(m, M_DATA, 0x08);              /* mask IR3 ... */
    itm_outb(m, M_CMD, 0x68);               /* ... in special mask mode */
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x35);
    itm_outb(m, M_CMD, 0x48);               /* leave special mask mode */
    itm_fini(&tm);
}

static void test_spurious_irq7(void)
{
    Machine *m = setup();

    itm_outb(m, 0x4d0, 0x08);               /* IRQ3 level-triggered */
    x86_irqchip_set_irq(m, 3, 1);
    g_assert_true(intr(m));
    /* the device drops the line after the CPU saw INTR, before INTA */
    x86_irqchip_set_irq(m, 3, 0);
    g_assert_false(intr(m));
    g_assert_cmpint(pic_get_interrupt(m), ==, -1);
    /* the INTA cycle still reaches the 8259: default IR7, no ISR bit */
    g_assert_cmpint(inta(m), ==, 0x37);
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x00);
    /* through the 8259 alone (no LAPIC path), the same */
    x86_irqchip_set_irq(m, 3, 1);
    g_assert_cmpint(pic_get_interrupt(m), ==, 0x33);
    itm_fini(&tm);
}

static void test_auto_eoi(void)
{
    Machine *m = setup_with(0x03);

    x86_irqchip_set_irq(m, 4, 1);
    g_assert_cmpint(inta(m), ==, 0x34);
    g_assert_cmphex(read_isr(m, M_CMD), ==, 0x00);
    x86_irqchip_set_irq(m, 4, 0);
    x86_irqchip_set_irq(m, 4, 1);
    g_assert_true(intr(m));                 /* no EOI needed */
    itm_fini(&tm);
}

static void test_lint0_masked(void)
{
    Machine *m = setup();

    /* Linux masks LINT0 once the IOAPIC carries the interrupts */
    lapic_write(m, 0, 0x350, 0x10700);
    x86_irqchip_set_irq(m, 3, 1);
    g_assert_false(intr(m));
    lapic_write(m, 0, 0x350, 0x00700);
    g_assert_true(intr(m));
    g_assert_cmpint(inta(m), ==, 0x33);
    itm_fini(&tm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pic/init-and-deliver", test_init_and_deliver);
    g_test_add_func("/pic/mask", test_mask);
    g_test_add_func("/pic/priority-and-eoi", test_priority_and_eoi);
    g_test_add_func("/pic/rotation", test_rotation);
    g_test_add_func("/pic/edge-and-level", test_edge_and_level);
    g_test_add_func("/pic/cascade", test_cascade);
    g_test_add_func("/pic/poll", test_poll);
    g_test_add_func("/pic/special-mask", test_special_mask);
    g_test_add_func("/pic/spurious-irq7", test_spurious_irq7);
    g_test_add_func("/pic/auto-eoi", test_auto_eoi);
    g_test_add_func("/pic/lint0-masked", test_lint0_masked);
    return g_test_run();
}
