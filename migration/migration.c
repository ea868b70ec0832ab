/*
 * The outgoing side of a migration (QEMU's precopy): a thread sends the
 * header, then RAM in passes while the guest runs — each pass sends the
 * pages dirtied since the one before — until what is left would go in
 * downtime-limit at the measured bandwidth; then the main loop stops the
 * VM, drains and flushes the disks and saves the devices and vCPUs, and
 * the thread sends the last pages, the state and the end marker. Any
 * failure (or a cancel) before the destination confirms leaves the VM
 * running here as before.
 */
#include <string.h>

#include "block/block.h"
#include "migration/cpus.h"
#include "migration/migration.h"
#include "migration/vmstate.h"
#include "migration-priv.h"
#include "monitor/qmp.h"
#include "stream.h"
#include "system/memory.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

#define DEFAULT_DOWNTIME_LIMIT_MS   300
#define DEFAULT_MAX_BANDWIDTH       (128ull << 20)
#define MAX_DOWNTIME_LIMIT_MS       2000000ull   /* QEMU's bound */

typedef struct MigState {
    GMutex lock;                /* status, error, stats, chan */
    MigStatus status;
    char *error;
    gint64 start_us, setup_us, end_us;
    int64_t downtime_ms, expected_downtime_ms;
    uint64_t remaining, total, duplicate, normal, dirty_rate, syncs;
    uint64_t transferred;       /* once the channel is gone */
    double mbps;
    MigChannel *chan;

    uint64_t downtime_limit_ms;
    uint64_t max_bandwidth;

    GThread *thread;
    volatile bool cancel;
    MigUri uri;
    MigRam ram;
    bool logging;               /* migration's dirty client is on */
    /* stop-and-copy, filled on the main loop */
    RunState prev_state;
    bool stopped;
    gint64 stop_us;
    GByteArray *devices, *cpus;
    GError *save_err;
} MigState;

static MigState mig = {
    .downtime_limit_ms = DEFAULT_DOWNTIME_LIMIT_MS,
    .max_bandwidth = DEFAULT_MAX_BANDWIDTH,
};

/* ---- shared with incoming.c ---- */

const char *mig_status_name(MigStatus s)
{
    static const char *const names[] = {
        [MIG_STATUS_NONE] = "none", [MIG_STATUS_SETUP] = "setup",
        [MIG_STATUS_CANCELLING] = "cancelling",
        [MIG_STATUS_CANCELLED] = "cancelled",
        [MIG_STATUS_ACTIVE] = "active", [MIG_STATUS_COMPLETED] = "completed",
        [MIG_STATUS_FAILED] = "failed",
    };
    return names[s];
}

void mig_status_event(MigStatus s)
{
    qmp_event_send("MIGRATION", json_pack("{s:s}", "status",
                                          mig_status_name(s)));
}

typedef struct MainCall {
    void (*fn)(void *data);
    void *data;
    bool done, abandoned;
} MainCall;

static GMutex call_lock;
static GCond call_cond;
static bool main_gone;

static gboolean main_call_run(gpointer p)
{
    MainCall *c = p;
    bool abandoned;

    g_mutex_lock(&call_lock);
    abandoned = c->abandoned;
    g_mutex_unlock(&call_lock);
    if (!abandoned) {
        c->fn(c->data);
    }
    g_mutex_lock(&call_lock);
    if (c->abandoned) {
        g_free(c);      /* the thread gave up on it: ours to free */
    } else {
        c->done = true;
        g_cond_broadcast(&call_cond);
    }
    g_mutex_unlock(&call_lock);
    return G_SOURCE_REMOVE;
}

bool mig_run_on_main(void (*fn)(void *data), void *data)
{
    MainCall *c = g_new0(MainCall, 1);
    GSource *src;
    bool done;

    c->fn = fn;
    c->data = data;
    g_mutex_lock(&call_lock);
    if (main_gone) {
        g_mutex_unlock(&call_lock);
        g_free(c);
        return false;
    }
    /* an idle source, never g_main_context_invoke: that may run fn here,
     * without the big lock, when the main loop is between iterations */
    src = g_idle_source_new();
    g_source_set_callback(src, main_call_run, c, NULL);
    g_source_attach(src, NULL);
    g_source_unref(src);
    while (!c->done && !main_gone) {
        g_cond_wait(&call_cond, &call_lock);
    }
    done = c->done;
    if (done) {
        g_free(c);
    } else {
        c->abandoned = true;
    }
    g_mutex_unlock(&call_lock);
    return done;
}

