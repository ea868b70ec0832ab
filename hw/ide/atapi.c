/*
 * The ATAPI CD/DVD-ROM (ATA/ATAPI-6 chapter 9 for the PACKET protocol;
 * MMC-3 and SPC-3 for the commands): sense data, tray and lock, media
 * change events, 2048-byte data reads (and raw sectors for READ CD), the
 * TOC of a single data track, profiles and mode pages.
 */
#include <errno.h>
#include <string.h>

#include "hw/ide/ide.h"
#include "monitor/qmp.h"

/* MMC-3 / SPC-3 operation codes */
#define GPCMD_TEST_UNIT_READY           0x00
#define GPCMD_REQUEST_SENSE             0x03
#define GPCMD_INQUIRY                   0x12
#define GPCMD_MODE_SENSE_6              0x1a
#define GPCMD_START_STOP_UNIT           0x1b
#define GPCMD_PREVENT_ALLOW_MEDIUM_REMOVAL 0x1e
#define GPCMD_READ_CAPACITY             0x25
#define GPCMD_READ_10                   0x28
#define GPCMD_SEEK                      0x2b
#define GPCMD_READ_TOC_PMA_ATIP         0x43
#define GPCMD_GET_CONFIGURATION         0x46
#define GPCMD_GET_EVENT_STATUS_NOTIFICATION 0x4a
#define GPCMD_READ_DISC_INFO            0x51
#define GPCMD_READ_TRACK_INFO           0x52
#define GPCMD_MODE_SENSE_10             0x5a
#define GPCMD_READ_12                   0xa8
#define GPCMD_SET_SPEED                 0xbb
#define GPCMD_MECHANISM_STATUS          0xbd
#define GPCMD_READ_CD                   0xbe

/* Sense keys and additional sense codes (SPC-3 4.5.6, MMC-3 annex F) */
#define SENSE_NONE                      0
#define SENSE_NOT_READY                 2
#define SENSE_MEDIUM_ERROR              3
#define SENSE_ILLEGAL_REQUEST           5
#define SENSE_UNIT_ATTENTION            6
#define ASC_ILLEGAL_OPCODE              0x20
#define ASC_LOGICAL_BLOCK_OOR           0x21
#define ASC_INV_FIELD_IN_CMD_PACKET     0x24
#define ASC_MEDIUM_MAY_HAVE_CHANGED     0x28
#define ASC_SAVING_PARAMETERS_NOT_SUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT          0x3a
#define ASC_MEDIA_REMOVAL_PREVENTED     0x53
#define ASC_UNRECOVERED_READ_ERROR      0x11

/* Interrupt reason in the sector count register (ATA-6 9.10) */
#define ATAPI_INT_REASON_CD             0x01
#define ATAPI_INT_REASON_IO             0x02

/* MMC-3 profiles */
#define MMC_PROFILE_NONE                0x0000
#define MMC_PROFILE_CD_ROM              0x0008
#define MMC_PROFILE_DVD_ROM             0x0010

/* A CD holds at most 80 minutes of 75 sectors a second. */
#define CD_MAX_SECTORS                  (80 * 60 * 75)
#define CD_RAW_SECTOR_SIZE              2352

/* Command flags */
#define ALLOW_UA        0x01    /* runs with a unit attention pending */
#define CHECK_READY     0x02    /* needs a medium */

static void be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint16_t get_be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static bool medium_ready(IDEState *s)
{
    return !s->tray_open && blk_is_inserted(s->blk);
}

/* CD sectors of the medium (2048 bytes). */
static uint32_t cd_sectors(IDEState *s)
{
    uint64_t n = s->nb_sectors / 4;

    return n > UINT32_MAX ? UINT32_MAX : n;
}

static void lba_to_msf(uint8_t *buf, uint32_t lba)
{
    lba += 150;
    buf[0] = (lba / 75) / 60;
    buf[1] = (lba / 75) % 60;
    buf[2] = lba % 75;
}

/* The status phase: command complete, no data. */
static void atapi_cmd_ok(IDEState *s)
{
    ide_transfer_stop(s);
    s->error = 0;
    s->status = READY_STAT | SEEK_STAT;
    s->nsector = ATAPI_INT_REASON_IO | ATAPI_INT_REASON_CD;
    ide_set_irq(s->bus);
}

