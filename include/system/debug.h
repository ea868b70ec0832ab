/*
 * Guest debugging for the gdb stub: the machine's breakpoints and
 * watchpoints (gdb's Z0-Z4), the vCPU that single-steps, and the stop a
 * vCPU reports when one of them fires. The accelerator makes them happen
 * (AccelOps.debug_update): the software CPU checks addresses as it runs,
 * KVM inserts int3 and programs the debug registers. Every change is made
 * with the vCPUs parked and the big lock held.
 */
#ifndef SYSTEM_DEBUG_H
#define SYSTEM_DEBUG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/cpu.h"

/* gdb's Z packet types; addresses are linear (virtual) addresses */
typedef enum GuestDebugType {
    DEBUG_BP_SW = 0,        /* break: wherever the code is */
    DEBUG_BP_HW = 1,        /* hbreak: an execution breakpoint */
    DEBUG_WP_WRITE = 2,     /* watch */
    DEBUG_WP_READ = 3,      /* rwatch */
    DEBUG_WP_ACCESS = 4,    /* awatch */
} GuestDebugType;

#define DEBUG_POINTS_MAX    64
#define DEBUG_WATCH_LEN_MAX 4096

typedef struct GuestDebugPoint {
    GuestDebugType type;
    uint64_t addr;
    uint64_t len;           /* watchpoints: bytes watched; breakpoints: 1 */
} GuestDebugPoint;

typedef struct GuestDebug {
    GuestDebugPoint points[DEBUG_POINTS_MAX];
    int npoints;
    int step_cpu;           /* the vCPU that runs one instruction, or -1 */
} GuestDebug;

static inline bool debug_is_watch(GuestDebugType t)
{
    return t >= DEBUG_WP_WRITE;
}

/* Why a vCPU stopped for the debugger. */
typedef enum GuestDebugStop {
    DEBUG_STOP_STEP,        /* its single step is done */
    DEBUG_STOP_BREAK,       /* at a breakpoint (point says which) */
    DEBUG_STOP_WATCH,       /* after an access a watchpoint covers */
} GuestDebugStop;

typedef struct GuestDebugHit {
    int cpu;                /* the vCPU's index */
    GuestDebugStop why;
    GuestDebugPoint point;  /* BREAK, WATCH: the point that fired */
} GuestDebugHit;

/*
 * Adds or removes a point (false with errp: a bad length, too many, or
 * the accelerator cannot; nothing changed then). Removing a point that
 * is not there succeeds, as gdb expects.
 */
bool guest_debug_insert(Machine *m, GuestDebugType type, uint64_t addr,
                        uint64_t len, GError **errp);
bool guest_debug_remove(Machine *m, GuestDebugType type, uint64_t addr,
                        uint64_t len, GError **errp);
/* No points and no stepping: the debugger went away. */
void guest_debug_clear(Machine *m);
/* cpu steps one instruction when the VM next runs (-1: none). */
bool guest_debug_set_step(Machine *m, int cpu, GError **errp);
const GuestDebug *guest_debug_get(void);

/*
 * A vCPU thread reports a hit: the first one since the last take wins;
 * the main loop then stops the VM (RUN_STATE_DEBUG). The caller stops
 * running guest code (cpu->stop). Any thread.
 */
void vm_request_debug(const GuestDebugHit *hit);
/* The main loop's side: true and the hit when one is waiting. */
bool vm_take_debug_request(GuestDebugHit *hit);
bool vm_debug_request_pending(void);
/* The hit the last take returned (cpu -1: none yet): why the VM is in
 * RUN_STATE_DEBUG. */
const GuestDebugHit *guest_debug_last_hit(void);

#endif
