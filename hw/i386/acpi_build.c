/*
 * The one ACPI table builder (ACPI 6.x chapter 5): RSDP, RSDT, XSDT, FADT
 * for a legacy PC with fixed PM registers (hw/acpi/pm.c), FACS, MADT, HPET
 * and a small hand-encoded DSDT (chapter 20, AML) with \_S5_, the ISA serial
 * ports, PS/2, RTC, HPET, pvpanic and the PCI root bridge on pc, or the
 * PCI Express root with its MCFG table (PCI Firmware 3.0, 4.1.2) on q35. It makes
 * the files and QEMU's BIOS linker/loader script that firmware gets over
 * fw_cfg; direct kernel boot runs the same script itself.
 */
#include <inttypes.h>
#include <string.h>

#include "util/opts.h"
#include "hw/device.h"
#include "util/le.h"
#include "hw/pci-host/q35.h"
#include "x86_boot_internal.h"

#define ACPI_OEM_ID "VIREO "
#define ACPI_OEM_TABLE_ID "VIREOPC "
#define ACPI_CREATOR_ID "VIRO"
#define ACPI_HEADER_SIZE 36

/* Table 5.9: FADT layout (revision 6, ACPI 6.0 and later) */
#define FADT_REVISION 6
#define FADT_SIZE 276
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_GPE0_BLK 80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_GPE0_BLK_LEN 92
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_X_GPE0_BLK 220
/* ICH9 13.8.3: GPE0_STS and GPE0_EN, 8 bytes each, at PMBASE + 0x20 */
#define ICH9_GPE0_OFFSET 0x20
#define ICH9_GPE0_LEN 16

/* CMOS index of the century byte (mc146818rtc, as QEMU) */
#define RTC_CENTURY_CMOS 0x32
/* HPET capabilities low half: Intel, rev 1, 3 timers, 64-bit, legacy */
#define HPET_EVENT_TIMER_BLOCK_ID 0x8086a201

/* Table 5.10: IA-PC boot architecture flags */
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)
/* Table 5.10: FADT feature flags */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5) /* no fixed sleep button */
#define FADT_F_FIX_RTC (1u << 6)    /* no RTC_STS in PM1 */
#define FADT_F_RESET_REG_SUP (1u << 10)

/* Table 5.1: Generic Address Structure */
#define GAS_SPACE_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3

/* Section 5.2.10: FACS */
#define FACS_SIZE 64
#define FACS_VERSION 2

/* Section 5.2.12: MADT */
#define MADT_REVISION 3
#define MADT_PCAT_COMPAT (1u << 0)
#define MADT_LOCAL_APIC 0
#define MADT_IO_APIC 1
#define MADT_INT_SRC_OVERRIDE 2
#define MADT_LOCAL_APIC_NMI 4
#define MADT_LOCAL_X2APIC 9
#define MADT_LOCAL_X2APIC_NMI 10
#define MADT_ENABLED (1u << 0)
/* MPS INTI flags: active high (01), level triggered (11) */
#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL 0xc

/* Chapter 20: AML opcodes */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_ONES_OP 0xff
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_CHAR '^'
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f

static void append_bytes(GByteArray *a, const void *p, size_t len)
{
    g_byte_array_append(a, p, len);
}

static void append8(GByteArray *a, uint8_t v)
{
    g_byte_array_append(a, &v, 1);
}

static void append16(GByteArray *a, uint16_t v)
{
    uint8_t b[2];
    st16(b, v);
    append_bytes(a, b, 2);
}

static void append32(GByteArray *a, uint32_t v)
{
    uint8_t b[4];
    st32(b, v);
    append_bytes(a, b, 4);
}

static void append64(GByteArray *a, uint64_t v)
{
    uint8_t b[8];
    st64(b, v);
    append_bytes(a, b, 8);
}

uint8_t acpi_checksum(const uint8_t *data, size_t len)
{
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum += data[i];
    }
    return sum;
}

/* --- AML (chapter 20): just the terms the DSDT needs --- */

/* Section 20.2.4: PkgLength counts itself; 1 to 4 bytes. */
static void aml_pkglength(GByteArray *a, size_t body_len)
{
    size_t total;

    if (body_len + 1 < 0x40) {
        append8(a, body_len + 1);
        return;
    }
    for (unsigned n = 1; n <= 3; n++) {
        total = body_len + 1 + n;
        if (total < (1u << (4 + 8 * n))) {
            append8(a, (n << 6) | (total & 0xf));
            for (unsigned i = 0; i < n; i++) {
                append8(a, total >> (4 + 8 * i));
            }
            return;
        }
    }
    g_assert_not_reached(); /* our DSDT is far below 256 MiB */
}

/* Section 20.2.2: "\_SB_.COM1" style paths, segments padded with '_'. */
static void aml_namestring(GByteArray *a, const char *name)
{
    while (*name == AML_ROOT_CHAR || *name == AML_PARENT_CHAR) {
        append8(a, *name++);
    }
    g_auto(GStrv) segs = g_strsplit(name, ".", -1);
    guint n = g_strv_length(segs);
    if (n == 2) {
        append8(a, AML_DUAL_NAME_PREFIX);
    } else if (n > 2) {
        append8(a, AML_MULTI_NAME_PREFIX);
        append8(a, n);
    }
    for (guint i = 0; i < n; i++) {
        char seg[4] = {'_', '_', '_', '_'};
        g_assert(strlen(segs[i]) >= 1 && strlen(segs[i]) <= 4);
        memcpy(seg, segs[i], strlen(segs[i]));
        append_bytes(a, seg, 4);
    }
}

