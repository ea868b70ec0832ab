/*
 * -sandbox and --secure: a seccomp deny-list filter (libseccomp) with
 * QEMU's groups and QEMU's meaning for each, so a guest or a monitor client
 * that takes over the process still cannot reboot the host, mount, load
 * modules, change its user, start programs or renice itself.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#include "config.h"
#include "system/sandbox.h"
#include "util/log.h"
#include "util/opts.h"

#ifdef CONFIG_SECCOMP
#include <sched.h>
#include <seccomp.h>
#endif

void sandbox_config_init(SandboxConfig *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->deny = SANDBOX_DEFAULT | SANDBOX_OBSOLETE;
}

void sandbox_set_secure(SandboxConfig *sc)
{
    sc->enabled = true;
    sc->deny = SANDBOX_DEFAULT | SANDBOX_OBSOLETE | SANDBOX_ELEVATE |
               SANDBOX_SPAWN | SANDBOX_RESOURCECTL;
    sc->no_new_privs = false;
    sc->origin = "--secure";
}

/* One key=allow|deny; children (elevateprivileges only) sets *children. */
static bool parse_group(Opts *opts, const char *key, unsigned group,
                        unsigned *deny, bool *children, GError **errp)
{
    const char *v = opts_get(opts, key);

    if (!v) {
        return true;
    }
    if (!strcmp(v, "allow")) {
        *deny &= ~group;
        if (children) {
            *children = false;
        }
    } else if (!strcmp(v, "deny") ||
               (children && !strcmp(v, "children"))) {
        *deny |= group;
        if (children) {
            *children = !strcmp(v, "children");
        }
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "invalid argument for %s (expected allow%s or deny)",
                    key, children ? ", children" : "");
        return false;
    }
    return true;
}

bool sandbox_parse(SandboxConfig *sc, const char *arg, GError **errp)
{
    Opts *opts = opts_parse(arg, "enable", errp);
    g_autofree char *what = g_strdup_printf("-sandbox %s", arg);
    SandboxConfig new = *sc;
    const char *enable;
    bool ok = false;

    if (!opts) {
        return false;
    }
    enable = opts_get(opts, "enable");
    if (enable && !parse_bool(enable, &new.enabled, NULL)) {
        /* QEMU's wording */
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: Parameter 'enable' expects 'on' or 'off'", what);
        goto out;
    }
    if (!parse_group(opts, "obsolete", SANDBOX_OBSOLETE, &new.deny, NULL,
                     errp) ||
        !parse_group(opts, "elevateprivileges", SANDBOX_ELEVATE, &new.deny,
                     &new.no_new_privs, errp) ||
        !parse_group(opts, "spawn", SANDBOX_SPAWN, &new.deny, NULL, errp) ||
        !parse_group(opts, "resourcecontrol", SANDBOX_RESOURCECTL,
                     &new.deny, NULL, errp)) {
        g_prefix_error(errp, "%s: ", what);
        goto out;
    }
    if (!opts_check_unused(opts, what, errp)) {
        goto out;
    }
    if (!new.enabled && !enable) {
        log_warn("%s: the sandbox is off; -sandbox on,... turns it on", what);
    }
    if (enable && new.enabled) {
        new.origin = "-sandbox on";
    }
    *sc = new;
    ok = true;
out:
    opts_free(opts);
    return ok;
}

#ifdef CONFIG_SECCOMP

/* What a rule does to a call it matches. */
typedef enum RuleAction {
    KILL,       /* end the process, as QEMU does: nothing legitimate asks */
    FAIL_EPERM, /* the call fails; the caller reports an error and goes on */
    FAIL_ENOSYS,    /* as if the kernel had no such call (libc falls back) */
} RuleAction;

typedef struct SyscallRule {
    const char *name;
    unsigned group;
    RuleAction action;
} SyscallRule;

/*
 * QEMU's deny-list, group by group, with the calls that do not exist on
 * x86-64 left out and a few that serve the same purpose added (umount2,
 * kexec_file_load, the module calls, setting the clock, setgroups,
 * sched_setattr). The spawn group fails its calls instead of killing
 * (QEMU kills): a monitor command that would start a helper (exec:
 * migration, a tap script) then reports an error and the VM runs on. The
 * clone rules that let threads through but not processes are added by
 * add_clone_rules.
 */
