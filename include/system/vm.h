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
/*
 * Before a reset the guest or the monitor asked for (vCPUs paused): gives
 * guest RAM back to the host, as the cold start after it reads zeros,
 * unless the CMOS shutdown code asks the BIOS to resume with memory kept.
 */
void machine_discard_ram_for_reset(Machine *m);
void machine_destroy(Machine *m);

/* The machine being run, for the monitor's commands (NULL before). */
Machine *machine_current(void);
void machine_set_current(Machine *m);

/*
 * Run state changes with their QMP events (system/runstate.c); main-loop
 * side, big lock held. vm_start errors if a reset is needed first.
 */
void vm_stop(Machine *m, RunState state);
bool vm_start(Machine *m, GError **errp);

/*
 * For the monitor reading vCPU state: parks the vCPUs if they run and
 * says whether they did; vcpus_inspect_end restarts them if so.
 */
bool vcpus_inspect_begin(Machine *m);
void vcpus_inspect_end(Machine *m, bool was_running);

/* vCPU threads (system/vcpus.c). */
/* Starts the vCPU threads; paused (-S), returns once they are parked.
 * Big lock held. */
bool vcpus_start(Machine *m, bool paused, GError **errp);
/* Parks every vCPU outside the guest; call with the big lock held. */
void vcpus_pause(Machine *m);
void vcpus_resume(Machine *m);
void vcpus_stop(Machine *m);
/* For a vCPU thread: park here while a pause is requested (drops the lock). */
void vcpu_wait_while_paused(CPUState *cpu);
/* For a vCPU thread that runs nothing (qtest): parked until vcpus_stop. */
void vcpu_park_until_exit(CPUState *cpu);

#endif
