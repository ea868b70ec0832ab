/*
 * virtio-serial driven from the driver's side, as Linux's virtio_console
 * does it: the MULTIPORT handshake over the control queues, data both ways
 * between the ports' queues and unix-socket chardevs (with flow control
 * when the guest has no buffers or the host does not read), guest and host
 * open/close, a hostile driver, device reset, and the -device errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "chardev/char.h"
#include "hw/i386/x86.h"
#include "hw/virtio/virtio-serial.h"
#include "util/le.h"
#include "util/opts.h"

#define RAM_SIZE    0x400000
#define QSIZE       16
#define MAX_PORTS   4
#define NQ          (2 * (MAX_PORTS + 1))
/* queue q: descriptors, driver area, device area */
#define RING(q)     (0x1000 + (q) * 0x1000)
#define AVAIL(q)    (RING(q) + 0x400)
#define USED(q)     (RING(q) + 0x800)
/* each queue's buffer slot i, 2 KiB */
#define SLOT_SIZE   0x800
#define SLOT(q, i)  (0x20000 + (q) * QSIZE * SLOT_SIZE + (i) * SLOT_SIZE)
/* bulk transmit buffers */
#define BIG         0x100000
#define BIG_LEN     0x10000

#define CTRL_RXQ    2
#define CTRL_TXQ    3

#define F_MULTIPORT 1
enum { DEVICE_READY, DEVICE_ADD, DEVICE_REMOVE, PORT_READY, CONSOLE_PORT,
       RESIZE, PORT_OPEN, PORT_NAME };

typedef struct TQueue {
    uint16_t avail_idx;
    uint16_t last_used;
} TQueue;

typedef struct Fixture {
    Machine *m;
    MemoryRegion sysmem;
    uint8_t *ram;
    VirtIOSerial vser;
    TQueue q[NQ];
    int notifies;
} Fixture;

typedef struct Msg {
    uint32_t id;
    uint16_t event;
    uint16_t value;
    char name[300];
} Msg;

static char *tmpdir;
static unsigned chardev_count;

/* Runs the main context until cond holds or 5 s pass. */
#define SPIN_UNTIL(cond)                                                 \
    do {                                                                 \
        gint64 deadline_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;  \
        while (!(cond) && g_get_monotonic_time() < deadline_) {          \
            g_main_context_iteration(NULL, FALSE);                       \
            g_usleep(500);                                               \
        }                                                                \
        g_assert_true(cond);                                             \
    } while (0)

static void spin_for_ms(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(500);
    }
}

static void count_notify(VirtIODevice *vdev, VirtQueue *vq)
{
    Fixture *f = container_of(vdev, Fixture, vser.vdev);
    f->notifies++;
}

static Machine *machine_new(MemoryRegion *sysmem)
{
    Machine *m = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;

    memory_region_init_container(sysmem, "system", UINT64_MAX);
    m->sysmem = sysmem;
    g_assert_true(memory_region_init_ram(&m->ram, "ram", RAM_SIZE, &err));
    memory_region_add_subregion(m->sysmem, 0, &m->ram);
    address_space_init(&m->as_mem, m->sysmem, "memory");
    return m;
}

static void machine_free(Machine *m, MemoryRegion *sysmem)
{
    /* as machine_destroy: devices in creation order */
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    address_space_destroy(&m->as_mem);
    memory_region_del_subregion(m->sysmem, &m->ram);
    memory_region_destroy(&m->ram);
    memory_region_destroy(sysmem);
    g_free(m);
}

/* A bus with MAX_PORTS ports on a bare machine, no driver yet. */
static void setup(Fixture *f)
{
    g_autoptr(GError) err = NULL;

    memset(f, 0, sizeof(*f));
    f->m = machine_new(&f->sysmem);
    f->ram = memory_region_get_ram_ptr(&f->m->ram);
    f->vser.max_ports = MAX_PORTS;
    g_assert_true(virtio_serial_init(&f->vser, f->m, "vser0", &err));
    g_assert_no_error(err);
    f->vser.vdev.notify = count_notify;
}

static void teardown(Fixture *f)
{
    /* the bus goes first, then the ports, as when the machine goes */
    virtio_serial_fini(&f->vser);
    machine_free(f->m, &f->sysmem);
}

