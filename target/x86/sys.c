/*
 * System instructions: descriptor-table and task registers, control and
 * debug registers, MSRs, TSC, CPUID, fast system calls, flags and
 * interrupt control, int n/iret, hlt (Intel SDM vol. 2; vol. 3 chapters 2
 * and 5). Virtual-8086 mode is not implemented.
 */
#include "hw/intc/x86-irqchip.h"
#include "system/runstate.h"
#include "sys-internal.h"

#define CR0_VALID (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | \
                   CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG)
/* What CPUID lets software enable; VME, PVI, UMIP and later are absent. */
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | \
                   CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)

static noreturn void gp0(X86CPU *cpu)
{
    x86_raise_exception_err(cpu, EXCP_GP, 0);
}

static noreturn void ud(X86CPU *cpu)
{
    x86_raise_exception(cpu, EXCP_UD);
}

static void require_cpl0(X86CPU *cpu)
{
    if (cpu->cpl != 0) {
        gp0(cpu);
    }
}

/* Instructions that exist only in protected mode (#UD in real and v8086). */
static void require_protected(X86CPU *cpu)
{
    if (!x86_protected(cpu) || x86_vm86(cpu)) {
        ud(cpu);
    }
}

static uint64_t rm_read(X86CPU *cpu, const X86Insn *insn, int size)
{
    if (insn->mod == 3) {
        return x86_reg_read(cpu, insn->rm, size, insn->rex);
    }
    return x86_ld(cpu, x86_insn_linear(cpu, insn), size);
}

/* Stores a selector or MSW: registers take the operand size, memory 16. */
static void rm_write16(X86CPU *cpu, const X86Insn *insn, uint64_t val)
{
    if (insn->mod == 3) {
        x86_reg_write(cpu, insn->rm, insn->opsize, insn->rex, val);
    } else {
        x86_st(cpu, x86_insn_linear(cpu, insn), 2, val & 0xffff);
    }
}

static void set_zf(X86CPU *cpu, bool z)
{
    x86_set_eflags(cpu, z ? CC_Z : 0, CC_Z);
}

/* ---- 0F 00: sldt, str, lldt, ltr, verr, verw ---- */

static void load_ldt(X86CPU *cpu, uint16_t sel)
{
    X86Desc d;

    require_cpl0(cpu);
    if ((sel & ~3) == 0) {
        cpu->ldt = (SegmentCache){ .selector = sel };
        return;
    }
    if ((sel & 4) || !x86_desc_read(cpu, sel, &d, cpu->long_mode) ||
        x86_desc_type(&d) != 2) {
        x86_raise_exception_err(cpu, EXCP_GP, sel & 0xfffc);
    }
    if (!x86_desc_present(&d)) {
        x86_raise_exception_err(cpu, EXCP_NP, sel & 0xfffc);
    }
    if (cpu->long_mode && !x86_canonical(((uint64_t)d.base_hi << 32) |
                                         (d.hi & 0xff000000))) {
        x86_raise_exception_err(cpu, EXCP_GP, sel & 0xfffc);
    }
    x86_desc_to_cache(&d, sel, &cpu->ldt);
}

static void load_tr(X86CPU *cpu, uint16_t sel)
{
    X86Desc d;

    require_cpl0(cpu);
    if ((sel & ~3) == 0) {
        gp0(cpu);
    }
    uint32_t type = 0;
    if (!(sel & 4) && x86_desc_read(cpu, sel, &d, cpu->long_mode)) {
        type = x86_desc_type(&d);
    }
    /* an available TSS: 16-bit (1) outside IA-32e mode, or 32/64-bit (9) */
    if (type != 9 && (type != 1 || cpu->long_mode)) {
        x86_raise_exception_err(cpu, EXCP_GP, sel & 0xfffc);
    }
    if (!x86_desc_present(&d)) {
        x86_raise_exception_err(cpu, EXCP_NP, sel & 0xfffc);
    }
    d.hi |= 2 << DESC_TYPE_SHIFT;      /* busy */
    x86_st_kernel(cpu, d.addr + 5, 1, (d.hi >> 8) & 0xff);
    x86_desc_to_cache(&d, sel, &cpu->tr);
}

