/*
 * MMX and SSE..SSE4.2: the dispatcher of the 0F map, data movement,
 * MXCSR, fxsave/fxrstor and the 0F AE group (Intel SDM vol. 1 chapters
 * 9-12, vol. 2). Packed integer operations are in sse-int.c, floating
 * point in sse-fp.c, string compares and crc32 in sse-str.c.
 */
#include "fpu-internal.h"
#include "flags.h"

/* ---------------------------------------------------------------------
 * State checks (SDM vol. 3 13.1, table 22-7 and 12-8)
 * ------------------------------------------------------------------- */

void sse_prepare(X86CPU *cpu)
{
    if ((cpu->cr0 & CR0_EM) || !(cpu->cr4 & CR4_OSFXSR)) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    if (cpu->cr0 & CR0_TS) {
        x86_raise_exception(cpu, EXCP_NM);
    }
}

void mmx_prepare(X86CPU *cpu)
{
    if (cpu->cr0 & CR0_EM) {
        x86_raise_exception(cpu, EXCP_UD);
    }
    if (cpu->cr0 & CR0_TS) {
        x86_raise_exception(cpu, EXCP_NM);
    }
    x87_check_pending(cpu);
    cpu->fpstt = 0;
    cpu->fptags = 0;
}

void sse_raise_flags(X86CPU *cpu, uint32_t flags)
{
    flags &= MXCSR_EXC;
    cpu->mxcsr |= flags;
    if (flags & ~(cpu->mxcsr >> MXCSR_MASK_SHIFT)) {
        x86_raise_exception(cpu, (cpu->cr4 & CR4_OSXMMEXCPT) ? EXCP_XM
                                                             : EXCP_UD);
    }
}

/* ---------------------------------------------------------------------
 * Operands
 * ------------------------------------------------------------------- */

static uint64_t mem_addr(X86CPU *cpu, const X86Insn *insn, bool aligned)
{
    uint64_t lin = x86_insn_linear(cpu, insn);

    if (aligned && (lin & 15)) {
        x86_raise_exception_err(cpu, EXCP_GP, 0);
    }
    return lin;
}

void sse_load_m128(X86CPU *cpu, const X86Insn *insn, XMMReg *v,
                   bool aligned)
{
    x86_read(cpu, mem_addr(cpu, insn, aligned), v, 16);
}

void sse_load_src(X86CPU *cpu, const X86Insn *insn, XMMReg *v,
                  bool aligned)
{
    if (insn->mod == 3) {
        *v = cpu->xmm[insn->rm];
    } else {
        sse_load_m128(cpu, insn, v, aligned);
    }
}

void sse_load_src_low(X86CPU *cpu, const X86Insn *insn, XMMReg *v,
                      int size)
{
    if (insn->mod == 3) {
        *v = cpu->xmm[insn->rm];
        if (size < 16) {
            memset(v->b + size, 0, 16 - size);
        }
        return;
    }
    memset(v, 0, sizeof(*v));
    if (size == 16) {
        x86_read(cpu, x86_insn_linear(cpu, insn), v, 16);
    } else {
        uint64_t x = x86_ld(cpu, x86_insn_linear(cpu, insn), size);
        memcpy(v->b, &x, size);
    }
}

static void store_m128(X86CPU *cpu, const X86Insn *insn, const XMMReg *v,
                       bool aligned)
{
    x86_write(cpu, mem_addr(cpu, insn, aligned), v, 16);
}

/* GPR or memory source of movd/movq/cvtsi2ss: size 4 or 8. */
static uint64_t load_rm_int(X86CPU *cpu, const X86Insn *insn, int size)
{
    if (insn->mod == 3) {
        return x86_reg_read(cpu, insn->rm, size, true);
    }
    return x86_ld(cpu, x86_insn_linear(cpu, insn), size);
}

static void store_rm_int(X86CPU *cpu, const X86Insn *insn, int size,
                         uint64_t v)
{
    if (insn->mod == 3) {
        x86_reg_write(cpu, insn->rm, size, true, v);
    } else {
        x86_st(cpu, x86_insn_linear(cpu, insn), size, v);
    }
}

