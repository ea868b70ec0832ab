/* The standard VGA ("VGA", hw/display/std-vga.c) as boards see it. */
#ifndef HW_DISPLAY_VGA_H
#define HW_DISPLAY_VGA_H

#include <glib.h>
#include <stdbool.h>

#include "hw/i386/x86.h"

/*
 * The pc machine's display, as QEMU's: a "VGA" at 00:02.0 unless -vga none,
 * or -nodefaults or a -device VGA without -vga. Call it right after the
 * host bridge exists and before -device cards take the free slots.
 */
bool pc_vga_init(Machine *m, GError **errp);

#endif
