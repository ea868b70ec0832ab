/*
 * Packed integer instructions on MMX and XMM registers: MMX, SSE2,
 * SSSE3 and SSE4.1 (Intel SDM vol. 2), and the dispatch of the 0F 38 and
 * 0F 3A maps. An operation works on n bytes of an XMMReg: 8 for an MMX
 * register, 16 for an XMM register.
 */
#include "fpu-internal.h"
#include "flags.h"

/* d = d op s over n bytes. */
typedef void VecFn(XMMReg *d, const XMMReg *s, int n);

static inline int sat8s(int v) { return v > 127 ? 127 : v < -128 ? -128 : v; }
static inline int sat8u(int v) { return v > 255 ? 255 : v < 0 ? 0 : v; }
static inline int sat16s(int v)
{
    return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
static inline int sat16u(int v) { return v > 65535 ? 65535 : v < 0 ? 0 : v; }

#define LANES(name, field, type, expr)                                     \
    static void name(XMMReg *d, const XMMReg *s, int n)                   \
    {                                                                      \
        for (int i = 0; i < n / (int)sizeof(d->field[0]); i++) {           \
            type a = d->field[i], b = s->field[i];                         \
            (void)a;                                                       \
            d->field[i] = (expr);                                          \
        }                                                                  \
    }

LANES(op_paddb, b, int, a + b)
LANES(op_paddw, w, int, a + b)
LANES(op_paddd, l, uint32_t, a + b)
LANES(op_paddq, q, uint64_t, a + b)
LANES(op_psubb, b, int, a - b)
LANES(op_psubw, w, int, a - b)
LANES(op_psubd, l, uint32_t, a - b)
LANES(op_psubq, q, uint64_t, a - b)
LANES(op_paddsb, sb, int, sat8s(a + b))
LANES(op_paddsw, sw, int, sat16s(a + b))
LANES(op_paddusb, b, int, sat8u(a + b))
LANES(op_paddusw, w, int, sat16u(a + b))
LANES(op_psubsb, sb, int, sat8s(a - b))
LANES(op_psubsw, sw, int, sat16s(a - b))
LANES(op_psubusb, b, int, sat8u(a - b))
LANES(op_psubusw, w, int, sat16u(a - b))
LANES(op_pcmpeqb, b, int, a == b ? 0xff : 0)
LANES(op_pcmpeqw, w, int, a == b ? 0xffff : 0)
LANES(op_pcmpeqd, l, uint32_t, a == b ? ~0u : 0)
LANES(op_pcmpeqq, q, uint64_t, a == b ? ~0ull : 0)
LANES(op_pcmpgtb, sb, int, a > b ? -1 : 0)
LANES(op_pcmpgtw, sw, int, a > b ? -1 : 0)
LANES(op_pcmpgtd, sl, int32_t, a > b ? -1 : 0)
LANES(op_pcmpgtq, sq, int64_t, a > b ? -1 : 0)
LANES(op_pmullw, w, uint32_t, a * b)
LANES(op_pmulhw, sw, int32_t, (a * b) >> 16)
LANES(op_pmulhuw, w, uint32_t, (a * b) >> 16)
LANES(op_pmulld, l, uint32_t, a * b)
LANES(op_pmulhrsw, sw, int32_t, (((a * b) >> 14) + 1) >> 1)
LANES(op_pavgb, b, int, (a + b + 1) >> 1)
LANES(op_pavgw, w, int, (a + b + 1) >> 1)
LANES(op_pminub, b, int, a < b ? a : b)
LANES(op_pmaxub, b, int, a > b ? a : b)
LANES(op_pminsw, sw, int, a < b ? a : b)
LANES(op_pmaxsw, sw, int, a > b ? a : b)
LANES(op_pminsb, sb, int, a < b ? a : b)
LANES(op_pmaxsb, sb, int, a > b ? a : b)
LANES(op_pminuw, w, int, a < b ? a : b)
LANES(op_pmaxuw, w, int, a > b ? a : b)
LANES(op_pminsd, sl, int32_t, a < b ? a : b)
LANES(op_pmaxsd, sl, int32_t, a > b ? a : b)
LANES(op_pminud, l, uint32_t, a < b ? a : b)
LANES(op_pmaxud, l, uint32_t, a > b ? a : b)
LANES(op_pand, q, uint64_t, a & b)
LANES(op_pandn, q, uint64_t, ~a & b)
LANES(op_por, q, uint64_t, a | b)
LANES(op_pxor, q, uint64_t, a ^ b)
LANES(op_psignb, sb, int, b < 0 ? -a : b == 0 ? 0 : a)
LANES(op_psignw, sw, int, b < 0 ? -a : b == 0 ? 0 : a)
LANES(op_psignd, sl, int64_t, b < 0 ? -a : b == 0 ? 0 : a)
LANES(op_pabsb, sb, int, b < 0 ? -b : b)
LANES(op_pabsw, sw, int, b < 0 ? -b : b)
LANES(op_pabsd, sl, int64_t, b < 0 ? -b : b)

/* punpckl* / punpckh*: interleave the low (or high) halves. */
static void unpack(XMMReg *d, const XMMReg *s, int n, int esize, bool high)
{
    XMMReg r;
    int half = n / 2, count = half / esize, base = high ? half : 0;

    for (int i = 0; i < count; i++) {
        memcpy(r.b + 2 * i * esize, d->b + base + i * esize, esize);
        memcpy(r.b + (2 * i + 1) * esize, s->b + base + i * esize, esize);
    }
    memcpy(d->b, r.b, n);
}

static void op_punpcklbw(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 1, false);
}
static void op_punpcklwd(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 2, false);
}
static void op_punpckldq(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 4, false);
}
static void op_punpcklqdq(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 8, false);
}
static void op_punpckhbw(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 1, true);
}
static void op_punpckhwd(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 2, true);
}
static void op_punpckhdq(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 4, true);
}
static void op_punpckhqdq(XMMReg *d, const XMMReg *s, int n)
{
    unpack(d, s, n, 8, true);
}

