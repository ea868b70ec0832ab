/*
 * virtio-keyboard-pci, virtio-mouse-pci and virtio-tablet-pci (virtio 1.2
 * section 5.8): the configuration space a driver walks with select and
 * subsel, events sent with QMP input-send-event arriving in the event
 * queue's buffers as Linux evdev events, each group ended by SYN_REPORT
 * and never split, events kept while the driver has no buffers, the
 * status queue, the pointer taken over by a ready tablet (query-mice),
 * and a hostile driver: bad buffers, garbage status, writes to read-only
 * configuration. The VMM must stay up and the device usable after a reset.
 */
#include <string.h>

#include "virtio.h"

#define VIRTIO_ID_INPUT         18

/* struct virtio_input_config (5.8.4) */
#define CFG_SELECT              0
#define CFG_SUBSEL              1
#define CFG_SIZE                2
#define CFG_U                   8
#define CFG_ID_NAME             0x01
#define CFG_ID_SERIAL           0x02
#define CFG_ID_DEVIDS           0x03
#define CFG_PROP_BITS           0x10
#define CFG_EV_BITS             0x11
#define CFG_ABS_INFO            0x12

/* linux/input-event-codes.h */
#define EV_SYN                  0x00
#define EV_KEY                  0x01
#define EV_REL                  0x02
#define EV_ABS                  0x03
#define EV_LED                  0x11
#define EV_REP                  0x14
#define KEY_ESC                 1
#define KEY_A                   30
#define KEY_LEFTSHIFT           42
#define KEY_RIGHTCTRL           97
#define KEY_UP                  103
#define BTN_LEFT                0x110
#define BTN_RIGHT               0x111
#define BTN_MIDDLE              0x112
#define BTN_SIDE                0x113
#define BTN_EXTRA               0x114
#define REL_X                   0
#define REL_Y                   1
#define REL_HWHEEL              6
#define REL_WHEEL               8
#define LED_CAPSL               1

#define EVT                     8
#define EVENTQ                  0
#define STATUSQ                 1
/* guest RAM ends at 128 MiB (-m default); this is far beyond it */
#define OUTSIDE_RAM             (1ULL << 40)
#define SETTLE_US               (200 * 1000)

typedef struct Ev {
    uint16_t type, code;
    int32_t value;
} Ev;

typedef struct Input {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *evq, *stq;
    uint64_t evbuf;             /* 8 bytes per eventq descriptor */
} Input;

static void input_driver_up(Input *in)
{
    qvirtio_start_device(in->dev, 1ULL << VIRTIO_F_VERSION_1);
    in->evq = qvirtqueue_setup(in->dev, in->alloc, EVENTQ);
    in->stq = qvirtqueue_setup(in->dev, in->alloc, STATUSQ);
    in->evbuf = guest_alloc(in->alloc, (size_t)EVT * in->evq->size);
    qvirtio_set_driver_ok(in->dev);
}

static void input_driver_down(Input *in)
{
    qvirtio_reset(in->dev);
    g_clear_pointer(&in->evq, qvirtqueue_cleanup);
    g_clear_pointer(&in->stq, qvirtqueue_cleanup);
}

/* A machine with one device (model and properties), its driver not yet up. */
static void input_machine(Input *in, const char *device)
{
    memset(in, 0, sizeof(*in));
    in->qts = qtest_initf("-M pc -device %s", device);
    in->bus = qpci_new_pc(in->qts);
    in->dev = qvirtio_pci_device_find(in->bus, VIRTIO_ID_INPUT);
    g_assert_nonnull(in->dev);
    in->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
}

/* The same on microvm, over virtio-mmio. */
static void input_start_mmio(Input *in, const char *device)
{
    memset(in, 0, sizeof(*in));
    in->qts = qtest_initf("-M microvm -device %s", device);
    in->dev = qvirtio_mmio_device_new(in->qts, MICROVM_VIRTIO_MMIO_BASE);
    g_assert_nonnull(in->dev);
    g_assert_cmpuint(in->dev->device_type, ==, VIRTIO_ID_INPUT);
    in->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    input_driver_up(in);
}

static void input_start(Input *in, const char *device)
{
    input_machine(in, device);
    input_driver_up(in);
}

static void input_stop(Input *in)
{
    qvirtio_assert_vmm_alive(in->qts);
    if (in->evq) {
        qvirtqueue_cleanup(in->evq);
        qvirtqueue_cleanup(in->stq);
    }
    guest_alloc_uninit(in->alloc);
    qvirtio_device_free(in->dev);
    if (in->bus) {
        qpci_free(in->bus);
    }
    qtest_quit(in->qts);
}

/* ---- configuration space ---- */

