/*
 * KVM vCPUs: CPUID and topology, reset and boot register state, the run
 * loop and its exits (Documentation/virt/kvm/api.rst, Intel SDM vol. 3).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <asm/kvm_para.h>

#include "hw/intc/x86-irqchip.h"
#include "kvm_int.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

/* CPUID bits we adjust (SDM vol. 2A, CPUID) */
#define CPUID_1_ECX_X2APIC (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

/*
 * KVM paravirtual features that need KVM's LAPIC (PV EOI, PV unhalt, PV
 * IPIs, async page faults) or its MSI extended destination ID, which
 * Vireo's IOAPIC does not produce.
 */
#define KVM_PV_NEEDS_KERNEL_LAPIC                                       \
    ((1u << KVM_FEATURE_ASYNC_PF) | (1u << KVM_FEATURE_PV_EOI) |        \
     (1u << KVM_FEATURE_PV_UNHALT) | (1u << KVM_FEATURE_PV_SEND_IPI) |  \
     (1u << KVM_FEATURE_PV_SCHED_YIELD) | (1u << KVM_FEATURE_ASYNC_PF_INT))

static unsigned topo_bits(unsigned count)
{
    unsigned bits = 0;
    while ((1u << bits) < count) {
        bits++;
    }
    return bits;
}

/*
 * The host's supported CPUID, with this vCPU's APIC ID and the machine's
 * topology (leaves 1, 4, 0xB, 0x1F) and the hypervisor bit. Without KVM's
 * LAPIC (kernel-irqchip=off) nothing the userspace LAPIC cannot deliver:
 * no x2APIC, no TSC-deadline timer, no PV features built on KVM's LAPIC.
 */
static struct kvm_cpuid2 *vcpu_cpuid(KVMState *s, CPUState *cpu)
{
    const MachineConfig *cfg = &cpu->machine->cfg;
    size_t sz = sizeof(struct kvm_cpuid2) +
                s->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = g_memdup2(s->cpuid, sz);
    unsigned tbits = topo_bits(cfg->threads);
    unsigned cbits = topo_bits(cfg->cores);
    unsigned per_pkg = cfg->threads * cfg->cores;
    bool kernel_lapic = s->irqchip != KERNEL_IRQCHIP_OFF;

    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0xffff) | (MIN(per_pkg, 255u) << 16) |
                     ((cpu->apic_id & 0xff) << 24);
            e->ecx |= CPUID_1_ECX_HYPERVISOR;
            if (s->tsc_deadline && kernel_lapic) {
                e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
            }
            if (!kernel_lapic) {
                e->ecx &= ~(CPUID_1_ECX_X2APIC | CPUID_1_ECX_TSC_DEADLINE);
            }
            if (per_pkg > 1) {
                e->edx |= CPUID_1_EDX_HTT;
            }
            break;
        case 4:
            /* cores per package - 1, and threads sharing this cache - 1 */
            if (e->eax & 0x1f) {
                unsigned level = (e->eax >> 5) & 7;
                unsigned sharing = level >= 3 ? per_pkg : cfg->threads;
                e->eax = (e->eax & 0x3ff) |
                         ((sharing - 1) << 14) | ((cfg->cores - 1) << 26);
            }
            break;
        case 0xb:
        case 0x1f:
            e->edx = cpu->apic_id;
            if (e->index == 0) {
                e->eax = tbits;
                e->ebx = cfg->threads;
                e->ecx = 0 | (1 << 8);          /* SMT level */
            } else if (e->index == 1) {
                e->eax = tbits + cbits;
                e->ebx = per_pkg;
                e->ecx = 1 | (2 << 8);          /* core level */
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index;              /* invalid level */
            }
            break;
        case KVM_CPUID_FEATURES:
            if (!kernel_lapic) {
                e->eax &= ~KVM_PV_NEEDS_KERNEL_LAPIC;
            }
            if (s->irqchip != KERNEL_IRQCHIP_ON) {
                e->eax &= ~(1u << KVM_FEATURE_MSI_EXT_DEST_ID);
            }
            break;
        }
    }
    return c;
}

