/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst): loads a bzImage's
 * protected-mode kernel, fills the zero page (struct boot_params) and enters
 * the 64-bit entry point with identity-mapped page tables, as the protocol's
 * "64-bit boot protocol" section describes.
 */
#include <inttypes.h>
#include <string.h>

#include "util/opts.h"
#include "x86_boot_internal.h"
#include "util/le.h"

/* Offsets in the image and in boot_params (the setup header is at 0x1f1 in
 * both). Names follow struct setup_header / struct boot_params. */
#define BP_ACPI_RSDP_ADDR 0x070 /* boot_params, kernels >= 5.0 */
#define BP_E820_ENTRIES 0x1e8
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE_KERNEL 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x290 /* edd_mbr_sig_buffer follows */
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128 /* E820_MAX_ENTRIES_ZEROPAGE */
#define BP_SIZE 0x1000

#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define LOADFLAGS_KASLR 0x02 /* "kernel internal": set by its decompressor */
#define LOADFLAGS_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define LOADER_TYPE_UNDEFINED 0xff
/* The 64-bit entry is startup_64, 0x200 past the protected-mode start. */
#define LINUX_ENTRY64_OFFSET 0x200
#define PAGE_SIZE 0x1000ULL

bool linux_boot_probe(const uint8_t *kernel, size_t len)
{
    return len >= HDR_HEADER + 4 && ld32(kernel + HDR_HEADER) == HDRS_MAGIC;
}

/*
 * Identity map of the first 4 GiB with 2 MiB pages: enough for the kernel,
 * boot_params, the command line and the initrd, which all sit below 4 GiB.
 */
static void add_page_tables(BootImage *img)
{
    size_t len = BOOT_PD_ADDR + 4 * PAGE_SIZE - BOOT_PML4_ADDR;
    uint8_t *pt = g_malloc0(len);
    uint8_t *pml4 = pt, *pdpt = pt + (BOOT_PDPT_ADDR - BOOT_PML4_ADDR);
    uint8_t *pd = pt + (BOOT_PD_ADDR - BOOT_PML4_ADDR);
    const uint64_t present_rw = 0x3, page_2m = 0x80;

    st64(pml4, BOOT_PDPT_ADDR | present_rw);
    for (int i = 0; i < 4; i++) {
        st64(pdpt + i * 8, (BOOT_PD_ADDR + i * PAGE_SIZE) | present_rw);
    }
    for (int i = 0; i < 4 * 512; i++) {
        st64(pd + i * 8, ((uint64_t)i << 21) | present_rw | page_2m);
    }
    boot_image_add(img, "linux page tables", BOOT_PML4_ADDR, pt, len);
}

/* Where the kernel will decompress to, and so the end of what it uses. */
static uint64_t kernel_footprint_end(const uint8_t *hdr, uint64_t pm_size)
{
    uint64_t init_size = ld32(hdr + HDR_INIT_SIZE);
    uint64_t align = ld32(hdr + HDR_KERNEL_ALIGNMENT);
    uint64_t start;

    /*
     * startup_64 decompresses at its load address rounded up to
     * kernel_alignment, but never below LOAD_PHYSICAL_ADDR, which the header
     * reports as pref_address; a non-relocatable kernel always uses that.
     */
    start = ld64(hdr + HDR_PREF_ADDRESS);
    if (hdr[HDR_RELOCATABLE_KERNEL]) {
        uint64_t aligned = LINUX_KERNEL_ADDR;
        if (align && (align & (align - 1)) == 0) {
            aligned = (aligned + align - 1) & ~(align - 1);
        }
        start = MAX(start, aligned);
    }
    if (start > UINT64_MAX - init_size) {
        return UINT64_MAX; /* a bogus pref_address: never fits */
    }
    return MAX(LINUX_KERNEL_ADDR + pm_size, start + init_size);
}

/* Whether word is an option of the kernel command line (before "--"). */
static bool cmdline_has(const char *cmdline, const char *word)
{
    g_auto(GStrv) opts = g_strsplit_set(cmdline, " \t\n", -1);

    for (char **o = opts; *o && strcmp(*o, "--"); o++) {
        if (!strcmp(*o, word)) {
            return true;
        }
    }
    return false;
}

