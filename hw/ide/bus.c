/*
 * The IDE bus (ATA/ATAPI-6 chapter 5 and 9.2): the task-file registers that
 * master and slave share, device selection, the device control register
 * with SRST and nIEN, the buses a machine has and the drives on them, and
 * their migration state. The commands themselves are core.c's and
 * atapi.c's; the transport (piix.c) maps these registers.
 */
#include <string.h>

#include "hw/ide/ide.h"
#include "migration/vmstate.h"
#include "util/opts.h"
#include "system/runstate.h"

#define ATA_DEV_SELECT          0x10
#define ATA_DEV_ALWAYS_ON       0xa0

static GSList *ide_buses;       /* every IDEBus, for ide_bus_find */

static IDEState *cur_dev(IDEBus *bus)
{
    return &bus->ifs[bus->unit & 1];
}

static bool bus_empty(IDEBus *bus)
{
    return bus->ifs[0].kind == IDE_NONE && bus->ifs[1].kind == IDE_NONE;
}

static void bus_vm_state_changed(void *opaque, bool running)
{
    IDEBus *bus = opaque;

    if (!running) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        ide_retry_request(&bus->ifs[i]);
    }
}

/* --- registers --- */

uint32_t ide_ioport_read(IDEBus *bus, uint32_t reg)
{
    IDEState *s = cur_dev(bus);
    bool hob = bus->cmd & IDE_CTRL_HOB;
    /* QEMU: no device at all, or the absent slave, reads as zero */
    bool absent = bus_empty(bus) || (s->unit == 1 && s->kind == IDE_NONE);

    switch (reg & 7) {
    case 0:
        return 0xff;    /* the data port takes 16/32-bit accesses */
    case 1:
        return absent ? 0 : hob ? s->hob_feature : s->error;
    case 2:
        return bus_empty(bus) ? 0 : hob ? s->hob_nsector : s->nsector;
    case 3:
        return bus_empty(bus) ? 0 : hob ? s->hob_sector : s->sector;
    case 4:
        return bus_empty(bus) ? 0 : hob ? s->hob_lcyl : s->lcyl;
    case 5:
        return bus_empty(bus) ? 0 : hob ? s->hob_hcyl : s->hcyl;
    case 6:
        return bus_empty(bus) ? 0 : s->select;
    default:
        irq_lower(bus->irq);
        return absent ? 0 : s->status;
    }
}

uint32_t ide_status_read_alt(IDEBus *bus)
{
    IDEState *s = cur_dev(bus);

    if (bus_empty(bus) || (s->unit == 1 && s->kind == IDE_NONE)) {
        return 0;
    }
    return s->status;
}

void ide_ioport_write(IDEBus *bus, uint32_t reg, uint32_t val)
{
    reg &= 7;
    val &= 0xff;
    if (reg == 0) {
        return;
    }
    /* the command block is not written while the device is busy */
    if (reg != 7 && (cur_dev(bus)->status & (BUSY_STAT | DRQ_STAT))) {
        return;
    }
    if (reg == 7) {
        ide_exec_cmd(bus, val);
        return;
    }
    bus->cmd &= ~IDE_CTRL_HOB;
    /* both devices see the registers, as on the cable */
    for (int i = 0; i < 2; i++) {
        IDEState *s = &bus->ifs[i];
        switch (reg) {
        case 1:
            s->hob_feature = s->feature;
            s->feature = val;
            break;
        case 2:
            s->hob_nsector = s->nsector;
            s->nsector = val;
            break;
        case 3:
            s->hob_sector = s->sector;
            s->sector = val;
            break;
        case 4:
            s->hob_lcyl = s->lcyl;
            s->lcyl = val;
            break;
        case 5:
            s->hob_hcyl = s->hcyl;
            s->hcyl = val;
            break;
        case 6:
            s->select = val | ATA_DEV_ALWAYS_ON;
            break;
        }
    }
    if (reg == 6) {
        bus->unit = (val & ATA_DEV_SELECT) ? 1 : 0;
    }
}

void ide_ctrl_write(IDEBus *bus, uint32_t val)
{
    val &= 0xff;
    if (!(bus->cmd & IDE_CTRL_SRST) && (val & IDE_CTRL_SRST)) {
        /* SRST asserted: both devices busy until it is released */
        for (int i = 0; i < 2; i++) {
            IDEState *s = &bus->ifs[i];
            ide_reset_dev(s);
            s->status = BUSY_STAT | SEEK_STAT;
        }
    } else if ((bus->cmd & IDE_CTRL_SRST) && !(val & IDE_CTRL_SRST)) {
        for (int i = 0; i < 2; i++) {
            IDEState *s = &bus->ifs[i];
            ide_reset_dev(s);
        }
        bus->unit = 0;
    }
    bus->cmd = val;
}

