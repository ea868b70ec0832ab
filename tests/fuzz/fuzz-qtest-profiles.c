/*
 * What each device fuzz target builds and reaches (fuzz-qtest.h). Region
 * order is the operations' numbering: tests/fuzz/make-qtest-seeds.py
 * mirrors these tables, so keep the two in step.
 */
#include <glib.h>
#include <string.h>

#include "fuzz-qtest.h"

#define N(a) G_N_ELEMENTS(a)
#define SLOT(n) (1u << (n))

static const Region pci_ports[] = { { 0xcf8, 8 } };
static const Region dma_mmio[] = {
    { 0xfee00000, 0x1000 },                     /* MSIs land here */
    { FUZZ_RAM_WINDOW, FUZZ_RAM_WINDOW_SIZE },
};
static const FuzzDrive disk[] = {
    { "file=%s,format=raw,if=none,id=fz-disk", 1024, 0 },
    { NULL },
};
static const FuzzDrive disk_and_cd[] = {
    { "file=%s,format=raw,if=none,id=fz-disk", 1024, 0 },
    { "file=%s,format=raw,if=none,id=fz-cd,media=cdrom,readonly=on", 1024,
      0 },
    { NULL },
};

/* ---- everything at once: the original fuzz-qtest ---- */

static const Region all_ports[] = {
    { 0x20, 2 }, { 0xa0, 2 }, { 0x4d0, 2 },     /* 8259s, ELCR */
    { 0x40, 4 }, { 0x61, 1 },                   /* PIT */
    { 0x60, 1 }, { 0x64, 1 }, { 0x92, 1 },      /* i8042, port A */
    { 0x3f8, 8 }, { 0xe9, 1 }, { 0xcf8, 8 },    /* COM1, debugcon, PCI */
    { 0x600, 12 }, { 0xcf9, 1 },                /* ACPI PM, reset */
};
static const Region all_mmio[] = {
    { 0xfec00000, 0x1000 },                     /* IOAPIC */
    { 0xfee00000, 0x1000 },                     /* LAPIC window / MSIs */
    { FUZZ_RAM_WINDOW, FUZZ_RAM_WINDOW_SIZE },
};
static const char *const all_devices[] = {
    "pci-testdev", "virtio-blk-pci,drive=fz-disk", "virtio-rng-pci",
    "virtio-net-pci,netdev=fz-net", "virtio-serial-pci,id=fz-vser",
    "virtconsole,chardev=fz-port", "virtserialport,chardev=fz-port2",
    NULL,
};

/* ---- one virtio device at 00:04.0 ---- */

static const char *const vblk_devices[] = {
    "virtio-blk-pci,drive=fz-disk,addr=4", NULL,
};
static const char *const vnet_devices[] = {
    "virtio-net-pci,netdev=fz-net,addr=4", NULL,
};
static const char *const vser_devices[] = {
    "virtio-serial-pci,id=fz-vser,addr=4", "virtconsole,chardev=fz-port",
    "virtserialport,chardev=fz-port2", NULL,
};
static const char *const vrng_devices[] = { "virtio-rng-pci,addr=4", NULL };
static const char *const vballoon_devices[] = {
    "virtio-balloon-pci,addr=4,free-page-reporting=on", NULL,
};

/* ---- storage ---- */

static const Region ide_ports[] = {
    { 0x1f0, 8 }, { 0x3f6, 1 },                 /* primary: the disk */
    { 0x170, 8 }, { 0x376, 1 },                 /* secondary: the CD */
    { 0xcf8, 8 },
};
static const char *const ide_devices[] = {
    "ide-hd,drive=fz-disk,bus=ide.0,unit=0",
    "ide-cd,drive=fz-cd,bus=ide.1,unit=0", NULL,
};
/* q35's built-in AHCI at 00:1f.2: port 0 the disk, port 1 the CD */
static const char *const ahci_devices[] = {
    "ide-hd,drive=fz-disk,bus=ide.0", "ide-cd,drive=fz-cd,bus=ide.1", NULL,
};

