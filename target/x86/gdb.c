/*
 * gdb's view of the x86-64 registers (include/target/x86/gdb.h): gdb's own
 * features org.gnu.gdb.i386.core, .sse and .segments (so that its amd64
 * support recognises them by name), and the control registers and EFER
 * in a feature of Vireo's, where `info registers` shows them too.
 */
#include <string.h>

#include "gdbstub/packet.h"
#include "target/x86/gdb.h"

typedef enum GdbRegKind {
    GR_GPR,        /* index: encoding order of X86CPUSnapshot.regs */
    GR_RIP,
    GR_EFLAGS,
    GR_SEG,        /* index: ES, CS, SS, DS, FS, GS */
    GR_ST,         /* index: st(i), relative to the x87 TOP */
    GR_FCTRL, GR_FSTAT, GR_FTAG, GR_FPZERO,  /* FPU pointers: 0 */
    GR_XMM,
    GR_MXCSR,
    GR_FS_BASE, GR_GS_BASE,
    GR_CR,         /* index: 0, 2, 3, 4, 8 */
    GR_EFER,
} GdbRegKind;

typedef struct GdbReg {
    const char *name;
    int bits;
    const char *type;
    GdbRegKind kind;
    int index;
} GdbReg;

/* Features, each a run of the table */
typedef struct GdbFeature {
    const char *name;
    const char *types;      /* type definitions the registers use */
    int first, count;
} GdbFeature;

#define GPR(n, i, t) { n, 64, t, GR_GPR, i }
#define SEG(n, i)    { n, 32, "int32", GR_SEG, i }
#define ST(i)        { "st" #i, 80, "i387_ext", GR_ST, i }
#define XMM(i)       { "xmm" #i, 128, "vec128", GR_XMM, i }
#define CR(i)        { "cr" #i, 64, "int64", GR_CR, i }

static const GdbReg regs[] = {
    /* org.gnu.gdb.i386.core: 0 .. 39 */
    GPR("rax", 0, "int64"), GPR("rbx", 3, "int64"), GPR("rcx", 1, "int64"),
    GPR("rdx", 2, "int64"), GPR("rsi", 6, "int64"), GPR("rdi", 7, "int64"),
    GPR("rbp", 5, "data_ptr"), GPR("rsp", 4, "data_ptr"),
    GPR("r8", 8, "int64"), GPR("r9", 9, "int64"), GPR("r10", 10, "int64"),
    GPR("r11", 11, "int64"), GPR("r12", 12, "int64"),
    GPR("r13", 13, "int64"), GPR("r14", 14, "int64"),
    GPR("r15", 15, "int64"),
    { "rip", 64, "code_ptr", GR_RIP, 0 },
    { "eflags", 32, "i386_eflags", GR_EFLAGS, 0 },
    SEG("cs", 1), SEG("ss", 2), SEG("ds", 3), SEG("es", 0), SEG("fs", 4),
    SEG("gs", 5),
    ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7),
    { "fctrl", 32, "int", GR_FCTRL, 0 },
    { "fstat", 32, "int", GR_FSTAT, 0 },
    { "ftag", 32, "int", GR_FTAG, 0 },
    { "fiseg", 32, "int", GR_FPZERO, 0 },
    { "fioff", 32, "int", GR_FPZERO, 0 },
    { "foseg", 32, "int", GR_FPZERO, 0 },
    { "fooff", 32, "int", GR_FPZERO, 0 },
    { "fop", 32, "int", GR_FPZERO, 0 },
    /* org.gnu.gdb.i386.sse: 40 .. 56 */
    XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
    XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
    { "mxcsr", 32, "i386_mxcsr", GR_MXCSR, 0 },
    /* org.gnu.gdb.i386.segments: 57, 58 */
    { "fs_base", 64, "int", GR_FS_BASE, 0 },
    { "gs_base", 64, "int", GR_GS_BASE, 0 },
    /* org.vireo.gdb.i386.sys: 59 .. 64 */
    CR(0), CR(2), CR(3), CR(4), CR(8),
    { "efer", 64, "int64", GR_EFER, 0 },
};

static const char eflags_type[] =
    "<flags id=\"i386_eflags\" size=\"4\">"
    "<field name=\"CF\" start=\"0\" end=\"0\"/>"
    "<field name=\"\" start=\"1\" end=\"1\"/>"
    "<field name=\"PF\" start=\"2\" end=\"2\"/>"
    "<field name=\"AF\" start=\"4\" end=\"4\"/>"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/>"
    "<field name=\"SF\" start=\"7\" end=\"7\"/>"
    "<field name=\"TF\" start=\"8\" end=\"8\"/>"
    "<field name=\"IF\" start=\"9\" end=\"9\"/>"
    "<field name=\"DF\" start=\"10\" end=\"10\"/>"
    "<field name=\"OF\" start=\"11\" end=\"11\"/>"
    "<field name=\"NT\" start=\"14\" end=\"14\"/>"
    "<field name=\"RF\" start=\"16\" end=\"16\"/>"
    "<field name=\"VM\" start=\"17\" end=\"17\"/>"
    "<field name=\"AC\" start=\"18\" end=\"18\"/>"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/>"
    "<field name=\"VIP\" start=\"20\" end=\"20\"/>"
    "<field name=\"ID\" start=\"21\" end=\"21\"/>"
    "</flags>";

