/*
 * vireo-img measure: how big a new image would be, worked out from the
 * target format's layout (qcow2: header, L1/L2 tables, refcount table and
 * blocks over the data clusters; raw: the disk itself).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

#define ROUND_UP_TO(n, m) (((n) + (m) - 1) / (m) * (m))
#define DIV_UP(n, m) (((n) + (m) - 1) / (m))

/*
 * Refcount table and block clusters needed to count `clusters` clusters
 * and themselves: iterate to the fixed point, since counting refcount
 * blocks needs refcount entries too.
 */
static int64_t refcount_metadata_size(int64_t clusters, int64_t cluster_size,
                                      int refcount_bits)
{
    int64_t per_block = cluster_size * 8 / refcount_bits;
    int64_t table_entries_per_cluster = cluster_size / 8;
    int64_t table = 0, blocks = 0, n = 0, last;

    do {
        last = n;
        blocks = DIV_UP(clusters + table + blocks, per_block);
        table = DIV_UP(blocks, table_entries_per_cluster);
        n = clusters + blocks + table;
    } while (n != last);
    return (blocks + table) * cluster_size;
}

/* A fully allocated qcow2 image of size bytes: metadata plus data. */
static int64_t qcow2_full_size(int64_t size, int64_t cluster_size,
                               int refcount_bits, bool extended_l2)
{
    int64_t l2e = extended_l2 ? 16 : 8;
    int64_t data = ROUND_UP_TO(size, cluster_size);
    int64_t meta = cluster_size;    /* the header cluster */

    int64_t nl2e = ROUND_UP_TO(data / cluster_size, cluster_size / l2e);
    meta += nl2e * l2e;
    int64_t nl1e = ROUND_UP_TO(nl2e * l2e / cluster_size, cluster_size / 8);
    meta += nl1e * 8;
    meta += refcount_metadata_size((meta + data) / cluster_size,
                                   cluster_size, refcount_bits);
    return meta + data;
}

typedef struct MeasureTarget {
    bool qcow2;
    int64_t cluster_size;
    int refcount_bits;
    bool extended_l2;
    bool v3;
    bool has_backing;
    PreallocMode prealloc;
} MeasureTarget;

static bool parse_target(const char *fmt, Opts *opts, MeasureTarget *t)
{
    GError *err = NULL;
    const char *v;

    *t = (MeasureTarget){ .qcow2 = !strcmp(fmt, "qcow2"),
                          .cluster_size = 65536, .refcount_bits = 16,
                          .v3 = true };
    if (!img_check_create_opts(fmt, opts, &err)) {
        img_report(err);
        return false;
    }
    if ((v = img_opts_peek(opts, "preallocation")) &&
        !bdrv_parse_prealloc(v, &t->prealloc, &err)) {
        img_report(err);
        return false;
    }
    if (!t->qcow2) {
        return true;
    }
    t->has_backing = img_opts_peek(opts, "backing_file") != NULL;
    if ((v = img_opts_peek(opts, "cluster_size"))) {
        img_parse_size(v, &t->cluster_size);
    }
    if ((v = img_opts_peek(opts, "extended_l2"))) {
        parse_bool(v, &t->extended_l2, NULL);
    }
    int64_t min_cluster = t->extended_l2 ? 16384 : 512;
    if (t->cluster_size < min_cluster || t->cluster_size > 2 * 1024 * 1024 ||
        (t->cluster_size & (t->cluster_size - 1))) {
        img_error("Cluster size must be a power of two between %" PRId64
                  " and 2048k", min_cluster / 1024 ? min_cluster / 1024
                                                    : min_cluster);
        return false;
    }
    if ((v = img_opts_peek(opts, "refcount_bits"))) {
        uint64_t bits;
        if (!parse_uint(v, &bits, NULL) || bits < 1 || bits > 64 ||
            (bits & (bits - 1))) {
            img_error("Refcount width must be a power of two and may not "
                      "exceed 64 bits");
            return false;
        }
        t->refcount_bits = bits;
    }
    if ((v = img_opts_peek(opts, "compat"))) {
        if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
            t->v3 = false;
        } else if (strcmp(v, "1.1") && strcmp(v, "v3")) {
            img_error("Invalid parameter '%s'", v);
            return false;
        }
    }
    if (!t->v3 && t->refcount_bits != 16) {
        img_error("Different refcount widths than 16 bits require "
                  "compatibility level 1.1 or above (use compat=1.1 or "
                  "greater)");
        return false;
    }
    return true;
}