static uint64_t load_m64(X86CPU *cpu, const X86Insn *insn)
{
    return x86_ld(cpu, x86_insn_linear(cpu, insn), 8);
}

static void store_m64(X86CPU *cpu, const X86Insn *insn, uint64_t v)
{
    x86_st(cpu, x86_insn_linear(cpu, insn), 8, v);
}

static noreturn void raise_ud(X86CPU *cpu)
{
    x86_raise_exception(cpu, EXCP_UD);
}

/* ---------------------------------------------------------------------
 * Data movement
 * ------------------------------------------------------------------- */

/* 0F 10/11: movups/movupd/movss/movsd. */
static void exec_mov_10(X86CPU *cpu, const X86Insn *insn, bool store)
{
    XMMReg *r = &cpu->xmm[insn->reg];
    uint64_t lin;

    sse_prepare(cpu);
    switch (insn->mandatory) {
    case 0: case 0x66:
        if (!store) {
            sse_load_src(cpu, insn, r, false);
        } else if (insn->mod == 3) {
            cpu->xmm[insn->rm] = *r;
        } else {
            store_m128(cpu, insn, r, false);
        }
        return;
    case 0xf3:
        if (insn->mod == 3) {
            if (store) {
                cpu->xmm[insn->rm].l[0] = r->l[0];
            } else {
                r->l[0] = cpu->xmm[insn->rm].l[0];
            }
            return;
        }
        lin = x86_insn_linear(cpu, insn);
        if (store) {
            x86_st(cpu, lin, 4, r->l[0]);
        } else {
            uint32_t v = x86_ld(cpu, lin, 4);
            memset(r, 0, sizeof(*r));
            r->l[0] = v;
        }
        return;
    default:
        if (insn->mod == 3) {
            if (store) {
                cpu->xmm[insn->rm].q[0] = r->q[0];
            } else {
                r->q[0] = cpu->xmm[insn->rm].q[0];
            }
            return;
        }
        lin = x86_insn_linear(cpu, insn);
        if (store) {
            x86_st(cpu, lin, 8, r->q[0]);
        } else {
            uint64_t v = x86_ld(cpu, lin, 8);
            r->q[0] = v;
            r->q[1] = 0;
        }
        return;
    }
}

/* 0F 12/16: movlps/movhlps/movlpd/movsldup/movddup and the high forms. */
static void exec_mov_12(X86CPU *cpu, const X86Insn *insn, bool high)
{
    XMMReg *d = &cpu->xmm[insn->reg], s;

    sse_prepare(cpu);
    switch (insn->mandatory) {
    case 0:
        if (insn->mod == 3) {       /* movhlps / movlhps */
            s = cpu->xmm[insn->rm];
            d->q[high] = s.q[!high];
        } else {
            d->q[high] = load_m64(cpu, insn);
        }
        return;
    case 0x66:
        if (insn->mod == 3) {
            raise_ud(cpu);
        }
        d->q[high] = load_m64(cpu, insn);
        return;
    case 0xf3:                      /* movsldup / movshdup */
        sse_load_src(cpu, insn, &s, true);
        d->l[0] = d->l[1] = s.l[high];
        d->l[2] = d->l[3] = s.l[2 + high];
        return;
    default:
        if (high) {
            raise_ud(cpu);
        }
        sse_load_src_low(cpu, insn, &s, 8);     /* movddup */
        d->q[0] = d->q[1] = s.q[0];
        return;
    }
}

/* 0F 13/17: movlps/movlpd/movhps/movhpd m64, xmm. */
static void exec_mov_13(X86CPU *cpu, const X86Insn *insn, bool high)
{
    if (insn->mod == 3 || (insn->mandatory != 0 && insn->mandatory != 0x66)) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    store_m64(cpu, insn, cpu->xmm[insn->reg].q[high]);
}

