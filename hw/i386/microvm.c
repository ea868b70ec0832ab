/*
 * The "microvm" machine: no PCI, no firmware, a few ISA devices, virtio-mmio
 * slots and direct kernel boot; the shortest path from process start to
 * guest userspace.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/rtc/mc146818rtc.h"
#include "hw/virtio/virtio-mmio.h"
#include "util/opts.h"

/*
 * virtio-mmio slots, as QEMU's microvm places them: 0x200 bytes each from
 * 0xfeb00000. The interrupts are ISA-range GSIs (edge, active high), which
 * Linux reaches with or without ACPI; unlike QEMU's 5..12 they skip the
 * lines of the RTC (8), the ACPI SCI (9) and the FPU (13).
 */
#define MICROVM_VIRTIO_MMIO_BASE    0xfeb00000ULL
static const unsigned microvm_virtio_gsi[] = { 5, 6, 7, 10, 11, 12, 14, 15 };
#define MICROVM_VIRTIO_SLOTS        G_N_ELEMENTS(microvm_virtio_gsi)

static hwaddr virtio_slot_addr(unsigned n)
{
    return MICROVM_VIRTIO_MMIO_BASE + n * VIRTIO_MMIO_SIZE;
}

static bool create_virtio_slots(Machine *m, GError **errp)
{
    for (unsigned n = 0; n < MICROVM_VIRTIO_SLOTS; n++) {
        g_autofree char *addr = g_strdup_printf("0x%" G_GINT64_MODIFIER "x",
                                                virtio_slot_addr(n));
        g_autofree char *irq = g_strdup_printf("%u", microvm_virtio_gsi[n]);
        if (!x86_create_device(m, TYPE_VIRTIO_MMIO, errp, "addr", addr,
                               "irq", irq, NULL)) {
            return false;
        }
    }
    return true;
}

/*
 * How many -device options plug into virtio-mmio: they take the slots in
 * order after this init, so the kernel hears of exactly those slots.
 */
static unsigned count_virtio_mmio_devices(Machine *m)
{
    unsigned count = 0;

    for (guint i = 0; m->cfg.devices && i < m->cfg.devices->len; i++) {
        Opts *o = opts_parse(g_ptr_array_index(m->cfg.devices, i), "driver",
                             NULL);
        const char *driver = o ? opts_get(o, "driver") : NULL;
        const DeviceClass *c = driver ? device_class_find(driver) : NULL;
        if (c && c->bus && !strcmp(c->bus, VIRTIO_MMIO_BUS)) {
            count++;
        }
        opts_free(o);
    }
    return MIN(count, MICROVM_VIRTIO_SLOTS);
}

/* -append plus "virtio_mmio.device=512@0xADDR:GSI" per used slot. */
static char *kernel_cmdline(Machine *m)
{
    GString *s = g_string_new(m->cfg.append ? m->cfg.append : "");
    /* with ACPI, the DSDT describes every slot instead (x86_acpi_build) */
    unsigned used = m->cfg.acpi ? 0 : count_virtio_mmio_devices(m);

    for (unsigned n = 0; n < used; n++) {
        g_autofree char *p = virtio_mmio_cmdline_param(virtio_slot_addr(n),
                                                       microvm_virtio_gsi[n]);
        g_string_append_printf(s, "%s%s", s->len ? " " : "", p);
    }
    return g_string_free(s, FALSE);
}

static bool microvm_init(Machine *m, GError **errp)
{
    if (!m->cfg.kernel && !m->no_guest) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "the microvm machine needs a kernel: use -kernel");
        return false;
    }
    /* as QEMU's microvm: under KVM the guest keeps time with kvmclock */
    bool rtc = m->cfg.microvm_rtc == ON_OFF_AUTO_ON ||
               (m->cfg.microvm_rtc == ON_OFF_AUTO_AUTO && strcmp(m->accel->name, "kvm"));
    if (!x86_init_ram(m, X86_MICROVM_BELOW_4G_MAX, errp) ||
        !x86_create_isa_devices(m, X86_ISA_ACPI_PM, errp) ||
        (rtc && (!x86_create_device(m, "mc146818rtc", errp, NULL) ||
                 !pc_cmos_init(m, errp))) ||
        !create_virtio_slots(m, errp)) {
        return false;
    }
    if (m->cfg.acpi && !x86_acpi_build(m, errp)) {
        return false;
    }
    if (!m->cfg.kernel) {
        return true;    /* qtest */
    }
    /* the loader copies the command line; -append itself stays the user's */
    const char *user_append = m->cfg.append;
    g_autofree char *cmdline = kernel_cmdline(m);
    m->cfg.append = cmdline;
    bool ok = x86_load_kernel(m, errp);
    m->cfg.append = user_append;
    return ok;
}

static MachineClass microvm_machine = {
    .name = "microvm",
    .desc = "microvm (no PCI, direct kernel boot)",
    .max_cpus = 288,
    .virtio_suffix = "-device",
    .init = microvm_init,
};
MACHINE_REGISTER(microvm_machine)