/* Selects (select, subsel) and returns the size the device answers. */
static uint8_t cfg_select(Input *in, uint8_t select, uint8_t subsel)
{
    qvirtio_config_writeb(in->dev, CFG_SELECT, select);
    qvirtio_config_writeb(in->dev, CFG_SUBSEL, subsel);
    return qvirtio_config_readb(in->dev, CFG_SIZE);
}

static void cfg_read_u(Input *in, uint8_t *buf, unsigned len)
{
    for (unsigned i = 0; i < len; i++) {
        buf[i] = qvirtio_config_readb(in->dev, CFG_U + i);
    }
}

static char *cfg_string(Input *in, uint8_t select)
{
    uint8_t size = cfg_select(in, select, 0);
    char *s = g_malloc0(size + 1);

    cfg_read_u(in, (uint8_t *)s, size);
    return s;
}

static bool cfg_bit(Input *in, uint8_t ev, unsigned bit)
{
    uint8_t size = cfg_select(in, CFG_EV_BITS, ev);

    if (bit / 8 >= size) {
        return false;
    }
    return qvirtio_config_readb(in->dev, CFG_U + bit / 8) & (1u << bit % 8);
}

static void check_ids(Input *in, const char *name, uint16_t product)
{
    g_autofree char *s = cfg_string(in, CFG_ID_NAME);

    g_assert_cmpstr(s, ==, name);
    g_assert_cmpuint(cfg_select(in, CFG_ID_DEVIDS, 0), ==, 8);
    g_assert_cmphex(qvirtio_config_readw(in->dev, CFG_U), ==, 0x06);
    g_assert_cmphex(qvirtio_config_readw(in->dev, CFG_U + 2), ==, 0x0627);
    g_assert_cmphex(qvirtio_config_readw(in->dev, CFG_U + 4), ==, product);
    g_assert_cmphex(qvirtio_config_readw(in->dev, CFG_U + 6), ==, 1);
}

static void test_config_keyboard(void)
{
    Input in;
    g_autofree char *serial = NULL;

    input_machine(&in, "virtio-keyboard-pci,serial=kbd-serial-7");
    check_ids(&in, "QEMU Virtio Keyboard", 1);
    serial = cfg_string(&in, CFG_ID_SERIAL);
    g_assert_cmpstr(serial, ==, "kbd-serial-7");
    g_assert_true(cfg_bit(&in, EV_KEY, KEY_ESC));
    g_assert_true(cfg_bit(&in, EV_KEY, KEY_A));
    g_assert_true(cfg_bit(&in, EV_KEY, KEY_RIGHTCTRL));
    g_assert_true(cfg_bit(&in, EV_KEY, KEY_UP));
    g_assert_false(cfg_bit(&in, EV_KEY, 0));
    g_assert_false(cfg_bit(&in, EV_KEY, BTN_LEFT));
    for (unsigned led = 0; led < 3; led++) {
        g_assert_true(cfg_bit(&in, EV_LED, led));
    }
    g_assert_false(cfg_bit(&in, EV_LED, 3));
    /* EV_REP answers: the driver then lets Linux repeat held keys */
    g_assert_cmpuint(cfg_select(&in, CFG_EV_BITS, EV_REP), >, 0);
    g_assert_cmpuint(cfg_select(&in, CFG_EV_BITS, EV_REL), ==, 0);
    g_assert_cmpuint(cfg_select(&in, CFG_EV_BITS, EV_ABS), ==, 0);
    g_assert_cmpuint(cfg_select(&in, CFG_PROP_BITS, 0), ==, 0);
    input_stop(&in);
}

static void check_buttons(Input *in)
{
    static const unsigned btns[] = {
        BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA,
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(btns); i++) {
        g_assert_true(cfg_bit(in, EV_KEY, btns[i]));
    }
    g_assert_false(cfg_bit(in, EV_KEY, KEY_A));
    g_assert_cmpuint(cfg_select(in, CFG_EV_BITS, EV_KEY), ==,
                     BTN_EXTRA / 8 + 1);
    g_assert_true(cfg_bit(in, EV_REL, REL_WHEEL));
    g_assert_true(cfg_bit(in, EV_REL, REL_HWHEEL));
    g_assert_cmpuint(cfg_select(in, CFG_EV_BITS, EV_LED), ==, 0);
}

static void test_config_mouse(void)
{
    Input in;
    g_autofree char *serial = NULL;

    input_machine(&in, "virtio-mouse-pci");
    check_ids(&in, "QEMU Virtio Mouse", 2);
    serial = cfg_string(&in, CFG_ID_SERIAL);
    g_assert_cmpstr(serial, ==, "");
    check_buttons(&in);
    g_assert_true(cfg_bit(&in, EV_REL, REL_X));
    g_assert_true(cfg_bit(&in, EV_REL, REL_Y));
    g_assert_cmpuint(cfg_select(&in, CFG_EV_BITS, EV_ABS), ==, 0);
    g_assert_cmpuint(cfg_select(&in, CFG_ABS_INFO, 0), ==, 0);
    input_stop(&in);
}

