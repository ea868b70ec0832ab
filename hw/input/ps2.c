/*
 * PS/2 keyboard (IBM PS/2 keyboard technical reference: commands, scancode
 * sets 1 and 2) and PS/2 mouse with Microsoft's IntelliMouse and
 * IntelliMouse Explorer extensions (wheel, buttons 4 and 5).
 */
#include <string.h>

#include <glib.h>

#include "hw/input/ps2.h"
#include "migration/vmstate.h"
#include "ui/input.h"
#include "util/opts.h"

/*
 * Each device queues up to 256 bytes, as QEMU's do; scancodes and motion
 * packets leave the last few for command replies, so a flood of keys never
 * keeps a driver from talking to its device.
 */
#define PS2_QUEUE_SIZE      256
#define PS2_QUEUE_HEADROOM  8

/* Replies */
#define PS2_REPLY_ACK       0xfa
#define PS2_REPLY_RESEND    0xfe
#define PS2_REPLY_BAT_OK    0xaa

/* Keyboard commands */
#define KBD_CMD_SET_LEDS    0xed
#define KBD_CMD_ECHO        0xee
#define KBD_CMD_SCANCODE    0xf0
#define KBD_CMD_GET_ID      0xf2
#define KBD_CMD_SET_RATE    0xf3
#define KBD_CMD_ENABLE      0xf4
#define KBD_CMD_RESET_DIS   0xf5
#define KBD_CMD_RESET_ENA   0xf6
#define KBD_CMD_RESEND      0xfe
#define KBD_CMD_RESET       0xff

/* Mouse commands */
#define AUX_SET_SCALE11     0xe6
#define AUX_SET_SCALE21     0xe7
#define AUX_SET_RES         0xe8
#define AUX_GET_SCALE       0xe9    /* status request */
#define AUX_SET_STREAM      0xea
#define AUX_POLL            0xeb    /* read data */
#define AUX_RESET_WRAP      0xec
#define AUX_SET_WRAP        0xee
#define AUX_SET_REMOTE      0xf0
#define AUX_GET_TYPE        0xf2
#define AUX_SET_SAMPLE      0xf3
#define AUX_ENABLE_DEV      0xf4
#define AUX_DISABLE_DEV     0xf5
#define AUX_SET_DEFAULT     0xf6
#define AUX_RESEND          0xfe
#define AUX_RESET           0xff

/* Mouse status byte (status request) */
#define MOUSE_STATUS_REMOTE  0x40
#define MOUSE_STATUS_ENABLED 0x20
#define MOUSE_STATUS_SCALE21 0x10

#define KBD_TYPEMATIC_DEFAULT 0x2b  /* 10.9 cps, 500 ms */
#define MOUSE_MOVE_MAX 32767        /* pending motion saturates here */

typedef struct PS2Queue {
    uint8_t data[PS2_QUEUE_SIZE];
    uint32_t rptr;
    uint32_t count;
} PS2Queue;

/* Modifiers the print screen and pause sequences depend on */
#define MOD_SHIFT 0x01
#define MOD_CTRL  0x02
#define MOD_ALT   0x04

struct PS2Keyboard {
    PS2Queue q;
    PS2DataReady *ready;
    void *opaque;
    InputHandlerEntry *handler;
    uint8_t last;           /* the last byte read, for resend */
    uint8_t pending_cmd;    /* command waiting for its argument, or 0 */
    uint8_t scancode_set;   /* 1 or 2 */
    bool scanning;
    uint8_t leds;
    uint8_t typematic;
    bool overrun;           /* an overrun code is queued */
    uint8_t modifiers;      /* left/right shift, ctrl, alt: 2 bits each */
};

struct PS2Mouse {
    PS2Queue q;
    PS2DataReady *ready;
    void *opaque;
    InputHandlerEntry *handler;
    uint8_t last;
    uint8_t pending_cmd;
    uint8_t status;         /* MOUSE_STATUS_* */
    uint8_t resolution;
    uint8_t sample_rate;
    bool wrap;
    uint8_t type;           /* 0 PS/2, 3 IntelliMouse, 4 Explorer */
    uint8_t detect_state;   /* progress through a sample-rate knock */
    uint8_t buttons;        /* bit 0 left, 1 right, 2 middle, 3 side, 4 extra */
    bool buttons_changed;
    int32_t dx, dy, dz;     /* motion not yet sent; dy grows upwards */
};

