/*
 * vireo: parse the command line, build the machine, run the main loop until
 * the guest or the host asks to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "block/block.h"
#include "chardev/char.h"
#include "hw/device.h"
#include "migration/migration.h"
#include "migration/snapshot.h"
#include "gdbstub/gdbstub.h"
#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "system/qtest.h"
#include "system/runas.h"
#include "system/sandbox.h"
#include "net/net.h"
#include "system/cmdline.h"
#include "system/debug.h"
#include "system/iothread.h"
#include "ui/display.h"
#include "system/timer.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

static int terminate_signal;
/* the pidfile's folder and name: removed at exit even after -chroot */
static int pidfile_dir_fd = -1;
static char *pidfile_name;

static gboolean on_terminate_signal(gpointer data)
{
    terminate_signal = GPOINTER_TO_INT(data);
    vm_request_shutdown(SHUTDOWN_HOST_SIGNAL, 0);
    return G_SOURCE_CONTINUE;
}

/* The main loop sleeps in poll without the big lock. */
static gint poll_unlocked(GPollFD *fds, guint nfds, gint timeout)
{
    bql_unlock();
    gint r = g_poll(fds, nfds, timeout);
    bql_lock();
    return r;
}

static bool write_pidfile(const char *path, GError **errp)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    char buf[32];

    if (fd < 0 || lockf(fd, F_TLOCK, 0) < 0 || ftruncate(fd, 0) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "-pidfile %s: %s", path,
                    errno == EAGAIN || errno == EACCES
                        ? "locked by another running process"
                        : g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    int n = snprintf(buf, sizeof(buf), "%d\n", getpid());
    if (write(fd, buf, n) != n) {
        g_set_error(errp, VIREO_ERROR, 0, "-pidfile %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return false;
    }
    /* fd stays open: the lock lasts our lifetime */
    g_autofree char *dir = g_path_get_dirname(path);
    pidfile_dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    pidfile_name = g_path_get_basename(path);
    return true;
}

/* Best effort: after -runas the folder may no longer be ours to write. */
static void remove_pidfile(void)
{
    if (pidfile_dir_fd >= 0) {
        unlinkat(pidfile_dir_fd, pidfile_name, 0);
        close(pidfile_dir_fd);
    }
    g_free(pidfile_name);
}

/*
 * Forks into the background; the parent exits once the child reports that
 * start-up finished (status 0) or failed (status 1).
 */
static int daemon_ready_fd = -1;
static int daemon_null_fd = -1;     /* opened early: -chroot may hide it */

static void daemonize_start(void)
{
    int fds[2];

    daemon_null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (daemon_null_fd < 0) {
        log_error("-daemonize: /dev/null: %s", g_strerror(errno));
        exit(1);
    }
    if (pipe(fds) < 0) {
        log_error("-daemonize: pipe: %s", g_strerror(errno));
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("-daemonize: fork: %s", g_strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        char status = 1;
        close(fds[1]);
        while (read(fds[0], &status, 1) < 0 && errno == EINTR) {
        }
        _exit(status);
    }
    close(fds[0]);
    daemon_ready_fd = fds[1];
    setsid();
    if (fork() > 0) {
        _exit(0);
    }
}

static void daemonize_finish(void)
{
    char ok = 0;

    if (daemon_ready_fd < 0) {
        return;
    }
    dup2(daemon_null_fd, STDIN_FILENO);
    dup2(daemon_null_fd, STDOUT_FILENO);
    dup2(daemon_null_fd, STDERR_FILENO);
    close(daemon_null_fd);
    if (write(daemon_ready_fd, &ok, 1) < 0) {
        /* the parent is gone; nothing to tell */
    }
    close(daemon_ready_fd);
    daemon_ready_fd = -1;
}

/* Whether a console stays on the terminal (which -daemonize leaves). */
static bool is_stdio_spec(const char *spec)
{
    return spec && (!strcmp(spec, "stdio") || !strcmp(spec, "mon:stdio"));
}

static bool uses_stdio(const VMOptions *o)
{
    if (o->nographic || is_stdio_spec(o->qtest)) {
        return true;
    }
    for (guint i = 0; i < o->serials->len; i++) {
        if (is_stdio_spec(g_ptr_array_index(o->serials, i))) {
            return true;
        }
    }
    for (guint i = 0; i < o->monitors->len; i++) {
        if (is_stdio_spec(g_array_index(o->monitors, MonitorConfig, i).spec)) {
            return true;
        }
    }
    return false;
}

/*
 * QEMU's defaults: with -nographic, COM1 and the human monitor share the
 * terminal (mon:stdio) unless -serial, -monitor, -qmp or -mon said
 * otherwise; -nodefaults drops both.
 */
static void add_default_consoles(VMOptions *o)
{
    bool default_serial = o->serials->len == 0 && !o->machine.nodefaults;
    bool default_monitor = o->default_monitor && !o->machine.nodefaults;

    if (!default_serial) {
        return;
    }
    if (o->nographic && default_monitor) {
        g_ptr_array_add(o->serials, "mon:stdio");
    } else {
        g_ptr_array_add(o->serials, o->nographic ? "stdio" : "null");
    }
}

/* -qmp, -monitor, -mon: a monitor on a new or a named chardev. */
static bool setup_monitor(const MonitorConfig *mc, unsigned index,
                          GError **errp)
{
    Chardev *chr;

    if (mc->chardev) {
        chr = chardev_find(mc->chardev);
        if (!chr) {
            g_set_error(errp, VIREO_ERROR, 0, "-mon: chardev '%s' not found",
                        mc->chardev);
            return false;
        }
    } else {
        char label[32];
        snprintf(label, sizeof(label), "compat_monitor%u", index);
        chr = chardev_new_from_spec(label, mc->spec, errp);
        if (!chr) {
            return !(errp && *errp);    /* "none" */
        }
    }
    return mc->qmp ? monitor_new_qmp(chr, mc->pretty, errp)
                   : monitor_new_hmp(chr, errp);
}

/* -qtest's chardev, made with the others; served once the machine exists. */
static Chardev *qtest_chr;

/* Creates the chardevs and monitors and fills the machine's serial ids. */
static bool setup_chardevs(VMOptions *o, GError **errp)
{
    MachineConfig *mc = &o->machine;

    for (guint i = 0; i < o->chardevs->len; i++) {
        if (!chardev_new_from_opts(g_ptr_array_index(o->chardevs, i), errp)) {
            return false;
        }
    }
    if (o->qtest) {
        qtest_chr = chardev_new_from_spec("qtest", o->qtest, errp);
        if (!qtest_chr && errp && *errp) {
            return false;
        }
    }
    add_default_consoles(o);
    for (guint i = 0; i < o->serials->len; i++) {
        const char *spec = g_ptr_array_index(o->serials, i);
        char label[24];
        snprintf(label, sizeof(label), "serial%u", i);
        Chardev *chr = chardev_new_from_spec(label, spec, errp);
        if (!chr && errp && *errp) {
            return false;
        }
        /* mon:SPEC: the human monitor shares the port's backend */
        if (chr && chardev_wants_monitor(chr) &&
            !monitor_new_hmp(chr, errp)) {
            return false;
        }
        mc->serial[i] = chr ? chardev_id(chr) : NULL;
    }
    if (o->debugcon) {
        Chardev *chr = chardev_new_from_spec("debugcon", o->debugcon, errp);
        if (!chr && errp && *errp) {
            return false;
        }
        mc->debugcon = chr ? chardev_id(chr) : NULL;
    }
    for (guint i = 0; i < o->monitors->len; i++) {
        if (!setup_monitor(&g_array_index(o->monitors, MonitorConfig, i), i,
                           errp)) {
            return false;
        }
    }
    return true;
}

/* -loadvm: the vCPUs wait parked until the snapshot is loaded. */
static bool start_from_snapshot(Machine *m, VMOptions *o, GError **errp)
{
    if (o->incoming) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-loadvm and -incoming cannot be used together");
        return false;
    }
    vcpus_pause(m);     /* they started paused: wait until they parked */
    if (!snapshot_load(o->loadvm, NULL, NULL, errp)) {
        g_prefix_error(errp, "-loadvm %s: ", o->loadvm);
        return false;
    }
    return o->start_paused || vm_start(m, errp);
}

/* -object: the I/O threads, before the devices that name them. */
static bool setup_objects(VMOptions *o, GError **errp)
{
    for (guint i = 0; i < o->objects->len; i++) {
        if (!user_object_add(g_ptr_array_index(o->objects, i), errp)) {
            return false;
        }
    }
    return true;
}

static bool setup_drives(VMOptions *o, GError **errp)
{
    const MachineClass *mc = machine_class_find(o->machine.machine_type);

    blk_set_snapshot_default(o->snapshot);
    blk_set_open_inactive(o->incoming != NULL);
    blk_set_ide_units_per_bus(mc && mc->ide_units_per_bus ?
                              mc->ide_units_per_bus : 2);
    for (guint i = 0; i < o->blockdevs->len; i++) {
        if (!blockdev_add(g_ptr_array_index(o->blockdevs, i), errp)) {
            return false;
        }
    }
    for (guint i = 0; i < o->drives->len; i++) {
        if (!blk_new_from_drive_opts(g_ptr_array_index(o->drives, i),
                                     errp)) {
            return false;
        }
    }
    return true;
}

/*
 * A drive for an interface no device on this machine serves would be
 * silently invisible to the guest: refuse it (if=none waits for -device).
 */
static bool check_drives_used(Machine *m, GError **errp)
{
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (blk_get_if(blk) != IF_NONE && !blk_get_attached_dev(blk)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-drive %s: machine '%s' has no device for "
                        "if=%s drives yet", blk_name(blk), m->cls->name,
                        blk_if_name(blk_get_if(blk)));
            return false;
        }
    }
    return true;
}

