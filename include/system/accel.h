/*
 * The accelerator interface: KVM runs vCPUs in hardware; the software CPU and
 * qtest come later behind the same operations.
 */
#ifndef SYSTEM_ACCEL_H
#define SYSTEM_ACCEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/cpu.h"
#include "system/memory.h"
#include "target/x86/inspect.h"

typedef struct AccelOps {
    const char *name;
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
    /* Listens to the system address space to map RAM. */
    void (*memory_listen)(Machine *m, AddressSpace *as);
    void (*destroy)(Machine *m);
} AccelOps;

const AccelOps *accel_find(const char *name);
extern const AccelOps kvm_accel_ops;
extern const AccelOps tcg_accel_ops;

#endif
