/*
 * Multiboot v1 loader (Multiboot Specification 0.6.96): ELF32/ELF64 images by
 * their program headers or a.out-kludge images by the header's addresses,
 * modules, and the multiboot information structure, entered in flat 32-bit
 * protected mode with EAX = 0x2BADB002 and EBX = the information address.
 */
#include <inttypes.h>
#include <string.h>

#include "util/opts.h"
#include "x86_boot_internal.h"
#include "util/le.h"

/* Section 3.1: the OS image's header */
#define MB_HEADER_MAGIC 0x1BADB002
#define MB_SEARCH_LEN 8192
#define MB_FLAG_PAGE_ALIGN (1u << 0)
#define MB_FLAG_MEMORY_INFO (1u << 1)
#define MB_FLAG_VIDEO_MODE (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
/* Bits 0-15 are requirements: a loader must refuse ones it doesn't know. */
#define MB_FLAGS_REQUIRED_MASK 0xffffu
#define MB_FLAGS_KNOWN                                                         \
    (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE)

/* Section 3.2: machine state */
#define MB_BOOTLOADER_MAGIC 0x2BADB002

/* Section 3.3: boot information format */
#define MBI_FLAG_MEM (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS (1u << 3)
#define MBI_FLAG_MMAP (1u << 6)
#define MBI_FLAG_LOADER_NAME (1u << 9)
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_BOOT_LOADER_NAME 64
#define MBI_SIZE 120 /* through the framebuffer fields */
#define MB_MOD_SIZE 16
#define MB_MMAP_ENTRY_SIZE 24 /* the size field + 20 */

#define PAGE_SIZE 0x1000ULL
#define ELF_PT_LOAD 1
#define ELF_EM_386 3
#define ELF_EM_X86_64 62

typedef struct Segment {
    uint64_t addr;
    const uint8_t *data;
    uint64_t filesz;
    uint64_t memsz;
} Segment;

long multiboot_find_header(const uint8_t *kernel, size_t len)
{
    size_t limit = MIN(len, MB_SEARCH_LEN);

    /* The header is 32-bit aligned and wholly inside the first 8 KiB. */
    for (size_t off = 0; off + 12 <= limit; off += 4) {
        if (ld32(kernel + off) == MB_HEADER_MAGIC) {
            return off;
        }
    }
    return -1;
}

char **multiboot_split_modules(const char *list)
{
    GPtrArray *mods = g_ptr_array_new();
    GString *cur = g_string_new(NULL);

    for (const char *p = list;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ','); /* ",," is a literal comma */
            p++;
        } else if (*p == ',' || *p == '\0') {
            if (cur->len) {
                g_ptr_array_add(mods, g_strdup(cur->str));
            }
            g_string_truncate(cur, 0);
            if (*p == '\0') {
                break;
            }
        } else {
            g_string_append_c(cur, *p);
        }
    }
    g_string_free(cur, TRUE);
    g_ptr_array_add(mods, NULL);
    return (char **)g_ptr_array_free(mods, FALSE);
}

