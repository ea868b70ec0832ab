/*
 * Message signalled interrupts (PCI Local Bus 3.0, 6.8): the MSI
 * capability (6.8.1, 32/64-bit, optional per-vector masking) and MSI-X
 * (6.8.2: table and pending bit array in a memory BAR, per-vector and
 * function masks). Messages go to the platform through pci_msi_send.
 */
#include <string.h>

#include "pci-internal.h"
#include "util/opts.h"

/* 6.8.1 MSI capability */
#define MSI_FLAGS               2
#define  MSI_FLAGS_ENABLE       0x0001
#define  MSI_FLAGS_QMASK        0x000e  /* multiple message capable */
#define  MSI_FLAGS_QSIZE        0x0070  /* multiple message enable */
#define  MSI_FLAGS_64BIT        0x0080
#define  MSI_FLAGS_MASKBIT      0x0100
#define MSI_ADDRESS_LO          4
#define MSI_ADDRESS_HI          8       /* 64-bit only */
#define MSI_DATA_32             8
#define MSI_DATA_64             12
#define MSI_MASK_32             12
#define MSI_MASK_64             16

/* 6.8.2 MSI-X capability and table */
#define MSIX_FLAGS              2
#define  MSIX_FLAGS_QSIZE       0x07ff
#define  MSIX_FLAGS_MASKALL     0x4000
#define  MSIX_FLAGS_ENABLE      0x8000
#define MSIX_TABLE              4
#define MSIX_PBA                8
#define MSIX_CAP_SIZE           12
#define MSIX_ENTRY_SIZE         16
#define  MSIX_ENTRY_LOWER_ADDR  0
#define  MSIX_ENTRY_UPPER_ADDR  4
#define  MSIX_ENTRY_DATA        8
#define  MSIX_ENTRY_VECTOR_CTRL 12
#define   MSIX_VECTOR_MASKBIT   1
#define MSIX_MAX_VECTORS        2048

#define MSI_WINDOW_BASE         0xfee00000ULL
#define MSI_WINDOW_MASK         0xfff00000ULL

void pci_msi_send(Machine *m, uint64_t addr, uint32_t data)
{
    if ((addr & MSI_WINDOW_MASK) == MSI_WINDOW_BASE && m->accel &&
        m->accel->send_msi) {
        m->accel->send_msi(m, addr, data);
    } else if (m->as_mem.root) {
        /* not an interrupt: a DMA write the guest asked for */
        address_space_st(&m->as_mem, addr, 4, data);
    }
}

static Machine *dev_machine(PCIDevice *d)
{
    return d->bus ? pci_bus_machine(d->bus) : NULL;
}

/* ---- MSI ---- */

static uint16_t msi_flags(PCIDevice *d)
{
    return pci_get_word(d->config + d->msi_cap + MSI_FLAGS);
}

static unsigned msi_mask_off(PCIDevice *d)
{
    return d->msi_cap +
           (msi_flags(d) & MSI_FLAGS_64BIT ? MSI_MASK_64 : MSI_MASK_32);
}

bool pci_msi_init(PCIDevice *d, uint8_t offset, unsigned nvec, bool is_64,
                  bool per_vector_mask, GError **errp)
{
    unsigned log2 = 0;
    uint8_t size = (is_64 ? 14 : 10) + (per_vector_mask ? 10 : 0);

    if (!nvec || nvec > 32 || (nvec & (nvec - 1))) {
        g_set_error(errp, VIREO_ERROR, 0, "MSI: %u vectors (1-32, a power "
                    "of two)", nvec);
        return false;
    }
    while ((1u << log2) < nvec) {
        log2++;
    }
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_MSI, offset, size, errp);
    if (!cap) {
        return false;
    }
    d->msi_cap = cap;
    uint16_t flags = log2 << 1;
    flags |= is_64 ? MSI_FLAGS_64BIT : 0;
    flags |= per_vector_mask ? MSI_FLAGS_MASKBIT : 0;
    pci_set_word(d->config + cap + MSI_FLAGS, flags);
    pci_set_word(d->wmask + cap + MSI_FLAGS,
                 MSI_FLAGS_QSIZE | MSI_FLAGS_ENABLE);
    pci_set_long(d->wmask + cap + MSI_ADDRESS_LO, 0xfffffffc);
    if (is_64) {
        pci_set_long(d->wmask + cap + MSI_ADDRESS_HI, 0xffffffff);
    }
    pci_set_word(d->wmask + cap + (is_64 ? MSI_DATA_64 : MSI_DATA_32), 0xffff);
    if (per_vector_mask) {
        pci_set_long(d->wmask + msi_mask_off(d),
                     nvec == 32 ? ~0u : (1u << nvec) - 1);
    }
    return true;
}

