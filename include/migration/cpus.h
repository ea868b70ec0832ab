/*
 * The state of every vCPU and of the accelerator's VM-wide state (KVM's
 * in-kernel PIC/IOAPIC/PIT and clock), saved as one opaque section for
 * snapshots and migration. Device state (including Vireo's own LAPICs,
 * IOAPIC and PIC under the software CPU) goes through vmstate_save_devices;
 * this section holds what lives in the accelerator, and the virtual clock
 * (CLK_VIRTUAL), which device timers and the software CPU's TSC count in:
 * a load sets the clock back to the saved time. Loading this section
 * before the devices lets their post_load see the restored clock; either
 * order gives a consistent VM. Call both with the big lock held.
 */
#ifndef MIGRATION_CPUS_H
#define MIGRATION_CPUS_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Machine Machine;

/* The VM must be stopped (vCPUs parked: vcpus_pause / vm_stop). */
bool cpus_state_save(Machine *m, GByteArray *out, GError **errp);
/* Replaces the state of every vCPU and of the accelerator's in-kernel
 * devices; a stream that does not fit this VM (vCPU count, accelerator,
 * CPU features, a corrupt or truncated section) fails with a clear
 * error and changes nothing. */
bool cpus_state_load(Machine *m, const uint8_t *data, size_t len, GError **errp);

#endif
