/*
 * SMBIOS structures for the PC's firmware (DMTF DSP0134 3.x), laid out and
 * defaulted as QEMU's pc does, with `-smbios type=N,...` and `file=`.
 */
#include <stdio.h>
#include <string.h>

#include "hw/i386/smbios.h"
#include "util/le.h"
#include "util/opts.h"

/* QEMU's handle numbering: 0x100 apart per type */
#define T0_BASE 0x000
#define T1_BASE 0x100
#define T2_BASE 0x200
#define T3_BASE 0x300
#define T4_BASE 0x400
#define T11_BASE 0xe00
#define T16_BASE 0x1000
#define T17_BASE 0x1100
#define T19_BASE 0x1300
#define T32_BASE 0x2000
#define T127_BASE 0x7f00

#define MAX_DIMM_SIZE (16ULL << 30) /* one type 17 per 16 GiB */
#define SMBIOS_MAX_TYPE 127
#define SMBIOS_FILE_MAX (1 << 20)

/* The fields -smbios accepts per type (QEMU's spellings). */
static const char *const t0_keys[] = {"vendor",  "version", "date",
                                      "release", "uefi",    NULL};
static const char *const t1_keys[] = {"manufacturer", "product", "version",
                                      "serial",       "uuid",    "sku",
                                      "family",       NULL};
static const char *const t2_keys[] = {
    "manufacturer", "product", "version", "serial", "asset", "location", NULL};
static const char *const t3_keys[] = {"manufacturer", "version", "serial",
                                      "asset",        "sku",     NULL};
static const char *const t4_keys[] = {"sock_pfx",  "manufacturer",  "version",
                                      "serial",    "asset",         "part",
                                      "max-speed", "current-speed", NULL};
static const char *const t11_keys[] = {"value", NULL};
static const char *const t17_keys[] = {"loc_pfx", "bank",  "manufacturer",
                                       "serial",  "asset", "part",
                                       "speed",   NULL};

static const char *const *type_keys(unsigned type)
{
    switch (type) {
    case 0:
        return t0_keys;
    case 1:
        return t1_keys;
    case 2:
        return t2_keys;
    case 3:
        return t3_keys;
    case 4:
        return t4_keys;
    case 11:
        return t11_keys;
    case 17:
        return t17_keys;
    default:
        return NULL;
    }
}

static bool check_uint(Opts *o, const char *key, uint64_t max, GError **errp)
{
    uint64_t v;
    const char *s = opts_get(o, key);

    if (s && (!parse_uint(s, &v, NULL) || v > max)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s=%s: expected a number from 0 to %" G_GUINT64_FORMAT,
                    key, s, max);
        return false;
    }
    return true;
}

/* "major.minor", each 0-255 (type 0 release=) */
static bool parse_release(const char *s, uint8_t *major, uint8_t *minor)
{
    unsigned a, b;
    char end;

    if (sscanf(s, "%u.%u%c", &a, &b, &end) != 2 || a > 255 || b > 255) {
        return false;
    }
    *major = a;
    *minor = b;
    return true;
}

/* Parses and checks one -smbios argument; the caller frees *out. */
static bool parse_option(const char *arg, Opts **out, unsigned *type_out,
                         GError **errp)
{
    Opts *o = opts_parse(arg, NULL, errp);
    const char *t, *file;
    uint64_t type;

    if (!o) {
        return false;
    }
    file = opts_get(o, "file");
    t = opts_get(o, "type");
    if (file) {
        if (t || !opts_check_unused(o, "-smbios file=", errp)) {
            if (t) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "file= and type= cannot be used together");
            }
            goto fail;
        }
        *type_out = UINT32_MAX;
        *out = o;
        return true;
    }
    if (!t) {
        g_set_error(errp, VIREO_ERROR, 0, "expected type=N or file=FILE");
        goto fail;
    }
    if (!parse_uint(t, &type, NULL) || !type_keys(type)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Don't know how to build fields for SMBIOS type %s "
                    "(supported: 0, 1, 2, 3, 4, 11, 17)",
                    t);
        goto fail;
    }
    for (const char *const *k = type_keys(type); *k; k++) {
        opts_get(o, *k);
    }
    if (!opts_check_unused(o, "-smbios", errp)) {
        goto fail;
    }
    const char *v;
    uint8_t a, b;
    bool on;
    if (type == 0 && (v = opts_get(o, "release")) &&
        !parse_release(v, &a, &b)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "release=%s: expected MAJOR.MINOR, each 0-255", v);
        goto fail;
    }
    if (type == 0 && !opts_get_bool(o, "uefi", false, &on, errp)) {
        goto fail;
    }
    if (type == 1 && (v = opts_get(o, "uuid")) && !g_uuid_string_is_valid(v)) {
        g_set_error(errp, VIREO_ERROR, 0, "uuid=%s: Invalid UUID", v);
        goto fail;
    }
    if (type == 4 && (!check_uint(o, "max-speed", 0xffff, errp) ||
                      !check_uint(o, "current-speed", 0xffff, errp))) {
        goto fail;
    }
    if (type == 17 && !check_uint(o, "speed", 0xffff, errp)) {
        goto fail;
    }
    *type_out = type;
    *out = o;
    return true;
