/*
 * The `file` protocol: an image file or block device. Requests run in a
 * thread pool (aio=threads), through Linux AIO (aio=native, O_DIRECT only)
 * or io_uring (aio=io_uring); completions reach the main loop through an
 * eventfd. Also creation and resizing of files, and holes (SEEK_DATA).
 * Under O_DIRECT misaligned requests are bounced through an aligned buffer,
 * and a read-modify-write waits for overlapping requests (and they for it).
 * Images are locked with OFD locks on the bytes QEMU uses, so QEMU and
 * Vireo see each other's locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

#include "block/block_int.h"
#include "config.h"
#include "util/defer-call.h"
#include "util/log.h"
#include "util/opts.h"

#ifdef CONFIG_LIBAIO
#include <libaio.h>
#endif
#ifdef CONFIG_LINUX_IO_URING
#include <liburing.h>
#endif

#define POOL_MAX_THREADS 64
#define MAX_ALIGN 4096
#define ZERO_CHUNK (1 << 20)

typedef struct FileState {
    int fd;
    bool direct;
    bool native;
    bool io_uring;
    bool is_bdev;
    bool no_flush;              /* cache=unsafe: flushes succeed at once */
    uint32_t buf_align;         /* memory alignment for O_DIRECT */
    GList *inflight;            /* tracked requests (O_DIRECT only) */
    GQueue waiting;             /* requests waiting for a conflict */
    /* what open asked lock_image for, taken again at activation */
    int locking, lock_perm, lock_shared;
} FileState;

/* ---- iovec helpers ---- */

size_t iov_size(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

/* Calls fn on each piece of [offset, offset + bytes) of the vector. */
#define IOV_FOR_RANGE(iov, iovcnt, offset, bytes, PIECE)                \
    do {                                                                \
        size_t off_ = (offset), left_ = (bytes), done_ = 0;             \
        for (int i_ = 0; i_ < (iovcnt) && left_; i_++) {                \
            if (off_ >= (iov)[i_].iov_len) {                            \
                off_ -= (iov)[i_].iov_len;                              \
                continue;                                               \
            }                                                           \
            size_t n_ = MIN((iov)[i_].iov_len - off_, left_);           \
            uint8_t *p_ = (uint8_t *)(iov)[i_].iov_base + off_;         \
            PIECE;                                                      \
            done_ += n_;                                                \
            left_ -= n_;                                                \
            off_ = 0;                                                   \
        }                                                               \
        (void)done_;    /* memset's PIECE does not need it */           \
    } while (0)

void iov_memset(const struct iovec *iov, int iovcnt, size_t offset, int c,
                size_t bytes)
{
    IOV_FOR_RANGE(iov, iovcnt, offset, bytes, memset(p_, c, n_));
}

void iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset,
                void *buf, size_t bytes)
{
    IOV_FOR_RANGE(iov, iovcnt, offset, bytes,
                  memcpy((uint8_t *)buf + done_, p_, n_));
}

void iov_from_buf(const struct iovec *iov, int iovcnt, size_t offset,
                  const void *buf, size_t bytes)
{
    IOV_FOR_RANGE(iov, iovcnt, offset, bytes,
                  memcpy(p_, (const uint8_t *)buf + done_, n_));
}

int iov_slice(struct iovec *dst, const struct iovec *iov, int iovcnt,
              size_t offset, size_t bytes)
{
    int n = 0;

    for (int i = 0; i < iovcnt && bytes; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t take = MIN(iov[i].iov_len - offset, bytes);
        dst[n++] = (struct iovec){ (uint8_t *)iov[i].iov_base + offset, take };
        bytes -= take;
        offset = 0;
    }
    return n;
}

/* ---- completions to the main loop ---- */

static GThreadPool *pool;
static int done_efd = -1;
static GMutex done_lock;
static GQueue done_queue;

static void file_request_finished(BlockRequest *req);

static gboolean on_done_efd(gint fd, GIOCondition cond, gpointer data)
{
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        log_error("block: eventfd read: %s", g_strerror(errno));
    }
    defer_call_begin();
    for (;;) {
        g_mutex_lock(&done_lock);
        BlockRequest *req = g_queue_pop_head(&done_queue);
        g_mutex_unlock(&done_lock);
        if (!req) {
            break;
        }
        if (req->tracked) {
            file_request_finished(req);
        }
        req->done(req);
    }
    defer_call_end();
    return G_SOURCE_CONTINUE;
}

