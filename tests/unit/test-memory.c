/* Memory map flattening, dispatch, ioeventfds and listener notification. */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "system/memory.h"

typedef struct Dev {
    uint64_t last_addr;
    uint64_t last_val;
    unsigned last_size;
    int writes;
} Dev;

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    Dev *d = opaque;
    d->last_addr = addr;
    d->last_size = size;
    return 0x1122334455667788ULL >> (8 * (8 - size)) ;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    Dev *d = opaque;
    d->last_addr = addr;
    d->last_val = val;
    d->last_size = size;
    d->writes++;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read, .write = dev_write, .impl_min = 1, .impl_max = 4,
};

static const MemoryRegionOps byte_ops = {
    .read = dev_read, .write = dev_write, .impl_min = 1, .impl_max = 1,
};

static void test_overlap_priority(void)
{
    MemoryRegion root, ram, io;
    AddressSpace as;
    Dev d = { 0 };

    memory_region_init_container(&root, "root", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&ram, "ram", 0x10000, NULL));
    memory_region_init_io(&io, "io", &dev_ops, &d, 0x1000);
    memory_region_add_subregion(&root, 0, &ram);
    memory_region_add_subregion_overlap(&root, 0x4000, &io, 1);
    address_space_init(&as, &root, "test");

    /* RAM below, the device in the middle, RAM above: three ranges */
    g_assert_cmpuint(as.view->nr, ==, 3);
    g_assert_true(as.view->ranges[0].mr == &ram);
    g_assert_cmpuint(as.view->ranges[0].size, ==, 0x4000);
    g_assert_true(as.view->ranges[1].mr == &io);
    g_assert_true(as.view->ranges[2].mr == &ram);
    g_assert_cmpuint(as.view->ranges[2].start, ==, 0x5000);
    g_assert_cmpuint(as.view->ranges[2].offset, ==, 0x5000);

    address_space_st(&as, 0x4010, 4, 0xdeadbeef);
    g_assert_cmpuint(d.last_addr, ==, 0x10);
    g_assert_cmpuint(d.last_val, ==, 0xdeadbeef);

    /* a lower-priority region under the device changes nothing */
    memory_region_set_enabled(&io, false);
    g_assert_cmpuint(as.view->nr, ==, 1);
    memory_region_set_enabled(&io, true);
    g_assert_cmpuint(as.view->nr, ==, 3);

    address_space_destroy(&as);
    memory_region_destroy(&io);
    memory_region_destroy(&ram);
    memory_region_destroy(&root);
}

static void test_alias_and_unassigned(void)
{
    MemoryRegion root, ram, lo, hi;
    AddressSpace as;
    uint8_t buf[8];

    memory_region_init_container(&root, "root", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&ram, "ram", 0x3000, NULL));
    memory_region_init_alias(&lo, "lo", &ram, 0, 0x2000);
    memory_region_init_alias(&hi, "hi", &ram, 0x2000, 0x1000);
    memory_region_add_subregion(&root, 0, &lo);
    memory_region_add_subregion(&root, 0x100000000ULL, &hi);
    address_space_init(&as, &root, "test");

    uint64_t v = 0x0123456789abcdefULL;
    g_assert_cmpint(address_space_st(&as, 0x100000000ULL, 8, v), ==, MEMTX_OK);
    g_assert_cmpmem((uint8_t *)ram.ram + 0x2000, 8, &v, 8);

    /* reads that run off the end of RAM see all-ones */
    g_assert_cmpint(address_space_read(&as, 0x1ffc, buf, 8), ==,
                    MEMTX_UNASSIGNED);
    g_assert_cmphex(buf[3], ==, 0);
    g_assert_cmphex(buf[4], ==, 0xff);
    g_assert_cmphex(buf[7], ==, 0xff);

    /* the very top of the address space (HMP "xp -1"): ends, all-ones */
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(address_space_read(&as, UINT64_MAX, buf, 1), ==,
                    MEMTX_UNASSIGNED);
    g_assert_cmphex(buf[0], ==, 0xff);
    g_assert_cmpint(address_space_read(&as, UINT64_MAX - 1, buf, 4), ==,
                    MEMTX_UNASSIGNED);

    /* DMA pointers only for ranges wholly in one RAM range */
    g_assert_nonnull(address_space_ram_ptr(&as, 0x1000, 0x1000, true));
    g_assert_null(address_space_ram_ptr(&as, 0x1800, 0x1000, true));
    g_assert_null(address_space_ram_ptr(&as, 0x50000, 1, false));
    g_assert_null(address_space_ram_ptr(&as, UINT64_MAX, 2, false));

    address_space_destroy(&as);
    memory_region_destroy(&hi);
    memory_region_destroy(&lo);
    memory_region_destroy(&ram);
    memory_region_destroy(&root);
}