/* verr/verw: whether the segment is readable/writable at CPL and RPL. */
static bool seg_verify(X86CPU *cpu, uint16_t sel, bool write)
{
    X86Desc d;

    if ((sel & ~3) == 0 || !x86_desc_read(cpu, sel, &d, false) ||
        !(d.hi & DESC_S_MASK)) {
        return false;
    }
    bool code = d.hi & DESC_CS_MASK;
    if (!(code && (d.hi & DESC_C_MASK))) {
        int dpl = x86_desc_dpl(&d);
        if (dpl < cpu->cpl || dpl < (sel & 3)) {
            return false;
        }
    }
    if (write) {
        return !code && (d.hi & DESC_RW_MASK);
    }
    return !code || (d.hi & DESC_RW_MASK);
}

static void exec_group6(X86CPU *cpu, const X86Insn *insn)
{
    require_protected(cpu);
    switch (insn->reg & 7) {
    case 0:
        rm_write16(cpu, insn, cpu->ldt.selector);
        break;
    case 1:
        rm_write16(cpu, insn, cpu->tr.selector);
        break;
    case 2:
        load_ldt(cpu, rm_read(cpu, insn, 2));
        break;
    case 3:
        load_tr(cpu, rm_read(cpu, insn, 2));
        break;
    case 4:
    case 5:
        set_zf(cpu, seg_verify(cpu, rm_read(cpu, insn, 2),
                               (insn->reg & 7) == 5));
        break;
    default:
        ud(cpu);
    }
}

/* ---- 0F 01 ---- */

static void store_table(X86CPU *cpu, const X86Insn *insn,
                        const DescriptorTable *t)
{
    uint8_t buf[10];
    uint64_t base = t->base;
    size_t len = x86_code64(cpu) ? 10 : 6;

    if (insn->opsize == 2 && len == 6) {
        base &= 0xffffff;
    }
    buf[0] = t->limit;
    buf[1] = t->limit >> 8;
    for (size_t i = 0; i < len - 2; i++) {
        buf[2 + i] = base >> (i * 8);
    }
    x86_write(cpu, x86_insn_linear(cpu, insn), buf, len);
}

static void load_table(X86CPU *cpu, const X86Insn *insn, DescriptorTable *t)
{
    uint64_t lin = x86_insn_linear(cpu, insn);

    require_cpl0(cpu);
    uint16_t limit = x86_ld(cpu, lin, 2);
    uint64_t base;
    if (x86_code64(cpu)) {
        base = x86_ld(cpu, lin + 2, 8);
        if (!x86_canonical(base)) {
            gp0(cpu);
        }
    } else {
        base = x86_ld(cpu, lin + 2, 4);
        if (insn->opsize == 2) {
            base &= 0xffffff;
        }
    }
    t->base = base;
    t->limit = limit;
}

static void write_cr0(X86CPU *cpu, uint64_t val);

static void exec_rdtscp(X86CPU *cpu)
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0) {
        gp0(cpu);
    }
    uint64_t tsc = x86_cpu_get_tsc(cpu);
    cpu->regs[R_EAX] = (uint32_t)tsc;
    cpu->regs[R_EDX] = tsc >> 32;
    cpu->regs[R_ECX] = (uint32_t)cpu->tsc_aux;
}

static void exec_swapgs(X86CPU *cpu)
{
    if (!x86_code64(cpu)) {
        ud(cpu);
    }
    require_cpl0(cpu);
    uint64_t tmp = cpu->segs[R_GS].base;
    cpu->segs[R_GS].base = cpu->kernel_gs_base;
    cpu->kernel_gs_base = tmp;
}

