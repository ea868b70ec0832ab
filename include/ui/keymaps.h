/*
 * X keysyms to QKeyCodes, for frontends that get characters instead of
 * key positions (VNC clients without QEMU's extended key event). The
 * default is a built-in en-us map; another layout (-k de) is compiled by
 * libxkbcommon from the host's XKB data, and each keysym is mapped to the
 * key and modifiers (Shift, AltGr) that produce it there.
 */
#ifndef UI_KEYMAPS_H
#define UI_KEYMAPS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "ui/input.h"

#define KEYMAP_MOD_SHIFT 0x1
#define KEYMAP_MOD_ALTGR 0x2

typedef struct Keymap Keymap;

/*
 * The map of layout (QEMU's -k names: "en-us", "de", "fr", "en-gb", ...;
 * XKB names such as "us" or "de(nodeadkeys)" work too). NULL or "en-us":
 * the built-in map. An unknown layout is an error naming it.
 */
Keymap *keymap_new(const char *layout, GError **errp);
void keymap_free(Keymap *km);
const char *keymap_layout(const Keymap *km);
/* The key and modifiers (KEYMAP_MOD_*) typing keysym; false: none. */
bool keymap_lookup(const Keymap *km, uint32_t keysym, QKeyCode *qcode,
                   unsigned *mods);
/* A Linux evdev key code (linux/input-event-codes.h) as a QKeyCode. */
QKeyCode qcode_from_evdev(unsigned code);

/* What a frontend remembers about one user's keyboard. */
#define KEYSYM_PRESSED_MAX 32
typedef struct KeysymState {
    bool shift_l, shift_r, altgr;
    unsigned npressed;
    struct {
        uint32_t keysym;
        QKeyCode qcode;
    } pressed[KEYSYM_PRESSED_MAX];
} KeysymState;

/*
 * A keysym went down or up: sends the key to the input router, pressing
 * or releasing Shift and AltGr around it when the layout needs a different
 * state than the user's for that character. The release goes to the key
 * the press went to.
 */
void keysym_event(const Keymap *km, KeysymState *st, uint32_t keysym,
                  bool down);
/* Releases every key still held (the user went away). */
void keysym_release_all(KeysymState *st);

#endif
