/*
 * The input router, after QEMU's ui/input.c: key, button and pointer events
 * from the monitor (and later SDL2, VNC) go to the most recently activated
 * handler of their kind. Keys are QEMU's QKeyCode values (qapi/input.json);
 * ui/keycodes.c maps them to PS/2 scancode sets 1 and 2.
 */
#ifndef UI_INPUT_H
#define UI_INPUT_H

#include <stdbool.h>
#include <stdint.h>

/* QEMU's QKeyCode, in its order: KEY_(C identifier, QMP name). */
#define QKEYCODE_LIST(KEY_)                                                 \
    KEY_(UNMAPPED, "unmapped") KEY_(SHIFT, "shift")                         \
    KEY_(SHIFT_R, "shift_r") KEY_(ALT, "alt") KEY_(ALT_R, "alt_r")          \
    KEY_(CTRL, "ctrl") KEY_(CTRL_R, "ctrl_r") KEY_(MENU, "menu")            \
    KEY_(ESC, "esc") KEY_(1, "1") KEY_(2, "2") KEY_(3, "3") KEY_(4, "4")    \
    KEY_(5, "5") KEY_(6, "6") KEY_(7, "7") KEY_(8, "8") KEY_(9, "9")        \
    KEY_(0, "0") KEY_(MINUS, "minus") KEY_(EQUAL, "equal")                  \
    KEY_(BACKSPACE, "backspace") KEY_(TAB, "tab") KEY_(Q, "q")              \
    KEY_(W, "w") KEY_(E, "e") KEY_(R, "r") KEY_(T, "t") KEY_(Y, "y")        \
    KEY_(U, "u") KEY_(I, "i") KEY_(O, "o") KEY_(P, "p")                     \
    KEY_(BRACKET_LEFT, "bracket_left")                                      \
    KEY_(BRACKET_RIGHT, "bracket_right") KEY_(RET, "ret") KEY_(A, "a")      \
    KEY_(S, "s") KEY_(D, "d") KEY_(F, "f") KEY_(G, "g") KEY_(H, "h")        \
    KEY_(J, "j") KEY_(K, "k") KEY_(L, "l") KEY_(SEMICOLON, "semicolon")     \
    KEY_(APOSTROPHE, "apostrophe") KEY_(GRAVE_ACCENT, "grave_accent")       \
    KEY_(BACKSLASH, "backslash") KEY_(Z, "z") KEY_(X, "x") KEY_(C, "c")     \
    KEY_(V, "v") KEY_(B, "b") KEY_(N, "n") KEY_(M, "m")                     \
    KEY_(COMMA, "comma") KEY_(DOT, "dot") KEY_(SLASH, "slash")              \
    KEY_(ASTERISK, "asterisk") KEY_(SPC, "spc")                             \
    KEY_(CAPS_LOCK, "caps_lock") KEY_(F1, "f1") KEY_(F2, "f2")              \
    KEY_(F3, "f3") KEY_(F4, "f4") KEY_(F5, "f5") KEY_(F6, "f6")             \
    KEY_(F7, "f7") KEY_(F8, "f8") KEY_(F9, "f9") KEY_(F10, "f10")           \
    KEY_(NUM_LOCK, "num_lock") KEY_(SCROLL_LOCK, "scroll_lock")             \
    KEY_(KP_DIVIDE, "kp_divide") KEY_(KP_MULTIPLY, "kp_multiply")           \
    KEY_(KP_SUBTRACT, "kp_subtract") KEY_(KP_ADD, "kp_add")                 \
    KEY_(KP_ENTER, "kp_enter") KEY_(KP_DECIMAL, "kp_decimal")               \
    KEY_(SYSRQ, "sysrq") KEY_(KP_0, "kp_0") KEY_(KP_1, "kp_1")              \
    KEY_(KP_2, "kp_2") KEY_(KP_3, "kp_3") KEY_(KP_4, "kp_4")                \
    KEY_(KP_5, "kp_5") KEY_(KP_6, "kp_6") KEY_(KP_7, "kp_7")                \
    KEY_(KP_8, "kp_8") KEY_(KP_9, "kp_9") KEY_(LESS, "less")                \
    KEY_(F11, "f11") KEY_(F12, "f12") KEY_(PRINT, "print")                  \
    KEY_(HOME, "home") KEY_(PGUP, "pgup") KEY_(PGDN, "pgdn")                \
    KEY_(END, "end") KEY_(LEFT, "left") KEY_(UP, "up") KEY_(DOWN, "down")   \
    KEY_(RIGHT, "right") KEY_(INSERT, "insert") KEY_(DELETE, "delete")      \
    KEY_(STOP, "stop") KEY_(AGAIN, "again") KEY_(PROPS, "props")            \
    KEY_(UNDO, "undo") KEY_(FRONT, "front") KEY_(COPY, "copy")              \
    KEY_(OPEN, "open") KEY_(PASTE, "paste") KEY_(FIND, "find")              \
    KEY_(CUT, "cut") KEY_(LF, "lf") KEY_(HELP, "help")                      \
    KEY_(META_L, "meta_l") KEY_(META_R, "meta_r") KEY_(COMPOSE, "compose")  \
    KEY_(PAUSE, "pause") KEY_(RO, "ro") KEY_(HIRAGANA, "hiragana")          \
    KEY_(HENKAN, "henkan") KEY_(YEN, "yen") KEY_(MUHENKAN, "muhenkan")      \
    KEY_(KATAKANAHIRAGANA, "katakanahiragana") KEY_(KP_COMMA, "kp_comma")   \
    KEY_(KP_EQUALS, "kp_equals") KEY_(POWER, "power") KEY_(SLEEP, "sleep")  \
    KEY_(WAKE, "wake") KEY_(AUDIONEXT, "audionext")                         \
    KEY_(AUDIOPREV, "audioprev") KEY_(AUDIOSTOP, "audiostop")               \
    KEY_(AUDIOPLAY, "audioplay") KEY_(AUDIOMUTE, "audiomute")               \
    KEY_(VOLUMEUP, "volumeup") KEY_(VOLUMEDOWN, "volumedown")               \
    KEY_(MEDIASELECT, "mediaselect") KEY_(MAIL, "mail")                     \
    KEY_(CALCULATOR, "calculator") KEY_(COMPUTER, "computer")               \
    KEY_(AC_HOME, "ac_home") KEY_(AC_BACK, "ac_back")                       \
    KEY_(AC_FORWARD, "ac_forward") KEY_(AC_REFRESH, "ac_refresh")           \
    KEY_(AC_BOOKMARKS, "ac_bookmarks") KEY_(LANG1, "lang1")                 \
    KEY_(LANG2, "lang2") KEY_(F13, "f13") KEY_(F14, "f14")                  \
    KEY_(F15, "f15") KEY_(F16, "f16") KEY_(F17, "f17") KEY_(F18, "f18")     \
    KEY_(F19, "f19") KEY_(F20, "f20") KEY_(F21, "f21") KEY_(F22, "f22")     \
    KEY_(F23, "f23") KEY_(F24, "f24")

