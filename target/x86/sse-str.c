/*
 * SSE4.2 string compares (pcmpestri, pcmpestrm, pcmpistri, pcmpistrm;
 * Intel SDM vol. 2 section 4.1) and crc32 with the CRC32C polynomial.
 * glibc's strlen/strchr/strstr/strcmp families rely on every imm8 mode.
 */
#include "fpu-internal.h"
#include "flags.h"

/* Element i of v: bytes or words, signed or not (imm8 bits 1:0). */
static int element(const XMMReg *v, int i, uint8_t imm)
{
    switch (imm & 3) {
    case 0: return v->b[i];
    case 1: return v->w[i];
    case 2: return v->sb[i];
    default: return v->sw[i];
    }
}

static int implicit_len(const XMMReg *v, uint8_t imm, int n)
{
    for (int i = 0; i < n; i++) {
        if (element(v, i, imm) == 0) {
            return i;
        }
    }
    return n;
}

/* The aggregation of imm8 bits 3:2 for element j of b (IntRes1 bit j). */
static bool aggregate(const XMMReg *a, const XMMReg *b, int la, int lb,
                      int n, int j, uint8_t imm)
{
    int bj = j < lb ? element(b, j, imm) : 0;

    switch ((imm >> 2) & 3) {
    case 0:                             /* equal any */
        if (j >= lb) {
            return false;
        }
        for (int i = 0; i < la; i++) {
            if (element(a, i, imm) == bj) {
                return true;
            }
        }
        return false;
    case 1:                             /* ranges: a holds [lo, hi] pairs */
        if (j >= lb) {
            return false;
        }
        for (int i = 0; i + 1 < la; i += 2) {
            if (element(a, i, imm) <= bj && bj <= element(a, i + 1, imm)) {
                return true;
            }
        }
        return false;
    case 2:                             /* equal each */
        if (j >= la || j >= lb) {
            return j >= la && j >= lb;
        }
        return element(a, j, imm) == bj;
    default:                            /* equal ordered: a is a substring
                                           of b starting at j */
        for (int k = 0; k < n - j; k++) {
            if (k >= la) {
                return true;
            }
            if (j + k >= lb || element(a, k, imm) != element(b, j + k, imm)) {
                return false;
            }
        }
        return true;
    }
}

uint32_t sse_pcmpstr(const XMMReg *a, const XMMReg *b, int la, int lb,
                     uint8_t imm, uint32_t *flags)
{
    int n = (imm & 1) ? 8 : 16;
    uint32_t all = (1u << n) - 1, res1 = 0, res2;

    if (la < 0) {
        la = implicit_len(a, imm, n);
    }
    if (lb < 0) {
        lb = implicit_len(b, imm, n);
    }
    for (int j = 0; j < n; j++) {
        if (aggregate(a, b, la, lb, n, j, imm)) {
            res1 |= 1u << j;
        }
    }
    switch ((imm >> 4) & 3) {
    case 1:                             /* negative */
        res2 = ~res1 & all;
        break;
    case 3:                             /* masked negative: valid b only */
        res2 = res1 ^ ((1u << lb) - 1);
        break;
    default:
        res2 = res1;
        break;
    }
    *flags = (res2 ? CC_C : 0) | (lb < n ? CC_Z : 0) | (la < n ? CC_S : 0) |
             ((res2 & 1) ? CC_O : 0);
    return res2;
}

/* pcmpestr*: |length| from rAX/rDX, saturated to the element count. */
static int explicit_len(X86CPU *cpu, int reg, bool w, int n)
{
    int64_t v = w ? (int64_t)cpu->regs[reg] : (int32_t)cpu->regs[reg];

    if (v < 0) {
        v = v == INT64_MIN ? n : -v;
    }
    return v > n ? n : v;
}

void sse_exec_pcmpstr(X86CPU *cpu, const X86Insn *insn)
{
    int op = insn->opcode & 0xff;
    uint8_t imm = insn->imm;
    int n = (imm & 1) ? 8 : 16;
    bool is_explicit = op < 0x62, index = op & 1;
    int la = -1, lb = -1;
    uint32_t res, flags;
    XMMReg b;

    sse_prepare(cpu);
    /* The string instructions take unaligned memory operands. */
    sse_load_src(cpu, insn, &b, false);
    if (is_explicit) {
        la = explicit_len(cpu, R_EAX, insn->rex & 8, n);
        lb = explicit_len(cpu, R_EDX, insn->rex & 8, n);
    }
    res = sse_pcmpstr(&cpu->xmm[insn->reg], &b, la, lb, imm, &flags);
    if (index) {
        uint32_t idx = n;
        if (res) {
            idx = (imm & 0x40) ? 31 - __builtin_clz(res) : __builtin_ctz(res);
        }
        x86_reg_write(cpu, R_ECX, 4, false, idx);
    } else {
        XMMReg m;

        memset(&m, 0, sizeof(m));
        if (!(imm & 0x40)) {
            m.l[0] = res;
        } else {
            for (int i = 0; i < n; i++) {
                if ((res >> i) & 1) {
                    if (n == 8) {
                        m.w[i] = 0xffff;
                    } else {
                        m.b[i] = 0xff;
                    }
                }
            }
        }
        cpu->xmm[0] = m;
    }
    x86_set_eflags(cpu, flags, CC_ALL);
}

/* CRC32C, reflected polynomial 0x82f63b78; no inversion (the instruction
 * leaves it to software). */
uint32_t sse_crc32c(uint32_t crc, uint64_t v, int size)
{
    for (int i = 0; i < size; i++) {
        crc ^= (v >> (8 * i)) & 0xff;
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0);
        }
    }
    return crc;
}

void sse_exec_crc32(X86CPU *cpu, const X86Insn *insn)
{
    int size = (insn->opcode & 0xff) == 0xf0 ? 1 : insn->opsize;
    uint64_t v;
    uint32_t crc;

    if (insn->mod == 3) {
        v = x86_reg_read(cpu, insn->rm, size, insn->rex != 0);
    } else {
        v = x86_ld(cpu, x86_insn_linear(cpu, insn), size);
    }
    crc = sse_crc32c(cpu->regs[insn->reg], v, size);
    x86_reg_write(cpu, insn->reg, (insn->rex & 8) ? 8 : 4, true, crc);
}
