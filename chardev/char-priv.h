/*
 * Private interface between the chardev core (char.c) and its backends.
 * The core owns the byte plumbing: non-blocking output with a bounded
 * buffer, input watches that honour the frontend's can_receive(), events.
 * A backend opens its file descriptors and hands them to the core; it is
 * told when the peer goes away.
 */
#ifndef CHARDEV_CHAR_PRIV_H
#define CHARDEV_CHAR_PRIV_H

#include "chardev/char.h"
#include "util/opts.h"

typedef enum ChardevSide {
    CHR_SIDE_INPUT,     /* read gave EOF or an error */
    CHR_SIDE_OUTPUT,    /* write failed with something other than EAGAIN */
} ChardevSide;

typedef struct ChardevBackend {
    const char *name;
    const char *const *keys;    /* options it accepts besides id, NULL-ended */
    /*
     * Opens the backend from -chardev style options (already parsed and
     * checked against keys; the backend reads them with opts_get*).
     */
    bool (*open)(Chardev *chr, Opts *o, GError **errp);
    /* NULL: input side stops reading, output side drops what is pending. */
    void (*hangup)(Chardev *chr, ChardevSide side);
    /* Rewrites input before the frontend sees it; returns the new length. */
    size_t (*filter_input)(Chardev *chr, uint8_t *buf, size_t len);
    /* Closes the backend's fds and frees its state (core detaches first). */
    void (*close)(Chardev *chr);
} ChardevBackend;

struct Chardev {
    char *id;
    char *filename;             /* QEMU-style, e.g. "pty:/dev/pts/3" */
    const ChardevBackend *be;
    void *be_state;

    int in_fd;                  /* -1: no input now */
    int out_fd;                 /* -1: output is dropped */
    bool out_is_blocking;       /* shared fd we must not make non-blocking */
    bool connected;             /* OPENED sent, CLOSED not yet */

    guint in_watch;
    bool in_paused;             /* frontend said 0 at can_receive() */
    guint out_watch;
    GByteArray *outbuf;

    size_t out_max;             /* outbuf limit, CHARDEV_OUTBUF_MAX default */

    ChardevHandlers h;
    bool has_handlers;
    void *opaque;

    /*
     * mux=on (char-mux.c): the core's handler slot holds the mux, which
     * shares the backend between several frontends.
     */
    struct ChardevMux *mux;
    bool wants_monitor;         /* "mon:" spec: main.c attaches an HMP */
};

/* Starts moving bytes over in_fd/out_fd (either may be -1). */
void chardev_attach_fds(Chardev *chr, int in_fd, int out_fd);
/* Stops watching the fds and drops pending output; does not close them. */
void chardev_detach_fds(Chardev *chr);
void chardev_detach_input(Chardev *chr);
void chardev_detach_output(Chardev *chr);
/* Tells the frontend about a peer arriving or leaving (deduplicated). */
void chardev_send_event(Chardev *chr, ChardevEvent ev);
void chardev_set_filename(Chardev *chr, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
bool chardev_set_nonblock(int fd, GError **errp);

extern const ChardevBackend chardev_null_backend;
extern const ChardevBackend chardev_stdio_backend;
extern const ChardevBackend chardev_file_backend;
extern const ChardevBackend chardev_pipe_backend;
extern const ChardevBackend chardev_pty_backend;
extern const ChardevBackend chardev_socket_backend;

/*
 * The multiplexer (char-mux.c). mux_init takes over chr's handler slot;
 * mux_set_handlers adds, replaces (same opaque) or removes (h NULL) a
 * frontend; mux_accept_input hands buffered input to frontends that can
 * take it now.
 */
void chardev_mux_init(Chardev *chr);
void chardev_mux_set_handlers(Chardev *chr, const ChardevHandlers *h,
                              void *opaque);
void chardev_mux_accept_input(Chardev *chr);
bool chardev_mux_has_frontends(Chardev *chr);
void chardev_mux_free(Chardev *chr);

/* stdio: restores the terminal; safe to call more than once. */
void chardev_stdio_restore_terminal(void);

#endif
