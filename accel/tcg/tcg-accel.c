/*
 * The software CPU accelerator ("tcg", QEMU's name for it): one host thread
 * per vCPU interprets x86-64 (target/x86), with Vireo's own LAPIC, IOAPIC,
 * 8259 and 8254 (hw/intc, hw/timer). The threads run in parallel; guest
 * RAM is shared host memory, locked instructions use host atomics, and
 * device accesses take the big lock like KVM exits do.
 */
#include <inttypes.h>
#include <pthread.h>

#include "hw/intc/x86-irqchip.h"
#include "system/timer.h"
#include "system/vm.h"
#include "target/x86/cpu.h"
#include "target/x86/machine.h"
#include "util/log.h"
#include "util/opts.h"

typedef struct TCGVCPU {
    X86CPU *cpu;
    /* A halted vCPU sleeps here until it has work, a kick or a stop. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
} TCGVCPU;

static bool tcg_init(Machine *m, GError **errp)
{
    m->accel_state = m;     /* no machine-wide state beyond the map */
    m->userspace_irqchip = true;
    memory_ram_write_notify = x86_code_invalidate;
    return true;
}

static int tcg_max_cpus(Machine *m)
{
    return 255;     /* xAPIC IDs; 0xff is the broadcast ID */
}

static bool tcg_vcpu_create(CPUState *cs, GError **errp)
{
    TCGVCPU *v = g_new0(TCGVCPU, 1);

    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->wake, NULL);
    v->cpu = x86_cpu_new(cs);
    cs->accel = v;
    return true;
}

static bool tcg_vcpu_reset(CPUState *cs, GError **errp)
{
    TCGVCPU *v = cs->accel;
    Machine *m = cs->machine;
    bool bsp = cs->index == 0;

    cs->interrupt_request = 0;
    cs->tsc_offset = 0;
    /* the LAPICs were reset with the devices (x86-irqchip) just before */
    x86_cpu_reset(v->cpu, &m->boot, bsp);
    return true;
}

static void tcg_vcpu_kick(CPUState *cs)
{
    TCGVCPU *v = cs->accel;

    __atomic_store_n(&v->cpu->exit_request, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&v->lock);
    pthread_cond_broadcast(&v->wake);
    pthread_mutex_unlock(&v->lock);
}

/* Sleeps until an interrupt, NMI, INIT or SIPI can wake the vCPU. */
static void tcg_vcpu_halt(CPUState *cs, TCGVCPU *v)
{
    pthread_mutex_lock(&v->lock);
    while (!x86_cpu_has_work(v->cpu) && !__atomic_load_n(&cs->exit, __ATOMIC_SEQ_CST) &&
           !__atomic_load_n(&cs->stop, __ATOMIC_SEQ_CST) &&
           !__atomic_load_n(&v->cpu->exit_request, __ATOMIC_SEQ_CST)) {
        pthread_cond_wait(&v->wake, &v->lock);
    }
    pthread_mutex_unlock(&v->lock);
}

static void *tcg_vcpu_thread(void *opaque)
{
    CPUState *cs = opaque;
    TCGVCPU *v = cs->accel;
    int64_t start = clock_get_ns(CLK_REALTIME);

    current_cpu = cs;
    while (!__atomic_load_n(&cs->exit, __ATOMIC_SEQ_CST)) {
        if (__atomic_load_n(&cs->stop, __ATOMIC_SEQ_CST)) {
            vcpu_wait_while_paused(cs);
            continue;
        }
        switch (x86_cpu_exec(v->cpu)) {
        case X86_EXIT_REQUEST:
            break;
        case X86_EXIT_HALT:
            tcg_vcpu_halt(cs, v);
            __atomic_store_n(&v->cpu->exit_request, 0, __ATOMIC_SEQ_CST);
            break;
        case X86_EXIT_TRIPLE_FAULT:
            log_error("vCPU %d: triple fault at rip=0x%" PRIx64 ", %s",
                      cs->index, v->cpu->rip,
                      runstate_no_reboot ? "exiting (-no-reboot)"
                                         : "resetting");
            vm_request_reset(SHUTDOWN_GUEST_TRIPLE_FAULT);
            __atomic_store_n(&cs->stop, true, __ATOMIC_SEQ_CST);
            break;
        case X86_EXIT_DEBUG:
            /* the others stop when the main loop stops the VM */
            __atomic_store_n(&cs->stop, true, __ATOMIC_SEQ_CST);
            vm_request_debug(&v->cpu->debug->hit);
            break;
        }
        /* after a guest-requested shutdown or reset, run no further */
        if (vm_request_pending()) {
            __atomic_store_n(&cs->stop, true, __ATOMIC_SEQ_CST);
        }
    }
    double secs = (clock_get_ns(CLK_REALTIME) - start) / 1e9;
    log_mask_printf(LOG_EXEC_STATS,
                    "vCPU %d: %" PRIu64 " instructions in %.3f s "
                    "(%.1f M/s of wall time)", cs->index, v->cpu->icount,
                    secs, v->cpu->icount / secs / 1e6);
    return NULL;
}

