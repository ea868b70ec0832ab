/*
 * vireo-img compare, commit and rebase: the commands that look at two
 * images (or two layers of a backing chain) at once.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

/* Offset of the first 512-byte sector where a and b differ, or -1. */
static int64_t first_difference(const uint8_t *a, const uint8_t *b,
                                int64_t len)
{
    if (!memcmp(a, b, len)) {
        return -1;
    }
    for (int64_t i = 0; i < len; i += 512) {
        int64_t n = MIN(512, len - i);
        if (memcmp(a + i, b + i, n)) {
            return i;
        }
    }
    return -1;
}

/* Offset of the first 512-byte sector of buf that is not zero, or -1. */
static int64_t first_nonzero(const uint8_t *buf, int64_t len)
{
    if (img_buffer_is_zero(buf, len)) {
        return -1;
    }
    for (int64_t i = 0; i < len; i += 512) {
        if (!img_buffer_is_zero(buf + i, MIN(512, len - i))) {
            return i;
        }
    }
    return -1;
}

/* ---- compare ---- */

/* 0: same, 1: mismatch printed, -errno: error printed. */
static int compare_common(BlockDriverState *a, BlockDriverState *b,
                          int64_t len, bool strict, bool quiet,
                          ImgProgress *p, int64_t total, uint8_t *ba,
                          uint8_t *bb)
{
    int64_t pa, pb, map;
    int depth;
    BlockDriverState *file;

    for (int64_t off = 0; off < len;) {
        int ra = img_chain_status(a, NULL, off, len - off, &pa, &depth, &map,
                                  &file);
        int rb = img_chain_status(b, NULL, off, len - off, &pb, &depth, &map,
                                  &file);
        if (ra < 0 || rb < 0) {
            img_error("Sector allocation test failed for %s",
                      ra < 0 ? a->filename : b->filename);
            return -EIO;
        }
        int64_t n = MIN(pa, pb);
        bool alloc_a = ra & (BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA);
        bool alloc_b = rb & (BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA);
        if (strict && alloc_a != alloc_b) {
            if (!quiet) {
                printf("Strict mode: Offset %" PRId64
                       " block status mismatch!\n", off);
            }
            return 1;
        }
        if ((ra & BDRV_BLOCK_ZERO) && (rb & BDRV_BLOCK_ZERO)) {
            off += n;
            img_progress_update(p, (double)off / total);
            continue;
        }
        for (int64_t end = off + n; off < end;) {
            int64_t m = MIN(end - off, IMG_BUF_SIZE);
            int64_t at;
            int ret = bdrv_pread(a, off, ba, m);
            if (ret == 0) {
                ret = bdrv_pread(b, off, bb, m);
            }
            if (ret < 0) {
                img_error("Error while reading offset %" PRId64 ": %s", off,
                          g_strerror(-ret));
                return ret;
            }
            at = first_difference(ba, bb, m);
            if (at >= 0) {
                if (!quiet) {
                    printf("Content mismatch at offset %" PRId64 "!\n",
                           off + at);
                }
                return 1;
            }
            off += m;
            img_progress_update(p, (double)off / total);
        }
    }
    return 0;
}

/* The rest of the longer image must read as zeros. */
static int compare_tail(BlockDriverState *bs, int64_t from, int64_t len,
                        bool quiet, ImgProgress *p, int64_t total,
                        uint8_t *buf)
{
    int64_t pnum, map;
    int depth;
    BlockDriverState *file;

    for (int64_t off = from; off < len;) {
        int r = img_chain_status(bs, NULL, off, len - off, &pnum, &depth,
                                 &map, &file);
        if (r < 0) {
            img_error("Sector allocation test failed for %s", bs->filename);
            return r;
        }
        if (r & BDRV_BLOCK_ZERO) {
            off += pnum;
            continue;
        }
        for (int64_t end = off + pnum; off < end;) {
            int64_t m = MIN(end - off, IMG_BUF_SIZE), at;
            int ret = bdrv_pread(bs, off, buf, m);
            if (ret < 0) {
                img_error("Error while reading offset %" PRId64 " of %s: %s",
                          off, bs->filename, g_strerror(-ret));
                return ret;
            }
            at = first_nonzero(buf, m);
            if (at >= 0) {
                if (!quiet) {
                    printf("Content mismatch at offset %" PRId64 "!\n",
                           off + at);
                }
                return 1;
            }
            off += m;
            img_progress_update(p, (double)off / total);
        }
    }
    return 0;
}

