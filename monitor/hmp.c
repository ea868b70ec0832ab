/*
 * The human monitor (HMP, QEMU's -monitor): a line editor and prompt on a
 * character device, and QMP's human-monitor-command. The commands are in
 * hmp-cmds.c; this file is the terminal side. On a mux (mon:stdio) the
 * monitor shares the terminal with the serial console and shows itself
 * when C-a c gives it the focus.
 */
#include <string.h>

#include "config.h"
#include "hmp-priv.h"
#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "readline.h"
#include "system/vm.h"
#include "util/opts.h"

#define HMP_PROMPT          "(qemu) "
/* Replies such as "info registers -a" on a slow socket arrive whole. */
#define HMP_OUTPUT_LIMIT    (16 * 1024 * 1024)

typedef struct HmpMonitor {
    Chardev *chr;
    ReadLine rl;
    HmpContext ctx;
    bool on_mux;
    bool connected;         /* a peer is there (OPENED, not yet CLOSED) */
    bool focused;           /* on a mux: the input is ours */
    bool greeted;           /* the banner went out to this peer */
    /* a command is waiting (ctx.wait): input is held, no prompt */
    guint wait_source;
    GByteArray *held;
} HmpMonitor;

static GPtrArray *hmp_monitors;

/* Writes text to the terminal, "\n" becoming "\r\n" (raw terminals). */
static void write_text(HmpMonitor *mon, const char *text, size_t len)
{
    GString *s = g_string_sized_new(len + len / 16);

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
            g_string_append_c(s, '\r');
        }
        g_string_append_c(s, text[i]);
    }
    chardev_write(mon->chr, (const uint8_t *)s->str, s->len);
    g_string_free(s, TRUE);
}

static void write_str(HmpMonitor *mon, const char *text)
{
    write_text(mon, text, strlen(text));
}

static void show_prompt(HmpMonitor *mon)
{
    GString *s = g_string_new(NULL);

    readline_show_prompt(&mon->rl, s);
    write_text(mon, s->str, s->len);
    g_string_free(s, TRUE);
}

static void greet(HmpMonitor *mon)
{
    write_str(mon, "Vireo " VIREO_VERSION " monitor - type 'help' for more "
                   "information\n");
    mon->greeted = true;
    show_prompt(mon);
}

static bool visible(HmpMonitor *mon)
{
    return mon->connected && (!mon->on_mux || mon->focused);
}

static void run_line(HmpMonitor *mon, const char *line, GString *echo)
{
    GString *out = g_string_new(NULL);

    hmp_run(&mon->ctx, line, out);
    g_string_append(echo, out->str);
    g_string_free(out, TRUE);
}

/* Input that arrives while a command waits, bounded against a client
 * that types on and on. */
#define HMP_HELD_MAX 65536

static int hmp_can_receive(void *opaque)
{
    return 4096;    /* input is taken at once, run or held */
}

static void hmp_receive(void *opaque, const uint8_t *buf, int len);

static gboolean wait_poll(gpointer opaque)
{
    HmpMonitor *mon = opaque;
    GString *out = g_string_new(NULL);

    if (!mon->ctx.wait(out)) {
        g_string_free(out, TRUE);
        return G_SOURCE_CONTINUE;
    }
    mon->ctx.wait = NULL;
    mon->wait_source = 0;
    readline_show_prompt(&mon->rl, out);
    write_text(mon, out->str, out->len);
    g_string_free(out, TRUE);
    /* what was typed meanwhile runs now */
    GByteArray *held = g_steal_pointer(&mon->held);
    if (held) {
        hmp_receive(mon, held->data, held->len);
        g_byte_array_unref(held);
    }
    return G_SOURCE_REMOVE;
}

static void hold_input(HmpMonitor *mon, const uint8_t *buf, int len)
{
    if (!mon->held) {
        mon->held = g_byte_array_new();
    }
    len = MIN((guint)len, HMP_HELD_MAX - mon->held->len);
    g_byte_array_append(mon->held, buf, len);
}

static void hmp_receive(void *opaque, const uint8_t *buf, int len)
{
    HmpMonitor *mon = opaque;
    GString *echo = g_string_new(NULL);

    for (int i = 0; i < len; i++) {
        if (mon->ctx.wait) {
            hold_input(mon, buf + i, len - i);
            break;
        }
        switch (readline_feed(&mon->rl, buf[i], echo)) {
        case READLINE_MORE:
            continue;
        case READLINE_LINE:
            run_line(mon, readline_line(&mon->rl), echo);
            break;
        case READLINE_TOO_LONG:
            g_string_append_printf(echo, "Error: command line too long "
                                   "(at most %d characters)\n",
                                   READLINE_LINE_MAX - 1);
            break;
        }
        if (mon->ctx.wait) {
            /* the prompt comes back when the command ends */
            mon->wait_source = g_timeout_add(100, wait_poll, mon);
            continue;
        }
        /* after quit, no prompt: the process is going away */
        if (!mon->ctx.quit_requested) {
            readline_show_prompt(&mon->rl, echo);
        }
    }
    write_text(mon, echo->str, echo->len);
    g_string_free(echo, TRUE);
}

