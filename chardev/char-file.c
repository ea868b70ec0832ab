/*
 * file and pipe backends. file:PATH logs output (truncating, as QEMU does,
 * unless append=on); pipe:PATH uses the FIFOs PATH.in (guest input) and
 * PATH.out (guest output), or PATH itself for both when they don't exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "char-priv.h"

typedef struct FdState {
    int in_fd;
    int out_fd;
} FdState;

static void fd_state_close(Chardev *chr)
{
    FdState *s = chr->be_state;

    if (!s) {
        return;
    }
    if (s->in_fd >= 0) {
        close(s->in_fd);
    }
    if (s->out_fd >= 0 && s->out_fd != s->in_fd) {
        close(s->out_fd);
    }
    g_free(s);
    chr->be_state = NULL;
}

static const char *get_path(Opts *o, const char *backend, GError **errp)
{
    const char *path = opts_get(o, "path");

    if (!path || !*path) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s backend: parameter 'path' is missing", backend);
        return NULL;
    }
    return path;
}

static bool file_open(Chardev *chr, Opts *o, GError **errp)
{
    const char *path = get_path(o, "file", errp);
    FdState *s;
    bool append;
    int fd;

    if (!path || !opts_get_bool(o, "append", false, &append, errp)) {
        return false;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
              (append ? O_APPEND : O_TRUNC), 0666);
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "could not open '%s': %s", path,
                    g_strerror(errno));
        return false;
    }
    s = g_new(FdState, 1);
    s->in_fd = -1;
    s->out_fd = fd;
    chr->be_state = s;
    chardev_set_filename(chr, "file:%s", path);
    /* a regular file is always writable; a FIFO or device may not be */
    if (!chardev_set_nonblock(fd, errp)) {
        return false;
    }
    chardev_attach_fds(chr, -1, fd);
    return true;
}

static int open_rdwr(const char *path)
{
    /*
     * O_RDWR on a FIFO never blocks and keeps both ends open: no EOF when a
     * writer leaves, and output waits in the pipe until a reader comes.
     */
    return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

static bool pipe_open(Chardev *chr, Opts *o, GError **errp)
{
    const char *path = get_path(o, "pipe", errp);
    FdState *s;
    char *in_path, *out_path;

    if (!path) {
        return false;
    }
    s = g_new(FdState, 1);
    chr->be_state = s;
    in_path = g_strdup_printf("%s.in", path);
    out_path = g_strdup_printf("%s.out", path);
    s->in_fd = open_rdwr(in_path);
    s->out_fd = open_rdwr(out_path);
    g_free(in_path);
    g_free(out_path);
    if (s->in_fd < 0 || s->out_fd < 0) {
        if (s->in_fd >= 0) {
            close(s->in_fd);
        }
        if (s->out_fd >= 0) {
            close(s->out_fd);
        }
        s->in_fd = s->out_fd = open_rdwr(path);
        if (s->in_fd < 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "could not open '%s.in'/'%s.out' or '%s': %s", path,
                        path, path, g_strerror(errno));
            return false;
        }
    }
    chardev_set_filename(chr, "pipe:%s", path);
    chardev_attach_fds(chr, s->in_fd, s->out_fd);
    return true;
}

static const char *const file_keys[] = { "path", "append", NULL };
static const char *const pipe_keys[] = { "path", NULL };

const ChardevBackend chardev_file_backend = {
    .name = "file",
    .keys = file_keys,
    .open = file_open,
    .close = fd_state_close,
};

const ChardevBackend chardev_pipe_backend = {
    .name = "pipe",
    .keys = pipe_keys,
    .open = pipe_open,
    .close = fd_state_close,
};