static void atapi_cmd_error(IDEState *s, uint8_t key, uint8_t asc,
                            uint8_t ascq)
{
    ide_transfer_stop(s);
    s->error = key << 4;
    s->status = READY_STAT | ERR_STAT;
    s->nsector = ATAPI_INT_REASON_IO | ATAPI_INT_REASON_CD;
    s->sense_key = key;
    s->asc = asc;
    s->ascq = ascq;
    ide_set_irq(s->bus);
}

static void atapi_not_ready(IDEState *s)
{
    atapi_cmd_error(s, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT,
                    s->tray_open ? 0x02 : 0x01);
}

static void atapi_invalid_field(IDEState *s)
{
    atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST, ASC_INV_FIELD_IN_CMD_PACKET, 0);
}

/* The PIO byte count of the next DRQ block (ATA-6 9.8: even unless last). */
static uint32_t pio_chunk(IDEState *s, uint32_t avail)
{
    uint32_t bcl = s->atapi_bcl;
    uint32_t n = MIN(s->atapi_size, avail);

    if (bcl == 0 || bcl == 0xffff) {
        bcl = 0xfffe;
    }
    if (n > bcl) {
        n = bcl & ~1u;
        if (n == 0) {
            n = 2;
        }
    }
    return n;
}

static void disc_read_done(IDEState *s, int ret);

/* Reads the next sectors of a READ into io_buffer[0...]. */
static void disc_refill(IDEState *s)
{
    uint32_t per = s->atapi_cd_sector_size;
    uint32_t n = MIN(s->req_nsector, (IDE_BUF_SIZE - 4) / per);

    s->req_nsector_blk = n;
    s->data_end = 0;
    ide_aio_read(s, s->req_sector * ATAPI_SECTOR_SIZE,
                 n * ATAPI_SECTOR_SIZE, disc_read_done);
}

/* Mode 1 raw sectors: sync, header (MSF, mode), the data, EDC/ECC left 0. */
static void expand_raw(IDEState *s, uint32_t n, int64_t lba)
{
    for (int i = n - 1; i >= 0; i--) {
        uint8_t *raw = s->io_buffer + i * CD_RAW_SECTOR_SIZE;
        memmove(raw + 16, s->io_buffer + i * ATAPI_SECTOR_SIZE,
                ATAPI_SECTOR_SIZE);
        memset(raw + 16 + ATAPI_SECTOR_SIZE, 0,
               CD_RAW_SECTOR_SIZE - 16 - ATAPI_SECTOR_SIZE);
        raw[0] = 0;
        memset(raw + 1, 0xff, 10);
        raw[11] = 0;
        lba_to_msf(raw + 12, lba + i);
        raw[15] = 1;
    }
}

static void disc_read_done(IDEState *s, int ret)
{
    uint32_t n = s->req_nsector_blk;

    if (ret < 0) {
        if (s->dma_active) {
            ide_dma_end(s, true);
        }
        if (ret == -ENOMEDIUM) {
            atapi_not_ready(s);
        } else {
            atapi_cmd_error(s, SENSE_MEDIUM_ERROR,
                            ASC_UNRECOVERED_READ_ERROR, 0);
        }
        return;
    }
    if (s->atapi_cd_sector_size == CD_RAW_SECTOR_SIZE) {
        expand_raw(s, n, s->req_sector);
    }
    s->req_sector += n;
    s->req_nsector -= n;
    s->atapi_buf_avail = n * s->atapi_cd_sector_size;
    s->data_end = 0;
    if (s->dma_active) {
        ide_atapi_dma_next(s);
    } else {
        ide_atapi_reply_next(s);
    }
}

void ide_atapi_reply_next(IDEState *s)
{
    if (s->atapi_size == 0) {
        atapi_cmd_ok(s);
        return;
    }
    if (s->atapi_buf_avail == 0) {
        if (s->atapi_from_disc && s->req_nsector) {
            s->status = READY_STAT | SEEK_STAT | BUSY_STAT;
            disc_refill(s);
        } else {
            atapi_cmd_ok(s);
        }
        return;
    }
    uint32_t pos = s->data_end;
    uint32_t n = pio_chunk(s, s->atapi_buf_avail);
    s->atapi_size -= n;
    s->atapi_buf_avail -= n;
    s->lcyl = n;
    s->hcyl = n >> 8;
    s->nsector = ATAPI_INT_REASON_IO;
    s->status = READY_STAT | SEEK_STAT;
    ide_transfer_start(s, pos, n, IDE_END_ATAPI_REPLY);
    ide_set_irq(s->bus);
}