static void aml_integer(GByteArray *a, uint64_t v)
{
    if (v == 0) {
        append8(a, AML_ZERO_OP);
    } else if (v == 1) {
        append8(a, AML_ONE_OP);
    } else if (v <= 0xff) {
        append8(a, AML_BYTE_PREFIX);
        append8(a, v);
    } else if (v <= 0xffff) {
        append8(a, AML_WORD_PREFIX);
        append16(a, v);
    } else if (v <= 0xffffffff) {
        append8(a, AML_DWORD_PREFIX);
        append32(a, v);
    } else {
        append8(a, AML_QWORD_PREFIX);
        append64(a, v);
    }
}

/* An opcode, the PkgLength of body, then body (Scope, Device, Package). */
static void aml_wrap(GByteArray *a, const uint8_t *op, size_t op_len,
                     const GByteArray *body)
{
    append_bytes(a, op, op_len);
    aml_pkglength(a, body->len);
    append_bytes(a, body->data, body->len);
}

static void aml_name(GByteArray *a, const char *name, const GByteArray *val)
{
    append8(a, AML_NAME_OP);
    aml_namestring(a, name);
    append_bytes(a, val->data, val->len);
}

static void aml_name_integer(GByteArray *a, const char *name, uint64_t v)
{
    g_autoptr(GByteArray) val = g_byte_array_new();
    aml_integer(val, v);
    aml_name(a, name, val);
}

static void aml_scope(GByteArray *a, const char *name, const GByteArray *terms)
{
    static const uint8_t op[] = {AML_SCOPE_OP};
    g_autoptr(GByteArray) body = g_byte_array_new();

    aml_namestring(body, name);
    append_bytes(body, terms->data, terms->len);
    aml_wrap(a, op, sizeof(op), body);
}

static void aml_device(GByteArray *a, const char *name, const GByteArray *terms)
{
    static const uint8_t op[] = {AML_EXT_OP_PREFIX, AML_DEVICE_OP};
    g_autoptr(GByteArray) body = g_byte_array_new();

    aml_namestring(body, name);
    append_bytes(body, terms->data, terms->len);
    aml_wrap(a, op, sizeof(op), body);
}

static void aml_package(GByteArray *a, const uint64_t *elems, unsigned n)
{
    static const uint8_t op[] = {AML_PACKAGE_OP};
    g_autoptr(GByteArray) body = g_byte_array_new();

    append8(body, n);
    for (unsigned i = 0; i < n; i++) {
        aml_integer(body, elems[i]);
    }
    aml_wrap(a, op, sizeof(op), body);
}

static void aml_buffer(GByteArray *a, const GByteArray *bytes)
{
    static const uint8_t op[] = {AML_BUFFER_OP};
    g_autoptr(GByteArray) body = g_byte_array_new();

    aml_integer(body, bytes->len);
    append_bytes(body, bytes->data, bytes->len);
    aml_wrap(a, op, sizeof(op), body);
}

/* Section 19.3.4 EISAID(): three 5-bit letters and four hex digits. */
static uint32_t aml_eisaid(const char *id)
{
    uint8_t b[4];

    b[0] = ((id[0] - '@') << 2) | ((id[1] - '@') >> 3);
    b[1] = (((id[1] - '@') & 7) << 5) | (id[2] - '@');
    b[2] = g_ascii_xdigit_value(id[3]) << 4 | g_ascii_xdigit_value(id[4]);
    b[3] = g_ascii_xdigit_value(id[5]) << 4 | g_ascii_xdigit_value(id[6]);
    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Section 6.4.2.5: I/O port descriptor, 16-bit decode, fixed base. */
static void res_io(GByteArray *r, uint16_t base, uint8_t len)
{
    const uint8_t d[] = {0x47, 0x01, base, base >> 8, base, base >> 8, 1, len};
    append_bytes(r, d, sizeof(d));
}

/* Section 6.4.2.1: IRQ descriptor without flags (edge, active high). */
static void res_irq(GByteArray *r, unsigned irq)
{
    uint16_t mask = 1u << irq;
    const uint8_t d[] = {0x22, mask, mask >> 8};
    append_bytes(r, d, sizeof(d));
}

/* Section 6.4.2.9: end tag; a zero checksum means "don't check". */
static void res_end(GByteArray *r)
{
    const uint8_t d[] = {0x79, 0x00};
    append_bytes(r, d, sizeof(d));
}

/* Section 6.4.3.4: Memory32Fixed, read/write. */
static void res_mem32(GByteArray *r, uint32_t base, uint32_t len)
{
    const uint8_t d[] = {0x86, 0x09, 0x00, 0x01};
    append_bytes(r, d, sizeof(d));
    append32(r, base);
    append32(r, len);
}

/* Section 6.4.3.6: Extended Interrupt, consumer, level, active high. */
static void res_ext_irq(GByteArray *r, uint32_t gsi)
{
    const uint8_t d[] = {0x89, 0x06, 0x00, 0x01, 0x01};
    append_bytes(r, d, sizeof(d));
    append32(r, gsi);
}

/* Device(VRnn) { _HID "...", _UID n, _CRS } for a memory-mapped device. */
static void dsdt_mmio_device(GByteArray *sb, unsigned n,
                             const AcpiMmioDevice *d)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) hid = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();
    char name[5];

    append8(hid, 0x0d); /* StringPrefix */
    append_bytes(hid, d->hid, strlen(d->hid) + 1);
    aml_name(dev, "_HID", hid);
    aml_name_integer(dev, "_UID", n);
    res_mem32(crs, d->addr, d->size);
    res_ext_irq(crs, d->gsi);
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_CRS", buf);
    g_snprintf(name, sizeof(name), "VR%02X", n & 0xff);
    aml_device(sb, name, dev);
}

