/* Option strings and the command line: what users type, what we accept. */
#include <string.h>

#include "system/cmdline.h"
#include "util/opts.h"

static void test_opts_escaped_comma(void)
{
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse("file:a,,b,server=on,wait=off", "path", &err);

    g_assert_no_error(err);
    g_assert_cmpstr(opts_get(o, "path"), ==, "file:a,b");
    g_assert_cmpstr(opts_get(o, "server"), ==, "on");
    g_assert_cmpstr(opts_get(o, "wait"), ==, "off");
    g_assert_true(opts_check_unused(o, "x", &err));
    opts_free(o);
}

static void test_opts_repeated_key(void)
{
    Opts *o = opts_parse("user,id=n0,hostfwd=tcp::1-:2,hostfwd=udp::3-:4,"
                         "id=n1", "type", NULL);
    GPtrArray *all = opts_get_all(o, "hostfwd");

    g_assert_cmpstr(opts_get(o, "id"), ==, "n1");   /* the last wins */
    g_assert_cmpuint(all->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(all, 0), ==, "tcp::1-:2");
    g_assert_cmpstr(g_ptr_array_index(all, 1), ==, "udp::3-:4");
    opts_get(o, "type");
    g_assert_true(opts_check_unused(o, "-netdev", NULL));
    g_ptr_array_free(all, TRUE);
    opts_free(o);
}

static void test_opts_unused_is_named(void)
{
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse("cpus=2,bogus=1", "cpus", &err);

    opts_get(o, "cpus");
    g_assert_false(opts_check_unused(o, "-smp", &err));
    g_assert_nonnull(strstr(err->message, "bogus"));
    opts_free(o);
}

static void test_parse_size_suffixes(void)
{
    uint64_t v;
    g_assert_true(parse_size("512", 1 << 20, &v, NULL));
    g_assert_cmpuint(v, ==, 512ULL << 20);
    g_assert_true(parse_size("5G", 1 << 20, &v, NULL));
    g_assert_cmpuint(v, ==, 5ULL << 30);
    g_assert_true(parse_size("1.5g", 1 << 20, &v, NULL));
    g_assert_cmpuint(v, ==, 3ULL << 29);
    g_assert_false(parse_size("-1", 1, &v, NULL));
    g_assert_false(parse_size("12Q", 1, &v, NULL));
    g_assert_false(parse_size("", 1, &v, NULL));
    g_assert_false(parse_size("99999999999E", 1, &v, NULL));
}

static bool parse(VMOptions *o, GError **err, ...)
{
    va_list ap;
    const char *argv[32] = { "vireo" };
    int argc = 1;
    CmdlineAction action;

    va_start(ap, err);
    while ((argv[argc] = va_arg(ap, const char *))) {
        argc++;
    }
    va_end(ap);
    return cmdline_parse(argc, (char **)argv, o, &action, err);
}

static void test_cmdline_memory_and_smp(void)
{
    g_autoptr(GError) err = NULL;
    VMOptions o;

    g_assert_true(parse(&o, &err, "-m", "6G", "-smp", "4", "-M", "microvm",
                        "-enable-kvm", "-cpu", "host", NULL));
    g_assert_cmpuint(o.machine.ram_size, ==, 6ULL << 30);
    g_assert_cmpint(o.machine.smp_cpus, ==, 4);
    g_assert_cmpint(o.machine.cores, ==, 4);
    g_assert_cmpstr(o.machine.machine_type, ==, "microvm");
    vm_options_free(&o);

    g_assert_true(parse(&o, &err, "-smp", "cpus=8,sockets=2,threads=2",
                        "-m", "size=1024", NULL));
    g_assert_cmpint(o.machine.sockets, ==, 2);
    g_assert_cmpint(o.machine.cores, ==, 2);
    g_assert_cmpint(o.machine.threads, ==, 2);
    g_assert_cmpuint(o.machine.ram_size, ==, 1ULL << 30);
    vm_options_free(&o);
}

static void expect_error(const char *needle, ...)
{
    g_autoptr(GError) err = NULL;
    const char *argv[32] = { "vireo" };
    int argc = 1;
    va_list ap;
    VMOptions o;
    CmdlineAction action;

    va_start(ap, needle);
    while ((argv[argc] = va_arg(ap, const char *))) {
        argc++;
    }
    va_end(ap);
    g_assert_false(cmdline_parse(argc, (char **)argv, &o, &action, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, needle)) {
        g_error("'%s' does not mention '%s'", err->message, needle);
    }
    vm_options_free(&o);
}

static void test_cmdline_errors_name_the_option(void)
{
    expect_error("-m 0", "-m", "0", NULL);
    expect_error("-m lots", "-m", "lots", NULL);
    expect_error("-smp 0", "-smp", "0", NULL);
    expect_error("maxcpus", "-smp", "cpus=4,sockets=3,cores=1", NULL);
    expect_error("-bogus", "-bogus", NULL);
    expect_error("-kernel", "-kernel", NULL);
    expect_error("-cpu qemu64", "-cpu", "qemu64", NULL);
    expect_error("-display gtk", "-display", "gtk", NULL);
    expect_error("-display sdl", "-display", "sdl,gl=on", NULL);
    expect_error("invalid parameter 'foo'", "-display", "none,foo=1", NULL);
    expect_error("-machine pc,foo=1", "-machine", "pc,foo=1", NULL);
    expect_error("-serial", "-serial", "null", "-serial", "null", "-serial",
                 "null", "-serial", "null", "-serial", "null", NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/opts/escaped-comma", test_opts_escaped_comma);
    g_test_add_func("/opts/unused-is-named", test_opts_unused_is_named);
    g_test_add_func("/opts/repeated-key", test_opts_repeated_key);
    g_test_add_func("/opts/size-suffixes", test_parse_size_suffixes);
    g_test_add_func("/cmdline/memory-and-smp", test_cmdline_memory_and_smp);
    g_test_add_func("/cmdline/errors-name-the-option",
                    test_cmdline_errors_name_the_option);
    return g_test_run();
}
