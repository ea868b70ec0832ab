/* The SDL2 window: not there yet (issue 9 adds it). */
#include "ui/display.h"
#include "util/opts.h"

bool sdl_display_init(const DisplayOptions *o, GError **errp)
{
    g_set_error(errp, VIREO_ERROR, 0, "-display sdl: not supported yet");
    return false;
}

void sdl_display_cleanup(void)
{
}