bool pci_msi_enabled(PCIDevice *d)
{
    return d->msi_cap && (msi_flags(d) & MSI_FLAGS_ENABLE);
}

/* Vectors the guest allowed: 2^MME, never more than advertised. */
static unsigned msi_nvec_enabled(PCIDevice *d)
{
    uint16_t f = msi_flags(d);
    unsigned mme = (f & MSI_FLAGS_QSIZE) >> 4, mmc = (f & MSI_FLAGS_QMASK) >> 1;
    return 1u << MIN(mme, mmc);
}

static void msi_send_vector(PCIDevice *d, unsigned vector)
{
    uint8_t *c = d->config + d->msi_cap;
    bool is_64 = msi_flags(d) & MSI_FLAGS_64BIT;
    uint64_t addr = pci_get_long(c + MSI_ADDRESS_LO);
    uint32_t data = pci_get_word(c + (is_64 ? MSI_DATA_64 : MSI_DATA_32));
    Machine *m = dev_machine(d);

    if (is_64) {
        addr |= (uint64_t)pci_get_long(c + MSI_ADDRESS_HI) << 32;
    }
    /* 6.8.3.4: the low MME bits of the data carry the vector number */
    data = (data & ~(msi_nvec_enabled(d) - 1)) | vector;
    if (m) {
        pci_msi_send(m, addr, data);
    }
}

void pci_msi_notify(PCIDevice *d, unsigned vector)
{
    if (!pci_msi_enabled(d) || vector >= msi_nvec_enabled(d)) {
        return;
    }
    if (msi_flags(d) & MSI_FLAGS_MASKBIT) {
        unsigned off = msi_mask_off(d);
        if (pci_get_long(d->config + off) & (1u << vector)) {
            uint32_t pend = pci_get_long(d->config + off + 4);
            pci_set_long(d->config + off + 4, pend | (1u << vector));
            return;
        }
    }
    msi_send_vector(d, vector);
}

/* Vectors unmasked with their pending bit set fire now (6.8.3.5). */
static void msi_flush_pending(PCIDevice *d)
{
    if (!pci_msi_enabled(d) || !(msi_flags(d) & MSI_FLAGS_MASKBIT)) {
        return;
    }
    unsigned off = msi_mask_off(d);
    uint32_t mask = pci_get_long(d->config + off);
    uint32_t pend = pci_get_long(d->config + off + 4);
    unsigned n = msi_nvec_enabled(d);

    for (unsigned v = 0; v < n; v++) {
        if ((pend & (1u << v)) && !(mask & (1u << v))) {
            pend &= ~(1u << v);
            pci_set_long(d->config + off + 4, pend);
            msi_send_vector(d, v);
        }
    }
}

/* ---- MSI-X ---- */

static uint16_t msix_flags(PCIDevice *d)
{
    return pci_get_word(d->config + d->msix_cap + MSIX_FLAGS);
}

bool pci_msix_enabled(PCIDevice *d)
{
    return d->msix_cap && (msix_flags(d) & MSIX_FLAGS_ENABLE);
}

