/*
 * Intel 82540EM Gigabit Ethernet controller (8086:100e), after the PCI/PCI-X
 * Family of Gigabit Ethernet Controllers Software Developer's Manual: MMIO
 * and IOADDR/IODATA registers, the Microwire EEPROM, the M88E1011 PHY behind
 * MDIC, legacy receive descriptors, legacy and context/data transmit
 * descriptors with checksum offload and TCP segmentation, interrupt
 * throttling; frames go to and from a -netdev backend.
 */
#include <stdio.h>
#include <string.h>

#include "e1000.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

/* Statistics registers (13.7) stick at their maximum. */
void e1000_stat_add(E1000State *s, uint32_t off, uint32_t n)
{
    uint32_t v = R(s, off);
    R(s, off) = v + n < v ? UINT32_MAX : v + n;
}

void e1000_stat_add64(E1000State *s, uint32_t lo, uint64_t n)
{
    uint64_t v = R(s, lo) | (uint64_t)R(s, lo + 4) << 32;
    v = v + n < v ? UINT64_MAX : v + n;
    R(s, lo) = v;
    R(s, lo + 4) = v >> 32;
}

static bool link_is_up(E1000State *s)
{
    return !s->nc->link_down;
}

/* ---- interrupts (13.4.17-13.4.21), with throttling (13.4.18) ---- */

static void mit_delay_min(uint32_t *delay, uint32_t value)
{
    if (value && (*delay == 0 || value < *delay)) {
        *delay = value;
    }
}

/*
 * Drives INTA# from ICR & IMS. A rising edge starts the throttling
 * interval (the smallest of ITR, RADV and TADV where they apply, in 256 ns
 * units); causes arriving inside it wait until it ends, as with QEMU's
 * mitigation=on.
 */
static void e1000_update_irq(E1000State *s)
{
    uint32_t pending = R(s, E1000_ICR) & R(s, E1000_IMS);

    if (!pending) {
        s->irq_level = false;
        pci_irq_set(&s->pci, 0);
        return;
    }
    if (s->irq_level || s->mit_timer_on) {
        return;
    }
    if (s->mitigation) {
        uint32_t delay = 0;

        if (s->mit_ide && (pending & (E1000_ICR_TXQE | E1000_ICR_TXDW))) {
            mit_delay_min(&delay, (R(s, E1000_TADV) & 0xffff) * 4);
        }
        if ((R(s, E1000_RDTR) & 0xffff) && (pending & E1000_ICR_RXT0)) {
            mit_delay_min(&delay, (R(s, E1000_RADV) & 0xffff) * 4);
        }
        mit_delay_min(&delay, R(s, E1000_ITR) & 0xffff);
        if (delay) {
            s->mit_timer_on = true;
            timer_mod(s->mit_timer, clock_get_ns(CLK_VIRTUAL) +
                      (int64_t)delay * 256);
        }
        s->mit_ide = false;
    }
    s->irq_level = true;
    pci_irq_set(&s->pci, 1);
}

static void e1000_mit_timer_expired(void *opaque)
{
    E1000State *s = opaque;

    s->mit_timer_on = false;
    /* a cause that came in the interval is delivered now */
    s->irq_level = false;
    e1000_update_irq(s);
}

void e1000_set_ics(E1000State *s, uint32_t causes)
{
    R(s, E1000_ICR) |= causes & E1000_ICR_CAUSES;
    e1000_update_irq(s);
}

/* ---- link and PHY ---- */

static void e1000_set_link_regs(E1000State *s, bool up)
{
    if (up) {
        R(s, E1000_STATUS) |= E1000_STATUS_LU;
        s->phy_reg[PHY_STATUS] |= MII_SR_LINK_STATUS | MII_SR_AUTONEG_COMPLETE;
        s->phy_reg[PHY_LP_ABILITY] = 0x45e1;
        s->phy_reg[M88_PHY_SPEC_STATUS] = 0xac00;   /* 1000 FD, resolved */
    } else {
        R(s, E1000_STATUS) &= ~E1000_STATUS_LU;
        s->phy_reg[PHY_STATUS] &= ~(MII_SR_LINK_STATUS |
                                    MII_SR_AUTONEG_COMPLETE);
        s->phy_reg[PHY_LP_ABILITY] = 0;
        s->phy_reg[M88_PHY_SPEC_STATUS] = 0;
    }
}