/* 0F 14/15: unpcklps/unpcklpd/unpckhps/unpckhpd. */
static void exec_unpck(X86CPU *cpu, const X86Insn *insn, bool high)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;

    if (insn->mandatory != 0 && insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    if (insn->mandatory == 0x66) {
        r.q[0] = d->q[high];
        r.q[1] = s.q[high];
    } else {
        r.l[0] = d->l[2 * high];
        r.l[1] = s.l[2 * high];
        r.l[2] = d->l[2 * high + 1];
        r.l[3] = s.l[2 * high + 1];
    }
    *d = r;
}

/* 0F 28/29: movaps/movapd. */
static void exec_movap(X86CPU *cpu, const X86Insn *insn, bool store)
{
    if (insn->mandatory != 0 && insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    if (!store) {
        sse_load_src(cpu, insn, &cpu->xmm[insn->reg], true);
    } else if (insn->mod == 3) {
        cpu->xmm[insn->rm] = cpu->xmm[insn->reg];
    } else {
        store_m128(cpu, insn, &cpu->xmm[insn->reg], true);
    }
}

/* 0F 50: movmskps/movmskpd. */
static void exec_movmsk(X86CPU *cpu, const X86Insn *insn)
{
    const XMMReg *s;
    uint32_t m = 0;

    if (insn->mod != 3 || (insn->mandatory != 0 && insn->mandatory != 0x66)) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    s = &cpu->xmm[insn->rm];
    if (insn->mandatory == 0x66) {
        m = (s->q[0] >> 63) | ((s->q[1] >> 63) << 1);
    } else {
        for (int i = 0; i < 4; i++) {
            m |= (s->l[i] >> 31) << i;
        }
    }
    x86_reg_write(cpu, insn->reg, 8, true, m);
}

/* 0F 54..57: andps, andnps, orps, xorps (and the pd forms). */
static void exec_logic_ps(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s;

    if (insn->mandatory != 0 && insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    for (int i = 0; i < 2; i++) {
        switch (insn->opcode & 0xff) {
        case 0x54: d->q[i] &= s.q[i]; break;
        case 0x55: d->q[i] = ~d->q[i] & s.q[i]; break;
        case 0x56: d->q[i] |= s.q[i]; break;
        default: d->q[i] ^= s.q[i]; break;
        }
    }
}

/* 0F C6: shufps/shufpd. */
static void exec_shufp(X86CPU *cpu, const X86Insn *insn)
{
    XMMReg *d = &cpu->xmm[insn->reg], s, r;
    unsigned imm = insn->imm & 0xff;

    if (insn->mandatory != 0 && insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    sse_load_src(cpu, insn, &s, true);
    if (insn->mandatory == 0x66) {
        r.q[0] = d->q[imm & 1];
        r.q[1] = s.q[(imm >> 1) & 1];
    } else {
        r.l[0] = d->l[imm & 3];
        r.l[1] = d->l[(imm >> 2) & 3];
        r.l[2] = s.l[(imm >> 4) & 3];
        r.l[3] = s.l[(imm >> 6) & 3];
    }
    *d = r;
}

/* 0F 6E: movd/movq mm|xmm, r/m32|64. */
static void exec_movd_load(X86CPU *cpu, const X86Insn *insn)
{
    int size = (insn->rex & 8) ? 8 : 4;

    if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        mmx_set(cpu, insn->reg, load_rm_int(cpu, insn, size));
    } else if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        uint64_t v = load_rm_int(cpu, insn, size);
        cpu->xmm[insn->reg].q[0] = v;
        cpu->xmm[insn->reg].q[1] = 0;
    } else {
        raise_ud(cpu);
    }
}

/* 0F 7E: movd/movq r/m32|64, mm|xmm; F3: movq xmm, xmm/m64. */
static void exec_movd_store(X86CPU *cpu, const X86Insn *insn)
{
    int size = (insn->rex & 8) ? 8 : 4;
    XMMReg s;

    switch (insn->mandatory) {
    case 0:
        mmx_prepare(cpu);
        store_rm_int(cpu, insn, size, mmx_get(cpu, insn->reg));
        return;
    case 0x66:
        sse_prepare(cpu);
        store_rm_int(cpu, insn, size, cpu->xmm[insn->reg].q[0]);
        return;
    case 0xf3:
        sse_prepare(cpu);
        sse_load_src_low(cpu, insn, &s, 8);
        cpu->xmm[insn->reg] = s;
        return;
    default:
        raise_ud(cpu);
    }
}

/* 0F 6F/7F: movq mm, movdqa, movdqu. */
static void exec_movdq(X86CPU *cpu, const X86Insn *insn, bool store)
{
    bool aligned = insn->mandatory == 0x66;

    switch (insn->mandatory) {
    case 0:
        mmx_prepare(cpu);
        if (!store) {
            mmx_set(cpu, insn->reg, insn->mod == 3 ? mmx_get(cpu, insn->rm)
                                                   : load_m64(cpu, insn));
        } else if (insn->mod == 3) {
            mmx_set(cpu, insn->rm, mmx_get(cpu, insn->reg));
        } else {
            store_m64(cpu, insn, mmx_get(cpu, insn->reg));
        }
        return;
    case 0x66: case 0xf3:
        sse_prepare(cpu);
        if (!store) {
            sse_load_src(cpu, insn, &cpu->xmm[insn->reg], aligned);
        } else if (insn->mod == 3) {
            cpu->xmm[insn->rm] = cpu->xmm[insn->reg];
        } else {
            store_m128(cpu, insn, &cpu->xmm[insn->reg], aligned);
        }
        return;
    default:
        raise_ud(cpu);
    }
}

/* 0F D6: movq xmm/m64, xmm; movq2dq; movdq2q. */
static void exec_movq_d6(X86CPU *cpu, const X86Insn *insn)
{
    switch (insn->mandatory) {
    case 0x66:
        sse_prepare(cpu);
        if (insn->mod == 3) {
            cpu->xmm[insn->rm].q[0] = cpu->xmm[insn->reg].q[0];
            cpu->xmm[insn->rm].q[1] = 0;
        } else {
            store_m64(cpu, insn, cpu->xmm[insn->reg].q[0]);
        }
        return;
    case 0xf3:                      /* movq2dq xmm, mm */
        if (insn->mod != 3) {
            raise_ud(cpu);
        }
        sse_prepare(cpu);
        mmx_prepare(cpu);
        cpu->xmm[insn->reg].q[0] = mmx_get(cpu, insn->rm);
        cpu->xmm[insn->reg].q[1] = 0;
        return;
    case 0xf2:                      /* movdq2q mm, xmm */
        if (insn->mod != 3) {
            raise_ud(cpu);
        }
        sse_prepare(cpu);
        mmx_prepare(cpu);
        mmx_set(cpu, insn->reg, cpu->xmm[insn->rm].q[0]);
        return;
    default:
        raise_ud(cpu);
    }
}

/* 0F E7 movntq/movntdq, 0F 2B movntps/movntpd: stores only. */
static void exec_movnt(X86CPU *cpu, const X86Insn *insn)
{
    if (insn->mod == 3) {
        raise_ud(cpu);
    }
    if ((insn->opcode & 0xff) == 0xe7 && insn->mandatory == 0) {
        mmx_prepare(cpu);
        store_m64(cpu, insn, mmx_get(cpu, insn->reg));
        return;
    }
    if ((insn->opcode & 0xff) == 0xe7 ? insn->mandatory != 0x66
                                     : insn->mandatory != 0 &&
                                       insn->mandatory != 0x66) {
        raise_ud(cpu);
    }
    sse_prepare(cpu);
    store_m128(cpu, insn, &cpu->xmm[insn->reg], true);
}

/* 0F F7: maskmovq/maskmovdqu to DS:rDI. */
static void exec_maskmov(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t mask = insn->addrsize == 8 ? ~0ull
                  : insn->addrsize == 4 ? 0xffffffffull : 0xffff;
    uint64_t lin;
    XMMReg d, m;
    int n;

    if (insn->mod != 3) {
        raise_ud(cpu);
    }
    if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        d.q[0] = mmx_get(cpu, insn->reg);
        m.q[0] = mmx_get(cpu, insn->rm);
        n = 8;
    } else if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        d = cpu->xmm[insn->reg];
        m = cpu->xmm[insn->rm];
        n = 16;
    } else {
        raise_ud(cpu);
    }
    lin = x86_seg_linear(cpu, insn->seg, cpu->regs[R_EDI] & mask);
    for (int i = 0; i < n; i++) {
        if (m.b[i] & 0x80) {
            x86_st(cpu, lin + i, 1, d.b[i]);
        }
    }
}

