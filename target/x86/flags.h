/*
 * Lazy arithmetic flags and the ALU helpers of the integer instructions
 * (flags.c, int.c). Flag definitions follow the Intel SDM vol. 1 3.4.3 and
 * the per-instruction "Flags Affected" sections of vol. 2.
 *
 * cpu->cc_op is CC_OP(kind, size log2). For the add/sub kinds cc_src and
 * cc_src2 hold the two operands and cc_dst the result: carry, overflow and
 * auxiliary carry follow from the three without knowing the carry-in, so
 * adc/sbb share the add/sub formulas.
 */
#ifndef TARGET_X86_FLAGS_H
#define TARGET_X86_FLAGS_H

#include "internal.h"

enum {
    CC_K_EFLAGS,    /* cc_src holds the CC_* bits */
    CC_K_ADD,       /* cc_src + cc_src2 (+ CF) = cc_dst */
    CC_K_ADC,
    CC_K_SUB,       /* cc_src - cc_src2 (- CF) = cc_dst */
    CC_K_SBB,
    CC_K_LOGIC,     /* cc_dst; CF = OF = AF = 0 */
    CC_K_INC,       /* cc_dst = old + 1; cc_src = CF before */
    CC_K_DEC,       /* cc_dst = old - 1; cc_src = CF before */
    CC_K_RESULT,    /* SF/ZF/PF from cc_dst; CF/OF/AF as bits in cc_src */
};

#define CC_OP(kind, sz) (((kind) << 2) | (sz))
#define CC_OP_EFLAGS    CC_OP(CC_K_EFLAGS, 0)

/* The eight arithmetic operations in their encoding order (00..3F, 80 /r). */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* Shift and rotate group (C0, C1, D0..D3 /r). */
enum {
    SHIFT_ROL, SHIFT_ROR, SHIFT_RCL, SHIFT_RCR,
    SHIFT_SHL, SHIFT_SHR, SHIFT_SAL, SHIFT_SAR,
};

/* log2 of an operand size of 1, 2, 4 or 8 bytes. */
static inline int x86_size_log2(int size)
{
    return size == 8 ? 3 : size >> 1;
}

static inline uint64_t x86_size_mask(int sz)
{
    return sz == 3 ? ~0ull : (1ull << (8 << sz)) - 1;
}

static inline uint64_t x86_sign_bit(int sz)
{
    return 1ull << ((8 << sz) - 1);
}

/* Sign-extends the low (8 << sz) bits of v. */
static inline int64_t x86_sext(uint64_t v, int sz)
{
    int shift = 64 - (8 << sz);
    return (int64_t)(v << shift) >> shift;
}

/*
 * Condition cc (0..15, as Jcc encodes it) with the common cases worked out
 * in place: ZF and SF of any result, and every condition after cmp/sub and
 * the logic operations. Shifting left by 64 - width leaves the operand
 * bits at the top, where unsigned and signed compares of the full words
 * order them as the narrow values. The rest goes to x86_condition.
 */
static inline __attribute__((always_inline)) bool
x86_condition_inline(X86CPU *cpu, int cc)
{
    uint32_t op = cpu->cc_op;
    unsigned shift = 64 - (8 << (op & 3));
    uint64_t d = cpu->cc_dst << shift;
    bool r;

    switch (cc >> 1) {
    case 2:
        if (op >> 2 == CC_K_EFLAGS) {
            break;
        }
        return (d == 0) ^ (cc & 1);
    case 4:
        if (op >> 2 == CC_K_EFLAGS) {
            break;
        }
        return ((int64_t)d < 0) ^ (cc & 1);
    case 1: case 3: case 6: case 7:
        if (op >> 2 == CC_K_SUB) {
            uint64_t a = cpu->cc_src << shift, b = cpu->cc_src2 << shift;
            switch (cc >> 1) {
            case 1: r = a < b; break;
            case 3: r = a <= b; break;
            case 6: r = (int64_t)a < (int64_t)b; break;
            default: r = (int64_t)a <= (int64_t)b; break;
            }
            return r ^ (cc & 1);
        }
        if (op >> 2 == CC_K_LOGIC) {
            switch (cc >> 1) {
            case 1: r = false; break;
            case 3: r = d == 0; break;
            case 6: r = (int64_t)d < 0; break;
            default: r = d == 0 || (int64_t)d < 0; break;
            }
            return r ^ (cc & 1);
        }
        break;
    default:
        break;
    }
    return x86_condition(cpu, cc);
}

/* CF alone, cheaper than x86_compute_flags for adc/sbb/rcl/inc/dec. */
bool x86_compute_cf(X86CPU *cpu);

