/*
 * Background jobs as QMP shows them: query-jobs, job-dismiss, job-cancel
 * and the JOB_STATUS_CHANGE events (QEMU's job API, the part Vireo's
 * snapshot-save, snapshot-load and snapshot-delete use).
 */
#ifndef SYSTEM_JOB_H
#define SYSTEM_JOB_H

#include <glib.h>
#include <stdbool.h>

/* The job's work, on the main loop with the big lock; false with *errp
 * set makes the job fail with that error. */
typedef bool JobRunFunc(void *opaque, GError **errp);

/*
 * A job of type (QEMU's JobType name: "snapshot-save") that runs fn once
 * the command that created it has returned. It is "created" now, then
 * "running", then "waiting", "pending", "concluded" (or "aborting",
 * "concluded" with the error), and stays until job-dismiss. free(opaque)
 * runs when fn has. False for an id that is invalid or in use.
 */
bool job_start(const char *id, const char *type, JobRunFunc *fn,
               void *opaque, GDestroyNotify free, GError **errp);

#endif
