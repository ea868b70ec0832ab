/*
 * The memory API: regions form a tree, each address space flattens its tree
 * into a sorted list of non-overlapping ranges (higher priority, then later
 * added, wins) and tells listeners which RAM ranges and ioeventfds came and
 * went. RAM regions may log the pages written into them (dirty logging).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "hw/i386/x86.h"
#include "system/memory.h"
#include "util/opts.h"

static GPtrArray *address_spaces;   /* every live AddressSpace */
static int transaction_depth;
static bool memory_dirty;
static GPtrArray *ram_regions;      /* every RAM region, in creation order */

static void dma_mark(MemoryRegion *mr, hwaddr offset, uint64_t size);

static void region_init(MemoryRegion *mr, MemoryRegionType type,
                        const char *name, uint64_t size)
{
    memset(mr, 0, sizeof(*mr));
    mr->type = type;
    mr->name = g_strdup(name);
    mr->size = size;
    mr->enabled = true;
    mr->subregions = g_ptr_array_new();
}

void memory_region_init_container(MemoryRegion *mr, const char *name,
                                  uint64_t size)
{
    region_init(mr, MR_CONTAINER, name, size);
}

#define HUGE_PAGE   (2u << 20)

/*
 * Anonymous memory for RAM: a mapping of exactly size bytes, which for
 * RAM of 2 MiB or more starts on a 2 MiB boundary and asks for
 * transparent huge pages (as QEMU's RAM does): a fault then maps 2 MiB,
 * which is what makes filling a large guest (a migration's destination,
 * a booting guest) cheap, and the guest's TLB misses shorter under KVM.
 */
static void *ram_map(uint64_t size)
{
    bool huge = size >= HUGE_PAGE;
    uint64_t len = huge ? size + HUGE_PAGE : size;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED || !huge) {
        return p;
    }
    uint8_t *start = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) &
                                 ~(uintptr_t)(HUGE_PAGE - 1));
    uint8_t *end = start + ((size + 4095) & ~4095ull);
    if (start > p) {
        munmap(p, start - p);
    }
    if (p + len > end) {
        munmap(end, p + len - end);
    }
    madvise(start, size, MADV_HUGEPAGE);    /* a hint: failure is fine */
    return start;
}

bool memory_region_init_ram(MemoryRegion *mr, const char *name, uint64_t size,
                            GError **errp)
{
    void *p = size ? ram_map(size) : MAP_FAILED;

    if (p == MAP_FAILED) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "cannot allocate %" G_GUINT64_FORMAT
                    " MiB of guest RAM for '%s': %s",
                    size >> 20, name, size ? g_strerror(errno) : "size is 0");
        return false;
    }
    region_init(mr, MR_RAM, name, size);
    mr->ram = p;
#ifdef __SANITIZE_THREAD__
    tsan_guest_ram(p, size);
#endif
    if (!ram_regions) {
        ram_regions = g_ptr_array_new();
    }
    g_ptr_array_add(ram_regions, mr);
    return true;
}

void memory_region_init_io(MemoryRegion *mr, const char *name,
                           const MemoryRegionOps *ops, void *opaque,
                           uint64_t size)
{
    region_init(mr, MR_IO, name, size);
    mr->ops = ops;
    mr->opaque = opaque;
}

bool memory_region_init_rom_device(MemoryRegion *mr, const char *name,
                                   const MemoryRegionOps *ops, void *opaque,
                                   uint64_t size, GError **errp)
{
    if (!memory_region_init_ram(mr, name, size, errp)) {
        return false;
    }
    mr->readonly = true;
    mr->ops = ops;
    mr->opaque = opaque;
    return true;
}

void memory_region_init_alias(MemoryRegion *mr, const char *name,
                              MemoryRegion *orig, hwaddr offset,
                              uint64_t size)
{
    region_init(mr, MR_ALIAS, name, size);
    mr->alias = orig;
    mr->alias_offset = offset;
}

void memory_region_destroy(MemoryRegion *mr)
{
    if (mr->parent) {
        memory_region_del_subregion(mr->parent, mr);
    }
    if (mr->type == MR_RAM && mr->ram) {
        munmap(mr->ram, mr->size);
    }
    if (mr->type == MR_RAM && ram_regions) {
        g_ptr_array_remove(ram_regions, mr);
    }
    g_free(mr->dirty);
    g_free(mr->dirty_migration);
    g_free(mr->dma_migration);
    g_ptr_array_free(mr->subregions, TRUE);
    if (mr->ioeventfds) {
        g_array_free(mr->ioeventfds, TRUE);
    }
    g_free(mr->name);
    memset(mr, 0, sizeof(*mr));
}

static void memory_changed(void)
{
    memory_dirty = true;
    if (!transaction_depth) {
        memory_transaction_begin();
        memory_transaction_commit();
    }
}

void memory_region_add_subregion_overlap(MemoryRegion *parent, hwaddr offset,
                                         MemoryRegion *sub, int priority)
{
    guint i;

    g_assert(!sub->parent);
    sub->parent = parent;
    sub->addr = offset;
    sub->priority = priority;
    /* keep sorted by priority, highest first; equal: newest first */
    for (i = 0; i < parent->subregions->len; i++) {
        MemoryRegion *other = g_ptr_array_index(parent->subregions, i);
        if (other->priority <= priority) {
            break;
        }
    }
    g_ptr_array_insert(parent->subregions, i, sub);
    memory_changed();
}

