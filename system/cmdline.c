/*
 * QEMU's command-line spellings for what Vireo supports. Every option is in
 * the table below; anything else is an error naming it.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "gdbstub/gdbstub.h"
#include "hw/device.h"
#include "migration/vmstate.h"
#include "hw/loader.h"
#include "hw/i386/smbios.h"
#include "hw/nvram/fw_cfg.h"
#include "system/cmdline.h"
#include "system/iothread.h"
#include "util/log.h"
#include "util/opts.h"

typedef bool (*OptHandler)(VMOptions *o, const char *arg,
                           CmdlineAction *action, GError **errp);

typedef struct OptionDef {
    const char *name;
    bool has_arg;
    OptHandler handler;
    const char *help;
} OptionDef;

/*
 * kernel-irqchip=on|off|split, QEMU's spelling (on/off also as the other
 * boolean words). Like QEMU, the software CPU accepts it and ignores it:
 * it always uses Vireo's own interrupt controllers.
 */
static bool parse_kernel_irqchip(Opts *opts, KernelIrqchip *out,
                                 GError **errp)
{
    const char *v = opts_get(opts, "kernel-irqchip");
    bool on;

    if (!v) {
        return true;
    }
    if (!strcmp(v, "split")) {
        *out = KERNEL_IRQCHIP_SPLIT;
        return true;
    }
    if (!opts_get_bool(opts, "kernel-irqchip", true, &on, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "kernel-irqchip=%s: expected on, off or split", v);
        return false;
    }
    *out = on ? KERNEL_IRQCHIP_ON : KERNEL_IRQCHIP_OFF;
    return true;
}

/* Appends "kvm:tcg" style fallback lists to the accelerators to try. */
static void add_accels(VMOptions *o, const char *list)
{
    g_auto(GStrv) names = g_strsplit(list, ":", -1);

    for (char **n = names; *n; n++) {
        g_ptr_array_add(o->accels, (gpointer)g_intern_string(*n));
    }
}

/* NAME=on|off|auto, QEMU's OnOffAuto */
static bool parse_on_off_auto(Opts *opts, const char *name, OnOffAuto *out,
                              GError **errp)
{
    const char *v = opts_get(opts, name);
    bool on;

    if (!v) {
        return true;
    }
    if (!strcmp(v, "auto")) {
        *out = ON_OFF_AUTO_AUTO;
        return true;
    }
    if (!opts_get_bool(opts, name, true, &on, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s=%s: expected on, off or auto",
                    name, v);
        return false;
    }
    *out = on ? ON_OFF_AUTO_ON : ON_OFF_AUTO_OFF;
    return true;
}

