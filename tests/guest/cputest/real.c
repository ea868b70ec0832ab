/*
 * Real-mode checks (gcc -m16; runs at 0x1000:0 after real16.S left
 * protected mode): exceptions through the IVT, int n / iret, far
 * transfers, 16-bit wraparound, operand/address-size prefixes, and the PIT
 * interrupt through the 8259 with sti/hlt.
 */
#include "cputest.h"

#define PIT_VECTOR 0x20

extern volatile u16 rm_last_vector, rm_last_ip, rm_last_cs, rm_last_flags,
    rm_last_hflags, rm_last_count, rm_resume;
extern volatile u32 pit_count;

u32 rm_test_de(void), rm_test_bp(void), rm_test_intn(void), rm_test_ud(void),
    rm_test_bound(void), rm_test_iret(void), rm_test_far(void),
    rm_test_segwrap(void), rm_test_prefix(void);

static void run(const char *name, u32 (*fn)(void))
{
    u32 failed_check;

    test_begin(name);
    failed_check = fn();
    check_eq("check number (see real16.S) failed", failed_check, 0);
    test_end();
    if (failed_check) {
        puts("  last interrupt: vector=");
        puthex(rm_last_vector);
        puts(" cs:ip=");
        puthex(rm_last_cs);
        puts(":");
        puthex(rm_last_ip);
        puts(" count=");
        putdec(rm_last_count);
        puts("\n");
    }
}

/* reached from rm_common for a fault no test expected */
void rm_unexpected(u32 vector, u32 ip)
{
    cputest_fail_now("unexpected exception: vector, ip", vector, ip);
}

static void pic_init(void)
{
    outb(0x20, 0x11);           /* ICW1: edge, cascade, ICW4 */
    outb(0x21, PIT_VECTOR);     /* ICW2: IRQ0-7 -> 0x20-0x27 */
    outb(0x21, 0x04);           /* ICW3: slave on IRQ2 */
    outb(0x21, 0x01);           /* ICW4: 8086 mode */
    outb(0xa0, 0x11);
    outb(0xa1, PIT_VECTOR + 8);
    outb(0xa1, 0x02);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

static void test_pit_irq(void)
{
    u32 ok, before;
    u16 count = 11932;          /* 1193182 Hz / 100 */

    test_begin("rm_pit_irq");
    pit_count = 0;
    outb(0x43, 0x34);           /* channel 0, lo/hi byte, mode 2 */
    outb(0x40, count & 0xff);
    outb(0x40, count >> 8);
    outb(0x21, 0xfe);           /* unmask IRQ0 only */
    delay_ms(30);
    check_eq("no interrupt while IF=0", pit_count, 0);
    rm_last_count = 0;
    asm volatile("sti");
    ok = wait_ge(&pit_count, 3, 3000);
    asm volatile("cli");
    check(ok, "fewer than 3 PIT interrupts in 3 s");
    check_eq("vector", rm_last_vector, PIT_VECTOR);
    check_eq("pushed cs", rm_last_cs, 0x1000);
    check_eq("pushed flags.IF", rm_last_flags & 0x200, 0x200);
    check_eq("handler flags.IF", rm_last_hflags & 0x200, 0);
    if (ok) {
        /* the timer is proven periodic: hlt must wake on it */
        before = pit_count;
        asm volatile("sti; hlt; cli");
        check(pit_count > before, "hlt not woken by IRQ0");
    }
    outb(0x21, 0xff);
    outb(0x43, 0x30);           /* channel 0 mode 0, no count: stop */
    test_end();
}

void real_main(void)
{
    uart_init();
    puts("vireo cputest: mode=real\n");
    pic_init();

    run("rm_de", rm_test_de);
    run("rm_bp_into", rm_test_bp);
    run("rm_int_n", rm_test_intn);
    run("rm_ud", rm_test_ud);
    run("rm_bound", rm_test_bound);
    run("rm_iret", rm_test_iret);
    run("rm_far_call", rm_test_far);
    run("rm_seg_wrap", rm_test_segwrap);
    run("rm_prefixes", rm_test_prefix);
    test_pit_irq();
    cputest_done();
}