/* Packs with saturation: d's elements then s's, at half the width. */
static void op_packsswb(XMMReg *d, const XMMReg *s, int n)
{
    XMMReg r;
    int k = n / 2;

    for (int i = 0; i < k; i++) {
        r.sb[i] = sat8s(d->sw[i]);
        r.sb[k + i] = sat8s(s->sw[i]);
    }
    memcpy(d->b, r.b, n);
}

static void op_packuswb(XMMReg *d, const XMMReg *s, int n)
{
    XMMReg r;
    int k = n / 2;

    for (int i = 0; i < k; i++) {
        r.b[i] = sat8u(d->sw[i]);
        r.b[k + i] = sat8u(s->sw[i]);
    }
    memcpy(d->b, r.b, n);
}

static void op_packssdw(XMMReg *d, const XMMReg *s, int n)
{
    XMMReg r;
    int k = n / 4;

    for (int i = 0; i < k; i++) {
        r.sw[i] = sat16s(d->sl[i]);
        r.sw[k + i] = sat16s(s->sl[i]);
    }
    memcpy(d->b, r.b, n);
}

static int sat32to16u(int32_t v)
{
    return v > 65535 ? 65535 : v < 0 ? 0 : v;
}

static void op_packusdw(XMMReg *d, const XMMReg *s, int n)
{
    XMMReg r;

    for (int i = 0; i < 4; i++) {
        r.w[i] = sat32to16u(d->sl[i]);
        r.w[4 + i] = sat32to16u(s->sl[i]);
    }
    *d = r;
}

static void op_pmuludq(XMMReg *d, const XMMReg *s, int n)
{
    for (int i = 0; i < n / 8; i++) {
        d->q[i] = (uint64_t)d->l[2 * i] * s->l[2 * i];
    }
}

