/*
 * The PIIX3 IDE function (82371SB datasheet 290550, section 2.5 and 2.7:
 * 8086:7010 at 00:01.1): two channels in legacy mode at 0x1f0/0x3f6 (IRQ
 * 14) and 0x170/0x376 (IRQ 15), IDETIM/SIDETIM, and the bus-master IDE
 * registers in BAR4 that walk a PRD table (SFF-8038i) in guest memory.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/ide/ide.h"
#include "hw/pci/pci.h"
#include "migration/vmstate.h"
#include "util/opts.h"
#include "util/log.h"

/* Configuration registers */
#define PIIX_IDETIM         0x40    /* primary, 0x42 secondary (16 bits) */
#define PIIX_SIDETIM        0x44
#define  IDETIM_IDE_DECODE  0x8000

/* Bus-master IDE registers, per channel (SFF-8038i) */
#define BM_CMD              0
#define  BM_CMD_START       0x01
#define  BM_CMD_READ        0x08    /* 1: the device writes memory */
#define BM_STATUS           2
#define  BM_STATUS_ACTIVE   0x01
#define  BM_STATUS_ERROR    0x02
#define  BM_STATUS_INT      0x04
#define  BM_STATUS_DRV_CAP  0x60    /* drive 0/1 DMA capable (software) */
#define BM_PRD_ADDR         4

#define PRD_EOT             0x8000
/* A PRD table lies inside one 64 KiB block (SFF-8038i 1.2). */
#define PRD_MAX_ENTRIES     (65536 / 8)

typedef struct BMDMAState {
    IDEBus bus;
    struct PIIXIDEState *pci;
    uint8_t cmd;
    uint8_t status;
    uint32_t addr;              /* PRD table */
    /* the walk of the table */
    uint32_t prd_index;
    uint32_t cur_addr;
    uint32_t cur_len;           /* bytes left in the current entry */
    bool cur_last;
    MemoryRegion cmd_mr, ctrl_mr;
} BMDMAState;

typedef struct PIIXIDEState {
    PCIDevice pci;
    Machine *m;
    BMDMAState bm[2];
    MemoryRegion bmdma_mr;
    bool legacy_mapped;
} PIIXIDEState;

static BMDMAState *bm_of(IDEBus *bus)
{
    return (BMDMAState *)bus;   /* bus is the first member */
}

/* --- the legacy task-file ports --- */

static uint64_t cmd_read(void *opaque, hwaddr addr, unsigned size)
{
    IDEBus *bus = opaque;
    uint64_t val = 0;

    if (addr == 0 && size >= 2) {
        return ide_data_read(bus, size == 2 ? 2 : 4);
    }
    /* byte registers; wider accesses read consecutive ones */
    for (unsigned i = 0; i < size && addr + i < 8; i++) {
        val |= (uint64_t)ide_ioport_read(bus, addr + i) << (8 * i);
    }
    return val;
}

static void cmd_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    IDEBus *bus = opaque;

    if (addr == 0 && size >= 2) {
        ide_data_write(bus, val, size == 2 ? 2 : 4);
        return;
    }
    for (unsigned i = 0; i < size && addr + i < 8; i++) {
        ide_ioport_write(bus, addr + i, (val >> (8 * i)) & 0xff);
    }
}

static const MemoryRegionOps cmd_ops = {
    .read = cmd_read,
    .write = cmd_write,
    .impl_min = 1,
    .impl_max = 4,
};

static uint64_t ctrl_read(void *opaque, hwaddr addr, unsigned size)
{
    return ide_status_read_alt(opaque);
}

static void ctrl_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    ide_ctrl_write(opaque, val);
}

