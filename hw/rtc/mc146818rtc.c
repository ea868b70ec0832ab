/*
 * Motorola MC146818A real-time clock and CMOS RAM ("mc146818rtc") as the PC
 * has it (Intel PIIX3/PIIX4 RTC): index/data ports 0x70/0x71 (bit 7 of the
 * index is the NMI mask), 0x72/0x73 for all 256 bytes; after the MC146818A
 * datasheet: BCD/binary and 12/24-hour time, divider and rate select in
 * register A, SET/PIE/AIE/UIE in B, flags in C, VRT in D.
 *
 * The clock is an offset from a host clock (-rtc clock=). Interrupt flags
 * are computed from that clock when looked at; a host timer is armed only
 * for the next enabled interrupt, which goes to ISA IRQ 8.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hw/i386/x86.h"
#include "hw/rtc/mc146818rtc.h"
#include "migration/vmstate.h"
#include "monitor/qmp.h"
#include "system/timer.h"
#include "util/opts.h"

/* Register addresses (datasheet table 2, "Address map") */
enum {
    RTC_SECONDS = 0x00,
    RTC_SECONDS_ALARM = 0x01,
    RTC_MINUTES = 0x02,
    RTC_MINUTES_ALARM = 0x03,
    RTC_HOURS = 0x04,
    RTC_HOURS_ALARM = 0x05,
    RTC_DAY_OF_WEEK = 0x06,
    RTC_DAY_OF_MONTH = 0x07,
    RTC_MONTH = 0x08,
    RTC_YEAR = 0x09,
    RTC_REG_A = 0x0a,
    RTC_REG_B = 0x0b,
    RTC_REG_C = 0x0c,
    RTC_REG_D = 0x0d,
};

/* Register A: UIP, divider (DV2-0), rate select (RS3-0) */
#define REG_A_UIP       0x80
#define REG_A_DV_MASK   0x70
#define REG_A_DV_32K    0x20    /* 32.768 kHz time base, running */
#define REG_A_RS_MASK   0x0f
/* Register B */
#define REG_B_SET       0x80
#define REG_B_PIE       0x40
#define REG_B_AIE       0x20
#define REG_B_UIE       0x10
#define REG_B_SQWE      0x08
#define REG_B_DM        0x04    /* binary, not BCD */
#define REG_B_24H       0x02
#define REG_B_DSE       0x01
/* Register C (read-only, cleared by reading) */
#define REG_C_IRQF      0x80
#define REG_C_PF        0x40
#define REG_C_AF        0x20
#define REG_C_UF        0x10
/* Register D */
#define REG_D_VRT       0x80

/* An alarm byte with both top bits set matches any value ("don't care"). */
#define ALARM_DONT_CARE 0xc0
#define HOURS_PM        0x80

#define NS_PER_SEC      NANOSECONDS_PER_SECOND
#define RTC_TICKS_HZ    32768
/* UIP rises this long before an update cycle (datasheet, "UIP bit") */
#define UIP_LEAD_NS     244000
#define SECS_PER_DAY    86400
/* After a divider reset the first update comes half a second later. */
#define DIVIDER_RESET_PHASE_NS (NS_PER_SEC / 2)
/* Guest-set times stay within years 0-9999 plus a day: no overflow. */
#define RTC_MAX_OFFSET_S (INT64_C(400) * 366 * SECS_PER_DAY * 100)

typedef struct RTCState {
    Device dev;
    uint32_t iobase;
    uint32_t irq;

    Machine *m;
    MemoryRegion io;
    MemoryRegion ext_io;        /* 0x72/0x73 */
    bool mapped;
    ClockType clock;
    Timer *timer;
    int64_t base_offset_s;      /* offset at start: RTC_CHANGE's zero */

    uint8_t cmos[RTC_CMOS_SIZE];
    uint8_t index;              /* port 0x70 bits 6:0 */
    uint8_t ext_index;          /* port 0x72 */
    bool nmi_masked;            /* port 0x70 bit 7 */
    /* RTC time = clock + offset_s seconds + offset_ns (0 <= ns < 1 s) */
    int64_t offset_s;
    int64_t offset_ns;
    /* PF/AF/UF in cmos[RTC_REG_C] account for events up to this time */
    int64_t flags_time;
    bool irq_level;
} RTCState;

