/*
 * Vireo test kernel: a tiny long-mode kernel booted by multiboot v1 or the
 * Linux boot protocol, which checks what the VMM gave it and reports on COM1.
 */
#ifndef TESTKERNEL_H
#define TESTKERNEL_H

/* GDT selectors, shared with head.S and trampoline.S */
#define KERNEL_CS32 0x08
#define KERNEL_DS 0x10
#define KERNEL_CS64 0x18

/* How we were entered (kernel_main's first argument) */
#define BOOT_MULTIBOOT 1
#define BOOT_LINUX32 2
#define BOOT_LINUX64 3

#define MAX_CPUS 64
#define MAX_MMAP 128
#define MAX_MODULES 16
#define CMDLINE_MAX 4096
#define TRAMPOLINE_BASE 0x8000

/* Interrupt vectors */
#define VEC_PIC_BASE 0x20
#define VEC_TIMER 0x40
#define VEC_SERIAL 0x41
#define VEC_SPURIOUS 0xff

#ifndef __ASSEMBLY__
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum boot_kind { BOOT_KIND_MULTIBOOT = BOOT_MULTIBOOT, BOOT_KIND_LINUX32 = BOOT_LINUX32,
                 BOOT_KIND_LINUX64 = BOOT_LINUX64 };

/* e820 / multiboot memory types */
#define E820_RAM 1

struct mem_range {
    uint64_t base, len;
    uint32_t type;
};

struct boot_module {
    uint64_t start, end;
    char cmdline[256];
};

struct bootinfo {
    enum boot_kind kind;
    char cmdline[CMDLINE_MAX];
    struct mem_range mmap[MAX_MMAP];
    int nmmap;
    struct boot_module mods[MAX_MODULES];
    int nmods;
    uint64_t rsdp;   /* from boot_params.acpi_rsdp_addr, 0 if none */
    const char *loader; /* what the loader told us about itself */
};

extern struct bootinfo boot;

/* Interrupt frame built by isr.S */
struct irq_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Port I/O, MMIO and CPU helpers */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)(uintptr_t)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
#define barrier() __asm__ volatile("" ::: "memory")

/* lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy_z(char *d, const char *s, size_t size);
bool parse_u64(const char *s, size_t len, int base, uint64_t *out);
bool parse_size(const char *s, size_t len, uint64_t *out);
uint32_t crc32(const void *buf, size_t len);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t deadline_after_ms(uint64_t ms);
uint64_t tsc_khz_from_pit(void);     /* tsc.c: TSC kHz measured by PIT counter 2 or 0, 0 on failure */
bool deadline_passed(uint64_t deadline);
void delay_us(uint64_t us);

/* uart.c: 16550 at COM1 */
#define COM1 0x3f8
void uart_init(void);
void uart_putc(char c);
int uart_getc_nowait(void);

/* boot.c */
void boot_info_init(enum boot_kind kind, uint64_t info, uint32_t magic);

/* cmdline.c */
bool cmdline_get(const char *key, const char **val, size_t *len);
bool cmdline_has_word(const char *word, size_t len);
bool cmdline_value_is(const char *key, const char *val);
bool cmdline_list_has(const char *key, const char *item);

/* acpi.c */
struct acpi_gas {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t address;
} __attribute__((packed));

struct acpi_info {
    uint64_t rsdp;
    uint64_t lapic_base;
    int ncpus;                    /* enabled LAPIC/x2APIC entries */
    uint32_t apic_ids[MAX_CPUS];
    uint64_t ioapic_base;
    uint32_t ioapic_gsi_base;
    bool have_ioapic;
    uint32_t isa_gsi[16];         /* ISA IRQ -> GSI after overrides */
    uint16_t isa_flags[16];       /* MPS INTI flags from the override */
    bool have_madt, have_fadt, have_dsdt;
    uint32_t fadt_flags;
    uint32_t pm1a_cnt;            /* I/O port, 0 if none */
    struct acpi_gas sleep_control; /* HW-reduced sleep control register */
    struct acpi_gas reset_reg;    /* FADT RESET_REG, valid if address != 0 */
    uint8_t reset_value;
    int s5_typ;                   /* -1 if \_S5_ not found */
    int bad_checksums;
    char bad_table[8];
};
extern struct acpi_info acpi;
void acpi_init(void);

