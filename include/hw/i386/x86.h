/* The PC-family machine as devices and loaders see it. */
#ifndef HW_I386_X86_H
#define HW_I386_X86_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "hw/irq.h"
#include "hw/rtc/mc146818rtc.h"
#include "system/accel.h"
#include "system/cpu.h"
#include "system/memory.h"

#define X86_IOAPIC_BASE     0xfec00000ULL
#define X86_LAPIC_BASE      0xfee00000ULL
#define X86_NUM_GSI         24
/* RAM above this goes above 4 GiB; the hole holds MMIO, APICs, firmware. */
#define X86_PC_BELOW_4G_MAX     0xc0000000ULL   /* 3 GiB, as QEMU's pc */
#define X86_MICROVM_BELOW_4G_MAX 0xc0000000ULL
#define X86_ACPI_PM_BASE    0x600   /* PM1a_EVT 0x600, PM1a_CNT 0x604, TMR 0x608 */

typedef struct MachineClass MachineClass;

typedef enum E820Type {
    E820_RAM = 1,
    E820_RESERVED = 2,
    E820_ACPI = 3,
    E820_NVS = 4,
} E820Type;

typedef struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed)) E820Entry;

/* -machine kernel-irqchip=: whose interrupt controllers KVM uses. */
typedef enum KernelIrqchip {
    KERNEL_IRQCHIP_ON,      /* KVM's LAPICs, IOAPIC, 8259s and PIT */
    KERNEL_IRQCHIP_SPLIT,   /* KVM's LAPICs; Vireo's IOAPIC, 8259s, PIT */
    KERNEL_IRQCHIP_OFF,     /* all of them Vireo's (hw/intc, hw/timer) */
} KernelIrqchip;

/* A -machine option that is on, off, or up to the machine (QEMU's). */
typedef enum OnOffAuto {
    ON_OFF_AUTO_AUTO,
    ON_OFF_AUTO_ON,
    ON_OFF_AUTO_OFF,
} OnOffAuto;

/* Everything the command line said about the machine to build. */
typedef struct MachineConfig {
    const char *machine_type;   /* "pc", "microvm" */
    const char *accel;          /* "kvm" */
    const char *cpu_model;      /* "host" */
    uint64_t ram_size;
    int smp_cpus;
    int smp_max_cpus;
    int sockets, cores, threads;
    const char *kernel;
    const char *bios;           /* -bios, or NULL: the board's default */
    const char *initrd;         /* multiboot: comma-separated modules */
    const char *append;
    bool acpi;                  /* -machine acpi=on|off */
    KernelIrqchip kernel_irqchip; /* KVM only; the software CPU ignores it */
    /* Vireo decompresses a bzImage on the host (auto: under the software
     * CPU, if it reads the payload's format; hw/i386/linux_unpack.c) */
    OnOffAuto kernel_decompress;
    /* microvm's MC146818 RTC (auto: unless KVM, as QEMU's microvm) */
    OnOffAuto microvm_rtc;
    const char *serial[4];      /* chardev ids of COM1-4, NULL: absent */
    const char *debugcon;       /* chardev id for port 0xe9, or NULL */
    GPtrArray *devices;         /* -device option strings */
    bool nodefaults;
    const char *vga;            /* -vga std|none, NULL: the board's default */
    const char *name;           /* -name, or NULL */
    const char *uuid;           /* -uuid, canonical form, or NULL */
    /* -boot (hw/i386/pc_fw_cfg.c, the RTC's CMOS boot order) */
    const char *boot_order;     /* drive letters a-p; NULL: "cad" */
    const char *boot_once;      /* once=: order for the first boot, or NULL */
    bool boot_menu;
    int boot_splash_time;       /* ms; -1: not given */
    const char *boot_splash;    /* splash=FILE (jpg/bmp), or NULL */
    int boot_reboot_timeout;    /* ms; -1: never (the default) */
    bool boot_strict;
    GPtrArray *smbios;          /* -smbios option strings, validated */
    GPtrArray *fw_cfg_files;    /* -fw_cfg option strings, validated */
    bool no_hpet;               /* -no-hpet or -machine hpet=off */
    bool nographic;             /* -nographic (FW_CFG_NOGRAPHIC) */
    RtcConfig rtc;              /* -rtc (hw/rtc/mc146818rtc.c) */
    int panic_action;           /* -action panic=: a PanicAction (pvpanic) */
} MachineConfig;

