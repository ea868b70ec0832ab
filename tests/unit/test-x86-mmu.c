/*
 * The software CPU's MMU and CPU object without a machine around them:
 * page walks in every paging mode, accessed/dirty bits, #PF error codes
 * and CR2, non-canonical #GP, page-crossing stores, ROM and MMIO through
 * the TLB, code-page invalidation, and CPUID.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "../../target/x86/sys-internal.h"

#define RAM_SIZE    (16 << 20)
#define ROM_BASE    0x08000000ull
#define MMIO_BASE   0x100000000ull  /* above 4 GiB: reachable by PSE-36 */

#define P   (1ull << 0)
#define RW  (1ull << 1)
#define US  (1ull << 2)
#define A   (1ull << 5)
#define D   (1ull << 6)
#define PS  (1ull << 7)
#define XD  (1ull << 63)

typedef struct Fixture {
    Machine m;
    MemoryRegion sysmem, ram, rom, mmio;
    CPUState cs;
    CPUState *cpus[1];
    X86CPU *cpu;
    uint8_t *host;
    uint64_t mmio_addr, mmio_val;
    int mmio_writes;
} Fixture;

static uint64_t mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    Fixture *f = opaque;
    f->mmio_addr = addr;
    return 0xa5a5a5a500000000ull | addr;
}

static void mmio_write(void *opaque, hwaddr addr, uint64_t val,
                       unsigned size)
{
    Fixture *f = opaque;
    f->mmio_addr = addr;
    f->mmio_val = val;
    f->mmio_writes++;
}

static const MemoryRegionOps mmio_ops = {
    .read = mmio_read, .write = mmio_write, .impl_min = 1, .impl_max = 8,
};

static void fixture_setup(Fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    memory_region_init_container(&f->sysmem, "system", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&f->ram, "ram", RAM_SIZE, NULL));
    g_assert_true(memory_region_init_ram(&f->rom, "rom", 0x1000, NULL));
    memory_region_set_readonly(&f->rom, true);
    memory_region_init_io(&f->mmio, "mmio", &mmio_ops, f, 0x1000);
    memory_region_add_subregion(&f->sysmem, 0, &f->ram);
    memory_region_add_subregion(&f->sysmem, ROM_BASE, &f->rom);
    memory_region_add_subregion(&f->sysmem, MMIO_BASE, &f->mmio);
    f->m.sysmem = &f->sysmem;
    address_space_init(&f->m.as_mem, &f->sysmem, "memory");
    f->m.cfg.threads = 1;
    f->m.cfg.cores = 1;
    f->cs.machine = &f->m;
    f->cpus[0] = &f->cs;
    f->m.cpus = f->cpus;
    f->m.ncpus = 1;
    x86_phys_map_listen(&f->m);
    f->host = memory_region_get_ram_ptr(&f->ram);
    f->cpu = x86_cpu_new(&f->cs);
    x86_cpu_reset(f->cpu, NULL, true);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    x86_cpu_free(f->cpu);
    address_space_destroy(&f->m.as_mem);
    memory_region_destroy(&f->mmio);
    memory_region_destroy(&f->rom);
    memory_region_destroy(&f->ram);
    memory_region_destroy(&f->sysmem);
}

static void put64(Fixture *f, uint64_t pa, uint64_t v)
{
    memcpy(f->host + pa, &v, 8);
}

static uint64_t get64(Fixture *f, uint64_t pa)
{
    uint64_t v;
    memcpy(&v, f->host + pa, 8);
    return v;
}

static void put32(Fixture *f, uint64_t pa, uint32_t v)
{
    memcpy(f->host + pa, &v, 4);
}

static uint32_t get32(Fixture *f, uint64_t pa)
{
    uint32_t v;
    memcpy(&v, f->host + pa, 4);
    return v;
}

/* Flat 64-bit code at CPL 0 with 4-level paging rooted at cr3. */
static void enter_long_mode(Fixture *f, uint64_t cr3)
{
    BootState b = { .mode = BOOT_MODE_LONG64, .cr3 = cr3 };

    x86_cpu_reset(f->cpu, &b, true);
    f->cpu->cr0 |= CR0_WP;
    f->cpu->efer |= EFER_NXE;
    x86_update_mode(f->cpu);
    g_assert_true(f->cpu->long_mode);
    g_assert_cmpint(f->cpu->code_size, ==, 8);
    g_assert_cmpint(f->cpu->cpl, ==, 0);
}

static void set_cpl(X86CPU *cpu, int cpl)
{
    cpu->segs[R_CS].selector = (cpu->segs[R_CS].selector & ~3) | cpl;
    cpu->segs[R_SS].flags = (cpu->segs[R_SS].flags & ~(3u << 13)) |
                            (cpl << 13);
    x86_update_mode(cpu);
    g_assert_cmpint(cpu->cpl, ==, cpl);
}

typedef enum { OP_LOAD, OP_STORE, OP_FETCH } Op;

/*
 * Performs one access and reports the exception it raised: the vector,
 * or -1 if it completed.
 */
