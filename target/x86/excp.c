/*
 * Exceptions and interrupts: raising them from instruction code, vectoring
 * through the IVT or IDT in real, protected and IA-32e mode, double and
 * triple faults, and the INIT/SIPI/NMI/external-interrupt requests the
 * interrupt controllers post (Intel SDM vol. 3, chapter 6 and 8.4).
 */
#include <inttypes.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/intc/x86-irqchip.h"
#include "system/runstate.h"
#include "util/log.h"
#include "sys-internal.h"

/* What caused an event: decides EXT, the gate DPL check and rIP pushed. */
typedef enum EventKind {
    EV_EXCEPTION,   /* fault or trap of the CPU: EXT = 1, rip pushed */
    EV_SOFT,        /* int n, int3, into: DPL check, next_rip pushed */
    EV_EXTERNAL,    /* LAPIC/PIC vector or NMI: EXT = 1, rip pushed */
} EventKind;

static noreturn void raise_event(X86CPU *cpu, int vector, uint32_t error,
                                 bool has_error, bool soft)
{
    cpu->exception_vector = vector;
    cpu->exception_error = error;
    cpu->exception_has_error = has_error;
    cpu->exception_is_soft = soft;
    siglongjmp(cpu->exception_env, 1);
}

noreturn void x86_raise_exception(X86CPU *cpu, int vector)
{
    raise_event(cpu, vector, 0, false, false);
}

noreturn void x86_raise_exception_err(X86CPU *cpu, int vector,
                                      uint32_t error)
{
    raise_event(cpu, vector, error, true, false);
}

noreturn void x86_raise_page_fault(X86CPU *cpu, uint64_t addr,
                                   uint32_t error)
{
    cpu->cr2 = addr;
    raise_event(cpu, EXCP_PF, error, true, false);
}

noreturn void x86_raise_soft_interrupt(X86CPU *cpu, int vector)
{
    raise_event(cpu, vector, 0, false, true);
}

/* Exceptions that push an error code in protected and IA-32e mode. */
static bool pushes_error_code(int vector)
{
    switch (vector) {
    case EXCP_DF: case EXCP_TS: case EXCP_NP: case EXCP_SS: case EXCP_GP:
    case EXCP_PF: case EXCP_AC:
        return true;
    default:
        return false;
    }
}

static bool contributory(int vector)
{
    return vector == EXCP_DE || (vector >= EXCP_TS && vector <= EXCP_GP);
}

static noreturn void gp(X86CPU *cpu, uint32_t err)
{
    x86_raise_exception_err(cpu, EXCP_GP, err);
}

/* Real mode: the IVT, FLAGS:CS:IP on the stack. */
static void deliver_real(X86CPU *cpu, int vector, uint64_t ret)
{
    X86Stack st;

    if (vector * 4 + 3 > cpu->idt.limit) {
        gp(cpu, vector * 8 + 2);
    }
    uint32_t ent = x86_ld_kernel(cpu, cpu->idt.base + vector * 4, 4);
    x86_stack_init(&st, &cpu->segs[R_SS], cpu->regs[R_ESP],
                   cpu->stack_size, X86_MMU_KERNEL);
    x86_stack_push(cpu, &st, 2, x86_get_eflags(cpu));
    x86_stack_push(cpu, &st, 2, cpu->segs[R_CS].selector);
    x86_stack_push(cpu, &st, 2, ret);

    cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
    cpu->segs[R_CS].selector = ent >> 16;
    cpu->segs[R_CS].base = (uint64_t)(ent >> 16) << 4;
    cpu->eflags &= ~(uint64_t)(IF_MASK | TF_MASK | AC_MASK | RF_MASK);
    cpu->rip = cpu->next_rip = ent & 0xffff;
    x86_update_mode(cpu);
}

typedef struct Gate {
    uint32_t lo, hi, off_hi;
    int type;           /* 5, 6, 7, 0xe, 0xf */
    uint16_t sel;
    uint64_t off;
    X86Desc target;
} Gate;