/* apic.c */
void pic_disable(void);
void lapic_init(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
uint32_t lapic_id(void);
void lapic_eoi(void);
bool lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
void ioapic_route(uint32_t gsi, uint8_t vector, uint16_t mps_flags, uint32_t dest);
void ioapic_mask(uint32_t gsi);
#define LAPIC_ID 0x20
#define LAPIC_VER 0x30
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

/* idt.c */
void idt_init(void);
void idt_load(void);
extern volatile uint64_t irq_count[256];
typedef void (*irq_handler_t)(struct irq_frame *f);
void irq_set_handler(uint8_t vector, irq_handler_t h);

/* paging.c */
bool paging_map_identity(uint64_t end);

/* smp.c */
void test_cpus(void);

/* tests.c */
void test_pass(const char *name);
void test_fail(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void test_cmdline(void);
void test_mem(void);
void test_modules(void);
void test_acpi(void);
void test_timer(void);
void test_serial_irq(void);
void action_echo(void);

/* dirty.c */
void action_dirty(void);

/* gdbtest.c */
void action_gdb(void);

/* virtio.c: virtio 1.x over virtio-mmio v2 (virtio 1.2, 2.7 and 4.2) */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4
#define VIRTIO_F_VERSION_1 (1ull << 32)
#define VIRTIO_RING_F_EVENT_IDX (1ull << 29)
#define VIRTQ_MAX 256
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtio_dev {
    uint64_t base;        /* register block, identity mapped */
    uint32_t size, gsi;   /* from virtio_mmio.device=SIZE@ADDR:IRQ */
    uint32_t version, device_id;
    uint64_t features;    /* negotiated */
};
struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct virtq_avail {
    uint16_t flags, idx;
    uint16_t ring[VIRTQ_MAX];
};
struct virtq_used_elem {
    uint32_t id, len;
};
struct virtq_used {
    uint16_t flags, idx;
    struct virtq_used_elem ring[VIRTQ_MAX];
};
struct virtq {
    struct virtio_dev *dev;
    uint16_t index, size;
    struct virtq_desc *desc;
    struct virtq_avail *avail;
    struct virtq_used *used;
    uint16_t free_head, num_free, avail_idx, last_used;
    uint16_t kicked_idx;  /* avail idx at the last notification check */
    bool event_idx, interrupts;
};
struct virtq_buf {
    void *addr;
    uint32_t len;
    bool device_writes;   /* device-writable (VIRTQ_DESC_F_WRITE) */
};
int virtio_mmio_find(struct virtio_dev *devs, int max);
bool virtio_mmio_find_device(uint32_t device_id, int nth, struct virtio_dev *d);
bool virtio_dev_init(struct virtio_dev *d, uint64_t wanted, const char **why);
bool virtq_setup(struct virtio_dev *d, struct virtq *vq, uint16_t index,
                 uint16_t size, bool interrupts, const char **why);
void virtio_driver_ok(struct virtio_dev *d);
void virtio_reset(struct virtio_dev *d);
uint32_t virtio_status(const struct virtio_dev *d);
uint32_t virtio_config_read32(const struct virtio_dev *d, uint32_t off);
uint64_t virtio_config_read64(const struct virtio_dev *d, uint32_t off);
uint32_t virtio_irq_ack(const struct virtio_dev *d);
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, int n);
bool virtq_kick(struct virtq *vq);
void virtq_notify(struct virtq *vq);
bool virtq_has_used(const struct virtq *vq);
int virtq_get_used(struct virtq *vq, uint32_t *len);

/* blk.c */
void action_blk(void);

/* exits.c */
void action_exits(void);

/* power.c */
void debug_exit(uint32_t code) __attribute__((noreturn));
void power_off(void) __attribute__((noreturn));
void reboot(const char *how) __attribute__((noreturn));
void triple_fault(void) __attribute__((noreturn));
void halt_forever(void) __attribute__((noreturn));

/* linker symbols */
extern char __kernel_start[], __kernel_end[];

#endif /* __ASSEMBLY__ */
#endif
