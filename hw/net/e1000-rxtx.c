/*
 * Intel 82540EM descriptor rings (SDM chapter 3): legacy receive
 * descriptors with filtering, VLAN stripping and checksum status; legacy
 * and context/data transmit descriptors with checksum offload and TCP
 * segmentation. Every ring value and offset comes from the guest and is
 * bounded where it is used.
 */
#include <string.h>

#include "e1000.h"
#include "util/le.h"
#include "util/log.h"

/* ---- helpers ---- */

static void stat_size_bucket(E1000State *s, uint32_t base64, size_t len)
{
    static const size_t limits[] = { 64, 127, 255, 511, 1023, 1522 };

    for (unsigned i = 0; i < G_N_ELEMENTS(limits); i++) {
        if (len <= limits[i]) {
            e1000_stat_add(s, base64 + 4 * i, 1);
            return;
        }
    }
}

static uint16_t be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/* RFC 1071 sum of buf[0..len), not yet folded or complemented. */
static uint32_t csum_add(uint32_t sum, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += be16(buf + i);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if (len & 1) {
        sum += buf[len - 1] << 8;
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

/*
 * Stores the complemented sum of buf[css..cse] (cse 0: to the end) at cso,
 * as the transmit checksum offloads do; offsets past the frame do nothing.
 */
static void put_checksum(uint8_t *buf, size_t len, unsigned css,
                         unsigned cse, unsigned cso)
{
    size_t end = cse ? MIN((size_t)cse + 1, len) : len;

    if (css >= end || (size_t)cso + 2 > len) {
        return;
    }
    put_be16(buf + cso, ~csum_fold(csum_add(0, buf + css, end - css)));
}

/* IEEE 802.3 frame check sequence (CRC-32, reflected). */
static uint32_t eth_crc32(const uint8_t *buf, size_t len)
{
    uint32_t crc = 0xffffffff;

    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
        }
    }
    return ~crc;
}

/* ---- transmit (3.3, 3.5) ---- */

static bool tx_ring(E1000State *s, uint64_t *base, uint32_t *n)
{
    *base = (uint64_t)R(s, E1000_TDBAH) << 32 | R(s, E1000_TDBAL);
    *n = R(s, E1000_TDLEN) / DESC_SIZE;
    return *n && R(s, E1000_TDH) < *n && R(s, E1000_TDT) < *n;
}

/* One frame out: to ourselves in loopback, else to the backend. */
static void e1000_send_frame(E1000State *s, uint8_t *buf, size_t len)
{
    if (len < ETH_ZLEN && (R(s, E1000_TCTL) & E1000_TCTL_PSP)) {
        memset(buf + len, 0, ETH_ZLEN - len);
        len = ETH_ZLEN;
    }
    if (len >= ETH_HLEN) {
        if (!memcmp(buf, "\xff\xff\xff\xff\xff\xff", 6)) {
            e1000_stat_add(s, E1000_BPTC, 1);
        } else if (buf[0] & 1) {
            e1000_stat_add(s, E1000_MPTC, 1);
        }
    }
    e1000_stat_add(s, E1000_GPTC, 1);
    e1000_stat_add(s, E1000_TPT, 1);
    e1000_stat_add64(s, E1000_GOTCL, len + ETH_CRC_LEN);
    e1000_stat_add64(s, E1000_TOTL, len + ETH_CRC_LEN);
    stat_size_bucket(s, E1000_PTC64, len + ETH_CRC_LEN);
    if ((s->phy_reg[PHY_CTRL] & MII_CR_LOOPBACK) ||
        (R(s, E1000_RCTL) & E1000_RCTL_LBM_MASK) == E1000_RCTL_LBM_MAC) {
        if (s->rx_running || !e1000_receive_frame(s, buf, len)) {
            e1000_stat_add(s, E1000_MPC, 1);
        }
        return;
    }
    net_send(s->nc, buf, len);
}