#define QKEYCODE_ENUM(id, name) Q_KEY_CODE_##id,
typedef enum QKeyCode {
    QKEYCODE_LIST(QKEYCODE_ENUM)
    Q_KEY_CODE__MAX
} QKeyCode;
#undef QKEYCODE_ENUM

/* ---- key codes (ui/keycodes.c) ---- */

/* The QMP name of a key ("ctrl_r"). */
const char *qkeycode_name(QKeyCode q);
/* The key a QMP name stands for, or -1. */
int qkeycode_from_name(const char *name);
/*
 * QEMU's key numbers (send-key's {"type": "number"}, HMP sendkey 0x1e):
 * the set 1 make code, plus 0x80 for the keys with an 0xE0 prefix.
 * Q_KEY_CODE_UNMAPPED for a number no key has.
 */
QKeyCode qkeycode_from_number(int64_t number);
/*
 * The set 2 make code of a key: 0x00XX, or 0xE0XX for an extended key;
 * 0 for a key that has none, or whose sequence depends on other keys
 * (print, pause: hw/input/ps2.c builds those).
 */
uint16_t qkeycode_to_set2(QKeyCode q);
/*
 * The 8042's translation of a set 2 byte into set 1 (controller command
 * byte bit 6). A set 2 break prefix 0xF0 is not translated: the
 * controller folds it into the next code as bit 7.
 */
uint8_t scancode_set2_to_set1(uint8_t code);

/* ---- events ---- */

typedef enum InputEventKind {
    INPUT_EVENT_KIND_KEY,
    INPUT_EVENT_KIND_BTN,
    INPUT_EVENT_KIND_REL,
    INPUT_EVENT_KIND_ABS,
    INPUT_EVENT_KIND__MAX,
} InputEventKind;

