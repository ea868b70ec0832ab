/*
 * -display parsing and frontend start-up. QEMU's choice of a default
 * display, reduced to what Vireo has: the SDL2 window when it was built in
 * and an X11 or Wayland display is there, otherwise none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ui/display.h"
#include "util/log.h"
#include "util/opts.h"

static bool sdl_started;

void display_options_init(DisplayOptions *o)
{
    memset(o, 0, sizeof(*o));
    o->type = DISPLAY_TYPE_DEFAULT;
    o->window_close = true;
}

void display_options_free(DisplayOptions *o)
{
    g_free(o->vnc);
    o->vnc = NULL;
}

void display_print_help(void)
{
    printf("Available display backend types:\nnone\n");
#ifdef CONFIG_SDL
    printf("sdl\n");
#endif
    printf("vnc\n");
}

static bool parse_sdl(DisplayOptions *o, Opts *opts, GError **errp)
{
    const char *mod = opts_get(opts, "grab-mod");
    bool alt_grab, ctrl_grab;

    if (!opts_get_bool(opts, "full-screen", o->full_screen, &o->full_screen,
                       errp) ||
        !opts_get_bool(opts, "window-close", true, &o->window_close, errp) ||
        !opts_get_bool(opts, "show-cursor", false, &o->show_cursor, errp) ||
        !opts_get_bool(opts, "alt_grab", false, &alt_grab, errp) ||
        !opts_get_bool(opts, "ctrl_grab", false, &ctrl_grab, errp)) {
        return false;
    }
    if (alt_grab) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: alt_grab=on is not supported; the grab "
                    "keys are Ctrl+Alt (or grab-mod=rctrl)");
        return false;
    }
    o->grab_rctrl = ctrl_grab;
    if (mod) {
        if (!strcmp(mod, "rctrl")) {
            o->grab_rctrl = true;
        } else if (strcmp(mod, "lctrl-lalt")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-display sdl: grab-mod '%s' is not supported "
                        "(lctrl-lalt or rctrl)", mod);
            return false;
        }
    }
    const char *gl = opts_get(opts, "gl");
    if (gl && strcmp(gl, "off")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: gl=%s is not supported (no OpenGL "
                    "display yet)", gl);
        return false;
    }
    return true;
}

bool display_parse(DisplayOptions *o, const char *arg, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *opts;
    const char *type;
    bool ok = false;

    /* vnc=SPEC takes the rest, commas and all, as QEMU does */
    if (g_str_has_prefix(arg, "vnc=")) {
        g_free(o->vnc);
        o->vnc = g_strdup(arg + 4);
        o->type = DISPLAY_TYPE_NONE;
        return true;
    }
    opts = opts_parse(arg, "type", &err);
    if (!opts) {
        g_set_error(errp, VIREO_ERROR, 0, "-display %s: %s", arg,
                    err->message);
        return false;
    }
    type = opts_get(opts, "type");
    if (!type) {
        g_set_error(errp, VIREO_ERROR, 0, "-display %s: no display type",
                    arg);
    } else if (!strcmp(type, "none")) {
        o->type = DISPLAY_TYPE_NONE;
        ok = opts_check_unused(opts, "-display none", errp);
    } else if (!strcmp(type, "sdl")) {
#ifdef CONFIG_SDL
        o->type = DISPLAY_TYPE_SDL;
        ok = parse_sdl(o, opts, errp) &&
             opts_check_unused(opts, "-display sdl", errp);
#else
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: this Vireo was built without SDL2 "
                    "(install libsdl2-dev and reconfigure)");
#endif
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display %s: display type '%s' is not available (%s)",
                    arg, type, "see -display help");
    }
    opts_free(opts);
    return ok;
}

static bool have_window_system(void)
{
    const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");

    return (x && *x) || (w && *w);
}

bool display_init(DisplayOptions *o, GError **errp)
{
    DisplayType type = o->type;

    if (type == DISPLAY_TYPE_DEFAULT) {
#ifdef CONFIG_SDL
        /* -vnc alone means no window, as in QEMU; so does a machine
         * without X11 or Wayland (QEMU would fail to start SDL there) */
        type = have_window_system() && !o->vnc ? DISPLAY_TYPE_SDL
                                                : DISPLAY_TYPE_NONE;
#else
        type = DISPLAY_TYPE_NONE;
#endif
    }
#ifdef CONFIG_SDL
    if (type == DISPLAY_TYPE_SDL) {
        g_autoptr(GError) err = NULL;

        if (sdl_display_init(o, &err)) {
            sdl_started = true;
        } else if (o->type == DISPLAY_TYPE_DEFAULT) {
            /* a window nobody asked for is not worth failing over (a
             * stale DISPLAY, say): run without one, as -display none */
            log_warn("%s; running without a window", err->message);
        } else {
            g_propagate_error(errp, g_steal_pointer(&err));
            return false;
        }
    }
#endif
    if (o->vnc && !vnc_display_init(o->vnc, o, errp)) {
        return false;
    }
    return true;
}

void display_cleanup(void)
{
    vnc_display_cleanup();
#ifdef CONFIG_SDL
    if (sdl_started) {
        sdl_display_cleanup();
        sdl_started = false;
    }
#endif
}
