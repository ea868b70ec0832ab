/*
 * Conventional PCI (PCI Local Bus 3.0): buses, the type-0 configuration
 * header with write and write-1-to-clear masks, BAR sizing and mapping
 * (6.2.5), capability lists, and INTx routing through the host bridge.
 * MSI and MSI-X live in msi.c.
 */
#include <stdlib.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/loader.h"
#include "hw/pci/pci.h"
#include "pci-internal.h"
#include "util/log.h"
#include "util/opts.h"

/* Beyond this, a BAR address is outside any x86 physical address space. */
#define PCI_MEM_SPACE_END (1ULL << 52)
#define PCI_IO_SPACE_END  0x10000ULL
/* BARs sit below RAM and the board's devices, as behind QEMU's PCI hole */
#define PCI_BAR_PRIORITY (-1)

static GSList *pci_buses;   /* every live bus, for pci_bus_find */

/* ---- buses ---- */

PCIBus *pci_bus_new(Machine *m, const char *name, MemoryRegion *mem,
                    MemoryRegion *io, PCIRouteIntx *route)
{
    PCIBus *bus = g_new0(PCIBus, 1);

    bus->m = m;
    bus->name = g_strdup(name);
    bus->mem = mem;
    bus->io = io;
    bus->route = route;
    pci_buses = g_slist_append(pci_buses, bus);
    return bus;
}

void pci_bus_free(PCIBus *bus)
{
    if (!bus) {
        return;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(bus->devices); i++) {
        PCIDevice *d = bus->devices[i];
        if (d) {
            pci_unmap_bars(d);
            d->bus = NULL;
        }
    }
    pci_buses = g_slist_remove(pci_buses, bus);
    g_free(bus->name);
    g_free(bus);
}

PCIBus *pci_bus_find(Machine *m, const char *name)
{
    for (GSList *l = pci_buses; l; l = l->next) {
        PCIBus *bus = l->data;
        if (bus->m == m && (!name || !strcmp(bus->name, name))) {
            return bus;
        }
    }
    return NULL;
}

const char *pci_bus_name(PCIBus *bus)
{
    return bus->name;
}

Machine *pci_bus_machine(PCIBus *bus)
{
    return bus->m;
}

PCIDevice *pci_bus_get_device(PCIBus *bus, unsigned devfn)
{
    return devfn < G_N_ELEMENTS(bus->devices) ? bus->devices[devfn] : NULL;
}

PCIDevice *pci_bus_parent(PCIBus *bus)
{
    return bus->parent;
}

void pci_bus_set_parent(PCIBus *bus, PCIDevice *bridge)
{
    bus->parent = bridge;
}


PCIBus *pci_bus_by_number(PCIBus *root, unsigned busnr)
{
    PCIBus *bus = root;

    if (busnr == 0 || busnr > 0xff) {
        return busnr ? NULL : root;
    }
    /*
     * Each step goes one bridge down. Guest-written bus numbers may form
     * no proper tree; the depth bound stops a loop through them.
     */
    for (int depth = 0; bus && depth < 256; depth++) {
        PCIBus *next = NULL;

        for (unsigned i = 0; i < G_N_ELEMENTS(bus->devices) && !next; i++) {
            PCIDevice *d = bus->devices[i];
            if (!d || !d->secondary) {
                continue;
            }
            unsigned sec = d->config[PCI_SECONDARY_BUS];
            unsigned sub = d->config[PCI_SUBORDINATE_BUS];
            if (sec == 0) {
                continue;       /* not numbered yet: forwards nothing */
            }
            if (sec == busnr) {
                return d->secondary;
            }
            if (sec < busnr && busnr <= sub) {
                next = d->secondary;
            }
        }
        bus = next;
    }
    return NULL;
}

int pci_route_intx(PCIDevice *d, int pin)
{
    return d->bus && d->bus->route ? d->bus->route(d, pin) : -1;
}

uint32_t pci_config_size(PCIDevice *d)
{
    return d->ext_config ? PCIE_CONFIG_SPACE_SIZE : PCI_CONFIG_SPACE_SIZE;
}

