/*
 * The human monitor: QEMU's command syntax and output (x/xp formats on a
 * small machine with RAM and page tables, errors, help), the line editor
 * fed byte by byte, and QMP's human-monitor-command.
 */
#include <string.h>

#include <glib.h>

#include "hw/i386/x86.h"
#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "../../monitor/readline.h"
#include "system/vm.h"

/* ---- a machine: 1 MiB of RAM at 0, two vCPUs with fixed state ---- */

#define RAM_SIZE    (1024 * 1024)
#define PML4        0x10000
#define PDPT        0x11000
#define PD          0x12000
#define PT          0x13000

static Machine machine;
static MemoryRegion sysmem, ram;
static X86CPUSnapshot cpu_state[2];

static bool fake_get_state(CPUState *cpu, X86CPUSnapshot *out, GError **errp)
{
    *out = cpu_state[cpu->index];
    return true;
}

static const AccelOps fake_accel = {
    .name = "test",
    .vcpu_get_state = fake_get_state,
};

static void poke(uint64_t addr, const void *data, size_t len)
{
    g_assert_cmpint(address_space_write(&machine.as_mem, addr, data, len), ==,
                    MEMTX_OK);
}

static void poke64(uint64_t addr, uint64_t v)
{
    poke(addr, &v, 8);
}

static void machine_setup(void)
{
    static const char text[] = "Hello, 'world'\\\n\r";
    GError *err = NULL;

    memset(&machine, 0, sizeof(machine));
    machine.accel = &fake_accel;
    memory_region_init_container(&sysmem, "system", UINT64_MAX);
    g_assert_true(memory_region_init_ram(&ram, "ram", RAM_SIZE, &err));
    memory_region_add_subregion(&sysmem, 0, &ram);
    machine.sysmem = &sysmem;
    address_space_init(&machine.as_mem, &sysmem, "memory");
    machine.ncpus = 2;
    machine.cfg.smp_cpus = 2;
    machine.cfg.sockets = 2;
    machine.cfg.cores = 1;
    machine.cfg.threads = 1;
    machine.cpus = g_new0(CPUState *, 2);
    for (int i = 0; i < 2; i++) {
        machine.cpus[i] = g_new0(CPUState, 1);
        machine.cpus[i]->machine = &machine;
        machine.cpus[i]->index = i;
        machine.cpus[i]->thread_id = 1000 + i;
    }
    for (int i = 0; i < 16; i++) {
        uint8_t b = 0xf0 + i;
        poke(0x1000 + i, &b, 1);
    }
    poke(0x3000, text, sizeof(text) - 1);

    /* CPU 0: paging off. CPU 1: 4-level paging, 0x400000 -> 0x2000 only */
    memset(cpu_state, 0, sizeof(cpu_state));
    cpu_state[0].a20 = true;
    cpu_state[1].a20 = true;
    cpu_state[1].cr0 = 0x80000011;
    cpu_state[1].cr4 = 0x20;            /* PAE */
    cpu_state[1].efer = 0x500;          /* LME | LMA */
    cpu_state[1].cr3 = PML4;
    poke64(PML4, PDPT | 3);
    poke64(PDPT, PD | 3);
    poke64(PD + 2 * 8, PT | 3);         /* 0x400000: PD index 2 */
    poke64(PT, 0x2000 | 3);
    poke64(0x2000, 0x1122334455667788ULL);
    machine_set_current(&machine);
}

static char *run(const char *line)
{
    GString *out = g_string_new(NULL);

    hmp_execute(line, out);
    return g_string_free(out, FALSE);
}

static void check(const char *line, const char *expected)
{
    g_autofree char *got = run(line);

    if (strcmp(got, expected) != 0) {
        g_error("'%s':\n got      '%s'\n expected '%s'", line, got, expected);
    }
}

/* ---- x and xp, as QEMU 7.2 prints them ---- */

