/*
 * The x87 floating-point unit (Intel SDM vol. 1 chapter 8, vol. 2 "F..."
 * instructions): register stack, control/status/tag words, environment
 * save and restore. Arithmetic runs on the host's own x87 unit (the host
 * is x86-64, so long double is the 80-bit extended format) with the
 * guest's precision and rounding control and every exception masked; the
 * host's status flags then become the guest's.
 */
#include "fpu-internal.h"
#include "flags.h"

/* The QNaN floating-point indefinite (SDM vol. 1 4.8.3.7). */
#define FP_INDEF_MANT   0xc000000000000000ull
#define FP_INDEF_EXP    0xffff

/* ---------------------------------------------------------------------
 * Host x87 operations
 * ------------------------------------------------------------------- */

/*
 * Each host operation is one asm statement that loads the control word,
 * clears the flags, runs the instruction and reads the status word back,
 * so the compiler cannot move it away from its control word.
 */
#define HOST_BEGIN  "fnstcw %[save]\n\tfldcw %[cw]\n\tfnclex\n\t"
#define HOST_END    "\n\tfnstsw %[sw]\n\tfldcw %[save]"
#define HOST_OUT    [save] "+m"(save), [sw] "=m"(st)
#define HOST_LOCALS uint16_t save = 0, st

#define HOST_UNARY(name, insn)                                              \
    static long double name(long double a, uint16_t cw, uint16_t *sw)      \
    {                                                                       \
        long double r;                                                      \
        HOST_LOCALS;                                                        \
        asm volatile(HOST_BEGIN insn HOST_END                               \
                     : "=t"(r), HOST_OUT                                    \
                     : "0"(a), [cw] "m"(cw));                               \
        *sw = st;                                                           \
        return r;                                                           \
    }

/* st(0) = a, st(1) = b; the result replaces st(0). */
#define HOST_BINARY(name, insn)                                             \
    static long double name(long double a, long double b, uint16_t cw,     \
                            uint16_t *sw)                                   \
    {                                                                       \
        long double r;                                                      \
        HOST_LOCALS;                                                        \
        asm volatile(HOST_BEGIN insn HOST_END                               \
                     : "=t"(r), HOST_OUT                                    \
                     : "0"(a), "u"(b), [cw] "m"(cw));                       \
        *sw = st;                                                           \
        return r;                                                           \
    }

/* st(0) = a, st(1) = b; the result replaces st(1) and st(0) is popped. */
#define HOST_BINARY_POP(name, insn)                                         \
    static long double name(long double a, long double b, uint16_t cw,     \
                            uint16_t *sw)                                   \
    {                                                                       \
        long double r;                                                      \
        HOST_LOCALS;                                                        \
        asm volatile(HOST_BEGIN insn HOST_END                               \
                     : "=t"(r), HOST_OUT                                    \
                     : "0"(a), "u"(b), [cw] "m"(cw)                         \
                     : "st(1)");                                            \
        *sw = st;                                                           \
        return r;                                                           \
    }

/* st(0) = a is replaced by two results: *second ends in st(1). */
#define HOST_PUSH(name, insn)                                               \
    static long double name(long double a, long double *second,            \
                            uint16_t cw, uint16_t *sw)                      \
    {                                                                       \
        long double top, below;                                             \
        HOST_LOCALS;                                                        \
        asm volatile(HOST_BEGIN insn HOST_END                               \
                     : "=t"(top), "=u"(below), HOST_OUT                     \
                     : "0"(a), [cw] "m"(cw));                               \
        *second = below;                                                    \
        *sw = st;                                                           \
        return top;                                                         \
    }

HOST_BINARY(host_add, "fadd %%st(1), %%st")
HOST_BINARY(host_sub, "fsub %%st(1), %%st")
HOST_BINARY(host_mul, "fmul %%st(1), %%st")
HOST_BINARY(host_div, "fdiv %%st(1), %%st")
HOST_BINARY(host_fscale, "fscale")
HOST_BINARY(host_fprem, "fprem")
HOST_BINARY(host_fprem1, "fprem1")
HOST_UNARY(host_sqrt, "fsqrt")
HOST_UNARY(host_frndint, "frndint")
HOST_UNARY(host_fsin, "fsin")
HOST_UNARY(host_fcos, "fcos")
HOST_UNARY(host_f2xm1, "f2xm1")
HOST_BINARY_POP(host_fyl2x, "fyl2x")
HOST_BINARY_POP(host_fyl2xp1, "fyl2xp1")
HOST_BINARY_POP(host_fpatan, "fpatan")
HOST_PUSH(host_fptan, "fptan")
HOST_PUSH(host_fsincos, "fsincos")
HOST_PUSH(host_fxtract, "fxtract")

/* ftst: the status word holds the comparison with 0.0. */
static uint16_t host_ftst(long double a, uint16_t cw)
{
    HOST_LOCALS;
    asm volatile(HOST_BEGIN "ftst" HOST_END
                 : HOST_OUT : "t"(a), [cw] "m"(cw));
    return st;
}

/* fcomi/fucomi of st(0) = a with b: returns the ZF/PF/CF bits. */
static uint32_t host_fcomi(long double a, long double b, bool quiet,
                           uint16_t cw, uint16_t *sw)
{
    uint8_t z, p, c;
    HOST_LOCALS;

    if (quiet) {
        asm volatile(HOST_BEGIN "fucomi %%st(1), %%st\n\t"
                     "setz %[z]\n\tsetp %[p]\n\tsetc %[c]" HOST_END
                     : [z] "=qm"(z), [p] "=qm"(p), [c] "=qm"(c), HOST_OUT
                     : "t"(a), "u"(b), [cw] "m"(cw) : "cc");
    } else {
        asm volatile(HOST_BEGIN "fcomi %%st(1), %%st\n\t"
                     "setz %[z]\n\tsetp %[p]\n\tsetc %[c]" HOST_END
                     : [z] "=qm"(z), [p] "=qm"(p), [c] "=qm"(c), HOST_OUT
                     : "t"(a), "u"(b), [cw] "m"(cw) : "cc");
    }
    *sw = st;
    return (z ? CC_Z : 0) | (p ? CC_P : 0) | (c ? CC_C : 0);
}

