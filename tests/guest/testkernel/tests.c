/* The tests that check what the VMM gave us: command line, memory map,
 * modules/initrd, ACPI tables, LAPIC timer and the COM1 interrupt. */
#include "testkernel.h"

int tests_passed, tests_failed;

void test_pass(const char *name)
{
    tests_passed++;
    printk("PASS %s\n", name);
}

void test_fail(const char *name, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    tests_failed++;
    printk("FAIL %s: %s\n", name, buf);
}

/* expect=WORD: WORD must also appear on the command line as a word of its
 * own; this checks that the whole command line, not just its start, arrived. */
void test_cmdline(void)
{
    const char *v;
    size_t len;

    if (!boot.cmdline[0]) {
        test_fail("cmdline", "empty command line");
        return;
    }
    if (cmdline_get("expect", &v, &len) && !cmdline_has_word(v, len)) {
        test_fail("cmdline", "word '%.*s' missing", (int)len, v);
        return;
    }
    test_pass("cmdline");
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static bool page_is_ours(uint64_t addr)
{
    uint64_t ks = (uint64_t)__kernel_start, ke = (uint64_t)__kernel_end;

    if (overlaps(addr, 4096, ks, ke - ks) || addr < 0x100000)
        return true;
    for (int i = 0; i < boot.nmods; i++)
        if (overlaps(addr, 4096, boot.mods[i].start,
                     boot.mods[i].end - boot.mods[i].start))
            return true;
    return false;
}

/* Write, check and restore a page: nondestructive, so loader data survives. */
static bool probe_page(uint64_t addr)
{
    volatile uint64_t *p = (volatile uint64_t *)addr;
    static uint64_t save[512];

    for (int i = 0; i < 512; i++)
        save[i] = p[i];
    for (int i = 0; i < 512; i++)
        p[i] = addr ^ (0x5a5aa5a5c3c33c3cull * (i + 1));
    for (int i = 0; i < 512; i++) {
        if (p[i] != (addr ^ (0x5a5aa5a5c3c33c3cull * (i + 1)))) {
            printk("mem: mismatch at %lx\n", (unsigned long)(addr + 8 * i));
            return false;
        }
    }
    for (int i = 0; i < 512; i++)
        p[i] = save[i];
    return true;
}

/*
 * mem=SIZE: the usable RAM (type 1) must be within [SIZE - 2 MiB, SIZE]: the
 * VMM and firmware keep the legacy hole 0x9fc00-0x100000 and a few pages for
 * their own tables. With SIZE above 3.5 GiB, some RAM must lie above 4 GiB.
 * Then every RAM range's first, middle and last page is written and read back.
 */
void test_mem(void)
{
    uint64_t ram = 0, high = 0, top = 0, want = 0;
    const char *v;
    size_t len;
    int probed = 0;

    if (!boot.nmmap) {
        test_fail("mem", "no memory map from the loader");
        return;
    }
    for (int i = 0; i < boot.nmmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        printk("mem: %016lx-%016lx type %u\n", (unsigned long)r->base,
               (unsigned long)(r->base + r->len - 1), r->type);
        if (r->type != E820_RAM)
            continue;
        ram += r->len;
        if (r->base + r->len > 1ull << 32)
            high += r->base + r->len - (r->base > (1ull << 32) ? r->base : 1ull << 32);
        if (r->base + r->len > top)
            top = r->base + r->len;
    }
    printk("mem: %lu KiB usable, %lu KiB above 4G\n", (unsigned long)(ram >> 10),
           (unsigned long)(high >> 10));
    if (cmdline_get("mem", &v, &len)) {
        if (!parse_size(v, len, &want)) {
            test_fail("mem", "bad mem= value");
            return;
        }
        if (ram > want || ram < want - (2 << 20)) {
            test_fail("mem", "usable RAM %lu KiB, expected %lu KiB - 2 MiB .. %lu KiB",
                      (unsigned long)(ram >> 10), (unsigned long)(want >> 10),
                      (unsigned long)(want >> 10));
            return;
        }
        if (want > (7ull << 29) && !high) {
            test_fail("mem", "no RAM above 4 GiB with mem=%lu MiB",
                      (unsigned long)(want >> 20));
            return;
        }
    }
    if (!paging_map_identity(top)) {
        test_fail("mem", "cannot map RAM up to %lx", (unsigned long)top);
        return;
    }
    for (int i = 0; i < boot.nmmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        uint64_t first = (r->base + 4095) & ~4095ull;
        uint64_t last = ((r->base + r->len) & ~4095ull) - 4096;
        if (r->type != E820_RAM || r->len < 8192 || last < first)
            continue;
        uint64_t pages[3] = { first, first + ((last - first) / 2 & ~4095ull), last };
        for (int k = 0; k < 3; k++) {
            if (page_is_ours(pages[k]))
                continue;
            if (!probe_page(pages[k])) {
                test_fail("mem", "RAM page %lx does not hold data",
                          (unsigned long)pages[k]);
                return;
            }
            probed++;
        }
    }
    printk("mem: %d pages written and read back\n", probed);
    test_pass("mem");
}

static void index_key(char *buf, const char *prefix, int i)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    if (i >= 10)
        buf[n++] = '0' + i / 10;
    buf[n++] = '0' + i % 10;
    buf[n] = 0;
}

