/*
 * QEMU's object tree as QMP shows it (qapi/qom.json: qom-list, qom-get,
 * qom-list-types, device-list-properties). Vireo has no object model of
 * its own: the tree is computed from the machine, its vCPUs and its device
 * list, with QEMU's paths and type names, and the types from the device
 * and machine registries.
 */
#include <string.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "monitor/qmp.h"
#include "system/vm.h"
#include "util/opts.h"

/* ---- types ---- */

typedef struct QomType {
    char *name;
    const char *parent;         /* NULL for "object" */
    bool abstract;
    bool is_device;
    const DeviceClass *dc;      /* device types */
} QomType;

static void add_type(GPtrArray *types, const char *name, const char *parent,
                     bool abstract, bool is_device, const DeviceClass *dc)
{
    QomType *t = g_new0(QomType, 1);

    t->name = g_strdup(name);
    t->parent = parent;
    t->abstract = abstract;
    t->is_device = is_device;
    t->dc = dc;
    g_ptr_array_add(types, t);
}

static void qom_type_free(gpointer p)
{
    QomType *t = p;

    g_free(t->name);
    g_free(t);
}

static const char *device_class_parent(const DeviceClass *c)
{
    if (c->parent) {
        return c->parent;
    }
    if (!c->bus) {
        return "device";
    }
    if (!g_ascii_strcasecmp(c->bus, "isa")) {
        return "isa-device";
    }
    return "sys-bus-device";
}

static const char *const cpu_models[] = { "host", "max" };

/* Every type the tree and -device know, with QEMU's abstract ancestors. */
static GPtrArray *qom_types(void)
{
    GPtrArray *types = g_ptr_array_new_with_free_func(qom_type_free);

    add_type(types, "object", NULL, true, false, NULL);
    add_type(types, "container", "object", false, false, NULL);
    add_type(types, "device", "object", true, true, NULL);
    add_type(types, "sys-bus-device", "device", true, true, NULL);
    add_type(types, "isa-device", "device", true, true, NULL);
    add_type(types, "pci-device", "device", true, true, NULL);
    add_type(types, "cpu", "device", true, true, NULL);
    add_type(types, "x86_64-cpu", "cpu", true, true, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(cpu_models); i++) {
        char *name = g_strdup_printf("%s-x86_64-cpu", cpu_models[i]);
        add_type(types, name, "x86_64-cpu", false, true, NULL);
        g_free(name);
    }
    for (const DeviceClass *c = device_class_first(); c; c = c->next) {
        add_type(types, c->name, device_class_parent(c), false, true, c);
    }
    add_type(types, "machine", "object", true, false, NULL);
    add_type(types, "x86-machine", "machine", true, false, NULL);
    for (const MachineClass *mc = machine_class_first(); mc; mc = mc->next) {
        char *name = g_strdup_printf("%s-machine", mc->name);
        /* QEMU's empty machine is no PC */
        add_type(types, name,
                 !strcmp(mc->name, "none") ? "machine" : "x86-machine",
                 false, false, NULL);
        g_free(name);
    }
    return types;
}