static void test_config_tablet(void)
{
    Input in;

    input_machine(&in, "virtio-tablet-pci");
    check_ids(&in, "QEMU Virtio Tablet", 3);
    check_buttons(&in);
    g_assert_false(cfg_bit(&in, EV_REL, REL_X));
    g_assert_true(cfg_bit(&in, EV_ABS, 0));
    g_assert_true(cfg_bit(&in, EV_ABS, 1));
    g_assert_false(cfg_bit(&in, EV_ABS, 2));
    for (unsigned axis = 0; axis < 2; axis++) {
        /* struct virtio_input_absinfo: min, max, fuzz, flat, res */
        g_assert_cmpuint(cfg_select(&in, CFG_ABS_INFO, axis), ==, 20);
        g_assert_cmpuint(qvirtio_config_readl(in.dev, CFG_U), ==, 0);
        g_assert_cmphex(qvirtio_config_readl(in.dev, CFG_U + 4), ==, 0x7fff);
        g_assert_cmpuint(qvirtio_config_readl(in.dev, CFG_U + 8), ==, 0);
    }
    g_assert_cmpuint(cfg_select(&in, CFG_ABS_INFO, 2), ==, 0);
    input_stop(&in);
}

/*
 * Unknown selections read as size 0 with a zero union; only select and
 * subsel take writes, the rest is the device's.
 */
static void test_config_unknown_and_read_only(void)
{
    Input in;
    uint8_t u[128];
    g_autofree char *name = NULL;

    input_machine(&in, "virtio-tablet-pci");
    for (unsigned sel = 0; sel < 256; sel += 0x11) {
        if (sel == CFG_EV_BITS) {
            continue;
        }
        uint8_t size = cfg_select(&in, sel, 0x77);
        g_assert_cmpuint(size, ==, 0);
        g_assert_cmpuint(qvirtio_config_readb(in.dev, CFG_U), ==, 0);
    }
    g_assert_cmpuint(cfg_select(&in, 0x00, 0), ==, 0);
    g_assert_cmpuint(cfg_select(&in, CFG_EV_BITS, 0x1f), ==, 0);
    g_assert_cmpuint(cfg_select(&in, CFG_ID_NAME, 1), ==, 0);

    /* select and subsel read back what the driver wrote */
    cfg_select(&in, 0xab, 0xcd);
    g_assert_cmphex(qvirtio_config_readb(in.dev, CFG_SELECT), ==, 0xab);
    g_assert_cmphex(qvirtio_config_readb(in.dev, CFG_SUBSEL), ==, 0xcd);

    /* writes to size, reserved and the union are ignored */
    g_assert_cmpuint(cfg_select(&in, CFG_ID_NAME, 0), ==, 18);
    qvirtio_config_writeb(in.dev, CFG_SIZE, 100);
    for (unsigned i = 3; i < CFG_U + 128; i++) {
        qvirtio_config_writeb(in.dev, i, 0xee);
    }
    g_assert_cmpuint(qvirtio_config_readb(in.dev, CFG_SIZE), ==, 18);
    cfg_read_u(&in, u, sizeof(u));
    g_assert_cmpmem(u, 18, "QEMU Virtio Tablet", 18);
    for (unsigned i = 18; i < sizeof(u); i++) {
        g_assert_cmpuint(u[i], ==, 0);
    }
    for (unsigned i = 3; i < CFG_U; i++) {
        g_assert_cmpuint(qvirtio_config_readb(in.dev, i), ==, 0);
    }
    /* beyond the space: nothing, and no harm */
    qvirtio_config_writeb(in.dev, 200, 1);
    name = cfg_string(&in, CFG_ID_NAME);
    g_assert_cmpstr(name, ==, "QEMU Virtio Tablet");
    g_assert_false(qvirtio_needs_reset(in.dev));
    input_stop(&in);
}

/* ---- events ---- */

/* Makes n 8-byte writable buffers available on the event queue. */
static void give_buffers(Input *in, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        uint16_t i = in->evq->free_head;
        qtest_memset(in->qts, in->evbuf + EVT * i, 0xaa, EVT);
        qvirtqueue_add(in->qts, in->evq, in->evbuf + EVT * i, EVT, true,
                       false);
        qvirtqueue_publish(in->qts, in->evq, i);
    }
    qvirtio_notify(in->dev, EVENTQ);
}

