/*
 * vCPU and accelerator state for snapshots and migration
 * (migration/cpus.c, target/x86/machine.c, accel/kvm/kvm-state.c).
 *
 * A tiny multiboot guest switches to long mode and counts in EAX, EBX
 * (3 x), R12 (5 x), XMM0 and on the stack up to a limit the test writes
 * into guest RAM, then spins until the limit moves; every iteration also
 * does a port read (a KVM I/O exit that must be completed before the
 * registers are read). The test stops the VM at one count, saves the vCPU
 * state, lets the guest count on, loads the state, and checks that the
 * guest goes on from the saved count with consistent registers; on the
 * software CPU a save right after the load gives the same bytes. Hostile
 * streams (truncated at every length, corrupted bytes, for another
 * accelerator, vCPU count or irqchip mode, invalid register values, values
 * only KVM refuses) are refused and change nothing. The KVM cases skip
 * where /dev/kvm cannot make a VM; the Linux case runs when
 * tests/functional/test_cpu_state.py gives it Debian's kernel.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "../../accel/kvm/kvm_int.h"   /* the vCPU's fd */
#include "chardev/char.h"
#include "hw/i386/x86.h"
#include "migration/cpus.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "system/timer.h"
#include "system/vm.h"
#include "target/x86/cpu.h"
#include "target/x86/inspect.h"
#include "target/x86/machine.h"

#define LIMIT   0x300000u   /* the guest counts up to this value */
#define CTR     0x300004u   /* the count, from ECX after push/pop */
#define CTR3    0x300008u   /* EBX: 3 x the count */
#define CTRX    0x30000cu   /* XMM0's low dword: the count again */
#define BAD     0x300010u   /* 0xbad when the registers disagreed */

/*
 * Multiboot header (load at 1 MiB, entry 0x100020), then 32-bit code that
 * maps the first 32 MiB with 2 MiB pages at 0x400000, turns on PAE,
 * OSFXSR, EFER.LME and paging, and jumps to 64-bit code (the nested KVM
 * of the test hosts runs that natively, and emulates 32-bit code without
 * SSE):
 *      mov rsp, 0x200000; pxor xmm0, xmm0; pcmpeqd xmm1, xmm1
 *      xor eax, eax; xor ebx, ebx; xor r12d, r12d
 * loop: mov edx, [LIMIT]; cmp eax, edx; jae loop
 *      inc eax; add ebx, 3; add r12, 5; psubd xmm0, xmm1; push rax; pop rcx
 *      mov [CTR], ecx; mov [CTR3], ebx; movd [CTRX], xmm0
 *      lea edx, [rax + rax * 2]; cmp ebx, edx; jne bad
 *      movd edx, xmm0; cmp eax, edx; jne bad
 *      lea rdx, [rax + rax * 4]; cmp r12, rdx; jne bad
 *      xchg eax, esi; in al, 0x80; xchg eax, esi; jmp loop
 * bad: mov dword [BAD], 0xbad; jmp bad
 * (The source is kept in the comment; the bytes are GNU as output.)
 */