static const MemoryRegionOps ctrl_ops = {
    .read = ctrl_read,
    .write = ctrl_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* --- bus-master DMA --- */

static void bm_rewind(BMDMAState *bm)
{
    bm->prd_index = 0;
    bm->cur_len = 0;
    bm->cur_last = false;
    bm->cur_addr = 0;
}

static void bm_start(IDEBus *bus)
{
    BMDMAState *bm = bm_of(bus);

    if (bm->status & BM_STATUS_ACTIVE) {
        ide_dma_run(bus);
    }
}

/* Loads the next PRD; false at the end of the table or on a bus error. */
static bool bm_next_prd(BMDMAState *bm, bool *bus_error)
{
    AddressSpace *as = &bm->pci->m->as_mem;
    uint8_t prd[8];

    if (bm->cur_last || bm->prd_index >= PRD_MAX_ENTRIES) {
        return false;
    }
    /* the table wraps inside its 64 KiB block, as the address counter */
    uint32_t at = (bm->addr & ~0xffffu) |
                  ((bm->addr + bm->prd_index * 8) & 0xffff);
    if (address_space_read(as, at, prd, sizeof(prd)) != MEMTX_OK) {
        *bus_error = true;
        return false;
    }
    bm->prd_index++;
    uint32_t len = (prd[4] | prd[5] << 8) & 0xfffe;
    bm->cur_addr = (prd[0] | prd[1] << 8 | prd[2] << 16 |
                    (uint32_t)prd[3] << 24) & ~1u;
    bm->cur_len = len ? len : 0x10000;
    bm->cur_last = (prd[6] | prd[7] << 8) & PRD_EOT;
    return true;
}

static int bm_rw_buf(IDEBus *bus, uint8_t *buf, int len, bool to_device)
{
    BMDMAState *bm = bm_of(bus);
    AddressSpace *as = &bm->pci->m->as_mem;
    int moved = 0;

    if (!(bm->status & BM_STATUS_ACTIVE)) {
        return 0;
    }
    while (moved < len) {
        bool bus_error = false;
        if (bm->cur_len == 0 && !bm_next_prd(bm, &bus_error)) {
            if (bus_error) {
                bm->status |= BM_STATUS_ERROR;
                return -1;
            }
            break;
        }
        uint32_t n = MIN((uint32_t)(len - moved), bm->cur_len);
        MemTxResult r = to_device
            ? address_space_read(as, bm->cur_addr, buf + moved, n)
            : address_space_write(as, bm->cur_addr, buf + moved, n);
        if (r != MEMTX_OK) {
            /* master abort: no memory there */
            bm->status |= BM_STATUS_ERROR;
            return -1;
        }
        moved += n;
        bm->cur_addr += n;
        bm->cur_len -= n;
    }
    return moved;
}

static void bm_set_inactive(IDEBus *bus, bool error)
{
    BMDMAState *bm = bm_of(bus);

    bm->status &= ~BM_STATUS_ACTIVE;
    bm_rewind(bm);
}

static void bm_irq_notify(IDEBus *bus)
{
    bm_of(bus)->status |= BM_STATUS_INT;
}

static const IDEDMAOps bm_dma_ops = {
    .start = bm_start,
    .rw_buf = bm_rw_buf,
    .set_inactive = bm_set_inactive,
    .irq_notify = bm_irq_notify,
};

static void bm_cmd_write(BMDMAState *bm, uint8_t val)
{
    if (!(val & BM_CMD_START)) {
        /* stopping the engine aborts a transfer still under way */
        if (bm->status & BM_STATUS_ACTIVE) {
            bm->status &= ~BM_STATUS_ACTIVE;
            ide_dma_cancel(&bm->bus);
            bm_rewind(bm);
        }
        bm->cmd = val & (BM_CMD_START | BM_CMD_READ);
        return;
    }
    if (!(bm->status & BM_STATUS_ACTIVE) && !(bm->cmd & BM_CMD_START)) {
        bm->status |= BM_STATUS_ACTIVE;
        bm_rewind(bm);
        bm->cmd = val & (BM_CMD_START | BM_CMD_READ);
        ide_dma_run(&bm->bus);
        return;
    }
    bm->cmd = (bm->cmd & BM_CMD_START) | (val & BM_CMD_READ);
}

static uint64_t bmdma_read(void *opaque, hwaddr addr, unsigned size)
{
    PIIXIDEState *d = opaque;
    BMDMAState *bm = &d->bm[(addr >> 3) & 1];

    switch (addr & 7) {
    case BM_CMD:
        return bm->cmd;
    case BM_STATUS:
        return bm->status;
    case BM_PRD_ADDR:
    case BM_PRD_ADDR + 1:
    case BM_PRD_ADDR + 2:
    case BM_PRD_ADDR + 3:
        return (bm->addr >> (8 * ((addr & 7) - BM_PRD_ADDR))) & 0xff;
    default:
        return 0;
    }
}

static void bmdma_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    PIIXIDEState *d = opaque;
    BMDMAState *bm = &d->bm[(addr >> 3) & 1];
    unsigned reg = addr & 7;

    switch (reg) {
    case BM_CMD:
        bm_cmd_write(bm, val);
        break;
    case BM_STATUS:
        /* error and interrupt clear on 1; the capable bits are plain */
        bm->status = (bm->status & BM_STATUS_ACTIVE) |
                     (bm->status & ~val & (BM_STATUS_ERROR |
                                            BM_STATUS_INT)) |
                     (val & BM_STATUS_DRV_CAP);
        break;
    case BM_PRD_ADDR:
    case BM_PRD_ADDR + 1:
    case BM_PRD_ADDR + 2:
    case BM_PRD_ADDR + 3: {
        unsigned shift = 8 * (reg - BM_PRD_ADDR);
        bm->addr = (bm->addr & ~(0xffu << shift)) |
                   ((uint32_t)(val & 0xff) << shift);
        bm->addr &= ~3u;
        break;
    }
    default:
        break;
    }
}

