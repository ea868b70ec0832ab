/*
 * The input router (QEMU's ui/input.c): events go to the first handler of
 * their kind, the most recently activated first; a queue keeps send-key's
 * delayed releases in order on the virtual clock. QMP send-key and
 * input-send-event, with QEMU 7.2's schema (qapi/input.json).
 */
#include <string.h>

#include <glib.h>

#include "monitor/qmp.h"
#include "system/timer.h"
#include "ui/input.h"

struct InputHandlerEntry {
    const InputHandler *h;
    void *opaque;
    int index;                  /* query-mice's, in registration order */
    bool events_since_sync;
    InputHandlerEntry *next;
};

static InputHandlerEntry *handlers;

/* ---- handlers ---- */

InputHandlerEntry *input_handler_register(const InputHandler *h, void *opaque)
{
    InputHandlerEntry *e = g_new0(InputHandlerEntry, 1);
    InputHandlerEntry **p = &handlers;

    static int next_index;

    e->h = h;
    e->opaque = opaque;
    e->index = next_index++;
    while (*p) {
        p = &(*p)->next;
    }
    *p = e;
    return e;
}

static void handler_unlink(InputHandlerEntry *e)
{
    for (InputHandlerEntry **p = &handlers; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            e->next = NULL;
            return;
        }
    }
}

void input_handler_activate(InputHandlerEntry *e)
{
    handler_unlink(e);
    e->next = handlers;
    handlers = e;
}

void input_handler_deactivate(InputHandlerEntry *e)
{
    InputHandlerEntry **p = &handlers;

    handler_unlink(e);
    while (*p) {
        p = &(*p)->next;
    }
    *p = e;
}

void input_handler_unregister(InputHandlerEntry *e)
{
    if (e) {
        handler_unlink(e);
        g_free(e);
    }
}

static InputHandlerEntry *handler_find(InputEventKind kind)
{
    for (InputHandlerEntry *e = handlers; e; e = e->next) {
        if (e->h->mask & (1u << kind)) {
            return e;
        }
    }
    return NULL;
}

bool input_is_absolute(void)
{
    for (InputHandlerEntry *e = handlers; e; e = e->next) {
        if (e->h->mask & (INPUT_EVENT_MASK_REL | INPUT_EVENT_MASK_ABS)) {
            return e->h->mask & INPUT_EVENT_MASK_ABS;
        }
    }
    return false;
}

bool input_handler_exists(InputEventKind kind)
{
    return handler_find(kind) != NULL;
}

static void dispatch_event(const InputEvent *evt)
{
    InputHandlerEntry *e = handler_find(evt->kind);

    if (e) {
        e->h->event(e->opaque, evt);
        e->events_since_sync = true;
    }
}

static void dispatch_sync(void)
{
    for (InputHandlerEntry *e = handlers; e; e = e->next) {
        if (e->events_since_sync) {
            e->events_since_sync = false;
            if (e->h->sync) {
                e->h->sync(e->opaque);
            }
        }
    }
}

/* ---- the queue ---- */

typedef enum QueueEntryType {
    QUEUE_EVENT,
    QUEUE_SYNC,
    QUEUE_DELAY,
} QueueEntryType;

typedef struct QueueEntry {
    QueueEntryType type;
    InputEvent evt;
    uint32_t delay_ms;
} QueueEntry;

static GQueue input_queue = G_QUEUE_INIT;
static Timer *queue_timer;

/* Runs queued entries up to the next delay, which arms the timer. */
static void queue_process(void *opaque)
{
    QueueEntry *q;

    while ((q = g_queue_pop_head(&input_queue))) {
        switch (q->type) {
        case QUEUE_EVENT:
            dispatch_event(&q->evt);
            break;
        case QUEUE_SYNC:
            dispatch_sync();
            break;
        case QUEUE_DELAY:
            timer_mod(queue_timer, clock_get_ns(CLK_VIRTUAL) +
                      (int64_t)q->delay_ms * 1000000);
            g_free(q);
            return;
        }
        g_free(q);
    }
}

static bool queue_busy(void)
{
    return queue_timer && timer_pending(queue_timer);
}