static const uint8_t guest_image[] = {
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00, 0xfe, 0x4f, 0x51, 0xe4,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00, 0xbc, 0x00, 0x00, 0x20,
    0x00, 0xbf, 0x00, 0x00, 0x40, 0x00, 0x31, 0xc0, 0xb9, 0x00, 0x0c, 0x00,
    0x00, 0xf3, 0xab, 0xc7, 0x05, 0x00, 0x00, 0x40, 0x00, 0x03, 0x10, 0x40,
    0x00, 0xc7, 0x05, 0x00, 0x10, 0x40, 0x00, 0x03, 0x20, 0x40, 0x00, 0xbf,
    0x00, 0x20, 0x40, 0x00, 0xb8, 0x83, 0x00, 0x00, 0x00, 0xb9, 0x10, 0x00,
    0x00, 0x00, 0x89, 0x07, 0x05, 0x00, 0x00, 0x20, 0x00, 0x83, 0xc7, 0x08,
    0xe2, 0xf4, 0xb8, 0x00, 0x00, 0x40, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20,
    0xe0, 0x0d, 0x20, 0x06, 0x00, 0x00, 0x0f, 0x22, 0xe0, 0xb9, 0x80, 0x00,
    0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f,
    0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0x0f, 0x01,
    0x15, 0x38, 0x01, 0x10, 0x00, 0xea, 0x9c, 0x00, 0x10, 0x00, 0x08, 0x00,
    0xb8, 0x10, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x48,
    0xc7, 0xc4, 0x00, 0x00, 0x20, 0x00, 0x66, 0x0f, 0xef, 0xc0, 0x66, 0x0f,
    0x76, 0xc9, 0x31, 0xc0, 0x31, 0xdb, 0x45, 0x31, 0xe4, 0x8b, 0x14, 0x25,
    0x00, 0x00, 0x30, 0x00, 0x39, 0xd0, 0x73, 0xf5, 0xff, 0xc0, 0x83, 0xc3,
    0x03, 0x49, 0x83, 0xc4, 0x05, 0x66, 0x0f, 0xfa, 0xc1, 0x50, 0x59, 0x89,
    0x0c, 0x25, 0x04, 0x00, 0x30, 0x00, 0x89, 0x1c, 0x25, 0x08, 0x00, 0x30,
    0x00, 0x66, 0x0f, 0x7e, 0x04, 0x25, 0x0c, 0x00, 0x30, 0x00, 0x8d, 0x14,
    0x40, 0x39, 0xd3, 0x75, 0x17, 0x66, 0x0f, 0x7e, 0xc2, 0x39, 0xd0, 0x75,
    0x0f, 0x48, 0x8d, 0x14, 0x80, 0x49, 0x39, 0xd4, 0x75, 0x06, 0x96, 0xe4,
    0x80, 0x96, 0xeb, 0xb1, 0xc7, 0x04, 0x25, 0x10, 0x00, 0x30, 0x00, 0xad,
    0x0b, 0x00, 0x00, 0xeb, 0xf3, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x9a, 0xaf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00,
    0x17, 0x00, 0x20, 0x01, 0x10, 0x00,
};

/*
 * The same guest without the SSE instructions (XMM0's count is EAX
 * stored again) for the nested KVM of the test hosts, whose instruction
 * emulator stops at them.
 */
static const uint8_t kvm_guest_image[] = {
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00, 0xfe, 0x4f, 0x51, 0xe4,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00, 0xbc, 0x00, 0x00, 0x20,
    0x00, 0xbf, 0x00, 0x00, 0x40, 0x00, 0x31, 0xc0, 0xb9, 0x00, 0x0c, 0x00,
    0x00, 0xf3, 0xab, 0xc7, 0x05, 0x00, 0x00, 0x40, 0x00, 0x03, 0x10, 0x40,
    0x00, 0xc7, 0x05, 0x00, 0x10, 0x40, 0x00, 0x03, 0x20, 0x40, 0x00, 0xbf,
    0x00, 0x20, 0x40, 0x00, 0xb8, 0x83, 0x00, 0x00, 0x00, 0xb9, 0x10, 0x00,
    0x00, 0x00, 0x89, 0x07, 0x05, 0x00, 0x00, 0x20, 0x00, 0x83, 0xc7, 0x08,
    0xe2, 0xf4, 0xb8, 0x00, 0x00, 0x40, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20,
    0xe0, 0x0d, 0x20, 0x06, 0x00, 0x00, 0x0f, 0x22, 0xe0, 0xb9, 0x80, 0x00,
    0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f,
    0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0x0f, 0x01,
    0x15, 0x20, 0x01, 0x10, 0x00, 0xea, 0x9c, 0x00, 0x10, 0x00, 0x08, 0x00,
    0xb8, 0x10, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x48,
    0xc7, 0xc4, 0x00, 0x00, 0x20, 0x00, 0x31, 0xc0, 0x31, 0xdb, 0x45, 0x31,
    0xe4, 0x8b, 0x14, 0x25, 0x00, 0x00, 0x30, 0x00, 0x39, 0xd0, 0x73, 0xf5,
    0xff, 0xc0, 0x83, 0xc3, 0x03, 0x49, 0x83, 0xc4, 0x05, 0x50, 0x59, 0x89,
    0x0c, 0x25, 0x04, 0x00, 0x30, 0x00, 0x89, 0x1c, 0x25, 0x08, 0x00, 0x30,
    0x00, 0x89, 0x04, 0x25, 0x0c, 0x00, 0x30, 0x00, 0x8d, 0x14, 0x40, 0x39,
    0xd3, 0x75, 0x0f, 0x48, 0x8d, 0x14, 0x80, 0x49, 0x39, 0xd4, 0x75, 0x06,
    0x96, 0xe4, 0x80, 0x96, 0xeb, 0xbf, 0xc7, 0x04, 0x25, 0x10, 0x00, 0x30,
    0x00, 0xad, 0x0b, 0x00, 0x00, 0xeb, 0xf3, 0x0f, 0x1f, 0x44, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x9a, 0xaf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00,
    0x17, 0x00, 0x08, 0x01, 0x10, 0x00,
};