int img_compare(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL },
    };
    const char *fmt1 = NULL, *fmt2 = NULL;
    bool strict = false, quiet = false, progress = false;
    int flags = 0, c, ret = 2;

    while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt1 = optarg; break;
        case 'F': fmt2 = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 's': strict = true; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 'T': break;    /* cache mode: the tool's I/O is its own */
        case 'h':
            printf("usage: " IMG_PROG " compare [-f fmt] [-F fmt] [-p] [-q] "
                   "[-s] [-U] filename1 filename2\n");
            return 0;
        default:
            img_bad_option(argv, c);
            return 2;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 2) {
        img_usage_error("Expecting two image file names");
        return 2;
    }
    BlockDriverState *a = img_open(argv[optind], fmt1, flags);
    BlockDriverState *b = a ? img_open(argv[optind + 1], fmt2, flags) : NULL;
    uint8_t *ba = NULL, *bb = NULL;
    if (!a || !b) {
        goto out;
    }
    int64_t la = bdrv_getlength(a), lb = bdrv_getlength(b);
    if (la < 0 || lb < 0) {
        img_error("Can't get size of %s", la < 0 ? argv[optind]
                                                 : argv[optind + 1]);
        goto out;
    }
    if (strict && la != lb) {
        if (!quiet) {
            printf("Strict mode: Image size mismatch!\n");
        }
        ret = 1;
        goto out;
    }
    ba = img_buf_alloc(IMG_BUF_SIZE);
    bb = img_buf_alloc(IMG_BUF_SIZE);
    ImgProgress p;
    int64_t total = MAX(la, lb);
    img_progress_init(&p, progress);
    int r = compare_common(a, b, MIN(la, lb), strict, quiet, &p, total, ba,
                           bb);
    if (r == 0 && la != lb) {
        if (!quiet) {
            printf("Warning: Image size mismatch!\n");
        }
        r = la > lb ? compare_tail(a, lb, la, quiet, &p, total, ba)
                    : compare_tail(b, la, lb, quiet, &p, total, ba);
    }
    if (r == 0 && !quiet) {
        printf("Images are identical.\n");
    }
    img_progress_end(&p);
    ret = r < 0 ? 2 : r;
out:
    free(ba);
    free(bb);
    if (b) {
        bdrv_unref(b);
    }
    if (a) {
        bdrv_unref(a);
    }
    return ret;
}

/* ---- commit ---- */

static bool same_file(const char *x, const char *y)
{
    char *rx = realpath(x, NULL), *ry = realpath(y, NULL);
    bool same = rx && ry && !strcmp(rx, ry);
    free(rx);
    free(ry);
    return same || !strcmp(x, y);
}

/* Copies what top's layers above base hold into dst (base opened rw). */
static int commit_copy(BlockDriverState *top, BlockDriverState *base,
                       BlockDriverState *dst, ImgProgress *p)
{
    int64_t len = bdrv_getlength(top), pnum, map;
    int depth;
    BlockDriverState *file;
    uint8_t *buf = img_buf_alloc(IMG_BUF_SIZE);
    int ret = 0;

    for (int64_t off = 0; off < len && ret >= 0; off += pnum) {
        ret = img_chain_status(top, base, off, len - off, &pnum, &depth,
                               &map, &file);
        if (ret < 0) {
            break;
        }
        if (!(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO |
                     BDRV_BLOCK_ALLOCATED))) {
            ret = 0;    /* the base's own data shows through */
        } else if (ret & BDRV_BLOCK_ZERO) {
            ret = bdrv_pwrite_zeroes(dst, off, pnum, 0);
        } else {
            for (int64_t o = off; o < off + pnum && ret >= 0;) {
                int64_t m = MIN(off + pnum - o, IMG_BUF_SIZE);
                ret = bdrv_pread(top, o, buf, m);
                if (ret >= 0) {
                    ret = bdrv_pwrite(dst, o, buf, m);
                }
                o += m;
            }
        }
        img_progress_update(p, (double)(off + pnum) / len);
    }
    free(buf);
    return ret < 0 ? ret : bdrv_flush(dst);
}

