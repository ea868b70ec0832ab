/*
 * Network core and -netdev user without a guest: frame queueing between
 * peers, and libslirp answering DHCP and ARP and forwarding a host port,
 * as a NIC model would see it.
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include <linux/if_tun.h>

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

static int link_changes;

static void count_link_change(NetClient *nc)
{
    link_changes++;
}

static const NetClientOps backend_ops = {
    .type = "user",
    .receive = nic_receive,
    .link_status_changed = count_link_change,
};

/* set_link: by the backend's id the NIC follows; frames drop while down. */
static void test_set_link(void)
{
    FakeNic nic_state, be_state = { .ready = true };
    NetClient *nic = nic_new(&nic_state);
    NetClient *be;
    GError *err = NULL;
    uint8_t f[60] = { 0 };

    be_state.frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_bytes_unref);
    be = net_client_new(&backend_ops, "n0", &be_state);
    net_connect(nic, be);
    link_changes = 0;
    g_assert_true(net_set_link("n0", false, &err));
    g_assert_true(be->link_down && nic->link_down);
    g_assert_cmpint(link_changes, ==, 1);
    net_send(nic, f, sizeof(f));
    net_send(be, f, sizeof(f));
    g_assert_cmpuint(be_state.frames->len, ==, 0);
    g_assert_cmpuint(nic_state.frames->len, ==, 0);
    g_assert_cmpuint(g_queue_get_length(nic->queue), ==, 0);
    /* the NIC's own link, by its id: the backend stays down */
    g_assert_true(net_set_link("nic0", true, &err));
    g_assert_false(nic->link_down);
    g_assert_true(be->link_down);
    g_assert_true(net_set_link("n0", true, &err));
    net_send(nic, f, sizeof(f));
    g_assert_cmpuint(be_state.frames->len, ==, 1);
    g_assert_false(net_set_link("nosuch", true, &err));
    g_assert_cmpstr(err->message, ==, "Device 'nosuch' not found");
    g_clear_error(&err);
    net_client_free(nic);
    net_client_free(be);
    g_ptr_array_free(nic_state.frames, TRUE);
    g_ptr_array_free(be_state.frames, TRUE);
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

/* ---- tap, in a network namespace of its own ---- */

#define TEST_ETHERTYPE 0x88b5   /* IEEE local experimental */

