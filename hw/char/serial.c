/*
 * 16550A UART on the ISA bus ("isa-serial"), as PC guests drive it: register
 * set and interrupt priorities per the National Semiconductor PC16550D
 * datasheet, tuned to what Linux's 8250 driver probes (THRE on IER write,
 * loopback MSR test, FIFO detection through IIR bits 7:6).
 * Transmit is immediate: THR bytes go straight to the chardev.
 */
#include <string.h>

#include "chardev/char.h"
#include "hw/device.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/timer.h"
#include "util/opts.h"

/* Register offsets (PC16550D table 2); DLAB=1 maps DLL/DLM over 0 and 1. */
enum {
    UART_RBR = 0,   /* read: receive buffer; write: THR; DLAB: DLL */
    UART_IER = 1,   /* DLAB: DLM */
    UART_IIR = 2,   /* read: interrupt ident; write: FCR */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define UART_IER_RDI    0x01    /* received data available / timeout */
#define UART_IER_THRI   0x02    /* transmitter holding register empty */
#define UART_IER_RLSI   0x04    /* receiver line status */
#define UART_IER_MSI    0x08    /* modem status */
#define UART_IER_MASK   0x0f    /* bits 7:4 read 0 on a 16550A */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_CTI    0x0c    /* character timeout (FIFO mode) */
#define UART_IIR_FIFO   0xc0    /* FIFOs enabled */

#define UART_FCR_FE     0x01    /* FIFO enable */
#define UART_FCR_RFR    0x02    /* clear receive FIFO */
#define UART_FCR_XFR    0x04    /* clear transmit FIFO */
#define UART_FCR_ITL    0xc0    /* receive trigger level */

#define UART_LCR_WLS    0x03    /* word length select */
#define UART_LCR_STB    0x04    /* stop bits */
#define UART_LCR_PEN    0x08    /* parity enable */
#define UART_LCR_DLAB   0x80

#define UART_MCR_DTR    0x01
#define UART_MCR_RTS    0x02
#define UART_MCR_OUT1   0x04
#define UART_MCR_OUT2   0x08
#define UART_MCR_LOOP   0x10
#define UART_MCR_MASK   0x1f

#define UART_LSR_DR     0x01    /* data ready */
#define UART_LSR_OE     0x02    /* overrun */
#define UART_LSR_PE     0x04
#define UART_LSR_FE     0x08
#define UART_LSR_BI     0x10    /* break */
#define UART_LSR_THRE   0x20
#define UART_LSR_TEMT   0x40
#define UART_LSR_FIFOE  0x80    /* error in the receive FIFO */
#define UART_LSR_INT_ANY (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS   0x01
#define UART_MSR_DDSR   0x02
#define UART_MSR_TERI   0x04    /* RI went from on to off */
#define UART_MSR_DDCD   0x08
#define UART_MSR_DELTA  0x0f
#define UART_MSR_CTS    0x10
#define UART_MSR_DSR    0x20
#define UART_MSR_RI     0x40
#define UART_MSR_DCD    0x80

#define UART_FIFO_SIZE  16
#define UART_CLOCK_HZ   1843200     /* PC crystal: divisor 1 = 115200 baud */

/* Legacy COM1-COM4 resources, picked by index= when iobase/irq are unset. */
static const uint32_t com_iobase[4] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };
static const uint32_t com_irq[4] = { 4, 3, 4, 3 };
#define PROP_UNSET      0xffffffffu