fail:
    opts_free(o);
    return false;
}

bool smbios_check_option(const char *arg, GError **errp)
{
    Opts *o;
    unsigned type;

    if (!parse_option(arg, &o, &type, errp)) {
        g_prefix_error(errp, "-smbios %s: ", arg);
        return false;
    }
    opts_free(o);
    return true;
}

/* --- building --- */

typedef struct SmbiosBuild {
    GByteArray *out;
    GHashTable *fields[SMBIOS_MAX_TYPE + 1]; /* key -> value, per type */
    bool have_fields[SMBIOS_MAX_TYPE + 1];
    bool from_file[SMBIOS_MAX_TYPE + 1];
    GPtrArray *oem_strings; /* type 11 value= */
    unsigned max_struct_size;
    unsigned nr_structs;
} SmbiosBuild;

static const char *field(SmbiosBuild *b, unsigned type, const char *key,
                         const char *def)
{
    const char *v =
        b->fields[type] ? g_hash_table_lookup(b->fields[type], key) : NULL;
    return v ? v : def;
}

/* One structure being built: its formatted area, then its strings. */
typedef struct SmbiosStruct {
    GByteArray *area;
    GByteArray *strings;
    unsigned nr_strings;
} SmbiosStruct;

static void struct_begin(SmbiosStruct *st, uint8_t type, uint8_t len,
                         uint16_t handle)
{
    st->area = g_byte_array_sized_new(len);
    g_byte_array_set_size(st->area, len);
    memset(st->area->data, 0, len);
    st->area->data[0] = type;
    st->area->data[1] = len;
    st16(st->area->data + 2, handle);
    st->strings = g_byte_array_new();
    st->nr_strings = 0;
}

/* Sets the string field at off; NULL or "" leaves it 0 (no string). */
static void struct_string(SmbiosStruct *st, unsigned off, const char *s)
{
    if (!s || !*s) {
        return;
    }
    g_byte_array_append(st->strings, (const uint8_t *)s, strlen(s) + 1);
    st->area->data[off] = ++st->nr_strings;
}

static void struct_end(SmbiosBuild *b, SmbiosStruct *st)
{
    unsigned start = b->out->len;
    static const uint8_t nul[2] = {0, 0};

    g_byte_array_append(b->out, st->area->data, st->area->len);
    if (st->strings->len) {
        g_byte_array_append(b->out, st->strings->data, st->strings->len);
        g_byte_array_append(b->out, nul, 1);
    } else {
        g_byte_array_append(b->out, nul, 2);
    }
    b->max_struct_size = MAX(b->max_struct_size, b->out->len - start);
    b->nr_structs++;
    g_byte_array_unref(st->area);
    g_byte_array_unref(st->strings);
}