void ide_atapi_dma_next(IDEState *s)
{
    IDEBus *bus = s->bus;

    while (s->dma_active) {
        if (s->atapi_size == 0 ||
            (s->atapi_buf_avail == 0 &&
             !(s->atapi_from_disc && s->req_nsector))) {
            ide_dma_end(s, false);
            atapi_cmd_ok(s);
            return;
        }
        if (s->atapi_buf_avail == 0) {
            disc_refill(s);
            return;
        }
        uint32_t n = MIN(s->atapi_size, s->atapi_buf_avail);
        int moved = bus->dma_ops->rw_buf(bus, s->io_buffer + s->data_end, n,
                                         false);
        if (moved < 0 || (uint32_t)moved < n) {
            /* bus error, or PRDs shorter than the transfer */
            ide_dma_end(s, true);
            atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST,
                            ASC_INV_FIELD_IN_CMD_PACKET, 0);
            return;
        }
        s->atapi_size -= n;
        s->atapi_buf_avail -= n;
        s->data_end += n;
    }
}

/* A data-in reply of size bytes (at most max) already in io_buffer. */
static void atapi_reply(IDEState *s, uint32_t size, uint32_t max)
{
    size = MIN(size, max);
    s->atapi_from_disc = false;
    s->atapi_size = size;
    s->atapi_buf_avail = size;
    s->data_end = 0;
    if (size == 0) {
        atapi_cmd_ok(s);
    } else if (s->atapi_dma) {
        ide_dma_start(s, IDE_DMA_ATAPI);
    } else {
        ide_atapi_reply_next(s);
    }
}

/* READ(10/12)/READ CD: nb sectors of sector_size bytes from lba. */
static void atapi_read(IDEState *s, uint32_t lba, uint32_t nb,
                       uint32_t sector_size)
{
    uint32_t total = cd_sectors(s);

    if (lba > total || nb > total - lba) {
        atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_BLOCK_OOR, 0);
        return;
    }
    if (nb == 0) {
        atapi_cmd_ok(s);
        return;
    }
    s->atapi_from_disc = true;
    s->atapi_cd_sector_size = sector_size;
    s->req_sector = lba;
    s->req_nsector = nb;
    s->atapi_size = nb * sector_size;
    s->atapi_buf_avail = 0;
    s->data_end = 0;
    if (s->atapi_dma) {
        ide_dma_start(s, IDE_DMA_ATAPI);
    } else {
        s->status = READY_STAT | SEEK_STAT | BUSY_STAT;
        disc_refill(s);
    }
}

/* --- commands --- */

static void cmd_request_sense(IDEState *s, uint8_t *buf)
{
    uint8_t *p = s->io_buffer;

    if (s->unit_attention) {
        s->unit_attention = false;
        s->sense_key = SENSE_UNIT_ATTENTION;
        s->asc = ASC_MEDIUM_MAY_HAVE_CHANGED;
        s->ascq = 0;
    }
    memset(p, 0, 18);
    p[0] = 0x70 | 0x80;         /* current error, valid */
    p[2] = s->sense_key;
    p[7] = 10;
    p[12] = s->asc;
    p[13] = s->ascq;
    /* reported: the sense clears (SPC-3 5.25) */
    s->sense_key = SENSE_NONE;
    s->asc = 0;
    s->ascq = 0;
    atapi_reply(s, 18, buf[4]);
}

static void cmd_inquiry(IDEState *s, uint8_t *buf)
{
    uint8_t *p = s->io_buffer;
    uint16_t alloc = get_be16(buf + 3);

    if (buf[1] & 1) {           /* EVPD */
        if (buf[2] == 0x00) {   /* supported pages: this one only */
            memset(p, 0, 5);
            p[0] = 0x05;
            p[3] = 1;
            p[4] = 0x00;
            atapi_reply(s, 5, alloc);
            return;
        }
        atapi_invalid_field(s);
        return;
    }
    if (buf[2]) {
        atapi_invalid_field(s);
        return;
    }
    memset(p, 0, 36);
    p[0] = 0x05;                /* CD/DVD device */
    p[1] = 0x80;                /* removable */
    p[2] = 0x00;
    p[3] = 0x21;                /* ATAPI, response data format 1 */
    p[4] = 31;                  /* additional length */
    ide_padstr((char *)p + 8, "QEMU", 8);
    ide_padstr((char *)p + 16, s->model, 16);
    ide_padstr((char *)p + 32, s->version, 4);
    atapi_reply(s, 36, alloc);
}

