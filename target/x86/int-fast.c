/*
 * Specialized handlers for the most frequent forms of the integer
 * instructions (moves, ALU operations, Jcc, shifts by a constant, lea,
 * movzx/movsx) at operand sizes 4 and 8. The decoder picks one when it
 * sees such a form, so that operation, operand size, condition and
 * operand kinds are constants of the handler instead of being worked out
 * again on every run. Semantics are those of the general handlers in
 * int.c (Intel SDM vol. 2), which take every other form.
 */
#include "int.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Writes a register at size 4 (zero-extending) or 8. */
ALWAYS_INLINE void put_reg(X86CPU *cpu, int reg, int size, uint64_t val)
{
    cpu->regs[reg] = size == 8 ? val : (uint32_t)val;
}

ALWAYS_INLINE uint64_t get_reg(X86CPU *cpu, int reg, int size)
{
    return size == 8 ? cpu->regs[reg] : (uint32_t)cpu->regs[reg];
}

/*
 * The linear address of a memory operand of 64-bit code with 64-bit
 * addressing and no FS/GS override, the only kind the memory forms here
 * are chosen for: no segment base, no wrap-around.
 */
ALWAYS_INLINE uint64_t flat_ea(X86CPU *cpu, const X86Insn *insn)
{
    return insn->disp + cpu->ea_regs[insn->ea_base] +
           (cpu->ea_regs[insn->ea_index] << insn->scale);
}

static inline int sz_log2(int size)
{
    return size == 8 ? 3 : size == 4 ? 2 : size >> 1;
}

/* ---------------------------------------------------------------------
 * ALU operations (00..3F, 80/81/83), one handler per operation, size and
 * operand kinds
 * ------------------------------------------------------------------- */

enum {
    F_RMR,      /* op r/m(reg), reg */
    F_RRM,      /* op reg, r/m(reg) */
    F_RM,       /* op reg, mem */
    F_MR,       /* op mem, reg (not locked) */
    F_RI,       /* op r/m(reg), imm */
    F_MI,       /* op mem, imm (not locked) */
    F_COUNT
};

ALWAYS_INLINE void alu_form(X86CPU *cpu, const X86Insn *insn, int op,
                            int size, int form)
{
    uint64_t a, b, r, lin = 0;
    int dst;

    switch (form) {
    case F_RMR:
        dst = insn->rm;
        a = get_reg(cpu, dst, size);
        b = get_reg(cpu, insn->reg, size);
        break;
    case F_RRM:
        dst = insn->reg;
        a = get_reg(cpu, dst, size);
        b = get_reg(cpu, insn->rm, size);
        break;
    case F_RM:
        dst = insn->reg;
        b = x86_ld(cpu, flat_ea(cpu, insn), size);
        a = get_reg(cpu, dst, size);
        break;
    case F_MR:
        dst = -1;
        lin = flat_ea(cpu, insn);
        a = x86_ld(cpu, lin, size);
        b = get_reg(cpu, insn->reg, size);
        break;
    case F_RI:
        dst = insn->rm;
        a = get_reg(cpu, dst, size);
        b = insn->imm;
        break;
    default:
        dst = -1;
        lin = flat_ea(cpu, insn);
        a = x86_ld(cpu, lin, size);
        b = insn->imm;
        break;
    }
    r = x86_alu(cpu, op, sz_log2(size), a, b);
    if (op == ALU_CMP) {
        return;
    }
    if (dst >= 0) {
        put_reg(cpu, dst, size, r);
    } else {
        x86_st(cpu, lin, size, r);
    }
}

#define ALU_FN(form, op, size)                                            \
    static void alu_##form##_##op##_##size(X86CPU *cpu,                   \
                                           const X86Insn *insn)           \
    {                                                                     \
        alu_form(cpu, insn, op, size, form);                              \
        x86_thread_next(cpu, insn);                                       \
    }