static const SyscallRule rules[] = {
    /* host administration that no VMM does */
    { "reboot", SANDBOX_DEFAULT, KILL },
    { "swapon", SANDBOX_DEFAULT, KILL },
    { "swapoff", SANDBOX_DEFAULT, KILL },
    { "syslog", SANDBOX_DEFAULT, KILL },
    { "mount", SANDBOX_DEFAULT, KILL },
    { "umount2", SANDBOX_DEFAULT, KILL },
    { "pivot_root", SANDBOX_DEFAULT, KILL },
    { "kexec_load", SANDBOX_DEFAULT, KILL },
    { "kexec_file_load", SANDBOX_DEFAULT, KILL },
    { "init_module", SANDBOX_DEFAULT, KILL },
    { "finit_module", SANDBOX_DEFAULT, KILL },
    { "delete_module", SANDBOX_DEFAULT, KILL },
    { "settimeofday", SANDBOX_DEFAULT, KILL },
    { "clock_settime", SANDBOX_DEFAULT, KILL },
    /* never implemented by Linux: only an exploit probes them */
    { "afs_syscall", SANDBOX_DEFAULT, KILL },
    { "getpmsg", SANDBOX_DEFAULT, KILL },
    { "putpmsg", SANDBOX_DEFAULT, KILL },
    { "security", SANDBOX_DEFAULT, KILL },
    { "tuxcall", SANDBOX_DEFAULT, KILL },
    { "vserver", SANDBOX_DEFAULT, KILL },
    /* obsolete: removed from Linux or superseded long ago */
    { "_sysctl", SANDBOX_OBSOLETE, KILL },
    { "create_module", SANDBOX_OBSOLETE, KILL },
    { "get_kernel_syms", SANDBOX_OBSOLETE, KILL },
    { "query_module", SANDBOX_OBSOLETE, KILL },
    { "sysfs", SANDBOX_OBSOLETE, KILL },
    { "uselib", SANDBOX_OBSOLETE, KILL },
    { "ustat", SANDBOX_OBSOLETE, KILL },
    /* elevateprivileges: changing user, group or session */
    { "setuid", SANDBOX_ELEVATE, KILL },
    { "setgid", SANDBOX_ELEVATE, KILL },
    { "setreuid", SANDBOX_ELEVATE, KILL },
    { "setregid", SANDBOX_ELEVATE, KILL },
    { "setresuid", SANDBOX_ELEVATE, KILL },
    { "setresgid", SANDBOX_ELEVATE, KILL },
    { "setfsuid", SANDBOX_ELEVATE, KILL },
    { "setfsgid", SANDBOX_ELEVATE, KILL },
    { "setgroups", SANDBOX_ELEVATE, KILL },
    { "setpgid", SANDBOX_ELEVATE, KILL },
    { "setsid", SANDBOX_ELEVATE, KILL },
    /* spawn: new processes, programs and namespaces */
    { "fork", SANDBOX_SPAWN, FAIL_EPERM },
    { "vfork", SANDBOX_SPAWN, FAIL_EPERM },
    { "execve", SANDBOX_SPAWN, FAIL_EPERM },
    { "execveat", SANDBOX_SPAWN, FAIL_EPERM },
    { "setns", SANDBOX_SPAWN, FAIL_EPERM },
    { "unshare", SANDBOX_SPAWN, FAIL_EPERM },
    /* clone3 keeps its flags in memory, where seccomp cannot look: glibc
     * makes its threads with clone when clone3 is missing */
    { "clone3", SANDBOX_SPAWN, FAIL_ENOSYS },
    /* resourcecontrol: fails, as in QEMU, since libraries (Mesa, SDL)
     * try these and cope with a refusal */
    { "setpriority", SANDBOX_RESOURCECTL, FAIL_EPERM },
    { "sched_setparam", SANDBOX_RESOURCECTL, FAIL_EPERM },
    { "sched_setaffinity", SANDBOX_RESOURCECTL, FAIL_EPERM },
    { "sched_setattr", SANDBOX_RESOURCECTL, FAIL_EPERM },
};

/*
 * A clone that makes a thread, as pthread_create does, shares the memory,
 * files and signal handlers and joins the thread group; anything else
 * (fork, posix_spawn, a new namespace) is a new process.
 */