typedef __int128 rtc_ns_t;

/* ---- calendar arithmetic (proleptic Gregorian, any int64 day) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of year-month-day (month 1-12). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

typedef struct RtcTm {
    int64_t year;
    int month;      /* 1-12 */
    int mday;       /* 1-31 */
    int wday;       /* 0 = Sunday */
    int hour, min, sec;
} RtcTm;

static void civil_from_seconds(int64_t secs, RtcTm *tm)
{
    int64_t days = floor_div(secs, SECS_PER_DAY);
    int64_t sod = secs - days * SECS_PER_DAY;
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    tm->mday = doy - (153 * mp + 2) / 5 + 1;
    tm->month = mp < 10 ? mp + 3 : mp - 9;
    tm->year = yoe + era * 400 + (tm->month <= 2);
    tm->wday = floor_mod(days + 4, 7);   /* 1970-01-01 was a Thursday */
    tm->hour = sod / 3600;
    tm->min = sod / 60 % 60;
    tm->sec = sod % 60;
}

/* ---- register encoding (data mode and hour format of register B) ---- */

static uint8_t rtc_encode(RTCState *s, int v)
{
    if (s->cmos[RTC_REG_B] & REG_B_DM) {
        return v;
    }
    return ((v / 10) << 4) | (v % 10);
}

/* Out-of-range BCD digits decode as their weight, as the counters would. */
static int rtc_decode(RTCState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & REG_B_DM) {
        return v;
    }
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_encode_hour(RTCState *s, int hour)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H) {
        return rtc_encode(s, hour);
    }
    return rtc_encode(s, hour % 12 ? hour % 12 : 12) |
           (hour >= 12 ? HOURS_PM : 0);
}

static int rtc_decode_hour(RTCState *s, uint8_t v)
{
    int hour = rtc_decode(s, v & ~HOURS_PM);

    if (!(s->cmos[RTC_REG_B] & REG_B_24H)) {
        hour %= 12;
        if (v & HOURS_PM) {
            hour += 12;
        }
    }
    return hour;
}

/* ---- the clock ---- */

static int64_t rtc_clock_now(RTCState *s)
{
    return clock_get_ns(s->clock);
}

/* RTC time (ns since 1970 in the guest's zone) at clock time t. */
static rtc_ns_t rtc_time_at(RTCState *s, int64_t t)
{
    return (rtc_ns_t)t + (rtc_ns_t)s->offset_s * NS_PER_SEC + s->offset_ns;
}

static int64_t rtc_seconds_at(RTCState *s, int64_t t)
{
    rtc_ns_t ns = rtc_time_at(s, t);
    rtc_ns_t q = ns / NS_PER_SEC;

    return (int64_t)(ns % NS_PER_SEC < 0 ? q - 1 : q);
}

/* Position within the RTC's second at clock time t, 0 <= phase < 1 s. */
static int64_t rtc_phase_at(RTCState *s, int64_t t)
{
    int64_t phase = (int64_t)(rtc_time_at(s, t) % NS_PER_SEC);

    return phase < 0 ? phase + NS_PER_SEC : phase;
}

/* The 32.768 kHz divider chain runs (DV 000-010; 11x holds it in reset). */
static bool rtc_divider_running(RTCState *s)
{
    return (s->cmos[RTC_REG_A] & REG_A_DV_MASK) <= REG_A_DV_32K;
}

/* Update cycles happen: the divider runs and SET is clear. */
static bool rtc_updating(RTCState *s)
{
    return rtc_divider_running(s) && !(s->cmos[RTC_REG_B] & REG_B_SET);
}

