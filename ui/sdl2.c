/*
 * The SDL2 window (-display sdl), behaving as QEMU's: a listener of console
 * 0 that uploads the changed rectangles of the guest's surface to an SDL
 * texture and scales it to the window, and sends the window's keys (by
 * scancode, so layout-independent) and pointer to the input router.
 * Hot-keys: Ctrl+Alt+G grab, Ctrl+Alt+F full screen, Ctrl+Alt+U guest size
 * (right Ctrl alone with grab-mod=rctrl).
 *
 * SDL is used only from the main thread: from display_init and from the
 * console's refresh timer, both on the glib main loop under the big lock.
 */
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "system/runstate.h"
#include "system/timer.h"
#include "ui/console.h"
#include "ui/display.h"
#include "ui/input.h"
#include "ui/sdl2-keymap.h"
#include "util/log.h"
#include "util/opts.h"

typedef struct SdlDisplay {
    DisplayChangeListener dcl;
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture;       /* guest_w x guest_h, NULL if it failed */
    int guest_w, guest_h;
    int asked_w, asked_h;       /* the window size we set last */

    /* options */
    char *vm_name;
    bool window_close, show_cursor, grab_rctrl;

    bool user_resized;          /* keep the window size on mode changes */
    bool full_screen;
    bool grab_before_full_screen;
    bool grabbed;
    bool absolute;              /* the guest's pointer is a tablet */
    bool need_present;
    bool idle;                  /* hidden: refreshed slowly */

    /* what the guest has seen pressed, to release on focus loss */
    bool key_down[Q_KEY_CODE__MAX];
    /* scancodes eaten as hot-keys: their release is eaten too */
    bool hotkey_down[SDL_NUM_SCANCODES];

    /* pointer motion gathered over one poll, sent as one packet */
    int rel_dx, rel_dy;
    bool abs_pending;
    int abs_x, abs_y;

    RunState title_state;
    char *title;
    VMStateChangeEntry *state_entry;
    Timer *poll_timer;          /* only when there is no console to follow */
} SdlDisplay;

static SdlDisplay *sdl;

/* ---- window title ---- */

static const char *state_suffix(RunState state)
{
    switch (state) {
    case RUN_STATE_RUNNING:
        return "";
    case RUN_STATE_PAUSED:
    case RUN_STATE_PRELAUNCH:
        return " [Paused]";
    default:
        return " [Stopped]";
    }
}

static void update_title(SdlDisplay *s)
{
    RunState state = runstate_get();
    GString *title = g_string_new(NULL);

    if (s->vm_name && *s->vm_name) {
        g_string_append_printf(title, "%s - ", s->vm_name);
    }
    g_string_append_printf(title, "Vireo%s", state_suffix(state));
    if (s->grabbed) {
        g_string_append_printf(title, " - Press %s+G to exit grab",
                               s->grab_rctrl ? "Right Ctrl" : "Ctrl+Alt");
    }
    s->title_state = state;
    if (!s->title || strcmp(s->title, title->str)) {
        SDL_SetWindowTitle(s->window, title->str);
        g_free(s->title);
        s->title = g_string_free(title, false);
    } else {
        g_string_free(title, true);
    }
}

static void vm_state_changed(void *opaque, bool running)
{
    update_title(opaque);
}

/* ---- pointer grab and cursor ---- */

/*
 * The host pointer over the window: hidden while the guest has a tablet
 * (the guest draws its own pointer where ours is), as QEMU does, unless
 * show-cursor=on. Relative mode hides it by itself while grabbed.
 */
static void update_cursor(SdlDisplay *s)
{
    bool hide = s->absolute && !s->show_cursor;

    SDL_ShowCursor(hide ? SDL_DISABLE : SDL_ENABLE);
}