int pci_bus_gsi_count(PCIBus *bus, int gsi)
{
    return gsi >= 0 && gsi < X86_NUM_GSI ? bus->gsi_count[gsi] : 0;
}

uint32_t pci_bus_config_read(PCIBus *bus, unsigned devfn, uint32_t addr,
                             unsigned len)
{
    PCIDevice *d = pci_bus_get_device(bus, devfn);

    if (len != 1 && len != 2 && len != 4) {
        return ~0u;
    }
    /* absent functions: master abort, all-ones (PCI 3.0 6.1) */
    if (!d) {
        return len == 4 ? ~0u : (1u << (len * 8)) - 1;
    }
    if (d->info && d->info->config_read) {
        d->info->config_read(d, addr, len);
    }
    return pci_default_config_read(d, addr, len);
}

void pci_bus_config_write(PCIBus *bus, unsigned devfn, uint32_t addr,
                          uint32_t val, unsigned len)
{
    PCIDevice *d = pci_bus_get_device(bus, devfn);

    if (!d || (len != 1 && len != 2 && len != 4)) {
        return;
    }
    pci_default_config_write(d, addr, val, len);
    if (d->info && d->info->config_write) {
        d->info->config_write(d, addr, val, len);
    }
}

/* ---- INTx ---- */

/* The bus-visible level: the pin, unless the guest disabled INTx. */
static void intx_update(PCIDevice *d)
{
    bool on = d->intx_level && d->config[PCI_INTERRUPT_PIN] &&
              !(pci_get_word(d->config + PCI_COMMAND) &
                PCI_COMMAND_INTX_DISABLE);
    PCIBus *bus = d->bus;

    if (on == d->intx_asserted) {
        return;
    }
    d->intx_asserted = on;
    if (!bus || !bus->route) {
        return;
    }
    int gsi = bus->route(d, d->config[PCI_INTERRUPT_PIN]);
    if (gsi < 0 || gsi >= X86_NUM_GSI) {
        return;
    }
    /* behind bridges, the root bus counts for every bus sharing the GSI */
    for (int depth = 0; bus->parent && bus->parent->bus && depth < 256;
         depth++) {
        bus = bus->parent->bus;
    }
    /* shared, level-triggered: the line is high while anyone asserts it */
    bus->gsi_count[gsi] += on ? 1 : -1;
    if (bus->gsi_count[gsi] == (on ? 1 : 0)) {
        irq_set(&bus->m->gsi[gsi], on);
    }
}

