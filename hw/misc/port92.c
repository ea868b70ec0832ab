/* System control port A (0x92): fast A20 gate and fast reset (bit 0). */
#include "hw/i386/x86.h"
#include "system/runstate.h"

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

static DeviceClass port92_class = {
    .name = "port92",
    .desc = "system control port A",
    .bus = "ISA",
    .instance_size = sizeof(Port92),
    .realize = port92_realize,
    .reset = port92_reset,
    .unrealize = port92_unrealize,
};
DEVICE_REGISTER(port92_class)