static void drives_close_all(void)
{
    blockdev_close_all();
}

static bool setup_netdevs(VMOptions *o, GError **errp)
{
    for (guint i = 0; i < o->netdevs->len; i++) {
        if (!netdev_new_from_opts(g_ptr_array_index(o->netdevs, i), errp)) {
            return false;
        }
    }
    return true;
}

/* Appends ",key=value" to s, doubling commas in the value (opts syntax). */
static void append_opt(GString *s, const char *key, const char *value)
{
    g_string_append_printf(s, ",%s=", key);
    for (const char *c = value; *c; c++) {
        if (*c == ',') {
            g_string_append_c(s, ',');
        }
        g_string_append_c(s, *c);
    }
}

/*
 * The NIC type a -nic or -net nic asks for: model=, or the machine's
 * default NIC as QEMU's (e1000 on pc, virtio-net-device on microvm);
 * "virtio" and "virtio-net" mean the machine's virtio-net.
 */
static char *nic_model(VMOptions *o, const char *model, const char *arg,
                       GError **errp)
{
    const MachineClass *mc = machine_class_find(o->machine.machine_type);
    const char *suffix = mc && mc->virtio_suffix ? mc->virtio_suffix
                                                 : "-pci";
    char *name;

    if (model && strcmp(model, "virtio") && strcmp(model, "virtio-net")) {
        name = g_strdup(model);
    } else if (!model && !(mc && mc->virtio_suffix) &&
               device_class_find("e1000")) {
        name = g_strdup("e1000");
    } else {
        name = g_strconcat("virtio-net", suffix, NULL);
    }
    const DeviceClass *dc = device_class_find(name);
    /* a machine with virtio-mmio devices (microvm) has no PCI bus */
    if (!dc || (mc && mc->virtio_suffix && !g_strcmp0(dc->bus, "PCI"))) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: no NIC model '%s' on this machine", arg, name);
        g_free(name);
        return NULL;
    }
    return name;
}

