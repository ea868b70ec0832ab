/*
 * Helpers every vireo-img command uses: error messages in qemu-img's
 * shape, opening images, sizes, the progress line, JSON output and a
 * block-status walk through a backing chain.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"

static void vprint_error(const char *prefix, const char *fmt, va_list ap)
{
    char *msg = g_strdup_vprintf(fmt, ap);
    /* qemu-img prefixes every line of a multi-line message */
    char **lines = g_strsplit(msg, "\n", -1);
    fflush(stdout);
    for (char **l = lines; *l; l++) {
        if (**l || l == lines) {
            fprintf(stderr, "%s%s\n", prefix, *l);
        }
    }
    g_strfreev(lines);
    g_free(msg);
}

void img_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(IMG_PROG ": ", fmt, ap);
    va_end(ap);
}

void img_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(IMG_PROG ": warning: ", fmt, ap);
    va_end(ap);
}

int img_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(IMG_PROG ": ", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '" IMG_PROG " --help' for more information\n");
    return 1;
}

int img_bad_option(char **argv, int opt)
{
    if (opt == ':') {
        if (optopt) {
            return img_usage_error("option requires an argument -- '%c'",
                                   optopt);
        }
        return img_usage_error("option '%s' requires an argument",
                               argv[optind - 1]);
    }
    return img_usage_error("unrecognized option '%s'", argv[optind - 1]);
}

int img_report(GError *err)
{
    img_error("%s", err ? err->message : "unknown error");
    g_clear_error(&err);
    return 1;
}

bool img_parse_output(const char *s, ImgOutput *out)
{
    if (!strcmp(s, "human")) {
        *out = IMG_OUTPUT_HUMAN;
    } else if (!strcmp(s, "json")) {
        *out = IMG_OUTPUT_JSON;
    } else {
        img_usage_error("--output must be used with human or json as "
                        "argument.");
        return false;
    }
    return true;
}

BlockDriverState *img_open(const char *filename, const char *fmt, int flags)
{
    BlockOpenOptions o = {
        .format = fmt,
        .read_only = !(flags & IMG_OPEN_RW),
        .no_backing = flags & IMG_OPEN_NO_BACKING,
        .locking = (flags & IMG_OPEN_SHARE) ? -1 : 0,
        .check = flags & IMG_OPEN_CHECK,
    };
    GError *err = NULL;

    if (fmt && !bdrv_find_format(fmt)) {
        img_error("Unknown file format '%s'", fmt);
        return NULL;
    }
    BlockDriverState *bs = bdrv_open(filename, &o, &err);
    if (!bs) {
        img_report(err);
    }
    return bs;
}

bool img_parse_size(const char *s, int64_t *out)
{
    static const char suffixes[] = "bkmgtpe";
    char *end;
    uint64_t whole;
    double frac = 0;

    if (!s || !g_ascii_isdigit(*s)) {
        return false;
    }
    errno = 0;
    whole = g_ascii_strtoull(s, &end, 10);
    if (errno) {
        return false;
    }
    if (*end == '.') {
        char *fend;
        frac = g_ascii_strtod(end, &fend);
        if (fend == end + 1) {
            return false;
        }
        end = fend;
    }
    int shift = 0;
    if (*end) {
        const char *p = strchr(suffixes, g_ascii_tolower(*end));
        if (!p || end[1]) {
            return false;
        }
        shift = 10 * (p - suffixes);
    } else if (frac) {
        return false;   /* a fraction of a byte */
    }
    if (shift >= 63 || whole > (UINT64_MAX >> shift)) {
        return false;
    }
    uint64_t v = (whole << shift) + (uint64_t)(frac * (double)(1ULL << shift));
    if (v > INT64_MAX) {
        return false;
    }
    *out = v;
    return true;
}

/* QEMU's QDict bucket of a key (the tdb hash it uses, mod 512). */
static unsigned qdict_bucket(const char *key)
{
    size_t len = strlen(key);
    uint32_t v = 0x238F13AFu * (uint32_t)len;

    for (size_t i = 0; i < len; i++) {
        v += (uint32_t)(unsigned char)key[i] << (i * 5 % 24);
    }
    return (1103515243u * v + 12345u) % 512;
}

typedef struct KeyRank {
    const char *key;
    unsigned bucket;
    size_t index;
} KeyRank;

static int key_rank_cmp(const void *a, const void *b)
{
    const KeyRank *x = a, *y = b;
    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    /* a bucket lists its newest key first */
    return x->index > y->index ? -1 : x->index < y->index;
}

