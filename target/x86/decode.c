/*
 * The x86-64 instruction decoder: legacy and REX prefixes, the one-byte,
 * 0F, 0F 38 and 0F 3A maps, ModRM/SIB addressing and immediates (Intel SDM
 * vol. 2 chapter 2 and appendix A). It only parses: which handler runs an
 * instruction is chosen here, what it does is decided by the handler.
 */
#include "int.h"

/* Immediate kinds of the opcode tables. */
enum {
    I_NONE,
    I_B,        /* imm8, zero-extended */
    I_BS,       /* imm8 or rel8, sign-extended */
    I_W,        /* imm16 */
    I_Z,        /* imm16/imm32 by operand size, sign-extended (and rel) */
    I_V,        /* imm16/32/64 by operand size (B8+r) */
    I_MOFFS,    /* offset of address size, into disp */
    I_AP,       /* far pointer: offset of operand size, then selector */
    I_ENTER,    /* imm16, imm8 */
    I_GRP3,     /* F6/F7: an immediate only for /0 and /1 */
};

#define IMM(k)  (k)
#define M       0x0010      /* has ModRM */
#define D64     0x0020      /* operand size 64 by default in 64-bit mode */
#define F64     0x0040      /* operand size always 64 in 64-bit mode */
#define I64     0x0080      /* invalid in 64-bit mode */
#define SYS     0x0100      /* x86_exec_system */
#define X87     0x0200      /* x86_exec_x87 */
#define SSE     0x0300      /* x86_exec_sse */
#define ROUTE   0x0300

#define ALU_ROW(x) \
    [(x) + 0] = M, [(x) + 1] = M, [(x) + 2] = M, [(x) + 3] = M, \
    [(x) + 4] = I_BS, [(x) + 5] = I_Z

static const uint16_t map_1b[256] = {
    ALU_ROW(0x00), ALU_ROW(0x08), ALU_ROW(0x10), ALU_ROW(0x18),
    ALU_ROW(0x20), ALU_ROW(0x28), ALU_ROW(0x30), ALU_ROW(0x38),
    [0x06] = I64, [0x07] = I64, [0x0e] = I64, [0x16] = I64, [0x17] = I64,
    [0x1e] = I64, [0x1f] = I64,
    [0x27] = I64, [0x2f] = I64, [0x37] = I64, [0x3f] = I64,
    [0x50 ... 0x5f] = D64,
    [0x60] = I64, [0x61] = I64, [0x62] = M | I64, [0x63] = M,
    [0x68] = I_Z | D64, [0x69] = M | I_Z, [0x6a] = I_BS | D64,
    [0x6b] = M | I_BS,
    [0x70 ... 0x7f] = I_BS | F64,
    [0x80] = M | I_BS, [0x81] = M | I_Z, [0x82] = M | I_BS | I64,
    [0x83] = M | I_BS,
    [0x84 ... 0x8e] = M, [0x8f] = M | D64,
    [0x9a] = I_AP | I64, [0x9b] = X87, [0x9c] = SYS | D64,
    [0x9d] = SYS | D64,
    [0xa0 ... 0xa3] = I_MOFFS, [0xa8] = I_BS, [0xa9] = I_Z,
    [0xb0 ... 0xb7] = I_B, [0xb8 ... 0xbf] = I_V,
    [0xc0] = M | I_B, [0xc1] = M | I_B, [0xc2] = I_W | F64, [0xc3] = F64,
    [0xc4] = M | I64, [0xc5] = M | I64, [0xc6] = M | I_BS, [0xc7] = M | I_Z,
    [0xc8] = I_ENTER | D64, [0xc9] = D64, [0xca] = I_W,
    [0xcc] = SYS, [0xcd] = SYS | I_B, [0xce] = SYS | I64, [0xcf] = SYS,
    [0xd0 ... 0xd3] = M, [0xd4] = I_B | I64, [0xd5] = I_B | I64,
    [0xd6] = I64, [0xd8 ... 0xdf] = X87 | M,
    [0xe0 ... 0xe3] = I_BS | F64, [0xe4 ... 0xe7] = I_B,
    [0xe8] = I_Z | F64, [0xe9] = I_Z | F64, [0xea] = I_AP | I64,
    [0xeb] = I_BS | F64,
    [0xf4] = SYS, [0xf6] = M | I_GRP3, [0xf7] = M | I_GRP3,
    [0xfa] = SYS, [0xfb] = SYS, [0xfe] = M, [0xff] = M,
};