typedef struct TestVM {
    Machine *m;
    char *kernel;
} TestVM;

/* A started VM (vCPUs running), or NULL with *skip set. */
static bool vm_create_irqchip(TestVM *t, const char *accel, int ncpus,
                              KernelIrqchip irqchip, char **skip)
{
    GError *err = NULL;
    int fd = g_file_open_tmp("vireo-cpust-XXXXXX", &t->kernel, NULL);

    g_assert_cmpint(fd, >=, 0);
    bool kvm = !strcmp(accel, "kvm");
    const uint8_t *image = kvm ? kvm_guest_image : guest_image;
    size_t size = kvm ? sizeof(kvm_guest_image) : sizeof(guest_image);

    g_assert_cmpint(write(fd, image, size), ==, size);
    close(fd);
    MachineConfig cfg = {
        .machine_type = "pc", .accel = accel, .cpu_model = "host",
        .ram_size = 32 << 20, .smp_cpus = ncpus, .smp_max_cpus = ncpus,
        .sockets = 1, .cores = ncpus, .threads = 1, .nodefaults = true,
        .kernel = t->kernel, .kernel_irqchip = irqchip,
    };
    bql_lock();
    t->m = machine_create(&cfg, &err);
    g_unlink(t->kernel);
    if (!t->m) {
        *skip = g_strdup(err->message);
        g_clear_error(&err);
        bql_unlock();
        g_free(t->kernel);
        return false;
    }
    machine_set_current(t->m);
    g_assert_true(vcpus_start(t->m, true, &err));
    g_assert_no_error(err);
    runstate_set(RUN_STATE_PAUSED);
    bql_unlock();
    return true;
}

static bool vm_create(TestVM *t, const char *accel, int ncpus, char **skip)
{
    return vm_create_irqchip(t, accel, ncpus, KERNEL_IRQCHIP_ON, skip);
}

static void vm_destroy(TestVM *t)
{
    bql_lock();
    vcpus_stop(t->m);
    machine_set_current(NULL);
    machine_destroy(t->m);
    bql_unlock();
    g_free(t->kernel);
}

/* Big lock held for these. */
static uint32_t ram_ld(TestVM *t, uint32_t addr)
{
    uint32_t v = 0;

    g_assert_cmpint(address_space_read(&t->m->as_mem, addr, &v, 4), ==,
                    MEMTX_OK);
    return v;
}

static void ram_st(TestVM *t, uint32_t addr, uint32_t v)
{
    g_assert_cmpint(address_space_write(&t->m->as_mem, addr, &v, 4), ==,
                    MEMTX_OK);
}

static void vm_run(TestVM *t)
{
    vcpus_resume(t->m);
    runstate_set(RUN_STATE_RUNNING);
}

static void vm_pause(TestVM *t)
{
    vcpus_pause(t->m);
    runstate_set(RUN_STATE_PAUSED);
}

/* Raises the limit, runs the guest until it counted to it, stops it. */
static void count_to(TestVM *t, uint32_t limit)
{
    ram_st(t, LIMIT, limit);
    vm_run(t);
    /* CTRX is the last store of an iteration */
    for (int i = 0; i < 20000 && ram_ld(t, CTRX) != limit; i++) {
        bql_unlock();
        g_usleep(1000);
        bql_lock();
    }
    vm_pause(t);
    g_assert_cmphex(ram_ld(t, BAD), ==, 0);
    g_assert_cmpuint(ram_ld(t, CTR), ==, limit);
    g_assert_cmpuint(ram_ld(t, CTR3), ==, 3 * limit);
    g_assert_cmpuint(ram_ld(t, CTRX), ==, limit);
}

static GByteArray *save(TestVM *t)
{
    GByteArray *b = g_byte_array_new();
    GError *err = NULL;

    g_assert_true(cpus_state_save(t->m, b, &err));
    g_assert_no_error(err);
    return b;
}

static void assert_same(GByteArray *a, GByteArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    g_assert_true(memcmp(a->data, b->data, a->len) == 0);
}

/*
 * EBX is 3 x the count everywhere in the loop; EAX holds the port's
 * value for two instructions of each iteration.
 */
