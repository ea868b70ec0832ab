/*
 * vireo-img create, resize and amend, and the table of each format's
 * creation options (the -o keys qemu-img knows, in the order its
 * "Formatting ..." line prints them, with the defaults it shows).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

typedef enum OptType {
    OPT_STR,
    OPT_BOOL,
    OPT_SIZE,
    OPT_NUM,
} OptType;

typedef struct CreateOpt {
    const char *name;
    OptType type;
    const char *def;        /* shown in the Formatting line when unset */
    const char *help;
    bool unsupported;       /* qemu-img has it; Vireo does not do it */
    bool hidden;            /* a protocol-level key: not in -o help */
} CreateOpt;

static const CreateOpt qcow2_opts[] = {
    { "encrypt.format", OPT_STR, NULL,
      "Encrypt the image, format choices: 'aes', 'luks'", true },
    { "cluster_size", OPT_SIZE, "65536", "qcow2 cluster size" },
    { "extended_l2", OPT_BOOL, "off", "Extended L2 tables" },
    { "preallocation", OPT_STR, NULL,
      "Preallocation mode (allowed values: off, metadata, falloc, full)" },
    { "compression_type", OPT_STR, "zlib",
      "Compression method used for image cluster compression" },
    { "size", OPT_SIZE, NULL, "Virtual disk size" },
    { "backing_file", OPT_STR, NULL, "File name of a base image" },
    { "backing_fmt", OPT_STR, NULL, "Image format of the base image" },
    { "encryption", OPT_BOOL, NULL, "Encrypt the image with format 'aes'. "
      "(Deprecated in favor of encrypt.format=aes)", true },
    { "compat", OPT_STR, NULL,
      "Compatibility level (v2 [0.10] or v3 [1.1])" },
    { "data_file", OPT_STR, NULL, "File name of an external data file",
      true },
    { "data_file_raw", OPT_BOOL, NULL,
      "The external data file must stay valid as a raw image", true },
    { "lazy_refcounts", OPT_BOOL, "off", "Postpone refcount updates" },
    { "refcount_bits", OPT_NUM, "16",
      "Width of a reference count entry in bits" },
    { "nocow", OPT_BOOL, NULL, NULL, false, true },
    { "extent_size_hint", OPT_SIZE, NULL, NULL, false, true },
    { NULL },
};

static const CreateOpt raw_opts[] = {
    { "size", OPT_SIZE, NULL, "Virtual disk size" },
    { "preallocation", OPT_STR, NULL, NULL, false, true },
    { "nocow", OPT_BOOL, NULL, NULL, false, true },
    { "extent_size_hint", OPT_SIZE, NULL, NULL, false, true },
    { NULL },
};

static const CreateOpt *create_opts_of(const char *fmt)
{
    if (!strcmp(fmt, "qcow2")) {
        return qcow2_opts;
    }
    if (!strcmp(fmt, "raw") || !strcmp(fmt, "file")) {
        return raw_opts;
    }
    return NULL;
}

static const char *const type_names[] = {
    [OPT_STR] = "str", [OPT_BOOL] = "bool (on/off)", [OPT_SIZE] = "size",
    [OPT_NUM] = "num",
};

