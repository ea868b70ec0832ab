/* Firmware search: -L directories, then Debian's install locations. */
#include <string.h>

#include "hw/loader.h"
#include "util/opts.h"

static GPtrArray *user_dirs;

static const char *const system_dirs[] = {
    "/usr/share/seabios",       /* seabios: BIOS and VGA BIOS images */
    "/usr/lib/ipxe/qemu",       /* ipxe-qemu: NIC option ROMs */
    "/usr/share/ovmf",          /* ovmf */
    "/usr/share/OVMF",
    "/usr/share/qemu",          /* qemu-system-data, when installed */
};

/* Which package ships which file, for the error when it is missing. */
static const char *package_of(const char *name)
{
    if (g_str_has_prefix(name, "bios") || g_str_has_prefix(name, "vgabios")) {
        return "seabios";
    }
    if (g_str_has_suffix(name, ".rom")) {
        return "ipxe-qemu";
    }
    if (g_str_has_prefix(name, "OVMF")) {
        return "ovmf";
    }
    return NULL;
}

void firmware_add_dir(const char *dir)
{
    if (!user_dirs) {
        user_dirs = g_ptr_array_new_with_free_func(g_free);
    }
    g_ptr_array_add(user_dirs, g_strdup(dir));
}

static char *find_in(const char *dir, const char *name)
{
    char *path = g_build_filename(dir, name, NULL);

    if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        return path;
    }
    g_free(path);
    return NULL;
}

char *firmware_find(const char *name, GError **errp)
{
    char *path;

    if (strchr(name, '/')) {
        if (g_file_test(name, G_FILE_TEST_IS_REGULAR)) {
            return g_strdup(name);
        }
        g_autofree char *base = g_path_get_basename(name);
        const char *pkg = package_of(base);
        if (pkg) {
            g_set_error(errp, VIREO_ERROR, 0, "firmware file '%s' not found "
                        "(Debian's '%s' package has it)", name, pkg);
        } else {
            g_set_error(errp, VIREO_ERROR, 0, "firmware file '%s' not found",
                        name);
        }
        return NULL;
    }
    for (guint i = 0; user_dirs && i < user_dirs->len; i++) {
        if ((path = find_in(user_dirs->pdata[i], name))) {
            return path;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(system_dirs); i++) {
        if ((path = find_in(system_dirs[i], name))) {
            return path;
        }
    }
    const char *pkg = package_of(name);
    if (pkg) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "firmware file '%s' not found (install Debian's '%s' "
                    "package, or give its folder with -L)", name, pkg);
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "firmware file '%s' not found (give its folder with -L)",
                    name);
    }
    return NULL;
}

bool firmware_load(const char *name, gsize max_size, char **data,
                   gsize *len, GError **errp)
{
    g_autofree char *path = firmware_find(name, errp);

    if (!path || !g_file_get_contents(path, data, len, errp)) {
        return false;
    }
    if (*len == 0 || *len > max_size) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "firmware file '%s' is %" G_GSIZE_FORMAT " bytes; it must "
                    "be 1 to %" G_GSIZE_FORMAT, path, *len, max_size);
        g_free(*data);
        *data = NULL;
        return false;
    }
    return true;
}