/* A unix-socket server chardev with extra options; returns its id. */
static char *new_socket_chardev_opts(char **path, const char *extra)
{
    g_autoptr(GError) err = NULL;
    char *id = g_strdup_printf("vs%u", chardev_count++);
    *path = g_strdup_printf("%s/%s.sock", tmpdir, id);
    g_autofree char *opts = g_strdup_printf(
        "socket,id=%s,path=%s,server=on,wait=off%s", id, *path, extra);

    g_assert_nonnull(chardev_new_from_opts(opts, &err));
    g_assert_no_error(err);
    return id;
}

/* A unix-socket server chardev; returns its id, path in *path. */
static char *new_socket_chardev(char **path)
{
    return new_socket_chardev_opts(path, "");
}

/* Connects a client to the chardev id at path and waits for the accept. */
static int client_connect(const char *id, const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), ==,
                    0);
    g_assert_cmpint(fcntl(fd, F_SETFL, O_NONBLOCK), ==, 0);
    SPIN_UNTIL(chardev_is_connected(chardev_find(id)));
    return fd;
}

/* -device TYPE,OPTS; asserts success. */
static Device *add_port(Fixture *f, const char *opts)
{
    g_autoptr(GError) err = NULL;
    Device *d = device_create_from_opts(f->m, opts, &err);

    g_assert_no_error(err);
    g_assert_nonnull(d);
    return d;
}

/* -device TYPE,OPTS on machine m; asserts an error containing what. */
static void expect_port_error(Machine *m, const char *opts, const char *what)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(device_create_from_opts(m, opts, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, what)) {
        g_error("'%s' gave '%s', expected '%s'", opts, err->message, what);
    }
}

/* ---- the driver's side of the rings ---- */

static void put_desc(Fixture *f, int q, unsigned i, uint64_t addr,
                     uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = f->ram + RING(q) + 16 * i;

    st64(p, addr);
    st32(p + 8, len);
    st16(p + 12, flags);
    st16(p + 14, next);
}

/* Makes one buffer available; the descriptor is the ring slot. */
static unsigned q_add(Fixture *f, int q, uint64_t addr, uint32_t len,
                      bool writable)
{
    TQueue *t = &f->q[q];
    unsigned slot = t->avail_idx % QSIZE;

    put_desc(f, q, slot, addr, len, writable ? VIRTQ_DESC_F_WRITE : 0, 0);
    st16(f->ram + AVAIL(q) + 4 + 2 * slot, slot);
    st16(f->ram + AVAIL(q) + 2, ++t->avail_idx);
    return slot;
}

static void q_kick(Fixture *f, int q)
{
    virtio_queue_notify(&f->vser.vdev, q);
}

/* The next used buffer of q, if any: its descriptor and length. */
static bool q_used(Fixture *f, int q, unsigned *desc, uint32_t *len)
{
    TQueue *t = &f->q[q];
    const uint8_t *e;

    if (ld16(f->ram + USED(q) + 2) == t->last_used) {
        return false;
    }
    e = f->ram + USED(q) + 4 + 8 * (t->last_used % QSIZE);
    *desc = ld32(e);
    *len = ld32(e + 4);
    t->last_used++;
    return true;
}

static unsigned q_pending_used(Fixture *f, int q)
{
    return (uint16_t)(ld16(f->ram + USED(q) + 2) - f->q[q].last_used);
}

/* Negotiates VERSION_1 plus extra, sets every queue up, DRIVER_OK. */
static void driver_start(Fixture *f, uint64_t extra)
{
    VirtIODevice *vdev = &f->vser.vdev;
    uint64_t feat = (1ULL << VIRTIO_F_VERSION_1) | extra;

    memset(f->q, 0, sizeof(f->q));
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER);
    virtio_set_driver_features(vdev, 0, feat);
    virtio_set_driver_features(vdev, 1, feat >> 32);
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_true(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
    for (int q = 0; q < NQ; q++) {
        VirtQueue *vq = &vdev->vq[q];
        memset(f->ram + RING(q), 0, 0x1000);
        vq->num = QSIZE;
        vq->desc = RING(q);
        vq->avail = AVAIL(q);
        vq->used = USED(q);
        virtio_queue_set_ready(vdev, q, true);
        g_assert_true(vq->ready);
    }
    virtio_set_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
}

static int rxq(uint32_t nr)
{
    return nr == 0 ? 0 : 2 * nr + 2;
}

/* Posts n receive buffers of len bytes on q (and kicks). */
static void post_rx(Fixture *f, int q, int n, uint32_t len)
{
    for (int i = 0; i < n; i++) {
        unsigned slot = f->q[q].avail_idx % QSIZE;
        q_add(f, q, SLOT(q, slot), len, true);
    }
    q_kick(f, q);
}