#define R_RBX 3

static uint64_t vcpu_reg(TestVM *t, int cpu, int reg)
{
    X86CPUSnapshot s;
    GError *err = NULL;

    g_assert_true(t->m->accel->vcpu_get_state(t->m->cpus[cpu], &s, &err));
    g_assert_no_error(err);
    return s.regs[reg];
}

/*
 * The guest counts to 1000, is saved, counts on to 5000, is loaded; it
 * must then count from 1000 to 2000 (with 5000 in EAX it would never
 * reach 2000, and wrong registers end in BAD).
 */
static void continue_from_saved(TestVM *t, bool exact)
{
    GError *err = NULL;

    bql_lock();
    count_to(t, 1000);
    g_autoptr(GByteArray) s1 = save(t);
    g_test_message("%s, %d vCPUs: %u bytes of state", t->m->accel->name,
                   t->m->ncpus, s1->len);
    g_assert_cmpuint(vcpu_reg(t, 0, R_RBX), ==, 3000);

    count_to(t, 5000);
    g_assert_cmpuint(vcpu_reg(t, 0, R_RBX), ==, 15000);
    g_assert_true(cpus_state_load(t->m, s1->data, s1->len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(vcpu_reg(t, 0, R_RBX), ==, 3000);
    if (exact) {
        /* nothing ran: the state saves as it was loaded */
        g_autoptr(GByteArray) s2 = save(t);
        assert_same(s1, s2);
    }
    count_to(t, 2000);
    g_assert_cmpuint(vcpu_reg(t, 0, R_RBX), ==, 6000);

    /*
     * Stopped anywhere in the loop (KVM: likely in the middle of the port
     * read's exit): EBX holds 3 x the count whatever EAX holds then.
     */
    ram_st(t, LIMIT, UINT32_MAX);
    vm_run(t);
    for (int i = 0; i < 20000 && ram_ld(t, CTR) < 2100; i++) {
        bql_unlock();
        g_usleep(1000);
        bql_lock();
    }
    vm_pause(t);
    uint32_t count = vcpu_reg(t, 0, R_RBX) / 3;
    g_assert_cmpuint(count, >, 2000);
    g_assert_cmpuint(vcpu_reg(t, 0, R_RBX), ==, 3 * count);
    g_autoptr(GByteArray) s3 = save(t);
    count_to(t, count + 3000);
    g_assert_true(cpus_state_load(t->m, s3->data, s3->len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(vcpu_reg(t, 0, R_RBX), ==, 3 * count);
    count_to(t, count + 1000);
    bql_unlock();
}

/* ---- software CPU ---- */

static void test_tcg_description(void)
{
    GError *err = NULL;

    g_assert_true(vmstate_check_description(&vmstate_x86_cpu, &err));
    g_assert_no_error(err);
}

static void test_tcg_continue(void)
{
    TestVM t;
    char *skip = NULL;

    if (!vm_create(&t, "tcg", 2, &skip)) {
        g_test_skip(skip);
        g_free(skip);
        return;
    }
    continue_from_saved(&t, true);
    vm_destroy(&t);
}

/* The virtual clock and the TSC go back to the saved point. */
static void test_tcg_clock(void)
{
    TestVM t;
    char *skip = NULL;
    GError *err = NULL;

    g_assert_true(vm_create(&t, "tcg", 1, &skip));
    bql_lock();
    count_to(&t, 10);
    int64_t ns = clock_get_ns(CLK_VIRTUAL);
    g_autoptr(GByteArray) s1 = save(&t);
    vm_run(&t);
    bql_unlock();
    g_usleep(20000);
    bql_lock();
    vm_pause(&t);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), >, ns);
    g_assert_true(cpus_state_load(t.m, s1->data, s1->len, &err));
    g_assert_no_error(err);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), ==, ns);
    bql_unlock();
    vm_destroy(&t);
}

/* Refused loads: an error message containing what, and nothing changed. */
static void assert_refused(TestVM *t, GByteArray *good, const uint8_t *data,
                           size_t len, const char *what)
{
    GError *err = NULL;

    g_assert_false(cpus_state_load(t->m, data, len, &err));
    g_assert_nonnull(err);
    if (what && !strstr(err->message, what)) {
        g_error("'%s' does not say '%s'", err->message, what);
    }
    g_clear_error(&err);
    g_autoptr(GByteArray) now = save(t);
    assert_same(good, now);
}

