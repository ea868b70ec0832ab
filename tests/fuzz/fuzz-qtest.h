/*
 * The device fuzz targets (fuzz-qtest.c): one interpreter of qtest
 * operations, and per target a profile that says which machine to build
 * and which ports, MMIO ranges and PCI devices the operations reach, so
 * that each target spends its effort on one device.
 */
#ifndef TESTS_FUZZ_FUZZ_QTEST_H
#define TESTS_FUZZ_FUZZ_QTEST_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define FUZZ_RAM_WINDOW      UINT64_C(0x100000) /* rings, buffers, tables */
#define FUZZ_RAM_WINDOW_SIZE UINT64_C(0x100000)

typedef struct Region {
    uint64_t base, size;
} Region;

/* A scratch image: opts is a -drive string with %s for its file. */
typedef struct FuzzDrive {
    const char *opts;
    unsigned size_kib;
    uint8_t fill;               /* the file's bytes at start */
} FuzzDrive;

typedef struct FuzzProfile {
    const char *target;         /* the executable, "fuzz-virtio-blk" */
    const char *machine;        /* "pc", "q35" */
    const char *vga;            /* "std", or NULL: no VGA */
    bool serial;                /* COM1 and debugcon on null chardevs */
    unsigned ram_mib;           /* 0: 64 MiB */
    const FuzzDrive *drives;    /* ended by a NULL opts */
    const char *const *devices; /* -device strings, NULL-terminated */
    /* What in and out reach, then read and write; PCI BARs follow. */
    const Region *ports;
    unsigned nports;
    const Region *mmio;
    unsigned nmmio;
    uint32_t pci_slots;         /* bit n: the BARs of 00:n.* are reachable */
} FuzzProfile;

typedef struct Machine Machine;

/* The profile named target (fuzz-qtest-profiles.c), or NULL. */
const FuzzProfile *fuzz_profile_find(const char *target);

/*
 * The shared machine set-up (fuzz-machine.c): the machine of profile p,
 * current, with the big lock taken for good. Aborts on an error (a
 * broken target, not a finding).
 */
Machine *fuzz_machine_create(const FuzzProfile *p);
/* Lets completions (block I/O, ioeventfds, bottom halves, chardevs) run. */
void fuzz_main_loop_run(void);
G_NORETURN void fuzz_fail(const char *target, GError *err);

#endif
