/*
 * The RFB protocol engine of the VNC server (RFC 6143; QEMU's extensions
 * from the community rfbproto: extended key event, pointer type change):
 * handshake for 3.3, 3.7 and 3.8, None and VNC Authentication, and the
 * client-to-server messages. It reads from and writes to byte buffers
 * only; everything a client sends is checked before it is used, and a
 * client that breaks the protocol is dropped with a reason.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "ui/input.h"
#include "vnc.h"

void (*vnc_client_initialized_hook)(VncClient *c);
void (*vnc_client_input_hook)(VncClient *c);

/* Client-to-server message types (RFC 6143 7.5) */
enum {
    MSG_SET_PIXEL_FORMAT = 0,
    MSG_SET_ENCODINGS = 2,
    MSG_FB_UPDATE_REQUEST = 3,
    MSG_KEY_EVENT = 4,
    MSG_POINTER_EVENT = 5,
    MSG_CLIENT_CUT_TEXT = 6,
    MSG_QEMU = 255,
};
#define QEMU_MSG_EXT_KEY_EVENT 0

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void put_u8(VncClient *c, uint8_t v)
{
    g_byte_array_append(c->out, &v, 1);
}

static void put_u16(VncClient *c, uint16_t v)
{
    uint8_t d[2] = {v >> 8, v & 0xff};

    g_byte_array_append(c->out, d, 2);
}

static void put_u32(VncClient *c, uint32_t v)
{
    uint8_t d[4] = {v >> 24, v >> 16, v >> 8, v};

    g_byte_array_append(c->out, d, 4);
}