void ide_bus_reset(IDEBus *bus)
{
    bus->unit = 0;
    bus->cmd = 0;
    bus->dma_unit = 0;
    for (int i = 0; i < 2; i++) {
        IDEState *s = &bus->ifs[i];
        ide_reset_dev(s);
        s->xfer_mode = 0;
        s->tray_locked = false;
        ide_guess_geometry(s->nb_sectors, &s->cylinders, &s->heads,
                           &s->sectors);
    }
    irq_lower(bus->irq);
}

/* --- the bus --- */

void ide_bus_init(IDEBus *bus, Machine *m, int bus_id, IRQLine *irq,
                  const IDEDMAOps *ops, void *opaque, const char *of_path)
{
    bus->m = m;
    bus->bus_id = bus_id;
    g_snprintf(bus->name, sizeof(bus->name), "ide.%d", bus_id);
    bus->irq = irq;
    bus->dma_ops = ops;
    bus->dma_opaque = opaque;
    bus->of_path = g_strdup(of_path);
    for (int i = 0; i < 2; i++) {
        bus->ifs[i].bus = bus;
        bus->ifs[i].unit = i;
        bus->ifs[i].kind = IDE_NONE;
    }
    bus->state_entry = vm_add_state_change_handler(bus_vm_state_changed, bus);
    ide_buses = g_slist_append(ide_buses, bus);
    ide_bus_reset(bus);
}

void ide_bus_fini(IDEBus *bus)
{
    for (int i = 0; i < 2; i++) {
        ide_device_detach(bus, i);
    }
    if (bus->state_entry) {
        vm_del_state_change_handler(bus->state_entry);
        bus->state_entry = NULL;
    }
    ide_buses = g_slist_remove(ide_buses, bus);
    g_clear_pointer(&bus->of_path, g_free);
}

IDEBus *ide_bus_find(Machine *m, const char *name)
{
    for (GSList *l = ide_buses; l; l = l->next) {
        IDEBus *bus = l->data;
        if (bus->m == m && (!name || !strcmp(bus->name, name))) {
            return bus;
        }
    }
    return NULL;
}

IDEBus *ide_bus_find_free(Machine *m, int *unit)
{
    for (GSList *l = ide_buses; l; l = l->next) {
        IDEBus *bus = l->data;
        if (bus->m != m) {
            continue;
        }
        for (int i = 0; i < (bus->sata ? 1 : 2); i++) {
            if (bus->ifs[i].kind == IDE_NONE) {
                *unit = i;
                return bus;
            }
        }
    }
    return NULL;
}

bool ide_device_attach(IDEBus *bus, int unit, IDEDriveKind kind,
                       BlockBackend *blk, const char *dev_id,
                       const char *serial, const char *model,
                       GError **errp)
{
    static unsigned drive_serial = 1;
    IDEState *s = &bus->ifs[unit & 1];

    if (s->kind != IDE_NONE) {
        g_set_error(errp, VIREO_ERROR, 0, "unit %d of bus %s is in use",
                    unit, bus->name);
        return false;
    }
    if (kind == IDE_HD && !blk_is_inserted(blk)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Device needs media, but drive is empty");
        return false;
    }
    s->kind = kind;
    s->blk = blk;
    s->dev_id = g_strdup(dev_id ? dev_id : "");
    s->nb_sectors = blk_is_inserted(blk) ? blk_getlength(blk) / 512 : 0;
    if (serial && *serial) {
        g_strlcpy(s->serial, serial, sizeof(s->serial));
    } else {
        g_snprintf(s->serial, sizeof(s->serial), "QM%05u", drive_serial++);
    }
    g_strlcpy(s->model, model && *model ? model :
              kind == IDE_CD ? "QEMU DVD-ROM" : "QEMU HARDDISK",
              sizeof(s->model));
    g_strlcpy(s->version, "2.5+", sizeof(s->version));
    if (kind == IDE_CD) {
        blk_set_dev_ops(blk, &ide_cd_block_ops, s);
    }
    ide_guess_geometry(s->nb_sectors, &s->cylinders, &s->heads,
                       &s->sectors);
    ide_reset_dev(s);
    return true;
}

void ide_device_detach(IDEBus *bus, int unit)
{
    IDEState *s = &bus->ifs[unit & 1];

    if (s->kind == IDE_NONE) {
        return;
    }
    if (s->blk) {
        blk_drain(s->blk);      /* completions need the device */
        if (s->kind == IDE_CD) {
            blk_set_dev_ops(s->blk, NULL, NULL);
        }
    }
    ide_drop_requests(s);
    if (s->blk) {
        blk_detach_dev(s->blk);
    }
    if (s->owner_ref) {
        *s->owner_ref = NULL;
        s->owner_ref = NULL;
    }
    s->kind = IDE_NONE;
    s->blk = NULL;
    g_clear_pointer(&s->dev_id, g_free);
}

/* --- migration --- */

static bool ide_state_pre_save(void *opaque, GError **errp)
{
    IDEState *s = opaque;

    if (s->aio || s->retry) {
        g_set_error(errp, VIREO_ERROR, 0, "ide: a request of %s is in "
                    "flight; the block layer must be drained before the "
                    "device state is saved", s->bus->name);
        return false;
    }
    return true;
}

