/*
 * pty backend: a pseudo-terminal whose slave (/dev/pts/N) a user opens with
 * screen, minicom or socat. As QEMU, output is dropped while nobody has the
 * slave open; a 1 s poll notices when someone opens it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "char-priv.h"

#define PTY_POLL_MS 1000

typedef struct PtyState {
    int master;
    char *slave_path;
    guint poll_timer;
} PtyState;

/* The master reports POLLHUP while no process has the slave open. */
static bool slave_is_open(PtyState *s)
{
    struct pollfd pfd = { .fd = s->master, .events = POLLIN };

    return poll(&pfd, 1, 0) >= 0 && !(pfd.revents & POLLHUP);
}

static gboolean pty_poll(gpointer opaque);

static void pty_set_connected(Chardev *chr, bool connected)
{
    PtyState *s = chr->be_state;

    if (connected) {
        if (s->poll_timer) {
            g_source_remove(s->poll_timer);
            s->poll_timer = 0;
        }
        chardev_attach_fds(chr, s->master, s->master);
        chardev_send_event(chr, CHR_EVENT_OPENED);
    } else {
        chardev_detach_fds(chr);
        chardev_send_event(chr, CHR_EVENT_CLOSED);
        if (!s->poll_timer) {
            s->poll_timer = g_timeout_add(PTY_POLL_MS, pty_poll, chr);
        }
    }
}

static gboolean pty_poll(gpointer opaque)
{
    Chardev *chr = opaque;
    PtyState *s = chr->be_state;

    if (slave_is_open(s)) {
        s->poll_timer = 0;
        pty_set_connected(chr, true);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void pty_hangup(Chardev *chr, ChardevSide side)
{
    /* EIO on the master: the last opener of the slave closed it */
    pty_set_connected(chr, false);
}

static bool pty_open(Chardev *chr, Opts *o, GError **errp)
{
    PtyState *s;
    struct termios tty;
    const char *name;
    int slave;

    s = g_new0(PtyState, 1);
    chr->be_state = s;
    s->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s->master < 0 || grantpt(s->master) < 0 || unlockpt(s->master) < 0 ||
        !(name = ptsname(s->master))) {
        g_set_error(errp, VIREO_ERROR, 0, "could not create a pty: %s",
                    g_strerror(errno));
        return false;
    }
    s->slave_path = g_strdup(name);
    /*
     * Raw mode on the line discipline so the guest's bytes pass unchanged;
     * opening and closing the slave also puts the master in its "no
     * reader" (POLLHUP) state that pty_poll watches.
     */
    slave = open(s->slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave >= 0) {
        if (tcgetattr(slave, &tty) == 0) {
            cfmakeraw(&tty);
            tcsetattr(slave, TCSAFLUSH, &tty);
        }
        close(slave);
    }
    if (!chardev_set_nonblock(s->master, errp)) {
        return false;
    }
    chardev_set_filename(chr, "pty:%s", s->slave_path);
    /* QEMU's wording: scripts grep for it */
    fprintf(stderr, "char device redirected to %s (label %s)\n",
            s->slave_path, chr->id);
    pty_set_connected(chr, slave_is_open(s));
    return true;
}

static void pty_close(Chardev *chr)
{
    PtyState *s = chr->be_state;

    if (!s) {
        return;
    }
    if (s->poll_timer) {
        g_source_remove(s->poll_timer);
    }
    if (s->master >= 0) {
        close(s->master);
    }
    g_free(s->slave_path);
    g_free(s);
    chr->be_state = NULL;
}

const ChardevBackend chardev_pty_backend = {
    .name = "pty",
    .open = pty_open,
    .hangup = pty_hangup,
    .close = pty_close,
};