/* ---- queue ---- */

static void queue_reset(PS2Queue *q)
{
    q->rptr = 0;
    q->count = 0;
}

static uint32_t queue_room(PS2Queue *q, bool reply)
{
    uint32_t size = reply ? PS2_QUEUE_SIZE
                          : PS2_QUEUE_SIZE - PS2_QUEUE_HEADROOM;
    return q->count < size ? size - q->count : 0;
}

/* Appends all n bytes, or none when they don't fit. */
static bool queue_put(PS2Queue *q, const uint8_t *b, uint32_t n, bool reply)
{
    if (queue_room(q, reply) < n) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        q->data[(q->rptr + q->count) % PS2_QUEUE_SIZE] = b[i];
        q->count++;
    }
    return true;
}

static bool queue_get(PS2Queue *q, uint8_t *b)
{
    if (!q->count) {
        return false;
    }
    *b = q->data[q->rptr];
    q->rptr = (q->rptr + 1) % PS2_QUEUE_SIZE;
    q->count--;
    return true;
}

/* ---- keyboard ---- */

static void kbd_reply(PS2Keyboard *k, const uint8_t *b, uint32_t n)
{
    if (queue_put(&k->q, b, n, true)) {
        k->ready(k->opaque);
    }
}

static void kbd_reply1(PS2Keyboard *k, uint8_t b)
{
    kbd_reply(k, &b, 1);
}

/* The power-on defaults (F5/F6 and reset). */
static void kbd_set_defaults(PS2Keyboard *k)
{
    k->scancode_set = 2;
    k->typematic = KBD_TYPEMATIC_DEFAULT;
    k->leds = 0;
    input_kbd_leds_set(0);
}

/* A byte that a command was waiting for. */
static void kbd_write_argument(PS2Keyboard *k, uint8_t cmd, uint8_t val)
{
    switch (cmd) {
    case KBD_CMD_SET_LEDS:
        k->leds = val & 0x07;
        input_kbd_leds_set(k->leds);
        kbd_reply1(k, PS2_REPLY_ACK);
        break;
    case KBD_CMD_SET_RATE:
        k->typematic = val & 0x7f;
        kbd_reply1(k, PS2_REPLY_ACK);
        break;
    case KBD_CMD_SCANCODE:
        if (val == 0) {
            uint8_t r[2] = { PS2_REPLY_ACK, k->scancode_set };
            kbd_reply(k, r, 2);
        } else if (val <= 3) {
            /* set 3 is acknowledged but the keyboard stays in set 2 */
            k->scancode_set = val == 1 ? 1 : 2;
            kbd_reply1(k, PS2_REPLY_ACK);
        } else {
            /* a set the keyboard lacks: ask again, still waiting */
            k->pending_cmd = cmd;
            kbd_reply1(k, PS2_REPLY_RESEND);
        }
        break;
    }
}

void ps2_keyboard_write(PS2Keyboard *k, uint8_t val)
{
    uint8_t cmd = k->pending_cmd;

    k->pending_cmd = 0;
    /* a command byte (0xED and up) aborts a command waiting for data */
    if (cmd && val < KBD_CMD_SET_LEDS) {
        kbd_write_argument(k, cmd, val);
        return;
    }
    switch (val) {
    case KBD_CMD_SET_LEDS:
    case KBD_CMD_SET_RATE:
    case KBD_CMD_SCANCODE:
        k->pending_cmd = val;
        kbd_reply1(k, PS2_REPLY_ACK);
        break;
    case KBD_CMD_ECHO:
        kbd_reply1(k, KBD_CMD_ECHO);
        break;
    case KBD_CMD_GET_ID: {
        /* an MF2 keyboard; the 8042 turns 0x83 into 0x41 when translating */
        uint8_t r[3] = { PS2_REPLY_ACK, 0xab, 0x83 };
        kbd_reply(k, r, 3);
        break;
    }
    case KBD_CMD_ENABLE:
        queue_reset(&k->q);
        k->overrun = false;
        k->scanning = true;
        kbd_reply1(k, PS2_REPLY_ACK);
        break;
    case KBD_CMD_RESET_DIS:
    case KBD_CMD_RESET_ENA:
        queue_reset(&k->q);
        k->overrun = false;
        kbd_set_defaults(k);
        k->scanning = val == KBD_CMD_RESET_ENA;
        kbd_reply1(k, PS2_REPLY_ACK);
        break;
    case 0xf7: case 0xf8: case 0xf9: case 0xfa:
    case 0xfb: case 0xfc: case 0xfd:
        /* set 3 key types: nothing to do in set 2 */
        kbd_reply1(k, PS2_REPLY_ACK);
        break;
    case KBD_CMD_RESEND:
        kbd_reply1(k, k->last);
        break;
    case KBD_CMD_RESET: {
        uint8_t r[2] = { PS2_REPLY_ACK, PS2_REPLY_BAT_OK };
        ps2_keyboard_reset(k);
        kbd_reply(k, r, 2);
        break;
    }
    default:
        kbd_reply1(k, PS2_REPLY_RESEND);
        break;
    }
}