#define ALU_FNS(form, size)                                               \
    ALU_FN(form, 0, size) ALU_FN(form, 1, size) ALU_FN(form, 2, size)     \
    ALU_FN(form, 3, size) ALU_FN(form, 4, size) ALU_FN(form, 5, size)     \
    ALU_FN(form, 6, size) ALU_FN(form, 7, size)
#define ALU_ROW(form, size) {                                             \
    alu_##form##_0_##size, alu_##form##_1_##size, alu_##form##_2_##size,  \
    alu_##form##_3_##size, alu_##form##_4_##size, alu_##form##_5_##size,  \
    alu_##form##_6_##size, alu_##form##_7_##size }
#define ALU_FORM(form) ALU_FNS(form, 4) ALU_FNS(form, 8)

ALU_FORM(F_RMR)
ALU_FORM(F_RRM)
ALU_FORM(F_RM)
ALU_FORM(F_MR)
ALU_FORM(F_RI)
ALU_FORM(F_MI)

/* [form][size 4, 8][operation] */
static X86ExecFn *const alu_fns[F_COUNT][2][8] = {
    [F_RMR] = { ALU_ROW(F_RMR, 4), ALU_ROW(F_RMR, 8) },
    [F_RRM] = { ALU_ROW(F_RRM, 4), ALU_ROW(F_RRM, 8) },
    [F_RM] = { ALU_ROW(F_RM, 4), ALU_ROW(F_RM, 8) },
    [F_MR] = { ALU_ROW(F_MR, 4), ALU_ROW(F_MR, 8) },
    [F_RI] = { ALU_ROW(F_RI, 4), ALU_ROW(F_RI, 8) },
    [F_MI] = { ALU_ROW(F_MI, 4), ALU_ROW(F_MI, 8) },
};

/* 85: test r/m, reg */
ALWAYS_INLINE void test_form(X86CPU *cpu, const X86Insn *insn, int size,
                             bool mem)
{
    uint64_t a = mem ? x86_ld(cpu, flat_ea(cpu, insn), size)
                     : get_reg(cpu, insn->rm, size);

    x86_set_logic_flags(cpu, sz_log2(size),
                        a & get_reg(cpu, insn->reg, size));
}

static void test_r_4(X86CPU *cpu, const X86Insn *insn)
{
    test_form(cpu, insn, 4, false);
    x86_thread_next(cpu, insn);
}

static void test_r_8(X86CPU *cpu, const X86Insn *insn)
{
    test_form(cpu, insn, 8, false);
    x86_thread_next(cpu, insn);
}

static void test_m_4(X86CPU *cpu, const X86Insn *insn)
{
    test_form(cpu, insn, 4, true);
    x86_thread_next(cpu, insn);
}

static void test_m_8(X86CPU *cpu, const X86Insn *insn)
{
    test_form(cpu, insn, 8, true);
    x86_thread_next(cpu, insn);
}

/* FF /0, /1 on a register */
ALWAYS_INLINE void inc_dec_form(X86CPU *cpu, const X86Insn *insn, int size,
                                bool dec)
{
    uint64_t v = get_reg(cpu, insn->rm, size);
    int sz = sz_log2(size);

    v = dec ? x86_alu_dec(cpu, sz, v) : x86_alu_inc(cpu, sz, v);
    put_reg(cpu, insn->rm, size, v);
}

static void inc_4(X86CPU *cpu, const X86Insn *insn)
{
    inc_dec_form(cpu, insn, 4, false);
    x86_thread_next(cpu, insn);
}

static void inc_8(X86CPU *cpu, const X86Insn *insn)
{
    inc_dec_form(cpu, insn, 8, false);
    x86_thread_next(cpu, insn);
}

static void dec_4(X86CPU *cpu, const X86Insn *insn)
{
    inc_dec_form(cpu, insn, 4, true);
    x86_thread_next(cpu, insn);
}

static void dec_8(X86CPU *cpu, const X86Insn *insn)
{
    inc_dec_form(cpu, insn, 8, true);
    x86_thread_next(cpu, insn);
}

/* ---------------------------------------------------------------------
 * Shifts by a constant count (C1 /4 /5 /6 /7 with imm8 != 0, D1)
 * ------------------------------------------------------------------- */