static void test_tcg_hostile(void)
{
    TestVM t;
    char *skip = NULL;
    GError *err = NULL;

    g_assert_true(vm_create(&t, "tcg", 2, &skip));
    bql_lock();
    count_to(&t, 100);
    g_autoptr(GByteArray) good = save(&t);
    g_autofree uint8_t *bad = g_memdup2(good->data, good->len);

    /* every truncation */
    for (guint n = 0; n < good->len; n++) {
        assert_refused(&t, good, good->data, n, NULL);
    }
    /* a stray byte at the end */
    g_autoptr(GByteArray) longer = g_byte_array_new();
    g_byte_array_append(longer, good->data, good->len);
    g_byte_array_append(longer, (const guint8 *)"", 1);
    assert_refused(&t, good, longer->data, longer->len, "stray");

    /* header: magic, format, accelerator, vCPU count */
    bad[0] ^= 0xff;
    assert_refused(&t, good, bad, good->len, "magic");
    bad[0] ^= 0xff;
    bad[7] = 2;
    assert_refused(&t, good, bad, good->len, "format 2");
    bad[7] = 1;
    g_assert_cmpint(bad[8], ==, 3);
    memcpy(bad + 9, "kvm", 3);
    assert_refused(&t, good, bad, good->len, "accelerator 'kvm'");
    memcpy(bad + 9, "tcg", 3);
    bad[15] = 1;
    assert_refused(&t, good, bad, good->len, "1 vCPUs");
    bad[15] = 2;

    /* flipping any single byte either loads or is refused cleanly; after
     * a load, put the good state back */
    for (guint i = 0; i < good->len; i++) {
        bad[i] ^= 0x5a;
        if (cpus_state_load(t.m, bad, good->len, &err)) {
            g_assert_true(cpus_state_load(t.m, good->data, good->len, &err));
        } else {
            g_clear_error(&err);
            g_autoptr(GByteArray) now = save(&t);
            assert_same(good, now);
        }
        g_assert_no_error(err);
        bad[i] ^= 0x5a;
    }
    g_assert_true(memcmp(bad, good->data, good->len) == 0);

    /* while the vCPUs run, nothing is saved or loaded */
    vm_run(&t);
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_assert_false(cpus_state_save(t.m, b, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "stopped"));
    g_clear_error(&err);
    g_assert_cmpuint(b->len, ==, 0);
    g_assert_false(cpus_state_load(t.m, good->data, good->len, &err));
    g_clear_error(&err);
    vm_pause(&t);
    bql_unlock();
    vm_destroy(&t);
}

/*
 * Invalid register values inside a well-framed stream: the description's
 * checks refuse them. The vCPU's own state is changed through a save of
 * a doctored CPU, then compared.
 */
static void test_tcg_invalid_registers(void)
{
    TestVM t;
    char *skip = NULL;
    GError *err = NULL;
    static const struct {
        const char *what;
        size_t offset;      /* in X86CPU */
        size_t size;
        uint64_t value;
    } cases[] = {
        { "CR0 has reserved", offsetof(X86CPU, cr0), 8,
          0x80000011ull | 1ull << 40 },
        { "CR0.PG is set without CR0.PE", offsetof(X86CPU, cr0), 8,
          0x80000010 },
        { "CR4 has bits", offsetof(X86CPU, cr4), 8, 1u << 18 },
        { "EFER has reserved", offsetof(X86CPU, efer), 8, 1u << 3 },
        { "EFER.LMA does not match", offsetof(X86CPU, efer), 8, 0x100 },
        { "long mode without CR4.PAE", offsetof(X86CPU, cr4), 8, 0x600 },
        { "CR3 is beyond", offsetof(X86CPU, cr3), 8, 1ull << 45 },
        { "x87 stack top", offsetof(X86CPU, fpstt), 1, 9 },
        { "keeps TOP elsewhere", offsetof(X86CPU, fpus), 2, 0x0800 },
        { "MXCSR", offsetof(X86CPU, mxcsr), 4, 0x10000 },
        { "PAT", offsetof(X86CPU, pat), 8, 0x02 },
        { "canonical", offsetof(X86CPU, lstar), 8, 0x0000800000000000ull },
        { "MTRRdefType", offsetof(X86CPU, mtrr_deftype), 8, 0x2 },
        { "variable-range MTRR", offsetof(X86CPU, mtrr_var[1]), 8, 1 },
        { "segment flags", offsetof(X86CPU, segs[1].flags), 4, 0x1000000 },
        { "limit", offsetof(X86CPU, gdt.limit), 4, 0x10000 },
    };

    g_assert_true(vm_create(&t, "tcg", 1, &skip));
    bql_lock();
    count_to(&t, 10);
    g_autoptr(GByteArray) good = save(&t);
    g_assert_cmpuint(vcpu_reg(&t, 0, R_RBX), ==, 30);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        /* X86CPU is the first member of the TCG vCPU's struct */
        X86CPU *cpu = *(X86CPU **)t.m->cpus[0]->accel;
        g_autofree uint8_t *orig = g_memdup2(cpu, sizeof(*cpu));
        memcpy((uint8_t *)cpu + cases[i].offset, &cases[i].value,
               cases[i].size);
        g_autoptr(GByteArray) doctored = g_byte_array_new();
        g_assert_true(cpus_state_save(t.m, doctored, &err));
        memcpy(cpu, orig, sizeof(*cpu));
        assert_refused(&t, good, doctored->data, doctored->len,
                       cases[i].what);
    }
    bql_unlock();
    vm_destroy(&t);
}

