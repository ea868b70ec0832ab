/*
 * QMP core: the command registry, argument and result checking against the
 * compiled-in schema, the wire protocol of one client (QEMU's framing,
 * greeting, capabilities negotiation, replies and errors), and events.
 * Follows QEMU's docs/interop/qmp-spec.
 */
#include <string.h>

#include "config.h"
#include "monitor/qmp-schema.h"
#include "monitor/qmp.h"
#include "util/log.h"
#include "util/opts.h"

G_DEFINE_QUARK(qmp-error-quark, qmp_error)

/* The QEMU release whose protocol and command set Vireo follows. */
#define QMP_QEMU_MAJOR 7
#define QMP_QEMU_MINOR 2
#define QMP_QEMU_MICRO 0

static QmpCommand *commands;

void qmp_command_register(QmpCommand *cmd)
{
    cmd->next = commands;
    commands = cmd;
}

static QmpCommand *command_find(const char *name)
{
    for (QmpCommand *c = commands; c; c = c->next) {
        if (!strcmp(c->name, name)) {
            return c;
        }
    }
    return NULL;
}

/* ---- the schema ---- */

static json_t *schema;          /* {"types", "commands", "events"} */
static json_t *introspection;

static json_t *schema_get(const char *section)
{
    if (!schema) {
        json_error_t err;
        schema = json_loads(qapi_schema_check_json, 0, &err);
        /* generated at build time from checked input */
        g_assert(schema);
    }
    return json_object_get(schema, section);
}

json_t *qmp_schema_introspection(void)
{
    if (!introspection) {
        json_error_t err;
        introspection = json_loads(qapi_schema_introspection_json, 0, &err);
        g_assert(introspection);
    }
    return introspection;
}

bool qmp_command_exists(const char *name)
{
    return json_object_get(schema_get("commands"), name) &&
           command_find(name);
}

/* ---- checking values against schema types ---- */

/* QEMU's member names in messages: "a", "a.b", "a[2]". */
static char *member_path(const char *parent, const char *name)
{
    return *parent ? g_strdup_printf("%s.%s", parent, name) : g_strdup(name);
}

static const char *json_kind(const char *type)
{
    static const struct {
        const char *type, *kind;
    } kinds[] = {
        { "str", "string" }, { "bool", "boolean" }, { "number", "number" },
        { "null", "null" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
        if (!strcmp(kinds[i].type, type)) {
            return kinds[i].kind;
        }
    }
    return NULL;
}

static bool type_error(const char *path, const char *expected, GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Invalid parameter type for '%s', expected: %s",
                *path ? path : "null", expected);
    return false;
}

static bool check_int(json_t *v, const char *type, const char *path,
                      GError **errp)
{
    static const struct {
        const char *name;
        json_int_t min, max;
    } ranges[] = {
        { "int8", INT8_MIN, INT8_MAX }, { "int16", INT16_MIN, INT16_MAX },
        { "int32", INT32_MIN, INT32_MAX }, { "uint8", 0, UINT8_MAX },
        { "uint16", 0, UINT16_MAX }, { "uint32", 0, UINT32_MAX },
        /* uint64 and size: what jansson holds of them (no negatives) */
        { "uint64", 0, INT64_MAX }, { "size", 0, INT64_MAX },
    };

    if (!json_is_integer(v)) {
        return type_error(path, "integer", errp);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(ranges); i++) {
        if (!strcmp(ranges[i].name, type)) {
            json_int_t n = json_integer_value(v);
            if (n < ranges[i].min || n > ranges[i].max) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "Parameter '%s' expects %s", path, type);
                return false;
            }
        }
    }
    return true;
}

static bool check_value(json_t *v, const char *type, const char *path,
                        GError **errp);

