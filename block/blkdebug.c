/*
 * blkdebug: a filter node that fails chosen requests, for testing how
 * guests, devices and werror=/rerror= cope with I/O errors. QEMU's driver
 * of the same name is the reference: its config file syntax, its inline
 * -blockdev options (inject-error.N.*, set-state.N.*) and its semantics,
 * where the format driver above raises events (read_aio, l2_alloc_write,
 * ...) on this node and an event arms the inject-error rules named for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "block/blkdebug.h"

#define SECTOR_SIZE 512
#define MAX_ERRNO 4095
#define MAX_CONFIG_SIZE (1 << 20)

static const char *const event_names[BLKDBG__MAX] = {
    "l1_update",
    "l1_grow_alloc_table",
    "l1_grow_write_table",
    "l1_grow_activate_table",
    "l2_load",
    "l2_update",
    "l2_update_compressed",
    "l2_alloc_cow_read",
    "l2_alloc_write",
    "read_aio",
    "read_backing_aio",
    "read_compressed",
    "write_aio",
    "write_compressed",
    "vmstate_load",
    "vmstate_save",
    "cow_read",
    "cow_write",
    "reftable_load",
    "reftable_grow",
    "reftable_update",
    "refblock_load",
    "refblock_update",
    "refblock_update_part",
    "refblock_alloc",
    "refblock_alloc_hookup",
    "refblock_alloc_write",
    "refblock_alloc_write_blocks",
    "refblock_alloc_write_table",
    "refblock_alloc_switch_table",
    "cluster_alloc",
    "cluster_alloc_bytes",
    "cluster_free",
    "flush_to_os",
    "flush_to_disk",
    "pwritev_rmw_head",
    "pwritev_rmw_after_head",
    "pwritev_rmw_tail",
    "pwritev_rmw_after_tail",
    "pwritev",
    "pwritev_zero",
    "pwritev_done",
    "empty_image_prepare",
    "l1_shrink_write_table",
    "l1_shrink_free_l2_clusters",
    "cor_write",
    "cluster_alloc_space",
    "none",
};

static const char *const iotype_names[BLKDEBUG_IO_TYPE__MAX] = {
    "read", "write", "write-zeroes", "discard", "flush", "block-status",
};

typedef enum RuleAction {
    ACTION_INJECT_ERROR,
    ACTION_SET_STATE,
} RuleAction;

typedef struct BlkdebugRule {
    RuleAction action;
    int event;     /* -1 until event= is given */
    int64_t state; /* 0: in any state */
    /* inject-error */
    int error;      /* errno; 0 injects nothing (as in QEMU) */
    int64_t offset; /* -1: any request; else it must cover it */
    uint64_t iotype_mask;
    bool once; /* the rule goes away once it has failed one */
    bool immediately;
    bool active; /* armed by its event */
    /* set-state */
    int64_t new_state;
} BlkdebugRule;

struct BlkdebugRules {
    GMutex lock;      /* events and checks come from pool threads */
    GPtrArray *rules; /* in the order they were defined */
    int64_t state;
};

int blkdebug_event_from_name(const char *name)
{
    for (int i = 0; name && i < BLKDBG__MAX; i++) {
        if (!strcmp(name, event_names[i])) {
            return i;
        }
    }
    return -1;
}

const char *blkdebug_event_name(BlkdebugEvent event)
{
    return event < BLKDBG__MAX ? event_names[event] : "?";
}

BlkdebugRules *blkdebug_rules_new(void)
{
    BlkdebugRules *r = g_new0(BlkdebugRules, 1);

    g_mutex_init(&r->lock);
    r->rules = g_ptr_array_new_with_free_func(g_free);
    r->state = 1; /* QEMU's initial state */
    return r;
}

void blkdebug_rules_free(BlkdebugRules *r)
{
    if (r) {
        g_ptr_array_free(r->rules, true);
        g_mutex_clear(&r->lock);
        g_free(r);
    }
}

/* Parsed rules join the node's in their order, all or none. */
static void add_parsed_rules(BlkdebugRules *r, GPtrArray *parsed)
{
    g_mutex_lock(&r->lock);
    while (parsed->len) {
        g_ptr_array_add(r->rules, g_ptr_array_steal_index(parsed, 0));
    }
    g_mutex_unlock(&r->lock);
}

void blkdebug_rules_append(BlkdebugRules *dst, BlkdebugRules *src)
{
    add_parsed_rules(dst, src->rules);
    blkdebug_rules_free(src);
}