/* Points RTC time at secs + phase_ns now. */
static void rtc_set_offset(RTCState *s, int64_t now, int64_t secs,
                           int64_t phase_ns)
{
    int64_t now_s = floor_div(now, NS_PER_SEC);
    int64_t now_ns = now - now_s * NS_PER_SEC;
    int64_t ns = phase_ns - now_ns;

    s->offset_s = secs - now_s + floor_div(ns, NS_PER_SEC);
    s->offset_ns = floor_mod(ns, NS_PER_SEC);
}

/* Writes the time registers (and the century) from RTC time at now. */
static void rtc_write_time_regs(RTCState *s, int64_t now)
{
    RtcTm tm;

    civil_from_seconds(rtc_seconds_at(s, now), &tm);
    s->cmos[RTC_SECONDS] = rtc_encode(s, tm.sec);
    s->cmos[RTC_MINUTES] = rtc_encode(s, tm.min);
    s->cmos[RTC_HOURS] = rtc_encode_hour(s, tm.hour);
    s->cmos[RTC_DAY_OF_WEEK] = rtc_encode(s, tm.wday + 1);
    s->cmos[RTC_DAY_OF_MONTH] = rtc_encode(s, tm.mday);
    s->cmos[RTC_MONTH] = rtc_encode(s, tm.month);
    s->cmos[RTC_YEAR] = rtc_encode(s, floor_mod(tm.year, 100));
    s->cmos[RTC_CENTURY_REG] = rtc_encode(s, floor_mod(tm.year, 10000) / 100);
}

/*
 * The time the registers hold, in seconds. Out-of-range fields carry into
 * the next larger one (month 13 is January of the next year, day 0 the
 * last of the month before), so any byte values give some time.
 */
static int64_t rtc_read_time_regs(RTCState *s)
{
    int64_t year = rtc_decode(s, s->cmos[RTC_CENTURY_REG]) * 100 +
                   rtc_decode(s, s->cmos[RTC_YEAR]);
    int64_t month = rtc_decode(s, s->cmos[RTC_MONTH]) - 1;
    int64_t days;

    year += floor_div(month, 12);
    month = floor_mod(month, 12);
    days = days_from_civil(year, month + 1, 1) +
           rtc_decode(s, s->cmos[RTC_DAY_OF_MONTH]) - 1;
    return days * SECS_PER_DAY +
           rtc_decode_hour(s, s->cmos[RTC_HOURS]) * 3600 +
           rtc_decode(s, s->cmos[RTC_MINUTES]) * 60 +
           rtc_decode(s, s->cmos[RTC_SECONDS]);
}

/* ---- events: when the next periodic, update and alarm edges come ---- */

/* The next update cycle (an RTC second boundary) after clock time a. */
static int64_t rtc_next_update(RTCState *s, int64_t a)
{
    return a + (NS_PER_SEC - rtc_phase_at(s, a));
}

/* Rate select 1 and 2 give 256 and 128 Hz, as RS 8 and 9 (table 5). */
static int rtc_periodic_ticks(RTCState *s)
{
    int rs = s->cmos[RTC_REG_A] & REG_A_RS_MASK;

    if (rs == 0) {
        return 0;
    }
    if (rs <= 2) {
        rs += 7;
    }
    return 1 << (rs - 1);
}

/*
 * The next periodic edge after clock time a: every `period` ticks of the
 * 32.768 kHz chain, whose second boundaries are the update cycles.
 */
static int64_t rtc_next_periodic(RTCState *s, int64_t a)
{
    int64_t period = rtc_periodic_ticks(s);
    int64_t phase = rtc_phase_at(s, a);
    int64_t tick = phase * RTC_TICKS_HZ / NS_PER_SEC;
    int64_t next = (tick / period + 1) * period;

    return a - phase + (next * NS_PER_SEC + RTC_TICKS_HZ - 1) / RTC_TICKS_HZ;
}

