/*
 * The PC's MC146818 RTC/CMOS (hw/rtc/mc146818rtc.c): -rtc configuration,
 * CMOS RAM access for boards, and the CMOS contents the PC's firmware
 * reads (hw/i386/pc_cmos.c).
 */
#ifndef HW_RTC_MC146818RTC_H
#define HW_RTC_MC146818RTC_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"

#define RTC_ISA_IRQ         8
#define RTC_ISA_BASE        0x70
#define RTC_CMOS_SIZE       256     /* 0x70/0x71: 0-0x7f; 0x72/0x73: all */
#define RTC_CENTURY_REG     0x32    /* as the FADT's CENTURY field says */

/* -rtc base= */
typedef enum RtcBase {
    RTC_BASE_UTC,
    RTC_BASE_LOCALTIME,
    RTC_BASE_DATETIME,      /* base=2006-06-17T16:01:21 (UTC) */
} RtcBase;

/* -rtc clock=: what the RTC counts with */
typedef enum RtcClock {
    RTC_CLOCK_HOST,         /* host wall clock (default) */
    RTC_CLOCK_RT,           /* host monotonic clock */
    RTC_CLOCK_VM,           /* virtual clock: stops while the VM is paused */
} RtcClock;

/* -rtc base=utc|localtime|DATE,clock=host|rt|vm,driftfix=none|slew */
typedef struct RtcConfig {
    RtcBase base;
    int64_t base_datetime;  /* base=DATE: seconds since 1970-01-01 UTC */
    RtcClock clock;
    bool driftfix_slew;     /* accepted; Vireo never loses ticks to slew */
} RtcConfig;

/* Parses -rtc's argument into cfg; errors say what is wrong. */
bool rtc_config_parse(const char *arg, RtcConfig *cfg, GError **errp);

/* The machine's "mc146818rtc", or NULL. */
Device *mc146818_rtc_find(Machine *m);
/*
 * CMOS RAM as boards fill it (index 0-0xff): a plain store, no side
 * effects; the clock registers 0x00-0x0d are not for boards.
 */
void mc146818_rtc_set_cmos_data(Device *rtc, unsigned index, uint8_t val);
uint8_t mc146818_rtc_get_cmos_data(Device *rtc, unsigned index);

/*
 * The CMOS bytes SeaBIOS reads on pc: memory sizes, CPU count, equipment
 * byte, boot order (m->cfg.boot_order, "cad" when NULL). Fails on a boot
 * order the PC's CMOS can't hold. Does nothing without an RTC.
 */
bool pc_cmos_init(Machine *m, GError **errp);

#endif
