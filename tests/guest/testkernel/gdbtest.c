/*
 * action=gdb: code for the gdb stub's tests (tests/functional/
 * test_gdbstub.py), built without optimisation and with debug information
 * so that gdb sees every argument, local and line:
 *   gdb_add(a, b)       called three times: a breakpoint, its arguments,
 *                       the backtrace, `next` over its lines
 *   gdb_watched         written once a round: a watchpoint
 *   gdb_loaded_code     code copied into RAM only at the end, then run:
 *                       a hardware breakpoint set before it is there
 * It leaves through isa-debug-exit: 0 when the sums came out right.
 */
#include "testkernel.h"

volatile unsigned long gdb_watched;

/* a data page the copied code runs from (the identity map executes) */
unsigned char gdb_loaded_code[64] __attribute__((aligned(64)));

__attribute__((noinline)) int gdb_add(int a, int b)
{
    int sum = a + b;

    sum = sum * 1;
    return sum;
}

__attribute__((noinline)) static void gdb_touch(int round)
{
    gdb_watched = round * 3;
}

void action_gdb(void)
{
    /* mov eax, 42; ret */
    static const unsigned char code[] = { 0xb8, 0x2a, 0, 0, 0, 0xc3 };
    int total = 0, loaded;

    for (int round = 1; round <= 3; round++) {
        total += gdb_add(round, 10 * round);
        gdb_touch(round);
    }
    memcpy(gdb_loaded_code, code, sizeof(code));
    loaded = ((int (*)(void))(void *)gdb_loaded_code)();
    printk("GDB DONE total=%d loaded=%d\n", total, loaded);
    debug_exit(total == 66 && loaded == 42 ? 0 : 1);
}
