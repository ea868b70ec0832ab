/*
 * vCPU state for the monitor: a snapshot of the software CPU, QEMU 7.2's
 * "info registers" layout (target/i386 cpu_dump_state with CPU_DUMP_FPU),
 * and the accelerator-independent entry points of inspect.h.
 */
#include <inttypes.h>

#include "fpu-internal.h"
#include "hw/i386/x86.h"
#include "system/vm.h"
#include "target/x86/inspect.h"
#include "util/opts.h"

void x86_cpu_save_snapshot(X86CPU *cpu, X86CPUSnapshot *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->regs, cpu->regs, sizeof(s->regs));
    s->rip = cpu->rip;
    s->rflags = x86_get_eflags(cpu);
    for (int i = 0; i < 6; i++) {
        const SegmentCache *sc = &cpu->segs[i];
        s->segs[i] = (X86SegmentSnapshot){ sc->selector, sc->base,
                                           sc->limit, sc->flags };
    }
    s->ldt = (X86SegmentSnapshot){ cpu->ldt.selector, cpu->ldt.base,
                                   cpu->ldt.limit, cpu->ldt.flags };
    s->tr = (X86SegmentSnapshot){ cpu->tr.selector, cpu->tr.base,
                                  cpu->tr.limit, cpu->tr.flags };
    s->gdt_base = cpu->gdt.base;
    s->gdt_limit = cpu->gdt.limit;
    s->idt_base = cpu->idt.base;
    s->idt_limit = cpu->idt.limit;
    s->cr0 = cpu->cr0;
    s->cr2 = cpu->cr2;
    s->cr3 = cpu->cr3;
    s->cr4 = cpu->cr4;
    s->efer = cpu->efer;
    memcpy(s->dr, cpu->dr, sizeof(s->dr));
    s->cpl = cpu->cpl;
    s->interrupt_shadow = cpu->interrupt_shadow;
    s->a20 = true;          /* the gate is always open (port92, i8042) */
    s->halted = cpu->halted || cpu->wait_for_sipi;
    s->has_fpu = true;
    s->fcw = cpu->fpuc;
    s->fsw = x87_status(cpu);
    s->ftw = ~cpu->fptags;
    for (int i = 0; i < 8; i++) {
        s->fpr[i].mant = cpu->fpregs[i].raw.mant;
        s->fpr[i].exp = cpu->fpregs[i].raw.exp;
    }
    s->mxcsr = cpu->mxcsr;
    for (int i = 0; i < 16; i++) {
        s->xmm[i][0] = cpu->xmm[i].q[0];
        s->xmm[i][1] = cpu->xmm[i].q[1];
    }
}

/* ---- "info registers" ---- */

#define SNAP_CR0_PE     (1u << 0)
#define SNAP_EFER_LMA   (1u << 10)

static const char *const seg_names[6] = { "ES", "CS", "SS", "DS", "FS", "GS" };

/* Names of system descriptor types, legacy and IA-32e (SDM 3.5). */
static const char *const sys_type_names[2][16] = {
    { "Reserved", "TSS16-avl", "LDT", "TSS16-busy", "CallGate16",
      "TaskGate", "IntGate16", "TrapGate16", "Reserved", "TSS32-avl",
      "Reserved", "TSS32-busy", "CallGate32", "Reserved", "IntGate32",
      "TrapGate32" },
    { "<hiword>", "Reserved", "LDT", "Reserved", "Reserved", "Reserved",
      "Reserved", "Reserved", "Reserved", "TSS64-avl", "Reserved",
      "TSS64-busy", "CallGate64", "Reserved", "IntGate64", "TrapGate64" },
};

