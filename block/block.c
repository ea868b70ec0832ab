/*
 * The generic block layer: drivers by name, probing, opening a node graph
 * with its backing chain, node names and references, and synchronous
 * helpers on nodes (I/O, block status, create, truncate, image info).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "block/blkdebug.h"
#include "block/block_int.h"
#include "util/log.h"

#define PROBE_BUF_SIZE 2048
#define MAX_BACKING_DEPTH 256

/* Every open node, in creation order (query-named-block-nodes). */
static GPtrArray *all_nodes;
/* References beyond the first; a node absent here has one. */
static GHashTable *node_refs;
static uint64_t node_name_counter;

/* ---- drivers ---- */

static const BlockDriver *const format_drivers[] = {
    &bdrv_raw, &bdrv_qcow2, &bdrv_file,
};

const BlockDriver *bdrv_find_format(const char *name)
{
    if (!name) {
        return NULL;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(format_drivers); i++) {
        if (!strcmp(format_drivers[i]->format_name, name)) {
            return format_drivers[i];
        }
    }
    return NULL;
}

bool bdrv_parse_prealloc(const char *s, PreallocMode *out, GError **errp)
{
    static const char *const names[] = {
        [PREALLOC_MODE_OFF] = "off",
        [PREALLOC_MODE_METADATA] = "metadata",
        [PREALLOC_MODE_FALLOC] = "falloc",
        [PREALLOC_MODE_FULL] = "full",
    };
    for (unsigned i = 0; s && i < G_N_ELEMENTS(names); i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            return true;
        }
    }
    g_set_error(errp, VIREO_ERROR, 0,
                "Parameter 'preallocation' does not accept value '%s'",
                s ? s : "");
    return false;
}

/* ---- nodes: names, references, the registry ---- */

/* QEMU's generated names: "#block" + a counter + two random digits, so
 * scripts cannot come to depend on them. */
static char *bdrv_generate_node_name(void)
{
    return g_strdup_printf("#block%" G_GUINT64_FORMAT "%02d",
                           ++node_name_counter, g_random_int_range(0, 100));
}

static void bdrv_register(BlockDriverState *bs)
{
    if (!all_nodes) {
        all_nodes = g_ptr_array_new();
    }
    if (!bs->node_name) {
        bs->node_name = bdrv_generate_node_name();
    }
    g_ptr_array_add(all_nodes, bs);
}

BlockDriverState *bdrv_find_node(const char *node_name)
{
    for (guint i = 0; node_name && all_nodes && i < all_nodes->len; i++) {
        BlockDriverState *bs = g_ptr_array_index(all_nodes, i);
        if (bs->node_name && !strcmp(bs->node_name, node_name)) {
            return bs;
        }
    }
    return NULL;
}

BlockDriverState *bdrv_next_node(BlockDriverState *bs)
{
    guint i = 0;

    if (!all_nodes) {
        return NULL;
    }
    if (bs) {
        if (!g_ptr_array_find(all_nodes, bs, &i)) {
            return NULL;
        }
        i++;
    }
    return i < all_nodes->len ? g_ptr_array_index(all_nodes, i) : NULL;
}

bool bdrv_set_node_name(BlockDriverState *bs, const char *name,
                        GError **errp)
{
    if (!name || !*name || name[0] == '#' || strlen(name) > 31 ||
        !g_ascii_isalpha(name[0])) {
        g_set_error(errp, VIREO_ERROR, 0, "Invalid node-name: '%s'",
                    name ? name : "");
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            g_set_error(errp, VIREO_ERROR, 0, "Invalid node-name: '%s'",
                        name);
            return false;
        }
    }
    BlockDriverState *other = bdrv_find_node(name);
    if (other && other != bs) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    g_free(bs->node_name);
    bs->node_name = g_strdup(name);
    return true;
}

