/*
 * The q35 PCI host: the Intel 3 Series Express Chipset MCH (datasheet
 * 316966, "Q35") at 00:00.0 on root bus pcie.0. Configuration mechanism #1
 * at 0xcf8/0xcfc for registers 0-0xff of every bus, and the PCI Express
 * enhanced configuration window (ECAM, 4 KiB per function) that PCIEXBAR
 * (0x60) places; PAM0-6 (0x90-0x96) and SMRAM (0x9d) as on the i440FX;
 * TOLUD (0xb0) says where low RAM ends.
 */
#include "hw/i386/x86.h"
#include "hw/pci-host/conf1.h"
#include "hw/pci-host/pam.h"
#include "hw/pci-host/q35.h"
#include "hw/pci/pcie.h"
#include "migration/vmstate.h"
#include "util/opts.h"


/* 3 Series datasheet 5.1: host bridge (D0:F0) registers */
#define MCH_PCIEXBAR        0x60
#define  PCIEXBAR_EN        0x1ULL
#define  PCIEXBAR_LENGTH_SHIFT 1
#define  PCIEXBAR_LENGTH_MASK 0x6ULL
#define  PCIEXBAR_LENGTH_256M 0
#define  PCIEXBAR_LENGTH_128M 1
#define  PCIEXBAR_LENGTH_64M 2
#define  PCIEXBAR_LENGTH_RSVD 3
#define  PCIEXBAR_ADDR_MASK 0x0000000ffc000000ULL   /* bits 35:26 */
#define MCH_PAM0            0x90
#define MCH_SMRAM           0x9d
#define MCH_TOLUD           0xb0

/* ---- INTx: PIRQA-H straight to IOAPIC inputs 16-23 ---- */

int q35_slot_pirq(unsigned slot, int pin)
{
    if (pin < 1 || pin > 4 || slot > 31) {
        return -1;
    }
    if (slot >= 24) {
        return pin - 1;
    }
    return 4 + (slot + pin - 1) % 4;
}

static int q35_route_intx(PCIDevice *d, int pin)
{
    int pirq = q35_slot_pirq(PCI_SLOT(d->devfn), pin);

    return pirq < 0 ? -1 : Q35_PIRQ_GSI_BASE + pirq;
}

/* ---- the host: configuration cycles ---- */

typedef struct Q35Host {
    Device qdev;
    Machine *m;
    PCIBus *bus;
    PCIConf1 conf1;
    MemoryRegion ecam[3];       /* 256, 128 and 64 MiB windows */
    MemoryRegion *ecam_mapped;  /* the one in the memory map, or NULL */
} Q35Host;

static DeviceClass q35_host_class;

static Q35Host *q35_host(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls == &q35_host_class) {
            return (Q35Host *)d;
        }
    }
    return NULL;
}

static uint64_t ecam_read(void *opaque, hwaddr addr, unsigned size)
{
    Q35Host *s = opaque;

    return pcie_ecam_read(s->bus, addr, size);
}

static void ecam_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    Q35Host *s = opaque;

    pcie_ecam_write(s->bus, addr, val, size);
}

