/*
 * High Precision Event Timer ("hpet") after the IA-PC HPET specification
 * 1.0a: a 64-bit main counter at 100 MHz, three timers with one-shot and
 * periodic modes, 32-bit mode, edge or level interrupts on the IOAPIC
 * inputs Tn_INT_ROUTE_CAP allows, and the legacy replacement route that
 * takes ISA IRQ 0 from the 8254 and IRQ 8 from the RTC. No FSB (MSI)
 * delivery: Tn_FSB_INT_DEL_CAP reads 0.
 *
 * The counter is computed from CLK_VIRTUAL; each timer arms a host timer
 * for its next comparator match only.
 */
#include <string.h>

#include "hw/i386/acpi.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/timer.h"
#include "util/opts.h"

#define HPET_MMIO_SIZE      0x400
#define HPET_NUM_TIMERS     3
#define HPET_NS_PER_TICK    10                  /* 100 MHz */
#define HPET_PERIOD_FS      10000000ULL         /* the same, in fs */

/* Register offsets (spec 2.3.1, table 2) */
#define HPET_GCAP_ID        0x000
#define HPET_GEN_CONF       0x010
#define HPET_GINTR_STA      0x020
#define HPET_MAIN_CNT       0x0f0
#define HPET_TIMER0         0x100
#define HPET_TIMER_STRIDE   0x20
#define HPET_TN_CONF        0x00
#define HPET_TN_CMP         0x08
#define HPET_TN_FSB         0x10

/* General capabilities and ID (2.3.4) */
#define GCAP_REV_ID         0x01
#define GCAP_NUM_TIM_SHIFT  8
#define GCAP_COUNT_SIZE_CAP (1ULL << 13)
#define GCAP_LEG_RT_CAP     (1ULL << 15)
#define GCAP_VENDOR_SHIFT   16
#define GCAP_PERIOD_SHIFT   32
#define HPET_VENDOR_INTEL   0x8086

/* General configuration (2.3.5) */
#define CONF_ENABLE         (1ULL << 0)
#define CONF_LEG_RT         (1ULL << 1)

/* Timer N configuration and capabilities (2.3.8) */
#define TN_INT_TYPE_LEVEL   (1ULL << 1)
#define TN_INT_ENB          (1ULL << 2)
#define TN_TYPE_PERIODIC    (1ULL << 3)
#define TN_PER_INT_CAP      (1ULL << 4)
#define TN_SIZE_CAP         (1ULL << 5)
#define TN_VAL_SET          (1ULL << 6)
#define TN_32MODE           (1ULL << 8)
#define TN_INT_ROUTE_SHIFT  9
#define TN_INT_ROUTE_MASK   (0x1fULL << TN_INT_ROUTE_SHIFT)
#define TN_ROUTE_CAP_SHIFT  32
#define TN_WRITABLE         (TN_INT_TYPE_LEVEL | TN_INT_ENB |              \
                             TN_TYPE_PERIODIC | TN_VAL_SET | TN_32MODE |    \
                             TN_INT_ROUTE_MASK)

#define LEGACY_IRQ0         0
#define LEGACY_IRQ8         8

typedef struct HPETState HPETState;

typedef struct HPETTimer {
    HPETState *s;
    int index;
    uint64_t config;        /* TN_WRITABLE bits only */
    uint64_t cmp;
    uint64_t period;        /* periodic mode: the last value written */
    uint64_t fsb;           /* stored; FSB delivery is not offered */
    int64_t deadline;       /* CLK_VIRTUAL of the next match, or -1 */
    Timer *timer;
} HPETTimer;

struct HPETState {
    Device dev;
    uint32_t intcap;        /* IOAPIC inputs a timer may route to */

    Machine *m;
    MemoryRegion mmio;
    bool mapped;
    /* ISA IRQ 0 and 8 as they were: the legacy route switches them */
    IRQLine isa_irq0, isa_irq8;
    bool hooked;
    bool pit_level, rtc_level;  /* what the 8254 and the RTC drive */
    uint32_t out_levels;        /* by GSI, what this device last drove */
    int pit_enable;             /* what m->pit_enable last got, or -1 */

