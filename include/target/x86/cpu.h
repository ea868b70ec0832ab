/*
 * The x86-64 CPU of the software accelerator: architectural state and the
 * interface accel/tcg uses. The interpreter's own interfaces are in
 * target/x86/internal.h. Names of bits follow the Intel SDM.
 */
#ifndef TARGET_X86_CPU_H
#define TARGET_X86_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/cpu.h"
#include "system/debug.h"

/* General registers, in encoding order. */
enum {
    R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI,
    R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
};

/* Segment registers, in encoding order. */
enum { R_ES, R_CS, R_SS, R_DS, R_FS, R_GS };

/* EFLAGS */
#define CC_C    0x0001
#define CC_P    0x0004
#define CC_A    0x0010
#define CC_Z    0x0040
#define CC_S    0x0080
#define CC_O    0x0800
#define CC_ALL  (CC_C | CC_P | CC_A | CC_Z | CC_S | CC_O)
#define TF_MASK     0x00000100
#define IF_MASK     0x00000200
#define DF_MASK     0x00000400
#define IOPL_MASK   0x00003000
#define IOPL_SHIFT  12
#define NT_MASK     0x00004000
#define RF_MASK     0x00010000
#define VM_MASK     0x00020000
#define AC_MASK     0x00040000
#define VIF_MASK    0x00080000
#define VIP_MASK    0x00100000
#define ID_MASK     0x00200000

/* CR0 */
#define CR0_PE  (1u << 0)
#define CR0_MP  (1u << 1)
#define CR0_EM  (1u << 2)
#define CR0_TS  (1u << 3)
#define CR0_ET  (1u << 4)
#define CR0_NE  (1u << 5)
#define CR0_WP  (1u << 16)
#define CR0_AM  (1u << 18)
#define CR0_NW  (1u << 29)
#define CR0_CD  (1u << 30)
#define CR0_PG  (1u << 31)

/* CR4 */
#define CR4_VME         (1u << 0)
#define CR4_PVI         (1u << 1)
#define CR4_TSD         (1u << 2)
#define CR4_DE          (1u << 3)
#define CR4_PSE         (1u << 4)
#define CR4_PAE         (1u << 5)
#define CR4_MCE         (1u << 6)
#define CR4_PGE         (1u << 7)
#define CR4_PCE         (1u << 8)
#define CR4_OSFXSR      (1u << 9)
#define CR4_OSXMMEXCPT  (1u << 10)
#define CR4_UMIP        (1u << 11)
#define CR4_FSGSBASE    (1u << 16)
#define CR4_PCIDE       (1u << 17)
#define CR4_OSXSAVE     (1u << 18)
#define CR4_SMEP        (1u << 20)
#define CR4_SMAP        (1u << 21)

/* EFER */
#define EFER_SCE    (1u << 0)
#define EFER_LME    (1u << 8)
#define EFER_LMA    (1u << 10)
#define EFER_NXE    (1u << 11)

/* MSRs the CPU implements (SDM vol. 4) */
#define MSR_IA32_TSC            0x10
#define MSR_IA32_APICBASE       0x1b
#define MSR_IA32_PLATFORM_ID    0x17
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_IA32_SPEC_CTRL      0x48
#define MSR_IA32_BIOS_SIGN_ID   0x8b
#define MSR_MTRRcap             0xfe
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_MCG_CAP             0x179
#define MSR_MCG_STATUS          0x17a
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRRphysBase0       0x200
#define MSR_MTRRfix64K_00000    0x250
#define MSR_PAT                 0x277
#define MSR_MTRRdefType         0x2ff
#define MSR_IA32_TSC_DEADLINE   0x6e0
#define MSR_EFER                0xc0000080
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_FMASK               0xc0000084
#define MSR_FSBASE              0xc0000100
#define MSR_GSBASE              0xc0000101
#define MSR_KERNELGSBASE        0xc0000102
#define MSR_TSC_AUX             0xc0000103