void bdrv_ref(BlockDriverState *bs)
{
    if (!node_refs) {
        node_refs = g_hash_table_new(NULL, NULL);
    }
    int n = GPOINTER_TO_INT(g_hash_table_lookup(node_refs, bs));
    g_hash_table_insert(node_refs, bs, GINT_TO_POINTER(n + 1));
}

/* ---- opening ---- */

/* -incoming: images open inactive until the migration hands them over */
static bool open_inactive;

static BlockDriverState *bdrv_new(const BlockDriver *drv,
                                  const char *filename,
                                  const BlockOpenOptions *o)
{
    BlockDriverState *bs = g_new0(BlockDriverState, 1);

    bs->drv = drv;
    bs->filename = g_strdup(filename);
    bs->read_only = o->read_only;
    bs->request_alignment = 1;
    return bs;
}

static void bdrv_free(BlockDriverState *bs)
{
    g_free(bs->filename);
    g_free(bs->node_name);
    g_free(bs->backing_file);
    g_free(bs->backing_format);
    g_free(bs);
}

/*
 * Opens a format node over file (whose reference it takes, also on
 * failure), or a protocol node when file is NULL. The node is registered.
 */
BlockDriverState *bdrv_open_format(const BlockDriver *drv,
                                   BlockDriverState *file,
                                   const char *filename,
                                   const BlockOpenOptions *o, GError **errp)
{
    BlockDriverState *bs = bdrv_new(drv, filename, o);

    bs->file = file;
    bs->inactive = open_inactive;
    if (!drv->open(bs, filename, o, errp)) {
        drv->close(bs);     /* close tolerates a half-open state */
        bdrv_unref(bs->file);
        bdrv_unref(bs->backing);
        bdrv_free(bs);
        return NULL;
    }
    bdrv_register(bs);
    return bs;
}

BlockDriverState *bdrv_open_node(const BlockDriver *drv, const char *filename,
                                 const BlockOpenOptions *o, GError **errp)
{
    BlockDriverState *file = NULL;

    if (drv != &bdrv_file) {
        file = bdrv_open_format(&bdrv_file, NULL, filename, o, errp);
        if (!file) {
            return NULL;
        }
    }
    return bdrv_open_format(drv, file, filename, o, errp);
}

void bdrv_close_node(BlockDriverState *bs)
{
    bdrv_unref(bs);
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    if (node_refs) {
        int n = GPOINTER_TO_INT(g_hash_table_lookup(node_refs, bs));
        if (n > 0) {
            if (n == 1) {
                g_hash_table_remove(node_refs, bs);
            } else {
                g_hash_table_insert(node_refs, bs, GINT_TO_POINTER(n - 1));
            }
            return;
        }
    }
    if (all_nodes) {
        g_ptr_array_remove(all_nodes, bs);
    }
    if (bs->drv) {
        bs->drv->close(bs);
    }
    bdrv_unref(bs->file);
    bdrv_unref(bs->backing);
    bdrv_free(bs);
}

/* The driver whose probe is surest about file's first bytes; NULL: none */
static const BlockDriver *bdrv_probe(BlockDriverState *file)
{
    int64_t size = bdrv_getlength(file);
    int len = size < 0 ? 0 : (int)MIN(size, PROBE_BUF_SIZE);
    uint8_t *buf = g_malloc0(PROBE_BUF_SIZE);
    const BlockDriver *best = NULL;
    int best_score = 0;

    if (len > 0 && bdrv_pread(file, 0, buf, len) < 0) {
        len = 0;
    }
    for (unsigned i = 0; len > 0 && i < G_N_ELEMENTS(format_drivers); i++) {
        const BlockDriver *drv = format_drivers[i];
        int score = drv->probe ? drv->probe(buf, len, file->filename) : 0;
        if (score > best_score) {
            best_score = score;
            best = drv;
        }
    }
    g_free(buf);
    return best;
}