/* A NIC device of model, joined to netdev (NULL: none), with mac=. */
static void add_nic_device(VMOptions *o, const char *model,
                           const char *netdev, const char *mac)
{
    GString *dev = g_string_new(model);

    if (netdev) {
        append_opt(dev, "netdev", netdev);
    }
    if (mac) {
        append_opt(dev, "mac", mac);
    }
    g_ptr_array_add(o->machine.devices, (gpointer)g_intern_string(dev->str));
    g_string_free(dev, TRUE);
}

/*
 * -nic TYPE[,model=][,mac=][,...] (backend NULL) or a -net pair: the
 * backend from the backend's options (id __nicN) and a NIC of model= or
 * the machine's default joined to it.
 */
static bool setup_one_nic(VMOptions *o, const char *arg, const char *where,
                          unsigned index, GError **errp)
{
    Opts *opts = opts_parse(arg, "type", errp);
    g_autofree char *id = g_strdup_printf("__nic%u", index);
    g_autofree char *model = NULL;
    g_autofree char *what = g_strdup_printf("%s %s", where, arg);
    GString *netdev = g_string_new(NULL);
    bool ok = opts != NULL;

    if (ok && !g_strcmp0(opts_get(opts, "type"), "none")) {
        opts_free(opts);
        g_string_free(netdev, TRUE);
        return true;
    }
    for (guint k = 0; ok && k < opts->pairs->len; k++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, k);
        if (!strcmp(p->key, "type")) {
            g_string_prepend(netdev, p->value);
        } else if (strcmp(p->key, "model") && strcmp(p->key, "mac") &&
                   strcmp(p->key, "id")) {
            append_opt(netdev, p->key, p->value);
        }
    }
    if (ok) {
        append_opt(netdev, "id", id);
        model = nic_model(o, opts_get(opts, "model"), what, errp);
        ok = model != NULL;
    }
    ok = ok && netdev_new_from_opts(netdev->str, errp);
    if (ok) {
        add_nic_device(o, model, id, opts_get(opts, "mac"));
    }
    opts_free(opts);
    g_string_free(netdev, TRUE);
    return ok;
}

