/*
 * CRC-32C, reflected, polynomial 0x82f63b78: SSE4.2 computes it eight
 * bytes an instruction, so that checking every byte of a migration costs
 * little next to copying it (zlib's CRC-32 took a tenth of its CPU time).
 */
#include <glib.h>
#include <string.h>

#include "util/crc32c.h"

static uint32_t table[256];

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
        }
        table[i] = c;
    }
}

static bool host_has_sse42(void)
{
    static gsize once;
    static bool hw;

    if (g_once_init_enter(&once)) {
        hw = __builtin_cpu_supports("sse4.2");
        table_init();
        g_once_init_leave(&once, 1);
    }
    return hw;
}

static uint32_t by_table(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--) {
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

__attribute__((target("sse4.2")))
static uint32_t by_sse42(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;

    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    crc = c;
    while (n--) {
        crc = __builtin_ia32_crc32qi(crc, *p++);
    }
    return crc;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    bool hw = host_has_sse42();

    return ~(hw ? by_sse42(~crc, data, n) : by_table(~crc, data, n));
}

uint32_t crc32c_soft(uint32_t crc, const void *data, size_t n)
{
    host_has_sse42();
    return ~by_table(~crc, data, n);
}