/* Section 6.4.3.5.3: Word Address Space Descriptor, producer, fixed. */
static void res_word_space(GByteArray *r, uint8_t type, uint8_t tflags,
                           uint16_t min, uint16_t max)
{
    append8(r, 0x88);
    append16(r, 13);
    append8(r, type);
    append8(r, 0x0c);   /* _MIF, _MAF; positive decode; producer */
    append8(r, tflags);
    append16(r, 0);     /* granularity */
    append16(r, min);
    append16(r, max);
    append16(r, 0);     /* translation offset */
    append16(r, max - min + 1);
}

/* Section 6.4.3.5.2: DWord Address Space Descriptor, memory, producer. */
static void res_dword_memory(GByteArray *r, uint32_t min, uint32_t max)
{
    append8(r, 0x87);
    append16(r, 23);
    append8(r, 0);      /* memory range */
    append8(r, 0x0c);   /* _MIF, _MAF; positive decode; producer */
    append8(r, 0x03);   /* cacheable, read-write (as QEMU's PCI0) */
    append32(r, 0);
    append32(r, min);
    append32(r, max);
    append32(r, 0);
    append32(r, max - min + 1);
}

#define ADDR_SPACE_MEMORY 0
#define ADDR_SPACE_IO 1
#define ADDR_SPACE_BUS 2
#define IO_ENTIRE_RANGE 0x03

/*
 * The PCI hole that Linux assigns BARs from (direct boot has no firmware
 * to do it): from the highest top of low RAM a pc can have to the IOAPIC.
 */
#define PCI_HOLE_START X86_PC_BELOW_4G_MAX
#define PCI_HOLE_END (X86_IOAPIC_BASE - 1)

/*
 * Section 6.2.13: _PRT of bus 0, in GSIs (no link devices), with the
 * routing of hw/pci-host/i440fx.c: slot S, pin P (INTA = 0) on PIRQ
 * (P + S - 1) mod 4, PIRQA-D on GSI 10, 10, 11, 11.
 */
static void dsdt_pci_prt(GByteArray *dev)
{
    static const uint8_t op[] = {AML_PACKAGE_OP};
    static const uint8_t pirq_gsi[4] = {10, 10, 11, 11};
    g_autoptr(GByteArray) body = g_byte_array_new();
    g_autoptr(GByteArray) prt = g_byte_array_new();

    append8(body, 32 * 4);
    for (unsigned slot = 0; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            const uint64_t e[] = {(uint64_t)slot << 16 | 0xffff, pin, 0,
                                  pirq_gsi[(pin + slot + 3) & 3]};
            aml_package(body, e, 4);
        }
    }
    aml_wrap(prt, op, sizeof(op), body);
    aml_name(dev, "_PRT", prt);
}

/* Device(PCI0): the i440FX root bridge with its windows (section 9.13). */
static void dsdt_pci_root(GByteArray *sb)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();

    aml_name_integer(dev, "_HID", aml_eisaid("PNP0A03"));
    aml_name_integer(dev, "_ADR", 0);
    aml_name_integer(dev, "_UID", 0);
    res_word_space(crs, ADDR_SPACE_BUS, 0, 0x00, 0xff);
    res_io(crs, 0xcf8, 8);
    res_word_space(crs, ADDR_SPACE_IO, IO_ENTIRE_RANGE, 0x0000, 0x0cf7);
    res_word_space(crs, ADDR_SPACE_IO, IO_ENTIRE_RANGE, 0x0d00, 0xffff);
    res_dword_memory(crs, 0x000a0000, 0x000bffff);   /* VGA */
    res_dword_memory(crs, PCI_HOLE_START, PCI_HOLE_END);
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_CRS", buf);
    dsdt_pci_prt(dev);
    aml_device(sb, "PCI0", dev);
}

/*
 * Section 6.2.13: _PRT of pcie.0 on q35, hw/pci-host/q35.c's routing.
 * Each entry names the link device of its PIRQ (GSIA-GSIH), as QEMU's
 * q35 DSDT does in APIC mode.
 */
static void dsdt_q35_prt(GByteArray *dev)
{
    static const uint8_t op[] = {AML_PACKAGE_OP};
    g_autoptr(GByteArray) body = g_byte_array_new();
    g_autoptr(GByteArray) prt = g_byte_array_new();

    append8(body, 32 * 4);
    for (unsigned slot = 0; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            g_autoptr(GByteArray) e = g_byte_array_new();
            char link[5];

            g_snprintf(link, sizeof(link), "GSI%c",
                       'A' + q35_slot_pirq(slot, pin + 1));
            append8(e, 4);
            aml_integer(e, (uint64_t)slot << 16 | 0xffff);
            aml_integer(e, pin);
            aml_namestring(e, link);
            aml_integer(e, 0);
            aml_wrap(body, op, sizeof(op), e);
        }
    }
    aml_wrap(prt, op, sizeof(op), body);
    aml_name(dev, "_PRT", prt);
}

/*
 * Section 6.2.16: Device(GSIx), a PCI interrupt link (PNP0C0F) fixed to
 * IOAPIC input 16 + x, level, active high, shared; _SRS accepts it.
 */
static void dsdt_q35_gsi_link(GByteArray *sb, unsigned pirq)
{
    static const uint8_t method_op[] = {0x14};
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autoptr(GByteArray) srs = g_byte_array_new();
    const uint8_t irq[] = {0x89, 0x06, 0x00, 0x09, 0x01};
    char name[5];

    g_snprintf(name, sizeof(name), "GSI%c", 'A' + pirq);
    aml_name_integer(dev, "_HID", aml_eisaid("PNP0C0F"));
    aml_name_integer(dev, "_UID", pirq);
    append_bytes(crs, irq, sizeof(irq));
    append32(crs, Q35_PIRQ_GSI_BASE + pirq);
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_PRS", buf);
    aml_name(dev, "_CRS", buf);
    aml_namestring(srs, "_SRS");
    append8(srs, 1);    /* one argument, not serialized */
    aml_wrap(dev, method_op, sizeof(method_op), srs);
    aml_device(sb, name, dev);
}

