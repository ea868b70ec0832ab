/*
 * ACPI tables for direct boot, read back the way a guest's OSPM finds them:
 * RSDP -> RSDT/XSDT -> FADT -> DSDT/FACS, MADT; checksums, CPU entries, the
 * PM register block, and the DSDT's AML structure (PkgLength nesting, _S5_);
 * then the acpi-pm device those tables describe, through the I/O space.
 */
#include <glib.h>
#include <string.h>

#include "../../hw/i386/x86_boot_internal.h"
#include "hw/device.h"
#include "system/vm.h"
#include "util/le.h"
#include "io-machine.h"

#define BASE 0xe0000

typedef struct Tables {
    GByteArray *blob;
    hwaddr rsdp;
} Tables;

static void build(Tables *t, int ncpus, bool pc)
{
    g_autofree uint32_t *ids = g_new(uint32_t, ncpus);
    GError *err = NULL;

    for (int i = 0; i < ncpus; i++) {
        ids[i] = i;
    }
    AcpiBuildConfig cfg = {
        .ncpus = ncpus,
        .apic_ids = ids,
        .pc_legacy = pc,
        .rtc = pc,
        .pm_base = X86_ACPI_PM_BASE,
    };
    t->blob = acpi_build_tables(&cfg, BASE, &t->rsdp, &err);
    g_assert_no_error(err);
    g_assert_nonnull(t->blob);
}

/* A table at guest address addr, its checksum and length checked. */
static const uint8_t *table_at(Tables *t, uint64_t addr, const char *sig)
{
    g_assert_cmphex(addr, >=, BASE);
    g_assert_cmphex(addr + 36, <=, BASE + t->blob->len);
    const uint8_t *p = t->blob->data + (addr - BASE);
    uint32_t len = ld32(p + 4);
    g_assert_cmpmem(p, 4, sig, 4);
    g_assert_cmphex(addr + len, <=, BASE + t->blob->len);
    g_assert_cmpuint(acpi_checksum(p, len), ==, 0);
    return p;
}

static const uint8_t *find_table(Tables *t, const char *sig)
{
    const uint8_t *rsdp = t->blob->data + (t->rsdp - BASE);
    const uint8_t *xsdt = table_at(t, ld64(rsdp + 24), "XSDT");
    unsigned n = (ld32(xsdt + 4) - 36) / 8;

    for (unsigned i = 0; i < n; i++) {
        const uint8_t *p = t->blob->data + (ld64(xsdt + 36 + i * 8) - BASE);
        if (memcmp(p, sig, 4) == 0) {
            return table_at(t, ld64(xsdt + 36 + i * 8), sig);
        }
    }
    return NULL;
}

static void test_rsdp_and_root_tables(void)
{
    Tables t;

    build(&t, 2, true);
    g_assert_cmphex(t.rsdp & 15, ==, 0);
    g_assert_cmphex(t.rsdp, ==, BASE);
    const uint8_t *rsdp = t.blob->data + (t.rsdp - BASE);
    g_assert_cmpmem(rsdp, 8, "RSD PTR ", 8);
    g_assert_cmpuint(rsdp[15], ==, 2);
    g_assert_cmpuint(acpi_checksum(rsdp, 20), ==, 0);
    g_assert_cmpuint(ld32(rsdp + 20), ==, 36);
    g_assert_cmpuint(acpi_checksum(rsdp, 36), ==, 0);

    /* RSDT and XSDT list the same tables */
    const uint8_t *rsdt = table_at(&t, ld32(rsdp + 16), "RSDT");
    const uint8_t *xsdt = table_at(&t, ld64(rsdp + 24), "XSDT");
    unsigned n = (ld32(rsdt + 4) - 36) / 4;
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint((ld32(xsdt + 4) - 36) / 8, ==, n);
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmphex(ld32(rsdt + 36 + i * 4), ==, ld64(xsdt + 36 + i * 8));
    }
    g_assert_nonnull(find_table(&t, "FACP"));
    g_assert_nonnull(find_table(&t, "APIC"));
    g_byte_array_unref(t.blob);
}

