/*
 * MMX and SSE..SSE4.2 instructions of the software CPU, executed through
 * x86_exec_sse on register operands and checked against the definitions
 * of the Intel SDM vol. 2: saturation, shuffles, the SSE4.2 string
 * compares glibc's string functions use, crc32, conversions under every
 * rounding mode, NaN rules, comparison flags and SIMD exceptions.
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "../../target/x86/fpu-internal.h"

#define M0F     X86_MAP_0F
#define M38     X86_MAP_0F38
#define M3A     X86_MAP_0F3A

static X86CPU *new_cpu(void)
{
    X86CPU *cpu = g_new0(X86CPU, 1);

    cpu->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
    cpu->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
    cpu->mxcsr = 0x1f80;
    cpu->code_size = 8;
    cpu->long_mode = true;
    x87_reset(cpu);
    return cpu;
}

/* A register-to-register instruction: modrm.reg = reg, modrm.rm = rm. */
static X86Insn insn_rr(uint16_t opcode, uint8_t prefix, int reg, int rm,
                       uint8_t imm)
{
    X86Insn i;

    memset(&i, 0, sizeof(i));
    i.opcode = opcode;
    i.mandatory = prefix;
    i.opsize = 4;
    i.addrsize = 8;
    i.has_modrm = true;
    i.mod = 3;
    i.reg = reg;
    i.rm = rm;
    i.imm = imm;
    i.base = X86_BASE_NONE;
    i.index = X86_BASE_NONE;
    i.seg = R_DS;
    return i;
}

/* Runs insn; returns the exception vector raised, or -1. */
static int run(X86CPU *cpu, const X86Insn *insn)
{
    if (sigsetjmp(cpu->exception_env, 0)) {
        return cpu->exception_vector;
    }
    x86_exec_sse(cpu, insn);
    return -1;
}

static void exec(X86CPU *cpu, uint16_t opcode, uint8_t prefix, int reg,
                 int rm, uint8_t imm)
{
    X86Insn i = insn_rr(opcode, prefix, reg, rm, imm);

    g_assert_cmpint(run(cpu, &i), ==, -1);
}

static void set_bytes(XMMReg *r, const void *src, size_t n)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->b, src, n);
}

static uint32_t fbits(float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    return v;
}

static uint32_t arith_flags(X86CPU *cpu)
{
    return x86_compute_flags(cpu) & CC_ALL;
}

static void test_saturation(void)
{
    X86CPU *cpu = new_cpu();
    static const int8_t a[16] = { 100, -100, 127, -128, 5 };
    static const int8_t b[16] = { 100, -100, 1, -1, -10 };
    static const uint8_t ua[16] = { 200, 100, 255, 0, 10 };
    static const uint8_t ub[16] = { 100, 100, 1, 0, 20 };
    static const int16_t w[8] = { 300, -300, 5, -5, 127, -129, 0, 32767 };

    set_bytes(&cpu->xmm[1], a, 16);
    set_bytes(&cpu->xmm[2], b, 16);
    exec(cpu, M0F | 0xec, 0x66, 1, 2, 0);            /* paddsb */
    g_assert_cmpint(cpu->xmm[1].sb[0], ==, 127);
    g_assert_cmpint(cpu->xmm[1].sb[1], ==, -128);
    g_assert_cmpint(cpu->xmm[1].sb[2], ==, 127);
    g_assert_cmpint(cpu->xmm[1].sb[3], ==, -128);
    g_assert_cmpint(cpu->xmm[1].sb[4], ==, -5);

    set_bytes(&cpu->xmm[1], ua, 16);
    set_bytes(&cpu->xmm[2], ub, 16);
    exec(cpu, M0F | 0xdc, 0x66, 1, 2, 0);            /* paddusb */
    g_assert_cmpuint(cpu->xmm[1].b[0], ==, 255);
    g_assert_cmpuint(cpu->xmm[1].b[1], ==, 200);
    g_assert_cmpuint(cpu->xmm[1].b[2], ==, 255);
    set_bytes(&cpu->xmm[1], ua, 16);
    exec(cpu, M0F | 0xd8, 0x66, 1, 2, 0);            /* psubusb */
    g_assert_cmpuint(cpu->xmm[1].b[0], ==, 100);
    g_assert_cmpuint(cpu->xmm[1].b[1], ==, 0);
    g_assert_cmpuint(cpu->xmm[1].b[4], ==, 0);

    memcpy(cpu->xmm[3].w, w, 16);
    cpu->xmm[4] = cpu->xmm[3];
    exec(cpu, M0F | 0x63, 0x66, 3, 4, 0);            /* packsswb */
    static const int8_t pss[8] = { 127, -128, 5, -5, 127, -128, 0, 127 };
    g_assert_cmpmem(cpu->xmm[3].sb, 8, pss, 8);
    g_assert_cmpmem(cpu->xmm[3].sb + 8, 8, pss, 8);

    memcpy(cpu->xmm[3].w, w, 16);
    exec(cpu, M0F | 0x67, 0x66, 3, 4, 0);            /* packuswb */
    static const uint8_t pus[8] = { 255, 0, 5, 0, 127, 0, 0, 255 };
    g_assert_cmpmem(cpu->xmm[3].b, 8, pus, 8);

    cpu->xmm[5].sl[0] = 70000;
    cpu->xmm[5].sl[1] = -70000;
    cpu->xmm[5].sl[2] = 5;
    cpu->xmm[5].sl[3] = -32769;
    cpu->xmm[6] = cpu->xmm[5];
    exec(cpu, M0F | 0x6b, 0x66, 5, 6, 0);            /* packssdw */
    g_assert_cmpint(cpu->xmm[5].sw[0], ==, 32767);
    g_assert_cmpint(cpu->xmm[5].sw[1], ==, -32768);
    g_assert_cmpint(cpu->xmm[5].sw[2], ==, 5);
    g_assert_cmpint(cpu->xmm[5].sw[3], ==, -32768);

    cpu->xmm[5].sl[0] = 70000;
    cpu->xmm[5].sl[1] = -1;
    cpu->xmm[5].sl[2] = 65535;
    exec(cpu, M38 | 0x2b, 0x66, 5, 5, 0);            /* packusdw */
    g_assert_cmpuint(cpu->xmm[5].w[0], ==, 65535);
    g_assert_cmpuint(cpu->xmm[5].w[1], ==, 0);
    g_assert_cmpuint(cpu->xmm[5].w[2], ==, 65535);
    g_free(cpu);
}

/* MMX registers are the x87 mantissas; MMX use sets TOP = 0 and every
 * tag valid, emms empties them (SDM vol. 1 9.5). */