static const char sse_types[] =
    "<vector id=\"v8bf16\" type=\"bfloat16\" count=\"8\"/>"
    "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
    "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
    "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
    "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
    "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
    "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
    "<union id=\"vec128\">"
    "<field name=\"v8_bfloat16\" type=\"v8bf16\"/>"
    "<field name=\"v4_float\" type=\"v4f\"/>"
    "<field name=\"v2_double\" type=\"v2d\"/>"
    "<field name=\"v16_int8\" type=\"v16i8\"/>"
    "<field name=\"v8_int16\" type=\"v8i16\"/>"
    "<field name=\"v4_int32\" type=\"v4i32\"/>"
    "<field name=\"v2_int64\" type=\"v2i64\"/>"
    "<field name=\"uint128\" type=\"uint128\"/>"
    "</union>"
    "<flags id=\"i386_mxcsr\" size=\"4\">"
    "<field name=\"IE\" start=\"0\" end=\"0\"/>"
    "<field name=\"DE\" start=\"1\" end=\"1\"/>"
    "<field name=\"ZE\" start=\"2\" end=\"2\"/>"
    "<field name=\"OE\" start=\"3\" end=\"3\"/>"
    "<field name=\"UE\" start=\"4\" end=\"4\"/>"
    "<field name=\"PE\" start=\"5\" end=\"5\"/>"
    "<field name=\"DAZ\" start=\"6\" end=\"6\"/>"
    "<field name=\"IM\" start=\"7\" end=\"7\"/>"
    "<field name=\"DM\" start=\"8\" end=\"8\"/>"
    "<field name=\"ZM\" start=\"9\" end=\"9\"/>"
    "<field name=\"OM\" start=\"10\" end=\"10\"/>"
    "<field name=\"UM\" start=\"11\" end=\"11\"/>"
    "<field name=\"PM\" start=\"12\" end=\"12\"/>"
    "<field name=\"FZ\" start=\"15\" end=\"15\"/>"
    "</flags>";

static const GdbFeature features[] = {
    { "org.gnu.gdb.i386.core", eflags_type, 0, 40 },
    { "org.gnu.gdb.i386.sse", sse_types, 40, 17 },
    { "org.gnu.gdb.i386.segments", "", 57, 2 },
    { "org.vireo.gdb.i386.sys", "", 59, 6 },
};

int x86_gdb_register_count(void)
{
    return G_N_ELEMENTS(regs);
}

const char *x86_gdb_target_xml(void)
{
    static char *xml;

    if (xml) {
        return xml;
    }
    GString *s = g_string_new("<?xml version=\"1.0\"?>"
                              "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
                              "<target><architecture>i386:x86-64"
                              "</architecture>");
    for (size_t f = 0; f < G_N_ELEMENTS(features); f++) {
        const GdbFeature *ft = &features[f];
        g_string_append_printf(s, "<feature name=\"%s\">%s", ft->name,
                               ft->types);
        for (int i = ft->first; i < ft->first + ft->count; i++) {
            const GdbReg *r = &regs[i];
            g_string_append_printf(s, "<reg name=\"%s\" bitsize=\"%d\" "
                                   "type=\"%s\" regnum=\"%d\"%s/>", r->name,
                                   r->bits, r->type, i,
                                   r->kind == GR_ST || r->kind == GR_FCTRL ||
                                   r->kind == GR_FSTAT ||
                                   r->kind == GR_FTAG ||
                                   r->kind == GR_FPZERO
                                   ? " group=\"float\"" : "");
        }
        g_string_append(s, "</feature>");
    }
    g_string_append(s, "</target>");
    xml = g_string_free(s, FALSE);
    return xml;
}

/* The x87 tag word with two bits per physical register, from the
 * abridged one (valid or empty) and the registers' values. */
static uint16_t full_tag_word(const X86CPUSnapshot *s)
{
    uint16_t tw = 0;

    for (int i = 0; i < 8; i++) {
        unsigned tag = 3;                           /* empty */
        if (s->ftw & (1u << i)) {
            uint16_t exp = s->fpr[i].exp & 0x7fff;
            uint64_t mant = s->fpr[i].mant;
            if (!exp && !mant) {
                tag = 1;                            /* zero */
            } else if (!exp || exp == 0x7fff || !(mant >> 63)) {
                tag = 2;                            /* special */
            } else {
                tag = 0;                            /* valid */
            }
        }
        tw |= tag << (2 * i);
    }
    return tw;
}

