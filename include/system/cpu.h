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

typedef struct CPUState {
    Machine *machine;
    int index;
    uint32_t apic_id;
    pthread_t thread;
    bool created;
    void *accel;        /* the accelerator's per-vCPU state */
    /* written under the big lock, read by the vCPU thread */
    volatile bool stop;     /* pause requested */
    volatile bool stopped;  /* vCPU thread acknowledges it is parked */
    volatile bool exit;     /* thread must end */
} CPUState;

#endif
