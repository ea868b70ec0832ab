/*
 * Memory API: a tree of MemoryRegions (RAM, MMIO/PIO callbacks, aliases,
 * containers with priorities) flattened into a FlatView per AddressSpace.
 * Listeners (the KVM slot manager) are told about RAM ranges on each commit,
 * and about ioeventfds: writes that signal an eventfd instead of calling a
 * device (QEMU's ioeventfd, KVM_IOEVENTFD).
 * All map changes and dispatch happen under the big lock (see runstate.h).
 */
#ifndef SYSTEM_MEMORY_H
#define SYSTEM_MEMORY_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t hwaddr;

typedef struct MemoryRegion MemoryRegion;
typedef struct AddressSpace AddressSpace;
typedef struct FlatView FlatView;
typedef struct Machine Machine;

/*
 * Callbacks of an I/O region. The core splits or widens accesses so that the
 * device only ever sees sizes in [impl_min, impl_max] (0 means 1 and 8), at
 * offsets relative to the region start. Reads of unimplemented sizes
 * are assembled little-endian.
 */
typedef struct MemoryRegionOps {
    uint64_t (*read)(void *opaque, hwaddr addr, unsigned size);
    void (*write)(void *opaque, hwaddr addr, uint64_t val, unsigned size);
    unsigned impl_min;
    unsigned impl_max;
} MemoryRegionOps;

typedef enum MemoryRegionType {
    MR_CONTAINER,
    MR_RAM,
    MR_IO,
    MR_ALIAS,
} MemoryRegionType;

/*
 * A write that signals an eventfd instead of reaching the region's write
 * callback: size bytes at addr (an offset in the region, or in a FlatView
 * a guest address), and with match_data only when the value written
 * equals data. size 0 means a write of any size (then without match_data),
 * as KVM's "any length" ioeventfd.
 */
typedef struct MemoryRegionIoeventfd {
    hwaddr addr;
    unsigned size;
    bool match_data;
    uint64_t data;          /* masked to size bytes */
    int fd;                 /* an eventfd(2); the caller owns it */
} MemoryRegionIoeventfd;

struct MemoryRegion {
    MemoryRegionType type;
    char *name;
    uint64_t size;
    bool enabled;
    bool readonly;          /* ROM: guest writes are discarded (or, with
                               ops, reach ops->write: a ROM device) */
    /* MR_RAM */
    uint8_t *ram;
    bool dirty_log;         /* some client logs: the display or migration */
    bool log_display;       /* memory_region_set_log */
    bool log_migration;     /* memory_region_set_log_migration */
    uint64_t *dirty;        /* a bit per page; allocated on first log */
    uint64_t *dirty_migration;  /* the same, for migration */
    uint64_t *dma_migration;    /* pages DMA may still write (migration) */
    /* MR_IO; MR_RAM of a ROM device (only its write) */
    const MemoryRegionOps *ops;
    void *opaque;
    GArray *ioeventfds;     /* of MemoryRegionIoeventfd, NULL: none yet */
    /* MR_ALIAS */
    MemoryRegion *alias;
    hwaddr alias_offset;
    /* placement in the parent */
    MemoryRegion *parent;
    hwaddr addr;
    int priority;
    GPtrArray *subregions;  /* of MemoryRegion*, sorted by priority desc */
};

/* One contiguous piece of a FlatView. */
typedef struct FlatRange {
    hwaddr start;           /* guest address */
    uint64_t size;
    MemoryRegion *mr;       /* terminal region: RAM or IO */
    hwaddr offset;          /* offset of start within mr */
    bool readonly;
    bool dirty_log;         /* mr logs its writes (memory_region_set_log) */
} FlatRange;

struct FlatView {
    FlatRange *ranges;      /* sorted, non-overlapping */
    size_t nr;
    /*
     * The ioeventfds of the regions where the whole access they wait for
     * lands in one range of their region, at guest addresses, sorted by
     * address.
     */
    MemoryRegionIoeventfd *ioeventfds;
    size_t nr_ioeventfds;
};

typedef struct MemoryListener MemoryListener;
struct MemoryListener {
    /* Called for each RAM range that appeared or vanished in a commit. */
    void (*region_add)(MemoryListener *l, const FlatRange *fr);
    void (*region_del)(MemoryListener *l, const FlatRange *fr);
    /*
     * Called for each ioeventfd of the view that appeared or vanished in a
     * commit (e->addr is a guest address of the listened space). An
     * accelerator that lets the guest's writes signal it directly (KVM)
     * registers it; where it does not, the write reaches the memory API's
     * dispatch, which signals the eventfd itself.
     */
    void (*eventfd_add)(MemoryListener *l, const MemoryRegionIoeventfd *e);
    void (*eventfd_del)(MemoryListener *l, const MemoryRegionIoeventfd *e);
    /*
     * Called for a RAM range with dirty_log before its region's bitmap is
     * read: an accelerator whose guest writes RAM behind the memory API's
     * back (KVM) adds the pages it saw written with memory_region_set_dirty.
     */
    void (*log_sync)(MemoryListener *l, const FlatRange *fr);
    MemoryListener *next;
};