/*
 * Emits tx_buf[0..tx_len) as one frame: for TSO, the header is patched
 * for this segment (IP length and ID, TCP sequence and flags or UDP
 * length) and the offloaded checksums are filled in; every offset comes
 * from the guest, so each patch is bounded by the header it lands in.
 */
static void e1000_tx_emit(E1000State *s, bool last)
{
    const uint8_t *c = s->tx_ctx;
    unsigned ipcss = c[0], ipcso = c[1], ipcse = ld16(c + 2);
    unsigned tucss = c[4], tucso = c[5], tucse = ld16(c + 6);
    uint32_t cmd = ld32(c + 8);
    unsigned hdr = s->tx_tse ? s->tx_hdr : 0;
    uint8_t *f = s->tx_frame;
    size_t len = s->tx_len;

    memcpy(f, s->tx_buf, len);
    if (s->tx_tse) {
        if (cmd & E1000_TXD_TUCMD_IP) {
            if (ipcss + 6 <= hdr) {
                put_be16(f + ipcss + 2, len - ipcss);
                put_be16(f + ipcss + 4, be16(f + ipcss + 4) + s->tx_segs);
            }
        } else if (ipcss + 6 <= hdr && len >= ipcss + 40) {
            put_be16(f + ipcss + 4, len - ipcss - 40);
        }
        if (cmd & E1000_TXD_TUCMD_TCP) {
            if (tucss + 14 <= hdr) {
                uint32_t seq = be32(f + tucss + 4) + s->tx_sent;
                put_be16(f + tucss + 4, seq >> 16);
                put_be16(f + tucss + 6, seq);
                if (!last) {
                    f[tucss + 13] &= ~0x09;     /* FIN and PSH: last only */
                }
            }
        } else if (tucss + 6 <= hdr) {
            put_be16(f + tucss + 4, len - tucss);
        }
        if ((s->tx_popts & E1000_TXD_POPTS_TXSM) && tucso + 2 <= hdr &&
            tucss < len) {
            /* the driver's pseudo-header sum leaves out the length */
            uint32_t sum = be16(f + tucso) + (uint32_t)(len - tucss);
            put_be16(f + tucso, csum_fold(sum));
        }
        if ((s->tx_popts & E1000_TXD_POPTS_IXSM) && ipcso + 2 <= hdr) {
            put_be16(f + ipcso, 0);
        }
    }
    if (s->tx_popts & E1000_TXD_POPTS_IXSM) {
        put_checksum(f, len, ipcss, ipcse, ipcso);
    }
    if (s->tx_popts & E1000_TXD_POPTS_TXSM) {
        put_checksum(f, len, tucss, tucse, tucso);
    }
    if (s->tx_legacy_ic) {
        put_checksum(f, len, s->tx_legacy_css, 0, s->tx_legacy_cso);
    }
    if (s->tx_vle && (R(s, E1000_CTRL) & E1000_CTRL_VME) && len >= 12) {
        memmove(f + 16, f + 12, len - 12);
        put_be16(f + 12, R(s, E1000_VET));
        put_be16(f + 14, s->tx_vlan);
        len += VLAN_HLEN;
    }
    e1000_send_frame(s, f, len);
    s->tx_segs++;
    if (s->tx_tse) {
        s->tx_sent += s->tx_len - hdr;
    }
}

void e1000_tx_packet_done(E1000State *s)
{
    s->tx_in_packet = s->tx_tse = s->tx_bad = s->tx_legacy_ic = false;
    s->tx_len = s->tx_segs = s->tx_sent = 0;
}

bool e1000_tso_params_ok(unsigned hdr, unsigned mss)
{
    return hdr >= ETH_HLEN && mss >= TSO_MSS_MIN &&
           hdr + mss <= TX_FRAME_MAX;
}

