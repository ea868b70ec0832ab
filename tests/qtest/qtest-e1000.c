/*
 * Intel 82540EM (e1000) on pc, driven as its driver would (PCI/PCI-X Family
 * of Gigabit Ethernet Controllers SDM): PCI IDs, the EEPROM through EERD and
 * Microwire bit-banging, the PHY through MDIC, reset, transmit and receive
 * over the user-mode (slirp) backend, checksum offload checked by slirp
 * itself, TCP segmentation seen through PHY loopback, interrupt causes and
 * throttling with the qtest clock, link changes over QMP, and rings with
 * hostile values.
 */
#include <string.h>

#include "pci.h"

#define E1000_SLOT      3
/* slot 3, INTA#: PIRQC, routed to IRQ 11 on pc */
#define E1000_GSI       11

#define CTRL        0x0000
#define STATUS      0x0008
#define EECD        0x0010
#define EERD        0x0014
#define MDIC        0x0020
#define ICR         0x00c0
#define ITR         0x00c4
#define ICS         0x00c8
#define IMS         0x00d0
#define IMC         0x00d8
#define RCTL        0x0100
#define TCTL        0x0400
#define RDBAL       0x2800
#define RDBAH       0x2804
#define RDLEN       0x2808
#define RDH         0x2810
#define RDT         0x2818
#define TDBAL       0x3800
#define TDBAH       0x3804
#define TDLEN       0x3808
#define TDH         0x3810
#define TDT         0x3818
#define GPRC        0x4074
#define GPTC        0x4080
#define TSCTC       0x40f8
#define TSCTFC      0x40fc
#define RAL0        0x5400
#define RAH0        0x5404

#define CTRL_RST        0x04000000
#define STATUS_LU       0x02
#define EECD_SK         0x01
#define EECD_CS         0x02
#define EECD_DI         0x04
#define EECD_DO         0x08
#define EECD_REQ        0x40
#define EECD_GNT        0x80
#define EECD_PRES       0x100
#define EERD_START      0x01
#define EERD_DONE       0x10
#define MDIC_OP_WRITE   0x04000000
#define MDIC_OP_READ    0x08000000
#define MDIC_READY      0x10000000
#define MDIC_INT_EN     0x20000000
#define MDIC_ERROR      0x40000000
#define ICR_TXDW        0x01
#define ICR_TXQE        0x02
#define ICR_LSC         0x04
#define ICR_RXT0        0x80
#define ICR_MDAC        0x200
#define RCTL_EN         0x02
#define RCTL_UPE        0x08
#define RCTL_BAM        0x8000
#define RCTL_SECRC      0x04000000
#define TCTL_EN         0x02
#define TCTL_PSP        0x08

#define TXD_EOP         0x01000000
#define TXD_IFCS        0x02000000
#define TXD_TSE         0x04000000
#define TXD_RS          0x08000000
#define TXD_DEXT        0x20000000
#define TXD_DTYP_D      0x00100000
#define TXD_TCP         0x01000000
#define TXD_IP          0x02000000
#define POPTS_IXSM      0x01
#define POPTS_TXSM      0x02
#define RXD_DD          0x01
#define RXD_EOP         0x02
#define RXD_IPCS        0x40
#define RXD_TCPCS       0x20

#define RING_DESCS      16
#define RX_BUF          2048

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t gateway_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
static const uint8_t guest_ip[4] = { 10, 0, 2, 15 };
static const uint8_t gateway_ip[4] = { 10, 0, 2, 2 };

typedef struct E1000 {
    QTestState *qts;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar mmio, io;
    QGuestAllocator *alloc;
    uint64_t rx_ring, tx_ring, rx_bufs, tx_bufs;
    uint32_t tx_tail;
} E1000;

static uint32_t rd(E1000 *e, uint32_t reg)
{
    return qpci_io_readl(e->dev, e->mmio, reg);
}

static void wr(E1000 *e, uint32_t reg, uint32_t val)
{
    qpci_io_writel(e->dev, e->mmio, reg, val);
}

static void find_e1000(QPCIDevice *d, int devfn, void *data)
{
    QPCIDevice **found = data;

    if (!*found) {
        *found = d;
    } else {
        g_free(d);
    }
}

/* pc with args; the first e1000 on the bus, its BARs mapped. */
static E1000 *e1000_start_args(const char *args)
{
    E1000 *e = g_new0(E1000, 1);
    uint64_t size;

    e->qts = qtest_initf("-M pc %s", args);
    qtest_irq_intercept_in(e->qts, "ioapic");
    e->bus = qpci_new_pc(e->qts);
    qpci_device_foreach(e->bus, 0x8086, 0x100e, find_e1000, &e->dev);
    g_assert_nonnull(e->dev);
    e->mmio = qpci_iomap(e->dev, 0, &size);
    g_assert_cmpuint(size, ==, 128 * 1024);
    e->io = qpci_iomap(e->dev, 1, &size);
    g_assert_cmpuint(size, ==, 64);
    qpci_device_enable(e->dev);
    e->alloc = guest_alloc_init(PC_ALLOC_START, PC_ALLOC_END);
    e->rx_ring = guest_alloc(e->alloc, RING_DESCS * 16);
    e->tx_ring = guest_alloc(e->alloc, RING_DESCS * 16);
    e->rx_bufs = guest_alloc(e->alloc, RING_DESCS * RX_BUF);
    e->tx_bufs = guest_alloc(e->alloc, 64 * 1024);
    return e;
}