void mig_main_shutdown(void)
{
    g_mutex_lock(&call_lock);
    main_gone = true;
    g_cond_broadcast(&call_cond);
    g_mutex_unlock(&call_lock);
}

/* ---- status ---- */

static void set_status_locked_main(MigStatus s)
{
    g_mutex_lock(&mig.lock);
    mig.status = s;
    g_mutex_unlock(&mig.lock);
    mig_status_event(s);
}

static void status_active_main(void *data)
{
    g_mutex_lock(&mig.lock);
    bool cancelling = mig.status == MIG_STATUS_CANCELLING;
    mig.setup_us = g_get_monotonic_time() - mig.start_us;
    g_mutex_unlock(&mig.lock);
    if (!cancelling) {
        set_status_locked_main(MIG_STATUS_ACTIVE);
    }
}

bool mig_outgoing_active(void)
{
    return mig.status == MIG_STATUS_SETUP ||
           mig.status == MIG_STATUS_ACTIVE ||
           mig.status == MIG_STATUS_CANCELLING;
}

/* ---- dirty tracking (big lock held) ---- */

static void logging_set(bool on)
{
    Machine *m = machine_current();

    if (mig.logging == on) {
        return;
    }
    /*
     * KVM re-registers the slots to change their logging: a vCPU in the
     * guest meanwhile would find its RAM gone for a moment. Park them.
     */
    bool was_running = m && vcpus_inspect_begin(m);
    memory_transaction_begin();
    for (guint i = 0; i < mig.ram.nblocks; i++) {
        memory_region_set_log_migration(mig.ram.blocks[i], on);
    }
    memory_transaction_commit();
    if (m) {
        vcpus_inspect_end(m, was_running);
    }
    mig.logging = on;
}

static uint64_t pending_pages(void)
{
    uint64_t n = 0;

    for (guint b = 0; b < mig.ram.nblocks; b++) {
        uint64_t words = (mig.ram.blocks[b]->size + MIG_PAGE_SIZE - 1) /
                         MIG_PAGE_SIZE / 64 + 1;
        for (uint64_t w = 0; w < words; w++) {
            n += __builtin_popcountll(mig.ram.bitmaps[b][w]);
        }
    }
    return n;
}

/* Moves what the guest dirtied into the send bitmaps; new pages count. */
static uint64_t ram_sync(void)
{
    uint64_t n = 0;

    for (guint b = 0; b < mig.ram.nblocks; b++) {
        n += memory_region_migration_sync(mig.ram.blocks[b],
                                          mig.ram.bitmaps[b]);
    }
    return n;
}

/* ---- stop and copy (main loop) ---- */

static void stop_and_save_main(void *data)
{
    Machine *m = machine_current();
    GError **errp = &mig.save_err;

    mig.stop_us = g_get_monotonic_time();
    mig.prev_state = runstate_get();
    if (runstate_is_running()) {
        vm_stop(m, RUN_STATE_FINISH_MIGRATE);
    } else {
        runstate_set(RUN_STATE_FINISH_MIGRATE);
    }
    mig.stopped = true;
    /* requests in flight finish here, their data lands in RAM before the
     * last sync, and the images hold every write the guest saw complete */
    if (!blk_drain_flush_all(errp)) {
        return;
    }
    /* QEMU's handover: the destination takes the images over once it has
     * the state, so from here on this side neither writes nor locks them */
    if (!blk_inactivate_all(errp)) {
        g_prefix_error(errp, "handing the disks over: ");
        return;
    }
    ram_sync();
    for (guint b = 0; b < mig.ram.nblocks; b++) {
        memory_region_migration_take_dma(mig.ram.blocks[b],
                                         mig.ram.bitmaps[b]);
    }
    mig.devices = g_byte_array_new();
    mig.cpus = g_byte_array_new();
    if (!vmstate_save_devices(m, mig.devices, errp) ||
        !cpus_state_save(m, mig.cpus, errp)) {
        g_prefix_error(errp, "saving the VM state: ");
    }
}

