/*
 * QEMU's QKeyCode names and the PS/2 scancodes of each key: set 2 make codes
 * (IBM PS/2 keyboard technical reference, Microsoft's "Keyboard Scan Code
 * Specification" for the extended keys), and the 8042's set 2 -> set 1
 * translation, which also gives every set 1 code.
 */
#include <string.h>

#include "ui/input.h"

#define QKEYCODE_NAME(id, name) name,
static const char *const qkeycode_names[Q_KEY_CODE__MAX] = {
    QKEYCODE_LIST(QKEYCODE_NAME)
};
#undef QKEYCODE_NAME

#define E0(c) (0xe000 | (c))

/* Set 2 make codes; 0: none (or built from other keys' state in ps2.c). */
static const uint16_t qkeycode_set2[Q_KEY_CODE__MAX] = {
    [Q_KEY_CODE_SHIFT] = 0x12, [Q_KEY_CODE_SHIFT_R] = 0x59,
    [Q_KEY_CODE_ALT] = 0x11, [Q_KEY_CODE_ALT_R] = E0(0x11),
    [Q_KEY_CODE_CTRL] = 0x14, [Q_KEY_CODE_CTRL_R] = E0(0x14),
    [Q_KEY_CODE_MENU] = E0(0x2f), [Q_KEY_CODE_COMPOSE] = E0(0x2f),
    [Q_KEY_CODE_ESC] = 0x76,
    [Q_KEY_CODE_1] = 0x16, [Q_KEY_CODE_2] = 0x1e, [Q_KEY_CODE_3] = 0x26,
    [Q_KEY_CODE_4] = 0x25, [Q_KEY_CODE_5] = 0x2e, [Q_KEY_CODE_6] = 0x36,
    [Q_KEY_CODE_7] = 0x3d, [Q_KEY_CODE_8] = 0x3e, [Q_KEY_CODE_9] = 0x46,
    [Q_KEY_CODE_0] = 0x45,
    [Q_KEY_CODE_MINUS] = 0x4e, [Q_KEY_CODE_EQUAL] = 0x55,
    [Q_KEY_CODE_BACKSPACE] = 0x66, [Q_KEY_CODE_TAB] = 0x0d,
    [Q_KEY_CODE_Q] = 0x15, [Q_KEY_CODE_W] = 0x1d, [Q_KEY_CODE_E] = 0x24,
    [Q_KEY_CODE_R] = 0x2d, [Q_KEY_CODE_T] = 0x2c, [Q_KEY_CODE_Y] = 0x35,
    [Q_KEY_CODE_U] = 0x3c, [Q_KEY_CODE_I] = 0x43, [Q_KEY_CODE_O] = 0x44,
    [Q_KEY_CODE_P] = 0x4d,
    [Q_KEY_CODE_BRACKET_LEFT] = 0x54, [Q_KEY_CODE_BRACKET_RIGHT] = 0x5b,
    [Q_KEY_CODE_RET] = 0x5a,
    [Q_KEY_CODE_A] = 0x1c, [Q_KEY_CODE_S] = 0x1b, [Q_KEY_CODE_D] = 0x23,
    [Q_KEY_CODE_F] = 0x2b, [Q_KEY_CODE_G] = 0x34, [Q_KEY_CODE_H] = 0x33,
    [Q_KEY_CODE_J] = 0x3b, [Q_KEY_CODE_K] = 0x42, [Q_KEY_CODE_L] = 0x4b,
    [Q_KEY_CODE_SEMICOLON] = 0x4c, [Q_KEY_CODE_APOSTROPHE] = 0x52,
    [Q_KEY_CODE_GRAVE_ACCENT] = 0x0e, [Q_KEY_CODE_BACKSLASH] = 0x5d,
    [Q_KEY_CODE_Z] = 0x1a, [Q_KEY_CODE_X] = 0x22, [Q_KEY_CODE_C] = 0x21,
    [Q_KEY_CODE_V] = 0x2a, [Q_KEY_CODE_B] = 0x32, [Q_KEY_CODE_N] = 0x31,
    [Q_KEY_CODE_M] = 0x3a, [Q_KEY_CODE_COMMA] = 0x41, [Q_KEY_CODE_DOT] = 0x49,
    [Q_KEY_CODE_SLASH] = 0x4a,
    [Q_KEY_CODE_ASTERISK] = 0x7c, [Q_KEY_CODE_KP_MULTIPLY] = 0x7c,
    [Q_KEY_CODE_SPC] = 0x29, [Q_KEY_CODE_CAPS_LOCK] = 0x58,
    [Q_KEY_CODE_F1] = 0x05, [Q_KEY_CODE_F2] = 0x06, [Q_KEY_CODE_F3] = 0x04,
    [Q_KEY_CODE_F4] = 0x0c, [Q_KEY_CODE_F5] = 0x03, [Q_KEY_CODE_F6] = 0x0b,
    [Q_KEY_CODE_F7] = 0x83, [Q_KEY_CODE_F8] = 0x0a, [Q_KEY_CODE_F9] = 0x01,
    [Q_KEY_CODE_F10] = 0x09, [Q_KEY_CODE_F11] = 0x78, [Q_KEY_CODE_F12] = 0x07,
    [Q_KEY_CODE_NUM_LOCK] = 0x77, [Q_KEY_CODE_SCROLL_LOCK] = 0x7e,
    [Q_KEY_CODE_KP_DIVIDE] = E0(0x4a), [Q_KEY_CODE_KP_SUBTRACT] = 0x7b,
    [Q_KEY_CODE_KP_ADD] = 0x79, [Q_KEY_CODE_KP_ENTER] = E0(0x5a),
    [Q_KEY_CODE_KP_DECIMAL] = 0x71,
    /* Alt+Print Screen makes its own code */
    [Q_KEY_CODE_SYSRQ] = 0x84,
    [Q_KEY_CODE_KP_0] = 0x70, [Q_KEY_CODE_KP_1] = 0x69,
    [Q_KEY_CODE_KP_2] = 0x72, [Q_KEY_CODE_KP_3] = 0x7a,
    [Q_KEY_CODE_KP_4] = 0x6b, [Q_KEY_CODE_KP_5] = 0x73,
    [Q_KEY_CODE_KP_6] = 0x74, [Q_KEY_CODE_KP_7] = 0x6c,
    [Q_KEY_CODE_KP_8] = 0x75, [Q_KEY_CODE_KP_9] = 0x7d,
    [Q_KEY_CODE_LESS] = 0x61,
    [Q_KEY_CODE_HOME] = E0(0x6c), [Q_KEY_CODE_PGUP] = E0(0x7d),
    [Q_KEY_CODE_PGDN] = E0(0x7a), [Q_KEY_CODE_END] = E0(0x69),
    [Q_KEY_CODE_LEFT] = E0(0x6b), [Q_KEY_CODE_UP] = E0(0x75),
    [Q_KEY_CODE_DOWN] = E0(0x72), [Q_KEY_CODE_RIGHT] = E0(0x74),
    [Q_KEY_CODE_INSERT] = E0(0x70), [Q_KEY_CODE_DELETE] = E0(0x71),
    [Q_KEY_CODE_META_L] = E0(0x1f), [Q_KEY_CODE_META_R] = E0(0x27),
    /* Japanese and Brazilian keys */
    [Q_KEY_CODE_RO] = 0x51, [Q_KEY_CODE_HIRAGANA] = 0x13,
    [Q_KEY_CODE_KATAKANAHIRAGANA] = 0x13, [Q_KEY_CODE_HENKAN] = 0x64,
    [Q_KEY_CODE_YEN] = 0x6a, [Q_KEY_CODE_MUHENKAN] = 0x67,
    [Q_KEY_CODE_KP_COMMA] = 0x6d, [Q_KEY_CODE_KP_EQUALS] = 0x0f,
    /* Korean keys: no break codes on real keyboards */
    [Q_KEY_CODE_LANG1] = 0xf2, [Q_KEY_CODE_LANG2] = 0xf1,
    /* ACPI and multimedia keys */
    [Q_KEY_CODE_POWER] = E0(0x37), [Q_KEY_CODE_SLEEP] = E0(0x3f),
    [Q_KEY_CODE_WAKE] = E0(0x5e),
    [Q_KEY_CODE_AUDIONEXT] = E0(0x4d), [Q_KEY_CODE_AUDIOPREV] = E0(0x15),
    [Q_KEY_CODE_AUDIOSTOP] = E0(0x3b), [Q_KEY_CODE_AUDIOPLAY] = E0(0x34),
    [Q_KEY_CODE_AUDIOMUTE] = E0(0x23), [Q_KEY_CODE_VOLUMEUP] = E0(0x32),
    [Q_KEY_CODE_VOLUMEDOWN] = E0(0x21), [Q_KEY_CODE_MEDIASELECT] = E0(0x50),
    [Q_KEY_CODE_MAIL] = E0(0x48), [Q_KEY_CODE_CALCULATOR] = E0(0x2b),
    [Q_KEY_CODE_COMPUTER] = E0(0x40), [Q_KEY_CODE_AC_HOME] = E0(0x3a),
    [Q_KEY_CODE_AC_BACK] = E0(0x38), [Q_KEY_CODE_AC_FORWARD] = E0(0x30),
    [Q_KEY_CODE_AC_REFRESH] = E0(0x20), [Q_KEY_CODE_AC_BOOKMARKS] = E0(0x18),
    /* F13-F24 */
    [Q_KEY_CODE_F13] = 0x08, [Q_KEY_CODE_F14] = 0x10, [Q_KEY_CODE_F15] = 0x18,
    [Q_KEY_CODE_F16] = 0x20, [Q_KEY_CODE_F17] = 0x28, [Q_KEY_CODE_F18] = 0x30,
    [Q_KEY_CODE_F19] = 0x38, [Q_KEY_CODE_F20] = 0x40, [Q_KEY_CODE_F21] = 0x48,
    [Q_KEY_CODE_F22] = 0x50, [Q_KEY_CODE_F23] = 0x57, [Q_KEY_CODE_F24] = 0x5f,
};

