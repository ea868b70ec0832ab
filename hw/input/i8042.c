/*
 * The 8042 keyboard controller (Intel 8242/8042 as IBM's PC/AT and PS/2
 * firmware programs it): status and command byte, controller commands, the
 * output port (reset line, A20), scancode translation (set 2 -> set 1), and
 * a PS/2 keyboard and mouse behind it (hw/input/ps2.c) on IRQ 1 and IRQ 12.
 */
#include "hw/i386/x86.h"
#include "hw/input/ps2.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "ui/input.h"
#include "util/opts.h"

/* status register bits */
#define STR_OBF 0x01
#define STR_SYSFLAG 0x04
#define STR_CMD 0x08
#define STR_KEYLOCK 0x10        /* 1: keyboard not inhibited */
#define STR_AUXDATA 0x20        /* the output buffer holds a mouse byte */
#define STR_TIMEOUT 0x40

/* command byte bits */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYSFLAG 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

/* output port bits */
#define OUT_RESET 0x01          /* 0 asserts the CPU reset line */
#define OUT_A20 0x02
#define OUT_KBD_OBF 0x10        /* mirror the output buffer's interrupts */
#define OUT_AUX_OBF 0x20

/* controller commands */
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPORT 0xc0
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_A20_OFF 0xdd
#define CMD_A20_ON 0xdf

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
    /* a controller reply waiting for the output buffer to empty */
    bool reply_pending;
    uint8_t reply;
    uint8_t reply_flags;    /* STR_AUXDATA or 0 */
    bool xlat_break;        /* translation took a 0xF0 and waits for its code */
    bool refilling;
    PS2Keyboard *kbd;
    PS2Mouse *mouse;
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

/*
 * Fills an empty output buffer: a controller reply first, then the
 * keyboard, then the mouse, each only while its port is enabled. Keyboard
 * bytes go through the set 2 -> set 1 translation when the command byte
 * asks for it; a break prefix (0xF0) becomes bit 7 of the code after it.
 */
static void refill(I8042 *s)
{
    if ((s->status & STR_OBF) || s->refilling) {
        return;
    }
    s->refilling = true;
    if (s->reply_pending) {
        s->reply_pending = false;
        put_output(s, s->reply, s->reply_flags);
    } else if (!(s->ctr & CTR_KBDDIS) && ps2_keyboard_has_data(s->kbd)) {
        while (ps2_keyboard_has_data(s->kbd)) {
            uint8_t b = ps2_keyboard_read(s->kbd);

            if (!(s->ctr & CTR_XLATE)) {
                put_output(s, b, 0);
                break;
            }
            if (b == 0xf0) {
                s->xlat_break = true;
                continue;
            }
            b = scancode_set2_to_set1(b) | (s->xlat_break ? 0x80 : 0);
            s->xlat_break = false;
            put_output(s, b, 0);
            break;
        }
    } else if (!(s->ctr & CTR_AUXDIS) && ps2_mouse_has_data(s->mouse)) {
        put_output(s, ps2_mouse_read(s->mouse), STR_AUXDATA);
    }
    s->refilling = false;
}

static void i8042_data_ready(void *opaque)
{
    refill(opaque);
}

/* A byte from the controller itself: waits for an empty output buffer. */
static void ctrl_reply(I8042 *s, uint8_t val, uint8_t flags)
{
    if (s->status & STR_OBF) {
        s->reply_pending = true;
        s->reply = val;
        s->reply_flags = flags;
    } else {
        put_output(s, val, flags);
    }
}

static void write_outport(I8042 *s, uint8_t val)
{
    s->outport = val & ~(OUT_KBD_OBF | OUT_AUX_OBF);
    if (!(val & OUT_RESET)) {
        vm_request_reset(SHUTDOWN_GUEST_RESET);
    }
}

static uint8_t read_outport(I8042 *s)
{
    uint8_t v = s->outport;

    if (s->status & STR_OBF) {
        v |= s->status & STR_AUXDATA ? OUT_AUX_OBF : OUT_KBD_OBF;
    }
    return v;
}

static void write_ctr(I8042 *s, uint8_t val)
{
    s->ctr = val;
    s->status = (s->status & ~STR_SYSFLAG) | (val & CTR_SYSFLAG);
    if (!(val & CTR_XLATE)) {
        s->xlat_break = false;
    }
    update_irq(s);
    refill(s);
}

static uint64_t i8042_data_read(void *opaque, hwaddr addr, unsigned size)
{
    I8042 *s = opaque;
    uint8_t val = s->out;

    s->status &= ~(STR_OBF | STR_AUXDATA);
    update_irq(s);
    refill(s);
    return val;
}

