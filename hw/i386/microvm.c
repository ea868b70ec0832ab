/*
 * The "microvm" machine: no PCI, no firmware, a few ISA devices and direct
 * kernel boot; the shortest path from process start to guest userspace.
 */
#include "hw/i386/x86.h"
#include "util/opts.h"

static bool microvm_init(Machine *m, GError **errp)
{
    if (!m->cfg.kernel) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "the microvm machine needs a kernel: use -kernel");
        return false;
    }
    if (!x86_init_ram(m, X86_MICROVM_BELOW_4G_MAX, errp) ||
        !x86_create_isa_devices(m, false, errp)) {
        return false;
    }
    if (m->cfg.acpi && !x86_acpi_build(m, errp)) {
        return false;
    }
    return x86_load_kernel(m, errp);
}

static MachineClass microvm_machine = {
    .name = "microvm",
    .desc = "microvm (no PCI, direct kernel boot)",
    .max_cpus = 288,
    .init = microvm_init,
};
MACHINE_REGISTER(microvm_machine)