static bool ide_state_post_load(void *opaque, int version_id, GError **errp)
{
    IDEState *s = opaque;

    if (s->data_end > IDE_BUF_SIZE || s->data_ptr > s->data_end ||
        s->end_transfer > IDE_END_ATAPI_REPLY ||
        s->dma_kind > IDE_DMA_ATAPI || s->mult_sectors > IDE_MAX_MULT_SECTORS ||
        s->req_nsector_blk > IDE_DMA_STEP_SECTORS ||
        s->atapi_buf_avail > IDE_BUF_SIZE ||
        s->data_end + s->atapi_buf_avail > IDE_BUF_SIZE ||
        (s->atapi_cd_sector_size != 0 && s->atapi_cd_sector_size != 2048 &&
         s->atapi_cd_sector_size != 2352) ||
        !s->heads || !s->sectors || s->heads > 16 || s->sectors > 255) {
        g_set_error(errp, VIREO_ERROR, 0, "ide: inconsistent device state");
        return false;
    }
    if (s->dma_active && s->kind == IDE_NONE) {
        g_set_error(errp, VIREO_ERROR, 0, "ide: DMA on an absent device");
        return false;
    }
    return true;
}

static const VMStateField ide_state_fields[] = {
    VMSTATE_UINT8(feature, IDEState),
    VMSTATE_UINT8(nsector, IDEState),
    VMSTATE_UINT8(sector, IDEState),
    VMSTATE_UINT8(lcyl, IDEState),
    VMSTATE_UINT8(hcyl, IDEState),
    VMSTATE_UINT8(select, IDEState),
    VMSTATE_UINT8(hob_feature, IDEState),
    VMSTATE_UINT8(hob_nsector, IDEState),
    VMSTATE_UINT8(hob_sector, IDEState),
    VMSTATE_UINT8(hob_lcyl, IDEState),
    VMSTATE_UINT8(hob_hcyl, IDEState),
    VMSTATE_UINT8(status, IDEState),
    VMSTATE_UINT8(error, IDEState),
    VMSTATE_UINT8(command, IDEState),
    VMSTATE_BOOL(lba48, IDEState),
    VMSTATE_UINT8(mult_sectors, IDEState),
    VMSTATE_UINT8(xfer_mode, IDEState),
    VMSTATE_BOOL(standby, IDEState),
    VMSTATE_UINT32(cylinders, IDEState),
    VMSTATE_UINT32(heads, IDEState),
    VMSTATE_UINT32(sectors, IDEState),
    VMSTATE_BUFFER(io_buffer, IDEState),
    VMSTATE_UINT32(data_ptr, IDEState),
    VMSTATE_UINT32(data_end, IDEState),
    VMSTATE_UINT8(end_transfer, IDEState),
    VMSTATE_INT64(req_sector, IDEState),
    VMSTATE_UINT32(req_nsector, IDEState),
    VMSTATE_UINT32(req_nsector_blk, IDEState),
    VMSTATE_UINT8(dma_kind, IDEState),
    VMSTATE_BOOL(dma_active, IDEState),
    VMSTATE_BUFFER(packet, IDEState),
    VMSTATE_UINT8(sense_key, IDEState),
    VMSTATE_UINT8(asc, IDEState),
    VMSTATE_UINT8(ascq, IDEState),
    VMSTATE_BOOL(unit_attention, IDEState),
    VMSTATE_BOOL(tray_open, IDEState),
    VMSTATE_BOOL(tray_locked, IDEState),
    VMSTATE_BOOL(event_new_media, IDEState),
    VMSTATE_BOOL(event_eject_request, IDEState),
    VMSTATE_BOOL(event_media_removal, IDEState),
    VMSTATE_UINT32(atapi_size, IDEState),
    VMSTATE_UINT32(atapi_buf_avail, IDEState),
    VMSTATE_UINT16(atapi_bcl, IDEState),
    VMSTATE_UINT32(atapi_cd_sector_size, IDEState),
    VMSTATE_BOOL(atapi_from_disc, IDEState),
    VMSTATE_BOOL(atapi_dma, IDEState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ide_drive = {
    .name = "ide_drive",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ide_state_fields,
    .pre_save = ide_state_pre_save,
    .post_load = ide_state_post_load,
};

static bool ide_bus_post_load(void *opaque, int version_id, GError **errp)
{
    IDEBus *bus = opaque;

    if (bus->unit > 1 || bus->dma_unit > 1) {
        g_set_error(errp, VIREO_ERROR, 0, "ide: bad unit number");
        return false;
    }
    return true;
}

static const VMStateField ide_bus_fields[] = {
    VMSTATE_UINT8(unit, IDEBus),
    VMSTATE_UINT8(cmd, IDEBus),
    VMSTATE_UINT8(dma_unit, IDEBus),
    VMSTATE_STRUCT_ARRAY(ifs, IDEBus, vmstate_ide_drive, IDEState),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_ide_bus = {
    .name = "ide_bus",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ide_bus_fields,
    .post_load = ide_bus_post_load,
};