/*
 * Device(PCI0) on q35: a PCI Express root bridge (PNP0A08, compatible with
 * PNP0A03) whose _CBA gives the ECAM base (PCI Firmware 3.0, 4.1.3).
 */
static void dsdt_q35_pci_root(GByteArray *sb, const AcpiBuildConfig *cfg)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();

    aml_name_integer(dev, "_HID", aml_eisaid("PNP0A08"));
    aml_name_integer(dev, "_CID", aml_eisaid("PNP0A03"));
    aml_name_integer(dev, "_ADR", 0);
    aml_name_integer(dev, "_UID", 0);
    aml_name_integer(dev, "_CBA", cfg->mcfg_base);
    res_word_space(crs, ADDR_SPACE_BUS, 0, 0x00, 0xff);
    res_io(crs, 0xcf8, 8);
    res_word_space(crs, ADDR_SPACE_IO, IO_ENTIRE_RANGE, 0x0000, 0x0cf7);
    res_word_space(crs, ADDR_SPACE_IO, IO_ENTIRE_RANGE, 0x0d00, 0xffff);
    res_dword_memory(crs, 0x000a0000, 0x000bffff);   /* VGA */
    /* the hole above the ECAM window, which MCFG and e820 reserve */
    res_dword_memory(crs, cfg->mcfg_base + Q35_PCIEXBAR_SIZE_MAX,
                     PCI_HOLE_END);
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_CRS", buf);
    dsdt_q35_prt(dev);
    aml_device(sb, "PCI0", dev);
}

/* Device(name) { _HID, [_UID], _CRS } for a legacy ISA device. */
static void dsdt_isa_device(GByteArray *sb, const char *name, const char *hid,
                            int uid, const uint16_t *ports,
                            const uint8_t *port_lens, unsigned nports, int irq)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();

    aml_name_integer(dev, "_HID", aml_eisaid(hid));
    if (uid >= 0) {
        aml_name_integer(dev, "_UID", uid);
    }
    for (unsigned i = 0; i < nports; i++) {
        res_io(crs, ports[i], port_lens[i]);
    }
    if (irq >= 0) {
        res_irq(crs, irq);
    }
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_CRS", buf);
    aml_device(sb, name, dev);
}

/* --- tables --- */

static GByteArray *table_new(const char *sig, uint8_t rev)
{
    GByteArray *t = g_byte_array_new();
    uint8_t h[ACPI_HEADER_SIZE] = {0};

    memcpy(h, sig, 4);
    h[8] = rev;
    memcpy(h + 10, ACPI_OEM_ID, 6);
    memcpy(h + 16, ACPI_OEM_TABLE_ID, 8);
    st32(h + 24, 1); /* OEM revision */
    memcpy(h + 28, ACPI_CREATOR_ID, 4);
    st32(h + 32, 1); /* creator revision */
    append_bytes(t, h, sizeof(h));
    return t;
}

/* Fills in length and checksum once the body is complete. */
static void table_finish(GByteArray *t)
{
    st32(t->data + 4, t->len);
    t->data[9] = 0;
    t->data[9] = -acpi_checksum(t->data, t->len);
}

/* Device(HPET): PNP0103, the event timer block QEMU's pc has (HPET spec). */
static void dsdt_hpet(GByteArray *sb)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();
    const uint8_t mem_ro[] = {0x86, 0x09, 0x00, 0x00}; /* Memory32Fixed RO */

    aml_name_integer(dev, "_HID", aml_eisaid("PNP0103"));
    aml_name_integer(dev, "_UID", 0);
    aml_name_integer(dev, "_STA", 0x0f);
    append_bytes(crs, mem_ro, sizeof(mem_ro));
    append32(crs, ACPI_HPET_BASE);
    append32(crs, 0x400);
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_CRS", buf);
    aml_device(sb, "HPET", dev);
}

/* Device(PEVT): QEMU's pvpanic, _HID "QEMU0001" at its I/O port. */
static void dsdt_pvpanic(GByteArray *sb)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    g_autoptr(GByteArray) hid = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) buf = g_byte_array_new();

    append8(hid, AML_STRING_PREFIX);
    append_bytes(hid, "QEMU0001", sizeof("QEMU0001"));
    aml_name(dev, "_HID", hid);
    aml_name_integer(dev, "_STA", 0x0f);
    res_io(crs, ACPI_PVPANIC_PORT, 1);
    res_end(crs);
    aml_buffer(buf, crs);
    aml_name(dev, "_CRS", buf);
    aml_device(sb, "PEVT", dev);
}