/* ELF32 or ELF64 little-endian x86 executable: its PT_LOAD segments. */
static bool parse_elf(const uint8_t *k, size_t len, GArray *segs,
                      uint64_t *entry, GError **errp)
{
    if (len < 52 || memcmp(k,
                           "\x7f"
                           "ELF",
                           4) != 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot image is not ELF and its header does "
                    "not set the a.out kludge (flag bit 16)");
        return false;
    }
    bool is64 = k[4] == 2;
    uint16_t machine = ld16(k + 18);
    if ((k[4] != 1 && k[4] != 2) || k[5] != 1 ||
        (machine != ELF_EM_386 && machine != ELF_EM_X86_64) ||
        (is64 && len < 64)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot ELF image is not a little-endian x86 "
                    "executable");
        return false;
    }
    uint64_t phoff = is64 ? ld64(k + 32) : ld32(k + 28);
    unsigned phentsize = ld16(k + (is64 ? 54 : 42));
    unsigned phnum = ld16(k + (is64 ? 56 : 44));
    *entry = is64 ? ld64(k + 24) : ld32(k + 24);
    if (phentsize < (is64 ? 56u : 32u) || phoff > len ||
        (uint64_t)phnum * phentsize > len - phoff) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot ELF program headers lie outside the "
                    "file");
        return false;
    }

    uint64_t entry_phys = *entry;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = k + phoff + (uint64_t)i * phentsize;
        if (ld32(ph) != ELF_PT_LOAD) {
            continue;
        }
        uint64_t off = is64 ? ld64(ph + 8) : ld32(ph + 4);
        uint64_t vaddr = is64 ? ld64(ph + 16) : ld32(ph + 8);
        Segment s = {
            .addr = is64 ? ld64(ph + 24) : ld32(ph + 12),
            .filesz = is64 ? ld64(ph + 32) : ld32(ph + 16),
            .memsz = is64 ? ld64(ph + 40) : ld32(ph + 20),
        };
        if (s.memsz == 0) {
            continue;
        }
        if (s.filesz > s.memsz || off > len || s.filesz > len - off) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "KERNEL: multiboot ELF segment %u lies outside the "
                        "file or has p_filesz > p_memsz",
                        i);
            return false;
        }
        s.data = k + off;
        g_array_append_val(segs, s);
        /* We load by physical address, so a virtual entry point moves too. */
        if (*entry >= vaddr && *entry - vaddr < s.memsz) {
            entry_phys = *entry - vaddr + s.addr;
        }
    }
    *entry = entry_phys;
    if (segs->len == 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot ELF image has no loadable segment");
        return false;
    }
    return true;
}

/* Section 3.1.3: the address fields replace the image's own format. */
static bool parse_aout_kludge(const uint8_t *k, size_t len, size_t hdr,
                              GArray *segs, uint64_t *entry, GError **errp)
{
    if (hdr + 32 > MIN(len, MB_SEARCH_LEN)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot header at 0x%zx is cut off before its "
                    "address fields",
                    hdr);
        return false;
    }
    uint32_t header_addr = ld32(k + hdr + 12);
    uint32_t load_addr = ld32(k + hdr + 16);
    uint32_t load_end = ld32(k + hdr + 20);
    uint32_t bss_end = ld32(k + hdr + 24);

    if (load_addr > header_addr || header_addr - load_addr > hdr) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot load_addr 0x%x and header_addr 0x%x "
                    "put the image start before the file start",
                    load_addr, header_addr);
        return false;
    }
    size_t file_off = hdr - (header_addr - load_addr);
    uint64_t load_size =
        load_end ? (uint64_t)load_end - load_addr : len - file_off;
    if (load_end && load_end < load_addr) {
        load_size = UINT64_MAX;
    }
    if (load_size > len - file_off) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot load_end_addr 0x%x lies beyond the "
                    "end of the file",
                    load_end);
        return false;
    }
    uint64_t mem_end = load_addr + load_size;
    if (bss_end) {
        if (bss_end < mem_end) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "KERNEL: multiboot bss_end_addr 0x%x is below the "
                        "end of the loaded image",
                        bss_end);
            return false;
        }
        mem_end = bss_end;
    }
    Segment s = {
        .addr = load_addr,
        .data = k + file_off,
        .filesz = load_size,
        .memsz = mem_end - load_addr,
    };
    if (s.memsz) {
        g_array_append_val(segs, s);
    }
    *entry = ld32(k + hdr + 28);
    return true;
}

static bool check_segment(const MultibootInput *in, const Segment *s,
                          const char *what, GError **errp)
{
    uint64_t end = s->addr + s->memsz;

    if (end < s->addr || end > 0x100000000ULL ||
        !e820_range_is_ram(in->mem.e820, in->mem.e820_nr, s->addr, s->memsz)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s at 0x%" PRIx64 "-0x%" PRIx64 " is outside guest RAM",
                    what, s->addr, end);
        return false;
    }
    if (s->addr < BOOT_LOW_DATA_END) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s at 0x%" PRIx64 "-0x%" PRIx64 " overlaps the boot "
                    "data below 0x%x",
                    what, s->addr, end, BOOT_LOW_DATA_END);
        return false;
    }
    return true;
}

/* A bump allocator over the info area, so every pointer is a guest address. */
typedef struct InfoArea {
    uint8_t *buf;
    size_t used;
    size_t size;
} InfoArea;