/* Set 2 bytes -> set 1: break prefixes fold into bit 7 of the code. */
static uint32_t set2_to_set1(const uint8_t *in, uint32_t n, uint8_t *out)
{
    uint32_t len = 0;
    bool brk = false;

    for (uint32_t i = 0; i < n; i++) {
        if (in[i] == 0xf0) {
            brk = true;
            continue;
        }
        out[len++] = scancode_set2_to_set1(in[i]) | (brk ? 0x80 : 0);
        brk = false;
    }
    return len;
}

static uint8_t modifier_bit(QKeyCode q)
{
    switch (q) {
    case Q_KEY_CODE_SHIFT:
        return MOD_SHIFT;
    case Q_KEY_CODE_SHIFT_R:
        return MOD_SHIFT << 4;
    case Q_KEY_CODE_CTRL:
        return MOD_CTRL;
    case Q_KEY_CODE_CTRL_R:
        return MOD_CTRL << 4;
    case Q_KEY_CODE_ALT:
        return MOD_ALT;
    case Q_KEY_CODE_ALT_R:
        return MOD_ALT << 4;
    default:
        return 0;
    }
}

/* The set 2 bytes of a key event; 0 when the key sends nothing. */
static uint32_t kbd_set2_sequence(PS2Keyboard *k, QKeyCode q, bool down,
                                  uint8_t *seq)
{
    uint8_t mods = (k->modifiers | k->modifiers >> 4) & 0x0f;
    uint16_t code;
    uint32_t n = 0;

    if (q == Q_KEY_CODE_PAUSE) {
        /* make only; with ctrl it is Break */
        static const uint8_t pause[] = {
            0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };
        static const uint8_t ctrl_break[] = { 0xe0, 0x7e, 0xe0, 0xf0, 0x7e };
        if (!down) {
            return 0;
        }
        if (mods & MOD_CTRL) {
            memcpy(seq, ctrl_break, sizeof(ctrl_break));
            return sizeof(ctrl_break);
        }
        memcpy(seq, pause, sizeof(pause));
        return sizeof(pause);
    }
    if (q == Q_KEY_CODE_PRINT) {
        if (mods & MOD_ALT) {
            code = 0x84;                /* SysRq */
        } else if (mods & (MOD_SHIFT | MOD_CTRL)) {
            code = 0xe07c;
        } else if (down) {
            static const uint8_t make[] = { 0xe0, 0x12, 0xe0, 0x7c };
            memcpy(seq, make, sizeof(make));
            return sizeof(make);
        } else {
            static const uint8_t brk[] = {
                0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12 };
            memcpy(seq, brk, sizeof(brk));
            return sizeof(brk);
        }
    } else {
        code = qkeycode_to_set2(q);
    }
    if (!code) {
        return 0;
    }
    if (code >> 8) {
        seq[n++] = code >> 8;
    }
    if (!down) {
        seq[n++] = 0xf0;
    }
    seq[n++] = code & 0xff;
    return n;
}

static void kbd_key_event(PS2Keyboard *k, QKeyCode q, bool down)
{
    uint8_t set2[16], out[16];
    uint32_t n;
    uint8_t bit = modifier_bit(q);

    if (bit) {
        k->modifiers = down ? k->modifiers | bit : k->modifiers & ~bit;
    }
    if (!k->scanning) {
        return;
    }
    n = kbd_set2_sequence(k, q, down, set2);
    if (!n) {
        return;
    }
    if (k->scancode_set == 1) {
        n = set2_to_set1(set2, n, out);
    } else {
        memcpy(out, set2, n);
    }
    if (queue_put(&k->q, out, n, false)) {
        k->ready(k->opaque);
    } else if (!k->overrun) {
        /* buffer full: one overrun code, then keys are lost (as hardware) */
        uint8_t overrun = k->scancode_set == 1 ? 0xff : 0x00;
        k->overrun = true;
        kbd_reply1(k, overrun);
    }
}

