/*
 * virtio keyboard, mouse and tablet (virtio 1.2 section 5.8) on PCI and
 * virtio-mmio: input handlers of the input router (ui/input.h) that turn
 * its events into Linux evdev events (input-event-codes.h). They describe
 * themselves as QEMU's devices do (names, bus and IDs), which guests' udev
 * rules and X/Wayland input configuration match on.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-input.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "migration/vmstate.h"
#include "ui/input.h"
#include "util/log.h"
#include "util/opts.h"

/* PCI class 0x09 (input device), subclass 0x80 (other) */
#define PCI_CLASS_INPUT_OTHER   0x098000

/* QEMU's USB vendor ID, which its virtio input devices report too */
#define VIRTIO_INPUT_VENDOR     0x0627

/*
 * Linux key codes of QEMU's key codes; 0: no such key. The PC's print
 * screen key is KEY_SYSRQ, as Linux's PS/2 driver reports it.
 */
static const uint16_t qcode_to_linux[Q_KEY_CODE__MAX] = {
    [Q_KEY_CODE_ESC] = 1,
    [Q_KEY_CODE_1] = 2, [Q_KEY_CODE_2] = 3, [Q_KEY_CODE_3] = 4,
    [Q_KEY_CODE_4] = 5, [Q_KEY_CODE_5] = 6, [Q_KEY_CODE_6] = 7,
    [Q_KEY_CODE_7] = 8, [Q_KEY_CODE_8] = 9, [Q_KEY_CODE_9] = 10,
    [Q_KEY_CODE_0] = 11, [Q_KEY_CODE_MINUS] = 12, [Q_KEY_CODE_EQUAL] = 13,
    [Q_KEY_CODE_BACKSPACE] = 14, [Q_KEY_CODE_TAB] = 15,
    [Q_KEY_CODE_Q] = 16, [Q_KEY_CODE_W] = 17, [Q_KEY_CODE_E] = 18,
    [Q_KEY_CODE_R] = 19, [Q_KEY_CODE_T] = 20, [Q_KEY_CODE_Y] = 21,
    [Q_KEY_CODE_U] = 22, [Q_KEY_CODE_I] = 23, [Q_KEY_CODE_O] = 24,
    [Q_KEY_CODE_P] = 25, [Q_KEY_CODE_BRACKET_LEFT] = 26,
    [Q_KEY_CODE_BRACKET_RIGHT] = 27, [Q_KEY_CODE_RET] = 28,
    [Q_KEY_CODE_CTRL] = 29,
    [Q_KEY_CODE_A] = 30, [Q_KEY_CODE_S] = 31, [Q_KEY_CODE_D] = 32,
    [Q_KEY_CODE_F] = 33, [Q_KEY_CODE_G] = 34, [Q_KEY_CODE_H] = 35,
    [Q_KEY_CODE_J] = 36, [Q_KEY_CODE_K] = 37, [Q_KEY_CODE_L] = 38,
    [Q_KEY_CODE_SEMICOLON] = 39, [Q_KEY_CODE_APOSTROPHE] = 40,
    [Q_KEY_CODE_GRAVE_ACCENT] = 41, [Q_KEY_CODE_SHIFT] = 42,
    [Q_KEY_CODE_BACKSLASH] = 43,
    [Q_KEY_CODE_Z] = 44, [Q_KEY_CODE_X] = 45, [Q_KEY_CODE_C] = 46,
    [Q_KEY_CODE_V] = 47, [Q_KEY_CODE_B] = 48, [Q_KEY_CODE_N] = 49,
    [Q_KEY_CODE_M] = 50, [Q_KEY_CODE_COMMA] = 51, [Q_KEY_CODE_DOT] = 52,
    [Q_KEY_CODE_SLASH] = 53, [Q_KEY_CODE_SHIFT_R] = 54,
    [Q_KEY_CODE_KP_MULTIPLY] = 55, [Q_KEY_CODE_ASTERISK] = 55,
    [Q_KEY_CODE_ALT] = 56, [Q_KEY_CODE_SPC] = 57, [Q_KEY_CODE_CAPS_LOCK] = 58,
    [Q_KEY_CODE_F1] = 59, [Q_KEY_CODE_F2] = 60, [Q_KEY_CODE_F3] = 61,
    [Q_KEY_CODE_F4] = 62, [Q_KEY_CODE_F5] = 63, [Q_KEY_CODE_F6] = 64,
    [Q_KEY_CODE_F7] = 65, [Q_KEY_CODE_F8] = 66, [Q_KEY_CODE_F9] = 67,
    [Q_KEY_CODE_F10] = 68, [Q_KEY_CODE_NUM_LOCK] = 69,
    [Q_KEY_CODE_SCROLL_LOCK] = 70,
    [Q_KEY_CODE_KP_7] = 71, [Q_KEY_CODE_KP_8] = 72, [Q_KEY_CODE_KP_9] = 73,
    [Q_KEY_CODE_KP_SUBTRACT] = 74,
    [Q_KEY_CODE_KP_4] = 75, [Q_KEY_CODE_KP_5] = 76, [Q_KEY_CODE_KP_6] = 77,
    [Q_KEY_CODE_KP_ADD] = 78,
    [Q_KEY_CODE_KP_1] = 79, [Q_KEY_CODE_KP_2] = 80, [Q_KEY_CODE_KP_3] = 81,
    [Q_KEY_CODE_KP_0] = 82, [Q_KEY_CODE_KP_DECIMAL] = 83,
    [Q_KEY_CODE_LESS] = 86,                 /* KEY_102ND */
    [Q_KEY_CODE_F11] = 87, [Q_KEY_CODE_F12] = 88,
    [Q_KEY_CODE_RO] = 89, [Q_KEY_CODE_HIRAGANA] = 91,
    [Q_KEY_CODE_HENKAN] = 92, [Q_KEY_CODE_KATAKANAHIRAGANA] = 93,
    [Q_KEY_CODE_MUHENKAN] = 94, [Q_KEY_CODE_KP_ENTER] = 96,
    [Q_KEY_CODE_CTRL_R] = 97, [Q_KEY_CODE_KP_DIVIDE] = 98,
    [Q_KEY_CODE_SYSRQ] = 99, [Q_KEY_CODE_PRINT] = 99,
    [Q_KEY_CODE_ALT_R] = 100, [Q_KEY_CODE_LF] = 101,
    [Q_KEY_CODE_HOME] = 102, [Q_KEY_CODE_UP] = 103, [Q_KEY_CODE_PGUP] = 104,
    [Q_KEY_CODE_LEFT] = 105, [Q_KEY_CODE_RIGHT] = 106, [Q_KEY_CODE_END] = 107,
    [Q_KEY_CODE_DOWN] = 108, [Q_KEY_CODE_PGDN] = 109,
    [Q_KEY_CODE_INSERT] = 110, [Q_KEY_CODE_DELETE] = 111,
    [Q_KEY_CODE_AUDIOMUTE] = 113, [Q_KEY_CODE_VOLUMEDOWN] = 114,
    [Q_KEY_CODE_VOLUMEUP] = 115, [Q_KEY_CODE_POWER] = 116,
    [Q_KEY_CODE_KP_EQUALS] = 117, [Q_KEY_CODE_PAUSE] = 119,
    [Q_KEY_CODE_KP_COMMA] = 121,
    [Q_KEY_CODE_LANG1] = 122,               /* KEY_HANGEUL */
    [Q_KEY_CODE_LANG2] = 123,               /* KEY_HANJA */
    [Q_KEY_CODE_YEN] = 124, [Q_KEY_CODE_META_L] = 125,
    [Q_KEY_CODE_META_R] = 126, [Q_KEY_CODE_COMPOSE] = 127,
    [Q_KEY_CODE_STOP] = 128, [Q_KEY_CODE_AGAIN] = 129,
    [Q_KEY_CODE_PROPS] = 130, [Q_KEY_CODE_UNDO] = 131,
    [Q_KEY_CODE_FRONT] = 132, [Q_KEY_CODE_COPY] = 133,
    [Q_KEY_CODE_OPEN] = 134, [Q_KEY_CODE_PASTE] = 135,
    [Q_KEY_CODE_FIND] = 136, [Q_KEY_CODE_CUT] = 137,
    [Q_KEY_CODE_HELP] = 138, [Q_KEY_CODE_MENU] = 139,
    [Q_KEY_CODE_CALCULATOR] = 140, [Q_KEY_CODE_SLEEP] = 142,
    [Q_KEY_CODE_WAKE] = 143, [Q_KEY_CODE_MAIL] = 155,
    [Q_KEY_CODE_AC_BOOKMARKS] = 156, [Q_KEY_CODE_COMPUTER] = 157,
    [Q_KEY_CODE_AC_BACK] = 158, [Q_KEY_CODE_AC_FORWARD] = 159,
    [Q_KEY_CODE_AUDIONEXT] = 163, [Q_KEY_CODE_AUDIOPLAY] = 164,
    [Q_KEY_CODE_AUDIOPREV] = 165, [Q_KEY_CODE_AUDIOSTOP] = 166,
    [Q_KEY_CODE_AC_HOME] = 172,             /* KEY_HOMEPAGE */
    [Q_KEY_CODE_AC_REFRESH] = 173,
    [Q_KEY_CODE_F13] = 183, [Q_KEY_CODE_F14] = 184, [Q_KEY_CODE_F15] = 185,
    [Q_KEY_CODE_F16] = 186, [Q_KEY_CODE_F17] = 187, [Q_KEY_CODE_F18] = 188,
    [Q_KEY_CODE_F19] = 189, [Q_KEY_CODE_F20] = 190, [Q_KEY_CODE_F21] = 191,
    [Q_KEY_CODE_F22] = 192, [Q_KEY_CODE_F23] = 193, [Q_KEY_CODE_F24] = 194,
    [Q_KEY_CODE_MEDIASELECT] = 226,         /* KEY_MEDIA */
};

