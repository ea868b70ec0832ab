/*
 * Segmentation and far control transfers: segment-register loads, far
 * jmp/call/ret through code segments and call gates, and iret, in real,
 * protected and IA-32e mode (Intel SDM vol. 3, chapters 3 and 5; vol. 2,
 * JMP, CALL, RET, IRET). Task switches are not implemented.
 */
#include "util/log.h"
#include "sys-internal.h"

#define SEL_ERR(sel) ((uint32_t)(sel) & 0xfffc)

static noreturn void gp(X86CPU *cpu, uint32_t err)
{
    x86_raise_exception_err(cpu, EXCP_GP, err);
}

void x86_update_mode(X86CPU *cpu)
{
    const SegmentCache *cs = &cpu->segs[R_CS];
    const SegmentCache *ss = &cpu->segs[R_SS];

    cpu->code_epoch++;
    cpu->long_mode = cpu->efer & EFER_LMA;
    if (!(cpu->cr0 & CR0_PE)) {
        cpu->cpl = 0;
        cpu->code_size = cs->flags & DESC_B_MASK ? 4 : 2;
        cpu->stack_size = x86_ss_width(ss);
    } else if (cpu->eflags & VM_MASK) {
        cpu->cpl = 3;
        cpu->code_size = 2;
        cpu->stack_size = 2;
    } else {
        /* SS.DPL is the CPL, even while CS is conforming */
        cpu->cpl = x86_seg_dpl(ss);
        if (cpu->long_mode && (cs->flags & DESC_L_MASK)) {
            cpu->code_size = 8;
            cpu->stack_size = 8;
        } else {
            cpu->code_size = cs->flags & DESC_B_MASK ? 4 : 2;
            cpu->stack_size = x86_ss_width(ss);
        }
    }
}

/* ---- descriptors ---- */

bool x86_desc_read(X86CPU *cpu, uint16_t sel, X86Desc *d, bool wide)
{
    uint64_t base;
    uint32_t limit;
    uint32_t index = sel & ~7u;

    if (sel & 4) {
        if (!(cpu->ldt.flags & DESC_P_MASK)) {
            return false;
        }
        base = cpu->ldt.base;
        limit = cpu->ldt.limit;
    } else {
        base = cpu->gdt.base;
        limit = cpu->gdt.limit;
    }
    if ((uint64_t)index + (wide ? 15 : 7) > limit) {
        return false;
    }
    d->addr = base + index;
    d->lo = x86_ld_kernel(cpu, d->addr, 4);
    d->hi = x86_ld_kernel(cpu, d->addr + 4, 4);
    d->base_hi = wide ? x86_ld_kernel(cpu, d->addr + 8, 4) : 0;
    return true;
}

void x86_desc_to_cache(const X86Desc *d, uint16_t sel, SegmentCache *sc)
{
    uint32_t limit = (d->lo & 0xffff) | (d->hi & 0xf0000);

    if (d->hi & DESC_G_MASK) {
        limit = (limit << 12) | 0xfff;
    }
    sc->selector = sel;
    sc->base = (d->lo >> 16) | ((d->hi & 0xff) << 16) | (d->hi & 0xff000000) |
               ((uint64_t)d->base_hi << 32);
    sc->limit = limit;
    sc->flags = d->hi & 0x00f0ff00;
}

void x86_desc_set_accessed(X86CPU *cpu, X86Desc *d)
{
    if (!(d->hi & DESC_A_MASK)) {
        d->hi |= DESC_A_MASK;
        x86_st_kernel(cpu, d->addr + 5, 1, (d->hi >> 8) & 0xff);
    }
}

void x86_seg_set(X86CPU *cpu, int seg, uint16_t sel, uint64_t base,
                 uint32_t limit, uint32_t flags)
{
    cpu->segs[seg] = (SegmentCache){ sel, base, limit, flags };
    if (seg == R_CS || seg == R_SS) {
        x86_update_mode(cpu);
    }
}

static bool desc_is_code(const X86Desc *d)
{
    return (d->hi & DESC_S_MASK) && (d->hi & DESC_CS_MASK);
}

static bool desc_conforming(const X86Desc *d)
{
    return d->hi & DESC_C_MASK;
}