static int opt_name_cmp(const void *a, const void *b)
{
    const CreateOpt *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

bool img_print_create_help(const char *fmt)
{
    const CreateOpt *opts = create_opts_of(fmt);
    GPtrArray *sorted = g_ptr_array_new();

    if (!opts) {
        return false;
    }
    for (const CreateOpt *o = opts; o->name; o++) {
        if (!o->hidden) {
            g_ptr_array_add(sorted, (gpointer)o);
        }
    }
    qsort(sorted->pdata, sorted->len, sizeof(gpointer), opt_name_cmp);
    printf("Supported %s options:\n", fmt);
    for (guint i = 0; i < sorted->len; i++) {
        const CreateOpt *o = g_ptr_array_index(sorted, i);
        char *left = g_strdup_printf("%s=<%s>", o->name, type_names[o->type]);
        printf("  %-22s - %s\n", left, o->help);
        g_free(left);
    }
    printf("\nThe protocol level may support further options.\n"
           "Specify the target filename to include those options.\n");
    g_ptr_array_free(sorted, true);
    return true;
}

Opts *img_parse_create_opts(const char *optstr)
{
    GError *err = NULL;
    Opts *opts = opts_parse(optstr ? optstr : "", NULL, &err);
    if (!opts) {
        img_report(err);
    }
    return opts;
}

const char *img_opts_peek(Opts *opts, const char *key)
{
    const char *v = NULL;
    for (guint i = 0; opts && i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        if (!strcmp(p->key, key)) {
            v = p->value;
        }
    }
    return v;
}

void img_opts_set(Opts *opts, const char *key, const char *value)
{
    OptPair p = { g_strdup(key), g_strdup(value), false };
    g_array_append_val(opts->pairs, p);
}

static const CreateOpt *find_opt(const CreateOpt *table, const char *key)
{
    for (const CreateOpt *o = table; o->name; o++) {
        if (!strcmp(o->name, key)) {
            return o;
        }
    }
    return NULL;
}

bool img_check_create_opts(const char *fmt, Opts *opts, GError **errp)
{
    const CreateOpt *table = create_opts_of(fmt);

    for (guint i = 0; opts && i < opts->pairs->len; i++) {
        OptPair *p = &g_array_index(opts->pairs, OptPair, i);
        const CreateOpt *o = table ? find_opt(table, p->key) : NULL;
        if (!o && table && g_str_has_prefix(p->key, "encrypt.")) {
            o = table;  /* encrypt.*: the encryption options */
        }
        if (!o) {
            g_set_error(errp, VIREO_ERROR, 0, "Invalid parameter '%s'",
                        p->key);
            return false;
        }
        if (o->unsupported) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Option '%s' is not supported by this build "
                        "(encryption and external data files are not "
                        "implemented)", p->key);
            return false;
        }
        if (o->type == OPT_SIZE) {
            int64_t v;
            if (!img_parse_size(p->value, &v)) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "Parameter '%s' expects a non-negative number "
                            "below 2^64\nOptional suffix k, M, G, T, P or E "
                            "means kilo-, mega-, giga-, tera-, peta-\nand "
                            "exabytes, respectively.", p->key);
                return false;
            }
        } else if (o->type == OPT_BOOL) {
            bool b;
            if (!parse_bool(p->value, &b, NULL)) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "Parameter '%s' expects 'on' or 'off'", p->key);
                return false;
            }
        }
    }
    return true;
}

char *img_describe_create_opts(const char *fmt, Opts *opts, int64_t size)
{
    const CreateOpt *table = create_opts_of(fmt);
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "fmt=%s", fmt);
    for (const CreateOpt *o = table; o && o->name; o++) {
        const char *v = img_opts_peek(opts, o->name);
        if (!strcmp(o->name, "size")) {
            g_string_append_printf(s, " size=%" PRId64, size);
            continue;
        }
        if (!v) {
            v = o->def;
        }
        if (!v) {
            continue;
        }
        int64_t n;
        if (o->type == OPT_SIZE && img_parse_size(v, &n)) {
            g_string_append_printf(s, " %s=%" PRId64, o->name, n);
        } else {
            g_string_append_printf(s, " %s=%s", o->name, v);
        }
    }
    return g_string_free(s, false);
}

/* Appends "-o" strings as qemu-img does: several -o are one list. */
static void add_optstr(char **acc, const char *more)
{
    char *joined = *acc ? g_strdup_printf("%s,%s", *acc, more)
                        : g_strdup(more);
    g_free(*acc);
    *acc = joined;
}

static bool is_help_opt(const char *optstr)
{
    if (!optstr) {
        return false;
    }
    char **parts = g_strsplit(optstr, ",", -1);
    bool help = false;
    for (char **p = parts; *p; p++) {
        help |= !strcmp(*p, "help") || !strcmp(*p, "?");
    }
    g_strfreev(parts);
    return help;
}

/* The size of an existing backing file, for create -b without a size. */
static bool backing_size(const char *path, const char *fmt, int64_t *size)
{
    BlockDriverState *bs = img_open(path, fmt, IMG_OPEN_SHARE);
    if (!bs) {
        img_error("Could not open backing image.");
        return false;
    }
    *size = bdrv_getlength(bs);
    bdrv_unref(bs);
    return *size >= 0;
}

/* A relative backing name is relative to the new image's folder. */
static char *backing_path_for(const char *filename, const char *backing)
{
    if (g_path_is_absolute(backing)) {
        return g_strdup(backing);
    }
    char *dir = g_path_get_dirname(filename);
    char *p = g_build_filename(dir, backing, NULL);
    g_free(dir);
    return p;
}

static bool bad_size_error(void)
{
    img_error("Invalid image size specified. You may use k, M, G, T, P or E "
              "suffixes for\nkilobytes, megabytes, gigabytes, terabytes, "
              "petabytes and exabytes.");
    return false;
}