static void put_le(GString *out, uint64_t v, int bytes)
{
    uint8_t b[8];

    for (int i = 0; i < bytes; i++) {
        b[i] = v >> (8 * i);
    }
    gdb_put_hex(out, b, bytes);
}

/*
 * In real mode (and virtual-8086 mode) gdb sees rip as the linear address
 * CS.base + IP: that is what `x/i $pc` has to read and what breakpoints on
 * a boot sector's addresses compare with.
 */
static bool real_mode(const X86CPUSnapshot *s)
{
    return !(s->cr0 & 1) || (s->rflags & (1u << 17));
}

static uint64_t gdb_rip(const X86CPUSnapshot *s)
{
    return real_mode(s) ? s->segs[1].base + (s->rip & 0xffff) : s->rip;
}

bool x86_gdb_read_register(const X86CPUSnapshot *s, int n, GString *out)
{
    static const int cr_index[] = { [0] = 0, [2] = 1, [3] = 2, [4] = 3,
                                    [8] = 4 };
    const uint64_t cr[] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8 };
    const GdbReg *r;
    int top = (s->fsw >> 11) & 7;

    if (n < 0 || n >= x86_gdb_register_count()) {
        return false;
    }
    r = &regs[n];
    switch (r->kind) {
    case GR_GPR:
        put_le(out, s->regs[r->index], 8);
        break;
    case GR_RIP:
        put_le(out, gdb_rip(s), 8);
        break;
    case GR_EFLAGS:
        put_le(out, s->rflags, 4);
        break;
    case GR_SEG:
        put_le(out, s->segs[r->index].selector, 4);
        break;
    case GR_ST: {
        int phys = (top + r->index) & 7;
        put_le(out, s->has_fpu ? s->fpr[phys].mant : 0, 8);
        put_le(out, s->has_fpu ? s->fpr[phys].exp : 0, 2);
        break;
    }
    case GR_FCTRL:
        put_le(out, s->has_fpu ? s->fcw : 0x37f, 4);
        break;
    case GR_FSTAT:
        put_le(out, s->has_fpu ? s->fsw : 0, 4);
        break;
    case GR_FTAG:
        put_le(out, s->has_fpu ? full_tag_word(s) : 0xffff, 4);
        break;
    case GR_FPZERO:
        put_le(out, 0, 4);
        break;
    case GR_XMM:
        put_le(out, s->has_fpu ? s->xmm[r->index][0] : 0, 8);
        put_le(out, s->has_fpu ? s->xmm[r->index][1] : 0, 8);
        break;
    case GR_MXCSR:
        put_le(out, s->has_fpu ? s->mxcsr : 0x1f80, 4);
        break;
    case GR_FS_BASE:
        put_le(out, s->segs[4].base, 8);
        break;
    case GR_GS_BASE:
        put_le(out, s->segs[5].base, 8);
        break;
    case GR_CR:
        put_le(out, cr[cr_index[r->index]], 8);
        break;
    case GR_EFER:
        put_le(out, s->efer, 8);
        break;
    }
    return true;
}

void x86_gdb_read_registers(const X86CPUSnapshot *s, GString *out)
{
    for (int n = 0; n < x86_gdb_register_count(); n++) {
        x86_gdb_read_register(s, n, out);
    }
}

void x86_gdb_core_regs(const X86CPUSnapshot *s, X86CoreRegs *r)
{
    memcpy(r->regs, s->regs, sizeof(r->regs));
    r->rip = s->rip;
    r->rflags = s->rflags;
}

bool x86_gdb_write_register(const X86CPUSnapshot *s, X86CoreRegs *r, int n,
                            const char **p, const char *end)
{
    GString *cur = g_string_new(NULL);
    uint8_t b[8] = { 0 };
    uint64_t v = 0;
    bool ok = false;

    if (!x86_gdb_read_register(s, n, cur) ||
        (size_t)(end - *p) < cur->len) {
        goto out;
    }
    switch (regs[n].kind) {
    case GR_GPR:
    case GR_RIP:
    case GR_EFLAGS:
        if (!gdb_get_hex(*p, cur->len, b, cur->len / 2)) {
            goto out;
        }
        for (size_t i = 0; i < cur->len / 2; i++) {
            v |= (uint64_t)b[i] << (8 * i);
        }
        if (regs[n].kind == GR_GPR) {
            r->regs[regs[n].index] = v;
        } else if (regs[n].kind == GR_EFLAGS) {
            r->rflags = v;
        } else {
            /* back from gdb's linear view in real mode */
            r->rip = real_mode(s) ? (v - s->segs[1].base) & 0xffff : v;
        }
        ok = true;
        break;
    default:
        /* not writable here: gdb's G sends it back unchanged */
        ok = !g_ascii_strncasecmp(*p, cur->str, cur->len);
        break;
    }
    *p += cur->len;
out:
    g_string_free(cur, TRUE);
    return ok;
}
