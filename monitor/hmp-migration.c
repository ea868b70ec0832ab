/*
 * The human monitor's migration commands, with QEMU 7.2's syntax and
 * output: migrate, migrate_cancel, migrate_incoming,
 * migrate_set_parameter, info migrate, info migrate_parameters (each runs
 * its QMP twin), and the snapshot commands savevm, loadvm, delvm and info
 * snapshots, which run at once as QEMU's do (QMP has them as jobs).
 */
#include <inttypes.h>
#include <string.h>

#include "hmp-priv.h"
#include "migration/snapshot.h"
#include "monitor/qmp.h"
#include "util/opts.h"

static json_t *call(const char *name, json_t *args, GString *out)
{
    GError *err = NULL;
    json_t *r = qmp_call(name, args, &err);

    json_decref(args);
    if (!r) {
        g_string_append_printf(out, "Error: %s\n", err->message);
        g_error_free(err);
    }
    return r;
}

/* The words of a line, blanks between (caller frees). */
static GStrv words(const char *rest, guint *n)
{
    g_auto(GStrv) all = g_strsplit_set(rest ? rest : "", " \t", -1);
    GPtrArray *w = g_ptr_array_new();

    for (char **p = all; *p; p++) {
        if (**p) {
            g_ptr_array_add(w, g_strdup(*p));
        }
    }
    *n = w->len;
    g_ptr_array_add(w, NULL);
    return (GStrv)g_ptr_array_free(w, FALSE);
}

/* The end of a migrate without -d: QEMU prints only a failure. */
static bool migrate_ended(GString *out)
{
    json_t *r = call("query-migrate", NULL, out);
    const char *status = json_string_value(json_object_get(r, "status"));
    const char *desc = json_string_value(json_object_get(r, "error-desc"));
    bool ended = !r || !status || (strcmp(status, "setup") &&
                                   strcmp(status, "active") &&
                                   strcmp(status, "cancelling"));

    if (ended && desc) {
        g_string_append_printf(out, "%s\n", desc);
    }
    json_decref(r);
    return ended;
}

/*
 * migrate [-d] URI. Without -d the monitor holds its prompt until the
 * migration ends, as QEMU's does; QMP's human-monitor-command cannot, and
 * says so.
 */
void hmp_migrate(HmpContext *ctx, const char *rest, GString *out)
{
    guint n;
    g_auto(GStrv) w = words(rest, &n);
    const char *uri = NULL;
    bool detach = false;

    for (guint i = 0; i < n; i++) {
        if (!strcmp(w[i], "-d")) {
            detach = true;
            continue;
        }
        if (w[i][0] == '-' || uri) {
            g_string_append(out, "usage: migrate [-d] uri\n");
            return;
        }
        uri = w[i];
    }
    if (!uri) {
        g_string_append(out, "usage: migrate [-d] uri\n");
        return;
    }
    json_t *r = call("migrate", json_pack("{s:s}", "uri", uri), out);
    if (!r || detach) {
        json_decref(r);
        return;
    }
    json_decref(r);
    if (ctx->can_wait) {
        ctx->wait = migrate_ended;
    } else {
        g_string_append(out, "terminal does not allow synchronous "
                        "migration, continuing detached\n");
    }
}

void hmp_migrate_cancel(const char *rest, GString *out)
{
    json_decref(call("migrate_cancel", NULL, out));
}

void hmp_migrate_incoming(const char *rest, GString *out)
{
    guint n;
    g_auto(GStrv) w = words(rest, &n);

    if (n != 1) {
        g_string_append(out, "usage: migrate_incoming uri\n");
        return;
    }
    json_decref(call("migrate-incoming", json_pack("{s:s}", "uri", w[0]),
                     out));
}

/* migrate_set_parameter downtime-limit MS | max-bandwidth SIZE (bytes/s,
 * with K/M/G suffixes: QEMU reads a bare number as bytes here too) */
void hmp_migrate_set_parameter(const char *rest, GString *out)
{
    guint n;
    g_auto(GStrv) w = words(rest, &n);
    g_autoptr(GError) err = NULL;
    uint64_t v;

    if (n != 2) {
        g_string_append(out, "usage: migrate_set_parameter parameter value\n");
        return;
    }
    if (!strcmp(w[0], "downtime-limit")) {
        if (!parse_uint(w[1], &v, &err)) {
            g_string_append_printf(out, "Error: %s\n", err->message);
            return;
        }
    } else if (!strcmp(w[0], "max-bandwidth")) {
        if (!parse_size(w[1], 1, &v, &err)) {
            g_string_append_printf(out, "Error: %s\n", err->message);
            return;
        }
    } else {
        g_string_append_printf(out, "Error: Invalid parameter '%s' "
                               "(downtime-limit, max-bandwidth)\n", w[0]);
        return;
    }
    if (v > INT64_MAX) {
        g_string_append(out, "Error: value out of range\n");
        return;
    }
    json_decref(call("migrate-set-parameters",
                     json_pack("{s:I}", w[0], (json_int_t)v), out));
}

