/*
 * pvpanic after QEMU's docs/specs/pvpanic.rst: a one-byte register the
 * guest reads for the events it may report (bit 0 PANICKED, bit 1
 * CRASH_LOADED) and writes to report one. "pvpanic" is the ISA device at
 * I/O port 0x505, "pvpanic-pci" the PCI one (1b36:0011, BAR0 memory).
 * A panic does what -action panic= says, with QEMU's GUEST_PANICKED event;
 * a loaded crash kernel gets GUEST_CRASHLOADED and the guest runs on.
 */
#include "hw/i386/x86.h"
#include "hw/pci/pci.h"
#include "migration/vmstate.h"
#include "monitor/qmp.h"
#include "system/cmdline.h"
#include "system/runstate.h"
#include "system/timer.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"

#define PVPANIC_PANICKED        (1u << 0)
#define PVPANIC_CRASH_LOADED    (1u << 1)
#define PVPANIC_EVENTS          (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)
#define PVPANIC_ISA_PORT        0x505
#define PVPANIC_PCI_BAR_SIZE    16

/* What the ISA and PCI devices share: the register and the reporting. */
typedef struct PVPanicCore {
    Machine *m;
    uint32_t events;        /* the events offered ("events" property) */
    uint32_t pending;       /* written, waiting for the main loop */
    bool logged_unknown;
    Timer *bh;
} PVPanicCore;

static void pvpanic_send(const char *name, const char *action)
{
    json_t *data = json_object();

    json_object_set_new(data, "action", json_string(action));
    qmp_event_send(name, data);
}

/* QEMU's qemu_system_guest_panicked() with no panic information. */
static void pvpanic_guest_panicked(Machine *m)
{
    PanicAction action = m->cfg.panic_action;

    if (action == PANIC_ACTION_PAUSE ||
        (action == PANIC_ACTION_SHUTDOWN && runstate_no_shutdown)) {
        pvpanic_send("GUEST_PANICKED", "pause");
        vm_stop(m, RUN_STATE_GUEST_PANICKED);
    } else if (action == PANIC_ACTION_SHUTDOWN ||
               action == PANIC_ACTION_EXIT_FAILURE) {
        pvpanic_send("GUEST_PANICKED", "poweroff");
        vm_stop(m, RUN_STATE_GUEST_PANICKED);
        vm_request_shutdown(SHUTDOWN_GUEST_PANIC,
                            action == PANIC_ACTION_EXIT_FAILURE);
    } else {
        pvpanic_send("GUEST_PANICKED", "run");
    }
}

/*
 * On the main loop, where the vCPUs can be stopped: a vCPU thread cannot
 * wait for itself to park.
 */
static void pvpanic_bh(void *opaque)
{
    PVPanicCore *c = opaque;
    uint32_t ev = c->pending;

    c->pending = 0;
    if (ev & PVPANIC_PANICKED) {
        pvpanic_guest_panicked(c->m);
    } else if (ev & PVPANIC_CRASH_LOADED) {
        pvpanic_send("GUEST_CRASHLOADED", "run");
    }
}

static uint64_t pvpanic_core_read(PVPanicCore *c)
{
    return c->events;
}

static void pvpanic_core_write(PVPanicCore *c, uint64_t val)
{
    if ((val & ~(uint64_t)c->events & 0xff) && !c->logged_unknown) {
        log_guest_error("pvpanic: unknown event 0x%x", (unsigned)(val & 0xff));
        c->logged_unknown = true;
    }
    val &= c->events;
    if (val && !c->pending) {
        c->pending = val;
        timer_mod(c->bh, clock_get_ns(CLK_REALTIME));
    }
}

static bool pvpanic_core_init(PVPanicCore *c, Machine *m, GError **errp)
{
    if (c->events & ~PVPANIC_EVENTS) {
        g_set_error(errp, VIREO_ERROR, 0, "events=0x%x: only bits 0 "
                    "(panicked) and 1 (crash loaded) exist", c->events);
        return false;
    }
    c->m = m;
    c->bh = timer_new(CLK_REALTIME, pvpanic_bh, c);
    return true;
}

static void pvpanic_core_uninit(PVPanicCore *c)
{
    timer_free(c->bh);
    c->bh = NULL;
}

/* ---- ISA ---- */

typedef struct PVPanicISA {
    Device dev;
    uint32_t ioport;
    PVPanicCore core;
    MemoryRegion io;
} PVPanicISA;

static uint64_t pvpanic_isa_read(void *opaque, hwaddr addr, unsigned size)
{
    return pvpanic_core_read(&((PVPanicISA *)opaque)->core);
}

static void pvpanic_isa_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    pvpanic_core_write(&((PVPanicISA *)opaque)->core, val);
}

static const MemoryRegionOps pvpanic_isa_ops = {
    .read = pvpanic_isa_read,
    .write = pvpanic_isa_write,
    .impl_min = 1,
    .impl_max = 1,
};

