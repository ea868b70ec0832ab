/* The e820 map the PC boards build: sorting, merging, overrides, RAM sizes. */
#include <glib.h>

#include "../../hw/i386/x86_boot_internal.h"

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

typedef struct Expect {
    uint64_t addr, size;
    uint32_t type;
} Expect;

static void check_table(GArray *t, const Expect *exp, guint n)
{
    g_assert_cmpuint(t->len, ==, n);
    for (guint i = 0; i < n; i++) {
        E820Entry *e = &g_array_index(t, E820Entry, i);
        g_assert_cmphex(e->addr, ==, exp[i].addr);
        g_assert_cmphex(e->size, ==, exp[i].size);
        g_assert_cmpuint(e->type, ==, exp[i].type);
    }
}

/* What pc.c and microvm.c add, in a scrambled order to test sorting. */
static GArray *board_table(uint64_t ram)
{
    GArray *t = g_array_new(FALSE, TRUE, sizeof(E820Entry));
    uint64_t below = MIN(ram, X86_PC_BELOW_4G_MAX);
    uint64_t above = ram - below;

    if (above) {
        e820_table_add(t, 4 * GiB, above, E820_RAM);
    }
    e820_table_add(t, 0x100000, below - 0x100000, E820_RAM);
    e820_table_add(t, 0, 0x9fc00, E820_RAM);
    e820_table_add(t, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
    return t;
}

static void test_board_512m(void)
{
    g_autoptr(GArray) t = board_table(512 * MiB);
    const Expect exp[] = {
        {0, 0x9fc00, E820_RAM},
        {0x9fc00, 0x60400, E820_RESERVED},
        {0x100000, 511 * MiB, E820_RAM},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
}

static void test_board_3g(void)
{
    g_autoptr(GArray) t = board_table(3 * GiB);
    const Expect exp[] = {
        {0, 0x9fc00, E820_RAM},
        {0x9fc00, 0x60400, E820_RESERVED},
        {0x100000, 3 * GiB - MiB, E820_RAM},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
}

static void test_board_4g_splits_around_pci_hole(void)
{
    g_autoptr(GArray) t = board_table(4 * GiB);
    const Expect exp[] = {
        {0, 0x9fc00, E820_RAM},
        {0x9fc00, 0x60400, E820_RESERVED},
        {0x100000, 3 * GiB - MiB, E820_RAM},
        {4 * GiB, 1 * GiB, E820_RAM},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
}

static void test_board_8g(void)
{
    g_autoptr(GArray) t = board_table(8 * GiB);
    const Expect exp[] = {
        {0, 0x9fc00, E820_RAM},
        {0x9fc00, 0x60400, E820_RESERVED},
        {0x100000, 3 * GiB - MiB, E820_RAM},
        {4 * GiB, 5 * GiB, E820_RAM},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
    g_assert_true(
        e820_range_is_ram((E820Entry *)t->data, t->len, 6 * GiB, GiB));
    g_assert_false(e820_range_is_ram((E820Entry *)t->data, t->len,
                                     3 * GiB - MiB, 2 * MiB));
}

static void test_adjacent_same_type_merges(void)
{
    g_autoptr(GArray) t = g_array_new(FALSE, TRUE, sizeof(E820Entry));

    e820_table_add(t, 2 * MiB, MiB, E820_RAM);
    e820_table_add(t, 1 * MiB, MiB, E820_RAM);
    e820_table_add(t, 3 * MiB, MiB, E820_ACPI);
    const Expect exp[] = {
        {1 * MiB, 2 * MiB, E820_RAM},
        {3 * MiB, MiB, E820_ACPI},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
}

static void test_overlap_overrides_and_splits(void)
{
    g_autoptr(GArray) t = g_array_new(FALSE, TRUE, sizeof(E820Entry));

    e820_table_add(t, 0, GiB, E820_RAM);
    e820_table_add(t, 16 * MiB, MiB, E820_RESERVED);
    const Expect exp[] = {
        {0, 16 * MiB, E820_RAM},
        {16 * MiB, MiB, E820_RESERVED},
        {17 * MiB, GiB - 17 * MiB, E820_RAM},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
    g_assert_false(
        e820_range_is_ram((E820Entry *)t->data, t->len, 15 * MiB, 2 * MiB));
    g_assert_true(
        e820_range_is_ram((E820Entry *)t->data, t->len, 17 * MiB, MiB));

    /* giving the range back as RAM merges everything again */
    e820_table_add(t, 16 * MiB, MiB, E820_RAM);
    const Expect merged[] = {{0, GiB, E820_RAM}};
    check_table(t, merged, 1);
}

static void test_override_covering_several(void)
{
    g_autoptr(GArray) t = board_table(512 * MiB);

    e820_table_add(t, 0x80000, 0x100000, E820_RESERVED);
    const Expect exp[] = {
        {0, 0x80000, E820_RAM},
        {0x80000, 0x100000, E820_RESERVED},
        {0x180000, 512 * MiB - 0x180000, E820_RAM},
    };
    check_table(t, exp, G_N_ELEMENTS(exp));
}

static void test_zero_size_ignored(void)
{
    g_autoptr(GArray) t = board_table(512 * MiB);

    e820_table_add(t, 0x5000, 0, E820_RESERVED);
    g_assert_cmpuint(t->len, ==, 3);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/e820/board/512m", test_board_512m);
    g_test_add_func("/e820/board/3g", test_board_3g);
    g_test_add_func("/e820/board/4g-splits-around-pci-hole",
                    test_board_4g_splits_around_pci_hole);
    g_test_add_func("/e820/board/8g", test_board_8g);
    g_test_add_func("/e820/adjacent-same-type-merges",
                    test_adjacent_same_type_merges);
    g_test_add_func("/e820/overlap-overrides-and-splits",
                    test_overlap_overrides_and_splits);
    g_test_add_func("/e820/override-covering-several",
                    test_override_covering_several);
    g_test_add_func("/e820/zero-size-ignored", test_zero_size_ignored);
    return g_test_run();
}