/* Appends len bytes of guest memory at addr to the packet being built. */
static void e1000_tx_data(E1000State *s, uint64_t addr, uint32_t len,
                          bool eop)
{
    while (len && !s->tx_bad) {
        uint32_t room, n;

        if (s->tx_tse) {
            unsigned hdr = s->tx_hdr, mss = s->tx_mss;
            uint32_t cap = s->tx_len < hdr ? hdr : hdr + mss;

            if (s->tx_len >= hdr + mss) {
                /* a full segment and more data: not the last one */
                e1000_tx_emit(s, false);
                s->tx_len = hdr;
                if (s->tx_sent > TSO_PAYLOAD_MAX) {
                    s->tx_bad = true;
                    e1000_stat_add(s, E1000_TSCTFC, 1);
                    break;
                }
                continue;
            }
            room = cap - s->tx_len;
        } else {
            room = TX_FRAME_MAX - s->tx_len;
            if (!room) {
                log_guest_error("e1000: transmit packet over %u bytes; "
                                "dropped", TX_FRAME_MAX);
                s->tx_bad = true;
                break;
            }
        }
        n = MIN(len, room);
        address_space_read(s->as, addr, s->tx_buf + s->tx_len, n);
        s->tx_len += n;
        addr += n;
        len -= n;
    }
    if (!eop) {
        return;
    }
    if (!s->tx_bad && s->tx_len &&
        (!s->tx_tse || s->tx_len > s->tx_hdr || !s->tx_segs)) {
        e1000_tx_emit(s, true);
    }
    if (s->tx_tse && !s->tx_bad) {
        e1000_stat_add(s, E1000_TSCTC, 1);
    }
    e1000_tx_packet_done(s);
}

/* Handles the descriptor d; returns the causes its write-back raises. */
static uint32_t e1000_tx_desc(E1000State *s, uint8_t *d, uint64_t daddr)
{
    uint64_t addr = ld64(d);
    uint32_t lower = ld32(d + 8);
    uint32_t upper = ld32(d + 12);
    bool dext = lower & E1000_TXD_CMD_DEXT;

    if (dext && !(lower & E1000_TXD_DTYP_MASK)) {
        memcpy(s->tx_ctx, d, DESC_SIZE);            /* context */
    } else if (dext && (lower & E1000_TXD_DTYP_MASK) == E1000_TXD_DTYP_D) {
        if (!s->tx_in_packet) {
            s->tx_in_packet = true;
            s->tx_popts = upper >> 8;
            s->tx_tse = lower & E1000_TXD_CMD_TSE;
            /*
             * The context (3.3.6) is kept raw and decoded where used; the
             * segment sizes are taken once, so that a context arriving
             * mid-packet cannot change them.
             */
            s->tx_hdr = s->tx_ctx[13];
            s->tx_mss = ld16(s->tx_ctx + 14);
            if (s->tx_tse && !e1000_tso_params_ok(s->tx_hdr, s->tx_mss)) {
                log_guest_error("e1000: TSO with header length %u and MSS "
                                "%u; dropped", s->tx_ctx[13],
                                ld16(s->tx_ctx + 14));
                e1000_stat_add(s, E1000_TSCTFC, 1);
                s->tx_bad = true;
            }
        }
        s->tx_vle = lower & E1000_TXD_CMD_VLE;
        s->tx_vlan = upper >> 16;
        e1000_tx_data(s, addr, lower & E1000_TXD_LEN_MASK,
                      lower & E1000_TXD_CMD_EOP);
    } else if (!dext) {
        /* legacy (3.3.3): CSO/CSS and IC in the packet's descriptors */
        bool eop = lower & E1000_TXD_CMD_EOP;
        if (!s->tx_in_packet) {
            s->tx_in_packet = true;
            s->tx_tse = false;
            s->tx_popts = 0;
        }
        s->tx_vle = lower & E1000_TXD_CMD_VLE;
        s->tx_vlan = upper >> 16;
        if (eop && (lower & E1000_TXD_CMD_IC)) {
            s->tx_legacy_ic = true;
            s->tx_legacy_css = upper >> 8;
            s->tx_legacy_cso = lower >> 16;
        }
        e1000_tx_data(s, addr, lower & 0xffff, eop);
    } else {
        log_guest_error("e1000: transmit descriptor of type %u",
                        (lower & E1000_TXD_DTYP_MASK) >> 20);
    }
    if (lower & (E1000_TXD_CMD_RS | E1000_TXD_CMD_RPS)) {
        uint8_t sta = (upper & 0xff) | E1000_TXD_STAT_DD;
        address_space_write(s->as, daddr + 12, &sta, 1);
        if (lower & E1000_TXD_CMD_IDE) {
            s->mit_ide = true;
        }
        return E1000_ICR_TXDW;
    }
    return 0;
}