int img_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'O' },
        { NULL },
    };
    const char *fmt = "raw", *base = NULL, *base_fmt = NULL;
    char *optstr = NULL;
    bool unsafe = false, quiet = false;
    int c, ret = 1;
    Opts *opts = NULL;
    GError *err = NULL;

    while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'F': base_fmt = optarg; break;
        case 'b': base = optarg; break;
        case 'f': fmt = optarg; break;
        case 'o': add_optstr(&optstr, optarg); break;
        case 'q': quiet = true; break;
        case 'u': unsafe = true; break;
        case 'h':
            printf("usage: " IMG_PROG " create [-f fmt] [-o options] "
                   "[-b backing_file [-F backing_fmt]] [-u] [-q] filename "
                   "[size]\n");
            return 0;
        case 'O':
            return img_usage_error("--object is not supported");
        default:
            g_free(optstr);
            return img_bad_option(argv, c);
        }
    }
    if (is_help_opt(optstr)) {
        g_free(optstr);
        if (!img_print_create_help(fmt)) {
            img_error("Unknown file format '%s'", fmt);
            return 1;
        }
        return 0;
    }
    if (optind >= argc) {
        g_free(optstr);
        return img_usage_error("Expecting image file name");
    }
    const char *filename = argv[optind++];
    const char *size_arg = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) {
        g_free(optstr);
        return img_usage_error("Unexpected argument: %s", argv[optind]);
    }

    if (!bdrv_find_format(fmt) || !create_opts_of(fmt)) {
        img_error("%s: Unknown file format '%s'", filename, fmt);
        goto out;
    }
    opts = img_parse_create_opts(optstr);
    if (!opts) {
        goto out;
    }
    if (base) {
        img_opts_set(opts, "backing_file", base);
    }
    if (base_fmt) {
        img_opts_set(opts, "backing_fmt", base_fmt);
    }
    if (!img_check_create_opts(fmt, opts, &err)) {
        img_error("%s: %s", filename, err->message);
        g_clear_error(&err);
        goto out;
    }

    int64_t size = -1;
    const char *size_opt = img_opts_peek(opts, "size");
    if (size_arg) {
        if (!img_parse_size(size_arg, &size)) {
            bad_size_error();
            goto out;
        }
    } else if (size_opt) {
        img_parse_size(size_opt, &size);
    }
    const char *backing = img_opts_peek(opts, "backing_file");
    const char *backing_fmt = img_opts_peek(opts, "backing_fmt");
    if (backing && !backing_fmt) {
        /* qemu-img 7.2 insists on the backing format */
        BlockDriverState *bbs = NULL;
        char *path = backing_path_for(filename, backing);
        if (!unsafe) {
            bbs = img_open(path, NULL, IMG_OPEN_SHARE | IMG_OPEN_NO_BACKING);
        }
        img_error("%s: Backing file specified without backing format%s%s%s",
                  filename, bbs ? "\nDetected format of " : "",
                  bbs ? bbs->drv->format_name : "", bbs ? "." : "");
        if (bbs) {
            bdrv_unref(bbs);
        }
        g_free(path);
        goto out;
    }
    if (backing && !unsafe) {
        char *path = backing_path_for(filename, backing);
        int64_t bsize;
        bool ok = backing_size(path, backing_fmt, &bsize);
        g_free(path);
        if (!ok) {
            goto out;
        }
        if (size < 0) {
            size = bsize;
        }
    }
    if (size < 0) {
        img_error("%s: Image creation needs a size parameter", filename);
        goto out;
    }
    /* the size travels as an argument, not as an option */
    opts_get(opts, "size");

    if (!quiet) {
        char *desc = img_describe_create_opts(fmt, opts, size);
        printf("Formatting '%s', %s\n", filename, desc);
        fflush(stdout);
        g_free(desc);
    }
    /* hints Vireo's drivers have no use for */
    opts_get(opts, "nocow");
    opts_get(opts, "extent_size_hint");
    if (!bdrv_create(fmt, filename, size, opts, &err)) {
        img_error("%s", err->message);
        g_clear_error(&err);
        goto out;
    }
    if (!opts_check_unused(opts, "option", &err)) {
        img_error("%s: %s", filename, err->message);
        g_clear_error(&err);
        goto out;
    }
    ret = 0;
out:
    if (opts) {
        opts_free(opts);
    }
    g_free(optstr);
    return ret;
}

