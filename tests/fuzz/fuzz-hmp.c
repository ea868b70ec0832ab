/*
 * libFuzzer target for the human monitor: each line of the input is an
 * HMP command line, run by hmp_execute as the interactive monitor and
 * human-monitor-command run them, against a pc machine under qtest with
 * an IDE disk and CD, virtio-net and virtio-balloon (so that info block,
 * eject, set_link and balloon have something to act on). Commands that
 * reach the host's files, sockets or processes by design (change,
 * gdbserver, migrate, migrate_incoming, screendump) are skipped: what
 * they open is the user's choice, not hostile input. The machine is reset
 * between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-qtest.h"
#include "monitor/monitor.h"
#include "system/runstate.h"
#include "system/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const FuzzDrive drives[] = {
    { "file=%s,format=raw,if=none,id=fz-disk", 1024, 0 },
    { "file=%s,format=raw,if=none,id=fz-cd,media=cdrom,readonly=on", 1024,
      0 },
    { NULL },
};
static const char *const devices[] = {
    "ide-hd,drive=fz-disk,bus=ide.0,unit=0",
    "ide-cd,drive=fz-cd,bus=ide.1,unit=0",
    "virtio-net-pci,netdev=fz-net,id=fz-nic",
    "virtio-balloon-pci,id=fz-balloon",
    NULL,
};
static const FuzzProfile hmp_machine = {
    .target = "fuzz-hmp", .machine = "pc", .drives = drives,
    .devices = devices,
};

/* Whether line's command word (as hmp_run reads it) is one we skip. */
static bool host_facing(const char *line)
{
    static const char *const skip[] = {
        "change", "gdbserver", "migrate", "migrate_incoming", "screendump",
    };
    size_t len;

    line += strspn(line, " \t");
    len = strcspn(line, " \t/");
    for (size_t i = 0; i < G_N_ELEMENTS(skip); i++) {
        if (len == strlen(skip[i]) && !memcmp(line, skip[i], len)) {
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Machine *m;
    g_autoptr(GError) err = NULL;
    g_autofree char *text = g_strndup((const char *)data, size);
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    int status;

    if (!m) {
        m = fuzz_machine_create(&hmp_machine);
        /* the lines must reach the commands */
        hmp_execute("info block", out);
        if (!strstr(out->str, "fz-cd")) {
            fprintf(stderr, "fuzz-hmp: info block: '%s'\n", out->str);
            abort();
        }
        g_string_truncate(out, 0);
    }
    /* a NUL ends the text as it ends a line from the monitor's readline */
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!host_facing(*l)) {
            hmp_execute(*l, out);
            g_string_truncate(out, 0);
            fuzz_main_loop_run();
        }
    }
    /* quit, system_reset and the like only leave requests behind */
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
    if (runstate_is_running()) {
        vm_stop(m, RUN_STATE_PAUSED);
    }
    if (!machine_reset(m, &err)) {
        fuzz_fail("fuzz-hmp", err);
    }
    return 0;
}
