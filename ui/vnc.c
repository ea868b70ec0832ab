/* The VNC server: not there yet (issue 9 adds it). */
#include "ui/display.h"
#include "util/opts.h"

bool vnc_display_init(const char *spec, const DisplayOptions *o,
                      GError **errp)
{
    g_set_error(errp, VIREO_ERROR, 0, "-vnc %s: VNC is not supported yet",
                spec);
    return false;
}

void vnc_display_cleanup(void)
{
}
