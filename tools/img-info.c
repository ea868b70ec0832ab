/*
 * vireo-img info, check, snapshot and map: the commands that describe an
 * image, in qemu-img's human and JSON layouts.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "img.h"

enum {
    OPT_OUTPUT = 256,
    OPT_BACKING_CHAIN,
    OPT_START_OFFSET,
    OPT_MAX_LENGTH,
    OPT_IMAGE_OPTS,
    OPT_OBJECT,
};

static void print_snapshot_header(void)
{
    printf("Snapshot list:\n" BDRV_SNAPSHOT_HEADER);
}

static void print_snapshot_row(const BdrvSnapshotInfo *sn)
{
    g_autofree char *row = bdrv_snapshot_row(sn, sn->id);
    fputs(row, stdout);
}

/* qemu-img's dump of format-specific data: "key: value", nested by four. */
static void dump_value(int indent, json_t *v);

static void dump_object(int indent, json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        char *name = g_strdelimit(g_strdup(key), "-", ' ');
        bool composite = json_is_object(v) || json_is_array(v);
        printf("%*s%s:%s", indent * 4, "", name, composite ? "\n" : " ");
        dump_value(indent + 1, v);
        g_free(name);
    }
}

static void dump_value(int indent, json_t *v)
{
    if (json_is_object(v)) {
        dump_object(indent, v);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            bool composite = json_is_object(e) || json_is_array(e);
            printf("%*s[%zu]:%c", indent * 4, "", i, composite ? '\n' : ' ');
            dump_value(indent + 1, e);
        }
    } else if (json_is_string(v)) {
        printf("%s\n", json_string_value(v));
    } else if (json_is_integer(v)) {
        printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
    } else if (json_is_boolean(v)) {
        printf("%s\n", json_is_true(v) ? "true" : "false");
    } else if (json_is_real(v)) {
        printf("%g\n", json_real_value(v));
    } else {
        printf("null\n");
    }
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_int_t jint(json_t *o, const char *key, json_int_t def)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

/* qemu-img info's human layout, from the ImageInfo JSON object. */
static void print_image_info_human(json_t *info)
{
    json_t *v;
    char *s;

    printf("image: %s\n", jstr(info, "filename"));
    printf("file format: %s\n", jstr(info, "format"));
    s = size_to_str(jint(info, "virtual-size", 0));
    printf("virtual size: %s (%" JSON_INTEGER_FORMAT " bytes)\n", s,
           jint(info, "virtual-size", 0));
    g_free(s);
    if (json_object_get(info, "actual-size")) {
        s = size_to_str(jint(info, "actual-size", 0));
        printf("disk size: %s\n", s);
        g_free(s);
    } else {
        printf("disk size: unavailable\n");
    }
    if (json_is_true(json_object_get(info, "encrypted"))) {
        printf("encrypted: yes\n");
    }
    if (json_object_get(info, "cluster-size")) {
        printf("cluster_size: %" JSON_INTEGER_FORMAT "\n",
               jint(info, "cluster-size", 0));
    }
    if (json_is_true(json_object_get(info, "dirty-flag"))) {
        printf("cleanly shut down: no\n");
    }
    const char *backing = jstr(info, "backing-filename");
    if (backing) {
        const char *full = jstr(info, "full-backing-filename");
        printf("backing file: %s", backing);
        if (!full) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(backing, full)) {
            printf(" (actual path: %s)", full);
        }
        printf("\n");
    }
    if (jstr(info, "backing-filename-format")) {
        printf("backing file format: %s\n",
               jstr(info, "backing-filename-format"));
    }
    v = json_object_get(info, "snapshots");
    if (json_array_size(v)) {
        size_t i;
        json_t *sn;
        print_snapshot_header();
        json_array_foreach(v, i, sn) {
            BdrvSnapshotInfo row = {
                .id = (char *)jstr(sn, "id"),
                .name = (char *)jstr(sn, "name"),
                .vm_state_size = jint(sn, "vm-state-size", 0),
                .date_sec = jint(sn, "date-sec", 0),
                .vm_clock_nsec = jint(sn, "vm-clock-sec", 0) * 1000000000ULL +
                                 jint(sn, "vm-clock-nsec", 0),
                .icount = jint(sn, "icount", -1),
            };
            print_snapshot_row(&row);
        }
    }
    v = json_object_get(info, "format-specific");
    if (v && json_object_get(v, "data")) {
        printf("Format specific information:\n");
        dump_value(1, json_object_get(v, "data"));
    }
}