static void e1000_phy_reset(E1000State *s)
{
    memset(s->phy_reg, 0, sizeof(s->phy_reg));
    s->phy_reg[PHY_CTRL] = 0x1140;          /* autoneg on, 1000, full */
    s->phy_reg[PHY_STATUS] = 0x7949;        /* abilities, ext. status */
    s->phy_reg[PHY_ID1] = 0x0141;           /* Marvell, M88E1011 */
    s->phy_reg[PHY_ID2] = 0x0c20;
    s->phy_reg[PHY_AUTONEG_ADV] = 0x0de1;
    s->phy_reg[PHY_AUTONEG_EXP] = 0x0001;
    s->phy_reg[PHY_1000T_CTRL] = 0x0300;
    s->phy_reg[PHY_1000T_STATUS] = 0x3c00;
    s->phy_reg[PHY_EXT_STATUS] = 0x3000;
    s->phy_reg[M88_PHY_SPEC_CTRL] = 0x0068;
    s->phy_reg[M88_EXT_PHY_SPEC_CTRL] = 0x0d60;
    e1000_set_link_regs(s, link_is_up(s));
}

static void e1000_phy_write(E1000State *s, unsigned reg, uint16_t val)
{
    switch (reg) {
    case PHY_CTRL:
        if (val & MII_CR_RESET) {
            e1000_phy_reset(s);
            return;
        }
        /* autonegotiation completes at once: the partner is always there */
        s->phy_reg[PHY_CTRL] = val & ~(MII_CR_RESET | MII_CR_RESTART_AUTONEG);
        e1000_set_link_regs(s, link_is_up(s));
        break;
    case PHY_AUTONEG_ADV:
    case PHY_NEXT_PAGE_TX:
    case PHY_1000T_CTRL:
    case M88_PHY_SPEC_CTRL:
    case M88_INT_ENABLE:
    case M88_EXT_PHY_SPEC_CTRL:
    case 0x16 ... 0x1f:         /* page select, LED and vendor registers */
        s->phy_reg[reg] = val;
        break;
    default:
        break;                  /* status and ID registers are read-only */
    }
}

/* MDIC (13.4.7): one PHY at address 1; operations complete at once. */
static void e1000_mdic_write(E1000State *s, uint32_t val)
{
    unsigned phy = (val >> E1000_MDIC_PHY_SHIFT) & 0x1f;
    unsigned reg = (val >> E1000_MDIC_REG_SHIFT) & 0x1f;
    uint32_t data = val & E1000_MDIC_DATA_MASK;
    uint32_t res = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);

    if (phy != 1) {
        res |= E1000_MDIC_ERROR;
    } else if (val & E1000_MDIC_OP_READ) {
        res = (res & ~E1000_MDIC_DATA_MASK) | s->phy_reg[reg];
    } else if (val & E1000_MDIC_OP_WRITE) {
        e1000_phy_write(s, reg, data);
    } else {
        res |= E1000_MDIC_ERROR;
    }
    R(s, E1000_MDIC) = res | E1000_MDIC_READY;
    if (val & E1000_MDIC_INT_EN) {
        e1000_set_ics(s, E1000_ICR_MDAC);
    }
}

static void e1000_link_changed(E1000State *s)
{
    bool up = link_is_up(s);

    if (!!(R(s, E1000_STATUS) & E1000_STATUS_LU) == up) {
        return;
    }
    e1000_set_link_regs(s, up);
    e1000_set_ics(s, E1000_ICR_LSC);
}

/* ---- EEPROM (5.3, 5.6): Microwire bit-banging through EECD, and EERD ---- */

