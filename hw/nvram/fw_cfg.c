/*
 * fw_cfg, the QEMU firmware configuration device (QEMU's
 * docs/specs/fw_cfg.rst): a selector/data port pair and the DMA interface
 * that SeaBIOS and OVMF read the machine's configuration and files through.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/nvram/fw_cfg.h"
#include "migration/vmstate.h"
#include "system/memory.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

#define FW_CFG_MAX_ENTRY (FW_CFG_FILE_FIRST + FW_CFG_FILE_SLOTS)
/* Bytes moved per step of a DMA transfer, so a huge length costs no RAM. */
#define FW_CFG_DMA_CHUNK 4096
/* sizeof(FWCfgDmaAccess): be32 control, be32 length, be64 address */
#define FW_CFG_DMA_ACCESS_SIZE 16

typedef struct FWCfgEntry {
    uint8_t *data;
    uint32_t len;
    bool allow_write;
    /* fw_cfg_set_file_select_hook: runs at the first select after reset */
    FWCfgSelectHook *select_hook;
    void *select_opaque;
    bool select_armed;
} FWCfgEntry;

/* One FW_CFG_FILE_DIR record: be32 size, be16 select, be16 0, name[56] */
typedef struct FWCfgFile {
    char name[FW_CFG_MAX_FILE_PATH];
} FWCfgFile;

struct FWCfgState {
    Device dev;
    MemoryRegion ctl_io; /* 0x510 selector, 0x511 data */
    MemoryRegion dma_io; /* 0x514 DMA address, big-endian */
    Machine *machine;
    FWCfgEntry entries[2][FW_CFG_MAX_ENTRY]; /* [arch-local][key] */
    FWCfgFile files[FW_CFG_FILE_SLOTS];      /* sorted by name */
    uint32_t nr_files;
    void (*machine_done)(FWCfgState *s, void *opaque);
    void *machine_done_opaque;
    bool machine_done_ran;

    /* guest-visible state */
    uint16_t cur_entry;
    uint32_t cur_offset;
    uint64_t dma_addr;
};

static FWCfgEntry *cur_entry(FWCfgState *s)
{
    if (s->cur_entry == FW_CFG_INVALID) {
        return NULL;
    }
    return &s->entries[!!(s->cur_entry & FW_CFG_ARCH_LOCAL)]
                      [s->cur_entry & FW_CFG_ENTRY_MASK];
}

static void fw_cfg_select(FWCfgState *s, uint16_t key)
{
    FWCfgEntry *e;

    s->cur_offset = 0;
    s->cur_entry =
        (key & FW_CFG_ENTRY_MASK) < FW_CFG_MAX_ENTRY ? key : FW_CFG_INVALID;
    e = cur_entry(s);
    /* disarmed first: the hook may replace this very item's contents */
    if (e && e->select_hook && e->select_armed) {
        e->select_armed = false;
        e->select_hook(s, e->select_opaque);
    }
}

/* The data register: the next byte of the item, 0 past its end. */
static uint8_t fw_cfg_read_byte(FWCfgState *s)
{
    FWCfgEntry *e = cur_entry(s);

    if (!e || !e->data || s->cur_offset >= e->len) {
        return 0;
    }
    return e->data[s->cur_offset++];
}

/*
 * 0x510 (16-bit write: select) and 0x511 (8-bit: data), one region as in
 * QEMU's port layout: byte reads of either port read data, byte writes to
 * the data register are ignored (fw_cfg.rst: writes via the data register
 * are no longer supported).
 */
static uint64_t fw_cfg_ctl_read(void *opaque, hwaddr addr, unsigned size)
{
    FWCfgState *s = opaque;
    uint64_t v = 0;

    if (size != 1) {
        return (1ULL << (size * 8)) - 1;
    }
    v = fw_cfg_read_byte(s);
    return v;
}

static void fw_cfg_ctl_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    FWCfgState *s = opaque;

    if (size == 2 && addr == 0) {
        fw_cfg_select(s, val);
    }
}

static const MemoryRegionOps fw_cfg_ctl_ops = {
    .read = fw_cfg_ctl_read,
    .write = fw_cfg_ctl_write,
    .impl_min = 1,
    .impl_max = 2,
};