static int try_access(X86CPU *cpu, Op op, uint64_t lin, int size,
                      uint64_t *val)
{
    const uint8_t *host;
    uint32_t *word;

    if (sigsetjmp(cpu->exception_env, 0)) {
        return cpu->exception_vector;
    }
    switch (op) {
    case OP_LOAD:
        *val = x86_ld(cpu, lin, size);
        break;
    case OP_STORE:
        x86_st(cpu, lin, size, *val);
        break;
    case OP_FETCH:
        x86_translate_code(cpu, lin, &host, &word);
        *val = host ? host[lin & 0xfff] : 0;
        break;
    }
    return -1;
}

static void assert_pf(X86CPU *cpu, Op op, uint64_t lin, uint32_t err)
{
    uint64_t v = 0;

    cpu->cr2 = 0;
    g_assert_cmpint(try_access(cpu, op, lin, 1, &v), ==, EXCP_PF);
    g_assert_cmphex(cpu->exception_error, ==, err);
    g_assert_true(cpu->exception_has_error);
    g_assert_cmphex(cpu->cr2, ==, lin);
}

static uint64_t load(X86CPU *cpu, uint64_t lin, int size)
{
    uint64_t v = 0;
    g_assert_cmpint(try_access(cpu, OP_LOAD, lin, size, &v), ==, -1);
    return v;
}

static void store(X86CPU *cpu, uint64_t lin, int size, uint64_t v)
{
    g_assert_cmpint(try_access(cpu, OP_STORE, lin, size, &v), ==, -1);
}

/*
 * 4-level tables: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000.
 *   0x00010000  4K  -> 0x00010000 (user, writable)
 *   0x00011000  4K  -> 0x00012000 (user, read-only)
 *   0x00013000  4K  -> 0x00013000 (supervisor, writable, NX)
 *   0x00200000  2M  -> 0x00600000 (supervisor, writable)
 *   0x40000000  1G  -> 0x00000000 (supervisor, writable)
 */
static void build_4level(Fixture *f)
{
    put64(f, 0x1000, 0x2000 | P | RW | US);
    put64(f, 0x2000, 0x3000 | P | RW | US);
    put64(f, 0x2008, 0x0 | P | RW | PS);
    put64(f, 0x3000, 0x4000 | P | RW | US);
    put64(f, 0x3008, 0x600000 | P | RW | PS);
    put64(f, 0x4000 + 0x10 * 8, 0x10000 | P | RW | US);
    put64(f, 0x4000 + 0x11 * 8, 0x12000 | P | US);
    put64(f, 0x4000 + 0x13 * 8, 0x13000 | P | RW | XD);
}

static void test_walk_4level(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    build_4level(f);
    put64(f, 0x10008, 0x1111222233334444ull);
    put64(f, 0x600000 + 0x1238, 0x5555666677778888ull);
    put64(f, 0x5008, 0x99990000aaaa0000ull);
    enter_long_mode(f, 0x1000);

    g_assert_cmphex(load(cpu, 0x10008, 8), ==, 0x1111222233334444ull);
    g_assert_cmphex(load(cpu, 0x201238, 8), ==, 0x5555666677778888ull);
    g_assert_cmphex(load(cpu, 0x40005008, 8), ==, 0x99990000aaaa0000ull);

    /* reads set A on every level and D nowhere */
    g_assert_true(get64(f, 0x1000) & A);
    g_assert_true(get64(f, 0x2000) & A);
    g_assert_true(get64(f, 0x3000) & A);
    g_assert_true(get64(f, 0x4080) & A);
    g_assert_false(get64(f, 0x4080) & D);
    g_assert_true(get64(f, 0x3008) & A);
    g_assert_false(get64(f, 0x3008) & D);
    g_assert_true(get64(f, 0x2008) & A);

    /* a store goes through a fresh walk that sets D on the leaf only */
    store(cpu, 0x10010, 4, 0xcafef00d);
    g_assert_cmphex(get32(f, 0x10010), ==, 0xcafef00d);
    g_assert_true(get64(f, 0x4080) & D);
    g_assert_false(get64(f, 0x3000) & D);
    store(cpu, 0x200000, 2, 0xbeef);
    g_assert_true(get64(f, 0x3008) & D);
    g_assert_cmphex(get32(f, 0x600000) & 0xffff, ==, 0xbeef);
    store(cpu, 0x40000000 + 0x7000, 1, 0x42);
    g_assert_cmphex(f->host[0x7000], ==, 0x42);
    g_assert_true(get64(f, 0x2008) & D);
}