static void test_mmx_alias(void)
{
    X86CPU *cpu = new_cpu();

    cpu->fpstt = 5;
    mmx_set(cpu, 0, 0x80017fff00027ffeull);   /* words 7ffe 0002 7fff 8001 */
    mmx_set(cpu, 1, 0xffff000100010002ull);   /* words 2 1 1 -1 */
    exec(cpu, M0F | 0xed, 0, 0, 1, 0);       /* paddsw mm0, mm1 */
    g_assert_cmphex(cpu->fpregs[0].raw.mant, ==, 0x80007fff00037fffull);
    g_assert_cmphex(cpu->fpregs[0].raw.exp, ==, 0xffff);
    g_assert_cmpuint(cpu->fptags, ==, 0);
    g_assert_cmpuint(cpu->fpstt, ==, 0);
    exec(cpu, M0F | 0x77, 0, 0, 0, 0);        /* emms */
    g_assert_cmpuint(cpu->fptags, ==, 0xff);

    /* pmovmskb eax, mm0 */
    exec(cpu, M0F | 0xd7, 0, R_EAX, 0, 0);
    g_assert_cmphex(cpu->regs[R_EAX], ==, 0x91);
    g_free(cpu);
}

static void test_pshufb_palignr(void)
{
    X86CPU *cpu = new_cpu();
    static const uint8_t mask[16] = { 15, 0x80, 3, 0x8f, 0x11, 0, 7, 8 };

    for (int i = 0; i < 16; i++) {
        cpu->xmm[1].b[i] = 0x10 + i;
        cpu->xmm[2].b[i] = i;
    }
    set_bytes(&cpu->xmm[3], mask, 16);
    cpu->xmm[4] = cpu->xmm[1];
    exec(cpu, M38 | 0x00, 0x66, 4, 3, 0);            /* pshufb */
    static const uint8_t exp_shuf[8] = { 0x1f, 0, 0x13, 0, 0x11, 0x10,
                                         0x17, 0x18 };
    g_assert_cmpmem(cpu->xmm[4].b, 8, exp_shuf, 8);
    g_assert_cmpuint(cpu->xmm[4].b[15], ==, 0x10);

    cpu->xmm[4] = cpu->xmm[1];
    exec(cpu, M3A | 0x0f, 0x66, 4, 2, 4);            /* palignr 4 */
    for (int i = 0; i < 16; i++) {
        g_assert_cmpuint(cpu->xmm[4].b[i], ==, i < 12 ? 4 + i : 0x10 + i - 12);
    }
    cpu->xmm[4] = cpu->xmm[1];
    exec(cpu, M3A | 0x0f, 0x66, 4, 2, 20);           /* palignr 20 */
    for (int i = 0; i < 16; i++) {
        g_assert_cmpuint(cpu->xmm[4].b[i], ==, i < 12 ? 0x14 + i : 0);
    }
    cpu->xmm[4] = cpu->xmm[1];
    exec(cpu, M3A | 0x0f, 0x66, 4, 2, 32);
    g_assert_cmphex(cpu->xmm[4].q[0] | cpu->xmm[4].q[1], ==, 0);

    mmx_set(cpu, 0, 0x1716151413121110ull);
    mmx_set(cpu, 1, 0x0706050403020100ull);
    exec(cpu, M3A | 0x0f, 0, 0, 1, 3);               /* palignr mm, 3 */
    g_assert_cmphex(mmx_get(cpu, 0), ==, 0x1211100706050403ull);

    /* pshufd, pshufhw */
    cpu->xmm[5].l[0] = 10; cpu->xmm[5].l[1] = 11;
    cpu->xmm[5].l[2] = 12; cpu->xmm[5].l[3] = 13;
    exec(cpu, M0F | 0x70, 0x66, 6, 5, 0x1b);
    g_assert_cmpuint(cpu->xmm[6].l[0], ==, 13);
    g_assert_cmpuint(cpu->xmm[6].l[3], ==, 10);
    g_free(cpu);
}

static void set_str(XMMReg *r, const char *s)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->b, s, MIN(strlen(s), 16));
}

/* pcmpistri xmm1, xmm2, imm: returns ECX, *flags the arithmetic flags. */
static uint32_t pcmpistri(X86CPU *cpu, const char *a, const char *b,
                          uint8_t imm, uint32_t *flags)
{
    set_str(&cpu->xmm[1], a);
    set_str(&cpu->xmm[2], b);
    cpu->regs[R_ECX] = 0xdeadbeefcafeull;
    exec(cpu, M3A | 0x63, 0x66, 1, 2, imm);
    *flags = arith_flags(cpu);
    return cpu->regs[R_ECX];
}

static void test_pcmpistri(void)
{
    X86CPU *cpu = new_cpu();
    uint32_t f;

    /* equal any: the first vowel of "hello world" */
    g_assert_cmpuint(pcmpistri(cpu, "aeiou", "hello world", 0x00, &f), ==, 1);
    g_assert_cmphex(f, ==, CC_C | CC_Z | CC_S);
    /* most significant index */
    g_assert_cmpuint(pcmpistri(cpu, "aeiou", "hello world", 0x40, &f), ==, 7);
    /* no match: index 16, CF clear */
    g_assert_cmpuint(pcmpistri(cpu, "xyz", "hello world", 0x00, &f), ==, 16);
    g_assert_cmphex(f, ==, CC_Z | CC_S);

    /* ranges: letters of "12ab!Cd" */
    g_assert_cmpuint(pcmpistri(cpu, "azAZ", "12ab!Cd", 0x04, &f), ==, 2);
    g_assert_cmpuint(pcmpistri(cpu, "azAZ", "12ab!Cd", 0x44, &f), ==, 6);
    /* negative polarity: everything else, including past the end */
    g_assert_cmpuint(pcmpistri(cpu, "azAZ", "12ab!Cd", 0x14, &f), ==, 0);
    g_assert_cmpuint(pcmpistri(cpu, "azAZ", "ab", 0x54, &f), ==, 15);
    /* masked negative: only the valid part of b */
    g_assert_cmpuint(pcmpistri(cpu, "azAZ", "12ab!Cd", 0x74, &f), ==, 4);
    g_assert_cmpuint(pcmpistri(cpu, "azAZ", "ab", 0x34, &f), ==, 16);
    g_assert_cmphex(f & CC_C, ==, 0);

    /* equal each, negative: strcmp's first difference */
    g_assert_cmpuint(pcmpistri(cpu, "hello", "help", 0x18, &f), ==, 3);
    g_assert_cmphex(f, ==, CC_C | CC_Z | CC_S);
    g_assert_cmpuint(pcmpistri(cpu, "same", "same", 0x18, &f), ==, 16);
    g_assert_cmphex(f, ==, CC_Z | CC_S);

    /* equal ordered: strstr */
    g_assert_cmpuint(pcmpistri(cpu, "lo w", "hello world", 0x0c, &f), ==, 3);
    g_assert_cmphex(f, ==, CC_C | CC_Z | CC_S);
    /* a match cut by the end of the string is no match ... */
    g_assert_cmpuint(pcmpistri(cpu, "ldx", "world", 0x0c, &f), ==, 16);
    /* ... but one cut by the end of the register is */
    g_assert_cmpuint(pcmpistri(cpu, "ldx", "aaaaaaaaaaaaaald", 0x0c, &f),
                     ==, 14);
    g_assert_cmphex(f, ==, CC_C | CC_S);
    /* empty needle matches at 0 */
    g_assert_cmpuint(pcmpistri(cpu, "", "abc", 0x0c, &f), ==, 0);
    g_assert_cmphex(f, ==, CC_C | CC_Z | CC_S | CC_O);
    g_free(cpu);
}

