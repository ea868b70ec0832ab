/*
 * The local APIC of each vCPU in xAPIC mode, after the Intel SDM vol. 3A
 * chapter 10 (Advanced Programmable Interrupt Controller): register page,
 * interrupt acceptance and priority (10.8), IPIs through the ICR (10.6),
 * local vector table and timer (10.5), INIT/power-on state (10.4.7).
 * x2APIC is not offered.
 *
 * The timer counts at an APIC bus clock of 1 GHz (one tick per virtual ns
 * before the divider), as QEMU's and KVM's do, so the count a guest
 * calibrates equals CLK_VIRTUAL nanoseconds / divisor. In TSC-deadline mode
 * the guest TSC is clock_get_ns(CLK_VIRTUAL) + cpu->tsc_offset (1 GHz too).
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "irqchip-internal.h"
#include "migration/vmstate.h"
#include "system/timer.h"
#include "util/opts.h"

/* Register offsets (SDM table 10-1) */
enum {
    APIC_ID = 0x020,
    APIC_LVR = 0x030,
    APIC_TPR = 0x080,
    APIC_APR = 0x090,
    APIC_PPR = 0x0a0,
    APIC_EOI = 0x0b0,
    APIC_RRD = 0x0c0,
    APIC_LDR = 0x0d0,
    APIC_DFR = 0x0e0,
    APIC_SVR = 0x0f0,
    APIC_ISR = 0x100,
    APIC_TMR = 0x180,
    APIC_IRR = 0x200,
    APIC_ESR = 0x280,
    APIC_ICR_LO = 0x300,
    APIC_ICR_HI = 0x310,
    APIC_LVT_TIMER = 0x320,
    APIC_LVT_ERROR = 0x370,
    APIC_TMICT = 0x380,
    APIC_TMCCT = 0x390,
    APIC_TDCR = 0x3e0,
};

/* version 0x14 (integrated APIC), six LVT entries (max LVT index 5) */
#define APIC_VERSION_VALUE  0x50014

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR,
       LVT_COUNT };

#define LVT_VECTOR          0x000ff
#define LVT_DELIVERY_SHIFT  8
#define LVT_DELIVS          (1u << 12)
#define LVT_REMOTE_IRR      (1u << 14)
#define LVT_LEVEL           (1u << 15)
#define LVT_MASKED          (1u << 16)
#define LVT_TIMER_SHIFT     17
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE };

/* what software may write in each LVT (SDM figure 10-8) */
static const uint32_t lvt_rw_mask[LVT_COUNT] = {
    [LVT_TIMER] = 0x700ff,  /* vector, mask, timer mode */
    [LVT_THERMAL] = 0x107ff,
    [LVT_PERF] = 0x107ff,
    [LVT_LINT0] = 0x1a7ff,  /* + polarity, trigger mode */
    [LVT_LINT1] = 0x1a7ff,
    [LVT_ERROR] = 0x100ff,
};

#define SVR_VECTOR          0x0ff
#define SVR_ENABLE          (1u << 8)
#define SVR_FOCUS_DISABLE   (1u << 9)

#define ICR_VECTOR          0x000ff
#define ICR_DELIVERY_SHIFT  8
#define ICR_DEST_LOGICAL    (1u << 11)
#define ICR_LEVEL_ASSERT    (1u << 14)
#define ICR_TRIGGER_LEVEL   (1u << 15)
#define ICR_SHORTHAND_SHIFT 18
#define ICR_RW_MASK         0xccfff
enum { SH_NONE, SH_SELF, SH_ALL, SH_ALL_BUT_SELF };

/* ESR bits (SDM figure 10-9) */
#define ESR_SEND_ILLEGAL_VECTOR 0x20
#define ESR_RECV_ILLEGAL_VECTOR 0x40
#define ESR_ILLEGAL_REGISTER    0x80

/* IA32_APIC_BASE (SDM figure 10-5) */
#define MSR_APICBASE_BSP    (1ULL << 8)
#define MSR_APICBASE_EXTD   (1ULL << 10)
#define MSR_APICBASE_ENABLE (1ULL << 11)
#define MSR_APICBASE_ADDR   0x000ffffffffff000ULL

#define DFR_MODEL_FLAT      0xf
/* the timer arithmetic below counts one bus tick per virtual nanosecond */
G_STATIC_ASSERT(X86_APIC_BUS_HZ == NANOSECONDS_PER_SECOND);
/* A periodic timer faster than this fires coalesced (one IRR bit anyway). */
#define APIC_TIMER_MIN_PERIOD_NS 10000

