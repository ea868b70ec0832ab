/*
 * The PC's fw_cfg contents, as QEMU's pc gives them to SeaBIOS and OVMF:
 * the items of fw_cfg.rst, QEMU's x86 arch-local items, and the files
 * "etc/e820", "bootorder", "etc/boot-*", SMBIOS, ACPI and -fw_cfg's.
 */
#include <string.h>

#include "hw/acpi/piix4.h"
#include "hw/i386/acpi.h"
#include "hw/i386/smbios.h"
#include "hw/i386/x86.h"
#include "hw/nvram/fw_cfg.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

/* QEMU's legacy FW_CFG_E820_TABLE: be-count of reservations, 16 slots */
#define E820_TABLE_SLOTS 16
/* FW_CFG_HPET: u8 count, then 8 x {u32 id, u64 address, u16 tick, u8 prot} */
#define HPET_FW_ENTRY_SIZE 15
#define HPET_FW_CFG_SIZE (1 + 8 * HPET_FW_ENTRY_SIZE)
#define HPET_EVENT_TIMER_BLOCK_ID 0x8086a201
#define HPET_MIN_TICK 100

/* linuxboot layout (QEMU's x86 firmware path) */
#define LINUXBOOT_REAL_ADDR 0x10000
#define LINUXBOOT_CMDLINE_ADDR 0x20000
#define LINUXBOOT_PROT_ADDR 0x100000
#define LINUXBOOT_ACPI_DATA_SIZE 0x20000 /* kept free below low RAM top */
#define LINUX_SETUP_SECTS 0x1f1
#define LINUX_HEADER_MAGIC 0x202
#define LINUX_VERSION 0x206
#define LINUX_TYPE_OF_LOADER 0x210
#define LINUX_LOADFLAGS 0x211
#define LINUX_RAMDISK_IMAGE 0x218
#define LINUX_RAMDISK_SIZE 0x21c
#define LINUX_HEAP_END_PTR 0x224
#define LINUX_CMD_LINE_PTR 0x228
#define LINUX_INITRD_ADDR_MAX 0x22c
#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80

static bool read_file(const char *what, const char *path, gsize max,
                      char **data, gsize *len, GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, data, len, &err)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: can't load %s: %s", what, path,
                    err->message);
        return false;
    }
    if (*len > max) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: %s is larger than %" G_GSIZE_FORMAT " MiB", what, path,
                    max >> 20);
        g_free(*data);
        *data = NULL;
        return false;
    }
    return true;
}

/* --- -fw_cfg --- */

static bool user_option_parse(const char *arg, Opts **out, GError **errp)
{
    Opts *o = opts_parse(arg, "name", errp);
    const char *name, *file, *str;

    if (!o) {
        return false;
    }
    name = opts_get(o, "name");
    file = opts_get(o, "file");
    str = opts_get(o, "string");
    if (opts_get(o, "gen_id")) {
        g_set_error(errp, VIREO_ERROR, 0, "gen_id= is not supported");
        goto fail;
    }
    if (!opts_check_unused(o, "-fw_cfg", errp)) {
        goto fail;
    }
    if (!name || !*name || (file && *file) + (str && *str) != 1) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "name, plus exactly one of file and string, are needed");
        goto fail;
    }
    if (strlen(name) > FW_CFG_MAX_FILE_PATH - 1) {
        g_set_error(errp, VIREO_ERROR, 0, "name too long (max. %d char)",
                    FW_CFG_MAX_FILE_PATH - 1);
        goto fail;
    }
    *out = o;
    return true;
fail:
    opts_free(o);
    return false;
}

bool fw_cfg_check_user_option(const char *arg, GError **errp)
{
    Opts *o;

    if (!user_option_parse(arg, &o, errp)) {
        g_prefix_error(errp, "-fw_cfg %s: ", arg);
        return false;
    }
    if (strncmp(opts_get(o, "name"), "opt/", 4)) {
        log_warn("-fw_cfg %s: externally provided fw_cfg item names should "
                 "be prefixed with \"opt/\"",
                 arg);
    }
    opts_free(o);
    return true;
}

