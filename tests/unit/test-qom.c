/*
 * Looking inside a machine from the monitor: QMP's qom-list, qom-get,
 * qom-list-types and device-list-properties with QEMU's paths, types and
 * error wording (checked against QEMU 7.2), "info qtree" and "info mtree",
 * on a small hand-made machine with two vCPUs, a built-in device and two
 * -device ones.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "monitor/qmp.h"
#include "system/vm.h"
#include "util/opts.h"

typedef struct Fixture {
    Machine m;
    MemoryRegion sysmem, io;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    Machine *m = &f->m;
    GError *err = NULL;

    memset(f, 0, sizeof(*f));
    m->cls = machine_class_find("pc");
    m->cfg.cpu_model = "host";
    memory_region_init_container(&f->sysmem, "system", UINT64_MAX);
    memory_region_init_container(&f->io, "io", 0x10000);
    m->sysmem = &f->sysmem;
    m->io = &f->io;
    address_space_init(&m->as_mem, m->sysmem, "memory");
    address_space_init(&m->as_io, m->io, "I/O");
    m->ncpus = 2;
    m->cpus = g_new0(CPUState *, 2);
    for (int i = 0; i < 2; i++) {
        m->cpus[i] = g_new0(CPUState, 1);
        m->cpus[i]->machine = m;
        m->cpus[i]->index = i;
        m->cpus[i]->apic_id = i * 2;
    }
    Device *dev = device_new("port92", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, m, &err));
    g_assert_nonnull(device_create_from_opts(m, "isa-debug-exit,id=dbg,"
                                             "iobase=0xf4", &err));
    g_assert_nonnull(device_create_from_opts(m, "isa-debug-exit", &err));
    g_assert_no_error(err);
    machine_set_current(m);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    Machine *m = &f->m;

    machine_set_current(NULL);
    address_space_destroy(&m->as_mem);
    address_space_destroy(&m->as_io);
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    for (int i = 0; i < m->ncpus; i++) {
        g_free(m->cpus[i]);
    }
    g_free(m->cpus);
    memory_region_destroy(&f->io);
    memory_region_destroy(&f->sysmem);
}

/* Runs a command whose arguments are given as a JSON text. */
static json_t *call(const char *name, const char *args_json, GError **errp)
{
    json_t *args = args_json ? json_loads(args_json, 0, NULL) : NULL;
    json_t *ret = qmp_call(name, args, errp);

    json_decref(args);
    return ret;
}

static json_t *call_ok(const char *name, const char *args_json)
{
    GError *err = NULL;
    json_t *ret = call(name, args_json, &err);

    g_assert_no_error(err);
    g_assert_nonnull(ret);
    return ret;
}

static void call_fails(const char *name, const char *args_json,
                       GQuark domain, int code, const char *message)
{
    GError *err = NULL;
    json_t *ret = call(name, args_json, &err);

    g_assert_null(ret);
    g_assert_error(err, domain, code);
    g_assert_cmpstr(err->message, ==, message);
    g_error_free(err);
}

/* The "type" of the entry called name in a qom-list answer, or NULL. */
static const char *list_type(json_t *list, const char *name)
{
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e) {
        if (!strcmp(json_string_value(json_object_get(e, "name")), name)) {
            return json_string_value(json_object_get(e, "type"));
        }
    }
    return NULL;
}

static void assert_get_string(const char *path, const char *prop,
                              const char *want)
{
    char *args = g_strdup_printf("{\"path\": \"%s\", \"property\": \"%s\"}",
                                 path, prop);
    json_t *v = call_ok("qom-get", args);

    g_assert_cmpstr(json_string_value(v), ==, want);
    json_decref(v);
    g_free(args);
}