struct APICState {
    CPUState *cpu;
    Machine *m;
    uint64_t apicbase;
    uint8_t id;
    uint8_t tpr;
    uint32_t ldr;
    uint32_t dfr;
    uint32_t svr;
    uint32_t isr[8], tmr[8], irr[8];
    uint32_t esr;
    uint32_t esr_pending;   /* errors since the last ESR write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[LVT_COUNT];
    uint32_t initial_count;
    uint32_t dcr;
    int64_t count_start;    /* CLK_VIRTUAL ns the count was loaded at */
    uint64_t tsc_deadline;
    Timer *timer;
    bool lint_level[2];
    bool extint_pending;    /* ExtINT message from the IOAPIC or an MSI */
};

/* ---- bitmaps of 256 vectors ---- */

static int highest_vector(const uint32_t *reg)
{
    for (int i = 7; i >= 0; i--) {
        if (reg[i]) {
            return i * 32 + 31 - __builtin_clz(reg[i]);
        }
    }
    return -1;
}

static void vec_set(uint32_t *reg, int v)
{
    reg[v >> 5] |= 1u << (v & 31);
}

static void vec_clear(uint32_t *reg, int v)
{
    reg[v >> 5] &= ~(1u << (v & 31));
}

static bool vec_test(const uint32_t *reg, int v)
{
    return reg[v >> 5] & (1u << (v & 31));
}

/* ---- priority (SDM 10.8.3) ---- */

static bool hw_enabled(APICState *s)
{
    return s->apicbase & MSR_APICBASE_ENABLE;
}

static bool sw_enabled(APICState *s)
{
    return hw_enabled(s) && (s->svr & SVR_ENABLE);
}

static uint8_t apic_ppr(APICState *s)
{
    int isrv = MAX(highest_vector(s->isr), 0);

    if ((s->tpr >> 4) >= (isrv >> 4)) {
        return s->tpr;
    }
    return isrv & 0xf0;
}

/* Arbitration priority for lowest-priority delivery (SDM 10.6.2.4). */
static uint8_t apic_apr(APICState *s)
{
    int isrv = MAX(highest_vector(s->isr), 0);
    int irrv = MAX(highest_vector(s->irr), 0);

    if ((s->tpr >> 4) >= (irrv >> 4) && (s->tpr >> 4) > (isrv >> 4)) {
        return s->tpr;
    }
    return MAX(s->tpr & isrv & 0xf0, irrv & 0xf0);
}

/* The IRR vector the CPU may take now, or -1. */
static int irr_deliverable(APICState *s)
{
    int irrv = highest_vector(s->irr);

    if (irrv < 0 || (irrv & 0xf0) <= (apic_ppr(s) & 0xf0)) {
        return -1;
    }
    return irrv;
}

static X86IrqChip *chip_of(APICState *s)
{
    return x86_irqchip_find(s->m);
}

/* Whether LINT0 carries the 8259's INTR to the core (virtual wire). */
static bool lint0_passes_extint(APICState *s)
{
    uint32_t lint0 = s->lvt[LVT_LINT0];

    if (!hw_enabled(s)) {
        /* a disabled LAPIC passes LINT0 through as INTR (SDM 10.4.3) */
        return s->cpu->index == 0;
    }
    return !(lint0 & LVT_MASKED) &&
           ((lint0 >> LVT_DELIVERY_SHIFT) & 7) == APIC_DM_EXTINT;
}

/* Whether an ExtINT (an 8259 vector) waits for the CPU's INTA. */
static bool extint_ready(APICState *s)
{
    if (hw_enabled(s) && s->extint_pending) {
        return true;
    }
    return lint0_passes_extint(s) && s->lint_level[0];
}

static bool apic_has_interrupt(APICState *s)
{
    return extint_ready(s) || (hw_enabled(s) && irr_deliverable(s) >= 0);
}

/* Keeps CPU_INTERRUPT_HARD equal to apic_has_interrupt (header contract). */
static void apic_update_irq(APICState *s)
{
    bool want = apic_has_interrupt(s);
    bool have = __atomic_load_n(&s->cpu->interrupt_request, __ATOMIC_SEQ_CST) &
                CPU_INTERRUPT_HARD;

    if (want && !have) {
        cpu_interrupt(s->cpu, CPU_INTERRUPT_HARD);
    } else if (!want && have) {
        cpu_reset_interrupt(s->cpu, CPU_INTERRUPT_HARD);
    }
}

static bool apic_accept_vector(APICState *s, int vector, bool level);

static void apic_error(APICState *s, uint32_t bits)
{
    uint32_t lvt = s->lvt[LVT_ERROR];
    int vector = lvt & LVT_VECTOR;

    s->esr_pending |= bits;
    if (!(lvt & LVT_MASKED) && vector >= 16) {
        apic_accept_vector(s, vector, false);
    }
}

