/*
 * The PC's firmware: a BIOS image (-bios) read-only at the top of the
 * 4 GiB space (where the reset vector fetches), or the system flash of
 * -drive if=pflash (unit 0 ending at 4 GiB, unit 1 below it, as QEMU maps
 * OVMF's code and variable store); either way the last 128 KiB also at
 * 0xE0000-0xFFFFF, the "isa-bios" view the chipset's PAM registers can
 * shadow with RAM.
 */
#include <string.h>

#include "block/block.h"
#include "hw/block/flash.h"
#include "hw/i386/x86.h"
#include "hw/loader.h"
#include "util/opts.h"

#define BIOS_MAX_SIZE   (16u << 20)
#define ISA_BIOS_MAX    (128u << 10)
#define FLASH_MAX_TOTAL (8u << 20)  /* QEMU's limit for pc and q35 */
#define FLASH_UNITS     2

/*
 * OVMF's secure-boot builds require SMM (SMM_REQUIRE), which Vireo lacks:
 * they would stop early in PEI. Debian ships them as OVMF_CODE*.secboot.fd
 * and the links OVMF_CODE*.ms.fd and *.snakeoil.fd to it; the file name
 * (of the path or its link target) is the only mark we can rely on.
 */
static bool is_secure_boot_image(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *target = g_file_read_link(path, NULL);
    g_autofree char *tbase = target ? g_path_get_basename(target) : NULL;

    for (const char *n = base; n; n = n == base ? tbase : NULL) {
        if (strstr(n, "secboot") || strstr(n, ".ms.") ||
            strstr(n, "snakeoil")) {
            return true;
        }
    }
    return false;
}

static bool refuse_secure_boot(const char *what, const char *path,
                               GError **errp)
{
    if (!is_secure_boot_image(path)) {
        return true;
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "%s%s: a secure-boot OVMF build needs SMM, which Vireo "
                "does not emulate; use OVMF_CODE_4M.fd (Debian's 'ovmf' "
                "package) instead", what, path);
    return false;
}

/* Maps the last 128 KiB (or less) of region, of size len, below 1 MiB. */
static void map_isa_bios(Machine *m, MemoryRegion *region, uint64_t len)
{
    uint64_t isa_len = MIN(len, ISA_BIOS_MAX);

    m->isa_bios = g_new0(MemoryRegion, 1);
    memory_region_init_alias(m->isa_bios, "isa-bios", region, len - isa_len,
                             isa_len);
    /* above RAM; the PAM's shadow RAM (priority 2) goes above it */
    memory_region_add_subregion_overlap(m->sysmem, 0x100000 - isa_len,
                                        m->isa_bios, 1);
}

bool x86_bios_init(Machine *m, const char *default_name, GError **errp)
{
    const char *name = m->cfg.bios ? m->cfg.bios : default_name;
    g_autofree char *data = NULL;
    gsize len;

    if (m->cfg.bios && !refuse_secure_boot("-bios ", m->cfg.bios, errp)) {
        return false;
    }
    if (!firmware_load(name, BIOS_MAX_SIZE, &data, &len, errp)) {
        g_prefix_error(errp, "-bios: ");
        return false;
    }
    /* the image ends at 4 GiB; the reset vector is its last 16 bytes */
    if (len % 65536) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-bios %s: the image is %" G_GSIZE_FORMAT " bytes, not "
                    "a multiple of 64 KiB", name, len);
        return false;
    }
    MemoryRegion *bios = g_new0(MemoryRegion, 1);
    if (!memory_region_init_ram(bios, "pc.bios", len, errp)) {
        g_free(bios);
        return false;
    }
    m->bios = bios;
    memcpy(memory_region_get_ram_ptr(m->bios), data, len);
    memory_region_set_readonly(m->bios, true);
    memory_region_add_subregion(m->sysmem, (1ULL << 32) - len, m->bios);
    map_isa_bios(m, m->bios, len);
    return true;
}

