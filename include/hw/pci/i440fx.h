/* The pc machine's PCI host: i440FX with configuration mechanism #1. */
#ifndef HW_PCI_I440FX_H
#define HW_PCI_I440FX_H

#include <glib.h>
#include <stdbool.h>

#include "hw/pci/pci.h"

/*
 * Creates the host (ports 0xcf8/0xcfc, bus pci.0), the host bridge at
 * 00:00.0 and the PIIX3 ISA bridge at 00:01.0.
 */
bool i440fx_create(Machine *m, GError **errp);

/* GSI of a device's pin on pc: PIRQ (pin + slot - 2) mod 4 -> 10,10,11,11. */
int i440fx_route_intx(PCIDevice *d, int pin);

#endif
