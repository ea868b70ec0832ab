/*
 * Serial output (COM1, polled 16550), test reporting and bounded waits for
 * the CPU test kernels; compiled for 16-, 32- and 64-bit code.
 */
#include "cputest.h"

static u32 n_pass, n_fail, n_skip;
static const char *cur_name;
static const char *cur_reason;
static ulong cur_got, cur_want;
static int cur_has_values, cur_failed;

void uart_init(void)
{
    outb(COM1 + 1, 0x00);   /* no interrupts */
    outb(COM1 + 3, 0x80);   /* DLAB */
    outb(COM1 + 0, 0x01);   /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0x07);   /* FIFO on, cleared */
    outb(COM1 + 4, 0x03);   /* DTR, RTS */
}

void putc(char c)
{
    u32 i;

    if (c == '\n')
        putc('\r');
    /* THR empty (LSR bit 5); bounded so a missing UART cannot hang us */
    for (i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        ;
    outb(COM1, c);
}

void puts(const char *s)
{
    while (*s)
        putc(*s++);
}

void puthex(ulong v)
{
    int shift, started = 0;

    puts("0x");
    for (shift = sizeof(ulong) * 8 - 4; shift >= 0; shift -= 4) {
        unsigned d = (v >> shift) & 0xf;
        if (d || started || shift == 0) {
            putc("0123456789abcdef"[d]);
            started = 1;
        }
    }
}

void putdec(ulong v)
{
    char buf[24];
    int i = 0;
    u32 x = (u32)v;     /* counts only; 32-bit division in every mode */

    do {
        buf[i++] = '0' + x % 10;
        x /= 10;
    } while (x);
    while (i)
        putc(buf[--i]);
}

void test_begin(const char *name)
{
    cur_name = name;
    cur_reason = 0;
    cur_failed = 0;
    cur_has_values = 0;
}

const char *test_current(void)
{
    return cur_name ? cur_name : "setup";
}

int check(int ok, const char *reason)
{
    if (!ok && !cur_failed) {
        cur_failed = 1;
        cur_reason = reason;
    }
    return ok;
}

int check_eq(const char *what, ulong got, ulong want)
{
    if (got != want && !cur_failed) {
        cur_failed = 1;
        cur_reason = what;
        cur_got = got;
        cur_want = want;
        cur_has_values = 1;
    }
    return got == want;
}

void test_end(void)
{
    if (cur_failed) {
        n_fail++;
        puts("FAIL ");
        puts(cur_name);
        puts(": ");
        puts(cur_reason);
        if (cur_has_values) {
            puts(" got=");
            puthex(cur_got);
            puts(" want=");
            puthex(cur_want);
        }
        puts("\n");
    } else {
        n_pass++;
        puts("PASS ");
        puts(cur_name);
        puts("\n");
    }
    cur_name = 0;
}

void test_skip(const char *name, const char *reason)
{
    n_skip++;
    puts("SKIP ");
    puts(name);
    puts(": ");
    puts(reason);
    puts("\n");
}

/* An unrecoverable surprise (unexpected exception): report it, finish. */
void cputest_fail_now(const char *reason, ulong v1, ulong v2)
{
    n_fail++;
    puts("FAIL ");
    puts(test_current());
    puts(": ");
    puts(reason);
    puts(" ");
    puthex(v1);
    puts(" ");
    puthex(v2);
    puts("\n");
    cputest_done();
}

void halt_forever(void)
{
    for (;;)
        asm volatile("cli; hlt");
}

void cputest_done(void)
{
    puts("CPUTEST DONE pass=");
    putdec(n_pass);
    puts(" fail=");
    putdec(n_fail);
    puts(" skip=");
    putdec(n_skip);
    puts("\n");
    outb(DEBUG_EXIT_PORT, n_fail ? 1 : 0);
    halt_forever();
}

void *memset(void *d, int c, unsigned long n)
{
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int strncmp_(const char *a, const char *b, unsigned long n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (u8)*a - (u8)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

ulong cmdline_num(const char *s, const char *key, ulong def)
{
    unsigned long klen = 0;

    if (!s)
        return def;
    while (key[klen])
        klen++;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!strncmp_(s, key, klen) && s[klen] == '=') {
            ulong v = 0;
            for (s += klen + 1; *s >= '0' && *s <= '9'; s++)
                v = v * 10 + (*s - '0');
            return v;
        }
        while (*s && *s != ' ')
            s++;
    }
    return def;
}

/* TSC ticks per millisecond: CPUID 0x15/0x16 when present, else 3 GHz. */
static u32 tsc_per_ms(void)
{
    static u32 cached;
    u32 a, b, c, d, max;

    if (cached)
        return cached;
    cached = 3000000;
    cpuid(0, 0, &max, &b, &c, &d);
    if (max >= 0x15) {
        cpuid(0x15, 0, &a, &b, &c, &d);
        if (a && b && c)
            cached = c / 1000 * b / a;   /* no 64-bit division here */
    }
    if (cached == 3000000 && max >= 0x16) {
        cpuid(0x16, 0, &a, &b, &c, &d);
        if (a & 0xffff)
            cached = (a & 0xffff) * 1000;
    }
    return cached;
}

/* Also bounded by iterations (~20 per microsecond budget), should the TSC
 * of a broken CPU stand still. */
int wait_ge(volatile u32 *val, u32 target, u32 ms)
{
    u64 start = rdtsc(), limit = (u64)ms * tsc_per_ms();
    u32 spins = 0, max_spins = ms * 20000;

    while (!val || *val < target) {
        if (rdtsc() - start > limit || ++spins > max_spins)
            return 0;
        cpu_relax();
    }
    return 1;
}

int wait_nonzero(volatile u32 *flag, u32 ms)
{
    return wait_ge(flag, 1, ms);
}

void delay_ms(u32 ms)
{
    wait_ge((volatile u32 *)0, 1, ms);
}