static void test_access_size_adaptation(void)
{
    MemoryRegion root, io;
    AddressSpace as;
    Dev d = { 0 };
    uint64_t val;

    memory_region_init_container(&root, "root", 0x10000);
    memory_region_init_io(&io, "io", &byte_ops, &d, 8);
    memory_region_add_subregion(&root, 0x3f8, &io);
    address_space_init(&as, &root, "io");

    /* a 4-byte write to a byte-wide device becomes four byte writes */
    address_space_st(&as, 0x3f8, 4, 0x44332211);
    g_assert_cmpint(d.writes, ==, 4);
    g_assert_cmpuint(d.last_addr, ==, 3);
    g_assert_cmpuint(d.last_val, ==, 0x44);
    g_assert_cmpuint(d.last_size, ==, 1);

    address_space_ld(&as, 0x3f9, 2, &val);
    g_assert_cmpuint(d.last_size, ==, 1);
    g_assert_cmphex(val, ==, 0x1111);  /* two byte reads */

    /* unassigned ports read as all-ones */
    g_assert_cmpint(address_space_ld(&as, 0x80, 1, &val), ==,
                    MEMTX_UNASSIGNED);
    g_assert_cmphex(val, ==, 0xff);
    address_space_ld(&as, 0x80, 8, &val);
    g_assert_cmphex(val, ==, ~0ULL);
    address_space_ld(&as, 0xfffe, 2, &val);     /* the top of the space */
    g_assert_cmphex(val, ==, 0xffff);
    /* a read from a hole into the device: all-ones, then its bytes */
    g_assert_cmpint(address_space_ld(&as, 0x3f6, 4, &val), ==,
                    MEMTX_UNASSIGNED);
    g_assert_cmphex(val, ==, 0x1111ffff);

    address_space_destroy(&as);
    memory_region_destroy(&io);
    memory_region_destroy(&root);
}

typedef struct Recorder {
    MemoryListener l;
    int adds;
    int dels;
    hwaddr last_start;
    uint64_t last_size;
} Recorder;

static void rec_add(MemoryListener *l, const FlatRange *fr)
{
    Recorder *r = (Recorder *)l;
    r->adds++;
    r->last_start = fr->start;
    r->last_size = fr->size;
}

static void rec_del(MemoryListener *l, const FlatRange *fr)
{
    ((Recorder *)l)->dels++;
}

static void test_listener_sees_ram_changes(void)
{
    MemoryRegion root, ram, io;
    AddressSpace as;
    Recorder rec = { .l = { .region_add = rec_add, .region_del = rec_del } };

    memory_region_init_container(&root, "root", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&ram, "ram", 0x100000, NULL));
    memory_region_init_io(&io, "io", &dev_ops, NULL, 0x1000);
    memory_region_add_subregion(&root, 0, &ram);
    address_space_init(&as, &root, "test");
    address_space_add_listener(&as, &rec.l);
    g_assert_cmpint(rec.adds, ==, 1);   /* replay of the existing map */

    /* punching an MMIO hole splits the RAM slot in two */
    memory_transaction_begin();
    memory_region_add_subregion_overlap(&root, 0xa0000, &io, 1);
    memory_transaction_commit();
    g_assert_cmpint(rec.dels, ==, 1);
    g_assert_cmpint(rec.adds, ==, 3);
    g_assert_cmphex(rec.last_start, ==, 0xa1000);

    memory_region_del_subregion(&root, &io);
    g_assert_cmpint(rec.dels, ==, 3);
    g_assert_cmpint(rec.adds, ==, 4);
    g_assert_cmphex(rec.last_size, ==, 0x100000);

    address_space_destroy(&as);
    memory_region_destroy(&io);
    memory_region_destroy(&ram);
    memory_region_destroy(&root);
}

