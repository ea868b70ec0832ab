/*
 * Conventional PCI (PCI Local Bus 3.0, PCI-to-PCI is not modelled): buses,
 * the 256-byte type-0 configuration header with write masks, BARs mapped
 * through the memory API, INTx routed by the host bridge to GSIs, and the
 * MSI and MSI-X capabilities (PCI 3.0 chapter 6.8).
 *
 * A PCI device type is a DeviceClass with .bus = "PCI" and .parent =
 * "pci-device" whose instance begins with a PCIDevice, whose properties
 * include PCI_DEVICE_PROPS, and whose realize calls pci_device_init()
 * (unrealize: pci_device_uninit(), reset: pci_device_reset()).
 */
#ifndef HW_PCI_PCI_H
#define HW_PCI_PCI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "system/memory.h"

/* PCI 3.0 6.1: the type-0 configuration header */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define  PCI_COMMAND_IO         0x0001
#define  PCI_COMMAND_MEMORY     0x0002
#define  PCI_COMMAND_MASTER     0x0004
#define  PCI_COMMAND_PARITY     0x0040
#define  PCI_COMMAND_SERR       0x0100
#define  PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS              0x06
#define  PCI_STATUS_INTERRUPT   0x0008
#define  PCI_STATUS_CAP_LIST    0x0010
#define  PCI_STATUS_W1C         0xf900  /* error bits: write 1 to clear */
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CLASS_DEVICE        0x0a
#define PCI_CACHE_LINE_SIZE     0x0c
#define PCI_LATENCY_TIMER       0x0d
#define PCI_HEADER_TYPE         0x0e
#define  PCI_HEADER_TYPE_MULTI_FUNCTION 0x80
#define PCI_BASE_ADDRESS_0      0x10
#define  PCI_BASE_ADDRESS_SPACE_IO     0x01
#define  PCI_BASE_ADDRESS_MEM_TYPE_64  0x04
#define  PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_ROM_ADDRESS         0x30
#define PCI_CAPABILITY_LIST     0x34
#define  PCI_ROM_ADDRESS_ENABLE 0x01
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

/* PCI-to-PCI Bridge 1.2, 3.2: the type-1 header (bridges) */
#define  PCI_HEADER_TYPE_BRIDGE 0x01
#define PCI_PRIMARY_BUS         0x18
#define PCI_SECONDARY_BUS       0x19
#define PCI_SUBORDINATE_BUS     0x1a
#define PCI_SEC_LATENCY_TIMER   0x1b
#define PCI_IO_BASE             0x1c
#define PCI_IO_LIMIT            0x1d
#define PCI_SEC_STATUS          0x1e
#define PCI_MEMORY_BASE         0x20
#define PCI_MEMORY_LIMIT        0x22
#define PCI_PREF_MEMORY_BASE    0x24
#define PCI_PREF_MEMORY_LIMIT   0x26
#define  PCI_PREF_RANGE_TYPE_64 0x0001
#define PCI_PREF_BASE_UPPER32   0x28
#define PCI_PREF_LIMIT_UPPER32  0x2c
#define PCI_IO_BASE_UPPER16     0x30
#define PCI_IO_LIMIT_UPPER16    0x32
#define PCI_BRIDGE_CONTROL      0x3e

#define PCI_CONFIG_HEADER_SIZE  0x40
#define PCI_CONFIG_SPACE_SIZE   0x100
/* PCI Express 7.2.2: 4 KiB per function, 0x100 up reachable only by ECAM */
#define PCIE_CONFIG_SPACE_SIZE  0x1000
#define PCI_NUM_BARS            6
#define PCI_ROM_SLOT            6       /* bars[] index of the expansion ROM */
#define PCI_NUM_REGIONS         7
#define PCI_BAR_UNMAPPED        (~(uint64_t)0)

/* Capability IDs (PCI 3.0 appendix H) */
#define PCI_CAP_ID_MSI          0x05
#define PCI_CAP_ID_VNDR         0x09
#define PCI_CAP_ID_MSIX         0x11

#define PCI_DEVFN(slot, fn)     ((((slot) & 0x1f) << 3) | ((fn) & 7))
#define PCI_SLOT(devfn)         (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn)         ((devfn) & 7)

/* QEMU's default subsystem IDs (Red Hat / QEMU), used when a type sets none */
#define PCI_SUBVENDOR_ID_REDHAT_QUMRANET 0x1af4
#define PCI_SUBDEVICE_ID_QEMU   0x1100

typedef struct PCIBus PCIBus;
typedef struct PCIDevice PCIDevice;

