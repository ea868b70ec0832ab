/*
 * The standard VGA without a CPU. Its console: a listener hears the
 * surface switch on a mode change and, on a redraw, only the scanlines
 * that changed. Its migration state: a card in a Bochs VBE mode with
 * a palette and registers is saved, loaded into a fresh machine (its
 * VRAM, a RAM block that migrates with RAM, copied alongside) and there
 * answers and renders the same; streams with values the
 * device could never hold (a DAC component index past blue, a VRAM of
 * another size) are refused; randomly corrupted streams either load or
 * fail, and the card then survives its registers and a redraw.
 */
#include <glib.h>

#include "pci-machine.h"
#include "ui/console.h"
#include "vmstate-test.h"

#define VGA_OPTS    "VGA,addr=2,vgamem_mb=1"
#define VBE_INDEX   0x1ce
#define VBE_DATA    0x1cf

/* pci-machine.h records interrupts in the fixture "current" points to. */
static Fixture *use(Fixture *f)
{
    current = f;
    return f;
}

static void fini(Fixture *f)
{
    fixture_fini(use(f));
}

static void vbe_write(Fixture *f, uint16_t index, uint16_t val)
{
    out(f, VBE_INDEX, 2, index);
    out(f, VBE_DATA, 2, val);
}

static uint16_t vbe_read(Fixture *f, uint16_t index)
{
    out(f, VBE_INDEX, 2, index);
    return in(f, VBE_DATA, 2);
}

static void setup(Fixture *f)
{
    fixture_init(f);
    add_device(f, VGA_OPTS);
}

/* 64x32 at 8 bpp, palette entry 9 orange, a pixel in the banked window. */
static void program(Fixture *f)
{
    vbe_write(f, 3, 8);
    vbe_write(f, 1, 64);
    vbe_write(f, 2, 32);
    vbe_write(f, 4, 0x01);
    in(f, 0x3da, 1);
    out(f, 0x3c0, 1, 0x20);
    out(f, 0x3c8, 1, 9);
    out(f, 0x3c9, 1, 0x3f);
    out(f, 0x3c9, 1, 0x20);
    out(f, 0x3c9, 1, 0x00);
    mem_st(f, 0xa0000 + 3 * 64 + 5, 1, 9);
    /* half a DAC write pending, and an index in flight */
    out(f, 0x3c8, 1, 0x40);
    out(f, 0x3c9, 1, 0x11);
    out(f, 0x3c4, 1, 2);
}

static QemuConsole *console_of(Fixture *f)
{
    for (int i = 0;; i++) {
        QemuConsole *con = qemu_console_lookup_by_index(i);
        g_assert_nonnull(con);
        Device *d = qemu_console_get_device(con);
        if (d && d->machine == &f->m) {
            return con;
        }
    }
}

static uint32_t screen_pixel(Fixture *f, int x, int y)
{
    QemuConsole *con = console_of(f);
    DisplaySurface *s;

    graphic_hw_update(con);
    s = qemu_console_surface(con);
    g_assert_cmpint(surface_width(s), ==, 64);
    g_assert_cmpint(surface_height(s), ==, 32);
    return ((uint32_t *)(surface_data(s) + y * surface_stride(s)))[x] &
           0xffffff;
}

static void test_round_trip(void)
{
    Fixture a, b;
    GByteArray *sa, *sb;
    uint8_t *window = g_malloc(0x10000);

    setup(&a);
    program(&a);
    sa = vt_save(&a.m);
    setup(&b);
    vt_load(&b.m, sa);
    /* VRAM moves with RAM, not in the device state: bank 0 by hand */
    address_space_read(&a.m.as_mem, 0xa0000, window, 0x10000);
    address_space_write(&b.m.as_mem, 0xa0000, window, 0x10000);
    g_free(window);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    use(&b);
    g_assert_cmpuint(vbe_read(&b, 1), ==, 64);
    g_assert_cmphex(screen_pixel(&b, 5, 3), ==, 0xff8200);
    /* the pending DAC component and the sequencer index carried over */
    out(&b, 0x3c9, 1, 0x22);
    out(&b, 0x3c9, 1, 0x33);
    out(&b, 0x3c7, 1, 0x40);
    g_assert_cmphex(in(&b, 0x3c9, 1), ==, 0x11);
    g_assert_cmphex(in(&b, 0x3c5, 1), ==, 0x0f);
    g_byte_array_free(sa, TRUE);
    g_byte_array_free(sb, TRUE);
    fini(&b);
    fini(&a);
}

static void test_bad_dac_index(void)
{
    Fixture a, b;
    GByteArray *sa;

    setup(&a);
    program(&a);
    sa = vt_save(&a.m);
    vt_patch(sa, vt_find(sa, "VGA", 0, "vga.dac_sub_index"), 1, 3);
    setup(&b);
    vt_load_fails(&b.m, sa, "DAC component index");
    g_byte_array_free(sa, TRUE);
    fini(&b);
    fini(&a);
}