static void test_fadt_pm_block(void)
{
    Tables t;

    build(&t, 1, true);
    const uint8_t *f = find_table(&t, "FACP");
    g_assert_cmpuint(ld32(f + 4), ==, 276);
    g_assert_cmpuint(ld16(f + 46), ==, 9);    /* SCI_INT */
    g_assert_cmpuint(ld32(f + 48), ==, 0);    /* SMI_CMD */
    g_assert_cmphex(ld32(f + 56), ==, 0x600); /* PM1a_EVT_BLK */
    g_assert_cmphex(ld32(f + 64), ==, 0x604); /* PM1a_CNT_BLK */
    g_assert_cmphex(ld32(f + 76), ==, 0x608); /* PM_TMR_BLK */
    g_assert_cmpuint(f[88], ==, 4);
    g_assert_cmpuint(f[89], ==, 2);
    g_assert_cmpuint(f[91], ==, 4);
    g_assert_cmphex(ld16(f + 109) & 3, ==, 3); /* legacy, 8042 */
    uint32_t flags = ld32(f + 112);
    g_assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
    g_assert_false(flags & (1u << 8));  /* 24-bit timer */
    g_assert_false(flags & (1u << 20)); /* not HW-reduced */
    g_assert_cmpuint(f[116], ==, 1);    /* I/O space */
    g_assert_cmphex(ld64(f + 120), ==, 0xcf9);
    g_assert_cmphex(f[128], ==, 0x06);
    g_assert_cmphex(ld64(f + 148 + 4), ==, 0x600); /* X_PM1a_EVT */
    g_assert_cmphex(ld64(f + 208 + 4), ==, 0x608); /* X_PM_TMR */

    /* DSDT and X_DSDT agree; FACS is 64-byte aligned */
    g_assert_cmphex(ld32(f + 40), ==, ld64(f + 140));
    table_at(&t, ld32(f + 40), "DSDT");
    uint32_t facs = ld32(f + 36);
    g_assert_cmphex(facs & 63, ==, 0);
    const uint8_t *fp = t.blob->data + (facs - BASE);
    g_assert_cmpmem(fp, 4, "FACS", 4);
    g_assert_cmpuint(ld32(fp + 4), ==, 64);
    g_byte_array_unref(t.blob);
}

/*
 * Linux creates its fixed power button (LNXPWRBN, driver "button") only when
 * the FADT's PWR_BUTTON flag is clear, and it enables and reads PWRBTN_EN/STS
 * in PM1a_EVT_BLK, whose length is status plus enable, and takes the SCI on
 * SCI_INT. The same on both machines: system_powerdown depends on it.
 */
static void check_fixed_power_button(bool pc)
{
    Tables t;

    build(&t, 1, pc);
    const uint8_t *f = find_table(&t, "FACP");
    uint32_t flags = ld32(f + 112);
    g_assert_false(flags & (1u << 4)); /* PWR_BUTTON: fixed button present */
    g_assert_true(flags & (1u << 5));  /* SLP_BUTTON: no sleep button */
    g_assert_cmpuint(ld16(f + 46), ==, ACPI_SCI_IRQ); /* SCI_INT */
    g_assert_cmphex(ld32(f + 56), ==, X86_ACPI_PM_BASE); /* PM1a_EVT_BLK */
    g_assert_cmpuint(f[88], ==, 4);                      /* PM1_EVT_LEN */
    g_assert_cmpuint(f[148], ==, 1);                     /* X_PM1a_EVT: I/O */
    g_assert_cmpuint(f[149], ==, 32);
    g_assert_cmphex(ld64(f + 152), ==, X86_ACPI_PM_BASE);
    g_byte_array_unref(t.blob);
}