static bool rtc_alarm_field_matches(uint8_t alarm, uint8_t value)
{
    return (alarm & ALARM_DONT_CARE) == ALARM_DONT_CARE || alarm == value;
}

/* Whether the alarm bytes match time-of-day sod as the registers show it. */
static bool rtc_alarm_matches(RTCState *s, int64_t sod)
{
    return rtc_alarm_field_matches(s->cmos[RTC_SECONDS_ALARM],
                                   rtc_encode(s, sod % 60)) &&
           rtc_alarm_field_matches(s->cmos[RTC_MINUTES_ALARM],
                                   rtc_encode(s, sod / 60 % 60)) &&
           rtc_alarm_field_matches(s->cmos[RTC_HOURS_ALARM],
                                   rtc_encode_hour(s, sod / 3600));
}

/*
 * The first update cycle after clock time a, and no later than limit, at
 * which the new time matches the alarm; -1 if none. The alarm looks at the
 * time of day only, so a day of seconds covers every case.
 */
static int64_t rtc_next_alarm(RTCState *s, int64_t a, int64_t limit)
{
    int64_t t = rtc_next_update(s, a);
    int64_t sod = floor_mod(rtc_seconds_at(s, t), SECS_PER_DAY);

    for (int i = 0; i < SECS_PER_DAY && t <= limit; i++) {
        if (rtc_alarm_matches(s, (sod + i) % SECS_PER_DAY)) {
            return t;
        }
        if (t > INT64_MAX - NS_PER_SEC) {
            break;
        }
        t += NS_PER_SEC;
    }
    return -1;
}

/* Sets PF, UF and AF for the edges in (flags_time, now]. */
static void rtc_sync_flags(RTCState *s, int64_t now)
{
    int64_t from = s->flags_time;

    if (now <= from) {
        return;
    }
    if (rtc_divider_running(s) && rtc_periodic_ticks(s) &&
        rtc_next_periodic(s, from) <= now) {
        s->cmos[RTC_REG_C] |= REG_C_PF;
    }
    if (rtc_updating(s) && rtc_next_update(s, from) <= now) {
        s->cmos[RTC_REG_C] |= REG_C_UF;
        if (rtc_next_alarm(s, from, now) >= 0) {
            s->cmos[RTC_REG_C] |= REG_C_AF;
        }
    }
    s->flags_time = now;
}

/* ---- interrupt line and timer ---- */

static void rtc_update_irq(RTCState *s)
{
    uint8_t b = s->cmos[RTC_REG_B], c = s->cmos[RTC_REG_C];
    bool irqf = ((c & REG_C_PF) && (b & REG_B_PIE)) ||
                ((c & REG_C_AF) && (b & REG_B_AIE)) ||
                ((c & REG_C_UF) && (b & REG_B_UIE));

    if (irqf) {
        s->cmos[RTC_REG_C] |= REG_C_IRQF;
    } else {
        s->cmos[RTC_REG_C] &= ~REG_C_IRQF;
    }
    if (irqf != s->irq_level) {
        s->irq_level = irqf;
        irq_set(&s->m->gsi[s->irq], irqf);
    }
}

static void rtc_earliest(int64_t *best, int64_t t)
{
    if (t >= 0 && (*best < 0 || t < *best)) {
        *best = t;
    }
}

/*
 * Arms the timer for the next edge of an enabled interrupt. With IRQF set
 * the line stays up until register C is read, so nothing is armed.
 */
static void rtc_arm_timer(RTCState *s, int64_t now)
{
    uint8_t b = s->cmos[RTC_REG_B];
    int64_t next = -1;

    if (!(s->cmos[RTC_REG_C] & REG_C_IRQF)) {
        if ((b & REG_B_PIE) && rtc_divider_running(s) &&
            rtc_periodic_ticks(s)) {
            rtc_earliest(&next, rtc_next_periodic(s, now));
        }
        if ((b & REG_B_UIE) && rtc_updating(s)) {
            rtc_earliest(&next, rtc_next_update(s, now));
        }
        if ((b & REG_B_AIE) && rtc_updating(s)) {
            rtc_earliest(&next, rtc_next_alarm(s, now, INT64_MAX));
        }
    }
    if (next >= 0) {
        timer_mod(s->timer, next);
    } else {
        timer_del(s->timer);
    }
}

