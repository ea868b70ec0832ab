/*
 * Monitors: QMP (mode=control) and the human monitor (HMP, mode=readline)
 * attached to character devices, as -qmp, -monitor and -mon create them.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <glib.h>
#include <stdbool.h>

#include "chardev/char.h"

/* A QMP monitor on chr; pretty: indented JSON (-mon pretty=on). */
bool monitor_new_qmp(Chardev *chr, bool pretty, GError **errp);
/* A human monitor on chr (monitor/hmp.c). */
bool monitor_new_hmp(Chardev *chr, GError **errp);
void monitor_cleanup_all(void);

/*
 * Runs one HMP command line and appends what it prints to out; used by
 * human-monitor-command and by the interactive monitor.
 */
void hmp_execute(const char *line, GString *out);

#endif