static GByteArray *build_dsdt(const AcpiBuildConfig *cfg)
{
    GByteArray *t = table_new("DSDT", 2); /* rev 2: 64-bit integers */
    g_autoptr(GByteArray) sb = g_byte_array_new();
    g_autoptr(GByteArray) s5 = g_byte_array_new();
    static const uint16_t com1[] = {0x3f8}, com2[] = {0x2f8};
    static const uint16_t kbd[] = {0x60, 0x64}, rtc[] = {0x70};
    static const uint8_t len8[] = {8}, len1x2[] = {1, 1}, len2[] = {2};

    dsdt_isa_device(sb, "COM1", "PNP0501", 1, com1, len8, 1, 4);
    dsdt_isa_device(sb, "COM2", "PNP0501", 2, com2, len8, 1, 3);
    if (cfg->pc_legacy) {
        dsdt_isa_device(sb, "KBD", "PNP0303", -1, kbd, len1x2, 2, 1);
        dsdt_isa_device(sb, "MOU", "PNP0F13", -1, NULL, NULL, 0, 12);
    }
    if (cfg->rtc) {
        dsdt_isa_device(sb, "RTC", "PNP0B00", -1, rtc, len2, 1, 8);
    }
    if (cfg->pc_legacy) {
        if (cfg->q35) {
            for (unsigned i = 0; i < 8; i++) {
                dsdt_q35_gsi_link(sb, i);
            }
            dsdt_q35_pci_root(sb, cfg);
        } else {
            dsdt_pci_root(sb);
        }
    }
    if (cfg->hpet) {
        dsdt_hpet(sb);
    }
    if (cfg->pvpanic) {
        dsdt_pvpanic(sb);
    }
    for (unsigned i = 0; i < cfg->nr_mmio_devs; i++) {
        dsdt_mmio_device(sb, i, &cfg->mmio_devs[i]);
    }
    aml_scope(t, "\\_SB", sb);

    /* Section 7.4.2: \_S5_ {SLP_TYPa, SLP_TYPb, reserved, reserved} */
    const uint64_t s5_pkg[] = {ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP, 0, 0};
    aml_package(s5, s5_pkg, 4);
    aml_name(t, "\\_S5", s5);

    table_finish(t);
    return t;
}

static GByteArray *build_facs(void)
{
    GByteArray *t = g_byte_array_new();
    uint8_t f[FACS_SIZE] = {0};

    /* Section 5.2.10: no checksum; waking vectors stay 0 (no S3). */
    memcpy(f, "FACS", 4);
    st32(f + 4, FACS_SIZE);
    f[32] = FACS_VERSION;
    append_bytes(t, f, sizeof(f));
    return t;
}

static void put_gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access,
                    uint64_t addr)
{
    p[0] = space;
    p[1] = bits;
    p[2] = 0;
    p[3] = access;
    st64(p + 4, addr);
}

/* facs and dsdt: offsets in the tables file (the loader adds its address) */
static GByteArray *build_fadt(const AcpiBuildConfig *cfg, uint32_t facs,
                              uint32_t dsdt)
{
    GByteArray *t = table_new("FACP", FADT_REVISION);
    uint16_t pm = cfg->pm_base;

    g_byte_array_set_size(t, FADT_SIZE);
    uint8_t *f = t->data;
    memset(f + ACPI_HEADER_SIZE, 0, FADT_SIZE - ACPI_HEADER_SIZE);

    st32(f + FADT_FIRMWARE_CTRL, facs);
    st32(f + FADT_DSDT, dsdt);
    st16(f + FADT_SCI_INT, ACPI_SCI_IRQ);
    /* SMI_CMD 0: ACPI mode is always on, SCI_EN reads as 1. */
    st32(f + FADT_SMI_CMD, 0);
    st32(f + FADT_PM1A_EVT_BLK, pm);
    st32(f + FADT_PM1A_CNT_BLK, pm + 4);
    st32(f + FADT_PM_TMR_BLK, pm + 8);
    f[FADT_PM1_EVT_LEN] = 4;
    f[FADT_PM1_CNT_LEN] = 2;
    f[FADT_PM_TMR_LEN] = 4;
    /* Latencies above 100 and 1000 us say C2 and C3 are unsupported. */
    st16(f + FADT_P_LVL2_LAT, 101);
    st16(f + FADT_P_LVL3_LAT, 1001);
    /* the CMOS byte holding the century, as QEMU's mc146818rtc */
    f[FADT_CENTURY] = cfg->rtc ? RTC_CENTURY_CMOS : 0;
    st16(f + FADT_IAPC_BOOT_ARCH,
          cfg->pc_legacy ? IAPC_LEGACY_DEVICES | IAPC_8042 : 0);
    /* TMR_VAL_EXT stays clear: the PM timer is 24 bits wide. */
    st32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
                              FADT_F_FIX_RTC | FADT_F_RESET_REG_SUP);
    put_gas(f + FADT_RESET_REG, GAS_SPACE_IO, 8, GAS_ACCESS_BYTE,
            ACPI_RESET_PORT);
    f[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
    f[FADT_MINOR_VERSION] = 0;
    st64(f + FADT_X_DSDT, dsdt);
    put_gas(f + FADT_X_PM1A_EVT_BLK, GAS_SPACE_IO, 32, GAS_ACCESS_WORD, pm);
    put_gas(f + FADT_X_PM1A_CNT_BLK, GAS_SPACE_IO, 16, GAS_ACCESS_WORD, pm + 4);
    put_gas(f + FADT_X_PM_TMR_BLK, GAS_SPACE_IO, 32, GAS_ACCESS_DWORD, pm + 8);
    if (cfg->q35) {
        st32(f + FADT_GPE0_BLK, pm + ICH9_GPE0_OFFSET);
        f[FADT_GPE0_BLK_LEN] = ICH9_GPE0_LEN;
        put_gas(f + FADT_X_GPE0_BLK, GAS_SPACE_IO, ICH9_GPE0_LEN * 8,
                GAS_ACCESS_BYTE, pm + ICH9_GPE0_OFFSET);
    }
    table_finish(t);
    return t;
}

