/*
 * The AHCI port's command engine (Serial ATA AHCI 1.3 chapter 5): fetches
 * command headers and tables, runs their Register H2D FISes on the ATA
 * core (hw/ide/core.c, atapi.c), moves data through the PRD table, writes
 * the received FISes and queues NCQ commands, with the error bits the spec
 * gives bad lists and tables.
 */
#include <string.h>

#include "ahci-internal.h"
#include "hw/i386/x86.h"
#include "util/log.h"

static AHCIPort *port_of(IDEBus *bus)
{
    return (AHCIPort *)bus;
}

static AddressSpace *hba_as(AHCIState *s)
{
    return &s->m->as_mem;
}

static uint64_t hi_lo(uint32_t hi, uint32_t lo)
{
    return (uint64_t)hi << 32 | lo;
}

/* --- guest memory, with our own MMIO locked out while we move data --- */

static bool dma_read(AHCIState *s, uint64_t addr, void *buf, uint32_t len)
{
    s->in_dma = true;
    MemTxResult r = address_space_read(hba_as(s), addr, buf, len);
    s->in_dma = false;
    return r == MEMTX_OK;
}

static bool dma_write(AHCIState *s, uint64_t addr, const void *buf,
                      uint32_t len)
{
    s->in_dma = true;
    MemTxResult r = address_space_write(hba_as(s), addr, buf, len);
    s->in_dma = false;
    return r == MEMTX_OK;
}