/* lmsw changes PE (set only), MP, EM and TS. */
static void exec_lmsw(X86CPU *cpu, uint16_t msw)
{
    require_cpl0(cpu);
    /* PE can be set but not cleared */
    write_cr0(cpu, (cpu->cr0 & ~0xeull) | (msw & 0xf));
}

static void exec_group7(X86CPU *cpu, const X86Insn *insn)
{
    int reg = insn->reg & 7;

    if (insn->mod == 3) {
        /*
         * vmcall & co, monitor/mwait, clac/stac, xgetbv/xsetbv, vmrun & co,
         * rdpkru/wrpkru: none of these is advertised, so #UD.
         */
        switch (reg) {
        case 4:
            rm_write16(cpu, insn, cpu->cr0);
            return;
        case 6:
            exec_lmsw(cpu, rm_read(cpu, insn, 2));
            return;
        case 7:
            switch (insn->rm & 7) {
            case 0:
                exec_swapgs(cpu);
                return;
            case 1:
                exec_rdtscp(cpu);
                return;
            }
            break;
        }
        ud(cpu);
    }
    switch (reg) {
    case 0:
        store_table(cpu, insn, &cpu->gdt);
        break;
    case 1:
        store_table(cpu, insn, &cpu->idt);
        break;
    case 2:
        load_table(cpu, insn, &cpu->gdt);
        break;
    case 3:
        load_table(cpu, insn, &cpu->idt);
        break;
    case 4:
        rm_write16(cpu, insn, cpu->cr0);
        break;
    case 6:
        exec_lmsw(cpu, rm_read(cpu, insn, 2));
        break;
    case 7:
        require_cpl0(cpu);
        x86_tlb_flush_page(cpu, x86_insn_linear(cpu, insn));
        break;
    default:
        ud(cpu);
    }
}

/* ---- lar, lsl ---- */

static void exec_lar_lsl(X86CPU *cpu, const X86Insn *insn, bool lsl)
{
    X86Desc d;

    require_protected(cpu);
    uint16_t sel = rm_read(cpu, insn, 2);
    bool ok = (sel & ~3) != 0 && x86_desc_read(cpu, sel, &d, false);

    if (ok && !(d.hi & DESC_S_MASK)) {
        uint32_t type = (d.hi >> 8) & 0xf;
        /* LDT and TSS always; gates only for lar; 16-bit ones in legacy */
        static const uint16_t legacy_lar = 0x1a3e, legacy_lsl = 0x0a0e;
        static const uint16_t long_lar = 0x1a04, long_lsl = 0x0a04;
        uint16_t valid = cpu->long_mode ? (lsl ? long_lsl : long_lar)
                                        : (lsl ? legacy_lsl : legacy_lar);
        ok = (valid >> type) & 1;
    }
    if (ok && !((d.hi & DESC_S_MASK) && (d.hi & DESC_CS_MASK) &&
                (d.hi & DESC_C_MASK))) {
        int dpl = x86_desc_dpl(&d);
        ok = dpl >= cpu->cpl && dpl >= (sel & 3);
    }
    set_zf(cpu, ok);
    if (!ok) {
        return;
    }
    uint64_t val;
    if (lsl) {
        SegmentCache sc;
        x86_desc_to_cache(&d, sel, &sc);
        val = sc.limit;
    } else {
        val = d.hi & 0x00f0ff00;
    }
    x86_reg_write(cpu, insn->reg, insn->opsize == 8 ? 4 : insn->opsize,
                  insn->rex, val);
}

/* ---- fast system calls ---- */

static void flat_seg(X86CPU *cpu, int seg, uint16_t sel, int dpl,
                     uint32_t type, uint32_t size_flags)
{
    x86_seg_set(cpu, seg, sel, 0, 0xffffffff,
                DESC_P_MASK | DESC_S_MASK | DESC_G_MASK | size_flags |
                ((uint32_t)dpl << DESC_DPL_SHIFT) |
                (type << DESC_TYPE_SHIFT));
}