static void signal_eventfd(int fd)
{
    uint64_t one = 1;
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

void block_complete_later(BlockRequest *req)
{
    g_mutex_lock(&done_lock);
    g_queue_push_tail(&done_queue, req);
    g_mutex_unlock(&done_lock);
    signal_eventfd(done_efd);
}

static void pool_worker(gpointer data, gpointer user_data)
{
    BlockRequest *req = data;
    BlockDriverState *bs = req->pool_bs;

    req->ret = bs->drv->run_sync(bs, req);
    block_complete_later(req);
}

void block_run_in_pool(BlockDriverState *bs, BlockRequest *req)
{
    req->pool_bs = bs;
    g_thread_pool_push(pool, req, NULL);
}

/*
 * Watches an AIO engine's completion eventfd. GLib takes a source's fds
 * out of the poll set while its callback runs and puts them back after,
 * and each change writes the context's wakeup eventfd: two writes, a read
 * and an extra poll for every batch of completions. A source that may
 * recurse is left in place. The callbacks allow it: each reads its
 * eventfd and drains a queue, so a nested main-loop iteration inside one
 * (a drain) only finds less to do.
 */
static void watch_completions(int fd, GUnixFDSourceFunc fn)
{
    GSource *src = g_unix_fd_source_new(fd, G_IO_IN);

    g_source_set_callback(src, G_SOURCE_FUNC(fn), NULL, NULL);
    g_source_set_can_recurse(src, TRUE);
    g_source_attach(src, NULL);
    g_source_unref(src);
}

static bool aio_init_once(GError **errp)
{
    if (pool) {
        return true;
    }
    done_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (done_efd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "eventfd: %s", g_strerror(errno));
        return false;
    }
    watch_completions(done_efd, on_done_efd);
    pool = g_thread_pool_new(pool_worker, NULL, POOL_MAX_THREADS, FALSE,
                             NULL);
    return true;
}

/* ---- synchronous operations (worker threads, or the caller's) ---- */

static int do_rw_buf(int fd, void *buf, size_t bytes, int64_t offset,
                     bool write)
{
    size_t done = 0;

    while (done < bytes) {
        ssize_t n = write ? pwrite(fd, (uint8_t *)buf + done, bytes - done,
                                   offset + done)
                          : pread(fd, (uint8_t *)buf + done, bytes - done,
                                  offset + done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            if (write) {
                return -ENOSPC;
            }
            memset((uint8_t *)buf + done, 0, bytes - done);   /* EOF */
            break;
        }
        done += n;
    }
    return 0;
}

static int64_t fd_size(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t sz;
        if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
            return -errno;
        }
        return sz;
    }
    return st.st_size;
}

/* Reads or writes iov in place; reads past EOF give zeros. */
static int do_rw_iov(int fd, const struct iovec *iov_in, int iovcnt,
                     int64_t offset, size_t bytes, bool write)
{
    struct iovec stack[16];
    struct iovec *iov = iovcnt <= 16 ? stack : g_new(struct iovec, iovcnt);
    struct iovec *cur = iov;
    int cnt = iovcnt;
    size_t done = 0;
    int ret = 0;

    memcpy(iov, iov_in, iovcnt * sizeof(*iov));
    while (done < bytes) {
        while (cnt && cur->iov_len == 0) {
            cur++;
            cnt--;
        }
        ssize_t n = write ? pwritev(fd, cur, MIN(cnt, IOV_MAX), offset + done)
                          : preadv(fd, cur, MIN(cnt, IOV_MAX), offset + done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && !write && done && errno == EINVAL &&
            offset + (int64_t)done >= fd_size(fd)) {
            n = 0;  /* O_DIRECT at an unaligned EOF */
        } else if (n < 0) {
            ret = -errno;
            break;
        }
        if (n == 0) {
            if (write) {
                ret = -ENOSPC;
            } else {
                iov_memset(iov_in, iovcnt, done, 0, bytes - done);
            }
            break;
        }
        done += n;
        while (n > 0 && cnt) {
            size_t k = MIN((size_t)n, cur->iov_len);
            cur->iov_base = (uint8_t *)cur->iov_base + k;
            cur->iov_len -= k;
            n -= k;
            if (cur->iov_len == 0) {
                cur++;
                cnt--;
            }
        }
    }
    if (iov != stack) {
        g_free(iov);
    }
    return ret;
}

static bool needs_bounce(FileState *s, uint32_t align, int64_t offset,
                         int64_t bytes, const struct iovec *iov, int iovcnt)
{
    if (align <= 1) {
        return false;
    }
    if ((offset | bytes) & (align - 1)) {
        return true;
    }
    for (int i = 0; i < iovcnt; i++) {
        if (((uintptr_t)iov[i].iov_base & (s->buf_align - 1)) ||
            (iov[i].iov_len & (align - 1))) {
            return true;
        }
    }
    return false;
}

/* O_DIRECT with a misaligned request: through an aligned buffer. */
static int do_bounce(FileState *s, uint32_t align, const struct iovec *iov,
                     int iovcnt, int64_t offset, int64_t bytes, bool write)
{
    int64_t start = offset & ~(int64_t)(align - 1);
    int64_t end = (offset + bytes + align - 1) & ~(int64_t)(align - 1);
    size_t len = end - start;
    size_t head = offset - start;
    void *buf;
    int ret;

    if (posix_memalign(&buf, MAX(align, s->buf_align), len)) {
        return -ENOMEM;
    }
    if (!write) {
        ret = do_rw_buf(s->fd, buf, len, start, false);
        if (ret == 0) {
            iov_from_buf(iov, iovcnt, 0, (uint8_t *)buf + head, bytes);
        }
        free(buf);
        return ret;
    }

    int64_t old_size = fd_size(s->fd);
    ret = 0;
    if (head) {
        ret = do_rw_buf(s->fd, buf, align, start, false);
    }
    if (ret == 0 && (offset + bytes) != end &&
        (end - align >= start + (int64_t)align || !head)) {
        ret = do_rw_buf(s->fd, (uint8_t *)buf + len - align, align,
                        end - align, false);
    }
    if (ret == 0) {
        iov_to_buf(iov, iovcnt, 0, (uint8_t *)buf + head, bytes);
        ret = do_rw_buf(s->fd, buf, len, start, true);
    }
    /* padding must not grow a file beyond what was asked */
    if (ret == 0 && old_size >= 0 && end > old_size &&
        end > offset + bytes) {
        int64_t want = MAX(old_size, offset + bytes);
        if (ftruncate(s->fd, want) < 0) {
            ret = -errno;
        }
    }
    free(buf);
    return ret;
}

