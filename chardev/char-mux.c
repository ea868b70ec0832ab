/*
 * The chardev multiplexer (QEMU's mux=on, "mon:stdio"): several frontends,
 * typically a serial port and the human monitor, share one backend. Output
 * from all of them goes to the backend; input goes to the frontend with the
 * focus, after the Ctrl-a escapes of QEMU's mux are taken out of it.
 */
#include <string.h>

#include "char-priv.h"
#include "system/runstate.h"

#define MUX_MAX_FRONTENDS   8
#define MUX_INPUT_MAX       4096    /* input held per frontend that is full */
#define MUX_ESCAPE_CHAR     0x01    /* Ctrl-a */

typedef struct MuxFrontend {
    ChardevHandlers h;
    void *opaque;
    GByteArray *pending;    /* input the frontend could not take yet */
} MuxFrontend;

typedef struct ChardevMux {
    MuxFrontend fe[MUX_MAX_FRONTENDS];
    int count;
    int focus;              /* index into fe, -1 with no frontends */
    void *announced;        /* opaque last told CHR_EVENT_MUX_IN */
    bool got_escape;
    bool flushing;
    guint announce_idle;
} ChardevMux;

static void send_fe_event(MuxFrontend *fe, ChardevEvent ev)
{
    if (fe->h.event) {
        fe->h.event(fe->opaque, ev);
    }
}

static MuxFrontend *find_fe(ChardevMux *mux, void *opaque)
{
    for (int i = 0; i < mux->count; i++) {
        if (mux->fe[i].opaque == opaque) {
            return &mux->fe[i];
        }
    }
    return NULL;
}

/* Tells the old focus it lost the input and the new one it has it. */
static void announce_focus(Chardev *chr)
{
    ChardevMux *mux = chr->mux;
    void *now = mux->focus >= 0 ? mux->fe[mux->focus].opaque : NULL;
    MuxFrontend *old;

    if (mux->announced == now) {
        return;
    }
    old = mux->announced ? find_fe(mux, mux->announced) : NULL;
    mux->announced = now;
    if (old) {
        send_fe_event(old, CHR_EVENT_MUX_OUT);
    }
    if (mux->focus >= 0) {
        send_fe_event(&mux->fe[mux->focus], CHR_EVENT_MUX_IN);
    }
}

static gboolean announce_idle(gpointer opaque)
{
    Chardev *chr = opaque;

    chr->mux->announce_idle = 0;
    announce_focus(chr);
    return G_SOURCE_REMOVE;
}

/*
 * Frontends attach while the machine is being built, the monitor before
 * or after the serial port: the focus is announced once that settled.
 */
static void schedule_announce(Chardev *chr)
{
    if (!chr->mux->announce_idle) {
        chr->mux->announce_idle = g_idle_add(announce_idle, chr);
    }
}

/* Hands held input to every frontend that can take it now. */
static void flush_pending(Chardev *chr)
{
    ChardevMux *mux = chr->mux;

    /* a receive() that calls chardev_accept_input() must not re-deliver */
    if (mux->flushing) {
        return;
    }
    mux->flushing = true;
    for (int i = 0; i < mux->count; i++) {
        MuxFrontend *fe = &mux->fe[i];
        while (fe->pending->len > 0 && fe->h.receive) {
            int room = fe->h.can_receive ? fe->h.can_receive(fe->opaque)
                                         : (int)fe->pending->len;
            uint8_t chunk[MUX_INPUT_MAX];
            void *opaque = fe->opaque;
            int n = MIN((guint)MAX(room, 0), fe->pending->len);

            if (n <= 0) {
                break;
            }
            memcpy(chunk, fe->pending->data, n);
            g_byte_array_remove_range(fe->pending, 0, n);
            fe->h.receive(opaque, chunk, n);
            /* the frontend may have detached itself meanwhile */
            if (i >= mux->count || mux->fe[i].opaque != opaque) {
                break;
            }
        }
    }
    mux->flushing = false;
}

static void deliver(Chardev *chr, uint8_t c)
{
    ChardevMux *mux = chr->mux;
    GByteArray *pending;

    if (mux->focus < 0) {
        return;     /* no frontend: the byte falls on the floor */
    }
    pending = mux->fe[mux->focus].pending;
    if (pending->len < MUX_INPUT_MAX) {
        g_byte_array_append(pending, &c, 1);
    }
}

static void print_help(Chardev *chr)
{
    GString *s = g_string_new("\r\n");

    g_string_append(s, "C-a h    print this help\r\n"
                       "C-a x    exit emulator\r\n");
    if (chr->mux->count > 1) {
        g_string_append(s, "C-a c    switch between console and monitor\r\n");
    }
    g_string_append(s, "C-a C-a  sends C-a\r\n");
    chardev_write(chr, (const uint8_t *)s->str, s->len);
    g_string_free(s, TRUE);
}