static void i8042_data_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    I8042 *s = opaque;
    uint8_t cmd = s->pending_cmd;

    s->pending_cmd = 0;
    s->status &= ~STR_CMD;
    switch (cmd) {
    case CMD_WRITE_CTR:
        write_ctr(s, val);
        break;
    case CMD_WRITE_OUTPORT:
        write_outport(s, val);
        break;
    case CMD_WRITE_KBD_OBUF:
        ctrl_reply(s, val, 0);
        break;
    case CMD_WRITE_AUX_OBUF:
        ctrl_reply(s, val, STR_AUXDATA);
        break;
    case CMD_WRITE_AUX:
        ps2_mouse_write(s->mouse, val);
        break;
    default:
        /* the keyboard drops what it was sending to take the command */
        s->xlat_break = false;
        ps2_keyboard_write(s->kbd, val);
        break;
    }
    refill(s);
}

static uint64_t i8042_status_read(void *opaque, hwaddr addr, unsigned size)
{
    return ((I8042 *)opaque)->status;
}

static void i8042_cmd_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    I8042 *s = opaque;

    /* a new command abandons one still waiting for its data byte */
    s->pending_cmd = 0;
    s->status |= STR_CMD;
    switch (val) {
    case CMD_READ_CTR:
        ctrl_reply(s, s->ctr, 0);
        break;
    case CMD_WRITE_CTR:
    case CMD_WRITE_OUTPORT:
    case CMD_WRITE_KBD_OBUF:
    case CMD_WRITE_AUX_OBUF:
    case CMD_WRITE_AUX:
        s->pending_cmd = val;
        break;
    /* port disable/enable show in the command byte */
    case CMD_AUX_DISABLE:
        write_ctr(s, s->ctr | CTR_AUXDIS);
        break;
    case CMD_AUX_ENABLE:
        write_ctr(s, s->ctr & ~CTR_AUXDIS);
        break;
    case CMD_KBD_DISABLE:
        write_ctr(s, s->ctr | CTR_KBDDIS);
        break;
    case CMD_KBD_ENABLE:
        write_ctr(s, s->ctr & ~CTR_KBDDIS);
        break;
    case CMD_AUX_TEST:
    case CMD_KBD_TEST:
        ctrl_reply(s, 0x00, 0);  /* interface test passed */
        break;
    case CMD_SELF_TEST:
        ctrl_reply(s, 0x55, 0);  /* controller self-test passed */
        break;
    case CMD_READ_INPORT:
        ctrl_reply(s, 0x80, 0);  /* keyboard not inhibited */
        break;
    case CMD_READ_OUTPORT:
        ctrl_reply(s, read_outport(s), 0);
        break;
    case CMD_A20_OFF:            /* A20 stays on, as with port 0x92 */
    case CMD_A20_ON:
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
    s->ctr = CTR_KBDINT | CTR_SYSFLAG | CTR_XLATE;
    s->outport = OUT_RESET | OUT_A20;
    s->pending_cmd = 0;
    s->out = 0;
    s->reply_pending = false;
    s->reply = 0;
    s->reply_flags = 0;
    s->xlat_break = false;
    ps2_keyboard_reset(s->kbd);
    ps2_mouse_reset(s->mouse);
    update_irq(s);
}

static bool i8042_realize(Device *dev, Machine *m, GError **errp)
{
    I8042 *s = (I8042 *)dev;

    s->kbd_irq = &m->gsi[1];
    s->aux_irq = &m->gsi[12];
    s->kbd = ps2_keyboard_new(i8042_data_ready, s);
    s->mouse = ps2_mouse_new(i8042_data_ready, s);
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
    ps2_keyboard_free(s->kbd);
    ps2_mouse_free(s->mouse);
    s->kbd = NULL;
    s->mouse = NULL;
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
    if (s->reply_flags & ~STR_AUXDATA) {
        g_set_error(errp, VIREO_ERROR, 0, "reply flags 0x%02x are not a "
                    "status bit", s->reply_flags);
        return false;
    }
    s->refilling = false;
    update_irq(s);
    return true;
}

static const VMStateField i8042_fields[] = {
    VMSTATE_UINT8(status, I8042),
    VMSTATE_UINT8(ctr, I8042),
    VMSTATE_UINT8(outport, I8042),
    VMSTATE_UINT8(out, I8042),
    VMSTATE_UINT8(pending_cmd, I8042),
    VMSTATE_BOOL_V(reply_pending, I8042, 2),
    VMSTATE_UINT8_V(reply, I8042, 2),
    VMSTATE_UINT8_V(reply_flags, I8042, 2),
    VMSTATE_BOOL_V(xlat_break, I8042, 2),
    VMSTATE_STRUCT_POINTER_V(kbd, I8042, vmstate_ps2_keyboard, PS2Keyboard,
                             2),
    VMSTATE_STRUCT_POINTER_V(mouse, I8042, vmstate_ps2_mouse, PS2Mouse, 2),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_i8042 = {
    .name = "i8042",
    .version_id = 2,
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