/* ---- the end (main loop) ---- */

static void free_buffers(void)
{
    g_clear_pointer(&mig.devices, g_byte_array_unref);
    g_clear_pointer(&mig.cpus, g_byte_array_unref);
}

static void finish_main(void *data)
{
    GError *err = data;
    gint64 now = g_get_monotonic_time();
    MigStatus s;

    logging_set(false);
    free_buffers();
    g_mutex_lock(&mig.lock);
    mig.end_us = now;
    if (mig.chan) {
        mig.transferred = mig.chan->bytes;
    }
    if (!err) {
        s = MIG_STATUS_COMPLETED;
        mig.downtime_ms = (now - mig.stop_us) / 1000;
        mig.remaining = 0;
    } else if (__atomic_load_n(&mig.cancel, __ATOMIC_RELAXED)) {
        s = MIG_STATUS_CANCELLED;
    } else {
        s = MIG_STATUS_FAILED;
        g_free(mig.error);
        mig.error = g_strdup(err->message);
    }
    g_mutex_unlock(&mig.lock);
    if (err && !__atomic_load_n(&mig.cancel, __ATOMIC_RELAXED)) {
        log_error("migration failed: %s", err->message);
    }
    if (!err) {
        runstate_set(RUN_STATE_POSTMIGRATE);
    } else if (mig.stopped) {
        /* nothing left here: the VM goes on as it was, its disks its own
         * again (the destination let go of them when it failed) */
        g_autoptr(GError) act_err = NULL;
        if (!blk_activate_all(&act_err)) {
            log_error("taking the disks back: %s", act_err->message);
        }
        if (mig.prev_state == RUN_STATE_RUNNING) {
            runstate_set(RUN_STATE_PAUSED);
            vm_start(machine_current(), NULL);
        } else {
            runstate_set(mig.prev_state);
        }
    }
    mig.stopped = false;
    set_status_locked_main(s);
}

/* ---- the thread ---- */

static void update_stats(uint64_t pending, MigRamCounts *counts)
{
    g_mutex_lock(&mig.lock);
    mig.remaining = pending * MIG_PAGE_SIZE;
    mig.duplicate = counts->zero;
    mig.normal = counts->normal;
    g_mutex_unlock(&mig.lock);
}

static void logging_on_main(void *data)
{
    logging_set(true);
}

/* Passes go on while each cuts what is left by a quarter or more, even
 * once the rest fits downtime-limit: a shorter stop for a few more short
 * passes. */
#define MAX_EXTRA_PASSES 1

/* Sends RAM in passes until the rest fits downtime-limit. */
static bool ram_iterate(MigChannel *c, MigRamCounts *counts, GError **errp)
{
    double bw = 0;     /* bytes per ms, measured */
    uint64_t prev = UINT64_MAX;
    unsigned extra = 0;

    if (!mig_run_on_main(logging_on_main, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "shutting down");
        return false;
    }
    for (uint64_t pass = 0;; pass++) {
        bql_lock();
        uint64_t fresh = ram_sync();
        bql_unlock();
        uint64_t pending = pending_pages();
        update_stats(pending, counts);
        g_mutex_lock(&mig.lock);
        mig.syncs++;
        uint64_t limit = mig.downtime_limit_ms;
        c->max_bandwidth = mig.max_bandwidth;
        if (bw > 0) {
            mig.expected_downtime_ms = pending * MIG_PAGE_SIZE / bw;
        }
        g_mutex_unlock(&mig.lock);
        bool fits = pending * MIG_PAGE_SIZE <= bw * limit;
        bool shrinking = pending <= prev / 4 * 3 &&
                         extra < MAX_EXTRA_PASSES;
        if (pass > 0 && (!runstate_is_running() || !pending ||
                         (fits && !shrinking))) {
            return true;
        }
        extra += fits;
        prev = pending;
        gint64 t0 = g_get_monotonic_time();
        uint64_t b0 = c->bytes;
        if (!mig_ram_send_dirty(c, &mig.ram, counts, errp) ||
            !mig_flush(c, errp)) {
            return false;
        }
        double ms = MAX((g_get_monotonic_time() - t0) / 1000.0, 1.0);
        bw = (c->bytes - b0) / ms;
        g_mutex_lock(&mig.lock);
        mig.mbps = bw * 8 * 1000 / 1e6;
        if (pass > 0) {
            mig.dirty_rate = fresh * 1000 / ms;
        }
        g_mutex_unlock(&mig.lock);
    }
}