/* One byte after C-a (QEMU's mux_proc_byte). */
static void escape_command(Chardev *chr, uint8_t c)
{
    static const char quit_msg[] = "\r\nvireo: terminated (C-a x)\r\n";
    ChardevMux *mux = chr->mux;

    switch (c) {
    case MUX_ESCAPE_CHAR:
    case 'a':
        deliver(chr, MUX_ESCAPE_CHAR);
        break;
    case 'x':
        chardev_write(chr, (const uint8_t *)quit_msg, sizeof(quit_msg) - 1);
        vm_request_shutdown(SHUTDOWN_HOST_QUIT, 0);
        break;
    case 'h':
    case '?':
        print_help(chr);
        break;
    case 'c':
        if (mux->count > 1) {
            mux->focus = (mux->focus + 1) % mux->count;
            /* bytes after C-a c in the same read go to the new focus */
            announce_focus(chr);
        }
        break;
    default:
        break;  /* as QEMU: an unknown escape is eaten */
    }
}

static int mux_can_receive(void *opaque)
{
    Chardev *chr = opaque;
    ChardevMux *mux = chr->mux;

    if (mux->focus < 0) {
        return MUX_INPUT_MAX;   /* read on: C-a x must still work */
    }
    return MUX_INPUT_MAX - mux->fe[mux->focus].pending->len;
}

static void mux_receive(void *opaque, const uint8_t *buf, int len)
{
    Chardev *chr = opaque;
    ChardevMux *mux = chr->mux;

    for (int i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (mux->got_escape) {
            mux->got_escape = false;
            escape_command(chr, c);
        } else if (c == MUX_ESCAPE_CHAR) {
            mux->got_escape = true;
        } else {
            deliver(chr, c);
        }
    }
    flush_pending(chr);
}

/* Peer events reach every frontend. */
static void mux_event(void *opaque, ChardevEvent ev)
{
    Chardev *chr = opaque;
    ChardevMux *mux = chr->mux;

    for (int i = 0; i < mux->count; i++) {
        send_fe_event(&mux->fe[i], ev);
    }
}

/* The backend's output drained: every frontend may have output held back. */
static void mux_writable(void *opaque)
{
    Chardev *chr = opaque;
    ChardevMux *mux = chr->mux;

    for (int i = 0; i < mux->count; i++) {
        if (mux->fe[i].h.writable) {
            mux->fe[i].h.writable(mux->fe[i].opaque);
        }
    }
}

void chardev_mux_init(Chardev *chr)
{
    ChardevMux *mux = g_new0(ChardevMux, 1);

    mux->focus = -1;
    chr->mux = mux;
    chr->h = (ChardevHandlers){
        .can_receive = mux_can_receive,
        .receive = mux_receive,
        .event = mux_event,
        .writable = mux_writable,
    };
    chr->has_handlers = true;
    chr->opaque = chr;
}

static void remove_fe(Chardev *chr, MuxFrontend *fe)
{
    ChardevMux *mux = chr->mux;
    int i = fe - mux->fe;
    bool had_focus = i == mux->focus;

    if (mux->announced == fe->opaque) {
        mux->announced = NULL;  /* it is gone: no MUX_OUT for it */
    }
    g_byte_array_free(fe->pending, TRUE);
    memmove(&mux->fe[i], &mux->fe[i + 1],
            (mux->count - i - 1) * sizeof(mux->fe[0]));
    mux->count--;
    if (mux->count == 0) {
        mux->focus = -1;
    } else if (had_focus) {
        mux->focus = i % mux->count;
        schedule_announce(chr);
    } else if (mux->focus > i) {
        mux->focus--;
    }
}

void chardev_mux_set_handlers(Chardev *chr, const ChardevHandlers *h,
                              void *opaque)
{
    ChardevMux *mux = chr->mux;
    MuxFrontend *fe = find_fe(mux, opaque);

    if (!h) {
        if (fe) {
            remove_fe(chr, fe);
        }
    } else if (fe) {
        fe->h = *h;
    } else if (mux->count == MUX_MAX_FRONTENDS) {
        /* the caller's frontends are fixed at build time: a bug, not input */
        g_warning("chardev '%s': more than %d frontends on a mux", chr->id,
                  MUX_MAX_FRONTENDS);
        return;
    } else {
        fe = &mux->fe[mux->count++];
        fe->h = *h;
        fe->opaque = opaque;
        fe->pending = g_byte_array_new();
        if (mux->focus < 0 ||
            (mux->fe[mux->focus].h.mux_background && !h->mux_background)) {
            mux->focus = fe - mux->fe;
        }
        schedule_announce(chr);
        if (chr->connected) {
            send_fe_event(fe, CHR_EVENT_OPENED);
        }
    }
    /* a frontend that has the focus now may take input the old one refused */
    chardev_accept_input(chr);
}

void chardev_mux_accept_input(Chardev *chr)
{
    flush_pending(chr);
}

bool chardev_mux_has_frontends(Chardev *chr)
{
    return chr->mux->count > 0;
}

void chardev_mux_free(Chardev *chr)
{
    ChardevMux *mux = chr->mux;

    if (mux->announce_idle) {
        g_source_remove(mux->announce_idle);
    }
    for (int i = 0; i < mux->count; i++) {
        g_byte_array_free(mux->fe[i].pending, TRUE);
    }
    g_free(mux);
    chr->mux = NULL;
    chr->has_handlers = false;
}