static void e1000_eeprom_init(E1000State *s)
{
    uint16_t *w = s->eeprom;
    uint16_t sum = 0;

    memset(w, 0, sizeof(s->eeprom));
    for (int i = 0; i < 3; i++) {
        w[i] = s->mac[2 * i] | s->mac[2 * i + 1] << 8;
    }
    w[0x04] = 0xffff;                   /* LED settings: the defaults */
    w[0x08] = 0x3000;                   /* PBA number */
    w[0x09] = 0x1000;
    w[0x0a] = 0x4003;                   /* init control 1: valid, load IDs */
    w[0x0b] = PCI_SUBDEVICE_ID_QEMU;    /* as the configuration space */
    w[0x0c] = PCI_SUBVENDOR_ID_REDHAT_QUMRANET;
    w[0x0d] = 0x100e;
    w[0x0e] = 0x8086;
    w[0x0f] = 0x3000;                   /* init control 2: both PAUSE bits */
    for (int i = 0; i < EEPROM_WORDS - 1; i++) {
        sum += w[i];
    }
    w[EEPROM_WORDS - 1] = EEPROM_CHECKSUM - sum;
}

static uint32_t e1000_eecd_read(E1000State *s)
{
    uint32_t v = (s->ee_old & (E1000_EECD_SK | E1000_EECD_CS |
                               E1000_EECD_DI | E1000_EECD_FWE |
                               E1000_EECD_REQ)) | E1000_EECD_PRES;

    if (v & E1000_EECD_REQ) {
        v |= E1000_EECD_GNT;
    }
    if (s->ee_reading == EE_DATA && s->ee_bitnum_out < EEPROM_WORDS * 16) {
        unsigned n = s->ee_bitnum_out;
        if ((s->eeprom[n >> 4] >> (15 - (n & 15))) & 1) {
            v |= E1000_EECD_DO;
        }
    }
    return v;
}

/*
 * Microwire READ: a start bit, opcode 10b and 6 address bits come in on DI
 * at rising SK edges; then a dummy 0 and 16 data bits go out on DO, the
 * next words following while CS stays high. Writes are not supported (the
 * image is read-only, as QEMU's).
 */
static void e1000_eecd_write(E1000State *s, uint32_t val)
{
    uint32_t old = s->ee_old;

    s->ee_old = val;
    if (!(val & E1000_EECD_CS)) {
        s->ee_bits_in = 0;
        s->ee_val_in = 0;
        s->ee_reading = 0;
        return;
    }
    if ((old & E1000_EECD_SK) || !(val & E1000_EECD_SK)) {
        return;                 /* only rising clock edges move data */
    }
    if (s->ee_reading == EE_DUMMY) {
        s->ee_reading = EE_DATA;        /* the word's MSB comes next */
        return;
    }
    if (s->ee_reading == EE_DATA) {
        /* wraps after the last word, as the part does */
        s->ee_bitnum_out = (s->ee_bitnum_out + 1) % (EEPROM_WORDS * 16);
        return;
    }
    if (s->ee_bits_in >= 9) {
        return;                 /* a command we do not model: ignore bits */
    }
    s->ee_val_in = (s->ee_val_in << 1) | !!(val & E1000_EECD_DI);
    if (++s->ee_bits_in == 9 && (s->ee_val_in >> 6) == 0x6) {
        s->ee_reading = EE_DUMMY;
        s->ee_bitnum_out = (s->ee_val_in & 0x3f) * 16;
    }
}

/* EERD (13.4.4): a read completes at once. */
static void e1000_eerd_write(E1000State *s, uint32_t val)
{
    unsigned addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xff;

    if (!(val & E1000_EERD_START)) {
        R(s, E1000_EERD) = val & ~E1000_EERD_DONE;
        return;
    }
    R(s, E1000_EERD) = (addr << E1000_EERD_ADDR_SHIFT) | E1000_EERD_DONE |
        (addr < EEPROM_WORDS ? (uint32_t)s->eeprom[addr] <<
         E1000_EERD_DATA_SHIFT : 0);
}

/* ---- reset ---- */

