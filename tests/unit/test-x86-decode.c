/*
 * The software CPU's instruction decoder on byte sequences in 16-, 32- and
 * 64-bit code: lengths, operand and address sizes, ModRM/SIB operands,
 * displacements, immediates, prefixes and the encodings that must #UD or
 * #GP (Intel SDM vol. 2 chapter 2).
 */
#include <glib.h>

#include "../../target/x86/int.h"

/* Decodes hex ("48 89 e5") in a code segment of mode bytes; the bytes are
 * followed by padding so that the length must come from the decoder. */
static void decode(int mode, const char *hex, X86Insn *insn)
{
    uint8_t buf[64];
    const char *start = hex;
    unsigned n = 0;
    char *end;

    memset(buf, 0xcc, sizeof(buf));
    while (*hex) {
        buf[n++] = strtoul(hex, &end, 16);
        hex = end;
        while (*hex == ' ') {
            hex++;
        }
    }
    memset(insn, 0xa5, sizeof(*insn));
    g_assert_true(x86_decode_buf(insn, buf, sizeof(buf), mode));
    if (insn->len != n) {
        g_error("%s: decoded %u bytes, want %u", start, insn->len, n);
    }
}

static void check_sizes(const X86Insn *insn, uint16_t opcode, int opsize,
                        int addrsize)
{
    g_assert_cmphex(insn->opcode, ==, opcode);
    g_assert_cmpuint(insn->opsize, ==, opsize);
    g_assert_cmpuint(insn->addrsize, ==, addrsize);
}

static void check_mem(const X86Insn *insn, int base, int index, int scale,
                      int64_t disp, int seg)
{
    g_assert_true(insn->has_modrm);
    g_assert_cmpuint(insn->mod, !=, 3);
    g_assert_cmpint(insn->base, ==, base);
    g_assert_cmpint(insn->index, ==, index);
    if (index != X86_BASE_NONE) {
        g_assert_cmpuint(insn->scale, ==, scale);
    }
    g_assert_cmpint(insn->disp, ==, disp);
    g_assert_cmpuint(insn->seg, ==, seg);
}

static bool is_int(const X86Insn *insn)
{
    return insn->exec != x86_exec_ud && insn->exec != x86_exec_too_long &&
           insn->exec != x86_exec_system && insn->exec != x86_exec_sse &&
           insn->exec != x86_exec_x87;
}

static void test_64_modrm(void)
{
    X86Insn i;

    decode(8, "48 89 e5", &i);                  /* mov rbp, rsp */
    check_sizes(&i, 0x89, 8, 8);
    g_assert_cmpuint(i.mod, ==, 3);
    g_assert_cmpuint(i.reg, ==, R_ESP);
    g_assert_cmpuint(i.rm, ==, R_EBP);
    g_assert_cmphex(i.rex, ==, 0x48);
    g_assert_true(is_int(&i));

    decode(8, "8b 05 78 56 34 12", &i);         /* mov eax, [rip+...] */
    check_sizes(&i, 0x8b, 4, 8);
    check_mem(&i, X86_BASE_RIP, X86_BASE_NONE, 0, 0x12345678, R_DS);

    decode(8, "48 8d 0d f0 ff ff ff", &i);      /* lea rcx, [rip-16] */
    check_mem(&i, X86_BASE_RIP, X86_BASE_NONE, 0, -16, R_DS);
    g_assert_cmpuint(i.reg, ==, R_ECX);

    decode(8, "4c 8b 44 8d f0", &i);            /* mov r8, [rbp+rcx*4-16] */
    check_sizes(&i, 0x8b, 8, 8);
    g_assert_cmpuint(i.reg, ==, R_R8);
    check_mem(&i, R_EBP, R_ECX, 2, -16, R_SS);

    decode(8, "42 8b 04 25 00 10 00 00", &i);   /* mov eax, [r12*1+0x1000] */
    check_mem(&i, X86_BASE_NONE, R_R12, 0, 0x1000, R_DS);

    decode(8, "41 8b 04 24", &i);               /* mov eax, [r12]: DS */
    check_mem(&i, R_R12, X86_BASE_NONE, 0, 0, R_DS);

    decode(8, "41 8b 45 00", &i);               /* mov eax, [r13+0] */
    check_mem(&i, R_R13, X86_BASE_NONE, 0, 0, R_DS);

    decode(8, "67 8b 04 24", &i);               /* mov eax, [esp] */
    check_sizes(&i, 0x8b, 4, 4);
    check_mem(&i, R_ESP, X86_BASE_NONE, 0, 0, R_SS);

    decode(8, "64 48 8b 04 25 28 00 00 00", &i);    /* mov rax, fs:[0x28] */
    check_mem(&i, X86_BASE_NONE, X86_BASE_NONE, 0, 0x28, R_FS);

    decode(8, "2e 8b 00", &i);                  /* cs: ignored in 64-bit */
    check_mem(&i, R_EAX, X86_BASE_NONE, 0, 0, R_DS);
    decode(8, "26 8b 45 00", &i);
    check_mem(&i, R_EBP, X86_BASE_NONE, 0, 0, R_SS);

    decode(8, "66 41 89 c7", &i);               /* mov r15w, ax */
    check_sizes(&i, 0x89, 2, 8);
    g_assert_cmpuint(i.rm, ==, R_R15);

    decode(8, "48 63 c8", &i);                  /* movsxd rcx, eax */
    check_sizes(&i, 0x63, 8, 8);
    g_assert_true(is_int(&i));
}

