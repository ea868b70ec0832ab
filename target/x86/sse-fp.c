/*
 * SSE..SSE4.1 floating point (Intel SDM vol. 1 chapter 10-11, vol. 2):
 * arithmetic, comparisons, conversions, horizontal ops, round and dot
 * product. Every lane runs as one scalar instruction of the host's
 * SSE/SSE2 unit under the guest's rounding, DAZ and FTZ with all
 * exceptions masked, which gives the guest's results and flags exactly;
 * SSE4.1's round is computed in C. Results are written only after
 * sse_raise_flags, so an unmasked exception leaves the destination alone.
 */
#include "fpu-internal.h"
#include "flags.h"

/* One instruction's host MXCSR and the flags its lanes raised. */
typedef struct FPEnv {
    uint32_t csr;
    uint32_t flags;
} FPEnv;

#define SSE_BEGIN   "stmxcsr %[save]\n\tldmxcsr %[csr]\n\t"
#define SSE_END     "\n\tstmxcsr %[out]\n\tldmxcsr %[save]"
#define SSE_OUT     [save] "=m"(save), [out] "=m"(out)
#define SSE_IN      [csr] "m"(e->csr)

static inline float f32(uint32_t v)
{
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static inline uint32_t u32(float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    return v;
}

static inline double f64(uint64_t v)
{
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static inline uint64_t u64(double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    return v;
}

/* a = a insn b */
#define HOST_BIN(name, type, insn)                                          \
    static type name(FPEnv *e, type a, type b)                             \
    {                                                                       \
        uint32_t save, out;                                                 \
        asm volatile(SSE_BEGIN insn " %[b], %[a]" SSE_END                   \
                     : [a] "+x"(a), SSE_OUT : [b] "x"(b), SSE_IN);          \
        e->flags |= out;                                                    \
        return a;                                                           \
    }

HOST_BIN(h_addss, float, "addss")
HOST_BIN(h_subss, float, "subss")
HOST_BIN(h_mulss, float, "mulss")
HOST_BIN(h_divss, float, "divss")
HOST_BIN(h_minss, float, "minss")
HOST_BIN(h_maxss, float, "maxss")
HOST_BIN(h_sqrtss, float, "sqrtss")
HOST_BIN(h_rcpss, float, "rcpss")
HOST_BIN(h_rsqrtss, float, "rsqrtss")
HOST_BIN(h_addsd, double, "addsd")
HOST_BIN(h_subsd, double, "subsd")
HOST_BIN(h_mulsd, double, "mulsd")
HOST_BIN(h_divsd, double, "divsd")
HOST_BIN(h_minsd, double, "minsd")
HOST_BIN(h_maxsd, double, "maxsd")
HOST_BIN(h_sqrtsd, double, "sqrtsd")

/* r = convert(a) */
#define HOST_CVT(name, rtype, atype, insn, rcons)                           \
    static rtype name(FPEnv *e, atype a)                                    \
    {                                                                       \
        uint32_t save, out;                                                 \
        rtype r;                                                            \
        asm volatile(SSE_BEGIN insn " %[a], %[r]" SSE_END                   \
                     : [r] rcons(r), SSE_OUT : [a] "xm"(a), SSE_IN);        \
        e->flags |= out;                                                    \
        return r;                                                           \
    }

HOST_CVT(h_cvtss2sd, double, float, "cvtss2sd", "=x")
HOST_CVT(h_cvtsd2ss, float, double, "cvtsd2ss", "=x")
HOST_CVT(h_cvtss2si32, uint32_t, float, "cvtss2si", "=r")
HOST_CVT(h_cvtss2si64, uint64_t, float, "cvtss2si", "=r")
HOST_CVT(h_cvttss2si32, uint32_t, float, "cvttss2si", "=r")
HOST_CVT(h_cvttss2si64, uint64_t, float, "cvttss2si", "=r")
HOST_CVT(h_cvtsd2si32, uint32_t, double, "cvtsd2si", "=r")
HOST_CVT(h_cvtsd2si64, uint64_t, double, "cvtsd2si", "=r")
HOST_CVT(h_cvttsd2si32, uint32_t, double, "cvttsd2si", "=r")
HOST_CVT(h_cvttsd2si64, uint64_t, double, "cvttsd2si", "=r")

#define HOST_CVTI(name, rtype, atype, insn)                                 \
    static rtype name(FPEnv *e, atype a)                                    \
    {                                                                       \
        uint32_t save, out;                                                 \
        rtype r;                                                            \
        asm volatile(SSE_BEGIN insn " %[a], %[r]" SSE_END                   \
                     : [r] "=x"(r), SSE_OUT : [a] "r"(a), SSE_IN);          \
        e->flags |= out;                                                    \
        return r;                                                           \
    }

HOST_CVTI(h_cvtsi2ss32, float, uint32_t, "cvtsi2ssl")
HOST_CVTI(h_cvtsi2ss64, float, uint64_t, "cvtsi2ssq")
HOST_CVTI(h_cvtsi2sd64, double, uint64_t, "cvtsi2sdq")

#define CMP_CASE(type, insn, n)                                             \
    case n:                                                                 \
        asm volatile(SSE_BEGIN insn " $" #n ", %[b], %[a]" SSE_END          \
                     : [a] "+x"(a), SSE_OUT : [b] "x"(b), SSE_IN);          \
        break;

/* cmpss/cmpsd predicate 0..7: all ones or zero in the lane. */
static uint32_t h_cmpss(FPEnv *e, float a, float b, int pred)
{
    uint32_t save, out;

    switch (pred & 7) {
    CMP_CASE(float, "cmpss", 0)
    CMP_CASE(float, "cmpss", 1)
    CMP_CASE(float, "cmpss", 2)
    CMP_CASE(float, "cmpss", 3)
    CMP_CASE(float, "cmpss", 4)
    CMP_CASE(float, "cmpss", 5)
    CMP_CASE(float, "cmpss", 6)
    default:
        asm volatile(SSE_BEGIN "cmpss $7, %[b], %[a]" SSE_END
                     : [a] "+x"(a), SSE_OUT : [b] "x"(b), SSE_IN);
        break;
    }
    e->flags |= out;
    return u32(a);
}

static uint64_t h_cmpsd(FPEnv *e, double a, double b, int pred)
{
    uint32_t save, out;

    switch (pred & 7) {
    CMP_CASE(double, "cmpsd", 0)
    CMP_CASE(double, "cmpsd", 1)
    CMP_CASE(double, "cmpsd", 2)
    CMP_CASE(double, "cmpsd", 3)
    CMP_CASE(double, "cmpsd", 4)
    CMP_CASE(double, "cmpsd", 5)
    CMP_CASE(double, "cmpsd", 6)
    default:
        asm volatile(SSE_BEGIN "cmpsd $7, %[b], %[a]" SSE_END
                     : [a] "+x"(a), SSE_OUT : [b] "x"(b), SSE_IN);
        break;
    }
    e->flags |= out;
    return u64(a);
}

/* comiss/ucomiss/comisd/ucomisd: ZF, PF, CF as the instruction sets. */
#define HOST_COMI(name, type, insn)                                         \
    static uint32_t name(FPEnv *e, type a, type b)                         \
    {                                                                       \
        uint32_t save, out;                                                 \
        uint8_t z, p, c;                                                    \
        asm volatile(SSE_BEGIN insn " %[b], %[a]\n\t"                      \
                     "setz %[z]\n\tsetp %[p]\n\tsetc %[c]" SSE_END          \
                     : [z] "=qm"(z), [p] "=qm"(p), [c] "=qm"(c), SSE_OUT    \
                     : [a] "x"(a), [b] "x"(b), SSE_IN : "cc");              \
        e->flags |= out;                                                    \
        return (z ? CC_Z : 0) | (p ? CC_P : 0) | (c ? CC_C : 0);            \
    }

HOST_COMI(h_comiss, float, "comiss")
HOST_COMI(h_ucomiss, float, "ucomiss")
HOST_COMI(h_comisd, double, "comisd")
HOST_COMI(h_ucomisd, double, "ucomisd")

/* The arithmetic of opcode op (0F 51..5F) on one lane. */
static uint32_t lane_f32(FPEnv *e, int op, uint32_t a, uint32_t b)
{
    switch (op) {
    case 0x51: return u32(h_sqrtss(e, f32(a), f32(b)));
    case 0x52: return u32(h_rsqrtss(e, f32(a), f32(b)));
    case 0x53: return u32(h_rcpss(e, f32(a), f32(b)));
    case 0x58: return u32(h_addss(e, f32(a), f32(b)));
    case 0x59: return u32(h_mulss(e, f32(a), f32(b)));
    case 0x5c: return u32(h_subss(e, f32(a), f32(b)));
    case 0x5d: return u32(h_minss(e, f32(a), f32(b)));
    case 0x5e: return u32(h_divss(e, f32(a), f32(b)));
    default: return u32(h_maxss(e, f32(a), f32(b)));
    }
}

static uint64_t lane_f64(FPEnv *e, int op, uint64_t a, uint64_t b)
{
    switch (op) {
    case 0x51: return u64(h_sqrtsd(e, f64(a), f64(b)));
    case 0x58: return u64(h_addsd(e, f64(a), f64(b)));
    case 0x59: return u64(h_mulsd(e, f64(a), f64(b)));
    case 0x5c: return u64(h_subsd(e, f64(a), f64(b)));
    case 0x5d: return u64(h_minsd(e, f64(a), f64(b)));
    case 0x5e: return u64(h_divsd(e, f64(a), f64(b)));
    default: return u64(h_maxsd(e, f64(a), f64(b)));
    }
}

static FPEnv env_of(X86CPU *cpu)
{
    return (FPEnv){ .csr = sse_host_csr(cpu->mxcsr), .flags = 0 };
}

/* Loads the source of a ps/pd/ss/sd form: m128 aligned, or m32/m64. */
static void load_fp_src(X86CPU *cpu, const X86Insn *insn, XMMReg *s)
{
    switch (insn->mandatory) {
    case 0xf3: sse_load_src_low(cpu, insn, s, 4); break;
    case 0xf2: sse_load_src_low(cpu, insn, s, 8); break;
    default: sse_load_src(cpu, insn, s, true); break;
    }
}

/* 0F 51..5F arithmetic and 0F C2 cmp in the four forms. */
static void exec_arith(X86CPU *cpu, const X86Insn *insn, int op)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    FPEnv e = env_of(cpu);
    int pred = insn->imm & 7;

    if ((op == 0x52 || op == 0x53) &&
        (insn->mandatory == 0x66 || insn->mandatory == 0xf2)) {
        x86_raise_exception(cpu, EXCP_UD);  /* no pd/sd forms of rcp/rsqrt */
    }
    sse_prepare(cpu);
    load_fp_src(cpu, insn, &s);
    r = *d;
    switch (insn->mandatory) {
    case 0:
        for (int i = 0; i < 4; i++) {
            r.l[i] = op == 0xc2 ? h_cmpss(&e, f32(d->l[i]), f32(s.l[i]), pred)
                                : lane_f32(&e, op, d->l[i], s.l[i]);
        }
        break;
    case 0xf3:
        r.l[0] = op == 0xc2 ? h_cmpss(&e, f32(d->l[0]), f32(s.l[0]), pred)
                            : lane_f32(&e, op, d->l[0], s.l[0]);
        break;
    case 0x66:
        for (int i = 0; i < 2; i++) {
            r.q[i] = op == 0xc2 ? h_cmpsd(&e, f64(d->q[i]), f64(s.q[i]), pred)
                                : lane_f64(&e, op, d->q[i], s.q[i]);
        }
        break;
    default:
        r.q[0] = op == 0xc2 ? h_cmpsd(&e, f64(d->q[0]), f64(s.q[0]), pred)
                            : lane_f64(&e, op, d->q[0], s.q[0]);
        break;
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}

/* 0F 2E/2F: (u)comiss, (u)comisd. */
static void exec_comis(X86CPU *cpu, const X86Insn *insn, bool quiet)
{
    const XMMReg *d = &cpu->xmm[insn->reg];
    FPEnv e = env_of(cpu);
    uint32_t f;
    XMMReg s;

    if (insn->mandatory != 0 && insn->mandatory != 0x66) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    sse_prepare(cpu);
    if (insn->mandatory == 0) {
        sse_load_src_low(cpu, insn, &s, 4);
        f = quiet ? h_ucomiss(&e, f32(d->l[0]), f32(s.l[0]))
                  : h_comiss(&e, f32(d->l[0]), f32(s.l[0]));
    } else {
        sse_load_src_low(cpu, insn, &s, 8);
        f = quiet ? h_ucomisd(&e, f64(d->q[0]), f64(s.q[0]))
                  : h_comisd(&e, f64(d->q[0]), f64(s.q[0]));
    }
    sse_raise_flags(cpu, e.flags);
    x86_set_eflags(cpu, f, CC_ALL);
}

/* The MMX source of cvtpi2ps/cvtpi2pd: a register switches to MMX state. */
static uint64_t load_mmx_src(X86CPU *cpu, const X86Insn *insn)
{
    if (insn->mod == 3) {
        mmx_prepare(cpu);
        return mmx_get(cpu, insn->rm);
    }
    return x86_ld(cpu, x86_insn_linear(cpu, insn), 8);
}

/* 0F 2A: cvtpi2ps, cvtpi2pd, cvtsi2ss, cvtsi2sd. */
static void exec_cvt_2a(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], r = *d;
    FPEnv e = env_of(cpu);
    int size = (insn->rex & 8) ? 8 : 4;
    uint64_t v;

    sse_prepare(cpu);
    switch (insn->mandatory) {
    case 0:
        v = load_mmx_src(cpu, insn);
        r.l[0] = u32(h_cvtsi2ss32(&e, (uint32_t)v));
        r.l[1] = u32(h_cvtsi2ss32(&e, (uint32_t)(v >> 32)));
        break;
    case 0x66:
        v = load_mmx_src(cpu, insn);
        r.d[0] = (int32_t)v;                /* exact */
        r.d[1] = (int32_t)(v >> 32);
        break;
    default:
        v = insn->mod == 3 ? x86_reg_read(cpu, insn->rm, size, true)
                           : x86_ld(cpu, x86_insn_linear(cpu, insn), size);
        if (insn->mandatory == 0xf3) {
            r.l[0] = u32(size == 8 ? h_cvtsi2ss64(&e, v)
                                   : h_cvtsi2ss32(&e, (uint32_t)v));
        } else if (size == 8) {
            r.q[0] = u64(h_cvtsi2sd64(&e, v));
        } else {
            r.d[0] = (int32_t)v;            /* exact */
        }
        break;
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}

/* 0F 2C/2D: cvt(t)ps2pi, cvt(t)pd2pi, cvt(t)ss2si, cvt(t)sd2si. */
static void exec_cvt_2c(X86CPU *cpu, const X86Insn *insn, bool trunc)
{
    FPEnv e = env_of(cpu);
    int size = (insn->rex & 8) ? 8 : 4;
    uint64_t v;
    uint32_t lo, hi;
    XMMReg s;

    sse_prepare(cpu);
    switch (insn->mandatory) {
    case 0:
    case 0x66:
        if (insn->mandatory == 0) {
            sse_load_src_low(cpu, insn, &s, 8);
            lo = trunc ? h_cvttss2si32(&e, f32(s.l[0]))
                       : h_cvtss2si32(&e, f32(s.l[0]));
            hi = trunc ? h_cvttss2si32(&e, f32(s.l[1]))
                       : h_cvtss2si32(&e, f32(s.l[1]));
        } else {
            sse_load_src(cpu, insn, &s, true);
            lo = trunc ? h_cvttsd2si32(&e, f64(s.q[0]))
                       : h_cvtsd2si32(&e, f64(s.q[0]));
            hi = trunc ? h_cvttsd2si32(&e, f64(s.q[1]))
                       : h_cvtsd2si32(&e, f64(s.q[1]));
        }
        sse_raise_flags(cpu, e.flags);
        mmx_prepare(cpu);
        mmx_set(cpu, insn->reg, lo | ((uint64_t)hi << 32));
        return;
    case 0xf3:
        sse_load_src_low(cpu, insn, &s, 4);
        if (size == 8) {
            v = trunc ? h_cvttss2si64(&e, f32(s.l[0]))
                      : h_cvtss2si64(&e, f32(s.l[0]));
        } else {
            v = trunc ? h_cvttss2si32(&e, f32(s.l[0]))
                      : h_cvtss2si32(&e, f32(s.l[0]));
        }
        break;
    default:
        sse_load_src_low(cpu, insn, &s, 8);
        if (size == 8) {
            v = trunc ? h_cvttsd2si64(&e, f64(s.q[0]))
                      : h_cvtsd2si64(&e, f64(s.q[0]));
        } else {
            v = trunc ? h_cvttsd2si32(&e, f64(s.q[0]))
                      : h_cvtsd2si32(&e, f64(s.q[0]));
        }
        break;
    }
    sse_raise_flags(cpu, e.flags);
    x86_reg_write(cpu, insn->reg, size, true, v);
}

/* 0F 5A: cvtps2pd, cvtpd2ps, cvtss2sd, cvtsd2ss. */
static void exec_cvt_5a(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r = *d;
    FPEnv e = env_of(cpu);

    sse_prepare(cpu);
    switch (insn->mandatory) {
    case 0:
        sse_load_src_low(cpu, insn, &s, 8);
        r.d[0] = h_cvtss2sd(&e, f32(s.l[0]));
        r.d[1] = h_cvtss2sd(&e, f32(s.l[1]));
        break;
    case 0x66:
        sse_load_src(cpu, insn, &s, true);
        r.l[0] = u32(h_cvtsd2ss(&e, f64(s.q[0])));
        r.l[1] = u32(h_cvtsd2ss(&e, f64(s.q[1])));
        r.q[1] = 0;
        break;
    case 0xf3:
        sse_load_src_low(cpu, insn, &s, 4);
        r.d[0] = h_cvtss2sd(&e, f32(s.l[0]));
        break;
    default:
        sse_load_src_low(cpu, insn, &s, 8);
        r.l[0] = u32(h_cvtsd2ss(&e, f64(s.q[0])));
        break;
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}

/* 0F 5B: cvtdq2ps, cvtps2dq, cvttps2dq. */
static void exec_cvt_5b(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    FPEnv e = env_of(cpu);

    if (insn->mandatory == 0xf2) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    for (int i = 0; i < 4; i++) {
        switch (insn->mandatory) {
        case 0: r.l[i] = u32(h_cvtsi2ss32(&e, s.l[i])); break;
        case 0x66: r.l[i] = h_cvtss2si32(&e, f32(s.l[i])); break;
        default: r.l[i] = h_cvttss2si32(&e, f32(s.l[i])); break;
        }
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}

/* 0F E6: cvttpd2dq, cvtdq2pd, cvtpd2dq. */
static void exec_cvt_e6(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    FPEnv e = env_of(cpu);

    if (insn->mandatory == 0) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    sse_prepare(cpu);
    if (insn->mandatory == 0xf3) {
        sse_load_src_low(cpu, insn, &s, 8);
        r.d[0] = s.sl[0];
        r.d[1] = s.sl[1];
    } else {
        bool trunc = insn->mandatory == 0x66;

        sse_load_src(cpu, insn, &s, true);
        for (int i = 0; i < 2; i++) {
            r.l[i] = trunc ? h_cvttsd2si32(&e, f64(s.q[i]))
                           : h_cvtsd2si32(&e, f64(s.q[i]));
        }
        r.q[1] = 0;
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}

/* 0F 7C/7D haddp*, hsubp*; 0F D0 addsubp*. */
static void exec_horizontal(X86CPU *cpu, const X86Insn *insn, int op)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    FPEnv e = env_of(cpu);
    bool ps = insn->mandatory == 0xf2;

    if (insn->mandatory != 0x66 && insn->mandatory != 0xf2) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    if (op == 0xd0) {
        if (ps) {
            for (int i = 0; i < 4; i++) {
                r.l[i] = lane_f32(&e, (i & 1) ? 0x58 : 0x5c, d->l[i], s.l[i]);
            }
        } else {
            r.q[0] = lane_f64(&e, 0x5c, d->q[0], s.q[0]);
            r.q[1] = lane_f64(&e, 0x58, d->q[1], s.q[1]);
        }
    } else {
        int arith = op == 0x7c ? 0x58 : 0x5c;
        if (ps) {
            r.l[0] = lane_f32(&e, arith, d->l[0], d->l[1]);
            r.l[1] = lane_f32(&e, arith, d->l[2], d->l[3]);
            r.l[2] = lane_f32(&e, arith, s.l[0], s.l[1]);
            r.l[3] = lane_f32(&e, arith, s.l[2], s.l[3]);
        } else {
            r.q[0] = lane_f64(&e, arith, d->q[0], d->q[1]);
            r.q[1] = lane_f64(&e, arith, s.q[0], s.q[1]);
        }
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}

bool sse_exec_fp(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;

    switch (op) {
    case 0x2a: exec_cvt_2a(cpu, insn); return true;
    case 0x2c: exec_cvt_2c(cpu, insn, true); return true;
    case 0x2d: exec_cvt_2c(cpu, insn, false); return true;
    case 0x2e: exec_comis(cpu, insn, true); return true;
    case 0x2f: exec_comis(cpu, insn, false); return true;
    case 0x51: case 0x52: case 0x53:
    case 0x58: case 0x59: case 0x5c ... 0x5f: case 0xc2:
        exec_arith(cpu, insn, op);
        return true;
    case 0x5a: exec_cvt_5a(cpu, insn); return true;
    case 0x5b: exec_cvt_5b(cpu, insn); return true;
    case 0x7c: case 0x7d: case 0xd0:
        exec_horizontal(cpu, insn, op);
        return true;
    case 0xe6: exec_cvt_e6(cpu, insn); return true;
    }
    return false;
}

/* ---------------------------------------------------------------------
 * SSE4.1 round and dot product
 * ------------------------------------------------------------------- */

/*
 * Rounds an IEEE value of mbits fraction and ebits exponent bits to an
 * integral value by rc. SNaNs become QNaNs with *flags |= IE; inexact
 * results set PE.
 */
static uint64_t round_bits(uint64_t x, int mbits, int ebits, int rc,
                           bool daz, uint32_t *flags)
{
    int bias = (1 << (ebits - 1)) - 1, emax = (1 << ebits) - 1;
    uint64_t sign = 1ull << (mbits + ebits);
    uint64_t mant = x & ((1ull << mbits) - 1);
    int exp = (x >> mbits) & emax;
    bool neg = x & sign;

    if (exp == emax) {
        if (mant && !(mant >> (mbits - 1))) {
            *flags |= MXCSR_IE;
            return x | (1ull << (mbits - 1));
        }
        return x;
    }
    if (exp == 0 && daz) {
        return x & sign;
    }
    if (exp >= bias + mbits) {
        return x;
    }
    if (exp < bias) {                   /* |x| < 1 */
        bool one;

        if (!(x & ~sign)) {
            return x;
        }
        *flags |= MXCSR_PE;
        switch (rc) {
        case RC_NEAREST: one = exp == bias - 1 && mant; break;
        case RC_DOWN: one = neg; break;
        case RC_UP: one = !neg; break;
        default: one = false; break;
        }
        return (x & sign) | (one ? (uint64_t)bias << mbits : 0);
    }

    int frac_bits = mbits - (exp - bias);
    uint64_t fmask = (1ull << frac_bits) - 1, frac = x & fmask;
    uint64_t r = x & ~fmask;
    bool up;

    if (!frac) {
        return x;
    }
    *flags |= MXCSR_PE;
    switch (rc) {
    case RC_NEAREST: {
        uint64_t half = 1ull << (frac_bits - 1);
        up = frac > half || (frac == half && ((r >> frac_bits) & 1));
        break;
    }
    case RC_DOWN: up = neg; break;
    case RC_UP: up = !neg; break;
    default: up = false; break;
    }
    return up ? r + (1ull << frac_bits) : r;
}

/* 66 0F 3A 08..0B: roundps, roundpd, roundss, roundsd. */
void sse_exec_round(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r = *d;
    int op = insn->opcode & 0xff;
    unsigned imm = insn->imm & 0xff;
    int rc = (imm & 4) ? (cpu->mxcsr & MXCSR_RC) >> MXCSR_RC_SHIFT : imm & 3;
    bool daz = cpu->mxcsr & MXCSR_DAZ;
    uint32_t flags = 0;

    sse_prepare(cpu);
    switch (op) {
    case 0x08:
        sse_load_src(cpu, insn, &s, true);
        for (int i = 0; i < 4; i++) {
            r.l[i] = round_bits(s.l[i], 23, 8, rc, daz, &flags);
        }
        break;
    case 0x09:
        sse_load_src(cpu, insn, &s, true);
        for (int i = 0; i < 2; i++) {
            r.q[i] = round_bits(s.q[i], 52, 11, rc, daz, &flags);
        }
        break;
    case 0x0a:
        sse_load_src_low(cpu, insn, &s, 4);
        r.l[0] = round_bits(s.l[0], 23, 8, rc, daz, &flags);
        break;
    default:
        sse_load_src_low(cpu, insn, &s, 8);
        r.q[0] = round_bits(s.q[0], 52, 11, rc, daz, &flags);
        break;
    }
    if (imm & 8) {
        flags &= ~MXCSR_PE;
    }
    sse_raise_flags(cpu, flags);
    *d = r;
}

/* 66 0F 3A 40/41: dpps, dppd. */
void sse_exec_dp(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    unsigned imm = insn->imm & 0xff;
    FPEnv e = env_of(cpu);

    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    if ((insn->opcode & 0xff) == 0x40) {
        float t[4], sum;
        for (int i = 0; i < 4; i++) {
            t[i] = ((imm >> (4 + i)) & 1) ? h_mulss(&e, f32(d->l[i]),
                                                    f32(s.l[i]))
                                          : 0.0f;
        }
        sum = h_addss(&e, h_addss(&e, t[0], t[1]), h_addss(&e, t[2], t[3]));
        for (int i = 0; i < 4; i++) {
            r.l[i] = ((imm >> i) & 1) ? u32(sum) : 0;
        }
    } else {
        double t[2], sum;
        for (int i = 0; i < 2; i++) {
            t[i] = ((imm >> (4 + i)) & 1) ? h_mulsd(&e, f64(d->q[i]),
                                                    f64(s.q[i]))
                                          : 0.0;
        }
        sum = h_addsd(&e, t[0], t[1]);
        for (int i = 0; i < 2; i++) {
            r.q[i] = ((imm >> i) & 1) ? u64(sum) : 0;
        }
    }
    sse_raise_flags(cpu, e.flags);
    *d = r;
}