/* Stops the VM, then sends the rest; the destination confirms if it can. */
static bool stop_and_copy(MigChannel *c, MigRamCounts *counts,
                          GError **errp)
{
    if (!mig_run_on_main(stop_and_save_main, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "shutting down");
        return false;
    }
    if (mig.save_err) {
        g_propagate_error(errp, g_steal_pointer(&mig.save_err));
        return false;
    }
    update_stats(pending_pages(), counts);
    /* max-bandwidth spares the host while the guest runs; stopped, every
     * millisecond is downtime, so the rest goes at full speed (as QEMU) */
    c->max_bandwidth = 0;
    if (!mig_stream_finish(c, &mig.ram, counts, mig.devices, mig.cpus,
                           errp)) {
        return false;
    }
    update_stats(0, counts);
    return true;
}

/* The destination's answer on the return path: false with its reason. */
static bool await_reply(MigChannel *c, const char *what, GError **errp)
{
    g_autofree char *msg = NULL;
    bool ok;

    if (c->ret_fd < 0) {
        return true;
    }
    if (!mig_reply_recv(c, &ok, &msg, errp)) {
        return false;
    }
    if (!ok) {
        g_set_error(errp, VIREO_ERROR, 0, "the destination refused %s: %s",
                    what, msg);
    }
    return ok;
}

static bool migrate_run(GError **errp)
{
    Machine *m = machine_current();
    MigRamCounts counts = { 0 };
    MigChannel *c = mig_channel_connect(&mig.uri, &mig.cancel, errp);

    if (!c) {
        return false;
    }
    c->cancel = &mig.cancel;
    g_mutex_lock(&mig.lock);
    mig.chan = c;
    g_mutex_unlock(&mig.lock);
    if (__atomic_load_n(&mig.cancel, __ATOMIC_RELAXED)) {
        mig_channel_abort(c);
    }
    return mig_header_write(c, m, &mig.ram,
                            c->ret_fd >= 0 ? MIG_FLAG_RETURN_PATH : 0,
                            errp) &&
           mig_flush(c, errp) && await_reply(c, "the VM", errp) &&
           mig_run_on_main(status_active_main, NULL) &&
           ram_iterate(c, &counts, errp) &&
           stop_and_copy(c, &counts, errp) &&
           await_reply(c, "the VM state", errp);
}

static gpointer migration_thread(gpointer data)
{
    GError *err = NULL;
    bool ok = migrate_run(&err);

    if (!ok && !err) {
        g_set_error(&err, VIREO_ERROR, 0, "shutting down");
    }
    if (__atomic_load_n(&mig.cancel, __ATOMIC_RELAXED) && err) {
        g_clear_error(&err);
        g_set_error(&err, VIREO_ERROR, 0, "cancelled");
    }
    mig_run_on_main(finish_main, err);
    g_mutex_lock(&mig.lock);
    mig_channel_free(mig.chan);
    mig.chan = NULL;
    g_mutex_unlock(&mig.lock);
    if (err) {
        g_error_free(err);
    }
    return NULL;
}

/* ---- QMP ---- */

