/*
 * isa-debug-exit: a write of value v ends the VMM with status (v << 1) | 1,
 * QEMU's rule, so a test guest can report pass or fail through the status.
 */
#include "hw/i386/x86.h"
#include "system/runstate.h"
#include "util/opts.h"

typedef struct DebugExit {
    Device dev;
    uint32_t iobase;
    uint32_t iosize;
    MemoryRegion io;
} DebugExit;

static void debug_exit_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    vm_request_shutdown(SHUTDOWN_DEBUG_EXIT, (int)((val << 1) | 1) & 0xff);
}

static const MemoryRegionOps debug_exit_ops = {
    .write = debug_exit_write,
    .impl_min = 1,
    .impl_max = 4,
};

static bool debug_exit_realize(Device *dev, Machine *m, GError **errp)
{
    DebugExit *s = (DebugExit *)dev;

    if (s->iosize < 1 || s->iosize > 4 || s->iobase + s->iosize > 0x10000) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "iobase=0x%x iosize=%u is outside the I/O port space or "
                    "iosize is not 1-4", s->iobase, s->iosize);
        return false;
    }
    memory_region_init_io(&s->io, "isa-debug-exit", &debug_exit_ops, s,
                          s->iosize);
    memory_region_add_subregion(m->io, s->iobase, &s->io);
    return true;
}

static void debug_exit_unrealize(Device *dev)
{
    memory_region_destroy(&((DebugExit *)dev)->io);
}

static const Property debug_exit_props[] = {
    PROP_U32("iobase", DebugExit, iobase, 0x501, "I/O port"),
    PROP_U32("iosize", DebugExit, iosize, 2, "bytes of ports"),
    PROP_END,
};

static DeviceClass debug_exit_class = {
    .name = "isa-debug-exit",
    .desc = "exit the VMM with a status the guest writes",
    .bus = "ISA",
    .instance_size = sizeof(DebugExit),
    .props = debug_exit_props,
    .user_creatable = true,
    .realize = debug_exit_realize,
    .unrealize = debug_exit_unrealize,
};
DEVICE_REGISTER(debug_exit_class)
