/*
 * Deferred calls (util/defer-call.h). Each thread has its own depth and
 * list; a list holds a few entries (a queue's notify, the AIO engine's
 * submit), so a linear search for duplicates is the cheapest dedup.
 */
#include <glib.h>

#include "util/defer-call.h"

typedef struct DeferredCall {
    void (*fn)(void *);
    void *opaque;
} DeferredCall;

static __thread unsigned depth;
static __thread GArray *calls;      /* of DeferredCall */

void defer_call_begin(void)
{
    if (!calls) {
        calls = g_array_new(FALSE, FALSE, sizeof(DeferredCall));
    }
    depth++;
}

/*
 * Runs what is recorded. Each call leaves the list before it runs: one
 * that asks for further calls (itself included) finds them run later in
 * this same batch.
 */
static void run_calls(void)
{
    depth++;
    while (calls->len) {
        DeferredCall c = g_array_index(calls, DeferredCall, 0);
        g_array_remove_index(calls, 0);
        c.fn(c.opaque);
    }
    depth--;
}

void defer_call_end(void)
{
    g_assert(depth > 0);
    if (!--depth) {
        run_calls();
    }
}

void defer_call_flush(void)
{
    if (depth) {
        run_calls();
    }
}

void defer_call(void (*fn)(void *), void *opaque)
{
    if (!depth) {
        fn(opaque);
        return;
    }
    for (guint i = 0; i < calls->len; i++) {
        DeferredCall *c = &g_array_index(calls, DeferredCall, i);
        if (c->fn == fn && c->opaque == opaque) {
            return;
        }
    }
    DeferredCall c = { fn, opaque };
    g_array_append_val(calls, c);
}

void defer_call_thread_exit(void)
{
    g_assert(!depth);
    if (calls) {
        g_array_free(calls, TRUE);
        calls = NULL;
    }
}