typedef struct SerialState {
    Device dev;
    /* properties */
    uint32_t iobase;
    uint32_t irq;
    uint32_t index;
    char *chardev;

    Machine *m;
    Chardev *chr;
    MemoryRegion io;
    bool io_mapped;

    uint16_t divisor;
    uint8_t ier;
    uint8_t fcr;
    uint8_t lcr;
    uint8_t mcr;
    uint8_t lsr;
    uint8_t msr;
    uint8_t scr;
    uint8_t rbr;                /* non-FIFO mode receive register */

    uint8_t rx_fifo[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    unsigned rx_trigger;

    bool thr_ipending;          /* THR became empty, not yet acknowledged */
    bool timeout_ipending;      /* FIFO data waited 4 character times */
    Timer *timeout_timer;       /* CLK_VIRTUAL: deterministic under qtest */
    uint8_t iir;
    int irq_level;
} SerialState;

/* ---- interrupts ---- */

static bool rx_data_ready(SerialState *s)
{
    return s->lsr & UART_LSR_DR;
}

/* Highest-priority pending source (datasheet table 4), or NO_INT. */
static uint8_t serial_pending_iir(SerialState *s)
{
    if ((s->ier & UART_IER_RLSI) && (s->lsr & UART_LSR_INT_ANY)) {
        return UART_IIR_RLSI;
    }
    if (s->ier & UART_IER_RDI) {
        if (s->fcr & UART_FCR_FE) {
            if (s->rx_count >= s->rx_trigger) {
                return UART_IIR_RDI;
            }
            if (s->timeout_ipending) {
                return UART_IIR_CTI;
            }
        } else if (rx_data_ready(s)) {
            return UART_IIR_RDI;
        }
    }
    if ((s->ier & UART_IER_THRI) && s->thr_ipending) {
        return UART_IIR_THRI;
    }
    if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTA)) {
        return UART_IIR_MSI;
    }
    return UART_IIR_NO_INT;
}

/*
 * OUT2 is not applied as an interrupt gate: QEMU doesn't, and guests that
 * poll with OUT2 clear never see a difference on the line they don't use.
 */
static void serial_update_irq(SerialState *s)
{
    int level;

    s->iir = serial_pending_iir(s);
    level = s->iir != UART_IIR_NO_INT;
    if (level != s->irq_level && s->m && s->irq < X86_NUM_GSI) {
        s->irq_level = level;
        irq_set(&s->m->gsi[s->irq], level);
    }
}

/* ---- receive side ---- */

/* Time for one character at the programmed rate and frame, in µs. */
static uint64_t serial_char_time_us(SerialState *s)
{
    unsigned bits = 1 + 5 + (s->lcr & UART_LCR_WLS) +
                    ((s->lcr & UART_LCR_PEN) ? 1 : 0) +
                    ((s->lcr & UART_LCR_STB) ? 2 : 1);
    unsigned divisor = s->divisor ? s->divisor : 1;  /* 0 acts as 1 */

    return (uint64_t)divisor * 16 * bits * 1000000 / UART_CLOCK_HZ;
}

static void timeout_cancel(SerialState *s)
{
    if (s->timeout_timer) {
        timer_del(s->timeout_timer);
    }
}

static void serial_timeout_fire(void *opaque)
{
    SerialState *s = opaque;

    if (s->rx_count) {
        s->timeout_ipending = true;
        serial_update_irq(s);
    }
}

/*
 * Character timeout (PC16550D "FIFO interrupt mode operation"): data below
 * the trigger level that nobody read for 4 character times raises CTI.
 * Restarted on every byte received or read.
 */
static void timeout_restart(SerialState *s)
{
    timer_mod(s->timeout_timer, clock_get_ns(CLK_VIRTUAL) +
                                4 * serial_char_time_us(s) * 1000);
}

static void rx_fifo_reset(SerialState *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
    s->timeout_ipending = false;
    timeout_cancel(s);
    s->lsr &= ~(UART_LSR_DR | UART_LSR_FIFOE);
}

static void serial_receive_byte(SerialState *s, uint8_t c)
{
    if (s->fcr & UART_FCR_FE) {
        if (s->rx_count == UART_FIFO_SIZE) {
            s->lsr |= UART_LSR_OE;      /* the new character is lost */
        } else {
            s->rx_fifo[(s->rx_head + s->rx_count) % UART_FIFO_SIZE] = c;
            s->rx_count++;
        }
        timeout_restart(s);
    } else {
        if (s->lsr & UART_LSR_DR) {
            s->lsr |= UART_LSR_OE;      /* overwritten, as a 16450 does */
        }
        s->rbr = c;
    }
    s->lsr |= UART_LSR_DR;
}

static uint8_t serial_read_rbr(SerialState *s)
{
    uint8_t c = 0;

    if (s->fcr & UART_FCR_FE) {
        if (s->rx_count) {
            c = s->rx_fifo[s->rx_head];
            s->rx_head = (s->rx_head + 1) % UART_FIFO_SIZE;
            s->rx_count--;
        }
        s->timeout_ipending = false;
        if (s->rx_count) {
            timeout_restart(s);
        } else {
            timeout_cancel(s);
            s->lsr &= ~(UART_LSR_DR | UART_LSR_FIFOE);
        }
    } else {
        c = s->rbr;
        s->lsr &= ~UART_LSR_DR;
    }
    serial_update_irq(s);
    chardev_accept_input(s->chr);
    return c;
}

