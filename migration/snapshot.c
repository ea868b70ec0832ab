/*
 * savevm, loadvm, delvm, info snapshots, -loadvm and QMP's snapshot-save,
 * snapshot-load and snapshot-delete jobs (include/migration/snapshot.h).
 *
 * The VM state is the migration stream (docs/migration.md) with all of RAM,
 * written into the VM-state area of one qcow2 image before the internal
 * snapshots are taken, so the snapshot of that image keeps it. The VM is
 * stopped and its disks drained and flushed meanwhile: the disks and the
 * state show the same moment.
 */
#include <string.h>

#include "block/block.h"
#include "migration/cpus.h"
#include "migration/snapshot.h"
#include "migration/vmstate.h"
#include "migration-priv.h"
#include "monitor/qmp.h"
#include "stream.h"
#include "system/job.h"
#include "system/memory.h"
#include "system/timer.h"
#include "system/vm.h"
#include "util/opts.h"

/* The disks a command works on: vmstate keeps the VM state (NULL when
 * the command needs none). */
typedef struct SnapDisks {
    GPtrArray *blks;
    BlockBackend *vmstate;
} SnapDisks;

static void disks_clear(SnapDisks *d)
{
    if (d->blks) {
        g_ptr_array_free(d->blks, TRUE);
    }
    memset(d, 0, sizeof(*d));
}

static bool usable_now(GError **errp)
{
    if (runstate_get() == RUN_STATE_INMIGRATE || mig_incoming_active() ||
        mig_outgoing_active()) {
        g_set_error(errp, VIREO_ERROR, 0, "a migration is in progress");
        return false;
    }
    if (blk_any_inactive()) {
        /* after a migration away, the destination owns the images */
        g_set_error(errp, VIREO_ERROR, 0, "the disks are not active in this "
                    "process (migrated away; 'cont' takes them back)");
        return false;
    }
    return machine_current() != NULL;
}

/* QEMU's rules without a device list: every writable disk must take a
 * snapshot; the first that can keeps the VM state. */
static bool disks_all(SnapDisks *d, GError **errp)
{
    d->blks = g_ptr_array_new();
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (!blk_is_inserted(blk) || blk_is_read_only(blk)) {
            continue;
        }
        if (!blk_can_snapshot(blk)) {
            g_set_error(errp, VIREO_ERROR, 0, "Device '%s' is writable but "
                        "does not support snapshots", blk_name(blk));
            return false;
        }
        g_ptr_array_add(d->blks, blk);
    }
    if (!d->blks->len) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "no block device can store vmstate for snapshot");
        return false;
    }
    d->vmstate = d->blks->pdata[0];
    return true;
}

static BlockBackend *find_disk(const char *name, GError **errp)
{
    BlockBackend *blk = blk_find(name);

    if (!blk || !blk_is_inserted(blk)) {
        g_set_error(errp, VIREO_ERROR, 0, "No block device node '%s'", name);
        return NULL;
    }
    if (!blk_can_snapshot(blk)) {
        g_set_error(errp, VIREO_ERROR, 0, "Device '%s' is writable but does "
                    "not support snapshots", name);
        return NULL;
    }
    return blk;
}

/* QMP's explicit lists: vmstate (if asked for) must be one of devices. */
static bool disks_named(SnapDisks *d, const char *vmstate,
                        const char *const *devices, GError **errp)
{
    d->blks = g_ptr_array_new();
    for (const char *const *p = devices; *p; p++) {
        BlockBackend *blk = find_disk(*p, errp);
        if (!blk) {
            return false;
        }
        g_ptr_array_add(d->blks, blk);
    }
    if (vmstate) {
        d->vmstate = find_disk(vmstate, errp);
        if (!d->vmstate) {
            return false;
        }
        if (!g_ptr_array_find(d->blks, d->vmstate, NULL)) {
            g_set_error(errp, VIREO_ERROR, 0, "vmstate block device '%s' "
                        "does not belong to the snapshot device list",
                        vmstate);
            return false;
        }
    }
    return true;
}

/* need_vmstate: QMP's device list comes with the disk for the state */
static bool disks_get(SnapDisks *d, const char *vmstate,
                      const char *const *devices, bool need_vmstate,
                      GError **errp)
{
    if (devices && need_vmstate && !vmstate) {
        g_set_error(errp, VIREO_ERROR, 0, "a device list needs the vmstate "
                    "device");
        return false;
    }
    if (!usable_now(errp) ||
        !(devices ? disks_named(d, vmstate, devices, errp)
                  : disks_all(d, errp))) {
        disks_clear(d);
        return false;
    }
    return true;
}