/* ---- the rest ---- */

static const char *const e1000_devices[] = {
    "e1000,netdev=fz-net,addr=4", NULL,
};
static const Region vga_ports[] = {
    { 0x3b0, 0x30 },                            /* VGA registers */
    { 0x1ce, 2 },                               /* Bochs VBE index/data */
    { 0xcf8, 8 },
};
static const Region vga_mmio[] = { { 0xa0000, 0x20000 } };  /* legacy window */
static const Region fw_cfg_ports[] = { { 0x510, 12 } };     /* + DMA */
static const Region rtc_ports[] = { { 0x70, 2 }, { 0x72, 2 } };
static const Region i8042_ports[] = { { 0x60, 1 }, { 0x64, 1 } };
/*
 * OVMF's layout: unit 0 (code, read-only) ends at 4 GiB, unit 1 (vars)
 * below it; the top 128 KiB also show below 1 MiB.
 */
static const FuzzDrive pflash_drives[] = {
    { "file=%s,format=raw,if=pflash,unit=0,readonly=on", 256, 0xff },
    { "file=%s,format=raw,if=pflash,unit=1", 128, 0xff },
    { NULL },
};
static const Region pflash_mmio[] = {
    { 0x100000000 - 0x60000, 0x60000 },         /* vars, then code */
    { 0xe0000, 0x20000 },
    { FUZZ_RAM_WINDOW, FUZZ_RAM_WINDOW_SIZE },
};

static const FuzzProfile profiles[] = {
    { "fuzz-qtest", "pc", NULL, true, 0, disk, all_devices,
      all_ports, N(all_ports), all_mmio, N(all_mmio), ~0u },
    { "fuzz-virtio-blk", "pc", NULL, false, 0, disk, vblk_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(4) },
    { "fuzz-virtio-net", "pc", NULL, false, 0, NULL, vnet_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(4) },
    { "fuzz-virtio-serial", "pc", NULL, false, 0, NULL, vser_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(4) },
    { "fuzz-virtio-rng", "pc", NULL, false, 0, NULL, vrng_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(4) },
    { "fuzz-virtio-balloon", "pc", NULL, false, 0, NULL, vballoon_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(4) },
    /* PIIX IDE is 00:01.1; its bus-master DMA is BAR 4 */
    { "fuzz-ide", "pc", NULL, false, 0, disk_and_cd, ide_devices,
      ide_ports, N(ide_ports), dma_mmio, N(dma_mmio), SLOT(1) },
    { "fuzz-ahci", "q35", NULL, false, 0, disk_and_cd, ahci_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(0x1f) },
    { "fuzz-e1000", "pc", NULL, false, 0, NULL, e1000_devices,
      pci_ports, 1, dma_mmio, N(dma_mmio), SLOT(4) },
    /* std-vga is 00:02.0: VRAM is BAR 0, the VBE/ioport MMIO BAR 2 */
    { "fuzz-vga", "pc", "std", false, 0, NULL, NULL,
      vga_ports, N(vga_ports), vga_mmio, N(vga_mmio), SLOT(2) },
    { "fuzz-fw-cfg", "pc", NULL, false, 0, NULL, NULL,
      fw_cfg_ports, N(fw_cfg_ports), dma_mmio, N(dma_mmio), 0 },
    { "fuzz-rtc", "pc", NULL, false, 0, NULL, NULL,
      rtc_ports, N(rtc_ports), NULL, 0, 0 },
    { "fuzz-i8042", "pc", NULL, false, 0, NULL, NULL,
      i8042_ports, N(i8042_ports), NULL, 0, 0 },
    { "fuzz-pflash", "pc", NULL, false, 0, pflash_drives, NULL,
      NULL, 0, pflash_mmio, N(pflash_mmio), 0 },
};

const FuzzProfile *fuzz_profile_find(const char *target)
{
    for (size_t i = 0; i < N(profiles); i++) {
        if (!strcmp(profiles[i].target, target)) {
            return &profiles[i];
        }
    }
    return NULL;
}
