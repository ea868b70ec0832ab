/* Memory map flattening, dispatch and listener notification. */
#include <string.h>

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
    address_space_ld(&as, 0x80, 1, &val);
    g_assert_cmphex(val, ==, 0xff);

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
    return g_test_run();
}
