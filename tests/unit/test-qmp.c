/*
 * QMP wire protocol without a socket: framing of partial, joined and
 * hostile input, QEMU's error classes and messages, negotiation, ids,
 * events, and the schema's consistency.
 */
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "monitor/qmp.h"

typedef struct Client {
    QmpSession *s;
    GPtrArray *replies;     /* json_t* */
} Client;

static void capture(void *opaque, const char *text, size_t len)
{
    Client *c = opaque;
    json_error_t err;
    json_t *v;

    g_assert_cmpint(len, >, 0);
    g_assert_cmpint(text[len - 1], ==, '\n');
    v = json_loadb(text, len, 0, &err);
    g_assert_nonnull(v);
    g_ptr_array_add(c->replies, v);
}

static void client_init(Client *c, bool negotiate)
{
    c->replies = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
    c->s = qmp_session_new(capture, c, false);
    qmp_session_start(c->s);
    g_assert_cmpuint(c->replies->len, ==, 1);
    if (negotiate) {
        const char *cmd = "{\"execute\": \"qmp_capabilities\"}";
        qmp_session_feed(c->s, (const uint8_t *)cmd, strlen(cmd));
        g_assert_cmpuint(c->replies->len, ==, 2);
    }
    g_ptr_array_set_size(c->replies, 0);
}

static void client_free(Client *c)
{
    qmp_session_free(c->s);
    g_ptr_array_free(c->replies, TRUE);
}

static void send_text(Client *c, const char *text)
{
    qmp_session_feed(c->s, (const uint8_t *)text, strlen(text));
}

static json_t *reply(Client *c, guint i)
{
    g_assert_cmpuint(i, <, c->replies->len);
    return g_ptr_array_index(c->replies, i);
}

static void assert_error(Client *c, guint i, const char *cls,
                         const char *desc)
{
    json_t *err = json_object_get(reply(c, i), "error");

    g_assert_nonnull(err);
    g_assert_cmpstr(json_string_value(json_object_get(err, "class")), ==,
                    cls);
    if (desc) {
        g_assert_cmpstr(json_string_value(json_object_get(err, "desc")), ==,
                        desc);
    }
}

static void assert_return(Client *c, guint i)
{
    g_assert_nonnull(json_object_get(reply(c, i), "return"));
}

static void test_greeting_and_negotiation(void)
{
    Client c = { 0 };
    json_t *g, *v;

    c.replies = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
    c.s = qmp_session_new(capture, &c, false);
    qmp_session_start(c.s);
    g = json_object_get(reply(&c, 0), "QMP");
    v = json_object_get(json_object_get(g, "version"), "qemu");
    g_assert_true(json_is_integer(json_object_get(v, "major")));
    g_assert_true(json_is_array(json_object_get(g, "capabilities")));

    send_text(&c, "{\"execute\": \"query-status\"}");
    assert_error(&c, 1, "CommandNotFound",
                 "Expecting capabilities negotiation with "
                 "'qmp_capabilities'");
    send_text(&c, "{\"execute\": \"qmp_capabilities\", "
                  "\"arguments\": {\"enable\": [\"oob\"]}}");
    assert_error(&c, 2, "GenericError", "Capability 'oob' not available");
    send_text(&c, "{\"execute\": \"qmp_capabilities\"}");
    assert_return(&c, 3);
    send_text(&c, "{\"execute\": \"qmp_capabilities\"}");
    assert_error(&c, 4, "CommandNotFound",
                 "Capabilities negotiation is already complete, command "
                 "ignored");
    send_text(&c, "{\"execute\": \"query-version\"}");
    assert_return(&c, 5);
    client_free(&c);
}

static void test_partial_and_joined_input(void)
{
    const char *cmd = "{\"execute\": \"query-version\", \"id\": \"a}{\"}";
    Client c;

    client_init(&c, true);
    for (size_t i = 0; cmd[i]; i++) {
        qmp_session_feed(c.s, (const uint8_t *)cmd + i, 1);
        g_assert_cmpuint(c.replies->len, ==, cmd[i + 1] ? 0 : 1);
    }
    g_assert_cmpstr(json_string_value(json_object_get(reply(&c, 0), "id")),
                    ==, "a}{");
    send_text(&c, "{\"execute\":\"query-version\",\"id\":1}"
                  "{\"execute\":\"nope\",\"id\":2}\n"
                  "  {\"execute\":\"query-commands\",\"id\":[3]}");
    g_assert_cmpuint(c.replies->len, ==, 4);
    assert_return(&c, 1);
    assert_error(&c, 2, "CommandNotFound",
                 "The command nope has not been found");
    g_assert_true(json_is_array(json_object_get(reply(&c, 3), "id")));
    client_free(&c);
}