static void test_walk_pae(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    /* PDPT 0x1000 (entry 1 covers 1G..2G), PD 0x2000, PT 0x3000 */
    put64(f, 0x1008, 0x2000 | P);
    put64(f, 0x2000, 0x3000 | P | RW);
    put64(f, 0x2008, 0x800000 | P | RW | PS);
    put64(f, 0x3000 + 5 * 8, 0x9000 | P | RW);
    put64(f, 0x9010, 0x0123456789abcdefull);
    put64(f, 0x800000 + 0x54320, 0xfedcba9876543210ull);
    cpu->cr3 = 0x1000;
    cpu->cr4 = CR4_PAE;
    cpu->cr0 = CR0_PE | CR0_PG | CR0_ET;
    x86_update_mode(cpu);
    x86_tlb_flush(cpu);

    g_assert_cmphex(load(cpu, 0x40005010, 8), ==, 0x0123456789abcdefull);
    g_assert_cmphex(load(cpu, 0x40254320, 8), ==, 0xfedcba9876543210ull);
    g_assert_true(get64(f, 0x2000) & A);
    g_assert_true(get64(f, 0x3028) & A);
    /* the PDPTE has no accessed bit to set */
    g_assert_cmphex(get64(f, 0x1008), ==, 0x2000 | P);

    /* PDPTE bit 1 is reserved; the PDPTE for 0..1G is not present */
    put64(f, 0x1010, 0x2000 | P | RW);
    assert_pf(cpu, OP_LOAD, 0x80000000, PF_ERR_P | PF_ERR_RSVD);
    assert_pf(cpu, OP_STORE, 0x1000, PF_ERR_W);
}

static void test_walk_32bit_pse(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    /* PD 0x1000: 4K pages through PT 0x2000, a 4M page, a PSE-36 page */
    put32(f, 0x1000, 0x2000 | P | RW);
    put32(f, 0x1000 + 2 * 4, 0x400000 | P | RW | PS);
    put32(f, 0x1000 + 3 * 4, (1u << 13) | P | RW | PS);   /* 4 GiB */
    put32(f, 0x2000 + 7 * 4, 0x5000 | P | RW);
    put32(f, 0x5abc, 0x13572468);
    put32(f, 0x400000 + 0x123454, 0x24681357);
    cpu->cr3 = 0x1000;
    cpu->cr4 = CR4_PSE;
    cpu->cr0 = CR0_PE | CR0_PG | CR0_ET;
    x86_update_mode(cpu);
    x86_tlb_flush(cpu);

    g_assert_cmphex(load(cpu, 0x7abc, 4), ==, 0x13572468);
    g_assert_cmphex(load(cpu, 0x923454, 4), ==, 0x24681357);
    g_assert_true(get32(f, 0x1000) & A);
    g_assert_true(get32(f, 0x2000 + 7 * 4) & A);
    g_assert_true(get32(f, 0x1008) & A);

    /* physical bits 39:32 from PDE bits 20:13: the MMIO region at 4 GiB */
    g_assert_cmphex(load(cpu, 0xc00010, 4), ==, 0x00000010);
    g_assert_cmphex(f->mmio_addr, ==, 0x10);
    store(cpu, 0xc00020, 4, 0xabcd);
    g_assert_cmpint(f->mmio_writes, ==, 1);
    g_assert_cmphex(f->mmio_addr, ==, 0x20);
    g_assert_cmphex(f->mmio_val, ==, 0xabcd);

    /* without CR4.PSE the PS bit is ignored: 0x400000 is a page table */
    cpu->cr4 = 0;
    x86_tlb_flush(cpu);
    put32(f, 0x400000 + 0x23 * 4, 0x6000 | P);
    put32(f, 0x6454, 0x77777777);
    g_assert_cmphex(load(cpu, 0x823454, 4), ==, 0x77777777);
}

static void test_fault_error_codes(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    build_4level(f);
    enter_long_mode(f, 0x1000);

    /* not present: only W/U/I describe the access */
    assert_pf(cpu, OP_LOAD, 0x14000, 0);
    assert_pf(cpu, OP_STORE, 0x14000, PF_ERR_W);
    assert_pf(cpu, OP_FETCH, 0x14000, PF_ERR_I);
    assert_pf(cpu, OP_LOAD, 0x7fff00000000ull, 0);

    /* CR0.WP: supervisor writes to read-only pages fault only with it */
    assert_pf(cpu, OP_STORE, 0x11008, PF_ERR_P | PF_ERR_W);
    cpu->cr0 &= ~(uint64_t)CR0_WP;
    x86_tlb_flush(cpu);
    store(cpu, 0x11008, 1, 0x5a);
    g_assert_cmphex(f->host[0x12008], ==, 0x5a);
    cpu->cr0 |= CR0_WP;
    x86_tlb_flush(cpu);

    /* NX: a fetch faults with I, reads do not */
    load(cpu, 0x13000, 1);
    assert_pf(cpu, OP_FETCH, 0x13000, PF_ERR_P | PF_ERR_I);

    /* user accesses */
    set_cpl(cpu, 3);
    load(cpu, 0x10000, 4);
    load(cpu, 0x11000, 4);
    assert_pf(cpu, OP_STORE, 0x11000, PF_ERR_P | PF_ERR_W | PF_ERR_U);
    assert_pf(cpu, OP_LOAD, 0x13000, PF_ERR_P | PF_ERR_U);
    assert_pf(cpu, OP_LOAD, 0x200000, PF_ERR_P | PF_ERR_U);
    assert_pf(cpu, OP_FETCH, 0x14000, PF_ERR_U | PF_ERR_I);
    set_cpl(cpu, 0);

    /* reserved bits: physical address above MAXPHYADDR, PS in a PML4E */
    put64(f, 0x4000 + 0x20 * 8, (1ull << 45) | 0x20000 | P | RW);
    assert_pf(cpu, OP_STORE, 0x20000, PF_ERR_P | PF_ERR_W | PF_ERR_RSVD);
    put64(f, 0x1008, 0x2000 | P | RW | PS);
    assert_pf(cpu, OP_LOAD, 0x8000000000ull, PF_ERR_P | PF_ERR_RSVD);
    /* XD is reserved without EFER.NXE */
    cpu->efer &= ~(uint64_t)EFER_NXE;
    x86_tlb_flush(cpu);
    assert_pf(cpu, OP_LOAD, 0x13000, PF_ERR_P | PF_ERR_RSVD);
    assert_pf(cpu, OP_FETCH, 0x14000, 0);

    /* non-canonical addresses are #GP(0), not #PF */
    uint64_t v = 0;
    cpu->cr2 = 0;
    g_assert_cmpint(try_access(cpu, OP_LOAD, 0x0000800000000000ull, 8, &v),
                    ==, EXCP_GP);
    g_assert_cmphex(cpu->exception_error, ==, 0);
    g_assert_cmphex(cpu->cr2, ==, 0);
    g_assert_cmpint(try_access(cpu, OP_STORE, 0xffff7fffffffffffull, 1, &v),
                    ==, EXCP_GP);
}

