/*
 * What the monitor and the gdb stub see of a vCPU: the read-only page walk
 * in every paging mode over page tables built in guest RAM, and the
 * "info registers" text against QEMU 7.2's (goldens taken from Debian's
 * qemu-system-x86_64 -accel tcg), for snapshots and for real vCPUs of the
 * software CPU and of KVM at reset.
 */
#include <string.h>
#include <unistd.h>

#include "hw/i386/x86.h"
#include "system/vm.h"
#include "target/x86/inspect.h"
#include "util/opts.h"

#define RAM_SIZE    (16 << 20)

#define P   (1ull << 0)
#define RW  (1ull << 1)
#define A   (1ull << 5)
#define PS  (1ull << 7)

#define CR0_PE  0x1ull
#define CR0_PG  0x80000000ull
#define CR4_PSE 0x10ull
#define CR4_PAE 0x20ull
#define CR4_LA57 0x1000ull
#define EFER_LME_LMA 0x500ull

typedef struct Fixture {
    Machine m;
    MemoryRegion sysmem, ram;
    X86CPUSnapshot s;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    memory_region_init_container(&f->sysmem, "system", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&f->ram, "ram", RAM_SIZE, NULL));
    memory_region_add_subregion(&f->sysmem, 0, &f->ram);
    f->m.sysmem = &f->sysmem;
    address_space_init(&f->m.as_mem, &f->sysmem, "memory");
    f->s.a20 = true;
    f->s.cr0 = CR0_PE | CR0_PG;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    address_space_destroy(&f->m.as_mem);
    memory_region_destroy(&f->ram);
    memory_region_destroy(&f->sysmem);
}

static void put32(Fixture *f, uint64_t pa, uint32_t v)
{
    g_assert_cmpint(address_space_write(&f->m.as_mem, pa, &v, 4), ==,
                    MEMTX_OK);
}

static void put64(Fixture *f, uint64_t pa, uint64_t v)
{
    g_assert_cmpint(address_space_write(&f->m.as_mem, pa, &v, 8), ==,
                    MEMTX_OK);
}

static uint64_t get64(Fixture *f, uint64_t pa)
{
    uint64_t v;
    address_space_read(&f->m.as_mem, pa, &v, 8);
    return v;
}

/* Walks gva and checks where it lands and the size of the page. */
static void check(Fixture *f, uint64_t gva, uint64_t want, uint64_t size)
{
    uint64_t gpa = 0, got_size = 0;

    g_assert_true(x86_page_walk(&f->m.as_mem, &f->s, gva, &gpa, &got_size));
    g_assert_cmphex(gpa, ==, want);
    g_assert_cmphex(got_size, ==, size);
}

static void check_unmapped(Fixture *f, uint64_t gva)
{
    uint64_t gpa = 0x1234;

    g_assert_false(x86_page_walk(&f->m.as_mem, &f->s, gva, &gpa, NULL));
    g_assert_cmphex(gpa, ==, 0x1234);
}

static void test_paging_off_identity_and_a20(Fixture *f, gconstpointer d)
{
    f->s.cr0 = 0;
    check(f, 0x12345, 0x12345, 4096);
    check(f, 0xfffffff0, 0xfffffff0, 4096);
    /* the A20 gate closed: bit 20 wraps like an 8086 */
    f->s.a20 = false;
    check(f, 0x10fff0, 0x00fff0, 4096);
    /* CR0.PE alone changes nothing */
    f->s.cr0 = CR0_PE;
    f->s.a20 = true;
    check(f, 0x10fff0, 0x10fff0, 4096);
}

