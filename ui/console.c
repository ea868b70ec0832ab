/*
 * Display consoles (QEMU's ui/console.c model, much reduced): the list of
 * graphic consoles, their pixman surfaces, and the listeners that follow
 * surface switches and dirty rectangles.
 */
#include <string.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "monitor/qmp.h"
#include "system/timer.h"
#include "system/vm.h"
#include "ui/console.h"
#include "util/opts.h"

#define CONSOLE_MAX_DIM     16384
#define CONSOLE_DEFAULT_W   640
#define CONSOLE_DEFAULT_H   480

struct QemuConsole {
    int index;
    Device *dev;
    uint32_t head;
    const GraphicHwOps *ops;
    void *opaque;
    DisplaySurface surface;
    DisplayChangeListener *listeners;
    Timer *refresh;         /* while there are listeners */
};

static GPtrArray *consoles;     /* of QemuConsole *, by index */

static pixman_image_t *new_image(int w, int h)
{
    /* pixman zero-fills the bits it allocates: a black screen */
    return pixman_image_create_bits(PIXMAN_x8r8g8b8, w, h, NULL, w * 4);
}

QemuConsole *graphic_console_init(Device *dev, uint32_t head,
                                  const GraphicHwOps *ops, void *opaque)
{
    QemuConsole *con = g_new0(QemuConsole, 1);

    if (!consoles) {
        consoles = g_ptr_array_new();
    }
    con->index = consoles->len;
    con->dev = dev;
    con->head = head;
    con->ops = ops;
    con->opaque = opaque;
    con->surface.image = new_image(CONSOLE_DEFAULT_W, CONSOLE_DEFAULT_H);
    g_ptr_array_add(consoles, con);
    return con;
}

void graphic_console_close(QemuConsole *con)
{
    if (!con) {
        return;
    }
    for (DisplayChangeListener *l = con->listeners; l; l = l->next) {
        l->con = NULL;
    }
    if (con->refresh) {
        timer_free(con->refresh);
    }
    g_ptr_array_remove(consoles, con);
    for (guint i = 0; i < consoles->len; i++) {
        ((QemuConsole *)consoles->pdata[i])->index = i;
    }
    pixman_image_unref(con->surface.image);
    g_free(con);
}

DisplaySurface *qemu_console_surface(QemuConsole *con)
{
    return con ? &con->surface : NULL;
}

void qemu_console_resize(QemuConsole *con, int width, int height)
{
    width = CLAMP(width, 1, CONSOLE_MAX_DIM);
    height = CLAMP(height, 1, CONSOLE_MAX_DIM);
    if (width == surface_width(&con->surface) &&
        height == surface_height(&con->surface)) {
        return;
    }
    pixman_image_t *image = new_image(width, height);
    if (!image) {
        /* out of memory: keep showing the old size */
        return;
    }
    pixman_image_unref(con->surface.image);
    con->surface.image = image;
    for (DisplayChangeListener *l = con->listeners; l; l = l->next) {
        if (l->ops->dpy_gfx_switch) {
            l->ops->dpy_gfx_switch(l, &con->surface);
        }
    }
}

int qemu_console_get_index(QemuConsole *con)
{
    return con->index;
}

Device *qemu_console_get_device(QemuConsole *con)
{
    return con->dev;
}

uint32_t qemu_console_get_head(QemuConsole *con)
{
    return con->head;
}

void dpy_gfx_update(QemuConsole *con, int x, int y, int w, int h)
{
    int sw = surface_width(&con->surface), sh = surface_height(&con->surface);

    x = CLAMP(x, 0, sw);
    y = CLAMP(y, 0, sh);
    w = MIN(w, sw - x);
    h = MIN(h, sh - y);
    if (w <= 0 || h <= 0) {
        return;
    }
    for (DisplayChangeListener *l = con->listeners; l; l = l->next) {
        if (l->ops->dpy_gfx_update) {
            l->ops->dpy_gfx_update(l, x, y, w, h);
        }
    }
}

void dpy_gfx_update_full(QemuConsole *con)
{
    dpy_gfx_update(con, 0, 0, surface_width(&con->surface),
                   surface_height(&con->surface));
}