static void build_type0(SmbiosBuild *b)
{
    SmbiosStruct st;
    uint8_t major = 0, minor = 0;
    const char *rel = field(b, 0, "release", NULL);
    bool uefi = !g_strcmp0(field(b, 0, "uefi", "off"), "on");

    struct_begin(&st, 0, 0x18, T0_BASE);
    struct_string(&st, 4, field(b, 0, "vendor", NULL));
    struct_string(&st, 5, field(b, 0, "version", NULL));
    st16(st.area->data + 6, 0xe800); /* BIOS starting segment */
    struct_string(&st, 8, field(b, 0, "date", NULL));
    st64(st.area->data + 10, 0x08);               /* characteristics: n/a */
    st.area->data[19] = 0x1c | (uefi ? 0x08 : 0); /* targeted boot, VM */
    if (rel && parse_release(rel, &major, &minor)) {
        st.area->data[20] = major;
        st.area->data[21] = minor;
    } else {
        st.area->data[20] = st.area->data[21] = 0xff;
    }
    st.area->data[22] = st.area->data[23] = 0xff; /* no embedded controller */
    struct_end(b, &st);
}

/* SMBIOS 2.6+: the first three UUID fields are little-endian. */
static void put_uuid(uint8_t *p, const char *uuid)
{
    uint8_t raw[16] = {0};
    unsigned n = 0;

    if (!uuid) {
        memset(p, 0, 16);
        return;
    }
    for (const char *c = uuid; *c && n < 32; c++) {
        if (g_ascii_isxdigit(*c)) {
            raw[n / 2] |= g_ascii_xdigit_value(*c) << (n % 2 ? 0 : 4);
            n++;
        }
    }
    static const uint8_t order[16] = {3, 2, 1,  0,  5,  4,  7,  6,
                                      8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++) {
        p[i] = raw[order[i]];
    }
}

static void build_type1(SmbiosBuild *b, const SmbiosConfig *cfg)
{
    SmbiosStruct st;

    struct_begin(&st, 1, 0x1b, T1_BASE);
    struct_string(&st, 4, field(b, 1, "manufacturer", "QEMU"));
    struct_string(&st, 5, field(b, 1, "product", cfg->product));
    struct_string(&st, 6, field(b, 1, "version", cfg->version));
    struct_string(&st, 7, field(b, 1, "serial", NULL));
    put_uuid(st.area->data + 8, field(b, 1, "uuid", cfg->uuid));
    st.area->data[24] = 0x06; /* woken by power switch */
    struct_string(&st, 25, field(b, 1, "sku", NULL));
    struct_string(&st, 26, field(b, 1, "family", NULL));
    struct_end(b, &st);
}

static void build_type2(SmbiosBuild *b)
{
    SmbiosStruct st;

    struct_begin(&st, 2, 0x0f, T2_BASE);
    struct_string(&st, 4, field(b, 2, "manufacturer", "QEMU"));
    struct_string(&st, 5, field(b, 2, "product", NULL));
    struct_string(&st, 6, field(b, 2, "version", NULL));
    struct_string(&st, 7, field(b, 2, "serial", NULL));
    struct_string(&st, 8, field(b, 2, "asset", NULL));
    st.area->data[9] = 0x01; /* a hosting board */
    struct_string(&st, 10, field(b, 2, "location", NULL));
    st16(st.area->data + 11, T3_BASE);
    st.area->data[13] = 0x0a; /* motherboard */
    struct_end(b, &st);
}

static void build_type3(SmbiosBuild *b, const SmbiosConfig *cfg)
{
    SmbiosStruct st;

    struct_begin(&st, 3, 0x16, T3_BASE);
    struct_string(&st, 4, field(b, 3, "manufacturer", "QEMU"));
    st.area->data[5] = 0x01; /* other */
    struct_string(&st, 6, field(b, 3, "version", cfg->version));
    struct_string(&st, 7, field(b, 3, "serial", NULL));
    struct_string(&st, 8, field(b, 3, "asset", NULL));
    st.area->data[9] = 0x03;  /* boot-up state: safe */
    st.area->data[10] = 0x03; /* power supply: safe */
    st.area->data[11] = 0x03; /* thermal: safe */
    st.area->data[12] = 0x02; /* security: unknown */
    struct_string(&st, 21, field(b, 3, "sku", NULL));
    struct_end(b, &st);
}

static unsigned field_uint(SmbiosBuild *b, unsigned type, const char *key,
                           unsigned def)
{
    uint64_t v;
    const char *s = field(b, type, key, NULL);

    return s && parse_uint(s, &v, NULL) ? v : def;
}

