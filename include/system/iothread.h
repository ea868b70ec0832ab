/*
 * I/O threads (QEMU's -object iothread): named threads, each running its
 * own GLib main context, where devices put their queues' notification
 * handlers so that guest requests are processed off the vCPU threads and
 * the main loop. A handler running there takes the big lock around device
 * and block-layer work, as main-loop handlers hold it.
 */
#ifndef SYSTEM_IOTHREAD_H
#define SYSTEM_IOTHREAD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct IOThread IOThread;

/*
 * -object help and -object TYPE,help: prints QEMU's lists and returns
 * true; false when arg asks for no help.
 */
bool user_object_print_help(const char *arg);
/*
 * -object qom-type=iothread,id=ID[,poll-max-ns=N][,poll-grow=N]
 * [,poll-shrink=N][,aio-max-batch=N]: creates the object and starts its
 * thread. Errors name the option; any other type is refused.
 */
bool user_object_add(const char *arg, GError **errp);
/*
 * Stops and joins every I/O thread (the big lock is released meanwhile):
 * after it, no handler runs there and devices may be torn down.
 */
void iothreads_stop_all(void);
/* Then, once no device uses their contexts any more: frees them. */
void iothreads_free_all(void);

IOThread *iothread_find(const char *id);
GMainContext *iothread_get_context(IOThread *t);

/*
 * Polling (QEMU's poll-max-ns): before the thread sleeps, it calls
 * ready(opaque) without the big lock, for up to its current poll time
 * (which adapts between 0 and poll-max-ns as QEMU's does); ready must only
 * read guest RAM or atomics. When ready says so, handle(opaque) runs under
 * the big lock and returns whether it made progress. set_notify(opaque,
 * false) before polling asks the guest not to kick, set_notify(opaque,
 * true) after it and whenever the VM stops (both under the big lock); it
 * then handles what the guest added meanwhile, which came with no kick.
 * Pollers are added and removed under the big lock.
 */
typedef struct IOThreadPoller {
    bool (*ready)(void *opaque);
    bool (*handle)(void *opaque);
    void (*set_notify)(void *opaque, bool enable);
    void *opaque;
} IOThreadPoller;

void iothread_add_poller(IOThread *t, const IOThreadPoller *p);
void iothread_del_poller(IOThread *t, void *opaque);

#endif