static void test_vram_size_mismatch(void)
{
    Fixture a, b;
    GByteArray *sa;

    setup(&a);
    sa = vt_save(&a.m);
    fixture_init(&b);
    add_device(&b, "VGA,addr=2,vgamem_mb=2");
    vt_load_fails(&b.m, sa, "VGA RAM");
    g_byte_array_free(sa, TRUE);
    fini(&b);
    fini(&a);
}

static void exercise(Machine *m, GRand *r)
{
    vt_poke_ports(m, r, 0x3c0, 0x20, 64);
    vt_poke_ports(m, r, 0x3b4, 8, 8);
    vt_poke_ports(m, r, VBE_INDEX, 3, 16);
    for (int i = 0; i < 16; i++) {
        address_space_st(&m->as_mem, 0xa0000 + g_rand_int_range(r, 0,
                         0x20000), 1, g_rand_int(r));
    }
    graphic_hw_update(console_of(current));
}

/*
 * Bit flips in the register part of the stream: each copy loads or fails,
 * and the card then takes port and window accesses and a redraw.
 */
static void test_corrupted_streams(void)
{
    Fixture a, b;
    GByteArray *sa;
    GRand *r = g_rand_new_with_seed(0x76a);
    size_t lo, hi;
    int loaded = 0;

    setup(&a);
    program(&a);
    sa = vt_save(&a.m);
    lo = vt_find(sa, "VGA", 0, "vga.latch");
    hi = vt_find(sa, "VGA", 0, "vga.vbe_regs") + 2 * 11;
    setup(&b);
    for (int i = 0; i < 400; i++) {
        GByteArray *c = g_byte_array_new();
        GError *err = NULL;

        g_byte_array_append(c, sa->data, sa->len);
        for (int k = g_rand_int_range(r, 1, 4); k > 0; k--) {
            c->data[g_rand_int_range(r, lo, hi)] ^=
                1u << g_rand_int_range(r, 0, 8);
        }
        if (vmstate_load_devices(&b.m, c->data, c->len, &err)) {
            loaded++;
        } else {
            g_error_free(err);
        }
        use(&b);
        exercise(&b.m, r);
        g_byte_array_free(c, TRUE);
    }
    g_assert_cmpint(loaded, >, 100);
    g_rand_free(r);
    g_byte_array_free(sa, TRUE);
    fini(&b);
    fini(&a);
}

typedef struct Heard {
    DisplayChangeListener dcl;
    int switches, updates;
    int x, y, w, h;
} Heard;

static void heard_switch(DisplayChangeListener *dcl, DisplaySurface *s)
{
    ((Heard *)dcl)->switches++;
}

static void heard_update(DisplayChangeListener *dcl, int x, int y, int w,
                         int h)
{
    Heard *l = (Heard *)dcl;

    l->updates++;
    l->x = x;
    l->y = y;
    l->w = w;
    l->h = h;
}

static const DisplayChangeListenerOps heard_ops = {
    .dpy_name = "test",
    .dpy_gfx_switch = heard_switch,
    .dpy_gfx_update = heard_update,
};

static void test_console_updates(void)
{
    Fixture a;
    Heard l = { .dcl = { .ops = &heard_ops } };

    setup(&a);
    l.dcl.con = console_of(&a);
    register_displaychangelistener(&l.dcl);
    g_assert_cmpint(l.switches, ==, 1);
    program(&a);
    graphic_hw_update(l.dcl.con);
    /* the mode change: a new 64x32 surface, all of it dirty */
    g_assert_cmpint(l.switches, ==, 2);
    g_assert_cmpint(l.w, ==, 64);
    g_assert_cmpint(l.h, ==, 32);
    l.updates = 0;
    graphic_hw_update(l.dcl.con);
    g_assert_cmpint(l.updates, ==, 0);
    /* one pixel on row 7: that scanline only */
    mem_st(&a, 0xa0000 + 7 * 64 + 1, 1, 9);
    graphic_hw_update(l.dcl.con);
    g_assert_cmpint(l.updates, ==, 1);
    g_assert_cmpint(l.y, ==, 7);
    g_assert_cmpint(l.h, ==, 1);
    g_assert_cmpint(l.w, ==, 64);
    /* invalidate: everything again */
    graphic_hw_invalidate(l.dcl.con);
    graphic_hw_update(l.dcl.con);
    g_assert_cmpint(l.h, ==, 32);
    unregister_displaychangelistener(&l.dcl);
    fini(&a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vga/console-updates", test_console_updates);
    g_test_add_func("/vga-vmstate/round-trip", test_round_trip);
    g_test_add_func("/vga-vmstate/bad-dac-index", test_bad_dac_index);
    g_test_add_func("/vga-vmstate/vram-size-mismatch",
                    test_vram_size_mismatch);
    g_test_add_func("/vga-vmstate/corrupted-streams", test_corrupted_streams);
    return g_test_run();
}