static void e1000_reset_regs(E1000State *s)
{
    memset(s->mac_reg, 0, sizeof(s->mac_reg));
    R(s, E1000_CTRL) = E1000_CTRL_FD | E1000_CTRL_ASDE | E1000_CTRL_SLU |
                       E1000_CTRL_SPD_1000;
    R(s, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_SPEED_1000 |
                         E1000_STATUS_ASDV_1000;
    R(s, E1000_VET) = 0x8100;
    R(s, E1000_LEDCTL) = 0x07068302;
    R(s, E1000_PBA) = 0x00100030;           /* 48 KiB receive, 16 KiB TX */
    R(s, E1000_TIPG) = 0x0060200a;
    R(s, E1000_RXCSUM) = E1000_RXCSUM_IPOFLD | E1000_RXCSUM_TUOFLD;
    R(s, E1000_TXDCTL) = 0x00010000;
    R(s, E1000_RXDCTL) = 0x00010000;
    /* the first receive address comes from the EEPROM */
    R(s, E1000_RA) = ld32(s->mac);
    R(s, E1000_RA + 4) = ld16(s->mac + 4) | E1000_RAH_AV;
    s->ee_old = s->ee_bits_in = s->ee_val_in = s->ee_reading = 0;
    s->ee_bitnum_out = 0;
    s->ioaddr = 0;
    memset(s->tx_ctx, 0, sizeof(s->tx_ctx));
    e1000_tx_packet_done(s);
    s->tx_vle = false;
    s->tx_popts = 0;
    s->tx_vlan = 0;
    timer_del(s->mit_timer);
    s->mit_timer_on = s->mit_ide = false;
    e1000_phy_reset(s);
    e1000_update_irq(s);
}

/* ---- the network client ---- */

static bool nic_can_receive(NetClient *nc)
{
    return e1000_rx_ready(nc->opaque);
}

static bool nic_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    return e1000_receive_frame(nc->opaque, buf, len);
}

static void nic_link_status_changed(NetClient *nc)
{
    e1000_link_changed(nc->opaque);
}

static const NetClientOps e1000_nic_ops = {
    .type = "nic",
    .can_receive = nic_can_receive,
    .receive = nic_receive,
    .link_status_changed = nic_link_status_changed,
};

/* ---- register access (13.3) ---- */

/* Registers with no side effects: what the guest writes, it reads. */
static bool reg_is_plain(uint32_t off)
{
    static const uint32_t plain[] = {
        E1000_CTRL_EXT, E1000_FCAL, E1000_FCAH, E1000_FCT, E1000_FCTTV,
        E1000_TXCW, E1000_RXCW, E1000_TIPG, E1000_AIT, E1000_LEDCTL,
        E1000_PBA, E1000_FCRTL, E1000_FCRTH, E1000_RDBAH, E1000_RDTR,
        E1000_RXDCTL, E1000_RADV, E1000_RSRPD, E1000_TXDMAC, E1000_TDBAH,
        E1000_TIDV, E1000_TXDCTL, E1000_TADV, E1000_TSPMT, E1000_WUC,
        E1000_WUFC, E1000_WUS, E1000_MANC, E1000_IPAV, E1000_RDH,
        E1000_TDH,
    };

    if ((off >= E1000_MTA && off < E1000_MTA + 0x200) ||
        (off >= E1000_RA && off < E1000_RA + 8 * NUM_RA) ||
        (off >= E1000_VFTA && off < E1000_VFTA + 0x200) ||
        (off >= E1000_IP4AT && off < E1000_IP4AT + 0x20) ||
        (off >= E1000_IP6AT && off < E1000_IP6AT + 0x10) ||
        (off >= E1000_WUPM && off < E1000_WUPM + 0x80) ||
        (off >= E1000_FFLT && off < E1000_FFLT + 0x20)) {
        return true;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(plain); i++) {
        if (plain[i] == off) {
            return true;
        }
    }
    return false;
}

static uint32_t e1000_reg_read(E1000State *s, uint32_t off)
{
    uint32_t v;

    if (off >= E1000_REG_END) {
        return 0;
    }
    if (off >= E1000_STATS && off < E1000_STATS_END) {
        v = R(s, off);
        /* the low half of a 64-bit counter clears with the high half */
        if (off == E1000_GORCL || off == E1000_GOTCL || off == E1000_TORL ||
            off == E1000_TOTL) {
            return v;
        }
        R(s, off) = 0;
        if (off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH ||
            off == E1000_TOTH) {
            R(s, off - 4) = 0;
        }
        return v;
    }
    switch (off) {
    case E1000_ICR:
        v = R(s, E1000_ICR);
        R(s, E1000_ICR) = 0;
        e1000_update_irq(s);
        return v;
    case E1000_ICS:
        return R(s, E1000_ICR);
    case E1000_IMC:
        return 0;
    case E1000_EECD:
        return e1000_eecd_read(s);
    case E1000_CTRL: case E1000_STATUS: case E1000_EERD: case E1000_MDIC:
    case E1000_VET: case E1000_ITR: case E1000_IMS: case E1000_RCTL:
    case E1000_TCTL: case E1000_RDBAL: case E1000_RDLEN: case E1000_RDT:
    case E1000_TDBAL: case E1000_TDLEN: case E1000_TDT: case E1000_RXCSUM:
        return R(s, off);
    default:
        return reg_is_plain(off) ? R(s, off) : 0;
    }
}