static bool add_user_files(Machine *m, FWCfgState *s, GError **errp)
{
    for (guint i = 0; m->cfg.fw_cfg_files && i < m->cfg.fw_cfg_files->len;
         i++) {
        const char *arg = g_ptr_array_index(m->cfg.fw_cfg_files, i);
        g_autofree char *data = NULL;
        gsize len;
        Opts *o;
        bool ok;

        if (!user_option_parse(arg, &o, errp)) {
            g_prefix_error(errp, "-fw_cfg %s: ", arg);
            return false;
        }
        const char *str = opts_get(o, "string");
        if (str && *str) {
            /* as QEMU: the string's bytes, without a NUL */
            data = g_strdup(str);
            len = strlen(str);
            ok = true;
        } else {
            ok = read_file("-fw_cfg", opts_get(o, "file"), FW_CFG_USER_FILE_MAX,
                           &data, &len, errp);
        }
        ok = ok && fw_cfg_add_file(s, opts_get(o, "name"), data, len, errp);
        if (!ok) {
            g_prefix_error(errp, "-fw_cfg %s: ", arg);
        }
        opts_free(o);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* --- -boot --- */

/* "etc/boot-menu-wait", the splash image and "etc/boot-fail-wait" */
static bool add_boot_files(Machine *m, FWCfgState *s, GError **errp)
{
    const MachineConfig *c = &m->cfg;
    uint8_t b[4];

    fw_cfg_add_i16(s, FW_CFG_BOOT_MENU, c->boot_menu);
    fw_cfg_add_i16(s, FW_CFG_BOOT_DEVICE,
                   (uint8_t)(c->boot_order ? c->boot_order[0] : 'c'));
    if (c->boot_splash_time >= 0) {
        st16(b, c->boot_splash_time);
        if (!fw_cfg_add_file(s, "etc/boot-menu-wait", b, 2, errp)) {
            return false;
        }
    }
    if (c->boot_splash) {
        g_autofree char *data = NULL;
        gsize len;
        const uint8_t *p;
        const char *name;

        if (!read_file("-boot splash", c->boot_splash, 16u << 20, &data, &len,
                       errp)) {
            return false;
        }
        p = (const uint8_t *)data;
        if (len >= 2 && p[0] == 0xff && p[1] == 0xd8) {
            name = "bootsplash.jpg";
        } else if (len >= 2 && p[0] == 'B' && p[1] == 'M') {
            name = "bootsplash.bmp";
        } else {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-boot splash=%s: not a JPEG or BMP file",
                        c->boot_splash);
            return false;
        }
        if (!fw_cfg_add_file(s, name, data, len, errp)) {
            return false;
        }
    }
    /* -1 (the default) tells SeaBIOS never to reboot after a failed boot */
    st32(b, (uint32_t)c->boot_reboot_timeout);
    return fw_cfg_add_file(s, "etc/boot-fail-wait", b, 4, errp);
}

static gint boot_device_cmp(gconstpointer a, gconstpointer b)
{
    const BootDevice *x = a, *y = b;
    return x->bootindex < y->bootindex ? -1 : x->bootindex > y->bootindex;
}

/* "bootorder": OF paths by bootindex, one a line; strict adds "HALT". */
static void update_bootorder(Machine *m, FWCfgState *s)
{
    g_autoptr(GArray) devs = g_array_copy(m->boot_devices);
    g_autoptr(GString) list = g_string_new(NULL);

    g_array_sort(devs, boot_device_cmp);
    for (guint i = 0; i < devs->len; i++) {
        if (i) {
            g_string_append_c(list, '\n');
        }
        g_string_append(list, g_array_index(devs, BootDevice, i).of_path);
    }
    if (devs->len && m->cfg.boot_strict) {
        g_string_append(list, "\nHALT");
    }
    fw_cfg_modify_file(s, "bootorder", list->str,
                       list->len ? list->len + 1 : 0);
}

/* --- memory, CPUs, HPET --- */

static void add_e820(Machine *m, FWCfgState *s)
{
    uint8_t table[2 * sizeof(E820Entry)];
    uint8_t legacy[4 + E820_TABLE_SLOTS * sizeof(E820Entry)] = {0};
    size_t n = 0;

    /* the firmware path: RAM only; SeaBIOS reserves what it uses itself */
    st64(table, 0);
    st64(table + 8, m->below_4g_mem_size);
    st32(table + 16, E820_RAM);
    n++;
    if (m->above_4g_mem_size) {
        st64(table + 20, 1ULL << 32);
        st64(table + 28, m->above_4g_mem_size);
        st32(table + 36, E820_RAM);
        n++;
    }
    fw_cfg_modify_file(s, "etc/e820", table, n * sizeof(E820Entry));
    /* old firmware's table of reservations: none on this machine */
    fw_cfg_add_bytes(s, FW_CFG_E820_TABLE, legacy, sizeof(legacy));
}

static bool machine_has_device(Machine *m, const char *type)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (!strcmp(d->cls->name, type)) {
            return true;
        }
    }
    return false;
}