static const uint16_t map_0f[256] = {
    [0x00 ... 0x03] = SYS | M, [0x05 ... 0x09] = SYS,
    [0x0d] = M,
    [0x10 ... 0x17] = SSE | M, [0x18 ... 0x1f] = M,
    [0x20 ... 0x23] = SYS | M,
    [0x28 ... 0x2f] = SSE | M,
    [0x30 ... 0x35] = SYS,
    [0x40 ... 0x4f] = M,
    [0x50 ... 0x6f] = SSE | M, [0x70 ... 0x73] = SSE | M | I_B,
    [0x74 ... 0x76] = SSE | M, [0x77] = SSE, [0x78 ... 0x7f] = SSE | M,
    [0x80 ... 0x8f] = I_Z | F64,
    [0x90 ... 0x9f] = M,
    [0xa0] = D64, [0xa1] = D64, [0xa2] = SYS, [0xa3] = M, [0xa4] = M | I_B,
    [0xa5] = M, [0xa8] = D64, [0xa9] = D64, [0xab] = M, [0xac] = M | I_B,
    [0xad] = M, [0xae] = SSE | M, [0xaf] = M,
    [0xb0 ... 0xb9] = M, [0xba] = M | I_B, [0xbb ... 0xbf] = M,
    [0xc0] = M, [0xc1] = M, [0xc2] = SSE | M | I_B, [0xc3] = SSE | M,
    [0xc4 ... 0xc6] = SSE | M | I_B, [0xc7] = M,
    [0xd0 ... 0xfe] = SSE | M, [0xff] = M,
};

/* Where the bytes of an instruction come from. */
typedef struct Fetch {
    const uint8_t *buf;     /* bytes readable without faults */
    unsigned avail;
    unsigned pos;
    X86CPU *cpu;            /* for bytes past avail; NULL: stop there */
    uint64_t lin;           /* linear address of buf[0] */
    bool truncated;         /* needed a byte past avail without cpu */
} Fetch;

static uint8_t fetch_slow(Fetch *f, unsigned pos)
{
    uint64_t lin;

    /* Bytes past the 15-byte limit are never fetched: the length alone
     * makes the instruction #GP. */
    if (pos >= 15) {
        return 0;
    }
    if (!f->cpu) {
        f->truncated = true;
        return 0;
    }
    lin = f->lin + pos;
    if (f->cpu->code_size != 8) {
        lin = (uint32_t)lin;
    }
    return x86_ld_code_byte(f->cpu, lin);
}

static inline uint8_t fetch_byte(Fetch *f)
{
    unsigned pos = f->pos++;
    if (likely(pos < f->avail)) {
        return f->buf[pos];
    }
    return fetch_slow(f, pos);
}

/* n little-endian bytes, zero-extended. */
static uint64_t fetch_le(Fetch *f, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v |= (uint64_t)fetch_byte(f) << (8 * i);
    }
    return v;
}

static int64_t fetch_sle(Fetch *f, int n)
{
    return x86_sext(fetch_le(f, n), x86_size_log2(n));
}

/* 16-bit addressing forms (SDM vol. 2 table 2-1). */
static const int8_t base16[8] = {
    R_EBX, R_EBX, R_EBP, R_EBP, R_ESI, R_EDI, R_EBP, R_EBX,
};
static const int8_t index16[8] = {
    R_ESI, R_EDI, R_ESI, R_EDI, -1, -1, -1, -1,
};