static bool dma_range_ok(uint64_t addr, uint64_t len)
{
    return addr + len >= addr;
}

/* Zeroes len bytes of guest memory at addr; false if any was not RAM. */
static bool dma_zero(FWCfgState *s, uint64_t addr, uint64_t len)
{
    static const uint8_t zeroes[FW_CFG_DMA_CHUNK];
    AddressSpace *as = &s->machine->as_mem;

    while (len) {
        uint64_t n = MIN(len, sizeof(zeroes));
        if (address_space_write(as, addr, zeroes, n) != MEMTX_OK) {
            return false;
        }
        addr += n;
        len -= n;
    }
    return true;
}

/*
 * One FWCfgDmaAccess: select, then read, write or skip length bytes of the
 * item at the current offset. Reads past the item's end fill with zeroes;
 * writes must fit in a writable item. Any guest address that is not
 * memory, or a range that wraps, sets the error bit. The control word is
 * written back: 0 when done, FW_CFG_DMA_CTL_ERROR on error.
 */
static void fw_cfg_dma_transfer(FWCfgState *s)
{
    AddressSpace *as = &s->machine->as_mem;
    uint64_t desc = s->dma_addr;
    uint8_t raw[FW_CFG_DMA_ACCESS_SIZE], be[4];
    uint32_t control, length;
    uint64_t addr;
    bool read, write, skip;

    s->dma_addr = 0;
    if (!dma_range_ok(desc, sizeof(raw)) ||
        address_space_read(as, desc, raw, sizeof(raw)) != MEMTX_OK) {
        control = FW_CFG_DMA_CTL_ERROR;
        goto done;
    }
    control = (uint32_t)raw[0] << 24 | raw[1] << 16 | raw[2] << 8 | raw[3];
    length = (uint32_t)raw[4] << 24 | raw[5] << 16 | raw[6] << 8 | raw[7];
    addr = 0;
    for (int i = 8; i < 16; i++) {
        addr = addr << 8 | raw[i];
    }

    if (control & FW_CFG_DMA_CTL_SELECT) {
        fw_cfg_select(s, control >> 16);
    }
    read = control & FW_CFG_DMA_CTL_READ;
    write = control & FW_CFG_DMA_CTL_WRITE;
    skip = control & FW_CFG_DMA_CTL_SKIP;
    if (!read && !write && !skip) {
        length = 0;
    }
    control = 0;

    if (length && (read || write) && !dma_range_ok(addr, length)) {
        control = FW_CFG_DMA_CTL_ERROR;
        goto done;
    }
    while (length && !(control & FW_CFG_DMA_CTL_ERROR)) {
        FWCfgEntry *e = cur_entry(s);
        uint32_t n;

        if (!e || !e->data || s->cur_offset >= e->len) {
            /* past the end: reads give zeroes, writes fail */
            n = length;
            if (read && !dma_zero(s, addr, n)) {
                control |= FW_CFG_DMA_CTL_ERROR;
            }
            if (write) {
                control |= FW_CFG_DMA_CTL_ERROR;
            }
        } else {
            n = MIN(length, e->len - s->cur_offset);
            if (read) {
                if (address_space_write(as, addr, e->data + s->cur_offset, n) !=
                    MEMTX_OK) {
                    control |= FW_CFG_DMA_CTL_ERROR;
                }
            } else if (write) {
                /* the whole write must fit, into a writable item */
                if (!e->allow_write || n != length ||
                    address_space_read(as, addr, e->data + s->cur_offset, n) !=
                        MEMTX_OK) {
                    control |= FW_CFG_DMA_CTL_ERROR;
                }
            }
            s->cur_offset += n;
        }
        addr += n;
        length -= n;
    }

done:
    be[0] = control >> 24;
    be[1] = control >> 16;
    be[2] = control >> 8;
    be[3] = control;
    if (dma_range_ok(desc, 4)) {
        address_space_write(as, desc, be, sizeof(be));
    }
}

