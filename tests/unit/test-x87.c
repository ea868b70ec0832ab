/*
 * The x87 unit of the software CPU, through x86_exec_x87: loads and
 * stores with every rounding mode, integer conversions and the integer
 * indefinite, precision control, comparisons into C0-C3 and EFLAGS,
 * fxam classes, stack overflow/underflow and deferred #MF (Intel SDM
 * vol. 1 chapter 8, vol. 2). Memory operands go to one page mapped
 * straight into the CPU's TLB.
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "../../target/x86/fpu-internal.h"

#define PAGE    0x10000ull
#define INDEF_MANT 0xc000000000000000ull

static uint8_t page[4096] __attribute__((aligned(4096)));
static uint32_t page_word;

static X86CPU *new_cpu(void)
{
    X86CPU *cpu = g_new0(X86CPU, 1);

    cpu->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
    cpu->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
    cpu->mxcsr = 0x1f80;
    cpu->code_size = 8;
    cpu->long_mode = true;
    x87_reset(cpu);
    for (int m = 0; m < X86_MMU_COUNT; m++) {
        for (int k = 0; k < X86_TLB_SIZE; k++) {
            X86TLBEntry *e = &cpu->tlb[m][k];
            e->tag_read = e->tag_write = e->tag_code = ~0ull;
        }
        X86TLBEntry *e = x86_tlb_entry(cpu, m, PAGE);
        e->tag_read = e->tag_write = PAGE;
        e->addend = (uintptr_t)page - PAGE;
        e->page_word = &page_word;
    }
    return cpu;
}

static X86Insn insn_x87(int op, int mod, int reg, int rm, uint64_t disp)
{
    X86Insn i;

    memset(&i, 0, sizeof(i));
    i.opcode = op;
    i.opsize = 4;
    i.addrsize = 8;
    i.has_modrm = op != 0x9b;
    i.mod = mod;
    i.reg = reg;
    i.rm = rm;
    i.disp = disp;
    i.base = X86_BASE_NONE;
    i.index = X86_BASE_NONE;
    i.seg = R_DS;
    return i;
}

static int run(X86CPU *cpu, const X86Insn *insn)
{
    if (sigsetjmp(cpu->exception_env, 0)) {
        return cpu->exception_vector;
    }
    x86_exec_x87(cpu, insn);
    return -1;
}

/* Register form: the modrm byte's reg and rm (D9 E8 is reg 5, rm 0). */
static void reg_op(X86CPU *cpu, int op, uint8_t modrm)
{
    X86Insn i = insn_x87(op, 3, (modrm >> 3) & 7, modrm & 7, 0);
    g_assert_cmpint(run(cpu, &i), ==, -1);
}

/* Memory form /reg on PAGE + off. */
static void mem_op(X86CPU *cpu, int op, int reg, unsigned off)
{
    X86Insn i = insn_x87(op, 0, reg, 5, PAGE + off);
    g_assert_cmpint(run(cpu, &i), ==, -1);
}

static long double st(X86CPU *cpu, int i)
{
    return cpu->fpregs[(cpu->fpstt + i) & 7].d;
}

static const FPReg *st_reg(X86CPU *cpu, int i)
{
    return &cpu->fpregs[(cpu->fpstt + i) & 7];
}

static void fld_double(X86CPU *cpu, double v)
{
    memcpy(page, &v, 8);
    mem_op(cpu, 0xdd, 0, 0);            /* fld m64 */
}

static void set_rc(X86CPU *cpu, int rc)
{
    cpu->fpuc = (cpu->fpuc & ~FPUC_RC) | (rc << FPUC_RC_SHIFT);
}

static int32_t fistp32(X86CPU *cpu)
{
    int32_t v;

    mem_op(cpu, 0xdb, 3, 64);
    memcpy(&v, page + 64, 4);
    return v;
}