static void grab_set(SdlDisplay *s, bool on)
{
    if (on == s->grabbed) {
        return;
    }
    s->grabbed = on;
    /*
     * A relative pointer needs the host pointer captured, so every motion
     * reaches the guest; a tablet's grab is only the keyboard's (Alt+Tab
     * and the like go to the guest). SDL's relative mode hides the
     * pointer, so show-cursor=on (as in QEMU) makes do with confining it
     * to the window.
     */
    if (!s->absolute && !s->show_cursor) {
        SDL_SetRelativeMouseMode(on ? SDL_TRUE : SDL_FALSE);
    }
    SDL_SetWindowGrab(s->window, on ? SDL_TRUE : SDL_FALSE);
    update_cursor(s);
    update_title(s);
}

/* The guest switched between a mouse and a tablet (a driver loaded). */
static void check_pointer_kind(SdlDisplay *s)
{
    bool absolute = input_is_absolute();

    if (absolute == s->absolute) {
        return;
    }
    if (s->grabbed && !s->full_screen) {
        grab_set(s, false);
    } else if (s->grabbed && !s->show_cursor) {
        SDL_SetRelativeMouseMode(absolute ? SDL_FALSE : SDL_TRUE);
    }
    s->absolute = absolute;
    update_cursor(s);
}

/* ---- window size ---- */

/*
 * The window at the guest's size, or scaled down (aspect kept) to what
 * the host's screen has room for when the guest's mode is bigger.
 */
static void window_resize_to_guest(SdlDisplay *s)
{
    SDL_Rect room;
    int w = s->guest_w, h = s->guest_h;

    if (w <= 0 || h <= 0) {
        return;
    }
    if (SDL_GetDisplayUsableBounds(SDL_GetWindowDisplayIndex(s->window),
                                   &room) == 0 &&
        room.w > 0 && room.h > 0 && (w > room.w || h > room.h)) {
        if ((int64_t)w * room.h > (int64_t)h * room.w) {
            h = MAX(1, (int64_t)h * room.w / w);
            w = room.w;
        } else {
            w = MAX(1, (int64_t)w * room.h / h);
            h = room.h;
        }
    }
    s->asked_w = w;
    s->asked_h = h;
    SDL_SetWindowSize(s->window, w, h);
    s->need_present = true;
}

static void full_screen_set(SdlDisplay *s, bool on)
{
    if (SDL_SetWindowFullscreen(s->window,
                                on ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0)) {
        log_warn("sdl: cannot %s full screen: %s", on ? "enter" : "leave",
                 SDL_GetError());
        return;
    }
    s->full_screen = on;
    /* like QEMU: a full screen takes the input, leaving gives it back */
    if (on) {
        s->grab_before_full_screen = s->grabbed;
        if (!s->absolute) {
            grab_set(s, true);
        }
    } else {
        if (!s->grab_before_full_screen) {
            grab_set(s, false);
        }
        if (!s->user_resized) {
            window_resize_to_guest(s);
        }
    }
    s->need_present = true;
}

/* ---- the guest's picture ---- */

static void upload_rect(SdlDisplay *s, int x, int y, int w, int h)
{
    DisplaySurface *surface = qemu_console_surface(s->dcl.con);
    SDL_Rect rect = { x, y, w, h };

    if (!s->texture || !surface || w <= 0 || h <= 0 ||
        x + w > s->guest_w || y + h > s->guest_h) {
        return;
    }
    SDL_UpdateTexture(s->texture, &rect,
                      surface_data(surface) + y * surface_stride(surface) +
                          x * 4,
                      surface_stride(surface));
    s->need_present = true;
}

static void texture_recreate(SdlDisplay *s, int w, int h)
{
    if (s->texture) {
        SDL_DestroyTexture(s->texture);
    }
    /* pixman's x8r8g8b8 is SDL's RGB888: 32-bit words 0x00RRGGBB */
    s->texture = SDL_CreateTexture(s->renderer, SDL_PIXELFORMAT_RGB888,
                                   SDL_TEXTUREACCESS_STREAMING, w, h);
    if (!s->texture) {
        log_warn("sdl: cannot show a %dx%d guest screen: %s", w, h,
                 SDL_GetError());
    }
    s->guest_w = w;
    s->guest_h = h;
}