static void test_cross_page_store(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    build_4level(f);
    enter_long_mode(f, 0x1000);
    set_cpl(cpu, 3);
    /* 0x10000 is writable, 0x11000 read-only */
    put32(f, 0x10ffc, 0x11111111);
    put32(f, 0x12000, 0x22222222);
    uint64_t v = 0xaabbccdd;
    g_assert_cmpint(try_access(cpu, OP_STORE, 0x10ffe, 4, &v), ==, EXCP_PF);
    g_assert_cmphex(cpu->cr2, ==, 0x11000);
    g_assert_cmphex(cpu->exception_error, ==,
                    PF_ERR_P | PF_ERR_W | PF_ERR_U);
    /* nothing was written to the first page */
    g_assert_cmphex(get32(f, 0x10ffc), ==, 0x11111111);

    put64(f, 0x4000 + 0x11 * 8, 0x12000 | P | RW | US);
    x86_tlb_flush_page(cpu, 0x11000);
    store(cpu, 0x10ffe, 4, 0xaabbccdd);
    g_assert_cmphex(get32(f, 0x10ffc), ==, 0xccdd1111);
    g_assert_cmphex(get32(f, 0x12000), ==, 0x2222aabb);
    g_assert_cmphex(load(cpu, 0x10ffe, 4), ==, 0xaabbccdd);
    g_assert_cmphex(load(cpu, 0x10ff9, 8), ==, 0xbbccdd1111000000ull);
}

static void test_rom_and_mmio(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;
    uint8_t *rom = memory_region_get_ram_ptr(&f->rom);

    /* paging off: linear is physical */
    cpu->cr0 = CR0_PE | CR0_ET;
    x86_update_mode(cpu);
    rom[0x10] = 0x77;
    g_assert_cmphex(load(cpu, ROM_BASE + 0x10, 1), ==, 0x77);
    store(cpu, ROM_BASE + 0x10, 1, 0x99);
    g_assert_cmphex(rom[0x10], ==, 0x77);
    g_assert_cmpint(f->mmio_writes, ==, 0);

    /* ROM pages are fetchable straight from host memory */
    const uint8_t *host;
    uint32_t *word;
    g_assert_cmphex(x86_translate_code(cpu, ROM_BASE + 0x10, &host, &word),
                    ==, ROM_BASE);
    g_assert_nonnull(host);
    g_assert_cmphex(host[0x10], ==, 0x77);

    /* outside IA-32e mode linear addresses are 32 bits: they wrap */
    f->host[0x10] = 0x3c;
    g_assert_cmphex(load(cpu, MMIO_BASE + 0x10, 1), ==, 0x3c);
}

static void test_invlpg_large_page(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    build_4level(f);
    enter_long_mode(f, 0x1000);
    put32(f, 0x600000 + 0x5000, 0x600);
    put32(f, 0x800000 + 0x5000, 0x800);
    g_assert_cmphex(load(cpu, 0x205000, 4), ==, 0x600);
    put64(f, 0x3008, 0x800000 | P | RW | PS);
    /* still cached */
    g_assert_cmphex(load(cpu, 0x205000, 4), ==, 0x600);
    /* invlpg anywhere in the 2 MiB page drops all of it */
    x86_tlb_flush_page(cpu, 0x3ff000);
    g_assert_cmphex(load(cpu, 0x205000, 4), ==, 0x800);
}

