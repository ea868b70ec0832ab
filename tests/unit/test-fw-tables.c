/*
 * What firmware gets over fw_cfg, without a machine: -smbios parsing and
 * its errors, the SMBIOS structures and 3.0 entry point, -smbios file=
 * checks, and the ACPI blobs with their BIOS linker/loader script (HPET and
 * pvpanic included, hostile scripts refused).
 */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "hw/i386/acpi.h"
#include "hw/i386/smbios.h"
#include "hw/i386/x86.h"
#include "hw/nvram/fw_cfg.h"
#include "io-machine.h"
#include "util/le.h"
#include "vmstate-test.h"

static void test_smbios_option_errors(void)
{
    static const char *const bad[] = {
        "",        /* neither type nor file */
        "type=99", /* a type QEMU builds no fields for */
        "type=x",
        "type=1,bogus=x", /* a field the type lacks */
        "type=1,uuid=not-a-uuid",
        "type=0,release=1",
        "type=0,release=1.300",
        "type=0,uefi=maybe",
        "type=4,max-speed=70000",
        "type=17,speed=abc",
        "file=/x,type=1",
        "file=/x,vendor=y",
    };
    static const char *const good[] = {
        "type=0,vendor=V,version=1,date=01/01/2020,release=1.2,uefi=on",
        "type=1,manufacturer=M,product=P,version=V,serial=S,"
        "uuid=12345678-9abc-def0-1122-334455667788,sku=K,family=F",
        "type=2,manufacturer=M,product=P,location=L",
        "type=3,manufacturer=M,sku=S",
        "type=4,sock_pfx=S,max-speed=3000,current-speed=2500",
        "type=11,value=a,value=b",
        "type=17,loc_pfx=D,speed=1600",
        "file=/nonexistent", /* read when the machine is built */
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(smbios_check_option(bad[i], &err));
        g_assert_nonnull(err);
        /* the message names the option */
        g_assert_nonnull(strstr(err->message, "-smbios"));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_true(smbios_check_option(good[i], &err));
        g_assert_no_error(err);
    }
}

typedef struct Parsed {
    unsigned count[128];
    const uint8_t *first[128];
} Parsed;

/* Walks the structure table; every structure must end where it says. */
static void parse_tables(const GByteArray *t, Parsed *p)
{
    uint32_t off = 0;

    memset(p, 0, sizeof(*p));
    while (off < t->len) {
        uint8_t type = t->data[off], len = t->data[off + 1];
        g_assert_cmpuint(len, >=, 4);
        uint32_t end = off + len;
        while (end + 1 < t->len && (t->data[end] || t->data[end + 1])) {
            end++;
        }
        g_assert_cmpuint(end + 1, <, t->len);
        if (!p->first[type & 127]) {
            p->first[type & 127] = t->data + off;
        }
        p->count[type & 127]++;
        off = end + 2;
    }
    g_assert_cmpuint(off, ==, t->len);
}

static void test_smbios_structures(void)
{
    g_autoptr(GError) err = NULL;
    GByteArray *tables, *anchor;
    SmbiosConfig cfg = {
        .product = "Standard PC",
        .version = "pc",
        .smp_cpus = 3,
        .max_cpus = 4,
        .cores = 2,
        .threads = 1,
        .below_4g_mem_size = 3ULL << 30,
        .above_4g_mem_size = 17ULL << 30,
    };
    Parsed p;

    g_assert_true(smbios_build(&cfg, &tables, &anchor, &err));
    parse_tables(tables, &p);
    /* type 0 and 2 are left to the BIOS without fields */
    g_assert_cmpuint(p.count[0], ==, 0);
    g_assert_cmpuint(p.count[2], ==, 0);
    g_assert_cmpuint(p.count[1], ==, 1);
    g_assert_cmpuint(p.count[3], ==, 1);
    g_assert_cmpuint(p.count[4], ==, 2); /* 4 CPUs, 2 per socket */
    g_assert_cmpuint(p.count[16], ==, 1);
    g_assert_cmpuint(p.count[17], ==, 2); /* 20 GiB: 16 + 4 */
    g_assert_cmpuint(p.count[19], ==, 2); /* below and above 4 GiB */
    g_assert_cmpuint(p.count[32], ==, 1);
    g_assert_cmpuint(p.count[127], ==, 1);
    /* no -uuid: zeroes */
    for (int i = 0; i < 16; i++) {
        g_assert_cmpuint(p.first[1][8 + i], ==, 0);
    }
    /* the second type 19 starts at 4 GiB, in KiB */
    const uint8_t *t19 = p.first[19];
    t19 += t19[1] + 2; /* no strings */
    g_assert_cmphex(ld32(t19 + 4), ==, (1ULL << 32) >> 10);

    g_assert_cmpuint(anchor->len, ==, SMBIOS_30_ANCHOR_SIZE);
    g_assert_cmpmem(anchor->data, 5, "_SM3_", 5);
    g_assert_cmpuint(acpi_checksum(anchor->data, anchor->len), ==, 0);
    g_assert_cmpuint(ld32(anchor->data + 12), ==, tables->len);
    g_byte_array_unref(tables);
    g_byte_array_unref(anchor);
}