int img_resize(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "shrink", no_argument, NULL, 's' },
        { "preallocation", required_argument, NULL, 'P' },
        { "image-opts", no_argument, NULL, 'I' },
        { "object", required_argument, NULL, 'O' },
        { NULL },
    };
    const char *fmt = NULL;
    bool shrink = false, quiet = false;
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    GError *err = NULL;
    int c;

    /*
     * "-5M" is a size, not an option: qemu-img takes the last argument
     * out of getopt's sight first.
     */
    if (argc < 3) {
        return img_usage_error("Expecting image file name and size");
    }
    const char *size_arg = argv[--argc];
    while ((c = getopt_long(argc, argv, ":f:hq", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 's': shrink = true; break;
        case 'P':
            if (!bdrv_parse_prealloc(optarg, &prealloc, &err)) {
                return img_report(err);
            }
            break;
        case 'h':
            printf("usage: " IMG_PROG " resize [--shrink] [-f fmt] "
                   "[--preallocation=prealloc] filename [+ | -]size\n");
            return 0;
        case 'I':
        case 'O':
            return img_usage_error("option '%s' is not supported",
                                   argv[optind - 1]);
        default:
            return img_bad_option(argv, c);
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting image file name and size");
    }
    const char *filename = argv[optind];

    int sign = 0;
    if (*size_arg == '+' || *size_arg == '-') {
        sign = *size_arg == '+' ? 1 : -1;
        size_arg++;
    }
    int64_t n;
    if (!img_parse_size(size_arg, &n)) {
        img_error("Invalid size specified.");
        return 1;
    }

    BlockDriverState *bs = img_open(filename, fmt,
                                    IMG_OPEN_RW | IMG_OPEN_NO_BACKING);
    if (!bs) {
        return 1;
    }
    int64_t cur = bdrv_getlength(bs), size = n;
    if (sign) {
        size = cur + sign * n;
    }
    int ret = 1;
    if (size <= 0) {
        img_error("New image size must be positive");
    } else if (size < cur && !shrink) {
        img_error("Use the --shrink option to perform a shrink operation.");
        img_warn("Shrinking an image will delete all data beyond the "
                 "shrunken image's end. Before performing such an "
                 "operation, make sure there is no important data there.");
    } else if (!bdrv_truncate(bs, size, shrink, prealloc, &err)) {
        img_report(err);
    } else {
        if (!quiet) {
            printf("Image resized.\n");
        }
        ret = 0;
    }
    bdrv_unref(bs);
    return ret;
}

int img_amend(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force", no_argument, NULL, 'F' },
        { NULL },
    };
    const char *fmt = NULL;
    char *optstr = NULL;
    bool progress = false;
    GError *err = NULL;
    int c, ret = 1;

    while ((c = getopt_long(argc, argv, ":f:o:hqpt:", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'o': add_optstr(&optstr, optarg); break;
        case 'p': progress = true; break;
        case 'q': progress = false; break;
        case 't': break;    /* cache mode: the tool's I/O is its own */
        case 'F': break;
        case 'h':
            printf("usage: " IMG_PROG " amend [-p] [-q] [-f fmt] -o options "
                   "filename\n");
            return 0;
        default:
            g_free(optstr);
            return img_bad_option(argv, c);
        }
    }
    if (!optstr) {
        return img_usage_error("Must specify options (-o)");
    }
    if (is_help_opt(optstr) && fmt) {
        g_free(optstr);
        return img_print_create_help(fmt) ? 0 : 1;
    }
    if (optind != argc - 1) {
        g_free(optstr);
        return img_usage_error("Expecting one image file name");
    }
    const char *filename = argv[optind];
    BlockDriverState *bs = img_open(filename, fmt,
                                    IMG_OPEN_RW | IMG_OPEN_NO_BACKING);
    Opts *opts = NULL;
    if (!bs) {
        goto out;
    }
    if (is_help_opt(optstr)) {
        ret = img_print_create_help(bs->drv->format_name) ? 0 : 1;
        goto out;
    }
    if (!bs->drv->amend) {
        img_error("Format driver '%s' does not support option amendment",
                  bs->drv->format_name);
        goto out;
    }
    opts = img_parse_create_opts(optstr);
    if (!opts) {
        goto out;
    }
    if (!img_check_create_opts(bs->drv->format_name, opts, &err)) {
        img_report(err);
        goto out;
    }
    ImgProgress p;
    img_progress_init(&p, progress);
    if (!bs->drv->amend(bs, opts, &err)) {
        img_progress_end(&p);
        img_report(err);
        goto out;
    }
    img_progress_end(&p);
    if (!opts_check_unused(opts, "option", &err)) {
        img_report(err);
        goto out;
    }
    ret = 0;
out:
    if (opts) {
        opts_free(opts);
    }
    if (bs) {
        bdrv_unref(bs);
    }
    g_free(optstr);
    return ret;
}
