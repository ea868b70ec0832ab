/*
 * Interfaces between the parts of the x86-64 interpreter. Each section
 * names the file that implements it:
 *   decode.c, exec.c, int.c, flags.c   decoder, block cache and loop,
 *                                      integer instructions, lazy flags
 *   mmu.c, seg.c, excp.c, sys.c, cpu.c paging/TLB, physical map, port I/O,
 *                                      segmentation, exceptions/interrupts,
 *                                      system instructions, MSRs, CPUID, reset
 *   fpu.c, sse.c                       x87, MMX, SSE..SSE4.2, fxsave
 */
#ifndef TARGET_X86_INTERNAL_H
#define TARGET_X86_INTERNAL_H

#include <stdnoreturn.h>
#include <string.h>

#include "target/x86/cpu.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---------------------------------------------------------------------
 * Decoded instructions (decode.c)
 * ------------------------------------------------------------------- */

/* Opcode maps: X86Insn.opcode is map | byte. */
#define X86_MAP_1B      0x000   /* one-byte opcodes */
#define X86_MAP_0F      0x100
#define X86_MAP_0F38    0x200
#define X86_MAP_0F3A    0x300

#define X86_BASE_NONE   (-1)
#define X86_BASE_RIP    16      /* RIP-relative: next_rip + disp */
#define X86_EA_ZERO     17      /* ea_regs[] slot that is always 0 */

typedef struct X86Insn X86Insn;
typedef void X86ExecFn(X86CPU *cpu, const X86Insn *insn);

struct X86Insn {
    X86ExecFn *exec;
    uint16_t opcode;        /* map | last opcode byte */
    uint8_t len;            /* 1..15 bytes */
    uint8_t opsize;         /* 2, 4 or 8 (byte forms are told by opcode) */
    uint8_t addrsize;       /* 2, 4 or 8 */
    uint8_t seg;            /* segment of the memory operand (overrides
                               applied; SS for rBP/rSP bases) */
    uint8_t rep;            /* 0, 0xf3 or 0xf2: the last of them */
    uint8_t mandatory;      /* SSE prefix: 0, 0x66, 0xf3 or 0xf2 */
    uint8_t rex;            /* 0, or the REX byte 0x40..0x4f */
    bool lock;
    bool has_modrm;
    uint8_t mod;            /* modrm.mod */
    uint8_t reg;            /* modrm.reg | REX.R << 3 */
    uint8_t rm;             /* modrm.rm | REX.B << 3 (a register if mod 3) */
    int8_t base;            /* memory operand: base register, X86_BASE_* */
    int8_t index;           /* index register or X86_BASE_NONE */
    uint8_t scale;          /* index shift, 0..3 */
    /* base and index as X86CPU.ea_regs slots (X86_EA_ZERO if none) */
    uint8_t ea_base;
    uint8_t ea_index;
    /* exec may run the next instruction itself (set by exec.c: the next
     * one is in the same block and can be entered that way) */
    bool thread_next;
    bool threadable;        /* exec ends by running the next one if told */
    int64_t disp;           /* displacement, or the moffs of A0..A3 */
    uint64_t imm;           /* first immediate, sign- or zero-extended as
                               the instruction defines */
    uint64_t imm2;          /* second immediate (enter, far ptr selector) */
};

/*
 * Decodes the instruction at linear address lin in the CPU's current mode.
 * Raises #PF/#GP on fetch faults and #UD on invalid encodings (longer than
 * 15 bytes, lock where not allowed, VEX/EVEX).
 */
void x86_decode(X86CPU *cpu, uint64_t lin, X86Insn *insn);

/* Offset of the memory operand within its segment (address-size wrapped). */
uint64_t x86_insn_ea(X86CPU *cpu, const X86Insn *insn);
/* Linear address of the memory operand: segment base + x86_insn_ea. */
uint64_t x86_insn_linear(X86CPU *cpu, const X86Insn *insn);
/* Linear address of seg:off, with the segment base applied as the mode
 * says (in long mode only FS and GS have bases). */
uint64_t x86_seg_linear(X86CPU *cpu, int seg, uint64_t off);

/* ---------------------------------------------------------------------
 * Lazy flags and conditions (flags.c)
 * ------------------------------------------------------------------- */