static char *write_tmp(const void *data, size_t len)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("smbios-XXXXXX", &path, &err);

    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(path, data, len, NULL));
    return path;
}

static void test_smbios_file(void)
{
    /* a type 1 with one string, and type 11 with none */
    static const uint8_t good[] = {
        1, 27, 0x00, 0x01, 1,    0,    0, 0, [24] = 6, [27] = 'X',
        0, 0,  11,   5,    0x00, 0x0e, 0, 0, 0,
    };
    static const uint8_t no_terminator[] = {1, 4, 0, 1, 'a', 'b'};
    static const uint8_t bad_length[] = {1, 40, 0, 1, 0, 0};
    g_autofree char *gpath = write_tmp(good, sizeof(good));
    g_autofree char *npath = write_tmp(no_terminator, sizeof(no_terminator));
    g_autofree char *lpath = write_tmp(bad_length, sizeof(bad_length));
    g_autofree char *gopt = g_strdup_printf("file=%s", gpath);
    g_autofree char *nopt = g_strdup_printf("file=%s", npath);
    g_autofree char *lopt = g_strdup_printf("file=%s", lpath);
    GByteArray *tables, *anchor;
    Parsed p;

    /* the file's type 1 replaces the built one */
    g_autoptr(GPtrArray) opts = g_ptr_array_new();
    g_ptr_array_add(opts, gopt);
    SmbiosConfig cfg = {.options = opts,
                        .product = "P",
                        .version = "pc",
                        .smp_cpus = 1,
                        .max_cpus = 1,
                        .cores = 1,
                        .threads = 1,
                        .below_4g_mem_size = 128 << 20};
    g_autoptr(GError) err = NULL;
    g_assert_true(smbios_build(&cfg, &tables, &anchor, &err));
    parse_tables(tables, &p);
    g_assert_cmpuint(p.count[1], ==, 1);
    g_assert_cmpuint(p.count[11], ==, 1);
    g_assert_cmpuint(p.first[1][27], ==, 'X');
    g_byte_array_unref(tables);
    g_byte_array_unref(anchor);

    /* fields and a file for the same type conflict */
    g_ptr_array_add(opts, "type=1,serial=1");
    g_assert_false(smbios_build(&cfg, &tables, &anchor, &err));
    g_assert_nonnull(strstr(err->message, "fields already specified"));
    g_clear_error(&err);

    const char *broken[] = {nopt, lopt, "file=/nonexistent/smbios"};
    for (size_t i = 0; i < G_N_ELEMENTS(broken); i++) {
        g_ptr_array_set_size(opts, 0);
        g_ptr_array_add(opts, (gpointer)broken[i]);
        g_assert_false(smbios_build(&cfg, &tables, &anchor, &err));
        g_assert_nonnull(strstr(err->message, "-smbios file="));
        g_clear_error(&err);
    }
    unlink(gpath);
    unlink(npath);
    unlink(lpath);
}

