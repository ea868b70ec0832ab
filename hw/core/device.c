/* Device types, typed properties from strings, creation and realize. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "util/opts.h"

static const DeviceClass *device_classes;

void device_class_register(DeviceClass *cls)
{
    cls->next = device_classes;
    device_classes = cls;
}

const DeviceClass *device_class_find(const char *name)
{
    for (const DeviceClass *c = device_classes; c; c = c->next) {
        if (!strcmp(c->name, name) || (c->alias && !strcmp(c->alias, name))) {
            return c;
        }
    }
    return NULL;
}

const DeviceClass *device_class_first(void)
{
    return device_classes;
}

static int class_cmp(const void *a, const void *b)
{
    const DeviceClass *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

const char *property_type_name(PropType t)
{
    switch (t) {
    case PROP_UINT32: return "uint32";
    case PROP_UINT64: return "uint64";
    case PROP_BOOL: return "bool";
    case PROP_STRING: return "str";
    }
    return "?";
}

void device_class_print_help(const char *name)
{
    if (name) {
        const DeviceClass *c = device_class_find(name);
        printf("%s options:\n", c->name);
        for (const Property *p = c->props; p && p->name; p++) {
            printf("  %s=<%s>%s%s\n", p->name, property_type_name(p->type),
                   p->desc ? " - " : "", p->desc ? p->desc : "");
        }
        for (const DynProperty *d = c->dyn_props; d && d->name; d++) {
            if (d->set) {
                printf("  %s=<%s> - %s\n", d->name, d->type, d->desc);
            }
        }
        return;
    }
    GPtrArray *list = g_ptr_array_new();
    for (const DeviceClass *c = device_classes; c; c = c->next) {
        if (c->user_creatable) {
            g_ptr_array_add(list, (gpointer)c);
        }
    }
    qsort(list->pdata, list->len, sizeof(gpointer), class_cmp);
    printf("Devices:\n");
    for (guint i = 0; i < list->len; i++) {
        const DeviceClass *c = g_ptr_array_index(list, i);
        printf("name \"%s\", bus %s", c->name, c->bus ? c->bus : "System");
        if (c->alias) {
            printf(", alias \"%s\"", c->alias);
        }
        printf(", desc \"%s\"\n", c->desc ? c->desc : "");
    }
    g_ptr_array_free(list, TRUE);
}

/* -global DRIVER.PROP=VALUE defaults, in command-line order. */
typedef struct GlobalProp {
    char *driver, *prop, *value;
} GlobalProp;

static GPtrArray *global_props;

static void apply_globals(Device *dev)
{
    for (guint i = 0; global_props && i < global_props->len; i++) {
        GlobalProp *g = g_ptr_array_index(global_props, i);
        if (!strcmp(g->driver, dev->cls->name)) {
            /* checked by device_add_global */
            device_set_prop(dev, g->prop, g->value, NULL);
        }
    }
}

bool device_add_global(const char *arg, GError **errp)
{
    g_autofree char *driver = NULL, *prop = NULL, *value = NULL;
    const char *eq = strchr(arg, '=');
    const char *dot = strchr(arg, '.');

    if (g_str_has_prefix(arg, "driver=")) {
        Opts *o = opts_parse(arg, NULL, errp);
        if (!o) {
            return false;
        }
        driver = g_strdup(opts_get(o, "driver"));
        prop = g_strdup(opts_get(o, "property"));
        value = g_strdup(opts_get(o, "value"));
        opts_free(o);
    } else if (eq && dot && dot < eq) {
        driver = g_strndup(arg, dot - arg);
        prop = g_strndup(dot + 1, eq - dot - 1);
        value = g_strdup(eq + 1);
    }
    if (!driver || !*driver || !prop || !*prop || !value) {
        g_set_error(errp, VIREO_ERROR, 0, "-global %s: expected "
                    "DRIVER.PROPERTY=VALUE or driver=D,property=P,value=V",
                    arg);
        return false;
    }
    /* a device of that type takes the value, or the option is wrong */
    Device *probe = device_new(driver, errp);
    bool ok = probe && device_set_prop(probe, prop, value, errp);
    if (probe) {
        device_free(probe);
    }
    if (!ok) {
        g_prefix_error(errp, "-global %s: ", arg);
        return false;
    }
    GlobalProp *g = g_new(GlobalProp, 1);
    g->driver = g_steal_pointer(&driver);
    g->prop = g_steal_pointer(&prop);
    g->value = g_steal_pointer(&value);
    if (!global_props) {
        global_props = g_ptr_array_new();
    }
    g_ptr_array_add(global_props, g);
    return true;
}