    uint64_t config;
    uint64_t isr;
    uint64_t counter;       /* main counter at counter_time */
    int64_t counter_time;   /* it runs from there while enabled */
    HPETTimer t[HPET_NUM_TIMERS];
};

/* ---- the main counter ---- */

static bool hpet_enabled(HPETState *s)
{
    return s->config & CONF_ENABLE;
}

static uint64_t hpet_ticks_since_base(HPETState *s, int64_t now)
{
    if (!hpet_enabled(s) || now <= s->counter_time) {
        return 0;
    }
    return (uint64_t)(now - s->counter_time) / HPET_NS_PER_TICK;
}

static uint64_t hpet_counter_at(HPETState *s, int64_t now)
{
    return s->counter + hpet_ticks_since_base(s, now);
}

/* Restarts the count from value at now. */
static void hpet_set_counter(HPETState *s, int64_t now, uint64_t value)
{
    s->counter = value;
    s->counter_time = now;
}

/* When the counter is `ahead` ticks past its value at now, or -1. */
static int64_t hpet_time_of(HPETState *s, int64_t now,
                            unsigned __int128 ahead)
{
    __int128 t = (__int128)s->counter_time +
                 ((__int128)hpet_ticks_since_base(s, now) + ahead) *
                 HPET_NS_PER_TICK;

    return t > INT64_MAX ? -1 : (int64_t)t;
}

/* ---- interrupt lines ---- */

static uint64_t hpet_timer_mask(HPETTimer *t)
{
    return (t->config & TN_32MODE) ? 0xffffffffULL : ~0ULL;
}

/* The GSI timer i interrupts on, or -1 (a route INT_ROUTE_CAP lacks). */
static int hpet_timer_gsi(HPETState *s, int i)
{
    unsigned route = (s->t[i].config & TN_INT_ROUTE_MASK) >>
                     TN_INT_ROUTE_SHIFT;

    if ((s->config & CONF_LEG_RT) && i < 2) {
        return i == 0 ? LEGACY_IRQ0 : LEGACY_IRQ8;
    }
    if (!(s->intcap & (1u << route)) || route >= X86_NUM_GSI) {
        return -1;
    }
    return route;
}

/* A level-triggered timer holds its line while its status bit is set. */
static bool hpet_timer_level(HPETState *s, int i)
{
    uint64_t c = s->t[i].config;

    return hpet_enabled(s) && (c & TN_INT_TYPE_LEVEL) && (c & TN_INT_ENB) &&
           (s->isr & (1u << i));
}

static void hpet_drive(HPETState *s, int gsi, bool level, bool force)
{
    IRQLine *line = gsi == LEGACY_IRQ0 ? &s->isa_irq0 :
                    gsi == LEGACY_IRQ8 ? &s->isa_irq8 : &s->m->gsi[gsi];

    if (force || !!(s->out_levels & (1u << gsi)) != level) {
        s->out_levels = (s->out_levels & ~(1u << gsi)) | (level ? 1u << gsi
                                                                : 0);
        irq_set(line, level);
    }
}

/*
 * Recomputes every line this device drives: IRQ 0 and 8 carry the 8254
 * and the RTC unless the legacy route took them, OR'd with the timers.
 */
static void hpet_update_lines(HPETState *s, bool force)
{
    uint32_t want = 0, touched = (1u << LEGACY_IRQ0) | (1u << LEGACY_IRQ8);

    if (!(s->config & CONF_LEG_RT)) {
        want |= (s->pit_level ? 1u << LEGACY_IRQ0 : 0) |
                (s->rtc_level ? 1u << LEGACY_IRQ8 : 0);
    }
    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        int gsi = hpet_timer_gsi(s, i);
        if (gsi >= 0) {
            touched |= 1u << gsi;
            want |= hpet_timer_level(s, i) ? 1u << gsi : 0;
        }
    }
    touched |= s->out_levels;
    for (int gsi = 0; gsi < X86_NUM_GSI; gsi++) {
        if (touched & (1u << gsi)) {
            hpet_drive(s, gsi, want & (1u << gsi), force);
        }
    }
    /* the 8254 need not count for nobody */
    if (force || s->pit_enable != !(s->config & CONF_LEG_RT)) {
        s->pit_enable = !(s->config & CONF_LEG_RT);
        irq_set(&s->m->pit_enable, s->pit_enable);
    }
}

