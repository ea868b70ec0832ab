/*
 * -sandbox: a seccomp filter that refuses the system calls a VMM has no
 * business making, in QEMU's groups (obsolete, elevateprivileges, spawn,
 * resourcecontrol); --secure denies them all.
 */
#ifndef SYSTEM_SANDBOX_H
#define SYSTEM_SANDBOX_H

#include <glib.h>
#include <stdbool.h>

/* The groups of system calls the filter can refuse (QEMU's sets). */
enum {
    SANDBOX_DEFAULT = 1 << 0,     /* host administration: always denied */
    SANDBOX_OBSOLETE = 1 << 1,    /* obsolete=deny (the default) */
    SANDBOX_ELEVATE = 1 << 2,     /* elevateprivileges=deny|children */
    SANDBOX_SPAWN = 1 << 3,       /* spawn=deny */
    SANDBOX_RESOURCECTL = 1 << 4, /* resourcecontrol=deny */
};

typedef struct SandboxConfig {
    bool enabled;
    unsigned deny;      /* SANDBOX_* groups refused when enabled */
    bool no_new_privs;  /* elevateprivileges=children */
    const char *origin; /* the option that turned it on, for messages */
} SandboxConfig;

/* Off, with QEMU's defaults for when it is turned on (obsolete=deny). */
void sandbox_config_init(SandboxConfig *sc);

/*
 * -sandbox on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|
 * children][,spawn=allow|deny][,resourcecontrol=allow|deny]. Keys left out
 * keep their current value, so a later -sandbox adjusts an earlier one or
 * --secure.
 */
bool sandbox_parse(SandboxConfig *sc, const char *arg, GError **errp);

/* --secure: on, with every group denied. */
void sandbox_set_secure(SandboxConfig *sc);

/*
 * The filter goes in in one or two steps. sandbox_start, before any image,
 * socket or device is set up, refuses every denied group but those in
 * late: the groups start-up itself still needs (SANDBOX_ELEVATE for
 * -run-with user=, SANDBOX_SPAWN for tap scripts and -incoming exec:).
 * sandbox_finish, once privileges are dropped and before the guest and the
 * monitors run, refuses those too. Both apply to every thread, and to
 * threads made later. A Vireo built without libseccomp fails
 * sandbox_start when the sandbox is on.
 */
bool sandbox_start(const SandboxConfig *sc, unsigned late, GError **errp);
bool sandbox_finish(const SandboxConfig *sc, unsigned late, GError **errp);

#endif
