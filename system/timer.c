/*
 * Clocks and timers on the glib main loop. One timerfd (CLOCK_MONOTONIC,
 * absolute) is armed for the earliest deadline across all clocks, so timers
 * fire with nanosecond precision whatever glib's millisecond timeouts say.
 * Timer lists change only under the big lock; clock_get_ns takes no lock.
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "system/runstate.h"
#include "system/timer.h"

#define NR_CLOCKS 3

struct Timer {
    ClockType type;
    TimerCallback *cb;
    void *opaque;
    int64_t expire;     /* valid while pending */
    bool pending;
    Timer *next;        /* in its clock's list, sorted by expire */
};

/* Pending timers of each clock, earliest first (equal expiries FIFO). */
static Timer *timer_lists[NR_CLOCKS];

/*
 * The virtual clock. Written under the big lock only; read from any thread
 * through a sequence counter (odd while a writer is in the middle).
 *   running:  virtual = monotonic - offset
 *   stopped:  virtual = frozen
 *   manual:   virtual = frozen (moved only by clock_virtual_step/set)
 */
static struct {
    unsigned seq;
    int64_t offset;
    int64_t frozen;
    bool stopped;
    bool manual;
} vclock;

static int timer_fd = -1;
static int64_t armed_deadline = -1;     /* monotonic ns the fd is set to */
static GSource *timer_source;
static gpointer timer_fd_tag;

static int64_t host_clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

static int64_t virtual_clock_ns(void)
{
    unsigned seq;
    int64_t offset, frozen, now;
    bool frozen_now;

    for (;;) {
        seq = __atomic_load_n(&vclock.seq, __ATOMIC_ACQUIRE);
        if (seq & 1) {
            continue;
        }
        offset = __atomic_load_n(&vclock.offset, __ATOMIC_RELAXED);
        frozen = __atomic_load_n(&vclock.frozen, __ATOMIC_RELAXED);
        frozen_now = __atomic_load_n(&vclock.stopped, __ATOMIC_RELAXED) ||
                     __atomic_load_n(&vclock.manual, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&vclock.seq, __ATOMIC_RELAXED) == seq) {
            break;
        }
    }
    if (frozen_now) {
        return frozen;
    }
    now = host_clock_ns(CLOCK_MONOTONIC) - offset;
    return now;
}

/* Writers hold the big lock; readers may be anywhere. */
#define VSET(field, val) \
    __atomic_store_n(&vclock.field, (val), __ATOMIC_RELAXED)

