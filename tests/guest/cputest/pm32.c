/*
 * 32-bit protected-mode checks (Intel SDM vol. 3A, chapters 4-6): exceptions
 * and their error codes, ring 3 and back through a DPL-3 gate with the stack
 * switch from the TSS, 2-level and PAE paging (#PF error codes, CR2, WP, U/S,
 * NX, accessed/dirty bits, PSE, invlpg), double fault, IOPL, and the LAPIC
 * timer.
 */
#include "cputest.h"

#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23
#define TSS_SEL 0x28

#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_U 0x4
#define PTE_PCD 0x10
#define PTE_A 0x20
#define PTE_D 0x40
#define PTE_PS 0x80
#define PTE_NX (1ULL << 63)

#define CR0_PG 0x80000000u
#define CR0_WP 0x00010000u
#define CR4_PSE 0x10
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_NXE (1u << 11)

#define TEST_VA 0x40000000u     /* page-directory slot 256: test page table */
#define PSE_VA 0x80000000u      /* 4 MiB page */
#define PSE_PA 0x00800000u

#define LAPIC 0xfee00000u
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ISR 0x100
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define TIMER_VECTOR 0x40
#define SPURIOUS_VECTOR 0xff

struct frame {
    u32 es, ds;
    u32 edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    u32 vector, error;
    u32 eip, cs, eflags;
    u32 esp, ss;        /* pushed only on a privilege change */
};

struct trapinfo {
    u32 count, vector, error, eip, cs, eflags, esp, ss, cr2;
    u32 eax, ebx, ecx, edx, frame;
};

struct tss32 {
    u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    u32 eax, ecx, edx, ebx, esp, ebp, esi, edi;
    u32 es, cs, ss, ds, fs, gs, ldt;
    u16 trap, iomap;
} __attribute__((packed));

struct idt_gate {
    u16 off_lo, sel;
    u8 zero, type;
    u16 off_hi;
};

extern char isr_stubs[], probe_ret[];
extern char user_int80[], user_int80_ret[], user_hlt[], user_int81[], user_read[],
    user_write[], user_popf_if[], user_cli[];
extern u64 gdt_tss;
extern u32 user_last_eax;
u32 enter_user(void *eip, void *esp, u32 eflags, u32 esi);

volatile struct trapinfo last;
volatile u32 probe_resume;          /* eip to continue at after a fault */
volatile u32 trap_return_to_kernel; /* isr_common: leave ring 3 for good */
static volatile u32 timer_irqs, timer_isr_bit, timer_if, spurious_irqs;

static struct idt_gate idt[256] __attribute__((aligned(8)));
static struct tss32 tss __attribute__((aligned(128)));
static u8 tss_stack[8192] __attribute__((aligned(16)));
static u8 user_stack[8192] __attribute__((aligned(16)));
#define USER_SP ((void *)(user_stack + sizeof(user_stack)))

/* volatile: the CPU writes the accessed/dirty bits behind the compiler */
static volatile u32 pd[1024] __attribute__((aligned(4096)));
static u32 pt0[1024] __attribute__((aligned(4096)));
static volatile u32 test_pt[1024] __attribute__((aligned(4096)));
static u64 pae_pdpt[4] __attribute__((aligned(32)));
static u64 pae_pd[2][512] __attribute__((aligned(4096)));
static volatile u64 pae_pt[512] __attribute__((aligned(4096)));
static u8 frame_a[4096] __attribute__((aligned(4096)));
static u8 frame_b[4096] __attribute__((aligned(4096)));
static u8 frame_c[4096] __attribute__((aligned(4096)));