static size_t build_test_frame(uint8_t *f, uint8_t tag)
{
    memset(f, tag, 60);
    memcpy(f, "\x02\x00\x00\x00\x00\x01", 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = TEST_ETHERTYPE >> 8;
    f[13] = TEST_ETHERTYPE & 0xff;
    return 60;
}

/* A raw socket on the tap's host side, the interface brought up. */
static int host_side(const char *ifname)
{
    struct ifreq ifr = { 0 };
    int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    struct sockaddr_ll sll = { .sll_family = AF_PACKET,
                               .sll_protocol = htons(ETH_P_ALL) };
    struct timeval tv = { .tv_sec = 3 };

    g_strlcpy(ifr.ifr_name, ifname, IFNAMSIZ);
    g_assert_cmpint(ioctl(ctl, SIOCGIFFLAGS, &ifr), ==, 0);
    ifr.ifr_flags |= IFF_UP;
    g_assert_cmpint(ioctl(ctl, SIOCSIFFLAGS, &ifr), ==, 0);
    close(ctl);
    sll.sll_ifindex = if_nametoindex(ifname);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), ==, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* The next test frame the host side sees (the kernel sends its own too). */
static ssize_t host_recv(int fd, uint8_t *buf, size_t size)
{
    for (;;) {
        ssize_t n = recv(fd, buf, size, 0);
        if (n < 0 || (n >= 14 && buf[12] == (TEST_ETHERTYPE >> 8) &&
                      buf[13] == (TEST_ETHERTYPE & 0xff))) {
            return n;
        }
    }
}

static guint count_test_frames(FakeNic *n, size_t hdr)
{
    guint c = 0;
    for (guint i = 0; i < n->frames->len; i++) {
        gsize len;
        const uint8_t *f = frame(n, i, &len);
        c += len >= hdr + 14 && f[hdr + 12] == (TEST_ETHERTYPE >> 8) &&
             f[hdr + 13] == (TEST_ETHERTYPE & 0xff);
    }
    return c;
}

static void test_tap_frames_both_ways_in_netns(void)
{
    g_autoptr(GError) err = NULL;
    NetClient *tap;
    FakeNic n;
    NetClient *nic = nic_new(&n);
    uint8_t f[128], got[256];
    ssize_t len;
    int host;

    g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
    tap = netdev_new_from_opts("tap,id=t0,ifname=vireot0,script=no,"
                               "downscript=no", &err);
    g_assert_no_error(err);
    g_assert_true(net_peer_has_vnet_hdr(nic) == false);  /* not joined */
    net_connect(nic, tap);
    g_assert_true(net_peer_has_vnet_hdr(nic));
    host = host_side("vireot0");

    /* NIC -> host, no header on either side */
    net_send(nic, f, build_test_frame(f, 0xa1));
    len = host_recv(host, got, sizeof(got));
    g_assert_cmpint(len, ==, 60);
    g_assert_cmpmem(got, 60, f, 60);
    /* host -> NIC: the kernel's header is taken off for this NIC */
    build_test_frame(f, 0xb2);
    g_assert_cmpint(send(host, f, 60, 0), ==, 60);
    wait_frames(&n, 1);
    while (count_test_frames(&n, 0) < 1) {
        wait_frames(&n, n.frames->len + 1);
    }
    g_assert_cmpuint(count_test_frames(&n, 0), ==, 1);

    /* a NIC that speaks the 12-byte virtio-net header */
    g_assert_true(net_using_vnet_hdr(nic, true, 12));
    g_ptr_array_set_size(n.frames, 0);
    uint8_t hf[12 + 60] = { 0 };
    build_test_frame(hf + 12, 0xc3);
    net_send(nic, hf, sizeof(hf));
    len = host_recv(host, got, sizeof(got));
    g_assert_cmpint(len, ==, 60);
    g_assert_cmpmem(got, 60, hf + 12, 60);
    build_test_frame(f, 0xd4);
    g_assert_cmpint(send(host, f, 60, 0), ==, 60);
    while (count_test_frames(&n, 12) < 1) {
        guint before = n.frames->len;
        wait_frames(&n, before + 1);
        g_assert_cmpuint(n.frames->len, >, before);
    }
    net_set_offload(nic, TUN_F_CSUM);
    close(host);
    net_client_free(nic);
    g_ptr_array_free(n.frames, TRUE);
}

static void test_tap_frames_both_ways(void)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
        g_test_skip("needs root and /dev/net/tun for a tap in a network "
                    "namespace");
        return;
    }
    /* the namespace is the child's alone; slirp tests keep the host's */
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        test_tap_frames_both_ways_in_netns();
        _exit(0);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
        { "tap,id=t1,vhost=on", "vhost=on is not supported" },
        { "tap,id=t2,fd=12345", "fd=12345: not an open file descriptor" },
        { "tap,id=t3,fd=0,ifname=x", "fd= cannot be used with ifname=" },
        { "tap,id=t4,ifname=this-name-is-far-too-long-for-linux,script=no",
          "longer than 15 characters" },
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
    g_test_add_func("/net/set-link", test_set_link);
    g_test_add_func("/net/slirp/dhcp-offer", test_slirp_dhcp_offer);
    g_test_add_func("/net/slirp/arp-for-router", test_slirp_arp_for_router);
    g_test_add_func("/net/slirp/hostfwd-reaches-the-guest",
                    test_slirp_hostfwd_reaches_the_guest);
    g_test_add_func("/net/netdev-bad-options", test_netdev_bad_options);
    g_test_add_func("/net/tap/frames-both-ways", test_tap_frames_both_ways);
    int r = g_test_run();
    net_cleanup_all();
    return r;
}