void memory_region_add_subregion(MemoryRegion *parent, hwaddr offset,
                                 MemoryRegion *sub)
{
    memory_region_add_subregion_overlap(parent, offset, sub, 0);
}

void memory_region_del_subregion(MemoryRegion *parent, MemoryRegion *sub)
{
    g_assert(sub->parent == parent);
    g_ptr_array_remove(parent->subregions, sub);
    sub->parent = NULL;
    memory_changed();
}

void memory_region_set_enabled(MemoryRegion *mr, bool enabled)
{
    if (mr->enabled != enabled) {
        mr->enabled = enabled;
        memory_changed();
    }
}

void memory_region_set_readonly(MemoryRegion *mr, bool readonly)
{
    if (mr->readonly != readonly) {
        mr->readonly = readonly;
        memory_changed();
    }
}

void *memory_region_get_ram_ptr(MemoryRegion *mr)
{
    while (mr->type == MR_ALIAS) {
        mr = mr->alias;
    }
    return mr->ram;
}

/* --- ioeventfds --- */

static uint64_t size_mask(unsigned size)
{
    return size == 0 || size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static bool ioeventfd_equal(const MemoryRegionIoeventfd *a,
                            const MemoryRegionIoeventfd *b)
{
    return a->addr == b->addr && a->size == b->size &&
           a->match_data == b->match_data && a->fd == b->fd &&
           (!a->match_data || a->data == b->data);
}

static MemoryRegionIoeventfd ioeventfd_make(hwaddr addr, unsigned size,
                                            bool match_data, uint64_t data,
                                            int fd)
{
    g_assert(size == 0 || size == 1 || size == 2 || size == 4 || size == 8);
    g_assert(size || !match_data);
    g_assert(fd >= 0);
    return (MemoryRegionIoeventfd){
        .addr = addr,
        .size = size,
        .match_data = match_data,
        .data = match_data ? data & size_mask(size) : 0,
        .fd = fd,
    };
}

void memory_region_add_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size,
                               bool match_data, uint64_t data, int fd)
{
    MemoryRegionIoeventfd e = ioeventfd_make(addr, size, match_data, data,
                                             fd);

    g_assert(mr->type == MR_IO);
    g_assert(addr < mr->size && MAX(size, 1u) <= mr->size - addr);
    if (!mr->ioeventfds) {
        mr->ioeventfds = g_array_new(FALSE, FALSE,
                                     sizeof(MemoryRegionIoeventfd));
    }
    g_array_append_val(mr->ioeventfds, e);
    memory_changed();
}

void memory_region_del_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size,
                               bool match_data, uint64_t data, int fd)
{
    MemoryRegionIoeventfd e = ioeventfd_make(addr, size, match_data, data,
                                             fd);

    for (guint i = 0; mr->ioeventfds && i < mr->ioeventfds->len; i++) {
        if (ioeventfd_equal(&g_array_index(mr->ioeventfds,
                                           MemoryRegionIoeventfd, i), &e)) {
            g_array_remove_index(mr->ioeventfds, i);
            memory_changed();
            return;
        }
    }
    g_assert_not_reached();     /* removing what was never added */
}

static int ioeventfd_cmp(const void *pa, const void *pb)
{
    const MemoryRegionIoeventfd *a = pa, *b = pb;

    if (a->addr != b->addr) {
        return a->addr < b->addr ? -1 : 1;
    }
    if (a->size != b->size) {
        return a->size < b->size ? -1 : 1;
    }
    if (a->data != b->data) {
        return a->data < b->data ? -1 : 1;
    }
    return a->fd - b->fd;
}

/*
 * The ioeventfds of the view's ranges: one counts where the whole access it
 * waits for lands in a single range of its region, so that the write
 * neither KVM nor the dispatch below takes from it belongs to another
 * region in part.
 */
static void flatview_add_ioeventfds(FlatView *view)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(MemoryRegionIoeventfd));

    for (size_t i = 0; i < view->nr; i++) {
        const FlatRange *fr = &view->ranges[i];
        GArray *evs = fr->mr->type == MR_IO ? fr->mr->ioeventfds : NULL;

        for (guint j = 0; evs && j < evs->len; j++) {
            MemoryRegionIoeventfd e =
                g_array_index(evs, MemoryRegionIoeventfd, j);
            uint64_t len = MAX(e.size, 1u);
            if (e.addr < fr->offset || e.addr - fr->offset > fr->size ||
                len > fr->size - (e.addr - fr->offset)) {
                continue;
            }
            e.addr = fr->start + (e.addr - fr->offset);
            g_array_append_val(out, e);
        }
    }
    g_array_sort(out, ioeventfd_cmp);
    view->nr_ioeventfds = out->len;
    view->ioeventfds = (MemoryRegionIoeventfd *)g_array_free(out, FALSE);
}

static bool view_has_ioeventfd(const FlatView *v,
                               const MemoryRegionIoeventfd *e)
{
    for (size_t i = 0; v && i < v->nr_ioeventfds; i++) {
        if (ioeventfd_equal(&v->ioeventfds[i], e)) {
            return true;
        }
    }
    return false;
}

/*
 * A write of size bytes of val at guest address addr that an ioeventfd
 * waits for signals it, as KVM would have in the kernel; returns whether
 * one took the write.
 */
