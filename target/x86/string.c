/*
 * String instructions with their rep prefixes (Intel SDM vol. 2 MOVS,
 * CMPS, STOS, LODS, SCAS, INS, OUTS; vol. 1 7.3.9). Each iteration commits
 * rSI/rDI/rCX, so a fault in the middle restarts where it stopped; a long
 * rep ends after a bounded amount of work with rip left on the instruction
 * so that interrupts get in. Forward rep movs and rep stos move whole page
 * chunks at a time.
 */
#include "int.h"

/* Iterations (or bytes, for the chunked paths) per execution. */
#define REP_BUDGET      4096
#define REP_BYTE_BUDGET (64 * 1024)
#define CHUNK           4096

enum { S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS, S_INS, S_OUTS };

typedef struct StrOp {
    int size;
    int asize;
    uint64_t amask;
    int64_t step;
} StrOp;

static inline void str_init(X86CPU *cpu, const X86Insn *insn, StrOp *s)
{
    s->size = (insn->opcode & 1) ? insn->opsize : 1;
    if ((insn->opcode & 0xfe) == 0x6c || (insn->opcode & 0xfe) == 0x6e) {
        if (s->size == 8) {
            s->size = 4;        /* ins/outs move at most a dword */
        }
    }
    s->asize = insn->addrsize;
    s->amask = x86_addr_mask(insn->addrsize);
    s->step = (cpu->eflags & DF_MASK) ? -s->size : s->size;
}

static inline uint64_t idx(X86CPU *cpu, const StrOp *s, int reg)
{
    return cpu->regs[reg] & s->amask;
}

static inline void idx_step(X86CPU *cpu, const StrOp *s, int reg)
{
    x86_reg_write(cpu, reg, s->asize, false, cpu->regs[reg] + s->step);
}

static inline uint64_t src_lin(X86CPU *cpu, const X86Insn *insn,
                               const StrOp *s)
{
    return x86_seg_linear_inline(cpu, insn->seg, idx(cpu, s, R_ESI));
}

static inline uint64_t dst_lin(X86CPU *cpu, const StrOp *s)
{
    return x86_seg_linear_inline(cpu, R_ES, idx(cpu, s, R_EDI));
}

/* One iteration, committing the index registers. */
static inline void str_once(X86CPU *cpu, const X86Insn *insn,
                            const StrOp *s, int kind)
{
    int size = s->size, sz = x86_size_log2(size);
    uint16_t port = cpu->regs[R_EDX];
    uint64_t v;

    switch (kind) {
    case S_MOVS:
        v = x86_ld(cpu, src_lin(cpu, insn, s), size);
        x86_st(cpu, dst_lin(cpu, s), size, v);
        idx_step(cpu, s, R_ESI);
        idx_step(cpu, s, R_EDI);
        break;
    case S_CMPS:
        v = x86_ld(cpu, src_lin(cpu, insn, s), size);
        x86_alu(cpu, ALU_CMP, sz, v, x86_ld(cpu, dst_lin(cpu, s), size));
        idx_step(cpu, s, R_ESI);
        idx_step(cpu, s, R_EDI);
        break;
    case S_STOS:
        x86_st(cpu, dst_lin(cpu, s), size,
               x86_reg_read(cpu, R_EAX, size, false));
        idx_step(cpu, s, R_EDI);
        break;
    case S_LODS:
        v = x86_ld(cpu, src_lin(cpu, insn, s), size);
        x86_reg_write(cpu, R_EAX, size, false, v);
        idx_step(cpu, s, R_ESI);
        break;
    case S_SCAS:
        x86_alu(cpu, ALU_CMP, sz, x86_reg_read(cpu, R_EAX, size, false),
                x86_ld(cpu, dst_lin(cpu, s), size));
        idx_step(cpu, s, R_EDI);
        break;
    case S_INS:
        x86_check_io(cpu, port, size);
        v = x86_port_in(cpu, port, size);
        x86_st(cpu, dst_lin(cpu, s), size, v);
        idx_step(cpu, s, R_EDI);
        break;
    default:
        v = x86_ld(cpu, src_lin(cpu, insn, s), size);
        x86_check_io(cpu, port, size);
        x86_port_out(cpu, port, size, v);
        idx_step(cpu, s, R_ESI);
        break;
    }
}