static void test_rom_is_readonly(void)
{
    MemoryRegion root, rom;
    AddressSpace as;
    uint32_t v = 0x12345678, r = 0;

    memory_region_init_container(&root, "root", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&rom, "rom", 0x1000, NULL));
    memory_region_set_readonly(&rom, true);
    memory_region_add_subregion(&root, 0xf0000, &rom);
    address_space_init(&as, &root, "test");

    address_space_write(&as, 0xf0000, &v, 4);
    address_space_read(&as, 0xf0000, &r, 4);
    g_assert_cmphex(r, ==, 0);
    address_space_write_rom(&as, 0xf0000, &v, 4);
    address_space_read(&as, 0xf0000, &r, 4);
    g_assert_cmphex(r, ==, v);
    g_assert_null(address_space_ram_ptr(&as, 0xf0000, 4, true));

    address_space_destroy(&as);
    memory_region_destroy(&rom);
    memory_region_destroy(&root);
}

/* --- ioeventfds --- */

/* How often fd was signalled since the last look (0 when it was not). */
static uint64_t eventfd_take(int fd)
{
    eventfd_t n = 0;

    if (eventfd_read(fd, &n) < 0) {
        return 0;
    }
    return n;
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* A virtio-mmio-like window: QueueNotify at 0x50, datamatch on the index. */
static void test_ioeventfd_datamatch_mmio(void)
{
    MemoryRegion root, io;
    AddressSpace as;
    Dev d = { 0 };
    int fd = new_eventfd();

    memory_region_init_container(&root, "root", UINT64_MAX);
    memory_region_init_io(&io, "io", &dev_ops, &d, 0x200);
    memory_region_add_subregion(&root, 0xfeb00000, &io);
    address_space_init(&as, &root, "test");
    memory_region_add_eventfd(&io, 0x50, 4, true, 1, fd);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 1);
    g_assert_cmphex(as.view->ioeventfds[0].addr, ==, 0xfeb00050);

    /* the matching value signals the eventfd; the device never sees it */
    address_space_st(&as, 0xfeb00050, 4, 1);
    g_assert_cmpuint(eventfd_take(fd), ==, 1);
    g_assert_cmpint(d.writes, ==, 0);
    address_space_st(&as, 0xfeb00050, 4, 1);
    address_space_st(&as, 0xfeb00050, 4, 1);
    g_assert_cmpuint(eventfd_take(fd), ==, 2);

    /* another value, size or address reaches the callback */
    address_space_st(&as, 0xfeb00050, 4, 0);
    g_assert_cmpint(d.writes, ==, 1);
    g_assert_cmpuint(d.last_addr, ==, 0x50);
    g_assert_cmpuint(d.last_val, ==, 0);
    address_space_st(&as, 0xfeb00050, 2, 1);
    g_assert_cmpint(d.writes, ==, 2);
    address_space_st(&as, 0xfeb00054, 4, 1);
    g_assert_cmpint(d.writes, ==, 3);
    g_assert_cmpuint(eventfd_take(fd), ==, 0);
    /* bits above the access size are not part of the value */
    address_space_st(&as, 0xfeb00050, 4, 0x100000001ULL);
    g_assert_cmpuint(eventfd_take(fd), ==, 1);
    /* reads are the device's */
    uint64_t v;
    address_space_ld(&as, 0xfeb00050, 4, &v);
    g_assert_cmpuint(d.last_size, ==, 4);

    /* removed: the callback has the writes again */
    memory_region_del_eventfd(&io, 0x50, 4, true, 1, fd);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 0);
    address_space_st(&as, 0xfeb00050, 4, 1);
    g_assert_cmpint(d.writes, ==, 4);
    g_assert_cmpuint(d.last_val, ==, 1);
    g_assert_cmpuint(eventfd_take(fd), ==, 0);

    address_space_destroy(&as);
    memory_region_destroy(&io);
    memory_region_destroy(&root);
    close(fd);
}