static long double host_ld32(uint32_t v, uint16_t cw, uint16_t *sw)
{
    long double r;
    HOST_LOCALS;
    asm volatile(HOST_BEGIN "flds %[m]" HOST_END
                 : "=t"(r), HOST_OUT : [m] "m"(v), [cw] "m"(cw));
    *sw = st;
    return r;
}

static long double host_ld64(uint64_t v, uint16_t cw, uint16_t *sw)
{
    long double r;
    HOST_LOCALS;
    asm volatile(HOST_BEGIN "fldl %[m]" HOST_END
                 : "=t"(r), HOST_OUT : [m] "m"(v), [cw] "m"(cw));
    *sw = st;
    return r;
}

static uint32_t host_st32(long double a, uint16_t cw, uint16_t *sw)
{
    uint32_t v;
    HOST_LOCALS;
    asm volatile(HOST_BEGIN "fsts %[m]" HOST_END
                 : [m] "=m"(v), HOST_OUT : "t"(a), [cw] "m"(cw));
    *sw = st;
    return v;
}

static uint64_t host_st64(long double a, uint16_t cw, uint16_t *sw)
{
    uint64_t v;
    HOST_LOCALS;
    asm volatile(HOST_BEGIN "fstl %[m]" HOST_END
                 : [m] "=m"(v), HOST_OUT : "t"(a), [cw] "m"(cw));
    *sw = st;
    return v;
}

/* fist of 2, 4 or 8 bytes: the integer indefinite and IE when out of
 * range, exactly as the guest's fist. */
static uint64_t host_fist(long double a, int size, uint16_t cw,
                          uint16_t *sw)
{
    HOST_LOCALS;

    if (size == 2) {
        uint16_t v;
        asm volatile(HOST_BEGIN "fists %[m]" HOST_END
                     : [m] "=m"(v), HOST_OUT : "t"(a), [cw] "m"(cw));
        *sw = st;
        return v;
    } else if (size == 4) {
        uint32_t v;
        asm volatile(HOST_BEGIN "fistl %[m]" HOST_END
                     : [m] "=m"(v), HOST_OUT : "t"(a), [cw] "m"(cw));
        *sw = st;
        return v;
    } else {
        uint64_t v;
        /* fistp only for 64 bits: it pops a, hence the "st" clobber */
        asm volatile(HOST_BEGIN "fistpll %[m]" HOST_END
                     : [m] "=m"(v), HOST_OUT : "t"(a), [cw] "m"(cw)
                     : "st");
        *sw = st;
        return v;
    }
}

/* fld1 .. fldz: the constants are rounded by RC as on hardware. */
static long double host_const(int which, uint16_t cw)
{
    long double r;
    HOST_LOCALS;

#define LOAD_CONST(insn) \
    asm volatile(HOST_BEGIN insn HOST_END : "=t"(r), HOST_OUT : [cw] "m"(cw))
    switch (which) {
    case 0: LOAD_CONST("fld1"); break;
    case 1: LOAD_CONST("fldl2t"); break;
    case 2: LOAD_CONST("fldl2e"); break;
    case 3: LOAD_CONST("fldpi"); break;
    case 4: LOAD_CONST("fldlg2"); break;
    case 5: LOAD_CONST("fldln2"); break;
    default: LOAD_CONST("fldz"); break;
    }
#undef LOAD_CONST
    return r;
}

/* ---------------------------------------------------------------------
 * Register stack and status
 * ------------------------------------------------------------------- */

/* The host control word for an operation: the guest's PC and RC with
 * every exception masked. */
static inline uint16_t host_cw(X86CPU *cpu)
{
    return (cpu->fpuc & (FPUC_PC | FPUC_RC)) | 0x7f;
}

static inline int st_phys(X86CPU *cpu, int i)
{
    return (cpu->fpstt + i) & 7;
}

static inline bool st_empty(X86CPU *cpu, int i)
{
    return (cpu->fptags >> st_phys(cpu, i)) & 1;
}

static inline long double st_get(X86CPU *cpu, int i)
{
    return cpu->fpregs[st_phys(cpu, i)].d;
}

static inline void st_set(X86CPU *cpu, int i, long double v)
{
    int p = st_phys(cpu, i);

    cpu->fpregs[p].d = v;
    cpu->fptags &= ~(1u << p);
}

static inline void st_set_raw(X86CPU *cpu, int i, uint64_t mant,
                              uint16_t exp)
{
    int p = st_phys(cpu, i);

    cpu->fpregs[p].raw.mant = mant;
    cpu->fpregs[p].raw.exp = exp;
    cpu->fptags &= ~(1u << p);
}

static inline void st_set_indef(X86CPU *cpu, int i)
{
    st_set_raw(cpu, i, FP_INDEF_MANT, FP_INDEF_EXP);
}

static inline void fp_pop(X86CPU *cpu)
{
    cpu->fptags |= 1u << cpu->fpstt;
    cpu->fpstt = (cpu->fpstt + 1) & 7;
}

static inline void fp_push_slot(X86CPU *cpu)
{
    cpu->fpstt = (cpu->fpstt - 1) & 7;
}

static inline bool ie_masked(X86CPU *cpu)
{
    return cpu->fpuc & FPUS_IE;
}

/* Sets ES and B when some flagged exception is unmasked. */
static void update_summary(X86CPU *cpu)
{
    if (cpu->fpus & ~cpu->fpuc & FPUS_EXC) {
        cpu->fpus |= FPUS_ES | FPUS_B;
    } else {
        cpu->fpus &= ~(FPUS_ES | FPUS_B);
    }
}

/* Stack overflow (push onto a full register) or underflow (an operand is
 * empty): IE and SF, C1 telling which (SDM vol. 1 8.5.1.1). */
static void stack_fault(X86CPU *cpu, bool overflow)
{
    cpu->fpus &= ~FPUS_C1;
    cpu->fpus |= FPUS_IE | FPUS_SF | (overflow ? FPUS_C1 : 0);
    update_summary(cpu);
}

/*
 * Folds the host's status word of an operation into the guest's: the
 * exception flags, and C1 (rounded up) when keep_c1 is false. Returns
 * whether the destination may be written: not when an unmasked invalid,
 * denormal or divide-by-zero exception occurred, or for stores
 * (is_store) an unmasked overflow or underflow.
 */
