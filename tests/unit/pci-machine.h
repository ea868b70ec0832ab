/*
 * A pc-like machine for PCI unit tests: 1 MiB of RAM, the I/O space, the
 * i440FX host bridge with its bus, GSI levels recorded per line and MSIs
 * recorded as the accelerator would receive them, with helpers for port,
 * memory and configuration-mechanism-#1 accesses.
 */
#ifndef TESTS_UNIT_PCI_MACHINE_H
#define TESTS_UNIT_PCI_MACHINE_H

#include <string.h>

#include "hw/i386/x86.h"
#include "hw/pci/i440fx.h"
#include "hw/pci/pci.h"
#include "util/opts.h"

#define CONF_ADDR 0xcf8
#define CONF_DATA 0xcfc

typedef struct Fixture {
    Machine m;
    MemoryRegion sysmem, io, ram;
    int gsi_level[X86_NUM_GSI];
    GArray *msis;               /* of Msi */
} Fixture;

typedef struct Msi {
    uint64_t addr;
    uint32_t data;
} Msi;

static Fixture *current;

static inline void gsi_handler(void *opaque, int n, int level)
{
    current->gsi_level[n] = level;
}

static inline void fake_send_msi(Machine *m, uint64_t addr,
                                 uint32_t data)
{
    Msi msi = { addr, data };
    g_array_append_val(current->msis, msi);
}

static const AccelOps fake_accel = {
    .name = "fake",
    .ioeventfds = true,         /* as KVM: doorbells may be eventfds */
    .send_msi = fake_send_msi,
};

static inline void fixture_init(Fixture *f)
{
    GError *err = NULL;
    Machine *m = &f->m;

    memset(f, 0, sizeof(*f));
    current = f;
    f->msis = g_array_new(FALSE, TRUE, sizeof(Msi));
    memory_region_init_container(&f->sysmem, "system", UINT64_MAX);
    memory_region_init_container(&f->io, "io", 0x10000);
    g_assert_true(memory_region_init_ram(&f->ram, "ram", 0x100000, &err));
    memory_region_add_subregion(&f->sysmem, 0, &f->ram);
    m->sysmem = &f->sysmem;
    m->io = &f->io;
    m->accel = &fake_accel;
    address_space_init(&m->as_mem, &f->sysmem, "memory");
    address_space_init(&m->as_io, &f->io, "I/O");
    for (int i = 0; i < X86_NUM_GSI; i++) {
        m->gsi[i].handler = gsi_handler;
        m->gsi[i].n = i;
    }
    g_assert_true(i440fx_create(m, &err));
    g_assert_no_error(err);
}

static inline void fixture_fini(Fixture *f)
{
    Machine *m = &f->m;

    address_space_destroy(&m->as_mem);
    address_space_destroy(&m->as_io);
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    memory_region_destroy(&f->ram);
    memory_region_destroy(&f->sysmem);
    memory_region_destroy(&f->io);
    g_array_free(f->msis, TRUE);
    current = NULL;
}

static inline Device *add_device(Fixture *f, const char *opts)
{
    GError *err = NULL;
    Device *d = device_create_from_opts(&f->m, opts, &err);

    g_assert_no_error(err);
    g_assert_nonnull(d);
    return d;
}

static inline void reset_all(Fixture *f)
{
    for (Device *d = f->m.devices; d; d = d->next) {
        if (d->cls->reset) {
            d->cls->reset(d);
        }
    }
}

static inline uint64_t in(Fixture *f, uint16_t port, unsigned size)
{
    uint64_t v;
    address_space_ld(&f->m.as_io, port, size, &v);
    return v;
}

static inline void out(Fixture *f, uint16_t port, unsigned size,
                       uint64_t v)
{
    address_space_st(&f->m.as_io, port, size, v);
}

static inline uint64_t mem_ld(Fixture *f, uint64_t addr, unsigned size)
{
    uint64_t v;
    address_space_ld(&f->m.as_mem, addr, size, &v);
    return v;
}

static inline void mem_st(Fixture *f, uint64_t addr, unsigned size,
                          uint64_t v)
{
    address_space_st(&f->m.as_mem, addr, size, v);
}

static inline uint32_t cfg_read(Fixture *f, int devfn, int reg,
                                unsigned size)
{
    out(f, CONF_ADDR, 4, 0x80000000u | devfn << 8 | (reg & 0xfc));
    return in(f, CONF_DATA + (reg & 3), size);
}

static inline void cfg_write(Fixture *f, int devfn, int reg,
                             unsigned size, uint32_t v)
{
    out(f, CONF_ADDR, 4, 0x80000000u | devfn << 8 | (reg & 0xfc));
    out(f, CONF_DATA + (reg & 3), size, v);
}

#endif