static void test_fadt_fixed_power_button(void)
{
    check_fixed_power_button(true);
    check_fixed_power_button(false);
}

static void test_fadt_microvm_has_no_8042(void)
{
    Tables t;

    build(&t, 1, false);
    const uint8_t *f = find_table(&t, "FACP");
    g_assert_cmphex(ld16(f + 109) & 2, ==, 0);
    g_byte_array_unref(t.blob);
}

typedef struct MadtCount {
    unsigned lapic, x2apic, ioapic, iso, nmi;
    uint32_t ioapic_addr, ioapic_id;
    uint32_t iso_gsi[16];
    uint16_t iso_flags[16];
} MadtCount;

static void count_madt(Tables *t, MadtCount *c)
{
    const uint8_t *m = find_table(t, "APIC");
    uint32_t len = ld32(m + 4);

    memset(c, 0, sizeof(*c));
    memset(c->iso_gsi, 0xff, sizeof(c->iso_gsi));
    g_assert_cmphex(ld32(m + 36), ==, X86_LAPIC_BASE);
    for (uint32_t off = 44; off < len; off += m[off + 1]) {
        const uint8_t *e = m + off;
        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(off + e[1], <=, len);
        switch (e[0]) {
        case 0:
            g_assert_cmpuint(e[3], ==, c->lapic);     /* APIC ID */
            g_assert_cmpuint(ld32(e + 4) & 1, ==, 1); /* enabled */
            c->lapic++;
            break;
        case 9:
            c->x2apic++;
            break;
        case 1:
            c->ioapic++;
            c->ioapic_id = e[2];
            c->ioapic_addr = ld32(e + 4);
            g_assert_cmpuint(ld32(e + 8), ==, 0);
            break;
        case 2:
            c->iso++;
            g_assert_cmpuint(e[3], <, 16);
            c->iso_gsi[e[3]] = ld32(e + 4);
            c->iso_flags[e[3]] = ld16(e + 8);
            break;
        case 4:
            c->nmi++;
            g_assert_cmphex(e[2], ==, 0xff);
            g_assert_cmpuint(e[5], ==, 1); /* LINT1 */
            break;
        }
    }
}

static void test_madt_one_lapic_per_cpu(void)
{
    static const int counts[] = {1, 4, 64};

    for (unsigned i = 0; i < G_N_ELEMENTS(counts); i++) {
        Tables t;
        MadtCount c;
        build(&t, counts[i], true);
        count_madt(&t, &c);
        g_assert_cmpuint(c.lapic, ==, counts[i]);
        g_assert_cmpuint(c.x2apic, ==, 0);
        g_assert_cmpuint(c.ioapic, ==, 1);
        g_assert_cmphex(c.ioapic_addr, ==, X86_IOAPIC_BASE);
        g_assert_cmpuint(c.ioapic_id, ==, counts[i]);
        g_assert_cmpuint(c.nmi, ==, 1);
        g_assert_cmpuint(c.iso, ==, 2);
        g_assert_cmpuint(c.iso_gsi[0], ==, 2);
        g_assert_cmpuint(c.iso_gsi[9], ==, 9);
        g_assert_cmphex(c.iso_flags[9], ==, 0xd); /* level, high */
        g_byte_array_unref(t.blob);
    }
}

static void test_madt_x2apic_above_254(void)
{
    Tables t;
    MadtCount c;

    build(&t, 300, true);
    count_madt(&t, &c);
    g_assert_cmpuint(c.lapic + c.x2apic, ==, 300);
    g_assert_cmpuint(c.x2apic, ==, 300 - 255);
    g_byte_array_unref(t.blob);
}

/* --- AML --- */

static size_t pkglength(const uint8_t *p, size_t *nbytes)
{
    unsigned follow = p[0] >> 6;

    *nbytes = follow + 1;
    if (!follow) {
        return p[0] & 0x3f;
    }
    size_t len = p[0] & 0x0f;
    for (unsigned i = 0; i < follow; i++) {
        len |= (size_t)p[1 + i] << (4 + 8 * i);
    }
    return len;
}

