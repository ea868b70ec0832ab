/*
 * action=exits: what an exit to the VMM costs, as the guest sees it, for
 * the exit benchmark (tests/bench/exits). With the TSC, calibrated against
 * the PIT so every VMM is timed by the same clock, it times rounds of
 *   pio       a byte read of port 0x3e0, which no device claims on either
 *             VMM's microvm and KVM does not handle itself (its PIT, PIC
 *             and ELCR are elsewhere): a port I/O exit the VMM answers
 *             with all-ones
 *   mmio      a read of the MagicValue register of the first virtio-rng
 *             device (virtio 1.2, 4.2.2): an MMIO exit the VMM's
 *             virtio-mmio transport answers
 *   doorbell  a write of queue 0's index to that device's QueueNotify, the
 *             ring empty: once DRIVER_OK is set the VMM has given the
 *             address to KVM_IOEVENTFD, so KVM signals an eventfd and
 *             resumes the guest without leaving the kernel
 * and then checks that the doorbell reaches the device: a buffer made
 * available and notified comes back filled.
 *
 *   exits=LIST     comma list of pio, mmio, doorbell (default all three)
 *   exits_n=N      timed rounds per metric (default 100000), after a
 *                  warm-up of N/10
 *
 * The rounds run in EXITS_BATCHES batches; the figure is the batch with
 * the median time, so a batch in which the host preempted the vCPU does
 * not count. Output on COM1: "EXITS tsc_khz=K", per metric
 * "EXITS NAME n=N cycles=C ns=X.Y min_ns=X.Y" (per round: median batch,
 * fastest batch), "EXITS doorbell delivered len=L", "EXITS DONE fail=F",
 * then isa-debug-exit 0 (1 if anything failed).
 */
#include "testkernel.h"

#define EXITS_PIO_PORT 0x3e0
#define EXITS_DEFAULT_N 100000
#define EXITS_MAX_N 100000000ull
#define EXITS_BATCHES 100
#define DOORBELL_BUF 64

struct exits_rng {
    struct virtio_dev dev;
    struct virtq vq;
    bool ready;
};

static struct exits_rng rng;
static uint8_t rng_buf[DOORBELL_BUF];
static int exits_failed;

/* The TSC after everything before it finished, and before anything after
 * it starts (SDM vol. 2B, RDTSC: LFENCE on both sides). */