static bool fold_flags(X86CPU *cpu, uint16_t sw, bool is_store)
{
    uint16_t exc = sw & FPUS_EXC;
    uint16_t unmasked = exc & ~cpu->fpuc & FPUS_EXC;
    uint16_t fatal = FPUS_IE | FPUS_DE | FPUS_ZE;

    cpu->fpus = (cpu->fpus & ~FPUS_C1) | (sw & FPUS_C1) | exc;
    if (is_store) {
        fatal |= FPUS_OE | FPUS_UE;
    }
    if (unmasked) {
        cpu->fpus |= FPUS_ES | FPUS_B;
    }
    return !(unmasked & fatal);
}

/* Pushes v; on overflow the masked response pushes the indefinite. */
static void fp_push(X86CPU *cpu, long double v)
{
    if (!st_empty(cpu, -1)) {
        stack_fault(cpu, true);
        if (!ie_masked(cpu)) {
            return;
        }
        fp_push_slot(cpu);
        st_set_indef(cpu, 0);
        return;
    }
    cpu->fpus &= ~FPUS_C1;
    fp_push_slot(cpu);
    st_set(cpu, 0, v);
}

static void fp_push_raw(X86CPU *cpu, uint64_t mant, uint16_t exp)
{
    if (!st_empty(cpu, -1)) {
        stack_fault(cpu, true);
        if (ie_masked(cpu)) {
            fp_push_slot(cpu);
            st_set_indef(cpu, 0);
        }
        return;
    }
    cpu->fpus &= ~FPUS_C1;
    fp_push_slot(cpu);
    st_set_raw(cpu, 0, mant, exp);
}

uint16_t x87_status(X86CPU *cpu)
{
    return (cpu->fpus & ~FPUS_TOP) | ((cpu->fpstt & 7) << 11);
}

void x87_set_status(X86CPU *cpu, uint16_t sw)
{
    cpu->fpus = sw & ~FPUS_TOP;
    cpu->fpstt = (sw >> 11) & 7;
}

/* Tag of a non-empty register: 0 valid, 1 zero, 2 special. */
static int reg_class_tag(const FPReg *r)
{
    uint16_t exp = r->raw.exp & 0x7fff;

    if (exp == 0x7fff) {
        return 2;
    }
    if (exp == 0) {
        return r->raw.mant ? 2 : 1;
    }
    return (r->raw.mant >> 63) ? 0 : 2;
}

uint16_t x87_tag_word(X86CPU *cpu)
{
    uint16_t tw = 0;

    for (int i = 0; i < 8; i++) {
        int t = (cpu->fptags >> i) & 1 ? 3 : reg_class_tag(&cpu->fpregs[i]);
        tw |= t << (2 * i);
    }
    return tw;
}

void x87_check_pending(X86CPU *cpu)
{
    if ((cpu->fpus & FPUS_ES) && (cpu->cr0 & CR0_NE)) {
        x86_raise_exception(cpu, EXCP_MF);
    }
}

void x87_reset(X86CPU *cpu)
{
    cpu->fpuc = 0x37f;
    cpu->fpus = 0;
    cpu->fpstt = 0;
    cpu->fptags = 0xff;
    cpu->fpop = 0;
    cpu->fpip = 0;
    cpu->fpdp = 0;
}

/* ---------------------------------------------------------------------
 * Conversions
 * ------------------------------------------------------------------- */

static bool is_nan_raw(const FPReg *r)
{
    return (r->raw.exp & 0x7fff) == 0x7fff &&
           (r->raw.mant & 0x7fffffffffffffffull);
}

/* fbld: 18 packed BCD digits and a sign byte. */
static long double bcd_to_ld(const uint8_t *b)
{
    int64_t v = 0;

    for (int i = 8; i >= 0; i--) {
        v = v * 100 + (b[i] >> 4) * 10 + (b[i] & 15);
    }
    return (b[9] & 0x80) ? -(long double)v : (long double)v;
}

/* fbstp: rounds by RC; IE and the BCD indefinite when out of range. */
static bool ld_to_bcd(X86CPU *cpu, long double a, uint8_t *b)
{
    FPReg r = { .d = a };
    uint16_t sw;
    long double i;

    memset(b, 0, 10);
    if (!is_nan_raw(&r) && (r.raw.exp & 0x7fff) != 0x7fff) {
        i = host_frndint(a, host_cw(cpu), &sw);
        if (i > -1e18L && i < 1e18L) {
            uint64_t v = (uint64_t)(i < 0 ? -i : i);
            if (!fold_flags(cpu, sw, true)) {
                return false;
            }
            for (int k = 0; k < 9; k++) {
                b[k] = (v % 10) | ((v / 10 % 10) << 4);
                v /= 100;
            }
            b[9] = (r.raw.exp & 0x8000) ? 0x80 : 0;
            return true;
        }
    }
    if (!fold_flags(cpu, FPUS_IE, true)) {
        return false;
    }
    b[7] = 0xc0;
    b[8] = 0xff;
    b[9] = 0xff;
    return true;
}

/* ---------------------------------------------------------------------
 * Arithmetic
 * ------------------------------------------------------------------- */

/* The reg field of D8/DC memory forms and of the D8 register forms. */
enum { OP_ADD, OP_MUL, OP_COM, OP_COMP, OP_SUB, OP_SUBR, OP_DIV, OP_DIVR };

static long double arith(X86CPU *cpu, int op, long double a, long double b,
                         uint16_t *sw)
{
    uint16_t cw = host_cw(cpu);

    switch (op) {
    case OP_ADD: return host_add(a, b, cw, sw);
    case OP_MUL: return host_mul(a, b, cw, sw);
    case OP_SUB: return host_sub(a, b, cw, sw);
    case OP_SUBR: return host_sub(b, a, cw, sw);
    case OP_DIV: return host_div(a, b, cw, sw);
    default: return host_div(b, a, cw, sw);
    }
}

/*
 * ST(dst) = ST(dst) op b (b already fetched, with the flags of its
 * conversion in conv_sw); pops afterwards when pop.
 */
static void arith_st(X86CPU *cpu, int op, int dst, long double b,
                     uint16_t conv_sw, bool pop)
{
    uint16_t sw;
    long double r;

    if (st_empty(cpu, dst)) {
        stack_fault(cpu, false);
        if (ie_masked(cpu)) {
            st_set_indef(cpu, dst);
            if (pop) {
                fp_pop(cpu);
            }
        }
        return;
    }
    r = arith(cpu, op, st_get(cpu, dst), b, &sw);
    if (fold_flags(cpu, sw | (conv_sw & FPUS_EXC), false)) {
        st_set(cpu, dst, r);
        if (pop) {
            fp_pop(cpu);
        }
    }
}

