/*
 * SMBIOS tables for firmware (DMTF DSP0134 3.x): what `-smbios` sets and
 * the structures QEMU's pc hands SeaBIOS over fw_cfg, with a 3.0 (64-bit)
 * entry point.
 */
#ifndef HW_I386_SMBIOS_H
#define HW_I386_SMBIOS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define SMBIOS_TABLES_FILE "etc/smbios/smbios-tables"
#define SMBIOS_ANCHOR_FILE "etc/smbios/smbios-anchor"
#define SMBIOS_30_ANCHOR_SIZE 24

/*
 * Checks one -smbios argument: type=0|1|2|3|4|11|17 with that type's
 * fields (QEMU's names), or file=BINARY. The file is read at build time.
 */
bool smbios_check_option(const char *arg, GError **errp);

typedef struct SmbiosConfig {
    const GPtrArray *options; /* -smbios strings, or NULL */
    const char *uuid;         /* -uuid, or NULL: all zeroes */
    const char *product;      /* type 1 product: the machine's description */
    const char *version;      /* type 1/3/4 version: the machine type */
    int smp_cpus;
    int max_cpus;
    int cores, threads; /* per socket: cores, and threads per core */
    uint64_t below_4g_mem_size;
    uint64_t above_4g_mem_size;
} SmbiosConfig;

/*
 * Builds the structure table (types 0 and 2 only when -smbios gave their
 * fields, as QEMU leaves them to the BIOS; 1, 3, 4 per socket, 11 with
 * values, 16, 17 per 16 GiB, 19, 32, 127; file= structures replace the
 * built ones of their type) and the 3.0 entry point with the table address
 * left 0 for the firmware to fill in.
 */
bool smbios_build(const SmbiosConfig *cfg, GByteArray **tables,
                  GByteArray **anchor, GError **errp);

#endif
