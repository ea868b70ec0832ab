/*
 * PCI Express capability structure (PCI Express Base 3.0, 7.8) and ECAM
 * configuration accesses (7.2.2), shared by the q35 host and its ports.
 */
#include "hw/pci/pcie.h"
#include "util/opts.h"

static void set_word_mask(uint8_t *mask, unsigned off, uint16_t v)
{
    pci_set_word(mask + off, v);
}

uint8_t pcie_cap_init(PCIDevice *d, uint8_t offset, uint8_t type,
                      uint8_t port_num, GError **errp)
{
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_EXP, offset,
                                     PCI_EXP_CAP_SIZE, errp);
    uint8_t *c;
    bool port = type == PCI_EXP_TYPE_ROOT_PORT;

    if (!cap) {
        return 0;
    }
    c = d->config + cap;
    pci_set_word(c + PCI_EXP_FLAGS, PCI_EXP_FLAGS_VER2 |
                 type << PCI_EXP_FLAGS_TYPE_SHIFT);
    /* 128-byte payloads; role-based error reporting is mandatory (7.8.3) */
    pci_set_long(c + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER);
    /* one lane at 2.5 GT/s, as QEMU's emulated links report */
    pci_set_long(c + PCI_EXP_LNKCAP, PCI_EXP_LNKCAP_SLS_2_5GB |
                 PCI_EXP_LNKCAP_MLW_X1 |
                 (port ? PCI_EXP_LNKCAP_DLLLARC : 0) |
                 (uint32_t)port_num << PCI_EXP_LNKCAP_PN_SHIFT);
    pci_set_word(c + PCI_EXP_LNKSTA, PCI_EXP_LNKSTA_CLS_2_5GB |
                 PCI_EXP_LNKSTA_NLW_X1);
    pci_set_long(c + PCI_EXP_LNKCAP2, PCI_EXP_LNKCAP2_SLS_2_5GB);
    pci_set_word(c + PCI_EXP_LNKCTL2, 1);   /* target speed 2.5 GT/s */

    /* Device Control: error reporting, relaxed ordering, payload, etc. */
    set_word_mask(d->wmask, cap + PCI_EXP_DEVCTL, 0x7fff);
    /* Device Status: the four error bits are RW1C */
    set_word_mask(d->w1cmask, cap + PCI_EXP_DEVSTA, 0x000f);
    /* Link Control: ASPM, RCB, common clock, extended sync, ... */
    set_word_mask(d->wmask, cap + PCI_EXP_LNKCTL, 0x0fcb);
    set_word_mask(d->wmask, cap + PCI_EXP_DEVCTL2, 0x001f);
    set_word_mask(d->wmask, cap + PCI_EXP_LNKCTL2, 0x000f);
    if (port) {
        /* Root Control: the four error/PME interrupt enables */
        set_word_mask(d->wmask, cap + PCI_EXP_RTCTL, 0x001f);
        pci_set_long(d->w1cmask + cap + PCI_EXP_RTSTA, PCI_EXP_RTSTA_PME);
        /* Slot Control: indicators and interrupt enables (no hot-plug) */
        set_word_mask(d->wmask, cap + PCI_EXP_SLTCTL, 0x1fff);
        set_word_mask(d->w1cmask, cap + PCI_EXP_SLTSTA, 0x011f);
    }
    return cap;
}

void pcie_cap_slot_init(PCIDevice *d, uint16_t slot)
{
    uint8_t cap = pci_find_capability(d, PCI_CAP_ID_EXP);

    if (!cap) {
        return;
    }
    uint8_t *c = d->config + cap;
    pci_set_word(c + PCI_EXP_FLAGS,
                 pci_get_word(c + PCI_EXP_FLAGS) | PCI_EXP_FLAGS_SLOT);
    /* the physical slot number is 13 bits */
    pci_set_long(c + PCI_EXP_SLTCAP,
                 (uint32_t)(slot & 0x1fff) << PCI_EXP_SLTCAP_PSN_SHIFT);
}

void pcie_cap_set_link(PCIDevice *d, bool present)
{
    uint8_t cap = pci_find_capability(d, PCI_CAP_ID_EXP);

    if (!cap) {
        return;
    }
    uint8_t *c = d->config + cap;
    uint16_t sta = pci_get_word(c + PCI_EXP_SLTSTA) & ~PCI_EXP_SLTSTA_PDS;
    uint16_t lnk = pci_get_word(c + PCI_EXP_LNKSTA) & ~PCI_EXP_LNKSTA_DLLLA;

    pci_set_word(c + PCI_EXP_SLTSTA, sta | (present ? PCI_EXP_SLTSTA_PDS : 0));
    pci_set_word(c + PCI_EXP_LNKSTA, lnk | (present ? PCI_EXP_LNKSTA_DLLLA : 0));
}

/* ---- ECAM (7.2.2) ---- */

#define ECAM_BUS(off)       (((off) >> 20) & 0xff)
#define ECAM_DEVFN(off)     (((off) >> 12) & 0xff)
#define ECAM_REG(off)       ((off) & 0xfff)

/* The function an access reaches, with its register, or NULL. */
static PCIDevice *ecam_target(PCIBus *root, uint64_t off, unsigned size,
                              uint32_t *reg)
{
    PCIBus *bus;
    PCIDevice *d;

    if ((size != 1 && size != 2 && size != 4) ||
        (ECAM_REG(off) & 3) + size > 4) {
        return NULL;
    }
    bus = pci_bus_by_number(root, ECAM_BUS(off));
    d = bus ? pci_bus_get_device(bus, ECAM_DEVFN(off)) : NULL;
    *reg = ECAM_REG(off);
    if (!d || *reg >= pci_config_size(d)) {
        return NULL;
    }
    return d;
}

uint32_t pcie_ecam_read(PCIBus *root, uint64_t off, unsigned size)
{
    uint32_t reg;
    PCIDevice *d = ecam_target(root, off, size, &reg);

    if (!d) {
        return size >= 4 ? ~0u : (1u << (size * 8)) - 1;
    }
    return pci_bus_config_read(d->bus, d->devfn, reg, size);
}

void pcie_ecam_write(PCIBus *root, uint64_t off, uint32_t val, unsigned size)
{
    uint32_t reg;
    PCIDevice *d = ecam_target(root, off, size, &reg);

    if (d) {
        pci_bus_config_write(d->bus, d->devfn, reg, val, size);
    }
}