static const uint16_t button_to_linux[INPUT_BUTTON__MAX] = {
    [INPUT_BUTTON_LEFT] = BTN_LEFT,
    [INPUT_BUTTON_MIDDLE] = BTN_MIDDLE,
    [INPUT_BUTTON_RIGHT] = BTN_RIGHT,
    [INPUT_BUTTON_SIDE] = BTN_SIDE,
    [INPUT_BUTTON_EXTRA] = BTN_EXTRA,
};

/* What a kind of device is: its evdev description and the events it takes. */
typedef struct HIDKind {
    const char *type_prefix;    /* of its -device names: "virtio-mouse" */
    const char *name;           /* ID_NAME */
    uint16_t product;
    const InputHandler *handler;
} HIDKind;

typedef struct VirtIOInputHID {
    VirtIOInput input;
    const HIDKind *kind;
    InputHandlerEntry *handler;
    unsigned leds;              /* INPUT_LED_*, as the driver set them */
} VirtIOInputHID;

/* ---- events from the input router ---- */

static void hid_key(VirtIOInputHID *h, const InputEvent *evt)
{
    QKeyCode q = evt->u.key.qcode;
    uint16_t code = q < Q_KEY_CODE__MAX ? qcode_to_linux[q] : 0;

    if (!code) {
        log_mask_printf(LOG_UNIMP, "virtio-input: no Linux key for %s\n",
                        qkeycode_name(q));
        return;
    }
    virtio_input_send(&h->input, EV_KEY, code, evt->u.key.down);
}