static void op_pmuldq(XMMReg *d, const XMMReg *s, int n)
{
    for (int i = 0; i < 2; i++) {
        d->sq[i] = (int64_t)d->sl[2 * i] * s->sl[2 * i];
    }
}

static void op_pmaddwd(XMMReg *d, const XMMReg *s, int n)
{
    for (int i = 0; i < n / 4; i++) {
        int64_t v = (int32_t)d->sw[2 * i] * s->sw[2 * i] +
                    (int64_t)d->sw[2 * i + 1] * s->sw[2 * i + 1];
        d->l[i] = (uint32_t)v;
    }
}

static void op_psadbw(XMMReg *d, const XMMReg *s, int n)
{
    for (int i = 0; i < n / 8; i++) {
        unsigned sum = 0;
        for (int k = 0; k < 8; k++) {
            int diff = d->b[8 * i + k] - s->b[8 * i + k];
            sum += diff < 0 ? -diff : diff;
        }
        d->q[i] = sum;
    }
}

static void op_pshufb(XMMReg *d, const XMMReg *s, int n)
{
    XMMReg r;

    for (int i = 0; i < n; i++) {
        r.b[i] = (s->b[i] & 0x80) ? 0 : d->b[s->b[i] & (n - 1)];
    }
    memcpy(d->b, r.b, n);
}

static void op_pmaddubsw(XMMReg *d, const XMMReg *s, int n)
{
    XMMReg r;

    for (int i = 0; i < n / 2; i++) {
        r.sw[i] = sat16s(d->b[2 * i] * s->sb[2 * i] +
                         d->b[2 * i + 1] * s->sb[2 * i + 1]);
    }
    memcpy(d->b, r.b, n);
}

/* phadd/phsub: pairs of d then pairs of s. op 0 add, 1 sub; sat: 16-bit
 * signed saturation. */
static void horizontal(XMMReg *d, const XMMReg *s, int n, int esize,
                       bool sub, bool sat)
{
    XMMReg r;
    int k = n / esize / 2;

    for (int i = 0; i < 2 * k; i++) {
        const XMMReg *src = i < k ? d : s;
        int j = 2 * (i % k);
        if (esize == 2) {
            int v = sub ? src->sw[j] - src->sw[j + 1]
                        : src->sw[j] + src->sw[j + 1];
            r.sw[i] = sat ? sat16s(v) : (int16_t)v;
        } else {
            r.l[i] = sub ? src->l[j] - src->l[j + 1]
                         : src->l[j] + src->l[j + 1];
        }
    }
    memcpy(d->b, r.b, n);
}

static void op_phaddw(XMMReg *d, const XMMReg *s, int n)
{
    horizontal(d, s, n, 2, false, false);
}
static void op_phaddd(XMMReg *d, const XMMReg *s, int n)
{
    horizontal(d, s, n, 4, false, false);
}
static void op_phaddsw(XMMReg *d, const XMMReg *s, int n)
{
    horizontal(d, s, n, 2, false, true);
}
static void op_phsubw(XMMReg *d, const XMMReg *s, int n)
{
    horizontal(d, s, n, 2, true, false);
}
static void op_phsubd(XMMReg *d, const XMMReg *s, int n)
{
    horizontal(d, s, n, 4, true, false);
}
static void op_phsubsw(XMMReg *d, const XMMReg *s, int n)
{
    horizontal(d, s, n, 2, true, true);
}

static void op_phminposuw(XMMReg *d, const XMMReg *s, int n)
{
    int idx = 0;

    for (int i = 1; i < 8; i++) {
        if (s->w[i] < s->w[idx]) {
            idx = i;
        }
    }
    uint16_t min = s->w[idx];
    memset(d, 0, sizeof(*d));
    d->w[0] = min;
    d->w[1] = idx;
}