static const QomType *type_find(GPtrArray *types, const char *name)
{
    for (guint i = 0; name && i < types->len; i++) {
        const QomType *t = g_ptr_array_index(types, i);
        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}

static bool type_implements(GPtrArray *types, const QomType *t,
                            const char *ancestor)
{
    for (; t; t = type_find(types, t->parent)) {
        if (!strcmp(t->name, ancestor)) {
            return true;
        }
    }
    return false;
}

static gint type_cmp(gconstpointer a, gconstpointer b)
{
    const QomType *x = *(QomType *const *)a, *y = *(QomType *const *)b;
    return strcmp(x->name, y->name);
}

static json_t *qmp_qom_list_types(json_t *args, GError **errp)
{
    const char *implements = json_string_value(json_object_get(args,
                                                               "implements"));
    bool abstract = json_is_true(json_object_get(args, "abstract"));
    GPtrArray *types = qom_types();
    json_t *ret = json_array();

    g_ptr_array_sort(types, type_cmp);
    for (guint i = 0; i < types->len; i++) {
        const QomType *t = g_ptr_array_index(types, i);
        if ((t->abstract && !abstract) ||
            (implements && !type_implements(types, t, implements))) {
            continue;
        }
        json_t *info = json_pack("{s:s}", "name", t->name);
        if (t->abstract) {
            json_object_set_new(info, "abstract", json_true());
        }
        if (t->parent) {
            json_object_set_new(info, "parent", json_string(t->parent));
        }
        json_array_append_new(ret, info);
    }
    g_ptr_array_free(types, TRUE);
    return ret;
}
QMP_COMMAND("qom-list-types", qmp_qom_list_types)

/* ---- property values ---- */

static json_t *prop_value(const void *field, PropType type)
{
    switch (type) {
    case PROP_UINT32: return json_integer(*(const uint32_t *)field);
    /* JSON numbers are signed; QEMU prints uint64 the same way */
    case PROP_UINT64: return json_integer((json_int_t)*(const uint64_t *)field);
    case PROP_BOOL: return json_boolean(*(const bool *)field);
    case PROP_STRING: {
        const char *s = *(char *const *)field;
        return json_string(s ? s : "");
    }
    }
    return json_null();
}

static json_t *prop_default(const Property *p)
{
    switch (p->type) {
    case PROP_UINT32: return json_integer((uint32_t)p->defval);
    case PROP_UINT64: return json_integer((json_int_t)p->defval);
    case PROP_BOOL: return json_boolean(p->defval);
    case PROP_STRING: return p->defstr ? json_string(p->defstr) : NULL;
    }
    return NULL;
}

static json_t *qmp_device_list_properties(json_t *args, GError **errp)
{
    const char *name = json_string_value(json_object_get(args, "typename"));
    GPtrArray *types = qom_types();
    const QomType *t = type_find(types, name);
    json_t *ret = NULL;

    if (!t) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                    "Device '%s' not found", name);
    } else if (!t->is_device || t->abstract) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter 'typename' expects a non-abstract device type");
    } else if (!t->dc) {
        /* a vCPU model */
        ret = json_pack("[{s:s, s:s, s:I}]", "name", "apic-id", "type",
                        "uint32", "default-value", (json_int_t)UINT32_MAX);
    } else {
        ret = json_array();
        for (const Property *p = t->dc->props; p && p->name; p++) {
            json_t *info = json_pack("{s:s, s:s}", "name", p->name, "type",
                                     property_type_name(p->type));
            json_t *def = prop_default(p);
            if (p->desc) {
                json_object_set_new(info, "description", json_string(p->desc));
            }
            if (def) {
                json_object_set_new(info, "default-value", def);
            }
            json_array_append_new(ret, info);
        }
    }
    g_ptr_array_free(types, TRUE);
    return ret;
}
QMP_COMMAND("device-list-properties", qmp_device_list_properties)

/* ---- the tree ---- */

typedef enum QomNodeKind {
    QOM_ROOT,
    QOM_CONTAINER,      /* name: "peripheral", "peripheral-anon", ... */
    QOM_MACHINE,
    QOM_CPU,
    QOM_DEVICE,
} QomNodeKind;

typedef struct QomNode {
    QomNodeKind kind;
    const char *name;   /* the container's */
    CPUState *cpu;
    Device *dev;
} QomNode;

static const char *const machine_containers[] = {
    "peripheral", "peripheral-anon", "unattached",
};

char *machine_cpu_qom_path(Machine *m, int index)
{
    return g_strdup_printf("/machine/unattached/device[%d]", index);
}

static char *cpu_type_name(Machine *m)
{
    const char *model = m->cfg.cpu_model ? m->cfg.cpu_model : "host";
    return g_strdup_printf("%s-x86_64-cpu", model);
}

