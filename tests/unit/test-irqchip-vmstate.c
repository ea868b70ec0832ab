/*
 * The migration state of Vireo's interrupt controllers ("x86-irqchip"):
 * two LAPICs with interrupts in service and pending, a periodic timer and
 * a programmed LVT, an IOAPIC with a level-triggered pin waiting for its
 * EOI, and an initialised 8259 pair are saved, loaded into a fresh
 * machine, and read back the same; the timer fires there at the same
 * instants and the EOI re-delivers the still-asserted pin. Out-of-range
 * values in each of the three are refused.
 */
#include <glib.h>

#include "hw/intc/x86-irqchip.h"
#include "irqchip-machine.h"
#include "vmstate-test.h"

enum {
    ID = 0x20, TPR = 0x80, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0, SVR = 0xf0,
    ICR_LO = 0x300, ICR_HI = 0x310, LVT_TIMER = 0x320, LVT_LINT0 = 0x350,
    LVT_ERROR = 0x370, TMICT = 0x380, TDCR = 0x3e0,
};

#define IOREGSEL (X86_IOAPIC_BASE + 0x00)
#define IOWIN (X86_IOAPIC_BASE + 0x10)
#define RTE_MASKED (1u << 16)
#define RTE_LEVEL (1u << 15)

static void ioapic_write(Machine *m, uint8_t reg, uint32_t val)
{
    itm_writel(m, IOREGSEL, reg);
    itm_writel(m, IOWIN, val);
}

static void program(Machine *m)
{
    /* LAPICs */
    for (int i = 0; i < 2; i++) {
        lapic_write(m, i, SVR, 0x1ff);
    }
    lapic_write(m, 0, TPR, 0x20);
    lapic_write(m, 0, LDR, 0x01000000);
    lapic_write(m, 0, DFR, 0x0);                /* cluster model */
    lapic_write(m, 0, LVT_LINT0, 0x700);        /* ExtINT */
    lapic_write(m, 0, LVT_ERROR, 0x33);
    lapic_write(m, 0, TDCR, 0x3);               /* divide by 16 */
    lapic_write(m, 0, LVT_TIMER, 0x20040);      /* periodic, vector 0x40 */
    lapic_write(m, 0, TMICT, 100000);           /* 1.6 ms */
    lapic_write(m, 1, ICR_HI, 0x01000000);
    lapic_write(m, 1, ICR_LO, 0x44050);         /* self IPI 0x50 */
    g_assert_cmpint(apic_get_interrupt(m->cpus[1]->apic), ==, 0x50);
    lapic_write(m, 1, ICR_LO, 0x44060);         /* 0x60 stays pending */
    lapic_write(m, 1, ICR_LO, 0x44005);         /* illegal: ESR */

    /* IOAPIC: pin 5 level to CPU 0, pin 9 masked edge to CPU 1 */
    ioapic_write(m, 0x00, 0x05000000);
    ioapic_write(m, 0x10 + 2 * 5 + 1, 0);
    ioapic_write(m, 0x10 + 2 * 5, RTE_LEVEL | 0x71);
    ioapic_write(m, 0x10 + 2 * 9 + 1, 0x01000000);
    ioapic_write(m, 0x10 + 2 * 9, RTE_MASKED | 0x72);
    x86_irqchip_set_irq(m, 5, 1);               /* Remote IRR set */
    x86_irqchip_set_irq(m, 9, 1);

    /* 8259s as Linux programs them; all masked but IR3 of the master */
    itm_outb(m, 0x20, 0x11);
    itm_outb(m, 0x21, 0x30);
    itm_outb(m, 0x21, 0x04);
    itm_outb(m, 0x21, 0x01);
    itm_outb(m, 0xa0, 0x11);
    itm_outb(m, 0xa1, 0x38);
    itm_outb(m, 0xa1, 0x02);
    itm_outb(m, 0xa1, 0x01);
    itm_outb(m, 0x21, 0xf7);
    itm_outb(m, 0xa1, 0xff);
    itm_outb(m, 0x4d1, 0x02);                   /* IR9 level */
    x86_irqchip_set_irq(m, 10, 1);              /* masked request */
    itm_outb(m, 0x20, 0x0b);                    /* OCW3: read ISR */
    itm_writel(m, IOREGSEL, 0x13);
}