void pci_irq_set(PCIDevice *d, int level)
{
    d->intx_level = level != 0;
    if (level) {
        d->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    } else {
        d->config[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
    }
    intx_update(d);
}

/* ---- BARs ---- */

static unsigned bar_reg(int bar)
{
    return bar == PCI_ROM_SLOT ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + bar * 4;
}

void pci_register_bar(PCIDevice *d, int bar, uint8_t type, MemoryRegion *mr)
{
    bool is_io = type & PCI_BASE_ADDRESS_SPACE_IO;
    bool is_64 = !is_io && (type & PCI_BASE_ADDRESS_MEM_TYPE_64);
    uint64_t size = mr->size;
    uint64_t mask = ~(size - 1);

    g_assert(bar >= 0 && bar < PCI_NUM_REGIONS && (!is_64 || bar < 5));
    g_assert(size && !(size & (size - 1)) && size >= (is_io ? 4 : 16));
    g_assert(!d->bars[bar].mr);
    g_assert(bar != PCI_ROM_SLOT || (type == 0 && size >= 2048));

    d->bars[bar] = (PCIBar){ .mr = mr, .size = size, .type = type,
                             .addr = PCI_BAR_UNMAPPED };
    unsigned reg = bar_reg(bar);
    pci_set_long(d->config + reg, type);
    if (bar == PCI_ROM_SLOT) {
        pci_set_long(d->wmask + reg, ((uint32_t)mask & ~0x7ffu) |
                                     PCI_ROM_ADDRESS_ENABLE);
        return;
    }
    pci_set_long(d->wmask + reg, (uint32_t)mask & (is_io ? ~3u : ~15u));
    if (is_64) {
        pci_set_long(d->config + reg + 4, 0);
        pci_set_long(d->wmask + reg + 4, mask >> 32);
    }
}

uint64_t pci_bar_address(PCIDevice *d, int bar)
{
    return bar >= 0 && bar < PCI_NUM_REGIONS ? d->bars[bar].addr
                                          : PCI_BAR_UNMAPPED;
}

void pci_bridge_window(const PCIDevice *bridge, PCIWindow w, uint64_t *base,
                       uint64_t *limit)
{
    const uint8_t *c = bridge->config;

    switch (w) {
    case PCI_WINDOW_IO:
        *base = (uint64_t)(c[PCI_IO_BASE] & 0xf0) << 8;
        *limit = ((uint64_t)(c[PCI_IO_LIMIT] & 0xf0) << 8) | 0xfff;
        if ((c[PCI_IO_BASE] & 0xf) == 1) {      /* 32-bit I/O addressing */
            *base |= (uint64_t)pci_get_word(c + PCI_IO_BASE_UPPER16) << 16;
            *limit |= (uint64_t)pci_get_word(c + PCI_IO_LIMIT_UPPER16) << 16;
        }
        break;
    case PCI_WINDOW_MEM:
        *base = (uint64_t)(pci_get_word(c + PCI_MEMORY_BASE) & 0xfff0) << 16;
        *limit = ((uint64_t)(pci_get_word(c + PCI_MEMORY_LIMIT) & 0xfff0)
                  << 16) | 0xfffff;
        break;
    case PCI_WINDOW_PREF:
        *base = (uint64_t)(pci_get_word(c + PCI_PREF_MEMORY_BASE) & 0xfff0)
                << 16;
        *limit = ((uint64_t)(pci_get_word(c + PCI_PREF_MEMORY_LIMIT) & 0xfff0)
                  << 16) | 0xfffff;
        if (pci_get_word(c + PCI_PREF_MEMORY_BASE) & PCI_PREF_RANGE_TYPE_64) {
            *base |= (uint64_t)pci_get_long(c + PCI_PREF_BASE_UPPER32) << 32;
            *limit |= (uint64_t)pci_get_long(c + PCI_PREF_LIMIT_UPPER32) << 32;
        }
        break;
    }
}

static bool window_holds(const PCIDevice *bridge, PCIWindow w, uint64_t addr,
                         uint64_t last)
{
    uint64_t base, limit;

    pci_bridge_window(bridge, w, &base, &limit);
    return base <= addr && last <= limit;
}

/*
 * Whether every bridge above d forwards [addr, last] to it: a bridge
 * passes on what lies in its window for the kind of space while its own
 * command register enables that space (PCI-to-PCI Bridge 1.2, 4.1-4.3).
 */
static bool bridges_forward(PCIDevice *d, bool io, uint64_t addr,
                            uint64_t last)
{
    for (PCIDevice *br = pci_bus_parent(d->bus); br;
         br = br->bus ? pci_bus_parent(br->bus) : NULL) {
        uint16_t cmd = pci_get_word(br->config + PCI_COMMAND);
        bool ok = io ? (cmd & PCI_COMMAND_IO) &&
                           window_holds(br, PCI_WINDOW_IO, addr, last)
                     : (cmd & PCI_COMMAND_MEMORY) &&
                           (window_holds(br, PCI_WINDOW_MEM, addr, last) ||
                            window_holds(br, PCI_WINDOW_PREF, addr, last));
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Where the guest's BAR value and command register place the BAR. */
static uint64_t bar_decode(PCIDevice *d, int bar)
{
    const PCIBar *b = &d->bars[bar];
    uint16_t cmd = pci_get_word(d->config + PCI_COMMAND);
    unsigned reg = bar_reg(bar);
    uint64_t addr, last;

    if (b->type & PCI_BASE_ADDRESS_SPACE_IO) {
        if (!(cmd & PCI_COMMAND_IO)) {
            return PCI_BAR_UNMAPPED;
        }
        addr = pci_get_long(d->config + reg) & ~(b->size - 1) & ~3ULL;
        last = addr + b->size - 1;
        if (!addr || last >= PCI_IO_SPACE_END ||
            !bridges_forward(d, true, addr, last)) {
            return PCI_BAR_UNMAPPED;
        }
        return addr;
    }
    if (!(cmd & PCI_COMMAND_MEMORY)) {
        return PCI_BAR_UNMAPPED;
    }
    addr = pci_get_long(d->config + reg);
    if (bar == PCI_ROM_SLOT) {
        if (!(addr & PCI_ROM_ADDRESS_ENABLE)) {
            return PCI_BAR_UNMAPPED;
        }
        addr &= ~0x7ffULL;
    }
    addr &= ~15ULL;
    if (b->type & PCI_BASE_ADDRESS_MEM_TYPE_64) {
        addr |= (uint64_t)pci_get_long(d->config + reg + 4) << 32;
    }
    addr &= ~(b->size - 1);
    last = addr + b->size - 1;
    /* 0 is "not programmed"; past the physical address space is nowhere */
    if (!addr || last < addr || last >= PCI_MEM_SPACE_END ||
        !bridges_forward(d, false, addr, last)) {
        return PCI_BAR_UNMAPPED;
    }
    return addr;
}

static MemoryRegion *bar_space(PCIDevice *d, int bar)
{
    if (!d->bus) {
        return NULL;
    }
    return d->bars[bar].type & PCI_BASE_ADDRESS_SPACE_IO ? d->bus->io
                                                         : d->bus->mem;
}

/* Remaps every BAR whose decoded address changed (6.2.5.1). */
void pci_update_mappings(PCIDevice *d)
{
    memory_transaction_begin();
    for (int i = 0; i < PCI_NUM_REGIONS; i++) {
        PCIBar *b = &d->bars[i];
        MemoryRegion *space = bar_space(d, i);
        if (!b->mr || !space) {
            continue;
        }
        uint64_t addr = bar_decode(d, i);
        if (addr == b->addr) {
            continue;
        }
        if (b->addr != PCI_BAR_UNMAPPED) {
            memory_region_del_subregion(space, b->mr);
        }
        b->addr = addr;
        if (addr != PCI_BAR_UNMAPPED) {
            memory_region_add_subregion_overlap(space, addr, b->mr,
                                                PCI_BAR_PRIORITY);
        }
    }
    memory_transaction_commit();
}

/* After a bridge's command or window registers changed: what is below. */
static void bridge_update_mappings(PCIDevice *bridge)
{
    for (unsigned devfn = 0; devfn < 256; devfn++) {
        PCIDevice *d = pci_bus_get_device(bridge->secondary, devfn);
        if (d) {
            pci_update_mappings(d);
            if (d->secondary) {
                bridge_update_mappings(d);
            }
        }
    }
}

void pci_unmap_bars(PCIDevice *d)
{
    memory_transaction_begin();
    for (int i = 0; i < PCI_NUM_REGIONS; i++) {
        PCIBar *b = &d->bars[i];
        MemoryRegion *space = bar_space(d, i);
        if (b->mr && space && b->addr != PCI_BAR_UNMAPPED) {
            memory_region_del_subregion(space, b->mr);
        }
        b->addr = PCI_BAR_UNMAPPED;
    }
    memory_transaction_commit();
}

bool pci_add_option_rom(PCIDevice *d, const char *default_name,
                        GError **errp)
{
    const char *name = d->romfile ? d->romfile : default_name;
    g_autofree char *data = NULL;
    gsize len;

    if (!name || !*name) {
        return true;
    }
    /* the ROM BAR's address field is 21 bits of a 32-bit register */
    if (!firmware_load(name, 1u << 24, &data, &len, errp)) {
        return false;
    }
    uint64_t size = 2048;
    while (size < len) {
        size <<= 1;
    }
    char *mr_name = g_strdup_printf("%s.rom", d->qdev.cls->name);
    bool ok = memory_region_init_ram(&d->rom, mr_name, size, errp);
    g_free(mr_name);
    if (!ok) {
        return false;
    }
    memcpy(memory_region_get_ram_ptr(&d->rom), data, len);
    memory_region_set_readonly(&d->rom, true);
    pci_register_bar(d, PCI_ROM_SLOT, 0, &d->rom);
    return true;
}

/* ---- capabilities ---- */

uint8_t pci_find_capability(PCIDevice *d, uint8_t cap_id)
{
    uint8_t off = d->config[PCI_CAPABILITY_LIST] & ~3;

    /* bounded: at most 48 dword-aligned places after the header */
    for (int n = 0; off >= PCI_CONFIG_HEADER_SIZE && n < 48; n++) {
        if (d->config[off] == cap_id) {
            return off;
        }
        off = d->config[off + 1] & ~3;
    }
    return 0;
}

uint8_t pci_add_capability(PCIDevice *d, uint8_t cap_id, uint8_t offset,
                           uint8_t size, GError **errp)
{
    unsigned off = offset;

    if (size < 2) {
        g_set_error(errp, VIREO_ERROR, 0, "PCI capability 0x%x: size %u",
                    cap_id, size);
        return 0;
    }
    if (!off) {
        /* first free dword-aligned gap after the header */
        for (off = PCI_CONFIG_HEADER_SIZE;
             off + size <= PCI_CONFIG_SPACE_SIZE; off += 4) {
            unsigned i = 0;
            while (i < size && !d->used[off + i]) {
                i++;
            }
            if (i == size) {
                break;
            }
        }
    }
    if (off < PCI_CONFIG_HEADER_SIZE || (off & 3) ||
        off + size > PCI_CONFIG_SPACE_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "PCI capability 0x%x (%u bytes) does not fit in config "
                    "space", cap_id, size);
        return 0;
    }
    for (unsigned i = 0; i < size; i++) {
        if (d->used[off + i]) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "PCI capability 0x%x at 0x%x overlaps another one",
                        cap_id, off);
            return 0;
        }
    }
    memset(d->used + off, 1, size);
    d->config[off] = cap_id;
    d->config[off + 1] = d->config[PCI_CAPABILITY_LIST];
    d->config[PCI_CAPABILITY_LIST] = off;
    d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    return off;
}