static uint64_t bswap_size(uint64_t v, unsigned size)
{
    uint64_t r = 0;

    for (unsigned i = 0; i < size; i++) {
        r = r << 8 | ((v >> (8 * i)) & 0xff);
    }
    return r;
}

/*
 * 0x514-0x51b: the big-endian DMA address. Writing the low half (0x518,
 * 32 bits) or the whole register (64 bits at 0x514) starts the transfer;
 * reads give the signature "QEMU CFG".
 */
static uint64_t fw_cfg_dma_read(void *opaque, hwaddr addr, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size && addr + i < 8; i++) {
        uint8_t b = FW_CFG_DMA_SIGNATURE >> (8 * (7 - (addr + i)));
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

static void fw_cfg_dma_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    FWCfgState *s = opaque;
    uint64_t be = bswap_size(val, size);

    if (size == 4 && addr == 0) {
        s->dma_addr = (s->dma_addr & 0xffffffffULL) | be << 32;
    } else if (size == 4 && addr == 4) {
        s->dma_addr = (s->dma_addr & ~0xffffffffULL) | be;
        fw_cfg_dma_transfer(s);
    } else if (size == 8 && addr == 0) {
        s->dma_addr = be;
        fw_cfg_dma_transfer(s);
    }
}

static const MemoryRegionOps fw_cfg_dma_ops = {
    .read = fw_cfg_dma_read,
    .write = fw_cfg_dma_write,
    .impl_min = 1,
    .impl_max = 8,
};

/* --- the board's side --- */

static void entry_set(FWCfgState *s, uint16_t key, const void *data, size_t len,
                      bool allow_write)
{
    FWCfgEntry *e;

    key &= FW_CFG_ENTRY_MASK | FW_CFG_ARCH_LOCAL;
    g_assert((key & FW_CFG_ENTRY_MASK) < FW_CFG_MAX_ENTRY);
    g_assert(len <= UINT32_MAX);
    e = &s->entries[!!(key & FW_CFG_ARCH_LOCAL)][key & FW_CFG_ENTRY_MASK];
    g_free(e->data);
    /* an empty item keeps a non-NULL pointer: "present, zero bytes" */
    e->data = len ? g_memdup2(data, len) : g_malloc0(1);
    e->len = len;
    e->allow_write = allow_write;
}

void fw_cfg_add_bytes(FWCfgState *s, uint16_t key, const void *data, size_t len)
{
    entry_set(s, key, data, len, false);
}

void fw_cfg_add_string(FWCfgState *s, uint16_t key, const char *str)
{
    fw_cfg_add_bytes(s, key, str, strlen(str) + 1);
}

void fw_cfg_add_i16(FWCfgState *s, uint16_t key, uint16_t v)
{
    uint8_t b[2];
    st16(b, v);
    fw_cfg_add_bytes(s, key, b, sizeof(b));
}

void fw_cfg_add_i32(FWCfgState *s, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    st32(b, v);
    fw_cfg_add_bytes(s, key, b, sizeof(b));
}

void fw_cfg_add_i64(FWCfgState *s, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    st64(b, v);
    fw_cfg_add_bytes(s, key, b, sizeof(b));
}

/* FW_CFG_FILE_DIR: be32 count, then the records in name order. */
static void update_file_dir(FWCfgState *s)
{
    size_t len = 4 + (size_t)s->nr_files * 64;
    g_autofree uint8_t *dir = g_malloc0(len);

    dir[0] = s->nr_files >> 24;
    dir[1] = s->nr_files >> 16;
    dir[2] = s->nr_files >> 8;
    dir[3] = s->nr_files;
    for (uint32_t i = 0; i < s->nr_files; i++) {
        uint8_t *r = dir + 4 + i * 64;
        uint32_t size = s->entries[0][FW_CFG_FILE_FIRST + i].len;
        uint16_t select = FW_CFG_FILE_FIRST + i;
        r[0] = size >> 24;
        r[1] = size >> 16;
        r[2] = size >> 8;
        r[3] = size;
        r[4] = select >> 8;
        r[5] = select;
        memcpy(r + 8, s->files[i].name, FW_CFG_MAX_FILE_PATH);
    }
    fw_cfg_add_bytes(s, FW_CFG_FILE_DIR, dir, len);
}