static E1000 *e1000_start(const char *extra)
{
    g_autofree char *args = g_strdup_printf(
        "-netdev user,id=n0 -device e1000,netdev=n0,addr=%d %s", E1000_SLOT,
        extra ? extra : "");

    return e1000_start_args(args);
}

static void e1000_stop(E1000 *e)
{
    g_assert_true(qtest_alive(e->qts));
    guest_alloc_uninit(e->alloc);
    g_free(e->dev);
    qpci_free(e->bus);
    qtest_quit(e->qts);
    g_free(e);
}

/* Rings as Linux sets them up: RX buffers for rx_given descriptors. */
static void rings_init(E1000 *e, uint32_t rx_given, uint32_t rctl_extra)
{
    qtest_memset(e->qts, e->rx_ring, 0, RING_DESCS * 16);
    qtest_memset(e->qts, e->tx_ring, 0, RING_DESCS * 16);
    for (int i = 0; i < RING_DESCS; i++) {
        qtest_writeq(e->qts, e->rx_ring + i * 16, e->rx_bufs + i * RX_BUF);
    }
    wr(e, RDBAL, e->rx_ring);
    wr(e, RDBAH, e->rx_ring >> 32);
    wr(e, RDLEN, RING_DESCS * 16);
    wr(e, RDH, 0);
    wr(e, RDT, rx_given);
    wr(e, TDBAL, e->tx_ring);
    wr(e, TDBAH, 0);
    wr(e, TDLEN, RING_DESCS * 16);
    wr(e, TDH, 0);
    wr(e, TDT, 0);
    e->tx_tail = 0;
    wr(e, RCTL, RCTL_EN | RCTL_BAM | rctl_extra);
    wr(e, TCTL, TCTL_EN | TCTL_PSP);
}

/* Puts one descriptor (two little-endian qwords) at the tail and kicks. */
static void tx_desc(E1000 *e, uint64_t addr, uint32_t lower, uint32_t upper,
                    bool kick)
{
    uint64_t d = e->tx_ring + e->tx_tail * 16;

    qtest_writeq(e->qts, d, addr);
    qtest_writel(e->qts, d + 8, lower);
    qtest_writel(e->qts, d + 12, upper);
    e->tx_tail = (e->tx_tail + 1) % RING_DESCS;
    if (kick) {
        wr(e, TDT, e->tx_tail);
    }
}

/* Waits (host time, slirp runs on the main loop) until RDH reaches head. */
static bool rx_wait(E1000 *e, uint32_t head)
{
    for (int i = 0; i < 2000; i++) {
        if (rd(e, RDH) == head) {
            return true;
        }
        g_usleep(1000);
    }
    return false;
}

static uint16_t be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += be16(p + i);
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static uint32_t crc32_eth(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffff;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
        }
    }
    return ~crc;
}

static size_t eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = type >> 8;
    f[13] = type;
    return 14;
}

/* ARP request who-has 10.0.2.2 (RFC 826). */
static size_t arp_request(uint8_t *f)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t *a = f + eth_header(f, bcast, 0x0806);

    memcpy(a, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
    memcpy(a + 8, guest_mac, 6);
    memcpy(a + 14, guest_ip, 4);
    memset(a + 18, 0, 6);
    memcpy(a + 24, gateway_ip, 4);
    return 42;
}

static void assert_arp_reply(const uint8_t *f)
{
    g_assert_cmpmem(f, 6, guest_mac, 6);
    g_assert_cmpmem(f + 6, 6, gateway_mac, 6);
    g_assert_cmphex(be16(f + 12), ==, 0x0806);
    g_assert_cmphex(be16(f + 20), ==, 2);           /* reply */
    g_assert_cmpmem(f + 22, 6, gateway_mac, 6);
    g_assert_cmpmem(f + 28, 4, gateway_ip, 4);
}

/* Sends the ARP request in a legacy descriptor; slirp answers it. */
static void send_arp(E1000 *e)
{
    uint8_t f[64];
    size_t len = arp_request(f);

    qtest_memwrite(e->qts, e->tx_bufs, f, len);
    tx_desc(e, e->tx_bufs, len | TXD_EOP | TXD_IFCS | TXD_RS, 0, true);
}

/* ---- tests ---- */