/* After anything that changes flags or timing: line and timer agree. */
static void rtc_refresh(RTCState *s, int64_t now)
{
    rtc_update_irq(s);
    rtc_arm_timer(s, now);
}

static void rtc_timer_cb(void *opaque)
{
    RTCState *s = opaque;
    int64_t now = rtc_clock_now(s);

    rtc_sync_flags(s, now);
    rtc_refresh(s, now);
}

/* ---- setting the time ---- */

/* The QOM path QEMU's RTC_CHANGE names: built-ins follow the vCPUs. */
static char *rtc_qom_path(RTCState *s)
{
    int n = s->m->ncpus;

    for (Device *d = s->m->devices; d; d = d->next) {
        if (d == &s->dev) {
            return g_strdup_printf("/machine/unattached/device[%d]", n);
        }
        n += !d->user_created;
    }
    return g_strdup("/machine/unattached");
}

/* RTC_CHANGE: how far the guest moved the clock from -rtc base=, in s. */
static void rtc_emit_change(RTCState *s, int64_t now)
{
    int64_t now_s = floor_div(now, NS_PER_SEC);
    json_t *data = json_object();

    g_autofree char *path = rtc_qom_path(s);

    json_object_set_new(data, "offset",
                        json_integer(rtc_seconds_at(s, now) -
                                     (now_s + s->base_offset_s)));
    json_object_set_new(data, "qom-path", json_string(path));
    qmp_event_send("RTC_CHANGE", data);
}

/*
 * The guest set the time: the registers hold it, and counting goes on from
 * there with the divider at phase_ns into the second.
 */
static void rtc_restart(RTCState *s, int64_t now, int64_t phase_ns)
{
    rtc_set_offset(s, now, rtc_read_time_regs(s), phase_ns);
    rtc_emit_change(s, now);
}

static bool rtc_is_time_reg(unsigned index)
{
    switch (index) {
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
    case RTC_CENTURY_REG:
        return true;
    }
    return false;
}

/* Register A: a divider leaving reset starts half a second before update. */
static void rtc_write_reg_a(RTCState *s, int64_t now, uint8_t val)
{
    bool was_updating = rtc_updating(s);
    bool was_reset = !rtc_divider_running(s);

    if (was_updating) {
        rtc_write_time_regs(s, now);
    }
    s->cmos[RTC_REG_A] = val & ~REG_A_UIP;
    if (was_reset && rtc_divider_running(s)) {
        rtc_set_offset(s, now, rtc_read_time_regs(s), DIVIDER_RESET_PHASE_NS);
        if (rtc_updating(s)) {
            rtc_emit_change(s, now);
        }
    } else if (!was_updating && rtc_updating(s)) {
        rtc_restart(s, now, rtc_phase_at(s, now));
    }
}

/* Register B: SET stops updates (and clears UIE); clearing it sets time. */
static void rtc_write_reg_b(RTCState *s, int64_t now, uint8_t val)
{
    bool was_updating = rtc_updating(s);

    if (was_updating) {
        rtc_write_time_regs(s, now);
    }
    if (val & REG_B_SET) {
        val &= ~REG_B_UIE;
    }
    s->cmos[RTC_REG_B] = val;
    if (!was_updating && rtc_updating(s)) {
        rtc_restart(s, now, rtc_phase_at(s, now));
    }
}

