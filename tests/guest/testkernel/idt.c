/* Long-mode IDT: every vector goes through isr.S to irq_dispatch. */
#include "testkernel.h"

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

extern const uint64_t isr_table[256];
static struct idt_entry idt[256] __attribute__((aligned(16)));
static irq_handler_t handlers[256];
volatile uint64_t irq_count[256];

void idt_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint64_t a = isr_table[i];
        idt[i].off_lo = a & 0xffff;
        idt[i].sel = KERNEL_CS64;
        idt[i].ist = 0;
        idt[i].type = 0x8e; /* present, DPL0, 64-bit interrupt gate */
        idt[i].off_mid = (a >> 16) & 0xffff;
        idt[i].off_hi = a >> 32;
        idt[i].zero = 0;
    }
    idt_load();
}

void idt_load(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = { sizeof(idt) - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" : : "m"(desc));
}

void irq_set_handler(uint8_t vector, irq_handler_t h)
{
    handlers[vector] = h;
}

void irq_dispatch(struct irq_frame *f);
void irq_dispatch(struct irq_frame *f)
{
    uint8_t v = (uint8_t)f->vector;

    __atomic_fetch_add(&irq_count[v], 1, __ATOMIC_RELAXED);
    if (handlers[v]) {
        handlers[v](f);
        return;
    }
    if (v < 32) {
        uint64_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        printk("FAIL exception: vector %u error %lx rip %lx cr2 %lx rsp %lx\n",
               v, (unsigned long)f->error, (unsigned long)f->rip,
               (unsigned long)cr2, (unsigned long)f->rsp);
        printk("TESTKERNEL DONE pass=0 fail=1\n");
        debug_exit(1);
    }
    if (v >= VEC_PIC_BASE && v < VEC_PIC_BASE + 16)
        return; /* spurious 8259 interrupt: no EOI to the LAPIC */
    if (v != VEC_SPURIOUS)
        lapic_eoi();
}
