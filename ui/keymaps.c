/*
 * X keysyms (X11 protocol, appendix A; xkbcommon-keysyms.h) to QKeyCodes:
 * a built-in en-us map, or a layout compiled by libxkbcommon whose keys
 * and shift levels are walked to find how each keysym is typed.
 */
#include <string.h>

#include <xkbcommon/xkbcommon.h>

#include "ui/keymaps.h"
#include "util/opts.h"

struct Keymap {
    char *layout;
    /* keysym -> (qcode | mods << 16), from XKB; NULL for en-us */
    GHashTable *xkb;
};

typedef struct KeysymEntry {
    uint32_t keysym;
    uint8_t qcode;
} KeysymEntry;

/* Keys with the same keysym on every layout (not characters). */
static const KeysymEntry special_keysyms[] = {
    { 0xff08, Q_KEY_CODE_BACKSPACE }, { 0xff09, Q_KEY_CODE_TAB },
    { 0xfe20, Q_KEY_CODE_TAB },         /* ISO_Left_Tab (Shift+Tab) */
    { 0xff0a, Q_KEY_CODE_LF }, { 0xff0d, Q_KEY_CODE_RET },
    { 0xff13, Q_KEY_CODE_PAUSE }, { 0xff14, Q_KEY_CODE_SCROLL_LOCK },
    { 0xff15, Q_KEY_CODE_SYSRQ }, { 0xff1b, Q_KEY_CODE_ESC },
    { 0xff50, Q_KEY_CODE_HOME }, { 0xff51, Q_KEY_CODE_LEFT },
    { 0xff52, Q_KEY_CODE_UP }, { 0xff53, Q_KEY_CODE_RIGHT },
    { 0xff54, Q_KEY_CODE_DOWN }, { 0xff55, Q_KEY_CODE_PGUP },
    { 0xff56, Q_KEY_CODE_PGDN }, { 0xff57, Q_KEY_CODE_END },
    { 0xff61, Q_KEY_CODE_PRINT }, { 0xff63, Q_KEY_CODE_INSERT },
    { 0xff67, Q_KEY_CODE_MENU }, { 0xff7f, Q_KEY_CODE_NUM_LOCK },
    { 0xff7e, Q_KEY_CODE_ALT_R },       /* Mode_switch */
    { 0xff8d, Q_KEY_CODE_KP_ENTER },
    { 0xff95, Q_KEY_CODE_KP_7 }, { 0xff96, Q_KEY_CODE_KP_4 },
    { 0xff97, Q_KEY_CODE_KP_8 }, { 0xff98, Q_KEY_CODE_KP_6 },
    { 0xff99, Q_KEY_CODE_KP_2 }, { 0xff9a, Q_KEY_CODE_KP_9 },
    { 0xff9b, Q_KEY_CODE_KP_3 }, { 0xff9c, Q_KEY_CODE_KP_1 },
    { 0xff9d, Q_KEY_CODE_KP_5 }, { 0xff9e, Q_KEY_CODE_KP_0 },
    { 0xff9f, Q_KEY_CODE_KP_DECIMAL },
    { 0xffaa, Q_KEY_CODE_KP_MULTIPLY }, { 0xffab, Q_KEY_CODE_KP_ADD },
    { 0xffac, Q_KEY_CODE_KP_COMMA }, { 0xffad, Q_KEY_CODE_KP_SUBTRACT },
    { 0xffae, Q_KEY_CODE_KP_DECIMAL }, { 0xffaf, Q_KEY_CODE_KP_DIVIDE },
    { 0xffb0, Q_KEY_CODE_KP_0 }, { 0xffb1, Q_KEY_CODE_KP_1 },
    { 0xffb2, Q_KEY_CODE_KP_2 }, { 0xffb3, Q_KEY_CODE_KP_3 },
    { 0xffb4, Q_KEY_CODE_KP_4 }, { 0xffb5, Q_KEY_CODE_KP_5 },
    { 0xffb6, Q_KEY_CODE_KP_6 }, { 0xffb7, Q_KEY_CODE_KP_7 },
    { 0xffb8, Q_KEY_CODE_KP_8 }, { 0xffb9, Q_KEY_CODE_KP_9 },
    { 0xffbd, Q_KEY_CODE_KP_EQUALS },
    { 0xffbe, Q_KEY_CODE_F1 }, { 0xffbf, Q_KEY_CODE_F2 },
    { 0xffc0, Q_KEY_CODE_F3 }, { 0xffc1, Q_KEY_CODE_F4 },
    { 0xffc2, Q_KEY_CODE_F5 }, { 0xffc3, Q_KEY_CODE_F6 },
    { 0xffc4, Q_KEY_CODE_F7 }, { 0xffc5, Q_KEY_CODE_F8 },
    { 0xffc6, Q_KEY_CODE_F9 }, { 0xffc7, Q_KEY_CODE_F10 },
    { 0xffc8, Q_KEY_CODE_F11 }, { 0xffc9, Q_KEY_CODE_F12 },
    { 0xffca, Q_KEY_CODE_F13 }, { 0xffcb, Q_KEY_CODE_F14 },
    { 0xffcc, Q_KEY_CODE_F15 }, { 0xffcd, Q_KEY_CODE_F16 },
    { 0xffce, Q_KEY_CODE_F17 }, { 0xffcf, Q_KEY_CODE_F18 },
    { 0xffd0, Q_KEY_CODE_F19 }, { 0xffd1, Q_KEY_CODE_F20 },
    { 0xffd2, Q_KEY_CODE_F21 }, { 0xffd3, Q_KEY_CODE_F22 },
    { 0xffd4, Q_KEY_CODE_F23 }, { 0xffd5, Q_KEY_CODE_F24 },
    { 0xffe1, Q_KEY_CODE_SHIFT }, { 0xffe2, Q_KEY_CODE_SHIFT_R },
    { 0xffe3, Q_KEY_CODE_CTRL }, { 0xffe4, Q_KEY_CODE_CTRL_R },
    { 0xffe5, Q_KEY_CODE_CAPS_LOCK },
    { 0xffe7, Q_KEY_CODE_META_L }, { 0xffe8, Q_KEY_CODE_META_R },
    { 0xffe9, Q_KEY_CODE_ALT }, { 0xffea, Q_KEY_CODE_ALT_R },
    { 0xffeb, Q_KEY_CODE_META_L }, { 0xffec, Q_KEY_CODE_META_R },
    { 0xfe03, Q_KEY_CODE_ALT_R },       /* ISO_Level3_Shift: AltGr */
    { 0xffff, Q_KEY_CODE_DELETE },
};

