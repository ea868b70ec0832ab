/*
 * Test kernel main: parse the boot information, run the tests the command
 * line selects, print the verdict, then leave as the command line says.
 *
 * Command line (space-separated words):
 *   test=all|LIST    comma list of cmdline,mem,modules,acpi,cpus(smp),timer,
 *                    serial-irq (default all)
 *   expect=WORD      cmdline: WORD must also appear as a word of its own
 *   mem=SIZE         mem: usable RAM is SIZE (K/M/G suffix) minus at most 2 MiB
 *   cpus=N           cpus: MADT lists N enabled CPUs (all must start)
 *   modules=N, modI=SIZE:CRC32, modargI=WORD   modules/initrd contents
 *   action=exit|poweroff|reboot|echo|halt|triple|dirty|gdb   what to do
 *                    afterwards (default exit: isa-debug-exit 0 on success,
 *                    1 on failure; dirty: see dirty.c; gdb: gdbtest.c)
 *   action=blk       virtio-blk benchmark over virtio-mmio (see blk.c)
 *   action=exits     cost of port I/O, MMIO and ioeventfd exits (exits.c)
 *   reboot=kbd|cf9|acpi|triple   how action=reboot resets
 *   early=triple     triple-fault before any test
 *   reenter=linux64  (multiboot only) act as a 64-bit Linux boot loader for
 *                    ourselves: build boot_params and enter at 0x100200, so
 *                    the 64-bit entry path runs on loaders that lack it
 */
#include "testkernel.h"

extern int tests_passed, tests_failed;

static const char *boot_kind_name(enum boot_kind k)
{
    switch (k) {
    case BOOT_KIND_MULTIBOOT: return "multiboot";
    case BOOT_KIND_LINUX32: return "linux32";
    case BOOT_KIND_LINUX64: return "linux64";
    }
    return "?";
}

#define REENTER_BP 0x90000 /* boot_params, then the command line */

/* Enter ourselves through the 64-bit boot protocol entry (boot.rst, "64-bit
 * boot protocol"), passing on the memory map, command line and module 0. */
static void reenter_linux64(void)
{
    uint8_t *bp = (uint8_t *)REENTER_BP;
    char *cmd = (char *)(REENTER_BP + 0x1000);
    int n = boot.nmmap < 128 ? boot.nmmap : 128;

    memset(bp, 0, 0x1000);
    strncpy_z(cmd, boot.cmdline, CMDLINE_MAX);
    for (int i = 0; i < n; i++) {
        uint8_t *e = bp + 0x2d0 + 20 * i;
        memcpy(e, &boot.mmap[i].base, 8);
        memcpy(e + 8, &boot.mmap[i].len, 8);
        memcpy(e + 16, &boot.mmap[i].type, 4);
    }
    bp[0x1e8] = (uint8_t)n;
    *(uint16_t *)(bp + 0x1fe) = 0xaa55;
    memcpy(bp + 0x202, "HdrS", 4);
    bp[0x210] = 0xff;                            /* type_of_loader: undefined */
    *(uint32_t *)(bp + 0x228) = (uint32_t)(uint64_t)cmd;
    if (boot.nmods) {
        *(uint32_t *)(bp + 0x218) = (uint32_t)boot.mods[0].start;
        *(uint32_t *)(bp + 0x21c) = (uint32_t)(boot.mods[0].end - boot.mods[0].start);
    }
    *(uint64_t *)(bp + 0x70) = acpi.rsdp;
    printk("reenter: jumping to the 64-bit entry with boot_params at %x\n", REENTER_BP);
    __asm__ volatile("cli; jmp *%0" : : "r"(0x100200ull), "S"(bp) : "memory");
    __builtin_unreachable();
}

static bool selected(const char *name)
{
    const char *v;
    size_t len;

    if (!cmdline_get("test", &v, &len))
        return true;
    return cmdline_list_has("test", "all") || cmdline_list_has("test", name) ||
           (!strncmp(name, "cpus", 5) && cmdline_list_has("test", "smp"));
}

void kernel_main(enum boot_kind kind, uint64_t info, uint32_t magic);
void kernel_main(enum boot_kind kind, uint64_t info, uint32_t magic)
{
    const char *v;
    size_t len;

    uart_init();
    boot_info_init(kind, info, magic);
    printk("\nvireo testkernel: boot=%s loader=%s\n", boot_kind_name(kind),
           boot.loader ? boot.loader : "-");
    printk("cmdline: %s\n", boot.cmdline);
    if (cmdline_value_is("early", "triple")) {
        printk("early triple fault\n");
        triple_fault();
    }

    idt_init();
    pic_disable();
    acpi_init();
    if (kind == BOOT_KIND_MULTIBOOT && cmdline_value_is("reenter", "linux64"))
        reenter_linux64();
    lapic_init();

    if (selected("cmdline"))
        test_cmdline();
    if (selected("acpi"))
        test_acpi();
    if (selected("modules"))
        test_modules();
    if (selected("mem"))
        test_mem();
    if (selected("timer"))
        test_timer();
    if (selected("serial-irq"))
        test_serial_irq();
    if (selected("cpus"))
        test_cpus();

    printk("TESTKERNEL DONE pass=%d fail=%d\n", tests_passed, tests_failed);

    if (!cmdline_get("action", &v, &len) || cmdline_value_is("action", "exit"))
        debug_exit(tests_failed ? 1 : 0);
    if (cmdline_value_is("action", "poweroff"))
        power_off();
    if (cmdline_value_is("action", "reboot")) {
        static char how[16] = "kbd";
        if (cmdline_get("reboot", &v, &len) && len < sizeof(how)) {
            memcpy(how, v, len);
            how[len] = 0;
        }
        reboot(how);
    }
    if (cmdline_value_is("action", "triple"))
        triple_fault();
    if (cmdline_value_is("action", "echo")) {
        action_echo();
        debug_exit(tests_failed ? 1 : 0);
    }
    if (cmdline_value_is("action", "dirty")) {
        action_dirty();         /* returns only when it cannot run */
        debug_exit(1);
    }
    if (cmdline_value_is("action", "gdb"))
        action_gdb();
    if (cmdline_value_is("action", "blk"))
        action_blk();           /* reports, then leaves by debug-exit */
    if (cmdline_value_is("action", "exits"))
        action_exits();         /* reports, then leaves by debug-exit */
    if (cmdline_value_is("action", "halt")) {
        printk("halting\n");
        halt_forever();
    }
    printk("FAIL action: unknown action '%.*s'\n", (int)len, v);
    debug_exit(1);
}