static void kbd_input_event(void *opaque, const InputEvent *evt)
{
    kbd_key_event(opaque, evt->u.key.qcode, evt->u.key.down);
}

static const InputHandler kbd_input_handler = {
    .name = "QEMU PS/2 Keyboard",
    .mask = INPUT_EVENT_MASK_KEY,
    .event = kbd_input_event,
};

bool ps2_keyboard_has_data(PS2Keyboard *k)
{
    return k->q.count > 0;
}

uint8_t ps2_keyboard_read(PS2Keyboard *k)
{
    queue_get(&k->q, &k->last);
    if (!k->q.count) {
        k->overrun = false;
    }
    return k->last;
}

void ps2_keyboard_reset(PS2Keyboard *k)
{
    queue_reset(&k->q);
    k->last = 0;
    k->pending_cmd = 0;
    k->scanning = true;
    k->overrun = false;
    kbd_set_defaults(k);
}

PS2Keyboard *ps2_keyboard_new(PS2DataReady *ready, void *opaque)
{
    PS2Keyboard *k = g_new0(PS2Keyboard, 1);

    k->ready = ready;
    k->opaque = opaque;
    k->handler = input_handler_register(&kbd_input_handler, k);
    ps2_keyboard_reset(k);
    return k;
}

void ps2_keyboard_free(PS2Keyboard *k)
{
    if (k) {
        input_handler_unregister(k->handler);
        g_free(k);
    }
}

/* ---- mouse ---- */

static void mouse_reply(PS2Mouse *m, const uint8_t *b, uint32_t n)
{
    if (queue_put(&m->q, b, n, true)) {
        m->ready(m->opaque);
    }
}

static void mouse_reply1(PS2Mouse *m, uint8_t b)
{
    mouse_reply(m, &b, 1);
}