/* Data bytes of the source that a qcow2 copy would allocate. */
static int measure_qcow2_data(BlockDriverState *src, int64_t cluster_size,
                              int64_t *required)
{
    int64_t size = bdrv_getlength(src), pnum, map;
    BlockDriverState *file;
    int depth;

    *required = 0;
    for (int64_t off = 0; off < size; off += pnum) {
        int ret = img_chain_status(src, NULL, off, size - off, &pnum, &depth,
                                   &map, &file);
        if (ret < 0) {
            return ret;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            continue;
        }
        if (ret & BDRV_BLOCK_DATA) {
            /* a cluster touched at all is a cluster allocated */
            pnum = ROUND_UP_TO(off + pnum, cluster_size) - off;
            *required += off % cluster_size + pnum;
        }
    }
    return 0;
}

int img_measure(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, 'J' },
        { "size", required_argument, NULL, 's' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL },
    };
    const char *fmt = NULL, *out_fmt = "raw";
    char *optstr = NULL;
    ImgOutput output = IMG_OUTPUT_HUMAN;
    int64_t size = -1;
    int flags = 0, c, ret = 1;

    while ((c = getopt_long(argc, argv, ":f:O:o:l:hU", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 'o': {
            char *j = optstr ? g_strdup_printf("%s,%s", optstr, optarg)
                             : g_strdup(optarg);
            g_free(optstr);
            optstr = j;
            break;
        }
        case 'l':
            g_free(optstr);
            return img_usage_error("-l (snapshots) is not supported");
        case 's':
            if (!img_parse_size(optarg, &size)) {
                g_free(optstr);
                img_error("Invalid image size specified. You may use k, M, "
                          "G, T, P or E suffixes for\nkilobytes, megabytes, "
                          "gigabytes, terabytes, petabytes and exabytes.");
                return 1;
            }
            break;
        case 'J':
            if (!img_parse_output(optarg, &output)) {
                g_free(optstr);
                return 1;
            }
            break;
        case 'h':
            printf("usage: " IMG_PROG " measure [--output=ofmt] [-O "
                   "output_fmt] [-o options] [--size N | [-f fmt] "
                   "filename]\n");
            return 0;
        default:
            g_free(optstr);
            return img_bad_option(argv, c);
        }
    }
    const char *filename = optind < argc ? argv[optind] : NULL;
    Opts *opts = NULL;
    BlockDriverState *src = NULL;
    MeasureTarget t;

    if (optind < argc - 1) {
        img_usage_error("Expecting one image file name");
        goto out;
    }
    if (size >= 0 && filename) {
        img_error("--size N cannot be used together with a filename.");
        goto out;
    }
    if (size < 0 && !filename) {
        img_error("Either --size N or one filename must be specified.");
        goto out;
    }
    if (!bdrv_find_format(out_fmt) ||
        (strcmp(out_fmt, "qcow2") && strcmp(out_fmt, "raw"))) {
        img_error("Unknown file format '%s'", out_fmt);
        goto out;
    }
    opts = img_parse_create_opts(optstr);
    if (!opts || !parse_target(out_fmt, opts, &t)) {
        goto out;
    }
    if (filename) {
        src = img_open(filename, fmt, flags);
        if (!src) {
            goto out;
        }
        size = bdrv_getlength(src);
    }

    int64_t required, full;
    bool has_bitmaps = false;
    if (t.qcow2) {
        int64_t vsize = ROUND_UP_TO(size, t.cluster_size), data = 0;
        if (src && t.has_backing) {
            /* nothing known about what the backing file shares: all */
            data = vsize;
        } else if (src) {
            int r = measure_qcow2_data(src, t.cluster_size, &data);
            if (r < 0) {
                img_error("Unable to get block status: %s", g_strerror(-r));
                goto out;
            }
        }
        if (t.prealloc == PREALLOC_MODE_FULL ||
            t.prealloc == PREALLOC_MODE_FALLOC) {
            data = vsize;
        }
        full = qcow2_full_size(vsize, t.cluster_size, t.refcount_bits,
                               t.extended_l2);
        required = full - vsize + data;
        has_bitmaps = t.v3 && src && src->drv == &bdrv_qcow2;
    } else {
        required = full = ROUND_UP_TO(size, 512);
    }

    if (output == IMG_OUTPUT_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "required", json_integer(required));
        json_object_set_new(o, "fully-allocated", json_integer(full));
        if (has_bitmaps) {
            json_object_set_new(o, "bitmaps", json_integer(0));
        }
        img_print_json(o);
    } else {
        printf("required size: %" PRId64 "\n", required);
        printf("fully allocated size: %" PRId64 "\n", full);
        if (has_bitmaps) {
            printf("bitmaps size: 0\n");
        }
    }
    ret = 0;
out:
    if (src) {
        bdrv_unref(src);
    }
    opts_free(opts);
    g_free(optstr);
    return ret;
}
