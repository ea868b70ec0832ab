/*
 * Network core and -netdev user without a guest: frame queueing between
 * peers, and libslirp answering DHCP and ARP and forwarding a host port,
 * as a NIC model would see it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "net/net.h"
#include "system/runstate.h"
#include "system/timer.h"

/* ---- a fake NIC ---- */

typedef struct FakeNic {
    bool ready;
    GPtrArray *frames;      /* GBytes */
} FakeNic;

static bool nic_can_receive(NetClient *nc)
{
    return ((FakeNic *)nc->opaque)->ready;
}

static bool nic_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    FakeNic *n = nc->opaque;
    g_ptr_array_add(n->frames, g_bytes_new(buf, len));
    return true;
}

static const NetClientOps nic_ops = {
    .type = "nic",
    .can_receive = nic_can_receive,
    .receive = nic_receive,
};

static NetClient *nic_new(FakeNic *n)
{
    n->ready = true;
    n->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    return net_client_new(&nic_ops, "nic0", n);
}

static const uint8_t *frame(FakeNic *n, guint i, gsize *len)
{
    return g_bytes_get_data(g_ptr_array_index(n->frames, i), len);
}

/* ---- the core ---- */

static void test_queue_until_ready_in_order(void)
{
    FakeNic a_state, b_state;
    NetClient *a = nic_new(&a_state), *b = nic_new(&b_state);
    uint8_t f[60] = { 0 };
    gsize len;

    net_send(a, f, sizeof(f));              /* no peer: dropped */
    net_connect(a, b);
    b_state.ready = false;
    for (int i = 0; i < 5; i++) {
        f[0] = i;
        net_send(a, f, sizeof(f));
    }
    g_assert_cmpuint(b_state.frames->len, ==, 0);
    b_state.ready = true;
    f[0] = 5;
    net_send(a, f, sizeof(f));              /* waits behind the queue */
    g_assert_cmpuint(b_state.frames->len, ==, 0);
    net_flush(b);
    g_assert_cmpuint(b_state.frames->len, ==, 6);
    for (guint i = 0; i < 6; i++) {
        g_assert_cmpint(frame(&b_state, i, &len)[0], ==, i);
    }
    /* a receiver that never reads: the queue is bounded */
    b_state.ready = false;
    for (int i = 0; i < NET_QUEUE_MAX_FRAMES + 10; i++) {
        net_send(a, f, sizeof(f));
    }
    g_assert_cmpuint(g_queue_get_length(a->queue), ==, NET_QUEUE_MAX_FRAMES);
    g_assert_cmpuint(a->dropped, ==, 10);
    /* oversized and empty frames never travel */
    net_send(a, f, 0);
    g_assert_cmpuint(a->dropped, ==, 10);
    net_client_free(b);                     /* a's queue for b goes too */
    g_assert_cmpuint(g_queue_get_length(a->queue), ==, 0);
    g_assert_null(a->peer);
    net_client_free(a);
    g_ptr_array_free(a_state.frames, TRUE);
    g_ptr_array_free(b_state.frames, TRUE);
}

/* ---- slirp ---- */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

static size_t build_dhcp_discover(uint8_t *f)
{
    uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
    size_t bootp_len = 240 + 4, udp_len = 8 + bootp_len;

    memset(f, 0, 14 + 20 + udp_len);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08;
    ip[0] = 0x45;
    ip[2] = (20 + udp_len) >> 8;
    ip[3] = (20 + udp_len) & 0xff;
    ip[8] = 64;
    ip[9] = 17;
    memset(ip + 16, 0xff, 4);
    uint16_t c = ip_checksum(ip, 20);
    ip[10] = c >> 8;
    ip[11] = c & 0xff;
    udp[1] = 68;
    udp[3] = 67;
    udp[4] = udp_len >> 8;
    udp[5] = udp_len & 0xff;
    bootp[0] = 1;               /* BOOTREQUEST */
    bootp[1] = 1;
    bootp[2] = 6;
    bootp[4] = 0x12;            /* xid */
    memcpy(bootp + 28, guest_mac, 6);
    bootp[236] = 99;            /* magic cookie */
    bootp[237] = 130;
    bootp[238] = 83;
    bootp[239] = 99;
    bootp[240] = 53;            /* DHCP message type: DISCOVER */
    bootp[241] = 1;
    bootp[242] = 1;
    bootp[243] = 255;
    return 14 + 20 + udp_len;
}