static void test_qom_list_machine(Fixture *f, gconstpointer d)
{
    json_t *l = call_ok("qom-list", "{\"path\": \"/machine\"}");

    g_assert_cmpstr(list_type(l, "type"), ==, "string");
    g_assert_cmpstr(list_type(l, "peripheral"), ==, "child<container>");
    g_assert_cmpstr(list_type(l, "peripheral-anon"), ==, "child<container>");
    g_assert_cmpstr(list_type(l, "unattached"), ==, "child<container>");
    json_decref(l);

    l = call_ok("qom-list", "{\"path\": \"/\"}");
    g_assert_cmpstr(list_type(l, "machine"), ==, "child<pc-machine>");
    json_decref(l);
    assert_get_string("/machine", "type", "pc-machine");
    assert_get_string("/machine/peripheral", "type", "container");
    /* a child property's value is the child's path */
    assert_get_string("/machine", "unattached", "/machine/unattached");
}

/* vCPUs first as device[index], then the built-in devices. */
static void test_qom_unattached_cpus_then_devices(Fixture *f,
                                                  gconstpointer d)
{
    json_t *l = call_ok("qom-list", "{\"path\": \"/machine/unattached\"}");
    json_t *v;

    g_assert_cmpstr(list_type(l, "device[0]"), ==, "child<host-x86_64-cpu>");
    g_assert_cmpstr(list_type(l, "device[1]"), ==, "child<host-x86_64-cpu>");
    g_assert_cmpstr(list_type(l, "device[2]"), ==, "child<port92>");
    g_assert_null(list_type(l, "device[3]"));
    json_decref(l);

    char *path = machine_cpu_qom_path(&f->m, 1);
    g_assert_cmpstr(path, ==, "/machine/unattached/device[1]");
    g_free(path);
    v = call_ok("qom-get", "{\"path\": \"/machine/unattached/device[1]\", "
                           "\"property\": \"apic-id\"}");
    g_assert_cmpint(json_integer_value(v), ==, 2);
    json_decref(v);
    assert_get_string("/machine/unattached/device[1]", "type",
                      "host-x86_64-cpu");
    assert_get_string("/machine/unattached/device[2]", "type", "port92");
}

static void test_qom_peripherals_and_props(Fixture *f, gconstpointer d)
{
    json_t *l = call_ok("qom-list", "{\"path\": \"/machine/peripheral\"}");
    json_t *v;

    g_assert_cmpstr(list_type(l, "dbg"), ==, "child<isa-debug-exit>");
    json_decref(l);
    l = call_ok("qom-list", "{\"path\": \"/machine/peripheral-anon\"}");
    g_assert_cmpstr(list_type(l, "device[0]"), ==, "child<isa-debug-exit>");
    json_decref(l);

    l = call_ok("qom-list", "{\"path\": \"/machine/peripheral/dbg\"}");
    g_assert_cmpstr(list_type(l, "type"), ==, "string");
    g_assert_cmpstr(list_type(l, "realized"), ==, "bool");
    g_assert_cmpstr(list_type(l, "iobase"), ==, "uint32");
    g_assert_cmpstr(list_type(l, "iosize"), ==, "uint32");
    json_decref(l);

    v = call_ok("qom-get", "{\"path\": \"/machine/peripheral/dbg\", "
                           "\"property\": \"iobase\"}");
    g_assert_cmpint(json_integer_value(v), ==, 0xf4);
    json_decref(v);
    v = call_ok("qom-get", "{\"path\": \"/machine/peripheral-anon/device[0]\","
                           " \"property\": \"iobase\"}");
    g_assert_cmpint(json_integer_value(v), ==, 0x501);
    json_decref(v);
    v = call_ok("qom-get", "{\"path\": \"/machine/peripheral/dbg\", "
                           "\"property\": \"realized\"}");
    g_assert_true(json_is_true(v));
    json_decref(v);
    /* "a//b/" is "a/b" */
    v = call_ok("qom-get", "{\"path\": \"/machine//peripheral/dbg/\", "
                           "\"property\": \"iosize\"}");
    g_assert_cmpint(json_integer_value(v), ==, 2);
    json_decref(v);
}

/* Partial paths resolve when they name one object. */
static void test_qom_partial_paths(Fixture *f, gconstpointer d)
{
    assert_get_string("dbg", "type", "isa-debug-exit");
    assert_get_string("unattached/device[2]", "type", "port92");
    call_fails("qom-list", "{\"path\": \"device[0]\"}", VIREO_ERROR, 0,
               "Path 'device[0]' is ambiguous");
    call_fails("qom-list", "{\"path\": \"\"}", VIREO_ERROR, 0,
               "Path '' is ambiguous");
    call_fails("qom-list", "{\"path\": \"nothing\"}", QMP_ERROR,
               QMP_ERROR_DEVICE_NOT_FOUND, "Device 'nothing' not found");
}