void device_clear_globals(void)
{
    for (guint i = 0; global_props && i < global_props->len; i++) {
        GlobalProp *g = g_ptr_array_index(global_props, i);
        g_free(g->driver);
        g_free(g->prop);
        g_free(g->value);
        g_free(g);
    }
    g_clear_pointer(&global_props, g_ptr_array_unref);
}

Device *device_new(const char *type, GError **errp)
{
    const DeviceClass *c = device_class_find(type);
    Device *dev;

    if (!c) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "'%s' is not a valid device model name", type);
        return NULL;
    }
    dev = g_malloc0(c->instance_size);
    dev->cls = c;
    for (const Property *p = c->props; p && p->name; p++) {
        void *field = (char *)dev + p->offset;
        switch (p->type) {
        case PROP_UINT32: *(uint32_t *)field = p->defval; break;
        case PROP_UINT64: *(uint64_t *)field = p->defval; break;
        case PROP_BOOL: *(bool *)field = p->defval; break;
        case PROP_STRING: *(char **)field = g_strdup(p->defstr); break;
        }
    }
    apply_globals(dev);
    return dev;
}

json_t *device_prop_value_parse(const char *value)
{
    char *end;

    errno = 0;
    json_int_t i = strtoll(value, &end, 0);
    return *value && !*end && !errno ? json_integer(i) : json_string(value);
}

const DynProperty *device_find_dyn_prop(const DeviceClass *c,
                                        const char *name)
{
    for (const DynProperty *d = c->dyn_props; d && d->name; d++) {
        if (!strcmp(d->name, name)) {
            return d;
        }
    }
    return NULL;
}

bool device_set_prop(Device *dev, const char *name, const char *value,
                     GError **errp)
{
    const Property *p;
    uint64_t n;
    bool b;

    if (!strcmp(name, "id")) {
        g_free(dev->id);
        dev->id = g_strdup(value);
        return true;
    }
    for (p = dev->cls->props; p && p->name; p++) {
        if (!strcmp(p->name, name)) {
            break;
        }
    }
    if (!p || !p->name) {
        const DynProperty *d = device_find_dyn_prop(dev->cls, name);
        if (d && d->set) {
            json_t *v = device_prop_value_parse(value);
            bool ok = v && d->set(dev, v, errp);
            json_decref(v);
            if (!ok) {
                g_prefix_error(errp, "%s.%s: ", dev->cls->name, name);
            }
            return ok;
        }
        g_set_error(errp, VIREO_ERROR, 0,
                    "device '%s' has no property '%s'", dev->cls->name, name);
        return false;
    }
    void *field = (char *)dev + p->offset;
    switch (p->type) {
    case PROP_UINT32:
        if (!parse_uint(value, &n, errp) || n > UINT32_MAX) {
            g_clear_error(errp);
            g_set_error(errp, VIREO_ERROR, 0,
                        "%s.%s: '%s' is not a 32-bit unsigned number",
                        dev->cls->name, name, value);
            return false;
        }
        *(uint32_t *)field = n;
        break;
    case PROP_UINT64:
        if (!parse_uint(value, &n, errp)) {
            g_prefix_error(errp, "%s.%s: ", dev->cls->name, name);
            return false;
        }
        *(uint64_t *)field = n;
        break;
    case PROP_BOOL:
        if (!parse_bool(value, &b, errp)) {
            g_prefix_error(errp, "%s.%s: ", dev->cls->name, name);
            return false;
        }
        *(bool *)field = b;
        break;
    case PROP_STRING:
        g_free(*(char **)field);
        *(char **)field = g_strdup(value);
        break;
    }
    return true;
}

bool device_realize(Device *dev, Machine *m, GError **errp)
{
    dev->machine = m;
    if (dev->cls->realize && !dev->cls->realize(dev, m, errp)) {
        g_prefix_error(errp, "device '%s': ", dev->cls->name);
        return false;
    }
    dev->realized = true;
    /* append, so reset runs in creation order */
    Device **tail = &m->devices;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = dev;
    return true;
}

Device *device_create_from_opts(Machine *m, const char *optstr,
                                GError **errp)
{
    Opts *o = opts_parse(optstr, "driver", errp);
    Device *dev = NULL;
    const char *driver;

    if (!o) {
        return NULL;
    }
    driver = opts_get(o, "driver");
    if (!driver || !strcmp(driver, "help") || !strcmp(driver, "?")) {
        if (driver) {
            device_class_print_help(NULL);
        } else {
            g_set_error(errp, VIREO_ERROR, 0, "-device: no driver given");
        }
        goto out;
    }
    const DeviceClass *c = device_class_find(driver);
    if (!c || !c->user_creatable) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-device %s: '%s' is not a valid device model name "
                    "(see -device help)", optstr, driver);
        goto out;
    }
    if (opts_get(o, "help")) {
        device_class_print_help(driver);
        goto out;
    }
    dev = device_new(driver, errp);
    for (guint i = 0; dev && i < o->pairs->len; i++) {
        OptPair *p = &g_array_index(o->pairs, OptPair, i);
        if (!strcmp(p->key, "driver")) {
            continue;
        }
        if (!device_set_prop(dev, p->key, p->value, errp)) {
            g_prefix_error(errp, "-device %s: ", optstr);
            device_free(dev);
            dev = NULL;
        }
    }
    if (dev) {
        dev->user_created = true;
    }
    if (dev && !device_realize(dev, m, errp)) {
        g_prefix_error(errp, "-device %s: ", optstr);
        device_free(dev);
        dev = NULL;
    }
