/*
 * Bochs/QEMU debug console ("isa-debugcon", -debugcon): bytes written to
 * port 0xe9 go to a chardev; reads return 0xe9 so firmware can detect the
 * port (the Bochs "port e9 hack" convention).
 */
#include "chardev/char.h"
#include "hw/device.h"
#include "hw/i386/x86.h"
#include "util/opts.h"

typedef struct DebugconState {
    Device dev;
    uint32_t iobase;
    uint32_t readback;
    char *chardev;

    Machine *m;
    Chardev *chr;
    MemoryRegion io;
    bool io_mapped;
} DebugconState;

static void debugcon_write(void *opaque, hwaddr addr, uint64_t val,
                           unsigned size)
{
    DebugconState *s = opaque;
    uint8_t c = val;

    chardev_write(s->chr, &c, 1);
}

static uint64_t debugcon_read(void *opaque, hwaddr addr, unsigned size)
{
    DebugconState *s = opaque;

    return s->readback & 0xff;
}

static const MemoryRegionOps debugcon_ops = {
    .read = debugcon_read,
    .write = debugcon_write,
    .impl_min = 1,
    .impl_max = 1,
};

static bool debugcon_realize(Device *dev, Machine *m, GError **errp)
{
    DebugconState *s = (DebugconState *)dev;

    if (s->iobase > 0xffff) {
        g_set_error(errp, VIREO_ERROR, 0, "iobase 0x%x is outside the "
                    "I/O port space", s->iobase);
        return false;
    }
    if (s->chardev && *s->chardev) {
        s->chr = chardev_find(s->chardev);
        if (!s->chr) {
            g_set_error(errp, VIREO_ERROR, 0, "chardev '%s' not found",
                        s->chardev);
            return false;
        }
    }
    s->m = m;
    memory_region_init_io(&s->io, "debugcon", &debugcon_ops, s, 1);
    memory_region_add_subregion(m->io, s->iobase, &s->io);
    s->io_mapped = true;
    return true;
}

static void debugcon_unrealize(Device *dev)
{
    DebugconState *s = (DebugconState *)dev;

    if (s->io_mapped) {
        memory_region_del_subregion(s->m->io, &s->io);
        memory_region_destroy(&s->io);
        s->io_mapped = false;
    }
}

static const Property debugcon_props[] = {
    PROP_U32("iobase", DebugconState, iobase, 0xe9, "I/O port"),
    PROP_U32("readback", DebugconState, readback, 0xe9,
             "value guests read from the port"),
    PROP_STR("chardev", DebugconState, chardev, NULL, "character backend id"),
    PROP_END,
};

static DeviceClass debugcon_class = {
    .name = "isa-debugcon",
    .desc = "Bochs-style debug console on port 0xe9",
    .bus = "isa",
    .instance_size = sizeof(DebugconState),
    .props = debugcon_props,
    .user_creatable = true,
    .realize = debugcon_realize,
    .unrealize = debugcon_unrealize,
};

DEVICE_REGISTER(debugcon_class)