/* Bytes a forward chunk may cover from index i of the address size. */
static inline uint64_t chunk_room(const StrOp *s, uint64_t index,
                                  uint64_t lin)
{
    uint64_t room = CHUNK - (lin & (CHUNK - 1));
    uint64_t to_wrap = s->amask - index + 1;

    if (s->asize != 8 && to_wrap < room) {
        room = to_wrap;
    }
    return room;
}

/*
 * rep movs / rep stos forward, a page piece at a time through
 * x86_read/x86_write (which check all pages first and keep decoded code
 * coherent). Returns the elements done, 0 if the chunk path does not apply.
 */
static uint64_t str_chunk(X86CPU *cpu, const X86Insn *insn, const StrOp *s,
                          int kind, uint64_t count)
{
    uint8_t buf[CHUNK];
    uint64_t dst = dst_lin(cpu, s), src = 0, bytes, n;

    bytes = chunk_room(s, idx(cpu, s, R_EDI), dst);
    if (kind == S_MOVS) {
        src = src_lin(cpu, insn, s);
        uint64_t r = chunk_room(s, idx(cpu, s, R_ESI), src);
        if (r < bytes) {
            bytes = r;
        }
        /* element-by-element copying replicates a pattern when the
         * destination overlaps ahead of the source */
        if (dst > src && dst - src < bytes) {
            return 0;
        }
    }
    n = bytes / s->size;
    if (n > count) {
        n = count;
    }
    if (n < 2) {
        return 0;
    }
    bytes = n * s->size;
    if (kind == S_MOVS) {
        x86_read(cpu, src, buf, bytes);
    } else {
        uint64_t v = cpu->regs[R_EAX];
        for (uint64_t i = 0; i < bytes; i += s->size) {
            memcpy(buf + i, &v, s->size);
        }
    }
    x86_write(cpu, dst, buf, bytes);
    if (kind == S_MOVS) {
        x86_reg_write(cpu, R_ESI, s->asize, false, cpu->regs[R_ESI] + bytes);
    }
    x86_reg_write(cpu, R_EDI, s->asize, false, cpu->regs[R_EDI] + bytes);
    x86_reg_write(cpu, R_ECX, s->asize, false, count - n);
    return n;
}

static inline __attribute__((always_inline)) void
string_op(X86CPU *cpu, const X86Insn *insn, int kind)
{
    StrOp s;
    uint64_t count, done = 0, bytes = 0;
    bool cond = kind == S_CMPS || kind == S_SCAS;

    str_init(cpu, insn, &s);
    if (!insn->rep) {
        str_once(cpu, insn, &s, kind);
        return;
    }
    for (;;) {
        count = idx(cpu, &s, R_ECX);
        if (count == 0) {
            return;
        }
        if ((kind == S_MOVS || kind == S_STOS) && s.step > 0 && count > 1) {
            uint64_t n = str_chunk(cpu, insn, &s, kind, count);
            if (n) {
                bytes += n * s.size;
                if (bytes >= REP_BYTE_BUDGET && n < count) {
                    break;
                }
                continue;
            }
        }
        str_once(cpu, insn, &s, kind);
        x86_reg_write(cpu, R_ECX, s.asize, false, count - 1);
        if (cond && x86_condition(cpu, 4) != (insn->rep == 0xf3)) {
            return;     /* repe: ZF=0 stops; repne: ZF=1 stops */
        }
        if (++done >= REP_BUDGET && count > 1) {
            break;
        }
    }
    /* more to do: run this instruction again after a look at interrupts */
    cpu->next_rip = cpu->rip;
}

void x86_exec_movs(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_MOVS);
}

void x86_exec_cmps(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_CMPS);
}

void x86_exec_stos(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_STOS);
}

void x86_exec_lods(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_LODS);
}

void x86_exec_scas(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_SCAS);
}

void x86_exec_ins(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_INS);
}

void x86_exec_outs(X86CPU *cpu, const X86Insn *insn)
{
    string_op(cpu, insn, S_OUTS);
}
