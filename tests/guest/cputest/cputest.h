/*
 * Shared declarations of the CPU test kernels (real mode, 32-bit protected
 * mode, long mode). lib.c is compiled once per mode (-m16, -m32, -m64), so
 * everything here uses `unsigned long` for register-sized values.
 */
#ifndef CPUTEST_H
#define CPUTEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long ulong;

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

static inline void outb(u16 port, u8 v)
{
    asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
    u8 v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
    asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                 : "a"(leaf), "c"(sub));
}

static inline void cpu_relax(void)
{
    asm volatile("pause" ::: "memory");
}

/* lib.c: serial output */
void uart_init(void);
void putc(char c);
void puts(const char *s);
void puthex(ulong v);
void putdec(ulong v);

/*
 * Test reporting. test_begin() names the current check; check() records the
 * first failed condition with a reason and up to two values; test_end()
 * prints "PASS name" or "FAIL name: reason (got=..., want=...)".
 * test_skip() prints "SKIP name: reason" for checks that need a CPU feature
 * the model lacks. cputest_done() prints the summary and leaves through
 * isa-debug-exit (0 all passed, 1 otherwise); it never returns.
 */
void test_begin(const char *name);
int check(int ok, const char *reason);
int check_eq(const char *what, ulong got, ulong want);
void test_end(void);
void test_skip(const char *name, const char *reason);
const char *test_current(void);
void cputest_fail_now(const char *reason, ulong v1, ulong v2);
void cputest_done(void) __attribute__((noreturn));
void halt_forever(void) __attribute__((noreturn));

/* lib.c: helpers */
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int strncmp_(const char *a, const char *b, unsigned long n);
/* value of "key=NUMBER" in a command line, or def */
ulong cmdline_num(const char *cmdline, const char *key, ulong def);

/*
 * Bounded waits: true once *flag (read each round) is non-zero, false when
 * `ms` milliseconds of TSC time (rate assumed 3 GHz unless CPUID says) or a
 * loop-count limit pass, so a broken CPU gives a FAIL, never a hang.
 */
int wait_nonzero(volatile u32 *flag, u32 ms);
int wait_ge(volatile u32 *val, u32 target, u32 ms);
void delay_ms(u32 ms);

#endif
