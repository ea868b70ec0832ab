/*
 * QMP query-pci (qapi/pci.json), in the shape of QEMU 7.2's reply: the
 * root bus, with the devices behind each bridge nested in its pci_bridge.
 */
#include "hw/pci/pci.h"
#include "monitor/qmp.h"
#include "pci-internal.h"
#include "system/vm.h"

static json_t *region_json(PCIDevice *d, int bar)
{
    const PCIBar *b = &d->bars[bar];
    json_t *r = json_object();
    bool is_io = b->type & PCI_BASE_ADDRESS_SPACE_IO;

    json_object_set_new(r, "bar", json_integer(bar));
    json_object_set_new(r, "type", json_string(is_io ? "io" : "memory"));
    /* QEMU reports an unmapped BAR at PCI_BAR_UNMAPPED, i.e. -1 */
    json_object_set_new(r, "address", json_integer((json_int_t)b->addr));
    json_object_set_new(r, "size", json_integer(b->size));
    if (!is_io) {
        json_object_set_new(r, "prefetch",
                            json_boolean(b->type &
                                         PCI_BASE_ADDRESS_MEM_PREFETCH));
        json_object_set_new(r, "mem_type_64",
                            json_boolean(b->type &
                                         PCI_BASE_ADDRESS_MEM_TYPE_64));
    }
    return r;
}

static json_t *range_json(uint64_t base, uint64_t limit)
{
    json_t *r = json_object();

    json_object_set_new(r, "base", json_integer((json_int_t)base));
    json_object_set_new(r, "limit", json_integer((json_int_t)limit));
    return r;
}

static json_t *devices_json(PCIBus *bus, unsigned busnr);

/* A bridge's bus numbers and forwarding windows, and the devices behind. */
static json_t *bridge_json(PCIDevice *d)
{
    static const char *const names[] = {
        [PCI_WINDOW_IO] = "io_range",
        [PCI_WINDOW_MEM] = "memory_range",
        [PCI_WINDOW_PREF] = "prefetchable_range",
    };
    const uint8_t *c = d->config;
    json_t *br = json_object(), *bus = json_object();

    json_object_set_new(bus, "number", json_integer(c[PCI_PRIMARY_BUS]));
    json_object_set_new(bus, "secondary", json_integer(c[PCI_SECONDARY_BUS]));
    json_object_set_new(bus, "subordinate",
                        json_integer(c[PCI_SUBORDINATE_BUS]));
    for (PCIWindow w = PCI_WINDOW_IO; w <= PCI_WINDOW_PREF; w++) {
        uint64_t base, limit;
        pci_bridge_window(d, w, &base, &limit);
        json_object_set_new(bus, names[w], range_json(base, limit));
    }
    json_object_set_new(br, "bus", bus);
    json_object_set_new(br, "devices",
                        devices_json(d->secondary, c[PCI_SECONDARY_BUS]));
    return br;
}

static json_t *device_json(PCIDevice *d, unsigned busnr)
{
    json_t *o = json_object(), *cls = json_object(), *id = json_object();
    json_t *regions = json_array();
    uint16_t class = pci_get_word(d->config + PCI_CLASS_DEVICE);
    const char *desc = pci_class_desc(class);

    json_object_set_new(o, "bus", json_integer(busnr));
    json_object_set_new(o, "slot", json_integer(PCI_SLOT(d->devfn)));
    json_object_set_new(o, "function", json_integer(PCI_FUNC(d->devfn)));
    if (desc) {
        json_object_set_new(cls, "desc", json_string(desc));
    }
    json_object_set_new(cls, "class", json_integer(class));
    json_object_set_new(o, "class_info", cls);
    json_object_set_new(id, "device",
                        json_integer(pci_get_word(d->config + PCI_DEVICE_ID)));
    json_object_set_new(id, "vendor",
                        json_integer(pci_get_word(d->config + PCI_VENDOR_ID)));
    json_object_set_new(id, "subsystem", json_integer(pci_get_word(
                            d->config + PCI_SUBSYSTEM_ID)));
    json_object_set_new(id, "subsystem-vendor", json_integer(pci_get_word(
                            d->config + PCI_SUBSYSTEM_VENDOR_ID)));
    json_object_set_new(o, "id", id);
    if (d->config[PCI_INTERRUPT_PIN]) {
        json_object_set_new(o, "irq",
                            json_integer(d->config[PCI_INTERRUPT_LINE]));
    }
    json_object_set_new(o, "irq_pin",
                        json_integer(d->config[PCI_INTERRUPT_PIN]));
    json_object_set_new(o, "qdev_id",
                        json_string(d->qdev.id ? d->qdev.id : ""));
    for (int i = 0; i < PCI_NUM_REGIONS; i++) {   /* ROM BAR as 6 */
        if (d->bars[i].mr) {
            json_array_append_new(regions, region_json(d, i));
        }
    }
    json_object_set_new(o, "regions", regions);
    if (d->secondary) {
        json_object_set_new(o, "pci_bridge", bridge_json(d));
    }
    return o;
}

/* The devices on bus, which the guest numbered busnr. */
static json_t *devices_json(PCIBus *bus, unsigned busnr)
{
    json_t *devs = json_array();

    for (unsigned devfn = 0; devfn < 256; devfn++) {
        PCIDevice *d = pci_bus_get_device(bus, devfn);
        if (d) {
            json_array_append_new(devs, device_json(d, busnr));
        }
    }
    return devs;
}

static json_t *qmp_query_pci(json_t *args, GError **errp)
{
    Machine *m = machine_current();
    json_t *list = json_array();
    PCIBus *bus = m ? pci_bus_find(m, NULL) : NULL;

    if (bus) {
        json_t *b = json_object();
        json_object_set_new(b, "bus", json_integer(0));
        json_object_set_new(b, "devices", devices_json(bus, 0));
        json_array_append_new(list, b);
    }
    return list;
}
QMP_COMMAND("query-pci", qmp_query_pci)