ALWAYS_INLINE void shift_form(X86CPU *cpu, const X86Insn *insn, int op,
                              int size, bool by_one)
{
    int sz = sz_log2(size), bits = size * 8;
    unsigned c = by_one ? 1 : insn->imm & (bits - 1);
    uint64_t a = get_reg(cpu, insn->rm, size);
    uint64_t sign = x86_sign_bit(sz), r;
    bool cf, of;

    switch (op) {
    case SHIFT_SHL:
        r = a << c;
        if (size == 4) {
            r = (uint32_t)r;
        }
        cf = (a >> (bits - c)) & 1;
        of = !!(r & sign) ^ cf;
        break;
    case SHIFT_SHR:
        r = a >> c;
        cf = (a >> (c - 1)) & 1;
        of = a & sign;
        break;
    default: {
        int64_t sa = x86_sext(a, sz);
        r = (uint64_t)(sa >> c);
        if (size == 4) {
            r = (uint32_t)r;
        }
        cf = (sa >> (c - 1)) & 1;
        of = false;
        break;
    }
    }
    x86_set_cc(cpu, CC_OP(CC_K_RESULT, sz), r,
               (cf ? CC_C : 0) | (of ? CC_O : 0), 0);
    cpu->regs[insn->rm] = r;
}

#define SHIFT_FN(name, op, size, one)                                     \
    static void name(X86CPU *cpu, const X86Insn *insn)                    \
    {                                                                     \
        shift_form(cpu, insn, op, size, one);                             \
        x86_thread_next(cpu, insn);                                       \
    }

SHIFT_FN(shl_i_4, SHIFT_SHL, 4, false)
SHIFT_FN(shl_i_8, SHIFT_SHL, 8, false)
SHIFT_FN(shr_i_4, SHIFT_SHR, 4, false)
SHIFT_FN(shr_i_8, SHIFT_SHR, 8, false)
SHIFT_FN(sar_i_4, SHIFT_SAR, 4, false)
SHIFT_FN(sar_i_8, SHIFT_SAR, 8, false)
SHIFT_FN(shl_1_4, SHIFT_SHL, 4, true)
SHIFT_FN(shl_1_8, SHIFT_SHL, 8, true)
SHIFT_FN(shr_1_4, SHIFT_SHR, 4, true)
SHIFT_FN(shr_1_8, SHIFT_SHR, 8, true)
SHIFT_FN(sar_1_4, SHIFT_SAR, 4, true)
SHIFT_FN(sar_1_8, SHIFT_SAR, 8, true)

/* Rotates (C1 /0 /1 with imm8 != 0, D1 /0 /1): only CF and OF change. */
ALWAYS_INLINE void rotate_form(X86CPU *cpu, const X86Insn *insn, bool right,
                               int size, bool by_one)
{
    int bits = size * 8;
    unsigned c = by_one ? 1 : insn->imm & (bits - 1);
    uint64_t a = get_reg(cpu, insn->rm, size);
    uint64_t sign = x86_sign_bit(sz_log2(size)), r;
    uint32_t f = x86_compute_flags(cpu) & ~(CC_C | CC_O);
    bool cf, of;

    if (right) {
        r = (a >> c) | (a << (bits - c));
        cf = r & sign;
        of = !!(r & sign) ^ !!(r & (sign >> 1));
    } else {
        r = (a << c) | (a >> (bits - c));
        cf = r & 1;
        of = !!(r & sign) ^ cf;
    }
    if (size == 4) {
        r = (uint32_t)r;
    }
    x86_set_cc_flags(cpu, f | (cf ? CC_C : 0) | (of ? CC_O : 0));
    cpu->regs[insn->rm] = r;
}

#define ROTATE_FN(name, right, size, one)                                 \
    static void name(X86CPU *cpu, const X86Insn *insn)                    \
    {                                                                     \
        rotate_form(cpu, insn, right, size, one);                         \
        x86_thread_next(cpu, insn);                                       \
    }

