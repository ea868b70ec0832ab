/*
 * The human monitor's commands, with QEMU 7.2's syntax and output: the
 * command table, QEMU's argument expressions, and the commands themselves.
 * A command that has a QMP twin runs it through qmp_call() and prints its
 * result as QEMU's HMP does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub/gdbstub.h"
#include "hmp-priv.h"
#include "hw/device.h"
#include "monitor/monitor.h"
#include "monitor/qmp.h"
#include "system/memory.h"
#include "system/vm.h"
#include "target/x86/inspect.h"
#include "ui/input.h"
#include "util/opts.h"

/* x/xp print at most this many bytes per command: output stays bounded. */
#define HMP_DUMP_MAX    (1024 * 1024)
#define PAGE_SIZE       4096ULL

/* ---- arguments ---- */

typedef enum HmpArgKind {
    ARGS_NONE,          /* nothing may follow the command */
    ARGS_REST,          /* the rest of the line, as typed (help) */
    ARGS_EXPR,          /* one expression (cpu, gva2gpa) */
    ARGS_FMT_EXPR,      /* /fmt expression (x, xp) */
    ARGS_REGISTERS,     /* [-a|vcpu] */
} HmpArgKind;

typedef struct HmpArgs {
    const char *rest;
    int64_t value;
    uint64_t count;
    int format;         /* x d u o c */
    int size;           /* 1 2 4 8 */
    bool all;
    bool has_value;
} HmpArgs;

typedef struct HmpCommand {
    const char *name;       /* "stop|s": the name and its aliases */
    const char *params;     /* for help */
    const char *help;
    HmpArgKind args;
    void (*fn)(HmpContext *ctx, const HmpArgs *a, GString *out);
} HmpCommand;

/* The cursor over a command line while its arguments are parsed. */
typedef struct Parser {
    const char *p;
    char *error;            /* set on the first error */
} Parser;

/* Like QEMU, the defaults for x/xp are the last format and size used. */
static int default_fmt_format = 'x';
static int default_fmt_size = 4;

static void skip_spaces(Parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t') {
        ps->p++;
    }
}