struct AddressSpace {
    char *name;
    MemoryRegion *root;
    FlatView *view;
    MemoryListener *listeners;
};

void memory_region_init_container(MemoryRegion *mr, const char *name,
                                  uint64_t size);
/* Anonymous host memory; fails with a GError naming the region. */
bool memory_region_init_ram(MemoryRegion *mr, const char *name, uint64_t size,
                            GError **errp);
void memory_region_init_io(MemoryRegion *mr, const char *name,
                           const MemoryRegionOps *ops, void *opaque,
                           uint64_t size);
/*
 * A ROM device (QEMU's romd mode): RAM that the guest reads and executes
 * directly, read-only to it, whose guest writes reach ops->write (at
 * offsets in the region) instead of being discarded; loaders still write
 * the RAM (address_space_write_rom). Used by flash memories, which take
 * commands by writes to their array.
 */
bool memory_region_init_rom_device(MemoryRegion *mr, const char *name,
                                   const MemoryRegionOps *ops, void *opaque,
                                   uint64_t size, GError **errp);
void memory_region_init_alias(MemoryRegion *mr, const char *name,
                              MemoryRegion *orig, hwaddr offset,
                              uint64_t size);
void memory_region_destroy(MemoryRegion *mr);

void memory_region_add_subregion(MemoryRegion *parent, hwaddr offset,
                                 MemoryRegion *sub);
void memory_region_add_subregion_overlap(MemoryRegion *parent, hwaddr offset,
                                         MemoryRegion *sub, int priority);
void memory_region_del_subregion(MemoryRegion *parent, MemoryRegion *sub);
void memory_region_set_enabled(MemoryRegion *mr, bool enabled);
void memory_region_set_readonly(MemoryRegion *mr, bool readonly);
void *memory_region_get_ram_ptr(MemoryRegion *mr);

/*
 * Makes a write of size bytes (1, 2, 4, 8, or 0 for any size) at offset
 * addr of the I/O region mr signal the eventfd fd instead of calling the
 * region's write callback; with match_data only a write of the value data
 * (other values reach the callback). Every accelerator sees the same: KVM
 * signals fd in the kernel, the others through the memory API's dispatch.
 * The eventfd's reader runs on the main loop, so the guest's write is
 * handled later than the callback would be.
 *
 * memory_region_del_eventfd takes the same arguments to remove it; fd must
 * stay open until that change is committed (the accelerator names the fd
 * to unregister it).
 */
void memory_region_add_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size,
                               bool match_data, uint64_t data, int fd);
void memory_region_del_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size,
                               bool match_data, uint64_t data, int fd);

/*
 * Dirty logging (QEMU's DIRTY_MEMORY_VGA, one client): while a RAM region
 * logs, every write into it sets the bit of each 4 KiB page it touched —
 * DMA and loaders through the functions below, the software CPU's
 * stores, and under KVM the pages the kernel logged (fetched by log_sync
 * when the bitmap is read). A device reads and clears the bits of a range
 * with memory_region_test_and_clear_dirty or, for many queries against
 * one moment, memory_region_snapshot_and_clear_dirty. Bits are set after
 * the data is written (address_space_ram_ptr sets them when it hands out
 * the pointer) and cleared before the reader looks at the data, so a write
 * racing with a reader is seen now or on the next read. One client: the
 * display device that turned logging on owns the bits.
 *
 * Turning logging on marks the whole region dirty (what it holds was never
 * seen); it changes the map, so listeners see the region's ranges go and
 * come back with dirty_log set.
 */
#define DIRTY_PAGE_BITS 12
#define DIRTY_PAGE_SIZE (1u << DIRTY_PAGE_BITS)

void memory_region_set_log(MemoryRegion *mr, bool log);
/* Marks [offset, offset+size) of a logging region dirty (no-op if not). */
void memory_region_set_dirty(MemoryRegion *mr, hwaddr offset, uint64_t size);
/* Whether any page of the range is dirty; clears the range's bits. */
bool memory_region_test_and_clear_dirty(MemoryRegion *mr, hwaddr offset,
                                        uint64_t size);

/* The dirty bits of a range at one moment, cleared in the region. */
typedef struct DirtyBitmapSnapshot DirtyBitmapSnapshot;
DirtyBitmapSnapshot *memory_region_snapshot_and_clear_dirty(MemoryRegion *mr,
                                                            hwaddr offset,
                                                            uint64_t size);