/* What a device type puts in its header; the rest is the core's. */
typedef struct PCIDeviceInfo {
    uint16_t vendor_id, device_id;
    uint8_t revision;
    uint32_t class_code;        /* class << 16 | subclass << 8 | prog-if */
    uint16_t subsystem_vendor_id, subsystem_id; /* 0, 0: QEMU's defaults */
    uint8_t interrupt_pin;      /* 0: none, 1-4: INTA#-INTD# */
    /*
     * Optional: called after the core applied a config write (masks,
     * BARs, MSI/MSI-X), with the dword-relative address and length the
     * guest used; for device-specific registers and capabilities.
     */
    void (*config_write)(PCIDevice *d, uint32_t addr, uint32_t val,
                         unsigned len);
    /*
     * Optional: called before a config read of addr/len is answered from
     * d->config, for registers whose value the device computes.
     */
    void (*config_read)(PCIDevice *d, uint32_t addr, unsigned len);
    /*
     * A PCI Express function: its configuration space is 4 KiB; offsets
     * 0x100-0xfff (ext_config) are reached through the host's ECAM window.
     */
    bool express;
} PCIDeviceInfo;

typedef struct PCIBar {
    MemoryRegion *mr;           /* NULL: BAR not implemented */
    uint64_t size;
    uint8_t type;               /* PCI_BASE_ADDRESS_* low bits */
    uint64_t addr;              /* where mapped, or PCI_BAR_UNMAPPED */
} PCIBar;

struct PCIDevice {
    Device qdev;
    /* properties (PCI_DEVICE_PROPS) */
    char *addr_prop;            /* "SLOT[.FN]", NULL: first free slot */
    char *bus_prop;             /* "pci.0", NULL: the machine's bus */
    bool multifunction;
    char *romfile;              /* option ROM: NULL default, "" none */

    const PCIDeviceInfo *info;
    PCIBus *bus;                /* NULL until pci_device_init */
    uint8_t devfn;
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE];   /* guest-writable bits */
    uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE]; /* write-1-to-clear bits */
    uint8_t used[PCI_CONFIG_SPACE_SIZE];    /* bytes taken by capabilities */
    PCIBar bars[PCI_NUM_REGIONS];
    MemoryRegion rom;           /* pci_add_option_rom's image */
    bool intx_level;            /* the device's own INTx# */
    bool intx_asserted;         /* as seen by the bus (after INTX_DISABLE) */

    uint8_t msi_cap;            /* 0: no MSI */
    uint8_t msix_cap;           /* 0: no MSI-X */
    uint16_t msix_nvec;
    int msix_bar;
    uint8_t *msix_table;        /* msix_nvec * 16 bytes */
    uint8_t *msix_pba;
    uint8_t *msix_masked;       /* last masked state told, per vector */
    MemoryRegion msix_table_mr, msix_pba_mr;
    MemoryRegion msix_exclusive_bar;
    bool msix_has_exclusive_bar;
    /*
     * Optional: told when the guest masks or unmasks an MSI-X vector (or
     * the whole function), e.g. to attach or detach an irqfd route.
     */
    void (*msix_mask_notify)(PCIDevice *d, unsigned vector, bool masked);
    /*
     * Migration: the configuration space a stream carries, which
     * vmstate_pci_device's post_load checks against the device's own
     * read-only bytes before it replaces config.
     */
    uint8_t vms_config[PCI_CONFIG_SPACE_SIZE];
    /*
     * Express functions (info->express): bytes 0x100-0xfff of config
     * space and their write mask, else NULL (reads are all-ones there).
     */
    uint8_t *ext_config;
    uint8_t *ext_wmask;
    /* A bridge's secondary bus (hw/pci/pcie_root_port.c), else NULL. */
    PCIBus *secondary;
};

#define PCI_DEVICE_PROPS(st, f)                                             \
    PROP_STR("addr", st, f.addr_prop, NULL,                                 \
             "slot[.function] on the bus (e.g. 3 or 0x3.1)"),               \
    PROP_STR("bus", st, f.bus_prop, NULL, "the PCI bus (pci.0)"),           \
    PROP_BOOL("multifunction", st, f.multifunction, false,                  \
              "on/off: header says multi-function"),                        \
    PROP_STR("romfile", st, f.romfile, NULL,                                \
             "option ROM file (\"\": none)")

/* --- buses (made by a host bridge) --- */

/*
 * Maps a device's interrupt pin (1-4 = INTA#-INTD#) to the GSI it ends in
 * on this board, or -1 for none.
 */
typedef int PCIRouteIntx(PCIDevice *d, int pin);

