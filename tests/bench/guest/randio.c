/*
 * randio: 4 KiB random reads (or, with -w, writes) with O_DIRECT over a block
 * device or file for a fixed time, at a fixed queue depth, and the rate
 * achieved (a tiny fio for the busybox benchmark guest, which has none).
 * Linux AIO (io_submit through raw syscalls, so no libaio is needed) keeps
 * `depth` requests in flight from one thread; -m threads runs `depth`
 * threads doing pread()/pwrite() instead. Writes carry data: random bytes
 * stamped with the offset they go to, so no layer can treat them as zeroes.
 * With -u SIZE each request goes to a SIZE-aligned region no request has
 * touched yet (the regions in a random order, a random block in each), and
 * the run ends early when every region has had one: so writes into a fresh
 * qcow2 image with SIZE-byte clusters all allocate a cluster.
 * Built statically on the host by tests/bench/virtio.
 *
 * Prints one line:
 *   RANDREAD iops=N reads=N seconds=S depth=D bs=B mode=aio|threads
 *            size=BYTES
 * (RANDWRITE ... writes=N ... with -w) and exits 0, or prints the error
 * and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 256

struct options {
    const char *path;
    int depth;
    double seconds;
    size_t bs;
    int use_threads;
    int direct;
    int write;
    size_t region; /* -u: one request per region of this size; 0: off */
    uint64_t seed;
};

/* -u: the regions in the order the requests take them. */
struct regions {
    uint64_t *order; /* region numbers, shuffled */
    uint64_t count;
    uint64_t next; /* the next one to take; shared by -m threads */
    size_t size;
};

