/* Ways out: isa-debug-exit, ACPI S5, the reset paths, and halting. */
#include "testkernel.h"

#define DEBUG_EXIT_PORT 0xf4

void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* QEMU's isa-debug-exit: the VMM exits with status (code << 1) | 1. */
void debug_exit(uint32_t code)
{
    uint64_t dl;

    outl(DEBUG_EXIT_PORT, code);
    /* a VMM may finish the vCPU's current run before it exits */
    dl = deadline_after_ms(2000);
    while (!deadline_passed(dl))
        cpu_relax();
    printk("note: isa-debug-exit at 0x%x did not stop the VM\n", DEBUG_EXIT_PORT);
    halt_forever();
}

static void gas_write(const struct acpi_gas *g, uint8_t v)
{
    if (g->space == 0)
        *(volatile uint8_t *)g->address = v;
    else if (g->space == 1)
        outb((uint16_t)g->address, v);
}

/* ACPI S5: SLP_TYP from \_S5_, SLP_EN; PM1a_CNT or the HW-reduced sleep
 * control register (ACPI 6.x §4.8.3.7). */
void power_off(void)
{
    uint64_t dl;
    int typ = acpi.s5_typ;

    if (typ < 0) {
        printk("FAIL poweroff: no \\_S5_ package in the DSDT\n");
        debug_exit(1);
    }
    if ((acpi.fadt_flags & (1u << 20)) && acpi.sleep_control.address) {
        printk("poweroff: sleep control %lx <- SLP_TYP %d\n",
               (unsigned long)acpi.sleep_control.address, typ);
        gas_write(&acpi.sleep_control, (uint8_t)((typ & 7) << 2 | 1 << 5));
    } else if (acpi.pm1a_cnt) {
        printk("poweroff: PM1a_CNT %x <- SLP_TYP %d\n", acpi.pm1a_cnt, typ);
        outw((uint16_t)acpi.pm1a_cnt, (uint16_t)((typ & 7) << 10 | 1 << 13));
    } else {
        printk("FAIL poweroff: FADT has no PM1a_CNT or sleep control register\n");
        debug_exit(1);
    }
    dl = deadline_after_ms(3000);
    while (!deadline_passed(dl))
        cpu_relax();
    printk("FAIL poweroff: still running\n");
    debug_exit(1);
}

/* An empty IDT turns the first exception into a triple fault. */
void triple_fault(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty = { 0, 0 };
    __asm__ volatile("lidt %0; ud2" : : "m"(empty));
    halt_forever();
}

/* how: "kbd" (8042 pulse, default), "cf9" (PIIX reset control), "acpi"
 * (FADT RESET_REG), "triple" */
void reboot(const char *how)
{
    uint64_t dl;

    printk("reboot: %s\n", how);
    if (!strncmp(how, "cf9", 4)) {
        outb(0xcf9, 0x02);
        outb(0xcf9, 0x06);
    } else if (!strncmp(how, "acpi", 5)) {
        if (!acpi.reset_reg.address) {
            printk("FAIL reboot: FADT has no reset register\n");
            debug_exit(1);
        }
        gas_write(&acpi.reset_reg, acpi.reset_value);
    } else if (!strncmp(how, "triple", 7)) {
        triple_fault();
    } else {
        outb(0x64, 0xfe);
    }
    dl = deadline_after_ms(3000);
    while (!deadline_passed(dl))
        cpu_relax();
    printk("FAIL reboot: %s reset did not happen\n", how);
    debug_exit(1);
}
