/*
 * The ICH9 AHCI controller's state, shared by its two files: ahci.c (the
 * PCI function, HBA and port registers, interrupts, migration) and
 * ahci-cmd.c (command lists, FISes, PRD tables and NCQ on the ATA core).
 */
#ifndef HW_IDE_AHCI_INTERNAL_H
#define HW_IDE_AHCI_INTERNAL_H

#include "hw/ide/ide.h"
#include "hw/pci/pci.h"

#define AHCI_PORTS          6
#define AHCI_SLOTS          32
#define AHCI_ABAR_SIZE      0x800   /* ICH9: ABAR bits 10:4 read 0 */
#define AHCI_IDP_SIZE       0x20    /* BAR4: legacy BM range + AIDP */
#define AHCI_IDP_INDEX      0x10
#define AHCI_IDP_DATA       0x14

/* 3.1 Generic host control */
#define HBA_CAP             0x00
#define  CAP_S64A           (1u << 31)
#define  CAP_SNCQ           (1u << 30)
#define  CAP_SCLO           (1u << 24)
#define  CAP_ISS_GEN2       (2u << 20)
#define  CAP_SAM            (1u << 18)
#define  CAP_SSC            (1u << 14)
#define  CAP_PSC            (1u << 13)
#define  CAP_NCS_SHIFT      8
#define HBA_GHC             0x04
#define  GHC_HR             (1u << 0)
#define  GHC_IE             (1u << 1)
#define  GHC_AE             (1u << 31)
#define HBA_IS              0x08
#define HBA_PI              0x0c
#define HBA_VS              0x10
#define  AHCI_VERSION_1_3   0x00010300
#define HBA_CAP2            0x24
#define HBA_PORT_BASE       0x100
#define HBA_PORT_SIZE       0x80

/* 3.3 Port registers */
#define PX_CLB              0x00
#define PX_CLBU             0x04
#define PX_FB               0x08
#define PX_FBU              0x0c
#define PX_IS               0x10
#define PX_IE               0x14
#define PX_CMD              0x18
#define PX_TFD              0x20
#define PX_SIG              0x24
#define PX_SSTS             0x28
#define PX_SCTL             0x2c
#define PX_SERR             0x30
#define PX_SACT             0x34
#define PX_CI               0x38
#define PX_SNTF             0x3c

/* PxIS / PxIE bits (3.3.5) */
#define PORT_IRQ_DHRS       (1u << 0)
#define PORT_IRQ_PSS        (1u << 1)
#define PORT_IRQ_DSS        (1u << 2)
#define PORT_IRQ_SDBS       (1u << 3)
#define PORT_IRQ_DPS        (1u << 5)
#define PORT_IRQ_OFS        (1u << 24)
#define PORT_IRQ_HBDS       (1u << 28)
#define PORT_IRQ_HBFS       (1u << 29)
#define PORT_IRQ_TFES       (1u << 30)
#define PORT_IRQ_MASK       0xfdc000ffu     /* implemented bits */
/* errors after which the port stops until software clears PxCMD.ST */
#define PORT_IRQ_HALTING    (PORT_IRQ_OFS | PORT_IRQ_HBDS | PORT_IRQ_HBFS | \
                             PORT_IRQ_TFES)

/* PxCMD bits (3.3.7) */
#define PORT_CMD_ST         (1u << 0)
#define PORT_CMD_SUD        (1u << 1)
#define PORT_CMD_POD        (1u << 2)
#define PORT_CMD_CLO        (1u << 3)
#define PORT_CMD_FRE        (1u << 4)
#define PORT_CMD_CCS_SHIFT  8
#define PORT_CMD_CCS_MASK   (0x1fu << 8)
#define PORT_CMD_FR         (1u << 14)
#define PORT_CMD_CR         (1u << 15)
#define PORT_CMD_ATAPI      (1u << 24)
#define PORT_CMD_DLAE       (1u << 25)
#define PORT_CMD_ALPE       (1u << 26)
#define PORT_CMD_ASP        (1u << 27)
#define PORT_CMD_ICC_MASK   (0xfu << 28)
#define PORT_CMD_WMASK      (PORT_CMD_ST | PORT_CMD_FRE | PORT_CMD_ATAPI | \
                             PORT_CMD_DLAE | PORT_CMD_ALPE | PORT_CMD_ASP)