static void test_code_invalidate(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;
    const uint8_t *host;
    uint32_t *word;

    cpu->cr0 = CR0_PE | CR0_ET;
    x86_update_mode(cpu);
    g_assert_cmphex(x86_translate_code(cpu, 0x3456, &host, &word),
                    ==, 0x3000);
    g_assert_true(host == f->host + 0x3000);
    g_assert_nonnull(word);
    *word = X86_PAGE_HAS_CODE | 41;
    /* other pages leave it alone */
    x86_code_invalidate(0x4000, 0x1000);
    g_assert_cmphex(*word, ==, X86_PAGE_HAS_CODE | 41);
    x86_code_invalidate(0x2ffc, 8);
    g_assert_cmphex(*word, ==, 42);
    /* no code: no new generation */
    x86_code_invalidate(0x3000, 1);
    g_assert_cmphex(*word, ==, 42);

    /* this CPU's own stores, fast and slow path, bump it too */
    *word = X86_PAGE_HAS_CODE | 7;
    store(cpu, 0x3ffe, 4, 0x12345678);
    g_assert_cmphex(*word, ==, 8);
    *word = X86_PAGE_HAS_CODE | 8;
    store(cpu, 0x3010, 2, 0x1234);
    g_assert_cmphex(*word, ==, 9);
}

static void test_map_change_flushes(Fixture *f, gconstpointer data)
{
    MemoryRegion extra;

    __atomic_store_n(&f->cs.interrupt_request, 0, __ATOMIC_SEQ_CST);
    g_assert_true(memory_region_init_ram(&extra, "extra", 0x1000, NULL));
    memory_region_add_subregion(&f->sysmem, 0x20000000, &extra);
    g_assert_true(f->cs.interrupt_request & CPU_INTERRUPT_TLB_FLUSH);

    /* and the new RAM is visible to the CPU */
    uint8_t *p = memory_region_get_ram_ptr(&extra);
    p[4] = 0xee;
    f->cpu->cr0 = CR0_PE | CR0_ET;
    x86_update_mode(f->cpu);
    x86_tlb_flush(f->cpu);
    g_assert_cmphex(load(f->cpu, 0x20000004, 1), ==, 0xee);

    __atomic_store_n(&f->cs.interrupt_request, 0, __ATOMIC_SEQ_CST);
    memory_region_del_subregion(&f->sysmem, &extra);
    g_assert_true(f->cs.interrupt_request & CPU_INTERRUPT_TLB_FLUSH);
    memory_region_destroy(&extra);
}

/* Stores into a logging RAM region mark its pages dirty, on the fast
 * path, the slow path and for locked operations; other RAM is not
 * slowed: it keeps its host pointers. */
static void test_dirty_log(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;
    MemoryRegion vram;
    const uint64_t base = 0x20000000;

    g_assert_true(memory_region_init_ram(&vram, "vram", 0x10000, NULL));
    memory_region_set_log(&vram, true);
    memory_region_add_subregion(&f->sysmem, base, &vram);
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));
    cpu->cr0 = CR0_PE | CR0_ET;
    x86_update_mode(cpu);
    x86_tlb_flush(cpu);

    store(cpu, base + 0x1010, 4, 0x11223344);      /* fills the TLB */
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, 0x1000));
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x1000, 1));
    store(cpu, base + 0x1020, 8, 0x55);            /* the TLB hit path */
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));
    store(cpu, base + 0x2ffe, 4, 0xaabbccdd);      /* across two pages */
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x2000, 1));
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x3000, 1));
    g_assert_cmphex(load(cpu, base + 0x1010, 4), ==, 0x11223344);

    /* locked operations get no host pointer into logged pages */
    g_assert_null(x86_host_ptr(cpu, base + 0x4000, 4, true));
    g_assert_nonnull(x86_host_ptr(cpu, base + 0x4000, 4, false));
    g_assert_nonnull(x86_host_ptr(cpu, 0x5000, 4, true));
    g_assert_false(memory_region_test_and_clear_dirty(&vram, 0, 0x10000));

    /* code on a logged page: a store invalidates it and keeps the log */
    const uint8_t *host;
    uint32_t *word;
    x86_translate_code(cpu, base + 0x6000, &host, &word);
    g_assert_nonnull(word);
    g_assert_true(*word & X86_PAGE_DIRTY_LOG);
    *word |= X86_PAGE_HAS_CODE;
    uint32_t gen = *word & X86_PAGE_GEN_MASK;
    store(cpu, base + 0x6000, 1, 0x90);
    g_assert_cmphex(*word, ==, X86_PAGE_DIRTY_LOG | (gen + 1));
    g_assert_true(memory_region_test_and_clear_dirty(&vram, 0x6000, 1));

    /* logging off: stores are plain again */
    memory_region_set_log(&vram, false);
    x86_tlb_flush(cpu);
    store(cpu, base + 0x1010, 4, 1);
    x86_translate_code(cpu, base + 0x6000, &host, &word);
    g_assert_false(*word & X86_PAGE_DIRTY_LOG);
    g_assert_nonnull(x86_host_ptr(cpu, base + 0x4000, 4, true));

    memory_region_del_subregion(&f->sysmem, &vram);
    memory_region_destroy(&vram);
}