static void decode_modrm(Fetch *f, X86Insn *insn, bool mode64,
                         bool reg_only)
{
    uint8_t modrm = fetch_byte(f);
    uint8_t rex = insn->rex;
    int mod = modrm >> 6, rm = modrm & 7;

    insn->has_modrm = true;
    insn->mod = reg_only ? 3 : mod;
    insn->reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    insn->rm = rm | ((rex & 1) << 3);
    if (insn->mod == 3) {
        return;
    }
    if (insn->addrsize == 2) {
        if (mod == 0 && rm == 6) {
            insn->disp = (uint16_t)fetch_le(f, 2);
            return;
        }
        insn->base = base16[rm];
        insn->index = index16[rm];
        if (insn->base == R_EBP) {
            insn->seg = R_SS;
        }
        if (mod == 1) {
            insn->disp = fetch_sle(f, 1);
        } else if (mod == 2) {
            insn->disp = fetch_sle(f, 2);
        }
        return;
    }
    if (rm == 4) {
        uint8_t sib = fetch_byte(f);
        int index = ((sib >> 3) & 7) | ((rex & 2) << 2);
        int base = sib & 7;

        insn->scale = sib >> 6;
        insn->index = index == R_ESP ? X86_BASE_NONE : index;
        if (base == 5 && mod == 0) {
            insn->disp = fetch_sle(f, 4);
            return;
        }
        insn->base = base | ((rex & 1) << 3);
    } else if (rm == 5 && mod == 0) {
        insn->base = mode64 ? X86_BASE_RIP : X86_BASE_NONE;
        insn->disp = fetch_sle(f, 4);
        return;
    } else {
        insn->base = insn->rm;
    }
    if (insn->base == R_ESP || insn->base == R_EBP) {
        insn->seg = R_SS;
    }
    if (mod == 1) {
        insn->disp = fetch_sle(f, 1);
    } else if (mod == 2) {
        insn->disp = fetch_sle(f, 4);
    }
}

static void decode_imm(Fetch *f, X86Insn *insn, int kind)
{
    int osz = insn->opsize;

    switch (kind) {
    case I_B:
        insn->imm = fetch_byte(f);
        break;
    case I_BS:
        insn->imm = fetch_sle(f, 1);
        break;
    case I_W:
        insn->imm = fetch_le(f, 2);
        break;
    case I_Z:
        insn->imm = fetch_sle(f, osz == 2 ? 2 : 4);
        break;
    case I_V:
        insn->imm = fetch_le(f, osz);
        break;
    case I_MOFFS:
        insn->disp = fetch_le(f, insn->addrsize);
        break;
    case I_AP:
        insn->imm = fetch_le(f, osz == 2 ? 2 : 4);
        insn->imm2 = fetch_le(f, 2);
        break;
    case I_ENTER:
        insn->imm = fetch_le(f, 2);
        insn->imm2 = fetch_byte(f);
        break;
    case I_GRP3:
        if ((insn->reg & 7) < 2) {
            if (insn->opcode == 0xf6) {
                insn->imm = fetch_sle(f, 1);
            } else {
                insn->imm = fetch_sle(f, osz == 2 ? 2 : 4);
            }
        }
        break;
    }
}

/* The SDM's list of instructions that accept a lock prefix, with a memory
 * destination (vol. 2 "LOCK"). */
static bool lockable(const X86Insn *insn)
{
    int reg = insn->reg & 7;

    if (!insn->has_modrm || insn->mod == 3) {
        return false;
    }
    switch (insn->opcode) {
    case 0x00: case 0x01: case 0x08: case 0x09: case 0x10: case 0x11:
    case 0x18: case 0x19: case 0x20: case 0x21: case 0x28: case 0x29:
    case 0x30: case 0x31: case 0x86: case 0x87:
    case X86_MAP_0F | 0xab: case X86_MAP_0F | 0xb3: case X86_MAP_0F | 0xbb:
    case X86_MAP_0F | 0xb0: case X86_MAP_0F | 0xb1:
    case X86_MAP_0F | 0xc0: case X86_MAP_0F | 0xc1:
        return true;
    case 0x80: case 0x81: case 0x82: case 0x83:
        return reg != 7;
    case 0xf6: case 0xf7:
        return reg == 2 || reg == 3;
    case 0xfe: case 0xff:
        return reg < 2;
    case X86_MAP_0F | 0xba:
        return reg >= 5;
    case X86_MAP_0F | 0xc7:
        return reg == 1;
    default:
        return false;
    }
}

