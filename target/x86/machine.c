/*
 * The software CPU's state for snapshots and migration: the architectural
 * registers of X86CPU as a vmstate description (include/migration/
 * vmstate.h), with the checks a hostile stream needs before the
 * interpreter runs on what it supplied.
 *
 * What is not here, and why:
 *  - the lazy-flag operands (cc_op, cc_dst...): the stream has the whole
 *    RFLAGS, and a load turns it back into "flags known" form;
 *  - cpl, code_size, stack_size, long_mode: derived from CS, SS, CR0 and
 *    EFER by x86_update_mode;
 *  - the exception being raised: only exists inside one instruction, and
 *    the vCPU is parked between instructions;
 *  - TLBs and decoded blocks: caches, flushed on load;
 *  - CR8, the APIC base MSR and the TSC deadline: LAPIC registers, saved
 *    with the LAPIC device; A20 and SMM: the interpreter has neither a gate
 *    nor system-management mode, so both are constants;
 *  - XCR0 and AVX: the CPU does not advertise XSAVE.
 */
#include <string.h>

#include "fpu-internal.h"
#include "hw/intc/x86-irqchip.h"
#include "sys-internal.h"
#include "system/timer.h"
#include "target/x86/machine.h"
#include "util/opts.h"

/* What interrupt_request bits are state: events the CPU has not taken.
 * CPU_INTERRUPT_HARD mirrors the LAPIC, which recomputes it. */
#define PENDING_EVENTS (CPU_INTERRUPT_NMI | CPU_INTERRUPT_INIT | \
                        CPU_INTERRUPT_SIPI)

#define CR0_KNOWN (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | \
                   CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG)
/* What mov to CR4 accepts (target/x86/sys.c). */
#define CR4_KNOWN (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | \
                   CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)
#define EFER_KNOWN (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
/* EFLAGS bits that exist; bit 1 reads as one. */
#define EFLAGS_KNOWN (CC_ALL | 0x2 | TF_MASK | IF_MASK | DF_MASK | \
                      IOPL_MASK | NT_MASK | RF_MASK | VM_MASK | AC_MASK | \
                      VIF_MASK | VIP_MASK | ID_MASK)
/* Descriptor bits 8..23 as SegmentCache.flags keeps them. */
#define SEG_FLAGS_KNOWN 0x00ffff00u

/*
 * What is saved besides the X86CPU fields: values that live elsewhere
 * (the lazy RFLAGS, X86CPUPriv, CPUState) gathered into one struct, and
 * the X86CPU being saved or decoded into.
 */
typedef struct X86CPUMig {
    X86CPU *cpu;
    uint64_t rflags;
    uint64_t debugctl;
    uint64_t tsc;               /* the guest's TSC when the VM stopped */
    uint32_t pending;           /* PENDING_EVENTS bits of interrupt_request */
    uint8_t sipi_vector;
} X86CPUMig;

/* ---- pieces ---- */

static const VMStateField segment_fields[] = {
    VMSTATE_UINT16(selector, SegmentCache),
    VMSTATE_UINT64(base, SegmentCache),
    VMSTATE_UINT32(limit, SegmentCache),
    VMSTATE_UINT32(flags, SegmentCache),
    VMSTATE_END_OF_LIST(),
};

