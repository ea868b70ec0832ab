/*
 * Lazy arithmetic flags (CF, PF, AF, ZF, SF, OF) and the ALU operations
 * whose flags are not simple enough to inline: shifts, rotates, multiply,
 * divide and the BCD adjustments. Intel SDM vol. 1 3.4.3, vol. 2 per
 * instruction. Undefined flags are given fixed, deterministic values.
 */
#include "flags.h"

static inline uint32_t parity_flag(uint64_t r)
{
    return __builtin_parity((unsigned)r & 0xff) ? 0 : CC_P;
}

/* SF, ZF and PF of a result of size 1 << sz. */
static inline uint32_t szp_flags(uint64_t r, int sz)
{
    uint32_t f = parity_flag(r);
    if ((r & x86_size_mask(sz)) == 0) {
        f |= CC_Z;
    }
    if (r & x86_sign_bit(sz)) {
        f |= CC_S;
    }
    return f;
}

static uint32_t add_flags(uint64_t a, uint64_t b, uint64_t r, int sz)
{
    uint64_t sign = x86_sign_bit(sz);
    uint32_t f = szp_flags(r, sz) | ((a ^ b ^ r) & CC_A);
    if (((a & b) | ((a | b) & ~r)) & sign) {
        f |= CC_C;
    }
    if ((a ^ r) & (b ^ r) & sign) {
        f |= CC_O;
    }
    return f;
}

static uint32_t sub_flags(uint64_t a, uint64_t b, uint64_t r, int sz)
{
    uint64_t sign = x86_sign_bit(sz);
    uint32_t f = szp_flags(r, sz) | ((a ^ b ^ r) & CC_A);
    if (((~a & b) | ((~a | b) & r)) & sign) {
        f |= CC_C;
    }
    if ((a ^ b) & (a ^ r) & sign) {
        f |= CC_O;
    }
    return f;
}

uint32_t x86_compute_flags(X86CPU *cpu)
{
    int sz = cpu->cc_op & 3;
    uint64_t r = cpu->cc_dst;
    uint32_t f;

    switch (cpu->cc_op >> 2) {
    case CC_K_EFLAGS:
        return cpu->cc_src & CC_ALL;
    case CC_K_ADD:
    case CC_K_ADC:
        return add_flags(cpu->cc_src, cpu->cc_src2, r, sz);
    case CC_K_SUB:
    case CC_K_SBB:
        return sub_flags(cpu->cc_src, cpu->cc_src2, r, sz);
    case CC_K_LOGIC:
        return szp_flags(r, sz);
    case CC_K_INC:
        f = szp_flags(r, sz) | ((r ^ (r - 1)) & CC_A) |
            (cpu->cc_src ? CC_C : 0);
        if ((r & x86_size_mask(sz)) == x86_sign_bit(sz)) {
            f |= CC_O;
        }
        return f;
    case CC_K_DEC:
        f = szp_flags(r, sz) | ((r ^ (r + 1)) & CC_A) |
            (cpu->cc_src ? CC_C : 0);
        if ((r & x86_size_mask(sz)) == x86_sign_bit(sz) - 1) {
            f |= CC_O;
        }
        return f;
    default:
        return szp_flags(r, sz) | (cpu->cc_src & (CC_C | CC_O | CC_A));
    }
}

bool x86_compute_cf(X86CPU *cpu)
{
    int sz = cpu->cc_op & 3;
    uint64_t a = cpu->cc_src, b = cpu->cc_src2, r = cpu->cc_dst;

    switch (cpu->cc_op >> 2) {
    case CC_K_EFLAGS:
    case CC_K_RESULT:
        return cpu->cc_src & CC_C;
    case CC_K_ADD:
    case CC_K_ADC:
        return ((a & b) | ((a | b) & ~r)) & x86_sign_bit(sz);
    case CC_K_SUB:
    case CC_K_SBB:
        return ((~a & b) | ((~a | b) & r)) & x86_sign_bit(sz);
    case CC_K_LOGIC:
        return false;
    default:
        return cpu->cc_src != 0;
    }
}

/* Conditions from a full flags word: cc >> 1 selects O, B, Z, BE, S, P,
 * L, LE; bit 0 negates. */
static bool condition_from_flags(uint32_t f, int cc)
{
    bool r;

    switch (cc >> 1) {
    case 0: r = f & CC_O; break;
    case 1: r = f & CC_C; break;
    case 2: r = f & CC_Z; break;
    case 3: r = f & (CC_C | CC_Z); break;
    case 4: r = f & CC_S; break;
    case 5: r = f & CC_P; break;
    case 6: r = !(f & CC_S) != !(f & CC_O); break;
    default: r = (f & CC_Z) || (!(f & CC_S) != !(f & CC_O)); break;
    }
    return r ^ (cc & 1);
}