void x86_check_new_ss(X86CPU *cpu, uint16_t ss, int dpl, int vec,
                      uint32_t ext, bool null_ok, SegmentCache *sc)
{
    X86Desc d;

    if ((ss & ~3) == 0) {
        if (!null_ok) {
            x86_raise_exception_err(cpu, vec, ext);
        }
        /* an unusable SS that still records the CPL */
        *sc = (SegmentCache){ .selector = ss,
                              .flags = (uint32_t)dpl << DESC_DPL_SHIFT };
        return;
    }
    if ((ss & 3) != dpl || !x86_desc_read(cpu, ss, &d, false) ||
        x86_desc_dpl(&d) != dpl || !(d.hi & DESC_S_MASK) ||
        (d.hi & DESC_CS_MASK) || !(d.hi & DESC_RW_MASK)) {
        x86_raise_exception_err(cpu, vec, SEL_ERR(ss) | ext);
    }
    if (!x86_desc_present(&d)) {
        x86_raise_exception_err(cpu, EXCP_SS, SEL_ERR(ss) | ext);
    }
    x86_desc_set_accessed(cpu, &d);
    x86_desc_to_cache(&d, ss, sc);
}

void x86_tss_stack(X86CPU *cpu, int dpl, int ist, uint32_t ext,
                   uint16_t *ss, uint64_t *sp)
{
    const SegmentCache *tr = &cpu->tr;
    uint32_t type = (tr->flags >> DESC_TYPE_SHIFT) & 0xf;
    uint32_t err = SEL_ERR(tr->selector) | ext;

    if (!(tr->flags & DESC_P_MASK)) {
        x86_raise_exception_err(cpu, EXCP_TS, err);
    }
    if (cpu->long_mode) {
        uint32_t off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;
        if (off + 7 > tr->limit) {
            x86_raise_exception_err(cpu, EXCP_TS, err);
        }
        *sp = x86_ld_kernel(cpu, tr->base + off, 8);
        *ss = dpl;
    } else if (type & 8) {
        uint32_t off = 4 + dpl * 8;
        if (off + 5 > tr->limit) {
            x86_raise_exception_err(cpu, EXCP_TS, err);
        }
        *sp = x86_ld_kernel(cpu, tr->base + off, 4);
        *ss = x86_ld_kernel(cpu, tr->base + off + 4, 2);
    } else {
        uint32_t off = 2 + dpl * 4;
        if (off + 3 > tr->limit) {
            x86_raise_exception_err(cpu, EXCP_TS, err);
        }
        *sp = x86_ld_kernel(cpu, tr->base + off, 2);
        *ss = x86_ld_kernel(cpu, tr->base + off + 2, 2);
    }
}

/* ---- stacks ---- */

void x86_stack_init(X86Stack *st, const SegmentCache *ss, uint64_t sp,
                    int width, int mmu_idx)
{
    st->base = width == 8 ? 0 : ss->base;
    st->mask = width == 8 ? ~0ull : width == 4 ? 0xffffffffull : 0xffff;
    st->sp = sp & st->mask;
    st->mmu_idx = mmu_idx;
    st->wrap32 = width != 8;
}

static uint64_t stack_lin(const X86Stack *st)
{
    uint64_t lin = st->base + (st->sp & st->mask);
    return st->wrap32 ? lin & 0xffffffff : lin;
}

void x86_stack_push(X86CPU *cpu, X86Stack *st, int size, uint64_t val)
{
    st->sp = (st->sp - size) & st->mask;
    x86_st_mmu(cpu, stack_lin(st), size, val, st->mmu_idx);
}

uint64_t x86_stack_pop(X86CPU *cpu, X86Stack *st, int size)
{
    uint64_t val = x86_ld_mmu(cpu, stack_lin(st), size, st->mmu_idx);
    st->sp = (st->sp + size) & st->mask;
    return val;
}

static void stack_current(X86CPU *cpu, X86Stack *st)
{
    x86_stack_init(st, &cpu->segs[R_SS], cpu->regs[R_ESP], cpu->stack_size,
                   x86_mmu_index(cpu));
}

/* ---- segment-register loads ---- */