/* One image, format given or probed, without its backing chain. */
static BlockDriverState *bdrv_open_image(const char *filename,
                                         const BlockOpenOptions *o,
                                         GError **errp)
{
    const BlockDriver *drv = NULL;

    if (o->format) {
        drv = bdrv_find_format(o->format);
        if (!drv) {
            g_set_error(errp, VIREO_ERROR, 0, "Unknown driver '%s'",
                        o->format);
            return NULL;
        }
        if (drv == &bdrv_file) {
            return bdrv_open_format(drv, NULL, filename, o, errp);
        }
    }
    /* QEMU's blkdebug:CONFIG:IMAGE protocol: the format sits on the
     * blkdebug node, which sits on IMAGE's file node */
    BlockDriverState *file = blkdebug_is_filename(filename)
        ? blkdebug_open_filename(filename, o, errp)
        : bdrv_open_format(&bdrv_file, NULL, filename, o, errp);
    if (!file) {
        return NULL;
    }
    bool probed = false;
    if (!drv) {
        drv = bdrv_probe(file);
        if (!drv) {
            drv = &bdrv_raw;
            probed = true;
        }
    }
    BlockDriverState *bs = bdrv_open_format(drv, file, filename, o, errp);
    if (bs && probed) {
        bs->probed = true;
        if (!o->read_only) {
            log_warn("Image format was not specified for '%s' and probing "
                     "guessed raw.\n"
                     "         Automatically detecting the format is "
                     "dangerous for raw images, write operations on block 0 "
                     "will be restricted.\n"
                     "         Specify the 'raw' format explicitly to remove "
                     "the restrictions.", filename);
        }
    }
    return bs;
}

char *bdrv_backing_path(BlockDriverState *bs)
{
    if (!bs->backing_file || !*bs->backing_file) {
        return NULL;
    }
    if (g_path_is_absolute(bs->backing_file)) {
        return g_strdup(bs->backing_file);
    }
    /* QEMU's path_combine: relative to the directory of the image (of
     * IMAGE in blkdebug:CONFIG:IMAGE, whose rules stay with the top) */
    const char *name = bs->filename;
    if (blkdebug_is_filename(name) &&
        strchr(name + strlen("blkdebug:"), ':')) {
        name = strchr(name + strlen("blkdebug:"), ':') + 1;
    }
    const char *slash = name ? strrchr(name, '/') : NULL;
    if (!slash) {
        return g_strdup(bs->backing_file);
    }
    return g_strdup_printf("%.*s%s", (int)(slash - name + 1), name,
                           bs->backing_file);
}

/* The file that a node's data lives in, for loop detection */
static const char *bdrv_host_filename(BlockDriverState *bs)
{
    while (bs->file) {
        bs = bs->file;
    }
    return bs->filename;
}

static bool chain_seen(GArray *ids, const char *path)
{
    struct stat st;

    if (!path || stat(path, &st) < 0) {
        return false;
    }
    for (guint i = 0; i < ids->len; i += 2) {
        if (g_array_index(ids, uint64_t, i) == st.st_dev &&
            g_array_index(ids, uint64_t, i + 1) == st.st_ino) {
            return true;
        }
    }
    uint64_t id[2] = { st.st_dev, st.st_ino };
    g_array_append_vals(ids, id, 2);
    return false;
}

