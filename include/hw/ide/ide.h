/*
 * The ATA/ATAPI device layer (ATA/ATAPI-6, ACS-3 facts; ATAPI per MMC-3 and
 * SPC-3), independent of the controller: a bus of two devices (master and
 * slave) with their task-file registers, PIO data port and a DMA hook that
 * a transport (PIIX bus-master IDE, later AHCI) fills in.
 */
#ifndef HW_IDE_IDE_H
#define HW_IDE_IDE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "hw/irq.h"
#include "system/memory.h"

typedef struct Machine Machine;
typedef struct IDEBus IDEBus;
typedef struct IDEState IDEState;
typedef struct VMStateDescription VMStateDescription;

/* Status register (ATA-6 7.15.6) */
#define ERR_STAT        0x01
#define DRQ_STAT        0x08
#define SEEK_STAT       0x10    /* DSC */
#define DF_STAT         0x20
#define READY_STAT      0x40
#define BUSY_STAT       0x80

/* Error register */
#define ABRT_ERR        0x04
#define IDNF_ERR        0x10
#define UNC_ERR         0x40

/* Device control register (ATA-6 7.9) */
#define IDE_CTRL_NIEN   0x02
#define IDE_CTRL_SRST   0x04
#define IDE_CTRL_HOB    0x80

#define IDE_SECTOR_SIZE     512
#define ATAPI_SECTOR_SIZE   2048
/* The data buffer: 256 ATA sectors, or 32 raw (2352-byte) CD sectors. */
#define IDE_BUF_SIZE        (128 * 1024 + 4)
/* READ/WRITE MULTIPLE's largest block (IDENTIFY word 47) */
#define IDE_MAX_MULT_SECTORS    16
/* Sectors a DMA step moves: what io_buffer holds. */
#define IDE_DMA_STEP_SECTORS    ((IDE_BUF_SIZE - 4) / IDE_SECTOR_SIZE)

typedef enum IDEDriveKind {
    IDE_NONE,
    IDE_HD,
    IDE_CD,
} IDEDriveKind;

/* What happens when the PIO data in the buffer has been moved. */
typedef enum IDEEndTransfer {
    IDE_END_STOP,           /* transfer over: DRQ clears */
    IDE_END_SECTOR_READ,    /* next block of a PIO read */
    IDE_END_SECTOR_WRITE,   /* the block is in: write it */
    IDE_END_ATAPI_PACKET,   /* the 12-byte packet is in: run it */
    IDE_END_ATAPI_REPLY,    /* next piece of an ATAPI data-in */
} IDEEndTransfer;

/* What the current DMA command moves. */
typedef enum IDEDMAKind {
    IDE_DMA_NONE,
    IDE_DMA_READ,           /* disk -> memory */
    IDE_DMA_WRITE,          /* memory -> disk */
    IDE_DMA_ATAPI,          /* ATAPI data-in (buffer or disc) */
} IDEDMAKind;

/*
 * The transport's side (PIIX bus master, AHCI). The core calls them while
 * a DMA command runs.
 */
typedef struct IDEDMAOps {
    /*
     * The device is ready to move data: start when the engine is (or
     * becomes) enabled, by calling ide_dma_run(). Returns nothing; a
     * transport with its engine already running calls ide_dma_run now.
     */
    void (*start)(IDEBus *bus);
    /*
     * Moves up to len bytes between buf and the guest memory of the
     * transport's scatter list, continuing where the last call stopped.
     * to_device: from memory into buf (a write to the disk). Returns the
     * bytes moved (fewer: the list ended), or -1 on a bus error (memory
     * that isn't there).
     */
    int (*rw_buf)(IDEBus *bus, uint8_t *buf, int len, bool to_device);
    /* The DMA command ended (error: by a failure); the engine stops. */
    void (*set_inactive)(IDEBus *bus, bool error);
    /* The device raised its interrupt (before the line goes up). */
    void (*irq_notify)(IDEBus *bus);
} IDEDMAOps;

typedef struct IDEAio IDEAio;

struct IDEState {
    IDEBus *bus;
    int unit;
    IDEDriveKind kind;
    BlockBackend *blk;
    char *dev_id;               /* for events: -device id, or "" */
    IDEBus **owner_ref;         /* cleared when the bus goes first */
    char serial[21];
    char model[41];
    char version[9];
    uint64_t nb_sectors;        /* 512-byte sectors */
    uint32_t cylinders, heads, sectors;     /* CHS translation */
    bool identify_set;

    /* task file */
    uint8_t feature, nsector, sector, lcyl, hcyl, select;
    uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;
    uint8_t status, error, command;
    bool lba48;
    uint8_t mult_sectors;
    uint8_t xfer_mode;          /* SET FEATURES 03h value */
    bool standby;

    /* PIO data */
    /* IDENTIFY builds 16-bit words in it */
    uint8_t io_buffer[IDE_BUF_SIZE] __attribute__((aligned(8)));
    uint32_t data_ptr, data_end;
    uint8_t end_transfer;       /* IDEEndTransfer */
    bool pio_dword;

    /* the current read/write command */
    int64_t req_sector;         /* next sector (512 or 2048 bytes) */
    uint32_t req_nsector;       /* sectors still to move */
    uint32_t req_nsector_blk;   /* sectors in the buffer now */
    uint8_t dma_kind;           /* IDEDMAKind */
    bool dma_active;            /* a DMA command is outstanding */
    IDEAio *aio;                /* request in flight, or NULL */
    IDEAio *retry;              /* held by werror/rerror=stop */
    uint64_t gen;               /* bumped by reset: stale completions drop */

