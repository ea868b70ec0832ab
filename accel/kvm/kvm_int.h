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
    struct kvm_cpuid2 *cpuid;
    MemoryListener listener;
    Machine *machine;
} KVMState;

typedef struct KVMVCPU {
    int fd;
    struct kvm_run *run;
} KVMVCPU;

static inline KVMState *kvm_state(Machine *m)
{
    return m->accel_state;
}

int kvm_ioctl_retry(int fd, unsigned long req, void *arg);
bool kvm_fail(GError **errp, const char *what);

bool kvm_vcpu_create(CPUState *cpu, GError **errp);
bool kvm_vcpu_reset(CPUState *cpu, GError **errp);
void *kvm_vcpu_thread(void *opaque);
void kvm_vcpu_kick(CPUState *cpu);

#endif