static GByteArray *build_madt(const AcpiBuildConfig *cfg)
{
    GByteArray *t = table_new("APIC", MADT_REVISION);
    uint32_t max_apic_id = 0;
    bool x2apic = false;

    append32(t, X86_LAPIC_BASE);
    append32(t, MADT_PCAT_COMPAT); /* KVM's irqchip includes the 8259s */

    /* Section 5.2.12.2 / 5.2.12.12: xAPIC entries hold 8-bit IDs < 255. */
    for (int i = 0; i < cfg->ncpus; i++) {
        uint32_t id = cfg->apic_ids[i];
        max_apic_id = MAX(max_apic_id, id);
        if (id < 0xff && i < 0xff) {
            const uint8_t e[] = {MADT_LOCAL_APIC, 8, i, id,
                                 MADT_ENABLED,    0, 0, 0};
            append_bytes(t, e, sizeof(e));
        } else {
            append8(t, MADT_LOCAL_X2APIC);
            append8(t, 16);
            append16(t, 0);
            append32(t, id);
            append32(t, MADT_ENABLED);
            append32(t, i);
            x2apic = true;
        }
    }

    /* Section 5.2.12.3: the I/O APIC takes the ID after the CPUs'. */
    append8(t, MADT_IO_APIC);
    append8(t, 12);
    append8(t, (max_apic_id + 1) & 0xff);
    append8(t, 0);
    append32(t, X86_IOAPIC_BASE);
    append32(t, 0); /* GSI base */

    /* Section 5.2.12.5: the PIT's IRQ0 arrives on I/O APIC pin 2. */
    const uint8_t irq0[] = {MADT_INT_SRC_OVERRIDE, 10, 0, 0, 2, 0, 0, 0, 0, 0};
    append_bytes(t, irq0, sizeof(irq0));
    const uint16_t sci_flags = MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL;
    const uint8_t sci[] = {MADT_INT_SRC_OVERRIDE,
                           10,
                           0,
                           ACPI_SCI_IRQ,
                           ACPI_SCI_IRQ,
                           0,
                           0,
                           0,
                           sci_flags,
                           0};
    append_bytes(t, sci, sizeof(sci));

    /* Section 5.2.12.7: NMI on LINT1 of every processor (UID 0xff: all). */
    const uint8_t nmi[] = {MADT_LOCAL_APIC_NMI, 6, 0xff, 0, 0, 1};
    append_bytes(t, nmi, sizeof(nmi));
    if (x2apic) {
        append8(t, MADT_LOCAL_X2APIC_NMI);
        append8(t, 12);
        append16(t, 0);          /* flags: conforms to the bus */
        append32(t, 0xffffffff); /* all processors */
        append8(t, 1);           /* LINT1 */
        append8(t, 0);
        append8(t, 0);
        append8(t, 0);
    }
    table_finish(t);
    return t;
}

/*
 * PCI Firmware 3.0, 4.1.2: MCFG with one allocation, segment 0, buses
 * 0-255 of the ECAM window at base.
 */
static GByteArray *build_mcfg(uint64_t base)
{
    GByteArray *t = table_new("MCFG", 1);

    append64(t, 0);     /* reserved */
    append64(t, base);
    append16(t, 0);     /* PCI segment group */
    append8(t, 0);      /* start bus */
    append8(t, 0xff);   /* end bus */
    append32(t, 0);     /* reserved */
    table_finish(t);
    return t;
}

/* IA-PC HPET specification 1.0a, table 3: the HPET description table. */
static GByteArray *build_hpet(void)
{
    GByteArray *t = table_new("HPET", 1);
    uint8_t gas[12];

    append32(t, HPET_EVENT_TIMER_BLOCK_ID);
    put_gas(gas, 0 /* system memory */, 0, 0, ACPI_HPET_BASE);
    append_bytes(t, gas, sizeof(gas));
    append8(t, 0);      /* HPET number */
    append16(t, 0);     /* minimum clock tick in periodic mode */
    append8(t, 0);      /* page protection: none */
    table_finish(t);
    return t;
}

static GByteArray *build_rsdt(const uint64_t *tables, unsigned n, bool xsdt)
{
    GByteArray *t = table_new(xsdt ? "XSDT" : "RSDT", 1);

    for (unsigned i = 0; i < n; i++) {
        if (xsdt) {
            append64(t, tables[i]);
        } else {
            append32(t, tables[i]);
        }
    }
    table_finish(t);
    return t;
}

/* Section 5.2.5.3: RSDP revision 2 with both checksums. */
static GByteArray *build_rsdp(uint32_t rsdt, uint64_t xsdt)
{
    GByteArray *t = g_byte_array_new();
    uint8_t r[36] = {0};

    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, ACPI_OEM_ID, 6);
    r[15] = 2;
    st32(r + 16, rsdt);
    st32(r + 20, sizeof(r));
    st64(r + 24, xsdt);
    r[8] = -acpi_checksum(r, 20);
    r[32] = -acpi_checksum(r, sizeof(r));
    append_bytes(t, r, sizeof(r));
    return t;
}

/* --- QEMU's BIOS linker/loader script --- */

static void loader_name(uint8_t *p, const char *file)
{
    g_assert(strlen(file) < BIOS_LINKER_LOADER_FILESZ);
    memcpy(p, file, strlen(file));
}

static uint8_t *loader_entry(GByteArray *loader, uint32_t command)
{
    guint off = loader->len;

    g_byte_array_set_size(loader, off + BIOS_LINKER_LOADER_ENTRY_SIZE);
    memset(loader->data + off, 0, BIOS_LINKER_LOADER_ENTRY_SIZE);
    st32(loader->data + off, command);
    return loader->data + off + 4;
}

static void loader_allocate(GByteArray *loader, const char *file,
                            uint32_t align, uint8_t zone)
{
    uint8_t *e = loader_entry(loader, BIOS_LINKER_LOADER_COMMAND_ALLOCATE);

    loader_name(e, file);
    st32(e + BIOS_LINKER_LOADER_FILESZ, align);
    e[BIOS_LINKER_LOADER_FILESZ + 4] = zone;
}

/* dest_file[offset..+size] += the address of src_file */
static void loader_add_pointer(GByteArray *loader, const char *dest_file,
                               uint32_t offset, uint8_t size,
                               const char *src_file)
{
    uint8_t *e = loader_entry(loader, BIOS_LINKER_LOADER_COMMAND_ADD_POINTER);

    loader_name(e, dest_file);
    loader_name(e + BIOS_LINKER_LOADER_FILESZ, src_file);
    st32(e + 2 * BIOS_LINKER_LOADER_FILESZ, offset);
    e[2 * BIOS_LINKER_LOADER_FILESZ + 4] = size;
}

