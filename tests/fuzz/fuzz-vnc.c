/*
 * libFuzzer target for the VNC server's RFB engine (ui/vnc-proto.c and
 * the encoders): arbitrary bytes from a client, without sockets. The
 * first byte picks the setup: bit 0 makes the server ask for VNC
 * Authentication (the password is "fuzz"); bit 1 does the 3.8 handshake
 * and ClientInit first, so that the rest is client messages; bits 2-3
 * pick the surface size. The rest is fed in pieces whose sizes come from
 * the input too, and after each piece the server sends whatever update
 * is due, so encodings and pixel formats chosen by the input run.
 */
#include <stdint.h>
#include <string.h>

#include "../../ui/vnc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t handshake_38[] = {
    'R', 'F', 'B', ' ', '0',  '0', '3',
    '.', '0', '0', '8', '\n', 1, /* security type None */
    1,                           /* ClientInit: shared */
};

static DisplaySurface *make_surface(int w, int h)
{
    DisplaySurface *s = g_new0(DisplaySurface, 1);
    uint32_t *px;

    s->image = pixman_image_create_bits(PIXMAN_x8r8g8b8, w, h, NULL, 0);
    px = (uint32_t *)surface_data(s);
    /* a few colours and a gradient, so every ZRLE tile kind shows up */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            px[y * (surface_stride(s) / 4) + x] =
                x < w / 3 ? 0x00aa0000
                : x < 2 * w / 3
                    ? ((x / 4 + y / 4) & 1 ? 0x00ffffff : 0x000000aa)
                    : (uint32_t)(x * 2654435761u ^ y * 40503u);
        }
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int sizes[4][2] = {{64, 48}, {1, 1}, {130, 70}, {17, 200}};
    static Keymap *km;
    VncServer vs = {0};
    VncClient c = {0};
    uint8_t mode;

    if (size == 0) {
        return 0;
    }
    if (!km) {
        km = keymap_new(NULL, NULL);
    }
    mode = data[0];
    data++;
    size--;
    vs.surface =
        make_surface(sizes[(mode >> 2) & 3][0], sizes[(mode >> 2) & 3][1]);
    vs.name = (char *)"fuzz";
    vs.keymap = km;
    vs.auth_vnc = mode & 1;
    strcpy(vs.password, "fuzz");
    vs.expires = INT64_MAX;
    c.vs = &vs;
    c.fd = -1;
    vnc_client_start(&c);

    bool alive = true;
    if ((mode & 2) && !vs.auth_vnc) {
        alive = vnc_client_feed(&c, handshake_38, sizeof(handshake_38));
    }
    while (alive && size > 0) {
        /* the next byte says how much to feed at once */
        size_t n = MIN(size - 1, (size_t)data[0] * 4 + 1);
        alive = vnc_client_feed(&c, data + 1, n);
        data += n + 1;
        size -= MIN(size, n + 1);
        if (alive) {
            vnc_client_send_pointer_type(&c, mode & 0x10);
            vnc_client_send_update(&c);
            if (mode & 0x20) {
                vnc_client_mark_dirty(&c, 3, 5, 40, 20);
            }
        }
        /* nobody reads: keep memory flat */
        g_byte_array_set_size(c.out, 0);
    }
    vnc_client_finish(&c);
    pixman_image_unref(vs.surface->image);
    g_free(vs.surface);
    return 0;
}
