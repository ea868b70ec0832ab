/*
 * gdb's view of the x86-64 registers (target/x86/gdb.c): the target
 * description is well-formed and gdb itself accepts it as amd64 with every
 * register; the g packet has each register where the description puts it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "target/x86/gdb.h"

typedef struct XmlRegs {
    int count;
    int bytes;
    GHashTable *offset;     /* name -> byte offset in the g packet */
} XmlRegs;

static void on_start(GMarkupParseContext *ctx, const char *element,
                     const char **names, const char **values, gpointer data,
                     GError **errp)
{
    XmlRegs *x = data;
    const char *name = NULL, *bits = NULL, *regnum = NULL;

    if (strcmp(element, "reg")) {
        return;
    }
    for (int i = 0; names[i]; i++) {
        if (!strcmp(names[i], "name")) {
            name = values[i];
        } else if (!strcmp(names[i], "bitsize")) {
            bits = values[i];
        } else if (!strcmp(names[i], "regnum")) {
            regnum = values[i];
        }
    }
    g_assert_nonnull(name);
    g_assert_nonnull(bits);
    /* numbered in order: the g packet's order */
    g_assert_cmpint(atoi(regnum), ==, x->count);
    g_hash_table_insert(x->offset, g_strdup(name), GINT_TO_POINTER(x->bytes));
    x->count++;
    x->bytes += atoi(bits) / 8;
}

static void parse_xml(XmlRegs *x)
{
    static const GMarkupParser parser = { .start_element = on_start };
    const char *xml = x86_gdb_target_xml();
    GError *err = NULL;

    x->offset = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    /* skip the prolog, which GMarkup does not take */
    const char *root = strstr(xml, "<target>");
    g_assert_nonnull(root);
    GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, x,
                                                          NULL);
    g_assert_true(g_markup_parse_context_parse(ctx, root, -1, &err));
    g_assert_no_error(err);
    g_assert_true(g_markup_parse_context_end_parse(ctx, &err));
    g_markup_parse_context_free(ctx);
}

static uint64_t field(const GString *g, const XmlRegs *x, const char *name,
                      int bytes)
{
    int off = GPOINTER_TO_INT(g_hash_table_lookup(x->offset, name));
    uint64_t v = 0;

    g_assert_true(g_hash_table_contains(x->offset, name));
    for (int i = bytes - 1; i >= 0; i--) {
        char hex[3] = { g->str[2 * (off + i)], g->str[2 * (off + i) + 1] };
        v = (v << 8) | strtoul(hex, NULL, 16);
    }
    return v;
}

static void test_layout(void)
{
    XmlRegs x = { 0 };
    X86CPUSnapshot s = { 0 };
    GString *g = g_string_new(NULL);

    parse_xml(&x);
    g_assert_cmpint(x.count, ==, x86_gdb_register_count());
    for (int i = 0; i < 16; i++) {
        s.regs[i] = 0x1111111111111111ull * (i + 1);
    }
    s.rip = 0xffffffff81000000ull;
    s.rflags = 0x246;
    for (int i = 0; i < 6; i++) {
        s.segs[i].selector = 0x10 + 8 * i;
        s.segs[i].base = 0x1000ull * (i + 1);
    }
    s.has_fpu = true;
    s.fsw = 5 << 11;                /* TOP = 5: st0 is R5 */
    s.ftw = 1 << 5;
    s.fpr[5].mant = 0x8000000000000000ull;
    s.fpr[5].exp = 0x3fff;          /* 1.0 */
    s.fcw = 0x37f;
    s.mxcsr = 0x1fa0;
    s.xmm[15][0] = 0x0123456789abcdefull;
    s.xmm[15][1] = 0xfedcba9876543210ull;
    s.cr0 = 0x80050033;
    s.cr3 = 0x1234000;
    s.cr4 = 0x6f0;
    s.efer = 0xd01;
    x86_gdb_read_registers(&s, g);
    g_assert_cmpuint(g->len, ==, 2 * x.bytes);
    g_assert_cmphex(field(g, &x, "rax", 8), ==, s.regs[0]);
    g_assert_cmphex(field(g, &x, "rbx", 8), ==, s.regs[3]);
    g_assert_cmphex(field(g, &x, "rsp", 8), ==, s.regs[4]);
    g_assert_cmphex(field(g, &x, "r15", 8), ==, s.regs[15]);
    g_assert_cmphex(field(g, &x, "rip", 8), ==, s.rip);
    g_assert_cmphex(field(g, &x, "eflags", 4), ==, 0x246);
    g_assert_cmphex(field(g, &x, "cs", 4), ==, 0x18);
    g_assert_cmphex(field(g, &x, "es", 4), ==, 0x10);
    g_assert_cmphex(field(g, &x, "st0", 8), ==, s.fpr[5].mant);
    g_assert_cmphex(field(g, &x, "fctrl", 4), ==, 0x37f);
    /* R5 valid, the rest empty */
    g_assert_cmphex(field(g, &x, "ftag", 4), ==, 0xf3ff);
    g_assert_cmphex(field(g, &x, "xmm15", 8), ==, s.xmm[15][0]);
    g_assert_cmphex(field(g, &x, "mxcsr", 4), ==, 0x1fa0);
    g_assert_cmphex(field(g, &x, "fs_base", 8), ==, 0x5000);
    g_assert_cmphex(field(g, &x, "gs_base", 8), ==, 0x6000);
    g_assert_cmphex(field(g, &x, "cr3", 8), ==, s.cr3);
    g_assert_cmphex(field(g, &x, "efer", 8), ==, s.efer);
    g_string_truncate(g, 0);
    g_assert_false(x86_gdb_read_register(&s, -1, g));
    g_assert_false(x86_gdb_read_register(&s, x.count, g));
    g_assert_cmpuint(g->len, ==, 0);
    g_hash_table_destroy(x.offset);
    g_string_free(g, TRUE);
}

/* Debian's gdb takes the description as amd64 (its pseudo registers
 * appear) and knows every register by name. */
static void test_gdb_accepts_it(void)
{
    g_autofree char *gdb = g_find_program_in_path("gdb");
    g_autofree char *path = NULL, *out = NULL, *err = NULL;
    GError *error = NULL;
    int fd, status;

    if (!gdb) {
        g_test_skip("gdb is not installed");
        return;
    }
    fd = g_file_open_tmp("vireo-tdesc-XXXXXX.xml", &path, &error);
    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(path, x86_gdb_target_xml(), -1,
                                      &error));
    close(fd);
    g_autofree char *set = g_strdup_printf("set tdesc filename %s", path);
    char *argv[] = { gdb, "-nx", "-batch", "-ex", set, "-ex",
                     "maint print registers", NULL };
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
    g_assert_no_error(error);
    unlink(path);
    g_assert_cmpint(status, ==, 0);
    g_assert_cmpstr(err, ==, "");
    for (const char *const *n = (const char *const[]){
             " rax ", " r15 ", " eflags ", " gs ", " st7 ", " fop ",
             " xmm15 ", " mxcsr ", " fs_base ", " gs_base ", " cr0 ",
             " cr8 ", " efer ", " eax ", " al ", NULL }; *n; n++) {
        g_assert_nonnull(strstr(out, *n));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86/gdb/layout", test_layout);
    g_test_add_func("/x86/gdb/gdb-accepts-it", test_gdb_accepts_it);
    return g_test_run();
}