/* Shifts of esize-byte lanes by count; kind 0 right logical, 1 right
 * arithmetic, 2 left. */
enum { SH_SRL, SH_SRA, SH_SLL };

static void shift_lanes(XMMReg *d, int n, int esize, int kind, uint64_t count)
{
    int bits = esize * 8;

    if (count >= (uint64_t)bits) {
        if (kind != SH_SRA) {
            memset(d->b, 0, n);
            return;
        }
        count = bits - 1;
    }
    for (int i = 0; i < n / esize; i++) {
        switch (esize) {
        case 2:
            d->w[i] = kind == SH_SRL ? d->w[i] >> count
                    : kind == SH_SRA ? d->sw[i] >> count
                    : d->w[i] << count;
            break;
        case 4:
            d->l[i] = kind == SH_SRL ? d->l[i] >> count
                    : kind == SH_SRA ? (uint32_t)(d->sl[i] >> count)
                    : d->l[i] << count;
            break;
        default:
            d->q[i] = kind == SH_SRL ? d->q[i] >> count : d->q[i] << count;
            break;
        }
    }
}

/* psrldq/pslldq by bytes. */
static void shift_bytes(XMMReg *d, unsigned count, bool left)
{
    XMMReg r;

    memset(&r, 0, sizeof(r));
    if (count < 16) {
        if (left) {
            memcpy(r.b + count, d->b, 16 - count);
        } else {
            memcpy(r.b, d->b + count, 16 - count);
        }
    }
    *d = r;
}

/* ---------------------------------------------------------------------
 * Operand plumbing
 * ------------------------------------------------------------------- */

static noreturn void raise_ud(X86CPU *cpu)
{
    x86_raise_exception(cpu, EXCP_UD);
}

/* Without prefix on MMX registers (when mmx_ok), with 66 on XMM. */
static void run_vec(X86CPU *cpu, const X86Insn *insn, VecFn *fn,
                    bool mmx_ok)
{
    XMMReg d, s;

    if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        sse_load_src(cpu, insn, &s, true);
        fn(&cpu->xmm[insn->reg], &s, 16);
    } else if (insn->mandatory == 0 && mmx_ok) {
        mmx_prepare(cpu);
        s.q[0] = insn->mod == 3 ? mmx_get(cpu, insn->rm)
                                : x86_ld(cpu, x86_insn_linear(cpu, insn), 8);
        d.q[0] = mmx_get(cpu, insn->reg);
        fn(&d, &s, 8);
        mmx_set(cpu, insn->reg, d.q[0]);
    } else {
        raise_ud(cpu);
    }
}

/* psrlw .. psllq with the count in mm/m64 or xmm/m128. */
static void run_shift(X86CPU *cpu, const X86Insn *insn, int esize, int kind)
{
    XMMReg d, s;

    if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        sse_load_src(cpu, insn, &s, true);
        shift_lanes(&cpu->xmm[insn->reg], 16, esize, kind, s.q[0]);
    } else if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        uint64_t count = insn->mod == 3 ? mmx_get(cpu, insn->rm)
                       : x86_ld(cpu, x86_insn_linear(cpu, insn), 8);
        d.q[0] = mmx_get(cpu, insn->reg);
        shift_lanes(&d, 8, esize, kind, count);
        mmx_set(cpu, insn->reg, d.q[0]);
    } else {
        raise_ud(cpu);
    }
}