static bool parse_fail(Parser *ps, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool parse_fail(Parser *ps, const char *fmt, ...)
{
    va_list ap;

    if (!ps->error) {
        va_start(ap, fmt);
        ps->error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return false;
}

/*
 * QEMU's expressions: numbers (strtoull base 0: 0x hex, 0 octal), unary
 * + - ~, parentheses, * / % below & | ^ below + -. Wraps like uint64_t.
 */
static bool expr_sum(Parser *ps, uint64_t *v);

static bool expr_unary(Parser *ps, uint64_t *v)
{
    const char *start;
    char *end;

    skip_spaces(ps);
    switch (*ps->p) {
    case '+':
        ps->p++;
        return expr_unary(ps, v);
    case '-':
        ps->p++;
        if (!expr_unary(ps, v)) {
            return false;
        }
        *v = -*v;
        return true;
    case '~':
        ps->p++;
        if (!expr_unary(ps, v)) {
            return false;
        }
        *v = ~*v;
        return true;
    case '(':
        ps->p++;
        if (!expr_sum(ps, v)) {
            return false;
        }
        skip_spaces(ps);
        if (*ps->p != ')') {
            return parse_fail(ps, "')' expected");
        }
        ps->p++;
        return true;
    case '$':
        return parse_fail(ps, "register values ($name) are not supported "
                              "in expressions");
    case '\0':
        return parse_fail(ps, "unexpected end of expression");
    default:
        start = ps->p;
        if (*start < '0' || *start > '9') {
            return parse_fail(ps, "invalid char '%c' in expression", *start);
        }
        errno = 0;
        *v = strtoull(start, &end, 0);
        if (errno == ERANGE) {
            return parse_fail(ps, "number too large");
        }
        ps->p = end;
        return true;
    }
}

static bool expr_prod(Parser *ps, uint64_t *v)
{
    if (!expr_unary(ps, v)) {
        return false;
    }
    for (;;) {
        uint64_t r;
        char op;

        skip_spaces(ps);
        op = *ps->p;
        if (op != '*' && op != '/' && op != '%') {
            return true;
        }
        ps->p++;
        if (!expr_unary(ps, &r)) {
            return false;
        }
        if (op == '*') {
            *v *= r;
        } else if (r == 0) {
            return parse_fail(ps, "division by zero");
        } else if (op == '/') {
            *v = (uint64_t)((int64_t)*v / (int64_t)r);
        } else {
            *v = (uint64_t)((int64_t)*v % (int64_t)r);
        }
    }
}

static bool expr_logic(Parser *ps, uint64_t *v)
{
    if (!expr_prod(ps, v)) {
        return false;
    }
    for (;;) {
        uint64_t r;
        char op;

        skip_spaces(ps);
        op = *ps->p;
        if (op != '&' && op != '|' && op != '^') {
            return true;
        }
        ps->p++;
        if (!expr_prod(ps, &r)) {
            return false;
        }
        *v = op == '&' ? *v & r : op == '|' ? *v | r : *v ^ r;
    }
}

static bool expr_sum(Parser *ps, uint64_t *v)
{
    if (!expr_logic(ps, v)) {
        return false;
    }
    for (;;) {
        uint64_t r;
        char op;

        skip_spaces(ps);
        op = *ps->p;
        if (op != '+' && op != '-') {
            return true;
        }
        ps->p++;
        if (!expr_logic(ps, &r)) {
            return false;
        }
        *v = op == '+' ? *v + r : *v - r;
    }
}

static bool parse_expr(Parser *ps, int64_t *out)
{
    uint64_t v;

    if (!expr_sum(ps, &v)) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* "/[count][format][size]" as QEMU's monitor_parse_arguments reads it. */
static bool parse_format(Parser *ps, HmpArgs *a)
{
    int format = -1, size = -1;

    a->count = 1;
    if (*ps->p != '/') {
        a->format = default_fmt_format;
        a->size = default_fmt_size;
        return true;
    }
    ps->p++;
    if (g_ascii_isdigit(*ps->p)) {
        a->count = 0;
        while (g_ascii_isdigit(*ps->p)) {
            /* saturate: the size check refuses anything this large */
            a->count = MIN(a->count * 10 + (*ps->p - '0'), (uint64_t)1 << 40);
            ps->p++;
        }
    }
    for (;; ps->p++) {
        switch (*ps->p) {
        case 'x': case 'd': case 'u': case 'o': case 'c':
            format = *ps->p;
            continue;
        case 'i':
            return parse_fail(ps, "the 'i' format (disassembly) is not "
                                  "supported");
        case 'b': size = 1; continue;
        case 'h': size = 2; continue;
        case 'w': size = 4; continue;
        case 'g': case 'L': size = 8; continue;
        default:
            break;
        }
        break;
    }
    if (*ps->p != '\0' && *ps->p != ' ' && *ps->p != '\t') {
        return parse_fail(ps, "invalid char in format: '%c'", *ps->p);
    }
    a->format = format < 0 ? default_fmt_format : format;
    a->size = size < 0 ? default_fmt_size : size;
    default_fmt_format = a->format;
    default_fmt_size = a->size;
    return true;
}

/* Fills a from the text after the command name; false with ps->error set. */
static bool parse_args(Parser *ps, HmpArgKind kind, HmpArgs *a)
{
    memset(a, 0, sizeof(*a));
    skip_spaces(ps);
    switch (kind) {
    case ARGS_NONE:
        break;
    case ARGS_REST:
        a->rest = ps->p;
        ps->p += strlen(ps->p);
        break;
    case ARGS_FMT_EXPR:
        if (!parse_format(ps, a)) {
            return false;
        }
        /* fall through */
    case ARGS_EXPR:
        if (!parse_expr(ps, &a->value)) {
            return false;
        }
        a->has_value = true;
        break;
    case ARGS_REGISTERS:
        if (ps->p[0] == '-' && ps->p[1] == 'a' &&
            (ps->p[2] == '\0' || ps->p[2] == ' ' || ps->p[2] == '\t')) {
            a->all = true;
            ps->p += 2;
        } else if (*ps->p) {
            if (!parse_expr(ps, &a->value)) {
                return false;
            }
            a->has_value = true;
        }
        break;
    }
    skip_spaces(ps);
    return *ps->p == '\0';
}

/* ---- output helpers ---- */

static void print_error(GString *out, GError *err)
{
    g_string_append_printf(out, "Error: %s\n", err->message);
    g_error_free(err);
}

/* Runs a QMP twin; NULL (error printed) on failure. */
static json_t *call(const char *name, json_t *args, GString *out)
{
    GError *err = NULL;
    json_t *r = qmp_call(name, args, &err);

    if (!r) {
        print_error(out, err);
    }
    return r;
}

static void run_simple(const char *name, GString *out)
{
    json_decref(call(name, NULL, out));
}

static CPUState *cpu_by_index(Machine *m, int64_t index)
{
    if (!m || index < 0 || index >= m->ncpus) {
        return NULL;
    }
    return m->cpus[index];
}

/* ---- commands ---- */

static void hmp_stop(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    run_simple("stop", out);
}

static void hmp_cont(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    run_simple("cont", out);
}

/* set_link NAME on|off */
static void hmp_set_link(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_auto(GStrv) w = g_strsplit_set(a->rest ? a->rest : "", " \t", -1);
    GPtrArray *words = g_ptr_array_new();

    for (char **p = w; *p; p++) {
        if (**p) {
            g_ptr_array_add(words, *p);
        }
    }
    const char *state = words->len == 2 ? words->pdata[1] : NULL;
    if (!state || (strcmp(state, "on") && strcmp(state, "off"))) {
        g_string_append(out, "usage: set_link name on|off\n");
    } else {
        /* call borrows the arguments */
        json_t *args = json_pack("{s:s, s:b}", "name", words->pdata[0],
                                 "up", !strcmp(state, "on"));
        json_decref(call("set_link", args, out));
        json_decref(args);
    }
    g_ptr_array_free(words, TRUE);
}

/* QEMU's "screendump filename [-f format] [device [head]]". */
static void hmp_screendump(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_auto(GStrv) w = g_strsplit_set(a->rest ? a->rest : "", " \t", -1);
    const char *pos[3] = { NULL }, *format = NULL;
    unsigned npos = 0;
    bool ok = true;
    json_t *args;

    for (char **p = w; *p && ok; p++) {
        if (!**p) {
            continue;
        }
        if (!strcmp(*p, "-f")) {
            do {
                p++;
            } while (*p && !**p);
            format = *p;
            ok = format != NULL;
            if (!ok) {
                break;
            }
        } else if (npos < 3) {
            pos[npos++] = *p;
        } else {
            ok = false;
        }
    }
    if (!ok || !pos[0]) {
        g_string_append(out, "usage: screendump filename [-f format] "
                        "[device [head]]\n");
        return;
    }
    args = json_pack("{s:s}", "filename", pos[0]);
    if (format) {
        json_object_set_new(args, "format", json_string(format));
    }
    if (pos[1]) {
        json_object_set_new(args, "device", json_string(pos[1]));
    }
    if (pos[2]) {
        char *end;
        long long head = strtoll(pos[2], &end, 0);
        if (*end || head < 0) {
            g_string_append_printf(out, "Error: invalid head '%s'\n",
                                   pos[2]);
            json_decref(args);
            return;
        }
        json_object_set_new(args, "head", json_integer(head));
    }
    json_decref(call("screendump", args, out));
    json_decref(args);
}

static void hmp_system_reset(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    run_simple("system_reset", out);
}

static void hmp_system_powerdown(HmpContext *ctx, const HmpArgs *a,
                                 GString *out)
{
    run_simple("system_powerdown", out);
}

static void hmp_quit(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("quit", NULL, out);

    ctx->quit_requested = r != NULL;
    json_decref(r);
}

static void hmp_cpu(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    if (!cpu_by_index(machine_current(), a->value)) {
        g_string_append(out, "invalid CPU index\n");
        return;
    }
    ctx->cpu_index = a->value;
}

static void hmp_gva2gpa(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    CPUState *cpu = cpu_by_index(machine_current(), ctx->cpu_index);
    X86CPUSnapshot s;
    GError *err = NULL;
    uint64_t gpa;

    if (!cpu) {
        g_string_append(out, "No cpu\n");
        return;
    }
    if (!x86_cpu_get_snapshot(cpu, &s, &err)) {
        print_error(out, err);
    } else if (!x86_page_walk(&cpu->machine->as_mem, &s, a->value, &gpa,
                              NULL)) {
        g_string_append(out, "Unmapped\n");
    } else {
        g_string_append_printf(out, "gpa: %#" PRIx64 "\n", gpa);
    }
}

/* Where x reads: the guest's page tables as one snapshot saw them. */
typedef struct DumpSource {
    AddressSpace *as;
    const X86CPUSnapshot *snap;     /* NULL: physical addresses */
} DumpSource;

static bool dump_read(const DumpSource *src, uint64_t addr, uint8_t *buf,
                      uint64_t len)
{
    /*
     * Nothing is mapped at the top of the 64-bit space; address_space_read
     * is not asked about the last byte (it would not end there).
     */
    if (len == 0 || addr + (len - 1) < addr || addr + (len - 1) == UINT64_MAX) {
        return len == 0;
    }
    while (len > 0) {
        uint64_t chunk = MIN(len, PAGE_SIZE - (addr & (PAGE_SIZE - 1)));
        uint64_t gpa = addr;

        if (src->snap && !x86_page_walk(src->as, src->snap, addr, &gpa,
                                        NULL)) {
            return false;
        }
        if (address_space_read(src->as, gpa, buf, chunk) != MEMTX_OK) {
            return false;
        }
        addr += chunk;
        buf += chunk;
        len -= chunk;
    }
    return true;
}

static void print_char(GString *out, uint8_t c)
{
    g_string_append_c(out, '\'');
    switch (c) {
    case '\'': g_string_append(out, "\\'"); break;
    case '\\': g_string_append(out, "\\\\"); break;
    case '\n': g_string_append(out, "\\n"); break;
    case '\r': g_string_append(out, "\\r"); break;
    default:
        if (c >= 32 && c <= 126) {
            g_string_append_c(out, c);
        } else {
            g_string_append_printf(out, "\\x%02x", c);
        }
        break;
    }
    g_string_append_c(out, '\'');
}

/* QEMU's memory_dump: 16 bytes a line (8 for bytes), address first. */
static void memory_dump(const DumpSource *src, const HmpArgs *a, GString *out)
{
    uint64_t addr = a->value;
    uint64_t len = a->count * a->size;
    int wsize = a->size;
    int line_size = wsize == 1 ? 8 : 16;
    int digits;

    switch (a->format) {
    case 'o':
        digits = (wsize * 8 + 2) / 3;
        break;
    case 'u':
    case 'd':
        digits = (wsize * 8 * 10 + 32) / 33;
        break;
    case 'c':
        digits = 0;
        wsize = 1;
        break;
    default:
        digits = wsize * 2;
        break;
    }
    while (len > 0) {
        uint8_t buf[16];
        int l = MIN(len, (uint64_t)line_size);

        g_string_append_printf(out, "%016" PRIx64 ":", addr);
        if (!dump_read(src, addr, buf, l)) {
            g_string_append(out, " Cannot access memory\n");
            return;
        }
        for (int i = 0; i < l; i += wsize) {
            uint64_t v = 0;
            /* the guest is little-endian, as this host */
            memcpy(&v, buf + i, MIN(wsize, l - i));
            g_string_append_c(out, ' ');
            switch (a->format) {
            case 'o':
                g_string_append_printf(out, "%#*" PRIo64, digits, v);
                break;
            case 'u':
                g_string_append_printf(out, "%*" PRIu64, digits, v);
                break;
            case 'd':
                g_string_append_printf(out, "%*" PRId64, digits, (int64_t)v);
                break;
            case 'c':
                print_char(out, v);
                break;
            default:
                g_string_append_printf(out, "0x%0*" PRIx64, digits, v);
                break;
            }
        }
        g_string_append_c(out, '\n');
        addr += l;
        len -= l;
    }
}

static bool dump_size_ok(const HmpArgs *a, GString *out)
{
    if (a->count * a->size > HMP_DUMP_MAX) {
        g_string_append_printf(out, "Error: a dump is limited to %d bytes\n",
                               HMP_DUMP_MAX);
        return false;
    }
    return true;
}

static void hmp_x(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    Machine *m = machine_current();
    CPUState *cpu = cpu_by_index(m, ctx->cpu_index);
    X86CPUSnapshot s;
    GError *err = NULL;
    DumpSource src;

    if (!cpu) {
        g_string_append(out, "Can not dump without CPU\n");
        return;
    }
    if (!dump_size_ok(a, out)) {
        return;
    }
    if (!x86_cpu_get_snapshot(cpu, &s, &err)) {
        print_error(out, err);
        return;
    }
    src = (DumpSource){ &m->as_mem, &s };
    memory_dump(&src, a, out);
}

static void hmp_xp(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    Machine *m = machine_current();
    DumpSource src;

    if (!dump_size_ok(a, out)) {
        return;
    }
    if (!m) {
        g_string_append_printf(out, "%016" PRIx64 ": Cannot access memory\n",
                               (uint64_t)a->value);
        return;
    }
    src = (DumpSource){ &m->as_mem, NULL };
    memory_dump(&src, a, out);
}

static void hmp_info_status(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-status", NULL, out);
    const char *status;

    if (!r) {
        return;
    }
    /* QEMU's hmp_info_status */
    status = json_string_value(json_object_get(r, "status"));
    g_string_append_printf(out, "VM status: %s",
                           json_is_true(json_object_get(r, "running"))
                               ? "running" : "paused");
    if (json_is_true(json_object_get(r, "singlestep"))) {
        g_string_append(out, " (single step mode)");
    }
    if (!json_is_true(json_object_get(r, "running")) && status &&
        strcmp(status, "paused") != 0) {
        g_string_append_printf(out, " (%s)", status);
    }
    g_string_append_c(out, '\n');
    json_decref(r);
}

static void hmp_info_version(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-version", NULL, out);
    json_t *q;
    const char *package;

    if (!r) {
        return;
    }
    q = json_object_get(r, "qemu");
    package = json_string_value(json_object_get(r, "package"));
    g_string_append_printf(
        out, "%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT
        ".%" JSON_INTEGER_FORMAT,
        json_integer_value(json_object_get(q, "major")),
        json_integer_value(json_object_get(q, "minor")),
        json_integer_value(json_object_get(q, "micro")));
    if (package && *package) {
        /* QEMU glues the package on; ours is a name, so set it apart */
        g_string_append_printf(out, *package == ' ' ? "%s" : " (%s)",
                               package);
    }
    g_string_append_c(out, '\n');
    json_decref(r);
}

static void hmp_info_kvm(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-kvm", NULL, out);

    if (!r) {
        return;
    }
    g_string_append(out, "kvm support: ");
    if (json_is_true(json_object_get(r, "present"))) {
        g_string_append(out, json_is_true(json_object_get(r, "enabled"))
                                 ? "enabled\n" : "disabled\n");
    } else {
        g_string_append(out, "not compiled\n");
    }
    json_decref(r);
}

static void hmp_info_name(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-name", NULL, out);
    const char *name = json_string_value(json_object_get(r, "name"));

    if (name) {
        g_string_append_printf(out, "%s\n", name);
    }
    json_decref(r);
}

static void hmp_info_uuid(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-uuid", NULL, out);
    const char *uuid = json_string_value(json_object_get(r, "UUID"));

    if (uuid) {
        g_string_append_printf(out, "%s\n", uuid);
    }
    json_decref(r);
}

static void hmp_info_cpus(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-cpus-fast", NULL, out);
    size_t i;
    json_t *cpu;

    json_array_foreach(r, i, cpu) {
        json_int_t index = json_integer_value(json_object_get(cpu,
                                                              "cpu-index"));
        g_string_append_printf(
            out, "%c CPU #%" JSON_INTEGER_FORMAT ": thread_id=%"
            JSON_INTEGER_FORMAT "\n", index == ctx->cpu_index ? '*' : ' ',
            index, json_integer_value(json_object_get(cpu, "thread-id")));
    }
    json_decref(r);
}

static void hmp_info_iothreads(HmpContext *ctx, const HmpArgs *a,
                               GString *out)
{
    static const char *const keys[] = { "poll-max-ns", "poll-grow",
                                        "poll-shrink", "aio-max-batch" };
    json_t *r = call("query-iothreads", NULL, out);
    size_t i;
    json_t *t;

    json_array_foreach(r, i, t) {
        g_string_append_printf(
            out, "%s:\n  thread_id=%" JSON_INTEGER_FORMAT "\n",
            json_string_value(json_object_get(t, "id")),
            json_integer_value(json_object_get(t, "thread-id")));
        for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
            g_string_append_printf(
                out, "  %s=%" JSON_INTEGER_FORMAT "\n", keys[k],
                json_integer_value(json_object_get(t, keys[k])));
        }
    }
    json_decref(r);
}

static void hmp_info_chardev(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-chardev", NULL, out);
    size_t i;
    json_t *chr;

    json_array_foreach(r, i, chr) {
        g_string_append_printf(
            out, "%s: filename=%s\n",
            json_string_value(json_object_get(chr, "label")),
            json_string_value(json_object_get(chr, "filename")));
    }
    json_decref(r);
}

/* The blank-separated words of an ARGS_REST line (caller frees). */
static GPtrArray *split_words(const char *rest)
{
    GPtrArray *words = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) w = g_strsplit_set(rest ? rest : "", " \t", -1);

    for (char **p = w; *p; p++) {
        if (**p) {
            g_ptr_array_add(words, g_strdup(*p));
        }
    }
    return words;
}

/* ---- the object tree (QEMU's qom-list, qom-get, qom-set) ---- */

/* qom-list [path]: "name (type)" lines; no path shows the root's name. */
static void hmp_qom_list(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autoptr(GPtrArray) w = split_words(a->rest);

    if (!w->len) {
        g_string_append(out, "/\n");
        return;
    }
    json_t *args = json_pack("{s:s}", "path", (char *)w->pdata[0]);
    json_t *r = call("qom-list", args, out);
    size_t i;
    json_t *p;
    json_array_foreach(r, i, p) {
        g_string_append_printf(out, "%s (%s)\n",
                               json_string_value(json_object_get(p, "name")),
                               json_string_value(json_object_get(p, "type")));
    }
    json_decref(r);
    json_decref(args);
}

/* qom-get path property: the value as JSON, objects indented. */
static void hmp_qom_get(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autoptr(GPtrArray) w = split_words(a->rest);

    if (w->len != 2) {
        g_string_append(out, "usage: qom-get path property\n");
        return;
    }
    json_t *args = json_pack("{s:s, s:s}", "path", (char *)w->pdata[0],
                             "property", (char *)w->pdata[1]);
    json_t *r = call("qom-get", args, out);
    if (r) {
        char *text = json_dumps(r, JSON_INDENT(4) | JSON_ENCODE_ANY);
        g_string_append_printf(out, "%s\n", text);
        free(text);
    }
    json_decref(r);
    json_decref(args);
}

/* qom-set [-j] path property value: value typed as text, or JSON with -j. */
static void hmp_qom_set(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autoptr(GPtrArray) w = split_words(a->rest);
    bool is_json = w->len && !strcmp(w->pdata[0], "-j");
    guint first = is_json ? 1 : 0;

    if (w->len < first + 3) {
        g_string_append(out, "usage: qom-set [-j] path property value\n");
        return;
    }
    /* the value is the rest of the line: JSON may hold blanks */
    const char *rest = a->rest;
    for (guint i = 0; i < first + 2; i++) {
        rest = strstr(rest, w->pdata[i]) + strlen(w->pdata[i]);
    }
    g_autofree char *text = g_strstrip(g_strdup(rest));
    json_t *value;
    if (is_json) {
        json_error_t jerr;
        value = json_loads(text, JSON_DECODE_ANY, &jerr);
        if (!value) {
            g_string_append_printf(out, "Error: JSON parse error, %s\n",
                                   jerr.text);
            return;
        }
    } else {
        value = device_prop_value_parse(text);
    }
    json_t *args = json_pack("{s:s, s:s, s:o}", "path",
                             (char *)w->pdata[first], "property",
                             (char *)w->pdata[first + 1], "value", value);
    json_decref(call("qom-set", args, out));
    json_decref(args);
}

/* ---- input (QEMU's sendkey, mouse_move, mouse_button) ---- */

/* balloon N: N in MiB unless it has a size suffix, as QEMU's 'M' type. */
static void hmp_balloon(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autoptr(GPtrArray) w = split_words(a->rest);
    uint64_t value;

    if (w->len != 1 || !parse_size(w->pdata[0], 1 << 20, &value, NULL) ||
        value > INT64_MAX) {
        g_string_append(out, "invalid size\n");
        return;
    }
    json_t *args = json_pack("{s:I}", "value", (json_int_t)value);
    json_decref(call("balloon", args, out));
    json_decref(args);
}

static void hmp_info_balloon(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-balloon", NULL, out);

    if (r) {
        g_string_append_printf(out, "balloon: actual=%" JSON_INTEGER_FORMAT
                               "\n", json_integer_value(json_object_get(
                                   r, "actual")) >> 20);
    }
    json_decref(r);
}

static bool parse_int_word(const char *word, long long *v)
{
    char *end;

    errno = 0;
    *v = strtoll(word, &end, 0);
    return *word && !*end && !errno;
}

/*
 * sendkey keys [hold_ms]: QEMU's key names joined by '-' (ctrl-alt-delete),
 * or key numbers written 0x.. (0x1e), through QMP send-key.
 */
static void hmp_sendkey(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autoptr(GPtrArray) w = split_words(a->rest);
    g_auto(GStrv) names = NULL;
    long long hold = 0;
    json_t *keys, *args;

    if (w->len < 1 || w->len > 2 ||
        (w->len == 2 && !parse_int_word(w->pdata[1], &hold))) {
        g_string_append(out, "usage: sendkey keys [hold_ms]\n");
        return;
    }
    keys = json_array();
    names = g_strsplit(w->pdata[0], "-", -1);
    for (char **k = names; *k; k++) {
        long long number;
        json_t *kv;

        if (g_str_has_prefix(*k, "0x") && parse_int_word(*k, &number)) {
            kv = json_pack("{s:s,s:I}", "type", "number", "data",
                           (json_int_t)number);
        } else if (qkeycode_from_name(*k) >= 0) {
            kv = json_pack("{s:s,s:s}", "type", "qcode", "data", *k);
        } else {
            g_string_append_printf(out, "invalid parameter: %s\n", *k);
            json_decref(keys);
            return;
        }
        json_array_append_new(keys, kv);
    }
    args = json_pack("{s:o}", "keys", keys);
    if (w->len == 2) {
        json_object_set_new(args, "hold-time", json_integer(hold));
    }
    json_decref(call("send-key", args, out));
    json_decref(args);
}

static json_t *move_event(const char *axis, long long value)
{
    return json_pack("{s:s,s:{s:s,s:I}}", "type", "rel", "data", "axis", axis,
                     "value", (json_int_t)value);
}

static json_t *button_event(const char *button, bool down)
{
    return json_pack("{s:s,s:{s:s,s:b}}", "type", "btn", "data", "button",
                     button, "down", down);
}

static void send_events(json_t *events, GString *out)
{
    json_t *args = json_pack("{s:o}", "events", events);

    json_decref(call("input-send-event", args, out));
    json_decref(args);
}

/* mouse_move dx dy [dz]: dz > 0 turns the wheel up, as in QEMU. */
static void hmp_mouse_move(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autoptr(GPtrArray) w = split_words(a->rest);
    long long d[3] = { 0, 0, 0 };
    json_t *events;

    for (unsigned i = 0; i < w->len; i++) {
        if (w->len < 2 || w->len > 3 || !parse_int_word(w->pdata[i], &d[i])) {
            g_string_append(out, "usage: mouse_move dx dy [dz]\n");
            return;
        }
    }
    if (w->len < 2) {
        g_string_append(out, "usage: mouse_move dx dy [dz]\n");
        return;
    }
    events = json_pack("[o,o]", move_event("x", d[0]), move_event("y", d[1]));
    if (d[2]) {
        const char *wheel = d[2] > 0 ? "wheel-up" : "wheel-down";
        json_array_append_new(events, button_event(wheel, true));
        send_events(events, out);
        events = json_pack("[o]", button_event(wheel, false));
    }
    send_events(events, out);
}

/* mouse_button state: bit 0 left, 1 right, 2 middle; sends the changes. */
static void hmp_mouse_button(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    static const char *const names[3] = { "left", "right", "middle" };
    static long long mouse_button_state;
    g_autoptr(GPtrArray) w = split_words(a->rest);
    long long state;
    json_t *events;

    if (w->len != 1 || !parse_int_word(w->pdata[0], &state)) {
        g_string_append(out, "usage: mouse_button state\n");
        return;
    }
    events = json_array();
    for (int i = 0; i < 3; i++) {
        if ((state ^ mouse_button_state) & (1 << i)) {
            json_array_append_new(events,
                                  button_event(names[i], state & (1 << i)));
        }
    }
    mouse_button_state = state;
    send_events(events, out);
}

/* ---- block (QEMU's print_block_info and hmp_info_blockstats) ---- */

static const char *jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void print_block_info(GString *out, json_t *info, json_t *ins)
{
    if (info) {
        g_string_append(out, jstr(info, "device"));
        if (ins && json_object_get(ins, "node-name")) {
            g_string_append_printf(out, " (%s)", jstr(ins, "node-name"));
        }
    } else {
        g_string_append(out, jstr(ins, "node-name"));
    }
    if (ins) {
        g_string_append_printf(out, ": %s (%s%s%s)\n", jstr(ins, "file"),
                               jstr(ins, "drv"),
                               json_is_true(json_object_get(ins, "ro"))
                               ? ", read-only" : "",
                               json_is_true(json_object_get(ins, "encrypted"))
                               ? ", encrypted" : "");
    } else {
        g_string_append(out, ": [not inserted]\n");
    }
    if (info) {
        if (json_object_get(info, "qdev")) {
            g_string_append_printf(out, "    Attached to:      %s\n",
                                   jstr(info, "qdev"));
        }
        if (json_object_get(info, "io-status") &&
            strcmp(jstr(info, "io-status"), "ok")) {
            g_string_append_printf(out, "    I/O status:       %s\n",
                                   jstr(info, "io-status"));
        }
        if (json_is_true(json_object_get(info, "removable"))) {
            g_string_append_printf(
                out, "    Removable device: %slocked, tray %s\n",
                json_is_true(json_object_get(info, "locked")) ? "" : "not ",
                json_is_true(json_object_get(info, "tray_open"))
                ? "open" : "closed");
        }
    }
    if (!ins) {
        return;
    }
    json_t *cache = json_object_get(ins, "cache");
    g_string_append_printf(
        out, "    Cache mode:       %s%s%s\n",
        json_is_true(json_object_get(cache, "writeback"))
        ? "writeback" : "writethrough",
        json_is_true(json_object_get(cache, "direct")) ? ", direct" : "",
        json_is_true(json_object_get(cache, "no-flush"))
        ? ", ignore flushes" : "");
    if (json_object_get(ins, "backing_file")) {
        g_string_append_printf(
            out, "    Backing file:     %s (chain depth: %" JSON_INTEGER_FORMAT
            ")\n", jstr(ins, "backing_file"),
            json_integer_value(json_object_get(ins, "backing_file_depth")));
    }
    if (strcmp(jstr(ins, "detect_zeroes"), "off")) {
        g_string_append_printf(out, "    Detect zeroes:    %s\n",
                               jstr(ins, "detect_zeroes"));
    }
}

/* info block [-n] [-v] [device]: drives, or with -n the named nodes */
static void hmp_info_block(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    char **words = g_strsplit_set(a->rest ? a->rest : "", " \t", -1);
    const char *device = NULL;
    bool nodes = false;
    bool printed = false;

    for (char **w = words; *w; w++) {
        if (!strcmp(*w, "-n")) {
            nodes = true;
        } else if (!strcmp(*w, "-v")) {
            /* verbose adds the image details; the summary is the same */
        } else if (**w) {
            device = *w;
        }
    }
    if (!nodes) {
        json_t *r = call("query-block", NULL, out);
        size_t i;
        json_t *info;
        json_array_foreach(r, i, info) {
            if (device && strcmp(device, jstr(info, "device"))) {
                continue;
            }
            if (printed) {
                g_string_append(out, "\n");
            }
            print_block_info(out, info, json_object_get(info, "inserted"));
            printed = true;
        }
        json_decref(r);
    } else {
        json_t *r = call("query-named-block-nodes", NULL, out);
        size_t i;
        json_t *node;
        json_array_foreach(r, i, node) {
            if (device && strcmp(device, jstr(node, "node-name"))) {
                continue;
            }
            if (printed) {
                g_string_append(out, "\n");
            }
            print_block_info(out, NULL, node);
            printed = true;
        }
        json_decref(r);
    }
    g_strfreev(words);
}

static void hmp_info_blockstats(HmpContext *ctx, const HmpArgs *a,
                                GString *out)
{
    static const char *const keys[] = {
        "rd_bytes", "wr_bytes", "rd_operations", "wr_operations",
        "flush_operations", "wr_total_time_ns", "rd_total_time_ns",
        "flush_total_time_ns", "rd_merged", "wr_merged", "idle_time_ns",
    };
    json_t *r = call("query-blockstats", NULL, out);
    size_t i;
    json_t *bs;

    json_array_foreach(r, i, bs) {
        if (!*jstr(bs, "device")) {
            continue;
        }
        json_t *st = json_object_get(bs, "stats");
        g_string_append_printf(out, "%s:", jstr(bs, "device"));
        for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
            g_string_append_printf(out, " %s=%" JSON_INTEGER_FORMAT, keys[k],
                                   json_integer_value(
                                       json_object_get(st, keys[k])));
        }
        g_string_append(out, "\n");
    }
    json_decref(r);
}