/* Port I/O: without datamatch any value; two eventfds on two queues. */
static void test_ioeventfd_pio(void)
{
    MemoryRegion root, io;
    AddressSpace as;
    Dev d = { 0 };
    int fd0 = new_eventfd(), fd1 = new_eventfd(), any = new_eventfd();

    memory_region_init_container(&root, "root", 0x10000);
    memory_region_init_io(&io, "io", &dev_ops, &d, 0x20);
    memory_region_add_subregion(&root, 0xc000, &io);
    address_space_init(&as, &root, "io");
    memory_transaction_begin();
    memory_region_add_eventfd(&io, 0x10, 2, true, 0, fd0);
    memory_region_add_eventfd(&io, 0x10, 2, true, 1, fd1);
    memory_region_add_eventfd(&io, 0x4, 1, false, 0, any);
    memory_transaction_commit();
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 3);

    address_space_st(&as, 0xc010, 2, 1);
    g_assert_cmpuint(eventfd_take(fd1), ==, 1);
    g_assert_cmpuint(eventfd_take(fd0), ==, 0);
    address_space_st(&as, 0xc010, 2, 0);
    g_assert_cmpuint(eventfd_take(fd0), ==, 1);
    address_space_st(&as, 0xc010, 2, 2);
    g_assert_cmpint(d.writes, ==, 1);

    /* a byte port: any value, and byte-wise writes (DMA, rep outs) too */
    address_space_st(&as, 0xc004, 1, 0xab);
    g_assert_cmpuint(eventfd_take(any), ==, 1);
    uint8_t buf[2] = { 1, 2 };
    address_space_write(&as, 0xc004, buf, 2);  /* 0xc004 eventfd, 0xc005 dev */
    g_assert_cmpuint(eventfd_take(any), ==, 1);
    g_assert_cmpint(d.writes, ==, 2);
    g_assert_cmpuint(d.last_addr, ==, 5);

    memory_region_del_eventfd(&io, 0x10, 2, true, 1, fd1);
    address_space_st(&as, 0xc010, 2, 1);
    g_assert_cmpuint(eventfd_take(fd1), ==, 0);
    g_assert_cmpint(d.writes, ==, 3);
    address_space_st(&as, 0xc010, 2, 0);
    g_assert_cmpuint(eventfd_take(fd0), ==, 1);

    address_space_destroy(&as);
    memory_region_destroy(&io);
    memory_region_destroy(&root);
    close(fd0);
    close(fd1);
    close(any);
}

/* Size 0: a write of any size at the address (KVM's "any length"). */
static void test_ioeventfd_any_size(void)
{
    MemoryRegion root, io;
    AddressSpace as;
    Dev d = { 0 };
    int fd = new_eventfd();

    memory_region_init_container(&root, "root", UINT64_MAX);
    memory_region_init_io(&io, "notify", &dev_ops, &d, 0x1000);
    memory_region_add_subregion(&root, 0xe0000000, &io);
    address_space_init(&as, &root, "test");
    memory_region_add_eventfd(&io, 0x8, 0, false, 0, fd);
    address_space_st(&as, 0xe0000008, 2, 1);
    address_space_st(&as, 0xe0000008, 4, 7);
    g_assert_cmpuint(eventfd_take(fd), ==, 2);
    address_space_st(&as, 0xe000000a, 2, 1);
    g_assert_cmpint(d.writes, ==, 1);

    address_space_destroy(&as);
    memory_region_destroy(&io);
    memory_region_destroy(&root);
    close(fd);
}