/* 0F 71/72/73: shifts by imm8 of the register in rm. */
static void run_shift_imm(X86CPU *cpu, const X86Insn *insn)
{
    int grp = insn->opcode & 0xff, reg = insn->reg & 7;
    unsigned count = insn->imm & 0xff;
    int esize = grp == 0x71 ? 2 : grp == 0x72 ? 4 : 8;
    int kind;
    XMMReg d;

    if (insn->mod != 3) {
        raise_ud(cpu);
    }
    switch (reg) {
    case 2: kind = SH_SRL; break;
    case 4: kind = SH_SRA; break;
    case 6: kind = SH_SLL; break;
    case 3: case 7:
        if (grp != 0x73 || insn->mandatory != 0x66) {
            raise_ud(cpu);
        }
        sse_prepare(cpu);
        shift_bytes(&cpu->xmm[insn->rm], count, reg == 7);
        return;
    default:
        raise_ud(cpu);
    }
    if (kind == SH_SRA && esize == 8) {
        raise_ud(cpu);
    }
    if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        shift_lanes(&cpu->xmm[insn->rm], 16, esize, kind, count);
    } else if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        d.q[0] = mmx_get(cpu, insn->rm);
        shift_lanes(&d, 8, esize, kind, count);
        mmx_set(cpu, insn->rm, d.q[0]);
    } else {
        raise_ud(cpu);
    }
}

/* 0F 70: pshufw/pshufd/pshufhw/pshuflw. */
static void run_pshuf(X86CPU *cpu, const X86Insn *insn)
{
    unsigned imm = insn->imm & 0xff;
    XMMReg s, r;

    if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        s.q[0] = insn->mod == 3 ? mmx_get(cpu, insn->rm)
                                : x86_ld(cpu, x86_insn_linear(cpu, insn), 8);
        for (int i = 0; i < 4; i++) {
            r.w[i] = s.w[(imm >> (2 * i)) & 3];
        }
        mmx_set(cpu, insn->reg, r.q[0]);
        return;
    }
    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    r = s;
    switch (insn->mandatory) {
    case 0x66:
        for (int i = 0; i < 4; i++) {
            r.l[i] = s.l[(imm >> (2 * i)) & 3];
        }
        break;
    case 0xf3:
        for (int i = 0; i < 4; i++) {
            r.w[4 + i] = s.w[4 + ((imm >> (2 * i)) & 3)];
        }
        break;
    default:
        for (int i = 0; i < 4; i++) {
            r.w[i] = s.w[(imm >> (2 * i)) & 3];
        }
        break;
    }
    cpu->xmm[insn->reg] = r;
}

/* Packed integer opcodes of the 0F map; MMX without prefix where the
 * encoding exists, XMM with 66. */
static VecFn *const map0f_ops[256] = {
    [0x60] = op_punpcklbw, [0x61] = op_punpcklwd, [0x62] = op_punpckldq,
    [0x63] = op_packsswb, [0x64] = op_pcmpgtb, [0x65] = op_pcmpgtw,
    [0x66] = op_pcmpgtd, [0x67] = op_packuswb, [0x68] = op_punpckhbw,
    [0x69] = op_punpckhwd, [0x6a] = op_punpckhdq, [0x6b] = op_packssdw,
    [0x6c] = op_punpcklqdq, [0x6d] = op_punpckhqdq,
    [0x74] = op_pcmpeqb, [0x75] = op_pcmpeqw, [0x76] = op_pcmpeqd,
    [0xd4] = op_paddq, [0xd5] = op_pmullw,
    [0xd8] = op_psubusb, [0xd9] = op_psubusw, [0xda] = op_pminub,
    [0xdb] = op_pand, [0xdc] = op_paddusb, [0xdd] = op_paddusw,
    [0xde] = op_pmaxub, [0xdf] = op_pandn,
    [0xe0] = op_pavgb, [0xe3] = op_pavgw, [0xe4] = op_pmulhuw,
    [0xe5] = op_pmulhw, [0xe8] = op_psubsb, [0xe9] = op_psubsw,
    [0xea] = op_pminsw, [0xeb] = op_por, [0xec] = op_paddsb,
    [0xed] = op_paddsw, [0xee] = op_pmaxsw, [0xef] = op_pxor,
    [0xf4] = op_pmuludq, [0xf5] = op_pmaddwd, [0xf6] = op_psadbw,
    [0xf8] = op_psubb, [0xf9] = op_psubw, [0xfa] = op_psubd,
    [0xfb] = op_psubq, [0xfc] = op_paddb, [0xfd] = op_paddw,
    [0xfe] = op_paddd,
};

