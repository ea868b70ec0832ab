/*
 * The i440FX PCI host (Intel 82441FX PMC datasheet, 290549): configuration
 * mechanism #1 (PCI 3.0 3.2.2.3.2) at ports 0xcf8 (CONFIG_ADDRESS, dword
 * accesses only) and 0xcfc-0xcff (CONFIG_DATA), bus pci.0, the host bridge
 * function at 00:00.0 and the PIIX3 PCI-to-ISA bridge at 00:01.0 (82371SB
 * datasheet, 290550) as a placeholder holding the PIRQ route registers.
 *
 * INTx routing is that of QEMU's pc after SeaBIOS: device slot S, pin P
 * (INTA# = 0) drives PIRQ (P + S - 1) mod 4, and PIRQA-D are routed to
 * IRQ 10, 10, 11, 11; the DSDT's _PRT (hw/i386/acpi_build.c) says the same.
 */
#include "hw/acpi/piix4.h"
#include "hw/i386/x86.h"
#include "hw/pci/pci.h"
#include "hw/pci-host/conf1.h"
#include "hw/pci-host/pam.h"
#include "util/opts.h"
#include "hw/pci/i440fx.h"
#include "migration/vmstate.h"

/* 82371SB: PIRQ route control registers PIRQRC[A:D] */
#define PIIX_PIRQRC         0x60

static const uint8_t pirq_irq[4] = { 10, 10, 11, 11 };

int i440fx_route_intx(PCIDevice *d, int pin)
{
    if (pin < 1 || pin > 4) {
        return -1;
    }
    return pirq_irq[(pin - 1 + PCI_SLOT(d->devfn) + 3) & 3];
}

typedef struct I440FXHost {
    Device qdev;
    PCIBus *bus;
    PCIConf1 conf1;
} I440FXHost;

static bool host_realize(Device *dev, Machine *m, GError **errp)
{
    I440FXHost *s = (I440FXHost *)dev;

    if (pci_bus_find(m, "pci.0")) {
        g_set_error(errp, VIREO_ERROR, 0, "the machine already has pci.0");
        return false;
    }
    s->bus = pci_bus_new(m, "pci.0", m->sysmem, m->io, i440fx_route_intx);
    pci_conf1_init(&s->conf1, m, s->bus);
    return true;
}

static void host_unrealize(Device *dev)
{
    I440FXHost *s = (I440FXHost *)dev;

    pci_conf1_fini(&s->conf1);
    pci_bus_free(s->bus);
}

static void host_reset(Device *dev)
{
    ((I440FXHost *)dev)->conf1.config_address = 0;
}

static bool host_post_load(void *opaque, int version_id, GError **errp)
{
    return pci_conf1_check(&((I440FXHost *)opaque)->conf1, errp);
}

static const VMStateField host_fields[] = {
    VMSTATE_PCI_CONF1(conf1, I440FXHost),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_i440fx_host = {
    .name = "i440FX-pcihost",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = host_fields,
    .post_load = host_post_load,
};

static DeviceClass i440fx_host_class = {
    .name = "i440FX-pcihost",
    .desc = "i440FX PCI host (configuration mechanism #1)",
    .child_bus_name = "pci.0",
    .child_bus_type = "PCI",
    .instance_size = sizeof(I440FXHost),
    .realize = host_realize,
    .unrealize = host_unrealize,
    .reset = host_reset,
    .vmsd = &vmstate_i440fx_host,
};
DEVICE_REGISTER(i440fx_host_class)

/* ---- the PCI functions: host bridge and ISA bridge ---- */

/* 82441FX PAM0-6 (0x59-0x5f) and SMRAM control (0x72): see pam.h. */
#define I440FX_PAM0         0x59
#define I440FX_SMRAM        0x72

typedef struct I440FXState {
    PCIDevice pci;
    PAMState pam;
} I440FXState;

typedef struct PCIPlaceholder {
    PCIDevice pci;
} PCIPlaceholder;

static void i440fx_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                                unsigned len)
{
    pam_config_write(&((I440FXState *)d)->pam, addr, len);
}

static const PCIDeviceInfo i440fx_info = {
    .vendor_id = 0x8086, .device_id = 0x1237, .revision = 0x02,
    .class_code = 0x060000,
    .config_write = i440fx_config_write,
};

static const PCIDeviceInfo piix3_info = {
    .vendor_id = 0x8086, .device_id = 0x7000,
    .class_code = 0x060100,
};

