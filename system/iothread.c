/*
 * I/O threads, QEMU's -object iothread: each one a thread named "IO ID"
 * running its own GMainContext until Vireo exits, polling its devices'
 * queues for a while before it sleeps (poll-max-ns, adapted with
 * poll-grow and poll-shrink as QEMU's AioContext does). QMP
 * query-iothreads and HMP info iothreads show them with their options.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/qmp.h"
#include "system/iothread.h"
#include "system/runstate.h"
#include "util/defer-call.h"
#include "util/opts.h"

/* QEMU's default: poll for up to 32 us before sleeping. */
#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768

struct IOThread {
    char *id;
    int64_t poll_max_ns;
    int64_t poll_grow;          /* 0: QEMU's default factor (2) */
    int64_t poll_shrink;        /* 0: drop to no polling at once */
    int64_t aio_max_batch;      /* kept for query-iothreads */
    GMainContext *ctx;
    pthread_t thread;
    int thread_id;              /* gettid of the thread, once it runs */
    bool stopping;
    GMutex lock;                /* pollers, against the polling thread */
    GArray *pollers;            /* of IOThreadPoller */
    unsigned npollers;          /* its length, read without the lock */
    int64_t poll_ns;            /* the current poll time (thread's own) */
    struct VMStateChangeEntry *state_entry;
    IOThread *next;
};

/* Newest first: query-iothreads lists them in QEMU's order. */
static IOThread *iothreads;

static const char *const iothread_options[] = {
    "aio-max-batch", "poll-grow", "poll-max-ns", "poll-shrink",
};

bool user_object_print_help(const char *arg)
{
    Opts *opts = opts_parse(arg, "qom-type", NULL);
    const char *type = opts ? opts_get(opts, "qom-type") : NULL;
    bool list = type && (!strcmp(type, "help") || !strcmp(type, "?"));
    bool options = type && !strcmp(type, "iothread") &&
                   opts_get(opts, "help");

    if (list) {
        printf("List of user creatable objects:\n  iothread\n");
    } else if (options) {
        printf("iothread options:\n");
        for (size_t i = 0; i < G_N_ELEMENTS(iothread_options); i++) {
            printf("  %s=<int>\n", iothread_options[i]);
        }
    }
    opts_free(opts);
    return list || options;
}

/* QEMU's identifiers: letters, digits, '-', '.', '_', from a letter. */
static bool id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *c = id; *c; c++) {
        if (!g_ascii_isalnum(*c) && !strchr("-._", *c)) {
            return false;
        }
    }
    return true;
}

/* An int64 option as QEMU reads it (0x hex too), at least 0. */
static bool get_count(Opts *opts, const char *key, int64_t def, int64_t *out,
                      GError **errp)
{
    const char *v = opts_get(opts, key);
    char *end;

    if (!v) {
        *out = def;
        return true;
    }
    errno = 0;
    gint64 n = g_ascii_strtoll(v, &end, 0);
    if (!*v || *end || errno) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter '%s' expects an int64 value", key);
        return false;
    }
    if (n < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s value must be in range [0, %" G_GINT64_FORMAT "]",
                    key, G_MAXINT64);
        return false;
    }
    *out = n;
    return true;
}

/* QEMU's words for an option the object does not have. */
static bool check_unused(Opts *opts, GError **errp)
{
    for (guint i = 0; i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        if (!p->used) {
            g_set_error(errp, VIREO_ERROR, 0, "Invalid parameter '%s'",
                        p->key);
            return false;
        }
    }
    return true;
}

IOThread *iothread_find(const char *id)
{
    for (IOThread *t = iothreads; t; t = t->next) {
        if (!strcmp(t->id, id)) {
            return t;
        }
    }
    return NULL;
}

