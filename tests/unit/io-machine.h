/*
 * A bare Machine for device unit tests: an I/O port space and GSI lines that
 * end in the test's handler; no RAM, accelerator or CPUs.
 */
#ifndef TESTS_UNIT_IO_MACHINE_H
#define TESTS_UNIT_IO_MACHINE_H

#include <string.h>

#include "hw/i386/x86.h"

static inline void io_machine_init(Machine *m, MemoryRegion *io,
                                   IRQHandler gsi_handler)
{
    memset(m, 0, sizeof(*m));
    memory_region_init_container(io, "io", 0x10000);
    m->io = io;
    address_space_init(&m->as_io, io, "io");
    for (int i = 0; i < X86_NUM_GSI; i++) {
        m->gsi[i].handler = gsi_handler;
        m->gsi[i].n = i;
    }
}

/* As machine_destroy: the address space goes first, then the devices. */
static inline void io_machine_fini(Machine *m, MemoryRegion *io)
{
    address_space_destroy(&m->as_io);
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    memory_region_destroy(io);
}

#endif
