/*
 * The migration stream (docs/migration.md): the header that says which VM
 * it belongs to, RAM page records, the device and vCPU sections and the
 * end marker with the CRC-32C of everything before it. Private to
 * migration/.
 */
#ifndef MIGRATION_STREAM_H
#define MIGRATION_STREAM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "channel.h"

typedef struct Machine Machine;
typedef struct MemoryRegion MemoryRegion;

#define MIG_MAGIC       "VIREOMIG"
#define MIG_VERSION     2       /* 2: the end's checksum is CRC-32C */
#define MIG_FLAG_RETURN_PATH 1u     /* the destination answers (sockets) */

enum {
    MIG_REC_PAGE = 1,       /* u16 block, u64 page, the page's bytes */
    MIG_REC_ZERO = 2,       /* u16 block, u64 first page, u32 count */
    MIG_REC_DEVICES = 3,    /* u32 length, vmstate_save_devices' stream */
    MIG_REC_CPUS = 4,       /* u32 length, cpus_state_save's section */
    MIG_REC_END = 0xff,     /* u32 CRC-32C of every byte before it */
};

#define MIG_PAGE_SIZE   4096u
/* The most a device or vCPU section may claim: a bound for hostile input. */
#define MIG_SECTION_MAX (256u << 20)

/* RAM blocks of the machine as the stream numbers them. */
typedef struct MigRam {
    guint nblocks;
    MemoryRegion **blocks;
    uint64_t **bitmaps;     /* source: pages still to send, per block */
} MigRam;

void mig_ram_init(MigRam *r);
void mig_ram_clear(MigRam *r);
uint64_t mig_ram_total_bytes(const MigRam *r);
/* Every page to be sent (a snapshot saves all of RAM at once). */
void mig_ram_mark_all(MigRam *r);

/* Writes the header: who the VM is, and its RAM. */
bool mig_header_write(MigChannel *c, Machine *m, const MigRam *r,
                      uint32_t flags, GError **errp);
/* Reads a header and checks it against this VM; the error says what
 * differs. */
bool mig_header_read(MigChannel *c, Machine *m, const MigRam *r,
                     uint32_t *flags, GError **errp);

/* Source: sends every page whose bit is set in r->bitmaps, clearing it.
 * Counts the pages found zero and sent whole. */
typedef struct MigRamCounts {
    uint64_t zero, normal;
} MigRamCounts;
bool mig_ram_send_dirty(MigChannel *c, MigRam *r, MigRamCounts *n,
                        GError **errp);
/* Destination: one MIG_REC_PAGE / MIG_REC_ZERO record (tag already read). */
bool mig_ram_load_record(MigChannel *c, const MigRam *r, uint8_t tag,
                         GError **errp);

/* A u32-counted section, read whole. */
bool mig_section_put(MigChannel *c, uint8_t tag, const GByteArray *data,
                     GError **errp);
GByteArray *mig_section_get(MigChannel *c, GError **errp);

/* Source: the pages still marked, both state sections, the end marker
 * with the CRC; flushed. */
bool mig_stream_finish(MigChannel *c, MigRam *r, MigRamCounts *n,
                       const GByteArray *devices, const GByteArray *cpus,
                       GError **errp);
/* Destination: every record after the header up to the end marker, whose
 * CRC must match: pages straight into RAM, the sections into *devices and
 * *cpus (which must both come, once each; caller frees them). */
bool mig_read_records(MigChannel *c, const MigRam *r, GByteArray **devices,
                      GByteArray **cpus, GError **errp);

#endif
