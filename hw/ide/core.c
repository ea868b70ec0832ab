/*
 * The ATA device and its task file (ATA/ATAPI-6, T13/1410D; ACS-3 for the
 * LBA48 commands): PIO and DMA data commands on the block layer, IDENTIFY,
 * cache, power and reset commands, master/slave selection, software reset
 * and the register behaviour of absent devices as QEMU shows it.
 */
#include <errno.h>
#include <string.h>

#include "hw/ide/ide.h"
#include "migration/vmstate.h"
#include "util/opts.h"
#include "system/runstate.h"
#include "util/log.h"

/* ATA-6 command codes */
#define WIN_DEVICE_RESET        0x08
#define WIN_RECAL               0x10    /* 0x10-0x1f */
#define WIN_READ                0x20
#define WIN_READ_ONCE           0x21
#define WIN_READ_EXT            0x24
#define WIN_READDMA_EXT         0x25
#define WIN_READ_NATIVE_MAX_EXT 0x27
#define WIN_MULTREAD_EXT        0x29
#define WIN_WRITE               0x30
#define WIN_WRITE_ONCE          0x31
#define WIN_WRITE_EXT           0x34
#define WIN_WRITEDMA_EXT        0x35
#define WIN_MULTWRITE_EXT       0x39
#define WIN_VERIFY              0x40
#define WIN_VERIFY_ONCE         0x41
#define WIN_VERIFY_EXT          0x42
#define WIN_SEEK                0x70
#define WIN_DIAGNOSE            0x90
#define WIN_SPECIFY             0x91
#define WIN_STANDBYNOW2         0x94
#define WIN_IDLEIMMEDIATE2      0x95
#define WIN_STANDBY2            0x96
#define WIN_SETIDLE2            0x97
#define WIN_CHECKPOWERMODE2     0x98
#define WIN_SLEEPNOW2           0x99
#define WIN_PACKETCMD           0xa0
#define WIN_PIDENTIFY           0xa1
#define WIN_MULTREAD            0xc4
#define WIN_MULTWRITE           0xc5
#define WIN_SETMULT             0xc6
#define WIN_READDMA             0xc8
#define WIN_READDMA_ONCE        0xc9
#define WIN_WRITEDMA            0xca
#define WIN_WRITEDMA_ONCE       0xcb
#define WIN_STANDBYNOW1         0xe0
#define WIN_IDLEIMMEDIATE       0xe1
#define WIN_STANDBY             0xe2
#define WIN_SETIDLE1            0xe3
#define WIN_CHECKPOWERMODE1     0xe5
#define WIN_SLEEPNOW1           0xe6
#define WIN_FLUSH_CACHE         0xe7
#define WIN_FLUSH_CACHE_EXT     0xea
#define WIN_IDENTIFY            0xec
#define WIN_SETFEATURES         0xef
#define WIN_READ_NATIVE_MAX     0xf8

/* SET FEATURES subcommands (ATA-6 8.37) */
#define SETFEATURES_EN_WCACHE   0x02
#define SETFEATURES_XFER        0x03
#define SETFEATURES_DIS_RLA     0x55
#define SETFEATURES_EN_DEFECT   0x04
#define SETFEATURES_DIS_DEFECT  0x84
#define SETFEATURES_DIS_RPOD    0x66
#define SETFEATURES_DIS_WCACHE  0x82
#define SETFEATURES_EN_RLA      0xaa
#define SETFEATURES_EN_RPOD     0xcc

#define ATA_DEV_LBA             0x40
#define ATA_DEV_SELECT          0x10
#define ATA_DEV_ALWAYS_ON       0xa0


typedef enum IDEAioOp {
    IDE_AIO_READ,
    IDE_AIO_WRITE,
    IDE_AIO_FLUSH,
} IDEAioOp;

struct IDEAio {
    IDEState *s;
    uint64_t gen;
    IDEAioOp op;
    int64_t offset;
    uint8_t *buf;
    uint32_t len;
    struct iovec iov;
    void (*done)(IDEState *s, int ret);
};

static IDEState *cur_dev(IDEBus *bus)
{
    return &bus->ifs[bus->unit & 1];
}

void ide_set_irq(IDEBus *bus)
{
    if (!(bus->cmd & IDE_CTRL_NIEN)) {
        if (bus->dma_ops && bus->dma_ops->irq_notify) {
            bus->dma_ops->irq_notify(bus);
        }
        irq_raise(bus->irq);
    }
}

/* --- strings of IDENTIFY and INQUIRY --- */