/*
 * The view has an eventfd only where its region shows: a region of higher
 * priority over it takes the write (with its own callback), and an alias
 * moves it.
 */
static void test_ioeventfd_overlap_and_alias(void)
{
    MemoryRegion root, dev, cover, alias;
    AddressSpace as;
    Dev d = { 0 }, c = { 0 };
    int fd = new_eventfd();

    memory_region_init_container(&root, "root", UINT64_MAX);
    memory_region_init_io(&dev, "dev", &dev_ops, &d, 0x100);
    memory_region_init_io(&cover, "cover", &dev_ops, &c, 0x10);
    memory_region_add_subregion(&root, 0x10000, &dev);
    memory_region_add_eventfd(&dev, 0x50, 4, true, 3, fd);
    address_space_init(&as, &root, "test");
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 1);

    /* covered by a region above it: gone from the view, writes its */
    memory_region_add_subregion_overlap(&root, 0x10050, &cover, 1);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 0);
    address_space_st(&as, 0x10050, 4, 3);
    g_assert_cmpint(c.writes, ==, 1);
    g_assert_cmpuint(eventfd_take(fd), ==, 0);
    /* half covered: the access would be split, so no eventfd either */
    memory_region_del_subregion(&root, &cover);
    memory_region_add_subregion_overlap(&root, 0x10052, &cover, 1);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 0);
    /* under it, lower priority: the eventfd is back */
    memory_region_del_subregion(&root, &cover);
    memory_region_add_subregion_overlap(&root, 0x10050, &cover, -1);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 1);
    address_space_st(&as, 0x10050, 4, 3);
    g_assert_cmpuint(eventfd_take(fd), ==, 1);
    g_assert_cmpint(c.writes, ==, 1);
    memory_region_del_subregion(&root, &cover);

    /* seen through an alias, the eventfd is at the alias's address too */
    memory_region_init_alias(&alias, "alias", &dev, 0x40, 0x40);
    memory_region_add_subregion(&root, 0x20000, &alias);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 2);
    g_assert_cmphex(as.view->ioeventfds[0].addr, ==, 0x10050);
    g_assert_cmphex(as.view->ioeventfds[1].addr, ==, 0x20010);
    address_space_st(&as, 0x20010, 4, 3);
    g_assert_cmpuint(eventfd_take(fd), ==, 1);
    g_assert_cmpint(d.writes, ==, 0);

    /* disabled: no eventfd, and the write hits nothing */
    memory_region_set_enabled(&dev, false);
    memory_region_set_enabled(&alias, false);
    g_assert_cmpuint(as.view->nr_ioeventfds, ==, 0);
    g_assert_cmpint(address_space_st(&as, 0x10050, 4, 3), ==,
                    MEMTX_UNASSIGNED);
    g_assert_cmpuint(eventfd_take(fd), ==, 0);

    address_space_destroy(&as);
    memory_region_destroy(&alias);
    memory_region_destroy(&cover);
    memory_region_destroy(&dev);
    memory_region_destroy(&root);
    close(fd);
}

typedef struct EventfdRecorder {
    MemoryListener l;
    GArray *live;       /* of MemoryRegionIoeventfd, as the listener knows */
    int adds, dels;
} EventfdRecorder;

static void rec_eventfd_add(MemoryListener *l, const MemoryRegionIoeventfd *e)
{
    EventfdRecorder *r = (EventfdRecorder *)l;
    r->adds++;
    g_array_append_val(r->live, *e);
}