static inline void x86_set_cc(X86CPU *cpu, uint32_t op, uint64_t dst,
                              uint64_t src, uint64_t src2)
{
    cpu->cc_op = op;
    cpu->cc_dst = dst;
    cpu->cc_src = src;
    cpu->cc_src2 = src2;
}

/* Sets the flags to exactly the CC_* bits in flags. */
static inline void x86_set_cc_flags(X86CPU *cpu, uint32_t flags)
{
    cpu->cc_op = CC_OP_EFLAGS;
    cpu->cc_src = flags & CC_ALL;
}

/*
 * One of the ALU_* operations on operands of size 1 << sz; returns the
 * result (not masked) and records the flags. ALU_CMP returns a unchanged.
 */
static inline uint64_t x86_alu(X86CPU *cpu, int op, int sz, uint64_t a,
                               uint64_t b)
{
    uint64_t r;

    switch (op) {
    case ALU_ADD:
        r = a + b;
        x86_set_cc(cpu, CC_OP(CC_K_ADD, sz), r, a, b);
        return r;
    case ALU_OR:
        r = a | b;
        break;
    case ALU_ADC:
        r = a + b + x86_compute_cf(cpu);
        x86_set_cc(cpu, CC_OP(CC_K_ADC, sz), r, a, b);
        return r;
    case ALU_SBB:
        r = a - b - x86_compute_cf(cpu);
        x86_set_cc(cpu, CC_OP(CC_K_SBB, sz), r, a, b);
        return r;
    case ALU_AND:
        r = a & b;
        break;
    case ALU_SUB:
        r = a - b;
        x86_set_cc(cpu, CC_OP(CC_K_SUB, sz), r, a, b);
        return r;
    case ALU_XOR:
        r = a ^ b;
        break;
    default:
        x86_set_cc(cpu, CC_OP(CC_K_SUB, sz), a - b, a, b);
        return a;
    }
    cpu->cc_op = CC_OP(CC_K_LOGIC, sz);
    cpu->cc_dst = r;
    return r;
}

static inline uint64_t x86_alu_inc(X86CPU *cpu, int sz, uint64_t a)
{
    uint64_t cf = x86_compute_cf(cpu);
    x86_set_cc(cpu, CC_OP(CC_K_INC, sz), a + 1, cf, 0);
    return a + 1;
}

static inline uint64_t x86_alu_dec(X86CPU *cpu, int sz, uint64_t a)
{
    uint64_t cf = x86_compute_cf(cpu);
    x86_set_cc(cpu, CC_OP(CC_K_DEC, sz), a - 1, cf, 0);
    return a - 1;
}

static inline void x86_set_logic_flags(X86CPU *cpu, int sz, uint64_t r)
{
    cpu->cc_op = CC_OP(CC_K_LOGIC, sz);
    cpu->cc_dst = r;
}

/*
 * Out-of-line ALU helpers (flags.c). Counts are the raw count operand;
 * the helpers mask them as the SDM says and leave the flags alone when the
 * masked count is zero.
 */
uint64_t x86_alu_shift(X86CPU *cpu, int op, int sz, uint64_t a,
                       unsigned count);
/* shld (left) / shrd: dst shifted with bits coming in from src. */
uint64_t x86_alu_shd(X86CPU *cpu, bool left, int sz, uint64_t dst,
                     uint64_t src, unsigned count);
/* Unsigned and signed multiply: *hi gets the high half, flags CF=OF. */
uint64_t x86_alu_mul(X86CPU *cpu, int sz, uint64_t a, uint64_t b,
                     uint64_t *hi);
uint64_t x86_alu_imul(X86CPU *cpu, int sz, uint64_t a, uint64_t b,
                      uint64_t *hi);
/*
 * Divides hi:lo (each of size 1 << sz) by d. Returns false for the #DE
 * cases (divisor zero, quotient out of range); flags are left alone.
 */
bool x86_alu_div(int sz, uint64_t lo, uint64_t hi, uint64_t d,
                 uint64_t *quot, uint64_t *rem);
bool x86_alu_idiv(int sz, uint64_t lo, uint64_t hi, uint64_t d,
                  uint64_t *quot, uint64_t *rem);

/* BCD adjustments on AL/AX in cpu->regs[R_EAX]. aam returns false for #DE. */
void x86_alu_daa(X86CPU *cpu);
void x86_alu_das(X86CPU *cpu);
void x86_alu_aaa(X86CPU *cpu);
void x86_alu_aas(X86CPU *cpu);
bool x86_alu_aam(X86CPU *cpu, uint8_t base);
void x86_alu_aad(X86CPU *cpu, uint8_t base);

#endif
