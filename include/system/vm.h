/* Machine lifetime, as main.c drives it (system/vm.c, system/vcpus.c). */
#ifndef SYSTEM_VM_H
#define SYSTEM_VM_H

#include <glib.h>

#include "hw/i386/x86.h"
#include "system/runstate.h"

/* Pending requests, read by the main loop. */
ShutdownCause vm_take_shutdown_request(int *status);
ShutdownCause vm_take_reset_request(void);

/* Builds the machine from cfg: accelerator, memory, devices, CPUs, loaders. */
Machine *machine_create(const MachineConfig *cfg, GError **errp);
/* Resets devices, reloads boot blobs and resets every vCPU (vCPUs paused). */
bool machine_reset(Machine *m, GError **errp);
void machine_destroy(Machine *m);

/* vCPU threads (system/vcpus.c). */
bool vcpus_start(Machine *m, GError **errp);
/* Parks every vCPU outside the guest; call with the big lock held. */
void vcpus_pause(Machine *m);
void vcpus_resume(Machine *m);
void vcpus_stop(Machine *m);
/* For a vCPU thread: park here while a pause is requested (drops the lock). */
void vcpu_wait_while_paused(CPUState *cpu);

#endif