/* Queues an entry when there is room; dropped otherwise, as QEMU does. */
static void queue_append(const QueueEntry *entry)
{
    QueueEntry *copy;

    if (g_queue_get_length(&input_queue) >= INPUT_QUEUE_MAX) {
        return;
    }
    copy = g_new(QueueEntry, 1);
    *copy = *entry;
    g_queue_push_tail(&input_queue, copy);
}

unsigned input_queue_room(void)
{
    return INPUT_QUEUE_MAX - g_queue_get_length(&input_queue);
}

void input_queue_delay(uint32_t delay_ms)
{
    if (!queue_timer) {
        queue_timer = timer_new(CLK_VIRTUAL, queue_process, NULL);
    }
    if (queue_busy()) {
        queue_append(&(QueueEntry){ .type = QUEUE_DELAY,
                                    .delay_ms = delay_ms });
    } else {
        timer_mod(queue_timer, clock_get_ns(CLK_VIRTUAL) +
                  (int64_t)delay_ms * 1000000);
    }
}

void input_event_send(const InputEvent *evt)
{
    if (queue_busy()) {
        queue_append(&(QueueEntry){ .type = QUEUE_EVENT, .evt = *evt });
    } else {
        dispatch_event(evt);
    }
}

void input_event_sync(void)
{
    if (queue_busy()) {
        queue_append(&(QueueEntry){ .type = QUEUE_SYNC });
    } else {
        dispatch_sync();
    }
}

void input_send_key(QKeyCode qcode, bool down)
{
    InputEvent evt = { .kind = INPUT_EVENT_KIND_KEY };

    evt.u.key.qcode = qcode;
    evt.u.key.down = down;
    input_event_send(&evt);
    input_event_sync();
}

void input_send_btn(InputButton button, bool down)
{
    InputEvent evt = { .kind = INPUT_EVENT_KIND_BTN };

    evt.u.btn.button = button;
    evt.u.btn.down = down;
    input_event_send(&evt);
    input_event_sync();
}

void input_send_move(InputEventKind kind, InputAxis axis, int64_t value)
{
    InputEvent evt = { .kind = kind };

    evt.u.move.axis = axis;
    evt.u.move.value = value;
    input_event_send(&evt);
}

/* ---- LEDs ---- */

static unsigned kbd_leds;

void input_kbd_leds_set(unsigned leds)
{
    kbd_leds = leds;
}

unsigned input_kbd_leds(void)
{
    return kbd_leds;
}

/* ---- names ---- */

static const char *const button_names[INPUT_BUTTON__MAX] = {
    "left", "middle", "right", "wheel-up", "wheel-down", "side", "extra",
    "wheel-left", "wheel-right", "touch",
};

static const char *const axis_names[INPUT_AXIS__MAX] = { "x", "y" };

static const char *const event_kind_names[INPUT_EVENT_KIND__MAX] = {
    "key", "btn", "rel", "abs",
};

const char *input_button_name(InputButton b)
{
    return (unsigned)b < INPUT_BUTTON__MAX ? button_names[b] : "?";
}

const char *input_axis_name(InputAxis a)
{
    return (unsigned)a < INPUT_AXIS__MAX ? axis_names[a] : "?";
}

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], name)) {
            return i;
        }
    }
    return -1;
}

/* ---- QMP ---- */

/*
 * The schema types KeyValue and InputEvent as {"type", "data": any}: the
 * schema has no unions, so the data members are checked here, with the
 * messages monitor/qmp.c gives for the rest.
 */
static bool bad_type(const char *path, const char *expected, GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Invalid parameter type for '%s', expected: %s", path,
                expected);
    return false;
}

static bool bad_value(const char *path, const char *value, GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                "Parameter '%s' does not accept value '%s'", path, value);
    return false;
}

/* An object with exactly the members named (NULL-terminated). */
static bool check_object(json_t *o, const char *path,
                         const char *const *members, GError **errp)
{
    const char *key;
    json_t *v;

    if (!json_is_object(o)) {
        return bad_type(path, "object", errp);
    }
    for (const char *const *m = members; *m; m++) {
        if (!json_object_get(o, *m)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s.%s' is missing", path, *m);
            return false;
        }
    }
    json_object_foreach(o, key, v) {
        bool known = false;
        for (const char *const *m = members; *m; m++) {
            known |= !strcmp(*m, key);
        }
        if (!known) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Parameter '%s.%s' is unexpected", path, key);
            return false;
        }
    }
    return true;
}