static void as_write(void *opaque, uint64_t paddr, const void *buf,
                     size_t len)
{
    address_space_write_rom(opaque, paddr, buf, len);
}

static void as_read(void *opaque, uint64_t paddr, void *buf, size_t len)
{
    address_space_read(opaque, paddr, buf, len);
}

/* RomLoader of the kernel Vireo decompresses: arg is the end of RAM below
 * 4 GiB, with bit 0 set for a random virtual offset. */
static bool load_unpacked(AddressSpace *as, const uint8_t *src, size_t len,
                          uint64_t arg, GError **errp)
{
    LinuxUnpackSink sink = { as_write, as_read, as };
    LinuxUnpacked u;

    return linux_unpack(src, len, arg & 1, arg & ~1ULL, &sink, &u, errp);
}

static bool place_initrd(const LinuxBootInput *in, const uint8_t *hdr,
                         uint64_t kernel_end, uint64_t *addr, GError **errp)
{
    /* initrd_addr_max is the highest address the initrd may occupy. */
    uint64_t top = (uint64_t)ld32(hdr + HDR_INITRD_ADDR_MAX) + 1;

    top = MIN(top, in->mem.below_4g_mem_size);
    if (in->initrd_len > top ||
        ((top - in->initrd_len) & ~(PAGE_SIZE - 1)) < kernel_end) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "initrd (%zu bytes) does not fit in guest RAM below "
                    "0x%" PRIx64 " (the kernel uses up to 0x%" PRIx64 ")",
                    in->initrd_len, top, kernel_end);
        return false;
    }
    *addr = (top - in->initrd_len) & ~(PAGE_SIZE - 1);
    return true;
}

static bool check_header(const uint8_t *k, size_t len, GError **errp)
{
    uint16_t version = ld16(k + HDR_VERSION);

    if (len < HDR_END_MAX) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: bzImage is truncated (%zu bytes)", len);
        return false;
    }
    if (version < 0x20c) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: Linux boot protocol %u.%02u is too old; the "
                    "64-bit entry point needs 2.12 or later",
                    version >> 8, version & 0xff);
        return false;
    }
    if (!(ld16(k + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: not a 64-bit kernel (XLF_KERNEL_64 is clear in "
                    "xloadflags); only x86-64 kernels are supported");
        return false;
    }
    return true;
}

static bool build_e820(const BootMemory *mem, uint8_t *bp, GError **errp)
{
    if (mem->e820_nr > BP_E820_MAX) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "e820 map has %zu entries, boot_params holds %d",
                    mem->e820_nr, BP_E820_MAX);
        return false;
    }
    bp[BP_E820_ENTRIES] = mem->e820_nr;
    for (size_t i = 0; i < mem->e820_nr; i++) {
        uint8_t *e = bp + BP_E820_TABLE + i * 20;
        st64(e, mem->e820[i].addr);
        st64(e + 8, mem->e820[i].size);
        st32(e + 16, mem->e820[i].type);
    }
    return true;
}

