/*
 * The software CPU's ALU and lazy flags against results worked out by hand
 * from the Intel SDM's definitions (vol. 1 3.4.3, vol. 2 per instruction).
 * Only architecturally defined flags are checked.
 */
#include <glib.h>

#include "../../target/x86/flags.h"

#define B 0
#define W 1
#define L 2
#define Q 3

static X86CPU *new_cpu(void)
{
    return g_new0(X86CPU, 1);
}

/* Flags under mask after the operation must be exactly want. */
static void check_flags(X86CPU *cpu, uint32_t mask, uint32_t want)
{
    g_assert_cmphex(x86_compute_flags(cpu) & mask, ==, want);
}

static void set_carry(X86CPU *cpu, bool cf)
{
    x86_set_cc_flags(cpu, cf ? CC_C : 0);
}

static void test_add(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    r = x86_alu(cpu, ALU_ADD, B, 0x7f, 1);
    g_assert_cmphex(r & 0xff, ==, 0x80);
    check_flags(cpu, CC_ALL, CC_O | CC_S | CC_A);

    x86_alu(cpu, ALU_ADD, B, 0xff, 1);
    check_flags(cpu, CC_ALL, CC_C | CC_Z | CC_A | CC_P);

    x86_alu(cpu, ALU_ADD, W, 0x0f, 0x01);       /* 0x10: one bit set */
    check_flags(cpu, CC_ALL, CC_A);

    x86_alu(cpu, ALU_ADD, L, 0xffffffff, 1);
    check_flags(cpu, CC_ALL, CC_C | CC_Z | CC_A | CC_P);

    x86_alu(cpu, ALU_ADD, L, 0x7fffffff, 0x7fffffff);  /* 0xfffffffe */
    check_flags(cpu, CC_ALL, CC_O | CC_S | CC_A);

    x86_alu(cpu, ALU_ADD, Q, 0x8000000000000000ull, 0x8000000000000000ull);
    check_flags(cpu, CC_ALL, CC_C | CC_O | CC_Z | CC_P);

    /* PF looks at the low byte only: 0x0300 has an even (zero) count */
    x86_alu(cpu, ALU_ADD, W, 0x0100, 0x0200);
    check_flags(cpu, CC_ALL, CC_P);
}

static void test_sub_cmp(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    r = x86_alu(cpu, ALU_SUB, B, 0, 1);
    g_assert_cmphex(r & 0xff, ==, 0xff);
    check_flags(cpu, CC_ALL, CC_C | CC_S | CC_A | CC_P);

    x86_alu(cpu, ALU_SUB, B, 0x80, 1);          /* 0x7f */
    check_flags(cpu, CC_ALL, CC_O | CC_A);

    x86_alu(cpu, ALU_SUB, L, 0x7fffffff, 0xffffffff);   /* 0x80000000 */
    check_flags(cpu, CC_ALL, CC_C | CC_O | CC_S | CC_P);

    r = x86_alu(cpu, ALU_CMP, Q, 5, 5);
    g_assert_cmpuint(r, ==, 5);                 /* cmp leaves a alone */
    check_flags(cpu, CC_ALL, CC_Z | CC_P);

    x86_alu(cpu, ALU_CMP, Q, 0, 0x8000000000000000ull);
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z, CC_C | CC_O | CC_S);
}

static void test_adc_sbb(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_ADC, B, 0xff, 0);
    g_assert_cmphex(r & 0xff, ==, 0);
    check_flags(cpu, CC_ALL, CC_C | CC_Z | CC_A | CC_P);

    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_ADC, B, 0x7f, 0);
    g_assert_cmphex(r & 0xff, ==, 0x80);
    check_flags(cpu, CC_ALL, CC_O | CC_S | CC_A);

    set_carry(cpu, false);
    r = x86_alu(cpu, ALU_ADC, B, 0x7f, 0);
    g_assert_cmphex(r & 0xff, ==, 0x7f);
    check_flags(cpu, CC_ALL, 0);

    /* carry out with both operands all-ones and a carry in */
    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_ADC, L, 0xffffffff, 0xffffffff);
    g_assert_cmphex(r & 0xffffffff, ==, 0xffffffff);
    check_flags(cpu, CC_C | CC_Z | CC_S | CC_O, CC_C | CC_S);

    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_SBB, B, 0, 0);
    g_assert_cmphex(r & 0xff, ==, 0xff);
    check_flags(cpu, CC_ALL, CC_C | CC_S | CC_A | CC_P);

    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_SBB, B, 0x80, 0);
    g_assert_cmphex(r & 0xff, ==, 0x7f);
    check_flags(cpu, CC_ALL, CC_O | CC_A);

    /* 0 - 0xffffffff - 1 wraps to 0 with a borrow */
    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_SBB, L, 0, 0xffffffff);
    g_assert_cmphex(r & 0xffffffff, ==, 0);
    check_flags(cpu, CC_C | CC_Z | CC_O, CC_C | CC_Z);

    set_carry(cpu, true);
    r = x86_alu(cpu, ALU_SBB, Q, 5, 4);
    g_assert_cmpuint(r, ==, 0);
    check_flags(cpu, CC_C | CC_Z, CC_Z);
}

