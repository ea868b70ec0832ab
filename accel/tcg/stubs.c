/*
 * TEMPORARY: weak placeholders for the software CPU and interrupt
 * controller interfaces while they are written in parallel, so that every
 * part links at any time. A real definition overrides each. Removed when
 * the accelerator is complete.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hw/intc/x86-irqchip.h"
#include "system/timer.h"
#include "../../target/x86/internal.h"

#define WEAK __attribute__((weak))
#define MISSING(name) \
    do { fprintf(stderr, "vireo: %s is not written yet\n", name); abort(); } while (0)

WEAK X86CPU *x86_cpu_new(CPUState *cs);
WEAK X86CPU *x86_cpu_new(CPUState *cs)
{
    MISSING("x86_cpu_new");
}

WEAK void x86_cpu_free(X86CPU *cpu);
WEAK void x86_cpu_free(X86CPU *cpu)
{
    MISSING("x86_cpu_free");
}

WEAK void x86_cpu_reset(X86CPU *cpu, const BootState *boot, bool bsp);
WEAK void x86_cpu_reset(X86CPU *cpu, const BootState *boot, bool bsp)
{
    MISSING("x86_cpu_reset");
}

WEAK void x86_cpu_cpuid(X86CPU *cpu, uint32_t leaf, uint32_t subleaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx);
WEAK void x86_cpu_cpuid(X86CPU *cpu, uint32_t leaf, uint32_t subleaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
    MISSING("x86_cpu_cpuid");
}

WEAK bool x86_cpu_has_work(X86CPU *cpu);
WEAK bool x86_cpu_has_work(X86CPU *cpu)
{
    MISSING("x86_cpu_has_work");
}

WEAK X86ExitReason x86_cpu_exec(X86CPU *cpu);
WEAK X86ExitReason x86_cpu_exec(X86CPU *cpu)
{
    MISSING("x86_cpu_exec");
}

WEAK void x86_phys_map_listen(Machine *m);
WEAK void x86_phys_map_listen(Machine *m)
{
    MISSING("x86_phys_map_listen");
}

WEAK void x86_cpu_flush_all(X86CPU *cpu);
WEAK void x86_cpu_flush_all(X86CPU *cpu)
{
    MISSING("x86_cpu_flush_all");
}

WEAK void x86_code_invalidate(uint64_t paddr, uint64_t len);
WEAK void x86_code_invalidate(uint64_t paddr, uint64_t len)
{
    MISSING("x86_code_invalidate");
}

WEAK void x86_decode(X86CPU *cpu, uint64_t lin, X86Insn *insn);
WEAK void x86_decode(X86CPU *cpu, uint64_t lin, X86Insn *insn)
{
    MISSING("x86_decode");
}

WEAK uint64_t x86_insn_ea(X86CPU *cpu, const X86Insn *insn);
WEAK uint64_t x86_insn_ea(X86CPU *cpu, const X86Insn *insn)
{
    MISSING("x86_insn_ea");
}

WEAK uint64_t x86_insn_linear(X86CPU *cpu, const X86Insn *insn);
WEAK uint64_t x86_insn_linear(X86CPU *cpu, const X86Insn *insn)
{
    MISSING("x86_insn_linear");
}

WEAK uint64_t x86_seg_linear(X86CPU *cpu, int seg, uint64_t off);
WEAK uint64_t x86_seg_linear(X86CPU *cpu, int seg, uint64_t off)
{
    MISSING("x86_seg_linear");
}

WEAK uint32_t x86_compute_flags(X86CPU *cpu);
WEAK uint32_t x86_compute_flags(X86CPU *cpu)
{
    MISSING("x86_compute_flags");
}

WEAK uint64_t x86_get_eflags(X86CPU *cpu);
WEAK uint64_t x86_get_eflags(X86CPU *cpu)
{
    MISSING("x86_get_eflags");
}

WEAK void x86_set_eflags(X86CPU *cpu, uint64_t val, uint64_t mask);
WEAK void x86_set_eflags(X86CPU *cpu, uint64_t val, uint64_t mask)
{
    MISSING("x86_set_eflags");
}

WEAK bool x86_condition(X86CPU *cpu, int cc);
WEAK bool x86_condition(X86CPU *cpu, int cc)
{
    MISSING("x86_condition");
}

WEAK void x86_code_page_written(X86CPU *cpu, uint32_t *page_word);
WEAK void x86_code_page_written(X86CPU *cpu, uint32_t *page_word)
{
    MISSING("x86_code_page_written");
}

WEAK void x86_exec_system(X86CPU *cpu, const X86Insn *insn);
WEAK void x86_exec_system(X86CPU *cpu, const X86Insn *insn)
{
    MISSING("x86_exec_system");
}

WEAK void x86_exec_x87(X86CPU *cpu, const X86Insn *insn);
WEAK void x86_exec_x87(X86CPU *cpu, const X86Insn *insn)
{
    MISSING("x86_exec_x87");
}

WEAK void x86_exec_sse(X86CPU *cpu, const X86Insn *insn);
WEAK void x86_exec_sse(X86CPU *cpu, const X86Insn *insn)
{
    MISSING("x86_exec_sse");
}

WEAK noreturn void x86_raise_exception(X86CPU *cpu, int vector);
WEAK noreturn void x86_raise_exception(X86CPU *cpu, int vector)
{
    MISSING("x86_raise_exception");
}

WEAK noreturn void x86_raise_exception_err(X86CPU *cpu, int vector, uint32_t error);
WEAK noreturn void x86_raise_exception_err(X86CPU *cpu, int vector, uint32_t error)
{
    MISSING("x86_raise_exception_err");
}

WEAK noreturn void x86_raise_page_fault(X86CPU *cpu, uint64_t addr, uint32_t error);
WEAK noreturn void x86_raise_page_fault(X86CPU *cpu, uint64_t addr, uint32_t error)
{
    MISSING("x86_raise_page_fault");
}

WEAK noreturn void x86_raise_soft_interrupt(X86CPU *cpu, int vector);
WEAK noreturn void x86_raise_soft_interrupt(X86CPU *cpu, int vector)
{
    MISSING("x86_raise_soft_interrupt");
}

WEAK void x86_deliver_exception(X86CPU *cpu);
WEAK void x86_deliver_exception(X86CPU *cpu)
{
    MISSING("x86_deliver_exception");
}

WEAK void x86_handle_interrupts(X86CPU *cpu);
WEAK void x86_handle_interrupts(X86CPU *cpu)
{
    MISSING("x86_handle_interrupts");
}

WEAK void x86_update_mode(X86CPU *cpu);
WEAK void x86_update_mode(X86CPU *cpu)
{
    MISSING("x86_update_mode");
}

WEAK void x86_load_seg(X86CPU *cpu, int seg, uint16_t selector);
WEAK void x86_load_seg(X86CPU *cpu, int seg, uint16_t selector)
{
    MISSING("x86_load_seg");
}

WEAK void x86_far_jmp(X86CPU *cpu, uint16_t selector, uint64_t offset);
WEAK void x86_far_jmp(X86CPU *cpu, uint16_t selector, uint64_t offset)
{
    MISSING("x86_far_jmp");
}

WEAK void x86_far_call(X86CPU *cpu, uint16_t selector, uint64_t offset, int opsize);
WEAK void x86_far_call(X86CPU *cpu, uint16_t selector, uint64_t offset, int opsize)
{
    MISSING("x86_far_call");
}

WEAK void x86_far_ret(X86CPU *cpu, int opsize, uint16_t pop_bytes);
WEAK void x86_far_ret(X86CPU *cpu, int opsize, uint16_t pop_bytes)
{
    MISSING("x86_far_ret");
}

WEAK void x86_iret(X86CPU *cpu, int opsize);
WEAK void x86_iret(X86CPU *cpu, int opsize)
{
    MISSING("x86_iret");
}

WEAK uint64_t x86_ld_slow(X86CPU *cpu, uint64_t lin, int size, int mmu_idx);
WEAK uint64_t x86_ld_slow(X86CPU *cpu, uint64_t lin, int size, int mmu_idx)
{
    MISSING("x86_ld_slow");
}

WEAK void x86_st_slow(X86CPU *cpu, uint64_t lin, int size, uint64_t val, int mmu_idx);
WEAK void x86_st_slow(X86CPU *cpu, uint64_t lin, int size, uint64_t val, int mmu_idx)
{
    MISSING("x86_st_slow");
}

WEAK uint64_t x86_translate_code(X86CPU *cpu, uint64_t lin, const uint8_t **host, uint32_t **page_word);
WEAK uint64_t x86_translate_code(X86CPU *cpu, uint64_t lin, const uint8_t **host, uint32_t **page_word)
{
    MISSING("x86_translate_code");
}

WEAK uint8_t x86_ld_code_byte(X86CPU *cpu, uint64_t lin);
WEAK uint8_t x86_ld_code_byte(X86CPU *cpu, uint64_t lin)
{
    MISSING("x86_ld_code_byte");
}

WEAK void *x86_host_ptr(X86CPU *cpu, uint64_t lin, int size, bool write);
WEAK void *x86_host_ptr(X86CPU *cpu, uint64_t lin, int size, bool write)
{
    MISSING("x86_host_ptr");
}

WEAK void x86_read(X86CPU *cpu, uint64_t lin, void *buf, size_t len);
WEAK void x86_read(X86CPU *cpu, uint64_t lin, void *buf, size_t len)
{
    MISSING("x86_read");
}

WEAK void x86_write(X86CPU *cpu, uint64_t lin, const void *buf, size_t len);
WEAK void x86_write(X86CPU *cpu, uint64_t lin, const void *buf, size_t len)
{
    MISSING("x86_write");
}

WEAK void x86_tlb_flush(X86CPU *cpu);
WEAK void x86_tlb_flush(X86CPU *cpu)
{
    MISSING("x86_tlb_flush");
}

WEAK void x86_tlb_flush_page(X86CPU *cpu, uint64_t lin);
WEAK void x86_tlb_flush_page(X86CPU *cpu, uint64_t lin)
{
    MISSING("x86_tlb_flush_page");
}

WEAK uint64_t x86_port_in(X86CPU *cpu, uint16_t port, int size);
WEAK uint64_t x86_port_in(X86CPU *cpu, uint16_t port, int size)
{
    MISSING("x86_port_in");
}

WEAK void x86_port_out(X86CPU *cpu, uint16_t port, int size, uint64_t val);
WEAK void x86_port_out(X86CPU *cpu, uint16_t port, int size, uint64_t val)
{
    MISSING("x86_port_out");
}

WEAK void x86_check_io(X86CPU *cpu, uint16_t port, int size);
WEAK void x86_check_io(X86CPU *cpu, uint16_t port, int size)
{
    MISSING("x86_check_io");
}

WEAK void x86_push(X86CPU *cpu, int size, uint64_t val);
WEAK void x86_push(X86CPU *cpu, int size, uint64_t val)
{
    MISSING("x86_push");
}

WEAK uint64_t x86_pop(X86CPU *cpu, int size);
WEAK uint64_t x86_pop(X86CPU *cpu, int size)
{
    MISSING("x86_pop");
}

WEAK bool x86_msr_read(X86CPU *cpu, uint32_t index, uint64_t *val);
WEAK bool x86_msr_read(X86CPU *cpu, uint32_t index, uint64_t *val)
{
    MISSING("x86_msr_read");
}

WEAK bool x86_msr_write(X86CPU *cpu, uint32_t index, uint64_t val);
WEAK bool x86_msr_write(X86CPU *cpu, uint32_t index, uint64_t val)
{
    MISSING("x86_msr_write");
}

WEAK uint64_t x86_cpu_get_tsc(X86CPU *cpu);
WEAK uint64_t x86_cpu_get_tsc(X86CPU *cpu)
{
    MISSING("x86_cpu_get_tsc");
}

WEAK int64_t clock_get_ns(ClockType type);
WEAK int64_t clock_get_ns(ClockType type)
{
    MISSING("clock_get_ns");
}

WEAK Timer *timer_new(ClockType type, TimerCallback *cb, void *opaque);
WEAK Timer *timer_new(ClockType type, TimerCallback *cb, void *opaque)
{
    MISSING("timer_new");
}

WEAK void timer_free(Timer *t);
WEAK void timer_free(Timer *t)
{
    MISSING("timer_free");
}

WEAK void timer_mod(Timer *t, int64_t expire_ns);
WEAK void timer_mod(Timer *t, int64_t expire_ns)
{
    MISSING("timer_mod");
}

WEAK void timer_del(Timer *t);
WEAK void timer_del(Timer *t)
{
    MISSING("timer_del");
}

WEAK bool timer_pending(const Timer *t);
WEAK bool timer_pending(const Timer *t)
{
    MISSING("timer_pending");
}

WEAK int64_t timer_expire_time(const Timer *t);
WEAK int64_t timer_expire_time(const Timer *t)
{
    MISSING("timer_expire_time");
}

WEAK void clock_virtual_stop(void);
WEAK void clock_virtual_stop(void)
{
    MISSING("clock_virtual_stop");
}

WEAK void clock_virtual_start(void);
WEAK void clock_virtual_start(void)
{
    MISSING("clock_virtual_start");
}

WEAK void clock_virtual_set_manual(bool manual);
WEAK void clock_virtual_set_manual(bool manual)
{
    MISSING("clock_virtual_set_manual");
}

WEAK int64_t clock_virtual_step(int64_t ns);
WEAK int64_t clock_virtual_step(int64_t ns)
{
    MISSING("clock_virtual_step");
}

WEAK int64_t clock_virtual_set(int64_t ns);
WEAK int64_t clock_virtual_set(int64_t ns)
{
    MISSING("clock_virtual_set");
}

WEAK int64_t clock_virtual_deadline(void);
WEAK int64_t clock_virtual_deadline(void)
{
    MISSING("clock_virtual_deadline");
}

WEAK void timers_init(void);
WEAK void timers_init(void)
{
    MISSING("timers_init");
}

WEAK bool x86_irqchip_create(Machine *m, GError **errp);
WEAK bool x86_irqchip_create(Machine *m, GError **errp)
{
    MISSING("x86_irqchip_create");
}

WEAK void x86_irqchip_set_irq(Machine *m, int gsi, int level);
WEAK void x86_irqchip_set_irq(Machine *m, int gsi, int level)
{
    MISSING("x86_irqchip_set_irq");
}

WEAK void x86_irqchip_send_msi(Machine *m, uint64_t addr, uint32_t data);
WEAK void x86_irqchip_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    MISSING("x86_irqchip_send_msi");
}

WEAK void x86_irqchip_intercept_ioapic(Machine *m, X86IrqObserver *fn, void *opaque);
WEAK void x86_irqchip_intercept_ioapic(Machine *m, X86IrqObserver *fn, void *opaque)
{
    MISSING("x86_irqchip_intercept_ioapic");
}

WEAK int apic_get_interrupt(APICState *s);
WEAK int apic_get_interrupt(APICState *s)
{
    MISSING("apic_get_interrupt");
}

WEAK bool apic_enabled(APICState *s);
WEAK bool apic_enabled(APICState *s)
{
    MISSING("apic_enabled");
}

WEAK uint64_t apic_get_base(APICState *s);
WEAK uint64_t apic_get_base(APICState *s)
{
    MISSING("apic_get_base");
}

WEAK bool apic_set_base(APICState *s, uint64_t value);
WEAK bool apic_set_base(APICState *s, uint64_t value)
{
    MISSING("apic_set_base");
}

WEAK uint8_t apic_get_cr8(APICState *s);
WEAK uint8_t apic_get_cr8(APICState *s)
{
    MISSING("apic_get_cr8");
}

WEAK void apic_set_cr8(APICState *s, uint8_t cr8);
WEAK void apic_set_cr8(APICState *s, uint8_t cr8)
{
    MISSING("apic_set_cr8");
}

WEAK uint64_t apic_get_tsc_deadline(APICState *s);
WEAK uint64_t apic_get_tsc_deadline(APICState *s)
{
    MISSING("apic_get_tsc_deadline");
}

WEAK void apic_set_tsc_deadline(APICState *s, uint64_t tsc);
WEAK void apic_set_tsc_deadline(APICState *s, uint64_t tsc)
{
    MISSING("apic_set_tsc_deadline");
}

WEAK void apic_reset(APICState *s, bool bsp, bool virtual_wire);
WEAK void apic_reset(APICState *s, bool bsp, bool virtual_wire)
{
    MISSING("apic_reset");
}

WEAK void apic_init_reset(APICState *s);
WEAK void apic_init_reset(APICState *s)
{
    MISSING("apic_init_reset");
}

WEAK int pic_get_interrupt(Machine *m);
WEAK int pic_get_interrupt(Machine *m)
{
    MISSING("pic_get_interrupt");
}