/* Wheel "buttons" are one notch of REL_WHEEL/REL_HWHEEL per press. */
static void hid_btn(VirtIOInputHID *h, const InputEvent *evt)
{
    InputButton b = evt->u.btn.button;
    bool down = evt->u.btn.down;

    switch (b) {
    case INPUT_BUTTON_WHEEL_UP:
    case INPUT_BUTTON_WHEEL_DOWN:
        if (down) {
            virtio_input_send(&h->input, EV_REL, REL_WHEEL,
                              b == INPUT_BUTTON_WHEEL_UP ? 1 : -1);
        }
        break;
    case INPUT_BUTTON_WHEEL_LEFT:
    case INPUT_BUTTON_WHEEL_RIGHT:
        if (down) {
            virtio_input_send(&h->input, EV_REL, REL_HWHEEL,
                              b == INPUT_BUTTON_WHEEL_RIGHT ? 1 : -1);
        }
        break;
    default:
        if (b < INPUT_BUTTON__MAX && button_to_linux[b]) {
            virtio_input_send(&h->input, EV_KEY, button_to_linux[b], down);
        }
        break;
    }
}

static int32_t clamp_i32(int64_t v, int64_t min, int64_t max)
{
    return v < min ? min : v > max ? max : v;
}

static void hid_move(VirtIOInputHID *h, const InputEvent *evt)
{
    uint16_t axis = evt->u.move.axis == INPUT_AXIS_X ? 0 : 1;

    if (evt->kind == INPUT_EVENT_KIND_REL) {
        virtio_input_send(&h->input, EV_REL, axis == 0 ? REL_X : REL_Y,
                          clamp_i32(evt->u.move.value, INT32_MIN, INT32_MAX));
    } else {
        virtio_input_send(&h->input, EV_ABS, axis == 0 ? ABS_X : ABS_Y,
                          clamp_i32(evt->u.move.value, INPUT_EVENT_ABS_MIN,
                                    INPUT_EVENT_ABS_MAX));
    }
}