/* The 8254's and the RTC's outputs come through here (m->gsi[0], [8]). */
static void hpet_isa_irq_in(void *opaque, int n, int level)
{
    HPETState *s = opaque;

    if (n == LEGACY_IRQ0) {
        s->pit_level = level;
    } else {
        s->rtc_level = level;
    }
    hpet_update_lines(s, false);
}

/* A comparator match: status for level mode, an edge for edge mode. */
static void hpet_timer_interrupt(HPETState *s, int i)
{
    HPETTimer *t = &s->t[i];
    int gsi = hpet_timer_gsi(s, i);

    if (t->config & TN_INT_TYPE_LEVEL) {
        s->isr |= 1u << i;
        hpet_update_lines(s, false);
    } else if ((t->config & TN_INT_ENB) && gsi >= 0 &&
               !(s->out_levels & (1u << gsi))) {
        hpet_drive(s, gsi, true, false);
        hpet_drive(s, gsi, false, false);
    }
}

/* ---- timers ---- */

/* Whether a match has any effect to compute. */
static bool hpet_timer_active(HPETTimer *t)
{
    return t->config & (TN_TYPE_PERIODIC | TN_INT_ENB | TN_INT_TYPE_LEVEL);
}

/*
 * A periodic edge-mode timer with its interrupt disabled only moves its
 * comparator on (Linux leaves timer 0 so when it stops using it). No host
 * timer runs for it: its deadline is caught up with on the next register
 * access, so an idle guest costs no wake-ups.
 */
static bool hpet_timer_silent(HPETTimer *t)
{
    return (t->config & (TN_TYPE_PERIODIC | TN_INT_ENB | TN_INT_TYPE_LEVEL))
           == TN_TYPE_PERIODIC;
}

/*
 * The next event: the counter reaching the comparator (in 32-bit mode its
 * low half; a comparator equal to the counter now matches after a wrap),
 * and for a 32-bit one-shot also the low half wrapping to 0 (2.3.9.2.1).
 */
static void hpet_arm(HPETState *s, int i, int64_t now)
{
    HPETTimer *t = &s->t[i];

    t->deadline = -1;
    if (hpet_enabled(s) && hpet_timer_active(t)) {
        uint64_t mask = hpet_timer_mask(t);
        uint64_t c = hpet_counter_at(s, now) & mask;
        unsigned __int128 ahead = (t->cmp - c) & mask;

        if (ahead == 0) {
            ahead = (unsigned __int128)mask + 1;
        }
        if (!(t->config & TN_TYPE_PERIODIC) && (t->config & TN_32MODE)) {
            unsigned __int128 wrap = (unsigned __int128)mask + 1 - c;
            ahead = ahead < wrap ? ahead : wrap;
        }
        t->deadline = hpet_time_of(s, now, ahead);
    }
    if (t->deadline >= 0 && !hpet_timer_silent(t)) {
        timer_mod(t->timer, t->deadline);
    } else {
        timer_del(t->timer);
    }
}

static void hpet_arm_all(HPETState *s, int64_t now)
{
    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        hpet_arm(s, i, now);
    }
}

/*
 * The event at t->deadline, handled at now (a little later, perhaps): a
 * periodic comparator moves on by its period, past now if periods were
 * missed (they make one interrupt, not many).
 */
static void hpet_timer_event(HPETState *s, int i, int64_t now)
{
    HPETTimer *t = &s->t[i];
    uint64_t mask = hpet_timer_mask(t);
    uint64_t period = t->period & mask;

    if ((t->config & TN_TYPE_PERIODIC) && period) {
        uint64_t elapsed = hpet_counter_at(s, now) -
                           hpet_counter_at(s, t->deadline);
        t->cmp = (t->cmp + period * (elapsed / period + 1)) & mask;
    }
    hpet_timer_interrupt(s, i);
    hpet_arm(s, i, now);
}