int blkdebug_rules_state(BlkdebugRules *r)
{
    g_mutex_lock(&r->lock);
    int state = (int)r->state;
    g_mutex_unlock(&r->lock);
    return state;
}

int blkdebug_rules_count(BlkdebugRules *r)
{
    g_mutex_lock(&r->lock);
    int n = r->rules->len;
    g_mutex_unlock(&r->lock);
    return n;
}

/* ---- rules from keys and values ---- */

static BlkdebugRule *rule_new(RuleAction action)
{
    BlkdebugRule *rule = g_new0(BlkdebugRule, 1);

    rule->action = action;
    rule->event = -1;
    rule->error = EIO;
    rule->offset = -1;
    /* QEMU's default: every type but block-status */
    rule->iotype_mask = ((1ull << BLKDEBUG_IO_TYPE__MAX) - 1) &
                        ~(1ull << BLKDEBUG_IO_TYPE_BLOCK_STATUS);
    return rule;
}

static bool get_number(const char *name, const char *value, uint64_t max,
                       uint64_t *out, GError **errp)
{
    if (!parse_uint(value, out, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "Parameter '%s' expects a number",
                    name);
        return false;
    }
    if (*out > max) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter '%s' expects a number up to %" G_GUINT64_FORMAT,
                    name, max);
        return false;
    }
    return true;
}

static bool get_bool(const char *name, const char *value, bool *out,
                     GError **errp)
{
    if (!parse_bool(value, out, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter '%s' expects 'on' or 'off'", name);
        return false;
    }
    return true;
}

static bool bad_value(const char *name, const char *value, GError **errp)
{
    g_set_error(errp, VIREO_ERROR, 0,
                "Parameter '%s' does not accept value '%s'", name, value);
    return false;
}

/*
 * One key of a rule. name is how errors call the key (the key itself in
 * a config file, "inject-error.0.errno" inline); inline says which of
 * QEMU's messages an unknown key gets.
 */
static bool rule_set(BlkdebugRule *rule, const char *key, const char *value,
                     const char *name, bool inline_opt, GError **errp)
{
    bool inject = rule->action == ACTION_INJECT_ERROR;
    uint64_t u;

    if (!strcmp(key, "event")) {
        rule->event = blkdebug_event_from_name(value);
        return rule->event >= 0 || bad_value(name, value, errp);
    }
    if (!strcmp(key, "state")) {
        if (!get_number(name, value, INT32_MAX, &u, errp)) {
            return false;
        }
        rule->state = u;
        return true;
    }
    if (!inject && !strcmp(key, "new_state")) {
        if (!get_number(name, value, INT32_MAX, &u, errp)) {
            return false;
        }
        rule->new_state = u;
        return true;
    }
    if (inject && !strcmp(key, "errno")) {
        if (!get_number(name, value, MAX_ERRNO, &u, errp)) {
            return false;
        }
        rule->error = u;
        return true;
    }
    if (inject && !strcmp(key, "sector")) {
        if (!strcmp(value, "-1")) { /* QEMU's "any sector" */
            rule->offset = -1;
            return true;
        }
        if (!get_number(name, value, INT64_MAX / SECTOR_SIZE, &u, errp)) {
            return false;
        }
        rule->offset = u * SECTOR_SIZE;
        return true;
    }
    if (inject && !strcmp(key, "iotype")) {
        for (int i = 0; i < BLKDEBUG_IO_TYPE__MAX; i++) {
            if (!strcmp(value, iotype_names[i])) {
                rule->iotype_mask = 1ull << i;
                return true;
            }
        }
        return bad_value(name, value, errp);
    }
    if (inject && !strcmp(key, "once")) {
        return get_bool(name, value, &rule->once, errp);
    }
    if (inject && !strcmp(key, "immediately")) {
        return get_bool(name, value, &rule->immediately, errp);
    }
    g_set_error(errp, VIREO_ERROR, 0,
                inline_opt ? "Parameter '%s' is unexpected"
                           : "Invalid parameter '%s'",
                name);
    return false;
}

/* ---- the config file ---- */

static bool section_action(const char *name, RuleAction *out)
{
    if (!strcmp(name, "inject-error")) {
        *out = ACTION_INJECT_ERROR;
    } else if (!strcmp(name, "set-state")) {
        *out = ACTION_SET_STATE;
    } else {
        return false;
    }
    return true;
}

/* "[name]" or QEMU's '[name "id"]' (the id is ignored); NULL: not one */
static char *parse_section(const char *line)
{
    size_t len = strlen(line);

    if (line[0] != '[' || line[len - 1] != ']') {
        return NULL;
    }
    char *name = g_strndup(line + 1, len - 2);
    char *space = strchr(name, ' ');
    if (space) {
        char *id = g_strstrip(space + 1);
        size_t id_len = strlen(id);
        if (id_len < 2 || id[0] != '"' || id[id_len - 1] != '"') {
            g_free(name);
            return NULL;
        }
        *space = '\0';
    }
    return name;
}

/* 'key = "value"'; false when the line is not one */
static bool parse_key_value(char *line, char **key, char **value)
{
    char *eq = strchr(line, '=');

    if (!eq) {
        return false;
    }
    *eq = '\0';
    *key = g_strstrip(line);
    char *v = g_strstrip(eq + 1);
    size_t len = strlen(v);
    if (!**key || strchr(*key, ' ') || len < 2 || v[0] != '"' ||
        v[len - 1] != '"' || memchr(v + 1, '"', len - 2)) {
        return false;
    }
    v[len - 1] = '\0';
    *value = v + 1;
    return true;
}

/* The rule of the section that ends: complete, or an error at its line */
static bool section_end(GPtrArray *out, BlkdebugRule **rule, const char *name,
                        int line, GError **errp)
{
    if (!*rule) {
        return true;
    }
    if ((*rule)->event < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s:%d: Missing event name for rule",
                    name, line);
        g_clear_pointer(rule, g_free);
        return false;
    }
    g_ptr_array_add(out, *rule);
    *rule = NULL;
    return true;
}