/* A fixed interrupt arrives: IRR, and TMR for level (SDM 10.8.4). */
static bool apic_accept_vector(APICState *s, int vector, bool level)
{
    if (!sw_enabled(s)) {
        return false;
    }
    if (vector < 16) {
        apic_error(s, ESR_RECV_ILLEGAL_VECTOR);
        return false;
    }
    vec_set(s->irr, vector);
    if (level) {
        vec_set(s->tmr, vector);
    } else {
        vec_clear(s->tmr, vector);
    }
    apic_update_irq(s);
    return true;
}

/* ---- the public CPU interface ---- */

int apic_get_interrupt(APICState *s)
{
    int vector;

    if (extint_ready(s)) {
        X86IrqChip *chip = chip_of(s);
        s->extint_pending = false;
        vector = chip && chip->pic ? pic_acknowledge(chip->pic) : -1;
        apic_update_irq(s);
        return vector;
    }
    vector = hw_enabled(s) ? irr_deliverable(s) : -1;
    if (vector >= 0) {
        vec_clear(s->irr, vector);
        vec_set(s->isr, vector);
        apic_update_irq(s);
        return vector;
    }
    /*
     * The request went away after being signalled (SDM 10.9): in virtual
     * wire mode the INTA cycle reaches the 8259, which answers with IR7;
     * otherwise the LAPIC gives its spurious vector.
     */
    if (lint0_passes_extint(s)) {
        X86IrqChip *chip = chip_of(s);
        vector = chip && chip->pic ? pic_acknowledge(chip->pic) : -1;
    } else {
        vector = hw_enabled(s) ? (int)(s->svr & SVR_VECTOR) : -1;
    }
    apic_update_irq(s);
    return vector;
}

bool apic_enabled(APICState *s)
{
    return hw_enabled(s);
}

uint64_t apic_get_base(APICState *s)
{
    return s->apicbase;
}

uint8_t apic_get_cr8(APICState *s)
{
    return s->tpr >> 4;
}

void apic_set_cr8(APICState *s, uint8_t cr8)
{
    s->tpr = (cr8 & 0xf) << 4;
    apic_update_irq(s);
}

/* ---- local vector table and pins ---- */

static int lvt_delivery(uint32_t lvt)
{
    return (lvt >> LVT_DELIVERY_SHIFT) & 7;
}

void apic_set_lint(APICState *s, int lint, bool level)
{
    bool rising = level && !s->lint_level[lint];
    uint32_t *lvt = &s->lvt[LVT_LINT0 + lint];

    s->lint_level[lint] = level;
    if (!hw_enabled(s)) {
        /* pins straight to the core: LINT0 is INTR, LINT1 is NMI */
        if (lint == 1 && rising) {
            cpu_interrupt(s->cpu, CPU_INTERRUPT_NMI);
        }
        apic_update_irq(s);
        return;
    }
    if (!(*lvt & LVT_MASKED)) {
        switch (lvt_delivery(*lvt)) {
        case APIC_DM_FIXED:
            if ((*lvt & LVT_LEVEL) ? level && !(*lvt & LVT_REMOTE_IRR)
                                   : rising) {
                if (apic_accept_vector(s, *lvt & LVT_VECTOR,
                                       *lvt & LVT_LEVEL) &&
                    (*lvt & LVT_LEVEL)) {
                    *lvt |= LVT_REMOTE_IRR;
                }
            }
            break;
        case APIC_DM_NMI:
            if (rising) {
                cpu_interrupt(s->cpu, CPU_INTERRUPT_NMI);
            }
            break;
        case APIC_DM_INIT:
            if (rising) {
                cpu_interrupt(s->cpu, CPU_INTERRUPT_INIT);
            }
            break;
        default:    /* ExtINT is looked at by extint_ready; SMI unmodelled */
            break;
        }
    }
    apic_update_irq(s);
}

void apic_pic_output_changed(Machine *m, bool level)
{
    CPUState *bsp = m->ncpus > 0 ? m->cpus[0] : NULL;

    if (!bsp) {
        return;
    }
    if (bsp->apic) {
        apic_set_lint(bsp->apic, 0, level);
    } else if (level) {
        cpu_interrupt(bsp, CPU_INTERRUPT_HARD);   /* pic_get_interrupt acks */
    } else {
        cpu_reset_interrupt(bsp, CPU_INTERRUPT_HARD);
    }
}

/* ---- timer (SDM 10.5.4) ---- */