/* Processes descriptors from TDH up to TDT, each at most once per kick. */
void e1000_start_xmit(E1000State *s)
{
    uint32_t causes = E1000_ICR_TXQE;
    uint64_t base;
    uint32_t n;

    if (s->tx_running || !(R(s, E1000_TCTL) & E1000_TCTL_EN)) {
        return;
    }
    if (!tx_ring(s, &base, &n)) {
        if (R(s, E1000_TDH) != R(s, E1000_TDT)) {
            log_guest_error("e1000: transmit ring TDLEN %u TDH %u TDT %u",
                            R(s, E1000_TDLEN), R(s, E1000_TDH),
                            R(s, E1000_TDT));
        }
        return;
    }
    s->tx_running = true;
    for (uint32_t done = 0; R(s, E1000_TDH) != R(s, E1000_TDT) && done < n;
         done++) {
        uint32_t head = R(s, E1000_TDH);
        uint64_t daddr = base + (uint64_t)head * DESC_SIZE;
        uint8_t d[DESC_SIZE];

        address_space_read(s->as, daddr, d, sizeof(d));
        causes |= e1000_tx_desc(s, d, daddr);
        /* a DMA write may have moved the ring under us */
        if (R(s, E1000_TDLEN) / DESC_SIZE != n) {
            break;
        }
        R(s, E1000_TDH) = (head + 1) % n;
    }
    s->tx_running = false;
    e1000_set_ics(s, causes);
}

/* ---- receive (3.2) ---- */

static uint32_t rx_buf_size(E1000State *s)
{
    uint32_t rctl = R(s, E1000_RCTL);
    unsigned bsize = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;

    if (rctl & E1000_RCTL_BSEX) {
        static const uint32_t ext[] = { 2048, 16384, 8192, 4096 };
        return ext[bsize];
    }
    return 2048 >> bsize;
}

/* Descriptors the guest has handed us (RDH up to RDT), 0 if the ring is bad. */
static uint32_t rx_free_descs(E1000State *s, uint32_t *n)
{
    uint32_t head = R(s, E1000_RDH), tail = R(s, E1000_RDT);

    *n = R(s, E1000_RDLEN) / DESC_SIZE;
    if (!*n || head >= *n || tail >= *n) {
        return 0;
    }
    return (tail + *n - head) % *n;
}

bool e1000_rx_ready(E1000State *s)
{
    uint32_t n;

    return (R(s, E1000_RCTL) & E1000_RCTL_EN) && !s->nc->link_down &&
           !s->rx_running && rx_free_descs(s, &n) > 0;
}

