/*
 * vCPU threads: one per vCPU, running the accelerator's loop. Pausing sets
 * cpu->stop, kicks the thread out of the guest and waits until it parks.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "system/timer.h"
#include "system/vm.h"
#include "util/opts.h"

static pthread_cond_t parked_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t resume_cond = PTHREAD_COND_INITIALIZER;

void vcpu_wait_while_paused(CPUState *cpu)
{
    bql_lock();
    cpu->stopped = true;
    pthread_cond_broadcast(&parked_cond);
    while (__atomic_load_n(&cpu->stop, __ATOMIC_SEQ_CST) && !cpu->exit) {
        bql_cond_wait(&resume_cond);
    }
    cpu->stopped = false;
    bql_unlock();
}

void vcpu_park_until_exit(CPUState *cpu)
{
    bql_lock();
    cpu->stopped = true;
    pthread_cond_broadcast(&parked_cond);
    while (!cpu->exit) {
        bql_cond_wait(&resume_cond);
    }
    bql_unlock();
}

/* Records the thread's id (query-cpus-fast), then runs the accelerator. */
static void *vcpu_thread_start(void *opaque)
{
    CPUState *cpu = opaque;
    char name[16];  /* the kernel limit on thread names */

    /* named by itself (prctl): naming another thread needs /proc, which
     * -chroot may have taken away */
    snprintf(name, sizeof(name), "CPU %d/%s", cpu->index & 0xffff,
             cpu->machine->accel->name);
    pthread_setname_np(pthread_self(), name);
    __atomic_store_n(&cpu->thread_id, gettid(), __ATOMIC_SEQ_CST);
    return cpu->machine->accel->vcpu_thread(cpu);
}

bool vcpus_start(Machine *m, bool paused, GError **errp)
{
    for (int i = 0; i < m->ncpus; i++) {
        CPUState *cpu = m->cpus[i];
        __atomic_store_n(&cpu->stop, paused, __ATOMIC_SEQ_CST);
        int err = pthread_create(&cpu->thread, NULL, vcpu_thread_start, cpu);
        if (err) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "cannot start the thread of vCPU %d: %s", i,
                        g_strerror(err));
            return false;
        }
        cpu->created = true;
        /* its id is known before any monitor can ask for it */
        while (!__atomic_load_n(&cpu->thread_id, __ATOMIC_SEQ_CST)) {
            g_usleep(10);
        }
    }
    /*
     * Paused (-S, -incoming): parked before any monitor command runs, so
     * a savevm or migration right away finds vCPU state it may read
     */
    for (int i = 0; paused && i < m->ncpus; i++) {
        while (!m->cpus[i]->stopped) {
            bql_cond_wait(&parked_cond);
        }
    }
    return true;
}

void vcpus_pause(Machine *m)
{
    clock_virtual_stop();
    for (int i = 0; i < m->ncpus; i++) {
        __atomic_store_n(&m->cpus[i]->stop, true, __ATOMIC_SEQ_CST);
        if (m->cpus[i]->created) {
            m->accel->vcpu_kick(m->cpus[i]);
        }
    }
    for (int i = 0; i < m->ncpus; i++) {
        while (m->cpus[i]->created && !m->cpus[i]->stopped) {
            bql_cond_wait(&parked_cond);
        }
    }
}

void vcpus_resume(Machine *m)
{
    for (int i = 0; i < m->ncpus; i++) {
        __atomic_store_n(&m->cpus[i]->stop, false, __ATOMIC_SEQ_CST);
    }
    clock_virtual_start();
    pthread_cond_broadcast(&resume_cond);
}

void vcpus_stop(Machine *m)
{
    for (int i = 0; i < m->ncpus; i++) {
        __atomic_store_n(&m->cpus[i]->exit, true, __ATOMIC_SEQ_CST);
        if (m->cpus[i]->created) {
            m->accel->vcpu_kick(m->cpus[i]);
        }
    }
    pthread_cond_broadcast(&resume_cond);
    bql_unlock();
    for (int i = 0; i < m->ncpus; i++) {
        if (m->cpus[i]->created) {
            pthread_join(m->cpus[i]->thread, NULL);
            m->cpus[i]->created = false;
        }
    }
    bql_lock();
}

__thread CPUState *current_cpu;

void cpu_interrupt(CPUState *cpu, int mask)
{
    __atomic_or_fetch(&cpu->interrupt_request, mask, __ATOMIC_SEQ_CST);
    if (cpu->created) {
        cpu->machine->accel->vcpu_kick(cpu);
    }
}

void cpu_reset_interrupt(CPUState *cpu, int mask)
{
    __atomic_and_fetch(&cpu->interrupt_request, ~mask, __ATOMIC_SEQ_CST);
}

static Machine *current_machine;

Machine *machine_current(void)
{
    return current_machine;
}

void machine_set_current(Machine *m)
{
    current_machine = m;
}

bool vcpus_inspect_begin(Machine *m)
{
    bool running = runstate_is_running();

    if (running) {
        vcpus_pause(m);
    }
    return running;
}

void vcpus_inspect_end(Machine *m, bool was_running)
{
    if (was_running) {
        vcpus_resume(m);
    }
}