int img_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "backing-chain", no_argument, NULL, OPT_BACKING_CHAIN },
        { "force-share", no_argument, NULL, 'U' },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "object", required_argument, NULL, OPT_OBJECT },
        { NULL },
    };
    const char *fmt = NULL;
    ImgOutput output = IMG_OUTPUT_HUMAN;
    bool chain = false;
    int flags = 0, c;

    while ((c = getopt_long(argc, argv, ":f:hU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case OPT_BACKING_CHAIN: chain = true; break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &output)) {
                return 1;
            }
            break;
        case 'h':
            printf("usage: " IMG_PROG " info [-f fmt] [--output=ofmt] "
                   "[--backing-chain] [-U] filename\n");
            return 0;
        case OPT_IMAGE_OPTS:
        case OPT_OBJECT:
            return img_usage_error("option '%s' is not supported",
                                   argv[optind - 1]);
        default:
            return img_bad_option(argv, c);
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    const char *filename = argv[optind];
    BlockDriverState *bs = img_open(filename, fmt, flags |
                                    (chain ? 0 : IMG_OPEN_NO_BACKING));
    if (!bs) {
        return 1;
    }
    json_t *list = json_array();
    for (BlockDriverState *n = bs; n; n = chain ? n->backing : NULL) {
        json_array_append_new(list, bdrv_query_image_info(n, false));
    }
    if (output == IMG_OUTPUT_JSON) {
        img_print_json(chain ? json_incref(list)
                             : json_incref(json_array_get(list, 0)));
    } else {
        size_t i;
        json_t *info;
        json_array_foreach(list, i, info) {
            if (i) {
                printf("\n");
            }
            print_image_info_human(info);
        }
    }
    json_decref(list);
    bdrv_unref(bs);
    return 0;
}

/* ---- check ---- */

static json_t *check_to_json(const BdrvCheckResult *r, const char *filename,
                             const char *format)
{
    json_t *o = json_object();
    json_object_set_new(o, "filename", json_string(filename));
    json_object_set_new(o, "format", json_string(format));
    json_object_set_new(o, "check-errors", json_integer(r->check_errors));
#define OPTIONAL(key, field) \
    if (r->field) { \
        json_object_set_new(o, key, json_integer(r->field)); \
    }
    OPTIONAL("image-end-offset", image_end_offset);
    OPTIONAL("corruptions", corruptions);
    OPTIONAL("leaks", leaks);
    OPTIONAL("corruptions-fixed", corruptions_fixed);
    OPTIONAL("leaks-fixed", leaks_fixed);
    OPTIONAL("total-clusters", total_clusters);
    OPTIONAL("allocated-clusters", allocated_clusters);
    OPTIONAL("fragmented-clusters", fragmented_clusters);
    OPTIONAL("compressed-clusters", compressed_clusters);
#undef OPTIONAL
    return o;
}

static void print_check_human(const BdrvCheckResult *r)
{
    if (!r->corruptions && !r->leaks && !r->check_errors) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            printf("\n%d errors were found on the image.\nData may be "
                   "corrupted, or further writes to the image may corrupt "
                   "it.\n", r->corruptions);
        }
        if (r->leaks) {
            printf("\n%d leaked clusters were found on the image.\nThis "
                   "means waste of disk space, but no harm to data.\n",
                   r->leaks);
        }
        if (r->check_errors) {
            printf("\n%d internal errors have occurred during the check.\n",
                   r->check_errors);
        }
    }
    if (r->total_clusters && r->allocated_clusters) {
        printf("%" PRId64 "/%" PRId64 " = %0.2f%% allocated, %0.2f%% "
               "fragmented, %0.2f%% compressed clusters\n",
               r->allocated_clusters, r->total_clusters,
               r->allocated_clusters * 100.0 / r->total_clusters,
               r->fragmented_clusters * 100.0 / r->allocated_clusters,
               r->compressed_clusters * 100.0 / r->allocated_clusters);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" PRId64 "\n", r->image_end_offset);
    }
}