static void test_inc_dec_neg(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    set_carry(cpu, true);
    r = x86_alu_inc(cpu, B, 0x7f);
    g_assert_cmphex(r & 0xff, ==, 0x80);
    check_flags(cpu, CC_ALL, CC_C | CC_O | CC_S | CC_A);

    set_carry(cpu, false);
    x86_alu_inc(cpu, B, 0xff);                  /* CF is not touched */
    check_flags(cpu, CC_ALL, CC_Z | CC_A | CC_P);

    set_carry(cpu, true);
    x86_alu_dec(cpu, W, 0x8000);                /* 0x7fff */
    check_flags(cpu, CC_ALL, CC_C | CC_O | CC_A | CC_P);

    set_carry(cpu, false);
    x86_alu_dec(cpu, L, 1);
    check_flags(cpu, CC_ALL, CC_Z | CC_P);

    x86_alu_dec(cpu, Q, 0);
    check_flags(cpu, CC_ALL, CC_S | CC_A | CC_P);

    /* neg is 0 - x: CF unless x is 0, OF for the most negative value */
    x86_alu(cpu, ALU_SUB, B, 0, 0);
    check_flags(cpu, CC_C | CC_Z | CC_O, CC_Z);
    x86_alu(cpu, ALU_SUB, B, 0, 1);
    check_flags(cpu, CC_C | CC_Z | CC_O | CC_S, CC_C | CC_S);
    r = x86_alu(cpu, ALU_SUB, B, 0, 0x80);
    g_assert_cmphex(r & 0xff, ==, 0x80);
    check_flags(cpu, CC_C | CC_O | CC_S, CC_C | CC_O | CC_S);
}

static void test_logic(void)
{
    g_autofree X86CPU *cpu = new_cpu();

    set_carry(cpu, true);
    x86_alu(cpu, ALU_AND, L, 0x80000001, 0x80000000);
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z | CC_P, CC_S | CC_P);
    x86_alu(cpu, ALU_XOR, Q, 0x1234, 0x1234);
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z | CC_P, CC_Z | CC_P);
    x86_alu(cpu, ALU_OR, B, 0x01, 0x02);        /* 3: two bits, even */
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z | CC_P, CC_P);
}