/*
 * A bus whose memory BARs map into mem and I/O BARs into io (both normally
 * the machine's roots), at a priority below RAM and the board's devices.
 */
PCIBus *pci_bus_new(Machine *m, const char *name, MemoryRegion *mem,
                    MemoryRegion *io, PCIRouteIntx *route);
/* Unmaps the BARs of the devices still on it and detaches them. */
void pci_bus_free(PCIBus *bus);
/* The machine's bus of that name (NULL: its first bus), or NULL. */
PCIBus *pci_bus_find(Machine *m, const char *name);
const char *pci_bus_name(PCIBus *bus);
Machine *pci_bus_machine(PCIBus *bus);
/* The device at devfn, or NULL. */
PCIDevice *pci_bus_get_device(PCIBus *bus, unsigned devfn);
/* Mechanism #1 / host side: config access to devfn (absent: all-ones). */
uint32_t pci_bus_config_read(PCIBus *bus, unsigned devfn, uint32_t addr,
                             unsigned len);
void pci_bus_config_write(PCIBus *bus, unsigned devfn, uint32_t addr,
                          uint32_t val, unsigned len);
/*
 * The bus that bus number busnr names below root (bus 0): root itself, or
 * the secondary bus of the bridge whose secondary bus number register says
 * busnr, found through the bridges' secondary..subordinate ranges. NULL:
 * no bus has that number (the access master-aborts).
 */
PCIBus *pci_bus_by_number(PCIBus *root, unsigned busnr);
/* The kinds of address space a bridge forwards. */
typedef enum PCIWindow {
    PCI_WINDOW_IO,
    PCI_WINDOW_MEM,
    PCI_WINDOW_PREF,        /* prefetchable memory */
} PCIWindow;
/*
 * The range [*base, *limit] a bridge's type-1 header forwards for w
 * (PCI-to-PCI Bridge 1.2, 3.2.5.6-9); base > limit means none.
 */
void pci_bridge_window(const PCIDevice *bridge, PCIWindow w, uint64_t *base,
                       uint64_t *limit);
/* The bridge a secondary bus hangs off (NULL for a root bus). */
PCIDevice *pci_bus_parent(PCIBus *bus);
void pci_bus_set_parent(PCIBus *bus, PCIDevice *bridge);
/* The GSI d's pin reaches through its bus's routing, or -1. */
int pci_route_intx(PCIDevice *d, int pin);
/* The size of d's configuration space: 256, or 4096 for Express. */
uint32_t pci_config_size(PCIDevice *d);
/* The GSI level the bus asks for (count of asserting devices), for tests. */
int pci_bus_gsi_count(PCIBus *bus, int gsi);

/* --- devices --- */

/*
 * From a device's realize: places it on its bus (bus=, addr= properties)
 * and fills the header from info. Fails with a message naming the slot
 * if the address is taken or malformed.
 */
bool pci_device_init(PCIDevice *d, Machine *m, const PCIDeviceInfo *info,
                     GError **errp);
void pci_device_uninit(PCIDevice *d);
/* Power-on state: decoding off, BARs unmapped, MSI/MSI-X off, INTx low. */
void pci_device_reset(PCIDevice *d);

/*
 * Declares BAR bar backed by mr (an I/O region or a container of them);
 * the BAR's size is mr->size, a power of two (>= 4 for I/O, >= 16 for
 * memory). type: PCI_BASE_ADDRESS_SPACE_IO, or 0 for 32-bit memory with
 * PCI_BASE_ADDRESS_MEM_TYPE_64 and PCI_BASE_ADDRESS_MEM_PREFETCH as
 * wanted (a 64-bit BAR takes bar and bar + 1). The core maps it where the
 * guest programs it while the command register enables decoding.
 */
void pci_register_bar(PCIDevice *d, int bar, uint8_t type, MemoryRegion *mr);
/*
 * Gives the device an expansion ROM BAR (PCI 3.0 6.2.5.2) holding the
 * firmware file default_name, or the file of its romfile= property; a
 * romfile="" means none. The image is read-only to the guest and rounded
 * up to a power of two. A missing file is an error naming its package.
 */
bool pci_add_option_rom(PCIDevice *d, const char *default_name,
                        GError **errp);

/* The address the BAR is mapped at, or PCI_BAR_UNMAPPED. */
uint64_t pci_bar_address(PCIDevice *d, int bar);

/*
 * Adds a capability of size bytes to the list (offset 0: the first free
 * dword-aligned place after the header) and returns its offset, or 0 with
 * an error if it does not fit or overlaps another one. Only its ID and
 * next pointer are filled; the caller sets its wmask for writable fields.
 */
