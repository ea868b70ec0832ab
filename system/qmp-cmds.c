/*
 * The machine's QMP commands: run state, reset and power, identity, vCPUs,
 * machine types and character devices. HMP's twins call these through
 * qmp_call().
 */
#include <string.h>
#include <unistd.h>

#include "chardev/char.h"
#include "hw/i386/acpi.h"
#include "monitor/qmp.h"
#include "system/vm.h"
#include "util/opts.h"

static Machine *machine_or_error(GError **errp)
{
    Machine *m = machine_current();

    if (!m) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "the machine is not created yet");
    }
    return m;
}

static json_t *qmp_query_status(json_t *args, GError **errp)
{
    RunState state = runstate_get();

    return json_pack("{s:b,s:b,s:s}", "running", runstate_is_running(),
                     "singlestep", 0, "status", runstate_name(state));
}
QMP_COMMAND("query-status", qmp_query_status)

static json_t *qmp_stop(json_t *args, GError **errp)
{
    Machine *m = machine_or_error(errp);

    if (!m) {
        return NULL;
    }
    vm_stop(m, RUN_STATE_PAUSED);
    return json_object();
}
QMP_COMMAND("stop", qmp_stop)

static json_t *qmp_cont(json_t *args, GError **errp)
{
    Machine *m = machine_or_error(errp);

    return m && vm_start(m, errp) ? json_object() : NULL;
}
QMP_COMMAND("cont", qmp_cont)

static json_t *qmp_system_reset(json_t *args, GError **errp)
{
    vm_request_reset(SHUTDOWN_HOST_QMP_RESET);
    return json_object();
}
QMP_COMMAND("system_reset", qmp_system_reset)

static json_t *qmp_system_powerdown(json_t *args, GError **errp)
{
    Machine *m = machine_or_error(errp);

    if (!m) {
        return NULL;
    }
    qmp_event_send("POWERDOWN", NULL);
    if (!acpi_pm_power_button(m)) {
        /* QEMU ignores it silently; a caller waiting would wait for ever */
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "machine '%s' has no ACPI power button%s", m->cls->name,
                    m->cfg.acpi ? "" : " (acpi=off)");
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("system_powerdown", qmp_system_powerdown)

static json_t *qmp_quit(json_t *args, GError **errp)
{
    vm_request_shutdown(SHUTDOWN_HOST_QUIT, 0);
    return json_object();
}
QMP_COMMAND("quit", qmp_quit)

static json_t *qmp_query_name(json_t *args, GError **errp)
{
    Machine *m = machine_current();

    if (m && m->cfg.name) {
        return json_pack("{s:s}", "name", m->cfg.name);
    }
    return json_object();
}
QMP_COMMAND("query-name", qmp_query_name)

static json_t *qmp_query_uuid(json_t *args, GError **errp)
{
    Machine *m = machine_current();
    const char *uuid = m && m->cfg.uuid
                           ? m->cfg.uuid
                           : "00000000-0000-0000-0000-000000000000";

    return json_pack("{s:s}", "UUID", uuid);
}
QMP_COMMAND("query-uuid", qmp_query_uuid)

static json_t *qmp_query_kvm(json_t *args, GError **errp)
{
    Machine *m = machine_current();
    bool enabled = m && !strcmp(m->accel->name, "kvm");

    return json_pack("{s:b,s:b}", "enabled", enabled, "present",
                     access("/dev/kvm", R_OK | W_OK) == 0);
}
QMP_COMMAND("query-kvm", qmp_query_kvm)

static json_t *qmp_query_cpus_fast(json_t *args, GError **errp)
{
    Machine *m = machine_or_error(errp);
    json_t *list;

    if (!m) {
        return NULL;
    }
    list = json_array();
    for (int i = 0; i < m->ncpus; i++) {
        int threads = MAX(m->cfg.threads, 1), cores = MAX(m->cfg.cores, 1);
        g_autofree char *path = machine_cpu_qom_path(m, i);

        json_array_append_new(list, json_pack(
            "{s:i,s:s,s:i,s:{s:i,s:i,s:i},s:s}", "cpu-index", i,
            "qom-path", path, "thread-id", m->cpus[i]->thread_id,
            "props", "socket-id", i / (threads * cores),
            "core-id", (i / threads) % cores, "thread-id", i % threads,
            "target", "x86_64"));
    }
    return list;
}
QMP_COMMAND("query-cpus-fast", qmp_query_cpus_fast)

static json_t *qmp_query_machines(json_t *args, GError **errp)
{
    json_t *list = json_array();

    for (const MachineClass *c = machine_class_first(); c; c = c->next) {
        json_t *info = json_pack(
            "{s:s,s:i,s:b,s:b,s:b}", "name", c->name,
            "cpu-max", c->max_cpus ? c->max_cpus : 255,
            "hotpluggable-cpus", 0, "numa-mem-supported", 0,
            "deprecated", 0);
        if (c->alias) {
            json_object_set_new(info, "alias", json_string(c->alias));
        }
        if (c->is_default) {
            json_object_set_new(info, "is-default", json_true());
        }
        if (!c->no_cpus) {
            g_autofree char *ram = g_strdup_printf("%s.ram", c->name);
            json_object_set_new(info, "default-cpu-type",
                                json_string("host-x86_64-cpu"));
            json_object_set_new(info, "default-ram-id", json_string(ram));
        }
        json_array_append_new(list, info);
    }
    return list;
}
QMP_COMMAND("query-machines", qmp_query_machines)

static void add_chardev_info(Chardev *chr, void *opaque)
{
    json_array_append_new(opaque, json_pack(
        "{s:s,s:s,s:b}", "label", chardev_id(chr), "filename",
        chardev_filename(chr), "frontend-open", chardev_frontend_open(chr)));
}

static json_t *qmp_query_chardev(json_t *args, GError **errp)
{
    json_t *list = json_array();

    chardev_foreach(add_chardev_info, list);
    return list;
}
QMP_COMMAND("query-chardev", qmp_query_chardev)
