/*
 * The migration stream's header, RAM records and sections, as
 * docs/migration.md describes them. The reading side treats every value
 * as hostile: indexes, counts and lengths are checked before use.
 */
#include <string.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "stream.h"
#include "system/memory.h"
#include "util/opts.h"

#define NAME_MAX_LEN 1024

static uint64_t block_pages(const MemoryRegion *mr)
{
    return (mr->size + MIG_PAGE_SIZE - 1) / MIG_PAGE_SIZE;
}

void mig_ram_init(MigRam *r)
{
    const GPtrArray *all = memory_ram_regions();

    r->nblocks = all->len;
    r->blocks = g_new0(MemoryRegion *, all->len + 1);
    r->bitmaps = g_new0(uint64_t *, all->len + 1);
    for (guint i = 0; i < all->len; i++) {
        r->blocks[i] = g_ptr_array_index(all, i);
        r->bitmaps[i] = g_new0(uint64_t, (block_pages(r->blocks[i]) + 63) /
                                         64 + 1);
    }
}

void mig_ram_clear(MigRam *r)
{
    for (guint i = 0; i < r->nblocks; i++) {
        g_free(r->bitmaps[i]);
    }
    g_free(r->bitmaps);
    g_free(r->blocks);
    memset(r, 0, sizeof(*r));
}

void mig_ram_mark_all(MigRam *r)
{
    for (guint i = 0; i < r->nblocks; i++) {
        uint64_t pages = block_pages(r->blocks[i]);
        memset(r->bitmaps[i], 0xff, pages / 64 * 8);
        if (pages % 64) {
            r->bitmaps[i][pages / 64] = (1ULL << (pages % 64)) - 1;
        }
    }
}

uint64_t mig_ram_total_bytes(const MigRam *r)
{
    uint64_t n = 0;

    for (guint i = 0; i < r->nblocks; i++) {
        n += r->blocks[i]->size;
    }
    return n;
}

/* ---- header ---- */

static guint migrated_devices(Machine *m)
{
    guint n = 0;

    for (Device *d = m->devices; d; d = d->next) {
        n += d->cls->vmsd != NULL;
    }
    return n;
}

bool mig_header_write(MigChannel *c, Machine *m, const MigRam *r,
                      uint32_t flags, GError **errp)
{
    if (!mig_put(c, MIG_MAGIC, 8, errp) ||
        !mig_put_u32(c, MIG_VERSION, errp) || !mig_put_u32(c, flags, errp) ||
        !mig_put_str(c, m->cls->name, errp) ||
        !mig_put_u32(c, m->ncpus, errp) ||
        !mig_put_str(c, m->cfg.cpu_model ? m->cfg.cpu_model : "", errp) ||
        !mig_put_u32(c, migrated_devices(m), errp)) {
        return false;
    }
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls->vmsd && (!mig_put_str(c, d->cls->name, errp) ||
                             !mig_put_str(c, d->id ? d->id : "", errp))) {
            return false;
        }
    }
    if (!mig_put_u16(c, r->nblocks, errp)) {
        return false;
    }
    for (guint i = 0; i < r->nblocks; i++) {
        if (!mig_put_str(c, r->blocks[i]->name, errp) ||
            !mig_put_u64(c, r->blocks[i]->size, errp)) {
            return false;
        }
    }
    return true;
}

