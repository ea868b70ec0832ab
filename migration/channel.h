/*
 * Migration transports (QEMU's URIs): tcp:HOST:PORT, unix:PATH, exec:CMD
 * and file:PATH[,offset=N], and the byte stream over them with its running
 * CRC-32C, byte counts, bandwidth limit and the return path of the socket
 * transports. Private to migration/.
 */
#ifndef MIGRATION_CHANNEL_H
#define MIGRATION_CHANNEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum MigTransport {
    MIG_TCP,
    MIG_UNIX,
    MIG_EXEC,
    MIG_FILE,
} MigTransport;

typedef struct MigUri {
    MigTransport transport;
    char *host;         /* tcp */
    char *port;         /* tcp */
    char *path;         /* unix, file; the command of exec */
    uint64_t offset;    /* file: where the stream starts */
} MigUri;

bool mig_uri_parse(const char *uri, MigUri *out, GError **errp);
void mig_uri_clear(MigUri *u);

#define MIG_BUF_SIZE (256 * 1024)

/* Moves n bytes at stream position pos (written on the source side, read
 * on the destination side); 0 or -errno. */
typedef int (*MigChannelRw)(void *opaque, bool is_write, uint64_t pos,
                            void *buf, size_t n);

typedef struct MigChannel {
    int fd;             /* the stream: written (source) or read (dest) */
    int ret_fd;         /* the return path (sockets: fd itself), or -1 */
    bool is_socket;
    GPid child;         /* exec: the command, or 0 */
    uint32_t crc;       /* CRC-32C of every stream byte so far */
    uint64_t bytes;     /* stream bytes so far */
    uint8_t *buf;       /* source: unsent bytes; dest: read ahead */
    size_t len, pos;
    uint64_t max_bandwidth;     /* bytes/s, 0: no limit (source) */
    gint64 window_start;        /* throttle window (µs, monotonic) */
    uint64_t window_bytes;
    volatile bool *cancel;      /* set by another thread: stop, fail */
    /* instead of fd (-1): a function, over size bytes when reading */
    MigChannelRw rw;
    void *rw_opaque;
    uint64_t rw_size;
    uint64_t rw_pos;            /* where the next bytes go or come from */
} MigChannel;

/* Source side: connects (tcp, unix; *cancel set meanwhile makes it give
 * up), spawns (exec) or creates (file). */
MigChannel *mig_channel_connect(const MigUri *u, volatile bool *cancel,
                                GError **errp);
/*
 * Destination side, in two steps so that a listening socket exists (and
 * its errors are reported) before the caller goes on: listen opens the
 * socket, file or command; accept waits for the source (sockets only).
 */
typedef struct MigListener MigListener;
MigListener *mig_listener_new(const MigUri *u, GError **errp);
MigChannel *mig_listener_accept(MigListener *l, GError **errp);
/* Wakes an accept blocked in another thread; it then fails. */
void mig_listener_abort(MigListener *l);
void mig_listener_free(MigListener *l);

/*
 * A stream kept by rw (a snapshot's VM state in a disk image): written
 * from position 0 on, or read from 0 up to size bytes.
 */
MigChannel *mig_channel_new_rw(MigChannelRw rw, void *opaque,
                               uint64_t size);

/* Unblocks a transfer in another thread (shutdown, kill the command). */
void mig_channel_abort(MigChannel *c);
void mig_channel_free(MigChannel *c);

/* Stream output, buffered; the CRC and counts follow every byte. */
bool mig_put(MigChannel *c, const void *data, size_t len, GError **errp);
bool mig_put_u8(MigChannel *c, uint8_t v, GError **errp);
bool mig_put_u16(MigChannel *c, uint16_t v, GError **errp);
bool mig_put_u32(MigChannel *c, uint32_t v, GError **errp);
bool mig_put_u64(MigChannel *c, uint64_t v, GError **errp);
bool mig_put_str(MigChannel *c, const char *s, GError **errp);
bool mig_flush(MigChannel *c, GError **errp);

/* Stream input; running out of bytes is a "truncated stream" error. */
bool mig_get(MigChannel *c, void *data, size_t len, GError **errp);
bool mig_get_u8(MigChannel *c, uint8_t *v, GError **errp);
bool mig_get_u16(MigChannel *c, uint16_t *v, GError **errp);
bool mig_get_u32(MigChannel *c, uint32_t *v, GError **errp);
bool mig_get_u64(MigChannel *c, uint64_t *v, GError **errp);
/* A string of at most max bytes (no NUL inside), newly allocated. */
char *mig_get_str(MigChannel *c, size_t max, GError **errp);

/*
 * The return path: a reply is u8 ok (1 or 0) then a u16-counted message.
 * Only on socket transports (c->ret_fd >= 0).
 */
bool mig_reply_send(MigChannel *c, bool ok, const char *msg, GError **errp);
bool mig_reply_recv(MigChannel *c, bool *ok, char **msg, GError **errp);

#endif