static int do_flush(FileState *s)
{
    /* cache=unsafe (QEMU's BDRV_O_NO_FLUSH) holds for every flush of the
     * node, also the ordering flushes a format driver asks for */
    if (s->no_flush) {
        return 0;
    }
    while (fdatasync(s->fd) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

static int do_discard(FileState *s, int64_t offset, int64_t bytes)
{
    int r;

    if (s->is_bdev) {
        uint64_t range[2] = { offset, bytes };
        r = ioctl(s->fd, BLKDISCARD, range);
    } else {
        r = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      offset, bytes);
    }
    if (r < 0) {
        /* discard is advisory: unsupported is success, as in QEMU */
        if (errno == EOPNOTSUPP || errno == ENOTTY || errno == ENOSYS) {
            return 0;
        }
        return -errno;
    }
    return 0;
}

static int do_zeroes(FileState *s, uint32_t align, int64_t offset,
                     int64_t bytes, int flags)
{
    if (!s->is_bdev) {
        /* may unmap: a hole reads as zeros and frees the space, as QEMU */
        if ((flags & BLK_ZERO_MAY_UNMAP) && fd_size(s->fd) >= offset + bytes &&
            fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      offset, bytes) == 0) {
            return 0;
        }
        if (fallocate(s->fd, FALLOC_FL_ZERO_RANGE, offset, bytes) == 0) {
            return 0;
        }
        if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL) {
            return -errno;
        }
    }
    /* write zeros */
    void *zbuf;
    int ret = 0;
    if (posix_memalign(&zbuf, MAX_ALIGN, ZERO_CHUNK)) {
        return -ENOMEM;
    }
    memset(zbuf, 0, ZERO_CHUNK);
    while (bytes > 0 && ret == 0) {
        int64_t n = MIN(bytes, ZERO_CHUNK);
        struct iovec v = { zbuf, n };
        if (needs_bounce(s, align, offset, n, &v, 1)) {
            ret = do_bounce(s, align, &v, 1, offset, n, true);
        } else {
            ret = do_rw_iov(s->fd, &v, 1, offset, n, true);
        }
        offset += n;
        bytes -= n;
    }
    free(zbuf);
    return ret;
}

static int file_run(FileState *s, BlockDriverState *bs, BlockRequest *req)
{
    uint32_t align = bs->request_alignment;
    int ret;

    switch (req->op) {
    case BLK_OP_READ:
    case BLK_OP_WRITE: {
        bool write = req->op == BLK_OP_WRITE;
        if (needs_bounce(s, align, req->offset, req->bytes, req->iov,
                         req->iovcnt)) {
            ret = do_bounce(s, align, req->iov, req->iovcnt, req->offset,
                            req->bytes, write);
        } else {
            ret = do_rw_iov(s->fd, req->iov, req->iovcnt, req->offset,
                            req->bytes, write);
        }
        break;
    }
    case BLK_OP_FLUSH:
        return do_flush(s);
    case BLK_OP_DISCARD:
        return do_discard(s, req->offset, req->bytes);
    case BLK_OP_ZEROES:
        ret = do_zeroes(s, align, req->offset, req->bytes, req->flags);
        break;
    default:
        return -EINVAL;
    }
    if (ret == 0 && (req->flags & BLK_REQ_FUA)) {
        ret = do_flush(s);
    }
    return ret;
}

/* ---- Linux AIO ---- */

#ifdef CONFIG_LIBAIO
#define LAIO_MAX_EVENTS 1024
#define LAIO_BATCH 64

typedef struct LaioCb {
    struct iocb iocb;
    BlockRequest *req;
} LaioCb;

static io_context_t laio_ctx;
static int laio_efd = -1;
static unsigned laio_inflight;
static GQueue laio_pending;     /* of LaioCb: io_submit said EAGAIN */

static void laio_complete(LaioCb *cb, long res)
{
    BlockRequest *req = cb->req;

    if (res < 0) {
        req->ret = res;
    } else if ((uint64_t)res == (uint64_t)req->bytes) {
        req->ret = 0;
    } else if (req->op == BLK_OP_READ) {
        iov_memset(req->iov, req->iovcnt, res, 0, req->bytes - res);
        req->ret = 0;   /* short read: EOF */
    } else {
        req->ret = -ENOSPC;
    }
    g_free(cb);
    if (req->ret == 0 && (req->flags & BLK_REQ_FUA)) {
        /* writethrough: the flush runs in the pool, then completes req */
        req->op = BLK_OP_FLUSH;
        req->flags &= ~BLK_REQ_FUA;
        block_run_in_pool(req->file_bs, req);
        return;
    }
    if (req->tracked) {
        file_request_finished(req);
    }
    req->done(req);
}

