/*
 * Guest memory allocator for tests: first-fit 4 KiB-aligned blocks out of
 * one range of guest RAM, so rings and buffers never overlap.
 */
#include "libqtest.h"

#define PAGE_SIZE 4096ULL

typedef struct Block {
    uint64_t addr;
    uint64_t size;
} Block;

struct QGuestAllocator {
    GList *free_list;       /* Block *, sorted by address, never adjacent */
    GHashTable *used;       /* addr -> size, both in a Block */
};

QGuestAllocator *guest_alloc_init(uint64_t start, uint64_t end)
{
    QGuestAllocator *a = g_new0(QGuestAllocator, 1);
    Block *all = g_new(Block, 1);

    start = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    g_assert_cmphex(start, <, end);
    all->addr = start;
    all->size = (end - start) & ~(PAGE_SIZE - 1);
    a->free_list = g_list_append(NULL, all);
    a->used = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
    return a;
}

uint64_t guest_alloc(QGuestAllocator *a, size_t size)
{
    uint64_t need = (MAX(size, 1) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);

    for (GList *l = a->free_list; l; l = l->next) {
        Block *b = l->data;
        Block *used;

        if (b->size < need) {
            continue;
        }
        used = g_new(Block, 1);
        used->addr = b->addr;
        used->size = need;
        b->addr += need;
        b->size -= need;
        if (!b->size) {
            g_free(b);
            a->free_list = g_list_delete_link(a->free_list, l);
        }
        g_hash_table_insert(a->used, &used->addr, used);
        return used->addr;
    }
    g_error("guest_alloc: no free block of %zu bytes", size);
}

static gint block_cmp(gconstpointer x, gconstpointer y)
{
    const Block *a = x, *b = y;

    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Joins the free block at l with its right neighbour when they touch. */
static void merge_next(QGuestAllocator *a, GList *l)
{
    Block *b = l->data, *next;

    if (!l->next) {
        return;
    }
    next = l->next->data;
    if (b->addr + b->size == next->addr) {
        b->size += next->size;
        g_free(next);
        a->free_list = g_list_delete_link(a->free_list, l->next);
    }
}

void guest_free(QGuestAllocator *a, uint64_t addr)
{
    Block *used = g_hash_table_lookup(a->used, &addr);
    Block *b;
    GList *l;

    if (!addr) {
        return;
    }
    g_assert(used);     /* freeing what was not allocated is a test bug */
    b = g_new(Block, 1);
    *b = *used;
    g_hash_table_remove(a->used, &addr);
    a->free_list = g_list_insert_sorted(a->free_list, b, block_cmp);
    l = g_list_find(a->free_list, b);
    merge_next(a, l);
    if (l->prev) {
        merge_next(a, l->prev);
    }
}

void guest_alloc_uninit(QGuestAllocator *a)
{
    if (!a) {
        return;
    }
    g_list_free_full(a->free_list, g_free);
    g_hash_table_destroy(a->used);
    g_free(a);
}
