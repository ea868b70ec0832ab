/*
 * The VNC server's private interface: the server and client state, the
 * RFB protocol engine (ui/vnc-proto.c, RFC 6143 plus QEMU's extensions),
 * the encoders (ui/vnc-enc.c) and VNC authentication (ui/vnc-auth.c).
 * The protocol engine works on byte buffers only, so it can be driven
 * without sockets (tests/fuzz/fuzz-vnc.c); ui/vnc.c does the sockets.
 */
#ifndef UI_VNC_H
#define UI_VNC_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "ui/console.h"
#include "ui/keymaps.h"

/* RFB security types (RFC 6143 7.1.2) */
#define VNC_SEC_NONE 1
#define VNC_SEC_VNC 2

/* Encodings and pseudo-encodings (RFC 6143 7.7, 7.8; QEMU's rfbproto) */
#define VNC_ENC_RAW 0
#define VNC_ENC_COPYRECT 1
#define VNC_ENC_ZLIB 6
#define VNC_ENC_ZRLE 16
#define VNC_ENC_DESKTOPSIZE (-223)
#define VNC_ENC_POINTER_TYPE (-257)
#define VNC_ENC_EXT_KEY_EVENT (-258)

/* What a client asked for with SetEncodings (feature bits). */
#define VNC_FEATURE_DESKTOPSIZE (1u << 0)
#define VNC_FEATURE_EXT_KEY (1u << 1)
#define VNC_FEATURE_POINTER_TYPE (1u << 2)

/* A tile of the dirty map is this many pixels square. */
#define VNC_TILE 16

/*
 * Clipboard text longer than this drops the client (it is skipped, never
 * stored: the server has no clipboard).
 */
#define VNC_CUT_TEXT_MAX (1024 * 1024)

typedef enum VncState {
    VNC_STATE_VERSION,  /* waiting for the client's ProtocolVersion */
    VNC_STATE_SEC_TYPE, /* 3.7/3.8: waiting for the chosen type */
    VNC_STATE_AUTH,     /* waiting for the 16-byte DES response */
    VNC_STATE_INIT,     /* waiting for ClientInit */
    VNC_STATE_NORMAL,   /* client messages */
    VNC_STATE_CLOSING,  /* flush what is queued, then close */
} VncState;

typedef struct VncPixelFormat {
    uint8_t bpp; /* 8, 16 or 32 */
    uint8_t depth;
    bool big_endian;
    uint16_t max[3]; /* red, green, blue */
    uint8_t shift[3];
} VncPixelFormat;

typedef struct VncServer VncServer;

typedef struct VncClient {
    VncServer *vs;
    VncState state;
    int minor; /* RFB 3.minor: 3, 7 or 8 */
    uint8_t challenge[16];
    char *drop_reason; /* why the client is being dropped */

    /* input not yet parsed (always less than one whole message) */
    GByteArray *in;
    uint32_t skip; /* ClientCutText bytes still to discard */
    /* output not yet written to the socket */
    GByteArray *out;
    size_t out_sent; /* of out, already written (ui/vnc.c) */

    VncPixelFormat pf;
    uint32_t lut[3][256]; /* 8-bit channel -> pf's shifted channel */
    bool rgb888;          /* pf's channels are the surface's: no lut */
    int encoding;         /* VNC_ENC_RAW, _ZLIB or _ZRLE */
    unsigned features;
    z_stream zs[2]; /* persistent streams: [0] zlib, [1] ZRLE */
    bool zs_init[2];

    /* dirty tiles, tw x th bytes, of the surface size */
    uint8_t *dirty;
    int tw, th;
    bool update_requested;
    bool force_update; /* a non-incremental request is pending */
    bool size_changed; /* send DesktopSize before the next pixels */
    bool ext_key_ack;  /* confirm the extended key event */
    int abs_sent;      /* pointer type last told the client, -1 */

    /* input state */
    int last_x, last_y;
    uint8_t buttons;
    KeysymState keys;

    /* sockets layer (ui/vnc.c) */
    int fd;
    guint in_watch, out_watch;
    char *host, *service;
    const char *family; /* "ipv4", "ipv6", "unix" */
    uint64_t bytes_in, bytes_out;
    struct VncClient *next;
} VncClient;

struct VncServer {
    DisplaySurface *surface;
    char *name;
    bool auth_vnc;
    char password[9]; /* empty: no password yet, every login fails */
    int64_t expires;  /* g_get_real_time() after which the password
                       * is no longer accepted; INT64_MAX: never */
    const Keymap *keymap;
    VncClient *clients;
};

/* ---- protocol engine (ui/vnc-proto.c) ---- */

/* Starts the handshake: queues the server's ProtocolVersion. */
void vnc_client_start(VncClient *c);
/*
 * Feeds bytes from the client. Returns false when the client must be
 * dropped (c->drop_reason says why); queued output should still be
 * flushed when c->state is VNC_STATE_CLOSING.
 */
bool vnc_client_feed(VncClient *c, const uint8_t *data, size_t len);
/* Frees the protocol state (not the client or its socket). */
void vnc_client_finish(VncClient *c);
/* The surface changed size or was replaced: resize the dirty map. */
void vnc_client_surface_changed(VncClient *c);
/* Marks a rectangle of the surface dirty. */
void vnc_client_mark_dirty(VncClient *c, int x, int y, int w, int h);
bool vnc_client_has_dirty(const VncClient *c);
/*
 * Sends a FramebufferUpdate when the client asked for one and something
 * is dirty (or a non-incremental request waits). Returns whether it sent.
 */
bool vnc_client_send_update(VncClient *c);
/* Tells a client that supports it the pointer mode (absolute or not). */
void vnc_client_send_pointer_type(VncClient *c, bool absolute);
/* Whether the client finished the handshake. */
static inline bool vnc_client_running(const VncClient *c)
{
    return c->state == VNC_STATE_NORMAL;
}
/* Hooks into ui/vnc.c (events, refresh speed); no-ops when not set. */
extern void (*vnc_client_initialized_hook)(VncClient *c);
extern void (*vnc_client_input_hook)(VncClient *c);

/* ---- encodings (ui/vnc-enc.c) ---- */

/* Whether pf is a true-colour format the server can produce. */
bool vnc_pixel_format_valid(const VncPixelFormat *pf);
/* The server's native format: 32 bpp, depth 24, little-endian x8r8g8b8. */
void vnc_pixel_format_default(VncPixelFormat *pf);
/* Makes pf (valid) the client's format. */
void vnc_client_set_pixel_format(VncClient *c, const VncPixelFormat *pf);
/* Appends the rectangle's pixels (header included) in c's encoding. */
bool vnc_encode_rect(VncClient *c, int x, int y, int w, int h);
void vnc_encoders_free(VncClient *c);

/* ---- authentication (ui/vnc-auth.c) ---- */

/* The response the client must give: challenge DES-encrypted with the
 * password as key (bits of each key byte reversed, as VNC does). */
void vnc_auth_response(const char *password, const uint8_t challenge[16],
                       uint8_t response[16]);

#endif