static inline uint64_t tsc_serialized(void)
{
    uint32_t lo, hi;

    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static void exits_fail(const char *what, const char *why)
{
    printk("FAIL exits: %s: %s\n", what, why);
    exits_failed++;
}

static uint64_t exits_rounds(void)
{
    const char *v;
    size_t len;
    uint64_t n;

    if (!cmdline_get("exits_n", &v, &len))
        return EXITS_DEFAULT_N;
    if (!parse_u64(v, len, 10, &n) || n < EXITS_BATCHES || n > EXITS_MAX_N) {
        printk("exits: exits_n must be %u..%llu, using %u\n", EXITS_BATCHES,
               EXITS_MAX_N, EXITS_DEFAULT_N);
        return EXITS_DEFAULT_N;
    }
    return n;
}

static bool exits_selected(const char *name)
{
    const char *v;
    size_t len;

    return !cmdline_get("exits", &v, &len) || cmdline_list_has("exits", name);
}

/* The accesses; each round's access must not be merged or moved. */
static void round_pio(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        (void)inb(EXITS_PIO_PORT);
}

static void round_mmio(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        (void)mmio_read32(rng.dev.base);
}

static void round_doorbell(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        virtq_notify(&rng.vq);
}

static void sort_u64(uint64_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        uint64_t x = a[i];
        int j = i;
        for (; j > 0 && a[j - 1] > x; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/* Tenths of a nanosecond for `cycles` TSC ticks over `rounds` rounds. */
static uint64_t tenth_ns(uint64_t cycles, uint64_t rounds, uint64_t khz)
{
    return cycles * 10000000ull / (khz * rounds);
}

static void exits_time(const char *name, void (*round)(uint64_t), uint64_t n,
                       uint64_t khz)
{
    static uint64_t batch[EXITS_BATCHES];
    uint64_t per = n / EXITS_BATCHES;
    uint64_t med, fast;

    round(n / 10 + 1);              /* warm-up: caches, KVM's MMIO SPTEs */
    for (int b = 0; b < EXITS_BATCHES; b++) {
        uint64_t t0 = tsc_serialized();
        round(per);
        batch[b] = tsc_serialized() - t0;
    }
    sort_u64(batch, EXITS_BATCHES);
    med = batch[EXITS_BATCHES / 2];
    fast = batch[0];
    printk("EXITS %s n=%llu cycles=%llu ns=%llu.%llu min_ns=%llu.%llu\n", name,
           (unsigned long long)(per * EXITS_BATCHES),
           (unsigned long long)(med / per),
           (unsigned long long)(tenth_ns(med, per, khz) / 10),
           (unsigned long long)(tenth_ns(med, per, khz) % 10),
           (unsigned long long)(tenth_ns(fast, per, khz) / 10),
           (unsigned long long)(tenth_ns(fast, per, khz) % 10));
}

/* The first virtio-rng device, driven to DRIVER_OK with queue 0 empty
 * and polled (virtio 1.2, 3.1.1 and 5.4). */
static bool rng_setup(void)
{
    const char *why = NULL;

    if (!virtio_mmio_find_device(VIRTIO_ID_RNG, 0, &rng.dev)) {
        exits_fail("virtio-rng", "no virtio-rng device among the "
                   "command line's virtio_mmio.device= words");
        return false;
    }
    if (!virtio_dev_init(&rng.dev, 0, &why) ||
        !virtq_setup(&rng.dev, &rng.vq, 0, 16, false, &why)) {
        exits_fail("virtio-rng", why);
        return false;
    }
    virtio_driver_ok(&rng.dev);
    printk("EXITS virtio-rng at %lx version %u\n",
           (unsigned long)rng.dev.base, rng.dev.version);
    rng.ready = true;
    return true;
}

/* A real request after the timed notifications: the device must hand the
 * buffer back filled, so the doorbell's path does reach it. */
static void doorbell_check(void)
{
    struct virtq_buf buf = { rng_buf, sizeof(rng_buf), true };
    uint64_t dl;
    uint32_t len = 0;

    if (virtq_add(&rng.vq, &buf, 1) < 0) {
        exits_fail("doorbell", "no free descriptor");
        return;
    }
    virtq_kick(&rng.vq);
    dl = deadline_after_ms(2000);
    while (!virtq_has_used(&rng.vq)) {
        if (deadline_passed(dl)) {
            exits_fail("doorbell", "the device did not use the buffer "
                       "within 2 s of the notification");
            return;
        }
        cpu_relax();
    }
    if (virtq_get_used(&rng.vq, &len) < 0 || !len || len > sizeof(rng_buf)) {
        exits_fail("doorbell", "bad used ring entry");
        return;
    }
    printk("EXITS doorbell delivered len=%u\n", len);
}

void action_exits(void)
{
    uint64_t n = exits_rounds();
    uint64_t khz = tsc_khz_from_pit();
    bool want_dev = exits_selected("mmio") || exits_selected("doorbell");

    if (!khz) {
        exits_fail("tsc", "neither PIT counter 2 nor 0 counted; no TSC rate");
        printk("EXITS DONE fail=%d\n", exits_failed);
        debug_exit(1);
    }
    printk("EXITS tsc_khz=%llu\n", (unsigned long long)khz);
    if (want_dev)
        rng_setup();
    if (exits_selected("pio"))
        exits_time("pio", round_pio, n, khz);
    if (exits_selected("mmio") && rng.ready)
        exits_time("mmio", round_mmio, n, khz);
    if (exits_selected("doorbell") && rng.ready) {
        exits_time("doorbell", round_doorbell, n, khz);
        doorbell_check();
    }
    if (rng.ready)
        virtio_reset(&rng.dev);
    printk("EXITS DONE fail=%d\n", exits_failed);
    debug_exit(exits_failed ? 1 : 0);
}