static bool ioeventfd_signal(const FlatView *v, hwaddr addr, unsigned size,
                             uint64_t val)
{
    size_t lo = 0, hi = v->nr_ioeventfds;

    while (lo < hi) {   /* the first at or above addr */
        size_t mid = (lo + hi) / 2;
        if (v->ioeventfds[mid].addr < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < v->nr_ioeventfds; i++) {
        const MemoryRegionIoeventfd *e = &v->ioeventfds[i];
        if (e->addr != addr) {
            break;
        }
        if ((e->size && e->size != size) ||
            (e->match_data && e->data != (val & size_mask(size)))) {
            continue;
        }
        /* EAGAIN: the counter is full, the reader has a wakeup anyway */
        eventfd_write(e->fd, 1);
        return true;
    }
    return false;
}

/* --- flattening --- */

typedef struct FlatBuilder {
    GArray *ranges;     /* of FlatRange, sorted by start */
} FlatBuilder;

/* Adds [start, end) of mr, only where no range is yet: earlier = higher. */
static void insert_in_gaps(FlatBuilder *fb, hwaddr start, hwaddr end,
                           MemoryRegion *mr, hwaddr mr_base, bool readonly)
{
    guint i = 0;

    while (start < end) {
        FlatRange *fr = NULL;
        hwaddr piece_end = end;

        /* skip ranges entirely below start */
        while (i < fb->ranges->len) {
            fr = &g_array_index(fb->ranges, FlatRange, i);
            if (fr->start + fr->size > start) {
                break;
            }
            i++;
            fr = NULL;
        }
        if (fr && fr->start <= start) {
            /* covered already: jump past it */
            start = fr->start + fr->size;
            i++;
            continue;
        }
        if (fr && fr->start < piece_end) {
            piece_end = fr->start;
        }
        FlatRange nr = {
            .start = start,
            .size = piece_end - start,
            .mr = mr,
            .offset = start - mr_base,
            .readonly = readonly,
            .dirty_log = mr->type == MR_RAM && mr->dirty_log,
        };
        g_array_insert_val(fb->ranges, i, nr);
        i++;
        start = piece_end;
    }
}

static void render(FlatBuilder *fb, MemoryRegion *mr, hwaddr base,
                   hwaddr clip_start, hwaddr clip_end, bool readonly)
{
    hwaddr start = MAX(base, clip_start);
    hwaddr end;

    if (!mr->enabled || !mr->size) {
        return;
    }
    /* an end beyond 2^64 is clipped to the top of the address space */
    end = base + mr->size < base ? G_MAXUINT64 : base + mr->size;
    end = MIN(end, clip_end);
    if (start >= end) {
        return;
    }
    readonly |= mr->readonly;
    switch (mr->type) {
    case MR_ALIAS:
        render(fb, mr->alias, base - mr->alias_offset, start, end, readonly);
        break;
    case MR_CONTAINER:
        for (guint i = 0; i < mr->subregions->len; i++) {
            MemoryRegion *sub = g_ptr_array_index(mr->subregions, i);
            render(fb, sub, base + sub->addr, start, end, readonly);
        }
        break;
    case MR_RAM:
    case MR_IO:
        insert_in_gaps(fb, start, end, mr, base, readonly);
        break;
    }
}

static FlatView *flatview_build(MemoryRegion *root)
{
    FlatBuilder fb = { g_array_new(FALSE, FALSE, sizeof(FlatRange)) };
    FlatView *view = g_new0(FlatView, 1);
    guint out = 0;

    render(&fb, root, 0, 0, G_MAXUINT64, false);
    /* merge neighbours that continue the same region */
    for (guint i = 0; i < fb.ranges->len; i++) {
        FlatRange *cur = &g_array_index(fb.ranges, FlatRange, i);
        if (out) {
            FlatRange *prev = &g_array_index(fb.ranges, FlatRange, out - 1);
            if (prev->mr == cur->mr && prev->readonly == cur->readonly &&
                prev->start + prev->size == cur->start &&
                prev->offset + prev->size == cur->offset) {
                prev->size += cur->size;
                continue;
            }
        }
        g_array_index(fb.ranges, FlatRange, out++) = *cur;
    }
    view->nr = out;
    view->ranges = (FlatRange *)g_array_free(fb.ranges, FALSE);
    flatview_add_ioeventfds(view);
    return view;
}

static void flatview_free(FlatView *view)
{
    if (view) {
        g_free(view->ranges);
        g_free(view->ioeventfds);
        g_free(view);
    }
}

static bool range_equal(const FlatRange *a, const FlatRange *b)
{
    return a->start == b->start && a->size == b->size && a->mr == b->mr &&
           a->offset == b->offset && a->readonly == b->readonly &&
           a->dirty_log == b->dirty_log;
}

static bool view_contains(const FlatView *v, const FlatRange *fr)
{
    for (size_t i = 0; v && i < v->nr; i++) {
        if (range_equal(&v->ranges[i], fr)) {
            return true;
        }
    }
    return false;
}

/*
 * Tells listeners about RAM ranges that vanished, then those that appeared;
 * then the same for ioeventfds.
 */
static void notify_listeners(AddressSpace *as, FlatView *old, FlatView *new)
{
    for (MemoryListener *l = as->listeners; l; l = l->next) {
        for (size_t i = 0; old && i < old->nr; i++) {
            const FlatRange *fr = &old->ranges[i];
            if (fr->mr->type == MR_RAM && !view_contains(new, fr) &&
                l->region_del) {
                l->region_del(l, fr);
            }
        }
        for (size_t i = 0; i < new->nr; i++) {
            const FlatRange *fr = &new->ranges[i];
            if (fr->mr->type == MR_RAM && !view_contains(old, fr) &&
                l->region_add) {
                l->region_add(l, fr);
            }
        }
        for (size_t i = 0; old && l->eventfd_del && i < old->nr_ioeventfds;
             i++) {
            if (!view_has_ioeventfd(new, &old->ioeventfds[i])) {
                l->eventfd_del(l, &old->ioeventfds[i]);
            }
        }
        for (size_t i = 0; l->eventfd_add && i < new->nr_ioeventfds; i++) {
            if (!view_has_ioeventfd(old, &new->ioeventfds[i])) {
                l->eventfd_add(l, &new->ioeventfds[i]);
            }
        }
    }
}

static void address_space_update(AddressSpace *as)
{
    FlatView *old = as->view;
    FlatView *new = flatview_build(as->root);

    as->view = new;
    notify_listeners(as, old, new);
    flatview_free(old);
}

void memory_transaction_begin(void)
{
    transaction_depth++;
}

void memory_transaction_commit(void)
{
    g_assert(transaction_depth > 0);
    if (--transaction_depth || !memory_dirty) {
        return;
    }
    memory_dirty = false;
    for (guint i = 0; address_spaces && i < address_spaces->len; i++) {
        address_space_update(g_ptr_array_index(address_spaces, i));
    }
}

void address_space_init(AddressSpace *as, MemoryRegion *root,
                        const char *name)
{
    memset(as, 0, sizeof(*as));
    as->name = g_strdup(name);
    as->root = root;
    if (!address_spaces) {
        address_spaces = g_ptr_array_new();
    }
    g_ptr_array_add(address_spaces, as);
    as->view = flatview_build(root);
}

void address_space_destroy(AddressSpace *as)
{
    g_ptr_array_remove(address_spaces, as);
    flatview_free(as->view);
    g_free(as->name);
    memset(as, 0, sizeof(*as));
}

void address_space_add_listener(AddressSpace *as, MemoryListener *l)
{
    l->next = as->listeners;
    as->listeners = l;
    /* replay the current map to the newcomer */
    for (size_t i = 0; i < as->view->nr; i++) {
        const FlatRange *fr = &as->view->ranges[i];
        if (fr->mr->type == MR_RAM && l->region_add) {
            l->region_add(l, fr);
        }
    }
    for (size_t i = 0; l->eventfd_add && i < as->view->nr_ioeventfds; i++) {
        l->eventfd_add(l, &as->view->ioeventfds[i]);
    }
}

const FlatRange *address_space_lookup(AddressSpace *as, hwaddr addr)
{
    FlatView *v = as->view;
    size_t lo = 0, hi = v->nr;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const FlatRange *fr = &v->ranges[mid];
        if (addr < fr->start) {
            hi = mid;
        } else if (addr - fr->start >= fr->size) {
            lo = mid + 1;
        } else {
            return fr;
        }
    }
    return NULL;
}