bool blkdebug_rules_parse_config(BlkdebugRules *r, const char *text,
                                 const char *name, GError **errp)
{
    g_autoptr(GPtrArray) parsed = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    BlkdebugRule *rule = NULL;
    int section_line = 0;
    bool in_section = false, ok = true;

    for (int i = 0; ok && lines[i]; i++) {
        char *line = g_strstrip(lines[i]);
        char *key, *value;
        GError *err = NULL;

        if (!*line || line[0] == '#') {
            continue;
        }
        if (line[0] == '[') {
            ok = section_end(parsed, &rule, name, section_line, errp);
            g_autofree char *sec = parse_section(line);
            RuleAction action;
            if (!ok) {
                break;
            }
            if (!sec) {
                g_set_error(errp, VIREO_ERROR, 0, "%s:%d: parse error", name,
                            i + 1);
                ok = false;
            } else if (!section_action(sec, &action)) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "%s:%d: There is no option group '%s'", name, i + 1,
                            sec);
                ok = false;
            } else {
                rule = rule_new(action);
                section_line = i + 1;
                in_section = true;
            }
        } else if (!parse_key_value(line, &key, &value)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "%s:%d: parse error (expected "
                        "a [section] or key = \"value\")",
                        name, i + 1);
            ok = false;
        } else if (!in_section) {
            g_set_error(errp, VIREO_ERROR, 0, "%s:%d: no group defined", name,
                        i + 1);
            ok = false;
        } else if (!rule_set(rule, key, value, key, false, &err)) {
            g_set_error(errp, VIREO_ERROR, 0, "%s:%d: %s", name, i + 1,
                        err->message);
            g_error_free(err);
            ok = false;
        }
    }
    if (ok) {
        ok = section_end(parsed, &rule, name, section_line, errp);
    }
    g_free(rule);
    if (!ok) {
        return false;
    }
    add_parsed_rules(r, parsed);
    return true;
}

bool blkdebug_rules_load_config(BlkdebugRules *r, const char *path,
                                GError **errp)
{
    FILE *f = fopen(path, "r");
    GString *text = g_string_new(NULL);
    char buf[4096];
    size_t n;
    bool ok;

    if (!f) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not read blkdebug config file '%s': %s", path,
                    g_strerror(errno));
        g_string_free(text, true);
        return false;
    }
    /* bounded: CONFIG may name a device such as /dev/zero */
    errno = 0;
    while (text->len <= MAX_CONFIG_SIZE &&
           (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        g_string_append_len(text, buf, n);
    }
    ok = !ferror(f);
    int read_errno = errno ? errno : EIO;
    fclose(f);
    if (ok && text->len > MAX_CONFIG_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: the blkdebug config file is larger than %d bytes",
                    path, MAX_CONFIG_SIZE);
        ok = false;
    } else if (!ok) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not read blkdebug config file '%s': %s", path,
                    g_strerror(read_errno));
    } else if (strlen(text->str) != text->len) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: the blkdebug config file holds a NUL byte", path);
        ok = false;
    } else {
        ok = blkdebug_rules_parse_config(r, text->str, path, errp);
    }
    g_string_free(text, true);
    return ok;
}

