/*
 * ACPI fixed-hardware PM registers of a legacy PC (ACPI 6.x section 4.8):
 * PM1a event block (PM1_STS/PM1_EN), PM1a control block, the 24-bit 3.579545
 * MHz PM timer, and the 0xCF9 reset control register the FADT's RESET_REG
 * names. ACPI mode is always on (no SMI_CMD), so SCI_EN reads as 1.
 *
 * With ich9=on it is the ICH9's PM I/O block (ICH9 datasheet 13.8.3): the
 * same PM1 registers plus GPE0_STS/GPE0_EN at +0x20 and SMI_EN at +0x30,
 * placed by the LPC bridge's PMBASE and ACPI_EN (acpi_pm_set_base).
 */
#include <string.h>
#include <time.h>

#include "hw/device.h"
#include "hw/i386/acpi.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "util/opts.h"

/* Table 4.16: PM1 status bits; the enable register uses the same layout. */
#define PM1_TMR_STS (1u << 0)
#define PM1_BM_STS (1u << 4)
#define PM1_GBL_STS (1u << 5)
#define PM1_PWRBTN_STS (1u << 8)
#define PM1_SLPBTN_STS (1u << 9)
#define PM1_RTC_STS (1u << 10)
#define PM1_WAK_STS (1u << 15)
/* Status bits that have an enable bit and so may raise the SCI. */
#define PM1_SCI_SOURCES                                                        \
    (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS)

/* Table 4.18: PM1 control bits */
#define PM1_CNT_SCI_EN (1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN (1u << 13) /* write-only */

/* Section 4.8.3.3: the PM timer runs at 3.579545 MHz. */
#define PM_TIMER_FREQ 3579545ULL
#define PM_TIMER_MASK 0xffffffu
#define PM_TIMER_MSB (1u << 23)

/* PIIX/ICH reset control register at 0xCF9 */
#define RCR_SYS_RST (1u << 1)
#define RCR_RST_CPU (1u << 2)
#define RCR_FULL_RST (1u << 3)

/* ICH9 13.8.3: GPE0 and SMI_EN offsets in the PM I/O block */
#define ICH9_GPE0_OFFSET 0x20
#define ICH9_GPE0_LEN 16    /* GPE0_STS (8 bytes), then GPE0_EN (8 bytes) */
#define ICH9_SMI_EN_OFFSET 0x30
/*
 * APMC_EN set says "SMM is already set up" to SeaBIOS, which then leaves
 * SMM alone: Vireo has no SMM, so the bit reads as set and is fixed.
 */
#define ICH9_SMI_EN_APMC_EN (1u << 5)

typedef struct AcpiPMState {
    Device parent;
    uint32_t iobase;
    bool reset_control;
    bool ich9;

    Machine *m;
    bool mapped;
    MemoryRegion evt, cnt, tmr, rcr, gpe0, smi_en;
    uint8_t gpe0_sts[ICH9_GPE0_LEN / 2];
    uint8_t gpe0_en[ICH9_GPE0_LEN / 2];
    uint32_t smi_en_val;
    uint16_t pm1_sts;
    uint16_t pm1_en;
    uint16_t pm1_cnt;
    uint8_t rcr_val;
    uint64_t tmr_seen; /* timer ticks at the last PM1_STS update */
    bool sci_level;
} AcpiPMState;

static DeviceClass acpi_pm_class;

static uint64_t pm_timer_ticks(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * PM_TIMER_FREQ +
           (uint64_t)ts.tv_nsec * PM_TIMER_FREQ / 1000000000ULL;
}

/*
 * TMR_STS is set whenever bit 23 of the timer changes. Without a timer
 * callback it is computed when the status is read, so a guest that polls
 * sees it; TMR_EN gets no interrupt of its own (Linux does not use it).
 */
static void pm_timer_update_status(AcpiPMState *s)
{
    uint64_t now = pm_timer_ticks();

    if ((now ^ s->tmr_seen) & ~(uint64_t)(PM_TIMER_MSB - 1)) {
        s->pm1_sts |= PM1_TMR_STS;
    }
    s->tmr_seen = now;
}

static void pm_update_sci(AcpiPMState *s)
{
    bool level = (s->pm1_sts & s->pm1_en & PM1_SCI_SOURCES) != 0;

    if (level != s->sci_level) {
        s->sci_level = level;
        irq_set(&s->m->gsi[ACPI_SCI_IRQ], level);
    }
}

static uint64_t lanes(uint32_t reg, hwaddr addr, unsigned size)
{
    if (addr >= 4) {
        return 0;
    }
    uint64_t v = reg >> (addr * 8);
    return size >= 4 ? v : v & ((1ULL << (size * 8)) - 1);
}