static void test_fistp_rounding(void)
{
    X86CPU *cpu = new_cpu();
    static const struct {
        double v;
        int32_t r[4];   /* RN, RD, RU, RZ */
    } cases[] = {
        { 2.5, { 2, 2, 3, 2 } },
        { -2.5, { -2, -3, -2, -2 } },
        { 3.5, { 4, 3, 4, 3 } },
        { -0.75, { -1, -1, 0, 0 } },
        { 1e10, { INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN } },
    };

    for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
        for (int rc = 0; rc < 4; rc++) {
            set_rc(cpu, rc);
            fld_double(cpu, cases[k].v);
            g_assert_cmpint(fistp32(cpu), ==, cases[k].r[rc]);
            g_assert_cmpuint(cpu->fptags, ==, 0xff);
        }
    }
    g_assert_cmphex(cpu->fpus & (FPUS_IE | FPUS_PE), ==, FPUS_IE | FPUS_PE);

    /* fld1 + 2.5 = 3.5, fistp m16 rounds to even */
    x87_reset(cpu);
    reg_op(cpu, 0xd9, 0xe8);            /* fld1 */
    fld_double(cpu, 2.5);
    reg_op(cpu, 0xd8, 0xc1);            /* fadd st0, st1 */
    g_assert_true(st(cpu, 0) == 3.5L);
    mem_op(cpu, 0xdf, 3, 8);            /* fistp m16 */
    g_assert_cmpint(*(int16_t *)(page + 8), ==, 4);
    g_assert_true(st(cpu, 0) == 1.0L);

    /* m16 overflow: the integer indefinite and IE */
    fld_double(cpu, 40000);
    cpu->fpus = 0;
    mem_op(cpu, 0xdf, 3, 8);
    g_assert_cmphex(*(uint16_t *)(page + 8), ==, 0x8000);
    g_assert_cmphex(cpu->fpus & FPUS_IE, ==, FPUS_IE);

    /* fisttp truncates whatever RC says */
    set_rc(cpu, RC_NEAREST);
    fld_double(cpu, -2.7);
    mem_op(cpu, 0xdb, 1, 16);
    g_assert_cmpint(*(int32_t *)(page + 16), ==, -2);

    /* fild/fistp m64 are exact */
    int64_t big = (1ll << 62) + 1;
    memcpy(page + 24, &big, 8);
    mem_op(cpu, 0xdf, 5, 24);           /* fild m64 */
    mem_op(cpu, 0xdf, 7, 32);           /* fistp m64 */
    g_assert_cmpint(*(int64_t *)(page + 32), ==, big);
    g_free(cpu);
}

static void test_store_precision(void)
{
    X86CPU *cpu = new_cpu();
    uint32_t f;

    /* 1/3 stored as m32 by RC */
    reg_op(cpu, 0xd9, 0xe8);            /* fld1 */
    fld_double(cpu, 3.0);
    reg_op(cpu, 0xde, 0xf9);            /* fdivp st1, st0 */
    g_assert_cmpuint(cpu->fpstt, ==, 7);
    mem_op(cpu, 0xd9, 2, 0);            /* fst m32 */
    g_assert_cmphex(*(uint32_t *)page, ==, 0x3eaaaaab);
    set_rc(cpu, RC_ZERO);
    mem_op(cpu, 0xd9, 2, 0);
    g_assert_cmphex(*(uint32_t *)page, ==, 0x3eaaaaaa);
    g_assert_cmphex(cpu->fpus & FPUS_PE, ==, FPUS_PE);
    g_assert_true(st(cpu, 0) != (long double)(1.0f / 3.0f));

    /* precision control: single precision rounds the division itself */
    x87_reset(cpu);
    cpu->fpuc &= ~FPUC_PC;
    reg_op(cpu, 0xd9, 0xe8);
    fld_double(cpu, 3.0);
    reg_op(cpu, 0xde, 0xf9);
    f = 0x3eaaaaab;
    float expect;
    memcpy(&expect, &f, 4);
    g_assert_true(st(cpu, 0) == (long double)expect);

    /* double precision */
    x87_reset(cpu);
    cpu->fpuc = (cpu->fpuc & ~FPUC_PC) | 0x200;
    reg_op(cpu, 0xd9, 0xe8);
    fld_double(cpu, 3.0);
    reg_op(cpu, 0xde, 0xf9);
    g_assert_true(st(cpu, 0) == (long double)(1.0 / 3.0));
    g_free(cpu);
}

