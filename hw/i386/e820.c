/*
 * The BIOS E820 memory map (ACPI 6.x section 15, "System Address Map
 * Interfaces") as the board builds it and the loaders hand it to the guest.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "x86_boot_internal.h"

static gint e820_compare(gconstpointer a, gconstpointer b)
{
    const E820Entry *x = a, *y = b;

    if (x->addr != y->addr) {
        return x->addr < y->addr ? -1 : 1;
    }
    return 0;
}

void e820_table_add(GArray *table, uint64_t addr, uint64_t size, uint32_t type)
{
    if (size == 0) {
        return;
    }
    /* A range running past the top of the address space ends there. */
    uint64_t end = addr + size < addr ? UINT64_MAX : addr + size;
    GArray *out =
        g_array_sized_new(FALSE, FALSE, sizeof(E820Entry), table->len + 2);

    /* Keep the parts of existing entries that the new range leaves alone. */
    for (guint i = 0; i < table->len; i++) {
        E820Entry e = g_array_index(table, E820Entry, i);
        uint64_t e_end = e.addr + e.size;

        if (e_end <= addr || e.addr >= end) {
            g_array_append_val(out, e);
            continue;
        }
        if (e.addr < addr) {
            E820Entry lo = {e.addr, addr - e.addr, e.type};
            g_array_append_val(out, lo);
        }
        if (e_end > end) {
            E820Entry hi = {end, e_end - end, e.type};
            g_array_append_val(out, hi);
        }
    }
    E820Entry n = {addr, end - addr, type};
    g_array_append_val(out, n);
    g_array_sort(out, e820_compare);

    /* Merge neighbours that touch and agree on the type. */
    g_array_set_size(table, 0);
    for (guint i = 0; i < out->len; i++) {
        E820Entry e = g_array_index(out, E820Entry, i);
        if (table->len) {
            E820Entry *last = &g_array_index(table, E820Entry, table->len - 1);
            if (last->type == e.type && last->addr + last->size == e.addr) {
                last->size += e.size;
                continue;
            }
        }
        g_array_append_val(table, e);
    }
    g_array_free(out, TRUE);
}

bool e820_range_is_ram(const E820Entry *e820, size_t nr, uint64_t addr,
                       uint64_t size)
{
    uint64_t end = addr + size;

    if (end < addr) {
        return false;
    }
    /* The table is sorted and merged, so one RAM entry must hold it all. */
    for (size_t i = 0; i < nr; i++) {
        if (e820[i].type == E820_RAM && e820[i].addr <= addr &&
            end <= e820[i].addr + e820[i].size) {
            return true;
        }
    }
    return false;
}

void machine_e820_add(Machine *m, uint64_t addr, uint64_t size, uint32_t type)
{
    e820_table_add(m->e820, addr, size, type);
}