/* PM1_STS at +0 and PM1_EN at +2, accessed in any width. */
static uint64_t pm1_evt_read(void *opaque, hwaddr addr, unsigned size)
{
    AcpiPMState *s = opaque;

    if (addr < 2) {
        pm_timer_update_status(s);
    }
    return lanes(s->pm1_sts | (uint32_t)s->pm1_en << 16, addr, size);
}

static void pm1_evt_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
    AcpiPMState *s = opaque;

    for (unsigned i = 0; i < size && addr + i < 4; i++) {
        uint16_t byte = (val >> (i * 8)) & 0xff;
        unsigned lane = addr + i;
        if (lane < 2) {
            /* status bits are cleared by writing 1 */
            s->pm1_sts &= ~(byte << (lane * 8));
        } else {
            unsigned sh = (lane - 2) * 8;
            s->pm1_en = (s->pm1_en & ~(0xff << sh)) | byte << sh;
        }
    }
    pm_update_sci(s);
}

static uint64_t pm1_cnt_read(void *opaque, hwaddr addr, unsigned size)
{
    AcpiPMState *s = opaque;

    return lanes(s->pm1_cnt | PM1_CNT_SCI_EN, addr, size);
}

static void pm1_cnt_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
    AcpiPMState *s = opaque;
    uint16_t cnt = s->pm1_cnt;

    for (unsigned i = 0; i < size && addr + i < 2; i++) {
        unsigned sh = (addr + i) * 8;
        cnt = (cnt & ~(0xff << sh)) | ((val >> (i * 8)) & 0xff) << sh;
    }
    if (cnt & PM1_CNT_SLP_EN) {
        unsigned typ = (cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;
        /* Only S5 is offered (\_S5_ in the DSDT); other states are no-ops. */
        if (typ == ACPI_S5_SLP_TYP) {
            vm_request_shutdown(SHUTDOWN_GUEST_POWEROFF, 0);
        }
    }
    s->pm1_cnt = (cnt & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN;
}

static uint64_t pm_tmr_read(void *opaque, hwaddr addr, unsigned size)
{
    return lanes(pm_timer_ticks() & PM_TIMER_MASK, addr, size);
}

static uint64_t rcr_read(void *opaque, hwaddr addr, unsigned size)
{
    AcpiPMState *s = opaque;

    return s->rcr_val;
}

static void rcr_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    AcpiPMState *s = opaque;

    /* RST_CPU starts a reset; SYS_RST and FULL_RST only say how hard. */
    s->rcr_val = val & (RCR_SYS_RST | RCR_FULL_RST);
    if (val & RCR_RST_CPU) {
        vm_request_reset(SHUTDOWN_GUEST_RESET);
    }
}

static const MemoryRegionOps pm1_evt_ops = {
    .read = pm1_evt_read,
    .write = pm1_evt_write,
    .impl_min = 1,
    .impl_max = 4,
};

static const MemoryRegionOps pm1_cnt_ops = {
    .read = pm1_cnt_read,
    .write = pm1_cnt_write,
    .impl_min = 1,
    .impl_max = 2,
};

static const MemoryRegionOps pm_tmr_ops = {
    .read = pm_tmr_read,
    .impl_min = 1,
    .impl_max = 4,
};

static const MemoryRegionOps rcr_ops = {
    .read = rcr_read,
    .write = rcr_write,
    .impl_min = 1,
    .impl_max = 1,
};

/* GPE0: status bits are write-1-to-clear; nothing here raises them yet. */
static uint64_t gpe0_read(void *opaque, hwaddr addr, unsigned size)
{
    AcpiPMState *s = opaque;
    uint64_t v = 0;

    for (unsigned i = 0; i < size && addr + i < ICH9_GPE0_LEN; i++) {
        unsigned a = addr + i, half = ICH9_GPE0_LEN / 2;
        uint8_t b = a < half ? s->gpe0_sts[a] : s->gpe0_en[a - half];
        v |= (uint64_t)b << (i * 8);
    }
    return v;
}

static void gpe0_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    AcpiPMState *s = opaque;

    for (unsigned i = 0; i < size && addr + i < ICH9_GPE0_LEN; i++) {
        unsigned a = addr + i, half = ICH9_GPE0_LEN / 2;
        uint8_t b = val >> (i * 8);
        if (a < half) {
            s->gpe0_sts[a] &= ~b;
        } else {
            s->gpe0_en[a - half] = b;
        }
    }
}

static uint64_t smi_en_read(void *opaque, hwaddr addr, unsigned size)
{
    AcpiPMState *s = opaque;

    return lanes(s->smi_en_val | ICH9_SMI_EN_APMC_EN, addr, size);
}