static void test_32bit_4k(Fixture *f, gconstpointer d)
{
    /* gva 0x00403abc: directory slot 1, table slot 3 */
    f->s.cr3 = 0x1000;
    put32(f, 0x1000 + 1 * 4, 0x2000 | P | RW);
    put32(f, 0x2000 + 3 * 4, 0x345000 | P);
    check(f, 0x00403abc, 0x345abc, 4096);
    /* not-present table entry, not-present directory entry */
    check_unmapped(f, 0x00404000);
    check_unmapped(f, 0x00800000);
    /* the walk is read-only: no accessed bit appeared */
    g_assert_cmphex(get64(f, 0x2000 + 3 * 4) & 0xffffffff, ==, 0x345000 | P);
    /* only the low 32 bits of the address count */
    check(f, 0xffffffff00403abcull, 0x345abc, 4096);
}

static void test_32bit_4m_pse(Fixture *f, gconstpointer d)
{
    f->s.cr3 = 0x1000;
    f->s.cr4 = CR4_PSE;
    /* slot 2 maps 0x00800000..0x00bfffff to 0x3_00c00000 (PSE-36) */
    put32(f, 0x1000 + 2 * 4, 0x00c00000 | (0x3 << 13) | PS | P);
    check(f, 0x00923456, 0x300d23456ull, 4 << 20);
    /* without CR4.PSE the PS bit is ignored: the entry names a table */
    f->s.cr4 = 0;
    put32(f, 0x00c06000 + 0x123 * 4, 0x00777000 | P);
    check(f, 0x00923456, 0x00777456, 4096);
}

static void test_pae_4k_2m(Fixture *f, gconstpointer d)
{
    f->s.cr4 = CR4_PAE;
    f->s.cr3 = 0x3020;      /* 32-byte aligned PDPT */
    /* gva 0x40201abc: PDPT slot 1, directory slot 1, table slot 1 */
    put64(f, 0x3020 + 1 * 8, 0x4000 | P);
    put64(f, 0x4000 + 1 * 8, 0x5000 | P | RW);
    put64(f, 0x5000 + 1 * 8, 0x1234567000ull | P);
    check(f, 0x40201abc, 0x1234567abcull, 4096);
    /* directory slot 2: a 2 MiB page above 4 GiB */
    put64(f, 0x4000 + 2 * 8, 0x200400000ull | PS | P);
    check(f, 0x40456789, 0x200456789ull, 2 << 20);
    /* PDPT slot 0 not present */
    check_unmapped(f, 0x00001000);
    check_unmapped(f, 0x40601000);
}

/* Long mode: CR3 at 0x10000, tables from 0x11000 on. */
static void long_mode_tables(Fixture *f)
{
    f->s.cr4 = CR4_PAE;
    f->s.efer = EFER_LME_LMA;
    f->s.cr3 = 0x10000;
    /* gva 0xffff8000_40201abc: PML4 256, PDPT 1, PD 1, PT 1 */
    put64(f, 0x10000 + 256 * 8, 0x11000 | P | RW);
    put64(f, 0x11000 + 1 * 8, 0x12000 | P | RW);
    put64(f, 0x12000 + 1 * 8, 0x13000 | P | RW);
    put64(f, 0x13000 + 1 * 8, 0x7654321000ull | P | (1ull << 63));
}

static void test_long_4level(Fixture *f, gconstpointer d)
{
    long_mode_tables(f);
    check(f, 0xffff800040201abcull, 0x7654321abcull, 4096);
    /* PD slot 2: a 2 MiB page */
    put64(f, 0x12000 + 2 * 8, 0x40000000ull | PS | P);
    check(f, 0xffff800040456789ull, 0x40056789ull, 2 << 20);
    /* PDPT slot 3: a 1 GiB page */
    put64(f, 0x11000 + 3 * 8, 0x1c0000000ull | PS | P);
    check(f, 0xffff8000c1234567ull, 0x1c1234567ull, 1 << 30);
    /* not present at each level */
    check_unmapped(f, 0xffff800040203000ull);  /* PT */
    check_unmapped(f, 0xffff800040600000ull);  /* PD */
    check_unmapped(f, 0xffff800100000000ull);  /* PDPT */
    check_unmapped(f, 0x0000000040201abcull);  /* PML4 */
    /* non-canonical */
    check_unmapped(f, 0x0000800040201abcull);
    check_unmapped(f, 0xfff7800040201abcull);
    /* read-only: no accessed bits anywhere on the way */
    g_assert_cmphex(get64(f, 0x10000 + 256 * 8) & A, ==, 0);
    g_assert_cmphex(get64(f, 0x13000 + 1 * 8) & A, ==, 0);
}