void ide_padstr(char *dst, const char *src, int len)
{
    int n = src ? strlen(src) : 0;

    for (int i = 0; i < len; i++) {
        dst[i] = i < n ? src[i] : ' ';
    }
}

/* ATA strings: two characters a word, the first in the high byte. */
void ide_put_str(uint16_t *words, const char *str, int len)
{
    char tmp[64];

    ide_padstr(tmp, str, len);
    for (int i = 0; i < len / 2; i++) {
        words[i] = GUINT16_TO_LE((uint8_t)tmp[2 * i] << 8 |
                                 (uint8_t)tmp[2 * i + 1]);
    }
}

/* --- PIO --- */

void ide_transfer_start(IDEState *s, uint32_t offset, uint32_t size,
                        IDEEndTransfer end)
{
    s->data_ptr = offset;
    s->data_end = offset + size;
    s->end_transfer = end;
    s->status = (s->status & ~BUSY_STAT) | DRQ_STAT;
}

void ide_transfer_stop(IDEState *s)
{
    s->end_transfer = IDE_END_STOP;
    s->data_ptr = s->data_end = 0;
    s->status &= ~DRQ_STAT;
}

void ide_abort_command(IDEState *s)
{
    ide_transfer_stop(s);
    s->status = READY_STAT | ERR_STAT;
    s->error = ABRT_ERR;
}

static void ide_cmd_done(IDEState *s)
{
    ide_transfer_stop(s);
    s->status = READY_STAT | SEEK_STAT;
    ide_set_irq(s->bus);
}

static void ide_cmd_error(IDEState *s, uint8_t error)
{
    ide_abort_command(s);
    s->error = error;
    ide_set_irq(s->bus);
}

void ide_set_signature(IDEState *s)
{
    s->select &= 0xf0;      /* head 0 */
    s->nsector = 1;
    s->sector = 1;
    if (s->kind == IDE_CD) {
        s->lcyl = 0x14;
        s->hcyl = 0xeb;
    } else if (s->kind == IDE_HD) {
        s->lcyl = 0;
        s->hcyl = 0;
    } else {
        s->lcyl = 0xff;
        s->hcyl = 0xff;
    }
}

/* --- asynchronous I/O --- */

static void aio_free(IDEAio *a)
{
    g_free(a->buf);
    g_free(a);
}

static void aio_complete(void *opaque, int ret)
{
    IDEAio *a = opaque;
    IDEState *s = a->s;

    if (a->gen != s->gen) {
        aio_free(a);        /* the device was reset meanwhile */
        return;
    }
    s->aio = NULL;
    if (ret < 0 && ret != -ENOMEDIUM) {
        switch (blk_handle_io_error(s->blk, a->op == IDE_AIO_READ, -ret)) {
        case BLOCK_ERROR_ACTION_STOP:
            s->retry = a;       /* resubmitted when the VM runs again */
            return;
        case BLOCK_ERROR_ACTION_IGNORE:
            ret = 0;
            break;
        case BLOCK_ERROR_ACTION_REPORT:
            break;
        }
    }
    if (ret == 0 && a->op == IDE_AIO_READ) {
        memcpy(s->io_buffer, a->buf, a->len);
    }
    void (*done)(IDEState *, int) = a->done;
    aio_free(a);
    done(s, ret);
}

static void aio_start(IDEAio *a)
{
    IDEState *s = a->s;

    s->aio = a;
    switch (a->op) {
    case IDE_AIO_READ:
        blk_aio_preadv(s->blk, a->offset, &a->iov, 1, aio_complete, a);
        break;
    case IDE_AIO_WRITE:
        blk_aio_pwritev(s->blk, a->offset, &a->iov, 1, aio_complete, a);
        break;
    case IDE_AIO_FLUSH:
        blk_aio_flush(s->blk, aio_complete, a);
        break;
    }
}

/*
 * Each request has a buffer of its own: a reset may reuse io_buffer while
 * the old request is still in the block layer.
 */
static void aio_new(IDEState *s, IDEAioOp op, int64_t offset, uint32_t len,
                    void (*done)(IDEState *s, int ret))
{
    IDEAio *a = g_new0(IDEAio, 1);

    a->s = s;
    a->gen = s->gen;
    a->op = op;
    a->offset = offset;
    a->len = len;
    a->buf = g_malloc(len ? len : 1);
    if (op == IDE_AIO_WRITE) {
        memcpy(a->buf, s->io_buffer, len);
    }
    a->iov.iov_base = a->buf;
    a->iov.iov_len = len;
    a->done = done;
    s->status |= BUSY_STAT;
    aio_start(a);
}

