/* Between the human monitor's terminal side (hmp.c) and its commands. */
#ifndef MONITOR_HMP_PRIV_H
#define MONITOR_HMP_PRIV_H

#include <glib.h>
#include <stdbool.h>

/* What a command line may depend on besides the machine: per monitor. */
typedef struct HmpContext {
    int cpu_index;          /* "cpu N" selects it; x, gva2gpa, registers */
    bool quit_requested;    /* "quit" ran: no prompt after it */
} HmpContext;

/* Runs one command line; what it prints goes to out, lines ending "\n". */
void hmp_run(HmpContext *ctx, const char *line, GString *out);

/* Detaches and frees every human monitor (at exit). */
void hmp_cleanup_all(void);

#endif
