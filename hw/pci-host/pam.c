/*
 * PAM0-6: 13 segments of 0xC0000-0xFFFFF, each with a read-enable and a
 * write-enable bit. RE+WE: shadow RAM; RE: RAM that ignores writes;
 * neither: the PCI side (the BIOS ROM at 0xE0000-0xFFFFF, nothing below).
 * WE alone (reads from ROM, writes to RAM) is treated as the PCI side, as
 * in QEMU; firmware uses it only while it copies itself, which SeaBIOS
 * does from the image below 4 GiB instead. SMRAM's D_OPEN shows the RAM
 * under the VGA window.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/pci-host/pam.h"

#define SMRAM_BASE          0xa0000
#define SMRAM_SIZE          0x20000

static void pam_segment_range(int i, hwaddr *start, uint64_t *size)
{
    if (i == 0) {
        *start = 0xf0000;
        *size = 0x10000;
    } else {
        *start = 0xc0000 + (i - 1) * 0x4000;
        *size = 0x4000;
    }
}

/* PAM0's low nibble is reserved; PAMn (n >= 1) holds two segments. */
static uint8_t pam_attr(PAMState *p, int i)
{
    const uint8_t *config = p->dev->config;

    if (i == 0) {
        return (config[p->pam0] >> 4) & 3;
    }
    return (config[p->pam0 + (i + 1) / 2] >> ((i + 1) % 2 * 4)) & 3;
}

static void pam_update_memory(PAMState *p)
{
    memory_transaction_begin();
    for (int i = 0; i < PAM_SEGMENTS; i++) {
        PAMSegment *seg = &p->seg[i];
        uint8_t attr = pam_attr(p, i);
        memory_region_set_enabled(&seg->ram, attr == (PAM_RE | PAM_WE));
        memory_region_set_enabled(&seg->ram_ro, attr == PAM_RE);
        if (seg->has_pci) {
            memory_region_set_enabled(&seg->pci, !(attr & PAM_RE));
        }
    }
    memory_region_set_enabled(&p->smram_open,
                              p->dev->config[p->smram] & SMRAM_D_OPEN);
    memory_transaction_commit();
}

/* D_LCK freezes the register but for D_CLS, and closes D_OPEN; only reset
 * opens it again (82441FX 3.2.21). */
static void smram_update_wmask(PAMState *p)
{
    PCIDevice *d = p->dev;
    uint8_t smram = d->config[p->smram];

    if (smram & SMRAM_D_LCK) {
        d->config[p->smram] = smram & ~SMRAM_D_OPEN;
        d->wmask[p->smram] = SMRAM_D_CLS;
    } else {
        d->wmask[p->smram] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK |
                             SMRAM_G_SMRAME;
    }
}

static uint64_t pam_pci_read(void *opaque, hwaddr addr, unsigned size)
{
    return UINT64_MAX;
}

static void pam_pci_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
}

static const MemoryRegionOps pam_pci_ops = {
    .read = pam_pci_read,
    .write = pam_pci_write,
    .impl_min = 1,
    .impl_max = 8,
};

void pam_init(PAMState *p, PCIDevice *d, Machine *m, uint8_t pam0,
              uint8_t smram)
{
    /* below the BIOS ROM's view the PCI side has nothing to show */
    hwaddr pci_end = m->isa_bios ? 0x100000 - m->isa_bios->size : 0xc0000;

    p->dev = d;
    p->m = m;
    p->pam0 = pam0;
    p->smram = smram;
    memset(d->wmask + pam0, 0x33, 7);
    d->wmask[pam0] = 0x30;
    d->config[smram] = SMRAM_C_BASE_SEG;    /* hardwired */
    smram_update_wmask(p);
    memory_transaction_begin();
    for (int i = 0; i < PAM_SEGMENTS; i++) {
        PAMSegment *seg = &p->seg[i];
        hwaddr start;
        uint64_t size;

        pam_segment_range(i, &start, &size);
        memory_region_init_alias(&seg->ram, "pam-ram", &m->ram, start, size);
        memory_region_init_alias(&seg->ram_ro, "pam-rom", &m->ram, start,
                                 size);
        memory_region_set_readonly(&seg->ram_ro, true);
        memory_region_add_subregion_overlap(m->sysmem, start, &seg->ram, 2);
        memory_region_add_subregion_overlap(m->sysmem, start, &seg->ram_ro,
                                            2);
        seg->has_pci = start < pci_end;
        if (seg->has_pci) {
            memory_region_init_io(&seg->pci, "pam-pci", &pam_pci_ops, p,
                                  size);
            memory_region_add_subregion_overlap(m->sysmem, start, &seg->pci,
                                                2);
        }
    }
    /* above the VGA window, which devices map at priority 1 */
    memory_region_init_alias(&p->smram_open, "smram-open", &m->ram,
                             SMRAM_BASE, SMRAM_SIZE);
    memory_region_add_subregion_overlap(m->sysmem, SMRAM_BASE,
                                        &p->smram_open, 3);
    memory_transaction_commit();
}

void pam_fini(PAMState *p)
{
    if (!p->m) {
        return;
    }
    for (int i = 0; i < PAM_SEGMENTS; i++) {
        memory_region_destroy(&p->seg[i].ram);
        memory_region_destroy(&p->seg[i].ram_ro);
        if (p->seg[i].has_pci) {
            memory_region_destroy(&p->seg[i].pci);
        }
    }
    memory_region_destroy(&p->smram_open);
    p->m = NULL;
}

/*
 * Power-on: PAM all PCI, so the CPU fetches the BIOS ROM. Without firmware
 * (direct kernel boot) the loaders' data in 0xC0000-0xFFFFF is RAM, as
 * firmware would have left it.
 */
void pam_reset(PAMState *p)
{
    uint8_t *config = p->dev->config;
    uint8_t pam = p->m->bios ? 0 : PAM_RE | PAM_WE;

    config[p->pam0] = pam << 4;
    memset(config + p->pam0 + 1, pam << 4 | pam, 6);
    config[p->smram] = SMRAM_C_BASE_SEG;
    smram_update_wmask(p);
    pam_update_memory(p);
}

void pam_config_write(PAMState *p, uint32_t addr, unsigned len)
{
    if (pci_config_touches(addr, len, p->pam0, 7) ||
        pci_config_touches(addr, len, p->smram, 1)) {
        smram_update_wmask(p);
        pam_update_memory(p);
    }
}

/*
 * A state may carry SMRAM with or without D_LCK whatever this one has
 * now: the check of the stream's configuration uses the unlocked mask,
 * and post_load locks again from the value loaded.
 */
void pam_pre_load(PAMState *p)
{
    p->dev->wmask[p->smram] = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK |
                              SMRAM_G_SMRAME;
}

void pam_post_load(PAMState *p)
{
    smram_update_wmask(p);
    pam_update_memory(p);
}