/* en-us: the printable ASCII range 0x20..0x7e, unshifted then shifted. */
static const char us_plain[] = "`1234567890-=qwertyuiop[]\\asdfghjkl;'"
                               "zxcvbnm,./ ";
static const char us_shifted[] = "~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:\""
                                 "ZXCVBNM<>? ";
static const uint8_t us_keys[] = {
    Q_KEY_CODE_GRAVE_ACCENT, Q_KEY_CODE_1, Q_KEY_CODE_2, Q_KEY_CODE_3,
    Q_KEY_CODE_4, Q_KEY_CODE_5, Q_KEY_CODE_6, Q_KEY_CODE_7, Q_KEY_CODE_8,
    Q_KEY_CODE_9, Q_KEY_CODE_0, Q_KEY_CODE_MINUS, Q_KEY_CODE_EQUAL,
    Q_KEY_CODE_Q, Q_KEY_CODE_W, Q_KEY_CODE_E, Q_KEY_CODE_R, Q_KEY_CODE_T,
    Q_KEY_CODE_Y, Q_KEY_CODE_U, Q_KEY_CODE_I, Q_KEY_CODE_O, Q_KEY_CODE_P,
    Q_KEY_CODE_BRACKET_LEFT, Q_KEY_CODE_BRACKET_RIGHT, Q_KEY_CODE_BACKSLASH,
    Q_KEY_CODE_A, Q_KEY_CODE_S, Q_KEY_CODE_D, Q_KEY_CODE_F, Q_KEY_CODE_G,
    Q_KEY_CODE_H, Q_KEY_CODE_J, Q_KEY_CODE_K, Q_KEY_CODE_L,
    Q_KEY_CODE_SEMICOLON, Q_KEY_CODE_APOSTROPHE,
    Q_KEY_CODE_Z, Q_KEY_CODE_X, Q_KEY_CODE_C, Q_KEY_CODE_V, Q_KEY_CODE_B,
    Q_KEY_CODE_N, Q_KEY_CODE_M, Q_KEY_CODE_COMMA, Q_KEY_CODE_DOT,
    Q_KEY_CODE_SLASH, Q_KEY_CODE_SPC,
};

