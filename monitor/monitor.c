/* QMP monitors on character devices: placeholder. */
#include "monitor/monitor.h"

bool monitor_new_qmp(Chardev *chr, bool pretty, GError **errp)
{
    return true;
}

void monitor_cleanup_all(void)
{
}