static int timer_mode(APICState *s)
{
    return (s->lvt[LVT_TIMER] >> LVT_TIMER_SHIFT) & 3;
}

static int64_t timer_divisor(APICState *s)
{
    unsigned v = (s->dcr & 3) | ((s->dcr >> 1) & 4);

    return v == 7 ? 1 : 2 << v;
}

static int64_t timer_ticks(APICState *s, int64_t now)
{
    return now > s->count_start ? (now - s->count_start) / timer_divisor(s)
                                : 0;
}

static uint32_t timer_current_count(APICState *s)
{
    int64_t ticks;

    if (!s->initial_count || timer_mode(s) == TIMER_TSC_DEADLINE) {
        return 0;
    }
    ticks = timer_ticks(s, clock_get_ns(CLK_VIRTUAL));
    if (timer_mode(s) == TIMER_PERIODIC) {
        return s->initial_count - ticks % s->initial_count;
    }
    return ticks >= s->initial_count ? 0 : s->initial_count - ticks;
}

static int64_t deadline_to_ns(APICState *s)
{
    int64_t ns = (int64_t)(s->tsc_deadline - (uint64_t)s->cpu->tsc_offset);

    return MAX(ns, 0);
}

/* Arms the host timer for the next expiry of the current mode. */
static void timer_update(APICState *s)
{
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    int64_t period, when;

    switch (timer_mode(s)) {
    case TIMER_TSC_DEADLINE:
        if (!s->tsc_deadline) {
            timer_del(s->timer);
            return;
        }
        timer_mod(s->timer, deadline_to_ns(s));
        return;
    case TIMER_PERIODIC:
        if (!s->initial_count) {
            timer_del(s->timer);
            return;
        }
        period = (int64_t)s->initial_count * timer_divisor(s);
        when = s->count_start +
               ((now - s->count_start) / period + 1) * period;
        timer_mod(s->timer, MAX(when, now + APIC_TIMER_MIN_PERIOD_NS));
        return;
    default:
        when = s->count_start +
               (int64_t)s->initial_count * timer_divisor(s);
        if (!s->initial_count || when <= now) {
            timer_del(s->timer);    /* idle, or already expired */
            return;
        }
        timer_mod(s->timer, when);
        return;
    }
}

static void timer_expired(void *opaque)
{
    APICState *s = opaque;
    uint32_t lvt = s->lvt[LVT_TIMER];

    if (timer_mode(s) == TIMER_TSC_DEADLINE) {
        if (!s->tsc_deadline) {
            return;
        }
        if (deadline_to_ns(s) > clock_get_ns(CLK_VIRTUAL)) {
            timer_update(s);    /* the TSC offset moved */
            return;
        }
        s->tsc_deadline = 0;
    }
    if (!(lvt & LVT_MASKED)) {
        apic_accept_vector(s, lvt & LVT_VECTOR, false);
    }
    if (timer_mode(s) == TIMER_PERIODIC) {
        timer_update(s);
    }
}

static void timer_stop(APICState *s)
{
    s->initial_count = 0;
    s->tsc_deadline = 0;
    timer_del(s->timer);
}

uint64_t apic_get_tsc_deadline(APICState *s)
{
    return timer_mode(s) == TIMER_TSC_DEADLINE ? s->tsc_deadline : 0;
}

void apic_set_tsc_deadline(APICState *s, uint64_t tsc)
{
    if (timer_mode(s) != TIMER_TSC_DEADLINE) {
        return;     /* ignored in the other modes (SDM 10.5.4.1) */
    }
    s->tsc_deadline = tsc;
    timer_update(s);
}

static void timer_write_dcr(APICState *s, uint32_t val)
{
    int64_t now = clock_get_ns(CLK_VIRTUAL);
    int64_t ticks = timer_ticks(s, now);

    /* keep the count where it is; it goes on at the new rate */
    s->dcr = val & 0xb;
    s->count_start = now - ticks * timer_divisor(s);
    timer_update(s);
}

/* ---- interrupt messages (SDM 10.6) ---- */

static bool apic_match_dest(APICState *s, uint8_t dest, bool logical)
{
    uint8_t ldr = s->ldr >> 24;

    if (!logical) {
        return dest == 0xff || dest == s->id;
    }
    if (dest == 0xff) {
        return true;
    }
    if ((s->dfr >> 28) == DFR_MODEL_FLAT) {
        return ldr & dest;
    }
    /* cluster model: cluster ID in bits 7:4, member mask in 3:0 */
    return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
}