/* Sends a control message, as a buffer of len bytes (8 normally). */
static void ctrl_send_len(Fixture *f, uint32_t id, uint16_t event,
                          uint16_t value, uint32_t len)
{
    unsigned slot = f->q[CTRL_TXQ].avail_idx % QSIZE;
    uint8_t *p = f->ram + SLOT(CTRL_TXQ, slot);

    st32(p, id);
    st16(p + 4, event);
    st16(p + 6, value);
    q_add(f, CTRL_TXQ, SLOT(CTRL_TXQ, slot), len, false);
    q_kick(f, CTRL_TXQ);
}

static void ctrl_send(Fixture *f, uint32_t id, uint16_t event, uint16_t value)
{
    ctrl_send_len(f, id, event, value, 8);
}

/* The next control message for the driver, if any; reposts the buffer. */
static bool ctrl_recv(Fixture *f, Msg *msg)
{
    unsigned desc;
    uint32_t len;

    if (!q_used(f, CTRL_RXQ, &desc, &len)) {
        return false;
    }
    g_assert_cmpuint(len, >=, 8);
    const uint8_t *p = f->ram + SLOT(CTRL_RXQ, desc);
    memset(msg, 0, sizeof(*msg));
    msg->id = ld32(p);
    msg->event = ld16(p + 4);
    msg->value = ld16(p + 6);
    memcpy(msg->name, p + 8, MIN(len - 8, sizeof(msg->name) - 1));
    post_rx(f, CTRL_RXQ, 1, SLOT_SIZE);
    return true;
}

static void expect_msg(Fixture *f, uint32_t id, uint16_t event,
                       uint16_t value)
{
    Msg msg;

    g_assert_true(ctrl_recv(f, &msg));
    g_assert_cmpuint(msg.id, ==, id);
    g_assert_cmpuint(msg.event, ==, event);
    g_assert_cmpuint(msg.value, ==, value);
}

static void expect_no_msg(Fixture *f)
{
    Msg msg;

    if (ctrl_recv(f, &msg)) {
        g_error("unexpected control message id %u event %u value %u",
                msg.id, msg.event, msg.value);
    }
}

/* Driver start with MULTIPORT, DEVICE_READY, and the ports it expects. */
static void handshake(Fixture *f, const uint32_t *ports, int n)
{
    driver_start(f, 1ULL << F_MULTIPORT);
    post_rx(f, CTRL_RXQ, 8, SLOT_SIZE);
    ctrl_send(f, 0xffffffff, DEVICE_READY, 1);
    for (int i = 0; i < n; i++) {
        expect_msg(f, ports[i], DEVICE_ADD, 1);
    }
    expect_no_msg(f);
}

/* PORT_READY for nr with rx_buffers receive buffers of buf_len posted. */
static void port_ready(Fixture *f, uint32_t nr, int rx_buffers,
                       uint32_t buf_len)
{
    if (rx_buffers) {
        post_rx(f, rxq(nr), rx_buffers, buf_len);
    }
    ctrl_send(f, nr, PORT_READY, 1);
}

/* Takes what arrived on nr's receiveq into out; reposts the buffers. */
static void collect_rx(Fixture *f, uint32_t nr, GByteArray *out,
                       uint32_t repost_len)
{
    int q = rxq(nr);
    unsigned desc;
    uint32_t len;
    int n = 0;

    while (q_used(f, q, &desc, &len)) {
        g_assert_cmpuint(len, <=, SLOT_SIZE);
        g_byte_array_append(out, f->ram + SLOT(q, desc), len);
        n++;
    }
    if (n && repost_len) {
        post_rx(f, q, n, repost_len);
    }
}

/* Reads what the client socket has now. */
static void client_read(int fd, GByteArray *out)
{
    uint8_t buf[65536];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_byte_array_append(out, buf, n);
    }
    g_assert_true(n == 0 || errno == EAGAIN);
}

static void client_write(int fd, const void *buf, size_t len)
{
    g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (i * 31 + seed + i / 251) & 0xff;
    }
}

/* ---- tests ---- */