static const unsigned long clone_thread_flags[] = {
    CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD,
};
static const unsigned long clone_process_flags[] = {
    CLONE_VFORK, CLONE_PARENT, CLONE_PTRACE, CLONE_UNTRACED, CLONE_NEWNS,
    CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET,
};

static uint32_t kill_action(void)
{
    /* API level 3: the kernel can end the whole process, not one thread */
    return seccomp_api_get() >= 3 ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_TRAP;
}

static uint32_t rule_action(RuleAction a)
{
    switch (a) {
    case FAIL_EPERM:
        return SCMP_ACT_ERRNO(EPERM);
    case FAIL_ENOSYS:
        return SCMP_ACT_ERRNO(ENOSYS);
    default:
        return kill_action();
    }
}

/* clone's flags are its first argument on x86-64 */
static int add_clone_rules(scmp_filter_ctx ctx)
{
    int rc = 0;

    for (size_t i = 0; !rc && i < G_N_ELEMENTS(clone_thread_flags); i++) {
        unsigned long f = clone_thread_flags[i];
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, f, 0));
    }
    for (size_t i = 0; !rc && i < G_N_ELEMENTS(clone_process_flags); i++) {
        unsigned long f = clone_process_flags[i];
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
    }
    return rc;
}

static int add_rules(scmp_filter_ctx ctx, unsigned groups)
{
    int rc = 0;

    for (size_t i = 0; !rc && i < G_N_ELEMENTS(rules); i++) {
        int nr = seccomp_syscall_resolve_name(rules[i].name);
        if (!(rules[i].group & groups) || nr == __NR_SCMP_ERROR || nr < 0) {
            continue;   /* not denied, or not a call on this host */
        }
        rc = seccomp_rule_add(ctx, rule_action(rules[i].action), nr, 0);
    }
    if (!rc && (groups & SANDBOX_SPAWN)) {
        rc = add_clone_rules(ctx);
    }
    /* QEMU: lowering a thread to SCHED_IDLE stays allowed */
    if (!rc && (groups & SANDBOX_RESOURCECTL)) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
                              SCMP_SYS(sched_setscheduler), 1,
                              SCMP_A1(SCMP_CMP_NE, SCHED_IDLE));
    }
    return rc;
}

/*
 * Loads a filter refusing groups for every thread of the process (TSYNC);
 * threads made later inherit it. libseccomp sets no_new_privs on the way,
 * which the kernel requires of a process without CAP_SYS_ADMIN.
 */
static bool load_filter(const SandboxConfig *sc, unsigned groups,
                        GError **errp)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    const char *step = "initialise the filter";
    int rc = -ENOMEM;

    if (ctx) {
        step = "apply the filter to every thread";
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    }
    if (!rc) {
        step = "add the rules";
        rc = add_rules(ctx, groups);
    }
    if (!rc) {
        step = "load the filter in the kernel";
        rc = seccomp_load(ctx);
    }
    seccomp_release(ctx);
    if (rc) {
        /* TSYNC reports a thread it could not synchronise as rc > 0 */
        g_set_error(errp, VIREO_ERROR, 0, "%s: cannot %s: %s", sc->origin,
                    step, rc < 0 ? g_strerror(-rc)
                                 : "a thread has a filter of its own");
        return false;
    }
    return true;
}

bool sandbox_start(const SandboxConfig *sc, unsigned late, GError **errp)
{
    if (!sc->enabled) {
        return true;
    }
    /* children: helpers cannot gain privileges through set-user-ID
     * programs (any filter sets this too; said here as QEMU does) */
    if (sc->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: no_new_privs: %s",
                    sc->origin, g_strerror(errno));
        return false;
    }
    return load_filter(sc, sc->deny & ~late, errp);
}

bool sandbox_finish(const SandboxConfig *sc, unsigned late, GError **errp)
{
    if (!sc->enabled || !(sc->deny & late)) {
        return true;
    }
    return load_filter(sc, sc->deny & late, errp);
}

#else /* !CONFIG_SECCOMP */

bool sandbox_start(const SandboxConfig *sc, unsigned late, GError **errp)
{
    if (sc->enabled) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: this Vireo was built without "
                    "seccomp support", sc->origin);
        return false;
    }
    return true;
}

bool sandbox_finish(const SandboxConfig *sc, unsigned late, GError **errp)
{
    return true;
}

#endif