/* --- ACPI for firmware --- */

static const uint8_t *find_in(const GByteArray *a, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= a->len; i++) {
        if (!memcmp(a->data + i, needle, n)) {
            return a->data + i;
        }
    }
    return NULL;
}

static void build_blobs(AcpiBuildBlobs *b, bool devices)
{
    static const uint32_t ids[2] = {0, 1};
    AcpiBuildConfig cfg = {
        .ncpus = 2,
        .apic_ids = ids,
        .pc_legacy = true,
        .rtc = true,
        .pm_base = X86_ACPI_PM_BASE,
        .hpet = devices,
        .pvpanic = devices,
    };
    g_autoptr(GError) err = NULL;

    g_assert_true(acpi_build_blobs(&cfg, b, &err));
    g_assert_no_error(err);
}

static void test_loader_places_tables(void)
{
    AcpiBuildBlobs b;
    g_autoptr(GError) err = NULL;

    build_blobs(&b, true);
    /* checksums are left to the loader */
    g_assert_cmpuint(b.rsdp->data[8], ==, 0);
    AcpiLoaderFile files[] = {
        {ACPI_BUILD_TABLE_FILE, b.tables->data, b.tables->len, 0x7ff0000},
        {ACPI_BUILD_RSDP_FILE, b.rsdp->data, b.rsdp->len, 0xf0010},
    };
    g_assert_true(
        acpi_loader_execute(b.loader->data, b.loader->len, files, 2, &err));
    g_assert_cmpuint(acpi_checksum(b.rsdp->data, 20), ==, 0);
    g_assert_cmpuint(acpi_checksum(b.rsdp->data, 36), ==, 0);
    uint64_t xsdt = ld64(b.rsdp->data + 24) - files[0].addr;
    const uint8_t *x = b.tables->data + xsdt;
    g_assert_cmpmem(x, 4, "XSDT", 4);
    bool hpet = false;
    for (uint32_t i = 36; i < ld32(x + 4); i += 8) {
        const uint8_t *t = b.tables->data + (ld64(x + i) - files[0].addr);
        g_assert_cmpuint(acpi_checksum(t, ld32(t + 4)), ==, 0);
        if (!memcmp(t, "HPET", 4)) {
            hpet = true;
            g_assert_cmphex(ld32(t + 36), ==, 0x8086a201);
            g_assert_cmphex(ld64(t + 44), ==, ACPI_HPET_BASE);
        }
        if (!memcmp(t, "FACP", 4)) {
            uint64_t dsdt = ld64(t + 140) - files[0].addr;
            g_assert_cmpuint(ld32(t + 40), ==, ld64(t + 140));
            g_assert_cmpmem(b.tables->data + dsdt, 4, "DSDT", 4);
            g_assert_cmpuint(ld32(t + 36) % 64, ==, 0); /* FACS */
        }
    }
    g_assert_true(hpet);
    /* the DSDT describes the HPET and pvpanic devices */
    g_assert_nonnull(find_in(b.tables, "HPET"));
    g_assert_nonnull(find_in(b.tables, "PEVT"));
    g_assert_nonnull(find_in(b.tables, "QEMU0001"));
    acpi_build_blobs_free(&b);

    /* without them, neither table nor device */
    build_blobs(&b, false);
    g_assert_null(find_in(b.tables, "PEVT"));
    g_assert_null(find_in(b.tables, "QEMU0001"));
    acpi_build_blobs_free(&b);
}

