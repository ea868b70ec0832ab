/*
 * Intel 8254 programmable interval timer ("isa-pit") after its datasheet:
 * three 16-bit counters at 1.193182 MHz with modes 0-5, binary and BCD
 * counting, counter latch and read-back commands; plus the PC's port 0x61
 * (NMI status and control) that gates counter 2 and shows its output, which
 * Linux uses to calibrate the TSC.
 *
 * Counts are computed from CLK_VIRTUAL; a host timer is armed only for the
 * next edge of counter 0's output, which drives the PIT's GSI.
 */
#include <string.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/timer.h"
#include "util/opts.h"

#define PIT_FREQ_HZ     1193182
#define PIT_PORT61      0x61

/* Control word (datasheet figure 8) */
#define CW_BCD          0x01
#define CW_MODE_SHIFT   1
#define CW_RW_SHIFT     4
#define CW_SC_SHIFT     6
enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_LSB_MSB = 3 };
#define SC_READ_BACK    3
/* read-back command bits (datasheet figure 11); 0 selects */
#define RB_NO_COUNT     0x20
#define RB_NO_STATUS    0x10
/* status byte (datasheet figure 12) */
#define STATUS_OUTPUT   0x80
#define STATUS_NULL_COUNT 0x40

/* port 0x61 (PIIX3 NMI status and control register) */
#define P61_GATE2       0x01
#define P61_SPEAKER     0x02
#define P61_RW_MASK     0x0f
#define P61_REFRESH     0x10
#define P61_OUT2        0x20
/* the refresh request toggles every 15.085 us (PIIX3 "REFRESH CYCLE") */
#define REFRESH_PERIOD_NS 15085

typedef struct PITChannel {
    uint8_t mode;           /* 0-5 */
    uint8_t rw;             /* RW_* */
    bool bcd;
    bool gate;
    uint32_t count;         /* reload value, 1..65536 (binary) or 10000 */
    bool counting;          /* a count was written since the mode was set */
    bool triggered;         /* modes 1 and 5: the gate has fired */
    bool null_count;
    int64_t load_time;      /* CLK_VIRTUAL ns counting started at */
    int64_t paused_ticks;   /* modes 0/4 with the gate low: frozen, or -1 */
    /* write side */
    bool write_msb_next;
    uint8_t write_lsb;
    /* read side */
    bool read_msb_next;
    bool count_latched;
    uint16_t latched_count;
    uint8_t latch_reads_left;
    bool status_latched;
    uint8_t status;
} PITChannel;

typedef struct PITState {
    Device dev;
    uint32_t iobase;
    uint32_t irq;

    Machine *m;
    MemoryRegion io;
    MemoryRegion port61_io;
    bool mapped;
    PITChannel ch[3];
    uint8_t port61;
    Timer *timer;
    int irq_level;
    bool disabled;          /* by the HPET's legacy route (pit_enable) */
} PITState;

/* ---- counting arithmetic ---- */

static uint32_t modulus(PITChannel *c)
{
    return c->bcd ? 10000 : 65536;
}

static uint64_t ticks_between(int64_t from, int64_t to)
{
    if (to <= from) {
        return 0;
    }
    return (unsigned __int128)(to - from) * PIT_FREQ_HZ /
           NANOSECONDS_PER_SECOND;
}