/* ---- config space ---- */

uint32_t pci_default_config_read(PCIDevice *d, uint32_t addr, unsigned len)
{
    uint32_t val = 0;

    if (len > 4) {
        return ~0u;
    }
    for (unsigned i = 0; i < len; i++) {
        uint32_t a = addr + i;
        uint8_t b = 0xff;
        if (a < PCI_CONFIG_SPACE_SIZE) {
            b = d->config[a];
        } else if (d->ext_config && a < PCIE_CONFIG_SPACE_SIZE) {
            b = d->ext_config[a - PCI_CONFIG_SPACE_SIZE];
        }
        val |= (uint32_t)b << (i * 8);
    }
    return val;
}

void pci_default_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                              unsigned len)
{
    if (len > 4) {
        return;
    }
    if (addr >= PCI_CONFIG_SPACE_SIZE) {
        /* extended space has no BARs or MSI: only the masks apply */
        for (unsigned i = 0; d->ext_config && i < len; i++) {
            uint32_t a = addr + i - PCI_CONFIG_SPACE_SIZE;
            if (a < PCIE_CONFIG_SPACE_SIZE - PCI_CONFIG_SPACE_SIZE) {
                d->ext_config[a] = (d->ext_config[a] & ~d->ext_wmask[a]) |
                                   ((val >> (i * 8)) & d->ext_wmask[a]);
            }
        }
        return;
    }
    len = MIN(len, PCI_CONFIG_SPACE_SIZE - addr);
    for (unsigned i = 0; i < len; i++) {
        uint8_t b = val >> (i * 8);
        uint32_t a = addr + i;
        d->config[a] = (d->config[a] & ~d->wmask[a]) | (b & d->wmask[a]);
        d->config[a] &= ~(b & d->w1cmask[a]);
    }
    if (pci_config_touches(addr, len, PCI_BASE_ADDRESS_0, 24) ||
        pci_config_touches(addr, len, PCI_ROM_ADDRESS, 4) ||
        pci_config_touches(addr, len, PCI_COMMAND, 2)) {
        pci_update_mappings(d);
    }
    if (pci_config_touches(addr, len, PCI_COMMAND, 2)) {
        intx_update(d);
    }
    if (d->secondary &&
        (pci_config_touches(addr, len, PCI_COMMAND, 2) ||
         pci_config_touches(addr, len, PCI_IO_BASE, 2) ||
         pci_config_touches(addr, len, PCI_MEMORY_BASE, 16) ||
         pci_config_touches(addr, len, PCI_IO_BASE_UPPER16, 4))) {
        bridge_update_mappings(d);
    }
    pci_msi_config_write(d, addr, len);
}