/* 0F C4: pinsrw; 0F C5: pextrw. */
static void exec_pinsrw(X86CPU *cpu, const X86Insn *insn)
{
    uint16_t v;

    if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        v = insn->mod == 3 ? cpu->regs[insn->rm]
                           : x86_ld(cpu, x86_insn_linear(cpu, insn), 2);
        uint64_t mm = mmx_get(cpu, insn->reg);
        int sh = (insn->imm & 3) * 16;
        mm = (mm & ~(0xffffull << sh)) | ((uint64_t)v << sh);
        mmx_set(cpu, insn->reg, mm);
    } else if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        v = insn->mod == 3 ? cpu->regs[insn->rm]
                           : x86_ld(cpu, x86_insn_linear(cpu, insn), 2);
        cpu->xmm[insn->reg].w[insn->imm & 7] = v;
    } else {
        raise_ud(cpu);
    }
}

static void exec_pextrw(X86CPU *cpu, const X86Insn *insn)
{
    uint16_t v;

    if (insn->mod != 3) {
        raise_ud(cpu);
    }
    if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        v = mmx_get(cpu, insn->rm) >> ((insn->imm & 3) * 16);
    } else if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        v = cpu->xmm[insn->rm].w[insn->imm & 7];
    } else {
        raise_ud(cpu);
    }
    x86_reg_write(cpu, insn->reg, 8, true, v);
}

