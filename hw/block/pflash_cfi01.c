/*
 * Parallel NOR flash with the Intel/Sharp command set (CFI primary command
 * set 0x0001), the PC's firmware flash as QEMU's x86 machines present it:
 * one x8 part on an 8-bit bus, 4 KiB erase blocks. Commands and status
 * bits follow Intel's 28F-series (StrataFlash J3, P30) datasheets, the
 * query table JEDEC JESD68 (CFI); where firmware depends on QEMU's model
 * (OVMF's flash probe), it behaves as QEMU's does.
 *
 * In read-array mode the guest reads and executes the array as memory (a
 * ROM device) and its writes are commands; every other mode maps an I/O
 * region over the array whose reads return status, identifier or query
 * data. Programs and erases are written through to the drive at once, so
 * a vars image keeps what the firmware stored.
 */
#include <string.h>

#include "block/block.h"
#include "hw/block/flash.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/opts.h"

/* Command codes (the datasheets' "Command Definitions"). */
enum {
    CMD_LOCK_BLOCK = 0x01,      /* after CMD_LOCK_SETUP */
    CMD_PROGRAM_ALT = 0x10,
    CMD_ERASE_SETUP = 0x20,
    CMD_LOCK_DOWN = 0x2f,       /* after CMD_LOCK_SETUP */
    CMD_PROGRAM = 0x40,
    CMD_CLEAR_STATUS = 0x50,
    CMD_LOCK_SETUP = 0x60,
    CMD_READ_STATUS = 0x70,
    CMD_READ_ID = 0x90,
    CMD_CFI_QUERY = 0x98,
    CMD_CONFIRM = 0xd0,         /* erase, buffered program; unlock */
    CMD_BUFFERED_PROGRAM = 0xe8,
    CMD_READ_ARRAY = 0xff,
};

/* Status register (SR.7 ... SR.0). */
#define SR_READY        0x80    /* SR.7: write state machine ready */
#define SR_ERASE_ERR    0x20    /* SR.5: erase (clear lock-bits) error */
#define SR_PROGRAM_ERR  0x10    /* SR.4: program (set lock-bit) error */
#define SR_LOCKED       0x02    /* SR.1: block locked, operation aborted */
/* SR.4 and SR.5 together: improper command sequence */
#define SR_SEQ_ERR      (SR_ERASE_ERR | SR_PROGRAM_ERR)

/* What the next access means. */
typedef enum PFlashMode {
    MODE_READ_ARRAY,
    MODE_READ_STATUS,
    MODE_READ_ID,
    MODE_CFI_QUERY,
    MODE_PROGRAM,           /* after 0x40/0x10: the next write is data */
    MODE_ERASE,             /* after 0x20: the next write must be 0xd0 */
    MODE_LOCK,              /* after 0x60: 0x01, 0xd0 or 0x2f */
    MODE_BUFFER_COUNT,      /* after 0xe8: the next write is count - 1 */
    MODE_BUFFER_DATA,       /* taking the announced bytes */
    MODE_BUFFER_CONFIRM,    /* all bytes in: 0xd0 programs them */
    MODE_COUNT,
} PFlashMode;

#define WRITE_BUFFER_BITS   8
#define WRITE_BUFFER_SIZE   (1u << WRITE_BUFFER_BITS)
#define CFI_TABLE_SIZE      0x40
#define MAX_FLASH_SIZE      (1ull << 31)

/* Intel's manufacturer code and a 28F-series x8 device code. */
#define ID_INTEL            0x89
#define ID_DEVICE           0x18

typedef struct PFlashCFI01 {
    Device dev;
    /* properties */
    char *drive;
    char *name;
    uint64_t sector_len;
    uint32_t width;
    uint32_t id_manufacturer;
    uint32_t id_device;

    BlockBackend *blk;
    uint64_t size;
    bool ro;                /* readonly=on: every block is locked */
    MemoryRegion container;
    MemoryRegion array;     /* ROM device: read-array mode */
    MemoryRegion cmd_io;    /* enabled over it in every other mode */
    uint8_t *storage;       /* the array's RAM */
    uint8_t cfi[CFI_TABLE_SIZE];
    uint8_t *loaded;        /* contents from a stream, until post_load */

    /* guest-visible state (vmstate) */
    uint8_t mode;           /* PFlashMode */
    uint8_t status;
    uint32_t buf_start;     /* array offset of the first buffered byte */
    uint32_t buf_count;     /* bytes announced by the count write */
    uint32_t buf_filled;    /* bytes received */
    uint8_t buf[WRITE_BUFFER_SIZE];
} PFlashCFI01;

