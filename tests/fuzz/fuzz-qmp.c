/*
 * libFuzzer target for QMP input: arbitrary bytes from a client, through
 * framing, JSON parsing, envelope and argument checks, into the commands
 * (with no machine, as at start-up or under -M none). Odd-first-byte
 * inputs are negotiated first so that the commands themselves run.
 */
#include <stdint.h>
#include <string.h>

#include "monitor/qmp.h"
#include "system/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t output_bytes;

static void discard(void *opaque, const char *text, size_t len)
{
    output_bytes += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char caps[] = "{\"execute\": \"qmp_capabilities\"}";
    static QmpSession *s;
    int status;

    if (!s) {
        s = qmp_session_new(discard, NULL, false);
    }
    qmp_session_start(s);
    if (size && (data[0] & 1)) {
        qmp_session_feed(s, (const uint8_t *)caps, strlen(caps));
    }
    qmp_session_feed(s, data, size);
    qmp_session_end(s);
    /* quit and system_reset only leave requests for a main loop */
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
    return 0;
}