bool kvm_vcpu_create(CPUState *cpu, GError **errp)
{
    KVMState *s = kvm_state(cpu->machine);
    KVMVCPU *v = g_new0(KVMVCPU, 1);

    v->fd = kvm_ioctl_retry(s->vm_fd, KVM_CREATE_VCPU,
                            (void *)(uintptr_t)cpu->apic_id);
    if (v->fd < 0) {
        g_free(v);
        return kvm_fail(errp, "KVM_CREATE_VCPU");
    }
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->wake, NULL);
    cpu->accel = v;
    v->run = mmap(NULL, s->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        return kvm_fail(errp, "mmap of the vCPU run area");
    }
    struct kvm_cpuid2 *c = vcpu_cpuid(s, cpu);
    int r = ioctl(v->fd, KVM_SET_CPUID2, c);
    g_free(c);
    if (r < 0) {
        return kvm_fail(errp, "KVM_SET_CPUID2");
    }
    return true;
}

/* --- reset and boot state --- */

static void set_seg(struct kvm_segment *seg, uint16_t sel, uint64_t base,
                    uint32_t limit, uint8_t type, bool code64, bool db)
{
    *seg = (struct kvm_segment){
        .base = base, .limit = limit, .selector = sel, .type = type,
        .present = 1, .dpl = 0, .db = db, .s = 1, .l = code64,
        .g = limit > 0xfffff, .avl = 0,
    };
}

/* The architectural state after RESET/INIT (SDM vol. 3, table 9-1). */
void kvm_reset_sregs(struct kvm_sregs *sr, uint64_t apic_base)
{
    memset(sr, 0, sizeof(*sr));
    set_seg(&sr->cs, 0xf000, 0xffff0000, 0xffff, 0xb, false, false);
    set_seg(&sr->ds, 0, 0, 0xffff, 3, false, false);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    sr->tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb,
                                   .present = 1 };
    sr->ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2,
                                    .present = 1 };
    sr->gdt.limit = sr->idt.limit = 0xffff;
    sr->cr0 = 0x60000010;   /* CD, NW, ET */
    sr->apic_base = apic_base;
}

/* Flat segments for a kernel entered without firmware. */
static void boot_sregs(struct kvm_sregs *sr, const BootState *b)
{
    bool long64 = b->mode == BOOT_MODE_LONG64;

    set_seg(&sr->cs, 0x10, 0, 0xffffffff, 0xb, long64, !long64);
    set_seg(&sr->ds, 0x18, 0, 0xffffffff, 3, false, true);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    /* a busy TSS and no LDT, as VMX entry wants in protected mode */
    sr->tr = (struct kvm_segment){ .selector = 0, .limit = 0x67,
                                   .type = 0xb, .present = 1 };
    sr->ldt = (struct kvm_segment){ .type = 2, .present = 1,
                                    .unusable = 1 };
    sr->gdt.base = b->gdt_base;
    sr->gdt.limit = b->gdt_limit;
    sr->idt.base = 0;
    sr->idt.limit = 0;
    sr->cr0 = 0x11;             /* PE, ET */
    if (long64) {
        sr->cr0 |= 0x80000000;  /* PG */
        sr->cr3 = b->cr3;
        sr->cr4 = 0x20;         /* PAE */
        sr->efer = 0x500;       /* LME, LMA */
    }
}

