/*
 * The ICH9 SATA controller in AHCI mode (Serial ATA AHCI 1.3; ICH9 datasheet
 * 316972 chapter 14/15: 8086:2922, ABAR in BAR5, the index/data pair in
 * BAR4): six ports, each an IDEBus with one device whose commands the ATA
 * core runs. This file has the PCI function, the HBA and port registers,
 * interrupts and migration; ahci-cmd.c walks command lists and PRD tables.
 */
#include <string.h>

#include "ahci-internal.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/opts.h"

/* --- interrupts (10.6) --- */

static void hba_update_irq(AHCIState *s)
{
    bool level = (s->ghc & GHC_IE) && s->is;

    if (pci_msi_enabled(&s->pci)) {
        if (level && !s->irq_level) {
            pci_msi_notify(&s->pci, 0);
        }
        pci_irq_set(&s->pci, 0);
    } else {
        pci_irq_set(&s->pci, level);
    }
    s->irq_level = level;
}

/* IS.IPS[n] follows PxIS & PxIE whenever either changes. */
void ahci_port_update_irq(AHCIPort *p)
{
    if (p->is & p->ie) {
        p->hba->is |= 1u << p->num;
    }
    hba_update_irq(p->hba);
}

void ahci_port_raise(AHCIPort *p, uint32_t bits)
{
    p->is |= bits;
    if (bits & PORT_IRQ_HALTING) {
        p->halted = true;
    }
    ahci_port_update_irq(p);
}

static void port_cmd_write(AHCIPort *p, uint32_t val)
{
    bool was_st = p->cmd & PORT_CMD_ST;

    p->cmd = (p->cmd & ~PORT_CMD_WMASK) | (val & PORT_CMD_WMASK);
    if (p->cmd & PORT_CMD_FRE) {
        p->cmd |= PORT_CMD_FR;
    } else {
        p->cmd &= ~PORT_CMD_FR;
    }
    /* CLO: BSY and DRQ in PxTFD clear so a new command can go (3.3.7) */
    if (val & PORT_CMD_CLO) {
        p->tfd &= ~(BUSY_STAT | DRQ_STAT);
    }
    if (!(p->cmd & PORT_CMD_ST)) {
        if (was_st) {
            ahci_port_stop(p);
        }
        return;
    }
    p->cmd |= PORT_CMD_CR;
    ahci_port_run(p);
}

static uint32_t port_read(AHCIPort *p, uint32_t reg)
{
    switch (reg) {
    case PX_CLB: return p->clb;
    case PX_CLBU: return p->clbu;
    case PX_FB: return p->fb;
    case PX_FBU: return p->fbu;
    case PX_IS: return p->is;
    case PX_IE: return p->ie;
    case PX_CMD:
        return p->cmd | (ahci_port_dev(p)->kind == IDE_CD ? PORT_CMD_ATAPI : 0);
    case PX_TFD: return p->tfd;
    case PX_SIG: return p->sig;
    case PX_SSTS: return p->ssts;
    case PX_SCTL: return p->sctl;
    case PX_SERR: return p->serr;
    case PX_SACT: return p->sact;
    case PX_CI: return p->ci;
    default: return 0;
    }
}

static void port_write(AHCIPort *p, uint32_t reg, uint32_t val)
{
    switch (reg) {
    case PX_CLB:
        p->clb = val & ~0x3ffu;
        break;
    case PX_CLBU:
        p->clbu = val;
        break;
    case PX_FB:
        p->fb = val & ~0xffu;
        break;
    case PX_FBU:
        p->fbu = val;
        break;
    case PX_IS:
        p->is &= ~val;
        ahci_port_update_irq(p);
        break;
    case PX_IE:
        p->ie = val & PORT_IRQ_MASK;
        ahci_port_update_irq(p);
        break;
    case PX_CMD:
        port_cmd_write(p, val);
        break;
    case PX_SCTL:
        /* DET = 1 sends COMRESET (3.3.11); the link is back at once */
        if ((val & SCTL_DET_MASK) == SCTL_DET_COMRESET &&
            (p->sctl & SCTL_DET_MASK) != SCTL_DET_COMRESET) {
            ahci_port_stop(p);
            ahci_port_link_reset(p);
        }
        p->sctl = val & 0xfff;
        break;
    case PX_SERR:
        p->serr &= ~val;
        break;
    case PX_SACT:
        /* software sets tags before issuing them; only ST=1 takes them */
        if (p->cmd & PORT_CMD_ST) {
            p->sact |= val;
        }
        break;
    case PX_CI:
        /* commands go only to a started port (3.3.14) */
        if (p->cmd & PORT_CMD_ST) {
            p->ci |= val;
            ahci_port_run(p);
        }
        break;
    default:
        break;
    }
}