/* One per socket, SMBIOS 3.0 length (core/thread counts beyond 255). */
static void build_type4(SmbiosBuild *b, const SmbiosConfig *cfg, unsigned index)
{
    SmbiosStruct st;
    unsigned cores = MAX(cfg->cores, 1);
    unsigned threads = cores * MAX(cfg->threads, 1);
    g_autofree char *sock =
        g_strdup_printf("%s %u", field(b, 4, "sock_pfx", "CPU"), index);
    unsigned speed = field_uint(b, 4, "current-speed", 2000);

    struct_begin(&st, 4, 0x30, T4_BASE + index);
    struct_string(&st, 4, sock);
    st.area->data[5] = 0x03; /* central processor */
    st.area->data[6] = 0xfe; /* see family 2 */
    struct_string(&st, 7, field(b, 4, "manufacturer", "QEMU"));
    struct_string(&st, 16, field(b, 4, "version", cfg->version));
    st16(st.area->data + 20, field_uint(b, 4, "max-speed", 2000));
    st16(st.area->data + 22, speed);
    st.area->data[24] = 0x41;         /* populated, enabled */
    st.area->data[25] = 0x01;         /* upgrade: other */
    st16(st.area->data + 26, 0xffff); /* no cache structures */
    st16(st.area->data + 28, 0xffff);
    st16(st.area->data + 30, 0xffff);
    struct_string(&st, 32, field(b, 4, "serial", NULL));
    struct_string(&st, 33, field(b, 4, "asset", NULL));
    struct_string(&st, 34, field(b, 4, "part", NULL));
    st.area->data[35] = MIN(cores, 0xff);
    st.area->data[36] = MIN(cores, 0xff);
    st.area->data[37] = MIN(threads, 0xff);
    st16(st.area->data + 38, 0x02); /* characteristics: unknown */
    st16(st.area->data + 40, 0x01); /* family 2: other */
    st16(st.area->data + 42, MIN(cores, 0xffff));
    st16(st.area->data + 44, MIN(cores, 0xffff));
    st16(st.area->data + 46, MIN(threads, 0xffff));
    struct_end(b, &st);
}

static void build_type11(SmbiosBuild *b)
{
    SmbiosStruct st;
    unsigned n = MIN(b->oem_strings->len, 255);

    struct_begin(&st, 11, 5, T11_BASE);
    for (unsigned i = 0; i < n; i++) {
        const char *s = g_ptr_array_index(b->oem_strings, i);
        /* an empty OEM string would end the set: give it a space */
        g_byte_array_append(st.strings, (const uint8_t *)(*s ? s : " "),
                            strlen(*s ? s : " ") + 1);
    }
    st.area->data[4] = n;
    struct_end(b, &st);
}

static void build_type16(SmbiosBuild *b, uint64_t ram, unsigned dimms)
{
    SmbiosStruct st;
    uint64_t kb = ram >> 10;

    struct_begin(&st, 16, 0x17, T16_BASE);
    st.area->data[4] = 0x01; /* location: other */
    st.area->data[5] = 0x03; /* system memory */
    st.area->data[6] = 0x06; /* multi-bit ECC */
    if (kb < 0x80000000ULL) {
        st32(st.area->data + 7, kb);
    } else {
        st32(st.area->data + 7, 0x80000000);
        st64(st.area->data + 15, ram);
    }
    st16(st.area->data + 11, 0xfffe); /* no error information */
    st16(st.area->data + 13, dimms);
    struct_end(b, &st);
}

static void build_type17(SmbiosBuild *b, unsigned index, uint64_t size)
{
    SmbiosStruct st;
    uint64_t mb = size >> 20;
    g_autofree char *loc =
        g_strdup_printf("%s %u", field(b, 17, "loc_pfx", "DIMM"), index);
    unsigned speed = field_uint(b, 17, "speed", 0);

    struct_begin(&st, 17, 0x28, T17_BASE + index);
    st16(st.area->data + 4, T16_BASE);
    st16(st.area->data + 6, 0xfffe);
    st16(st.area->data + 8, 0xffff); /* widths unknown */
    st16(st.area->data + 10, 0xffff);
    if (mb < 0x7fff) {
        st16(st.area->data + 12, mb);
    } else {
        st16(st.area->data + 12, 0x7fff);
        st32(st.area->data + 28, mb);
    }
    st.area->data[14] = 0x09; /* DIMM */
    struct_string(&st, 16, loc);
    struct_string(&st, 17, field(b, 17, "bank", NULL));
    st.area->data[18] = 0x07;       /* RAM */
    st16(st.area->data + 19, 0x02); /* other */
    st16(st.area->data + 21, speed);
    struct_string(&st, 23, field(b, 17, "manufacturer", "QEMU"));
    struct_string(&st, 24, field(b, 17, "serial", NULL));
    struct_string(&st, 25, field(b, 17, "asset", NULL));
    struct_string(&st, 26, field(b, 17, "part", NULL));
    st16(st.area->data + 32, speed);
    struct_end(b, &st);
}