/* --- dispatch --- */

static unsigned impl_min(const MemoryRegionOps *ops)
{
    return ops->impl_min ? ops->impl_min : 1;
}

static unsigned impl_max(const MemoryRegionOps *ops)
{
    return ops->impl_max ? ops->impl_max : 8;
}

/* One access of size bytes to an I/O region, adapted to what it implements. */
static uint64_t io_read(MemoryRegion *mr, hwaddr off, unsigned size)
{
    const MemoryRegionOps *ops = mr->ops;
    unsigned lo = impl_min(ops), hi = impl_max(ops);
    uint64_t val = 0;

    if (!ops->read) {
        return ~0ULL >> (64 - size * 8);
    }
    if (size < lo) {
        hwaddr base = off & ~(hwaddr)(lo - 1);
        uint64_t wide = ops->read(mr->opaque, base, lo);
        val = wide >> ((off - base) * 8);
    } else if (size > hi) {
        for (unsigned i = 0; i < size; i += hi) {
            val |= ops->read(mr->opaque, off + i, hi) << (i * 8);
        }
    } else {
        val = ops->read(mr->opaque, off, size);
    }
    return size == 8 ? val : val & ((1ULL << (size * 8)) - 1);
}

static void io_write(MemoryRegion *mr, hwaddr off, unsigned size,
                     uint64_t val)
{
    const MemoryRegionOps *ops = mr->ops;
    unsigned lo = impl_min(ops), hi = impl_max(ops);

    if (!ops->write) {
        return;
    }
    if (size < lo) {
        hwaddr base = off & ~(hwaddr)(lo - 1);
        ops->write(mr->opaque, base, val << ((off - base) * 8), lo);
    } else if (size > hi) {
        for (unsigned i = 0; i < size; i += hi) {
            uint64_t part = val >> (i * 8);
            if (hi < 8) {
                part &= (1ULL << (hi * 8)) - 1;
            }
            ops->write(mr->opaque, off + i, part, hi);
        }
    } else {
        ops->write(mr->opaque, off, val, size);
    }
}

static bool access_fits(const FlatRange *fr, hwaddr addr, uint64_t len)
{
    return len <= fr->size && addr - fr->start <= fr->size - len;
}

/*
 * Whether a CPU access goes whole to the range's region. As in QEMU, a
 * device region gets the whole access when its first byte is the
 * region's and the region spans it, even where another region shows
 * through at a later byte (a dword at 0xcf8 is CONFIG_ADDRESS although
 * the reset control byte at 0xcf9 sits above it). Other straddling
 * accesses go byte by byte.
 */