static void test_config_and_features(void)
{
    Fixture f;
    VirtIODevice *vdev;

    setup(&f);
    vdev = &f.vser.vdev;
    g_assert_cmpuint(vdev->ops->device_id, ==, VIRTIO_ID_CONSOLE);
    g_assert_cmpuint(vdev->ops->num_queues, ==, NQ);
    g_assert_true(virtio_get_device_features(vdev, 0) & (1u << F_MULTIPORT));
    /* cols, rows 0; max_nr_ports */
    g_assert_cmpuint(virtio_config_read(vdev, 0, 2), ==, 0);
    g_assert_cmpuint(virtio_config_read(vdev, 2, 2), ==, 0);
    g_assert_cmpuint(virtio_config_read(vdev, 4, 4), ==, MAX_PORTS);
    teardown(&f);
}

/* DEVICE_READY, DEVICE_ADD, PORT_READY, CONSOLE_PORT, PORT_NAME, PORT_OPEN. */
static void test_multiport_handshake(void)
{
    g_autofree char *p0 = NULL, *p1 = NULL, *p3 = NULL;
    Fixture f;

    setup(&f);
    g_autofree char *c0 = new_socket_chardev(&p0);
    g_autofree char *c1 = new_socket_chardev(&p1);
    g_autofree char *c3 = new_socket_chardev(&p3);
    g_autofree char *o0 = g_strdup_printf("virtconsole,chardev=%s", c0);
    g_autofree char *o1 = g_strdup_printf(
        "virtserialport,chardev=%s,name=org.vireo.one", c1);
    g_autofree char *o3 = g_strdup_printf(
        "virtserialport,chardev=%s,name=third,nr=3,bus=vser0.0", c3);
    int fd0 = client_connect(c0, p0);
    add_port(&f, o0);
    add_port(&f, o1);
    add_port(&f, o3);

    const uint32_t ports[] = { 0, 1, 3 };
    handshake(&f, ports, 3);

    /* the first console is port 0, the host is connected to it */
    port_ready(&f, 0, 2, SLOT_SIZE);
    expect_msg(&f, 0, CONSOLE_PORT, 1);
    expect_msg(&f, 0, PORT_OPEN, 1);
    expect_no_msg(&f);

    Msg msg;
    port_ready(&f, 1, 2, SLOT_SIZE);
    g_assert_true(ctrl_recv(&f, &msg));
    g_assert_cmpuint(msg.id, ==, 1);
    g_assert_cmpuint(msg.event, ==, PORT_NAME);
    g_assert_cmpstr(msg.name, ==, "org.vireo.one");
    expect_no_msg(&f);      /* no client yet: not open */

    port_ready(&f, 3, 0, 0);
    g_assert_true(ctrl_recv(&f, &msg));
    g_assert_cmpuint(msg.id, ==, 3);
    g_assert_cmpuint(msg.event, ==, PORT_NAME);
    g_assert_cmpstr(msg.name, ==, "third");
    expect_no_msg(&f);

    /* host side connects and leaves: PORT_OPEN 1, then 0 */
    ctrl_send(&f, 1, PORT_OPEN, 1);
    int fd1 = client_connect(c1, p1);
    expect_msg(&f, 1, PORT_OPEN, 1);
    close(fd1);
    SPIN_UNTIL(!chardev_is_connected(chardev_find(c1)));
    expect_msg(&f, 1, PORT_OPEN, 0);
    expect_no_msg(&f);
    g_assert_cmpint(f.notifies, >, 0);

    /* a client that says something and leaves while the guest has the
     * port closed: its words arrive first, then the close */
    ctrl_send(&f, 1, PORT_OPEN, 0);
    fd1 = client_connect(c1, p1);
    expect_msg(&f, 1, PORT_OPEN, 1);
    client_write(fd1, "bye", 3);
    close(fd1);
    spin_for_ms(50);
    g_assert_cmpuint(q_pending_used(&f, rxq(1)), ==, 0);
    ctrl_send(&f, 1, PORT_OPEN, 1);
    g_autoptr(GByteArray) got = g_byte_array_new();
    SPIN_UNTIL((collect_rx(&f, 1, got, SLOT_SIZE), got->len == 3));
    g_assert_cmpmem(got->data, 3, "bye", 3);
    SPIN_UNTIL(!chardev_is_connected(chardev_find(c1)));
    expect_msg(&f, 1, PORT_OPEN, 0);

    close(fd0);
    teardown(&f);
}

