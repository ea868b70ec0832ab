/*
 * The "pc" machine: the i440FX-era PC. Its legacy ISA side (UARTs, i8042,
 * ACPI PM, reset ports), the i440FX PCI host with the PIIX3 ISA bridge, and
 * direct kernel boot; firmware arrives with the PC issue.
 */
#include "hw/i386/x86.h"
#include "hw/pci/i440fx.h"
#include "util/opts.h"

static bool pc_init(Machine *m, GError **errp)
{
    if (!x86_init_ram(m, X86_PC_BELOW_4G_MAX, errp) ||
        !x86_create_isa_devices(m, true, errp) ||
        !i440fx_create(m, errp)) {
        return false;
    }
    if (!m->cfg.kernel && !m->no_guest) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "no -kernel given: firmware boot is not supported yet, "
                    "boot a kernel with -kernel");
        return false;
    }
    if (m->cfg.acpi && !x86_acpi_build(m, errp)) {
        return false;
    }
    return !m->cfg.kernel || x86_load_kernel(m, errp);
}

static MachineClass pc_machine = {
    .name = "pc",
    .desc = "Standard PC (i440FX + PIIX, 1996)",
    .is_default = true,
    .init = pc_init,
};
MACHINE_REGISTER(pc_machine)