static void exec_syscall(X86CPU *cpu)
{
    /* Intel CPUs have syscall in 64-bit mode only */
    if (!(cpu->efer & EFER_SCE) || !x86_code64(cpu)) {
        ud(cpu);
    }
    uint16_t sel = (cpu->star >> 32) & 0xfffc;
    uint64_t fl = x86_get_eflags(cpu);

    cpu->regs[R_ECX] = cpu->next_rip;
    cpu->regs[R_R11] = fl & ~(uint64_t)RF_MASK;
    x86_set_eflags(cpu, 0, cpu->fmask | RF_MASK);
    /* SS first: the CPL follows SS.DPL */
    flat_seg(cpu, R_SS, sel + 8, 0, 0x3, DESC_B_MASK);
    flat_seg(cpu, R_CS, sel, 0, 0xb, DESC_L_MASK);
    cpu->next_rip = cpu->lstar;
}

static void exec_sysret(X86CPU *cpu, const X86Insn *insn)
{
    if (!(cpu->efer & EFER_SCE) || !x86_code64(cpu)) {
        ud(cpu);
    }
    require_cpl0(cpu);
    uint16_t sel = (cpu->star >> 48) & 0xfffc;
    uint64_t rip = cpu->regs[R_ECX];

    if (insn->opsize == 8) {
        if (!x86_canonical(rip)) {
            gp0(cpu);
        }
        flat_seg(cpu, R_CS, (sel + 16) | 3, 3, 0xb, DESC_L_MASK);
    } else {
        rip &= 0xffffffff;
        flat_seg(cpu, R_CS, sel | 3, 3, 0xb, DESC_B_MASK);
    }
    flat_seg(cpu, R_SS, (sel + 8) | 3, 3, 0x3, DESC_B_MASK);
    x86_set_eflags(cpu, (cpu->regs[R_R11] & 0x3c7fd7) | 2, ~0ull);
    x86_update_mode(cpu);
    cpu->next_rip = rip;
}

static void exec_sysenter(X86CPU *cpu)
{
    uint16_t sel = cpu->sysenter_cs & 0xfffc;

    if (!x86_protected(cpu) || sel == 0) {
        gp0(cpu);
    }
    cpu->eflags &= ~(uint64_t)(VM_MASK | IF_MASK | RF_MASK);
    flat_seg(cpu, R_SS, sel + 8, 0, 0x3, DESC_B_MASK);
    flat_seg(cpu, R_CS, sel, 0, 0xb,
             cpu->long_mode ? DESC_L_MASK : DESC_B_MASK);
    if (cpu->long_mode) {
        cpu->regs[R_ESP] = cpu->sysenter_esp;
        cpu->next_rip = cpu->sysenter_eip;
    } else {
        cpu->regs[R_ESP] = (uint32_t)cpu->sysenter_esp;
        cpu->next_rip = (uint32_t)cpu->sysenter_eip;
    }
}

static void exec_sysexit(X86CPU *cpu, const X86Insn *insn)
{
    uint16_t sel = cpu->sysenter_cs & 0xfffc;

    if (!x86_protected(cpu) || x86_vm86(cpu) || cpu->cpl != 0 || sel == 0) {
        gp0(cpu);
    }
    if (insn->opsize == 8) {
        if (!x86_canonical(cpu->regs[R_EDX]) ||
            !x86_canonical(cpu->regs[R_ECX])) {
            gp0(cpu);
        }
        flat_seg(cpu, R_SS, (sel + 40) | 3, 3, 0x3, DESC_B_MASK);
        flat_seg(cpu, R_CS, (sel + 32) | 3, 3, 0xb, DESC_L_MASK);
        cpu->regs[R_ESP] = cpu->regs[R_ECX];
        cpu->next_rip = cpu->regs[R_EDX];
    } else {
        flat_seg(cpu, R_SS, (sel + 24) | 3, 3, 0x3, DESC_B_MASK);
        flat_seg(cpu, R_CS, (sel + 16) | 3, 3, 0xb, DESC_B_MASK);
        cpu->regs[R_ESP] = (uint32_t)cpu->regs[R_ECX];
        cpu->next_rip = (uint32_t)cpu->regs[R_EDX];
    }
}