/* Waits for n events and reads them out of their buffers. */
static void read_events(Input *in, Ev *out, unsigned n)
{
    int64_t end = g_get_monotonic_time() + QVIRTIO_TIMEOUT_US;

    for (unsigned k = 0; k < n; k++) {
        uint32_t idx, len;
        uint8_t b[EVT];
        while (!qvirtqueue_get_buf(in->qts, in->evq, &idx, &len)) {
            g_assert_cmpint(g_get_monotonic_time(), <, end);
            qtest_clock_step(in->qts, 1000);
        }
        g_assert_cmpuint(idx, <, in->evq->size);
        g_assert_cmpuint(len, ==, EVT);
        qtest_memread(in->qts, in->evbuf + EVT * idx, b, EVT);
        out[k].type = b[0] | b[1] << 8;
        out[k].code = b[2] | b[3] << 8;
        out[k].value = (int32_t)(b[4] | b[5] << 8 | b[6] << 16 |
                                 (uint32_t)b[7] << 24);
    }
}

static void assert_events(Input *in, const Ev *want, unsigned n)
{
    g_autofree Ev *got = g_new0(Ev, n);

    read_events(in, got, n);
    for (unsigned k = 0; k < n; k++) {
        if (got[k].type != want[k].type || got[k].code != want[k].code ||
            got[k].value != want[k].value) {
            g_error("event %u: got (%u, 0x%x, %d), want (%u, 0x%x, %d)", k,
                    got[k].type, got[k].code, got[k].value, want[k].type,
                    want[k].code, want[k].value);
        }
    }
}

static void send_events(Input *in, const char *events)
{
    qtest_qmp_assert_success(in->qts, "{'execute': 'input-send-event', "
                             "'arguments': {'events': [%s]}}", events);
}

#define KEY(k, d) "{'type': 'key', 'data': {'key': {'type': 'qcode', " \
                  "'data': '" k "'}, 'down': " d "}}"
#define BTN(b, d) "{'type': 'btn', 'data': {'button': '" b "', " \
                  "'down': " d "}}"
#define MOVE(t, a, v) "{'type': '" t "', 'data': {'axis': '" a "', " \
                      "'value': " v "}}"
#define SYN { EV_SYN, 0, 0 }

static void test_keyboard_events(void)
{
    Input in;
    static const Ev want[] = {
        { EV_KEY, KEY_A, 1 }, SYN,
        { EV_KEY, KEY_LEFTSHIFT, 1 }, { EV_KEY, KEY_UP, 1 }, SYN,
        { EV_KEY, KEY_UP, 0 }, { EV_KEY, KEY_LEFTSHIFT, 0 }, SYN,
        { EV_KEY, KEY_RIGHTCTRL, 1 }, SYN,
    };

    input_start(&in, "virtio-keyboard-pci");
    give_buffers(&in, 16);
    send_events(&in, KEY("a", "true"));
    send_events(&in, KEY("shift", "true") "," KEY("up", "true"));
    send_events(&in, KEY("up", "false") "," KEY("shift", "false"));
    /* QEMU's key number 0x9d is the right control key */
    send_events(&in, "{'type': 'key', 'data': {'key': {'type': 'number', "
                "'data': 157}, 'down': true}}");
    assert_events(&in, want, G_N_ELEMENTS(want));
    /* keys without a Linux code send nothing, not even a lone SYN */
    send_events(&in, KEY("unmapped", "true"));
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    input_stop(&in);
}

static void test_mouse_events(void)
{
    Input in;
    static const Ev want[] = {
        { EV_REL, REL_X, 5 }, { EV_REL, REL_Y, -3 }, SYN,
        { EV_KEY, BTN_LEFT, 1 }, SYN,
        { EV_KEY, BTN_LEFT, 0 }, SYN,
        { EV_KEY, BTN_SIDE, 1 }, { EV_KEY, BTN_EXTRA, 1 }, SYN,
        { EV_REL, REL_WHEEL, 1 }, SYN,
        { EV_REL, REL_WHEEL, -1 }, SYN,
        { EV_REL, REL_HWHEEL, 1 }, SYN,
        { EV_REL, REL_X, INT32_MAX }, SYN,
    };

    input_start(&in, "virtio-mouse-pci");
    give_buffers(&in, 32);
    send_events(&in, MOVE("rel", "x", "5") "," MOVE("rel", "y", "-3"));
    send_events(&in, BTN("left", "true"));
    send_events(&in, BTN("left", "false"));
    send_events(&in, BTN("side", "true") "," BTN("extra", "true"));
    /* a wheel press is one notch; its release sends nothing */
    send_events(&in, BTN("wheel-up", "true") "," BTN("wheel-up", "false"));
    send_events(&in, BTN("wheel-down", "true"));
    send_events(&in, BTN("wheel-right", "true"));
    send_events(&in, MOVE("rel", "x", "99999999999"));
    assert_events(&in, want, G_N_ELEMENTS(want));
    input_stop(&in);
}