static void test_long_5level(Fixture *f, gconstpointer d)
{
    long_mode_tables(f);
    f->s.cr4 |= CR4_LA57;
    /* the 4-level tables hang below PML5 slot 0x1ff now */
    f->s.cr3 = 0x20000;
    put64(f, 0x20000 + 0x1ff * 8, 0x10000 | P | RW);
    check(f, 0xffff800040201abcull, 0x7654321abcull, 4096);
    /* bits 56:48 select the PML5 slot: slot 0x1fe is empty */
    check_unmapped(f, 0xfffe800040201abcull);
    /* canonical with 57 bits, but PML5 slot 0xff is empty */
    check_unmapped(f, 0x00ff800040201abcull);
    /* bit 56 set and the bits above clear: not canonical */
    check_unmapped(f, 0x0100800040201abcull);
    put64(f, 0x20000 + 0x0a * 8, 0x10000 | P);
    check(f, 0x000a800040201abcull, 0x7654321abcull, 4096);
}

/* ---- gva_to_gpa through a machine and an accelerator ---- */

static X86CPUSnapshot accel_snapshot;
static int accel_reads;

static bool fake_get_state(CPUState *cpu, X86CPUSnapshot *out, GError **errp)
{
    accel_reads++;
    *out = accel_snapshot;
    return true;
}

static const AccelOps fake_accel = {
    .name = "fake",
    .vcpu_get_state = fake_get_state,
};

static const AccelOps stateless_accel = { .name = "stateless" };

static void test_gva_to_gpa_on_vcpu(Fixture *f, gconstpointer d)
{
    CPUState cs = { .machine = &f->m, .index = 0, .stop = true };
    CPUState *cpus[1] = { &cs };
    GError *err = NULL;
    uint64_t gpa = 0;

    f->m.accel = &fake_accel;
    f->m.cpus = cpus;
    f->m.ncpus = 1;
    long_mode_tables(f);
    f->s.cr0 = CR0_PE | CR0_PG;
    accel_snapshot = f->s;
    g_assert_true(x86_cpu_gva_to_gpa(&cs, 0xffff800040201abcull, &gpa, &err));
    g_assert_no_error(err);
    g_assert_cmphex(gpa, ==, 0x7654321abcull);
    g_assert_cmpint(accel_reads, ==, 1);
    g_assert_false(x86_cpu_gva_to_gpa(&cs, 0x1000, &gpa, &err));
    g_assert_error(err, VIREO_ERROR, 0);
    g_assert_cmpstr(err->message, ==, "Unmapped");
    g_clear_error(&err);

    /* an accelerator that cannot read registers says so */
    f->m.accel = &stateless_accel;
    GString *out = g_string_new(NULL);
    g_assert_false(x86_cpu_dump_registers(&cs, out, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "stateless"));
    g_assert_cmpuint(out->len, ==, 0);
    g_clear_error(&err);
    g_string_free(out, TRUE);
}

/* ---- "info registers" ---- */

/* QEMU 7.2, -accel tcg -M pc -S, "info registers" (EDX: the CPUID
 * signature, which is the CPU's own). */