/* Receive address filtering (13.4.22, 13.5.x): RA, MTA, promiscuity. */
static bool rx_filter(E1000State *s, const uint8_t *buf, size_t len)
{
    uint32_t rctl = R(s, E1000_RCTL);

    if ((rctl & E1000_RCTL_VFE) && len >= 18 &&
        be16(buf + 12) == (R(s, E1000_VET) & 0xffff)) {
        unsigned vid = be16(buf + 14) & 0xfff;
        if (!(R(s, E1000_VFTA + 4 * (vid >> 5)) & (1u << (vid & 31)))) {
            return false;
        }
    }
    if (!memcmp(buf, "\xff\xff\xff\xff\xff\xff", 6)) {
        return rctl & E1000_RCTL_BAM;
    }
    if ((buf[0] & 1) ? (rctl & E1000_RCTL_MPE) : (rctl & E1000_RCTL_UPE)) {
        return true;
    }
    for (int i = 0; i < NUM_RA; i++) {
        uint32_t lo = R(s, E1000_RA + 8 * i), hi = R(s, E1000_RA + 8 * i + 4);
        if ((hi & E1000_RAH_AV) && ld32(buf) == lo &&
            ld16(buf + 4) == (hi & 0xffff)) {
            return true;
        }
    }
    if (buf[0] & 1) {
        static const unsigned shift[] = { 4, 3, 2, 0 };
        unsigned mo = (rctl >> E1000_RCTL_MO_SHIFT) & 3;
        unsigned h = ((buf[4] | buf[5] << 8) >> shift[mo]) & 0xfff;
        return R(s, E1000_MTA + 4 * (h >> 5)) & (1u << (h & 31));
    }
    return false;
}

/*
 * IPv4 header and TCP/UDP checksum checks (RXCSUM IPOFLD/TUOFLD, 3.2.9)
 * for the descriptor's status and error bits.
 */
static void rx_checksum(E1000State *s, const uint8_t *f, size_t len,
                        uint8_t *status, uint8_t *errors)
{
    uint32_t rxcsum = R(s, E1000_RXCSUM);
    const uint8_t *ip = f + ETH_HLEN;

    if (len < ETH_HLEN + 20 || be16(f + 12) != 0x0800 || (ip[0] >> 4) != 4) {
        return;
    }
    unsigned ihl = (ip[0] & 15) * 4;
    unsigned tot = be16(ip + 2);
    if (ihl < 20 || tot < ihl || ETH_HLEN + tot > len) {
        return;
    }
    if (rxcsum & E1000_RXCSUM_IPOFLD) {
        *status |= E1000_RXD_STAT_IPCS;
        if (csum_fold(csum_add(0, ip, ihl)) != 0xffff) {
            *errors |= E1000_RXD_ERR_IPE;
        }
    }
    if (!(rxcsum & E1000_RXCSUM_TUOFLD) || (be16(ip + 6) & 0x3fff) ||
        (ip[9] != 6 && ip[9] != 17)) {
        return;                 /* fragments and other protocols: no claim */
    }
    if (ip[9] == 17 && (tot - ihl < 8 || !be16(ip + ihl + 6))) {
        return;                 /* UDP without a checksum */
    }
    uint32_t sum = csum_add(0, ip + 12, 8) + ip[9] + (tot - ihl);
    sum = csum_add(sum, ip + ihl, tot - ihl);
    *status |= E1000_RXD_STAT_TCPCS;
    if (csum_fold(sum) != 0xffff) {
        *errors |= E1000_RXD_ERR_TCPE;
    }
}

/* Writes frame f (len bytes, CRC included) into the ring from RDH. */
static void rx_write_ring(E1000State *s, const uint8_t *f, size_t len,
                          uint16_t special, uint8_t status, uint8_t errors,
                          uint16_t pcsum, uint32_t n)
{
    uint64_t base = (uint64_t)R(s, E1000_RDBAH) << 32 | R(s, E1000_RDBAL);
    uint32_t bsize = rx_buf_size(s);
    size_t done = 0;

    while (done < len) {
        uint32_t head = R(s, E1000_RDH);
        uint64_t daddr = base + (uint64_t)head * DESC_SIZE;
        uint8_t d[DESC_SIZE];
        size_t chunk = MIN(len - done, bsize);

        address_space_read(s->as, daddr, d, sizeof(d));
        address_space_write(s->as, ld64(d), f + done, chunk);
        done += chunk;
        st16(d + 8, chunk);
        st16(d + 10, pcsum);
        d[12] = E1000_RXD_STAT_DD | (done == len ? status |
                                     E1000_RXD_STAT_EOP : 0);
        d[13] = done == len ? errors : 0;
        st16(d + 14, special);
        address_space_write(s->as, daddr + 8, d + 8, 8);
        R(s, E1000_RDH) = (head + 1) % n;
    }
}

