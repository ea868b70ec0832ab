/*
 * KVM with Vireo's own interrupt controllers (-machine kernel-irqchip=):
 *
 *  - off: no in-kernel LAPIC, IOAPIC, 8259 or PIT. The vCPU thread does
 *    what KVM's LAPIC would: injects the LAPIC's vectors with KVM_INTERRUPT
 *    when the vCPU can take one (else asks for an interrupt-window exit),
 *    NMIs with KVM_NMI, keeps CR8 and the TPR equal through kvm_run->cr8,
 *    sleeps on KVM_EXIT_HLT until there is work, and models INIT and SIPI
 *    (SDM vol. 3, 8.4 and 10.4.7.3).
 *  - split: KVM's LAPICs (KVM_CAP_SPLIT_IRQCHIP), Vireo's IOAPIC, 8259s
 *    and PIT. IOAPIC messages reach the LAPICs as MSIs (KVM_SIGNAL_MSI),
 *    and each IOAPIC pin also has an MSI route at GSI = pin so that KVM
 *    exits with KVM_EXIT_IOAPIC_EOI when a level-triggered vector is EOIed.
 *    The 8259's vector goes in with KVM_INTERRUPT, as ExtINT.
 *
 * Follows Documentation/virt/kvm/api.rst.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hw/intc/x86-irqchip.h"
#include "kvm_int.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

#define MSR_APICBASE_BSP (1ULL << 8)   /* read-only here, as on hardware */

/* --- split: the IOAPIC's MSI routes --- */

/* The route of an IOAPIC pin follows what the pin last sent. */
static void split_update_route(KVMState *s, int pin, uint64_t addr,
                               uint32_t data)
{
    g_autoptr(GError) err = NULL;

    if (kvm_route_set_msi(s, pin, addr, data) &&
        !kvm_routes_commit(s, &err)) {
        log_error_once("%s; level-triggered IOAPIC interrupts may not see "
                       "their EOI", err->message);
    }
}

/* Machine.kernel_lapic_msi: called with the big lock held. */
static bool split_send_msi(Machine *m, int ioapic_pin, uint64_t addr,
                           uint32_t data)
{
    KVMState *s = kvm_state(m);
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr, .address_hi = addr >> 32, .data = data,
    };
    int r;

    if (ioapic_pin >= 0 && ioapic_pin < X86_NUM_GSI) {
        split_update_route(s, ioapic_pin, addr, data);
    }
    r = ioctl(s->vm_fd, KVM_SIGNAL_MSI, &msi);
    if (r < 0) {
        log_error_once("KVM: KVM_SIGNAL_MSI (address 0x%" G_GINT64_MODIFIER
                       "x, data 0x%x) failed: %s", addr, data,
                       g_strerror(errno));
        return false;
    }
    return r > 0;   /* 0: no LAPIC took it */
}

bool kvm_irqchip_init(KVMState *s, GError **errp)
{
    Machine *m = s->machine;

    if (s->irqchip == KERNEL_IRQCHIP_SPLIT) {
        struct kvm_enable_cap cap = {
            .cap = KVM_CAP_SPLIT_IRQCHIP,
            .args[0] = X86_NUM_GSI,     /* GSIs kept for the IOAPIC */
        };
        if (ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) <= 0 ||
            ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) <= 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-machine kernel-irqchip=split: this host's KVM lacks "
                        "KVM_CAP_SPLIT_IRQCHIP or KVM_CAP_SIGNAL_MSI (use "
                        "kernel-irqchip=on or off)");
            return false;
        }
        if (ioctl(s->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
            return kvm_fail(errp, "KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)");
        }
        m->kernel_lapic_msi = split_send_msi;
    }
    m->userspace_irqchip = true;    /* x86_create_isa_devices makes them */
    return true;
}

void kvm_irqchip_set_irq(Machine *m, int gsi, int level)
{
    x86_irqchip_set_irq(m, gsi, level);
}

/* --- off: INIT, SIPI and HLT --- */

static void vcpu_fatal(CPUState *cpu, const char *what)
{
    log_error("KVM: vCPU %d: %s failed: %s", cpu->index, what,
              g_strerror(errno));
    vm_request_shutdown(SHUTDOWN_HOST_ERROR, 1);
    __atomic_store_n(&cpu->stop, true, __ATOMIC_SEQ_CST);
}

