/*
 * Dropping root after start-up (-run-with user=,chroot=, -runas, -chroot),
 * as QEMU does: the new root first, while we may still chroot, then the
 * supplementary groups, the group and the user.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "system/runas.h"
#include "util/opts.h"

/* UID:GID, both plain numbers; -1 (the "no change" id) is refused. */
static bool parse_uid_gid(const char *s, uid_t *uid, gid_t *gid)
{
    const char *colon = strchr(s, ':');
    uint64_t u, g;

    if (!colon || colon == s) {
        return false;
    }
    g_autofree char *left = g_strndup(s, colon - s);
    if (!parse_uint(left, &u, NULL) || !parse_uint(colon + 1, &g, NULL) ||
        u >= (uid_t)-1 || g >= (gid_t)-1) {
        return false;
    }
    *uid = u;
    *gid = g;
    return true;
}

/* The user's supplementary groups, from the group database as it is now. */
static void lookup_groups(RunAsConfig *r, const char *name)
{
    int n = 32;

    for (;;) {
        gid_t *groups = g_new(gid_t, n);
        int got = n;
        if (getgrouplist(name, r->gid, groups, &got) >= 0) {
            r->groups = groups;
            r->ngroups = got;
            return;
        }
        g_free(groups);
        if (got <= n) {
            break; /* an error other than "too small" */
        }
        n = got;
    }
    /* only the primary group, as for UID:GID */
    r->groups = g_new(gid_t, 1);
    r->groups[0] = r->gid;
    r->ngroups = 1;
}

bool runas_set_user(RunAsConfig *r, const char *user, const char *what,
                    GError **errp)
{
    struct passwd *pw = getpwnam(user);

    g_free(r->groups);
    r->groups = NULL;
    if (pw) {
        r->uid = pw->pw_uid;
        r->gid = pw->pw_gid;
        lookup_groups(r, pw->pw_name);
    } else if (parse_uid_gid(user, &r->uid, &r->gid)) {
        r->groups = g_new(gid_t, 1);
        r->groups[0] = r->gid;
        r->ngroups = 1;
    } else {
        /* QEMU's wording */
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: User \"%s\" doesn't exist "
                    "(and is not <uid>:<gid>)",
                    what, user);
        return false;
    }
    g_free(r->user_what);
    r->user_what = g_strdup(what);
    r->change_user = true;
    return true;
}

bool runas_set_chroot(RunAsConfig *r, const char *dir, const char *what,
                      GError **errp)
{
    struct stat st;

    /* checked now, before the rest of start-up, and again by chroot(2) */
    if (stat(dir, &st) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: %s", what, g_strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: not a directory", what);
        return false;
    }
    g_free(r->chroot_dir);
    g_free(r->chroot_what);
    r->chroot_dir = g_strdup(dir);
    r->chroot_what = g_strdup(what);
    return true;
}

bool runas_parse_run_with(RunAsConfig *r, const char *arg, GError **errp)
{
    Opts *opts = opts_parse(arg, NULL, errp);
    g_autofree char *what = g_strdup_printf("-run-with %s", arg);
    const char *user, *dir;
    bool ok = false;

    if (!opts) {
        g_prefix_error(errp, "%s: ", what);
        return false;
    }
    user = opts_get(opts, "user");
    dir = opts_get(opts, "chroot");
    if (!opts_check_unused(opts, what, errp)) {
        goto out;
    }
    if (user) {
        g_autofree char *opt = g_strdup_printf("-run-with user=%s", user);
        if (!runas_set_user(r, user, opt, errp)) {
            goto out;
        }
    }
    if (dir) {
        g_autofree char *opt = g_strdup_printf("-run-with chroot=%s", dir);
        if (!runas_set_chroot(r, dir, opt, errp)) {
            goto out;
        }
    }
    ok = true;
out:
    opts_free(opts);
    return ok;
}

/* "Operation not permitted" says little; say what it takes. */
static const char *why(int err)
{
    return err == EPERM ? "Operation not permitted (this needs root)"
                        : g_strerror(err);
}

bool runas_apply(const RunAsConfig *r, GError **errp)
{
    if (r->chroot_dir) {
        if (chroot(r->chroot_dir) < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "%s: %s", r->chroot_what,
                        why(errno));
            return false;
        }
        if (chdir("/") < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "%s: chdir to /: %s",
                        r->chroot_what, g_strerror(errno));
            return false;
        }
    }
    if (!r->change_user) {
        return true;
    }
    /* the groups first: once the user is not root, they cannot change */
    if (setgroups(r->ngroups, r->groups) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: setgroups: %s", r->user_what,
                    why(errno));
        return false;
    }
    if (setgid(r->gid) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: setgid(%u): %s", r->user_what,
                    (unsigned)r->gid, why(errno));
        return false;
    }
    if (setuid(r->uid) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: setuid(%u): %s", r->user_what,
                    (unsigned)r->uid, why(errno));
        return false;
    }
    /* QEMU's check: a user other than root must not get root back */
    if (r->uid != 0 && setuid(0) == 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: Dropping privileges failed",
                    r->user_what);
        return false;
    }
    return true;
}

void runas_config_free(RunAsConfig *r)
{
    g_free(r->user_what);
    g_free(r->groups);
    g_free(r->chroot_dir);
    g_free(r->chroot_what);
    memset(r, 0, sizeof(*r));
}
