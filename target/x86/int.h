/*
 * Private interfaces between the decoder (decode.c), the integer
 * instructions (int.c, string.c) and the run loop with its block cache
 * (exec.c).
 */
#ifndef TARGET_X86_INT_H
#define TARGET_X86_INT_H

#include "flags.h"

/* ---- decode.c ---- */

/*
 * Decodes one instruction from buf (avail bytes) for a code segment of
 * code_size 2, 4 or 8 bytes, without touching guest memory. Returns false
 * when the instruction needs more than avail bytes. Invalid encodings are
 * not errors: they decode to an insn whose exec raises #UD (or #GP for
 * instructions longer than 15 bytes).
 */
bool x86_decode_buf(X86Insn *insn, const uint8_t *buf, unsigned avail,
                    int code_size);
/* Like x86_decode, but invalid encodings are left to insn->exec. Bytes
 * past the first page are fetched through x86_ld_code_byte. */
void x86_decode_fetch(X86CPU *cpu, uint64_t lin, const uint8_t *page_host,
                      X86Insn *insn);
/* Whether a block of decoded instructions must end after insn (control
 * transfers other than conditional branches, mode and interrupt-state
 * changes, port I/O, rep strings, undefined encodings). */
bool x86_insn_ends_block(const X86Insn *insn);

/* Handlers of undefined and over-long encodings. */
X86ExecFn x86_exec_ud;
X86ExecFn x86_exec_too_long;

/* ---- int.c ---- */

/* The handler of a general-purpose instruction, or NULL if the encoding
 * is undefined (#UD) in a code segment of code_size bytes. decode.c calls
 * it for everything it does not route to sys/x87/sse. */
X86ExecFn *x86_int_select(const X86Insn *insn, int code_size);

/* Whether fn is one of the general handlers x86_int_select wraps for
 * 64-bit code to end with x86_thread_next. */
bool x86_int_threaded(X86ExecFn *fn);

/*
 * The end of a threaded handler (all of int-fast.c's, of Jcc only when
 * not taken, and the wrapped general ones): when the decoder marked the
 * next instruction of the block as threaded too (64-bit code), run it now
 * as the run loop would, with a tail call; else tell the loop where to
 * resume. A store into the running block's page stops the chain.
 */
static inline __attribute__((always_inline)) void
x86_thread_next(X86CPU *cpu, const X86Insn *insn)
{
    if (insn->thread_next && likely(!cpu->block_stop)) {
        const X86Insn *n = insn + 1;
        uint64_t rip = cpu->next_rip;

        cpu->rip = rip;
        cpu->next_rip = rip + n->len;
        n->exec(cpu, n);
        return;
    }
    cpu->thread_end = insn + 1;
}

/* ---- int-fast.c ---- */

/* A handler specialized for insn's operation, operand size and operand
 * kinds, or NULL if its form has none (x86_int_select tries it first). */
X86ExecFn *x86_int_select_fast(const X86Insn *insn, int code_size);
/* Whether insn->exec is a fast handler that continues into the next
 * instruction when insn->thread_next says so. */
bool x86_int_fast_threads(const X86Insn *insn, int code_size);

/* ---- string.c ---- */
X86ExecFn x86_exec_movs;
X86ExecFn x86_exec_cmps;
X86ExecFn x86_exec_stos;
X86ExecFn x86_exec_lods;
X86ExecFn x86_exec_scas;
X86ExecFn x86_exec_ins;
X86ExecFn x86_exec_outs;

/* ---- exec.c ---- */

/* Drops every decoded block of the CPU (x86_cpu_flush_all calls it). */
void x86_block_cache_flush(X86CPU *cpu);
/* Frees the CPU's block cache; the owner calls it before freeing cpu. */
void x86_block_cache_free(X86CPU *cpu);

/* ---- inline helpers shared by int.c and string.c ---- */

static inline uint64_t x86_addr_mask(int addrsize)
{
    return addrsize == 8 ? ~0ull : addrsize == 4 ? 0xffffffffull : 0xffff;
}

static inline uint64_t x86_ea_inline(X86CPU *cpu, const X86Insn *insn)
{
    uint64_t ea = insn->disp + cpu->ea_regs[insn->ea_base] +
                  (cpu->ea_regs[insn->ea_index] << insn->scale);

    return ea & x86_addr_mask(insn->addrsize);
}

static inline uint64_t x86_seg_linear_inline(X86CPU *cpu, int seg,
                                             uint64_t off)
{
    if (cpu->code_size == 8) {
        return seg >= R_FS ? cpu->segs[seg].base + off : off;
    }
    return (uint32_t)(cpu->segs[seg].base + off);
}

static inline uint64_t x86_linear_inline(X86CPU *cpu, const X86Insn *insn)
{
    return x86_seg_linear_inline(cpu, insn->seg, x86_ea_inline(cpu, insn));
}

#endif