void ide_aio_read(IDEState *s, int64_t offset, uint32_t nbytes,
                  void (*done)(IDEState *s, int ret))
{
    aio_new(s, IDE_AIO_READ, offset, nbytes, done);
}

/* werror/rerror=stop held the request: the VM runs again, so retry. */
void ide_retry_request(IDEState *s)
{
    IDEAio *a = s->retry;

    if (a) {
        s->retry = NULL;
        aio_start(a);
    }
}

/* Requests in flight complete into nothing; a held one is dropped. */
void ide_drop_requests(IDEState *s)
{
    s->gen++;
    s->aio = NULL;
    if (s->retry) {
        aio_free(s->retry);
        s->retry = NULL;
    }
}

/* --- addressing --- */

void ide_guess_geometry(uint64_t nb, uint32_t *cyls, uint32_t *heads,
                           uint32_t *secs)
{
    uint64_t c = nb / (16 * 63);

    *heads = 16;
    *secs = 63;
    *cyls = c < 1 ? 1 : c > 16383 ? 16383 : c;
}

/* The sector the task file names, or -1 for a CHS address outside it. */
static int64_t ide_get_sector(IDEState *s)
{
    if (s->select & ATA_DEV_LBA) {
        if (s->lba48) {
            return (int64_t)s->hob_hcyl << 40 | (int64_t)s->hob_lcyl << 32 |
                   (int64_t)s->hob_sector << 24 | s->hcyl << 16 |
                   s->lcyl << 8 | s->sector;
        }
        return (s->select & 0x0f) << 24 | s->hcyl << 16 | s->lcyl << 8 |
               s->sector;
    }
    uint32_t cyl = s->hcyl << 8 | s->lcyl;
    uint32_t head = s->select & 0x0f;
    if (!s->heads || !s->sectors || s->sector == 0 ||
        s->sector > s->sectors || head >= s->heads) {
        return -1;
    }
    return ((int64_t)cyl * s->heads + head) * s->sectors + (s->sector - 1);
}

static void ide_set_sector(IDEState *s, int64_t n)
{
    if (s->select & ATA_DEV_LBA) {
        if (s->lba48) {
            s->sector = n;
            s->lcyl = n >> 8;
            s->hcyl = n >> 16;
            s->hob_sector = n >> 24;
            s->hob_lcyl = n >> 32;
            s->hob_hcyl = n >> 40;
        } else {
            s->select = (s->select & 0xf0) | ((n >> 24) & 0x0f);
            s->hcyl = n >> 16;
            s->lcyl = n >> 8;
            s->sector = n;
        }
    } else if (s->heads && s->sectors) {
        uint32_t cyl = n / (s->heads * s->sectors);
        uint32_t r = n % (s->heads * s->sectors);
        s->hcyl = cyl >> 8;
        s->lcyl = cyl;
        s->select = (s->select & 0xf0) | ((r / s->sectors) & 0x0f);
        s->sector = r % s->sectors + 1;
    }
}

static uint32_t ide_get_nsector(IDEState *s)
{
    if (s->lba48) {
        uint32_t n = s->hob_nsector << 8 | s->nsector;
        return n ? n : 65536;
    }
    return s->nsector ? s->nsector : 256;
}

/* Sets up req_sector/req_nsector; false (with the error raised) if the
 * range is not on the disk. */
static bool ide_setup_rw(IDEState *s)
{
    int64_t sector = ide_get_sector(s);
    uint32_t n = ide_get_nsector(s);

    if (sector < 0 || (uint64_t)sector > s->nb_sectors ||
        n > s->nb_sectors - sector) {
        ide_cmd_error(s, IDNF_ERR);
        return false;
    }
    s->req_sector = sector;
    s->req_nsector = n;
    return true;
}

static void ide_rw_error(IDEState *s)
{
    if (s->dma_active) {
        ide_dma_end(s, true);
    }
    ide_cmd_error(s, ABRT_ERR);
}

/* After each block: the task file names the next sector, the count the
 * sectors left (as QEMU leaves them). */
static void ide_advance(IDEState *s, uint32_t n)
{
    s->req_sector += n;
    s->req_nsector -= n;
    ide_set_sector(s, s->req_sector);
    s->nsector = s->req_nsector;
    if (s->lba48) {
        s->hob_nsector = s->req_nsector >> 8;
    }
}

static uint32_t block_sectors(IDEState *s, bool multiple)
{
    uint32_t per = multiple ? s->mult_sectors : 1;

    return MIN(s->req_nsector, per);
}

/* --- PIO read/write --- */

static bool pio_multiple(IDEState *s)
{
    return s->command == WIN_MULTREAD || s->command == WIN_MULTREAD_EXT ||
           s->command == WIN_MULTWRITE || s->command == WIN_MULTWRITE_EXT;
}