/*
 * Where the guest's picture goes in a w x h area: as large as fits with
 * its aspect kept, centred between black bars (letterbox).
 */
static SDL_Rect picture_rect(const SdlDisplay *s, int w, int h)
{
    SDL_Rect r = { 0, 0, w, h };

    if (s->guest_w <= 0 || s->guest_h <= 0 || w <= 0 || h <= 0) {
        return r;
    }
    if ((int64_t)w * s->guest_h > (int64_t)h * s->guest_w) {
        r.w = (int64_t)h * s->guest_w / s->guest_h;
    } else {
        r.h = (int64_t)w * s->guest_h / s->guest_w;
    }
    r.x = (w - r.w) / 2;
    r.y = (h - r.h) / 2;
    return r;
}

static void sdl_gfx_switch(DisplayChangeListener *dcl,
                           DisplaySurface *surface)
{
    SdlDisplay *s = dcl->opaque;
    int w = surface_width(surface), h = surface_height(surface);

    if (!s->texture || w != s->guest_w || h != s->guest_h) {
        texture_recreate(s, w, h);
        if (!s->full_screen && !s->user_resized) {
            window_resize_to_guest(s);
        }
    }
    upload_rect(s, 0, 0, w, h);
}

static void sdl_gfx_update(DisplayChangeListener *dcl, int x, int y, int w,
                           int h)
{
    upload_rect(dcl->opaque, x, y, w, h);
}

static void present(SdlDisplay *s)
{
    SDL_SetRenderDrawColor(s->renderer, 0, 0, 0, 255);
    SDL_RenderClear(s->renderer);
    if (s->texture) {
        int w, h;
        SDL_Rect dst;

        /* in drawable pixels, which differ from window units on HiDPI */
        SDL_GetRendererOutputSize(s->renderer, &w, &h);
        dst = picture_rect(s, w, h);
        SDL_RenderCopy(s->renderer, s->texture, NULL, &dst);
    }
    SDL_RenderPresent(s->renderer);
    s->need_present = false;
}

/* ---- keyboard ---- */

static void send_key(SdlDisplay *s, QKeyCode q, bool down)
{
    if (q == Q_KEY_CODE_UNMAPPED || (!down && !s->key_down[q])) {
        return;
    }
    s->key_down[q] = down;
    input_send_key(q, down);
}

/* The guest must not see a key stuck down when we stop seeing its release. */
static void release_all_keys(SdlDisplay *s)
{
    for (int q = 0; q < Q_KEY_CODE__MAX; q++) {
        if (s->key_down[q]) {
            send_key(s, q, false);
        }
    }
    memset(s->hotkey_down, 0, sizeof(s->hotkey_down));
}

/*
 * mod: the event's own modifier state. SDL_GetModState() would be the
 * state after every event pumped so far, possibly past the modifiers'
 * release.
 */
static bool hotkey_modifier_held(const SdlDisplay *s, Uint16 mod)
{
    if (s->grab_rctrl) {
        return mod & KMOD_RCTRL;
    }
    return (mod & KMOD_LCTRL) && (mod & KMOD_LALT);
}

/* A hot-key's action; false when the key is not one (it goes to the guest). */
static bool run_hotkey(SdlDisplay *s, SDL_Scancode sc)
{
    switch (sc) {
    case SDL_SCANCODE_G:
        grab_set(s, !s->grabbed);
        return true;
    case SDL_SCANCODE_F:
        full_screen_set(s, !s->full_screen);
        return true;
    case SDL_SCANCODE_U:
        s->user_resized = false;
        if (!s->full_screen) {
            window_resize_to_guest(s);
        }
        return true;
    default:
        return false;
    }
}

