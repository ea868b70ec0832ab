/*
 * The ICH9 LPC interface bridge at 00:1f.0 (Intel I/O Controller Hub 9
 * datasheet 316972, chapter 13.1): the PIRQA-H route control registers,
 * PMBASE and ACPI_CNTL placing the ACPI PM I/O block (an "acpi-pm" with
 * the ICH9 layout, which also decodes the 0xCF9 reset control register),
 * and RCBA, the root complex register block, here a stub that reads 0.
 *
 * PIRQA-H reach the IOAPIC on inputs 16-23 (5.9, APIC mode), which is
 * what an ACPI OS uses, and also the ISA IRQ their route register names
 * while its IRQEN# bit is clear, for firmware and guests that use the
 * 8259 (QEMU's ICH9 drives both too).
 */
#include "hw/i386/acpi.h"
#include "hw/i386/x86.h"
#include "hw/pci-host/q35.h"
#include "migration/vmstate.h"
#include "util/opts.h"

/* 13.1: LPC bridge configuration registers */
#define ICH9_LPC_PMBASE         0x40
#define  PMBASE_RTE             0x00000001u /* resource type: I/O, RO 1 */
#define  PMBASE_ADDR_MASK       0x0000ff80u /* bits 15:7 */
#define ICH9_LPC_ACPI_CNTL      0x44
#define  ACPI_CNTL_ACPI_EN      0x80
#define  ACPI_CNTL_SCI_IRQ_SEL  0x07
#define ICH9_LPC_PIRQA_ROUT     0x60    /* A-D */
#define ICH9_LPC_PIRQE_ROUT     0x68    /* E-H */
#define  PIRQ_ROUT_IRQEN        0x80    /* set: not routed to the 8259 */
#define  PIRQ_ROUT_MASK         0x8f
#define  PIRQ_ROUT_IRQ          0x0f
/* 13.1.10: IRQ 0, 1, 2, 8 and 13 are reserved route values */
#define PIRQ_ISA_IRQS_VALID     0xdef8
#define ICH9_NUM_PIRQS          8
#define ICH9_LPC_RCBA           0xf0
#define  RCBA_EN                0x00000001u
#define  RCBA_ADDR_MASK         0xffffc000u /* bits 31:14 */
#define ICH9_RCBA_SIZE          0x4000

/* Where firmware puts the PM block, and direct boot's FADT says it is. */
#define ICH9_PMBASE_DEFAULT     X86_ACPI_PM_BASE

typedef struct ICH9LPCState {
    PCIDevice pci;
    Machine *m;
    Device *pm;
    MemoryRegion rcrb;
    bool rcrb_mapped;
    /* the IOAPIC inputs 16-23 as the board made them, before we took them */
    IRQLine ioapic_in[ICH9_NUM_PIRQS];
    bool pirq_level[ICH9_NUM_PIRQS];
    uint16_t isa_level;         /* ISA IRQs we hold high for PIRQs */
} ICH9LPCState;

static uint8_t pirq_route(ICH9LPCState *s, int pirq)
{
    int reg = pirq < 4 ? ICH9_LPC_PIRQA_ROUT + pirq
                       : ICH9_LPC_PIRQE_ROUT + pirq - 4;

    return s->pci.config[reg];
}

/* The ISA IRQs asserted PIRQs are routed to follow their OR. */
static void lpc_update_isa_irqs(ICH9LPCState *s)
{
    uint16_t want = 0;

    for (int i = 0; i < ICH9_NUM_PIRQS; i++) {
        uint8_t r = pirq_route(s, i);
        unsigned irq = r & PIRQ_ROUT_IRQ;
        if (s->pirq_level[i] && !(r & PIRQ_ROUT_IRQEN) &&
            (PIRQ_ISA_IRQS_VALID & (1u << irq))) {
            want |= 1u << irq;
        }
    }
    for (unsigned irq = 0; irq < 16; irq++) {
        if ((want ^ s->isa_level) & (1u << irq)) {
            irq_set(&s->m->gsi[irq], (want >> irq) & 1);
        }
    }
    s->isa_level = want;
}

/* PIRQ n changed level: the IOAPIC input, then the 8259 route. */
static void lpc_pirq_set(void *opaque, int n, int level)
{
    ICH9LPCState *s = opaque;

    s->pirq_level[n] = level != 0;
    irq_set(&s->ioapic_in[n], level);
    lpc_update_isa_irqs(s);
}

static void lpc_update_pm(ICH9LPCState *s)
{
    uint32_t base = pci_get_long(s->pci.config + ICH9_LPC_PMBASE) &
                    PMBASE_ADDR_MASK;
    bool en = s->pci.config[ICH9_LPC_ACPI_CNTL] & ACPI_CNTL_ACPI_EN;

    acpi_pm_set_base(s->pm, base, en);
}

/* RCBA: 16 KiB of chipset configuration, reads 0 and ignores writes. */
static uint64_t rcrb_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

static void rcrb_write(void *opaque, hwaddr addr, uint64_t val,
                       unsigned size)
{
}

static const MemoryRegionOps rcrb_ops = {
    .read = rcrb_read,
    .write = rcrb_write,
    .impl_min = 1,
    .impl_max = 4,
};

static void lpc_update_rcba(ICH9LPCState *s)
{
    uint32_t rcba = pci_get_long(s->pci.config + ICH9_LPC_RCBA);

    memory_transaction_begin();
    if (s->rcrb_mapped) {
        memory_region_del_subregion(s->m->sysmem, &s->rcrb);
        s->rcrb_mapped = false;
    }
    if (rcba & RCBA_EN) {
        memory_region_add_subregion_overlap(s->m->sysmem,
                                            rcba & RCBA_ADDR_MASK, &s->rcrb,
                                            1);
        s->rcrb_mapped = true;
    }
    memory_transaction_commit();
}