static void test_loader_refuses_bad_scripts(void)
{
    AcpiBuildBlobs b;
    g_autoptr(GError) err = NULL;

    build_blobs(&b, false);
    AcpiLoaderFile files[] = {
        {ACPI_BUILD_TABLE_FILE, b.tables->data, b.tables->len, 0x7ff0000},
        {ACPI_BUILD_RSDP_FILE, b.rsdp->data, b.rsdp->len, 0xf0010},
    };
    /* a missing file */
    g_assert_false(
        acpi_loader_execute(b.loader->data, b.loader->len, files, 1, &err));
    g_clear_error(&err);
    /* a misaligned allocation */
    files[0].addr = 0x7ff0010;
    g_assert_false(
        acpi_loader_execute(b.loader->data, b.loader->len, files, 2, &err));
    g_clear_error(&err);
    files[0].addr = 0x7ff0000;
    /* a truncated command, a pointer past a file's end */
    g_assert_false(acpi_loader_execute(b.loader->data, 100, files, 2, &err));
    g_clear_error(&err);
    uint8_t cmd[BIOS_LINKER_LOADER_ENTRY_SIZE] = {0};
    st32(cmd, BIOS_LINKER_LOADER_COMMAND_ADD_POINTER);
    strcpy((char *)cmd + 4, ACPI_BUILD_RSDP_FILE);
    strcpy((char *)cmd + 60, ACPI_BUILD_TABLE_FILE);
    st32(cmd + 116, 0xfffffffc);
    cmd[120] = 8;
    g_assert_false(acpi_loader_execute(cmd, sizeof(cmd), files, 2, &err));
    g_assert_nonnull(strstr(err->message, "outside"));
    g_clear_error(&err);
    acpi_build_blobs_free(&b);
}

static bool run(const char *dir, const char *cmd, char **out)
{
    g_auto(GStrv) argv = NULL;
    int status = -1;

    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert_true(g_spawn_sync(dir, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               out, NULL, &status, NULL));
    return g_spawn_check_wait_status(status, NULL);
}

/*
 * ACPICA's iasl (Debian's acpica-tools) disassembles every table and
 * compiles the DSDT back without errors. Skipped without iasl.
 */
static void test_iasl_accepts_tables(void)
{
    g_autofree char *iasl = g_find_program_in_path("iasl");
    g_autoptr(GError) err = NULL;
    AcpiBuildBlobs b;

    if (!iasl) {
        g_test_skip("iasl (Debian's acpica-tools) is not installed");
        return;
    }
    g_autofree char *dir = g_dir_make_tmp("acpi-XXXXXX", &err);
    g_assert_no_error(err);
    build_blobs(&b, true);
    AcpiLoaderFile files[] = {
        {ACPI_BUILD_TABLE_FILE, b.tables->data, b.tables->len, 0x7ff0000},
        {ACPI_BUILD_RSDP_FILE, b.rsdp->data, b.rsdp->len, 0xf0010},
    };
    g_assert_true(
        acpi_loader_execute(b.loader->data, b.loader->len, files, 2, &err));
    const uint8_t *x = b.tables->data + (ld64(b.rsdp->data + 24) - 0x7ff0000);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (uint32_t i = 36; i < ld32(x + 4); i += 8) {
        const uint8_t *t = b.tables->data + (ld64(x + i) - 0x7ff0000);
        g_ptr_array_add(names, g_strdup_printf("%.4s", (const char *)t));
        g_autofree char *path =
            g_strdup_printf("%s/%.4s.dat", dir, (const char *)t);
        g_assert_true(
            g_file_set_contents(path, (const char *)t, ld32(t + 4), NULL));
        if (!memcmp(t, "FACP", 4)) {
            const uint8_t *d = b.tables->data + (ld32(t + 40) - 0x7ff0000);
            g_autofree char *dp = g_strdup_printf("%s/DSDT.dat", dir);
            g_assert_true(
                g_file_set_contents(dp, (const char *)d, ld32(d + 4), NULL));
            g_ptr_array_add(names, g_strdup("DSDT"));
        }
    }
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *out = NULL;
        g_autofree char *cmd = g_strdup_printf(
            "iasl -d %s.dat", (char *)g_ptr_array_index(names, i));
        if (!run(dir, cmd, &out)) {
            g_test_message("%s", out);
            g_test_fail();
        }
    }
    g_autofree char *out = NULL;
    if (!run(dir, "iasl -p DSDT.recompiled DSDT.dsl", &out)) {
        g_test_message("%s", out);
        g_test_fail();
    }
    g_assert_nonnull(strstr(out, "0 Errors"));
    g_ptr_array_free(names, TRUE);
    acpi_build_blobs_free(&b);
    g_autofree char *rm = g_strdup_printf("rm -rf %s", dir);
    g_assert_true(run("/", rm, NULL));
}

