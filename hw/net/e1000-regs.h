/*
 * Intel 82540EM register offsets, bits and descriptor layouts, from the
 * PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual (rev. 4.0): chapter 13 (registers), chapter 3 (descriptors).
 */
#ifndef HW_NET_E1000_REGS_H
#define HW_NET_E1000_REGS_H

/* 13.3: general, interrupt, receive and transmit registers (byte offsets) */
#define E1000_CTRL      0x0000
#define E1000_STATUS    0x0008
#define E1000_EECD      0x0010
#define E1000_EERD      0x0014
#define E1000_CTRL_EXT  0x0018
#define E1000_MDIC      0x0020
#define E1000_FCAL      0x0028
#define E1000_FCAH      0x002c
#define E1000_FCT       0x0030
#define E1000_VET       0x0038
#define E1000_ICR       0x00c0
#define E1000_ITR       0x00c4
#define E1000_ICS       0x00c8
#define E1000_IMS       0x00d0
#define E1000_IMC       0x00d8
#define E1000_RCTL      0x0100
#define E1000_FCTTV     0x0170
#define E1000_TXCW      0x0178
#define E1000_RXCW      0x0180
#define E1000_TCTL      0x0400
#define E1000_TIPG      0x0410
#define E1000_AIT       0x0458
#define E1000_LEDCTL    0x0e00
#define E1000_PBA       0x1000
#define E1000_FCRTL     0x2160
#define E1000_FCRTH     0x2168
#define E1000_RDBAL     0x2800
#define E1000_RDBAH     0x2804
#define E1000_RDLEN     0x2808
#define E1000_RDH       0x2810
#define E1000_RDT       0x2818
#define E1000_RDTR      0x2820
#define E1000_RXDCTL    0x2828
#define E1000_RADV      0x282c
#define E1000_RSRPD     0x2c00
#define E1000_TXDMAC    0x3000
#define E1000_TDBAL     0x3800
#define E1000_TDBAH     0x3804
#define E1000_TDLEN     0x3808
#define E1000_TDH       0x3810
#define E1000_TDT       0x3818
#define E1000_TIDV      0x3820
#define E1000_TXDCTL    0x3828
#define E1000_TADV      0x382c
#define E1000_TSPMT     0x3830
#define E1000_STATS     0x4000  /* 0x4000-0x40ff: statistics (13.7) */
#define E1000_STATS_END 0x4100
#define E1000_RXCSUM    0x5000
#define E1000_MTA       0x5200  /* 128 dwords */
#define E1000_RA        0x5400  /* 16 pairs of RAL/RAH */
#define E1000_VFTA      0x5600  /* 128 dwords */
#define E1000_WUC       0x5800
#define E1000_WUFC      0x5808
#define E1000_WUS       0x5810
#define E1000_MANC      0x5820
#define E1000_IPAV      0x5838
#define E1000_IP4AT     0x5840
#define E1000_IP6AT     0x5880
#define E1000_WUPL      0x5900
#define E1000_WUPM      0x5a00
#define E1000_FFLT      0x5f00
#define E1000_REG_END   0x6000  /* registers kept; above reads as 0 */

/* statistics (13.7), clear on read */
#define E1000_CRCERRS   0x4000
#define E1000_MPC       0x4010
#define E1000_COLC      0x4028
#define E1000_PRC64     0x405c
#define E1000_PRC127    0x4060
#define E1000_PRC255    0x4064
#define E1000_PRC511    0x4068
#define E1000_PRC1023   0x406c
#define E1000_PRC1522   0x4070
#define E1000_GPRC      0x4074
#define E1000_BPRC      0x4078
#define E1000_MPRC      0x407c
#define E1000_GPTC      0x4080
#define E1000_GORCL     0x4088
#define E1000_GORCH     0x408c
#define E1000_GOTCL     0x4090
#define E1000_GOTCH     0x4094
#define E1000_RNBC      0x40a0
#define E1000_RUC       0x40a4
#define E1000_ROC       0x40ac
#define E1000_TORL      0x40c0
#define E1000_TORH      0x40c4
#define E1000_TOTL      0x40c8
#define E1000_TOTH      0x40cc
#define E1000_TPR       0x40d0
#define E1000_TPT       0x40d4
#define E1000_PTC64     0x40d8
#define E1000_PTC127    0x40dc
#define E1000_PTC255    0x40e0
#define E1000_PTC511    0x40e4
#define E1000_PTC1023   0x40e8
#define E1000_PTC1522   0x40ec
#define E1000_MPTC      0x40f0
#define E1000_BPTC      0x40f4
#define E1000_TSCTC     0x40f8
#define E1000_TSCTFC    0x40fc

/* CTRL (13.4.1) */
#define E1000_CTRL_FD           0x00000001
#define E1000_CTRL_ASDE         0x00000020
#define E1000_CTRL_SLU          0x00000040
#define E1000_CTRL_SPD_1000     0x00000200
#define E1000_CTRL_RST          0x04000000
#define E1000_CTRL_VME          0x40000000
#define E1000_CTRL_PHY_RST      0x80000000

/* STATUS (13.4.2) */
#define E1000_STATUS_FD         0x00000001
#define E1000_STATUS_LU         0x00000002
#define E1000_STATUS_SPEED_1000 0x00000080
#define E1000_STATUS_ASDV_1000  0x00000200

/* EECD (13.4.3): the Microwire pins, request/grant, presence */
#define E1000_EECD_SK           0x00000001
#define E1000_EECD_CS           0x00000002
#define E1000_EECD_DI           0x00000004
#define E1000_EECD_DO           0x00000008
#define E1000_EECD_FWE          0x00000030
#define E1000_EECD_REQ          0x00000040
#define E1000_EECD_GNT          0x00000080
#define E1000_EECD_PRES         0x00000100
#define E1000_EECD_SIZE         0x00000200  /* 0: 64 words, 6 address bits */

