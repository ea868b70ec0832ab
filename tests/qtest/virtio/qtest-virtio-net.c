/*
 * virtio network device (virtio 1.2 section 5.1) on pc over the user-mode
 * (slirp) backend: an ARP request for the gateway 10.0.2.2 goes out on the
 * transmit queue, slirp's reply comes in on the receive queue with the
 * virtio_net_hdr the negotiated features call for (5.1.6).
 */
#include <string.h>

#include "virtio.h"

/* Feature bits and configuration (5.1.3, 5.1.4) */
#define VIRTIO_NET_F_CSUM           0
#define VIRTIO_NET_F_GUEST_CSUM     1
#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_GUEST_TSO4     7
#define VIRTIO_NET_F_HOST_TSO4      11
#define VIRTIO_NET_F_MRG_RXBUF      15
#define VIRTIO_NET_F_STATUS         16
#define VIRTIO_NET_S_LINK_UP        1
#define NET_CFG_MAC                 0
#define NET_CFG_STATUS              6

/* struct virtio_net_hdr, with num_buffers as every 1.x device has it */
#define NET_HDR_LEN                 12
#define NET_HDR_FLAGS               0
#define NET_HDR_GSO_TYPE            1
#define NET_HDR_NUM_BUFFERS         10

#define RXQ                         0
#define TXQ                         1
#define RX_BUF_LEN                  (NET_HDR_LEN + 1514)

#define ETH_HLEN                    14
#define ARP_LEN                     28
#define ETH_P_ARP                   0x0806

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
/* slirp answers for 10.0.2.2 as 52:55 followed by the address */
static const uint8_t gateway_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
static const uint8_t guest_ip[4] = { 10, 0, 2, 15 };
static const uint8_t gateway_ip[4] = { 10, 0, 2, 2 };

typedef struct Net {
    QTestState *qts;
    QPCIBus *bus;
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *rx, *tx;
} Net;

static Net pci_net;

static Net *net_start(uint64_t features)
{
    Net *n = &pci_net;

    if (!n->qts) {
        n->qts = qtest_init("-M pc -netdev user,id=n0 "
                            "-device virtio-net-pci,netdev=n0");
        n->bus = qpci_new_pc(n->qts);
        n->dev = qvirtio_pci_device_find(n->bus, VIRTIO_ID_NET);
        g_assert_nonnull(n->dev);
    }
    n->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    qvirtio_start_device(n->dev, features | (1ULL << VIRTIO_NET_F_MAC) |
                                 (1ULL << VIRTIO_NET_F_STATUS));
    n->rx = qvirtqueue_setup(n->dev, n->alloc, RXQ);
    n->tx = qvirtqueue_setup(n->dev, n->alloc, TXQ);
    qvirtio_set_driver_ok(n->dev);
    return n;
}

static void net_stop(Net *n)
{
    qvirtio_assert_vmm_alive(n->qts);
    g_assert_false(qvirtio_needs_reset(n->dev));
    qvirtio_reset(n->dev);
    qvirtqueue_cleanup(n->rx);
    qvirtqueue_cleanup(n->tx);
    guest_alloc_uninit(n->alloc);
}

/* An Ethernet frame with an ARP request who-has 10.0.2.2 (RFC 826). */
static size_t arp_request(uint8_t *f)
{
    uint8_t *a = f + ETH_HLEN;

    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = ETH_P_ARP >> 8;
    f[13] = ETH_P_ARP & 0xff;
    a[0] = 0; a[1] = 1;             /* Ethernet */
    a[2] = 0x08; a[3] = 0x00;       /* IPv4 */
    a[4] = 6; a[5] = 4;
    a[6] = 0; a[7] = 1;             /* request */
    memcpy(a + 8, guest_mac, 6);
    memcpy(a + 14, guest_ip, 4);
    memset(a + 18, 0, 6);
    memcpy(a + 24, gateway_ip, 4);
    return ETH_HLEN + ARP_LEN;
}

/* slirp's reply: from the gateway's MAC to ours, 10.0.2.2 is-at. */
static void assert_arp_reply(const uint8_t *f, size_t len)
{
    const uint8_t *a = f + ETH_HLEN;

    g_assert_cmpuint(len, >=, ETH_HLEN + ARP_LEN);
    g_assert_cmpmem(f, 6, guest_mac, 6);
    g_assert_cmpmem(f + 6, 6, gateway_mac, 6);
    g_assert_cmphex(f[12] << 8 | f[13], ==, ETH_P_ARP);
    g_assert_cmphex(a[0] << 8 | a[1], ==, 1);
    g_assert_cmphex(a[2] << 8 | a[3], ==, 0x0800);
    g_assert_cmpuint(a[4], ==, 6);
    g_assert_cmpuint(a[5], ==, 4);
    g_assert_cmphex(a[6] << 8 | a[7], ==, 2);       /* reply */
    g_assert_cmpmem(a + 8, 6, gateway_mac, 6);
    g_assert_cmpmem(a + 14, 4, gateway_ip, 4);
    g_assert_cmpmem(a + 18, 6, guest_mac, 6);
    g_assert_cmpmem(a + 24, 4, guest_ip, 4);
}