/* Register form: ST(dst) = ST(dst) op ST(src). */
static void arith_reg(X86CPU *cpu, int op, int dst, int src, bool pop)
{
    if (st_empty(cpu, src)) {
        stack_fault(cpu, false);
        if (ie_masked(cpu)) {
            st_set_indef(cpu, dst);
            if (pop) {
                fp_pop(cpu);
            }
        }
        return;
    }
    arith_st(cpu, op, dst, st_get(cpu, src), 0, pop);
}

/*
 * Compares ST(0) with b: returns ZF/PF/CF (all three when unordered) or
 * -1 when an unmasked invalid exception leaves the flags alone.
 */
static int compare(X86CPU *cpu, long double b, bool b_empty, bool quiet,
                   uint16_t conv_sw)
{
    uint16_t sw;
    uint32_t f;

    if (st_empty(cpu, 0) || b_empty) {
        stack_fault(cpu, false);
        return ie_masked(cpu) ? CC_Z | CC_P | CC_C : -1;
    }
    f = host_fcomi(st_get(cpu, 0), b, quiet, host_cw(cpu), &sw);
    if (!fold_flags(cpu, (sw | conv_sw) & FPUS_EXC, false)) {
        return -1;
    }
    return f;
}

/* fcom family: C3/C2/C0 from ZF/PF/CF, C1 cleared. */
static void compare_to_cc(X86CPU *cpu, int f)
{
    if (f < 0) {
        return;
    }
    cpu->fpus &= ~FPUS_CC;
    cpu->fpus |= (f & CC_Z ? FPUS_C3 : 0) | (f & CC_P ? FPUS_C2 : 0) |
                 (f & CC_C ? FPUS_C0 : 0);
}

/* fcomi family: ZF/PF/CF, with OF, SF and AF cleared. */
static void compare_to_eflags(X86CPU *cpu, int f)
{
    if (f < 0) {
        return;
    }
    cpu->fpus &= ~FPUS_C1;
    x86_set_eflags(cpu, f, CC_ALL);
}

/* fxam (SDM vol. 2): the class of ST(0) in C3, C2, C0 and its sign in C1. */
static void fxam(X86CPU *cpu)
{
    const FPReg *r = &cpu->fpregs[st_phys(cpu, 0)];
    uint16_t exp = r->raw.exp & 0x7fff;
    uint64_t mant = r->raw.mant;
    uint16_t cc;

    if (st_empty(cpu, 0)) {
        cc = FPUS_C3 | FPUS_C0;
    } else if (exp == 0x7fff) {
        if (!(mant >> 63)) {
            cc = 0;                             /* unsupported */
        } else if (mant << 1) {
            cc = FPUS_C0;                       /* NaN */
        } else {
            cc = FPUS_C2 | FPUS_C0;             /* infinity */
        }
    } else if (exp == 0) {
        cc = mant ? FPUS_C3 | FPUS_C2 : FPUS_C3;  /* denormal : zero */
    } else {
        cc = (mant >> 63) ? FPUS_C2 : 0;        /* normal : unnormal */
    }
    if (r->raw.exp & 0x8000) {
        cc |= FPUS_C1;
    }
    cpu->fpus = (cpu->fpus & ~FPUS_CC) | cc;
}

/* fsin/fcos/fsincos/fptan: |x| >= 2^63 leaves ST(0) alone with C2 set. */
static bool trig_in_range(X86CPU *cpu, long double a)
{
    FPReg r = { .d = a };

    if ((r.raw.exp & 0x7fff) >= 0x3fff + 63 &&
        (r.raw.exp & 0x7fff) != 0x7fff) {
        cpu->fpus |= FPUS_C2;
        return false;
    }
    cpu->fpus &= ~FPUS_C2;
    return true;
}