/* The CC_* bits of EFLAGS as the last flag-setting operation left them. */
uint32_t x86_compute_flags(X86CPU *cpu);
/* The whole EFLAGS register (bit 1 always set). */
uint64_t x86_get_eflags(X86CPU *cpu);
/* Replaces the EFLAGS bits in mask by val's (callers decide the mask). */
void x86_set_eflags(X86CPU *cpu, uint64_t val, uint64_t mask);
/* Condition code 0..15 as Jcc/SETcc/CMOVcc encode it. */
bool x86_condition(X86CPU *cpu, int cc);

/* ---------------------------------------------------------------------
 * gdb's points and step (debug.c), while cpu->debug is set
 * ------------------------------------------------------------------- */

typedef enum X86DebugAction {
    X86_DEBUG_RUN,      /* run blocks as usual */
    X86_DEBUG_ONE,      /* run one instruction alone */
    X86_DEBUG_STOP,     /* stop before this one: cpu->debug->hit */
} X86DebugAction;

/* Before the instruction at linear address lin. */
X86DebugAction x86_debug_before(X86CPU *cpu, uint64_t lin);
/* TLB_WATCH if a watchpoint covers part of the page for this access. */
uint64_t x86_debug_tlb_flags(X86CPU *cpu, uint64_t page, bool write);
/* A data access to a page marked TLB_WATCH. */
void x86_debug_access(X86CPU *cpu, uint64_t lin, uint64_t len, bool write);

/* ---------------------------------------------------------------------
 * Block cache, the run loop (exec.c)
 * ------------------------------------------------------------------- */

/* Called by mmu.c when a store hit a RAM page that holds decoded code. */
void x86_code_page_written(X86CPU *cpu, uint32_t *page_word);

/* ---------------------------------------------------------------------
 * Opcode handlers implemented outside int.c. decode.c routes:
 *   x86_exec_system: 0F 00, 0F 01, 0F 02, 0F 03, 0F 05, 0F 06, 0F 07,
 *       0F 08, 0F 09, 0F 20..0F 23, 0F 30..0F 35, 0F A2, 9C (pushf),
 *       9D (popf), CC, CD, CE (int3, int, into), CF (iret), F4 (hlt),
 *       FA (cli), FB (sti)
 *   x86_exec_x87: D8..DF, 9B (fwait)
 *   x86_exec_sse: 0F 10..0F 17, 0F 28..0F 2F, 0F 38 xx, 0F 3A xx,
 *       0F 50..0F 7F, 0F AE, 0F C2..0F C6, 0F D0..0F FF (MMX, SSE*,
 *       fxsave/fxrstor, ldmxcsr/stmxcsr, fences, clflush, movnti, crc32)
 * All take a modrm where the manual says so; decode.c reads immediates
 * (0F 70..73, 0F C2, 0F C4..C6 and every 0F 3A take an imm8).
 * ------------------------------------------------------------------- */
X86ExecFn x86_exec_system;      /* sys.c */
X86ExecFn x86_exec_x87;         /* fpu.c */
X86ExecFn x86_exec_sse;         /* sse.c */

/* ---------------------------------------------------------------------
 * Exceptions and interrupts (excp.c)
 *
 * Raising unwinds with siglongjmp to cpu->exception_env, set by the run
 * loop; x86_deliver_exception then vectors through the IDT. Contributory
 * exceptions while delivering one become #DF, and a fault while delivering
 * #DF is a triple fault (cpu->triple_fault).
 * ------------------------------------------------------------------- */
noreturn void x86_raise_exception(X86CPU *cpu, int vector);
noreturn void x86_raise_exception_err(X86CPU *cpu, int vector,
                                      uint32_t error);
/* #PF: CR2 = addr. */
noreturn void x86_raise_page_fault(X86CPU *cpu, uint64_t addr,
                                   uint32_t error);
/* int n / int3 / into: a trap; the return address is cpu->next_rip and
 * the gate's DPL is checked against CPL. */
noreturn void x86_raise_soft_interrupt(X86CPU *cpu, int vector);
/* After the longjmp: delivers the raised exception (or resets). */
void x86_deliver_exception(X86CPU *cpu);
/*
 * Between instructions, when cs->interrupt_request is non-zero: delivers
 * INIT, SIPI, NMI and, if IF=1 and no interrupt shadow, a LAPIC/PIC
 * interrupt (taking the big lock to acknowledge it). Wakes a halted CPU.
 */