/* ---- inline options (-blockdev) ---- */

/* A JSON scalar as the string keyval would have given */
static char *json_scalar_string(json_t *v)
{
    if (json_is_string(v)) {
        return g_strdup(json_string_value(v));
    }
    if (json_is_boolean(v)) {
        return g_strdup(json_is_true(v) ? "on" : "off");
    }
    if (json_is_integer(v)) {
        return g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    return NULL;
}

static bool rule_done_inline(GPtrArray *out, BlkdebugRule *rule,
                             const char *list, unsigned idx, GError **errp)
{
    if (rule->event < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Parameter '%s.%u.event' is missing",
                    list, idx);
        g_free(rule);
        return false;
    }
    g_ptr_array_add(out, rule);
    return true;
}

/* -blockdev '{..., "inject-error": [{"event": ...}, ...]}' */
static bool parse_json_list(GPtrArray *out, const char *list, RuleAction action,
                            const char *text, GError **errp)
{
    json_t *arr = json_loads(text, JSON_DECODE_ANY, NULL);
    size_t i;
    json_t *elem;
    bool ok = json_is_array(arr);

    if (!ok) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter '%s' expects a list of rules", list);
    }
    json_array_foreach(ok ? arr : NULL, i, elem)
    {
        if (!json_is_object(elem)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Parameter '%s.%zu' expects an object", list, i);
            ok = false;
            break;
        }
        BlkdebugRule *rule = rule_new(action);
        const char *key;
        json_t *v;
        json_object_foreach(elem, key, v)
        {
            g_autofree char *name = g_strdup_printf("%s.%zu.%s", list, i, key);
            g_autofree char *value = json_scalar_string(v);
            if (!value) {
                ok = bad_value(name, "(not a scalar)", errp);
            } else {
                ok = rule_set(rule, key, value, name, true, errp);
            }
            if (!ok) {
                break;
            }
        }
        if (!ok) {
            g_free(rule);
            break;
        }
        if (!(ok = rule_done_inline(out, rule, list, i, errp))) {
            break;
        }
    }
    json_decref(arr);
    return ok;
}

static gint cmp_uint(gconstpointer a, gconstpointer b)
{
    guint x = *(const guint *)a, y = *(const guint *)b;
    return x < y ? -1 : x > y;
}

/* The rules of one list (prefix + "inject-error" or "set-state") */
static bool parse_list(GPtrArray *out, Opts *opts, const char *prefix,
                       const char *list, RuleAction action, GError **errp)
{
    g_autofree char *whole = g_strconcat(prefix, list, NULL);
    g_autofree char *dot = g_strconcat(whole, ".", NULL);
    g_autoptr(GArray) idx = g_array_new(false, false, sizeof(guint));
    const char *json = opts_get(opts, whole);

    if (json) {
        return parse_json_list(out, list, action, json, errp);
    }
    /* the indexes used, each once, in order */
    for (guint i = 0; i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        if (!g_str_has_prefix(p->key, dot)) {
            continue;
        }
        const char *rest = p->key + strlen(dot);
        char *end;
        guint64 n = g_ascii_strtoull(rest, &end, 10);
        if (end == rest || *end != '.' || !g_ascii_isdigit(rest[0]) ||
            n > 1000000) {
            g_set_error(errp, VIREO_ERROR, 0, "Parameter '%s' is unexpected",
                        p->key);
            return false;
        }
        guint u = n;
        bool seen = false;
        for (guint k = 0; k < idx->len && !seen; k++) {
            seen = g_array_index(idx, guint, k) == u;
        }
        if (!seen) {
            g_array_append_val(idx, u);
        }
    }
    g_array_sort(idx, cmp_uint);
    for (guint k = 0; k < idx->len; k++) {
        guint n = g_array_index(idx, guint, k);
        g_autofree char *head = g_strdup_printf("%s%u.", dot, n);
        BlkdebugRule *rule = rule_new(action);
        for (guint i = 0; i < opts->pairs->len; i++) {
            OptPair *p = &g_array_index(opts->pairs, OptPair, i);
            if (!g_str_has_prefix(p->key, head)) {
                continue;
            }
            p->used = true;
            if (!rule_set(rule, p->key + strlen(head), p->value,
                          p->key + strlen(prefix), true, errp)) {
                g_free(rule);
                return false;
            }
        }
        if (!rule_done_inline(out, rule, list, n, errp)) {
            return false;
        }
    }
    return true;
}