static void set_mode(PFlashCFI01 *s, PFlashMode mode)
{
    s->mode = mode;
    memory_region_set_enabled(&s->cmd_io, mode != MODE_READ_ARRAY);
}

/* Where the array sits in the guest's space, or 0 while unmapped. */
static hwaddr guest_addr(PFlashCFI01 *s)
{
    hwaddr addr = 0;

    if (!s->container.parent) {
        return 0;
    }
    for (MemoryRegion *mr = &s->container; mr; mr = mr->parent) {
        addr += mr->addr;
    }
    return addr;
}

/*
 * Makes [off, off+len) of the array what storage holds now: the drive
 * gets it at once, the software CPU drops code decoded from there. A
 * host error fails the operation with err in the status register.
 */
static void write_through(PFlashCFI01 *s, uint64_t off, uint64_t len,
                          uint8_t err)
{
    hwaddr base = guest_addr(s);

    if (base && memory_ram_write_notify) {
        memory_ram_write_notify(base + off, len);
    }
    int ret = blk_pwrite(s->blk, off, s->storage + off, len);
    if (ret < 0) {
        s->status |= err;
        log_error_once("%s: cannot write to drive '%s': %s", s->name,
                       blk_name(s->blk), g_strerror(-ret));
    }
}

/* Single program (0x40/0x10, then data): size bytes at off. */
static void program(PFlashCFI01 *s, hwaddr off, uint64_t val, unsigned size)
{
    if (s->ro) {
        s->status |= SR_PROGRAM_ERR | SR_LOCKED;
    } else {
        /*
         * Real cells can only go from 1 to 0 between erases; QEMU's model,
         * which firmware is written against, stores the value as given.
         */
        for (unsigned i = 0; i < size; i++) {
            s->storage[off + i] = val >> (i * 8);
        }
        write_through(s, off, size, SR_PROGRAM_ERR);
    }
    s->status |= SR_READY;
    set_mode(s, MODE_READ_STATUS);
}

/* Block erase (0x20, then 0xd0 at an address in the block). */
static void erase_confirm(PFlashCFI01 *s, hwaddr off, uint8_t cmd)
{
    if (cmd != CMD_CONFIRM) {
        s->status |= SR_SEQ_ERR;
    } else if (s->ro) {
        s->status |= SR_ERASE_ERR | SR_LOCKED;
    } else {
        hwaddr start = off & ~(s->sector_len - 1);
        memset(s->storage + start, 0xff, s->sector_len);
        write_through(s, start, s->sector_len, SR_ERASE_ERR);
    }
    s->status |= SR_READY;
    set_mode(s, MODE_READ_STATUS);
}

/*
 * Block lock bits (0x60 then 0x01 lock, 0xd0 unlock, 0x2f lock-down): no
 * block of a writable flash is ever locked, as in QEMU; the read-only
 * flash stays locked whatever the guest asks.
 */
static void lock_confirm(PFlashCFI01 *s, uint8_t cmd)
{
    if (cmd != CMD_LOCK_BLOCK && cmd != CMD_CONFIRM && cmd != CMD_LOCK_DOWN) {
        s->status |= SR_SEQ_ERR;
    }
    s->status |= SR_READY;
    set_mode(s, MODE_READ_STATUS);
}

static void buffer_abort(PFlashCFI01 *s)
{
    s->status |= SR_SEQ_ERR | SR_READY;
    s->buf_count = s->buf_filled = 0;
    set_mode(s, MODE_READ_STATUS);
}

/* Buffered program, the count write: count - 1 in units of bytes. */
static void buffer_count(PFlashCFI01 *s, uint64_t val)
{
    if (val >= WRITE_BUFFER_SIZE) {
        log_guest_error("%s: buffered program of %" G_GUINT64_FORMAT
                        " bytes; the buffer holds %u\n", s->name, val + 1,
                        WRITE_BUFFER_SIZE);
        buffer_abort(s);
        return;
    }
    s->buf_count = val + 1;
    s->buf_filled = 0;
    set_mode(s, MODE_BUFFER_DATA);
}