static bool setup_nics(VMOptions *o, GError **errp)
{
    for (guint i = 0; i < o->nics->len; i++) {
        if (!setup_one_nic(o, g_ptr_array_index(o->nics, i), "-nic", i,
                           errp)) {
            return false;
        }
    }
    return true;
}

/*
 * As QEMU: with no -nic, -net or -netdev and no -nodefaults, pc gets its
 * NIC (e1000) on user networking, made before -device's devices as the
 * machine's own, so it sits at 00:03.0 like QEMU's.
 */
static bool setup_default_nic(VMOptions *o, GError **errp)
{
    const MachineClass *mc = machine_class_find(o->machine.machine_type);
    GPtrArray *devices = o->machine.devices;

    if (!mc || !mc->default_nic || o->machine.nodefaults || o->nics->len ||
        o->nets->len || o->netdevs->len) {
        return true;
    }
    if (!setup_one_nic(o, "user", "the default NIC", 0, errp)) {
        return false;
    }
    g_ptr_array_insert(devices, 0,
                       g_ptr_array_steal_index(devices, devices->len - 1));
    return true;
}

/*
 * -net nic[,model=][,mac=][,netdev=] and -net user|tap[,...]: QEMU joins
 * them through a hub; here the n-th NIC gets the n-th backend, which is
 * what the usual "-net nic -net user" means. A backend with no NIC left
 * is an error (hubs are not supported).
 */