int img_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "force-share", no_argument, NULL, 'U' },
        { NULL },
    };
    const char *fmt = NULL;
    ImgOutput output = IMG_OUTPUT_HUMAN;
    int fix = 0, flags = IMG_OPEN_NO_BACKING, c;
    bool quiet = false;

    while ((c = getopt_long(argc, argv, ":f:hr:T:qU", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'T': break;    /* cache mode: the tool's I/O is its own */
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 'r':
            flags |= IMG_OPEN_RW;
            if (!strcmp(optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                return img_usage_error("Unknown option value for -r "
                                       "(expecting 'leaks' or 'all'): %s",
                                       optarg);
            }
            break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &output)) {
                return 1;
            }
            break;
        case 'h':
            printf("usage: " IMG_PROG " check [-f fmt] [--output=ofmt] "
                   "[-r [leaks | all]] [-q] [-U] filename\n");
            return 0;
        default:
            return img_bad_option(argv, c);
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    const char *filename = argv[optind];
    BlockDriverState *bs = img_open(filename, fmt, flags | IMG_OPEN_CHECK);
    if (!bs) {
        return 1;
    }
    int ret;
    if (!bs->drv->check) {
        img_error("This image format does not support checks");
        bdrv_unref(bs);
        return 63;
    }
    BdrvCheckResult r = { 0 };
    ret = bs->drv->check(bs, &r, fix);
    if (ret == 0 && (r.leaks_fixed || r.corruptions_fixed)) {
        int leaks_fixed = r.leaks_fixed;
        int corruptions_fixed = r.corruptions_fixed;
        if (output == IMG_OUTPUT_HUMAN && !quiet) {
            printf("The following inconsistencies were found and repaired:"
                   "\n\n    %d leaked clusters\n    %d corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   leaks_fixed, corruptions_fixed);
        }
        r = (BdrvCheckResult){ 0 };
        ret = bs->drv->check(bs, &r, 0);
        r.leaks_fixed = leaks_fixed;
        r.corruptions_fixed = corruptions_fixed;
    }
    if (ret == -ENOTSUP) {
        img_error("This image format does not support checks");
        bdrv_unref(bs);
        return 63;
    }
    if (!quiet) {
        if (output == IMG_OUTPUT_JSON) {
            img_print_json(check_to_json(&r, filename,
                                         bs->drv->format_name));
        } else {
            print_check_human(&r);
        }
    }
    bdrv_unref(bs);
    if (ret < 0 || r.check_errors) {
        if (ret < 0) {
            img_error("Check failed: %s", g_strerror(-ret));
        } else {
            img_error("Check failed");
        }
        return 1;
    }
    return r.corruptions ? 2 : r.leaks ? 3 : 0;
}

/* ---- snapshot ---- */

int img_snapshot(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL },
    };
    char action = 0;
    const char *name = NULL, *fmt = NULL;
    bool quiet = false;
    int flags = IMG_OPEN_NO_BACKING, c;

    while ((c = getopt_long(argc, argv, ":la:c:d:f:hqU", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'l':
        case 'a':
        case 'c':
        case 'd':
            if (action) {
                return img_usage_error("Cannot mix '-l', '-a', '-c', '-d'");
            }
            action = c;
            name = optarg;
            break;
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 'h':
            printf("usage: " IMG_PROG " snapshot [-l | -a snapshot | -c "
                   "snapshot | -d snapshot] [-f fmt] [-q] [-U] filename\n");
            return 0;
        default:
            return img_bad_option(argv, c);
        }
    }
    (void)quiet;
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    if (!action) {
        action = 'l';
    }
    if (action != 'l') {
        flags |= IMG_OPEN_RW;
    }
    BlockDriverState *bs = img_open(argv[optind], fmt, flags);
    if (!bs) {
        return 1;
    }
    const BlockDriver *drv = bs->drv;
    GError *err = NULL;
    bool ok = true;
    const char *what = action == 'c' ? "create" :
                       action == 'a' ? "apply" : "delete";

    if (action == 'l') {
        BdrvSnapshotInfo *sns = NULL;
        int n = drv->snapshot_list ? drv->snapshot_list(bs, &sns) : 0;
        if (n > 0) {
            print_snapshot_header();
        }
        for (int i = 0; i < n; i++) {
            print_snapshot_row(&sns[i]);
            bdrv_snapshot_info_free(&sns[i]);
        }
        g_free(sns);
    } else if (!drv->snapshot_create) {
        img_error("Could not %s snapshot '%s': Block format '%s' does not "
                  "support internal snapshots", what, name,
                  drv->format_name);
        ok = false;
    } else {
        if (action == 'c') {
            /* icount 0: what qemu-img records without a running VM */
            BdrvSnapshotInfo sn = { .name = (char *)name };
            ok = drv->snapshot_create(bs, &sn, &err);
        } else if (action == 'a') {
            ok = drv->snapshot_goto(bs, name, &err);
        } else {
            ok = drv->snapshot_delete(bs, name, &err);
        }
        if (!ok) {
            img_error("Could not %s snapshot '%s': %s", what, name,
                      err ? err->message : "unknown error");
            g_clear_error(&err);
        }
    }
    bdrv_unref(bs);
    return ok ? 0 : 1;
}

/* ---- map ---- */

typedef struct MapEntry {
    int64_t start, length, offset;
    int depth;
    bool present, zero, data, has_offset;
    const char *filename;   /* of the node holding the data, or NULL */
} MapEntry;

static int map_entry_at(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        MapEntry *e)
{
    int64_t pnum, map = 0;
    int depth = 0;
    BlockDriverState *file = NULL;
    int ret = img_chain_status(bs, NULL, offset, bytes, &pnum, &depth, &map,
                               &file);
    if (ret < 0) {
        return ret;
    }
    *e = (MapEntry){
        .start = offset,
        .length = pnum,
        .depth = depth,
        .data = ret & BDRV_BLOCK_DATA,
        .zero = ret & BDRV_BLOCK_ZERO,
        .present = ret & (BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA),
        .has_offset = ret & BDRV_BLOCK_OFFSET_VALID,
        .offset = map,
    };
    /* a node that said ZERO itself (not "nothing below") is present too */
    if ((ret & BDRV_BLOCK_ZERO) && (ret & BDRV_BLOCK_ALLOCATED)) {
        e->present = true;
    }
    if (e->has_offset && file) {
        e->filename = file->filename;
    }
    return 0;
}

static bool map_mergeable(const MapEntry *a, const MapEntry *b)
{
    if (!a->length || a->zero != b->zero || a->data != b->data ||
        a->depth != b->depth || a->present != b->present ||
        a->has_offset != b->has_offset ||
        !a->filename != !b->filename) {
        return false;
    }
    if (a->filename && strcmp(a->filename, b->filename)) {
        return false;
    }
    return !a->has_offset || a->offset + a->length == b->offset;
}

static int map_print(ImgOutput output, bool first, const MapEntry *e,
                     MapEntry *next)
{
    if (output == IMG_OUTPUT_JSON) {
        printf("%s{ \"start\": %" PRId64 ", \"length\": %" PRId64 ", "
               "\"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
               first ? "[" : ",\n", e->start,
               e->length, e->depth, e->present ? "true" : "false",
               e->zero ? "true" : "false", e->data ? "true" : "false");
        if (e->has_offset) {
            printf(", \"offset\": %" PRId64, e->offset);
        }
        printf("}");
        if (!next) {
            printf("]\n");
        }
        return 0;
    }
    if (e->data && !e->has_offset) {
        img_error("File contains external, encrypted or compressed "
                  "clusters.");
        return -1;
    }
    if (e->data && !e->zero) {
        printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
               (uint64_t)e->start, (uint64_t)e->length,
               (uint64_t)(e->has_offset ? e->offset : 0),
               e->filename ? e->filename : "");
    }
    /* the human layout shows only data: let all the rest merge */
    if (next && (!next->data || next->zero)) {
        next->data = false;
        next->zero = true;
    }
    return 0;
}