/* ---- control and debug registers ---- */

static void write_cr0(X86CPU *cpu, uint64_t val)
{
    uint64_t old = cpu->cr0;

    if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) ||
        ((val & CR0_NW) && !(val & CR0_CD))) {
        gp0(cpu);
    }
    if ((val & CR0_PG) && !(old & CR0_PG) && (cpu->efer & EFER_LME)) {
        if (!(cpu->cr4 & CR4_PAE)) {
            gp0(cpu);
        }
        cpu->efer |= EFER_LMA;
    }
    if (!(val & CR0_PG) && (old & CR0_PG)) {
        if (x86_code64(cpu)) {
            gp0(cpu);
        }
        cpu->efer &= ~(uint64_t)EFER_LMA;
    }
    cpu->cr0 = (val & CR0_VALID) | CR0_ET;
    /* decoded blocks are keyed by physical address and mode: they stay */
    if ((old ^ cpu->cr0) & (CR0_PG | CR0_WP | CR0_PE)) {
        x86_tlb_flush(cpu);
    }
    x86_update_mode(cpu);
}

static void write_cr4(X86CPU *cpu, uint64_t val)
{
    uint64_t old = cpu->cr4;

    if ((val & ~(uint64_t)CR4_VALID) ||
        (cpu->long_mode && !(val & CR4_PAE))) {
        gp0(cpu);
    }
    cpu->cr4 = val;
    if ((old ^ val) & (CR4_PGE | CR4_PAE | CR4_PSE)) {
        x86_tlb_flush(cpu);
    }
}

static void write_cr3(X86CPU *cpu, uint64_t val)
{
    /* bits above MAXPHYADDR are reserved (no PCIDs) */
    if (cpu->long_mode && (val >> X86_PHYS_BITS)) {
        gp0(cpu);
    }
    cpu->cr3 = cpu->long_mode ? val : (uint32_t)val;
    /* global pages are flushed too: correct, if slower than needed */
    x86_tlb_flush(cpu);
}

static uint64_t read_cr8(X86CPU *cpu)
{
    APICState *apic = cpu->cs->apic;
    uint64_t val = 0;

    if (apic) {
        bql_lock();
        val = apic_get_cr8(apic);
        bql_unlock();
    }
    return val;
}

static void write_cr8(X86CPU *cpu, uint64_t val)
{
    APICState *apic = cpu->cs->apic;

    if (val & ~0xfull) {
        gp0(cpu);
    }
    if (apic) {
        bql_lock();
        apic_set_cr8(apic, val);
        bql_unlock();
    }
}

static void exec_mov_cr(X86CPU *cpu, const X86Insn *insn, bool to_cr)
{
    int cr = insn->reg;
    int size = x86_code64(cpu) ? 8 : 4;

    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8) {
        ud(cpu);
    }
    if (x86_vm86(cpu)) {
        gp0(cpu);
    }
    require_cpl0(cpu);
    if (!to_cr) {
        uint64_t val;
        switch (cr) {
        case 0: val = cpu->cr0; break;
        case 2: val = cpu->cr2; break;
        case 3: val = cpu->cr3; break;
        case 4: val = cpu->cr4; break;
        default: val = read_cr8(cpu); break;
        }
        x86_reg_write(cpu, insn->rm, size, true, val);
        return;
    }
    uint64_t val = x86_reg_read(cpu, insn->rm, size, true);
    switch (cr) {
    case 0: write_cr0(cpu, val); break;
    case 2: cpu->cr2 = val; break;
    case 3: write_cr3(cpu, val); break;
    case 4: write_cr4(cpu, val); break;
    default: write_cr8(cpu, val); break;
    }
}