static void test_pcmpestr(void)
{
    X86CPU *cpu = new_cpu();

    /* signed words, equal any, explicit lengths 2 and 4 */
    memset(&cpu->xmm[1], 0, 16);
    memset(&cpu->xmm[2], 0, 16);
    cpu->xmm[1].sw[0] = 5;
    cpu->xmm[1].sw[1] = -3;
    cpu->xmm[1].sw[2] = 1;          /* beyond the length: ignored */
    cpu->xmm[2].sw[0] = 1;
    cpu->xmm[2].sw[1] = -3;
    cpu->xmm[2].sw[2] = 5;
    cpu->xmm[2].sw[3] = 7;
    cpu->xmm[2].sw[5] = 5;          /* beyond the length */
    cpu->regs[R_EAX] = (uint32_t)-2;
    cpu->regs[R_EDX] = 4;
    exec(cpu, M3A | 0x61, 0x66, 1, 2, 0x03);
    g_assert_cmpuint(cpu->regs[R_ECX], ==, 1);
    g_assert_cmphex(arith_flags(cpu), ==, CC_C | CC_Z | CC_S);

    /* lengths saturate at 8 words: ZF and SF clear */
    cpu->regs[R_EAX] = 2;
    cpu->regs[R_EDX] = 100;
    exec(cpu, M3A | 0x61, 0x66, 1, 2, 0x43);
    g_assert_cmpuint(cpu->regs[R_ECX], ==, 5);
    g_assert_cmphex(arith_flags(cpu), ==, CC_C | CC_S);

    /* pcmpistrm: bit mask and byte mask in xmm0 */
    set_str(&cpu->xmm[1], "ab");
    set_str(&cpu->xmm[2], "xaybz");
    exec(cpu, M3A | 0x62, 0x66, 1, 2, 0x00);
    g_assert_cmphex(cpu->xmm[0].q[0], ==, 0xa);
    g_assert_cmphex(cpu->xmm[0].q[1], ==, 0);
    exec(cpu, M3A | 0x62, 0x66, 1, 2, 0x40);
    g_assert_cmphex(cpu->xmm[0].q[0], ==, 0xff00ff00ull);
    g_assert_cmphex(cpu->xmm[0].q[1], ==, 0);
    g_free(cpu);
}

static void test_crc32(void)
{
    X86CPU *cpu = new_cpu();
    const char *s = "123456789";
    X86Insn i;
    uint64_t q;

    /* CRC-32C check value (RFC 3720 B.4): 0xe3069283 */
    cpu->regs[R_EAX] = 0xffffffff;
    for (int k = 0; k < 9; k++) {
        cpu->regs[R_EBX] = (uint8_t)s[k];
        exec(cpu, M38 | 0xf0, 0xf2, R_EAX, R_EBX, 0);
    }
    g_assert_cmphex(cpu->regs[R_EAX] ^ 0xffffffff, ==, 0xe3069283);

    /* eight bytes at once equal the byte steps */
    memcpy(&q, "12345678", 8);
    cpu->regs[R_EAX] = 0xffffffff;
    cpu->regs[R_EBX] = q;
    i = insn_rr(M38 | 0xf1, 0xf2, R_EAX, R_EBX, 0);
    i.rex = 0x48;
    i.opsize = 8;
    g_assert_cmpint(run(cpu, &i), ==, -1);
    cpu->regs[R_EBX] = '9';
    exec(cpu, M38 | 0xf0, 0xf2, R_EAX, R_EBX, 0);
    g_assert_cmphex(cpu->regs[R_EAX] ^ 0xffffffff, ==, 0xe3069283);

    /* movbe is not advertised */
    i = insn_rr(M38 | 0xf0, 0, R_EAX, R_EBX, 0);
    g_assert_cmpint(run(cpu, &i), ==, EXCP_UD);
    g_free(cpu);
}

static int64_t cvt_f32(X86CPU *cpu, uint16_t op, float v, int rc, bool w)
{
    X86Insn i = insn_rr(M0F | op, 0xf3, R_EAX, 1, 0);

    if (w) {
        i.rex = 0x48;
        i.opsize = 8;
    }
    cpu->mxcsr = 0x1f80 | (rc << MXCSR_RC_SHIFT);
    cpu->xmm[1].s[0] = v;
    cpu->regs[R_EAX] = 0x5555555555555555ull;
    g_assert_cmpint(run(cpu, &i), ==, -1);
    return w ? (int64_t)cpu->regs[R_EAX] : (int32_t)cpu->regs[R_EAX];
}

static void test_cvt_rounding(void)
{
    X86CPU *cpu = new_cpu();
    static const struct {
        float v;
        int r[4];       /* RN, RD, RU, RZ */
    } cases[] = {
        { 2.5f, { 2, 2, 3, 2 } },
        { -2.5f, { -2, -3, -2, -2 } },
        { 3.5f, { 4, 3, 4, 3 } },
        { -0.4f, { 0, -1, 0, 0 } },
    };

    for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
        for (int rc = 0; rc < 4; rc++) {
            g_assert_cmpint(cvt_f32(cpu, 0x2d, cases[k].v, rc, false), ==,
                            cases[k].r[rc]);
            g_assert_cmpint(cvt_f32(cpu, 0x2d, cases[k].v, rc, true), ==,
                            cases[k].r[rc]);
        }
        /* cvttss2si truncates whatever RC says */
        g_assert_cmpint(cvt_f32(cpu, 0x2c, cases[k].v, RC_UP, false), ==,
                        (int)cases[k].v);
    }
    g_assert_cmphex(cpu->mxcsr & MXCSR_PE, ==, MXCSR_PE);

    /* out of range: the integer indefinite and IE */
    g_assert_cmphex((uint32_t)cvt_f32(cpu, 0x2c, 1e10f, 0, false), ==,
                    0x80000000u);
    g_assert_cmphex(cpu->mxcsr & MXCSR_IE, ==, MXCSR_IE);
    g_assert_cmpint(cvt_f32(cpu, 0x2c, 1e10f, 0, true), ==, 10000000000ll);
    g_assert_cmphex((uint64_t)cvt_f32(cpu, 0x2d, NAN, 0, true), ==,
                    0x8000000000000000ull);

    /* cvtsd2si with REX.W out of range */
    X86Insn i = insn_rr(M0F | 0x2d, 0xf2, R_EBX, 2, 0);
    i.rex = 0x48;
    cpu->mxcsr = 0x1f80;
    cpu->xmm[2].d[0] = 1e19;
    g_assert_cmpint(run(cpu, &i), ==, -1);
    g_assert_cmphex(cpu->regs[R_EBX], ==, 0x8000000000000000ull);

    /* cvtsi2ss with REX.W rounds 2^63-1 by RC */
    i = insn_rr(M0F | 0x2a, 0xf3, 3, R_ECX, 0);
    i.rex = 0x48;
    cpu->regs[R_ECX] = 0x7fffffffffffffffull;
    cpu->xmm[3].l[1] = 0x12345678;
    g_assert_cmpint(run(cpu, &i), ==, -1);
    g_assert_cmphex(cpu->xmm[3].l[0], ==, 0x5f000000);
    g_assert_cmphex(cpu->xmm[3].l[1], ==, 0x12345678);
    cpu->mxcsr = 0x1f80 | (RC_ZERO << MXCSR_RC_SHIFT);
    g_assert_cmpint(run(cpu, &i), ==, -1);
    g_assert_cmphex(cpu->xmm[3].l[0], ==, 0x5effffff);

    /* cvtdq2ps / cvttps2dq round trip with the indefinite */
    cpu->mxcsr = 0x1f80;
    cpu->xmm[4].s[0] = 1.75f;
    cpu->xmm[4].s[1] = -1.75f;
    cpu->xmm[4].s[2] = 3e9f;
    cpu->xmm[4].s[3] = 7.0f;
    exec(cpu, M0F | 0x5b, 0xf3, 5, 4, 0);
    g_assert_cmpint(cpu->xmm[5].sl[0], ==, 1);
    g_assert_cmpint(cpu->xmm[5].sl[1], ==, -1);
    g_assert_cmphex(cpu->xmm[5].l[2], ==, 0x80000000u);
    g_assert_cmpint(cpu->xmm[5].sl[3], ==, 7);
    exec(cpu, M0F | 0x5b, 0x66, 5, 4, 0);            /* cvtps2dq */
    g_assert_cmpint(cpu->xmm[5].sl[0], ==, 2);
    g_assert_cmpint(cpu->xmm[5].sl[1], ==, -2);
    g_free(cpu);
}