/* D9 E0..FF: the instructions on ST(0) (and ST(1)) without operands. */
static void exec_d9_misc(X86CPU *cpu, uint8_t modrm)
{
    uint16_t cw = host_cw(cpu), sw;
    long double a, b = 0, r, below;
    bool two;

    switch (modrm) {
    case 0xe8 ... 0xee:                         /* fld1 .. fldz */
        fp_push(cpu, host_const(modrm - 0xe8, cw));
        return;
    case 0xe5:
        fxam(cpu);
        return;
    case 0xf6:                                  /* fdecstp */
        cpu->fpstt = (cpu->fpstt - 1) & 7;
        cpu->fpus &= ~FPUS_C1;
        return;
    case 0xf7:                                  /* fincstp */
        cpu->fpstt = (cpu->fpstt + 1) & 7;
        cpu->fpus &= ~FPUS_C1;
        return;
    }

    two = modrm == 0xf1 || modrm == 0xf3 || modrm == 0xf5 ||
          modrm == 0xf8 || modrm == 0xf9 || modrm == 0xfd;
    if (st_empty(cpu, 0) || (two && st_empty(cpu, 1))) {
        stack_fault(cpu, false);
        if (!ie_masked(cpu)) {
            return;
        }
        switch (modrm) {
        case 0xf1: case 0xf3: case 0xf9:        /* results in ST(1), pop */
            st_set_indef(cpu, 1);
            fp_pop(cpu);
            break;
        case 0xf2: case 0xf4: case 0xfb:        /* two results */
            st_set_indef(cpu, 0);
            fp_push_raw(cpu, FP_INDEF_MANT, FP_INDEF_EXP);
            break;
        case 0xe4:                              /* ftst: unordered */
            cpu->fpus |= FPUS_C3 | FPUS_C2 | FPUS_C0;
            break;
        default:
            st_set_indef(cpu, 0);
            break;
        }
        return;
    }
    a = st_get(cpu, 0);
    if (two) {
        b = st_get(cpu, 1);
    }

    switch (modrm) {
    case 0xe0:                                  /* fchs */
        cpu->fpregs[st_phys(cpu, 0)].raw.exp ^= 0x8000;
        cpu->fpus &= ~FPUS_C1;
        return;
    case 0xe1:                                  /* fabs */
        cpu->fpregs[st_phys(cpu, 0)].raw.exp &= 0x7fff;
        cpu->fpus &= ~FPUS_C1;
        return;
    case 0xe4:                                  /* ftst */
        sw = host_ftst(a, cw);
        if (fold_flags(cpu, sw & FPUS_EXC, false)) {
            cpu->fpus = (cpu->fpus & ~FPUS_CC) |
                        (sw & (FPUS_C0 | FPUS_C2 | FPUS_C3));
        }
        return;
    case 0xf1:                                  /* fyl2x */
    case 0xf3:                                  /* fpatan */
    case 0xf9:                                  /* fyl2xp1 */
        r = modrm == 0xf1 ? host_fyl2x(a, b, cw, &sw)
          : modrm == 0xf3 ? host_fpatan(a, b, cw, &sw)
          : host_fyl2xp1(a, b, cw, &sw);
        if (fold_flags(cpu, sw, false)) {
            st_set(cpu, 1, r);
            fp_pop(cpu);
        }
        return;
    case 0xf2:                                  /* fptan */
    case 0xfb:                                  /* fsincos */
    case 0xf4:                                  /* fxtract */
        if (modrm != 0xf4 && !trig_in_range(cpu, a)) {
            return;
        }
        if (!st_empty(cpu, -1)) {
            stack_fault(cpu, true);
            if (ie_masked(cpu)) {
                st_set_indef(cpu, 0);
                fp_push_slot(cpu);
                st_set_indef(cpu, 0);
            }
            return;
        }
        r = modrm == 0xf2 ? host_fptan(a, &below, cw, &sw)
          : modrm == 0xfb ? host_fsincos(a, &below, cw, &sw)
          : host_fxtract(a, &below, cw, &sw);
        if (fold_flags(cpu, sw, false)) {
            st_set(cpu, 0, below);
            fp_push_slot(cpu);
            st_set(cpu, 0, r);
        }
        return;
    case 0xf5:                                  /* fprem1 */
    case 0xf8:                                  /* fprem */
        r = modrm == 0xf5 ? host_fprem1(a, b, cw, &sw)
                          : host_fprem(a, b, cw, &sw);
        if (fold_flags(cpu, sw, false)) {
            st_set(cpu, 0, r);
            cpu->fpus = (cpu->fpus & ~FPUS_CC) | (sw & FPUS_CC);
        }
        return;
    case 0xf0:
        r = host_f2xm1(a, cw, &sw);
        break;
    case 0xfa:
        r = host_sqrt(a, cw, &sw);
        break;
    case 0xfc:
        r = host_frndint(a, cw, &sw);
        break;
    case 0xfd:
        r = host_fscale(a, b, cw, &sw);
        break;
    case 0xfe:
    case 0xff:
        if (!trig_in_range(cpu, a)) {
            return;
        }
        r = modrm == 0xfe ? host_fsin(a, cw, &sw) : host_fcos(a, cw, &sw);
        break;
    default:
        x86_raise_exception(cpu, EXCP_UD);
    }
    if (fold_flags(cpu, sw, false)) {
        st_set(cpu, 0, r);
    }
}

/* ---------------------------------------------------------------------
 * Memory operands
 * ------------------------------------------------------------------- */

/* fld m32/m64/m80. */
static void fld_mem(X86CPU *cpu, uint64_t lin, int size)
{
    uint16_t sw = 0;
    long double v;

    if (size == 10) {
        uint8_t buf[10];
        uint64_t mant;
        uint16_t exp;

        x86_read(cpu, lin, buf, 10);
        memcpy(&mant, buf, 8);
        memcpy(&exp, buf + 8, 2);
        fp_push_raw(cpu, mant, exp);
        return;
    }
    if (size == 4) {
        v = host_ld32(x86_ld(cpu, lin, 4), host_cw(cpu), &sw);
    } else {
        v = host_ld64(x86_ld(cpu, lin, 8), host_cw(cpu), &sw);
    }
    if (!st_empty(cpu, -1)) {
        fp_push(cpu, v);                        /* the overflow response */
        return;
    }
    if (fold_flags(cpu, sw & FPUS_EXC, false)) {
        fp_push(cpu, v);
    }
}

/* fst/fstp m32/m64/m80. */
static void fst_mem(X86CPU *cpu, uint64_t lin, int size, bool pop)
{
    uint16_t sw;
    long double a;

    if (st_empty(cpu, 0)) {
        stack_fault(cpu, false);
        if (!ie_masked(cpu)) {
            return;
        }
        if (size == 4) {
            x86_st(cpu, lin, 4, 0xffc00000u);
        } else if (size == 8) {
            x86_st(cpu, lin, 8, 0xfff8000000000000ull);
        } else {
            uint8_t buf[10];
            uint64_t mant = FP_INDEF_MANT;
            uint16_t exp = FP_INDEF_EXP;

            memcpy(buf, &mant, 8);
            memcpy(buf + 8, &exp, 2);
            x86_write(cpu, lin, buf, 10);
        }
    } else if (size == 10) {
        const FPReg *r = &cpu->fpregs[st_phys(cpu, 0)];
        uint8_t buf[10];

        memcpy(buf, &r->raw.mant, 8);
        memcpy(buf + 8, &r->raw.exp, 2);
        x86_write(cpu, lin, buf, 10);
    } else {
        a = st_get(cpu, 0);
        if (size == 4) {
            uint32_t v = host_st32(a, host_cw(cpu), &sw);
            if (!fold_flags(cpu, sw, true)) {
                return;
            }
            x86_st(cpu, lin, 4, v);
        } else {
            uint64_t v = host_st64(a, host_cw(cpu), &sw);
            if (!fold_flags(cpu, sw, true)) {
                return;
            }
            x86_st(cpu, lin, 8, v);
        }
    }
    if (pop) {
        fp_pop(cpu);
    }
}

/* fist/fistp/fisttp of 2, 4 or 8 bytes. */
static void fist_mem(X86CPU *cpu, uint64_t lin, int size, bool pop,
                     bool truncate)
{
    uint16_t sw, cw = host_cw(cpu);
    uint64_t v;

    if (st_empty(cpu, 0)) {
        stack_fault(cpu, false);
        if (!ie_masked(cpu)) {
            return;
        }
        v = 1ull << (size * 8 - 1);
    } else {
        if (truncate) {
            cw |= FPUC_RC;
        }
        v = host_fist(st_get(cpu, 0), size, cw, &sw);
        if (!fold_flags(cpu, sw, true)) {
            return;
        }
    }
    x86_st(cpu, lin, size, v);
    if (pop) {
        fp_pop(cpu);
    }
}

