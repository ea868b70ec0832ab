/*
 * General-purpose integer instructions of the one-byte and 0F maps (Intel
 * SDM vol. 2): moves, arithmetic and logic, shifts, bit operations, the
 * stack, near and far control transfers, port I/O and the legacy BCD
 * instructions. String instructions are in string.c. Locked read-modify-
 * write instructions use host atomics on guest RAM.
 */
#include <pthread.h>
#include <time.h>

#include "int.h"

/* ---------------------------------------------------------------------
 * Operands
 * ------------------------------------------------------------------- */

/* Byte forms have bit 0 of the opcode clear (SDM vol. 2 B.1.4.3). */
static inline int op_size(const X86Insn *insn)
{
    return (insn->opcode & 1) ? insn->opsize : 1;
}

/* Register encoded in the low opcode bits (50+r, B8+r, ...). */
static inline int op_reg(const X86Insn *insn)
{
    return (insn->opcode & 7) | ((insn->rex & 1) << 3);
}

static inline uint64_t get_reg(X86CPU *cpu, const X86Insn *insn, int reg,
                               int size)
{
    return x86_reg_read(cpu, reg, size, insn->rex != 0);
}

static inline void set_reg(X86CPU *cpu, const X86Insn *insn, int reg,
                           int size, uint64_t val)
{
    x86_reg_write(cpu, reg, size, insn->rex != 0, val);
}

static inline uint64_t get_rm(X86CPU *cpu, const X86Insn *insn, int size)
{
    if (insn->mod == 3) {
        return get_reg(cpu, insn, insn->rm, size);
    }
    return x86_ld(cpu, x86_linear_inline(cpu, insn), size);
}

static inline void set_rm(X86CPU *cpu, const X86Insn *insn, int size,
                          uint64_t val)
{
    if (insn->mod == 3) {
        set_reg(cpu, insn, insn->rm, size, val);
    } else {
        x86_st(cpu, x86_linear_inline(cpu, insn), size, val);
    }
}

static inline bool is_canonical(uint64_t addr)
{
    return (uint64_t)((int64_t)(addr << 16) >> 16) == addr;
}

/* A near branch target: #GP(0) if not canonical in 64-bit mode. */
static inline void near_branch(X86CPU *cpu, const X86Insn *insn,
                               uint64_t target)
{
    if (insn->opsize == 8) {
        if (unlikely(!is_canonical(target))) {
            x86_raise_exception_err(cpu, EXCP_GP, 0);
        }
        cpu->next_rip = target;
    } else {
        cpu->next_rip = target & x86_addr_mask(insn->opsize);
    }
}

static void set_flag_bits(X86CPU *cpu, uint32_t clear, uint32_t set)
{
    x86_set_cc_flags(cpu, (x86_compute_flags(cpu) & ~clear) | set);
}

/* ---------------------------------------------------------------------
 * Atomic read-modify-write on guest RAM
 * ------------------------------------------------------------------- */

static inline uint64_t atomic_load_sized(void *p, int size)
{
    switch (size) {
    case 1: return __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST);
    case 2: return __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST);
    case 4: return __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
    default: return __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST);
    }
}

#define CAS_SIZED(type, p, expected, desired) ({                         \
    type e_ = *(expected);                                               \
    bool ok_ = __atomic_compare_exchange_n((type *)(p), &e_,             \
                                           (type)(desired), false,       \
                                           __ATOMIC_SEQ_CST,             \
                                           __ATOMIC_SEQ_CST);            \
    *(expected) = e_;                                                    \
    ok_;                                                                 \
})

/* On failure *expected gets the current value. */
static inline bool atomic_cas_sized(void *p, int size, uint64_t *expected,
                                    uint64_t desired)
{
    switch (size) {
    case 1: return CAS_SIZED(uint8_t, p, expected, desired);
    case 2: return CAS_SIZED(uint16_t, p, expected, desired);
    case 4: return CAS_SIZED(uint32_t, p, expected, desired);
    default: return CAS_SIZED(uint64_t, p, expected, desired);
    }
}

static inline uint64_t atomic_xchg_sized(void *p, int size, uint64_t val)
{
    switch (size) {
    case 1: return __atomic_exchange_n((uint8_t *)p, val, __ATOMIC_SEQ_CST);
    case 2: return __atomic_exchange_n((uint16_t *)p, val, __ATOMIC_SEQ_CST);
    case 4: return __atomic_exchange_n((uint32_t *)p, val, __ATOMIC_SEQ_CST);
    default: return __atomic_exchange_n((uint64_t *)p, val,
                                        __ATOMIC_SEQ_CST);
    }
}

/* new = fn(old); op and arg are the operation's own parameters. */
typedef uint64_t RmwFn(X86CPU *cpu, int op, int sz, uint64_t old,
                       uint64_t arg);

/*
 * Locked read-modify-write at lin; returns the old value. Split or MMIO
 * operands (no host pointer) fall back to a plain load and store.
 */
static uint64_t locked_rmw(X86CPU *cpu, uint64_t lin, int sz, RmwFn *fn,
                           int op, uint64_t arg)
{
    int size = 1 << sz;
    void *p = x86_host_ptr(cpu, lin, size, true);
    uint64_t old;

    if (!p) {
        old = x86_ld(cpu, lin, size);
        x86_st(cpu, lin, size, fn(cpu, op, sz, old, arg));
        return old;
    }
    old = atomic_load_sized(p, size);
    while (!atomic_cas_sized(p, size, &old, fn(cpu, op, sz, old, arg))) {
        /* old now holds the current value; recompute */
    }
    return old;
}

/* op carries the carry-in in bit 3 so that a retried adc/sbb does not read
 * the flags its own first attempt set. */
static uint64_t rmw_alu(X86CPU *cpu, int op, int sz, uint64_t old,
                        uint64_t arg)
{
    uint64_t cf = op >> 3, r;

    switch (op & 7) {
    case ALU_ADC:
        r = old + arg + cf;
        x86_set_cc(cpu, CC_OP(CC_K_ADC, sz), r, old, arg);
        return r;
    case ALU_SBB:
        r = old - arg - cf;
        x86_set_cc(cpu, CC_OP(CC_K_SBB, sz), r, old, arg);
        return r;
    default:
        return x86_alu(cpu, op & 7, sz, old, arg);
    }
}

static uint64_t rmw_inc_dec(X86CPU *cpu, int op, int sz, uint64_t old,
                            uint64_t arg)
{
    return op ? x86_alu_dec(cpu, sz, old) : x86_alu_inc(cpu, sz, old);
}

static uint64_t rmw_not(X86CPU *cpu, int op, int sz, uint64_t old,
                        uint64_t arg)
{
    return ~old;
}

static uint64_t rmw_neg(X86CPU *cpu, int op, int sz, uint64_t old,
                        uint64_t arg)
{
    return x86_alu(cpu, ALU_SUB, sz, 0, old);
}

/* ---------------------------------------------------------------------
 * Stack
 * ------------------------------------------------------------------- */

static inline uint64_t sp_mask(X86CPU *cpu)
{
    return x86_addr_mask(cpu->stack_size);
}

static inline void set_sp(X86CPU *cpu, uint64_t sp)
{
    x86_reg_write(cpu, R_ESP, cpu->stack_size, false, sp);
}

static inline uint64_t stack_lin(X86CPU *cpu, uint64_t sp)
{
    return x86_seg_linear_inline(cpu, R_SS, sp & sp_mask(cpu));
}

static inline void push(X86CPU *cpu, int size, uint64_t val)
{
    uint64_t sp = (cpu->regs[R_ESP] - size) & sp_mask(cpu);

    x86_st(cpu, x86_seg_linear_inline(cpu, R_SS, sp), size, val);
    set_sp(cpu, sp);
}

