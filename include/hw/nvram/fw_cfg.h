/*
 * The QEMU firmware configuration device (fw_cfg), as QEMU's
 * docs/specs/fw_cfg.rst describes it: the interface boards use to hand
 * items and named files to the firmware (SeaBIOS, OVMF).
 */
#ifndef HW_NVRAM_FW_CFG_H
#define HW_NVRAM_FW_CFG_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Machine Machine;
typedef struct FWCfgState FWCfgState;

/* fw_cfg.rst "Selector Register" and "Firmware Configuration Items" */
#define FW_CFG_SIGNATURE        0x00
#define FW_CFG_ID               0x01
#define FW_CFG_UUID             0x02
#define FW_CFG_RAM_SIZE         0x03
#define FW_CFG_NOGRAPHIC        0x04
#define FW_CFG_NB_CPUS          0x05
#define FW_CFG_MACHINE_ID       0x06
#define FW_CFG_KERNEL_ADDR      0x07
#define FW_CFG_KERNEL_SIZE      0x08
#define FW_CFG_KERNEL_CMDLINE   0x09
#define FW_CFG_INITRD_ADDR      0x0a
#define FW_CFG_INITRD_SIZE      0x0b
#define FW_CFG_BOOT_DEVICE      0x0c
#define FW_CFG_NUMA             0x0d
#define FW_CFG_BOOT_MENU        0x0e
#define FW_CFG_MAX_CPUS         0x0f
#define FW_CFG_KERNEL_ENTRY     0x10
#define FW_CFG_KERNEL_DATA      0x11
#define FW_CFG_INITRD_DATA      0x12
#define FW_CFG_CMDLINE_ADDR     0x13
#define FW_CFG_CMDLINE_SIZE     0x14
#define FW_CFG_CMDLINE_DATA     0x15
#define FW_CFG_SETUP_ADDR       0x16
#define FW_CFG_SETUP_SIZE       0x17
#define FW_CFG_SETUP_DATA       0x18
#define FW_CFG_FILE_DIR         0x19
#define FW_CFG_FILE_FIRST       0x20
#define FW_CFG_WRITE_CHANNEL    0x4000
#define FW_CFG_ARCH_LOCAL       0x8000
#define FW_CFG_ENTRY_MASK       (~(FW_CFG_WRITE_CHANNEL | FW_CFG_ARCH_LOCAL) & 0xffff)
#define FW_CFG_INVALID          0xffff

/* x86's arch-local items (QEMU's hw/i386 fw_cfg keys) */
#define FW_CFG_ACPI_TABLES      (FW_CFG_ARCH_LOCAL + 0)
#define FW_CFG_SMBIOS_ENTRIES   (FW_CFG_ARCH_LOCAL + 1)
#define FW_CFG_IRQ0_OVERRIDE    (FW_CFG_ARCH_LOCAL + 2)
#define FW_CFG_E820_TABLE       (FW_CFG_ARCH_LOCAL + 3)
#define FW_CFG_HPET             (FW_CFG_ARCH_LOCAL + 4)

/* FW_CFG_ID bits */
#define FW_CFG_VERSION          0x01    /* the traditional I/O interface */
#define FW_CFG_VERSION_DMA      0x02

/* The PC's ports: selector (16-bit) and data (8-bit), DMA address. */
#define FW_CFG_IO_BASE          0x510
#define FW_CFG_DMA_IO_BASE      0x514

/* DMA control word bits (fw_cfg.rst "FWCfgDmaAccess") */
#define FW_CFG_DMA_CTL_ERROR    0x01
#define FW_CFG_DMA_CTL_READ     0x02
#define FW_CFG_DMA_CTL_SKIP     0x04
#define FW_CFG_DMA_CTL_SELECT   0x08
#define FW_CFG_DMA_CTL_WRITE    0x10

/* "QEMU CFG", what a read of the DMA address register returns */
#define FW_CFG_DMA_SIGNATURE    0x51454d5520434647ULL

#define FW_CFG_MAX_FILE_PATH    56
/* Named files: keys FW_CFG_FILE_FIRST .. FW_CFG_FILE_FIRST + this - 1. */
#define FW_CFG_FILE_SLOTS       0x100

