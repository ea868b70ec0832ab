/*
 * tcprr: TCP request/response latency (a tiny netperf TCP_RR for the
 * busybox benchmark guest). The client sends SIZE bytes, waits for the
 * SIZE bytes the server echoes back, and repeats for SECONDS: one
 * transaction in flight at a time, so the rate is 1 / round-trip time.
 * The same program is the echo server the host runs (-l), and, built for
 * the host, the client of the host loopback reference. TCP_NODELAY on
 * both ends, so no Nagle delay hides in the figure.
 * Built statically on the host by tests/bench/virtio.
 *
 *   tcprr [-s SIZE] [-t SECONDS] HOST PORT
 * prints one line and exits 0, or prints the error and exits 1:
 *   TCPRR tps=N trans=N seconds=S mean_us=U median_us=U min_us=U
 *         max_us=U size=B
 *   tcprr -l [-a ADDR] PORT
 * echoes what each connection sends until it closes; prints
 * "TCPRR-LISTEN port=N" (the port it got, for PORT 0) once listening.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 65536
/* how long a connect or one response may take before the client gives up:
 * a lost host or a stuck VMM must end the run, not hang it */
#define IO_TIMEOUT_MS 10000
#define WARMUP 16 /* round trips not counted: the connection's first */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: tcprr [-s SIZE] [-t SECONDS] HOST PORT\n"
                    "       tcprr -l [-a ADDR] PORT\n");
    exit(2);
}

static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0 || v > 65535) {
        usage();
    }
    return (int)v;
}

static void nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Waits until fd is ready for events; 0, or -1 with errno (ETIMEDOUT). */
static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&p, 1, IO_TIMEOUT_MS);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return n < 0 ? -1 : 0;
}

/* --- the echo server ---------------------------------------------------- */

static void *echo_conn(void *arg)
{
    int fd = (int)(long)arg;
    char buf[MAX_SIZE];
    ssize_t n;

    nodelay(fd);
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        char *p = buf;

        while (n > 0) {
            ssize_t w = write(fd, p, n);

            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                goto out;
            }
            p += w;
            n -= w;
        }
    }
out:
    close(fd);
    return NULL;
}

static int serve(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    socklen_t len = sizeof(sa);
    int one = 1;
    int lfd;

    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "tcprr: %s: not an IPv4 address\n", addr);
        return 1;
    }
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 16) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
        fprintf(stderr, "tcprr: listen on %s:%d: %s\n", addr, port,
                strerror(errno));
        return 1;
    }
    printf("TCPRR-LISTEN port=%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        pthread_attr_t attr;
        pthread_t t;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0) {
            /* a peer that went away before we took it, or no memory
             * for now: keep serving the others */
            if (errno != EINTR) {
                usleep(1000);
            }
            continue;
        }
        /* a thread per connection: each client does one transaction at a
         * time, so a thread blocked in read() is the cheapest echo */
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, MAX_SIZE + (256 << 10));
        if (pthread_create(&t, &attr, echo_conn, (void *)(long)fd) != 0) {
            close(fd);
        }
        pthread_attr_destroy(&attr);
    }
}

/* --- the client --------------------------------------------------------- */

static int dial(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int err = 0;
    socklen_t elen = sizeof(err);
    int fd;

    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "tcprr: %s: not an IPv4 address\n", host);
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "tcprr: socket: %s\n", strerror(errno));
        return -1;
    }
    /* non-blocking, so an unreachable host times out in IO_TIMEOUT_MS and
     * not after the kernel's minutes of SYN retries */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS || wait_fd(fd, POLLOUT) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
            (err && (errno = err))) {
            fprintf(stderr, "tcprr: connect to %s:%d: %s\n", host, port,
                    strerror(errno));
            close(fd);
            return -1;
        }
    }
    nodelay(fd);
    return fd;
}

/* One transaction: send size bytes, read size bytes back; 0 or -1. */
static int round_trip(int fd, char *buf, size_t size)
{
    size_t done = 0;

    while (done < size) {
        ssize_t n = send(fd, buf + done, size - done, MSG_NOSIGNAL);

        if (n < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLOUT) < 0) {
                return -1;
            }
            continue;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
        done += n > 0 ? n : 0;
    }
    for (done = 0; done < size;) {
        ssize_t n = recv(fd, buf + done, size - done, 0);

        if (n == 0) {
            errno = ECONNRESET; /* the server closed mid-transaction */
            return -1;
        }
        if (n < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLIN) < 0) {
                return -1;
            }
            continue;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
        done += n > 0 ? n : 0;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int client(const char *host, int port, size_t size, double seconds)
{
    char buf[MAX_SIZE];
    double *rtt = NULL;
    size_t count = 0, cap = 0;
    double start, end, t, median, sum = 0;
    int fd = dial(host, port);

    if (fd < 0) {
        return 1;
    }
    memset(buf, 'x', size);
    for (int i = 0; i < WARMUP; i++) {
        if (round_trip(fd, buf, size) < 0) {
            goto fail;
        }
    }
    start = t = now();
    end = start + seconds;
    do {
        double t1;

        if (round_trip(fd, buf, size) < 0) {
            goto fail;
        }
        t1 = now();
        if (count == cap) {
            double *more;

            cap = cap ? cap * 2 : 65536;
            more = realloc(rtt, cap * sizeof(*rtt));
            if (!more) {
                errno = ENOMEM;
                goto fail;
            }
            rtt = more;
        }
        rtt[count++] = t1 - t;
        sum += t1 - t;
        t = t1;
    } while (t < end);
    close(fd);
    qsort(rtt, count, sizeof(*rtt), cmp_double);
    median =
        count % 2 ? rtt[count / 2] : (rtt[count / 2 - 1] + rtt[count / 2]) / 2;
    printf("TCPRR tps=%.0f trans=%zu seconds=%.6f mean_us=%.1f "
           "median_us=%.1f min_us=%.1f max_us=%.1f size=%zu\n",
           count / (t - start), count, t - start, sum / count * 1e6,
           median * 1e6, rtt[0] * 1e6, rtt[count - 1] * 1e6, size);
    free(rtt);
    return 0;
fail:
    fprintf(stderr, "tcprr: round trip %zu with %s:%d: %s\n", count + 1, host,
            port, strerror(errno));
    close(fd);
    free(rtt);
    return 1;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    double seconds = 5;
    long size = 1;
    int listen_mode = 0;
    char *end;
    int c;

    while ((c = getopt(argc, argv, "la:s:t:")) != -1) {
        switch (c) {
        case 'l':
            listen_mode = 1;
            break;
        case 'a':
            addr = optarg;
            break;
        case 's':
            size = strtol(optarg, &end, 10);
            if (*end || size < 1 || size > MAX_SIZE) {
                usage();
            }
            break;
        case 't':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0 && seconds < 1e6)) {
                usage();
            }
            break;
        default:
            usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (listen_mode) {
        if (argc - optind != 1) {
            usage();
        }
        return serve(addr, parse_port(argv[optind]));
    }
    if (argc - optind != 2) {
        usage();
    }
    return client(argv[optind], parse_port(argv[optind + 1]), size, seconds);
}
