/*
 * Character backends: where a serial port's bytes go and come from.
 * Backends run on the main loop (glib's default context) under the big lock;
 * frontends (UARTs, later the monitor) attach handlers.
 *
 * Spec strings follow QEMU's -serial spelling: "stdio", "null", "none",
 * "file:PATH", "pipe:PATH", "pty", "unix:PATH[,server=on|off][,wait=on|off]",
 * "tcp:HOST:PORT[,server=on|off][,wait=on|off][,nodelay=on]",
 * "chardev:ID", and "mon:SPEC" (SPEC multiplexed with a human monitor).
 * Option strings follow -chardev:
 * "BACKEND,id=ID[,path=|host=,port=|server=|wait=|...][,mux=on]".
 *
 * mux=on (and "mon:") lets several frontends share one backend, as QEMU's
 * multiplexer: output from every frontend goes to the backend; input goes
 * to the frontend that has the focus. The escape key Ctrl-a starts QEMU's
 * commands on a mux: C-a c moves the focus to the next frontend, C-a x
 * quits, C-a h prints help, C-a C-a (or C-a a) sends a Ctrl-a. Plain
 * backends have no escapes.
 */
#ifndef CHARDEV_CHAR_H
#define CHARDEV_CHAR_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Chardev Chardev;

/* Output the peer cannot take at once is kept up to this much, then dropped. */
#define CHARDEV_OUTBUF_MAX  (64 * 1024)

typedef enum ChardevEvent {
    CHR_EVENT_OPENED,   /* a peer connected (sockets, pty) */
    CHR_EVENT_CLOSED,   /* the peer went away */
    CHR_EVENT_MUX_IN,   /* mux: this frontend now gets the input */
    CHR_EVENT_MUX_OUT,  /* mux: this frontend lost the input focus */
} ChardevEvent;

typedef struct ChardevHandlers {
    /* How many bytes the frontend can take now (0 stops reading). */
    int (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, int len);
    void (*event)(void *opaque, ChardevEvent event);
    /*
     * Optional: output buffered by the backend has drained (or was dropped
     * because the peer went away), so chardev_write_room() is back at its
     * maximum. For frontends that hold output back rather than lose it.
     */
    void (*writable)(void *opaque);
    /*
     * Mux only: this frontend (a monitor) does not keep the initial focus
     * from a frontend without the flag (the serial port), whichever of the
     * two attaches first; it gets the focus with C-a c.
     */
    bool mux_background;
} ChardevHandlers;

/* -chardev BACKEND,id=ID,... */
Chardev *chardev_new_from_opts(const char *opts, GError **errp);
/* -serial/-debugcon SPEC; "chardev:ID" finds an existing one. NULL spec "none". */
Chardev *chardev_new_from_spec(const char *label, const char *spec,
                               GError **errp);
Chardev *chardev_find(const char *id);
const char *chardev_id(Chardev *chr);
/*
 * QEMU-style description for "info chardev" and tests, e.g. "pty:/dev/pts/3",
 * "tcp:0.0.0.0:4444,server=on" (the port the kernel chose for port=0),
 * "disconnected:unix:/tmp/s,server=on".
 */
const char *chardev_filename(Chardev *chr);

/*
 * Attaches the frontend (h NULL detaches). On a mux each opaque is one
 * frontend: a new opaque adds one (the focus is announced with
 * CHR_EVENT_MUX_IN from the main loop, once the machine is built), a known
 * one replaces its handlers, h NULL removes it. A frontend attaching to a
 * connected backend hears CHR_EVENT_OPENED at once.
 */
void chardev_set_handlers(Chardev *chr, const ChardevHandlers *h,
                          void *opaque);
/* Whether chr is a mux (mux=on, "mon:" spec, or -nographic's stdio). */
bool chardev_is_mux(Chardev *chr);
/* Whether chr came from a "mon:" spec: main.c attaches an HMP monitor. */
bool chardev_wants_monitor(Chardev *chr);
/* Whether a frontend is attached (query-chardev's frontend-open). */
bool chardev_frontend_open(Chardev *chr);
/* Calls fn for every chardev, in creation order. */
void chardev_foreach(void (*fn)(Chardev *chr, void *opaque), void *opaque);
/*
 * Output the peer cannot take at once is buffered up to max bytes (default
 * CHARDEV_OUTBUF_MAX, 64 KiB), the rest dropped; a monitor whose replies
 * must arrive whole raises it.
 */
void chardev_set_output_limit(Chardev *chr, size_t max);
/*
 * Writes all of buf unless the peer is gone (then it is dropped, as a UART
 * with no cable would). Never blocks the caller for long: output that the
 * peer cannot take at once is buffered up to a limit.
 */
void chardev_write(Chardev *chr, const uint8_t *buf, size_t len);
/*
 * How many bytes chardev_write() takes now without dropping any: the room
 * left in the output buffer (SIZE_MAX when the peer is gone and output is
 * dropped anyway). A frontend with flow control writes at most this much
 * and continues from its writable() handler.
 */
size_t chardev_write_room(Chardev *chr);
/*
 * Whether a peer is there: a socket's client, a pty's slave opener.
 * Backends without the notion (file, pipe, null, stdio) always have one.
 */
bool chardev_is_connected(Chardev *chr);
/* The frontend can take more input again: backend resumes reading. */
void chardev_accept_input(Chardev *chr);
/*
 * Lets go of a peer that stopped reading, as if it had left: a socket's
 * client is disconnected (a server listens again), other backends stop
 * writing to it. For a frontend whose output must not be cut short.
 */
void chardev_drop_peer(Chardev *chr);

/*
 * Restores terminals (stdio raw mode), gives pending output up to 1 s in
 * all to reach its peers (a "quit" reply), then closes every backend.
 */
void chardev_cleanup_all(void);

#endif