#define INPUT_EVENT_MASK_KEY (1u << INPUT_EVENT_KIND_KEY)
#define INPUT_EVENT_MASK_BTN (1u << INPUT_EVENT_KIND_BTN)
#define INPUT_EVENT_MASK_REL (1u << INPUT_EVENT_KIND_REL)
#define INPUT_EVENT_MASK_ABS (1u << INPUT_EVENT_KIND_ABS)

/* QEMU's InputButton, in its order. */
typedef enum InputButton {
    INPUT_BUTTON_LEFT,
    INPUT_BUTTON_MIDDLE,
    INPUT_BUTTON_RIGHT,
    INPUT_BUTTON_WHEEL_UP,
    INPUT_BUTTON_WHEEL_DOWN,
    INPUT_BUTTON_SIDE,
    INPUT_BUTTON_EXTRA,
    INPUT_BUTTON_WHEEL_LEFT,
    INPUT_BUTTON_WHEEL_RIGHT,
    INPUT_BUTTON_TOUCH,
    INPUT_BUTTON__MAX,
} InputButton;

typedef enum InputAxis {
    INPUT_AXIS_X,
    INPUT_AXIS_Y,
    INPUT_AXIS__MAX,
} InputAxis;

/* Absolute coordinates span this range whatever the screen size (QEMU's). */
#define INPUT_EVENT_ABS_MIN 0x0000
#define INPUT_EVENT_ABS_MAX 0x7fff

/* Relative y grows downwards, as on the screen. */
typedef struct InputEvent {
    InputEventKind kind;
    union {
        struct {
            QKeyCode qcode;
            bool down;
        } key;
        struct {
            InputButton button;
            bool down;
        } btn;
        struct {                /* rel and abs */
            InputAxis axis;
            int64_t value;
        } move;
    } u;
} InputEvent;

const char *input_button_name(InputButton b);
const char *input_axis_name(InputAxis a);

/* ---- handlers ---- */

/*
 * A device that takes input. event() gets each event of a kind in mask;
 * sync(), if set, follows a group of events (a key and its modifiers, the
 * x and y of one motion) so a mouse can send them as one packet.
 */
typedef struct InputHandler {
    const char *name;
    uint32_t mask;
    void (*event)(void *opaque, const InputEvent *evt);
    void (*sync)(void *opaque);
} InputHandler;

typedef struct InputHandlerEntry InputHandlerEntry;

/* Registered handlers come after the active ones (QEMU's order). */
InputHandlerEntry *input_handler_register(const InputHandler *h,
                                          void *opaque);
/* Makes the handler the first one its kinds of events go to. */
void input_handler_activate(InputHandlerEntry *e);
/*
 * Makes it the last: a device whose driver went away (virtio input after
 * a reset) gives its events back to the others.
 */
void input_handler_deactivate(InputHandlerEntry *e);
void input_handler_unregister(InputHandlerEntry *e);
/* Whether some handler takes events of this kind. */
bool input_handler_exists(InputEventKind kind);
/*
 * Whether the pointer the guest uses is absolute (a tablet): the first
 * handler of pointer motion takes INPUT_EVENT_KIND_ABS. Frontends then send
 * absolute positions and need no pointer grab; else relative motion.
 */
bool input_is_absolute(void);

/* ---- sending ---- */

/*
 * Delivers an event to the first handler of its kind, or drops it when
 * there is none. While the queue holds delayed events (send-key's
 * releases), later events wait behind them, so order is kept.
 */
void input_event_send(const InputEvent *evt);
/* Ends a group of events (see InputHandler.sync). */
void input_event_sync(void);
/* Key and button events, each followed by a sync. */
void input_send_key(QKeyCode qcode, bool down);
void input_send_btn(InputButton button, bool down);
void input_send_move(InputEventKind kind, InputAxis axis, int64_t value);
/* Later events wait delay_ms of virtual time (the guest's clock). */
void input_queue_delay(uint32_t delay_ms);

/* How many more queue entries fit; the queue is bounded. */
unsigned input_queue_room(void);
#define INPUT_QUEUE_MAX 1024

/* ---- keyboard LEDs, as the guest last set them ---- */

#define INPUT_LED_SCROLL_LOCK 0x01
#define INPUT_LED_NUM_LOCK    0x02
#define INPUT_LED_CAPS_LOCK   0x04

void input_kbd_leds_set(unsigned leds);
unsigned input_kbd_leds(void);

#endif