static void handle_key(SdlDisplay *s, const SDL_KeyboardEvent *ev)
{
    SDL_Scancode sc = ev->keysym.scancode;
    bool down = ev->type == SDL_KEYDOWN;

    if (sc < 0 || sc >= SDL_NUM_SCANCODES) {
        return;
    }
    /*
     * The modifiers themselves went to the guest when pressed and go again
     * when released, so the guest sees Ctrl+Alt come and go with no key in
     * between; only the hot-key's own press and release are kept back.
     */
    if (down && (s->hotkey_down[sc] ||
                 (hotkey_modifier_held(s, ev->keysym.mod) &&
                  run_hotkey(s, sc)))) {
        s->hotkey_down[sc] = true;
        return;
    }
    if (!down && s->hotkey_down[sc]) {
        s->hotkey_down[sc] = false;
        return;
    }
    send_key(s, sdl2_scancode_to_qcode(sc), down);
}

/* ---- pointer ---- */

/* A guest pixel's position on the tablet's axis. */
static int64_t scale_to_abs(int pos, int size)
{
    if (size <= 1 || pos <= 0) {
        return INPUT_EVENT_ABS_MIN;
    }
    if (pos >= size - 1) {
        return INPUT_EVENT_ABS_MAX;
    }
    return INPUT_EVENT_ABS_MIN +
           (int64_t)pos * (INPUT_EVENT_ABS_MAX - INPUT_EVENT_ABS_MIN) /
               (size - 1);
}

/*
 * The guest pixel under window position (x, y), as a tablet would report
 * it; over the bars, the picture's nearest edge.
 */
static void set_abs_position(SdlDisplay *s, int x, int y)
{
    int w, h;
    SDL_Rect r;

    SDL_GetWindowSize(s->window, &w, &h);
    r = picture_rect(s, w, h);
    s->abs_x = r.w > 0 ? (int64_t)(x - r.x) * s->guest_w / r.w : 0;
    s->abs_y = r.h > 0 ? (int64_t)(y - r.y) * s->guest_h / r.h : 0;
    s->abs_pending = true;
}

/* Sends the motion gathered so far, before a button or at a poll's end. */
static void flush_motion(SdlDisplay *s)
{
    if (s->abs_pending) {
        input_send_move(INPUT_EVENT_KIND_ABS, INPUT_AXIS_X,
                        scale_to_abs(s->abs_x, s->guest_w));
        input_send_move(INPUT_EVENT_KIND_ABS, INPUT_AXIS_Y,
                        scale_to_abs(s->abs_y, s->guest_h));
        input_event_sync();
        s->abs_pending = false;
    }
    if (s->rel_dx || s->rel_dy) {
        input_send_move(INPUT_EVENT_KIND_REL, INPUT_AXIS_X, s->rel_dx);
        input_send_move(INPUT_EVENT_KIND_REL, INPUT_AXIS_Y, s->rel_dy);
        input_event_sync();
        s->rel_dx = s->rel_dy = 0;
    }
}

/* Whether pointer events go to the guest now. */
static bool pointer_to_guest(const SdlDisplay *s)
{
    return s->absolute || s->grabbed;
}

static void handle_motion(SdlDisplay *s, const SDL_MouseMotionEvent *ev)
{
    if (s->absolute) {
        set_abs_position(s, ev->x, ev->y);
    } else if (s->grabbed) {
        /* bounded by the host's screen, so no overflow */
        s->rel_dx += ev->xrel;
        s->rel_dy += ev->yrel;
    }
}