static void fild_mem(X86CPU *cpu, uint64_t lin, int size)
{
    uint64_t v = x86_ld(cpu, lin, size);

    switch (size) {
    case 2: fp_push(cpu, (long double)(int16_t)v); break;
    case 4: fp_push(cpu, (long double)(int32_t)v); break;
    default: fp_push(cpu, (long double)(int64_t)v); break;
    }
}

static void fbld_mem(X86CPU *cpu, uint64_t lin)
{
    uint8_t buf[10];

    x86_read(cpu, lin, buf, 10);
    fp_push(cpu, bcd_to_ld(buf));
}

static void fbstp_mem(X86CPU *cpu, uint64_t lin)
{
    uint8_t buf[10];

    if (st_empty(cpu, 0)) {
        stack_fault(cpu, false);
        if (!ie_masked(cpu)) {
            return;
        }
        memset(buf, 0, 10);
        buf[7] = 0xc0;
        buf[8] = buf[9] = 0xff;
    } else if (!ld_to_bcd(cpu, st_get(cpu, 0), buf)) {
        return;
    }
    x86_write(cpu, lin, buf, 10);
    fp_pop(cpu);
}

/* D8/DA/DC/DE memory forms: arithmetic and fcom/fcomp with operand b. */
static void arith_mem(X86CPU *cpu, int op, long double b, uint16_t conv_sw)
{
    if (op == OP_COM || op == OP_COMP) {
        int f = compare(cpu, b, false, false, conv_sw & FPUS_EXC);
        compare_to_cc(cpu, f);
        if (op == OP_COMP && (f >= 0)) {
            fp_pop(cpu);
        }
        return;
    }
    arith_st(cpu, op, 0, b, conv_sw, false);
}

/* ---------------------------------------------------------------------
 * Environment: fstenv/fldenv/fsave/frstor (SDM vol. 1 8.1.10, figures
 * 8-9 to 8-12)
 * ------------------------------------------------------------------- */

static bool real_layout(X86CPU *cpu)
{
    return !(cpu->cr0 & CR0_PE) || (cpu->eflags & VM_MASK);
}

/* Fills the 14- or 28-byte environment; returns its size. */
static int env_store(X86CPU *cpu, uint8_t *buf, bool size32)
{
    uint16_t cw = cpu->fpuc, sw = x87_status(cpu), tw = x87_tag_word(cpu);
    uint32_t ip = cpu->fpip, dp = cpu->fpdp;
    uint32_t w[7];

    if (!size32) {
        uint16_t h[7] = { cw, sw, tw };

        if (real_layout(cpu)) {
            h[3] = ip;
            h[4] = ((ip >> 4) & 0xf000) | (cpu->fpop & 0x7ff);
            h[5] = dp;
            h[6] = (dp >> 4) & 0xf000;
        } else {
            h[3] = ip;
            h[4] = 0;
            h[5] = dp;
            h[6] = 0;
        }
        memcpy(buf, h, 14);
        return 14;
    }
    w[0] = 0xffff0000u | cw;
    w[1] = 0xffff0000u | sw;
    w[2] = 0xffff0000u | tw;
    if (real_layout(cpu)) {
        w[3] = 0xffff0000u | (ip & 0xffff);
        w[4] = ((ip >> 4) & 0x0ffff000u) | (cpu->fpop & 0x7ff);
        w[5] = 0xffff0000u | (dp & 0xffff);
        w[6] = (dp >> 4) & 0x0ffff000u;
    } else {
        w[3] = ip;
        w[4] = (uint32_t)(cpu->fpop & 0x7ff) << 16;
        w[5] = dp;
        w[6] = 0;
    }
    memcpy(buf, w, 28);
    return 28;
}

static int env_load(X86CPU *cpu, const uint8_t *buf, bool size32)
{
    uint16_t cw, sw, tw;

    if (!size32) {
        uint16_t h[7];

        memcpy(h, buf, 14);
        cw = h[0];
        sw = h[1];
        tw = h[2];
        if (real_layout(cpu)) {
            cpu->fpip = h[3] | ((uint32_t)(h[4] & 0xf000) << 4);
            cpu->fpop = h[4] & 0x7ff;
            cpu->fpdp = h[5] | ((uint32_t)(h[6] & 0xf000) << 4);
        } else {
            cpu->fpip = h[3];
            cpu->fpdp = h[5];
        }
    } else {
        uint32_t w[7];

        memcpy(w, buf, 28);
        cw = w[0];
        sw = w[1];
        tw = w[2];
        if (real_layout(cpu)) {
            cpu->fpip = (w[3] & 0xffff) | ((w[4] & 0x0ffff000u) << 4);
            cpu->fpop = w[4] & 0x7ff;
            cpu->fpdp = (w[5] & 0xffff) | ((w[6] & 0x0ffff000u) << 4);
        } else {
            cpu->fpip = w[3];
            cpu->fpop = (w[4] >> 16) & 0x7ff;
            cpu->fpdp = w[5];
        }
    }
    cpu->fpuc = cw;
    x87_set_status(cpu, sw);
    cpu->fptags = 0;
    for (int i = 0; i < 8; i++) {
        if (((tw >> (2 * i)) & 3) == 3) {
            cpu->fptags |= 1u << i;
        }
    }
    update_summary(cpu);
    return size32 ? 28 : 14;
}

static void fnstenv(X86CPU *cpu, uint64_t lin, bool size32)
{
    uint8_t buf[28];
    int n = env_store(cpu, buf, size32);

    x86_write(cpu, lin, buf, n);
    cpu->fpuc |= FPUC_EXC_MASK;
    update_summary(cpu);
}

static void fldenv(X86CPU *cpu, uint64_t lin, bool size32)
{
    uint8_t buf[28];

    x86_read(cpu, lin, buf, size32 ? 28 : 14);
    env_load(cpu, buf, size32);
}

static void fnsave(X86CPU *cpu, uint64_t lin, bool size32)
{
    uint8_t buf[28 + 80];
    int n = env_store(cpu, buf, size32);

    for (int i = 0; i < 8; i++) {
        const FPReg *r = &cpu->fpregs[st_phys(cpu, i)];
        memcpy(buf + n + 10 * i, &r->raw.mant, 8);
        memcpy(buf + n + 10 * i + 8, &r->raw.exp, 2);
    }
    x86_write(cpu, lin, buf, n + 80);
    x87_reset(cpu);
}