static bool has_snapshot(BlockBackend *blk, const char *name,
                         BdrvSnapshotInfo *out)
{
    BdrvSnapshotInfo sn;

    if (!blk_snapshot_find(blk, name, &sn)) {
        return false;
    }
    if (out) {
        *out = sn;
    } else {
        bdrv_snapshot_info_free(&sn);
    }
    return true;
}

/* ---- the VM state in the image ---- */

static int vmstate_rw(void *opaque, bool is_write, uint64_t pos, void *buf,
                      size_t n)
{
    return blk_vmstate_rw(opaque, is_write, buf, pos, n);
}

static bool vmstate_save(BlockBackend *blk, uint64_t *size, GError **errp)
{
    Machine *m = machine_current();
    g_autoptr(GByteArray) devices = g_byte_array_new();
    g_autoptr(GByteArray) cpus = g_byte_array_new();
    MigRamCounts counts = { 0 };
    MigRam r;

    if (!vmstate_save_devices(m, devices, errp) ||
        !cpus_state_save(m, cpus, errp)) {
        return false;
    }
    mig_ram_init(&r);
    mig_ram_mark_all(&r);
    MigChannel *c = mig_channel_new_rw(vmstate_rw, blk, 0);
    bool ok = mig_header_write(c, m, &r, 0, errp) &&
              mig_stream_finish(c, &r, &counts, devices, cpus, errp);
    *size = c->bytes;
    mig_channel_free(c);
    mig_ram_clear(&r);
    return ok;
}

static bool vmstate_load(BlockBackend *blk, uint64_t size, GError **errp)
{
    Machine *m = machine_current();
    GByteArray *devices = NULL, *cpus = NULL;
    uint32_t flags;
    MigRam r;

    mig_ram_init(&r);
    MigChannel *c = mig_channel_new_rw(vmstate_rw, blk, size);
    /* the vCPU section first: it restores the clock the devices' timers
     * are re-armed from */
    bool ok = mig_header_read(c, m, &r, &flags, errp) &&
              mig_read_records(c, &r, &devices, &cpus, errp) &&
              cpus_state_load(m, cpus->data, cpus->len, errp) &&
              vmstate_load_devices(m, devices->data, devices->len, errp);
    if (ok) {
        /* all of RAM changed under the dirty-page clients (display) */
        for (guint i = 0; i < r.nblocks; i++) {
            memory_region_set_dirty(r.blocks[i], 0, r.blocks[i]->size);
        }
    }
    mig_channel_free(c);
    mig_ram_clear(&r);
    if (devices) {
        g_byte_array_unref(devices);
    }
    if (cpus) {
        g_byte_array_unref(cpus);
    }
    return ok;
}

/* ---- the operations ---- */

static bool delete_on(SnapDisks *d, const char *name, GError **errp)
{
    for (guint i = 0; i < d->blks->len; i++) {
        BlockBackend *blk = d->blks->pdata[i];
        while (has_snapshot(blk, name, NULL)) {
            if (!blk_snapshot_delete(blk, name, errp)) {
                g_prefix_error(errp, "Error while deleting snapshot on "
                               "device '%s': ", blk_name(blk));
                return false;
            }
        }
    }
    return true;
}

/* The snapshots of one savevm, or none of them. */
static bool create_on(SnapDisks *d, const char *name, uint64_t vm_size,
                      GError **errp)
{
    BdrvSnapshotInfo sn = {
        .name = (char *)name,
        .vm_clock_nsec = clock_get_ns(CLK_VIRTUAL),
        .icount = -1,
    };

    for (guint i = 0; i < d->blks->len; i++) {
        BlockBackend *blk = d->blks->pdata[i];
        sn.vm_state_size = blk == d->vmstate ? vm_size : 0;
        if (!blk_snapshot_create(blk, &sn, errp)) {
            g_prefix_error(errp, "Error while creating snapshot on '%s': ",
                           blk_name(blk));
            while (i-- > 0) {
                blk_snapshot_delete(d->blks->pdata[i], name, NULL);
            }
            return false;
        }
    }
    return true;
}