/* QEMU 7.2's classes and wording for bad paths and properties. */
static void test_qom_errors(Fixture *f, gconstpointer d)
{
    call_fails("qom-list", "{\"path\": \"/x\"}", QMP_ERROR,
               QMP_ERROR_DEVICE_NOT_FOUND, "Device '/x' not found");
    call_fails("qom-get", "{\"path\": \"/machine/peripheral/nodev\", "
                          "\"property\": \"type\"}", QMP_ERROR,
               QMP_ERROR_DEVICE_NOT_FOUND,
               "Device '/machine/peripheral/nodev' not found");
    call_fails("qom-get", "{\"path\": \"/machine/unattached/device[0]\", "
                          "\"property\": \"nope\"}", VIREO_ERROR, 0,
               "Property 'host-x86_64-cpu.nope' not found");
    call_fails("qom-get", "{\"path\": \"/machine/peripheral\", "
                          "\"property\": \"nope\"}", VIREO_ERROR, 0,
               "Property 'container.nope' not found");
    /* no machine yet (start-up) */
    machine_set_current(NULL);
    GError *err = NULL;
    g_assert_null(call("qom-list", "{\"path\": \"/machine\"}", &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "machine"));
    g_clear_error(&err);
    machine_set_current(&f->m);
}

/* qom-set: only run-time properties; QEMU 7.2's wording for the rest. */
static void test_qom_set_errors(Fixture *f, gconstpointer d)
{
    call_fails("qom-set", "{\"path\": \"/machine/peripheral/dbg\", "
                          "\"property\": \"iobase\", \"value\": 1}",
               VIREO_ERROR, 0, "Attempt to set property 'iobase' on device "
               "'dbg' (type 'isa-debug-exit') after it was realized");
    call_fails("qom-set", "{\"path\": \"/machine/peripheral/dbg\", "
                          "\"property\": \"type\", \"value\": \"x\"}",
               VIREO_ERROR, 0,
               "Property 'isa-debug-exit.type' is not writable");
    call_fails("qom-set", "{\"path\": \"/machine/peripheral-anon/"
                          "device[0]\", \"property\": \"iobase\", "
                          "\"value\": 1}",
               VIREO_ERROR, 0, "Attempt to set property 'iobase' on "
               "anonymous device (type 'isa-debug-exit') after it was "
               "realized");
    call_fails("qom-set", "{\"path\": \"/machine\", "
                          "\"property\": \"nope\", \"value\": 1}",
               VIREO_ERROR, 0, "Property 'pc-machine.nope' not found");
    call_fails("qom-set", "{\"path\": \"/machine/peripheral/nodev\", "
                          "\"property\": \"x\", \"value\": 1}",
               QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
               "Device '/machine/peripheral/nodev' not found");
}

static json_t *find_prop(json_t *list, const char *name)
{
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e) {
        if (!strcmp(json_string_value(json_object_get(e, "name")), name)) {
            return e;
        }
    }
    return NULL;
}

static void test_device_list_properties(Fixture *f, gconstpointer d)
{
    json_t *l = call_ok("device-list-properties",
                        "{\"typename\": \"isa-debug-exit\"}");
    json_t *p = find_prop(l, "iobase");

    g_assert_nonnull(p);
    g_assert_cmpstr(json_string_value(json_object_get(p, "type")), ==,
                    "uint32");
    g_assert_cmpint(json_integer_value(json_object_get(p, "default-value")),
                    ==, 0x501);
    g_assert_nonnull(json_object_get(p, "description"));
    g_assert_nonnull(find_prop(l, "iosize"));
    g_assert_null(find_prop(l, "type"));    /* only the device's own */
    json_decref(l);

    /* a string property without a default has no default-value */
    l = call_ok("device-list-properties", "{\"typename\": \"isa-serial\"}");
    p = find_prop(l, "chardev");
    g_assert_cmpstr(json_string_value(json_object_get(p, "type")), ==, "str");
    g_assert_null(json_object_get(p, "default-value"));
    json_decref(l);

    call_fails("device-list-properties", "{\"typename\": \"foo\"}",
               QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
               "Device 'foo' not found");
    call_fails("device-list-properties", "{\"typename\": \"isa-device\"}",
               VIREO_ERROR, 0,
               "Parameter 'typename' expects a non-abstract device type");
    call_fails("device-list-properties", "{\"typename\": \"pc-machine\"}",
               VIREO_ERROR, 0,
               "Parameter 'typename' expects a non-abstract device type");
}