bool bdrv_open_backing_chain(BlockDriverState *top,
                             const BlockOpenOptions *o, GError **errp)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    BlockDriverState *bs = top;
    bool ok = true;
    int depth = 0;

    /* earlier nodes of a chain that -blockdev built count too */
    for (BlockDriverState *n = top; n; n = n->backing) {
        chain_seen(ids, bdrv_host_filename(n));
        bs = n;
    }
    while (bs->backing_file && *bs->backing_file && !bs->backing) {
        char *path = bdrv_backing_path(bs);
        if (g_str_has_prefix(bs->backing_file, "json:")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not open backing file: json: backing file "
                        "names are not supported ('%s')", bs->backing_file);
            g_free(path);
            ok = false;
            break;
        }
        if (++depth > MAX_BACKING_DEPTH) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Backing file chain too deep (more than %d images)",
                        MAX_BACKING_DEPTH);
            g_free(path);
            ok = false;
            break;
        }
        if (chain_seen(ids, path)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Backing file '%s' creates an infinite loop", path);
            g_free(path);
            ok = false;
            break;
        }
        BlockOpenOptions bo = *o;
        bo.read_only = true;
        bo.format = bs->backing_format && *bs->backing_format
                    ? bs->backing_format : NULL;
        bo.no_backing = true;
        GError *err = NULL;
        BlockDriverState *backing = bdrv_open_image(path, &bo, &err);
        g_free(path);
        if (!backing) {
            g_set_error(errp, VIREO_ERROR, 0, "Could not open backing file: %s",
                        err->message);
            g_error_free(err);
            ok = false;
            break;
        }
        bs->backing = backing;
        bs = backing;
    }
    g_array_free(ids, TRUE);
    return ok;
}

BlockDriverState *bdrv_open(const char *filename, const BlockOpenOptions *o,
                            GError **errp)
{
    BlockDriverState *bs = bdrv_open_image(filename, o, errp);

    if (bs && !o->no_backing && !bdrv_open_backing_chain(bs, o, errp)) {
        bdrv_unref(bs);
        return NULL;
    }
    return bs;
}

int bdrv_backing_depth(BlockDriverState *bs)
{
    int depth = 0;

    for (bs = bs ? bs->backing : NULL; bs; bs = bs->backing) {
        depth++;
    }
    return depth;
}

/* ---- requests ---- */

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    if (bs && bs->drv && bs->drv->debug_event) {
        bs->drv->debug_event(bs, event);
    }
}

void bdrv_submit(BlockDriverState *bs, BlockRequest *req)
{
    bs->drv->submit(bs, req);
}

int bdrv_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    return bs->drv->run_sync(bs, req);
}

int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    return bs->drv->getlength(bs);
}

static int bdrv_sync_req(BlockDriverState *bs, BlockOp op, int64_t offset,
                         void *buf, int64_t bytes, int flags)
{
    struct iovec v = { buf, bytes };
    BlockRequest req = {
        .op = op, .offset = offset, .bytes = bytes, .flags = flags,
        .iov = &v, .iovcnt = buf ? 1 : 0,
    };

    if (offset < 0 || bytes < 0) {
        return -EINVAL;
    }
    if (bytes == 0 && op != BLK_OP_FLUSH) {
        return 0;
    }
    return bdrv_run_sync(bs, &req);
}

int bdrv_pread(BlockDriverState *bs, int64_t offset, void *buf,
               int64_t bytes)
{
    int64_t len = bdrv_getlength(bs);

    if (len < 0) {
        return len;
    }
    if (offset < 0 || bytes < 0) {
        return -EINVAL;
    }
    if (offset >= len) {
        memset(buf, 0, bytes);
        return 0;
    }
    if (bytes > len - offset) {
        memset((uint8_t *)buf + (len - offset), 0, bytes - (len - offset));
        bytes = len - offset;
    }
    return bdrv_sync_req(bs, BLK_OP_READ, offset, buf, bytes, 0);
}

int bdrv_pwrite(BlockDriverState *bs, int64_t offset, const void *buf,
                int64_t bytes)
{
    if (bs->read_only) {
        return -EPERM;
    }
    return bdrv_sync_req(bs, BLK_OP_WRITE, offset, (void *)buf, bytes, 0);
}

int bdrv_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags)
{
    if (bs->read_only) {
        return -EPERM;
    }
    return bdrv_sync_req(bs, BLK_OP_ZEROES, offset, NULL, bytes, flags);
}

int bdrv_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    if (bs->read_only) {
        return -EPERM;
    }
    return bdrv_sync_req(bs, BLK_OP_DISCARD, offset, NULL, bytes, 0);
}