static bool apic_targeted(APICState *s, const APICMessage *msg, int shorthand,
                          APICState *src)
{
    switch (shorthand) {
    case SH_SELF:
        return s == src;
    case SH_ALL:
        return true;
    case SH_ALL_BUT_SELF:
        return s != src;
    default:
        return apic_match_dest(s, msg->dest, msg->logical);
    }
}

static bool apic_deliver_one(APICState *s, const APICMessage *msg)
{
    CPUState *cpu = s->cpu;

    if (!hw_enabled(s)) {
        return false;
    }
    switch (msg->delivery_mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        return apic_accept_vector(s, msg->vector, msg->level);
    case APIC_DM_NMI:
        cpu_interrupt(cpu, CPU_INTERRUPT_NMI);
        return true;
    case APIC_DM_INIT:
        /* an INIT discards a SIPI not yet taken; later SIPIs stay */
        cpu_reset_interrupt(cpu, CPU_INTERRUPT_SIPI);
        cpu_interrupt(cpu, CPU_INTERRUPT_INIT);
        return true;
    case APIC_DM_STARTUP:
        __atomic_store_n(&cpu->sipi_vector, msg->vector, __ATOMIC_RELAXED);
        cpu_interrupt(cpu, CPU_INTERRUPT_SIPI);
        return true;
    case APIC_DM_EXTINT:
        s->extint_pending = true;
        apic_update_irq(s);
        return true;
    default:
        return false;   /* SMI: no SMM here */
    }
}

static bool apic_send(Machine *m, const APICMessage *msg, int shorthand,
                      APICState *src)
{
    static unsigned rr;     /* rotates ties of lowest priority */
    APICState *best = NULL;
    bool accepted = false;

    if (msg->delivery_mode == APIC_DM_LOWEST) {
        int best_apr = 256;
        for (int k = 0; k < m->ncpus; k++) {
            APICState *s = m->cpus[(k + rr) % m->ncpus]->apic;
            if (s && sw_enabled(s) && apic_targeted(s, msg, shorthand, src) &&
                apic_apr(s) < best_apr) {
                best = s;
                best_apr = apic_apr(s);
            }
        }
        rr++;
        return best && apic_deliver_one(best, msg);
    }
    for (int i = 0; i < m->ncpus; i++) {
        APICState *s = m->cpus[i]->apic;
        if (s && apic_targeted(s, msg, shorthand, src)) {
            accepted |= apic_deliver_one(s, msg);
        }
    }
    return accepted;
}

bool apic_deliver(Machine *m, const APICMessage *msg)
{
    return apic_send(m, msg, SH_NONE, NULL);
}

/* A write to ICR low sends an IPI; delivery is immediate, never busy. */
static void apic_send_ipi(APICState *s)
{
    APICMessage msg = {
        .dest = s->icr_hi >> 24,
        .logical = s->icr_lo & ICR_DEST_LOGICAL,
        .delivery_mode = (s->icr_lo >> ICR_DELIVERY_SHIFT) & 7,
        .vector = s->icr_lo & ICR_VECTOR,
        .level = s->icr_lo & ICR_TRIGGER_LEVEL,
    };
    int shorthand = (s->icr_lo >> ICR_SHORTHAND_SHIFT) & 3;

    switch (msg.delivery_mode) {
    case APIC_DM_INIT:
        if (msg.level && !(s->icr_lo & ICR_LEVEL_ASSERT)) {
            return;     /* INIT level de-assert: arbitration IDs only */
        }
        break;
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        if (msg.vector < 16) {
            apic_error(s, ESR_SEND_ILLEGAL_VECTOR);
            return;
        }
        break;
    default:
        break;
    }
    if (msg.delivery_mode != APIC_DM_FIXED &&
        msg.delivery_mode != APIC_DM_LOWEST) {
        msg.level = false;
    }
    apic_send(s->m, &msg, shorthand, s);
}

static void apic_eoi(APICState *s)
{
    int vector = highest_vector(s->isr);
    X86IrqChip *chip = chip_of(s);

    if (vector < 0) {
        return;
    }
    vec_clear(s->isr, vector);
    for (int i = LVT_LINT0; i <= LVT_LINT1; i++) {
        if ((s->lvt[i] & LVT_VECTOR) == vector) {
            s->lvt[i] &= ~LVT_REMOTE_IRR;
        }
    }
    if (vec_test(s->tmr, vector) && chip && chip->ioapic) {
        ioapic_eoi_broadcast(chip->ioapic, vector);
    }
    apic_update_irq(s);
}

/* ---- register page ---- */