static void test_minmax_nan(void)
{
    X86CPU *cpu = new_cpu();
    float qnan = NAN;

    /* If either is a NaN or both are zeros, the second operand wins. */
    cpu->xmm[1].s[0] = qnan;
    cpu->xmm[1].s[1] = 1.0f;
    cpu->xmm[1].s[2] = 0.0f;
    cpu->xmm[1].s[3] = -0.0f;
    cpu->xmm[2].s[0] = 1.0f;
    cpu->xmm[2].s[1] = -qnan;
    cpu->xmm[2].s[2] = -0.0f;
    cpu->xmm[2].s[3] = 0.0f;
    XMMReg a = cpu->xmm[1];
    exec(cpu, M0F | 0x5d, 0, 1, 2, 0);               /* minps */
    g_assert_cmphex(cpu->xmm[1].l[0], ==, fbits(1.0f));
    g_assert_cmphex(cpu->xmm[1].l[1], ==, fbits(-qnan));
    g_assert_cmphex(cpu->xmm[1].l[2], ==, fbits(-0.0f));
    g_assert_cmphex(cpu->xmm[1].l[3], ==, fbits(0.0f));
    cpu->xmm[1] = a;
    exec(cpu, M0F | 0x5f, 0, 1, 2, 0);               /* maxps */
    g_assert_cmphex(cpu->xmm[1].l[0], ==, fbits(1.0f));
    g_assert_cmphex(cpu->xmm[1].l[1], ==, fbits(-qnan));
    g_assert_cmphex(cpu->xmm[1].l[2], ==, fbits(-0.0f));
    /* a QNaN operand of min/max is invalid */
    g_assert_cmphex(cpu->mxcsr & MXCSR_IE, ==, MXCSR_IE);

    /* minsd keeps the upper lane */
    cpu->xmm[3].d[0] = 5.0;
    cpu->xmm[3].d[1] = 9.0;
    cpu->xmm[4].d[0] = -2.0;
    exec(cpu, M0F | 0x5d, 0xf2, 3, 4, 0);
    g_assert_cmpfloat(cpu->xmm[3].d[0], ==, -2.0);
    g_assert_cmpfloat(cpu->xmm[3].d[1], ==, 9.0);
    g_free(cpu);
}

static uint32_t comis(X86CPU *cpu, uint16_t op, float a, float b)
{
    x86_set_eflags(cpu, CC_ALL, CC_ALL);
    cpu->xmm[1].s[0] = a;
    cpu->xmm[2].s[0] = b;
    exec(cpu, M0F | op, 0, 1, 2, 0);
    return arith_flags(cpu);
}

static void test_comiss(void)
{
    X86CPU *cpu = new_cpu();

    g_assert_cmphex(comis(cpu, 0x2f, 1.0f, 2.0f), ==, CC_C);
    g_assert_cmphex(comis(cpu, 0x2f, 2.0f, 1.0f), ==, 0);
    g_assert_cmphex(comis(cpu, 0x2f, 2.0f, 2.0f), ==, CC_Z);
    g_assert_cmphex(comis(cpu, 0x2f, -0.0f, 0.0f), ==, CC_Z);
    g_assert_cmphex(cpu->mxcsr & MXCSR_IE, ==, 0);
    g_assert_cmphex(comis(cpu, 0x2e, NAN, 2.0f), ==, CC_Z | CC_P | CC_C);
    g_assert_cmphex(cpu->mxcsr & MXCSR_IE, ==, 0);   /* ucomiss: QNaN ok */
    g_assert_cmphex(comis(cpu, 0x2f, NAN, 2.0f), ==, CC_Z | CC_P | CC_C);
    g_assert_cmphex(cpu->mxcsr & MXCSR_IE, ==, MXCSR_IE);

    /* comisd */
    x86_set_eflags(cpu, CC_ALL, CC_ALL);
    cpu->xmm[1].d[0] = -1.0;
    cpu->xmm[2].d[0] = 1.0;
    exec(cpu, M0F | 0x2f, 0x66, 1, 2, 0);
    g_assert_cmphex(arith_flags(cpu), ==, CC_C);
    g_free(cpu);
}

static void test_cmpps(void)
{
    X86CPU *cpu = new_cpu();
    static const struct {
        int pred;
        uint32_t r[4];
    } cases[] = {
        { 0, { 0, 0, ~0u, 0 } },          /* eq */
        { 1, { ~0u, 0, 0, 0 } },          /* lt */
        { 2, { ~0u, 0, ~0u, 0 } },        /* le */
        { 3, { 0, ~0u, 0, 0 } },          /* unord */
        { 4, { ~0u, ~0u, 0, ~0u } },      /* neq */
        { 5, { 0, ~0u, ~0u, ~0u } },      /* nlt */
        { 6, { 0, ~0u, 0, ~0u } },        /* nle */
        { 7, { ~0u, 0, ~0u, ~0u } },      /* ord */
    };

    for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
        cpu->xmm[1].s[0] = 1;
        cpu->xmm[1].s[1] = NAN;
        cpu->xmm[1].s[2] = 3;
        cpu->xmm[1].s[3] = 2;
        cpu->xmm[2].s[0] = 2;
        cpu->xmm[2].s[1] = 1;
        cpu->xmm[2].s[2] = 3;
        cpu->xmm[2].s[3] = 1;
        exec(cpu, M0F | 0xc2, 0, 1, 2, cases[k].pred);
        g_assert_cmpmem(cpu->xmm[1].l, 16, cases[k].r, 16);
    }
    g_free(cpu);
}