/*
 * The 8042's translation table (set 2 -> set 1) for codes below 0x80;
 * codes from 0x80 pass unchanged except F7 (0x83) and SysRq (0x84).
 */
static const uint8_t set2_to_set1_low[0x80] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58,
    0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a,
    0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c,
    0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e,
    0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60,
    0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e,
    0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b,
    0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45,
    0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t scancode_set2_to_set1(uint8_t code)
{
    if (code < 0x80) {
        return set2_to_set1_low[code];
    }
    switch (code) {
    case 0x83:
        return 0x41;
    case 0x84:
        return 0x54;
    default:
        return code;
    }
}

const char *qkeycode_name(QKeyCode q)
{
    return (unsigned)q < Q_KEY_CODE__MAX ? qkeycode_names[q] : "unmapped";
}

int qkeycode_from_name(const char *name)
{
    for (int i = 0; i < Q_KEY_CODE__MAX; i++) {
        if (!strcmp(qkeycode_names[i], name)) {
            return i;
        }
    }
    return -1;
}

uint16_t qkeycode_to_set2(QKeyCode q)
{
    return (unsigned)q < Q_KEY_CODE__MAX ? qkeycode_set2[q] : 0;
}

/* QEMU's number for a key: its set 1 code, 0x80 set for E0 keys. */
static int qkeycode_number(QKeyCode q)
{
    uint16_t code = qkeycode_to_set2(q);
    uint8_t set1;

    if (q == Q_KEY_CODE_PRINT) {
        return 0x80 | 0x37;
    }
    if (q == Q_KEY_CODE_PAUSE) {
        return 0x80 | 0x46;
    }
    if (!code) {
        return -1;
    }
    set1 = scancode_set2_to_set1(code & 0xff);
    if (set1 & 0x80) {
        return -1;      /* the codes without a break code */
    }
    return (code >> 8 ? 0x80 : 0) | set1;
}

QKeyCode qkeycode_from_number(int64_t number)
{
    if (number <= 0 || number > 0xff) {
        return Q_KEY_CODE_UNMAPPED;
    }
    /* the first key wins where two share a code (asterisk, kp_multiply) */
    for (int i = 1; i < Q_KEY_CODE__MAX; i++) {
        if (qkeycode_number(i) == number) {
            return i;
        }
    }
    return Q_KEY_CODE_UNMAPPED;
}