uint8_t pci_add_capability(PCIDevice *d, uint8_t cap_id, uint8_t offset,
                           uint8_t size, GError **errp);
/* Offset of the first capability with that ID, or 0. */
uint8_t pci_find_capability(PCIDevice *d, uint8_t cap_id);

/* Config-space defaults (what a guest access does, minus the device hook). */
uint32_t pci_default_config_read(PCIDevice *d, uint32_t addr, unsigned len);
void pci_default_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                              unsigned len);

/* Little-endian helpers on config (or any byte array). */
static inline void pci_set_byte(uint8_t *p, uint8_t v) { p[0] = v; }
static inline void pci_set_word(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}
static inline void pci_set_long(uint8_t *p, uint32_t v)
{
    pci_set_word(p, v);
    pci_set_word(p + 2, v >> 16);
}
static inline uint16_t pci_get_word(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}
static inline uint32_t pci_get_long(const uint8_t *p)
{
    return pci_get_word(p) | (uint32_t)pci_get_word(p + 2) << 16;
}

/* Whether a config write of len bytes at addr touches registers reg..+n. */
static inline bool pci_config_touches(uint32_t addr, unsigned len,
                                      uint32_t reg, unsigned n)
{
    return addr < reg + n && reg < addr + len;
}

/* --- interrupts --- */

/* Drives the device's INTx# pin (the one info->interrupt_pin names). */
void pci_irq_set(PCIDevice *d, int level);

/*
 * An MSI write as the platform receives it: through the accelerator's
 * send_msi (KVM_SIGNAL_MSI, or the userspace LAPICs); an address outside
 * the 0xfeeXXXXX window is an ordinary memory write, as on hardware.
 */
void pci_msi_send(Machine *m, uint64_t addr, uint32_t data);

/* MSI capability with nvec (1, 2, 4, ..., 32) vectors; offset as above. */
bool pci_msi_init(PCIDevice *d, uint8_t offset, unsigned nvec, bool is_64,
                  bool per_vector_mask, GError **errp);
bool pci_msi_enabled(PCIDevice *d);
/* Sends vector (of those the guest enabled), or marks it pending if masked. */
void pci_msi_notify(PCIDevice *d, unsigned vector);

/*
 * MSI-X with nvec vectors (1-2048): the table at table_offset and the PBA
 * at pba_offset of BAR bar_nr, whose region bar_mr (a container the caller
 * registers with pci_register_bar) receives them as subregions.
 */
bool pci_msix_init(PCIDevice *d, unsigned nvec, MemoryRegion *bar_mr,
                   int bar_nr, uint32_t table_offset, uint32_t pba_offset,
                   uint8_t cap_offset, GError **errp);
/* The same in a BAR of its own (32-bit memory), as QEMU's virtio does. */
bool pci_msix_init_exclusive_bar(PCIDevice *d, unsigned nvec, int bar_nr,
                                 GError **errp);
bool pci_msix_enabled(PCIDevice *d);
/* Whether vector is masked (its own mask bit or the function mask). */
bool pci_msix_is_masked(PCIDevice *d, unsigned vector);
/* The message the guest programmed into the vector's table entry. */
void pci_msix_get_message(PCIDevice *d, unsigned vector, uint64_t *addr,
                          uint32_t *data);
/* Sends vector, or sets its pending bit while it is masked. */
void pci_msix_notify(PCIDevice *d, unsigned vector);

/* --- migration --- */

/*
 * The state of a PCI function, for the description of a device that
 * embeds a PCIDevice (VMSTATE_STRUCT(pci, MyState, vmstate_pci_device,
 * PCIDevice)): the 256 configuration bytes, the INTx# level and the MSI-X
 * table with its pending bits. What the device decides itself is checked,
 * never taken from the stream: every bit the guest cannot write (outside
 * wmask, w1cmask and the bits the core sets: the status interrupt bit, MSI
 * pending bits) must equal the device's own, so IDs, capability pointers
 * and BAR types stay the device's; the MSI-X vector count must be the
 * device's. Loading then maps the BARs where the loaded configuration
 * puts them, drives INTx# to the bus again and tells msix_mask_notify of
 * every vector whose mask state changed. Device-specific state (the
 * registers behind the BARs) is the embedding description's.
 */
extern const VMStateDescription vmstate_pci_device;

/* --- monitor --- */

/* QEMU's class description ("Host bridge"), or NULL. */
const char *pci_class_desc(uint16_t cls);

#endif
