/*
 * The PIIX4 power-management function (82371AB function 3) the pc machine
 * has at 00:01.3: what the board and its fw_cfg need to know of it.
 */
#ifndef HW_ACPI_PIIX4_H
#define HW_ACPI_PIIX4_H

#include <stdint.h>

typedef struct Machine Machine;

#define PIIX4_PM_DEVFN_ADDR "1.3"   /* slot.function on pci.0, as QEMU's pc */

/*
 * The I/O base the machine's ACPI PM block (PM1a_EVT; CNT at +4, TMR at
 * +8) is decoded at: the PIIX4 PM function's PMBA while PMREGMISC.PMIOSE
 * is set, else X86_ACPI_PM_BASE (where SeaBIOS and direct boot put it).
 */
uint16_t piix4_pm_acpi_base(Machine *m);

#endif