/* A KeyValue (its "type" was checked by the schema) -> the key. */
static bool parse_key_value(json_t *kv, const char *path, QKeyCode *q,
                            GError **errp)
{
    const char *type = json_string_value(json_object_get(kv, "type"));
    json_t *data = json_object_get(kv, "data");
    g_autofree char *dpath = g_strdup_printf("%s.data", path);

    if (!json_is_object(kv)) {
        return bad_type(path, "object", errp);
    }
    if (!g_strcmp0(type, "number")) {
        if (!json_is_integer(data)) {
            return bad_type(dpath, "integer", errp);
        }
        *q = qkeycode_from_number(json_integer_value(data));
        return true;
    }
    if (!json_is_string(data)) {
        return bad_type(dpath, "string", errp);
    }
    int i = qkeycode_from_name(json_string_value(data));
    if (i < 0) {
        return bad_value(dpath, json_string_value(data), errp);
    }
    *q = i;
    return true;
}

static json_t *qmp_send_key(json_t *args, GError **errp)
{
    json_t *keys = json_object_get(args, "keys");
    json_t *hold = json_object_get(args, "hold-time");
    int64_t hold_ms = hold ? json_integer_value(hold) : 100;
    size_t n = json_array_size(keys);
    g_autofree QKeyCode *q = g_new0(QKeyCode, n + 1);
    size_t i;
    json_t *kv;

    if (hold_ms < 0 || hold_ms > 60 * 60 * 1000) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Parameter 'hold-time' expects a time between 0 and "
                    "3600000 milliseconds");
        return NULL;
    }
    json_array_foreach(keys, i, kv) {
        g_autofree char *path = g_strdup_printf("keys[%zu]", i);
        if (!parse_key_value(kv, path, &q[i], errp)) {
            return NULL;
        }
    }
    /*
     * presses (queued too while the queue runs), a delay, then the
     * releases, each key event with its sync: all of it must fit
     */
    if (input_queue_room() < (queue_busy() ? 4 * n : 2 * n) + 1) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Too many keys are waiting to be sent; try again later");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        input_send_key(q[i], true);
    }
    input_queue_delay(hold_ms);
    while (n--) {
        input_send_key(q[n], false);
    }
    return json_object();
}
QMP_COMMAND("send-key", qmp_send_key)