/* Whether a page of [offset, offset+size) was dirty in snap (offsets are
 * the region's; outside the snapshot's range counts as clean). */
bool memory_region_snapshot_get_dirty(const DirtyBitmapSnapshot *snap,
                                      hwaddr offset, uint64_t size);
void memory_region_snapshot_free(DirtyBitmapSnapshot *snap);

/*
 * Migration's own dirty client, beside the display's: the same writes set
 * the bits of both bitmaps while both log. Turning it on marks every page
 * dirty (nothing was sent yet). memory_region_migration_sync fetches the
 * accelerators' logs, moves the region's bits into bitmap (a bit per page,
 * as many words as the region has pages / 64, rounded up) and returns how
 * many pages became dirty there. Big lock held for both.
 */
void memory_region_set_log_migration(MemoryRegion *mr, bool log);
uint64_t memory_region_migration_sync(MemoryRegion *mr, uint64_t *bitmap);
/*
 * The pages handed out by address_space_ram_ptr for writing while
 * migration logged: their data may land after the pass that sent them
 * (a disk read completing). Moved into bitmap like the above, for the
 * last pass, once the disks are drained.
 */
uint64_t memory_region_migration_take_dma(MemoryRegion *mr,
                                          uint64_t *bitmap);
/* Every RAM region (RAM, ROM, ROM devices) in creation order (borrowed). */
const GPtrArray *memory_ram_regions(void);

/*
 * Changes to the tree are batched: every change marks the address spaces
 * dirty and memory_commit() (or the outermost transaction end) flattens
 * them and notifies the listeners.
 */
void memory_transaction_begin(void);
void memory_transaction_commit(void);

void address_space_init(AddressSpace *as, MemoryRegion *root,
                        const char *name);
void address_space_destroy(AddressSpace *as);
void address_space_add_listener(AddressSpace *as, MemoryListener *l);
const FlatRange *address_space_lookup(AddressSpace *as, hwaddr addr);

typedef enum MemTxResult {
    MEMTX_OK = 0,
    MEMTX_UNASSIGNED = 1,   /* part of the range hit nothing */
} MemTxResult;

/*
 * Accesses from a CPU or DMA. Unassigned reads return all-ones, unassigned
 * writes are dropped, as on a PC bus; the result says whether that happened.
 */
MemTxResult address_space_read(AddressSpace *as, hwaddr addr, void *buf,
                               uint64_t len);
MemTxResult address_space_write(AddressSpace *as, hwaddr addr,
                                const void *buf, uint64_t len);
/* Writes into RAM and ROM alike (loaders filling firmware areas). */
MemTxResult address_space_write_rom(AddressSpace *as, hwaddr addr,
                                    const void *buf, uint64_t len);
/* A single access of 1, 2, 4 or 8 bytes, as a CPU performs it. */
MemTxResult address_space_ld(AddressSpace *as, hwaddr addr, unsigned size,
                             uint64_t *val);
MemTxResult address_space_st(AddressSpace *as, hwaddr addr, unsigned size,
                             uint64_t val);
/*
 * Called after every write into RAM through the functions above (DMA,
 * loaders), so that the software CPU drops code it decoded from there.
 */
extern void (*memory_ram_write_notify)(hwaddr addr, uint64_t len);

/*
 * The one way for device DMA to reach guest RAM directly: a host pointer if
 * [addr, addr+len) lies wholly inside one RAM range, else NULL.
 */
void *address_space_ram_ptr(AddressSpace *as, hwaddr addr, uint64_t len,
                            bool is_write);

/*
 * Gives the host back the memory behind [gpa, gpa+len) of guest RAM (the
 * balloon's inflated pages, free pages the guest reported): MADV_DONTNEED,
 * after which the guest reads zeros there and the host commits memory
 * again only when the guest writes. The range must be 4 KiB aligned and
 * lie wholly in one writable range of as that shows ram (the machine's
 * RAM: not ROM, VRAM, MMIO or a hole); anything else is refused (false)
 * and nothing is discarded, since the addresses come from the guest.
 */
bool ram_discard_range(AddressSpace *as, MemoryRegion *ram, hwaddr gpa,
                       uint64_t len);
/*
 * The guest address where as shows the len bytes of ram at host pointer
 * host (a buffer a device got from address_space_ram_ptr); false if as
 * does not show them all in one range.
 */
bool address_space_ram_gpa(AddressSpace *as, MemoryRegion *ram,
                           const void *host, uint64_t len, hwaddr *gpa);

/*
 * QEMU 7.2's "info mtree": the region trees of the address spaces "memory"
 * and "I/O" (ranges, priority, ram/rom/i/o, names, aliases with their
 * targets), then each aliased region on its own.
 */
void memory_print_mtree(Machine *m, GString *out);

#endif