/* Reads the IDT gate and checks it and its code segment (SDM 6.12.1). */
static void read_gate(X86CPU *cpu, int vector, EventKind kind, Gate *g)
{
    uint32_t ext = kind != EV_SOFT;
    uint32_t idt_err = vector * 8 + 2 + ext;
    int entry = cpu->long_mode ? 16 : 8;
    uint64_t addr = cpu->idt.base + (uint64_t)vector * entry;

    if ((uint64_t)vector * entry + entry - 1 > cpu->idt.limit) {
        gp(cpu, idt_err);
    }
    g->lo = x86_ld_kernel(cpu, addr, 4);
    g->hi = x86_ld_kernel(cpu, addr + 4, 4);
    g->off_hi = cpu->long_mode ? x86_ld_kernel(cpu, addr + 8, 4) : 0;
    g->type = (g->hi >> 8) & 0x1f;
    if (cpu->long_mode ? (g->type != 0xe && g->type != 0xf)
                       : (g->type != 6 && g->type != 7 &&
                          g->type != 0xe && g->type != 0xf)) {
        if (g->type == 5) {
            log_unimp("x86: task gate in the IDT (vector %d)", vector);
        }
        gp(cpu, idt_err);
    }
    if (kind == EV_SOFT && (int)((g->hi >> 13) & 3) < cpu->cpl) {
        gp(cpu, idt_err);
    }
    if (!(g->hi & DESC_P_MASK)) {
        x86_raise_exception_err(cpu, EXCP_NP, idt_err);
    }
    g->sel = g->lo >> 16;
    g->off = (g->lo & 0xffff) | (g->hi & 0xffff0000) |
             ((uint64_t)g->off_hi << 32);
    if (!(g->type & 8)) {
        g->off &= 0xffff;
    }
    if ((g->sel & ~3) == 0) {
        gp(cpu, ext);
    }
    X86Desc *t = &g->target;
    uint32_t sel_err = (g->sel & 0xfffc) | ext;
    if (!x86_desc_read(cpu, g->sel, t, false) ||
        !(t->hi & DESC_S_MASK) || !(t->hi & DESC_CS_MASK) ||
        x86_desc_dpl(t) > cpu->cpl) {
        gp(cpu, sel_err);
    }
    if (cpu->long_mode &&
        (!(t->hi & DESC_L_MASK) || (t->hi & DESC_B_MASK))) {
        gp(cpu, sel_err);
    }
    if (!x86_desc_present(t)) {
        x86_raise_exception_err(cpu, EXCP_NP, sel_err);
    }
}

/*
 * Protected and IA-32e mode. Everything that can fault (gate, TSS, the
 * new stack's descriptor, the pushes) happens before any register changes,
 * so a fault here leaves the CPU as the event found it.
 */
static void deliver_protected(X86CPU *cpu, int vector, uint32_t error,
                              bool has_error, EventKind kind, uint64_t ret)
{
    uint32_t ext = kind != EV_SOFT;
    bool lm = cpu->long_mode;
    Gate g;

    if (x86_vm86(cpu)) {
        log_unimp("x86: interrupt from virtual-8086 mode");
        gp(cpu, ext);
    }
    read_gate(cpu, vector, kind, &g);

    int dpl = x86_desc_dpl(&g.target);
    bool inner = !(g.target.hi & DESC_C_MASK) && dpl < cpu->cpl;
    int new_cpl = inner ? dpl : cpu->cpl;
    int ist = lm ? g.hi & 7 : 0;
    int size = lm ? 8 : (g.type & 8) ? 4 : 2;
    int mmu_idx = new_cpl == 3 ? X86_MMU_USER : X86_MMU_KERNEL;
    SegmentCache ssc = cpu->segs[R_SS];
    uint64_t sp = cpu->regs[R_ESP];
    int width = cpu->stack_size;
    X86Stack st;

    if (inner || ist) {
        uint16_t nss;
        x86_tss_stack(cpu, dpl, ist, ext, &nss, &sp);
        if (inner) {
            x86_check_new_ss(cpu, lm ? (uint16_t)dpl : nss, dpl, EXCP_TS,
                             ext, lm, &ssc);
            width = lm ? 8 : x86_ss_width(&ssc);
        }
    }
    if (lm) {
        width = 8;
        sp &= ~0xfull;
    }
    x86_stack_init(&st, &ssc, sp, width, mmu_idx);
    if (inner || lm) {
        x86_stack_push(cpu, &st, size, cpu->segs[R_SS].selector);
        x86_stack_push(cpu, &st, size, cpu->regs[R_ESP]);
    }
    x86_stack_push(cpu, &st, size, x86_get_eflags(cpu));
    x86_stack_push(cpu, &st, size, cpu->segs[R_CS].selector);
    x86_stack_push(cpu, &st, size, ret);
    if (has_error) {
        x86_stack_push(cpu, &st, size, error);
    }

    x86_desc_set_accessed(cpu, &g.target);
    x86_desc_to_cache(&g.target, (g.sel & ~3) | new_cpl, &cpu->segs[R_CS]);
    cpu->segs[R_SS] = ssc;
    cpu->regs[R_ESP] = x86_stack_rsp(&st, lm ? 0 : sp);
    cpu->eflags &= ~(uint64_t)(TF_MASK | NT_MASK | RF_MASK | VM_MASK);
    if (!(g.type & 1)) {
        cpu->eflags &= ~(uint64_t)IF_MASK;
    }
    cpu->rip = cpu->next_rip = g.off;
    x86_update_mode(cpu);
}