static const uint8_t *find_bytes(const uint8_t *hay, size_t n,
                                 const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

static void test_dsdt_aml_structure(void)
{
    Tables t;

    build(&t, 1, true);
    const uint8_t *f = find_table(&t, "FACP");
    const uint8_t *d = table_at(&t, ld32(f + 40), "DSDT");
    uint32_t len = ld32(d + 4);
    size_t off = 36, n;

    /* Scope(\_SB_) { Device()... } then Name(\_S5_, ...) fill the table */
    g_assert_cmphex(d[off], ==, 0x10);
    size_t scope_len = pkglength(d + off + 1, &n);
    g_assert_cmpuint(n, ==, 2); /* > 63 bytes: 2-byte form */
    size_t scope_end = off + 1 + scope_len;
    g_assert_cmpmem(d + off + 1 + n, 5, "\\_SB_", 5);

    /* the devices tile the scope exactly */
    size_t p = off + 1 + n + 5;
    unsigned devices = 0;
    while (p < scope_end) {
        g_assert_cmphex(d[p], ==, 0x5b);
        g_assert_cmphex(d[p + 1], ==, 0x82);
        p += 2 + pkglength(d + p + 2, &n);
        devices++;
    }
    g_assert_cmpuint(p, ==, scope_end);
    g_assert_cmpuint(devices, ==, 6); /* COM1 COM2 KBD MOU RTC PCI0 */

    /* Name(\_S5_, Package(4) { 5, 5, 0, 0 }) */
    static const uint8_t s5[] = {0x08, '\\', '_',  'S',  '5',  '_',  0x12, 0x08,
                                 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00};
    g_assert_cmpuint(len - scope_end, ==, sizeof(s5));
    g_assert_cmpmem(d + scope_end, sizeof(s5), s5, sizeof(s5));

    /* COM1: _HID EisaId("PNP0501"), I/O 0x3f8 len 8, IRQ 4 */
    static const uint8_t hid[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
    static const uint8_t io[] = {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01,
                                 0x08, 0x22, 0x10, 0x00, 0x79, 0x00};
    g_assert_nonnull(find_bytes(d, len, hid, sizeof(hid)));
    g_assert_nonnull(find_bytes(d, len, io, sizeof(io)));
    g_byte_array_unref(t.blob);
}

static void test_dsdt_microvm_serial_only(void)
{
    Tables t;

    build(&t, 1, false);
    const uint8_t *f = find_table(&t, "FACP");
    const uint8_t *d = table_at(&t, ld32(f + 40), "DSDT");
    uint32_t len = ld32(d + 4);
    g_assert_nonnull(find_bytes(d, len, "_S5_", 4));
    g_assert_nonnull(find_bytes(d, len, "COM1", 4));
    g_assert_null(find_bytes(d, len, "KBD_", 4));
    g_byte_array_unref(t.blob);
}

static void test_every_checksum_is_zero(void)
{
    Tables t;
    static const char *const sigs[] = {"FACP", "APIC"};

    build(&t, 8, true);
    for (unsigned i = 0; i < G_N_ELEMENTS(sigs); i++) {
        const uint8_t *p = find_table(&t, sigs[i]);
        g_assert_nonnull(p);
        g_assert_cmpuint(acpi_checksum(p, ld32(p + 4)), ==, 0);
    }
    g_byte_array_unref(t.blob);
}

/* --- the acpi-pm device behind the FADT's PM block --- */

#define PM1_STS 0x600
#define PM1_EN 0x602
#define PM1_CNT 0x604
#define PM_TMR 0x608

static int sci_level, sci_changes;

static void gsi_handler(void *opaque, int n, int level)
{
    if (n == ACPI_SCI_IRQ) {
        sci_level = level;
        sci_changes++;
    }
}

typedef struct TestMachine {
    Machine m;
    MemoryRegion io;
} TestMachine;

static void tm_init(TestMachine *tm)
{
    GError *err = NULL;

    memset(tm, 0, sizeof(*tm));
    io_machine_init(&tm->m, &tm->io, gsi_handler);
    sci_level = sci_changes = 0;
    Device *dev = device_new("acpi-pm", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, &tm->m, &err));
    g_assert_no_error(err);
    /* drop requests left by an earlier test */
    int status;
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
}

static void tm_fini(TestMachine *tm)
{
    io_machine_fini(&tm->m, &tm->io);
}

static uint64_t in(TestMachine *tm, uint16_t port, unsigned size)
{
    uint64_t v = 0;
    address_space_ld(&tm->m.as_io, port, size, &v);
    return v;
}

static void out(TestMachine *tm, uint16_t port, unsigned size, uint64_t v)
{
    address_space_st(&tm->m.as_io, port, size, v);
}

static void test_pm_sci_en_always_set(void)
{
    TestMachine tm;

    tm_init(&tm);
    g_assert_cmphex(in(&tm, PM1_CNT, 2) & 1, ==, 1);
    out(&tm, PM1_CNT, 2, 0);
    g_assert_cmphex(in(&tm, PM1_CNT, 2) & 1, ==, 1);
    tm_fini(&tm);
}

static void test_pm_power_button_raises_sci(void)
{
    TestMachine tm;

    tm_init(&tm);
    /* pressed while disabled: status only */
    g_assert_true(acpi_pm_power_button(&tm.m));
    g_assert_cmphex(in(&tm, PM1_STS, 2) & 0x100, ==, 0x100);
    g_assert_cmpint(sci_level, ==, 0);
    /* enabling it raises the level-triggered SCI */
    out(&tm, PM1_EN, 2, 0x100);
    g_assert_cmphex(in(&tm, PM1_EN, 2), ==, 0x100);
    g_assert_cmpint(sci_level, ==, 1);
    /* writing 0 to the status changes nothing; writing 1 clears it */
    out(&tm, PM1_STS, 2, 0);
    g_assert_cmpint(sci_level, ==, 1);
    out(&tm, PM1_STS + 1, 1, 0x01);
    g_assert_cmphex(in(&tm, PM1_STS, 2) & 0x100, ==, 0);
    g_assert_cmpint(sci_level, ==, 0);
    /* a 32-bit access covers status and enable together */
    g_assert_true(acpi_pm_power_button(&tm.m));
    g_assert_cmphex(in(&tm, PM1_STS, 4) & 0xffff0100, ==, 0x01000100);
    out(&tm, PM1_STS, 4, 0x00000100);
    g_assert_cmpint(sci_level, ==, 0);
    g_assert_cmphex(in(&tm, PM1_EN, 2), ==, 0);
    tm_fini(&tm);
}

static void test_pm_power_button_without_acpi_pm(void)
{
    Machine m;
    MemoryRegion io;

    /* -machine acpi=off: no acpi-pm, nothing to press */
    io_machine_init(&m, &io, gsi_handler);
    sci_level = sci_changes = 0;
    g_assert_false(acpi_pm_power_button(&m));
    g_assert_cmpint(sci_changes, ==, 0);
    io_machine_fini(&m, &io);
}

static void test_pm_power_button_cleared_by_reset(void)
{
    TestMachine tm;

    tm_init(&tm);
    out(&tm, PM1_EN, 2, 0x100);
    g_assert_true(acpi_pm_power_button(&tm.m));
    g_assert_cmpint(sci_level, ==, 1);
    /* a machine reset forgets the press and lowers the SCI */
    tm.m.devices->cls->reset(tm.m.devices);
    g_assert_cmphex(in(&tm, PM1_STS, 2) & 0x100, ==, 0);
    g_assert_cmphex(in(&tm, PM1_EN, 2), ==, 0);
    g_assert_cmpint(sci_level, ==, 0);
    tm_fini(&tm);
}

static void test_pm_s5_powers_off(void)
{
    TestMachine tm;
    int status = -1;

    tm_init(&tm);
    /* S1 (not offered) does nothing */
    out(&tm, PM1_CNT, 2, 1 << 10 | 1 << 13);
    g_assert_cmpint(vm_take_shutdown_request(&status), ==, SHUTDOWN_NONE);
    /* SLP_EN is write-only */
    g_assert_cmphex(in(&tm, PM1_CNT, 2) & (1 << 13), ==, 0);
    out(&tm, PM1_CNT, 2, ACPI_S5_SLP_TYP << 10 | 1 << 13);
    g_assert_cmpint(vm_take_shutdown_request(&status), ==,
                    SHUTDOWN_GUEST_POWEROFF);
    g_assert_cmpint(status, ==, 0);
    tm_fini(&tm);
}

static void test_pm_timer_counts_24_bits(void)
{
    TestMachine tm;

    tm_init(&tm);
    uint32_t a = in(&tm, PM_TMR, 4);
    g_usleep(2000);
    uint32_t b = in(&tm, PM_TMR, 4);
    g_assert_cmphex(a >> 24, ==, 0);
    g_assert_cmphex(b >> 24, ==, 0);
    /* 2 ms at 3.579545 MHz is about 7160 ticks */
    uint32_t delta = (b - a) & 0xffffff;
    g_assert_cmpuint(delta, >=, 7000);
    g_assert_cmpuint(delta, <, 3579545);
    tm_fini(&tm);
}

static void test_pm_reset_register(void)
{
    TestMachine tm;

    tm_init(&tm);
    out(&tm, ACPI_RESET_PORT, 1, 0x02);
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_NONE);
    g_assert_cmphex(in(&tm, ACPI_RESET_PORT, 1), ==, 0x02);
    out(&tm, ACPI_RESET_PORT, 1, ACPI_RESET_VALUE);
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_GUEST_RESET);
    tm_fini(&tm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/rsdp-and-root-tables", test_rsdp_and_root_tables);
    g_test_add_func("/acpi/every-checksum-is-zero",
                    test_every_checksum_is_zero);
    g_test_add_func("/acpi/fadt/pm-block", test_fadt_pm_block);
    g_test_add_func("/acpi/fadt/fixed-power-button",
                    test_fadt_fixed_power_button);
    g_test_add_func("/acpi/fadt/microvm-has-no-8042",
                    test_fadt_microvm_has_no_8042);
    g_test_add_func("/acpi/madt/one-lapic-per-cpu",
                    test_madt_one_lapic_per_cpu);
    g_test_add_func("/acpi/madt/x2apic-above-254", test_madt_x2apic_above_254);
    g_test_add_func("/acpi/dsdt/aml-structure", test_dsdt_aml_structure);
    g_test_add_func("/acpi/dsdt/microvm-serial-only",
                    test_dsdt_microvm_serial_only);
    g_test_add_func("/acpi/pm/sci-en-always-set", test_pm_sci_en_always_set);
    g_test_add_func("/acpi/pm/power-button-raises-sci",
                    test_pm_power_button_raises_sci);
    g_test_add_func("/acpi/pm/power-button-without-acpi-pm",
                    test_pm_power_button_without_acpi_pm);
    g_test_add_func("/acpi/pm/power-button-cleared-by-reset",
                    test_pm_power_button_cleared_by_reset);
    g_test_add_func("/acpi/pm/s5-powers-off", test_pm_s5_powers_off);
    g_test_add_func("/acpi/pm/timer-counts-24-bits",
                    test_pm_timer_counts_24_bits);
    g_test_add_func("/acpi/pm/reset-register", test_pm_reset_register);
    return g_test_run();
}
