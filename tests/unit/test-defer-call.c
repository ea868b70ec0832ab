/*
 * Deferred calls: immediate outside a section, once per (fn, opaque) at the
 * outermost end, in the order first asked, calls made by calls joining the
 * batch, and a flush inside a section.
 */
#include <glib.h>

#include "util/defer-call.h"

static GString *trace;

static void note(void *opaque)
{
    g_string_append(trace, opaque);
}

/* defers note("b"), as a completion that notifies would */
static void chain(void *opaque)
{
    g_string_append(trace, "c");
    defer_call(note, "b");
}

static void setup(void)
{
    if (!trace) {
        trace = g_string_new(NULL);
    }
    g_string_truncate(trace, 0);
}

static void test_outside_runs_at_once(void)
{
    setup();
    defer_call(note, "a");
    g_assert_cmpstr(trace->str, ==, "a");
}

static void test_once_per_batch_in_order(void)
{
    setup();
    defer_call_begin();
    defer_call(note, "a");
    defer_call(note, "b");
    defer_call_begin();
    defer_call(note, "a");
    defer_call_end();
    g_assert_cmpstr(trace->str, ==, "");
    defer_call(note, "b");
    defer_call_end();
    g_assert_cmpstr(trace->str, ==, "ab");
}

static void test_call_defers_more(void)
{
    setup();
    defer_call_begin();
    defer_call(note, "b");
    defer_call(chain, NULL);
    defer_call_end();
    /* b ran before chain asked for it again: it runs a second time */
    g_assert_cmpstr(trace->str, ==, "bcb");
}

static void test_flush(void)
{
    setup();
    defer_call_begin();
    defer_call(note, "a");
    defer_call_flush();
    g_assert_cmpstr(trace->str, ==, "a");
    defer_call(note, "a");
    defer_call_end();
    g_assert_cmpstr(trace->str, ==, "aa");
    defer_call_flush();         /* outside a section: nothing to do */
    g_assert_cmpstr(trace->str, ==, "aa");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/defer-call/outside", test_outside_runs_at_once);
    g_test_add_func("/defer-call/batch", test_once_per_batch_in_order);
    g_test_add_func("/defer-call/chain", test_call_defers_more);
    g_test_add_func("/defer-call/flush", test_flush);
    return g_test_run();
}