ROTATE_FN(rol_i_4, false, 4, false)
ROTATE_FN(rol_i_8, false, 8, false)
ROTATE_FN(ror_i_4, true, 4, false)
ROTATE_FN(ror_i_8, true, 8, false)
ROTATE_FN(rol_1_4, false, 4, true)
ROTATE_FN(rol_1_8, false, 8, true)
ROTATE_FN(ror_1_4, true, 4, true)
ROTATE_FN(ror_1_8, true, 8, true)

/* [by one][size 4, 8][0 shl, 1 shr, 2 sar, 3 rol, 4 ror] */
static X86ExecFn *const shift_fns[2][2][5] = {
    { { shl_i_4, shr_i_4, sar_i_4, rol_i_4, ror_i_4 },
      { shl_i_8, shr_i_8, sar_i_8, rol_i_8, ror_i_8 } },
    { { shl_1_4, shr_1_4, sar_1_4, rol_1_4, ror_1_4 },
      { shl_1_8, shr_1_8, sar_1_8, rol_1_8, ror_1_8 } },
};

/* ---------------------------------------------------------------------
 * Moves
 * ------------------------------------------------------------------- */

/* 8A/8B: mov reg, mem; 88/89: mov mem, reg. Byte registers other than
 * AH..BH (which the general handler takes) are the low bytes. */
ALWAYS_INLINE void mov_load(X86CPU *cpu, const X86Insn *insn, int size)
{
    uint64_t v = x86_ld(cpu, flat_ea(cpu, insn), size);

    x86_reg_write(cpu, insn->reg, size, true, v);
}

ALWAYS_INLINE void mov_store(X86CPU *cpu, const X86Insn *insn, int size)
{
    x86_st(cpu, flat_ea(cpu, insn), size,
           x86_reg_read(cpu, insn->reg, size, true));
}

static void mov_ld_1(X86CPU *cpu, const X86Insn *insn)
{
    mov_load(cpu, insn, 1);
    x86_thread_next(cpu, insn);
}

static void mov_ld_2(X86CPU *cpu, const X86Insn *insn)
{
    mov_load(cpu, insn, 2);
    x86_thread_next(cpu, insn);
}

static void mov_ld_4(X86CPU *cpu, const X86Insn *insn)
{
    mov_load(cpu, insn, 4);
    x86_thread_next(cpu, insn);
}

static void mov_ld_8(X86CPU *cpu, const X86Insn *insn)
{
    mov_load(cpu, insn, 8);
    x86_thread_next(cpu, insn);
}

static void mov_st_1(X86CPU *cpu, const X86Insn *insn)
{
    mov_store(cpu, insn, 1);
    x86_thread_next(cpu, insn);
}

static void mov_st_2(X86CPU *cpu, const X86Insn *insn)
{
    mov_store(cpu, insn, 2);
    x86_thread_next(cpu, insn);
}

static void mov_st_4(X86CPU *cpu, const X86Insn *insn)
{
    mov_store(cpu, insn, 4);
    x86_thread_next(cpu, insn);
}

static void mov_st_8(X86CPU *cpu, const X86Insn *insn)
{
    mov_store(cpu, insn, 8);
    x86_thread_next(cpu, insn);
}

/* 89/8B between registers, 32 bits */
static void mov_rr_4(X86CPU *cpu, const X86Insn *insn)
{
    if (insn->opcode & 2) {
        cpu->regs[insn->reg] = (uint32_t)cpu->regs[insn->rm];
    } else {
        cpu->regs[insn->rm] = (uint32_t)cpu->regs[insn->reg];
    }
    x86_thread_next(cpu, insn);
}

/* B8+r */
static void mov_ri_4(X86CPU *cpu, const X86Insn *insn)
{
    cpu->regs[(insn->opcode & 7) | ((insn->rex & 1) << 3)] =
        (uint32_t)insn->imm;
    x86_thread_next(cpu, insn);
}

static void mov_ri_8(X86CPU *cpu, const X86Insn *insn)
{
    cpu->regs[(insn->opcode & 7) | ((insn->rex & 1) << 3)] = insn->imm;
    x86_thread_next(cpu, insn);
}