bool sse_exec_int(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;

    switch (op) {
    case 0x70:
        run_pshuf(cpu, insn);
        return true;
    case 0x71: case 0x72: case 0x73:
        run_shift_imm(cpu, insn);
        return true;
    case 0xd1: run_shift(cpu, insn, 2, SH_SRL); return true;
    case 0xd2: run_shift(cpu, insn, 4, SH_SRL); return true;
    case 0xd3: run_shift(cpu, insn, 8, SH_SRL); return true;
    case 0xe1: run_shift(cpu, insn, 2, SH_SRA); return true;
    case 0xe2: run_shift(cpu, insn, 4, SH_SRA); return true;
    case 0xf1: run_shift(cpu, insn, 2, SH_SLL); return true;
    case 0xf2: run_shift(cpu, insn, 4, SH_SLL); return true;
    case 0xf3: run_shift(cpu, insn, 8, SH_SLL); return true;
    }
    if (!map0f_ops[op]) {
        return false;
    }
    run_vec(cpu, insn, map0f_ops[op], op != 0x6c && op != 0x6d);
    return true;
}

/* ---------------------------------------------------------------------
 * 0F 38
 * ------------------------------------------------------------------- */

/* SSSE3 00..0B, 1C..1E: MMX and XMM forms. */
static VecFn *const map0f38_ssse3[32] = {
    [0x00] = op_pshufb, [0x01] = op_phaddw, [0x02] = op_phaddd,
    [0x03] = op_phaddsw, [0x04] = op_pmaddubsw, [0x05] = op_phsubw,
    [0x06] = op_phsubd, [0x07] = op_phsubsw, [0x08] = op_psignb,
    [0x09] = op_psignw, [0x0a] = op_psignd, [0x0b] = op_pmulhrsw,
    [0x1c] = op_pabsb, [0x1d] = op_pabsw, [0x1e] = op_pabsd,
};

/* SSE4.1/4.2 with 66 only. */
static VecFn *const map0f38_sse4[0x42] = {
    [0x28] = op_pmuldq, [0x29] = op_pcmpeqq, [0x2b] = op_packusdw,
    [0x37] = op_pcmpgtq, [0x38] = op_pminsb, [0x39] = op_pminsd,
    [0x3a] = op_pminuw, [0x3b] = op_pminud, [0x3c] = op_pmaxsb,
    [0x3d] = op_pmaxsd, [0x3e] = op_pmaxuw, [0x3f] = op_pmaxud,
    [0x40] = op_pmulld, [0x41] = op_phminposuw,
};

/* pblendvb/blendvps/blendvpd: element size esize, mask in XMM0. */
static void exec_blendv(X86CPU *cpu, const X86Insn *insn, int esize)
{
    XMMReg *d = &cpu->xmm[insn->reg], s;
    const XMMReg *m = &cpu->xmm[0];

    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    for (int i = 0; i < 16; i += esize) {
        if (m->b[i + esize - 1] & 0x80) {
            memcpy(d->b + i, s.b + i, esize);
        }
    }
}

static void exec_ptest(X86CPU *cpu, const X86Insn *insn)
{
    const XMMReg *d = &cpu->xmm[insn->reg];
    XMMReg s;
    uint32_t f = 0;

    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    if (!((d->q[0] & s.q[0]) | (d->q[1] & s.q[1]))) {
        f |= CC_Z;
    }
    if (!((~d->q[0] & s.q[0]) | (~d->q[1] & s.q[1]))) {
        f |= CC_C;
    }
    x86_set_eflags(cpu, f, CC_ALL);
}