static void test_64_immediates(void)
{
    X86Insn i;

    decode(8, "48 b8 88 77 66 55 44 33 22 11", &i);     /* movabs */
    check_sizes(&i, 0xb8, 8, 8);
    g_assert_cmphex(i.imm, ==, 0x1122334455667788ull);

    decode(8, "b8 ff ff ff ff", &i);                    /* mov eax, -1 */
    g_assert_cmphex(i.imm, ==, 0xffffffff);

    decode(8, "48 c7 c0 ff ff ff ff", &i);      /* mov rax, imm32 sext */
    g_assert_cmphex(i.imm, ==, ~0ull);

    decode(8, "48 a1 88 77 66 55 44 33 22 11", &i);     /* moffs64 */
    check_sizes(&i, 0xa1, 8, 8);
    g_assert_cmphex((uint64_t)i.disp, ==, 0x1122334455667788ull);

    decode(8, "67 a0 44 33 22 11", &i);                 /* moffs32 */
    g_assert_cmphex((uint64_t)i.disp, ==, 0x11223344);

    decode(8, "83 c4 f8", &i);                  /* add esp, -8 */
    g_assert_cmphex(i.imm, ==, (uint64_t)-8);
    g_assert_cmpuint(i.reg, ==, 0);

    decode(8, "80 3d 10 00 00 00 05", &i);      /* cmp byte [rip+16], 5 */
    check_mem(&i, X86_BASE_RIP, X86_BASE_NONE, 0, 16, R_DS);
    g_assert_cmphex(i.imm, ==, 5);

    decode(8, "f7 05 10 00 00 00 00 00 00 80", &i);     /* test [rip], i32 */
    g_assert_cmphex(i.imm, ==, 0xffffffff80000000ull);
    decode(8, "f6 d8", &i);                     /* neg al: no immediate */
    g_assert_cmpuint(i.reg, ==, 3);
    decode(8, "66 f7 c1 34 12", &i);            /* test cx, 0x1234 */
    g_assert_cmphex(i.imm & 0xffff, ==, 0x1234);

    decode(8, "c8 10 00 01", &i);               /* enter 16, 1 */
    check_sizes(&i, 0xc8, 8, 8);
    g_assert_cmphex(i.imm, ==, 16);
    g_assert_cmphex(i.imm2, ==, 1);

    decode(8, "c2 08 00", &i);                  /* ret 8 */
    check_sizes(&i, 0xc2, 8, 8);
    g_assert_cmphex(i.imm, ==, 8);

    decode(8, "c1 e0 04", &i);                  /* shl eax, 4 */
    g_assert_cmphex(i.imm, ==, 4);
    g_assert_cmpuint(i.reg, ==, 4);

    decode(8, "e4 80", &i);                     /* in al, 0x80 */
    g_assert_cmphex(i.imm, ==, 0x80);
    decode(8, "cd 80", &i);                     /* int 0x80 */
    g_assert_cmphex(i.imm, ==, 0x80);
    g_assert_true(i.exec == x86_exec_system);
}