static void deliver_once(X86CPU *cpu, int vector, uint32_t error,
                         EventKind kind)
{
    uint64_t ret = kind == EV_SOFT ? cpu->next_rip : cpu->rip;

    if (!x86_protected(cpu)) {
        deliver_real(cpu, vector, ret);
    } else {
        bool has_error = kind == EV_EXCEPTION && pushes_error_code(vector);
        deliver_protected(cpu, vector, error, has_error, kind, ret);
    }
    cpu->halted = false;
    cpu->interrupt_shadow = false;
    if (vector == EXCP_NMI && kind == EV_EXTERNAL) {
        cpu->nmi_blocked = true;
    }
}

/* SDM table 6-5: which second exception turns into #DF. */
static bool makes_double_fault(int first, EventKind kind, int second)
{
    if (kind != EV_EXCEPTION) {
        return false;       /* interrupts are benign */
    }
    if (first == EXCP_PF) {
        return second == EXCP_PF || contributory(second);
    }
    return contributory(first) && contributory(second);
}

/*
 * Delivers an event; an exception while delivering it is delivered in its
 * place, or becomes #DF, and one while delivering #DF shuts the CPU down.
 */
static void deliver_event(X86CPU *cpu, int vector, uint32_t error,
                          EventKind kind)
{
    sigjmp_buf outer;
    volatile int vec = vector;
    volatile uint32_t err = error;
    volatile EventKind k = kind;

    memcpy(outer, cpu->exception_env, sizeof(outer));
    cpu->exception_nesting++;
    for (;;) {
        if (sigsetjmp(cpu->exception_env, 0) == 0) {
            deliver_once(cpu, vec, err, k);
            break;
        }
        int second = cpu->exception_vector;
        log_mask_printf(LOG_INT, "x86: exception %d (error 0x%x) while "
                        "delivering %d; cr0=0x%" PRIx64 " cs=%04x/%08" PRIx64
                        "/%x ss=%04x/%08" PRIx64 "/%08x/%x esp=%08" PRIx64
                        " idt=%08" PRIx64 "/%x\n", second,
                        cpu->exception_error, vec, cpu->cr0,
                        cpu->segs[R_CS].selector, cpu->segs[R_CS].base,
                        cpu->segs[R_CS].flags, cpu->segs[R_SS].selector,
                        cpu->segs[R_SS].base, cpu->segs[R_SS].limit,
                        cpu->segs[R_SS].flags, cpu->regs[R_ESP],
                        cpu->idt.base, cpu->idt.limit);
        if (vec == EXCP_DF) {
            log_mask_printf(LOG_INT, "x86: triple fault (exception %d "
                            "while delivering #DF)\n", second);
            cpu->triple_fault = true;
            break;
        }
        if (makes_double_fault(vec, k, second)) {
            vec = EXCP_DF;
            err = 0;
        } else {
            vec = second;
            err = cpu->exception_error;
        }
        k = EV_EXCEPTION;
    }
    cpu->exception_nesting--;
    cpu->exception_vector = -1;
    memcpy(cpu->exception_env, outer, sizeof(outer));
}

