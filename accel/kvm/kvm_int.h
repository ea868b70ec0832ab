/* Private to the KVM accelerator: state shared by kvm.c and kvm-cpu.c. */
#ifndef ACCEL_KVM_INT_H
#define ACCEL_KVM_INT_H

#include <linux/kvm.h>

#include "hw/i386/x86.h"

#define SIG_KICK SIGUSR1
#define KVM_TSS_ADDR 0xfeffd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL

/* MSR numbers (Intel SDM vol. 4) */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_CR_PAT 0x277
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MISC_ENABLE_FAST_STRING 1ULL

/* LAPIC register offsets and LVT delivery modes (SDM vol. 3, 10.5.1) */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DM_NMI 0x400
#define APIC_DM_EXTINT 0x700
#define APIC_LVT_MASKED 0x10000

typedef struct KVMSlot {
    bool used;
    hwaddr start;
    uint64_t size;
    void *host;
    uint32_t flags;
} KVMSlot;

typedef struct KVMState {
    int fd;
    int vm_fd;
    int run_size;
    int max_vcpus;
    int nr_slots;
    KVMSlot *slots;
    bool readonly_mem;
    bool tsc_deadline;
    bool has_xcrs;
    uint32_t guest_debug_flags; /* KVM_GUESTDBG_* it takes; 0: none */
    struct kvm_cpuid2 *cpuid;
    MemoryListener listener;
    Machine *machine;
    KernelIrqchip irqchip;      /* -machine kernel-irqchip= */
    /*
     * The whole GSI routing table, as KVM_SET_GSI_ROUTING replaces it at
     * once: on, the PC's routes of GSIs 0-23 to the 8259s and the IOAPIC;
     * split, the MSI route of each IOAPIC pin (GSI = pin) that lets KVM's
     * LAPICs report the EOIs of level-triggered vectors; both, the MSI
     * routes of irqfds, at GSIs from X86_NUM_GSI up.
     */
    GArray *routes;             /* of struct kvm_irq_routing_entry */
    int max_routes;             /* KVM_CAP_IRQ_ROUTING: GSIs below this */
    GHashTable *irqfd_gsis;     /* GSIs of irqfd routes in use */
    bool irqfd;                 /* KVM_CAP_IRQFD, with KVM's LAPICs */
    bool ioeventfd;             /* KVM_CAP_IOEVENTFD */
    bool ioeventfd_any_length;  /* KVM_CAP_IOEVENTFD_ANY_LENGTH */
    MemoryListener io_listener; /* ioeventfds of the I/O port space */
} KVMState;

typedef struct KVMVCPU {
    int fd;
    struct kvm_run *run;
    /*
     * kernel-irqchip=off: the vCPU states KVM no longer keeps for us. A
     * vCPU in HLT or waiting for a SIPI sleeps on `wake` until its LAPIC
     * has work for it (kvm_vcpu_kick signals it).
     */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool halted;
    bool halt_if;           /* RFLAGS.IF when it halted */
    bool wait_for_sipi;     /* an AP after INIT (SDM 8.4.1) */
    /* gdb's set for this vCPU, given to KVM by its own thread before it
     * next enters the guest (kvm-debug.c) */
    struct kvm_guest_debug debug;
    bool debug_pending;
    /* exits to userspace, for -d exec_stats (vCPU thread only) */
    uint64_t exits, exits_io, exits_mmio;
} KVMVCPU;

static inline KVMState *kvm_state(Machine *m)
{
    return m->accel_state;
}

int kvm_ioctl_retry(int fd, unsigned long req, void *arg);
bool kvm_fail(GError **errp, const char *what);

/* kvm-cpu.c */
void kvm_reset_sregs(struct kvm_sregs *sr, uint64_t apic_base);
bool kvm_vcpu_create(CPUState *cpu, GError **errp);
bool kvm_vcpu_reset(CPUState *cpu, GError **errp);
void *kvm_vcpu_thread(void *opaque);
void kvm_vcpu_kick(CPUState *cpu);

/* kvm-debug.c: the gdb stub's breakpoints, watchpoints and steps. */
bool kvm_debug_update(Machine *m, const GuestDebug *dbg, GError **errp);
/* A KVM_EXIT_DEBUG: true when it is one of ours (the VM stops). */
bool kvm_debug_exit(CPUState *cpu, const struct kvm_debug_exit_arch *a);
bool kvm_vcpu_set_regs(CPUState *cpu, const X86CoreRegs *regs,
                       GError **errp);
/* On the vCPU's thread before KVM_RUN: a new set goes to KVM. */
void kvm_debug_pre_run(CPUState *cpu);

/* kvm-state.c: snapshots and migration (AccelOps state hooks). */
bool kvm_state_save(Machine *m, GByteArray *out, GError **errp);
bool kvm_state_load(Machine *m, const uint8_t *data, size_t len, bool apply,
                    GError **errp);
bool kvm_vcpu_state_save(CPUState *cpu, GByteArray *out, GError **errp);
bool kvm_vcpu_state_load(CPUState *cpu, const uint8_t *data, size_t len,
                         bool apply, GError **errp);
void kvm_state_forget(KVMState *s);

/* kvm-irqchip.c: kernel-irqchip=off|split, Vireo's controllers with KVM. */
bool kvm_irqchip_init(KVMState *s, GError **errp);
void kvm_irqchip_set_irq(Machine *m, int gsi, int level);
void kvm_irqchip_vcpu_reset(CPUState *cpu);
/* Before KVM_RUN; false when the vCPU slept instead (look again). */
bool kvm_irqchip_pre_run(CPUState *cpu);
/* After KVM_RUN returned, big lock held: TPR and APIC base to the LAPIC. */
void kvm_irqchip_post_run(CPUState *cpu);
/* After the exit is handled, big lock held: TPR back to the vCPU. */
void kvm_irqchip_end_exit(CPUState *cpu);
void kvm_irqchip_handle_hlt(CPUState *cpu);
void kvm_irqchip_handle_ioapic_eoi(CPUState *cpu);
void kvm_irqchip_wake(CPUState *cpu);

/* kvm-eventfd.c: the GSI routing table, MSI irqfds and ioeventfds. */
void kvm_routes_init(KVMState *s);
void kvm_routes_free(KVMState *s);
void kvm_route_add(KVMState *s, const struct kvm_irq_routing_entry *e);
/* Makes the route of gsi the MSI (addr, data); false if it was already. */
bool kvm_route_set_msi(KVMState *s, uint32_t gsi, uint64_t addr,
                       uint32_t data);
/* Sends the table to KVM (KVM_SET_GSI_ROUTING). */
bool kvm_routes_commit(KVMState *s, GError **errp);
bool kvm_msi_irqfd_add(AccelIrqfd *irqfd, GError **errp);
bool kvm_msi_irqfd_update(AccelIrqfd *irqfd, uint64_t addr, uint32_t data,
                          GError **errp);
void kvm_msi_irqfd_remove(AccelIrqfd *irqfd);
/* Listens for the ioeventfds of both address spaces. */
void kvm_ioeventfd_listen(KVMState *s);

#endif