struct job {
    int fd;
    uint64_t blocks; /* number of bs-sized blocks in the target */
    size_t bs;
    int write;               /* write instead of read */
    struct regions *regions; /* -u, or NULL: anywhere in the target */
    double deadline;         /* CLOCK_MONOTONIC seconds */
    uint64_t seed;
    uint64_t ios; /* requests completed */
    int error;    /* errno of the first failure, 0 if none */
    off_t error_offset;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: fast, good enough to scatter offsets, seedable. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* The next request's offset, or -1 when -u has used every region. */
static off_t random_offset(uint64_t *state, const struct job *job)
{
    struct regions *r = job->regions;

    if (!r) {
        return (off_t)(next_random(state) % job->blocks) * job->bs;
    }
    uint64_t i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
    if (i >= r->count) {
        return -1;
    }
    uint64_t block = next_random(state) % (r->size / job->bs);
    return (off_t)(r->order[i] * r->size + block * job->bs);
}

/* -u: the target's whole regions of `size` bytes in a random order. */
static struct regions *shuffle_regions(uint64_t target, size_t size,
                                       uint64_t seed)
{
    struct regions *r = calloc(1, sizeof(*r));
    uint64_t state = seed;

    if (!r) {
        return NULL;
    }
    r->size = size;
    r->count = target / size;
    r->order = malloc(r->count * sizeof(*r->order) + 1);
    if (!r->order) {
        free(r);
        return NULL;
    }
    for (uint64_t i = 0; i < r->count; i++) {
        r->order[i] = i;
    }
    for (uint64_t i = r->count; i > 1; i--) { /* Fisher-Yates */
        uint64_t j = next_random(&state) % i, t = r->order[i - 1];
        r->order[i - 1] = r->order[j];
        r->order[j] = t;
    }
    return r;
}

/* A buffer for one request: random bytes, so writes are never all zeroes. */
static void *alloc_buffer(size_t bs, uint64_t *state)
{
    uint64_t *buf;

    /* O_DIRECT wants the buffer aligned to the logical block size */
    if (posix_memalign((void **)&buf, 4096, bs) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < bs / sizeof(*buf); i++) {
        buf[i] = next_random(state);
    }
    return buf;
}

/* Stamp the write's offset into its data so each write differs. */
static void stamp_buffer(void *buf, off_t offset)
{
    uint64_t v = offset;

    memcpy(buf, &v, sizeof(v));
}

static int sys_io_setup(unsigned nr, aio_context_t *ctx)
{
    return syscall(SYS_io_setup, nr, ctx);
}

static int sys_io_destroy(aio_context_t ctx)
{
    return syscall(SYS_io_destroy, ctx);
}

static int sys_io_submit(aio_context_t ctx, long n, struct iocb **iocbs)
{
    return syscall(SYS_io_submit, ctx, n, iocbs);
}

static int sys_io_getevents(aio_context_t ctx, long min, long max,
                            struct io_event *events, struct timespec *timeout)
{
    return syscall(SYS_io_getevents, ctx, min, max, events, timeout);
}

/* Fill in cb for the next request; false when -u has no region left. */
static bool prep_request(struct iocb *cb, struct job *job, void *buf,
                         uint64_t *state)
{
    off_t offset = random_offset(state, job);

    if (offset < 0) {
        return false;
    }
    memset(cb, 0, sizeof(*cb));
    cb->aio_fildes = job->fd;
    cb->aio_lio_opcode = job->write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
    cb->aio_buf = (uint64_t)(uintptr_t)buf;
    cb->aio_nbytes = job->bs;
    cb->aio_offset = offset;
    cb->aio_data = (uint64_t)(uintptr_t)cb;
    if (job->write) {
        stamp_buffer(buf, offset);
    }
    return true;
}

/*
 * Keep `depth` requests in flight until the deadline (or until -u runs out
 * of regions), then drain them. Returns
 * 0, -ENOSYS when this kernel has no AIO (the caller falls back to
 * threads), or another negative errno.
 */
static int run_aio(struct job *job, int depth)
{
    static struct iocb cbs[MAX_DEPTH];
    struct iocb *ptrs[MAX_DEPTH];
    struct io_event events[MAX_DEPTH];
    void *bufs[MAX_DEPTH] = {0};
    aio_context_t ctx = 0;
    uint64_t state = job->seed;
    int inflight = 0, ret = 0, first = 0;

    if (sys_io_setup(depth, &ctx) < 0) {
        return -errno;
    }
    for (int i = 0; i < depth; i++) {
        bufs[i] = alloc_buffer(job->bs, &state);
        if (!bufs[i]) {
            ret = -ENOMEM;
            goto out;
        }
        if (first == i && prep_request(&cbs[i], job, bufs[i], &state)) {
            ptrs[first++] = &cbs[i];
        }
    }
    if (first && sys_io_submit(ctx, first, ptrs) != first) {
        ret = -errno;
        goto out;
    }
    inflight = first;
    while (inflight > 0) {
        int n = sys_io_getevents(ctx, 1, depth, events, NULL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            goto out;
        }
        int resubmit = 0;
        int stop = now() >= job->deadline;
        for (int i = 0; i < n; i++) {
            struct iocb *cb = (struct iocb *)(uintptr_t)events[i].data;
            inflight--;
            if (events[i].res != (int64_t)job->bs) {
                job->error = events[i].res < 0 ? -events[i].res : EIO;
                job->error_offset = cb->aio_offset;
                stop = 1;
                continue;
            }
            job->ios++;
            if (!stop) {
                size_t idx = cb - cbs;
                if (prep_request(cb, job, bufs[idx], &state)) {
                    ptrs[resubmit++] = cb;
                }
            }
        }
        if (stop || resubmit == 0) {
            continue;
        }
        if (sys_io_submit(ctx, resubmit, ptrs) != resubmit) {
            ret = -errno;
            goto out;
        }
        inflight += resubmit;
    }
out:
    sys_io_destroy(ctx);
    for (int i = 0; i < depth; i++) {
        free(bufs[i]);
    }
    return ret;
}

static void *thread_main(void *arg)
{
    struct job *job = arg;
    uint64_t state = job->seed;
    void *buf = alloc_buffer(job->bs, &state);

    if (!buf) {
        job->error = ENOMEM;
        return NULL;
    }
    while (now() < job->deadline) {
        off_t off = random_offset(&state, job);
        ssize_t n;
        if (off < 0) {
            break;
        }
        if (job->write) {
            stamp_buffer(buf, off);
            n = pwrite(job->fd, buf, job->bs, off);
        } else {
            n = pread(job->fd, buf, job->bs, off);
        }
        if (n != (ssize_t)job->bs) {
            job->error = n < 0 ? errno : EIO;
            job->error_offset = off;
            break;
        }
        job->ios++;
    }
    free(buf);
    return NULL;
}

static int run_threads(struct job *job, int depth)
{
    struct job jobs[MAX_DEPTH];
    pthread_t tids[MAX_DEPTH];

    for (int i = 0; i < depth; i++) {
        jobs[i] = *job;
        jobs[i].seed = job->seed + 0x9e3779b97f4a7c15ULL * (i + 1);
        int err = pthread_create(&tids[i], NULL, thread_main, &jobs[i]);
        if (err) {
            return -err;
        }
    }
    for (int i = 0; i < depth; i++) {
        pthread_join(tids[i], NULL);
        job->ios += jobs[i].ios;
        if (jobs[i].error && !job->error) {
            job->error = jobs[i].error;
            job->error_offset = jobs[i].error_offset;
        }
    }
    return 0;
}

static uint64_t target_size(int fd)
{
    struct stat st;
    uint64_t size = 0;

    if (fstat(fd, &st) < 0) {
        return 0;
    }
    if (S_ISBLK(st.st_mode)) {
        return ioctl(fd, BLKGETSIZE64, &size) < 0 ? 0 : size;
    }
    return st.st_size;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: randio [-w] [-u SIZE] [-q DEPTH] [-t SECONDS] "
            "[-b BYTES] [-m aio|threads] [-s SEED] [-B] PATH\n"
            "  -w  write (over the data in PATH) instead of reading\n"
            "  -u  one request per SIZE-aligned region, each region once "
            "(stops early\n"
            "      when all are done; SIZE a multiple of -b)\n"
            "  -q  requests in flight (default 16, at most %d)\n"
            "  -t  how long to run (default 10)\n"
            "  -b  request size, a multiple of 512 (default 4096)\n"
            "  -m  aio (default; threads when the kernel has no AIO) "
            "or threads\n"
            "  -s  random seed (default 1)\n"
            "  -B  buffered: no O_DIRECT (for file systems without it)\n",
            MAX_DEPTH);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    int c;

