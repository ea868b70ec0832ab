/* Between the human monitor's terminal side (hmp.c) and its commands. */
#ifndef MONITOR_HMP_PRIV_H
#define MONITOR_HMP_PRIV_H

#include <glib.h>
#include <stdbool.h>

/*
 * A command that goes on after it returned (migrate without -d): polled
 * every 100 ms; true once it ended, with what it has to say in out.
 */
typedef bool HmpWaitFunc(GString *out);

/* What a command line may depend on besides the machine: per monitor. */
typedef struct HmpContext {
    int cpu_index;          /* "cpu N" selects it; x, gva2gpa, registers */
    bool quit_requested;    /* "quit" ran: no prompt after it */
    /* a terminal can hold its prompt while a command waits; QMP's
     * human-monitor-command cannot */
    bool can_wait;
    HmpWaitFunc *wait;      /* set by such a command: hold the prompt */
} HmpContext;

/* Runs one command line; what it prints goes to out, lines ending "\n". */
void hmp_run(HmpContext *ctx, const char *line, GString *out);

/* The migration and snapshot commands (hmp-migration.c): rest is the line after the
 * command name. */
void hmp_migrate(HmpContext *ctx, const char *rest, GString *out);
void hmp_migrate_cancel(const char *rest, GString *out);
void hmp_migrate_incoming(const char *rest, GString *out);
void hmp_migrate_set_parameter(const char *rest, GString *out);
void hmp_info_migrate(const char *rest, GString *out);
void hmp_info_migrate_parameters(const char *rest, GString *out);
void hmp_savevm(const char *rest, GString *out);
void hmp_loadvm(const char *rest, GString *out);
void hmp_delvm(const char *rest, GString *out);
void hmp_info_snapshots(const char *rest, GString *out);

/* Detaches and frees every human monitor (at exit). */
void hmp_cleanup_all(void);

#endif