/* Exception vectors */
enum {
    EXCP_DE = 0, EXCP_DB = 1, EXCP_NMI = 2, EXCP_BP = 3, EXCP_OF = 4,
    EXCP_BR = 5, EXCP_UD = 6, EXCP_NM = 7, EXCP_DF = 8, EXCP_TS = 10,
    EXCP_NP = 11, EXCP_SS = 12, EXCP_GP = 13, EXCP_PF = 14, EXCP_MF = 16,
    EXCP_AC = 17, EXCP_MC = 18, EXCP_XM = 19,
};

/* #PF error code bits */
#define PF_ERR_P    (1u << 0)
#define PF_ERR_W    (1u << 1)
#define PF_ERR_U    (1u << 2)
#define PF_ERR_RSVD (1u << 3)
#define PF_ERR_I    (1u << 4)

/*
 * A segment register with its hidden part. flags holds bits 8..23 of the
 * descriptor's high dword in place (type at bit 8, S 12, DPL 13-14, P 15,
 * AVL 20, L 21, D/B 22, G 23), as the descriptor stores them; limit is the
 * expanded byte limit.
 */
typedef struct SegmentCache {
    uint16_t selector;
    uint64_t base;
    uint32_t limit;
    uint32_t flags;
} SegmentCache;

#define DESC_TYPE_SHIFT 8
#define DESC_A_MASK     (1u << 8)
#define DESC_RW_MASK    (1u << 9)     /* readable code / writable data */
#define DESC_C_MASK     (1u << 10)    /* conforming code */
#define DESC_E_MASK     (1u << 10)    /* expand-down data */
#define DESC_CS_MASK    (1u << 11)    /* code */
#define DESC_S_MASK     (1u << 12)    /* code/data, not system */
#define DESC_DPL_SHIFT  13
#define DESC_P_MASK     (1u << 15)
#define DESC_L_MASK     (1u << 21)
#define DESC_B_MASK     (1u << 22)
#define DESC_G_MASK     (1u << 23)

typedef struct DescriptorTable {
    uint64_t base;
    uint32_t limit;
} DescriptorTable;

typedef union XMMReg {
    uint8_t b[16];
    uint16_t w[8];
    uint32_t l[4];
    uint64_t q[2];
    int8_t sb[16];
    int16_t sw[8];
    int32_t sl[4];
    int64_t sq[2];
    float s[4];
    double d[2];
} XMMReg;

/*
 * x87 registers use the host's 80-bit long double (the host is x86-64).
 * MMX registers alias the low 64 bits of the physical registers, so each
 * is kept as the raw 80-bit image.
 */
typedef union FPReg {
    long double d;
    struct {
        uint64_t mant;
        uint16_t exp;
    } raw;
    uint8_t bytes[16];
} FPReg;

/* One direct-mapped TLB per privilege (0: supervisor, 1: user accesses). */
#define X86_TLB_BITS    8
#define X86_TLB_SIZE    (1 << X86_TLB_BITS)
#define X86_MMU_KERNEL  0
#define X86_MMU_USER    1
#define X86_MMU_COUNT   2

/*
 * Low bits of a TLB tag that make the fast-path compare fail on purpose:
 * the page is valid but must take the slow path for this kind of access.
 */
#define TLB_INVALID     (1ull << 0)   /* not mapped for this access */
#define TLB_MMIO        (1ull << 1)   /* not RAM: dispatch through memory API */
#define TLB_WATCH       (1ull << 2)   /* a gdb watchpoint covers part of it */

/*
 * Per guest RAM page, one word: whether decoded blocks were made from the
 * page, and a generation that every write to such a page bumps, which
 * invalidates those blocks (self-modifying code, DMA, other vCPUs); and
 * whether the page's region logs writes (memory_region_set_log: VRAM), so
 * that a store marks the page dirty. A store tests both in one go.
 */