/* The first CLK_VIRTUAL time at which `ticks` clocks have passed. */
static int64_t time_of_tick(PITChannel *c, uint64_t ticks)
{
    unsigned __int128 ns = (unsigned __int128)ticks * NANOSECONDS_PER_SECOND;

    return c->load_time + (int64_t)((ns + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ);
}

/* Clocks counted since the counter was loaded (or triggered). */
static uint64_t channel_ticks(PITChannel *c, int64_t now)
{
    if (c->paused_ticks >= 0) {
        return c->paused_ticks;
    }
    return ticks_between(c->load_time, now);
}

static bool gate_stops_counting(PITChannel *c)
{
    return !c->gate && (c->mode == 0 || c->mode == 4 ||
                        c->mode == 2 || c->mode == 3);
}

/* Whether the counting element is running at all. */
static bool channel_active(PITChannel *c)
{
    if (!c->counting) {
        return false;
    }
    if (c->mode == 1 || c->mode == 5) {
        return c->triggered;
    }
    return c->mode == 0 || c->mode == 4 || c->gate;
}

/* The counting element's value at now (datasheet "Mode definitions"). */
static uint32_t channel_count(PITChannel *c, int64_t now)
{
    uint64_t d, n = c->count, half;

    if (!channel_active(c)) {
        return c->count % modulus(c);
    }
    d = channel_ticks(c, now);
    switch (c->mode) {
    case 2:
        return n - d % n;
    case 3:
        /* decrements by two; an odd count spends one more clock high */
        half = (n + 1) / 2;
        d %= n;
        return (n & ~1ULL) - 2 * (d < half ? d : d - half);
    default:    /* 0, 1, 4, 5: count down to 0, then wrap around */
        return ((n % modulus(c)) + modulus(c) - d % modulus(c)) % modulus(c);
    }
}

/* OUT of a channel at now (datasheet figures 14-19). */
static bool channel_out(PITChannel *c, int64_t now)
{
    uint64_t d, n = c->count;

    if (!c->counting) {
        return c->mode != 0;    /* mode 0 sets OUT low at the control word */
    }
    if (!channel_active(c)) {
        /* gate low in modes 2 and 3, or 1 and 5 not yet triggered */
        return true;
    }
    d = channel_ticks(c, now);
    switch (c->mode) {
    case 0:
        return d >= n;
    case 1:
        return d >= n;
    case 2:
        return d % n != n - 1;
    case 3:
        return d % n < (n + 1) / 2;
    default:    /* 4, 5: a one-clock low strobe at terminal count */
        return d != n;
    }
}

/* When OUT next rises (or, in mode 3, changes), or -1. */
static int64_t channel_next_edge(PITChannel *c, int64_t now)
{
    uint64_t d, n = c->count, base, half;

    if (!channel_active(c) || c->paused_ticks >= 0) {
        return -1;
    }
    d = channel_ticks(c, now);
    switch (c->mode) {
    case 0:
    case 1:
        return d < n ? time_of_tick(c, n) : -1;
    case 2:
        /* the low pulse ends at each reload: one rising edge per period */
        return time_of_tick(c, (d / n + 1) * n);
    case 3:
        base = d / n * n;
        half = (n + 1) / 2;
        return time_of_tick(c, d - base < half ? base + half : base + n);
    default:
        return d <= n ? time_of_tick(c, n + 1) : -1;
    }
}

/* ---- counter 0 drives the IRQ ---- */

static void pit_set_irq(PITState *s, int level)
{
    if (s->m && !s->disabled && level != s->irq_level) {
        s->irq_level = level;
        irq_set(&s->m->gsi[s->irq], level);
    }
}

static void pit_arm(PITState *s)
{
    int64_t when = s->disabled ? -1 : channel_next_edge(&s->ch[0],
                                                       clock_get_ns(CLK_VIRTUAL));

    if (when < 0) {
        timer_del(s->timer);
    } else {
        timer_mod(s->timer, when);
    }
}

/*
 * An edge of counter 0 is due. Modes 2, 4 and 5 show only the rising edge
 * after a one-clock low pulse, so the pulse is given to the line in full.
 */
static void pit_timer_cb(void *opaque)
{
    PITState *s = opaque;
    PITChannel *c = &s->ch[0];
    int64_t now = clock_get_ns(CLK_VIRTUAL);

    if (c->mode == 2 || c->mode == 4 || c->mode == 5) {
        pit_set_irq(s, 0);
        pit_set_irq(s, 1);
    } else {
        pit_set_irq(s, channel_out(c, now));
    }
    pit_arm(s);
}

static void pit_channel_changed(PITState *s, int i)
{
    if (i == 0) {
        pit_set_irq(s, channel_out(&s->ch[0], clock_get_ns(CLK_VIRTUAL)));
        pit_arm(s);
    }
}

/* The HPET's legacy route took IRQ 0 (level 0) or gave it back. */
static void pit_enable_in(void *opaque, int n, int level)
{
    PITState *s = opaque;

    s->disabled = !level;
    pit_channel_changed(s, 0);
}

/* ---- programming ---- */

static uint32_t from_bcd(uint32_t v)
{
    return (v >> 12 & 0xf) * 1000 + (v >> 8 & 0xf) * 100 +
           (v >> 4 & 0xf) * 10 + (v & 0xf);
}

static uint16_t to_bcd(uint32_t v)
{
    return (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 |
           (v / 10 % 10) << 4 | (v % 10);
}

static void channel_load(PITState *s, int i, uint32_t raw)
{
    PITChannel *c = &s->ch[i];
    uint32_t n = c->bcd ? from_bcd(raw) : raw;

    if (n == 0) {
        n = modulus(c);
    }
    /* modes 2 and 3 count at least one full period of 2 */
    if ((c->mode == 2 || c->mode == 3) && n == 1) {
        n = 2;
    }
    c->count = n;
    c->null_count = false;
    c->paused_ticks = -1;
    /*
     * Counting restarts at once (the datasheet waits for the next CLK, or
     * in modes 2 and 3 for the end of the period, if already counting).
     */
    c->counting = true;
    c->load_time = clock_get_ns(CLK_VIRTUAL);
    if (c->mode == 1 || c->mode == 5) {
        c->triggered = false;   /* waits for a gate trigger */
    }
    if (gate_stops_counting(c) && (c->mode == 0 || c->mode == 4)) {
        c->paused_ticks = 0;
    }
    pit_channel_changed(s, i);
}

static void channel_latch_count(PITChannel *c)
{
    if (c->count_latched) {
        return;     /* a latched count stays until read */
    }
    uint32_t v = channel_count(c, clock_get_ns(CLK_VIRTUAL));
    c->latched_count = c->bcd ? to_bcd(v % 10000) : (uint16_t)v;
    c->count_latched = true;
    c->latch_reads_left = c->rw == RW_LSB_MSB ? 2 : 1;
    c->read_msb_next = c->rw == RW_MSB;
}

static void channel_latch_status(PITChannel *c)
{
    if (c->status_latched) {
        return;
    }
    c->status = (channel_out(c, clock_get_ns(CLK_VIRTUAL)) ? STATUS_OUTPUT
                                                           : 0) |
                (c->null_count ? STATUS_NULL_COUNT : 0) |
                (c->rw << CW_RW_SHIFT) | (c->mode << CW_MODE_SHIFT) |
                (c->bcd ? CW_BCD : 0);
    c->status_latched = true;
}

static void pit_write_control(PITState *s, uint8_t val)
{
    int sc = val >> CW_SC_SHIFT;
    int rw = (val >> CW_RW_SHIFT) & 3;
    PITChannel *c;

    if (sc == SC_READ_BACK) {
        for (int i = 0; i < 3; i++) {
            if (!(val & (2 << i))) {
                continue;
            }
            if (!(val & RB_NO_STATUS)) {
                channel_latch_status(&s->ch[i]);
            }
            if (!(val & RB_NO_COUNT)) {
                channel_latch_count(&s->ch[i]);
            }
        }
        return;
    }
    c = &s->ch[sc];
    if (rw == RW_LATCH) {
        channel_latch_count(c);
        return;
    }
    c->mode = (val >> CW_MODE_SHIFT) & 7;
    if (c->mode > 5) {
        c->mode -= 4;   /* 6 and 7 are aliases of 2 and 3 */
    }
    c->rw = rw;
    c->bcd = val & CW_BCD;
    c->counting = false;
    c->triggered = false;
    c->null_count = true;
    c->paused_ticks = -1;
    c->write_msb_next = false;
    c->read_msb_next = false;
    c->count_latched = false;
    c->status_latched = false;
    pit_channel_changed(s, sc);
}

static void pit_write_counter(PITState *s, int i, uint8_t val)
{
    PITChannel *c = &s->ch[i];

    switch (c->rw) {
    case RW_LSB:
        channel_load(s, i, val);
        break;
    case RW_MSB:
        channel_load(s, i, val << 8);
        break;
    default:
        if (!c->write_msb_next) {
            c->write_lsb = val;
            c->write_msb_next = true;
            if (c->mode == 0) {
                /* the first byte stops a mode 0 count, OUT goes low */
                c->counting = false;
                pit_channel_changed(s, i);
            }
        } else {
            c->write_msb_next = false;
            channel_load(s, i, c->write_lsb | (val << 8));
        }
        break;
    }
}

static uint8_t pit_read_counter(PITState *s, int i)
{
    PITChannel *c = &s->ch[i];
    uint16_t v;
    uint8_t byte;

    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->count_latched) {
        byte = c->read_msb_next ? c->latched_count >> 8 : c->latched_count;
        c->read_msb_next = !c->read_msb_next;
        if (--c->latch_reads_left == 0) {
            c->count_latched = false;
            c->read_msb_next = false;
        }
        return byte;
    }
    v = channel_count(c, clock_get_ns(CLK_VIRTUAL)) % 65536;
    if (c->bcd) {
        v = to_bcd(v % 10000);
    }
    switch (c->rw) {
    case RW_LSB:
        return v;
    case RW_MSB:
        return v >> 8;
    default:
        byte = c->read_msb_next ? v >> 8 : v;
        c->read_msb_next = !c->read_msb_next;
        return byte;
    }
}

/* The gate input of a counter changed (datasheet table 2). */
static void pit_set_gate(PITState *s, int i, bool gate)
{
    PITChannel *c = &s->ch[i];
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    bool rising = gate && !c->gate;

    if (gate == c->gate) {
        return;
    }
    if (!gate && c->counting && (c->mode == 0 || c->mode == 4)) {
        c->paused_ticks = channel_ticks(c, now);    /* suspends counting */
    }
    c->gate = gate;
    if (rising && c->counting) {
        switch (c->mode) {
        case 0:
        case 4:
            if (c->paused_ticks >= 0) {
                c->load_time = now - (time_of_tick(c, c->paused_ticks) -
                                      c->load_time);
                c->paused_ticks = -1;
            }
            break;
        default:    /* 1, 5: trigger; 2, 3: reload */
            c->load_time = now;
            c->triggered = true;
            break;
        }
    }
    pit_channel_changed(s, i);
}

/* ---- port access ---- */

static uint64_t pit_io_read(void *opaque, hwaddr addr, unsigned size)
{
    PITState *s = opaque;

    if (addr == 3) {
        return 0xff;    /* the control word register is write-only */
    }
    return pit_read_counter(s, addr);
}

static void pit_io_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    PITState *s = opaque;

    if (addr == 3) {
        pit_write_control(s, val);
    } else {
        pit_write_counter(s, addr, val);
    }
}