int img_map(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "start-offset", required_argument, NULL, 's' },
        { "max-length", required_argument, NULL, 'l' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL },
    };
    const char *fmt = NULL;
    ImgOutput output = IMG_OUTPUT_HUMAN;
    int64_t start = 0, max_len = INT64_MAX;
    int flags = 0, c;

    while ((c = getopt_long(argc, argv, ":f:hs:l:U", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 's':
            if (!img_parse_size(optarg, &start)) {
                img_error("Invalid start offset specified! You may use k, M, "
                          "G, T, P or E suffixes for\nkilobytes, megabytes, "
                          "gigabytes, terabytes, petabytes and exabytes.");
                return 1;
            }
            break;
        case 'l':
            if (!img_parse_size(optarg, &max_len)) {
                img_error("Invalid length specified! You may use k, M, G, "
                          "T, P or E suffixes for\nkilobytes, megabytes, "
                          "gigabytes, terabytes, petabytes and exabytes.");
                return 1;
            }
            break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &output)) {
                return 1;
            }
            break;
        case 'h':
            printf("usage: " IMG_PROG " map [-f fmt] [--output=ofmt] "
                   "[--start-offset=offset] [--max-length=len] [-U] "
                   "filename\n");
            return 0;
        default:
            return img_bad_option(argv, c);
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    BlockDriverState *bs = img_open(argv[optind], fmt, flags);
    if (!bs) {
        return 1;
    }
    int64_t length = bdrv_getlength(bs);
    if (length < 0) {
        img_error("Failed to get size for '%s'", argv[optind]);
        bdrv_unref(bs);
        return 1;
    }
    if (max_len < length - start) {
        length = start + max_len;
    }
    if (output == IMG_OUTPUT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
               "File");
    }
    MapEntry cur = { .start = start, .length = 0 }, next;
    int ret = 0;
    bool first = true;
    while (cur.start + cur.length < length) {
        int64_t off = cur.start + cur.length;
        /* at most 1 GiB per query, as qemu-img asks */
        ret = map_entry_at(bs, off, MIN(length - off, 1LL << 30), &next);
        if (ret < 0) {
            img_error("Could not read file metadata: %s", g_strerror(-ret));
            break;
        }
        if (map_mergeable(&cur, &next)) {
            cur.length += next.length;
            continue;
        }
        if (cur.length > 0) {
            ret = map_print(output, first, &cur, &next);
            first = false;
            if (ret < 0) {
                break;
            }
        }
        cur = next;
    }
    if (ret == 0 && cur.length > 0) {
        ret = map_print(output, first, &cur, NULL);
    } else if (ret == 0 && output == IMG_OUTPUT_JSON && first) {
        printf("[]\n");
    }
    bdrv_unref(bs);
    return ret < 0 ? 1 : 0;
}
