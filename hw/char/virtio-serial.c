/*
 * virtio console device (virtio 1.2 section 5.3) with multiple ports
 * (VIRTIO_CONSOLE_F_MULTIPORT): a bus of up to max_ports ports, each a
 * receiveq/transmitq pair joined to a chardev, and the control queues that
 * announce ports, their names and consoles, and open/close on either side
 * (5.3.6.2). The ports are the devices virtconsole (a guest hvc console)
 * and virtserialport (a named /dev/vportNpM), as QEMU's;
 * virtio-serial-device puts the bus on a virtio-mmio transport.
 *
 * Flow control both ways, nothing dropped: host input is read from the
 * chardev only while the guest has receive buffers posted (the rest waits
 * in the backend), and guest output the chardev cannot take now stays in
 * the guest's transmit buffer until the chardev's output drains.
 */
#include <string.h>

#include "chardev/char.h"
#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio-serial.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

/* Feature bits (5.3.3) */
#define VIRTIO_CONSOLE_F_SIZE           0
#define VIRTIO_CONSOLE_F_MULTIPORT      1
#define VIRTIO_CONSOLE_F_EMERG_WRITE    2

/* Control events (5.3.6.2) */
enum {
    VIRTIO_CONSOLE_DEVICE_READY = 0,
    VIRTIO_CONSOLE_DEVICE_ADD = 1,
    VIRTIO_CONSOLE_DEVICE_REMOVE = 2,
    VIRTIO_CONSOLE_PORT_READY = 3,
    VIRTIO_CONSOLE_CONSOLE_PORT = 4,
    VIRTIO_CONSOLE_RESIZE = 5,
    VIRTIO_CONSOLE_PORT_OPEN = 6,
    VIRTIO_CONSOLE_PORT_NAME = 7,
};

/* struct virtio_console_control: le32 id, le16 event, le16 value */
#define CTRL_MSG_SIZE       8
/* struct virtio_console_config: le16 cols, le16 rows, le32 max_nr_ports */
#define CFG_COLS            0
#define CFG_ROWS            2
#define CFG_MAX_NR_PORTS    4
#define CFG_SIZE            8

/* Queues (5.3.2): port 0 is 0/1, control 2/3, port N>0 is 2N+2/2N+3. */
#define CTRL_RXQ            2
#define CTRL_TXQ            3
#define QUEUE_SIZE          128

#define PORT_NR_AUTO        UINT32_MAX  /* nr property: next free number */
#define PORT_RX_CHUNK       4096        /* host input taken per read */
#define PORT_NAME_MAX       255         /* a file name: udev links it */

struct VirtIOSerialPort {
    Device parent;
    char *chardev;              /* property */
    char *name;                 /* property */
    char *bus_prop;             /* property "bus" */
    uint32_t nr;                /* property; the number in use once realized */
    bool is_console;
    VirtIOSerial *bus;          /* NULL once the bus went away */
    Chardev *chr;
    bool host_connected;        /* the chardev has a peer */
    bool guest_ready;           /* the driver sent PORT_READY */
    bool guest_connected;       /* the driver opened the port */
    GByteArray *rx_pending;     /* host input read but not yet in a buffer */
    VirtQueueElement *tx_elem;  /* guest output the chardev did not take */
    size_t tx_offset;           /* bytes of tx_elem written so far */
    bool tx_flushing;
};

/* Every bus of every machine, for the ports' bus= lookup. */
static GPtrArray *serial_buses;

static unsigned port_rxq(uint32_t nr)
{
    return nr == 0 ? 0 : 2 * nr + 2;
}

static VirtQueue *port_rx_vq(VirtIOSerialPort *p)
{
    return &p->bus->vdev.vq[port_rxq(p->nr)];
}

static VirtQueue *port_tx_vq(VirtIOSerialPort *p)
{
    return &p->bus->vdev.vq[port_rxq(p->nr) + 1];
}

static bool multiport(VirtIOSerial *s)
{
    return virtio_has_feature(&s->vdev, VIRTIO_CONSOLE_F_MULTIPORT);
}

/* The port a driver's message or queue names, if the driver may use it. */
static VirtIOSerialPort *port_lookup(VirtIOSerial *s, uint32_t nr)
{
    if (nr >= s->max_ports || (nr != 0 && !multiport(s))) {
        return NULL;
    }
    return s->ports[nr];
}

/* ---- control messages to the driver (control receiveq) ---- */

static uint16_t msg_event(const GByteArray *msg)
{
    return ld16(msg->data + 4);
}

