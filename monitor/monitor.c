/*
 * QMP monitors on character devices: each -qmp / -mon mode=control gets a
 * session that is greeted when a client connects and forgotten when it
 * leaves; several monitors serve several clients at once.
 */
#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "hmp-priv.h"
#include "util/log.h"

/*
 * Replies as large as the schema must reach a slow client whole; past
 * this much unread output the client is dropped, never sent a stream cut
 * in the middle of a message.
 */
#define QMP_OUTPUT_LIMIT (16 * 1024 * 1024)
/*
 * A client's requests wait while this much of its output is unread, so
 * one that sends commands without reading the replies is slowed down, as
 * by TCP, instead of filling the buffer; events still pile up to the
 * limit above.
 */
#define QMP_INPUT_PAUSE (1024 * 1024)

typedef struct QmpMonitor {
    Chardev *chr;
    QmpSession *session;
} QmpMonitor;

static GPtrArray *qmp_monitors;

/* Output written but not yet taken by the client. */
static size_t unread_output(QmpMonitor *mon)
{
    size_t room = chardev_write_room(mon->chr);

    return room >= QMP_OUTPUT_LIMIT ? 0 : QMP_OUTPUT_LIMIT - room;
}

static void qmp_monitor_output(void *opaque, const char *text, size_t len)
{
    QmpMonitor *mon = opaque;

    if (len > chardev_write_room(mon->chr)) {
        log_warn("QMP client on chardev '%s' is not reading: disconnected "
                 "with %zu bytes of replies and events unread",
                 chardev_id(mon->chr), unread_output(mon));
        chardev_drop_peer(mon->chr);
        return;
    }
    chardev_write(mon->chr, (const uint8_t *)text, len);
}

static int qmp_monitor_can_receive(void *opaque)
{
    QmpMonitor *mon = opaque;

    return unread_output(mon) > QMP_INPUT_PAUSE ? 0 : 4096;
}

/* The client read everything: take its requests again. */
static void qmp_monitor_writable(void *opaque)
{
    QmpMonitor *mon = opaque;

    chardev_accept_input(mon->chr);
}

static void qmp_monitor_receive(void *opaque, const uint8_t *buf, int len)
{
    QmpMonitor *mon = opaque;
    qmp_session_feed(mon->session, buf, len);
}

static void qmp_monitor_event(void *opaque, ChardevEvent event)
{
    QmpMonitor *mon = opaque;

    if (event == CHR_EVENT_OPENED) {
        qmp_session_start(mon->session);
    } else if (event == CHR_EVENT_CLOSED) {
        qmp_session_end(mon->session);
    }
}

static const ChardevHandlers qmp_monitor_handlers = {
    .can_receive = qmp_monitor_can_receive,
    .receive = qmp_monitor_receive,
    .event = qmp_monitor_event,
    .writable = qmp_monitor_writable,
};

bool monitor_new_qmp(Chardev *chr, bool pretty, GError **errp)
{
    QmpMonitor *mon = g_new0(QmpMonitor, 1);

    mon->chr = chr;
    mon->session = qmp_session_new(qmp_monitor_output, mon, pretty);
    if (!qmp_monitors) {
        qmp_monitors = g_ptr_array_new();
    }
    g_ptr_array_add(qmp_monitors, mon);
    chardev_set_output_limit(chr, QMP_OUTPUT_LIMIT);
    chardev_set_handlers(chr, &qmp_monitor_handlers, mon);
    return true;
}

void monitor_cleanup_all(void)
{
    for (guint i = 0; qmp_monitors && i < qmp_monitors->len; i++) {
        QmpMonitor *mon = g_ptr_array_index(qmp_monitors, i);
        chardev_set_handlers(mon->chr, NULL, mon);
        qmp_session_free(mon->session);
        g_free(mon);
    }
    g_clear_pointer(&qmp_monitors, g_ptr_array_unref);
    hmp_cleanup_all();
}
