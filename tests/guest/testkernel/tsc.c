/*
 * The TSC's rate measured against PIT counter 2: the VMM's CPUID may not
 * tell it, and benchmarks that time the guest by the TSC need the same
 * clock on every VMM (action=dirty, exits, blk).
 */
#include "testkernel.h"

#define PIT_HZ 1193182
#define PIT_CH2 0x42
#define PIT_MODE 0x43
#define PORT61 0x61
#define PORT61_GATE2 0x01
#define PORT61_SPEAKER 0x02
#define PORT61_OUT2 0x20

/* One reading of PIT counter 2 (8254 counter-latch command), with the
 * TSC at its middle and the TSC ticks the reading took. */
struct pit_sample {
    uint64_t tsc, width;
    uint16_t count;
};

static struct pit_sample pit_read(void)
{
    struct pit_sample s;
    uint64_t a = rdtsc(), b;
    uint8_t lo, hi;

    outb(PIT_MODE, 0x80);            /* latch counter 2 */
    lo = inb(PIT_CH2);
    hi = inb(PIT_CH2);
    b = rdtsc();
    s.tsc = a + (b - a) / 2;
    s.width = b - a;
    s.count = lo | hi << 8;
    return s;
}

/*
 * One calibration: counter 2 counts down from 0xffff (55 ms, mode 0, gate
 * high). Its count is read again and again with the TSC around each
 * reading; the narrowest reading near the start and near the end give the
 * rate, so a vCPU preempted by the host (a reading that took long) costs
 * nothing. 0 when the counter does not count as it should.
 */
static uint64_t tsc_khz_from_pit_once(void)
{
    struct pit_sample first = { .width = ~0ull }, last = { .width = ~0ull };
    uint64_t dl = deadline_after_ms(1000);

    outb(PORT61, (inb(PORT61) & ~PORT61_SPEAKER) | PORT61_GATE2);
    outb(PIT_MODE, 0xb0);            /* counter 2, lobyte/hibyte, mode 0 */
    outb(PIT_CH2, 0xff);
    outb(PIT_CH2, 0xff);
    for (int i = 0; i < 16; i++) {
        struct pit_sample s = pit_read();
        if (s.width < first.width)
            first = s;
    }
    while (!deadline_passed(dl)) {
        struct pit_sample s = pit_read();
        if (s.count > first.count || (inb(PORT61) & PORT61_OUT2))
            break;                   /* ran out (and wrapped) */
        if (s.count < PIT_HZ / 100 && s.width < last.width)
            last = s;                /* the last 10 ms */
        if (s.count < PIT_HZ / 1000)
            break;
    }
    if (last.width == ~0ull || first.count - last.count < PIT_HZ / 50)
        return 0;
    return (last.tsc - first.tsc) * (PIT_HZ / 1000) /
           (first.count - last.count);
}

/* TSC kHz: the VMM's CPUID may not tell it, so measure against the PIT
 * (8254 datasheet), whose input clock every PC has. 0 if it fails. */
uint64_t tsc_khz_from_pit(void)
{
    for (int tries = 0; tries < 5; tries++) {
        uint64_t khz = tsc_khz_from_pit_once();
        if (khz)
            return khz;
    }
    return 0;
}