static bool read_identity(MigChannel *c, Machine *m, uint32_t *flags,
                          GError **errp)
{
    char magic[8];
    uint32_t version, ncpus;
    g_autofree char *machine = NULL, *cpu = NULL;

    if (!mig_get(c, magic, 8, errp)) {
        return false;
    }
    if (memcmp(magic, MIG_MAGIC, 8)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "not a Vireo migration stream (bad magic)");
        return false;
    }
    if (!mig_get_u32(c, &version, errp) || !mig_get_u32(c, flags, errp)) {
        return false;
    }
    if (version != MIG_VERSION) {
        g_set_error(errp, VIREO_ERROR, 0, "migration stream version %u is "
                    "not supported (this build reads version %d)", version,
                    MIG_VERSION);
        return false;
    }
    if (!(machine = mig_get_str(c, NAME_MAX_LEN, errp)) ||
        !mig_get_u32(c, &ncpus, errp) ||
        !(cpu = mig_get_str(c, NAME_MAX_LEN, errp))) {
        return false;
    }
    if (strcmp(machine, m->cls->name)) {
        g_set_error(errp, VIREO_ERROR, 0, "the source is machine '%s', this "
                    "VM is '%s'", machine, m->cls->name);
        return false;
    }
    if (ncpus != (uint32_t)m->ncpus) {
        g_set_error(errp, VIREO_ERROR, 0, "the source has %u vCPUs, this "
                    "VM %d (-smp differs)", ncpus, m->ncpus);
        return false;
    }
    if (strcmp(cpu, m->cfg.cpu_model ? m->cfg.cpu_model : "")) {
        g_set_error(errp, VIREO_ERROR, 0, "the source's CPU model is '%s', "
                    "this VM's '%s'", cpu, m->cfg.cpu_model);
        return false;
    }
    return true;
}

static bool read_devices(MigChannel *c, Machine *m, GError **errp)
{
    uint32_t n;
    Device *d = m->devices;

    if (!mig_get_u32(c, &n, errp)) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        g_autofree char *cls = mig_get_str(c, NAME_MAX_LEN, errp);
        g_autofree char *id = cls ? mig_get_str(c, NAME_MAX_LEN, errp) : NULL;

        if (!id) {
            return false;
        }
        while (d && !d->cls->vmsd) {
            d = d->next;
        }
        if (!d || strcmp(d->cls->name, cls) || strcmp(d->id ? d->id : "",
                                                      id)) {
            g_set_error(errp, VIREO_ERROR, 0, "the devices differ: the "
                        "source's device %u is '%s'%s%s%s, here it is "
                        "%s%s%s%s%s", i, cls, *id ? " (id " : "", id,
                        *id ? ")" : "", d ? "'" : "none",
                        d ? d->cls->name : "", d ? "'" : "",
                        d && d->id ? " id " : "", d && d->id ? d->id : "");
            return false;
        }
        d = d->next;
    }
    while (d && !d->cls->vmsd) {
        d = d->next;
    }
    if (d) {
        g_set_error(errp, VIREO_ERROR, 0, "the devices differ: this VM has "
                    "'%s'%s%s beyond the source's %u devices", d->cls->name,
                    d->id ? " id " : "", d->id ? d->id : "", n);
        return false;
    }
    return true;
}

static bool read_ram(MigChannel *c, const MigRam *r, GError **errp)
{
    uint16_t n;

    if (!mig_get_u16(c, &n, errp)) {
        return false;
    }
    for (uint16_t i = 0; i < n; i++) {
        g_autofree char *name = mig_get_str(c, NAME_MAX_LEN, errp);
        uint64_t size;

        if (!name || !mig_get_u64(c, &size, errp)) {
            return false;
        }
        if (i >= r->nblocks) {
            g_set_error(errp, VIREO_ERROR, 0, "the source has RAM block "
                        "'%s', which this VM lacks", name);
            return false;
        }
        if (strcmp(name, r->blocks[i]->name)) {
            g_set_error(errp, VIREO_ERROR, 0, "RAM block %u is '%s' on the "
                        "source, '%s' here", i, name, r->blocks[i]->name);
            return false;
        }
        if (size != r->blocks[i]->size) {
            g_set_error(errp, VIREO_ERROR, 0, "RAM block '%s' is %"
                        G_GUINT64_FORMAT " KiB on the source, %"
                        G_GUINT64_FORMAT " KiB here%s", name, size >> 10,
                        r->blocks[i]->size >> 10,
                        !strcmp(name, "pc.ram") ? " (-m differs)" : "");
            return false;
        }
    }
    if (n != r->nblocks) {
        g_set_error(errp, VIREO_ERROR, 0, "this VM has RAM block '%s', "
                    "which the source lacks", r->blocks[n]->name);
        return false;
    }
    return true;
}