bool linux_boot_build(const LinuxBootInput *in, BootImage *img, GError **errp)
{
    const uint8_t *k = in->kernel;
    const char *cmdline = in->cmdline ? in->cmdline : "";

    if (!linux_boot_probe(k, in->kernel_len)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: not a Linux bzImage or multiboot image");
        return false;
    }
    if (!check_header(k, in->kernel_len, errp)) {
        return false;
    }

    unsigned setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
    size_t pm_offset = (setup_sects + 1) * 512;
    if (pm_offset + LINUX_ENTRY64_OFFSET >= in->kernel_len) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: bzImage is truncated: setup is %zu bytes, the "
                    "file %zu",
                    pm_offset, in->kernel_len);
        return false;
    }
    uint64_t pm_size = in->kernel_len - pm_offset;
    uint64_t kernel_end = kernel_footprint_end(k, pm_size);
    if (kernel_end > in->mem.below_4g_mem_size) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the kernel needs guest RAM up to 0x%" PRIx64
                    " but RAM below 4 GiB ends at 0x%" PRIx64,
                    kernel_end, in->mem.below_4g_mem_size);
        return false;
    }

    /* cmdline_size excludes the terminating NUL. */
    size_t cmdline_max = MIN(ld32(k + HDR_CMDLINE_SIZE), LINUX_CMDLINE_MAX - 1);
    size_t cmdline_len = strlen(cmdline);
    if (cmdline_len > cmdline_max) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-append: command line is %zu bytes, this kernel accepts "
                    "at most %zu",
                    cmdline_len, cmdline_max);
        return false;
    }

    /* the kernel proper, decompressed here rather than by its own code */
    LinuxUnpacked u = { 0 };
    bool kaslr = !cmdline_has(cmdline, "nokaslr");
    uint64_t ram_end = in->mem.below_4g_mem_size;
    if (in->unpack &&
        !linux_unpack_probe(k, in->kernel_len, ram_end, &u, errp)) {
        return false;
    }
    kernel_end = MAX(kernel_end, u.paddr + u.len);

    uint64_t initrd_addr = 0;
    if (in->initrd && !place_initrd(in, k, kernel_end, &initrd_addr, errp)) {
        return false;
    }

    uint8_t *bp = g_malloc0(BP_SIZE);
    size_t hdr_end = MIN(HDR_HEADER + (size_t)k[HDR_JUMP + 1], HDR_END_MAX);
    memcpy(bp + HDR_SETUP_SECTS, k + HDR_SETUP_SECTS,
           hdr_end - HDR_SETUP_SECTS);
    if (!build_e820(&in->mem, bp, errp)) {
        g_free(bp);
        return false;
    }
    bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    bp[HDR_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP;
    st16(bp + HDR_HEAP_END_PTR, 0xfe00);
    st32(bp + HDR_CODE32_START, LINUX_KERNEL_ADDR);
    st32(bp + HDR_CMD_LINE_PTR, LINUX_CMDLINE_ADDR);
    if (in->initrd) {
        st32(bp + HDR_RAMDISK_IMAGE, initrd_addr);
        st32(bp + HDR_RAMDISK_SIZE, in->initrd_len);
    }
    /*
     * Protocol 2.14 put acpi_rsdp_addr in the setup header and was withdrawn;
     * kernels since 5.0 read it from boot_params at 0x70, which older ones
     * treat as padding, so setting it is always safe.
     */
    st64(bp + BP_ACPI_RSDP_ADDR, in->mem.acpi_rsdp_addr);

    boot_image_add(img, "linux boot_params", LINUX_BOOT_PARAMS_ADDR, bp,
                   BP_SIZE);
    boot_image_add(img, "linux cmdline", LINUX_CMDLINE_ADDR,
                   (uint8_t *)g_strdup(cmdline), cmdline_len + 1);
    if (in->unpack) {
        /* a kernel without KASLR has no relocation table and ignores it */
        bp[HDR_LOADFLAGS] &= ~LOADFLAGS_KASLR;
        if (kaslr) {
            bp[HDR_LOADFLAGS] |= LOADFLAGS_KASLR;
        }
        boot_image_add_loader(img, "linux kernel (decompressed)",
                              g_memdup2(k, in->kernel_len), in->kernel_len,
                              load_unpacked, ram_end | kaslr);
    } else {
        boot_image_add(img, "linux kernel", LINUX_KERNEL_ADDR,
                       g_memdup2(k + pm_offset, pm_size), pm_size);
    }
    if (in->initrd) {
        boot_image_add(img, "linux initrd", initrd_addr,
                       g_memdup2(in->initrd, in->initrd_len), in->initrd_len);
    }
    add_page_tables(img);
    boot_add_gdt(img, true);

    img->boot.mode = BOOT_MODE_LONG64;
    img->boot.rip = in->unpack ? u.entry
                               : LINUX_KERNEL_ADDR + LINUX_ENTRY64_OFFSET;
    img->boot.rsi = LINUX_BOOT_PARAMS_ADDR;
    img->boot.rsp = BOOT_STACK_TOP;
    img->boot.cr3 = BOOT_PML4_ADDR;
    return true;
}
