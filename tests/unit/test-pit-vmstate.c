/*
 * The 8254's migration state on the manual virtual clock: three counters
 * in different modes, a latched count half read, a latched status and the
 * port 0x61 gate are saved, loaded into a fresh machine, and read back the
 * same; counter 0's timer is re-armed there, so both machines raise IRQ 0
 * at the same instants afterwards. Impossible counts and modes are refused.
 */
#include <glib.h>

#include "io-machine.h"
#include "system/timer.h"
#include "vmstate-test.h"

#define CH0 0x40
#define CH1 0x41
#define CH2 0x42
#define PIT_CMD 0x43

typedef struct PitMachine {
    Machine m;
    MemoryRegion io;
    int level;
    int rises;
} PitMachine;

static void gsi_handler(void *opaque, int n, int level)
{
    PitMachine *pm = opaque;

    if (n != 0) {
        return;
    }
    if (level && !pm->level) {
        pm->rises++;
    }
    pm->level = level;
}

static void pm_init(PitMachine *pm)
{
    memset(pm, 0, sizeof(*pm));
    clock_virtual_set_manual(true);
    io_machine_init(&pm->m, &pm->io, gsi_handler);
    for (int i = 0; i < X86_NUM_GSI; i++) {
        pm->m.gsi[i].opaque = pm;
    }
    g_assert_nonnull(x86_create_device(&pm->m, "isa-pit", NULL, NULL));
}

static void outb(PitMachine *pm, uint16_t port, uint8_t v)
{
    address_space_st(&pm->m.as_io, port, 1, v);
}

static uint8_t inb(PitMachine *pm, uint16_t port)
{
    uint64_t v = 0;

    address_space_ld(&pm->m.as_io, port, 1, &v);
    return v;
}

static void program(PitMachine *pm)
{
    outb(pm, PIT_CMD, 0x34);            /* counter 0: mode 2, lo/hi */
    outb(pm, CH0, 0xe8);
    outb(pm, CH0, 0x03);                /* 1000 */
    outb(pm, PIT_CMD, 0x77);            /* counter 1: mode 3, lo/hi, BCD */
    outb(pm, CH1, 0x00);
    outb(pm, CH1, 0x50);                /* 5000 BCD */
    outb(pm, 0x61, 0x01);               /* gate 2 high */
    outb(pm, PIT_CMD, 0xb0);            /* counter 2: mode 0, lo/hi */
    outb(pm, CH2, 0x10);
    outb(pm, CH2, 0x27);                /* 10000 */
    clock_virtual_step(3 * 1000 * 1000);
    outb(pm, PIT_CMD, 0x40);            /* latch counter 1 */
    (void)inb(pm, CH1);                 /* its LSB; the MSB stays latched */
    outb(pm, PIT_CMD, 0xe8);            /* read-back: status of counter 2 */
    outb(pm, PIT_CMD, 0x80);            /* counter 2: half a write */
    outb(pm, CH2, 0x34);
}

static GString *read_all(PitMachine *pm)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "ch1-msb=%02x ch2-status=%02x", inb(pm, CH1),
                           inb(pm, CH2));
    g_string_append_printf(s, " ch0=%02x%02x", inb(pm, CH0), inb(pm, CH0));
    g_string_append_printf(s, " ch1=%02x%02x", inb(pm, CH1), inb(pm, CH1));
    g_string_append_printf(s, " p61=%02x", inb(pm, 0x61) & ~0x10);
    return s;
}

static void test_round_trip(void)
{
    PitMachine a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;

    pm_init(&a);
    program(&a);
    sa = vt_save(&a.m);
    pm_init(&b);
    vt_load(&b.m, sa);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);

    ra = read_all(&a);
    rb = read_all(&b);
    g_test_message("%s", rb->str);
    g_assert_cmpstr(rb->str, ==, ra->str);

    /* the second byte completes counter 2's count on both */
    outb(&a, CH2, 0x12);
    outb(&b, CH2, 0x12);
    /* counter 0 keeps its period on the new machine: 1000 ticks */
    a.rises = b.rises = 0;
    clock_virtual_step(10 * 1000 * 1000);
    g_assert_cmpint(a.rises, >=, 10);
    g_assert_cmpint(b.rises, ==, a.rises);
    g_assert_cmpint(b.level, ==, a.level);
    g_autoptr(GString) ra2 = read_all(&a);
    g_autoptr(GString) rb2 = read_all(&b);
    g_assert_cmpstr(rb2->str, ==, ra2->str);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void test_hostile_stream(void)
{
    PitMachine a, b;
    g_autoptr(GByteArray) s = NULL;
    GByteArray *c = g_byte_array_new();

    pm_init(&a);
    program(&a);
    s = vt_save(&a.m);
    pm_init(&b);

    /* a count of 0 would divide by zero in the mode 2 arithmetic */
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-pit", 0, "ch[0].count"), 4, 0);
    vt_load_fails(&b.m, c, "counter 0: count is outside 1-65536");

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-pit", 0, "ch[1].mode"), 1, 7);
    vt_load_fails(&b.m, c, "counter 1: mode is over 5");

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-pit", 0, "ch[1].latch_reads_left"), 1, 0);
    vt_load_fails(&b.m, c, "a latched count has no bytes left");

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-pit", 0, "ch[2].load_time"), 8,
             (uint64_t)-5);
    vt_load_fails(&b.m, c, "load time or paused count is out of range");

    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, "isa-pit", 0, "port61"), 1, 0x00);
    vt_load_fails(&b.m, c, "does not match the counters' gates");

    /* refused loads leave the power-on state: counter 2's gate low */
    g_assert_cmphex(inb(&b, 0x61) & 0x0f, ==, 0);
    vt_load(&b.m, s);
    g_assert_cmphex(inb(&b, 0x61) & 0x0f, ==, 1);
    g_byte_array_free(c, TRUE);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void exercise(Machine *m, GRand *r)
{
    vt_poke_ports(m, r, CH0, 4, 32);
    vt_poke_ports(m, r, 0x61, 1, 4);
    clock_virtual_step(g_rand_int_range(r, 0, 5 * 1000 * 1000));
}

static void test_corrupt_streams_never_crash(void)
{
    PitMachine a, b;
    g_autoptr(GByteArray) s = NULL;

    pm_init(&a);
    program(&a);
    s = vt_save(&a.m);
    io_machine_fini(&a.m, &a.io);
    pm_init(&b);
    vt_fuzz(&b.m, s, 3000, exercise);
    io_machine_fini(&b.m, &b.io);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pit-vmstate/round-trip", test_round_trip);
    g_test_add_func("/pit-vmstate/hostile-stream", test_hostile_stream);
    g_test_add_func("/pit-vmstate/corrupt-streams-never-crash",
                    test_corrupt_streams_never_crash);
    return g_test_run();
}