int bdrv_flush(BlockDriverState *bs)
{
    if (bs->read_only) {
        return 0;
    }
    return bdrv_sync_req(bs, BLK_OP_FLUSH, 0, NULL, 0, 0);
}

int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    int64_t len = bdrv_getlength(bs);
    int64_t dummy_map;
    BlockDriverState *dummy_file;

    map = map ? map : &dummy_map;
    file = file ? file : &dummy_file;
    *map = 0;
    *file = NULL;
    if (len < 0) {
        *pnum = 0;
        return len;
    }
    if (offset < 0 || bytes <= 0) {
        *pnum = 0;
        return offset < 0 || bytes < 0 ? -EINVAL : 0;
    }
    if (offset >= len) {
        *pnum = bytes;
        return BDRV_BLOCK_ZERO;
    }
    bytes = MIN(bytes, len - offset);
    if (!bs->drv->block_status) {
        *pnum = bytes;
        *map = offset;
        *file = bs;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED |
               BDRV_BLOCK_OFFSET_VALID;
    }
    int ret = bs->drv->block_status(bs, offset, bytes, pnum, map, file);
    if (ret >= 0 && (*pnum <= 0 || *pnum > bytes)) {
        /* a driver bug must not make a caller loop forever */
        *pnum = *pnum <= 0 ? MIN(bytes, 512) : bytes;
    }
    return ret;
}

int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum)
{
    int64_t n = bytes;

    for (BlockDriverState *bs = top; bs && bs != base; bs = bs->backing) {
        int64_t pnum_inter;
        int ret = bdrv_block_status(bs, offset, n, &pnum_inter, NULL, NULL);
        if (ret < 0) {
            *pnum = 0;
            return ret;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            *pnum = MIN(pnum_inter, n);
            return 1;
        }
        /* only as far as every layer so far agrees it is unallocated */
        n = MIN(n, pnum_inter);
    }
    *pnum = n;
    return 0;
}

/* ---- create, truncate ---- */

bool bdrv_create(const char *format, const char *filename, int64_t size,
                 Opts *opts, GError **errp)
{
    const BlockDriver *drv = bdrv_find_format(format);
    GError *err = NULL;

    if (!drv) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: Unknown file format '%s'",
                    filename, format ? format : "");
        return false;
    }
    if (!drv->create) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: Format driver '%s' does not support image creation",
                    filename, drv->format_name);
        return false;
    }
    if (size < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: Image size must be a non-negative number", filename);
        return false;
    }
    if (!drv->create(filename, size, opts, &err)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: %s", filename,
                    err ? err->message : "Could not create image");
        g_clear_error(&err);
        return false;
    }
    return true;
}

bool bdrv_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                   PreallocMode prealloc, GError **errp)
{
    if (offset < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Image size cannot be negative");
        return false;
    }
    if (bs->read_only) {
        g_set_error(errp, VIREO_ERROR, 0, "Image is read-only");
        return false;
    }
    if (!bs->drv->truncate) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Image format driver does not support resize");
        return false;
    }
    return bs->drv->truncate(bs, offset, shrink, prealloc, errp);
}

/* ---- image info ---- */

/*
 * QEMU prints objects in its QDict's order: by bucket of a tdb-style hash
 * of the key (512 buckets), the later insertion first within a bucket.
 * Output that follows it diffs cleanly against qemu-img's.
 */
