/*
 * Line editing for the human monitor, as a terminal user expects it (and
 * QEMU's readline offers): insertion, Backspace/Delete, Ctrl-U, cursor keys,
 * Home/End, history on Up/Down. Escape sequences it does not know are
 * swallowed whole so that they never end up in a command line.
 */
#include <stdlib.h>
#include <string.h>

#include "readline.h"

enum {
    ESC_NONE,
    ESC_GOT_ESC,    /* ESC */
    ESC_CSI,        /* ESC [ params... final */
    ESC_SS3,        /* ESC O final (application cursor keys) */
};

void readline_init(ReadLine *rl, const char *prompt)
{
    memset(rl, 0, sizeof(*rl));
    rl->prompt = prompt;
}

void readline_free(ReadLine *rl)
{
    for (int i = 0; i < rl->history_len; i++) {
        g_free(rl->history[i]);
    }
    g_free(rl->line);
    memset(rl, 0, sizeof(*rl));
}

void readline_reset(ReadLine *rl)
{
    rl->len = rl->pos = 0;
    rl->buf[0] = '\0';
    rl->overflow = false;
    rl->last_was_cr = false;
    rl->esc_state = ESC_NONE;
    rl->history_pos = rl->history_len;
}

const char *readline_line(ReadLine *rl)
{
    return rl->line ? rl->line : "";
}

static void cursor_left(GString *echo, size_t n)
{
    if (n) {
        g_string_append_printf(echo, "\033[%zuD", n);
    }
}

static void cursor_right(GString *echo, size_t n)
{
    if (n) {
        g_string_append_printf(echo, "\033[%zuC", n);
    }
}

void readline_show_prompt(ReadLine *rl, GString *echo)
{
    g_string_append(echo, rl->prompt);
    g_string_append_len(echo, rl->buf, rl->len);
    cursor_left(echo, rl->len - rl->pos);
}

/* Redraws the whole line after an edit that is not a plain append. */
static void refresh(ReadLine *rl, GString *echo)
{
    g_string_append_c(echo, '\r');
    g_string_append(echo, rl->prompt);
    g_string_append_len(echo, rl->buf, rl->len);
    g_string_append(echo, "\033[K");
    cursor_left(echo, rl->len - rl->pos);
}

static void set_line(ReadLine *rl, const char *text, GString *echo)
{
    size_t n = MIN(strlen(text), sizeof(rl->buf) - 1);

    memcpy(rl->buf, text, n);
    rl->buf[n] = '\0';
    rl->len = rl->pos = n;
    rl->overflow = false;
    refresh(rl, echo);
}

static void insert_char(ReadLine *rl, char c, GString *echo)
{
    if (rl->len + 1 >= sizeof(rl->buf)) {
        if (!rl->overflow) {
            g_string_append_c(echo, '\a');  /* once, not per key */
        }
        rl->overflow = true;
        return;
    }
    memmove(rl->buf + rl->pos + 1, rl->buf + rl->pos, rl->len - rl->pos);
    rl->buf[rl->pos++] = c;
    rl->buf[++rl->len] = '\0';
    if (rl->pos == rl->len) {
        g_string_append_c(echo, c);
    } else {
        g_string_append_len(echo, rl->buf + rl->pos - 1,
                            rl->len - rl->pos + 1);
        cursor_left(echo, rl->len - rl->pos);
    }
}

static void delete_at(ReadLine *rl, size_t at, GString *echo)
{
    bool at_end = at + 1 == rl->len && rl->pos == rl->len;

    memmove(rl->buf + at, rl->buf + at + 1, rl->len - at - 1);
    rl->buf[--rl->len] = '\0';
    if (rl->pos > at) {
        rl->pos--;
    }
    if (at_end) {
        g_string_append(echo, "\b \b");
    } else {
        refresh(rl, echo);
    }
}

static void history_add(ReadLine *rl, const char *line)
{
    if (!*line || (rl->history_len > 0 &&
                   !strcmp(rl->history[rl->history_len - 1], line))) {
        return;
    }
    if (rl->history_len == READLINE_HISTORY) {
        g_free(rl->history[0]);
        memmove(rl->history, rl->history + 1,
                (READLINE_HISTORY - 1) * sizeof(rl->history[0]));
        rl->history_len--;
    }
    rl->history[rl->history_len++] = g_strdup(line);
}

static void history_move(ReadLine *rl, int delta, GString *echo)
{
    int to = rl->history_pos + delta;

    if (to < 0 || to > rl->history_len) {
        return;
    }
    rl->history_pos = to;
    set_line(rl, to == rl->history_len ? "" : rl->history[to], echo);
}

/* The keys that escape sequences and control characters stand for. */
typedef enum Key {
    KEY_UP, KEY_DOWN, KEY_RIGHT, KEY_LEFT, KEY_HOME, KEY_END, KEY_DELETE,
} Key;