static inline uint64_t pop(X86CPU *cpu, int size)
{
    uint64_t sp = cpu->regs[R_ESP] & sp_mask(cpu);
    uint64_t val = x86_ld(cpu, x86_seg_linear_inline(cpu, R_SS, sp), size);

    set_sp(cpu, sp + size);
    return val;
}

void x86_push(X86CPU *cpu, int size, uint64_t val)
{
    push(cpu, size, val);
}

uint64_t x86_pop(X86CPU *cpu, int size)
{
    return pop(cpu, size);
}

/* ---------------------------------------------------------------------
 * Arithmetic and logic
 * ------------------------------------------------------------------- */

static inline void alu_to_rm(X86CPU *cpu, const X86Insn *insn, int op,
                             int size, uint64_t b)
{
    int sz = x86_size_log2(size);
    uint64_t lin, r;

    if (insn->mod == 3) {
        r = x86_alu(cpu, op, sz, get_reg(cpu, insn, insn->rm, size), b);
        if (op != ALU_CMP) {
            set_reg(cpu, insn, insn->rm, size, r);
        }
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    if (unlikely(insn->lock)) {
        if (op == ALU_ADC || op == ALU_SBB) {
            op |= x86_compute_cf(cpu) << 3;
        }
        locked_rmw(cpu, lin, sz, rmw_alu, op, b);
        return;
    }
    r = x86_alu(cpu, op, sz, x86_ld(cpu, lin, size), b);
    if (op != ALU_CMP) {
        x86_st(cpu, lin, size, r);
    }
}

/* 00, 01, 08, 09, ... 38, 39: op r/m, reg */
static void exec_alu_rm_r(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    alu_to_rm(cpu, insn, (insn->opcode >> 3) & 7, size,
              get_reg(cpu, insn, insn->reg, size));
}

/*
 * The register forms are the most frequent instructions of all; they get
 * one handler per operation so that the operation is a constant.
 */
static inline __attribute__((always_inline)) void
alu_rm_r_reg(X86CPU *cpu, const X86Insn *insn, int op)
{
    int size = op_size(insn);
    uint64_t r = x86_alu(cpu, op, x86_size_log2(size),
                         get_reg(cpu, insn, insn->rm, size),
                         get_reg(cpu, insn, insn->reg, size));
    if (op != ALU_CMP) {
        set_reg(cpu, insn, insn->rm, size, r);
    }
}

/* 02, 03, ... 3A, 3B: op reg, r/m */
static inline __attribute__((always_inline)) void
alu_r_rm(X86CPU *cpu, const X86Insn *insn, int op)
{
    int size = op_size(insn);
    uint64_t b = get_rm(cpu, insn, size);
    uint64_t r = x86_alu(cpu, op, x86_size_log2(size),
                         get_reg(cpu, insn, insn->reg, size), b);
    if (op != ALU_CMP) {
        set_reg(cpu, insn, insn->reg, size, r);
    }
}

/* 80..83 with a register operand */
static inline __attribute__((always_inline)) void
alu_grp1_reg(X86CPU *cpu, const X86Insn *insn, int op)
{
    int size = insn->opcode == 0x81 || insn->opcode == 0x83 ? insn->opsize
                                                            : 1;
    uint64_t r = x86_alu(cpu, op, x86_size_log2(size),
                         get_reg(cpu, insn, insn->rm, size), insn->imm);
    if (op != ALU_CMP) {
        set_reg(cpu, insn, insn->rm, size, r);
    }
}

#define ALU_HANDLERS(name, op)                                            \
    static void exec_alu_rm_r_reg_##name(X86CPU *cpu, const X86Insn *insn) \
    {                                                                     \
        alu_rm_r_reg(cpu, insn, op);                                      \
    }                                                                     \
    static void exec_alu_r_rm_##name(X86CPU *cpu, const X86Insn *insn)    \
    {                                                                     \
        alu_r_rm(cpu, insn, op);                                          \
    }                                                                     \
    static void exec_grp1_reg_##name(X86CPU *cpu, const X86Insn *insn)    \
    {                                                                     \
        alu_grp1_reg(cpu, insn, op);                                      \
    }

ALU_HANDLERS(add, ALU_ADD)
ALU_HANDLERS(or, ALU_OR)
ALU_HANDLERS(adc, ALU_ADC)
ALU_HANDLERS(sbb, ALU_SBB)
ALU_HANDLERS(and, ALU_AND)
ALU_HANDLERS(sub, ALU_SUB)
ALU_HANDLERS(xor, ALU_XOR)
ALU_HANDLERS(cmp, ALU_CMP)

#define ALU_TABLE(form) {                                                 \
    exec_##form##_add, exec_##form##_or, exec_##form##_adc,               \
    exec_##form##_sbb, exec_##form##_and, exec_##form##_sub,              \
    exec_##form##_xor, exec_##form##_cmp,                                 \
}

static X86ExecFn *const alu_rm_r_reg_fns[8] = ALU_TABLE(alu_rm_r_reg);
static X86ExecFn *const alu_r_rm_fns[8] = ALU_TABLE(alu_r_rm);
static X86ExecFn *const grp1_reg_fns[8] = ALU_TABLE(grp1_reg);

/* 04, 05, ... 3C, 3D: op AL/eAX, imm */
static void exec_alu_a_imm(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn), op = (insn->opcode >> 3) & 7;
    uint64_t r = x86_alu(cpu, op, x86_size_log2(size),
                         x86_reg_read(cpu, R_EAX, size, false), insn->imm);
    if (op != ALU_CMP) {
        x86_reg_write(cpu, R_EAX, size, false, r);
    }
}

/* 80..83: op r/m, imm */
static void exec_grp1(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opcode == 0x81 || insn->opcode == 0x83 ? insn->opsize
                                                            : 1;
    alu_to_rm(cpu, insn, insn->reg & 7, size, insn->imm);
}

static void exec_test_rm_r(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    x86_set_logic_flags(cpu, x86_size_log2(size),
                        get_rm(cpu, insn, size) &
                        get_reg(cpu, insn, insn->reg, size));
}

static void exec_test_a_imm(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    x86_set_logic_flags(cpu, x86_size_log2(size),
                        cpu->regs[R_EAX] & insn->imm);
}

/* F6/F7 /0 /1 */
static void exec_test_rm_imm(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    x86_set_logic_flags(cpu, x86_size_log2(size),
                        get_rm(cpu, insn, size) & insn->imm);
}

/* 40..4F outside 64-bit mode */
static void exec_inc_dec_reg(X86CPU *cpu, const X86Insn *insn)
{
    int reg = insn->opcode & 7, size = insn->opsize;
    int sz = x86_size_log2(size);
    uint64_t v = x86_reg_read(cpu, reg, size, false);

    v = (insn->opcode & 8) ? x86_alu_dec(cpu, sz, v) : x86_alu_inc(cpu, sz, v);
    x86_reg_write(cpu, reg, size, false, v);
}