static void frstor(X86CPU *cpu, uint64_t lin, bool size32)
{
    uint8_t buf[28 + 80];
    int n = size32 ? 28 : 14;

    x86_read(cpu, lin, buf, n + 80);
    env_load(cpu, buf, size32);
    for (int i = 0; i < 8; i++) {
        FPReg *r = &cpu->fpregs[st_phys(cpu, i)];
        memcpy(&r->raw.mant, buf + n + 10 * i, 8);
        memcpy(&r->raw.exp, buf + n + 10 * i + 8, 2);
    }
}

/* ---------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------- */

/* Control instructions: no #MF check, and the last-instruction pointers
 * keep describing the previous instruction (SDM vol. 1 8.1.8). */
static bool is_control(int op, const X86Insn *insn)
{
    int reg = insn->reg & 7;

    if (insn->mod != 3) {
        return (op == 0xd9 && reg >= 4) ||
               (op == 0xdd && (reg == 4 || reg == 6 || reg == 7));
    }
    if (op == 0xdb) {
        int m = 0xc0 | (reg << 3) | (insn->rm & 7);
        return m >= 0xe0 && m <= 0xe4;
    }
    return op == 0xdf && reg == 4 && (insn->rm & 7) == 0;
}

static void exec_mem(X86CPU *cpu, const X86Insn *insn, int op, int reg)
{
    uint64_t lin = x86_insn_linear(cpu, insn);
    bool size32 = insn->opsize != 2;
    uint16_t sw;
    long double v;

    switch (op) {
    case 0xd8:
        v = host_ld32(x86_ld(cpu, lin, 4), host_cw(cpu), &sw);
        arith_mem(cpu, reg, v, sw);
        return;
    case 0xdc:
        v = host_ld64(x86_ld(cpu, lin, 8), host_cw(cpu), &sw);
        arith_mem(cpu, reg, v, sw);
        return;
    case 0xda:
        arith_mem(cpu, reg, (int32_t)x86_ld(cpu, lin, 4), 0);
        return;
    case 0xde:
        arith_mem(cpu, reg, (int16_t)x86_ld(cpu, lin, 2), 0);
        return;
    case 0xd9:
        switch (reg) {
        case 0: fld_mem(cpu, lin, 4); return;
        case 2: fst_mem(cpu, lin, 4, false); return;
        case 3: fst_mem(cpu, lin, 4, true); return;
        case 4: fldenv(cpu, lin, size32); return;
        case 5:
            cpu->fpuc = x86_ld(cpu, lin, 2);
            update_summary(cpu);
            return;
        case 6: fnstenv(cpu, lin, size32); return;
        case 7: x86_st(cpu, lin, 2, cpu->fpuc); return;
        }
        break;
    case 0xdb:
        switch (reg) {
        case 0: fild_mem(cpu, lin, 4); return;
        case 1: fist_mem(cpu, lin, 4, true, true); return;
        case 2: fist_mem(cpu, lin, 4, false, false); return;
        case 3: fist_mem(cpu, lin, 4, true, false); return;
        case 5: fld_mem(cpu, lin, 10); return;
        case 7: fst_mem(cpu, lin, 10, true); return;
        }
        break;
    case 0xdd:
        switch (reg) {
        case 0: fld_mem(cpu, lin, 8); return;
        case 1: fist_mem(cpu, lin, 8, true, true); return;
        case 2: fst_mem(cpu, lin, 8, false); return;
        case 3: fst_mem(cpu, lin, 8, true); return;
        case 4: frstor(cpu, lin, size32); return;
        case 6: fnsave(cpu, lin, size32); return;
        case 7: x86_st(cpu, lin, 2, x87_status(cpu)); return;
        }
        break;
    case 0xdf:
        switch (reg) {
        case 0: fild_mem(cpu, lin, 2); return;
        case 1: fist_mem(cpu, lin, 2, true, true); return;
        case 2: fist_mem(cpu, lin, 2, false, false); return;
        case 3: fist_mem(cpu, lin, 2, true, false); return;
        case 4: fbld_mem(cpu, lin); return;
        case 5: fild_mem(cpu, lin, 8); return;
        case 6: fbstp_mem(cpu, lin); return;
        case 7: fist_mem(cpu, lin, 8, true, false); return;
        }
        break;
    }
    x86_raise_exception(cpu, EXCP_UD);
}

/* fld st(i). */
static void fld_st(X86CPU *cpu, int i)
{
    if (st_empty(cpu, i)) {
        stack_fault(cpu, false);
        if (ie_masked(cpu)) {
            fp_push_raw(cpu, FP_INDEF_MANT, FP_INDEF_EXP);
        }
        return;
    }
    FPReg r = cpu->fpregs[st_phys(cpu, i)];
    fp_push_raw(cpu, r.raw.mant, r.raw.exp);
}

static void fxch(X86CPU *cpu, int i)
{
    int p0 = st_phys(cpu, 0), pi = st_phys(cpu, i);
    FPReg t;

    if (st_empty(cpu, 0) || st_empty(cpu, i)) {
        stack_fault(cpu, false);
        if (!ie_masked(cpu)) {
            return;
        }
        if (st_empty(cpu, 0)) {
            st_set_indef(cpu, 0);
        }
        if (st_empty(cpu, i)) {
            st_set_indef(cpu, i);
        }
    }
    t = cpu->fpregs[p0];
    cpu->fpregs[p0] = cpu->fpregs[pi];
    cpu->fpregs[pi] = t;
    cpu->fpus &= ~FPUS_C1;
}

/* fst/fstp st(i). */
static void fst_st(X86CPU *cpu, int i, bool pop)
{
    if (st_empty(cpu, 0)) {
        stack_fault(cpu, false);
        if (!ie_masked(cpu)) {
            return;
        }
        st_set_indef(cpu, i);
    } else {
        FPReg r = cpu->fpregs[st_phys(cpu, 0)];
        st_set_raw(cpu, i, r.raw.mant, r.raw.exp);
        cpu->fpus &= ~FPUS_C1;
    }
    if (pop) {
        fp_pop(cpu);
    }
}

