/*
 * CRC-32C: the standard check value, and the instruction and the table
 * agreeing on every length and alignment, in one call or in pieces.
 */
#include <glib.h>

#include "util/crc32c.h"

static void test_check_value(void)
{
    g_assert_cmphex(crc32c(0, "123456789", 9), ==, 0xe3069283);
    g_assert_cmphex(crc32c_soft(0, "123456789", 9), ==, 0xe3069283);
    g_assert_cmphex(crc32c(0, "", 0), ==, 0);
}

static void test_paths_agree(void)
{
    uint8_t buf[300];
    GRand *r = g_rand_new_with_seed(0x32c);

    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = g_rand_int(r);
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 0; n + off <= sizeof(buf); n += 7) {
            uint32_t whole = crc32c(0, buf + off, n);
            uint32_t split = crc32c(crc32c(0, buf + off, n / 3),
                                    buf + off + n / 3, n - n / 3);

            g_assert_cmphex(whole, ==, crc32c_soft(0, buf + off, n));
            g_assert_cmphex(split, ==, whole);
        }
    }
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crc32c/check-value", test_check_value);
    g_test_add_func("/crc32c/paths-agree", test_paths_agree);
    return g_test_run();
}