static int serial_can_receive(void *opaque)
{
    SerialState *s = opaque;

    /* in loopback the receiver hears only the transmitter */
    if (s->mcr & UART_MCR_LOOP) {
        return 0;
    }
    if (s->fcr & UART_FCR_FE) {
        return UART_FIFO_SIZE - s->rx_count;
    }
    return (s->lsr & UART_LSR_DR) ? 0 : 1;
}

static void serial_receive(void *opaque, const uint8_t *buf, int len)
{
    SerialState *s = opaque;

    for (int i = 0; i < len; i++) {
        serial_receive_byte(s, buf[i]);
    }
    serial_update_irq(s);
}

static void serial_event(void *opaque, ChardevEvent event)
{
    /* modem lines stay asserted: the backend has no carrier to report */
}

static const ChardevHandlers serial_chr_handlers = {
    .can_receive = serial_can_receive,
    .receive = serial_receive,
    .event = serial_event,
};

/* ---- transmit side ---- */

static void serial_write_thr(SerialState *s, uint8_t c)
{
    if (s->mcr & UART_MCR_LOOP) {
        serial_receive_byte(s, c);
    } else {
        chardev_write(s->chr, &c, 1);
    }
    /* the byte left at once: THR and the shift register are empty again */
    s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    s->thr_ipending = true;
    serial_update_irq(s);
}

/* ---- modem control ---- */