/* RMW of r/m with fn, for inc/dec/not/neg. */
static inline void unary_rm(X86CPU *cpu, const X86Insn *insn, RmwFn *fn,
                            int op)
{
    int size = op_size(insn), sz = x86_size_log2(size);
    uint64_t lin;

    if (insn->mod == 3) {
        set_reg(cpu, insn, insn->rm, size,
                fn(cpu, op, sz, get_reg(cpu, insn, insn->rm, size), 0));
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    if (insn->lock) {
        locked_rmw(cpu, lin, sz, fn, op, 0);
    } else {
        x86_st(cpu, lin, size, fn(cpu, op, sz, x86_ld(cpu, lin, size), 0));
    }
}

/* FE/FF /0 /1 */
static void exec_inc_dec_rm(X86CPU *cpu, const X86Insn *insn)
{
    unary_rm(cpu, insn, rmw_inc_dec, insn->reg & 1);
}

static void exec_not(X86CPU *cpu, const X86Insn *insn)
{
    unary_rm(cpu, insn, rmw_not, 0);
}

static void exec_neg(X86CPU *cpu, const X86Insn *insn)
{
    unary_rm(cpu, insn, rmw_neg, 0);
}

/* F6/F7 /4../7: mul, imul, div, idiv of rDX:rAX (AX for bytes) */
static void exec_muldiv(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn), sz = x86_size_log2(size);
    int op = insn->reg & 7;
    uint64_t src = get_rm(cpu, insn, size);
    uint64_t lo, hi, q, r;
    bool ok;

    if (size == 1) {
        lo = cpu->regs[R_EAX] & 0xff;
        hi = (cpu->regs[R_EAX] >> 8) & 0xff;
    } else {
        lo = x86_reg_read(cpu, R_EAX, size, false);
        hi = x86_reg_read(cpu, R_EDX, size, false);
    }
    switch (op) {
    case 4:
    case 5:
        lo = op == 4 ? x86_alu_mul(cpu, sz, lo, src, &hi)
                     : x86_alu_imul(cpu, sz, lo, src, &hi);
        q = lo;
        r = hi;
        break;
    default:
        ok = op == 6 ? x86_alu_div(sz, lo, hi, src, &q, &r)
                     : x86_alu_idiv(sz, lo, hi, src, &q, &r);
        if (!ok) {
            x86_raise_exception(cpu, EXCP_DE);
        }
        break;
    }
    if (size == 1) {
        x86_reg_write(cpu, R_EAX, 2, false, ((r & 0xff) << 8) | (q & 0xff));
    } else {
        x86_reg_write(cpu, R_EAX, size, false, q);
        x86_reg_write(cpu, R_EDX, size, false, r);
    }
}

/* 0F AF: imul reg, r/m */
static void exec_imul_r_rm(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t hi;
    uint64_t r = x86_alu_imul(cpu, x86_size_log2(size),
                              get_reg(cpu, insn, insn->reg, size),
                              get_rm(cpu, insn, size), &hi);
    set_reg(cpu, insn, insn->reg, size, r);
}

/* 69, 6B: imul reg, r/m, imm */
static void exec_imul_r_rm_imm(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t hi;
    uint64_t r = x86_alu_imul(cpu, x86_size_log2(size),
                              get_rm(cpu, insn, size), insn->imm, &hi);
    set_reg(cpu, insn, insn->reg, size, r);
}

/* C0, C1, D0..D3 */
static void exec_shift(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn), sz = x86_size_log2(size);
    unsigned count;
    uint64_t lin, v;

    switch (insn->opcode) {
    case 0xc0: case 0xc1: count = insn->imm; break;
    case 0xd0: case 0xd1: count = 1; break;
    default: count = cpu->regs[R_ECX] & 0xff; break;
    }
    if (insn->mod == 3) {
        v = get_reg(cpu, insn, insn->rm, size);
        set_reg(cpu, insn, insn->rm, size,
                x86_alu_shift(cpu, insn->reg & 7, sz, v, count));
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    v = x86_ld(cpu, lin, size);
    if (count & (sz == 3 ? 63 : 31)) {
        x86_st(cpu, lin, size,
               x86_alu_shift(cpu, insn->reg & 7, sz, v, count));
    }
}