static void dump_registers(CPUState *cpu, GString *out)
{
    GError *err = NULL;

    g_string_append_printf(out, "\nCPU#%d\n", cpu->index);
    if (!x86_cpu_dump_registers(cpu, out, &err)) {
        print_error(out, err);
    }
}

static void hmp_info_registers(HmpContext *ctx, const HmpArgs *a,
                               GString *out)
{
    Machine *m = machine_current();
    CPUState *cpu;

    if (a->all) {
        for (int i = 0; m && i < m->ncpus; i++) {
            dump_registers(m->cpus[i], out);
        }
        return;
    }
    cpu = cpu_by_index(m, a->has_value ? a->value : ctx->cpu_index);
    if (!cpu) {
        if (a->has_value) {
            g_string_append_printf(out, "CPU#%" PRId64 " not available\n",
                                   a->value);
        } else {
            g_string_append(out, "No CPU available\n");
        }
        return;
    }
    dump_registers(cpu, out);
}

static void hmp_info_mtree(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    Machine *m = machine_current();

    if (m) {
        memory_print_mtree(m, out);
    }
}

static void hmp_info_qtree(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    Machine *m = machine_current();

    if (m) {
        device_print_qtree(m, out);
    }
}

static json_int_t json_int_member(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* One device of query-pci's reply in QEMU's hmp_info_pci layout, and
 * the devices behind it when it is a bridge. */
static void print_pci_device(json_t *dev, GString *out)
{
    json_t *cls = json_object_get(dev, "class_info");
    json_t *id = json_object_get(dev, "id");
    json_t *bridge = json_object_get(dev, "pci_bridge");
    const char *desc = json_string_value(json_object_get(cls, "desc"));
    size_t k;
    json_t *r;

    g_string_append_printf(out, "  Bus %2" JSON_INTEGER_FORMAT
                           ", device %3" JSON_INTEGER_FORMAT
                           ", function %" JSON_INTEGER_FORMAT ":\n",
                           json_int_member(dev, "bus"),
                           json_int_member(dev, "slot"),
                           json_int_member(dev, "function"));
    if (desc) {
        g_string_append_printf(out, "    %s", desc);
    } else {
        g_string_append_printf(out, "    Class %04" JSON_INTEGER_FORMAT,
                               json_int_member(cls, "class"));
    }
    g_string_append_printf(out, ": PCI device %04" PRIx64 ":%04" PRIx64 "\n",
                           (uint64_t)json_int_member(id, "vendor"),
                           (uint64_t)json_int_member(id, "device"));
    if (json_object_get(id, "subsystem") &&
        json_object_get(id, "subsystem-vendor")) {
        g_string_append_printf(
            out, "      PCI subsystem %04" PRIx64 ":%04" PRIx64 "\n",
            (uint64_t)json_int_member(id, "subsystem-vendor"),
            (uint64_t)json_int_member(id, "subsystem"));
    }
    if (json_object_get(dev, "irq")) {
        g_string_append_printf(out, "      IRQ %" JSON_INTEGER_FORMAT
                               ", pin %c\n", json_int_member(dev, "irq"),
                               (char)('A' + json_int_member(dev, "irq_pin") -
                                      1));
    }
    if (bridge) {
        json_t *bus = json_object_get(bridge, "bus");
        json_t *io = json_object_get(bus, "io_range");
        json_t *mem = json_object_get(bus, "memory_range");
        json_t *pref = json_object_get(bus, "prefetchable_range");

        g_string_append_printf(
            out, "      BUS %" JSON_INTEGER_FORMAT ".\n"
            "      secondary bus %" JSON_INTEGER_FORMAT ".\n"
            "      subordinate bus %" JSON_INTEGER_FORMAT ".\n",
            json_int_member(bus, "number"), json_int_member(bus, "secondary"),
            json_int_member(bus, "subordinate"));
        g_string_append_printf(
            out, "      IO range [0x%04" PRIx64 ", 0x%04" PRIx64 "]\n"
            "      memory range [0x%08" PRIx64 ", 0x%08" PRIx64 "]\n"
            "      prefetchable memory range [0x%08" PRIx64 ", 0x%08" PRIx64
            "]\n",
            (uint64_t)json_int_member(io, "base"),
            (uint64_t)json_int_member(io, "limit"),
            (uint64_t)json_int_member(mem, "base"),
            (uint64_t)json_int_member(mem, "limit"),
            (uint64_t)json_int_member(pref, "base"),
            (uint64_t)json_int_member(pref, "limit"));
    }
    json_array_foreach(json_object_get(dev, "regions"), k, r) {
        uint64_t addr = json_int_member(r, "address");
        uint64_t size = json_int_member(r, "size");
        const char *type = json_string_value(json_object_get(r, "type"));

        g_string_append_printf(out, "      BAR%" JSON_INTEGER_FORMAT ": ",
                               json_int_member(r, "bar"));
        if (type && !strcmp(type, "io")) {
            g_string_append_printf(out, "I/O at 0x%04" PRIx64 " [0x%04" PRIx64
                                   "].\n", addr, addr + size - 1);
        } else {
            g_string_append_printf(
                out, "%d bit%s memory at 0x%08" PRIx64 " [0x%08" PRIx64
                "].\n",
                json_is_true(json_object_get(r, "mem_type_64")) ? 64 : 32,
                json_is_true(json_object_get(r, "prefetch"))
                    ? " prefetchable" : "",
                addr, addr + size - 1);
        }
    }
    g_string_append_printf(out, "      id \"%s\"\n",
                           json_string_value(json_object_get(dev, "qdev_id")));
    if (bridge) {
        json_array_foreach(json_object_get(bridge, "devices"), k, r) {
            print_pci_device(r, out);
        }
    }
}

static void hmp_info_pci(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    GError *err = NULL;
    json_t *buses = qmp_call("query-pci", NULL, &err);
    size_t i, j;
    json_t *bus, *dev;

    if (!buses) {
        print_error(out, err);
        return;
    }
    if (!json_array_size(buses)) {
        g_string_append(out, "PCI is not available on this machine\n");
    }
    json_array_foreach(buses, i, bus) {
        json_array_foreach(json_object_get(bus, "devices"), j, dev) {
            print_pci_device(dev, out);
        }
    }
    json_decref(buses);
}

/* ---- VNC (QEMU's info vnc, set_password, expire_password) ---- */

static void hmp_info_vnc(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    json_t *r = call("query-vnc", NULL, out), *clients, *c;
    size_t i;

    if (!r) {
        return;
    }
    if (!json_is_true(json_object_get(r, "enabled"))) {
        g_string_append(out, "None\n");
        json_decref(r);
        return;
    }
    g_string_append_printf(out, "default:\n  Server: %s:%s (%s)\n"
                           "    Auth: %s (Sub: none)\n",
                           json_string_value(json_object_get(r, "host")),
                           json_string_value(json_object_get(r, "service")),
                           json_string_value(json_object_get(r, "family")),
                           json_string_value(json_object_get(r, "auth")));
    clients = json_object_get(r, "clients");
    json_array_foreach(clients, i, c) {
        g_string_append_printf(
            out, "  Client: %s:%s (%s)\n    x509_dname: none\n"
            "    sasl_username: none\n",
            json_string_value(json_object_get(c, "host")),
            json_string_value(json_object_get(c, "service")),
            json_string_value(json_object_get(c, "family")));
    }
    json_decref(r);
}

static void vnc_set_password(const char *protocol, const char *password,
                             const char *action, GString *out)
{
    json_t *args = json_pack("{s:s, s:s}", "protocol", protocol, "password",
                             password);

    if (action) {
        json_object_set_new(args, "connected", json_string(action));
    }
    json_decref(call("set_password", args, out));
    json_decref(args);
}

/* "set_password protocol password [action-if-connected]" */
static void hmp_set_password(HmpContext *ctx, const HmpArgs *a,
                             GString *out)
{
    GPtrArray *w = split_words(a->rest);

    if (w->len < 2 || w->len > 3) {
        g_string_append(out, "usage: set_password protocol password "
                        "[action-if-connected]\n");
    } else {
        vnc_set_password(w->pdata[0], w->pdata[1],
                         w->len > 2 ? w->pdata[2] : NULL, out);
    }
    g_ptr_array_free(w, TRUE);
}

/* "expire_password protocol time" */
static void hmp_expire_password(HmpContext *ctx, const HmpArgs *a,
                                GString *out)
{
    GPtrArray *w = split_words(a->rest);

    if (w->len != 2) {
        g_string_append(out, "usage: expire_password protocol time\n");
    } else {
        json_t *args = json_pack("{s:s, s:s}", "protocol",
                                 (char *)w->pdata[0], "time",
                                 (char *)w->pdata[1]);
        json_decref(call("expire_password", args, out));
        json_decref(args);
    }
    g_ptr_array_free(w, TRUE);
}

/*
 * "change vnc password [PASSWORD]". QEMU prompts for a missing password on
 * a terminal; here it must be given on the line.
 */
static void hmp_change_vnc(GPtrArray *w, GString *out)
{
    if (w->len < 2 || strcmp(w->pdata[1], "password")) {
        g_string_append(out, "Error: only 'change vnc password PASSWORD' "
                        "is supported for VNC\n");
    } else if (w->len != 3) {
        g_string_append(out, "Error: give the password: change vnc "
                        "password PASSWORD\n");
    } else {
        vnc_set_password("vnc", w->pdata[2], NULL, out);
    }
}

/* ---- removable media (QEMU's eject and change) ---- */

/* "eject [-f] device" */
static void hmp_eject(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    GPtrArray *w = split_words(a->rest);
    bool force = w->len == 2 && !strcmp(w->pdata[0], "-f");

    if (w->len != 1 + force) {
        g_string_append(out, "usage: eject [-f] device\n");
    } else {
        json_t *args = json_pack("{s:s, s:b}", "device",
                                 (char *)w->pdata[force], "force", force);
        json_decref(call("eject", args, out));
        json_decref(args);
    }
    g_ptr_array_free(w, TRUE);
}

/* "change device filename [format [read-only-mode]]" (block devices) */
static void hmp_change(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    GPtrArray *w = split_words(a->rest);

    if (w->len >= 1 && !strcmp(w->pdata[0], "vnc")) {
        hmp_change_vnc(w, out);
    } else if (w->len < 2 || w->len > 4) {
        g_string_append(out, "usage: change device filename "
                        "[format [read-only-mode]]\n");
    } else {
        json_t *args = json_pack("{s:s, s:s}", "device",
                                 (char *)w->pdata[0], "filename",
                                 (char *)w->pdata[1]);
        if (w->len > 2) {
            json_object_set_new(args, "format", json_string(w->pdata[2]));
        }
        if (w->len > 3) {
            json_object_set_new(args, "read-only-mode",
                                json_string(w->pdata[3]));
        }
        json_decref(call("blockdev-change-medium", args, out));
        json_decref(args);
    }
    g_ptr_array_free(w, TRUE);
}

/* gdbserver [device]: QEMU's messages */
static void hmp_gdbserver(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    g_autofree char *dev = g_strstrip(g_strdup(a->rest ? a->rest : ""));
    GError *err = NULL;

    if (!*dev) {
        g_free(dev);
        dev = g_strdup(GDBSTUB_DEFAULT_DEVICE);
    }
    if (!gdbserver_start(dev, &err)) {
        g_string_append_printf(out, "Could not open gdbserver on device "
                               "'%s'\n", dev);
        g_error_free(err);
    } else if (!strcmp(dev, "none")) {
        g_string_append(out, "Disabled gdbserver\n");
    } else {
        g_string_append_printf(out, "Waiting for gdb connection on device "
                               "'%s'\n", dev);
    }
}

static void hmp_help(HmpContext *ctx, const HmpArgs *a, GString *out);
static void hmp_info(HmpContext *ctx, const HmpArgs *a, GString *out);

/* The migration and snapshot commands live in hmp-migration.c. */
#define HMP_REST_WRAPPER(fn)                                              \
    static void fn##_cmd(HmpContext *ctx, const HmpArgs *a, GString *out) \
    {                                                                     \
        fn(a->rest, out);                                                 \
    }
static void hmp_migrate_cmd(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    hmp_migrate(ctx, a->rest, out);
}
HMP_REST_WRAPPER(hmp_migrate_cancel)
HMP_REST_WRAPPER(hmp_migrate_incoming)
HMP_REST_WRAPPER(hmp_migrate_set_parameter)
HMP_REST_WRAPPER(hmp_info_migrate)
HMP_REST_WRAPPER(hmp_info_migrate_parameters)
HMP_REST_WRAPPER(hmp_savevm)
HMP_REST_WRAPPER(hmp_loadvm)
HMP_REST_WRAPPER(hmp_delvm)
HMP_REST_WRAPPER(hmp_info_snapshots)

/* Sorted by name, as QEMU's help lists them. */
static const HmpCommand hmp_commands[] = {
    { "balloon", "target", "request VM to change its memory allocation (in "
      "MB)", ARGS_REST, hmp_balloon },
    { "change", "device filename [format [read-only-mode]]",
      "change a removable medium, optional format", ARGS_REST, hmp_change },
    { "cont|c", "", "resume emulation", ARGS_NONE, hmp_cont },
    { "cpu", "index", "set the default CPU", ARGS_EXPR, hmp_cpu },
    { "delvm", "tag", "delete a VM snapshot from its tag", ARGS_REST,
      hmp_delvm_cmd },
    { "eject", "[-f] device", "eject a removable medium (use -f to force "
      "it)", ARGS_REST, hmp_eject },
    { "expire_password", "protocol time", "set the expiry of a remote "
      "display's password (time: now, never, +secs or secs since the "
      "epoch)", ARGS_REST, hmp_expire_password },
    { "gdbserver", "[device]", "start gdbserver on given device (default "
      "'tcp::1234'), stop with 'none'", ARGS_REST, hmp_gdbserver },
    { "gva2gpa", "addr", "print the guest physical address corresponding "
      "to a guest virtual address", ARGS_EXPR, hmp_gva2gpa },
    { "help|?", "[cmd]", "show the help", ARGS_REST, hmp_help },
    { "info", "[subcommand]", "show various information about the system "
      "state", ARGS_REST, hmp_info },
    { "loadvm", "tag", "restore a VM snapshot from its tag", ARGS_REST,
      hmp_loadvm_cmd },
    { "migrate", "[-d] uri", "migrate to URI (tcp:HOST:PORT, unix:PATH, "
      "exec:CMD, file:PATH); -d: return at once (info migrate follows it)",
      ARGS_REST, hmp_migrate_cmd },
    { "migrate_cancel", "", "cancel the current VM migration", ARGS_NONE,
      hmp_migrate_cancel_cmd },
    { "migrate_incoming", "uri", "continue an incoming migration from an "
      "-incoming defer", ARGS_REST, hmp_migrate_incoming_cmd },
    { "migrate_set_parameter", "parameter value", "set a migration "
      "parameter (downtime-limit ms, max-bandwidth bytes/s)", ARGS_REST,
      hmp_migrate_set_parameter_cmd },
    { "mouse_button", "state", "change mouse button state (1=L, 2=R, 4=M)",
      ARGS_REST, hmp_mouse_button },
    { "mouse_move", "dx dy [dz]", "send mouse move events", ARGS_REST,
      hmp_mouse_move },
    { "qom-get", "path property", "print QOM property", ARGS_REST,
      hmp_qom_get },
    { "qom-list", "path", "list QOM properties", ARGS_REST, hmp_qom_list },
    { "qom-set", "[-j] path property value", "set QOM property. -j: the "
      "value is specified in json format.", ARGS_REST, hmp_qom_set },
    { "quit|q", "", "quit the emulator", ARGS_NONE, hmp_quit },
    { "savevm", "[tag]", "save a VM snapshot. If no tag is provided, a new "
      "snapshot is created", ARGS_REST, hmp_savevm_cmd },
    { "screendump", "filename [-f format] [device [head]]",
      "save screen from head 'head' of display device 'device' in "
      "specified format 'format' as image 'filename'. Currently only 'png' "
      "and 'ppm' formats are supported.", ARGS_REST, hmp_screendump },
    { "sendkey", "keys [hold_ms]", "send keys to the VM (e.g. 'sendkey "
      "ctrl-alt-f1', default hold time=100 ms)", ARGS_REST, hmp_sendkey },
    { "set_link", "name on|off", "change the link status of a network "
      "adapter", ARGS_REST, hmp_set_link },
    { "set_password", "protocol password [action-if-connected]",
      "set the password of a remote display (protocol: vnc)", ARGS_REST,
      hmp_set_password },
    { "stop|s", "", "stop emulation", ARGS_NONE, hmp_stop },
    { "system_powerdown", "", "send system power down event", ARGS_NONE,
      hmp_system_powerdown },
    { "system_reset", "", "reset the system", ARGS_NONE, hmp_system_reset },
    { "x", "/fmt addr", "virtual memory dump starting at 'addr'",
      ARGS_FMT_EXPR, hmp_x },
    { "xp", "/fmt addr", "physical memory dump starting at 'addr'",
      ARGS_FMT_EXPR, hmp_xp },
    { NULL },
};

static const HmpCommand hmp_info_commands[] = {
    { "balloon", "", "show balloon information", ARGS_NONE,
      hmp_info_balloon },
    { "block", "[-n] [-v] [device]", "show info of one block device or all "
      "block devices (-n: show named nodes; -v: show details)", ARGS_REST,
      hmp_info_block },
    { "blockstats", "", "show block device statistics", ARGS_NONE,
      hmp_info_blockstats },
    { "chardev", "", "show the character devices", ARGS_NONE,
      hmp_info_chardev },
    { "cpus", "", "show infos for each CPU", ARGS_NONE, hmp_info_cpus },
    { "iothreads", "", "show iothreads", ARGS_NONE, hmp_info_iothreads },
    { "kvm", "", "show KVM information", ARGS_NONE, hmp_info_kvm },
    { "migrate", "", "show migration status", ARGS_NONE,
      hmp_info_migrate_cmd },
    { "migrate_parameters", "", "show current migration parameters",
      ARGS_NONE, hmp_info_migrate_parameters_cmd },
    { "mtree", "", "show memory tree", ARGS_NONE, hmp_info_mtree },
    { "name", "", "show the current VM name", ARGS_NONE, hmp_info_name },
    { "pci", "", "show PCI info", ARGS_NONE, hmp_info_pci },
    { "qtree", "", "show device tree", ARGS_NONE, hmp_info_qtree },
    { "registers", "[-a|vcpu]", "show the cpu registers (-a: show register "
      "info for all cpus; vcpu: specific vCPU to query; show the current "
      "CPU's registers if no argument is specified)", ARGS_REGISTERS,
      hmp_info_registers },
    { "snapshots", "", "show the currently saved VM snapshots", ARGS_NONE,
      hmp_info_snapshots_cmd },
    { "status", "", "show the current VM status (running|paused)", ARGS_NONE,
      hmp_info_status },
    { "uuid", "", "show the current VM UUID", ARGS_NONE, hmp_info_uuid },
    { "version", "", "show the version of QEMU", ARGS_NONE,
      hmp_info_version },
    { "vnc", "", "show the vnc server status", ARGS_NONE, hmp_info_vnc },
    { NULL },
};

/* "stop|s" matches "stop" and "s". */
static bool name_matches(const char *names, const char *word, size_t len)
{
    const char *p = names;

    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && !strncmp(p, word, len)) {
            return true;
        }
        p += n + (bar ? 1 : 0);
    }
    return false;
}

