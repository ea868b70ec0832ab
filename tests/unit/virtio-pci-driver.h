/*
 * The driver's side of a virtio-pci function in slot 2 of the PCI test
 * machine (pci-machine.h): where its BARs are mapped, a ring in low RAM,
 * MSI-X set-up, and running the main loop for ioeventfd kicks.
 */
#ifndef TESTS_UNIT_VIRTIO_PCI_DRIVER_H
#define TESTS_UNIT_VIRTIO_PCI_DRIVER_H

#include "hw/virtio/virtio-pci.h"
#include "pci-machine.h"

#define DEVFN       PCI_DEVFN(2, 0)   /* the first free slot on pc */
#define BAR4_ADDR   0xe0000000ULL
#define MSIX_ADDR   0xe0100000ULL
#define COMMON      (BAR4_ADDR + VIRTIO_PCI_COMMON_OFFSET)
#define ISR         (BAR4_ADDR + VIRTIO_PCI_ISR_OFFSET)
#define DEVCFG      (BAR4_ADDR + VIRTIO_PCI_DEVICE_OFFSET)
#define NOTIFY      (BAR4_ADDR + VIRTIO_PCI_NOTIFY_OFFSET)
#define DESC        0x10000
#define AVAIL       0x11000
#define USED        0x12000
#define BUF         0x13000
#define MSI_ADDR    0xfee00000u

/* Runs what the main loop has ready: the queues' eventfd handlers. */
static inline void main_loop_run_pending(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

/* The ioeventfds of the memory view at addr. */
static inline unsigned view_eventfds_at(Fixture *f, hwaddr addr)
{
    FlatView *v = f->m.as_mem.view;
    unsigned n = 0;

    for (size_t i = 0; i < v->nr_ioeventfds; i++) {
        n += v->ioeventfds[i].addr == addr;
    }
    return n;
}

/* Maps the BARs as firmware or Linux would, decoding and bus master on. */
static inline void map_bars(Fixture *f)
{
    cfg_write(f, DEVFN, PCI_BASE_ADDRESS_0 + 4 * VIRTIO_PCI_MEM_BAR, 4,
              (uint32_t)BAR4_ADDR);
    cfg_write(f, DEVFN, PCI_BASE_ADDRESS_0 + 4 * VIRTIO_PCI_MEM_BAR + 4, 4,
              BAR4_ADDR >> 32);
    cfg_write(f, DEVFN, PCI_BASE_ADDRESS_0 + 4 * VIRTIO_PCI_MSIX_BAR, 4,
              MSIX_ADDR);
    cfg_write(f, DEVFN, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* MSI-X on; vector v sends data 0x40 + v, unmasked. */
static inline void enable_msix(Fixture *f, unsigned nvec)
{
    uint8_t cap = pci_find_capability(
        pci_bus_get_device(pci_bus_find(&f->m, NULL), DEVFN),
        PCI_CAP_ID_MSIX);

    g_assert_cmpuint(cap, !=, 0);
    for (unsigned v = 0; v < nvec; v++) {
        mem_st(f, MSIX_ADDR + 16 * v, 4, MSI_ADDR);
        mem_st(f, MSIX_ADDR + 16 * v + 4, 4, 0);
        mem_st(f, MSIX_ADDR + 16 * v + 8, 4, 0x40 + v);
        mem_st(f, MSIX_ADDR + 16 * v + 12, 4, 0);
    }
    cfg_write(f, DEVFN, cap + 2, 2, 0x8000);
}

#endif