static void sector_read_done(IDEState *s, int ret)
{
    if (ret < 0) {
        ide_rw_error(s);
        return;
    }
    uint32_t n = s->req_nsector_blk;
    ide_advance(s, n);
    s->status = READY_STAT | SEEK_STAT;
    ide_transfer_start(s, 0, n * IDE_SECTOR_SIZE, IDE_END_SECTOR_READ);
    ide_set_irq(s->bus);
}

static void ide_sector_read(IDEState *s)
{
    uint32_t n = block_sectors(s, pio_multiple(s));

    s->req_nsector_blk = n;
    s->status = READY_STAT | SEEK_STAT | BUSY_STAT;
    ide_aio_read(s, s->req_sector * IDE_SECTOR_SIZE, n * IDE_SECTOR_SIZE,
                 sector_read_done);
}

static void sector_write_done(IDEState *s, int ret)
{
    if (ret < 0) {
        ide_rw_error(s);
        return;
    }
    ide_advance(s, s->req_nsector_blk);
    if (s->req_nsector) {
        uint32_t n = block_sectors(s, pio_multiple(s));
        s->req_nsector_blk = n;
        s->status = READY_STAT | SEEK_STAT;
        ide_transfer_start(s, 0, n * IDE_SECTOR_SIZE, IDE_END_SECTOR_WRITE);
    } else {
        ide_transfer_stop(s);
        s->status = READY_STAT | SEEK_STAT;
    }
    ide_set_irq(s->bus);
}

static void ide_sector_write(IDEState *s)
{
    ide_transfer_stop(s);
    s->status = READY_STAT | SEEK_STAT | BUSY_STAT;
    aio_new(s, IDE_AIO_WRITE, s->req_sector * IDE_SECTOR_SIZE,
            s->req_nsector_blk * IDE_SECTOR_SIZE, sector_write_done);
}

static void ide_start_pio_write(IDEState *s)
{
    uint32_t n = block_sectors(s, pio_multiple(s));

    s->req_nsector_blk = n;
    s->status = READY_STAT | SEEK_STAT;
    ide_transfer_start(s, 0, n * IDE_SECTOR_SIZE, IDE_END_SECTOR_WRITE);
}

/* The PIO buffer has been read or written to its end. */
static void ide_end_transfer(IDEState *s)
{
    switch (s->end_transfer) {
    case IDE_END_SECTOR_READ:
        if (s->req_nsector) {
            ide_transfer_stop(s);
            ide_sector_read(s);
        } else {
            ide_transfer_stop(s);
            s->status = READY_STAT | SEEK_STAT;
        }
        break;
    case IDE_END_SECTOR_WRITE:
        ide_sector_write(s);
        break;
    case IDE_END_ATAPI_PACKET:
        memcpy(s->packet, s->io_buffer, sizeof(s->packet));
        ide_transfer_stop(s);
        ide_atapi_cmd(s);
        break;
    case IDE_END_ATAPI_REPLY: {
        uint32_t pos = s->data_end;     /* the next piece starts here */
        ide_transfer_stop(s);
        s->data_end = pos;
        ide_atapi_reply_next(s);
        break;
    }
    default:
        ide_transfer_stop(s);
        s->status = READY_STAT | SEEK_STAT;
        break;
    }
}

void ide_pio_transfer_end(IDEState *s)
{
    if (!(s->status & DRQ_STAT)) {
        return;
    }
    s->data_ptr = s->data_end;
    ide_end_transfer(s);
}

uint32_t ide_data_read(IDEBus *bus, unsigned size)
{
    IDEState *s = cur_dev(bus);
    uint32_t val = 0;

    if (!(s->status & DRQ_STAT) || s->end_transfer == IDE_END_SECTOR_WRITE ||
        s->end_transfer == IDE_END_ATAPI_PACKET) {
        return 0;
    }
    for (unsigned i = 0; i < size && s->data_ptr < s->data_end; i++) {
        val |= (uint32_t)s->io_buffer[s->data_ptr++] << (8 * i);
    }
    if (s->data_ptr >= s->data_end) {
        ide_end_transfer(s);
    }
    return val;
}

void ide_data_write(IDEBus *bus, uint32_t val, unsigned size)
{
    IDEState *s = cur_dev(bus);

    if (!(s->status & DRQ_STAT) || (s->end_transfer != IDE_END_SECTOR_WRITE &&
                                    s->end_transfer != IDE_END_ATAPI_PACKET)) {
        return;
    }
    for (unsigned i = 0; i < size && s->data_ptr < s->data_end; i++) {
        s->io_buffer[s->data_ptr++] = val >> (8 * i);
    }
    if (s->data_ptr >= s->data_end) {
        ide_end_transfer(s);
    }
}