/* Unmasked exceptions raise #XM (or #UD without OSXMMEXCPT) before the
 * destination is written (SDM vol. 1 11.5.1). */
static void test_simd_exception(void)
{
    X86CPU *cpu = new_cpu();
    X86Insn i = insn_rr(M0F | 0x5e, 0xf3, 1, 2, 0);  /* divss */

    cpu->xmm[1].s[0] = 1.0f;
    cpu->xmm[2].s[0] = 0.0f;
    g_assert_cmpint(run(cpu, &i), ==, -1);           /* masked: inf */
    g_assert_true(isinf(cpu->xmm[1].s[0]));
    g_assert_cmphex(cpu->mxcsr & MXCSR_ZE, ==, MXCSR_ZE);

    cpu->mxcsr = 0x1f80 & ~0x200;                    /* unmask ZE */
    cpu->xmm[1].s[0] = 1.0f;
    g_assert_cmpint(run(cpu, &i), ==, EXCP_XM);
    g_assert_cmpfloat(cpu->xmm[1].s[0], ==, 1.0f);
    g_assert_cmphex(cpu->mxcsr & MXCSR_ZE, ==, MXCSR_ZE);
    cpu->cr4 &= ~CR4_OSXMMEXCPT;
    g_assert_cmpint(run(cpu, &i), ==, EXCP_UD);

    cpu->cr4 = CR4_OSXMMEXCPT;                       /* no OSFXSR */
    g_assert_cmpint(run(cpu, &i), ==, EXCP_UD);
    cpu->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
    cpu->cr0 |= CR0_TS;
    g_assert_cmpint(run(cpu, &i), ==, EXCP_NM);
    cpu->cr0 &= ~CR0_TS;

    /* movdqa from a misaligned address: #GP(0) before any access */
    i = insn_rr(M0F | 0x6f, 0x66, 1, 0, 0);
    i.mod = 0;
    i.disp = 0x10008;
    g_assert_cmpint(run(cpu, &i), ==, EXCP_GP);
    g_assert_cmpuint(cpu->exception_error, ==, 0);
    g_free(cpu);
}

static void test_round(void)
{
    X86CPU *cpu = new_cpu();
    static const struct {
        float v;
        uint8_t imm;
        float r;
    } cases[] = {
        { 2.5f, 0, 2.0f }, { 3.5f, 0, 4.0f }, { -2.5f, 1, -3.0f },
        { 2.1f, 2, 3.0f }, { -2.7f, 3, -2.0f }, { -0.3f, 0, -0.0f },
        { 0.7f, 0, 1.0f }, { 0.5f, 0, 0.0f }, { -0.3f, 2, -0.0f },
        { 1e20f, 1, 1e20f }, { 8388607.5f, 0, 8388608.0f },
    };

    for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
        cpu->xmm[2].s[0] = cases[k].v;
        cpu->xmm[1].l[1] = 77;
        exec(cpu, M3A | 0x0a, 0x66, 1, 2, cases[k].imm);
        g_assert_cmphex(cpu->xmm[1].l[0], ==, fbits(cases[k].r));
        g_assert_cmpuint(cpu->xmm[1].l[1], ==, 77);
    }
    /* imm bit 2: MXCSR.RC; bit 3 suppresses the precision flag */
    cpu->mxcsr = 0x1f80 | (RC_UP << MXCSR_RC_SHIFT);
    cpu->xmm[2].s[0] = 1.25f;
    exec(cpu, M3A | 0x0a, 0x66, 1, 2, 0x0c);
    g_assert_cmpfloat(cpu->xmm[1].s[0], ==, 2.0f);
    g_assert_cmphex(cpu->mxcsr & MXCSR_PE, ==, 0);
    exec(cpu, M3A | 0x0a, 0x66, 1, 2, 0x04);
    g_assert_cmphex(cpu->mxcsr & MXCSR_PE, ==, MXCSR_PE);

    /* roundpd */
    cpu->xmm[2].d[0] = -1.5;
    cpu->xmm[2].d[1] = 4503599627370495.5;
    exec(cpu, M3A | 0x09, 0x66, 1, 2, 0);
    g_assert_cmpfloat(cpu->xmm[1].d[0], ==, -2.0);
    g_assert_cmpfloat(cpu->xmm[1].d[1], ==, 4503599627370496.0);
    g_free(cpu);
}

static void test_sse41_misc(void)
{
    X86CPU *cpu = new_cpu();

    /* ptest */
    cpu->xmm[1].q[0] = 0xf0;
    cpu->xmm[1].q[1] = 0;
    cpu->xmm[2].q[0] = 0x0f;
    cpu->xmm[2].q[1] = 0;
    exec(cpu, M38 | 0x17, 0x66, 1, 2, 0);
    g_assert_cmphex(arith_flags(cpu), ==, CC_Z);
    cpu->xmm[2].q[0] = 0x30;
    exec(cpu, M38 | 0x17, 0x66, 1, 2, 0);
    g_assert_cmphex(arith_flags(cpu), ==, CC_C);

    /* pmovsxbd / pmovzxbw */
    memset(&cpu->xmm[3], 0, 16);
    cpu->xmm[3].b[0] = 0xff;
    cpu->xmm[3].b[1] = 0x7f;
    exec(cpu, M38 | 0x21, 0x66, 4, 3, 0);
    g_assert_cmpint(cpu->xmm[4].sl[0], ==, -1);
    g_assert_cmpint(cpu->xmm[4].sl[1], ==, 127);
    exec(cpu, M38 | 0x30, 0x66, 4, 3, 0);
    g_assert_cmpuint(cpu->xmm[4].w[0], ==, 0xff);

    /* phminposuw */
    static const uint16_t w[8] = { 9, 7, 3, 8, 3, 100, 65535, 4 };
    memcpy(cpu->xmm[5].w, w, 16);
    exec(cpu, M38 | 0x41, 0x66, 6, 5, 0);
    g_assert_cmphex(cpu->xmm[6].q[0], ==, 0x00020003);
    g_assert_cmphex(cpu->xmm[6].q[1], ==, 0);

    /* pcmpgtq, pminsd, pmulld */
    cpu->xmm[1].sq[0] = -5;
    cpu->xmm[1].sq[1] = 7;
    cpu->xmm[2].sq[0] = -6;
    cpu->xmm[2].sq[1] = 8;
    exec(cpu, M38 | 0x37, 0x66, 1, 2, 0);
    g_assert_cmphex(cpu->xmm[1].q[0], ==, ~0ull);
    g_assert_cmphex(cpu->xmm[1].q[1], ==, 0);

    /* blendvps by XMM0's sign bits */
    for (int k = 0; k < 4; k++) {
        cpu->xmm[1].l[k] = k;
        cpu->xmm[2].l[k] = 10 + k;
    }
    cpu->xmm[0].l[0] = 0x80000000;
    cpu->xmm[0].l[1] = 0x7fffffff;
    cpu->xmm[0].l[2] = 0xffffffff;
    cpu->xmm[0].l[3] = 0;
    exec(cpu, M38 | 0x14, 0x66, 1, 2, 0);
    g_assert_cmpuint(cpu->xmm[1].l[0], ==, 10);
    g_assert_cmpuint(cpu->xmm[1].l[1], ==, 1);
    g_assert_cmpuint(cpu->xmm[1].l[2], ==, 12);
    g_assert_cmpuint(cpu->xmm[1].l[3], ==, 3);

    /* insertps: source lane 2 into lane 1, zero lane 3 */
    cpu->xmm[2].l[2] = 0xabcd;
    exec(cpu, M3A | 0x21, 0x66, 1, 2, (2 << 6) | (1 << 4) | 8);
    g_assert_cmpuint(cpu->xmm[1].l[1], ==, 0xabcd);
    g_assert_cmpuint(cpu->xmm[1].l[3], ==, 0);

    /* pinsrd / pextrd / pextrb */
    cpu->regs[R_EAX] = 0x1122334455667788ull;
    exec(cpu, M3A | 0x22, 0x66, 3, R_EAX, 2);
    g_assert_cmphex(cpu->xmm[3].l[2], ==, 0x55667788);
    cpu->regs[R_EBX] = ~0ull;
    exec(cpu, M3A | 0x16, 0x66, 3, R_EBX, 2);
    g_assert_cmphex(cpu->regs[R_EBX], ==, 0x55667788);
    exec(cpu, M3A | 0x14, 0x66, 3, R_EBX, 9);
    g_assert_cmphex(cpu->regs[R_EBX], ==, 0x77);

    /* dpps */
    for (int k = 0; k < 4; k++) {
        cpu->xmm[1].s[k] = k + 1;
        cpu->xmm[2].s[k] = k + 5;
    }
    XMMReg a = cpu->xmm[1];
    exec(cpu, M3A | 0x40, 0x66, 1, 2, 0xf1);
    g_assert_cmpfloat(cpu->xmm[1].s[0], ==, 70.0f);
    g_assert_cmpfloat(cpu->xmm[1].s[1], ==, 0.0f);
    cpu->xmm[1] = a;
    exec(cpu, M3A | 0x40, 0x66, 1, 2, 0x3f);
    g_assert_cmpfloat(cpu->xmm[1].s[3], ==, 17.0f);

    /* mpsadbw */
    for (int k = 0; k < 16; k++) {
        cpu->xmm[1].b[k] = k;
        cpu->xmm[2].b[k] = 0;
    }
    exec(cpu, M3A | 0x42, 0x66, 1, 2, 0);
    g_assert_cmpuint(cpu->xmm[1].w[0], ==, 0 + 1 + 2 + 3);
    g_assert_cmpuint(cpu->xmm[1].w[7], ==, 7 + 8 + 9 + 10);
    g_free(cpu);
}