static bool module_has_word(const char *s, const char *w, size_t len)
{
    for (size_t p = 0; s[p]; p++) {
        if (!strncmp(s + p, w, len) && (p == 0 || s[p - 1] == ' ') &&
            (s[p + len] == 0 || s[p + len] == ' '))
            return true;
    }
    return false;
}

/* modN=SIZE:CRC32 and modargN=WORD for module i; false after a FAIL */
static bool check_module(int i)
{
    const struct boot_module *m = &boot.mods[i];
    const char *v;
    size_t len, colon = 0;
    uint64_t size, crc;
    char key[16];

    index_key(key, "mod", i);
    if (cmdline_get(key, &v, &len)) {
        if (i >= boot.nmods) {
            test_fail("modules", "module %d missing", i);
            return false;
        }
        while (colon < len && v[colon] != ':')
            colon++;
        if (colon == len || !parse_u64(v, colon, 10, &size) ||
            !parse_u64(v + colon + 1, len - colon - 1, 16, &crc)) {
            test_fail("modules", "bad %s= value (want SIZE:CRC32)", key);
            return false;
        }
        if (m->end - m->start != size) {
            test_fail("modules", "module %d is %lu bytes, expected %lu", i,
                      (unsigned long)(m->end - m->start), (unsigned long)size);
            return false;
        }
        if (!paging_map_identity(m->end)) {
            test_fail("modules", "module %d beyond the mappable range", i);
            return false;
        }
        uint32_t got = crc32((const void *)m->start, size);
        if (got != (uint32_t)crc) {
            test_fail("modules", "module %d crc32 %08x, expected %08x", i, got,
                      (uint32_t)crc);
            return false;
        }
    }
    index_key(key, "modarg", i);
    if (cmdline_get(key, &v, &len)) {
        const char *s = i < boot.nmods ? m->cmdline : "";
        if (!module_has_word(s, v, len)) {
            test_fail("modules", "module %d string '%s' lacks '%.*s'", i, s,
                      (int)len, v);
            return false;
        }
    }
    return true;
}

/*
 * modules=N: module count. modN=SIZE:CRC32 (decimal size, hex CRC-32 as
 * zlib.crc32 gives it) checks module N's contents; modargN=WORD checks that
 * module N's string (multiboot: "path args") contains WORD. Under the Linux
 * boot protocol the initrd is module 0.
 */
void test_modules(void)
{
    const char *v;
    size_t len;
    uint64_t want;

    printk("modules: %d\n", boot.nmods);
    for (int i = 0; i < boot.nmods; i++) {
        const struct boot_module *m = &boot.mods[i];
        printk("module %d: %lx-%lx '%s'\n", i, (unsigned long)m->start,
               (unsigned long)m->end, m->cmdline);
    }
    if (cmdline_get("modules", &v, &len)) {
        if (!parse_u64(v, len, 10, &want)) {
            test_fail("modules", "bad modules= value");
            return;
        }
        if (want != (uint64_t)boot.nmods) {
            test_fail("modules", "%d modules, expected %lu", boot.nmods,
                      (unsigned long)want);
            return;
        }
    }
    for (int i = 0; i < MAX_MODULES; i++) {
        if (!check_module(i))
            return;
    }
    test_pass("modules");
}

/* Every ACPI table we walked has a valid checksum; MADT and FADT exist. */
void test_acpi(void)
{
    if (!acpi.rsdp) {
        test_fail("acpi", "no RSDP");
        return;
    }
    printk("acpi: RSDP %lx, LAPIC %lx, IOAPIC %lx (GSI base %u), PM1a_CNT %x, "
           "sleep ctl %lx, S5 %d\n",
           (unsigned long)acpi.rsdp, (unsigned long)acpi.lapic_base,
           (unsigned long)acpi.ioapic_base, acpi.ioapic_gsi_base, acpi.pm1a_cnt,
           (unsigned long)acpi.sleep_control.address, acpi.s5_typ);
    if (acpi.bad_checksums) {
        test_fail("acpi", "%d bad checksums (table '%.4s')", acpi.bad_checksums,
                  acpi.bad_table);
        return;
    }
    if (!acpi.have_madt || !acpi.have_fadt || !acpi.have_dsdt) {
        test_fail("acpi", "missing table: MADT %d FADT %d DSDT %d", acpi.have_madt,
                  acpi.have_fadt, acpi.have_dsdt);
        return;
    }
    test_pass("acpi");
}

static void timer_handler(struct irq_frame *f)
{
    (void)f;
    lapic_eoi();
}