/* --- fw_cfg's migration state --- */

typedef struct CfgMachine {
    Machine m;
    MemoryRegion io, mem;
} CfgMachine;

static void no_irq(void *opaque, int n, int level)
{
}

static void cm_init(CfgMachine *cm)
{
    memset(cm, 0, sizeof(*cm));
    io_machine_init(&cm->m, &cm->io, no_irq);
    /* no RAM: every DMA address is outside it */
    memory_region_init_container(&cm->mem, "memory", UINT64_MAX);
    address_space_init(&cm->m.as_mem, &cm->mem, "memory");
    g_assert_nonnull(fw_cfg_create_io(&cm->m, NULL));
}

static void cm_fini(CfgMachine *cm)
{
    address_space_destroy(&cm->m.as_mem);
    io_machine_fini(&cm->m, &cm->io);
    memory_region_destroy(&cm->mem);
}

static uint8_t data_byte(Machine *m)
{
    uint64_t v = 0;
    address_space_ld(&m->as_io, FW_CFG_IO_BASE + 1, 1, &v);
    return v;
}

static void exercise(Machine *m, GRand *r)
{
    vt_poke_ports(m, r, FW_CFG_IO_BASE, 12, 20);
    data_byte(m);
}

static void test_vmstate_keeps_position(void)
{
    CfgMachine a, b;

    cm_init(&a);
    cm_init(&b);
    address_space_st(&a.m.as_io, FW_CFG_IO_BASE, 2, FW_CFG_SIGNATURE);
    g_assert_cmpuint(data_byte(&a.m), ==, 'Q');
    g_assert_cmpuint(data_byte(&a.m), ==, 'E');
    g_autoptr(GByteArray) s = vt_save(&a.m);
    vt_load(&b.m, s);
    g_assert_cmpuint(data_byte(&b.m), ==, 'M');

    /* a key beyond the device's table reads as nothing */
    g_autoptr(GByteArray) bad = vt_save(&a.m);
    vt_patch(bad, vt_find(bad, "fw_cfg_io", 0, "cur_entry"), 2, 0x3fff);
    vt_load(&b.m, bad);
    g_assert_cmpuint(data_byte(&b.m), ==, 0);
    /* DMA with no RAM behind it: an error, nowhere to report it */
    address_space_st(&b.m.as_io, FW_CFG_DMA_IO_BASE + 4, 4, 0x00100000);

    vt_fuzz(&b.m, s, 200, exercise);
    cm_fini(&a);
    cm_fini(&b);
}

/* --- -kernel through firmware: QEMU's linuxboot items --- */

static uint32_t item_u32(Machine *m, uint16_t key)
{
    uint32_t v = 0;

    address_space_st(&m->as_io, FW_CFG_IO_BASE, 2, key);
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)data_byte(m) << (8 * i);
    }
    return v;
}

static void item_read(Machine *m, uint16_t key, uint32_t skip, void *buf,
                      size_t len)
{
    address_space_st(&m->as_io, FW_CFG_IO_BASE, 2, key);
    for (uint32_t i = 0; i < skip; i++) {
        data_byte(m);
    }
    for (size_t i = 0; i < len; i++) {
        ((uint8_t *)buf)[i] = data_byte(m);
    }
}