static void lpc_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                             unsigned len)
{
    ICH9LPCState *s = (ICH9LPCState *)d;

    if (pci_config_touches(addr, len, ICH9_LPC_PMBASE, 4) ||
        pci_config_touches(addr, len, ICH9_LPC_ACPI_CNTL, 1)) {
        lpc_update_pm(s);
    }
    if (pci_config_touches(addr, len, ICH9_LPC_RCBA, 4)) {
        lpc_update_rcba(s);
    }
    if (pci_config_touches(addr, len, ICH9_LPC_PIRQA_ROUT, 4) ||
        pci_config_touches(addr, len, ICH9_LPC_PIRQE_ROUT, 4)) {
        lpc_update_isa_irqs(s);
    }
}

static const PCIDeviceInfo lpc_info = {
    .vendor_id = 0x8086, .device_id = 0x2918, .revision = 0x02,
    .class_code = 0x060100,
    .config_write = lpc_config_write,
};

static bool lpc_realize(Device *dev, Machine *m, GError **errp)
{
    ICH9LPCState *s = (ICH9LPCState *)dev;
    PCIDevice *d = &s->pci;

    if (!pci_device_init(d, m, &lpc_info, errp)) {
        return false;
    }
    s->m = m;
    /* the PM block is the LPC's: unmapped until PMBASE and ACPI_EN say */
    s->pm = x86_create_device(m, "acpi-pm", errp, "ich9", "on",
                              "reset-control", "on", NULL);
    if (!s->pm) {
        pci_device_uninit(d);
        return false;
    }
    pci_set_long(d->wmask + ICH9_LPC_PMBASE, PMBASE_ADDR_MASK);
    d->wmask[ICH9_LPC_ACPI_CNTL] = ACPI_CNTL_ACPI_EN | ACPI_CNTL_SCI_IRQ_SEL;
    memset(d->wmask + ICH9_LPC_PIRQA_ROUT, PIRQ_ROUT_MASK, 4);
    memset(d->wmask + ICH9_LPC_PIRQE_ROUT, PIRQ_ROUT_MASK, 4);
    pci_set_long(d->wmask + ICH9_LPC_RCBA, RCBA_ADDR_MASK | RCBA_EN);
    memory_region_init_io(&s->rcrb, "ich9-rcrb", &rcrb_ops, s,
                          ICH9_RCBA_SIZE);
    /* PCI INTx arrives as GSI 16-23 (hw/pci-host/q35.c): pass through us */
    for (int i = 0; i < ICH9_NUM_PIRQS; i++) {
        s->ioapic_in[i] = m->gsi[Q35_PIRQ_GSI_BASE + i];
        m->gsi[Q35_PIRQ_GSI_BASE + i] = (IRQLine){
            .handler = lpc_pirq_set, .opaque = s, .n = i };
    }
    return true;
}

static void lpc_unrealize(Device *dev)
{
    ICH9LPCState *s = (ICH9LPCState *)dev;

    if (s->m) {
        for (int i = 0; i < ICH9_NUM_PIRQS; i++) {
            s->m->gsi[Q35_PIRQ_GSI_BASE + i] = s->ioapic_in[i];
        }
        if (s->rcrb_mapped) {
            memory_region_del_subregion(s->m->sysmem, &s->rcrb);
        }
        memory_region_destroy(&s->rcrb);
    }
    pci_device_uninit(&s->pci);
}

/*
 * 13.1: PIRQs start unrouted, PMBASE and RCBA at 0 (disabled). Direct
 * kernel boot has no firmware to place the PM block, so it is where the
 * FADT says, as firmware would have left it.
 */
static void lpc_reset(Device *dev)
{
    ICH9LPCState *s = (ICH9LPCState *)dev;
    PCIDevice *d = &s->pci;
    bool fw = s->m->bios != NULL;

    pci_device_reset(d);
    memset(d->config + ICH9_LPC_PIRQA_ROUT, PIRQ_ROUT_IRQEN, 4);
    memset(d->config + ICH9_LPC_PIRQE_ROUT, PIRQ_ROUT_IRQEN, 4);
    pci_set_long(d->config + ICH9_LPC_PMBASE,
                 PMBASE_RTE | (fw ? 0 : ICH9_PMBASE_DEFAULT));
    d->config[ICH9_LPC_ACPI_CNTL] = fw ? 0 : ACPI_CNTL_ACPI_EN;
    pci_set_long(d->config + ICH9_LPC_RCBA, 0);
    lpc_update_pm(s);
    lpc_update_rcba(s);
    lpc_update_isa_irqs(s);
}

static bool lpc_post_load(void *opaque, int version_id, GError **errp)
{
    ICH9LPCState *s = opaque;

    lpc_update_pm(s);
    lpc_update_rcba(s);
    lpc_update_isa_irqs(s);
    return true;
}

static const VMStateField lpc_fields[] = {
    VMSTATE_STRUCT(pci, ICH9LPCState, vmstate_pci_device, PCIDevice),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_lpc = {
    .name = "ICH9LPC",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = lpc_fields,
    .post_load = lpc_post_load,
};

static const Property lpc_props[] = {
    PCI_DEVICE_PROPS(ICH9LPCState, pci),
    PROP_END,
};

static DeviceClass lpc_class = {
    .name = "ICH9-LPC",
    .desc = "ISA bridge",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(ICH9LPCState),
    .props = lpc_props,
    .realize = lpc_realize,
    .unrealize = lpc_unrealize,
    .reset = lpc_reset,
    .vmsd = &vmstate_lpc,
};
DEVICE_REGISTER(lpc_class)
