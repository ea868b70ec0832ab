/*
 * blkdebug's rules: QEMU's config file and inline syntax, hostile configs
 * (each a clear error naming the file and line, never a crash), matching
 * by event, sector, iotype and state, once=on, and nodes over raw and
 * qcow2 images where the format drivers raise the events.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "block/blkdebug.h"
#include "block/block_int.h"

static BlkdebugRules *parse_ok(const char *text)
{
    BlkdebugRules *r = blkdebug_rules_new();
    GError *err = NULL;

    g_assert_true(blkdebug_rules_parse_config(r, text, "t.conf", &err));
    g_assert_no_error(err);
    return r;
}

static void parse_fails(const char *text, const char *want)
{
    BlkdebugRules *r = blkdebug_rules_new();
    GError *err = NULL;

    g_assert_false(blkdebug_rules_parse_config(r, text, "t.conf", &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, want)) {
        g_error("config %s: got '%s', want '%s'", text, err->message, want);
    }
    g_assert_cmpint(blkdebug_rules_count(r), ==, 0);
    g_error_free(err);
    blkdebug_rules_free(r);
}

static void test_config_parse_and_match(void)
{
    BlkdebugRules *r = parse_ok("# a comment\n"
                                "\n"
                                "[inject-error]\n"
                                "event = \"write_aio\"\n"
                                "errno = \"28\"\n"
                                "sector = \"8\"\n"
                                "\n"
                                "  [inject-error \"second\"]  \n"
                                "   event = \"read_aio\"   \n"
                                "iotype = \"read\"\n");

    g_assert_cmpint(blkdebug_rules_count(r), ==, 2);
    g_assert_cmpint(blkdebug_rules_state(r), ==, 1);
    /* nothing is armed before its event */
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 8192),
                    ==, 0);
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO);
    /* the request must cover sector 8 (bytes 4096..4607) */
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 4096),
                    ==, 0);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 4097, 512),
                    ==, 0);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 4096, 1),
                    ==, -ENOSPC);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_READ, 0, 8192), ==,
                    -ENOSPC);
    /* a flush covers no sector */
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_FLUSH, 0, 0), ==,
                    0);
    /* without once, it stays */
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 8192),
                    ==, -ENOSPC);
    /* another event's rules replace the armed set */
    blkdebug_rules_event(r, BLKDBG_READ_AIO);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 8192),
                    ==, 0);
    g_assert_cmpint(
        blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_READ, 1 << 20, 512), ==, -EIO);
    /* an event without rules leaves the armed set alone */
    blkdebug_rules_event(r, BLKDBG_L1_UPDATE);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_READ, 0, 512), ==,
                    -EIO);
    blkdebug_rules_free(r);
}

static void test_once_and_errno_zero(void)
{
    BlkdebugRules *r = parse_ok("[inject-error]\n"
                                "event = \"flush_to_disk\"\n"
                                "once = \"on\"\n"
                                "immediately = \"off\"\n"
                                "[inject-error]\n"
                                "event = \"write_aio\"\n"
                                "errno = \"0\"\n");

    blkdebug_rules_event(r, BLKDBG_FLUSH_TO_DISK);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_FLUSH, 0, 0), ==,
                    -EIO);
    /* once=on: the rule is gone, and its event no longer arms it */
    g_assert_cmpint(blkdebug_rules_count(r), ==, 1);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_FLUSH, 0, 0), ==,
                    0);
    blkdebug_rules_event(r, BLKDBG_FLUSH_TO_DISK);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_FLUSH, 0, 0), ==,
                    0);
    /* errno 0 matches and injects nothing, as in QEMU */
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 512), ==,
                    0);
    g_assert_cmpint(blkdebug_rules_count(r), ==, 1);
    blkdebug_rules_free(r);
}