int img_commit(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL },
    };
    const char *fmt = NULL, *base_name = NULL;
    bool drop = false, progress = false, quiet = false;
    int c, ret = 1;
    GError *err = NULL;

    while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'b': base_name = optarg; drop = true; break;
        case 'd': drop = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 't':
        case 'r':
            break;  /* cache mode, rate limit: not needed here */
        case 'h':
            printf("usage: " IMG_PROG " commit [-q] [-f fmt] [-b base] [-d] "
                   "[-p] filename\n");
            return 0;
        default:
            return img_bad_option(argv, c);
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    const char *filename = argv[optind];
    BlockDriverState *top = img_open(filename, fmt, IMG_OPEN_RW);
    BlockDriverState *base = NULL, *dst = NULL;
    if (!top) {
        return 1;
    }
    if (!top->backing) {
        img_error("Image does not have a backing file");
        goto out;
    }
    if (base_name) {
        for (BlockDriverState *n = top->backing; n; n = n->backing) {
            if (same_file(n->filename, base_name)) {
                base = n;
                break;
            }
        }
        if (!base) {
            img_error("Did not find '%s' in the backing chain of '%s'",
                      base_name, filename);
            goto out;
        }
    } else {
        base = top->backing;
    }
    /* The chain is open read-only: write through a node of our own. */
    dst = img_open(base->filename, base->drv->format_name,
                   IMG_OPEN_RW | IMG_OPEN_NO_BACKING | IMG_OPEN_SHARE);
    if (!dst) {
        goto out;
    }
    int64_t len = bdrv_getlength(top);
    if (bdrv_getlength(dst) < len &&
        !bdrv_truncate(dst, len, false, PREALLOC_MODE_OFF, &err)) {
        img_report(err);
        goto out;
    }
    ImgProgress p;
    img_progress_init(&p, progress);
    int r = commit_copy(top, base, dst, &p);
    img_progress_end(&p);
    if (r < 0) {
        img_error("Failed to commit the image: %s", g_strerror(-r));
        goto out;
    }
    if (!drop) {
        if (!top->drv->make_empty) {
            img_error("Image committed, but the top image's format cannot be "
                      "emptied");
            goto out;
        }
        r = top->drv->make_empty(top);
        if (r < 0) {
            img_error("Could not empty %s: %s", filename, g_strerror(-r));
            goto out;
        }
    }
    if (!quiet) {
        printf("Image committed.\n");
    }
    ret = 0;
out:
    if (dst) {
        bdrv_unref(dst);
    }
    bdrv_unref(top);
    return ret;
}

/* ---- rebase ---- */

/*
 * Safe rebase: where the image leaves an area to its backing file and the
 * old and new backing files differ there, the image gets the old data.
 */
