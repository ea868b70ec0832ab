/* The command line, parsed into a MachineConfig and process options. */
#ifndef SYSTEM_CMDLINE_H
#define SYSTEM_CMDLINE_H

#include <glib.h>
#include <stdbool.h>

#include "hw/i386/x86.h"

typedef enum CmdlineAction {
    CMDLINE_RUN,
    CMDLINE_EXIT_OK,    /* help or version was printed */
} CmdlineAction;

typedef struct VMOptions {
    MachineConfig machine;
    GPtrArray *accels;          /* -accel names, in order of preference */
    GPtrArray *chardevs;        /* -chardev option strings */
    GPtrArray *serials;         /* -serial specs */
    const char *debugcon;       /* -debugcon spec */
    bool nographic;
    bool display_none;
    bool no_reboot;
    bool no_shutdown;
    bool daemonize;
    const char *name;
    const char *process_name;
    const char *pidfile;
    const char *log_items;      /* -d */
    const char *log_file;       /* -D */
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