static const char reset_golden[] =
    "EAX=00000000 EBX=00000000 ECX=00000000 EDX=%08x\n"
    "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000\n"
    "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
    "ES =0000 00000000 0000ffff 00009300\n"
    "CS =f000 ffff0000 0000ffff 00009b00\n"
    "SS =0000 00000000 0000ffff 00009300\n"
    "DS =0000 00000000 0000ffff 00009300\n"
    "FS =0000 00000000 0000ffff 00009300\n"
    "GS =0000 00000000 0000ffff 00009300\n"
    "LDT=0000 00000000 0000ffff 00008200\n"
    "TR =0000 00000000 0000ffff 00008b00\n"
    "GDT=     00000000 0000ffff\n"
    "IDT=     00000000 0000ffff\n"
    "CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\n"
    "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 "
    "DR3=0000000000000000 \n"
    "DR6=00000000ffff0ff0 DR7=0000000000000400\n"
    "EFER=0000000000000000\n"
    "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\n"
    "FPR0=0000000000000000 0000 FPR1=0000000000000000 0000\n"
    "FPR2=0000000000000000 0000 FPR3=0000000000000000 0000\n"
    "FPR4=0000000000000000 0000 FPR5=0000000000000000 0000\n"
    "FPR6=0000000000000000 0000 FPR7=0000000000000000 0000\n"
    "XMM00=0000000000000000 0000000000000000 "
    "XMM01=0000000000000000 0000000000000000\n"
    "XMM02=0000000000000000 0000000000000000 "
    "XMM03=0000000000000000 0000000000000000\n"
    "XMM04=0000000000000000 0000000000000000 "
    "XMM05=0000000000000000 0000000000000000\n"
    "XMM06=0000000000000000 0000000000000000 "
    "XMM07=0000000000000000 0000000000000000\n";

static X86SegmentSnapshot seg(uint16_t sel, uint64_t base, uint32_t limit,
                              uint32_t flags)
{
    return (X86SegmentSnapshot){ sel, base, limit, flags };
}

/* Compares line by line, so that a failure names the line. */
static void assert_same_text(const char *got, const char *want)
{
    char **g = g_strsplit(got, "\n", -1), **w = g_strsplit(want, "\n", -1);
    guint n = MAX(g_strv_length(g), g_strv_length(w));

    for (guint i = 0; i < n; i++) {
        g_assert_cmpstr(i < g_strv_length(g) ? g[i] : "(none)", ==,
                        i < g_strv_length(w) ? w[i] : "(none)");
    }
    g_strfreev(g);
    g_strfreev(w);
}

static void test_format_reset(void)
{
    X86CPUSnapshot s = { 0 };
    GString *out = g_string_new(NULL);
    char *want = g_strdup_printf(reset_golden, 0x00060fb1);

    s.regs[2] = 0x00060fb1;     /* EDX */
    s.rip = 0xfff0;
    s.rflags = 2;
    for (int i = 0; i < 6; i++) {
        s.segs[i] = seg(0, 0, 0xffff, 0x9300);
    }
    s.segs[1] = seg(0xf000, 0xffff0000, 0xffff, 0x9b00);
    s.ldt = seg(0, 0, 0xffff, 0x8200);
    s.tr = seg(0, 0, 0xffff, 0x8b00);
    s.gdt_limit = s.idt_limit = 0xffff;
    s.cr0 = 0x60000010;
    s.dr[6] = 0xffff0ff0;
    s.dr[7] = 0x400;
    s.a20 = true;
    s.has_fpu = true;
    s.fcw = 0x37f;
    s.mxcsr = 0x1f80;
    x86_snapshot_format(&s, out);
    assert_same_text(out->str, want);
    g_free(want);
    g_string_free(out, TRUE);
}

