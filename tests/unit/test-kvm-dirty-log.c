/*
 * Dirty logging under KVM: a RAM region that logs is a memory slot with
 * KVM_MEM_LOG_DIRTY_PAGES, and the pages the guest wrote there (which the
 * memory API never sees) are fetched with KVM_GET_DIRTY_LOG when the
 * region's bits are read. A tiny multiboot guest writes one page once and
 * another in a loop. Skips where /dev/kvm cannot make a VM.
 */
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "../../accel/kvm/kvm_int.h"   /* the memory slots */
#include "hw/i386/x86.h"
#include "system/runstate.h"
#include "system/vm.h"

#define VRAM_BASE   0x20000000u

/*
 * Multiboot header (load at 1 MiB, entry 0x100020), then flat 32-bit code:
 *   mov dword [VRAM_BASE + 0x5ff0], 0x9abcdef0
 *   loop: inc eax; mov [VRAM_BASE + 0x3010], eax; jmp loop
 */
static const uint8_t guest_image[] = {
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00,   /* magic, flags */
    0xfe, 0x4f, 0x51, 0xe4, 0x00, 0x00, 0x10, 0x00,   /* checksum, header */
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,   /* load, load end */
    0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00,   /* bss end, entry */
    0xc7, 0x05, 0xf0, 0x5f, 0x00, 0x20, 0xf0, 0xde, 0xbc, 0x9a,
    0x40,
    0xa3, 0x10, 0x30, 0x00, 0x20,
    0xeb, 0xf8,
};

/* The flags of the KVM memory slot at guest address start, or -1. */
static int slot_flags(Machine *m, hwaddr start)
{
    KVMState *s = kvm_state(m);

    for (int i = 0; i < s->nr_slots; i++) {
        if (s->slots[i].used && s->slots[i].start == start) {
            return s->slots[i].flags;
        }
    }
    return -1;
}

static Machine *kvm_machine(char **kernel, GError **errp)
{
    int fd = g_file_open_tmp("vireo-dirty-XXXXXX", kernel, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, guest_image, sizeof(guest_image)), ==,
                    sizeof(guest_image));
    close(fd);
    MachineConfig cfg = {
        .machine_type = "pc", .accel = "kvm", .cpu_model = "host",
        .ram_size = 32 << 20, .smp_cpus = 1, .smp_max_cpus = 1,
        .sockets = 1, .cores = 1, .threads = 1, .nodefaults = true,
        .kernel = *kernel,
    };
    return machine_create(&cfg, errp);
}

/* Whether a page of [off, off+len) of mr gets dirty within a second. */
static bool becomes_dirty(MemoryRegion *mr, hwaddr off, uint64_t len)
{
    for (int i = 0; i < 1000; i++) {
        bql_lock();
        bool d = memory_region_test_and_clear_dirty(mr, off, len);
        bql_unlock();
        if (d) {
            return true;
        }
        g_usleep(1000);
    }
    return false;
}

static void test_kvm_dirty_log(void)
{
    GError *err = NULL;
    char *kernel = NULL;
    MemoryRegion vram;

    bql_lock();
    Machine *m = kvm_machine(&kernel, &err);
    g_unlink(kernel);
    g_free(kernel);
    if (!m) {
        g_test_skip(err->message);
        g_clear_error(&err);
        bql_unlock();
        return;
    }
    g_assert_true(memory_region_init_ram(&vram, "vram", 0x10000, NULL));
    memory_region_set_log(&vram, true);
    memory_region_add_subregion(m->sysmem, VRAM_BASE, &vram);
    /* RAM in a slot: the guest's stores never exit to us */
    g_assert_cmpint(slot_flags(m, VRAM_BASE), ==, KVM_MEM_LOG_DIRTY_PAGES);
    /* turning the log on marked it all: start clean */
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));
    g_assert_true(vcpus_start(m, false, &err));
    g_assert_no_error(err);
    bql_unlock();

    /* the looping store keeps dirtying its page */
    g_assert_true(becomes_dirty(&vram, 0x3000, 0x1000));
    g_assert_true(becomes_dirty(&vram, 0x3000, 0x1000));
    const uint8_t *p = memory_region_get_ram_ptr(&vram);
    uint32_t v;
    memcpy(&v, p + 0x5ff0, 4);
    g_assert_cmphex(v, ==, 0x9abcdef0);

    bql_lock();
    /* the store done once was fetched from KVM with the others and kept
     * until asked for; then it is clean, as are pages never written */
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x5000,
                                                     0x1000));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0x5000,
                                                      0x1000));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, 0x3000));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0x4000,
                                                      0x1000));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0x6000,
                                                      0xa000));

    /* logging off: the slot is remade without the flag, the loop goes on
     * writing, nothing is logged */
    memory_region_set_log(&vram, false);
    g_assert_cmpint(slot_flags(m, VRAM_BASE), ==, 0);
    bql_unlock();
    uint32_t before;
    memcpy(&before, p + 0x3010, 4);
    g_usleep(20000);
    memcpy(&v, p + 0x3010, 4);
    g_assert_cmphex(v, !=, before);
    bql_lock();
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));
    vcpus_stop(m);
    memory_region_del_subregion(m->sysmem, &vram);
    machine_destroy(m);
    memory_region_destroy(&vram);
    bql_unlock();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm-dirty-log/guest-writes", test_kvm_dirty_log);
    return g_test_run();
}