bool mig_header_read(MigChannel *c, Machine *m, const MigRam *r,
                     uint32_t *flags, GError **errp)
{
    return read_identity(c, m, flags, errp) && read_devices(c, m, errp) &&
           read_ram(c, r, errp);
}

/* ---- RAM ---- */

static bool page_is_zero(const uint8_t *p, size_t len)
{
    const uint64_t *w = (const uint64_t *)p;

    if (len != MIG_PAGE_SIZE) {
        for (size_t i = 0; i < len; i++) {
            if (p[i]) {
                return false;
            }
        }
        return true;
    }
    for (size_t i = 0; i < MIG_PAGE_SIZE / 8; i += 4) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3]) {
            return false;
        }
    }
    return true;
}

static size_t page_len(const MemoryRegion *mr, uint64_t page)
{
    return MIN((uint64_t)MIG_PAGE_SIZE, mr->size - page * MIG_PAGE_SIZE);
}

static bool put_zero_run(MigChannel *c, guint block, uint64_t first,
                         uint64_t count, GError **errp)
{
    return !count ||
           (mig_put_u8(c, MIG_REC_ZERO, errp) &&
            mig_put_u16(c, block, errp) && mig_put_u64(c, first, errp) &&
            mig_put_u32(c, count, errp));
}

static bool send_block(MigChannel *c, MigRam *r, guint b, MigRamCounts *n,
                       GError **errp)
{
    MemoryRegion *mr = r->blocks[b];
    uint64_t *bm = r->bitmaps[b];
    uint64_t pages = block_pages(mr), run_first = 0, run_len = 0;

    for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
        while (bm[w]) {
            uint64_t page = w * 64 + __builtin_ctzll(bm[w]);
            const uint8_t *p = mr->ram + page * MIG_PAGE_SIZE;
            size_t len = page_len(mr, page);

            bm[w] &= bm[w] - 1;
            if (page_is_zero(p, len)) {
                n->zero++;
                if (run_len && run_first + run_len == page &&
                    run_len < G_MAXUINT32) {
                    run_len++;
                    continue;
                }
                if (!put_zero_run(c, b, run_first, run_len, errp)) {
                    return false;
                }
                run_first = page;
                run_len = 1;
                continue;
            }
            n->normal++;
            if (!put_zero_run(c, b, run_first, run_len, errp) ||
                !mig_put_u8(c, MIG_REC_PAGE, errp) ||
                !mig_put_u16(c, b, errp) || !mig_put_u64(c, page, errp) ||
                !mig_put(c, p, len, errp)) {
                return false;
            }
            run_len = 0;
        }
    }
    return put_zero_run(c, b, run_first, run_len, errp);
}

bool mig_ram_send_dirty(MigChannel *c, MigRam *r, MigRamCounts *n,
                        GError **errp)
{
    for (guint b = 0; b < r->nblocks; b++) {
        if (!send_block(c, r, b, n, errp)) {
            return false;
        }
    }
    return true;
}

bool mig_ram_load_record(MigChannel *c, const MigRam *r, uint8_t tag,
                         GError **errp)
{
    uint16_t b;
    uint64_t page;
    uint32_t count = 1;

    if (!mig_get_u16(c, &b, errp) || !mig_get_u64(c, &page, errp) ||
        (tag == MIG_REC_ZERO && !mig_get_u32(c, &count, errp))) {
        return false;
    }
    if (b >= r->nblocks) {
        g_set_error(errp, VIREO_ERROR, 0, "corrupt migration stream: RAM "
                    "block %u of %u", b, r->nblocks);
        return false;
    }
    MemoryRegion *mr = r->blocks[b];
    uint64_t pages = block_pages(mr);
    if (page >= pages || count > pages - page || !count) {
        g_set_error(errp, VIREO_ERROR, 0, "corrupt migration stream: pages "
                    "%" G_GUINT64_FORMAT "+%u outside RAM block '%s' (%"
                    G_GUINT64_FORMAT " pages)", page, count, mr->name, pages);
        return false;
    }
    if (tag == MIG_REC_PAGE) {
        return mig_get(c, mr->ram + page * MIG_PAGE_SIZE,
                       page_len(mr, page), errp);
    }
    for (uint64_t p = page; p < page + count; p++) {
        uint8_t *host = mr->ram + p * MIG_PAGE_SIZE;
        /* untouched pages stay unallocated on this host */
        if (!page_is_zero(host, page_len(mr, p))) {
            memset(host, 0, page_len(mr, p));
        }
    }
    return true;
}