static void test_tablet_events(void)
{
    Input in;
    static const Ev want[] = {
        { EV_ABS, 0, 1000 }, { EV_ABS, 1, 20000 }, { EV_KEY, BTN_LEFT, 1 },
        SYN,
        { EV_KEY, BTN_RIGHT, 1 }, SYN,
        { EV_REL, REL_WHEEL, -1 }, SYN,
        /* out of range positions are clamped to the axis */
        { EV_ABS, 0, 0x7fff }, { EV_ABS, 1, 0 }, SYN,
    };

    input_start(&in, "virtio-tablet-pci");
    give_buffers(&in, 32);
    send_events(&in, MOVE("abs", "x", "1000") "," MOVE("abs", "y", "20000")
                "," BTN("left", "true"));
    send_events(&in, BTN("right", "true"));
    send_events(&in, BTN("wheel-down", "true"));
    send_events(&in, MOVE("abs", "x", "40000") "," MOVE("abs", "y", "-5"));
    assert_events(&in, want, G_N_ELEMENTS(want));
    input_stop(&in);
}

/* Events wait in the device for buffers, and come in order. */
static void test_events_wait_for_buffers(void)
{
    Input in;
    static const Ev want[] = {
        { EV_KEY, KEY_A, 1 }, SYN,
        { EV_KEY, KEY_A, 0 }, SYN,
        { EV_KEY, KEY_ESC, 1 }, SYN,
    };

    input_start(&in, "virtio-keyboard-pci");
    send_events(&in, KEY("a", "true"));
    send_events(&in, KEY("a", "false"));
    send_events(&in, KEY("esc", "true"));
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    give_buffers(&in, 16);
    assert_events(&in, want, G_N_ELEMENTS(want));
    input_stop(&in);
}

/* A group goes whole or waits: never a part of it without its SYN. */
static void test_groups_are_not_split(void)
{
    Input in;
    static const Ev want[] = {
        { EV_ABS, 0, 100 }, { EV_ABS, 1, 200 }, SYN,
        { EV_ABS, 0, 300 }, SYN,
    };

    input_start(&in, "virtio-tablet-pci");
    give_buffers(&in, 2);
    send_events(&in, MOVE("abs", "x", "100") "," MOVE("abs", "y", "200"));
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    give_buffers(&in, 1);
    assert_events(&in, want, 3);
    /* the next group waits for both of its buffers too */
    send_events(&in, MOVE("abs", "x", "300"));
    give_buffers(&in, 1);
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    give_buffers(&in, 1);
    assert_events(&in, want + 3, 2);
    input_stop(&in);
}

/*
 * A full queue drops the oldest groups: the driver that comes back gets
 * the newest motion, in order. A group larger than the ring can ever hold
 * is dropped rather than blocking the queue.
 */
static void test_queue_overflow(void)
{
    Input in;
    Ev got[64];
    int first;

    input_start(&in, "virtio-tablet-pci");
    for (unsigned i = 1; i <= 300; i++) {
        g_autofree char *ev = g_strdup_printf(
            "{'type': 'abs', 'data': {'axis': 'x', 'value': %u}}", i);
        send_events(&in, ev);
    }
    qvirtio_assert_vmm_alive(in.qts);
    give_buffers(&in, 64);
    read_events(&in, got, 64);
    first = got[0].value;
    g_assert_cmpint(first, >, 1);
    for (unsigned k = 0; k < 64; k += 2) {
        g_assert_cmpuint(got[k].type, ==, EV_ABS);
        g_assert_cmpint(got[k].value, ==, first + k / 2);
        g_assert_cmpuint(got[k + 1].type, ==, EV_SYN);
    }
    /*
     * The queue keeps its last 256 events: 128 groups, the newest motion
     * (300) last. The rest comes in three more rounds, then nothing.
     */
    g_assert_cmpint(first, ==, 300 - 128 + 1);
    for (unsigned round = 1; round < 4; round++) {
        give_buffers(&in, 64);
        read_events(&in, got, 64);
        for (unsigned k = 0; k < 64; k += 2) {
            g_assert_cmpint(got[k].value, ==, first + round * 32 + k / 2);
        }
    }
    g_assert_cmpint(got[62].value, ==, 300);
    give_buffers(&in, 64);
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    input_driver_down(&in);
    input_driver_up(&in);

    /* 100 events and their SYN: more than the 64 buffers of the ring */
    GString *big = g_string_new("");
    for (unsigned i = 0; i < 100; i++) {
        g_string_append_printf(big, "%s{'type': 'abs', 'data': {'axis': "
                               "'%s', 'value': %u}}", i ? "," : "",
                               i % 2 ? "y" : "x", 1000 + i);
    }
    send_events(&in, big->str);
    g_string_free(big, TRUE);
    send_events(&in, MOVE("abs", "y", "7"));
    give_buffers(&in, 64);
    {
        static const Ev want[] = { { EV_ABS, 1, 7 }, SYN };
        assert_events(&in, want, 2);
    }
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    input_stop(&in);
}