static size_t build_arp_request(uint8_t *f, const char *target)
{
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08;
    f[13] = 0x06;
    uint8_t *a = f + 14;
    a[1] = 1;                   /* Ethernet */
    a[2] = 0x08;                /* IPv4 */
    a[4] = 6;
    a[5] = 4;
    a[7] = 1;                   /* request */
    memcpy(a + 8, guest_mac, 6);
    inet_pton(AF_INET, "10.0.2.15", a + 14);
    inet_pton(AF_INET, target, a + 24);
    return 60;
}

/* Runs the main loop until the NIC got `count` frames or 3 s passed. */
static void wait_frames(FakeNic *n, guint count)
{
    gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

    while (n->frames->len < count && g_get_monotonic_time() < end) {
        bql_unlock();
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
        bql_lock();
    }
}

static void test_slirp_dhcp_offer(void)
{
    g_autoptr(GError) err = NULL;
    NetClient *user = netdev_new_from_opts("user,id=u-dhcp", &err);
    FakeNic n;
    NetClient *nic = nic_new(&n);
    uint8_t f[600];
    gsize len;

    g_assert_no_error(err);
    g_assert_true(netdev_find("u-dhcp") == user);
    net_connect(nic, user);
    net_send(nic, f, build_dhcp_discover(f));
    wait_frames(&n, 1);
    g_assert_cmpuint(n.frames->len, >=, 1);
    const uint8_t *r = frame(&n, 0, &len);
    const uint8_t *ip = r + 14, *udp = ip + 20, *bootp = udp + 8;
    g_assert_cmpuint(len, >, 14 + 20 + 8 + 240);
    /* to the client's MAC or broadcast (it has no address yet) */
    g_assert_true(!memcmp(r, guest_mac, 6) ||
                  !memcmp(r, "\xff\xff\xff\xff\xff\xff", 6));
    g_assert_cmpint(ip[9], ==, 17);
    g_assert_cmpint((udp[0] << 8) | udp[1], ==, 67);
    g_assert_cmpint(bootp[0], ==, 2);                /* BOOTREPLY */
    char yiaddr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, bootp + 16, yiaddr, sizeof(yiaddr));
    g_assert_cmpstr(yiaddr, ==, "10.0.2.15");
    g_assert_cmpint(bootp[240], ==, 53);             /* an OFFER */
    g_assert_cmpint(bootp[242], ==, 2);
    net_client_free(nic);
    g_ptr_array_free(n.frames, TRUE);
}

static void test_slirp_arp_for_router(void)
{
    g_autoptr(GError) err = NULL;
    NetClient *user = netdev_new_from_opts(
        "user,id=u-arp,net=192.168.76.0/24", &err);
    FakeNic n;
    NetClient *nic = nic_new(&n);
    uint8_t f[60];
    gsize len;

    g_assert_no_error(err);
    net_connect(nic, user);
    net_send(nic, f, build_arp_request(f, "192.168.76.2"));
    wait_frames(&n, 1);
    g_assert_cmpuint(n.frames->len, ==, 1);
    const uint8_t *r = frame(&n, 0, &len);
    g_assert_cmpint(r[12], ==, 0x08);
    g_assert_cmpint(r[13], ==, 0x06);
    g_assert_cmpint(r[14 + 7], ==, 2);               /* reply */
    char spa[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, r + 14 + 14, spa, sizeof(spa));
    g_assert_cmpstr(spa, ==, "192.168.76.2");
    net_client_free(nic);
    g_ptr_array_free(n.frames, TRUE);
}