/* 8D */
static void lea_4(X86CPU *cpu, const X86Insn *insn)
{
    cpu->regs[insn->reg] = (uint32_t)flat_ea(cpu, insn);
    x86_thread_next(cpu, insn);
}

static void lea_8(X86CPU *cpu, const X86Insn *insn)
{
    cpu->regs[insn->reg] = flat_ea(cpu, insn);
    x86_thread_next(cpu, insn);
}

/* 0F B6/B7 (movzx), BE/BF (movsx) into a 32- or 64-bit register */
ALWAYS_INLINE void movx_form(X86CPU *cpu, const X86Insn *insn, int ssize,
                             bool sign, int size, bool mem)
{
    uint64_t v;

    if (mem) {
        v = x86_ld(cpu, flat_ea(cpu, insn), ssize);
    } else {
        v = cpu->regs[insn->rm] & (ssize == 1 ? 0xff : 0xffff);
    }
    if (sign) {
        v = x86_sext(v, ssize == 1 ? 0 : 1);
    }
    put_reg(cpu, insn->reg, size, v);
}

#define MOVX_FN(ssize, sign, size, mem)                                   \
    static void movx_##ssize##_##sign##_##size##_##mem(                   \
        X86CPU *cpu, const X86Insn *insn)                                 \
    {                                                                     \
        movx_form(cpu, insn, ssize, sign, size, mem);                     \
        x86_thread_next(cpu, insn);                                       \
    }
#define MOVX_FNS(ssize, sign)                                             \
    MOVX_FN(ssize, sign, 4, 0) MOVX_FN(ssize, sign, 4, 1)                 \
    MOVX_FN(ssize, sign, 8, 0) MOVX_FN(ssize, sign, 8, 1)