out:
    opts_free(o);
    return dev;
}

void device_free(Device *dev)
{
    if (!dev) {
        return;
    }
    if (dev->realized && dev->cls->unrealize) {
        dev->cls->unrealize(dev);
    }
    for (const Property *p = dev->cls->props; p && p->name; p++) {
        if (p->type == PROP_STRING) {
            g_free(*(char **)((char *)dev + p->offset));
        }
    }
    g_free(dev->id);
    g_free(dev);
}

/* --- "info qtree" --- */

static bool class_on_isa(const DeviceClass *c)
{
    return c->bus && !g_ascii_strcasecmp(c->bus, "isa");
}

/* One property as QEMU prints it: numbers also in hex, strings quoted. */
static void qtree_print_prop(GString *out, int indent, const Device *dev,
                             const Property *p)
{
    const void *field = (const char *)dev + p->offset;

    g_string_append_printf(out, "%*s%s = ", indent, "", p->name);
    switch (p->type) {
    case PROP_UINT32: {
        uint32_t v = *(const uint32_t *)field;
        g_string_append_printf(out, "%u (0x%x)\n", v, v);
        break;
    }
    case PROP_UINT64: {
        uint64_t v = *(const uint64_t *)field;
        g_string_append_printf(out, "%" G_GUINT64_FORMAT " (0x%"
                               G_GINT64_MODIFIER "x)\n", v, v);
        break;
    }
    case PROP_BOOL:
        g_string_append_printf(out, "%s\n",
                               *(const bool *)field ? "true" : "false");
        break;
    case PROP_STRING: {
        const char *v = *(char *const *)field;
        g_string_append_printf(out, "\"%s\"\n", v ? v : "");
        break;
    }
    }
}

/* Whether a device sits on a bus of that type ("System", "ISA", "PCI"). */
static bool class_on_bus(const DeviceClass *c, const char *type)
{
    if (!strcmp(type, "ISA")) {
        return class_on_isa(c);
    }
    if (!strcmp(type, "System")) {
        return !class_on_isa(c) && !(c->bus && !strcmp(c->bus, "PCI"));
    }
    return c->bus && !strcmp(c->bus, type);
}

/* The devices of one bus, newest first as QEMU lists a bus's children. */
static void qtree_print_bus(GString *out, int indent, Machine *m,
                            const char *name, const char *type, bool isa)
{
    GPtrArray *devs = g_ptr_array_new();

    g_string_append_printf(out, "%*sbus: %s\n", indent, "", name);
    g_string_append_printf(out, "%*s  type %s\n", indent, "", type);
    for (Device *d = m->devices; d; d = d->next) {
        if (class_on_bus(d->cls, type)) {
            g_ptr_array_insert(devs, 0, d);
        }
    }
    for (guint i = 0; i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        g_string_append_printf(out, "%*s  dev: %s, id \"%s\"\n", indent, "",
                               d->cls->name, d->id ? d->id : "");
        for (const Property *p = d->cls->props; p && p->name; p++) {
            qtree_print_prop(out, indent + 4, d, p);
        }
        if (d->cls->child_bus_name && d->cls->child_bus_type) {
            qtree_print_bus(out, indent + 4, m, d->cls->child_bus_name,
                            d->cls->child_bus_type, false);
        }
    }
    if (!isa && !strcmp(type, "System") && m->devices) {
        /* the bridge QEMU's isapc machine puts the ISA bus behind */
        bool any_isa = false;
        for (Device *d = m->devices; d; d = d->next) {
            any_isa |= class_on_isa(d->cls);
        }
        if (any_isa) {
            g_string_append_printf(out, "%*s  dev: isabus-bridge, id \"\"\n",
                                   indent, "");
            qtree_print_bus(out, indent + 4, m, "isa.0", "ISA", true);
        }
    }
    g_ptr_array_free(devs, TRUE);
}

void device_print_qtree(Machine *m, GString *out)
{
    qtree_print_bus(out, 0, m, "main-system-bus", "System", false);
}