static bool set_machine(VMOptions *o, const char *arg, CmdlineAction *action,
                        GError **errp)
{
    Opts *opts = opts_parse(arg, "type", errp);
    const char *v;
    bool ok = false;

    if (!opts) {
        return false;
    }
    v = opts_get(opts, "type");
    if (v && (!strcmp(v, "help") || !strcmp(v, "?"))) {
        machine_class_print_help();
        *action = CMDLINE_EXIT_OK;
        ok = true;
        goto out;
    }
    if (v) {
        o->machine.machine_type = g_intern_string(v);
    }
    if ((v = opts_get(opts, "accel"))) {
        g_ptr_array_set_size(o->accels, 0);
        add_accels(o, v);
    }
    bool hpet = !o->machine.no_hpet;
    if (!opts_get_bool(opts, "acpi", true, &o->machine.acpi, errp) ||
        !opts_get_bool(opts, "hpet", hpet, &hpet, errp) ||
        !parse_kernel_irqchip(opts, &o->machine.kernel_irqchip, errp) ||
        !parse_on_off_auto(opts, "kernel-decompress",
                           &o->machine.kernel_decompress, errp) ||
        !parse_on_off_auto(opts, "rtc", &o->machine.microvm_rtc, errp) ||
        !opts_check_unused(opts, "-machine", errp)) {
        goto out;
    }
    o->machine.no_hpet = !hpet;
    ok = true;
out:
    if (!ok && errp && *errp) {
        g_prefix_error(errp, "-machine %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

static bool set_accel(VMOptions *o, const char *arg, CmdlineAction *action,
                      GError **errp)
{
    Opts *opts = opts_parse(arg, "accel", errp);
    const char *name;
    bool ok;

    if (!opts) {
        return false;
    }
    name = opts_get(opts, "accel");
    if (name && !strcmp(name, "help")) {
        printf("Accelerators supported in Vireo:\nkvm\ntcg\nqtest\n");
        *action = CMDLINE_EXIT_OK;
        opts_free(opts);
        return true;
    }
    /* QEMU's MTTCG switch: Vireo's software vCPUs always run in parallel */
    const char *thread = opts_get(opts, "thread");
    if (thread && (!name || strcmp(name, "tcg") || strcmp(thread, "multi"))) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-accel %s: thread=%s is not supported (only tcg, with "
                    "thread=multi)", arg, thread);
        opts_free(opts);
        return false;
    }
    ok = opts_check_unused(opts, "-accel", errp);
    if (ok && name) {
        add_accels(o, name);   /* -accel kvm:tcg too */
    }
    opts_free(opts);
    return ok;
}

static bool set_enable_kvm(VMOptions *o, const char *arg,
                           CmdlineAction *action, GError **errp)
{
    g_ptr_array_add(o->accels, (gpointer)"kvm");
    return true;
}

static bool set_cpu(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", 2);
    if (!strcmp(parts[0], "help")) {
        printf("Available CPUs:\n  host   the host CPU, as KVM supports "
               "it\n  max    same as host\n");
        *action = CMDLINE_EXIT_OK;
        return true;
    }
    if (strcmp(parts[0], "host") && strcmp(parts[0], "max")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-cpu %s: unsupported CPU model (use 'host')", arg);
        return false;
    }
    if (parts[1]) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-cpu %s: CPU feature flags are not supported yet", arg);
        return false;
    }
    o->machine.cpu_model = g_intern_string(parts[0]);
    return true;
}

static bool set_memory(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    Opts *opts = opts_parse(arg, "size", errp);
    const char *v;
    uint64_t size;
    bool ok = false;

    if (!opts) {
        return false;
    }
    v = opts_get(opts, "size");
    /* maxmem and slots only matter for memory hot-plug, not supported */
    if (!v) {
        g_set_error(errp, VIREO_ERROR, 0, "-m %s: missing size", arg);
    } else if (!parse_size(v, 1 << 20, &size, errp)) {
        g_prefix_error(errp, "-m %s: ", arg);
    } else if (size < (1 << 20)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-m %s: the RAM size must be at least 1 MiB", arg);
    } else if (opts_check_unused(opts, "-m", errp)) {
        o->machine.ram_size = size & ~0xfffULL;
        ok = true;
    }
    opts_free(opts);
    return ok;
}

static bool set_smp(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    Opts *opts = opts_parse(arg, "cpus", errp);
    uint64_t cpus, sockets, cores, threads, maxcpus;
    MachineConfig *mc = &o->machine;
    bool ok = false;

    if (!opts) {
        return false;
    }
    if (!opts_get_uint(opts, "cpus", 0, &cpus, errp) ||
        !opts_get_uint(opts, "sockets", 0, &sockets, errp) ||
        !opts_get_uint(opts, "cores", 0, &cores, errp) ||
        !opts_get_uint(opts, "threads", 0, &threads, errp) ||
        !opts_get_uint(opts, "maxcpus", 0, &maxcpus, errp) ||
        !opts_check_unused(opts, "-smp", errp)) {
        goto out;
    }
    if (opts_get(opts, "cpus") && cpus == 0) {
        g_set_error(errp, VIREO_ERROR, 0, "the vCPU count must be at least 1");
        goto out;
    }
    if (sockets > 4096 || cores > 4096 || threads > 4096 || cpus > 4096 ||
        maxcpus > 4096) {
        g_set_error(errp, VIREO_ERROR, 0, "a count is too large");
        goto out;
    }
    /* like QEMU's current machines: fill in cores before sockets */
    threads = threads ? threads : 1;
    if (!cpus) {
        cpus = maxcpus ? maxcpus
                       : (sockets ? sockets : 1) * (cores ? cores : 1) *
                         threads;
    }
    maxcpus = maxcpus ? maxcpus : cpus;
    if (!sockets) {
        sockets = cores ? MAX(1, maxcpus / (cores * threads)) : 1;
    }
    if (!cores) {
        cores = MAX(1, maxcpus / (sockets * threads));
    }
    if (sockets * cores * threads != maxcpus) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "sockets (%" G_GUINT64_FORMAT ") * cores (%"
                    G_GUINT64_FORMAT ") * threads (%" G_GUINT64_FORMAT
                    ") != maxcpus (%" G_GUINT64_FORMAT ")",
                    sockets, cores, threads, maxcpus);
        goto out;
    }
    if (cpus > maxcpus) {
        g_set_error(errp, VIREO_ERROR, 0, "cpus (%" G_GUINT64_FORMAT
                    ") exceeds maxcpus (%" G_GUINT64_FORMAT ")", cpus,
                    maxcpus);
        goto out;
    }
    mc->smp_cpus = cpus;
    mc->smp_max_cpus = maxcpus;
    mc->sockets = sockets;
    mc->cores = cores;
    mc->threads = threads;
    ok = true;
