/*
 * The incoming side of a migration: a thread accepts the source (or reads
 * the file, or the command's output), checks the header against this VM,
 * writes RAM pages straight into guest memory (no vCPU runs meanwhile),
 * keeps the device and vCPU sections, and after the end marker's CRC
 * matched loads them on the main loop and starts the VM. Anything wrong
 * fails the whole load: the VM never runs half-loaded.
 */
#include <string.h>

#include "block/block.h"
#include "migration/cpus.h"
#include "migration/migration.h"
#include "migration/vmstate.h"
#include "migration-priv.h"
#include "monitor/qmp.h"
#include "stream.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

typedef struct Incoming {
    MigStatus status;           /* main loop only */
    char *error;
    bool started;               /* migrate-incoming or -incoming URI ran */
    bool deferred;              /* -incoming defer: failures don't exit */
    bool autostart;
    GThread *thread;
    MigListener *listener;
    MigChannel *chan;
    GMutex lock;                /* listener, chan against shutdown */
    volatile bool cancel;
    MigRam ram;
    GByteArray *devices, *cpus;
    GError *load_err;
} Incoming;

static Incoming inc = { .autostart = true };

bool mig_incoming_active(void)
{
    return inc.status == MIG_STATUS_SETUP || inc.status == MIG_STATUS_ACTIVE;
}

json_t *mig_incoming_info(void)
{
    json_t *o = json_object();

    if (inc.status != MIG_STATUS_NONE) {
        json_object_set_new(o, "status",
                            json_string(mig_status_name(inc.status)));
    }
    if (inc.status == MIG_STATUS_FAILED && inc.error) {
        json_object_set_new(o, "error-desc", json_string(inc.error));
    }
    return o;
}

static void set_status(MigStatus s)
{
    inc.status = s;
    mig_status_event(s);
}

static void status_active_main(void *data)
{
    set_status(MIG_STATUS_ACTIVE);
}

/* ---- the end (main loop) ---- */

/*
 * Loads the sections into the vCPUs and devices: the point of no return.
 * The vCPU section first: it restores the virtual clock, from which the
 * devices' post_load re-arms their timers.
 */
static void load_state_main(void *data)
{
    Machine *m = machine_current();
    GError **errp = &inc.load_err;

    if (cpus_state_load(m, inc.cpus->data, inc.cpus->len, errp) &&
        vmstate_load_devices(m, inc.devices->data, inc.devices->len,
                             errp) &&
        !blk_activate_all(errp)) {
        /* the source inactivated its disks before sending the state; it
         * takes them back when it hears this failed */
        g_prefix_error(errp, "taking the disks over: ");
    }
}

static void finish_main(void *data)
{
    GError *err = data;
    Machine *m = machine_current();

    g_clear_pointer(&inc.devices, g_byte_array_unref);
    g_clear_pointer(&inc.cpus, g_byte_array_unref);
    if (err) {
        g_free(inc.error);
        inc.error = g_strdup(err->message);
        log_error("incoming migration failed: %s", err->message);
        set_status(MIG_STATUS_FAILED);
        if (!inc.deferred) {
            /* QEMU: a destination that cannot load exits non-zero */
            vm_request_shutdown(SHUTDOWN_HOST_ERROR, 1);
        }
        return;
    }
    set_status(MIG_STATUS_COMPLETED);
    runstate_set(RUN_STATE_PAUSED);
    if (inc.autostart) {
        g_autoptr(GError) start_err = NULL;
        if (!vm_start(m, &start_err)) {
            log_error("starting the migrated VM: %s", start_err->message);
        }
    }
}

/* ---- the thread ---- */

static bool reply(MigChannel *c, bool want, bool ok, const char *msg)
{
    g_autoptr(GError) err = NULL;

    if (!want) {
        return true;
    }
    if (!mig_reply_send(c, ok, msg, &err)) {
        log_warn("incoming migration: cannot answer the source: %s",
                 err->message);
        return false;
    }
    return true;
}