static bool drop(VncClient *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool drop(VncClient *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->drop_reason) {
        va_start(ap, fmt);
        c->drop_reason = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return false;
}

void vnc_client_start(VncClient *c)
{
    static const char version[] = "RFB 003.008\n";

    c->in = g_byte_array_new();
    c->out = g_byte_array_new();
    c->state = VNC_STATE_VERSION;
    c->encoding = VNC_ENC_RAW;
    c->abs_sent = -1;
    VncPixelFormat pf;
    vnc_pixel_format_default(&pf);
    vnc_client_set_pixel_format(c, &pf);
    g_byte_array_append(c->out, (const uint8_t *)version, 12);
}

void vnc_client_finish(VncClient *c)
{
    keysym_release_all(&c->keys);
    vnc_encoders_free(c);
    if (c->in) {
        g_byte_array_free(c->in, TRUE);
        c->in = NULL;
    }
    if (c->out) {
        g_byte_array_free(c->out, TRUE);
        c->out = NULL;
    }
    g_free(c->dirty);
    c->dirty = NULL;
    g_free(c->drop_reason);
    c->drop_reason = NULL;
}

/* ---- dirty tiles ---- */

void vnc_client_surface_changed(VncClient *c)
{
    DisplaySurface *s = c->vs->surface;

    g_free(c->dirty);
    c->tw = s ? (surface_width(s) + VNC_TILE - 1) / VNC_TILE : 0;
    c->th = s ? (surface_height(s) + VNC_TILE - 1) / VNC_TILE : 0;
    c->dirty = g_malloc0((size_t)MAX(c->tw * c->th, 1));
    c->size_changed = true;
    vnc_client_mark_dirty(c, 0, 0, c->tw * VNC_TILE, c->th * VNC_TILE);
}

void vnc_client_mark_dirty(VncClient *c, int x, int y, int w, int h)
{
    int x0, y0, x1, y1;

    if (!c->dirty || w <= 0 || h <= 0) {
        return;
    }
    x0 = MAX(x, 0) / VNC_TILE;
    y0 = MAX(y, 0) / VNC_TILE;
    x1 = MIN((x + w - 1) / VNC_TILE, c->tw - 1);
    y1 = MIN((y + h - 1) / VNC_TILE, c->th - 1);
    for (int ty = y0; ty <= y1; ty++) {
        for (int tx = x0; tx <= x1; tx++) {
            c->dirty[ty * c->tw + tx] = 1;
        }
    }
}

bool vnc_client_has_dirty(const VncClient *c)
{
    if (!c->dirty) {
        return false;
    }
    return c->size_changed ||
           memchr(c->dirty, 1, (size_t)c->tw * c->th) != NULL;
}

/* ---- server-to-client messages ---- */

static void pseudo_rect(VncClient *c, int x, int y, int w, int h, int enc)
{
    put_u16(c, x);
    put_u16(c, y);
    put_u16(c, w);
    put_u16(c, h);
    put_u32(c, (uint32_t)enc);
}

/* Runs of dirty tiles in each row of tiles, clipped to the surface. */
typedef struct DirtyRect {
    int x, y, w, h;
} DirtyRect;

static GArray *collect_dirty(VncClient *c, int sw, int sh)
{
    GArray *rects = g_array_new(false, false, sizeof(DirtyRect));

    for (int ty = 0; ty < c->th; ty++) {
        uint8_t *row = c->dirty + (size_t)ty * c->tw;
        for (int tx = 0; tx < c->tw;) {
            if (!row[tx]) {
                tx++;
                continue;
            }
            int start = tx;
            while (tx < c->tw && row[tx]) {
                row[tx++] = 0;
            }
            DirtyRect r = {start * VNC_TILE, ty * VNC_TILE,
                           (tx - start) * VNC_TILE, VNC_TILE};
            r.w = MIN(r.w, sw - r.x);
            r.h = MIN(r.h, sh - r.y);
            if (r.w > 0 && r.h > 0) {
                g_array_append_val(rects, r);
            }
        }
    }
    return rects;
}

bool vnc_client_send_update(VncClient *c)
{
    DisplaySurface *s = c->vs->surface;
    bool resize;
    GArray *rects;
    unsigned n;

    if (c->state != VNC_STATE_NORMAL || !c->update_requested || !s ||
        (!vnc_client_has_dirty(c) && !c->ext_key_ack && !c->force_update)) {
        return false;
    }
    int sw = surface_width(s), sh = surface_height(s);
    resize = c->size_changed && (c->features & VNC_FEATURE_DESKTOPSIZE);
    c->size_changed = false;
    rects = collect_dirty(c, sw, sh);
    /* more rectangles than a message can count: send the whole screen */
    if (rects->len > 60000) {
        g_array_set_size(rects, 1);
        g_array_index(rects, DirtyRect, 0) = (DirtyRect){0, 0, sw, sh};
    }
    n = rects->len + resize + c->ext_key_ack;
    put_u8(c, 0);
    put_u8(c, 0);
    put_u16(c, n);
    if (c->ext_key_ack) {
        pseudo_rect(c, 0, 0, sw, sh, VNC_ENC_EXT_KEY_EVENT);
        c->ext_key_ack = false;
    }
    if (resize) {
        pseudo_rect(c, 0, 0, sw, sh, VNC_ENC_DESKTOPSIZE);
    }
    for (unsigned i = 0; i < rects->len; i++) {
        DirtyRect *r = &g_array_index(rects, DirtyRect, i);
        if (!vnc_encode_rect(c, r->x, r->y, r->w, r->h)) {
            g_array_free(rects, TRUE);
            c->state = VNC_STATE_CLOSING;
            return drop(c, "compression failed");
        }
    }
    g_array_free(rects, TRUE);
    c->update_requested = false;
    c->force_update = false;
    return true;
}

void vnc_client_send_pointer_type(VncClient *c, bool absolute)
{
    DisplaySurface *s = c->vs->surface;

    if (c->state != VNC_STATE_NORMAL || !s ||
        !(c->features & VNC_FEATURE_POINTER_TYPE) ||
        c->abs_sent == (int)absolute) {
        return;
    }
    c->abs_sent = absolute;
    put_u8(c, 0);
    put_u8(c, 0);
    put_u16(c, 1);
    pseudo_rect(c, absolute, 0, surface_width(s), surface_height(s),
                VNC_ENC_POINTER_TYPE);
}

/* ---- handshake ---- */

static void send_security_result(VncClient *c, bool ok, const char *reason)
{
    put_u32(c, ok ? 0 : 1);
    if (!ok && c->minor >= 8) {
        put_u32(c, strlen(reason));
        g_byte_array_append(c->out, (const uint8_t *)reason, strlen(reason));
    }
}

static void start_auth(VncClient *c)
{
    /* an unpredictable challenge: a replayed response must not work */
    if (getrandom(c->challenge, sizeof(c->challenge), 0) !=
        sizeof(c->challenge)) {
        for (int i = 0; i < 16; i++) {
            c->challenge[i] = g_random_int_range(0, 256);
        }
    }
    g_byte_array_append(c->out, c->challenge, 16);
    c->state = VNC_STATE_AUTH;
}

/* "RFB 003.008\n"; 3.4..3.6 (old clients) are 3.3, later ones 3.8. */
static bool parse_version(VncClient *c, const uint8_t *p)
{
    unsigned major, minor;
    char text[13];

    memcpy(text, p, 12);
    text[12] = 0;
    if (memcmp(text, "RFB ", 4) || text[7] != '.' || text[11] != '\n' ||
        !g_ascii_isdigit(text[4]) || !g_ascii_isdigit(text[5]) ||
        !g_ascii_isdigit(text[6]) || !g_ascii_isdigit(text[8]) ||
        !g_ascii_isdigit(text[9]) || !g_ascii_isdigit(text[10]) ||
        sscanf(text + 4, "%3u.%3u", &major, &minor) != 2) {
        return drop(c, "bad protocol version string");
    }
    if (major != 3 || minor < 3) {
        return drop(c, "unsupported protocol version %u.%u", major, minor);
    }
    c->minor = minor >= 8 ? 8 : minor == 7 ? 7 : 3;
    if (c->minor == 3) {
        /* 3.3: the server decides the security type */
        put_u32(c, c->vs->auth_vnc ? VNC_SEC_VNC : VNC_SEC_NONE);
        if (c->vs->auth_vnc) {
            start_auth(c);
        } else {
            c->state = VNC_STATE_INIT;
        }
        return true;
    }
    put_u8(c, 1);
    put_u8(c, c->vs->auth_vnc ? VNC_SEC_VNC : VNC_SEC_NONE);
    c->state = VNC_STATE_SEC_TYPE;
    return true;
}

static bool parse_sec_type(VncClient *c, uint8_t type)
{
    uint8_t offered = c->vs->auth_vnc ? VNC_SEC_VNC : VNC_SEC_NONE;

    if (type != offered) {
        if (c->minor >= 8) {
            send_security_result(c, false, "Unsupported security type");
        }
        c->state = VNC_STATE_CLOSING;
        return drop(c, "client chose security type %u", type);
    }
    if (type == VNC_SEC_VNC) {
        start_auth(c);
        return true;
    }
    if (c->minor >= 8) {
        send_security_result(c, true, NULL);
    }
    c->state = VNC_STATE_INIT;
    return true;
}

static bool parse_auth(VncClient *c, const uint8_t *response)
{
    VncServer *vs = c->vs;
    uint8_t expect[16];
    uint8_t diff = 0;

    if (!vs->password[0] || g_get_real_time() >= vs->expires) {
        send_security_result(c, false, "Authentication failed");
        c->state = VNC_STATE_CLOSING;
        return drop(c,
                    vs->password[0] ? "password expired" : "no password set");
    }
    vnc_auth_response(vs->password, c->challenge, expect);
    for (int i = 0; i < 16; i++) {
        diff |= expect[i] ^ response[i];
    }
    if (diff) {
        send_security_result(c, false, "Authentication failed");
        c->state = VNC_STATE_CLOSING;
        return drop(c, "wrong password");
    }
    send_security_result(c, true, NULL);
    c->state = VNC_STATE_INIT;
    return true;
}

static void write_pixel_format(VncClient *c, const VncPixelFormat *pf)
{
    uint8_t d[16] = {
        pf->bpp,
        pf->depth,
        pf->big_endian,
        1,
        pf->max[0] >> 8,
        pf->max[0],
        pf->max[1] >> 8,
        pf->max[1],
        pf->max[2] >> 8,
        pf->max[2],
        pf->shift[0],
        pf->shift[1],
        pf->shift[2],
        0,
        0,
        0,
    };

    g_byte_array_append(c->out, d, 16);
}

/* ClientInit (the shared flag: every client shares the one screen). */
static bool parse_client_init(VncClient *c)
{
    DisplaySurface *s = c->vs->surface;
    const char *name = c->vs->name ? c->vs->name : "Vireo";

    put_u16(c, s ? surface_width(s) : 0);
    put_u16(c, s ? surface_height(s) : 0);
    write_pixel_format(c, &c->pf);
    put_u32(c, strlen(name));
    g_byte_array_append(c->out, (const uint8_t *)name, strlen(name));
    c->state = VNC_STATE_NORMAL;
    vnc_client_surface_changed(c);
    c->size_changed = false; /* the client knows the size now */
    if (vnc_client_initialized_hook) {
        vnc_client_initialized_hook(c);
    }
    return true;
}

/* ---- client messages ---- */

static bool msg_set_pixel_format(VncClient *c, const uint8_t *p)
{
    VncPixelFormat pf = {
        .bpp = p[4],
        .depth = p[5],
        .big_endian = p[6] != 0,
        .max = {get_u16(p + 8), get_u16(p + 10), get_u16(p + 12)},
        .shift = {p[14], p[15], p[16]},
    };

    if (!p[7]) {
        return drop(c, "colour-map pixel formats are not supported");
    }
    if (!vnc_pixel_format_valid(&pf)) {
        return drop(c,
                    "invalid pixel format (%u bpp, max %u/%u/%u, "
                    "shift %u/%u/%u)",
                    pf.bpp, pf.max[0], pf.max[1], pf.max[2], pf.shift[0],
                    pf.shift[1], pf.shift[2]);
    }
    vnc_client_set_pixel_format(c, &pf);
    /* everything the client has is in the old format now */
    vnc_client_mark_dirty(c, 0, 0, c->tw * VNC_TILE, c->th * VNC_TILE);
    return true;
}

static bool msg_set_encodings(VncClient *c, const uint8_t *p, unsigned n)
{
    bool chosen = false;
    unsigned old = c->features;

    c->encoding = VNC_ENC_RAW;
    c->features = 0;
    for (unsigned i = 0; i < n; i++) {
        int32_t enc = (int32_t)get_u32(p + 4 + 4 * i);
        switch (enc) {
        case VNC_ENC_RAW:
        case VNC_ENC_ZLIB:
        case VNC_ENC_ZRLE:
            /* the client lists encodings in its order of preference */
            if (!chosen) {
                c->encoding = enc;
                chosen = true;
            }
            break;
        case VNC_ENC_DESKTOPSIZE:
            c->features |= VNC_FEATURE_DESKTOPSIZE;
            break;
        case VNC_ENC_EXT_KEY_EVENT:
            c->features |= VNC_FEATURE_EXT_KEY;
            break;
        case VNC_ENC_POINTER_TYPE:
            c->features |= VNC_FEATURE_POINTER_TYPE;
            break;
        default:
            break;
        }
    }
    /* the client learns the server has the extended key event from an
     * empty rectangle of that type */
    if ((c->features & VNC_FEATURE_EXT_KEY) && !(old & VNC_FEATURE_EXT_KEY)) {
        c->ext_key_ack = true;
    }
    if (!(c->features & VNC_FEATURE_POINTER_TYPE)) {
        c->abs_sent = -1;
    }
    return true;
}

static bool msg_update_request(VncClient *c, const uint8_t *p)
{
    bool incremental = p[1];
    int x = get_u16(p + 2), y = get_u16(p + 4);
    int w = get_u16(p + 6), h = get_u16(p + 8);

    c->update_requested = true;
    if (!incremental) {
        c->force_update = true;
        vnc_client_mark_dirty(c, x, y, w, h);
    }
    return true;
}

static void msg_key_event(VncClient *c, const uint8_t *p)
{
    keysym_event(c->vs->keymap, &c->keys, get_u32(p + 4), p[1] != 0);
}

/*
 * The extended key event's keycode is the XT scancode: 0x00..0x7f, or an
 * 0xE0-prefixed key with the high bit set (0x80 | code). Some clients
 * send the prefix itself (0xE0xx); both are taken.
 */
static void msg_ext_key_event(VncClient *c, const uint8_t *p)
{
    bool down = get_u16(p + 2) != 0;
    uint32_t keysym = get_u32(p + 4), code = get_u32(p + 8);
    QKeyCode q;

    if ((code & 0xff00) == 0xe000) {
        code = 0x80 | (code & 0x7f);
    }
    q = code <= 0xff ? qkeycode_from_number(code) : Q_KEY_CODE_UNMAPPED;
    if (q == Q_KEY_CODE_UNMAPPED) {
        /* a key the scancode table does not know: go by its keysym */
        keysym_event(c->vs->keymap, &c->keys, keysym, down);
        return;
    }
    input_send_key(q, down);
}

static void msg_pointer_event(VncClient *c, const uint8_t *p)
{
    static const InputButton buttons[5] = {
        INPUT_BUTTON_LEFT,     INPUT_BUTTON_MIDDLE,     INPUT_BUTTON_RIGHT,
        INPUT_BUTTON_WHEEL_UP, INPUT_BUTTON_WHEEL_DOWN,
    };
    DisplaySurface *s = c->vs->surface;
    uint8_t mask = p[1];
    int x = get_u16(p + 2), y = get_u16(p + 4);
    InputEvent ev;

    for (int i = 0; i < 5; i++) {
        if ((mask ^ c->buttons) & (1u << i)) {
            ev.kind = INPUT_EVENT_KIND_BTN;
            ev.u.btn.button = buttons[i];
            ev.u.btn.down = mask & (1u << i);
            input_event_send(&ev);
        }
    }
    c->buttons = mask;
    if (input_is_absolute() && s) {
        int w = MAX(surface_width(s) - 1, 1), h = MAX(surface_height(s) - 1, 1);
        ev.kind = INPUT_EVENT_KIND_ABS;
        ev.u.move.axis = INPUT_AXIS_X;
        ev.u.move.value = (int64_t)MIN(x, w) *
                              (INPUT_EVENT_ABS_MAX - INPUT_EVENT_ABS_MIN) / w +
                          INPUT_EVENT_ABS_MIN;
        input_event_send(&ev);
        ev.u.move.axis = INPUT_AXIS_Y;
        ev.u.move.value = (int64_t)MIN(y, h) *
                              (INPUT_EVENT_ABS_MAX - INPUT_EVENT_ABS_MIN) / h +
                          INPUT_EVENT_ABS_MIN;
        input_event_send(&ev);
    } else if (x != c->last_x || y != c->last_y) {
        ev.kind = INPUT_EVENT_KIND_REL;
        ev.u.move.axis = INPUT_AXIS_X;
        ev.u.move.value = x - c->last_x;
        input_event_send(&ev);
        ev.u.move.axis = INPUT_AXIS_Y;
        ev.u.move.value = y - c->last_y;
        input_event_send(&ev);
    }
    c->last_x = x;
    c->last_y = y;
    input_event_sync();
}

/*
 * How long the message at the start of p (len bytes) is, 0 when more
 * bytes are needed to tell, -1 when it is not a message we know.
 */
static long message_length(VncClient *c, const uint8_t *p, size_t len)
{
    switch (p[0]) {
    case MSG_SET_PIXEL_FORMAT:
        return 20;
    case MSG_SET_ENCODINGS:
        return len < 4 ? 0 : 4 + 4 * (long)get_u16(p + 2);
    case MSG_FB_UPDATE_REQUEST:
        return 10;
    case MSG_KEY_EVENT:
        return 8;
    case MSG_POINTER_EVENT:
        return 6;
    case MSG_CLIENT_CUT_TEXT:
        return 8; /* the header; the text is skipped as it comes */
    case MSG_QEMU:
        if (len < 2) {
            return 0;
        }
        return p[1] == QEMU_MSG_EXT_KEY_EVENT ? 12 : -1;
    default:
        return -1;
    }
}

static bool handle_message(VncClient *c, const uint8_t *p)
{
    switch (p[0]) {
    case MSG_SET_PIXEL_FORMAT:
        return msg_set_pixel_format(c, p);
    case MSG_SET_ENCODINGS:
        return msg_set_encodings(c, p, get_u16(p + 2));
    case MSG_FB_UPDATE_REQUEST:
        return msg_update_request(c, p);
    case MSG_KEY_EVENT:
        msg_key_event(c, p);
        break;
    case MSG_POINTER_EVENT:
        msg_pointer_event(c, p);
        break;
    case MSG_CLIENT_CUT_TEXT: {
        uint32_t len = get_u32(p + 4);
        /* a negative length is the extended clipboard, which we never
         * offered; either way nothing that large is read */
        if (len > VNC_CUT_TEXT_MAX) {
            return drop(c, "clipboard text of %u bytes is too long", len);
        }
        c->skip = len;
        return true;
    }
    case MSG_QEMU:
        msg_ext_key_event(c, p);
        break;
    }
    if (vnc_client_input_hook) {
        vnc_client_input_hook(c);
    }
    return true;
}

/* Handles the whole messages at the start of c->in; false: drop. */
static bool parse_messages(VncClient *c)
{
    size_t used = 0;
    bool ok = true;

    while (ok && used < c->in->len && c->state != VNC_STATE_CLOSING) {
        const uint8_t *p = c->in->data + used;
        size_t avail = c->in->len - used;

        if (c->skip) {
            size_t n = MIN(avail, c->skip);
            c->skip -= n;
            used += n;
            continue;
        }
        switch (c->state) {
        case VNC_STATE_VERSION:
            if (avail < 12) {
                goto out;
            }
            ok = parse_version(c, p);
            used += 12;
            break;
        case VNC_STATE_SEC_TYPE:
            ok = parse_sec_type(c, p[0]);
            used += 1;
            break;
        case VNC_STATE_AUTH:
            if (avail < 16) {
                goto out;
            }
            ok = parse_auth(c, p);
            used += 16;
            break;
        case VNC_STATE_INIT:
            ok = parse_client_init(c);
            used += 1;
            break;
        case VNC_STATE_NORMAL: {
            long need = message_length(c, p, avail);
            if (need < 0) {
                return drop(c, "unknown message type %u%s", p[0],
                            p[0] == MSG_QEMU ? " (QEMU submessage)" : "");
            }
            if (need == 0 || avail < (size_t)need) {
                goto out;
            }
            ok = handle_message(c, p);
            used += need;
            break;
        }
        case VNC_STATE_CLOSING:
            break;
        }
    }
out:
    g_byte_array_remove_range(c->in, 0, used);
    return ok;
}

bool vnc_client_feed(VncClient *c, const uint8_t *data, size_t len)
{
    if (c->state == VNC_STATE_CLOSING) {
        return false;
    }
    c->bytes_in += len;
    /* skip clipboard text without holding it */
    if (c->skip && c->in->len == 0) {
        size_t n = MIN(len, c->skip);
        c->skip -= n;
        data += n;
        len -= n;
    }
    g_byte_array_append(c->in, data, len);
    return parse_messages(c);
}