static void test_pci_ids(void)
{
    E1000 *e = e1000_start(NULL);

    g_assert_cmphex(qpci_config_readw(e->dev, PCI_VENDOR_ID), ==, 0x8086);
    g_assert_cmphex(qpci_config_readw(e->dev, PCI_DEVICE_ID), ==, 0x100e);
    g_assert_cmphex(qpci_config_readw(e->dev, PCI_CLASS_DEVICE), ==, 0x0200);
    g_assert_cmphex(qpci_config_readb(e->dev, PCI_REVISION_ID), ==, 3);
    g_assert_cmphex(qpci_config_readb(e->dev, PCI_INTERRUPT_PIN), ==, 1);
    /* STATUS: link up, 1000 Mb/s, full duplex */
    g_assert_cmphex(rd(e, STATUS) & 0xc3, ==, 0x83);
    /* the first receive address holds the MAC, valid */
    g_assert_cmphex(rd(e, RAL0), ==, 0x12005452);
    g_assert_cmphex(rd(e, RAH0), ==, 0x80005634);
    /* IOADDR/IODATA reach the same registers */
    qpci_io_writel(e->dev, e->io, 0, STATUS);
    g_assert_cmphex(qpci_io_readl(e->dev, e->io, 4), ==, rd(e, STATUS));
    qpci_io_writel(e->dev, e->io, 0, IMS);
    qpci_io_writel(e->dev, e->io, 4, ICR_LSC);
    g_assert_cmphex(rd(e, IMS), ==, ICR_LSC);
    e1000_stop(e);
}

/*
 * The PXE ROM (efi-e1000.rom from ipxe-qemu) in the expansion ROM BAR:
 * a legacy image for 8086:100e first, as SeaBIOS looks for it.
 */
static void test_option_rom(void)
{
    E1000 *e = e1000_start(NULL);
    uint64_t rom = 0xe8000000;
    uint32_t pcir;

    qpci_config_writel(e->dev, 0x30, 0xfffff800);
    g_assert_cmphex(qpci_config_readl(e->dev, 0x30) & 0xfffff800, !=, 0);
    qpci_config_writel(e->dev, 0x30, rom | 1);
    g_assert_cmphex(qtest_readw(e->qts, rom), ==, 0xaa55);
    pcir = rom + qtest_readw(e->qts, rom + 0x18);
    g_assert_cmphex(qtest_readl(e->qts, pcir), ==, 0x52494350);   /* PCIR */
    g_assert_cmphex(qtest_readw(e->qts, pcir + 4), ==, 0x8086);
    g_assert_cmphex(qtest_readw(e->qts, pcir + 6), ==, 0x100e);
    /* disabled again: gone */
    qpci_config_writel(e->dev, 0x30, rom);
    g_assert_cmphex(qtest_readw(e->qts, rom), !=, 0xaa55);
    e1000_stop(e);
}

static uint16_t eerd_read(E1000 *e, unsigned addr)
{
    uint32_t v;

    wr(e, EERD, addr << 8 | EERD_START);
    v = rd(e, EERD);
    g_assert_cmphex(v & EERD_DONE, ==, EERD_DONE);
    return v >> 16;
}

static void ee_clock(E1000 *e, uint32_t pins)
{
    wr(e, EECD, pins);
    wr(e, EECD, pins | EECD_SK);
    wr(e, EECD, pins);
}

/* A Microwire READ as Linux's e1000 bit-bangs it through EECD. */
static uint16_t microwire_read(E1000 *e, unsigned addr)
{
    uint32_t base = EECD_REQ | EECD_CS;
    uint32_t cmd = 0x6 << 6 | addr;     /* start bit, opcode 10, address */
    uint16_t v = 0;

    wr(e, EECD, EECD_REQ);
    g_assert_cmphex(rd(e, EECD) & (EECD_GNT | EECD_PRES), ==,
                    EECD_GNT | EECD_PRES);
    wr(e, EECD, base);
    for (int i = 8; i >= 0; i--) {
        ee_clock(e, base | ((cmd >> i) & 1 ? EECD_DI : 0));
    }
    for (int i = 0; i < 16; i++) {
        wr(e, EECD, base | EECD_SK);
        v = v << 1 | !!(rd(e, EECD) & EECD_DO);
        wr(e, EECD, base);
    }
    wr(e, EECD, EECD_REQ);              /* CS low ends the command */
    wr(e, EECD, 0);
    return v;
}