/* The INIT state: reset values but for x87/SSE and MSRs (SDM table 9-1). */
static void vcpu_put_init_state(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_regs regs = { .rflags = 2, .rip = 0xfff0, .rdx = 0x600 };
    struct kvm_vcpu_events events = { 0 };
    struct kvm_sregs sregs;

    kvm_reset_sregs(&sregs, apic_get_base(cpu->apic));
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) {
        vcpu_fatal(cpu, "KVM_SET_SREGS (INIT)");
    } else if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
        vcpu_fatal(cpu, "KVM_SET_REGS (INIT)");
    } else if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0) {
        vcpu_fatal(cpu, "KVM_SET_VCPU_EVENTS (INIT)");
    }
}

/* Startup IPI: real mode at CS = vector << 8, IP 0 (SDM 8.4.4.1). */
static void vcpu_put_sipi_state(CPUState *cpu, uint8_t vector)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_regs regs = { .rflags = 2, .rip = 0, .rdx = 0x600 };
    struct kvm_sregs sregs;

    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
        vcpu_fatal(cpu, "KVM_GET_SREGS (SIPI)");
        return;
    }
    sregs.cs.selector = (uint16_t)vector << 8;
    sregs.cs.base = (uint64_t)vector << 12;
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) {
        vcpu_fatal(cpu, "KVM_SET_SREGS (SIPI)");
    } else if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
        vcpu_fatal(cpu, "KVM_SET_REGS (SIPI)");
    }
}

/* Takes a pending INIT, then a SIPI if this vCPU waits for one. */
static void vcpu_take_init_sipi(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;
    int req = __atomic_load_n(&cpu->interrupt_request, __ATOMIC_SEQ_CST);

    bql_lock();
    if (req & CPU_INTERRUPT_INIT) {
        /* a SIPI sent after this INIT stays pending (the LAPIC dropped
         * the older ones when it accepted the INIT) */
        cpu_reset_interrupt(cpu, CPU_INTERRUPT_INIT);
        apic_init_reset(cpu->apic);
        vcpu_put_init_state(cpu);
        v->halted = false;
        /* the BSP restarts at the reset vector, APs wait for a SIPI */
        v->wait_for_sipi = cpu->index != 0;
        req = __atomic_load_n(&cpu->interrupt_request, __ATOMIC_SEQ_CST);
    }
    if (req & CPU_INTERRUPT_SIPI) {
        cpu_reset_interrupt(cpu, CPU_INTERRUPT_SIPI);
        if (v->wait_for_sipi) {
            vcpu_put_sipi_state(cpu, cpu->sipi_vector);
            v->wait_for_sipi = false;
            v->halted = false;
        }
    }
    bql_unlock();
}

/* Whether a halted or SIPI-waiting vCPU must run (or look) again. */
static bool vcpu_has_work(CPUState *cpu, KVMVCPU *v)
{
    int req = __atomic_load_n(&cpu->interrupt_request, __ATOMIC_SEQ_CST);

    if (req & (CPU_INTERRUPT_INIT | CPU_INTERRUPT_SIPI)) {
        return true;
    }
    if (v->wait_for_sipi) {
        return false;
    }
    return (req & CPU_INTERRUPT_NMI) ||
           ((req & CPU_INTERRUPT_HARD) && v->halt_if);
}

static void vcpu_sleep(CPUState *cpu, KVMVCPU *v)
{
    pthread_mutex_lock(&v->lock);
    while (!vcpu_has_work(cpu, v) && !__atomic_load_n(&cpu->exit, __ATOMIC_SEQ_CST) &&
           !__atomic_load_n(&cpu->stop, __ATOMIC_SEQ_CST)) {
        pthread_cond_wait(&v->wake, &v->lock);
    }
    pthread_mutex_unlock(&v->lock);
}

void kvm_irqchip_wake(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    pthread_mutex_lock(&v->lock);
    pthread_cond_broadcast(&v->wake);
    pthread_mutex_unlock(&v->lock);
}