/* Linux evdev key codes (input-event-codes.h) 0..194 as QKeyCodes. */
static const uint8_t evdev_qcode[] = {
    [1] = Q_KEY_CODE_ESC, [2] = Q_KEY_CODE_1, [3] = Q_KEY_CODE_2,
    [4] = Q_KEY_CODE_3, [5] = Q_KEY_CODE_4, [6] = Q_KEY_CODE_5,
    [7] = Q_KEY_CODE_6, [8] = Q_KEY_CODE_7, [9] = Q_KEY_CODE_8,
    [10] = Q_KEY_CODE_9, [11] = Q_KEY_CODE_0, [12] = Q_KEY_CODE_MINUS,
    [13] = Q_KEY_CODE_EQUAL, [14] = Q_KEY_CODE_BACKSPACE,
    [15] = Q_KEY_CODE_TAB, [16] = Q_KEY_CODE_Q, [17] = Q_KEY_CODE_W,
    [18] = Q_KEY_CODE_E, [19] = Q_KEY_CODE_R, [20] = Q_KEY_CODE_T,
    [21] = Q_KEY_CODE_Y, [22] = Q_KEY_CODE_U, [23] = Q_KEY_CODE_I,
    [24] = Q_KEY_CODE_O, [25] = Q_KEY_CODE_P,
    [26] = Q_KEY_CODE_BRACKET_LEFT, [27] = Q_KEY_CODE_BRACKET_RIGHT,
    [28] = Q_KEY_CODE_RET, [29] = Q_KEY_CODE_CTRL, [30] = Q_KEY_CODE_A,
    [31] = Q_KEY_CODE_S, [32] = Q_KEY_CODE_D, [33] = Q_KEY_CODE_F,
    [34] = Q_KEY_CODE_G, [35] = Q_KEY_CODE_H, [36] = Q_KEY_CODE_J,
    [37] = Q_KEY_CODE_K, [38] = Q_KEY_CODE_L, [39] = Q_KEY_CODE_SEMICOLON,
    [40] = Q_KEY_CODE_APOSTROPHE, [41] = Q_KEY_CODE_GRAVE_ACCENT,
    [42] = Q_KEY_CODE_SHIFT, [43] = Q_KEY_CODE_BACKSLASH,
    [44] = Q_KEY_CODE_Z, [45] = Q_KEY_CODE_X, [46] = Q_KEY_CODE_C,
    [47] = Q_KEY_CODE_V, [48] = Q_KEY_CODE_B, [49] = Q_KEY_CODE_N,
    [50] = Q_KEY_CODE_M, [51] = Q_KEY_CODE_COMMA, [52] = Q_KEY_CODE_DOT,
    [53] = Q_KEY_CODE_SLASH, [54] = Q_KEY_CODE_SHIFT_R,
    [55] = Q_KEY_CODE_KP_MULTIPLY, [56] = Q_KEY_CODE_ALT,
    [57] = Q_KEY_CODE_SPC, [58] = Q_KEY_CODE_CAPS_LOCK,
    [59] = Q_KEY_CODE_F1, [60] = Q_KEY_CODE_F2, [61] = Q_KEY_CODE_F3,
    [62] = Q_KEY_CODE_F4, [63] = Q_KEY_CODE_F5, [64] = Q_KEY_CODE_F6,
    [65] = Q_KEY_CODE_F7, [66] = Q_KEY_CODE_F8, [67] = Q_KEY_CODE_F9,
    [68] = Q_KEY_CODE_F10, [69] = Q_KEY_CODE_NUM_LOCK,
    [70] = Q_KEY_CODE_SCROLL_LOCK, [71] = Q_KEY_CODE_KP_7,
    [72] = Q_KEY_CODE_KP_8, [73] = Q_KEY_CODE_KP_9,
    [74] = Q_KEY_CODE_KP_SUBTRACT, [75] = Q_KEY_CODE_KP_4,
    [76] = Q_KEY_CODE_KP_5, [77] = Q_KEY_CODE_KP_6, [78] = Q_KEY_CODE_KP_ADD,
    [79] = Q_KEY_CODE_KP_1, [80] = Q_KEY_CODE_KP_2, [81] = Q_KEY_CODE_KP_3,
    [82] = Q_KEY_CODE_KP_0, [83] = Q_KEY_CODE_KP_DECIMAL,
    [86] = Q_KEY_CODE_LESS, [87] = Q_KEY_CODE_F11, [88] = Q_KEY_CODE_F12,
    [89] = Q_KEY_CODE_RO, [90] = Q_KEY_CODE_KATAKANAHIRAGANA,
    [91] = Q_KEY_CODE_HIRAGANA, [92] = Q_KEY_CODE_HENKAN,
    [93] = Q_KEY_CODE_KATAKANAHIRAGANA, [94] = Q_KEY_CODE_MUHENKAN,
    [95] = Q_KEY_CODE_KP_COMMA, [96] = Q_KEY_CODE_KP_ENTER,
    [97] = Q_KEY_CODE_CTRL_R, [98] = Q_KEY_CODE_KP_DIVIDE,
    [99] = Q_KEY_CODE_SYSRQ, [100] = Q_KEY_CODE_ALT_R,
    [101] = Q_KEY_CODE_LF, [102] = Q_KEY_CODE_HOME, [103] = Q_KEY_CODE_UP,
    [104] = Q_KEY_CODE_PGUP, [105] = Q_KEY_CODE_LEFT,
    [106] = Q_KEY_CODE_RIGHT, [107] = Q_KEY_CODE_END,
    [108] = Q_KEY_CODE_DOWN, [109] = Q_KEY_CODE_PGDN,
    [110] = Q_KEY_CODE_INSERT, [111] = Q_KEY_CODE_DELETE,
    [113] = Q_KEY_CODE_AUDIOMUTE, [114] = Q_KEY_CODE_VOLUMEDOWN,
    [115] = Q_KEY_CODE_VOLUMEUP, [116] = Q_KEY_CODE_POWER,
    [117] = Q_KEY_CODE_KP_EQUALS, [119] = Q_KEY_CODE_PAUSE,
    [121] = Q_KEY_CODE_KP_COMMA, [122] = Q_KEY_CODE_LANG1,
    [123] = Q_KEY_CODE_LANG2, [124] = Q_KEY_CODE_YEN,
    [125] = Q_KEY_CODE_META_L, [126] = Q_KEY_CODE_META_R,
    [127] = Q_KEY_CODE_COMPOSE, [128] = Q_KEY_CODE_STOP,
    [129] = Q_KEY_CODE_AGAIN, [130] = Q_KEY_CODE_PROPS,
    [131] = Q_KEY_CODE_UNDO, [132] = Q_KEY_CODE_FRONT,
    [133] = Q_KEY_CODE_COPY, [134] = Q_KEY_CODE_OPEN,
    [135] = Q_KEY_CODE_PASTE, [136] = Q_KEY_CODE_FIND,
    [137] = Q_KEY_CODE_CUT, [138] = Q_KEY_CODE_HELP,
    [139] = Q_KEY_CODE_MENU, [140] = Q_KEY_CODE_CALCULATOR,
    [142] = Q_KEY_CODE_SLEEP, [143] = Q_KEY_CODE_WAKE,
    [155] = Q_KEY_CODE_MAIL, [156] = Q_KEY_CODE_AC_BOOKMARKS,
    [157] = Q_KEY_CODE_COMPUTER, [158] = Q_KEY_CODE_AC_BACK,
    [159] = Q_KEY_CODE_AC_FORWARD, [163] = Q_KEY_CODE_AUDIONEXT,
    [164] = Q_KEY_CODE_AUDIOPLAY, [165] = Q_KEY_CODE_AUDIOPREV,
    [166] = Q_KEY_CODE_AUDIOSTOP, [172] = Q_KEY_CODE_AC_HOME,
    [173] = Q_KEY_CODE_AC_REFRESH,
    [183] = Q_KEY_CODE_F13, [184] = Q_KEY_CODE_F14, [185] = Q_KEY_CODE_F15,
    [186] = Q_KEY_CODE_F16, [187] = Q_KEY_CODE_F17, [188] = Q_KEY_CODE_F18,
    [189] = Q_KEY_CODE_F19, [190] = Q_KEY_CODE_F20, [191] = Q_KEY_CODE_F21,
    [192] = Q_KEY_CODE_F22, [193] = Q_KEY_CODE_F23, [194] = Q_KEY_CODE_F24,
};