static void test_eeprom(void)
{
    E1000 *e = e1000_start(NULL);
    uint16_t sum = 0;

    g_assert_cmphex(eerd_read(e, 0), ==, 0x5452);
    g_assert_cmphex(eerd_read(e, 1), ==, 0x1200);
    g_assert_cmphex(eerd_read(e, 2), ==, 0x5634);
    g_assert_cmphex(eerd_read(e, 0x0d), ==, 0x100e);
    g_assert_cmphex(eerd_read(e, 0x0e), ==, 0x8086);
    for (unsigned i = 0; i < 64; i++) {
        sum += eerd_read(e, i);
    }
    g_assert_cmphex(sum, ==, 0xbaba);
    /* past the 64 words: done, no data */
    g_assert_cmphex(eerd_read(e, 200), ==, 0);
    /* the same words bit-banged */
    g_assert_cmphex(microwire_read(e, 0), ==, 0x5452);
    g_assert_cmphex(microwire_read(e, 2), ==, 0x5634);
    g_assert_cmphex(microwire_read(e, 63), ==, eerd_read(e, 63));
    e1000_stop(e);
}

static uint32_t mdic(E1000 *e, uint32_t op, unsigned phy, unsigned reg,
                     uint16_t data)
{
    uint32_t v;

    wr(e, MDIC, op | phy << 21 | reg << 16 | data);
    v = rd(e, MDIC);
    g_assert_cmphex(v & MDIC_READY, ==, MDIC_READY);
    return v;
}

static void test_phy(void)
{
    E1000 *e = e1000_start(NULL);

    /* the M88E1011 Linux's e1000 expects with an 82540 */
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 2, 0) & 0xffff, ==, 0x0141);
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 3, 0) & 0xfff0, ==, 0x0c20);
    /* BMSR: link up, autonegotiation complete */
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 1, 0) & 0x24, ==, 0x24);
    /* 1000BASE-T status: partner is 1000 full duplex */
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 10, 0) & 0x0800, ==, 0x0800);
    /* PHY specific status: 1000 Mb/s, full duplex, resolved, link */
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 0x11, 0) & 0xec00, ==, 0xac00);
    mdic(e, MDIC_OP_WRITE, 1, 4, 0x01e1);
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 4, 0) & 0xffff, ==, 0x01e1);
    /* the ID registers are read-only */
    mdic(e, MDIC_OP_WRITE, 1, 2, 0x1234);
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 2, 0) & 0xffff, ==, 0x0141);
    /* only PHY address 1 answers */
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 2, 2, 0) & MDIC_ERROR, ==,
                    MDIC_ERROR);
    /* MDIC with interrupt enable: MDAC */
    rd(e, ICR);
    mdic(e, MDIC_OP_READ | MDIC_INT_EN, 1, 1, 0);
    g_assert_cmphex(rd(e, ICR) & ICR_MDAC, ==, ICR_MDAC);
    e1000_stop(e);
}

static void test_reset(void)
{
    E1000 *e = e1000_start(NULL);

    wr(e, IMS, ICR_RXT0);
    wr(e, RCTL, RCTL_EN);
    wr(e, TDLEN, 4096);
    wr(e, RAL0, 0x11223344);
    wr(e, ICS, ICR_RXT0);
    g_assert_true(qtest_get_irq(e->qts, E1000_GSI));
    wr(e, CTRL, rd(e, CTRL) | CTRL_RST);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));
    g_assert_cmphex(rd(e, CTRL) & CTRL_RST, ==, 0);
    g_assert_cmphex(rd(e, IMS), ==, 0);
    g_assert_cmphex(rd(e, ICR), ==, 0);
    g_assert_cmphex(rd(e, RCTL), ==, 0);
    g_assert_cmphex(rd(e, TDLEN), ==, 0);
    g_assert_cmphex(rd(e, RAL0), ==, 0x12005452);
    g_assert_cmphex(rd(e, STATUS) & STATUS_LU, ==, STATUS_LU);
    /* RDLEN keeps to multiples of 128 bytes */
    wr(e, RDLEN, 0x1ff);
    g_assert_cmphex(rd(e, RDLEN), ==, 0x180);
    e1000_stop(e);
}

/*
 * An ARP request out through a legacy descriptor, slirp's reply in through
 * the receive ring: first with no receive buffers (the reply waits), then
 * with buffers (it arrives, DD|EOP, the CRC appended, RXT0 on INTA#).
 */