static bool msix_function_masked(PCIDevice *d)
{
    return !pci_msix_enabled(d) || (msix_flags(d) & MSIX_FLAGS_MASKALL);
}

bool pci_msix_is_masked(PCIDevice *d, unsigned vector)
{
    if (vector >= d->msix_nvec) {
        return true;
    }
    return msix_function_masked(d) ||
           (d->msix_table[vector * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL] &
            MSIX_VECTOR_MASKBIT);
}

void pci_msix_get_message(PCIDevice *d, unsigned vector, uint64_t *addr,
                          uint32_t *data)
{
    if (vector >= d->msix_nvec) {
        *addr = 0;
        *data = 0;
        return;
    }
    const uint8_t *e = d->msix_table + vector * MSIX_ENTRY_SIZE;
    *addr = pci_get_long(e + MSIX_ENTRY_LOWER_ADDR) |
            (uint64_t)pci_get_long(e + MSIX_ENTRY_UPPER_ADDR) << 32;
    *data = pci_get_long(e + MSIX_ENTRY_DATA);
}

static void msix_send(PCIDevice *d, unsigned vector)
{
    Machine *m = dev_machine(d);
    uint64_t addr;
    uint32_t data;

    pci_msix_get_message(d, vector, &addr, &data);
    if (m) {
        pci_msi_send(m, addr, data);
    }
}

static void msix_set_pending(PCIDevice *d, unsigned vector, bool on)
{
    uint8_t bit = 1u << (vector & 7);
    if (on) {
        d->msix_pba[vector / 8] |= bit;
    } else {
        d->msix_pba[vector / 8] &= ~bit;
    }
}

void pci_msix_notify(PCIDevice *d, unsigned vector)
{
    if (!pci_msix_enabled(d) || vector >= d->msix_nvec) {
        return;
    }
    if (pci_msix_is_masked(d, vector)) {
        msix_set_pending(d, vector, true);
        return;
    }
    msix_send(d, vector);
}

/*
 * After anything that may change masks: tell the device of each vector
 * whose state changed, and deliver what was pending on those now open.
 */
static void msix_update_masks(PCIDevice *d)
{
    for (unsigned v = 0; v < d->msix_nvec; v++) {
        bool masked = pci_msix_is_masked(d, v);
        if (masked == d->msix_masked[v]) {
            continue;
        }
        d->msix_masked[v] = masked;
        if (d->msix_mask_notify) {
            d->msix_mask_notify(d, v, masked);
        }
        if (!masked && (d->msix_pba[v / 8] & (1u << (v & 7)))) {
            msix_set_pending(d, v, false);
            msix_send(d, v);
        }
    }
}

static uint64_t msix_table_read(void *opaque, hwaddr addr, unsigned size)
{
    PCIDevice *d = opaque;
    uint64_t val = 0;

    for (unsigned i = 0; i < size; i++) {
        if (addr + i < (hwaddr)d->msix_nvec * MSIX_ENTRY_SIZE) {
            val |= (uint64_t)d->msix_table[addr + i] << (i * 8);
        }
    }
    return val;
}

static void msix_table_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    PCIDevice *d = opaque;

    for (unsigned i = 0; i < size; i++) {
        hwaddr a = addr + i;
        if (a >= (hwaddr)d->msix_nvec * MSIX_ENTRY_SIZE) {
            break;
        }
        if (a % MSIX_ENTRY_SIZE == MSIX_ENTRY_VECTOR_CTRL) {
            /* only the mask bit is writable in vector control */
            d->msix_table[a] = (val >> (i * 8)) & MSIX_VECTOR_MASKBIT;
        } else if (a % MSIX_ENTRY_SIZE < MSIX_ENTRY_VECTOR_CTRL) {
            d->msix_table[a] = val >> (i * 8);
        }
    }
    msix_update_masks(d);
}

static const MemoryRegionOps msix_table_ops = {
    .read = msix_table_read,
    .write = msix_table_write,
    .impl_min = 1,
    .impl_max = 8,
};

