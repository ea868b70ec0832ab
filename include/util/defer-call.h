/*
 * Deferred calls: work that is cheaper done once for a batch than once per
 * item. Between defer_call_begin() and the matching defer_call_end(),
 * defer_call(fn, opaque) records fn(opaque) once, however often it is
 * asked, and the outermost end runs the calls in the order first asked.
 * Outside a section, defer_call runs fn(opaque) at once.
 *
 * virtio-blk wraps a pass over its queue in a section, so the requests it
 * pops reach the kernel in one io_submit or io_uring_enter; the block
 * layer wraps a batch of completions in one, so a queue's guest is
 * notified once per batch rather than once per request.
 *
 * Sections are per thread. Code that waits for I/O inside a section (a
 * nested main-loop iteration) calls defer_call_flush() first: the requests
 * it waits for may be among those recorded.
 */
#ifndef UTIL_DEFER_CALL_H
#define UTIL_DEFER_CALL_H

void defer_call_begin(void);
void defer_call_end(void);
void defer_call(void (*fn)(void *), void *opaque);
void defer_call_flush(void);
/* A thread that used deferred calls ends (an I/O thread): frees its list. */
void defer_call_thread_exit(void);

#endif