static void handle_button(SdlDisplay *s, const SDL_MouseButtonEvent *ev)
{
    static const InputButton map[] = {
        [SDL_BUTTON_LEFT] = INPUT_BUTTON_LEFT,
        [SDL_BUTTON_MIDDLE] = INPUT_BUTTON_MIDDLE,
        [SDL_BUTTON_RIGHT] = INPUT_BUTTON_RIGHT,
        [SDL_BUTTON_X1] = INPUT_BUTTON_SIDE,
        [SDL_BUTTON_X2] = INPUT_BUTTON_EXTRA,
    };
    bool down = ev->type == SDL_MOUSEBUTTONDOWN;

    if (!pointer_to_guest(s)) {
        /* as QEMU: a click into the window grabs a relative pointer, and
         * the guest does not see that click */
        if (!down && ev->button == SDL_BUTTON_LEFT) {
            grab_set(s, true);
        }
        return;
    }
    if (ev->button < 1 || ev->button >= G_N_ELEMENTS(map)) {
        return;
    }
    if (s->absolute) {
        set_abs_position(s, ev->x, ev->y);
    }
    flush_motion(s);
    input_send_btn(map[ev->button], down);
}

static void click(InputButton b)
{
    input_send_btn(b, true);
    input_send_btn(b, false);
}

static void handle_wheel(SdlDisplay *s, const SDL_MouseWheelEvent *ev)
{
    int x = ev->x, y = ev->y;

    if (!pointer_to_guest(s)) {
        return;
    }
    if (ev->direction == SDL_MOUSEWHEEL_FLIPPED) {
        x = -x;
        y = -y;
    }
    flush_motion(s);
    if (y > 0) {
        click(INPUT_BUTTON_WHEEL_UP);
    } else if (y < 0) {
        click(INPUT_BUTTON_WHEEL_DOWN);
    }
    if (x > 0) {
        click(INPUT_BUTTON_WHEEL_RIGHT);
    } else if (x < 0) {
        click(INPUT_BUTTON_WHEEL_LEFT);
    }
}

/* ---- window events ---- */

static void set_idle(SdlDisplay *s, bool idle)
{
    if (idle != s->idle) {
        s->idle = idle;
        update_displaychangelistener(&s->dcl,
                                     idle ? GUI_REFRESH_INTERVAL_IDLE : 0);
    }
}

static void handle_window_event(SdlDisplay *s, const SDL_WindowEvent *ev)
{
    switch (ev->event) {
    case SDL_WINDOWEVENT_RESIZED:
        /* SDL reports our own SDL_SetWindowSize here too: only another
         * size than we asked for is the user's */
        if (!s->full_screen &&
            (ev->data1 != s->asked_w || ev->data2 != s->asked_h)) {
            s->user_resized = true;
        }
        s->need_present = true;
        break;
    case SDL_WINDOWEVENT_SIZE_CHANGED:
    case SDL_WINDOWEVENT_EXPOSED:
        s->need_present = true;
        break;
    case SDL_WINDOWEVENT_SHOWN:
    case SDL_WINDOWEVENT_RESTORED:
    case SDL_WINDOWEVENT_MAXIMIZED:
        set_idle(s, false);
        s->need_present = true;
        break;
    case SDL_WINDOWEVENT_HIDDEN:
    case SDL_WINDOWEVENT_MINIMIZED:
        set_idle(s, true);
        break;
    case SDL_WINDOWEVENT_FOCUS_LOST:
        release_all_keys(s);
        if (s->grabbed && !s->full_screen) {
            grab_set(s, false);
        }
        break;
    default:
        break;
    }
}

static void handle_quit(SdlDisplay *s)
{
    if (s->window_close) {
        /* as QEMU: closing the window ends the VM (SHUTDOWN, host-ui) */
        vm_request_shutdown(SHUTDOWN_HOST_UI, 0);
    }
}