static json_t *qmp_migrate(json_t *args, GError **errp)
{
    const char *uri = json_string_value(json_object_get(args, "uri"));
    Machine *m = machine_current();

    if (json_is_true(json_object_get(args, "blk")) ||
        json_is_true(json_object_get(args, "inc"))) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "block migration "
                    "is not supported: use shared storage");
        return NULL;
    }
    if (json_is_true(json_object_get(args, "resume"))) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "resuming a postcopy migration is not supported");
        return NULL;
    }
    if (!m || mig_incoming_active() ||
        runstate_get() == RUN_STATE_INMIGRATE) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "the VM is waiting "
                    "for an incoming migration; it cannot migrate away");
        return NULL;
    }
    if (mig_outgoing_active()) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "There's a migration process in progress");
        return NULL;
    }
    MigUri u;
    if (!mig_uri_parse(uri, &u, errp)) {
        return NULL;
    }
    if (mig.thread) {
        /* the last one ended (its status says so): collect it */
        bql_unlock();
        g_thread_join(mig.thread);
        bql_lock();
        mig.thread = NULL;
    }
    mig_uri_clear(&mig.uri);
    mig.uri = u;
    mig_ram_clear(&mig.ram);
    mig_ram_init(&mig.ram);
    g_mutex_lock(&mig.lock);
    g_clear_pointer(&mig.error, g_free);
    mig.cancel = false;
    mig.start_us = g_get_monotonic_time();
    mig.setup_us = mig.end_us = 0;
    mig.downtime_ms = mig.expected_downtime_ms = 0;
    mig.duplicate = mig.normal = mig.dirty_rate = mig.syncs = 0;
    mig.transferred = 0;
    mig.mbps = 0;
    mig.total = mig_ram_total_bytes(&mig.ram);
    mig.remaining = mig.total;
    g_mutex_unlock(&mig.lock);
    set_status_locked_main(MIG_STATUS_SETUP);
    mig.thread = g_thread_new("migration", migration_thread, NULL);
    return json_object();
}
QMP_COMMAND("migrate", qmp_migrate)

static json_t *qmp_migrate_cancel(json_t *args, GError **errp)
{
    g_mutex_lock(&mig.lock);
    bool active = mig.status == MIG_STATUS_SETUP ||
                  mig.status == MIG_STATUS_ACTIVE;
    if (active) {
        __atomic_store_n(&mig.cancel, true, __ATOMIC_RELAXED);
        if (mig.chan) {
            mig_channel_abort(mig.chan);
        }
    }
    g_mutex_unlock(&mig.lock);
    if (active) {
        set_status_locked_main(MIG_STATUS_CANCELLING);
    }
    return json_object();
}
QMP_COMMAND("migrate_cancel", qmp_migrate_cancel)

static json_t *ram_info(void)
{
    uint64_t transferred = mig.chan ? __atomic_load_n(&mig.chan->bytes,
                                                     __ATOMIC_RELAXED)
                                   : mig.transferred;
    gint64 span = (mig.end_us ? mig.end_us : g_get_monotonic_time()) -
                  mig.start_us;
    json_t *o = json_object();

    json_object_set_new(o, "transferred", json_integer(transferred));
    json_object_set_new(o, "remaining", json_integer(mig.remaining));
    json_object_set_new(o, "total", json_integer(mig.total));
    json_object_set_new(o, "duplicate", json_integer(mig.duplicate));
    json_object_set_new(o, "skipped", json_integer(0));
    json_object_set_new(o, "normal", json_integer(mig.normal));
    json_object_set_new(o, "normal-bytes",
                        json_integer(mig.normal * MIG_PAGE_SIZE));
    json_object_set_new(o, "dirty-pages-rate", json_integer(mig.dirty_rate));
    json_object_set_new(o, "mbps", json_real(mig.mbps));
    json_object_set_new(o, "dirty-sync-count", json_integer(mig.syncs));
    json_object_set_new(o, "postcopy-requests", json_integer(0));
    json_object_set_new(o, "page-size", json_integer(MIG_PAGE_SIZE));
    json_object_set_new(o, "multifd-bytes", json_integer(0));
    json_object_set_new(o, "pages-per-second", json_integer(
        span > 0 ? (mig.normal + mig.duplicate) * G_USEC_PER_SEC / span : 0));
    json_object_set_new(o, "precopy-bytes", json_integer(transferred));
    json_object_set_new(o, "downtime-bytes", json_integer(0));
    json_object_set_new(o, "postcopy-bytes", json_integer(0));
    json_object_set_new(o, "dirty-sync-missed-zero-copy", json_integer(0));
    return o;
}

