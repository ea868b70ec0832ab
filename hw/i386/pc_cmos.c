/*
 * The CMOS RAM contents the PC's BIOS reads (IBM PC/AT CMOS map, with the
 * Bochs/QEMU extensions SeaBIOS knows): memory sizes, CPU count, the
 * equipment byte and the boot order.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/rtc/mc146818rtc.h"
#include "util/opts.h"

#define CMOS_FLOPPY_TYPES       0x10
#define CMOS_EQUIPMENT          0x14
#define CMOS_BASE_MEM_LO        0x15    /* KiB below 1 MiB */
#define CMOS_BASE_MEM_HI        0x16
#define CMOS_EXT_MEM_LO         0x17    /* KiB above 1 MiB, at most 0xffff */
#define CMOS_EXT_MEM_HI         0x18
#define CMOS_EXT_MEM2_LO        0x30    /* the same, as POST found it */
#define CMOS_EXT_MEM2_HI        0x31
#define CMOS_MEM_ABOVE_16M_LO   0x34    /* 64 KiB units above 16 MiB */
#define CMOS_MEM_ABOVE_16M_HI   0x35
#define CMOS_BOOT_FLOPPY_3RD    0x38    /* bits 7:4 third device, bit 0 */
#define CMOS_BOOT_1ST_2ND       0x3d    /* bits 3:0 first, 7:4 second */
#define CMOS_MEM_ABOVE_4G       0x5b    /* 3 bytes, 64 KiB units */
#define CMOS_NB_CPUS            0x5f    /* vCPUs - 1 */

/* equipment byte (INT 11h's low byte) */
#define EQUIP_FLOPPY            0x01
#define EQUIP_FPU               0x02
#define EQUIP_PS2_MOUSE         0x04
/* bits 5:4 = 00: EGA/VGA with its own BIOS */

#define PC_MAX_BOOT_DEVICES     3

#define KiB 1024ULL
#define MiB (1024 * KiB)

/* SeaBIOS's boot device codes: floppy 1, disk 2, CD-ROM 3, network 4. */
static int boot_device_code(char c)
{
    switch (c) {
    case 'a':
    case 'b':
        return 1;
    case 'c':
        return 2;
    case 'd':
        return 3;
    case 'n':
        return 4;
    }
    return 0;
}

static bool cmos_set_boot_order(Device *rtc, const char *order,
                                GError **errp)
{
    int codes[PC_MAX_BOOT_DEVICES] = { 0 };
    size_t n = strlen(order);

    if (n > PC_MAX_BOOT_DEVICES) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-boot order=%s: too many boot devices for PC (at most "
                    "%d)", order, PC_MAX_BOOT_DEVICES);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        codes[i] = boot_device_code(order[i]);
        if (!codes[i]) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "-boot order=%s: invalid boot device for PC: '%c'",
                        order, order[i]);
            return false;
        }
    }
    mc146818_rtc_set_cmos_data(rtc, CMOS_BOOT_1ST_2ND,
                               codes[1] << 4 | codes[0]);
    /* bit 0 clear: the BIOS checks the boot sector's 0xaa55 signature */
    mc146818_rtc_set_cmos_data(rtc, CMOS_BOOT_FLOPPY_3RD, codes[2] << 4);
    return true;
}

static void cmos_set16(Device *rtc, unsigned lo, uint64_t val)
{
    mc146818_rtc_set_cmos_data(rtc, lo, val);
    mc146818_rtc_set_cmos_data(rtc, lo + 1, val >> 8);
}

bool pc_cmos_init(Machine *m, GError **errp)
{
    Device *rtc = mc146818_rtc_find(m);
    uint64_t below = m->below_4g_mem_size, val;

    if (!rtc) {
        return true;
    }
    cmos_set16(rtc, CMOS_BASE_MEM_LO, 640);

    val = below / KiB;
    val = val < 1024 ? 0 : MIN(val - 1024, 0xffff);
    cmos_set16(rtc, CMOS_EXT_MEM_LO, val);
    cmos_set16(rtc, CMOS_EXT_MEM2_LO, val);

    val = below > 16 * MiB ? MIN((below - 16 * MiB) / (64 * KiB), 0xffff) : 0;
    cmos_set16(rtc, CMOS_MEM_ABOVE_16M_LO, val);

    val = m->above_4g_mem_size / (64 * KiB);
    mc146818_rtc_set_cmos_data(rtc, CMOS_MEM_ABOVE_4G, val);
    mc146818_rtc_set_cmos_data(rtc, CMOS_MEM_ABOVE_4G + 1, val >> 8);
    mc146818_rtc_set_cmos_data(rtc, CMOS_MEM_ABOVE_4G + 2, val >> 16);

    mc146818_rtc_set_cmos_data(rtc, CMOS_NB_CPUS, m->cfg.smp_cpus - 1);
    /* no floppy drives: Vireo has no floppy controller */
    mc146818_rtc_set_cmos_data(rtc, CMOS_FLOPPY_TYPES, 0);
    mc146818_rtc_set_cmos_data(rtc, CMOS_EQUIPMENT,
                               EQUIP_FPU | EQUIP_PS2_MOUSE);
    return cmos_set_boot_order(rtc, m->cfg.boot_order ? m->cfg.boot_order
                                                      : "cad", errp);
}
