/* stderr diagnostics and the -d/-D debug log. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/opts.h"

unsigned log_mask;
static FILE *log_file;

static const struct { const char *name; unsigned mask; const char *help; }
log_items[] = {
    { "guest_errors", LOG_GUEST_ERROR, "log when the guest does something invalid" },
    { "unimp", LOG_UNIMP, "log unimplemented functionality" },
    { "int", LOG_INT, "log interrupts and exceptions" },
    { "cpu_reset", LOG_CPU_RESET, "log CPU resets" },
    { "exec_stats", LOG_EXEC_STATS,
      "log instructions run per software vCPU at exit (-accel tcg)" },
};

bool log_set_mask(const char *items, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(items, ",", -1);
    unsigned mask = 0;

    for (char **p = parts; *p; p++) {
        size_t i;
        if (!strcmp(*p, "help") || !strcmp(*p, "?")) {
            printf("Log items (comma separated):\n");
            for (i = 0; i < G_N_ELEMENTS(log_items); i++) {
                printf("%-15s %s\n", log_items[i].name, log_items[i].help);
            }
            return false;
        }
        for (i = 0; i < G_N_ELEMENTS(log_items); i++) {
            if (!strcmp(*p, log_items[i].name)) {
                mask |= log_items[i].mask;
                break;
            }
        }
        if (i == G_N_ELEMENTS(log_items)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-d %s: unknown log item '%s' (see -d help)", items,
                        *p);
            return false;
        }
    }
    log_mask = mask;
    return true;
}

bool log_set_file(const char *path, GError **errp)
{
    FILE *f = fopen(path, "a");
    if (!f) {
        g_set_error(errp, VIREO_ERROR, 0, "-D %s: cannot open: %s", path,
                    g_strerror(errno));
        return false;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    log_file = f;
    return true;
}

/* One line in one locked stdio call: vCPU threads log too. */
static void vlog(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);

    fprintf(f, "%s%s\n", prefix, msg);
    fflush(f);
}

/* Errors and warnings name the program: vireo, or vireo-img. */
static const char *prog_name(void)
{
    const char *prog = g_get_prgname();
    return prog ? prog : "vireo";
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *prefix = g_strdup_printf("%s: ", prog_name());
    va_start(ap, fmt);
    vlog(stderr, prefix, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *prefix = g_strdup_printf("%s: warning: ", prog_name());
    va_start(ap, fmt);
    vlog(stderr, prefix, fmt, ap);
    va_end(ap);
}

void log_mask_printf(unsigned mask, const char *fmt, ...)
{
    va_list ap;
    if (!(log_mask & mask)) {
        return;
    }
    va_start(ap, fmt);
    vlog(log_file ? log_file : stderr, "", fmt, ap);
    va_end(ap);
}