static void add_hpet(Machine *m, FWCfgState *s)
{
    uint8_t cfg[HPET_FW_CFG_SIZE] = {0};

    if (machine_has_device(m, "hpet")) {
        cfg[0] = 1;
        st32(cfg + 1, HPET_EVENT_TIMER_BLOCK_ID);
        st64(cfg + 5, ACPI_HPET_BASE);
        st16(cfg + 13, HPET_MIN_TICK);
    }
    fw_cfg_add_bytes(s, FW_CFG_HPET, cfg, sizeof(cfg));
}

/* --- ACPI and SMBIOS --- */

static void update_acpi(Machine *m, FWCfgState *s)
{
    g_autofree uint32_t *apic_ids = g_new0(uint32_t, MAX(m->ncpus, 1));
    AcpiBuildBlobs b;
    GError *err = NULL;

    for (int i = 0; i < m->ncpus; i++) {
        apic_ids[i] = m->cpus && m->cpus[i] ? m->cpus[i]->apic_id : i;
    }
    AcpiBuildConfig cfg = {
        .ncpus = MAX(m->ncpus, 1),
        .apic_ids = apic_ids,
        .pc_legacy = true,
        /* where firmware placed the PM block (pc: PIIX4 PMBA), else 0x600 */
        .pm_base = piix4_pm_acpi_base(m),
    };
    acpi_build_add_machine_devices(m, &cfg);
    if (!acpi_build_blobs(&cfg, &b, &err)) {
        log_error("fw_cfg: ACPI tables: %s", err->message);
        g_error_free(err);
        return;
    }
    /* the PM base changes values only, never a table's size */
    fw_cfg_modify_file(s, ACPI_BUILD_TABLE_FILE, b.tables->data, b.tables->len);
    fw_cfg_modify_file(s, ACPI_BUILD_RSDP_FILE, b.rsdp->data, b.rsdp->len);
    fw_cfg_modify_file(s, ACPI_BUILD_LOADER_FILE, b.loader->data,
                       b.loader->len);
    acpi_build_blobs_free(&b);
}

static bool add_smbios(Machine *m, FWCfgState *s, GError **errp)
{
    g_autoptr(GByteArray) tables = NULL;
    g_autoptr(GByteArray) anchor = NULL;
    SmbiosConfig cfg = {
        .options = m->cfg.smbios,
        .uuid = m->cfg.uuid,
        .product = m->cls->desc,
        .version = m->cls->name,
        .smp_cpus = m->cfg.smp_cpus,
        .max_cpus = m->cfg.smp_max_cpus,
        .cores = m->cfg.cores,
        .threads = m->cfg.threads,
        .below_4g_mem_size = m->below_4g_mem_size,
        .above_4g_mem_size = m->above_4g_mem_size,
    };

    if (!smbios_build(&cfg, &tables, &anchor, errp)) {
        return false;
    }
    return fw_cfg_add_file(s, SMBIOS_TABLES_FILE, tables->data, tables->len,
                           errp) &&
           fw_cfg_add_file(s, SMBIOS_ANCHOR_FILE, anchor->data, anchor->len,
                           errp);
}