static char *node_type_name(Machine *m, const QomNode *n)
{
    switch (n->kind) {
    case QOM_ROOT:
    case QOM_CONTAINER:
        return g_strdup("container");
    case QOM_MACHINE:
        return g_strdup_printf("%s-machine", m->cls ? m->cls->name : "none");
    case QOM_CPU:
        return cpu_type_name(m);
    case QOM_DEVICE:
        return g_strdup(n->dev->cls->name);
    }
    return g_strdup("object");
}

typedef struct QomChild {
    char *name;
    QomNode node;
} QomChild;

static void child_clear(gpointer p)
{
    g_free(((QomChild *)p)->name);
}

static void add_child(GArray *out, char *name, QomNode node)
{
    QomChild c = { name, node };
    g_array_append_val(out, c);
}

/* The children of a node, in a stable order; names are QEMU's. */
static GArray *node_children(Machine *m, const QomNode *n)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(QomChild));
    int i = 0;

    g_array_set_clear_func(out, child_clear);
    switch (n->kind) {
    case QOM_ROOT:
        add_child(out, g_strdup("machine"), (QomNode){ QOM_MACHINE });
        break;
    case QOM_MACHINE:
        for (size_t k = 0; k < G_N_ELEMENTS(machine_containers); k++) {
            add_child(out, g_strdup(machine_containers[k]),
                      (QomNode){ QOM_CONTAINER, machine_containers[k] });
        }
        break;
    case QOM_CONTAINER:
        if (!strcmp(n->name, "unattached")) {
            for (; i < m->ncpus; i++) {
                add_child(out, g_strdup_printf("device[%d]", i),
                          (QomNode){ QOM_CPU, .cpu = m->cpus[i] });
            }
        }
        for (Device *d = m->devices; d; d = d->next) {
            QomNode dn = { QOM_DEVICE, .dev = d };
            if (!strcmp(n->name, "unattached") && !d->user_created) {
                add_child(out, g_strdup_printf("device[%d]", i++), dn);
            } else if (!strcmp(n->name, "peripheral") && d->user_created &&
                       d->id) {
                add_child(out, g_strdup(d->id), dn);
            } else if (!strcmp(n->name, "peripheral-anon") &&
                       d->user_created && !d->id) {
                add_child(out, g_strdup_printf("device[%d]", i++), dn);
            }
        }
        break;
    case QOM_CPU:
    case QOM_DEVICE:
        break;
    }
    return out;
}

static bool node_equal(const QomNode *a, const QomNode *b)
{
    return a->kind == b->kind && a->cpu == b->cpu && a->dev == b->dev &&
           (a->kind != QOM_CONTAINER || !strcmp(a->name, b->name));
}

/* Follows components [0, n) from node; false if one does not exist. */
static bool walk_components(Machine *m, QomNode node, char **comps,
                            QomNode *out)
{
    for (; *comps; comps++) {
        GArray *kids;
        bool found = false;

        if (!**comps) {
            continue;   /* "a//b" is "a/b" */
        }
        kids = node_children(m, &node);
        for (guint i = 0; i < kids->len && !found; i++) {
            QomChild *c = &g_array_index(kids, QomChild, i);
            if (!strcmp(c->name, *comps)) {
                node = c->node;
                found = true;
            }
        }
        g_array_free(kids, TRUE);
        if (!found) {
            return false;
        }
    }
    *out = node;
    return true;
}

/* A partial path matches where the tree ends in it below any node. */
static void find_partial(Machine *m, const QomNode *node, char **comps,
                         GArray *hits)
{
    QomNode end;
    GArray *kids;

    if (walk_components(m, *node, comps, &end)) {
        for (guint i = 0; i < hits->len; i++) {
            if (node_equal(&g_array_index(hits, QomNode, i), &end)) {
                goto children;
            }
        }
        g_array_append_val(hits, end);
    }
children:
    kids = node_children(m, node);
    for (guint i = 0; i < kids->len; i++) {
        find_partial(m, &g_array_index(kids, QomChild, i).node, comps, hits);
    }
    g_array_free(kids, TRUE);
}

