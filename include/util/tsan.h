/*
 * ThreadSanitizer builds only (configure --enable-tsan force-includes this
 * file into every source).
 *
 * GLib's mutexes, conditions, async queues and thread pools
 * synchronise through futexes inside an uninstrumented library, so TSan
 * sees none of their happens-before edges and reports every hand-over
 * through them as a race. These wrappers state the edges with TSan's
 * acquire/release annotations; the calls themselves are GLib's.
 */
#ifndef UTIL_TSAN_H
#define UTIL_TSAN_H

#include <glib.h>
#include <sanitizer/tsan_interface.h>

static inline void tsan_g_mutex_lock(GMutex *m)
{
    g_mutex_lock(m);
    __tsan_acquire(m);
}

static inline gboolean tsan_g_mutex_trylock(GMutex *m)
{
    if (!g_mutex_trylock(m)) {
        return FALSE;
    }
    __tsan_acquire(m);
    return TRUE;
}

static inline void tsan_g_mutex_unlock(GMutex *m)
{
    __tsan_release(m);
    g_mutex_unlock(m);
}

static inline void tsan_g_cond_wait(GCond *c, GMutex *m)
{
    __tsan_release(m);
    g_cond_wait(c, m);
    __tsan_acquire(m);
}

static inline void tsan_g_async_queue_push(GAsyncQueue *q, gpointer data)
{
    __tsan_release(q);
    g_async_queue_push(q, data);
}

static inline gpointer tsan_g_async_queue_pop(GAsyncQueue *q)
{
    gpointer data = g_async_queue_pop(q);

    __tsan_acquire(q);
    return data;
}

/* A pool's worker gets its data through this trampoline, which acquires
 * what g_thread_pool_push released on the same pointer. */
typedef struct TsanPoolFn {
    GFunc fn;
    gpointer user_data;
} TsanPoolFn;

static inline void tsan_pool_worker(gpointer data, gpointer packed)
{
    TsanPoolFn *p = packed;

    __tsan_acquire(data);
    p->fn(data, p->user_data);
}

static inline GThreadPool *tsan_g_thread_pool_new(GFunc fn, gpointer user_data,
                                                  gint max_threads,
                                                  gboolean exclusive,
                                                  GError **error)
{
    TsanPoolFn *p = g_new(TsanPoolFn, 1);    /* lives as long as the process */

    p->fn = fn;
    p->user_data = user_data;
    return g_thread_pool_new(tsan_pool_worker, p, max_threads, exclusive,
                             error);
}

static inline gboolean tsan_g_thread_pool_push(GThreadPool *pool,
                                               gpointer data, GError **error)
{
    __tsan_release(data);
    return g_thread_pool_push(pool, data, error);
}

/*
 * Guest RAM is shared as a machine's is: vCPUs and device DMA touch it at
 * the same time, and the guest orders those accesses itself, so a race on
 * it is the guest's business, not a bug in Vireo.
 */
void AnnotateBenignRaceSized(const char *file, int line,
                             const volatile void *mem, unsigned long size,
                             const char *description);
#define tsan_guest_ram(p, size) \
    AnnotateBenignRaceSized(__FILE__, __LINE__, (p), (size), "guest RAM")

#define g_mutex_lock tsan_g_mutex_lock
#define g_mutex_trylock tsan_g_mutex_trylock
#define g_mutex_unlock tsan_g_mutex_unlock
#define g_cond_wait tsan_g_cond_wait
#define g_async_queue_push tsan_g_async_queue_push
#define g_async_queue_pop tsan_g_async_queue_pop
#define g_thread_pool_new tsan_g_thread_pool_new
#define g_thread_pool_push tsan_g_thread_pool_push

#endif