/* Mode pages (MMC-3 6.3.x); pc 1 (changeable) reads as zeros. */
static int mode_page(IDEState *s, uint8_t page, int pc, uint8_t *p)
{
    switch (page) {
    case 0x01:                  /* read/write error recovery */
        memset(p, 0, 8);
        p[0] = 0x01;
        p[1] = 0x06;
        if (pc != 1) {
            p[3] = 5;           /* read retry count */
        }
        return 8;
    case 0x2a:                  /* CD/DVD capabilities and mechanical */
        memset(p, 0, 20);
        p[0] = 0x2a;
        p[1] = 0x12;
        if (pc == 1) {
            return 20;
        }
        p[2] = 0x3b;            /* reads CD-R/RW, DVD-ROM/R/RAM */
        p[4] = 0x71;            /* audio play, multisession, mode 2 */
        p[5] = 0x7f;
        p[6] = 0x29 | (s->tray_locked ? 0x02 : 0);  /* lock, eject, tray */
        be16(p + 8, 706);       /* max read speed, kB/s */
        be16(p + 10, 2);        /* volume levels */
        be16(p + 12, 512);      /* buffer, KiB */
        be16(p + 14, 706);      /* current read speed */
        return 20;
    default:
        return 0;
    }
}

static void cmd_mode_sense(IDEState *s, uint8_t *buf)
{
    bool ten = buf[0] == GPCMD_MODE_SENSE_10;
    int pc = buf[2] >> 6;
    uint8_t page = buf[2] & 0x3f;
    uint16_t alloc = ten ? get_be16(buf + 7) : buf[4];
    int hdr = ten ? 8 : 4;
    uint8_t *p = s->io_buffer;
    int len = hdr;

    if (pc == 3) {
        atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST,
                        ASC_SAVING_PARAMETERS_NOT_SUPPORTED, 0);
        return;
    }
    if (page == 0x3f) {
        len += mode_page(s, 0x01, pc, p + len);
        len += mode_page(s, 0x2a, pc, p + len);
    } else {
        int n = mode_page(s, page, pc, p + hdr);
        if (!n) {
            atapi_invalid_field(s);
            return;
        }
        len += n;
    }
    memset(p, 0, hdr);
    if (ten) {
        be16(p, len - 2);
        p[2] = 0x70;            /* medium type, as QEMU */
    } else {
        p[0] = len - 1;
        p[1] = 0x70;
    }
    atapi_reply(s, len, alloc);
}

static void tray_moved_event(IDEState *s, bool open)
{
    json_t *data = json_pack("{s:s, s:s, s:b}", "device", blk_name(s->blk),
                             "id", blk_get_attached_dev(s->blk) ?
                                   blk_get_attached_dev(s->blk) : "",
                             "tray-open", open);
    qmp_event_send("DEVICE_TRAY_MOVED", data);
}

static void cmd_start_stop(IDEState *s, uint8_t *buf)
{
    bool start = buf[4] & 1, loej = buf[4] & 2;
    int pwrcnd = buf[4] >> 4;

    if (pwrcnd || !loej) {
        atapi_cmd_ok(s);        /* power conditions: nothing to do */
        return;
    }
    if (!start) {
        if (s->tray_locked) {
            atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST,
                            ASC_MEDIA_REMOVAL_PREVENTED, 0x02);
            return;
        }
        if (!s->tray_open) {
            s->tray_open = true;
            s->event_media_removal = blk_is_inserted(s->blk);
            tray_moved_event(s, true);
        }
    } else if (s->tray_open) {
        s->tray_open = false;
        s->event_new_media = blk_is_inserted(s->blk);
        tray_moved_event(s, false);
    }
    atapi_cmd_ok(s);
}

static void toc_addr(uint8_t *p, uint32_t lba, bool msf)
{
    if (msf) {
        p[0] = 0;
        lba_to_msf(p + 1, lba);
    } else {
        be32(p, lba);
    }
}