static bool reset_msrs(KVMVCPU *v)
{
    static const struct { uint32_t index; uint64_t value; } vals[] = {
        { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
        { MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
        { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
        { MSR_IA32_TSC, 0 }, { MSR_IA32_CR_PAT, 0x0007040600070406ULL },
        { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
    };
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[G_N_ELEMENTS(vals)];
    } msrs = { .hdr.nmsrs = G_N_ELEMENTS(vals) };

    for (size_t i = 0; i < G_N_ELEMENTS(vals); i++) {
        msrs.e[i].index = vals[i].index;
        msrs.e[i].data = vals[i].value;
    }
    /* KVM sets MSRs in order and stops at the first it does not know */
    return ioctl(v->fd, KVM_SET_MSRS, &msrs) >= 0;
}

/*
 * What firmware would have done to the LAPIC: LINT0 as ExtINT on the BSP
 * (virtual wire mode, so the 8259 reaches it) and LINT1 as NMI everywhere.
 */
static bool setup_lapic_lints(KVMVCPU *v, bool bsp)
{
    struct kvm_lapic_state lapic;

    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0) {
        return false;
    }
    uint32_t lint0 = bsp ? APIC_DM_EXTINT : APIC_DM_EXTINT | APIC_LVT_MASKED;
    uint32_t lint1 = APIC_DM_NMI;
    memcpy(&lapic.regs[APIC_LVT_LINT0], &lint0, 4);
    memcpy(&lapic.regs[APIC_LVT_LINT1], &lint1, 4);
    return ioctl(v->fd, KVM_SET_LAPIC, &lapic) >= 0;
}

bool kvm_vcpu_reset(CPUState *cpu, GError **errp)
{
    Machine *m = cpu->machine;
    KVMState *s = kvm_state(m);
    KVMVCPU *v = cpu->accel;
    bool bsp = cpu->index == 0;
    bool direct = bsp && m->boot.mode != BOOT_MODE_REAL;
    struct kvm_regs regs = { .rflags = 2, .rip = 0xfff0, .rdx = 0x600 };
    struct kvm_sregs sregs;
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    struct kvm_vcpu_events events = { 0 };
    struct kvm_mp_state mp = {
        bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED
    };

    kvm_reset_sregs(&sregs, X86_LAPIC_BASE | (1 << 11) | (bsp ? 1 << 8 : 0));
    if (direct) {
        const BootState *b = &m->boot;
        boot_sregs(&sregs, b);
        regs = (struct kvm_regs){
            .rflags = 2, .rip = b->rip, .rsp = b->rsp, .rax = b->rax,
            .rbx = b->rbx, .rsi = b->rsi,
        };
    }
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) {
        return kvm_fail(errp, "KVM_SET_SREGS");
    }
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
        return kvm_fail(errp, "KVM_SET_REGS");
    }
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
        return kvm_fail(errp, "KVM_SET_FPU");
    }
    if (s->has_xcrs) {
        struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs[0] = { 0, 0, 1 } };
        ioctl(v->fd, KVM_SET_XCRS, &xcrs);
    }
    if (!reset_msrs(v)) {
        return kvm_fail(errp, "KVM_SET_MSRS");
    }
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0) {
        return kvm_fail(errp, "KVM_SET_VCPU_EVENTS");
    }
    if (m->userspace_irqchip) {
        kvm_irqchip_vcpu_reset(cpu);
    }
    if (s->irqchip == KERNEL_IRQCHIP_OFF) {
        return true;    /* the LAPIC is Vireo's; no MP state in KVM */
    }
    if (m->boot.mode != BOOT_MODE_REAL && !setup_lapic_lints(v, bsp)) {
        return kvm_fail(errp, "setting up the LAPIC");
    }
    if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0) {
        return kvm_fail(errp, "KVM_SET_MP_STATE");
    }
    return true;
}

/* --- state for the monitor --- */

static void seg_from_kvm(X86SegmentSnapshot *d, const struct kvm_segment *k)
{
    d->selector = k->selector;
    d->base = k->base;
    d->limit = k->limit;
    /* QEMU's layout: the descriptor's high dword bits 8..23 in place */
    d->flags = ((uint32_t)k->type << 8) | ((uint32_t)k->s << 12) |
               ((uint32_t)k->dpl << 13) |
               ((uint32_t)(k->present && !k->unusable) << 15) |
               ((uint32_t)k->avl << 20) | ((uint32_t)k->l << 21) |
               ((uint32_t)k->db << 22) | ((uint32_t)k->g << 23);
}

/*
 * x87 and SSE state from the FXSAVE image at the start of KVM's XSAVE
 * area (SDM vol. 1 10.5.1): KVM fills it in even for components in their
 * init state. KVM_GET_FPU is the fallback; on some hosts its MXCSR reads 0.
 */