static void test_xp_formats(void)
{
    check("xp /16xb 0x1000",
          "0000000000001000: 0xf0 0xf1 0xf2 0xf3 0xf4 0xf5 0xf6 0xf7\n"
          "0000000000001008: 0xf8 0xf9 0xfa 0xfb 0xfc 0xfd 0xfe 0xff\n");
    check("xp /8xh 0x1000",
          "0000000000001000: 0xf1f0 0xf3f2 0xf5f4 0xf7f6 0xf9f8 0xfbfa "
          "0xfdfc 0xfffe\n");
    check("xp /5xw 0x1000",
          "0000000000001000: 0xf3f2f1f0 0xf7f6f5f4 0xfbfaf9f8 0xfffefdfc\n"
          "0000000000001010: 0x00000000\n");
    check("xp /3xg 0x1000",
          "0000000000001000: 0xf7f6f5f4f3f2f1f0 0xfffefdfcfbfaf9f8\n"
          "0000000000001010: 0x0000000000000000\n");
    /* decimal, unsigned and octal widths follow the size */
    check("xp /3db 0x1000", "0000000000001000: 240 241 242\n");
    check("xp /2uh 0x1000", "0000000000001000: 61936 62450\n");
    check("xp /2ob 0x1000", "0000000000001000: 0360 0361\n");
    check("xp /1dg 0x1000", "0000000000001000:  -579005069656919568\n");
    check("xp /1ug 0x1000", "0000000000001000: 17867739004052632048\n");
    check("xp /2dw 0x1010", "0000000000001010:          0          0\n");
    /* characters: QEMU's quoting, and the size sets the byte count */
    check("xp /17cb 0x3000",
          "0000000000003000: 'H' 'e' 'l' 'l' 'o' ',' ' ' '\\''\n"
          "0000000000003008: 'w' 'o' 'r' 'l' 'd' '\\'' '\\\\' '\\n'\n"
          "0000000000003010: '\\r'\n");
    check("xp /1ch 0x1000", "0000000000001000: '\\xf0' '\\xf1'\n");
    check("xp /0x 0x1000", "");
}

/* No format: the last format and size used, as QEMU keeps them. */
static void test_xp_defaults(void)
{
    check("xp /xw 0x1000", "0000000000001000: 0xf3f2f1f0\n");
    check("xp 0x1000", "0000000000001000: 0xf3f2f1f0\n");
    check("xp /b 0x1000", "0000000000001000: 0xf0\n");
    check("xp /2 0x1000", "0000000000001000: 0xf0 0xf1\n");
    check("xp /d 0x1000", "0000000000001000: 240\n");
    check("xp/2xh 0x1000", "0000000000001000: 0xf1f0 0xf3f2\n");
    check("xp /xw 0x1000", "0000000000001000: 0xf3f2f1f0\n");
}

static void test_xp_expressions_and_errors(void)
{
    check("xp /xw 0x800+0x800", "0000000000001000: 0xf3f2f1f0\n");
    check("xp /xw (0x100 * 0x10) | 4", "0000000000001004: 0xf7f6f5f4\n");
    check("xp /xw 010000", "0000000000001000: 0xf3f2f1f0\n");
    check("xp /xw 4096", "0000000000001000: 0xf3f2f1f0\n");
    /* outside RAM, and wrapping at the top of the address space */
    check("xp /2x 0x100000000",
          "0000000100000000: Cannot access memory\n");
    check("xp /4xb -1", "ffffffffffffffff: Cannot access memory\n");
    check("xp /2xw 0xffffc", "00000000000ffffc: Cannot access memory\n");
    check("xp /99999999xg 0", "Error: a dump is limited to 1048576 bytes\n");
    check("xp /xw 0x1000", "0000000000001000: 0xf3f2f1f0\n");

    check("xp /2t 0", "invalid char in format: 't'\n"
                      "Try \"help xp\" for more information\n");
    check("xp /2i 0", "the 'i' format (disassembly) is not supported\n"
                      "Try \"help xp\" for more information\n");
    check("xp /2x zz", "invalid char 'z' in expression\n"
                       "Try \"help xp\" for more information\n");
    check("xp /2x (1", "')' expected\n"
                       "Try \"help xp\" for more information\n");
    check("xp /2x 1/0", "division by zero\n"
                        "Try \"help xp\" for more information\n");
    check("xp /2x 99999999999999999999999",
          "number too large\nTry \"help xp\" for more information\n");
    check("xp /2x 1 2", "xp: extraneous characters at the end of line\n"
                        "Try \"help xp\" for more information\n");
    check("x", "unexpected end of expression\n"
               "Try \"help x\" for more information\n");
    /* the bad formats above left the defaults alone */
    check("xp 0x1000", "0000000000001000: 0xf3f2f1f0\n");
}