/* ---- sections ---- */

bool mig_section_put(MigChannel *c, uint8_t tag, const GByteArray *data,
                     GError **errp)
{
    return mig_put_u8(c, tag, errp) && mig_put_u32(c, data->len, errp) &&
           mig_put(c, data->data, data->len, errp);
}

GByteArray *mig_section_get(MigChannel *c, GError **errp)
{
    uint32_t len;

    if (!mig_get_u32(c, &len, errp)) {
        return NULL;
    }
    if (len > MIG_SECTION_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "corrupt migration stream: a "
                    "section of %u bytes (at most %u)", len, MIG_SECTION_MAX);
        return NULL;
    }
    /* grown as the bytes arrive: a claimed length costs nothing by itself */
    GByteArray *a = g_byte_array_new();
    while (a->len < len) {
        guint at = a->len, n = MIN(len - at, 1u << 20);
        g_byte_array_set_size(a, at + n);
        if (!mig_get(c, a->data + at, n, errp)) {
            g_byte_array_unref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- the end of a stream ---- */

bool mig_stream_finish(MigChannel *c, MigRam *r, MigRamCounts *n,
                       const GByteArray *devices, const GByteArray *cpus,
                       GError **errp)
{
    if (!mig_ram_send_dirty(c, r, n, errp) ||
        !mig_section_put(c, MIG_REC_DEVICES, devices, errp) ||
        !mig_section_put(c, MIG_REC_CPUS, cpus, errp) ||
        !mig_put_u8(c, MIG_REC_END, errp)) {
        return false;
    }
    uint32_t crc = c->crc;
    return mig_put_u32(c, crc, errp) && mig_flush(c, errp);
}

bool mig_read_records(MigChannel *c, const MigRam *r, GByteArray **devices,
                      GByteArray **cpus, GError **errp)
{
    for (;;) {
        uint8_t tag;
        GByteArray **section;

        if (!mig_get_u8(c, &tag, errp)) {
            return false;
        }
        switch (tag) {
        case MIG_REC_PAGE:
        case MIG_REC_ZERO:
            if (!mig_ram_load_record(c, r, tag, errp)) {
                return false;
            }
            continue;
        case MIG_REC_DEVICES:
        case MIG_REC_CPUS:
            section = tag == MIG_REC_DEVICES ? devices : cpus;
            if (*section) {
                g_set_error(errp, VIREO_ERROR, 0, "corrupt migration "
                            "stream: the %s section appears twice",
                            tag == MIG_REC_DEVICES ? "device" : "vCPU");
                return false;
            }
            *section = mig_section_get(c, errp);
            if (!*section) {
                return false;
            }
            continue;
        case MIG_REC_END: {
            uint32_t want = c->crc, got;
            if (!mig_get_u32(c, &got, errp)) {
                return false;
            }
            if (got != want) {
                g_set_error(errp, VIREO_ERROR, 0, "corrupt migration "
                            "stream: checksum %08x, expected %08x", got,
                            want);
                return false;
            }
            if (!*devices || !*cpus) {
                g_set_error(errp, VIREO_ERROR, 0, "corrupt migration "
                            "stream: it ends without the %s state",
                            !*devices ? "device" : "vCPU");
                return false;
            }
            return true;
        }
        default:
            g_set_error(errp, VIREO_ERROR, 0, "corrupt migration stream: "
                        "unknown record type 0x%02x at byte %" G_GUINT64_FORMAT,
                        tag, c->bytes - 1);
            return false;
        }
    }
}
