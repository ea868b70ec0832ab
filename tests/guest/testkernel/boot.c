/*
 * Copies what the loader handed over (multiboot info or Linux boot_params)
 * into struct bootinfo, before anything can overwrite low memory.
 */
#include "testkernel.h"

struct bootinfo boot;

/* Multiboot v1 info structure offsets (multiboot spec §3.3) */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME 64

/* boot_params offsets (Documentation/arch/x86/zero-page.rst) */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_TYPE_OF_LOADER 0x210
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0

#define U32(base, off) (*(const uint32_t *)((base) + (off)))
#define U64(base, off) (*(const uint64_t *)((base) + (off)))

static void add_range(uint64_t base, uint64_t len, uint32_t type)
{
    if (boot.nmmap < MAX_MMAP && len)
        boot.mmap[boot.nmmap++] = (struct mem_range){ base, len, type };
}

static void parse_multiboot(uint64_t info, uint32_t magic)
{
    const uint8_t *mbi = (const uint8_t *)info;
    uint32_t flags;

    if (magic != 0x2BADB002)
        printk("FAIL boot: multiboot magic %x, expected 2badb002\n", magic);
    if (!info)
        return;
    flags = U32(mbi, MBI_FLAGS);
    if ((flags & (1 << 2)) && U32(mbi, MBI_CMDLINE))
        strncpy_z(boot.cmdline, (const char *)(uint64_t)U32(mbi, MBI_CMDLINE),
                  sizeof(boot.cmdline));
    if (flags & (1 << 3)) {
        const uint32_t *mod = (const uint32_t *)(uint64_t)U32(mbi, MBI_MODS_ADDR);
        uint32_t n = U32(mbi, MBI_MODS_COUNT);
        for (uint32_t i = 0; i < n && i < MAX_MODULES; i++, mod += 4) {
            struct boot_module *m = &boot.mods[boot.nmods++];
            m->start = mod[0];
            m->end = mod[1];
            if (mod[2])
                strncpy_z(m->cmdline, (const char *)(uint64_t)mod[2],
                          sizeof(m->cmdline));
        }
    }
    if (flags & (1 << 6)) {
        uint64_t p = U32(mbi, MBI_MMAP_ADDR);
        uint64_t end = p + U32(mbi, MBI_MMAP_LENGTH);
        while (p + 24 <= end) {
            const uint8_t *e = (const uint8_t *)p;
            add_range(U64(e, 4), U64(e, 12), U32(e, 20));
            p += U32(e, 0) + 4;
            if (U32(e, 0) < 20)
                break;
        }
    } else if (flags & (1 << 0)) {
        add_range(0, (uint64_t)U32(mbi, MBI_MEM_LOWER) << 10, E820_RAM);
        add_range(1 << 20, (uint64_t)U32(mbi, MBI_MEM_UPPER) << 10, E820_RAM);
    }
    if ((flags & (1 << 9)) && U32(mbi, MBI_LOADER_NAME)) {
        static char name[64];
        strncpy_z(name, (const char *)(uint64_t)U32(mbi, MBI_LOADER_NAME),
                  sizeof(name));
        boot.loader = name;
    }
}

static void parse_boot_params(uint64_t bp_addr)
{
    const uint8_t *bp = (const uint8_t *)bp_addr;
    uint64_t cmd, rd, rdsize;
    uint8_t n;

    if (!bp)
        return;
    cmd = U32(bp, BP_CMD_LINE_PTR) | (uint64_t)U32(bp, BP_EXT_CMD_LINE_PTR) << 32;
    if (cmd)
        strncpy_z(boot.cmdline, (const char *)cmd, sizeof(boot.cmdline));
    n = bp[BP_E820_ENTRIES];
    for (int i = 0; i < n && i < 128; i++) {
        const uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        add_range(U64(e, 0), U64(e, 8), U32(e, 16));
    }
    rd = U32(bp, BP_RAMDISK_IMAGE) | (uint64_t)U32(bp, BP_EXT_RAMDISK_IMAGE) << 32;
    rdsize = U32(bp, BP_RAMDISK_SIZE) | (uint64_t)U32(bp, BP_EXT_RAMDISK_SIZE) << 32;
    if (rd && rdsize) {
        boot.mods[0].start = rd;
        boot.mods[0].end = rd + rdsize;
        strncpy_z(boot.mods[0].cmdline, "initrd", sizeof(boot.mods[0].cmdline));
        boot.nmods = 1;
    }
    boot.rsdp = U64(bp, BP_ACPI_RSDP);
    if (!bp[BP_TYPE_OF_LOADER])
        printk("note: boot_params type_of_loader is 0\n");
}

void boot_info_init(enum boot_kind kind, uint64_t info, uint32_t magic)
{
    boot.kind = kind;
    if (kind == BOOT_MULTIBOOT)
        parse_multiboot(info, magic);
    else
        parse_boot_params(info);
}