/* --- the HBA --- */

static void hba_reset(AHCIState *s)
{
    s->ghc = GHC_AE;
    s->is = 0;
    s->idp_index = 0;
    for (int i = 0; i < AHCI_PORTS; i++) {
        AHCIPort *p = &s->port[i];
        ahci_port_stop(p);
        p->clb = p->clbu = p->fb = p->fbu = 0;
        p->is = p->ie = 0;
        p->cmd = PORT_CMD_SUD | PORT_CMD_POD;
        p->sctl = p->serr = 0;
        p->err_irq = 0;
        p->in_run = p->run_again = false;
        ahci_port_link_reset(p);
    }
    hba_update_irq(s);
}

static uint32_t hba_cap(void)
{
    return CAP_S64A | CAP_SNCQ | CAP_SCLO | CAP_ISS_GEN2 | CAP_SAM |
           CAP_SSC | CAP_PSC | (AHCI_SLOTS - 1) << CAP_NCS_SHIFT |
           (AHCI_PORTS - 1);
}

static uint32_t hba_read(AHCIState *s, uint32_t addr)
{
    if (addr >= HBA_PORT_BASE) {
        uint32_t n = (addr - HBA_PORT_BASE) / HBA_PORT_SIZE;
        if (n >= AHCI_PORTS) {
            return 0;       /* ports 6-31 are not implemented (PI) */
        }
        return port_read(&s->port[n], (addr - HBA_PORT_BASE) % HBA_PORT_SIZE);
    }
    switch (addr) {
    case HBA_CAP: return hba_cap();
    case HBA_GHC: return s->ghc;
    case HBA_IS: return s->is;
    case HBA_PI: return (1u << AHCI_PORTS) - 1;
    case HBA_VS: return AHCI_VERSION_1_3;
    case HBA_CAP2: return 0;
    default: return 0;
    }
}

static void hba_write(AHCIState *s, uint32_t addr, uint32_t val)
{
    if (addr >= HBA_PORT_BASE) {
        uint32_t n = (addr - HBA_PORT_BASE) / HBA_PORT_SIZE;
        if (n < AHCI_PORTS) {
            port_write(&s->port[n], (addr - HBA_PORT_BASE) % HBA_PORT_SIZE,
                       val);
        }
        return;
    }
    switch (addr) {
    case HBA_GHC:
        if (val & GHC_HR) {
            hba_reset(s);   /* HR reads back 0 when the reset is done */
            return;
        }
        s->ghc = GHC_AE | (val & GHC_IE);  /* AE is fixed: AHCI only */
        hba_update_irq(s);
        break;
    case HBA_IS:
        s->is &= ~val;
        hba_update_irq(s);
        /* a port still pending sets its bit again (and sends an MSI) */
        for (int i = 0; i < AHCI_PORTS; i++) {
            ahci_port_update_irq(&s->port[i]);
        }
        break;
    default:
        break;
    }
}

static uint64_t abar_read(void *opaque, hwaddr addr, unsigned size)
{
    AHCIState *s = opaque;
    uint32_t val = hba_read(s, addr & ~3u);

    return (val >> (8 * (addr & 3))) & (size == 4 ? 0xffffffffu :
                                        (1u << (8 * size)) - 1);
}

static void abar_write(void *opaque, hwaddr addr, uint64_t val,
                       unsigned size)
{
    AHCIState *s = opaque;

    if (s->in_dma) {
        /* a PRD aimed at our own registers: not a register write */
        log_guest_error("ahci: DMA into the ABAR dropped\n");
        return;
    }
    if (size != 4 || (addr & 3)) {
        log_guest_error("ahci: %u-byte write at %#x ignored\n", size,
                        (unsigned)addr);
        return;     /* AHCI registers take dword writes (3) */
    }
    hba_write(s, addr, val);
}

