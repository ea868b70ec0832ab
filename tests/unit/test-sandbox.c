/* -sandbox, --secure and -run-with as users type them: what each accepts,
 * what it turns on and how it refuses bad input. */
#include <string.h>

#include "system/runas.h"
#include "system/sandbox.h"

#define ALL_GROUPS (SANDBOX_DEFAULT | SANDBOX_OBSOLETE | SANDBOX_ELEVATE | \
                    SANDBOX_SPAWN | SANDBOX_RESOURCECTL)

static void test_sandbox_on_has_qemu_defaults(void)
{
    SandboxConfig sc;

    sandbox_config_init(&sc);
    g_assert_false(sc.enabled);
    g_assert_true(sandbox_parse(&sc, "on", NULL));
    g_assert_true(sc.enabled);
    /* QEMU: obsolete is denied unless allowed; the rest allowed */
    g_assert_cmphex(sc.deny, ==, SANDBOX_DEFAULT | SANDBOX_OBSOLETE);
    g_assert_false(sc.no_new_privs);
    g_assert_cmpstr(sc.origin, ==, "-sandbox on");
}

static void test_sandbox_groups(void)
{
    SandboxConfig sc;

    sandbox_config_init(&sc);
    g_assert_true(sandbox_parse(&sc, "on,obsolete=allow,"
                                "elevateprivileges=children,spawn=deny,"
                                "resourcecontrol=deny", NULL));
    g_assert_cmphex(sc.deny, ==, SANDBOX_DEFAULT | SANDBOX_ELEVATE |
                    SANDBOX_SPAWN | SANDBOX_RESOURCECTL);
    g_assert_true(sc.no_new_privs);
    g_assert_true(sandbox_parse(&sc, "on,elevateprivileges=deny", NULL));
    g_assert_true(sc.deny & SANDBOX_ELEVATE);
    g_assert_false(sc.no_new_privs);
    g_assert_true(sandbox_parse(&sc, "enable=off", NULL));
    g_assert_false(sc.enabled);
}

static void test_secure_then_adjust(void)
{
    SandboxConfig sc;

    sandbox_config_init(&sc);
    sandbox_set_secure(&sc);
    g_assert_true(sc.enabled);
    g_assert_cmphex(sc.deny, ==, ALL_GROUPS);
    g_assert_cmpstr(sc.origin, ==, "--secure");
    /* a later -sandbox changes what it names and keeps the rest */
    g_assert_true(sandbox_parse(&sc, "on,spawn=allow", NULL));
    g_assert_true(sc.enabled);
    g_assert_cmphex(sc.deny, ==, ALL_GROUPS & ~SANDBOX_SPAWN);
    g_assert_true(sandbox_parse(&sc, "off", NULL));
    g_assert_false(sc.enabled);
}

static void test_sandbox_bad_input(void)
{
    static const struct {
        const char *arg, *message;
    } cases[] = {
        { "maybe", "-sandbox maybe: Parameter 'enable' expects 'on' or "
                   "'off'" },
        { "on,spawn=yes", "-sandbox on,spawn=yes: invalid argument for "
                          "spawn (expected allow or deny)" },
        { "on,obsolete=children", "-sandbox on,obsolete=children: invalid "
                                  "argument for obsolete (expected allow "
                                  "or deny)" },
        { "on,elevateprivileges=", "-sandbox on,elevateprivileges=: "
                                   "invalid argument for elevateprivileges "
                                   "(expected allow, children or deny)" },
        { "on,kill=deny", "-sandbox on,kill=deny: invalid parameter "
                          "'kill'" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        SandboxConfig sc;

        sandbox_config_init(&sc);
        sandbox_set_secure(&sc);
        g_assert_false(sandbox_parse(&sc, cases[i].arg, &err));
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, cases[i].message);
        /* a refused option changes nothing */
        g_assert_cmphex(sc.deny, ==, ALL_GROUPS);
        g_assert_true(sc.enabled);
    }
}

static void test_runas_uid_gid(void)
{
    RunAsConfig r = { 0 };

    g_assert_true(runas_set_user(&r, "1234:567", "-runas 1234:567", NULL));
    g_assert_true(r.change_user);
    g_assert_cmpuint(r.uid, ==, 1234);
    g_assert_cmpuint(r.gid, ==, 567);
    /* no name, no database: the group alone, as QEMU */
    g_assert_cmpint(r.ngroups, ==, 1);
    g_assert_cmpuint(r.groups[0], ==, 567);
    runas_config_free(&r);
}

static void test_runas_name(void)
{
    RunAsConfig r = { 0 };
    bool has_primary = false;

    g_assert_true(runas_set_user(&r, "root", "-runas root", NULL));
    g_assert_cmpuint(r.uid, ==, 0);
    g_assert_cmpuint(r.gid, ==, 0);
    g_assert_cmpint(r.ngroups, >=, 1);
    for (int i = 0; i < r.ngroups; i++) {
        has_primary |= r.groups[i] == 0;
    }
    g_assert_true(has_primary);
    runas_config_free(&r);
}

static void test_runas_bad_user(void)
{
    static const char *const bad[] = {
        "no-such-user-here", "12", "12:", ":12", "1:2:3", "x:1", "1:x",
        "4294967295:0", "0:4294967295", "-1:0", "",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *want = g_strdup_printf(
            "-runas %s: User \"%s\" doesn't exist (and is not "
            "<uid>:<gid>)", bad[i], bad[i]);
        g_autofree char *what = g_strdup_printf("-runas %s", bad[i]);
        RunAsConfig r = { 0 };

        g_assert_false(runas_set_user(&r, bad[i], what, &err));
        g_assert_cmpstr(err->message, ==, want);
        g_assert_false(r.change_user);
        runas_config_free(&r);
    }
}

static void test_run_with(void)
{
    g_autoptr(GError) err = NULL;
    RunAsConfig r = { 0 };

    g_assert_true(runas_parse_run_with(&r, "user=0:0,chroot=/", NULL));
    g_assert_true(r.change_user);
    g_assert_cmpstr(r.chroot_dir, ==, "/");
    g_assert_false(runas_parse_run_with(&r, "chroot=/no/such/dir", &err));
    g_assert_cmpstr(err->message, ==, "-run-with chroot=/no/such/dir: No "
                    "such file or directory");
    g_clear_error(&err);
    g_assert_false(runas_parse_run_with(&r, "chroot=/dev/null", &err));
    g_assert_cmpstr(err->message, ==,
                    "-run-with chroot=/dev/null: not a directory");
    g_clear_error(&err);
    g_assert_false(runas_parse_run_with(&r, "user=0:0,teardown=on", &err));
    g_assert_cmpstr(err->message, ==, "-run-with user=0:0,teardown=on: "
                    "invalid parameter 'teardown'");
    /* the good values stayed */
    g_assert_cmpstr(r.chroot_dir, ==, "/");
    runas_config_free(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sandbox/on-has-qemu-defaults",
                    test_sandbox_on_has_qemu_defaults);
    g_test_add_func("/sandbox/groups", test_sandbox_groups);
    g_test_add_func("/sandbox/secure-then-adjust", test_secure_then_adjust);
    g_test_add_func("/sandbox/bad-input", test_sandbox_bad_input);
    g_test_add_func("/runas/uid-gid", test_runas_uid_gid);
    g_test_add_func("/runas/name", test_runas_name);
    g_test_add_func("/runas/bad-user", test_runas_bad_user);
    g_test_add_func("/runas/run-with", test_run_with);
    return g_test_run();
}