static const MemoryRegionOps bmdma_ops = {
    .read = bmdma_read,
    .write = bmdma_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* --- the PCI function --- */

static const PCIDeviceInfo piix3_ide_info = {
    .vendor_id = 0x8086, .device_id = 0x7010,
    .class_code = 0x010180,     /* IDE, legacy mode, bus master */
};

static const uint16_t legacy_cmd[2] = { 0x1f0, 0x170 };
static const uint16_t legacy_ctrl[2] = { 0x3f6, 0x376 };
static const int legacy_irq[2] = { 14, 15 };

static bool piix_ide_realize(Device *dev, Machine *m, GError **errp)
{
    PIIXIDEState *d = (PIIXIDEState *)dev;

    if (ide_bus_find(m, "ide.0")) {
        g_set_error(errp, VIREO_ERROR, 0, "the machine already has an IDE "
                    "controller with bus ide.0");
        return false;
    }
    if (!pci_device_init(&d->pci, m, &piix3_ide_info, errp)) {
        return false;
    }
    d->m = m;
    /* IDETIM, SIDETIM are the guest's */
    memset(d->pci.wmask + PIIX_IDETIM, 0xff, 5);
    memory_region_init_io(&d->bmdma_mr, "piix-bmdma", &bmdma_ops, d, 16);
    pci_register_bar(&d->pci, 4, PCI_BASE_ADDRESS_SPACE_IO, &d->bmdma_mr);

    g_autofree char *of_path = PCI_FUNC(d->pci.devfn)
        ? g_strdup_printf("/pci@i0cf8/ide@%x,%x", PCI_SLOT(d->pci.devfn),
                          PCI_FUNC(d->pci.devfn))
        : g_strdup_printf("/pci@i0cf8/ide@%x", PCI_SLOT(d->pci.devfn));
    for (int i = 0; i < 2; i++) {
        BMDMAState *bm = &d->bm[i];
        bm->pci = d;
        ide_bus_init(&bm->bus, m, i, &m->gsi[legacy_irq[i]], &bm_dma_ops,
                     bm, of_path);
        memory_region_init_io(&bm->cmd_mr, i ? "ide1-cmd" : "ide0-cmd",
                              &cmd_ops, &bm->bus, 8);
        memory_region_init_io(&bm->ctrl_mr, i ? "ide1-ctrl" : "ide0-ctrl",
                              &ctrl_ops, &bm->bus, 1);
        memory_region_add_subregion(m->io, legacy_cmd[i], &bm->cmd_mr);
        memory_region_add_subregion(m->io, legacy_ctrl[i], &bm->ctrl_mr);
    }
    d->legacy_mapped = true;
    return true;
}

static void piix_ide_unrealize(Device *dev)
{
    PIIXIDEState *d = (PIIXIDEState *)dev;

    for (int i = 0; i < 2; i++) {
        ide_bus_fini(&d->bm[i].bus);
        if (d->legacy_mapped) {
            memory_region_del_subregion(d->m->io, &d->bm[i].cmd_mr);
            memory_region_del_subregion(d->m->io, &d->bm[i].ctrl_mr);
        }
        memory_region_destroy(&d->bm[i].cmd_mr);
        memory_region_destroy(&d->bm[i].ctrl_mr);
    }
    pci_device_uninit(&d->pci);
    memory_region_destroy(&d->bmdma_mr);
}

static void piix_ide_reset(Device *dev)
{
    PIIXIDEState *d = (PIIXIDEState *)dev;

    pci_device_reset(&d->pci);
    /*
     * Both channels decode, as firmware leaves them (SeaBIOS writes
     * 0x8000): with a direct kernel boot no firmware runs, and Linux's
     * ata_piix skips a channel whose decode bit is clear.
     */
    pci_set_word(d->pci.config + PIIX_IDETIM, IDETIM_IDE_DECODE);
    pci_set_word(d->pci.config + PIIX_IDETIM + 2, IDETIM_IDE_DECODE);
    d->pci.config[PIIX_SIDETIM] = 0;
    for (int i = 0; i < 2; i++) {
        BMDMAState *bm = &d->bm[i];
        ide_bus_reset(&bm->bus);
        bm->cmd = 0;
        bm->status = 0;
        bm->addr = 0;
        bm_rewind(bm);
    }
}

/* --- devices attach to the buses of the machine's controller --- */

static bool bmdma_post_load(void *opaque, int version_id, GError **errp)
{
    BMDMAState *bm = opaque;

    if (bm->prd_index > PRD_MAX_ENTRIES || bm->cur_len > 0x10000 ||
        (bm->addr & 3)) {
        g_set_error(errp, VIREO_ERROR, 0, "piix-ide: bad bus-master state");
        return false;
    }
    return true;
}

static const VMStateField bmdma_fields[] = {
    VMSTATE_UINT8(cmd, BMDMAState),
    VMSTATE_UINT8(status, BMDMAState),
    VMSTATE_UINT32(addr, BMDMAState),
    VMSTATE_UINT32(prd_index, BMDMAState),
    VMSTATE_UINT32(cur_addr, BMDMAState),
    VMSTATE_UINT32(cur_len, BMDMAState),
    VMSTATE_BOOL(cur_last, BMDMAState),
    VMSTATE_STRUCT(bus, BMDMAState, vmstate_ide_bus, IDEBus),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_bmdma = {
    .name = "ide/bmdma",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = bmdma_fields,
    .post_load = bmdma_post_load,
};

static const VMStateField piix_ide_fields[] = {
    VMSTATE_STRUCT(pci, PIIXIDEState, vmstate_pci_device, PCIDevice),
    VMSTATE_STRUCT_ARRAY(bm, PIIXIDEState, vmstate_bmdma, BMDMAState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_piix_ide = {
    .name = "ide",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = piix_ide_fields,
};

static const Property piix_ide_props[] = {
    PCI_DEVICE_PROPS(PIIXIDEState, pci),
    PROP_END,
};

static DeviceClass piix3_ide_class = {
    .name = "piix3-ide",
    .desc = "PIIX3 IDE controller (legacy mode, bus-master DMA)",
    .bus = "PCI",
    .parent = "pci-device",
    .child_bus_name = "ide.0",
    .child_bus_type = "IDE",
    .instance_size = sizeof(PIIXIDEState),
    .props = piix_ide_props,
    .realize = piix_ide_realize,
    .unrealize = piix_ide_unrealize,
    .reset = piix_ide_reset,
    .vmsd = &vmstate_piix_ide,
};
DEVICE_REGISTER(piix3_ide_class)
