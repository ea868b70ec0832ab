/*
 * Looking inside an x86 vCPU from the monitor and the gdb stub: a plain
 * snapshot of its architectural state that every accelerator can fill,
 * QEMU's "info registers" text for it, and a read-only guest page walk.
 */
#ifndef TARGET_X86_INSPECT_H
#define TARGET_X86_INSPECT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/cpu.h"
#include "system/memory.h"

/*
 * A segment register with its hidden part. flags holds bits 8..23 of the
 * descriptor's high dword in place (type at bit 8, S 12, DPL 13-14, P 15,
 * AVL 20, L 21, D/B 22, G 23), as QEMU keeps them; limit is in bytes.
 */
typedef struct X86SegmentSnapshot {
    uint16_t selector;
    uint64_t base;
    uint32_t limit;
    uint32_t flags;
} X86SegmentSnapshot;

typedef struct X86CPUSnapshot {
    /* RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15: encoding order */
    uint64_t regs[16];
    uint64_t rip;
    uint64_t rflags;
    X86SegmentSnapshot segs[6];     /* ES, CS, SS, DS, FS, GS */
    X86SegmentSnapshot ldt, tr;
    uint64_t gdt_base, idt_base;
    uint32_t gdt_limit, idt_limit;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t dr[8];                 /* DR4 and DR5 unused */
    int cpl;
    bool interrupt_shadow;          /* after sti / mov ss: QEMU's II */
    bool a20;                       /* the A20 gate lets bit 20 through */
    bool smm;
    bool halted;                    /* hlt, or an AP waiting for SIPI */
    /* x87 and SSE; false when the accelerator could not read them */
    bool has_fpu;
    uint16_t fcw;
    uint16_t fsw;                   /* with TOP in bits 13:11 */
    uint8_t ftw;                    /* abridged: bit i set, R<i> is valid */
    struct {
        uint64_t mant;
        uint16_t exp;               /* sign and exponent */
    } fpr[8];                       /* physical registers R0..R7 */
    uint32_t mxcsr;
    uint64_t xmm[16][2];            /* [i][0] is the low quadword */
} X86CPUSnapshot;

/* What a debugger writes: the general registers, rip and rflags. */
typedef struct X86CoreRegs {
    uint64_t regs[16];
    uint64_t rip;
    uint64_t rflags;
} X86CoreRegs;

/* Where the vCPU's state comes from: the accelerators' vcpu_get_state. */
bool kvm_vcpu_get_state(CPUState *cpu, X86CPUSnapshot *out, GError **errp);
bool tcg_vcpu_get_state(CPUState *cpu, X86CPUSnapshot *out, GError **errp);

typedef struct X86CPU X86CPU;
/* The software CPU's state (target/x86), for tcg_vcpu_get_state. */
void x86_cpu_save_snapshot(X86CPU *cpu, X86CPUSnapshot *out);

/*
 * Reads the vCPU's state through its accelerator, pausing the vCPUs around
 * it (vcpus_inspect_begin/end). Call with the big lock held.
 */
bool x86_cpu_get_snapshot(CPUState *cpu, X86CPUSnapshot *out, GError **errp);

/*
 * QEMU 7.2's "info registers" text for a snapshot: from the EAX/RAX line
 * to the last XMM line, every line ending in "\n". HMP prints QEMU's
 * "\nCPU#<index>\n" header before it.
 */
void x86_snapshot_format(const X86CPUSnapshot *s, GString *out);
/* x86_cpu_get_snapshot + x86_snapshot_format, appended to out. */
bool x86_cpu_dump_registers(CPUState *cpu, GString *out, GError **errp);

/*
 * Translates a linear address as the vCPU would, reading the paging
 * structures from as and changing nothing (no accessed/dirty bits, no
 * permission checks): paging off (A20 applied), 32-bit paging (4 KiB and
 * PSE 4 MiB pages), PAE, 4-level and 5-level paging. False when the
 * address is not mapped (an entry not present, or non-canonical).
 * page_size, if not NULL, gets the size of the translation.
 */
bool x86_page_walk(AddressSpace *as, const X86CPUSnapshot *s, uint64_t gva,
                   uint64_t *gpa, uint64_t *page_size);
/* x86_cpu_get_snapshot + x86_page_walk; "Unmapped" error when not mapped. */
bool x86_cpu_gva_to_gpa(CPUState *cpu, uint64_t gva, uint64_t *gpa,
                        GError **errp);

#endif