QKeyCode qcode_from_evdev(unsigned code)
{
    if (code >= G_N_ELEMENTS(evdev_qcode)) {
        return Q_KEY_CODE_UNMAPPED;
    }
    return evdev_qcode[code];
}

/* QEMU's -k names that XKB spells differently: "layout" or "layout(variant)" */
static const struct {
    const char *qemu, *xkb_layout, *xkb_variant;
} layout_aliases[] = {
    { "ar", "ara", NULL }, { "da", "dk", NULL }, { "en-gb", "gb", NULL },
    { "en-us", "us", NULL }, { "et", "ee", NULL }, { "fr-be", "be", NULL },
    { "fr-ca", "ca", "fr" }, { "fr-ch", "ch", "fr" },
    { "de-ch", "ch", NULL }, { "ja", "jp", NULL }, { "nl-be", "be", NULL },
    { "pt-br", "br", NULL }, { "sl", "si", NULL }, { "sv", "se", NULL },
    { "bepo", "fr", "bepo" }, { "mk", "mk", NULL }, { "th", "th", NULL },
};

static bool builtin_lookup(uint32_t keysym, QKeyCode *qcode, unsigned *mods)
{
    const char *p;

    for (size_t i = 0; i < G_N_ELEMENTS(special_keysyms); i++) {
        if (special_keysyms[i].keysym == keysym) {
            *qcode = special_keysyms[i].qcode;
            *mods = 0;
            return true;
        }
    }
    if (keysym < 0x20 || keysym > 0x7e) {
        return false;
    }
    if ((p = strchr(us_plain, (int)keysym))) {
        *qcode = us_keys[p - us_plain];
        *mods = 0;
        return true;
    }
    if ((p = strchr(us_shifted, (int)keysym))) {
        *qcode = us_keys[p - us_shifted];
        *mods = KEYMAP_MOD_SHIFT;
        return true;
    }
    return false;
}