static void format_segment(GString *out, const char *name,
                           const X86SegmentSnapshot *sc, bool cs64, bool pe,
                           bool lma)
{
    uint32_t f = sc->flags;

    if (cs64) {
        g_string_append_printf(out, "%-3s=%04x %016" PRIx64 " %08x %08x",
                               name, sc->selector, sc->base, sc->limit,
                               f & 0x00ffff00);
    } else {
        g_string_append_printf(out, "%-3s=%04x %08x %08x %08x", name,
                               sc->selector, (uint32_t)sc->base, sc->limit,
                               f & 0x00ffff00);
    }
    /* decoded only in protected mode and for present segments */
    if (pe && (f & DESC_P_MASK)) {
        g_string_append_printf(out, " DPL=%u ", (f >> DESC_DPL_SHIFT) & 3);
        if (!(f & DESC_S_MASK)) {
            g_string_append(out, sys_type_names[lma][(f >> 8) & 15]);
        } else if (f & DESC_CS_MASK) {
            g_string_append(out, (f & DESC_L_MASK) ? "CS64"
                                 : (f & DESC_B_MASK) ? "CS32" : "CS16");
            g_string_append_printf(out, " [%c%c%c]",
                                   (f & DESC_C_MASK) ? 'C' : '-',
                                   (f & DESC_RW_MASK) ? 'R' : '-',
                                   (f & DESC_A_MASK) ? 'A' : '-');
        } else {
            g_string_append(out, ((f & DESC_B_MASK) || lma) ? "DS  "
                                                           : "DS16");
            g_string_append_printf(out, " [%c%c%c]",
                                   (f & DESC_E_MASK) ? 'E' : '-',
                                   (f & DESC_RW_MASK) ? 'W' : '-',
                                   (f & DESC_A_MASK) ? 'A' : '-');
        }
    }
    g_string_append_c(out, '\n');
}

static void format_general(GString *out, const X86CPUSnapshot *s, bool cs64)
{
    static const char *const names64[16] = {
        "RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP",
        "R8 ", "R9 ", "R10", "R11", "R12", "R13", "R14", "R15",
    };
    /* QEMU's order: A, B, C, D, SI, DI, BP, SP, then R8..R15 */
    static const int order[16] = { R_EAX, R_EBX, R_ECX, R_EDX, R_ESI, R_EDI,
                                   R_EBP, R_ESP, 8, 9, 10, 11, 12, 13, 14,
                                   15 };
    uint64_t fl = s->rflags;
    int n = cs64 ? 16 : 8;

    for (int i = 0; i < n; i++) {
        if (cs64) {
            g_string_append_printf(out, "%s=%016" PRIx64, names64[i],
                                   s->regs[order[i]]);
        } else {
            g_string_append_printf(out, "E%s=%08x", names64[i] + 1,
                                   (uint32_t)s->regs[order[i]]);
        }
        g_string_append_c(out, (i & 3) == 3 ? '\n' : ' ');
    }
    if (cs64) {
        g_string_append_printf(out, "RIP=%016" PRIx64 " RFL=%08x", s->rip,
                               (uint32_t)fl);
    } else {
        g_string_append_printf(out, "EIP=%08x EFL=%08x", (uint32_t)s->rip,
                               (uint32_t)fl);
    }
    g_string_append_printf(out,
                           " [%c%c%c%c%c%c%c] CPL=%d II=%d A20=%d SMM=%d "
                           "HLT=%d\n",
                           (fl & DF_MASK) ? 'D' : '-',
                           (fl & CC_O) ? 'O' : '-', (fl & CC_S) ? 'S' : '-',
                           (fl & CC_Z) ? 'Z' : '-', (fl & CC_A) ? 'A' : '-',
                           (fl & CC_P) ? 'P' : '-', (fl & CC_C) ? 'C' : '-',
                           s->cpl, s->interrupt_shadow, s->a20, s->smm,
                           s->halted);
}