static void test_shifts(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    r = x86_alu_shift(cpu, SHIFT_SHL, B, 0x81, 1);
    g_assert_cmphex(r, ==, 0x02);
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z, CC_C | CC_O);

    r = x86_alu_shift(cpu, SHIFT_SHR, B, 0x81, 1);
    g_assert_cmphex(r, ==, 0x40);
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z, CC_C | CC_O);

    r = x86_alu_shift(cpu, SHIFT_SAR, B, 0x81, 1);
    g_assert_cmphex(r, ==, 0xc0);
    check_flags(cpu, CC_C | CC_O | CC_S | CC_Z, CC_C | CC_S);

    /* count 0: neither result nor flags change */
    x86_set_cc_flags(cpu, CC_C | CC_Z | CC_O);
    r = x86_alu_shift(cpu, SHIFT_SHL, L, 0x1234, 0);
    g_assert_cmphex(r, ==, 0x1234);
    check_flags(cpu, CC_ALL, CC_C | CC_Z | CC_O);

    /* counts are masked to 5 bits (6 for 64-bit operands) */
    x86_set_cc_flags(cpu, CC_C);
    r = x86_alu_shift(cpu, SHIFT_SHL, B, 0x55, 32);
    g_assert_cmphex(r, ==, 0x55);
    check_flags(cpu, CC_ALL, CC_C);
    r = x86_alu_shift(cpu, SHIFT_SHL, L, 1, 33);
    g_assert_cmphex(r, ==, 2);
    r = x86_alu_shift(cpu, SHIFT_SHL, Q, 1, 65);
    g_assert_cmphex(r, ==, 2);
    r = x86_alu_shift(cpu, SHIFT_SHL, Q, 1, 32);
    g_assert_cmphex(r, ==, 0x100000000ull);

    /* width - 1: CF is the last bit shifted out */
    r = x86_alu_shift(cpu, SHIFT_SHL, L, 3, 31);
    g_assert_cmphex(r, ==, 0x80000000);
    check_flags(cpu, CC_C | CC_S | CC_Z, CC_C | CC_S);
    r = x86_alu_shift(cpu, SHIFT_SHR, L, 0x80000000, 31);
    g_assert_cmphex(r, ==, 1);
    check_flags(cpu, CC_C | CC_S | CC_Z, 0);
    r = x86_alu_shift(cpu, SHIFT_SAR, W, 0x8000, 15);
    g_assert_cmphex(r, ==, 0xffff);
    check_flags(cpu, CC_C | CC_S | CC_Z, CC_S);
    r = x86_alu_shift(cpu, SHIFT_SAR, Q, 0xc000000000000000ull, 63);
    g_assert_cmphex(r, ==, ~0ull);
    check_flags(cpu, CC_C | CC_S, CC_C | CC_S);

    /* a byte shifted by its width: everything out, CF = old bit 0 */
    r = x86_alu_shift(cpu, SHIFT_SHL, B, 0x01, 8);
    g_assert_cmphex(r, ==, 0);
    check_flags(cpu, CC_C | CC_Z, CC_C | CC_Z);
    r = x86_alu_shift(cpu, SHIFT_SHR, B, 0x80, 8);
    g_assert_cmphex(r, ==, 0);
    check_flags(cpu, CC_C | CC_Z, CC_C | CC_Z);
}

static void test_rotates(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    /* rol/ror touch only CF and OF */
    x86_set_cc_flags(cpu, CC_Z | CC_P);
    r = x86_alu_shift(cpu, SHIFT_ROL, B, 0x81, 1);
    g_assert_cmphex(r, ==, 0x03);
    check_flags(cpu, CC_ALL, CC_C | CC_O | CC_Z | CC_P);

    x86_set_cc_flags(cpu, 0);
    r = x86_alu_shift(cpu, SHIFT_ROR, B, 0x01, 1);
    g_assert_cmphex(r, ==, 0x80);
    check_flags(cpu, CC_ALL, CC_C | CC_O);

    /* rotating a byte by 8: same value, CF = bit 0 */
    x86_set_cc_flags(cpu, 0);
    r = x86_alu_shift(cpu, SHIFT_ROL, B, 0x81, 8);
    g_assert_cmphex(r, ==, 0x81);
    check_flags(cpu, CC_C, CC_C);

    x86_set_cc_flags(cpu, CC_S);
    r = x86_alu_shift(cpu, SHIFT_ROL, Q, 0x8000000000000001ull, 4);
    g_assert_cmphex(r, ==, 0x18);
    check_flags(cpu, CC_C | CC_S, CC_S);

    r = x86_alu_shift(cpu, SHIFT_ROR, L, 0x12345678, 8);
    g_assert_cmphex(r, ==, 0x78123456);
    check_flags(cpu, CC_C, 0);

    /* through carry */
    set_carry(cpu, false);
    r = x86_alu_shift(cpu, SHIFT_RCL, B, 0x80, 1);
    g_assert_cmphex(r, ==, 0x00);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);

    set_carry(cpu, true);
    r = x86_alu_shift(cpu, SHIFT_RCR, B, 0x01, 1);
    g_assert_cmphex(r, ==, 0x80);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);

    /* 9-bit rotation of a byte: a count of 9 is the identity */
    set_carry(cpu, true);
    r = x86_alu_shift(cpu, SHIFT_RCL, B, 0x5a, 9);
    g_assert_cmphex(r, ==, 0x5a);
    check_flags(cpu, CC_C, CC_C);

    set_carry(cpu, true);
    r = x86_alu_shift(cpu, SHIFT_RCR, Q, 0, 1);
    g_assert_cmphex(r, ==, 0x8000000000000000ull);
    check_flags(cpu, CC_C | CC_O, CC_O);

    set_carry(cpu, true);
    r = x86_alu_shift(cpu, SHIFT_RCL, L, 0x80000000, 33);  /* masked: 1 */
    g_assert_cmphex(r, ==, 1);
    check_flags(cpu, CC_C, CC_C);

    /* 16-bit rcl by 17 is the identity */
    set_carry(cpu, false);
    r = x86_alu_shift(cpu, SHIFT_RCL, W, 0x8001, 17);
    g_assert_cmphex(r, ==, 0x8001);
    check_flags(cpu, CC_C, 0);
}