static uint8_t rtc_cmos_read(RTCState *s, unsigned index)
{
    int64_t now = rtc_clock_now(s);
    uint8_t val;

    if (rtc_is_time_reg(index)) {
        if (rtc_updating(s)) {
            rtc_write_time_regs(s, now);
        }
        return s->cmos[index];
    }
    switch (index) {
    case RTC_REG_A:
        val = s->cmos[RTC_REG_A];
        if (rtc_updating(s) && rtc_next_update(s, now) - now <= UIP_LEAD_NS) {
            val |= REG_A_UIP;
        }
        return val;
    case RTC_REG_C:
        rtc_sync_flags(s, now);
        val = s->cmos[RTC_REG_C];
        s->cmos[RTC_REG_C] = 0;
        rtc_refresh(s, now);
        return val;
    case RTC_REG_D:
        return REG_D_VRT;   /* the battery is always good */
    default:
        return s->cmos[index];
    }
}

static void rtc_cmos_write(RTCState *s, unsigned index, uint8_t val)
{
    int64_t now = rtc_clock_now(s);

    if (rtc_is_time_reg(index)) {
        if (rtc_updating(s)) {
            /* a running clock takes the new field at once */
            rtc_sync_flags(s, now);
            rtc_write_time_regs(s, now);
            s->cmos[index] = val;
            rtc_restart(s, now, rtc_phase_at(s, now));
            rtc_refresh(s, now);
        } else {
            s->cmos[index] = val;
        }
        return;
    }
    switch (index) {
    case RTC_SECONDS_ALARM:
    case RTC_MINUTES_ALARM:
    case RTC_HOURS_ALARM:
        rtc_sync_flags(s, now);
        s->cmos[index] = val;
        rtc_refresh(s, now);
        break;
    case RTC_REG_A:
        rtc_sync_flags(s, now);
        rtc_write_reg_a(s, now, val);
        rtc_refresh(s, now);
        break;
    case RTC_REG_B:
        rtc_sync_flags(s, now);
        rtc_write_reg_b(s, now, val);
        rtc_refresh(s, now);
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        break;  /* read-only */
    default:
        s->cmos[index] = val;
        break;
    }
}

/* ---- ports ---- */

static uint64_t rtc_io_read(void *opaque, hwaddr addr, unsigned size)
{
    RTCState *s = opaque;

    /* the index port is write-only */
    return addr == 0 ? 0xff : rtc_cmos_read(s, s->index);
}

static void rtc_io_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    RTCState *s = opaque;

    if (addr == 0) {
        s->index = val & 0x7f;
        s->nmi_masked = val & 0x80;
    } else {
        rtc_cmos_write(s, s->index, val);
    }
}

static const MemoryRegionOps rtc_io_ops = {
    .read = rtc_io_read,
    .write = rtc_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* 0x72/0x73: an 8-bit index over all 256 bytes (PIIX4 extended bank) */
static uint64_t rtc_ext_io_read(void *opaque, hwaddr addr, unsigned size)
{
    RTCState *s = opaque;

    return addr == 0 ? 0xff : rtc_cmos_read(s, s->ext_index);
}

static void rtc_ext_io_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    RTCState *s = opaque;

    if (addr == 0) {
        s->ext_index = val;
    } else {
        rtc_cmos_write(s, s->ext_index, val);
    }
}

static const MemoryRegionOps rtc_ext_io_ops = {
    .read = rtc_ext_io_read,
    .write = rtc_ext_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* ---- board interface ---- */

Device *mc146818_rtc_find(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (!strcmp(d->cls->name, "mc146818rtc")) {
            return d;
        }
    }
    return NULL;
}

void mc146818_rtc_set_cmos_data(Device *rtc, unsigned index, uint8_t val)
{
    RTCState *s = (RTCState *)rtc;

    if (index < RTC_CMOS_SIZE) {
        s->cmos[index] = val;
    }
}

uint8_t mc146818_rtc_get_cmos_data(Device *rtc, unsigned index)
{
    RTCState *s = (RTCState *)rtc;

    return index < RTC_CMOS_SIZE ? s->cmos[index] : 0xff;
}

/* ---- -rtc ---- */