static bool fpu_from_kvm(KVMVCPU *v, X86CPUSnapshot *s)
{
    struct kvm_xsave *xs = g_new0(struct kvm_xsave, 1);
    const uint8_t *fx = (const uint8_t *)xs->region;
    struct kvm_fpu fpu;
    uint16_t fsw;
    unsigned top;

    if (ioctl(v->fd, KVM_GET_XSAVE, xs) >= 0) {
        memcpy(&s->fcw, fx + 0, 2);
        memcpy(&s->fsw, fx + 2, 2);
        s->ftw = fx[4];
        memcpy(&s->mxcsr, fx + 24, 4);
        for (unsigned i = 0; i < 16; i++) {
            memcpy(s->xmm[i], fx + 160 + 16 * i, 16);
        }
    } else if (ioctl(v->fd, KVM_GET_FPU, &fpu) >= 0) {
        s->fcw = fpu.fcw;
        s->fsw = fpu.fsw;
        s->ftw = fpu.ftwx;
        s->mxcsr = fpu.mxcsr;
        memcpy(xs->region + 8, fpu.fpr, sizeof(fpu.fpr));  /* as FXSAVE */
        for (unsigned i = 0; i < 16; i++) {
            memcpy(s->xmm[i], fpu.xmm[i], 16);
        }
    } else {
        g_free(xs);
        return false;
    }
    /* the image holds ST(0)..ST(7); the snapshot R0..R7 */
    fsw = s->fsw;
    top = (fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; i++) {
        memcpy(&s->fpr[(top + i) & 7].mant, fx + 32 + 16 * i, 8);
        memcpy(&s->fpr[(top + i) & 7].exp, fx + 32 + 16 * i + 8, 2);
    }
    g_free(xs);
    s->has_fpu = true;
    return true;
}

/*
 * The vCPU thread is parked (or never ran), so the main thread may use the
 * vCPU's ioctls. Registers and system registers are required; the rest
 * (debug registers, events, FPU) is shown when KVM gives it.
 */
bool kvm_vcpu_get_state(CPUState *cpu, X86CPUSnapshot *s, GError **errp)
{
    KVMState *ks = kvm_state(cpu->machine);
    KVMVCPU *v = cpu->accel;
    struct kvm_regs r;
    struct kvm_sregs sr;
    struct kvm_debugregs dbg;
    struct kvm_vcpu_events ev;

    if (!v) {
        g_set_error(errp, VIREO_ERROR, 0, "vCPU %d does not exist yet",
                    cpu->index);
        return false;
    }
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0) {
        return kvm_fail(errp, "KVM_GET_REGS");
    }
    if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0) {
        return kvm_fail(errp, "KVM_GET_SREGS");
    }
    memset(s, 0, sizeof(*s));
    const uint64_t gprs[16] = {
        r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
    };
    memcpy(s->regs, gprs, sizeof(gprs));
    s->rip = r.rip;
    s->rflags = r.rflags;
    seg_from_kvm(&s->segs[0], &sr.es);
    seg_from_kvm(&s->segs[1], &sr.cs);
    seg_from_kvm(&s->segs[2], &sr.ss);
    seg_from_kvm(&s->segs[3], &sr.ds);
    seg_from_kvm(&s->segs[4], &sr.fs);
    seg_from_kvm(&s->segs[5], &sr.gs);
    seg_from_kvm(&s->ldt, &sr.ldt);
    seg_from_kvm(&s->tr, &sr.tr);
    s->gdt_base = sr.gdt.base;
    s->gdt_limit = sr.gdt.limit;
    s->idt_base = sr.idt.base;
    s->idt_limit = sr.idt.limit;
    s->cr0 = sr.cr0;
    s->cr2 = sr.cr2;
    s->cr3 = sr.cr3;
    s->cr4 = sr.cr4;
    s->cr8 = sr.cr8;
    s->efer = sr.efer;
    /* the privilege level is SS.DPL, as QEMU takes it from KVM */
    s->cpl = (sr.cr0 & 1) ? sr.ss.dpl : 0;
    s->a20 = true;
    s->dr[6] = 0xffff0ff0;
    s->dr[7] = 0x400;
    if (ioctl(v->fd, KVM_GET_DEBUGREGS, &dbg) >= 0) {
        memcpy(s->dr, dbg.db, sizeof(dbg.db));
        s->dr[6] = dbg.dr6;
        s->dr[7] = dbg.dr7;
    }
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) >= 0) {
        s->interrupt_shadow = ev.interrupt.shadow != 0;
        s->smm = (ev.flags & KVM_VCPUEVENT_VALID_SMM) && ev.smi.smm;
    }
    if (ks->irqchip == KERNEL_IRQCHIP_OFF) {
        s->halted = v->halted || v->wait_for_sipi;
    } else {
        struct kvm_mp_state mp;
        s->halted = ioctl(v->fd, KVM_GET_MP_STATE, &mp) >= 0 &&
                    mp.mp_state == KVM_MP_STATE_HALTED;
    }
    fpu_from_kvm(v, s);
    return true;
}