/* READ TOC/PMA/ATIP (MMC-3 6.26) for one data track and the lead-out. */
static void cmd_read_toc(IDEState *s, uint8_t *buf)
{
    bool msf = buf[1] & 2;
    int format = buf[2] & 0x0f;
    uint8_t start = buf[6];
    uint16_t alloc = get_be16(buf + 7);
    uint8_t *p = s->io_buffer;
    uint32_t total = cd_sectors(s);
    int len;

    if (format == 0 && (buf[9] >> 6)) {
        format = buf[9] >> 6;   /* the SFF-8020 place of the format */
    }
    switch (format) {
    case 0:
        if (start > 1 && start != 0xaa) {
            atapi_invalid_field(s);
            return;
        }
        len = 4;
        p[2] = 1;
        p[3] = 1;
        if (start <= 1) {
            memset(p + len, 0, 8);
            p[len + 1] = 0x14;  /* ADR 1, data track */
            p[len + 2] = 1;
            toc_addr(p + len + 4, 0, msf);
            len += 8;
        }
        memset(p + len, 0, 8);
        p[len + 1] = 0x16;
        p[len + 2] = 0xaa;      /* lead-out */
        toc_addr(p + len + 4, total, msf);
        len += 8;
        break;
    case 1:                     /* session information */
        len = 12;
        memset(p, 0, 12);
        p[2] = 1;
        p[3] = 1;
        p[5] = 0x14;
        p[6] = 1;
        toc_addr(p + 8, 0, msf);
        break;
    case 2: {                   /* raw TOC: A0, A1, A2 and track 1 */
        static const uint8_t points[] = { 0xa0, 0xa1, 0xa2, 0x01 };
        len = 4;
        p[2] = 1;
        p[3] = 1;
        for (unsigned i = 0; i < G_N_ELEMENTS(points); i++) {
            uint8_t *d = p + len;
            memset(d, 0, 11);
            d[0] = 1;           /* session */
            d[1] = 0x14;
            d[3] = points[i];
            switch (points[i]) {
            case 0xa0:
                d[8] = 1;       /* first track; disc type CD-ROM */
                break;
            case 0xa1:
                d[8] = 1;       /* last track */
                break;
            case 0xa2:
                if (msf) {
                    lba_to_msf(d + 8, total);
                } else {
                    be32(d + 7, total);
                }
                break;
            default:
                if (msf) {
                    lba_to_msf(d + 8, 0);
                }
                break;
            }
            len += 11;
        }
        break;
    }
    default:
        atapi_invalid_field(s);
        return;
    }
    be16(p, len - 2);
    atapi_reply(s, len, alloc);
}

static uint16_t current_profile(IDEState *s)
{
    if (!medium_ready(s)) {
        return MMC_PROFILE_NONE;
    }
    return cd_sectors(s) > CD_MAX_SECTORS ? MMC_PROFILE_DVD_ROM
                                          : MMC_PROFILE_CD_ROM;
}

/* One feature descriptor (MMC-3 5.3); returns its length. */
static int feature(IDEState *s, uint16_t code, uint8_t *d, bool *current)
{
    uint16_t prof = current_profile(s);

    memset(d, 0, 16);
    be16(d, code);
    *current = true;
    switch (code) {
    case 0x0000:                /* profile list */
        d[2] = 0x03;            /* persistent, current */
        d[3] = 8;
        be16(d + 4, MMC_PROFILE_DVD_ROM);
        d[6] = prof == MMC_PROFILE_DVD_ROM;
        be16(d + 8, MMC_PROFILE_CD_ROM);
        d[10] = prof == MMC_PROFILE_CD_ROM;
        return 12;
    case 0x0001:                /* core */
        d[2] = 0x0b;            /* version 2, persistent, current */
        d[3] = 8;
        be32(d + 4, 2);         /* ATAPI */
        d[8] = 1;               /* DBE */
        return 12;
    case 0x0002:                /* morphing */
        d[2] = 0x07;
        d[3] = 4;
        d[4] = 0x02;            /* OCEvent: GESN works polled */
        return 8;
    case 0x0003:                /* removable medium */
        d[2] = 0x03;
        d[3] = 4;
        d[4] = 0x29 | (s->tray_locked ? 0x04 : 0);  /* tray, eject, lock */
        return 8;
    case 0x0010:                /* random readable */
        d[2] = prof ? 0x01 : 0;
        d[3] = 8;
        be32(d + 4, ATAPI_SECTOR_SIZE);
        be16(d + 8, prof == MMC_PROFILE_DVD_ROM ? 16 : 1);
        *current = prof != MMC_PROFILE_NONE;
        return 12;
    case 0x001e:                /* CD read */
        d[2] = 0x08 | (prof == MMC_PROFILE_CD_ROM ? 0x01 : 0);
        d[3] = 4;
        *current = prof == MMC_PROFILE_CD_ROM;
        return 8;
    case 0x001f:                /* DVD read */
        d[2] = prof == MMC_PROFILE_DVD_ROM ? 0x01 : 0;
        d[3] = 4;
        *current = prof == MMC_PROFILE_DVD_ROM;
        return 8;
    default:
        return 0;
    }
}