/* Which of our modifiers a modifier mask stands for; false: others too. */
static bool xkb_mask_to_mods(xkb_mod_mask_t mask, xkb_mod_mask_t shift,
                             xkb_mod_mask_t altgr, unsigned *mods)
{
    if (mask & ~(shift | altgr)) {
        return false;
    }
    *mods = ((mask & shift) ? KEYMAP_MOD_SHIFT : 0) |
            ((mask & altgr) ? KEYMAP_MOD_ALTGR : 0);
    return true;
}

static xkb_mod_mask_t xkb_mod_bit(struct xkb_keymap *km, const char *name)
{
    xkb_mod_index_t i = xkb_keymap_mod_get_index(km, name);

    return i == XKB_MOD_INVALID ? 0 : (xkb_mod_mask_t)1 << i;
}

/* Records how each keysym is typed: the fewest modifiers win. */
static void xkb_walk_key(struct xkb_keymap *km, xkb_keycode_t kc,
                         xkb_mod_mask_t shift, xkb_mod_mask_t altgr,
                         GHashTable *table)
{
    QKeyCode q = kc >= 8 ? qcode_from_evdev(kc - 8) : Q_KEY_CODE_UNMAPPED;
    xkb_level_index_t nlevels = xkb_keymap_num_levels_for_key(km, kc, 0);

    if (q == Q_KEY_CODE_UNMAPPED) {
        return;
    }
    for (xkb_level_index_t lvl = 0; lvl < nlevels; lvl++) {
        const xkb_keysym_t *syms;
        xkb_mod_mask_t masks[8];
        size_t nmasks = xkb_keymap_key_get_mods_for_level(km, kc, 0, lvl,
                                                          masks, 8);
        unsigned mods = 0;
        bool usable = false;

        for (size_t m = 0; m < nmasks && !usable; m++) {
            usable = xkb_mask_to_mods(masks[m], shift, altgr, &mods);
        }
        if (!usable ||
            xkb_keymap_key_get_syms_by_level(km, kc, 0, lvl, &syms) != 1) {
            continue;
        }
        gpointer old;
        if (g_hash_table_lookup_extended(table, GUINT_TO_POINTER(syms[0]),
                                         NULL, &old) &&
            (GPOINTER_TO_UINT(old) >> 16) <= mods) {
            continue;
        }
        g_hash_table_insert(table, GUINT_TO_POINTER(syms[0]),
                            GUINT_TO_POINTER(q | (mods << 16)));
    }
}