/*
 * Buffered program data. The first write sets the start; the announced
 * range must lie in one buffer-aligned window of the array, and every
 * later write inside it (the datasheets' rule).
 */
static void buffer_data(PFlashCFI01 *s, hwaddr off, uint64_t val,
                        unsigned size)
{
    if (s->buf_filled == 0) {
        if ((off & (WRITE_BUFFER_SIZE - 1)) + s->buf_count >
                WRITE_BUFFER_SIZE || off + s->buf_count > s->size) {
            buffer_abort(s);
            return;
        }
        s->buf_start = off;
        /* bytes the guest leaves out keep what the array holds */
        memcpy(s->buf, s->storage + off, s->buf_count);
    }
    if (off < s->buf_start || off + size > s->buf_start + s->buf_count ||
        s->buf_filled + size > s->buf_count) {
        buffer_abort(s);
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        s->buf[off - s->buf_start + i] = val >> (i * 8);
    }
    s->buf_filled += size;
    if (s->buf_filled == s->buf_count) {
        set_mode(s, MODE_BUFFER_CONFIRM);
    }
}

static void buffer_confirm(PFlashCFI01 *s, uint8_t cmd)
{
    if (cmd != CMD_CONFIRM) {
        buffer_abort(s);
        return;
    }
    if (s->ro) {
        s->status |= SR_PROGRAM_ERR | SR_LOCKED;
    } else {
        memcpy(s->storage + s->buf_start, s->buf, s->buf_count);
        write_through(s, s->buf_start, s->buf_count, SR_PROGRAM_ERR);
    }
    s->status |= SR_READY;
    s->buf_count = s->buf_filled = 0;
    set_mode(s, MODE_READ_STATUS);
}

static void command(PFlashCFI01 *s, uint8_t cmd)
{
    switch (cmd) {
    case CMD_READ_ARRAY:
        set_mode(s, MODE_READ_ARRAY);
        break;
    case CMD_READ_STATUS:
        set_mode(s, MODE_READ_STATUS);
        break;
    case CMD_CLEAR_STATUS:
        /*
         * The datasheets keep SR.7 (ready) set; QEMU's model clears the
         * whole register and returns to read-array mode, and OVMF's flash
         * probe looks for exactly that: 0x50, then 0x70 must read 0x00.
         */
        s->status = 0;
        set_mode(s, MODE_READ_ARRAY);
        break;
    case CMD_READ_ID:
        set_mode(s, MODE_READ_ID);
        break;
    case CMD_CFI_QUERY:
        set_mode(s, MODE_CFI_QUERY);
        break;
    case CMD_PROGRAM:
    case CMD_PROGRAM_ALT:
        set_mode(s, MODE_PROGRAM);
        break;
    case CMD_ERASE_SETUP:
        set_mode(s, MODE_ERASE);
        break;
    case CMD_LOCK_SETUP:
        set_mode(s, MODE_LOCK);
        break;
    case CMD_BUFFERED_PROGRAM:
        s->buf_count = s->buf_filled = 0;
        set_mode(s, MODE_BUFFER_COUNT);
        break;
    default:
        /* as QEMU: back to reading the array, here with the error noted */
        log_guest_error("%s: unknown command 0x%02x\n", s->name, cmd);
        s->status |= SR_SEQ_ERR;
        set_mode(s, MODE_READ_ARRAY);
        break;
    }
}

/*
 * Every guest write, in any mode. A command is the low byte of the value
 * (QEMU's x86 flash takes 1-, 2- and 4-byte writes alike); data writes
 * store all size bytes.
 */
