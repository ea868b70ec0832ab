/*
 * action=blk: a virtio-blk benchmark (virtio 1.2, 5.2) over virtio.c, for
 * tests/bench/blk. The disk must carry the benchmark pattern: every 4 KiB
 * block starts with its block number (64-bit little-endian) and the eight
 * bytes "VIREOBLK", the rest zero. Of every read, the first, the last
 * and one random 4 KiB block are checked (poisoned before the request, so
 * stale data fails too): a constant guest cost per request, whatever its
 * size. Writes write the same pattern back, so the disk never changes.
 *
 *   blk_work=LIST    randread,seqread,randwrite,beyond (default
 *                    randread,seqread); beyond: requests past the end of
 *                    the disk must fail with VIRTIO_BLK_S_IOERR
 *   blk_mode=LIST    poll,irq (default poll): completions by polling the
 *                    used ring (the device is asked not to interrupt), or
 *                    by the device's interrupt through the IOAPIC
 *   blk_qd=N         requests in flight (default 16)
 *   blk_seconds=T    seconds per random workload (default 5)
 *   blk_bs=SIZE      random request size, a multiple of 4K (default 4K)
 *   blk_seq_bs=SIZE  sequential request size (default 1M, at most what
 *                    size_max and seg_max allow)
 *   blk_seq_size=SIZE  bytes read sequentially (default the whole disk)
 *   blk_dev=N        the Nth virtio-blk device (default 0)
 *   blk_event_idx=1  negotiate VIRTIO_RING_F_EVENT_IDX, as Linux does
 *
 * Output: "BLK device ...", one "BLK <work> mode=... iops=... mbps=..."
 * line per workload and mode, then PASS blk / FAIL blk: reason, the
 * verdict line and debug-exit (0 when every check passed). Time is the
 * TSC, its rate measured against the PIT.
 */
#include "testkernel.h"

#define BLOCK 4096ull
#define SECTOR 512ull
#define MAX_QD 128
#define MAX_SEGS 64
#define VEC_BLK 0x43
#define STALL_MS 5000           /* no completion for this long: give up */
static const char magic[8] = "VIREOBLK";
extern int tests_passed, tests_failed;        /* tests.c */

/* virtio 1.2, 5.2.3-5.2.6 */
#define VIRTIO_BLK_F_SIZE_MAX (1ull << 1)
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define CFG_CAPACITY 0
#define CFG_SIZE_MAX 8
#define CFG_SEG_MAX 12
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1

struct blk_req_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

struct slot {
    struct blk_req_hdr hdr;
    volatile uint8_t status;
    uint8_t *buf;
    uint64_t sector;
    uint32_t len;
    uint32_t check[3];          /* offsets of the blocks verified */
    int nchecks;
};

enum work { RANDREAD, SEQREAD, RANDWRITE };
static const char *const work_name[] = { "randread", "seqread", "randwrite" };

static struct {
    struct virtio_dev dev;
    struct virtq vq;
    uint64_t sectors;           /* capacity */
    uint32_t seg_size;          /* largest data segment */
    uint32_t max_segs;
    bool irq_mode;
    uint64_t tsc_khz;
    uint64_t kicks, irqs;
    uint8_t *mem;               /* data buffers: MAX_QD of buf_size */
    uint64_t buf_size;
    struct slot slots[MAX_QD];
    struct slot *by_head[VIRTQ_MAX];
    uint64_t rng;
    const char *error;          /* first failure */
} blk;

static uint64_t arg(const char *key, uint64_t def)
{
    const char *v;
    size_t len;
    uint64_t x;

    if (!cmdline_get(key, &v, &len))
        return def;
    if (!parse_size(v, len, &x)) {
        printk("blk: bad %s='%.*s', using %lu\n", key, (int)len, v,
               (unsigned long)def);
        return def;
    }
    return x;
}

static bool work_selected(const char *name, bool dflt)
{
    const char *v;
    size_t len;

    if (!cmdline_get("blk_work", &v, &len))
        return dflt;
    return cmdline_list_has("blk_work", name);
}

static void fail(const char *why)
{
    if (!blk.error)
        blk.error = why;
}

static uint64_t rng_next(void)
{
    /* xorshift64* */
    blk.rng ^= blk.rng >> 12;
    blk.rng ^= blk.rng << 25;
    blk.rng ^= blk.rng >> 27;
    return blk.rng * 0x2545f4914f6cdd1dull;
}

