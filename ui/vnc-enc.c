/*
 * Framebuffer encodings of the VNC server (RFC 6143 7.6, 7.7): pixel
 * format conversion, Raw, zlib and ZRLE. zlib and ZRLE each keep one
 * deflate stream per client for the whole connection, as the protocol
 * requires (the client inflates with one persistent stream per encoding).
 */
#include <string.h>

#include "vnc.h"

#define ZRLE_TILE 64

static void put_u16(GByteArray *b, uint16_t v)
{
    uint8_t d[2] = {v >> 8, v & 0xff};

    g_byte_array_append(b, d, 2);
}

static void put_u32(GByteArray *b, uint32_t v)
{
    uint8_t d[4] = {v >> 24, v >> 16, v >> 8, v};

    g_byte_array_append(b, d, 4);
}

static void put_be32_at(GByteArray *b, size_t at, uint32_t v)
{
    b->data[at] = v >> 24;
    b->data[at + 1] = v >> 16;
    b->data[at + 2] = v >> 8;
    b->data[at + 3] = v;
}

void vnc_pixel_format_default(VncPixelFormat *pf)
{
    *pf = (VncPixelFormat){
        .bpp = 32,
        .depth = 24,
        .big_endian = false,
        .max = {255, 255, 255},
        .shift = {16, 8, 0},
    };
}

static unsigned bit_count(uint32_t v)
{
    return (unsigned)__builtin_popcount(v);
}

bool vnc_pixel_format_valid(const VncPixelFormat *pf)
{
    if (pf->bpp != 8 && pf->bpp != 16 && pf->bpp != 32) {
        return false;
    }
    for (int i = 0; i < 3; i++) {
        uint32_t max = pf->max[i];
        /* a channel is a run of low bits that fits in the pixel */
        if (max == 0 || (max & (max + 1)) != 0 ||
            pf->shift[i] + bit_count(max) > pf->bpp) {
            return false;
        }
    }
    return true;
}

void vnc_client_set_pixel_format(VncClient *c, const VncPixelFormat *pf)
{
    c->pf = *pf;
    c->rgb888 = true;
    for (int ch = 0; ch < 3; ch++) {
        c->rgb888 &= pf->max[ch] == 255 && pf->shift[ch] == 16 - 8 * ch;
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t scaled = (v * pf->max[ch] + 127) / 255;
            c->lut[ch][v] = scaled << pf->shift[ch];
        }
    }
}

static inline uint32_t convert_pixel(const VncClient *c, uint32_t px)
{
    if (c->rgb888) {
        return px & 0xffffff;
    }
    return c->lut[0][(px >> 16) & 0xff] | c->lut[1][(px >> 8) & 0xff] |
           c->lut[2][px & 0xff];
}

/* Writes v as a PIXEL of pf (bpp/8 bytes in the client's byte order). */
static inline size_t store_pixel(const VncPixelFormat *pf, uint8_t *d,
                                 uint32_t v)
{
    switch (pf->bpp) {
    case 8:
        d[0] = v;
        return 1;
    case 16:
        if (pf->big_endian) {
            d[0] = v >> 8;
            d[1] = v;
        } else {
            d[0] = v;
            d[1] = v >> 8;
        }
        return 2;
    default:
        if (pf->big_endian) {
            d[0] = v >> 24;
            d[1] = v >> 16;
            d[2] = v >> 8;
            d[3] = v;
        } else {
            d[0] = v;
            d[1] = v >> 8;
            d[2] = v >> 16;
            d[3] = v >> 24;
        }
        return 4;
    }
}

/* Appends the rectangle's pixels in the client's format, row by row. */
static void append_pixels(VncClient *c, GByteArray *b, int x, int y, int w,
                          int h)
{
    DisplaySurface *s = c->vs->surface;
    size_t bypp = c->pf.bpp / 8, row = (size_t)w * bypp, at = b->len;
    int stride = surface_stride(s);
    const uint8_t *base = surface_data(s);

    g_byte_array_set_size(b, at + row * h);
    for (int j = 0; j < h; j++) {
        const uint32_t *src =
            (const uint32_t *)(base + (size_t)(y + j) * stride) + x;
        uint8_t *d = b->data + at + row * j;
        for (int i = 0; i < w; i++) {
            d += store_pixel(&c->pf, d, convert_pixel(c, src[i]));
        }
    }
}

