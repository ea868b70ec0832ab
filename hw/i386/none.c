/*
 * "none": QEMU's empty machine, RAM and nothing else, no vCPU; tools start
 * it to ask the VMM about itself over QMP without running a guest.
 */
#include "hw/i386/x86.h"
#include "util/opts.h"

static bool none_init(Machine *m, GError **errp)
{
    if (m->cfg.kernel) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-kernel: the 'none' machine has no CPU to boot it on");
        return false;
    }
    return x86_init_ram(m, X86_PC_BELOW_4G_MAX, errp);
}

static MachineClass none_machine = {
    .name = "none",
    .desc = "empty machine",
    .max_cpus = 1,
    .no_cpus = true,
    .init = none_init,
};
MACHINE_REGISTER(none_machine)