/* ---- a Linux guest on the software CPU ---- */

/* The main loop as vireo runs it: it sleeps in poll without the lock. */
static gint poll_unlocked(GPollFD *fds, guint nfds, gint timeout)
{
    bql_unlock();
    gint r = g_poll(fds, nfds, timeout);
    bql_lock();
    return r;
}

/* The highest "TICK n" in text after offset from, or -1. */
static long last_tick(const char *text, size_t from, long *first)
{
    long last = -1;

    *first = -1;
    for (const char *p = text + from; (p = strstr(p, "TICK ")); p += 5) {
        long n = strtol(p + 5, NULL, 10);
        if (*first < 0) {
            *first = n;
        }
        last = MAX(last, n);
    }
    return last;
}

/* Runs the main loop (big lock held) until the console shows a tick of at
 * least want after offset from; returns the console text. */
static char *run_until_tick(const char *console, size_t from, long want,
                            long *first, long *last)
{
    /* a Linux boot; slower under the sanitizers: VIREO_CPU_STATE_TIMEOUT */
    const char *limit = g_getenv("VIREO_CPU_STATE_TIMEOUT");
    gint64 secs = limit ? g_ascii_strtoll(limit, NULL, 10) : 240;
    gint64 end = g_get_monotonic_time() + secs * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, TRUE);
        char *text = NULL;
        if (g_file_get_contents(console, &text, NULL, NULL) &&
            strlen(text) >= from &&
            (*last = last_tick(text, from, first)) >= want) {
            return text;
        }
        g_free(text);
    }
    g_error("no TICK %ld on the console in time", want);
}

/*
 * Debian's kernel and initramfs (VIREO_CPU_STATE_LINUX=vmlinuz:initrd, set
 * by tests/functional/test_cpu_state.py) print a tick every 200 ms. The
 * whole VM (RAM, devices, vCPUs) is saved at tick n, runs on to n + 5, is
 * loaded: the guest prints n + 1 next and goes on ticking (its timers,
 * TSC and interrupt state came back with it).
 */
