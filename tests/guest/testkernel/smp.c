/*
 * The "cpus" test: count the enabled processors in the MADT, start every AP
 * with INIT-SIPI-SIPI (SDM vol. 3 §8.4.4) through the real-mode trampoline,
 * and check that each one reaches long mode and reports its APIC ID.
 */
#include "testkernel.h"

extern char trampoline_start[], trampoline_end[];

static volatile uint32_t ap_seen_count;
static volatile uint8_t ap_seen[256];

void ap_main(void);
void ap_main(void)
{
    uint32_t id;

    idt_load();
    id = lapic_id();
    __atomic_store_n(&ap_seen[id & 0xff], 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&ap_seen_count, 1, __ATOMIC_RELEASE);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static bool trampoline_in_ram(void)
{
    for (int i = 0; i < boot.nmmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        if (r->type == E820_RAM && r->base <= TRAMPOLINE_BASE &&
            r->base + r->len >= TRAMPOLINE_BASE + 0x1000)
            return true;
    }
    return false;
}

void test_cpus(void)
{
    const char *v;
    size_t len;
    uint64_t want = 0;
    uint32_t bsp = lapic_id();
    int aps = 0;
    uint64_t dl;

    printk("cpus: MADT lists %d enabled CPUs, BSP APIC ID %u\n", acpi.ncpus, bsp);
    if (!acpi.have_madt) {
        test_fail("cpus", "no MADT");
        return;
    }
    if (cmdline_get("cpus", &v, &len) && !parse_u64(v, len, 10, &want)) {
        test_fail("cpus", "bad cpus= value");
        return;
    }
    if (want && want != (uint64_t)acpi.ncpus) {
        test_fail("cpus", "MADT has %d enabled CPUs, expected %lu", acpi.ncpus,
                  (unsigned long)want);
        return;
    }
    if (acpi.ncpus > 1 && !trampoline_in_ram()) {
        test_fail("cpus", "trampoline page 0x%x is not usable RAM in the memory map",
                  TRAMPOLINE_BASE);
        return;
    }
    memcpy((void *)TRAMPOLINE_BASE, trampoline_start,
           trampoline_end - trampoline_start);
    barrier();

    for (int i = 0; i < acpi.ncpus; i++) {
        uint32_t id = acpi.apic_ids[i];
        if (id == bsp)
            continue;
        aps++;
        lapic_write(LAPIC_ESR, 0);
        if (!lapic_send_ipi(id, 0x00004500)) { /* INIT, level assert */
            test_fail("cpus", "INIT IPI to APIC %u not delivered", id);
            return;
        }
        delay_us(10000);
        for (int s = 0; s < 2; s++) {
            if (!lapic_send_ipi(id, 0x00004600 | (TRAMPOLINE_BASE >> 12))) {
                test_fail("cpus", "SIPI to APIC %u not delivered", id);
                return;
            }
            delay_us(200);
        }
    }
    /* generous: the trampoline's real and protected mode may be emulated */
    dl = deadline_after_ms(10000);
    while (ap_seen_count < (uint32_t)aps && !deadline_passed(dl))
        cpu_relax();
    if (ap_seen_count != (uint32_t)aps) {
        test_fail("cpus", "%u of %d APs reached long mode", ap_seen_count, aps);
        return;
    }
    for (int i = 0; i < acpi.ncpus; i++) {
        uint32_t id = acpi.apic_ids[i];
        if (id != bsp && !ap_seen[id & 0xff]) {
            test_fail("cpus", "APIC %u did not report in", id);
            return;
        }
    }
    printk("cpus: %d APs started\n", aps);
    test_pass("cpus");
}