struct Machine {
    const MachineClass *cls;
    MachineConfig cfg;
    const AccelOps *accel;
    void *accel_state;
    /* Vireo's own LAPIC/IOAPIC/8259/8254 instead of KVM's (hw/intc). */
    bool userspace_irqchip;
    /* qtest: no guest code runs, so boards need nothing to boot. */
    bool no_guest;
    /*
     * With userspace_irqchip, when the LAPICs are the accelerator's after
     * all (KVM's kernel-irqchip=split): Vireo makes no LAPICs, and its
     * IOAPIC and the MSI window hand their messages, as an MSI address and
     * data, to this hook. ioapic_pin is the IOAPIC input the message comes
     * from, or -1 for an MSI. Returns whether a LAPIC accepted it.
     */
    bool (*kernel_lapic_msi)(Machine *m, int ioapic_pin, uint64_t addr,
                             uint32_t data);

    MemoryRegion *sysmem;       /* root of the system address space */
    MemoryRegion *io;           /* root of the I/O port space */
    AddressSpace as_mem;
    AddressSpace as_io;
    MemoryRegion ram;           /* all guest RAM, one block */
    MemoryRegion ram_below_4g;  /* aliases into it */
    MemoryRegion ram_above_4g;
    uint64_t below_4g_mem_size;
    uint64_t above_4g_mem_size;
    /* The firmware image (x86_bios_init) or the container of the pflash
     * units (x86_firmware_init); NULL with direct kernel boot. */
    MemoryRegion *bios;
    MemoryRegion *isa_bios;     /* its last 128 KiB below 1 MiB */

    int ncpus;
    CPUState **cpus;
    BootState boot;

    IRQLine gsi[X86_NUM_GSI];   /* device interrupt lines end here */
    /*
     * The 8254's enable input (Vireo's or KVM's): the HPET lowers it while
     * its legacy route has IRQ 0, and the 8254 stops its interrupts and
     * its host timer (KVM_PIT_FLAGS_HPET_LEGACY in KVM).
     */
    IRQLine pit_enable;
    GArray *e820;               /* of E820Entry, built by the board */
    /* Guest address of the ACPI RSDP once x86_acpi_build ran, else 0. */
    uint64_t acpi_rsdp_addr;
    /* Blobs written to guest memory at every reset (loaders). */
    GPtrArray *rom_blobs;
    Device *devices;
    /* Of BootDevice, in the order added: what bootindex= properties said. */
    GArray *boot_devices;
    /* The firmware configuration device (hw/nvram/fw_cfg.c), or NULL. */
    struct FWCfgState *fw_cfg;
};

/* A bootable device as firmware names it (fw_cfg "bootorder"). */
typedef struct BootDevice {
    int32_t bootindex;
    char *of_path;      /* Open Firmware path: "/pci@i0cf8/ide@1,1/drive@1/disk@0" */
} BootDevice;

struct MachineClass {
    const char *name;
    const char *alias;          /* another name -M accepts, or NULL */
    const char *desc;
    bool is_default;
    int max_cpus;               /* 0: 255, as QEMU's pc */
    bool no_cpus;               /* "none": a machine to probe with QMP */
    /* Suffix of its virtio device types: "-device" (mmio), NULL "-pci". */
    const char *virtio_suffix;
    /* With no network options: an e1000 on user networking, as QEMU's pc. */
    bool default_nic;
    /* Units a -drive if=ide bus has; 0: 2 (PATA), 1 on AHCI ports (q35). */
    int ide_units_per_bus;
    /* Builds memory, devices and boot state; cfg is already validated. */
    bool (*init)(Machine *m, GError **errp);
    /* Optional: once -device devices exist too (tables that list them). */
    bool (*devices_done)(Machine *m, GError **errp);
    const MachineClass *next;   /* registry link */
};

