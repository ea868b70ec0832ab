/*
 * The "pc" machine: the i440FX-era PC. Its legacy ISA side (UARTs, i8042,
 * reset ports), the i440FX PCI host with the PIIX3 ISA bridge and the
 * PIIX4 PM function (ACPI PM block at its PMBA), and SeaBIOS or OVMF, or
 * direct kernel boot.
 */
#include "hw/display/vga.h"
#include "hw/i386/x86.h"
#include "hw/nvram/fw_cfg.h"
#include "hw/pci/i440fx.h"
#include "util/opts.h"

/*
 * Firmware runs unless a kernel is booted directly (qtest runs no guest
 * code but gets the firmware's memory map all the same).
 */
static bool pc_init(Machine *m, GError **errp)
{
    if (!x86_init_ram(m, X86_PC_BELOW_4G_MAX, errp)) {
        return false;
    }
    bool firmware = x86_firmware_given(m);
    if ((!m->cfg.kernel || firmware) &&
        !x86_firmware_init(m, "bios-256k.bin", errp)) {
        return false;
    }
    if (m->cfg.kernel && firmware) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-kernel with -bios or pflash firmware: booting a kernel "
                    "through firmware is not supported yet; drop the "
                    "firmware to boot it directly");
        return false;
    }
    /* the ACPI PM block is the PIIX4 PM function's (i440fx_create) */
    if (!x86_create_isa_devices(m, X86_ISA_PC, errp) ||
        !i440fx_create(m, errp) || !pc_vga_init(m, errp) ||
        !pc_fw_cfg_init(m, errp)) {
        return false;
    }
    return true;
}

/* Direct boot: the VMM places the ACPI tables (listing every device). */
static bool pc_devices_done(Machine *m, GError **errp)
{
    if (m->bios) {
        return true;
    }
    return (!m->cfg.acpi || x86_acpi_build(m, errp)) &&
           x86_load_kernel(m, errp);
}

static MachineClass pc_machine = {
    .name = "pc",
    .desc = "Standard PC (i440FX + PIIX, 1996)",
    .is_default = true,
    .default_nic = true,
    .init = pc_init,
    .devices_done = pc_devices_done,
};
MACHINE_REGISTER(pc_machine)
