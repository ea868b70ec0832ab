/*
 * The gdb stub (gdbstub/gdbstub.c): gdb's remote protocol for debugging
 * the guest, on a character device.
 */
#ifndef GDBSTUB_GDBSTUB_H
#define GDBSTUB_GDBSTUB_H

#include <glib.h>
#include <stdbool.h>

/* The default of -s and HMP gdbserver */
#define GDBSTUB_DEFAULT_DEVICE "tcp::1234"

/*
 * Serves gdb on device: a character device spec as -serial takes it
 * (tcp:[HOST]:PORT, a server that does not wait, as QEMU; unix:PATH,
 * server=on; ...), replacing any earlier one; "none" stops serving.
 * Needs the machine.
 */
bool gdbserver_start(const char *device, GError **errp);
/* The VM is gone with exit status: a connected gdb hears it (W), then
 * the server stops. */
void gdbserver_cleanup(int status);

#endif