static void test_tcg_linux(void)
{
    const char *env = g_getenv("VIREO_CPU_STATE_LINUX");
    g_auto(GStrv) files = env ? g_strsplit(env, ":", 2) : NULL;
    g_autofree char *console = NULL;
    GError *err = NULL;
    long first, last, n;

    if (!files || !files[0] || !files[1]) {
        g_test_skip("VIREO_CPU_STATE_LINUX=vmlinuz:initrd is not set "
                    "(tests/functional/test_cpu_state.py sets it)");
        return;
    }
    int fd = g_file_open_tmp("vireo-cpust-console-XXXXXX", &console, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    bql_lock();
    timers_init();
    g_main_context_set_poll_func(NULL, poll_unlocked);
    g_autofree char *opts = g_strdup_printf("file,id=cpust0,path=%s",
                                            console);
    g_assert_nonnull(chardev_new_from_opts(opts, &err));
    g_assert_no_error(err);
    MachineConfig cfg = {
        .machine_type = "pc", .accel = "tcg", .cpu_model = "host",
        .ram_size = 256 << 20, .smp_cpus = 1, .smp_max_cpus = 1,
        .sockets = 1, .cores = 1, .threads = 1, .nodefaults = true,
        .kernel = files[0], .initrd = files[1],
        .append = "console=ttyS0 quiet vireo.task=cmd vireo.cmd=\"i=0; "
                  "while :; do i=$((i+1)); echo TICK $i; sleep 0.2; "
                  "done\"",
        .serial = { "cpust0" },
    };
    Machine *m = machine_create(&cfg, &err);
    g_assert_no_error(err);
    machine_set_current(m);
    g_assert_true(vcpus_start(m, false, &err));
    runstate_set(RUN_STATE_RUNNING);

    g_free(run_until_tick(console, 0, 3, &first, &n));
    vcpus_pause(m);
    runstate_set(RUN_STATE_PAUSED);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(console, &text, NULL, NULL));
    n = last_tick(text, 0, &first);
    uint64_t ram_size = m->cfg.ram_size;
    g_autofree uint8_t *ram = g_memdup2(memory_region_get_ram_ptr(&m->ram),
                                        ram_size);
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) cpus = g_byte_array_new();
    g_assert_true(vmstate_save_devices(m, dev, &err));
    g_assert_no_error(err);
    g_assert_true(cpus_state_save(m, cpus, &err));
    g_assert_no_error(err);

    vcpus_resume(m);
    runstate_set(RUN_STATE_RUNNING);
    g_free(run_until_tick(console, 0, n + 5, &first, &last));
    vcpus_pause(m);
    runstate_set(RUN_STATE_PAUSED);

    g_autofree char *before = NULL;
    g_assert_true(g_file_get_contents(console, &before, NULL, NULL));
    size_t from = strlen(before);
    memcpy(memory_region_get_ram_ptr(&m->ram), ram, ram_size);
    g_assert_true(cpus_state_load(m, cpus->data, cpus->len, &err));
    g_assert_no_error(err);
    g_assert_true(vmstate_load_devices(m, dev->data, dev->len, &err));
    g_assert_no_error(err);
    vcpus_resume(m);
    runstate_set(RUN_STATE_RUNNING);
    g_free(run_until_tick(console, from, n + 4, &first, &last));
    g_test_message("saved at TICK %ld; after the load TICK %ld..%ld", n,
                   first, last);
    /* n + 1 next (n + 2 when it was saved in the middle of a line) */
    g_assert_cmpint(first, >, n);
    g_assert_cmpint(first, <=, n + 2);

    vcpus_pause(m);
    vcpus_stop(m);
    machine_set_current(NULL);
    machine_destroy(m);
    bql_unlock();
    g_unlink(console);
}

/* ---- KVM ---- */

static void kvm_continue(KernelIrqchip irqchip)
{
    TestVM t;
    char *skip = NULL;

    if (!vm_create_irqchip(&t, "kvm", 2, irqchip, &skip)) {
        g_test_skip(skip);
        g_free(skip);
        return;
    }
    /* the TSC and kvmclock move while stopped: no exact byte match */
    continue_from_saved(&t, false);
    vm_destroy(&t);
}

static void test_kvm_continue(void)
{
    kvm_continue(KERNEL_IRQCHIP_ON);
}

static void test_kvm_continue_split(void)
{
    kvm_continue(KERNEL_IRQCHIP_SPLIT);
}

static void test_kvm_continue_off(void)
{
    kvm_continue(KERNEL_IRQCHIP_OFF);
}

/* A stream from a VM with another irqchip mode is refused. */
static void test_kvm_irqchip_mismatch(void)
{
    TestVM a, b;
    char *skip = NULL;
    GError *err = NULL;

    if (!vm_create_irqchip(&a, "kvm", 1, KERNEL_IRQCHIP_OFF, &skip)) {
        g_test_skip(skip);
        g_free(skip);
        return;
    }
    bql_lock();
    count_to(&a, 10);
    g_autoptr(GByteArray) s = save(&a);
    bql_unlock();
    vm_destroy(&a);
    g_assert_true(vm_create(&b, "kvm", 1, &skip));
    bql_lock();
    count_to(&b, 20);
    g_assert_false(cpus_state_load(b.m, s->data, s->len, &err));
    g_assert_nonnull(strstr(err->message, "kernel-irqchip"));
    g_clear_error(&err);
    g_assert_cmpuint(vcpu_reg(&b, 0, R_RBX), ==, 60);
    count_to(&b, 30);
    bql_unlock();
    vm_destroy(&b);
}

/*
 * A value only KVM refuses, when it is set (CR0.PG without CR0.PE in
 * vCPU 1's system registers): the accelerator state and vCPU 0 were
 * already replaced, and are put back.
 */