static void cmd_get_configuration(IDEState *s, uint8_t *buf)
{
    static const uint16_t codes[] = { 0x0000, 0x0001, 0x0002, 0x0003,
                                      0x0010, 0x001e, 0x001f };
    int rt = buf[1] & 3;
    uint16_t start = get_be16(buf + 2);
    uint16_t alloc = get_be16(buf + 7);
    uint8_t *p = s->io_buffer;
    int len = 8;

    if (rt == 3) {
        atapi_invalid_field(s);
        return;
    }
    memset(p, 0, 8);
    be16(p + 6, current_profile(s));
    for (unsigned i = 0; i < G_N_ELEMENTS(codes); i++) {
        bool current;
        if (codes[i] < start || (rt == 2 && codes[i] != start)) {
            continue;
        }
        int n = feature(s, codes[i], p + len, &current);
        if (rt == 1 && !current) {
            continue;
        }
        len += n;
    }
    be32(p, len - 4);
    atapi_reply(s, len, alloc);
}

/* GET EVENT STATUS NOTIFICATION (MMC-3 6.5), polled, media class. */
static void cmd_gesn(IDEState *s, uint8_t *buf)
{
    uint8_t classes = buf[4];
    uint16_t alloc = get_be16(buf + 7);
    uint8_t *p = s->io_buffer;
    int len = 4;

    if (!(buf[1] & 1)) {        /* asynchronous notification: no */
        atapi_invalid_field(s);
        return;
    }
    memset(p, 0, 8);
    p[3] = 0x10;                /* supported: media */
    if (classes & 0x10) {
        uint8_t code = 0;
        p[2] = 4;               /* media class */
        if (s->event_eject_request) {
            code = 1;           /* eject request */
        } else if (s->event_new_media) {
            code = 2;           /* new media */
        } else if (s->event_media_removal) {
            code = 3;           /* media removal */
        }
        s->event_eject_request = false;
        s->event_new_media = false;
        s->event_media_removal = false;
        p[4] = code;
        p[5] = (s->tray_open ? 0x01 : 0) |
               (blk_is_inserted(s->blk) ? 0x02 : 0);
        len = 8;
    } else {
        p[2] = 0x80;            /* no event available */
    }
    be16(p, len - 2);
    atapi_reply(s, len, alloc);
}

static void cmd_read_disc_info(IDEState *s, uint8_t *buf)
{
    uint16_t alloc = get_be16(buf + 7);
    uint8_t *p = s->io_buffer;

    if (buf[1] & 7) {           /* only the standard disc information */
        atapi_invalid_field(s);
        return;
    }
    memset(p, 0, 34);
    be16(p, 32);
    p[2] = 0x0e;                /* last session complete, disc finalized */
    p[3] = 1;                   /* first track */
    p[4] = 1;                   /* sessions */
    p[5] = 1;                   /* first track of last session */
    p[6] = 1;                   /* last track of last session */
    p[7] = 0x20;                /* unrestricted use */
    p[8] = 0x00;                /* CD-DA or CD-ROM */
    be32(p + 16, 0xffffffff);   /* no lead-in / lead-out start */
    be32(p + 20, 0xffffffff);
    atapi_reply(s, 34, alloc);
}

static void cmd_read_track_info(IDEState *s, uint8_t *buf)
{
    uint16_t alloc = get_be16(buf + 7);
    uint32_t addr = get_be32(buf + 2);
    int type = buf[1] & 3;
    uint8_t *p = s->io_buffer;

    /* track 1 by number, or by an LBA inside it */
    if ((type == 1 && addr != 1) || (type == 0 && addr >= cd_sectors(s)) ||
        type > 1) {
        atapi_invalid_field(s);
        return;
    }
    memset(p, 0, 36);
    be16(p, 34);
    p[2] = 1;                   /* track */
    p[3] = 1;                   /* session */
    p[5] = 0x04;                /* data track */
    p[6] = 0x01;                /* data mode 1 */
    be32(p + 8, 0);             /* start */
    be32(p + 24, cd_sectors(s));    /* size */
    atapi_reply(s, 36, alloc);
}