static GHashTable *xkb_build(const char *layout, GError **errp)
{
    struct xkb_rule_names names = { .rules = "evdev", .model = "pc105" };
    g_autofree char *lay = NULL, *var = NULL;
    struct xkb_context *ctx;
    struct xkb_keymap *km;
    GHashTable *table;
    const char *paren;

    for (size_t i = 0; i < G_N_ELEMENTS(layout_aliases); i++) {
        if (!strcmp(layout, layout_aliases[i].qemu)) {
            lay = g_strdup(layout_aliases[i].xkb_layout);
            var = g_strdup(layout_aliases[i].xkb_variant);
        }
    }
    if (!lay && (paren = strchr(layout, '(')) &&
        g_str_has_suffix(layout, ")")) {
        lay = g_strndup(layout, paren - layout);
        var = g_strndup(paren + 1, strlen(paren + 1) - 1);
    } else if (!lay) {
        lay = g_strdup(layout);
    }
    names.layout = lay;
    names.variant = var;
    ctx = xkb_context_new(XKB_CONTEXT_NO_ENVIRONMENT_NAMES);
    if (!ctx) {
        g_set_error(errp, VIREO_ERROR, 0, "-k %s: could not start "
                    "libxkbcommon", layout);
        return NULL;
    }
    xkb_context_set_log_level(ctx, XKB_LOG_LEVEL_CRITICAL);
    km = xkb_keymap_new_from_names(ctx, &names, XKB_KEYMAP_COMPILE_NO_FLAGS);
    if (!km) {
        xkb_context_unref(ctx);
        g_set_error(errp, VIREO_ERROR, 0, "-k %s: unknown keyboard layout "
                    "(no XKB layout '%s'%s%s%s in the host's XKB data)",
                    layout, lay, var ? ", variant '" : "", var ? var : "",
                    var ? "'" : "");
        return NULL;
    }
    table = g_hash_table_new(NULL, NULL);
    xkb_mod_mask_t shift = xkb_mod_bit(km, XKB_MOD_NAME_SHIFT);
    xkb_mod_mask_t altgr = xkb_mod_bit(km, "Mod5") |
                           xkb_mod_bit(km, "LevelThree");
    for (xkb_keycode_t kc = xkb_keymap_min_keycode(km);
         kc <= xkb_keymap_max_keycode(km); kc++) {
        xkb_walk_key(km, kc, shift, altgr, table);
    }
    xkb_keymap_unref(km);
    xkb_context_unref(ctx);
    return table;
}

Keymap *keymap_new(const char *layout, GError **errp)
{
    Keymap *km = g_new0(Keymap, 1);

    km->layout = g_strdup(layout ? layout : "en-us");
    if (layout && strcmp(layout, "en-us")) {
        km->xkb = xkb_build(layout, errp);
        if (!km->xkb) {
            keymap_free(km);
            return NULL;
        }
    }
    return km;
}

void keymap_free(Keymap *km)
{
    if (km) {
        if (km->xkb) {
            g_hash_table_destroy(km->xkb);
        }
        g_free(km->layout);
        g_free(km);
    }
}

const char *keymap_layout(const Keymap *km)
{
    return km->layout;
}

bool keymap_lookup(const Keymap *km, uint32_t keysym, QKeyCode *qcode,
                   unsigned *mods)
{
    gpointer v;

    /* the special keys first: XKB may list Tab at a level with Shift */
    for (size_t i = 0; i < G_N_ELEMENTS(special_keysyms); i++) {
        if (special_keysyms[i].keysym == keysym) {
            *qcode = special_keysyms[i].qcode;
            *mods = 0;
            return true;
        }
    }
    if (km && km->xkb) {
        if (g_hash_table_lookup_extended(km->xkb, GUINT_TO_POINTER(keysym),
                                         NULL, &v)) {
            *qcode = GPOINTER_TO_UINT(v) & 0xffff;
            *mods = GPOINTER_TO_UINT(v) >> 16;
            return true;
        }
        return false;
    }
    return builtin_lookup(keysym, qcode, mods);
}

/* ---- typing ---- */