static const MemoryRegionOps abar_ops = {
    .read = abar_read,
    .write = abar_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* BAR4: the index/data pair (ICH9 14.4) reaches the ABAR through I/O. */
static uint64_t idp_read(void *opaque, hwaddr addr, unsigned size)
{
    AHCIState *s = opaque;

    switch (addr) {
    case AHCI_IDP_INDEX:
        return s->idp_index;
    case AHCI_IDP_DATA:
        return hba_read(s, s->idp_index);
    default:
        return 0;
    }
}

static void idp_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    AHCIState *s = opaque;

    if (s->in_dma || size != 4) {
        return;
    }
    switch (addr) {
    case AHCI_IDP_INDEX:
        s->idp_index = val & (AHCI_ABAR_SIZE - 4);
        break;
    case AHCI_IDP_DATA:
        hba_write(s, s->idp_index, val);
        break;
    default:
        break;
    }
}

static const MemoryRegionOps idp_ops = {
    .read = idp_read,
    .write = idp_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* --- the PCI function --- */

#define ICH9_SATA_CAP       0xa8
#define PCI_CAP_ID_SATA     0x12

static const PCIDeviceInfo ich9_ahci_info = {
    .vendor_id = 0x8086, .device_id = 0x2922, .revision = 0x02,
    .class_code = 0x010601,     /* SATA, AHCI 1.0 interface */
    .interrupt_pin = 1,
};

static bool ahci_realize(Device *dev, Machine *m, GError **errp)
{
    AHCIState *s = (AHCIState *)dev;

    if (!pci_device_init(&s->pci, m, &ich9_ahci_info, errp)) {
        return false;
    }
    s->m = m;
    /* MSI at 0x80 and the SATA capability at 0xa8, as the ICH9 has them */
    if (!pci_msi_init(&s->pci, 0x80, 1, false, false, errp)) {
        pci_device_uninit(&s->pci);
        return false;
    }
    uint8_t cap = pci_add_capability(&s->pci, PCI_CAP_ID_SATA,
                                     ICH9_SATA_CAP, 8, errp);
    if (!cap) {
        pci_device_uninit(&s->pci);
        return false;
    }
    pci_set_word(s->pci.config + cap + 2, 0x0010);      /* revision 1.0 */
    /* BAR4 (BARLOC 8), index/data at dword 4 of it */
    pci_set_long(s->pci.config + cap + 4, 4 << 4 | 8);
    memory_region_init_io(&s->abar, "ahci-abar", &abar_ops, s,
                          AHCI_ABAR_SIZE);
    memory_region_init_io(&s->idp, "ahci-idp", &idp_ops, s, AHCI_IDP_SIZE);
    pci_register_bar(&s->pci, 4, PCI_BASE_ADDRESS_SPACE_IO, &s->idp);
    pci_register_bar(&s->pci, 5, 0, &s->abar);

    /* QEMU's bus names: "<id>.<port>", or the next free ide.N */
    int first_free = 0;
    if (!dev->id) {
        for (;; first_free++) {
            g_autofree char *n = g_strdup_printf("ide.%d", first_free);
            if (!ide_bus_find(m, n)) {
                break;
            }
        }
    }
    g_autofree char *of_path = PCI_FUNC(s->pci.devfn)
        ? g_strdup_printf("/pci@i0cf8/pci8086,2922@%x,%x",
                          PCI_SLOT(s->pci.devfn), PCI_FUNC(s->pci.devfn))
        : g_strdup_printf("/pci@i0cf8/pci8086,2922@%x",
                          PCI_SLOT(s->pci.devfn));
    for (int i = 0; i < AHCI_PORTS; i++) {
        AHCIPort *p = &s->port[i];
        p->hba = s;
        p->num = i;
        p->cur_slot = NO_SLOT;
        ide_bus_init(&p->bus, m, i, NULL, &ahci_dma_ops, p, of_path);
        p->bus.sata = true;
        if (dev->id) {
            g_snprintf(p->bus.name, sizeof(p->bus.name), "%s.%d", dev->id, i);
        } else {
            g_snprintf(p->bus.name, sizeof(p->bus.name), "ide.%d",
                       first_free + i);
        }
    }
    return true;
}

static void ahci_unrealize(Device *dev)
{
    AHCIState *s = (AHCIState *)dev;

    for (int i = 0; i < AHCI_PORTS; i++) {
        ide_bus_fini(&s->port[i].bus);
    }
    pci_device_uninit(&s->pci);
    memory_region_destroy(&s->abar);
    memory_region_destroy(&s->idp);
}

static void ahci_reset(Device *dev)
{
    AHCIState *s = (AHCIState *)dev;

    pci_device_reset(&s->pci);
    hba_reset(s);
}

/* --- migration --- */

static bool port_post_load(void *opaque, int version_id, GError **errp)
{
    AHCIPort *p = opaque;

    if ((p->cur_slot != NO_SLOT && p->cur_slot >= AHCI_SLOTS) ||
        p->prd_index > p->prdtl || p->prdtl > 0xffff) {
        g_set_error(errp, VIREO_ERROR, 0, "ahci: port %d: bad command "
                    "state", p->num);
        return false;
    }
    for (int i = 0; i < AHCI_SLOTS; i++) {
        if (p->ncq[i].count > 65536) {
            g_set_error(errp, VIREO_ERROR, 0, "ahci: bad NCQ count");
            return false;
        }
    }
    p->in_run = p->run_again = false;
    return true;
}

static const VMStateField ncq_fields[] = {
    VMSTATE_UINT64(lba, AHCINCQ),
    VMSTATE_UINT32(count, AHCINCQ),
    VMSTATE_BOOL(write, AHCINCQ),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ahci_ncq = {
    .name = "ahci/ncq",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ncq_fields,
};

static const VMStateField port_fields[] = {
    VMSTATE_UINT32(clb, AHCIPort),
    VMSTATE_UINT32(clbu, AHCIPort),
    VMSTATE_UINT32(fb, AHCIPort),
    VMSTATE_UINT32(fbu, AHCIPort),
    VMSTATE_UINT32(is, AHCIPort),
    VMSTATE_UINT32(ie, AHCIPort),
    VMSTATE_UINT32(cmd, AHCIPort),
    VMSTATE_UINT32(tfd, AHCIPort),
    VMSTATE_UINT32(sig, AHCIPort),
    VMSTATE_UINT32(ssts, AHCIPort),
    VMSTATE_UINT32(sctl, AHCIPort),
    VMSTATE_UINT32(serr, AHCIPort),
    VMSTATE_UINT32(sact, AHCIPort),
    VMSTATE_UINT32(ci, AHCIPort),
    VMSTATE_UINT8(cur_slot, AHCIPort),
    VMSTATE_BOOL(cur_ncq, AHCIPort),
    VMSTATE_BOOL(halted, AHCIPort),
    VMSTATE_UINT64(ctba, AHCIPort),
    VMSTATE_UINT32(prdtl, AHCIPort),
    VMSTATE_UINT32(prd_index, AHCIPort),
    VMSTATE_UINT32(prd_off, AHCIPort),
    VMSTATE_UINT32(prdbc, AHCIPort),
    VMSTATE_UINT32(err_irq, AHCIPort),
    VMSTATE_UINT32(ncq_pending, AHCIPort),
    VMSTATE_STRUCT_ARRAY(ncq, AHCIPort, vmstate_ahci_ncq, AHCINCQ),
    VMSTATE_BOOL(srst, AHCIPort),
    VMSTATE_STRUCT(bus, AHCIPort, vmstate_ide_bus, IDEBus),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ahci_port = {
    .name = "ahci/port",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = port_fields,
    .post_load = port_post_load,
};

static bool ahci_post_load(void *opaque, int version_id, GError **errp)
{
    AHCIState *s = opaque;

    s->idp_index &= AHCI_ABAR_SIZE - 4;
    s->ghc = GHC_AE | (s->ghc & GHC_IE);
    s->irq_level = false;
    hba_update_irq(s);
    return true;
}

static const VMStateField ahci_fields[] = {
    VMSTATE_STRUCT(pci, AHCIState, vmstate_pci_device, PCIDevice),
    VMSTATE_UINT32(ghc, AHCIState),
    VMSTATE_UINT32(is, AHCIState),
    VMSTATE_UINT32(idp_index, AHCIState),
    VMSTATE_STRUCT_ARRAY(port, AHCIState, vmstate_ahci_port, AHCIPort),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ahci = {
    .name = "ich9_ahci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ahci_fields,
    .post_load = ahci_post_load,
};

static const Property ahci_props[] = {
    PCI_DEVICE_PROPS(AHCIState, pci),
    PROP_END,
};

/* QEMU's names */
static DeviceClass ahci_class = {
    .name = "ich9-ahci",
    .alias = "ahci",
    .desc = "ICH9 AHCI SATA controller (6 ports: <id>.0 - <id>.5)",
    .bus = "PCI",
    .parent = "pci-device",
    .child_bus_type = "IDE",
    .instance_size = sizeof(AHCIState),
    .props = ahci_props,
    .user_creatable = true,
    .realize = ahci_realize,
    .unrealize = ahci_unrealize,
    .reset = ahci_reset,
    .vmsd = &vmstate_ahci,
};
DEVICE_REGISTER(ahci_class)