static bool access_goes_whole(const FlatRange *fr, hwaddr addr, uint64_t len)
{
    if (access_fits(fr, addr, len)) {
        return true;
    }
    hwaddr off = fr->offset + (addr - fr->start);
    return fr->mr->type == MR_IO && len <= fr->mr->size &&
           off <= fr->mr->size - len;
}

/* Start of the first range above addr, or the top of the address space. */
static hwaddr next_range_start(AddressSpace *as, hwaddr addr)
{
    FlatView *v = as->view;
    size_t lo = 0, hi = v->nr;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->ranges[mid].start <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < v->nr ? v->ranges[lo].start : G_MAXUINT64;
}

MemTxResult address_space_ld(AddressSpace *as, hwaddr addr, unsigned size,
                             uint64_t *val)
{
    const FlatRange *fr = address_space_lookup(as, addr);

    if (!fr && next_range_start(as, addr) - addr >= size) {
        *val = ~0ULL >> (64 - size * 8);    /* unassigned: all ones */
        return MEMTX_UNASSIGNED;
    }
    if (!fr || !access_goes_whole(fr, addr, size)) {
        /* straddling two ranges (or a hole): go byte by byte */
        uint8_t b[8];
        MemTxResult r = address_space_read(as, addr, b, size);
        *val = 0;
        memcpy(val, b, size);
        return r;
    }
    hwaddr off = fr->offset + (addr - fr->start);
    if (fr->mr->type == MR_RAM) {
        *val = 0;
        memcpy(val, fr->mr->ram + off, size);
    } else {
        *val = io_read(fr->mr, off, size);
    }
    return MEMTX_OK;
}

void (*memory_ram_write_notify)(hwaddr addr, uint64_t len);

MemTxResult address_space_st(AddressSpace *as, hwaddr addr, unsigned size,
                             uint64_t val)
{
    const FlatRange *fr = address_space_lookup(as, addr);

    if (!fr || !access_goes_whole(fr, addr, size)) {
        return address_space_write(as, addr, &val, size);
    }
    hwaddr off = fr->offset + (addr - fr->start);
    if (fr->mr->type == MR_RAM && fr->readonly && fr->mr->ops) {
        io_write(fr->mr, off, size, val);   /* a ROM device's command */
    } else if (fr->mr->type == MR_RAM) {
        if (!fr->readonly) {
            memcpy(fr->mr->ram + off, &val, size);
            if (fr->dirty_log) {
                memory_region_set_dirty(fr->mr, off, size);
            }
            if (memory_ram_write_notify) {
                memory_ram_write_notify(addr, size);
            }
        }
    } else if (!fr->mr->ioeventfds ||
               !ioeventfd_signal(as->view, addr, size, val)) {
        io_write(fr->mr, off, size, val);
    }
    return MEMTX_OK;
}

static MemTxResult address_space_rw(AddressSpace *as, hwaddr addr, void *buf,
                                    uint64_t len, bool is_write, bool rom)
{
    MemTxResult res = MEMTX_OK;
    uint8_t *p = buf;

    while (len) {
        const FlatRange *fr = address_space_lookup(as, addr);
        uint64_t chunk;

        if (!fr) {
            /* unassigned up to the next range or the end of the space */
            hwaddr next = next_range_start(as, addr);
            chunk = next == G_MAXUINT64 ? G_MAXUINT64 - addr + 1
                                        : next - addr;
            chunk = chunk ? MIN(len, chunk) : len;  /* 0: the whole space */
            if (!is_write) {
                memset(p, 0xff, chunk);
            }
            res = MEMTX_UNASSIGNED;
        } else {
            hwaddr off = fr->offset + (addr - fr->start);
            chunk = MIN(len, fr->size - (addr - fr->start));
            if (fr->mr->type == MR_RAM && is_write && fr->readonly &&
                fr->mr->ops && !rom) {
                /* a ROM device's command: one byte at a time, as to I/O */
                chunk = 1;
                io_write(fr->mr, off, 1, *p);
            } else if (fr->mr->type == MR_RAM) {
                if (!is_write) {
                    memcpy(p, fr->mr->ram + off, chunk);
                } else if (!fr->readonly || rom) {
                    memcpy(fr->mr->ram + off, p, chunk);
                    if (fr->dirty_log) {
                        memory_region_set_dirty(fr->mr, off, chunk);
                    }
                    if (memory_ram_write_notify) {
                        memory_ram_write_notify(addr, chunk);
                    }
                }
            } else {
                /* devices see the bytes one at a time */
                chunk = 1;
                if (is_write) {
                    if (!fr->mr->ioeventfds ||
                        !ioeventfd_signal(as->view, addr, 1, *p)) {
                        io_write(fr->mr, off, 1, *p);
                    }
                } else {
                    *p = io_read(fr->mr, off, 1);
                }
            }
        }
        p += chunk;
        addr += chunk;
        len -= chunk;
        if (!addr && len) {
            return MEMTX_UNASSIGNED;   /* wrapped past the top */
        }
    }
    return res;
}

MemTxResult address_space_read(AddressSpace *as, hwaddr addr, void *buf,
                               uint64_t len)
{
    return address_space_rw(as, addr, buf, len, false, false);
}

MemTxResult address_space_write(AddressSpace *as, hwaddr addr,
                                const void *buf, uint64_t len)
{
    return address_space_rw(as, addr, (void *)buf, len, true, false);
}