static uint32_t apic_reg_read(APICState *s, uint32_t reg)
{
    int idx;

    switch (reg) {
    case APIC_ID:
        return (uint32_t)s->id << 24;
    case APIC_LVR:
        return APIC_VERSION_VALUE;
    case APIC_TPR:
        return s->tpr;
    case APIC_APR:
        return apic_apr(s);
    case APIC_PPR:
        return apic_ppr(s);
    case APIC_EOI:
    case APIC_RRD:
        return 0;
    case APIC_LDR:
        return s->ldr;
    case APIC_DFR:
        return s->dfr;
    case APIC_SVR:
        return s->svr;
    case APIC_ESR:
        return s->esr;
    case APIC_ICR_LO:
        return s->icr_lo;
    case APIC_ICR_HI:
        return s->icr_hi;
    case APIC_TMICT:
        return s->initial_count;
    case APIC_TMCCT:
        return timer_current_count(s);
    case APIC_TDCR:
        return s->dcr;
    }
    idx = (reg >> 4) & 7;
    if (reg >= APIC_ISR && reg < APIC_ISR + 0x80) {
        return s->isr[idx];
    }
    if (reg >= APIC_TMR && reg < APIC_TMR + 0x80) {
        return s->tmr[idx];
    }
    if (reg >= APIC_IRR && reg < APIC_IRR + 0x80) {
        return s->irr[idx];
    }
    if (reg >= APIC_LVT_TIMER && reg <= APIC_LVT_ERROR) {
        return s->lvt[(reg - APIC_LVT_TIMER) >> 4];
    }
    apic_error(s, ESR_ILLEGAL_REGISTER);
    return 0;
}

static void apic_write_lvt(APICState *s, int i, uint32_t val)
{
    uint32_t keep = s->lvt[i] & ~lvt_rw_mask[i];
    int old_mode = timer_mode(s);

    s->lvt[i] = keep | (val & lvt_rw_mask[i]);
    if (!(s->svr & SVR_ENABLE)) {
        s->lvt[i] |= LVT_MASKED;    /* SDM 10.4.7.2 */
    }
    if (i == LVT_TIMER) {
        if ((old_mode == TIMER_TSC_DEADLINE) !=
            (timer_mode(s) == TIMER_TSC_DEADLINE)) {
            timer_stop(s);  /* switching to or from deadline disarms */
        }
        timer_update(s);
    }
    if (i == LVT_LINT0 || i == LVT_LINT1) {
        apic_set_lint(s, i - LVT_LINT0, s->lint_level[i - LVT_LINT0]);
    }
    apic_update_irq(s);
}

static void apic_write_svr(APICState *s, uint32_t val)
{
    s->svr = val & (SVR_VECTOR | SVR_ENABLE | SVR_FOCUS_DISABLE);
    if (!(s->svr & SVR_ENABLE)) {
        for (int i = 0; i < LVT_COUNT; i++) {
            s->lvt[i] |= LVT_MASKED;
        }
    }
    apic_update_irq(s);
}

static void apic_reg_write(APICState *s, uint32_t reg, uint32_t val)
{
    switch (reg) {
    case APIC_ID:
        s->id = val >> 24;
        break;
    case APIC_TPR:
        s->tpr = val & 0xff;
        apic_update_irq(s);
        break;
    case APIC_EOI:
        apic_eoi(s);
        break;
    case APIC_LDR:
        s->ldr = val & 0xff000000;
        break;
    case APIC_DFR:
        s->dfr = val | 0x0fffffff;
        break;
    case APIC_SVR:
        apic_write_svr(s, val);
        break;
    case APIC_ESR:
        s->esr = s->esr_pending;
        s->esr_pending = 0;
        break;
    case APIC_ICR_LO:
        s->icr_lo = val & ICR_RW_MASK;
        apic_send_ipi(s);
        break;
    case APIC_ICR_HI:
        s->icr_hi = val & 0xff000000;
        break;
    case APIC_TMICT:
        if (timer_mode(s) == TIMER_TSC_DEADLINE) {
            break;
        }
        s->initial_count = val;
        s->count_start = clock_get_ns(CLK_VIRTUAL);
        timer_update(s);
        break;
    case APIC_TDCR:
        timer_write_dcr(s, val);
        break;
    case APIC_LVR:
    case APIC_APR:
    case APIC_PPR:
    case APIC_RRD:
    case APIC_TMCCT:
        break;      /* read-only */
    default:
        if (reg >= APIC_LVT_TIMER && reg <= APIC_LVT_ERROR) {
            apic_write_lvt(s, (reg - APIC_LVT_TIMER) >> 4, val);
        } else if (reg < APIC_ISR || reg >= APIC_IRR + 0x80) {
            apic_error(s, ESR_ILLEGAL_REGISTER);
        }
        break;
    }
}