/*
 * file[result] = the checksum of file[start..+len]. Firmware computes it
 * over the result byte too (OVMF assumes it is 0), so it is cleared here.
 */
static void loader_add_checksum(GByteArray *loader, const char *file,
                                GByteArray *data, uint32_t start,
                                uint32_t len, uint32_t result)
{
    uint8_t *e = loader_entry(loader, BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM);

    loader_name(e, file);
    st32(e + BIOS_LINKER_LOADER_FILESZ, result);
    st32(e + BIOS_LINKER_LOADER_FILESZ + 4, start);
    st32(e + BIOS_LINKER_LOADER_FILESZ + 8, len);
    data->data[result] = 0;
}

static void pad_to(GByteArray *a, size_t align)
{
    size_t old = a->len, len = (old + align - 1) & ~(align - 1);

    if (len > old) {
        g_byte_array_set_size(a, len);
        memset(a->data + old, 0, len - old);
    }
}

/* Appends tbl to the tables file at the next multiple of align. */
static uint32_t place(GByteArray *out, const GByteArray *tbl, size_t align)
{
    pad_to(out, align);
    uint32_t off = out->len;

    append_bytes(out, tbl->data, tbl->len);
    return off;
}

/* Appends a finished table and the loader's checksum command for it. */
static uint32_t place_table(AcpiBuildBlobs *b, const GByteArray *tbl)
{
    uint32_t off = place(b->tables, tbl, 16);

    loader_add_checksum(b->loader, ACPI_BUILD_TABLE_FILE, b->tables, off,
                        tbl->len, off + 9);
    return off;
}

bool acpi_build_blobs(const AcpiBuildConfig *cfg, AcpiBuildBlobs *b,
                      GError **errp)
{
    const char *tf = ACPI_BUILD_TABLE_FILE;
    uint64_t entries[5];
    unsigned n = 0;

    if (cfg->ncpus < 1) {
        g_set_error(errp, VIREO_ERROR, 0, "ACPI: no CPUs to describe");
        return false;
    }
    b->tables = g_byte_array_new();
    b->rsdp = NULL;
    b->loader = g_byte_array_new();
    /* every table lives in high memory, FACS 64-byte aligned first */
    loader_allocate(b->loader, tf, 64, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH);

    g_autoptr(GByteArray) facs = build_facs();
    uint32_t off_facs = place(b->tables, facs, 64);
    g_autoptr(GByteArray) dsdt = build_dsdt(cfg);
    uint32_t off_dsdt = place_table(b, dsdt);
    if (cfg->hpet) {
        g_autoptr(GByteArray) hpet = build_hpet();
        entries[n++] = place_table(b, hpet);
    }
    g_autoptr(GByteArray) madt = build_madt(cfg);
    entries[n++] = place_table(b, madt);
    if (cfg->q35) {
        g_autoptr(GByteArray) mcfg = build_mcfg(cfg->mcfg_base);
        entries[n++] = place_table(b, mcfg);
    }

    /* tables holding pointers: pointers first, then their checksum */
    g_autoptr(GByteArray) fadt = build_fadt(cfg, off_facs, off_dsdt);
    uint32_t off_fadt = place(b->tables, fadt, 16);
    loader_add_pointer(b->loader, tf, off_fadt + FADT_FIRMWARE_CTRL, 4, tf);
    loader_add_pointer(b->loader, tf, off_fadt + FADT_DSDT, 4, tf);
    loader_add_pointer(b->loader, tf, off_fadt + FADT_X_DSDT, 8, tf);
    loader_add_checksum(b->loader, tf, b->tables, off_fadt, fadt->len,
                        off_fadt + 9);
    /* the FADT first, as OSPMs expect */
    memmove(entries + 1, entries, n * sizeof(entries[0]));
    entries[0] = off_fadt;
    n++;

    uint32_t off_root[2];
    for (int x = 0; x < 2; x++) {
        g_autoptr(GByteArray) root = build_rsdt(entries, n, x);
        unsigned esize = x ? 8 : 4;
        off_root[x] = place(b->tables, root, 16);
        for (unsigned i = 0; i < n; i++) {
            loader_add_pointer(b->loader, tf,
                               off_root[x] + ACPI_HEADER_SIZE + i * esize,
                               esize, tf);
        }
        loader_add_checksum(b->loader, tf, b->tables, off_root[x],
                            root->len, off_root[x] + 9);
    }
    pad_to(b->tables, 16);

    /* the RSDP in the F segment, where the BIOS-area scan finds it */
    b->rsdp = build_rsdp(off_root[0], off_root[1]);
    loader_allocate(b->loader, ACPI_BUILD_RSDP_FILE, 16,
                    BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG);
    loader_add_pointer(b->loader, ACPI_BUILD_RSDP_FILE, 16, 4, tf);
    loader_add_pointer(b->loader, ACPI_BUILD_RSDP_FILE, 24, 8, tf);
    loader_add_checksum(b->loader, ACPI_BUILD_RSDP_FILE, b->rsdp, 0, 20, 8);
    loader_add_checksum(b->loader, ACPI_BUILD_RSDP_FILE, b->rsdp, 0,
                        b->rsdp->len, 32);
    return true;
}

void acpi_build_blobs_free(AcpiBuildBlobs *b)
{
    if (b->tables) {
        g_byte_array_unref(b->tables);
    }
    if (b->rsdp) {
        g_byte_array_unref(b->rsdp);
    }
    if (b->loader) {
        g_byte_array_unref(b->loader);
    }
    memset(b, 0, sizeof(*b));
}