static void pflash_write(void *opaque, hwaddr off, uint64_t val,
                         unsigned size)
{
    PFlashCFI01 *s = opaque;

    if (off >= s->size || size > s->size - off) {
        return;     /* the memory core keeps accesses inside the region */
    }
    val &= ~0ull >> (64 - size * 8);    /* callers may sign-extend */
    switch ((PFlashMode)s->mode) {
    case MODE_PROGRAM:
        program(s, off, val, size);
        break;
    case MODE_ERASE:
        erase_confirm(s, off, val);
        break;
    case MODE_LOCK:
        lock_confirm(s, val);
        break;
    case MODE_BUFFER_COUNT:
        buffer_count(s, val);
        break;
    case MODE_BUFFER_DATA:
        buffer_data(s, off, val, size);
        break;
    case MODE_BUFFER_CONFIRM:
        buffer_confirm(s, val);
        break;
    default:
        command(s, val);
        break;
    }
}

/*
 * Identifier codes: manufacturer at 0, device at 1, and at offset 2 of
 * each block its lock status (bit 0: locked).
 */
static uint8_t read_id(PFlashCFI01 *s, hwaddr off)
{
    switch (off & (s->sector_len - 1)) {
    case 0:
        return s->id_manufacturer;
    case 1:
        return s->id_device;
    case 2:
        return s->ro ? 0x01 : 0x00;
    default:
        return 0;
    }
}

/* Reads outside read-array mode: one byte of status, ID or query data. */
static uint64_t pflash_read(void *opaque, hwaddr off, unsigned size)
{
    PFlashCFI01 *s = opaque;
    uint64_t val = 0;

    if (off >= s->size || size > s->size - off) {
        return 0;
    }
    switch ((PFlashMode)s->mode) {
    case MODE_READ_ARRAY:   /* not reached: the I/O region is off */
        memcpy(&val, s->storage + off, size);
        return val;
    case MODE_READ_ID:
        return read_id(s, off);
    case MODE_CFI_QUERY:
        /* the table repeats every 256 bytes, as in QEMU's model */
        off &= 0xff;
        return off < CFI_TABLE_SIZE ? s->cfi[off] : 0;
    default:
        return s->status;
    }
}

static const MemoryRegionOps pflash_array_ops = {
    .write = pflash_write,
    .impl_min = 1,
    .impl_max = 4,
};

static const MemoryRegionOps pflash_cmd_ops = {
    .read = pflash_read,
    .write = pflash_write,
    .impl_min = 1,
    .impl_max = 4,
};

static unsigned log2_ceil(uint64_t v)
{
    unsigned n = 0;

    while ((1ull << n) < v) {
        n++;
    }
    return n;
}

/* The CFI query table (JESD68) with Intel's primary extended table. */
static void build_cfi_table(PFlashCFI01 *s)
{
    uint8_t *t = s->cfi;
    uint64_t blocks = s->size / s->sector_len;

    memset(t, 0, CFI_TABLE_SIZE);
    t[0x10] = 'Q';
    t[0x11] = 'R';
    t[0x12] = 'Y';
    t[0x13] = 0x01;     /* primary command set: Intel/Sharp extended */
    t[0x15] = 0x31;     /* its extended table is at 0x31 */
    t[0x1b] = 0x27;     /* Vcc 2.7 V ... */
    t[0x1c] = 0x36;     /* ... to 3.6 V; no Vpp (0x1d, 0x1e) */
    t[0x1f] = 0x07;     /* typical program: 2^7 us */
    t[0x20] = 0x07;     /* typical buffer program: 2^7 us */
    t[0x21] = 0x0a;     /* typical block erase: 2^10 ms */
    t[0x23] = 0x04;     /* maximum times: 2^4 times the typical */
    t[0x24] = 0x04;
    t[0x25] = 0x04;
    t[0x27] = log2_ceil(s->size);   /* device size: 2^n bytes */
    t[0x28] = 0x00;     /* x8 only */
    t[0x2a] = WRITE_BUFFER_BITS;    /* write buffer: 2^n bytes */
    t[0x2c] = 0x01;     /* one erase block region: */
    t[0x2d] = (blocks - 1) & 0xff;  /* blocks - 1 */
    t[0x2e] = (blocks - 1) >> 8;
    t[0x2f] = (s->sector_len >> 8) & 0xff;  /* block size / 256 */
    t[0x30] = s->sector_len >> 16;
    /* primary vendor-specific extended query, version 1.1 */
    t[0x31] = 'P';
    t[0x32] = 'R';
    t[0x33] = 'I';
    t[0x34] = '1';
    t[0x35] = '1';
    t[0x3b] = 0x01;     /* block status register: lock bit */
    t[0x3d] = 0x33;     /* optimum Vcc 3.3 V */
}