static bool wait_count(volatile uint64_t *c, uint64_t target, uint64_t ms)
{
    uint64_t dl = deadline_after_ms(ms);
    while (*c < target) {
        if (deadline_passed(dl))
            return false;
        cpu_relax();
    }
    return true;
}

/* LAPIC timer in one-shot then periodic mode; counts interrupts only. */
void test_timer(void)
{
    volatile uint64_t *c = &irq_count[VEC_TIMER];
    uint64_t base;

    irq_set_handler(VEC_TIMER, timer_handler);
    lapic_write(LAPIC_TIMER_DIV, 0x3);            /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);      /* one-shot */
    base = *c;
    irq_enable();
    lapic_write(LAPIC_TIMER_INIT, 20000);
    if (!wait_count(c, base + 1, 2000)) {
        irq_disable();
        lapic_write(LAPIC_LVT_TIMER, 1 << 16);
        test_fail("timer", "no one-shot interrupt (current count %u)",
                  lapic_read(LAPIC_TIMER_CUR));
        return;
    }
    delay_us(5000);
    if (*c != base + 1) {
        irq_disable();
        test_fail("timer", "one-shot fired %lu times", (unsigned long)(*c - base));
        return;
    }
    base = *c;
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | (1 << 17)); /* periodic */
    lapic_write(LAPIC_TIMER_INIT, 20000);
    bool ok = wait_count(c, base + 10, 4000);
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | (1 << 16));
    lapic_write(LAPIC_TIMER_INIT, 0);
    irq_disable();
    if (!ok) {
        test_fail("timer", "periodic: %lu of 10 interrupts",
                  (unsigned long)(*c - base));
        return;
    }
    test_pass("timer");
}

#define UART_IER 1
#define UART_IIR 2
#define UART_LSR 5
#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02

static volatile char rx_ring[256];
static volatile uint32_t rx_head, rx_tail;

static void serial_handler(struct irq_frame *f)
{
    (void)f;
    /* IIR read acknowledges THRE; RBR reads drain the receive FIFO */
    for (int n = 0; n < 64 && !(inb(COM1 + UART_IIR) & 1); n++) {
        while (inb(COM1 + UART_LSR) & 1) {
            rx_ring[rx_head % sizeof(rx_ring)] = inb(COM1);
            rx_head++;
        }
        if (inb(COM1 + UART_IER) & UART_IER_THRI)
            outb(COM1 + UART_IER, inb(COM1 + UART_IER) & ~UART_IER_THRI);
    }
    lapic_eoi();
}

static bool serial_route(void)
{
    if (!acpi.have_ioapic)
        return false;
    irq_set_handler(VEC_SERIAL, serial_handler);
    ioapic_route(acpi.isa_gsi[4], VEC_SERIAL, acpi.isa_flags[4], lapic_id());
    return true;
}

/* COM1 THRE interrupt through IOAPIC GSI 4 (after MADT overrides). */
void test_serial_irq(void)
{
    volatile uint64_t *c = &irq_count[VEC_SERIAL];
    uint64_t base = *c;
    bool ok;

    if (!serial_route()) {
        test_fail("serial-irq", "no IOAPIC in the MADT");
        return;
    }
    irq_enable();
    outb(COM1 + UART_IER, UART_IER_THRI);
    ok = wait_count(c, base + 1, 2000);
    irq_disable();
    outb(COM1 + UART_IER, 0);
    ioapic_mask(acpi.isa_gsi[4]);
    if (!ok) {
        test_fail("serial-irq", "no interrupt on GSI %u", acpi.isa_gsi[4]);
        return;
    }
    test_pass("serial-irq");
}

/*
 * action=echo: echo what arrives on COM1 (receive interrupt, IOAPIC) until a
 * 'q', or give up after echo_timeout=SECONDS (default 60).
 */
void action_echo(void)
{
    uint64_t secs = 60, dl;
    const char *v;
    size_t len;

    if (cmdline_get("echo_timeout", &v, &len))
        parse_u64(v, len, 10, &secs);
    if (!serial_route()) {
        printk("FAIL echo: no IOAPIC\n");
        return;
    }
    /* input that arrived early waits in the FIFO and raises the interrupt
     * as soon as it is enabled */
    outb(COM1 + UART_IER, UART_IER_RDI);
    irq_enable();
    printk("ECHO READY\n");
    dl = deadline_after_ms(secs * 1000);
    for (;;) {
        if (rx_tail != rx_head) {
            char ch = rx_ring[rx_tail % sizeof(rx_ring)];
            rx_tail++;
            if (ch == 'q')
                break;
            uart_putc(ch);
            continue;
        }
        if (deadline_passed(dl)) {
            irq_disable();
            outb(COM1 + UART_IER, 0);
            printk("\nFAIL echo: timeout\n");
            return;
        }
        cpu_relax();
    }
    irq_disable();
    outb(COM1 + UART_IER, 0);
    ioapic_mask(acpi.isa_gsi[4]);
    printk("\nECHO DONE\n");
}