/*
 * Firmware reads the tables after it programmed the chipset, and the FADT
 * must name the PM base it chose (OVMF puts PIIX4's at 0xb000): rebuilt
 * when firmware first selects them after a reset, as QEMU does.
 */
static void acpi_tables_selected(FWCfgState *s, void *opaque)
{
    update_acpi(opaque, s);
}

/* What depends on the devices, once they all exist. */
static void pc_fw_cfg_machine_done(FWCfgState *s, void *opaque)
{
    Machine *m = opaque;

    update_bootorder(m, s);
    add_hpet(m, s);
    if (m->cfg.acpi) {
        update_acpi(m, s);
        fw_cfg_set_file_select_hook(s, ACPI_BUILD_TABLE_FILE,
                                    acpi_tables_selected, m);
    }
}

/* FW_CFG_UUID: the 16 bytes in the order the canonical form writes them */
static void add_uuid(Machine *m, FWCfgState *s)
{
    uint8_t raw[16] = {0};
    unsigned n = 0;

    for (const char *c = m->cfg.uuid; c && *c && n < 32; c++) {
        if (g_ascii_isxdigit(*c)) {
            raw[n / 2] |= g_ascii_xdigit_value(*c) << (n % 2 ? 0 : 4);
            n++;
        }
    }
    fw_cfg_add_bytes(s, FW_CFG_UUID, raw, sizeof(raw));
}

/* --- -kernel under firmware --- */

bool pc_fw_cfg_add_kernel(Machine *m, GError **errp)
{
    FWCfgState *s = m->fw_cfg;
    g_autofree char *kernel = NULL, *initrd = NULL;
    gsize klen, ilen = 0;
    const char *cmdline = m->cfg.append ? m->cfg.append : "";

    if (!s || !m->cfg.kernel) {
        return true;
    }
    if (!read_file("-kernel", m->cfg.kernel, 1u << 30, &kernel, &klen, errp)) {
        return false;
    }
    uint8_t *k = (uint8_t *)kernel;
    if (klen < 0x1000 || memcmp(k + LINUX_HEADER_MAGIC, "HdrS", 4)) {
        return true; /* not a bzImage: nothing for linuxboot */
    }
    uint16_t protocol = ld16(k + LINUX_VERSION);
    if (protocol < 0x202 || !(k[LINUX_LOADFLAGS] & LOADED_HIGH)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-kernel %s: boot protocol %x.%02x is too old for "
                    "firmware boot (2.02 and a bzImage needed)",
                    m->cfg.kernel, protocol >> 8, protocol & 0xff);
        return false;
    }
    size_t setup_size =
        ((k[LINUX_SETUP_SECTS] ? k[LINUX_SETUP_SECTS] : 4) + 1) * 512;
    if (setup_size >= klen ||
        setup_size > LINUXBOOT_CMDLINE_ADDR - LINUXBOOT_REAL_ADDR) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-kernel %s: the setup code (%zu bytes) does not fit",
                    m->cfg.kernel, setup_size);
        return false;
    }
    if (strlen(cmdline) + 1 > 0x10000) {
        g_set_error(errp, VIREO_ERROR, 0, "-append: longer than 64 KiB");
        return false;
    }
    if (m->cfg.initrd) {
        uint32_t max =
            protocol >= 0x203 ? ld32(k + LINUX_INITRD_ADDR_MAX) : 0x37ffffff;
        uint64_t low_top = m->below_4g_mem_size - LINUXBOOT_ACPI_DATA_SIZE;
        if (max >= low_top) {
            max = low_top - 1;
        }
        if (!read_file("-initrd", m->cfg.initrd, 1u << 31, &initrd, &ilen,
                       errp)) {
            return false;
        }
        if (ilen > max || max - ilen < LINUXBOOT_PROT_ADDR + klen) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-initrd %s: too large for the RAM below 0x%x",
                        m->cfg.initrd, max + 1);
            return false;
        }
        uint32_t addr = (max - ilen) & ~4095u;
        st32(k + LINUX_RAMDISK_IMAGE, addr);
        st32(k + LINUX_RAMDISK_SIZE, ilen);
        fw_cfg_add_i32(s, FW_CFG_INITRD_ADDR, addr);
        fw_cfg_add_i32(s, FW_CFG_INITRD_SIZE, ilen);
        fw_cfg_add_bytes(s, FW_CFG_INITRD_DATA, initrd, ilen);
    }
    k[LINUX_TYPE_OF_LOADER] = 0xb0; /* QEMU */
    k[LINUX_LOADFLAGS] |= CAN_USE_HEAP;
    st16(k + LINUX_HEAP_END_PTR,
         LINUXBOOT_CMDLINE_ADDR - LINUXBOOT_REAL_ADDR - 0x200);
    st32(k + LINUX_CMD_LINE_PTR, LINUXBOOT_CMDLINE_ADDR);

    fw_cfg_add_i32(s, FW_CFG_KERNEL_ADDR, LINUXBOOT_PROT_ADDR);
    fw_cfg_add_i32(s, FW_CFG_KERNEL_SIZE, klen - setup_size);
    fw_cfg_add_bytes(s, FW_CFG_KERNEL_DATA, k + setup_size, klen - setup_size);
    fw_cfg_add_i32(s, FW_CFG_CMDLINE_ADDR, LINUXBOOT_CMDLINE_ADDR);
    fw_cfg_add_i32(s, FW_CFG_CMDLINE_SIZE, strlen(cmdline) + 1);
    fw_cfg_add_string(s, FW_CFG_CMDLINE_DATA, cmdline);
    fw_cfg_add_i32(s, FW_CFG_SETUP_ADDR, LINUXBOOT_REAL_ADDR);
    fw_cfg_add_i32(s, FW_CFG_SETUP_SIZE, setup_size);
    fw_cfg_add_bytes(s, FW_CFG_SETUP_DATA, k, setup_size);
    return true;
}

