/*
 * Diagnostics: errors for the user on stderr, and QEMU-style -d/-D debug
 * logging of chosen items to a file. Guest-caused messages are rate limited.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <glib.h>
#include <stdbool.h>

enum {
    LOG_GUEST_ERROR = 1 << 0,   /* -d guest_errors */
    LOG_UNIMP = 1 << 1,         /* -d unimp */
    LOG_INT = 1 << 2,           /* -d int */
    LOG_CPU_RESET = 1 << 3,     /* -d cpu_reset */
    LOG_EXEC_STATS = 1 << 4,    /* -d exec_stats */
};

extern unsigned log_mask;

/* -d ITEM,ITEM ("help" lists them and returns false without error). */
bool log_set_mask(const char *items, GError **errp);
/* -D FILE */
bool log_set_file(const char *path, GError **errp);

void log_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_mask_printf(unsigned mask, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Once per call site: for errors a guest can provoke in a loop. */
#define log_error_once(...)                                             \
    do {                                                                \
        static bool done_;                                              \
        if (!done_) {                                                   \
            done_ = true;                                               \
            log_error(__VA_ARGS__);                                     \
        }                                                               \
    } while (0)

#define log_guest_error(...) log_mask_printf(LOG_GUEST_ERROR, __VA_ARGS__)
#define log_unimp(...) log_mask_printf(LOG_UNIMP, __VA_ARGS__)

#endif