void x86_deliver_exception(X86CPU *cpu)
{
    int vector = cpu->exception_vector;

    if (vector < 0 || cpu->triple_fault) {
        return;
    }
    log_mask_printf(LOG_INT, "x86: exception %d error 0x%x at 0x%llx",
                    vector, cpu->exception_error,
                    (unsigned long long)cpu->rip);
    deliver_event(cpu, vector, cpu->exception_error,
                  cpu->exception_is_soft ? EV_SOFT : EV_EXCEPTION);
}

void x86_deliver_interrupt(X86CPU *cpu, int vector)
{
    deliver_event(cpu, vector, 0, EV_EXTERNAL);
}

/* INIT: the reset state but for x87/SSE, MTRRs and the LAPIC (SDM 9.1). */
static void cpu_init(X86CPU *cpu)
{
    CPUState *cs = cpu->cs;

    x86_cpu_init_state(cpu, false);
    /* the BSP restarts at the reset vector, APs wait for a SIPI */
    cpu->wait_for_sipi = cs->index != 0;
    if (cs->apic) {
        bql_lock();
        apic_init_reset(cs->apic);
        bql_unlock();
    }
}

/* Startup IPI: real mode at vector * 0x1000 (SDM 8.4.4.1). */
static void cpu_sipi(X86CPU *cpu, uint8_t vector)
{
    SegmentCache *cs = &cpu->segs[R_CS];

    cs->selector = (uint16_t)vector << 8;
    cs->base = (uint64_t)vector << 12;
    cs->limit = 0xffff;
    cs->flags = DESC_P_MASK | DESC_S_MASK | DESC_A_MASK |
                (0xbu << DESC_TYPE_SHIFT);
    cpu->rip = cpu->next_rip = 0;
    cpu->wait_for_sipi = false;
    cpu->halted = false;
    x86_update_mode(cpu);
}

/* A shutdown while delivering an interrupt ends the run loop as a fault
 * during an instruction would (x86_deliver_exception then does nothing). */
static void deliver_from_request(X86CPU *cpu, int vector)
{
    deliver_event(cpu, vector, 0, EV_EXTERNAL);
    if (cpu->triple_fault) {
        cpu->exception_vector = -1;
        siglongjmp(cpu->exception_env, 1);
    }
}

void x86_handle_interrupts(X86CPU *cpu)
{
    CPUState *cs = cpu->cs;
    int req = __atomic_load_n(&cs->interrupt_request, __ATOMIC_SEQ_CST);

    if (req & CPU_INTERRUPT_TLB_FLUSH) {
        cpu_reset_interrupt(cs, CPU_INTERRUPT_TLB_FLUSH);
        x86_cpu_flush_all(cpu);
    }
    if (req & CPU_INTERRUPT_INIT) {
        /* a SIPI sent right after the INIT may already be pending: the
         * APIC dropped older ones when it accepted the INIT */
        cpu_reset_interrupt(cs, CPU_INTERRUPT_INIT);
        cpu_init(cpu);
        req = __atomic_load_n(&cs->interrupt_request, __ATOMIC_SEQ_CST);
        if (!cpu->wait_for_sipi) {
            return;
        }
    }
    if (req & CPU_INTERRUPT_SIPI) {
        cpu_reset_interrupt(cs, CPU_INTERRUPT_SIPI);
        if (cpu->wait_for_sipi) {
            cpu_sipi(cpu, __atomic_load_n(&cs->sipi_vector, __ATOMIC_RELAXED));
        }
        return;
    }
    if (cpu->wait_for_sipi || cpu->interrupt_shadow) {
        return;
    }
    if ((req & CPU_INTERRUPT_NMI) && !cpu->nmi_blocked) {
        cpu_reset_interrupt(cs, CPU_INTERRUPT_NMI);
        deliver_from_request(cpu, EXCP_NMI);
        return;
    }
    if ((req & CPU_INTERRUPT_HARD) && (cpu->eflags & IF_MASK)) {
        int vector;
        bql_lock();
        vector = cs->apic ? apic_get_interrupt(cs->apic)
                          : pic_get_interrupt(cs->machine);
        bql_unlock();
        if (vector >= 0) {
            deliver_from_request(cpu, vector);
        }
    }
}
