/*
 * QMP screendump (QEMU 7.2's syntax and errors): the current surface of a
 * graphic console as a binary PPM (Netpbm P6) or an 8-bit RGB PNG (libpng).
 */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "monitor/qmp.h"
#include "ui/console.h"
#include "util/opts.h"

/* Row y of the surface as R, G, B bytes. */
static void surface_row_rgb(DisplaySurface *surf, int y, uint8_t *rgb)
{
    const uint32_t *src =
        (const uint32_t *)(surface_data(surf) + y * surface_stride(surf));

    for (int x = 0; x < surface_width(surf); x++) {
        rgb[x * 3] = src[x] >> 16;
        rgb[x * 3 + 1] = src[x] >> 8;
        rgb[x * 3 + 2] = src[x];
    }
}

static bool write_ppm(FILE *f, DisplaySurface *surf)
{
    int w = surface_width(surf), h = surface_height(surf);
    g_autofree uint8_t *row = g_malloc(w * 3);

    if (fprintf(f, "P6\n%d %d\n%d\n", w, h, 255) < 0) {
        return false;
    }
    for (int y = 0; y < h; y++) {
        surface_row_rgb(surf, y, row);
        if (fwrite(row, 1, w * 3, f) != (size_t)w * 3) {
            return false;
        }
    }
    return true;
}

static bool write_png(FILE *f, DisplaySurface *surf, GError **errp)
{
    int w = surface_width(surf), h = surface_height(surf);
    png_structp png;
    png_infop info = NULL;
    uint8_t *volatile row = NULL;

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png) {
        g_set_error(errp, VIREO_ERROR, 0, "PNG creation failed");
        return false;
    }
    info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        g_free(row);
        g_set_error(errp, VIREO_ERROR, 0, "PNG creation failed");
        return false;
    }
    row = g_malloc(w * 3);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        surface_row_rgb(surf, y, row);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    g_free(row);
    return true;
}

static QemuConsole *screendump_console(json_t *args, GError **errp)
{
    json_t *device = json_object_get(args, "device");
    json_t *head = json_object_get(args, "head");
    QemuConsole *con;
    json_int_t h;

    if (!device) {
        if (head) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "'head' must be specified together with 'device'");
            return NULL;
        }
        con = qemu_console_lookup_by_index(0);
        if (!con) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "There is no console to take a screendump from.");
        }
        return con;
    }
    h = head ? json_integer_value(head) : 0;
    if (h < 0 || h > UINT32_MAX) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Parameter 'head' expects uint32_t");
        return NULL;
    }
    return qemu_console_lookup_by_device_name(json_string_value(device), h,
                                              errp);
}

static json_t *qmp_screendump(json_t *args, GError **errp)
{
    const char *filename = json_string_value(json_object_get(args,
                                                             "filename"));
    const char *format = json_string_value(json_object_get(args, "format"));
    bool png = format && !strcmp(format, "png");
    QemuConsole *con = screendump_console(args, errp);
    DisplaySurface *surf;
    FILE *f;
    bool ok;

    if (!con) {
        return NULL;
    }
    graphic_hw_update(con);
    surf = qemu_console_surface(con);
    if (!surf) {
        g_set_error(errp, VIREO_ERROR, 0, "no surface");
        return NULL;
    }
    f = fopen(filename, "wb");
    if (!f) {
        g_set_error(errp, VIREO_ERROR, 0, "failed to open file '%s': %s",
                    filename, g_strerror(errno));
        return NULL;
    }
    if (png) {
        ok = write_png(f, surf, errp);
    } else {
        ok = write_ppm(f, surf);
        if (!ok) {
            g_set_error(errp, VIREO_ERROR, 0, "failed to write file '%s': "
                        "%s", filename, g_strerror(errno));
        }
    }
    if (fclose(f) != 0 && ok) {
        g_set_error(errp, VIREO_ERROR, 0, "failed to write file '%s': %s",
                    filename, g_strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(filename);
        return NULL;
    }
    return json_object();
}
QMP_COMMAND("screendump", qmp_screendump)