/* x walks the current CPU's page tables; cpu N picks the CPU. */
static void test_x_virtual(void)
{
    GString *out = g_string_new(NULL);

    check("x /2xw 0x1000", "0000000000001000: 0xf3f2f1f0 0xf7f6f5f4\n");
    check("gva2gpa 0x1234", "gpa: 0x1234\n");
    check("cpu 2", "invalid CPU index\n");
    check("cpu 1", "");     /* hmp_execute: one line, then CPU 0 again */
    check("x /xw 0x1000", "0000000000001000: 0xf3f2f1f0\n");

    /* QMP's cpu-index chooses the CPU for the call */
    json_t *args = json_pack("{s:s,s:i}", "command-line",
                             "x /2xg 0x400000", "cpu-index", 1);
    GError *err = NULL;
    json_t *r = qmp_call("human-monitor-command", args, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_string_value(r), ==,
                    "0000000000400000: 0x1122334455667788 "
                    "0x0000000000000000\r\n");
    json_decref(r);
    json_decref(args);

    struct { const char *line, *want; } cases[] = {
        { "x /xg 0x400ffc", "0000000000400ffc: Cannot access memory\r\n" },
        { "x /xg 0x800000", "0000000000800000: Cannot access memory\r\n" },
        { "gva2gpa 0x400010", "gpa: 0x2010\r\n" },
        { "gva2gpa 0x1000", "Unmapped\r\n" },
        { "info cpus", "  CPU #0: thread_id=1000\r\n"
                       "* CPU #1: thread_id=1001\r\n" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        args = json_pack("{s:s,s:i}", "command-line", cases[i].line,
                         "cpu-index", 1);
        r = qmp_call("human-monitor-command", args, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(json_string_value(r), ==, cases[i].want);
        json_decref(r);
        json_decref(args);
    }

    /* a cpu-index that names no CPU */
    args = json_pack("{s:s,s:i}", "command-line", "info cpus",
                     "cpu-index", 7);
    g_assert_null(qmp_call("human-monitor-command", args, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "cpu-index"));
    g_clear_error(&err);
    json_decref(args);
    g_string_free(out, TRUE);
}

/* ---- commands and errors ---- */

static void test_unknown_and_help(void)
{
    g_autofree char *help = run("help");
    g_autofree char *info = run("info");

    check("foo", "unknown command: 'foo'\n");
    check("info nosuch", "unknown command: 'info nosuch'\n");
    check("help nosuch", "unknown command: 'nosuch'\n");
    check("", "");
    check("   ", "");
    check("help x", "x /fmt addr -- virtual memory dump starting at "
                    "'addr'\n");
    check("? stop", "stop|s  -- stop emulation\n");
    check("help info status",
          "info status  -- show the current VM status (running|paused)\n");
    g_assert_true(g_str_has_prefix(help, "balloon target "));
    g_assert_nonnull(strstr(help, "\nchange device filename "));
    g_assert_nonnull(strstr(help, "\ncont|c  -- resume emulation\n"));
    g_assert_nonnull(strstr(help, "\nxp /fmt addr -- physical memory dump"));
    g_assert_nonnull(strstr(info, "info registers [-a|vcpu] -- "));
    g_assert_nonnull(strstr(info, "\ninfo version  -- "));
    /* "info" alone is "help info" */
    g_autofree char *help_info = run("help info");
    g_assert_cmpstr(info, ==, help_info);

    check("stop extra", "stop|s: extraneous characters at the end of line\n"
                        "Try \"help stop\" for more information\n");
    check("q now", "quit|q: extraneous characters at the end of line\n"
                   "Try \"help q\" for more information\n");
    check("info status now",
          "status: extraneous characters at the end of line\n"
          "Try \"help info status\" for more information\n");
    check("cpu abc", "invalid char 'a' in expression\n"
                     "Try \"help cpu\" for more information\n");
    check("cpu -1", "invalid CPU index\n");
    check("info registers 5", "CPU#5 not available\n");
}

static void test_info(void)
{
    g_autofree char *regs = NULL;

    check("info status", "VM status: paused (prelaunch)\n");
    check("info cpus", "* CPU #0: thread_id=1000\n"
                       "  CPU #1: thread_id=1001\n");
    /* the fake accelerator is not KVM; whether KVM is present is the host's */
    g_autofree char *kvm = run("info kvm");
    g_assert_true(!strcmp(kvm, "kvm support: disabled\n") ||
                  !strcmp(kvm, "kvm support: not compiled\n"));
    regs = run("info registers -a");
    g_assert_true(g_str_has_prefix(regs, "\nCPU#0\n"));
    g_assert_nonnull(strstr(regs, "\nCPU#1\n"));
    g_free(regs);
    regs = run("info registers 1");
    g_assert_true(g_str_has_prefix(regs, "\nCPU#1\n"));
}

/*
 * set_link's arguments were never freed (fuzz-hmp found the leak; the
 * sanitizer build of this test reports it): every use, good or bad.
 */
static void test_set_link(void)
{
    check("set_link nosuch off", "Error: Device 'nosuch' not found\n");
    check("set_link nosuch sideways", "usage: set_link name on|off\n");
}

static void test_qom(void)
{
    check("qom-list", "/\n");
    check("qom-get /machine", "usage: qom-get path property\n");
    check("qom-set /machine x", "usage: qom-set [-j] path property value\n");
    check("qom-set -j /machine x", "usage: qom-set [-j] path property "
          "value\n");
    check("qom-get /nosuch x", "Error: Device '/nosuch' not found\n");
    check("qom-set -j /machine x {\"a\": ", "Error: JSON parse error, "
          "unexpected token near end of file\n");
}

/* ---- the line editor ---- */

typedef struct Typed {
    ReadLine rl;
    GString *echo;
    GPtrArray *lines;   /* what Enter produced; "<too long>" for refusals */
} Typed;

static void type(Typed *t, const char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (readline_feed(&t->rl, bytes[i], t->echo)) {
        case READLINE_LINE:
            g_ptr_array_add(t->lines, g_strdup(readline_line(&t->rl)));
            break;
        case READLINE_TOO_LONG:
            g_ptr_array_add(t->lines, g_strdup("<too long>"));
            break;
        case READLINE_MORE:
            break;
        }
    }
}

#define TYPE(t, s) type(t, s, sizeof(s) - 1)

static void typed_init(Typed *t)
{
    readline_init(&t->rl, "(qemu) ");
    t->echo = g_string_new(NULL);
    t->lines = g_ptr_array_new_with_free_func(g_free);
}

static void typed_fini(Typed *t)
{
    readline_free(&t->rl);
    g_string_free(t->echo, TRUE);
    g_ptr_array_free(t->lines, TRUE);
}

static const char *line_at(Typed *t, guint i)
{
    g_assert_cmpuint(i, <, t->lines->len);
    return g_ptr_array_index(t->lines, i);
}

static void test_readline_editing(void)
{
    Typed t;

    typed_init(&t);
    TYPE(&t, "info");
    g_assert_cmpstr(t.echo->str, ==, "info");  /* printable chars echo */
    TYPE(&t, "x\x7f status\r\n");               /* DEL, then CR LF once */
    g_assert_cmpuint(t.lines->len, ==, 1);
    g_assert_cmpstr(line_at(&t, 0), ==, "info status");
    g_assert_true(g_str_has_suffix(t.echo->str, "\b \b status\r\n"));

    TYPE(&t, "stop\b\bp\n");                    /* BS too; LF alone */
    g_assert_cmpstr(line_at(&t, 1), ==, "stp");
    TYPE(&t, "\r\r");                           /* empty lines count */
    g_assert_cmpstr(line_at(&t, 2), ==, "");
    g_assert_cmpstr(line_at(&t, 3), ==, "");

    TYPE(&t, "garbage\x15" "cont\r");           /* Ctrl-U kills the line */
    g_assert_cmpstr(line_at(&t, 4), ==, "cont");

    /* cursor keys: insert in the middle */
    TYPE(&t, "xp 0x10\x1b[D\x1b[D\x1b[D\x1b[D/2 \r");
    g_assert_cmpstr(line_at(&t, 5), ==, "xp /2 0x10");
    /* Home, End, Delete */
    TYPE(&t, "top\x1b[Hs\x1b[F!\x1b[D\x1b[3~\r");
    g_assert_cmpstr(line_at(&t, 6), ==, "stop");

    /* unknown sequences (F5, Shift-Tab, Alt-x) leave nothing behind */
    g_string_truncate(t.echo, 0);
    TYPE(&t, "\x1b[15~\x1b[Z\x1bxq\x1bOP\r");
    g_assert_cmpstr(line_at(&t, 7), ==, "q");
    g_assert_null(strchr(t.echo->str, 'x'));
    /* other control characters do nothing */
    TYPE(&t, "a\tb\x03\x00" "c\r");
    g_assert_cmpstr(line_at(&t, 8), ==, "abc");
    typed_fini(&t);
}

static void test_readline_history(void)
{
    Typed t;

    typed_init(&t);
    TYPE(&t, "one\rtwo\rtwo\rthree\r");
    /* Up three times: three, two (the repeat was stored once), one */
    TYPE(&t, "\x1b[A\x1b[A\x1b[A\r");
    g_assert_cmpstr(line_at(&t, 4), ==, "one");
    /* Up, Up, Down: back to the newer entry; ESC O A works too */
    TYPE(&t, "\x1bOA\x1b[A\x1b[B\r");
    g_assert_cmpstr(line_at(&t, 5), ==, "one");
    TYPE(&t, "\x1b[A\x1b[A\x1b[B\r");
    g_assert_cmpstr(line_at(&t, 6), ==, "one");
    /* Down past the newest gives an empty line; edit a recalled one */
    TYPE(&t, "\x1b[A\x1b[B\r");
    g_assert_cmpstr(line_at(&t, 7), ==, "");
    /* history: one two three one */
    TYPE(&t, "\x1b[A\x1b[A\x1b[A!\r");
    g_assert_cmpstr(line_at(&t, 8), ==, "two!");

    /* the history is bounded: the oldest entries go */
    for (int i = 0; i < READLINE_HISTORY + 10; i++) {
        char line[16];
        int n = g_snprintf(line, sizeof(line), "cmd%d\r", i);
        type(&t, line, n);
    }
    for (int i = 0; i < READLINE_HISTORY + 5; i++) {
        TYPE(&t, "\x1b[A");
    }
    TYPE(&t, "\r");
    g_assert_cmpstr(g_ptr_array_index(t.lines, t.lines->len - 1), ==,
                    "cmd10");
    typed_fini(&t);
}

static void test_readline_overlong(void)
{
    Typed t;
    g_autofree char *big = g_malloc(READLINE_LINE_MAX * 2);

    typed_init(&t);
    memset(big, 'a', READLINE_LINE_MAX * 2);
    type(&t, big, READLINE_LINE_MAX * 2);
    g_assert_cmpuint(t.rl.len, ==, READLINE_LINE_MAX - 1);
    /* refused with one bell, and Enter drops the line */
    g_assert_cmpuint(strlen(strchr(t.echo->str, '\a')), ==, 1);
    TYPE(&t, "\r");
    g_assert_cmpstr(line_at(&t, 0), ==, "<too long>");
    /* the next line is fine; the overlong one is not in the history */
    TYPE(&t, "info\r\x1b[A\r");
    g_assert_cmpstr(line_at(&t, 1), ==, "info");
    g_assert_cmpstr(line_at(&t, 2), ==, "info");
    /* a line of exactly the maximum is accepted */
    type(&t, big, READLINE_LINE_MAX - 1);
    TYPE(&t, "\r");
    g_assert_cmpuint(strlen(line_at(&t, 3)), ==, READLINE_LINE_MAX - 1);
    typed_fini(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    machine_setup();
    g_test_add_func("/hmp/xp/formats", test_xp_formats);
    g_test_add_func("/hmp/xp/defaults", test_xp_defaults);
    g_test_add_func("/hmp/xp/expressions-errors",
                    test_xp_expressions_and_errors);
    g_test_add_func("/hmp/x/virtual-and-qmp", test_x_virtual);
    g_test_add_func("/hmp/commands/unknown-help-errors",
                    test_unknown_and_help);
    g_test_add_func("/hmp/commands/info", test_info);
    g_test_add_func("/hmp/commands/set-link", test_set_link);
    g_test_add_func("/hmp/commands/qom", test_qom);
    g_test_add_func("/hmp/readline/editing", test_readline_editing);
    g_test_add_func("/hmp/readline/history", test_readline_history);
    g_test_add_func("/hmp/readline/overlong", test_readline_overlong);
    return g_test_run();
}