/* The if=pflash drives by unit; refuses units the board lacks and gaps. */
static bool find_flash_units(BlockBackend **units, GError **errp)
{
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (blk_get_if(blk) == IF_PFLASH && blk_get_index(blk) >= FLASH_UNITS) {
            g_set_error(errp, VIREO_ERROR, 0, "-drive %s: machine type does "
                        "not support if=pflash,bus=0,unit=%d", blk_name(blk),
                        blk_get_index(blk));
            return false;
        }
    }
    for (int i = 0; i < FLASH_UNITS; i++) {
        units[i] = blk_by_index(IF_PFLASH, i);
        if (i > 0 && units[i] && !units[i - 1]) {
            g_set_error(errp, VIREO_ERROR, 0, "pflash%d requires pflash%d",
                        i, i - 1);
            return false;
        }
    }
    return true;
}

/* QEMU's rules for the system flash: 4 KiB multiples, 8 MiB in all. */
static bool check_flash_sizes(BlockBackend **units, uint64_t *total,
                              GError **errp)
{
    *total = 0;
    for (int i = 0; i < FLASH_UNITS && units[i]; i++) {
        int64_t len = blk_getlength(units[i]);
        if (len <= 0 || len % PFLASH_CFI01_SECTOR_SIZE) {
            g_set_error(errp, VIREO_ERROR, 0, "system firmware block device "
                        "pflash%d has invalid size %" G_GINT64_FORMAT "; its "
                        "size must be a non-zero multiple of 0x%x", i, len,
                        PFLASH_CFI01_SECTOR_SIZE);
            return false;
        }
        *total += len;
    }
    if (*total > FLASH_MAX_TOTAL) {
        g_set_error(errp, VIREO_ERROR, 0, "combined size of system firmware "
                    "exceeds %u bytes", FLASH_MAX_TOTAL);
        return false;
    }
    return true;
}

/*
 * The flash units as cfi.pflash01 devices in one "system.flash" container
 * ending at 4 GiB: unit 0 at the top (the reset vector is in it), unit 1
 * below. m->bios is the container. The devices come first, so that a
 * failure leaves nothing mapped (the machine frees the devices).
 */
static bool map_flash(Machine *m, BlockBackend **units, uint64_t total,
                      GError **errp)
{
    MemoryRegion *mr[FLASH_UNITS] = { NULL };
    uint64_t top = total;

    for (int i = 0; i < FLASH_UNITS && units[i]; i++) {
        g_autofree char *name = g_strdup_printf("system.flash%d", i);
        Device *dev = x86_create_device(m, TYPE_PFLASH_CFI01, errp, "drive",
                                        blk_name(units[i]), "name", name,
                                        NULL);
        if (!dev) {
            return false;
        }
        mr[i] = pflash_cfi01_get_memory(dev);
    }
    m->bios = g_new0(MemoryRegion, 1);
    memory_region_init_container(m->bios, "system.flash", total);
    for (int i = 0; i < FLASH_UNITS && mr[i]; i++) {
        top -= mr[i]->size;
        memory_region_add_subregion(m->bios, top, mr[i]);
    }
    memory_region_add_subregion(m->sysmem, (1ULL << 32) - total, m->bios);
    map_isa_bios(m, mr[0], mr[0]->size);
    return true;
}

bool x86_firmware_init(Machine *m, const char *default_bios, GError **errp)
{
    BlockBackend *units[FLASH_UNITS];
    uint64_t total;

    if (!find_flash_units(units, errp)) {
        return false;
    }
    if (!units[0]) {
        return x86_bios_init(m, default_bios, errp);
    }
    if (m->cfg.bios) {
        g_set_error(errp, VIREO_ERROR, 0, "-bios %s cannot be used with "
                    "-drive if=pflash,unit=0: both give the firmware",
                    m->cfg.bios);
        return false;
    }
    return refuse_secure_boot("-drive if=pflash,unit=0,file=",
                              blk_get_filename(units[0]), errp) &&
           check_flash_sizes(units, &total, errp) &&
           map_flash(m, units, total, errp);
}

bool x86_firmware_given(Machine *m)
{
    return m->cfg.bios || blk_by_index(IF_PFLASH, 0);
}
