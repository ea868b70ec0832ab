/* QMP core: placeholder, being written. */
#include <string.h>

#include "monitor/qmp.h"
#include "util/opts.h"

G_DEFINE_QUARK(qmp-error-quark, qmp_error)

static QmpCommand *commands;

void qmp_command_register(QmpCommand *cmd)
{
    cmd->next = commands;
    commands = cmd;
}

json_t *qmp_call(const char *name, json_t *args, GError **errp)
{
    for (QmpCommand *c = commands; c; c = c->next) {
        if (!strcmp(c->name, name)) {
            json_t *a = args ? json_incref(args) : json_object();
            json_t *r = c->fn(a, errp);
            json_decref(a);
            return r;
        }
    }
    g_set_error(errp, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
                "The command %s has not been found", name);
    return NULL;
}

void qmp_event_send(const char *name, json_t *data)
{
    json_decref(data);
}