/* 0F D7: pmovmskb r32, mm|xmm. */
static void exec_pmovmskb(X86CPU *cpu, const X86Insn *insn)
{
    uint32_t m = 0;
    XMMReg s;
    int n;

    if (insn->mod != 3) {
        raise_ud(cpu);
    }
    if (insn->mandatory == 0) {
        mmx_prepare(cpu);
        s.q[0] = mmx_get(cpu, insn->rm);
        n = 8;
    } else if (insn->mandatory == 0x66) {
        sse_prepare(cpu);
        s = cpu->xmm[insn->rm];
        n = 16;
    } else {
        raise_ud(cpu);
    }
    for (int i = 0; i < n; i++) {
        m |= (uint32_t)(s.b[i] >> 7) << i;
    }
    x86_reg_write(cpu, insn->reg, 8, true, m);
}

/* ---------------------------------------------------------------------
 * fxsave/fxrstor (SDM vol. 2 FXSAVE, table 3-53 and 3-56)
 * ------------------------------------------------------------------- */

enum {
    FX_FCW = 0, FX_FSW = 2, FX_FTW = 4, FX_FOP = 6, FX_FIP = 8,
    FX_FCS = 12, FX_FDP = 16, FX_FDS = 20, FX_MXCSR = 24,
    FX_MXCSR_MASK = 28, FX_ST = 32, FX_XMM = 160,
};

static void put16(uint8_t *b, int off, uint16_t v) { memcpy(b + off, &v, 2); }
static void put32(uint8_t *b, int off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, int off, uint64_t v) { memcpy(b + off, &v, 8); }
static uint16_t get16(const uint8_t *b, int off)
{
    uint16_t v;
    memcpy(&v, b + off, 2);
    return v;
}
static uint32_t get32(const uint8_t *b, int off)
{
    uint32_t v;
    memcpy(&v, b + off, 4);
    return v;
}
static uint64_t get64(const uint8_t *b, int off)
{
    uint64_t v;
    memcpy(&v, b + off, 8);
    return v;
}