/* pmovsx/pmovzx: op low nibble 0 bw, 1 bd, 2 bq, 3 wd, 4 wq, 5 dq. */
static void exec_pmovx(X86CPU *cpu, const X86Insn *insn, bool sign)
{
    static const uint8_t from[6] = { 1, 1, 1, 2, 2, 4 };
    static const uint8_t to[6] = { 2, 4, 8, 4, 8, 8 };
    int k = insn->opcode & 0xf;
    int fs = from[k], ts = to[k], count = 16 / ts;
    XMMReg s, r;

    sse_prepare(cpu);
    sse_load_src_low(cpu, insn, &s, fs * count);
    for (int i = 0; i < count; i++) {
        int64_t v;
        switch (fs) {
        case 1: v = sign ? s.sb[i] : s.b[i]; break;
        case 2: v = sign ? s.sw[i] : s.w[i]; break;
        default: v = sign ? s.sl[i] : (int64_t)s.l[i]; break;
        }
        memcpy(r.b + i * ts, &v, ts);
    }
    cpu->xmm[insn->reg] = r;
}

void sse_exec_0f38(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;

    if (op < 0x20 && map0f38_ssse3[op]) {
        run_vec(cpu, insn, map0f38_ssse3[op], true);
        return;
    }
    if (op == 0xf0 || op == 0xf1) {
        if (insn->mandatory == 0xf2) {
            sse_exec_crc32(cpu, insn);
            return;
        }
        raise_ud(cpu);                  /* movbe: not advertised */
    }
    if (insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    switch (op) {
    case 0x10: exec_blendv(cpu, insn, 1); return;
    case 0x14: exec_blendv(cpu, insn, 4); return;
    case 0x15: exec_blendv(cpu, insn, 8); return;
    case 0x17: exec_ptest(cpu, insn); return;
    case 0x20 ... 0x25: exec_pmovx(cpu, insn, true); return;
    case 0x30 ... 0x35: exec_pmovx(cpu, insn, false); return;
    case 0x2a:                          /* movntdqa */
        if (insn->mod == 3) {
            raise_ud(cpu);
        }
        sse_prepare(cpu);
        sse_load_m128(cpu, insn, &cpu->xmm[insn->reg], true);
        return;
    }
    if (op < 0x42 && map0f38_sse4[op]) {
        run_vec(cpu, insn, map0f38_sse4[op], false);
        return;
    }
    raise_ud(cpu);
}

/* ---------------------------------------------------------------------
 * 0F 3A
 * ------------------------------------------------------------------- */

/* palignr: (d:s) >> imm bytes, n bytes kept. */
static void exec_palignr(X86CPU *cpu, const X86Insn *insn)
{
    unsigned imm = insn->imm & 0xff;
    uint8_t cat[64];
    XMMReg d, s;
    int n;

    if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        sse_load_src(cpu, insn, &s, true);
        d = cpu->xmm[insn->reg];
        n = 16;
    } else if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        s.q[0] = insn->mod == 3 ? mmx_get(cpu, insn->rm)
                                : x86_ld(cpu, x86_insn_linear(cpu, insn), 8);
        d.q[0] = mmx_get(cpu, insn->reg);
        n = 8;
    } else {
        raise_ud(cpu);
    }
    memset(cat, 0, sizeof(cat));
    memcpy(cat, s.b, n);
    memcpy(cat + n, d.b, n);
    memset(d.b, 0, 16);
    if (imm < 2u * n) {
        memcpy(d.b, cat + imm, n);
    }
    if (n == 16) {
        cpu->xmm[insn->reg] = d;
    } else {
        mmx_set(cpu, insn->reg, d.q[0]);
    }
}

/* blendps/blendpd/pblendw: element i from s when imm bit i is set. */
static void exec_blend_imm(X86CPU *cpu, const X86Insn *insn, int esize)
{
    XMMReg *d = &cpu->xmm[insn->reg], s;
    unsigned imm = insn->imm & 0xff;

    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    for (int i = 0; i < 16 / esize; i++) {
        if ((imm >> i) & 1) {
            memcpy(d->b + i * esize, s.b + i * esize, esize);
        }
    }
}