static void cpuid(X86CPU *cpu, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    x86_cpu_cpuid(cpu, leaf, sub, &r[0], &r[1], &r[2], &r[3]);
}

static void test_cpuid(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;
    uint32_t r[4], hi[4];
    char vendor[13] = { 0 };

    f->m.cfg.threads = 2;
    f->m.cfg.cores = 2;
    f->cs.apic_id = 5;

    cpuid(cpu, 0, 0, r);
    g_assert_cmphex(r[0], ==, 0x16);
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    g_assert_cmpstr(vendor, ==, "GenuineIntel");

    cpuid(cpu, 1, 0, r);
    g_assert_cmphex((r[0] >> 8) & 0xf, ==, 6);
    g_assert_cmphex(((r[0] >> 4) & 0xf) | ((r[0] >> 12) & 0xf0), ==, 0x2a);
    g_assert_cmphex(r[1] >> 24, ==, 5);
    g_assert_cmphex((r[1] >> 16) & 0xff, ==, 4);
    g_assert_cmphex((r[1] >> 8) & 0xff, ==, 8);
    /* SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT HYPERVISOR, and nothing else
     * (no TSC deadline or x2APIC without a LAPIC, no XSAVE, AVX) */
    g_assert_cmphex(r[2], ==, 0x80982201);
    g_assert_cmphex(r[3], ==, 0x178bfbfd & ~(1u << 9));
    g_assert_true(r[3] & (1u << 28));       /* HTT */

    /* no extended features but IA32_ARCH_CAPABILITIES */
    cpuid(cpu, 7, 0, r);
    g_assert_cmphex(r[0] | r[1] | r[2], ==, 0);
    g_assert_cmphex(r[3], ==, 1u << 29);
    cpuid(cpu, 0xd, 0, r);
    g_assert_cmphex(r[0] | r[1] | r[2] | r[3], ==, 0);

    cpuid(cpu, 4, 0, r);
    g_assert_cmphex(r[0] & 0x1f, ==, 1);
    g_assert_cmphex(r[0] >> 26, ==, 1);     /* cores - 1 */
    cpuid(cpu, 4, 3, r);
    g_assert_cmphex((r[0] >> 5) & 7, ==, 3);
    g_assert_cmphex((r[0] >> 14) & 0xfff, ==, 3);
    cpuid(cpu, 4, 4, r);
    g_assert_cmphex(r[0] & 0x1f, ==, 0);

    cpuid(cpu, 0xb, 0, r);
    g_assert_cmphex(r[0], ==, 1);
    g_assert_cmphex(r[1], ==, 2);
    g_assert_cmphex(r[2], ==, 0x100);
    g_assert_cmphex(r[3], ==, 5);
    cpuid(cpu, 0xb, 1, r);
    g_assert_cmphex(r[0], ==, 2);
    g_assert_cmphex(r[1], ==, 4);
    g_assert_cmphex(r[2], ==, 0x201);
    cpuid(cpu, 0xb, 2, r);
    g_assert_cmphex(r[1], ==, 0);
    g_assert_cmphex(r[2], ==, 2);

    /* 1 GHz TSC: crystal 25 MHz * 40 / 1 */
    cpuid(cpu, 0x15, 0, r);
    g_assert_cmphex((uint64_t)r[2] * r[1] / r[0], ==, 1000000000);
    cpuid(cpu, 0x16, 0, r);
    g_assert_cmpuint(r[0], ==, 1000);

    cpuid(cpu, 0x40000000, 0, r);
    g_assert_cmphex(r[0], ==, 0x40000001);
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[2], 4);
    memcpy(vendor + 8, &r[3], 4);
    g_assert_cmpstr(vendor, ==, "VireoVireoVi");

    cpuid(cpu, 0x80000000, 0, r);
    g_assert_cmphex(r[0], ==, 0x80000008);
    cpuid(cpu, 0x80000001, 0, r);
    g_assert_cmphex(r[2], ==, 1);
    g_assert_cmphex(r[3], ==, (1u << 11) | (1u << 20) | (1u << 26) |
                                  (1u << 27) | (1u << 29));
    cpuid(cpu, 0x80000008, 0, r);
    g_assert_cmphex(r[0] & 0xffff, ==, 0x3028);

    char brand[49] = { 0 };
    for (int i = 0; i < 3; i++) {
        cpuid(cpu, 0x80000002 + i, 0, r);
        memcpy(brand + i * 16, r, 16);
    }
    g_assert_true(g_str_has_prefix(brand, "Vireo"));

    /* beyond the maximum: the highest basic leaf */
    cpuid(cpu, 0x16, 0, hi);
    cpuid(cpu, 0x17, 0, r);
    g_assert_cmpmem(r, sizeof(r), hi, sizeof(hi));
    cpuid(cpu, 0x80000009, 0, r);
    g_assert_cmpmem(r, sizeof(r), hi, sizeof(hi));
}