static void test_ssse3_arith(void)
{
    X86CPU *cpu = new_cpu();

    /* pmaddubsw: unsigned bytes of the destination times signed ones */
    memset(&cpu->xmm[1], 0, 16);
    memset(&cpu->xmm[2], 0, 16);
    cpu->xmm[1].b[0] = 255;
    cpu->xmm[1].b[1] = 255;
    cpu->xmm[2].sb[0] = 127;
    cpu->xmm[2].sb[1] = 127;
    cpu->xmm[1].b[2] = 255;
    cpu->xmm[2].sb[2] = -128;
    exec(cpu, M38 | 0x04, 0x66, 1, 2, 0);
    g_assert_cmpint(cpu->xmm[1].sw[0], ==, 32767);
    g_assert_cmpint(cpu->xmm[1].sw[1], ==, -32640);

    /* pmulhrsw, psignw, pabsw, phaddw */
    cpu->xmm[1].sw[0] = 0x4000;
    cpu->xmm[2].sw[0] = 0x4000;
    cpu->xmm[1].sw[1] = -32768;
    cpu->xmm[2].sw[1] = -32768;
    exec(cpu, M38 | 0x0b, 0x66, 1, 2, 0);
    g_assert_cmpint(cpu->xmm[1].sw[0], ==, 0x2000);
    g_assert_cmpint(cpu->xmm[1].sw[1], ==, -32768);

    cpu->xmm[2].sw[0] = -32768;
    exec(cpu, M38 | 0x1d, 0x66, 1, 2, 0);
    g_assert_cmphex(cpu->xmm[1].w[0], ==, 0x8000);

    for (int k = 0; k < 8; k++) {
        cpu->xmm[1].sw[k] = k;
        cpu->xmm[2].sw[k] = 100 * k;
    }
    exec(cpu, M38 | 0x01, 0x66, 1, 2, 0);
    g_assert_cmpint(cpu->xmm[1].sw[0], ==, 1);
    g_assert_cmpint(cpu->xmm[1].sw[3], ==, 13);
    g_assert_cmpint(cpu->xmm[1].sw[4], ==, 100);
    g_assert_cmpint(cpu->xmm[1].sw[7], ==, 1300);

    /* shifts: arithmetic past the width fills with the sign,
     * psrldq moves bytes */
    cpu->xmm[3].sw[0] = -4;
    cpu->xmm[3].sw[1] = 4;
    exec(cpu, M0F | 0x71, 0x66, 4, 3, 20);           /* psraw xmm3, 20 */
    g_assert_cmpint(cpu->xmm[3].sw[0], ==, -1);
    g_assert_cmpint(cpu->xmm[3].sw[1], ==, 0);
    for (int k = 0; k < 16; k++) {
        cpu->xmm[3].b[k] = k;
    }
    exec(cpu, M0F | 0x73, 0x66, 3, 3, 3);            /* psrldq xmm3, 3 */
    g_assert_cmpuint(cpu->xmm[3].b[0], ==, 3);
    g_assert_cmpuint(cpu->xmm[3].b[12], ==, 15);
    g_assert_cmpuint(cpu->xmm[3].b[13], ==, 0);
    exec(cpu, M0F | 0x73, 0x66, 7, 3, 1);            /* pslldq xmm3, 1 */
    g_assert_cmpuint(cpu->xmm[3].b[0], ==, 0);
    g_assert_cmpuint(cpu->xmm[3].b[1], ==, 3);

    /* haddps / addsubps */
    for (int k = 0; k < 4; k++) {
        cpu->xmm[1].s[k] = k + 1;
        cpu->xmm[2].s[k] = 10 * (k + 1);
    }
    XMMReg a = cpu->xmm[1];
    exec(cpu, M0F | 0x7c, 0xf2, 1, 2, 0);
    g_assert_cmpfloat(cpu->xmm[1].s[0], ==, 3);
    g_assert_cmpfloat(cpu->xmm[1].s[1], ==, 7);
    g_assert_cmpfloat(cpu->xmm[1].s[2], ==, 30);
    g_assert_cmpfloat(cpu->xmm[1].s[3], ==, 70);
    cpu->xmm[1] = a;
    exec(cpu, M0F | 0xd0, 0xf2, 1, 2, 0);
    g_assert_cmpfloat(cpu->xmm[1].s[0], ==, -9);
    g_assert_cmpfloat(cpu->xmm[1].s[1], ==, 22);
    g_free(cpu);
}

/*
 * Every imm8 of the four string compares against the host's own SSE4.2
 * (when it has one): random strings over a small alphabet so that all
 * aggregations find matches, ends and partial matches.
 */