static void test_tx_rx_arp(void)
{
    E1000 *e = e1000_start(NULL);
    uint8_t f[RX_BUF];
    uint32_t len;

    wr(e, IMS, ICR_RXT0 | ICR_TXDW);
    rings_init(e, 0, 0);
    send_arp(e);
    g_assert_cmpuint(rd(e, TDH), ==, 1);
    g_assert_cmphex(qtest_readb(e->qts, e->tx_ring + 12) & 1, ==, 1);
    g_assert_cmphex(rd(e, ICR) & (ICR_TXDW | ICR_TXQE), ==,
                    ICR_TXDW | ICR_TXQE);
    g_assert_cmpuint(rd(e, GPTC), ==, 1);
    g_assert_cmpuint(rd(e, GPTC), ==, 0);       /* clear on read */
    g_usleep(100 * 1000);
    g_assert_cmpuint(rd(e, RDH), ==, 0);        /* no buffer: held */
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));

    wr(e, RDT, 4);                              /* buffers: it arrives */
    g_assert_true(rx_wait(e, 1));
    g_assert_cmphex(qtest_readb(e->qts, e->rx_ring + 12) & (RXD_DD | RXD_EOP),
                    ==, RXD_DD | RXD_EOP);
    len = qtest_readw(e->qts, e->rx_ring + 8);
    g_assert_cmpuint(len, >=, 64);              /* at least 60, CRC */
    qtest_memread(e->qts, e->rx_bufs, f, len);
    assert_arp_reply(f);
    g_assert_cmphex(f[len - 4] | f[len - 3] << 8 | f[len - 2] << 16 |
                    (uint32_t)f[len - 1] << 24, ==, crc32_eth(f, len - 4));
    g_assert_true(qtest_get_irq(e->qts, E1000_GSI));
    g_assert_cmphex(rd(e, ICR) & ICR_RXT0, ==, ICR_RXT0);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));   /* read cleared */
    g_assert_cmphex(rd(e, ICR), ==, 0);
    g_assert_cmpuint(rd(e, GPRC), ==, 1);

    /* with SECRC the CRC is stripped */
    wr(e, RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
    send_arp(e);
    g_assert_true(rx_wait(e, 2));
    g_assert_cmpuint(qtest_readw(e->qts, e->rx_ring + 16 + 8), ==, len - 4);
    e1000_stop(e);
}

/* IPv4 header for proto, tot_len bytes in all, checksum left 0. */
static void ipv4_header(uint8_t *ip, uint16_t tot_len, uint8_t proto,
                        uint16_t id)
{
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ip[2] = tot_len >> 8;
    ip[3] = tot_len;
    ip[4] = id >> 8;
    ip[5] = id;
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, guest_ip, 4);
    memcpy(ip + 16, gateway_ip, 4);
}

/*
 * An ICMP echo request to 10.0.2.2 with both checksums left to the
 * device (context descriptor, IXSM and TXSM): slirp drops packets with
 * bad checksums, so its echo reply proves them right.
 */
static void test_tx_checksum_offload(void)
{
    E1000 *e = e1000_start(NULL);
    uint8_t f[128], r[RX_BUF];
    size_t len = eth_header(f, gateway_mac, 0x0800);
    uint8_t *icmp = f + 34;

    rings_init(e, 8, 0);
    /* slirp learns our MAC from the ARP request first */
    send_arp(e);
    g_assert_true(rx_wait(e, 1));
    ipv4_header(f + 14, 20 + 8 + 32, 1, 0x1234);
    memset(icmp, 0, 8);
    icmp[0] = 8;                                /* echo request */
    icmp[5] = 7;                                /* identifier */
    icmp[7] = 1;                                /* sequence */
    for (int i = 0; i < 32; i++) {
        icmp[8 + i] = i;
    }
    len = 14 + 20 + 8 + 32;
    qtest_memwrite(e->qts, e->tx_bufs + 1024, f, len);
    /* context: IP header 14..33 (checksum at 24), ICMP from 34 (at 36) */
    tx_desc(e, 14 | 24 << 8 | 33ull << 16 | 34ull << 32 | 36ull << 40,
            TXD_DEXT | TXD_IP, 0, false);
    tx_desc(e, e->tx_bufs + 1024, len | TXD_DEXT | TXD_DTYP_D | TXD_EOP |
            TXD_RS, (POPTS_IXSM | POPTS_TXSM) << 8, true);
    g_assert_cmpuint(rd(e, TDH), ==, 3);

    g_assert_true(rx_wait(e, 2));
    uint8_t status = qtest_readb(e->qts, e->rx_ring + 16 + 12);
    uint8_t errors = qtest_readb(e->qts, e->rx_ring + 16 + 13);
    qtest_memread(e->qts, e->rx_bufs + RX_BUF, r, 14 + 20 + 8 + 32);
    g_assert_cmphex(be16(r + 12), ==, 0x0800);
    g_assert_cmpuint(r[14 + 9], ==, 1);
    g_assert_cmpuint(r[34], ==, 0);             /* echo reply */
    g_assert_cmpmem(r + 42, 32, icmp + 8, 32);
    /* the receive side checked the IPv4 header checksum: good */
    g_assert_cmphex(status & RXD_IPCS, ==, RXD_IPCS);
    g_assert_cmphex(errors, ==, 0);
    e1000_stop(e);
}

/*
 * TCP segmentation as Linux's e1000 asks for it (context with TSE, the
 * headers in one data descriptor and 3000 payload bytes in another, MSS
 * 1000), seen through PHY loopback: three frames with their own IP length,
 * ID and checksum, TCP sequence numbers and checksums, PSH only on the last.
 */
