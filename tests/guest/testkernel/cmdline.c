/*
 * Kernel command line: space-separated words, "key=value" or bare words.
 * Later occurrences of a key win, as in Linux.
 */
#include "testkernel.h"

static bool next_word(const char **p, const char **w, size_t *len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    if (!*s)
        return false;
    *w = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n')
        s++;
    *len = s - *w;
    *p = s;
    return true;
}

bool cmdline_get(const char *key, const char **val, size_t *len)
{
    const char *p = boot.cmdline, *w;
    size_t wl, kl = strlen(key);
    bool found = false;

    while (next_word(&p, &w, &wl)) {
        if (wl > kl && w[kl] == '=' && !strncmp(w, key, kl)) {
            *val = w + kl + 1;
            *len = wl - kl - 1;
            found = true;
        }
    }
    return found;
}

bool cmdline_has_word(const char *word, size_t len)
{
    const char *p = boot.cmdline, *w;
    size_t wl;

    while (next_word(&p, &w, &wl))
        if (wl == len && !strncmp(w, word, len))
            return true;
    return false;
}

bool cmdline_value_is(const char *key, const char *val)
{
    const char *v;
    size_t len;
    return cmdline_get(key, &v, &len) && len == strlen(val) &&
           !strncmp(v, val, len);
}

/* key=a,b,c contains item */
bool cmdline_list_has(const char *key, const char *item)
{
    const char *v;
    size_t len, il = strlen(item);

    if (!cmdline_get(key, &v, &len))
        return false;
    while (len) {
        size_t n = 0;
        while (n < len && v[n] != ',')
            n++;
        if (n == il && !strncmp(v, item, il))
            return true;
        v += n;
        len -= n;
        if (len) {
            v++;
            len--;
        }
    }
    return false;
}
