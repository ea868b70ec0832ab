/*
 * gdb's breakpoints, watchpoints and single step on the software CPU.
 * Breakpoints are linear addresses compared before an instruction runs,
 * so they hold wherever and whenever the code is loaded, and nothing is
 * written into guest memory. Instructions on a page with a breakpoint
 * ahead run one at a time; elsewhere blocks run as usual. Watchpoints
 * mark the TLB entries of the pages they cover (TLB_WATCH), which sends
 * those accesses down the slow path, where they are checked; the stop
 * comes after the instruction, as x86's data breakpoints trap.
 */
#include <glib.h>

#include "int.h"
#include "target/x86/inspect.h"

void x86_cpu_set_debug(X86CPU *cpu, const GuestDebug *dbg)
{
    bool step = dbg->step_cpu == cpu->cs->index;
    bool watching = false;
    X86Debug *d;

    for (int i = 0; i < dbg->npoints; i++) {
        watching |= debug_is_watch(dbg->points[i].type);
    }
    if (!dbg->npoints && !step) {
        g_clear_pointer(&cpu->debug, g_free);
    } else {
        uint64_t resume = cpu->debug ? cpu->debug->resume_lin : ~0ull;
        d = cpu->debug = cpu->debug ? cpu->debug : g_new0(X86Debug, 1);
        memcpy(d->points, dbg->points, sizeof(d->points));
        d->npoints = dbg->npoints;
        d->step = step;
        d->stepped = false;
        d->watching = watching;
        d->watch_hit = false;
        d->resume_lin = resume;
    }
    /* the TLB_WATCH marks follow the watchpoints */
    x86_tlb_flush(cpu);
}

void x86_cpu_set_core_regs(X86CPU *cpu, const X86CoreRegs *r)
{
    memcpy(cpu->regs, r->regs, sizeof(cpu->regs));
    cpu->rip = r->rip;
    /* the bits a program may set; VM, VIP, VIF and RF are not gdb's */
    x86_set_eflags(cpu, r->rflags, CC_ALL | TF_MASK | IF_MASK | DF_MASK |
                   IOPL_MASK | NT_MASK | AC_MASK | ID_MASK);
    cpu->code_epoch++;
}

static bool overlaps(const GuestDebugPoint *p, uint64_t addr, uint64_t len)
{
    return addr < p->addr + p->len && p->addr < addr + len;
}

/* A watchpoint of type t sees this access (breakpoints never do). */
static bool watch_matches(GuestDebugType t, bool write)
{
    return t == DEBUG_WP_ACCESS || t == (write ? DEBUG_WP_WRITE
                                               : DEBUG_WP_READ);
}

uint64_t x86_debug_tlb_flags(X86CPU *cpu, uint64_t page, bool write)
{
    const X86Debug *d = cpu->debug;

    for (int i = 0; d && d->watching && i < d->npoints; i++) {
        const GuestDebugPoint *p = &d->points[i];
        if (watch_matches(p->type, write) &&
            overlaps(p, page, 0x1000)) {
            return TLB_WATCH;
        }
    }
    return 0;
}

void x86_debug_access(X86CPU *cpu, uint64_t lin, uint64_t len, bool write)
{
    X86Debug *d = cpu->debug;

    for (int i = 0; d && !d->watch_hit && i < d->npoints; i++) {
        const GuestDebugPoint *p = &d->points[i];
        if (watch_matches(p->type, write) &&
            overlaps(p, lin, len)) {
            d->watch_hit = true;
            d->hit = (GuestDebugHit) {
                .cpu = cpu->cs->index, .why = DEBUG_STOP_WATCH, .point = *p,
            };
        }
    }
}

/* Records why the CPU stops before this instruction. */
static X86DebugAction stop(X86Debug *d, X86CPU *cpu, GuestDebugStop why,
                           const GuestDebugPoint *p)
{
    d->hit = (GuestDebugHit) { .cpu = cpu->cs->index, .why = why };
    if (p) {
        d->hit.point = *p;
    }
    d->stepped = false;
    return X86_DEBUG_STOP;
}

X86DebugAction x86_debug_before(X86CPU *cpu, uint64_t lin)
{
    X86Debug *d = cpu->debug;
    bool bp_ahead = false;

    if (d->watch_hit) {
        d->watch_hit = false;
        d->stepped = false;
        return X86_DEBUG_STOP;
    }
    if (d->step && d->stepped) {
        return stop(d, cpu, DEBUG_STOP_STEP, NULL);
    }
    for (int i = 0; i < d->npoints; i++) {
        const GuestDebugPoint *p = &d->points[i];
        if (debug_is_watch(p->type)) {
            continue;
        }
        if (p->addr == lin && lin != d->resume_lin) {
            d->resume_lin = lin;
            return stop(d, cpu, DEBUG_STOP_BREAK, p);
        }
        /* blocks end at the page's end: one of this page's ahead */
        bp_ahead |= p->addr > lin && !((p->addr ^ lin) & ~0xfffull);
    }
    d->resume_lin = ~0ull;
    if (d->step || d->watching || bp_ahead) {
        d->stepped = true;
        return X86_DEBUG_ONE;
    }
    return X86_DEBUG_RUN;
}