static void test_garbage(void)
{
    Client c;

    client_init(&c, true);
    send_text(&c, "[1] 42 \"str\" true {\"execute\": 1} {\"arguments\": {}}"
                  " {\"execute\": \"query-version\", \"arguments\": [],"
                  " \"id\": 9} {\"execute\": \"x\", \"extra\": 1}");
    for (guint i = 0; i < 4; i++) {
        assert_error(&c, i, "GenericError",
                     "QMP input must be a JSON object");
    }
    assert_error(&c, 4, "GenericError",
                 "QMP input member 'execute' must be a string");
    assert_error(&c, 5, "GenericError", "QMP input lacks member 'execute'");
    assert_error(&c, 6, "GenericError",
                 "QMP input member 'arguments' must be an object");
    g_assert_cmpint(json_integer_value(json_object_get(reply(&c, 6), "id")),
                    ==, 9);
    assert_error(&c, 7, "GenericError",
                 "QMP input member 'extra' is unexpected");

    g_ptr_array_set_size(c.replies, 0);
    send_text(&c, "not json at all } {\"execute\": query} ");
    g_assert_cmpuint(c.replies->len, >=, 3);
    for (guint i = 0; i < c.replies->len; i++) {
        assert_error(&c, i, "GenericError", NULL);
    }
    g_ptr_array_set_size(c.replies, 0);
    /* bytes that are not UTF-8, and a NUL */
    send_text(&c, "{\"execute\": \"\xff\xfe\"}");
    qmp_session_feed(c.s, (const uint8_t *)"{\"a\0\"}", 6);
    g_assert_cmpuint(c.replies->len, ==, 2);
    assert_error(&c, 0, "GenericError", NULL);
    assert_error(&c, 1, "GenericError", NULL);
    /* and the session still works */
    send_text(&c, "{\"execute\": \"query-version\"}");
    assert_return(&c, 2);
    client_free(&c);
}