/* Hands queued control messages to the driver's buffers, in order. */
static void ctrl_flush(VirtIOSerial *s)
{
    VirtQueue *vq = &s->vdev.vq[CTRL_RXQ];
    bool pushed = false;

    while (!g_queue_is_empty(&s->ctrl_pending)) {
        VirtQueueElement *elem = virtq_pop(vq);
        if (!elem) {
            break;
        }
        if (elem->out_num || elem->in_len < CTRL_MSG_SIZE) {
            /* the message waits for a buffer it fits in */
            log_guest_error("virtio-serial: control receive buffer of %zu "
                            "writable bytes (%u readable descriptors)\n",
                            elem->in_len, elem->out_num);
            virtq_push(vq, elem, 0);
        } else {
            GByteArray *msg = g_queue_pop_head(&s->ctrl_pending);
            /* a name longer than the buffer arrives cut short */
            size_t n = virtq_elem_fill(elem, 0, msg->data, msg->len);
            virtq_push(vq, elem, n);
            g_byte_array_free(msg, TRUE);
        }
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

/* Drops a queued PORT_OPEN for port nr: only the latest state matters. */
static void ctrl_drop_port_open(VirtIOSerial *s, uint32_t nr)
{
    for (GList *l = s->ctrl_pending.head; l;) {
        GList *next = l->next;
        GByteArray *msg = l->data;
        if (ld32(msg->data) == nr &&
            msg_event(msg) == VIRTIO_CONSOLE_PORT_OPEN) {
            g_byte_array_free(msg, TRUE);
            g_queue_delete_link(&s->ctrl_pending, l);
        }
        l = next;
    }
}

/*
 * Queues a control message (5.3.6.2) with extra bytes after the header
 * (a port's name). Before the driver's DEVICE_READY there is nobody to
 * tell: it learns a port's state when it reports the port ready.
 */
static void ctrl_queue(VirtIOSerial *s, uint32_t nr, uint16_t event,
                       uint16_t value, const void *extra, size_t extra_len)
{
    GByteArray *msg;
    uint8_t hdr[CTRL_MSG_SIZE];

    if (!s->device_ready) {
        return;
    }
    if (event == VIRTIO_CONSOLE_PORT_OPEN) {
        ctrl_drop_port_open(s, nr);
    }
    st32(hdr, nr);
    st16(hdr + 4, event);
    st16(hdr + 6, value);
    msg = g_byte_array_sized_new(sizeof(hdr) + extra_len);
    g_byte_array_append(msg, hdr, sizeof(hdr));
    if (extra_len) {
        g_byte_array_append(msg, extra, extra_len);
    }
    g_queue_push_tail(&s->ctrl_pending, msg);
}

/* Queues a control message and sends what the driver has buffers for. */
static void ctrl_send(VirtIOSerial *s, uint32_t nr, uint16_t event,
                      uint16_t value, const void *extra, size_t extra_len)
{
    if (s->device_ready) {
        ctrl_queue(s, nr, event, value, extra, extra_len);
        ctrl_flush(s);
    }
}

static void ctrl_clear(VirtIOSerial *s)
{
    GByteArray *msg;

    while ((msg = g_queue_pop_head(&s->ctrl_pending))) {
        g_byte_array_free(msg, TRUE);
    }
}

/* ---- host to guest: chardev input into the port's receiveq ---- */

/* Whether the guest takes data on the port now (QEMU: guest_ready). */
static bool port_rx_open(VirtIOSerialPort *p)
{
    return p->bus && p->guest_connected && !p->bus->vdev.broken &&
           (p->bus->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Copies data into the receive buffers the driver posted; returns bytes. */
static size_t port_rx_fill(VirtIOSerialPort *p, const uint8_t *buf,
                           size_t len)
{
    VirtQueue *vq;
    bool pushed = false;
    size_t done = 0;

    if (!port_rx_open(p)) {
        return 0;
    }
    vq = port_rx_vq(p);
    while (done < len) {
        VirtQueueElement *elem = virtq_pop(vq);
        if (!elem) {
            break;
        }
        size_t n = 0;
        if (elem->out_num) {
            log_guest_error("virtio-serial: port %u: receive buffer with "
                            "device-readable descriptors, ignored\n", p->nr);
        } else {
            n = virtq_elem_fill(elem, 0, buf + done, len - done);
        }
        virtq_push(vq, elem, n);
        g_free(elem);
        done += n;
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
    return done;
}

/* Buffers appeared or the guest opened the port: deliver what waits. */
static void port_rx_flush(VirtIOSerialPort *p)
{
    if (p->rx_pending->len) {
        size_t n = port_rx_fill(p, p->rx_pending->data, p->rx_pending->len);
        g_byte_array_remove_range(p->rx_pending, 0, n);
    }
    if (!p->rx_pending->len && port_rx_open(p)) {
        chardev_accept_input(p->chr);
    }
}

static int port_can_receive(void *opaque)
{
    VirtIOSerialPort *p = opaque;

    if (!port_rx_open(p) || p->rx_pending->len ||
        virtq_empty(port_rx_vq(p))) {
        return 0;   /* port_rx_flush resumes reading */
    }
    return PORT_RX_CHUNK;
}

static void port_receive(void *opaque, const uint8_t *buf, int len)
{
    VirtIOSerialPort *p = opaque;
    size_t n = port_rx_fill(p, buf, len);

    /* buffers smaller than the chunk: the rest waits for more */
    if (n < (size_t)len) {
        g_byte_array_append(p->rx_pending, buf + n, len - n);
    }
}

/* ---- guest to host: the port's transmitq into the chardev ---- */

/* Writes what the chardev takes now of tx_elem; true when all went. */
static bool port_tx_write(VirtIOSerialPort *p)
{
    const VirtQueueElement *elem = p->tx_elem;
    size_t room = chardev_write_room(p->chr);
    size_t skip = p->tx_offset;

    for (unsigned i = 0; i < elem->out_num && room; i++) {
        const struct iovec *v = &elem->out_sg[i];
        if (skip >= v->iov_len) {
            skip -= v->iov_len;
            continue;
        }
        size_t n = MIN(v->iov_len - skip, room);
        chardev_write(p->chr, (const uint8_t *)v->iov_base + skip, n);
        p->tx_offset += n;
        room -= n;
        skip = 0;
    }
    return p->tx_offset >= elem->out_len;
}

/*
 * Writes the guest's transmit buffers to the chardev until they run out or
 * the chardev is full; its writable() handler calls us again. A peer that
 * went away takes everything (the chardev drops it), so the guest never
 * waits for a peer that is not there.
 */
static void port_tx_flush(VirtIOSerialPort *p)
{
    VirtQueue *vq;
    bool pushed = false;

    /* chardev_write may report a hangup, whose handler flushes again */
    if (!p->bus || p->tx_flushing) {
        return;
    }
    p->tx_flushing = true;
    vq = port_tx_vq(p);
    for (;;) {
        if (!p->tx_elem) {
            p->tx_elem = virtq_pop(vq);
            p->tx_offset = 0;
            if (!p->tx_elem) {
                break;
            }
            if (p->tx_elem->in_num) {
                log_guest_error("virtio-serial: port %u: transmit buffer "
                                "with device-writable descriptors, "
                                "ignored\n", p->nr);
                p->tx_offset = p->tx_elem->out_len;
            }
        }
        if (!port_tx_write(p)) {
            break;
        }
        virtq_push(vq, p->tx_elem, 0);
        g_clear_pointer(&p->tx_elem, g_free);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
    p->tx_flushing = false;
}

static void port_chr_writable(void *opaque)
{
    port_tx_flush(opaque);
}

/* ---- port state ---- */

static void port_set_host_connected(VirtIOSerialPort *p, bool connected)
{
    if (p->host_connected == connected) {
        return;
    }
    p->host_connected = connected;
    if (!p->bus) {
        return;
    }
    if (p->guest_ready) {
        ctrl_send(p->bus, p->nr, VIRTIO_CONSOLE_PORT_OPEN, connected, NULL,
                  0);
    }
    if (!connected) {
        port_tx_flush(p);   /* held output goes to the floor with the peer */
    }
}

static void port_chr_event(void *opaque, ChardevEvent ev)
{
    VirtIOSerialPort *p = opaque;

    if (ev == CHR_EVENT_OPENED || ev == CHR_EVENT_CLOSED) {
        port_set_host_connected(p, ev == CHR_EVENT_OPENED);
    }
}

static const ChardevHandlers port_chr_handlers = {
    .can_receive = port_can_receive,
    .receive = port_receive,
    .event = port_chr_event,
    .writable = port_chr_writable,
};

static void port_set_guest_connected(VirtIOSerialPort *p, bool connected)
{
    p->guest_connected = connected;
    if (connected) {
        port_rx_flush(p);
    }
}

/* The driver set the port up (PORT_READY): tell it what the port is. */
static void port_guest_ready(VirtIOSerialPort *p, uint16_t value)
{
    VirtIOSerial *s = p->bus;

    if (!value) {
        log_guest_error("virtio-serial: driver failed to add port %u\n",
                        p->nr);
        return;
    }
    if (p->guest_ready) {
        log_guest_error("virtio-serial: port %u reported ready twice\n",
                        p->nr);
        return;
    }
    p->guest_ready = true;
    if (p->is_console) {
        ctrl_send(s, p->nr, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
    }
    if (p->name) {
        /* with the NUL, as QEMU sends it */
        ctrl_send(s, p->nr, VIRTIO_CONSOLE_PORT_NAME, 1, p->name,
                  strlen(p->name) + 1);
    }
    if (p->host_connected) {
        ctrl_send(s, p->nr, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
    }
}

/* Device reset: the guest side of the port closes, held data goes. */
static void port_reset(VirtIOSerialPort *p)
{
    p->guest_ready = false;
    p->guest_connected = false;
    g_byte_array_set_size(p->rx_pending, 0);
    g_clear_pointer(&p->tx_elem, g_free);
    p->tx_offset = 0;
}

/* ---- control messages from the driver (control transmitq) ---- */

static void ctrl_handle_msg(VirtIOSerial *s, uint32_t nr, uint16_t event,
                            uint16_t value)
{
    VirtIOSerialPort *p;

    switch (event) {
    case VIRTIO_CONSOLE_DEVICE_READY:
        if (!value) {
            log_guest_error("virtio-serial: driver failed to set up the "
                            "device\n");
        } else if (s->device_ready) {
            log_guest_error("virtio-serial: DEVICE_READY sent twice\n");
        } else {
            s->device_ready = true;
            for (uint32_t i = 0; i < s->max_ports; i++) {
                if (s->ports[i]) {
                    ctrl_send(s, i, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0);
                }
            }
        }
        return;
    case VIRTIO_CONSOLE_PORT_READY:
    case VIRTIO_CONSOLE_PORT_OPEN:
        p = port_lookup(s, nr);
        if (!p) {
            log_guest_error("virtio-serial: control event %u for port %u, "
                            "which does not exist\n", event, nr);
        } else if (event == VIRTIO_CONSOLE_PORT_READY) {
            port_guest_ready(p, value);
        } else {
            port_set_guest_connected(p, value != 0);
        }
        return;
    default:
        /* the others go from device to driver only */
        log_guest_error("virtio-serial: unexpected control event %u from "
                        "the driver\n", event);
        return;
    }
}

static void ctrl_handle_tx(VirtIOSerial *s, VirtQueue *vq)
{
    VirtQueueElement *elem;
    bool pushed = false;

    while ((elem = virtq_pop(vq))) {
        uint8_t msg[CTRL_MSG_SIZE];
        if (elem->in_num) {
            log_guest_error("virtio-serial: control message with "
                            "device-writable descriptors, ignored\n");
        } else if (virtq_elem_read(elem, 0, msg, sizeof(msg)) <
                   sizeof(msg)) {
            log_guest_error("virtio-serial: control message of %zu bytes, "
                            "ignored\n", elem->out_len);
        } else {
            ctrl_handle_msg(s, ld32(msg), ld16(msg + 4), ld16(msg + 6));
        }
        virtq_push(vq, elem, 0);
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

/* ---- the virtio device ---- */

static VirtIOSerial *vser_from_vdev(VirtIODevice *vdev)
{
    return container_of(vdev, VirtIOSerial, vdev);
}

/* Transmit buffers of a port that does not exist: returned unread. */
static void discard_tx(VirtIOSerial *s, VirtQueue *vq)
{
    VirtQueueElement *elem;
    bool pushed = false;

    while ((elem = virtq_pop(vq))) {
        log_guest_error("virtio-serial: data on transmit queue %d, whose "
                        "port does not exist\n", vq->index);
        virtq_push(vq, elem, 0);
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

static void vser_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOSerial *s = vser_from_vdev(vdev);
    int q = vq->index;

    if (q == CTRL_RXQ || q == CTRL_TXQ) {
        if (!multiport(s)) {
            log_guest_error("virtio-serial: control queue used without "
                            "VIRTIO_CONSOLE_F_MULTIPORT\n");
        } else if (q == CTRL_RXQ) {
            ctrl_flush(s);
        } else {
            ctrl_handle_tx(s, vq);
        }
        return;
    }
    VirtIOSerialPort *p = port_lookup(s, q < 2 ? 0 : q / 2 - 1);
    if (q & 1) {
        if (p) {
            port_tx_flush(p);
        } else {
            discard_tx(s, vq);
        }
    } else if (p) {
        port_rx_flush(p);   /* new receive buffers */
    }
}

static void vser_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIOSerial *s = vser_from_vdev(vdev);

    st16(config + CFG_COLS, 0);
    st16(config + CFG_ROWS, 0);
    st32(config + CFG_MAX_NR_PORTS, s->max_ports);
}

static void vser_set_status(VirtIODevice *vdev, uint8_t status)
{
    VirtIOSerial *s = vser_from_vdev(vdev);
    VirtIOSerialPort *p0 = s->ports[0];

    /* 5.3.6: without MULTIPORT, port 0 is open once the driver is */
    if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !multiport(s) && p0 &&
        !p0->guest_connected) {
        port_set_guest_connected(p0, true);
    }
}

static void vser_reset(VirtIODevice *vdev)
{
    VirtIOSerial *s = vser_from_vdev(vdev);

    for (uint32_t i = 0; i < s->max_ports; i++) {
        if (s->ports[i]) {
            port_reset(s->ports[i]);
        }
    }
    ctrl_clear(s);
    s->device_ready = false;
}

/*
 * Migration: guest output a port's chardev has not taken yet is a buffer
 * taken from the transmitq and not handed back, which is not saved.
 */
static bool vser_pre_save(VirtIODevice *vdev, GError **errp)
{
    VirtIOSerial *s = vser_from_vdev(vdev);

    for (uint32_t i = 0; i < s->max_ports; i++) {
        VirtIOSerialPort *p = s->ports[i];
        if (p && p->tx_elem) {
            g_set_error(errp, VIREO_ERROR, 0, "virtio-serial: port %u holds "
                        "%zu bytes of guest output that chardev '%s' has not "
                        "taken yet, which cannot be saved: retry once it "
                        "drained", p->nr, p->tx_elem->out_len - p->tx_offset,
                        p->chardev);
            return false;
        }
    }
    return true;
}

bool virtio_serial_init(VirtIOSerial *s, Machine *m, const char *id,
                        GError **errp)
{
    unsigned unnamed = 0;

    if (s->max_ports < 1 || s->max_ports > VIRTIO_SERIAL_MAX_PORTS) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "max_ports=%u: must be between 1 and %u", s->max_ports,
                    VIRTIO_SERIAL_MAX_PORTS);
        return false;
    }
    if (!serial_buses) {
        serial_buses = g_ptr_array_new();
    }
    for (guint i = 0; i < serial_buses->len; i++) {
        VirtIOSerial *b = g_ptr_array_index(serial_buses, i);
        if (b->machine == m && g_str_has_prefix(b->bus_name,
                                                VIRTIO_SERIAL_BUS ".")) {
            unnamed++;
        }
    }
    /* QEMU's bus names: after the device's id, else the bus type's */
    s->bus_name = id ? g_strdup_printf("%s.0", id)
                     : g_strdup_printf(VIRTIO_SERIAL_BUS ".%u", unnamed);
    s->machine = m;
    s->ports = g_new0(VirtIOSerialPort *, s->max_ports);
    g_queue_init(&s->ctrl_pending);
    s->ops = (VirtioDeviceOps){
        .device_id = VIRTIO_ID_CONSOLE,
        .features = 1ULL << VIRTIO_CONSOLE_F_MULTIPORT,
        .config_size = CFG_SIZE,
        .num_queues = 2 * (s->max_ports + 1),
        .queue_max_size = QUEUE_SIZE,
        .get_config = vser_get_config,
        .handle_queue = vser_handle_queue,
        .set_status = vser_set_status,
        .reset = vser_reset,
        .pre_save = vser_pre_save,
    };
    virtio_init(&s->vdev, &s->ops, "virtio-serial", &m->as_mem);
    g_ptr_array_add(serial_buses, s);
    return true;
}

void virtio_serial_fini(VirtIOSerial *s)
{
    for (uint32_t i = 0; i < s->max_ports; i++) {
        VirtIOSerialPort *p = s->ports[i];
        if (p) {
            /* the port device is freed later; it must not reach us */
            port_reset(p);
            p->bus = NULL;
        }
    }
    g_ptr_array_remove(serial_buses, s);
    vm_del_state_change_handler(s->resume_entry);
    s->resume_entry = NULL;
    ctrl_clear(s);
    g_clear_pointer(&s->ports, g_free);
    g_clear_pointer(&s->bus_name, g_free);
    virtio_cleanup(&s->vdev);
}

/* ---- virtconsole, virtserialport ---- */

static VirtIOSerial *bus_find(Machine *m, const char *name, GError **errp)
{
    g_autoptr(GString) names = g_string_new(NULL);

    for (guint i = 0; serial_buses && i < serial_buses->len; i++) {
        VirtIOSerial *s = g_ptr_array_index(serial_buses, i);
        if (s->machine != m) {
            continue;
        }
        if (!name || !strcmp(s->bus_name, name)) {
            return s;
        }
        g_string_append_printf(names, "%s%s", names->len ? ", " : "",
                               s->bus_name);
    }
    if (!name) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "no virtio-serial bus for the port: add -device "
                    "virtio-serial-device (or virtio-serial-pci) before it");
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "bus '%s' not found (virtio-serial buses: %s)", name,
                    names->len ? names->str : "none");
    }
    return NULL;
}

static VirtIOSerialPort *port_find_name(Machine *m, const char *name)
{
    for (guint i = 0; serial_buses && i < serial_buses->len; i++) {
        VirtIOSerial *s = g_ptr_array_index(serial_buses, i);
        for (uint32_t nr = 0; s->machine == m && nr < s->max_ports; nr++) {
            if (s->ports[nr] && s->ports[nr]->name &&
                !strcmp(s->ports[nr]->name, name)) {
                return s->ports[nr];
            }
        }
    }
    return NULL;
}

/* The port number: nr= as given, or QEMU's choice (0 for a first console). */
static bool port_pick_nr(VirtIOSerialPort *p, VirtIOSerial *s, GError **errp)
{
    if (p->nr == PORT_NR_AUTO) {
        if (p->is_console && !s->ports[0]) {
            p->nr = 0;
            return true;
        }
        for (uint32_t nr = 1; nr < s->max_ports; nr++) {
            if (!s->ports[nr]) {
                p->nr = nr;
                return true;
            }
        }
        g_set_error(errp, VIREO_ERROR, 0, "all ports of %s are in use "
                    "(max_ports=%u)", s->bus_name, s->max_ports);
        return false;
    }
    if (p->nr >= s->max_ports) {
        g_set_error(errp, VIREO_ERROR, 0, "nr=%u is out of range: %s has "
                    "max_ports=%u (nr 0 to %u)", p->nr, s->bus_name,
                    s->max_ports, s->max_ports - 1);
        return false;
    }
    if (p->nr == 0 && !p->is_console) {
        g_set_error(errp, VIREO_ERROR, 0, "nr=0 is reserved for a "
                    "virtconsole");
        return false;
    }
    if (s->ports[p->nr]) {
        g_set_error(errp, VIREO_ERROR, 0, "nr=%u is already in use on %s",
                    p->nr, s->bus_name);
        return false;
    }
    return true;
}

static bool port_check_name(VirtIOSerialPort *p, Machine *m, GError **errp)
{
    if (!p->name) {
        return true;
    }
    if (!*p->name || strlen(p->name) > PORT_NAME_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "name must be 1 to %d bytes long",
                    PORT_NAME_MAX);
        return false;
    }
    if (port_find_name(m, p->name)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "a port named '%s' already exists", p->name);
        return false;
    }
    return true;
}

static DeviceClass virtconsole_class;

static bool port_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIOSerialPort *p = (VirtIOSerialPort *)dev;
    VirtIOSerial *s;

    p->is_console = dev->cls == &virtconsole_class;
    if (!p->chardev || !*p->chardev) {
        g_set_error(errp, VIREO_ERROR, 0, "property 'chardev' is required "
                    "(chardev=ID of a -chardev)");
        return false;
    }
    p->chr = chardev_find(p->chardev);
    if (!p->chr) {
        g_set_error(errp, VIREO_ERROR, 0, "chardev '%s' not found",
                    p->chardev);
        return false;
    }
    if (!chardev_is_mux(p->chr) && chardev_frontend_open(p->chr)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "chardev '%s' is already in use by another device",
                    p->chardev);
        return false;
    }
    s = bus_find(m, p->bus_prop, errp);
    if (!s || !port_check_name(p, m, errp) || !port_pick_nr(p, s, errp)) {
        return false;
    }
    p->rx_pending = g_byte_array_new();
    p->bus = s;
    s->ports[p->nr] = p;
    p->host_connected = chardev_is_connected(p->chr);
    chardev_set_handlers(p->chr, &port_chr_handlers, p);
    /* a port added while the driver runs is announced at once */
    ctrl_send(s, p->nr, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0);
    return true;
}

