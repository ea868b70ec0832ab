/*
 * Device model core (minimal until the device issue): a device type is a
 * static DeviceClass that registers itself; instances are created by boards
 * or by -device, get typed properties from "key=value" strings, are realized
 * against the machine and reset with it.
 */
#ifndef HW_DEVICE_H
#define HW_DEVICE_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Machine Machine;
typedef struct Device Device;
typedef struct DeviceClass DeviceClass;
typedef struct VMStateDescription VMStateDescription;

typedef enum PropType {
    PROP_UINT32,
    PROP_UINT64,
    PROP_BOOL,
    PROP_STRING,    /* char *, g_free'd with the device */
} PropType;

typedef struct Property {
    const char *name;
    PropType type;
    size_t offset;          /* of the field in the instance struct */
    uint64_t defval;        /* numbers and bools */
    const char *defstr;     /* strings */
    const char *desc;
} Property;

#define PROP_U32(n, st, f, d, h) { n, PROP_UINT32, offsetof(st, f), d, NULL, h }
#define PROP_U64(n, st, f, d, h) { n, PROP_UINT64, offsetof(st, f), d, NULL, h }
#define PROP_BOOL(n, st, f, d, h) { n, PROP_BOOL, offsetof(st, f), d, NULL, h }
#define PROP_STR(n, st, f, d, h) { n, PROP_STRING, offsetof(st, f), 0, d, h }
#define PROP_END { NULL, 0, 0, 0, NULL, NULL }

/* QMP's name for a property's type: "uint32", "bool", "str", ... */
const char *property_type_name(PropType t);

/*
 * A property the device computes or changes while it runs (QEMU's
 * object_property_add): qom-list lists it, qom-get reads it, qom-set and
 * -device/-global write it when it has a setter. -device's string value
 * reaches set as a JSON integer when it is one, as a string otherwise.
 */
typedef struct DynProperty {
    const char *name;
    const char *type;           /* as qom-list shows it: "int", "any" */
    json_t *(*get)(Device *dev);
    bool (*set)(Device *dev, json_t *value, GError **errp); /* NULL: read-only */
    const char *desc;           /* for -device NAME,help (settable ones) */
} DynProperty;

struct DeviceClass {
    const char *name;
    const char *alias;          /* another name -device accepts, or NULL */
    const char *desc;
    const char *bus;            /* "isa", "sys", "PCI" */
    /* QOM parent type ("pci-device"); NULL: derived from bus */
    const char *parent;
    /* The bus its instance provides, for "info qtree" ("pci.0", "PCI") */
    const char *child_bus_name;
    const char *child_bus_type;
    size_t instance_size;       /* begins with a Device */
    const Property *props;      /* ends with PROP_END */
    const DynProperty *dyn_props;   /* ends with a NULL name, or NULL */
    bool user_creatable;        /* may be given to -device */
    bool (*realize)(Device *dev, Machine *m, GError **errp);
    void (*reset)(Device *dev);
    void (*unrealize)(Device *dev);
    const VMStateDescription *vmsd;    /* migration state (migration/) */
    const DeviceClass *next;    /* registry link */
};

struct Device {
    const DeviceClass *cls;
    char *id;
    Machine *machine;
    bool realized;
    bool user_created;          /* by -device (QOM: /machine/peripheral*) */
    Device *next;               /* in the machine's device list */
};

void device_class_register(DeviceClass *cls);
const DeviceClass *device_class_find(const char *name);
/* The registered classes, linked through ->next (in no useful order). */
const DeviceClass *device_class_first(void);
/* Prints "-device help" or "-device NAME,help" to stdout. */
void device_class_print_help(const char *name);

#define DEVICE_REGISTER(cls)                                            \
    static void __attribute__((constructor)) register_##cls(void)       \
    {                                                                   \
        device_class_register(&cls);                                    \
    }

/*
 * -global DRIVER.PROPERTY=VALUE (or driver=,property=,value=): a default
 * that every later device_new of DRIVER applies. Fails with a message
 * naming the option if the driver, property or value is wrong.
 */
bool device_add_global(const char *arg, GError **errp);
void device_clear_globals(void);

/* An instance with default property values (and -global's), not yet
 * realized. */
Device *device_new(const char *type, GError **errp);
bool device_set_prop(Device *dev, const char *name, const char *value,
                     GError **errp);
/*
 * A property value typed as text (-device, HMP qom-set): a JSON integer
 * if it is one, else a JSON string.
 */
json_t *device_prop_value_parse(const char *value);
/* The class's run-time property called name, or NULL. */
const DynProperty *device_find_dyn_prop(const DeviceClass *c,
                                        const char *name);
/* Realizes the device and adds it to the machine (which then owns it). */
bool device_realize(Device *dev, Machine *m, GError **errp);
/* -device TYPE,key=value,...; "help" forms print and return false with no error. */
Device *device_create_from_opts(Machine *m, const char *opts, GError **errp);
void device_free(Device *dev);

/*
 * QEMU's "info qtree": main-system-bus with the system devices, the ISA
 * devices on isa.0 behind an ISA bridge, each with its properties.
 */
void device_print_qtree(Machine *m, GString *out);

/*
 * The object tree of QMP's qom-list and qom-get (hw/core/qom.c), as QEMU
 * lays it out: /machine/peripheral/ID and /machine/peripheral-anon/device[N]
 * for -device, and /machine/unattached/device[N] for the vCPUs (N = vCPU
 * index) and then the built-in devices in creation order.
 */
char *machine_cpu_qom_path(Machine *m, int index);

#endif
