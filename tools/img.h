/*
 * vireo-img's shared pieces: one function per command, and the helpers the
 * commands share (errors, opening images, sizes, progress, JSON output).
 */
#ifndef TOOLS_IMG_H
#define TOOLS_IMG_H

#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block_int.h"

#define IMG_PROG "vireo-img"

/* Each command: argv[0] is the command's name; returns the exit status. */
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_map(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_amend(int argc, char **argv);

/* "vireo-img: <message>" on stderr */
void img_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void img_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* A usage mistake: the message and the --help hint; returns 1. */
int img_usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* The getopt error for the option getopt just rejected; returns 1. */
int img_bad_option(char **argv, int opt);
/* Reports err (and frees it); returns 1. */
int img_report(GError *err);

typedef enum ImgOutput {
    IMG_OUTPUT_HUMAN,
    IMG_OUTPUT_JSON,
} ImgOutput;

/* --output=human|json; false (with the error printed) on anything else. */
bool img_parse_output(const char *s, ImgOutput *out);

/* Open flags of img_open */
#define IMG_OPEN_RW         0x1
#define IMG_OPEN_NO_BACKING 0x2
#define IMG_OPEN_SHARE      0x4     /* -U: don't take the image's locks */
#define IMG_OPEN_CHECK      0x8     /* for check: corrupt/dirty images too */

/* Opens an image (fmt NULL: probed), printing the error on failure. */
BlockDriverState *img_open(const char *filename, const char *fmt, int flags);

/*
 * qemu-img's sizes: a number of bytes, or with a k/K/M/G/T/P/E suffix
 * (binary), fractions allowed with a suffix. False on anything else.
 */
bool img_parse_size(const char *s, int64_t *out);

/*
 * JSON as qemu-img prints it: its keys in the order QEMU's QDict hash
 * happens to iterate them (which is what scripts and eyes compare
 * against), indented by four, newline-terminated. Consumes j.
 */
void img_print_json(json_t *j);

/* qemu-img's progress line ("    (12.34/100%)\r"), printed while on. */
typedef struct ImgProgress {
    bool on;
    double last;
} ImgProgress;

void img_progress_init(ImgProgress *p, bool on);
void img_progress_update(ImgProgress *p, double fraction);
void img_progress_end(ImgProgress *p);

/*
 * Status of [offset, offset + bytes) through bs's backing chain down to,
 * not including, base (NULL: the whole chain), as qemu-img map and
 * convert see it: BDRV_BLOCK_* of the first node that decides (with ZERO
 * added where no node does and nothing is below), *pnum bytes sharing it,
 * *depth nodes passed over, the map and file of that node. 0.. or -errno.
 */
int img_chain_status(BlockDriverState *bs, BlockDriverState *base,
                     int64_t offset, int64_t bytes, int64_t *pnum,
                     int *depth, int64_t *map, BlockDriverState **file);

/* True when len bytes at buf are all zero. */
bool img_buffer_is_zero(const void *buf, size_t len);

/* Opts from the -o strings given (joined), or NULL with the error printed. */
Opts *img_parse_create_opts(const char *optstr);
/* "-o help" for fmt on stdout; false for a format without create. */
bool img_print_create_help(const char *fmt);
/*
 * Checks opts' keys against fmt's create options: "Invalid parameter" for
 * unknown ones, an error for known ones Vireo does not implement.
 */
bool img_check_create_opts(const char *fmt, Opts *opts, GError **errp);
/* The "fmt=qcow2 cluster_size=65536 ..." part of qemu-img's line. */
char *img_describe_create_opts(const char *fmt, Opts *opts, int64_t size);
/* Adds key=value (replacing an earlier value). */
void img_opts_set(Opts *opts, const char *key, const char *value);
/* opts' value for key without marking it used. */
const char *img_opts_peek(Opts *opts, const char *key);

/* The cluster size (get_info), or 0. */
int img_cluster_size(BlockDriverState *bs);

/* Buffers for data copies: 2 MiB, aligned for O_DIRECT. */
#define IMG_BUF_SIZE (2 * 1024 * 1024)
void *img_buf_alloc(size_t size);

#endif
