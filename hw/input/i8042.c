/*
 * The 8042 keyboard controller, as far as this stage needs it: the command
 * byte, self tests, the output port (reset line and A20) and the 0xFE pulse
 * command that resets the PC. No keyboard or mouse is attached yet: bytes
 * for them come back as a timeout, which is what a PC without one says.
 */
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "util/opts.h"

/* status register bits */
#define STR_OBF 0x01
#define STR_SYSFLAG 0x04
#define STR_CMD 0x08
#define STR_KEYLOCK 0x10
#define STR_AUXDATA 0x20
#define STR_TIMEOUT 0x40

/* command byte bits */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20

typedef struct I8042 {
    Device dev;
    MemoryRegion data_io;
    MemoryRegion cmd_io;
    IRQLine *kbd_irq;
    IRQLine *aux_irq;
    uint8_t status;
    uint8_t ctr;
    uint8_t outport;
    uint8_t out;            /* one-byte output buffer */
    uint8_t pending_cmd;    /* command awaiting a data byte */
} I8042;

static void update_irq(I8042 *s)
{
    bool full = s->status & STR_OBF;
    bool aux = s->status & STR_AUXDATA;
    irq_set(s->kbd_irq, full && !aux && (s->ctr & CTR_KBDINT));
    irq_set(s->aux_irq, full && aux && (s->ctr & CTR_AUXINT));
}

static void put_output(I8042 *s, uint8_t val, uint8_t flags)
{
    s->out = val;
    s->status = (s->status & ~(STR_AUXDATA | STR_TIMEOUT)) | STR_OBF | flags;
    update_irq(s);
}

static void write_outport(I8042 *s, uint8_t val)
{
    s->outport = val;
    if (!(val & 0x01)) {
        /* bit 0 low asserts the CPU reset line */
        vm_request_reset(SHUTDOWN_GUEST_RESET);
    }
}

static uint64_t i8042_data_read(void *opaque, hwaddr addr, unsigned size)
{
    I8042 *s = opaque;
    s->status &= ~(STR_OBF | STR_AUXDATA);
    update_irq(s);
    return s->out;
}

static void i8042_data_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    I8042 *s = opaque;
    uint8_t cmd = s->pending_cmd;

    s->pending_cmd = 0;
    s->status &= ~STR_CMD;
    switch (cmd) {
    case 0x60:
        s->ctr = val;
        update_irq(s);
        break;
    case 0xd1:
        write_outport(s, val);
        break;
    case 0xd2:  /* write keyboard output buffer */
        put_output(s, val, 0);
        break;
    case 0xd3:  /* write aux output buffer */
        put_output(s, val, STR_AUXDATA);
        break;
    case 0xd4:  /* to the mouse: none attached */
        put_output(s, 0xfe, STR_AUXDATA | STR_TIMEOUT);
        break;
    default:    /* to the keyboard: none attached */
        put_output(s, 0xfe, STR_TIMEOUT);
        break;
    }
}

static uint64_t i8042_status_read(void *opaque, hwaddr addr, unsigned size)
{
    return ((I8042 *)opaque)->status;
}

static void i8042_cmd_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    I8042 *s = opaque;

    s->status |= STR_CMD;
    switch (val) {
    case 0x20:
        put_output(s, s->ctr, 0);
        break;
    case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
        s->pending_cmd = val;
        break;
    /* port disable/enable show in the command byte */
    case 0xa7:
        s->ctr |= CTR_AUXDIS;
        break;
    case 0xa8:
        s->ctr &= ~CTR_AUXDIS;
        break;
    case 0xad:
        s->ctr |= CTR_KBDDIS;
        break;
    case 0xae:
        s->ctr &= ~CTR_KBDDIS;
        break;
    case 0xa9: case 0xab:
        put_output(s, 0x00, 0);  /* interface test passed */
        break;
    case 0xaa:
        put_output(s, 0x55, 0);  /* controller self-test passed */
        break;
    case 0xd0:
        put_output(s, s->outport, 0);
        break;
    case 0xdd: case 0xdf:        /* A20 off/on: A20 is always on */
        break;
    default:
        if ((val & 0xf0) == 0xf0 && !(val & 0x01)) {
            /* pulse output lines; bit 0 clear pulses the reset line */
            vm_request_reset(SHUTDOWN_GUEST_RESET);
        }
        break;
    }
}

static const MemoryRegionOps i8042_data_ops = {
    .read = i8042_data_read, .write = i8042_data_write,
    .impl_min = 1, .impl_max = 1,
};

static const MemoryRegionOps i8042_cmd_ops = {
    .read = i8042_status_read, .write = i8042_cmd_write,
    .impl_min = 1, .impl_max = 1,
};

static void i8042_reset(Device *dev)
{
    I8042 *s = (I8042 *)dev;
    s->status = STR_SYSFLAG | STR_KEYLOCK;
    s->ctr = CTR_KBDINT | 0x04 | 0x40;   /* ints, system flag, translate */
    s->outport = 0x03;                   /* reset line high, A20 on */
    s->pending_cmd = 0;
    s->out = 0;
    update_irq(s);
}

static bool i8042_realize(Device *dev, Machine *m, GError **errp)
{
    I8042 *s = (I8042 *)dev;

    s->kbd_irq = &m->gsi[1];
    s->aux_irq = &m->gsi[12];
    memory_region_init_io(&s->data_io, "i8042-data", &i8042_data_ops, s, 1);
    memory_region_init_io(&s->cmd_io, "i8042-cmd", &i8042_cmd_ops, s, 1);
    memory_region_add_subregion(m->io, 0x60, &s->data_io);
    memory_region_add_subregion(m->io, 0x64, &s->cmd_io);
    i8042_reset(dev);
    return true;
}

static void i8042_unrealize(Device *dev)
{
    I8042 *s = (I8042 *)dev;
    memory_region_destroy(&s->data_io);
    memory_region_destroy(&s->cmd_io);
}

/* ---- migration ---- */

static bool i8042_post_load(void *opaque, int version_id, GError **errp)
{
    I8042 *s = opaque;

    switch (s->pending_cmd) {
    case 0: case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
        break;
    default:
        g_set_error(errp, VIREO_ERROR, 0,
                    "0x%02x is not a command that waits for a data byte",
                    s->pending_cmd);
        return false;
    }
    update_irq(s);
    return true;
}

static const VMStateField i8042_fields[] = {
    VMSTATE_UINT8(status, I8042),
    VMSTATE_UINT8(ctr, I8042),
    VMSTATE_UINT8(outport, I8042),
    VMSTATE_UINT8(out, I8042),
    VMSTATE_UINT8(pending_cmd, I8042),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_i8042 = {
    .name = "i8042",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = i8042_fields,
    .post_load = i8042_post_load,
};

static DeviceClass i8042_class = {
    .name = "i8042",
    .desc = "PS/2 keyboard controller",
    .bus = "ISA",
    .instance_size = sizeof(I8042),
    .realize = i8042_realize,
    .reset = i8042_reset,
    .unrealize = i8042_unrealize,
    .vmsd = &vmstate_i8042,
};
DEVICE_REGISTER(i8042_class)
