/* The big lock and the requests that the main loop turns into actions. */
#include <glib.h>
#include <pthread.h>

#include "block/block.h"
#include "monitor/qmp.h"
#include "system/runstate.h"
#include "system/vm.h"
#include "util/opts.h"

static pthread_mutex_t bql = PTHREAD_MUTEX_INITIALIZER;
static __thread bool bql_held;

bool runstate_no_reboot;
bool runstate_no_shutdown;

void bql_lock(void)
{
    pthread_mutex_lock(&bql);
    bql_held = true;
}

void bql_unlock(void)
{
    bql_held = false;
    pthread_mutex_unlock(&bql);
}

bool bql_locked(void)
{
    return bql_held;
}

void bql_cond_wait(pthread_cond_t *cond)
{
    bql_held = false;
    pthread_cond_wait(cond, &bql);
    bql_held = true;
}

/*
 * A vCPU that asked for a shutdown or reset (isa-debug-exit, ACPI S5) must
 * not run guest code in the meantime: its accelerator sees the request
 * after the kick.
 */
static void kick_current_cpu(void)
{
    if (current_cpu && current_cpu->created) {
        current_cpu->machine->accel->vcpu_kick(current_cpu);
    }
}

/*
 * Requests are flags polled by the main loop after a wakeup. Any thread
 * may raise one (a vCPU running isa-debug-exit, the monitor), so they are
 * atomic; the first shutdown's cause and status win.
 */
static ShutdownCause shutdown_request;
static int shutdown_status;
static ShutdownCause reset_request;