static bool incoming_run(GError **errp)
{
    Machine *m = machine_current();
    uint32_t flags = 0;
    MigChannel *c = mig_listener_accept(inc.listener, errp);

    if (!c) {
        return false;
    }
    c->cancel = &inc.cancel;
    g_mutex_lock(&inc.lock);
    inc.chan = c;
    g_mutex_unlock(&inc.lock);
    if (!mig_header_read(c, m, &inc.ram, &flags, errp)) {
        /* a source that waits for our verdict learns why */
        reply(c, c->ret_fd >= 0, false, (*errp)->message);
        g_prefix_error(errp, "refusing the migration: ");
        return false;
    }
    bool want_reply = (flags & MIG_FLAG_RETURN_PATH) && c->ret_fd >= 0;
    if (!reply(c, want_reply, true, "") ||
        !mig_run_on_main(status_active_main, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "the source went away");
        return false;
    }
    if (!mig_read_records(c, &inc.ram, &inc.devices, &inc.cpus, errp)) {
        /* the source reads it once it finished writing, if it still can */
        reply(c, want_reply, false, (*errp)->message);
        return false;
    }
    if (!mig_run_on_main(load_state_main, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "shutting down");
        return false;
    }
    if (inc.load_err) {
        reply(c, want_reply, false, inc.load_err->message);
        g_propagate_error(errp, g_steal_pointer(&inc.load_err));
        return false;
    }
    /* the source stays stopped until it hears this */
    if (!reply(c, want_reply, true, "")) {
        g_set_error(errp, VIREO_ERROR, 0, "the source went away before "
                    "the VM could be handed over");
        return false;
    }
    return true;
}

static gpointer incoming_thread(gpointer data)
{
    GError *err = NULL;

    if (!incoming_run(&err) && !err) {
        g_set_error(&err, VIREO_ERROR, 0, "shutting down");
    }
    mig_run_on_main(finish_main, err);
    g_mutex_lock(&inc.lock);
    mig_channel_free(inc.chan);
    inc.chan = NULL;
    mig_listener_free(inc.listener);
    inc.listener = NULL;
    g_mutex_unlock(&inc.lock);
    if (err) {
        g_error_free(err);
    }
    return NULL;
}

bool mig_incoming_start(const char *uri, GError **errp)
{
    MigUri u;

    if (runstate_get() != RUN_STATE_INMIGRATE) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "'-incoming' was not specified on the command line");
        return false;
    }
    if (inc.started) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "The incoming migration has already been started");
        return false;
    }
    if (!mig_uri_parse(uri, &u, errp)) {
        return false;
    }
    inc.listener = mig_listener_new(&u, errp);
    mig_uri_clear(&u);
    if (!inc.listener) {
        return false;
    }
    inc.started = true;
    mig_ram_init(&inc.ram);
    set_status(MIG_STATUS_SETUP);
    inc.thread = g_thread_new("migration-in", incoming_thread, NULL);
    return true;
}

bool migration_incoming_setup(const char *uri, bool autostart,
                              GError **errp)
{
    inc.autostart = autostart;
    runstate_set(RUN_STATE_INMIGRATE);
    if (!strcmp(uri, "defer")) {
        inc.deferred = true;
        return true;
    }
    if (!mig_incoming_start(uri, errp)) {
        g_prefix_error(errp, "-incoming %s: ", uri);
        return false;
    }
    return true;
}

void mig_incoming_shutdown(void)
{
    __atomic_store_n(&inc.cancel, true, __ATOMIC_RELAXED);
    g_mutex_lock(&inc.lock);
    if (inc.listener) {
        mig_listener_abort(inc.listener);
    }
    if (inc.chan) {
        mig_channel_abort(inc.chan);
    }
    g_mutex_unlock(&inc.lock);
    if (inc.thread) {
        bql_unlock();
        g_thread_join(inc.thread);
        bql_lock();
        inc.thread = NULL;
    }
    mig_ram_clear(&inc.ram);
}