static void handle_event(SdlDisplay *s, const SDL_Event *ev)
{
    switch (ev->type) {
    case SDL_KEYDOWN:
    case SDL_KEYUP:
        handle_key(s, &ev->key);
        break;
    case SDL_MOUSEMOTION:
        handle_motion(s, &ev->motion);
        break;
    case SDL_MOUSEBUTTONDOWN:
    case SDL_MOUSEBUTTONUP:
        handle_button(s, &ev->button);
        break;
    case SDL_MOUSEWHEEL:
        handle_wheel(s, &ev->wheel);
        break;
    case SDL_WINDOWEVENT:
        handle_window_event(s, &ev->window);
        break;
    case SDL_QUIT:
        handle_quit(s);
        break;
    case SDL_RENDER_DEVICE_RESET:
        /* the textures are gone with the device: upload everything anew */
        if (s->dcl.con) {
            s->texture = NULL;
            texture_recreate(s, s->guest_w, s->guest_h);
            upload_rect(s, 0, 0, s->guest_w, s->guest_h);
        }
        break;
    case SDL_RENDER_TARGETS_RESET:
        s->need_present = true;
        break;
    default:
        break;
    }
}

static void sdl_refresh(DisplayChangeListener *dcl)
{
    SdlDisplay *s = dcl->opaque;
    SDL_Event ev;

    check_pointer_kind(s);
    while (SDL_PollEvent(&ev)) {
        handle_event(s, &ev);
    }
    flush_motion(s);
    if (runstate_get() != s->title_state) {
        update_title(s);
    }
    if (s->need_present) {
        present(s);
    }
}

/* Without a console (-vga none) the window still answers its events. */
static void poll_timer_cb(void *opaque)
{
    SdlDisplay *s = opaque;

    sdl_refresh(&s->dcl);
    timer_mod(s->poll_timer,
              clock_get_ns(CLK_REALTIME) +
                  (s->idle ? GUI_REFRESH_INTERVAL_IDLE
                           : GUI_REFRESH_INTERVAL_DEFAULT) * 1000000LL);
}

static const DisplayChangeListenerOps sdl_dcl_ops = {
    .dpy_name = "sdl2",
    .dpy_gfx_switch = sdl_gfx_switch,
    .dpy_gfx_update = sdl_gfx_update,
    .dpy_refresh = sdl_refresh,
};

/* ---- start and stop ---- */

static bool env_set(const char *name)
{
    const char *v = getenv(name);

    return v && *v;
}

static void set_hints(void)
{
    /* Vireo handles SIGINT/SIGTERM itself (an orderly shutdown) */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    /* a grab takes the keyboard too, so Alt+Tab reaches the guest */
    SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
    SDL_SetHint(SDL_HINT_ALLOW_ALT_TAB_WHILE_GRABBED, "0");
    SDL_SetHint(SDL_HINT_VIDEO_ALLOW_SCREENSAVER, "1");
    SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    SDL_SetHint(SDL_HINT_APP_NAME, "Vireo");
#ifdef SDL_HINT_VIDEODRIVER
    /* X11 alone: spare the user Wayland's complaint that it is absent */
    if (env_set("DISPLAY") && !env_set("WAYLAND_DISPLAY") &&
        !env_set("SDL_VIDEODRIVER")) {
        SDL_SetHint(SDL_HINT_VIDEODRIVER, "x11");
    }
#endif
}

static bool create_window(SdlDisplay *s, GError **errp)
{
    Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;

    s->window = SDL_CreateWindow("Vireo", SDL_WINDOWPOS_UNDEFINED,
                                 SDL_WINDOWPOS_UNDEFINED, 640, 480, flags);
    if (!s->window) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: cannot create the window: %s",
                    SDL_GetError());
        return false;
    }
    s->asked_w = 640;
    s->asked_h = 480;
    /* vsync would stall the main loop; present only when needed instead */
    s->renderer = SDL_CreateRenderer(s->window, -1, 0);
    if (!s->renderer) {
        s->renderer = SDL_CreateRenderer(s->window, -1,
                                         SDL_RENDERER_SOFTWARE);
    }
    if (!s->renderer) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: cannot draw into the window: %s",
                    SDL_GetError());
        return false;
    }
    /* keys are keys: no input method composing text out of them */
    SDL_StopTextInput();
    return true;
}

