/*
 * Migration stream and commands without a guest: a qtest VM migrates to a
 * file, another loads it with -incoming defer + migrate-incoming and must
 * see the same RAM. Corrupted copies of the stream (garbage, truncation
 * anywhere, a wrong version, flipped bytes, hostile lengths and indexes)
 * must fail the load with an error while the destination stays alive in
 * "inmigrate"; bad URIs and arguments are refused.
 */
#include <string.h>
#include <unistd.h>

#include "libqtest.h"

#define PATTERN_ADDR    0x200000ULL
#define DIRTY_ADDR      0x300000ULL     /* zero on the source */

static char *state_path;
static GBytes *state;       /* the good stream */

static const char *status_of(QTestState *qts)
{
    static char buf[64];
    json_t *r = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    const char *s = json_string_value(json_object_get(
        json_object_get(r, "return"), "status"));

    g_strlcpy(buf, s ? s : "none", sizeof(buf));
    json_decref(r);
    return buf;
}

/* Waits for one of the final states; returns query-migrate's "return". */
static json_t *wait_done(QTestState *qts)
{
    for (int i = 0; i < QTEST_TIMEOUT_S * 100; i++) {
        json_t *r = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        json_t *ret = json_incref(json_object_get(r, "return"));
        const char *s = json_string_value(json_object_get(ret, "status"));

        json_decref(r);
        if (s && (!strcmp(s, "completed") || !strcmp(s, "failed") ||
                  !strcmp(s, "cancelled"))) {
            return ret;
        }
        json_decref(ret);
        g_usleep(10000);
    }
    g_assert_not_reached();
}

static void make_state(void)
{
    QTestState *qts;
    json_t *r;

    if (state) {
        return;
    }
    state_path = qtest_tmp_path("vm.state");
    qts = qtest_init("-m 128");
    for (int i = 0; i < 1024; i++) {
        qtest_writel(qts, PATTERN_ADDR + i * 4, 0x5a5a0000 + i);
    }
    r = qtest_qmp(qts, "{'execute': 'migrate', 'arguments': "
                       "{'uri': 'file:%s'}}", state_path);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    r = wait_done(qts);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "completed");
    g_assert_cmpint(json_integer_value(json_object_get(
        json_object_get(r, "ram"), "total")), >=, 128 << 20);
    json_decref(r);
    r = qtest_query_status(qts);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "postmigrate");
    json_decref(r);
    qtest_quit(qts);

    gchar *data;
    gsize len;
    g_assert_true(g_file_get_contents(state_path, &data, &len, NULL));
    state = g_bytes_new_take(data, len);
}

/* A destination waiting with -incoming defer. */
static QTestState *deferred(const char *extra)
{
    QTestState *qts = qtest_initf("-m 128 -incoming defer %s",
                                  extra ? extra : "");
    json_t *r = qtest_query_status(qts);

    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "inmigrate");
    json_decref(r);
    return qts;
}

/* Loads data through migrate-incoming; returns query-migrate at the end. */
static json_t *load(QTestState *qts, const void *data, size_t len)
{
    g_autofree char *path = qtest_tmp_path("in.state");
    json_t *r;

    g_assert_true(g_file_set_contents(path, data, len, NULL));
    r = qtest_qmp(qts, "{'execute': 'migrate-incoming', 'arguments': "
                       "{'uri': 'file:%s'}}", path);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    return wait_done(qts);
}

static void test_roundtrip(void)
{
    QTestState *qts;
    json_t *r;
    gsize len;
    const void *data;

    make_state();
    data = g_bytes_get_data(state, &len);
    qts = deferred(NULL);
    /* a page the source had zero: the load must clear it */
    qtest_writel(qts, DIRTY_ADDR, 0xdeadbeef);
    r = load(qts, data, len);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "completed");
    json_decref(r);
    for (int i = 0; i < 1024; i++) {
        g_assert_cmphex(qtest_readl(qts, PATTERN_ADDR + i * 4), ==,
                        0x5a5a0000 + i);
    }
    g_assert_cmphex(qtest_readl(qts, DIRTY_ADDR), ==, 0);
    r = qtest_query_status(qts);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "running");
    json_decref(r);
    qtest_quit(qts);
}