MemTxResult address_space_write_rom(AddressSpace *as, hwaddr addr,
                                    const void *buf, uint64_t len)
{
    return address_space_rw(as, addr, (void *)buf, len, true, true);
}

void *address_space_ram_ptr(AddressSpace *as, hwaddr addr, uint64_t len,
                            bool is_write)
{
    const FlatRange *fr = address_space_lookup(as, addr);

    if (!fr || fr->mr->type != MR_RAM || !access_fits(fr, addr, len) ||
        (is_write && fr->readonly)) {
        return NULL;
    }
    hwaddr off = fr->offset + (addr - fr->start);
    /* the caller writes after this: a reader may see the bit before the
     * data and then see the data only after the next write (DMA into
     * logged memory, VRAM, is rare; the bit is never lost) */
    if (is_write && fr->dirty_log) {
        memory_region_set_dirty(fr->mr, off, len);
        dma_mark(fr->mr, off, len);
    }
    if (is_write && memory_ram_write_notify) {
        memory_ram_write_notify(addr, len);
    }
    return fr->mr->ram + off;
}

/* --- dirty logging --- */

struct DirtyBitmapSnapshot {
    uint64_t first_page, last_page;     /* region pages it covers */
    uint64_t first_word;                /* bits[0] is this region word */
    uint64_t bits[];
};

/* The region pages of [offset, offset+size) clipped to mr; false: none. */
static bool range_pages(const MemoryRegion *mr, hwaddr offset, uint64_t size,
                        uint64_t *first, uint64_t *last)
{
    if (!size || offset >= mr->size) {
        return false;
    }
    size = MIN(size, mr->size - offset);
    *first = offset >> DIRTY_PAGE_BITS;
    *last = (offset + size - 1) >> DIRTY_PAGE_BITS;
    return true;
}

/* The bits of pages [first, last] within bitmap word w. */
static uint64_t word_mask(uint64_t first, uint64_t last, uint64_t w)
{
    uint64_t lo = MAX(first, w * 64) - w * 64;
    uint64_t hi = MIN(last, w * 64 + 63) - w * 64;

    return (~0ULL >> (63 - hi)) & (~0ULL << lo);
}

/* Logging is on while any client wants it; the accelerators see only that. */
static void region_update_log(MemoryRegion *mr)
{
    bool log = mr->log_display || mr->log_migration;

    if (mr->dirty_log != log) {
        __atomic_store_n(&mr->dirty_log, log, __ATOMIC_SEQ_CST);
        memory_changed();
    }
}

static uint64_t *bitmap_new(const MemoryRegion *mr)
{
    uint64_t pages = (mr->size + DIRTY_PAGE_SIZE - 1) >> DIRTY_PAGE_BITS;

    return g_new0(uint64_t, (pages + 63) / 64 + 1);
}

/* Sets the bits of pages [first, last] in bm. */
static void bitmap_mark(uint64_t *bm, uint64_t first, uint64_t last)
{
    for (uint64_t w = first / 64; w <= last / 64; w++) {
        uint64_t mask = word_mask(first, last, w);
        /* most writes hit a page already dirty: skip the locked op */
        if ((__atomic_load_n(&bm[w], __ATOMIC_RELAXED) & mask) != mask) {
            __atomic_fetch_or(&bm[w], mask, __ATOMIC_SEQ_CST);
        }
    }
}

void memory_region_set_log(MemoryRegion *mr, bool log)
{
    g_assert(mr->type == MR_RAM);
    if (mr->log_display == log) {
        return;
    }
    if (!mr->dirty) {
        mr->dirty = bitmap_new(mr);
    }
    mr->log_display = log;
    if (log && mr->size) {
        bitmap_mark(mr->dirty, 0, (mr->size - 1) >> DIRTY_PAGE_BITS);
    }
    region_update_log(mr);
}

void memory_region_set_dirty(MemoryRegion *mr, hwaddr offset, uint64_t size)
{
    uint64_t first, last;

    if (!__atomic_load_n(&mr->dirty_log, __ATOMIC_RELAXED) ||
        !range_pages(mr, offset, size, &first, &last)) {
        return;
    }
    if (__atomic_load_n(&mr->log_display, __ATOMIC_RELAXED)) {
        bitmap_mark(mr->dirty, first, last);
    }
    if (__atomic_load_n(&mr->log_migration, __ATOMIC_RELAXED)) {
        bitmap_mark(mr->dirty_migration, first, last);
    }
}

/* Lets the accelerators add the pages they logged for mr. */
static void region_log_sync(MemoryRegion *mr)
{
    for (guint i = 0; address_spaces && i < address_spaces->len; i++) {
        AddressSpace *as = g_ptr_array_index(address_spaces, i);
        for (size_t j = 0; as->view && j < as->view->nr; j++) {
            const FlatRange *fr = &as->view->ranges[j];
            if (fr->mr != mr || !fr->dirty_log) {
                continue;
            }
            for (MemoryListener *l = as->listeners; l; l = l->next) {
                if (l->log_sync) {
                    l->log_sync(l, fr);
                }
            }
        }
    }
}

bool memory_region_test_and_clear_dirty(MemoryRegion *mr, hwaddr offset,
                                        uint64_t size)
{
    uint64_t first, last, found = 0;

    if (!mr->log_display || !range_pages(mr, offset, size, &first, &last)) {
        return false;
    }
    region_log_sync(mr);
    for (uint64_t w = first / 64; w <= last / 64; w++) {
        uint64_t mask = word_mask(first, last, w);
        if (__atomic_load_n(&mr->dirty[w], __ATOMIC_RELAXED) & mask) {
            found |= __atomic_fetch_and(&mr->dirty[w], ~mask,
                                        __ATOMIC_SEQ_CST) & mask;
        }
    }
    return found != 0;
}