static void sdl_free(SdlDisplay *s)
{
    if (s->renderer) {
        /* destroys its textures too */
        SDL_DestroyRenderer(s->renderer);
    }
    if (s->window) {
        SDL_DestroyWindow(s->window);
    }
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    SDL_Quit();
    g_free(s->title);
    g_free(s->vm_name);
    g_free(s);
}

/*
 * Without X11 or Wayland SDL would fall back to its invisible "offscreen"
 * driver (and Wayland's probe complains on stderr): say what is missing
 * instead. SDL_VIDEODRIVER chooses a driver explicitly (kmsdrm on a
 * console, say).
 */
static bool window_system_reachable(GError **errp)
{
    if (env_set("DISPLAY") || env_set("WAYLAND_DISPLAY") ||
        env_set("SDL_VIDEODRIVER")) {
        return true;
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "-display sdl: no X11 or Wayland display to open a window "
                "on (DISPLAY is not set); use -display none or -vnc");
    return false;
}

/* A driver that shows nothing is only taken when asked for by name. */
static bool video_driver_shows(GError **errp)
{
    const char *drv = SDL_GetCurrentVideoDriver();

    if (drv && (!strcmp(drv, "offscreen") || !strcmp(drv, "dummy")) &&
        !env_set("SDL_VIDEODRIVER")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: cannot open a window on DISPLAY='%s' "
                    "(SDL found only its '%s' driver)",
                    env_set("DISPLAY") ? getenv("DISPLAY") : "", drv);
        return false;
    }
    return true;
}

bool sdl_display_init(const DisplayOptions *o, GError **errp)
{
    SdlDisplay *s;

    if (sdl) {
        g_set_error(errp, VIREO_ERROR, 0, "-display sdl: already started");
        return false;
    }
    if (!window_system_reachable(errp)) {
        return false;
    }
    set_hints();
    if (SDL_Init(SDL_INIT_VIDEO) < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-display sdl: cannot open a window%s%s%s: %s",
                    env_set("DISPLAY") ? " on DISPLAY='" : "",
                    env_set("DISPLAY") ? getenv("DISPLAY") : "",
                    env_set("DISPLAY") ? "'" : "", SDL_GetError());
        return false;
    }
    if (!video_driver_shows(errp)) {
        SDL_Quit();
        return false;
    }
    s = g_new0(SdlDisplay, 1);
    s->vm_name = g_strdup(o->vm_name);
    s->window_close = o->window_close;
    s->show_cursor = o->show_cursor;
    s->grab_rctrl = o->grab_rctrl;
    if (!create_window(s, errp)) {
        sdl_free(s);
        return false;
    }
    sdl = s;
    s->absolute = input_is_absolute();
    update_cursor(s);
    update_title(s);
    s->state_entry = vm_add_state_change_handler(vm_state_changed, s);

    s->dcl.ops = &sdl_dcl_ops;
    s->dcl.opaque = s;
    register_displaychangelistener(&s->dcl);
    if (!s->dcl.con) {
        s->poll_timer = timer_new(CLK_REALTIME, poll_timer_cb, s);
        timer_mod(s->poll_timer, clock_get_ns(CLK_REALTIME));
    }
    if (o->full_screen) {
        full_screen_set(s, true);
    }
    present(s);
    return true;
}

void sdl_display_cleanup(void)
{
    SdlDisplay *s = sdl;

    if (!s) {
        return;
    }
    sdl = NULL;
    unregister_displaychangelistener(&s->dcl);
    if (s->poll_timer) {
        timer_free(s->poll_timer);
    }
    vm_del_state_change_handler(s->state_entry);
    if (s->grabbed) {
        SDL_SetRelativeMouseMode(SDL_FALSE);
        SDL_SetWindowGrab(s->window, SDL_FALSE);
    }
    sdl_free(s);
}