static void rec_eventfd_del(MemoryListener *l, const MemoryRegionIoeventfd *e)
{
    EventfdRecorder *r = (EventfdRecorder *)l;
    r->dels++;
    for (guint i = 0; i < r->live->len; i++) {
        MemoryRegionIoeventfd *x =
            &g_array_index(r->live, MemoryRegionIoeventfd, i);
        if (x->addr == e->addr && x->fd == e->fd && x->data == e->data) {
            g_array_remove_index(r->live, i);
            return;
        }
    }
    g_assert_not_reached();     /* deleted what it never added */
}

/* The accelerator hears of eventfds as they come, move and go. */
static void test_ioeventfd_listener(void)
{
    MemoryRegion root, io;
    AddressSpace as;
    Dev d = { 0 };
    int fd = new_eventfd();
    EventfdRecorder rec = {
        .l = { .eventfd_add = rec_eventfd_add,
               .eventfd_del = rec_eventfd_del },
        .live = g_array_new(FALSE, FALSE, sizeof(MemoryRegionIoeventfd)),
    };

    memory_region_init_container(&root, "root", UINT64_MAX);
    memory_region_init_io(&io, "io", &dev_ops, &d, 0x200);
    memory_region_add_subregion(&root, 0x1000, &io);
    address_space_init(&as, &root, "test");
    memory_region_add_eventfd(&io, 0x50, 4, true, 0, fd);
    address_space_add_listener(&as, &rec.l);
    g_assert_cmpint(rec.adds, ==, 1);   /* replayed */
    g_assert_cmphex(g_array_index(rec.live, MemoryRegionIoeventfd, 0).addr,
                    ==, 0x1050);

    /* a second queue; changes elsewhere in the map leave both alone */
    memory_region_add_eventfd(&io, 0x50, 4, true, 1, fd);
    g_assert_cmpint(rec.adds, ==, 2);
    MemoryRegion other;
    memory_region_init_io(&other, "other", &dev_ops, NULL, 0x10);
    memory_region_add_subregion(&root, 0x8000, &other);
    g_assert_cmpint(rec.adds, ==, 2);
    g_assert_cmpint(rec.dels, ==, 0);

    /* the region moves (a BAR reprogrammed): del at old, add at new */
    memory_transaction_begin();
    memory_region_del_subregion(&root, &io);
    memory_region_add_subregion(&root, 0x4000, &io);
    memory_transaction_commit();
    g_assert_cmpint(rec.dels, ==, 2);
    g_assert_cmpint(rec.adds, ==, 4);
    g_assert_cmpuint(rec.live->len, ==, 2);
    for (guint i = 0; i < rec.live->len; i++) {
        MemoryRegionIoeventfd *e =
            &g_array_index(rec.live, MemoryRegionIoeventfd, i);
        g_assert_cmphex(e->addr, ==, 0x4050);
        g_assert_cmpuint(e->size, ==, 4);
        g_assert_true(e->match_data);
        g_assert_cmpint(e->fd, ==, fd);
    }

    memory_region_del_eventfd(&io, 0x50, 4, true, 0, fd);
    memory_region_del_eventfd(&io, 0x50, 4, true, 1, fd);
    g_assert_cmpuint(rec.live->len, ==, 0);

    address_space_destroy(&as);
    memory_region_destroy(&other);
    memory_region_destroy(&io);
    memory_region_destroy(&root);
    g_array_free(rec.live, TRUE);
    close(fd);
}

/* ---- dirty logging ---- */

typedef struct LogListener {
    MemoryListener l;
    int adds, dels, syncs;
    bool last_add_logged;
    MemoryRegion *sync_mark;    /* log_sync marks page 5 of this */
} LogListener;

static void log_region_add(MemoryListener *l, const FlatRange *fr)
{
    LogListener *ll = (LogListener *)l;
    ll->adds++;
    ll->last_add_logged = fr->dirty_log;
}

static void log_region_del(MemoryListener *l, const FlatRange *fr)
{
    ((LogListener *)l)->dels++;
}