/* --- the run loop --- */

void kvm_vcpu_kick(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (cpu->apic) {
        kvm_irqchip_wake(cpu);  /* it may sleep in HLT or wait for SIPI */
    }
    pthread_kill(cpu->thread, SIG_KICK);
}

static void handle_io(Machine *m, struct kvm_run *run)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;

    for (uint32_t i = 0; i < run->io.count; i++) {
        uint64_t val = 0;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            memcpy(&val, data, run->io.size);
            address_space_st(&m->as_io, run->io.port, run->io.size, val);
        } else {
            address_space_ld(&m->as_io, run->io.port, run->io.size, &val);
            memcpy(data, &val, run->io.size);
        }
        data += run->io.size;
    }
}

static void handle_mmio(Machine *m, struct kvm_run *run)
{
    unsigned len = run->mmio.len;
    uint64_t val = 0;

    if (len != 1 && len != 2 && len != 4 && len != 8) {
        /* e.g. a 16-byte SSE access: do it as bytes */
        if (run->mmio.is_write) {
            address_space_write(&m->as_mem, run->mmio.phys_addr,
                                run->mmio.data, MIN(len, 8u));
        } else {
            address_space_read(&m->as_mem, run->mmio.phys_addr,
                               run->mmio.data, MIN(len, 8u));
        }
        return;
    }
    if (run->mmio.is_write) {
        memcpy(&val, run->mmio.data, len);
        address_space_st(&m->as_mem, run->mmio.phys_addr, len, val);
    } else {
        address_space_ld(&m->as_mem, run->mmio.phys_addr, len, &val);
        memcpy(run->mmio.data, &val, len);
    }
}

static void report_internal_error(CPUState *cpu, struct kvm_run *run)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_regs regs = { 0 };

    ioctl(v->fd, KVM_GET_REGS, &regs);
    if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
        log_error("KVM: vCPU %d failed to enter the guest (hardware reason "
                  "0x%llx) at rip=0x%llx", cpu->index,
                  (unsigned long long)
                      run->fail_entry.hardware_entry_failure_reason,
                  (unsigned long long)regs.rip);
    } else {
        log_error("KVM internal error on vCPU %d: exit reason %u, suberror "
                  "%u, rip=0x%llx", cpu->index, run->exit_reason,
                  run->exit_reason == KVM_EXIT_INTERNAL_ERROR
                      ? run->internal.suberror : 0,
                  (unsigned long long)regs.rip);
    }
}

static void report_triple_fault(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_regs regs = { 0 };

    ioctl(v->fd, KVM_GET_REGS, &regs);
    log_error("vCPU %d: triple fault at rip=0x%llx, %s", cpu->index,
              (unsigned long long)regs.rip,
              runstate_no_reboot ? "exiting (-no-reboot)" : "resetting");
}

/* Returns false when this vCPU must stop running the guest. */
static bool handle_exit(CPUState *cpu, struct kvm_run *run)
{
    Machine *m = cpu->machine;
    KVMVCPU *v = cpu->accel;

    v->exits++;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        v->exits_io++;
        handle_io(m, run);
        return true;
    case KVM_EXIT_MMIO:
        v->exits_mmio++;
        handle_mmio(m, run);
        return true;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_INTR:
    case KVM_EXIT_SET_TPR:      /* off: CR8 lowered, taken by post_run */
        return true;
    case KVM_EXIT_SHUTDOWN:
        /* triple fault: the PC resets */
        report_triple_fault(cpu);
        vm_request_reset(SHUTDOWN_GUEST_TRIPLE_FAULT);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
            vm_request_reset(SHUTDOWN_GUEST_RESET);
        } else {
            vm_request_shutdown(SHUTDOWN_GUEST_POWEROFF, 0);
        }
        return false;
    case KVM_EXIT_HLT:
        if (cpu->apic) {
            kvm_irqchip_handle_hlt(cpu);
        }
        return true;
    case KVM_EXIT_IOAPIC_EOI:
        kvm_irqchip_handle_ioapic_eoi(cpu);
        return true;
    case KVM_EXIT_DEBUG:
        /* a breakpoint, watchpoint or step of gdb's stops this vCPU */
        return !kvm_debug_exit(cpu, &run->debug.arch);
    default:
        report_internal_error(cpu, run);
        vm_request_shutdown(SHUTDOWN_HOST_ERROR, 1);
        return false;
    }
}