/* Submits what is pending, as many per io_submit as the kernel takes. */
static void laio_submit_pending(void)
{
    while (!g_queue_is_empty(&laio_pending) &&
           laio_inflight < LAIO_MAX_EVENTS) {
        struct iocb *batch[LAIO_BATCH];
        unsigned n = 0;
        for (GList *l = laio_pending.head;
             l && n < LAIO_BATCH && laio_inflight + n < LAIO_MAX_EVENTS;
             l = l->next) {
            batch[n++] = &((LaioCb *)l->data)->iocb;
        }
        int r = io_submit(laio_ctx, n, batch);
        if (r == -EAGAIN) {
            if (laio_inflight == 0) {
                /* nothing will complete to retry: fail one, try the rest */
                laio_complete(g_queue_pop_head(&laio_pending), -EAGAIN);
                continue;
            }
            return;
        }
        if (r < 0) {
            /* the first iocb is bad (io_submit(2)); the rest may be fine */
            laio_complete(g_queue_pop_head(&laio_pending), r);
            continue;
        }
        for (int i = 0; i < r; i++) {
            g_queue_pop_head(&laio_pending);
        }
        laio_inflight += r;
        if ((unsigned)r < n) {
            return;     /* the kernel took part: the rest after completions */
        }
    }
}

static void laio_submit_deferred(void *opaque)
{
    laio_submit_pending();
}

/*
 * The completion ring that io_setup maps into our memory (the io_context_t
 * points at it; its layout is the kernel's struct aio_ring, fs/aio.c). We
 * are its only reader, so completions are taken from it without the
 * io_getevents system call, as the kernel allows: read the events from
 * head to tail, then move head on.
 */
#define AIO_RING_MAGIC 0xa10a10a1

struct aio_ring {
    unsigned id, nr, head, tail;
    unsigned magic, compat_features, incompat_features, header_length;
    struct io_event events[];
};

/* Up to max completions into events; -1 if the ring is not one we know. */
static int laio_reap_ring(struct io_event *events, int max)
{
    struct aio_ring *ring = (struct aio_ring *)laio_ctx;
    int n = 0;

    if (ring->magic != AIO_RING_MAGIC || ring->incompat_features) {
        return -1;
    }
    unsigned head = ring->head;
    unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    while (head != tail && n < max) {
        if (head >= ring->nr) {
            return -1;          /* not as we know it: ask the kernel */
        }
        events[n++] = ring->events[head];
        head = (head + 1) % ring->nr;
    }
    /* the slots are free again once head has passed them */
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return n;
}

static gboolean on_laio_efd(gint fd, GIOCondition cond, gpointer data)
{
    struct io_event events[64];
    struct timespec zero = { 0, 0 };
    uint64_t v;
    int n;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        log_error("block: eventfd read: %s", g_strerror(errno));
    }
    defer_call_begin();
    do {
        /* taken off the ring before any completes: one may recurse here */
        n = laio_reap_ring(events, G_N_ELEMENTS(events));
        if (n < 0) {
            n = io_getevents(laio_ctx, 0, G_N_ELEMENTS(events), events,
                             &zero);
        }
        for (int i = 0; i < n; i++) {
            laio_inflight--;
            laio_complete(events[i].data, (long)events[i].res);
        }
    } while (n == (int)G_N_ELEMENTS(events));
    defer_call(laio_submit_deferred, NULL);
    defer_call_end();
    return G_SOURCE_CONTINUE;
}

static bool laio_init_once(GError **errp)
{
    if (laio_efd >= 0) {
        return true;
    }
    int r = io_setup(LAIO_MAX_EVENTS, &laio_ctx);
    if (r < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Unable to use native AIO: io_setup: %s",
                    g_strerror(-r));
        return false;
    }
    laio_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (laio_efd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "eventfd: %s", g_strerror(errno));
        io_destroy(laio_ctx);
        return false;
    }
    watch_completions(laio_efd, on_laio_efd);
    return true;
}

static void laio_submit(FileState *s, BlockRequest *req)
{
    LaioCb *cb = g_new0(LaioCb, 1);

    cb->req = req;
    if (req->op == BLK_OP_READ) {
        io_prep_preadv(&cb->iocb, s->fd, req->iov, req->iovcnt, req->offset);
    } else {
        io_prep_pwritev(&cb->iocb, s->fd, req->iov, req->iovcnt,
                        req->offset);
    }
    io_set_eventfd(&cb->iocb, laio_efd);
    cb->iocb.data = cb;
    g_queue_push_tail(&laio_pending, cb);
    defer_call(laio_submit_deferred, NULL);
}
#endif

/* ---- io_uring ---- */

#ifdef CONFIG_LINUX_IO_URING
#define URING_ENTRIES 128

typedef struct UringCb {
    BlockRequest *req;
    FileState *s;
} UringCb;

static struct io_uring uring;
static int uring_efd = -1;
static GQueue uring_pending;    /* of UringCb: the submission queue was full */