static void e1000_reg_write(E1000State *s, uint32_t off, uint32_t val)
{
    switch (off) {
    case E1000_CTRL:
        if (val & E1000_CTRL_RST) {
            e1000_reset_regs(s);    /* the MAC and PHY, not the PCI side */
            return;
        }
        if (val & E1000_CTRL_PHY_RST) {
            e1000_phy_reset(s);
        }
        R(s, off) = val & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
        break;
    case E1000_EECD:
        e1000_eecd_write(s, val);
        break;
    case E1000_EERD:
        e1000_eerd_write(s, val);
        break;
    case E1000_MDIC:
        e1000_mdic_write(s, val);
        break;
    case E1000_ICR:
        R(s, E1000_ICR) &= ~val;        /* write 1 to clear */
        e1000_update_irq(s);
        break;
    case E1000_ICS:
        e1000_set_ics(s, val);
        break;
    case E1000_IMS:
        R(s, E1000_IMS) |= val & E1000_ICR_CAUSES;
        e1000_update_irq(s);
        break;
    case E1000_IMC:
        R(s, E1000_IMS) &= ~val;
        e1000_update_irq(s);
        break;
    case E1000_ITR:
    case E1000_VET:
        R(s, off) = val & 0xffff;
        break;
    case E1000_RCTL:
        R(s, off) = val;
        if (val & E1000_RCTL_EN) {
            net_flush(s->nc);
        }
        break;
    case E1000_TCTL:
        R(s, off) = val;
        e1000_start_xmit(s);
        break;
    case E1000_RDBAL:
    case E1000_TDBAL:
        R(s, off) = val & ~0xfu;
        break;
    case E1000_RDLEN:
    case E1000_TDLEN:
        R(s, off) = val & 0xfff80;      /* a multiple of 128 bytes */
        break;
    case E1000_RDH:
    case E1000_TDH:
        R(s, off) = val & 0xffff;
        break;
    case E1000_RDT:
        R(s, off) = val & 0xffff;
        net_flush(s->nc);               /* new buffers: frames that waited */
        break;
    case E1000_TDT:
        R(s, off) = val & 0xffff;
        e1000_start_xmit(s);
        break;
    case E1000_RXCSUM:
        R(s, off) = val & 0x3ff;
        break;
    default:
        if (off < E1000_REG_END && reg_is_plain(off)) {
            R(s, off) = val;
        }
        break;
    }
}

static uint64_t e1000_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    return e1000_reg_read(opaque, addr & ~3u);
}

static void e1000_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    e1000_reg_write(opaque, addr & ~3u, val);
}

