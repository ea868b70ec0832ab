/*
 * QMP: QEMU's JSON control protocol. Commands and events are declared in
 * the schema (the JSON files in qapi/); arguments are checked against it
 * here, once, before a handler runs, so handlers see well-typed arguments.
 *
 * A handler takes its "arguments" object (never NULL; {} when none were
 * given) and returns the "return" value as a new reference, or NULL with
 * an error set. Commands that return nothing return json_object().
 */
#ifndef MONITOR_QMP_H
#define MONITOR_QMP_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QEMU's error classes; an error of any other domain is a GenericError. */
typedef enum QmpErrorClass {
    QMP_ERROR_GENERIC,
    QMP_ERROR_COMMAND_NOT_FOUND,
    QMP_ERROR_DEVICE_NOT_ACTIVE,
    QMP_ERROR_DEVICE_NOT_FOUND,
    QMP_ERROR_KVM_MISSING_CAP,
} QmpErrorClass;

GQuark qmp_error_quark(void);
#define QMP_ERROR qmp_error_quark()

typedef json_t *(*QmpCommandFunc)(json_t *args, GError **errp);

typedef struct QmpCommand {
    const char *name;
    QmpCommandFunc fn;
    struct QmpCommand *next;    /* registry link */
} QmpCommand;

void qmp_command_register(QmpCommand *cmd);

/* A file that implements a schema command registers it next to its code. */
#define QMP_COMMAND(cname, func)                                        \
    static QmpCommand qmp_command_##func = { cname, func, NULL };       \
    static void __attribute__((constructor)) qmp_register_##func(void)  \
    {                                                                   \
        qmp_command_register(&qmp_command_##func);                      \
    }

/*
 * Runs a command as QMP would: args (borrowed, NULL for none) are checked
 * against the schema, then the handler runs. The HMP twins use this.
 */
json_t *qmp_call(const char *name, json_t *args, GError **errp);

/*
 * Sends an event to every QMP client past negotiation, with QEMU's
 * timestamp. data (stolen, NULL for none) must match the schema.
 */
void qmp_event_send(const char *name, json_t *data);

/* Whether the schema declares the command and a handler implements it. */
bool qmp_command_exists(const char *name);

/*
 * One QMP conversation: bytes from the client go in through feed(), replies
 * and events come out through the output function as whole JSON texts,
 * each ended by a newline. Framing copes with partial reads, several
 * commands in one read and garbage; a value larger than QMP_INPUT_MAX
 * is refused with an error, and the stream goes on after it.
 */
#define QMP_INPUT_MAX       (1024 * 1024)
#define QMP_NESTING_MAX     1024

typedef struct QmpSession QmpSession;
typedef void QmpOutputFunc(void *opaque, const char *text, size_t len);

QmpSession *qmp_session_new(QmpOutputFunc *out, void *opaque, bool pretty);
/* A new client: sends the greeting and resets negotiation and framing. */
void qmp_session_start(QmpSession *s);
/* The client left: forget half-read input; no output until start(). */
void qmp_session_end(QmpSession *s);
void qmp_session_feed(QmpSession *s, const uint8_t *buf, size_t len);
void qmp_session_free(QmpSession *s);

/* The schema as query-qmp-schema returns it (borrowed). */
json_t *qmp_schema_introspection(void);

#endif