static json_t *find_type(json_t *list, const char *name)
{
    return find_prop(list, name);
}

static void test_qom_list_types(Fixture *f, gconstpointer d)
{
    json_t *l = call_ok("qom-list-types", "{\"implements\": \"isa-device\"}");
    json_t *t = find_type(l, "isa-debug-exit");

    g_assert_nonnull(t);
    g_assert_cmpstr(json_string_value(json_object_get(t, "parent")), ==,
                    "isa-device");
    g_assert_null(json_object_get(t, "abstract"));
    g_assert_null(find_type(l, "isa-device"));      /* abstract */
    g_assert_null(find_type(l, "x86-irqchip"));     /* a system device */
    g_assert_null(find_type(l, "pc-machine"));
    json_decref(l);

    l = call_ok("qom-list-types", "{\"implements\": \"isa-device\", "
                                  "\"abstract\": true}");
    t = find_type(l, "isa-device");
    g_assert_nonnull(t);
    g_assert_true(json_is_true(json_object_get(t, "abstract")));
    g_assert_cmpstr(json_string_value(json_object_get(t, "parent")), ==,
                    "device");
    json_decref(l);

    l = call_ok("qom-list-types", "{\"implements\": \"x86-machine\"}");
    t = find_type(l, "pc-machine");
    g_assert_cmpstr(json_string_value(json_object_get(t, "parent")), ==,
                    "x86-machine");
    g_assert_nonnull(find_type(l, "microvm-machine"));
    g_assert_null(find_type(l, "isa-serial"));
    json_decref(l);

    l = call_ok("qom-list-types", "{\"implements\": \"nonexistent\"}");
    g_assert_cmpuint(json_array_size(l), ==, 0);
    json_decref(l);

    /* everything concrete: devices, vCPU models, machines */
    l = call_ok("qom-list-types", NULL);
    g_assert_nonnull(find_type(l, "x86-irqchip"));
    g_assert_nonnull(find_type(l, "host-x86_64-cpu"));
    g_assert_nonnull(find_type(l, "pc-machine"));
    g_assert_null(find_type(l, "device"));
    json_decref(l);
}

/* "info qtree": the ISA devices behind the bridge, newest first. */
static void test_qtree(Fixture *f, gconstpointer d)
{
    static const char want[] =
        "bus: main-system-bus\n"
        "  type System\n"
        "  dev: isabus-bridge, id \"\"\n"
        "    bus: isa.0\n"
        "      type ISA\n"
        "      dev: isa-debug-exit, id \"\"\n"
        "        iobase = 1281 (0x501)\n"
        "        iosize = 2 (0x2)\n"
        "      dev: isa-debug-exit, id \"dbg\"\n"
        "        iobase = 244 (0xf4)\n"
        "        iosize = 2 (0x2)\n"
        "      dev: port92, id \"\"\n";
    GString *out = g_string_new(NULL);

    device_print_qtree(&f->m, out);
    g_assert_cmpstr(out->str, ==, want);
    g_string_free(out, TRUE);
}