bool x86_condition(X86CPU *cpu, int cc)
{
    int sz = cpu->cc_op & 3;
    uint64_t mask = x86_size_mask(sz);
    bool r;

    /* Fast paths for cmp/sub and the logic ops, the usual Jcc producers. */
    if (cpu->cc_op >> 2 == CC_K_SUB) {
        uint64_t a = cpu->cc_src & mask, b = cpu->cc_src2 & mask;
        switch (cc >> 1) {
        case 1: r = a < b; break;
        case 2: r = a == b; break;
        case 3: r = a <= b; break;
        case 4: r = (a - b) & x86_sign_bit(sz); break;
        case 6: r = x86_sext(a, sz) < x86_sext(b, sz); break;
        case 7: r = x86_sext(a, sz) <= x86_sext(b, sz); break;
        default: return condition_from_flags(x86_compute_flags(cpu), cc);
        }
        return r ^ (cc & 1);
    }
    if (cpu->cc_op >> 2 == CC_K_LOGIC) {
        uint64_t d = cpu->cc_dst & mask;
        bool s = d & x86_sign_bit(sz);
        switch (cc >> 1) {
        case 0: r = false; break;
        case 1: r = false; break;
        case 2: r = d == 0; break;
        case 3: r = d == 0; break;
        case 4: r = s; break;
        case 6: r = s; break;
        case 7: r = d == 0 || s; break;
        default: return condition_from_flags(x86_compute_flags(cpu), cc);
        }
        return r ^ (cc & 1);
    }
    return condition_from_flags(x86_compute_flags(cpu), cc);
}

uint64_t x86_get_eflags(X86CPU *cpu)
{
    return (cpu->eflags & ~(uint64_t)CC_ALL) | x86_compute_flags(cpu) | 2;
}

void x86_set_eflags(X86CPU *cpu, uint64_t val, uint64_t mask)
{
    if (mask & CC_ALL) {
        uint32_t f = x86_compute_flags(cpu);
        f = (f & ~mask) | (val & mask & CC_ALL);
        x86_set_cc_flags(cpu, f);
    }
    cpu->eflags = ((cpu->eflags & ~mask) | (val & mask)) & ~(uint64_t)CC_ALL;
}

/* Replaces CF and OF, keeping the other flags (rotates). */
static void set_cf_of(X86CPU *cpu, bool cf, bool of)
{
    uint32_t f = x86_compute_flags(cpu) & ~(CC_C | CC_O);
    x86_set_cc_flags(cpu, f | (cf ? CC_C : 0) | (of ? CC_O : 0));
}

static void set_result_flags(X86CPU *cpu, int sz, uint64_t r, bool cf,
                             bool of)
{
    x86_set_cc(cpu, CC_OP(CC_K_RESULT, sz), r,
               (cf ? CC_C : 0) | (of ? CC_O : 0), 0);
}

/* Rotate through CF: a (bits wide) with CF above it, by c < bits + 1. */
static uint64_t rotate_carry(X86CPU *cpu, bool right, int sz, uint64_t a,
                             unsigned c, bool *cf)
{
    int bits = 8 << sz;
    int width = bits + 1;
    unsigned __int128 wmask = ((unsigned __int128)1 << width) - 1;
    unsigned __int128 x = ((unsigned __int128)*cf << bits) | a;

    if (right) {
        c = width - c;
    }
    if (c % width) {
        x = ((x << c) | (x >> (width - c))) & wmask;
    }
    *cf = (x >> bits) & 1;
    return (uint64_t)x & x86_size_mask(sz);
}