static void test_reset_state(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    x86_cpu_reset(cpu, NULL, true);
    g_assert_cmphex(cpu->rip, ==, 0xfff0);
    g_assert_cmphex(cpu->segs[R_CS].selector, ==, 0xf000);
    g_assert_cmphex(cpu->segs[R_CS].base, ==, 0xffff0000);
    g_assert_cmphex(cpu->cr0, ==, 0x60000010);
    g_assert_cmphex(x86_get_eflags(cpu), ==, 2);
    g_assert_cmphex(cpu->regs[R_EDX] & 0xff00, ==, 0x0600);
    g_assert_cmphex(cpu->fpuc, ==, 0x37f);
    g_assert_cmphex(cpu->mxcsr, ==, 0x1f80);
    g_assert_cmphex(cpu->pat, ==, 0x0007040600070406ull);
    g_assert_cmpint(cpu->code_size, ==, 2);
    g_assert_false(cpu->wait_for_sipi);

    x86_cpu_reset(cpu, NULL, false);
    g_assert_true(cpu->wait_for_sipi);

    BootState b = { .mode = BOOT_MODE_PROT32, .rip = 0x100000,
                    .rsp = 0x8000, .rsi = 0x7000, .gdt_base = 0x500,
                    .gdt_limit = 0x1f };
    x86_cpu_reset(cpu, &b, true);
    g_assert_cmphex(cpu->rip, ==, 0x100000);
    g_assert_cmphex(cpu->regs[R_ESI], ==, 0x7000);
    g_assert_cmphex(cpu->segs[R_CS].selector, ==, 0x10);
    g_assert_cmphex(cpu->segs[R_DS].selector, ==, 0x18);
    g_assert_cmpint(cpu->code_size, ==, 4);
    g_assert_false(cpu->long_mode);
    g_assert_cmphex(cpu->gdt.base, ==, 0x500);
}

static void test_msrs(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;
    uint64_t v;

    g_assert_true(x86_msr_read(cpu, MSR_PAT, &v));
    g_assert_cmphex(v, ==, 0x0007040600070406ull);
    g_assert_false(x86_msr_write(cpu, MSR_PAT, 0x02));
    g_assert_true(x86_msr_write(cpu, MSR_PAT, 0x0000000000000001ull));
    g_assert_false(x86_msr_write(cpu, MSR_EFER, 1ull << 12));
    g_assert_true(x86_msr_write(cpu, MSR_EFER, EFER_SCE | EFER_LMA));
    g_assert_cmphex(cpu->efer, ==, EFER_SCE);   /* LMA is read-only */
    g_assert_false(x86_msr_write(cpu, MSR_LSTAR, 0x0000800000000000ull));
    g_assert_false(x86_msr_read(cpu, MSR_IA32_SPEC_CTRL, &v));
    /* not vulnerable to Meltdown, MDS, ITS and the rest; read-only */
    g_assert_true(x86_msr_read(cpu, 0x10a, &v));
    g_assert_cmphex(v, ==, 0x400000000d10e179ull);
    g_assert_false(x86_msr_write(cpu, 0x10a, 0));
    g_assert_false(x86_msr_read(cpu, 0x12345678, &v));
    /* no LAPIC in this machine */
    g_assert_false(x86_msr_read(cpu, MSR_IA32_APICBASE, &v));
    g_assert_true(x86_msr_write(cpu, MSR_MTRRphysBase0 + 3,
                                0xfc0000800ull));
    g_assert_true(x86_msr_read(cpu, MSR_MTRRphysBase0 + 3, &v));
    g_assert_cmphex(v, ==, 0xfc0000800ull);

    /* paging on in long mode: LME can no longer change */
    build_4level(f);
    enter_long_mode(f, 0x1000);
    g_assert_false(x86_msr_write(cpu, MSR_EFER, EFER_LMA | EFER_NXE));
}