static bool save_stopped(SnapDisks *d, const char *name, bool overwrite,
                         GError **errp)
{
    uint64_t vm_size;

    if (!overwrite) {
        for (guint i = 0; i < d->blks->len; i++) {
            if (has_snapshot(d->blks->pdata[i], name, NULL)) {
                g_set_error(errp, VIREO_ERROR, 0, "Snapshot '%s' already "
                            "exists in one or more devices", name);
                return false;
            }
        }
    }
    if (!blk_drain_flush_all(errp) ||
        (overwrite && !delete_on(d, name, errp))) {
        return false;
    }
    if (!vmstate_save(d->vmstate, &vm_size, errp)) {
        g_prefix_error(errp, "Error while writing VM state: ");
        return false;
    }
    return create_on(d, name, vm_size, errp);
}

bool snapshot_save(const char *name, bool overwrite, const char *vmstate,
                   const char *const *devices, GError **errp)
{
    SnapDisks d = { 0 };

    if (!disks_get(&d, vmstate, devices, true, errp)) {
        return false;
    }
    Machine *m = machine_current();
    bool was_running = runstate_is_running();
    vm_stop(m, RUN_STATE_SAVE_VM);
    bool ok = save_stopped(&d, name, overwrite, errp);
    if (was_running) {
        vm_start(m, NULL);
    }
    disks_clear(&d);
    return ok;
}

bool snapshot_load(const char *name, const char *vmstate,
                   const char *const *devices, GError **errp)
{
    SnapDisks d = { 0 };
    BdrvSnapshotInfo sn = { 0 };
    Machine *m = machine_current();
    bool ok = false;

    if (!disks_get(&d, vmstate, devices, true, errp)) {
        return false;
    }
    for (guint i = 0; i < d.blks->len; i++) {
        if (!has_snapshot(d.blks->pdata[i], name, NULL)) {
            g_set_error(errp, VIREO_ERROR, 0, "Snapshot '%s' does not exist "
                        "in one or more devices", name);
            goto out;
        }
    }
    has_snapshot(d.vmstate, name, &sn);
    if (!sn.vm_state_size) {
        g_set_error(errp, VIREO_ERROR, 0, "This is a disk-only snapshot. "
                    "Revert to it offline using qemu-img");
        goto out;
    }
    RunState prev = runstate_get();
    vm_stop(m, RUN_STATE_RESTORE_VM);
    if (!blk_drain_flush_all(errp)) {
        goto resume;    /* nothing changed yet */
    }
    runstate_set(RUN_STATE_RESTORE_VM);
    for (guint i = 0; i < d.blks->len; i++) {
        BlockBackend *blk = d.blks->pdata[i];
        if (!blk_snapshot_goto(blk, name, errp)) {
            g_prefix_error(errp, "Could not load snapshot '%s' on '%s': ",
                           name, blk_name(blk));
            goto out;
        }
    }
    /* devices the stream leaves alone start from their reset state, as
     * on a migration's destination */
    if (!machine_reset(m, errp) ||
        !vmstate_load(d.vmstate, sn.vm_state_size, errp)) {
        g_prefix_error(errp, "Error while loading VM state: ");
        goto out;
    }
    ok = true;
    /* a loaded VM is neither shut down nor crashed: it may run */
    runstate_set(prev == RUN_STATE_PRELAUNCH ? prev : RUN_STATE_PAUSED);
resume:
    if (prev == RUN_STATE_RUNNING) {
        vm_start(m, NULL);
    } else if (!ok) {
        runstate_set(prev);
    }
out:
    bdrv_snapshot_info_free(&sn);
    disks_clear(&d);
    return ok;
}

bool snapshot_delete(const char *name, const char *const *devices,
                     GError **errp)
{
    SnapDisks d = { 0 };

    if (!disks_get(&d, NULL, devices, false, errp)) {
        return false;
    }
    bool ok = delete_on(&d, name, errp);
    disks_clear(&d);
    return ok;
}

/* ---- info snapshots (QEMU's layout) ---- */

static bool on_all(SnapDisks *d, const char *name)
{
    for (guint i = 0; i < d->blks->len; i++) {
        if (!has_snapshot(d->blks->pdata[i], name, NULL)) {
            return false;
        }
    }
    return true;
}