static void test_compare(void)
{
    X86CPU *cpu = new_cpu();

    fld_double(cpu, 2.0);
    reg_op(cpu, 0xd9, 0xe8);            /* st0 = 1, st1 = 2 */
    x86_set_eflags(cpu, CC_ALL, CC_ALL);
    reg_op(cpu, 0xdb, 0xf1);            /* fcomi st0, st1 */
    g_assert_cmphex(x86_compute_flags(cpu) & CC_ALL, ==, CC_C);
    reg_op(cpu, 0xd8, 0xd1);            /* fcom st1 */
    g_assert_cmphex(cpu->fpus & FPUS_CC, ==, FPUS_C0);
    reg_op(cpu, 0xd9, 0xc9);            /* fxch st1 */
    reg_op(cpu, 0xd8, 0xd1);
    g_assert_cmphex(cpu->fpus & FPUS_CC, ==, 0);
    reg_op(cpu, 0xd9, 0xc0);            /* fld st0 */
    reg_op(cpu, 0xdb, 0xe9);            /* fucomi st0, st1: equal */
    g_assert_cmphex(x86_compute_flags(cpu) & CC_ALL, ==, CC_Z);
    reg_op(cpu, 0xde, 0xd9);            /* fcompp */
    g_assert_cmphex(cpu->fpus & FPUS_CC, ==, FPUS_C3);
    g_assert_cmpint(__builtin_popcount(cpu->fptags), ==, 7);
    g_assert_true(st(cpu, 0) == 1.0L);

    /* unordered: fucomip with a QNaN raises nothing, fcomip does */
    fld_double(cpu, 1.0);
    fld_double(cpu, NAN);
    cpu->fpus = 0;
    x86_set_eflags(cpu, CC_ALL, CC_ALL);
    reg_op(cpu, 0xdf, 0xe9);            /* fucomip */
    g_assert_cmphex(x86_compute_flags(cpu) & CC_ALL, ==, CC_Z | CC_P | CC_C);
    g_assert_cmphex(cpu->fpus & FPUS_IE, ==, 0);
    fld_double(cpu, NAN);
    reg_op(cpu, 0xdf, 0xf1);            /* fcomip */
    g_assert_cmphex(cpu->fpus & FPUS_IE, ==, FPUS_IE);

    /* ftst, ficom */
    x87_reset(cpu);
    fld_double(cpu, -3.0);
    reg_op(cpu, 0xd9, 0xe4);
    g_assert_cmphex(cpu->fpus & FPUS_CC, ==, FPUS_C0);
    *(int16_t *)page = -3;
    mem_op(cpu, 0xde, 2, 0);            /* ficom m16 */
    g_assert_cmphex(cpu->fpus & FPUS_CC, ==, FPUS_C3);

    /* fcmovb takes CF */
    fld_double(cpu, 7.0);               /* st0 = 7, st1 = -3 */
    x86_set_eflags(cpu, 0, CC_ALL);
    reg_op(cpu, 0xda, 0xc1);
    g_assert_true(st(cpu, 0) == 7.0L);
    x86_set_eflags(cpu, CC_C, CC_ALL);
    reg_op(cpu, 0xda, 0xc1);
    g_assert_true(st(cpu, 0) == -3.0L);
    g_free(cpu);
}

static uint16_t fxam(X86CPU *cpu)
{
    reg_op(cpu, 0xd9, 0xe5);
    return cpu->fpus & FPUS_CC;
}

static void test_fxam(void)
{
    X86CPU *cpu = new_cpu();

    g_assert_cmphex(fxam(cpu), ==, FPUS_C3 | FPUS_C0);       /* empty */
    reg_op(cpu, 0xd9, 0xee);                                 /* fldz */
    g_assert_cmphex(fxam(cpu), ==, FPUS_C3);
    reg_op(cpu, 0xd9, 0xe0);                                 /* fchs */
    g_assert_cmphex(fxam(cpu), ==, FPUS_C3 | FPUS_C1);
    reg_op(cpu, 0xd9, 0xe8);
    g_assert_cmphex(fxam(cpu), ==, FPUS_C2);                 /* normal */
    fld_double(cpu, -INFINITY);
    g_assert_cmphex(fxam(cpu), ==, FPUS_C2 | FPUS_C0 | FPUS_C1);
    fld_double(cpu, NAN);
    g_assert_cmphex(fxam(cpu), ==, FPUS_C0);
    reg_op(cpu, 0xd9, 0xee);
    cpu->fpregs[cpu->fpstt].raw.mant = 1;                    /* denormal */
    g_assert_cmphex(fxam(cpu), ==, FPUS_C3 | FPUS_C2);
    cpu->fpregs[cpu->fpstt].raw.exp = 0x4000;                /* unnormal */
    g_assert_cmphex(fxam(cpu), ==, 0);
    g_free(cpu);
}