static void uring_finish(BlockRequest *req)
{
    if (req->tracked) {
        file_request_finished(req);
    }
    req->done(req);
}

static void uring_complete(UringCb *cb, int res)
{
    BlockRequest *req = cb->req;

    g_free(cb);
    if (res >= 0 && req->op != BLK_OP_FLUSH &&
        (uint64_t)res != (uint64_t)req->bytes) {
        /*
         * Short transfer: buffered reads and writes may stop early, not
         * only at EOF. Redo the whole request in the pool, whose loop
         * finishes it (zeros past EOF, ENOSPC for a full disk).
         */
        block_run_in_pool(req->file_bs, req);
        return;
    }
    req->ret = res < 0 ? res : 0;
    if (req->ret == 0 && (req->flags & BLK_REQ_FUA)) {
        req->op = BLK_OP_FLUSH;
        req->flags &= ~BLK_REQ_FUA;
        block_run_in_pool(req->file_bs, req);
        return;
    }
    uring_finish(req);
}

static void uring_submit_pending(void)
{
    bool queued = false;

    while (!g_queue_is_empty(&uring_pending)) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);
        if (!sqe) {
            break;
        }
        UringCb *cb = g_queue_pop_head(&uring_pending);
        BlockRequest *req = cb->req;
        switch (req->op) {
        case BLK_OP_READ:
            io_uring_prep_readv(sqe, cb->s->fd, req->iov, req->iovcnt,
                                req->offset);
            break;
        case BLK_OP_WRITE:
            io_uring_prep_writev(sqe, cb->s->fd, req->iov, req->iovcnt,
                                 req->offset);
            break;
        default:
            io_uring_prep_fsync(sqe, cb->s->fd, IORING_FSYNC_DATASYNC);
            break;
        }
        io_uring_sqe_set_data(sqe, cb);
        queued = true;
    }
    if (queued) {
        int r = io_uring_submit(&uring);
        if (r < 0) {
            log_error("block: io_uring_submit: %s", g_strerror(-r));
        }
    }
}

static void uring_submit_deferred(void *opaque)
{
    uring_submit_pending();
}

static gboolean on_uring_efd(gint fd, GIOCondition cond, gpointer data)
{
    struct io_uring_cqe *cqe;
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        log_error("block: eventfd read: %s", g_strerror(errno));
    }
    defer_call_begin();
    while (io_uring_peek_cqe(&uring, &cqe) == 0) {
        UringCb *cb = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&uring, cqe);
        uring_complete(cb, res);
    }
    defer_call(uring_submit_deferred, NULL);
    defer_call_end();
    return G_SOURCE_CONTINUE;
}

static bool uring_init_once(GError **errp)
{
    if (uring_efd >= 0) {
        return true;
    }
    int r = io_uring_queue_init(URING_ENTRIES, &uring, 0);
    if (r < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "failed to init linux io_uring ring: %s",
                    g_strerror(-r));
        return false;
    }
    uring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (uring_efd < 0 ||
        (r = io_uring_register_eventfd(&uring, uring_efd)) < 0) {
        int err = uring_efd < 0 ? errno : -r;
        g_set_error(errp, VIREO_ERROR, 0, "io_uring eventfd: %s",
                    g_strerror(err));
        if (uring_efd >= 0) {
            close(uring_efd);
            uring_efd = -1;
        }
        io_uring_queue_exit(&uring);
        return false;
    }
    watch_completions(uring_efd, on_uring_efd);
    return true;
}

static void uring_submit(FileState *s, BlockRequest *req)
{
    UringCb *cb = g_new0(UringCb, 1);

    cb->req = req;
    cb->s = s;
    g_queue_push_tail(&uring_pending, cb);
    defer_call(uring_submit_deferred, NULL);
}
#endif

/* ---- requests: serialisation under O_DIRECT, dispatch ---- */

static bool requests_conflict(BlockRequest *a, BlockRequest *b)
{
    if (!a->serialising && !b->serialising) {
        return false;
    }
    return a->align_start < b->align_end && b->align_start < a->align_end;
}

static bool conflicts_with_inflight(FileState *s, BlockRequest *req)
{
    for (GList *l = s->inflight; l; l = l->next) {
        if (requests_conflict(l->data, req)) {
            return true;
        }
    }
    return false;
}