static void test_double_shifts(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t r;

    r = x86_alu_shd(cpu, true, W, 0x1234, 0x5678, 4);
    g_assert_cmphex(r, ==, 0x2345);
    check_flags(cpu, CC_C, CC_C);               /* bit 12 of 0x1234 */

    r = x86_alu_shd(cpu, false, L, 0x12345678, 0x9abcdef0, 8);
    g_assert_cmphex(r, ==, 0xf0123456);
    check_flags(cpu, CC_C | CC_S, CC_S);

    r = x86_alu_shd(cpu, true, Q, 0x8000000000000000ull,
                    0x8000000000000000ull, 1);
    g_assert_cmphex(r, ==, 1);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);

    x86_set_cc_flags(cpu, CC_Z);
    r = x86_alu_shd(cpu, false, L, 0x1234, 0xffff, 32);  /* masked: 0 */
    g_assert_cmphex(r, ==, 0x1234);
    check_flags(cpu, CC_ALL, CC_Z);
}

static void test_mul(void)
{
    g_autofree X86CPU *cpu = new_cpu();
    uint64_t lo, hi;

    lo = x86_alu_mul(cpu, B, 0x80, 2, &hi);
    g_assert_cmphex(lo, ==, 0);
    g_assert_cmphex(hi, ==, 1);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);

    lo = x86_alu_mul(cpu, W, 0x00ff, 0x0100, &hi);
    g_assert_cmphex(lo, ==, 0xff00);
    g_assert_cmphex(hi, ==, 0);
    check_flags(cpu, CC_C | CC_O, 0);

    lo = x86_alu_mul(cpu, L, 0xffffffff, 0xffffffff, &hi);
    g_assert_cmphex(lo, ==, 1);
    g_assert_cmphex(hi, ==, 0xfffffffe);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);

    lo = x86_alu_mul(cpu, Q, 0x8000000000000000ull, 2, &hi);
    g_assert_cmphex(lo, ==, 0);
    g_assert_cmphex(hi, ==, 1);

    lo = x86_alu_imul(cpu, B, 0xff, 0xff, &hi);     /* -1 * -1 */
    g_assert_cmphex(lo, ==, 1);
    g_assert_cmphex(hi, ==, 0);
    check_flags(cpu, CC_C | CC_O, 0);

    lo = x86_alu_imul(cpu, B, 0x40, 2, &hi);        /* 128 does not fit */
    g_assert_cmphex(lo, ==, 0x80);
    g_assert_cmphex(hi, ==, 0);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);

    lo = x86_alu_imul(cpu, W, 0xfffe, 3, &hi);      /* -2 * 3 = -6 */
    g_assert_cmphex(lo, ==, 0xfffa);
    g_assert_cmphex(hi, ==, 0xffff);
    check_flags(cpu, CC_C | CC_O, 0);

    lo = x86_alu_imul(cpu, Q, 0x8000000000000000ull, ~0ull, &hi);
    g_assert_cmphex(lo, ==, 0x8000000000000000ull);
    g_assert_cmphex(hi, ==, 0);
    check_flags(cpu, CC_C | CC_O, CC_C | CC_O);
}