static void cmd_mechanism_status(IDEState *s, uint8_t *buf)
{
    uint16_t alloc = get_be16(buf + 8);
    uint8_t *p = s->io_buffer;

    memset(p, 0, 8);
    p[1] = s->tray_open ? 0x10 : 0;     /* door open */
    atapi_reply(s, 8, alloc);
}

void ide_atapi_cmd(IDEState *s)
{
    uint8_t *buf = s->packet;
    int flags;

    switch (buf[0]) {
    case GPCMD_REQUEST_SENSE:
    case GPCMD_INQUIRY:
    case GPCMD_GET_CONFIGURATION:
    case GPCMD_GET_EVENT_STATUS_NOTIFICATION:
        flags = ALLOW_UA;
        break;
    case GPCMD_TEST_UNIT_READY:
    case GPCMD_READ_CAPACITY:
    case GPCMD_READ_10:
    case GPCMD_READ_12:
    case GPCMD_READ_CD:
    case GPCMD_SEEK:
    case GPCMD_READ_TOC_PMA_ATIP:
    case GPCMD_READ_DISC_INFO:
    case GPCMD_READ_TRACK_INFO:
        flags = CHECK_READY;
        break;
    default:
        flags = 0;
        break;
    }
    s->status = READY_STAT | SEEK_STAT | BUSY_STAT;
    if (s->unit_attention && !(flags & ALLOW_UA)) {
        s->unit_attention = false;
        atapi_cmd_error(s, SENSE_UNIT_ATTENTION,
                        ASC_MEDIUM_MAY_HAVE_CHANGED, 0);
        return;
    }
    if ((flags & CHECK_READY) && !medium_ready(s)) {
        atapi_not_ready(s);
        return;
    }
    switch (buf[0]) {
    case GPCMD_TEST_UNIT_READY:
        atapi_cmd_ok(s);
        return;
    case GPCMD_REQUEST_SENSE:
        cmd_request_sense(s, buf);
        return;
    case GPCMD_INQUIRY:
        cmd_inquiry(s, buf);
        return;
    case GPCMD_MODE_SENSE_6:
    case GPCMD_MODE_SENSE_10:
        cmd_mode_sense(s, buf);
        return;
    case GPCMD_START_STOP_UNIT:
        cmd_start_stop(s, buf);
        return;
    case GPCMD_PREVENT_ALLOW_MEDIUM_REMOVAL:
        s->tray_locked = buf[4] & 1;
        atapi_cmd_ok(s);
        return;
    case GPCMD_READ_CAPACITY: {
        uint32_t total = cd_sectors(s);
        be32(s->io_buffer, total ? total - 1 : 0);
        be32(s->io_buffer + 4, ATAPI_SECTOR_SIZE);
        atapi_reply(s, 8, 8);
        return;
    }
    case GPCMD_READ_10:
        atapi_read(s, get_be32(buf + 2), get_be16(buf + 7),
                   ATAPI_SECTOR_SIZE);
        return;
    case GPCMD_READ_12:
        atapi_read(s, get_be32(buf + 2), get_be32(buf + 6),
                   ATAPI_SECTOR_SIZE);
        return;
    case GPCMD_READ_CD: {
        uint32_t nb = buf[6] << 16 | buf[7] << 8 | buf[8];
        int type = (buf[1] >> 2) & 7;
        /* data tracks only: any type, or mode 1 */
        if (type != 0 && type != 2) {
            atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST, ASC_ILLEGAL_OPCODE, 0);
            return;
        }
        switch (buf[9] & 0xf8) {
        case 0x00:              /* nothing */
            atapi_cmd_ok(s);
            return;
        case 0x10:              /* user data */
            atapi_read(s, get_be32(buf + 2), nb, ATAPI_SECTOR_SIZE);
            return;
        case 0xf8:              /* sync, headers, user data, EDC/ECC */
            atapi_read(s, get_be32(buf + 2), nb, CD_RAW_SECTOR_SIZE);
            return;
        default:
            atapi_invalid_field(s);
            return;
        }
    }
    case GPCMD_SEEK:
        if (get_be32(buf + 2) >= cd_sectors(s)) {
            atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_BLOCK_OOR,
                            0);
            return;
        }
        atapi_cmd_ok(s);
        return;
    case GPCMD_READ_TOC_PMA_ATIP:
        cmd_read_toc(s, buf);
        return;
    case GPCMD_GET_CONFIGURATION:
        cmd_get_configuration(s, buf);
        return;
    case GPCMD_GET_EVENT_STATUS_NOTIFICATION:
        cmd_gesn(s, buf);
        return;
    case GPCMD_READ_DISC_INFO:
        cmd_read_disc_info(s, buf);
        return;
    case GPCMD_READ_TRACK_INFO:
        cmd_read_track_info(s, buf);
        return;
    case GPCMD_MECHANISM_STATUS:
        cmd_mechanism_status(s, buf);
        return;
    case GPCMD_SET_SPEED:
        atapi_cmd_ok(s);
        return;
    default:
        atapi_cmd_error(s, SENSE_ILLEGAL_REQUEST, ASC_ILLEGAL_OPCODE, 0);
        return;
    }
}

