/*
 * Display frontends and their options: -display, -vnc, -full-screen, -k.
 * The SDL2 window (ui/sdl2.c) and the VNC server (ui/vnc*.c) are
 * listeners of a console (ui/console.h) and feed the input router
 * (ui/input.h). Everything here runs on the main loop under the big lock.
 */
#ifndef UI_DISPLAY_H
#define UI_DISPLAY_H

#include <glib.h>
#include <stdbool.h>

typedef enum DisplayType {
    DISPLAY_TYPE_DEFAULT,   /* sdl when built in and a display is there */
    DISPLAY_TYPE_NONE,
    DISPLAY_TYPE_SDL,
} DisplayType;

typedef struct DisplayOptions {
    DisplayType type;
    bool full_screen;           /* -full-screen, full-screen=on */
    bool window_close;          /* closing the window quits (default) */
    bool show_cursor;           /* show-cursor=on: the host pointer stays */
    bool grab_rctrl;            /* grab-mod=rctrl: right Ctrl, not Ctrl+Alt */
    char *vnc;                  /* -vnc / -display vnc= spec, or NULL */
    const char *keyboard_layout;    /* -k, for VNC keysyms; NULL: en-us */
    const char *vm_name;        /* -name, for window titles and VNC */
} DisplayOptions;

/* Sets the defaults before parsing. */
void display_options_init(DisplayOptions *o);
/* Parses -display ARG ("help" is handled by the caller). */
bool display_parse(DisplayOptions *o, const char *arg, GError **errp);
/* "none" "sdl" ... for -display help, one per line. */
void display_print_help(void);
/* Starts the frontends; the machine (and its consoles) exists. */
bool display_init(DisplayOptions *o, GError **errp);
void display_cleanup(void);
void display_options_free(DisplayOptions *o);

/* ui/sdl2.c (only with SDL2 built in) */
bool sdl_display_init(const DisplayOptions *o, GError **errp);
void sdl_display_cleanup(void);

/*
 * ui/vnc.c: the VNC server on spec (QEMU's -vnc syntax, e.g.
 * ":1", "127.0.0.1:1,password=on", "unix:PATH").
 */
bool vnc_display_init(const char *spec, const DisplayOptions *o,
                      GError **errp);
void vnc_display_cleanup(void);

#endif
