/*
 * The PIIX4 power-management function at 00:01.3 of the pc machine (Intel
 * 82371AB PIIX4 datasheet 290562, power management function 3): PMBA and
 * PMREGMISC.PMIOSE place the ACPI PM registers (an "acpi-pm", which also
 * decodes the 0xCF9 reset control register) in I/O space; the SCI is
 * IRQ 9. The device-resource and SMBus registers firmware programs are
 * plain configuration: there is no SMBus host controller behind them.
 */
#include <string.h>

#include "hw/acpi/piix4.h"
#include "hw/i386/acpi.h"
#include "hw/i386/x86.h"
#include "hw/pci/pci.h"
#include "migration/vmstate.h"
#include "util/opts.h"

/* the datasheet's function 3 configuration registers */
#define PIIX4_PMBA              0x40
#define  PMBA_RTE               0x00000001u /* resource type: I/O, RO 1 */
#define  PMBA_ADDR_MASK         0x0000ffc0u /* bits 15:6, 64 bytes */
/* CNTA 0x44 .. DEVRESJ 0x7f: device monitoring and resource registers */
#define PIIX4_DEV_REGS          0x44
#define PIIX4_DEV_REGS_END      0x80
#define PIIX4_DEVACTB           0x58
/*
 * DEVACTB bit 25, APMC_EN: set says "SMM is already set up" to SeaBIOS,
 * which then leaves SMM alone. Vireo has no SMM: the bit is fixed at 1,
 * as on QEMU's pc without SMM.
 */
#define  DEVACTB_APMC_EN_BYTE   (PIIX4_DEVACTB + 3)
#define  DEVACTB_APMC_EN_BIT    0x02
#define PIIX4_DEVRESA           0x5c
#define PIIX4_DEVRESB           0x60
#define PIIX4_PMREGMISC         0x80
#define  PMREGMISC_PMIOSE       0x01
#define PIIX4_SMBBA             0x90
#define  SMBBA_RTE              0x00000001u /* I/O, RO 1 */
#define  SMBBA_ADDR_MASK        0x0000fff0u /* bits 15:4, 16 bytes */
#define PIIX4_SMBHSTCFG         0xd2
#define  SMBHSTCFG_HST_EN       0x01        /* no host controller: RO 0 */
#define  SMBHSTCFG_INTRSEL      0x0e
#define PIIX4_SMBSLVC           0xd3
#define PIIX4_SMBSHDW1          0xd4
#define PIIX4_SMBSHDW2          0xd5

/* PCISTS: DEVSEL medium and fast back-to-back capable, read-only */
#define PIIX4_PCISTS_DEFAULT    0x0280

typedef struct PIIX4PMState {
    PCIDevice pci;
    Machine *m;
    Device *pm;
} PIIX4PMState;

static const char PIIX4_PM_TYPE[] = "PIIX4_PM";

static uint32_t pm_base(PIIX4PMState *s)
{
    return pci_get_long(s->pci.config + PIIX4_PMBA) & PMBA_ADDR_MASK;
}

/*
 * Whether the PM block is decoded. A base of 0 is what unprogrammed
 * firmware leaves: it would shadow the DMA controller's ports 0x00-0x0b,
 * so it means "not placed" here rather than a decode at port 0.
 */
static bool pm_enabled(PIIX4PMState *s)
{
    return (s->pci.config[PIIX4_PMREGMISC] & PMREGMISC_PMIOSE) &&
           pm_base(s) != 0;
}

static void piix4_update_pm(PIIX4PMState *s)
{
    acpi_pm_set_base(s->pm, pm_base(s), pm_enabled(s));
}

static void piix4_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                               unsigned len)
{
    PIIX4PMState *s = (PIIX4PMState *)d;

    if (pci_config_touches(addr, len, PIIX4_PMBA, 4) ||
        pci_config_touches(addr, len, PIIX4_PMREGMISC, 1)) {
        piix4_update_pm(s);
    }
}

static const PCIDeviceInfo piix4_pm_info = {
    .vendor_id = 0x8086, .device_id = 0x7113, .revision = 0x03,
    .class_code = 0x068000,     /* bridge, other */
    .interrupt_pin = 1,         /* INTA#, as QEMU's pc */
    .config_write = piix4_config_write,
};