/* ---- devices ---- */

/* "SLOT[.FN]" (numbers as strtoul base 0 or hex as QEMU: "0x3.1", "3") */
static bool parse_devfn(const char *s, int *devfn, GError **errp)
{
    char *end;
    unsigned long slot, fn = 0;

    slot = strtoul(s, &end, 16);
    if (end == s) {
        goto bad;
    }
    if (*end == '.') {
        const char *f = end + 1;
        fn = strtoul(f, &end, 16);
        if (end == f) {
            goto bad;
        }
    }
    if (*end || slot > 31 || fn > 7) {
        goto bad;
    }
    *devfn = PCI_DEVFN(slot, fn);
    return true;
bad:
    g_set_error(errp, VIREO_ERROR, 0,
                "addr '%s': expected SLOT[.FUNCTION] with slot 0-0x1f and "
                "function 0-7", s);
    return false;
}

bool pci_device_init(PCIDevice *d, Machine *m, const PCIDeviceInfo *info,
                     GError **errp)
{
    PCIBus *bus = pci_bus_find(m, d->bus_prop);
    int devfn = -1;

    if (!bus) {
        g_set_error(errp, VIREO_ERROR, 0, "%s '%s' not found",
                    d->bus_prop ? "bus" : "a PCI bus",
                    d->bus_prop ? d->bus_prop : "for this machine");
        return false;
    }
    if (d->addr_prop) {
        const char *s = d->addr_prop;
        if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X")) {
            s += 2;
        }
        if (!parse_devfn(s, &devfn, errp)) {
            return false;
        }
        if (bus->devices[devfn]) {
            /* QEMU's wording */
            g_set_error(errp, VIREO_ERROR, 0,
                        "PCI: slot %d function %d not available for %s, in "
                        "use by %s", PCI_SLOT(devfn), PCI_FUNC(devfn),
                        d->qdev.cls->name,
                        bus->devices[devfn]->qdev.cls->name);
            return false;
        }
    } else {
        for (int slot = 0; slot < 32 && devfn < 0; slot++) {
            if (!bus->devices[PCI_DEVFN(slot, 0)]) {
                devfn = PCI_DEVFN(slot, 0);
            }
        }
        if (devfn < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "no free slot on %s",
                        bus->name);
            return false;
        }
    }

    d->info = info;
    d->devfn = devfn;
    memset(d->config, 0, sizeof(d->config));
    memset(d->wmask, 0, sizeof(d->wmask));
    memset(d->w1cmask, 0, sizeof(d->w1cmask));
    memset(d->used, 0, sizeof(d->used));
    memset(d->used, 1, PCI_CONFIG_HEADER_SIZE);
    for (int i = 0; i < PCI_NUM_REGIONS; i++) {
        d->bars[i].addr = PCI_BAR_UNMAPPED;
    }
    pci_set_word(d->config + PCI_VENDOR_ID, info->vendor_id);
    pci_set_word(d->config + PCI_DEVICE_ID, info->device_id);
    d->config[PCI_REVISION_ID] = info->revision;
    d->config[PCI_CLASS_PROG] = info->class_code;
    pci_set_word(d->config + PCI_CLASS_DEVICE, info->class_code >> 8);
    d->config[PCI_HEADER_TYPE] =
        d->multifunction ? PCI_HEADER_TYPE_MULTI_FUNCTION : 0;
    pci_set_word(d->config + PCI_SUBSYSTEM_VENDOR_ID,
                 info->subsystem_vendor_id ? info->subsystem_vendor_id
                                           : PCI_SUBVENDOR_ID_REDHAT_QUMRANET);
    pci_set_word(d->config + PCI_SUBSYSTEM_ID,
                 info->subsystem_vendor_id ? info->subsystem_id
                                           : PCI_SUBDEVICE_ID_QEMU);
    d->config[PCI_INTERRUPT_PIN] = info->interrupt_pin <= 4
                                   ? info->interrupt_pin : 0;
    if (info->express) {
        const size_t ext = PCIE_CONFIG_SPACE_SIZE - PCI_CONFIG_SPACE_SIZE;
        d->ext_config = g_realloc(d->ext_config, ext);
        d->ext_wmask = g_realloc(d->ext_wmask, ext);
        memset(d->ext_config, 0, ext);
        memset(d->ext_wmask, 0, ext);
    }

    pci_set_word(d->wmask + PCI_COMMAND,
                 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                 PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
                 PCI_COMMAND_INTX_DISABLE);
    pci_set_word(d->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;

    d->bus = bus;
    bus->devices[devfn] = d;
    /* what the device ended up at, in QEMU's "02.0" form */
    g_free(d->addr_prop);
    d->addr_prop = g_strdup_printf("%02x.%x", PCI_SLOT(devfn),
                                   PCI_FUNC(devfn));
    return true;
}