static int fx_xmm_count(X86CPU *cpu)
{
    return cpu->code_size == 8 ? 16 : 8;
}

static void fxsave(X86CPU *cpu, uint64_t lin, bool w64)
{
    uint8_t buf[512];
    int nxmm = fx_xmm_count(cpu);
    uint8_t ftw = 0;

    memset(buf, 0, FX_XMM);
    put16(buf, FX_FCW, cpu->fpuc);
    put16(buf, FX_FSW, x87_status(cpu));
    for (int i = 0; i < 8; i++) {
        if (!((cpu->fptags >> i) & 1)) {
            ftw |= 1u << i;
        }
    }
    buf[FX_FTW] = ftw;
    put16(buf, FX_FOP, cpu->fpop);
    if (w64) {
        put64(buf, FX_FIP, cpu->fpip);
        put64(buf, FX_FDP, cpu->fpdp);
    } else {
        put32(buf, FX_FIP, cpu->fpip);
        put32(buf, FX_FDP, cpu->fpdp);
    }
    put32(buf, FX_MXCSR, cpu->mxcsr);
    put32(buf, FX_MXCSR_MASK, MXCSR_VALID);
    for (int i = 0; i < 8; i++) {
        const FPReg *r = &cpu->fpregs[(cpu->fpstt + i) & 7];
        put64(buf, FX_ST + 16 * i, r->raw.mant);
        put16(buf, FX_ST + 16 * i + 8, r->raw.exp);
    }
    memcpy(buf + FX_XMM, cpu->xmm, 16 * nxmm);
    /* The reserved and software-available bytes are left alone. */
    x86_write(cpu, lin, buf, FX_XMM + 16 * nxmm);
}

static void fxrstor(X86CPU *cpu, uint64_t lin, bool w64)
{
    uint8_t buf[512];
    uint32_t mxcsr;

    x86_read(cpu, lin, buf, 512);
    mxcsr = get32(buf, FX_MXCSR);
    if (mxcsr & ~MXCSR_VALID) {
        x86_raise_exception_err(cpu, EXCP_GP, 0);
    }
    cpu->fpuc = get16(buf, FX_FCW);
    x87_set_status(cpu, get16(buf, FX_FSW));
    cpu->fptags = ~buf[FX_FTW];
    cpu->fpop = get16(buf, FX_FOP) & 0x7ff;
    if (w64) {
        cpu->fpip = get64(buf, FX_FIP);
        cpu->fpdp = get64(buf, FX_FDP);
    } else {
        cpu->fpip = get32(buf, FX_FIP);
        cpu->fpdp = get32(buf, FX_FDP);
    }
    cpu->mxcsr = mxcsr;
    for (int i = 0; i < 8; i++) {
        FPReg *r = &cpu->fpregs[(cpu->fpstt + i) & 7];
        r->raw.mant = get64(buf, FX_ST + 16 * i);
        r->raw.exp = get16(buf, FX_ST + 16 * i + 8);
    }
    memcpy(cpu->xmm, buf + FX_XMM, 16 * fx_xmm_count(cpu));
}

