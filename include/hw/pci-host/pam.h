/*
 * PAM and SMRAM of the i440FX and Q35 host bridges: the same registers at
 * different configuration offsets (82441FX 3.2.18-21, Q35 MCH 5.1.17-24).
 */
#ifndef HW_PCI_HOST_PAM_H
#define HW_PCI_HOST_PAM_H

#include "hw/pci/pci.h"

#define PAM_SEGMENTS        13
#define  PAM_RE             1
#define  PAM_WE             2
#define  SMRAM_D_OPEN       0x40
#define  SMRAM_D_CLS        0x20
#define  SMRAM_D_LCK        0x10
#define  SMRAM_G_SMRAME     0x08
#define  SMRAM_C_BASE_SEG   0x02    /* 010b: 0xA0000, the only one */

typedef struct PAMSegment {
    MemoryRegion ram, ram_ro;
    MemoryRegion pci;           /* all-ones below the BIOS ROM */
    bool has_pci;
} PAMSegment;

typedef struct PAMState {
    PCIDevice *dev;
    Machine *m;                 /* NULL until pam_init */
    uint8_t pam0, smram;        /* their configuration offsets */
    PAMSegment seg[PAM_SEGMENTS];
    MemoryRegion smram_open;    /* RAM at 0xA0000 while D_OPEN */
} PAMState;

/* The registers' write masks and the memory regions they switch. */
void pam_init(PAMState *p, PCIDevice *d, Machine *m, uint8_t pam0,
              uint8_t smram);
void pam_fini(PAMState *p);
/* Power-on values: all PCI, or shadow RAM when no firmware runs. */
void pam_reset(PAMState *p);
/* After a configuration write: applies it if it touched the registers. */
void pam_config_write(PAMState *p, uint32_t addr, unsigned len);
/* Around loading a state, which may carry SMRAM locked or not. */
void pam_pre_load(PAMState *p);
void pam_post_load(PAMState *p);

#endif