static int32_t clamp32(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* 2:1 scaling (stream mode only): small motions damped, larger doubled. */
static int32_t scale21(int32_t d)
{
    static const int32_t small[] = { 0, 1, 1, 3, 6, 9 };
    int32_t a = d < 0 ? -d : d;
    int32_t s = a <= 5 ? small[a] : 2 * a;

    return d < 0 ? -s : s;
}

/*
 * One movement packet from the pending motion: 3 bytes, 4 with a wheel.
 * Motion beyond what 9 bits hold stays pending for the next packet.
 */
static bool mouse_send_packet(PS2Mouse *m, bool reply)
{
    uint8_t p[4];
    uint32_t n = m->type ? 4 : 3;
    int32_t dx = clamp32(m->dx, -256, 255);
    int32_t dy = clamp32(m->dy, -256, 255);
    int32_t sx = dx, sy = dy, dz = 0;

    if (queue_room(&m->q, reply) < n) {
        return false;
    }
    if ((m->status & MOUSE_STATUS_SCALE21) && !reply) {
        sx = scale21(dx);
        sy = scale21(dy);
    }
    p[0] = 0x08 | (m->buttons & 0x07);
    p[0] |= (sx < 0 ? 0x10 : 0) | (sy < 0 ? 0x20 : 0);
    if (sx < -256 || sx > 255) {
        p[0] |= 0x40;
        sx = sx < 0 ? -256 : 255;
    }
    if (sy < -256 || sy > 255) {
        p[0] |= 0x80;
        sy = sy < 0 ? -256 : 255;
    }
    p[1] = sx & 0xff;
    p[2] = sy & 0xff;
    if (m->type == 3) {
        dz = clamp32(m->dz, -127, 127);
        p[3] = dz & 0xff;
    } else if (m->type == 4) {
        dz = clamp32(m->dz, -7, 7);
        p[3] = (dz & 0x0f) | ((m->buttons & 0x18) << 1);
    }
    queue_put(&m->q, p, n, reply);
    m->dx -= dx;
    m->dy -= dy;
    m->dz = m->type ? m->dz - dz : 0;
    m->buttons_changed = false;
    return true;
}

static bool mouse_streaming(PS2Mouse *m)
{
    return (m->status & MOUSE_STATUS_ENABLED) &&
           !(m->status & MOUSE_STATUS_REMOTE) && !m->wrap;
}

/* Packets for the pending motion while the queue has room. */
static bool mouse_flush(PS2Mouse *m)
{
    bool sent = false;

    if (!mouse_streaming(m)) {
        return false;
    }
    if (!m->type) {
        m->dz = 0;
    }
    while (m->buttons_changed || m->dx || m->dy || m->dz) {
        if (!mouse_send_packet(m, false)) {
            break;
        }
        sent = true;
    }
    return sent;
}

static void mouse_set_defaults(PS2Mouse *m)
{
    m->status = 0;
    m->resolution = 2;
    m->sample_rate = 100;
    m->dx = m->dy = m->dz = 0;
    m->buttons_changed = false;
}

/* IntelliMouse knocks: rates 200,100,80 -> ID 3; 200,200,80 -> ID 4. */
static void mouse_detect(PS2Mouse *m, uint8_t rate)
{
    switch (m->detect_state) {
    case 0:
        m->detect_state = rate == 200 ? 1 : 0;
        break;
    case 1:
        m->detect_state = rate == 100 ? 2 : rate == 200 ? 3 : 0;
        break;
    case 2:
        if (rate == 80) {
            m->type = 3;
        }
        m->detect_state = 0;
        break;
    case 3:
        if (rate == 80) {
            m->type = 4;
        }
        m->detect_state = 0;
        break;
    default:
        m->detect_state = 0;
        break;
    }
}

void ps2_mouse_write(PS2Mouse *m, uint8_t val)
{
    uint8_t cmd = m->pending_cmd;

    m->pending_cmd = 0;
    if (m->wrap) {
        /* wrap mode echoes everything but these two */
        if (val == AUX_RESET_WRAP) {
            m->wrap = false;
            mouse_reply1(m, PS2_REPLY_ACK);
        } else if (val == AUX_RESET) {
            m->wrap = false;
            ps2_mouse_write(m, val);
        } else {
            mouse_reply1(m, val);
        }
        return;
    }
    /* a command byte aborts a command waiting for data */
    if (cmd && val < AUX_SET_SCALE11) {
        if (cmd == AUX_SET_SAMPLE) {
            m->sample_rate = val;
            mouse_detect(m, val);
        } else {
            m->resolution = val & 0x03;
        }
        mouse_reply1(m, PS2_REPLY_ACK);
        return;
    }
    switch (val) {
    case AUX_SET_SCALE11:
        m->status &= ~MOUSE_STATUS_SCALE21;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_SET_SCALE21:
        m->status |= MOUSE_STATUS_SCALE21;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_SET_RES:
    case AUX_SET_SAMPLE:
        m->pending_cmd = val;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_GET_SCALE: {
        /* status: mode, enable, scaling, then left, middle, right */
        uint8_t b = m->buttons;
        uint8_t r[4] = { PS2_REPLY_ACK,
                         m->status | (b & 0x01) << 2 | (b & 0x04) >> 1 |
                         (b & 0x02) >> 1,
                         m->resolution, m->sample_rate };
        mouse_reply(m, r, 4);
        break;
    }
    case AUX_SET_STREAM:
        m->status &= ~MOUSE_STATUS_REMOTE;
        m->dx = m->dy = m->dz = 0;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_POLL:
        mouse_reply1(m, PS2_REPLY_ACK);
        if (!m->type) {
            m->dz = 0;
        }
        if (mouse_send_packet(m, true)) {
            m->ready(m->opaque);
        }
        break;
    case AUX_RESET_WRAP:
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_SET_WRAP:
        m->wrap = true;
        m->dx = m->dy = m->dz = 0;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_SET_REMOTE:
        m->status |= MOUSE_STATUS_REMOTE;
        m->dx = m->dy = m->dz = 0;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_GET_TYPE: {
        uint8_t r[2] = { PS2_REPLY_ACK, m->type };
        mouse_reply(m, r, 2);
        break;
    }
    case AUX_ENABLE_DEV:
        m->status |= MOUSE_STATUS_ENABLED;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_DISABLE_DEV:
        m->status &= ~MOUSE_STATUS_ENABLED;
        m->dx = m->dy = m->dz = 0;
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_SET_DEFAULT:
        mouse_set_defaults(m);
        mouse_reply1(m, PS2_REPLY_ACK);
        break;
    case AUX_RESEND:
        mouse_reply1(m, m->last);
        break;
    case AUX_RESET: {
        uint8_t r[3] = { PS2_REPLY_ACK, PS2_REPLY_BAT_OK, 0x00 };
        ps2_mouse_reset(m);
        mouse_reply(m, r, 3);
        break;
    }
    default:
        mouse_reply1(m, PS2_REPLY_RESEND);
        break;
    }
}

static void mouse_input_event(void *opaque, const InputEvent *evt)
{
    static const uint8_t button_bits[INPUT_BUTTON__MAX] = {
        [INPUT_BUTTON_LEFT] = 0x01, [INPUT_BUTTON_RIGHT] = 0x02,
        [INPUT_BUTTON_MIDDLE] = 0x04, [INPUT_BUTTON_SIDE] = 0x08,
        [INPUT_BUTTON_EXTRA] = 0x10,
    };
    PS2Mouse *m = opaque;
    bool remote = m->status & MOUSE_STATUS_REMOTE;

    /* a mouse that reports nothing counts nothing */
    if (!(m->status & MOUSE_STATUS_ENABLED) && !remote) {
        if (evt->kind == INPUT_EVENT_KIND_BTN &&
            evt->u.btn.button < INPUT_BUTTON__MAX) {
            uint8_t bit = button_bits[evt->u.btn.button];
            m->buttons = evt->u.btn.down ? m->buttons | bit
                                         : m->buttons & ~bit;
        }
        return;
    }
    if (evt->kind == INPUT_EVENT_KIND_REL) {
        if (evt->u.move.axis == INPUT_AXIS_X) {
            m->dx = clamp32((int64_t)m->dx + clamp32(evt->u.move.value,
                            -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX),
                            -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX);
        } else {
            /* PS/2 y grows upwards */
            m->dy = clamp32((int64_t)m->dy - clamp32(evt->u.move.value,
                            -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX),
                            -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX);
        }
    } else if (evt->kind == INPUT_EVENT_KIND_BTN &&
               evt->u.btn.button < INPUT_BUTTON__MAX) {
        InputButton b = evt->u.btn.button;
        uint8_t bit = button_bits[b];

        if (b == INPUT_BUTTON_WHEEL_UP || b == INPUT_BUTTON_WHEEL_DOWN) {
            if (evt->u.btn.down) {
                m->dz = clamp32((int64_t)m->dz +
                                (b == INPUT_BUTTON_WHEEL_UP ? -1 : 1),
                                -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX);
            }
        } else if (bit) {
            uint8_t old = m->buttons;
            m->buttons = evt->u.btn.down ? old | bit : old & ~bit;
            m->buttons_changed |= old != m->buttons;
        }
    }
}

static void mouse_input_sync(void *opaque)
{
    PS2Mouse *m = opaque;

    if (mouse_flush(m)) {
        m->ready(m->opaque);
    }
}

static const InputHandler mouse_input_handler = {
    .name = "QEMU PS/2 Mouse",
    .mask = INPUT_EVENT_MASK_BTN | INPUT_EVENT_MASK_REL,
    .event = mouse_input_event,
    .sync = mouse_input_sync,
};

bool ps2_mouse_has_data(PS2Mouse *m)
{
    return m->q.count > 0;
}

uint8_t ps2_mouse_read(PS2Mouse *m)
{
    queue_get(&m->q, &m->last);
    if (!m->q.count) {
        /* motion left over from a large move: the controller asks again */
        mouse_flush(m);
    }
    return m->last;
}

void ps2_mouse_reset(PS2Mouse *m)
{
    queue_reset(&m->q);
    m->last = 0;
    m->pending_cmd = 0;
    m->wrap = false;
    m->type = 0;
    m->detect_state = 0;
    mouse_set_defaults(m);
}

PS2Mouse *ps2_mouse_new(PS2DataReady *ready, void *opaque)
{
    PS2Mouse *m = g_new0(PS2Mouse, 1);

    m->ready = ready;
    m->opaque = opaque;
    m->handler = input_handler_register(&mouse_input_handler, m);
    ps2_mouse_reset(m);
    return m;
}

void ps2_mouse_free(PS2Mouse *m)
{
    if (m) {
        input_handler_unregister(m->handler);
        g_free(m);
    }
}

/* ---- migration ---- */

static bool queue_post_load(void *opaque, int version_id, GError **errp)
{
    PS2Queue *q = opaque;

    if (q->rptr >= PS2_QUEUE_SIZE || q->count > PS2_QUEUE_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0, "queue position %u or length %u "
                    "out of range", q->rptr, q->count);
        return false;
    }
    return true;
}

