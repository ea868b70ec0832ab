/*
 * Jobs (include/system/job.h). Vireo's jobs do their work in one go on the
 * main loop, so a job moves through QEMU's states in one callback; the
 * states and events are QEMU's so that clients written for it follow them
 * unchanged.
 */
#include <string.h>

#include "monitor/qmp.h"
#include "system/job.h"
#include "util/opts.h"

typedef enum JobStatus {
    JOB_CREATED,
    JOB_RUNNING,
    JOB_WAITING,
    JOB_PENDING,
    JOB_ABORTING,
    JOB_CONCLUDED,
} JobStatus;

static const char *const status_names[] = {
    [JOB_CREATED] = "created", [JOB_RUNNING] = "running",
    [JOB_WAITING] = "waiting", [JOB_PENDING] = "pending",
    [JOB_ABORTING] = "aborting", [JOB_CONCLUDED] = "concluded",
};

typedef struct Job {
    char *id;
    const char *type;
    JobStatus status;
    char *error;
    bool cancelled;
    JobRunFunc *fn;
    void *opaque;
    GDestroyNotify free;
} Job;

static GList *jobs;     /* in creation order */

static Job *job_find(const char *id)
{
    for (GList *l = jobs; l; l = l->next) {
        Job *job = l->data;
        if (!strcmp(job->id, id)) {
            return job;
        }
    }
    return NULL;
}

static void status_event(const char *id, const char *status)
{
    qmp_event_send("JOB_STATUS_CHANGE",
                   json_pack("{s:s, s:s}", "status", status, "id", id));
}

static void set_status(Job *job, JobStatus s)
{
    job->status = s;
    status_event(job->id, status_names[s]);
}

static gboolean job_run(gpointer data)
{
    Job *job = data;
    GError *err = NULL;
    bool ok = false;

    if (job->cancelled) {
        g_set_error(&err, VIREO_ERROR, 0, "Operation cancelled");
    } else {
        set_status(job, JOB_RUNNING);
        ok = job->fn(job->opaque, &err);
    }
    if (job->free) {
        job->free(job->opaque);
        job->opaque = NULL;
    }
    if (ok) {
        set_status(job, JOB_WAITING);
        set_status(job, JOB_PENDING);
    } else {
        job->error = g_strdup(err ? err->message : "failed");
        set_status(job, JOB_ABORTING);
    }
    g_clear_error(&err);
    set_status(job, JOB_CONCLUDED);
    return G_SOURCE_REMOVE;
}

/* QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_' */
static bool id_valid(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

bool job_start(const char *id, const char *type, JobRunFunc *fn,
               void *opaque, GDestroyNotify free, GError **errp)
{
    bool valid = id_valid(id), in_use = valid && job_find(id);

    if (!valid || in_use) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC,
                    in_use ? "Job ID '%s' already in use"
                           : "Invalid job ID '%s'", id);
        if (free) {
            free(opaque);
        }
        return false;
    }
    Job *job = g_new0(Job, 1);
    job->id = g_strdup(id);
    job->type = type;
    job->fn = fn;
    job->opaque = opaque;
    job->free = free;
    jobs = g_list_append(jobs, job);
    set_status(job, JOB_CREATED);
    g_idle_add(job_run, job);
    return true;
}

/* ---- QMP ---- */

static Job *find_or_error(json_t *args, GError **errp)
{
    const char *id = json_string_value(json_object_get(args, "id"));
    Job *job = job_find(id);

    if (!job) {
        g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "Job not found");
    }
    return job;
}

static void verb_error(Job *job, const char *verb, GError **errp)
{
    g_set_error(errp, QMP_ERROR, QMP_ERROR_GENERIC, "Job '%s' in state '%s' "
                "cannot accept command verb '%s'", job->id,
                status_names[job->status], verb);
}

static json_t *qmp_query_jobs(json_t *args, GError **errp)
{
    json_t *list = json_array();

    for (GList *l = jobs; l; l = l->next) {
        Job *job = l->data;
        int done = job->status == JOB_CONCLUDED;
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "id", job->id,
                              "type", job->type, "status",
                              status_names[job->status], "current-progress",
                              done, "total-progress", 1);
        if (job->error) {
            json_object_set_new(o, "error", json_string(job->error));
        }
        json_array_append_new(list, o);
    }
    return list;
}
QMP_COMMAND("query-jobs", qmp_query_jobs)

static json_t *qmp_job_dismiss(json_t *args, GError **errp)
{
    Job *job = find_or_error(args, errp);

    if (!job) {
        return NULL;
    }
    if (job->status != JOB_CONCLUDED) {
        verb_error(job, "dismiss", errp);
        return NULL;
    }
    jobs = g_list_remove(jobs, job);
    status_event(job->id, "null");
    g_free(job->id);
    g_free(job->error);
    g_free(job);
    return json_object();
}
QMP_COMMAND("job-dismiss", qmp_job_dismiss)

/* Only a job that has not started can stop: the work runs in one go. */
static json_t *qmp_job_cancel(json_t *args, GError **errp)
{
    Job *job = find_or_error(args, errp);

    if (!job) {
        return NULL;
    }
    if (job->status != JOB_CREATED) {
        verb_error(job, "cancel", errp);
        return NULL;
    }
    job->cancelled = true;
    return json_object();
}
QMP_COMMAND("job-cancel", qmp_job_cancel)