static bool i440fx_realize(Device *dev, Machine *m, GError **errp)
{
    I440FXState *s = (I440FXState *)dev;

    if (!pci_device_init(&s->pci, m, &i440fx_info, errp)) {
        return false;
    }
    pam_init(&s->pam, &s->pci, m, I440FX_PAM0, I440FX_SMRAM);
    return true;
}

static void i440fx_unrealize(Device *dev)
{
    I440FXState *s = (I440FXState *)dev;

    pci_device_uninit(&s->pci);
    pam_fini(&s->pam);
}

static void i440fx_reset(Device *dev)
{
    I440FXState *s = (I440FXState *)dev;

    pci_device_reset(&s->pci);
    pam_reset(&s->pam);
}

static bool i440fx_pre_load(void *opaque, GError **errp)
{
    pam_pre_load(&((I440FXState *)opaque)->pam);
    return true;
}

static bool i440fx_post_load(void *opaque, int version_id, GError **errp)
{
    pam_post_load(&((I440FXState *)opaque)->pam);
    return true;
}

static bool piix3_realize(Device *dev, Machine *m, GError **errp)
{
    PCIDevice *d = (PCIDevice *)dev;

    if (!pci_device_init(d, m, &piix3_info, errp)) {
        return false;
    }
    memset(d->wmask + PIIX_PIRQRC, 0x8f, 4);
    return true;
}

static void placeholder_unrealize(Device *dev)
{
    pci_device_uninit((PCIDevice *)dev);
}

/* What firmware leaves in PIRQRC[A:D]: the routing i440fx_route_intx uses. */
static void piix3_reset(Device *dev)
{
    PCIDevice *d = (PCIDevice *)dev;

    pci_device_reset(d);
    for (int i = 0; i < 4; i++) {
        d->config[PIIX_PIRQRC + i] = pirq_irq[i];
    }
}

/*
 * The host bridge's PAM and SMRAM registers and the ISA bridge's PIRQ
 * routes are all configuration space.
 */
static const VMStateField i440fx_fields[] = {
    VMSTATE_STRUCT(pci, I440FXState, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_i440fx = {
    .name = "i440FX",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = i440fx_fields,
    .pre_load = i440fx_pre_load,
    .post_load = i440fx_post_load,
};

static const VMStateField placeholder_fields[] = {
    VMSTATE_STRUCT(pci, PCIPlaceholder, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_piix3 = {
    .name = "PIIX3",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = placeholder_fields,
};

static const Property i440fx_props[] = {
    PCI_DEVICE_PROPS(I440FXState, pci),
    PROP_END,
};

static const Property placeholder_props[] = {
    PCI_DEVICE_PROPS(PCIPlaceholder, pci),
    PROP_END,
};

static DeviceClass i440fx_class = {
    .name = "i440FX",
    .desc = "Host bridge",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(I440FXState),
    .props = i440fx_props,
    .realize = i440fx_realize,
    .unrealize = i440fx_unrealize,
    .reset = i440fx_reset,
    .vmsd = &vmstate_i440fx,
};
DEVICE_REGISTER(i440fx_class)

static DeviceClass piix3_class = {
    .name = "PIIX3",
    .desc = "ISA bridge",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PCIPlaceholder),
    .props = placeholder_props,
    .realize = piix3_realize,
    .unrealize = placeholder_unrealize,
    .reset = piix3_reset,
    .vmsd = &vmstate_piix3,
};
DEVICE_REGISTER(piix3_class)

bool i440fx_create(Machine *m, GError **errp)
{
    return x86_create_device(m, "i440FX-pcihost", errp, NULL) &&
           x86_create_device(m, "i440FX", errp, "addr", "0", NULL) &&
           x86_create_device(m, "PIIX3", errp, "addr", "1", "multifunction", "on",
                             NULL) &&
           /* the PIIX3 IDE function, at 00:01.1 as on QEMU's pc */
           x86_create_device(m, "piix3-ide", errp, "addr", "1.1", NULL) &&
           /*
            * PIIX4's power management at 00:01.3, holding the ACPI PM
            * block; as QEMU's pc, only with ACPI on
            */
           (!m->cfg.acpi ||
            x86_create_device(m, "PIIX4_PM", errp, "addr",
                              PIIX4_PM_DEVFN_ADDR, NULL));
}