/* Host input waits for the guest's open and buffers; nothing is lost. */
static void test_host_to_guest_flow_control(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    static uint8_t data[40000];
    Fixture f;

    setup(&f);
    g_autofree char *c = new_socket_chardev(&path);
    g_autofree char *o = g_strdup_printf("virtserialport,chardev=%s,name=p",
                                         c);
    add_port(&f, o);
    int fd = client_connect(c, path);
    const uint32_t ports[] = { 1 };
    handshake(&f, ports, 1);
    port_ready(&f, 1, 2, 1024);
    g_assert_true(ctrl_recv(&f, &(Msg){ 0 }));     /* name */
    expect_msg(&f, 1, PORT_OPEN, 1);

    fill_pattern(data, sizeof(data), 7);
    /* before the guest opens the port the bytes stay with the host */
    client_write(fd, data, 3000);
    spin_for_ms(50);
    g_assert_cmpuint(q_pending_used(&f, rxq(1)), ==, 0);

    /* open: two 1 KiB buffers fill, the rest waits for more */
    ctrl_send(&f, 1, PORT_OPEN, 1);
    SPIN_UNTIL(q_pending_used(&f, rxq(1)) == 2);
    spin_for_ms(50);
    collect_rx(&f, 1, got, 0);
    g_assert_cmpuint(got->len, ==, 2048);

    post_rx(&f, rxq(1), 4, 1024);
    SPIN_UNTIL(q_pending_used(&f, rxq(1)) >= 1);
    collect_rx(&f, 1, got, 0);
    g_assert_cmpuint(got->len, ==, 3000);

    /* a stream larger than the ring: arrives whole as the guest reposts */
    client_write(fd, data + 3000, sizeof(data) - 3000);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (got->len < sizeof(data) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        collect_rx(&f, 1, got, 1024);
    }
    g_assert_cmpuint(got->len, ==, sizeof(data));
    g_assert_cmpmem(got->data, got->len, data, sizeof(data));

    close(fd);
    teardown(&f);
}

/* Guest output to a host that stops reading stays in the ring, intact
 * (also through a chardev multiplexer). */
static void test_guest_to_host_flow_control(gconstpointer mux_opts)
{
    g_autofree char *path = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    const size_t total = QSIZE * BIG_LEN;
    Fixture f;

    setup(&f);
    g_autofree char *c = new_socket_chardev_opts(&path, mux_opts);
    g_autofree char *o = g_strdup_printf("virtconsole,chardev=%s", c);
    add_port(&f, o);
    int fd = client_connect(c, path);
    const uint32_t ports[] = { 0 };
    handshake(&f, ports, 1);
    port_ready(&f, 0, 2, SLOT_SIZE);
    expect_msg(&f, 0, CONSOLE_PORT, 1);
    expect_msg(&f, 0, PORT_OPEN, 1);

    /* a small write goes through at once */
    memcpy(f.ram + SLOT(1, 0), "hello", 5);
    q_add(&f, 1, SLOT(1, 0), 5, false);
    q_kick(&f, 1);
    unsigned desc;
    uint32_t len;
    g_assert_true(q_used(&f, 1, &desc, &len));
    SPIN_UNTIL((client_read(fd, got), got->len == 5));
    g_assert_cmpmem(got->data, 5, "hello", 5);
    g_byte_array_set_size(got, 0);

    /* 1 MiB with nobody reading: more than socket and chardev buffers */
    fill_pattern(f.ram + BIG, total, 3);
    for (unsigned i = 0; i < QSIZE; i++) {
        q_add(&f, 1, BIG + i * BIG_LEN, BIG_LEN, false);
    }
    q_kick(&f, 1);
    spin_for_ms(100);
    g_assert_cmpuint(q_pending_used(&f, 1), <, QSIZE);

    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (got->len < total && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        client_read(fd, got);
    }
    g_assert_cmpuint(got->len, ==, total);
    g_assert_cmpmem(got->data, got->len, f.ram + BIG, total);
    SPIN_UNTIL(q_pending_used(&f, 1) == QSIZE);

    close(fd);
    teardown(&f);
}

/* The guest's PORT_OPEN 0/1 gates host input; the host's close lets held
 * output go rather than keep the guest waiting. */