static bool check_struct(json_t *v, json_t *members, const char *path,
                         GError **errp)
{
    const char *key;
    json_t *val;
    size_t i;
    json_t *m;

    if (!json_is_object(v)) {
        return type_error(path, "object", errp);
    }
    json_array_foreach(members, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        json_t *mv = json_object_get(v, name);
        g_autofree char *mpath = member_path(path, name);

        if (!mv) {
            if (!json_is_true(json_object_get(m, "optional"))) {
                g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                            "Parameter '%s' is missing", mpath);
                return false;
            }
            continue;
        }
        if (!check_value(mv, json_string_value(json_object_get(m, "type")),
                         mpath, errp)) {
            return false;
        }
    }
    json_object_foreach(v, key, val) {
        bool known = false;
        json_array_foreach(members, i, m) {
            if (!strcmp(json_string_value(json_object_get(m, "name")), key)) {
                known = true;
                break;
            }
        }
        if (!known) {
            g_autofree char *mpath = member_path(path, key);
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' is unexpected", mpath);
            return false;
        }
    }
    return true;
}

static bool check_enum(json_t *v, json_t *values, const char *path,
                       GError **errp)
{
    size_t i;
    json_t *e;

    if (!json_is_string(v)) {
        return type_error(path, "string", errp);
    }
    json_array_foreach(values, i, e) {
        if (json_equal(e, v)) {
            return true;
        }
    }
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Parameter '%s' does not accept value '%s'", path,
                json_string_value(v));
    return false;
}

/* An alternate takes the first branch whose JSON kind matches. */
static bool check_alternate(json_t *v, const char *name, json_t *branches,
                            const char *path, GError **errp)
{
    size_t i;
    json_t *b;

    json_array_foreach(branches, i, b) {
        if (check_value(v, json_string_value(b), path, NULL)) {
            return true;
        }
    }
    return type_error(path, name, errp);
}

static bool check_value(json_t *v, const char *type, const char *path,
                        GError **errp)
{
    const char *kind = json_kind(type);

    if (!strcmp(type, "any")) {
        return true;
    }
    if (type[0] == '[') {
        g_autofree char *elem = g_strndup(type + 1, strlen(type) - 2);
        size_t i;
        json_t *e;

        if (!json_is_array(v)) {
            return type_error(path, "array", errp);
        }
        json_array_foreach(v, i, e) {
            g_autofree char *epath = g_strdup_printf("%s[%zu]", path, i);
            if (!check_value(e, elem, epath, errp)) {
                return false;
            }
        }
        return true;
    }
    if (kind) {
        bool ok = !strcmp(kind, "string")    ? json_is_string(v)
                  : !strcmp(kind, "boolean") ? json_is_boolean(v)
                  : !strcmp(kind, "number")  ? json_is_number(v)
                                             : json_is_null(v);
        return ok || type_error(path, kind, errp);
    }
    if (g_str_has_prefix(type, "int") || g_str_has_prefix(type, "uint") ||
        !strcmp(type, "size")) {
        return check_int(v, type, path, errp);
    }

    json_t *info = json_object_get(schema_get("types"), type);
    const char *k = json_string_value(json_object_get(info, "kind"));
    if (!g_strcmp0(k, "enum")) {
        return check_enum(v, json_object_get(info, "values"), path, errp);
    }
    if (!g_strcmp0(k, "alternate")) {
        return check_alternate(v, type, json_object_get(info, "branches"),
                               path, errp);
    }
    g_assert(!g_strcmp0(k, "struct"));
    return check_struct(v, json_object_get(info, "members"), path, errp);
}

/* Checks an argument object against a command's or event's data type. */
static bool check_arguments(json_t *args, json_t *type, GError **errp)
{
    if (json_is_null(type) || !type) {
        const char *key;
        json_t *val;
        json_object_foreach(args, key, val) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s' is unexpected", key);
            return false;
        }
        return true;
    }
    return check_value(args, json_string_value(type), "", errp);
}

json_t *qmp_call(const char *name, json_t *args, GError **errp)
{
    json_t *decl = json_object_get(schema_get("commands"), name);
    QmpCommand *cmd = command_find(name);
    g_autoptr(GError) bad = NULL;
    json_t *ret;

    if (!decl || !cmd) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                    "The command %s has not been found", name);
        return NULL;
    }
    args = args ? json_incref(args) : json_object();
    if (!check_arguments(args, json_object_get(decl, "args"), errp)) {
        json_decref(args);
        return NULL;
    }
    ret = cmd->fn(args, errp);
    json_decref(args);
    if (!ret) {
        if (errp && !*errp) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "%s failed", name);
        }
        return NULL;
    }
    json_t *rtype = json_object_get(decl, "returns");
    if (json_is_string(rtype)
            ? !check_value(ret, json_string_value(rtype), "return", &bad)
            : !json_is_object(ret) || json_object_size(ret) != 0) {
        /* our bug, not the client's: say so, but still answer */
        log_error("internal error: the reply of %s does not match the "
                  "schema%s%s", name, bad ? ": " : "",
                  bad ? bad->message : "");
    }
    return ret;
}

