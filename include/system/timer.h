/*
 * Clocks and timers. Timers fire on the main loop with the big lock held.
 * CLK_VIRTUAL is guest time: it stops while the VM is paused (and, under
 * qtest, moves only when the test steps it); CLK_REALTIME is the host's
 * monotonic clock; CLK_HOST is wall-clock time (for the RTC).
 */
#ifndef SYSTEM_TIMER_H
#define SYSTEM_TIMER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum ClockType {
    CLK_VIRTUAL,
    CLK_REALTIME,
    CLK_HOST,
} ClockType;

#define NANOSECONDS_PER_SECOND 1000000000LL

typedef void TimerCallback(void *opaque);
typedef struct Timer Timer;

/* Current time of a clock in nanoseconds; safe from any thread. */
int64_t clock_get_ns(ClockType type);

Timer *timer_new(ClockType type, TimerCallback *cb, void *opaque);
void timer_free(Timer *t);
/* Arms (or re-arms) the timer to fire when its clock reaches expire_ns. */
void timer_mod(Timer *t, int64_t expire_ns);
void timer_del(Timer *t);
bool timer_pending(const Timer *t);
/* Expiry of an armed timer, or -1. */
int64_t timer_expire_time(const Timer *t);

/* The virtual clock stops and resumes with the VM (called by vm pause). */
void clock_virtual_stop(void);
void clock_virtual_start(void);

/*
 * Snapshots and migration: the virtual clock goes on from ns (forwards or
 * backwards), the time it had when the state was saved. Big lock held.
 */
void clock_virtual_restore(int64_t ns);

/*
 * For qtest: the virtual clock no longer follows the host; it moves only by
 * clock_virtual_step/set, which also run the timers that became due (each
 * sees the clock at its own deadline). Turned on before any virtual timer
 * is armed (at start-up), the clock starts at 0 as QEMU's qtest clock does;
 * otherwise it goes on from its current value. clock_virtual_set never
 * moves the clock backwards; both return the new time.
 */
void clock_virtual_set_manual(bool manual);
int64_t clock_virtual_step(int64_t ns);
int64_t clock_virtual_set(int64_t ns);
/* Next deadline of any virtual-clock timer, or -1 (qtest clock_step). */
int64_t clock_virtual_deadline(void);

/* Installs the timer source in the default glib main context. */
void timers_init(void);

#endif
