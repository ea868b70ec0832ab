/*
 * Character backends: where a serial port's bytes go and come from.
 * Backends run on the main loop (glib's default context) under the big lock;
 * frontends (UARTs, later the monitor) attach handlers.
 *
 * Spec strings follow QEMU's -serial spelling: "stdio", "null", "none",
 * "file:PATH", "pipe:PATH", "pty", "unix:PATH[,server=on|off][,wait=on|off]",
 * "tcp:HOST:PORT[,server=on|off][,wait=on|off][,nodelay=on]",
 * "chardev:ID". Option strings follow -chardev:
 * "BACKEND,id=ID[,path=|host=,port=|server=|wait=|...]".
 */
#ifndef CHARDEV_CHAR_H
#define CHARDEV_CHAR_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Chardev Chardev;

typedef enum ChardevEvent {
    CHR_EVENT_OPENED,   /* a peer connected (sockets, pty) */
    CHR_EVENT_CLOSED,   /* the peer went away */
} ChardevEvent;

typedef struct ChardevHandlers {
    /* How many bytes the frontend can take now (0 stops reading). */
    int (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, int len);
    void (*event)(void *opaque, ChardevEvent event);
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

void chardev_set_handlers(Chardev *chr, const ChardevHandlers *h,
                          void *opaque);
/*
 * Writes all of buf unless the peer is gone (then it is dropped, as a UART
 * with no cable would). Never blocks the caller for long: output that the
 * peer cannot take at once is buffered up to a limit.
 */
void chardev_write(Chardev *chr, const uint8_t *buf, size_t len);
/* The frontend can take more input again: backend resumes reading. */
void chardev_accept_input(Chardev *chr);

/* Restores terminals (stdio raw mode) and closes every backend. */
void chardev_cleanup_all(void);
/* -nographic/-serial stdio: stdio in raw mode, Ctrl-C passes to the guest. */
extern bool chardev_stdio_signals;  /* false: Ctrl-C goes to the guest */

#endif