#define PCMP_CASE(insn, n)                                                  \
    case n:                                                                 \
        asm(insn " %[imm], %[b], %[a]\n\t"                                  \
            "setc %[c]\n\tsetz %[z]\n\tsets %[s]\n\tseto %[o]"              \
            : "+c"(ecx), "+Yz"(m), [c] "=qm"(f[0]), [z] "=qm"(f[1]),        \
              [s] "=qm"(f[2]), [o] "=qm"(f[3])                              \
            : [a] "x"(a), [b] "x"(b), [imm] "i"(n), "a"(eax), "d"(edx)      \
            : "cc");                                                        \
        break;
#define PCMP4(insn, n) PCMP_CASE(insn, n) PCMP_CASE(insn, n + 1) \
    PCMP_CASE(insn, n + 2) PCMP_CASE(insn, n + 3)
#define PCMP16(insn, n) PCMP4(insn, n) PCMP4(insn, n + 4) \
    PCMP4(insn, n + 8) PCMP4(insn, n + 12)
#define PCMP128(insn) PCMP16(insn, 0) PCMP16(insn, 16) PCMP16(insn, 32) \
    PCMP16(insn, 48) PCMP16(insn, 64) PCMP16(insn, 80) PCMP16(insn, 96) \
    PCMP16(insn, 112)

typedef long long v2di __attribute__((vector_size(16)));

__attribute__((target("sse4.2")))
static void host_pcmpstr(int op, uint8_t imm, const XMMReg *xa,
                         const XMMReg *xb, uint64_t eax, uint64_t edx,
                         uint32_t *ecx_out, XMMReg *mask, uint32_t *flags)
{
    v2di a, b, m = { 0, 0 };
    uint32_t ecx = 0;
    uint8_t f[4];

    memcpy(&a, xa, 16);
    memcpy(&b, xb, 16);
    switch (op) {
    case 0x60:
        switch (imm) { PCMP128("pcmpestrm") }
        break;
    case 0x61:
        switch (imm) { PCMP128("pcmpestri") }
        break;
    case 0x62:
        switch (imm) { PCMP128("pcmpistrm") }
        break;
    default:
        switch (imm) { PCMP128("pcmpistri") }
        break;
    }
    *ecx_out = ecx;
    memcpy(mask, &m, 16);
    *flags = (f[0] ? CC_C : 0) | (f[1] ? CC_Z : 0) | (f[2] ? CC_S : 0) |
             (f[3] ? CC_O : 0);
}

static void test_pcmpstr_host(void)
{
    static const uint8_t alphabet[] = { 0, 'a', 'b', 'c', 0xff, 0x80 };
    X86CPU *cpu;
    GRand *rnd;

    if (!__builtin_cpu_supports("sse4.2")) {
        g_test_skip("the host has no SSE4.2");
        return;
    }
    cpu = new_cpu();
    rnd = g_rand_new_with_seed(42);
    for (int iter = 0; iter < 4000; iter++) {
        int op = 0x60 + iter % 4;
        uint8_t imm = g_rand_int_range(rnd, 0, 128);
        uint64_t eax = g_rand_int_range(rnd, -20, 21);
        uint64_t edx = g_rand_int_range(rnd, -20, 21);
        XMMReg a, b, hmask;
        uint32_t hecx, hflags;
        int zeros = g_rand_int_range(rnd, 1, 6);

        for (int k = 0; k < 16; k++) {
            /* fewer NULs early on, so strings have some length */
            a.b[k] = alphabet[g_rand_int_range(rnd, zeros > 3 ? 0 : 1, 4)];
            b.b[k] = alphabet[g_rand_int_range(rnd, k > 10 ? 0 : 1, 6)];
        }
        if (iter & 8) {
            a.b[g_rand_int_range(rnd, 0, 16)] = 0;
        }
        host_pcmpstr(op, imm, &a, &b, eax, edx, &hecx, &hmask, &hflags);

        cpu->xmm[1] = a;
        cpu->xmm[2] = b;
        cpu->regs[R_EAX] = eax;
        cpu->regs[R_EDX] = edx;
        cpu->regs[R_ECX] = 0;
        memset(&cpu->xmm[0], 0, 16);
        exec(cpu, M3A | op, 0x66, 1, 2, imm);
        if (op & 1) {
            g_assert_cmpuint(cpu->regs[R_ECX], ==, hecx);
        } else {
            g_assert_cmpmem(&cpu->xmm[0], 16, &hmask, 16);
        }
        g_assert_cmphex(arith_flags(cpu) & (CC_C | CC_Z | CC_S | CC_O), ==,
                        hflags);
    }
    g_rand_free(rnd);
    g_free(cpu);
}

/* Packed integer operations against the host's own instructions. */
static const struct {
    uint16_t opcode;
    const char *name;
} int_ops[] = {
    { M0F | 0x60, "punpcklbw" },
    { M0F | 0x61, "punpcklwd" },
    { M0F | 0x62, "punpckldq" },
    { M0F | 0x63, "packsswb" },
    { M0F | 0x64, "pcmpgtb" },
    { M0F | 0x65, "pcmpgtw" },
    { M0F | 0x66, "pcmpgtd" },
    { M0F | 0x67, "packuswb" },
    { M0F | 0x68, "punpckhbw" },
    { M0F | 0x69, "punpckhwd" },
    { M0F | 0x6a, "punpckhdq" },
    { M0F | 0x6b, "packssdw" },
    { M0F | 0x6c, "punpcklqdq" },
    { M0F | 0x6d, "punpckhqdq" },
    { M0F | 0x74, "pcmpeqb" },
    { M0F | 0xd1, "psrlw" },
    { M0F | 0xd2, "psrld" },
    { M0F | 0xd3, "psrlq" },
    { M0F | 0xd4, "paddq" },
    { M0F | 0xd5, "pmullw" },
    { M0F | 0xd8, "psubusb" },
    { M0F | 0xd9, "psubusw" },
    { M0F | 0xda, "pminub" },
    { M0F | 0xdc, "paddusb" },
    { M0F | 0xdd, "paddusw" },
    { M0F | 0xde, "pmaxub" },
    { M0F | 0xdf, "pandn" },
    { M0F | 0xe0, "pavgb" },
    { M0F | 0xe1, "psraw" },
    { M0F | 0xe2, "psrad" },
    { M0F | 0xe3, "pavgw" },
    { M0F | 0xe4, "pmulhuw" },
    { M0F | 0xe5, "pmulhw" },
    { M0F | 0xe8, "psubsb" },
    { M0F | 0xe9, "psubsw" },
    { M0F | 0xea, "pminsw" },
    { M0F | 0xec, "paddsb" },
    { M0F | 0xed, "paddsw" },
    { M0F | 0xee, "pmaxsw" },
    { M0F | 0xf1, "psllw" },
    { M0F | 0xf2, "pslld" },
    { M0F | 0xf3, "psllq" },
    { M0F | 0xf4, "pmuludq" },
    { M0F | 0xf5, "pmaddwd" },
    { M0F | 0xf6, "psadbw" },
    { M0F | 0xfb, "psubq" },
    { M0F | 0xfe, "paddd" },
    { M38 | 0x00, "pshufb" },
    { M38 | 0x01, "phaddw" },
    { M38 | 0x02, "phaddd" },
    { M38 | 0x03, "phaddsw" },
    { M38 | 0x04, "pmaddubsw" },
    { M38 | 0x05, "phsubw" },
    { M38 | 0x06, "phsubd" },
    { M38 | 0x07, "phsubsw" },
    { M38 | 0x08, "psignb" },
    { M38 | 0x09, "psignw" },
    { M38 | 0x0a, "psignd" },
    { M38 | 0x0b, "pmulhrsw" },
    { M38 | 0x1c, "pabsb" },
    { M38 | 0x1d, "pabsw" },
    { M38 | 0x1e, "pabsd" },
    { M38 | 0x20, "pmovsxbw" },
    { M38 | 0x22, "pmovsxbq" },
    { M38 | 0x25, "pmovsxdq" },
    { M38 | 0x33, "pmovzxwd" },
    { M38 | 0x28, "pmuldq" },
    { M38 | 0x29, "pcmpeqq" },
    { M38 | 0x2b, "packusdw" },
    { M38 | 0x37, "pcmpgtq" },
    { M38 | 0x38, "pminsb" },
    { M38 | 0x39, "pminsd" },
    { M38 | 0x3a, "pminuw" },
    { M38 | 0x3b, "pminud" },
    { M38 | 0x3c, "pmaxsb" },
    { M38 | 0x3d, "pmaxsd" },
    { M38 | 0x3e, "pmaxuw" },
    { M38 | 0x3f, "pmaxud" },
    { M38 | 0x40, "pmulld" },
    { M38 | 0x41, "phminposuw" }
};