static void file_start(FileState *s, BlockDriverState *bs,
                       BlockRequest *req)
{
#ifdef CONFIG_LIBAIO
    if (s->native && (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
        !needs_bounce(s, bs->request_alignment, req->offset, req->bytes,
                      req->iov, req->iovcnt) &&
        req->iovcnt <= IOV_MAX) {
        laio_submit(s, req);
        return;
    }
#endif
#ifdef CONFIG_LINUX_IO_URING
    if (s->io_uring &&
        ((req->op == BLK_OP_FLUSH && !s->no_flush) ||
         ((req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
          !needs_bounce(s, bs->request_alignment, req->offset, req->bytes,
                        req->iov, req->iovcnt) &&
          req->iovcnt <= IOV_MAX))) {
        req->file_bs = bs;
        uring_submit(s, req);
        return;
    }
#endif
    block_run_in_pool(bs, req);
}

static void file_request_finished(BlockRequest *req)
{
    BlockDriverState *bs = req->file_bs;
    FileState *s = bs->opaque;
    GList *blocked = NULL;

    req->tracked = false;
    s->inflight = g_list_remove(s->inflight, req);
    /* start what no longer conflicts, keeping order among conflicting ones */
    GList *l = s->waiting.head;
    while (l) {
        GList *next = l->next;
        BlockRequest *w = l->data;
        bool wait = conflicts_with_inflight(s, w);
        for (GList *b = blocked; b && !wait; b = b->next) {
            wait = requests_conflict(b->data, w);
        }
        if (wait) {
            blocked = g_list_prepend(blocked, w);
        } else {
            g_queue_delete_link(&s->waiting, l);
            w->tracked = true;
            s->inflight = g_list_prepend(s->inflight, w);
            file_start(s, bs, w);
        }
        l = next;
    }
    g_list_free(blocked);
}

static void file_submit(BlockDriverState *bs, BlockRequest *req)
{
    FileState *s = bs->opaque;
    uint32_t align = bs->request_alignment;

    req->file_bs = bs;
    req->tracked = false;
    if (align > 1 && req->op != BLK_OP_FLUSH) {
        req->align_start = req->offset & ~(int64_t)(align - 1);
        req->align_end = (req->offset + req->bytes + align - 1) &
                         ~(int64_t)(align - 1);
        req->serialising =
            (req->op == BLK_OP_WRITE &&
             needs_bounce(s, align, req->offset, req->bytes, req->iov,
                          req->iovcnt)) ||
            (req->op == BLK_OP_ZEROES &&
             ((req->offset | req->bytes) & (align - 1)));
        bool wait = conflicts_with_inflight(s, req);
        for (GList *l = s->waiting.head; l && !wait; l = l->next) {
            wait = requests_conflict(l->data, req);
        }
        if (wait) {
            g_queue_push_tail(&s->waiting, req);
            return;
        }
        req->tracked = true;
        s->inflight = g_list_prepend(s->inflight, req);
    }
    file_start(s, bs, req);
}

static int file_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    return file_run(bs->opaque, bs, req);
}

/* ---- locking, as QEMU's raw-posix does it ---- */

#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200
enum {
    PERM_CONSISTENT_READ = 1 << 0,
    PERM_WRITE = 1 << 1,
    PERM_WRITE_UNCHANGED = 1 << 2,
    PERM_RESIZE = 1 << 3,
    PERM_ALL = 0xf,
};
static const char *const perm_names[] = {
    "consistent read", "write", "write unchanged", "resize",
};

static int ofd_lock(int fd, int64_t byte, int type)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = type,
    };
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 0 free, 1 held by another open file, -errno if locks don't work */
static int ofd_test(int fd, int64_t byte)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK,
    };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -errno;
    }
    return fl.l_type != F_UNLCK;
}

/*
 * perm: what we use; shared: what we let others use. Like QEMU's
 * virtio-blk defaults: others may read and resize, not write.
 */
static int lock_image(int fd, const char *filename, int locking, int perm,
                      int shared, GError **errp)
{
    if (locking < 0) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        int r = 0;
        if (perm & (1 << i)) {
            r = ofd_lock(fd, LOCK_PERM_BASE + i, F_RDLCK);
        }
        if (!r && !(shared & (1 << i))) {
            r = ofd_lock(fd, LOCK_SHARED_BASE + i, F_RDLCK);
        }
        if (r == -EINVAL || r == -EOPNOTSUPP || r == -ENOSYS) {
            if (locking > 0) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "Failed to lock byte %d: %s", LOCK_PERM_BASE + i,
                            g_strerror(-r));
                return r;
            }
            log_warn("%s: OFD locks are unavailable; the image is not "
                     "locked", filename);
            return 0;
        }
        if (r == -EAGAIN || r == -EACCES) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Failed to get \"%s\" lock: Is another process "
                        "using the image [%s]?",
                        perm_names[i], filename);
            return r;
        }
        if (r < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "Failed to lock byte %d: %s",
                        LOCK_PERM_BASE + i, g_strerror(-r));
            return r;
        }
    }
    for (int i = 0; i < 4; i++) {
        if ((perm & (1 << i)) && ofd_test(fd, LOCK_SHARED_BASE + i) == 1) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Failed to get \"%s\" lock: Is another process "
                        "using the image [%s]?",
                        perm_names[i], filename);
            return -EAGAIN;
        }
        if (!(shared & (1 << i)) && ofd_test(fd, LOCK_PERM_BASE + i) == 1) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Failed to get shared \"%s\" lock: Is another "
                        "process using the image [%s]?",
                        perm_names[i], filename);
            return -EAGAIN;
        }
    }
    return 0;
}

/* Drops every lock byte this open file holds (QEMU's perm 0, shared all). */
static void unlock_image(int fd)
{
    for (int i = 0; i < 4; i++) {
        ofd_lock(fd, LOCK_PERM_BASE + i, F_UNLCK);
        ofd_lock(fd, LOCK_SHARED_BASE + i, F_UNLCK);
    }
}

static bool file_inactivate(BlockDriverState *bs, GError **errp)
{
    FileState *s = bs->opaque;

    if (s->locking >= 0) {
        unlock_image(s->fd);
    }
    return true;
}