static void test_oversized_and_deep_input(void)
{
    GString *big = g_string_new("{\"execute\": \"query-version\", "
                                "\"arguments\": {\"x\": \"");
    char filler[1021];
    Client c;

    memset(filler, 'A', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = 0;
    client_init(&c, true);
    /* 10 MiB in one value: one error, the rest of it skipped */
    for (int i = 0; i < 10 * 1024; i++) {
        /* brackets and an escaped quote inside the string */
        g_string_append_len(big, "{[\\\"", 4);
        g_string_append(big, filler);
    }
    g_string_append(big, "\"}}{\"execute\": \"query-version\", \"id\": 1}");
    send_text(&c, big->str);
    g_assert_cmpuint(c.replies->len, ==, 2);
    assert_error(&c, 0, "GenericError", NULL);
    g_assert_nonnull(strstr(json_string_value(json_object_get(
                                json_object_get(reply(&c, 0), "error"),
                                "desc")),
                            "exceeds"));
    assert_return(&c, 1);

    /* nesting beyond the limit */
    g_ptr_array_set_size(c.replies, 0);
    g_string_truncate(big, 0);
    for (int i = 0; i < 5000; i++) {
        g_string_append_c(big, '[');
    }
    for (int i = 0; i < 5000; i++) {
        g_string_append_c(big, ']');
    }
    g_string_append(big, "{\"execute\": \"query-version\"}");
    send_text(&c, big->str);
    g_assert_cmpuint(c.replies->len, ==, 2);
    assert_error(&c, 0, "GenericError", NULL);
    assert_return(&c, 1);
    g_string_free(big, TRUE);
    client_free(&c);
}

static void test_argument_checking(void)
{
    Client c;

    client_init(&c, true);
    send_text(&c, "{\"execute\": \"query-version\", \"arguments\": "
                  "{\"a\": 1}}");
    assert_error(&c, 0, "GenericError", "Parameter 'a' is unexpected");
    send_text(&c, "{\"execute\": \"qom-get\", \"arguments\": "
                  "{\"property\": \"type\"}}");
    assert_error(&c, 1, "GenericError", "Parameter 'path' is missing");
    send_text(&c, "{\"execute\": \"qom-get\", \"arguments\": "
                  "{\"path\": 3, \"property\": \"type\"}}");
    assert_error(&c, 2, "GenericError",
                 "Invalid parameter type for 'path', expected: string");
    send_text(&c, "{\"execute\": \"qom-get\", \"arguments\": "
                  "{\"path\": \"/machine\", \"property\": \"type\", "
                  "\"x\": null}}");
    assert_error(&c, 3, "GenericError", "Parameter 'x' is unexpected");
    client_free(&c);

    /* the same checks on a direct call, as HMP makes them */
    g_autoptr(GError) err = NULL;
    json_t *args = json_pack("{s:[s]}", "enable", "bogus");
    g_assert_null(qmp_call("human-monitor-command", args, &err));
    g_assert_nonnull(err);
    json_decref(args);
}

static void test_enum_and_list_checking(void)
{
    Client c;

    client_init(&c, false);
    send_text(&c, "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                  "{\"enable\": \"oob\"}}");
    assert_error(&c, 0, "GenericError",
                 "Invalid parameter type for 'enable', expected: array");
    send_text(&c, "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                  "{\"enable\": [\"oob\", \"bogus\"]}}");
    assert_error(&c, 1, "GenericError",
                 "Parameter 'enable[1]' does not accept value 'bogus'");
    client_free(&c);
}

static void test_events(void)
{
    Client before, after;
    json_t *ev, *ts;

    client_init(&before, false);
    client_init(&after, true);
    qmp_event_send("SHUTDOWN", json_pack("{s:b,s:s}", "guest", 1, "reason",
                                         "guest-shutdown"));
    g_assert_cmpuint(before.replies->len, ==, 0);
    g_assert_cmpuint(after.replies->len, ==, 1);
    ev = reply(&after, 0);
    g_assert_cmpstr(json_string_value(json_object_get(ev, "event")), ==,
                    "SHUTDOWN");
    ts = json_object_get(ev, "timestamp");
    g_assert_cmpint(json_integer_value(json_object_get(ts, "seconds")), >,
                    1000000000);
    g_assert_true(json_is_integer(json_object_get(ts, "microseconds")));
    g_assert_true(json_is_true(json_object_get(json_object_get(ev, "data"),
                                               "guest")));
    qmp_event_send("STOP", NULL);
    g_assert_null(json_object_get(reply(&after, 1), "data"));
    client_free(&before);
    client_free(&after);
}

static void test_disconnect_mid_command(void)
{
    Client c;

    client_init(&c, true);
    send_text(&c, "{\"execute\": \"query-ver");
    qmp_session_end(c.s);
    send_text(&c, "{\"execute\": \"query-version\"}");
    g_assert_cmpuint(c.replies->len, ==, 0);    /* nobody there */
    qmp_session_start(c.s);
    g_assert_nonnull(json_object_get(reply(&c, 0), "QMP"));
    /* a new client must negotiate again */
    send_text(&c, "{\"execute\": \"query-version\"}");
    assert_error(&c, 1, "CommandNotFound", NULL);
    /* and the old half is forgotten: this parses as a whole */
    send_text(&c, "{\"execute\": \"qmp_capabilities\"}");
    assert_return(&c, 2);
    client_free(&c);
}

/* Every command and event the schema declares is implemented, and every
 * type it refers to is defined: what query-qmp-schema tells clients. */
static void test_schema_complete(void)
{
    json_t *intro = qmp_schema_introspection();
    GHashTable *names = g_hash_table_new(g_str_hash, g_str_equal);
    size_t i;
    json_t *e;

    json_array_foreach(intro, i, e) {
        g_hash_table_add(names, (gpointer)json_string_value(
                                    json_object_get(e, "name")));
    }
    json_array_foreach(intro, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *meta = json_string_value(json_object_get(e,
                                                             "meta-type"));
        const char *refs[] = { "arg-type", "ret-type", "element-type" };

        if (!strcmp(meta, "command") && strcmp(name, "qmp_capabilities")) {
            if (!qmp_command_exists(name)) {
                g_test_message("command %s has no handler", name);
            }
            g_assert_true(qmp_command_exists(name));
        }
        for (size_t r = 0; r < G_N_ELEMENTS(refs); r++) {
            json_t *t = json_object_get(e, refs[r]);
            g_assert_true(!t || g_hash_table_contains(
                                    names, json_string_value(t)));
        }
    }
    g_hash_table_destroy(names);
}

static void test_query_commands_and_schema(void)
{
    g_autoptr(GError) err = NULL;
    json_t *cmds = qmp_call("query-commands", NULL, &err);
    json_t *schema = qmp_call("query-qmp-schema", NULL, &err);
    bool saw_caps = false, saw_status = false;
    size_t i;
    json_t *e;

    g_assert_no_error(err);
    json_array_foreach(cmds, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        saw_caps |= !strcmp(n, "qmp_capabilities");
        saw_status |= !strcmp(n, "query-status");
    }
    g_assert_true(saw_caps && saw_status);
    g_assert_true(json_is_array(schema));
    g_assert_cmpuint(json_array_size(schema), >, 20);
    json_decref(cmds);
    json_decref(schema);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/greeting-and-negotiation",
                    test_greeting_and_negotiation);
    g_test_add_func("/qmp/partial-and-joined-input",
                    test_partial_and_joined_input);
    g_test_add_func("/qmp/garbage", test_garbage);
    g_test_add_func("/qmp/oversized-and-deep-input",
                    test_oversized_and_deep_input);
    g_test_add_func("/qmp/argument-checking", test_argument_checking);
    g_test_add_func("/qmp/enum-and-list-checking",
                    test_enum_and_list_checking);
    g_test_add_func("/qmp/events", test_events);
    g_test_add_func("/qmp/disconnect-mid-command",
                    test_disconnect_mid_command);
    g_test_add_func("/qmp/schema-complete", test_schema_complete);
    g_test_add_func("/qmp/query-commands-and-schema",
                    test_query_commands_and_schema);
    return g_test_run();
}