static void irq_handler(struct irq_frame *f)
{
    (void)f;
    virtio_irq_ack(&blk.dev);
    blk.irqs++;
    lapic_eoi();
}

/* The data buffers: the first RAM above the kernel, 2 MiB aligned. */
static bool alloc_buffers(uint64_t size)
{
    uint64_t base = ((uint64_t)__kernel_end + (2ull << 20) - 1) &
                    ~((2ull << 20) - 1);

    for (int i = 0; i < boot.nmmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        if (r->type == E820_RAM && r->base <= base &&
            r->base + r->len >= base + size && base + size <= (4ull << 30)) {
            blk.mem = (uint8_t *)base;
            return true;
        }
    }
    return false;
}

static void fill_pattern(uint8_t *buf, uint64_t sector, uint32_t len)
{
    memset(buf, 0, len);
    for (uint32_t off = 0; off < len; off += BLOCK) {
        uint64_t block = (sector * SECTOR + off) / BLOCK;
        memcpy(buf + off, &block, 8);
        memcpy(buf + off + 8, magic, 8);
    }
}

/* The 4 KiB block at off of a read must carry its own number. */
static bool verify_block(const uint8_t *buf, uint64_t sector, uint32_t off)
{
    uint64_t want = (sector * SECTOR + off) / BLOCK, got;

    memcpy(&got, buf + off, 8);
    if (got != want || memcmp(buf + off + 8, magic, 8)) {
        printk("blk: block %lu reads as %lx (want %lx)\n",
               (unsigned long)want, (unsigned long)got, (unsigned long)want);
        return false;
    }
    return true;
}

/* Queue one request on slot s (not yet kicked); false if the queue is
 * full, which the callers' sizing rules out. */
static bool submit(struct slot *s, uint32_t type, uint64_t sector, uint32_t len)
{
    struct virtq_buf bufs[MAX_SEGS + 2];
    int n = 0, head;

    s->hdr.type = type;
    s->hdr.reserved = 0;
    s->hdr.sector = sector;
    s->status = 0xff;
    s->sector = sector;
    s->len = len;
    if (type == VIRTIO_BLK_T_OUT) {
        fill_pattern(s->buf, sector, len);
    } else {
        uint32_t blocks = len / BLOCK;
        s->nchecks = 0;
        s->check[s->nchecks++] = 0;
        if (blocks > 2)
            s->check[s->nchecks++] = (1 + rng_next() % (blocks - 2)) * BLOCK;
        if (blocks > 1)
            s->check[s->nchecks++] = len - BLOCK;
        for (int i = 0; i < s->nchecks; i++)
            *(volatile uint64_t *)(s->buf + s->check[i]) = ~0ull;
    }
    bufs[n++] = (struct virtq_buf){ &s->hdr, sizeof(s->hdr), false };
    for (uint32_t off = 0; off < len; off += blk.seg_size) {
        uint32_t seg = len - off < blk.seg_size ? len - off : blk.seg_size;
        bufs[n++] = (struct virtq_buf){ s->buf + off, seg,
                                        type == VIRTIO_BLK_T_IN };
    }
    bufs[n++] = (struct virtq_buf){ (void *)&s->status, 1, true };
    head = virtq_add(&blk.vq, bufs, n);
    if (head < 0)
        return false;
    blk.by_head[head] = s;
    return true;
}

static void kick(void)
{
    if (virtq_kick(&blk.vq))
        blk.kicks++;
}

/* Wait until the used ring has something: spin, or halt until the next
 * interrupt. False after STALL_MS without a completion. */
