/*
 * "pcie-root-port": QEMU's generic PCI Express root port (1b36:000c), a
 * PCI-to-PCI bridge (PCI-to-PCI Bridge Architecture 1.2, type-1 header)
 * with the PCI Express capability of a root port and one secondary bus
 * named after its id, e.g. -device pcie-root-port,id=rp1,chassis=1 then
 * -device virtio-blk-pci,bus=rp1.
 *
 * The bus number registers route configuration cycles (pci_bus_by_number).
 * The I/O and memory windows are registers the guest programs; devices
 * behind the port decode their BARs in the machine's spaces directly, so a
 * window does not filter them (firmware and Linux place BARs inside the
 * windows anyway).
 */
#include <stdio.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/pci/pcie.h"
#include "migration/vmstate.h"
#include "util/opts.h"

#define ROOT_PORT_CAP_OFFSET    0x40

typedef struct PCIERootPort {
    PCIDevice pci;
    uint32_t chassis, slot, port;
    PCIBus *secbus;
    char *bus_name;
} PCIERootPort;

static GSList *root_ports;      /* realized ports, for the chassis/slot check */

/* A device below the port is on device 0 of its link; swizzle as a bridge. */
static int root_port_route_intx(PCIDevice *d, int pin)
{
    PCIDevice *bridge = d->bus ? pci_bus_parent(d->bus) : NULL;

    if (!bridge || !bridge->bus || pin < 1 || pin > 4) {
        return -1;
    }
    /* PCI-to-PCI Bridge 1.2, 9.1: the swizzle; the bridge's bus does the rest */
    return pci_route_intx(bridge, (pin - 1 + PCI_SLOT(d->devfn)) % 4 + 1);
}

/* Presence and link state follow what sits on the secondary bus. */
static void root_port_config_read(PCIDevice *d, uint32_t addr, unsigned len)
{
    PCIERootPort *s = (PCIERootPort *)d;
    bool present = false;

    for (unsigned i = 0; i < 256 && !present; i++) {
        present = pci_bus_get_device(s->secbus, i) != NULL;
    }
    pcie_cap_set_link(d, present);
}

static const PCIDeviceInfo root_port_info = {
    .vendor_id = 0x1b36, .device_id = 0x000c,
    .class_code = 0x060400,
    .interrupt_pin = 1,
    .config_read = root_port_config_read,
    .express = true,
};

static void root_port_init_masks(PCIDevice *d)
{
    uint8_t *w = d->wmask;

    w[PCI_PRIMARY_BUS] = w[PCI_SECONDARY_BUS] = 0xff;
    w[PCI_SUBORDINATE_BUS] = w[PCI_SEC_LATENCY_TIMER] = 0xff;
    w[PCI_IO_BASE] = w[PCI_IO_LIMIT] = 0xf0;
    pci_set_word(d->w1cmask + PCI_SEC_STATUS, PCI_STATUS_W1C);
    pci_set_word(w + PCI_MEMORY_BASE, 0xfff0);
    pci_set_word(w + PCI_MEMORY_LIMIT, 0xfff0);
    pci_set_word(w + PCI_PREF_MEMORY_BASE, 0xfff0);
    pci_set_word(w + PCI_PREF_MEMORY_LIMIT, 0xfff0);
    pci_set_long(w + PCI_PREF_BASE_UPPER32, 0xffffffff);
    pci_set_long(w + PCI_PREF_LIMIT_UPPER32, 0xffffffff);
    /* parity, SERR, ISA, VGA, VGA 16-bit, master abort, secondary reset */
    pci_set_word(w + PCI_BRIDGE_CONTROL, 0x007f);
}

/* The type-1 registers' power-on values (bus numbers 0: not forwarding). */
static void root_port_reset_regs(PCIDevice *d)
{
    memset(d->config + PCI_PRIMARY_BUS, 0, PCI_CAPABILITY_LIST -
           PCI_PRIMARY_BUS);
    memset(d->config + PCI_IO_BASE_UPPER16, 0, 4);
    pci_set_word(d->config + PCI_PREF_MEMORY_BASE, PCI_PREF_RANGE_TYPE_64);
    pci_set_word(d->config + PCI_PREF_MEMORY_LIMIT, PCI_PREF_RANGE_TYPE_64);
    pci_set_word(d->config + PCI_BRIDGE_CONTROL, 0);
}