/* 0F A4, A5 (shld), AC, AD (shrd) */
static void exec_shd(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize, sz = x86_size_log2(size);
    unsigned count = (insn->opcode & 1) ? cpu->regs[R_ECX] & 0xff
                                        : (unsigned)insn->imm;
    bool left = (insn->opcode & 0xff) < 0xa8;
    uint64_t src = get_reg(cpu, insn, insn->reg, size), lin, v;

    if (insn->mod == 3) {
        v = get_reg(cpu, insn, insn->rm, size);
        set_reg(cpu, insn, insn->rm, size,
                x86_alu_shd(cpu, left, sz, v, src, count));
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    v = x86_ld(cpu, lin, size);
    if (count & (sz == 3 ? 63 : 31)) {
        x86_st(cpu, lin, size, x86_alu_shd(cpu, left, sz, v, src, count));
    }
}

/* ---------------------------------------------------------------------
 * Bit operations
 * ------------------------------------------------------------------- */

enum { BT, BTS, BTR, BTC };

static inline uint64_t bit_apply(int kind, uint64_t v, uint64_t mask)
{
    switch (kind) {
    case BTS: return v | mask;
    case BTR: return v & ~mask;
    case BTC: return v ^ mask;
    default: return v;
    }
}

/* 0F A3, AB, B3, BB (register offset) and 0F BA /4../7 (imm offset). A
 * register offset reaches any bit relative to the memory operand; memory
 * is accessed one byte at a time, which is the same bit. */
static void exec_bt(X86CPU *cpu, const X86Insn *insn)
{
    bool imm = (insn->opcode & 0xff) == 0xba;
    int kind = imm ? (insn->reg & 7) - 4 : (insn->opcode >> 3) & 3;
    int size = insn->opsize, bits = size * 8;
    uint64_t off = imm ? insn->imm : get_reg(cpu, insn, insn->reg, size);
    bool cf;

    if (insn->mod == 3) {
        uint64_t v = get_reg(cpu, insn, insn->rm, size);
        uint64_t m = 1ull << (off & (bits - 1));
        cf = v & m;
        if (kind != BT) {
            set_reg(cpu, insn, insn->rm, size, bit_apply(kind, v, m));
        }
    } else {
        int64_t boff = imm ? (int64_t)(off & (bits - 1))
                           : x86_sext(off, x86_size_log2(size));
        uint64_t ea = (x86_ea_inline(cpu, insn) + (boff >> 3)) &
                      x86_addr_mask(insn->addrsize);
        uint64_t lin = x86_seg_linear_inline(cpu, insn->seg, ea);
        uint8_t m = 1u << (boff & 7), old;
        uint8_t *p = NULL;

        if (kind != BT && insn->lock) {
            p = x86_host_ptr(cpu, lin, 1, true);
        }
        if (p) {
            switch (kind) {
            case BTS: old = __atomic_fetch_or(p, m, __ATOMIC_SEQ_CST); break;
            case BTR: old = __atomic_fetch_and(p, (uint8_t)~m,
                                               __ATOMIC_SEQ_CST); break;
            default: old = __atomic_fetch_xor(p, m, __ATOMIC_SEQ_CST); break;
            }
        } else {
            old = x86_ld(cpu, lin, 1);
            if (kind != BT) {
                x86_st(cpu, lin, 1, bit_apply(kind, old, m));
            }
        }
        cf = old & m;
    }
    /* CF is the bit; ZF is kept, the others are undefined (kept too). */
    set_flag_bits(cpu, CC_C, cf ? CC_C : 0);
}

/* 0F BC, BD (and F3 0F BC/BD: without BMI1/ABM they are bsf/bsr) */
static void exec_bsf_bsr(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t src = get_rm(cpu, insn, size);

    if (src == 0) {
        x86_set_cc_flags(cpu, CC_Z);
        return;
    }
    x86_set_cc_flags(cpu, 0);
    set_reg(cpu, insn, insn->reg, size,
            (insn->opcode & 1) ? 63 - __builtin_clzll(src)
                               : __builtin_ctzll(src));
}

/* F3 0F B8 */
static void exec_popcnt(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t src = get_rm(cpu, insn, size);

    x86_set_cc_flags(cpu, src ? 0 : CC_Z);
    set_reg(cpu, insn, insn->reg, size, __builtin_popcountll(src));
}

/* 0F C8+r */
static void exec_bswap(X86CPU *cpu, const X86Insn *insn)
{
    int reg = op_reg(insn);

    switch (insn->opsize) {
    case 8:
        cpu->regs[reg] = __builtin_bswap64(cpu->regs[reg]);
        break;
    case 4:
        cpu->regs[reg] = __builtin_bswap32(cpu->regs[reg]);
        break;
    default:
        /* undefined for 16 bits; hardware clears the low word */
        x86_reg_write(cpu, reg, 2, false, 0);
        break;
    }
}

/* ---------------------------------------------------------------------
 * Exchange and compare-exchange
 * ------------------------------------------------------------------- */

/* 86, 87: always locked with a memory operand */
static void exec_xchg(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    uint64_t r = get_reg(cpu, insn, insn->reg, size), old, lin;
    void *p;

    if (insn->mod == 3) {
        old = get_reg(cpu, insn, insn->rm, size);
        set_reg(cpu, insn, insn->rm, size, r);
        set_reg(cpu, insn, insn->reg, size, old);
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    p = x86_host_ptr(cpu, lin, size, true);
    if (p) {
        old = atomic_xchg_sized(p, size, r);
    } else {
        old = x86_ld(cpu, lin, size);
        x86_st(cpu, lin, size, r);
    }
    set_reg(cpu, insn, insn->reg, size, old);
}

/* 90+r: xchg rAX, reg; 90 itself (and F3 90, pause) is a nop */
static void exec_xchg_ax(X86CPU *cpu, const X86Insn *insn)
{
    int reg = op_reg(insn), size = insn->opsize;
    uint64_t v = x86_reg_read(cpu, reg, size, false);

    x86_reg_write(cpu, reg, size, false,
                  x86_reg_read(cpu, R_EAX, size, false));
    x86_reg_write(cpu, R_EAX, size, false, v);
}

static void exec_nop(X86CPU *cpu, const X86Insn *insn)
{
}

/* 0F C0, C1 */
static void exec_xadd(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn), sz = x86_size_log2(size);
    uint64_t src = get_reg(cpu, insn, insn->reg, size), old, lin;

    if (insn->mod == 3) {
        old = get_reg(cpu, insn, insn->rm, size);
        uint64_t r = x86_alu(cpu, ALU_ADD, sz, old, src);
        set_reg(cpu, insn, insn->reg, size, old);
        set_reg(cpu, insn, insn->rm, size, r);
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    if (insn->lock) {
        old = locked_rmw(cpu, lin, sz, rmw_alu, ALU_ADD, src);
    } else {
        old = x86_ld(cpu, lin, size);
        x86_st(cpu, lin, size, x86_alu(cpu, ALU_ADD, sz, old, src));
    }
    set_reg(cpu, insn, insn->reg, size, old);
}

/* 0F B0, B1 */
static void exec_cmpxchg(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn), sz = x86_size_log2(size);
    uint64_t acc = x86_reg_read(cpu, R_EAX, size, false);
    uint64_t src = get_reg(cpu, insn, insn->reg, size), old, lin;
    void *p;

    if (insn->mod == 3) {
        old = get_reg(cpu, insn, insn->rm, size);
        x86_alu(cpu, ALU_CMP, sz, acc, old);
        if (old == acc) {
            set_reg(cpu, insn, insn->rm, size, src);
        } else {
            set_reg(cpu, insn, insn->rm, size, old);
            x86_reg_write(cpu, R_EAX, size, false, old);
        }
        return;
    }
    lin = x86_linear_inline(cpu, insn);
    p = insn->lock ? x86_host_ptr(cpu, lin, size, true) : NULL;
    if (p) {
        old = acc;
        atomic_cas_sized(p, size, &old, src);
    } else {
        old = x86_ld(cpu, lin, size);
        /* the destination is written back even when the compare fails */
        x86_st(cpu, lin, size, old == acc ? src : old);
    }
    x86_alu(cpu, ALU_CMP, sz, acc, old);
    if (old != acc) {
        x86_reg_write(cpu, R_EAX, size, false, old);
    }
}

#ifndef __x86_64__
static pthread_mutex_t cmpxchg16b_lock = PTHREAD_MUTEX_INITIALIZER;
#endif

static bool cmpxchg16b_host(void *p, uint64_t *lo, uint64_t *hi,
                            uint64_t new_lo, uint64_t new_hi)
{
#ifdef __x86_64__
    bool ok;
    __asm__ volatile("lock cmpxchg16b %1"
                     : "=@ccz"(ok), "+m"(*(unsigned __int128 *)p),
                       "+a"(*lo), "+d"(*hi)
                     : "b"(new_lo), "c"(new_hi)
                     : "memory");
    return ok;
#else
    uint64_t *q = p;
    bool ok;

    pthread_mutex_lock(&cmpxchg16b_lock);
    ok = q[0] == *lo && q[1] == *hi;
    if (ok) {
        q[0] = new_lo;
        q[1] = new_hi;
    } else {
        *lo = q[0];
        *hi = q[1];
    }
    pthread_mutex_unlock(&cmpxchg16b_lock);
    return ok;
#endif
}

/* 0F C7 /1: cmpxchg8b, and cmpxchg16b with REX.W (SDM vol. 2). */
static void exec_cmpxchg8b(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t lin = x86_linear_inline(cpu, insn);
    bool ok;

    if (insn->opsize == 8) {
        uint64_t lo = cpu->regs[R_EAX], hi = cpu->regs[R_EDX];
        void *p;

        if (lin & 15) {
            x86_raise_exception_err(cpu, EXCP_GP, 0);
        }
        p = x86_host_ptr(cpu, lin, 16, true);
        if (p) {
            ok = cmpxchg16b_host(p, &lo, &hi, cpu->regs[R_EBX],
                                 cpu->regs[R_ECX]);
        } else {
            uint64_t cur_lo = x86_ld(cpu, lin, 8);
            uint64_t cur_hi = x86_ld(cpu, lin + 8, 8);
            ok = cur_lo == lo && cur_hi == hi;
            if (ok) {
                x86_st(cpu, lin, 8, cpu->regs[R_EBX]);
                x86_st(cpu, lin + 8, 8, cpu->regs[R_ECX]);
            }
            lo = cur_lo;
            hi = cur_hi;
        }
        if (!ok) {
            cpu->regs[R_EAX] = lo;
            cpu->regs[R_EDX] = hi;
        }
    } else {
        uint64_t expect = (cpu->regs[R_EAX] & 0xffffffff) |
                          (cpu->regs[R_EDX] << 32);
        uint64_t desired = (cpu->regs[R_EBX] & 0xffffffff) |
                           (cpu->regs[R_ECX] << 32);
        void *p = x86_host_ptr(cpu, lin, 8, true);

        if (p) {
            ok = atomic_cas_sized(p, 8, &expect, desired);
        } else {
            uint64_t cur = x86_ld(cpu, lin, 8);
            ok = cur == expect;
            x86_st(cpu, lin, 8, ok ? desired : cur);
            expect = cur;
        }
        if (!ok) {
            x86_reg_write(cpu, R_EAX, 4, false, expect);
            x86_reg_write(cpu, R_EDX, 4, false, expect >> 32);
        }
    }
    set_flag_bits(cpu, CC_Z, ok ? CC_Z : 0);
}

/* 0F C7 /6 /7 (register): rdrand, rdseed from a per-thread generator */
static void exec_rdrand(X86CPU *cpu, const X86Insn *insn)
{
    static __thread uint64_t state;
    uint64_t x;

    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                (uintptr_t)cpu ^ 0x9e3779b97f4a7c15ull;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    x = state * 0x2545f4914f6cdd1dull;
    set_reg(cpu, insn, insn->rm, insn->opsize, x);
    x86_set_cc_flags(cpu, CC_C);
}

/* ---------------------------------------------------------------------
 * Moves
 * ------------------------------------------------------------------- */

static void exec_mov_rm_r(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    x86_st(cpu, x86_linear_inline(cpu, insn), size,
           get_reg(cpu, insn, insn->reg, size));
}

static void exec_mov_r_rm(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    set_reg(cpu, insn, insn->reg, size,
            x86_ld(cpu, x86_linear_inline(cpu, insn), size));
}

static void exec_mov_r_r(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    int dst = insn->opcode & 2 ? insn->reg : insn->rm;
    int src = insn->opcode & 2 ? insn->rm : insn->reg;
    set_reg(cpu, insn, dst, size, get_reg(cpu, insn, src, size));
}

/* 64-bit register to register, the most common move */
static void exec_mov_r64_r64(X86CPU *cpu, const X86Insn *insn)
{
    if (insn->opcode & 2) {
        cpu->regs[insn->reg] = cpu->regs[insn->rm];
    } else {
        cpu->regs[insn->rm] = cpu->regs[insn->reg];
    }
}

static void exec_mov_r64_m(X86CPU *cpu, const X86Insn *insn)
{
    cpu->regs[insn->reg] = x86_ld(cpu, x86_linear_inline(cpu, insn), 8);
}

static void exec_mov_m_r64(X86CPU *cpu, const X86Insn *insn)
{
    x86_st(cpu, x86_linear_inline(cpu, insn), 8, cpu->regs[insn->reg]);
}

/* C6, C7 /0 */
static void exec_mov_rm_imm(X86CPU *cpu, const X86Insn *insn)
{
    set_rm(cpu, insn, op_size(insn), insn->imm);
}

/* B0..B7, B8..BF */
static void exec_mov_r_imm(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opcode & 8 ? insn->opsize : 1;
    set_reg(cpu, insn, op_reg(insn), size, insn->imm);
}

/* A0..A3: moffs */
static void exec_mov_moffs(X86CPU *cpu, const X86Insn *insn)
{
    int size = op_size(insn);
    uint64_t lin = x86_linear_inline(cpu, insn);

    if (insn->opcode & 2) {
        x86_st(cpu, lin, size, x86_reg_read(cpu, R_EAX, size, false));
    } else {
        x86_reg_write(cpu, R_EAX, size, false, x86_ld(cpu, lin, size));
    }
}

/* 8D */
static void exec_lea(X86CPU *cpu, const X86Insn *insn)
{
    set_reg(cpu, insn, insn->reg, insn->opsize, x86_ea_inline(cpu, insn));
}

/* 0F B6, B7 (movzx), BE, BF (movsx) */
static void exec_movx(X86CPU *cpu, const X86Insn *insn)
{
    int ssize = insn->opcode & 1 ? 2 : 1;
    uint64_t v = get_rm(cpu, insn, ssize);

    if (insn->opcode & 8) {
        v = x86_sext(v, x86_size_log2(ssize));
    }
    set_reg(cpu, insn, insn->reg, insn->opsize, v);
}

/* 63 in 64-bit mode */
static void exec_movsxd(X86CPU *cpu, const X86Insn *insn)
{
    if (insn->opsize == 8) {
        set_reg(cpu, insn, insn->reg, 8,
                (uint64_t)(int64_t)(int32_t)get_rm(cpu, insn, 4));
    } else {
        set_reg(cpu, insn, insn->reg, insn->opsize,
                get_rm(cpu, insn, insn->opsize));
    }
}

/* 0F 40..4F: a 32-bit cmov writes (zero-extends) even when false */
static void exec_cmov(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t v = get_rm(cpu, insn, size);

    if (!x86_condition_inline(cpu, insn->opcode & 0xf)) {
        v = get_reg(cpu, insn, insn->reg, size);
    }
    set_reg(cpu, insn, insn->reg, size, v);
}

/* 0F 90..9F */
static void exec_setcc(X86CPU *cpu, const X86Insn *insn)
{
    set_rm(cpu, insn, 1, x86_condition_inline(cpu, insn->opcode & 0xf));
}

/* 98: cbw, cwde, cdqe */
static void exec_cbw(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize, half = x86_size_log2(size) - 1;
    x86_reg_write(cpu, R_EAX, size, false,
                  x86_sext(cpu->regs[R_EAX], half));
}

/* 99: cwd, cdq, cqo */
static void exec_cwd(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    bool neg = cpu->regs[R_EAX] & x86_sign_bit(x86_size_log2(size));
    x86_reg_write(cpu, R_EDX, size, false, neg ? ~0ull : 0);
}

/* 8C: mov r/m, sreg */
static void exec_mov_from_sreg(X86CPU *cpu, const X86Insn *insn)
{
    uint16_t sel = cpu->segs[insn->reg & 7].selector;

    if (insn->mod == 3) {
        set_reg(cpu, insn, insn->rm, insn->opsize, sel);
    } else {
        x86_st(cpu, x86_linear_inline(cpu, insn), 2, sel);
    }
}

/* 8E: mov sreg, r/m */
static void exec_mov_to_sreg(X86CPU *cpu, const X86Insn *insn)
{
    int seg = insn->reg & 7;

    x86_load_seg(cpu, seg, get_rm(cpu, insn, 2));
    if (seg == R_SS) {
        cpu->interrupt_shadow = true;
    }
}

/* ---------------------------------------------------------------------
 * Stack instructions
 * ------------------------------------------------------------------- */

static void exec_push_reg(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    push(cpu, size, x86_reg_read(cpu, op_reg(insn), size, false));
}

static void exec_pop_reg(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t v = pop(cpu, size);
    x86_reg_write(cpu, op_reg(insn), size, false, v);
}

/* 64-bit mode fast paths: SS has no base, rSP is 64 bits. */
static void exec_push_reg64(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t sp = cpu->regs[R_ESP] - 8;
    x86_st(cpu, sp, 8, cpu->regs[op_reg(insn)]);
    cpu->regs[R_ESP] = sp;
}

static void exec_pop_reg64(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t sp = cpu->regs[R_ESP];
    uint64_t v = x86_ld(cpu, sp, 8);
    cpu->regs[R_ESP] = sp + 8;
    cpu->regs[op_reg(insn)] = v;
}

static void exec_push_imm(X86CPU *cpu, const X86Insn *insn)
{
    push(cpu, insn->opsize, insn->imm);
}

/* FF /6 */
static void exec_push_rm(X86CPU *cpu, const X86Insn *insn)
{
    push(cpu, insn->opsize, get_rm(cpu, insn, insn->opsize));
}

/* 8F /0: the address is computed with rSP already incremented */
static void exec_pop_rm(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t old_sp = cpu->regs[R_ESP];
    uint64_t sp = old_sp & sp_mask(cpu);
    uint64_t v = x86_ld(cpu, stack_lin(cpu, sp), size), lin;

    if (insn->mod == 3) {
        set_sp(cpu, sp + size);
        set_reg(cpu, insn, insn->rm, size, v);
        return;
    }
    set_sp(cpu, sp + size);
    lin = x86_linear_inline(cpu, insn);
    cpu->regs[R_ESP] = old_sp;
    x86_st(cpu, lin, size, v);
    set_sp(cpu, sp + size);
}

static int sreg_of_opcode(const X86Insn *insn)
{
    if (insn->opcode & X86_MAP_0F) {
        return (insn->opcode >> 3) & 7;     /* A0/A1: FS, A8/A9: GS */
    }
    return (insn->opcode >> 3) & 3;         /* 06 ES, 0E CS, 16 SS, 1E DS */
}

static void exec_push_sreg(X86CPU *cpu, const X86Insn *insn)
{
    push(cpu, insn->opsize, cpu->segs[sreg_of_opcode(insn)].selector);
}

static void exec_pop_sreg(X86CPU *cpu, const X86Insn *insn)
{
    int seg = sreg_of_opcode(insn), size = insn->opsize;
    int old_width = cpu->stack_size;
    uint64_t sp = cpu->regs[R_ESP] & sp_mask(cpu);
    uint16_t sel = x86_ld(cpu, stack_lin(cpu, sp), size);

    x86_load_seg(cpu, seg, sel);
    x86_reg_write(cpu, R_ESP, old_width, false, sp + size);
    if (seg == R_SS) {
        cpu->interrupt_shadow = true;
    }
}

/* 60: pusha (legacy modes) */
static void exec_pusha(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t sp = cpu->regs[R_ESP];

    for (int reg = R_EAX; reg <= R_EDI; reg++) {
        sp -= size;
        x86_st(cpu, stack_lin(cpu, sp), size,
               x86_reg_read(cpu, reg, size, false));
    }
    set_sp(cpu, sp & sp_mask(cpu));
}

/* 61: popa; the saved rSP is skipped */
static void exec_popa(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t sp = cpu->regs[R_ESP], vals[8];

    for (int reg = R_EDI; reg >= R_EAX; reg--) {
        vals[reg] = x86_ld(cpu, stack_lin(cpu, sp), size);
        sp += size;
    }
    for (int reg = R_EAX; reg <= R_EDI; reg++) {
        if (reg != R_ESP) {
            x86_reg_write(cpu, reg, size, false, vals[reg]);
        }
    }
    set_sp(cpu, sp & sp_mask(cpu));
}

/* C8: enter imm16, imm8 (SDM vol. 2 ENTER) */
static void exec_enter(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    unsigned level = insn->imm2 & 31;
    uint64_t mask = sp_mask(cpu);
    uint64_t sp = (cpu->regs[R_ESP] - size) & mask, frame, bp;

    x86_st(cpu, stack_lin(cpu, sp), size,
           x86_reg_read(cpu, R_EBP, size, false));
    frame = sp;
    if (level) {
        bp = cpu->regs[R_EBP];
        for (unsigned i = 1; i < level; i++) {
            bp = (bp - size) & mask;
            uint64_t v = x86_ld(cpu, stack_lin(cpu, bp), size);
            sp = (sp - size) & mask;
            x86_st(cpu, stack_lin(cpu, sp), size, v);
        }
        sp = (sp - size) & mask;
        x86_st(cpu, stack_lin(cpu, sp), size, frame);
    }
    x86_reg_write(cpu, R_EBP, size, false, frame);
    set_sp(cpu, (sp - (insn->imm & 0xffff)) & mask);
}

/* C9 */
static void exec_leave(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t sp = cpu->regs[R_EBP] & sp_mask(cpu);
    uint64_t v = x86_ld(cpu, stack_lin(cpu, sp), size);

    set_sp(cpu, sp + size);
    x86_reg_write(cpu, R_EBP, size, false, v);
}

/* ---------------------------------------------------------------------
 * Near control transfers
 * ------------------------------------------------------------------- */

static void exec_jcc(X86CPU *cpu, const X86Insn *insn)
{
    if (x86_condition(cpu, insn->opcode & 0xf)) {
        cpu->next_rip = (cpu->next_rip + insn->imm) &
                        x86_addr_mask(insn->opsize);
    }
}

static void exec_jmp_rel(X86CPU *cpu, const X86Insn *insn)
{
    cpu->next_rip = (cpu->next_rip + insn->imm) & x86_addr_mask(insn->opsize);
}

static void exec_call_rel(X86CPU *cpu, const X86Insn *insn)
{
    push(cpu, insn->opsize, cpu->next_rip);
    cpu->next_rip = (cpu->next_rip + insn->imm) & x86_addr_mask(insn->opsize);
}

/* FF /2 */
static void exec_call_ind(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t target = get_rm(cpu, insn, insn->opsize);
    uint64_t ret = cpu->next_rip;

    near_branch(cpu, insn, target);
    push(cpu, insn->opsize, ret);
}

/* FF /4 */
static void exec_jmp_ind(X86CPU *cpu, const X86Insn *insn)
{
    near_branch(cpu, insn, get_rm(cpu, insn, insn->opsize));
}

/* C2, C3 */
static void exec_ret(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize;
    uint64_t sp = cpu->regs[R_ESP] & sp_mask(cpu);
    uint64_t target = x86_ld(cpu, stack_lin(cpu, sp), size);

    near_branch(cpu, insn, target);
    set_sp(cpu, sp + size + (insn->opcode == 0xc2 ? insn->imm : 0));
}

/* E0 loopne, E1 loope, E2 loop, E3 jcxz/jecxz/jrcxz */
static void exec_loop(X86CPU *cpu, const X86Insn *insn)
{
    int asize = insn->addrsize;
    uint64_t count = cpu->regs[R_ECX] & x86_addr_mask(asize);
    bool take;

    if (insn->opcode == 0xe3) {
        take = count == 0;
    } else {
        count = (count - 1) & x86_addr_mask(asize);
        x86_reg_write(cpu, R_ECX, asize, false, count);
        take = count != 0;
        if (insn->opcode == 0xe1) {
            take = take && x86_condition(cpu, 4);
        } else if (insn->opcode == 0xe0) {
            take = take && x86_condition(cpu, 5);
        }
    }
    if (take) {
        exec_jmp_rel(cpu, insn);
    }
}

/* ---------------------------------------------------------------------
 * Far control transfers and far pointers
 * ------------------------------------------------------------------- */

/* m16:16, m16:32 or m16:64: offset first, then the selector */
static void load_far_ptr(X86CPU *cpu, const X86Insn *insn, uint64_t *off,
                         uint16_t *sel)
{
    int size = insn->opsize;
    uint64_t ea = x86_ea_inline(cpu, insn);

    *off = x86_ld(cpu, x86_seg_linear_inline(cpu, insn->seg, ea), size);
    *sel = x86_ld(cpu, x86_seg_linear_inline(
                      cpu, insn->seg,
                      (ea + size) & x86_addr_mask(insn->addrsize)), 2);
}

static void exec_jmp_far(X86CPU *cpu, const X86Insn *insn)
{
    x86_far_jmp(cpu, insn->imm2, insn->imm);
}

static void exec_call_far(X86CPU *cpu, const X86Insn *insn)
{
    x86_far_call(cpu, insn->imm2, insn->imm, insn->opsize);
}

/* FF /3 */
static void exec_call_far_ind(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t off;
    uint16_t sel;

    load_far_ptr(cpu, insn, &off, &sel);
    x86_far_call(cpu, sel, off, insn->opsize);
}

/* FF /5 */
static void exec_jmp_far_ind(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t off;
    uint16_t sel;

    load_far_ptr(cpu, insn, &off, &sel);
    x86_far_jmp(cpu, sel, off);
}

/* CA, CB */
static void exec_ret_far(X86CPU *cpu, const X86Insn *insn)
{
    x86_far_ret(cpu, insn->opsize,
                insn->opcode == 0xca ? (uint16_t)insn->imm : 0);
}

/* C4 les, C5 lds, 0F B2 lss, 0F B4 lfs, 0F B5 lgs */
static void exec_load_far_ptr(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t off;
    uint16_t sel;
    int seg;

    switch (insn->opcode) {
    case 0xc4: seg = R_ES; break;
    case 0xc5: seg = R_DS; break;
    case X86_MAP_0F | 0xb2: seg = R_SS; break;
    case X86_MAP_0F | 0xb4: seg = R_FS; break;
    default: seg = R_GS; break;
    }
    load_far_ptr(cpu, insn, &off, &sel);
    x86_load_seg(cpu, seg, sel);
    set_reg(cpu, insn, insn->reg, insn->opsize, off);
}

/* ---------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------- */

static void exec_flag_op(X86CPU *cpu, const X86Insn *insn)
{
    switch (insn->opcode) {
    case 0xf5: /* cmc */
        x86_set_cc_flags(cpu, x86_compute_flags(cpu) ^ CC_C);
        break;
    case 0xf8: set_flag_bits(cpu, CC_C, 0); break;
    case 0xf9: set_flag_bits(cpu, CC_C, CC_C); break;
    case 0xfc: cpu->eflags &= ~(uint64_t)DF_MASK; break;
    default: cpu->eflags |= DF_MASK; break;
    }
}

/* 9E: sahf */
static void exec_sahf(X86CPU *cpu, const X86Insn *insn)
{
    uint32_t ah = (cpu->regs[R_EAX] >> 8) & 0xff;
    uint32_t mask = CC_S | CC_Z | CC_A | CC_P | CC_C;
    set_flag_bits(cpu, mask, ah & mask);
}

/* 9F: lahf */
static void exec_lahf(X86CPU *cpu, const X86Insn *insn)
{
    uint32_t f = x86_compute_flags(cpu) & (CC_S | CC_Z | CC_A | CC_P | CC_C);
    cpu->regs[R_EAX] = (cpu->regs[R_EAX] & ~0xff00ull) | ((f | 2) << 8);
}

/* ---------------------------------------------------------------------
 * Legacy-mode instructions
 * ------------------------------------------------------------------- */

static void exec_bcd(X86CPU *cpu, const X86Insn *insn)
{
    switch (insn->opcode) {
    case 0x27: x86_alu_daa(cpu); break;
    case 0x2f: x86_alu_das(cpu); break;
    case 0x37: x86_alu_aaa(cpu); break;
    case 0x3f: x86_alu_aas(cpu); break;
    case 0xd4:
        if (!x86_alu_aam(cpu, insn->imm)) {
            x86_raise_exception(cpu, EXCP_DE);
        }
        break;
    default: x86_alu_aad(cpu, insn->imm); break;
    }
}

/* D6: salc */
static void exec_salc(X86CPU *cpu, const X86Insn *insn)
{
    x86_reg_write(cpu, R_EAX, 1, false, x86_compute_cf(cpu) ? 0xff : 0);
}

/* D7: xlat */
static void exec_xlat(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t ea = (cpu->regs[R_EBX] + (cpu->regs[R_EAX] & 0xff)) &
                  x86_addr_mask(insn->addrsize);
    x86_reg_write(cpu, R_EAX, 1, false,
                  x86_ld(cpu, x86_seg_linear_inline(cpu, insn->seg, ea), 1));
}

/* 62: bound */
static void exec_bound(X86CPU *cpu, const X86Insn *insn)
{
    int size = insn->opsize, sz = x86_size_log2(size);
    uint64_t lin = x86_linear_inline(cpu, insn);
    int64_t idx = x86_sext(get_reg(cpu, insn, insn->reg, size), sz);
    int64_t lo = x86_sext(x86_ld(cpu, lin, size), sz);
    int64_t hi = x86_sext(x86_ld(cpu, (uint32_t)(lin + size), size), sz);

    if (idx < lo || idx > hi) {
        x86_raise_exception(cpu, EXCP_BR);
    }
}

/* 63 outside 64-bit mode: arpl, protected mode only */
static void exec_arpl(X86CPU *cpu, const X86Insn *insn)
{
    uint16_t dst, src;

    if (!(cpu->cr0 & CR0_PE) || (cpu->eflags & VM_MASK)) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    dst = get_rm(cpu, insn, 2);
    src = get_reg(cpu, insn, insn->reg, 2);
    if ((dst & 3) < (src & 3)) {
        set_rm(cpu, insn, 2, (dst & ~3) | (src & 3));
        set_flag_bits(cpu, CC_Z, CC_Z);
    } else {
        set_flag_bits(cpu, CC_Z, 0);
    }
}

/* F1: int1 (icebp), a #DB trap without the gate DPL check */
static void exec_int1(X86CPU *cpu, const X86Insn *insn)
{
    cpu->rip = cpu->next_rip;
    x86_raise_exception(cpu, EXCP_DB);
}

/* ---------------------------------------------------------------------
 * Port I/O
 * ------------------------------------------------------------------- */

/* E4..E7 (port imm8), EC..EF (port DX) */
static void exec_in_out(X86CPU *cpu, const X86Insn *insn)
{
    int size = (insn->opcode & 1) ? (insn->opsize == 2 ? 2 : 4) : 1;
    uint16_t port = (insn->opcode & 8) ? cpu->regs[R_EDX]
                                       : (uint16_t)insn->imm;

    x86_check_io(cpu, port, size);
    if (insn->opcode & 2) {
        x86_port_out(cpu, port, size, x86_reg_read(cpu, R_EAX, size, false));
    } else {
        x86_reg_write(cpu, R_EAX, size, false, x86_port_in(cpu, port, size));
    }
}

/* ---------------------------------------------------------------------
 * Handler selection
 * ------------------------------------------------------------------- */

static X86ExecFn *select_0f(const X86Insn *insn, int code_size)
{
    int op = insn->opcode & 0xff, reg = insn->reg & 7;
    bool mem = insn->mod != 3;

    switch (op) {
    case 0x0d:
        return mem ? exec_nop : NULL;       /* prefetch, prefetchw */
    case 0x18 ... 0x1f:
        return exec_nop;                    /* hint nops, endbr */
    case 0x40 ... 0x4f:
        return exec_cmov;
    case 0x80 ... 0x8f:
        return exec_jcc;
    case 0x90 ... 0x9f:
        return exec_setcc;
    case 0xa0: case 0xa8:
        return exec_push_sreg;
    case 0xa1: case 0xa9:
        return exec_pop_sreg;
    case 0xa3: case 0xab: case 0xb3: case 0xbb:
        return exec_bt;
    case 0xa4: case 0xa5: case 0xac: case 0xad:
        return exec_shd;
    case 0xaf:
        return exec_imul_r_rm;
    case 0xb0: case 0xb1:
        return exec_cmpxchg;
    case 0xb2: case 0xb4: case 0xb5:
        return mem ? exec_load_far_ptr : NULL;
    case 0xb6: case 0xb7: case 0xbe: case 0xbf:
        return exec_movx;
    case 0xb8:
        return insn->rep == 0xf3 ? exec_popcnt : NULL;
    case 0xba:
        return reg >= 4 ? exec_bt : NULL;
    case 0xbc: case 0xbd:
        return exec_bsf_bsr;
    case 0xc0: case 0xc1:
        return exec_xadd;
    case 0xc7:
        if (reg == 1) {
            return mem ? exec_cmpxchg8b : NULL;
        }
        if (!mem && (reg == 6 || (reg == 7 && insn->rep != 0xf3))) {
            return exec_rdrand;
        }
        return NULL;
    case 0xc8 ... 0xcf:
        return exec_bswap;
    default:
        return NULL;                        /* ud0, ud1, ud2, reserved */
    }
}

static X86ExecFn *select_alu(const X86Insn *insn)
{
    int op = (insn->opcode >> 3) & 7;

    switch (insn->opcode & 7) {
    case 0: case 1:
        return insn->mod == 3 ? alu_rm_r_reg_fns[op] : exec_alu_rm_r;
    case 2: case 3:
        return alu_r_rm_fns[op];
    case 4: case 5:
        return exec_alu_a_imm;
    default:
        return NULL;
    }
}

static X86ExecFn *select_mov(const X86Insn *insn)
{
    bool to_reg = insn->opcode & 2;

    if (insn->mod == 3) {
        if (insn->opsize == 8 && (insn->opcode & 1)) {
            return exec_mov_r64_r64;
        }
        return exec_mov_r_r;
    }
    if (insn->opsize == 8 && (insn->opcode & 1)) {
        return to_reg ? exec_mov_r64_m : exec_mov_m_r64;
    }
    return to_reg ? exec_mov_r_rm : exec_mov_rm_r;
}

static X86ExecFn *select_int(const X86Insn *insn, int code_size)
{
    int op = insn->opcode, reg = insn->reg & 7;
    bool mem = insn->mod != 3;
    bool mode64 = code_size == 8;
    X86ExecFn *fast = x86_int_select_fast(insn, code_size);

    if (fast) {
        return fast;
    }
    if (op & X86_MAP_0F) {
        return (op & 0x300) == X86_MAP_0F ? select_0f(insn, code_size)
                                          : NULL;
    }
    switch (op) {
    case 0x00 ... 0x3f:
        switch (op & 7) {
        case 6:     /* 26, 2E, 36, 3E are prefixes */
            return op < 0x20 ? exec_push_sreg : NULL;
        case 7:
            switch (op) {
            case 0x07: case 0x17: case 0x1f: return exec_pop_sreg;
            case 0x0f: return NULL;
            default: return exec_bcd;       /* 27, 2F, 37, 3F */
            }
        default:
            return select_alu(insn);
        }
    case 0x40 ... 0x4f:
        return exec_inc_dec_reg;
    case 0x50 ... 0x57:
        return mode64 && insn->opsize == 8 ? exec_push_reg64 : exec_push_reg;
    case 0x58 ... 0x5f:
        return mode64 && insn->opsize == 8 ? exec_pop_reg64 : exec_pop_reg;
    case 0x60:
        return exec_pusha;
    case 0x61:
        return exec_popa;
    case 0x62:
        return mem ? exec_bound : NULL;
    case 0x63:
        return mode64 ? exec_movsxd : exec_arpl;
    case 0x68: case 0x6a:
        return exec_push_imm;
    case 0x69: case 0x6b:
        return exec_imul_r_rm_imm;
    case 0x6c: case 0x6d:
        return x86_exec_ins;
    case 0x6e: case 0x6f:
        return x86_exec_outs;
    case 0x70 ... 0x7f:
        return exec_jcc;
    case 0x80 ... 0x83:
        return mem ? exec_grp1 : grp1_reg_fns[reg];
    case 0x84: case 0x85:
        return exec_test_rm_r;
    case 0x86: case 0x87:
        return exec_xchg;
    case 0x88 ... 0x8b:
        return select_mov(insn);
    case 0x8c:
        return reg <= R_GS ? exec_mov_from_sreg : NULL;
    case 0x8d:
        return mem ? exec_lea : NULL;
    case 0x8e:
        return reg <= R_GS && reg != R_CS ? exec_mov_to_sreg : NULL;
    case 0x8f:
        return reg == 0 ? exec_pop_rm : NULL;
    case 0x90:
        return (insn->rex & 1) ? exec_xchg_ax : exec_nop;
    case 0x91 ... 0x97:
        return exec_xchg_ax;
    case 0x98:
        return exec_cbw;
    case 0x99:
        return exec_cwd;
    case 0x9a:
        return exec_call_far;
    case 0x9e:
        return exec_sahf;
    case 0x9f:
        return exec_lahf;
    case 0xa0 ... 0xa3:
        return exec_mov_moffs;
    case 0xa4: case 0xa5:
        return x86_exec_movs;
    case 0xa6: case 0xa7:
        return x86_exec_cmps;
    case 0xa8: case 0xa9:
        return exec_test_a_imm;
    case 0xaa: case 0xab:
        return x86_exec_stos;
    case 0xac: case 0xad:
        return x86_exec_lods;
    case 0xae: case 0xaf:
        return x86_exec_scas;
    case 0xb0 ... 0xbf:
        return exec_mov_r_imm;
    case 0xc0: case 0xc1: case 0xd0 ... 0xd3:
        return exec_shift;
    case 0xc2: case 0xc3:
        return exec_ret;
    case 0xc4: case 0xc5:
        return mem ? exec_load_far_ptr : NULL;
    case 0xc6: case 0xc7:
        return reg == 0 ? exec_mov_rm_imm : NULL;
    case 0xc8:
        return exec_enter;
    case 0xc9:
        return exec_leave;
    case 0xca: case 0xcb:
        return exec_ret_far;
    case 0xd4: case 0xd5:
        return exec_bcd;
    case 0xd6:
        return exec_salc;
    case 0xd7:
        return exec_xlat;
    case 0xe0 ... 0xe3:
        return exec_loop;
    case 0xe4 ... 0xe7: case 0xec ... 0xef:
        return exec_in_out;
    case 0xe8:
        return exec_call_rel;
    case 0xe9: case 0xeb:
        return exec_jmp_rel;
    case 0xea:
        return exec_jmp_far;
    case 0xf1:
        return exec_int1;
    case 0xf5: case 0xf8: case 0xf9: case 0xfc: case 0xfd:
        return exec_flag_op;
    case 0xf6: case 0xf7:
        switch (reg) {
        case 0: case 1: return exec_test_rm_imm;
        case 2: return exec_not;
        case 3: return exec_neg;
        default: return exec_muldiv;
        }
    case 0xfe:
        return reg < 2 ? exec_inc_dec_rm : NULL;
    case 0xff:
        switch (reg) {
        case 0: case 1: return exec_inc_dec_rm;
        case 2: return exec_call_ind;
        case 3: return mem ? exec_call_far_ind : NULL;
        case 4: return exec_jmp_ind;
        case 5: return mem ? exec_jmp_far_ind : NULL;
        case 6: return exec_push_rm;
        default: return NULL;
        }
    default:
        return NULL;
    }
}

/*
 * The commonest general handlers in 64-bit code, each wrapped to continue
 * into the next instruction as int-fast.c's do, so a run of them costs no
 * trip through the run loop. Only handlers that never change rIP or the
 * interrupt state qualify.
 */
#define THREADED(fn)                                                      \
    static void fn##_thr(X86CPU *cpu, const X86Insn *insn)                \
    {                                                                     \
        fn(cpu, insn);                                                    \
        x86_thread_next(cpu, insn);                                       \
    }

THREADED(exec_mov_r64_r64)
THREADED(exec_mov_r64_m)
THREADED(exec_mov_m_r64)
THREADED(exec_mov_r_rm)
THREADED(exec_mov_rm_imm)
THREADED(exec_mov_r_imm)
THREADED(exec_movx)
THREADED(exec_movsxd)
THREADED(exec_lea)
THREADED(exec_push_reg64)
THREADED(exec_pop_reg64)
THREADED(exec_cmov)
THREADED(exec_setcc)
THREADED(exec_imul_r_rm)
THREADED(exec_imul_r_rm_imm)
THREADED(exec_inc_dec_rm)
THREADED(exec_shift)
THREADED(exec_test_rm_r)
THREADED(exec_cbw)
THREADED(exec_cwd)

static const struct {
    X86ExecFn *plain, *threaded;
} threaded_fns[] = {
    { exec_mov_r64_r64, exec_mov_r64_r64_thr },
    { exec_mov_r64_m, exec_mov_r64_m_thr },
    { exec_mov_m_r64, exec_mov_m_r64_thr },
    { exec_mov_r_rm, exec_mov_r_rm_thr },
    { exec_mov_rm_imm, exec_mov_rm_imm_thr },
    { exec_mov_r_imm, exec_mov_r_imm_thr },
    { exec_movx, exec_movx_thr },
    { exec_movsxd, exec_movsxd_thr },
    { exec_lea, exec_lea_thr },
    { exec_push_reg64, exec_push_reg64_thr },
    { exec_pop_reg64, exec_pop_reg64_thr },
    { exec_cmov, exec_cmov_thr },
    { exec_setcc, exec_setcc_thr },
    { exec_imul_r_rm, exec_imul_r_rm_thr },
    { exec_imul_r_rm_imm, exec_imul_r_rm_imm_thr },
    { exec_inc_dec_rm, exec_inc_dec_rm_thr },
    { exec_shift, exec_shift_thr },
    { exec_test_rm_r, exec_test_rm_r_thr },
    { exec_cbw, exec_cbw_thr },
    { exec_cwd, exec_cwd_thr },
};

bool x86_int_threaded(X86ExecFn *fn)
{
    for (size_t i = 0; i < G_N_ELEMENTS(threaded_fns); i++) {
        if (fn == threaded_fns[i].threaded) {
            return true;
        }
    }
    return false;
}

X86ExecFn *x86_int_select(const X86Insn *insn, int code_size)
{
    X86ExecFn *fn = select_int(insn, code_size);

    for (size_t i = 0; code_size == 8 && i < G_N_ELEMENTS(threaded_fns);
         i++) {
        if (fn == threaded_fns[i].plain) {
            return threaded_fns[i].threaded;
        }
    }
    return fn;
}
