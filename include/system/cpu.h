/* A virtual CPU as the accelerator-independent code sees it. */
#ifndef SYSTEM_CPU_H
#define SYSTEM_CPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Machine Machine;

/*
 * Where the bootstrap processor starts when no firmware runs. The loader
 * fills it; the accelerator turns it into register state on every reset.
 */
typedef enum BootMode {
    BOOT_MODE_REAL,     /* reset vector, firmware */
    BOOT_MODE_PROT32,   /* multiboot: flat 32-bit segments, paging off */
    BOOT_MODE_LONG64,   /* Linux 64-bit entry: flat 64-bit, cr3 set */
} BootMode;

typedef struct BootState {
    BootMode mode;
    uint64_t rip;
    uint64_t rsp;
    uint64_t rax, rbx, rsi;
    uint64_t cr3;       /* BOOT_MODE_LONG64: identity page tables */
    uint64_t gdt_base;  /* a GDT in guest RAM with the flat segments */
    uint16_t gdt_limit;
} BootState;

/* Bits of CPUState.interrupt_request: what waits for the vCPU's attention. */
#define CPU_INTERRUPT_HARD  0x01    /* the LAPIC or PIC has a vector to give */
#define CPU_INTERRUPT_NMI   0x02
#define CPU_INTERRUPT_INIT  0x04
#define CPU_INTERRUPT_SIPI  0x08    /* CPUState.sipi_vector holds the page */
#define CPU_INTERRUPT_TLB_FLUSH 0x10 /* the physical map changed */

typedef struct APICState APICState;

typedef struct CPUState {
    Machine *machine;
    int index;
    uint32_t apic_id;
    pthread_t thread;
    int thread_id;      /* the host's id of that thread (gettid) */
    bool created;
    void *accel;        /* the accelerator's per-vCPU state */
    /* written under the big lock, read by the vCPU thread */
    volatile bool stop;     /* pause requested */
    volatile bool stopped;  /* vCPU thread acknowledges it is parked */
    volatile bool exit;     /* thread must end */
    /*
     * Userspace interrupt controllers (software CPU, kernel-irqchip=off):
     * the LAPIC sets bits under the big lock with cpu_interrupt(); the vCPU
     * thread reads them atomically between instructions.
     */
    APICState *apic;
    int interrupt_request;
    uint8_t sipi_vector;
    /* TSC = virtual clock in ns + tsc_offset: the guest TSC runs at 1 GHz. */
    int64_t tsc_offset;
} CPUState;

/* The vCPU this thread runs, or NULL on other threads (LAPIC MMIO uses it). */
extern __thread CPUState *current_cpu;

/* Sets bits of interrupt_request and kicks the vCPU; any thread. */
void cpu_interrupt(CPUState *cpu, int mask);
void cpu_reset_interrupt(CPUState *cpu, int mask);

#endif