/* As KVM would: the pages the guest wrote behind the API's back. */
static void log_sync(MemoryListener *l, const FlatRange *fr)
{
    LogListener *ll = (LogListener *)l;
    ll->syncs++;
    if (ll->sync_mark) {
        memory_region_set_dirty(ll->sync_mark, 5 * DIRTY_PAGE_SIZE, 1);
        ll->sync_mark = NULL;
    }
}

static void test_dirty_bitmap(void)
{
    MemoryRegion ram;
    DirtyBitmapSnapshot *snap;

    /* 300 pages and a bit: the bitmap's last word is partial */
    g_assert_true(memory_region_init_ram(&ram, "ram", 300 * 4096 + 10,
                                         NULL));
    /* not logging: marks are ignored, nothing is dirty */
    memory_region_set_dirty(&ram, 0, 4096);
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, ram.size));
    memory_region_set_log(&ram, true);
    /* turning it on marks everything (the contents were never seen) */
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 300 * 4096, 1));
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 0, ram.size));
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, ram.size));

    /* a write of 2 bytes across pages 63/64 (a bitmap word boundary) */
    memory_region_set_dirty(&ram, 64 * 4096 - 1, 2);
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, 63 * 4096));
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 65 * 4096,
                                                      4096));
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 63 * 4096 + 5,
                                                     1));
    /* page 64 is still dirty: only the asked range was cleared */
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 64 * 4096, 1));

    /* out of the region, empty and huge ranges are safe */
    memory_region_set_dirty(&ram, ram.size, 4096);
    memory_region_set_dirty(&ram, 299 * 4096, UINT64_MAX);
    memory_region_set_dirty(&ram, 3, 0);
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, 0));
    g_assert_false(memory_region_test_and_clear_dirty(&ram, UINT64_MAX, 2));
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 0, UINT64_MAX));
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, ram.size));

    /* a snapshot: taken and cleared at once, queried afterwards */
    memory_region_set_dirty(&ram, 2 * 4096, 4096);
    memory_region_set_dirty(&ram, 130 * 4096, 1);
    memory_region_set_dirty(&ram, 250 * 4096, 1);
    snap = memory_region_snapshot_and_clear_dirty(&ram, 4096, 200 * 4096);
    memory_region_set_dirty(&ram, 3 * 4096, 1);    /* after: not in it */
    g_assert_true(memory_region_snapshot_get_dirty(snap, 2 * 4096 + 7, 1));
    g_assert_false(memory_region_snapshot_get_dirty(snap, 3 * 4096, 4096));
    g_assert_true(memory_region_snapshot_get_dirty(snap, 100 * 4096,
                                                   40 * 4096));
    g_assert_false(memory_region_snapshot_get_dirty(snap, 131 * 4096,
                                                    60 * 4096));
    /* outside the snapshot's range counts as clean */
    g_assert_false(memory_region_snapshot_get_dirty(snap, 250 * 4096, 1));
    g_assert_false(memory_region_snapshot_get_dirty(snap, 0, 0));
    g_assert_false(memory_region_snapshot_get_dirty(snap, UINT64_MAX, 5));
    memory_region_snapshot_free(snap);
    /* page 250 was outside it: still dirty; 3 was marked afterwards */
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 250 * 4096, 1));
    g_assert_true(memory_region_test_and_clear_dirty(&ram, 3 * 4096, 1));
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, ram.size));
    snap = memory_region_snapshot_and_clear_dirty(&ram, ram.size, 10);
    g_assert_false(memory_region_snapshot_get_dirty(snap, 0, UINT64_MAX));
    memory_region_snapshot_free(snap);
    memory_region_destroy(&ram);
}

