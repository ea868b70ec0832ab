/* What every PC-family machine shares: RAM layout, GSIs, ISA devices. */
#include <cpuid.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/intc/x86-irqchip.h"
#include "util/opts.h"

static const MachineClass *machine_classes;

void machine_class_register(MachineClass *cls)
{
    cls->next = machine_classes;
    machine_classes = cls;
}

const MachineClass *machine_class_find(const char *name)
{
    for (const MachineClass *c = machine_classes; c; c = c->next) {
        if (!strcmp(c->name, name) || (c->alias && !strcmp(c->alias, name))) {
            return c;
        }
    }
    return NULL;
}

const MachineClass *machine_class_first(void)
{
    return machine_classes;
}

void machine_class_print_help(void)
{
    printf("Supported machines are:\n");
    for (const MachineClass *c = machine_classes; c; c = c->next) {
        if (c->alias) {
            printf("%-20s %s (alias of %s)\n", c->alias, c->desc, c->name);
        }
        printf("%-20s %s%s\n", c->name, c->desc,
               c->is_default ? " (default)" : "");
    }
}

static void gsi_handler(void *opaque, int n, int level)
{
    Machine *m = opaque;
    m->accel->set_irq(m, n, level);
}

/* The host's physical address width: guest RAM must fit below it. */
static unsigned host_phys_bits(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000008 &&
        __get_cpuid(0x80000008, &a, &b, &c, &d)) {
        return a & 0xff;
    }
    return 36;
}

bool x86_init_ram(Machine *m, uint64_t below_4g_max, GError **errp)
{
    uint64_t size = m->cfg.ram_size;
    const uint64_t four_g = 1ULL << 32;

    for (int i = 0; i < X86_NUM_GSI; i++) {
        m->gsi[i] = (IRQLine){ .handler = gsi_handler, .opaque = m, .n = i };
    }
    m->below_4g_mem_size = MIN(size, below_4g_max);
    m->above_4g_mem_size = size - m->below_4g_mem_size;
    unsigned bits = host_phys_bits();
    if (m->above_4g_mem_size &&
        (bits >= 64 || four_g + m->above_4g_mem_size > (1ULL << bits))) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-m %" G_GUINT64_FORMAT "M: guest RAM would end beyond "
                    "the host's %u-bit physical address space",
                    size >> 20, bits);
        return false;
    }
    if (!memory_region_init_ram(&m->ram, "pc.ram", size, errp)) {
        return false;
    }
    memory_region_init_alias(&m->ram_below_4g, "ram-below-4g", &m->ram, 0,
                             m->below_4g_mem_size);
    memory_region_add_subregion(m->sysmem, 0, &m->ram_below_4g);
    if (m->above_4g_mem_size) {
        memory_region_init_alias(&m->ram_above_4g, "ram-above-4g", &m->ram,
                                 m->below_4g_mem_size, m->above_4g_mem_size);
        memory_region_add_subregion(m->sysmem, four_g, &m->ram_above_4g);
    }
    /* conventional memory, the EBDA/video/BIOS hole, then the rest */
    machine_e820_add(m, 0, MIN(0x9fc00, m->below_4g_mem_size), E820_RAM);
    if (m->below_4g_mem_size > 0x100000) {
        machine_e820_add(m, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
        machine_e820_add(m, 0x100000, m->below_4g_mem_size - 0x100000,
                         E820_RAM);
    }
    if (m->above_4g_mem_size) {
        machine_e820_add(m, four_g, m->above_4g_mem_size, E820_RAM);
    }
    return true;
}

Device *x86_create_device(Machine *m, const char *type, GError **errp, ...)
{
    Device *dev = device_new(type, errp);
    va_list ap;
    const char *key;

    if (!dev) {
        return NULL;
    }
    va_start(ap, errp);
    while ((key = va_arg(ap, const char *))) {
        const char *val = va_arg(ap, const char *);
        if (!device_set_prop(dev, key, val, errp)) {
            va_end(ap);
            device_free(dev);
            return NULL;
        }
    }
    va_end(ap);
    if (!device_realize(dev, m, errp)) {
        device_free(dev);
        return NULL;
    }
    return dev;
}

bool x86_create_isa_devices(Machine *m, unsigned flags, GError **errp)
{
    bool pc = flags & X86_ISA_PC;

    static const char *const com_base[] = { "0x3f8", "0x2f8", "0x3e8",
                                            "0x2e8" };
    static const char *const com_irq[] = { "4", "3", "4", "3" };

    /* without KVM's in-kernel irqchip and PIT, Vireo's own */
    if (m->userspace_irqchip &&
        (!x86_irqchip_create(m, errp) ||
         !x86_create_device(m, "isa-pit", errp, NULL))) {
        return false;
    }

    for (int i = 0; i < 4; i++) {
        char index[4];
        if (!m->cfg.serial[i]) {
            continue;
        }
        snprintf(index, sizeof(index), "%d", i);
        if (!x86_create_device(m, "isa-serial", errp, "iobase", com_base[i],
                               "irq", com_irq[i], "chardev", m->cfg.serial[i],
                               "index", index, NULL)) {
            return false;
        }
    }
    if (m->cfg.debugcon &&
        !x86_create_device(m, "isa-debugcon", errp, "chardev",
                           m->cfg.debugcon, NULL)) {
        return false;
    }
    if (!x86_create_device(m, "port92", errp, NULL)) {
        return false;
    }
    if ((flags & X86_ISA_ACPI_PM) && m->cfg.acpi &&
        !x86_create_device(m, "acpi-pm", errp, NULL)) {
        return false;
    }
    if (pc && !x86_create_device(m, "i8042", errp, NULL)) {
        return false;
    }
    /* the PC's RTC with its CMOS contents, and HPET (microvm has neither) */
    if (pc &&
        (!x86_create_device(m, "mc146818rtc", errp, NULL) ||
         !pc_cmos_init(m, errp) ||
         (!m->cfg.no_hpet && !x86_create_device(m, "hpet", errp, NULL)))) {
        return false;
    }
    return true;
}