static bool pflash_check_geometry(PFlashCFI01 *s, int64_t len, GError **errp)
{
    if (s->width != 1) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: width=%u: only 1 (an x8 "
                    "flash) is supported", TYPE_PFLASH_CFI01, s->width);
        return false;
    }
    if (s->sector_len < 256 || s->sector_len > (1u << 24) ||
        (s->sector_len & (s->sector_len - 1))) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: sector-length=%" G_GUINT64_FORMAT
                    " must be a power of 2 from 256 to 16 MiB",
                    TYPE_PFLASH_CFI01, s->sector_len);
        return false;
    }
    if (len <= 0 || len % s->sector_len || (uint64_t)len > MAX_FLASH_SIZE ||
        len / s->sector_len > 65536) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: drive '%s' is %" G_GINT64_FORMAT
                    " bytes; a flash must be a non-zero multiple of its "
                    "0x%" G_GINT64_MODIFIER "x-byte blocks", TYPE_PFLASH_CFI01,
                    s->drive, len, s->sector_len);
        return false;
    }
    return true;
}

static bool pflash_realize(Device *dev, Machine *m, GError **errp)
{
    PFlashCFI01 *s = (PFlashCFI01 *)dev;

    if (!s->drive) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: drive= is required",
                    TYPE_PFLASH_CFI01);
        return false;
    }
    BlockBackend *blk = blk_find(s->drive);
    if (!blk) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: no drive '%s'",
                    TYPE_PFLASH_CFI01, s->drive);
        return false;
    }
    int64_t len = blk_getlength(blk);
    if (!pflash_check_geometry(s, len, errp) ||
        !blk_attach_dev(blk, TYPE_PFLASH_CFI01, errp)) {
        return false;
    }
    s->blk = blk;
    s->size = len;
    s->ro = blk_is_read_only(blk);
    if (!s->name) {
        s->name = g_strdup(blk_name(blk));
    }
    if (!memory_region_init_rom_device(&s->array, s->name, &pflash_array_ops,
                                       s, s->size, errp)) {
        blk_detach_dev(blk);
        s->blk = NULL;
        return false;
    }
    s->storage = memory_region_get_ram_ptr(&s->array);
    int ret = blk_pread(blk, 0, s->storage, s->size);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: cannot read drive '%s': %s",
                    TYPE_PFLASH_CFI01, s->drive, g_strerror(-ret));
        memory_region_destroy(&s->array);
        blk_detach_dev(blk);
        s->blk = NULL;
        return false;
    }
    build_cfi_table(s);
    memory_region_init_container(&s->container, s->name, s->size);
    memory_region_init_io(&s->cmd_io, s->name, &pflash_cmd_ops, s, s->size);
    memory_region_set_enabled(&s->cmd_io, false);
    memory_region_add_subregion(&s->container, 0, &s->array);
    memory_region_add_subregion_overlap(&s->container, 0, &s->cmd_io, 1);
    s->mode = MODE_READ_ARRAY;
    s->status = SR_READY;
    return true;
}

static void pflash_unrealize(Device *dev)
{
    PFlashCFI01 *s = (PFlashCFI01 *)dev;

    g_clear_pointer(&s->loaded, g_free);
    if (!s->blk) {
        return;
    }
    memory_region_destroy(&s->cmd_io);
    memory_region_destroy(&s->array);
    memory_region_destroy(&s->container);
    blk_detach_dev(s->blk);
    s->blk = NULL;
}

static void pflash_reset(Device *dev)
{
    PFlashCFI01 *s = (PFlashCFI01 *)dev;

    s->status = SR_READY;
    s->buf_start = s->buf_count = s->buf_filled = 0;
    set_mode(s, MODE_READ_ARRAY);
}

MemoryRegion *pflash_cfi01_get_memory(Device *dev)
{
    return &((PFlashCFI01 *)dev)->container;
}

/* ---- migration ---- */

/*
 * The array of a writable flash travels with the state (QEMU migrates it
 * as RAM) and, once the whole state is accepted, is written back to the
 * drive, so the image agrees with what the guest sees; a read-only flash
 * sends nothing, its image cannot differ.
 */