bool blkdebug_rules_parse_opts(BlkdebugRules *r, Opts *opts, const char *prefix,
                               GError **errp)
{
    g_autoptr(GPtrArray) parsed = g_ptr_array_new_with_free_func(g_free);

    /* QEMU adds the config file's rules, then inject-error, set-state */
    if (!parse_list(parsed, opts, prefix, "inject-error", ACTION_INJECT_ERROR,
                    errp) ||
        !parse_list(parsed, opts, prefix, "set-state", ACTION_SET_STATE,
                    errp)) {
        return false;
    }
    add_parsed_rules(r, parsed);
    return true;
}

BlkdebugRules *blkdebug_rules_from_opts(Opts *opts, const char *prefix,
                                        GError **errp)
{
    BlkdebugRules *r = blkdebug_rules_new();
    g_autofree char *key = g_strconcat(prefix, "config", NULL);
    const char *config = opts_get(opts, key);
    static const char *const unsupported[] = {
        "align",
        "max-transfer",
        "opt-write-zero",
        "max-write-zero",
        "opt-discard",
        "max-discard",
        "take-child-perms",
        "unshare-child-perms",
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(unsupported); i++) {
        g_autofree char *k = g_strconcat(prefix, unsupported[i], NULL);
        if (opts_get(opts, k)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "blkdebug's parameter '%s' is not supported yet",
                        unsupported[i]);
            blkdebug_rules_free(r);
            return NULL;
        }
    }
    if ((config && *config && !blkdebug_rules_load_config(r, config, errp)) ||
        !blkdebug_rules_parse_opts(r, opts, prefix, errp)) {
        blkdebug_rules_free(r);
        return NULL;
    }
    return r;
}

/* ---- matching ---- */

/*
 * QEMU's process_rule: the inject-error rules of the event that apply in
 * the current state replace the armed set (when there is one); a
 * set-state rule picks the state the machine moves to after the event.
 */
void blkdebug_rules_event(BlkdebugRules *r, BlkdebugEvent event)
{
    bool injected = false, moved = false;

    g_mutex_lock(&r->lock);
    int64_t new_state = r->state;
    for (guint i = 0; i < r->rules->len; i++) {
        BlkdebugRule *rule = g_ptr_array_index(r->rules, i);
        if (rule->event != (int)event ||
            (rule->state && rule->state != r->state)) {
            continue;
        }
        if (rule->action == ACTION_INJECT_ERROR) {
            if (!injected) {
                for (guint k = 0; k < r->rules->len; k++) {
                    ((BlkdebugRule *)g_ptr_array_index(r->rules, k))->active =
                        false;
                }
                injected = true;
            }
            rule->active = true;
        } else if (!moved) {
            /* QEMU walks newest first and the oldest rule wins */
            new_state = rule->new_state;
            moved = true;
        }
    }
    r->state = new_state;
    g_mutex_unlock(&r->lock);
}

int blkdebug_rules_check(BlkdebugRules *r, BlkdebugIOType type, int64_t offset,
                         int64_t bytes)
{
    BlkdebugRule *hit = NULL;
    guint i;
    int error;

    g_mutex_lock(&r->lock);
    for (i = 0; i < r->rules->len; i++) {
        BlkdebugRule *rule = g_ptr_array_index(r->rules, i);
        if (!rule->active || !(rule->iotype_mask & (1ull << type))) {
            continue;
        }
        if (rule->offset == -1 || (bytes > 0 && rule->offset >= offset &&
                                   rule->offset - offset < bytes)) {
            hit = rule;
            break;
        }
    }
    error = hit ? hit->error : 0;
    if (hit && error && hit->once) {
        g_ptr_array_remove_index(r->rules, i);
    }
    g_mutex_unlock(&r->lock);
    return -error;
}

/* ---- the node ---- */

typedef struct BDRVBlkdebugState {
    BlkdebugRules *rules;
} BDRVBlkdebugState;

static BlkdebugIOType io_type(BlockOp op)
{
    switch (op) {
    case BLK_OP_READ:
        return BLKDEBUG_IO_TYPE_READ;
    case BLK_OP_WRITE:
        return BLKDEBUG_IO_TYPE_WRITE;
    case BLK_OP_ZEROES:
        return BLKDEBUG_IO_TYPE_WRITE_ZEROES;
    case BLK_OP_DISCARD:
        return BLKDEBUG_IO_TYPE_DISCARD;
    case BLK_OP_FLUSH:
    default:
        return BLKDEBUG_IO_TYPE_FLUSH;
    }
}