#define X86_PAGE_HAS_CODE   0x80000000u
#define X86_PAGE_DIRTY_LOG  0x40000000u
#define X86_PAGE_WRITE_HOOK (X86_PAGE_HAS_CODE | X86_PAGE_DIRTY_LOG)
#define X86_PAGE_GEN_MASK   0x3fffffffu

typedef struct X86TLBEntry {
    /* Linear page address (bits 63..12) | TLB_* flags; all-ones if empty. */
    uint64_t tag_read;
    uint64_t tag_write;
    uint64_t tag_code;
    /* For RAM: host address = addend + linear address. */
    uintptr_t addend;
    /* Guest-physical page address. */
    uint64_t paddr;
    /* For RAM: the page's code word (see X86_PAGE_HAS_CODE), else NULL. */
    uint32_t *page_word;
} X86TLBEntry;

typedef struct X86BlockCache X86BlockCache;

/*
 * gdb's breakpoints, watchpoints and single step as this CPU checks them
 * (target/x86/debug.c); replaced by the accelerator while it is parked.
 */
typedef struct X86Debug {
    GuestDebugPoint points[DEBUG_POINTS_MAX];
    int npoints;
    bool step;              /* run one instruction, then stop */
    bool stepped;           /* that instruction ran, or faulted */
    bool watching;          /* some points are watchpoints */
    bool watch_hit;         /* the running instruction touched one */
    uint64_t resume_lin;    /* stopped at this breakpoint: run it first */
    GuestDebugHit hit;      /* why x86_cpu_exec returned X86_EXIT_DEBUG */
} X86Debug;

typedef struct X86CPU {
    CPUState *cs;

    /*
     * While an instruction executes, rip is its own address and next_rip
     * the address after it; branches write next_rip. A fault leaves rip at
     * the faulting instruction. next_rip and a constant zero follow the
     * general registers so that a memory operand's address is
     * disp + ea_regs[base] + (ea_regs[index] << scale), RIP-relative and
     * absent registers included, without a branch.
     */
    union {
        struct {
            uint64_t regs[16];
            uint64_t next_rip;
            uint64_t zero_reg;
        };
        uint64_t ea_regs[18];
    };
    uint64_t rip;
    /*
     * EFLAGS without the arithmetic flags, which are lazy: cc_op says which
     * operation last set them and cc_dst/cc_src/cc_src2 hold its operands
     * and result (target/x86/flags.c). Read or write the whole register
     * with x86_get_eflags/x86_set_eflags.
     */
    uint64_t eflags;
    uint32_t cc_op;
    uint64_t cc_dst, cc_src, cc_src2;

    SegmentCache segs[6];
    SegmentCache ldt, tr;
    DescriptorTable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4;
    uint64_t efer;
    uint64_t dr[8];

    /* Cached mode, recomputed by x86_update_mode() after CS/SS/CR0/EFER. */
    uint8_t cpl;
    uint8_t code_size;      /* default operand/address size: 2, 4 or 8 */
    uint8_t stack_size;     /* stack pointer width: 2, 4 or 8 */
    bool long_mode;         /* EFER.LMA */

    /* MSRs */
    uint64_t star, lstar, cstar, fmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat, tsc_aux, misc_enable, spec_ctrl;
    uint64_t mtrr_deftype, mtrr_fixed[11], mtrr_var[16];
    uint64_t mcg_status;

    /* x87 / MMX / SSE (target/x86/fpu.c, sse.c) */
    FPReg fpregs[8];        /* physical registers: ST(i) is (fpstt+i)&7 */
    uint16_t fpuc, fpus;    /* control and status (TOP is kept in fpstt) */
    uint8_t fptags;         /* bit i set: physical register i is empty */
    uint8_t fpstt;
    uint16_t fpop;
    uint64_t fpip, fpdp;
    XMMReg xmm[16];
    uint32_t mxcsr;

    /* Interrupt and execution state */
    bool halted;            /* hlt: waits for an interrupt */
    bool wait_for_sipi;     /* an AP after INIT */
    bool nmi_blocked;       /* from NMI delivery until iret */
    /* sti / mov ss / pop ss: interrupts are held for one instruction */
    bool interrupt_shadow;
    bool triple_fault;      /* the accelerator resets the machine */

    /* Exception being raised (x86_raise_exception -> exception_env). */
    int exception_vector;
    uint32_t exception_error;
    bool exception_has_error;
    bool exception_is_soft;     /* int n / int3 / into: rip is next insn */
    int exception_nesting;      /* for #DF and triple fault detection */
    sigjmp_buf exception_env;

    /* Set from other threads to end x86_cpu_exec() promptly. */
    volatile int exit_request;

    /* MMU (target/x86/mmu.c) */
    X86TLBEntry tlb[X86_MMU_COUNT][X86_TLB_SIZE];

    /* Decoded-block cache (target/x86/exec.c) */
    X86BlockCache *blocks;
    /*
     * Bumped whenever a linear code address may stop meaning the block it
     * meant: TLB flushes, mode and CS changes, block cache resets. Links
     * between blocks are valid only within one epoch.
     */
    uint32_t code_epoch;
    /* A store of this CPU hit the page of the running block: end it. */
    bool block_stop;
    /* Where the run loop resumes after handlers that run the following
     * instructions of their block themselves (target/x86/int-fast.c). */
    const void *thread_end;

    /* Statistics for the benchmark: instructions executed. */
    uint64_t icount;

    /* gdb's points and step; NULL (the fast path) when there are none */
    X86Debug *debug;
} X86CPU;