static bool contents_save(GByteArray *out, void *opaque, GError **errp)
{
    PFlashCFI01 *s = opaque;

    if (s->ro) {
        vmstate_put_u32(out, 0);
        return true;
    }
    vmstate_put_u32(out, s->size);
    g_byte_array_append(out, s->storage, s->size);
    return true;
}

static bool contents_load(VMStateReader *in, void *opaque, GError **errp)
{
    PFlashCFI01 *s = opaque;
    uint32_t len;

    if (!vmstate_get_u32(in, &len, errp)) {
        return false;
    }
    if (len == 0 && s->ro) {
        return true;
    }
    if (len != s->size || s->ro) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: the stream holds %u bytes of "
                    "flash, this %s flash has %" G_GUINT64_FORMAT, s->name,
                    len, s->ro ? "read-only" : "writable", s->size);
        return false;
    }
    g_autofree uint8_t *data = g_malloc(len);
    if (!vmstate_get_bytes(in, data, len, errp)) {
        return false;
    }
    /* used once post_load accepted the whole state */
    g_free(s->loaded);
    s->loaded = g_steal_pointer(&data);
    return true;
}

static const VMStateInfo pflash_contents_info = {
    .name = "pflash-contents",
    .save = contents_save,
    .load = contents_load,
};

static bool pflash_post_load(void *opaque, int version_id, GError **errp)
{
    PFlashCFI01 *s = opaque;

    if (s->mode >= MODE_COUNT || s->buf_count > WRITE_BUFFER_SIZE ||
        s->buf_filled > s->buf_count ||
        s->buf_start > s->size - s->buf_count ||
        ((s->mode == MODE_BUFFER_DATA || s->mode == MODE_BUFFER_CONFIRM) &&
         !s->buf_count)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: invalid state (mode %u, "
                    "buffer %u/%u at 0x%x)", s->name, s->mode, s->buf_filled,
                    s->buf_count, s->buf_start);
        g_clear_pointer(&s->loaded, g_free);
        return false;
    }
    if (s->loaded) {
        memcpy(s->storage, s->loaded, s->size);
        g_clear_pointer(&s->loaded, g_free);
        write_through(s, 0, s->size, 0);
    }
    set_mode(s, s->mode);
    return true;
}

static const VMStateField pflash_fields[] = {
    VMSTATE_UINT8(mode, PFlashCFI01),
    VMSTATE_UINT8(status, PFlashCFI01),
    VMSTATE_UINT32(buf_start, PFlashCFI01),
    VMSTATE_UINT32(buf_count, PFlashCFI01),
    VMSTATE_UINT32(buf_filled, PFlashCFI01),
    VMSTATE_BUFFER(buf, PFlashCFI01),
    VMSTATE_CUSTOM("contents", pflash_contents_info),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_pflash = {
    .name = TYPE_PFLASH_CFI01,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pflash_fields,
    .post_load = pflash_post_load,
};

static const Property pflash_props[] = {
    PROP_STR("drive", PFlashCFI01, drive, NULL, "the drive (image) it holds"),
    PROP_STR("name", PFlashCFI01, name, NULL, "its memory region's name"),
    PROP_U64("sector-length", PFlashCFI01, sector_len,
             PFLASH_CFI01_SECTOR_SIZE, "erase block size in bytes"),
    PROP_U32("width", PFlashCFI01, width, 1, "bus width in bytes (1)"),
    PROP_U32("id0", PFlashCFI01, id_manufacturer, ID_INTEL,
             "manufacturer code"),
    PROP_U32("id1", PFlashCFI01, id_device, ID_DEVICE, "device code"),
    PROP_END,
};

static DeviceClass pflash_cfi01_class = {
    .name = TYPE_PFLASH_CFI01,
    .desc = "CFI parallel flash, Intel/Sharp command set",
    .bus = "sys",
    .instance_size = sizeof(PFlashCFI01),
    .props = pflash_props,
    .realize = pflash_realize,
    .reset = pflash_reset,
    .unrealize = pflash_unrealize,
    .vmsd = &vmstate_pflash,
};
DEVICE_REGISTER(pflash_cfi01_class)