static bool pvpanic_isa_realize(Device *dev, Machine *m, GError **errp)
{
    PVPanicISA *s = (PVPanicISA *)dev;

    if (s->ioport > 0xffff) {
        g_set_error(errp, VIREO_ERROR, 0, "ioport=0x%x is outside the I/O "
                    "port space", s->ioport);
        return false;
    }
    if (!pvpanic_core_init(&s->core, m, errp)) {
        return false;
    }
    memory_region_init_io(&s->io, "pvpanic", &pvpanic_isa_ops, s, 1);
    memory_region_add_subregion(m->io, s->ioport, &s->io);
    return true;
}

static void pvpanic_isa_unrealize(Device *dev)
{
    PVPanicISA *s = (PVPanicISA *)dev;

    memory_region_del_subregion(s->core.m->io, &s->io);
    memory_region_destroy(&s->io);
    pvpanic_core_uninit(&s->core);
}

/* The device has no state beyond its properties: an empty description. */
static const VMStateField pvpanic_fields[] = {
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_pvpanic_isa = {
    .name = "pvpanic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pvpanic_fields,
};

static const Property pvpanic_isa_props[] = {
    PROP_U32("ioport", PVPanicISA, ioport, PVPANIC_ISA_PORT, "I/O port"),
    PROP_U32("events", PVPanicISA, core.events, PVPANIC_EVENTS,
             "events offered: bit 0 panicked, bit 1 crash loaded"),
    PROP_END,
};

static DeviceClass pvpanic_isa_class = {
    .name = "pvpanic",
    .desc = "pvpanic device (guest panic notification)",
    .bus = "ISA",
    .instance_size = sizeof(PVPanicISA),
    .props = pvpanic_isa_props,
    .user_creatable = true,
    .realize = pvpanic_isa_realize,
    .unrealize = pvpanic_isa_unrealize,
    .vmsd = &vmstate_pvpanic_isa,
};
DEVICE_REGISTER(pvpanic_isa_class)

/* ---- PCI ---- */

typedef struct PVPanicPCI {
    PCIDevice pci;
    PVPanicCore core;
    PCIDeviceInfo info;
    MemoryRegion mmio;
} PVPanicPCI;

/* The register is at offset 0 of BAR0; the rest of the BAR is reserved. */
static uint64_t pvpanic_pci_read(void *opaque, hwaddr addr, unsigned size)
{
    return addr ? 0 : pvpanic_core_read(&((PVPanicPCI *)opaque)->core);
}

static void pvpanic_pci_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    if (!addr) {
        pvpanic_core_write(&((PVPanicPCI *)opaque)->core, val);
    }
}

static const MemoryRegionOps pvpanic_pci_ops = {
    .read = pvpanic_pci_read,
    .write = pvpanic_pci_write,
    .impl_min = 1,
    .impl_max = 1,
};

static bool pvpanic_pci_realize(Device *dev, Machine *m, GError **errp)
{
    PVPanicPCI *s = (PVPanicPCI *)dev;

    s->info = (PCIDeviceInfo){
        .vendor_id = 0x1b36, .device_id = 0x0011,
        .revision = 1,
        .class_code = 0x088000,     /* other system peripheral */
    };
    if (!pvpanic_core_init(&s->core, m, errp)) {
        return false;
    }
    if (!pci_device_init(&s->pci, m, &s->info, errp)) {
        pvpanic_core_uninit(&s->core);
        return false;
    }
    memory_region_init_io(&s->mmio, "pvpanic-pci", &pvpanic_pci_ops, s,
                          PVPANIC_PCI_BAR_SIZE);
    pci_register_bar(&s->pci, 0, 0, &s->mmio);
    return true;
}

static void pvpanic_pci_unrealize(Device *dev)
{
    PVPanicPCI *s = (PVPanicPCI *)dev;

    pci_device_uninit(&s->pci);
    memory_region_destroy(&s->mmio);
    pvpanic_core_uninit(&s->core);
}

static void pvpanic_pci_reset(Device *dev)
{
    pci_device_reset(&((PVPanicPCI *)dev)->pci);
}

static const VMStateField pvpanic_pci_fields[] = {
    VMSTATE_STRUCT(pci, PVPanicPCI, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_pvpanic_pci = {
    .name = "pvpanic-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pvpanic_pci_fields,
};

static const Property pvpanic_pci_props[] = {
    PCI_DEVICE_PROPS(PVPanicPCI, pci),
    PROP_U32("events", PVPanicPCI, core.events, PVPANIC_EVENTS,
             "events offered: bit 0 panicked, bit 1 crash loaded"),
    PROP_END,
};

static DeviceClass pvpanic_pci_class = {
    .name = "pvpanic-pci",
    .desc = "pvpanic device (guest panic notification) on PCI",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PVPanicPCI),
    .props = pvpanic_pci_props,
    .user_creatable = true,
    .realize = pvpanic_pci_realize,
    .reset = pvpanic_pci_reset,
    .unrealize = pvpanic_pci_unrealize,
    .vmsd = &vmstate_pvpanic_pci,
};
DEVICE_REGISTER(pvpanic_pci_class)