static uint32_t info_alloc(InfoArea *a, size_t len, GError **errp)
{
    size_t off = (a->used + 7) & ~(size_t)7;

    if (len > a->size || off > a->size - len) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "multiboot: command lines and module list need more "
                    "than the %zu bytes reserved for boot information",
                    a->size);
        return 0;
    }
    a->used = off + len;
    return MULTIBOOT_INFO_ADDR + off;
}

static uint32_t info_add_string(InfoArea *a, const char *s, GError **errp)
{
    size_t len = strlen(s) + 1;
    uint32_t addr = info_alloc(a, len, errp);

    if (addr) {
        memcpy(a->buf + (addr - MULTIBOOT_INFO_ADDR), s, len);
    }
    return addr;
}

/* mem_lower/mem_upper in KiB: the RAM at 0 and the RAM from 1 MiB up. */
static void info_memory(const BootMemory *mem, uint8_t *mbi)
{
    uint64_t lower = 0, upper = 0;

    for (size_t i = 0; i < mem->e820_nr; i++) {
        const E820Entry *e = &mem->e820[i];
        if (e->type != E820_RAM) {
            continue;
        }
        if (e->addr == 0) {
            lower = MIN(e->size, 640 * 1024);
        }
        if (e->addr <= 0x100000 && e->addr + e->size > 0x100000) {
            upper = MIN(e->addr + e->size, 0x100000000ULL) - 0x100000;
        }
    }
    st32(mbi + MBI_MEM_LOWER, lower / 1024);
    st32(mbi + MBI_MEM_UPPER, upper / 1024);
}

static bool build_info(const MultibootInput *in, const uint64_t *mod_addrs,
                       BootImage *img, GError **errp)
{
    InfoArea a = {
        .buf = g_malloc0(MULTIBOOT_INFO_END - MULTIBOOT_INFO_ADDR),
        .size = MULTIBOOT_INFO_END - MULTIBOOT_INFO_ADDR,
    };
    uint32_t mbi_addr = info_alloc(&a, MBI_SIZE, errp);
    uint8_t *mbi = a.buf;
    uint32_t mmap_len = in->mem.e820_nr * MB_MMAP_ENTRY_SIZE;
    uint32_t mmap = info_alloc(&a, mmap_len, errp);
    uint32_t mods =
        mmap ? info_alloc(&a, in->nr_modules * MB_MOD_SIZE, errp) : 0;
    g_autofree char *cmdline =
        in->cmdline && *in->cmdline
            ? g_strdup_printf("%s %s", in->kernel_path, in->cmdline)
            : g_strdup(in->kernel_path);
    uint32_t cmdline_addr = mods ? info_add_string(&a, cmdline, errp) : 0;
    uint32_t name_addr = cmdline_addr ? info_add_string(&a, "vireo", errp) : 0;
    if (!name_addr) {
        g_free(a.buf);
        return false;
    }

    for (size_t i = 0; i < in->mem.e820_nr; i++) {
        uint8_t *e =
            a.buf + (mmap - MULTIBOOT_INFO_ADDR) + i * MB_MMAP_ENTRY_SIZE;
        st32(e, MB_MMAP_ENTRY_SIZE - 4);
        st64(e + 4, in->mem.e820[i].addr);
        st64(e + 12, in->mem.e820[i].size);
        st32(e + 20, in->mem.e820[i].type);
    }
    for (size_t i = 0; i < in->nr_modules; i++) {
        uint32_t str = info_add_string(&a, in->modules[i].cmdline, errp);
        if (!str) {
            g_free(a.buf);
            return false;
        }
        uint8_t *mod = a.buf + (mods - MULTIBOOT_INFO_ADDR) + i * MB_MOD_SIZE;
        st32(mod, mod_addrs[i]);
        st32(mod + 4, mod_addrs[i] + in->modules[i].len);
        st32(mod + 8, str);
    }

    st32(mbi + MBI_FLAGS, MBI_FLAG_MEM | MBI_FLAG_CMDLINE | MBI_FLAG_MODS |
                              MBI_FLAG_MMAP | MBI_FLAG_LOADER_NAME);
    info_memory(&in->mem, mbi);
    st32(mbi + MBI_CMDLINE, cmdline_addr);
    st32(mbi + MBI_MODS_COUNT, in->nr_modules);
    st32(mbi + MBI_MODS_ADDR, in->nr_modules ? mods : 0);
    st32(mbi + MBI_MMAP_LENGTH, mmap_len);
    st32(mbi + MBI_MMAP_ADDR, mmap);
    st32(mbi + MBI_BOOT_LOADER_NAME, name_addr);

    boot_image_add(img, "multiboot info", mbi_addr, a.buf, a.used);
    return true;
}