static void hpet_timer_cb(void *opaque)
{
    HPETTimer *t = opaque;
    int64_t now = clock_get_ns(CLK_VIRTUAL);

    if (t->deadline < 0) {
        return;
    }
    if (now < t->deadline) {
        timer_mod(t->timer, t->deadline);
        return;
    }
    hpet_timer_event(t->s, t->index, now);
}

/* Events already due are handled before a register access sees them. */
static void hpet_catch_up(HPETState *s, int64_t now)
{
    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        if (s->t[i].deadline >= 0 && s->t[i].deadline <= now) {
            hpet_timer_event(s, i, now);
        }
    }
}

/* ---- registers ---- */

static uint64_t hpet_caps(void)
{
    return GCAP_REV_ID | ((HPET_NUM_TIMERS - 1ULL) << GCAP_NUM_TIM_SHIFT) |
           GCAP_COUNT_SIZE_CAP | GCAP_LEG_RT_CAP |
           ((uint64_t)HPET_VENDOR_INTEL << GCAP_VENDOR_SHIFT) |
           (HPET_PERIOD_FS << GCAP_PERIOD_SHIFT);
}

/* Timer i and register offset within its block, or -1. */
static int hpet_timer_reg(hwaddr reg, hwaddr *off)
{
    if (reg < HPET_TIMER0 ||
        reg >= HPET_TIMER0 + HPET_NUM_TIMERS * HPET_TIMER_STRIDE) {
        return -1;
    }
    *off = (reg - HPET_TIMER0) % HPET_TIMER_STRIDE;
    return (reg - HPET_TIMER0) / HPET_TIMER_STRIDE;
}

static uint64_t hpet_reg_read(HPETState *s, hwaddr reg, int64_t now)
{
    hwaddr off;
    int i;

    switch (reg) {
    case HPET_GCAP_ID:
        return hpet_caps();
    case HPET_GEN_CONF:
        return s->config;
    case HPET_GINTR_STA:
        return s->isr;
    case HPET_MAIN_CNT:
        return hpet_counter_at(s, now);
    }
    i = hpet_timer_reg(reg, &off);
    if (i < 0) {
        return 0;   /* reserved */
    }
    switch (off) {
    case HPET_TN_CONF:
        return s->t[i].config | TN_PER_INT_CAP | TN_SIZE_CAP |
               ((uint64_t)s->intcap << TN_ROUTE_CAP_SHIFT);
    case HPET_TN_CMP:
        return s->t[i].cmp;
    case HPET_TN_FSB:
        return s->t[i].fsb;
    }
    return 0;
}

static void hpet_write_gen_conf(HPETState *s, uint64_t val, int64_t now)
{
    uint64_t count = hpet_counter_at(s, now);
    bool toggled = (s->config ^ val) & CONF_ENABLE;

    s->config = val & (CONF_ENABLE | CONF_LEG_RT);
    if (toggled) {
        /* halted, the counter holds its value; it runs on from there */
        hpet_set_counter(s, now, count);
    }
    hpet_arm_all(s, now);
    hpet_update_lines(s, false);
}

static void hpet_write_timer_conf(HPETState *s, int i, uint64_t val,
                                  int64_t now)
{
    HPETTimer *t = &s->t[i];

    if ((t->config & TN_INT_TYPE_LEVEL) && !(val & TN_INT_TYPE_LEVEL)) {
        s->isr &= ~(1ULL << i);     /* edge mode has no status */
    }
    t->config = val & TN_WRITABLE;
    if (t->config & TN_32MODE) {
        t->cmp &= 0xffffffffULL;
        t->period &= 0xffffffffULL;
    }
    hpet_arm(s, i, now);
    hpet_update_lines(s, false);
}

/*
 * A comparator write (any half, in any order): a one-shot comparator takes
 * it; a periodic timer takes it as its period, and as the comparator too
 * while Tn_VAL_SET_CNF is set, which the write clears (2.3.9.2.2).
 */
static void hpet_write_cmp(HPETState *s, int i, uint64_t val, uint64_t wmask,
                           int64_t now)
{
    HPETTimer *t = &s->t[i];

    wmask &= hpet_timer_mask(t);
    if (!(t->config & TN_TYPE_PERIODIC) || (t->config & TN_VAL_SET)) {
        t->cmp = (t->cmp & ~wmask) | (val & wmask);
    }
    t->period = (t->period & ~wmask) | (val & wmask);
    t->config &= ~TN_VAL_SET;
    hpet_arm(s, i, now);
}