static void test_64_branches_stack(void)
{
    X86Insn i;

    decode(8, "e8 00 01 00 00", &i);
    check_sizes(&i, 0xe8, 8, 8);
    g_assert_cmphex(i.imm, ==, 0x100);

    decode(8, "eb fe", &i);
    check_sizes(&i, 0xeb, 8, 8);
    g_assert_cmphex(i.imm, ==, (uint64_t)-2);

    decode(8, "66 e9 00 00 00 80", &i);         /* 66 ignored (Intel) */
    check_sizes(&i, 0xe9, 8, 8);
    g_assert_cmphex(i.imm, ==, 0xffffffff80000000ull);

    decode(8, "0f 84 fa ff ff ff", &i);         /* je -6 */
    check_sizes(&i, 0x184, 8, 8);
    g_assert_cmphex(i.imm, ==, (uint64_t)-6);

    decode(8, "ff 15 00 10 00 00", &i);         /* call [rip+0x1000] */
    check_sizes(&i, 0xff, 8, 8);
    g_assert_cmpuint(i.reg, ==, 2);
    decode(8, "ff e0", &i);                     /* jmp rax */
    check_sizes(&i, 0xff, 8, 8);
    decode(8, "ff 30", &i);                     /* push [rax] */
    check_sizes(&i, 0xff, 8, 8);
    decode(8, "66 ff 30", &i);                  /* push word [rax] */
    check_sizes(&i, 0xff, 2, 8);
    decode(8, "ff 00", &i);                     /* inc dword [rax] */
    check_sizes(&i, 0xff, 4, 8);
    decode(8, "48 ff 28", &i);                  /* jmp far m16:64 */
    check_sizes(&i, 0xff, 8, 8);
    decode(8, "ff 28", &i);                     /* jmp far m16:32 */
    check_sizes(&i, 0xff, 4, 8);

    decode(8, "50", &i);
    check_sizes(&i, 0x50, 8, 8);
    decode(8, "66 50", &i);
    check_sizes(&i, 0x50, 2, 8);
    decode(8, "41 57", &i);                     /* push r15 */
    g_assert_cmphex(i.rex, ==, 0x41);
    decode(8, "6a ff", &i);
    check_sizes(&i, 0x6a, 8, 8);
    g_assert_cmphex(i.imm, ==, ~0ull);
    decode(8, "0f a0", &i);                     /* push fs */
    check_sizes(&i, 0x1a0, 8, 8);
    decode(8, "cb", &i);                        /* retf: 32-bit default */
    check_sizes(&i, 0xcb, 4, 8);
    decode(8, "48 cb", &i);
    check_sizes(&i, 0xcb, 8, 8);
}

