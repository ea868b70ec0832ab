/*
 * ACPI table walk (ACPI 6.x, chapter 5): RSDP -> RSDT/XSDT -> MADT for the
 * LAPIC/IOAPIC topology, FADT -> DSDT for the S5 sleep type and the PM1a or
 * HW-reduced sleep control register. Checksums are verified on the way.
 */
#include "testkernel.h"

struct acpi_info acpi;

struct sdt_header {
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
} __attribute__((packed));

static uint8_t sum8(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (len--)
        s += *b++;
    return s;
}

static bool check_table(const struct sdt_header *h)
{
    if (h->length < sizeof(*h) || h->length > (16 << 20) || sum8(h, h->length)) {
        acpi.bad_checksums++;
        memcpy(acpi.bad_table, h->signature, 4);
        return false;
    }
    return true;
}

static uint64_t scan_rsdp(uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + 20 <= start + len; a += 16) {
        if (!memcmp((void *)a, "RSD PTR ", 8) && !sum8((void *)a, 20))
            return a;
    }
    return 0;
}

static uint64_t find_rsdp(void)
{
    uint64_t ebda = (uint64_t)(*(volatile uint16_t *)0x40e) << 4;
    uint64_t r;

    if (boot.rsdp)
        return boot.rsdp;
    if (ebda >= 0x80000 && ebda < 0xa0000 && (r = scan_rsdp(ebda, 1024)))
        return r;
    return scan_rsdp(0xe0000, 0x20000);
}

static void parse_madt(const struct sdt_header *h)
{
    const uint8_t *p = (const uint8_t *)h;
    uint32_t off = 44;

    acpi.have_madt = true;
    acpi.lapic_base = *(const uint32_t *)(p + 36);
    while (off + 2 <= h->length) {
        uint8_t type = p[off], len = p[off + 1];
        const uint8_t *e = p + off;
        if (len < 2 || off + len > h->length)
            break;
        switch (type) {
        case 0: /* Processor Local APIC */
            if (len >= 8 && (*(const uint32_t *)(e + 4) & 1) &&
                acpi.ncpus < MAX_CPUS)
                acpi.apic_ids[acpi.ncpus++] = e[3];
            break;
        case 1: /* I/O APIC: take the first, which holds GSI 0-23 */
            if (len >= 12 && !acpi.have_ioapic) {
                acpi.have_ioapic = true;
                acpi.ioapic_base = *(const uint32_t *)(e + 4);
                acpi.ioapic_gsi_base = *(const uint32_t *)(e + 8);
            }
            break;
        case 2: /* Interrupt Source Override */
            if (len >= 10 && e[2] == 0 && e[3] < 16) {
                acpi.isa_gsi[e[3]] = *(const uint32_t *)(e + 4);
                acpi.isa_flags[e[3]] = *(const uint16_t *)(e + 8);
            }
            break;
        case 5: /* Local APIC Address Override */
            if (len >= 12)
                acpi.lapic_base = *(const uint64_t *)(e + 4);
            break;
        case 9: /* Processor Local x2APIC */
            if (len >= 16 && (*(const uint32_t *)(e + 8) & 1) &&
                acpi.ncpus < MAX_CPUS)
                acpi.apic_ids[acpi.ncpus++] = *(const uint32_t *)(e + 4);
            break;
        }
        off += len;
    }
}

/* Find Name(_S5_, Package() { SLP_TYPa, ... }) in the DSDT's AML. */
static int find_s5(const struct sdt_header *dsdt)
{
    const uint8_t *p = (const uint8_t *)dsdt;
    uint32_t len = dsdt->length;

    for (uint32_t i = sizeof(*dsdt); i + 8 < len; i++) {
        uint32_t j;
        if (memcmp(p + i, "_S5_", 4))
            continue;
        if (p[i - 1] != 0x08 && !(p[i - 1] == '\\' && p[i - 2] == 0x08))
            continue;
        j = i + 4;
        if (p[j++] != 0x12) /* PackageOp */
            continue;
        j += 1 + (p[j] >> 6); /* PkgLength */
        j++;                  /* NumElements */
        if (j >= len)
            return -1;
        switch (p[j]) {
        case 0x00: return 0;  /* ZeroOp */
        case 0x01: return 1;  /* OneOp */
        case 0x0a: return j + 1 < len ? p[j + 1] : -1; /* BytePrefix */
        default: return p[j] < 8 ? p[j] : -1;
        }
    }
    return -1;
}

static void parse_fadt(const struct sdt_header *h)
{
    const uint8_t *p = (const uint8_t *)h;
    uint64_t dsdt = 0;

    acpi.have_fadt = true;
    if (h->length >= 44)
        dsdt = *(const uint32_t *)(p + 40);
    if (h->length >= 148 && *(const uint64_t *)(p + 140))
        dsdt = *(const uint64_t *)(p + 140);
    if (h->length >= 68)
        acpi.pm1a_cnt = *(const uint32_t *)(p + 64);
    if (h->length >= 116)
        acpi.fadt_flags = *(const uint32_t *)(p + 112);
    if (h->length >= 129 && (acpi.fadt_flags & (1u << 10))) { /* RESET_REG_SUP */
        memcpy(&acpi.reset_reg, p + 116, sizeof(acpi.reset_reg));
        acpi.reset_value = p[128];
    }
    if (h->length >= 184) {
        const struct acpi_gas *x = (const void *)(p + 172);
        if (x->space == 1 && x->address && !acpi.pm1a_cnt)
            acpi.pm1a_cnt = (uint32_t)x->address;
    }
    if (h->length >= 256)
        memcpy(&acpi.sleep_control, p + 244, sizeof(acpi.sleep_control));
    if (dsdt) {
        const struct sdt_header *d = (const void *)dsdt;
        if (!memcmp(d->signature, "DSDT", 4) && check_table(d)) {
            acpi.have_dsdt = true;
            acpi.s5_typ = find_s5(d);
        }
    }
}

void acpi_init(void)
{
    const uint8_t *rsdp;
    const struct sdt_header *root;
    int entry_size, n;

    for (int i = 0; i < 16; i++)
        acpi.isa_gsi[i] = i;
    acpi.s5_typ = -1;
    acpi.lapic_base = 0xfee00000;
    acpi.rsdp = find_rsdp();
    if (!acpi.rsdp)
        return;
    rsdp = (const uint8_t *)acpi.rsdp;
    if (rsdp[15] >= 2 && *(const uint64_t *)(rsdp + 24)) {
        if (sum8(rsdp, *(const uint32_t *)(rsdp + 20)))
            acpi.bad_checksums++;
        root = (const void *)*(const uint64_t *)(rsdp + 24);
        entry_size = 8;
    } else {
        root = (const void *)(uint64_t) * (const uint32_t *)(rsdp + 16);
        entry_size = 4;
    }
    if (!check_table(root))
        return;
    n = (root->length - sizeof(*root)) / entry_size;
    for (int i = 0; i < n; i++) {
        const uint8_t *ent = (const uint8_t *)(root + 1) + i * entry_size;
        uint64_t addr = entry_size == 8 ? *(const uint64_t *)ent
                                        : *(const uint32_t *)ent;
        const struct sdt_header *h = (const void *)addr;
        if (!addr || !check_table(h))
            continue;
        if (!memcmp(h->signature, "APIC", 4))
            parse_madt(h);
        else if (!memcmp(h->signature, "FACP", 4))
            parse_fadt(h);
    }
}
