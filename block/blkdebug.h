/*
 * blkdebug's rules, apart from the node that applies them, so unit tests
 * can parse and match them without any I/O. QEMU's semantics: an event a
 * format driver raises makes the inject-error rules for that event (in
 * the current state) active, and from then on a request that covers a
 * rule's sector (any request, without one) fails with its errno.
 */
#ifndef BLOCK_BLKDEBUG_H
#define BLOCK_BLKDEBUG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block_int.h"
#include "util/opts.h"

/* What a request does (QEMU's BlkdebugIOType); iotype= picks one. */
typedef enum BlkdebugIOType {
    BLKDEBUG_IO_TYPE_READ,
    BLKDEBUG_IO_TYPE_WRITE,
    BLKDEBUG_IO_TYPE_WRITE_ZEROES,
    BLKDEBUG_IO_TYPE_DISCARD,
    BLKDEBUG_IO_TYPE_FLUSH,
    BLKDEBUG_IO_TYPE_BLOCK_STATUS,
    BLKDEBUG_IO_TYPE__MAX,
} BlkdebugIOType;

typedef struct BlkdebugRules BlkdebugRules;

BlkdebugRules *blkdebug_rules_new(void);
void blkdebug_rules_free(BlkdebugRules *r);

/*
 * QEMU's config file syntax: [inject-error] and [set-state] sections of
 * key = "value" lines, '#' comments. name is the file's name for errors,
 * which read "NAME:LINE: message". On error r is unchanged.
 */
bool blkdebug_rules_parse_config(BlkdebugRules *r, const char *text,
                                 const char *name, GError **errp);
/* Reads and parses the config file at path. */
bool blkdebug_rules_load_config(BlkdebugRules *r, const char *path,
                                GError **errp);
/*
 * The inline rules of -blockdev: prefix + "inject-error.N.KEY" and
 * "set-state.N.KEY" (or JSON lists under "inject-error"/"set-state"),
 * in N's order, after any already in r. Marks the keys used.
 */
bool blkdebug_rules_parse_opts(BlkdebugRules *r, Opts *opts, const char *prefix,
                               GError **errp);
/* Moves every rule of src to the end of dst; frees src. */
void blkdebug_rules_append(BlkdebugRules *dst, BlkdebugRules *src);

/* An event: activates its rules and moves the state machine. */
void blkdebug_rules_event(BlkdebugRules *r, BlkdebugEvent event);
/* 0, or -errno to fail a request of type on [offset, offset + bytes). */
int blkdebug_rules_check(BlkdebugRules *r, BlkdebugIOType type, int64_t offset,
                         int64_t bytes);
/* The state machine's state (1 at start) and the number of rules left. */
int blkdebug_rules_state(BlkdebugRules *r);
int blkdebug_rules_count(BlkdebugRules *r);

/* "read_aio" ... as QEMU names them; -1 for an unknown name. */
int blkdebug_event_from_name(const char *name);
const char *blkdebug_event_name(BlkdebugEvent event);

/*
 * Nodes. "blkdebug:CONFIG:IMAGE" opens IMAGE with the file protocol under
 * a blkdebug node with CONFIG's rules (an empty CONFIG: none).
 */
BlockDriverState *blkdebug_open_filename(const char *filename,
                                         const BlockOpenOptions *o,
                                         GError **errp);
bool blkdebug_is_filename(const char *filename);
/* The rules of prefix's config= file and inline keys (marked used), for
 * -blockdev, before anything opens; NULL on error. */
BlkdebugRules *blkdebug_rules_from_opts(Opts *opts, const char *prefix,
                                        GError **errp);
/* A blkdebug node over image applying rules; takes both (also on
 * failure). filename names the node. */
BlockDriverState *blkdebug_open_node(BlockDriverState *image,
                                     BlkdebugRules *rules, const char *filename,
                                     const BlockOpenOptions *o, GError **errp);

#endif