/* ---- commands of the protocol itself ---- */

static json_t *qmp_query_version(json_t *args, GError **errp)
{
    return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu",
                     "major", QMP_QEMU_MAJOR, "minor", QMP_QEMU_MINOR,
                     "micro", QMP_QEMU_MICRO,
                     "package", "vireo " VIREO_VERSION);
}
QMP_COMMAND("query-version", qmp_query_version)

static json_t *qmp_query_commands(json_t *args, GError **errp)
{
    json_t *list = json_array();
    const char *name;
    json_t *decl;

    json_array_append_new(list, json_pack("{s:s}", "name",
                                          "qmp_capabilities"));
    json_object_foreach(schema_get("commands"), name, decl) {
        if (command_find(name)) {
            json_array_append_new(list, json_pack("{s:s}", "name", name));
        }
    }
    return list;
}
QMP_COMMAND("query-commands", qmp_query_commands)

static json_t *qmp_query_qmp_schema(json_t *args, GError **errp)
{
    return json_incref(qmp_schema_introspection());
}
QMP_COMMAND("query-qmp-schema", qmp_query_qmp_schema)

/* ---- one client ---- */

struct QmpSession {
    QmpOutputFunc *out;
    void *opaque;
    bool pretty;
    bool active;        /* a client is there */
    bool negotiated;    /* qmp_capabilities done */

    /* framing: the JSON value being read */
    GString *buf;
    int depth;          /* of {} and [] */
    bool in_string, escape;
    bool scalar;        /* a top-level value outside brackets */
    bool skipping;      /* an oversized value: read to its end, discard */
};

static GList *sessions;

QmpSession *qmp_session_new(QmpOutputFunc *out, void *opaque, bool pretty)
{
    QmpSession *s = g_new0(QmpSession, 1);

    s->out = out;
    s->opaque = opaque;
    s->pretty = pretty;
    s->buf = g_string_new(NULL);
    sessions = g_list_prepend(sessions, s);
    return s;
}

void qmp_session_free(QmpSession *s)
{
    if (s) {
        sessions = g_list_remove(sessions, s);
        g_string_free(s->buf, TRUE);
        g_free(s);
    }
}

static void reset_framing(QmpSession *s)
{
    g_string_truncate(s->buf, 0);
    s->depth = 0;
    s->in_string = s->escape = s->scalar = s->skipping = false;
}

static void send_json(QmpSession *s, json_t *obj)
{
    size_t flags = JSON_ENSURE_ASCII | (s->pretty ? JSON_INDENT(4) : 0);
    char *text = json_dumps(obj, flags);

    if (text) {
        g_autofree char *line = g_strconcat(text, "\n", NULL);
        s->out(s->opaque, line, strlen(line));
        free(text);
    }
}

void qmp_session_start(QmpSession *s)
{
    json_t *greeting = json_pack(
        "{s:{s:{s:{s:i,s:i,s:i},s:s},s:[]}}", "QMP", "version", "qemu",
        "major", QMP_QEMU_MAJOR, "minor", QMP_QEMU_MINOR,
        "micro", QMP_QEMU_MICRO, "package", "vireo " VIREO_VERSION,
        "capabilities");

    reset_framing(s);
    s->active = true;
    s->negotiated = false;
    send_json(s, greeting);
    json_decref(greeting);
}

void qmp_session_end(QmpSession *s)
{
    reset_framing(s);
    s->active = false;
    s->negotiated = false;
}