/* QEMU 7.2 stopped in cputest-pm32 (tests/guest/cputest) at its hlt. */
static void test_format_protected_mode(void)
{
    static const char golden[] =
        "EAX=00108f00 EBX=00000000 ECX=00000000 EDX=000003f8\n"
        "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00108fac\n"
        "EIP=001030f2 EFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
        "ES =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n"
        "CS =0008 00000000 ffffffff 00cf9a00 DPL=0 CS32 [-R-]\n"
        "SS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n"
        "DS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n"
        "FS =0000 00000000 ffffffff 00cf1300\n"
        "GS =0000 00000000 ffffffff 00cf1300\n"
        "LDT=0000 00000000 0000ffff 00008200 DPL=0 LDT\n"
        "TR =0028 00118000 00000067 00008900 DPL=0 TSS32-avl\n"
        "GDT=     00103e00 0000002f\n"
        "IDT=     00118068 000007ff\n"
        "CR0=00010011 CR2=40002000 CR3=00110000 CR4=00000010\n"
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 "
        "DR3=0000000000000000 \n"
        "DR6=00000000ffff0ff0 DR7=0000000000000400\n"
        "EFER=0000000000000800\n";
    X86CPUSnapshot s = { 0 };
    GString *out = g_string_new(NULL);

    s.regs[0] = 0x108f00;
    s.regs[2] = 0x3f8;
    s.regs[4] = 0x108fac;
    s.rip = 0x1030f2;
    s.rflags = 0x46;
    s.halted = true;
    s.a20 = true;
    for (int i = 0; i < 6; i++) {
        s.segs[i] = seg(0x10, 0, 0xffffffff, 0xcf9300);
    }
    s.segs[1] = seg(0x8, 0, 0xffffffff, 0xcf9a00);
    s.segs[4] = s.segs[5] = seg(0, 0, 0xffffffff, 0xcf1300);
    s.ldt = seg(0, 0, 0xffff, 0x8200);
    s.tr = seg(0x28, 0x118000, 0x67, 0x8900);
    s.gdt_base = 0x103e00;
    s.gdt_limit = 0x2f;
    s.idt_base = 0x118068;
    s.idt_limit = 0x7ff;
    s.cr0 = 0x10011;
    s.cr2 = 0x40002000;
    s.cr3 = 0x110000;
    s.cr4 = 0x10;
    s.dr[6] = 0xffff0ff0;
    s.dr[7] = 0x400;
    s.efer = 0x800;
    s.has_fpu = false;      /* the FPU lines are left out then */
    x86_snapshot_format(&s, out);
    assert_same_text(out->str, golden);
    g_string_free(out, TRUE);
}