/* The load of data fails, with msg in the error, and vireo lives on. */
static void expect_failure(const void *data, size_t len, const char *msg)
{
    QTestState *qts = deferred(NULL);
    json_t *r = load(qts, data, len);
    const char *err = json_string_value(json_object_get(r, "error-desc"));

    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "failed");
    g_assert_nonnull(err);
    if (msg && !strstr(err, msg)) {
        g_error("error '%s' lacks '%s'", err, msg);
    }
    json_decref(r);
    g_assert_true(qtest_alive(qts));
    r = qtest_query_status(qts);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "inmigrate");
    json_decref(r);
    /* cont cannot run a VM whose state never arrived */
    r = qtest_qmp(qts, "{'execute': 'cont'}");
    g_assert_nonnull(json_object_get(r, "error"));
    json_decref(r);
    qtest_quit(qts);
}

static void test_garbage(void)
{
    uint8_t junk[8192];

    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = g_test_rand_int();
    }
    expect_failure(junk, sizeof(junk), "bad magic");
    expect_failure("", 0, "truncated");
}

static void test_truncated(void)
{
    gsize len;
    const uint8_t *data;

    make_state();
    data = g_bytes_get_data(state, &len);
    /* in the header, in the RAM, in the sections, in the checksum */
    size_t cuts[] = { 5, 40, len / 3, len / 2, len - 5000, len - 200,
                      len - 3, len - 1 };
    for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
        expect_failure(data, cuts[i], "truncated");
    }
}

static void test_bad_version(void)
{
    gsize len;
    g_autofree uint8_t *copy = NULL;
    const void *data;

    make_state();
    data = g_bytes_get_data(state, &len);
    copy = g_memdup2(data, len);
    copy[11] = 99;
    expect_failure(copy, len, "version 99");
}

/* Flipped bytes anywhere: the parse or the checksum must catch each. */
static void test_flipped(void)
{
    gsize len;
    const uint8_t *data;

    make_state();
    data = g_bytes_get_data(state, &len);
    size_t at[] = { 14, 60, 120, len / 4, len / 2, len - 3000, len - 100,
                    len - 6, len - 2 };
    for (size_t i = 0; i < G_N_ELEMENTS(at); i++) {
        g_autofree uint8_t *copy = g_memdup2(data, len);
        copy[at[i]] ^= 0x41;
        expect_failure(copy, len, NULL);
    }
}