GMainContext *iothread_get_context(IOThread *t)
{
    return t->ctx;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void iothread_add_poller(IOThread *t, const IOThreadPoller *p)
{
    g_mutex_lock(&t->lock);
    g_array_append_val(t->pollers, *p);
    __atomic_store_n(&t->npollers, t->pollers->len, __ATOMIC_RELAXED);
    g_mutex_unlock(&t->lock);
}

void iothread_del_poller(IOThread *t, void *opaque)
{
    g_mutex_lock(&t->lock);
    for (guint i = 0; i < t->pollers->len; i++) {
        if (g_array_index(t->pollers, IOThreadPoller, i).opaque == opaque) {
            g_array_remove_index(t->pollers, i);
            __atomic_store_n(&t->npollers, t->pollers->len,
                             __ATOMIC_RELAXED);
            break;
        }
    }
    g_mutex_unlock(&t->lock);
}

/* Big lock held: every poller's set_notify(enable). */
static void pollers_set_notify(IOThread *t, bool enable)
{
    g_mutex_lock(&t->lock);
    for (guint i = 0; i < t->pollers->len; i++) {
        IOThreadPoller *p = &g_array_index(t->pollers, IOThreadPoller, i);
        p->set_notify(p->opaque, enable);
    }
    g_mutex_unlock(&t->lock);
}

/*
 * One look at every poller, without the big lock; one that is ready is
 * handled under it, if it was not removed meanwhile. Returns whether a
 * handler made progress.
 */
static bool pollers_run_once(IOThread *t)
{
    bool progress = false;

    g_mutex_lock(&t->lock);
    for (guint i = 0; i < t->pollers->len; i++) {
        IOThreadPoller p = g_array_index(t->pollers, IOThreadPoller, i);
        if (!p.ready(p.opaque)) {
            continue;
        }
        /* the big lock first: removal holds it, then ours */
        g_mutex_unlock(&t->lock);
        bql_lock();
        g_mutex_lock(&t->lock);
        bool present = i < t->pollers->len &&
            g_array_index(t->pollers, IOThreadPoller, i).opaque == p.opaque;
        g_mutex_unlock(&t->lock);
        if (present) {
            progress |= p.handle(p.opaque);
        }
        bql_unlock();
        g_mutex_lock(&t->lock);
    }
    g_mutex_unlock(&t->lock);
    return progress;
}

/*
 * Spins for up to poll_ns on the pollers with the guest's kicks off, as
 * QEMU's run_poll_handlers; stops at the first progress or when anything
 * else is due on the context. Returns whether a handler made progress.
 */
static bool iothread_poll(IOThread *t)
{
    bool progress = false;
    bool polling;

    bql_lock();
    /* a stopped VM adds nothing, and its state must show kicks on */
    polling = runstate_is_running() && t->pollers->len;
    if (polling) {
        pollers_set_notify(t, false);
    }
    bql_unlock();
    if (!polling) {
        return false;
    }
    int64_t deadline = now_ns() + t->poll_ns;
    do {
        progress = pollers_run_once(t);
    } while (!progress && now_ns() < deadline &&
             !g_main_context_pending(t->ctx) &&
             !__atomic_load_n(&t->stopping, __ATOMIC_RELAXED));
    bql_lock();
    pollers_set_notify(t, true);
    bql_unlock();
    return progress;
}

/*
 * QEMU's adjust_polling_time: block_ns is how long the thread waited for
 * work (polling and sleeping). Within the poll time: fine as it is; past
 * poll-max-ns: poll less (divided by poll-shrink, or not at all); else
 * poll longer (from 4 us, times poll-grow or 2, up to poll-max-ns).
 */
static void adjust_poll_ns(IOThread *t, int64_t block_ns)
{
    if (block_ns <= t->poll_ns) {
        return;
    }
    if (block_ns > t->poll_max_ns) {
        t->poll_ns = t->poll_shrink ? t->poll_ns / t->poll_shrink : 0;
    } else if (t->poll_ns < t->poll_max_ns) {
        int64_t grow = t->poll_grow ? t->poll_grow : 2;
        t->poll_ns = t->poll_ns ? t->poll_ns * grow : 4000;
        if (t->poll_ns > t->poll_max_ns || t->poll_ns < 0) {
            t->poll_ns = t->poll_max_ns;
        }
    }
}

static void *iothread_run(void *opaque)
{
    IOThread *t = opaque;
    char name[16];      /* the kernel's limit on thread names */

    /* QEMU's name with -name debug-threads=on; set by the thread itself */
    snprintf(name, sizeof(name), "IO %s", t->id);
    pthread_setname_np(pthread_self(), name);
    __atomic_store_n(&t->thread_id, gettid(), __ATOMIC_SEQ_CST);
    g_main_context_push_thread_default(t->ctx);
    while (!__atomic_load_n(&t->stopping, __ATOMIC_SEQ_CST)) {
        bool adapt = t->poll_max_ns &&
                     __atomic_load_n(&t->npollers, __ATOMIC_RELAXED);
        int64_t start = now_ns();
        bool progress = adapt && t->poll_ns && iothread_poll(t);
        /* after progress, only what is due: then poll again */
        g_main_context_iteration(t->ctx, !progress);
        if (adapt) {
            adjust_poll_ns(t, now_ns() - start);
        }
    }
    g_main_context_pop_thread_default(t->ctx);
    defer_call_thread_exit();   /* its devices batched requests here */
    return NULL;
}

/* A VM that stops must not keep the guest's kicks off in its state. */
static void iothread_vm_state_changed(void *opaque, bool running)
{
    if (!running) {
        pollers_set_notify(opaque, true);
    }
}

static bool iothread_start(IOThread *t, GError **errp)
{
    int err;

    t->ctx = g_main_context_new();
    t->state_entry = vm_add_state_change_handler(iothread_vm_state_changed,
                                                 t);
    err = pthread_create(&t->thread, NULL, iothread_run, t);
    if (err) {
        g_set_error(errp, VIREO_ERROR, 0, "cannot start the thread: %s",
                    g_strerror(err));
        return false;
    }
    /* its id is known before any monitor can ask for it */
    while (!__atomic_load_n(&t->thread_id, __ATOMIC_SEQ_CST)) {
        g_usleep(10);
    }
    return true;
}

static void iothread_free(IOThread *t)
{
    if (t->state_entry) {
        vm_del_state_change_handler(t->state_entry);
    }
    g_array_free(t->pollers, TRUE);
    g_mutex_clear(&t->lock);
    if (t->ctx) {
        g_main_context_unref(t->ctx);
    }
    g_free(t->id);
    g_free(t);
}

static bool iothread_add(Opts *opts, GError **errp)
{
    const char *id = opts_get(opts, "id");
    IOThread *t;

    if (!id) {
        g_set_error(errp, VIREO_ERROR, 0, "Parameter 'id' is missing");
        return false;
    }
    if (!id_wellformed(id)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter 'id' expects an identifier\nIdentifiers "
                    "consist of letters, digits, '-', '.', '_', starting "
                    "with a letter.");
        return false;
    }
    t = g_new0(IOThread, 1);
    t->id = g_strdup(id);
    g_mutex_init(&t->lock);
    t->pollers = g_array_new(FALSE, FALSE, sizeof(IOThreadPoller));
    /* QEMU's thread pool sizes mean nothing here: the block layer's pool
     * is shared; accepted so that QEMU command lines work */
    opts_get(opts, "thread-pool-min");
    opts_get(opts, "thread-pool-max");
    if (!get_count(opts, "poll-max-ns", IOTHREAD_POLL_MAX_NS_DEFAULT,
                   &t->poll_max_ns, errp) ||
        !get_count(opts, "poll-grow", 0, &t->poll_grow, errp) ||
        !get_count(opts, "poll-shrink", 0, &t->poll_shrink, errp) ||
        !get_count(opts, "aio-max-batch", 0, &t->aio_max_batch, errp) ||
        !check_unused(opts, errp)) {
        iothread_free(t);
        return false;
    }
    if (iothread_find(id)) {
        g_set_error(errp, VIREO_ERROR, 0, "Duplicate ID '%s' for object",
                    id);
        iothread_free(t);
        return false;
    }
    if (!iothread_start(t, errp)) {
        iothread_free(t);
        return false;
    }
    t->next = iothreads;
    iothreads = t;
    return true;
}