/* --- DMA --- */

void ide_dma_start(IDEState *s, IDEDMAKind k)
{
    IDEBus *bus = s->bus;

    if (!bus->dma_ops) {
        ide_abort_command(s);
        ide_set_irq(bus);
        return;
    }
    s->dma_kind = k;
    s->dma_active = true;
    bus->dma_unit = s->unit;
    s->status = READY_STAT | SEEK_STAT | DRQ_STAT;
    bus->dma_ops->start(bus);
}

void ide_dma_end(IDEState *s, bool error)
{
    s->dma_active = false;
    s->dma_kind = IDE_DMA_NONE;
    if (s->bus->dma_ops) {
        s->bus->dma_ops->set_inactive(s->bus, error);
    }
}

static void dma_step(IDEState *s);

static void dma_read_done(IDEState *s, int ret)
{
    if (ret < 0) {
        ide_rw_error(s);
        return;
    }
    uint32_t len = s->req_nsector_blk * IDE_SECTOR_SIZE;
    int moved = s->bus->dma_ops->rw_buf(s->bus, s->io_buffer, len, false);
    if (moved < 0 || (uint32_t)moved < len) {
        /* bus error, or a PRD table shorter than the command */
        ide_rw_error(s);
        return;
    }
    ide_advance(s, s->req_nsector_blk);
    dma_step(s);
}

static void dma_write_done(IDEState *s, int ret)
{
    if (ret < 0) {
        ide_rw_error(s);
        return;
    }
    ide_advance(s, s->req_nsector_blk);
    dma_step(s);
}

static void dma_step(IDEState *s)
{
    if (!s->dma_active) {
        return;
    }
    if (s->req_nsector == 0) {
        ide_dma_end(s, false);
        ide_cmd_done(s);
        return;
    }
    uint32_t n = MIN(s->req_nsector, IDE_DMA_STEP_SECTORS);
    s->req_nsector_blk = n;
    if (s->dma_kind == IDE_DMA_READ) {
        ide_aio_read(s, s->req_sector * IDE_SECTOR_SIZE, n * IDE_SECTOR_SIZE,
                     dma_read_done);
        return;
    }
    int moved = s->bus->dma_ops->rw_buf(s->bus, s->io_buffer,
                                        n * IDE_SECTOR_SIZE, true);
    if (moved < 0 || (uint32_t)moved < n * IDE_SECTOR_SIZE) {
        ide_rw_error(s);
        return;
    }
    aio_new(s, IDE_AIO_WRITE, s->req_sector * IDE_SECTOR_SIZE,
            n * IDE_SECTOR_SIZE, dma_write_done);
}

void ide_dma_run(IDEBus *bus)
{
    IDEState *s = &bus->ifs[bus->dma_unit & 1];

    if (!s->dma_active || s->aio || s->retry) {
        return;         /* nothing to do, or a step is already under way */
    }
    if (s->dma_kind == IDE_DMA_ATAPI) {
        ide_atapi_dma_next(s);
    } else {
        dma_step(s);
    }
}

void ide_dma_cancel(IDEBus *bus)
{
    IDEState *s = &bus->ifs[bus->dma_unit & 1];

    if (!s->dma_active) {
        return;
    }
    /* the request in flight still completes, but into nothing */
    ide_drop_requests(s);
    s->dma_active = false;
    s->dma_kind = IDE_DMA_NONE;
    ide_abort_command(s);
}

/* --- IDENTIFY DEVICE (ATA-6 8.15) --- */

static void put16(uint16_t *p, int w, uint16_t v)
{
    p[w] = GUINT16_TO_LE(v);
}