/* QEMU 7.2 stopped in Debian's Linux kernel. */
static void test_format_long_mode(void)
{
    static const char golden[] =
        "RAX=0000000399037768 RBX=00000000000003e8 RCX=00000000009e74b4 "
        "RDX=00000000000eec12\n"
        "RSI=0000000000000000 RDI=0000000398f48b56 RBP=ffffcc2500013e10 "
        "RSP=ffffcc2500013d98\n"
        "R8 =0000000000000000 R9 =0000000000274c20 R10=0000000000000003 "
        "R11=ffffffffa40d4448\n"
        "R12=0000000000000000 R13=00000000000004b0 R14=000000000000001e "
        "R15=0000000000000000\n"
        "RIP=ffffffffa2ff77a3 RFL=00000283 [--S---C] CPL=0 II=0 A20=1 SMM=0 "
        "HLT=0\n"
        "ES =0000 0000000000000000 00000000 00000000\n"
        "CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\n"
        "SS =0018 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n"
        "DS =0000 0000000000000000 00000000 00000000\n"
        "FS =0000 0000000000000000 00000000 00000000\n"
        "GS =0000 ffff8b110f800000 00000000 00000000\n"
        "LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\n"
        "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\n"
        "GDT=     fffffe0000001000 0000007f\n"
        "IDT=     fffffe0000000000 00000fff\n"
        "CR0=80050033 CR2=ffff8b110e401000 CR3=000000000ca10000 "
        "CR4=000006f0\n"
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 "
        "DR3=0000000000000000 \n"
        "DR6=00000000ffff0ff0 DR7=0000000000000400\n"
        "EFER=0000000000000d01\n"
        "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\n"
        "FPR0=0000000000000000 0000 FPR1=0000000000000000 0000\n"
        "FPR2=0000000000000000 0000 FPR3=0000000000000000 0000\n"
        "FPR4=0000000000000000 0000 FPR5=0000000000000000 0000\n"
        "FPR6=0000000000000000 0000 FPR7=0000000000000000 0000\n"
        "XMM00=0000000000000000 0000000000000000 "
        "XMM01=0000000000000000 0000000000000000\n"
        "XMM02=0000000000000000 0000000000000000 "
        "XMM03=0000000000000000 0000000000000000\n"
        "XMM04=0000000000000000 0000000000000000 "
        "XMM05=0000000000000000 0000000000000000\n"
        "XMM06=0000000000000000 0000000000000000 "
        "XMM07=0000000000000000 0000000000000000\n"
        "XMM08=0000000000000000 0000000000000000 "
        "XMM09=0000000000000000 0000000000000000\n"
        "XMM10=0000000000000000 0000000000000000 "
        "XMM11=0000000000000000 0000000000000000\n"
        "XMM12=0000000000000000 0000000000000000 "
        "XMM13=0000000000000000 0000000000000000\n"
        "XMM14=0000000000000000 0000000000000000 "
        "XMM15=0000000000000000 0000000000000000\n";
    static const uint64_t regs[16] = {
        /* RAX RCX RDX RBX RSP RBP RSI RDI */
        0x399037768, 0x9e74b4, 0xeec12, 0x3e8, 0xffffcc2500013d98,
        0xffffcc2500013e10, 0, 0x398f48b56,
        0, 0x274c20, 3, 0xffffffffa40d4448, 0, 0x4b0, 0x1e, 0,
    };
    X86CPUSnapshot s = { 0 };
    GString *out = g_string_new(NULL);

    memcpy(s.regs, regs, sizeof(regs));
    s.rip = 0xffffffffa2ff77a3;
    s.rflags = 0x283;
    s.a20 = true;
    s.segs[1] = seg(0x10, 0, 0xffffffff, 0xaf9b00);
    s.segs[2] = seg(0x18, 0, 0xffffffff, 0xcf9300);
    s.segs[5] = seg(0, 0xffff8b110f800000, 0, 0);
    s.ldt = seg(0, 0, 0, 0x8200);
    s.tr = seg(0x40, 0xfffffe0000003000, 0x4087, 0x8900);
    s.gdt_base = 0xfffffe0000001000;
    s.gdt_limit = 0x7f;
    s.idt_base = 0xfffffe0000000000;
    s.idt_limit = 0xfff;
    s.cr0 = 0x80050033;
    s.cr2 = 0xffff8b110e401000;
    s.cr3 = 0xca10000;
    s.cr4 = 0x6f0;
    s.dr[6] = 0xffff0ff0;
    s.dr[7] = 0x400;
    s.efer = 0xd01;
    s.has_fpu = true;
    s.fcw = 0x37f;
    s.mxcsr = 0x1f80;
    x86_snapshot_format(&s, out);
    assert_same_text(out->str, golden);
    g_string_free(out, TRUE);
}