    /* ATAPI */
    uint8_t packet[12];
    uint8_t sense_key, asc, ascq;
    bool unit_attention;        /* medium may have changed: pending UA */
    bool tray_open, tray_locked;
    bool event_new_media, event_eject_request, event_media_removal;
    uint32_t atapi_size;        /* bytes of the reply still to move */
    uint32_t atapi_buf_avail;   /* of them, in io_buffer from data_ptr */
    uint16_t atapi_bcl;         /* byte count limit of the PACKET command */
    uint32_t atapi_cd_sector_size;  /* 2048, or 2352 for READ CD raw */
    bool atapi_from_disc;       /* reply comes from the disc */
    bool atapi_dma;
};

struct IDEBus {
    IDEState ifs[2];
    int bus_id;                 /* 0: primary, 1: secondary; AHCI: port */
    char name[64];              /* "ide.0", or "<id>.<port>" for AHCI */
    /*
     * A SATA port (AHCI): one device, unit 0, and IDENTIFY tells of the
     * SATA capabilities and NCQ that the transport implements.
     */
    bool sata;
    Machine *m;
    uint8_t unit;               /* the selected device */
    uint8_t cmd;                /* device control register */
    uint8_t dma_unit;           /* the device whose DMA command runs */
    IRQLine *irq;
    const IDEDMAOps *dma_ops;
    void *dma_opaque;
    /* the OF path prefix of the controller ("/pci@i0cf8/ide@1,1") */
    char *of_path;
    struct VMStateChangeEntry *state_entry;
};

/* --- the bus, for a transport --- */

/* A bus named ide.N on machine m, both devices absent. */
void ide_bus_init(IDEBus *bus, Machine *m, int bus_id, IRQLine *irq,
                  const IDEDMAOps *ops, void *opaque, const char *of_path);
void ide_bus_fini(IDEBus *bus);
/* Hardware reset of both devices (power-on or PCI reset). */
void ide_bus_reset(IDEBus *bus);
/* The bus named name ("ide.0") of m, or NULL. */
IDEBus *ide_bus_find(Machine *m, const char *name);
/* The first bus of m with a free unit, for -device without bus=. */
IDEBus *ide_bus_find_free(Machine *m, int *unit);

/* Task file registers 0-7 (command block) and the control block. */
uint32_t ide_ioport_read(IDEBus *bus, uint32_t reg);
void ide_ioport_write(IDEBus *bus, uint32_t reg, uint32_t val);
uint32_t ide_data_read(IDEBus *bus, unsigned size);
void ide_data_write(IDEBus *bus, uint32_t val, unsigned size);
uint32_t ide_status_read_alt(IDEBus *bus);
void ide_ctrl_write(IDEBus *bus, uint32_t val);

/* The transport's engine is running: move the data of the DMA command. */
void ide_dma_run(IDEBus *bus);
/* The guest stopped the engine in the middle of a command. */
void ide_dma_cancel(IDEBus *bus);

/* --- devices (hw/ide/ide-dev.c) --- */

/*
 * Attaches a drive to bus/unit: kind IDE_HD or IDE_CD; blk may be empty
 * only for a CD. serial/model NULL: QEMU's defaults.
 */
bool ide_device_attach(IDEBus *bus, int unit, IDEDriveKind kind,
                       BlockBackend *blk, const char *dev_id,
                       const char *serial, const char *model,
                       GError **errp);
/* Also detaches the backend from its device (blk_detach_dev). */
void ide_device_detach(IDEBus *bus, int unit);

/* --- ATAPI (hw/ide/atapi.c), used by the core --- */

void ide_atapi_cmd(IDEState *s);
void ide_atapi_reply_next(IDEState *s);
void ide_atapi_dma_next(IDEState *s);
void ide_atapi_identify(IDEState *s, uint16_t *p);
void ide_atapi_reset(IDEState *s);
/* QMP/HMP's tray: the change callbacks registered with the backend. */
extern const BlockDevOps ide_cd_block_ops;

/* --- shared between core.c and atapi.c --- */

void ide_set_irq(IDEBus *bus);
/* PIO: the bytes [offset, offset+size) of io_buffer move next; DRQ sets. */
void ide_transfer_start(IDEState *s, uint32_t offset, uint32_t size,
                        IDEEndTransfer end);
void ide_transfer_stop(IDEState *s);
void ide_set_signature(IDEState *s);
void ide_abort_command(IDEState *s);
void ide_padstr(char *dst, const char *src, int len);
void ide_put_str(uint16_t *words, const char *str, int len);
/*
 * Starts an asynchronous read of nbytes at offset into s->io_buffer; done
 * runs later with the result (the buffer holds the data on 0), unless
 * a reset came in between.
 */
void ide_aio_read(IDEState *s, int64_t offset, uint32_t nbytes,
                  void (*done)(IDEState *s, int ret));
/*
 * A transport without a data port (AHCI) moved the PIO block of
 * io_buffer[data_ptr, data_end) itself: the command goes on as if the
 * host had read or written the last byte.
 */
void ide_pio_transfer_end(IDEState *s);
/* The DMA command is over: the engine stops (the caller sets the status
 * and raises the interrupt). */
void ide_dma_end(IDEState *s, bool error);
/* Starts a DMA command of kind k on s (the engine may already run). */
void ide_dma_start(IDEState *s, IDEDMAKind k);

/* core.c, for bus.c: the command register, resets, held requests */
void ide_exec_cmd(IDEBus *bus, uint8_t val);
void ide_reset_dev(IDEState *s);
void ide_guess_geometry(uint64_t nb, uint32_t *cyls, uint32_t *heads,
                        uint32_t *secs);
void ide_retry_request(IDEState *s);
void ide_drop_requests(IDEState *s);

extern const VMStateDescription vmstate_ide_bus;

#endif