void vm_request_shutdown(ShutdownCause cause, int exit_status)
{
    ShutdownCause none = SHUTDOWN_NONE;

    if (__atomic_load_n(&shutdown_request, __ATOMIC_ACQUIRE) == SHUTDOWN_NONE) {
        __atomic_store_n(&shutdown_status, exit_status, __ATOMIC_RELAXED);
        __atomic_compare_exchange_n(&shutdown_request, &none, cause, false,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    }
    kick_current_cpu();
    g_main_context_wakeup(NULL);
}

void vm_request_reset(ShutdownCause cause)
{
    if (runstate_no_reboot) {
        /* QEMU: -no-reboot turns a guest reset into an orderly exit, 0 */
        vm_request_shutdown(cause, 0);
        return;
    }
    __atomic_store_n(&reset_request, cause, __ATOMIC_RELEASE);
    kick_current_cpu();
    g_main_context_wakeup(NULL);
}

bool vm_request_pending(void)
{
    return __atomic_load_n(&shutdown_request, __ATOMIC_ACQUIRE) != SHUTDOWN_NONE ||
           __atomic_load_n(&reset_request, __ATOMIC_ACQUIRE) != SHUTDOWN_NONE;
}

ShutdownCause vm_take_shutdown_request(int *status)
{
    ShutdownCause c = __atomic_exchange_n(&shutdown_request, SHUTDOWN_NONE,
                                          __ATOMIC_ACQUIRE);

    *status = __atomic_load_n(&shutdown_status, __ATOMIC_RELAXED);
    return c;
}

ShutdownCause vm_take_reset_request(void)
{
    return __atomic_exchange_n(&reset_request, SHUTDOWN_NONE, __ATOMIC_ACQUIRE);
}

/* ---- run state (QMP query-status) ---- */

static RunState run_state = RUN_STATE_PRELAUNCH;

RunState runstate_get(void)
{
    return run_state;
}

void runstate_set(RunState state)
{
    run_state = state;
}

struct VMStateChangeEntry {
    VMStateChangeHandler *cb;
    void *opaque;
};

static GPtrArray *state_change_handlers;

VMStateChangeEntry *vm_add_state_change_handler(VMStateChangeHandler *cb,
                                                void *opaque)
{
    VMStateChangeEntry *e = g_new(VMStateChangeEntry, 1);

    if (!state_change_handlers) {
        state_change_handlers = g_ptr_array_new_with_free_func(g_free);
    }
    e->cb = cb;
    e->opaque = opaque;
    g_ptr_array_add(state_change_handlers, e);
    return e;
}

void vm_del_state_change_handler(VMStateChangeEntry *e)
{
    if (e) {
        g_ptr_array_remove(state_change_handlers, e);
    }
}

static void state_change_notify(bool running)
{
    if (!state_change_handlers) {
        return;
    }
    /* a handler may remove itself: walk a copy (that frees no entries) */
    guint n = state_change_handlers->len;
    g_autofree gpointer *copy = g_memdup2(state_change_handlers->pdata,
                                          n * sizeof(gpointer));
    for (guint i = 0; i < n; i++) {
        VMStateChangeEntry *e = copy[i];
        e->cb(e->opaque, running);
    }
}

void vm_stop(Machine *m, RunState state)
{
    if (run_state != RUN_STATE_RUNNING) {
        return;     /* QEMU: stopping a stopped VM changes nothing */
    }
    if (m) {
        vcpus_pause(m);
    }
    run_state = state;
    qmp_event_send("STOP", NULL);
    state_change_notify(false);
}

void vm_stop_current(RunState state)
{
    vm_stop(machine_current(), state);
}

bool vm_start(Machine *m, GError **errp)
{
    switch (run_state) {
    case RUN_STATE_RUNNING:
        return true;
    case RUN_STATE_SHUTDOWN:
    case RUN_STATE_INTERNAL_ERROR:
    case RUN_STATE_GUEST_PANICKED:
        g_set_error(errp, VIREO_ERROR, 0,
                    "Resetting the Virtual Machine is required");
        return false;
    case RUN_STATE_INMIGRATE:
    case RUN_STATE_FINISH_MIGRATE:
        /* its state is still arriving, or leaving */
        g_set_error(errp, VIREO_ERROR, 0,
                    "the VM cannot run during a migration (%s)",
                    runstate_name(run_state));
        return false;
    default:
        break;
    }
    /* QEMU: `cont` after a migration (postmigrate) takes the disks back */
    if (!blk_activate_all(errp)) {
        return false;
    }
    run_state = RUN_STATE_RUNNING;
    vcpus_resume(m);
    qmp_event_send("RESUME", NULL);
    state_change_notify(true);
    return true;
}

bool runstate_is_running(void)
{
    return run_state == RUN_STATE_RUNNING;
}

const char *runstate_name(RunState state)
{
    static const char *const names[] = {
        [RUN_STATE_PRELAUNCH] = "prelaunch",
        [RUN_STATE_RUNNING] = "running",
        [RUN_STATE_PAUSED] = "paused",
        [RUN_STATE_SHUTDOWN] = "shutdown",
        [RUN_STATE_INTERNAL_ERROR] = "internal-error",
        [RUN_STATE_GUEST_PANICKED] = "guest-panicked",
        [RUN_STATE_IO_ERROR] = "io-error",
        [RUN_STATE_INMIGRATE] = "inmigrate",
        [RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
        [RUN_STATE_POSTMIGRATE] = "postmigrate",
        [RUN_STATE_SAVE_VM] = "save-vm",
        [RUN_STATE_RESTORE_VM] = "restore-vm",
        [RUN_STATE_DEBUG] = "debug",
    };
    return names[state];
}

const char *shutdown_cause_name(ShutdownCause cause)
{
    static const char *const names[] = {
        [SHUTDOWN_NONE] = "none",
        [SHUTDOWN_GUEST_POWEROFF] = "guest-shutdown",
        [SHUTDOWN_GUEST_RESET] = "guest-reset",
        [SHUTDOWN_GUEST_TRIPLE_FAULT] = "guest-reset",
        [SHUTDOWN_HOST_SIGNAL] = "host-signal",
        [SHUTDOWN_HOST_QUIT] = "host-qmp-quit",
        [SHUTDOWN_DEBUG_EXIT] = "guest-shutdown",
        [SHUTDOWN_GUEST_PANIC] = "guest-panic",
        [SHUTDOWN_HOST_ERROR] = "host-error",
        [SHUTDOWN_HOST_QMP_RESET] = "host-qmp-system-reset",
        [SHUTDOWN_HOST_UI] = "host-ui",
    };
    return names[cause];
}