static uint64_t msix_pba_read(void *opaque, hwaddr addr, unsigned size)
{
    PCIDevice *d = opaque;
    unsigned len = (d->msix_nvec + 7) / 8;
    uint64_t val = 0;

    for (unsigned i = 0; i < size; i++) {
        if (addr + i < len) {
            val |= (uint64_t)d->msix_pba[addr + i] << (i * 8);
        }
    }
    return val;
}

/* 6.8.2.10: the PBA is read-only; writes are ignored */
static const MemoryRegionOps msix_pba_ops = {
    .read = msix_pba_read,
    .impl_min = 1,
    .impl_max = 8,
};

static void msix_reset_table(PCIDevice *d)
{
    memset(d->msix_table, 0, d->msix_nvec * MSIX_ENTRY_SIZE);
    for (unsigned v = 0; v < d->msix_nvec; v++) {
        d->msix_table[v * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL] =
            MSIX_VECTOR_MASKBIT;
        d->msix_masked[v] = true;
    }
    memset(d->msix_pba, 0, (d->msix_nvec + 63) / 64 * 8);
}

bool pci_msix_init(PCIDevice *d, unsigned nvec, MemoryRegion *bar_mr,
                   int bar_nr, uint32_t table_offset, uint32_t pba_offset,
                   uint8_t cap_offset, GError **errp)
{
    uint64_t table_size = (uint64_t)nvec * MSIX_ENTRY_SIZE;
    uint64_t pba_size = (nvec + 63) / 64 * 8;

    if (!nvec || nvec > MSIX_MAX_VECTORS || bar_nr < 0 ||
        bar_nr >= PCI_NUM_BARS || (table_offset & 7) || (pba_offset & 7) ||
        table_offset + table_size > bar_mr->size ||
        pba_offset + pba_size > bar_mr->size ||
        (table_offset < pba_offset + pba_size &&
         pba_offset < table_offset + table_size)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "MSI-X: %u vectors do not fit BAR %d as laid out",
                    nvec, bar_nr);
        return false;
    }
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_MSIX, cap_offset,
                                     MSIX_CAP_SIZE, errp);
    if (!cap) {
        return false;
    }
    d->msix_cap = cap;
    d->msix_nvec = nvec;
    d->msix_bar = bar_nr;
    d->msix_table = g_malloc0(table_size);
    d->msix_pba = g_malloc0(pba_size);
    d->msix_masked = g_malloc0(nvec);
    msix_reset_table(d);

    pci_set_word(d->config + cap + MSIX_FLAGS, nvec - 1);
    pci_set_long(d->config + cap + MSIX_TABLE, table_offset | bar_nr);
    pci_set_long(d->config + cap + MSIX_PBA, pba_offset | bar_nr);
    pci_set_word(d->wmask + cap + MSIX_FLAGS,
                 MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);

    memory_region_init_io(&d->msix_table_mr, "msix-table", &msix_table_ops,
                          d, table_size);
    memory_region_init_io(&d->msix_pba_mr, "msix-pba", &msix_pba_ops, d,
                          pba_size);
    memory_region_add_subregion(bar_mr, table_offset, &d->msix_table_mr);
    memory_region_add_subregion(bar_mr, pba_offset, &d->msix_pba_mr);
    return true;
}

