/*
 * action=dirty: a steady memory writer for live-migration benchmarks
 * (tests/bench/migrate). It first writes every free RAM page once, so a VMM
 * carries all of RAM as non-zero pages, then dirties a working set at a
 * paced rate for ever, printing a heartbeat on COM1.
 *
 *   dirty=MIBPS      pages dirtied per second, in MiB (default 64)
 *   dirty_ws=SIZE    the working set (K/M/G suffix, default 256M)
 *   dirty_touch=0    skip the first write of all RAM
 *
 * Pacing uses the TSC, calibrated against PIT counter 2 (the VMM's CPUID
 * may not tell its rate), so every VMM gets the same rate; between bursts
 * the CPU halts until the next LAPIC timer tick, leaving the host CPU to
 * the VMM. Output: "DIRTY ..." lines, then a '.' every 10 ms of guest
 * time and "DIRTY t=..." once a second.
 */
#include "testkernel.h"

#define VEC_DIRTY_TICK 0x42
#define HEARTBEAT_MS 10
#define STATS_EVERY 100          /* heartbeats */
#define PAGE 4096ull
#define MIN_U64(a, b) ((a) < (b) ? (a) : (b))

/* LAPIC timer counts (divide by 16) per millisecond, measured by the TSC. */
static uint32_t lapic_ticks_per_ms(uint64_t tsc_khz)
{
    uint64_t end;
    uint32_t left;

    lapic_write(LAPIC_TIMER_DIV, 0x3);
    lapic_write(LAPIC_LVT_TIMER, 1 << 16);          /* masked one-shot */
    lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
    end = rdtsc() + 10 * tsc_khz;
    while ((int64_t)(rdtsc() - end) < 0)
        cpu_relax();
    left = lapic_read(LAPIC_TIMER_CUR);
    lapic_write(LAPIC_TIMER_INIT, 0);
    return (0xffffffffu - left) / 10;
}

static void tick_handler(struct irq_frame *f)
{
    (void)f;
    lapic_eoi();
}

static bool page_in(uint64_t addr, uint64_t start, uint64_t end)
{
    return addr + PAGE > start && addr < end;
}

/* Pages we must not scribble on: below 1 MiB, the kernel, the modules. */
static bool page_reserved(uint64_t addr)
{
    if (addr < 0x100000 ||
        page_in(addr, (uint64_t)__kernel_start, (uint64_t)__kernel_end))
        return true;
    for (int i = 0; i < boot.nmods; i++)
        if (page_in(addr, boot.mods[i].start, boot.mods[i].end))
            return true;
    return false;
}

/* One write into every free RAM page; returns the bytes touched. */
static uint64_t touch_all_ram(void)
{
    uint64_t bytes = 0;

    for (int i = 0; i < boot.nmmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        uint64_t a = (r->base + PAGE - 1) & ~(PAGE - 1);

        if (r->type != E820_RAM)
            continue;
        for (; a + PAGE <= r->base + r->len; a += PAGE) {
            if (page_reserved(a))
                continue;
            *(volatile uint64_t *)a = a | 1;
            bytes += PAGE;
        }
    }
    return bytes;
}

/*
 * The working set: ws bytes of free RAM, 2 MiB aligned, in the first RAM
 * range that has room above the kernel; shrunk to the largest free span
 * when none has. Returns its base and stores its size in *ws.
 */
static uint64_t pick_working_set(uint64_t *ws)
{
    uint64_t best_base = 0, best_len = 0;

    for (int i = 0; i < boot.nmmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        uint64_t lo = r->base, hi = (r->base + r->len) & ~(PAGE - 1);

        if (r->type != E820_RAM)
            continue;
        if (lo < (uint64_t)__kernel_end && hi > (uint64_t)__kernel_end)
            lo = (uint64_t)__kernel_end;
        for (int m = 0; m < boot.nmods; m++)
            if (boot.mods[m].end > lo && boot.mods[m].start < hi)
                lo = boot.mods[m].end;
        lo = (lo + (2ull << 20) - 1) & ~((2ull << 20) - 1);
        if (lo < 0x100000 || hi <= lo)
            continue;
        if (hi - lo >= *ws)
            return lo;
        if (hi - lo > best_len) {
            best_base = lo;
            best_len = hi - lo;
        }
    }
    *ws = best_len;
    return best_base;
}