/* One InputEvent -> evt; errors name the member as QEMU's visitor does. */
static bool parse_input_event(json_t *e, const char *path, InputEvent *evt,
                              GError **errp)
{
    static const char *const key_members[] = { "key", "down", NULL };
    static const char *const btn_members[] = { "button", "down", NULL };
    static const char *const move_members[] = { "axis", "value", NULL };
    const char *type = json_string_value(json_object_get(e, "type"));
    json_t *data = json_object_get(e, "data");
    g_autofree char *dpath = g_strdup_printf("%s.data", path);
    g_autofree char *mpath = NULL;
    json_t *v;
    int i;

    memset(evt, 0, sizeof(*evt));
    evt->kind = name_index(event_kind_names, INPUT_EVENT_KIND__MAX, type);
    switch (evt->kind) {
    case INPUT_EVENT_KIND_KEY:
        if (!check_object(data, dpath, key_members, errp)) {
            return false;
        }
        mpath = g_strdup_printf("%s.down", dpath);
        if (!json_is_boolean(json_object_get(data, "down"))) {
            return bad_type(mpath, "bool", errp);
        }
        evt->u.key.down = json_is_true(json_object_get(data, "down"));
        g_free(mpath);
        mpath = g_strdup_printf("%s.key", dpath);
        v = json_object_get(data, "key");
        if (!json_is_object(v)) {
            return bad_type(mpath, "object", errp);
        }
        {
            static const char *const kv_members[] = { "type", "data", NULL };
            const char *kt = json_string_value(json_object_get(v, "type"));
            g_autofree char *tpath = g_strdup_printf("%s.type", mpath);
            if (!check_object(v, mpath, kv_members, errp)) {
                return false;
            }
            if (!kt) {
                return bad_type(tpath, "string", errp);
            }
            if (strcmp(kt, "number") && strcmp(kt, "qcode")) {
                return bad_value(tpath, kt, errp);
            }
        }
        return parse_key_value(v, mpath, &evt->u.key.qcode, errp);
    case INPUT_EVENT_KIND_BTN:
        if (!check_object(data, dpath, btn_members, errp)) {
            return false;
        }
        mpath = g_strdup_printf("%s.down", dpath);
        if (!json_is_boolean(json_object_get(data, "down"))) {
            return bad_type(mpath, "bool", errp);
        }
        evt->u.btn.down = json_is_true(json_object_get(data, "down"));
        g_free(mpath);
        mpath = g_strdup_printf("%s.button", dpath);
        v = json_object_get(data, "button");
        if (!json_is_string(v)) {
            return bad_type(mpath, "string", errp);
        }
        i = name_index(button_names, INPUT_BUTTON__MAX, json_string_value(v));
        if (i < 0) {
            return bad_value(mpath, json_string_value(v), errp);
        }
        evt->u.btn.button = i;
        return true;
    case INPUT_EVENT_KIND_REL:
    case INPUT_EVENT_KIND_ABS:
        if (!check_object(data, dpath, move_members, errp)) {
            return false;
        }
        mpath = g_strdup_printf("%s.axis", dpath);
        v = json_object_get(data, "axis");
        if (!json_is_string(v)) {
            return bad_type(mpath, "string", errp);
        }
        i = name_index(axis_names, INPUT_AXIS__MAX, json_string_value(v));
        if (i < 0) {
            return bad_value(mpath, json_string_value(v), errp);
        }
        evt->u.move.axis = i;
        g_free(mpath);
        mpath = g_strdup_printf("%s.value", dpath);
        v = json_object_get(data, "value");
        if (!json_is_integer(v)) {
            return bad_type(mpath, "integer", errp);
        }
        evt->u.move.value = json_integer_value(v);
        return true;
    default: {
        /* the schema's enum lets only the four kinds through */
        g_autofree char *tpath = g_strdup_printf("%s.type", path);
        return bad_value(tpath, type ? type : "", errp);
    }
    }
}

/*
 * device and head pick a console in QEMU; Vireo has one set of handlers,
 * so they are accepted and ignored.
 */
static json_t *qmp_input_send_event(json_t *args, GError **errp)
{
    json_t *events = json_object_get(args, "events");
    size_t n = json_array_size(events);
    g_autofree InputEvent *evts = g_new0(InputEvent, n + 1);
    size_t i;
    json_t *e;

    json_array_foreach(events, i, e) {
        g_autofree char *path = g_strdup_printf("events[%zu]", i);
        if (!parse_input_event(e, path, &evts[i], errp)) {
            return NULL;
        }
        if (!input_handler_exists(evts[i].kind)) {
            g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                        "Input handler not found for event type %s",
                        event_kind_names[evts[i].kind]);
            return NULL;
        }
    }
    if (queue_busy() && input_queue_room() < n + 1) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    "Too many input events are waiting to be sent; try "
                    "again later");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        input_event_send(&evts[i]);
    }
    input_event_sync();
    return json_object();
}
QMP_COMMAND("input-send-event", qmp_input_send_event)

/*
 * The pointer handlers, the one that gets motion first ("current"); QEMU's
 * query-mice, which shows whether a tablet took over (absolute).
 */
static json_t *qmp_query_mice(json_t *args, GError **errp)
{
    const uint32_t pointer = INPUT_EVENT_MASK_REL | INPUT_EVENT_MASK_ABS;
    json_t *list = json_array();
    bool first = true;

    for (InputHandlerEntry *e = handlers; e; e = e->next) {
        if (!(e->h->mask & pointer)) {
            continue;
        }
        json_array_append_new(list, json_pack(
            "{s:s, s:i, s:b, s:b}", "name", e->h->name, "index", e->index,
            "current", first, "absolute",
            (e->h->mask & INPUT_EVENT_MASK_ABS) != 0));
        first = false;
    }
    return list;
}
QMP_COMMAND("query-mice", qmp_query_mice)