out:
    if (!ok) {
        g_prefix_error(errp, "-smp %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

#define SET_STRING(fn, field)                                           \
    static bool fn(VMOptions *o, const char *arg, CmdlineAction *action, \
                   GError **errp)                                       \
    {                                                                   \
        o->field = arg;                                                 \
        return true;                                                    \
    }

SET_STRING(set_kernel, machine.kernel)
SET_STRING(set_bios, machine.bios)
SET_STRING(set_initrd, machine.initrd)
SET_STRING(set_append, machine.append)

/* -rtc base=utc|localtime|DATE,clock=host|rt|vm,driftfix=none|slew */
static bool set_rtc(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    if (!rtc_config_parse(arg, &o->machine.rtc, errp)) {
        g_prefix_error(errp, "-rtc %s: ", arg);
        return false;
    }
    return true;
}
SET_STRING(set_pidfile, pidfile)
SET_STRING(set_debugcon, debugcon)
SET_STRING(set_log_items, log_items)
SET_STRING(set_log_file, log_file)
SET_STRING(set_qtest, qtest)
SET_STRING(set_qtest_log, qtest_log)

/* -L DIR: where firmware files are looked for first */
static bool add_firmware_dir(VMOptions *o, const char *arg,
                             CmdlineAction *action, GError **errp)
{
    firmware_add_dir(arg);
    return true;
}

#define SET_FLAG(fn, field)                                             \
    static bool fn(VMOptions *o, const char *arg, CmdlineAction *action, \
                   GError **errp)                                       \
    {                                                                   \
        o->field = true;                                                \
        return true;                                                    \
    }

/* -nographic: the firmware learns it too (FW_CFG_NOGRAPHIC) */
static bool set_nographic(VMOptions *o, const char *arg,
                          CmdlineAction *action, GError **errp)
{
    o->nographic = o->machine.nographic = true;
    o->display.type = DISPLAY_TYPE_NONE;
    return true;
}

SET_FLAG(set_no_hpet, machine.no_hpet)
SET_FLAG(set_no_reboot, no_reboot)
SET_FLAG(set_no_shutdown, no_shutdown)
SET_FLAG(set_daemonize, daemonize)
SET_FLAG(set_start_paused, start_paused)
SET_FLAG(set_nodefaults, machine.nodefaults)

static bool add_serial(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    if (o->serials->len >= 4) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-serial %s: at most 4 serial ports are supported", arg);
        return false;
    }
    g_ptr_array_add(o->serials, (gpointer)arg);
    return true;
}

static bool add_chardev(VMOptions *o, const char *arg, CmdlineAction *action,
                        GError **errp)
{
    g_ptr_array_add(o->chardevs, (gpointer)arg);
    return true;
}

static bool add_netdev(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    if (!strcmp(arg, "help") || !strcmp(arg, "?")) {
        printf("Available netdev backend types:\nuser\ntap\n");
        *action = CMDLINE_EXIT_OK;
        return true;
    }
    g_ptr_array_add(o->netdevs, (gpointer)arg);
    return true;
}

/* model=help (or ?) on -nic or -net nic: QEMU's list of NIC models. */
static bool nic_model_help(const char *arg, CmdlineAction *action)
{
    static const char *const models[] = { "e1000", "virtio-net-pci",
                                          "virtio-net-device" };
    Opts *opts = opts_parse(arg, "type", NULL);
    const char *model = opts ? opts_get(opts, "model") : NULL;
    bool help = model && (!strcmp(model, "help") || !strcmp(model, "?"));

    opts_free(opts);
    if (!help) {
        return false;
    }
    printf("Available NIC models:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(models); i++) {
        if (device_class_find(models[i])) {
            printf("%s\n", models[i]);
        }
    }
    *action = CMDLINE_EXIT_OK;
    return true;
}

static bool add_nic(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    if (!nic_model_help(arg, action)) {
        g_ptr_array_add(o->nics, (gpointer)arg);
    }
    return true;
}

static bool add_net(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    if (!nic_model_help(arg, action)) {
        g_ptr_array_add(o->nets, (gpointer)arg);
    }
    return true;
}

static bool add_drive(VMOptions *o, const char *arg, CmdlineAction *action,
                      GError **errp)
{
    g_ptr_array_add(o->drives, (gpointer)arg);
    return true;
}

static bool add_blockdev(VMOptions *o, const char *arg,
                         CmdlineAction *action, GError **errp)
{
    g_ptr_array_add(o->blockdevs, (gpointer)arg);
    return true;
}

static bool add_object(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    if (user_object_print_help(arg)) {
        *action = CMDLINE_EXIT_OK;
    } else {
        g_ptr_array_add(o->objects, (gpointer)arg);
    }
    return true;
}

static bool set_snapshot(VMOptions *o, const char *arg,
                         CmdlineAction *action, GError **errp)
{
    o->snapshot = true;
    return true;
}

/* QEMU's -hda..-hdd and -cdrom: a -drive at a fixed index of the default
 * interface; commas in the file name are doubled to stay in the name. */
static void add_drive_at(VMOptions *o, const char *file, int index,
                         const char *media)
{
    GString *s = g_string_new("file=");
    for (const char *p = file; *p; p++) {
        g_string_append_c(s, *p);
        if (*p == ',') {
            g_string_append_c(s, ',');
        }
    }
    g_string_append_printf(s, ",index=%d,media=%s", index, media);
    char *str = g_string_free(s, FALSE);
    g_ptr_array_add(o->owned, str);
    g_ptr_array_add(o->drives, str);
}

static bool add_hda(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    add_drive_at(o, arg, 0, "disk");
    return true;
}

static bool add_hdb(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    add_drive_at(o, arg, 1, "disk");
    return true;
}

static bool add_hdc(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    add_drive_at(o, arg, 2, "disk");
    return true;
}

static bool add_hdd(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    add_drive_at(o, arg, 3, "disk");
    return true;
}

static bool add_cdrom(VMOptions *o, const char *arg, CmdlineAction *action,
                      GError **errp)
{
    add_drive_at(o, arg, 2, "cdrom");
    return true;
}

static bool add_global(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    return device_add_global(arg, errp);
}

static bool add_device(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", -1);
    if (!strcmp(parts[0], "help") || !strcmp(parts[0], "?")) {
        device_class_print_help(NULL);
        *action = CMDLINE_EXIT_OK;
        return true;
    }
    const DeviceClass *c = device_class_find(parts[0]);
    if (!c || !c->user_creatable) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-device %s: '%s' is not a valid device model name "
                    "(see -device help)", arg, parts[0]);
        return false;
    }
    if (parts[1] && !strcmp(parts[1], "help") && !parts[2]) {
        device_class_print_help(parts[0]);
        *action = CMDLINE_EXIT_OK;
        return true;
    }
    g_ptr_array_add(o->machine.devices, (gpointer)arg);
    return true;
}