static inline u32 read_cr0(void) { u32 v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u32 read_cr2(void) { u32 v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u32 read_cr4(void) { u32 v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr0(u32 v) { asm volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
static inline void write_cr3(u32 v) { asm volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void write_cr4(u32 v) { asm volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
static inline void invlpg(u32 va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }

static inline u64 rdmsr(u32 msr)
{
    u32 lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
    asm volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static inline u32 lapic_read(u32 reg) { return *(volatile u32 *)(LAPIC + reg); }
static inline void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC + reg) = v; }

void trap_c(struct frame *f)
{
    if (f->vector == TIMER_VECTOR) {
        u32 fl;
        asm volatile("pushf; pop %0" : "=r"(fl));
        timer_if = fl & 0x200;
        timer_isr_bit = (lapic_read(LAPIC_ISR + (TIMER_VECTOR / 32) * 0x10)
                         >> (TIMER_VECTOR % 32)) & 1;
        timer_irqs++;
        lapic_write(LAPIC_EOI, 0);
        return;
    }
    if (f->vector == SPURIOUS_VECTOR) {
        spurious_irqs++;
        return;
    }
    last.count++;
    last.vector = f->vector;
    last.error = f->error;
    last.eip = f->eip;
    last.cs = f->cs;
    last.eflags = f->eflags;
    last.cr2 = read_cr2();
    last.eax = f->eax;
    last.ebx = f->ebx;
    last.ecx = f->ecx;
    last.edx = f->edx;
    last.frame = (u32)f;
    if ((f->cs & 3) == 3) {
        /* from ring 3: the CPU switched to esp0 and pushed SS:ESP */
        last.esp = f->esp;
        last.ss = f->ss;
        user_last_eax = f->eax;
        trap_return_to_kernel = 1;
        return;
    }
    last.esp = last.ss = 0;
    if (f->vector == 3 || f->vector >= 0x20)
        return;             /* traps and software interrupts */
    if (probe_resume) {
        f->eip = probe_resume;
        probe_resume = 0;
        return;
    }
    cputest_fail_now("unexpected exception: vector, eip", f->vector, f->eip);
}

static void set_gate(int vec, u32 handler, u8 type_attr)
{
    idt[vec].off_lo = handler & 0xffff;
    idt[vec].off_hi = handler >> 16;
    idt[vec].sel = KCODE;
    idt[vec].zero = 0;
    idt[vec].type = type_attr;
}

#define GATE_INT 0x8e       /* present, DPL 0, 32-bit interrupt gate */
#define GATE_INT_DPL3 0xee

static void setup_descriptors(void)
{
    struct { u16 limit; u32 base; } __attribute__((packed)) idtr;
    u32 base = (u32)&tss, limit = sizeof(tss) - 1;
    int i;

    for (i = 0; i < 256; i++)
        set_gate(i, (u32)isr_stubs + i * 16, GATE_INT);
    set_gate(0x80, (u32)isr_stubs + 0x80 * 16, GATE_INT_DPL3);
    /* int3 from ring 3 is allowed too */
    set_gate(3, (u32)isr_stubs + 3 * 16, GATE_INT_DPL3);
    idtr.limit = sizeof(idt) - 1;
    idtr.base = (u32)idt;
    asm volatile("lidt %0" : : "m"(idtr));

    tss.ss0 = KDATA;
    tss.esp0 = (u32)(tss_stack + sizeof(tss_stack));
    tss.iomap = sizeof(tss);
    /* available 32-bit TSS, DPL 0, byte granular */
    gdt_tss = (limit & 0xffff) | ((u64)(base & 0xffffff) << 16) |
              (0x89ULL << 40) | ((u64)(limit >> 16) << 48) |
              ((u64)(base >> 24) << 56);
    asm volatile("ltr %w0" : : "r"(TSS_SEL));
}

/* Run `insn` (inline-asm text) expecting a fault; the handler resumes at
 * the label after it. Evaluates to the vector taken, or -1 if none. */
#define PROBE(insn, ...)                                                     \
    ({                                                                       \
        u32 vec_;                                                            \
        last.count = 0;                                                      \
        asm volatile("movl $1f, probe_resume\n\t"                            \
                     insn "\n1:\n\t"                                         \
                     "movl $0, probe_resume" : __VA_ARGS__);                 \
        vec_ = last.count ? last.vector : (u32)-1;                           \
        vec_;                                                                \
    })

static u32 label_addr;

static void test_de(void)
{
    u32 vec, at;

    test_begin("pm_de");
    vec = PROBE("movl $2f, %[at]\n\t"
                "xor %%ecx, %%ecx\n\t"
                "mov $1, %%eax\n\t"
                "xor %%edx, %%edx\n"
                "2: div %%ecx", [at] "=m"(label_addr) : : "eax", "ecx", "edx");
    at = label_addr;
    check_eq("vector", vec, 0);
    check_eq("eip points at the div", last.eip, at);
    check_eq("cs", last.cs, KCODE);
    /* quotient overflow is #DE too */
    vec = PROBE("mov $0, %%eax\n\tmov $2, %%edx\n\tmov $1, %%ecx\n\tdiv %%ecx",
                : : "eax", "ecx", "edx");
    check_eq("vector (quotient overflow)", vec, 0);
    test_end();
}

static void test_bp(void)
{
    u32 vec;

    test_begin("pm_bp");
    /* int3 is a trap: the handler returns to the next instruction itself */
    last.count = 0;
    asm volatile("int3\n2: movl $2b, %0" : "=m"(label_addr));
    vec = last.count ? last.vector : (u32)-1;
    check_eq("vector", vec, 3);
    check_eq("eip after int3", last.eip, label_addr);
    check_eq("count", last.count, 1);
    test_end();
}

static void test_ud(void)
{
    u32 vec;

    test_begin("pm_ud");
    vec = PROBE("movl $2f, %[at]\n2: ud2", [at] "=m"(label_addr) : :);
    check_eq("vector", vec, 6);
    check_eq("eip points at ud2", last.eip, label_addr);
    test_end();
}

static void test_gp(void)
{
    u32 vec;

    test_begin("pm_gp_null_ss");
    vec = PROBE("movl $2f, %[at]\n\txor %%eax, %%eax\n2: mov %%eax, %%ss",
                [at] "=m"(label_addr) : : "eax");
    check_eq("vector", vec, 13);
    check_eq("error code", last.error, 0);
    check_eq("eip points at the mov", last.eip, label_addr);
    test_end();

    test_begin("pm_gp_selector_limit");
    vec = PROBE("mov $0x1000, %%eax\n\tmov %%eax, %%fs", : : "eax");
    check_eq("vector", vec, 13);
    check_eq("error code = selector", last.error, 0x1000);
    asm volatile("mov %0, %%fs" : : "r"(KDATA));
    test_end();
}

static void test_ring3(void)
{
    u32 top = (u32)(tss_stack + sizeof(tss_stack)), r;

    test_begin("pm_ring3_int80");
    last.count = 0;
    r = enter_user(user_int80, USER_SP, 0x202, 0);
    check_eq("returned eax", r, 0x1234abcd);
    check_eq("vector", last.vector, 0x80);
    check_eq("cs in ring 3", last.ebx, UCODE);
    check_eq("ss in ring 3", last.edx, UDATA);
    check_eq("pushed cs", last.cs, UCODE);
    check_eq("pushed ss", last.ss, UDATA);
    check_eq("pushed esp", last.esp, last.ecx);
    check_eq("pushed esp = user stack top", last.esp, (u32)USER_SP);
    check_eq("pushed eip after int", last.eip, (u32)user_int80_ret);
    check_eq("frame on esp0 stack", last.frame + 4 * 12 + 20, top);
    check_eq("pushed eflags.IF", last.eflags & 0x200, 0x200);
    test_end();

    test_begin("pm_gp_cpl3_hlt");
    last.count = 0;
    enter_user(user_hlt, USER_SP, 0x202, 0);
    check_eq("vector", last.vector, 13);
    check_eq("error code", last.error, 0);
    check_eq("eip points at hlt", last.eip, (u32)user_hlt);
    check_eq("pushed cs", last.cs, UCODE);
    check_eq("pushed ss", last.ss, UDATA);
    check_eq("pushed esp", last.esp, (u32)USER_SP);
    check_eq("frame on esp0 stack", last.frame + 4 * 12 + 20, top);
    test_end();

    test_begin("pm_gp_gate_dpl");
    last.count = 0;
    enter_user(user_int81, USER_SP, 0x202, 0);
    check_eq("vector", last.vector, 13);
    check_eq("error code = vector*8+2 (IDT)", last.error, 0x81 * 8 + 2);
    check_eq("eip points at int", last.eip, (u32)user_int81);
    test_end();

    test_begin("pm_popf_iopl0");
    enter_user(user_popf_if, USER_SP, 0x202, 0);
    check_eq("vector", last.vector, 0x80);
    check_eq("IF unchanged by popf", last.ecx & 0x200, 0x200);
    check_eq("IOPL", (last.ecx >> 12) & 3, 0);
    test_end();

    test_begin("pm_cli_iopl3");
    enter_user(user_cli, USER_SP, 0x3202, 0);
    check_eq("vector (no #GP)", last.vector, 0x80);
    check_eq("IF cleared", last.ebx & 0x200, 0);
    check_eq("IOPL", (last.ebx >> 12) & 3, 3);
    test_end();
}

/* Double fault: int 0x41 hits a not-present gate (#NP), whose own gate is
 * not present either: #NP while delivering #NP is contributory on
 * contributory, so the CPU delivers #DF with error code 0. */
static void test_df(void)
{
    u32 vec;

    test_begin("pm_df");
    idt[0x41].type &= 0x7f;
    vec = PROBE("int $0x41", );
    check_eq("int to not-present gate -> #NP", vec, 11);
    check_eq("#NP error code = vector*8+2", last.error, 0x41 * 8 + 2);
    idt[11].type &= 0x7f;
    vec = PROBE("int $0x41", );
    check_eq("vector", vec, 8);
    check_eq("error code", last.error, 0);
    idt[11].type |= 0x80;
    idt[0x41].type |= 0x80;
    test_end();
}

static void paging_on_2level(void)
{
    int i;

    for (i = 0; i < 1024; i++)
        pt0[i] = (i << 12) | PTE_P | PTE_W | PTE_U;
    pd[0] = (u32)pt0 | PTE_P | PTE_W | PTE_U;
    for (i = 1; i < 64; i++)        /* 4 MiB .. 256 MiB */
        pd[i] = (i << 22) | PTE_P | PTE_W | PTE_U | PTE_PS;
    pd[LAPIC >> 22] = (LAPIC & 0xffc00000) | PTE_P | PTE_W | PTE_PCD | PTE_PS;
    pd[TEST_VA >> 22] = (u32)test_pt | PTE_P | PTE_W | PTE_U;
    memset((void *)test_pt, 0, sizeof(test_pt));
    write_cr4(read_cr4() | CR4_PSE);
    write_cr3((u32)pd);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

static void paging_off(void)
{
    write_cr0(read_cr0() & ~CR0_PG);
}

#define VA(n) (TEST_VA + (n) * 4096)

static void test_paging(void)
{
    u32 vec, v;

    paging_on_2level();

    test_begin("pm_pf_not_present");
    vec = PROBE("movl $2f, %[at]\n2: mov (%[va]), %%eax",
                [at] "=m"(label_addr) : [va] "r"(VA(0)) : "eax");
    check_eq("read: vector", vec, 14);
    check_eq("read: error code", last.error, 0);
    check_eq("read: cr2", last.cr2, VA(0));
    check_eq("read: eip", last.eip, label_addr);
    vec = PROBE("movl $1, 8(%[va])", : [va] "r"(VA(0)) : "memory");
    check_eq("write: vector", vec, 14);
    check_eq("write: error code", last.error, 2);
    check_eq("write: cr2", last.cr2, VA(0) + 8);
    test_end();

    test_begin("pm_pf_write_ro_wp");
    test_pt[1] = (u32)frame_a | PTE_P;
    frame_a[16] = 0x11;
    vec = PROBE("movb $0x22, 16(%[va])", : [va] "r"(VA(1)) : "memory");
    check_eq("CR0.WP=1: vector", vec, 14);
    check_eq("CR0.WP=1: error code", last.error, 3);
    check_eq("CR0.WP=1: cr2", last.cr2, VA(1) + 16);
    check_eq("CR0.WP=1: memory unchanged", frame_a[16], 0x11);
    write_cr0(read_cr0() & ~CR0_WP);
    vec = PROBE("movb $0x22, 16(%[va])", : [va] "r"(VA(1)) : "memory");
    check_eq("CR0.WP=0: no fault", vec, (u32)-1);
    check_eq("CR0.WP=0: memory written", frame_a[16], 0x22);
    write_cr0(read_cr0() | CR0_WP);
    test_end();

    test_begin("pm_pf_user_ro");
    test_pt[2] = (u32)frame_a | PTE_P | PTE_U;
    *(volatile u32 *)frame_a = 0x600df00d;
    v = enter_user(user_read, USER_SP, 0x202, VA(2));
    check_eq("user read: no fault", last.vector, 0x80);
    check_eq("user read: value", v, 0x600df00d);
    enter_user(user_write, USER_SP, 0x202, VA(2) + 4);
    check_eq("user write: vector", last.vector, 14);
    check_eq("user write: error code", last.error, 7);
    check_eq("user write: cr2", last.cr2, VA(2) + 4);
    check_eq("user write: eip", last.eip, (u32)user_write);
    write_cr0(read_cr0() & ~CR0_WP);
    enter_user(user_write, USER_SP, 0x202, VA(2) + 4);
    check_eq("user write, CR0.WP=0: vector", last.vector, 14);
    check_eq("user write, CR0.WP=0: error code", last.error, 7);
    write_cr0(read_cr0() | CR0_WP);
    test_end();

    test_begin("pm_pf_user_supervisor");
    test_pt[3] = (u32)frame_a | PTE_P | PTE_W;
    enter_user(user_read, USER_SP, 0x202, VA(3) + 12);
    check_eq("vector", last.vector, 14);
    check_eq("error code", last.error, 5);
    check_eq("cr2", last.cr2, VA(3) + 12);
    enter_user(user_write, USER_SP, 0x202, VA(3));
    check_eq("write: error code", last.error, 7);
    test_end();

    test_begin("pm_paging_4k");
    test_pt[4] = (u32)frame_a | PTE_P | PTE_W;
    *(volatile u32 *)(frame_a + 0x100) = 0xaaaa0001;
    *(volatile u32 *)(frame_b + 0x100) = 0xbbbb0001;
    check_eq("read through the mapping", *(volatile u32 *)(VA(4) + 0x100),
             0xaaaa0001);
    *(volatile u32 *)(VA(4) + 0x104) = 0xaaaa0002;
    check_eq("write through the mapping", *(volatile u32 *)(frame_a + 0x104),
             0xaaaa0002);
    test_end();

    test_begin("pm_invlpg");
    test_pt[4] = (u32)frame_b | PTE_P | PTE_W;
    invlpg(VA(4));
    check_eq("new mapping after invlpg", *(volatile u32 *)(VA(4) + 0x100),
             0xbbbb0001);
    test_pt[4] = 0;
    invlpg(VA(4));
    vec = PROBE("mov (%[va]), %%eax", : [va] "r"(VA(4)) : "eax");
    check_eq("unmapped after invlpg", vec, 14);
    test_pt[4] = (u32)frame_a | PTE_P | PTE_W;
    write_cr3((u32)pd);     /* a CR3 write flushes too */
    check_eq("new mapping after cr3 write", *(volatile u32 *)(VA(4) + 0x100),
             0xaaaa0001);
    test_end();

    test_begin("pm_accessed_dirty");
    pd[TEST_VA >> 22] &= ~(PTE_A | PTE_D);
    test_pt[5] = (u32)frame_a | PTE_P | PTE_W;
    write_cr3((u32)pd);
    v = *(volatile u32 *)VA(5);
    check_eq("read: PTE.A", test_pt[5] & PTE_A, PTE_A);
    check_eq("read: PTE.D", test_pt[5] & PTE_D, 0);
    check_eq("read: PDE.A", pd[TEST_VA >> 22] & PTE_A, PTE_A);
    *(volatile u32 *)VA(5) = v;
    check_eq("write: PTE.D", test_pt[5] & PTE_D, PTE_D);
    test_end();

    test_begin("pm_pse_4m");
    *(volatile u32 *)(PSE_PA + 0x3ff000 + 0x24) = 0x4d4d4d4d;
    pd[PSE_VA >> 22] = PSE_PA | PTE_P | PTE_W | PTE_PS;
    invlpg(PSE_VA + 0x3ff000);
    check_eq("read last 4K of the 4M page",
             *(volatile u32 *)(PSE_VA + 0x3ff000 + 0x24), 0x4d4d4d4d);
    check_eq("PDE.A", pd[PSE_VA >> 22] & PTE_A, PTE_A);
    check_eq("PDE.D clear before a write", pd[PSE_VA >> 22] & PTE_D, 0);
    *(volatile u32 *)(PSE_VA + 0x1000) = 0x5e5e5e5e;
    check_eq("write", *(volatile u32 *)(PSE_PA + 0x1000), 0x5e5e5e5e);
    check_eq("PDE.D", pd[PSE_VA >> 22] & PTE_D, PTE_D);
    pd[PSE_VA >> 22] = PSE_PA | PTE_P | PTE_PS;
    invlpg(PSE_VA + 0x1000);
    vec = PROBE("movl $0, 0x1000(%[va])", : [va] "r"(PSE_VA) : "memory");
    check_eq("read-only 4M page: vector", vec, 14);
    check_eq("read-only 4M page: error code", last.error, 3);
    test_end();

    paging_off();
}

static void test_pae_nx(void)
{
    u32 a, b, c, d, vec, r = 0;
    int i;

    cpuid(0x80000000, 0, &a, &b, &c, &d);
    if (a < 0x80000001) {
        test_skip("pm_pae_nx", "no CPUID 0x80000001");
        return;
    }
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    if (!(d & (1u << 20))) {
        test_skip("pm_pae_nx", "CPU has no NX");
        return;
    }
    test_begin("pm_pae_nx");
    for (i = 0; i < 512; i++)
        pae_pd[0][i] = ((u64)i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
    memset(pae_pd[1], 0, sizeof(pae_pd[1]));
    memset((void *)pae_pt, 0, sizeof(pae_pt));
    pae_pd[1][0] = (u32)pae_pt | PTE_P | PTE_W | PTE_U;
    pae_pdpt[0] = (u32)pae_pd[0] | PTE_P;
    pae_pdpt[1] = (u32)pae_pd[1] | PTE_P;
    pae_pdpt[2] = pae_pdpt[3] = 0;
    /* mov $0x42, %eax; ret */
    frame_c[0] = 0xb8;
    frame_c[1] = 0x42;
    frame_c[2] = frame_c[3] = frame_c[4] = 0;
    frame_c[5] = 0xc3;
    pae_pt[0] = (u32)frame_c | PTE_P | PTE_W | PTE_NX;
    pae_pt[1] = (u32)frame_a | PTE_P | PTE_W | PTE_NX;
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
    write_cr4(read_cr4() | CR4_PAE);
    write_cr3((u32)pae_pdpt);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);

    *(volatile u32 *)(frame_a + 8) = 0x11223344;
    check_eq("data read from an NX page",
             *(volatile u32 *)(TEST_VA + 0x1000 + 8), 0x11223344);
    probe_resume = (u32)probe_ret;
    last.count = 0;
    asm volatile("call *%1" : "=a"(r) : "r"(TEST_VA), "0"(0) : "memory");
    probe_resume = 0;
    vec = last.count ? last.vector : (u32)-1;
    check_eq("fetch from NX page: vector", vec, 14);
    check_eq("fetch from NX page: error code (P|I)", last.error, 0x11);
    check_eq("fetch from NX page: cr2", last.cr2, TEST_VA);
    check_eq("fetch from NX page: eip", last.eip, TEST_VA);
    pae_pt[0] &= ~PTE_NX;
    invlpg(TEST_VA);
    last.count = 0;
    asm volatile("call *%1" : "=a"(r) : "r"(TEST_VA), "0"(0) : "memory");
    check_eq("executable after clearing NX: no fault", last.count, 0);
    check_eq("executable after clearing NX: result", r, 0x42);
    check_eq("PAE PTE.A", (u32)pae_pt[0] & PTE_A, PTE_A);
    pae_pt[2] = 0;
    vec = PROBE("movl $1, (%[va])", : [va] "r"(TEST_VA + 0x2000) : "memory");
    check_eq("PAE not present: error code", last.error, 2);
    check_eq("PAE not present: cr2", last.cr2, TEST_VA + 0x2000);

    write_cr0(read_cr0() & ~CR0_PG);
    write_cr4(read_cr4() & ~CR4_PAE);
    test_end();
}

static void lapic_timer_arm(u32 lvt, u32 count)
{
    lapic_write(LAPIC_TIMER_DIV, 0xb);      /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, lvt);
    lapic_write(LAPIC_TIMER_INIT, count);
}

static void test_lapic_timer(void)
{
    u32 a, b, c, d, c1, c2, ok;

    cpuid(1, 0, &a, &b, &c, &d);
    if (!(d & (1u << 9))) {
        test_skip("pm_lapic_timer", "CPU has no APIC");
        return;
    }
    test_begin("pm_lapic_timer");
    check_eq("APIC base MSR: base", (u32)rdmsr(0x1b) & 0xfffff000, LAPIC);
    check_eq("APIC base MSR: enabled", (u32)rdmsr(0x1b) & 0x800, 0x800);
    lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
    lapic_write(0x80, 0);       /* TPR */
    /* a long count to watch it go down (a host that deschedules us for a
     * while must not make it expire first), then a short one to fire */
    timer_irqs = 0;
    lapic_timer_arm(TIMER_VECTOR, 1000000000);
    c1 = lapic_read(LAPIC_TIMER_CUR);
    delay_ms(1);
    c2 = lapic_read(LAPIC_TIMER_CUR);
    check(c1 > 0 && c1 <= 1000000000, "current count out of range");
    check(c2 < c1, "current count does not go down");
    lapic_timer_arm(TIMER_VECTOR, 2000000);     /* rewriting restarts */
    delay_ms(5);
    check_eq("no interrupt while IF=0", timer_irqs, 0);
    asm volatile("sti");
    ok = wait_nonzero(&timer_irqs, 2000);
    asm volatile("cli");
    check(ok, "timer interrupt not delivered within 2 s");
    check_eq("one-shot fires once", timer_irqs, 1);
    check_eq("ISR bit set in the handler", timer_isr_bit, 1);
    check_eq("IF clear in the handler", timer_if, 0);
    check_eq("current count 0 after expiry", lapic_read(LAPIC_TIMER_CUR), 0);
    if (ok) {
        /* proven to fire: hlt must wake on it */
        timer_irqs = 0;
        lapic_timer_arm(TIMER_VECTOR, 100000);
        asm volatile("sti; hlt; cli");
        check_eq("hlt woken by the timer", timer_irqs, 1);
    }
    /* a masked LVT does not deliver */
    timer_irqs = 0;
    lapic_timer_arm(TIMER_VECTOR | 0x10000, 1000);
    asm volatile("sti");
    delay_ms(5);
    asm volatile("cli");
    check_eq("masked timer delivered nothing", timer_irqs, 0);
    /* periodic */
    timer_irqs = 0;
    lapic_timer_arm(TIMER_VECTOR | 0x20000, 200000);
    asm volatile("sti");
    ok = wait_ge(&timer_irqs, 3, 2000);
    asm volatile("cli");
    lapic_write(LAPIC_LVT_TIMER, 0x10000);
    lapic_write(LAPIC_TIMER_INIT, 0);
    check(ok, "periodic timer: fewer than 3 interrupts in 2 s");
    test_end();
}

struct multiboot_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

void pm32_main(struct multiboot_info *mbi)
{
    (void)mbi;
    uart_init();
    puts("vireo cputest: mode=pm32\n");
    /* the 8259s stay masked: only the LAPIC interrupts here */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    setup_descriptors();

    test_de();
    test_bp();
    test_ud();
    test_gp();
    test_ring3();
    test_df();
    test_paging();
    test_pae_nx();
    test_lapic_timer();
    cputest_done();
}