static bool node_resolve(Machine *m, const char *path, QomNode *out,
                         GError **errp)
{
    char **comps = g_strsplit(path, "/", -1);
    QomNode root = { QOM_ROOT };
    bool ok;

    if (path[0] == '/') {
        ok = walk_components(m, root, comps, out);
        if (!ok) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                        "Device '%s' not found", path);
        }
    } else {
        GArray *hits = g_array_new(FALSE, FALSE, sizeof(QomNode));
        find_partial(m, &root, comps, hits);
        ok = hits->len == 1;
        if (ok) {
            *out = g_array_index(hits, QomNode, 0);
        } else if (hits->len) {
            g_set_error(errp, VIREO_ERROR, 0, "Path '%s' is ambiguous", path);
        } else {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                        "Device '%s' not found", path);
        }
        g_array_free(hits, TRUE);
    }
    g_strfreev(comps);
    return ok;
}

static Machine *qom_machine(GError **errp)
{
    Machine *m = machine_current();

    if (!m) {
        g_set_error(errp, VIREO_ERROR, 0, "The machine is not created yet");
    }
    return m;
}

/* The properties of a node: name, QOM type and value. */
typedef struct QomProp {
    char *name;
    char *type;
    json_t *value;
} QomProp;

static void add_prop(GArray *props, char *name, char *type, json_t *value)
{
    QomProp p = { name, type, value };
    g_array_append_val(props, p);
}

static void prop_clear(gpointer p)
{
    QomProp *qp = p;

    g_free(qp->name);
    g_free(qp->type);
    json_decref(qp->value);
}

/* path: the node's canonical path, for the values of its children. */
static GArray *node_props(Machine *m, const QomNode *n, const char *path)
{
    GArray *props = g_array_new(FALSE, TRUE, sizeof(QomProp));
    GArray *kids = node_children(m, n);
    const char *sep = g_str_has_suffix(path, "/") ? "" : "/";
    char *type_name = node_type_name(m, n);

    g_array_set_clear_func(props, prop_clear);
    add_prop(props, g_strdup("type"), g_strdup("string"),
             json_string(type_name));
    g_free(type_name);
    if (n->kind == QOM_CPU || n->kind == QOM_DEVICE) {
        add_prop(props, g_strdup("realized"), g_strdup("bool"),
                 json_boolean(n->kind == QOM_CPU || n->dev->realized));
    }
    if (n->kind == QOM_CPU) {
        add_prop(props, g_strdup("apic-id"), g_strdup("uint32"),
                 json_integer(n->cpu->apic_id));
    }
    if (n->kind == QOM_DEVICE) {
        for (const Property *p = n->dev->cls->props; p && p->name; p++) {
            add_prop(props, g_strdup(p->name),
                     g_strdup(property_type_name(p->type)),
                     prop_value((const char *)n->dev + p->offset, p->type));
        }
        for (const DynProperty *d = n->dev->cls->dyn_props; d && d->name;
             d++) {
            add_prop(props, g_strdup(d->name), g_strdup(d->type),
                     d->get(n->dev));
        }
    }
    for (guint i = 0; i < kids->len; i++) {
        QomChild *c = &g_array_index(kids, QomChild, i);
        char *type = node_type_name(m, &c->node);
        char *child_path = g_strconcat(path, sep, c->name, NULL);
        add_prop(props, g_strdup(c->name), g_strdup_printf("child<%s>", type),
                 json_string(child_path));
        g_free(child_path);
        g_free(type);
    }
    g_array_free(kids, TRUE);
    return props;
}

/* The canonical path of a node (for child values when given a partial). */
static char *node_path(Machine *m, const QomNode *target, const QomNode *node,
                       const char *prefix)
{
    GArray *kids;
    char *found = NULL;

    if (node_equal(node, target)) {
        return g_strdup(*prefix ? prefix : "/");
    }
    kids = node_children(m, node);
    for (guint i = 0; i < kids->len && !found; i++) {
        QomChild *c = &g_array_index(kids, QomChild, i);
        char *p = g_strconcat(prefix, "/", c->name, NULL);
        found = node_path(m, target, &c->node, p);
        g_free(p);
    }
    g_array_free(kids, TRUE);
    return found;
}