static void test_stack_faults(void)
{
    X86CPU *cpu = new_cpu();

    for (int k = 0; k < 8; k++) {
        reg_op(cpu, 0xd9, 0xeb);        /* fldpi */
    }
    g_assert_cmphex(cpu->fpus & FPUS_IE, ==, 0);
    reg_op(cpu, 0xd9, 0xe8);            /* ninth push */
    g_assert_cmphex(cpu->fpus & (FPUS_IE | FPUS_SF | FPUS_C1), ==,
                    FPUS_IE | FPUS_SF | FPUS_C1);
    g_assert_cmphex(st_reg(cpu, 0)->raw.mant, ==, INDEF_MANT);
    g_assert_cmphex(st_reg(cpu, 0)->raw.exp, ==, 0xffff);

    /* underflow: an empty operand gives the indefinite, C1 = 0 */
    reg_op(cpu, 0xdb, 0xe3);            /* fninit */
    g_assert_cmphex(cpu->fpus, ==, 0);
    reg_op(cpu, 0xd9, 0xe8);
    reg_op(cpu, 0xd8, 0xc1);            /* fadd st0, st1 (empty) */
    g_assert_cmphex(cpu->fpus & (FPUS_IE | FPUS_SF | FPUS_C1), ==,
                    FPUS_IE | FPUS_SF);
    g_assert_cmphex(st_reg(cpu, 0)->raw.mant, ==, INDEF_MANT);

    /* fnstsw ax shows TOP */
    reg_op(cpu, 0xdb, 0xe3);
    reg_op(cpu, 0xd9, 0xe8);
    reg_op(cpu, 0xd9, 0xe8);
    reg_op(cpu, 0xd9, 0xe8);
    cpu->regs[R_EAX] = 0xffff0000;
    reg_op(cpu, 0xdf, 0xe0);
    g_assert_cmphex(cpu->regs[R_EAX], ==, 0xffff0000 | (5 << 11));
    reg_op(cpu, 0xdd, 0xc0);            /* ffree st0 */
    g_assert_cmphex(cpu->fptags, ==, 0xff & ~(3 << 6));
    reg_op(cpu, 0xd9, 0xf7);            /* fincstp */
    g_assert_cmpuint(cpu->fpstt, ==, 6);
    g_assert_cmphex(x87_tag_word(cpu), ==, 0xffff & ~(0xf << 12));
    g_free(cpu);
}

/* An unmasked exception sets ES and B; the next waiting instruction
 * raises #MF when CR0.NE is set (SDM vol. 1 8.6). */
static void test_deferred_mf(void)
{
    X86CPU *cpu = new_cpu();
    X86Insn fwait = insn_x87(0x9b, 0, 0, 0, 0);

    cpu->fpuc &= ~FPUS_ZE;
    reg_op(cpu, 0xd9, 0xe8);            /* fld1 */
    reg_op(cpu, 0xd9, 0xee);            /* fldz */
    reg_op(cpu, 0xde, 0xf9);            /* fdivp: 1/0 */
    g_assert_cmphex(cpu->fpus & (FPUS_ZE | FPUS_ES | FPUS_B), ==,
                    FPUS_ZE | FPUS_ES | FPUS_B);
    g_assert_true(st(cpu, 1) == 1.0L);  /* destination unchanged */
    g_assert_cmpint(run(cpu, &fwait), ==, EXCP_MF);
    X86Insn fadd = insn_x87(0xd8, 3, 0, 1, 0);
    g_assert_cmpint(run(cpu, &fadd), ==, EXCP_MF);
    cpu->cr0 &= ~CR0_NE;
    g_assert_cmpint(run(cpu, &fwait), ==, -1);
    cpu->cr0 |= CR0_NE;
    reg_op(cpu, 0xdb, 0xe2);            /* fnclex */
    g_assert_cmphex(cpu->fpus & (FPUS_EXC | FPUS_ES | FPUS_B), ==, 0);
    g_assert_cmpint(run(cpu, &fwait), ==, -1);

    /* CR0.TS: #NM for x87, for fwait only with MP */
    cpu->cr0 |= CR0_TS;
    g_assert_cmpint(run(cpu, &fadd), ==, EXCP_NM);
    g_assert_cmpint(run(cpu, &fwait), ==, EXCP_NM);
    cpu->cr0 &= ~CR0_MP;
    g_assert_cmpint(run(cpu, &fwait), ==, -1);
    g_free(cpu);
}

