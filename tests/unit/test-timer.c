/*
 * Clocks and timers: virtual timers fire in deadline order as the manual
 * clock moves, see the time they were due at, may re-arm or delete timers
 * from their callbacks; the virtual clock freezes while stopped; realtime
 * timers fire through the main loop's timerfd source.
 */
#include <glib.h>

#include "system/timer.h"

typedef struct Fired {
    int order[16];
    int64_t at[16];
    int n;
} Fired;

static Fired fired;

typedef struct TestTimer {
    Timer *t;
    int id;
    int64_t rearm_period;   /* > 0: re-arms itself this much later */
    int rearms_left;
    Timer *victim;          /* deleted from the callback */
} TestTimer;

static void record(void *opaque)
{
    TestTimer *tt = opaque;

    if (fired.n < 16) {
        fired.order[fired.n] = tt->id;
        fired.at[fired.n] = clock_get_ns(CLK_VIRTUAL);
        fired.n++;
    }
    if (tt->victim) {
        timer_del(tt->victim);
    }
    if (tt->rearm_period > 0 && tt->rearms_left-- > 0) {
        timer_mod(tt->t, timer_expire_time(tt->t) < 0
                             ? clock_get_ns(CLK_VIRTUAL) + tt->rearm_period
                             : timer_expire_time(tt->t));
    }
}

static TestTimer *tt_new(int id)
{
    TestTimer *tt = g_new0(TestTimer, 1);

    tt->id = id;
    tt->t = timer_new(CLK_VIRTUAL, record, tt);
    return tt;
}

static void tt_free(TestTimer *tt)
{
    timer_free(tt->t);
    g_free(tt);
}

static void setup(void)
{
    clock_virtual_set_manual(true);
    fired.n = 0;
}

static void test_virtual_order(void)
{
    setup();
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    TestTimer *a = tt_new(1), *b = tt_new(2), *c = tt_new(3);

    timer_mod(a->t, now + 300);
    timer_mod(b->t, now + 100);
    timer_mod(c->t, now + 200);
    g_assert_true(timer_pending(a->t));
    g_assert_cmpint(timer_expire_time(b->t), ==, now + 100);
    g_assert_cmpint(clock_virtual_deadline(), ==, now + 100);

    g_assert_cmpint(clock_virtual_step(150), ==, now + 150);
    g_assert_cmpint(fired.n, ==, 1);
    g_assert_cmpint(fired.order[0], ==, 2);
    g_assert_cmpint(fired.at[0], ==, now + 100);   /* at its deadline */
    g_assert_false(timer_pending(b->t));

    clock_virtual_step(1000);
    g_assert_cmpint(fired.n, ==, 3);
    g_assert_cmpint(fired.order[1], ==, 3);
    g_assert_cmpint(fired.order[2], ==, 1);
    g_assert_cmpint(fired.at[2], ==, now + 300);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), ==, now + 1150);
    g_assert_cmpint(clock_virtual_deadline(), ==, -1);
    tt_free(a);
    tt_free(b);
    tt_free(c);
}

static void test_equal_deadlines_fifo(void)
{
    setup();
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    TestTimer *a = tt_new(1), *b = tt_new(2);

    timer_mod(b->t, now + 50);
    timer_mod(a->t, now + 50);
    clock_virtual_step(50);
    g_assert_cmpint(fired.n, ==, 2);
    g_assert_cmpint(fired.order[0], ==, 2);
    g_assert_cmpint(fired.order[1], ==, 1);
    tt_free(a);
    tt_free(b);
}

static void test_modify_and_delete(void)
{
    setup();
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    TestTimer *a = tt_new(1), *b = tt_new(2);

    timer_mod(a->t, now + 100);
    timer_mod(b->t, now + 200);
    timer_mod(a->t, now + 300);     /* moved behind b */
    timer_del(b->t);
    timer_del(b->t);                /* deleting twice is harmless */
    g_assert_false(timer_pending(b->t));
    g_assert_cmpint(timer_expire_time(b->t), ==, -1);
    clock_virtual_step(250);
    g_assert_cmpint(fired.n, ==, 0);
    clock_virtual_step(50);
    g_assert_cmpint(fired.n, ==, 1);
    g_assert_cmpint(fired.order[0], ==, 1);
    tt_free(a);
    tt_free(b);
}

static void test_rearm_in_callback(void)
{
    setup();
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    TestTimer *p = tt_new(7);

    p->rearm_period = 100;
    p->rearms_left = 4;
    timer_mod(p->t, now + 100);
    /* one step runs every period that falls inside it */
    clock_virtual_step(350);
    g_assert_cmpint(fired.n, ==, 3);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(fired.at[i], ==, now + 100 * (i + 1));
    }
    g_assert_cmpint(timer_expire_time(p->t), ==, now + 400);
    clock_virtual_step(10000);
    g_assert_cmpint(fired.n, ==, 5);
    g_assert_false(timer_pending(p->t));
    tt_free(p);
}

static void test_delete_from_callback(void)
{
    setup();
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    TestTimer *a = tt_new(1), *b = tt_new(2);

    a->victim = b->t;
    timer_mod(a->t, now + 10);
    timer_mod(b->t, now + 10);      /* due in the same step */
    clock_virtual_step(20);
    g_assert_cmpint(fired.n, ==, 1);
    g_assert_cmpint(fired.order[0], ==, 1);
    tt_free(a);
    tt_free(b);
}