/* Debug registers are stored; breakpoints and DR6 status are not modelled. */
static void exec_mov_dr(X86CPU *cpu, const X86Insn *insn, bool to_dr)
{
    int dr = insn->reg;
    int size = x86_code64(cpu) ? 8 : 4;

    if (dr > 7) {
        ud(cpu);
    }
    if (x86_vm86(cpu)) {
        gp0(cpu);
    }
    require_cpl0(cpu);
    if (dr == 4 || dr == 5) {
        if (cpu->cr4 & CR4_DE) {
            ud(cpu);
        }
        dr += 2;
    }
    if (!to_dr) {
        x86_reg_write(cpu, insn->rm, size, true, cpu->dr[dr]);
        return;
    }
    uint64_t val = x86_reg_read(cpu, insn->rm, size, true);
    switch (dr) {
    case 6:
        if (val >> 32) {
            gp0(cpu);
        }
        cpu->dr[6] = (val & 0x0001e00f) | 0xffff0ff0;
        break;
    case 7:
        if (val >> 32) {
            gp0(cpu);
        }
        cpu->dr[7] = (val & ~0xd800ull) | 0x400;
        break;
    default:
        cpu->dr[dr] = val;
        break;
    }
}

/* ---- MSRs, TSC, CPUID ---- */

static void exec_msr(X86CPU *cpu, bool write)
{
    uint32_t index = cpu->regs[R_ECX];

    require_cpl0(cpu);
    if (write) {
        uint64_t val = ((cpu->regs[R_EDX] & 0xffffffff) << 32) |
                       (cpu->regs[R_EAX] & 0xffffffff);
        if (!x86_msr_write(cpu, index, val)) {
            gp0(cpu);
        }
        return;
    }
    uint64_t val;
    if (!x86_msr_read(cpu, index, &val)) {
        gp0(cpu);
    }
    cpu->regs[R_EAX] = (uint32_t)val;
    cpu->regs[R_EDX] = val >> 32;
}

static void exec_rdtsc(X86CPU *cpu)
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0) {
        gp0(cpu);
    }
    uint64_t tsc = x86_cpu_get_tsc(cpu);
    cpu->regs[R_EAX] = (uint32_t)tsc;
    cpu->regs[R_EDX] = tsc >> 32;
}

static void exec_cpuid(X86CPU *cpu)
{
    uint32_t a, b, c, d;

    x86_cpu_cpuid(cpu, cpu->regs[R_EAX], cpu->regs[R_ECX], &a, &b, &c, &d);
    cpu->regs[R_EAX] = a;
    cpu->regs[R_EBX] = b;
    cpu->regs[R_ECX] = c;
    cpu->regs[R_EDX] = d;
}

/* ---- flags, interrupts, hlt ---- */

static void exec_pushf(X86CPU *cpu, const X86Insn *insn)
{
    if (x86_vm86(cpu) && x86_iopl(cpu) < 3) {
        gp0(cpu);
    }
    uint64_t fl = x86_get_eflags(cpu) & ~(uint64_t)(VM_MASK | RF_MASK);
    x86_push(cpu, insn->opsize, fl);
}

static void exec_popf(X86CPU *cpu, const X86Insn *insn)
{
    if (x86_vm86(cpu) && x86_iopl(cpu) < 3) {
        gp0(cpu);
    }
    uint64_t fl = x86_pop(cpu, insn->opsize);
    uint64_t mask = CC_ALL | TF_MASK | DF_MASK | NT_MASK | AC_MASK | ID_MASK;

    if (cpu->cpl <= x86_iopl(cpu)) {
        mask |= IF_MASK;
    }
    if (cpu->cpl == 0) {
        mask |= IOPL_MASK;
    }
    if (insn->opsize == 2) {
        mask &= 0xffff;
    }
    /* popf clears RF and leaves VIP, VIF and VM alone */
    x86_set_eflags(cpu, fl & ~(uint64_t)RF_MASK, mask | RF_MASK);
}