static const MemoryRegionOps pit_io_ops = {
    .read = pit_io_read,
    .write = pit_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static uint64_t port61_read(void *opaque, hwaddr addr, unsigned size)
{
    PITState *s = opaque;
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    uint8_t v = s->port61 & P61_RW_MASK;

    if ((now / REFRESH_PERIOD_NS) & 1) {
        v |= P61_REFRESH;
    }
    if (channel_out(&s->ch[2], now)) {
        v |= P61_OUT2;
    }
    return v;
}

static void port61_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    PITState *s = opaque;

    s->port61 = val & P61_RW_MASK;
    pit_set_gate(s, 2, val & P61_GATE2);
}

static const MemoryRegionOps port61_ops = {
    .read = port61_read,
    .write = port61_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- device ---- */

static void pit_reset(Device *dev)
{
    PITState *s = (PITState *)dev;

    /* as firmware would leave it: square waves at 18.2 Hz */
    for (int i = 0; i < 3; i++) {
        PITChannel *c = &s->ch[i];
        memset(c, 0, sizeof(*c));
        c->mode = 3;
        c->rw = RW_LSB_MSB;
        c->gate = i != 2;
        c->paused_ticks = -1;
        c->count = 65536;
        c->counting = true;
        c->load_time = clock_get_ns(CLK_VIRTUAL);
    }
    s->port61 = 0;
    pit_channel_changed(s, 0);
}

static bool pit_realize(Device *dev, Machine *m, GError **errp)
{
    PITState *s = (PITState *)dev;

    if (s->iobase > 0xfffc) {
        g_set_error(errp, VIREO_ERROR, 0, "iobase 0x%x is out of range",
                    s->iobase);
        return false;
    }
    if (s->irq >= X86_NUM_GSI) {
        g_set_error(errp, VIREO_ERROR, 0, "irq %u is out of range (0-%d)",
                    s->irq, X86_NUM_GSI - 1);
        return false;
    }
    s->m = m;
    s->irq_level = -1;
    s->timer = timer_new(CLK_VIRTUAL, pit_timer_cb, s);
    m->pit_enable = (IRQLine){ pit_enable_in, s, 0 };
    memory_region_init_io(&s->io, "pit", &pit_io_ops, s, 4);
    memory_region_init_io(&s->port61_io, "port61", &port61_ops, s, 1);
    memory_region_add_subregion(m->io, s->iobase, &s->io);
    memory_region_add_subregion(m->io, PIT_PORT61, &s->port61_io);
    s->mapped = true;
    pit_reset(dev);
    return true;
}

static void pit_unrealize(Device *dev)
{
    PITState *s = (PITState *)dev;

    timer_free(s->timer);
    s->timer = NULL;
    if (s->m && s->m->pit_enable.opaque == s) {
        s->m->pit_enable = (IRQLine){ 0 };
    }
    if (s->mapped) {
        memory_region_del_subregion(s->m->io, &s->io);
        memory_region_del_subregion(s->m->io, &s->port61_io);
        memory_region_destroy(&s->io);
        memory_region_destroy(&s->port61_io);
        s->mapped = false;
    }
}

/* ---- migration ---- */

/* Times and tick counts beyond this would overflow the arithmetic above. */
#define PIT_MAX_NS      (INT64_C(1) << 62)

/* What the programming paths above guarantee about a channel. */
static bool pit_channel_check(PITChannel *c, int i, GError **errp)
{
    const char *why = NULL;

    if (c->mode > 5) {
        why = "mode is over 5";
    } else if (c->rw < RW_LSB || c->rw > RW_LSB_MSB) {
        why = "access mode is not LSB, MSB or LSB/MSB";
    } else if (c->count < 1 || c->count > 65536) {
        why = "count is outside 1-65536";
    } else if (c->counting && (c->mode == 2 || c->mode == 3) &&
               c->count < 2) {
        why = "modes 2 and 3 count at least 2";
    } else if (c->load_time < 0 || c->load_time >= PIT_MAX_NS ||
               c->paused_ticks < -1 || c->paused_ticks >= PIT_MAX_NS) {
        why = "load time or paused count is out of range";
    } else if (c->count_latched &&
               (c->latch_reads_left < 1 || c->latch_reads_left > 2)) {
        why = "a latched count has no bytes left to read";
    }
    if (why) {
        g_set_error(errp, VIREO_ERROR, 0, "counter %d: %s", i, why);
        return false;
    }
    return true;
}

static bool pit_post_load(void *opaque, int version_id, GError **errp)
{
    PITState *s = opaque;

    for (int i = 0; i < 3; i++) {
        if (!pit_channel_check(&s->ch[i], i, errp)) {
            return false;
        }
    }
    /* port 0x61 bit 0 is counter 2's gate; counters 0 and 1 are tied high */
    if ((s->port61 & ~P61_RW_MASK) || !s->ch[0].gate || !s->ch[1].gate ||
        s->ch[2].gate != !!(s->port61 & P61_GATE2)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "port 0x61 0x%x does not match the counters' gates",
                    s->port61);
        return false;
    }
    pit_channel_changed(s, 0);  /* the IRQ level, and the next edge */
    return true;
}