/* A write of the bytes in wmask of the 64-bit register at reg. */
static void hpet_reg_write(HPETState *s, hwaddr reg, uint64_t val,
                           uint64_t wmask, int64_t now)
{
    uint64_t merged = (hpet_reg_read(s, reg, now) & ~wmask) | (val & wmask);
    hwaddr off;
    int i;

    switch (reg) {
    case HPET_GCAP_ID:
        return;
    case HPET_GEN_CONF:
        hpet_write_gen_conf(s, merged, now);
        return;
    case HPET_GINTR_STA:
        /* write 1 to clear a level-triggered timer's status */
        s->isr &= ~(val & wmask);
        hpet_update_lines(s, false);
        return;
    case HPET_MAIN_CNT:
        hpet_set_counter(s, now, merged);
        hpet_arm_all(s, now);
        return;
    }
    i = hpet_timer_reg(reg, &off);
    if (i < 0) {
        return;
    }
    switch (off) {
    case HPET_TN_CONF:
        hpet_write_timer_conf(s, i, merged, now);
        break;
    case HPET_TN_CMP:
        hpet_write_cmp(s, i, val, wmask, now);
        break;
    case HPET_TN_FSB:
        s->t[i].fsb = merged;
        break;
    }
}

/* Accesses of 1-8 bytes; the part of one that runs past its register is
 * dropped. */
static uint64_t hpet_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    HPETState *s = opaque;
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    unsigned shift = (addr & 7) * 8;
    uint64_t val;

    hpet_catch_up(s, now);
    val = hpet_reg_read(s, addr & ~7ULL, now) >> shift;
    return size >= 8 ? val : val & ((1ULL << (size * 8)) - 1);
}

static void hpet_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    HPETState *s = opaque;
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    unsigned shift = (addr & 7) * 8;
    uint64_t mask = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;

    hpet_catch_up(s, now);
    hpet_reg_write(s, addr & ~7ULL, val << shift, mask << shift, now);
}

static const MemoryRegionOps hpet_mmio_ops = {
    .read = hpet_mmio_read,
    .write = hpet_mmio_write,
    .impl_min = 1,
    .impl_max = 8,
};

/* ---- device ---- */

static void hpet_reset(Device *dev)
{
    HPETState *s = (HPETState *)dev;
    int64_t now = clock_get_ns(CLK_VIRTUAL);

    s->config = 0;
    s->isr = 0;
    hpet_set_counter(s, now, 0);
    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        HPETTimer *t = &s->t[i];
        t->config = 0;
        t->cmp = ~0ULL;     /* comparators reset to all ones */
        t->period = 0;
        t->fsb = 0;
    }
    hpet_arm_all(s, now);
    /* whatever drove IRQ 0 and 8 before the mux was in place, it is now */
    hpet_update_lines(s, true);
}

static bool hpet_realize(Device *dev, Machine *m, GError **errp)
{
    HPETState *s = (HPETState *)dev;

    for (Device *d = m->devices; d; d = d->next) {
        if (d != dev && d->cls == dev->cls) {
            g_set_error(errp, VIREO_ERROR, 0, "the machine has an HPET "
                        "already");
            return false;
        }
    }
    s->m = m;
    s->intcap &= (1ULL << X86_NUM_GSI) - 1;
    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        s->t[i].s = s;
        s->t[i].index = i;
        s->t[i].deadline = -1;
        s->t[i].timer = timer_new(CLK_VIRTUAL, hpet_timer_cb, &s->t[i]);
    }
    /* the legacy replacement mux sits between the 8254/RTC and the PIC */
    s->isa_irq0 = m->gsi[LEGACY_IRQ0];
    s->isa_irq8 = m->gsi[LEGACY_IRQ8];
    m->gsi[LEGACY_IRQ0] = (IRQLine){ hpet_isa_irq_in, s, LEGACY_IRQ0 };
    m->gsi[LEGACY_IRQ8] = (IRQLine){ hpet_isa_irq_in, s, LEGACY_IRQ8 };
    s->hooked = true;
    memory_region_init_io(&s->mmio, "hpet", &hpet_mmio_ops, s,
                          HPET_MMIO_SIZE);
    memory_region_add_subregion(m->sysmem, ACPI_HPET_BASE, &s->mmio);
    s->mapped = true;
    hpet_reset(dev);
    return true;
}