static void fcmov(X86CPU *cpu, int i, int cc)
{
    if (st_empty(cpu, 0) || st_empty(cpu, i)) {
        stack_fault(cpu, false);
        if (ie_masked(cpu)) {
            st_set_indef(cpu, 0);
        }
        return;
    }
    cpu->fpus &= ~FPUS_C1;
    if (x86_condition(cpu, cc)) {
        FPReg r = cpu->fpregs[st_phys(cpu, i)];
        st_set_raw(cpu, 0, r.raw.mant, r.raw.exp);
    }
}

/* fcom/fucom st(i) with npop pops afterwards. */
static void fcom_st(X86CPU *cpu, int i, bool quiet, int npop)
{
    int f = compare(cpu, st_empty(cpu, i) ? 0 : st_get(cpu, i),
                    st_empty(cpu, i), quiet, 0);

    compare_to_cc(cpu, f);
    if (f >= 0) {
        while (npop--) {
            fp_pop(cpu);
        }
    }
}

static void fcomi_st(X86CPU *cpu, int i, bool quiet, bool pop)
{
    int f = compare(cpu, st_empty(cpu, i) ? 0 : st_get(cpu, i),
                    st_empty(cpu, i), quiet, 0);

    compare_to_eflags(cpu, f);
    if (f >= 0 && pop) {
        fp_pop(cpu);
    }
}

/* The DC/DE register forms have sub/subr and div/divr the other way. */
static int reversed(int op)
{
    return op >= OP_SUB ? op ^ 1 : op;
}

static void exec_reg(X86CPU *cpu, int op, int reg, int i)
{
    uint8_t modrm = 0xc0 | (reg << 3) | i;

    switch (op) {
    case 0xd8:
        if (reg == OP_COM || reg == OP_COMP) {
            fcom_st(cpu, i, false, reg == OP_COMP);
        } else {
            arith_reg(cpu, reg, 0, i, false);
        }
        return;
    case 0xdc:
        if (reg == OP_COM || reg == OP_COMP) {      /* undocumented aliases */
            fcom_st(cpu, i, false, reg == OP_COMP);
        } else {
            arith_reg(cpu, reversed(reg), i, 0, false);
        }
        return;
    case 0xde:
        if (reg == OP_COM) {                        /* fcomp5 alias */
            fcom_st(cpu, i, false, 1);
        } else if (reg == OP_COMP) {
            if (i != 1) {
                break;
            }
            fcom_st(cpu, 1, false, 2);              /* fcompp */
        } else {
            arith_reg(cpu, reversed(reg), i, 0, true);
        }
        return;
    case 0xd9:
        switch (reg) {
        case 0: fld_st(cpu, i); return;
        case 1: fxch(cpu, i); return;
        case 2:
            if (i != 0) {
                break;
            }
            return;                                 /* fnop */
        case 3: fst_st(cpu, i, true); return;       /* fstp1 alias */
        default: exec_d9_misc(cpu, modrm); return;
        }
        break;
    case 0xda:
        switch (reg) {
        case 0: fcmov(cpu, i, 2); return;           /* fcmovb: CF */
        case 1: fcmov(cpu, i, 4); return;           /* fcmove: ZF */
        case 2: fcmov(cpu, i, 6); return;           /* fcmovbe */
        case 3: fcmov(cpu, i, 10); return;          /* fcmovu: PF */
        case 5:
            if (i != 1) {
                break;
            }
            fcom_st(cpu, 1, true, 2);               /* fucompp */
            return;
        }
        break;
    case 0xdb:
        switch (reg) {
        case 0: fcmov(cpu, i, 3); return;
        case 1: fcmov(cpu, i, 5); return;
        case 2: fcmov(cpu, i, 7); return;
        case 3: fcmov(cpu, i, 11); return;
        case 4:
            switch (i) {
            case 0: case 1: case 4:                 /* feni, fdisi, fsetpm */
                return;
            case 2:                                 /* fnclex */
                cpu->fpus &= ~(FPUS_EXC | FPUS_SF | FPUS_ES | FPUS_B);
                return;
            case 3:
                x87_reset(cpu);
                return;
            }
            break;
        case 5: fcomi_st(cpu, i, true, false); return;
        case 6: fcomi_st(cpu, i, false, false); return;
        }
        break;
    case 0xdd:
        switch (reg) {
        case 0:                                     /* ffree */
            cpu->fptags |= 1u << st_phys(cpu, i);
            return;
        case 1: fxch(cpu, i); return;
        case 2: fst_st(cpu, i, false); return;
        case 3: fst_st(cpu, i, true); return;
        case 4: fcom_st(cpu, i, true, 0); return;
        case 5: fcom_st(cpu, i, true, 1); return;
        }
        break;
    case 0xdf:
        switch (reg) {
        case 0:                                     /* ffreep */
            cpu->fptags |= 1u << st_phys(cpu, i);
            fp_pop(cpu);
            return;
        case 1: fxch(cpu, i); return;
        case 2: case 3: fst_st(cpu, i, true); return;
        case 4:
            if (i != 0) {
                break;
            }
            x86_reg_write(cpu, R_EAX, 2, false, x87_status(cpu));
            return;
        case 5: fcomi_st(cpu, i, true, true); return;
        case 6: fcomi_st(cpu, i, false, true); return;
        }
        break;
    }
    x86_raise_exception(cpu, EXCP_UD);
}

void x86_exec_x87(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;
    int reg = insn->reg & 7;

    if (op == 0x9b) {                               /* fwait */
        if ((cpu->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) {
            x86_raise_exception(cpu, EXCP_NM);
        }
        x87_check_pending(cpu);
        return;
    }
    if (cpu->cr0 & (CR0_EM | CR0_TS)) {
        x86_raise_exception(cpu, EXCP_NM);
    }
    if (!is_control(op, insn)) {
        x87_check_pending(cpu);
        cpu->fpop = ((op & 7) << 8) | (insn->mod << 6) | (reg << 3) |
                    (insn->rm & 7);
        cpu->fpip = cpu->rip;
        if (insn->mod != 3) {
            cpu->fpdp = x86_insn_ea(cpu, insn);
        }
    }
    if (insn->mod != 3) {
        exec_mem(cpu, insn, op, reg);
    } else {
        exec_reg(cpu, op, reg, insn->rm & 7);
    }
}
