/* What pci.c and msi.c share and no device needs. */
#ifndef HW_PCI_PCI_INTERNAL_H
#define HW_PCI_PCI_INTERNAL_H

#include "hw/i386/x86.h"
#include "hw/pci/pci.h"
#include "migration/vmstate.h"

struct PCIBus {
    Machine *m;
    char *name;
    MemoryRegion *mem, *io;
    PCIRouteIntx *route;
    PCIDevice *parent;          /* the bridge above, NULL for a root bus */
    PCIDevice *devices[256];    /* by devfn */
    int gsi_count[X86_NUM_GSI]; /* devices asserting each GSI */
};

void pci_update_mappings(PCIDevice *d);
void pci_unmap_bars(PCIDevice *d);
/* After a config write of [addr, addr + len): MSI and MSI-X side effects. */
void pci_msi_config_write(PCIDevice *d, uint32_t addr, unsigned len);
void pci_msi_reset(PCIDevice *d);
void pci_msix_uninit(PCIDevice *d);

/* Migration (msi.c): the MSI-X vectors, as vmstate_pci_device's "msix". */
extern const VMStateInfo vmstate_info_pci_msix;
/*
 * Sets in mask[] the configuration bits the MSI capability changes by
 * itself (the pending bits of the vectors it advertises), which a stream
 * may carry although the guest cannot write them.
 */
void pci_msi_dynamic_bits(PCIDevice *d, uint8_t *mask);

#endif