/* LAPIC registers that exist (reading others sets an ESR error). */
static bool lapic_reg_exists(int reg)
{
    return (reg >= 0x20 && reg <= 0x30) || (reg >= 0x80 && reg <= 0xa0) ||
           (reg >= 0xc0 && reg <= 0x280) || (reg >= 0x300 && reg <= 0x390) ||
           reg == 0x3e0;
}

/* Every register of the three, in one fixed order. */
static GString *read_all(Machine *m)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "ioregsel=%x", itm_readl(m, IOREGSEL));
    for (int reg = 0; reg < 0x40; reg++) {
        itm_writel(m, IOREGSEL, reg);
        g_string_append_printf(s, " %x", itm_readl(m, IOWIN));
    }
    for (int cpu = 0; cpu < 2; cpu++) {
        g_string_append_printf(s, "\ncpu%d intr=%d base=%" G_GINT64_MODIFIER
                               "x", cpu,
                               cpu_has(m, cpu, CPU_INTERRUPT_HARD),
                               apic_get_base(m->cpus[cpu]->apic));
        for (int reg = 0x20; reg < 0x400; reg += 0x10) {
            if (lapic_reg_exists(reg)) {
                g_string_append_printf(s, " %x", lapic_read(m, cpu, reg));
            }
        }
    }
    g_string_append_printf(s, "\npic %x %x %x %x %x %x",
                           itm_inb(m, 0x20), itm_inb(m, 0x21),
                           itm_inb(m, 0xa0), itm_inb(m, 0xa1),
                           itm_inb(m, 0x4d0), itm_inb(m, 0x4d1));
    return s;
}

static void test_round_trip(void)
{
    IrqTestMachine ta, tb;
    Machine *a = itm_init(&ta, 2), *b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;

    program(a);
    sa = vt_save(a);
    b = itm_init(&tb, 2);
    vt_load(b, sa);
    /* a device driving its line again after the load changes nothing */
    x86_irqchip_set_irq(b, 5, 1);
    x86_irqchip_set_irq(b, 9, 1);
    x86_irqchip_set_irq(b, 10, 1);
    sb = vt_save(b);
    vt_assert_same(sa, sb);
    {
        g_autoptr(GString) ra = read_all(a);
        g_autoptr(GString) rb = read_all(b);
        g_test_message("%s", rb->str);
        g_assert_cmpstr(rb->str, ==, ra->str);
        g_assert_nonnull(strstr(rb->str, "ioregsel=13 5000000"));
    }

    /* the LAPIC timer was re-armed: vector 0x40 on both after 2 ms */
    clock_virtual_step(2 * 1000 * 1000);
    for (int i = 0; i < 2; i++) {
        Machine *m = i ? b : a;
        g_assert_true(cpu_has(m, 0, CPU_INTERRUPT_HARD));
        g_assert_cmpint(apic_get_interrupt(m->cpus[0]->apic), ==, 0x71);
        lapic_write(m, 0, EOI, 0);
        /* the IOAPIC saw the EOI and the line is still high: again */
        g_assert_cmpint(apic_get_interrupt(m->cpus[0]->apic), ==, 0x71);
        x86_irqchip_set_irq(m, 5, 0);
        lapic_write(m, 0, EOI, 0);
        g_assert_cmpint(apic_get_interrupt(m->cpus[0]->apic), ==, 0x40);
        g_assert_cmpint(apic_get_interrupt(m->cpus[1]->apic), ==, 0x60);
    }
    {
        g_autoptr(GString) ra = read_all(a);
        g_autoptr(GString) rb = read_all(b);
        g_test_message("%s", rb->str);
        g_assert_cmpstr(rb->str, ==, ra->str);
    }
    itm_fini(&ta);
    itm_fini(&tb);
}

static void corrupt(Machine *b, GByteArray *s, const char *path, size_t size,
                    uint64_t value, const char *what)
{
    g_autoptr(GByteArray) c = g_byte_array_new();

    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "x86-irqchip", 0, path), size, value);
    vt_load_fails(b, c, what);
}