bool pc_fw_cfg_init(Machine *m, GError **errp)
{
    const MachineConfig *c = &m->cfg;
    FWCfgState *s = fw_cfg_create_io(m, errp);

    if (!s) {
        return false;
    }
    if (c->uuid) {
        add_uuid(m, s);
    }
    fw_cfg_add_i16(s, FW_CFG_NOGRAPHIC, c->nographic);
    fw_cfg_add_i16(s, FW_CFG_NB_CPUS, m->ncpus);
    /* one past the highest APIC ID -smp maxcpus= allows */
    fw_cfg_add_i16(s, FW_CFG_MAX_CPUS,
                   machine_apic_id(c, MAX(c->smp_max_cpus, 1) - 1) + 1);
    fw_cfg_add_i64(s, FW_CFG_RAM_SIZE, c->ram_size);
    fw_cfg_add_bytes(s, FW_CFG_ACPI_TABLES, NULL, 0); /* no -acpitable */
    fw_cfg_add_i32(s, FW_CFG_IRQ0_OVERRIDE, 1);
    add_e820(m, s);
    add_hpet(m, s);
    /*
     * Files made at the first reset, claimed now so a -fw_cfg of the same
     * name is a clear error rather than a silent replacement.
     */
    if (!fw_cfg_add_file(s, "bootorder", NULL, 0, errp) ||
        (c->acpi &&
         (!fw_cfg_add_file(s, ACPI_BUILD_TABLE_FILE, NULL, 0, errp) ||
          !fw_cfg_add_file(s, ACPI_BUILD_RSDP_FILE, NULL, 0, errp) ||
          !fw_cfg_add_file(s, ACPI_BUILD_LOADER_FILE, NULL, 0, errp))) ||
        !add_boot_files(m, s, errp) || !add_smbios(m, s, errp) ||
        !add_user_files(m, s, errp)) {
        return false;
    }
    if (c->kernel && m->bios && !pc_fw_cfg_add_kernel(m, errp)) {
        return false;
    }
    fw_cfg_set_machine_done(s, pc_fw_cfg_machine_done, m);
    return true;
}