static const VMStateField pit_channel_fields[] = {
    VMSTATE_UINT8(mode, PITChannel),
    VMSTATE_UINT8(rw, PITChannel),
    VMSTATE_BOOL(bcd, PITChannel),
    VMSTATE_BOOL(gate, PITChannel),
    VMSTATE_UINT32(count, PITChannel),
    VMSTATE_BOOL(counting, PITChannel),
    VMSTATE_BOOL(triggered, PITChannel),
    VMSTATE_BOOL(null_count, PITChannel),
    VMSTATE_INT64(load_time, PITChannel),
    VMSTATE_INT64(paused_ticks, PITChannel),
    VMSTATE_BOOL(write_msb_next, PITChannel),
    VMSTATE_UINT8(write_lsb, PITChannel),
    VMSTATE_BOOL(read_msb_next, PITChannel),
    VMSTATE_BOOL(count_latched, PITChannel),
    VMSTATE_UINT16(latched_count, PITChannel),
    VMSTATE_UINT8(latch_reads_left, PITChannel),
    VMSTATE_BOOL(status_latched, PITChannel),
    VMSTATE_UINT8(status, PITChannel),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_pit_channel = {
    .name = "pit-channel",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pit_channel_fields,
};

/* Counts follow from load_time on CLK_VIRTUAL; the host timer is re-armed. */
static const VMStateField pit_fields[] = {
    VMSTATE_STRUCT_ARRAY(ch, PITState, vmstate_pit_channel, PITChannel),
    VMSTATE_UINT8(port61, PITState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_pit = {
    .name = "i8254",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pit_fields,
    .post_load = pit_post_load,
};

static const Property pit_props[] = {
    PROP_U32("iobase", PITState, iobase, 0x40, "I/O port base"),
    PROP_U32("irq", PITState, irq, 0, "GSI of counter 0's output"),
    PROP_END,
};

static DeviceClass pit_class = {
    .name = "isa-pit",
    .desc = "Intel 8254 programmable interval timer",
    .bus = "isa",
    .instance_size = sizeof(PITState),
    .props = pit_props,
    .user_creatable = false,
    .realize = pit_realize,
    .reset = pit_reset,
    .unrealize = pit_unrealize,
    .vmsd = &vmstate_pit,
};

DEVICE_REGISTER(pit_class)