/* virtio-keyboard-device: the same device on virtio-mmio (microvm). */
static void test_mmio_keyboard(void)
{
    Input in;
    g_autofree char *name = NULL;
    static const Ev want[] = { { EV_KEY, KEY_A, 1 }, SYN };

    input_start_mmio(&in, "virtio-keyboard-device");
    name = cfg_string(&in, CFG_ID_NAME);
    g_assert_cmpstr(name, ==, "QEMU Virtio Keyboard");
    g_assert_true(cfg_bit(&in, EV_KEY, KEY_A));
    give_buffers(&in, 4);
    send_events(&in, KEY("a", "true"));
    assert_events(&in, want, 2);
    input_stop(&in);
}

/* ---- which device takes the events ---- */

/* query-mice: the name of the current pointer and whether it is absolute. */
static char *current_mouse(Input *in, bool *absolute)
{
    json_t *r = qtest_qmp(in->qts, "{'execute': 'query-mice'}");
    json_t *m;
    size_t i;
    char *name = NULL;

    json_array_foreach(json_object_get(r, "return"), i, m) {
        if (json_is_true(json_object_get(m, "current"))) {
            g_assert_null(name);
            name = g_strdup(json_string_value(json_object_get(m, "name")));
            *absolute = json_is_true(json_object_get(m, "absolute"));
        }
    }
    json_decref(r);
    g_assert_nonnull(name);
    return name;
}

static void assert_current_mouse(Input *in, const char *name, bool absolute)
{
    bool abs = !absolute;
    g_autofree char *cur = current_mouse(in, &abs);

    g_assert_cmpstr(cur, ==, name);
    g_assert_cmpint(abs, ==, absolute);
}

/*
 * A tablet takes buttons from the PS/2 mouse (and makes the pointer
 * absolute) once its driver is ready, and gives them back on reset.
 */
static void test_tablet_takes_over(void)
{
    Input in;
    static const Ev want[] = { { EV_KEY, BTN_MIDDLE, 1 }, SYN };

    input_machine(&in, "virtio-tablet-pci");
    assert_current_mouse(&in, "QEMU PS/2 Mouse", false);
    /* before DRIVER_OK, nothing is kept for the driver */
    send_events(&in, MOVE("abs", "x", "1"));
    input_driver_up(&in);
    assert_current_mouse(&in, "QEMU Virtio Tablet", true);
    give_buffers(&in, 8);
    qvirtio_assert_no_used(in.qts, in.evq, SETTLE_US);
    send_events(&in, BTN("middle", "true"));
    assert_events(&in, want, 2);

    input_driver_down(&in);
    assert_current_mouse(&in, "QEMU PS/2 Mouse", false);
    input_driver_up(&in);
    assert_current_mouse(&in, "QEMU Virtio Tablet", true);
    /* a machine reset (system_reset) resets the device too */
    qtest_qmp_assert_success(in.qts, "{'execute': 'system_reset'}");
    assert_current_mouse(&in, "QEMU PS/2 Mouse", false);
    input_stop(&in);
}

/* A mouse takes relative motion and buttons from the PS/2 mouse. */
static void test_mouse_takes_over(void)
{
    Input in;

    input_machine(&in, "virtio-mouse-pci");
    assert_current_mouse(&in, "QEMU PS/2 Mouse", false);
    input_driver_up(&in);
    assert_current_mouse(&in, "QEMU Virtio Mouse", false);
    input_stop(&in);
}

/* ---- the status queue ---- */

static uint32_t send_status(Input *in, uint64_t addr, uint32_t len,
                            bool write)
{
    uint32_t head = qvirtqueue_add(in->qts, in->stq, addr, len, write, false);
    uint32_t used;

    qvirtqueue_kick(in->qts, in->dev, in->stq, head);
    qvirtio_wait_used_elem(in->qts, in->dev, in->stq, head, &used,
                           QVIRTIO_TIMEOUT_US);
    return used;
}

static uint64_t status_event(Input *in, uint16_t type, uint16_t code,
                             uint32_t value)
{
    uint64_t a = guest_alloc(in->alloc, EVT);

    qtest_writew(in->qts, a, type);
    qtest_writew(in->qts, a + 2, code);
    qtest_writel(in->qts, a + 4, value);
    return a;
}

