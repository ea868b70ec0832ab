/*
 * VNC Authentication (RFC 6143 7.2.2): the client DES-encrypts a 16-byte
 * challenge with the password (up to 8 bytes, zero-padded) as key. VNC
 * has always taken each key byte with its bits in reverse order, so that
 * is what clients expect.
 */
#include <string.h>

#include <nettle/des.h>

#include "vnc.h"

static uint8_t reverse_bits(uint8_t b)
{
    uint8_t r = 0;

    for (int i = 0; i < 8; i++) {
        r |= ((b >> i) & 1) << (7 - i);
    }
    return r;
}

void vnc_auth_response(const char *password, const uint8_t challenge[16],
                       uint8_t response[16])
{
    uint8_t key[DES_KEY_SIZE] = {0};
    struct des_ctx ctx;
    size_t len = strlen(password);

    for (size_t i = 0; i < DES_KEY_SIZE && i < len; i++) {
        key[i] = reverse_bits((uint8_t)password[i]);
    }
    /* des_set_key reports weak keys; VNC uses them like any other */
    des_fix_parity(DES_KEY_SIZE, key, key);
    des_set_key(&ctx, key);
    des_encrypt(&ctx, 16, response, challenge);
}
