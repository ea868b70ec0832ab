/*
 * Direct kernel boot and ACPI tables, private to hw/i386: pure builders that
 * turn image bytes and a memory description into blobs plus a BootState, so
 * the unit tests can run them without a Machine. x86_boot.c is the glue that
 * reads files and hands the blobs to the machine.
 */
#ifndef HW_I386_X86_BOOT_INTERNAL_H
#define HW_I386_X86_BOOT_INTERNAL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/i386/acpi.h"
#include "hw/i386/x86.h"

/*
 * Low memory used by the loaders. Everything between BOOT_LOW_DATA_START and
 * BOOT_LOW_DATA_END is ours; a multiboot image may not load there.
 */
#define BOOT_LOW_DATA_START 0x500
#define BOOT_GDT_ADDR 0x500           /* 4 descriptors */
#define LINUX_BOOT_PARAMS_ADDR 0x7000 /* the "zero page", 4 KiB */
#define BOOT_STACK_TOP 0x9000         /* grows down into 0x8xxx */
#define BOOT_PML4_ADDR 0x9000
#define BOOT_PDPT_ADDR 0xa000
#define BOOT_PD_ADDR 0xb000        /* 4 PDs: 0xb000..0xefff */
#define MULTIBOOT_INFO_ADDR 0x9000 /* info, mmap, modules, strings */
#define MULTIBOOT_INFO_END 0x20000
#define LINUX_CMDLINE_ADDR 0x20000
#define LINUX_CMDLINE_MAX 0x10000 /* up to BOOT_LOW_DATA_END */
#define BOOT_LOW_DATA_END 0x30000
#define LINUX_KERNEL_ADDR 0x100000 /* protected-mode kernel */

/* Where the ACPI tables go for direct boot: the BIOS area the spec scans. */
#define ACPI_TABLES_ADDR 0xe0000
#define ACPI_TABLES_END 0x100000

/* Selectors the GDT provides; Linux's boot protocol fixes 0x10 and 0x18. */
#define BOOT_CS_SELECTOR 0x10
#define BOOT_DS_SELECTOR 0x18

/* One piece of guest memory a loader wants written at every reset. */
typedef struct BootBlob {
    char *name;
    hwaddr addr;
    uint8_t *data;
    size_t len;
    /* When set, data is not guest bytes but the source loader writes
     * guest memory from, at start-up and every reset (machine_add_rom_loader) */
    RomLoader loader;
    uint64_t arg;
} BootBlob;

/* What a loader produces: blobs to write and the boot CPU's entry state. */
typedef struct BootImage {
    GPtrArray *blobs; /* of BootBlob *, owned */
    BootState boot;
} BootImage;

void boot_image_init(BootImage *img);
void boot_image_destroy(BootImage *img);
/* Takes ownership of data (g_malloc'd). */
void boot_image_add(BootImage *img, const char *name, hwaddr addr,
                    uint8_t *data, size_t len);
/* Takes ownership of src (g_malloc'd). */
void boot_image_add_loader(BootImage *img, const char *name, uint8_t *src,
                           size_t src_len, RomLoader loader, uint64_t arg);
/* The blob that covers addr, or NULL (tests use it to read back). */
const BootBlob *boot_image_find(const BootImage *img, hwaddr addr);

/* The guest memory map a loader plans against. */
typedef struct BootMemory {
    uint64_t below_4g_mem_size;
    uint64_t above_4g_mem_size;
    const E820Entry *e820;
    size_t e820_nr;
    uint64_t acpi_rsdp_addr; /* 0: no ACPI tables */
} BootMemory;

/* GDT with flat code at BOOT_CS_SELECTOR (64-bit or 32-bit) and data. */
void boot_add_gdt(BootImage *img, bool long_mode);

/* --- e820.c --- */

/*
 * Adds [addr, addr+size) with type to a GArray of E820Entry. The new range
 * overrides whatever it overlaps; the table stays sorted with adjacent
 * ranges of the same type merged.
 */
void e820_table_add(GArray *table, uint64_t addr, uint64_t size, uint32_t type);
/* Whether [addr, addr+size) lies wholly in E820_RAM entries. */
bool e820_range_is_ram(const E820Entry *e820, size_t nr, uint64_t addr,
                       uint64_t size);

/* --- linux_boot.c: Linux x86 boot protocol (Documentation/arch/x86/boot.rst)
 */

typedef struct LinuxBootInput {
    const uint8_t *kernel;
    size_t kernel_len;
    const uint8_t *initrd; /* NULL: none */
    size_t initrd_len;
    const char *cmdline; /* NULL: empty */
    BootMemory mem;
    /* Decompress on the host and enter the kernel proper (linux_unpack). */
    bool unpack;
} LinuxBootInput;

/* Whether the image carries a Linux setup header ("HdrS" at 0x202). */
bool linux_boot_probe(const uint8_t *kernel, size_t len);
bool linux_boot_build(const LinuxBootInput *in, BootImage *img, GError **errp);

/* --- linux_unpack.c: the bzImage decompressor's work, on the host --- */

typedef struct LinuxUnpacked {
    uint64_t paddr;         /* where the kernel starts */
    uint64_t len;           /* up to the end of its last segment's memsz */
    uint64_t entry;         /* physical address of the kernel's startup_64 */
    bool relocatable;       /* carries a relocation table (KASLR) */
    uint64_t delta;         /* virtual offset applied */
} LinuxUnpacked;

/* Where linux_unpack puts the kernel: guest memory, or a buffer in tests. */
typedef struct LinuxUnpackSink {
    void (*write)(void *opaque, uint64_t paddr, const void *buf, size_t len);
    void (*read)(void *opaque, uint64_t paddr, void *buf, size_t len);
    void *opaque;
} LinuxUnpackSink;

/* Whether the bzImage's payload is in a format linux_unpack reads. */
bool linux_unpack_supported(const uint8_t *kernel, size_t len);
/* Where the kernel goes and its entry, from the headers at the start of
 * the payload; its physical range must lie between 1 MiB and ram_end. */
bool linux_unpack_probe(const uint8_t *kernel, size_t len, uint64_t ram_end,
                        LinuxUnpacked *out, GError **errp);
/*
 * Decompresses the bzImage's payload into sink, laid out at its physical
 * addresses (gaps and bss zeroed); with randomize and a relocation table,
 * relocated to a random virtual offset.
 */
bool linux_unpack(const uint8_t *kernel, size_t len, bool randomize,
                  uint64_t ram_end, const LinuxUnpackSink *sink,
                  LinuxUnpacked *out, GError **errp);

/* --- multiboot.c: Multiboot Specification 0.6.96 --- */

typedef struct MultibootModule {
    const char *cmdline; /* the whole entry: "path args..." */
    const uint8_t *data;
    size_t len;
} MultibootModule;

typedef struct MultibootInput {
    const uint8_t *kernel;
    size_t kernel_len;
    const char *kernel_path; /* first word of the command line */
    const char *cmdline;     /* -append, NULL: none */
    const MultibootModule *modules;
    size_t nr_modules;
    BootMemory mem;
} MultibootInput;

/* Offset of a valid multiboot header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *kernel, size_t len);
/*
 * Splits -initrd for multiboot into module entries: ',' separates them,
 * ",," is a literal comma. Returns a NULL-terminated g_strfreev vector.
 */
char **multiboot_split_modules(const char *list);
bool multiboot_build(const MultibootInput *in, BootImage *img, GError **errp);

/* acpi_build.c: the ACPI table builder is declared in hw/i386/acpi.h. */

#endif