DirtyBitmapSnapshot *memory_region_snapshot_and_clear_dirty(MemoryRegion *mr,
                                                            hwaddr offset,
                                                            uint64_t size)
{
    uint64_t first, last;
    DirtyBitmapSnapshot *snap;

    if (!mr->log_display || !range_pages(mr, offset, size, &first, &last)) {
        /* an empty snapshot: nothing dirty */
        snap = g_malloc0(sizeof(*snap) + sizeof(uint64_t));
        snap->first_page = 1;
        return snap;
    }
    region_log_sync(mr);
    uint64_t nwords = last / 64 - first / 64 + 1;
    snap = g_malloc0(sizeof(*snap) + nwords * sizeof(uint64_t));
    snap->first_page = first;
    snap->last_page = last;
    snap->first_word = first / 64;
    for (uint64_t i = 0; i < nwords; i++) {
        uint64_t w = snap->first_word + i;
        uint64_t mask = word_mask(first, last, w);
        if (__atomic_load_n(&mr->dirty[w], __ATOMIC_RELAXED) & mask) {
            snap->bits[i] = __atomic_fetch_and(&mr->dirty[w], ~mask,
                                               __ATOMIC_SEQ_CST) & mask;
        }
    }
    return snap;
}

bool memory_region_snapshot_get_dirty(const DirtyBitmapSnapshot *snap,
                                      hwaddr offset, uint64_t size)
{
    uint64_t first, last;

    if (!size || offset + size - 1 < offset) {
        return false;
    }
    first = MAX(offset >> DIRTY_PAGE_BITS, snap->first_page);
    last = MIN((offset + size - 1) >> DIRTY_PAGE_BITS, snap->last_page);
    for (uint64_t w = first / 64; first <= last && w <= last / 64; w++) {
        if (snap->bits[w - snap->first_word] & word_mask(first, last, w)) {
            return true;
        }
    }
    return false;
}

void memory_region_snapshot_free(DirtyBitmapSnapshot *snap)
{
    g_free(snap);
}

/* --- migration's dirty client --- */

const GPtrArray *memory_ram_regions(void)
{
    if (!ram_regions) {
        ram_regions = g_ptr_array_new();
    }
    return ram_regions;
}

/*
 * A device got a pointer to write into these pages: its data lands later
 * (a disk read completes), after a migration pass may have sent the page
 * and cleared its bit. The pages are remembered until the last pass,
 * which runs after the disks were drained, and sent again then.
 */
static void dma_mark(MemoryRegion *mr, hwaddr offset, uint64_t size)
{
    uint64_t first, last;

    if (__atomic_load_n(&mr->log_migration, __ATOMIC_RELAXED) &&
        range_pages(mr, offset, size, &first, &last)) {
        bitmap_mark(mr->dma_migration, first, last);
    }
}

void memory_region_set_log_migration(MemoryRegion *mr, bool log)
{
    g_assert(mr->type == MR_RAM);
    if (mr->log_migration == log) {
        return;
    }
    if (!mr->dirty_migration) {
        mr->dirty_migration = bitmap_new(mr);
        mr->dma_migration = bitmap_new(mr);
    }
    if (log && mr->size) {
        /* nothing was sent yet: every page is to send */
        bitmap_mark(mr->dirty_migration, 0,
                    (mr->size - 1) >> DIRTY_PAGE_BITS);
    }
    __atomic_store_n(&mr->log_migration, log, __ATOMIC_SEQ_CST);
    region_update_log(mr);
}

uint64_t memory_region_migration_take_dma(MemoryRegion *mr, uint64_t *bitmap)
{
    uint64_t pages = (mr->size + DIRTY_PAGE_SIZE - 1) >> DIRTY_PAGE_BITS;
    uint64_t count = 0;

    if (!mr->dma_migration) {
        return 0;
    }
    for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
        uint64_t bits = __atomic_exchange_n(&mr->dma_migration[w], 0,
                                            __ATOMIC_SEQ_CST);
        count += __builtin_popcountll(bits & ~bitmap[w]);
        bitmap[w] |= bits;
    }
    return count;
}

uint64_t memory_region_migration_sync(MemoryRegion *mr, uint64_t *bitmap)
{
    uint64_t pages = (mr->size + DIRTY_PAGE_SIZE - 1) >> DIRTY_PAGE_BITS;
    uint64_t count = 0;

    if (!mr->log_migration || !pages) {
        return 0;
    }
    region_log_sync(mr);
    for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
        if (__atomic_load_n(&mr->dirty_migration[w], __ATOMIC_RELAXED)) {
            uint64_t bits = __atomic_exchange_n(&mr->dirty_migration[w], 0,
                                                __ATOMIC_SEQ_CST);
            count += __builtin_popcountll(bits & ~bitmap[w]);
            bitmap[w] |= bits;
        }
    }
    return count;
}

/* --- giving RAM back to the host (virtio-balloon) --- */