/* Characters, as opposed to function and modifier keys (0xff00..). */
static bool keysym_is_char(uint32_t keysym)
{
    return keysym < 0xfe00 || keysym >= 0x1000000;
}

static bool keysym_is_letter(uint32_t keysym)
{
    return (keysym >= 'a' && keysym <= 'z') ||
           (keysym >= 'A' && keysym <= 'Z');
}

static bool track_modifier(KeysymState *st, QKeyCode q, bool down)
{
    switch (q) {
    case Q_KEY_CODE_SHIFT:
        st->shift_l = down;
        return true;
    case Q_KEY_CODE_SHIFT_R:
        st->shift_r = down;
        return true;
    case Q_KEY_CODE_ALT_R:
        st->altgr = down;
        return true;
    default:
        return false;
    }
}

static void pressed_add(KeysymState *st, uint32_t keysym, QKeyCode q)
{
    for (unsigned i = 0; i < st->npressed; i++) {
        if (st->pressed[i].keysym == keysym) {
            st->pressed[i].qcode = q;   /* auto-repeat */
            return;
        }
    }
    if (st->npressed < KEYSYM_PRESSED_MAX) {
        st->pressed[st->npressed].keysym = keysym;
        st->pressed[st->npressed].qcode = q;
        st->npressed++;
    }
}

static bool pressed_take(KeysymState *st, uint32_t keysym, QKeyCode *q)
{
    for (unsigned i = 0; i < st->npressed; i++) {
        if (st->pressed[i].keysym == keysym) {
            *q = st->pressed[i].qcode;
            st->pressed[i] = st->pressed[--st->npressed];
            return true;
        }
    }
    return false;
}

/*
 * Presses a character key with the Shift/AltGr state the layout needs,
 * then puts the user's modifiers back as they were.
 */
static void type_with_mods(KeysymState *st, QKeyCode q, unsigned mods)
{
    bool want_shift = mods & KEYMAP_MOD_SHIFT;
    bool have_shift = st->shift_l || st->shift_r;
    bool want_altgr = mods & KEYMAP_MOD_ALTGR;

    if (want_shift && !have_shift) {
        input_send_key(Q_KEY_CODE_SHIFT, true);
    } else if (!want_shift && have_shift) {
        if (st->shift_l) {
            input_send_key(Q_KEY_CODE_SHIFT, false);
        }
        if (st->shift_r) {
            input_send_key(Q_KEY_CODE_SHIFT_R, false);
        }
    }
    if (want_altgr && !st->altgr) {
        input_send_key(Q_KEY_CODE_ALT_R, true);
    }
    input_send_key(q, true);
    if (want_altgr && !st->altgr) {
        input_send_key(Q_KEY_CODE_ALT_R, false);
    }
    if (want_shift && !have_shift) {
        input_send_key(Q_KEY_CODE_SHIFT, false);
    } else if (!want_shift && have_shift) {
        if (st->shift_l) {
            input_send_key(Q_KEY_CODE_SHIFT, true);
        }
        if (st->shift_r) {
            input_send_key(Q_KEY_CODE_SHIFT_R, true);
        }
    }
}

void keysym_event(const Keymap *km, KeysymState *st, uint32_t keysym,
                  bool down)
{
    QKeyCode q;
    unsigned mods;

    if (!down) {
        if (!pressed_take(st, keysym, &q) &&
            !keymap_lookup(km, keysym, &q, &mods)) {
            return;
        }
        track_modifier(st, q, false);
        input_send_key(q, false);
        return;
    }
    if (!keymap_lookup(km, keysym, &q, &mods) || q == Q_KEY_CODE_UNMAPPED) {
        return;
    }
    pressed_add(st, keysym, q);
    if (track_modifier(st, q, true) || !keysym_is_char(keysym)) {
        input_send_key(q, true);
        return;
    }
    /* with Caps Lock on in the guest, Shift gives lower-case letters */
    if (keysym_is_letter(keysym) && (input_kbd_leds() & INPUT_LED_CAPS_LOCK)) {
        mods ^= KEYMAP_MOD_SHIFT;
    }
    type_with_mods(st, q, mods);
}

void keysym_release_all(KeysymState *st)
{
    while (st->npressed) {
        input_send_key(st->pressed[--st->npressed].qcode, false);
    }
    st->shift_l = st->shift_r = st->altgr = false;
}