/* Why x86_cpu_exec returned. */
typedef enum X86ExitReason {
    X86_EXIT_REQUEST,       /* exit_request was set (kick, pause) */
    X86_EXIT_HALT,          /* hlt, or waiting for SIPI: nothing to run */
    X86_EXIT_TRIPLE_FAULT,  /* shutdown: the machine resets */
    X86_EXIT_DEBUG,         /* gdb's: cpu->debug->hit says why */
} X86ExitReason;

/* target/x86/cpu.c */
X86CPU *x86_cpu_new(CPUState *cs);
void x86_cpu_free(X86CPU *cpu);
typedef struct X86CoreRegs X86CoreRegs;     /* target/x86/inspect.h */
/* target/x86/debug.c: this CPU takes the machine's debug set (parked). */
void x86_cpu_set_debug(X86CPU *cpu, const GuestDebug *dbg);
/* Writes the registers a debugger may change (parked). */
void x86_cpu_set_core_regs(X86CPU *cpu, const X86CoreRegs *r);
/*
 * Power-on/reset state (SDM 9.1.1); for the bootstrap processor of a
 * machine booted without firmware, the BootState entry state instead.
 * Application processors wait for SIPI.
 */
void x86_cpu_reset(X86CPU *cpu, const BootState *boot, bool bsp);
/* CPUID leaf/subleaf as this CPU reports it. */
void x86_cpu_cpuid(X86CPU *cpu, uint32_t leaf, uint32_t subleaf,
                   uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                   uint32_t *edx);
/* Whether an interrupt, NMI, INIT or SIPI would wake a halted CPU now. */
bool x86_cpu_has_work(X86CPU *cpu);

/* target/x86/exec.c: runs guest code until one of X86ExitReason. */
X86ExitReason x86_cpu_exec(X86CPU *cpu);

/* target/x86/mmu.c: the physical map the software CPU sees. */
void x86_phys_map_listen(Machine *m);
/* Drops every cached translation and decoded block (reset, map change). */
void x86_cpu_flush_all(X86CPU *cpu);
/* RAM at [paddr, paddr+len) was written other than by this CPU's stores. */
void x86_code_invalidate(uint64_t paddr, uint64_t len);

#endif
