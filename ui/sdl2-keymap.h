/* The SDL2 window's key table (ui/sdl2-keymap.c). */
#ifndef UI_SDL2_KEYMAP_H
#define UI_SDL2_KEYMAP_H

#include <glib.h>

#include "ui/input.h"

/* The key at an SDL_Scancode, or Q_KEY_CODE_UNMAPPED for none. */
QKeyCode sdl2_scancode_to_qcode(int scancode);

#endif