static void build_type19(SmbiosBuild *b, unsigned index, uint64_t start,
                         uint64_t size)
{
    SmbiosStruct st;
    uint64_t end = start + size - 1;

    struct_begin(&st, 19, 0x1f, T19_BASE + index);
    if ((end >> 10) < 0xffffffffULL) {
        st32(st.area->data + 4, start >> 10);
        st32(st.area->data + 8, end >> 10);
    } else {
        st32(st.area->data + 4, 0xffffffff);
        st32(st.area->data + 8, 0xffffffff);
        st64(st.area->data + 15, start);
        st64(st.area->data + 23, end);
    }
    st16(st.area->data + 12, T16_BASE);
    st.area->data[14] = 1; /* partition width */
    struct_end(b, &st);
}

static void build_simple(SmbiosBuild *b, uint8_t type, uint8_t len,
                         uint16_t handle)
{
    SmbiosStruct st;

    struct_begin(&st, type, len, handle);
    struct_end(b, &st);
}

/*
 * Appends the structures of a -smbios file= blob after checking each one:
 * a 4-byte header at least, a string set that ends inside the file with a
 * double NUL. Returns the types it held in *types.
 */
static bool add_file(SmbiosBuild *b, const char *path, GError **errp)
{
    g_autofree char *data = NULL;
    gsize len;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_set_error(errp, VIREO_ERROR, 0, "-smbios file=%s: %s", path,
                    err->message);
        return false;
    }
    if (len == 0 || len > SMBIOS_FILE_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "-smbios file=%s: %s", path,
                    len ? "larger than 1 MiB" : "empty");
        return false;
    }
    const uint8_t *p = (const uint8_t *)data;
    size_t off = 0;
    while (off < len) {
        size_t start = off;
        if (len - off < 4 || p[off + 1] < 4 || p[off + 1] > len - off) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-smbios file=%s: structure at offset %zu is "
                        "truncated or its length is wrong",
                        path, off);
            return false;
        }
        uint8_t type = p[off];
        off += p[off + 1];
        /* the string set ends with two NULs */
        while (off + 1 < len && !(p[off] == 0 && p[off + 1] == 0)) {
            off++;
        }
        if (off + 1 >= len) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-smbios file=%s: structure at offset %zu has no "
                        "string-set terminator",
                        path, start);
            return false;
        }
        off += 2;
        if (type <= SMBIOS_MAX_TYPE && b->have_fields[type]) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-smbios file=%s: can't load type %u struct, fields "
                        "already specified!",
                        path, type);
            return false;
        }
        if (type <= SMBIOS_MAX_TYPE) {
            b->from_file[type] = true;
        }
        g_byte_array_append(b->out, p + start, off - start);
        b->max_struct_size = MAX(b->max_struct_size, off - start);
        b->nr_structs++;
    }
    return true;
}

static GByteArray *build_anchor(uint32_t tables_len)
{
    GByteArray *a = g_byte_array_new();
    uint8_t ep[SMBIOS_30_ANCHOR_SIZE] = {0};
    uint8_t sum = 0;

    memcpy(ep, "_SM3_", 5);
    ep[6] = SMBIOS_30_ANCHOR_SIZE;
    ep[7] = 3; /* SMBIOS 3.0 */
    ep[8] = 0;
    ep[9] = 0;  /* docrev */
    ep[10] = 1; /* entry point revision: 3.0 */
    st32(ep + 12, tables_len);
    st64(ep + 16, 0); /* the firmware places the table */
    for (int i = 0; i < SMBIOS_30_ANCHOR_SIZE; i++) {
        sum += ep[i];
    }
    ep[5] = -sum;
    g_byte_array_append(a, ep, sizeof(ep));
    return a;
}