void x86_exec_ud(X86CPU *cpu, const X86Insn *insn)
{
    x86_raise_exception(cpu, EXCP_UD);
}

void x86_exec_too_long(X86CPU *cpu, const X86Insn *insn)
{
    x86_raise_exception_err(cpu, EXCP_GP, 0);
}

static void decode(Fetch *f, int code_size, X86Insn *insn)
{
    bool mode64 = code_size == 8;
    bool p66 = false, p67 = false, lock = false;
    int seg = -1;
    uint8_t rex = 0, rep = 0, b;
    uint16_t props, op;

    for (;;) {
        if (f->pos >= 15) {
            insn->len = 15;
            insn->exec = x86_exec_too_long;
            insn->opcode = 0;
            insn->ea_base = insn->ea_index = X86_EA_ZERO;
            insn->thread_next = insn->threadable = false;
            return;
        }
        b = fetch_byte(f);
        switch (b) {
        case 0x66: p66 = true; break;
        case 0x67: p67 = true; break;
        case 0xf0: lock = true; break;
        case 0xf2: case 0xf3: rep = b; break;
        case 0x26: case 0x2e: case 0x36: case 0x3e:
            /* ES, CS, SS, DS overrides: ignored in 64-bit mode */
            if (!mode64) {
                seg = (b >> 3) & 3;
            }
            break;
        case 0x64: case 0x65:
            seg = R_FS + (b - 0x64);
            break;
        default:
            if (mode64 && (b & 0xf0) == 0x40) {
                rex = b;
                continue;
            }
            goto opcode;
        }
        /* REX counts only right before the opcode. */
        rex = 0;
    }

opcode:
    op = b;
    if (b == 0x0f) {
        b = fetch_byte(f);
        if (b == 0x38) {
            op = X86_MAP_0F38 | fetch_byte(f);
            props = SSE | M;
        } else if (b == 0x3a) {
            op = X86_MAP_0F3A | fetch_byte(f);
            props = SSE | M | I_B;
        } else {
            op = X86_MAP_0F | b;
            props = map_0f[b];
        }
    } else {
        props = map_1b[b];
    }

    insn->opcode = op;
    insn->rex = rex;
    insn->rep = rep;
    insn->lock = lock;
    insn->mandatory = rep ? rep : p66 ? 0x66 : 0;
    insn->has_modrm = false;
    insn->mod = 0;
    insn->reg = 0;
    insn->rm = 0;
    insn->base = X86_BASE_NONE;
    insn->index = X86_BASE_NONE;
    insn->scale = 0;
    insn->disp = 0;
    insn->imm = 0;
    insn->imm2 = 0;
    insn->seg = R_DS;

    if (mode64) {
        insn->addrsize = p67 ? 4 : 8;
        if (rex & 8) {
            insn->opsize = 8;
        } else if (props & F64) {
            insn->opsize = 8;
        } else if (props & D64) {
            insn->opsize = p66 ? 2 : 8;
        } else {
            insn->opsize = p66 ? 2 : 4;
        }
    } else {
        insn->addrsize = (code_size == 4) != p67 ? 4 : 2;
        insn->opsize = (code_size == 4) != p66 ? 4 : 2;
    }

    if (props & M) {
        /* mov to/from control and debug registers ignore mod (SDM 2.1.3) */
        bool reg_only = op >= (X86_MAP_0F | 0x20) &&
                        op <= (X86_MAP_0F | 0x23);
        decode_modrm(f, insn, mode64, reg_only);
        if (op == 0xff && mode64) {
            int reg = insn->reg & 7;
            if (reg == 2 || reg == 4) {
                insn->opsize = 8;
            } else if (reg == 6 && !(rex & 8)) {
                insn->opsize = p66 ? 2 : 8;
            }
        }
    }
    if (seg >= 0) {
        insn->seg = seg;
    }
    insn->ea_base = insn->base >= 0 ? insn->base : X86_EA_ZERO;
    insn->ea_index = insn->index >= 0 ? insn->index : X86_EA_ZERO;
    decode_imm(f, insn, props & 0xf);
    insn->len = f->pos;

    switch (props & ROUTE) {
    case SYS:
        insn->exec = x86_exec_system;
        break;
    case X87:
        insn->exec = x86_exec_x87;
        break;
    case SSE:
        insn->exec = x86_exec_sse;
        break;
    default:
        insn->exec = x86_int_select(insn, code_size);
        if (!insn->exec) {
            insn->exec = x86_exec_ud;
        }
        break;
    }
    if ((mode64 && (props & I64)) || (lock && !lockable(insn))) {
        insn->exec = x86_exec_ud;
    }
    if (f->pos > 15) {
        insn->len = 15;
        insn->exec = x86_exec_too_long;
    }
    insn->thread_next = false;
    insn->threadable = x86_int_fast_threads(insn, code_size);
}