static void do_key(ReadLine *rl, Key key, GString *echo)
{
    switch (key) {
    case KEY_UP:
        history_move(rl, -1, echo);
        break;
    case KEY_DOWN:
        history_move(rl, 1, echo);
        break;
    case KEY_LEFT:
        if (rl->pos > 0) {
            rl->pos--;
            cursor_left(echo, 1);
        }
        break;
    case KEY_RIGHT:
        if (rl->pos < rl->len) {
            rl->pos++;
            cursor_right(echo, 1);
        }
        break;
    case KEY_HOME:
        cursor_left(echo, rl->pos);
        rl->pos = 0;
        break;
    case KEY_END:
        cursor_right(echo, rl->len - rl->pos);
        rl->pos = rl->len;
        break;
    case KEY_DELETE:
        if (rl->pos < rl->len) {
            delete_at(rl, rl->pos, echo);
        }
        break;
    }
}

/* ESC [ ... final, or ESC O final: the cursor keys and their friends. */
static void escape_final(ReadLine *rl, uint8_t final, GString *echo)
{
    int param = rl->esc_param_len ? atoi(rl->esc_param) : 0;

    switch (final) {
    case 'A': do_key(rl, KEY_UP, echo); break;
    case 'B': do_key(rl, KEY_DOWN, echo); break;
    case 'C': do_key(rl, KEY_RIGHT, echo); break;
    case 'D': do_key(rl, KEY_LEFT, echo); break;
    case 'H': do_key(rl, KEY_HOME, echo); break;
    case 'F': do_key(rl, KEY_END, echo); break;
    case '~':
        if (param == 1 || param == 7) {
            do_key(rl, KEY_HOME, echo);
        } else if (param == 4 || param == 8) {
            do_key(rl, KEY_END, echo);
        } else if (param == 3) {
            do_key(rl, KEY_DELETE, echo);
        }
        break;
    default:
        break;      /* unknown sequences are swallowed */
    }
}

static bool feed_escape(ReadLine *rl, uint8_t c, GString *echo)
{
    switch (rl->esc_state) {
    case ESC_GOT_ESC:
        rl->esc_param_len = 0;
        rl->esc_param[0] = '\0';
        rl->esc_state = c == '[' ? ESC_CSI : c == 'O' ? ESC_SS3 : ESC_NONE;
        return true;
    case ESC_SS3:
        rl->esc_state = ESC_NONE;
        escape_final(rl, c, echo);
        return true;
    case ESC_CSI:
        if (c >= 0x30 && c <= 0x3f) {       /* parameter bytes */
            if (rl->esc_param_len < (int)sizeof(rl->esc_param) - 1) {
                rl->esc_param[rl->esc_param_len++] = c;
                rl->esc_param[rl->esc_param_len] = '\0';
            }
        } else if (c >= 0x40 && c <= 0x7e) {
            rl->esc_state = ESC_NONE;
            escape_final(rl, c, echo);
        } else if (c < 0x20 || c > 0x7e) {
            rl->esc_state = ESC_NONE;       /* not a sequence after all */
        }
        return true;
    default:
        return false;
    }
}

static ReadLineResult enter(ReadLine *rl, GString *echo)
{
    bool too_long = rl->overflow;

    g_string_append(echo, "\r\n");
    g_free(rl->line);
    rl->line = NULL;
    if (!too_long) {
        rl->line = g_strndup(rl->buf, rl->len);
        history_add(rl, rl->line);
    }
    rl->len = rl->pos = 0;
    rl->buf[0] = '\0';
    rl->overflow = false;
    rl->history_pos = rl->history_len;
    return too_long ? READLINE_TOO_LONG : READLINE_LINE;
}

ReadLineResult readline_feed(ReadLine *rl, uint8_t c, GString *echo)
{
    bool after_cr = rl->last_was_cr;

    rl->last_was_cr = false;
    if (feed_escape(rl, c, echo)) {
        return READLINE_MORE;
    }
    switch (c) {
    case '\r':
        rl->last_was_cr = true;
        return enter(rl, echo);
    case '\n':
        return after_cr ? READLINE_MORE : enter(rl, echo);
    case 0x7f:      /* DEL, what Backspace sends */
    case '\b':
        if (rl->pos > 0) {
            delete_at(rl, rl->pos - 1, echo);
        }
        break;
    case 0x15:      /* Ctrl-U: kill to the start of the line */
        memmove(rl->buf, rl->buf + rl->pos, rl->len - rl->pos);
        rl->len -= rl->pos;
        rl->buf[rl->len] = '\0';
        rl->pos = 0;
        rl->overflow = false;
        refresh(rl, echo);
        break;
    case 0x01:      /* Ctrl-A, Ctrl-E: as in emacs and QEMU */
        do_key(rl, KEY_HOME, echo);
        break;
    case 0x05:
        do_key(rl, KEY_END, echo);
        break;
    case 0x1b:
        rl->esc_state = ESC_GOT_ESC;
        break;
    default:
        /* other control characters (Tab, Ctrl-C, NUL...) do nothing */
        if (c >= 0x20) {
            insert_char(rl, c, echo);
        }
        break;
    }
    return READLINE_MORE;
}
