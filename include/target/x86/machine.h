/*
 * The software CPU's state for snapshots and migration (target/x86/
 * machine.c): every architectural register the interpreter keeps, as a
 * vmstate description. Decoded blocks and TLBs are caches, not state; a
 * load flushes them. The LAPIC (and with it CR8, the APIC base and the
 * TSC deadline) is a device of its own (hw/intc/apic.c).
 */
#ifndef TARGET_X86_MACHINE_H
#define TARGET_X86_MACHINE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/vmstate.h"

typedef struct X86CPU X86CPU;

/* The description, for tests and -dump-vmstate style listings. */
extern const VMStateDescription vmstate_x86_cpu;

/* Appends the vCPU's state; the vCPU is parked. */
bool x86_cpu_state_save(X86CPU *cpu, GByteArray *out, GError **errp);
/*
 * Reads a state x86_cpu_state_save wrote. Everything is decoded and
 * checked into a copy first; only with apply (and no error) is the vCPU
 * changed. The CPU's pending NMI/INIT/SIPI and TSC offset are part of the
 * state; so, with apply, the TSC-deadline timer of its LAPIC is re-armed
 * for the new offset (big lock held).
 */
bool x86_cpu_state_load(X86CPU *cpu, const uint8_t *data, size_t len,
                        bool apply, GError **errp);

#endif