static void test_functions(void)
{
    X86CPU *cpu = new_cpu();

    /* fsqrt */
    fld_double(cpu, 2.0);
    reg_op(cpu, 0xd9, 0xfa);
    g_assert_true(fabsl(st(cpu, 0) * st(cpu, 0) - 2.0L) < 1e-18L);
    /* frndint by RC */
    fld_double(cpu, 2.5);
    reg_op(cpu, 0xd9, 0xfc);
    g_assert_true(st(cpu, 0) == 2.0L);
    set_rc(cpu, RC_UP);
    fld_double(cpu, 2.5);
    reg_op(cpu, 0xd9, 0xfc);
    g_assert_true(st(cpu, 0) == 3.0L);
    set_rc(cpu, RC_NEAREST);

    /* fprem: 10 mod 3 */
    x87_reset(cpu);
    fld_double(cpu, 3.0);
    fld_double(cpu, 10.0);
    reg_op(cpu, 0xd9, 0xf8);
    g_assert_true(st(cpu, 0) == 1.0L);
    g_assert_cmphex(cpu->fpus & FPUS_C2, ==, 0);

    /* fxtract: 8 = 1.0 * 2^3 */
    x87_reset(cpu);
    fld_double(cpu, 8.0);
    reg_op(cpu, 0xd9, 0xf4);
    g_assert_true(st(cpu, 0) == 1.0L);
    g_assert_true(st(cpu, 1) == 3.0L);
    /* fscale: 1.0 * 2^3 */
    reg_op(cpu, 0xd9, 0xfd);
    g_assert_true(st(cpu, 0) == 8.0L);

    /* fsin(pi) is tiny, fcos(0) is 1, fptan pushes 1 */
    x87_reset(cpu);
    reg_op(cpu, 0xd9, 0xeb);
    reg_op(cpu, 0xd9, 0xfe);
    g_assert_true(fabsl(st(cpu, 0)) < 1e-18L);
    reg_op(cpu, 0xd9, 0xee);
    reg_op(cpu, 0xd9, 0xff);
    g_assert_true(st(cpu, 0) == 1.0L);
    reg_op(cpu, 0xd9, 0xf2);
    g_assert_true(st(cpu, 0) == 1.0L);
    g_assert_true(fabsl(st(cpu, 1) - 1.5574077246549022305L) < 1e-17L);

    /* fyl2x: 3 * log2(8) = 9, pops */
    x87_reset(cpu);
    fld_double(cpu, 3.0);
    fld_double(cpu, 8.0);
    reg_op(cpu, 0xd9, 0xf1);
    g_assert_true(st(cpu, 0) == 9.0L);
    g_assert_cmpuint(cpu->fpstt, ==, 7);

    /* fsubr and fdivr with reversed DC/DE forms */
    x87_reset(cpu);
    fld_double(cpu, 10.0);
    fld_double(cpu, 4.0);               /* st0 = 4, st1 = 10 */
    reg_op(cpu, 0xdc, 0xe9);            /* fsub st1, st0: st1 = 10 - 4 */
    g_assert_true(st(cpu, 1) == 6.0L);
    reg_op(cpu, 0xdc, 0xe1);            /* fsubr st1, st0: st1 = 4 - 6 */
    g_assert_true(st(cpu, 1) == -2.0L);
    reg_op(cpu, 0xd8, 0xf9);            /* fdivr st0, st1: st0 = -2 / 4 */
    g_assert_true(st(cpu, 0) == -0.5L);
    reg_op(cpu, 0xde, 0xf9);            /* fdivp st1, st0: -2 / -0.5 */
    g_assert_true(st(cpu, 0) == 4.0L);
    g_assert_cmpuint(cpu->fpstt, ==, 7);

    /* fiadd m32, fisub m16 */
    *(int32_t *)page = 100;
    mem_op(cpu, 0xda, 0, 0);
    g_assert_true(st(cpu, 0) == 104.0L);
    *(int16_t *)page = 4;
    mem_op(cpu, 0xde, 5, 0);            /* fisubr: 4 - 104 */
    g_assert_true(st(cpu, 0) == -100.0L);
    g_free(cpu);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/x87/fistp-rounding", test_fistp_rounding);
    g_test_add_func("/x86/x87/store-precision", test_store_precision);
    g_test_add_func("/x86/x87/compare", test_compare);
    g_test_add_func("/x86/x87/fxam", test_fxam);
    g_test_add_func("/x86/x87/stack-faults", test_stack_faults);
    g_test_add_func("/x86/x87/deferred-mf", test_deferred_mf);
    g_test_add_func("/x86/x87/functions", test_functions);
    return g_test_run();
}
