/*
 * timeit: run a command and print how long it took by CLOCK_MONOTONIC, for
 * the busybox benchmark guest (whose date has no sub-second format). Built
 * statically on the host by tests/bench/virtio.
 *
 *   timeit CMD [ARG...]
 * prints "TIMEIT seconds=S status=N" after CMD exits and exits with its
 * status (128+signal when it was killed).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: timeit CMD [ARG...]\n");
        return 2;
    }
    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "timeit: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "timeit: %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "timeit: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    double elapsed = now() - start;
    int status =
        WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    printf("TIMEIT seconds=%.6f status=%d\n", elapsed, status);
    fflush(stdout);
    return status;
}