static void test_64_prefixes(void)
{
    X86Insn i;

    decode(8, "f3 48 ab", &i);                  /* rep stosq */
    check_sizes(&i, 0xab, 8, 8);
    g_assert_cmphex(i.rep, ==, 0xf3);

    decode(8, "f2 f3 a4", &i);                  /* the last of F2/F3 wins */
    g_assert_cmphex(i.rep, ==, 0xf3);

    decode(8, "48 66 89 c0", &i);               /* REX not last: ignored */
    check_sizes(&i, 0x89, 2, 8);
    g_assert_cmphex(i.rex, ==, 0);

    decode(8, "66 48 89 c0", &i);               /* REX.W beats 66 */
    check_sizes(&i, 0x89, 8, 8);

    decode(8, "f0 48 0f b1 0a", &i);            /* lock cmpxchg [rdx], rcx */
    check_sizes(&i, 0x1b1, 8, 8);
    g_assert_true(i.lock);
    g_assert_true(is_int(&i));

    decode(8, "f0 83 00 01", &i);               /* lock add [rax], 1 */
    g_assert_true(is_int(&i));
    decode(8, "f0 01 c0", &i);                  /* lock on a register */
    g_assert_true(i.exec == x86_exec_ud);
    decode(8, "f0 83 38 01", &i);               /* lock cmp */
    g_assert_true(i.exec == x86_exec_ud);
    decode(8, "f0 8b 00", &i);                  /* lock mov */
    g_assert_true(i.exec == x86_exec_ud);
    decode(8, "f0 90", &i);
    g_assert_true(i.exec == x86_exec_ud);

    decode(8, "66 0f 6f c1", &i);               /* movdqa */
    g_assert_true(i.exec == x86_exec_sse);
    g_assert_cmphex(i.mandatory, ==, 0x66);
    decode(8, "f3 0f 6f 00", &i);               /* movdqu */
    g_assert_cmphex(i.mandatory, ==, 0xf3);
    decode(8, "66 f2 0f 38 f1 c1", &i);         /* crc32: F2 wins over 66 */
    g_assert_cmphex(i.mandatory, ==, 0xf2);
    g_assert_cmphex(i.opcode, ==, 0x2f1);
    decode(8, "66 0f 3a 0f c1 08", &i);         /* palignr */
    g_assert_true(i.exec == x86_exec_sse);
    g_assert_cmphex(i.opcode, ==, 0x30f);
    g_assert_cmphex(i.imm, ==, 8);
    decode(8, "0f 77", &i);                     /* emms: no modrm */
    g_assert_true(i.exec == x86_exec_sse);
    decode(8, "66 0f 73 d8 04", &i);            /* psrldq xmm0, 4 */
    g_assert_cmphex(i.imm, ==, 4);

    decode(8, "f3 0f 1e fa", &i);               /* endbr64 */
    g_assert_true(is_int(&i));
    decode(8, "0f 1f 44 00 00", &i);            /* nopl */
    g_assert_true(is_int(&i));
    decode(8, "f3 90", &i);                     /* pause */
    g_assert_true(is_int(&i));
    decode(8, "f3 0f b8 c1", &i);               /* popcnt */
    g_assert_true(is_int(&i));
    decode(8, "0f b8 c1", &i);                  /* jmpe: no */
    g_assert_true(i.exec == x86_exec_ud);

    /* 15 bytes is the limit */
    decode(8, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", &i);
    g_assert_true(is_int(&i));
    {
        static const uint8_t buf[20] = {
            0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66, 0x66, 0x90,
        };
        g_assert_true(x86_decode_buf(&i, buf, sizeof(buf), 8));
        g_assert_true(i.exec == x86_exec_too_long);
        static const uint8_t imm[20] = {
            0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8,
        };
        g_assert_true(x86_decode_buf(&i, imm, sizeof(imm), 8));
        g_assert_true(i.exec == x86_exec_too_long);
    }
}

static void test_64_invalid_and_routing(void)
{
    static const char *const ud64[] = {
        "06", "07", "0e", "16", "17", "1e", "1f", "27", "2f", "37", "3f",
        "60", "61", "62 00", "82 c0 01", "9a 00 00 00 00 00 00", "c4 e2 79",
        "c5 f8 77", "ce", "d4 0a", "d5 0a", "d6", "ea 00 00 00 00 00 00",
        "0f 0b", "0f b9 00", "0f ff 00", "c6 f8 00", "8f c8", "fe 10",
        "ff f8", "8c f8", "8e c8", "8d c0", "0f ba 00 01",
        "0f c7 c8",
    };
    X86Insn i;

    for (unsigned n = 0; n < G_N_ELEMENTS(ud64); n++) {
        uint8_t buf[32];
        unsigned len = 0;
        const char *p = ud64[n];
        char *end;

        memset(buf, 0, sizeof(buf));
        while (*p) {
            buf[len++] = strtoul(p, &end, 16);
            p = end;
            while (*p == ' ') {
                p++;
            }
        }
        g_assert_true(x86_decode_buf(&i, buf, sizeof(buf), 8));
        if (i.exec != x86_exec_ud) {
            g_error("%s did not decode to #UD", ud64[n]);
        }
    }

    decode(8, "0f 05", &i);
    g_assert_true(i.exec == x86_exec_system);
    decode(8, "0f 01 f8", &i);                  /* swapgs */
    g_assert_true(i.exec == x86_exec_system);
    decode(8, "9c", &i);                        /* pushf */
    g_assert_true(i.exec == x86_exec_system);
    check_sizes(&i, 0x9c, 8, 8);
    decode(8, "d9 ee", &i);                     /* fldz */
    g_assert_true(i.exec == x86_exec_x87);
    decode(8, "dd 44 24 08", &i);               /* fld qword [rsp+8] */
    g_assert_true(i.exec == x86_exec_x87);
    check_mem(&i, R_ESP, X86_BASE_NONE, 0, 8, R_SS);

    decode(8, "0f 20 c0", &i);                  /* mov rax, cr0 */
    g_assert_true(i.exec == x86_exec_system);
    g_assert_cmpuint(i.mod, ==, 3);
    decode(8, "44 0f 22 c0", &i);               /* mov cr8, rax */
    g_assert_cmpuint(i.reg, ==, 8);
    decode(8, "0f 22 05", &i);                  /* mod ignored: no disp */
    g_assert_cmpuint(i.mod, ==, 3);
    g_assert_cmpuint(i.rm, ==, 5);
}

static void test_32(void)
{
    X86Insn i;

    decode(4, "8b 44 24 04", &i);
    check_sizes(&i, 0x8b, 4, 4);
    check_mem(&i, R_ESP, X86_BASE_NONE, 0, 4, R_SS);

    decode(4, "8b 05 00 10 00 00", &i);         /* absolute, not RIP */
    check_mem(&i, X86_BASE_NONE, X86_BASE_NONE, 0, 0x1000, R_DS);

    decode(4, "8b 45 08", &i);
    check_mem(&i, R_EBP, X86_BASE_NONE, 0, 8, R_SS);
    decode(4, "3e 8b 45 08", &i);
    check_mem(&i, R_EBP, X86_BASE_NONE, 0, 8, R_DS);
    decode(4, "26 8b 00", &i);
    check_mem(&i, R_EAX, X86_BASE_NONE, 0, 0, R_ES);
    decode(4, "8b 04 b5 00 00 00 c0", &i);      /* [esi*4+0xc0000000] */
    check_mem(&i, X86_BASE_NONE, R_ESI, 2, (int32_t)0xc0000000, R_DS);

    decode(4, "66 8b 07", &i);
    check_sizes(&i, 0x8b, 2, 4);
    decode(4, "67 8b 07", &i);                  /* mov eax, [bx] */
    check_sizes(&i, 0x8b, 4, 2);
    check_mem(&i, R_EBX, X86_BASE_NONE, 0, 0, R_DS);

    decode(4, "40", &i);                        /* inc eax */
    check_sizes(&i, 0x40, 4, 4);
    g_assert_true(is_int(&i));
    decode(4, "48", &i);                        /* dec eax */
    g_assert_true(is_int(&i));

    decode(4, "c4 06", &i);                     /* les eax, [esi] */
    g_assert_true(is_int(&i));
    decode(4, "c4 c0", &i);                     /* VEX: #UD */
    g_assert_true(i.exec == x86_exec_ud);
    decode(4, "62 00", &i);                     /* bound */
    g_assert_true(is_int(&i));
    decode(4, "62 c0", &i);                     /* EVEX */
    g_assert_true(i.exec == x86_exec_ud);
    decode(4, "63 c8", &i);                     /* arpl */
    g_assert_true(is_int(&i));
    decode(4, "06", &i);
    g_assert_true(is_int(&i));
    decode(4, "27", &i);
    g_assert_true(is_int(&i));

    decode(4, "a1 44 33 22 11", &i);
    g_assert_cmphex((uint64_t)i.disp, ==, 0x11223344);
    decode(4, "ea 78 56 34 12 08 00", &i);
    check_sizes(&i, 0xea, 4, 4);
    g_assert_cmphex(i.imm, ==, 0x12345678);
    g_assert_cmphex(i.imm2, ==, 8);
    decode(4, "66 ea 34 12 08 00", &i);
    g_assert_cmphex(i.imm, ==, 0x1234);
    g_assert_cmphex(i.imm2, ==, 8);
    decode(4, "9a 78 56 34 12 10 00", &i);
    g_assert_cmphex(i.imm2, ==, 0x10);

    decode(4, "e8 fb ff ff ff", &i);
    check_sizes(&i, 0xe8, 4, 4);
    g_assert_cmphex(i.imm, ==, (uint64_t)-5);
    decode(4, "66 e8 fd ff", &i);
    check_sizes(&i, 0xe8, 2, 4);
    g_assert_cmphex(i.imm, ==, (uint64_t)-3);
    decode(4, "50", &i);
    check_sizes(&i, 0x50, 4, 4);
    decode(4, "0f 22 d8", &i);
    g_assert_true(i.exec == x86_exec_system);
}

static void test_16(void)
{
    X86Insn i;

    decode(2, "8b 46 02", &i);                  /* mov ax, [bp+2] */
    check_sizes(&i, 0x8b, 2, 2);
    check_mem(&i, R_EBP, X86_BASE_NONE, 0, 2, R_SS);

    decode(2, "8b 00", &i);                     /* [bx+si] */
    check_mem(&i, R_EBX, R_ESI, 0, 0, R_DS);
    decode(2, "8b 03", &i);                     /* [bp+di] */
    check_mem(&i, R_EBP, R_EDI, 0, 0, R_SS);
    decode(2, "8b 06 34 12", &i);               /* [0x1234] */
    check_mem(&i, X86_BASE_NONE, X86_BASE_NONE, 0, 0x1234, R_DS);
    decode(2, "8b 82 00 80", &i);               /* [bp+si-0x8000] */
    check_mem(&i, R_EBP, R_ESI, 0, -0x8000, R_SS);
    decode(2, "26 8b 46 02", &i);
    check_mem(&i, R_EBP, X86_BASE_NONE, 0, 2, R_ES);

    decode(2, "66 b8 78 56 34 12", &i);
    check_sizes(&i, 0xb8, 4, 2);
    g_assert_cmphex(i.imm, ==, 0x12345678);
    decode(2, "b8 34 12", &i);
    check_sizes(&i, 0xb8, 2, 2);
    g_assert_cmphex(i.imm, ==, 0x1234);

    decode(2, "67 8b 04 24", &i);               /* mov ax, [esp] */
    check_sizes(&i, 0x8b, 2, 4);
    check_mem(&i, R_ESP, X86_BASE_NONE, 0, 0, R_SS);

    decode(2, "ea 00 7c 00 00", &i);            /* jmp 0:7c00 */
    g_assert_cmphex(i.imm, ==, 0x7c00);
    g_assert_cmphex(i.imm2, ==, 0);
    decode(2, "66 ea 00 00 10 00 08 00", &i);   /* jmp dword 8:0x100000 */
    check_sizes(&i, 0xea, 4, 2);
    g_assert_cmphex(i.imm, ==, 0x100000);
    g_assert_cmphex(i.imm2, ==, 8);

    decode(2, "e9 fd ff", &i);
    g_assert_cmphex(i.imm, ==, (uint64_t)-3);
    decode(2, "a0 00 80", &i);                  /* mov al, [0x8000] */
    g_assert_cmphex((uint64_t)i.disp, ==, 0x8000);
    decode(2, "c4 c0", &i);
    g_assert_true(i.exec == x86_exec_ud);
    decode(2, "0f 01 16 00 10", &i);            /* lgdt [0x1000] */
    g_assert_true(i.exec == x86_exec_system);
    check_mem(&i, X86_BASE_NONE, X86_BASE_NONE, 0, 0x1000, R_DS);
}

static void test_truncated(void)
{
    static const uint8_t movabs[10] = {
        0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8,
    };
    X86Insn i;

    g_assert_false(x86_decode_buf(&i, movabs, 9, 8));
    g_assert_true(x86_decode_buf(&i, movabs, 10, 8));
    g_assert_cmpuint(i.len, ==, 10);
    g_assert_false(x86_decode_buf(&i, movabs, 1, 8));
}

static void test_effective_address(void)
{
    g_autofree X86CPU *cpu = g_new0(X86CPU, 1);
    X86Insn i;

    /* 16-bit addressing wraps at 64 KiB */
    cpu->code_size = 2;
    cpu->regs[R_EBX] = 0xffff;
    cpu->regs[R_ESI] = 2;
    cpu->segs[R_DS].base = 0x10000;
    decode(2, "8b 40 01", &i);                  /* [bx+si+1] */
    g_assert_cmphex(x86_insn_ea(cpu, &i), ==, 2);
    g_assert_cmphex(x86_insn_linear(cpu, &i), ==, 0x10002);

    /* 32-bit: the linear address wraps at 4 GiB */
    cpu->code_size = 4;
    cpu->regs[R_EAX] = 0xfffffff0;
    cpu->segs[R_DS].base = 0x20;
    decode(4, "8b 00", &i);
    g_assert_cmphex(x86_insn_linear(cpu, &i), ==, 0x10);

    /* 64-bit: DS base ignored, FS base applied, RIP-relative */
    cpu->code_size = 8;
    cpu->segs[R_FS].base = 0x7f0000000000ull;
    cpu->regs[R_EAX] = 0x100000000ull;
    decode(8, "8b 00", &i);
    g_assert_cmphex(x86_insn_linear(cpu, &i), ==, 0x100000000ull);
    decode(8, "64 8b 00", &i);
    g_assert_cmphex(x86_insn_linear(cpu, &i), ==, 0x7f0100000000ull);
    decode(8, "67 8b 40 ff", &i);               /* [eax-1] wraps */
    cpu->regs[R_EAX] = 0;
    g_assert_cmphex(x86_insn_ea(cpu, &i), ==, 0xffffffff);
    decode(8, "8b 05 00 01 00 00", &i);
    cpu->next_rip = 0xffffffff80001006ull;
    g_assert_cmphex(x86_insn_ea(cpu, &i), ==, 0xffffffff80001106ull);
    decode(8, "48 8b 44 c8 f8", &i);            /* [rax+rcx*8-8] */
    cpu->regs[R_EAX] = 0x1000;
    cpu->regs[R_ECX] = 3;
    g_assert_cmphex(x86_insn_ea(cpu, &i), ==, 0x1010);
    g_assert_cmphex(x86_seg_linear(cpu, R_GS, 5), ==, 5);
    g_assert_cmphex(x86_seg_linear(cpu, R_FS, 5), ==, 0x7f0000000005ull);
}

static void test_block_ends(void)
{
    X86Insn i;

    decode(8, "75 fe", &i);                     /* taken: leaves early */
    g_assert_false(x86_insn_ends_block(&i));
    decode(8, "c3", &i);
    g_assert_true(x86_insn_ends_block(&i));
    decode(8, "ff d0", &i);
    g_assert_true(x86_insn_ends_block(&i));
    decode(8, "8e d0", &i);                     /* mov ss, ax */
    g_assert_true(x86_insn_ends_block(&i));
    decode(8, "0f 30", &i);                     /* wrmsr */
    g_assert_true(x86_insn_ends_block(&i));
    decode(8, "f3 a4", &i);
    g_assert_true(x86_insn_ends_block(&i));
    decode(8, "a4", &i);
    g_assert_false(x86_insn_ends_block(&i));
    decode(8, "48 89 e5", &i);
    g_assert_false(x86_insn_ends_block(&i));
    decode(8, "ff 30", &i);
    g_assert_false(x86_insn_ends_block(&i));
}

/*
 * The specialized rotate handlers (int-fast.c) against the general
 * semantics (x86_alu_shift): result, CF and OF, and the other flags kept,
 * for every size, direction and a spread of counts and values.
 */
static void test_fast_rotates_match_general(void)
{
    static const unsigned counts[] = { 1, 2, 7, 31, 32, 33, 63 };
    g_autofree X86CPU *fast = g_new0(X86CPU, 1);
    g_autofree X86CPU *ref = g_new0(X86CPU, 1);
    GRand *rand = g_rand_new_with_seed(42);

    for (int size = 4; size <= 8; size += 4) {
        for (int right = 0; right < 2; right++) {
            for (int by_one = 0; by_one < 2; by_one++) {
                for (size_t ci = 0; ci < G_N_ELEMENTS(counts); ci++) {
                    unsigned count = by_one ? 1 : counts[ci];
                    unsigned masked = count & (size == 8 ? 63 : 31);
                    char hex[32];
                    X86Insn insn;

                    if (masked == 0 || (by_one && ci)) {
                        continue;
                    }
                    /* rol/ror ecx or rcx */
                    g_snprintf(hex, sizeof(hex), "%s%s %02x%s", size == 8 ?
                               "48 " : "", by_one ? "d1" : "c1",
                               right ? 0xc9 : 0xc1, "");
                    if (!by_one) {
                        g_snprintf(hex + strlen(hex), sizeof(hex) -
                                   strlen(hex), " %02x", count);
                    }
                    decode(8, hex, &insn);
                    g_assert_true(insn.threadable);
                    for (int v = 0; v < 50; v++) {
                        uint64_t a = ((uint64_t)g_rand_int(rand) << 32) |
                                     g_rand_int(rand);
                        uint32_t f = g_rand_int(rand) & (CC_C | CC_P | CC_A |
                                                         CC_Z | CC_S | CC_O);
                        fast->regs[R_ECX] = a;
                        x86_set_cc_flags(fast, f);
                        x86_set_cc_flags(ref, f);
                        insn.exec(fast, &insn);
                        uint64_t want = x86_alu_shift(
                            ref, right ? SHIFT_ROR : SHIFT_ROL,
                            size == 8 ? 3 : 2,
                            size == 8 ? a : (uint32_t)a, count);
                        g_assert_cmphex(fast->regs[R_ECX], ==, want);
                        g_assert_cmphex(x86_compute_flags(fast), ==,
                                        x86_compute_flags(ref));
                    }
                }
            }
        }
    }
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/decode/64/modrm", test_64_modrm);
    g_test_add_func("/x86/decode/64/immediates", test_64_immediates);
    g_test_add_func("/x86/decode/64/branches-stack", test_64_branches_stack);
    g_test_add_func("/x86/decode/64/prefixes", test_64_prefixes);
    g_test_add_func("/x86/decode/64/invalid-routing",
                    test_64_invalid_and_routing);
    g_test_add_func("/x86/decode/32", test_32);
    g_test_add_func("/x86/decode/16", test_16);
    g_test_add_func("/x86/decode/truncated", test_truncated);
    g_test_add_func("/x86/decode/effective-address", test_effective_address);
    g_test_add_func("/x86/decode/block-ends", test_block_ends);
    g_test_add_func("/x86/decode/fast-rotates-match-general",
                    test_fast_rotates_match_general);
    return g_test_run();
}