/* The state machine: fail the second write only, then never again. */
static void test_state_machine(void)
{
    BlkdebugRules *r = parse_ok("[set-state]\n"
                                "event = \"write_aio\"\n"
                                "state = \"1\"\n"
                                "new_state = \"2\"\n"
                                "[set-state]\n"
                                "event = \"write_aio\"\n"
                                "state = \"2\"\n"
                                "new_state = \"3\"\n"
                                "[inject-error]\n"
                                "event = \"write_aio\"\n"
                                "state = \"2\"\n"
                                "errno = \"5\"\n");

    blkdebug_rules_event(r, BLKDBG_WRITE_AIO); /* in state 1: to 2 */
    g_assert_cmpint(blkdebug_rules_state(r), ==, 2);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 512), ==,
                    0);
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO); /* in state 2: armed, to 3 */
    g_assert_cmpint(blkdebug_rules_state(r), ==, 3);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 512), ==,
                    -EIO);
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO); /* in state 3: disarmed? */
    /* QEMU keeps the armed set until an event arms another */
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 512), ==,
                    -EIO);
    g_assert_cmpint(blkdebug_rules_state(r), ==, 3);
    blkdebug_rules_free(r);

    /* two set-state rules for one event and state: the older one wins,
     * as qemu-io shows with QEMU's driver */
    r = parse_ok("[set-state]\nevent = \"write_aio\"\nnew_state = \"2\"\n"
                 "[set-state]\nevent = \"write_aio\"\nnew_state = \"3\"\n");
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO);
    g_assert_cmpint(blkdebug_rules_state(r), ==, 2);
    blkdebug_rules_free(r);
}

static void test_iotype(void)
{
    BlkdebugRules *r = parse_ok("[inject-error]\n"
                                "event = \"write_aio\"\n"
                                "iotype = \"block-status\"\n"
                                "[inject-error]\n"
                                "event = \"read_aio\"\n");

    blkdebug_rules_event(r, BLKDBG_WRITE_AIO);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 512), ==,
                    0);
    g_assert_cmpint(
        blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_BLOCK_STATUS, 0, 512), ==,
        -EIO);
    /* the default is every type but block-status */
    blkdebug_rules_event(r, BLKDBG_READ_AIO);
    g_assert_cmpint(
        blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_BLOCK_STATUS, 0, 512), ==, 0);
    for (int t = 0; t < BLKDEBUG_IO_TYPE_BLOCK_STATUS; t++) {
        g_assert_cmpint(blkdebug_rules_check(r, t, 0, 512), ==, -EIO);
    }
    blkdebug_rules_free(r);
}

static void test_hostile_configs(void)
{
    parse_fails("event = \"read_aio\"\n", "t.conf:1: no group defined");
    parse_fails("\n\n[bogus]\n", "t.conf:3: There is no option group 'bogus'");
    parse_fails("[inject-error\n", "t.conf:1: parse error");
    parse_fails("[]\n", "t.conf:1: There is no option group ''");
    parse_fails("[inject-error \"unterminated]\n", "t.conf:1: parse error");
    parse_fails("[inject-error]\nevent = read_aio\n", "t.conf:2: parse error");
    parse_fails("[inject-error]\nevent = \"read_aio\n", "t.conf:2: parse");
    parse_fails("[inject-error]\nevent = \"a\"b\"\n", "t.conf:2: parse");
    parse_fails("[inject-error]\n= \"x\"\n", "t.conf:2: parse error");
    parse_fails("[inject-error]\njunk\n", "t.conf:2: parse error");
    parse_fails("[inject-error]\nevent = \"bogus\"\n",
                "t.conf:2: Parameter 'event' does not accept value 'bogus'");
    parse_fails("[inject-error]\nevent = \"\"\n", "does not accept value");
    parse_fails("[inject-error]\nerrno = \"5\"\n",
                "t.conf:1: Missing event name for rule");
    parse_fails("[set-state]\nnew_state = \"2\"\n\n[inject-error]\n",
                "t.conf:1: Missing event name for rule");
    parse_fails("[inject-error]\nevent = \"read_aio\"\n[inject-error]\n",
                "t.conf:3: Missing event name");
    parse_fails("[inject-error]\nfoo = \"1\"\n",
                "t.conf:2: Invalid parameter 'foo'");
    /* set-state has no errno; inject-error no new_state */
    parse_fails("[set-state]\nerrno = \"1\"\n", "Invalid parameter 'errno'");
    parse_fails("[inject-error]\nnew_state = \"1\"\n",
                "Invalid parameter 'new_state'");
    parse_fails("[inject-error]\nerrno = \"abc\"\n",
                "t.conf:2: Parameter 'errno' expects a number");
    parse_fails("[inject-error]\nerrno = \"-5\"\n", "expects a number");
    parse_fails("[inject-error]\nerrno = \"4096\"\n", "up to 4095");
    parse_fails("[inject-error]\nerrno = \"99999999999999999999999\"\n",
                "expects a number");
    parse_fails("[inject-error]\nsector = \"18014398509481984\"\n",
                "Parameter 'sector' expects a number up to");
    parse_fails("[inject-error]\nstate = \"2147483648\"\n", "up to");
    parse_fails("[inject-error]\nonce = \"maybe\"\n",
                "Parameter 'once' expects 'on' or 'off'");
    parse_fails("[inject-error]\niotype = \"reed\"\n",
                "Parameter 'iotype' does not accept value 'reed'");
    parse_fails("[inject-error]\nevent = \"read_aio\"\n\x01\n",
                "t.conf:3: parse error");

    /* a long line is one more parse error, not an overflow */
    GString *big = g_string_new("[inject-error]\nevent = \"");
    for (int i = 0; i < 100000; i++) {
        g_string_append_c(big, 'x');
    }
    g_string_append(big, "\"\n");
    parse_fails(big->str, "t.conf:2: Parameter 'event' does not accept");
    g_string_free(big, true);

    /* empty and comment-only files hold no rules */
    BlkdebugRules *r = parse_ok("");
    g_assert_cmpint(blkdebug_rules_count(r), ==, 0);
    blkdebug_rules_free(r);
    r = parse_ok("# nothing\n   \n");
    g_assert_cmpint(blkdebug_rules_count(r), ==, 0);
    blkdebug_rules_free(r);
    /* the last of a repeated key wins, and sector=-1 means any */
    r = parse_ok("[inject-error]\nevent = \"read_aio\"\nevent = "
                 "\"write_aio\"\nsector = \"3\"\nsector = \"-1\"\n");
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_READ, 1 << 30, 1),
                    ==, -EIO);
    blkdebug_rules_free(r);
}

