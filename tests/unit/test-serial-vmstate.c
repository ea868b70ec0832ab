/*
 * The 16550A's migration state: a UART with bytes in its receive FIFO, a
 * pending THRE interrupt and every register programmed is saved, loaded
 * into a fresh machine, and reads back (and interrupts) the same there;
 * FIFO indices and reserved bits from a hostile stream are refused.
 */
#include <glib.h>

#include "io-machine.h"
#include "vmstate-test.h"

#define COM1 0x3f8
enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };

typedef struct SerialMachine {
    Machine m;
    MemoryRegion io;
    int irq[X86_NUM_GSI];
} SerialMachine;

static void gsi_handler(void *opaque, int n, int level)
{
    ((SerialMachine *)opaque)->irq[n] = level;
}

static void sm_init(SerialMachine *sm)
{
    memset(sm, 0, sizeof(*sm));
    io_machine_init(&sm->m, &sm->io, gsi_handler);
    for (int i = 0; i < X86_NUM_GSI; i++) {
        sm->m.gsi[i].opaque = sm;
    }
    g_assert_nonnull(x86_create_device(&sm->m, "isa-serial", NULL, "index",
                                       "0", NULL));
}

static void outb(SerialMachine *sm, uint16_t port, uint8_t v)
{
    address_space_st(&sm->m.as_io, port, 1, v);
}

static uint8_t inb(SerialMachine *sm, uint16_t port)
{
    uint64_t v = 0;

    address_space_ld(&sm->m.as_io, port, 1, &v);
    return v;
}

/* FIFOs on, loopback with 5 bytes received and 2 read, THRE pending. */
static void program(SerialMachine *sm)
{
    outb(sm, COM1 + LCR, 0x80);
    outb(sm, COM1 + RBR, 0x03);         /* 38400 baud */
    outb(sm, COM1 + IER, 0x00);
    outb(sm, COM1 + LCR, 0x1b);         /* 8E1 */
    outb(sm, COM1 + IIR, 0x81);         /* FCR: FIFO, trigger 8 */
    outb(sm, COM1 + MCR, 0x1f);         /* loopback, all outputs */
    outb(sm, COM1 + SCR, 0x5a);
    for (int i = 0; i < 5; i++) {
        outb(sm, COM1 + RBR, 'a' + i);
    }
    g_assert_cmphex(inb(sm, COM1 + RBR), ==, 'a');
    g_assert_cmphex(inb(sm, COM1 + RBR), ==, 'b');
    outb(sm, COM1 + IER, 0x0f);
}

/* Reads every register, side effects included, in one fixed order. */
static GString *read_all(SerialMachine *sm)
{
    GString *s = g_string_new(NULL);
    static const int regs[] = { IER, IIR, LCR, MCR, MSR, SCR, LSR, IIR };

    g_string_append_printf(s, "irq=%d", sm->irq[4]);
    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++) {
        g_string_append_printf(s, " %02x", inb(sm, COM1 + regs[i]));
    }
    outb(sm, COM1 + LCR, 0x9b);
    g_string_append_printf(s, " dl=%02x%02x", inb(sm, COM1 + IER),
                           inb(sm, COM1 + RBR));
    outb(sm, COM1 + LCR, 0x1b);
    for (int i = 0; i < 4; i++) {
        g_string_append_printf(s, " rx=%02x/%02x", inb(sm, COM1 + RBR),
                               inb(sm, COM1 + LSR));
    }
    g_string_append_printf(s, " irq=%d", sm->irq[4]);
    return s;
}

static void test_round_trip(void)
{
    SerialMachine a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;

    sm_init(&a);
    program(&a);
    g_assert_cmpint(a.irq[4], ==, 1);
    sa = vt_save(&a.m);

    sm_init(&b);
    g_assert_cmpint(b.irq[4], ==, 0);
    vt_load(&b.m, sa);
    g_assert_cmpint(b.irq[4], ==, 1);   /* the line follows the state */
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);

    ra = read_all(&a);
    rb = read_all(&b);
    g_test_message("%s", rb->str);
    g_assert_cmpstr(rb->str, ==, ra->str);
    /* the FIFO really held c, d, e */
    g_assert_nonnull(strstr(rb->str, "rx=63/"));
    g_assert_nonnull(strstr(rb->str, "rx=65/"));
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void test_hostile_stream(void)
{
    SerialMachine a, b;
    g_autoptr(GByteArray) s = NULL;
    GByteArray *c;

    sm_init(&a);
    program(&a);
    s = vt_save(&a.m);
    sm_init(&b);
    outb(&b, COM1 + SCR, 0x33);

    c = g_byte_array_new();
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-serial", 0, "rx_head"), 4, 16);
    vt_load_fails(&b.m, c, "receive FIFO head 16 count 3 outside its 16 "
                  "bytes");
    /* refused, and the port is back at power-on rather than half-loaded */
    g_assert_cmphex(inb(&b, COM1 + SCR), ==, 0);
    g_assert_cmphex(inb(&b, COM1 + LSR), ==, 0x60);

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-serial", 0, "rx_count"), 4, 0xffffffff);
    vt_load_fails(&b.m, c, "outside its 16 bytes");

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-serial", 0, "fcr"), 1, 0x00);
    vt_load_fails(&b.m, c, "3 bytes in the receive FIFO with the FIFOs "
                  "disabled");

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-serial", 0, "ier"), 1, 0xff);
    vt_load_fails(&b.m, c, "reserved bits set in IER 0xff");

    /* after all that, a good stream still loads */
    vt_load(&b.m, s);
    g_assert_cmphex(inb(&b, COM1 + SCR), ==, 0x5a);
    g_byte_array_free(c, TRUE);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void exercise(Machine *m, GRand *r)
{
    vt_poke_ports(m, r, COM1, 8, 64);
}

static void test_corrupt_streams_never_crash(void)
{
    SerialMachine a, b;
    g_autoptr(GByteArray) s = NULL;

    sm_init(&a);
    program(&a);
    s = vt_save(&a.m);
    sm_init(&b);
    vt_fuzz(&b.m, s, 3000, exercise);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/serial-vmstate/round-trip", test_round_trip);
    g_test_add_func("/serial-vmstate/hostile-stream", test_hostile_stream);
    g_test_add_func("/serial-vmstate/corrupt-streams-never-crash",
                    test_corrupt_streams_never_crash);
    return g_test_run();
}