static bool setup_nets(VMOptions *o, GError **errp)
{
    g_autoptr(GPtrArray) nics = g_ptr_array_new();
    g_autoptr(GPtrArray) backends = g_ptr_array_new();
    bool ok = true;

    for (guint i = 0; ok && i < o->nets->len; i++) {
        const char *arg = g_ptr_array_index(o->nets, i);
        Opts *opts = opts_parse(arg, "type", errp);
        const char *type = opts ? opts_get(opts, "type") : NULL;

        if (!opts) {
            ok = false;
        } else if (!type) {
            g_set_error(errp, VIREO_ERROR, 0, "-net %s: no type given", arg);
            ok = false;
        } else if (!strcmp(type, "nic")) {
            g_ptr_array_add(nics, (gpointer)arg);
        } else if (strcmp(type, "none")) {
            g_ptr_array_add(backends, (gpointer)arg);
        }
        opts_free(opts);
    }
    if (ok && backends->len > nics->len) {
        g_set_error(errp, VIREO_ERROR, 0, "-net %s: no -net nic left for "
                    "this backend (hubs are not supported; use -nic or "
                    "-netdev)", (char *)g_ptr_array_index(backends,
                                                          nics->len));
        return false;
    }
    for (guint i = 0; ok && i < nics->len; i++) {
        const char *arg = g_ptr_array_index(nics, i);
        Opts *opts = opts_parse(arg, "type", errp);
        g_autofree char *what = g_strdup_printf("-net %s", arg);
        g_autofree char *model = NULL;

        for (guint k = 0; opts && k < opts->pairs->len; k++) {
            OptPair *p = &g_array_index(opts->pairs, OptPair, k);
            if (strcmp(p->key, "type") && strcmp(p->key, "model") &&
                strcmp(p->key, "mac") && strcmp(p->key, "netdev") &&
                strcmp(p->key, "name") && strcmp(p->key, "id")) {
                g_set_error(errp, VIREO_ERROR, 0, "%s: invalid parameter "
                            "'%s'", what, p->key);
                opts_free(opts);
                return false;
            }
        }
        model = opts ? nic_model(o, opts_get(opts, "model"), what, errp)
                     : NULL;
        ok = model != NULL;
        if (ok && i < backends->len) {
            /* the backend's options, with the NIC's model and mac */
            g_autoptr(GString) pair = g_string_new(
                g_ptr_array_index(backends, i));
            append_opt(pair, "model", model);
            if (opts_get(opts, "mac")) {
                append_opt(pair, "mac", opts_get(opts, "mac"));
            }
            ok = setup_one_nic(o, pair->str, "-net", o->nics->len + i, errp);
        } else if (ok) {
            add_nic_device(o, model, opts_get(opts, "netdev"),
                           opts_get(opts, "mac"));
        }
        opts_free(opts);
    }
    return ok;
}

/* As QEMU: a backend no NIC uses is probably a mistake on the line. */
static void warn_unused_netdev(NetClient *nc, void *opaque)
{
    if (!nc->peer) {
        log_warn("netdev %s has no peer", nc->id);
    }
}

static bool check_accels(VMOptions *o, GError **errp)
{
    if (o->accels->len == 0) {
        /* KVM where it works, else the software CPU */
        g_ptr_array_add(o->accels, "kvm");
        g_ptr_array_add(o->accels, "tcg");
    }
    for (guint i = 0; i < o->accels->len; i++) {
        const char *name = g_ptr_array_index(o->accels, i);
        if (!accel_find(name)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-accel %s: no such accelerator (available: kvm, "
                        "tcg, qtest)", name);
            return false;
        }
    }
    return true;
}

/*
 * Builds the machine with the first accelerator in the list that can be
 * initialised here, as QEMU's "-accel kvm -accel tcg" does.
 */
static Machine *create_machine(VMOptions *o, GError **errp)
{
    for (guint i = 0; i < o->accels->len; i++) {
        g_autoptr(GError) err = NULL;
        o->machine.accel = g_ptr_array_index(o->accels, i);
        Machine *m = machine_create(&o->machine, &err);
        if (m) {
            return m;
        }
        if (err->code != VIREO_ERROR_ACCEL_INIT || i + 1 == o->accels->len) {
            g_propagate_error(errp, g_steal_pointer(&err));
            return NULL;
        }
        log_warn("%s; falling back to %s", err->message,
                 (const char *)g_ptr_array_index(o->accels, i + 1));
    }
    return NULL;
}

/*
 * A guest that triple-faults again right after each reset would loop for
 * ever; after a few quick ones in a row, give up with an error instead.
 */
#define TRIPLE_FAULT_LOOP_COUNT 5
#define TRIPLE_FAULT_LOOP_US G_TIME_SPAN_SECOND

static bool triple_fault_loop(ShutdownCause cause)
{
    static gint64 last_reset;
    static int quick_faults;
    gint64 now = g_get_monotonic_time();

    if (cause != SHUTDOWN_GUEST_TRIPLE_FAULT) {
        quick_faults = 0;
    } else if (now - last_reset < TRIPLE_FAULT_LOOP_US) {
        quick_faults++;
    } else {
        quick_faults = 1;
    }
    last_reset = now;
    return quick_faults >= TRIPLE_FAULT_LOOP_COUNT;
}