/* MSR inputs: looped back from MCR in loopback mode, else all asserted. */
static void serial_update_msr(SerialState *s)
{
    uint8_t old = s->msr;
    uint8_t lines;

    if (s->mcr & UART_MCR_LOOP) {
        lines = ((s->mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
                ((s->mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
                ((s->mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
                ((s->mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0);
    } else {
        lines = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    }
    s->msr = (old & UART_MSR_DELTA) | lines;
    if ((old ^ lines) & UART_MSR_CTS) {
        s->msr |= UART_MSR_DCTS;
    }
    if ((old ^ lines) & UART_MSR_DSR) {
        s->msr |= UART_MSR_DDSR;
    }
    if ((old ^ lines) & UART_MSR_DCD) {
        s->msr |= UART_MSR_DDCD;
    }
    if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI)) {
        s->msr |= UART_MSR_TERI;
    }
}

/* ---- register access ---- */

static void serial_write_fcr(SerialState *s, uint8_t val)
{
    static const unsigned trigger[4] = { 1, 4, 8, 14 };

    bool toggled = (val ^ s->fcr) & UART_FCR_FE;

    /* the other bits only program with bit 0 set (datasheet, FCR bit 0) */
    if (!(val & UART_FCR_FE)) {
        if (toggled) {
            rx_fifo_reset(s);   /* leaving FIFO mode empties the FIFOs */
        }
        s->fcr = 0;
        s->rx_trigger = 1;
        serial_update_irq(s);
        chardev_accept_input(s->chr);
        return;
    }
    /* toggling FIFO enable clears both FIFOs */
    if (toggled) {
        val |= UART_FCR_RFR | UART_FCR_XFR;
    }
    if (val & UART_FCR_RFR) {
        rx_fifo_reset(s);
        /* a byte waiting in non-FIFO mode is dropped with the FIFO */
        s->lsr &= ~UART_LSR_DR;
    }
    if (val & UART_FCR_XFR) {
        s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
        s->thr_ipending = true;
    }
    s->fcr = val & (UART_FCR_FE | UART_FCR_ITL);
    s->rx_trigger = trigger[val >> 6];
    serial_update_irq(s);
    chardev_accept_input(s->chr);
}

static void serial_write(void *opaque, hwaddr addr, uint64_t val64,
                         unsigned size)
{
    SerialState *s = opaque;
    uint8_t val = val64;

    switch (addr & 7) {
    case UART_RBR:
        if (s->lcr & UART_LCR_DLAB) {
            s->divisor = (s->divisor & 0xff00) | val;
        } else {
            s->thr_ipending = false;
            s->lsr &= ~(UART_LSR_THRE | UART_LSR_TEMT);
            serial_write_thr(s, val);
        }
        break;
    case UART_IER:
        if (s->lcr & UART_LCR_DLAB) {
            s->divisor = (s->divisor & 0x00ff) | (val << 8);
            break;
        }
        /*
         * Enabling THRI while THR is empty raises it at once; Linux's 8250
         * probes for exactly this (serial8250_do_startup's THRE test).
         */
        if ((val & UART_IER_THRI) && !(s->ier & UART_IER_THRI) &&
            (s->lsr & UART_LSR_THRE)) {
            s->thr_ipending = true;
        }
        s->ier = val & UART_IER_MASK;
        serial_update_irq(s);
        break;
    case UART_IIR:
        serial_write_fcr(s, val);
        break;
    case UART_LCR:
        s->lcr = val;
        break;
    case UART_MCR: {
        bool was_loop = s->mcr & UART_MCR_LOOP;
        s->mcr = val & UART_MCR_MASK;
        serial_update_msr(s);
        serial_update_irq(s);
        if (was_loop && !(s->mcr & UART_MCR_LOOP)) {
            chardev_accept_input(s->chr);
        }
        break;
    }
    case UART_LSR:
    case UART_MSR:
        break;      /* factory test registers: writes have no defined effect */
    case UART_SCR:
        s->scr = val;
        break;
    }
}

static uint64_t serial_read(void *opaque, hwaddr addr, unsigned size)
{
    SerialState *s = opaque;
    uint8_t ret = 0;

    switch (addr & 7) {
    case UART_RBR:
        if (s->lcr & UART_LCR_DLAB) {
            return s->divisor & 0xff;
        }
        return serial_read_rbr(s);
    case UART_IER:
        if (s->lcr & UART_LCR_DLAB) {
            return s->divisor >> 8;
        }
        return s->ier;
    case UART_IIR:
        ret = s->iir;
        /* reading IIR acknowledges a THRE interrupt it reports */
        if (ret == UART_IIR_THRI) {
            s->thr_ipending = false;
            serial_update_irq(s);
        }
        if (s->fcr & UART_FCR_FE) {
            ret |= UART_IIR_FIFO;
        }
        return ret;
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR:
        ret = s->lsr;
        /* error bits clear on read (they were reported once) */
        if (s->lsr & (UART_LSR_INT_ANY | UART_LSR_FIFOE)) {
            s->lsr &= ~(UART_LSR_INT_ANY | UART_LSR_FIFOE);
            serial_update_irq(s);
        }
        return ret;
    case UART_MSR:
        ret = s->msr;
        if (s->msr & UART_MSR_DELTA) {
            s->msr &= ~UART_MSR_DELTA;
            serial_update_irq(s);
        }
        return ret;
    case UART_SCR:
        return s->scr;
    }
    return 0xff;
}

static const MemoryRegionOps serial_ops = {
    .read = serial_read,
    .write = serial_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- device ---- */

static void serial_reset(Device *dev)
{
    SerialState *s = (SerialState *)dev;

    timeout_cancel(s);
    s->divisor = 12;            /* 9600 baud, as after a PC BIOS POST */
    s->ier = 0;
    s->fcr = 0;
    s->lcr = 0;
    s->mcr = UART_MCR_OUT2;     /* as QEMU: guests expecting OUT2 work */
    s->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    s->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    s->scr = 0;
    s->rbr = 0;
    s->rx_trigger = 1;
    rx_fifo_reset(s);
    s->thr_ipending = false;
    serial_update_irq(s);
    chardev_accept_input(s->chr);
}

static bool serial_realize(Device *dev, Machine *m, GError **errp)
{
    SerialState *s = (SerialState *)dev;

    if ((s->iobase == PROP_UNSET || s->irq == PROP_UNSET) &&
        s->index >= G_N_ELEMENTS(com_iobase)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "index %u has no default iobase/irq (0-3), set them",
                    s->index);
        return false;
    }
    if (s->iobase == PROP_UNSET) {
        s->iobase = com_iobase[s->index];
    }
    if (s->irq == PROP_UNSET) {
        s->irq = com_irq[s->index];
    }
    if (s->iobase > 0x10000 - 8) {
        g_set_error(errp, VIREO_ERROR, 0, "iobase 0x%x is outside the "
                    "I/O port space", s->iobase);
        return false;
    }
    if (s->irq >= X86_NUM_GSI) {
        g_set_error(errp, VIREO_ERROR, 0, "irq %u is out of range (0-%d)",
                    s->irq, X86_NUM_GSI - 1);
        return false;
    }
    if (s->chardev && *s->chardev) {
        s->chr = chardev_find(s->chardev);
        if (!s->chr) {
            g_set_error(errp, VIREO_ERROR, 0, "chardev '%s' not found",
                        s->chardev);
            return false;
        }
    }
    s->m = m;
    s->irq_level = 0;
    s->timeout_timer = timer_new(CLK_VIRTUAL, serial_timeout_fire, s);
    serial_reset(dev);
    memory_region_init_io(&s->io, "serial", &serial_ops, s, 8);
    memory_region_add_subregion(m->io, s->iobase, &s->io);
    s->io_mapped = true;
    chardev_set_handlers(s->chr, &serial_chr_handlers, s);
    return true;
}

static void serial_unrealize(Device *dev)
{
    SerialState *s = (SerialState *)dev;

    g_clear_pointer(&s->timeout_timer, timer_free);
    chardev_set_handlers(s->chr, NULL, NULL);
    if (s->io_mapped) {
        memory_region_del_subregion(s->m->io, &s->io);
        memory_region_destroy(&s->io);
        s->io_mapped = false;
    }
}

/* ---- migration ---- */

static bool serial_post_load(void *opaque, int version_id, GError **errp)
{
    static const unsigned trigger[4] = { 1, 4, 8, 14 };
    SerialState *s = opaque;

    if (s->rx_head >= UART_FIFO_SIZE || s->rx_count > UART_FIFO_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0, "receive FIFO head %u count %u "
                    "outside its %d bytes", s->rx_head, s->rx_count,
                    UART_FIFO_SIZE);
        return false;
    }
    if (!(s->fcr & UART_FCR_FE) && s->rx_count) {
        g_set_error(errp, VIREO_ERROR, 0, "%u bytes in the receive FIFO "
                    "with the FIFOs disabled", s->rx_count);
        return false;
    }
    if ((s->ier & ~UART_IER_MASK) || (s->mcr & ~UART_MCR_MASK) ||
        (s->fcr & ~(UART_FCR_FE | UART_FCR_ITL))) {
        g_set_error(errp, VIREO_ERROR, 0, "reserved bits set in IER 0x%x, "
                    "MCR 0x%x or FCR 0x%x", s->ier, s->mcr, s->fcr);
        return false;
    }
    s->rx_trigger = (s->fcr & UART_FCR_FE) ? trigger[s->fcr >> 6] : 1;
    timeout_cancel(s);
    if (s->rx_count) {
        timeout_restart(s);     /* a character timeout may still be due */
    }
    serial_update_irq(s);
    chardev_accept_input(s->chr);
    return true;
}

/* rx_trigger follows from FCR; IIR and the line level from the rest. */
static const VMStateField serial_fields[] = {
    VMSTATE_UINT16(divisor, SerialState),
    VMSTATE_UINT8(ier, SerialState),
    VMSTATE_UINT8(fcr, SerialState),
    VMSTATE_UINT8(lcr, SerialState),
    VMSTATE_UINT8(mcr, SerialState),
    VMSTATE_UINT8(lsr, SerialState),
    VMSTATE_UINT8(msr, SerialState),
    VMSTATE_UINT8(scr, SerialState),
    VMSTATE_UINT8(rbr, SerialState),
    VMSTATE_BUFFER(rx_fifo, SerialState),
    VMSTATE_UINT32(rx_head, SerialState),
    VMSTATE_UINT32(rx_count, SerialState),
    VMSTATE_BOOL(thr_ipending, SerialState),
    VMSTATE_BOOL(timeout_ipending, SerialState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = serial_fields,
    .post_load = serial_post_load,
};

static const Property serial_props[] = {
    PROP_U32("iobase", SerialState, iobase, PROP_UNSET,
             "I/O port base (default: from index)"),
    PROP_U32("irq", SerialState, irq, PROP_UNSET,
             "ISA IRQ / GSI (default: from index)"),
    PROP_U32("index", SerialState, index, 0, "COM port number, 0 = COM1"),
    PROP_STR("chardev", SerialState, chardev, NULL, "character backend id"),
    PROP_END,
};

static DeviceClass serial_class = {
    .name = "isa-serial",
    .desc = "16550A UART",
    .bus = "isa",
    .instance_size = sizeof(SerialState),
    .props = serial_props,
    .user_creatable = true,
    .realize = serial_realize,
    .reset = serial_reset,
    .unrealize = serial_unrealize,
    .vmsd = &vmstate_serial,
};

DEVICE_REGISTER(serial_class)
