/*
 * QEMU-style option strings: "value,key=value,key=value" with ",," standing
 * for a literal comma. The first element may be an implied key's value.
 */
#ifndef UTIL_OPTS_H
#define UTIL_OPTS_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct OptPair {
    char *key;
    char *value;
    bool used;
} OptPair;

typedef struct Opts {
    GArray *pairs;  /* of OptPair */
} Opts;

/*
 * implied_key names the key of a first element without '=' (NULL: such an
 * element is an error). A repeated key: opts_get gives the last value,
 * opts_get_all every one (hostfwd=...,hostfwd=...).
 */
Opts *opts_parse(const char *str, const char *implied_key, GError **errp);
void opts_free(Opts *o);
/* Lookups mark a key as used; opts_check_unused() names any left over. */
const char *opts_get(Opts *o, const char *key);
/* Every value of a repeated key, in order (the strings stay Opts'). */
GPtrArray *opts_get_all(Opts *o, const char *key);
bool opts_get_bool(Opts *o, const char *key, bool def, bool *out,
                   GError **errp);
bool opts_get_uint(Opts *o, const char *key, uint64_t def, uint64_t *out,
                   GError **errp);
bool opts_get_size(Opts *o, const char *key, uint64_t def, uint64_t *out,
                   GError **errp);
bool opts_check_unused(Opts *o, const char *what, GError **errp);

/* "on"/"off"/"yes"/"no"/"true"/"false" */
bool parse_bool(const char *s, bool *out, GError **errp);
/* Decimal, 0x hex; no suffix. */
bool parse_uint(const char *s, uint64_t *out, GError **errp);
/* Sizes with K/M/G/T suffixes (binary); default_unit multiplies bare numbers. */
bool parse_size(const char *s, uint64_t default_unit, uint64_t *out,
                GError **errp);
/* QEMU's size_to_str: three significant digits and a binary unit. */
char *size_to_str(uint64_t v);

#ifndef container_of
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define VIREO_ERROR vireo_error_quark()
/* Error codes in VIREO_ERROR that callers act on (0 is any other). */
#define VIREO_ERROR_ACCEL_INIT 1    /* the accelerator is not usable here */
GQuark vireo_error_quark(void);

#endif