/* The LAPIC this access reaches: the accessing vCPU's, if it answers here. */
static APICState *apic_for_access(Machine *m)
{
    CPUState *cpu = current_cpu;
    APICState *s;

    if (!cpu) {
        /* not a CPU (qtest, a debugger): show the BSP's registers */
        cpu = m->ncpus > 0 ? m->cpus[0] : NULL;
    }
    s = cpu ? cpu->apic : NULL;
    if (!s || !hw_enabled(s) ||
        (s->apicbase & MSR_APICBASE_ADDR) != X86_LAPIC_BASE) {
        return NULL;
    }
    return s;
}

static uint64_t apic_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    APICState *s = apic_for_access(opaque);

    if (!s) {
        return 0xffffffff;  /* nothing answers: an open bus */
    }
    if (addr & 0xf) {
        return 0;   /* registers sit on 16-byte boundaries */
    }
    return apic_reg_read(s, addr);
}

static void apic_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    Machine *m = opaque;
    APICState *s;

    if (!current_cpu) {
        /* a device's write to 0xfee00xxx is an MSI (PCI 6.8) */
        x86_irqchip_send_msi(m, X86_LAPIC_BASE + addr, val);
        return;
    }
    s = apic_for_access(m);
    if (s && !(addr & 0xf)) {
        apic_reg_write(s, addr, val);
    }
}

const MemoryRegionOps apic_mmio_ops = {
    .read = apic_mmio_read,
    .write = apic_mmio_write,
    .impl_min = 4,
    .impl_max = 4,
};

/* ---- MSR and reset ---- */

bool apic_set_base(APICState *s, uint64_t value)
{
    bool was_enabled = hw_enabled(s);

    if (value & ~(MSR_APICBASE_ADDR | MSR_APICBASE_ENABLE | MSR_APICBASE_BSP)) {
        return false;   /* reserved bits, and x2APIC (EXTD) is not offered */
    }
    s->apicbase = (value & (MSR_APICBASE_ADDR | MSR_APICBASE_ENABLE)) |
                  (s->apicbase & MSR_APICBASE_BSP);
    if (was_enabled && !hw_enabled(s)) {
        /* state is lost; re-enabling starts from the INIT state */
        apic_init_reset(s);
    }
    apic_update_irq(s);
    return true;
}

/* ---- migration ---- */

/* Beyond this, count_start arithmetic could overflow. */
#define APIC_MAX_NS     (INT64_C(1) << 62)

/* What the register writes above can leave in each register. */
static const char *apic_check(APICState *s)
{
    uint64_t bsp = s->cpu->index == 0 ? MSR_APICBASE_BSP : 0;

    if ((s->apicbase & ~(MSR_APICBASE_ADDR | MSR_APICBASE_ENABLE |
                         MSR_APICBASE_BSP)) ||
        (s->apicbase & MSR_APICBASE_BSP) != bsp) {
        return "IA32_APIC_BASE has reserved bits or the wrong BSP flag";
    }
    if ((s->ldr & 0x00ffffff) || (~s->dfr & 0x0fffffff) ||
        (s->svr & ~(SVR_VECTOR | SVR_ENABLE | SVR_FOCUS_DISABLE)) ||
        (s->icr_lo & ~ICR_RW_MASK) || (s->icr_hi & 0x00ffffff) ||
        (s->dcr & ~0xbu)) {
        return "LDR, DFR, SVR, ICR or DCR has reserved bits";
    }
    if ((s->esr | s->esr_pending) & ~(ESR_SEND_ILLEGAL_VECTOR |
                                      ESR_RECV_ILLEGAL_VECTOR |
                                      ESR_ILLEGAL_REGISTER)) {
        return "ESR has reserved bits";
    }
    for (int i = 0; i < LVT_COUNT; i++) {
        if (s->lvt[i] & ~(lvt_rw_mask[i] | LVT_REMOTE_IRR)) {
            return "an LVT entry has reserved bits";
        }
    }
    if (s->count_start < 0 || s->count_start >= APIC_MAX_NS) {
        return "the timer's start time is out of range";
    }
    return NULL;
}

static bool apic_post_load(void *opaque, int version_id, GError **errp)
{
    APICState *s = opaque;
    const char *why = apic_check(s);

    if (why) {
        g_set_error(errp, VIREO_ERROR, 0, "%s", why);
        return false;
    }
    timer_update(s);
    apic_update_irq(s);
    return true;
}

