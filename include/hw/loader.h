/*
 * Firmware and option ROM files: found by name in the -L directories, then
 * where Debian's packages install them.
 */
#ifndef HW_LOADER_H
#define HW_LOADER_H

#include <glib.h>
#include <stdbool.h>

/* -L DIR: searched before the built-in directories, in the order given. */
void firmware_add_dir(const char *dir);

/*
 * The path of firmware file name (a name with a '/' is used as given), or
 * NULL with an error that names the Debian package shipping it.
 */
char *firmware_find(const char *name, GError **errp);

/* firmware_find, then the whole file (at most max_size bytes). */
bool firmware_load(const char *name, gsize max_size, char **data,
                   gsize *len, GError **errp);

#endif