static void check_if_change(X86CPU *cpu)
{
    if (x86_protected(cpu) && cpu->cpl > x86_iopl(cpu)) {
        gp0(cpu);
    }
}

void x86_exec_system(X86CPU *cpu, const X86Insn *insn)
{
    switch (insn->opcode) {
    case X86_MAP_0F | 0x00:
        exec_group6(cpu, insn);
        break;
    case X86_MAP_0F | 0x01:
        exec_group7(cpu, insn);
        break;
    case X86_MAP_0F | 0x02:
    case X86_MAP_0F | 0x03:
        exec_lar_lsl(cpu, insn, insn->opcode & 1);
        break;
    case X86_MAP_0F | 0x05:
        exec_syscall(cpu);
        break;
    case X86_MAP_0F | 0x06:
        require_cpl0(cpu);
        cpu->cr0 &= ~(uint64_t)CR0_TS;
        break;
    case X86_MAP_0F | 0x07:
        exec_sysret(cpu, insn);
        break;
    case X86_MAP_0F | 0x08:
    case X86_MAP_0F | 0x09:
        require_cpl0(cpu);      /* invd, wbinvd: no caches to write back */
        break;
    case X86_MAP_0F | 0x20:
    case X86_MAP_0F | 0x22:
        exec_mov_cr(cpu, insn, insn->opcode & 2);
        break;
    case X86_MAP_0F | 0x21:
    case X86_MAP_0F | 0x23:
        exec_mov_dr(cpu, insn, insn->opcode & 2);
        break;
    case X86_MAP_0F | 0x30:
        exec_msr(cpu, true);
        break;
    case X86_MAP_0F | 0x31:
        exec_rdtsc(cpu);
        break;
    case X86_MAP_0F | 0x32:
        exec_msr(cpu, false);
        break;
    case X86_MAP_0F | 0x33:
        gp0(cpu);       /* rdpmc: no performance counters */
    case X86_MAP_0F | 0x34:
        exec_sysenter(cpu);
        break;
    case X86_MAP_0F | 0x35:
        exec_sysexit(cpu, insn);
        break;
    case X86_MAP_0F | 0xa2:
        exec_cpuid(cpu);
        break;
    case 0x9c:
        exec_pushf(cpu, insn);
        break;
    case 0x9d:
        exec_popf(cpu, insn);
        break;
    case 0xcc:
        x86_raise_soft_interrupt(cpu, EXCP_BP);
    case 0xcd:
        if (x86_vm86(cpu) && x86_iopl(cpu) < 3) {
            gp0(cpu);
        }
        x86_raise_soft_interrupt(cpu, insn->imm & 0xff);
    case 0xce:
        if (x86_code64(cpu)) {
            ud(cpu);
        }
        if (x86_compute_flags(cpu) & CC_O) {
            x86_raise_soft_interrupt(cpu, EXCP_OF);
        }
        break;
    case 0xcf:
        x86_iret(cpu, insn->opsize);
        break;
    case 0xf4:
        require_cpl0(cpu);
        cpu->halted = true;
        cpu->interrupt_shadow = false;
        break;
    case 0xfa:
        check_if_change(cpu);
        cpu->eflags &= ~(uint64_t)IF_MASK;
        break;
    case 0xfb:
        check_if_change(cpu);
        if (!(cpu->eflags & IF_MASK)) {
            cpu->eflags |= IF_MASK;
            cpu->interrupt_shadow = true;
        }
        break;
    default:
        ud(cpu);
    }
}
