/*
 * The machine's breakpoints, watchpoints and single step for the gdb
 * stub, and the debug stop a vCPU thread requests (include/system/debug.h).
 */
#include <inttypes.h>

#include "system/debug.h"
#include "hw/i386/x86.h"
#include "system/accel.h"
#include "util/log.h"
#include "util/opts.h"

static GuestDebug debug = { .step_cpu = -1 };

static GMutex hit_lock;
static bool hit_pending;
static GuestDebugHit hit, last_hit = { .cpu = -1 };

const GuestDebug *guest_debug_get(void)
{
    return &debug;
}

/* The accelerator takes the new set, or refuses it and keeps the old. */
static bool apply(Machine *m, const GuestDebug *next, GError **errp)
{
    if (!m->accel->debug_update) {
        g_set_error(errp, VIREO_ERROR, 0, "the %s accelerator cannot debug "
                    "guests", m->accel->name);
        return false;
    }
    if (!m->accel->debug_update(m, next, errp)) {
        return false;
    }
    debug = *next;
    return true;
}

static bool valid_len(GuestDebugType type, uint64_t len, GError **errp)
{
    if (!debug_is_watch(type)) {
        return true;    /* gdb sends the breakpoint's kind: ignored */
    }
    if (len == 0 || len > DEBUG_WATCH_LEN_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "a watchpoint of %" PRIu64
                    " bytes", len);
        return false;
    }
    return true;
}

static int find(GuestDebugType type, uint64_t addr, uint64_t len)
{
    for (int i = 0; i < debug.npoints; i++) {
        const GuestDebugPoint *p = &debug.points[i];
        if (p->type == type && p->addr == addr &&
            (!debug_is_watch(type) || p->len == len)) {
            return i;
        }
    }
    return -1;
}

bool guest_debug_insert(Machine *m, GuestDebugType type, uint64_t addr,
                        uint64_t len, GError **errp)
{
    GuestDebug next = debug;

    if (!valid_len(type, len, errp)) {
        return false;
    }
    if (find(type, addr, len) >= 0) {
        return true;    /* gdb may insert twice: one is enough */
    }
    if (next.npoints == DEBUG_POINTS_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "%d breakpoints and watchpoints "
                    "already", DEBUG_POINTS_MAX);
        return false;
    }
    next.points[next.npoints++] = (GuestDebugPoint) {
        .type = type, .addr = addr, .len = debug_is_watch(type) ? len : 1,
    };
    return apply(m, &next, errp);
}

bool guest_debug_remove(Machine *m, GuestDebugType type, uint64_t addr,
                        uint64_t len, GError **errp)
{
    GuestDebug next = debug;
    int i = find(type, addr, len);

    if (i < 0) {
        return true;
    }
    next.points[i] = next.points[--next.npoints];
    return apply(m, &next, errp);
}

void guest_debug_clear(Machine *m)
{
    GuestDebug none = { .step_cpu = -1 };
    g_autoptr(GError) err = NULL;

    if (!debug.npoints && debug.step_cpu < 0) {
        return;
    }
    if (!apply(m, &none, &err)) {
        log_error("could not remove the debugger's breakpoints: %s",
                  err->message);
    }
}

bool guest_debug_set_step(Machine *m, int cpu, GError **errp)
{
    GuestDebug next = debug;

    if (cpu == debug.step_cpu) {
        return true;
    }
    next.step_cpu = cpu;
    return apply(m, &next, errp);
}

void vm_request_debug(const GuestDebugHit *h)
{
    g_mutex_lock(&hit_lock);
    if (!hit_pending) {
        hit = *h;
        __atomic_store_n(&hit_pending, true, __ATOMIC_SEQ_CST);
    }
    g_mutex_unlock(&hit_lock);
    g_main_context_wakeup(NULL);
}

bool vm_debug_request_pending(void)
{
    return __atomic_load_n(&hit_pending, __ATOMIC_SEQ_CST);
}

bool vm_take_debug_request(GuestDebugHit *h)
{
    bool taken;

    g_mutex_lock(&hit_lock);
    taken = hit_pending;
    if (taken) {
        *h = last_hit = hit;
        __atomic_store_n(&hit_pending, false, __ATOMIC_SEQ_CST);
    }
    g_mutex_unlock(&hit_lock);
    return taken;
}

const GuestDebugHit *guest_debug_last_hit(void)
{
    return &last_hit;
}