static const char *error_class_name(const GError *err)
{
    static const char *const names[] = {
        [QMP_ERROR_GENERIC] = "GenericError",
        [QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
        [QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
        [QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
        [QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
    };

    if (err->domain == QMP_ERROR && err->code >= 0 &&
        err->code < (int)G_N_ELEMENTS(names)) {
        return names[err->code];
    }
    return "GenericError";
}

/* Sends {"return": ret} or {"error": ...}, echoing the request's id. */
static void send_response(QmpSession *s, json_t *ret, GError *err,
                          json_t *id)
{
    json_t *rsp;

    if (err) {
        rsp = json_pack("{s:{s:s,s:s}}", "error", "class",
                        error_class_name(err), "desc", err->message);
    } else {
        rsp = json_pack("{s:O}", "return", ret);
    }
    if (id) {
        json_object_set(rsp, "id", id);
    }
    send_json(s, rsp);
    json_decref(rsp);
}

static void send_error(QmpSession *s, json_t *id, QmpErrorClass cls,
                       const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void send_error(QmpSession *s, json_t *id, QmpErrorClass cls,
                       const char *fmt, ...)
{
    va_list ap;
    GError *err;

    va_start(ap, fmt);
    err = g_error_new_valist(QMP_ERROR, cls, fmt, ap);
    va_end(ap);
    send_response(s, NULL, err, id);
    g_error_free(err);
}

static json_t *qmp_capabilities(QmpSession *s, json_t *args, GError **errp)
{
    json_t *decl = json_object_get(schema_get("commands"),
                                   "qmp_capabilities");
    json_t *enable;
    size_t i;
    json_t *cap;

    if (!check_arguments(args, json_object_get(decl, "args"), errp)) {
        return NULL;
    }
    enable = json_object_get(args, "enable");
    json_array_foreach(enable, i, cap) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Capability '%s' not available", json_string_value(cap));
        return NULL;
    }
    s->negotiated = true;
    return json_object();
}

/* Runs one complete request: QEMU's checks of the envelope, then the call. */
static void handle_request(QmpSession *s, json_t *req)
{
    json_t *id = json_object_get(req, "id");
    json_t *exec = json_object_get(req, "execute");
    json_t *args = json_object_get(req, "arguments");
    g_autoptr(GError) err = NULL;
    const char *key, *name;
    json_t *val, *ret;

    json_object_foreach(req, key, val) {
        if (strcmp(key, "execute") && strcmp(key, "arguments") &&
            strcmp(key, "id")) {
            send_error(s, id, QMP_ERROR_GENERIC,
                       "QMP input member '%s' is unexpected", key);
            return;
        }
    }
    if (!exec) {
        send_error(s, id, QMP_ERROR_GENERIC,
                   "QMP input lacks member 'execute'");
        return;
    }
    if (!json_is_string(exec)) {
        send_error(s, id, QMP_ERROR_GENERIC,
                   "QMP input member 'execute' must be a string");
        return;
    }
    if (args && !json_is_object(args)) {
        send_error(s, id, QMP_ERROR_GENERIC,
                   "QMP input member 'arguments' must be an object");
        return;
    }
    name = json_string_value(exec);
    if (!s->negotiated && strcmp(name, "qmp_capabilities")) {
        send_error(s, id, QMP_ERROR_COMMAND_NOT_FOUND,
                   "Expecting capabilities negotiation with "
                   "'qmp_capabilities'");
        return;
    }
    if (s->negotiated && !strcmp(name, "qmp_capabilities")) {
        send_error(s, id, QMP_ERROR_COMMAND_NOT_FOUND,
                   "Capabilities negotiation is already complete, command "
                   "ignored");
        return;
    }
    if (!strcmp(name, "qmp_capabilities")) {
        json_t *empty = args ? NULL : json_object();
        ret = qmp_capabilities(s, args ? args : empty, &err);
        json_decref(empty);
    } else {
        ret = qmp_call(name, args, &err);
    }
    send_response(s, ret, err, id);
    json_decref(ret);
}

/* A whole JSON text arrived (an object or array, or a top-level scalar). */
static void handle_text(QmpSession *s)
{
    json_error_t jerr;
    json_t *v = json_loadb(s->buf->str, s->buf->len,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

    g_string_truncate(s->buf, 0);
    if (!v) {
        send_error(s, NULL, QMP_ERROR_GENERIC, "JSON parse error, %s",
                   jerr.text);
    } else if (!json_is_object(v)) {
        send_error(s, NULL, QMP_ERROR_GENERIC,
                   "QMP input must be a JSON object");
    } else {
        handle_request(s, v);
    }
    json_decref(v);
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ends_bare_token(uint8_t c)
{
    return is_space(c) || strchr("{}[]\",:", c) != NULL;
}

/*
 * Framing, as QEMU's JSON streamer: a value ends where its brackets
 * balance, outside strings; between values only whitespace is expected.
 * Returns whether the byte was consumed (a bare token's end is not).
 */
static bool frame_byte(QmpSession *s, uint8_t c)
{
    if (s->scalar && !s->in_string && ends_bare_token(c)) {
        s->scalar = false;
        if (s->skipping) {
            s->skipping = false;
        } else {
            handle_text(s);
        }
        return false;
    }
    if (!s->skipping) {
        if (s->buf->len >= QMP_INPUT_MAX) {
            send_error(s, NULL, QMP_ERROR_GENERIC,
                       "JSON parse error, input exceeds %d bytes",
                       QMP_INPUT_MAX);
            g_string_truncate(s->buf, 0);
            s->skipping = true;
        } else if (s->depth || s->scalar || !is_space(c)) {
            g_string_append_c(s->buf, c);
        }
    }
    if (s->in_string) {
        if (s->escape) {
            s->escape = false;
        } else if (c == '\\') {
            s->escape = true;
        } else if (c == '"') {
            s->in_string = false;
            if (s->scalar && !s->depth) {
                s->scalar = false;
                if (s->skipping) {
                    s->skipping = false;
                } else {
                    handle_text(s);
                }
            }
        }
        return true;
    }
    if (s->scalar) {
        return true;
    }
    switch (c) {
    case '"':
        s->in_string = true;
        s->scalar = s->depth == 0;
        break;
    case '{':
    case '[':
        if (++s->depth > QMP_NESTING_MAX && !s->skipping) {
            send_error(s, NULL, QMP_ERROR_GENERIC,
                       "JSON parse error, nesting deeper than %d",
                       QMP_NESTING_MAX);
            g_string_truncate(s->buf, 0);
            s->skipping = true;
        }
        break;
    case '}':
    case ']':
        if (s->depth == 0) {
            g_string_truncate(s->buf, 0);
            send_error(s, NULL, QMP_ERROR_GENERIC,
                       "JSON parse error, unexpected '%c'", c);
            break;
        }
        if (--s->depth == 0) {
            if (s->skipping) {
                s->skipping = false;
                g_string_truncate(s->buf, 0);
            } else {
                handle_text(s);
            }
        }
        break;
    default:
        if (s->depth == 0 && !is_space(c)) {
            s->scalar = true;
        }
        break;
    }
    return true;
}

void qmp_session_feed(QmpSession *s, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len && s->active; i++) {
        if (!frame_byte(s, buf[i])) {
            frame_byte(s, buf[i]);
        }
    }
}

/* ---- events ---- */

void qmp_event_send(const char *name, json_t *data)
{
    json_t *decl = json_object_get(schema_get("events"), name);
    g_autoptr(GError) bad = NULL;
    gint64 now = g_get_real_time();
    json_t *ev;

    if (!decl || (data && !check_arguments(data, json_object_get(decl,
                                                                  "data"),
                                           &bad))) {
        log_error("internal error: event %s does not match the schema%s%s",
                  name, bad ? ": " : "", bad ? bad->message : "");
    }
    ev = json_pack("{s:{s:I,s:I},s:s}", "timestamp",
                   "seconds", (json_int_t)(now / G_USEC_PER_SEC),
                   "microseconds", (json_int_t)(now % G_USEC_PER_SEC),
                   "event", name);
    if (data) {
        json_object_set_new(ev, "data", data);
    }
    for (GList *l = sessions; l; l = l->next) {
        QmpSession *s = l->data;
        if (s->active && s->negotiated) {
            send_json(s, ev);
        }
    }
    json_decref(ev);
}