static void port_unrealize(Device *dev)
{
    VirtIOSerialPort *p = (VirtIOSerialPort *)dev;

    chardev_set_handlers(p->chr, NULL, p);
    if (p->bus) {
        p->bus->ports[p->nr] = NULL;
        ctrl_send(p->bus, p->nr, VIRTIO_CONSOLE_DEVICE_REMOVE, 1, NULL, 0);
    }
    g_clear_pointer(&p->tx_elem, g_free);
    g_byte_array_free(p->rx_pending, TRUE);
}

static const Property port_props[] = {
    PROP_STR("chardev", VirtIOSerialPort, chardev, NULL,
             "ID of the -chardev the port connects to"),
    PROP_STR("name", VirtIOSerialPort, name, NULL,
             "port name the guest sees (/sys/class/virtio-ports/*/name)"),
    PROP_U32("nr", VirtIOSerialPort, nr, PORT_NR_AUTO,
             "port number (default: the next free one)"),
    PROP_STR("bus", VirtIOSerialPort, bus_prop, NULL,
             "the virtio-serial bus, ID.0 (default: the first one)"),
    PROP_END,
};

static DeviceClass virtconsole_class = {
    .name = "virtconsole",
    .desc = "virtio console port (guest hvc)",
    .bus = VIRTIO_SERIAL_BUS,
    .instance_size = sizeof(VirtIOSerialPort),
    .props = port_props,
    .user_creatable = true,
    .realize = port_realize,
    .unrealize = port_unrealize,
};
DEVICE_REGISTER(virtconsole_class)