void pci_device_uninit(PCIDevice *d)
{
    if (d->bus) {
        pci_irq_set(d, 0);
        pci_unmap_bars(d);
        if (d->bus->devices[d->devfn] == d) {
            d->bus->devices[d->devfn] = NULL;
        }
        d->bus = NULL;
    }
    pci_msix_uninit(d);
    g_clear_pointer(&d->ext_config, g_free);
    g_clear_pointer(&d->ext_wmask, g_free);
    if (d->bars[PCI_ROM_SLOT].mr == &d->rom) {
        memory_region_destroy(&d->rom);
        d->bars[PCI_ROM_SLOT].mr = NULL;
    }
}

void pci_device_reset(PCIDevice *d)
{
    pci_irq_set(d, 0);
    pci_set_word(d->config + PCI_COMMAND, 0);
    pci_set_word(d->config + PCI_STATUS,
                 pci_get_word(d->config + PCI_STATUS) &
                 ~(PCI_STATUS_W1C | PCI_STATUS_INTERRUPT));
    d->config[PCI_CACHE_LINE_SIZE] = 0;
    d->config[PCI_LATENCY_TIMER] = 0;
    d->config[PCI_INTERRUPT_LINE] = 0;
    for (int i = 0; i < PCI_NUM_REGIONS; i++) {
        PCIBar *b = &d->bars[i];
        if (!b->mr) {
            continue;
        }
        pci_set_long(d->config + bar_reg(i), b->type);
        if (b->type & PCI_BASE_ADDRESS_MEM_TYPE_64 &&
            !(b->type & PCI_BASE_ADDRESS_SPACE_IO)) {
            pci_set_long(d->config + bar_reg(i) + 4, 0);
        }
    }
    pci_update_mappings(d);
    pci_msi_reset(d);
}