/* A #PF at CPL 3 in long mode: IST-less 64-bit gate, RSP0 from the TSS. */
static void test_deliver_long_mode(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    build_4level(f);
    /* GDT at 0x20000 (through the 1G mapping at 0x40000000) */
    put64(f, 0x20000 + 0x10, 0x00af9a000000ffffull);   /* kernel code */
    put64(f, 0x20000 + 0x18, 0x00cf93000000ffffull);   /* kernel data */
    /* IDT at 0x21000: vector 14 -> 0x10:0x40001234, interrupt gate */
    uint64_t off = 0x40001234;
    put64(f, 0x21000 + 14 * 16,
          (off & 0xffff) | (0x10ull << 16) | (0x8eull << 40) |
          ((off >> 16) << 48));
    put64(f, 0x21000 + 14 * 16 + 8, off >> 32);
    /* TSS at 0x22000 with RSP0 = 0x40030008 (not 16-byte aligned) */
    put64(f, 0x22000 + 4, 0x40030008);
    enter_long_mode(f, 0x1000);
    cpu->gdt = (DescriptorTable){ 0x40020000, 0x1f };
    cpu->idt = (DescriptorTable){ 0x40021000, 0xfff };
    cpu->tr = (SegmentCache){ 0x28, 0x40022000, 0x67,
                              DESC_P_MASK | (0xb << 8) };
    set_cpl(cpu, 3);
    cpu->segs[R_CS].selector = 0x33;
    cpu->segs[R_SS].selector = 0x2b;
    cpu->regs[R_ESP] = 0x7ffff000;
    cpu->rip = 0x401000;
    cpu->eflags |= IF_MASK;

    uint64_t v = 0;
    g_assert_cmpint(try_access(cpu, OP_LOAD, 0x14000, 4, &v), ==, EXCP_PF);
    x86_deliver_exception(cpu);
    g_assert_false(cpu->triple_fault);
    g_assert_cmpint(cpu->cpl, ==, 0);
    g_assert_cmphex(cpu->segs[R_CS].selector, ==, 0x10);
    g_assert_cmphex(cpu->rip, ==, 0x40001234);
    g_assert_cmphex(cpu->regs[R_ESP], ==, 0x40030000 - 6 * 8);
    g_assert_false(cpu->eflags & IF_MASK);
    uint64_t frame = 0x30000 - 6 * 8;
    g_assert_cmphex(get64(f, frame), ==, PF_ERR_U);
    g_assert_cmphex(get64(f, frame + 8), ==, 0x401000);
    g_assert_cmphex(get64(f, frame + 16), ==, 0x33);
    g_assert_true(get64(f, frame + 24) & IF_MASK);
    g_assert_cmphex(get64(f, frame + 32), ==, 0x7ffff000);
    g_assert_cmphex(get64(f, frame + 40), ==, 0x2b);
    g_assert_cmphex(cpu->cr2, ==, 0x14000);
    /* the kernel code descriptor was marked accessed */
    g_assert_true(get64(f, 0x20010) & (1ull << 40));

    /* vector 14 beyond the IDT limit: #GP while delivering #PF, which is
     * a double fault, and #DF's gate is empty: triple fault */
    set_cpl(cpu, 3);
    cpu->idt.limit = 14 * 16 - 1;
    g_assert_cmpint(try_access(cpu, OP_LOAD, 0x14000, 4, &v), ==, EXCP_PF);
    x86_deliver_exception(cpu);
    g_assert_true(cpu->triple_fault);
}

/* int 0x10 in real mode through the IVT, and iret back. */
static void test_real_mode_int_iret(Fixture *f, gconstpointer data)
{
    X86CPU *cpu = f->cpu;

    put32(f, 0x10 * 4, (0xc000u << 16) | 0x0123);    /* c000:0123 */
    cpu->segs[R_CS].selector = 0x1000;
    cpu->segs[R_CS].base = 0x10000;
    cpu->segs[R_SS].selector = 0x2000;
    cpu->segs[R_SS].base = 0x20000;
    cpu->regs[R_ESP] = 0xabcd0100;
    cpu->rip = 0x50;
    cpu->next_rip = 0x52;
    cpu->eflags |= IF_MASK | TF_MASK;
    x86_update_mode(cpu);

    if (sigsetjmp(cpu->exception_env, 0) == 0) {
        x86_raise_soft_interrupt(cpu, 0x10);
    }
    g_assert_true(cpu->exception_is_soft);
    x86_deliver_exception(cpu);
    g_assert_cmphex(cpu->segs[R_CS].selector, ==, 0xc000);
    g_assert_cmphex(cpu->segs[R_CS].base, ==, 0xc0000);
    g_assert_cmphex(cpu->rip, ==, 0x123);
    /* only SP moves; the upper half of ESP is kept */
    g_assert_cmphex(cpu->regs[R_ESP], ==, 0xabcd00fa);
    g_assert_false(cpu->eflags & (IF_MASK | TF_MASK));
    g_assert_cmphex(get32(f, 0x200fa), ==, 0x10000052);
    g_assert_cmphex(get32(f, 0x200fe) & 0xffff, ==,
                    0x2 | IF_MASK | TF_MASK);

    x86_iret(cpu, 2);
    g_assert_cmphex(cpu->segs[R_CS].base, ==, 0x10000);
    g_assert_cmphex(cpu->next_rip, ==, 0x52);
    g_assert_cmphex(cpu->regs[R_ESP], ==, 0xabcd0100);
    g_assert_true(cpu->eflags & IF_MASK);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/x86-mmu/" name, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("walk/4-level", test_walk_4level);
    ADD("walk/pae", test_walk_pae);
    ADD("walk/32-bit-pse", test_walk_32bit_pse);
    ADD("fault/error-codes", test_fault_error_codes);
    ADD("store/cross-page", test_cross_page_store);
    ADD("tlb/rom-and-mmio", test_rom_and_mmio);
    ADD("tlb/invlpg-large-page", test_invlpg_large_page);
    ADD("code/invalidate", test_code_invalidate);
    ADD("map/change-flushes", test_map_change_flushes);
    ADD("store/dirty-log", test_dirty_log);
    ADD("cpu/cpuid", test_cpuid);
    ADD("cpu/reset", test_reset_state);
    ADD("cpu/msr", test_msrs);
    ADD("excp/long-mode-pf", test_deliver_long_mode);
    ADD("excp/real-mode-int-iret", test_real_mode_int_iret);
    return g_test_run();
}