uint64_t x86_alu_shift(X86CPU *cpu, int op, int sz, uint64_t a,
                       unsigned count)
{
    int bits = 8 << sz;
    uint64_t mask = x86_size_mask(sz), sign = x86_sign_bit(sz);
    uint64_t r;
    bool cf, of;
    unsigned c;

    count &= sz == 3 ? 63 : 31;
    if (count == 0) {
        return a;
    }
    a &= mask;
    switch (op) {
    case SHIFT_ROL:
        c = count & (bits - 1);
        r = c ? ((a << c) | (a >> (bits - c))) & mask : a;
        cf = r & 1;
        set_cf_of(cpu, cf, !!(r & sign) ^ cf);
        return r;
    case SHIFT_ROR:
        c = count & (bits - 1);
        r = c ? ((a >> c) | (a << (bits - c))) & mask : a;
        cf = r & sign;
        set_cf_of(cpu, cf, !!(r & sign) ^ !!(r & (sign >> 1)));
        return r;
    case SHIFT_RCL:
    case SHIFT_RCR:
        c = sz < 2 ? count % (bits + 1) : count;
        cf = x86_compute_cf(cpu);
        r = c ? rotate_carry(cpu, op == SHIFT_RCR, sz, a, c, &cf) : a;
        if (op == SHIFT_RCL) {
            of = !!(r & sign) ^ cf;
        } else {
            of = !!(r & sign) ^ !!(r & (sign >> 1));
        }
        set_cf_of(cpu, cf, of);
        return r;
    case SHIFT_SHL:
    case SHIFT_SAL:
        r = (a << count) & mask;
        cf = count <= bits ? (a >> (bits - count)) & 1 : 0;
        set_result_flags(cpu, sz, r, cf, !!(r & sign) ^ cf);
        return r;
    case SHIFT_SHR:
        r = a >> count;
        set_result_flags(cpu, sz, r, (a >> (count - 1)) & 1, a & sign);
        return r;
    default: {
        int64_t sa = x86_sext(a, sz);
        r = (uint64_t)(sa >> count) & mask;
        set_result_flags(cpu, sz, r, (sa >> (count - 1)) & 1, false);
        return r;
    }
    }
}

uint64_t x86_alu_shd(X86CPU *cpu, bool left, int sz, uint64_t dst,
                     uint64_t src, unsigned count)
{
    int bits = 8 << sz;
    uint64_t mask = x86_size_mask(sz);
    unsigned __int128 x;
    uint64_t r;
    bool cf;

    count &= sz == 3 ? 63 : 31;
    if (count == 0) {
        return dst;
    }
    dst &= mask;
    src &= mask;
    if (left) {
        /* dst:src shifted left; a 16-bit count above 16 pulls in zeros. */
        x = (((unsigned __int128)dst << bits) | src) << count;
        r = (uint64_t)(x >> bits) & mask;
        cf = count <= bits ? (dst >> (bits - count)) & 1
                           : (src >> (2 * bits - count)) & 1;
    } else {
        x = ((unsigned __int128)src << bits) | dst;
        r = (uint64_t)(x >> count) & mask;
        cf = (x >> (count - 1)) & 1;
    }
    set_result_flags(cpu, sz, r, cf, ((r ^ dst) & x86_sign_bit(sz)) != 0);
    return r;
}

uint64_t x86_alu_mul(X86CPU *cpu, int sz, uint64_t a, uint64_t b,
                     uint64_t *hi)
{
    uint64_t mask = x86_size_mask(sz), lo;

    if (sz == 3) {
        unsigned __int128 p = (unsigned __int128)a * b;
        lo = (uint64_t)p;
        *hi = (uint64_t)(p >> 64);
    } else {
        uint64_t p = (a & mask) * (b & mask);
        lo = p & mask;
        *hi = p >> (8 << sz);
    }
    set_result_flags(cpu, sz, lo, *hi != 0, *hi != 0);
    return lo;
}

uint64_t x86_alu_imul(X86CPU *cpu, int sz, uint64_t a, uint64_t b,
                      uint64_t *hi)
{
    uint64_t mask = x86_size_mask(sz), lo;
    __int128 p = (__int128)x86_sext(a, sz) * x86_sext(b, sz);
    bool ovf;

    lo = (uint64_t)p & mask;
    *hi = (uint64_t)(p >> (8 << sz)) & mask;
    ovf = p != (__int128)x86_sext(lo, sz);
    set_result_flags(cpu, sz, lo, ovf, ovf);
    return lo;
}

bool x86_alu_div(int sz, uint64_t lo, uint64_t hi, uint64_t d,
                 uint64_t *quot, uint64_t *rem)
{
    uint64_t mask = x86_size_mask(sz);
    int bits = 8 << sz;

    d &= mask;
    if (d == 0) {
        return false;
    }
    if (sz == 3) {
        unsigned __int128 n = ((unsigned __int128)hi << 64) | lo;
        if (hi >= d) {
            return false;
        }
        *quot = (uint64_t)(n / d);
        *rem = (uint64_t)(n % d);
        return true;
    }
    uint64_t n = ((hi & mask) << bits) | (lo & mask);
    uint64_t q = n / d;
    if (q > mask) {
        return false;
    }
    *quot = q;
    *rem = n % d;
    return true;
}