/* ---- migration ---- */

static bool pci_device_pre_save(void *opaque, GError **errp)
{
    PCIDevice *d = opaque;

    memcpy(d->vms_config, d->config, sizeof(d->config));
    return true;
}

/*
 * The configuration bits a stream may set: what the guest writes (wmask),
 * what it clears (w1cmask), and what the core sets itself.
 */
static void config_stream_mask(PCIDevice *d, uint8_t *mask)
{
    for (unsigned i = 0; i < PCI_CONFIG_SPACE_SIZE; i++) {
        mask[i] = d->wmask[i] | d->w1cmask[i];
    }
    mask[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    pci_msi_dynamic_bits(d, mask);
}

static bool pci_device_post_load(void *opaque, int version_id, GError **errp)
{
    PCIDevice *d = opaque;
    uint8_t mask[PCI_CONFIG_SPACE_SIZE] = { 0 };

    config_stream_mask(d, mask);
    for (unsigned i = 0; i < PCI_CONFIG_SPACE_SIZE; i++) {
        uint8_t fixed = ~mask[i];
        if ((d->vms_config[i] ^ d->config[i]) & fixed) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "configuration byte 0x%02x is 0x%02x in the stream "
                        "but 0x%02x in this %s, in bits (0x%02x) the guest "
                        "cannot write", i, d->vms_config[i], d->config[i],
                        d->qdev.cls->name, fixed);
            return false;
        }
    }
    memcpy(d->config, d->vms_config, sizeof(d->config));
    /* the status bit follows the pin, as pci_irq_set keeps it */
    if (d->intx_level) {
        d->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    } else {
        d->config[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
    }
    pci_update_mappings(d);
    intx_update(d);
    /* masks changed by the load: tell the device, deliver what is due */
    pci_msi_config_write(d, 0, PCI_CONFIG_SPACE_SIZE);
    return true;
}