void snapshot_info(GString *out)
{
    g_autoptr(GError) err = NULL;
    SnapDisks d = { 0 };
    BdrvSnapshotInfo *sns;
    int total = 0;

    if (!disks_get(&d, NULL, NULL, false, &err)) {
        g_string_append_printf(out, "%s\n", err->message);
        return;
    }
    for (guint i = 0; i < d.blks->len; i++) {
        int n = blk_snapshot_list(d.blks->pdata[i], &sns);
        for (int j = 0; j < n; j++) {
            bdrv_snapshot_info_free(&sns[j]);
        }
        g_free(sns);
        total += n;
    }
    if (!total) {
        g_string_append(out, "There is no snapshot available.\n");
        disks_clear(&d);
        return;
    }

    GString *partial = g_string_new(NULL);
    bool any = false;
    g_string_append(out, "List of snapshots present on all disks:\n"
                    BDRV_SNAPSHOT_HEADER);
    for (guint i = 0; i < d.blks->len; i++) {
        BlockBackend *blk = d.blks->pdata[i];
        int n = blk_snapshot_list(blk, &sns);
        bool titled = false;
        for (int j = 0; j < n; j++) {
            g_autofree char *row = NULL;
            if (!on_all(&d, sns[j].name)) {
                if (!titled) {
                    g_string_append_printf(partial, "\nList of partial "
                                           "(non-loadable) snapshots on "
                                           "'%s':\n" BDRV_SNAPSHOT_HEADER,
                                           blk_name(blk));
                    titled = true;
                }
                row = bdrv_snapshot_row(&sns[j], sns[j].id);
                g_string_append(partial, row);
            } else if (blk == d.vmstate) {
                row = bdrv_snapshot_row(&sns[j], "--");
                g_string_append(out, row);
                any = true;
            }
            bdrv_snapshot_info_free(&sns[j]);
        }
        g_free(sns);
    }
    if (!any) {
        g_string_append(out, "None\n");
    }
    g_string_append(out, partial->str);
    g_string_free(partial, TRUE);
    disks_clear(&d);
}

/* ---- QMP: the commands run as jobs ---- */

typedef struct SnapJob {
    enum { SNAP_SAVE, SNAP_LOAD, SNAP_DELETE } op;
    char *tag;
    char *vmstate;
    GStrv devices;
} SnapJob;

static void snap_job_free(void *opaque)
{
    SnapJob *j = opaque;

    g_free(j->tag);
    g_free(j->vmstate);
    g_strfreev(j->devices);
    g_free(j);
}

static bool snap_job_run(void *opaque, GError **errp)
{
    SnapJob *j = opaque;
    const char *const *devices = (const char *const *)j->devices;

    switch (j->op) {
    case SNAP_SAVE:
        return snapshot_save(j->tag, false, j->vmstate, devices, errp);
    case SNAP_LOAD:
        return snapshot_load(j->tag, j->vmstate, devices, errp);
    default:
        return snapshot_delete(j->tag, devices, errp);
    }
}

static json_t *snap_job_start(json_t *args, int op, const char *type,
                              GError **errp)
{
    SnapJob *j = g_new0(SnapJob, 1);
    json_t *devs = json_object_get(args, "devices");
    json_t *v;
    size_t i;

    j->op = op;
    j->tag = g_strdup(json_string_value(json_object_get(args, "tag")));
    j->vmstate = g_strdup(json_string_value(json_object_get(args,
                                                            "vmstate")));
    j->devices = g_new0(char *, json_array_size(devs) + 1);
    json_array_foreach(devs, i, v) {
        j->devices[i] = g_strdup(json_string_value(v));
    }
    if (!job_start(json_string_value(json_object_get(args, "job-id")), type,
                   snap_job_run, j, snap_job_free, errp)) {
        return NULL;
    }
    return json_object();
}

static json_t *qmp_snapshot_save(json_t *args, GError **errp)
{
    return snap_job_start(args, SNAP_SAVE, "snapshot-save", errp);
}
QMP_COMMAND("snapshot-save", qmp_snapshot_save)

static json_t *qmp_snapshot_load(json_t *args, GError **errp)
{
    return snap_job_start(args, SNAP_LOAD, "snapshot-load", errp);
}
QMP_COMMAND("snapshot-load", qmp_snapshot_load)

static json_t *qmp_snapshot_delete(json_t *args, GError **errp)
{
    return snap_job_start(args, SNAP_DELETE, "snapshot-delete", errp);
}
QMP_COMMAND("snapshot-delete", qmp_snapshot_delete)
