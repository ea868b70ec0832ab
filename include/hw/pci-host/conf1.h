/*
 * PCI configuration mechanism #1 (PCI 3.0, 3.2.2.3.2): CONFIG_ADDRESS at
 * 0xcf8 and CONFIG_DATA at 0xcfc, as the i440FX and the Q35 MCH decode
 * them; registers 0-0xff of any bus the bridges' numbers reach.
 */
#ifndef HW_PCI_HOST_CONF1_H
#define HW_PCI_HOST_CONF1_H

#include "hw/pci/pci.h"
#include "migration/vmstate.h"

typedef struct PCIConf1 {
    Machine *m;                 /* NULL until pci_conf1_init */
    PCIBus *bus;                /* the root bus */
    uint32_t config_address;
    MemoryRegion conf, data;
} PCIConf1;

void pci_conf1_init(PCIConf1 *c, Machine *m, PCIBus *bus);
void pci_conf1_fini(PCIConf1 *c);
/* For a host's post_load: a loaded CONFIG_ADDRESS with reserved bits. */
bool pci_conf1_check(PCIConf1 *c, GError **errp);

/* The host's state field: CONFIG_ADDRESS of its PCIConf1 member f. */
#define VMSTATE_PCI_CONF1(f, st) {                                          \
    .name = "config_address", .kind = VMS_UINT32,                           \
    .offset = offsetof(st, f.config_address) +                              \
              VMS_TYPE_CHECK(uint32_t, st, f.config_address),               \
    .size = sizeof(uint32_t), .num = 1, .version_id = 1 }

#endif
