/*
 * The migration state of the CFI flash (cfi.pflash01): a flash halfway
 * through a buffered program, with programmed and erased bytes, is saved
 * and loaded into a fresh machine on another image; the command goes on
 * where it stopped, the array reads the same and the new image receives
 * the contents. A stream with an impossible mode or buffer is refused.
 */
#include <glib.h>
#include <glib/gstdio.h>

#include "block/block.h"
#include "hw/block/flash.h"
#include "io-machine.h"
#include "vmstate-test.h"

#define SIZE    0x10000u
#define BASE    0x100000u

typedef struct FlashMachine {
    Machine m;
    MemoryRegion io;
    MemoryRegion sysmem;
} FlashMachine;

static void no_irq(void *opaque, int n, int level)
{
}

static void fm_init(FlashMachine *fm, const char *drive)
{
    io_machine_init(&fm->m, &fm->io, no_irq);
    memory_region_init_container(&fm->sysmem, "system", UINT64_MAX);
    fm->m.sysmem = &fm->sysmem;
    address_space_init(&fm->m.as_mem, &fm->sysmem, "memory");
    Device *d = x86_create_device(&fm->m, TYPE_PFLASH_CFI01, NULL, "drive",
                                  drive, NULL);
    g_assert_nonnull(d);
    memory_region_add_subregion(&fm->sysmem, BASE,
                                pflash_cfi01_get_memory(d));
}

static void fm_fini(FlashMachine *fm)
{
    address_space_destroy(&fm->m.as_mem);
    io_machine_fini(&fm->m, &fm->io);
    memory_region_destroy(&fm->sysmem);
}

static void wr(FlashMachine *fm, uint32_t off, uint8_t v)
{
    address_space_st(&fm->m.as_mem, BASE + off, 1, v);
}

static uint8_t rd(FlashMachine *fm, uint32_t off)
{
    uint64_t v = 0;

    address_space_ld(&fm->m.as_mem, BASE + off, 1, &v);
    return v;
}

static char *image(const char *dir, const char *name, uint8_t fill)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autofree uint8_t *data = g_malloc(SIZE);

    for (unsigned i = 0; i < SIZE; i++) {
        data[i] = fill ? (uint8_t)(i * 13 + fill) : 0;
    }
    g_assert_true(g_file_set_contents(path, (char *)data, SIZE, NULL));
    return path;
}

static void add_drive(const char *id, const char *path)
{
    g_autofree char *opts = g_strdup_printf("if=none,id=%s,format=raw,"
                                            "file=%s", id, path);
    GError *err = NULL;

    g_assert_nonnull(blk_new_from_drive_opts(opts, &err));
    g_assert_no_error(err);
}

/* Offset of the first device's first field (mode) in a stream. */
static size_t mode_offset(GByteArray *b)
{
    size_t pos = 8;

    g_assert_cmpint(b->data[pos], ==, 1);
    pos += 2 + b->data[pos + 1];    /* class */
    pos += 4;                       /* instance */
    pos += 1 + b->data[pos];        /* id */
    pos += 4;                       /* length */
    return pos + 4;                 /* version */
}

static void test_round_trip(void)
{
    g_autofree char *dir = g_dir_make_tmp("pflash-XXXXXX", NULL);
    g_autofree char *a = image(dir, "a.fd", 7);
    g_autofree char *b = image(dir, "b.fd", 0);
    FlashMachine m1, m2;
    uint8_t want[SIZE];

    add_drive("fa", a);
    add_drive("fb", b);
    fm_init(&m1, "fa");
    wr(&m1, 0x1000, 0x20);              /* erase block 1 */
    wr(&m1, 0x1000, 0xd0);
    wr(&m1, 0x2345, 0x10);              /* program a byte */
    wr(&m1, 0x2345, 0x5a);
    wr(&m1, 0x3000, 0xe8);              /* buffered: 4 bytes, 2 given */
    wr(&m1, 0x3000, 3);
    wr(&m1, 0x3008, 0xa1);
    wr(&m1, 0x3009, 0xa2);
    GByteArray *s = vt_save(&m1.m);

    fm_init(&m2, "fb");
    vt_load(&m2.m, s);
    g_assert_cmphex(rd(&m2, 0), ==, 0x80);      /* status while buffering */
    wr(&m2, 0x300a, 0xa3);
    wr(&m2, 0x300b, 0xa4);
    wr(&m2, 0x3000, 0xd0);
    g_assert_cmphex(rd(&m2, 0), ==, 0x80);
    wr(&m2, 0, 0xff);
    wr(&m1, 0x300a, 0xa3);              /* the same on the original */
    wr(&m1, 0x300b, 0xa4);
    wr(&m1, 0x3000, 0xd0);
    wr(&m1, 0, 0xff);
    for (unsigned i = 0; i < SIZE; i++) {
        want[i] = rd(&m1, i);
        g_assert_cmphex(rd(&m2, i), ==, want[i]);
    }
    g_assert_cmphex(want[0x1800], ==, 0xff);
    g_assert_cmphex(want[0x2345], ==, 0x5a);
    g_assert_cmphex(want[0x3009], ==, 0xa2);
    g_assert_cmphex(want[0x300b], ==, 0xa4);
    /* the loaded contents went to the new image */
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(b, &data, &len, NULL));
    g_assert_cmpuint(len, ==, SIZE);
    g_assert_cmpmem(data, SIZE, want, SIZE);

    /* impossible values are refused */
    size_t off = mode_offset(s);
    GByteArray *bad = g_byte_array_new();
    g_byte_array_append(bad, s->data, s->len);
    vt_patch(bad, off, 1, 200);
    /* the contents end the stream, before the two end markers */
    g_assert_cmpmem(bad->data + bad->len - 2 - SIZE, 0x3000, want, 0x3000);
    memset(bad->data + bad->len - 2 - SIZE, 0x33, SIZE);
    vt_load_fails(&m2.m, bad, "invalid state");
    /* a refused stream left the image alone */
    g_free(data);
    g_assert_true(g_file_get_contents(b, &data, &len, NULL));
    g_assert_cmpmem(data, SIZE, want, SIZE);
    g_byte_array_unref(bad);
    bad = g_byte_array_new();
    g_byte_array_append(bad, s->data, s->len);
    vt_patch(bad, off + 2 + 4, 4, 100000);      /* buf_count */
    vt_load_fails(&m2.m, bad, "invalid state");
    g_byte_array_unref(bad);

    g_byte_array_unref(s);
    fm_fini(&m1);
    fm_fini(&m2);
    blockdev_close_all();
    g_unlink(a);
    g_unlink(b);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pflash/vmstate/round-trip", test_round_trip);
    return g_test_run();
}