static int request_check(BlockDriverState *bs, BlockRequest *req)
{
    BDRVBlkdebugState *s = bs->opaque;
    return blkdebug_rules_check(s->rules, io_type(req->op), req->offset,
                                req->op == BLK_OP_FLUSH ? 0 : req->bytes);
}

static bool blkdebug_open(BlockDriverState *bs, const char *filename,
                          const BlockOpenOptions *o, GError **errp)
{
    BDRVBlkdebugState *s = g_new0(BDRVBlkdebugState, 1);

    s->rules = blkdebug_rules_new();
    bs->opaque = s;
    bs->request_alignment = bs->file->request_alignment;
    if (bs->file->read_only) {
        bs->read_only = true;
    }
    return true;
}

static void blkdebug_close(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;

    if (s) {
        blkdebug_rules_free(s->rules);
        g_free(s);
        bs->opaque = NULL;
    }
}

static int64_t blkdebug_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file);
}

/* QEMU's immediately= only decides whether its coroutine yields before
 * failing; here a failed request always completes on the main loop. */
static void blkdebug_submit(BlockDriverState *bs, BlockRequest *req)
{
    int ret = request_check(bs, req);

    if (ret < 0) {
        req->ret = ret;
        block_complete_later(req);
        return;
    }
    bdrv_submit(bs->file, req);
}

static int blkdebug_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    int ret = request_check(bs, req);
    return ret < 0 ? ret : bdrv_run_sync(bs->file, req);
}

static int blkdebug_block_status(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, int64_t *pnum, int64_t *map,
                                 BlockDriverState **file)
{
    BDRVBlkdebugState *s = bs->opaque;
    int ret = blkdebug_rules_check(s->rules, BLKDEBUG_IO_TYPE_BLOCK_STATUS,
                                   offset, bytes);

    if (ret < 0) {
        *pnum = 0;
        return ret;
    }
    return bdrv_block_status(bs->file, offset, bytes, pnum, map, file);
}

static bool blkdebug_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                              PreallocMode prealloc, GError **errp)
{
    return bdrv_truncate(bs->file, offset, shrink, prealloc, errp);
}

static void blkdebug_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s = bs->opaque;
    blkdebug_rules_event(s->rules, event);
}

const BlockDriver bdrv_blkdebug = {
    .format_name = "blkdebug",
    .open = blkdebug_open,
    .close = blkdebug_close,
    .getlength = blkdebug_getlength,
    .submit = blkdebug_submit,
    .run_sync = blkdebug_run_sync,
    .block_status = blkdebug_block_status,
    .truncate = blkdebug_truncate,
    .debug_event = blkdebug_debug_event,
};

BlockDriverState *blkdebug_open_node(BlockDriverState *image,
                                     BlkdebugRules *rules, const char *filename,
                                     const BlockOpenOptions *o, GError **errp)
{
    BlockDriverState *bs =
        bdrv_open_format(&bdrv_blkdebug, image, filename, o, errp);
    if (!bs) {
        blkdebug_rules_free(rules);
        return NULL;
    }
    blkdebug_rules_append(((BDRVBlkdebugState *)bs->opaque)->rules, rules);
    return bs;
}

bool blkdebug_is_filename(const char *filename)
{
    return filename && g_str_has_prefix(filename, "blkdebug:");
}

BlockDriverState *blkdebug_open_filename(const char *filename,
                                         const BlockOpenOptions *o,
                                         GError **errp)
{
    const char *config = filename + strlen("blkdebug:");
    const char *colon = strchr(config, ':');

    if (!colon || !colon[1]) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "blkdebug requires both config file and image path");
        return NULL;
    }
    g_autofree char *path = g_strndup(config, colon - config);
    BlkdebugRules *rules = blkdebug_rules_new();
    if (*path && !blkdebug_rules_load_config(rules, path, errp)) {
        blkdebug_rules_free(rules);
        return NULL;
    }
    BlockDriverState *image =
        bdrv_open_format(&bdrv_file, NULL, colon + 1, o, errp);
    if (!image) {
        blkdebug_rules_free(rules);
        return NULL;
    }
    return blkdebug_open_node(image, rules, filename, o, errp);
}
