/*
 * Display consoles, in the shape of QEMU's ui/console.h: a display device
 * registers a graphic console and renders into its surface (a pixman
 * image); frontends (screendump now, SDL2 and VNC later) listen for
 * surface switches and dirty rectangles and ask the device to refresh.
 * Everything here runs under the big lock.
 */
#ifndef UI_CONSOLE_H
#define UI_CONSOLE_H

#include <glib.h>
#include <pixman.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Device Device;
typedef struct QemuConsole QemuConsole;
typedef struct DisplayChangeListener DisplayChangeListener;

/* The pixels of a console: always PIXMAN_x8r8g8b8 (host-endian words). */
typedef struct DisplaySurface {
    pixman_image_t *image;
} DisplaySurface;

static inline int surface_width(const DisplaySurface *s)
{
    return pixman_image_get_width(s->image);
}

static inline int surface_height(const DisplaySurface *s)
{
    return pixman_image_get_height(s->image);
}

static inline int surface_stride(const DisplaySurface *s)
{
    return pixman_image_get_stride(s->image);
}

static inline uint8_t *surface_data(const DisplaySurface *s)
{
    return (uint8_t *)pixman_image_get_data(s->image);
}

/* What the device behind a graphic console does for the console layer. */
typedef struct GraphicHwOps {
    /*
     * Bring the surface up to date with the device's memory and
     * registers: resize it with qemu_console_resize on a mode change and
     * report the changed areas with dpy_gfx_update.
     */
    void (*gfx_update)(void *opaque);
    /* The next gfx_update redraws (and reports) the whole screen. */
    void (*invalidate)(void *opaque);
} GraphicHwOps;

/* A frontend watching a console (con NULL: console 0 when registered). */
typedef struct DisplayChangeListenerOps {
    const char *dpy_name;
    /* The console has a new surface (a mode change); redraw from it. */
    void (*dpy_gfx_switch)(DisplayChangeListener *dcl,
                           DisplaySurface *surface);
    /* This rectangle of the surface changed. */
    void (*dpy_gfx_update)(DisplayChangeListener *dcl, int x, int y, int w,
                           int h);
    /*
     * Called every update_interval_ms after the console's device was
     * asked to render (graphic_hw_update): a frontend sends what changed
     * and polls its own events here.
     */
    void (*dpy_refresh)(DisplayChangeListener *dcl);
} DisplayChangeListenerOps;

/* How often a listener is refreshed unless it asks otherwise (QEMU's). */
#define GUI_REFRESH_INTERVAL_DEFAULT 30
#define GUI_REFRESH_INTERVAL_IDLE    3000

struct DisplayChangeListener {
    const DisplayChangeListenerOps *ops;
    QemuConsole *con;
    void *opaque;
    /* 0: GUI_REFRESH_INTERVAL_DEFAULT; the console uses the smallest */
    uint64_t update_interval_ms;
    DisplayChangeListener *next;    /* in its console's list */
};

/*
 * Creates the console of head head of dev (dev NULL: not a device's),
 * numbered after the existing ones, with a 640x480 black surface.
 */
QemuConsole *graphic_console_init(Device *dev, uint32_t head,
                                  const GraphicHwOps *ops, void *opaque);
/* Removes it; its listeners are detached (their con becomes NULL). */
void graphic_console_close(QemuConsole *con);

DisplaySurface *qemu_console_surface(QemuConsole *con);
/*
 * Gives the console a black surface of width x height (clamped to
 * 1..16384) when its size differs, and tells the listeners.
 */
void qemu_console_resize(QemuConsole *con, int width, int height);
int qemu_console_get_index(QemuConsole *con);
Device *qemu_console_get_device(QemuConsole *con);
uint32_t qemu_console_get_head(QemuConsole *con);

/* The device reports a changed rectangle (clipped to the surface). */
void dpy_gfx_update(QemuConsole *con, int x, int y, int w, int h);
void dpy_gfx_update_full(QemuConsole *con);

/* Frontends: make the device render now / redraw everything next time. */
void graphic_hw_update(QemuConsole *con);
void graphic_hw_invalidate(QemuConsole *con);

/* Console number index, or NULL. */
QemuConsole *qemu_console_lookup_by_index(unsigned index);
/*
 * The console of head head of the device with id device_id. Errors are
 * QEMU's: "Device 'X' not found" (DeviceNotFound), or "Device X (head N)
 * is not bound to a QemuConsole".
 */
QemuConsole *qemu_console_lookup_by_device_name(const char *device_id,
                                                uint32_t head, GError **errp);

/*
 * A listener of dcl->con (NULL: console 0). It gets the current surface at
 * once, then updates; while a console has listeners, a timer (on the
 * realtime clock) renders it and refreshes them.
 */
void register_displaychangelistener(DisplayChangeListener *dcl);
void unregister_displaychangelistener(DisplayChangeListener *dcl);
/* A listener changes how often it wants dpy_refresh (ms, 0: default). */
void update_displaychangelistener(DisplayChangeListener *dcl,
                                  uint64_t interval_ms);

#endif