static bool cause_is_guest(ShutdownCause cause)
{
    return cause == SHUTDOWN_GUEST_POWEROFF || cause == SHUTDOWN_GUEST_RESET ||
           cause == SHUTDOWN_GUEST_TRIPLE_FAULT ||
           cause == SHUTDOWN_DEBUG_EXIT || cause == SHUTDOWN_GUEST_PANIC;
}

static json_t *cause_event_data(ShutdownCause cause)
{
    return json_pack("{s:b,s:s}", "guest", cause_is_guest(cause), "reason",
                     shutdown_cause_name(cause));
}

/* Resets the machine; a VM that was not running waits in prelaunch. */
static bool system_reset(Machine *m, ShutdownCause cause)
{
    g_autoptr(GError) err = NULL;

    vcpus_pause(m);
    log_mask_printf(LOG_CPU_RESET, "system reset");
    machine_discard_ram_for_reset(m);
    if (!machine_reset(m, &err)) {
        log_error("reset failed: %s", err->message);
        return false;
    }
    qmp_event_send("RESET", cause_event_data(cause));
    if (runstate_is_running()) {
        vcpus_resume(m);
    } else {
        runstate_set(RUN_STATE_PRELAUNCH);
    }
    return true;
}

static int run_main_loop(Machine *m)
{
    int status = 0;

    for (;;) {
        g_main_context_iteration(NULL, TRUE);
        ShutdownCause cause = vm_take_shutdown_request(&status);
        if (cause != SHUTDOWN_NONE && cause != SHUTDOWN_DEBUG_EXIT) {
            qmp_event_send("SHUTDOWN", cause_event_data(cause));
        }
        if (cause == SHUTDOWN_GUEST_POWEROFF && runstate_no_shutdown) {
            /* QEMU: stays, paused, until reset or quit */
            if (runstate_is_running()) {
                vm_stop(m, RUN_STATE_SHUTDOWN);
            } else {
                vcpus_pause(m);
                runstate_set(RUN_STATE_SHUTDOWN);
            }
            continue;
        }
        if (cause != SHUTDOWN_NONE) {
            return status;
        }
        ShutdownCause reset = vm_take_reset_request();
        if (reset != SHUTDOWN_NONE) {
            if (triple_fault_loop(reset)) {
                log_error("the guest triple-faults right after every reset; "
                          "giving up");
                return 1;
            }
            if (!system_reset(m, reset)) {
                return 1;
            }
        }
        GuestDebugHit hit;
        if (vm_take_debug_request(&hit)) {
            /* every vCPU stops with the one that hit (the gdb stub hears) */
            vm_stop(m, RUN_STATE_DEBUG);
        }
    }
}

static bool any_contains(GPtrArray *strings, const char *needle)
{
    for (guint i = 0; i < strings->len; i++) {
        if (strstr(g_ptr_array_index(strings, i), needle)) {
            return true;
        }
    }
    return false;
}

/*
 * The sandbox groups start-up itself uses, refused only once it is done:
 * changing user for -run-with user=, and starting programs for tap scripts
 * and -incoming exec: (-daemonize forks before any filter). The test errs
 * on the side of "needed": that only delays a group by the start-up.
 */