bool pci_msix_init_exclusive_bar(PCIDevice *d, unsigned nvec, int bar_nr,
                                 GError **errp)
{
    uint64_t table_size = (uint64_t)nvec * MSIX_ENTRY_SIZE;
    uint64_t pba_size = (nvec + 63) / 64 * 8;
    uint64_t bar_size = 4096, pba_offset = 2048;

    if (!nvec || nvec > MSIX_MAX_VECTORS) {
        g_set_error(errp, VIREO_ERROR, 0, "MSI-X: %u vectors (1-%d)", nvec,
                    MSIX_MAX_VECTORS);
        return false;
    }
    if (table_size > pba_offset) {
        /* the table in its own pages, the PBA after it */
        pba_offset = (table_size + 4095) & ~4095ULL;
        bar_size = 1;
        while (bar_size < pba_offset + pba_size) {
            bar_size <<= 1;
        }
    }
    memory_region_init_container(&d->msix_exclusive_bar, "msix", bar_size);
    if (!pci_msix_init(d, nvec, &d->msix_exclusive_bar, bar_nr, 0,
                       pba_offset, 0, errp)) {
        memory_region_destroy(&d->msix_exclusive_bar);
        return false;
    }
    d->msix_has_exclusive_bar = true;
    pci_register_bar(d, bar_nr, 0, &d->msix_exclusive_bar);
    return true;
}

void pci_msix_uninit(PCIDevice *d)
{
    if (!d->msix_cap) {
        return;
    }
    MemoryRegion *bar = d->msix_table_mr.parent;
    if (bar) {
        memory_region_del_subregion(bar, &d->msix_table_mr);
    }
    if (d->msix_pba_mr.parent) {
        memory_region_del_subregion(d->msix_pba_mr.parent, &d->msix_pba_mr);
    }
    memory_region_destroy(&d->msix_table_mr);
    memory_region_destroy(&d->msix_pba_mr);
    if (d->msix_has_exclusive_bar) {
        memory_region_destroy(&d->msix_exclusive_bar);
        d->msix_has_exclusive_bar = false;
    }
    g_free(d->msix_table);
    g_free(d->msix_pba);
    g_free(d->msix_masked);
    d->msix_table = d->msix_pba = d->msix_masked = NULL;
    d->msix_cap = 0;
    d->msix_nvec = 0;
}

/* ---- shared ---- */

void pci_msi_config_write(PCIDevice *d, uint32_t addr, unsigned len)
{
    if (d->msi_cap && addr < d->msi_cap + 24u && d->msi_cap < addr + len) {
        msi_flush_pending(d);
    }
    if (d->msix_cap && addr < d->msix_cap + (unsigned)MSIX_CAP_SIZE &&
        d->msix_cap < addr + len) {
        msix_update_masks(d);
    }
}

void pci_msi_reset(PCIDevice *d)
{
    if (d->msi_cap) {
        uint8_t *c = d->config + d->msi_cap;
        bool is_64 = msi_flags(d) & MSI_FLAGS_64BIT;
        bool maskbit = msi_flags(d) & MSI_FLAGS_MASKBIT;
        pci_set_word(c + MSI_FLAGS,
                     msi_flags(d) & ~(MSI_FLAGS_ENABLE | MSI_FLAGS_QSIZE));
        pci_set_long(c + MSI_ADDRESS_LO, 0);
        if (is_64) {
            pci_set_long(c + MSI_ADDRESS_HI, 0);
        }
        pci_set_word(c + (is_64 ? MSI_DATA_64 : MSI_DATA_32), 0);
        if (maskbit) {
            pci_set_long(d->config + msi_mask_off(d), 0);
            pci_set_long(d->config + msi_mask_off(d) + 4, 0);
        }
    }
    if (d->msix_cap) {
        pci_set_word(d->config + d->msix_cap + MSIX_FLAGS, d->msix_nvec - 1);
        msix_reset_table(d);
    }
}

/* ---- migration ---- */

void pci_msi_dynamic_bits(PCIDevice *d, uint8_t *mask)
{
    if (!d->msi_cap || !(msi_flags(d) & MSI_FLAGS_MASKBIT)) {
        return;
    }
    unsigned mmc = (msi_flags(d) & MSI_FLAGS_QMASK) >> 1;
    unsigned nvec = 1u << MIN(mmc, 5u);

    pci_set_long(mask + msi_mask_off(d) + 4,
                 nvec == 32 ? ~0u : (1u << nvec) - 1);
}

