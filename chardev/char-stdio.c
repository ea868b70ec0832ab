/*
 * stdio backend: the guest's serial console on the terminal. A tty stdin is
 * put in raw mode (restored at exit); with signal=off Ctrl-C goes to the
 * guest and Ctrl-A starts QEMU's escape sequences (C-a x quits).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "char-priv.h"
#include "system/runstate.h"

#define ESCAPE_CHAR 0x01    /* Ctrl-A, as QEMU's -nographic */

static bool stdio_in_use;
static bool saved_valid;
static struct termios saved_tty;
static int saved_fd0_flags = -1;

typedef struct StdioState {
    bool escapes;           /* Ctrl-A sequences are ours, not the guest's */
    bool got_escape;
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

static void print_escape_help(void)
{
    static const char help[] =
        "\n"
        "C-a h    print this help\n"
        "C-a x    exit emulator\n"
        "C-a C-a  sends C-a\n";
    if (write(2, help, sizeof(help) - 1) < 0) {
        /* nothing better to do with a broken stderr */
    }
}

/* QEMU's mux escapes: C-a x quits, C-a C-a sends C-a, others are eaten. */
static size_t stdio_filter_input(Chardev *chr, uint8_t *buf, size_t len)
{
    StdioState *s = chr->be_state;
    size_t out = 0;

    if (!s->escapes) {
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (!s->got_escape) {
            if (c == ESCAPE_CHAR) {
                s->got_escape = true;
            } else {
                buf[out++] = c;
            }
            continue;
        }
        s->got_escape = false;
        switch (c) {
        case ESCAPE_CHAR:
            buf[out++] = c;
            break;
        case 'x':
            fprintf(stderr, "\nvireo: terminated from the console (C-a x)\n");
            vm_request_shutdown(SHUTDOWN_HOST_QUIT, 0);
            break;
        case 'h':
        case '?':
            print_escape_help();
            break;
        case 'c':
            fprintf(stderr, "\nvireo: no monitor on this console\n");
            break;
        default:
            break;
        }
    }
    return out;
}

static void stdio_hangup(Chardev *chr, ChardevSide side)
{
    /* EOF on stdin stops reading (no busy loop); a broken stdout drops. */
    if (side == CHR_SIDE_INPUT) {
        chardev_detach_input(chr);
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
    if (!opts_get_bool(o, "signal", chardev_stdio_signals, &signals, errp)) {
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
    s->escapes = !signals;
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
    .filter_input = stdio_filter_input,
    .close = stdio_close,
};