bool tcg_vcpu_get_state(CPUState *cs, X86CPUSnapshot *out, GError **errp)
{
    TCGVCPU *v = cs->accel;

    if (!v) {
        g_set_error(errp, VIREO_ERROR, 0, "vCPU %d does not exist yet",
                    cs->index);
        return false;
    }
    x86_cpu_save_snapshot(v->cpu, out);
    return true;
}

static bool tcg_vcpu_state_save(CPUState *cs, GByteArray *out, GError **errp)
{
    TCGVCPU *v = cs->accel;

    return x86_cpu_state_save(v->cpu, out, errp);
}

static bool tcg_vcpu_state_load(CPUState *cs, const uint8_t *data,
                                size_t len, bool apply, GError **errp)
{
    TCGVCPU *v = cs->accel;

    return x86_cpu_state_load(v->cpu, data, len, apply, errp);
}

static void tcg_set_irq(Machine *m, int gsi, int level)
{
    x86_irqchip_set_irq(m, gsi, level);
}

static void tcg_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    x86_irqchip_send_msi(m, addr, data);
}

static void tcg_memory_listen(Machine *m, AddressSpace *as)
{
    x86_phys_map_listen(m);
}

static void tcg_destroy(Machine *m)
{
    for (int i = 0; i < m->ncpus; i++) {
        TCGVCPU *v = m->cpus[i]->accel;
        if (v) {
            x86_cpu_free(v->cpu);
            pthread_mutex_destroy(&v->lock);
            pthread_cond_destroy(&v->wake);
            g_free(v);
            m->cpus[i]->accel = NULL;
        }
    }
    memory_ram_write_notify = NULL;
    m->accel_state = NULL;
}

static bool tcg_debug_update(Machine *m, const GuestDebug *dbg,
                             GError **errp)
{
    /* any number of points of any kind: they are compared, not armed */
    for (int i = 0; i < m->ncpus; i++) {
        TCGVCPU *v = m->cpus[i]->accel;
        if (v) {
            x86_cpu_set_debug(v->cpu, dbg);
        }
    }
    return true;
}

static bool tcg_vcpu_set_regs(CPUState *cs, const X86CoreRegs *regs,
                              GError **errp)
{
    TCGVCPU *v = cs->accel;

    if (!v) {
        g_set_error(errp, VIREO_ERROR, 0, "vCPU %d does not exist yet",
                    cs->index);
        return false;
    }
    x86_cpu_set_core_regs(v->cpu, regs);
    return true;
}

const AccelOps tcg_accel_ops = {
    .name = "tcg",
    .init = tcg_init,
    .max_cpus = tcg_max_cpus,
    .vcpu_create = tcg_vcpu_create,
    .vcpu_reset = tcg_vcpu_reset,
    .vcpu_thread = tcg_vcpu_thread,
    .vcpu_kick = tcg_vcpu_kick,
    .vcpu_get_state = tcg_vcpu_get_state,
    .debug_update = tcg_debug_update,
    .vcpu_set_regs = tcg_vcpu_set_regs,
    /* no VM-wide state: the interrupt controllers are devices */
    .vcpu_state_save = tcg_vcpu_state_save,
    .vcpu_state_load = tcg_vcpu_state_load,
    .set_irq = tcg_set_irq,
    .send_msi = tcg_send_msi,
    .memory_listen = tcg_memory_listen,
    .destroy = tcg_destroy,
};