static void test_div(void)
{
    uint64_t q, r;

    g_assert_true(x86_alu_div(B, 0x00, 0x01, 2, &q, &r));  /* 0x100 / 2 */
    g_assert_cmphex(q, ==, 0x80);
    g_assert_cmphex(r, ==, 0);
    g_assert_false(x86_alu_div(B, 0x00, 0x02, 2, &q, &r)); /* q = 0x100 */
    g_assert_false(x86_alu_div(L, 5, 0, 0, &q, &r));       /* by zero */
    g_assert_true(x86_alu_div(L, 7, 0, 2, &q, &r));
    g_assert_cmphex(q, ==, 3);
    g_assert_cmphex(r, ==, 1);
    g_assert_true(x86_alu_div(Q, 0, 1, 2, &q, &r));
    g_assert_cmphex(q, ==, 0x8000000000000000ull);
    g_assert_false(x86_alu_div(Q, 0, 2, 2, &q, &r));
    g_assert_true(x86_alu_div(Q, ~0ull, 0, 10, &q, &r));
    g_assert_cmphex(q, ==, 1844674407370955161ull);
    g_assert_cmphex(r, ==, 5);

    /* -7 / 2 truncates toward zero: -3 rem -1 */
    g_assert_true(x86_alu_idiv(B, 0xf9, 0xff, 2, &q, &r));
    g_assert_cmphex(q, ==, 0xfd);
    g_assert_cmphex(r, ==, 0xff);
    g_assert_false(x86_alu_idiv(B, 0x80, 0xff, 0xff, &q, &r)); /* -128/-1 */
    g_assert_true(x86_alu_idiv(B, 0x80, 0xff, 1, &q, &r));
    g_assert_cmphex(q, ==, 0x80);
    g_assert_false(x86_alu_idiv(L, 0x80000000, 0xffffffff, 0xffffffff,
                                &q, &r));
    g_assert_false(x86_alu_idiv(W, 1, 0, 0, &q, &r));
    g_assert_false(x86_alu_idiv(Q, 0x8000000000000000ull, ~0ull, ~0ull,
                                &q, &r));
    g_assert_false(x86_alu_idiv(Q, 0, 0x8000000000000000ull, ~0ull, &q, &r));
    g_assert_true(x86_alu_idiv(Q, (uint64_t)-100, ~0ull, 7, &q, &r));
    g_assert_cmpint((int64_t)q, ==, -14);
    g_assert_cmpint((int64_t)r, ==, -2);
}

static void test_bcd(void)
{
    g_autofree X86CPU *cpu = new_cpu();

    /* SDM DAA example: 79h + 35h = AEh, DAA gives 14h with CF and AF */
    cpu->regs[R_EAX] = x86_alu(cpu, ALU_ADD, B, 0x79, 0x35) & 0xff;
    x86_alu_daa(cpu);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xff, ==, 0x14);
    check_flags(cpu, CC_C | CC_A, CC_C | CC_A);

    /* SDM DAS example: 35h - 47h = EEh, DAS gives 88h with CF and AF */
    cpu->regs[R_EAX] = x86_alu(cpu, ALU_SUB, B, 0x35, 0x47) & 0xff;
    x86_alu_das(cpu);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xff, ==, 0x88);
    check_flags(cpu, CC_C | CC_A | CC_S, CC_C | CC_A | CC_S);

    /* no adjustment needed */
    x86_set_cc_flags(cpu, 0);
    cpu->regs[R_EAX] = 0x45;
    x86_alu_daa(cpu);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xff, ==, 0x45);
    check_flags(cpu, CC_C | CC_A | CC_Z, 0);

    x86_set_cc_flags(cpu, 0);
    cpu->regs[R_EAX] = 0x000b;
    x86_alu_aaa(cpu);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x0101);
    check_flags(cpu, CC_C | CC_A, CC_C | CC_A);

    x86_set_cc_flags(cpu, 0);
    cpu->regs[R_EAX] = 0x0735;
    x86_alu_aaa(cpu);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x0705);
    check_flags(cpu, CC_C | CC_A, 0);

    x86_set_cc_flags(cpu, CC_A);
    cpu->regs[R_EAX] = 0x0200;
    x86_alu_aas(cpu);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x000a);
    check_flags(cpu, CC_C | CC_A, CC_C | CC_A);

    cpu->regs[R_EAX] = 0x123f;
    g_assert_true(x86_alu_aam(cpu, 10));
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x0603);
    check_flags(cpu, CC_Z | CC_S | CC_P, CC_P);
    g_assert_false(x86_alu_aam(cpu, 0));        /* #DE */
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x0603);

    x86_alu_aad(cpu, 10);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x003f);
    cpu->regs[R_EAX] = 0x0603;
    x86_alu_aad(cpu, 16);
    g_assert_cmphex(cpu->regs[R_EAX] & 0xffff, ==, 0x0063);
    cpu->regs[R_EAX] = 0x0000;
    x86_alu_aad(cpu, 10);
    check_flags(cpu, CC_Z, CC_Z);
}