void kvm_irqchip_handle_hlt(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    /* HLT exits only without an in-kernel LAPIC; RIP is past the hlt */
    v->halted = true;
    v->halt_if = v->run->if_flag;
}

void kvm_irqchip_handle_ioapic_eoi(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    x86_irqchip_ioapic_eoi(cpu->machine, v->run->eoi.vector);
}

void kvm_irqchip_vcpu_reset(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    /* the LAPICs were reset with the devices just before */
    cpu_reset_interrupt(cpu, CPU_INTERRUPT_NMI | CPU_INTERRUPT_INIT |
                                 CPU_INTERRUPT_SIPI);
    v->halted = false;
    v->wait_for_sipi = kvm_state(cpu->machine)->irqchip ==
                           KERNEL_IRQCHIP_OFF && cpu->index != 0;
    v->run->request_interrupt_window = 0;
    v->run->cr8 = cpu->apic ? apic_get_cr8(cpu->apic) : 0;
}

/* --- both: what goes in before KVM_RUN, what comes back after --- */

/* The LAPIC's (off) or 8259's (split) vector, if the vCPU can take it. */
static void vcpu_inject_interrupt(CPUState *cpu, KVMVCPU *v)
{
    struct kvm_run *run = v->run;
    int req = __atomic_load_n(&cpu->interrupt_request, __ATOMIC_SEQ_CST);

    if ((req & CPU_INTERRUPT_HARD) && run->ready_for_interrupt_injection) {
        int vector;

        bql_lock();
        vector = cpu->apic ? apic_get_interrupt(cpu->apic)
                           : pic_get_interrupt(cpu->machine);
        bql_unlock();
        if (vector >= 0) {
            struct kvm_interrupt irq = { .irq = vector };
            if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0) {
                log_error_once("KVM: KVM_INTERRUPT (vector %d) on vCPU %d "
                               "failed: %s", vector, cpu->index,
                               g_strerror(errno));
            }
        }
        req = __atomic_load_n(&cpu->interrupt_request, __ATOMIC_SEQ_CST);
    }
    /* more to come, or it could not go in now: exit when it can */
    run->request_interrupt_window = !!(req & CPU_INTERRUPT_HARD);
}

bool kvm_irqchip_pre_run(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    if (cpu->apic) {    /* off: the vCPU's own states */
        int req = __atomic_load_n(&cpu->interrupt_request, __ATOMIC_SEQ_CST);

        if (req & (CPU_INTERRUPT_INIT | CPU_INTERRUPT_SIPI)) {
            vcpu_take_init_sipi(cpu);
        }
        if (v->halted && !v->wait_for_sipi && vcpu_has_work(cpu, v)) {
            v->halted = false;
        }
        if (v->halted || v->wait_for_sipi) {
            vcpu_sleep(cpu, v);
            return false;
        }
        if (req & CPU_INTERRUPT_NMI) {
            cpu_reset_interrupt(cpu, CPU_INTERRUPT_NMI);
            if (ioctl(v->fd, KVM_NMI) < 0) {
                log_error_once("KVM: KVM_NMI on vCPU %d failed: %s",
                               cpu->index, g_strerror(errno));
            }
        }
    }
    vcpu_inject_interrupt(cpu, v);
    return true;
}

void kvm_irqchip_post_run(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_run *run = v->run;

    if (!cpu->apic) {
        return;
    }
    /* the guest's MOV to CR8 and WRMSR to IA32_APIC_BASE, as KVM saw them
     * (KVM already refused invalid values with #GP) */
    if (run->cr8 != apic_get_cr8(cpu->apic)) {
        apic_set_cr8(cpu->apic, run->cr8);
    }
    if (((run->apic_base ^ apic_get_base(cpu->apic)) & ~MSR_APICBASE_BSP) &&
        !apic_set_base(cpu->apic, run->apic_base)) {
        log_guest_error("vCPU %d: APIC base 0x%llx refused", cpu->index,
                        (unsigned long long)run->apic_base);
    }
}

void kvm_irqchip_end_exit(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    if (cpu->apic) {
        /* a TPR write through the LAPIC window shows in CR8 */
        v->run->cr8 = apic_get_cr8(cpu->apic);
    }
}