/* One MSI-X vector as the stream carries it: its table entry and PBA bit. */
typedef struct MSIXVectorState {
    uint64_t addr;
    uint32_t data;
    uint32_t ctrl;
    bool pending;
} MSIXVectorState;

static bool msix_vector_post_load(void *opaque, int version_id,
                                  GError **errp)
{
    MSIXVectorState *v = opaque;

    /* 6.8.2.9: only the mask bit of vector control exists */
    if (v->ctrl & ~MSIX_VECTOR_MASKBIT) {
        g_set_error(errp, VIREO_ERROR, 0, "vector control 0x%x has "
                    "reserved bits set", v->ctrl);
        return false;
    }
    return true;
}

static const VMStateField msix_vector_fields[] = {
    VMSTATE_UINT64(addr, MSIXVectorState),
    VMSTATE_UINT32(data, MSIXVectorState),
    VMSTATE_UINT32(ctrl, MSIXVectorState),
    VMSTATE_BOOL(pending, MSIXVectorState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_msix_vector = {
    .name = "pci-msix-vector",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = msix_vector_fields,
    .post_load = msix_vector_post_load,
};

/* A u32 vector count (the device's msix_nvec, 0 without MSI-X), then the
 * vectors in order. */
static bool msix_save(GByteArray *out, void *opaque, GError **errp)
{
    PCIDevice *d = opaque;

    vmstate_put_u32(out, d->msix_nvec);
    for (unsigned i = 0; i < d->msix_nvec; i++) {
        const uint8_t *e = d->msix_table + i * MSIX_ENTRY_SIZE;
        MSIXVectorState v = {
            .addr = pci_get_long(e + MSIX_ENTRY_LOWER_ADDR) |
                    (uint64_t)pci_get_long(e + MSIX_ENTRY_UPPER_ADDR) << 32,
            .data = pci_get_long(e + MSIX_ENTRY_DATA),
            .ctrl = pci_get_long(e + MSIX_ENTRY_VECTOR_CTRL),
            .pending = d->msix_pba[i / 8] & (1u << (i & 7)),
        };
        if (!vmstate_save_state(out, &vmstate_msix_vector, &v, errp)) {
            g_prefix_error(errp, "MSI-X vector %u: ", i);
            return false;
        }
    }
    return true;
}

/*
 * Every vector is checked before any reaches the table. The mask states
 * the device was told of (msix_masked) stay as they were: the post_load
 * of vmstate_pci_device, with the loaded configuration in place, tells
 * the device of the changes.
 */
static bool msix_load(VMStateReader *in, void *opaque, GError **errp)
{
    PCIDevice *d = opaque;
    g_autofree MSIXVectorState *v = NULL;
    uint32_t n;

    if (!vmstate_get_u32(in, &n, errp)) {
        return false;
    }
    if (n != d->msix_nvec) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has %u MSI-X vectors, "
                    "this device %u", n, d->msix_nvec);
        return false;
    }
    v = g_new0(MSIXVectorState, n ? n : 1);
    for (uint32_t i = 0; i < n; i++) {
        if (!vmstate_load_state(in, &vmstate_msix_vector, &v[i], errp)) {
            g_prefix_error(errp, "MSI-X vector %u: ", i);
            return false;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = d->msix_table + i * MSIX_ENTRY_SIZE;
        pci_set_long(e + MSIX_ENTRY_LOWER_ADDR, v[i].addr);
        pci_set_long(e + MSIX_ENTRY_UPPER_ADDR, v[i].addr >> 32);
        pci_set_long(e + MSIX_ENTRY_DATA, v[i].data);
        pci_set_long(e + MSIX_ENTRY_VECTOR_CTRL, v[i].ctrl);
        msix_set_pending(d, i, v[i].pending);
    }
    return true;
}

const VMStateInfo vmstate_info_pci_msix = {
    .name = "pci-msix",
    .save = msix_save,
    .load = msix_load,
    .vmsd = &vmstate_msix_vector,
};