static void test_guest_open_close(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    Fixture f;

    setup(&f);
    g_autofree char *c = new_socket_chardev(&path);
    g_autofree char *o = g_strdup_printf("virtserialport,chardev=%s", c);
    add_port(&f, o);
    int fd = client_connect(c, path);
    const uint32_t ports[] = { 1 };
    handshake(&f, ports, 1);
    port_ready(&f, 1, 4, SLOT_SIZE);
    expect_msg(&f, 1, PORT_OPEN, 1);

    ctrl_send(&f, 1, PORT_OPEN, 1);
    client_write(fd, "one", 3);
    SPIN_UNTIL((collect_rx(&f, 1, got, SLOT_SIZE), got->len == 3));

    ctrl_send(&f, 1, PORT_OPEN, 0);
    client_write(fd, "two", 3);
    spin_for_ms(50);
    collect_rx(&f, 1, got, SLOT_SIZE);
    g_assert_cmpuint(got->len, ==, 3);

    ctrl_send(&f, 1, PORT_OPEN, 1);
    SPIN_UNTIL((collect_rx(&f, 1, got, SLOT_SIZE), got->len == 6));
    g_assert_cmpmem(got->data, 6, "onetwo", 6);

    /* guest output held for a host that does not read is released when
     * the host goes away */
    fill_pattern(f.ram + BIG, QSIZE * BIG_LEN, 1);
    for (unsigned i = 0; i < QSIZE; i++) {
        q_add(&f, 5, BIG + i * BIG_LEN, BIG_LEN, false);
    }
    q_kick(&f, 5);
    spin_for_ms(50);
    g_assert_cmpuint(q_pending_used(&f, 5), <, QSIZE);
    close(fd);
    SPIN_UNTIL(q_pending_used(&f, 5) == QSIZE);
    expect_msg(&f, 1, PORT_OPEN, 0);

    teardown(&f);
}

/* Without MULTIPORT, port 0 is the console and open from DRIVER_OK. */
static void test_single_port(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    Fixture f;

    setup(&f);
    g_autofree char *c = new_socket_chardev(&path);
    g_autofree char *o = g_strdup_printf("virtconsole,chardev=%s", c);
    add_port(&f, o);
    int fd = client_connect(c, path);
    driver_start(&f, 0);
    post_rx(&f, 0, 2, SLOT_SIZE);
    client_write(fd, "in", 2);
    SPIN_UNTIL((collect_rx(&f, 0, got, SLOT_SIZE), got->len == 2));
    g_assert_cmpmem(got->data, 2, "in", 2);

    memcpy(f.ram + SLOT(1, 0), "out", 3);
    q_add(&f, 1, SLOT(1, 0), 3, false);
    q_kick(&f, 1);
    g_byte_array_set_size(got, 0);
    SPIN_UNTIL((client_read(fd, got), got->len == 3));
    g_assert_cmpmem(got->data, 3, "out", 3);

    /* the control queues are not there without the feature */
    q_add(&f, CTRL_TXQ, SLOT(CTRL_TXQ, 0), 8, false);
    q_kick(&f, CTRL_TXQ);
    g_assert_cmpuint(q_pending_used(&f, CTRL_TXQ), ==, 0);
    g_assert_false(f.vser.vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);

    close(fd);
    teardown(&f);
}