static const HmpCommand *find_command(const HmpCommand *table,
                                      const char *word, size_t len)
{
    for (const HmpCommand *c = table; c->name; c++) {
        if (name_matches(c->name, word, len)) {
            return c;
        }
    }
    return NULL;
}

static void print_command_help(const char *prefix, const HmpCommand *c,
                               GString *out)
{
    g_string_append_printf(out, "%s%s %s -- %s\n", prefix, c->name, c->params,
                           c->help);
}

/* Reads a command word: up to a blank or, for x/fmt, a '/'. */
static size_t command_word(Parser *ps, const char **word)
{
    skip_spaces(ps);
    *word = ps->p;
    while (*ps->p && *ps->p != ' ' && *ps->p != '\t' && *ps->p != '/') {
        ps->p++;
    }
    return ps->p - *word;
}

/*
 * Parses the arguments of c and runs it. typed: the words that named it
 * ("info status"), for the hint after a bad argument.
 */
static void run_command(HmpContext *ctx, const HmpCommand *c, Parser *ps,
                        const char *typed, GString *out)
{
    HmpArgs a;

    if (!parse_args(ps, c->args, &a)) {
        if (ps->error) {
            g_string_append_printf(out, "%s\n", ps->error);
        } else {
            /* QEMU names the command as its table spells it */
            g_string_append_printf(out, "%s: extraneous characters at the "
                                   "end of line\n", c->name);
        }
        g_string_append_printf(out, "Try \"help %s\" for more information\n",
                               typed);
        g_clear_pointer(&ps->error, g_free);
        return;
    }
    c->fn(ctx, &a, out);
}