static int64_t jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* QEMU's hmp_info_migrate, the lines Vireo has figures for. */
void hmp_info_migrate(const char *rest, GString *out)
{
    json_t *r = call("query-migrate", NULL, out);
    json_t *ram;

    if (!r) {
        return;
    }
    if (json_object_get(r, "status")) {
        g_string_append_printf(out, "Migration status: %s\n",
            json_string_value(json_object_get(r, "status")));
    }
    if (json_object_get(r, "error-desc")) {
        g_string_append_printf(out, "Error: %s\n",
            json_string_value(json_object_get(r, "error-desc")));
    }
    if (json_object_get(r, "total-time")) {
        g_string_append_printf(out, "total time: %" PRId64 " ms\n",
                               jint(r, "total-time"));
    }
    if (json_object_get(r, "expected-downtime")) {
        g_string_append_printf(out, "expected downtime: %" PRId64 " ms\n",
                               jint(r, "expected-downtime"));
    }
    if (json_object_get(r, "downtime")) {
        g_string_append_printf(out, "downtime: %" PRId64 " ms\n",
                               jint(r, "downtime"));
    }
    if (json_object_get(r, "setup-time")) {
        g_string_append_printf(out, "setup: %" PRId64 " ms\n",
                               jint(r, "setup-time"));
    }
    ram = json_object_get(r, "ram");
    if (ram) {
        g_string_append_printf(out,
            "transferred ram: %" PRId64 " kbytes\n"
            "throughput: %0.2f mbps\n"
            "remaining ram: %" PRId64 " kbytes\n"
            "total ram: %" PRId64 " kbytes\n"
            "duplicate: %" PRId64 " pages\n"
            "skipped: 0 pages\n"
            "normal: %" PRId64 " pages\n"
            "normal bytes: %" PRId64 " kbytes\n"
            "dirty sync count: %" PRId64 "\n"
            "page size: %" PRId64 " kbytes\n"
            "pages-per-second: %" PRId64 "\n",
            jint(ram, "transferred") >> 10,
            json_real_value(json_object_get(ram, "mbps")),
            jint(ram, "remaining") >> 10, jint(ram, "total") >> 10,
            jint(ram, "duplicate"), jint(ram, "normal"),
            jint(ram, "normal-bytes") >> 10, jint(ram, "dirty-sync-count"),
            jint(ram, "page-size") >> 10, jint(ram, "pages-per-second"));
        if (jint(ram, "dirty-pages-rate")) {
            g_string_append_printf(out, "dirty pages rate: %" PRId64
                                   " pages\n", jint(ram, "dirty-pages-rate"));
        }
    }
    json_decref(r);
}

void hmp_info_migrate_parameters(const char *rest, GString *out)
{
    json_t *r = call("query-migrate-parameters", NULL, out);

    if (r) {
        g_string_append_printf(out, "downtime-limit: %" PRId64 " ms\n"
                               "max-bandwidth: %" PRId64 " bytes/second\n",
                               jint(r, "downtime-limit"),
                               jint(r, "max-bandwidth"));
        json_decref(r);
    }
}

/* ---- snapshots ---- */

/* The one word a snapshot command takes; NULL after printing the usage. */
static char *tag_arg(const char *rest, const char *usage, GString *out)
{
    guint n;
    g_auto(GStrv) w = words(rest, &n);

    if (n != 1) {
        g_string_append_printf(out, "usage: %s\n", usage);
        return NULL;
    }
    return g_strdup(w[0]);
}

static void report(GError *err, GString *out)
{
    if (err) {
        g_string_append_printf(out, "Error: %s\n", err->message);
        g_error_free(err);
    }
}

/* savevm [tag]: without one, QEMU's vm-YYYYMMDDHHMMSS */
void hmp_savevm(const char *rest, GString *out)
{
    g_autofree char *tag = NULL;
    GError *err = NULL;
    guint n;
    g_auto(GStrv) w = words(rest, &n);

    if (n > 1) {
        g_string_append(out, "usage: savevm [tag]\n");
        return;
    }
    if (n) {
        tag = g_strdup(w[0]);
    } else {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        tag = g_date_time_format(now, "vm-%Y%m%d%H%M%S");
    }
    snapshot_save(tag, true, NULL, NULL, &err);
    report(err, out);
}

void hmp_loadvm(const char *rest, GString *out)
{
    g_autofree char *tag = tag_arg(rest, "loadvm tag", out);
    GError *err = NULL;

    if (tag) {
        snapshot_load(tag, NULL, NULL, &err);
        report(err, out);
    }
}

void hmp_delvm(const char *rest, GString *out)
{
    g_autofree char *tag = tag_arg(rest, "delvm tag", out);
    GError *err = NULL;

    if (tag) {
        snapshot_delete(tag, NULL, &err);
        report(err, out);
    }
}

void hmp_info_snapshots(const char *rest, GString *out)
{
    snapshot_info(out);
}
