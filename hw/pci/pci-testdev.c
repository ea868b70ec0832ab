/*
 * pci-testdev: QEMU's PCI test device IDs and BARs (1b36:0005, class 0x00ff,
 * BAR0 4 KiB memory, BAR1 256 bytes of I/O), here as scratch registers
 * with two doorbells for tests of the PCI core:
 *   offset 0x00-0x07  scratch (read/write)
 *   offset 0x08       write: INTx level (needs intx=on), read: that level
 *   offset 0x0c       write N: MSI-X vector N (msix-vectors=), else MSI N
 * msix-vectors=N adds MSI-X in BAR2, msi=on an MSI capability; both are
 * off by default so that the device looks like QEMU's.
 */
#include "hw/i386/x86.h"
#include "hw/pci/pci.h"
#include "migration/vmstate.h"
#include "util/opts.h"

#define TESTDEV_SCRATCH     0x00
#define TESTDEV_INTX        0x08
#define TESTDEV_NOTIFY      0x0c

typedef struct PCITestDev {
    PCIDevice pci;
    uint32_t msix_vectors;
    bool msi;
    bool intx;
    MemoryRegion mmio, portio;
    PCIDeviceInfo info;
    uint64_t scratch;
    uint32_t intx_level;
} PCITestDev;

static uint64_t testdev_read(void *opaque, hwaddr addr, unsigned size)
{
    PCITestDev *s = opaque;

    if (addr < 8) {
        return s->scratch >> (addr * 8);
    }
    if (addr == TESTDEV_INTX) {
        return s->intx_level;
    }
    return 0;
}

static void testdev_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
    PCITestDev *s = opaque;

    if (addr < 8) {
        uint64_t mask = size == 8 ? ~0ULL : ((1ULL << (size * 8)) - 1);
        unsigned shift = addr * 8;
        s->scratch = (s->scratch & ~(mask << shift)) | ((val & mask) << shift);
    } else if (addr == TESTDEV_INTX) {
        s->intx_level = val != 0;
        pci_irq_set(&s->pci, s->intx_level);
    } else if (addr == TESTDEV_NOTIFY) {
        if (s->pci.msix_cap) {
            pci_msix_notify(&s->pci, val);
        } else if (s->pci.msi_cap) {
            pci_msi_notify(&s->pci, val);
        }
    }
}

static const MemoryRegionOps testdev_ops = {
    .read = testdev_read,
    .write = testdev_write,
    .impl_min = 1,
    .impl_max = 4,
};

static bool testdev_realize(Device *dev, Machine *m, GError **errp)
{
    PCITestDev *s = (PCITestDev *)dev;

    s->info = (PCIDeviceInfo){
        .vendor_id = 0x1b36, .device_id = 0x0005,
        .class_code = 0x00ff00,
        .interrupt_pin = s->intx ? 1 : 0,
    };
    if (s->msix_vectors > 2048) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "msix-vectors=%u: at most 2048", s->msix_vectors);
        return false;
    }
    if (!pci_device_init(&s->pci, m, &s->info, errp)) {
        return false;
    }
    memory_region_init_io(&s->mmio, "pci-testdev-mmio", &testdev_ops, s,
                          4096);
    memory_region_init_io(&s->portio, "pci-testdev-portio", &testdev_ops, s,
                          256);
    pci_register_bar(&s->pci, 0, 0, &s->mmio);
    pci_register_bar(&s->pci, 1, PCI_BASE_ADDRESS_SPACE_IO, &s->portio);
    /* no ROM of its own; romfile= gives it one */
    if (!pci_add_option_rom(&s->pci, NULL, errp)) {
        goto fail;
    }
    if (s->msi && !pci_msi_init(&s->pci, 0, 4, true, true, errp)) {
        goto fail;
    }
    if (s->msix_vectors &&
        !pci_msix_init_exclusive_bar(&s->pci, s->msix_vectors, 2, errp)) {
        goto fail;
    }
    return true;
fail:
    pci_device_uninit(&s->pci);
    memory_region_destroy(&s->mmio);
    memory_region_destroy(&s->portio);
    return false;
}

static void testdev_unrealize(Device *dev)
{
    PCITestDev *s = (PCITestDev *)dev;

    pci_device_uninit(&s->pci);
    memory_region_destroy(&s->mmio);
    memory_region_destroy(&s->portio);
}

static void testdev_reset(Device *dev)
{
    PCITestDev *s = (PCITestDev *)dev;

    s->scratch = 0;
    s->intx_level = 0;
    pci_device_reset(&s->pci);
}

/* ---- migration ---- */

static bool testdev_post_load(void *opaque, int version_id, GError **errp)
{
    PCITestDev *s = opaque;

    /* the doorbell stores 0 or 1, and drives the pin with it */
    if (s->intx_level > 1 || s->intx_level != s->pci.intx_level) {
        g_set_error(errp, VIREO_ERROR, 0, "INTx doorbell %u does not match "
                    "the pin's level %d", s->intx_level, s->pci.intx_level);
        return false;
    }
    return true;
}

static const VMStateField testdev_fields[] = {
    VMSTATE_STRUCT(pci, PCITestDev, vmstate_pci_device, PCIDevice),
    VMSTATE_UINT64(scratch, PCITestDev),
    VMSTATE_UINT32(intx_level, PCITestDev),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_testdev = {
    .name = "pci-testdev",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = testdev_fields,
    .post_load = testdev_post_load,
};

static const Property testdev_props[] = {
    PCI_DEVICE_PROPS(PCITestDev, pci),
    PROP_U32("msix-vectors", PCITestDev, msix_vectors, 0,
             "MSI-X vectors in BAR2 (0: no MSI-X)"),
    PROP_BOOL("msi", PCITestDev, msi, false, "on/off: MSI capability"),
    PROP_BOOL("intx", PCITestDev, intx, false, "on/off: INTA# pin"),
    PROP_END,
};

static DeviceClass pci_testdev_class = {
    .name = "pci-testdev",
    .desc = "PCI Test Device",
    .bus = "PCI",
    .parent = "pci-device",
    .instance_size = sizeof(PCITestDev),
    .props = testdev_props,
    .user_creatable = true,
    .realize = testdev_realize,
    .reset = testdev_reset,
    .unrealize = testdev_unrealize,
    .vmsd = &vmstate_testdev,
};
DEVICE_REGISTER(pci_testdev_class)
