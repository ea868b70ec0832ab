/* The command line, parsed into a MachineConfig and process options. */
#ifndef SYSTEM_CMDLINE_H
#define SYSTEM_CMDLINE_H

#include <glib.h>
#include <stdbool.h>

#include "hw/i386/x86.h"
#include "system/runas.h"
#include "system/sandbox.h"
#include "ui/display.h"

typedef enum CmdlineAction {
    CMDLINE_RUN,
    CMDLINE_EXIT_OK,    /* help or version was printed */
} CmdlineAction;

/* -qmp, -monitor and -mon, in command-line order. */
typedef struct MonitorConfig {
    const char *spec;       /* -qmp/-monitor SPEC, or NULL with chardev */
    const char *chardev;    /* -mon chardev=ID */
    bool qmp;               /* mode=control */
    bool pretty;
} MonitorConfig;

/* -action panic=: what a guest panic does (pvpanic, later). */
typedef enum PanicAction {
    PANIC_ACTION_SHUTDOWN,
    PANIC_ACTION_PAUSE,
    PANIC_ACTION_EXIT_FAILURE,
    PANIC_ACTION_NONE,
} PanicAction;

typedef struct VMOptions {
    MachineConfig machine;
    GPtrArray *accels;          /* -accel names, in order of preference */
    GPtrArray *chardevs;        /* -chardev option strings */
    GPtrArray *netdevs;         /* -netdev option strings */
    GPtrArray *drives;          /* -drive option strings */
    GPtrArray *blockdevs;       /* -blockdev option strings */
    GPtrArray *objects;         /* -object option strings (iothreads) */
    GPtrArray *owned;           /* strings made here (-hda...), g_free'd */
    bool snapshot;              /* -snapshot */
    GPtrArray *nics;            /* -nic option strings */
    GPtrArray *nets;            /* -net option strings (nic, user, tap) */
    GPtrArray *serials;         /* -serial specs */
    const char *debugcon;       /* -debugcon spec */
    bool nographic;
    DisplayOptions display;     /* -display, -vnc, -full-screen, -k */
    bool no_reboot;
    bool no_shutdown;
    PanicAction panic_action;
    bool start_paused;          /* -S */
    GArray *monitors;           /* of MonitorConfig */
    bool default_monitor;       /* no -monitor/-qmp/-mon given */
    bool daemonize;
    const char *name;
    const char *process_name;
    const char *pidfile;
    const char *log_items;      /* -d */
    const char *log_file;       /* -D */
    const char *qtest;          /* -qtest SPEC: the qtest protocol's chardev */
    const char *qtest_log;      /* -qtest-log FILE|none */
    const char *incoming;       /* -incoming URI|defer */
    const char *loadvm;         /* -loadvm TAG */
    const char *gdb;            /* -gdb DEV, -s: the gdb stub's chardev */
    SandboxConfig sandbox;      /* -sandbox, --secure */
    RunAsConfig runas;          /* -run-with, -runas, -chroot */
} VMOptions;

/*
 * Fills opts from argv. Errors name the option; "help"-style options print
 * to stdout and return CMDLINE_EXIT_OK.
 */
bool cmdline_parse(int argc, char **argv, VMOptions *opts,
                   CmdlineAction *action, GError **errp);
void vm_options_free(VMOptions *opts);
void cmdline_print_help(void);

#endif