/* EERD (13.4.4), the 82540's layout */
#define E1000_EERD_START        0x00000001
#define E1000_EERD_DONE         0x00000010
#define E1000_EERD_ADDR_SHIFT   8
#define E1000_EERD_DATA_SHIFT   16

/* MDIC (13.4.7) */
#define E1000_MDIC_DATA_MASK    0x0000ffff
#define E1000_MDIC_REG_SHIFT    16
#define E1000_MDIC_PHY_SHIFT    21
#define E1000_MDIC_OP_WRITE     0x04000000
#define E1000_MDIC_OP_READ      0x08000000
#define E1000_MDIC_READY        0x10000000
#define E1000_MDIC_INT_EN       0x20000000
#define E1000_MDIC_ERROR        0x40000000

/* ICR/ICS/IMS/IMC causes (13.4.17) */
#define E1000_ICR_TXDW          0x00000001
#define E1000_ICR_TXQE          0x00000002
#define E1000_ICR_LSC           0x00000004
#define E1000_ICR_RXSEQ         0x00000008
#define E1000_ICR_RXDMT0        0x00000010
#define E1000_ICR_RXO           0x00000040
#define E1000_ICR_RXT0          0x00000080
#define E1000_ICR_MDAC          0x00000200
#define E1000_ICR_CAUSES        0x0001ffff  /* what the 82540 defines */

/* RCTL (13.4.22) */
#define E1000_RCTL_EN           0x00000002
#define E1000_RCTL_SBP          0x00000004
#define E1000_RCTL_UPE          0x00000008
#define E1000_RCTL_MPE          0x00000010
#define E1000_RCTL_LPE          0x00000020
#define E1000_RCTL_LBM_MAC      0x00000040
#define E1000_RCTL_LBM_MASK     0x000000c0
#define E1000_RCTL_RDMTS_SHIFT  8
#define E1000_RCTL_MO_SHIFT     12
#define E1000_RCTL_BAM          0x00008000
#define E1000_RCTL_BSIZE_SHIFT  16
#define E1000_RCTL_VFE          0x00040000
#define E1000_RCTL_BSEX         0x02000000
#define E1000_RCTL_SECRC        0x04000000

/* TCTL (13.4.33) */
#define E1000_TCTL_EN           0x00000002
#define E1000_TCTL_PSP          0x00000008

/* RXCSUM (13.4.38) */
#define E1000_RXCSUM_PCSS_MASK  0x000000ff
#define E1000_RXCSUM_IPOFLD     0x00000100
#define E1000_RXCSUM_TUOFLD     0x00000200

#define E1000_RAH_AV            0x80000000

/* Receive descriptor (3.2.3): status and error bits */
#define E1000_RXD_STAT_DD       0x01
#define E1000_RXD_STAT_EOP      0x02
#define E1000_RXD_STAT_IXSM     0x04
#define E1000_RXD_STAT_VP       0x08
#define E1000_RXD_STAT_TCPCS    0x20
#define E1000_RXD_STAT_IPCS     0x40
#define E1000_RXD_ERR_TCPE      0x20
#define E1000_RXD_ERR_IPE       0x40

/* Transmit descriptors (3.3): command, type and option bits */
#define E1000_TXD_CMD_EOP       0x01000000
#define E1000_TXD_CMD_IFCS      0x02000000
#define E1000_TXD_CMD_IC        0x04000000  /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE       0x04000000  /* extended: segmentation */
#define E1000_TXD_CMD_RS        0x08000000
#define E1000_TXD_CMD_RPS       0x10000000
#define E1000_TXD_CMD_DEXT      0x20000000
#define E1000_TXD_CMD_VLE       0x40000000
#define E1000_TXD_CMD_IDE       0x80000000
#define E1000_TXD_DTYP_MASK     0x00f00000
#define E1000_TXD_DTYP_D        0x00100000  /* data; 0: context */
#define E1000_TXD_LEN_MASK      0x000fffff
#define E1000_TXD_TUCMD_TCP     0x01000000  /* context: TCP (else UDP) */
#define E1000_TXD_TUCMD_IP      0x02000000  /* context: IPv4 (else v6) */
#define E1000_TXD_STAT_DD       0x01
#define E1000_TXD_POPTS_IXSM    0x01
#define E1000_TXD_POPTS_TXSM    0x02

/* PHY registers (IEEE 802.3 clause 22 and the M88E1011's own) */
#define PHY_CTRL                0x00
#define PHY_STATUS              0x01
#define PHY_ID1                 0x02
#define PHY_ID2                 0x03
#define PHY_AUTONEG_ADV         0x04
#define PHY_LP_ABILITY          0x05
#define PHY_AUTONEG_EXP         0x06
#define PHY_NEXT_PAGE_TX        0x07
#define PHY_1000T_CTRL          0x09
#define PHY_1000T_STATUS        0x0a
#define PHY_EXT_STATUS          0x0f
#define M88_PHY_SPEC_CTRL       0x10
#define M88_PHY_SPEC_STATUS     0x11
#define M88_INT_ENABLE          0x12
#define M88_INT_STATUS          0x13
#define M88_EXT_PHY_SPEC_CTRL   0x14
#define M88_RX_ERR_CNTR         0x15
#define PHY_REGS                0x20

#define MII_CR_RESTART_AUTONEG  0x0200
#define MII_CR_LOOPBACK         0x4000
#define MII_CR_RESET            0x8000
#define MII_SR_LINK_STATUS      0x0004
#define MII_SR_AUTONEG_COMPLETE 0x0020
#define M88_PSSR_LINK           0x0400

#endif
