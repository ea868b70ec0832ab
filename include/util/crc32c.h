/*
 * CRC-32C (Castagnoli), the migration stream's checksum: SSE4.2's crc32
 * instruction eight bytes at a time where the host has it, a table
 * otherwise; both give the same value.
 */
#ifndef UTIL_CRC32C_H
#define UTIL_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over n bytes. */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

/* The same without the instruction, whatever the host has (for tests). */
uint32_t crc32c_soft(uint32_t crc, const void *data, size_t n);

#endif