bool x86_alu_idiv(int sz, uint64_t lo, uint64_t hi, uint64_t d,
                  uint64_t *quot, uint64_t *rem)
{
    uint64_t mask = x86_size_mask(sz);
    int bits = 8 << sz;
    __int128 n, q, sd = x86_sext(d, sz);

    if (sd == 0) {
        return false;
    }
    if (sz == 3) {
        n = (__int128)(((unsigned __int128)hi << 64) | lo);
        if ((int64_t)hi == INT64_MIN && lo == 0 && sd == -1) {
            return false;   /* -2^127 / -1 does not fit anywhere */
        }
    } else {
        n = (int64_t)((((hi & mask) << bits) | (lo & mask))
                      << (64 - 2 * bits)) >> (64 - 2 * bits);
    }
    q = n / sd;
    if (q > (__int128)(x86_sign_bit(sz) - 1) ||
        q < -(__int128)x86_sign_bit(sz)) {
        return false;
    }
    *quot = (uint64_t)q & mask;
    *rem = (uint64_t)(n % sd) & mask;
    return true;
}

static uint32_t old_flags(X86CPU *cpu)
{
    return x86_compute_flags(cpu);
}

static void set_al(X86CPU *cpu, uint8_t al)
{
    cpu->regs[R_EAX] = (cpu->regs[R_EAX] & ~0xffull) | al;
}

static void set_ax(X86CPU *cpu, uint16_t ax)
{
    cpu->regs[R_EAX] = (cpu->regs[R_EAX] & ~0xffffull) | ax;
}

void x86_alu_daa(X86CPU *cpu)
{
    uint32_t f = old_flags(cpu);
    uint8_t al = cpu->regs[R_EAX], old_al = al;
    bool cf = false, af = false;

    if ((al & 0xf) > 9 || (f & CC_A)) {
        cf = (f & CC_C) || al > 0xf9;
        al += 6;
        af = true;
    }
    if (old_al > 0x99 || (f & CC_C)) {
        al += 0x60;
        cf = true;
    }
    set_al(cpu, al);
    x86_set_cc_flags(cpu, szp_flags(al, 0) | (cf ? CC_C : 0) |
                          (af ? CC_A : 0));
}

void x86_alu_das(X86CPU *cpu)
{
    uint32_t f = old_flags(cpu);
    uint8_t al = cpu->regs[R_EAX], old_al = al;
    bool cf = false, af = false;

    if ((al & 0xf) > 9 || (f & CC_A)) {
        cf = (f & CC_C) || al < 6;
        al -= 6;
        af = true;
    }
    if (old_al > 0x99 || (f & CC_C)) {
        al -= 0x60;
        cf = true;
    }
    set_al(cpu, al);
    x86_set_cc_flags(cpu, szp_flags(al, 0) | (cf ? CC_C : 0) |
                          (af ? CC_A : 0));
}

void x86_alu_aaa(X86CPU *cpu)
{
    uint32_t f = old_flags(cpu);
    uint16_t ax = cpu->regs[R_EAX];
    bool adj = (ax & 0xf) > 9 || (f & CC_A);

    if (adj) {
        ax += 0x106;
    }
    ax &= 0xff0f;
    set_ax(cpu, ax);
    x86_set_cc_flags(cpu, szp_flags(ax & 0xff, 0) |
                          (adj ? CC_A | CC_C : 0));
}

void x86_alu_aas(X86CPU *cpu)
{
    uint32_t f = old_flags(cpu);
    uint16_t ax = cpu->regs[R_EAX];
    bool adj = (ax & 0xf) > 9 || (f & CC_A);

    if (adj) {
        ax -= 6;
        ax -= 0x100;
    }
    ax &= 0xff0f;
    set_ax(cpu, ax);
    x86_set_cc_flags(cpu, szp_flags(ax & 0xff, 0) |
                          (adj ? CC_A | CC_C : 0));
}

bool x86_alu_aam(X86CPU *cpu, uint8_t base)
{
    uint8_t al = cpu->regs[R_EAX];

    if (base == 0) {
        return false;
    }
    set_ax(cpu, ((al / base) << 8) | (al % base));
    x86_set_logic_flags(cpu, 0, al % base);
    return true;
}

void x86_alu_aad(X86CPU *cpu, uint8_t base)
{
    uint16_t ax = cpu->regs[R_EAX];
    uint8_t al = (ax & 0xff) + (ax >> 8) * base;

    set_ax(cpu, al);
    x86_set_logic_flags(cpu, 0, al);
}