static void piix4_set_wmask(PCIDevice *d)
{
    pci_set_long(d->wmask + PIIX4_PMBA, PMBA_ADDR_MASK);
    memset(d->wmask + PIIX4_DEV_REGS, 0xff,
           PIIX4_DEV_REGS_END - PIIX4_DEV_REGS);
    d->wmask[DEVACTB_APMC_EN_BYTE] &= ~DEVACTB_APMC_EN_BIT;
    d->wmask[PIIX4_PMREGMISC] = PMREGMISC_PMIOSE;
    pci_set_long(d->wmask + PIIX4_SMBBA, SMBBA_ADDR_MASK);
    d->wmask[PIIX4_SMBHSTCFG] = SMBHSTCFG_INTRSEL;
    d->wmask[PIIX4_SMBSLVC] = 0xff;
    d->wmask[PIIX4_SMBSHDW1] = 0xff;
    d->wmask[PIIX4_SMBSHDW2] = 0xff;
}

static bool piix4_pm_realize(Device *dev, Machine *m, GError **errp)
{
    PIIX4PMState *s = (PIIX4PMState *)dev;
    PCIDevice *d = &s->pci;

    if (!pci_device_init(d, m, &piix4_pm_info, errp)) {
        return false;
    }
    s->m = m;
    /* the PM block is ours: unmapped until PMBA and PMIOSE say */
    s->pm = x86_create_device(m, "acpi-pm", errp, "reset-control", "on",
                              NULL);
    if (!s->pm) {
        pci_device_uninit(d);
        return false;
    }
    acpi_pm_set_base(s->pm, 0, false);
    pci_set_word(d->config + PCI_STATUS, PIIX4_PCISTS_DEFAULT);
    piix4_set_wmask(d);
    return true;
}

static void piix4_pm_unrealize(Device *dev)
{
    pci_device_uninit(&((PIIX4PMState *)dev)->pci);
}

/*
 * Power-on values: the datasheet's defaults, DEVRESA/B as QEMU's pc shows
 * them. Direct kernel boot has no firmware to place the PM block, so it
 * is where the FADT says, as SeaBIOS would have left it.
 */
static void piix4_pm_reset(Device *dev)
{
    PIIX4PMState *s = (PIIX4PMState *)dev;
    PCIDevice *d = &s->pci;
    bool fw = s->m->bios != NULL;

    pci_device_reset(d);
    memset(d->config + PCI_CONFIG_HEADER_SIZE, 0,
           PCI_CONFIG_SPACE_SIZE - PCI_CONFIG_HEADER_SIZE);
    pci_set_long(d->config + PIIX4_PMBA,
                 PMBA_RTE | (fw ? 0 : X86_ACPI_PM_BASE));
    d->config[PIIX4_PMREGMISC] = fw ? 0 : PMREGMISC_PMIOSE;
    d->config[DEVACTB_APMC_EN_BYTE] = DEVACTB_APMC_EN_BIT;
    d->config[PIIX4_DEVRESA + 3] = 0x10;
    d->config[PIIX4_DEVRESB + 3] = 0x60;
    pci_set_long(d->config + PIIX4_SMBBA, SMBBA_RTE);
    piix4_update_pm(s);
}

uint16_t piix4_pm_acpi_base(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (!strcmp(d->cls->name, PIIX4_PM_TYPE)) {
            PIIX4PMState *s = (PIIX4PMState *)d;
            return pm_enabled(s) ? pm_base(s) : X86_ACPI_PM_BASE;
        }
    }
    return X86_ACPI_PM_BASE;
}

/* ---- migration ---- */

static bool piix4_pm_post_load(void *opaque, int version_id, GError **errp)
{
    piix4_update_pm(opaque);
    return true;
}

static const VMStateField piix4_pm_fields[] = {
    VMSTATE_STRUCT(pci, PIIX4PMState, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

/* All of it is configuration space; the PM registers are acpi-pm's. */
static const VMStateDescription vmstate_piix4_pm = {
    .name = "PIIX4_PM",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = piix4_pm_fields,
    .post_load = piix4_pm_post_load,
};

static const Property piix4_pm_props[] = {
    PCI_DEVICE_PROPS(PIIX4PMState, pci),
    PROP_END,
};

static DeviceClass piix4_pm_class = {
    .name = PIIX4_PM_TYPE,
    .desc = "PIIX4 power management: ACPI PM block at PMBA, SCI on IRQ 9",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PIIX4PMState),
    .props = piix4_pm_props,
    .user_creatable = false,    /* part of the pc board (i440fx_create) */
    .realize = piix4_pm_realize,
    .unrealize = piix4_pm_unrealize,
    .reset = piix4_pm_reset,
    .vmsd = &vmstate_piix4_pm,
};
DEVICE_REGISTER(piix4_pm_class)
