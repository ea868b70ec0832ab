/* Local APIC (SDM vol. 3 ch. 11), 82093AA I/O APIC, and the legacy 8259s. */
#include "testkernel.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define ICR_BUSY (1u << 12)

static uint64_t lapic_base(void)
{
    return acpi.lapic_base ? acpi.lapic_base : 0xfee00000;
}

uint32_t lapic_read(uint32_t reg)
{
    return mmio_read32(lapic_base() + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(lapic_base() + reg, v);
}

uint32_t lapic_id(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* Remap the 8259s away from the exception vectors and mask every line, so
 * only the IOAPIC delivers ISA interrupts. Harmless where there is no PIC. */
void pic_disable(void)
{
    static const uint16_t base[2] = { 0x20, 0xa0 };
    for (int i = 0; i < 2; i++) {
        outb(base[i], 0x11);                     /* ICW1: init, ICW4 */
        outb(base[i] + 1, VEC_PIC_BASE + 8 * i); /* ICW2: vector base */
        outb(base[i] + 1, i ? 2 : 4);            /* ICW3: cascade on IR2 */
        outb(base[i] + 1, 0x01);                 /* ICW4: 8086 mode */
        outb(base[i] + 1, 0xff);                 /* OCW1: mask all */
    }
}

void lapic_init(void)
{
    uint64_t apicbase = rdmsr(0x1b);
    if (!(apicbase & (1 << 11)))
        printk("note: IA32_APIC_BASE global enable is off (%lx)\n",
               (unsigned long)apicbase);
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_TIMER, 1 << 16);
    lapic_write(LAPIC_LVT_ERROR, 1 << 16);
}

/* Send one IPI; false if the ICR stays busy (bounded wait). */
bool lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    uint64_t dl = deadline_after_ms(100);

    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr_low);
    while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY) {
        if (deadline_passed(dl))
            return false;
        cpu_relax();
    }
    return true;
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(acpi.ioapic_base + IOAPIC_REGSEL, reg);
    mmio_write32(acpi.ioapic_base + IOAPIC_WIN, v);
}

/* Route a GSI to vector on CPU dest, fixed delivery, physical mode.
 * mps_flags: MADT override flags (bits 0-1 polarity, 2-3 trigger). */
void ioapic_route(uint32_t gsi, uint8_t vector, uint16_t mps_flags, uint32_t dest)
{
    uint32_t pin = gsi - acpi.ioapic_gsi_base;
    uint32_t low = vector;

    if ((mps_flags & 3) == 3)
        low |= 1 << 13;  /* active low */
    if (((mps_flags >> 2) & 3) == 3)
        low |= 1 << 15;  /* level triggered */
    ioapic_write(IOAPIC_REDTBL(pin) + 1, dest << 24);
    ioapic_write(IOAPIC_REDTBL(pin), low);
}

void ioapic_mask(uint32_t gsi)
{
    ioapic_write(IOAPIC_REDTBL(gsi - acpi.ioapic_gsi_base), 1 << 16);
}
