/*
 * ACPI for the PC machines: what the table builder (hw/i386/acpi_build.c)
 * and the PM register device (hw/acpi/pm.c, type "acpi-pm") must agree on,
 * and the power button a monitor command presses.
 */
#ifndef HW_I386_ACPI_H
#define HW_I386_ACPI_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/device.h"
#include "system/memory.h"

typedef struct Machine Machine;

/*
 * SLP_TYP for S5 in \_S5_ and the value acpi-pm accepts in PM1a_CNT. Any
 * value works as long as both agree; 5 mirrors the state number.
 */
#define ACPI_S5_SLP_TYP 5
#define ACPI_SCI_IRQ 9        /* ISA IRQ and GSI, level, high */
#define ACPI_RESET_PORT 0xcf9 /* FADT RESET_REG (I/O, 8 bits) */
#define ACPI_RESET_VALUE 0x06 /* SYS_RST | RST_CPU: hard reset */

/*
 * Sets PWRBTN_STS in the machine's acpi-pm device, raising the SCI if the
 * guest enabled it (system_powerdown). False if the machine has no acpi-pm.
 */
bool acpi_pm_power_button(Machine *m);

/*
 * Places an "acpi-pm" device with ich9=on at I/O base (the ICH9's PMBASE)
 * or unmaps it (ACPI_EN clear, or a base that leaves no room for it).
 */
void acpi_pm_set_base(Device *dev, uint32_t base, bool enabled);

/* --- hw/i386/acpi_build.c: the one ACPI 6.x table builder --- */

/* A memory-mapped device described in the DSDT (virtio-mmio: "LNRO0005"). */
typedef struct AcpiMmioDevice {
    const char *hid;
    uint64_t addr;
    uint32_t size;
    unsigned gsi;             /* level, active high */
} AcpiMmioDevice;

#define ACPI_HPET_BASE 0xfed00000
#define ACPI_PVPANIC_PORT 0x505

typedef struct AcpiBuildConfig {
    int ncpus;
    const uint32_t *apic_ids; /* ncpus entries */
    bool pc_legacy;           /* i8042 and PS/2 devices present */
    uint16_t pm_base;         /* PM1a_EVT; CNT at +4, TMR at +8 */
    const AcpiMmioDevice *mmio_devs; /* nr_mmio_devs entries */
    unsigned nr_mmio_devs;
    bool hpet;                /* HPET table and DSDT device at 0xfed00000 */
    bool pvpanic;             /* DSDT QEMU0001 at ACPI_PVPANIC_PORT */
    bool rtc;                 /* DSDT PNP0B00 at 0x70, FADT century */
    /*
     * q35: PCI0 is a PCI Express root (PNP0A08, _CBA) with the ICH9's
     * interrupt routing, an MCFG table names the ECAM window at
     * mcfg_base (buses 0-255), and the FADT the ICH9's GPE0 block.
     */
    bool q35;
    uint64_t mcfg_base;
} AcpiBuildConfig;

/*
 * Sets hpet, pvpanic, rtc and q35 from the devices m has ("hpet",
 * "pvpanic", "mc146818rtc", the q35 "mch").
 */
void acpi_build_add_machine_devices(Machine *m, AcpiBuildConfig *cfg);

/* QEMU's BIOS linker/loader ("etc/table-loader"), 128-byte commands. */
#define ACPI_BUILD_TABLE_FILE "etc/acpi/tables"
#define ACPI_BUILD_RSDP_FILE "etc/acpi/rsdp"
#define ACPI_BUILD_LOADER_FILE "etc/table-loader"
#define BIOS_LINKER_LOADER_ENTRY_SIZE 128
#define BIOS_LINKER_LOADER_FILESZ 56
#define BIOS_LINKER_LOADER_COMMAND_ALLOCATE 1
#define BIOS_LINKER_LOADER_COMMAND_ADD_POINTER 2
#define BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM 3
#define BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH 1
#define BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG 2

/*
 * The tables as firmware gets them over fw_cfg: every table but the RSDP
 * in "etc/acpi/tables" (pointers hold offsets into their target file),
 * the RSDP in "etc/acpi/rsdp", and the loader script that allocates both,
 * adds the files' addresses to the pointers and fixes the checksums.
 */
typedef struct AcpiBuildBlobs {
    GByteArray *tables;
    GByteArray *rsdp;
    GByteArray *loader;
} AcpiBuildBlobs;

bool acpi_build_blobs(const AcpiBuildConfig *cfg, AcpiBuildBlobs *out,
                      GError **errp);
void acpi_build_blobs_free(AcpiBuildBlobs *b);

/* A file the loader script names, and where it was placed. */
typedef struct AcpiLoaderFile {
    const char *name;
    uint8_t *data;
    size_t len;
    uint64_t addr;
} AcpiLoaderFile;

/*
 * Runs a loader script as firmware does, on files already placed at their
 * addr: checks each ALLOCATE names a file and its alignment holds, patches
 * pointers, computes checksums. Fails on any command that names a missing
 * file or reaches outside one.
 */
bool acpi_loader_execute(const uint8_t *script, size_t len,
                         AcpiLoaderFile *files, unsigned nr_files,
                         GError **errp);

/*
 * The direct-boot form: the same tables placed at guest address base (the
 * RSDP first, 16-byte aligned, so the legacy BIOS-area scan finds it; the
 * rest from base + 64), with the loader script already applied.
 */
GByteArray *acpi_build_tables(const AcpiBuildConfig *cfg, hwaddr base,
                              hwaddr *rsdp_addr, GError **errp);

/* Sum of bytes mod 256: every ACPI table must sum to 0. */
uint8_t acpi_checksum(const uint8_t *data, size_t len);

#endif