static void hmp_info(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    Parser ps = { a->rest, NULL };
    const HmpCommand *c;
    const char *word;
    size_t len = command_word(&ps, &word);
    char *typed;

    if (len == 0) {
        for (c = hmp_info_commands; c->name; c++) {
            print_command_help("info ", c, out);
        }
        return;
    }
    typed = g_strdup_printf("info %.*s", (int)len, word);
    c = find_command(hmp_info_commands, word, len);
    if (!c) {
        g_string_append_printf(out, "unknown command: '%s'\n", typed);
    } else {
        run_command(ctx, c, &ps, typed, out);
    }
    g_free(typed);
}

static void hmp_help(HmpContext *ctx, const HmpArgs *a, GString *out)
{
    Parser ps = { a->rest, NULL };
    const HmpCommand *c;
    const char *word;
    size_t len = command_word(&ps, &word);

    if (len == 0) {
        for (c = hmp_commands; c->name; c++) {
            print_command_help("", c, out);
        }
        return;
    }
    c = find_command(hmp_commands, word, len);
    if (!c) {
        g_string_append_printf(out, "unknown command: '%.*s'\n", (int)len,
                               word);
        return;
    }
    if (c->fn == hmp_info) {
        const char *sub;
        size_t sublen = command_word(&ps, &sub);
        const HmpCommand *s;

        if (sublen == 0) {
            hmp_info(ctx, &(HmpArgs){ .rest = "" }, out);
            return;
        }
        s = find_command(hmp_info_commands, sub, sublen);
        if (!s) {
            g_string_append_printf(out, "unknown command: 'info %.*s'\n",
                                   (int)sublen, sub);
        } else {
            print_command_help("info ", s, out);
        }
        return;
    }
    print_command_help("", c, out);
}

void hmp_run(HmpContext *ctx, const char *line, GString *out)
{
    Parser ps = { line, NULL };
    const HmpCommand *c;
    const char *word;
    size_t len = command_word(&ps, &word);
    char *typed;

    if (len == 0) {
        if (*ps.p == '/') {
            g_string_append(out, "unknown command: '/'\n");
        }
        return;
    }
    typed = g_strndup(word, len);
    c = find_command(hmp_commands, word, len);
    if (!c) {
        g_string_append_printf(out, "unknown command: '%s'\n", typed);
    } else {
        run_command(ctx, c, &ps, typed, out);
    }
    g_free(typed);
}

void hmp_execute(const char *line, GString *out)
{
    HmpContext ctx = { 0 };

    hmp_run(&ctx, line, out);
}