static void hid_event(void *opaque, const InputEvent *evt)
{
    VirtIOInputHID *h = opaque;

    switch (evt->kind) {
    case INPUT_EVENT_KIND_KEY:
        hid_key(h, evt);
        break;
    case INPUT_EVENT_KIND_BTN:
        hid_btn(h, evt);
        break;
    case INPUT_EVENT_KIND_REL:
    case INPUT_EVENT_KIND_ABS:
        hid_move(h, evt);
        break;
    default:
        break;
    }
}

static void hid_sync(void *opaque)
{
    VirtIOInputHID *h = opaque;

    virtio_input_send(&h->input, EV_SYN, SYN_REPORT, 0);
}

/* ---- from the driver ---- */

/* The keyboard's LEDs (EV_LED on the status queue) become the host's. */
static void hid_status(VirtIOInput *vi, uint16_t type, uint16_t code,
                       uint32_t value)
{
    VirtIOInputHID *h = vi->opaque;
    unsigned bit;

    if (type != EV_LED || h->kind->handler->mask != INPUT_EVENT_MASK_KEY) {
        return;     /* EV_REP and others: nothing of ours to change */
    }
    switch (code) {
    case LED_NUML:
        bit = INPUT_LED_NUM_LOCK;
        break;
    case LED_CAPSL:
        bit = INPUT_LED_CAPS_LOCK;
        break;
    case LED_SCROLLL:
        bit = INPUT_LED_SCROLL_LOCK;
        break;
    default:
        log_guest_error("virtio-input: unknown LED %u\n", code);
        return;
    }
    h->leds = value ? h->leds | bit : h->leds & ~bit;
    input_kbd_leds_set(h->leds);
}

/*
 * The device whose driver got ready last takes the events of its kinds,
 * as in QEMU: a tablet then takes pointer events from the PS/2 mouse; a
 * reset (reboot, driver unloaded) gives them back.
 */
static void hid_change_active(VirtIOInput *vi, bool active)
{
    VirtIOInputHID *h = vi->opaque;

    if (active) {
        input_handler_activate(h->handler);
    } else {
        input_handler_deactivate(h->handler);
        h->leds = 0;
    }
}

/* ---- the kinds ---- */

static const InputHandler keyboard_handler = {
    .name = "QEMU Virtio Keyboard",
    .mask = INPUT_EVENT_MASK_KEY,
    .event = hid_event,
    .sync = hid_sync,
};

static const InputHandler mouse_handler = {
    .name = "QEMU Virtio Mouse",
    .mask = INPUT_EVENT_MASK_BTN | INPUT_EVENT_MASK_REL,
    .event = hid_event,
    .sync = hid_sync,
};

static const InputHandler tablet_handler = {
    .name = "QEMU Virtio Tablet",
    .mask = INPUT_EVENT_MASK_BTN | INPUT_EVENT_MASK_ABS,
    .event = hid_event,
    .sync = hid_sync,
};

static const HIDKind keyboard_kind = {
    .type_prefix = "virtio-keyboard",
    .name = "QEMU Virtio Keyboard",
    .product = 0x0001,
    .handler = &keyboard_handler,
};

static const HIDKind mouse_kind = {
    .type_prefix = "virtio-mouse",
    .name = "QEMU Virtio Mouse",
    .product = 0x0002,
    .handler = &mouse_handler,
};

static const HIDKind tablet_kind = {
    .type_prefix = "virtio-tablet",
    .name = "QEMU Virtio Tablet",
    .product = 0x0003,
    .handler = &tablet_handler,
};