static void vclock_write_begin(void)
{
    __atomic_store_n(&vclock.seq, vclock.seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void vclock_write_end(void)
{
    __atomic_store_n(&vclock.seq, vclock.seq + 1, __ATOMIC_RELEASE);
}

int64_t clock_get_ns(ClockType type)
{
    switch (type) {
    case CLK_VIRTUAL:
        return virtual_clock_ns();
    case CLK_REALTIME:
        return host_clock_ns(CLOCK_MONOTONIC);
    case CLK_HOST:
    default:
        return host_clock_ns(CLOCK_REALTIME);
    }
}

/* ---- deadlines and the timerfd ---- */

/* When the head of a clock's list is due, in CLOCK_MONOTONIC ns, or -1. */
static int64_t clock_monotonic_deadline(ClockType type)
{
    Timer *t = timer_lists[type];

    if (!t) {
        return -1;
    }
    switch (type) {
    case CLK_VIRTUAL:
        if (vclock.stopped || vclock.manual) {
            return -1;      /* only clock_virtual_step/start moves it */
        }
        return t->expire + vclock.offset;
    case CLK_REALTIME:
        return t->expire;
    case CLK_HOST:
    default:
        /* wall-clock jumps are caught when the timer is checked */
        return t->expire - host_clock_ns(CLOCK_REALTIME) +
               host_clock_ns(CLOCK_MONOTONIC);
    }
}

static int64_t earliest_deadline(void)
{
    int64_t best = -1;

    for (int i = 0; i < NR_CLOCKS; i++) {
        int64_t d = clock_monotonic_deadline(i);
        if (d >= 0 && (best < 0 || d < best)) {
            best = d;
        }
    }
    return best;
}

/* Sets the timerfd to the earliest deadline; timerfd_settime is thread-safe. */
static void timers_rearm(void)
{
    struct itimerspec its = { 0 };
    int64_t d;

    if (timer_fd < 0) {
        return;
    }
    d = earliest_deadline();
    if (d == armed_deadline) {
        return;
    }
    armed_deadline = d;
    if (d >= 0) {
        d = MAX(d, 1);      /* zero would disarm */
        its.it_value.tv_sec = d / NANOSECONDS_PER_SECOND;
        its.it_value.tv_nsec = d % NANOSECONDS_PER_SECOND;
    }
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- timer lists ---- */

Timer *timer_new(ClockType type, TimerCallback *cb, void *opaque)
{
    Timer *t = g_new0(Timer, 1);

    t->type = type;
    t->cb = cb;
    t->opaque = opaque;
    return t;
}

static bool timer_unlink(Timer *t)
{
    for (Timer **p = &timer_lists[t->type]; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            t->next = NULL;
            t->pending = false;
            return true;
        }
    }
    return false;
}

void timer_free(Timer *t)
{
    if (t) {
        timer_del(t);
        g_free(t);
    }
}

void timer_mod(Timer *t, int64_t expire_ns)
{
    Timer **p;
    bool was_head = timer_lists[t->type] == t;

    if (t->pending) {
        timer_unlink(t);
    }
    t->expire = expire_ns;
    t->pending = true;
    for (p = &timer_lists[t->type]; *p && (*p)->expire <= expire_ns;
         p = &(*p)->next) {
    }
    t->next = *p;
    *p = t;
    if (was_head || timer_lists[t->type] == t) {
        timers_rearm();
    }
}

void timer_del(Timer *t)
{
    bool was_head = timer_lists[t->type] == t;

    if (t->pending && timer_unlink(t) && was_head) {
        timers_rearm();
    }
}

bool timer_pending(const Timer *t)
{
    return t->pending;
}

int64_t timer_expire_time(const Timer *t)
{
    return t->pending ? t->expire : -1;
}

/*
 * Runs the timers of a clock that are due at now. Each is unlinked before
 * its callback runs, so the callback may re-arm, delete or free any timer.
 */
static bool run_due_timers(ClockType type, int64_t now)
{
    bool ran = false;
    Timer *t;

    while ((t = timer_lists[type]) && t->expire <= now) {
        timer_lists[type] = t->next;
        t->next = NULL;
        t->pending = false;
        t->cb(t->opaque);
        ran = true;
    }
    return ran;
}

static bool timer_due(ClockType type)
{
    Timer *t = timer_lists[type];

    if (!t) {
        return false;
    }
    if (type == CLK_VIRTUAL && vclock.stopped && !vclock.manual) {
        return false;
    }
    return t->expire <= clock_get_ns(type);
}

static bool any_timer_due(void)
{
    for (int i = 0; i < NR_CLOCKS; i++) {
        if (timer_due(i)) {
            return true;
        }
    }
    return false;
}

/* ---- the virtual clock ---- */

void clock_virtual_stop(void)
{
    if (vclock.stopped) {
        return;
    }
    int64_t now = virtual_clock_ns();
    vclock_write_begin();
    VSET(frozen, now);
    VSET(stopped, true);
    vclock_write_end();
    timers_rearm();
}

void clock_virtual_start(void)
{
    if (!vclock.stopped) {
        return;
    }
    vclock_write_begin();
    /* resume exactly where it stopped */
    VSET(offset, host_clock_ns(CLOCK_MONOTONIC) - vclock.frozen);
    VSET(stopped, false);
    vclock_write_end();
    timers_rearm();
}

void clock_virtual_set_manual(bool manual)
{
    if (manual == vclock.manual) {
        return;
    }
    int64_t now = virtual_clock_ns();
    vclock_write_begin();
    if (manual) {
        /*
         * At start-up (nothing armed yet) the manual clock starts from 0,
         * as QEMU's qtest clock does, so that tests see absolute times.
         */
        VSET(frozen, timer_lists[CLK_VIRTUAL] ? now : 0);
    } else {
        VSET(offset, host_clock_ns(CLOCK_MONOTONIC) - vclock.frozen);
    }
    VSET(manual, manual);
    vclock_write_end();
    timers_rearm();
}

static void vclock_set_frozen(int64_t ns)
{
    vclock_write_begin();
    VSET(frozen, ns);
    vclock_write_end();
}

void clock_virtual_restore(int64_t ns)
{
    vclock_write_begin();
    VSET(frozen, ns);
    if (!vclock.stopped && !vclock.manual) {
        VSET(offset, host_clock_ns(CLOCK_MONOTONIC) - ns);
    }
    vclock_write_end();
    timers_rearm();
}

/*
 * Moves a manual clock to target, stopping at each timer's deadline on the
 * way so that callbacks see the time they were due at (QEMU's qtest does
 * the same) and timers they arm inside the step also run.
 */
int64_t clock_virtual_set(int64_t target)
{
    Timer *t;

    if (!vclock.manual) {
        return virtual_clock_ns();
    }
    while ((t = timer_lists[CLK_VIRTUAL]) && t->expire <= target) {
        if (t->expire > vclock.frozen) {
            vclock_set_frozen(t->expire);
        }
        run_due_timers(CLK_VIRTUAL, vclock.frozen);
    }
    if (target > vclock.frozen) {
        vclock_set_frozen(target);
    }
    return vclock.frozen;
}

int64_t clock_virtual_step(int64_t ns)
{
    if (!vclock.manual) {
        return virtual_clock_ns();
    }
    return clock_virtual_set(vclock.frozen + MAX(ns, 0));
}

int64_t clock_virtual_deadline(void)
{
    Timer *t = timer_lists[CLK_VIRTUAL];

    return t ? t->expire : -1;
}

/* ---- the main-loop source ---- */

static gboolean timer_source_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;      /* the timerfd wakes the poll */
    return any_timer_due();
}

/*
 * A readable timerfd with nothing due (a wall-clock jump under a CLK_HOST
 * timer) is still dispatched, to drain and re-arm it rather than spin.
 */
static gboolean timer_source_check(GSource *source)
{
    return any_timer_due() ||
           (g_source_query_unix_fd(source, timer_fd_tag) & G_IO_IN);
}

static gboolean timer_source_dispatch(GSource *source, GSourceFunc cb,
                                      gpointer data)
{
    uint64_t expirations;

    /* drain the fd; it may also have been re-armed meanwhile */
    if (read(timer_fd, &expirations, sizeof(expirations)) < 0 &&
        errno != EAGAIN) {
        /* nothing to recover: the lists are checked below anyway */
    }
    armed_deadline = -1;    /* a fired absolute timer is disarmed */
    for (int i = 0; i < NR_CLOCKS; i++) {
        if (timer_due(i)) {
            run_due_timers(i, clock_get_ns(i));
        }
    }
    timers_rearm();
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_source_funcs = {
    .prepare = timer_source_prepare,
    .check = timer_source_check,
    .dispatch = timer_source_dispatch,
};

void timers_init(void)
{
    if (timer_source) {
        return;
    }
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    g_assert(timer_fd >= 0);    /* only fails without memory or fds */
    timer_source = g_source_new(&timer_source_funcs, sizeof(GSource));
    g_source_set_name(timer_source, "timers");
    timer_fd_tag = g_source_add_unix_fd(timer_source, timer_fd, G_IO_IN);
    /*
     * glib blocks a source that cannot recurse while it is dispatched by
     * taking its fd out of the poll set and back, which wakes the loop
     * twice more per timer. Timers are unlinked before their callbacks
     * run, so a nested main loop (a block drain) may run others safely.
     */
    g_source_set_can_recurse(timer_source, TRUE);
    g_source_attach(timer_source, NULL);
    /* guest time starts at 0 with the process, as QEMU's does (info
     * snapshots shows it as VM CLOCK) */
    if (!vclock.stopped && !vclock.manual) {
        vclock_write_begin();
        VSET(offset, host_clock_ns(CLOCK_MONOTONIC));
        vclock_write_end();
    }
    armed_deadline = -1;
    timers_rearm();
}