/* Malformed control messages and buffers are ignored, the device lives. */
static void test_hostile_driver(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    unsigned desc;
    uint32_t len;
    Fixture f;

    setup(&f);
    g_autofree char *c = new_socket_chardev(&path);
    g_autofree char *o = g_strdup_printf("virtserialport,chardev=%s", c);
    add_port(&f, o);
    int fd = client_connect(c, path);
    const uint32_t ports[] = { 1 };
    handshake(&f, ports, 1);

    ctrl_send_len(&f, 1, PORT_READY, 1, 4);         /* short */
    ctrl_send(&f, 1, 99, 1);                        /* unknown event */
    ctrl_send(&f, 2, PORT_READY, 1);                /* no such port */
    ctrl_send(&f, 77, PORT_OPEN, 1);                /* beyond max_ports */
    ctrl_send(&f, 0xffffffff, PORT_OPEN, 1);
    ctrl_send(&f, 1, CONSOLE_PORT, 1);              /* device's event */
    ctrl_send(&f, 1, PORT_NAME, 1);
    ctrl_send(&f, 0, DEVICE_READY, 1);              /* again */
    ctrl_send(&f, 1, PORT_READY, 0);                /* driver failed */
    /* a control message in a device-writable buffer */
    unsigned slot = f.q[CTRL_TXQ].avail_idx % QSIZE;
    st32(f.ram + SLOT(CTRL_TXQ, slot), 1);
    st16(f.ram + SLOT(CTRL_TXQ, slot) + 4, PORT_READY);
    st16(f.ram + SLOT(CTRL_TXQ, slot) + 6, 1);
    q_add(&f, CTRL_TXQ, SLOT(CTRL_TXQ, slot), 8, true);
    q_kick(&f, CTRL_TXQ);
    /* every one of them was consumed and none was answered */
    g_assert_cmpuint(q_pending_used(&f, CTRL_TXQ), ==, 11);
    expect_no_msg(&f);

    /* data on the transmit queue of a port that does not exist (port 2) */
    q_add(&f, 7, SLOT(7, 0), 16, false);
    q_kick(&f, 7);
    g_assert_true(q_used(&f, 7, &desc, &len));
    /* queues that do not exist */
    q_kick(&f, NQ);
    q_kick(&f, 0xffff);

    /* the port still comes up */
    port_ready(&f, 1, 0, 0);
    expect_msg(&f, 1, PORT_OPEN, 1);
    ctrl_send(&f, 1, PORT_READY, 1);                /* twice: ignored */
    expect_no_msg(&f);
    ctrl_send(&f, 1, PORT_OPEN, 1);

    /* a device-readable receive buffer is returned empty, data goes on
     * into the next good one */
    q_add(&f, rxq(1), SLOT(rxq(1), 0), 64, false);
    q_add(&f, rxq(1), SLOT(rxq(1), 1), 64, true);
    q_kick(&f, rxq(1));
    client_write(fd, "data", 4);
    SPIN_UNTIL(q_pending_used(&f, rxq(1)) == 2);
    g_assert_true(q_used(&f, rxq(1), &desc, &len));
    g_assert_cmpuint(len, ==, 0);
    g_assert_true(q_used(&f, rxq(1), &desc, &len));
    g_assert_cmpuint(len, ==, 4);
    g_assert_cmpmem(f.ram + SLOT(rxq(1), desc), 4, "data", 4);

    /* a device-writable transmit buffer is dropped, the next one sent */
    memcpy(f.ram + SLOT(5, 0), "bad", 3);
    memcpy(f.ram + SLOT(5, 1), "good", 4);
    q_add(&f, 5, SLOT(5, 0), 3, true);
    q_add(&f, 5, SLOT(5, 1), 4, false);
    q_kick(&f, 5);
    g_assert_cmpuint(q_pending_used(&f, 5), ==, 2);
    SPIN_UNTIL((client_read(fd, got), got->len == 4));
    g_assert_cmpmem(got->data, 4, "good", 4);

    post_rx(&f, rxq(1), 1, SLOT_SIZE);  /* so the close is read */
    close(fd);
    SPIN_UNTIL(!chardev_is_connected(chardev_find(c)));
    expect_msg(&f, 1, PORT_OPEN, 0);
    g_assert_false(f.vser.vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);

    /* ring corruption: the avail index runs past the ring */
    st16(f.ram + AVAIL(5) + 2, f.q[5].avail_idx + QSIZE + 1);
    q_kick(&f, 5);
    g_assert_true(f.vser.vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    teardown(&f);
}

/* A reset closes the ports and drops host input held for the guest. */
static void test_reset(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    static uint8_t data[3000];
    Fixture f;

    setup(&f);
    g_autofree char *c = new_socket_chardev(&path);
    g_autofree char *o = g_strdup_printf("virtserialport,chardev=%s", c);
    add_port(&f, o);
    int fd = client_connect(c, path);
    const uint32_t ports[] = { 1 };
    handshake(&f, ports, 1);
    port_ready(&f, 1, 1, 1024);
    expect_msg(&f, 1, PORT_OPEN, 1);
    ctrl_send(&f, 1, PORT_OPEN, 1);
    fill_pattern(data, sizeof(data), 9);
    client_write(fd, data, sizeof(data));
    SPIN_UNTIL(q_pending_used(&f, rxq(1)) == 1);
    spin_for_ms(20);

    virtio_set_status(&f.vser.vdev, 0);
    g_assert_cmpuint(f.vser.vdev.status, ==, 0);

    /* after a new handshake the port is closed until the guest opens it */
    handshake(&f, ports, 1);
    port_ready(&f, 1, 4, SLOT_SIZE);
    expect_msg(&f, 1, PORT_OPEN, 1);
    client_write(fd, "after", 5);
    spin_for_ms(50);
    g_assert_cmpuint(q_pending_used(&f, rxq(1)), ==, 0);
    ctrl_send(&f, 1, PORT_OPEN, 1);
    SPIN_UNTIL((collect_rx(&f, 1, got, SLOT_SIZE), got->len >= 5));
    spin_for_ms(20);
    collect_rx(&f, 1, got, SLOT_SIZE);
    g_assert_cmpuint(got->len, ==, 5);
    g_assert_cmpmem(got->data, 5, "after", 5);

    close(fd);
    teardown(&f);
}

/* -device mistakes get a message naming what is wrong. */
static void test_user_errors(void)
{
    g_autofree char *p0 = NULL, *p1 = NULL, *p2 = NULL;
    g_autoptr(GError) err = NULL;
    MemoryRegion sysmem;
    Fixture f;

    g_autofree char *c0 = new_socket_chardev(&p0);
    g_autofree char *c1 = new_socket_chardev(&p1);
    g_autofree char *c2 = new_socket_chardev(&p2);
    g_autofree char *o = NULL;

    /* no virtio-serial device on the machine */
    Machine *bare = machine_new(&sysmem);
    o = g_strdup_printf("virtconsole,chardev=%s", c0);
    expect_port_error(bare, o, "no virtio-serial bus");
    machine_free(bare, &sysmem);

    setup(&f);
    expect_port_error(f.m, "virtserialport", "property 'chardev' is required");
    expect_port_error(f.m, "virtconsole,chardev=nosuch",
                      "chardev 'nosuch' not found");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,nr=4", c0);
    expect_port_error(f.m, o, "nr=4 is out of range");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,nr=0", c0);
    expect_port_error(f.m, o, "nr=0 is reserved for a virtconsole");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,bus=vser9.0", c0);
    expect_port_error(f.m, o, "bus 'vser9.0' not found");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,name=", c0);
    expect_port_error(f.m, o, "name must be");

    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,name=dup,nr=2", c0);
    add_port(&f, o);
    expect_port_error(f.m, o, "is already in use by another device");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,name=dup", c1);
    expect_port_error(f.m, o, "a port named 'dup' already exists");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,nr=2", c1);
    expect_port_error(f.m, o, "nr=2 is already in use");
    /* ports 1 and 3 are left; a console without nr= takes port 0 */
    g_free(o);
    o = g_strdup_printf("virtconsole,chardev=%s", c1);
    add_port(&f, o);
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,id=a", c2);
    Device *a = add_port(&f, o);
    g_assert_cmpstr(a->id, ==, "a");
    teardown(&f);

    /* max_ports out of range */
    Fixture g;
    memset(&g, 0, sizeof(g));
    g.m = machine_new(&g.sysmem);
    g.vser.max_ports = 0;
    g_assert_false(virtio_serial_init(&g.vser, g.m, NULL, &err));
    g_assert_nonnull(strstr(err->message, "max_ports=0"));
    g_clear_error(&err);
    g.vser.max_ports = VIRTIO_SERIAL_MAX_PORTS + 1;
    g_assert_false(virtio_serial_init(&g.vser, g.m, NULL, &err));
    g_clear_error(&err);
    /* a bus with no id is virtio-serial-bus.0; max_ports=1 has no room
     * but for a console */
    g.vser.max_ports = 1;
    g_assert_true(virtio_serial_init(&g.vser, g.m, NULL, &err));
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,bus=virtio-serial-bus.0",
                        c2);
    expect_port_error(g.m, o, "all ports of virtio-serial-bus.0 are in use");
    g_free(o);
    o = g_strdup_printf("virtserialport,chardev=%s,nr=1", c0);
    expect_port_error(g.m, o, "out of range");
    virtio_serial_fini(&g.vser);
    machine_free(g.m, &g.sysmem);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("vser-XXXXXX", &err);
    g_assert_no_error(err);
    g_test_add_func("/virtio-serial/config-and-features",
                    test_config_and_features);
    g_test_add_func("/virtio-serial/multiport-handshake",
                    test_multiport_handshake);
    g_test_add_func("/virtio-serial/host-to-guest-flow-control",
                    test_host_to_guest_flow_control);
    g_test_add_data_func("/virtio-serial/guest-to-host-flow-control", "",
                         test_guest_to_host_flow_control);
    g_test_add_data_func("/virtio-serial/guest-to-host-flow-control-mux",
                         ",mux=on", test_guest_to_host_flow_control);
    g_test_add_func("/virtio-serial/guest-open-close",
                    test_guest_open_close);
    g_test_add_func("/virtio-serial/single-port", test_single_port);
    g_test_add_func("/virtio-serial/hostile-driver", test_hostile_driver);
    g_test_add_func("/virtio-serial/reset", test_reset);
    g_test_add_func("/virtio-serial/user-errors", test_user_errors);
    ret = g_test_run();
    chardev_cleanup_all();
    g_rmdir(tmpdir);
    return ret;
}