/* IDENTIFY PACKET DEVICE (ATA-6 8.16) */
void ide_atapi_identify(IDEState *s, uint16_t *p)
{
    memset(p, 0, 512);
    /* ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets */
    p[0] = GUINT16_TO_LE(2 << 14 | 5 << 8 | 1 << 7 | 2 << 5);
    ide_put_str(p + 10, s->serial, 20);
    p[20] = GUINT16_TO_LE(3);
    p[21] = GUINT16_TO_LE(512);
    p[22] = GUINT16_TO_LE(4);
    ide_put_str(p + 23, s->version, 8);
    ide_put_str(p + 27, s->model, 40);
    p[48] = GUINT16_TO_LE(1);
    p[49] = GUINT16_TO_LE(1 << 9 | 1 << 8);     /* LBA, DMA */
    p[53] = GUINT16_TO_LE(7);
    p[62] = GUINT16_TO_LE(7);
    p[63] = GUINT16_TO_LE(7 | ((s->xfer_mode >> 3) == 4 ?
                               1 << (8 + (s->xfer_mode & 7)) : 0));
    p[64] = GUINT16_TO_LE(3);
    p[65] = GUINT16_TO_LE(0xb4);
    p[66] = GUINT16_TO_LE(0xb4);
    p[67] = GUINT16_TO_LE(0x12c);
    p[68] = GUINT16_TO_LE(0xb4);
    p[71] = GUINT16_TO_LE(30);
    p[72] = GUINT16_TO_LE(30);
    p[80] = GUINT16_TO_LE(0x1e);                /* ATAPI-1 to 4 */
    p[88] = GUINT16_TO_LE(0x3f | ((s->xfer_mode >> 3) == 8 ?
                                  1 << (8 + (s->xfer_mode & 7)) : 0));
    p[93] = GUINT16_TO_LE(1 | 1 << 14 | 0x2000);
}

void ide_atapi_reset(IDEState *s)
{
    s->sense_key = SENSE_NONE;
    s->asc = 0;
    s->ascq = 0;
    s->atapi_size = 0;
    s->atapi_buf_avail = 0;
    s->atapi_from_disc = false;
    s->atapi_dma = false;
    s->atapi_cd_sector_size = ATAPI_SECTOR_SIZE;
}

/* --- the tray, as the monitor drives it --- */

static void cd_change_media(void *opaque, bool load)
{
    IDEState *s = opaque;

    if (load) {
        s->tray_open = false;
        s->nb_sectors = blk_is_inserted(s->blk) ?
                        blk_getlength(s->blk) / 512 : 0;
        if (blk_is_inserted(s->blk)) {
            s->unit_attention = true;
            s->event_new_media = true;
        }
    } else {
        s->tray_open = true;
        s->event_media_removal = true;
        s->nb_sectors = blk_is_inserted(s->blk) ?
                        blk_getlength(s->blk) / 512 : 0;
    }
}

static void cd_eject_request(void *opaque, bool force)
{
    IDEState *s = opaque;

    s->event_eject_request = true;
    if (force) {
        s->tray_locked = false;
    }
}

static bool cd_is_tray_open(void *opaque)
{
    return ((IDEState *)opaque)->tray_open;
}

static bool cd_is_locked(void *opaque)
{
    return ((IDEState *)opaque)->tray_locked;
}

const BlockDevOps ide_cd_block_ops = {
    .change_media_cb = cd_change_media,
    .eject_request_cb = cd_eject_request,
    .is_tray_open = cd_is_tray_open,
    .is_medium_locked = cd_is_locked,
};
