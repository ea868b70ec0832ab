/*
 * Intel 82540EM: the device state shared by the register side (e1000.c)
 * and the descriptor rings (e1000-rxtx.c); private to hw/net.
 */
#ifndef HW_NET_E1000_H
#define HW_NET_E1000_H

#include "e1000-regs.h"
#include "hw/pci/pci.h"
#include "net/net.h"
#include "system/timer.h"

#define E1000_MMIO_SIZE     0x20000
#define E1000_IO_SIZE       0x40
#define E1000_NREGS         (E1000_REG_END / 4)
#define EEPROM_WORDS        64
#define EEPROM_CHECKSUM     0xbaba
#define NUM_RA              16
/* Largest frame the transmit side builds (the 82540's 16288 rounded up). */
#define TX_FRAME_MAX        16384
/* Bounds for a TSO packet a guest describes (hostile values are dropped). */
#define TSO_MSS_MIN         32
#define TSO_PAYLOAD_MAX     (256 * 1024)
#define RX_FRAME_MAX        16384   /* with LPE; 1522 without */
#define ETH_ZLEN            60
#define ETH_HLEN            14
#define ETH_CRC_LEN         4
#define VLAN_HLEN           4
#define MAX_VLAN_FRAME      1522
#define DESC_SIZE           16

/* Microwire read phases */
#define EE_IDLE             0   /* taking the command in */
#define EE_DUMMY            1   /* DO shows the dummy 0 */
#define EE_DATA             2   /* DO shows data bits */

#define R(s, off) ((s)->mac_reg[(off) >> 2])

typedef struct E1000State {
    PCIDevice pci;
    /* properties */
    char *netdev;
    char *mac_str;
    bool mitigation;
    uint32_t bootindex;         /* UINT32_MAX: none (-1 as QEMU's) */

    MemoryRegion mmio, io;
    PCIDeviceInfo info;
    NetClient *nc;
    AddressSpace *as;
    uint8_t mac[6];
    uint32_t mac_reg[E1000_NREGS];
    uint16_t phy_reg[PHY_REGS];
    uint16_t eeprom[EEPROM_WORDS];
    uint32_t ioaddr;            /* IOADDR of the I/O BAR */

    /* Microwire state (EECD bit-banging) */
    uint32_t ee_old;            /* the pins last written */
    uint32_t ee_bits_in;        /* bits shifted in since CS rose */
    uint32_t ee_val_in;
    uint32_t ee_reading;        /* EE_* */
    uint32_t ee_bitnum_out;     /* bit of the EEPROM image being output */

    /* interrupt mitigation (ITR/RADV/TADV) */
    Timer *mit_timer;
    bool mit_timer_on;
    bool mit_ide;               /* a TX descriptor with IDE was written back */
    bool irq_level;

    /* transmit: the last context descriptor, and the packet being built */
    uint8_t tx_ctx[DESC_SIZE];
    bool tx_in_packet;
    bool tx_tse;                /* this packet is segmented */
    bool tx_bad;                /* oversized or bogus: dropped at EOP */
    uint8_t tx_popts;
    bool tx_legacy_ic;          /* legacy IC: CSS/CSO below, not the context */
    uint8_t tx_legacy_css, tx_legacy_cso;
    bool tx_vle;
    uint16_t tx_vlan;
    uint8_t tx_hdr;             /* TSO: header length and MSS, checked */
    uint16_t tx_mss;
    uint32_t tx_len;
    uint32_t tx_segs;
    uint32_t tx_sent;           /* payload bytes in segments already sent */
    bool tx_running, rx_running;    /* re-entry through DMA to our BARs */
    uint8_t tx_buf[TX_FRAME_MAX];
    uint8_t tx_frame[TX_FRAME_MAX + VLAN_HLEN];
    uint8_t rx_frame[RX_FRAME_MAX + VLAN_HLEN + ETH_CRC_LEN];
} E1000State;

/* e1000.c */
void e1000_set_ics(E1000State *s, uint32_t causes);
void e1000_stat_add(E1000State *s, uint32_t off, uint32_t n);
void e1000_stat_add64(E1000State *s, uint32_t lo, uint64_t n);

/* e1000-rxtx.c */
void e1000_start_xmit(E1000State *s);
void e1000_tx_packet_done(E1000State *s);
bool e1000_receive_frame(E1000State *s, const uint8_t *buf, size_t len);
bool e1000_rx_ready(E1000State *s);
bool e1000_tso_params_ok(unsigned hdr, unsigned mss);

#endif