static void rect_header(GByteArray *b, int x, int y, int w, int h, int enc)
{
    put_u16(b, x);
    put_u16(b, y);
    put_u16(b, w);
    put_u16(b, h);
    put_u32(b, (uint32_t)enc);
}

/*
 * Deflates data into c->out through the client's stream idx, ending on a
 * sync flush so the client can decode this rectangle now. Appends a
 * 32-bit length and the compressed bytes.
 */
static bool deflate_append(VncClient *c, int idx, const uint8_t *data,
                           size_t len)
{
    z_stream *zs = &c->zs[idx];
    size_t at = c->out->len, room;

    if (!c->zs_init[idx]) {
        memset(zs, 0, sizeof(*zs));
        if (deflateInit(zs, 6) != Z_OK) {
            return false;
        }
        c->zs_init[idx] = true;
    }
    put_u32(c->out, 0);
    zs->next_in = (Bytef *)data;
    zs->avail_in = len;
    do {
        room = deflateBound(zs, zs->avail_in) + 64;
        size_t start = c->out->len;
        g_byte_array_set_size(c->out, start + room);
        zs->next_out = c->out->data + start;
        zs->avail_out = room;
        if (deflate(zs, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
            return false;
        }
        g_byte_array_set_size(c->out, start + room - zs->avail_out);
    } while (zs->avail_in || zs->avail_out == 0);
    put_be32_at(c->out, at, c->out->len - at - 4);
    return true;
}

/* ---- ZRLE (RFC 6143 7.7.6) ---- */

/* The bytes of a CPIXEL: 3 when a 32-bit pixel's colours fit in 3 bytes. */
static size_t cpixel_size(const VncPixelFormat *pf, bool *drop_low)
{
    uint32_t used = 0;

    if (pf->bpp != 32 || pf->depth > 24) {
        return pf->bpp / 8;
    }
    for (int i = 0; i < 3; i++) {
        used |= (uint32_t)pf->max[i] << pf->shift[i];
    }
    if (!(used & 0xff000000u)) {
        *drop_low = false;
        return 3;
    }
    if (!(used & 0xffu)) {
        *drop_low = true;
        return 3;
    }
    return 4;
}

/* Writes v as a CPIXEL at d; returns its size. */
static size_t put_cpixel(uint8_t *d, const VncPixelFormat *pf, size_t csize,
                         bool drop_low, uint32_t v)
{
    uint8_t px[4];

    store_pixel(pf, px, v);
    /* a 3-byte CPIXEL leaves out the unused byte wherever it lies */
    memcpy(d, csize == 3 && pf->big_endian != drop_low ? px + 1 : px,
           csize);
    return csize;
}

/* The palette index of v (which is in it), the last hit first. */
static inline int palette_index(const uint32_t *pal, uint32_t v, int *last)
{
    int k = 0;

    if (pal[*last] == v) {
        return *last;
    }
    while (pal[k] != v) {
        k++;
    }
    return *last = k;
}

/*
 * One ZRLE tile (RFC 6143 7.7.6) as a solid colour, a packed palette of up
 * to 16 colours, or raw CPIXELs; written straight into b, which grows by
 * at most the raw size once.
 */
static void zrle_tile(VncClient *c, GByteArray *b, const uint32_t *px, int w,
                      int h, size_t csize, bool drop_low)
{
    uint32_t pal[16];
    int npal = 0, n = w * h, last = 0;
    size_t at = b->len;
    uint8_t *d;

    for (int i = 0; i < n; i++) {
        if (npal && pal[last] == px[i]) {
            continue;
        }
        int k = 0;
        while (k < npal && pal[k] != px[i]) {
            k++;
        }
        if (k == npal && ++npal > 16) {
            break;
        }
        pal[k] = px[i];
        last = k;
    }
    g_byte_array_set_size(b, at + 1 + (size_t)(n + 16) * csize);
    d = b->data + at;
    if (npal == 1) {
        *d++ = 1;
        d += put_cpixel(d, &c->pf, csize, drop_low, pal[0]);
    } else if (npal > 16) {
        *d++ = 0;
        for (int i = 0; i < n; i++) {
            d += put_cpixel(d, &c->pf, csize, drop_low, px[i]);
        }
    } else {
        /* packed palette: 1, 2 or 4 bits an index, rows padded to a byte */
        int bits = npal == 2 ? 1 : npal <= 4 ? 2 : 4;
        *d++ = npal;
        for (int k = 0; k < npal; k++) {
            d += put_cpixel(d, &c->pf, csize, drop_low, pal[k]);
        }
        last = 0;
        for (int j = 0; j < h; j++) {
            uint8_t acc = 0;
            int nbits = 0;
            for (int i = 0; i < w; i++) {
                acc = (acc << bits) | palette_index(pal, px[j * w + i], &last);
                nbits += bits;
                if (nbits == 8) {
                    *d++ = acc;
                    acc = 0;
                    nbits = 0;
                }
            }
            if (nbits) {
                *d++ = acc << (8 - nbits);
            }
        }
    }
    g_byte_array_set_size(b, d - b->data);
}

static bool encode_zrle(VncClient *c, int x, int y, int w, int h)
{
    DisplaySurface *s = c->vs->surface;
    const uint8_t *base = surface_data(s);
    int stride = surface_stride(s);
    bool drop_low = false;
    size_t csize = cpixel_size(&c->pf, &drop_low);
    GByteArray *tiles = g_byte_array_new();
    uint32_t *px = g_new(uint32_t, ZRLE_TILE * ZRLE_TILE);
    bool ok;

    for (int ty = y; ty < y + h; ty += ZRLE_TILE) {
        int th = MIN(ZRLE_TILE, y + h - ty);
        for (int tx = x; tx < x + w; tx += ZRLE_TILE) {
            int tw = MIN(ZRLE_TILE, x + w - tx);
            for (int j = 0; j < th; j++) {
                const uint32_t *src =
                    (const uint32_t *)(base + (size_t)(ty + j) * stride) + tx;
                for (int i = 0; i < tw; i++) {
                    px[j * tw + i] = convert_pixel(c, src[i]);
                }
            }
            zrle_tile(c, tiles, px, tw, th, csize, drop_low);
        }
    }
    rect_header(c->out, x, y, w, h, VNC_ENC_ZRLE);
    ok = deflate_append(c, 1, tiles->data, tiles->len);
    g_free(px);
    g_byte_array_free(tiles, TRUE);
    return ok;
}

static bool encode_zlib(VncClient *c, int x, int y, int w, int h)
{
    GByteArray *raw = g_byte_array_new();
    bool ok;

    append_pixels(c, raw, x, y, w, h);
    rect_header(c->out, x, y, w, h, VNC_ENC_ZLIB);
    ok = deflate_append(c, 0, raw->data, raw->len);
    g_byte_array_free(raw, TRUE);
    return ok;
}

bool vnc_encode_rect(VncClient *c, int x, int y, int w, int h)
{
    switch (c->encoding) {
    case VNC_ENC_ZRLE:
        return encode_zrle(c, x, y, w, h);
    case VNC_ENC_ZLIB:
        return encode_zlib(c, x, y, w, h);
    default:
        rect_header(c->out, x, y, w, h, VNC_ENC_RAW);
        append_pixels(c, c->out, x, y, w, h);
        return true;
    }
}

void vnc_encoders_free(VncClient *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->zs_init[i]) {
            deflateEnd(&c->zs[i]);
            c->zs_init[i] = false;
        }
    }
}
