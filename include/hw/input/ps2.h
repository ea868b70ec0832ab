/*
 * PS/2 keyboard and mouse, the devices behind the i8042's two ports
 * (hw/input/ps2.c). The controller writes bytes to them and pulls their
 * replies, scancodes and packets out of each device's queue.
 */
#ifndef HW_INPUT_PS2_H
#define HW_INPUT_PS2_H

#include <stdbool.h>
#include <stdint.h>

typedef struct VMStateDescription VMStateDescription;
typedef struct PS2Keyboard PS2Keyboard;
typedef struct PS2Mouse PS2Mouse;

/* Called when bytes were added to a device's queue. */
typedef void PS2DataReady(void *opaque);

/* Each registers with the input router as a keyboard or a mouse. */
PS2Keyboard *ps2_keyboard_new(PS2DataReady *ready, void *opaque);
void ps2_keyboard_free(PS2Keyboard *k);
void ps2_keyboard_reset(PS2Keyboard *k);
/* A byte from the host (the i8042's port 0x60 write). */
void ps2_keyboard_write(PS2Keyboard *k, uint8_t val);
bool ps2_keyboard_has_data(PS2Keyboard *k);
/* The next byte of the queue (the last one again if it is empty). */
uint8_t ps2_keyboard_read(PS2Keyboard *k);

PS2Mouse *ps2_mouse_new(PS2DataReady *ready, void *opaque);
void ps2_mouse_free(PS2Mouse *m);
void ps2_mouse_reset(PS2Mouse *m);
void ps2_mouse_write(PS2Mouse *m, uint8_t val);
bool ps2_mouse_has_data(PS2Mouse *m);
uint8_t ps2_mouse_read(PS2Mouse *m);

extern const VMStateDescription vmstate_ps2_keyboard;
extern const VMStateDescription vmstate_ps2_mouse;

#endif