static const MemoryRegionOps ecam_ops = {
    .read = ecam_read,
    .write = ecam_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* Maps the ECAM window at base with size bytes, or unmaps it (size 0). */
static void host_map_ecam(Q35Host *s, uint64_t base, uint64_t size)
{
    memory_transaction_begin();
    if (s->ecam_mapped) {
        memory_region_del_subregion(s->m->sysmem, s->ecam_mapped);
        s->ecam_mapped = NULL;
    }
    for (int i = 0; i < 3 && size; i++) {
        if (s->ecam[i].size == size) {
            /* above RAM, as the MCH decodes PCIEXBAR before DRAM */
            memory_region_add_subregion_overlap(s->m->sysmem, base,
                                                &s->ecam[i], 1);
            s->ecam_mapped = &s->ecam[i];
        }
    }
    memory_transaction_commit();
}

static bool host_realize(Device *dev, Machine *m, GError **errp)
{
    Q35Host *s = (Q35Host *)dev;

    if (pci_bus_find(m, NULL)) {
        g_set_error(errp, VIREO_ERROR, 0, "the machine already has a PCI "
                    "root bus");
        return false;
    }
    s->m = m;
    s->bus = pci_bus_new(m, "pcie.0", m->sysmem, m->io, q35_route_intx);
    pci_conf1_init(&s->conf1, m, s->bus);
    for (int i = 0; i < 3; i++) {
        memory_region_init_io(&s->ecam[i], "pcie-mmcfg", &ecam_ops, s,
                              Q35_PCIEXBAR_SIZE_MAX >> i);
    }
    return true;
}

static void host_unrealize(Device *dev)
{
    Q35Host *s = (Q35Host *)dev;

    host_map_ecam(s, 0, 0);
    pci_conf1_fini(&s->conf1);
    for (int i = 0; i < 3; i++) {
        memory_region_destroy(&s->ecam[i]);
    }
    pci_bus_free(s->bus);
}

static void host_reset(Device *dev)
{
    ((Q35Host *)dev)->conf1.config_address = 0;
}

static bool host_post_load(void *opaque, int version_id, GError **errp)
{
    return pci_conf1_check(&((Q35Host *)opaque)->conf1, errp);
}

static const VMStateField host_fields[] = {
    VMSTATE_PCI_CONF1(conf1, Q35Host),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_q35_host = {
    .name = "q35-pcihost",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = host_fields,
    .post_load = host_post_load,
};

static DeviceClass q35_host_class = {
    .name = "q35-pcihost",
    .desc = "Q35 PCI Express host (mechanism #1 and ECAM)",
    .child_bus_name = "pcie.0",
    /* "info qtree" lists the PCI devices under it */
    .child_bus_type = "PCI",
    .instance_size = sizeof(Q35Host),
    .realize = host_realize,
    .unrealize = host_unrealize,
    .reset = host_reset,
    .vmsd = &vmstate_q35_host,
};
DEVICE_REGISTER(q35_host_class)

/* ---- the MCH function (00:00.0) ---- */

typedef struct MCHState {
    PCIDevice pci;
    Machine *m;
    Q35Host *host;
    PAMState pam;
} MCHState;

/*
 * 5.1.13 PCIEXBAR: the length field picks which of address bits 35:26 are
 * the base; the reserved length (11b) decodes nothing, as does EN clear.
 */
static void mch_update_pciexbar(MCHState *s)
{
    uint64_t bar = (uint64_t)pci_get_long(s->pci.config + MCH_PCIEXBAR + 4)
                   << 32 | pci_get_long(s->pci.config + MCH_PCIEXBAR);
    uint64_t size;

    switch ((bar & PCIEXBAR_LENGTH_MASK) >> PCIEXBAR_LENGTH_SHIFT) {
    case PCIEXBAR_LENGTH_256M:
        size = 256ULL << 20;
        break;
    case PCIEXBAR_LENGTH_128M:
        size = 128ULL << 20;
        break;
    case PCIEXBAR_LENGTH_64M:
        size = 64ULL << 20;
        break;
    default:
        size = 0;
        break;
    }
    if (!(bar & PCIEXBAR_EN)) {
        size = 0;
    }
    host_map_ecam(s->host, bar & PCIEXBAR_ADDR_MASK & ~(size - 1), size);
}

static void mch_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                             unsigned len)
{
    MCHState *s = (MCHState *)d;

    if (pci_config_touches(addr, len, MCH_PCIEXBAR, 8)) {
        mch_update_pciexbar(s);
    }
    pam_config_write(&s->pam, addr, len);
}

static const PCIDeviceInfo mch_info = {
    .vendor_id = 0x8086, .device_id = 0x29c0,
    .class_code = 0x060000,
    .config_write = mch_config_write,
};

static bool mch_realize(Device *dev, Machine *m, GError **errp)
{
    MCHState *s = (MCHState *)dev;
    PCIDevice *d = &s->pci;

    s->host = q35_host(m);
    if (!s->host) {
        g_set_error(errp, VIREO_ERROR, 0, "mch: the machine has no q35 host");
        return false;
    }
    if (!pci_device_init(d, m, &mch_info, errp)) {
        return false;
    }
    s->m = m;
    pci_set_long(d->wmask + MCH_PCIEXBAR,
                 (uint32_t)(PCIEXBAR_ADDR_MASK | PCIEXBAR_LENGTH_MASK |
                            PCIEXBAR_EN));
    pci_set_long(d->wmask + MCH_PCIEXBAR + 4,
                 (uint32_t)(PCIEXBAR_ADDR_MASK >> 32));
    /* TOLUD bits 15:4 are address bits 31:20 of the top of low RAM */
    pci_set_word(d->config + MCH_TOLUD, m->below_4g_mem_size >> 16 & 0xfff0);
    pam_init(&s->pam, d, m, MCH_PAM0, MCH_SMRAM);
    return true;
}

static void mch_unrealize(Device *dev)
{
    MCHState *s = (MCHState *)dev;

    pci_device_uninit(&s->pci);
    pam_fini(&s->pam);
}

/*
 * Power-on: PAM all PCI and ECAM off, for firmware to set up. Without
 * firmware (direct kernel boot) the state firmware would leave: shadow
 * RAM, and the ECAM window at QEMU's base, which the MCFG table names.
 */
static void mch_reset(Device *dev)
{
    MCHState *s = (MCHState *)dev;
    PCIDevice *d = &s->pci;
    bool fw = s->m->bios != NULL;

    pci_device_reset(d);
    pam_reset(&s->pam);
    pci_set_long(d->config + MCH_PCIEXBAR,
                 fw ? 0 : (uint32_t)Q35_PCIEXBAR_DEFAULT | PCIEXBAR_EN);
    pci_set_long(d->config + MCH_PCIEXBAR + 4, 0);
    mch_update_pciexbar(s);
}

static bool mch_pre_load(void *opaque, GError **errp)
{
    pam_pre_load(&((MCHState *)opaque)->pam);
    return true;
}

static bool mch_post_load(void *opaque, int version_id, GError **errp)
{
    MCHState *s = opaque;

    mch_update_pciexbar(s);
    pam_post_load(&s->pam);
    return true;
}

static const VMStateField mch_fields[] = {
    VMSTATE_STRUCT(pci, MCHState, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_mch = {
    .name = "mch",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = mch_fields,
    .pre_load = mch_pre_load,
    .post_load = mch_post_load,
};

static const Property mch_props[] = {
    PCI_DEVICE_PROPS(MCHState, pci),
    PROP_END,
};

static DeviceClass mch_class = {
    .name = "mch",
    .desc = "Host bridge",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(MCHState),
    .props = mch_props,
    .realize = mch_realize,
    .unrealize = mch_unrealize,
    .reset = mch_reset,
    .vmsd = &vmstate_mch,
};
DEVICE_REGISTER(mch_class)

bool q35_create(Machine *m, GError **errp)
{
    return x86_create_device(m, "q35-pcihost", errp, NULL) &&
           x86_create_device(m, "mch", errp, "addr", "0", NULL) &&
           x86_create_device(m, "ICH9-LPC", errp, "addr", "1f.0",
                             "multifunction", "on", NULL);
}
