/*
 * ACPI for the PC machines: what the table builder (hw/i386/acpi_build.c)
 * and the PM register device (hw/acpi/pm.c, type "acpi-pm") must agree on,
 * and the power button a monitor command presses.
 */
#ifndef HW_I386_ACPI_H
#define HW_I386_ACPI_H

#include <stdbool.h>

typedef struct Machine Machine;

/*
 * SLP_TYP for S5 in \_S5_ and the value acpi-pm accepts in PM1a_CNT. Any
 * value works as long as both agree; 5 mirrors the state number.
 */
#define ACPI_S5_SLP_TYP 5
#define ACPI_SCI_IRQ 9        /* ISA IRQ and GSI, level, high */
#define ACPI_RESET_PORT 0xcf9 /* FADT RESET_REG (I/O, 8 bits) */
#define ACPI_RESET_VALUE 0x06 /* SYS_RST | RST_CPU: hard reset */

/*
 * Sets PWRBTN_STS in the machine's acpi-pm device, raising the SCI if the
 * guest enabled it (system_powerdown). False if the machine has no acpi-pm.
 */
bool acpi_pm_power_button(Machine *m);

#endif