static void hpet_unrealize(Device *dev)
{
    HPETState *s = (HPETState *)dev;

    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        timer_free(s->t[i].timer);
        s->t[i].timer = NULL;
    }
    if (s->hooked) {
        s->m->gsi[LEGACY_IRQ0] = s->isa_irq0;
        s->m->gsi[LEGACY_IRQ8] = s->isa_irq8;
        irq_set(&s->m->pit_enable, 1);
        s->hooked = false;
    }
    if (s->mapped) {
        memory_region_del_subregion(s->m->sysmem, &s->mmio);
        memory_region_destroy(&s->mmio);
        s->mapped = false;
    }
}

/* ---- migration ---- */

/* Silent timers' comparators are brought up to date before they are saved. */
static bool hpet_pre_save(void *opaque, GError **errp)
{
    hpet_catch_up(opaque, clock_get_ns(CLK_VIRTUAL));
    return true;
}

static bool hpet_post_load(void *opaque, int version_id, GError **errp)
{
    HPETState *s = opaque;
    int64_t now = clock_get_ns(CLK_VIRTUAL);

    if (s->config & ~(CONF_ENABLE | CONF_LEG_RT) ||
        s->isr & ~((1ULL << HPET_NUM_TIMERS) - 1) || s->counter_time < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "configuration 0x%" G_GINT64_MODIFIER "x, status 0x%"
                    G_GINT64_MODIFIER "x or counter time is invalid",
                    s->config, s->isr);
        return false;
    }
    for (int i = 0; i < HPET_NUM_TIMERS; i++) {
        HPETTimer *t = &s->t[i];
        if (t->config & ~TN_WRITABLE) {
            g_set_error(errp, VIREO_ERROR, 0, "timer %d: configuration 0x%"
                        G_GINT64_MODIFIER "x has read-only bits", i,
                        t->config);
            return false;
        }
        t->cmp &= hpet_timer_mask(t);
        t->period &= hpet_timer_mask(t);
    }
    hpet_arm_all(s, now);
    hpet_update_lines(s, true);
    return true;
}

static const VMStateField hpet_timer_fields[] = {
    VMSTATE_UINT64(config, HPETTimer),
    VMSTATE_UINT64(cmp, HPETTimer),
    VMSTATE_UINT64(period, HPETTimer),
    VMSTATE_UINT64(fsb, HPETTimer),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_hpet_timer = {
    .name = "hpet-timer",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = hpet_timer_fields,
};

/* Deadlines follow from the counter and comparators; they are recomputed. */
static const VMStateField hpet_fields[] = {
    VMSTATE_UINT64(config, HPETState),
    VMSTATE_UINT64(isr, HPETState),
    VMSTATE_UINT64(counter, HPETState),
    VMSTATE_INT64(counter_time, HPETState),
    VMSTATE_STRUCT_ARRAY(t, HPETState, vmstate_hpet_timer, HPETTimer),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_hpet = {
    .name = "hpet",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = hpet_fields,
    .pre_save = hpet_pre_save,
    .post_load = hpet_post_load,
};

static const Property hpet_props[] = {
    PROP_U32("intcap", HPETState, intcap, 0x4,
             "IOAPIC inputs timers may route to (bit n: input n)"),
    PROP_END,
};

static DeviceClass hpet_class = {
    .name = "hpet",
    .desc = "High Precision Event Timer",
    .bus = "System",
    .instance_size = sizeof(HPETState),
    .props = hpet_props,
    .user_creatable = false,
    .realize = hpet_realize,
    .reset = hpet_reset,
    .unrealize = hpet_unrealize,
    .vmsd = &vmstate_hpet,
};
DEVICE_REGISTER(hpet_class)