static bool wait_used(void)
{
    uint64_t dl = rdtsc() + STALL_MS * blk.tsc_khz;

    if (!blk.irq_mode) {
        while (!virtq_has_used(&blk.vq)) {
            if (deadline_passed(dl))
                return false;
            cpu_relax();
        }
        return true;
    }
    /* the check and the halt with interrupts off, so a completion that
     * interrupts between them cannot be slept through (sti; hlt) */
    irq_disable();
    while (!virtq_has_used(&blk.vq)) {
        if (deadline_passed(dl)) {
            irq_enable();
            return false;
        }
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
    irq_enable();
    return true;
}

/* Take one completion; its slot, or NULL (and a failure) when the device
 * returned garbage. */
static struct slot *complete_one(void)
{
    uint32_t len;
    int head = virtq_get_used(&blk.vq, &len);
    struct slot *s;

    if (head < 0) {
        fail("device returned a bad used element");
        return NULL;
    }
    s = blk.by_head[head];
    blk.by_head[head] = NULL;
    if (!s)
        fail("device completed a request twice");
    return s;
}

struct result {
    uint64_t ios, bytes, ticks, verified;
};

static uint64_t next_sector(enum work w, uint32_t len, uint64_t *seq_pos,
                            uint64_t seq_end, bool *more)
{
    uint64_t sector;

    if (w == SEQREAD) {
        sector = *seq_pos / SECTOR;
        *seq_pos += len;
        *more = *seq_pos + len <= seq_end;
        return sector;
    }
    *more = true;
    return rng_next() % (blk.sectors * SECTOR / len) * (len / SECTOR);
}

/*
 * One workload: qd requests of len bytes in flight; random ones until the
 * time is up, sequential ones until seq_end bytes are read. Completions
 * are drained as they come and each is replaced at once, with one
 * notification per drained batch.
 */
static bool run(enum work w, uint32_t qd, uint32_t len, uint64_t seconds,
                uint64_t seq_end, struct result *r)
{
    uint32_t type = w == RANDWRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    uint64_t seq_pos = 0, start, end_tsc;
    uint32_t inflight = 0, queued;
    bool more = true;

    memset(r, 0, sizeof(*r));
    if (w == SEQREAD && seq_end < len)
        return true;
    start = rdtsc();
    end_tsc = start + seconds * 1000 * blk.tsc_khz;
    for (uint32_t i = 0; i < qd && more; i++) {
        uint64_t sector = next_sector(w, len, &seq_pos, seq_end, &more);
        if (!submit(&blk.slots[i], type, sector, len)) {
            fail("virtqueue full");
            return false;
        }
        inflight++;
    }
    kick();
    while (inflight) {
        if (!wait_used()) {
            fail("no completion for 5 s");
            return false;
        }
        if (w != SEQREAD && (int64_t)(rdtsc() - end_tsc) >= 0)
            more = false;
        queued = 0;
        while (virtq_has_used(&blk.vq)) {
            struct slot *s = complete_one();
            if (!s)
                return false;
            inflight--;
            if (s->status != VIRTIO_BLK_S_OK) {
                printk("blk: %s of sector %lu: status %u\n", work_name[w],
                       (unsigned long)s->sector, s->status);
                fail("request failed");
                return false;
            }
            if (type == VIRTIO_BLK_T_IN) {
                for (int i = 0; i < s->nchecks; i++) {
                    if (!verify_block(s->buf, s->sector, s->check[i])) {
                        fail("data verification failed");
                        return false;
                    }
                }
                r->verified += s->nchecks;
            }
            r->ios++;
            r->bytes += s->len;
            if (more) {
                uint64_t sector = next_sector(w, len, &seq_pos, seq_end, &more);
                if (!submit(s, type, sector, len)) {
                    fail("virtqueue full");
                    return false;
                }
                inflight++;
                queued++;
            }
        }
        if (queued)
            kick();
    }
    r->ticks = rdtsc() - start;
    return true;
}

static void report(enum work w, uint32_t qd, uint32_t len, const struct result *r)
{
    uint64_t ms = r->ticks / blk.tsc_khz;
    uint64_t iops = r->ticks ? r->ios * 1000 * blk.tsc_khz / r->ticks : 0;
    uint64_t mbps10 = r->ticks ? r->bytes * blk.tsc_khz / r->ticks / 100 : 0;

    printk("BLK %s mode=%s qd=%u bs=%u ios=%lu ms=%lu iops=%lu "
           "mbps=%lu.%lu verified=%lu kicks=%lu irqs=%lu\n",
           work_name[w], blk.irq_mode ? "irq" : "poll", qd, len,
           (unsigned long)r->ios, (unsigned long)ms, (unsigned long)iops,
           (unsigned long)(mbps10 / 10), (unsigned long)(mbps10 % 10),
           (unsigned long)r->verified, (unsigned long)blk.kicks,
           (unsigned long)blk.irqs);
}

/* One request alone; its status, or -1 when it never completes. */
static int single(uint32_t type, uint64_t sector, uint32_t len)
{
    struct slot *s = &blk.slots[0];

    if (!submit(s, type, sector, len))
        return -1;
    kick();
    if (!wait_used() || complete_one() != s)
        return -1;
    return s->status;
}

/* virtio 1.2, 5.2.6.1: a request past the capacity must fail, and the
 * device must go on serving the next ones. */
static void check_beyond_end(void)
{
    const struct { uint64_t sector; const char *what; } cases[] = {
        { blk.sectors, "at the end" },
        { blk.sectors - 4, "across the end" },
        { 0x7fffffffffffff00ull, "at sector 2^63 - 256" },  /* bytes wrap */
    };
    bool ok = true;

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st = single(VIRTIO_BLK_T_IN, cases[i].sector, BLOCK);
        printk("BLK beyond %s: sector %lu status %d\n", cases[i].what,
               (unsigned long)cases[i].sector, st);
        if (st != VIRTIO_BLK_S_IOERR)
            ok = false;
    }
    if (single(VIRTIO_BLK_T_IN, 0, BLOCK) != VIRTIO_BLK_S_OK ||
        !verify_block(blk.slots[0].buf, 0, 0)) {
        printk("blk: block 0 unreadable after the bad requests\n");
        ok = false;
    }
    if (ok)
        test_pass("blk-beyond-end");
    else
        test_fail("blk-beyond-end", "a request past the end did not get "
                  "VIRTIO_BLK_S_IOERR, or the device stopped");
}