static void test_tso_loopback(void)
{
    E1000 *e = e1000_start(NULL);
    uint8_t h[54], payload[3000], r[RX_BUF];
    const unsigned mss = 1000, hdr = 54;
    uint8_t *tcp = h + 34;
    uint32_t sum;

    rings_init(e, 8, RCTL_UPE | RCTL_SECRC);
    mdic(e, MDIC_OP_WRITE, 1, 0, 0x1140 | 0x4000);      /* PHY loopback */
    eth_header(h, gateway_mac, 0x0800);
    ipv4_header(h + 14, 0, 6, 0x100);
    memset(tcp, 0, 20);
    tcp[0] = 0x30; tcp[1] = 0x39;               /* port 12345 */
    tcp[2] = 0x00; tcp[3] = 0x50;               /* port 80 */
    tcp[4] = 0x10; tcp[5] = 0x20; tcp[6] = 0x30; tcp[7] = 0x40;
    tcp[12] = 5 << 4;
    tcp[13] = 0x18;                             /* PSH|ACK */
    tcp[14] = 0xff; tcp[15] = 0xff;
    /* the pseudo-header sum without the length, as Linux leaves it */
    sum = csum_fold(csum_add(6, h + 26, 8));
    tcp[16] = sum >> 8;
    tcp[17] = sum;
    for (unsigned i = 0; i < sizeof(payload); i++) {
        payload[i] = i * 7;
    }
    qtest_memwrite(e->qts, e->tx_bufs, h, hdr);
    qtest_memwrite(e->qts, e->tx_bufs + 4096, payload, sizeof(payload));
    tx_desc(e, 14 | 24 << 8 | 33ull << 16 | 34ull << 32 | 50ull << 40,
            sizeof(payload) | TXD_DEXT | TXD_TSE | TXD_IP | TXD_TCP,
            hdr << 8 | mss << 16, false);
    tx_desc(e, e->tx_bufs, hdr | TXD_DEXT | TXD_DTYP_D | TXD_TSE,
            (POPTS_IXSM | POPTS_TXSM) << 8, false);
    tx_desc(e, e->tx_bufs + 4096, sizeof(payload) | TXD_DEXT | TXD_DTYP_D |
            TXD_TSE | TXD_EOP | TXD_RS, (POPTS_IXSM | POPTS_TXSM) << 8, true);
    g_assert_cmpuint(rd(e, TDH), ==, 3);
    g_assert_cmpuint(rd(e, GPTC), ==, 3);
    g_assert_cmpuint(rd(e, TSCTC), ==, 1);
    g_assert_cmpuint(rd(e, RDH), ==, 3);

    for (unsigned seg = 0; seg < 3; seg++) {
        uint64_t d = e->rx_ring + seg * 16;
        unsigned len = qtest_readw(e->qts, d + 8);
        uint8_t *ip = r + 14, *t = r + 34;

        g_assert_cmpuint(len, ==, hdr + mss);
        g_assert_cmphex(qtest_readb(e->qts, d + 12) & (RXD_DD | RXD_EOP |
                        RXD_IPCS | RXD_TCPCS), ==,
                        RXD_DD | RXD_EOP | RXD_IPCS | RXD_TCPCS);
        g_assert_cmphex(qtest_readb(e->qts, d + 13), ==, 0);
        qtest_memread(e->qts, e->rx_bufs + seg * RX_BUF, r, len);
        g_assert_cmpuint(be16(ip + 2), ==, 20 + 20 + mss);
        g_assert_cmphex(be16(ip + 4), ==, 0x100 + seg);
        g_assert_cmphex(csum_fold(csum_add(0, ip, 20)), ==, 0xffff);
        g_assert_cmphex(be16(t + 4) << 16 | be16(t + 6), ==,
                        0x10203040 + seg * mss);
        g_assert_cmphex(t[13], ==, seg == 2 ? 0x18 : 0x10);
        sum = csum_add(6 + 20 + mss, ip + 12, 8);
        g_assert_cmphex(csum_fold(csum_add(sum, t, 20 + mss)), ==, 0xffff);
        g_assert_cmpmem(t + 20, mss, payload + seg * mss, mss);
    }
    e1000_stop(e);
}

/* ITR: after an interrupt, the next waits out the interval (256 ns units). */
static void test_itr(void)
{
    E1000 *e = e1000_start(NULL);

    wr(e, ITR, 1000);                           /* 256 us */
    wr(e, IMS, ICR_TXDW);
    wr(e, ICS, ICR_TXDW);
    g_assert_true(qtest_get_irq(e->qts, E1000_GSI));
    g_assert_cmphex(rd(e, ICR), ==, ICR_TXDW);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));
    wr(e, ICS, ICR_TXDW);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));   /* throttled */
    qtest_clock_step(e->qts, 200 * 1000);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));
    qtest_clock_step(e->qts, 60 * 1000);
    g_assert_true(qtest_get_irq(e->qts, E1000_GSI));
    /* IMC masks it; ICS of a masked cause does not raise the line */
    wr(e, IMC, ICR_TXDW);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));
    rd(e, ICR);
    qtest_clock_step(e->qts, 1000 * 1000);
    wr(e, ICS, ICR_RXT0);
    g_assert_false(qtest_get_irq(e->qts, E1000_GSI));
    g_assert_cmphex(rd(e, ICR), ==, ICR_RXT0);
    e1000_stop(e);
}