static int free_tcp_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &alen), ==, 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_slirp_hostfwd_reaches_the_guest(void)
{
    g_autoptr(GError) err = NULL;
    int port = free_tcp_port();
    g_autofree char *opts = g_strdup_printf(
        "user,id=u-fwd,hostfwd=tcp:127.0.0.1:%d-:22", port);
    NetClient *user = netdev_new_from_opts(opts, &err);
    FakeNic n;
    NetClient *nic = nic_new(&n);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons(port) };
    int fd;
    gsize len;

    g_assert_no_error(err);
    net_connect(nic, user);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    wait_frames(&n, 1);
    g_assert_cmpuint(n.frames->len, >=, 1);
    /* the connection heads for 10.0.2.15:22: first an ARP who-has */
    const uint8_t *r = frame(&n, 0, &len);
    g_assert_cmpint((r[12] << 8) | r[13], ==, 0x0806);
    char tpa[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, r + 14 + 24, tpa, sizeof(tpa));
    g_assert_cmpstr(tpa, ==, "10.0.2.15");

    /* the port is taken now: a second netdev cannot forward it */
    g_autofree char *again = g_strdup_printf(
        "user,id=u-fwd2,hostfwd=tcp:127.0.0.1:%d-:22", port);
    g_assert_null(netdev_new_from_opts(again, &err));
    g_assert_nonnull(strstr(err->message, "could not set up host "
                                          "forwarding rule"));
    close(fd);
    net_client_free(nic);
    g_ptr_array_free(n.frames, TRUE);
}

static void test_netdev_bad_options(void)
{
    static const struct {
        const char *opts, *msg;
    } cases[] = {
        { "bogus,id=x", "network backend 'bogus' is not supported" },
        { "user", "parameter 'id' is missing" },
        { "user,id=dup1", NULL },
        { "user,id=dup1", "duplicate netdev id 'dup1'" },
        { "user,id=b1,net=10.0.2.300", "net=10.0.2.300: not an IPv4" },
        { "user,id=b2,net=10.0.0.0/31", "prefix length must be 1 to 30" },
        { "user,id=b3,host=10.0.3.2", "host=10.0.3.2 is not in the guest "
                                      "network" },
        { "user,id=b4,hostfwd=tcp:1-2", "invalid host forwarding rule" },
        { "user,id=b5,hostfwd=tcp::99999-:22", "invalid host forwarding" },
        { "user,id=b6,frobnicate=1", "frobnicate" },
        { "user,id=b7,restrict=maybe", "restrict" },
        { "user,id=b8,ipv4=off,ipv6=off", "leave no network" },
        { "user,id=b9,guestfwd=tcp:10.0.2.100:80-cmd:true",
          "guestfwd= is not supported yet" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        NetClient *nc = netdev_new_from_opts(cases[i].opts, &err);
        if (!cases[i].msg) {
            g_assert_no_error(err);
            g_assert_nonnull(nc);
            continue;
        }
        g_assert_null(nc);
        g_assert_nonnull(err);
        if (!strstr(err->message, cases[i].msg)) {
            g_error("%s: got '%s', want '%s'", cases[i].opts, err->message,
                    cases[i].msg);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bql_lock();
    timers_init();
    g_test_add_func("/net/queue-until-ready-in-order",
                    test_queue_until_ready_in_order);
    g_test_add_func("/net/slirp/dhcp-offer", test_slirp_dhcp_offer);
    g_test_add_func("/net/slirp/arp-for-router", test_slirp_arp_for_router);
    g_test_add_func("/net/slirp/hostfwd-reaches-the-guest",
                    test_slirp_hostfwd_reaches_the_guest);
    g_test_add_func("/net/netdev-bad-options", test_netdev_bad_options);
    int r = g_test_run();
    net_cleanup_all();
    return r;
}
