/*
 * The human monitor's line editor: a pure function of the bytes typed and
 * its own state, writing what the terminal must show into a string, so it
 * is tested without a terminal.
 */
#ifndef MONITOR_READLINE_H
#define MONITOR_READLINE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define READLINE_LINE_MAX   4096    /* bytes, including the final NUL */
#define READLINE_HISTORY    64

typedef enum ReadLineResult {
    READLINE_MORE,          /* keep feeding */
    READLINE_LINE,          /* a line was entered: readline_line() */
    READLINE_TOO_LONG,      /* Enter on a line that overflowed: dropped */
} ReadLineResult;

typedef struct ReadLine {
    const char *prompt;
    char buf[READLINE_LINE_MAX];
    size_t len;             /* bytes in buf */
    size_t pos;             /* cursor, 0..len */
    bool overflow;          /* input was refused since the last Enter */
    bool last_was_cr;       /* CR LF counts as one Enter */
    int esc_state;          /* escape sequence parser */
    char esc_param[8];
    int esc_param_len;
    char *history[READLINE_HISTORY];    /* oldest first */
    int history_len;
    int history_pos;        /* == history_len: not browsing */
    char *line;             /* the entered line, after READLINE_LINE */
} ReadLine;

void readline_init(ReadLine *rl, const char *prompt);
void readline_free(ReadLine *rl);
/* Forgets the line being typed (a new client or a lost focus). */
void readline_reset(ReadLine *rl);
/* Feeds one byte; what to echo is appended to echo. */
ReadLineResult readline_feed(ReadLine *rl, uint8_t c, GString *echo);
/* The line READLINE_LINE reported (valid until the next feed). */
const char *readline_line(ReadLine *rl);
/* Prints the prompt and the line typed so far, cursor in place. */
void readline_show_prompt(ReadLine *rl, GString *echo);

#endif