static bool set_display(VMOptions *o, const char *arg, CmdlineAction *action,
                        GError **errp)
{
    if (!strcmp(arg, "help")) {
        display_print_help();
        *action = CMDLINE_EXIT_OK;
        return true;
    }
    return display_parse(&o->display, arg, errp);
}

/* -vnc SPEC (none: no server, as QEMU) */
static bool set_vnc(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    g_free(o->display.vnc);
    o->display.vnc = strcmp(arg, "none") ? g_strdup(arg) : NULL;
    return true;
}

static bool set_keyboard_layout(VMOptions *o, const char *arg,
                                CmdlineAction *action, GError **errp)
{
    o->display.keyboard_layout = arg;
    return true;
}

SET_FLAG(set_full_screen, display.full_screen)

/* -no-quit: closing the window does not end Vireo (window-close=off) */
static bool set_no_quit(VMOptions *o, const char *arg, CmdlineAction *action,
                        GError **errp)
{
    o->display.window_close = false;
    return true;
}

/* -vga TYPE: the pc machine's display card (QEMU's names). */
static bool set_vga(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    if (!strcmp(arg, "help")) {
        printf("%-20s standard VGA (default)\n%-20s no graphic card\n",
               "std", "none");
        *action = CMDLINE_EXIT_OK;
        return true;
    }
    if (strcmp(arg, "std") && strcmp(arg, "none")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-vga %s: graphic card type not supported (std or none; "
                    "-vga help)", arg);
        return false;
    }
    o->machine.vga = arg;
    return true;
}