/*
 * LED events are taken; garbage (short buffers, writable ones, unknown
 * types and LEDs) is returned unread, and the device carries on.
 */
static void test_status_queue(void)
{
    Input in;
    static const Ev want[] = { { EV_KEY, KEY_A, 1 }, SYN };

    input_start(&in, "virtio-keyboard-pci");
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_LED, LED_CAPSL,
                                                    1), EVT, false), ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_LED, LED_CAPSL,
                                                    0), EVT, false), ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_LED, 0x7ff, 1),
                                 EVT, false), ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, 0xffff, 0xffff,
                                                    0xffffffff), EVT, false),
                     ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_REP, 0, 250), EVT,
                                 false), ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_LED, 0, 1), 3,
                                 false), ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_LED, 0, 1), EVT,
                                 true), ==, 0);
    g_assert_cmpuint(send_status(&in, status_event(&in, EV_LED, 0, 1), 0,
                                 false), ==, 0);
    g_assert_false(qvirtio_needs_reset(in.dev));
    /* the event queue is unaffected */
    give_buffers(&in, 4);
    send_events(&in, KEY("a", "true"));
    assert_events(&in, want, 2);
    input_stop(&in);
}

/* ---- a hostile driver on the event queue ---- */

/*
 * Short and device-readable buffers get what fits (nothing); the next
 * buffers get the next events; no reset is needed.
 */
static void test_bad_event_buffers(void)
{
    Input in;
    uint32_t head, len;
    uint64_t small;
    static const Ev want[] = { { EV_KEY, KEY_A, 0 }, SYN };

    input_start(&in, "virtio-keyboard-pci");
    small = guest_alloc(in.alloc, EVT);
    /* a readable buffer, then a 4-byte one: the group's two events */
    head = qvirtqueue_add(in.qts, in.evq, small, EVT, false, false);
    qvirtqueue_publish(in.qts, in.evq, head);
    head = qvirtqueue_add(in.qts, in.evq, small, 4, true, false);
    qvirtqueue_publish(in.qts, in.evq, head);
    qtest_memset(in.qts, small, 0xee, EVT);
    qvirtio_notify(in.dev, EVENTQ);
    send_events(&in, KEY("a", "true"));
    g_assert_true(qvirtqueue_get_buf(in.qts, in.evq, NULL, &len));
    g_assert_cmpuint(len, ==, 0);
    g_assert_true(qvirtqueue_get_buf(in.qts, in.evq, NULL, &len));
    g_assert_cmpuint(len, ==, 4);
    /* the writable 4 bytes got the first half of EV_SYN: type and code */
    g_assert_cmphex(qtest_readl(in.qts, small), ==, 0);
    g_assert_cmphex(qtest_readl(in.qts, small + 4), ==, 0xeeeeeeee);
    g_assert_false(qvirtio_needs_reset(in.dev));
    /* whole buffers after them get whole events */
    give_buffers(&in, 2);
    send_events(&in, KEY("a", "false"));
    assert_events(&in, want, 2);
    input_stop(&in);
}

/* A buffer outside guest RAM breaks the ring: NEEDS_RESET, then recovery. */
static void test_event_buffer_outside_ram(void)
{
    Input in;
    uint32_t head;
    static const Ev want[] = { { EV_KEY, KEY_ESC, 1 }, SYN };

    input_start(&in, "virtio-keyboard-pci");
    head = qvirtqueue_add(in.qts, in.evq, OUTSIDE_RAM, EVT, true, false);
    qvirtqueue_publish(in.qts, in.evq, head);
    head = qvirtqueue_add(in.qts, in.evq, OUTSIDE_RAM, EVT, true, false);
    qvirtqueue_publish(in.qts, in.evq, head);
    qvirtio_notify(in.dev, EVENTQ);
    send_events(&in, KEY("a", "true"));
    qvirtio_wait_needs_reset(in.qts, in.dev, QVIRTIO_TIMEOUT_US);
    /* more events while broken are dropped, not a crash */
    send_events(&in, KEY("a", "false"));
    qvirtio_assert_vmm_alive(in.qts);

    input_driver_down(&in);
    input_driver_up(&in);
    g_assert_false(qvirtio_needs_reset(in.dev));
    give_buffers(&in, 2);
    send_events(&in, KEY("esc", "true"));
    assert_events(&in, want, 2);
    input_stop(&in);
}