/* Flags, system types, 16-bit segments and FPU/XMM values. */
static void test_format_details(void)
{
    X86CPUSnapshot s = { 0 };
    GString *out = g_string_new(NULL);

    s.cr0 = CR0_PE;
    s.rflags = 0x2 | 0x400 | 0x800 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1;
    s.cpl = 3;
    s.interrupt_shadow = true;
    s.smm = true;
    s.segs[1] = seg(0x1b, 0x10000, 0xffff, 0x00fe00);    /* CS16, conf. */
    s.segs[2] = seg(0x23, 0, 0xffff, 0x00f700);          /* DS16 exp-down */
    s.tr = seg(0x30, 0x2000, 0x2b, 0x8300);              /* TSS16-busy */
    s.has_fpu = true;
    s.fsw = 0x3800 | 0x41;
    s.ftw = 0x80;
    s.fpr[7].mant = 0x8000000000000000ull;
    s.fpr[7].exp = 0x3fff;
    s.xmm[1][0] = 0x1111222233334444ull;
    s.xmm[1][1] = 0x5555666677778888ull;
    x86_snapshot_format(&s, out);
    g_assert_nonnull(strstr(out->str, " [DOSZAPC] CPL=3 II=1 A20=0 SMM=1 "
                                      "HLT=0\n"));
    g_assert_nonnull(strstr(out->str, "CS =001b 00010000 0000ffff 0000fe00 "
                                      "DPL=3 CS16 [CR-]\n"));
    g_assert_nonnull(strstr(out->str, "SS =0023 00000000 0000ffff 0000f700 "
                                      "DPL=3 DS16 [EWA]\n"));
    g_assert_nonnull(strstr(out->str, "DPL=0 TSS16-busy\n"));
    g_assert_nonnull(strstr(out->str, "FSW=3841 [ST=7] FTW=80"));
    g_assert_nonnull(strstr(out->str, "FPR7=8000000000000000 3fff\n"));
    g_assert_nonnull(strstr(out->str, "XMM01=5555666677778888 "
                                      "1111222233334444\n"));
    /* real mode: no decoding of the descriptors */
    g_string_truncate(out, 0);
    s.cr0 = 0;
    x86_snapshot_format(&s, out);
    g_assert_null(strstr(out->str, "DPL="));
    g_string_free(out, TRUE);
}

/* ---- real vCPUs at reset ---- */

/*
 * A machine with two vCPUs: the BSP enters a minimal multiboot kernel
 * (a.out kludge: hlt; jmp back) in 32-bit protected mode, the AP stays in
 * its reset state waiting for a SIPI, as QEMU's APs do.
 */
static Machine *reset_machine(const char *accel, char **kernel,
                              GError **errp)
{
    uint32_t image[12] = {
        0x1badb002, 0x10000, -(0x1badb002u + 0x10000),
        0x100000, 0x100000, 0, 0, 0x100020,    /* header, load, entry */
        0xfdebf4f4,                            /* hlt; hlt; jmp -3 */
    };
    int fd = g_file_open_tmp("vireo-walk-XXXXXX", kernel, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, image, sizeof(image)), ==, sizeof(image));
    close(fd);
    MachineConfig cfg = {
        .machine_type = "pc", .accel = accel, .cpu_model = "host",
        .ram_size = 32 << 20, .smp_cpus = 2, .smp_max_cpus = 2,
        .sockets = 1, .cores = 2, .threads = 1, .nodefaults = true,
        .kernel = *kernel,
    };
    return machine_create(&cfg, errp);
}

/* The software CPU's AP at reset prints what QEMU's does, line by line. */
static void test_tcg_vcpu_at_reset(void)
{
    GError *err = NULL;
    char *kernel = NULL;
    Machine *m;
    X86CPUSnapshot s;

    bql_lock();
    m = reset_machine("tcg", &kernel, &err);
    g_assert_no_error(err);
    GString *out = g_string_new(NULL);
    g_assert_true(x86_cpu_dump_registers(m->cpus[1], out, &err));
    g_assert_no_error(err);
    g_assert_true(x86_cpu_get_snapshot(m->cpus[1], &s, &err));
    char *want = g_strdup_printf(reset_golden, (uint32_t)s.regs[2]);
    /* waiting for its SIPI, QEMU shows the AP halted */
    char *hlt = strstr(want, "HLT=0");
    hlt[4] = '1';
    assert_same_text(out->str, want);
    g_free(want);
    /* the BSP at the multiboot entry: flat 32-bit protected mode */
    g_string_truncate(out, 0);
    g_assert_true(x86_cpu_dump_registers(m->cpus[0], out, &err));
    g_assert_nonnull(strstr(out->str, "EAX=2badb002 "));
    g_assert_nonnull(strstr(out->str, "\nEIP=00100020 "));
    g_assert_nonnull(strstr(out->str, "\nCS =0010 00000000 ffffffff 00c09b00 "
                                      "DPL=0 CS32 [-RA]\n"));
    /* paging off: linear = physical */
    uint64_t gpa;
    g_assert_true(x86_cpu_gva_to_gpa(m->cpus[0], 0x100020, &gpa, &err));
    g_assert_cmphex(gpa, ==, 0x100020);
    g_string_free(out, TRUE);
    machine_destroy(m);
    bql_unlock();
    unlink(kernel);
    g_free(kernel);
}

