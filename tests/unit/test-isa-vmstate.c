/*
 * The migration state of the small PC devices: the i8042 with a byte in its
 * output buffer, an aux interrupt and a command waiting for its data byte;
 * port 0x92; and the ACPI PM registers with a pressed power button raising
 * the SCI. Each is saved, loaded into a fresh machine and reads back (and
 * interrupts) the same; values their registers cannot hold are refused.
 */
#include <glib.h>

#include "hw/i386/acpi.h"
#include "io-machine.h"
#include "system/vm.h"
#include "vmstate-test.h"

#define PM_BASE X86_ACPI_PM_BASE

typedef struct IsaMachine {
    Machine m;
    MemoryRegion io;
    int irq[X86_NUM_GSI];
} IsaMachine;

static void gsi_handler(void *opaque, int n, int level)
{
    ((IsaMachine *)opaque)->irq[n] = level;
}

static void im_init(IsaMachine *im)
{
    memset(im, 0, sizeof(*im));
    io_machine_init(&im->m, &im->io, gsi_handler);
    for (int i = 0; i < X86_NUM_GSI; i++) {
        im->m.gsi[i].opaque = im;
    }
    g_assert_nonnull(x86_create_device(&im->m, "i8042", NULL, NULL));
    g_assert_nonnull(x86_create_device(&im->m, "port92", NULL, NULL));
    g_assert_nonnull(x86_create_device(&im->m, "acpi-pm", NULL, NULL));
    vm_take_reset_request();
}

static void out(IsaMachine *im, uint16_t port, unsigned size, uint32_t v)
{
    address_space_st(&im->m.as_io, port, size, v);
}

static uint32_t in(IsaMachine *im, uint16_t port, unsigned size)
{
    uint64_t v = 0;

    address_space_ld(&im->m.as_io, port, size, &v);
    return v;
}

static void program(IsaMachine *im)
{
    out(im, 0x64, 1, 0x60);             /* command byte: both interrupts */
    out(im, 0x60, 1, 0x03);
    out(im, 0x64, 1, 0xd3);             /* a byte "from the mouse" */
    out(im, 0x60, 1, 0x99);
    out(im, 0x64, 1, 0xd1);             /* output port write, data next */
    out(im, 0x92, 1, 0x00);
    out(im, PM_BASE + 2, 2, 0x0120);    /* PM1_EN: PWRBTN, GBL */
    out(im, PM_BASE + 4, 2, 0x0c00);    /* PM1_CNT: SLP_TYP 3, no SLP_EN */
    out(im, ACPI_RESET_PORT, 1, 0x02);  /* SYS_RST without RST_CPU */
    g_assert_true(acpi_pm_power_button(&im->m));
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_NONE);
}

static GString *read_all(IsaMachine *im)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "irq1=%d irq12=%d sci=%d", im->irq[1],
                           im->irq[12], im->irq[ACPI_SCI_IRQ]);
    g_string_append_printf(s, " kbc-status=%02x", in(im, 0x64, 1));
    g_string_append_printf(s, " p92=%02x", in(im, 0x92, 1));
    /* TMR_STS follows the host's clock, not the state */
    g_string_append_printf(s, " pm1=%08x", in(im, PM_BASE, 4) & ~1u);
    g_string_append_printf(s, " cnt=%04x", in(im, PM_BASE + 4, 2));
    g_string_append_printf(s, " rcr=%02x", in(im, ACPI_RESET_PORT, 1));
    g_string_append_printf(s, " data=%02x", in(im, 0x60, 1));
    g_string_append_printf(s, " irq12=%d", im->irq[12]);
    /* the pending 0xd1 takes the next data byte: reset line stays high */
    out(im, 0x60, 1, 0x03);
    out(im, 0x64, 1, 0xd0);
    g_string_append_printf(s, " outport=%02x", in(im, 0x60, 1));
    g_string_append_printf(s, " reset=%d", vm_take_reset_request());
    out(im, PM_BASE, 2, 0x0100);        /* acknowledge the power button */
    g_string_append_printf(s, " sci=%d", im->irq[ACPI_SCI_IRQ]);
    return s;
}

static void test_round_trip(void)
{
    IsaMachine a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;

    im_init(&a);
    program(&a);
    g_assert_cmpint(a.irq[12], ==, 1);
    g_assert_cmpint(a.irq[ACPI_SCI_IRQ], ==, 1);
    sa = vt_save(&a.m);

    im_init(&b);
    out(&b, 0x92, 1, 0x02);
    vt_load(&b.m, sa);
    g_assert_cmpint(b.irq[12], ==, 1);
    g_assert_cmpint(b.irq[ACPI_SCI_IRQ], ==, 1);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);

    ra = read_all(&a);
    rb = read_all(&b);
    g_test_message("%s", rb->str);
    g_assert_cmpstr(rb->str, ==, ra->str);
    g_assert_nonnull(strstr(rb->str, "data=99 irq12=0 outport=03 reset=0"));
    g_assert_nonnull(strstr(rb->str, "p92=00 pm1=01200100 cnt=0c01 rcr=02"));
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void corrupt(IsaMachine *b, GByteArray *s, const char *cls,
                    const char *field, size_t size, uint64_t value,
                    const char *what)
{
    g_autoptr(GByteArray) c = g_byte_array_new();

    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, cls, 0, field), size, value);
    vt_load_fails(&b->m, c, what);
}

static void test_hostile_stream(void)
{
    IsaMachine a, b;
    g_autoptr(GByteArray) s = NULL;

    im_init(&a);
    program(&a);
    s = vt_save(&a.m);
    im_init(&b);

    corrupt(&b, s, "i8042", "pending_cmd", 1, 0x42,
            "i8042: invalid state: 0x42 is not a command that waits for a "
            "data byte");
    corrupt(&b, s, "port92", "value", 1, 0xff,
            "port92: invalid state: value 0xff has bits other than A20");
    /* refused, and back at power-on: A20 set */
    g_assert_cmphex(in(&b, 0x92, 1), ==, 0x02);
    corrupt(&b, s, "acpi-pm", "pm1_cnt", 2, 0x0000,
            "PM1_STS 0x0100, PM1_CNT 0x0000 or reset control 0x02 holds "
            "bits the registers cannot");
    corrupt(&b, s, "acpi-pm", "pm1_cnt", 2, 0x2001, "PM1_CNT 0x2001");
    corrupt(&b, s, "acpi-pm", "rcr_val", 1, 0x04, "reset control 0x04");
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_NONE);
    vt_load(&b.m, s);
    g_assert_cmphex(in(&b, 0x92, 1), ==, 0x00);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void exercise(Machine *m, GRand *r)
{
    static const uint16_t ports[] = { 0x60, 0x64, 0x92, ACPI_RESET_PORT };
    int status;

    for (size_t i = 0; i < G_N_ELEMENTS(ports); i++) {
        vt_poke_ports(m, r, ports[i], 1, 4);
    }
    vt_poke_ports(m, r, PM_BASE, 12, 16);
    vm_take_reset_request();
    vm_take_shutdown_request(&status);
}

static void test_corrupt_streams_never_crash(void)
{
    IsaMachine a, b;
    g_autoptr(GByteArray) s = NULL;

    im_init(&a);
    program(&a);
    s = vt_save(&a.m);
    im_init(&b);
    vt_fuzz(&b.m, s, 3000, exercise);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/isa-vmstate/round-trip", test_round_trip);
    g_test_add_func("/isa-vmstate/hostile-stream", test_hostile_stream);
    g_test_add_func("/isa-vmstate/corrupt-streams-never-crash",
                    test_corrupt_streams_never_crash);
    return g_test_run();
}