/* A driver that lies about its avail index, or never sets up the queues. */
static void test_bad_rings(void)
{
    Input in;

    input_start(&in, "virtio-tablet-pci");
    qvirtqueue_set_avail_idx(in.qts, in.evq, 1000);
    qvirtio_notify(in.dev, EVENTQ);
    send_events(&in, MOVE("abs", "x", "5"));
    qvirtio_wait_needs_reset(in.qts, in.dev, QVIRTIO_TIMEOUT_US);
    qvirtio_assert_vmm_alive(in.qts);
    input_driver_down(&in);

    /* DRIVER_OK with no queue enabled: events have nowhere to go */
    qvirtio_start_device(in.dev, 1ULL << VIRTIO_F_VERSION_1);
    qvirtio_set_driver_ok(in.dev);
    for (unsigned i = 0; i < 400; i++) {
        send_events(&in, i % 2 ? MOVE("abs", "x", "5") : BTN("left", "true"));
    }
    qvirtio_notify(in.dev, EVENTQ);
    qvirtio_notify(in.dev, STATUSQ);
    qvirtio_notify(in.dev, 7);
    qvirtio_assert_vmm_alive(in.qts);
    input_stop(&in);
}

/*
 * Random garbage in both queues' descriptor tables and avail rings, random
 * configuration writes, kicks and events in between: whatever the device
 * makes of it, the VMM stays up, and a reset brings the device back.
 */
static void test_random_rings(void)
{
    Input in;
    static const Ev want[] = { { EV_KEY, KEY_A, 1 }, SYN };

    input_start(&in, "virtio-keyboard-pci");
    for (unsigned round = 0; round < 200; round++) {
        QVirtQueue *vq = g_test_rand_bit() ? in.evq : in.stq;
        uint64_t desc = vq->desc + 16 * g_test_rand_int_range(0, vq->size);
        switch (g_test_rand_int_range(0, 5)) {
        case 0:     /* a descriptor pointing anywhere near our buffers */
            qvring_desc_write(in.qts, vq->desc,
                              g_test_rand_int_range(0, vq->size),
                              in.evbuf + g_test_rand_int_range(-64, 4096),
                              g_test_rand_int_range(0, 64),
                              g_test_rand_int_range(0, 8),
                              g_test_rand_int_range(0, vq->size + 2));
            break;
        case 1:     /* raw garbage */
            qtest_writeq(in.qts, desc, ((uint64_t)g_test_rand_int() << 32) |
                         g_test_rand_int());
            qtest_writeq(in.qts, desc + 8, g_test_rand_int());
            break;
        case 2:
            qvirtqueue_publish(in.qts, vq, g_test_rand_int_range(0, 0x10000));
            qvirtio_notify(in.dev, vq->index);
            break;
        case 3:
            qvirtio_config_writeb(in.dev, g_test_rand_int_range(0, 140),
                                  g_test_rand_int());
            break;
        default:
            send_events(&in, KEY("a", "true") "," KEY("a", "false"));
            break;
        }
    }
    qvirtio_assert_vmm_alive(in.qts);
    input_driver_down(&in);
    input_driver_up(&in);
    g_assert_false(qvirtio_needs_reset(in.dev));
    give_buffers(&in, 2);
    send_events(&in, KEY("a", "true"));
    assert_events(&in, want, 2);
    input_stop(&in);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/input/config/keyboard", test_config_keyboard);
    g_test_add_func("/virtio/input/config/mouse", test_config_mouse);
    g_test_add_func("/virtio/input/config/tablet", test_config_tablet);
    g_test_add_func("/virtio/input/config/unknown-and-read-only",
                    test_config_unknown_and_read_only);
    g_test_add_func("/virtio/input/events/keyboard", test_keyboard_events);
    g_test_add_func("/virtio/input/events/mouse", test_mouse_events);
    g_test_add_func("/virtio/input/events/tablet", test_tablet_events);
    g_test_add_func("/virtio/input/events/wait-for-buffers",
                    test_events_wait_for_buffers);
    g_test_add_func("/virtio/input/events/groups-not-split",
                    test_groups_are_not_split);
    g_test_add_func("/virtio/input/events/queue-overflow",
                    test_queue_overflow);
    g_test_add_func("/virtio/input/mmio/keyboard", test_mmio_keyboard);
    g_test_add_func("/virtio/input/active/tablet", test_tablet_takes_over);
    g_test_add_func("/virtio/input/active/mouse", test_mouse_takes_over);
    g_test_add_func("/virtio/input/statusq", test_status_queue);
    g_test_add_func("/virtio/input/hostile/bad-event-buffers",
                    test_bad_event_buffers);
    g_test_add_func("/virtio/input/hostile/buffer-outside-ram",
                    test_event_buffer_outside_ram);
    g_test_add_func("/virtio/input/hostile/bad-rings", test_bad_rings);
    g_test_add_func("/virtio/input/hostile/random-rings", test_random_rings);
    return g_test_run();
}