static int rebase_copy(BlockDriverState *bs, BlockDriverState *newb,
                       ImgProgress *p)
{
    int64_t len = bdrv_getlength(bs), pnum, map;
    int64_t new_len = newb ? bdrv_getlength(newb) : 0;
    int depth;
    BlockDriverState *file;
    uint8_t *old_buf = img_buf_alloc(IMG_BUF_SIZE);
    uint8_t *new_buf = img_buf_alloc(IMG_BUF_SIZE);
    int ret = 0;

    for (int64_t off = 0; off < len && ret >= 0; off += pnum) {
        /* base = our own backing: stop at the top layer */
        ret = img_chain_status(bs, bs->backing, off, len - off, &pnum, &depth,
                               &map, &file);
        if (ret < 0) {
            break;
        }
        if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO |
                   BDRV_BLOCK_ALLOCATED)) {
            ret = 0;
            img_progress_update(p, (double)(off + pnum) / len);
            continue;
        }
        ret = 0;
        for (int64_t o = off; o < off + pnum && ret >= 0;) {
            int64_t m = MIN(off + pnum - o, IMG_BUF_SIZE);
            ret = bdrv_pread(bs, o, old_buf, m);
            if (ret < 0) {
                break;
            }
            if (o + m <= new_len) {
                ret = bdrv_pread(newb, o, new_buf, m);
            } else {
                memset(new_buf, 0, m);
                if (o < new_len) {
                    ret = bdrv_pread(newb, o, new_buf, new_len - o);
                }
            }
            /* write each differing run of 512-byte sectors */
            for (int64_t i = 0; ret >= 0 && i < m;) {
                int64_t s = MIN(512, m - i);
                if (!memcmp(old_buf + i, new_buf + i, s)) {
                    i += s;
                    continue;
                }
                int64_t j = i + s;
                while (j < m && memcmp(old_buf + j, new_buf + j,
                                       MIN(512, m - j))) {
                    j += MIN(512, m - j);
                }
                ret = bdrv_pwrite(bs, o + i, old_buf + i, j - i);
                i = j;
            }
            o += m;
        }
        img_progress_update(p, (double)(off + pnum) / len);
    }
    free(old_buf);
    free(new_buf);
    return ret;
}

int img_rebase(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL },
    };
    const char *fmt = NULL, *backing = NULL, *backing_fmt = NULL;
    bool unsafe = false, progress = false, quiet = false;
    int flags = IMG_OPEN_RW, c, ret = 1;

    while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'F': backing_fmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'u': unsafe = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'U': flags |= IMG_OPEN_SHARE; break;
        case 't':
        case 'T':
            break;  /* cache modes: the tool's I/O is its own */
        case 'h':
            printf("usage: " IMG_PROG " rebase [-f fmt] [-p] [-q] [-u] "
                   "-b backing_file [-F backing_fmt] filename\n");
            return 0;
        default:
            return img_bad_option(argv, c);
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    if (!unsafe && !backing) {
        return img_usage_error("Must specify backing file (-b) or use unsafe "
                               "mode (-u)");
    }
    if (backing && !*backing) {
        backing = NULL;     /* -b "": no backing file any more */
    }
    if (backing_fmt && !bdrv_find_format(backing_fmt)) {
        img_error("Invalid format name: '%s'", backing_fmt);
        return 1;
    }
    if (backing && !backing_fmt) {
        img_error("Could not change the backing file to '%s': backing format "
                  "must be specified", backing);
        return 1;
    }
    const char *filename = argv[optind];
    BlockDriverState *bs = img_open(filename, fmt, flags |
                                    (unsafe ? IMG_OPEN_NO_BACKING : 0));
    BlockDriverState *newb = NULL;
    if (!bs) {
        return 1;
    }
    if (!bs->drv->change_backing_file) {
        img_error("Could not change the backing file to '%s': Operation not "
                  "supported", backing ? backing : "");
        goto out;
    }
    if (!unsafe) {
        if (backing) {
            /* relative names are relative to the image, as stored */
            char *dir = g_path_get_dirname(filename);
            char *path = g_path_is_absolute(backing)
                             ? g_strdup(backing)
                             : g_build_filename(dir, backing, NULL);
            newb = img_open(path, backing_fmt, flags & IMG_OPEN_SHARE);
            g_free(path);
            g_free(dir);
            if (!newb) {
                goto out;
            }
        }
        ImgProgress p;
        img_progress_init(&p, progress);
        int r = rebase_copy(bs, newb, &p);
        if (r == 0) {
            r = bdrv_flush(bs);
        }
        img_progress_end(&p);
        if (r < 0) {
            img_error("Error while rebasing: %s", g_strerror(-r));
            goto out;
        }
    }
    int r = bs->drv->change_backing_file(bs, backing, backing ? backing_fmt
                                                              : NULL);
    if (r < 0) {
        img_error("Could not change the backing file to '%s': %s",
                  backing ? backing : "", g_strerror(-r));
        goto out;
    }
    ret = 0;
out:
    if (newb) {
        bdrv_unref(newb);
    }
    bdrv_unref(bs);
    return ret;
}
