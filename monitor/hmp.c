/* The human monitor (HMP): placeholder until the HMP work lands. */
#include "monitor/monitor.h"
#include "util/opts.h"

bool monitor_new_hmp(Chardev *chr, GError **errp)
{
    g_set_error(errp, VIREO_ERROR, 0, "the human monitor is not built yet");
    return false;
}

void hmp_execute(const char *line, GString *out)
{
    g_string_append_printf(out, "unknown command: '%s'\r\n", line);
}