static bool segment_post_load(void *opaque, int version_id, GError **errp)
{
    SegmentCache *s = opaque;

    if (s->flags & ~SEG_FLAGS_KNOWN) {
        g_set_error(errp, VIREO_ERROR, 0, "segment flags 0x%x have bits "
                    "outside the descriptor's attributes", s->flags);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_segment = {
    .name = "x86-segment",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = segment_fields,
    .post_load = segment_post_load,
};

static const VMStateField dtable_fields[] = {
    VMSTATE_UINT64(base, DescriptorTable),
    VMSTATE_UINT32(limit, DescriptorTable),
    VMSTATE_END_OF_LIST(),
};

static bool dtable_post_load(void *opaque, int version_id, GError **errp)
{
    DescriptorTable *t = opaque;

    if (t->limit > 0xffff) {
        g_set_error(errp, VIREO_ERROR, 0, "descriptor-table limit 0x%x is "
                    "over 16 bits", t->limit);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_dtable = {
    .name = "x86-dtable",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = dtable_fields,
    .post_load = dtable_post_load,
};

/*
 * (A custom field: opaque is the X86CPU.) The x87 registers as their
 * 80-bit images (64-bit significand, 16-bit
 * sign and exponent); the host's long double padding is not state and is
 * zeroed on load so that a save after a load gives the same bytes.
 */
static bool fpregs_save(GByteArray *out, void *opaque, GError **errp)
{
    const FPReg *r = ((X86CPU *)opaque)->fpregs;

    for (int i = 0; i < 8; i++) {
        vmstate_put_u64(out, r[i].raw.mant);
        vmstate_put_u16(out, r[i].raw.exp);
    }
    return true;
}

static bool fpregs_load(VMStateReader *in, void *opaque, GError **errp)
{
    FPReg *r = ((X86CPU *)opaque)->fpregs;

    for (int i = 0; i < 8; i++) {
        FPReg v;
        memset(&v, 0, sizeof(v));
        if (!vmstate_get_u64(in, &v.raw.mant, errp) ||
            !vmstate_get_u16(in, &v.raw.exp, errp)) {
            return false;
        }
        r[i] = v;
    }
    return true;
}

static const VMStateInfo vmstate_info_fpregs = {
    .name = "x87-registers",
    .save = fpregs_save,
    .load = fpregs_load,
};

/* XMM0..15 as two quadwords each, low first (a custom field too). */
static bool xmm_save(GByteArray *out, void *opaque, GError **errp)
{
    const XMMReg *x = ((X86CPU *)opaque)->xmm;

    for (int i = 0; i < 16; i++) {
        vmstate_put_u64(out, x[i].q[0]);
        vmstate_put_u64(out, x[i].q[1]);
    }
    return true;
}

static bool xmm_load(VMStateReader *in, void *opaque, GError **errp)
{
    XMMReg *x = ((X86CPU *)opaque)->xmm;

    for (int i = 0; i < 16; i++) {
        if (!vmstate_get_u64(in, &x[i].q[0], errp) ||
            !vmstate_get_u64(in, &x[i].q[1], errp)) {
            return false;
        }
    }
    return true;
}

static const VMStateInfo vmstate_info_xmm = {
    .name = "xmm-registers",
    .save = xmm_save,
    .load = xmm_load,
};

/* ---- the CPU ---- */

static const char *cpu_check_control(const X86CPU *cpu)
{
    bool lme = cpu->efer & EFER_LME, lma = cpu->efer & EFER_LMA;
    bool pg = cpu->cr0 & CR0_PG;

    if (cpu->cr0 & ~(uint64_t)CR0_KNOWN) {
        return "CR0 has reserved bits set";
    }
    if (pg && !(cpu->cr0 & CR0_PE)) {
        return "CR0.PG is set without CR0.PE";
    }
    if ((cpu->cr0 & CR0_NW) && !(cpu->cr0 & CR0_CD)) {
        return "CR0.NW is set without CR0.CD";
    }
    if (cpu->cr4 & ~(uint64_t)CR4_KNOWN) {
        return "CR4 has bits this CPU does not implement";
    }
    if (cpu->efer & ~(uint64_t)EFER_KNOWN) {
        return "EFER has reserved bits set";
    }
    if (lma != (lme && pg)) {
        return "EFER.LMA does not match EFER.LME and CR0.PG";
    }
    if (lma && !(cpu->cr4 & CR4_PAE)) {
        return "long mode without CR4.PAE";
    }
    if (cpu->cr3 >> X86_PHYS_BITS) {
        return "CR3 is beyond the physical address width";
    }
    if ((cpu->dr[6] >> 32) || (cpu->dr[7] >> 32)) {
        return "DR6 or DR7 has bits 63:32 set";
    }
    return NULL;
}

static const char *cpu_check_msrs(const X86CPU *cpu)
{
    uint64_t phys_mask = ((1ull << X86_PHYS_BITS) - 1) & ~0xfffull;

    if (!x86_canonical(cpu->lstar) || !x86_canonical(cpu->cstar) ||
        !x86_canonical(cpu->kernel_gs_base) ||
        !x86_canonical(cpu->sysenter_esp) ||
        !x86_canonical(cpu->sysenter_eip) ||
        !x86_canonical(cpu->segs[R_FS].base) ||
        !x86_canonical(cpu->segs[R_GS].base)) {
        return "an address MSR is not canonical";
    }
    if ((cpu->sysenter_cs >> 16) || (cpu->fmask >> 32) ||
        (cpu->tsc_aux >> 32) || cpu->mcg_status) {
        return "an MSR has reserved bits set";
    }
    if (!x86_pat_valid(cpu->pat)) {
        return "PAT has an invalid memory type";
    }
    if ((cpu->mtrr_deftype & ~0xcffull) ||
        !x86_mtrr_type_valid(cpu->mtrr_deftype & 0xff)) {
        return "MTRRdefType is invalid";
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cpu->mtrr_fixed); i++) {
        for (int b = 0; b < 8; b++) {
            if (!x86_mtrr_type_valid(cpu->mtrr_fixed[i] >> (b * 8))) {
                return "a fixed-range MTRR has an invalid memory type";
            }
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cpu->mtrr_var); i += 2) {
        uint64_t base = cpu->mtrr_var[i], mask = cpu->mtrr_var[i + 1];
        if ((base & ~(phys_mask | 0xff)) || !x86_mtrr_type_valid(base & 0xff) ||
            (mask & ~(phys_mask | 0x800))) {
            return "a variable-range MTRR is invalid";
        }
    }
    return NULL;
}

static const char *cpu_check(const X86CPU *cpu)
{
    const char *why = cpu_check_control(cpu);

    if (why) {
        return why;
    }
    if (cpu->fpstt > 7) {
        return "the x87 stack top is out of range";
    }
    if (cpu->fpus & FPUS_TOP) {
        return "the x87 status word keeps TOP elsewhere";
    }
    if (cpu->mxcsr & ~MXCSR_VALID) {
        return "MXCSR has reserved bits set";
    }
    return cpu_check_msrs(cpu);
}

static bool cpu_post_load(void *opaque, int version_id, GError **errp)
{
    const char *why = cpu_check(opaque);

    if (why) {
        g_set_error(errp, VIREO_ERROR, 0, "%s", why);
        return false;
    }
    return true;
}

static const VMStateField cpu_fields[] = {
    VMSTATE_UINT64_ARRAY(regs, X86CPU),
    VMSTATE_UINT64(rip, X86CPU),
    VMSTATE_STRUCT_ARRAY(segs, X86CPU, vmstate_segment, SegmentCache),
    VMSTATE_STRUCT(ldt, X86CPU, vmstate_segment, SegmentCache),
    VMSTATE_STRUCT(tr, X86CPU, vmstate_segment, SegmentCache),
    VMSTATE_STRUCT(gdt, X86CPU, vmstate_dtable, DescriptorTable),
    VMSTATE_STRUCT(idt, X86CPU, vmstate_dtable, DescriptorTable),
    VMSTATE_UINT64(cr0, X86CPU),
    VMSTATE_UINT64(cr2, X86CPU),
    VMSTATE_UINT64(cr3, X86CPU),
    VMSTATE_UINT64(cr4, X86CPU),
    VMSTATE_UINT64(efer, X86CPU),
    VMSTATE_UINT64_ARRAY(dr, X86CPU),
    /* MSRs */
    VMSTATE_UINT64(star, X86CPU),
    VMSTATE_UINT64(lstar, X86CPU),
    VMSTATE_UINT64(cstar, X86CPU),
    VMSTATE_UINT64(fmask, X86CPU),
    VMSTATE_UINT64(kernel_gs_base, X86CPU),
    VMSTATE_UINT64(sysenter_cs, X86CPU),
    VMSTATE_UINT64(sysenter_esp, X86CPU),
    VMSTATE_UINT64(sysenter_eip, X86CPU),
    VMSTATE_UINT64(pat, X86CPU),
    VMSTATE_UINT64(tsc_aux, X86CPU),
    VMSTATE_UINT64(misc_enable, X86CPU),
    VMSTATE_UINT64(spec_ctrl, X86CPU),
    VMSTATE_UINT64(mtrr_deftype, X86CPU),
    VMSTATE_UINT64_ARRAY(mtrr_fixed, X86CPU),
    VMSTATE_UINT64_ARRAY(mtrr_var, X86CPU),
    VMSTATE_UINT64(mcg_status, X86CPU),
    /* x87, MMX, SSE */
    VMSTATE_CUSTOM("fpregs", vmstate_info_fpregs),
    VMSTATE_UINT16(fpuc, X86CPU),
    VMSTATE_UINT16(fpus, X86CPU),
    VMSTATE_UINT8(fptags, X86CPU),
    VMSTATE_UINT8(fpstt, X86CPU),
    VMSTATE_UINT16(fpop, X86CPU),
    VMSTATE_UINT64(fpip, X86CPU),
    VMSTATE_UINT64(fpdp, X86CPU),
    VMSTATE_CUSTOM("xmm", vmstate_info_xmm),
    VMSTATE_UINT32(mxcsr, X86CPU),
    /* execution state between instructions */
    VMSTATE_BOOL(halted, X86CPU),
    VMSTATE_BOOL(wait_for_sipi, X86CPU),
    VMSTATE_BOOL(nmi_blocked, X86CPU),
    VMSTATE_BOOL(interrupt_shadow, X86CPU),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_x86_cpu = {
    .name = "x86-cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = cpu_fields,
    .post_load = cpu_post_load,
};

/* ---- the vCPU: the CPU plus what lives around it ---- */

static bool mig_post_load(void *opaque, int version_id, GError **errp)
{
    X86CPUMig *s = opaque;

    if (s->rflags & ~(uint64_t)EFLAGS_KNOWN || !(s->rflags & 0x2)) {
        g_set_error(errp, VIREO_ERROR, 0, "RFLAGS 0x%" G_GINT64_MODIFIER
                    "x has reserved bits wrong", s->rflags);
        return false;
    }
    if (s->debugctl & ~0x3ull) {
        g_set_error(errp, VIREO_ERROR, 0, "DEBUGCTL has bits this CPU "
                    "does not implement");
        return false;
    }
    if (s->tsc >> 63) {
        /* 292 years at 1 GHz; and TSC = clock + offset must not overflow */
        g_set_error(errp, VIREO_ERROR, 0, "TSC 0x%" G_GINT64_MODIFIER "x is "
                    "out of range", s->tsc);
        return false;
    }
    if (s->pending & ~(uint32_t)PENDING_EVENTS) {
        g_set_error(errp, VIREO_ERROR, 0, "unknown pending events 0x%x",
                    s->pending);
        return false;
    }
    return true;
}

static const VMStateField mig_fields[] = {
    VMSTATE_STRUCT_POINTER(cpu, X86CPUMig, vmstate_x86_cpu, X86CPU),
    VMSTATE_UINT64(rflags, X86CPUMig),
    VMSTATE_UINT64(debugctl, X86CPUMig),
    VMSTATE_UINT64(tsc, X86CPUMig),
    VMSTATE_UINT32(pending, X86CPUMig),
    VMSTATE_UINT8(sipi_vector, X86CPUMig),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_x86_vcpu = {
    .name = "x86-vcpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = mig_fields,
    .post_load = mig_post_load,
};

bool x86_cpu_state_save(X86CPU *cpu, GByteArray *out, GError **errp)
{
    CPUState *cs = cpu->cs;
    X86CPUMig s = {
        .cpu = cpu,
        .rflags = x86_get_eflags(cpu),
        .debugctl = x86_priv(cpu)->debugctl,
        .tsc = x86_cpu_get_tsc(cpu),
        .pending = __atomic_load_n(&cs->interrupt_request,
                                   __ATOMIC_SEQ_CST) & PENDING_EVENTS,
        .sipi_vector = cs->sipi_vector,
    };

    return vmstate_save_state(out, &vmstate_x86_vcpu, &s, errp);
}

/*
 * Into a copy of the whole CPU (its caches included, never looked at), so
 * that a stream failing half-way leaves the vCPU alone; the copy then
 * replaces the original. Both are the same object but for the fields the
 * stream sets: the vCPU thread is parked outside x86_cpu_exec.
 */
bool x86_cpu_state_load(X86CPU *cpu, const uint8_t *data, size_t len,
                        bool apply, GError **errp)
{
    g_autofree X86CPUPriv *copy = g_memdup2(x86_priv(cpu),
                                            sizeof(X86CPUPriv));
    CPUState *cs = cpu->cs;
    X86CPUMig s = { .cpu = &copy->cpu };
    VMStateReader in = { .data = data, .len = len };

    if (!vmstate_load_state(&in, &vmstate_x86_vcpu, &s, errp)) {
        return false;
    }
    if (in.pos != in.len) {
        g_set_error(errp, VIREO_ERROR, 0, "%zu stray bytes after the state "
                    "of vCPU %d", in.len - in.pos, cs->index);
        return false;
    }
    if (!apply) {
        return true;
    }
    memcpy(x86_priv(cpu), copy, sizeof(X86CPUPriv));
    x86_set_eflags(cpu, s.rflags, ~0ull);
    x86_priv(cpu)->debugctl = s.debugctl;
    cpu->next_rip = cpu->rip;
    cpu->exception_vector = -1;
    cpu->exception_nesting = 0;
    cpu->triple_fault = false;
    x86_update_mode(cpu);
    x86_cpu_flush_all(cpu);

    /* the TSC continues from where it was, whatever the clock says now */
    cs->tsc_offset = (int64_t)(s.tsc - (uint64_t)clock_get_ns(CLK_VIRTUAL));
    if (cs->apic) {
        apic_set_tsc_deadline(cs->apic, apic_get_tsc_deadline(cs->apic));
    }
    cs->sipi_vector = s.sipi_vector;
    cpu_reset_interrupt(cs, PENDING_EVENTS);
    __atomic_or_fetch(&cs->interrupt_request, s.pending, __ATOMIC_SEQ_CST);
    return true;
}