/* The evdev description of a kind (5.8.6.1: what the driver reads). */
static void hid_describe(VirtIOInputHID *h)
{
    VirtIOInput *vi = &h->input;
    uint32_t mask = h->kind->handler->mask;

    virtio_input_config_string(vi, VIRTIO_INPUT_CFG_ID_NAME, h->kind->name);
    virtio_input_config_ids(vi, BUS_VIRTUAL, VIRTIO_INPUT_VENDOR,
                            h->kind->product, 0x0001);
    if (mask & INPUT_EVENT_MASK_KEY) {
        for (unsigned q = 0; q < Q_KEY_CODE__MAX; q++) {
            if (qcode_to_linux[q]) {
                virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS,
                                            EV_KEY, qcode_to_linux[q]);
            }
        }
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_LED,
                                    LED_NUML);
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_LED,
                                    LED_CAPSL);
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_LED,
                                    LED_SCROLLL);
        /* REP_DELAY, REP_PERIOD: the guest repeats held keys itself */
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_REP, 0);
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_REP, 1);
        return;
    }
    for (unsigned b = 0; b < INPUT_BUTTON__MAX; b++) {
        if (button_to_linux[b]) {
            virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY,
                                        button_to_linux[b]);
        }
    }
    if (mask & INPUT_EVENT_MASK_REL) {
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_REL,
                                    REL_X);
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_REL,
                                    REL_Y);
    }
    virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_REL,
                                REL_WHEEL);
    virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_REL,
                                REL_HWHEEL);
    if (mask & INPUT_EVENT_MASK_ABS) {
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS,
                                    ABS_X);
        virtio_input_config_set_bit(vi, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS,
                                    ABS_Y);
        virtio_input_config_abs(vi, ABS_X, INPUT_EVENT_ABS_MIN,
                                INPUT_EVENT_ABS_MAX);
        virtio_input_config_abs(vi, ABS_Y, INPUT_EVENT_ABS_MIN,
                                INPUT_EVENT_ABS_MAX);
    }
}

static const HIDKind *kind_of(const DeviceClass *cls)
{
    static const HIDKind *const kinds[] = {
        &keyboard_kind, &mouse_kind, &tablet_kind,
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
        if (g_str_has_prefix(cls->name, kinds[i]->type_prefix)) {
            return kinds[i];
        }
    }
    g_assert_not_reached();
}

static bool hid_init(VirtIOInputHID *h, Device *dev, Machine *m,
                     GError **errp)
{
    if (h->input.serial &&
        strlen(h->input.serial) > VIRTIO_INPUT_CFG_U_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0, "serial: at most %d characters",
                    VIRTIO_INPUT_CFG_U_SIZE);
        return false;
    }
    h->kind = kind_of(dev->cls);
    h->input.opaque = h;
    h->input.handle_status = hid_status;
    h->input.change_active = hid_change_active;
    virtio_input_init(&h->input, m, dev->cls->name);
    hid_describe(h);
    /* behind the devices already there until the driver is ready */
    h->handler = input_handler_register(h->kind->handler, h);
    return true;
}

static void hid_fini(VirtIOInputHID *h)
{
    input_handler_unregister(h->handler);
    h->handler = NULL;
    virtio_input_fini(&h->input);
}

/* ---- migration ---- */

static bool hid_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIOInputHID *h = opaque;

    if (h->leds & ~7u) {
        g_set_error(errp, VIREO_ERROR, 0, "LEDs 0x%x invalid", h->leds);
        return false;
    }
    /* the router's order is host state: a ready device takes input again */
    if (h->input.active) {
        input_handler_activate(h->handler);
        if (h->kind->handler->mask == INPUT_EVENT_MASK_KEY) {
            input_kbd_leds_set(h->leds);
        }
    } else {
        input_handler_deactivate(h->handler);
    }
    return true;
}

