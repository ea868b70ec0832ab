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
 *   action=exit|poweroff|reboot|echo|halt|triple   what to do afterwards
 *                    (default exit: isa-debug-exit 0 on success, 1 on failure)
 *   reboot=kbd|cf9|triple   how action=reboot resets
 *   early=triple     triple-fault before any test
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
    if (cmdline_value_is("action", "halt")) {
        printk("halting\n");
        halt_forever();
    }
    printk("FAIL action: unknown action '%.*s'\n", (int)len, v);
    debug_exit(1);
}