static int find_file(FWCfgState *s, const char *name)
{
    for (uint32_t i = 0; i < s->nr_files; i++) {
        if (!strncmp(s->files[i].name, name, FW_CFG_MAX_FILE_PATH)) {
            return i;
        }
    }
    return -1;
}

static bool add_file(FWCfgState *s, const char *name, const void *data,
                     size_t len, bool allow_write, GError **errp)
{
    uint32_t index;

    if (!*name || strlen(name) >= FW_CFG_MAX_FILE_PATH) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "fw_cfg file name '%s' must be 1 to %d characters", name,
                    FW_CFG_MAX_FILE_PATH - 1);
        return false;
    }
    if (find_file(s, name) >= 0) {
        g_set_error(errp, VIREO_ERROR, 0, "duplicate fw_cfg file name: %s",
                    name);
        return false;
    }
    if (len > UINT32_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "fw_cfg file %s is too large", name);
        return false;
    }
    if (s->nr_files == FW_CFG_FILE_SLOTS) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "fw_cfg: no slot left for file %s (at most %d files)", name,
                    FW_CFG_FILE_SLOTS);
        return false;
    }
    /* sorted by name: the later files (and their keys) move up by one */
    for (index = s->nr_files; index > 0; index--) {
        if (strcmp(name, s->files[index - 1].name) >= 0) {
            break;
        }
        s->files[index] = s->files[index - 1];
        s->entries[0][FW_CFG_FILE_FIRST + index] =
            s->entries[0][FW_CFG_FILE_FIRST + index - 1];
    }
    memset(&s->files[index], 0, sizeof(s->files[index]));
    g_strlcpy(s->files[index].name, name, FW_CFG_MAX_FILE_PATH);
    s->entries[0][FW_CFG_FILE_FIRST + index] = (FWCfgEntry){0};
    entry_set(s, FW_CFG_FILE_FIRST + index, data, len, allow_write);
    s->nr_files++;
    update_file_dir(s);
    return true;
}

bool fw_cfg_add_file(FWCfgState *s, const char *name, const void *data,
                     size_t len, GError **errp)
{
    return add_file(s, name, data, len, false, errp);
}

bool fw_cfg_add_file_writable(FWCfgState *s, const char *name, const void *data,
                              size_t len, GError **errp)
{
    return add_file(s, name, data, len, true, errp);
}

void fw_cfg_modify_file(FWCfgState *s, const char *name, const void *data,
                        size_t len)
{
    int i = find_file(s, name);

    if (i < 0) {
        GError *err = NULL;
        if (!add_file(s, name, data, len, false, &err)) {
            log_error("%s", err->message);
            g_error_free(err);
        }
        return;
    }
    entry_set(s, FW_CFG_FILE_FIRST + i, data, len,
              s->entries[0][FW_CFG_FILE_FIRST + i].allow_write);
    update_file_dir(s);
}

const uint8_t *fw_cfg_get_file(FWCfgState *s, const char *name, size_t *len)
{
    int i = find_file(s, name);

    if (i < 0) {
        return NULL;
    }
    *len = s->entries[0][FW_CFG_FILE_FIRST + i].len;
    return s->entries[0][FW_CFG_FILE_FIRST + i].data;
}

bool fw_cfg_has_file(FWCfgState *s, const char *name)
{
    return find_file(s, name) >= 0;
}

bool fw_cfg_set_file_select_hook(FWCfgState *s, const char *name,
                                 FWCfgSelectHook *fn, void *opaque)
{
    int i = find_file(s, name);

    if (i < 0) {
        return false;
    }
    FWCfgEntry *e = &s->entries[0][FW_CFG_FILE_FIRST + i];
    e->select_hook = fn;
    e->select_opaque = opaque;
    e->select_armed = true;
    return true;
}

/* A reset starts a new boot: every select hook runs once more. */
static void arm_select_hooks(FWCfgState *s)
{
    for (uint32_t i = 0; i < s->nr_files; i++) {
        FWCfgEntry *e = &s->entries[0][FW_CFG_FILE_FIRST + i];
        e->select_armed = e->select_hook != NULL;
    }
}