static void hmp_event(void *opaque, ChardevEvent ev)
{
    HmpMonitor *mon = opaque;

    switch (ev) {
    case CHR_EVENT_OPENED:
        /* a new client: a fresh line, the banner when it can see us */
        mon->connected = true;
        mon->greeted = false;
        readline_reset(&mon->rl);
        if (visible(mon)) {
            greet(mon);
        }
        break;
    case CHR_EVENT_CLOSED:
        mon->connected = false;
        readline_reset(&mon->rl);
        g_clear_pointer(&mon->held, g_byte_array_unref);
        break;
    case CHR_EVENT_MUX_IN:
        mon->focused = true;
        if (!mon->connected) {
            break;
        }
        if (mon->greeted) {
            show_prompt(mon);
        } else {
            greet(mon);
        }
        break;
    case CHR_EVENT_MUX_OUT:
        mon->focused = false;
        if (mon->connected && mon->greeted) {
            write_str(mon, "\n");   /* the console starts on a new line */
        }
        break;
    }
}

static const ChardevHandlers hmp_handlers = {
    .can_receive = hmp_can_receive,
    .receive = hmp_receive,
    .event = hmp_event,
    .mux_background = true,     /* the serial console keeps the focus */
};

bool monitor_new_hmp(Chardev *chr, GError **errp)
{
    HmpMonitor *mon;

    if (!chr) {
        g_set_error(errp, VIREO_ERROR, 0, "the monitor needs a character "
                    "device");
        return false;
    }
    mon = g_new0(HmpMonitor, 1);
    mon->chr = chr;
    mon->on_mux = chardev_is_mux(chr);
    mon->ctx.can_wait = true;
    readline_init(&mon->rl, HMP_PROMPT);
    chardev_set_output_limit(chr, HMP_OUTPUT_LIMIT);
    /* hears OPENED at once if the peer is there already (stdio) */
    chardev_set_handlers(chr, &hmp_handlers, mon);
    if (!hmp_monitors) {
        hmp_monitors = g_ptr_array_new();
    }
    g_ptr_array_add(hmp_monitors, mon);
    return true;
}

void hmp_cleanup_all(void)
{
    for (guint i = 0; hmp_monitors && i < hmp_monitors->len; i++) {
        HmpMonitor *mon = g_ptr_array_index(hmp_monitors, i);
        chardev_set_handlers(mon->chr, NULL, mon);
        if (mon->wait_source) {
            g_source_remove(mon->wait_source);
        }
        if (mon->held) {
            g_byte_array_unref(mon->held);
        }
        readline_free(&mon->rl);
        g_free(mon);
    }
    g_clear_pointer(&hmp_monitors, g_ptr_array_unref);
}

/* ---- QMP's human-monitor-command ---- */

static json_t *qmp_human_monitor_command(json_t *args, GError **errp)
{
    const char *line = json_string_value(json_object_get(args,
                                                         "command-line"));
    json_t *index = json_object_get(args, "cpu-index");
    HmpContext ctx = { 0 };
    GString *out, *reply;
    json_t *r;

    if (index) {
        Machine *m = machine_current();
        json_int_t i = json_integer_value(index);
        if (!m || i < 0 || i >= m->ncpus) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter 'cpu-index' expects a CPU number");
            return NULL;
        }
        ctx.cpu_index = i;
    }
    out = g_string_new(NULL);
    hmp_run(&ctx, line ? line : "", out);
    /* QEMU returns what a terminal would show: lines end in "\r\n" */
    reply = g_string_sized_new(out->len + out->len / 16);
    for (size_t i = 0; i < out->len; i++) {
        if (out->str[i] == '\n' && (i == 0 || out->str[i - 1] != '\r')) {
            g_string_append_c(reply, '\r');
        }
        g_string_append_c(reply, out->str[i]);
    }
    {
        /* a command line may echo bytes that are not UTF-8 */
        g_autofree char *valid = g_utf8_make_valid(reply->str, reply->len);
        r = json_string(valid);
    }
    g_string_free(out, TRUE);
    g_string_free(reply, TRUE);
    return r;
}
QMP_COMMAND("human-monitor-command", qmp_human_monitor_command)