/* Real mode changes only selector and base (unreal mode keeps limits);
 * virtual-8086 mode also resets the attributes. */
static void load_seg_real(X86CPU *cpu, int seg, uint16_t sel)
{
    SegmentCache *sc = &cpu->segs[seg];

    sc->selector = sel;
    sc->base = (uint64_t)sel << 4;
    if (x86_vm86(cpu)) {
        sc->limit = 0xffff;
        sc->flags = DESC_P_MASK | DESC_S_MASK | (3u << DESC_DPL_SHIFT) |
                    ((seg == R_CS ? 0xbu : 0x3u) << DESC_TYPE_SHIFT);
    }
    if (seg == R_CS || seg == R_SS) {
        x86_update_mode(cpu);
    }
}

static void load_null(X86CPU *cpu, int seg, uint16_t sel)
{
    cpu->segs[seg] = (SegmentCache){ .selector = sel };
}

void x86_load_seg(X86CPU *cpu, int seg, uint16_t sel)
{
    X86Desc d;
    int cpl = cpu->cpl, rpl = sel & 3;

    if (!x86_protected(cpu) || x86_vm86(cpu)) {
        load_seg_real(cpu, seg, sel);
        return;
    }
    if (seg == R_CS) {
        /* there is no mov to CS; far transfers use x86_far_jmp */
        x86_raise_exception(cpu, EXCP_UD);
    }
    if ((sel & ~3) == 0) {
        if (seg != R_SS) {
            load_null(cpu, seg, sel);
            return;
        }
        if (!x86_code64(cpu) || cpl == 3 || rpl != cpl) {
            gp(cpu, 0);
        }
        cpu->segs[R_SS] = (SegmentCache){
            .selector = sel, .flags = (uint32_t)cpl << DESC_DPL_SHIFT };
        x86_update_mode(cpu);
        return;
    }
    if (!x86_desc_read(cpu, sel, &d, false)) {
        gp(cpu, SEL_ERR(sel));
    }
    int dpl = x86_desc_dpl(&d);
    if (seg == R_SS) {
        if (rpl != cpl || dpl != cpl || !(d.hi & DESC_S_MASK) ||
            (d.hi & DESC_CS_MASK) || !(d.hi & DESC_RW_MASK)) {
            gp(cpu, SEL_ERR(sel));
        }
        if (!x86_desc_present(&d)) {
            x86_raise_exception_err(cpu, EXCP_SS, SEL_ERR(sel));
        }
    } else {
        /* data, or readable code */
        if (!(d.hi & DESC_S_MASK) ||
            ((d.hi & DESC_CS_MASK) && !(d.hi & DESC_RW_MASK))) {
            gp(cpu, SEL_ERR(sel));
        }
        if ((!desc_is_code(&d) || !desc_conforming(&d)) &&
            (rpl > dpl || cpl > dpl)) {
            gp(cpu, SEL_ERR(sel));
        }
        if (!x86_desc_present(&d)) {
            x86_raise_exception_err(cpu, EXCP_NP, SEL_ERR(sel));
        }
    }
    x86_desc_set_accessed(cpu, &d);
    x86_desc_to_cache(&d, sel, &cpu->segs[seg]);
    if (seg == R_SS) {
        x86_update_mode(cpu);
    }
}

/*
 * After a return to an outer level: data segments the new CPL may not use
 * become null (SDM vol. 2, RET and IRET).
 */
static void drop_inaccessible_segs(X86CPU *cpu)
{
    static const int segs[] = { R_ES, R_DS, R_FS, R_GS };

    for (unsigned i = 0; i < 4; i++) {
        SegmentCache *sc = &cpu->segs[segs[i]];
        bool conforming_code = (sc->flags & DESC_CS_MASK) &&
                               (sc->flags & DESC_C_MASK);
        if ((sc->selector & ~3) != 0 && !conforming_code &&
            x86_seg_dpl(sc) < cpu->cpl) {
            load_null(cpu, segs[i], 0);
        }
    }
}

/* ---- far transfers ---- */

static void load_cs_real(X86CPU *cpu, uint16_t sel)
{
    load_seg_real(cpu, R_CS, sel);
}