static AcpiLoaderFile *loader_file(AcpiLoaderFile *files, unsigned n,
                                   const uint8_t *name, GError **errp)
{
    char buf[BIOS_LINKER_LOADER_FILESZ + 1] = {0};

    memcpy(buf, name, BIOS_LINKER_LOADER_FILESZ);
    for (unsigned i = 0; i < n; i++) {
        if (!strcmp(files[i].name, buf)) {
            return &files[i];
        }
    }
    g_set_error(errp, VIREO_ERROR, 0, "table-loader: no file '%s'", buf);
    return NULL;
}

static bool loader_range(const AcpiLoaderFile *f, uint64_t start,
                         uint64_t len, GError **errp)
{
    if (start > f->len || len > f->len - start) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "table-loader: 0x%" PRIx64 "+0x%" PRIx64
                    " is outside '%s' (0x%zx bytes)", start, len, f->name,
                    f->len);
        return false;
    }
    return true;
}

bool acpi_loader_execute(const uint8_t *script, size_t len,
                         AcpiLoaderFile *files, unsigned nr_files,
                         GError **errp)
{
    const size_t fsz = BIOS_LINKER_LOADER_FILESZ;

    if (len % BIOS_LINKER_LOADER_ENTRY_SIZE) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "table-loader: %zu bytes is not a whole number of "
                    "commands", len);
        return false;
    }
    for (size_t off = 0; off < len; off += BIOS_LINKER_LOADER_ENTRY_SIZE) {
        const uint8_t *e = script + off + 4;
        AcpiLoaderFile *f, *src;

        switch (ld32(script + off)) {
        case 0:
            break;      /* padding */
        case BIOS_LINKER_LOADER_COMMAND_ALLOCATE: {
            uint32_t align = ld32(e + fsz);
            if (!(f = loader_file(files, nr_files, e, errp))) {
                return false;
            }
            if (!align || (align & (align - 1)) || f->addr % align) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "table-loader: '%s' at 0x%" PRIx64
                            " is not aligned to %u", f->name, f->addr, align);
                return false;
            }
            break;
        }
        case BIOS_LINKER_LOADER_COMMAND_ADD_POINTER: {
            uint32_t poff = ld32(e + 2 * fsz);
            uint8_t size = e[2 * fsz + 4];
            uint64_t v = 0;
            if (!(f = loader_file(files, nr_files, e, errp)) ||
                !(src = loader_file(files, nr_files, e + fsz, errp)) ||
                !loader_range(f, poff, size, errp)) {
                return false;
            }
            if (size != 1 && size != 2 && size != 4 && size != 8) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "table-loader: pointer size %u", size);
                return false;
            }
            for (unsigned i = 0; i < size; i++) {
                v |= (uint64_t)f->data[poff + i] << (8 * i);
            }
            v += src->addr;
            for (unsigned i = 0; i < size; i++) {
                f->data[poff + i] = v >> (8 * i);
            }
            break;
        }
        case BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM: {
            uint32_t result = ld32(e + fsz), start = ld32(e + fsz + 4);
            uint32_t clen = ld32(e + fsz + 8);
            if (!(f = loader_file(files, nr_files, e, errp)) ||
                !loader_range(f, result, 1, errp) ||
                !loader_range(f, start, clen, errp)) {
                return false;
            }
            f->data[result] = 0;
            f->data[result] = -acpi_checksum(f->data + start, clen);
            break;
        }
        default:
            g_set_error(errp, VIREO_ERROR, 0,
                        "table-loader: unknown command %u",
                        ld32(script + off));
            return false;
        }
    }
    return true;
}

void acpi_build_add_machine_devices(Machine *m, AcpiBuildConfig *cfg)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (!strcmp(d->cls->name, "hpet")) {
            cfg->hpet = true;
        } else if (!strcmp(d->cls->name, "pvpanic")) {
            cfg->pvpanic = true;
        } else if (!strcmp(d->cls->name, "mc146818rtc")) {
            cfg->rtc = true;
        } else if (!strcmp(d->cls->name, "mch")) {
            /* firmware and direct boot both put ECAM at QEMU's base */
            cfg->q35 = true;
            cfg->mcfg_base = Q35_PCIEXBAR_DEFAULT;
        }
    }
}

GByteArray *acpi_build_tables(const AcpiBuildConfig *cfg, hwaddr base,
                              hwaddr *rsdp_addr, GError **errp)
{
    AcpiBuildBlobs b;

    if (base & 15 || base + ACPI_TABLES_END - ACPI_TABLES_ADDR > 1ULL << 32) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "ACPI: tables at 0x%" PRIx64 " must be 16-byte aligned "
                    "and below 4 GiB",
                    (uint64_t)base);
        return NULL;
    }
    if (!acpi_build_blobs(cfg, &b, errp)) {
        return NULL;
    }
    /* the RSDP, then the tables from the next 64-byte boundary */
    GByteArray *out = g_byte_array_new();
    append_bytes(out, b.rsdp->data, b.rsdp->len);
    pad_to(out, 64);
    size_t off_tables = out->len;
    append_bytes(out, b.tables->data, b.tables->len);
    AcpiLoaderFile files[] = {
        { ACPI_BUILD_TABLE_FILE, out->data + off_tables, b.tables->len,
          base + off_tables },
        { ACPI_BUILD_RSDP_FILE, out->data, b.rsdp->len, base },
    };
    bool ok = acpi_loader_execute(b.loader->data, b.loader->len, files,
                                  G_N_ELEMENTS(files), errp);
    acpi_build_blobs_free(&b);
    if (!ok) {
        g_byte_array_unref(out);
        return NULL;
    }
    *rsdp_addr = base;
    return out;
}
