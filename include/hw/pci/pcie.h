/*
 * PCI Express pieces shared by Express functions and hosts (PCI Express
 * Base 3.0): the PCI Express capability (7.8) and the enhanced
 * configuration access mechanism, ECAM (7.2.2), that reaches the 4 KiB
 * configuration space of every function through one memory window.
 */
#ifndef HW_PCI_PCIE_H
#define HW_PCI_PCIE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/pci/pci.h"

#define PCI_CAP_ID_EXP          0x10

/* 7.8: the PCI Express capability structure, offsets from its start */
#define PCI_EXP_FLAGS           0x02    /* PCI Express Capabilities */
#define  PCI_EXP_FLAGS_VER2     0x0002
#define  PCI_EXP_FLAGS_TYPE_SHIFT 4
#define  PCI_EXP_FLAGS_SLOT     0x0100  /* Slot Implemented */
#define PCI_EXP_TYPE_ENDPOINT   0x0
#define PCI_EXP_TYPE_ROOT_PORT  0x4
#define PCI_EXP_DEVCAP          0x04
#define  PCI_EXP_DEVCAP_RBER    0x00008000
#define PCI_EXP_DEVCTL          0x08
#define PCI_EXP_DEVSTA          0x0a
#define PCI_EXP_LNKCAP          0x0c
#define  PCI_EXP_LNKCAP_SLS_2_5GB 0x00000001
#define  PCI_EXP_LNKCAP_MLW_X1  0x00000010
#define  PCI_EXP_LNKCAP_DLLLARC 0x00100000
#define  PCI_EXP_LNKCAP_PN_SHIFT 24
#define PCI_EXP_LNKCTL          0x10
#define PCI_EXP_LNKSTA          0x12
#define  PCI_EXP_LNKSTA_CLS_2_5GB 0x0001
#define  PCI_EXP_LNKSTA_NLW_X1  0x0010
#define  PCI_EXP_LNKSTA_DLLLA   0x2000  /* Data Link Layer Link Active */
#define PCI_EXP_SLTCAP          0x14
#define  PCI_EXP_SLTCAP_PSN_SHIFT 19
#define PCI_EXP_SLTCTL          0x18
#define PCI_EXP_SLTSTA          0x1a
#define  PCI_EXP_SLTSTA_PDS     0x0040  /* Presence Detect State */
#define PCI_EXP_RTCTL           0x1c
#define PCI_EXP_RTCAP           0x1e
#define PCI_EXP_RTSTA           0x20
#define  PCI_EXP_RTSTA_PME      0x00010000
#define PCI_EXP_DEVCAP2         0x24
#define PCI_EXP_DEVCTL2         0x28
#define PCI_EXP_LNKCAP2         0x2c
#define  PCI_EXP_LNKCAP2_SLS_2_5GB 0x00000002
#define PCI_EXP_LNKCTL2         0x30
#define PCI_EXP_LNKSTA2         0x32
#define PCI_EXP_CAP_SIZE        0x3c    /* a version 2 structure */

/*
 * Adds the PCI Express capability (version 2) for a function of the given
 * device/port type with its writable control fields; a root or downstream
 * port gets the root and slot registers, port_num in Link Capabilities.
 * Returns its offset, or 0 with an error.
 */
uint8_t pcie_cap_init(PCIDevice *d, uint8_t offset, uint8_t type,
                      uint8_t port_num, GError **errp);
/* Marks the port's slot as implemented, with physical slot number slot. */
void pcie_cap_slot_init(PCIDevice *d, uint16_t slot);
/* Presence Detect State and Data Link Layer Link Active of a port. */
void pcie_cap_set_link(PCIDevice *d, bool present);

/*
 * ECAM: the function of configuration address off (bus 27:20, device
 * 19:15, function 14:12, register 11:0) below root. Accesses of 1, 2 or 4
 * bytes within one dword reach the function; others, absent functions and
 * registers beyond a function's configuration space read all-ones and
 * drop writes (7.2.2.2).
 */
uint32_t pcie_ecam_read(PCIBus *root, uint64_t off, unsigned size);
void pcie_ecam_write(PCIBus *root, uint64_t off, uint32_t val, unsigned size);

#endif
