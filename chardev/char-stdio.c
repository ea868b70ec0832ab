/*
 * stdio backend: the guest's serial console on the terminal. A tty stdin is
 * put in raw mode (restored at exit); with signal=off Ctrl-C goes to the
 * guest. QEMU's Ctrl-a escapes (C-a x quits) belong to the mux
 * (char-mux.c), which -nographic and mon:stdio put on top.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "char-priv.h"

static bool stdio_in_use;
static bool saved_valid;
static struct termios saved_tty;
static int saved_fd0_flags = -1;

typedef struct StdioState {
    bool signals;           /* Ctrl-C interrupts us rather than the guest */
} StdioState;

void chardev_stdio_restore_terminal(void)
{
    /* async-signal-safe: tcsetattr and fcntl only */
    if (saved_valid) {
        tcsetattr(0, TCSANOW, &saved_tty);
    }
    if (saved_fd0_flags >= 0) {
        fcntl(0, F_SETFL, saved_fd0_flags);
    }
}

static void restore_at_exit(void)
{
    chardev_stdio_restore_terminal();
}

static void set_raw_mode(bool signals)
{
    struct termios tty;

    if (!isatty(0) || tcgetattr(0, &saved_tty) < 0) {
        return;
    }
    saved_valid = true;
    tty = saved_tty;
    tty.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                     ICRNL | IXON);
    tty.c_oflag |= OPOST;   /* keep "\n" -> "\r\n" for messages on stderr */
    tty.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!signals) {
        tty.c_lflag &= ~ISIG;
    }
    tty.c_cflag &= ~(CSIZE | PARENB);
    tty.c_cflag |= CS8;
    tty.c_cc[VMIN] = 1;
    tty.c_cc[VTIME] = 0;
    tcsetattr(0, TCSANOW, &tty);
}

static void stdio_hangup(Chardev *chr, ChardevSide side)
{
    /*
     * EOF on stdin stops reading (no busy loop) and tells a sole frontend
     * that its client is gone (-qtest stdio ends there); a terminal shared
     * through a mux keeps its console. A broken stdout drops.
     */
    if (side == CHR_SIDE_INPUT) {
        chardev_detach_input(chr);
        if (!chr->mux) {
            chardev_send_event(chr, CHR_EVENT_CLOSED);
        }
    } else {
        chardev_detach_output(chr);
    }
}

static bool stdio_open(Chardev *chr, Opts *o, GError **errp)
{
    StdioState *s;
    bool signals;
    int flags;

    if (stdio_in_use) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "cannot use stdio by multiple character devices");
        return false;
    }
    if (!opts_get_bool(o, "signal", true, &signals, errp)) {
        return false;
    }
    flags = fcntl(0, F_GETFL);
    if (flags >= 0) {
        static bool atexit_done;
        saved_fd0_flags = flags;
        if (!atexit_done) {
            atexit(restore_at_exit);
            atexit_done = true;
        }
        /* stdin is ours alone; stdout is shared with stderr: left blocking */
        if (!chardev_set_nonblock(0, errp)) {
            return false;
        }
        set_raw_mode(signals);
    }
    stdio_in_use = true;

    s = g_new0(StdioState, 1);
    s->signals = signals;
    chr->be_state = s;
    chr->out_is_blocking = true;
    /* a closed stdin (<&-) leaves an output-only console */
    chardev_attach_fds(chr, flags >= 0 ? 0 : -1, 1);
    chr->connected = true;
    return true;
}

static void stdio_close(Chardev *chr)
{
    if (!chr->be_state) {
        return;     /* open failed before taking the terminal */
    }
    chardev_stdio_restore_terminal();
    saved_valid = false;
    saved_fd0_flags = -1;
    stdio_in_use = false;
    g_free(chr->be_state);
}

static const char *const stdio_keys[] = { "signal", NULL };

const ChardevBackend chardev_stdio_backend = {
    .name = "stdio",
    .keys = stdio_keys,
    .open = stdio_open,
    .hangup = stdio_hangup,
    .close = stdio_close,
};