static const VMStateField ps2_queue_fields[] = {
    VMSTATE_BUFFER(data, PS2Queue),
    VMSTATE_UINT32(rptr, PS2Queue),
    VMSTATE_UINT32(count, PS2Queue),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ps2_queue = {
    .name = "ps2-queue",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ps2_queue_fields,
    .post_load = queue_post_load,
};

static bool kbd_post_load(void *opaque, int version_id, GError **errp)
{
    PS2Keyboard *k = opaque;

    if (!queue_post_load(&k->q, version_id, errp)) {
        return false;
    }
    if ((k->scancode_set != 1 && k->scancode_set != 2) || k->leds > 7 ||
        (k->pending_cmd && k->pending_cmd != KBD_CMD_SET_LEDS &&
         k->pending_cmd != KBD_CMD_SET_RATE &&
         k->pending_cmd != KBD_CMD_SCANCODE)) {
        g_set_error(errp, VIREO_ERROR, 0, "scancode set %u, LEDs 0x%02x or "
                    "pending command 0x%02x invalid", k->scancode_set,
                    k->leds, k->pending_cmd);
        return false;
    }
    input_kbd_leds_set(k->leds);
    return true;
}

static const VMStateField ps2_keyboard_fields[] = {
    VMSTATE_STRUCT(q, PS2Keyboard, vmstate_ps2_queue, PS2Queue),
    VMSTATE_UINT8(last, PS2Keyboard),
    VMSTATE_UINT8(pending_cmd, PS2Keyboard),
    VMSTATE_UINT8(scancode_set, PS2Keyboard),
    VMSTATE_BOOL(scanning, PS2Keyboard),
    VMSTATE_UINT8(leds, PS2Keyboard),
    VMSTATE_UINT8(typematic, PS2Keyboard),
    VMSTATE_BOOL(overrun, PS2Keyboard),
    VMSTATE_UINT8(modifiers, PS2Keyboard),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_ps2_keyboard = {
    .name = "ps2kbd",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ps2_keyboard_fields,
    .post_load = kbd_post_load,
};

static bool mouse_post_load(void *opaque, int version_id, GError **errp)
{
    PS2Mouse *m = opaque;

    if (!queue_post_load(&m->q, version_id, errp)) {
        return false;
    }
    if ((m->type != 0 && m->type != 3 && m->type != 4) ||
        m->detect_state > 3 || m->resolution > 3 ||
        (m->status & ~(MOUSE_STATUS_REMOTE | MOUSE_STATUS_ENABLED |
                       MOUSE_STATUS_SCALE21)) ||
        (m->pending_cmd && m->pending_cmd != AUX_SET_RES &&
         m->pending_cmd != AUX_SET_SAMPLE)) {
        g_set_error(errp, VIREO_ERROR, 0, "mouse type %u, status 0x%02x, "
                    "resolution %u or pending command 0x%02x invalid",
                    m->type, m->status, m->resolution, m->pending_cmd);
        return false;
    }
    m->dx = clamp32(m->dx, -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX);
    m->dy = clamp32(m->dy, -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX);
    m->dz = clamp32(m->dz, -MOUSE_MOVE_MAX, MOUSE_MOVE_MAX);
    return true;
}

static const VMStateField ps2_mouse_fields[] = {
    VMSTATE_STRUCT(q, PS2Mouse, vmstate_ps2_queue, PS2Queue),
    VMSTATE_UINT8(last, PS2Mouse),
    VMSTATE_UINT8(pending_cmd, PS2Mouse),
    VMSTATE_UINT8(status, PS2Mouse),
    VMSTATE_UINT8(resolution, PS2Mouse),
    VMSTATE_UINT8(sample_rate, PS2Mouse),
    VMSTATE_BOOL(wrap, PS2Mouse),
    VMSTATE_UINT8(type, PS2Mouse),
    VMSTATE_UINT8(detect_state, PS2Mouse),
    VMSTATE_UINT8(buttons, PS2Mouse),
    VMSTATE_BOOL(buttons_changed, PS2Mouse),
    VMSTATE_INT32(dx, PS2Mouse),
    VMSTATE_INT32(dy, PS2Mouse),
    VMSTATE_INT32(dz, PS2Mouse),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_ps2_mouse = {
    .name = "ps2mouse",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ps2_mouse_fields,
    .post_load = mouse_post_load,
};