/*
 * Takes one frame: filters it, strips the VLAN tag (CTRL.VME), appends the
 * CRC unless SECRC, and spreads it over as many buffers as it needs.
 * Returns false (the frame waits in the queue) while the guest has not
 * given enough buffers; frames no ring could ever hold are dropped.
 */
bool e1000_receive_frame(E1000State *s, const uint8_t *buf, size_t len)
{
    uint32_t rctl = R(s, E1000_RCTL);
    uint8_t *f = s->rx_frame;
    uint8_t status = 0, errors = 0;
    uint16_t special = 0;
    uint32_t n, free, need;
    /* without LPE: 1518 bytes, or 1522 with a VLAN tag (CRC not counted) */
    size_t max = (rctl & E1000_RCTL_LPE) ? RX_FRAME_MAX : MAX_VLAN_FRAME;

    if (!e1000_rx_ready(s)) {
        return false;
    }
    if (len < ETH_HLEN || !rx_filter(s, buf, len)) {
        return true;
    }
    if (len > max) {
        e1000_stat_add(s, E1000_ROC, 1);
        return true;
    }
    memcpy(f, buf, len);
    if ((R(s, E1000_CTRL) & E1000_CTRL_VME) && len >= 18 &&
        be16(f + 12) == (R(s, E1000_VET) & 0xffff)) {
        special = be16(f + 14);
        status |= E1000_RXD_STAT_VP;
        memmove(f + 12, f + 16, len - 16);
        len -= VLAN_HLEN;
    }
    if (len < ETH_ZLEN) {
        memset(f + len, 0, ETH_ZLEN - len);     /* a wire never has runts */
        len = ETH_ZLEN;
    }
    rx_checksum(s, f, len, &status, &errors);
    unsigned pcss = R(s, E1000_RXCSUM) & E1000_RXCSUM_PCSS_MASK;
    uint16_t pcsum = pcss < len ? csum_fold(csum_add(0, f + pcss,
                                                     len - pcss)) : 0;
    size_t stat_len = len + ETH_CRC_LEN;
    if (!(rctl & E1000_RCTL_SECRC)) {
        st32(f + len, eth_crc32(f, len));
        len += ETH_CRC_LEN;
    }
    free = rx_free_descs(s, &n);
    need = (len + rx_buf_size(s) - 1) / rx_buf_size(s);
    if (need >= n) {
        /* more buffers than the whole ring has: the part drops it */
        e1000_stat_add(s, E1000_MPC, 1);
        e1000_set_ics(s, E1000_ICR_RXO);
        return true;
    }
    if (need > free) {
        e1000_stat_add(s, E1000_RNBC, 1);
        return false;
    }
    s->rx_running = true;
    rx_write_ring(s, f, len, special, status, errors, pcsum, n);
    s->rx_running = false;

    if (!memcmp(buf, "\xff\xff\xff\xff\xff\xff", 6)) {
        e1000_stat_add(s, E1000_BPRC, 1);
    } else if (buf[0] & 1) {
        e1000_stat_add(s, E1000_MPRC, 1);
    }
    e1000_stat_add(s, E1000_GPRC, 1);
    e1000_stat_add(s, E1000_TPR, 1);
    e1000_stat_add64(s, E1000_GORCL, stat_len);
    e1000_stat_add64(s, E1000_TORL, stat_len);
    stat_size_bucket(s, E1000_PRC64, stat_len);

    uint32_t causes = E1000_ICR_RXT0;
    unsigned rdmts = (rctl >> E1000_RCTL_RDMTS_SHIFT) & 3;
    if (rdmts < 3 && rx_free_descs(s, &n) <= n >> (rdmts + 1)) {
        causes |= E1000_ICR_RXDMT0;
    }
    e1000_set_ics(s, causes);
    return true;
}