static void test_linuxboot_items(void)
{
    uint8_t k[0x2000] = {0};
    CfgMachine cm;
    g_autoptr(GError) err = NULL;
    uint8_t b[16];

    k[0x1f1] = 1; /* setup: 2 sectors */
    memcpy(k + 0x202, "HdrS", 4);
    st16(k + 0x206, 0x020f);
    k[0x211] = 0x01;             /* LOADED_HIGH */
    st32(k + 0x22c, 0x7fffffff); /* initrd_addr_max */
    k[0x400] = 0x5a;             /* first byte of the kernel */
    g_autofree char *kpath = write_tmp(k, sizeof(k));
    g_autofree char *ipath = write_tmp("initrd-data", 11);

    cm_init(&cm);
    cm.m.below_4g_mem_size = 128 << 20;
    cm.m.cfg.kernel = kpath;
    cm.m.cfg.initrd = ipath;
    cm.m.cfg.append = "console=ttyS0";
    g_assert_true(pc_fw_cfg_add_kernel(&cm.m, &err));
    g_assert_no_error(err);
    g_assert_cmphex(item_u32(&cm.m, FW_CFG_KERNEL_ADDR), ==, 0x100000);
    g_assert_cmphex(item_u32(&cm.m, FW_CFG_KERNEL_SIZE), ==, 0x2000 - 0x400);
    item_read(&cm.m, FW_CFG_KERNEL_DATA, 0, b, 1);
    g_assert_cmphex(b[0], ==, 0x5a);
    g_assert_cmphex(item_u32(&cm.m, FW_CFG_SETUP_ADDR), ==, 0x10000);
    g_assert_cmphex(item_u32(&cm.m, FW_CFG_SETUP_SIZE), ==, 0x400);
    item_read(&cm.m, FW_CFG_SETUP_DATA, 0x210, b, 2);
    g_assert_cmphex(b[0], ==, 0xb0); /* type_of_loader */
    g_assert_cmphex(b[1], ==, 0x81); /* LOADED_HIGH | CAN_USE_HEAP */
    item_read(&cm.m, FW_CFG_SETUP_DATA, 0x228, b, 4);
    g_assert_cmphex(ld32(b), ==, 0x20000); /* cmd_line_ptr */
    uint32_t initrd = item_u32(&cm.m, FW_CFG_INITRD_ADDR);
    /* page aligned, below the top 128 KiB of low RAM */
    g_assert_cmphex(initrd & 4095, ==, 0);
    g_assert_cmphex(initrd + 11, <=, (128 << 20) - 0x20000);
    g_assert_cmphex(initrd, >, (128 << 20) - 0x20000 - 8192);
    item_read(&cm.m, FW_CFG_SETUP_DATA, 0x218, b, 8);
    g_assert_cmphex(ld32(b), ==, initrd);
    g_assert_cmpuint(ld32(b + 4), ==, 11);
    g_assert_cmpuint(item_u32(&cm.m, FW_CFG_INITRD_SIZE), ==, 11);
    g_assert_cmpuint(item_u32(&cm.m, FW_CFG_CMDLINE_SIZE), ==, 14);
    item_read(&cm.m, FW_CFG_CMDLINE_DATA, 0, b, 14);
    g_assert_cmpmem(b, 14, "console=ttyS0", 14);
    cm_fini(&cm);

    /* boot protocol 2.01: too old for linuxboot */
    st16(k + 0x206, 0x0201);
    g_autofree char *old = write_tmp(k, sizeof(k));
    cm_init(&cm);
    cm.m.below_4g_mem_size = 128 << 20;
    cm.m.cfg.kernel = old;
    g_assert_false(pc_fw_cfg_add_kernel(&cm.m, &err));
    g_assert_nonnull(strstr(err->message, "too old"));
    cm_fini(&cm);
    unlink(kpath);
    unlink(ipath);
    unlink(old);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fw-tables/smbios/option-errors",
                    test_smbios_option_errors);
    g_test_add_func("/fw-tables/smbios/structures", test_smbios_structures);
    g_test_add_func("/fw-tables/smbios/file", test_smbios_file);
    g_test_add_func("/fw-tables/acpi/loader-places-tables",
                    test_loader_places_tables);
    g_test_add_func("/fw-tables/acpi/loader-refuses-bad-scripts",
                    test_loader_refuses_bad_scripts);
    g_test_add_func("/fw-tables/fw_cfg/vmstate-keeps-position",
                    test_vmstate_keeps_position);
    g_test_add_func("/fw-tables/fw_cfg/linuxboot-items", test_linuxboot_items);
    g_test_add_func("/fw-tables/acpi/iasl-accepts-tables",
                    test_iasl_accepts_tables);
    return g_test_run();
}
