/*
 * The machine the fuzz targets share: built once from a profile
 * (fuzz-qtest.h) under the qtest accelerator, with null chardevs,
 * two restricted user-mode networks (fz-net, fz-net2) and scratch images
 * for its drives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "chardev/char.h"
#include "fuzz-qtest.h"
#include "net/net.h"
#include "system/timer.h"
#include "system/vm.h"

void fuzz_fail(const char *target, GError *err)
{
    fprintf(stderr, "%s: %s\n", target, err->message);
    abort();
}

static gint poll_unlocked(GPollFD *fds, guint nfds, gint timeout)
{
    bql_unlock();
    gint r = g_poll(fds, nfds, timeout);
    bql_lock();
    return r;
}

/* A scratch image for drive d, filled with d->fill. */
static char *scratch_image(const FuzzDrive *d)
{
    char path[] = "/tmp/vireo-fuzz-disk-XXXXXX";
    int fd = mkstemp(path);
    size_t size = (size_t)d->size_kib << 10;
    g_autofree uint8_t *buf = g_malloc(size);

    memset(buf, d->fill, size);
    if (fd < 0 || write(fd, buf, size) != (ssize_t)size) {
        abort();
    }
    close(fd);
    return g_strdup(path);
}

Machine *fuzz_machine_create(const FuzzProfile *p)
{
    static const char *const chardevs[] = {
        "fz-serial", "fz-con", "fz-port", "fz-port2",
    };
    MachineConfig cfg = {
        .machine_type = p->machine, .cpu_model = "host", .accel = "qtest",
        .ram_size = (uint64_t)(p->ram_mib ? p->ram_mib : 64) << 20,
        .smp_cpus = 1, .smp_max_cpus = 1, .sockets = 1, .cores = 1,
        .threads = 1, .acpi = true, .nodefaults = true, .vga = p->vga,
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func(g_free);
    Machine *m;

    if (p->serial) {
        cfg.serial[0] = "fz-serial";
        cfg.debugcon = "fz-con";
    }
    bql_lock();
    g_main_context_set_poll_func(NULL, poll_unlocked);
    timers_init();
    for (size_t i = 0; i < G_N_ELEMENTS(chardevs); i++) {
        if (!chardev_new_from_spec(chardevs[i], "null", &err)) {
            fuzz_fail(p->target, err);
        }
    }
    for (const FuzzDrive *d = p->drives; d && d->opts; d++) {
        char *path = scratch_image(d);
        g_ptr_array_add(images, path);
        g_autofree char *opts = g_strdup_printf(d->opts, path);
        if (!blk_new_from_drive_opts(opts, &err)) {
            fuzz_fail(p->target, err);
        }
    }
    /* two NICs may be given, each its own */
    if (!netdev_new_from_opts("user,id=fz-net,restrict=on", &err) ||
        !netdev_new_from_opts("user,id=fz-net2,restrict=on", &err)) {
        fuzz_fail(p->target, err);
    }
    /* the machine keeps the config, devices included */
    cfg.devices = g_ptr_array_new();
    for (const char *const *d = p->devices; d && *d; d++) {
        g_ptr_array_add(cfg.devices, (gpointer)*d);
    }
    m = machine_create(&cfg, &err);
    if (!m) {
        fuzz_fail(p->target, err);
    }
    /* the open files live on */
    for (guint i = 0; i < images->len; i++) {
        unlink(images->pdata[i]);
    }
    machine_set_current(m);
    return m;
}

void fuzz_main_loop_run(void)
{
    for (int i = 0; i < 64 && g_main_context_iteration(NULL, FALSE); i++) {
    }
}