/* The stream's configuration lands in vms_config, checked by post_load. */
static const VMStateField pci_device_fields[] = {
    { .name = "config", .kind = VMS_BUFFER,
      .offset = offsetof(PCIDevice, vms_config),
      .size = sizeof(((PCIDevice *)0)->vms_config), .num = 1,
      .version_id = 1 },
    VMSTATE_BOOL(intx_level, PCIDevice),
    VMSTATE_CUSTOM("msix", vmstate_info_pci_msix),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_pci_device = {
    .name = "pci-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pci_device_fields,
    .pre_save = pci_device_pre_save,
    .post_load = pci_device_post_load,
};

/* ---- monitor ---- */

/* QEMU's pci_class_descriptions, the entries a PC shows */
static const struct {
    uint16_t cls;
    const char *desc;
} class_desc[] = {
    { 0x0001, "VGA compatible device" },
    { 0x0100, "SCSI controller" },
    { 0x0101, "IDE controller" },
    { 0x0102, "Floppy controller" },
    { 0x0103, "IPI controller" },
    { 0x0104, "RAID controller" },
    { 0x0106, "SATA controller" },
    { 0x0107, "SAS controller" },
    { 0x0180, "Storage controller" },
    { 0x0200, "Ethernet controller" },
    { 0x0201, "Token Ring controller" },
    { 0x0202, "FDDI controller" },
    { 0x0203, "ATM controller" },
    { 0x0280, "Network controller" },
    { 0x0300, "VGA controller" },
    { 0x0301, "XGA controller" },
    { 0x0302, "3D controller" },
    { 0x0380, "Display controller" },
    { 0x0400, "Video controller" },
    { 0x0401, "Audio controller" },
    { 0x0402, "Phone" },
    { 0x0403, "Audio controller" },
    { 0x0480, "Multimedia controller" },
    { 0x0500, "RAM controller" },
    { 0x0501, "Flash controller" },
    { 0x0580, "Memory controller" },
    { 0x0600, "Host bridge" },
    { 0x0601, "ISA bridge" },
    { 0x0602, "EISA bridge" },
    { 0x0603, "MC bridge" },
    { 0x0604, "PCI bridge" },
    { 0x0605, "PCMCIA bridge" },
    { 0x0606, "NUBUS bridge" },
    { 0x0607, "CARDBUS bridge" },
    { 0x0608, "RACEWAY bridge" },
    { 0x0680, "Bridge" },
    { 0x0700, "Serial port" },
    { 0x0701, "Parallel port" },
    { 0x0703, "Modem" },
    { 0x0780, "Communication controller" },
    { 0x0800, "PIC" },
    { 0x0801, "DMA controller" },
    { 0x0802, "Timer" },
    { 0x0803, "RTC" },
    { 0x0880, "System peripheral" },
    { 0x0c03, "USB controller" },
    { 0x0c05, "SMBus" },
    { 0x0d00, "IRDA controller" },
    { 0x0e00, "I2O controller" },
    { 0x1000, "Encryption controller" },
};

const char *pci_class_desc(uint16_t cls)
{
    for (size_t i = 0; i < G_N_ELEMENTS(class_desc); i++) {
        if (class_desc[i].cls == cls) {
            return class_desc[i].desc;
        }
    }
    return NULL;
}
