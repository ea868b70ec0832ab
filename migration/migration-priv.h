/* Between the outgoing (migration.c) and incoming (incoming.c) sides. */
#ifndef MIGRATION_PRIV_H
#define MIGRATION_PRIV_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef enum MigStatus {
    MIG_STATUS_NONE,
    MIG_STATUS_SETUP,
    MIG_STATUS_CANCELLING,
    MIG_STATUS_CANCELLED,
    MIG_STATUS_ACTIVE,
    MIG_STATUS_COMPLETED,
    MIG_STATUS_FAILED,
} MigStatus;

const char *mig_status_name(MigStatus s);
/* Sends the MIGRATION event; big lock held. */
void mig_status_event(MigStatus s);

/*
 * Runs fn(data) on the main loop, with the big lock, and waits for it;
 * from a migration thread that does not hold the lock. False (fn not run)
 * once the process is shutting down.
 */
bool mig_run_on_main(void (*fn)(void *data), void *data);
/* Set at exit: mig_run_on_main stops waiting. */
void mig_main_shutdown(void);

/* An outgoing migration is under way (setup, active or cancelling). */
bool mig_outgoing_active(void);

/* The incoming side, for query-migrate and shutdown. */
bool mig_incoming_active(void);
json_t *mig_incoming_info(void);
bool mig_incoming_start(const char *uri, GError **errp);
void mig_incoming_shutdown(void);

#endif