static void test_hostile_stream(void)
{
    IrqTestMachine ta, tb;
    Machine *a = itm_init(&ta, 2), *b;
    g_autoptr(GByteArray) s = NULL;

    program(a);
    s = vt_save(a);
    itm_fini(&ta);
    b = itm_init(&tb, 2);
    lapic_write(b, 0, TPR, 0x70);

    corrupt(b, s, "lapics[1].dcr", 4, 0xff,
            "vCPU 1: apic: invalid state: LDR, DFR, SVR, ICR or DCR has "
            "reserved bits");
    /* refused, and back at power-on */
    g_assert_cmphex(lapic_read(b, 0, TPR), ==, 0);
    corrupt(b, s, "lapics[0].apicbase", 8, 0xfee00800,
            "IA32_APIC_BASE has reserved bits or the wrong BSP flag");
    corrupt(b, s, "lapics[1].lvt[3]", 4, 0xffffffff,
            "an LVT entry has reserved bits");
    corrupt(b, s, "lapics[0].count_start", 8, (uint64_t)-1,
            "the timer's start time is out of range");
    corrupt(b, s, "ioapic.redtbl[5]", 8, 0x1000 | 0x71,
            "pin 5: redirection entry 0x0000000000001071 has reserved bits");
    corrupt(b, s, "ioapic.redtbl[9]", 8, 0x4000 | 0x72,
            "Remote IRR on an edge entry");
    corrupt(b, s, "ioapic.id", 1, 0x10, "ID 0x10 or pin levels");
    corrupt(b, s, "pic.chip[0].lowest", 1, 9, "master: priority 9");
    corrupt(b, s, "pic.chip[1].elcr", 1, 0x01, "slave: priority 7, init "
            "step 0, vector base 0x38 or ELCR 0x1 out of range");
    corrupt(b, s, "pin_levels", 4, 0x1000000, "pin levels 0x1000000 out");
    vt_load(b, s);
    g_assert_cmphex(lapic_read(b, 0, TPR), ==, 0x20);
    itm_fini(&tb);

    /* one vCPU here, two LAPICs in the stream */
    b = itm_init(&tb, 1);
    vt_load_fails(b, s, "the stream has 2 LAPICs, this machine 1");
    itm_fini(&tb);
}

/* The guest's and the devices' ways into the three controllers. */
static void exercise(Machine *m, GRand *r)
{
    static const uint16_t pic_ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0,
                                          0x4d1 };

    for (int i = 0; i < 32; i++) {
        int cpu = g_rand_int_range(r, 0, m->ncpus);
        uint32_t reg = g_rand_int_range(r, 0, 0x40) << 4;
        uint32_t v = g_rand_int(r);

        switch (g_rand_int_range(r, 0, 8)) {
        case 0:
            /* no INIT/SIPI/NMI floods: keep the IPIs fixed */
            lapic_write(m, cpu, reg, reg == ICR_LO ? v & ~0x700u : v);
            break;
        case 1:
            (void)lapic_read(m, cpu, reg);
            break;
        case 2:
            itm_writel(m, X86_IOAPIC_BASE + (v & 0x70), g_rand_int(r));
            break;
        case 3:
            (void)itm_readl(m, X86_IOAPIC_BASE + (v & 0x70));
            break;
        case 4:
            itm_outb(m, pic_ports[v % G_N_ELEMENTS(pic_ports)], v >> 8);
            break;
        case 5:
            (void)itm_inb(m, pic_ports[v % G_N_ELEMENTS(pic_ports)]);
            break;
        case 6:
            x86_irqchip_set_irq(m, v % X86_NUM_GSI, (v >> 8) & 1);
            break;
        default:
            (void)apic_get_interrupt(m->cpus[cpu]->apic);
            break;
        }
    }
    clock_virtual_step(g_rand_int_range(r, 0, 1000 * 1000));
}

static void test_corrupt_streams_never_crash(void)
{
    IrqTestMachine ta, tb;
    Machine *a = itm_init(&ta, 2), *b;
    g_autoptr(GByteArray) s = NULL;

    program(a);
    s = vt_save(a);
    itm_fini(&ta);
    b = itm_init(&tb, 2);
    vt_fuzz(b, s, 3000, exercise);
    itm_fini(&tb);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/irqchip-vmstate/round-trip", test_round_trip);
    g_test_add_func("/irqchip-vmstate/hostile-stream", test_hostile_stream);
    g_test_add_func("/irqchip-vmstate/corrupt-streams-never-crash",
                    test_corrupt_streams_never_crash);
    return g_test_run();
}