static void load_cs(X86CPU *cpu, X86Desc *d, uint16_t sel, int cpl)
{
    x86_desc_set_accessed(cpu, d);
    x86_desc_to_cache(d, (sel & ~3) | cpl, &cpu->segs[R_CS]);
}

/* A code segment reached without a gate keeps the CPL. */
static void check_code_direct(X86CPU *cpu, uint16_t sel, const X86Desc *d)
{
    int dpl = x86_desc_dpl(d);

    if (!desc_is_code(d)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (desc_conforming(d) ? dpl > cpu->cpl
                           : ((sel & 3) > cpu->cpl || dpl != cpu->cpl)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (!x86_desc_present(d)) {
        x86_raise_exception_err(cpu, EXCP_NP, SEL_ERR(sel));
    }
    if (cpu->long_mode && (d->hi & DESC_L_MASK) && (d->hi & DESC_B_MASK)) {
        gp(cpu, SEL_ERR(sel));
    }
}

/* The new rIP must lie within CS, or be canonical for 64-bit code. */
static void check_target(X86CPU *cpu, const X86Desc *d, uint64_t off)
{
    if (cpu->long_mode && (d->hi & DESC_L_MASK)) {
        if (!x86_canonical(off)) {
            gp(cpu, 0);
        }
        return;
    }
    uint32_t limit = (d->lo & 0xffff) | (d->hi & 0xf0000);
    if (d->hi & DESC_G_MASK) {
        limit = (limit << 12) | 0xfff;
    }
    if (off > limit) {
        gp(cpu, 0);
    }
}

typedef struct CallGate {
    uint16_t sel;           /* target code segment */
    uint64_t off;
    int size;               /* 2, 4 or 8: what the gate pushes */
    int params;             /* words or dwords copied to an inner stack */
    X86Desc target;
} CallGate;

/* Checks a call gate and the code segment it names (SDM vol. 3, 5.8.4). */
static void read_call_gate(X86CPU *cpu, uint16_t sel, X86Desc *g,
                           CallGate *cg)
{
    int type = (g->hi >> 8) & 0xf;
    int dpl = x86_desc_dpl(g);

    if (cpu->long_mode ? type != 0xc : (type != 4 && type != 0xc)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (dpl < cpu->cpl || dpl < (sel & 3)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (!x86_desc_present(g)) {
        x86_raise_exception_err(cpu, EXCP_NP, SEL_ERR(sel));
    }
    if (cpu->long_mode && !x86_desc_read(cpu, sel, g, true)) {
        gp(cpu, SEL_ERR(sel));
    }
    cg->sel = g->lo >> 16;
    cg->off = (g->lo & 0xffff) | (g->hi & 0xffff0000);
    cg->size = cpu->long_mode ? 8 : type == 0xc ? 4 : 2;
    cg->params = cpu->long_mode ? 0 : g->hi & 0x1f;
    if (cpu->long_mode) {
        cg->off |= (uint64_t)g->base_hi << 32;
    } else if (cg->size == 2) {
        cg->off &= 0xffff;
    }
    if ((cg->sel & ~3) == 0) {
        gp(cpu, 0);
    }
    X86Desc *t = &cg->target;
    if (!x86_desc_read(cpu, cg->sel, t, false) || !desc_is_code(t) ||
        x86_desc_dpl(t) > cpu->cpl) {
        gp(cpu, SEL_ERR(cg->sel));
    }
    if (cpu->long_mode &&
        (!(t->hi & DESC_L_MASK) || (t->hi & DESC_B_MASK))) {
        gp(cpu, SEL_ERR(cg->sel));
    }
    if (!x86_desc_present(t)) {
        x86_raise_exception_err(cpu, EXCP_NP, SEL_ERR(cg->sel));
    }
}

void x86_far_jmp(X86CPU *cpu, uint16_t sel, uint64_t off)
{
    X86Desc d;

    if (!x86_protected(cpu) || x86_vm86(cpu)) {
        load_cs_real(cpu, sel);
        cpu->next_rip = off;
        return;
    }
    if ((sel & ~3) == 0) {
        gp(cpu, 0);
    }
    if (!x86_desc_read(cpu, sel, &d, false)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (d.hi & DESC_S_MASK) {
        check_code_direct(cpu, sel, &d);
        check_target(cpu, &d, off);
        load_cs(cpu, &d, sel, cpu->cpl);
        cpu->next_rip = off;
        x86_update_mode(cpu);
        return;
    }
    int type = (d.hi >> 8) & 0xf;
    if (type != 4 && type != 0xc) {
        /* TSS or task gate: task switches are not implemented */
        log_unimp("x86: far jmp to a task (selector 0x%x)", sel);
        gp(cpu, SEL_ERR(sel));
    }
    CallGate cg;
    read_call_gate(cpu, sel, &d, &cg);
    /* a jump through a gate never changes the privilege level */
    int tdpl = x86_desc_dpl(&cg.target);
    if (!desc_conforming(&cg.target) && tdpl != cpu->cpl) {
        gp(cpu, SEL_ERR(cg.sel));
    }
    check_target(cpu, &cg.target, cg.off);
    load_cs(cpu, &cg.target, cg.sel, cpu->cpl);
    cpu->next_rip = cg.off;
    x86_update_mode(cpu);
}

static void far_call_real(X86CPU *cpu, uint16_t sel, uint64_t off,
                          int opsize)
{
    X86Stack st;

    stack_current(cpu, &st);
    x86_stack_push(cpu, &st, opsize, cpu->segs[R_CS].selector);
    x86_stack_push(cpu, &st, opsize, cpu->next_rip);
    cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
    load_cs_real(cpu, sel);
    cpu->next_rip = off;
}

/* A call gate to a more privileged non-conforming segment: switch to the
 * stack the TSS names, copy the parameters, push the return frame. */
static void call_gate_inner(X86CPU *cpu, const CallGate *cg)
{
    int dpl = x86_desc_dpl(&cg->target);
    uint16_t nss;
    uint64_t nsp;
    SegmentCache ssc;
    X86Stack old, st;

    x86_tss_stack(cpu, dpl, 0, 0, &nss, &nsp);
    x86_check_new_ss(cpu, nss, dpl, EXCP_TS, 0, cpu->long_mode, &ssc);
    int width = cpu->long_mode ? 8 : x86_ss_width(&ssc);
    x86_stack_init(&st, &ssc, nsp, width, X86_MMU_KERNEL);
    stack_current(cpu, &old);
    x86_stack_push(cpu, &st, cg->size, cpu->segs[R_SS].selector);
    x86_stack_push(cpu, &st, cg->size, cpu->regs[R_ESP]);
    for (int i = cg->params - 1; i >= 0; i--) {
        X86Stack p = old;
        p.sp = (old.sp + i * cg->size) & old.mask;
        x86_stack_push(cpu, &st, cg->size, x86_stack_pop(cpu, &p, cg->size));
    }
    x86_stack_push(cpu, &st, cg->size, cpu->segs[R_CS].selector);
    x86_stack_push(cpu, &st, cg->size, cpu->next_rip);

    X86Desc target = cg->target;
    load_cs(cpu, &target, cg->sel, dpl);
    cpu->segs[R_SS] = ssc;
    cpu->regs[R_ESP] = x86_stack_rsp(&st, nsp);
    cpu->next_rip = cg->off;
    x86_update_mode(cpu);
}

void x86_far_call(X86CPU *cpu, uint16_t sel, uint64_t off, int opsize)
{
    X86Desc d;
    X86Stack st;

    if (!x86_protected(cpu) || x86_vm86(cpu)) {
        far_call_real(cpu, sel, off, opsize);
        return;
    }
    if ((sel & ~3) == 0) {
        gp(cpu, 0);
    }
    if (!x86_desc_read(cpu, sel, &d, false)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (d.hi & DESC_S_MASK) {
        check_code_direct(cpu, sel, &d);
        check_target(cpu, &d, off);
        stack_current(cpu, &st);
        x86_stack_push(cpu, &st, opsize, cpu->segs[R_CS].selector);
        x86_stack_push(cpu, &st, opsize, cpu->next_rip);
        load_cs(cpu, &d, sel, cpu->cpl);
        cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
        cpu->next_rip = off;
        x86_update_mode(cpu);
        return;
    }
    int type = (d.hi >> 8) & 0xf;
    if (type != 4 && type != 0xc) {
        log_unimp("x86: far call to a task (selector 0x%x)", sel);
        gp(cpu, SEL_ERR(sel));
    }
    CallGate cg;
    read_call_gate(cpu, sel, &d, &cg);
    check_target(cpu, &cg.target, cg.off);
    if (!desc_conforming(&cg.target) &&
        x86_desc_dpl(&cg.target) < cpu->cpl) {
        call_gate_inner(cpu, &cg);
        return;
    }
    stack_current(cpu, &st);
    x86_stack_push(cpu, &st, cg.size, cpu->segs[R_CS].selector);
    x86_stack_push(cpu, &st, cg.size, cpu->next_rip);
    load_cs(cpu, &cg.target, cg.sel, cpu->cpl);
    cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
    cpu->next_rip = cg.off;
    x86_update_mode(cpu);
}

/* The code segment a far ret or iret returns to (checks shared by both). */
static void check_return_cs(X86CPU *cpu, uint16_t sel, X86Desc *d)
{
    int rpl = sel & 3;

    if ((sel & ~3) == 0) {
        gp(cpu, 0);
    }
    if (rpl < cpu->cpl || !x86_desc_read(cpu, sel, d, false) ||
        !desc_is_code(d)) {
        gp(cpu, SEL_ERR(sel));
    }
    if (desc_conforming(d) ? x86_desc_dpl(d) > rpl
                           : x86_desc_dpl(d) != rpl) {
        gp(cpu, SEL_ERR(sel));
    }
    if (!x86_desc_present(d)) {
        x86_raise_exception_err(cpu, EXCP_NP, SEL_ERR(sel));
    }
    if (cpu->long_mode && (d->hi & DESC_L_MASK) && (d->hi & DESC_B_MASK)) {
        gp(cpu, SEL_ERR(sel));
    }
}

/* Width of the stack pointer after returning to code d with stack ssc. */
static int return_stack_width(X86CPU *cpu, const X86Desc *d,
                              const SegmentCache *ssc)
{
    return cpu->long_mode && (d->hi & DESC_L_MASK) ? 8 : x86_ss_width(ssc);
}

void x86_far_ret(X86CPU *cpu, int opsize, uint16_t pop_bytes)
{
    X86Stack st;
    X86Desc d;

    stack_current(cpu, &st);
    uint64_t ip = x86_stack_pop(cpu, &st, opsize);
    uint16_t sel = x86_stack_pop(cpu, &st, opsize);

    if (!x86_protected(cpu) || x86_vm86(cpu)) {
        st.sp = (st.sp + pop_bytes) & st.mask;
        cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
        load_cs_real(cpu, sel);
        cpu->next_rip = ip;
        return;
    }
    check_return_cs(cpu, sel, &d);
    int rpl = sel & 3;
    st.sp = (st.sp + pop_bytes) & st.mask;
    check_target(cpu, &d, ip);
    if (rpl == cpu->cpl) {
        load_cs(cpu, &d, sel, rpl);
        cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
        cpu->next_rip = ip;
        x86_update_mode(cpu);
        return;
    }
    /* to an outer level: the caller's SS:rSP follow */
    uint64_t nsp = x86_stack_pop(cpu, &st, opsize);
    uint16_t nss = x86_stack_pop(cpu, &st, opsize);
    bool to64 = cpu->long_mode && (d.hi & DESC_L_MASK);
    SegmentCache ssc;
    x86_check_new_ss(cpu, nss, rpl, EXCP_GP, 0, to64 && rpl < 3, &ssc);

    load_cs(cpu, &d, sel, rpl);
    int width = return_stack_width(cpu, &d, &ssc);
    X86Stack nst;
    x86_stack_init(&nst, &ssc, nsp + pop_bytes, width, X86_MMU_KERNEL);
    cpu->segs[R_SS] = ssc;
    cpu->regs[R_ESP] = x86_stack_rsp(&nst, cpu->regs[R_ESP]);
    cpu->next_rip = ip;
    x86_update_mode(cpu);
    drop_inaccessible_segs(cpu);
}

/* EFLAGS bits iret and popf may change (SDM vol. 2, IRET, POPF). */
static uint64_t iret_flags_mask(X86CPU *cpu, int cpl, int opsize)
{
    uint64_t mask = CC_ALL | TF_MASK | DF_MASK | NT_MASK | RF_MASK |
                    AC_MASK | ID_MASK;

    if (cpl <= x86_iopl(cpu)) {
        mask |= IF_MASK;
    }
    if (cpl == 0) {
        mask |= IOPL_MASK | VIF_MASK | VIP_MASK;
    }
    return opsize == 2 ? mask & 0xffff : mask;
}

static void iret_real(X86CPU *cpu, int opsize)
{
    X86Stack st;

    if (x86_vm86(cpu) && x86_iopl(cpu) < 3) {
        gp(cpu, 0);
    }
    stack_current(cpu, &st);
    uint64_t ip = x86_stack_pop(cpu, &st, opsize);
    uint16_t sel = x86_stack_pop(cpu, &st, opsize);
    uint64_t fl = x86_stack_pop(cpu, &st, opsize);
    uint64_t mask = CC_ALL | TF_MASK | IF_MASK | DF_MASK | NT_MASK;

    if (opsize == 4) {
        mask |= RF_MASK | AC_MASK | ID_MASK;
    }
    if (!x86_vm86(cpu)) {
        mask |= IOPL_MASK;
    }
    cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
    load_cs_real(cpu, sel);
    x86_set_eflags(cpu, fl, mask);
    cpu->next_rip = ip;
}

void x86_iret(X86CPU *cpu, int opsize)
{
    X86Stack st;
    X86Desc d;
    int cpl = cpu->cpl;

    if (!x86_protected(cpu) || x86_vm86(cpu)) {
        iret_real(cpu, opsize);
        cpu->nmi_blocked = false;
        return;
    }
    if (cpu->eflags & NT_MASK) {
        /* a task return; #GP in IA-32e mode, not implemented otherwise */
        if (!cpu->long_mode) {
            log_unimp("x86: iret with NT set (task return)");
        }
        gp(cpu, 0);
    }
    stack_current(cpu, &st);
    uint64_t ip = x86_stack_pop(cpu, &st, opsize);
    uint16_t sel = x86_stack_pop(cpu, &st, opsize);
    uint64_t fl = x86_stack_pop(cpu, &st, opsize);

    if (!cpu->long_mode && opsize == 4 && (fl & VM_MASK) && cpl == 0) {
        log_unimp("x86: iret to virtual-8086 mode");
        gp(cpu, 0);
    }
    check_return_cs(cpu, sel, &d);
    int rpl = sel & 3;
    bool to64 = cpu->long_mode && (d.hi & DESC_L_MASK);
    bool pop_ss = x86_code64(cpu) || rpl > cpl;
    SegmentCache ssc;
    uint64_t nsp = 0;

    if (pop_ss) {
        nsp = x86_stack_pop(cpu, &st, opsize);
        uint16_t nss = x86_stack_pop(cpu, &st, opsize);
        x86_check_new_ss(cpu, nss, rpl, EXCP_GP, 0, to64 && rpl < 3, &ssc);
    }
    check_target(cpu, &d, ip);

    uint64_t mask = iret_flags_mask(cpu, cpl, opsize);
    load_cs(cpu, &d, sel, rpl);
    if (pop_ss) {
        X86Stack nst;
        x86_stack_init(&nst, &ssc, nsp, return_stack_width(cpu, &d, &ssc),
                       X86_MMU_KERNEL);
        cpu->segs[R_SS] = ssc;
        cpu->regs[R_ESP] = x86_stack_rsp(&nst, cpu->regs[R_ESP]);
    } else {
        cpu->regs[R_ESP] = x86_stack_rsp(&st, cpu->regs[R_ESP]);
    }
    x86_set_eflags(cpu, fl, mask);
    cpu->next_rip = ip;
    x86_update_mode(cpu);
    if (rpl > cpl) {
        drop_inaccessible_segs(cpu);
    }
    cpu->nmi_blocked = false;
}