static json_t *json_in_qdict_order(json_t *j)
{
    if (json_is_array(j)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            json_array_append_new(a, json_in_qdict_order(v));
        }
        return a;
    }
    if (!json_is_object(j)) {
        return json_incref(j);
    }
    size_t n = json_object_size(j), i = 0;
    KeyRank *keys = g_new(KeyRank, n ? n : 1);
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        keys[i] = (KeyRank){ key, qdict_bucket(key), i };
        i++;
    }
    qsort(keys, n, sizeof(*keys), key_rank_cmp);
    json_t *o = json_object();
    for (i = 0; i < n; i++) {
        json_object_set_new(o, keys[i].key,
                            json_in_qdict_order(json_object_get(j,
                                                                keys[i].key)));
    }
    g_free(keys);
    return o;
}

void img_print_json(json_t *j)
{
    json_t *ordered = json_in_qdict_order(j);
    char *s = json_dumps(ordered, JSON_INDENT(4) | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    free(s);
    json_decref(ordered);
    json_decref(j);
}

void img_progress_init(ImgProgress *p, bool on)
{
    p->on = on;
    p->last = -100;
    img_progress_update(p, 0);
}

void img_progress_update(ImgProgress *p, double fraction)
{
    double pct = fraction * 100;
    if (!p->on) {
        return;
    }
    if (pct > 100) {
        pct = 100;
    }
    /* a line per percent, like qemu-img */
    if (pct - p->last >= 1.0 || (pct == 100 && p->last != 100)) {
        p->last = pct;
        printf("    (%3.2f/100%%)\r", pct);
        fflush(stdout);
    }
}

void img_progress_end(ImgProgress *p)
{
    if (p->on) {
        printf("    (%3.2f/100%%)\r\n", 100.0);
        fflush(stdout);
        p->on = false;
    }
}

/*
 * A raw image over a host file without block_status in the drivers:
 * SEEK_DATA/SEEK_HOLE on the file itself tell holes from data, so that
 * convert and map skip holes the way qemu-img does.
 */
static int host_file_status(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int64_t *pnum, int64_t *map,
                            BlockDriverState **file)
{
    int64_t len = bdrv_getlength(bs);
    int fd, ret = BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
                  BDRV_BLOCK_OFFSET_VALID;

    *pnum = bytes;
    *map = offset;
    *file = bs->file ? bs->file : bs;
    if (offset >= len) {
        return BDRV_BLOCK_ZERO;
    }
    fd = open(bs->filename, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return ret;
    }
    off_t data = lseek(fd, offset, SEEK_DATA);
    if (data < 0 && errno == ENXIO) {
        data = len;     /* a hole up to the end */
    }
    if (data > offset) {
        *pnum = MIN(bytes, (int64_t)data - offset);
        ret = BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED |
              BDRV_BLOCK_OFFSET_VALID;
    } else if (data == offset) {
        off_t hole = lseek(fd, offset, SEEK_HOLE);
        if (hole > offset) {
            *pnum = MIN(bytes, (int64_t)hole - offset);
        }
    }
    close(fd);
    return ret;
}

static int node_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    if (!bs->drv->block_status && bs->drv == &bdrv_raw && bs->file &&
        !bs->file->drv->block_status) {
        return host_file_status(bs, offset, bytes, pnum, map, file);
    }
    *map = 0;
    *file = NULL;
    return bdrv_block_status(bs, offset, bytes, pnum, map, file);
}

int img_chain_status(BlockDriverState *bs, BlockDriverState *base,
                     int64_t offset, int64_t bytes, int64_t *pnum,
                     int *depth, int64_t *map, BlockDriverState **file)
{
    int d = 0;

    for (;;) {
        int ret = node_status(bs, offset, bytes, pnum, map, file);
        if (ret < 0) {
            return ret;
        }
        if (*pnum <= 0) {
            return -EIO;
        }
        bytes = *pnum;
        if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO |
                   BDRV_BLOCK_ALLOCATED)) {
            *depth = d;
            return ret;
        }
        BlockDriverState *below = bs->backing;
        if (!below || below == base) {
            *depth = d;
            /* nothing below this node: it reads as zeros */
            return ret | (below ? 0 : BDRV_BLOCK_ZERO);
        }
        int64_t below_len = bdrv_getlength(below);
        if (below_len >= 0 && offset >= below_len) {
            *depth = d;
            return ret | BDRV_BLOCK_ZERO;
        }
        bs = below;
        d++;
    }
}

bool img_buffer_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    static const unsigned char zero[64];

    if (len < 64) {
        return memcmp(p, zero, len) == 0;
    }
    /* the first 64 bytes are zero, and then each 64 equals the ones before */
    return memcmp(p, zero, 64) == 0 && memcmp(p, p + 64, len - 64) == 0;
}

void *img_buf_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, size)) {
        g_error("out of memory allocating %zu bytes", size);
    }
    return p;
}

int img_cluster_size(BlockDriverState *bs)
{
    BlockDriverInfo bdi = { 0 };
    if (bs->drv->get_info && bs->drv->get_info(bs, &bdi)) {
        return bdi.cluster_size;
    }
    return 0;
}