#define MOVX_ROW(ssize, sign) {                                           \
    { movx_##ssize##_##sign##_4_0, movx_##ssize##_##sign##_4_1 },         \
    { movx_##ssize##_##sign##_8_0, movx_##ssize##_##sign##_8_1 } }

MOVX_FNS(1, 0)
MOVX_FNS(1, 1)
MOVX_FNS(2, 0)
MOVX_FNS(2, 1)

/* [B6, B7, BE, BF][size 4, 8][memory] */
static X86ExecFn *const movx_fns[4][2][2] = {
    MOVX_ROW(1, 0), MOVX_ROW(2, 0), MOVX_ROW(1, 1), MOVX_ROW(2, 1),
};

/* ---------------------------------------------------------------------
 * Conditional branches, one handler per condition
 * ------------------------------------------------------------------- */

#define JCC_FN(cc)                                                        \
    static void jcc_##cc(X86CPU *cpu, const X86Insn *insn)                \
    {                                                                     \
        if (x86_condition_inline(cpu, cc)) {                              \
            cpu->next_rip = (cpu->next_rip + insn->imm) &                 \
                            x86_addr_mask(insn->opsize);                  \
            cpu->thread_end = insn + 1;                                   \
            return;                                                       \
        }                                                                 \
        x86_thread_next(cpu, insn);                                       \
    }

JCC_FN(0) JCC_FN(1) JCC_FN(2) JCC_FN(3) JCC_FN(4) JCC_FN(5) JCC_FN(6)
JCC_FN(7) JCC_FN(8) JCC_FN(9) JCC_FN(10) JCC_FN(11) JCC_FN(12) JCC_FN(13)
JCC_FN(14) JCC_FN(15)

static X86ExecFn *const jcc_fns[16] = {
    jcc_0, jcc_1, jcc_2, jcc_3, jcc_4, jcc_5, jcc_6, jcc_7,
    jcc_8, jcc_9, jcc_10, jcc_11, jcc_12, jcc_13, jcc_14, jcc_15,
};

/* ---------------------------------------------------------------------
 * Selection
 * ------------------------------------------------------------------- */

/* High-byte registers (AH..BH) are encoded as 4..7 without REX. */
static bool low_byte_reg(const X86Insn *insn, int reg)
{
    return insn->rex || reg < 4;
}

X86ExecFn *x86_int_select_fast(const X86Insn *insn, int code_size)
{
    int op = insn->opcode, reg = insn->reg & 7;
    bool mem = insn->mod != 3;
    int si = insn->opsize == 8 ? 1 : insn->opsize == 4 ? 0 : -1;

    /* memory operands: see flat_ea */
    if (mem && insn->has_modrm &&
        (code_size != 8 || insn->addrsize != 8 || insn->seg >= R_FS)) {
        return NULL;
    }

    if (op >= (X86_MAP_0F | 0x80) && op <= (X86_MAP_0F | 0x8f)) {
        return jcc_fns[op & 0xf];
    }
    if (op >= 0x70 && op <= 0x7f) {
        return jcc_fns[op & 0xf];
    }
    if (op == (X86_MAP_0F | 0xb6) || op == (X86_MAP_0F | 0xb7) ||
        op == (X86_MAP_0F | 0xbe) || op == (X86_MAP_0F | 0xbf)) {
        int row = ((op & 8) >> 2) | (op & 1);
        if (si < 0 || (!mem && !(op & 1) && !low_byte_reg(insn, insn->rm))) {
            return NULL;
        }
        return movx_fns[row][si][mem];
    }
    if (op & 0x300) {
        return NULL;
    }
    if (op < 0x40 && (op & 7) < 4 && (op & 1)) {
        int alu = (op >> 3) & 7;
        if (si < 0) {
            return NULL;
        }
        if (op & 2) {
            return alu_fns[mem ? F_RM : F_RRM][si][alu];
        }
        if (mem) {
            return insn->lock ? NULL : alu_fns[F_MR][si][alu];
        }
        return alu_fns[F_RMR][si][alu];
    }
    switch (op) {
    case 0x81: case 0x83:
        if (si < 0 || (mem && insn->lock)) {
            return NULL;
        }
        return alu_fns[mem ? F_MI : F_RI][si][reg];
    case 0x85:
        if (si < 0) {
            return NULL;
        }
        return mem ? (si ? test_m_8 : test_m_4) : (si ? test_r_8 : test_r_4);
    case 0x88: case 0x8a:
        if (!mem || !low_byte_reg(insn, insn->reg)) {
            return NULL;
        }
        return op == 0x8a ? mov_ld_1 : mov_st_1;
    case 0x89: case 0x8b:
        if (!mem) {
            return si == 0 ? mov_rr_4 : NULL;
        }
        switch (insn->opsize) {
        case 2: return op == 0x8b ? mov_ld_2 : mov_st_2;
        case 4: return op == 0x8b ? mov_ld_4 : mov_st_4;
        default: return op == 0x8b ? mov_ld_8 : mov_st_8;
        }
    case 0x8d:
        if (!mem || si < 0) {
            return NULL;
        }
        return si ? lea_8 : lea_4;
    case 0xb8 ... 0xbf:
        if (si < 0) {
            return NULL;
        }
        return si ? mov_ri_8 : mov_ri_4;
    case 0xc1: case 0xd1: {
        /* /0 rol, /1 ror, /4 shl, /5 shr, /6 sal, /7 sar; not rcl, rcr */
        static const int8_t kind[8] = { 3, 4, -1, -1, 0, 1, 0, 2 };
        if (mem || si < 0 || kind[reg] < 0) {
            return NULL;
        }
        if (op == 0xc1 && !(insn->imm & (si ? 63 : 31))) {
            return NULL;
        }
        return shift_fns[op == 0xd1][si][kind[reg]];
    }
    case 0xff:
        if (mem || si < 0 || reg > 1) {
            return NULL;
        }
        return reg ? (si ? dec_8 : dec_4) : (si ? inc_8 : inc_4);
    default:
        return NULL;
    }
}

bool x86_int_fast_threads(const X86Insn *insn, int code_size)
{
    return insn->exec && (insn->exec == x86_int_select_fast(insn, code_size) ||
                          x86_int_threaded(insn->exec));
}