/* "info mtree": QEMU's layout of the region trees and aliased regions. */
static void test_mtree(Fixture *f, gconstpointer d)
{
    static const char want[] =
        "address-space: memory\n"
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
        "    0000000000000000-000000000009ffff (prio 0, ram): alias "
        "ram-below-4g @pc.ram 0000000000000000-000000000009ffff\n"
        "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n"
        "      00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\n"
        "    00000000000a0000-00000000000bffff (prio 1, i/o): vga\n"
        "    00000000000c0000-00000000000c7fff (prio 0, rom): alias "
        "isa-bios @pc.bios 0000000000000000-0000000000007fff\n"
        "    00000000ffff0000-00000000ffffffff (prio 0, rom): pc.bios\n"
        "\n"
        "address-space: I/O\n"
        "  0000000000000000-000000000000ffff (prio 0, i/o): io\n"
        "    0000000000000092-0000000000000092 (prio 0, i/o): port92\n"
        "    00000000000000f4-00000000000000f5 (prio 0, i/o): "
        "isa-debug-exit\n"
        "    0000000000000501-0000000000000502 (prio 0, i/o): "
        "isa-debug-exit\n"
        "\n"
        "memory-region: pc.ram\n"
        "  0000000000000000-00000000000fffff (prio 0, ram): pc.ram\n"
        "\n"
        "memory-region: pc.bios\n"
        "  00000000ffff0000-00000000ffffffff (prio 0, rom): pc.bios\n"
        "\n";
    static const MemoryRegionOps ops = { 0 };
    MemoryRegion ram, below, pci, ioapic, vga, smram, bios, isa_bios;
    GString *out = g_string_new(NULL);

    g_assert_true(memory_region_init_ram(&ram, "pc.ram", 1 << 20, NULL));
    memory_region_init_alias(&below, "ram-below-4g", &ram, 0, 0xa0000);
    memory_region_add_subregion(&f->sysmem, 0, &below);
    memory_region_init_container(&pci, "pci", UINT64_MAX);
    memory_region_init_io(&ioapic, "ioapic", &ops, NULL, 0x1000);
    memory_region_add_subregion(&pci, 0xfec00000, &ioapic);
    memory_region_add_subregion_overlap(&f->sysmem, 0, &pci, -1);
    memory_region_init_io(&vga, "vga", &ops, NULL, 0x20000);
    memory_region_add_subregion_overlap(&f->sysmem, 0xa0000, &vga, 1);
    /* disabled: hidden, as QEMU hides it without -D */
    memory_region_init_io(&smram, "smram", &ops, NULL, 0x20000);
    memory_region_set_enabled(&smram, false);
    memory_region_add_subregion_overlap(&f->sysmem, 0xa0000, &smram, 2);
    g_assert_true(memory_region_init_ram(&bios, "pc.bios", 0x10000, NULL));
    memory_region_set_readonly(&bios, true);
    memory_region_add_subregion(&f->sysmem, 0xffff0000, &bios);
    memory_region_init_alias(&isa_bios, "isa-bios", &bios, 0, 0x8000);
    memory_region_add_subregion(&f->sysmem, 0xc0000, &isa_bios);

    memory_print_mtree(&f->m, out);
    g_assert_cmpstr(out->str, ==, want);

    g_string_free(out, TRUE);
    memory_region_destroy(&isa_bios);
    memory_region_destroy(&bios);
    memory_region_destroy(&smram);
    memory_region_destroy(&vga);
    memory_region_destroy(&ioapic);
    memory_region_destroy(&pci);
    memory_region_destroy(&below);
    memory_region_destroy(&ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define QOM_TEST(name, fn)                                              \
    g_test_add("/qom/" name, Fixture, NULL, fixture_setup, fn,          \
               fixture_teardown)
    QOM_TEST("list-machine", test_qom_list_machine);
    QOM_TEST("unattached-cpus-then-devices",
             test_qom_unattached_cpus_then_devices);
    QOM_TEST("peripherals-and-props", test_qom_peripherals_and_props);
    QOM_TEST("partial-paths", test_qom_partial_paths);
    QOM_TEST("errors", test_qom_errors);
    QOM_TEST("set-errors", test_qom_set_errors);
    QOM_TEST("device-list-properties", test_device_list_properties);
    QOM_TEST("list-types", test_qom_list_types);
    QOM_TEST("info-qtree", test_qtree);
    QOM_TEST("info-mtree", test_mtree);
    return g_test_run();
}
