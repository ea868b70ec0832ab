/*
 * Run state and the big lock. Device callbacks, the memory map and the main
 * loop's handlers all run holding the big lock; vCPU threads take it when
 * they leave the accelerator to dispatch an exit.
 */
#ifndef SYSTEM_RUNSTATE_H
#define SYSTEM_RUNSTATE_H

#include <pthread.h>
#include <stdbool.h>

void bql_lock(void);
void bql_unlock(void);
bool bql_locked(void);
/* Waits on cond, releasing the big lock meanwhile. */
void bql_cond_wait(pthread_cond_t *cond);

typedef enum ShutdownCause {
    SHUTDOWN_NONE,
    SHUTDOWN_GUEST_POWEROFF,  /* ACPI S5 or similar: exit status 0 */
    SHUTDOWN_GUEST_RESET,     /* i8042 pulse, 0xCF9, port 0x92 */
    SHUTDOWN_GUEST_TRIPLE_FAULT,
    SHUTDOWN_HOST_SIGNAL,     /* SIGTERM/SIGINT/SIGHUP: exit status 0 */
    SHUTDOWN_HOST_QUIT,       /* monitor quit */
    SHUTDOWN_DEBUG_EXIT,      /* isa-debug-exit: status from the guest */
    SHUTDOWN_GUEST_PANIC,
    SHUTDOWN_HOST_ERROR,      /* accelerator failure: exit status 1 */
    SHUTDOWN_HOST_QMP_RESET,  /* monitor system_reset */
    SHUTDOWN_HOST_UI,         /* the display window was closed */
} ShutdownCause;

/*
 * What QMP's query-status reports (QEMU's RunState; only these are used).
 * Changed on the main loop under the big lock.
 */
typedef enum RunState {
    RUN_STATE_PRELAUNCH,        /* -S, or reset while not running */
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,           /* stop */
    RUN_STATE_SHUTDOWN,         /* guest powered off under shutdown=pause */
    RUN_STATE_INTERNAL_ERROR,
    RUN_STATE_GUEST_PANICKED,
    RUN_STATE_IO_ERROR,         /* a drive's werror/rerror=stop; cont retries */
    RUN_STATE_INMIGRATE,        /* -incoming: waiting for the migration */
    RUN_STATE_FINISH_MIGRATE,   /* stopped for the last copy of a migration */
    RUN_STATE_POSTMIGRATE,      /* migrated away; cont runs it here again */
    RUN_STATE_SAVE_VM,          /* stopped while savevm writes a snapshot */
    RUN_STATE_RESTORE_VM,       /* loadvm, and after one that failed */
    RUN_STATE_DEBUG,            /* a breakpoint, watchpoint or step of gdb's */
} RunState;

RunState runstate_get(void);
void runstate_set(RunState state);
bool runstate_is_running(void);
/* QEMU's name for the state: "running", "paused", "prelaunch", ... */
const char *runstate_name(RunState state);
/* QEMU's name for a cause as SHUTDOWN and RESET events give it. */
const char *shutdown_cause_name(ShutdownCause cause);

/*
 * Told when the VM starts running or stops (main loop, big lock held), e.g.
 * to resubmit requests held back by werror=stop once the VM runs again.
 */
typedef void VMStateChangeHandler(void *opaque, bool running);
typedef struct VMStateChangeEntry VMStateChangeEntry;
VMStateChangeEntry *vm_add_state_change_handler(VMStateChangeHandler *cb,
                                                void *opaque);
void vm_del_state_change_handler(VMStateChangeEntry *e);
/* Stops the current machine (if any) in state, as vm_stop does. */
void vm_stop_current(RunState state);

/* Safe from any thread; the main loop acts on it. */
void vm_request_shutdown(ShutdownCause cause, int exit_status);
void vm_request_reset(ShutdownCause cause);
/* A shutdown or reset is waiting for the main loop. */
bool vm_request_pending(void);

/* Options that decide what a guest reset or poweroff means. */
extern bool runstate_no_reboot;    /* -no-reboot: reset exits instead */
extern bool runstate_no_shutdown;  /* -no-shutdown: poweroff pauses */

#endif
