/*
 * qcow2's metadata caches: a small write-back LRU cache of cluster-sized
 * tables (L2 tables, refcount blocks) keyed by their offset in the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2.h"

typedef struct Qcow2CacheEntry {
    uint64_t offset;            /* 0: slot unused */
    uint64_t lru_counter;       /* higher: used more recently */
    int ref;                    /* get without put */
    bool dirty;
} Qcow2CacheEntry;

struct Qcow2Cache {
    Qcow2CacheEntry *entries;
    uint8_t *tables;            /* num_tables * table_size bytes */
    int num_tables;
    int table_size;
    uint64_t lru_counter;
    int last_hit;               /* the table the last lookup returned */
    Qcow2Cache *depends;        /* written and flushed before our writes */
    BlockDriverState *bs;       /* for flushes set_dependency needs */
};

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               int table_size)
{
    Qcow2Cache *c = g_new0(Qcow2Cache, 1);
    void *p;

    /* page-aligned so O_DIRECT files need no bounce buffer */
    if (posix_memalign(&p, 4096, (size_t)num_tables * table_size)) {
        g_free(c);
        return NULL;
    }
    c->tables = p;
    c->entries = g_new0(Qcow2CacheEntry, num_tables);
    c->num_tables = num_tables;
    c->table_size = table_size;
    c->bs = bs;
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    if (!c) {
        return;
    }
    free(c->tables);
    g_free(c->entries);
    g_free(c);
}

static void *cache_table(Qcow2Cache *c, int i)
{
    return c->tables + (size_t)i * c->table_size;
}

static int cache_index(Qcow2Cache *c, void *table)
{
    size_t off = (uint8_t *)table - c->tables;
    int i = off / c->table_size;

    g_assert(i >= 0 && i < c->num_tables &&
             off % c->table_size == 0);
    return i;
}

/* Which metadata the table itself is, for the overlap check */
static int cache_overlap_ign(BlockDriverState *bs, Qcow2Cache *c)
{
    BDRVQcow2State *s = bs->opaque;

    return c == s->l2_cache ? QCOW2_OL_ACTIVE_L2 : QCOW2_OL_REFCOUNT_BLOCK;
}

/* Writes out the dependency (and flushes the file) first. */
static int cache_write_dependency(BlockDriverState *bs, Qcow2Cache *c)
{
    Qcow2Cache *dep = c->depends;
    int ret;

    if (!dep) {
        return 0;
    }
    /* cleared first, so a cycle set up after a failed flush cannot
     * recurse without end */
    c->depends = NULL;
    ret = qcow2_cache_flush(bs, dep);
    if (ret < 0) {
        c->depends = dep;
        return ret;
    }
    return 0;
}

static int cache_entry_write(BlockDriverState *bs, Qcow2Cache *c, int i)
{
    Qcow2CacheEntry *e = &c->entries[i];
    int ret;

    if (!e->dirty || !e->offset) {
        return 0;
    }
    ret = cache_write_dependency(bs, c);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_pre_write_overlap_check(bs, cache_overlap_ign(bs, c),
                                        e->offset, c->table_size);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_pwrite(bs->file, e->offset, cache_table(c, i),
                      c->table_size);
    if (ret < 0) {
        return ret;
    }
    e->dirty = false;
    return 0;
}

int qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;

    for (int i = 0; i < c->num_tables; i++) {
        int ret = cache_entry_write(bs, c, i);
        if (ret < 0 && result == 0) {
            result = ret;   /* keep writing the others */
        }
    }
    return result;
}

int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    int ret = qcow2_cache_write(bs, c);
    int fret = bdrv_flush(bs->file);

    return ret < 0 ? ret : fret;
}

void qcow2_cache_set_dependency(Qcow2Cache *c, Qcow2Cache *dependency)
{
    /*
     * No chains and no cycles: a dependency that itself waits for another
     * cache is written out now, and so is c when it already waits for a
     * different cache. A failed write is left dirty and reported by the
     * next write of that cache.
     */
    if (dependency->depends &&
        cache_write_dependency(dependency->bs, dependency) == 0) {
        qcow2_cache_flush(dependency->bs, dependency);
    }
    if (c->depends && c->depends != dependency) {
        qcow2_cache_flush(c->bs, c);
    }
    c->depends = dependency;
}

static int cache_lookup(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                        void **table, bool read_from_disk)
{
    int victim = -1;
    uint64_t min_lru = UINT64_MAX;
    int ret;

    /* Offsets come from image metadata the callers have checked, but a
     * table at 0 would be the header: refuse rather than alias it. */
    if (offset == 0 || (offset % c->table_size) != 0) {
        return -EIO;
    }
    /* runs of lookups (a refcount per cluster of a long request, the L2
     * entries of a sequential stream) mostly hit the same table again */
    Qcow2CacheEntry *last = &c->entries[c->last_hit];
    if (last->offset == offset) {
        last->ref++;
        last->lru_counter = ++c->lru_counter;
        *table = cache_table(c, c->last_hit);
        return 0;
    }
    for (int i = 0; i < c->num_tables; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->offset == offset) {
            e->ref++;
            e->lru_counter = ++c->lru_counter;
            c->last_hit = i;
            *table = cache_table(c, i);
            return 0;
        }
        if (e->ref == 0 && e->lru_counter < min_lru) {
            min_lru = e->lru_counter;
            victim = i;
        }
    }
    if (victim < 0) {
        return -ENOSPC;     /* every table is in use: a driver bug */
    }

    Qcow2CacheEntry *e = &c->entries[victim];
    ret = cache_entry_write(bs, c, victim);
    if (ret < 0) {
        return ret;
    }
    e->offset = 0;
    if (read_from_disk) {
        ret = bdrv_pread(bs->file, offset, cache_table(c, victim),
                         c->table_size);
        if (ret < 0) {
            return ret;
        }
    }
    e->offset = offset;
    e->ref = 1;
    e->dirty = false;
    e->lru_counter = ++c->lru_counter;
    c->last_hit = victim;
    *table = cache_table(c, victim);
    return 0;
}

int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table)
{
    return cache_lookup(bs, c, offset, table, true);
}

int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table)
{
    return cache_lookup(bs, c, offset, table, false);
}

int qcow2_cache_peek(Qcow2Cache *c, uint64_t offset, void **table)
{
    if (offset == 0) {
        return -ENOENT;
    }
    for (int i = 0; i < c->num_tables; i++) {
        int j = (c->last_hit + i) % c->num_tables;
        Qcow2CacheEntry *e = &c->entries[j];
        if (e->offset == offset) {
            e->ref++;
            e->lru_counter = ++c->lru_counter;
            c->last_hit = j;
            *table = cache_table(c, j);
            return 0;
        }
    }
    return -ENOENT;
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i = cache_index(c, *table);

    g_assert(c->entries[i].ref > 0);
    c->entries[i].ref--;
    *table = NULL;
}

void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table)
{
    int i = cache_index(c, table);

    /* a table discarded while in use stays forgotten */
    if (c->entries[i].offset != 0) {
        c->entries[i].dirty = true;
    }
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    for (int i = 0; i < c->num_tables; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->offset == offset && offset != 0) {
            /* a table still in use keeps its slot until put; it is no
             * longer found by offset and never written back */
            e->offset = 0;
            e->dirty = false;
            e->lru_counter = 0;
        }
    }
}

void qcow2_cache_empty(Qcow2Cache *c)
{
    for (int i = 0; i < c->num_tables; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        e->offset = 0;
        e->dirty = false;
        e->lru_counter = 0;
    }
    c->depends = NULL;
}