void fw_cfg_set_machine_done(FWCfgState *s, void (*fn)(FWCfgState *, void *),
                             void *opaque)
{
    s->machine_done = fn;
    s->machine_done_opaque = opaque;
}

FWCfgState *fw_cfg_find(Machine *m)
{
    return m->fw_cfg;
}

/* --- the device --- */

static bool fw_cfg_realize(Device *dev, Machine *m, GError **errp)
{
    FWCfgState *s = (FWCfgState *)dev;

    if (m->fw_cfg) {
        g_set_error(errp, VIREO_ERROR, 0, "the machine has a fw_cfg already");
        return false;
    }
    s->machine = m;
    s->cur_entry = FW_CFG_INVALID;
    fw_cfg_add_bytes(s, FW_CFG_SIGNATURE, "QEMU", 4);
    fw_cfg_add_i32(s, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    update_file_dir(s);
    memory_region_init_io(&s->ctl_io, "fwcfg", &fw_cfg_ctl_ops, s, 2);
    memory_region_add_subregion(m->io, FW_CFG_IO_BASE, &s->ctl_io);
    memory_region_init_io(&s->dma_io, "fwcfg.dma", &fw_cfg_dma_ops, s, 8);
    memory_region_add_subregion(m->io, FW_CFG_DMA_IO_BASE, &s->dma_io);
    m->fw_cfg = s;
    return true;
}

static void fw_cfg_reset(Device *dev)
{
    FWCfgState *s = (FWCfgState *)dev;

    if (s->machine_done && !s->machine_done_ran) {
        s->machine_done_ran = true;
        s->machine_done(s, s->machine_done_opaque);
    }
    arm_select_hooks(s);
    s->cur_entry = FW_CFG_INVALID;
    s->cur_offset = 0;
    s->dma_addr = 0;
}

static void fw_cfg_unrealize(Device *dev)
{
    FWCfgState *s = (FWCfgState *)dev;

    memory_region_destroy(&s->ctl_io);
    memory_region_destroy(&s->dma_io);
    for (int a = 0; a < 2; a++) {
        for (int i = 0; i < FW_CFG_MAX_ENTRY; i++) {
            g_free(s->entries[a][i].data);
        }
    }
    if (s->machine && s->machine->fw_cfg == s) {
        s->machine->fw_cfg = NULL;
    }
}

/* A stream may name any key; one the device lacks reads as nothing. */
static bool fw_cfg_post_load(void *opaque, int version_id, GError **errp)
{
    FWCfgState *s = opaque;

    if (s->cur_entry != FW_CFG_INVALID &&
        (s->cur_entry & FW_CFG_ENTRY_MASK) >= FW_CFG_MAX_ENTRY) {
        s->cur_entry = FW_CFG_INVALID;
    }
    return true;
}

static const VMStateField fw_cfg_vmstate_fields[] = {
    VMSTATE_UINT16(cur_entry, FWCfgState),
    VMSTATE_UINT32(cur_offset, FWCfgState),
    VMSTATE_UINT64(dma_addr, FWCfgState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription fw_cfg_vmstate = {
    .name = "fw_cfg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = fw_cfg_vmstate_fields,
    .post_load = fw_cfg_post_load,
};

static DeviceClass fw_cfg_io_class = {
    .name = "fw_cfg_io",
    .desc = "QEMU firmware configuration device (ports 0x510-0x51b)",
    .bus = "sys",
    .instance_size = sizeof(FWCfgState),
    .realize = fw_cfg_realize,
    .reset = fw_cfg_reset,
    .unrealize = fw_cfg_unrealize,
    .vmsd = &fw_cfg_vmstate,
};
DEVICE_REGISTER(fw_cfg_io_class)

FWCfgState *fw_cfg_create_io(Machine *m, GError **errp)
{
    Device *dev = device_new("fw_cfg_io", errp);

    if (!dev) {
        return NULL;
    }
    if (!device_realize(dev, m, errp)) {
        device_free(dev);
        return NULL;
    }
    return (FWCfgState *)dev;
}