static void test_dirty_dma_and_listeners(void)
{
    MemoryRegion root, ram, vram, alias;
    AddressSpace as;
    LogListener ll = { .l = { .region_add = log_region_add,
                              .region_del = log_region_del,
                              .log_sync = log_sync } };
    uint8_t buf[16] = { 1, 2, 3 };

    memory_region_init_container(&root, "root", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&ram, "ram", 0x10000, NULL));
    g_assert_true(memory_region_init_ram(&vram, "vram", 0x10000, NULL));
    memory_region_init_alias(&alias, "vram-alias", &vram, 0x8000, 0x2000);
    memory_region_add_subregion(&root, 0, &ram);
    memory_region_add_subregion(&root, 0x100000, &vram);
    memory_region_add_subregion(&root, 0x200000, &alias);
    address_space_init(&as, &root, "test");
    address_space_add_listener(&as, &ll.l);
    g_assert_cmpint(ll.adds, ==, 3);
    g_assert_false(ll.last_add_logged);

    /* logging on: the two ranges of vram go and come back logged */
    memory_region_set_log(&vram, true);
    g_assert_cmpint(ll.dels, ==, 2);
    g_assert_cmpint(ll.adds, ==, 5);
    g_assert_true(ll.last_add_logged);
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0, vram.size));
    /* one sync per logged range of the region */
    g_assert_cmpint(ll.syncs, ==, 2);

    /* DMA: a block write, a CPU-style store, a mapped pointer */
    address_space_write(&as, 0x100000 + 0x1ff8, buf, sizeof(buf));
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x1000, 1));
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x2000, 1));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, vram.size));
    address_space_st(&as, 0x200000 + 0x1004, 4, 0xdeadbeef);  /* alias */
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x9000, 1));
    g_assert_nonnull(address_space_ram_ptr(&as, 0x100000 + 0x4000, 8,
                                           false));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, vram.size));
    g_assert_nonnull(address_space_ram_ptr(&as, 0x100000 + 0x4000, 8,
                                           true));
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x4000, 1));
    /* a region that does not log is left alone */
    address_space_write(&as, 0x10, buf, sizeof(buf));
    g_assert_false(memory_region_test_and_clear_dirty(&ram, 0, ram.size));

    /* what the accelerator logged is merged before the bits are read */
    ll.sync_mark = &vram;
    DirtyBitmapSnapshot *snap =
        memory_region_snapshot_and_clear_dirty(&vram, 0, vram.size);
    g_assert_true(memory_region_snapshot_get_dirty(snap, 5 * 4096, 1));
    g_assert_false(memory_region_snapshot_get_dirty(snap, 0, 5 * 4096));
    memory_region_snapshot_free(snap);

    /* logging off: the ranges come back without the flag */
    memory_region_set_log(&vram, false);
    g_assert_false(ll.last_add_logged);
    int syncs = ll.syncs;
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, vram.size));
    g_assert_cmpint(ll.syncs, ==, syncs);

    address_space_destroy(&as);
    memory_region_del_subregion(&root, &alias);
    memory_region_destroy(&alias);
    memory_region_destroy(&vram);
    memory_region_destroy(&ram);
    memory_region_destroy(&root);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/memory/overlap-priority", test_overlap_priority);
    g_test_add_func("/memory/alias-and-unassigned", test_alias_and_unassigned);
    g_test_add_func("/memory/access-size-adaptation",
                    test_access_size_adaptation);
    g_test_add_func("/memory/listener-sees-ram-changes",
                    test_listener_sees_ram_changes);
    g_test_add_func("/memory/rom-is-readonly", test_rom_is_readonly);
    g_test_add_func("/memory/ioeventfd/datamatch-mmio",
                    test_ioeventfd_datamatch_mmio);
    g_test_add_func("/memory/ioeventfd/pio", test_ioeventfd_pio);
    g_test_add_func("/memory/ioeventfd/any-size", test_ioeventfd_any_size);
    g_test_add_func("/memory/ioeventfd/overlap-and-alias",
                    test_ioeventfd_overlap_and_alias);
    g_test_add_func("/memory/ioeventfd/listener", test_ioeventfd_listener);
    g_test_add_func("/memory/dirty/bitmap", test_dirty_bitmap);
    g_test_add_func("/memory/dirty/dma-and-listeners",
                    test_dirty_dma_and_listeners);
    return g_test_run();
}
