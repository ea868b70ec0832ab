/*
 * Accelerator lookup by its -accel name, and MSI irqfds: in the accelerator
 * where it can deliver them itself, else through the main loop.
 */
#include <string.h>
#include <sys/eventfd.h>

#include <glib-unix.h>

#include "hw/i386/x86.h"
#include "system/accel.h"

static const AccelOps *const accels[] = {
    &kvm_accel_ops,
    &tcg_accel_ops,
    &qtest_accel_ops,
};

const AccelOps *accel_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(accels); i++) {
        if (!strcmp(accels[i]->name, name)) {
            return accels[i];
        }
    }
    return NULL;
}

/* --- MSI irqfds --- */

/* The main loop's delivery: one MSI however often fd was signalled. */
static gboolean irqfd_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    AccelIrqfd *irqfd = opaque;
    Machine *m = irqfd->machine;
    eventfd_t count;

    if (eventfd_read(fd, &count) == 0 && m->accel->send_msi) {
        m->accel->send_msi(m, irqfd->addr, irqfd->data);
    }
    return G_SOURCE_CONTINUE;
}

AccelIrqfd *accel_msi_irqfd_add(Machine *m, uint64_t addr, uint32_t data,
                                int fd, GError **errp)
{
    AccelIrqfd *irqfd = g_new0(AccelIrqfd, 1);
    GError *err = NULL;

    *irqfd = (AccelIrqfd){
        .machine = m, .addr = addr, .data = data, .fd = fd, .gsi = -1,
    };
    if (m->accel->msi_irqfd_add && m->accel->msi_irqfd_add(irqfd, &err)) {
        return irqfd;
    }
    if (err) {
        g_propagate_error(errp, err);
        g_free(irqfd);
        return NULL;
    }
    irqfd->gsi = -1;
    irqfd->watch = g_unix_fd_add(fd, G_IO_IN, irqfd_readable, irqfd);
    return irqfd;
}

bool accel_msi_irqfd_update(AccelIrqfd *irqfd, uint64_t addr, uint32_t data,
                            GError **errp)
{
    const AccelOps *ops = irqfd->machine->accel;

    if (irqfd->addr == addr && irqfd->data == data) {
        return true;
    }
    if (irqfd->gsi >= 0 && !ops->msi_irqfd_update(irqfd, addr, data, errp)) {
        return false;
    }
    irqfd->addr = addr;
    irqfd->data = data;
    return true;
}

void accel_msi_irqfd_remove(AccelIrqfd *irqfd)
{
    if (!irqfd) {
        return;
    }
    if (irqfd->gsi >= 0) {
        irqfd->machine->accel->msi_irqfd_remove(irqfd);
    } else {
        g_source_remove(irqfd->watch);
    }
    g_free(irqfd);
}