static void test_config_files(void)
{
    g_autofree char *dir = g_dir_make_tmp("blkdebug-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "x.conf", NULL);
    BlkdebugRules *r = blkdebug_rules_new();
    GError *err = NULL;

    g_assert_false(blkdebug_rules_load_config(r, path, &err));
    g_assert_nonnull(strstr(err->message, "Could not read blkdebug config "
                                          "file"));
    g_assert_nonnull(strstr(err->message, "No such file or directory"));
    g_clear_error(&err);

    /* a NUL byte would hide the rest of the file from the parser */
    g_assert_true(g_file_set_contents(path, "[inject-error]\n\0x", 17, NULL));
    g_assert_false(blkdebug_rules_load_config(r, path, &err));
    g_assert_nonnull(strstr(err->message, "NUL byte"));
    g_clear_error(&err);

    g_assert_true(g_file_set_contents(path,
                                      "[inject-error]\n"
                                      "event = \"read_aio\"\n"
                                      "errno = \"x\"\n",
                                      -1, NULL));
    g_assert_false(blkdebug_rules_load_config(r, path, &err));
    g_autofree char *want = g_strdup_printf("%s:3: Parameter 'errno'", path);
    g_assert_nonnull(strstr(err->message, want));
    g_clear_error(&err);

    /* an endless file is cut short */
    g_assert_false(blkdebug_rules_load_config(r, "/dev/zero", &err));
    g_assert_nonnull(strstr(err->message, "larger than"));
    g_clear_error(&err);

    /* a directory is no config file */
    g_assert_false(blkdebug_rules_load_config(r, dir, &err));
    g_assert_nonnull(strstr(err->message, "Is a directory"));
    g_clear_error(&err);
    g_assert_cmpint(blkdebug_rules_count(r), ==, 0);
    blkdebug_rules_free(r);
    g_unlink(path);
    g_rmdir(dir);
}

static bool opts_rules(const char *str, BlkdebugRules **out, GError **errp)
{
    Opts *opts = opts_parse(str, NULL, errp);
    BlkdebugRules *r = blkdebug_rules_new();
    bool ok = opts && blkdebug_rules_parse_opts(r, opts, "file.", errp);

    opts_free(opts);
    if (!ok || !out) {
        blkdebug_rules_free(r);
    } else {
        *out = r;
    }
    return ok;
}

static void opts_fail(const char *str, const char *want)
{
    GError *err = NULL;

    g_assert_false(opts_rules(str, NULL, &err));
    if (!strstr(err->message, want)) {
        g_error("opts %s: got '%s', want '%s'", str, err->message, want);
    }
    g_error_free(err);
}

static void test_inline_options(void)
{
    BlkdebugRules *r;
    GError *err = NULL;

    /* indexes in numeric order; set-state after inject-error */
    g_assert_true(opts_rules(
        "file.inject-error.10.event=read_aio,file.inject-error.10.errno=7,"
        "file.inject-error.2.event=read_aio,file.inject-error.2.errno=5,"
        "file.inject-error.2.sector=0,file.inject-error.2.once=on,"
        "file.set-state.0.event=read_aio,file.set-state.0.new_state=4",
        &r, &err));
    g_assert_no_error(err);
    g_assert_cmpint(blkdebug_rules_count(r), ==, 3);
    blkdebug_rules_event(r, BLKDBG_READ_AIO);
    g_assert_cmpint(blkdebug_rules_state(r), ==, 4);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_READ, 0, 512), ==,
                    -EIO);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_READ, 0, 512), ==,
                    -E2BIG);
    blkdebug_rules_free(r);

    /* QEMU's JSON form, as -blockdev '{...}' flattens it */
    g_assert_true(opts_rules("file.inject-error=[{\"event\": \"write_aio\",, "
                             "\"errno\": 28,, \"once\": true}]",
                             &r, &err));
    g_assert_no_error(err);
    blkdebug_rules_event(r, BLKDBG_WRITE_AIO);
    g_assert_cmpint(blkdebug_rules_check(r, BLKDEBUG_IO_TYPE_WRITE, 0, 512), ==,
                    -ENOSPC);
    g_assert_cmpint(blkdebug_rules_count(r), ==, 0);
    blkdebug_rules_free(r);

    opts_fail("file.inject-error.0.errno=5",
              "Parameter 'inject-error.0.event' is missing");
    opts_fail("file.inject-error.0.event=nope",
              "Parameter 'inject-error.0.event' does not accept value 'nope'");
    opts_fail("file.inject-error.0.event=read_aio,file.inject-error.0.foo=1",
              "Parameter 'inject-error.0.foo' is unexpected");
    opts_fail("file.inject-error.x.event=read_aio",
              "Parameter 'file.inject-error.x.event' is unexpected");
    opts_fail("file.inject-error.0=read_aio", "is unexpected");
    opts_fail("file.inject-error.99999999999999999999.event=read_aio",
              "is unexpected");
    opts_fail("file.set-state.0.event=read_aio,file.set-state.0.new_state=-1",
              "Parameter 'set-state.0.new_state' expects a number");
    opts_fail("file.inject-error={\"event\": 1}", "expects a list of rules");
    opts_fail("file.inject-error=[1]", "expects an object");
    opts_fail("file.inject-error=[{\"event\": [1]}]", "not a scalar");
    opts_fail("file.inject-error=[{\"errno\": 5}]",
              "Parameter 'inject-error.0.event' is missing");
    opts_fail("file.inject-error=[{", "expects a list of rules");
}

