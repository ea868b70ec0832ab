/*
 * PCI configuration mechanism #1: a CONFIG_ADDRESS dword names bus,
 * device, function and register; CONFIG_DATA reads and writes that
 * register, at the same offset as ECAM would.
 */
#include "hw/i386/x86.h"
#include "hw/pci-host/conf1.h"
#include "hw/pci/pcie.h"
#include "util/opts.h"

#define PCI_CONFIG_ADDRESS  0xcf8
#define PCI_CONFIG_DATA     0xcfc
#define  CONFIG_ADDRESS_ENABLE 0x80000000u

/*
 * CONFIG_ADDRESS is only a dword at 0xcf8; other accesses to it are not
 * the host bridge's (all-ones, dropped), as in QEMU. The reset control
 * byte at 0xcf9 lies above this region and takes the byte accesses there.
 */
static uint64_t conf_read(void *opaque, hwaddr addr, unsigned size)
{
    PCIConf1 *c = opaque;

    return addr == 0 && size == 4 ? c->config_address : UINT64_MAX;
}

static void conf_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    PCIConf1 *c = opaque;

    if (addr == 0 && size == 4) {
        /* bits 1:0 are reserved and read back as 0 */
        c->config_address = val & ~3u;
    }
}

static const MemoryRegionOps conf_ops = {
    .read = conf_read,
    .write = conf_write,
    .impl_min = 1,
    .impl_max = 4,
};

/* The ECAM offset of the register CONFIG_DATA + addr reaches, if enabled. */
static bool data_target(PCIConf1 *c, hwaddr addr, unsigned size,
                        uint64_t *ecam_off)
{
    uint32_t a = c->config_address;

    if (!(a & CONFIG_ADDRESS_ENABLE) || addr + size > 4) {
        return false;
    }
    *ecam_off = (uint64_t)((a >> 16) & 0xff) << 20 |
                (uint64_t)((a >> 8) & 0xff) << 12 | ((a & 0xfc) + addr);
    return true;
}

/* Nothing there: a master abort reads all-ones. */
static uint64_t data_read(void *opaque, hwaddr addr, unsigned size)
{
    PCIConf1 *c = opaque;
    uint64_t off;

    if (!data_target(c, addr, size, &off)) {
        return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
    }
    return pcie_ecam_read(c->bus, off, size);
}

static void data_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    PCIConf1 *c = opaque;
    uint64_t off;

    if (data_target(c, addr, size, &off)) {
        pcie_ecam_write(c->bus, off, val, size);
    }
}

static const MemoryRegionOps data_ops = {
    .read = data_read,
    .write = data_write,
    .impl_min = 1,
    .impl_max = 4,
};

void pci_conf1_init(PCIConf1 *c, Machine *m, PCIBus *bus)
{
    c->m = m;
    c->bus = bus;
    memory_region_init_io(&c->conf, "pci-conf-idx", &conf_ops, c, 4);
    memory_region_init_io(&c->data, "pci-conf-data", &data_ops, c, 4);
    /* below the reset control byte at 0xcf9 */
    memory_region_add_subregion_overlap(m->io, PCI_CONFIG_ADDRESS, &c->conf,
                                        -1);
    memory_region_add_subregion(m->io, PCI_CONFIG_DATA, &c->data);
}

void pci_conf1_fini(PCIConf1 *c)
{
    if (!c->m) {
        return;
    }
    memory_region_del_subregion(c->m->io, &c->conf);
    memory_region_del_subregion(c->m->io, &c->data);
    memory_region_destroy(&c->conf);
    memory_region_destroy(&c->data);
    c->m = NULL;
}

bool pci_conf1_check(PCIConf1 *c, GError **errp)
{
    if (c->config_address & 3) {
        g_set_error(errp, VIREO_ERROR, 0, "CONFIG_ADDRESS 0x%08x has its "
                    "reserved bits 1:0 set", c->config_address);
        return false;
    }
    return true;
}