/* Posts a writable receive buffer of len bytes; returns its head. */
static uint32_t post_rx(Net *n, uint64_t buf, uint32_t len)
{
    uint32_t head;

    qtest_memset(n->qts, buf, 0xcc, len);
    head = qvirtqueue_add(n->qts, n->rx, buf, len, true, false);
    qvirtqueue_kick(n->qts, n->dev, n->rx, head);
    return head;
}

/*
 * Sends the ARP request with an all-zero header (no offloads), header and
 * frame in separate descriptors; the used length of a transmit buffer is 0.
 */
static void send_arp(Net *n)
{
    uint8_t frame[64];
    size_t flen = arp_request(frame);
    uint64_t hdr = guest_alloc(n->alloc, NET_HDR_LEN);
    uint64_t data = guest_alloc(n->alloc, flen);
    uint32_t head, len;

    qtest_memset(n->qts, hdr, 0, NET_HDR_LEN);
    qtest_memwrite(n->qts, data, frame, flen);
    head = qvirtqueue_add(n->qts, n->tx, hdr, NET_HDR_LEN, false, true);
    qvirtqueue_add(n->qts, n->tx, data, flen, false, false);
    qvirtqueue_kick(n->qts, n->dev, n->tx, head);
    qvirtio_wait_used_elem(n->qts, n->dev, n->tx, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 0);
    guest_free(n->alloc, hdr);
    guest_free(n->alloc, data);
}

static void test_config(void)
{
    Net *n = net_start(0);
    uint64_t offered = qvirtio_get_features(n->dev);
    uint8_t mac[6];

    g_assert_true(offered & (1ULL << VIRTIO_NET_F_MAC));
    g_assert_true(offered & (1ULL << VIRTIO_NET_F_STATUS));
    /* slirp takes bare frames: no checksum or segmentation offloads */
    g_assert_false(offered & (1ULL << VIRTIO_NET_F_CSUM));
    g_assert_false(offered & (1ULL << VIRTIO_NET_F_GUEST_CSUM));
    g_assert_false(offered & (1ULL << VIRTIO_NET_F_HOST_TSO4));
    g_assert_false(offered & (1ULL << VIRTIO_NET_F_GUEST_TSO4));
    for (int i = 0; i < 6; i++) {
        mac[i] = qvirtio_config_readb(n->dev, NET_CFG_MAC + i);
    }
    g_assert_cmpmem(mac, 6, guest_mac, 6);
    g_assert_cmphex(qvirtio_config_readw(n->dev, NET_CFG_STATUS) &
                    VIRTIO_NET_S_LINK_UP, ==, VIRTIO_NET_S_LINK_UP);
    net_stop(n);
}