    *o = (struct options){
        .depth = 16, .seconds = 10, .bs = 4096, .direct = 1, .seed = 1};
    while ((c = getopt(argc, argv, "wu:q:t:b:m:s:Bh")) != -1) {
        switch (c) {
        case 'w':
            o->write = 1;
            break;
        case 'u':
            o->region = strtoul(optarg, NULL, 0);
            break;
        case 'q':
            o->depth = atoi(optarg);
            break;
        case 't':
            o->seconds = atof(optarg);
            break;
        case 'b':
            o->bs = strtoul(optarg, NULL, 0);
            break;
        case 's':
            o->seed = strtoull(optarg, NULL, 0);
            break;
        case 'B':
            o->direct = 0;
            break;
        case 'm':
            if (!strcmp(optarg, "threads")) {
                o->use_threads = 1;
            } else if (strcmp(optarg, "aio")) {
                fprintf(stderr, "randio: -m %s: aio or threads\n", optarg);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc - 1 || o->depth < 1 || o->depth > MAX_DEPTH ||
        o->seconds <= 0 || o->bs < 512 || o->bs % 512 ||
        (o->region && o->region % o->bs)) {
        usage(stderr);
        return -1;
    }
    o->path = argv[optind];
    o->seed = o->seed ? o->seed : 1; /* xorshift must not start at 0 */
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    struct job job = {0};

    if (parse_options(argc, argv, &o) < 0) {
        return 2;
    }
    job.fd = open(o.path,
                  (o.write ? O_WRONLY : O_RDONLY) | (o.direct ? O_DIRECT : 0));
    if (job.fd < 0) {
        fprintf(stderr, "randio: %s: %s\n", o.path, strerror(errno));
        return 1;
    }
    uint64_t size = target_size(job.fd);
    job.bs = o.bs;
    job.write = o.write;
    job.blocks = size / o.bs;
    job.seed = o.seed;
    if (job.blocks == 0) {
        fprintf(stderr, "randio: %s: smaller than one %zu-byte block\n", o.path,
                o.bs);
        return 1;
    }
    if (o.region) {
        if (size < o.region) {
            fprintf(stderr, "randio: %s: smaller than one %zu-byte region\n",
                    o.path, o.region);
            return 1;
        }
        job.regions = shuffle_regions(size, o.region, o.seed);
        if (!job.regions) {
            fprintf(stderr, "randio: %s\n", strerror(ENOMEM));
            return 1;
        }
    }

    const char *mode = o.use_threads ? "threads" : "aio";
    double start = now();
    job.deadline = start + o.seconds;
    int ret =
        o.use_threads ? run_threads(&job, o.depth) : run_aio(&job, o.depth);
    if (ret == -ENOSYS && !o.use_threads) {
        mode = "threads";
        ret = run_threads(&job, o.depth);
    }
    double elapsed = now() - start;
    if (ret < 0) {
        fprintf(stderr, "randio: %s: %s\n", o.path, strerror(-ret));
        return 1;
    }
    if (job.error) {
        fprintf(stderr, "randio: %s: %s at %lld: %s\n", o.path,
                o.write ? "write" : "read", (long long)job.error_offset,
                strerror(job.error));
        return 1;
    }
    printf("%s iops=%.0f %s=%llu seconds=%.3f depth=%d bs=%zu mode=%s "
           "size=%llu\n",
           o.write ? "RANDWRITE" : "RANDREAD", job.ios / elapsed,
           o.write ? "writes" : "reads", (unsigned long long)job.ios, elapsed,
           o.depth, o.bs, mode, (unsigned long long)size);
    return 0;
}