static void test_kvm_rollback(void)
{
    TestVM t;
    char *skip = NULL;
    GError *err = NULL;
    struct kvm_sregs2 sr;
    X86CPUSnapshot before, after;

    if (!vm_create(&t, "kvm", 2, &skip)) {
        g_test_skip(skip);
        g_free(skip);
        return;
    }
    bql_lock();
    count_to(&t, 100);
    g_autoptr(GByteArray) s = save(&t);
    count_to(&t, 200);
    KVMVCPU *v1 = t.m->cpus[1]->accel;
    if (ioctl(v1->fd, KVM_GET_SREGS2, &sr) < 0) {
        g_test_skip("no KVM_GET_SREGS2 here");
        bql_unlock();
        vm_destroy(&t);
        return;
    }
    uint8_t *at = memmem(s->data, s->len, &sr, sizeof(sr));
    g_assert_nonnull(at);
    sr.cr0 = 0x80000000;
    memcpy(at, &sr, sizeof(sr));
    g_assert_true(t.m->accel->vcpu_get_state(t.m->cpus[0], &before, &err));
    g_assert_false(cpus_state_load(t.m, s->data, s->len, &err));
    g_assert_nonnull(strstr(err->message, "KVM_SET_SREGS2"));
    g_assert_nonnull(strstr(err->message, "previous state was put back"));
    g_clear_error(&err);
    g_assert_true(t.m->accel->vcpu_get_state(t.m->cpus[0], &after, &err));
    g_assert_cmpuint(after.regs[R_RBX], ==, 600);
    g_assert_true(memcmp(before.regs, after.regs, sizeof(before.regs)) == 0);
    g_assert_cmphex(before.rip, ==, after.rip);
    g_assert_cmphex(before.cr3, ==, after.cr3);
    count_to(&t, 300);
    bql_unlock();
    vm_destroy(&t);
}

static void test_kvm_hostile(void)
{
    TestVM t;
    char *skip = NULL;
    GError *err = NULL;

    if (!vm_create(&t, "kvm", 1, &skip)) {
        g_test_skip(skip);
        g_free(skip);
        return;
    }
    bql_lock();
    count_to(&t, 100);
    g_autoptr(GByteArray) good = save(&t);
    for (guint n = 0; n < good->len; n += 1 + n / 64) {
        g_assert_false(cpus_state_load(t.m, good->data, n, &err));
        g_clear_error(&err);
    }
    g_autofree uint8_t *bad = g_memdup2(good->data, good->len);
    memcpy(bad + 9, "tcg", 3);
    g_assert_false(cpus_state_load(t.m, bad, good->len, &err));
    g_assert_nonnull(strstr(err->message, "accelerator 'tcg'"));
    g_clear_error(&err);
    /* flipped bytes: loads or refusals, and the guest still counts */
    memcpy(bad, good->data, good->len);
    for (guint i = 0; i < good->len; i += 1 + i / 32) {
        bad[i] ^= 0xa5;
        if (!cpus_state_load(t.m, bad, good->len, &err)) {
            g_clear_error(&err);
        }
        bad[i] ^= 0xa5;
    }
    g_assert_true(cpus_state_load(t.m, good->data, good->len, &err));
    g_assert_no_error(err);
    count_to(&t, 200);
    bql_unlock();
    vm_destroy(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cpu-state/tcg/description", test_tcg_description);
    g_test_add_func("/cpu-state/tcg/continue", test_tcg_continue);
    g_test_add_func("/cpu-state/tcg/clock", test_tcg_clock);
    g_test_add_func("/cpu-state/tcg/hostile", test_tcg_hostile);
    g_test_add_func("/cpu-state/tcg/invalid-registers",
                    test_tcg_invalid_registers);
    g_test_add_func("/cpu-state/tcg/linux", test_tcg_linux);
    g_test_add_func("/cpu-state/kvm/continue", test_kvm_continue);
    g_test_add_func("/cpu-state/kvm/continue-split",
                    test_kvm_continue_split);
    g_test_add_func("/cpu-state/kvm/continue-irqchip-off",
                    test_kvm_continue_off);
    g_test_add_func("/cpu-state/kvm/irqchip-mismatch",
                    test_kvm_irqchip_mismatch);
    g_test_add_func("/cpu-state/kvm/rollback", test_kvm_rollback);
    g_test_add_func("/cpu-state/kvm/hostile", test_kvm_hostile);
    return g_test_run();
}