static bool set_name(VMOptions *o, const char *arg, CmdlineAction *action,
                     GError **errp)
{
    Opts *opts = opts_parse(arg, "guest", errp);
    bool ok, debug_threads;

    if (!opts) {
        return false;
    }
    o->name = g_intern_string(opts_get(opts, "guest") ?: "");
    const char *p = opts_get(opts, "process");
    o->process_name = p ? g_intern_string(p) : NULL;
    ok = opts_get_bool(opts, "debug-threads", false, &debug_threads, errp) &&
         opts_check_unused(opts, "-name", errp);
    if (!ok) {
        g_prefix_error(errp, "-name %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

static void add_monitor(VMOptions *o, MonitorConfig mc)
{
    g_array_append_val(o->monitors, mc);
    o->default_monitor = false;
}

static bool add_qmp(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    add_monitor(o, (MonitorConfig){ .spec = arg, .qmp = true });
    return true;
}

static bool add_qmp_pretty(VMOptions *o, const char *arg,
                           CmdlineAction *action, GError **errp)
{
    add_monitor(o, (MonitorConfig){ .spec = arg, .qmp = true,
                                    .pretty = true });
    return true;
}

static bool add_hmp(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    add_monitor(o, (MonitorConfig){ .spec = arg });
    return true;
}

/* -mon chardev=ID[,mode=readline|control][,pretty=on|off] */
static bool add_mon(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    Opts *opts = opts_parse(arg, "chardev", errp);
    MonitorConfig mc = { 0 };
    const char *v;
    bool ok = false;

    if (!opts) {
        return false;
    }
    v = opts_get(opts, "chardev");
    if (!v || !*v) {
        g_set_error(errp, VIREO_ERROR, 0, "parameter 'chardev' is missing");
        goto out;
    }
    mc.chardev = g_intern_string(v);
    v = opts_get(opts, "mode");
    if (v && strcmp(v, "readline") && strcmp(v, "control")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "mode=%s: expected readline or control", v);
        goto out;
    }
    mc.qmp = v && !strcmp(v, "control");
    if (!opts_get_bool(opts, "pretty", false, &mc.pretty, errp) ||
        !opts_check_unused(opts, "-mon", errp)) {
        goto out;
    }
    add_monitor(o, mc);
    ok = true;
out:
    if (!ok) {
        g_prefix_error(errp, "-mon %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

/* -uuid: the canonical 8-4-4-4-12 hex form, as QEMU takes it. */
static bool set_uuid(VMOptions *o, const char *arg, CmdlineAction *action,
                     GError **errp)
{
    if (!g_uuid_string_is_valid(arg)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-uuid %s: not a UUID (expected "
                    "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", arg);
        return false;
    }
    g_autofree char *lower = g_ascii_strdown(arg, -1);
    o->machine.uuid = g_intern_string(lower);
    return true;
}

/* PC boot drive letters: a-p, each at most once (QEMU's rules). */
static bool check_boot_devices(const char *key, const char *devs,
                               GError **errp)
{
    unsigned seen = 0;

    for (const char *c = devs; *c; c++) {
        if (*c < 'a' || *c > 'p') {
            g_set_error(errp, VIREO_ERROR, 0,
                        "%s=%s: Invalid boot device for PC: '%c'", key, devs,
                        *c);
            return false;
        }
        if (seen & (1u << (*c - 'a'))) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "%s=%s: Boot device '%c' was given twice", key, devs,
                        *c);
            return false;
        }
        seen |= 1u << (*c - 'a');
    }
    return true;
}

/* A -boot time in ms: min..65535 (-1 allowed where min is -1). */
static bool boot_time(Opts *opts, const char *key, int min, int *out,
                      GError **errp)
{
    const char *v = opts_get(opts, key);
    char *end;
    long long n;

    if (!v) {
        return true;
    }
    n = strtoll(v, &end, 0);
    if (!*v || *end || n < min || n > 0xffff) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s=%s: it should be a value between %d and 65535", key,
                    v, min);
        return false;
    }
    *out = n;
    return true;
}

/*
 * -boot [order=]drives[,once=drives][,menu=on|off][,splash=FILE]
 * [,splash-time=ms][,reboot-timeout=ms][,strict=on|off]; the legacy
 * "-boot dc" is order=dc.
 */
static bool set_boot(VMOptions *o, const char *arg, CmdlineAction *action,
                     GError **errp)
{
    MachineConfig *mc = &o->machine;
    Opts *opts = opts_parse(arg, "order", errp);
    const char *v;
    bool ok = false;

    if (!opts) {
        return false;
    }
    if ((v = opts_get(opts, "order"))) {
        if (!check_boot_devices("order", v, errp)) {
            goto out;
        }
        mc->boot_order = g_intern_string(v);
    }
    if ((v = opts_get(opts, "once"))) {
        if (!check_boot_devices("once", v, errp)) {
            goto out;
        }
        mc->boot_once = g_intern_string(v);
    }
    if ((v = opts_get(opts, "splash"))) {
        mc->boot_splash = g_intern_string(v);
    }
    if (!opts_get_bool(opts, "menu", mc->boot_menu, &mc->boot_menu, errp) ||
        !opts_get_bool(opts, "strict", mc->boot_strict, &mc->boot_strict,
                       errp) ||
        !boot_time(opts, "splash-time", 0, &mc->boot_splash_time, errp) ||
        !boot_time(opts, "reboot-timeout", -1, &mc->boot_reboot_timeout,
                   errp) ||
        !opts_check_unused(opts, "-boot", errp)) {
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        g_prefix_error(errp, "-boot %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

static bool add_smbios(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    if (!smbios_check_option(arg, errp)) {
        return false;
    }
    g_ptr_array_add(o->machine.smbios, (gpointer)arg);
    return true;
}

static bool add_fw_cfg(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    if (!fw_cfg_check_user_option(arg, errp)) {
        return false;
    }
    g_ptr_array_add(o->machine.fw_cfg_files, (gpointer)arg);
    return true;
}

/* Matches value against a NULL-ended list; returns its index or -1. */
static int pick(const char *value, const char *const *choices)
{
    for (int i = 0; value && choices[i]; i++) {
        if (!strcmp(value, choices[i])) {
            return i;
        }
    }
    return -1;
}

/* -action reboot=reset|shutdown,shutdown=poweroff|pause,panic=... */
static bool set_action(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    static const char *const reboot[] = { "reset", "shutdown", NULL };
    static const char *const shutdown[] = { "poweroff", "pause", NULL };
    static const char *const panic[] = { "shutdown", "pause", "exit-failure",
                                         "none", NULL };
    static const struct {
        const char *key;
        const char *const *choices;
    } keys[] = {
        { "reboot", reboot }, { "shutdown", shutdown }, { "panic", panic },
    };
    Opts *opts = opts_parse(arg, NULL, errp);
    int picked[G_N_ELEMENTS(keys)];
    bool ok = false;

    if (!opts) {
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *v = opts_get(opts, keys[i].key);
        picked[i] = v ? pick(v, keys[i].choices) : -2;
        if (picked[i] == -1) {
            g_autofree char *list = g_strjoinv("|", (char **)keys[i].choices);
            g_set_error(errp, VIREO_ERROR, 0, "%s=%s: expected %s",
                        keys[i].key, v, list);
            goto out;
        }
    }
    if (!opts_check_unused(opts, "-action", errp)) {
        goto out;
    }
    if (picked[0] >= 0) {
        o->no_reboot = picked[0] == 1;
    }
    if (picked[1] >= 0) {
        o->no_shutdown = picked[1] == 1;
    }
    if (picked[2] >= 0) {
        o->panic_action = (PanicAction)picked[2];
        o->machine.panic_action = picked[2];
    }
    ok = true;
out:
    if (!ok) {
        g_prefix_error(errp, "-action %s: ", arg);
    }
    opts_free(opts);
    return ok;
}

static bool print_version(VMOptions *o, const char *arg,
                          CmdlineAction *action, GError **errp)
{
    printf("Vireo emulator version " VIREO_VERSION "\n"
           "Copyright (c) the Vireo developers\n");
    *action = CMDLINE_EXIT_OK;
    return true;
}

/* QEMU's -dump-vmstate: the device classes' state descriptions, then exit. */
static bool dump_vmstate(VMOptions *o, const char *arg, CmdlineAction *action,
                         GError **errp)
{
    if (!vmstate_dump_json_file(arg, errp)) {
        return false;
    }
    *action = CMDLINE_EXIT_OK;
    return true;
}

/* -incoming URI|defer: checked when the machine exists (migration/). */
static bool set_incoming(VMOptions *o, const char *arg, CmdlineAction *action,
                         GError **errp)
{
    o->incoming = arg;
    return true;
}

/* -gdb DEV and -s: served once the machine exists (gdbstub/). */
static bool set_gdb(VMOptions *o, const char *arg, CmdlineAction *action,
                    GError **errp)
{
    o->gdb = arg;
    return true;
}

static bool set_gdb_default(VMOptions *o, const char *arg,
                            CmdlineAction *action, GError **errp)
{
    o->gdb = GDBSTUB_DEFAULT_DEVICE;
    return true;
}

/* -loadvm NAME: loaded once the machine exists (migration/snapshot.c). */
static bool set_loadvm(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    o->loadvm = arg;
    return true;
}

/* -sandbox on|off[,GROUP=allow|deny...] (system/sandbox.c) */
static bool set_sandbox(VMOptions *o, const char *arg, CmdlineAction *action,
                        GError **errp)
{
    return sandbox_parse(&o->sandbox, arg, errp);
}

/* --secure: the sandbox with every group denied; later options adjust it */
static bool set_secure(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    sandbox_set_secure(&o->sandbox);
    return true;
}

/* -run-with user=USER,chroot=DIR and QEMU's older -runas, -chroot */
static bool set_run_with(VMOptions *o, const char *arg,
                         CmdlineAction *action, GError **errp)
{
    return runas_parse_run_with(&o->runas, arg, errp);
}

static bool set_runas(VMOptions *o, const char *arg, CmdlineAction *action,
                      GError **errp)
{
    g_autofree char *what = g_strdup_printf("-runas %s", arg);
    return runas_set_user(&o->runas, arg, what, errp);
}

static bool set_chroot(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    g_autofree char *what = g_strdup_printf("-chroot %s", arg);
    return runas_set_chroot(&o->runas, arg, what, errp);
}

static bool print_help(VMOptions *o, const char *arg, CmdlineAction *action,
                       GError **errp)
{
    cmdline_print_help();
    *action = CMDLINE_EXIT_OK;
    return true;
}

static const OptionDef options[] = {
    { "h", false, print_help, "print this help" },
    { "help", false, print_help, NULL },
    { "version", false, print_version, "print the version" },
    { "M", true, set_machine, NULL },
    { "machine", true, set_machine,
      "TYPE[,accel=kvm:tcg][,acpi=on|off][,hpet=on|off]"
      "[,kernel-irqchip=on|off|split]\n"
      "                [,kernel-decompress=on|off|auto][,rtc=on|off|auto]\n"
      "                machine type (-machine help); kernel-irqchip: KVM's "
      "in-kernel\n"
      "                LAPIC/IOAPIC/PIC/PIT (on, default), none (off), or "
      "only the LAPICs\n"
      "                (split); ignored with -accel tcg. kernel-decompress: "
      "Vireo\n"
      "                decompresses a -kernel bzImage itself (on; auto: "
      "under tcg);\n"
      "                rtc (microvm): an MC146818 RTC (auto: unless KVM)" },
    { "accel", true, set_accel,
      "kvm|tcg|qtest  accelerator (repeat to fall back: -accel kvm "
      "-accel tcg);\n"
      "                qtest runs no guest code, for device tests" },
    { "enable-kvm", false, set_enable_kvm, "same as -accel kvm" },
    { "cpu", true, set_cpu, "host  CPU model" },
    { "m", true, set_memory, "SIZE[M|G]  guest RAM (default 128M)" },
    { "smp", true, set_smp,
      "N[,cpus=N][,sockets=S][,cores=C][,threads=T][,maxcpus=M]" },
    { "kernel", true, set_kernel, "FILE  bzImage or multiboot kernel" },
    { "bios", true, set_bios,
      "FILE  the BIOS image (default bios-256k.bin, Debian's seabios)" },
    { "L", true, add_firmware_dir,
      "DIR  look for firmware files (BIOS, VGA BIOS, option ROMs) in DIR "
      "first" },
    { "initrd", true, set_initrd,
      "FILE  initrd (multiboot: \"mod1 args,mod2\" modules)" },
    { "append", true, set_append, "STRING  kernel command line" },
    { "serial", true, add_serial,
      "DEV  stdio|null|none|file:F|pipe:P|pty|unix:P[,server=on]|"
      "tcp:H:P[,server=on]|chardev:ID" },
    { "chardev", true, add_chardev, "BACKEND,id=ID[,...]" },
    { "drive", true, add_drive,
      "file=FILE[,format=raw][,if=none|virtio|ide][,id=][,cache=][,aio=]"
      "[,readonly=on]..." },
    { "blockdev", true, add_blockdev,
      "driver=file|raw|qcow2,node-name=N[,file=NODE|file.driver=..."
      "][,backing=null|NODE]..." },
    { "object", true, add_object,
      "iothread,id=ID[,poll-max-ns=N][,poll-grow=N][,poll-shrink=N]"
      "[,aio-max-batch=N]\n"
      "                an I/O thread for devices' iothread= (-object help)" },
    { "snapshot", false, set_snapshot,
      "write to temporary overlays, never to the -drive images" },
    { "hda", true, add_hda, "FILE  the first IDE disk (also: a bare FILE)" },
    { "hdb", true, add_hdb, "FILE  the second IDE disk" },
    { "hdc", true, add_hdc, "FILE  the third IDE disk" },
    { "hdd", true, add_hdd, "FILE  the fourth IDE disk" },
    { "cdrom", true, add_cdrom, "FILE  the IDE CD-ROM (index 2)" },
    { "nic", true, add_nic,
      "user|tap|none[,model=NAME][,mac=][,backend options]  a NIC and its "
      "backend" },
    { "net", true, add_net,
      "nic[,model=NAME][,mac=]|user|tap[,...]|none  legacy NIC and backend, "
      "paired in order" },
    { "netdev", true, add_netdev,
      "user|tap,id=ID[,...]  a network backend (-netdev help)" },
    { "debugcon", true, set_debugcon, "DEV  debug console on port 0xe9" },
    { "device", true, add_device, "DRIVER[,prop=value...] (-device help)" },
    { "global", true, add_global,
      "DRIVER.PROP=VALUE  default of PROP for every DRIVER device" },
    { "nographic", false, set_nographic, "serial on the terminal, no window" },
    { "display", true, set_display,
      "none|sdl[,full-screen=on][,window-close=off][,show-cursor=on]"
      "[,grab-mod=rctrl]\n"
      "                |vnc=SPEC  the display (-display help); default: an "
      "SDL2 window\n                when X11 or Wayland is there, else none" },
    { "vnc", true, set_vnc,
      "[HOST]:N|unix:PATH|none[,password=on]  a VNC server on port "
      "5900+N" },
    { "k", true, set_keyboard_layout,
      "LAYOUT  the keyboard layout of VNC clients without QEMU's extended "
      "key\n                event (de, fr, en-us...)" },
    { "full-screen", false, set_full_screen, "start the window full screen" },
    { "no-quit", false, set_no_quit,
      "closing the window does not end Vireo (window-close=off)" },
    { "vga", true, set_vga, "std|none  the display card (-vga help)" },
    { "nodefaults", false, set_nodefaults, "no default devices" },
    { "boot", true, set_boot,
      "[order=]DRIVES[,once=DRIVES][,menu=on|off][,splash=FILE]"
      "[,splash-time=MS]\n"
      "                [,reboot-timeout=MS][,strict=on|off]  firmware boot "
      "order (a-p: c disk,\n                d CD-ROM, n network)" },
    { "smbios", true, add_smbios,
      "file=BINARY | type=0|1|2|3|4|11|17[,field=value...]  SMBIOS data" },
    { "fw_cfg", true, add_fw_cfg,
      "[name=]opt/NAME,file=PATH|string=STR  a file for the firmware" },
    { "no-hpet", false, set_no_hpet, "no HPET (same as -machine hpet=off)" },
    { "no-reboot", false, set_no_reboot, "exit instead of rebooting" },
    { "S", false, set_start_paused, "start paused (until QMP cont)" },
    { "s", false, set_gdb_default, "shorthand for -gdb " GDBSTUB_DEFAULT_DEVICE },
    { "gdb", true, set_gdb,
      "DEV  wait for gdb on DEV (tcp:[HOST]:PORT, unix:PATH,server=on, "
      "...)" },
    { "qmp", true, add_qmp,
      "DEV  QMP on DEV: unix:PATH,server=on,wait=off | tcp:HOST:PORT,... | "
      "stdio" },
    { "qmp-pretty", true, add_qmp_pretty, "DEV  QMP with indented JSON" },
    { "monitor", true, add_hmp, "DEV  the human monitor on DEV" },
    { "mon", true, add_mon,
      "chardev=ID[,mode=readline|control][,pretty=on|off]" },
    { "uuid", true, set_uuid, "UUID  the VM's UUID (SMBIOS, query-uuid)" },
    { "rtc", true, set_rtc,
      "[base=utc|localtime|DATE][,clock=host|rt|vm][,driftfix=none|slew]\n"
      "                the RTC's start time (DATE: 2006-06-17T16:01:21 or "
      "2006-06-17, UTC)\n"
      "                and the clock it follows (vm: stops while paused)" },
    { "action", true, set_action,
      "reboot=reset|shutdown,shutdown=poweroff|pause,panic=..." },
    { "no-shutdown", false, set_no_shutdown,
      "pause instead of exiting on guest poweroff" },
    { "name", true, set_name, "NAME[,process=P][,debug-threads=on|off]" },
    { "pidfile", true, set_pidfile, "FILE  write the process ID to FILE" },
    { "daemonize", false, set_daemonize, "run in the background" },
    { "sandbox", true, set_sandbox,
      "on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]"
      "\n                [,spawn=allow|deny][,resourcecontrol=allow|deny]  a "
      "seccomp filter\n                refusing system calls a VMM never "
      "needs (docs/sandbox.md)" },
    { "secure", false, set_secure,
      "the sandbox on with every group denied (also --secure)" },
    { "run-with", true, set_run_with,
      "[user=USER|UID:GID][,chroot=DIR]  drop root once start-up is done" },
    { "runas", true, set_runas, "USER  same as -run-with user=USER" },
    { "chroot", true, set_chroot, "DIR  same as -run-with chroot=DIR" },
    { "d", true, set_log_items, "ITEM,...  debug log items (-d help)" },
    { "D", true, set_log_file, "FILE  debug log file" },
    { "qtest", true, set_qtest,
      "DEV  serve QEMU's qtest protocol on DEV (unix:PATH connects, stdio); "
      "implies\n                -accel qtest" },
    { "qtest-log", true, set_qtest_log,
      "FILE|none  log the qtest protocol (default: stderr)" },
    { "incoming", true, set_incoming,
      "tcp:HOST:PORT|unix:PATH|exec:CMD|file:PATH[,offset=N]|defer\n"
      "                wait for the VM's state from a migration (defer: "
      "until QMP\n                migrate-incoming)" },
    { "loadvm", true, set_loadvm,
      "TAG  start from the internal snapshot TAG (savevm) of the disks" },
    { "dump-vmstate", true, dump_vmstate,
      "FILE  write the devices' migration state descriptions (JSON) and "
      "exit" },
};

void cmdline_print_help(void)
{
    printf("usage: vireo [options]\n\nVireo, an x86-64 PC emulator running "
           "guests under KVM.\n\nOptions:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
        if (options[i].help) {
            printf("  -%-12s %s\n", options[i].name, options[i].help);
        }
    }
}

static void vm_options_init(VMOptions *o)
{
    memset(o, 0, sizeof(*o));
    display_options_init(&o->display);
    o->machine.machine_type = "pc";
    o->machine.cpu_model = "host";
    o->machine.ram_size = 128ULL << 20;
    o->machine.smp_cpus = o->machine.smp_max_cpus = 1;
    o->machine.sockets = o->machine.cores = o->machine.threads = 1;
    o->machine.acpi = true;
    o->machine.devices = g_ptr_array_new();
    o->machine.boot_splash_time = -1;
    o->machine.boot_reboot_timeout = -1;
    o->machine.smbios = g_ptr_array_new();
    o->machine.fw_cfg_files = g_ptr_array_new();
    o->accels = g_ptr_array_new();
    o->chardevs = g_ptr_array_new();
    o->serials = g_ptr_array_new();
    o->netdevs = g_ptr_array_new();
    o->drives = g_ptr_array_new();
    o->blockdevs = g_ptr_array_new();
    o->objects = g_ptr_array_new();
    o->owned = g_ptr_array_new_with_free_func(g_free);
    o->nics = g_ptr_array_new();
    o->nets = g_ptr_array_new();
    o->monitors = g_array_new(FALSE, TRUE, sizeof(MonitorConfig));
    o->default_monitor = true;
    sandbox_config_init(&o->sandbox);
}

void vm_options_free(VMOptions *o)
{
    g_ptr_array_free(o->machine.devices, TRUE);
    g_ptr_array_free(o->machine.smbios, TRUE);
    g_ptr_array_free(o->machine.fw_cfg_files, TRUE);
    g_ptr_array_free(o->accels, TRUE);
    g_ptr_array_free(o->chardevs, TRUE);
    g_ptr_array_free(o->serials, TRUE);
    g_ptr_array_free(o->netdevs, TRUE);
    g_ptr_array_free(o->drives, TRUE);
    g_ptr_array_free(o->blockdevs, TRUE);
    g_ptr_array_free(o->objects, TRUE);
    g_ptr_array_free(o->owned, TRUE);
    g_ptr_array_free(o->nics, TRUE);
    g_ptr_array_free(o->nets, TRUE);
    g_array_free(o->monitors, TRUE);
    display_options_free(&o->display);
    runas_config_free(&o->runas);
}

bool cmdline_parse(int argc, char **argv, VMOptions *o,
                   CmdlineAction *action, GError **errp)
{
    vm_options_init(o);
    *action = CMDLINE_RUN;
    for (int i = 1; i < argc && *action == CMDLINE_RUN; i++) {
        const char *arg = argv[i];
        const OptionDef *def = NULL;

        if (arg[0] != '-') {
            /* QEMU: a bare image is -hda */
            add_drive_at(o, arg, 0, "disk");
            continue;
        }
        const char *name = arg + 1 + (arg[1] == '-');
        for (size_t j = 0; j < G_N_ELEMENTS(options); j++) {
            if (!strcmp(options[j].name, name)) {
                def = &options[j];
                break;
            }
        }
        if (!def) {
            g_set_error(errp, VIREO_ERROR, 0, "%s: invalid option", arg);
            return false;
        }
        const char *val = NULL;
        if (def->has_arg) {
            if (i + 1 >= argc) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "%s: requires an argument", arg);
                return false;
            }
            val = argv[++i];
        }
        if (!def->handler(o, val, action, errp)) {
            return false;
        }
    }
    /* QEMU: -qtest alone means the qtest accelerator */
    if (o->qtest && o->accels->len == 0) {
        g_ptr_array_add(o->accels, (gpointer)"qtest");
    }
    return true;
}
