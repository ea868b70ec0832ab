/*
 * -run-with user=,chroot= (and QEMU's older -runas, -chroot): give up root
 * once every file, device and socket Vireo needs is open.
 */
#ifndef SYSTEM_RUNAS_H
#define SYSTEM_RUNAS_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct RunAsConfig {
    bool change_user;
    char *user_what; /* the option that set it, for messages */
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups, looked up at parse time */
    int ngroups;
    char *chroot_dir;
    char *chroot_what;
} RunAsConfig;

/*
 * USER is a name from the password database or UID:GID. A name is looked
 * up now, with its groups, since the new root may have no /etc/passwd.
 * what names the option for messages ("-runas", "-run-with user=...").
 */
bool runas_set_user(RunAsConfig *r, const char *user, const char *what,
                    GError **errp);
/* DIR must be a directory now; it becomes / when privileges drop. */
bool runas_set_chroot(RunAsConfig *r, const char *dir, const char *what,
                      GError **errp);
/* -run-with [user=USER][,chroot=DIR] */
bool runas_parse_run_with(RunAsConfig *r, const char *arg, GError **errp);

/*
 * chroot, then the groups, group and user; fails if root could be taken
 * back. Called after start-up opened everything and before the guest runs.
 */
bool runas_apply(const RunAsConfig *r, GError **errp);
void runas_config_free(RunAsConfig *r);

#endif
