/*
 * QMP monitors on character devices: each -qmp / -mon mode=control gets a
 * session that is greeted when a client connects and forgotten when it
 * leaves; several monitors serve several clients at once.
 */
#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "hmp-priv.h"

/* Replies as large as the schema must reach a slow client whole. */
#define QMP_OUTPUT_LIMIT (16 * 1024 * 1024)

typedef struct QmpMonitor {
    Chardev *chr;
    QmpSession *session;
} QmpMonitor;

static GPtrArray *qmp_monitors;

static void qmp_monitor_output(void *opaque, const char *text, size_t len)
{
    QmpMonitor *mon = opaque;
    chardev_write(mon->chr, (const uint8_t *)text, len);
}

static int qmp_monitor_can_receive(void *opaque)
{
    return 4096;
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