static bool rtc_parse_datetime(const char *v, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                 31 };

    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 || v[n]) {
        h = mi = sec = n = 0;
        if (sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || v[n]) {
            return false;
        }
    }
    if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] || (mo == 2 && d == 29 &&
                              (y % 4 || (y % 100 == 0 && y % 400))) ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) {
        return false;
    }
    *out = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 +
           sec;
    return true;
}

bool rtc_config_parse(const char *arg, RtcConfig *cfg, GError **errp)
{
    static const char *const clocks[] = { "host", "rt", "vm", NULL };
    Opts *opts = opts_parse(arg, NULL, errp);
    const char *v;
    bool ok = false;

    if (!opts) {
        return false;
    }
    if ((v = opts_get(opts, "base"))) {
        if (!strcmp(v, "utc")) {
            cfg->base = RTC_BASE_UTC;
        } else if (!strcmp(v, "localtime")) {
            cfg->base = RTC_BASE_LOCALTIME;
        } else if (rtc_parse_datetime(v, &cfg->base_datetime)) {
            cfg->base = RTC_BASE_DATETIME;
        } else {
            g_set_error(errp, VIREO_ERROR, 0,
                        "base=%s: expected utc, localtime or a date and "
                        "time such as '2006-06-17T16:01:21' or '2006-06-17'",
                        v);
            goto out;
        }
    }
    if ((v = opts_get(opts, "clock"))) {
        int i;
        for (i = 0; clocks[i] && strcmp(v, clocks[i]); i++) {
        }
        if (!clocks[i]) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "clock=%s: expected host, rt or vm", v);
            goto out;
        }
        cfg->clock = (RtcClock)i;
    }
    if ((v = opts_get(opts, "driftfix"))) {
        if (strcmp(v, "none") && strcmp(v, "slew")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "driftfix=%s: expected none or slew", v);
            goto out;
        }
        cfg->driftfix_slew = !strcmp(v, "slew");
    }
    ok = opts_check_unused(opts, "-rtc", errp);
out:
    opts_free(opts);
    return ok;
}

/* ---- device ---- */

static ClockType rtc_clock_type(RtcClock c)
{
    switch (c) {
    case RTC_CLOCK_RT:
        return CLK_REALTIME;
    case RTC_CLOCK_VM:
        return CLK_VIRTUAL;
    case RTC_CLOCK_HOST:
    default:
        return CLK_HOST;
    }
}

/* Where -rtc base= puts the clock at start: seconds and the ns within. */
static void rtc_base_time(const RtcConfig *cfg, int64_t *secs, int64_t *ns)
{
    int64_t host = clock_get_ns(CLK_HOST);
    time_t t;
    struct tm local;

    *secs = floor_div(host, NS_PER_SEC);
    *ns = host - *secs * NS_PER_SEC;
    switch (cfg->base) {
    case RTC_BASE_LOCALTIME:
        t = *secs;
        if (localtime_r(&t, &local)) {
            *secs += local.tm_gmtoff;
        }
        break;
    case RTC_BASE_DATETIME:
        *secs = cfg->base_datetime;
        *ns = 0;
        break;
    case RTC_BASE_UTC:
        break;
    }
}

/* The machine's reset line (datasheet "RESET"): interrupts off, flags 0. */
static void rtc_reset(Device *dev)
{
    RTCState *s = (RTCState *)dev;
    int64_t now = rtc_clock_now(s);

    s->cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    s->cmos[RTC_REG_C] = 0;
    s->flags_time = now;
    rtc_refresh(s, now);
}

