/*
 * Live migration: the outgoing side (QMP migrate, query-migrate,
 * migrate_cancel, migrate-set-parameters) and the incoming side
 * (-incoming URI, -incoming defer + migrate-incoming). The stream format
 * is in docs/migration.md.
 */
#ifndef MIGRATION_MIGRATION_H
#define MIGRATION_MIGRATION_H

#include <glib.h>
#include <stdbool.h>

typedef struct Machine Machine;

/*
 * -incoming: the VM waits in "inmigrate" for its state. uri "defer" waits
 * for migrate-incoming; otherwise the transport is opened now (a
 * listening socket, the file, the command), so its errors stop start-up.
 * autostart: run the VM once loaded (no -S). A failed incoming migration
 * makes the process exit with status 1, unless it was deferred.
 */
bool migration_incoming_setup(const char *uri, bool autostart,
                              GError **errp);

/* At exit, big lock held: stops a migration in flight and waits for it. */
void migration_shutdown(void);

#endif