#define MACHINE_REGISTER(cls)                                           \
    static void __attribute__((constructor)) register_##cls(void)       \
    {                                                                   \
        machine_class_register(&cls);                                   \
    }

void machine_class_register(MachineClass *cls);
const MachineClass *machine_class_find(const char *name);
/* The registered machine types, for query-machines. */
const MachineClass *machine_class_first(void);
uint32_t machine_apic_id(const MachineConfig *cfg, int index);
void machine_class_print_help(void);

/* Queues a blob to be copied to guest address addr now and at every reset. */
void machine_add_rom_blob(Machine *m, const char *name, hwaddr addr,
                          const void *data, size_t len);
/*
 * Writes guest memory from a smaller source (the kernel Vireo decompresses
 * from its bzImage), so that the image itself is never held. Returns false
 * with errp set.
 */
typedef bool (*RomLoader)(AddressSpace *as, const uint8_t *src,
                          size_t src_len, uint64_t arg, GError **errp);
/* Runs loader now and at every reset, with a copy of src it keeps. */
bool machine_add_rom_loader(Machine *m, const char *name, const void *src,
                            size_t src_len, RomLoader loader, uint64_t arg,
                            GError **errp);
void machine_load_rom_blobs(Machine *m);
void machine_e820_add(Machine *m, uint64_t addr, uint64_t size, uint32_t type);
/*
 * A device with a bootindex= property registers itself at realize (index
 * < 0: none given, nothing happens); a second device with the same index
 * is an error, as in QEMU.
 */
bool machine_add_boot_device(Machine *m, int32_t bootindex,
                             const char *of_path, GError **errp);

/* Common board pieces (hw/i386/x86.c). */
bool x86_init_ram(Machine *m, uint64_t below_4g_max, GError **errp);
/*
 * Serial ports, debugcon and reset ports, and as flags ask: X86_ISA_PC the
 * i8042, the RTC with its CMOS contents (pc_cmos_init) and the HPET;
 * X86_ISA_ACPI_PM the fixed ACPI PM block (with ACPI on; q35's ICH9 LPC
 * makes its own).
 */
enum { X86_ISA_PC = 1, X86_ISA_ACPI_PM = 2 };
bool x86_create_isa_devices(Machine *m, unsigned flags, GError **errp);
/* Creates and realizes a built-in device with "key=value" properties. */
Device *x86_create_device(Machine *m, const char *type, GError **errp, ...)
    G_GNUC_NULL_TERMINATED;

/*
 * Maps the BIOS image (-bios, else default_name, found by firmware_find)
 * below 4 GiB and its last 128 KiB at 0xE0000; sets m->bios.
 */
bool x86_bios_init(Machine *m, const char *default_name, GError **errp);
/*
 * The board's firmware: the -drive if=pflash units as flash (unit 0 ending
 * at 4 GiB, unit 1 below it) if given, else x86_bios_init. Sets m->bios
 * (the image, or the flash container) and m->isa_bios.
 */
bool x86_firmware_init(Machine *m, const char *default_bios, GError **errp);
/* Whether the command line names firmware (-bios or pflash unit 0). */
bool x86_firmware_given(Machine *m);

/* Direct kernel boot (hw/i386/x86_boot.c): picks Linux or multiboot. */
bool x86_load_kernel(Machine *m, GError **errp);
/* ACPI tables for direct boot (hw/i386/acpi_build.c). */
bool x86_acpi_build(Machine *m, GError **errp);

#endif