/* ---- nodes: the format drivers raise the events ---- */

static char *tmp_image(const char *dir, const char *fmt, int64_t size)
{
    char *path = g_strdup_printf("%s/img.%s", dir, fmt);
    GError *err = NULL;

    g_assert_true(bdrv_create(fmt, path, size, NULL, &err));
    g_assert_no_error(err);
    return path;
}

static char *write_conf(const char *dir, const char *text)
{
    char *path = g_build_filename(dir, "rules.conf", NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static void test_node_over_raw(void)
{
    g_autofree char *dir = g_dir_make_tmp("blkdebug-XXXXXX", NULL);
    g_autofree char *img = tmp_image(dir, "raw", 1 << 20);
    g_autofree char *conf = write_conf(dir, "[inject-error]\n"
                                            "event = \"write_aio\"\n"
                                            "errno = \"28\"\n"
                                            "sector = \"16\"\n"
                                            "once = \"on\"\n");
    g_autofree char *name = g_strdup_printf("blkdebug:%s:%s", conf, img);
    BlockOpenOptions o = {.format = "raw"};
    GError *err = NULL;
    uint8_t buf[4096], back[4096];

    BlockDriverState *bs = bdrv_open(name, &o, &err);
    g_assert_no_error(err);
    g_assert_true(bs->drv == &bdrv_raw);
    g_assert_true(bs->file->drv == &bdrv_blkdebug);
    g_assert_cmpint(bdrv_getlength(bs), ==, 1 << 20);
    memset(buf, 0xa5, sizeof(buf));
    /* a write that misses sector 16, then the one that covers it fails
     * once, then goes through */
    g_assert_cmpint(bdrv_pwrite(bs, 0, buf, 4096), ==, 0);
    g_assert_cmpint(bdrv_pwrite(bs, 8192, buf, 4096), ==, -ENOSPC);
    g_assert_cmpint(bdrv_pwrite(bs, 8192, buf, 4096), ==, 0);
    g_assert_cmpint(bdrv_pread(bs, 8192, back, 4096), ==, 0);
    g_assert_cmpmem(buf, 4096, back, 4096);
    bdrv_unref(bs);

    /* bad names and configs are errors, not crashes */
    bs = bdrv_open("blkdebug:onlyone", &o, &err);
    g_assert_null(bs);
    g_assert_nonnull(strstr(err->message, "requires both config file and "
                                          "image path"));
    g_clear_error(&err);
    g_autofree char *missing =
        g_strdup_printf("blkdebug:%s:%s/none", conf, dir);
    g_assert_null(bdrv_open(missing, &o, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* an empty config: no rules */
    g_autofree char *noconf = g_strdup_printf("blkdebug::%s", img);
    bs = bdrv_open(noconf, &o, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(bs, 8192, buf, 4096), ==, 0);
    bdrv_unref(bs);

    g_unlink(img);
    g_unlink(conf);
    g_rmdir(dir);
}

/* qcow2's metadata events: the first allocation fails at its L2 table and
 * the image stays consistent; the retry succeeds. */
static void test_node_under_qcow2(void)
{
    static const char *const events[] = {"l2_alloc_write", "l1_update",
                                         "cluster_alloc", "write_aio"};
    for (unsigned e = 0; e < G_N_ELEMENTS(events); e++) {
        g_autofree char *dir = g_dir_make_tmp("blkdebug-XXXXXX", NULL);
        g_autofree char *img = tmp_image(dir, "qcow2", 4 << 20);
        g_autofree char *text = g_strdup_printf("[inject-error]\n"
                                                "event = \"%s\"\n"
                                                "errno = \"5\"\n"
                                                "once = \"on\"\n",
                                                events[e]);
        g_autofree char *conf = write_conf(dir, text);
        g_autofree char *name = g_strdup_printf("blkdebug:%s:%s", conf, img);
        BlockOpenOptions o = {0}; /* probed: qcow2 over blkdebug */
        GError *err = NULL;
        uint8_t buf[4096], back[4096];

        BlockDriverState *bs = bdrv_open(name, &o, &err);
        g_assert_no_error(err);
        g_assert_true(bs->drv == &bdrv_qcow2);
        g_assert_true(bs->file->drv == &bdrv_blkdebug);
        memset(buf, 0x3c, sizeof(buf));
        g_assert_cmpint(bdrv_pwrite(bs, 65536, buf, 4096), ==, -EIO);
        g_assert_cmpint(bdrv_pwrite(bs, 65536, buf, 4096), ==, 0);
        g_assert_cmpint(bdrv_flush(bs), ==, 0);
        g_assert_cmpint(bdrv_pread(bs, 65536, back, 4096), ==, 0);
        g_assert_cmpmem(buf, 4096, back, 4096);
        BdrvCheckResult res = {0};
        g_assert_cmpint(bs->drv->check(bs, &res, 0), ==, 0);
        g_assert_cmpint(res.corruptions, ==, 0);
        g_assert_cmpint(res.check_errors, ==, 0);
        bdrv_unref(bs);
        g_unlink(img);
        g_unlink(conf);
        g_rmdir(dir);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/blkdebug/config/parse-match",
                    test_config_parse_and_match);
    g_test_add_func("/blkdebug/config/once-errno0", test_once_and_errno_zero);
    g_test_add_func("/blkdebug/config/state-machine", test_state_machine);
    g_test_add_func("/blkdebug/config/iotype", test_iotype);
    g_test_add_func("/blkdebug/config/hostile", test_hostile_configs);
    g_test_add_func("/blkdebug/config/files", test_config_files);
    g_test_add_func("/blkdebug/inline", test_inline_options);
    g_test_add_func("/blkdebug/node/raw", test_node_over_raw);
    g_test_add_func("/blkdebug/node/qcow2", test_node_under_qcow2);
    return g_test_run();
}