/*
 * Before the vCPU parks: KVM finishes an exit we handled (the data of a
 * port or MMIO read goes into the registers, RIP moves on) only in the
 * next KVM_RUN. With immediate_exit set it does that and returns at once
 * (EINTR), so that whoever reads or replaces the registers while the vCPU
 * is parked sees the instruction done, and a loaded state is never hit by
 * the completion of an old exit. An MMIO access split in pieces may exit
 * again; those exits are handled as usual.
 */
static void kvm_vcpu_complete_exit(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_run *run = v->run;

    for (int i = 0; i < 16; i++) {
        __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        int r = ioctl(v->fd, KVM_RUN, 0);
        __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (r < 0) {
            return;     /* EINTR: nothing (more) pending */
        }
        bql_lock();
        if (cpu->apic) {
            kvm_irqchip_post_run(cpu);
        }
        if (!handle_exit(cpu, run)) {
            __atomic_store_n(&cpu->stop, true, __ATOMIC_SEQ_CST);
        }
        if (cpu->apic) {
            kvm_irqchip_end_exit(cpu);
        }
        bql_unlock();
    }
    log_error_once("KVM: vCPU %d keeps exiting while it parks", cpu->index);
}

void *kvm_vcpu_thread(void *opaque)
{
    CPUState *cpu = opaque;
    Machine *m = cpu->machine;
    KVMVCPU *v = cpu->accel;
    struct kvm_run *run = v->run;

    if (m->userspace_irqchip) {
        current_cpu = cpu;  /* the LAPIC window answers with this vCPU's */
    }
    while (!__atomic_load_n(&cpu->exit, __ATOMIC_SEQ_CST)) {
        if (__atomic_load_n(&cpu->stop, __ATOMIC_SEQ_CST)) {
            kvm_vcpu_complete_exit(cpu);
            vcpu_wait_while_paused(cpu);
            continue;
        }
        if (m->userspace_irqchip && !kvm_irqchip_pre_run(cpu)) {
            continue;   /* it slept in HLT or waiting for a SIPI */
        }
        kvm_debug_pre_run(cpu);
        int r = ioctl(v->fd, KVM_RUN, 0);
        /* clear before looking at interrupt_request again (pre_run) */
        __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (r < 0 && errno != EINTR && errno != EAGAIN) {
            log_error("KVM: KVM_RUN on vCPU %d failed: %s", cpu->index,
                      g_strerror(errno));
            vm_request_shutdown(SHUTDOWN_HOST_ERROR, 1);
            __atomic_store_n(&cpu->stop, true, __ATOMIC_SEQ_CST);
            continue;
        }
        if (r < 0 && !cpu->apic) {
            continue;   /* kicked; nothing of the guest's to pick up */
        }
        bql_lock();
        if (cpu->apic) {
            kvm_irqchip_post_run(cpu);
        }
        /*
         * After an exit that asked for a shutdown or reset (isa-debug-exit,
         * ACPI S5, 0xCF9), the guest must not run on in the meantime.
         */
        if ((r == 0 && !handle_exit(cpu, run)) || vm_request_pending()) {
            /* stay out of the guest until the main loop resets or stops */
            __atomic_store_n(&cpu->stop, true, __ATOMIC_SEQ_CST);
        }
        if (cpu->apic) {
            kvm_irqchip_end_exit(cpu);
        }
        bql_unlock();
    }
    /* what took the guest out of KVM_RUN: the cost the fast paths save */
    log_mask_printf(LOG_EXEC_STATS,
                    "vCPU %d: %" G_GUINT64_FORMAT " exits to Vireo (%"
                    G_GUINT64_FORMAT " I/O port, %" G_GUINT64_FORMAT
                    " MMIO)", cpu->index, v->exits, v->exits_io,
                    v->exits_mmio);
    return NULL;
}