/* 0F AE: fxsave, fxrstor, ldmxcsr, stmxcsr, fences, clflush. */
static void exec_grp15(X86CPU *cpu, const X86Insn *insn)
{
    int reg = insn->reg & 7;
    uint64_t lin;

    if (insn->mod == 3) {
        if (insn->mandatory != 0 || reg < 5) {
            raise_ud(cpu);          /* rdfsbase & co are not advertised */
        }
        /* lfence, mfence, sfence */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return;
    }
    if (reg == 7 && (insn->mandatory == 0 || insn->mandatory == 0x66)) {
        /* clflush/clflushopt: only the translation, so faults happen */
        lin = x86_insn_linear(cpu, insn);
        x86_host_ptr(cpu, lin, 1, false);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return;
    }
    if (insn->mandatory != 0 || reg >= 4) {
        raise_ud(cpu);              /* xsave family: not advertised */
    }
    switch (reg) {
    case 0: case 1:
        if (cpu->cr0 & (CR0_TS | CR0_EM)) {
            x86_raise_exception(cpu, EXCP_NM);
        }
        lin = mem_addr(cpu, insn, true);
        if (reg == 0) {
            fxsave(cpu, lin, insn->rex & 8);
        } else {
            fxrstor(cpu, lin, insn->rex & 8);
        }
        return;
    case 2: {
        sse_prepare(cpu);
        uint32_t v = x86_ld(cpu, x86_insn_linear(cpu, insn), 4);
        if (v & ~MXCSR_VALID) {
            x86_raise_exception_err(cpu, EXCP_GP, 0);
        }
        cpu->mxcsr = v;
        return;
    }
    default:
        sse_prepare(cpu);
        x86_st(cpu, x86_insn_linear(cpu, insn), 4, cpu->mxcsr);
        return;
    }
}

/* ---------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------- */

void x86_exec_sse(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;

    switch (insn->opcode & 0xf00) {
    case X86_MAP_0F38:
        sse_exec_0f38(cpu, insn);
        return;
    case X86_MAP_0F3A:
        sse_exec_0f3a(cpu, insn);
        return;
    }

    switch (op) {
    case 0x10: exec_mov_10(cpu, insn, false); return;
    case 0x11: exec_mov_10(cpu, insn, true); return;
    case 0x12: exec_mov_12(cpu, insn, false); return;
    case 0x13: exec_mov_13(cpu, insn, false); return;
    case 0x14: exec_unpck(cpu, insn, false); return;
    case 0x15: exec_unpck(cpu, insn, true); return;
    case 0x16: exec_mov_12(cpu, insn, true); return;
    case 0x17: exec_mov_13(cpu, insn, true); return;
    case 0x28: exec_movap(cpu, insn, false); return;
    case 0x29: exec_movap(cpu, insn, true); return;
    case 0x2b: exec_movnt(cpu, insn); return;
    case 0x50: exec_movmsk(cpu, insn); return;
    case 0x54 ... 0x57: exec_logic_ps(cpu, insn); return;
    case 0x6e: exec_movd_load(cpu, insn); return;
    case 0x6f: exec_movdq(cpu, insn, false); return;
    case 0x7e: exec_movd_store(cpu, insn); return;
    case 0x7f: exec_movdq(cpu, insn, true); return;
    case 0x77:                                  /* emms */
        if (insn->mandatory != 0) {
            raise_ud(cpu);
        }
        mmx_prepare(cpu);
        cpu->fptags = 0xff;
        return;
    case 0xae: exec_grp15(cpu, insn); return;
    case 0xc3:                                  /* movnti */
        if (insn->mod == 3 || insn->mandatory != 0) {
            raise_ud(cpu);
        }
        x86_st(cpu, x86_insn_linear(cpu, insn), (insn->rex & 8) ? 8 : 4,
               cpu->regs[insn->reg]);
        return;
    case 0xc4: exec_pinsrw(cpu, insn); return;
    case 0xc5: exec_pextrw(cpu, insn); return;
    case 0xc6: exec_shufp(cpu, insn); return;
    case 0xd6: exec_movq_d6(cpu, insn); return;
    case 0xd7: exec_pmovmskb(cpu, insn); return;
    case 0xe7: exec_movnt(cpu, insn); return;
    case 0xf0:                                  /* lddqu */
        if (insn->mandatory != 0xf2 || insn->mod == 3) {
            raise_ud(cpu);
        }
        sse_prepare(cpu);
        sse_load_m128(cpu, insn, &cpu->xmm[insn->reg], false);
        return;
    case 0xf7: exec_maskmov(cpu, insn); return;
    }
    if (sse_exec_fp(cpu, insn) || sse_exec_int(cpu, insn)) {
        return;
    }
    raise_ud(cpu);
}