static json_t *qmp_qom_list(json_t *args, GError **errp)
{
    const char *path = json_string_value(json_object_get(args, "path"));
    Machine *m = qom_machine(errp);
    QomNode n;

    if (!m || !node_resolve(m, path, &n, errp)) {
        return NULL;
    }
    QomNode root = { QOM_ROOT };
    char *canon = node_path(m, &n, &root, "");
    GArray *props = node_props(m, &n, canon);
    json_t *ret = json_array();
    for (guint i = 0; i < props->len; i++) {
        QomProp *p = &g_array_index(props, QomProp, i);
        json_array_append_new(ret, json_pack("{s:s, s:s}", "name", p->name,
                                             "type", p->type));
    }
    g_array_free(props, TRUE);
    g_free(canon);
    return ret;
}
QMP_COMMAND("qom-list", qmp_qom_list)

static json_t *qmp_qom_get(json_t *args, GError **errp)
{
    const char *path = json_string_value(json_object_get(args, "path"));
    const char *name = json_string_value(json_object_get(args, "property"));
    Machine *m = qom_machine(errp);
    json_t *ret = NULL;
    QomNode n;

    if (!m || !node_resolve(m, path, &n, errp)) {
        return NULL;
    }
    QomNode root = { QOM_ROOT };
    char *canon = node_path(m, &n, &root, "");
    GArray *props = node_props(m, &n, canon);
    for (guint i = 0; i < props->len && !ret; i++) {
        QomProp *p = &g_array_index(props, QomProp, i);
        if (!strcmp(p->name, name)) {
            ret = json_incref(p->value);
        }
    }
    if (!ret) {
        char *type = node_type_name(m, &n);
        g_set_error(errp, VIREO_ERROR, 0, "Property '%s.%s' not found", type,
                    name);
        g_free(type);
    }
    g_array_free(props, TRUE);
    g_free(canon);
    return ret;
}
QMP_COMMAND("qom-get", qmp_qom_get)

/*
 * qom-set: a device's run-time properties. The others are fixed once the
 * device is realized, or read-only; QEMU 7.2's messages.
 */
static json_t *qmp_qom_set(json_t *args, GError **errp)
{
    const char *path = json_string_value(json_object_get(args, "path"));
    const char *name = json_string_value(json_object_get(args, "property"));
    json_t *value = json_object_get(args, "value");
    Machine *m = qom_machine(errp);
    QomNode n;

    if (!m || !node_resolve(m, path, &n, errp)) {
        return NULL;
    }
    if (n.kind == QOM_DEVICE) {
        const DynProperty *d = device_find_dyn_prop(n.dev->cls, name);
        if (d && d->set) {
            return d->set(n.dev, value, errp) ? json_object() : NULL;
        }
        for (const Property *p = n.dev->cls->props; p && p->name; p++) {
            if (!strcmp(p->name, name)) {
                g_autofree char *who = n.dev->id
                    ? g_strdup_printf("device '%s'", n.dev->id)
                    : g_strdup("anonymous device");
                g_set_error(errp, VIREO_ERROR, 0, "Attempt to set property "
                            "'%s' on %s (type '%s') after it was realized",
                            name, who, n.dev->cls->name);
                return NULL;
            }
        }
    }
    /* a property qom-get knows is read-only here */
    QomNode root = { QOM_ROOT };
    char *canon = node_path(m, &n, &root, "");
    GArray *props = node_props(m, &n, canon);
    bool exists = false;
    for (guint i = 0; i < props->len && !exists; i++) {
        exists = !strcmp(g_array_index(props, QomProp, i).name, name);
    }
    g_array_free(props, TRUE);
    g_free(canon);
    char *type = node_type_name(m, &n);
    g_set_error(errp, VIREO_ERROR, 0, exists ? "Property '%s.%s' is not "
                "writable" : "Property '%s.%s' not found", type, name);
    g_free(type);
    return NULL;
}
QMP_COMMAND("qom-set", qmp_qom_set)
