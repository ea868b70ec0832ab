/*
 * The TSC's rate measured against the PIT: the VMM's CPUID may not tell
 * it, and benchmarks that time the guest by the TSC need the same clock
 * on every VMM (action=dirty, exits, blk).
 *
 * Counter 2 is the usual choice (its gate is port 0x61 bit 0, so nothing
 * else uses it), but some machines have no port 0x61 (QEMU's microvm
 * under TCG): there counter 2 never counts, and counter 0, whose gate is
 * tied high on every PC (8254 datasheet, IBM PC/AT), is used instead. Its
 * OUT line (IRQ 0) reaches no CPU: the PIC and the IOAPIC pin are masked.
 */
#include "testkernel.h"

#define PIT_HZ 1193182
#define PIT_MODE 0x43
#define PORT61 0x61
#define PORT61_GATE2 0x01
#define PORT61_SPEAKER 0x02

/* One reading of a counter (8254 counter-latch command), with the TSC at
 * its middle and the TSC ticks the reading took. */
struct pit_sample {
    uint64_t tsc, width;
    uint16_t count;
};

static struct pit_sample pit_read(int counter)
{
    struct pit_sample s;
    uint64_t a = rdtsc(), b;
    uint8_t lo, hi;

    outb(PIT_MODE, counter << 6);           /* latch */
    lo = inb(0x40 + counter);
    hi = inb(0x40 + counter);
    b = rdtsc();
    s.tsc = a + (b - a) / 2;
    s.width = b - a;
    s.count = lo | hi << 8;
    return s;
}

/*
 * One calibration: the counter counts down from 0xffff (55 ms, mode 0).
 * Its count is read again and again with the TSC around each reading; the
 * narrowest reading near the start and in the last 10 ms give the rate,
 * so a vCPU preempted by the host (a reading that took long) costs
 * nothing. 0 when this round failed; *dead when the counter does not
 * count at all, so that trying again is pointless.
 */
static uint64_t tsc_khz_once(int counter, bool *dead)
{
    struct pit_sample first = { .width = ~0ull }, last = { .width = ~0ull };
    uint64_t dl = deadline_after_ms(1000);
    uint64_t still = deadline_after_ms(5);
    uint16_t prev;

    if (counter == 2)
        outb(PORT61, (inb(PORT61) & ~PORT61_SPEAKER) | PORT61_GATE2);
    outb(PIT_MODE, counter << 6 | 0x30);    /* lobyte/hibyte, mode 0 */
    outb(0x40 + counter, 0xff);
    outb(0x40 + counter, 0xff);
    for (int i = 0; i < 16; i++) {
        struct pit_sample s = pit_read(counter);
        if (s.width < first.width)
            first = s;
    }
    prev = first.count;
    while (!deadline_passed(dl)) {
        struct pit_sample s = pit_read(counter);
        if (s.count > prev)
            break;                          /* ran out (and wrapped) */
        if (s.count == first.count && deadline_passed(still)) {
            *dead = true;                   /* 5 ms without a tick */
            return 0;
        }
        prev = s.count;
        if (s.count < PIT_HZ / 100 && s.width < last.width)
            last = s;                       /* the last 10 ms */
        if (s.count < PIT_HZ / 1000)
            break;
    }
    if (last.width == ~0ull || first.count - last.count < PIT_HZ / 50)
        return 0;
    return (last.tsc - first.tsc) * (PIT_HZ / 1000) /
           (first.count - last.count);
}

uint64_t tsc_khz_from_pit(void)
{
    static const int counters[] = { 2, 0 };

    for (unsigned c = 0; c < 2; c++) {
        bool dead = false;
        for (int tries = 0; tries < 5 && !dead; tries++) {
            uint64_t khz = tsc_khz_once(counters[c], &dead);
            if (khz)
                return khz;
        }
    }
    return 0;
}
