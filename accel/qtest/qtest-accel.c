/*
 * The qtest accelerator (QEMU's "-accel qtest"): the machine is built as
 * for a guest, with Vireo's own interrupt controllers and PIT, but no guest
 * code runs. A test drives it through the qtest protocol server (qtest.c),
 * and the virtual clock moves only when the test steps it.
 */
#include "hw/intc/x86-irqchip.h"
#include "system/timer.h"
#include "system/vm.h"

static bool qtest_accel_init(Machine *m, GError **errp)
{
    m->accel_state = m;     /* nothing beyond the machine itself */
    m->userspace_irqchip = true;
    m->no_guest = true;
    /* before any device arms a timer, so the clock starts at 0 */
    clock_virtual_set_manual(true);
    return true;
}

static int qtest_accel_max_cpus(Machine *m)
{
    return 255;     /* xAPIC IDs, as the software CPU */
}

static bool qtest_vcpu_create(CPUState *cpu, GError **errp)
{
    return true;
}

static bool qtest_vcpu_reset(CPUState *cpu, GError **errp)
{
    return true;
}

static void *qtest_vcpu_thread(void *opaque)
{
    vcpu_park_until_exit(opaque);
    return NULL;
}

static void qtest_vcpu_kick(CPUState *cpu)
{
    /* parked for good: vcpus_stop wakes it */
}

static void qtest_set_irq(Machine *m, int gsi, int level)
{
    x86_irqchip_set_irq(m, gsi, level);
}

static void qtest_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    x86_irqchip_send_msi(m, addr, data);
}

static void qtest_memory_listen(Machine *m, AddressSpace *as)
{
    /* no vCPU reads the map */
}

static void qtest_accel_destroy(Machine *m)
{
    clock_virtual_set_manual(false);
    m->accel_state = NULL;
}

const AccelOps qtest_accel_ops = {
    .name = "qtest",
    .init = qtest_accel_init,
    .max_cpus = qtest_accel_max_cpus,
    .vcpu_create = qtest_vcpu_create,
    .vcpu_reset = qtest_vcpu_reset,
    .vcpu_thread = qtest_vcpu_thread,
    .vcpu_kick = qtest_vcpu_kick,
    .set_irq = qtest_set_irq,
    .send_msi = qtest_send_msi,
    .memory_listen = qtest_memory_listen,
    .destroy = qtest_accel_destroy,
};
