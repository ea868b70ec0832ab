/*
 * The e1000's migration state (hw/net/e1000.c) on a pc-like bus: registers,
 * PHY, a Microwire read in progress, an asserted interrupt and a transmit
 * packet half built from descriptors survive a save and load; the loaded
 * device finishes the packet (seen through PHY loopback). Streams with an
 * impossible EEPROM state or TSO packet are refused, and randomly corrupted
 * streams either load or fail, never leaving the device unsafe to drive.
 */
#include <glib.h>

#include "pci-machine.h"
#include "vmstate-test.h"

#define E_DEVFN     PCI_DEVFN(3, 0)
#define E_MMIO      0xc0000000u
#define E_GSI       11          /* slot 3 INTA# -> PIRQC -> IRQ 11 */
#define E_OPTS      "e1000,addr=3,romfile="
#define TX_RING     0x10000
#define RX_RING     0x11000
#define TX_BUF      0x20000
#define RX_BUFS     0x30000

static Fixture *use(Fixture *f)
{
    current = f;
    return f;
}

static uint32_t rd(Fixture *f, uint32_t reg)
{
    return mem_ld(use(f), E_MMIO + reg, 4);
}

static void wr(Fixture *f, uint32_t reg, uint32_t v)
{
    mem_st(use(f), E_MMIO + reg, 4, v);
}

static void setup(Fixture *f)
{
    fixture_init(f);
    add_device(f, E_OPTS);
    cfg_write(f, E_DEVFN, PCI_BASE_ADDRESS_0, 4, E_MMIO);
    cfg_write(f, E_DEVFN, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* Registers, PHY, a Microwire command half in, INTA#, half a packet. */
static void program(Fixture *f)
{
    wr(f, 0xc4, 500);                           /* ITR */
    wr(f, 0xd0, 0x80);                          /* IMS: RXT0 */
    wr(f, 0xc8, 0x80);                          /* ICS: RXT0 */
    wr(f, 0x20, 0x04000000 | 1 << 21 | 4 << 16 | 0x01e1);  /* MDIC ANAR */
    wr(f, 0x10, 0x42);                          /* EECD: REQ, CS */
    wr(f, 0x10, 0x46);                          /* DI */
    wr(f, 0x10, 0x47);                          /* clock in a 1 */
    wr(f, 0x3800, TX_RING);                     /* TDBAL */
    wr(f, 0x3808, 128);                         /* TDLEN */
    wr(f, 0x400, 0x0a);                         /* TCTL: EN, PSP */
    for (int i = 0; i < 100; i++) {
        mem_st(f, TX_BUF + i, 1, i);
    }
    mem_st(f, TX_RING, 8, TX_BUF);
    mem_st(f, TX_RING + 8, 4, 100);             /* legacy, no EOP */
    wr(f, 0x3818, 1);                           /* TDT */
}

static GString *read_all(Fixture *f)
{
    static const uint32_t regs[] = { 0x0, 0x8, 0x10, 0xc4, 0xd0, 0x400,
                                     0x3800, 0x3808, 0x3810, 0x3818,
                                     0x5400, 0x5404 };
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++) {
        g_string_append_printf(s, " %08x", rd(f, regs[i]));
    }
    wr(f, 0x20, 0x08000000 | 1 << 21 | 4 << 16);
    g_string_append_printf(s, " anar %08x", rd(f, 0x20));
    return s;
}

static void test_round_trip(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;

    setup(&a);
    program(&a);
    g_assert_cmpint(a.gsi_level[E_GSI], ==, 1);
    sa = vt_save(&a.m);

    setup(&b);
    vt_load(&b.m, sa);
    g_assert_cmpint(b.gsi_level[E_GSI], ==, 1);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    ra = read_all(&a);
    rb = read_all(&b);
    g_assert_cmpstr(rb->str, ==, ra->str);
    g_assert_nonnull(strstr(rb->str, "anar 182401e1"));

    /* the loaded device ends the packet: 100 + 20 bytes, looped back */
    wr(&b, 0x20, 0x04000000 | 1 << 21 | 0 << 16 | 0x5140); /* loopback */
    for (int i = 0; i < 8; i++) {
        mem_st(&b, RX_RING + 16 * i, 8, RX_BUFS + 2048 * i);
    }
    wr(&b, 0x2800, RX_RING);
    wr(&b, 0x2808, 128);
    wr(&b, 0x2818, 4);
    wr(&b, 0x100, 0x0400800a);                  /* EN, UPE, BAM, SECRC */
    mem_st(&b, TX_RING + 16, 8, TX_BUF + 100);
    mem_st(&b, TX_RING + 24, 4, 20 | 0x01000000);   /* EOP */
    wr(&b, 0x3818, 2);
    g_assert_cmpuint(rd(&b, 0x2810), ==, 1);        /* RDH */
    g_assert_cmpuint(mem_ld(&b, RX_RING + 8, 2), ==, 120);
    g_assert_cmphex(mem_ld(&b, RX_BUFS + 99, 1), ==, 99);
    fixture_fini(use(&a));
    fixture_fini(use(&b));
}

static void test_refused(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;
    g_autoptr(GByteArray) c1 = g_byte_array_new();
    g_autoptr(GByteArray) c2 = g_byte_array_new();

    setup(&a);
    program(&a);
    s = vt_save(&a.m);
    setup(&b);
    g_byte_array_append(c1, s->data, s->len);
    vt_patch(c1, vt_find(c1, "e1000", 0, "ee_bitnum_out"), 4, 5000);
    vt_load_fails(&b.m, c1, "EEPROM state");
    /* a TSO packet whose MSS is 0 */
    g_byte_array_append(c2, s->data, s->len);
    vt_patch(c2, vt_find(c2, "e1000", 0, "tx_tse"), 1, 1);
    vt_patch(c2, vt_find(c2, "e1000", 0, "tx_mss"), 2, 0);
    vt_load_fails(&b.m, c2, "TSO packet");
    fixture_fini(use(&a));
    fixture_fini(use(&b));
}

/* What a guest would do next: kick both rings, clock the EEPROM. */
static void exercise(Machine *m, GRand *r)
{
    Fixture *f = current;

    wr(f, 0x3818, g_rand_int_range(r, 0, 8));
    wr(f, 0x10, g_rand_int(r));
    wr(f, 0x10, 0x43);
    rd(f, 0x10);
    wr(f, 0x2818, g_rand_int_range(r, 0, 8));
    rd(f, 0xc0);
}

static void test_fuzz(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    setup(&a);
    program(&a);
    s = vt_save(&a.m);
    setup(&b);
    use(&b);
    vt_fuzz(&b.m, s, 300, exercise);
    fixture_fini(use(&a));
    fixture_fini(use(&b));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/e1000-vmstate/round-trip", test_round_trip);
    g_test_add_func("/e1000-vmstate/refused", test_refused);
    g_test_add_func("/e1000-vmstate/fuzz", test_fuzz);
    return g_test_run();
}
