/* Freestanding helpers: string functions, number parsing, CRC-32, printk. */
#include "testkernel.h"

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp < sp)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
        if (!a[i])
            return 0;
    }
    return 0;
}

/* Copy at most size-1 characters and always terminate. */
char *strncpy_z(char *d, const char *s, size_t size)
{
    size_t i = 0;
    if (!size)
        return d;
    for (; i + 1 < size && s[i]; i++)
        d[i] = s[i];
    d[i] = 0;
    return d;
}

bool parse_u64(const char *s, size_t len, int base, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    if (base == 16 && len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    for (size_t i = 0; i < len; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return false;
        if (d >= base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

/* "512M", "5G", "4096K", "1048576" (bytes); QEMU's -m default unit is MiB
 * but on our command line a bare number means bytes. */
bool parse_size(const char *s, size_t len, uint64_t *out)
{
    uint64_t shift = 0;
    if (len == 0)
        return false;
    switch (s[len - 1]) {
    case 'K': case 'k': shift = 10; len--; break;
    case 'M': case 'm': shift = 20; len--; break;
    case 'G': case 'g': shift = 30; len--; break;
    case 'T': case 't': shift = 40; len--; break;
    }
    if (!parse_u64(s, len, 10, out))
        return false;
    *out <<= shift;
    return true;
}

/* CRC-32 (IEEE 802.3, as zlib.crc32 computes it) */
uint32_t crc32(const void *buf, size_t len)
{
    static uint32_t table[256];
    static bool ready;
    const uint8_t *p = buf;
    uint32_t c = 0xffffffff;

    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t r = i;
            for (int k = 0; k < 8; k++)
                r = (r & 1) ? 0xedb88320 ^ (r >> 1) : r >> 1;
            table[i] = r;
        }
        ready = true;
    }
    for (size_t i = 0; i < len; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffff;
}

struct outbuf {
    char *buf;
    size_t size, pos;
};

static void out_char(struct outbuf *o, char c)
{
    if (o->pos + 1 < o->size)
        o->buf[o->pos] = c;
    o->pos++;
}

static void out_num(struct outbuf *o, uint64_t v, int base, bool neg,
                    int width, char pad)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    while (width-- > n)
        out_char(o, pad);
    while (n)
        out_char(o, tmp[--n]);
}

/* Supports %[0][width][.*][l|ll|z]{d,u,x,s,c,p} and %%. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct outbuf o = { buf, size, 0 };

    for (; *fmt; fmt++) {
        int lng = 0, width = 0, prec = -1;
        char pad = ' ';
        if (*fmt != '%') {
            out_char(&o, *fmt);
            continue;
        }
        fmt++;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (fmt[0] == '.' && fmt[1] == '*') {
            prec = va_arg(ap, int);
            fmt += 2;
        }
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            out_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
            out_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10,
                    false, width, pad);
            break;
        case 'x':
            out_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16,
                    false, width, pad);
            break;
        case 'p':
            out_char(&o, '0');
            out_char(&o, 'x');
            out_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, width, pad);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            while (*s && prec-- != 0)
                out_char(&o, *s++);
            break;
        }
        case 'c':
            out_char(&o, (char)va_arg(ap, int));
            break;
        case '%':
            out_char(&o, '%');
            break;
        default:
            out_char(&o, '%');
            out_char(&o, *fmt);
            if (!*fmt)
                fmt--;
        }
    }
    if (size)
        buf[o.pos < size ? o.pos : size - 1] = 0;
    return (int)o.pos;
}

static volatile int printk_lock;

void printk(const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    while (__atomic_exchange_n(&printk_lock, 1, __ATOMIC_ACQUIRE))
        cpu_relax();
    for (char *p = buf; *p; p++) {
        if (*p == '\n')
            uart_putc('\r');
        uart_putc(*p);
    }
    __atomic_store_n(&printk_lock, 0, __ATOMIC_RELEASE);
}

/*
 * Timeouts: we calibrate nothing. The TSC rate comes from CPUID 0x16 or the
 * hypervisor's TSC leaf when given, else we assume 3 GHz; a wrong guess
 * stretches or shrinks a timeout by a small factor, never makes it endless.
 */
static uint64_t tsc_per_ms;

static uint64_t tsc_rate(void)
{
    uint32_t r[4];

    if (tsc_per_ms)
        return tsc_per_ms;
    tsc_per_ms = 3000000;
    cpuid(0, 0, r);
    if (r[0] >= 0x16) {
        cpuid(0x16, 0, r);
        if (r[0] >= 500 && r[0] < 10000)
            tsc_per_ms = (uint64_t)r[0] * 1000;
    }
    cpuid(0x40000000, 0, r);
    if (r[0] >= 0x40000010) {
        cpuid(0x40000010, 0, r);
        if (r[0] >= 500000 && r[0] < 10000000)
            tsc_per_ms = r[0];
    }
    return tsc_per_ms;
}

uint64_t deadline_after_ms(uint64_t ms)
{
    return rdtsc() + ms * tsc_rate();
}

bool deadline_passed(uint64_t deadline)
{
    return (int64_t)(rdtsc() - deadline) >= 0;
}

void delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + us * tsc_rate() / 1000;
    while ((int64_t)(rdtsc() - end) < 0)
        cpu_relax();
}