static void format_fpu(GString *out, const X86CPUSnapshot *s, bool cs64)
{
    g_string_append_printf(out,
                           "FCW=%04x FSW=%04x [ST=%d] FTW=%02x MXCSR=%08x\n",
                           s->fcw, s->fsw, (s->fsw >> 11) & 7, s->ftw,
                           s->mxcsr);
    for (int i = 0; i < 8; i++) {
        g_string_append_printf(out, "FPR%d=%016" PRIx64 " %04x", i,
                               s->fpr[i].mant, s->fpr[i].exp);
        g_string_append_c(out, (i & 1) ? '\n' : ' ');
    }
    for (int i = 0; i < (cs64 ? 16 : 8); i++) {
        g_string_append_printf(out, "XMM%02d=%016" PRIx64 " %016" PRIx64, i,
                               s->xmm[i][1], s->xmm[i][0]);
        g_string_append_c(out, (i & 1) ? '\n' : ' ');
    }
}

void x86_snapshot_format(const X86CPUSnapshot *s, GString *out)
{
    bool pe = s->cr0 & SNAP_CR0_PE;
    bool lma = s->efer & SNAP_EFER_LMA;
    bool cs64 = lma && (s->segs[R_CS].flags & DESC_L_MASK);

    format_general(out, s, cs64);
    for (int i = 0; i < 6; i++) {
        format_segment(out, seg_names[i], &s->segs[i], cs64, pe, lma);
    }
    format_segment(out, "LDT", &s->ldt, cs64, pe, lma);
    format_segment(out, "TR", &s->tr, cs64, pe, lma);
    if (lma) {
        g_string_append_printf(out, "GDT=     %016" PRIx64 " %08x\n",
                               s->gdt_base, s->gdt_limit);
        g_string_append_printf(out, "IDT=     %016" PRIx64 " %08x\n",
                               s->idt_base, s->idt_limit);
        g_string_append_printf(out,
                               "CR0=%08x CR2=%016" PRIx64 " CR3=%016" PRIx64
                               " CR4=%08x\n", (uint32_t)s->cr0, s->cr2,
                               s->cr3, (uint32_t)s->cr4);
    } else {
        g_string_append_printf(out, "GDT=     %08x %08x\n",
                               (uint32_t)s->gdt_base, s->gdt_limit);
        g_string_append_printf(out, "IDT=     %08x %08x\n",
                               (uint32_t)s->idt_base, s->idt_limit);
        g_string_append_printf(out, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n",
                               (uint32_t)s->cr0, (uint32_t)s->cr2,
                               (uint32_t)s->cr3, (uint32_t)s->cr4);
    }
    for (int i = 0; i < 4; i++) {
        g_string_append_printf(out, "DR%d=%016" PRIx64 " ", i, s->dr[i]);
    }
    g_string_append_printf(out, "\nDR6=%016" PRIx64 " DR7=%016" PRIx64 "\n",
                           s->dr[6], s->dr[7]);
    g_string_append_printf(out, "EFER=%016" PRIx64 "\n", s->efer);
    if (s->has_fpu) {
        format_fpu(out, s, cs64);
    }
}

/* ---- entry points ---- */

bool x86_cpu_get_snapshot(CPUState *cpu, X86CPUSnapshot *out, GError **errp)
{
    Machine *m = cpu->machine;
    bool was_running, ok;

    if (!m->accel || !m->accel->vcpu_get_state) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "the %s accelerator cannot read vCPU registers",
                    m->accel ? m->accel->name : "current");
        return false;
    }
    was_running = vcpus_inspect_begin(m);
    ok = m->accel->vcpu_get_state(cpu, out, errp);
    vcpus_inspect_end(m, was_running);
    return ok;
}

bool x86_cpu_dump_registers(CPUState *cpu, GString *out, GError **errp)
{
    X86CPUSnapshot s;

    if (!x86_cpu_get_snapshot(cpu, &s, errp)) {
        return false;
    }
    x86_snapshot_format(&s, out);
    return true;
}

bool x86_cpu_gva_to_gpa(CPUState *cpu, uint64_t gva, uint64_t *gpa,
                        GError **errp)
{
    X86CPUSnapshot s;

    if (!x86_cpu_get_snapshot(cpu, &s, errp)) {
        return false;
    }
    if (!x86_page_walk(&cpu->machine->as_mem, &s, gva, gpa, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "Unmapped");
        return false;
    }
    return true;
}