static void test_set_and_free_pending(void)
{
    setup();
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    TestTimer *a = tt_new(1);
    Timer *lost = timer_new(CLK_VIRTUAL, record, a);

    timer_mod(lost, now + 5);
    timer_free(lost);               /* a pending timer may be freed */
    timer_mod(a->t, now + 1000);
    g_assert_cmpint(clock_virtual_set(now + 999), ==, now + 999);
    g_assert_cmpint(fired.n, ==, 0);
    /* setting backwards does not move the clock */
    g_assert_cmpint(clock_virtual_set(now), ==, now + 999);
    clock_virtual_set(now + 1000);
    g_assert_cmpint(fired.n, ==, 1);
    tt_free(a);
}

static void test_stop_freezes(void)
{
    clock_virtual_set_manual(false);
    int64_t t0 = clock_get_ns(CLK_VIRTUAL);
    clock_virtual_stop();
    int64_t frozen = clock_get_ns(CLK_VIRTUAL);
    g_assert_cmpint(frozen, >=, t0);
    g_usleep(20000);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), ==, frozen);
    clock_virtual_start();
    int64_t resumed = clock_get_ns(CLK_VIRTUAL);
    /* it goes on from where it stopped, without the 20 ms pause */
    g_assert_cmpint(resumed, >=, frozen);
    g_assert_cmpint(resumed - frozen, <, 15000000);
    g_usleep(2000);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), >, resumed);
    /* the host clocks keep going */
    int64_t r = clock_get_ns(CLK_REALTIME);
    g_assert_cmpint(clock_get_ns(CLK_REALTIME), >=, r);
    g_assert_cmpint(clock_get_ns(CLK_HOST) / NANOSECONDS_PER_SECOND, >,
                    1500000000);   /* wall clock: after 2017 */
    clock_virtual_set_manual(true);
}

static void test_manual_starts_at_zero(void)
{
    TestTimer *a;

    /* qtest turns manual mode on at start-up: the clock reads 0 */
    clock_virtual_set_manual(false);
    clock_virtual_set_manual(true);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), ==, 0);
    g_assert_cmpint(clock_virtual_step(1000), ==, 1000);
    /* with a timer armed, switching keeps the time */
    a = tt_new(1);
    timer_mod(a->t, 5000);
    clock_virtual_set_manual(false);
    clock_virtual_set_manual(true);
    g_assert_cmpint(clock_get_ns(CLK_VIRTUAL), >=, 1000);
    tt_free(a);
}

static int rt_fired;

static void rt_cb(void *opaque)
{
    rt_fired++;
    *(int64_t *)opaque = clock_get_ns(CLK_REALTIME);
}

static gboolean loop_timeout(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

static void test_realtime_main_loop(void)
{
    int64_t when = 0;
    bool timed_out = false;
    Timer *t = timer_new(CLK_REALTIME, rt_cb, &when);
    int64_t deadline = clock_get_ns(CLK_REALTIME) + 3000000;    /* 3 ms */
    guint guard = g_timeout_add(2000, loop_timeout, &timed_out);

    timers_init();
    rt_fired = 0;
    timer_mod(t, deadline);
    while (!rt_fired && !timed_out) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_false(timed_out);
    g_assert_cmpint(rt_fired, ==, 1);
    g_assert_cmpint(when, >=, deadline);
    g_source_remove(guard);
    timer_free(t);
}

static void test_virtual_running_main_loop(void)
{
    int64_t when = 0;
    bool timed_out = false;
    Timer *t = timer_new(CLK_VIRTUAL, rt_cb, &when);
    guint guard = g_timeout_add(2000, loop_timeout, &timed_out);

    clock_virtual_set_manual(false);
    timers_init();
    rt_fired = 0;
    timer_mod(t, clock_get_ns(CLK_VIRTUAL) + 2000000);
    while (!rt_fired && !timed_out) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_false(timed_out);
    g_assert_cmpint(rt_fired, ==, 1);
    g_source_remove(guard);
    timer_free(t);
    clock_virtual_set_manual(true);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/timer/virtual/order", test_virtual_order);
    g_test_add_func("/timer/virtual/equal-deadlines-fifo",
                    test_equal_deadlines_fifo);
    g_test_add_func("/timer/virtual/modify-delete", test_modify_and_delete);
    g_test_add_func("/timer/virtual/rearm-in-callback",
                    test_rearm_in_callback);
    g_test_add_func("/timer/virtual/delete-from-callback",
                    test_delete_from_callback);
    g_test_add_func("/timer/virtual/set-and-free", test_set_and_free_pending);
    g_test_add_func("/timer/virtual/stop-freezes", test_stop_freezes);
    g_test_add_func("/timer/virtual/manual-starts-at-zero",
                    test_manual_starts_at_zero);
    g_test_add_func("/timer/realtime/main-loop", test_realtime_main_loop);
    g_test_add_func("/timer/virtual/main-loop", test_virtual_running_main_loop);
    return g_test_run();
}