void x86_handle_interrupts(X86CPU *cpu);

/* ---------------------------------------------------------------------
 * Segmentation and control transfers (seg.c)
 * ------------------------------------------------------------------- */
/* Recomputes cpl, code_size, stack_size and long_mode. */
void x86_update_mode(X86CPU *cpu);
/* mov/pop to a segment register, lds and friends: full checks per mode. */
void x86_load_seg(X86CPU *cpu, int seg, uint16_t selector);
/* Far jmp/call/ret through descriptors and call gates; they set CS and
 * next_rip. */
void x86_far_jmp(X86CPU *cpu, uint16_t selector, uint64_t offset);
void x86_far_call(X86CPU *cpu, uint16_t selector, uint64_t offset,
                  int opsize);
void x86_far_ret(X86CPU *cpu, int opsize, uint16_t pop_bytes);
void x86_iret(X86CPU *cpu, int opsize);

/* ---------------------------------------------------------------------
 * Memory (mmu.c)
 *
 * Linear-address accesses with paging and permission checks. The privilege
 * of x86_ld/x86_st is the CPU's (user if CPL 3); the _kernel variants are
 * the implicit supervisor accesses (descriptor tables, IDT, TSS). Faults
 * raise #PF (or #GP for non-canonical addresses in long mode). Accesses
 * that cross a page are split, and checked on both pages before a store
 * writes anything.
 * ------------------------------------------------------------------- */
uint64_t x86_ld_slow(X86CPU *cpu, uint64_t lin, int size, int mmu_idx);
void x86_st_slow(X86CPU *cpu, uint64_t lin, int size, uint64_t val,
                 int mmu_idx);
/* Fills or checks the TLB for a fetch at lin; sets *host to the page's
 * host address (NULL for MMIO) and *page_word; returns the physical page. */
uint64_t x86_translate_code(X86CPU *cpu, uint64_t lin, const uint8_t **host,
                            uint32_t **page_word);
/* Instruction bytes across a page boundary or from MMIO. */
uint8_t x86_ld_code_byte(X86CPU *cpu, uint64_t lin);
/* After a store into the RAM page of page_word with X86_PAGE_WRITE_HOOK
 * set: invalidates its code, marks it dirty for a logging region. */
void x86_ram_page_written(X86CPU *cpu, uint32_t *page_word);
/* Host pointer for an aligned-within-page RAM access of size bytes that
 * the CPU may perform (checking and faulting as a store would when write),
 * or NULL when the caller must use x86_ld/x86_st (MMIO, page crossing).
 * Locked read-modify-write instructions use it for host atomics. */
void *x86_host_ptr(X86CPU *cpu, uint64_t lin, int size, bool write);
/* Block copies (fxsave, descriptor loads, string fast paths); a write
 * checks every page before writing any byte. */
void x86_read(X86CPU *cpu, uint64_t lin, void *buf, size_t len);
void x86_write(X86CPU *cpu, uint64_t lin, const void *buf, size_t len);
void x86_tlb_flush(X86CPU *cpu);
void x86_tlb_flush_page(X86CPU *cpu, uint64_t lin);
/* Port I/O through the memory API, with the big lock taken. */
uint64_t x86_port_in(X86CPU *cpu, uint16_t port, int size);
void x86_port_out(X86CPU *cpu, uint16_t port, int size, uint64_t val);
/* IOPL and TSS I/O bitmap check for in/out/ins/outs; raises #GP. */
void x86_check_io(X86CPU *cpu, uint16_t port, int size);

static inline int x86_mmu_index(X86CPU *cpu)
{
    return cpu->cpl == 3 ? X86_MMU_USER : X86_MMU_KERNEL;
}

static inline X86TLBEntry *x86_tlb_entry(X86CPU *cpu, int mmu_idx,
                                         uint64_t lin)
{
    return &cpu->tlb[mmu_idx][(lin >> 12) & (X86_TLB_SIZE - 1)];
}