/*
 * Creates the I/O-port fw_cfg (selector 0x510, data 0x511, DMA 0x514) with
 * the signature and ID items, realizes it on m and sets m->fw_cfg.
 */
FWCfgState *fw_cfg_create_io(Machine *m, GError **errp);
/* The machine's fw_cfg, or NULL if the board has none. */
FWCfgState *fw_cfg_find(Machine *m);

/*
 * Items by key (arch-local ones with FW_CFG_ARCH_LOCAL). All of these copy
 * data; replacing an existing key frees its old contents. Integers are
 * stored little-endian, as the spec says.
 */
void fw_cfg_add_bytes(FWCfgState *s, uint16_t key, const void *data,
                      size_t len);
void fw_cfg_add_string(FWCfgState *s, uint16_t key, const char *str);
void fw_cfg_add_i16(FWCfgState *s, uint16_t key, uint16_t v);
void fw_cfg_add_i32(FWCfgState *s, uint16_t key, uint32_t v);
void fw_cfg_add_i64(FWCfgState *s, uint16_t key, uint64_t v);

/*
 * A named file, listed in FW_CFG_FILE_DIR (kept sorted by name, so the
 * keys of files may move as files are added, as in QEMU). data is copied.
 * Fails for an empty or too long (>= 56 bytes) name, a name already used
 * or when all FW_CFG_FILE_SLOTS are taken.
 */
bool fw_cfg_add_file(FWCfgState *s, const char *name, const void *data,
                     size_t len, GError **errp);
/* The same, and the guest may overwrite it with DMA write operations. */
bool fw_cfg_add_file_writable(FWCfgState *s, const char *name,
                              const void *data, size_t len, GError **errp);
/* Replaces a file's contents (adds the file if absent); data is copied. */
void fw_cfg_modify_file(FWCfgState *s, const char *name, const void *data,
                        size_t len);
/* A file's current contents and length, or NULL if there is none. */
const uint8_t *fw_cfg_get_file(FWCfgState *s, const char *name, size_t *len);
bool fw_cfg_has_file(FWCfgState *s, const char *name);

/*
 * fn runs the first time after each reset that the guest selects the file
 * name (through the selector port or a DMA select), before any of it is
 * read: for contents that depend on what firmware programmed before, as
 * QEMU rebuilds the ACPI tables once firmware placed the PM block. fn may
 * replace the file (fw_cfg_modify_file), keeping its size: firmware read
 * the size from FW_CFG_FILE_DIR before. False if there is no such file.
 */
typedef void FWCfgSelectHook(FWCfgState *s, void *opaque);
bool fw_cfg_set_file_select_hook(FWCfgState *s, const char *name,
                                 FWCfgSelectHook *fn, void *opaque);

/*
 * Called once, at the machine's first reset, when every device exists:
 * for items that depend on the devices (bootorder, ACPI, ...).
 */
void fw_cfg_set_machine_done(FWCfgState *s, void (*fn)(FWCfgState *, void *),
                             void *opaque);

/* --- the PC's files (hw/i386/pc_fw_cfg.c) --- */

/* Largest -fw_cfg file=: firmware copies files into RAM below 4 GiB. */
#define FW_CFG_USER_FILE_MAX (64u << 20)

/*
 * Creates the PC's fw_cfg with everything SeaBIOS and OVMF read: RAM size,
 * CPU counts, e820, boot menu and order, SMBIOS, user -fw_cfg files, and
 * (from the first reset on, when all devices exist) bootorder and the ACPI
 * tables with their loader script. With -kernel and a firmware image
 * (m->bios) also the kernel items (pc_fw_cfg_add_kernel).
 */
bool pc_fw_cfg_init(Machine *m, GError **errp);
/*
 * QEMU's linuxboot items for firmware to boot -kernel/-initrd/-append
 * (a Linux bzImage, boot protocol 2.02 or later): setup at 0x10000,
 * command line at 0x20000, kernel at 0x100000, the initrd at the top of
 * low RAM. A kernel that is not a bzImage gets no items.
 */
bool pc_fw_cfg_add_kernel(Machine *m, GError **errp);
/* Checks one -fw_cfg [name=]NAME,file=PATH|string=STR argument. */
bool fw_cfg_check_user_option(const char *arg, GError **errp);

#endif