/* The other side may hold the image now: a clear error, and no lock kept. */
static bool file_activate(BlockDriverState *bs, GError **errp)
{
    FileState *s = bs->opaque;

    if (lock_image(s->fd, bs->filename, s->locking, s->lock_perm,
                   s->lock_shared, errp) < 0) {
        unlock_image(s->fd);
        return false;
    }
    return true;
}

/* ---- open/close ---- */

static bool aligned_read_ok(int fd, void *buf, size_t len)
{
    ssize_t r = pread(fd, buf, len, 0);
    return r >= 0 || errno != EINVAL;
}

static void probe_alignment(BlockDriverState *bs, FileState *s)
{
    uint8_t *buf;
    unsigned sector;

    bs->request_alignment = 1;
    s->buf_align = 1;
    if (!s->direct) {
        return;
    }
    if (s->is_bdev && ioctl(s->fd, BLKSSZGET, &sector) == 0 && sector) {
        bs->request_alignment = sector;
        s->buf_align = sector;
        return;
    }
    if (posix_memalign((void **)&buf, MAX_ALIGN, 2 * MAX_ALIGN)) {
        bs->request_alignment = s->buf_align = MAX_ALIGN;
        return;
    }
    bs->request_alignment = MAX_ALIGN;
    for (uint32_t a = 512; a <= MAX_ALIGN; a <<= 1) {
        if (aligned_read_ok(s->fd, buf, a)) {
            bs->request_alignment = a;
            break;
        }
    }
    s->buf_align = MAX_ALIGN;
    for (uint32_t a = 512; a <= MAX_ALIGN; a <<= 1) {
        if (aligned_read_ok(s->fd, buf + a, bs->request_alignment)) {
            s->buf_align = a;
            break;
        }
    }
    free(buf);
}

static bool file_open(BlockDriverState *bs, const char *filename,
                      const BlockOpenOptions *o, GError **errp)
{
    FileState *s = g_new0(FileState, 1);
    int flags = O_CLOEXEC | (o->read_only ? O_RDONLY : O_RDWR);
    struct stat st;

    s->fd = -1;
    g_queue_init(&s->waiting);
    bs->opaque = s;
    if (o->aio_native && !o->direct) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "aio=native was specified, but it requires "
                    "cache.direct=on, which was not specified.");
        return false;
    }
#ifndef CONFIG_LIBAIO
    if (o->aio_native) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "aio=native was specified, but is not supported in "
                    "this build.");
        return false;
    }
#endif
    if (!aio_init_once(errp)) {
        return false;
    }
#ifdef CONFIG_LIBAIO
    if (o->aio_native && !laio_init_once(errp)) {
        return false;
    }
#endif
#ifdef CONFIG_LINUX_IO_URING
    if (o->aio_io_uring && !uring_init_once(errp)) {
        return false;
    }
#else
    if (o->aio_io_uring) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "aio=io_uring was specified, but is not supported in "
                    "this build.");
        return false;
    }
#endif
    s->direct = o->direct;
    s->native = o->aio_native;
    s->io_uring = o->aio_io_uring;
    s->no_flush = o->no_flush;
    if (o->direct) {
        flags |= O_DIRECT;
    }
    s->fd = open(filename, flags);
    if (s->fd < 0 && errno == EROFS && !o->read_only) {
        errno = EACCES;
    }
    if (s->fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not open '%s': %s",
                    filename, g_strerror(errno));
        return false;
    }
    if (fstat(s->fd, &st) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not stat '%s': %s",
                    filename, g_strerror(errno));
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "Could not open '%s': Is a directory", filename);
        return false;
    }
    s->is_bdev = S_ISBLK(st.st_mode);
    s->locking = o->locking;
    s->lock_perm = PERM_CONSISTENT_READ | (o->read_only ? 0 : PERM_WRITE);
    s->lock_shared = PERM_CONSISTENT_READ | PERM_WRITE_UNCHANGED |
                     PERM_RESIZE;
    /* an inactive node, like QEMU's, uses nothing and shares everything */
    if (!bs->inactive &&
        lock_image(s->fd, filename, s->locking, s->lock_perm, s->lock_shared,
                   errp) < 0) {
        return false;
    }
    probe_alignment(bs, s);
    return true;
}

static void file_close(BlockDriverState *bs)
{
    FileState *s = bs->opaque;

    if (s) {
        g_assert(!s->inflight && g_queue_is_empty(&s->waiting));
        if (s->fd >= 0) {
            close(s->fd);   /* drops the OFD locks */
        }
        g_free(s);
        bs->opaque = NULL;
    }
}

static int64_t file_getlength(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    return fd_size(s->fd);
}