static const VMStateField apic_fields[] = {
    VMSTATE_UINT64(apicbase, APICState),
    VMSTATE_UINT8(id, APICState),
    VMSTATE_UINT8(tpr, APICState),
    VMSTATE_UINT32(ldr, APICState),
    VMSTATE_UINT32(dfr, APICState),
    VMSTATE_UINT32(svr, APICState),
    VMSTATE_UINT32_ARRAY(isr, APICState),
    VMSTATE_UINT32_ARRAY(tmr, APICState),
    VMSTATE_UINT32_ARRAY(irr, APICState),
    VMSTATE_UINT32(esr, APICState),
    VMSTATE_UINT32(esr_pending, APICState),
    VMSTATE_UINT32(icr_lo, APICState),
    VMSTATE_UINT32(icr_hi, APICState),
    VMSTATE_UINT32_ARRAY(lvt, APICState),
    VMSTATE_UINT32(initial_count, APICState),
    VMSTATE_UINT32(dcr, APICState),
    /* the timer: CLK_VIRTUAL ns the count started at, or the TSC deadline */
    VMSTATE_INT64(count_start, APICState),
    VMSTATE_UINT64(tsc_deadline, APICState),
    VMSTATE_BOOL_ARRAY(lint_level, APICState),
    VMSTATE_BOOL(extint_pending, APICState),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_apic = {
    .name = "apic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = apic_fields,
    .post_load = apic_post_load,
};

/* One state per vCPU, in vCPU order; none with the accelerator's LAPICs. */
static uint32_t lapic_count(X86IrqChip *chip)
{
    return chip->has_lapics ? chip->m->ncpus : 0;
}

static bool lapics_save(GByteArray *out, void *opaque, GError **errp)
{
    X86IrqChip *chip = opaque;
    uint32_t n = lapic_count(chip);

    vmstate_put_u32(out, n);
    for (uint32_t i = 0; i < n; i++) {
        if (!vmstate_save_state(out, &vmstate_apic, chip->m->cpus[i]->apic,
                                errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    return true;
}

static bool lapics_load(VMStateReader *in, void *opaque, GError **errp)
{
    X86IrqChip *chip = opaque;
    uint32_t n;

    if (!vmstate_get_u32(in, &n, errp)) {
        return false;
    }
    if (n != lapic_count(chip)) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has %u LAPICs, this "
                    "machine %u", n, lapic_count(chip));
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!vmstate_load_state(in, &vmstate_apic, chip->m->cpus[i]->apic,
                                errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    return true;
}

const VMStateInfo vmstate_info_lapics = {
    .name = "lapics",
    .save = lapics_save,
    .load = lapics_load,
    .vmsd = &vmstate_apic,
};

void apic_init_reset(APICState *s)
{
    s->tpr = 0;
    s->ldr = 0;
    s->dfr = 0xffffffff;
    s->svr = 0xff;
    memset(s->isr, 0, sizeof(s->isr));
    memset(s->tmr, 0, sizeof(s->tmr));
    memset(s->irr, 0, sizeof(s->irr));
    s->esr = s->esr_pending = 0;
    s->icr_lo = s->icr_hi = 0;
    for (int i = 0; i < LVT_COUNT; i++) {
        s->lvt[i] = LVT_MASKED;
    }
    s->dcr = 0;
    s->count_start = 0;
    timer_stop(s);
    s->extint_pending = false;
    apic_update_irq(s);
}

void apic_reset(APICState *s, bool bsp, bool virtual_wire)
{
    s->apicbase = X86_LAPIC_BASE | MSR_APICBASE_ENABLE |
                  (bsp ? MSR_APICBASE_BSP : 0);
    s->id = s->cpu->apic_id;
    apic_init_reset(s);
    if (virtual_wire) {
        /* what firmware leaves (SeaBIOS smp.c): enabled, 8259 on LINT0 */
        s->svr = SVR_ENABLE | 0xff;
        s->lvt[LVT_LINT0] = (APIC_DM_EXTINT << LVT_DELIVERY_SHIFT) |
                            (bsp ? 0 : LVT_MASKED);
        s->lvt[LVT_LINT1] = APIC_DM_NMI << LVT_DELIVERY_SHIFT;
    }
    apic_update_irq(s);
}

APICState *apic_new(CPUState *cpu)
{
    APICState *s = g_new0(APICState, 1);

    s->cpu = cpu;
    s->m = cpu->machine;
    s->timer = timer_new(CLK_VIRTUAL, timer_expired, s);
    cpu->apic = s;
    apic_reset(s, cpu->index == 0, false);
    return s;
}

void apic_free(APICState *s)
{
    if (!s) {
        return;
    }
    if (s->cpu->apic == s) {
        s->cpu->apic = NULL;
    }
    timer_free(s->timer);
    g_free(s);
}