bool x86_decode_buf(X86Insn *insn, const uint8_t *buf, unsigned avail,
                    int code_size)
{
    Fetch f = { .buf = buf, .avail = avail };

    decode(&f, code_size, insn);
    return !f.truncated;
}

void x86_decode_fetch(X86CPU *cpu, uint64_t lin, const uint8_t *page_host,
                      X86Insn *insn)
{
    Fetch f = { .cpu = cpu, .lin = lin };

    if (page_host) {
        f.buf = page_host + (lin & 0xfff);
        f.avail = 0x1000 - (lin & 0xfff);
    }
    decode(&f, cpu->code_size, insn);
}

void x86_decode(X86CPU *cpu, uint64_t lin, X86Insn *insn)
{
    const uint8_t *host;
    uint32_t *page_word;

    x86_translate_code(cpu, lin, &host, &page_word);
    x86_decode_fetch(cpu, lin, host, insn);
    if (insn->exec == x86_exec_ud || insn->exec == x86_exec_too_long) {
        insn->exec(cpu, insn);
    }
}

bool x86_insn_ends_block(const X86Insn *insn)
{
    int reg = insn->reg & 7;

    if (insn->exec == x86_exec_system || insn->exec == x86_exec_ud ||
        insn->exec == x86_exec_too_long) {
        return true;
    }
    /* Conditional branches do not end a block: the run loop leaves it
     * when one is taken. */
    switch (insn->opcode) {
    case 0xe8: case 0xe9: case 0xea: case 0xeb:
    case 0xc2: case 0xc3: case 0xca: case 0xcb: case 0x9a:
    case 0x8e:              /* mov sreg: mode, interrupt shadow */
    case 0x07: case 0x17: case 0x1f:
    case 0xc4: case 0xc5:
    case 0x6c ... 0x6f:     /* port I/O: let device interrupts in */
    case 0xe4 ... 0xe7:
    case 0xec ... 0xef:
    case 0xf1:
    case X86_MAP_0F | 0xa1: case X86_MAP_0F | 0xa9:
    case X86_MAP_0F | 0xb2: case X86_MAP_0F | 0xb4: case X86_MAP_0F | 0xb5:
    case X86_MAP_0F | 0x0b: case X86_MAP_0F | 0xb9: case X86_MAP_0F | 0xff:
        return true;
    case 0xa4 ... 0xa7:     /* rep strings resume at themselves */
    case 0xaa ... 0xaf:
        return insn->rep != 0;
    case 0xff:
        return reg >= 2 && reg <= 5;
    default:
        return false;
    }
}

uint64_t x86_insn_ea(X86CPU *cpu, const X86Insn *insn)
{
    return x86_ea_inline(cpu, insn);
}

uint64_t x86_insn_linear(X86CPU *cpu, const X86Insn *insn)
{
    return x86_linear_inline(cpu, insn);
}

uint64_t x86_seg_linear(X86CPU *cpu, int seg, uint64_t off)
{
    return x86_seg_linear_inline(cpu, seg, off);
}
