/*
 * Private interfaces of the system half of the interpreter: cpu.c, mmu.c,
 * seg.c, excp.c and sys.c (CPU state the public X86CPU has no field for,
 * descriptor and stack helpers, event delivery).
 */
#ifndef TARGET_X86_SYS_INTERNAL_H
#define TARGET_X86_SYS_INTERNAL_H

#include "internal.h"

/*
 * x86_cpu_new allocates this around the X86CPU (which comes first), so the
 * system files can keep state of their own without widening the contract.
 */
typedef struct X86CPUPriv {
    X86CPU cpu;
    /* Page-size shift of the translation each TLB entry came from. */
    uint8_t tlb_shift[X86_MMU_COUNT][X86_TLB_SIZE];
    /* Entries filled from large pages since the last full flush. */
    unsigned tlb_large;
    uint64_t debugctl;
} X86CPUPriv;

static inline X86CPUPriv *x86_priv(X86CPU *cpu)
{
    return (X86CPUPriv *)cpu;
}

/* Family 6, model 0x2a (Sandy Bridge), stepping 7. */
#define X86_CPUID_SIGNATURE 0x000206a7u
/* MAXPHYADDR; paging structures' bits 51:40 are reserved. */
#define X86_PHYS_BITS   40

static inline bool x86_canonical(uint64_t addr)
{
    return (uint64_t)((int64_t)(addr << 16) >> 16) == addr;
}

static inline bool x86_protected(X86CPU *cpu)
{
    return cpu->cr0 & CR0_PE;
}

static inline bool x86_vm86(X86CPU *cpu)
{
    return (cpu->cr0 & CR0_PE) && (cpu->eflags & VM_MASK);
}

/* 64-bit mode: IA-32e mode with a 64-bit code segment. */
static inline bool x86_code64(X86CPU *cpu)
{
    return cpu->code_size == 8;
}

static inline int x86_iopl(X86CPU *cpu)
{
    return (cpu->eflags & IOPL_MASK) >> IOPL_SHIFT;
}

static inline int x86_seg_dpl(const SegmentCache *s)
{
    return (s->flags >> DESC_DPL_SHIFT) & 3;
}

/* cpu.c: the register state after RESET (power_on) or INIT, SDM 9.1.1. */
void x86_cpu_init_state(X86CPU *cpu, bool power_on);

/* ---- seg.c: descriptors ---- */

/* A descriptor as it sits in the GDT or LDT. */
typedef struct X86Desc {
    uint32_t lo, hi;
    uint32_t base_hi;       /* 16-byte system descriptors in long mode */
    uint64_t addr;          /* linear address of the descriptor */
} X86Desc;

/* Reads the descriptor sel selects (wide: 16 bytes); false if the selector
 * is beyond the table's limit (the caller raises the fault it needs). */
bool x86_desc_read(X86CPU *cpu, uint16_t sel, X86Desc *d, bool wide);
/* The segment-register cache a descriptor gives. */
void x86_desc_to_cache(const X86Desc *d, uint16_t sel, SegmentCache *sc);
/* Sets the accessed bit in the descriptor table, as a load does. */
void x86_desc_set_accessed(X86CPU *cpu, X86Desc *d);
static inline uint32_t x86_desc_type(const X86Desc *d)
{
    return (d->hi >> 8) & 0x1f;     /* S bit included */
}
static inline int x86_desc_dpl(const X86Desc *d)
{
    return (d->hi >> 13) & 3;
}
static inline bool x86_desc_present(const X86Desc *d)
{
    return d->hi & DESC_P_MASK;
}

/* Loads a segment register's cache directly (mode transitions). */
void x86_seg_set(X86CPU *cpu, int seg, uint16_t sel, uint64_t base,
                 uint32_t limit, uint32_t flags);
/*
 * The inner stack for privilege level dpl from the TSS: SS:ESP of a 16- or
 * 32-bit TSS, or RSPn (ist == 0) / ISTn in IA-32e mode. Raises #TS with
 * ext in the error code if the TSS is too short.
 */
void x86_tss_stack(X86CPU *cpu, int dpl, int ist, uint32_t ext,
                   uint16_t *ss, uint64_t *sp);
/*
 * Checks the stack segment a privilege change to dpl loads and returns its
 * cache, setting the descriptor's accessed bit. Faults are vec (#TS for
 * interrupts and calls, #GP for returns) with ext in the error code, or
 * #SS if it is not present. A null selector is allowed when null_ok
 * (64-bit mode at CPL < 3).
 */
void x86_check_new_ss(X86CPU *cpu, uint16_t ss, int dpl, int vec,
                      uint32_t ext, bool null_ok, SegmentCache *sc);

/*
 * A stack being built or unwound without touching the CPU's registers, so
 * that a fault half way leaves the state as it was.
 */
typedef struct X86Stack {
    uint64_t base;
    uint64_t sp;
    uint64_t mask;      /* 0xffff, 0xffffffff or all ones */
    int mmu_idx;
    bool wrap32;        /* legacy modes: linear addresses are 32 bits */
} X86Stack;

/* width: the stack pointer's, 2, 4 or 8 (64-bit mode: SS base ignored). */
void x86_stack_init(X86Stack *st, const SegmentCache *ss, uint64_t sp,
                    int width, int mmu_idx);
/* The stack-pointer width SS gives outside 64-bit mode. */
static inline int x86_ss_width(const SegmentCache *ss)
{
    return ss->flags & DESC_B_MASK ? 4 : 2;
}
void x86_stack_push(X86CPU *cpu, X86Stack *st, int size, uint64_t val);
uint64_t x86_stack_pop(X86CPU *cpu, X86Stack *st, int size);
/* rSP after the stack operations, keeping bits outside the stack width. */
static inline uint64_t x86_stack_rsp(const X86Stack *st, uint64_t old)
{
    return (old & ~st->mask) | (st->sp & st->mask);
}

/* ---- excp.c ---- */

/* Delivers an external interrupt (LAPIC/PIC vector) now. */
void x86_deliver_interrupt(X86CPU *cpu, int vector);

/* Whether a PAT value / an MTRR memory type is one the MSRs accept
 * (SDM vol. 3 11.12.2, 11.11.2.2). */
bool x86_pat_valid(uint64_t pat);
bool x86_mtrr_type_valid(uint8_t t);

#endif