/* Same for KVM, where the host lets us create a VM. */
static void test_kvm_vcpu_at_reset(void)
{
    GError *err = NULL;
    char *kernel = NULL;
    Machine *m;
    X86CPUSnapshot s;

    bql_lock();
    m = reset_machine("kvm", &kernel, &err);
    unlink(kernel);
    g_free(kernel);
    if (!m) {
        g_test_skip(err->message);
        g_clear_error(&err);
        bql_unlock();
        return;
    }
    GString *out = g_string_new(NULL);
    if (m->accel->vcpu_get_state) {
        g_assert_true(x86_cpu_get_snapshot(m->cpus[1], &s, &err));
    } else {
        /* until accel/kvm/kvm.c lists it in kvm_accel_ops */
        g_assert_true(kvm_vcpu_get_state(m->cpus[1], &s, &err));
    }
    g_assert_no_error(err);
    x86_snapshot_format(&s, out);
    /* KVM's reset EDX is Vireo's 0x600; an AP in KVM's "uninitialized"
     * MP state is not halted for QEMU either */
    char *want = g_strdup_printf(reset_golden, 0x600);
    assert_same_text(out->str, want);
    g_free(want);
    /* the BSP: what boot_sregs put there */
    g_assert_true(kvm_vcpu_get_state(m->cpus[0], &s, &err));
    g_string_truncate(out, 0);
    x86_snapshot_format(&s, out);
    g_assert_nonnull(strstr(out->str, "\nEIP=00100020 "));
    g_assert_nonnull(strstr(out->str, "DPL=0 CS32 [-R"));
    g_string_free(out, TRUE);
    machine_destroy(m);
    bql_unlock();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define WALK_TEST(name, fn)                                             \
    g_test_add("/x86-walk/" name, Fixture, NULL, fixture_setup, fn,     \
               fixture_teardown)
    WALK_TEST("paging-off-identity-and-a20", test_paging_off_identity_and_a20);
    WALK_TEST("32bit-4k", test_32bit_4k);
    WALK_TEST("32bit-4m-pse", test_32bit_4m_pse);
    WALK_TEST("pae-4k-2m", test_pae_4k_2m);
    WALK_TEST("long-4level-4k-2m-1g", test_long_4level);
    WALK_TEST("long-5level", test_long_5level);
    WALK_TEST("gva-to-gpa-on-vcpu", test_gva_to_gpa_on_vcpu);
    g_test_add_func("/x86-walk/info-registers/reset-golden",
                    test_format_reset);
    g_test_add_func("/x86-walk/info-registers/protected-mode-golden",
                    test_format_protected_mode);
    g_test_add_func("/x86-walk/info-registers/long-mode-golden",
                    test_format_long_mode);
    g_test_add_func("/x86-walk/info-registers/flags-types-fpu",
                    test_format_details);
    g_test_add_func("/x86-walk/info-registers/tcg-vcpu-at-reset",
                    test_tcg_vcpu_at_reset);
    g_test_add_func("/x86-walk/info-registers/kvm-vcpu-at-reset",
                    test_kvm_vcpu_at_reset);
    return g_test_run();
}
