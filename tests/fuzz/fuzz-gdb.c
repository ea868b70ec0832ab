/*
 * libFuzzer target for the gdb stub: gdb remote protocol bytes from a
 * client, through the real character device (a unix socket the target
 * connects to for each input, so that each input is a new gdb session)
 * into packet framing and the commands, against a pc machine under
 * qtest. An input whose first byte is odd is a list of packet bodies, one
 * a line, that the target frames with their checksums (so mutations reach
 * the commands rather than die at the checksum); otherwise the bytes are
 * sent as they are. The machine is reset between inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "fuzz-qtest.h"
#include "gdbstub/gdbstub.h"
#include "gdbstub/packet.h"
#include "system/runstate.h"
#include "system/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const FuzzProfile gdb_machine = {
    .target = "fuzz-gdb", .machine = "pc",
};

static Machine *machine;
static struct sockaddr_un addr;
static char *sock_dir;

static void remove_socket(void)
{
    unlink(addr.sun_path);
    rmdir(sock_dir);
}

static void self_check(void);

static void setup(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *spec = NULL;

    machine = fuzz_machine_create(&gdb_machine);
    addr.sun_family = AF_UNIX;
    sock_dir = g_dir_make_tmp("vireo-fuzz-gdb-XXXXXX", NULL);
    if (!sock_dir) {
        abort();
    }
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/gdb.sock", sock_dir);
    spec = g_strdup_printf("unix:%s,server=on,wait=off", addr.sun_path);
    if (!gdbserver_start(spec, &err)) {
        fuzz_fail("fuzz-gdb", err);
    }
    atexit(remove_socket);
}

/* What the stub said in the first session, for self_check. */
static GString *heard;

/* Reads what the stub sent, so that it never waits for room. */
static void drain(int fd)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (heard) {
            g_string_append_len(heard, buf, n);
        }
    }
}

/* Bytes written to fd that the stub has not read yet. */
static int unread(int fd)
{
    int n = 0;

    return ioctl(fd, SIOCOUTQ, &n) < 0 ? 0 : n;
}

/* Sends all of buf, running the main loop while the socket is full. */
static void send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return;     /* the stub closed: it gave up on us */
        }
        fuzz_main_loop_run();
        drain(fd);
    }
}

/* Frames each line of text as a packet: $body#cc. */
static GString *frame_lines(const uint8_t *data, size_t size)
{
    GString *out = g_string_new(NULL);
    const uint8_t *end = data + size;

    while (data < end) {
        const uint8_t *nl = memchr(data, '\n', end - data);
        size_t n = (nl ? nl : end) - data;
        gdb_packet_encode(out, data, n);
        data += n + (nl != NULL);
    }
    return out;
}

/*
 * The inputs must reach the commands: the first session asks for
 * qSupported and must hear the stub's answer.
 */
static void self_check(void)
{
    static const char q[] = "$qSupported#37";

    heard = g_string_new(NULL);
    LLVMFuzzerTestOneInput((const uint8_t *)q, strlen(q));
    if (!strstr(heard->str, "PacketSize=")) {
        fprintf(stderr, "fuzz-gdb: no answer from the stub: '%s'\n",
                heard->str);
        abort();
    }
    g_string_free(heard, TRUE);
    heard = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) framed = NULL;
    int fd, status;

    if (!machine) {
        setup();
        self_check();
    }
    if (size && (data[0] & 1)) {
        framed = frame_lines(data + 1, size - 1);
        data = (const uint8_t *)framed->str;
        size = framed->len;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("fuzz-gdb: connect");
        abort();
    }
    fuzz_main_loop_run();
    send_all(fd, data, size);
    /* until the stub has read it all, and acted on it */
    for (int i = 0; i < 1000 && unread(fd) > 0; i++) {
        fuzz_main_loop_run();
        drain(fd);
    }
    fuzz_main_loop_run();
    drain(fd);
    close(fd);
    fuzz_main_loop_run();

    /* k (kill) only leaves a request behind; c runs the VM */
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
    if (runstate_is_running()) {
        vm_stop(machine, RUN_STATE_PAUSED);
    }
    if (!machine_reset(machine, &err)) {
        fuzz_fail("fuzz-gdb", err);
    }
    return 0;
}