__attribute__((target("sse4.2")))
static void host_int_op(int k, XMMReg *d, const XMMReg *s)
{
    v2di a, b;

    memcpy(&a, d, 16);
    memcpy(&b, s, 16);
    switch (k) {
    case 0: asm("punpcklbw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 1: asm("punpcklwd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 2: asm("punpckldq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 3: asm("packsswb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 4: asm("pcmpgtb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 5: asm("pcmpgtw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 6: asm("pcmpgtd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 7: asm("packuswb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 8: asm("punpckhbw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 9: asm("punpckhwd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 10: asm("punpckhdq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 11: asm("packssdw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 12: asm("punpcklqdq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 13: asm("punpckhqdq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 14: asm("pcmpeqb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 15: asm("psrlw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 16: asm("psrld %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 17: asm("psrlq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 18: asm("paddq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 19: asm("pmullw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 20: asm("psubusb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 21: asm("psubusw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 22: asm("pminub %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 23: asm("paddusb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 24: asm("paddusw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 25: asm("pmaxub %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 26: asm("pandn %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 27: asm("pavgb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 28: asm("psraw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 29: asm("psrad %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 30: asm("pavgw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 31: asm("pmulhuw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 32: asm("pmulhw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 33: asm("psubsb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 34: asm("psubsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 35: asm("pminsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 36: asm("paddsb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 37: asm("paddsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 38: asm("pmaxsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 39: asm("psllw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 40: asm("pslld %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 41: asm("psllq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 42: asm("pmuludq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 43: asm("pmaddwd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 44: asm("psadbw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 45: asm("psubq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 46: asm("paddd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 47: asm("pshufb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 48: asm("phaddw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 49: asm("phaddd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 50: asm("phaddsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 51: asm("pmaddubsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 52: asm("phsubw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 53: asm("phsubd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 54: asm("phsubsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 55: asm("psignb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 56: asm("psignw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 57: asm("psignd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 58: asm("pmulhrsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 59: asm("pabsb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 60: asm("pabsw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 61: asm("pabsd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 62: asm("pmovsxbw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 63: asm("pmovsxbq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 64: asm("pmovsxdq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 65: asm("pmovzxwd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 66: asm("pmuldq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 67: asm("pcmpeqq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 68: asm("packusdw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 69: asm("pcmpgtq %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 70: asm("pminsb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 71: asm("pminsd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 72: asm("pminuw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 73: asm("pminud %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 74: asm("pmaxsb %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 75: asm("pmaxsd %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 76: asm("pmaxuw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 77: asm("pmaxud %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 78: asm("pmulld %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    case 79: asm("phminposuw %[b], %[a]" : [a] "+x"(a) : [b] "x"(b)); break;
    }
    memcpy(d, &a, 16);
}

static void test_int_host(void)
{
    X86CPU *cpu;
    GRand *rnd;

    if (!__builtin_cpu_supports("sse4.2")) {
        g_test_skip("the host has no SSE4.2");
        return;
    }
    cpu = new_cpu();
    rnd = g_rand_new_with_seed(7);
    for (int iter = 0; iter < 200; iter++) {
        for (size_t k = 0; k < G_N_ELEMENTS(int_ops); k++) {
            XMMReg d, s;

            for (int i = 0; i < 4; i++) {
                d.l[i] = g_rand_int(rnd);
                s.l[i] = g_rand_int(rnd);
            }
            /* small shift counts and extreme lanes now and then */
            if (iter & 1) {
                s.q[0] = g_rand_int_range(rnd, 0, 70);
            }
            if (iter & 2) {
                d.w[iter % 8] = 0x8000;
                s.w[iter % 8] = 0x8000;
            }
            cpu->xmm[1] = d;
            cpu->xmm[2] = s;
            exec(cpu, int_ops[k].opcode, 0x66, 1, 2, 0);
            host_int_op(k, &d, &s);
            if (memcmp(&cpu->xmm[1], &d, 16)) {
                g_test_message("%s differs", int_ops[k].name);
            }
            g_assert_cmpmem(&cpu->xmm[1], 16, &d, 16);
        }
    }
    g_rand_free(rnd);
    g_free(cpu);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/sse/saturation", test_saturation);
    g_test_add_func("/x86/sse/mmx-alias", test_mmx_alias);
    g_test_add_func("/x86/sse/pshufb-palignr", test_pshufb_palignr);
    g_test_add_func("/x86/sse/pcmpistri", test_pcmpistri);
    g_test_add_func("/x86/sse/pcmpestr", test_pcmpestr);
    g_test_add_func("/x86/sse/pcmpstr-host", test_pcmpstr_host);
    g_test_add_func("/x86/sse/int-host", test_int_host);
    g_test_add_func("/x86/sse/crc32", test_crc32);
    g_test_add_func("/x86/sse/cvt-rounding", test_cvt_rounding);
    g_test_add_func("/x86/sse/minmax-nan", test_minmax_nan);
    g_test_add_func("/x86/sse/comiss", test_comiss);
    g_test_add_func("/x86/sse/cmpps", test_cmpps);
    g_test_add_func("/x86/sse/simd-exception", test_simd_exception);
    g_test_add_func("/x86/sse/round", test_round);
    g_test_add_func("/x86/sse/sse41-misc", test_sse41_misc);
    g_test_add_func("/x86/sse/ssse3-arith", test_ssse3_arith);
    return g_test_run();
}
