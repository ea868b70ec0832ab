/*
 * The IDE drives as -device sees them (QEMU's ide-hd, ide-cd and the older
 * ide-drive): a block backend on bus ide.N, unit 0 (master) or 1 (slave),
 * with the boot path SeaBIOS matches for bootindex=.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/ide/ide.h"
#include "migration/vmstate.h"
#include "util/opts.h"

typedef struct IDEDrive {
    Device qdev;
    char *drive;
    char *bus_name;
    uint32_t unit;              /* UINT32_MAX: the first free one */
    char *serial;
    char *model;
    uint32_t bootindex;         /* UINT32_MAX: none */
    IDEBus *bus;
    int attached_unit;
} IDEDrive;

static bool ide_drive_realize_kind(Device *dev, Machine *m, IDEDriveKind kind,
                                   GError **errp)
{
    IDEDrive *d = (IDEDrive *)dev;
    BlockBackend *blk;
    IDEBus *bus;
    int unit;

    if (!d->drive) {
        g_set_error(errp, VIREO_ERROR, 0, "drive property not set");
        return false;
    }
    blk = blk_find(d->drive);
    if (!blk) {
        g_set_error(errp, VIREO_ERROR, 0, "drive=%s: no such drive",
                    d->drive);
        return false;
    }
    if (kind == IDE_NONE) {     /* ide-drive: as the drive's media says */
        kind = blk_get_media(blk) == BLK_MEDIA_CDROM ? IDE_CD : IDE_HD;
    }
    if (d->unit != UINT32_MAX && d->unit > 1) {
        g_set_error(errp, VIREO_ERROR, 0, "unit=%u: an IDE bus has units "
                    "0 and 1", d->unit);
        return false;
    }
    if (d->bus_name) {
        bus = ide_bus_find(m, d->bus_name);
        if (!bus) {
            g_set_error(errp, VIREO_ERROR, 0, "Bus '%s' not found",
                        d->bus_name);
            return false;
        }
        if (d->unit != UINT32_MAX) {
            unit = d->unit;
        } else {
            unit = bus->sata || bus->ifs[0].kind == IDE_NONE ? 0 : 1;
        }
    } else if (d->unit != UINT32_MAX) {
        bus = ide_bus_find(m, "ide.0");
        unit = d->unit;
    } else {
        bus = ide_bus_find_free(m, &unit);
    }
    if (!bus) {
        g_set_error(errp, VIREO_ERROR, 0, "No 'IDE' bus found for device "
                    "'%s'", dev->cls->name);
        return false;
    }
    if (bus->sata && unit != 0) {
        /* a SATA port carries one device */
        g_set_error(errp, VIREO_ERROR, 0, "bus %s: a SATA port has only "
                    "unit 0", bus->name);
        return false;
    }
    if (bus->ifs[unit].kind != IDE_NONE) {
        g_set_error(errp, VIREO_ERROR, 0, "IDE unit %d is in use", unit);
        return false;
    }
    if (kind == IDE_HD && !blk_is_inserted(blk)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Device needs media, but drive is empty");
        return false;
    }
    const char *owner = dev->id ? dev->id : dev->cls->name;
    if (!blk_attach_dev(blk, owner, errp)) {
        return false;
    }
    /* QEMU's: the controller, the channel, the unit */
    g_autofree char *of_path = g_strdup_printf("%s/drive@%x/disk@%x",
                                               bus->of_path, bus->bus_id,
                                               unit);
    if (!machine_add_boot_device(m, (int32_t)d->bootindex, of_path, errp)) {
        blk_detach_dev(blk);
        return false;
    }
    if (!ide_device_attach(bus, unit, kind, blk, dev->id, d->serial ?
                           d->serial : blk_get_serial(blk), d->model,
                           errp)) {
        blk_detach_dev(blk);
        return false;
    }
    d->bus = bus;
    d->attached_unit = unit;
    bus->ifs[unit].owner_ref = &d->bus;
    return true;
}

static bool ide_hd_realize(Device *dev, Machine *m, GError **errp)
{
    return ide_drive_realize_kind(dev, m, IDE_HD, errp);
}

static bool ide_cd_realize(Device *dev, Machine *m, GError **errp)
{
    return ide_drive_realize_kind(dev, m, IDE_CD, errp);
}

static bool ide_drive_realize(Device *dev, Machine *m, GError **errp)
{
    return ide_drive_realize_kind(dev, m, IDE_NONE, errp);
}

static void ide_drive_unrealize(Device *dev)
{
    IDEDrive *d = (IDEDrive *)dev;

    if (d->bus) {
        ide_device_detach(d->bus, d->attached_unit);
    }
}

/* The drive's state lives with its controller's bus. */
static const VMStateField ide_drive_fields[] = {
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ide_dev = {
    .name = "ide-drive",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ide_drive_fields,
};

static const Property ide_drive_props[] = {
    PROP_STR("drive", IDEDrive, drive, NULL, "the -drive id of the image"),
    PROP_STR("bus", IDEDrive, bus_name, NULL, "the IDE bus (ide.0, ide.1)"),
    PROP_U32("unit", IDEDrive, unit, UINT32_MAX,
             "0 (master) or 1 (slave)"),
    PROP_STR("serial", IDEDrive, serial, NULL, "serial number (IDENTIFY)"),
    PROP_STR("model", IDEDrive, model, NULL, "model name (IDENTIFY)"),
    PROP_U32("bootindex", IDEDrive, bootindex, UINT32_MAX,
             "boot order position"),
    PROP_END,
};

static DeviceClass ide_hd_class = {
    .name = "ide-hd",
    .desc = "virtual IDE disk",
    .bus = "IDE",
    .instance_size = sizeof(IDEDrive),
    .props = ide_drive_props,
    .user_creatable = true,
    .realize = ide_hd_realize,
    .unrealize = ide_drive_unrealize,
    .vmsd = &vmstate_ide_dev,
};
DEVICE_REGISTER(ide_hd_class)

static DeviceClass ide_cd_class = {
    .name = "ide-cd",
    .desc = "virtual IDE CD-ROM",
    .bus = "IDE",
    .instance_size = sizeof(IDEDrive),
    .props = ide_drive_props,
    .user_creatable = true,
    .realize = ide_cd_realize,
    .unrealize = ide_drive_unrealize,
    .vmsd = &vmstate_ide_dev,
};
DEVICE_REGISTER(ide_cd_class)

static DeviceClass ide_drive_class = {
    .name = "ide-drive",
    .desc = "virtual IDE disk or CD-ROM (deprecated)",
    .bus = "IDE",
    .instance_size = sizeof(IDEDrive),
    .props = ide_drive_props,
    .user_creatable = true,
    .realize = ide_drive_realize,
    .unrealize = ide_drive_unrealize,
    .vmsd = &vmstate_ide_dev,
};
DEVICE_REGISTER(ide_drive_class)
