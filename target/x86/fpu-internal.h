/*
 * Private interfaces of the x87, MMX and SSE files (fpu.c, sse*.c): the
 * status and control bits of the SDM vol. 1 chapters 8, 9 and 10, the
 * state checks every floating-point instruction starts with, and helpers
 * the unit tests call directly.
 */
#ifndef TARGET_X86_FPU_INTERNAL_H
#define TARGET_X86_FPU_INTERNAL_H

#include "internal.h"

/* x87 status word (SDM vol. 1 8.1.3) */
#define FPUS_IE     0x0001
#define FPUS_DE     0x0002
#define FPUS_ZE     0x0004
#define FPUS_OE     0x0008
#define FPUS_UE     0x0010
#define FPUS_PE     0x0020
#define FPUS_SF     0x0040
#define FPUS_ES     0x0080
#define FPUS_C0     0x0100
#define FPUS_C1     0x0200
#define FPUS_C2     0x0400
#define FPUS_TOP    0x3800
#define FPUS_C3     0x4000
#define FPUS_B      0x8000
#define FPUS_EXC    0x003f
#define FPUS_CC     (FPUS_C0 | FPUS_C1 | FPUS_C2 | FPUS_C3)

/* x87 control word (SDM vol. 1 8.1.5) */
#define FPUC_EXC_MASK   0x003f
#define FPUC_PC         0x0300
#define FPUC_RC         0x0c00
#define FPUC_RC_SHIFT   10

/* MXCSR (SDM vol. 1 10.2.3) */
#define MXCSR_IE        0x0001
#define MXCSR_DE        0x0002
#define MXCSR_ZE        0x0004
#define MXCSR_OE        0x0008
#define MXCSR_UE        0x0010
#define MXCSR_PE        0x0020
#define MXCSR_EXC       0x003f
#define MXCSR_DAZ       0x0040
#define MXCSR_MASKS     0x1f80
#define MXCSR_MASK_SHIFT 7
#define MXCSR_RC        0x6000
#define MXCSR_RC_SHIFT  13
#define MXCSR_FTZ       0x8000
/* The MXCSR bits this CPU implements (fxsave's MXCSR_MASK). */
#define MXCSR_VALID     0xffffu

/* Rounding-control values shared by the x87 RC and MXCSR.RC fields. */
enum { RC_NEAREST, RC_DOWN, RC_UP, RC_ZERO };

/* ---- fpu.c ---- */

/* Status word with TOP merged in, and its inverse. */
uint16_t x87_status(X86CPU *cpu);
void x87_set_status(X86CPU *cpu, uint16_t sw);
/* The full two-bit tag word of fstenv (SDM vol. 1 8.1.7). */
uint16_t x87_tag_word(X86CPU *cpu);
/* Raises #MF for a pending unmasked x87 exception (when CR0.NE is set);
 * every waiting x87 and MMX instruction starts with it. */
void x87_check_pending(X86CPU *cpu);
/* fninit's state. */
void x87_reset(X86CPU *cpu);

/* ---- sse.c ---- */

/* #UD/#NM checks of an MMX instruction, #MF for a pending x87 exception,
 * then the switch to MMX state: TOP = 0, all registers valid. */
void mmx_prepare(X86CPU *cpu);

static inline uint64_t mmx_get(X86CPU *cpu, int i)
{
    return cpu->fpregs[i & 7].raw.mant;
}

static inline void mmx_set(X86CPU *cpu, int i, uint64_t v)
{
    cpu->fpregs[i & 7].raw.mant = v;
    cpu->fpregs[i & 7].raw.exp = 0xffff;
}

/* #UD (CR0.EM, no CR4.OSFXSR) and #NM (CR0.TS) of an SSE instruction. */
void sse_prepare(X86CPU *cpu);
/*
 * Folds the exception flags of an SSE operation into MXCSR and raises #XM
 * (#UD without CR4.OSXMMEXCPT) when one of them is unmasked; callers write
 * their destination only after it returned.
 */
void sse_raise_flags(X86CPU *cpu, uint32_t flags);

/* ---- sse-fp.c: MXCSR-driven arithmetic on the host's SSE unit ---- */

/* Host MXCSR for an operation under the guest's: its RC, DAZ and FTZ,
 * every exception masked and no flag set. */
static inline uint32_t sse_host_csr(uint32_t guest)
{
    return (guest & (MXCSR_RC | MXCSR_DAZ | MXCSR_FTZ)) | MXCSR_MASKS;
}

/* ---- sse-str.c ---- */

/*
 * pcmpestri/pcmpestrm/pcmpistri/pcmpistrm (SDM vol. 2 4.1): compares a
 * (the xmm1 operand) with b under imm; la/lb are the explicit lengths (or
 * -1 for the implicit, NUL-terminated forms). Returns IntRes2 and sets
 * *flags to the CC_* bits the instructions define.
 */
uint32_t sse_pcmpstr(const XMMReg *a, const XMMReg *b, int la, int lb,
                     uint8_t imm, uint32_t *flags);
/* CRC32C (Castagnoli, reflected) of the low size bytes of v onto crc. */
uint32_t sse_crc32c(uint32_t crc, uint64_t v, int size);

/* Handlers of the maps the dispatcher in sse.c hands over. */
void sse_exec_0f38(X86CPU *cpu, const X86Insn *insn);
void sse_exec_0f3a(X86CPU *cpu, const X86Insn *insn);
/* Floating-point opcodes of the 0F map (sse-fp.c) and the packed
 * integer ones (sse-int.c); false if insn is not one of theirs. */
bool sse_exec_fp(X86CPU *cpu, const X86Insn *insn);
bool sse_exec_int(X86CPU *cpu, const X86Insn *insn);
/* 0F 3A 08..0B, 40, 41: round and dot product (sse-fp.c). */
void sse_exec_round(X86CPU *cpu, const X86Insn *insn);
void sse_exec_dp(X86CPU *cpu, const X86Insn *insn);
/* 0F 3A 60..63 and F2 0F 38 F0/F1 (sse-str.c). */
void sse_exec_pcmpstr(X86CPU *cpu, const X86Insn *insn);
void sse_exec_crc32(X86CPU *cpu, const X86Insn *insn);

/* ---- operand access shared by the sse files (sse.c) ---- */

/* 16-byte memory operand at the instruction's address; aligned: #GP(0)
 * unless 16-byte aligned (legacy SSE rule). */
void sse_load_m128(X86CPU *cpu, const X86Insn *insn, XMMReg *v,
                   bool aligned);
/* The xmm/m128 source of an instruction. */
void sse_load_src(X86CPU *cpu, const X86Insn *insn, XMMReg *v,
                  bool aligned);
/* The low size bytes of xmm/mN (rest zero). */
void sse_load_src_low(X86CPU *cpu, const X86Insn *insn, XMMReg *v,
                      int size);

#endif