#define SCTL_DET_MASK       0xf
#define SCTL_DET_COMRESET   0x1
/* PxSSTS: device present and Phy up (DET 3), Gen1 speed, active (IPM 1) */
#define SSTS_ONLINE         0x113

/* Command header (4.2.2) */
#define CMDH_CFL_MASK       0x1f
#define CMDH_ATAPI          (1u << 5)
#define CMDH_WRITE          (1u << 6)
#define CMDH_PRDTL_SHIFT    16
#define CMDH_SIZE           32
/* Command table (4.2.3) */
#define CMDT_CFIS           0x00
#define CMDT_ACMD           0x40
#define CMDT_PRDT           0x80
#define PRD_SIZE            16
#define PRD_DBC_MASK        0x3fffff
#define PRD_INT             (1u << 31)

/* Received FIS area (4.2.1) */
#define RFIS_DSFIS          0x00
#define RFIS_PSFIS          0x20
#define RFIS_RFIS           0x40
#define RFIS_SDBFIS         0x58

/* FIS types (SATA 3.0 10.3) */
#define FIS_REG_H2D         0x27
#define FIS_REG_D2H         0x34
#define FIS_DMA_SETUP       0x41
#define FIS_PIO_SETUP       0x5f
#define FIS_SDB             0xa1
#define FIS_H2D_C           0x80
#define FIS_I               0x40

/* ATA commands this file handles itself or passes on (ACS-3) */
#define ATA_READ_FPDMA      0x60
#define ATA_WRITE_FPDMA     0x61
#define ATA_READ_DMA_EXT    0x25
#define ATA_WRITE_DMA_EXT   0x35

#define NO_SLOT             0xff

typedef struct AHCIState AHCIState;

/* An NCQ command accepted from the command list, waiting to run. */
typedef struct AHCINCQ {
    uint64_t lba;
    uint32_t count;             /* sectors, 1-65536 */
    bool write;
} AHCINCQ;

typedef struct AHCIPort {
    IDEBus bus;                 /* first: the DMA ops get the bus */
    AHCIState *hba;
    int num;
    /* registers */
    uint32_t clb, clbu, fb, fbu;
    uint32_t is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
    /* the command running on the device */
    uint8_t cur_slot;           /* NO_SLOT: none */
    bool cur_ncq;
    bool halted;                /* a fatal or task-file error: wait for ST=0 */
    uint64_t ctba;
    uint32_t prdtl;
    uint32_t prd_index;         /* next entry of the PRDT */
    uint32_t prd_off;           /* bytes used of entry prd_index */
    uint32_t prdbc;             /* bytes moved by the command */
    uint32_t err_irq;           /* a PxIS error bit the transfer hit */
    /* NCQ: accepted tags waiting to run, and what each asks */
    uint32_t ncq_pending;
    AHCINCQ ncq[AHCI_SLOTS];
    /* re-entrancy: the core calls back while we drive it */
    bool in_run, run_again;
    bool srst;                  /* a Control FIS asserted SRST */
} AHCIPort;

struct AHCIState {
    PCIDevice pci;
    Machine *m;
    uint32_t ghc, is;
    uint32_t idp_index;
    AHCIPort port[AHCI_PORTS];
    MemoryRegion abar, idp;
    bool irq_level;
    bool in_dma;                /* DMA into our own registers is dropped */
};

static inline IDEState *ahci_port_dev(AHCIPort *p)
{
    return &p->bus.ifs[0];
}

/* ahci.c: PxIS & PxIE into IS and the interrupt line or MSI */
void ahci_port_update_irq(AHCIPort *p);
/* ahci.c: sets PxIS bits; an error bit halts the port (PORT_IRQ_HALTING) */
void ahci_port_raise(AHCIPort *p, uint32_t bits);

/* ahci-cmd.c: the core's hooks for a port's IDEBus */
extern const IDEDMAOps ahci_dma_ops;
/* ahci-cmd.c: runs issued commands until the port waits */
void ahci_port_run(AHCIPort *p);
/* ahci-cmd.c: ST cleared: commands are dropped, CI and SACT clear */
void ahci_port_stop(AHCIPort *p);
/* ahci-cmd.c: COMRESET: the device resets and sends its signature */
void ahci_port_link_reset(AHCIPort *p);

#endif