static void smi_en_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    AcpiPMState *s = opaque;

    for (unsigned i = 0; i < size && addr + i < 4; i++) {
        unsigned sh = (addr + i) * 8;
        s->smi_en_val = (s->smi_en_val & ~(0xffu << sh)) |
                        ((val >> (i * 8)) & 0xff) << sh;
    }
    s->smi_en_val |= ICH9_SMI_EN_APMC_EN;
}

static const MemoryRegionOps gpe0_ops = {
    .read = gpe0_read,
    .write = gpe0_write,
    .impl_min = 1,
    .impl_max = 4,
};

static const MemoryRegionOps smi_en_ops = {
    .read = smi_en_read,
    .write = smi_en_write,
    .impl_min = 1,
    .impl_max = 4,
};

static void pm_map(AcpiPMState *s, bool on)
{
    if (s->mapped == on) {
        return;
    }
    s->mapped = on;
    memory_transaction_begin();
    if (on) {
        memory_region_add_subregion(s->m->io, s->iobase, &s->evt);
        memory_region_add_subregion(s->m->io, s->iobase + 4, &s->cnt);
        memory_region_add_subregion(s->m->io, s->iobase + 8, &s->tmr);
        if (s->ich9) {
            memory_region_add_subregion(s->m->io, s->iobase +
                                        ICH9_GPE0_OFFSET, &s->gpe0);
            memory_region_add_subregion(s->m->io, s->iobase +
                                        ICH9_SMI_EN_OFFSET, &s->smi_en);
        }
    } else {
        memory_region_del_subregion(s->m->io, &s->evt);
        memory_region_del_subregion(s->m->io, &s->cnt);
        memory_region_del_subregion(s->m->io, &s->tmr);
        if (s->ich9) {
            memory_region_del_subregion(s->m->io, &s->gpe0);
            memory_region_del_subregion(s->m->io, &s->smi_en);
        }
    }
    memory_transaction_commit();
}

/* The block's size: the ICH9 decodes 128 bytes at PMBASE. */
static uint32_t pm_block_size(AcpiPMState *s)
{
    return s->ich9 ? 0x80 : 12;
}

void acpi_pm_set_base(Device *dev, uint32_t base, bool enabled)
{
    AcpiPMState *s = (AcpiPMState *)dev;

    if (base > 0x10000 - pm_block_size(s)) {
        enabled = false;
    }
    if (s->mapped && (!enabled || base != s->iobase)) {
        pm_map(s, false);
    }
    if (enabled) {
        s->iobase = base;
        pm_map(s, true);
    }
}

static void acpi_pm_reset(Device *dev)
{
    AcpiPMState *s = (AcpiPMState *)dev;

    s->pm1_sts = 0;
    s->pm1_en = 0;
    s->pm1_cnt = PM1_CNT_SCI_EN;
    s->rcr_val = 0;
    memset(s->gpe0_sts, 0, sizeof(s->gpe0_sts));
    memset(s->gpe0_en, 0, sizeof(s->gpe0_en));
    s->smi_en_val = ICH9_SMI_EN_APMC_EN;
    s->tmr_seen = pm_timer_ticks();
    pm_update_sci(s);
}

static bool acpi_pm_realize(Device *dev, Machine *m, GError **errp)
{
    AcpiPMState *s = (AcpiPMState *)dev;

    if (s->iobase > 0x10000 - pm_block_size(s)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "acpi-pm: iobase 0x%x leaves no room for the %u-byte "
                    "register block",
                    s->iobase, pm_block_size(s));
        return false;
    }
    s->m = m;
    memory_region_init_io(&s->evt, "acpi-pm-evt", &pm1_evt_ops, s, 4);
    memory_region_init_io(&s->cnt, "acpi-pm-cnt", &pm1_cnt_ops, s, 2);
    memory_region_init_io(&s->tmr, "acpi-pm-tmr", &pm_tmr_ops, s, 4);
    if (s->ich9) {
        memory_region_init_io(&s->gpe0, "acpi-pm-gpe0", &gpe0_ops, s,
                              ICH9_GPE0_LEN);
        memory_region_init_io(&s->smi_en, "acpi-pm-smi-en", &smi_en_ops, s,
                              4);
    } else {
        /* the ICH9's block stays unmapped until the LPC enables it */
        pm_map(s, true);
    }
    if (s->reset_control) {
        /*
         * 0xCF9 sits inside the PCI host's 0xCF8-0xCFF window on real
         * chipsets; a higher priority gives us just this byte.
         */
        memory_region_init_io(&s->rcr, "reset-control", &rcr_ops, s, 1);
        memory_region_add_subregion_overlap(m->io, ACPI_RESET_PORT, &s->rcr, 1);
    }
    acpi_pm_reset(dev);
    return true;
}