static void ide_identify(IDEState *s)
{
    uint16_t *p = (uint16_t *)s->io_buffer;
    uint32_t dc, dh, ds;
    uint64_t lba28 = MIN(s->nb_sectors, 0x0fffffff);
    uint64_t chs = (uint64_t)s->cylinders * s->heads * s->sectors;
    bool wce = blk_enable_write_cache(s->blk);

    memset(p, 0, 512);
    ide_guess_geometry(s->nb_sectors, &dc, &dh, &ds);
    put16(p, 0, 0x0040);                /* fixed, non-removable */
    put16(p, 1, dc);
    put16(p, 3, dh);
    put16(p, 4, 512 * ds);              /* obsolete */
    put16(p, 5, 512);
    put16(p, 6, ds);
    ide_put_str(p + 10, s->serial, 20);
    put16(p, 20, 3);                    /* buffer type */
    put16(p, 21, 512);                  /* cache size in sectors */
    put16(p, 22, 4);                    /* ECC bytes */
    ide_put_str(p + 23, s->version, 8);
    ide_put_str(p + 27, s->model, 40);
    put16(p, 47, 0x8000 | IDE_MAX_MULT_SECTORS);
    put16(p, 48, 1);                    /* 32-bit PIO */
    put16(p, 49, 1 << 11 | 1 << 9 | 1 << 8);    /* IORDY, LBA, DMA */
    put16(p, 51, 0x200);
    put16(p, 52, 0x200);
    put16(p, 53, 1 | 1 << 1 | 1 << 2);  /* words 54-58, 64-70, 88 valid */
    put16(p, 54, s->cylinders);
    put16(p, 55, s->heads);
    put16(p, 56, s->sectors);
    chs = MIN(chs, 0xffffffff);
    put16(p, 57, chs);
    put16(p, 58, chs >> 16);
    if (s->mult_sectors) {
        put16(p, 59, 0x100 | s->mult_sectors);
    }
    put16(p, 60, lba28);
    put16(p, 61, lba28 >> 16);
    put16(p, 62, 0x07);                 /* single word DMA 0-2 */
    put16(p, 63, 0x07 | ((s->xfer_mode >> 3) == 4 ?
                         1 << (8 + (s->xfer_mode & 7)) : 0));
    put16(p, 64, 0x03);                 /* PIO 3-4 */
    put16(p, 65, 120);
    put16(p, 66, 120);
    put16(p, 67, 120);
    put16(p, 68, 120);
    if (s->bus->sata) {
        /* SATA: queue depth 32, NCQ, Gen1 and Gen2 speeds (ACS-3 7.12.7) */
        put16(p, 75, 31);
        put16(p, 76, 1 << 8 | 1 << 2 | 1 << 1);
    }
    put16(p, 80, 0xf0);                 /* ATA-4 to ATA-7 */
    put16(p, 81, 0x16);
    put16(p, 82, 1 << 14 | 1 << 5);     /* NOP, write cache */
    put16(p, 83, 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10); /* FLUSH EXT,
                                                   FLUSH, LBA48 */
    put16(p, 84, 1 << 14);
    put16(p, 85, 1 << 14 | (wce ? 1 << 5 : 0));
    put16(p, 86, 1 << 13 | 1 << 12 | 1 << 10);
    put16(p, 87, 1 << 14);
    put16(p, 88, 0x3f | ((s->xfer_mode >> 3) == 8 ?
                         1 << (8 + (s->xfer_mode & 7)) : 0));  /* UDMA 0-5 */
    put16(p, 93, 1 | 1 << 14 | 0x2000);
    put16(p, 100, s->nb_sectors);
    put16(p, 101, s->nb_sectors >> 16);
    put16(p, 102, s->nb_sectors >> 32);
    put16(p, 103, s->nb_sectors >> 48);
}

/* --- commands --- */

static bool set_features(IDEState *s)
{
    switch (s->feature) {
    case SETFEATURES_EN_WCACHE:
        blk_set_enable_write_cache(s->blk, true);
        return true;
    case SETFEATURES_DIS_WCACHE:
        blk_set_enable_write_cache(s->blk, false);
        return true;
    case SETFEATURES_EN_RLA:
    case SETFEATURES_DIS_RLA:
    case SETFEATURES_EN_RPOD:
    case SETFEATURES_DIS_RPOD:
    case SETFEATURES_EN_DEFECT:
    case SETFEATURES_DIS_DEFECT:
        return true;
    case SETFEATURES_XFER: {
        uint8_t mode = s->nsector & 7;
        switch (s->nsector >> 3) {
        case 0x00:      /* PIO default */
        case 0x01:      /* PIO mode n */
            s->xfer_mode = s->nsector;
            return mode <= 4 || (s->nsector >> 3) == 0;
        case 0x04:      /* multiword DMA */
            if (mode > 2) {
                return false;
            }
            s->xfer_mode = s->nsector;
            return true;
        case 0x08:      /* Ultra DMA */
            if (mode > 5) {
                return false;
            }
            s->xfer_mode = s->nsector;
            return true;
        default:
            return false;
        }
    }
    default:
        return false;
    }
}

static void flush_done(IDEState *s, int ret)
{
    if (ret < 0) {
        ide_cmd_error(s, ABRT_ERR);
        return;
    }
    ide_cmd_done(s);
}