static bool rtc_realize(Device *dev, Machine *m, GError **errp)
{
    RTCState *s = (RTCState *)dev;
    int64_t secs, ns, now;

    if (s->iobase > 0xfffe) {
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
    s->clock = rtc_clock_type(m->cfg.rtc.clock);
    now = rtc_clock_now(s);
    rtc_base_time(&m->cfg.rtc, &secs, &ns);
    rtc_set_offset(s, now, secs, ns);
    s->base_offset_s = s->offset_s;
    /* as firmware leaves it: 32.768 kHz, 1024 Hz rate, 24-hour BCD */
    s->cmos[RTC_REG_A] = REG_A_DV_32K | 0x06;
    s->cmos[RTC_REG_B] = REG_B_24H;
    s->cmos[RTC_REG_C] = 0;
    s->cmos[RTC_REG_D] = REG_D_VRT;
    rtc_write_time_regs(s, now);
    s->flags_time = now;
    s->timer = timer_new(s->clock, rtc_timer_cb, s);
    memory_region_init_io(&s->io, "rtc", &rtc_io_ops, s, 2);
    memory_region_init_io(&s->ext_io, "rtc-ext", &rtc_ext_io_ops, s, 2);
    memory_region_add_subregion(m->io, s->iobase, &s->io);
    if (s->iobase == RTC_ISA_BASE) {
        memory_region_add_subregion(m->io, RTC_ISA_BASE + 2, &s->ext_io);
    }
    s->mapped = true;
    return true;
}

static void rtc_unrealize(Device *dev)
{
    RTCState *s = (RTCState *)dev;

    timer_free(s->timer);
    s->timer = NULL;
    if (s->mapped) {
        memory_region_del_subregion(s->m->io, &s->io);
        if (s->iobase == RTC_ISA_BASE) {
            memory_region_del_subregion(s->m->io, &s->ext_io);
        }
        memory_region_destroy(&s->io);
        memory_region_destroy(&s->ext_io);
        s->mapped = false;
    }
}

/* ---- migration ---- */

static bool rtc_post_load(void *opaque, int version_id, GError **errp)
{
    RTCState *s = opaque;

    if (s->index > 0x7f || s->offset_ns < 0 || s->offset_ns >= NS_PER_SEC ||
        s->offset_s < -RTC_MAX_OFFSET_S || s->offset_s > RTC_MAX_OFFSET_S) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "index 0x%x or clock offset %" G_GINT64_FORMAT
                    " s + %" G_GINT64_FORMAT " ns is out of range",
                    s->index, s->offset_s, s->offset_ns);
        return false;
    }
    s->cmos[RTC_REG_A] &= ~REG_A_UIP;
    s->cmos[RTC_REG_D] = REG_D_VRT;
    /* drive the line as the state says, whatever it was here */
    rtc_update_irq(s);
    irq_set(&s->m->gsi[s->irq], s->irq_level);
    rtc_arm_timer(s, rtc_clock_now(s));
    return true;
}

/* Times are on the -rtc clock= clock, which goes on across migration. */
static const VMStateField rtc_fields[] = {
    VMSTATE_BUFFER(cmos, RTCState),
    VMSTATE_UINT8(index, RTCState),
    VMSTATE_UINT8(ext_index, RTCState),
    VMSTATE_BOOL(nmi_masked, RTCState),
    VMSTATE_INT64(offset_s, RTCState),
    VMSTATE_INT64(offset_ns, RTCState),
    VMSTATE_INT64(flags_time, RTCState),
    VMSTATE_BOOL(irq_level, RTCState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_rtc = {
    .name = "mc146818rtc",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = rtc_fields,
    .post_load = rtc_post_load,
};

static const Property rtc_props[] = {
    PROP_U32("iobase", RTCState, iobase, RTC_ISA_BASE, "I/O port base"),
    PROP_U32("irq", RTCState, irq, RTC_ISA_IRQ, "ISA IRQ (GSI)"),
    PROP_END,
};

static DeviceClass rtc_class = {
    .name = "mc146818rtc",
    .desc = "MC146818 real-time clock and CMOS RAM",
    .bus = "ISA",
    .instance_size = sizeof(RTCState),
    .props = rtc_props,
    .user_creatable = false,
    .realize = rtc_realize,
    .reset = rtc_reset,
    .unrealize = rtc_unrealize,
    .vmsd = &vmstate_rtc,
};
DEVICE_REGISTER(rtc_class)