static uint64_t arg_u64(const char *key, uint64_t def, bool size)
{
    const char *v;
    size_t len;
    uint64_t out;

    if (!cmdline_get(key, &v, &len))
        return def;
    if (size ? parse_size(v, len, &out) : parse_u64(v, len, 10, &out))
        return out;
    printk("DIRTY bad %s= value, using %lu\n", key, (unsigned long)def);
    return def;
}

/* Never returns: dirty pages at the paced rate, print the heartbeat. */
static void dirty_loop(uint64_t base, uint64_t ws, uint64_t pages_per_s,
                       uint64_t tsc_khz)
{
    uint64_t npages = ws / PAGE, t0 = rdtsc(), done = 0, next = 0, gen = 1;
    uint64_t hb_ticks = HEARTBEAT_MS * tsc_khz, next_hb = t0 + hb_ticks;
    uint64_t max_behind = pages_per_s / 100 + 1, beats = 0;
    uint64_t stat_tsc = t0, stat_done = 0;

    for (;;) {
        uint64_t now = rdtsc();
        uint64_t target = (now - t0) * 1000 / tsc_khz * pages_per_s / 1000000;

        /* after a stall (the vCPU did not run) go on at the rate: no burst */
        if (target > done + max_behind)
            done = target - max_behind;
        while (done < target) {
            *(volatile uint64_t *)(base + next * PAGE) = gen;
            done++;
            if (++next == npages) {
                next = 0;
                gen++;
            }
        }
        if ((int64_t)(now - next_hb) >= 0) {
            next_hb += hb_ticks;
            if ((int64_t)(now - next_hb) >= 0)
                next_hb = now + hb_ticks;
            if (++beats % STATS_EVERY) {
                uart_putc('.');
            } else {
                uint64_t ms = (now - stat_tsc) / tsc_khz;
                printk("\nDIRTY t=%lu pages=%lu rate=%lu MiB/s\n",
                       (unsigned long)(beats * HEARTBEAT_MS / 1000),
                       (unsigned long)done,
                       (unsigned long)(ms ? (done - stat_done) * PAGE * 1000 /
                                                ms >> 20
                                          : 0));
                stat_tsc = now;
                stat_done = done;
            }
        }
        __asm__ volatile("hlt" ::: "memory");
    }
}

void action_dirty(void)
{
    /* at most 1 TiB/s: the pacing arithmetic stays in 64 bits for hours */
    uint64_t mibps = MIN_U64(arg_u64("dirty", 64, false), 1ull << 20);
    uint64_t ws = arg_u64("dirty_ws", 256ull << 20, true);
    uint64_t tsc_khz = tsc_khz_from_pit(), top = 0, base, t0, touched = 0;
    uint32_t lapic_per_ms;

    if (!tsc_khz) {
        printk("DIRTY FAIL: PIT counter 2 does not count; no TSC rate\n");
        return;
    }
    for (int i = 0; i < boot.nmmap; i++)
        if (boot.mmap[i].type == E820_RAM &&
            boot.mmap[i].base + boot.mmap[i].len > top)
            top = boot.mmap[i].base + boot.mmap[i].len;
    if (!paging_map_identity(top)) {
        printk("DIRTY FAIL: cannot map RAM up to %lx\n", (unsigned long)top);
        return;
    }
    t0 = rdtsc();
    if (arg_u64("dirty_touch", 1, false))
        touched = touch_all_ram();
    printk("DIRTY touched %lu MiB in %lu ms\n", (unsigned long)(touched >> 20),
           (unsigned long)((rdtsc() - t0) / tsc_khz));
    base = pick_working_set(&ws);
    if (ws < PAGE) {
        printk("DIRTY FAIL: no free RAM for a working set\n");
        return;
    }
    lapic_per_ms = lapic_ticks_per_ms(tsc_khz);
    if (!lapic_per_ms) {
        printk("DIRTY FAIL: the LAPIC timer does not count\n");
        return;
    }
    irq_set_handler(VEC_DIRTY_TICK, tick_handler);
    lapic_write(LAPIC_LVT_TIMER, VEC_DIRTY_TICK | (1 << 17)); /* periodic */
    lapic_write(LAPIC_TIMER_INIT, lapic_per_ms);
    printk("DIRTY start tsc_khz=%lu ws=%lx+%lu MiB rate=%lu MiB/s\n",
           (unsigned long)tsc_khz, (unsigned long)base,
           (unsigned long)(ws >> 20), (unsigned long)mibps);
    irq_enable();
    dirty_loop(base, ws, mibps << 8, tsc_khz);
}
