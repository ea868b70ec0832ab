/*
 * Direct kernel boot builders: the Linux boot protocol's zero page, command
 * line, initrd placement and entry state from a bzImage the test fabricates,
 * and multiboot v1 loading and boot information from synthetic images.
 */
#include <glib.h>
#include <string.h>

#include "../../hw/i386/x86_boot_internal.h"
#include "util/le.h"

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

/* Guest memory as the blobs would leave it: the bytes at addr. */
static const uint8_t *guest_ptr(const BootImage *img, hwaddr addr, size_t len)
{
    const BootBlob *b = boot_image_find(img, addr);

    g_assert_nonnull(b);
    g_assert_cmpuint(addr - b->addr + len, <=, b->len);
    return b->data + (addr - b->addr);
}

typedef struct Env {
    GArray *e820;
    BootMemory mem;
} Env;

static void env_init(Env *env, uint64_t ram)
{
    uint64_t below = MIN(ram, X86_PC_BELOW_4G_MAX);

    env->e820 = g_array_new(FALSE, TRUE, sizeof(E820Entry));
    e820_table_add(env->e820, 0, 0x9fc00, E820_RAM);
    e820_table_add(env->e820, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
    e820_table_add(env->e820, 0x100000, below - 0x100000, E820_RAM);
    if (ram > below) {
        e820_table_add(env->e820, 4 * GiB, ram - below, E820_RAM);
    }
    env->mem = (BootMemory){
        .below_4g_mem_size = below,
        .above_4g_mem_size = ram - below,
        .e820 = (E820Entry *)env->e820->data,
        .e820_nr = env->e820->len,
        .acpi_rsdp_addr = 0xe0000,
    };
}

static void env_destroy(Env *env)
{
    g_array_free(env->e820, TRUE);
}

/* --- Linux --- */

#define SETUP_SECTS 4
#define PM_OFFSET ((SETUP_SECTS + 1) * 512)
#define PM_SIZE 0x4000
#define INIT_SIZE 0x800000

/* A bzImage with a protocol 2.15 header and a recognisable payload. */
static uint8_t *make_bzimage(size_t *len, uint16_t version, uint16_t xlf)
{
    uint8_t *k = g_malloc0(PM_OFFSET + PM_SIZE);

    k[0x1f1] = SETUP_SECTS;
    st16(k + 0x1fe, 0xaa55);
    k[0x200] = 0xeb;
    k[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(k + 0x202, "HdrS", 4);
    st16(k + 0x206, version);
    k[0x211] = 0x01; /* LOADED_HIGH */
    st32(k + 0x214, 0x100000);
    st32(k + 0x22c, 0x7fffffff); /* initrd_addr_max */
    st32(k + 0x230, 0x200000);   /* kernel_alignment */
    k[0x234] = 1;                /* relocatable */
    st16(k + 0x236, xlf);
    st32(k + 0x238, 2047);      /* cmdline_size */
    st64(k + 0x258, 0x1000000); /* pref_address */
    st32(k + 0x260, INIT_SIZE);
    for (size_t i = 0; i < PM_SIZE; i++) {
        k[PM_OFFSET + i] = i * 7 + 3;
    }
    *len = PM_OFFSET + PM_SIZE;
    return k;
}

static bool build_linux(Env *env, const uint8_t *k, size_t len,
                        const uint8_t *initrd, size_t initrd_len,
                        const char *cmdline, BootImage *img, GError **errp)
{
    LinuxBootInput in = {
        .kernel = k,
        .kernel_len = len,
        .initrd = initrd,
        .initrd_len = initrd_len,
        .cmdline = cmdline,
        .mem = env->mem,
    };
    boot_image_init(img);
    return linux_boot_build(&in, img, errp);
}

static void test_linux_boot_params(void)
{
    Env env;
    size_t len, initrd_len = 3 * MiB + 123;
    g_autofree uint8_t *k = make_bzimage(&len, 0x020f, 0x3);
    g_autofree uint8_t *initrd = g_malloc(initrd_len);
    const char *cmdline = "console=ttyS0 root=/dev/vda";
    BootImage img;
    GError *err = NULL;

    memset(initrd, 0x5a, initrd_len);
    env_init(&env, 512 * MiB);
    g_assert_true(linux_boot_probe(k, len));
    g_assert_true(
        build_linux(&env, k, len, initrd, initrd_len, cmdline, &img, &err));
    g_assert_no_error(err);

    const uint8_t *bp = guest_ptr(&img, LINUX_BOOT_PARAMS_ADDR, 0x1000);
    /* the setup header is copied from the image, loader fields set */
    g_assert_cmpmem(bp + 0x202, 4, "HdrS", 4);
    g_assert_cmphex(bp[0x1f1], ==, SETUP_SECTS);
    g_assert_cmphex(bp[0x210], ==, 0xff);            /* type_of_loader */
    g_assert_cmphex(bp[0x211] & 0x81, ==, 0x81);     /* CAN_USE_HEAP */
    g_assert_cmphex(ld32(bp + 0x214), ==, 0x100000); /* code32_start */
    g_assert_cmphex(ld32(bp + 0x260), ==, INIT_SIZE);
    g_assert_cmphex(ld64(bp + 0x070), ==, 0xe0000); /* acpi_rsdp_addr */

    /* command line */
    g_assert_cmphex(ld32(bp + 0x228), ==, LINUX_CMDLINE_ADDR);
    g_assert_cmpstr(
        (const char *)guest_ptr(&img, LINUX_CMDLINE_ADDR, strlen(cmdline) + 1),
        ==, cmdline);

    /* initrd: page-aligned, at the top of RAM, above the kernel */
    uint32_t rd_addr = ld32(bp + 0x218), rd_size = ld32(bp + 0x21c);
    g_assert_cmpuint(rd_size, ==, initrd_len);
    g_assert_cmphex(rd_addr & 0xfff, ==, 0);
    g_assert_cmphex(rd_addr + rd_size, <=, 512 * MiB);
    g_assert_cmphex(rd_addr + rd_size, >, 512 * MiB - 0x1000);
    /* the decompressor works at max(aligned load address, pref_address) */
    g_assert_cmphex(rd_addr, >=, 0x1000000 + INIT_SIZE);
    const uint8_t *rd = guest_ptr(&img, rd_addr, initrd_len);
    g_assert_cmphex(rd[0], ==, 0x5a);
    g_assert_cmphex(rd[initrd_len - 1], ==, 0x5a);

    /* e820 copy */
    g_assert_cmpuint(bp[0x1e8], ==, 3);
    for (guint i = 0; i < 3; i++) {
        const uint8_t *e = bp + 0x2d0 + i * 20;
        E820Entry *x = &g_array_index(env.e820, E820Entry, i);
        g_assert_cmphex(ld64(e), ==, x->addr);
        g_assert_cmphex(ld64(e + 8), ==, x->size);
        g_assert_cmpuint(ld32(e + 16), ==, x->type);
    }

    /* the protected-mode kernel at 1 MiB */
    const uint8_t *kern = guest_ptr(&img, LINUX_KERNEL_ADDR, PM_SIZE);
    g_assert_cmpmem(kern, PM_SIZE, k + PM_OFFSET, PM_SIZE);

    /* 64-bit entry state */
    g_assert_cmpint(img.boot.mode, ==, BOOT_MODE_LONG64);
    g_assert_cmphex(img.boot.rip, ==, 0x100200);
    g_assert_cmphex(img.boot.rsi, ==, LINUX_BOOT_PARAMS_ADDR);
    g_assert_cmphex(img.boot.cr3, ==, BOOT_PML4_ADDR);
    g_assert_cmphex(img.boot.gdt_base, ==, BOOT_GDT_ADDR);
    g_assert_cmpuint(img.boot.gdt_limit, ==, 31);
    uint64_t cs = ld64(guest_ptr(&img, BOOT_GDT_ADDR + BOOT_CS_SELECTOR, 8));
    uint64_t ds = ld64(guest_ptr(&img, BOOT_GDT_ADDR + BOOT_DS_SELECTOR, 8));
    g_assert_true(cs & (1ULL << 53));             /* L: 64-bit code */
    g_assert_false(cs & (1ULL << 54));            /* D must be 0 with L */
    g_assert_cmphex((ds >> 40) & 0x9a, ==, 0x92); /* present data, writable */

    /* identity page tables: 4 GiB with 2 MiB pages */
    g_assert_cmphex(ld64(guest_ptr(&img, BOOT_PML4_ADDR, 8)), ==,
                    BOOT_PDPT_ADDR | 3);
    g_assert_cmphex(ld64(guest_ptr(&img, BOOT_PDPT_ADDR + 3 * 8, 8)), ==,
                    (BOOT_PD_ADDR + 3 * 0x1000) | 3);
    uint64_t pde = ld64(guest_ptr(&img, BOOT_PD_ADDR + 2047 * 8, 8));
    g_assert_cmphex(pde, ==, (4 * GiB - 2 * MiB) | 0x83);

    boot_image_destroy(&img);
    env_destroy(&env);
}

static void test_linux_initrd_below_initrd_addr_max(void)
{
    Env env;
    size_t len;
    g_autofree uint8_t *k = make_bzimage(&len, 0x020c, 0x1);
    uint8_t initrd[5000] = {1};
    BootImage img;
    GError *err = NULL;

    st32(k + 0x22c, 0x37ffffff);
    env_init(&env, 2 * GiB);
    g_assert_true(
        build_linux(&env, k, len, initrd, sizeof(initrd), NULL, &img, &err));
    g_assert_no_error(err);
    const uint8_t *bp = guest_ptr(&img, LINUX_BOOT_PARAMS_ADDR, 0x1000);
    uint32_t addr = ld32(bp + 0x218);
    g_assert_cmphex(addr & 0xfff, ==, 0);
    g_assert_cmphex(addr + sizeof(initrd), <=, 0x38000000);
    g_assert_cmphex(addr, >=, 0x38000000 - 0x3000);
    /* no -append: an empty command line, still NUL-terminated */
    g_assert_cmpstr((const char *)guest_ptr(&img, LINUX_CMDLINE_ADDR, 1), ==,
                    "");
    boot_image_destroy(&img);
    env_destroy(&env);
}

static void test_linux_initrd_too_big(void)
{
    Env env;
    size_t len;
    g_autofree uint8_t *k = make_bzimage(&len, 0x020f, 0x1);
    size_t initrd_len = 60 * MiB;
    g_autofree uint8_t *initrd = g_malloc0(initrd_len);
    BootImage img;
    GError *err = NULL;

    env_init(&env, 64 * MiB);
    g_assert_false(
        build_linux(&env, k, len, initrd, initrd_len, "", &img, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "does not fit in guest RAM"));
    g_assert_nonnull(strstr(err->message, "62914560 bytes"));
    g_error_free(err);
    boot_image_destroy(&img);
    env_destroy(&env);
}

static void check_linux_error(uint16_t version, uint16_t xlf,
                              const char *cmdline, const char *expect)
{
    Env env;
    size_t len;
    g_autofree uint8_t *k = make_bzimage(&len, version, xlf);
    BootImage img;
    GError *err = NULL;

    env_init(&env, 256 * MiB);
    g_assert_false(build_linux(&env, k, len, NULL, 0, cmdline, &img, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, expect)) {
        g_error("'%s' does not mention '%s'", err->message, expect);
    }
    g_error_free(err);
    boot_image_destroy(&img);
    env_destroy(&env);
}

static void test_linux_old_protocol_rejected(void)
{
    check_linux_error(0x020a, 0x1, "", "needs 2.12");
}

static void test_linux_32bit_kernel_rejected(void)
{
    check_linux_error(0x020f, 0x0, "", "XLF_KERNEL_64");
}

static void test_linux_cmdline_too_long(void)
{
    g_autofree char *c = g_strnfill(3000, 'x');
    check_linux_error(0x020f, 0x1, c, "at most 2047");
}

static void test_linux_kernel_too_big_for_ram(void)
{
    Env env;
    size_t len;
    g_autofree uint8_t *k = make_bzimage(&len, 0x020f, 0x1);
    BootImage img;
    GError *err = NULL;

    env_init(&env, 20 * MiB); /* init_size needs 16 MiB + 8 MiB */
    g_assert_false(build_linux(&env, k, len, NULL, 0, "", &img, &err));
    g_assert_nonnull(strstr(err->message, "RAM below 4 GiB ends"));
    g_error_free(err);
    boot_image_destroy(&img);
    env_destroy(&env);
}

static void test_not_a_kernel(void)
{
    uint8_t junk[4096] = {0};

    g_assert_false(linux_boot_probe(junk, sizeof(junk)));
    g_assert_cmpint(multiboot_find_header(junk, sizeof(junk)), ==, -1);
    g_assert_false(linux_boot_probe(junk, 16));
}

/* --- multiboot --- */

#define MB_HDR_OFF 0x60
#define ELF_SEG_OFF 0x1000
#define ELF_PADDR 0x200000
#define ELF_VADDR 0xc0200000u
#define ELF_FILESZ 0x100
#define ELF_MEMSZ 0x2000

static void put_mb_header(uint8_t *p, uint32_t flags)
{
    st32(p, 0x1BADB002);
    st32(p + 4, flags);
    st32(p + 8, -(0x1BADB002 + flags));
}

/* An ELF32 i386 executable: one PT_LOAD linked high, loaded at 2 MiB. */
static uint8_t *make_elf32(size_t *len, uint32_t paddr)
{
    uint8_t *k = g_malloc0(ELF_SEG_OFF + ELF_FILESZ);

    memcpy(k,
           "\x7f"
           "ELF",
           4);
    k[4] = 1; /* ELFCLASS32 */
    k[5] = 1; /* little-endian */
    k[6] = 1;
    st16(k + 16, 2); /* ET_EXEC */
    st16(k + 18, 3); /* EM_386 */
    st32(k + 20, 1);
    st32(k + 24, ELF_VADDR + 0x10); /* e_entry (virtual) */
    st32(k + 28, 52);               /* e_phoff */
    st16(k + 40, 52);
    st16(k + 42, 32); /* e_phentsize */
    st16(k + 44, 1);  /* e_phnum */
    uint8_t *ph = k + 52;
    st32(ph, 1); /* PT_LOAD */
    st32(ph + 4, ELF_SEG_OFF);
    st32(ph + 8, ELF_VADDR);
    st32(ph + 12, paddr);
    st32(ph + 16, ELF_FILESZ);
    st32(ph + 20, ELF_MEMSZ);
    put_mb_header(k + MB_HDR_OFF, 0x3); /* page-align, memory info */
    memset(k + ELF_SEG_OFF, 0xc3, ELF_FILESZ);
    *len = ELF_SEG_OFF + ELF_FILESZ;
    return k;
}

static bool build_mb(Env *env, const uint8_t *k, size_t len,
                     const MultibootModule *mods, size_t nr, BootImage *img,
                     GError **errp)
{
    MultibootInput in = {
        .kernel = k,
        .kernel_len = len,
        .kernel_path = "/tmp/kernel.elf",
        .cmdline = "console=ttyS0 quiet",
        .modules = mods,
        .nr_modules = nr,
        .mem = env->mem,
    };
    boot_image_init(img);
    return multiboot_build(&in, img, errp);
}

static void test_multiboot_elf32_info(void)
{
    Env env;
    size_t len;
    g_autofree uint8_t *k = make_elf32(&len, ELF_PADDR);
    uint8_t m1[100], m2[5000];
    const MultibootModule mods[] = {
        {"/tmp/mod1 arg1 arg2", m1, sizeof(m1)},
        {"/tmp/mod,2", m2, sizeof(m2)},
    };
    BootImage img;
    GError *err = NULL;

    memset(m1, 0x11, sizeof(m1));
    memset(m2, 0x22, sizeof(m2));
    env_init(&env, 512 * MiB);
    g_assert_cmpint(multiboot_find_header(k, len), ==, MB_HDR_OFF);
    g_assert_true(build_mb(&env, k, len, mods, 2, &img, &err));
    g_assert_no_error(err);

    /* entry state: the virtual entry point moved to the load address */
    g_assert_cmpint(img.boot.mode, ==, BOOT_MODE_PROT32);
    g_assert_cmphex(img.boot.rip, ==, ELF_PADDR + 0x10);
    g_assert_cmphex(img.boot.rax, ==, 0x2BADB002);
    g_assert_cmphex(img.boot.rbx, ==, MULTIBOOT_INFO_ADDR);
    uint64_t cs = ld64(guest_ptr(&img, BOOT_GDT_ADDR + BOOT_CS_SELECTOR, 8));
    g_assert_true(cs & (1ULL << 54)); /* D: 32-bit code */
    g_assert_false(cs & (1ULL << 53));

    /* segment with its bss cleared */
    const uint8_t *seg = guest_ptr(&img, ELF_PADDR, ELF_MEMSZ);
    g_assert_cmphex(seg[0], ==, 0xc3);
    g_assert_cmphex(seg[ELF_FILESZ], ==, 0);
    g_assert_cmphex(seg[ELF_MEMSZ - 1], ==, 0);

    const uint8_t *mbi = guest_ptr(&img, MULTIBOOT_INFO_ADDR, 88);
    uint32_t flags = ld32(mbi);
    g_assert_cmphex(flags, ==,
                    (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
    g_assert_cmpuint(ld32(mbi + 4), ==, 639);              /* mem_lower */
    g_assert_cmpuint(ld32(mbi + 8), ==, (512 - 1) * 1024); /* mem_upper */
    g_assert_cmpstr((const char *)guest_ptr(&img, ld32(mbi + 16), 1), ==,
                    "/tmp/kernel.elf console=ttyS0 quiet");
    g_assert_cmpstr((const char *)guest_ptr(&img, ld32(mbi + 64), 1), ==,
                    "vireo");

    /* modules: page-aligned after the kernel, whole entry as the string */
    g_assert_cmpuint(ld32(mbi + 20), ==, 2);
    const uint8_t *mod = guest_ptr(&img, ld32(mbi + 24), 32);
    uint32_t start0 = ld32(mod), end0 = ld32(mod + 4);
    uint32_t start1 = ld32(mod + 16), end1 = ld32(mod + 20);
    g_assert_cmphex(start0, ==, ELF_PADDR + ELF_MEMSZ);
    g_assert_cmphex(end0 - start0, ==, sizeof(m1));
    g_assert_cmphex(start1 & 0xfff, ==, 0);
    g_assert_cmphex(start1, >=, end0);
    g_assert_cmphex(end1 - start1, ==, sizeof(m2));
    g_assert_cmpstr((const char *)guest_ptr(&img, ld32(mod + 8), 1), ==,
                    "/tmp/mod1 arg1 arg2");
    g_assert_cmpstr((const char *)guest_ptr(&img, ld32(mod + 24), 1), ==,
                    "/tmp/mod,2");
    g_assert_cmphex(guest_ptr(&img, start1, sizeof(m2))[4999], ==, 0x22);

    /* memory map: the e820 table, 24 bytes per entry */
    g_assert_cmpuint(ld32(mbi + 44), ==, 3 * 24);
    const uint8_t *mmap = guest_ptr(&img, ld32(mbi + 48), 3 * 24);
    g_assert_cmpuint(ld32(mmap), ==, 20);
    g_assert_cmphex(ld64(mmap + 24 + 4), ==, 0x9fc00);
    g_assert_cmpuint(ld32(mmap + 24 + 20), ==, E820_RESERVED);
    g_assert_cmphex(ld64(mmap + 48 + 12), ==, 511 * MiB);

    boot_image_destroy(&img);
    env_destroy(&env);
}

static void test_multiboot_aout_kludge(void)
{
    Env env;
    uint8_t k[0x200] = {0};
    BootImage img;
    GError *err = NULL;

    /* the header is the first thing in a flat binary loaded at 1 MiB */
    put_mb_header(k, 1u << 16);
    st32(k + 12, 0x100000); /* header_addr */
    st32(k + 16, 0x100000); /* load_addr */
    st32(k + 20, 0);        /* load_end_addr: whole file */
    st32(k + 24, 0x103000); /* bss_end_addr */
    st32(k + 28, 0x100020); /* entry_addr */
    k[0x20] = 0xf4;
    env_init(&env, 128 * MiB);
    g_assert_true(build_mb(&env, k, sizeof(k), NULL, 0, &img, &err));
    g_assert_no_error(err);
    g_assert_cmphex(img.boot.rip, ==, 0x100020);
    const uint8_t *seg = guest_ptr(&img, 0x100000, 0x3000);
    g_assert_cmphex(seg[0x20], ==, 0xf4);
    g_assert_cmphex(seg[0x2fff], ==, 0);
    const uint8_t *mbi = guest_ptr(&img, MULTIBOOT_INFO_ADDR, 88);
    g_assert_cmpuint(ld32(mbi + 20), ==, 0);
    boot_image_destroy(&img);
    env_destroy(&env);
}

static void check_mb_error(uint8_t *k, size_t len, const char *expect)
{
    Env env;
    BootImage img;
    GError *err = NULL;

    env_init(&env, 512 * MiB);
    g_assert_false(build_mb(&env, k, len, NULL, 0, &img, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, expect)) {
        g_error("'%s' does not mention '%s'", err->message, expect);
    }
    g_error_free(err);
    boot_image_destroy(&img);
    env_destroy(&env);
}

static void test_multiboot_bad_checksum(void)
{
    size_t len;
    g_autofree uint8_t *k = make_elf32(&len, ELF_PADDR);

    k[MB_HDR_OFF + 8] ^= 1;
    check_mb_error(k, len, "bad checksum");
}

static void test_multiboot_unknown_required_flag(void)
{
    size_t len;
    g_autofree uint8_t *k = make_elf32(&len, ELF_PADDR);

    put_mb_header(k + MB_HDR_OFF, 1u << 5);
    check_mb_error(k, len, "requires features");
}

static void test_multiboot_segment_outside_ram(void)
{
    size_t len;
    g_autofree uint8_t *k = make_elf32(&len, 0xa0000); /* VGA hole */

    check_mb_error(k, len, "outside guest RAM");
    g_free(k);
    k = make_elf32(&len, 0x7fff0000); /* past 512 MiB */
    check_mb_error(k, len, "outside guest RAM");
}

static void test_multiboot_segment_over_boot_data(void)
{
    size_t len;
    g_autofree uint8_t *k = make_elf32(&len, 0x8000);

    check_mb_error(k, len, "overlaps the boot data");
}

static void test_multiboot_truncated_elf(void)
{
    size_t len;
    g_autofree uint8_t *k = make_elf32(&len, ELF_PADDR);

    check_mb_error(k, len - 1, "outside the file");
}

static void test_multiboot_split_modules(void)
{
    g_auto(GStrv) v = multiboot_split_modules("/a/b x y,/c,,d,,e");

    g_assert_cmpuint(g_strv_length(v), ==, 2);
    g_assert_cmpstr(v[0], ==, "/a/b x y");
    g_assert_cmpstr(v[1], ==, "/c,d,e");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/boot/linux/boot-params", test_linux_boot_params);
    g_test_add_func("/boot/linux/initrd-below-initrd-addr-max",
                    test_linux_initrd_below_initrd_addr_max);
    g_test_add_func("/boot/linux/initrd-too-big", test_linux_initrd_too_big);
    g_test_add_func("/boot/linux/old-protocol-rejected",
                    test_linux_old_protocol_rejected);
    g_test_add_func("/boot/linux/32bit-kernel-rejected",
                    test_linux_32bit_kernel_rejected);
    g_test_add_func("/boot/linux/cmdline-too-long",
                    test_linux_cmdline_too_long);
    g_test_add_func("/boot/linux/kernel-too-big-for-ram",
                    test_linux_kernel_too_big_for_ram);
    g_test_add_func("/boot/not-a-kernel", test_not_a_kernel);
    g_test_add_func("/boot/multiboot/elf32-info", test_multiboot_elf32_info);
    g_test_add_func("/boot/multiboot/aout-kludge", test_multiboot_aout_kludge);
    g_test_add_func("/boot/multiboot/bad-checksum",
                    test_multiboot_bad_checksum);
    g_test_add_func("/boot/multiboot/unknown-required-flag",
                    test_multiboot_unknown_required_flag);
    g_test_add_func("/boot/multiboot/segment-outside-ram",
                    test_multiboot_segment_outside_ram);
    g_test_add_func("/boot/multiboot/segment-over-boot-data",
                    test_multiboot_segment_over_boot_data);
    g_test_add_func("/boot/multiboot/truncated-elf",
                    test_multiboot_truncated_elf);
    g_test_add_func("/boot/multiboot/split-modules",
                    test_multiboot_split_modules);
    return g_test_run();
}
