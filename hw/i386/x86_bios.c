/*
 * The PC's BIOS image: read-only at the top of the 4 GiB space (where the
 * reset vector fetches), and its last 128 KiB also at 0xE0000-0xFFFFF, the
 * "isa-bios" view that the chipset's PAM registers can shadow with RAM.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/loader.h"
#include "util/opts.h"

#define BIOS_MAX_SIZE   (16u << 20)
#define ISA_BIOS_MAX    (128u << 10)

bool x86_bios_init(Machine *m, const char *default_name, GError **errp)
{
    const char *name = m->cfg.bios ? m->cfg.bios : default_name;
    g_autofree char *data = NULL;
    gsize len;

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
    m->isa_bios = g_new0(MemoryRegion, 1);
    memcpy(memory_region_get_ram_ptr(m->bios), data, len);
    memory_region_set_readonly(m->bios, true);
    memory_region_add_subregion(m->sysmem, (1ULL << 32) - len, m->bios);

    gsize isa_len = MIN(len, ISA_BIOS_MAX);
    memory_region_init_alias(m->isa_bios, "isa-bios", m->bios, len - isa_len,
                             isa_len);
    /* above RAM; the PAM's shadow RAM (priority 2) goes above it */
    memory_region_add_subregion_overlap(m->sysmem, 0x100000 - isa_len,
                                        m->isa_bios, 1);
    return true;
}