/* Commands an ATAPI device takes through the task file (ATA-6 8.x). */
static bool atapi_cmd_ok(uint8_t cmd)
{
    switch (cmd) {
    case WIN_DEVICE_RESET:
    case WIN_PACKETCMD:
    case WIN_PIDENTIFY:
    case WIN_DIAGNOSE:
    case WIN_SETFEATURES:
    case WIN_CHECKPOWERMODE1:
    case WIN_CHECKPOWERMODE2:
    case WIN_IDLEIMMEDIATE:
    case WIN_IDLEIMMEDIATE2:
    case WIN_STANDBYNOW1:
    case WIN_STANDBYNOW2:
    case WIN_SLEEPNOW1:
    case WIN_SLEEPNOW2:
    case WIN_IDENTIFY:
        return true;
    default:
        return false;
    }
}

void ide_exec_cmd(IDEBus *bus, uint8_t val)
{
    IDEState *s = cur_dev(bus);

    /* an absent slave ignores commands; its master answers for it */
    if (s->unit == 1 && s->kind == IDE_NONE) {
        return;
    }
    /* only DEVICE RESET to an ATAPI device is taken while busy */
    if (s->status & (BUSY_STAT | DRQ_STAT)) {
        if (val != WIN_DEVICE_RESET || s->kind != IDE_CD) {
            return;
        }
    }
    s->command = val;
    s->error = 0;
    if (s->kind == IDE_NONE ||
        (s->kind == IDE_CD && !atapi_cmd_ok(val))) {
        ide_cmd_error(s, ABRT_ERR);
        return;
    }
    s->lba48 = false;
    if (val >= WIN_RECAL && val <= WIN_RECAL + 0x0f) {
        ide_cmd_done(s);
        return;
    }
    switch (val) {
    case WIN_IDENTIFY:
        if (s->kind == IDE_CD) {
            /* an ATAPI device answers with its signature (ATA-6 9.11) */
            ide_set_signature(s);
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        ide_identify(s);
        s->status = READY_STAT | SEEK_STAT;
        ide_transfer_start(s, 0, 512, IDE_END_STOP);
        ide_set_irq(bus);
        return;
    case WIN_PIDENTIFY:
        if (s->kind != IDE_CD) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        ide_atapi_identify(s, (uint16_t *)s->io_buffer);
        s->status = READY_STAT | SEEK_STAT;
        ide_transfer_start(s, 0, 512, IDE_END_STOP);
        ide_set_irq(bus);
        return;
    case WIN_DEVICE_RESET:
        if (s->kind != IDE_CD) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        ide_reset_dev(s);
        ide_set_signature(s);
        s->status = 0;
        s->error = 0x01;
        return;
    case WIN_DIAGNOSE:
        ide_set_signature(s);
        ide_transfer_stop(s);
        s->status = s->kind == IDE_CD ? 0 : READY_STAT | SEEK_STAT;
        s->error = 0x01;        /* no error detected */
        ide_set_irq(bus);
        return;
    case WIN_SPECIFY:
        /* INITIALIZE DEVICE PARAMETERS: the CHS translation old BIOSes
         * ask for */
        if (s->nsector == 0) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        s->heads = (s->select & 0x0f) + 1;
        s->sectors = s->nsector;
        s->cylinders = MIN(s->nb_sectors / (s->heads * s->sectors), 65535);
        ide_cmd_done(s);
        return;
    case WIN_SETMULT:
        if (s->nsector > IDE_MAX_MULT_SECTORS ||
            (s->nsector & (s->nsector - 1))) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        s->mult_sectors = s->nsector;
        ide_cmd_done(s);
        return;
    case WIN_SETFEATURES:
        if (s->kind == IDE_CD && s->feature != SETFEATURES_XFER) {
            ide_cmd_done(s);
            return;
        }
        if (!set_features(s)) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        ide_cmd_done(s);
        return;
    case WIN_READ_EXT:
    case WIN_MULTREAD_EXT:
        s->lba48 = true;
        /* fall through */
    case WIN_READ:
    case WIN_READ_ONCE:
    case WIN_MULTREAD:
        if ((val == WIN_MULTREAD || val == WIN_MULTREAD_EXT) &&
            !s->mult_sectors) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        if (ide_setup_rw(s)) {
            ide_sector_read(s);
        }
        return;
    case WIN_WRITE_EXT:
    case WIN_MULTWRITE_EXT:
        s->lba48 = true;
        /* fall through */
    case WIN_WRITE:
    case WIN_WRITE_ONCE:
    case WIN_MULTWRITE:
        if ((val == WIN_MULTWRITE || val == WIN_MULTWRITE_EXT) &&
            !s->mult_sectors) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        if (blk_is_read_only(s->blk)) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        if (ide_setup_rw(s)) {
            ide_start_pio_write(s);
        }
        return;
    case WIN_READDMA_EXT:
        s->lba48 = true;
        /* fall through */
    case WIN_READDMA:
    case WIN_READDMA_ONCE:
        if (ide_setup_rw(s)) {
            ide_dma_start(s, IDE_DMA_READ);
        }
        return;
    case WIN_WRITEDMA_EXT:
        s->lba48 = true;
        /* fall through */
    case WIN_WRITEDMA:
    case WIN_WRITEDMA_ONCE:
        if (blk_is_read_only(s->blk)) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        if (ide_setup_rw(s)) {
            ide_dma_start(s, IDE_DMA_WRITE);
        }
        return;
    case WIN_VERIFY_EXT:
        s->lba48 = true;
        /* fall through */
    case WIN_VERIFY:
    case WIN_VERIFY_ONCE:
        /* the medium is always readable: a range check is the verify */
        if (ide_setup_rw(s)) {
            ide_advance(s, s->req_nsector);
            ide_cmd_done(s);
        }
        return;
    case WIN_SEEK:
        if (ide_get_sector(s) < 0 ||
            (uint64_t)ide_get_sector(s) >= s->nb_sectors) {
            ide_cmd_error(s, IDNF_ERR);
            return;
        }
        ide_cmd_done(s);
        return;
    case WIN_READ_NATIVE_MAX_EXT:
        s->lba48 = true;
        /* fall through */
    case WIN_READ_NATIVE_MAX:
        if (!s->lba48 && !(s->select & ATA_DEV_LBA)) {
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        s->select |= ATA_DEV_LBA;
        ide_set_sector(s, s->nb_sectors ? s->nb_sectors - 1 : 0);
        ide_cmd_done(s);
        return;
    case WIN_FLUSH_CACHE:
    case WIN_FLUSH_CACHE_EXT:
        s->status = READY_STAT | SEEK_STAT | BUSY_STAT;
        aio_new(s, IDE_AIO_FLUSH, 0, 0, flush_done);
        return;
    case WIN_STANDBYNOW1:
    case WIN_STANDBYNOW2:
    case WIN_STANDBY:
    case WIN_STANDBY2:
    case WIN_SLEEPNOW1:
    case WIN_SLEEPNOW2:
        s->standby = true;
        ide_cmd_done(s);
        return;
    case WIN_IDLEIMMEDIATE:
    case WIN_IDLEIMMEDIATE2:
    case WIN_SETIDLE1:
    case WIN_SETIDLE2:
        s->standby = false;
        ide_cmd_done(s);
        return;
    case WIN_CHECKPOWERMODE1:
    case WIN_CHECKPOWERMODE2:
        s->nsector = s->standby ? 0x00 : 0xff;
        ide_cmd_done(s);
        return;
    case WIN_PACKETCMD:
        if (s->feature & 0x02) {        /* overlapped: not supported */
            ide_cmd_error(s, ABRT_ERR);
            return;
        }
        s->atapi_dma = s->feature & 1;
        s->atapi_bcl = s->hcyl << 8 | s->lcyl;
        s->nsector = 1;                 /* CoD: the packet comes next */
        s->status = READY_STAT | SEEK_STAT;
        ide_transfer_start(s, 0, sizeof(s->packet), IDE_END_ATAPI_PACKET);
        return;
    default:
        ide_cmd_error(s, ABRT_ERR);
        return;
    }
}

/* --- reset --- */

/* What both a hardware reset and SRST do to one device. */
void ide_reset_dev(IDEState *s)
{
    ide_drop_requests(s);
    if (s->dma_active) {
        s->dma_active = false;
        s->dma_kind = IDE_DMA_NONE;
        if (s->bus->dma_ops) {
            s->bus->dma_ops->set_inactive(s->bus, false);
        }
    }
    s->dma_kind = IDE_DMA_NONE;
    s->mult_sectors = IDE_MAX_MULT_SECTORS;
    s->select = ATA_DEV_ALWAYS_ON;
    s->feature = s->hob_feature = 0;
    s->hob_nsector = s->hob_sector = s->hob_lcyl = s->hob_hcyl = 0;
    s->lba48 = false;
    s->standby = false;
    s->command = 0;
    s->req_nsector = s->req_nsector_blk = 0;
    ide_transfer_stop(s);
    if (s->kind == IDE_CD) {
        ide_atapi_reset(s);
    }
    ide_set_signature(s);
    s->error = 0x01;
    s->status = s->kind == IDE_CD ? 0 :
                s->kind == IDE_HD ? READY_STAT | SEEK_STAT : 0;
}