static DeviceClass virtserialport_class = {
    .name = "virtserialport",
    .desc = "virtio serial port (guest /dev/vportNpM)",
    .bus = VIRTIO_SERIAL_BUS,
    .instance_size = sizeof(VirtIOSerialPort),
    .props = port_props,
    .user_creatable = true,
    .realize = port_realize,
    .unrealize = port_unrealize,
};
DEVICE_REGISTER(virtserialport_class)

/* ---- migration ---- */

#define CTRL_MSG_MAX    (CTRL_MSG_SIZE + PORT_NAME_MAX + 1)

/* A control message waiting for the driver, as the stream carries it. */
typedef struct CtrlMsgState {
    uint32_t len;
    uint8_t data[CTRL_MSG_MAX];
} CtrlMsgState;

static const VMStateField ctrl_msg_fields[] = {
    VMSTATE_VBUFFER(data, CtrlMsgState, len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_ctrl_msg = {
    .name = "virtio-serial-ctrl-msg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ctrl_msg_fields,
};

/* A u32 count, then the messages in the order they go to the driver. */
static bool ctrl_pending_save(GByteArray *out, void *opaque, GError **errp)
{
    VirtIOSerial *s = opaque;
    CtrlMsgState *m = g_new(CtrlMsgState, 1);
    bool ok = true;

    vmstate_put_u32(out, g_queue_get_length(&s->ctrl_pending));
    for (GList *l = s->ctrl_pending.head; l && ok; l = l->next) {
        GByteArray *msg = l->data;
        g_assert(msg->len <= sizeof(m->data));  /* ctrl_queue's names */
        m->len = msg->len;
        memcpy(m->data, msg->data, msg->len);
        ok = vmstate_save_state(out, &vmstate_ctrl_msg, m, errp);
    }
    g_free(m);
    return ok;
}

/* The messages replace the queue only once all of them are read. */
static bool ctrl_pending_load(VMStateReader *in, void *opaque, GError **errp)
{
    VirtIOSerial *s = opaque;
    g_autofree CtrlMsgState *m = g_new(CtrlMsgState, 1);
    GQueue q = G_QUEUE_INIT;
    uint32_t n;

    if (!vmstate_get_u32(in, &n, errp)) {
        return false;
    }
    /* ctrl_queue queues nothing before DEVICE_READY, a reset drops all */
    if (n && !s->device_ready) {
        g_set_error(errp, VIREO_ERROR, 0, "%u control messages for a driver "
                    "that did not send DEVICE_READY", n);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        bool ok = vmstate_load_state(in, &vmstate_ctrl_msg, m, errp);
        if (ok && m->len < CTRL_MSG_SIZE) {
            g_set_error(errp, VIREO_ERROR, 0, "control message %u has %u "
                        "bytes, under the %d of its header", i, m->len,
                        CTRL_MSG_SIZE);
            ok = false;
        }
        if (!ok) {
            g_queue_clear_full(&q, (GDestroyNotify)g_byte_array_unref);
            return false;
        }
        GByteArray *msg = g_byte_array_sized_new(m->len);
        g_byte_array_append(msg, m->data, m->len);
        g_queue_push_tail(&q, msg);
    }
    ctrl_clear(s);
    s->ctrl_pending = q;
    return true;
}

static const VMStateInfo vmstate_info_ctrl_pending = {
    .name = "virtio-serial-ctrl-pending",
    .save = ctrl_pending_save,
    .load = ctrl_pending_load,
    .vmsd = &vmstate_ctrl_msg,
};

/* A port's state, as the stream carries it. */
typedef struct PortState {
    uint32_t nr;
    bool guest_ready;
    bool guest_connected;
    bool host_connected;
    uint32_t rx_len;
    uint8_t rx[PORT_RX_CHUNK];  /* rx_pending: less than one read */
} PortState;

static const VMStateField port_fields[] = {
    VMSTATE_UINT32(nr, PortState),
    VMSTATE_BOOL(guest_ready, PortState),
    VMSTATE_BOOL(guest_connected, PortState),
    VMSTATE_BOOL(host_connected, PortState),
    VMSTATE_VBUFFER(rx, PortState, rx_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_serial_port = {
    .name = "virtio-serial-port",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = port_fields,
};

static uint32_t port_count(VirtIOSerial *s)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < s->max_ports; i++) {
        n += s->ports[i] != NULL;
    }
    return n;
}

/* A u32 count, then the ports by increasing number. */
static bool ports_save(GByteArray *out, void *opaque, GError **errp)
{
    VirtIOSerial *s = opaque;
    g_autofree PortState *ps = g_new(PortState, 1);

    vmstate_put_u32(out, port_count(s));
    for (uint32_t i = 0; i < s->max_ports; i++) {
        VirtIOSerialPort *p = s->ports[i];
        if (!p) {
            continue;
        }
        if (p->rx_pending->len > sizeof(ps->rx)) {
            /* port_can_receive asks for one read while none waits */
            g_set_error(errp, VIREO_ERROR, 0, "port %u: %u bytes of input "
                        "wait, over the %zu a stream holds", i,
                        p->rx_pending->len, sizeof(ps->rx));
            return false;
        }
        *ps = (PortState){
            .nr = i,
            .guest_ready = p->guest_ready,
            .guest_connected = p->guest_connected,
            .host_connected = p->host_connected,
            .rx_len = p->rx_pending->len,
        };
        if (p->rx_pending->len) {
            memcpy(ps->rx, p->rx_pending->data, p->rx_pending->len);
        }
        if (!vmstate_save_state(out, &vmstate_serial_port, ps, errp)) {
            return false;
        }
    }
    return true;
}

/*
 * Every port of the stream must be a port here, and the other way round;
 * all are read before any changes. A host side that is connected here
 * but was not there (or the reverse) is told to the driver.
 */
static bool ports_load(VMStateReader *in, void *opaque, GError **errp)
{
    VirtIOSerial *s = opaque;
    g_autofree PortState *ps = NULL;
    uint32_t n, here = port_count(s);

    if (!vmstate_get_u32(in, &n, errp)) {
        return false;
    }
    if (n != here) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has %u ports, %s has "
                    "%u", n, s->bus_name, here);
        return false;
    }
    ps = g_new(PortState, n ? n : 1);
    for (uint32_t i = 0; i < n; i++) {
        if (!vmstate_load_state(in, &vmstate_serial_port, &ps[i], errp)) {
            g_prefix_error(errp, "port %u: ", i);
            return false;
        }
        if (ps[i].nr >= s->max_ports || !s->ports[ps[i].nr] ||
            (i && ps[i].nr <= ps[i - 1].nr)) {
            g_set_error(errp, VIREO_ERROR, 0, "the stream's port %u is not "
                        "a port of %s, or not in order", ps[i].nr,
                        s->bus_name);
            return false;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        VirtIOSerialPort *p = s->ports[ps[i].nr];
        p->guest_ready = ps[i].guest_ready;
        p->guest_connected = ps[i].guest_connected;
        g_byte_array_set_size(p->rx_pending, 0);
        g_byte_array_append(p->rx_pending, ps[i].rx, ps[i].rx_len);
        if (p->guest_ready && ps[i].host_connected != p->host_connected) {
            ctrl_queue(s, p->nr, VIRTIO_CONSOLE_PORT_OPEN, p->host_connected,
                       NULL, 0);
        }
    }
    return true;
}

static const VMStateInfo vmstate_info_serial_ports = {
    .name = "virtio-serial-ports",
    .save = ports_save,
    .load = ports_load,
    .vmsd = &vmstate_serial_port,
};

/* Once the loaded VM runs: the control messages that wait for buffers. */
static void vser_resume(void *opaque, bool running)
{
    VirtIOSerial *s = opaque;

    if (running) {
        vm_del_state_change_handler(s->resume_entry);
        s->resume_entry = NULL;
        ctrl_flush(s);
    }
}

/*
 * Nothing reaches the guest during the load (its CPUs' state may come
 * after the devices'): input resumes, and queued control messages go out
 * when the VM runs.
 */
static bool vser_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIOSerial *s = opaque;

    for (uint32_t i = 0; i < s->max_ports; i++) {
        VirtIOSerialPort *p = s->ports[i];
        if (p && !p->rx_pending->len && port_rx_open(p)) {
            chardev_accept_input(p->chr);
        }
    }
    if (!g_queue_is_empty(&s->ctrl_pending) && !s->resume_entry) {
        s->resume_entry = vm_add_state_change_handler(vser_resume, s);
    }
    return true;
}

