/*
 * Parallel NOR flash with the Intel/Sharp command set (CFI command set
 * 0x0001, "pflash_cfi01"): what boards need to map one.
 */
#ifndef HW_BLOCK_FLASH_H
#define HW_BLOCK_FLASH_H

#include "hw/device.h"
#include "system/memory.h"

#define TYPE_PFLASH_CFI01 "cfi.pflash01"
/* Erase block size of the PC's flash, as QEMU's x86 machines use. */
#define PFLASH_CFI01_SECTOR_SIZE 4096

/*
 * The flash's memory region (its whole array, guest-addressed from 0),
 * for the board to place in the address space; the device owns it.
 */
MemoryRegion *pflash_cfi01_get_memory(Device *dev);

#endif