/* Hand-made records after a real header: hostile indexes and lengths. */
static size_t get_be(const uint8_t *p, int n)
{
    size_t v = 0;

    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* The header's length, as docs/migration.md lays it out. */
static size_t header_len(const uint8_t *d, size_t len)
{
    size_t p = 16;                      /* magic, version, flags */

    p += 2 + get_be(d + p, 2);          /* machine */
    p += 4;                             /* vCPUs */
    p += 2 + get_be(d + p, 2);          /* CPU model */
    size_t ndev = get_be(d + p, 4);
    p += 4;
    for (size_t i = 0; i < ndev * 2; i++) {
        p += 2 + get_be(d + p, 2);      /* class, id */
    }
    size_t nblocks = get_be(d + p, 2);
    p += 2;
    for (size_t i = 0; i < nblocks; i++) {
        p += 2 + get_be(d + p, 2) + 8;  /* name, size */
    }
    g_assert_cmpuint(p, <, len);
    g_assert_true(d[p] == 1 || d[p] == 2);  /* a RAM record follows */
    return p;
}

static void test_hostile_records(void)
{
    static const uint8_t records[][16] = {
        /* zero run of block 0x7fff */
        { 2, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
        /* page beyond the end of block 0 */
        { 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 },
        /* zero run wrapping past the end */
        { 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
        /* device section of 4 GiB - 1 */
        { 3, 0xff, 0xff, 0xff, 0xff },
        /* unknown record type */
        { 0x42 },
    };
    static const char *const why[] = {
        "RAM block", "outside", "outside", "section of", "unknown record",
    };
    gsize len;
    const uint8_t *data;

    make_state();
    data = g_bytes_get_data(state, &len);
    size_t h = header_len(data, len);
    for (size_t i = 0; i < G_N_ELEMENTS(records); i++) {
        g_autofree uint8_t *copy = g_malloc(h + 64);
        memcpy(copy, data, h);
        memcpy(copy + h, records[i], 16);
        memset(copy + h + 16, 0, 48);
        expect_failure(copy, h + 64, why[i]);
    }
}

static void test_mismatch_refused(void)
{
    gsize len;
    const void *data;
    QTestState *qts;
    json_t *r;

    make_state();
    data = g_bytes_get_data(state, &len);
    qts = qtest_init("-m 256 -incoming defer");
    r = load(qts, data, len);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "failed");
    g_assert_nonnull(strstr(json_string_value(json_object_get(
        r, "error-desc")), "-m differs"));
    json_decref(r);
    qtest_quit(qts);
}

static void expect_error(QTestState *qts, const char *cmd, const char *msg)
{
    json_t *r = qtest_qmp(qts, "%s", cmd);
    const char *desc = json_string_value(json_object_get(
        json_object_get(r, "error"), "desc"));

    g_assert_nonnull(desc);
    if (!strstr(desc, msg)) {
        g_error("%s: error '%s' lacks '%s'", cmd, desc, msg);
    }
    json_decref(r);
}

static void test_commands(void)
{
    QTestState *qts = qtest_init("-m 128");
    g_autofree char *missing = qtest_tmp_path("nobody.sock");
    g_autofree char *info = NULL;
    json_t *r;

    g_assert_cmpstr(status_of(qts), ==, "none");
    expect_error(qts, "{'execute': 'migrate', 'arguments': "
                      "{'uri': 'bogus:x'}}", "unknown migration protocol");
    expect_error(qts, "{'execute': 'migrate', 'arguments': "
                      "{'uri': 'tcp:nohostport'}}", "tcp:HOST:PORT");
    expect_error(qts, "{'execute': 'migrate', 'arguments': "
                      "{'uri': 'file:/x,offset=zz'}}", "offset");
    expect_error(qts, "{'execute': 'migrate', 'arguments': "
                      "{'uri': 'file:/x', 'blk': true}}", "block migration");
    expect_error(qts, "{'execute': 'migrate-incoming', 'arguments': "
                      "{'uri': 'file:/x'}}", "-incoming");
    expect_error(qts, "{'execute': 'migrate-set-parameters', 'arguments': "
                      "{'downtime-limit': 99999999999}}", "downtime");
    qtest_qmp_assert_success(qts, "{'execute': 'migrate-set-parameters', "
                             "'arguments': {'downtime-limit': 50, "
                             "'max-bandwidth': 1048576}}");
    r = qtest_qmp(qts, "{'execute': 'query-migrate-parameters'}");
    g_assert_cmpint(json_integer_value(json_object_get(
        json_object_get(r, "return"), "downtime-limit")), ==, 50);
    g_assert_cmpint(json_integer_value(json_object_get(
        json_object_get(r, "return"), "max-bandwidth")), ==, 1048576);
    json_decref(r);
    qtest_qmp_assert_success(qts, "{'execute': 'migrate_cancel'}");

    /* nobody listens: failed, and the VM is as before */
    r = qtest_qmp(qts, "{'execute': 'migrate', 'arguments': "
                       "{'uri': 'unix:%s'}}", missing);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    r = wait_done(qts);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "failed");
    json_decref(r);
    r = qtest_query_status(qts);
    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    "running");
    json_decref(r);
    info = qtest_hmp(qts, "info migrate");
    g_assert_nonnull(strstr(info, "Migration status: failed"));
    g_free(info);
    info = qtest_hmp(qts, "migrate_set_parameter max-bandwidth 32M");
    g_assert_cmpstr(info, ==, "");
    g_free(info);
    info = qtest_hmp(qts, "info migrate_parameters");
    g_assert_nonnull(strstr(info, "max-bandwidth: 33554432"));
    g_free(info);
    info = qtest_hmp(qts, "migrate_set_parameter nosuch 1");
    g_assert_nonnull(strstr(info, "Invalid parameter"));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/roundtrip", test_roundtrip);
    g_test_add_func("/migration/garbage", test_garbage);
    g_test_add_func("/migration/truncated", test_truncated);
    g_test_add_func("/migration/bad-version", test_bad_version);
    g_test_add_func("/migration/flipped-bytes", test_flipped);
    g_test_add_func("/migration/hostile-records", test_hostile_records);
    g_test_add_func("/migration/mismatch-refused", test_mismatch_refused);
    g_test_add_func("/migration/commands", test_commands);
    ret = g_test_run();
    if (state) {
        g_bytes_unref(state);
        unlink(state_path);
    }
    return ret;
}