/* set_link: STATUS.LU and the PHY follow, with an LSC interrupt. */
static void test_link(void)
{
    E1000 *e = e1000_start(NULL);

    wr(e, IMS, ICR_LSC);
    qtest_qmp_assert_success(e->qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': 'n0', 'up': false}}");
    g_assert_cmphex(rd(e, STATUS) & STATUS_LU, ==, 0);
    g_assert_cmphex(mdic(e, MDIC_OP_READ, 1, 1, 0) & 0x4, ==, 0);
    g_assert_true(qtest_get_irq(e->qts, E1000_GSI));
    g_assert_cmphex(rd(e, ICR), ==, ICR_LSC);
    qtest_qmp_assert_success(e->qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': 'n0', 'up': true}}");
    g_assert_cmphex(rd(e, STATUS) & STATUS_LU, ==, STATUS_LU);
    g_assert_cmphex(rd(e, ICR), ==, ICR_LSC);
    e1000_stop(e);
}

/*
 * Hostile rings: lengths, heads and tails out of range, rings and buffers
 * outside RAM or on the device's own registers, zero and huge descriptor
 * lengths, TSO with MSS 0 or bogus header lengths, a ring the device
 * would go round forever. Nothing crashes or hangs; after a reset the
 * device works as before.
 */
static void test_hostile(void)
{
    E1000 *e = e1000_start(NULL);
    uint64_t bar = qpci_bar_addr(e->mmio);
    uint8_t f[RX_BUF];

    rings_init(e, 8, 0);
    /* TDLEN 0 with a tail, heads and tails beyond the ring */
    wr(e, TDLEN, 0);
    wr(e, TDT, 5);
    wr(e, TDLEN, RING_DESCS * 16);
    wr(e, TDH, 100);
    wr(e, TDT, 3);
    wr(e, TDH, 0);
    wr(e, TDT, 0xffff);
    g_assert_cmpuint(rd(e, TDH), ==, 0);
    /* a ring of zeroed descriptors, the tail one behind the head */
    wr(e, TDH, 5);
    wr(e, TDT, 4);
    g_assert_cmpuint(rd(e, TDH), ==, 4);
    g_assert_cmpuint(rd(e, GPTC), ==, 0);
    /* the ring outside RAM, then on the device's own registers */
    wr(e, TDBAL, 0xfffff000);
    wr(e, TDBAH, 0xffff);
    wr(e, TDH, 0);
    wr(e, TDT, 8);
    wr(e, TDBAL, bar);
    wr(e, TDBAH, 0);
    wr(e, TDH, 0);
    wr(e, TDT, 15);
    wr(e, TDBAL, e->tx_ring);
    wr(e, TDH, 0);
    wr(e, TDT, 0);
    e->tx_tail = 0;
    /* zero-length and huge descriptors, a buffer outside RAM */
    tx_desc(e, e->tx_bufs, TXD_EOP | TXD_RS, 0, true);
    tx_desc(e, e->tx_bufs, 0xfffff | TXD_DEXT | TXD_DTYP_D | TXD_EOP, 0,
            true);
    tx_desc(e, 0xfffffffff000ull, 100 | TXD_EOP, 0, true);
    /* TSO: MSS 0, header length 0, header + MSS past any frame */
    tx_desc(e, 0, TXD_DEXT | TXD_TSE, 54 << 8, false);
    tx_desc(e, e->tx_bufs, 3000 | TXD_DEXT | TXD_DTYP_D | TXD_TSE | TXD_EOP,
            POPTS_TXSM << 8, true);
    tx_desc(e, 0, TXD_DEXT | TXD_TSE, 0 << 8 | 1000 << 16, false);
    tx_desc(e, e->tx_bufs, 3000 | TXD_DEXT | TXD_DTYP_D | TXD_TSE | TXD_EOP,
            POPTS_TXSM << 8, true);
    tx_desc(e, 0, TXD_DEXT | TXD_TSE, 255 << 8 | 0xffffu << 16, false);
    tx_desc(e, e->tx_bufs, 3000 | TXD_DEXT | TXD_DTYP_D | TXD_TSE | TXD_EOP,
            POPTS_TXSM << 8, true);
    g_assert_cmpuint(rd(e, TDH), ==, e->tx_tail);
    g_assert_cmpuint(rd(e, TSCTFC), ==, 3);
    /* offsets past the frame in a checksum context */
    tx_desc(e, 0, TXD_DEXT | TXD_IP, 0, false);
    qtest_writel(e->qts, e->tx_ring + ((e->tx_tail + RING_DESCS - 1) %
                 RING_DESCS) * 16, 0xffffffff);
    qtest_writel(e->qts, e->tx_ring + ((e->tx_tail + RING_DESCS - 1) %
                 RING_DESCS) * 16 + 4, 0xffffffff);
    tx_desc(e, e->tx_bufs, 20 | TXD_DEXT | TXD_DTYP_D | TXD_EOP,
            (POPTS_IXSM | POPTS_TXSM) << 8, true);

    /* receive: a ring of length 0, heads past the end, buffers off RAM */
    wr(e, RDLEN, 0);
    send_arp(e);
    wr(e, RDLEN, RING_DESCS * 16);
    wr(e, RDH, 200);
    wr(e, RDT, 4);
    wr(e, RDH, 0);
    for (int i = 0; i < RING_DESCS; i++) {
        qtest_writeq(e->qts, e->rx_ring + i * 16,
                     i == 0 ? 0xfffffffff000ull : bar);
    }
    wr(e, RDT, 4);
    g_usleep(100 * 1000);
    rd(e, RDH);
    g_assert_true(qtest_alive(e->qts));

    /* after a reset, it works as before */
    wr(e, CTRL, CTRL_RST);
    rings_init(e, 8, 0);
    send_arp(e);
    g_assert_true(rx_wait(e, 1));
    qtest_memread(e->qts, e->rx_bufs, f, 64);
    assert_arp_reply(f);
    e1000_stop(e);
}

/* A frame longer than the ring could ever hold is dropped, not held. */
static void test_rx_too_big_for_ring(void)
{
    E1000 *e = e1000_start(NULL);
    uint8_t f[2100];

    /* long frames allowed, 256-byte buffers: 7 free hold 1792 bytes */
    rings_init(e, 8, RCTL_UPE | 0x20 | (3 << 16));
    wr(e, RDLEN, 128);                          /* 8 descriptors */
    wr(e, RDT, 7);
    mdic(e, MDIC_OP_WRITE, 1, 0, 0x1140 | 0x4000);
    memset(f, 0x5a, sizeof(f));
    eth_header(f, guest_mac, 0x0800);
    qtest_memwrite(e->qts, e->tx_bufs, f, sizeof(f));
    tx_desc(e, e->tx_bufs, sizeof(f) | TXD_EOP | TXD_RS, 0, true);
    g_assert_cmpuint(rd(e, RDH), ==, 0);
    /* a frame that fits goes through the same ring over 2 buffers */
    tx_desc(e, e->tx_bufs, 300 | TXD_EOP | TXD_RS, 0, true);
    g_assert_cmpuint(rd(e, RDH), ==, 2);
    g_assert_cmphex(qtest_readb(e->qts, e->rx_ring + 12) & 3, ==, RXD_DD);
    g_assert_cmphex(qtest_readb(e->qts, e->rx_ring + 16 + 12) & 3, ==,
                    RXD_DD | RXD_EOP);
    g_assert_cmpuint(qtest_readw(e->qts, e->rx_ring + 8) +
                     qtest_readw(e->qts, e->rx_ring + 16 + 8), ==, 304);
    e1000_stop(e);
}

/*
 * The command-line forms reach slirp just as -netdev/-device does: -nic
 * with pc's default model (e1000, as QEMU) and the legacy -net pair.
 */
static void test_nic_and_net_options(void)
{
    static const char *const forms[] = {
        "-nic user",
        "-nic user,model=e1000,mac=52:54:00:12:34:56",
        "-net nic,model=e1000 -net user",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
        E1000 *e = e1000_start_args(forms[i]);
        uint8_t f[RX_BUF];

        g_assert_cmphex(rd(e, RAL0), ==, 0x12005452);
        rings_init(e, 8, 0);
        send_arp(e);
        g_assert_true(rx_wait(e, 1));
        qtest_memread(e->qts, e->rx_bufs, f, 64);
        assert_arp_reply(f);
        e1000_stop(e);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/e1000/pci-ids", test_pci_ids);
    g_test_add_func("/qtest/e1000/option-rom", test_option_rom);
    g_test_add_func("/qtest/e1000/eeprom", test_eeprom);
    g_test_add_func("/qtest/e1000/phy", test_phy);
    g_test_add_func("/qtest/e1000/reset", test_reset);
    g_test_add_func("/qtest/e1000/tx-rx-arp", test_tx_rx_arp);
    g_test_add_func("/qtest/e1000/tx-checksum-offload", test_tx_checksum_offload);
    g_test_add_func("/qtest/e1000/tso-loopback", test_tso_loopback);
    g_test_add_func("/qtest/e1000/itr", test_itr);
    g_test_add_func("/qtest/e1000/link", test_link);
    g_test_add_func("/qtest/e1000/hostile", test_hostile);
    g_test_add_func("/qtest/e1000/rx-too-big-for-ring",
                    test_rx_too_big_for_ring);
    g_test_add_func("/qtest/e1000/nic-and-net-options",
                    test_nic_and_net_options);
    return g_test_run();
}
