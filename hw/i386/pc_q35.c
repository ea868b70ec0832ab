/*
 * The "q35" machine: a PC of 2009 with the Q35 MCH and the ICH9 (PCI
 * Express root bus pcie.0 with ECAM, ICH9 LPC and ACPI PM), the legacy
 * ISA devices of pc, std VGA at 00:01.0 as QEMU's q35, the ICH9 AHCI at
 * 00:1f.2, and firmware (SeaBIOS, or OVMF as -bios or pflash) or direct
 * kernel boot with ACPI tables that describe it (MCFG, q35 DSDT).
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/nvram/fw_cfg.h"
#include "hw/pci-host/q35.h"
#include "util/opts.h"

/*
 * QEMU's q35 keeps low RAM below the ECAM window at 0xb0000000 if it all
 * fits there, else stops it at 2 GiB and puts the rest above 4 GiB.
 */
#define Q35_LOWMEM_SPLIT        0xb0000000ULL
#define Q35_LOWMEM_LARGE        0x80000000ULL

static bool vga_given(const MachineConfig *cfg)
{
    for (guint i = 0; cfg->devices && i < cfg->devices->len; i++) {
        const char *opt = g_ptr_array_index(cfg->devices, i);
        size_t n = strcspn(opt, ",");
        if ((n == 3 && !strncmp(opt, "VGA", 3)) ||
            (n == 10 && !strncmp(opt, "driver=VGA", 10))) {
            return true;
        }
    }
    return false;
}

/* std VGA at 00:01.0, where QEMU's q35 has it. */
static bool q35_vga_init(Machine *m, GError **errp)
{
    const char *vga = m->cfg.vga;

    if (vga ? !strcmp(vga, "none") : m->cfg.nodefaults) {
        return true;
    }
    if (!vga && vga_given(&m->cfg)) {
        return true;
    }
    return x86_create_device(m, "VGA", errp, "addr", "1", NULL) != NULL;
}

/*
 * The ICH9's SATA controller at 00:1f.2, QEMU's "ich9-ahci": built in
 * once an "ahci" device type exists (hw/ide/ahci.c), with its ports as
 * the IDE buses -drive if=ide fills. Without it, q35 has no built-in
 * disk controller and if=ide drives are refused as unserved.
 */
static bool q35_ahci_init(Machine *m, GError **errp)
{
    if (!device_class_find("ahci")) {
        return true;
    }
    return x86_create_device(m, "ahci", errp, "addr", "1f.2", NULL) != NULL;
}

static bool q35_init(Machine *m, GError **errp)
{
    uint64_t lowmem = m->cfg.ram_size >= Q35_LOWMEM_SPLIT ? Q35_LOWMEM_LARGE
                                                          : Q35_LOWMEM_SPLIT;

    if (!x86_init_ram(m, lowmem, errp)) {
        return false;
    }
    if (m->cfg.kernel && x86_firmware_given(m)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-kernel with -bios or pflash firmware: booting a kernel "
                    "through firmware is not supported yet; drop the "
                    "firmware to boot it directly");
        return false;
    }
    if (!m->cfg.kernel && !x86_firmware_init(m, "bios-256k.bin", errp)) {
        return false;
    }
    /* the ICH9 LPC makes the PM block (its PMBASE moves it) */
    if (!x86_create_isa_devices(m, X86_ISA_PC, errp) || !q35_create(m, errp) || !q35_vga_init(m, errp) ||
        !q35_ahci_init(m, errp) || !pc_fw_cfg_init(m, errp)) {
        return false;
    }
    /* the ECAM window firmware and direct boot use, as QEMU reserves it */
    machine_e820_add(m, Q35_PCIEXBAR_DEFAULT, Q35_PCIEXBAR_SIZE_MAX,
                     E820_RESERVED);
    return true;
}

/* Direct boot: the VMM places the ACPI tables (listing every device). */
static bool q35_devices_done(Machine *m, GError **errp)
{
    if (m->bios) {
        return true;
    }
    return (!m->cfg.acpi || x86_acpi_build(m, errp)) &&
           x86_load_kernel(m, errp);
}

static MachineClass q35_machine = {
    .name = "q35",
    .alias = "pc-q35",   /* QEMU's versioned name, for scripts that spell it so */
    .desc = "Standard PC (Q35 + ICH9, 2009)",
    .default_nic = true,
    .ide_units_per_bus = 1,     /* if=ide drives are AHCI ports */
    .init = q35_init,
    .devices_done = q35_devices_done,
};
MACHINE_REGISTER(q35_machine)
