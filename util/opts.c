/* QEMU-style "a,b=c,d=e" option strings and number/size/bool parsing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/opts.h"

G_DEFINE_QUARK(vireo-error-quark, vireo_error)

/* Copies one element up to an unescaped ',' and advances *p past it. */
static char *next_element(const char **p)
{
    GString *s = g_string_new(NULL);
    const char *c = *p;

    while (*c) {
        if (*c == ',') {
            if (c[1] == ',') {
                g_string_append_c(s, ',');
                c += 2;
                continue;
            }
            c++;
            break;
        }
        g_string_append_c(s, *c++);
    }
    *p = c;
    return g_string_free(s, FALSE);
}

static void pair_clear(gpointer p)
{
    OptPair *pair = p;
    g_free(pair->key);
    g_free(pair->value);
}

Opts *opts_parse(const char *str, const char *implied_key, GError **errp)
{
    Opts *o = g_new0(Opts, 1);
    const char *p = str;
    bool first = true;

    o->pairs = g_array_new(FALSE, TRUE, sizeof(OptPair));
    g_array_set_clear_func(o->pairs, pair_clear);
    while (*p) {
        char *elem = next_element(&p);
        char *eq = strchr(elem, '=');
        OptPair pair = { 0 };

        if (eq) {
            pair.key = g_strndup(elem, eq - elem);
            pair.value = g_strdup(eq + 1);
        } else if (first && implied_key) {
            pair.key = g_strdup(implied_key);
            pair.value = g_strdup(elem);
        } else if (*elem) {
            /* "flag" alone means flag=on, as QEMU accepts */
            pair.key = g_strdup(elem);
            pair.value = g_strdup("on");
        }
        g_free(elem);
        first = false;
        if (!pair.key) {
            continue;
        }
        if (!*pair.key) {
            g_set_error(errp, VIREO_ERROR, 0, "'%s': empty parameter name",
                        str);
            pair_clear(&pair);
            opts_free(o);
            return NULL;
        }
        /* duplicates stay: opts_get takes the last, opts_get_all each */
        g_array_append_val(o->pairs, pair);
    }
    return o;
}

void opts_free(Opts *o)
{
    if (o) {
        g_array_free(o->pairs, TRUE);
        g_free(o);
    }
}

const char *opts_get(Opts *o, const char *key)
{
    const char *value = NULL;

    for (guint i = 0; i < o->pairs->len; i++) {
        OptPair *pair = &g_array_index(o->pairs, OptPair, i);
        if (!strcmp(pair->key, key)) {
            pair->used = true;
            value = pair->value;
        }
    }
    return value;
}

GPtrArray *opts_get_all(Opts *o, const char *key)
{
    GPtrArray *values = g_ptr_array_new();

    for (guint i = 0; i < o->pairs->len; i++) {
        OptPair *pair = &g_array_index(o->pairs, OptPair, i);
        if (!strcmp(pair->key, key)) {
            pair->used = true;
            g_ptr_array_add(values, pair->value);
        }
    }
    return values;
}

static bool prefix_error(GError **errp, const char *key)
{
    g_prefix_error(errp, "parameter '%s': ", key);
    return false;
}

bool opts_get_bool(Opts *o, const char *key, bool def, bool *out,
                   GError **errp)
{
    const char *v = opts_get(o, key);
    if (!v) {
        *out = def;
        return true;
    }
    return parse_bool(v, out, errp) || prefix_error(errp, key);
}

bool opts_get_uint(Opts *o, const char *key, uint64_t def, uint64_t *out,
                   GError **errp)
{
    const char *v = opts_get(o, key);
    if (!v) {
        *out = def;
        return true;
    }
    return parse_uint(v, out, errp) || prefix_error(errp, key);
}

bool opts_get_size(Opts *o, const char *key, uint64_t def, uint64_t *out,
                   GError **errp)
{
    const char *v = opts_get(o, key);
    if (!v) {
        *out = def;
        return true;
    }
    return parse_size(v, 1, out, errp) || prefix_error(errp, key);
}

bool opts_check_unused(Opts *o, const char *what, GError **errp)
{
    for (guint i = 0; i < o->pairs->len; i++) {
        OptPair *pair = &g_array_index(o->pairs, OptPair, i);
        if (!pair->used) {
            g_set_error(errp, VIREO_ERROR, 0, "%s: invalid parameter '%s'",
                        what, pair->key);
            return false;
        }
    }
    return true;
}

bool parse_bool(const char *s, bool *out, GError **errp)
{
    if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true")) {
        *out = true;
    } else if (!strcmp(s, "off") || !strcmp(s, "no") ||
               !strcmp(s, "false")) {
        *out = false;
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "'%s' is not a boolean (use 'on' or 'off')", s);
        return false;
    }
    return true;
}

bool parse_uint(const char *s, uint64_t *out, GError **errp)
{
    char *end;

    errno = 0;
    if (!*s || *s == '-' || g_ascii_isspace(*s)) {
        goto bad;
    }
    *out = strtoull(s, &end, 0);
    if (errno || *end) {
        goto bad;
    }
    return true;
bad:
    g_set_error(errp, VIREO_ERROR, 0, "'%s' is not a valid number", s);
    return false;
}

bool parse_size(const char *s, uint64_t default_unit, uint64_t *out,
                GError **errp)
{
    char *end;
    double d;
    uint64_t unit = default_unit;

    errno = 0;
    if (!*s || *s == '-' || g_ascii_isspace(*s)) {
        goto bad;
    }
    d = g_ascii_strtod(s, &end);
    if (errno || end == s) {
        goto bad;
    }
    switch (g_ascii_toupper(*end)) {
    case 'B': unit = 1; end++; break;
    case 'K': unit = 1ULL << 10; end++; break;
    case 'M': unit = 1ULL << 20; end++; break;
    case 'G': unit = 1ULL << 30; end++; break;
    case 'T': unit = 1ULL << 40; end++; break;
    case 'P': unit = 1ULL << 50; end++; break;
    case 'E': unit = 1ULL << 60; end++; break;
    default: break;
    }
    if (*end || d < 0 || d * unit >= 18446744073709551616.0) {
        goto bad;
    }
    *out = (uint64_t)(d * unit);
    return true;
bad:
    g_set_error(errp, VIREO_ERROR, 0, "'%s' is not a valid size", s);
    return false;
}

char *size_to_str(uint64_t v)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
                                         "PiB", "EiB" };
    int i = 0;

    /* The next unit as soon as the number would show four digits. */
    while (i < 6 && (double)v >= 1000.0 * (double)(1ULL << (10 * i))) {
        i++;
    }
    return g_strdup_printf("%0.3g %s", (double)v / (double)(1ULL << (10 * i)),
                           units[i]);
}