static void exec_mpsadbw(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    unsigned imm = insn->imm & 0xff;
    int doff = ((imm >> 2) & 1) * 4, soff = (imm & 3) * 4;

    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    for (int i = 0; i < 8; i++) {
        int sum = 0;
        for (int k = 0; k < 4; k++) {
            int diff = d->b[doff + i + k] - s.b[soff + k];
            sum += diff < 0 ? -diff : diff;
        }
        r.w[i] = sum;
    }
    *d = r;
}

/* pextrb/pextrw/pextrd/pextrq/extractps: xmm (reg) to r/m. */
static void exec_pextr(X86CPU *cpu, const X86Insn *insn)
{
    const XMMReg *s = &cpu->xmm[insn->reg];
    unsigned imm = insn->imm & 0xff;
    int size;
    uint64_t v;

    sse_prepare(cpu);
    switch (insn->opcode & 0xff) {
    case 0x14: size = 1; v = s->b[imm & 15]; break;
    case 0x15: size = 2; v = s->w[imm & 7]; break;
    case 0x16:
        if (insn->rex & 8) {
            size = 8;
            v = s->q[imm & 1];
        } else {
            size = 4;
            v = s->l[imm & 3];
        }
        break;
    default: size = 4; v = s->l[imm & 3]; break;
    }
    if (insn->mod == 3) {
        /* Register destinations are zero-extended to 32 or 64 bits. */
        x86_reg_write(cpu, insn->rm, size == 8 ? 8 : 4, true, v);
    } else {
        x86_st(cpu, x86_insn_linear(cpu, insn), size, v);
    }
}

/* pinsrb/pinsrd/pinsrq/insertps: r/m (or xmm) into xmm (reg). */
static void exec_pinsr(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg];
    unsigned imm = insn->imm & 0xff;
    int op = insn->opcode & 0xff;
    int size = op == 0x20 ? 1 : (op == 0x22 && (insn->rex & 8)) ? 8 : 4;
    uint64_t v;

    sse_prepare(cpu);
    if (op == 0x21 && insn->mod == 3) {
        v = cpu->xmm[insn->rm].l[(imm >> 6) & 3];
    } else if (insn->mod == 3) {
        v = x86_reg_read(cpu, insn->rm, 8, true);
    } else {
        v = x86_ld(cpu, x86_insn_linear(cpu, insn), size);
    }
    switch (op) {
    case 0x20:
        d->b[imm & 15] = v;
        break;
    case 0x21:
        d->l[(imm >> 4) & 3] = v;
        for (int i = 0; i < 4; i++) {
            if ((imm >> i) & 1) {
                d->l[i] = 0;
            }
        }
        break;
    default:
        if (size == 8) {
            d->q[imm & 1] = v;
        } else {
            d->l[imm & 3] = v;
        }
        break;
    }
}

void sse_exec_0f3a(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;

    if (op == 0x0f) {
        exec_palignr(cpu, insn);
        return;
    }
    if (insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    switch (op) {
    case 0x08 ... 0x0b: sse_exec_round(cpu, insn); return;
    case 0x0c: exec_blend_imm(cpu, insn, 4); return;
    case 0x0d: exec_blend_imm(cpu, insn, 8); return;
    case 0x0e: exec_blend_imm(cpu, insn, 2); return;
    case 0x14 ... 0x17: exec_pextr(cpu, insn); return;
    case 0x20 ... 0x22: exec_pinsr(cpu, insn); return;
    case 0x40: case 0x41: sse_exec_dp(cpu, insn); return;
    case 0x42: exec_mpsadbw(cpu, insn); return;
    case 0x60 ... 0x63: sse_exec_pcmpstr(cpu, insn); return;
    }
    raise_ud(cpu);
}