static const VMStateField virtio_serial_fields[] = {
    VMSTATE_BOOL(device_ready, VirtIOSerial),
    VMSTATE_CUSTOM("ctrl_pending", vmstate_info_ctrl_pending),
    VMSTATE_CUSTOM("ports", vmstate_info_serial_ports),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_virtio_serial = {
    .name = "virtio-serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_serial_fields,
    .post_load = vser_post_load,
};

/* ---- virtio-serial-device: on a virtio-mmio transport ---- */

typedef struct VirtIOSerialDevice {
    Device parent;
    VirtIOSerial vser;
} VirtIOSerialDevice;

static bool virtio_serial_device_realize(Device *dev, Machine *m,
                                         GError **errp)
{
    VirtIOSerialDevice *s = (VirtIOSerialDevice *)dev;

    if (!virtio_serial_init(&s->vser, m, dev->id, errp)) {
        return false;
    }
    if (!virtio_mmio_plug(m, &s->vser.vdev, dev->cls->name, errp)) {
        virtio_serial_fini(&s->vser);
        return false;
    }
    return true;
}

static void virtio_serial_device_unrealize(Device *dev)
{
    VirtIOSerialDevice *s = (VirtIOSerialDevice *)dev;

    virtio_mmio_unplug(&s->vser.vdev);
    virtio_serial_fini(&s->vser);
}

static const VMStateField virtio_serial_device_fields[] = {
    VMSTATE_STRUCT(vser, VirtIOSerialDevice, vmstate_virtio_serial,
                   VirtIOSerial),
    VMSTATE_END_OF_LIST(),
};

/* The virtio device itself is in its virtio-mmio transport's section. */
static const VMStateDescription vmstate_virtio_serial_device = {
    .name = "virtio-serial-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_serial_device_fields,
};

static const Property virtio_serial_device_props[] = {
    VIRTIO_SERIAL_PROPS(VirtIOSerialDevice, vser),
    PROP_END,
};

static DeviceClass virtio_serial_device_class = {
    .name = "virtio-serial-device",
    .desc = "virtio console/serial bus (virtio-mmio)",
    .bus = VIRTIO_MMIO_BUS,
    .instance_size = sizeof(VirtIOSerialDevice),
    .props = virtio_serial_device_props,
    .user_creatable = true,
    .realize = virtio_serial_device_realize,
    .unrealize = virtio_serial_device_unrealize,
    .vmsd = &vmstate_virtio_serial_device,
};
DEVICE_REGISTER(virtio_serial_device_class)

/* ---- virtio-serial-pci ---- */

typedef struct VirtIOSerialPCI {
    VirtIOPCIProxy proxy;
    VirtIOSerial vser;
} VirtIOSerialPCI;

static bool virtio_serial_pci_realize(Device *dev, Machine *m, GError **errp)
{
    VirtIOSerialPCI *s = (VirtIOSerialPCI *)dev;

    if (!virtio_serial_init(&s->vser, m, dev->id, errp)) {
        return false;
    }
    /* QEMU's class: other communication controller */
    if (!virtio_pci_plug(&s->proxy, &s->vser.vdev, m, 0x078000, errp)) {
        virtio_serial_fini(&s->vser);
        return false;
    }
    return true;
}

static void virtio_serial_pci_reset(Device *dev)
{
    virtio_pci_reset(&((VirtIOSerialPCI *)dev)->proxy);
}

static void virtio_serial_pci_unrealize(Device *dev)
{
    VirtIOSerialPCI *s = (VirtIOSerialPCI *)dev;

    virtio_pci_unplug(&s->proxy);
    virtio_serial_fini(&s->vser);
}

static const VMStateField virtio_serial_pci_fields[] = {
    VMSTATE_STRUCT(proxy, VirtIOSerialPCI, vmstate_virtio_pci,
                   VirtIOPCIProxy),
    VMSTATE_STRUCT(vser, VirtIOSerialPCI, vmstate_virtio_serial,
                   VirtIOSerial),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_virtio_serial_pci = {
    .name = "virtio-serial-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_serial_pci_fields,
};

static const Property virtio_serial_pci_props[] = {
    VIRTIO_PCI_PROPS(VirtIOSerialPCI, proxy),
    VIRTIO_SERIAL_PROPS(VirtIOSerialPCI, vser),
    PROP_END,
};

static DeviceClass virtio_serial_pci_class = {
    .name = "virtio-serial-pci",
    .desc = "virtio console/serial bus (PCI)",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(VirtIOSerialPCI),
    .props = virtio_serial_pci_props,
    .user_creatable = true,
    .realize = virtio_serial_pci_realize,
    .reset = virtio_serial_pci_reset,
    .unrealize = virtio_serial_pci_unrealize,
    .vmsd = &vmstate_virtio_serial_pci,
};
DEVICE_REGISTER(virtio_serial_pci_class)