static void dma_write_le32(AHCIState *s, uint64_t addr, uint32_t val)
{
    uint8_t b[4] = { val, val >> 8, val >> 16, val >> 24 };

    dma_write(s, addr, b, 4);
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- received FISes (4.2.1, SATA 3.0 10.3) --- */

static bool fis_area(AHCIPort *p, uint64_t *fb)
{
    if (!(p->cmd & PORT_CMD_FRE)) {
        return false;
    }
    *fb = hi_lo(p->fbu, p->fb);
    return true;
}

/* The task-file registers a D2H or PIO Setup FIS carries (bytes 4-13). */
static void fis_put_regs(IDEState *d, uint8_t *f)
{
    f[4] = d->sector;
    f[5] = d->lcyl;
    f[6] = d->hcyl;
    f[7] = d->select;
    f[8] = d->hob_sector;
    f[9] = d->hob_lcyl;
    f[10] = d->hob_hcyl;
    f[12] = d->nsector;
    f[13] = d->hob_nsector;
}

static void port_write_d2h(AHCIPort *p, bool irq)
{
    IDEState *d = ahci_port_dev(p);
    uint8_t f[20] = { FIS_REG_D2H, irq ? FIS_I : 0, d->status, d->error };
    uint64_t fb;

    fis_put_regs(d, f);
    p->tfd = d->error << 8 | d->status;
    if (fis_area(p, &fb)) {
        dma_write(p->hba, fb + RFIS_RFIS, f, sizeof(f));
    }
}

static void port_write_pio_setup(AHCIPort *p, uint32_t len, bool to_host)
{
    IDEState *d = ahci_port_dev(p);
    /* initial status: DRQ; E_Status: what follows the block */
    uint8_t f[20] = { FIS_PIO_SETUP, FIS_I | (to_host ? 0x20 : 0),
                      d->status, d->error };
    uint64_t fb;

    fis_put_regs(d, f);
    f[15] = d->status & ~(BUSY_STAT | DRQ_STAT);
    f[16] = len;
    f[17] = len >> 8;
    p->tfd = d->error << 8 | d->status;
    p->is |= PORT_IRQ_PSS;      /* the I bit: raised when the pass ends */
    if (fis_area(p, &fb)) {
        dma_write(p->hba, fb + RFIS_PSFIS, f, sizeof(f));
    }
}

static void port_write_dma_setup(AHCIPort *p, uint8_t tag)
{
    uint8_t f[28] = { FIS_DMA_SETUP, 0x80 /* auto-activate */ };
    uint64_t fb;

    f[4] = tag;     /* DMA buffer identifier: the tag (SATA 3.0 13.6.4) */
    if (fis_area(p, &fb)) {
        dma_write(p->hba, fb + RFIS_DSFIS, f, sizeof(f));
    }
}

static void port_write_sdb(AHCIPort *p, uint32_t done_tags)
{
    IDEState *d = ahci_port_dev(p);
    uint8_t f[8] = { FIS_SDB, FIS_I, d->status & 0x77, d->error,
                     done_tags, done_tags >> 8, done_tags >> 16,
                     done_tags >> 24 };
    uint64_t fb;

    p->tfd = d->error << 8 | (p->tfd & 0x88) | (d->status & 0x77);
    if (fis_area(p, &fb)) {
        dma_write(p->hba, fb + RFIS_SDBFIS, f, sizeof(f));
    }
}

/* --- the device and its signature --- */

static uint32_t dev_signature(IDEState *d)
{
    switch (d->kind) {
    case IDE_HD:
        return 0x00000101;
    case IDE_CD:
        return 0xeb140101;
    default:
        return 0xffffffff;
    }
}

/* COMRESET or HBA reset: the device resets and reports its signature. */
void ahci_port_link_reset(AHCIPort *p)
{
    IDEState *d = ahci_port_dev(p);

    ide_bus_reset(&p->bus);
    p->srst = false;
    if (d->kind == IDE_NONE) {
        p->ssts = 0;
        p->sig = 0xffffffff;
        p->tfd = 0x7f;
        return;
    }
    p->ssts = SSTS_ONLINE;
    p->sig = dev_signature(d);
    port_write_d2h(p, false);
}

/* Stops what the device does for us; the device itself stays usable. */
static void port_drop_device_command(AHCIPort *p)
{
    IDEState *d = ahci_port_dev(p);

    ide_drop_requests(d);
    d->dma_active = false;
    d->dma_kind = IDE_DMA_NONE;
    ide_transfer_stop(d);
    if (d->status & BUSY_STAT) {
        d->status = READY_STAT | SEEK_STAT;
    }
}

/* --- the PRD table (4.2.3.3) --- */

/* Loads entry prd_index: address, byte count, interrupt flag. */
static bool prd_load(AHCIPort *p, uint64_t *addr, uint32_t *len, bool *intr)
{
    uint8_t e[PRD_SIZE];

    if (!dma_read(p->hba, p->ctba + CMDT_PRDT +
                  (uint64_t)p->prd_index * PRD_SIZE, e, sizeof(e))) {
        p->err_irq |= PORT_IRQ_HBFS;
        return false;
    }
    *addr = hi_lo(le32(e + 4), le32(e)) & ~1ull;
    *len = (le32(e + 12) & PRD_DBC_MASK) + 1;
    *intr = le32(e + 12) & PRD_INT;
    return true;
}

/*
 * Moves len bytes between buf and the PRDT of the current command, going
 * on where the last call stopped. Returns the bytes moved (fewer: the
 * table ended, an overflow), or -1 on a bus error.
 */
static int prd_move(AHCIPort *p, uint8_t *buf, int len, bool to_device)
{
    int moved = 0;

    while (moved < len) {
        uint64_t addr;
        uint32_t elen;
        bool intr;

        if (p->prd_index >= p->prdtl) {
            p->err_irq |= PORT_IRQ_OFS;
            break;
        }
        if (!prd_load(p, &addr, &elen, &intr)) {
            return -1;
        }
        uint32_t n = MIN((uint32_t)(len - moved), elen - p->prd_off);
        bool ok = to_device
            ? dma_read(p->hba, addr + p->prd_off, buf + moved, n)
            : dma_write(p->hba, addr + p->prd_off, buf + moved, n);
        if (!ok) {
            p->err_irq |= PORT_IRQ_HBDS;
            return -1;
        }
        moved += n;
        p->prd_off += n;
        p->prdbc += n;
        if (p->prd_off >= elen) {
            p->prd_index++;
            p->prd_off = 0;
            if (intr) {
                p->is |= PORT_IRQ_DPS;
            }
        }
    }
    return moved;
}

/* --- the core's DMA hooks --- */

static void ahci_dma_start(IDEBus *bus)
{
    ide_dma_run(bus);
}

static int ahci_dma_rw_buf(IDEBus *bus, uint8_t *buf, int len,
                           bool to_device)
{
    AHCIPort *p = port_of(bus);

    if (p->cur_slot == NO_SLOT) {
        return -1;
    }
    return prd_move(p, buf, len, to_device);
}

static void ahci_dma_set_inactive(IDEBus *bus, bool error)
{
}


/* The device finished a step: the port looks at it again. */
static void ahci_irq_notify(IDEBus *bus)
{
    ahci_port_run(port_of(bus));
}

const IDEDMAOps ahci_dma_ops = {
    .start = ahci_dma_start,
    .rw_buf = ahci_dma_rw_buf,
    .set_inactive = ahci_dma_set_inactive,
    .irq_notify = ahci_irq_notify,
};

/* --- commands --- */

static void cmd_header_addr(AHCIPort *p, uint8_t slot, uint64_t *addr)
{
    *addr = (hi_lo(p->clbu, p->clb) & ~0x3ffull) + slot * CMDH_SIZE;
}

/* The command ends: status to the guest, the slot is free (5.3.8). */
static void port_complete(AHCIPort *p)
{
    IDEState *d = ahci_port_dev(p);
    uint8_t slot = p->cur_slot;
    uint32_t bit = 1u << slot;
    uint64_t hdr;
    uint32_t irq = p->err_irq;

    cmd_header_addr(p, slot, &hdr);
    dma_write_le32(p->hba, hdr + 4, p->prdbc);
    p->cur_slot = NO_SLOT;
    p->cmd &= ~PORT_CMD_CCS_MASK;
    p->err_irq = 0;
    if ((d->status & ERR_STAT) && !(irq & PORT_IRQ_HALTING)) {
        irq |= PORT_IRQ_TFES;
    }
    if (p->cur_ncq) {
        if (irq) {
            port_write_sdb(p, 0);
            ahci_port_raise(p, irq | PORT_IRQ_SDBS);
            return;         /* the tag stays in PxSACT for error handling */
        }
        p->sact &= ~bit;
        port_write_sdb(p, bit);
        ahci_port_raise(p, PORT_IRQ_SDBS);
        return;
    }
    port_write_d2h(p, true);
    if (irq) {
        ahci_port_raise(p, irq | PORT_IRQ_DHRS);
        return;             /* PxCI keeps the slot: software must recover */
    }
    p->ci &= ~bit;
    ahci_port_raise(p, PORT_IRQ_DHRS);
}

/* A command fails before the device saw it. */
static void port_fail_fetch(AHCIPort *p, uint8_t slot, uint32_t irq)
{
    IDEState *d = ahci_port_dev(p);

    log_guest_error("ahci: port %d slot %u: bad command (PxIS %#x)\n",
                    p->num, slot, irq);
    if (irq == PORT_IRQ_TFES) {
        d->status = READY_STAT | ERR_STAT;
        d->error = ABRT_ERR;
        p->cur_slot = slot;
        p->cur_ncq = false;
        p->prdbc = 0;
        port_complete(p);
        return;
    }
    p->cmd = (p->cmd & ~PORT_CMD_CCS_MASK) | slot << PORT_CMD_CCS_SHIFT;
    ahci_port_raise(p, irq);
}

/* Task file from a Register H2D FIS (SATA 3.0 10.3.4) into the device. */
static void load_task_file(IDEState *d, const uint8_t *f)
{
    d->feature = f[3];
    d->sector = f[4];
    d->lcyl = f[5];
    d->hcyl = f[6];
    d->select = f[7] | 0xa0;
    d->hob_sector = f[8];
    d->hob_lcyl = f[9];
    d->hob_hcyl = f[10];
    d->hob_feature = f[11];
    d->nsector = f[12];
    d->hob_nsector = f[13];
}

/* Device Control (C = 0): SRST asserts and releases a software reset. */
static void port_control_fis(AHCIPort *p, uint8_t slot, const uint8_t *f)
{
    IDEState *d = ahci_port_dev(p);
    bool srst = f[15] & IDE_CTRL_SRST;

    if (srst) {
        port_drop_device_command(p);
        ide_reset_dev(d);
        d->status = BUSY_STAT;
        p->tfd = BUSY_STAT;
    } else if (p->srst) {
        ide_reset_dev(d);
        p->sig = dev_signature(d);
        port_write_d2h(p, false);
    }
    p->srst = srst;
    p->ci &= ~(1u << slot);
}

/* An NCQ command is accepted: queued by tag, the slot's CI clears. */
static void port_queue_ncq(AHCIPort *p, uint8_t slot, const uint8_t *f)
{
    IDEState *d = ahci_port_dev(p);
    uint8_t tag = f[12] >> 3;
    uint32_t count = f[3] | f[11] << 8;
    AHCINCQ *q = &p->ncq[slot];

    if (d->kind != IDE_HD || tag != slot || !(p->sact & (1u << slot))) {
        port_fail_fetch(p, slot, PORT_IRQ_TFES);
        return;
    }
    q->lba = (uint64_t)f[10] << 40 | (uint64_t)f[9] << 32 |
             (uint64_t)f[8] << 24 | f[6] << 16 | f[5] << 8 | f[4];
    q->count = count ? count : 65536;
    q->write = f[2] == ATA_WRITE_FPDMA;
    p->ncq_pending |= 1u << slot;
    p->ci &= ~(1u << slot);
    /* the device releases the bus: BSY clears without an interrupt */
    d->status = READY_STAT | SEEK_STAT;
    d->error = 0;
    port_write_d2h(p, false);
}

static void port_begin(AHCIPort *p, uint8_t slot, uint64_t ctba,
                       uint32_t prdtl, bool ncq)
{
    p->cur_slot = slot;
    p->cur_ncq = ncq;
    p->ctba = ctba;
    p->prdtl = prdtl;
    p->prd_index = 0;
    p->prd_off = 0;
    p->prdbc = 0;
    p->err_irq = 0;
    p->cmd = (p->cmd & ~PORT_CMD_CCS_MASK) | slot << PORT_CMD_CCS_SHIFT;
}

/* Reads slot's header: the command table and its PRDT length. */
static bool fetch_header(AHCIPort *p, uint8_t slot, uint32_t *dw0,
                         uint64_t *ctba)
{
    uint8_t h[16];
    uint64_t addr;

    cmd_header_addr(p, slot, &addr);
    if (!dma_read(p->hba, addr, h, sizeof(h))) {
        return false;
    }
    *dw0 = le32(h);
    *ctba = hi_lo(le32(h + 12), le32(h + 8)) & ~0x7full;
    return true;
}

/* Fetches and starts the command in slot (5.3.2 - 5.3.4). */
static void port_issue(AHCIPort *p, uint8_t slot)
{
    IDEState *d = ahci_port_dev(p);
    uint8_t f[64];
    uint32_t dw0;
    uint64_t ctba;

    if (!fetch_header(p, slot, &dw0, &ctba) ||
        !dma_read(p->hba, ctba + CMDT_CFIS, f, sizeof(f))) {
        port_fail_fetch(p, slot, PORT_IRQ_HBFS);
        return;
    }
    uint32_t cfl = dw0 & CMDH_CFL_MASK;
    uint32_t prdtl = dw0 >> CMDH_PRDTL_SHIFT;
    /* a Register H2D FIS is 5 dwords; the CFIS area holds 16 */
    if (cfl < 5 || cfl > 16 || f[0] != FIS_REG_H2D || d->kind == IDE_NONE) {
        port_fail_fetch(p, slot, PORT_IRQ_TFES);
        return;
    }
    if (!(f[1] & FIS_H2D_C)) {
        port_control_fis(p, slot, f);
        return;
    }
    if (f[2] == ATA_READ_FPDMA || f[2] == ATA_WRITE_FPDMA) {
        port_queue_ncq(p, slot, f);
        return;
    }
    port_begin(p, slot, ctba, prdtl, false);
    if (d->status & (BUSY_STAT | DRQ_STAT)) {
        /* left over from a command software abandoned */
        port_drop_device_command(p);
    }
    load_task_file(d, f);
    p->bus.unit = 0;
    p->bus.cmd = 0;
    ide_exec_cmd(&p->bus, f[2]);
}

/* Runs the next queued NCQ command as a DMA command on the device. */
static void port_run_ncq(AHCIPort *p, uint8_t slot)
{
    IDEState *d = ahci_port_dev(p);
    AHCINCQ *q = &p->ncq[slot];
    uint32_t dw0;
    uint64_t ctba;

    p->ncq_pending &= ~(1u << slot);
    if (!fetch_header(p, slot, &dw0, &ctba)) {
        p->cur_ncq = true;
        port_fail_fetch(p, slot, PORT_IRQ_HBFS);
        return;
    }
    port_begin(p, slot, ctba, dw0 >> CMDH_PRDTL_SHIFT, true);
    port_write_dma_setup(p, slot);
    uint8_t f[16] = { 0 };
    f[3] = q->count;
    f[11] = q->count >> 8;
    f[12] = q->count;
    f[13] = q->count >> 8;
    f[4] = q->lba;
    f[5] = q->lba >> 8;
    f[6] = q->lba >> 16;
    f[7] = 0x40;
    f[8] = q->lba >> 24;
    f[9] = q->lba >> 32;
    f[10] = q->lba >> 40;
    load_task_file(d, f);
    p->bus.unit = 0;
    p->bus.cmd = 0;
    ide_exec_cmd(&p->bus, q->write ? ATA_WRITE_DMA_EXT : ATA_READ_DMA_EXT);
}

/*
 * The device asks for a PIO block (DRQ without DMA): it moves between
 * io_buffer and the PRDT, or the ATAPI packet comes from ACMD.
 */
static void port_pio_block(AHCIPort *p)
{
    IDEState *d = ahci_port_dev(p);
    uint32_t len = d->data_end - d->data_ptr;
    uint8_t *buf = d->io_buffer + d->data_ptr;

    if (d->end_transfer == IDE_END_ATAPI_PACKET) {
        if (!dma_read(p->hba, p->ctba + CMDT_ACMD, buf, MIN(len, 16))) {
            p->err_irq |= PORT_IRQ_HBFS;
            port_drop_device_command(p);
            d->status = READY_STAT | ERR_STAT;
            d->error = ABRT_ERR;
            return;
        }
        ide_pio_transfer_end(d);
        return;
    }
    bool to_device = d->end_transfer == IDE_END_SECTOR_WRITE;
    port_write_pio_setup(p, len, !to_device);
    int moved = prd_move(p, buf, len, to_device);
    if (moved < 0 || (uint32_t)moved < len) {
        port_drop_device_command(p);
        d->status = READY_STAT | ERR_STAT;
        d->error = ABRT_ERR;
        return;
    }
    ide_pio_transfer_end(d);
}

static bool port_running(AHCIPort *p)
{
    return (p->cmd & PORT_CMD_ST) && !p->halted;
}

/*
 * One pass: the current command as far as it goes, else the next one
 * software issued. Returns whether something moved (another pass helps).
 */
static bool port_step(AHCIPort *p)
{
    if (p->cur_slot != NO_SLOT) {
        IDEState *d = ahci_port_dev(p);
        if (d->aio || d->retry || d->dma_active || (d->status & BUSY_STAT)) {
            return false;   /* the block layer or the DMA engine has it */
        }
        if (d->status & DRQ_STAT) {
            /* each block ends the transfer or fails the command */
            port_pio_block(p);
            return true;
        }
        port_complete(p);
        return true;
    }
    if (!port_running(p)) {
        return false;
    }
    if (p->ci) {
        port_issue(p, __builtin_ctz(p->ci));
        return true;
    }
    if (p->ncq_pending) {
        port_run_ncq(p, __builtin_ctz(p->ncq_pending));
        return true;
    }
    return false;
}

/*
 * Drives the port until it waits for the device or for software. The
 * core calls back into here (irq_notify) from inside our calls; such a
 * nested call only asks the outer loop for another pass.
 */
void ahci_port_run(AHCIPort *p)
{
    if (p->in_run) {
        p->run_again = true;
        return;
    }
    p->in_run = true;
    /* a pass issues or ends a command or moves a PIO block: bounded by
     * 32 slots of at most 65536 sectors each; the guard is a backstop */
    for (unsigned guard = 0; guard < 1u << 24; guard++) {
        p->run_again = false;
        if (!port_step(p) && !p->run_again) {
            break;
        }
    }
    p->in_run = false;
    ahci_port_update_irq(p);
}

/* --- port registers --- */

void ahci_port_stop(AHCIPort *p)
{
    if (p->cur_slot != NO_SLOT) {
        port_drop_device_command(p);
        p->cur_slot = NO_SLOT;
    }
    p->ci = 0;
    p->sact = 0;
    p->ncq_pending = 0;
    p->halted = false;
    p->cmd &= ~(PORT_CMD_CR | PORT_CMD_CCS_MASK);
}