static bool check_header(const uint8_t *k, size_t len, long hdr,
                         uint32_t *flags, GError **errp)
{
    if (hdr < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: not a Linux bzImage or multiboot image");
        return false;
    }
    uint32_t magic = ld32(k + hdr);
    *flags = ld32(k + hdr + 4);
    if ((uint32_t)(magic + *flags + ld32(k + hdr + 8)) != 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot header at 0x%lx has a bad checksum",
                    hdr);
        return false;
    }
    uint32_t unknown = *flags & MB_FLAGS_REQUIRED_MASK & ~MB_FLAGS_KNOWN;
    if (unknown) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot header requires features this loader "
                    "lacks (flags 0x%x)",
                    unknown);
        return false;
    }
    return true;
}

/* Segments as blobs; bss is written too so a reset clears it again. */
static bool load_segments(const MultibootInput *in, GArray *segs,
                          BootImage *img, uint64_t *end, GError **errp)
{
    *end = 0;
    for (guint i = 0; i < segs->len; i++) {
        Segment *s = &g_array_index(segs, Segment, i);
        if (!check_segment(in, s, "multiboot kernel segment", errp)) {
            return false;
        }
        uint8_t *data = g_malloc0(s->memsz);
        memcpy(data, s->data, s->filesz);
        boot_image_add(img, "multiboot kernel", s->addr, data, s->memsz);
        *end = MAX(*end, s->addr + s->memsz);
    }
    return true;
}

bool multiboot_build(const MultibootInput *in, BootImage *img, GError **errp)
{
    const uint8_t *k = in->kernel;
    long hdr = multiboot_find_header(k, in->kernel_len);
    uint32_t flags;
    uint64_t entry, end;

    if (!check_header(k, in->kernel_len, hdr, &flags, errp)) {
        return false;
    }
    g_autoptr(GArray) segs = g_array_new(FALSE, FALSE, sizeof(Segment));
    bool ok =
        flags & MB_FLAG_AOUT_KLUDGE
            ? parse_aout_kludge(k, in->kernel_len, hdr, segs, &entry, errp)
            : parse_elf(k, in->kernel_len, segs, &entry, errp);
    if (!ok || !load_segments(in, segs, img, &end, errp)) {
        return false;
    }
    if (entry >= 0x100000000ULL) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: multiboot entry point 0x%" PRIx64 " is not "
                    "reachable in 32-bit protected mode",
                    entry);
        return false;
    }

    /* Modules go page-aligned after the kernel (flag bit 0 or not). */
    g_autofree uint64_t *mod_addrs = g_new0(uint64_t, in->nr_modules + 1);
    uint64_t next = (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    for (size_t i = 0; i < in->nr_modules; i++) {
        const MultibootModule *mod = &in->modules[i];
        Segment s = {.addr = next, .memsz = mod->len};
        g_autofree char *what =
            g_strdup_printf("multiboot module '%s'", mod->cmdline);
        if (!check_segment(in, &s, what, errp)) {
            return false;
        }
        mod_addrs[i] = next;
        if (mod->len) {
            boot_image_add(img, "multiboot module", next,
                           g_memdup2(mod->data, mod->len), mod->len);
        }
        next = (next + mod->len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    }
    if (!build_info(in, mod_addrs, img, errp)) {
        return false;
    }
    boot_add_gdt(img, false);

    img->boot.mode = BOOT_MODE_PROT32;
    img->boot.rip = entry;
    img->boot.rax = MB_BOOTLOADER_MAGIC;
    img->boot.rbx = MULTIBOOT_INFO_ADDR;
    img->boot.rsp = BOOT_STACK_TOP;
    return true;
}
