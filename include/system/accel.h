/*
 * The accelerator interface: KVM runs vCPUs in hardware, the software CPU
 * ("tcg") interprets them, and qtest runs none (a test drives the devices).
 */
#ifndef SYSTEM_ACCEL_H
#define SYSTEM_ACCEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/cpu.h"
#include "system/debug.h"
#include "system/memory.h"
#include "target/x86/inspect.h"

/*
 * An MSI raised by signalling an eventfd (QEMU's irqfd): every time fd is
 * signalled, the message (addr, data) goes to the LAPICs as send_msi would
 * send it. Made by accel_msi_irqfd_add below; the fields are for the
 * accelerators.
 */
typedef struct AccelIrqfd {
    Machine *machine;
    uint64_t addr;
    uint32_t data;
    int fd;             /* the caller's eventfd */
    int gsi;            /* the accelerator's route (KVM's GSI), or -1 */
    guint watch;        /* -1 route: the main-loop source reading fd */
} AccelIrqfd;

typedef struct AccelOps {
    const char *name;
    /*
     * Writes to an address registered with memory_region_add_eventfd end
     * in the kernel, without leaving the guest (KVM_IOEVENTFD). Devices
     * register their doorbells only then, as QEMU does: elsewhere the
     * vCPU thread is in Vireo anyway, and handling the write there costs
     * less than signalling an eventfd and waking the main loop.
     */
    bool ioeventfds;
    /* Checks the host, creates the VM and its interrupt controllers. */
    bool (*init)(Machine *m, GError **errp);
    /* Largest vCPU count this host allows (after init). */
    int (*max_cpus)(Machine *m);
    /* Creates the vCPU and its state; does not run it. */
    bool (*vcpu_create)(CPUState *cpu, GError **errp);
    /* Puts reset (or boot) register state into the vCPU. */
    bool (*vcpu_reset)(CPUState *cpu, GError **errp);
    /* Body of the vCPU thread: runs until cpu->exit. */
    void *(*vcpu_thread)(void *cpu);
    /* Makes the vCPU thread come out of the guest promptly. */
    void (*vcpu_kick)(CPUState *cpu);
    /*
     * Reads the vCPU's architectural state for the monitor and the gdb
     * stub; the vCPU is parked (or was never started). NULL: not possible.
     */
    bool (*vcpu_get_state)(CPUState *cpu, X86CPUSnapshot *out,
                           GError **errp);
    /* Drives a GSI (interrupt controller input) to a level. */
    void (*set_irq)(Machine *m, int gsi, int level);
    /*
     * Delivers a PCI MSI (address 0xfeeXXXXX and data as in SDM 10.11) to
     * the LAPICs, wherever they are. Big lock held.
     */
    void (*send_msi)(Machine *m, uint64_t addr, uint32_t data);
    /*
     * Optional: MSI irqfds delivered by the accelerator itself, without
     * Vireo's threads (KVM: an MSI route and KVM_IRQFD). add returns false
     * without setting errp where this VM cannot (then the main loop
     * delivers them through send_msi), false with errp on a failure;
     * update changes the message of a route add made.
     */
    bool (*msi_irqfd_add)(AccelIrqfd *irqfd, GError **errp);
    bool (*msi_irqfd_update)(AccelIrqfd *irqfd, uint64_t addr, uint32_t data,
                             GError **errp);
    void (*msi_irqfd_remove)(AccelIrqfd *irqfd);
    /*
     * Snapshots and migration (migration/cpus.c), every vCPU parked and
     * the big lock held. state_save appends the accelerator's VM-wide
     * state (KVM: in-kernel PIC, IOAPIC, PIT, kvmclock), vcpu_state_save
     * one vCPU's whole state. The loads take what the saves wrote: with
     * apply false they only decode and check it (cpus_state_load checks
     * every part before it changes any), with apply true they replace the
     * state. NULL: nothing to save (the parts are empty).
     */
    bool (*state_save)(Machine *m, GByteArray *out, GError **errp);
    bool (*state_load)(Machine *m, const uint8_t *data, size_t len,
                       bool apply, GError **errp);
    bool (*vcpu_state_save)(CPUState *cpu, GByteArray *out, GError **errp);
    bool (*vcpu_state_load)(CPUState *cpu, const uint8_t *data, size_t len,
                            bool apply, GError **errp);
    /*
     * The gdb stub (system/debug.c), vCPUs parked, big lock held.
     * debug_update makes dbg the machine's breakpoints, watchpoints and
     * single step, or refuses it (errp) and keeps the old set; a vCPU that
     * hits one calls vm_request_debug and stops. vcpu_set_regs writes the
     * general registers, rip and rflags. NULL: not possible.
     */
    bool (*debug_update)(Machine *m, const GuestDebug *dbg, GError **errp);
    bool (*vcpu_set_regs)(CPUState *cpu, const X86CoreRegs *regs,
                          GError **errp);
    /* Listens to the system address space to map RAM. */
    void (*memory_listen)(Machine *m, AddressSpace *as);
    void (*destroy)(Machine *m);
} AccelOps;

const AccelOps *accel_find(const char *name);

/*
 * Routes the MSI (addr, data) to the eventfd fd (non-blocking, the
 * caller's; keep it open until the irqfd is removed): each signal of fd
 * interrupts the guest. With KVM's LAPICs the kernel delivers it; with
 * Vireo's (software CPU, kernel-irqchip=off) a main-loop handler reads fd
 * and calls the accelerator's send_msi under the big lock. Big lock held.
 * NULL with errp when the accelerator failed to set it up.
 */
AccelIrqfd *accel_msi_irqfd_add(Machine *m, uint64_t addr, uint32_t data,
                                int fd, GError **errp);
/* The MSI message changed (the driver reprogrammed the vector). */
bool accel_msi_irqfd_update(AccelIrqfd *irqfd, uint64_t addr, uint32_t data,
                            GError **errp);
/* Stops delivering and frees irqfd; fd stays open. NULL is ignored. */
void accel_msi_irqfd_remove(AccelIrqfd *irqfd);
extern const AccelOps kvm_accel_ops;
extern const AccelOps tcg_accel_ops;
extern const AccelOps qtest_accel_ops;

#endif