static inline uint64_t x86_ld_mmu(X86CPU *cpu, uint64_t lin, int size,
                                  int mmu_idx)
{
    X86TLBEntry *e = x86_tlb_entry(cpu, mmu_idx, lin);
    if (likely(e->tag_read == (lin & ~0xfffull) &&
               (lin & 0xfff) + size <= 0x1000)) {
        const void *p = (const void *)(e->addend + lin);
        switch (size) {
        case 1: return *(const uint8_t *)p;
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return v; }
        }
    }
    return x86_ld_slow(cpu, lin, size, mmu_idx);
}

static inline void x86_st_mmu(X86CPU *cpu, uint64_t lin, int size,
                              uint64_t val, int mmu_idx)
{
    X86TLBEntry *e = x86_tlb_entry(cpu, mmu_idx, lin);
    if (likely(e->tag_write == (lin & ~0xfffull) &&
               (lin & 0xfff) + size <= 0x1000)) {
        void *p = (void *)(e->addend + lin);
        switch (size) {
        case 1: *(uint8_t *)p = val; break;
        case 2: { uint16_t v = val; memcpy(p, &v, 2); break; }
        case 4: { uint32_t v = val; memcpy(p, &v, 4); break; }
        default: memcpy(p, &val, 8); break;
        }
        if (unlikely(*e->page_word & X86_PAGE_WRITE_HOOK)) {
            x86_ram_page_written(cpu, e->page_word);
        }
        return;
    }
    x86_st_slow(cpu, lin, size, val, mmu_idx);
}

static inline uint64_t x86_ld(X86CPU *cpu, uint64_t lin, int size)
{
    return x86_ld_mmu(cpu, lin, size, x86_mmu_index(cpu));
}

static inline void x86_st(X86CPU *cpu, uint64_t lin, int size, uint64_t val)
{
    x86_st_mmu(cpu, lin, size, val, x86_mmu_index(cpu));
}

static inline uint64_t x86_ld_kernel(X86CPU *cpu, uint64_t lin, int size)
{
    return x86_ld_mmu(cpu, lin, size, X86_MMU_KERNEL);
}

static inline void x86_st_kernel(X86CPU *cpu, uint64_t lin, int size,
                                 uint64_t val)
{
    x86_st_mmu(cpu, lin, size, val, X86_MMU_KERNEL);
}

/* ---------------------------------------------------------------------
 * Stack helpers (int.c; used by seg.c and excp.c too)
 * ------------------------------------------------------------------- */
/* Push/pop size bytes on SS:rSP with the current stack width. */
void x86_push(X86CPU *cpu, int size, uint64_t val);
uint64_t x86_pop(X86CPU *cpu, int size);

/* ---------------------------------------------------------------------
 * MSRs and CPUID (cpu.c)
 * ------------------------------------------------------------------- */
/* false: the MSR does not exist or the value is invalid (#GP). */
bool x86_msr_read(X86CPU *cpu, uint32_t index, uint64_t *val);
bool x86_msr_write(X86CPU *cpu, uint32_t index, uint64_t val);
uint64_t x86_cpu_get_tsc(X86CPU *cpu);

/* Register access by size, with the legacy high-byte registers for size 1
 * without REX (AH, CH, DH, BH are 4..7). Writes of size 4 zero-extend. */
static inline uint64_t x86_reg_read(X86CPU *cpu, int reg, int size,
                                    bool rex)
{
    switch (size) {
    case 1:
        if (!rex && reg >= 4 && reg < 8) {
            return (cpu->regs[reg - 4] >> 8) & 0xff;
        }
        return cpu->regs[reg] & 0xff;
    case 2: return cpu->regs[reg] & 0xffff;
    case 4: return cpu->regs[reg] & 0xffffffff;
    default: return cpu->regs[reg];
    }
}

static inline void x86_reg_write(X86CPU *cpu, int reg, int size, bool rex,
                                 uint64_t val)
{
    switch (size) {
    case 1:
        if (!rex && reg >= 4 && reg < 8) {
            cpu->regs[reg - 4] = (cpu->regs[reg - 4] & ~0xff00ull) |
                                 ((val & 0xff) << 8);
        } else {
            cpu->regs[reg] = (cpu->regs[reg] & ~0xffull) | (val & 0xff);
        }
        break;
    case 2:
        cpu->regs[reg] = (cpu->regs[reg] & ~0xffffull) | (val & 0xffff);
        break;
    case 4: cpu->regs[reg] = val & 0xffffffff; break;
    default: cpu->regs[reg] = val; break;
    }
}

#endif
