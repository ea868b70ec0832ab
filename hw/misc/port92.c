/* System control port A (0x92): fast A20 gate and fast reset (bit 0). */
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "util/opts.h"

typedef struct Port92 {
    Device dev;
    MemoryRegion io;
    uint8_t value;
} Port92;

static uint64_t port92_read(void *opaque, hwaddr addr, unsigned size)
{
    return ((Port92 *)opaque)->value;
}

static void port92_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    Port92 *s = opaque;

    /* A20 stays enabled: KVM guests cannot mask it; the bit reads back */
    s->value = val & 0x02;
    if (val & 0x01) {
        vm_request_reset(SHUTDOWN_GUEST_RESET);
    }
}

static const MemoryRegionOps port92_ops = {
    .read = port92_read,
    .write = port92_write,
    .impl_min = 1,
    .impl_max = 1,
};

static bool port92_realize(Device *dev, Machine *m, GError **errp)
{
    Port92 *s = (Port92 *)dev;
    memory_region_init_io(&s->io, "port92", &port92_ops, s, 1);
    memory_region_add_subregion(m->io, 0x92, &s->io);
    return true;
}

static void port92_unrealize(Device *dev)
{
    memory_region_destroy(&((Port92 *)dev)->io);
}

static void port92_reset(Device *dev)
{
    ((Port92 *)dev)->value = 0x02;
}

static bool port92_post_load(void *opaque, int version_id, GError **errp)
{
    Port92 *s = opaque;

    if (s->value & ~0x02) {
        g_set_error(errp, VIREO_ERROR, 0, "value 0x%02x has bits other "
                    "than A20 (0x02)", s->value);
        return false;
    }
    return true;
}

static const VMStateField port92_fields[] = {
    VMSTATE_UINT8(value, Port92),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_port92 = {
    .name = "port92",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = port92_fields,
    .post_load = port92_post_load,
};

static DeviceClass port92_class = {
    .name = "port92",
    .desc = "system control port A",
    .bus = "ISA",
    .instance_size = sizeof(Port92),
    .realize = port92_realize,
    .reset = port92_reset,
    .unrealize = port92_unrealize,
    .vmsd = &vmstate_port92,
};
DEVICE_REGISTER(port92_class)