static void test_conditions(void)
{
    g_autofree X86CPU *cpu = new_cpu();

    x86_alu(cpu, ALU_CMP, L, 1, 2);
    g_assert_true(x86_condition(cpu, 0x2));     /* b */
    g_assert_true(x86_condition(cpu, 0x6));     /* be */
    g_assert_true(x86_condition(cpu, 0xc));     /* l */
    g_assert_true(x86_condition(cpu, 0xe));     /* le */
    g_assert_false(x86_condition(cpu, 0x4));    /* z */
    g_assert_false(x86_condition(cpu, 0x7));    /* a */
    g_assert_true(x86_condition(cpu, 0x8));     /* s */
    g_assert_false(x86_condition(cpu, 0x0));    /* o */

    x86_alu(cpu, ALU_CMP, L, 0xffffffff, 1);    /* -1 vs 1 */
    g_assert_false(x86_condition(cpu, 0x2));
    g_assert_true(x86_condition(cpu, 0x7));
    g_assert_true(x86_condition(cpu, 0xc));
    g_assert_true(x86_condition(cpu, 0x8));     /* s: 0xfffffffe */
    g_assert_false(x86_condition(cpu, 0x9));

    x86_alu(cpu, ALU_CMP, B, 0x80, 0x01);       /* -128 - 1 overflows */
    g_assert_true(x86_condition(cpu, 0x0));
    g_assert_true(x86_condition(cpu, 0xc));     /* l: SF != OF */
    g_assert_false(x86_condition(cpu, 0xd));
    g_assert_true(x86_condition(cpu, 0x7));     /* a: 0x80 > 1 unsigned */

    x86_alu(cpu, ALU_CMP, Q, 7, 7);
    g_assert_true(x86_condition(cpu, 0x4));
    g_assert_true(x86_condition(cpu, 0xa));     /* p: 0 has even parity */
    g_assert_true(x86_condition(cpu, 0xd));
    g_assert_false(x86_condition(cpu, 0xf));    /* g */

    x86_set_logic_flags(cpu, W, 0x8000);
    g_assert_true(x86_condition(cpu, 0x8));
    g_assert_true(x86_condition(cpu, 0xc));     /* l: SF != OF(0) */
    g_assert_false(x86_condition(cpu, 0x2));
    g_assert_true(x86_condition(cpu, 0x3));     /* ae: CF = 0 */

    x86_set_cc_flags(cpu, CC_S | CC_O);
    g_assert_false(x86_condition(cpu, 0xc));
    g_assert_true(x86_condition(cpu, 0xf));
    x86_set_cc_flags(cpu, CC_Z | CC_C);
    g_assert_true(x86_condition(cpu, 0x6));
    g_assert_false(x86_condition(cpu, 0x7));
    g_assert_true(x86_condition(cpu, 0xe));
}

static void test_eflags(void)
{
    g_autofree X86CPU *cpu = new_cpu();

    cpu->eflags = IF_MASK;
    x86_alu(cpu, ALU_SUB, L, 0, 1);
    g_assert_cmphex(x86_get_eflags(cpu), ==,
                    IF_MASK | 2 | CC_C | CC_S | CC_A | CC_P);

    x86_set_eflags(cpu, DF_MASK | CC_Z | CC_O, DF_MASK | CC_ALL);
    g_assert_cmphex(x86_get_eflags(cpu), ==,
                    IF_MASK | DF_MASK | 2 | CC_Z | CC_O);
    g_assert_true(x86_condition(cpu, 0x4));
    g_assert_true(x86_condition(cpu, 0x0));

    /* bits outside the mask are kept */
    x86_set_eflags(cpu, 0, CC_O);
    g_assert_cmphex(x86_get_eflags(cpu), ==, IF_MASK | DF_MASK | 2 | CC_Z);
    g_assert_cmphex(cpu->eflags & CC_ALL, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/alu/add", test_add);
    g_test_add_func("/x86/alu/sub-cmp", test_sub_cmp);
    g_test_add_func("/x86/alu/adc-sbb", test_adc_sbb);
    g_test_add_func("/x86/alu/inc-dec-neg", test_inc_dec_neg);
    g_test_add_func("/x86/alu/logic", test_logic);
    g_test_add_func("/x86/alu/shifts", test_shifts);
    g_test_add_func("/x86/alu/rotates", test_rotates);
    g_test_add_func("/x86/alu/double-shifts", test_double_shifts);
    g_test_add_func("/x86/alu/mul", test_mul);
    g_test_add_func("/x86/alu/div", test_div);
    g_test_add_func("/x86/alu/bcd", test_bcd);
    g_test_add_func("/x86/flags/conditions", test_conditions);
    g_test_add_func("/x86/flags/eflags", test_eflags);
    return g_test_run();
}