bool smbios_build(const SmbiosConfig *cfg, GByteArray **tables,
                  GByteArray **anchor, GError **errp)
{
    SmbiosBuild b = {0};
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    bool ok = false;

    b.out = g_byte_array_new();
    b.oem_strings = g_ptr_array_new_with_free_func(g_free);
    /* fields first: a file= of a type with fields is an error */
    for (guint i = 0; cfg->options && i < cfg->options->len; i++) {
        const char *arg = g_ptr_array_index(cfg->options, i);
        Opts *o;
        unsigned type;
        if (!parse_option(arg, &o, &type, errp)) {
            g_prefix_error(errp, "-smbios %s: ", arg);
            goto out;
        }
        if (type == UINT32_MAX) {
            g_ptr_array_add(files, g_strdup(opts_get(o, "file")));
        } else if (type == 11) {
            g_autoptr(GPtrArray) vals = opts_get_all(o, "value");
            for (guint j = 0; j < vals->len; j++) {
                g_ptr_array_add(b.oem_strings,
                                g_strdup(g_ptr_array_index(vals, j)));
            }
            b.have_fields[11] = true;
        } else {
            if (!b.fields[type]) {
                b.fields[type] = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
            }
            for (const char *const *k = type_keys(type); *k; k++) {
                const char *v = opts_get(o, *k);
                if (v) {
                    g_hash_table_replace(b.fields[type], g_strdup(*k),
                                         g_strdup(v));
                }
            }
            b.have_fields[type] = true;
        }
        opts_free(o);
    }
    for (guint i = 0; i < files->len; i++) {
        if (!add_file(&b, g_ptr_array_index(files, i), errp)) {
            goto out;
        }
    }

    if (b.have_fields[0] && !b.from_file[0]) {
        build_type0(&b);
    }
    if (!b.from_file[1]) {
        build_type1(&b, cfg);
    }
    if (b.have_fields[2] && !b.from_file[2]) {
        build_type2(&b);
    }
    if (!b.from_file[3]) {
        build_type3(&b, cfg);
    }
    if (!b.from_file[4]) {
        unsigned per_socket = MAX(cfg->cores, 1) * MAX(cfg->threads, 1);
        unsigned cpus = MAX(MAX(cfg->max_cpus, cfg->smp_cpus), 1);
        unsigned sockets = (cpus + per_socket - 1) / per_socket;
        for (unsigned i = 0; i < sockets; i++) {
            build_type4(&b, cfg, i);
        }
    }
    if (b.oem_strings->len && !b.from_file[11]) {
        build_type11(&b);
    }
    uint64_t ram = cfg->below_4g_mem_size + cfg->above_4g_mem_size;
    unsigned dimms = (ram + MAX_DIMM_SIZE - 1) / MAX_DIMM_SIZE;
    if (!b.from_file[16]) {
        build_type16(&b, ram, dimms);
    }
    if (!b.from_file[17]) {
        for (unsigned i = 0; i < dimms; i++) {
            uint64_t size = MIN(ram - i * MAX_DIMM_SIZE, MAX_DIMM_SIZE);
            build_type17(&b, i, size);
        }
    }
    if (!b.from_file[19]) {
        unsigned n = 0;
        if (cfg->below_4g_mem_size) {
            build_type19(&b, n++, 0, cfg->below_4g_mem_size);
        }
        if (cfg->above_4g_mem_size) {
            build_type19(&b, n++, 1ULL << 32, cfg->above_4g_mem_size);
        }
    }
    if (!b.from_file[32]) {
        build_simple(&b, 32, 11, T32_BASE);
    }
    if (!b.from_file[127]) {
        build_simple(&b, 127, 4, T127_BASE);
    }
    *anchor = build_anchor(b.out->len);
    *tables = b.out;
    b.out = NULL;
    ok = true;
out:
    for (unsigned i = 0; i <= SMBIOS_MAX_TYPE; i++) {
        if (b.fields[i]) {
            g_hash_table_destroy(b.fields[i]);
        }
    }
    g_ptr_array_free(b.oem_strings, TRUE);
    g_ptr_array_free(files, TRUE);
    if (b.out) {
        g_byte_array_unref(b.out);
    }
    return ok;
}