static unsigned sandbox_late_groups(const VMOptions *o)
{
    unsigned late = 0;

    if (o->runas.change_user) {
        late |= SANDBOX_ELEVATE;
    }
    if (any_contains(o->netdevs, "script=") ||
        any_contains(o->nics, "script=") || any_contains(o->nets, "script=") ||
        (o->incoming && g_str_has_prefix(o->incoming, "exec:"))) {
        late |= SANDBOX_SPAWN;
    }
    return late;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    VMOptions o;
    CmdlineAction action;
    Machine *m = NULL;
    int status = 1;

    if (!cmdline_parse(argc, argv, &o, &action, &err)) {
        log_error("%s", err->message);
        return 1;
    }
    if (action == CMDLINE_EXIT_OK) {
        return 0;
    }
    runstate_no_reboot = o.no_reboot;
    runstate_no_shutdown = o.no_shutdown;
    if (o.log_items && !log_set_mask(o.log_items, &err)) {
        if (!err) {
            return 0;   /* -d help */
        }
        goto fail;
    }
    if (o.log_file && !log_set_file(o.log_file, &err)) {
        goto fail;
    }
    if (o.daemonize && uses_stdio(&o)) {
        g_set_error(&err, VIREO_ERROR, 0,
                    "-daemonize cannot be used with -nographic or a "
                    "console or monitor on stdio");
        goto fail;
    }
    if (o.process_name) {
        prctl(PR_SET_NAME, o.process_name);
    }
    if (o.daemonize) {
        daemonize_start();
    }
    if (o.pidfile && !write_pidfile(o.pidfile, &err)) {
        goto fail;
    }
    /* before any image, socket or device is touched (see sandbox.h) */
    if (!sandbox_start(&o.sandbox, sandbox_late_groups(&o), &err)) {
        goto fail;
    }

    bql_lock();
    g_main_context_set_poll_func(NULL, poll_unlocked);
    g_unix_signal_add(SIGTERM, on_terminate_signal, GINT_TO_POINTER(SIGTERM));
    g_unix_signal_add(SIGINT, on_terminate_signal, GINT_TO_POINTER(SIGINT));
    g_unix_signal_add(SIGHUP, on_terminate_signal, GINT_TO_POINTER(SIGHUP));

    timers_init();
    if (!check_accels(&o, &err) || !setup_objects(&o, &err) ||
        !setup_chardevs(&o, &err) ||
        !setup_netdevs(&o, &err) || !setup_nics(&o, &err) ||
        !setup_nets(&o, &err) || !setup_default_nic(&o, &err) ||
        !setup_drives(&o, &err)) {
        goto fail;
    }
    o.machine.name = o.name;
    m = create_machine(&o, &err);
    if (!m || !check_drives_used(m, &err)) {
        goto fail;
    }
    machine_set_current(m);
    if (qtest_chr && !qtest_chardev_start(m, qtest_chr, o.qtest_log, &err)) {
        goto fail;
    }
    if (o.gdb && !gdbserver_start(o.gdb, &err)) {
        goto fail;
    }
    netdev_foreach(warn_unused_netdev, NULL);
    o.display.vm_name = o.name;
    if (!display_init(&o.display, &err)) {
        goto fail;
    }
    runstate_set(o.start_paused || o.loadvm ? RUN_STATE_PRELAUNCH
                                            : RUN_STATE_RUNNING);
    /* -incoming: the vCPUs wait parked until the VM's state is loaded */
    if (o.incoming &&
        !migration_incoming_setup(o.incoming, !o.start_paused, &err)) {
        goto fail;
    }
    /* all is open: give up root, then refuse the calls that needed it */
    if (!runas_apply(&o.runas, &err) ||
        !sandbox_finish(&o.sandbox, sandbox_late_groups(&o), &err)) {
        goto fail;
    }
    if (!vcpus_start(m, o.start_paused || o.incoming || o.loadvm, &err) ||
        (o.loadvm && !start_from_snapshot(m, &o, &err))) {
        goto fail;
    }
    daemonize_finish();
    status = run_main_loop(m);
    if (terminate_signal) {
        fprintf(stderr, "vireo: terminating on signal %d\n", terminate_signal);
    }
    goto out;

fail:
    log_error("%s", err->message);
    status = 1;
out:
    migration_shutdown();
    gdbserver_cleanup(status);
    qtest_chardev_stop();
    display_cleanup();
    if (m) {
        vcpus_stop(m);
    }
    iothreads_stop_all();   /* their handlers use the devices */
    if (m) {
        machine_set_current(NULL);
        machine_destroy(m);
    }
    iothreads_free_all();
    monitor_cleanup_all();
    net_cleanup_all();
    drives_close_all();
    chardev_cleanup_all();
    remove_pidfile();
    vm_options_free(&o);
    return status;
}