static bool blk_setup(bool irq_mode, const char **why)
{
    uint32_t size_max = 0, seg_max = 0;
    uint64_t nth = arg("blk_dev", 0);

    if (!virtio_mmio_find_device(VIRTIO_ID_BLOCK, (int)nth, &blk.dev)) {
        *why = "no virtio-blk device (virtio_mmio.device= on the command "
               "line)";
        return false;
    }
    uint64_t wanted = VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX |
                      VIRTIO_BLK_F_RO;

    if (arg("blk_event_idx", 0))
        wanted |= VIRTIO_RING_F_EVENT_IDX;
    if (!virtio_dev_init(&blk.dev, wanted, why))
        return false;
    blk.irq_mode = irq_mode;
    if (!virtq_setup(&blk.dev, &blk.vq, 0, VIRTQ_MAX, irq_mode, why))
        return false;
    blk.sectors = virtio_config_read64(&blk.dev, CFG_CAPACITY);
    if (blk.dev.features & VIRTIO_BLK_F_SIZE_MAX)
        size_max = virtio_config_read32(&blk.dev, CFG_SIZE_MAX);
    if (blk.dev.features & VIRTIO_BLK_F_SEG_MAX)
        seg_max = virtio_config_read32(&blk.dev, CFG_SEG_MAX);
    blk.seg_size = size_max >= BLOCK ? size_max & ~(BLOCK - 1) : 1u << 20;
    if (blk.seg_size > 1u << 20)
        blk.seg_size = 1u << 20;
    blk.max_segs = seg_max ? seg_max : 1;
    if (blk.max_segs > MAX_SEGS)
        blk.max_segs = MAX_SEGS;
    if (blk.sectors < BLOCK / SECTOR) {
        *why = "disk smaller than 4 KiB";
        return false;
    }
    if (irq_mode) {
        if (!acpi.have_ioapic) {        /* no MADT (acpi=off): the PC default */
            acpi.ioapic_base = 0xfec00000;
            acpi.ioapic_gsi_base = 0;
        }
        irq_set_handler(VEC_BLK, irq_handler);
        ioapic_route(blk.dev.gsi, VEC_BLK, 0, lapic_id());  /* edge, high */
        irq_enable();
    }
    virtio_driver_ok(&blk.dev);
    return true;
}

static void blk_teardown(void)
{
    virtio_reset(&blk.dev);
    if (blk.irq_mode) {
        irq_disable();
        ioapic_mask(blk.dev.gsi);
    }
}