static int64_t file_allocated_file_size(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

/*
 * Holes through SEEK_DATA/SEEK_HOLE, so map and convert skip them. Where
 * the file system cannot tell, everything is data.
 */
static int file_block_status(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, int64_t *map,
                             BlockDriverState **file)
{
    FileState *s = bs->opaque;
    int ret = BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_OFFSET_VALID;

    *map = offset;
    *file = bs;
    *pnum = bytes;
    if (s->is_bdev) {
        return ret | BDRV_BLOCK_DATA;
    }
    off_t data = lseek(s->fd, offset, SEEK_DATA);
    if (data < 0) {
        if (errno == ENXIO) {
            /* a hole up to the end of the file */
            return ret | BDRV_BLOCK_ZERO;
        }
        return ret | BDRV_BLOCK_DATA;
    }
    if (data > offset) {
        *pnum = MIN(bytes, data - offset);
        return ret | BDRV_BLOCK_ZERO;
    }
    off_t hole = lseek(s->fd, offset, SEEK_HOLE);
    if (hole > offset) {
        *pnum = MIN(bytes, hole - offset);
    }
    return ret | BDRV_BLOCK_DATA;
}

/* Grows fd from cur to size as prealloc asks; cur <= size. */
static bool file_preallocate(int fd, const char *filename, int64_t cur,
                             int64_t size, PreallocMode prealloc,
                             GError **errp)
{
    int r;

    switch (prealloc) {
    case PREALLOC_MODE_OFF:
        if (ftruncate(fd, size) < 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not resize file: %s", g_strerror(errno));
            return false;
        }
        return true;
    case PREALLOC_MODE_FALLOC:
        if (size > cur && (r = posix_fallocate(fd, cur, size - cur)) != 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not preallocate new data: %s", g_strerror(r));
            return false;
        }
        return true;
    case PREALLOC_MODE_FULL: {
        if (ftruncate(fd, size) < 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not resize file: %s", g_strerror(errno));
            return false;
        }
        uint8_t *zbuf = g_malloc0(ZERO_CHUNK);
        int ret = 0;
        for (int64_t off = cur; off < size && ret == 0; off += ZERO_CHUNK) {
            ret = do_rw_buf(fd, zbuf, MIN(ZERO_CHUNK, size - off), off, true);
        }
        g_free(zbuf);
        if (ret == 0 && fsync(fd) < 0) {
            ret = -errno;
        }
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not write zeros for preallocation: %s",
                        g_strerror(-ret));
            return false;
        }
        return true;
    }
    default:
        g_set_error(errp, VIREO_ERROR, 0,
                    "Unsupported preallocation mode: %s",
                    prealloc == PREALLOC_MODE_METADATA ? "metadata" : "?");
        return false;
    }
}

static bool file_truncate(BlockDriverState *bs, int64_t offset, bool shrink,
                          PreallocMode prealloc, GError **errp)
{
    FileState *s = bs->opaque;
    int64_t cur = fd_size(s->fd);

    if (cur < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not get the file size: %s",
                    g_strerror(-cur));
        return false;
    }
    if (s->is_bdev) {
        if (offset > cur) {
            g_set_error(errp, VIREO_ERROR, 0, "Cannot grow device files");
            return false;
        }
        return true;
    }
    if (offset < cur) {
        if (!shrink) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Use the --shrink option to perform a shrink "
                        "operation.");
            return false;
        }
        if (prealloc != PREALLOC_MODE_OFF) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Preallocation is not supported when shrinking");
            return false;
        }
    }
    return file_preallocate(s->fd, bs->filename, MIN(cur, offset), offset,
                            offset < cur ? PREALLOC_MODE_OFF : prealloc,
                            errp);
}

/* QEMU's file create: size and preallocation= (off, falloc, full). */
static bool file_create(const char *filename, int64_t size, Opts *opts,
                        GError **errp)
{
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    const char *v = opts ? opts_get(opts, "preallocation") : NULL;

    if (v) {
        if (!strcmp(v, "off")) {
            prealloc = PREALLOC_MODE_OFF;
        } else if (!strcmp(v, "falloc")) {
            prealloc = PREALLOC_MODE_FALLOC;
        } else if (!strcmp(v, "full")) {
            prealloc = PREALLOC_MODE_FULL;
        } else if (!strcmp(v, "metadata")) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Unsupported preallocation mode: metadata");
            return false;
        } else {
            g_set_error(errp, VIREO_ERROR, 0, "invalid parameter value: %s",
                        v);
            return false;
        }
    }
    if (opts) {
        opts_get(opts, "nocow");    /* a btrfs hint; nothing to do here */
    }
    int fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not create '%s': %s",
                    filename, g_strerror(errno));
        return false;
    }
    struct stat st;
    bool ok = true;
    if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        /* a device keeps its size; it only has to be large enough */
        int64_t dev = fd_size(fd);
        if (dev >= 0 && dev < size) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "Could not resize file: Device too small");
            ok = false;
        }
    } else if (ftruncate(fd, 0) < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Could not resize file: %s",
                    g_strerror(errno));
        ok = false;
    } else {
        ok = file_preallocate(fd, filename, 0, size, prealloc, errp);
    }
    close(fd);
    return ok;
}

const BlockDriver bdrv_file = {
    .format_name = "file",
    .open = file_open,
    .close = file_close,
    .getlength = file_getlength,
    .submit = file_submit,
    .run_sync = file_run_sync,
    .create = file_create,
    .block_status = file_block_status,
    .truncate = file_truncate,
    .allocated_file_size = file_allocated_file_size,
    .inactivate = file_inactivate,
    .activate = file_activate,
};
