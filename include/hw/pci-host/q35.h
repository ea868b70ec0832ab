/*
 * The q35 machine's PCI host: the Intel 3 Series (Q35) MCH at 00:00.0 with
 * PCIEXBAR/ECAM, PAM and SMRAM, on root bus "pcie.0", and the ICH9 LPC
 * bridge at 00:1f.0 (hw/isa/lpc_ich9.c).
 */
#ifndef HW_PCI_HOST_Q35_H
#define HW_PCI_HOST_Q35_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/pci/pci.h"

/* Where SeaBIOS, OVMF and direct boot put the ECAM window: QEMU's default. */
#define Q35_PCIEXBAR_DEFAULT    0xb0000000ULL
#define Q35_PCIEXBAR_SIZE_MAX   (256ULL << 20)
/* The first GSI of PIRQA-H on the IOAPIC (ICH9 5.9: APIC mode) */
#define Q35_PIRQ_GSI_BASE       16

/*
 * Creates the host (ports 0xcf8/0xcfc and the ECAM window, bus pcie.0),
 * the MCH at 00:00.0 and the ICH9 LPC bridge at 00:1f.0.
 */
bool q35_create(Machine *m, GError **errp);

/*
 * The PIRQ (0-7 = A-H) a device's pin reaches on pcie.0: slots 0-23 rotate
 * PIRQE-H, slots 24-31 (the ICH9's own functions) take PIRQA-D by pin, as
 * QEMU's q35 DSDT says. -1 for no pin.
 */
int q35_slot_pirq(unsigned slot, int pin);

#endif