void graphic_hw_update(QemuConsole *con)
{
    if (con && con->ops && con->ops->gfx_update) {
        con->ops->gfx_update(con->opaque);
    }
}

void graphic_hw_invalidate(QemuConsole *con)
{
    if (con && con->ops && con->ops->invalidate) {
        con->ops->invalidate(con->opaque);
    }
}

QemuConsole *qemu_console_lookup_by_index(unsigned index)
{
    if (!consoles || index >= consoles->len) {
        return NULL;
    }
    return consoles->pdata[index];
}

static bool machine_has_device(const char *id)
{
    Machine *m = machine_current();

    for (Device *d = m ? m->devices : NULL; d; d = d->next) {
        if (d->id && !strcmp(d->id, id)) {
            return true;
        }
    }
    return false;
}

QemuConsole *qemu_console_lookup_by_device_name(const char *device_id,
                                                uint32_t head, GError **errp)
{
    bool found = false;

    for (guint i = 0; consoles && i < consoles->len; i++) {
        QemuConsole *con = consoles->pdata[i];
        if (con->dev && con->dev->id && !strcmp(con->dev->id, device_id)) {
            found = true;
            if (con->head == head) {
                return con;
            }
        }
    }
    if (!found && !machine_has_device(device_id)) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
                    "Device '%s' not found", device_id);
        return NULL;
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "Device %s (head %u) is not bound to a QemuConsole",
                device_id, head);
    return NULL;
}

static uint64_t refresh_interval_ms(QemuConsole *con)
{
    uint64_t ms = UINT64_MAX;

    for (DisplayChangeListener *l = con->listeners; l; l = l->next) {
        ms = MIN(ms, l->update_interval_ms ? l->update_interval_ms
                                           : GUI_REFRESH_INTERVAL_DEFAULT);
    }
    return ms;
}

static void console_refresh(void *opaque)
{
    QemuConsole *con = opaque;

    graphic_hw_update(con);
    /* a listener may unregister itself (a window closed) */
    for (DisplayChangeListener *l = con->listeners, *next; l; l = next) {
        next = l->next;
        if (l->ops->dpy_refresh) {
            l->ops->dpy_refresh(l);
        }
    }
    if (con->listeners) {
        timer_mod(con->refresh, clock_get_ns(CLK_REALTIME) +
                                refresh_interval_ms(con) * 1000000);
    }
}

static void console_refresh_reschedule(QemuConsole *con)
{
    if (!con->listeners) {
        if (con->refresh) {
            timer_del(con->refresh);
        }
        return;
    }
    if (!con->refresh) {
        con->refresh = timer_new(CLK_REALTIME, console_refresh, con);
    }
    timer_mod(con->refresh, clock_get_ns(CLK_REALTIME) +
                            refresh_interval_ms(con) * 1000000);
}

void update_displaychangelistener(DisplayChangeListener *dcl,
                                  uint64_t interval_ms)
{
    uint64_t old = dcl->update_interval_ms;

    dcl->update_interval_ms = interval_ms;
    if (dcl->con && old != interval_ms) {
        console_refresh_reschedule(dcl->con);
    }
}

void register_displaychangelistener(DisplayChangeListener *dcl)
{
    if (!dcl->con) {
        dcl->con = qemu_console_lookup_by_index(0);
    }
    if (!dcl->con) {
        return;
    }
    dcl->next = dcl->con->listeners;
    dcl->con->listeners = dcl;
    if (dcl->ops->dpy_gfx_switch) {
        dcl->ops->dpy_gfx_switch(dcl, &dcl->con->surface);
    }
    graphic_hw_invalidate(dcl->con);
    console_refresh_reschedule(dcl->con);
}

void unregister_displaychangelistener(DisplayChangeListener *dcl)
{
    if (!dcl->con) {
        return;
    }
    for (DisplayChangeListener **p = &dcl->con->listeners; *p;
         p = &(*p)->next) {
        if (*p == dcl) {
            *p = dcl->next;
            break;
        }
    }
    console_refresh_reschedule(dcl->con);
    dcl->con = NULL;
    dcl->next = NULL;
}