static bool chassis_slot_taken(PCIERootPort *s)
{
    for (GSList *l = root_ports; l; l = l->next) {
        PCIERootPort *o = l->data;
        if (o->pci.qdev.machine == s->pci.qdev.machine &&
            o->chassis == s->chassis && o->slot == s->slot) {
            return true;
        }
    }
    return false;
}

static bool root_port_realize(Device *dev, Machine *m, GError **errp)
{
    PCIERootPort *s = (PCIERootPort *)dev;
    PCIDevice *d = &s->pci;

    if (s->chassis > 0xff || s->slot > 0x1fff || s->port > 0xff) {
        g_set_error(errp, VIREO_ERROR, 0, "pcie-root-port: chassis (0-255), "
                    "slot (0-8191) or port (0-255) out of range");
        return false;
    }
    g_autofree char *bus_name =
        dev->id ? g_strdup(dev->id)
                : g_strdup_printf("pcie.%u", g_slist_length(root_ports) + 1);
    if (pci_bus_find(m, bus_name)) {
        g_set_error(errp, VIREO_ERROR, 0, "pcie-root-port: a bus named '%s' "
                    "already exists", bus_name);
        return false;
    }
    if (chassis_slot_taken(s)) {
        g_set_error(errp, VIREO_ERROR, 0, "pcie-root-port: chassis %u slot "
                    "%u is taken by another port", s->chassis, s->slot);
        return false;
    }
    if (!pci_device_init(d, m, &root_port_info, errp)) {
        return false;
    }
    /* a root port belongs to the root complex: q35's pcie.0 */
    if (strcmp(pci_bus_name(d->bus), "pcie.0") != 0) {
        g_set_error(errp, VIREO_ERROR, 0, "pcie-root-port: bus '%s' is not "
                    "a PCI Express root bus (use -M q35; the port goes on "
                    "pcie.0)", pci_bus_name(d->bus));
        pci_device_uninit(d);
        return false;
    }
    d->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_BRIDGE;
    /* the type-0 subsystem IDs pci_device_init put here are type-1 fields */
    memset(d->config + PCI_PREF_BASE_UPPER32, 0, 8);
    root_port_init_masks(d);
    root_port_reset_regs(d);
    if (!pcie_cap_init(d, ROOT_PORT_CAP_OFFSET, PCI_EXP_TYPE_ROOT_PORT,
                       s->port, errp)) {
        pci_device_uninit(d);
        return false;
    }
    pcie_cap_slot_init(d, s->slot);
    s->bus_name = g_steal_pointer(&bus_name);
    s->secbus = pci_bus_new(m, s->bus_name, m->sysmem, m->io,
                            root_port_route_intx);
    pci_bus_set_parent(s->secbus, d);
    d->secondary = s->secbus;
    root_ports = g_slist_append(root_ports, s);
    return true;
}

static void root_port_unrealize(Device *dev)
{
    PCIERootPort *s = (PCIERootPort *)dev;

    root_ports = g_slist_remove(root_ports, s);
    if (s->secbus) {
        s->pci.secondary = NULL;
        pci_bus_free(s->secbus);
        s->secbus = NULL;
    }
    pci_device_uninit(&s->pci);
    g_clear_pointer(&s->bus_name, g_free);
}

static void root_port_reset(Device *dev)
{
    PCIDevice *d = (PCIDevice *)dev;

    pci_device_reset(d);
    root_port_reset_regs(d);
}

static const VMStateField root_port_fields[] = {
    VMSTATE_STRUCT(pci, PCIERootPort, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_root_port = {
    .name = "pcie-root-port",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = root_port_fields,
};

static const Property root_port_props[] = {
    PCI_DEVICE_PROPS(PCIERootPort, pci),
    PROP_U32("chassis", PCIERootPort, chassis, 0, "chassis number (0-255)"),
    PROP_U32("slot", PCIERootPort, slot, 0,
             "physical slot number (0-8191)"),
    PROP_U32("port", PCIERootPort, port, 0, "port number (Link Capabilities)"),
    PROP_END,
};

static DeviceClass root_port_class = {
    .name = "pcie-root-port",
    .desc = "PCI Express root port",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PCIERootPort),
    .props = root_port_props,
    .user_creatable = true,
    .realize = root_port_realize,
    .unrealize = root_port_unrealize,
    .reset = root_port_reset,
    .vmsd = &vmstate_root_port,
};
DEVICE_REGISTER(root_port_class)