static void run_mode(bool irq_mode, uint32_t qd, uint32_t rand_bs,
                     uint32_t seq_bs, uint64_t seconds, uint64_t seq_size)
{
    struct result r;
    const char *why = NULL;

    blk.kicks = blk.irqs = 0;
    if (!blk_setup(irq_mode, &why)) {
        fail(why);
        return;
    }
    /* a request's descriptors: header, data segments, status */
    uint32_t seq_segs = (seq_bs + blk.seg_size - 1) / blk.seg_size;
    if (seq_segs > blk.max_segs) {
        seq_bs = blk.max_segs * blk.seg_size;
        seq_segs = blk.max_segs;
    }
    uint32_t seq_qd = qd, rand_qd = qd;
    uint32_t rand_segs = (rand_bs + blk.seg_size - 1) / blk.seg_size;
    if (rand_segs > blk.max_segs) {
        fail("blk_bs needs more segments than the device takes");
        return;
    }
    if (seq_qd * (seq_segs + 2) > blk.vq.size)
        seq_qd = blk.vq.size / (seq_segs + 2);
    if (rand_qd * (rand_segs + 2) > blk.vq.size)
        rand_qd = blk.vq.size / (rand_segs + 2);
    if (seq_size > blk.sectors * SECTOR)
        seq_size = blk.sectors * SECTOR;
    if ((uint64_t)rand_bs > blk.sectors * SECTOR)
        rand_bs = BLOCK;
    printk("BLK device capacity=%lu seg_bytes=%u segs=%u queue=%u "
           "features=%lx seq_bs=%u tsc_khz=%lu mode=%s gsi=%u\n",
           (unsigned long)blk.sectors, blk.seg_size, blk.max_segs,
           blk.vq.size, (unsigned long)blk.dev.features, seq_bs,
           (unsigned long)blk.tsc_khz, irq_mode ? "irq" : "poll",
           blk.dev.gsi);

    if (work_selected("randread", true) && !blk.error &&
        run(RANDREAD, rand_qd, rand_bs, seconds, 0, &r))
        report(RANDREAD, rand_qd, rand_bs, &r);
    if (work_selected("seqread", true) && !blk.error &&
        run(SEQREAD, seq_qd, seq_bs, 0, seq_size, &r))
        report(SEQREAD, seq_qd, seq_bs, &r);
    if (work_selected("randwrite", false) && !blk.error) {
        if (blk.dev.features & VIRTIO_BLK_F_RO)
            printk("BLK randwrite skipped: read-only disk\n");
        else if (run(RANDWRITE, rand_qd, rand_bs, seconds, 0, &r))
            report(RANDWRITE, rand_qd, rand_bs, &r);
    }
    if (work_selected("beyond", false) && !blk.error)
        check_beyond_end();
    blk_teardown();
}

void action_blk(void)
{
    uint32_t qd = (uint32_t)arg("blk_qd", 16);
    uint64_t rand_bs = arg("blk_bs", BLOCK), seq_bs = arg("blk_seq_bs", 1 << 20);
    uint64_t seconds = arg("blk_seconds", 5), seq_size = arg("blk_seq_size", ~0ull);
    const char *v;
    size_t len;
    bool poll = !cmdline_get("blk_mode", &v, &len) ||
                cmdline_list_has("blk_mode", "poll");
    bool irq = cmdline_list_has("blk_mode", "irq");

    blk.rng = 0x9e3779b97f4a7c15ull ^ rdtsc();
    if (qd < 1 || qd > MAX_QD)
        qd = qd < 1 ? 1 : MAX_QD;
    if (!rand_bs || rand_bs % BLOCK || rand_bs > (1u << 20) ||
        !seq_bs || seq_bs % BLOCK || seq_bs > (1u << 20)) {
        test_fail("blk", "blk_bs and blk_seq_bs: multiples of 4K up to 1M");
        goto out;
    }
    blk.tsc_khz = tsc_khz_from_pit();
    if (!blk.tsc_khz) {
        test_fail("blk", "cannot measure the TSC rate against the PIT");
        goto out;
    }
    blk.buf_size = rand_bs > seq_bs ? rand_bs : seq_bs;
    if (!alloc_buffers(blk.buf_size * qd)) {
        test_fail("blk", "no RAM for %lu bytes of buffers above the kernel",
                  (unsigned long)(blk.buf_size * qd));
        goto out;
    }
    for (uint32_t i = 0; i < qd; i++)
        blk.slots[i].buf = blk.mem + i * blk.buf_size;

    if (poll)
        run_mode(false, qd, (uint32_t)rand_bs, (uint32_t)seq_bs, seconds,
                 seq_size);
    if (irq && !blk.error)
        run_mode(true, qd, (uint32_t)rand_bs, (uint32_t)seq_bs, seconds,
                 seq_size);
    if (blk.error)
        test_fail("blk", "%s", blk.error);
    else
        test_pass("blk");
out:
    printk("TESTKERNEL DONE pass=%d fail=%d\n", tests_passed, tests_failed);
    debug_exit(tests_failed ? 1 : 0);
}