static const VMStateField hid_fields[] = {
    VMSTATE_STRUCT(input, VirtIOInputHID, vmstate_virtio_input, VirtIOInput),
    VMSTATE_UINT32(leds, VirtIOInputHID),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_input_hid = {
    .name = "virtio-input-hid",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = hid_fields,
    .post_load = hid_post_load,
};

/* ---- virtio-keyboard-device, ...: on a virtio-mmio transport ---- */

typedef struct VirtIOInputDevice {
    Device parent;
    VirtIOInputHID hid;
} VirtIOInputDevice;

static bool virtio_input_device_realize(Device *dev, Machine *m,
                                        GError **errp)
{
    VirtIOInputDevice *s = (VirtIOInputDevice *)dev;

    if (!hid_init(&s->hid, dev, m, errp)) {
        return false;
    }
    if (!virtio_mmio_plug(m, &s->hid.input.vdev, dev->cls->name, errp)) {
        hid_fini(&s->hid);
        return false;
    }
    return true;
}

static void virtio_input_device_unrealize(Device *dev)
{
    VirtIOInputDevice *s = (VirtIOInputDevice *)dev;

    virtio_mmio_unplug(&s->hid.input.vdev);
    hid_fini(&s->hid);
}

static const VMStateField virtio_input_device_fields[] = {
    VMSTATE_STRUCT(hid, VirtIOInputDevice, vmstate_virtio_input_hid,
                   VirtIOInputHID),
    VMSTATE_END_OF_LIST(),
};

/* The virtio device itself is in its virtio-mmio transport's section. */
static const VMStateDescription vmstate_virtio_input_device = {
    .name = "virtio-input-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_input_device_fields,
};

static const Property virtio_input_device_props[] = {
    VIRTIO_INPUT_PROPS(VirtIOInputDevice, hid.input),
    PROP_END,
};

#define VIRTIO_INPUT_DEVICE_CLASS(var, name_, desc_)                   \
    static DeviceClass var = {                                          \
        .name = name_,                                                  \
        .desc = desc_,                                                  \
        .bus = VIRTIO_MMIO_BUS,                                         \
        .instance_size = sizeof(VirtIOInputDevice),                     \
        .props = virtio_input_device_props,                             \
        .user_creatable = true,                                         \
        .realize = virtio_input_device_realize,                         \
        .unrealize = virtio_input_device_unrealize,                     \
        .vmsd = &vmstate_virtio_input_device,                           \
    };                                                                  \
    DEVICE_REGISTER(var)

VIRTIO_INPUT_DEVICE_CLASS(virtio_keyboard_device_class,
                          "virtio-keyboard-device",
                          "virtio keyboard (virtio-mmio)")
VIRTIO_INPUT_DEVICE_CLASS(virtio_mouse_device_class, "virtio-mouse-device",
                          "virtio mouse, relative pointer (virtio-mmio)")
VIRTIO_INPUT_DEVICE_CLASS(virtio_tablet_device_class, "virtio-tablet-device",
                          "virtio tablet, absolute pointer (virtio-mmio)")

/* ---- virtio-keyboard-pci, virtio-mouse-pci, virtio-tablet-pci ---- */

typedef struct VirtIOInputPCI {
    VirtIOPCIProxy proxy;
    VirtIOInputHID hid;
} VirtIOInputPCI;

static bool virtio_input_pci_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIOInputPCI *s = (VirtIOInputPCI *)dev;

    if (!hid_init(&s->hid, dev, m, errp)) {
        return false;
    }
    if (!virtio_pci_plug(&s->proxy, &s->hid.input.vdev, m,
                         PCI_CLASS_INPUT_OTHER, errp)) {
        hid_fini(&s->hid);
        return false;
    }
    return true;
}

static void virtio_input_pci_reset(Device *dev)
{
    virtio_pci_reset(&((VirtIOInputPCI *)dev)->proxy);
}

static void virtio_input_pci_unrealize(Device *dev)
{
    VirtIOInputPCI *s = (VirtIOInputPCI *)dev;

    virtio_pci_unplug(&s->proxy);
    hid_fini(&s->hid);
}

static const VMStateField virtio_input_pci_fields[] = {
    VMSTATE_STRUCT(proxy, VirtIOInputPCI, vmstate_virtio_pci, VirtIOPCIProxy),
    VMSTATE_STRUCT(hid, VirtIOInputPCI, vmstate_virtio_input_hid,
                   VirtIOInputHID),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_input_pci = {
    .name = "virtio-input-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_input_pci_fields,
};

static const Property virtio_input_pci_props[] = {
    VIRTIO_PCI_PROPS(VirtIOInputPCI, proxy),
    VIRTIO_INPUT_PROPS(VirtIOInputPCI, hid.input),
    PROP_END,
};

#define VIRTIO_INPUT_PCI_CLASS(var, name_, desc_)                      \
    static DeviceClass var = {                                          \
        .name = name_,                                                  \
        .desc = desc_,                                                  \
        .bus = "PCI",                                                   \
        .parent = "pci-device",                                         \
        .instance_size = sizeof(VirtIOInputPCI),                        \
        .props = virtio_input_pci_props,                                \
        .user_creatable = true,                                         \
        .realize = virtio_input_pci_realize,                            \
        .reset = virtio_input_pci_reset,                                \
        .unrealize = virtio_input_pci_unrealize,                        \
        .vmsd = &vmstate_virtio_input_pci,                              \
    };                                                                  \
    DEVICE_REGISTER(var)

VIRTIO_INPUT_PCI_CLASS(virtio_keyboard_pci_class, "virtio-keyboard-pci",
                       "virtio keyboard (PCI)")
VIRTIO_INPUT_PCI_CLASS(virtio_mouse_pci_class, "virtio-mouse-pci",
                       "virtio mouse, relative pointer (PCI)")
VIRTIO_INPUT_PCI_CLASS(virtio_tablet_pci_class, "virtio-tablet-pci",
                       "virtio tablet, absolute pointer (PCI)")