static unsigned qdict_bucket(const char *key)
{
    uint32_t value = 0x238F13AFu * (uint32_t)strlen(key);

    for (unsigned i = 0; key[i]; i++) {
        value += (uint32_t)(uint8_t)key[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % 512;
}

typedef struct KeyOrder {
    const char *key;
    json_t *value;
    unsigned bucket;
    unsigned seq;
} KeyOrder;

static int key_order_cmp(const void *a, const void *b)
{
    const KeyOrder *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    return x->seq > y->seq ? -1 : 1;
}

/* Rebuilds obj (and objects inside it) in QEMU's key order. */
json_t *bdrv_json_qemu_order(json_t *obj)
{
    if (json_is_array(obj)) {
        size_t i;
        json_t *v;
        json_array_foreach(obj, i, v) {
            json_array_set_new(obj, i, bdrv_json_qemu_order(json_incref(v)));
        }
        return obj;
    }
    if (!json_is_object(obj)) {
        return obj;
    }
    size_t n = json_object_size(obj), i = 0;
    KeyOrder *keys = g_new(KeyOrder, n ? n : 1);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        keys[i] = (KeyOrder){ k, v, qdict_bucket(k), i };
        i++;
    }
    qsort(keys, n, sizeof(*keys), key_order_cmp);
    json_t *out = json_object();
    for (i = 0; i < n; i++) {
        json_object_set_new(out, keys[i].key,
                            bdrv_json_qemu_order(json_incref(keys[i].value)));
    }
    g_free(keys);
    json_decref(obj);
    return out;
}

void bdrv_snapshot_info_free(BdrvSnapshotInfo *sn)
{
    if (sn) {
        g_free(sn->id);
        g_free(sn->name);
    }
}

json_t *bdrv_snapshot_info_json(const BdrvSnapshotInfo *sn)
{
    json_t *o = json_object();

    if (sn->icount != -1) {
        json_object_set_new(o, "icount", json_integer(sn->icount));
    }
    json_object_set_new(o, "vm-clock-nsec",
                        json_integer(sn->vm_clock_nsec % 1000000000ULL));
    json_object_set_new(o, "name", json_string(sn->name ? sn->name : ""));
    json_object_set_new(o, "date-sec", json_integer(sn->date_sec));
    json_object_set_new(o, "date-nsec", json_integer(sn->date_nsec));
    json_object_set_new(o, "vm-clock-sec",
                        json_integer(sn->vm_clock_nsec / 1000000000ULL));
    json_object_set_new(o, "id", json_string(sn->id ? sn->id : ""));
    json_object_set_new(o, "vm-state-size", json_integer(sn->vm_state_size));
    return o;
}

char *bdrv_snapshot_row(const BdrvSnapshotInfo *sn, const char *id)
{
    char date[64], clock[64], count[32] = "";
    time_t t = sn->date_sec;
    struct tm tm;
    uint64_t secs = sn->vm_clock_nsec / 1000000000;
    g_autofree char *size = size_to_str(sn->vm_state_size);

    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d", (int)(secs / 3600),
             (int)((secs / 60) % 60), (int)(secs % 60),
             (int)((sn->vm_clock_nsec / 1000000) % 1000));
    if (sn->icount >= 0) {
        snprintf(count, sizeof(count), "%" PRId64, sn->icount);
    }
    return g_strdup_printf("%-9s %-16s %8s%20s%13s%11s\n", id,
                           sn->name ? sn->name : "", size, date, clock,
                           count);
}

int64_t bdrv_allocated_file_size(BlockDriverState *bs)
{
    if (bs->drv->allocated_file_size) {
        return bs->drv->allocated_file_size(bs);
    }
    if (bs->file) {
        return bdrv_allocated_file_size(bs->file);
    }
    return -ENOTSUP;
}

/* The snapshots array, or NULL when the format has none to list */
static json_t *bdrv_snapshots_json(BlockDriverState *bs)
{
    BdrvSnapshotInfo *sn = NULL;
    int n;

    if (!bs->drv->snapshot_list ||
        (n = bs->drv->snapshot_list(bs, &sn)) <= 0) {
        g_free(sn);
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, bdrv_snapshot_info_json(&sn[i]));
        bdrv_snapshot_info_free(&sn[i]);
    }
    g_free(sn);
    return arr;
}