static json_t *qmp_query_migrate(json_t *args, GError **errp)
{
    json_t *o;

    if (mig_incoming_active() || mig.status == MIG_STATUS_NONE) {
        return mig_incoming_info();
    }
    o = json_object();
    g_mutex_lock(&mig.lock);
    json_object_set_new(o, "status",
                        json_string(mig_status_name(mig.status)));
    if (mig.status == MIG_STATUS_FAILED && mig.error) {
        json_object_set_new(o, "error-desc", json_string(mig.error));
    }
    if (mig.status == MIG_STATUS_ACTIVE || mig.status == MIG_STATUS_SETUP ||
        mig.status == MIG_STATUS_COMPLETED ||
        mig.status == MIG_STATUS_CANCELLING) {
        gint64 end = mig.end_us ? mig.end_us : g_get_monotonic_time();
        json_object_set_new(o, "total-time",
                            json_integer((end - mig.start_us) / 1000));
        json_object_set_new(o, "setup-time",
                            json_integer(mig.setup_us / 1000));
        json_object_set_new(o, "ram", ram_info());
        if (mig.status == MIG_STATUS_COMPLETED) {
            json_object_set_new(o, "downtime",
                                json_integer(mig.downtime_ms));
        } else {
            json_object_set_new(o, "expected-downtime",
                                json_integer(mig.expected_downtime_ms));
        }
    }
    g_mutex_unlock(&mig.lock);
    return o;
}
QMP_COMMAND("query-migrate", qmp_query_migrate)

static json_t *qmp_migrate_set_parameters(json_t *args, GError **errp)
{
    json_t *dl = json_object_get(args, "downtime-limit");
    json_t *bw = json_object_get(args, "max-bandwidth");

    if (dl && (uint64_t)json_integer_value(dl) > MAX_DOWNTIME_LIMIT_MS) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "Parameter "
                    "'downtime_limit' expects an integer in the range of 0 "
                    "to %llu milliseconds", MAX_DOWNTIME_LIMIT_MS);
        return NULL;
    }
    g_mutex_lock(&mig.lock);
    if (dl) {
        mig.downtime_limit_ms = json_integer_value(dl);
    }
    if (bw) {
        mig.max_bandwidth = json_integer_value(bw);
    }
    g_mutex_unlock(&mig.lock);
    return json_object();
}
QMP_COMMAND("migrate-set-parameters", qmp_migrate_set_parameters)

static json_t *qmp_query_migrate_parameters(json_t *args, GError **errp)
{
    return json_pack("{s:I,s:I}", "downtime-limit",
                     (json_int_t)mig.downtime_limit_ms, "max-bandwidth",
                     (json_int_t)mig.max_bandwidth);
}
QMP_COMMAND("query-migrate-parameters", qmp_query_migrate_parameters)

static json_t *qmp_migrate_incoming(json_t *args, GError **errp)
{
    const char *uri = json_string_value(json_object_get(args, "uri"));

    return mig_incoming_start(uri, errp) ? json_object() : NULL;
}
QMP_COMMAND("migrate-incoming", qmp_migrate_incoming)

/* ---- exit ---- */

void migration_shutdown(void)
{
    mig_main_shutdown();
    g_mutex_lock(&mig.lock);
    __atomic_store_n(&mig.cancel, true, __ATOMIC_RELAXED);
    if (mig.chan) {
        mig_channel_abort(mig.chan);
    }
    g_mutex_unlock(&mig.lock);
    mig_incoming_shutdown();
    if (mig.thread) {
        bql_unlock();
        g_thread_join(mig.thread);
        bql_lock();
        mig.thread = NULL;
    }
    if (mig.logging) {
        logging_set(false);
    }
    free_buffers();
    mig_ram_clear(&mig.ram);
    mig_uri_clear(&mig.uri);
}
