/*
 * Internal snapshots of the whole VM (QEMU's savevm/loadvm): every
 * writable disk gets a qcow2 internal snapshot of the same name, and one of
 * them also keeps the VM state (RAM, devices, vCPUs) in its VM-state area,
 * where qemu-img snapshot -l counts it as the snapshot's VM SIZE.
 */
#ifndef MIGRATION_SNAPSHOT_H
#define MIGRATION_SNAPSHOT_H

#include <glib.h>
#include <stdbool.h>

/*
 * The disks are vmstate (NULL: the first disk that can keep snapshots)
 * and devices (NULL: every writable disk); names are drive ids or node
 * names. The VM stops for the time it takes and runs on afterwards if it
 * ran before. save with overwrite replaces a snapshot of the same name
 * (HMP savevm); without, such a name is an error (QMP snapshot-save).
 */
bool snapshot_save(const char *name, bool overwrite, const char *vmstate,
                   const char *const *devices, GError **errp);
/* A failed load after the disks went back leaves the VM stopped in
 * restore-vm: its state is then neither the old nor the snapshot's. */
bool snapshot_load(const char *name, const char *vmstate,
                   const char *const *devices, GError **errp);
/* Deletes the snapshot from every disk that has it. */
bool snapshot_delete(const char *name, const char *const *devices,
                     GError **errp);
/* HMP's info snapshots. */
void snapshot_info(GString *out);

#endif