static void acpi_pm_unrealize(Device *dev)
{
    AcpiPMState *s = (AcpiPMState *)dev;

    pm_map(s, false);
    memory_region_destroy(&s->evt);
    memory_region_destroy(&s->cnt);
    memory_region_destroy(&s->tmr);
    if (s->ich9) {
        memory_region_destroy(&s->gpe0);
        memory_region_destroy(&s->smi_en);
    }
    if (s->reset_control) {
        memory_region_del_subregion(s->m->io, &s->rcr);
        memory_region_destroy(&s->rcr);
    }
}

bool acpi_pm_power_button(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls == &acpi_pm_class) {
            AcpiPMState *s = (AcpiPMState *)d;
            s->pm1_sts |= PM1_PWRBTN_STS;
            pm_update_sci(s);
            return true;
        }
    }
    return false;
}

/* ---- migration ---- */

#define PM1_STS_BITS (PM1_SCI_SOURCES | PM1_BM_STS | PM1_WAK_STS)

/*
 * The PM timer follows the host clock, so there is nothing of it to save;
 * TMR_STS is computed from now on.
 */
static bool acpi_pm_post_load(void *opaque, int version_id, GError **errp)
{
    AcpiPMState *s = opaque;

    if ((s->pm1_sts & ~PM1_STS_BITS) ||
        (s->pm1_cnt & PM1_CNT_SLP_EN) || !(s->pm1_cnt & PM1_CNT_SCI_EN) ||
        (s->rcr_val & ~(RCR_SYS_RST | RCR_FULL_RST))) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "PM1_STS 0x%04x, PM1_CNT 0x%04x or reset control 0x%02x "
                    "holds bits the registers cannot", s->pm1_sts,
                    s->pm1_cnt, s->rcr_val);
        return false;
    }
    s->tmr_seen = pm_timer_ticks();
    pm_update_sci(s);
    return true;
}

static const VMStateField acpi_pm_fields[] = {
    VMSTATE_UINT16(pm1_sts, AcpiPMState),
    VMSTATE_UINT16(pm1_en, AcpiPMState),
    VMSTATE_UINT16(pm1_cnt, AcpiPMState),
    VMSTATE_UINT8(rcr_val, AcpiPMState),
    VMSTATE_END_OF_LIST(),
};

static bool acpi_pm_ich9_needed(void *opaque)
{
    return ((AcpiPMState *)opaque)->ich9;
}

static const VMStateField acpi_pm_ich9_fields[] = {
    VMSTATE_UINT8_ARRAY(gpe0_sts, AcpiPMState),
    VMSTATE_UINT8_ARRAY(gpe0_en, AcpiPMState),
    VMSTATE_UINT32(smi_en_val, AcpiPMState),
    VMSTATE_END_OF_LIST(),
};

/* The ICH9 block's own registers; where it is mapped is the LPC's state. */
static const VMStateDescription vmstate_acpi_pm_ich9 = {
    .name = "acpi-pm/ich9",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = acpi_pm_ich9_needed,
    .fields = acpi_pm_ich9_fields,
};

static const VMStateDescription *const acpi_pm_subsections[] = {
    &vmstate_acpi_pm_ich9,
    NULL,
};

static const VMStateDescription vmstate_acpi_pm = {
    .name = "acpi-pm",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = acpi_pm_fields,
    .post_load = acpi_pm_post_load,
    .subsections = acpi_pm_subsections,
};

static const Property acpi_pm_props[] = {
    PROP_U32("iobase", AcpiPMState, iobase, X86_ACPI_PM_BASE,
             "I/O base of PM1a_EVT (PM1a_CNT at +4, PM_TMR at +8)"),
    PROP_BOOL("reset-control", AcpiPMState, reset_control, true,
              "decode the 0xCF9 reset control register"),
    PROP_BOOL("ich9", AcpiPMState, ich9, false,
              "ICH9 layout (GPE0, SMI_EN), placed by the LPC's PMBASE"),
    PROP_END,
};

static DeviceClass acpi_pm_class = {
    .name = "acpi-pm",
    .desc = "ACPI PM1 event/control registers, PM timer and 0xCF9 reset",
    .bus = "isa",
    .instance_size = sizeof(AcpiPMState),
    .props = acpi_pm_props,
    .user_creatable = false,
    .realize = acpi_pm_realize,
    .reset = acpi_pm_reset,
    .unrealize = acpi_pm_unrealize,
    .vmsd = &vmstate_acpi_pm,
};
DEVICE_REGISTER(acpi_pm_class)