bool ram_discard_range(AddressSpace *as, MemoryRegion *ram, hwaddr gpa,
                       uint64_t len)
{
    const FlatRange *fr = address_space_lookup(as, gpa);

    if (!len || ((gpa | len) & (DIRTY_PAGE_SIZE - 1)) || !fr ||
        fr->mr != ram || ram->type != MR_RAM || fr->readonly ||
        !access_fits(fr, gpa, len)) {
        return false;
    }
    hwaddr off = fr->offset + (gpa - fr->start);
    if (madvise(ram->ram + off, len, MADV_DONTNEED) < 0) {
        return false;
    }
    /*
     * The page changed to zeros without a write that KVM's log or the
     * software CPU would see: a migration that sent it already must send
     * it again (the zeros cost a zero run in the stream), or the
     * destination would keep the old contents; and code decoded from it
     * is stale.
     */
    if (ram->dirty_log) {
        memory_region_set_dirty(ram, off, len);
    }
    if (memory_ram_write_notify) {
        memory_ram_write_notify(gpa, len);
    }
    return true;
}

bool address_space_ram_gpa(AddressSpace *as, MemoryRegion *ram,
                           const void *host, uint64_t len, hwaddr *gpa)
{
    const uint8_t *p = host;

    if (ram->type != MR_RAM || p < ram->ram || len > ram->size ||
        (uint64_t)(p - ram->ram) > ram->size - len) {
        return false;
    }
    hwaddr off = p - ram->ram;
    for (size_t i = 0; as->view && i < as->view->nr; i++) {
        const FlatRange *fr = &as->view->ranges[i];
        if (fr->mr == ram && off >= fr->offset &&
            off - fr->offset <= fr->size && len <= fr->size -
            (off - fr->offset)) {
            *gpa = fr->start + (off - fr->offset);
            return true;
        }
    }
    return false;
}

/* --- "info mtree" --- */

/* QEMU's kind of a region: an alias is of the kind of what it shows. */
static const char *mtree_kind(const MemoryRegion *mr)
{
    bool readonly = mr->readonly;

    while (mr->type == MR_ALIAS) {
        mr = mr->alias;
        readonly |= mr->readonly;
    }
    if (mr->type == MR_RAM) {
        return readonly ? "rom" : "ram";
    }
    return "i/o";
}

/* Last byte of a region of size bytes at start; UINT64_MAX means 2^64. */
static hwaddr mtree_end(hwaddr start, uint64_t size)
{
    if (size == UINT64_MAX) {
        return start + UINT64_MAX;
    }
    return start + (size ? size - 1 : 0);
}

/*
 * One region and its subregions, as QEMU's mtree_print_mr: two spaces per
 * level, disabled regions hidden but their subregions shown, subregions by
 * address and then priority, and the targets of aliases queued to be
 * printed on their own afterwards.
 */
static void mtree_print_region(GString *out, const MemoryRegion *mr,
                               unsigned level, hwaddr base,
                               GPtrArray *aliased)
{
    hwaddr start = base + mr->addr;
    hwaddr end = mtree_end(start, mr->size);

    if (mr->enabled) {
        for (unsigned i = 0; i < level; i++) {
            g_string_append(out, "  ");
        }
        g_string_append_printf(out, "%016" G_GINT64_MODIFIER "x-%016"
                               G_GINT64_MODIFIER "x (prio %d, %s): ",
                               start, end, mr->priority, mtree_kind(mr));
        if (mr->type == MR_ALIAS) {
            g_string_append_printf(out, "alias %s @%s %016" G_GINT64_MODIFIER
                                   "x-%016" G_GINT64_MODIFIER "x\n",
                                   mr->name, mr->alias->name,
                                   mr->alias_offset,
                                   mtree_end(mr->alias_offset, mr->size));
        } else {
            g_string_append_printf(out, "%s\n", mr->name);
        }
    }
    if (mr->type == MR_ALIAS &&
        !g_ptr_array_find(aliased, mr->alias, NULL)) {
        g_ptr_array_add(aliased, mr->alias);
    }

    GPtrArray *order = g_ptr_array_new();
    for (guint i = 0; i < mr->subregions->len; i++) {
        MemoryRegion *sub = g_ptr_array_index(mr->subregions, i);
        guint j;
        for (j = 0; j < order->len; j++) {
            MemoryRegion *o = g_ptr_array_index(order, j);
            if (sub->addr < o->addr ||
                (sub->addr == o->addr && sub->priority > o->priority)) {
                break;
            }
        }
        g_ptr_array_insert(order, j, sub);
    }
    for (guint i = 0; i < order->len; i++) {
        mtree_print_region(out, g_ptr_array_index(order, i), level + 1,
                           start, aliased);
    }
    g_ptr_array_free(order, TRUE);
}

void memory_print_mtree(Machine *m, GString *out)
{
    AddressSpace *spaces[] = { &m->as_mem, &m->as_io };
    GPtrArray *aliased = g_ptr_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(spaces); i++) {
        AddressSpace *as = spaces[i];
        if (!as->root) {
            continue;
        }
        g_string_append_printf(out, "address-space: %s\n", as->name);
        mtree_print_region(out, as->root, 1, 0, aliased);
        g_string_append_c(out, '\n');
    }
    /* the queue grows while it is printed: aliases of aliases */
    for (guint i = 0; i < aliased->len; i++) {
        MemoryRegion *mr = g_ptr_array_index(aliased, i);
        g_string_append_printf(out, "memory-region: %s\n", mr->name);
        mtree_print_region(out, mr, 1, 0, aliased);
        g_string_append_c(out, '\n');
    }
    g_ptr_array_free(aliased, TRUE);
}