bool user_object_add(const char *arg, GError **errp)
{
    Opts *opts = opts_parse(arg, "qom-type", errp);
    const char *type;
    bool ok = false;

    if (!opts) {
        g_prefix_error(errp, "-object %s: ", arg);
        return false;
    }
    type = opts_get(opts, "qom-type");
    if (!type) {
        g_set_error(errp, VIREO_ERROR, 0, "Parameter 'qom-type' is missing");
    } else if (strcmp(type, "iothread")) {
        /* QEMU's words; the list says what Vireo has */
        g_set_error(errp, VIREO_ERROR, 0,
                    "invalid object type: %s (Vireo supports: iothread)",
                    type);
    } else {
        ok = iothread_add(opts, errp);
    }
    if (!ok) {
        g_prefix_error(errp, "-object %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

void iothreads_stop_all(void)
{
    bool locked = bql_locked();

    for (IOThread *t = iothreads; t; t = t->next) {
        __atomic_store_n(&t->stopping, true, __ATOMIC_SEQ_CST);
        g_main_context_wakeup(t->ctx);
    }
    /* a handler may be waiting for the big lock */
    if (locked) {
        bql_unlock();
    }
    for (IOThread *t = iothreads; t; t = t->next) {
        if (t->thread_id) {
            pthread_join(t->thread, NULL);
            t->thread_id = 0;
        }
    }
    if (locked) {
        bql_lock();
    }
}

void iothreads_free_all(void)
{
    iothreads_stop_all();
    while (iothreads) {
        IOThread *t = iothreads;
        iothreads = t->next;
        iothread_free(t);
    }
}

/* --- QMP --- */

static json_t *qmp_query_iothreads(json_t *args, GError **errp)
{
    json_t *list = json_array();

    for (IOThread *t = iothreads; t; t = t->next) {
        json_array_append_new(list, json_pack(
            "{s:s,s:i,s:I,s:I,s:I,s:I}", "id", t->id,
            "thread-id", t->thread_id, "poll-max-ns",
            (json_int_t)t->poll_max_ns, "poll-grow",
            (json_int_t)t->poll_grow, "poll-shrink",
            (json_int_t)t->poll_shrink, "aio-max-batch",
            (json_int_t)t->aio_max_batch));
    }
    return list;
}
QMP_COMMAND("query-iothreads", qmp_query_iothreads)