static const MemoryRegionOps e1000_mmio_ops = {
    .read = e1000_mmio_read,
    .write = e1000_mmio_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* IOADDR (0x0) selects a register, IODATA (0x4) reaches it (13.2.2). */
static uint64_t e1000_io_read(void *opaque, hwaddr addr, unsigned size)
{
    E1000State *s = opaque;

    if (addr == 0) {
        return s->ioaddr;
    }
    if (addr == 4) {
        return e1000_reg_read(s, s->ioaddr & (E1000_MMIO_SIZE - 4));
    }
    return 0;
}

static void e1000_io_write(void *opaque, hwaddr addr, uint64_t val,
                           unsigned size)
{
    E1000State *s = opaque;

    if (addr == 0) {
        s->ioaddr = val & (E1000_MMIO_SIZE - 4);
    } else if (addr == 4) {
        e1000_reg_write(s, s->ioaddr, val);
    }
}

static const MemoryRegionOps e1000_io_ops = {
    .read = e1000_io_read,
    .write = e1000_io_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- the device ---- */

static bool parse_mac(const char *str, uint8_t mac[6])
{
    unsigned v[6];
    char end;

    if (sscanf(str, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &end) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        if (v[i] > 0xff) {
            return false;
        }
        mac[i] = v[i];
    }
    return !(mac[0] & 1);
}

static bool e1000_realize(Device *dev, Machine *m, GError **errp)
{
    static unsigned nic_count;
    E1000State *s = (E1000State *)dev;
    NetClient *backend = NULL;

    if (s->mac_str && !parse_mac(s->mac_str, s->mac)) {
        g_set_error(errp, VIREO_ERROR, 0, "mac=%s: not a unicast MAC "
                    "address (xx:xx:xx:xx:xx:xx)", s->mac_str);
        return false;
    }
    if (!s->mac_str) {
        memcpy(s->mac, "\x52\x54\x00\x12\x34\x56", 6);  /* QEMU's default */
        s->mac[5] += nic_count;
    }
    if (s->netdev) {
        backend = netdev_find(s->netdev);
        if (!backend) {
            g_set_error(errp, VIREO_ERROR, 0, "netdev=%s: no such netdev",
                        s->netdev);
            return false;
        }
        if (backend->peer) {
            g_set_error(errp, VIREO_ERROR, 0, "netdev=%s is already in use "
                        "by another NIC", s->netdev);
            return false;
        }
    }
    s->info = (PCIDeviceInfo){
        .vendor_id = 0x8086, .device_id = 0x100e, .revision = 0x03,
        .class_code = 0x020000, .interrupt_pin = 1,
    };
    if (!pci_device_init(&s->pci, m, &s->info, errp)) {
        return false;
    }
    /* QEMU's: the PCI path, then the PHY the ROM boots from */
    g_autofree char *of_path = PCI_FUNC(s->pci.devfn)
        ? g_strdup_printf("/pci@i0cf8/ethernet@%x,%x/ethernet-phy@0",
                          PCI_SLOT(s->pci.devfn), PCI_FUNC(s->pci.devfn))
        : g_strdup_printf("/pci@i0cf8/ethernet@%x/ethernet-phy@0",
                          PCI_SLOT(s->pci.devfn));
    if (!pci_add_option_rom(&s->pci, "efi-e1000.rom", errp) ||
        !machine_add_boot_device(m, (int32_t)s->bootindex, of_path, errp)) {
        pci_device_uninit(&s->pci);
        return false;
    }
    nic_count++;
    s->as = &m->as_mem;
    memory_region_init_io(&s->mmio, "e1000-mmio", &e1000_mmio_ops, s,
                          E1000_MMIO_SIZE);
    memory_region_init_io(&s->io, "e1000-io", &e1000_io_ops, s,
                          E1000_IO_SIZE);
    pci_register_bar(&s->pci, 0, 0, &s->mmio);
    pci_register_bar(&s->pci, 1, PCI_BASE_ADDRESS_SPACE_IO, &s->io);
    s->nc = net_client_new(&e1000_nic_ops, dev->id, s);
    if (backend) {
        net_connect(s->nc, backend);
    }
    s->mit_timer = timer_new(CLK_VIRTUAL, e1000_mit_timer_expired, s);
    e1000_eeprom_init(s);
    e1000_reset_regs(s);
    return true;
}

static void e1000_unrealize(Device *dev)
{
    E1000State *s = (E1000State *)dev;

    timer_free(s->mit_timer);
    net_client_free(s->nc);
    pci_device_uninit(&s->pci);
    memory_region_destroy(&s->mmio);
    memory_region_destroy(&s->io);
}

static void e1000_device_reset(Device *dev)
{
    E1000State *s = (E1000State *)dev;

    e1000_reset_regs(s);
    pci_device_reset(&s->pci);
}

/* ---- migration ---- */

/*
 * Registers come back as a guest could have written them (every ring
 * value is checked where it is used); the EEPROM state machine, the packet
 * being built, the link and the interrupt line are checked or derived here.
 */
static bool e1000_post_load(void *opaque, int version_id, GError **errp)
{
    E1000State *s = opaque;

    if (s->ee_bits_in > 9 || s->ee_reading > EE_DATA ||
        s->ee_bitnum_out >= EEPROM_WORDS * 16) {
        g_set_error(errp, VIREO_ERROR, 0, "e1000: EEPROM state (%u bits, "
                    "bit %u) out of range", s->ee_bits_in, s->ee_bitnum_out);
        return false;
    }
    if (s->tx_in_packet && s->tx_tse && !s->tx_bad &&
        (!e1000_tso_params_ok(s->tx_hdr, s->tx_mss) ||
         s->tx_len > s->tx_hdr + s->tx_mss)) {
        g_set_error(errp, VIREO_ERROR, 0, "e1000: TSO packet of %u bytes "
                    "with header %u and MSS %u", s->tx_len, s->tx_hdr,
                    s->tx_mss);
        return false;
    }
    if (!s->tx_in_packet) {
        e1000_tx_packet_done(s);
    }
    s->ioaddr &= E1000_MMIO_SIZE - 4;
    s->nc->link_down = !(R(s, E1000_STATUS) & E1000_STATUS_LU);
    s->tx_running = s->rx_running = false;
    s->irq_level = s->pci.intx_level;
    if (s->mit_timer_on) {
        timer_mod(s->mit_timer, clock_get_ns(CLK_VIRTUAL) +
                  (int64_t)(R(s, E1000_ITR) & 0xffff) * 256);
    } else {
        timer_del(s->mit_timer);
    }
    e1000_update_irq(s);
    return true;
}

static const VMStateField e1000_fields[] = {
    VMSTATE_STRUCT(pci, E1000State, vmstate_pci_device, PCIDevice),
    VMSTATE_UINT32_ARRAY(mac_reg, E1000State),
    VMSTATE_UINT16_ARRAY(phy_reg, E1000State),
    VMSTATE_UINT16_ARRAY(eeprom, E1000State),
    VMSTATE_UINT32(ioaddr, E1000State),
    VMSTATE_UINT32(ee_old, E1000State),
    VMSTATE_UINT32(ee_bits_in, E1000State),
    VMSTATE_UINT32(ee_val_in, E1000State),
    VMSTATE_UINT32(ee_reading, E1000State),
    VMSTATE_UINT32(ee_bitnum_out, E1000State),
    VMSTATE_BOOL(mit_timer_on, E1000State),
    VMSTATE_BOOL(mit_ide, E1000State),
    VMSTATE_UINT8_ARRAY(tx_ctx, E1000State),
    VMSTATE_BOOL(tx_in_packet, E1000State),
    VMSTATE_BOOL(tx_tse, E1000State),
    VMSTATE_BOOL(tx_bad, E1000State),
    VMSTATE_UINT8(tx_popts, E1000State),
    VMSTATE_BOOL(tx_legacy_ic, E1000State),
    VMSTATE_UINT8(tx_legacy_css, E1000State),
    VMSTATE_UINT8(tx_legacy_cso, E1000State),
    VMSTATE_BOOL(tx_vle, E1000State),
    VMSTATE_UINT16(tx_vlan, E1000State),
    VMSTATE_UINT8(tx_hdr, E1000State),
    VMSTATE_UINT16(tx_mss, E1000State),
    VMSTATE_UINT32(tx_segs, E1000State),
    VMSTATE_UINT32(tx_sent, E1000State),
    VMSTATE_VBUFFER(tx_buf, E1000State, tx_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_e1000 = {
    .name = "e1000",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = e1000_fields,
    .post_load = e1000_post_load,
};

static const Property e1000_props[] = {
    PCI_DEVICE_PROPS(E1000State, pci),
    PROP_STR("netdev", E1000State, netdev, NULL, "the -netdev id"),
    PROP_STR("mac", E1000State, mac_str, NULL,
             "MAC address (default 52:54:00:12:34:56 and up)"),
    PROP_BOOL("mitigation", E1000State, mitigation, true,
              "on/off: interrupt throttling (ITR, RADV, TADV)"),
    PROP_U32("bootindex", E1000State, bootindex, UINT32_MAX,
             "boot order of its PXE ROM (default: none)"),
    PROP_END,
};

static DeviceClass e1000_class = {
    .name = "e1000",
    .desc = "Intel Gigabit Ethernet",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(E1000State),
    .props = e1000_props,
    .user_creatable = true,
    .realize = e1000_realize,
    .reset = e1000_device_reset,
    .unrealize = e1000_unrealize,
    .vmsd = &vmstate_e1000,
};
DEVICE_REGISTER(e1000_class)