/* Frames out and in: the ARP exchange, one receive buffer per frame. */
static void test_arp(void)
{
    Net *n = net_start(0);
    uint64_t rxbuf = guest_alloc(n->alloc, RX_BUF_LEN);
    uint8_t buf[RX_BUF_LEN];
    uint32_t head, len;

    g_assert_false(n->dev->features & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
    head = post_rx(n, rxbuf, RX_BUF_LEN);
    send_arp(n);
    qvirtio_wait_used_elem(n->qts, n->dev, n->rx, head, &len,
                           QVIRTIO_TIMEOUT_US);
    g_assert_cmpuint(len, >=, NET_HDR_LEN + ETH_HLEN + ARP_LEN);
    g_assert_cmpuint(len, <=, RX_BUF_LEN);
    qtest_memread(n->qts, rxbuf, buf, len);
    /* 5.1.6.4.1: no offload flags; num_buffers 1 without MRG_RXBUF */
    g_assert_cmpuint(buf[NET_HDR_FLAGS], ==, 0);
    g_assert_cmpuint(buf[NET_HDR_GSO_TYPE], ==, 0);
    g_assert_cmpuint(buf[NET_HDR_NUM_BUFFERS] |
                     buf[NET_HDR_NUM_BUFFERS + 1] << 8, ==, 1);
    assert_arp_reply(buf + NET_HDR_LEN, len - NET_HDR_LEN);
    /* the device wrote no further than it said */
    if (len < RX_BUF_LEN) {
        g_assert_cmphex(qtest_readb(n->qts, rxbuf + len), ==, 0xcc);
    }
    net_stop(n);
}

/*
 * A frame that waits for buffers: the reply arrives before the driver
 * posts any receive buffer and is delivered once one is posted.
 */
static void test_arp_rx_later(void)
{
    Net *n = net_start(0);
    uint64_t rxbuf = guest_alloc(n->alloc, RX_BUF_LEN);
    uint8_t buf[RX_BUF_LEN];
    uint32_t head, len;

    send_arp(n);
    qvirtio_assert_no_used(n->qts, n->rx, 20000);
    head = post_rx(n, rxbuf, RX_BUF_LEN);
    qvirtio_wait_used_elem(n->qts, n->dev, n->rx, head, &len,
                           QVIRTIO_TIMEOUT_US);
    qtest_memread(n->qts, rxbuf, buf, len);
    assert_arp_reply(buf + NET_HDR_LEN, len - NET_HDR_LEN);
    net_stop(n);
}

/*
 * VIRTIO_NET_F_MRG_RXBUF: a frame larger than one receive buffer is spread
 * over several, the first header's num_buffers counting them (5.1.6.4).
 */
static void test_arp_mergeable(void)
{
    Net *n = net_start(1ULL << VIRTIO_NET_F_MRG_RXBUF);
    const uint32_t small = 32;
    uint64_t bufs[6];
    uint32_t heads[6], lens[6], total = 0;
    uint8_t frame[6 * 32], hdr[NET_HDR_LEN];
    unsigned used = 0;

    g_assert_true(n->dev->features & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
    for (unsigned i = 0; i < G_N_ELEMENTS(bufs); i++) {
        bufs[i] = guest_alloc(n->alloc, small);
        heads[i] = post_rx(n, bufs[i], small);
    }
    send_arp(n);
    /* the first buffer's header says how many follow */
    qvirtio_wait_used_elem(n->qts, n->dev, n->rx, heads[0], &lens[0],
                           QVIRTIO_TIMEOUT_US);
    qtest_memread(n->qts, bufs[0], hdr, NET_HDR_LEN);
    used = hdr[NET_HDR_NUM_BUFFERS] | hdr[NET_HDR_NUM_BUFFERS + 1] << 8;
    g_assert_cmpuint(used, >=, 2);
    g_assert_cmpuint(used, <=, G_N_ELEMENTS(bufs));
    g_assert_cmpuint(lens[0], ==, small);
    qtest_memread(n->qts, bufs[0] + NET_HDR_LEN, frame, small - NET_HDR_LEN);
    total = small - NET_HDR_LEN;
    for (unsigned i = 1; i < used; i++) {
        qvirtio_wait_used_elem(n->qts, n->dev, n->rx, heads[i], &lens[i],
                               QVIRTIO_TIMEOUT_US);
        g_assert_cmpuint(lens[i], >, 0);
        g_assert_cmpuint(lens[i], <=, small);
        qtest_memread(n->qts, bufs[i], frame + total, lens[i]);
        total += lens[i];
    }
    assert_arp_reply(frame, total);
    /* the buffers not needed stay with the device */
    g_assert_cmpuint(qvirtqueue_used_idx(n->qts, n->rx), ==, used);
    net_stop(n);
}

/* set_link off: the status field drops LINK_UP; a config interrupt says so. */
static void test_link_status(void)
{
    Net *n = net_start(0);

    qvirtio_pci_msix_enable(n->dev);
    qvirtio_pci_set_config_vector(n->dev, 0);
    g_assert_false(qpci_msix_pending(n->dev->pdev, 0));
    qtest_qmp_assert_success(n->qts, "{'execute': 'set_link', 'arguments': "
                                     "{'name': 'n0', 'up': false}}");
    qvirtio_wait_config_isr(n->qts, n->dev, QVIRTIO_TIMEOUT_US);
    g_assert_cmphex(qvirtio_config_readw(n->dev, NET_CFG_STATUS) &
                    VIRTIO_NET_S_LINK_UP, ==, 0);
    qvirtio_pci_msix_clear(n->dev, 0);
    qtest_qmp_assert_success(n->qts, "{'execute': 'set_link', 'arguments': "
                                     "{'name': 'n0', 'up': true}}");
    qvirtio_wait_config_isr(n->qts, n->dev, QVIRTIO_TIMEOUT_US);
    g_assert_cmphex(qvirtio_config_readw(n->dev, NET_CFG_STATUS) &
                    VIRTIO_NET_S_LINK_UP, ==, VIRTIO_NET_S_LINK_UP);
    qvirtio_pci_msix_clear(n->dev, 0);
    net_stop(n);
    qpci_msix_disable(n->dev->pdev);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio/net/pci/config", test_config);
    g_test_add_func("/virtio/net/pci/arp", test_arp);
    g_test_add_func("/virtio/net/pci/arp-rx-later", test_arp_rx_later);
    g_test_add_func("/virtio/net/pci/arp-mergeable", test_arp_mergeable);
    g_test_add_func("/virtio/net/pci/link-status", test_link_status);
    ret = g_test_run();
    if (pci_net.qts) {
        qvirtio_device_free(pci_net.dev);
        qpci_free(pci_net.bus);
        qtest_quit(pci_net.qts);
    }
    return ret;
}