static json_t *bdrv_image_info_one(BlockDriverState *bs, bool backing_chain)
{
    json_t *o = json_object();
    json_t *snaps = bdrv_snapshots_json(bs);
    BlockDriverInfo bdi = { 0 };
    int64_t size = bdrv_getlength(bs);
    int64_t actual = bdrv_allocated_file_size(bs);

    if (snaps) {
        json_object_set_new(o, "snapshots", snaps);
    }
    json_object_set_new(o, "virtual-size", json_integer(size < 0 ? 0 : size));
    json_object_set_new(o, "filename", json_string(bs->filename));
    bool have_info = bs->drv->get_info && bs->drv->get_info(bs, &bdi);
    if (have_info && bdi.cluster_size) {
        json_object_set_new(o, "cluster-size",
                            json_integer(bdi.cluster_size));
    }
    json_object_set_new(o, "format", json_string(bs->drv->format_name));
    if (actual >= 0) {
        json_object_set_new(o, "actual-size", json_integer(actual));
    }
    if (bs->drv->get_specific_info) {
        json_t *spec = bs->drv->get_specific_info(bs);
        if (spec) {
            json_object_set_new(o, "format-specific", spec);
        }
    }
    json_object_set_new(o, "dirty-flag", json_boolean(bdi.is_dirty));
    if (bs->backing_file && *bs->backing_file) {
        char *full = bdrv_backing_path(bs);
        json_object_set_new(o, "backing-filename",
                            json_string(bs->backing_file));
        json_object_set_new(o, "full-backing-filename", json_string(full));
        g_free(full);
        if (bs->backing_format && *bs->backing_format) {
            json_object_set_new(o, "backing-filename-format",
                                json_string(bs->backing_format));
        }
    }
    if (backing_chain && bs->backing) {
        json_object_set_new(o, "backing-image",
                            bdrv_image_info_one(bs->backing, true));
    }
    return o;
}

json_t *bdrv_query_image_info(BlockDriverState *bs, bool backing_chain)
{
    return bdrv_json_qemu_order(bdrv_image_info_one(bs, backing_chain));
}

/* ---- handover at migration (QEMU's inactivate / activate) ---- */

void blk_set_open_inactive(bool on)
{
    open_inactive = on;
}

bool blk_any_inactive(void)
{
    for (guint i = 0; all_nodes && i < all_nodes->len; i++) {
        BlockDriverState *bs = g_ptr_array_index(all_nodes, i);
        if (bs->inactive) {
            return true;
        }
    }
    return false;
}

static bool node_inactivate(BlockDriverState *bs, GError **errp)
{
    if (bs->inactive) {
        return true;
    }
    if (bs->drv->inactivate && !bs->drv->inactivate(bs, errp)) {
        g_prefix_error(errp, "inactivating '%s': ", bs->filename);
        return false;
    }
    bs->inactive = true;
    return true;
}

/*
 * Newest node first: a format node writes its caches back through its
 * file child before that child lets go of the image's locks.
 */
bool blk_inactivate_all(GError **errp)
{
    for (guint i = all_nodes ? all_nodes->len : 0; i > 0; i--) {
        if (!node_inactivate(g_ptr_array_index(all_nodes, i - 1), errp)) {
            return false;
        }
    }
    return true;
}

/*
 * Oldest node first: a file child holds its locks again before the format
 * node above it re-reads the metadata through it. On failure the nodes
 * already activated are inactivated again, so a failed handover leaves no
 * lock behind that would keep the other side from taking its images back.
 */
bool blk_activate_all(GError **errp)
{
    for (guint i = 0; all_nodes && i < all_nodes->len; i++) {
        BlockDriverState *bs = g_ptr_array_index(all_nodes, i);
        if (!bs->inactive) {
            continue;
        }
        if (bs->drv->activate && !bs->drv->activate(bs, errp)) {
            g_prefix_error(errp, "activating '%s': ", bs->filename);
            blk_inactivate_all(NULL);
            return false;
        }
        bs->inactive = false;
    }
    open_inactive = false;
    return true;
}
