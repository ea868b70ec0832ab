/*
 * libFuzzer target for the device models: a pc machine under the qtest
 * accelerator with every guest-facing device Vireo has, driven by qtest
 * protocol commands (through the real server, accel/qtest/qtest.c) that
 * the input encodes. PCI BARs are assigned as firmware would, and virtio
 * queues can be set up in a RAM window the input also writes, so that
 * hostile descriptors reach the devices. The machine is reset between
 * inputs. Input: a sequence of operations, each an opcode byte and its
 * operands (see run_op); tests/fuzz/make-qtest-seeds.py writes seeds.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "chardev/char.h"
#include "hw/virtio/virtio-pci.h"
#include "net/net.h"
#include "system/qtest.h"
#include "system/timer.h"
#include "system/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_WINDOW      UINT64_C(0x100000)    /* rings and buffers live here */
#define RAM_WINDOW_SIZE UINT64_C(0x100000)
#define MMIO_BASE       UINT64_C(0xe0000000) /* where BARs are assigned */
#define PIO_BASE        0xc000

typedef struct Region {
    uint64_t base, size;
} Region;

/* Fixed port and MMIO ranges of the pc machine, then the BARs. */
static const Region fixed_ports[] = {
    { 0x20, 2 }, { 0xa0, 2 }, { 0x4d0, 2 },     /* 8259s, ELCR */
    { 0x40, 4 }, { 0x61, 1 },                   /* PIT */
    { 0x60, 1 }, { 0x64, 1 }, { 0x92, 1 },      /* i8042, port A */
    { 0x3f8, 8 }, { 0xe9, 1 }, { 0xcf8, 8 },    /* COM1, debugcon, PCI */
    { 0x600, 12 }, { 0xcf9, 1 },                /* ACPI PM, reset */
};
static const Region fixed_mmio[] = {
    { 0xfec00000, 0x1000 },                     /* IOAPIC */
    { 0xfee00000, 0x1000 },                     /* LAPIC window / MSIs */
    { RAM_WINDOW, RAM_WINDOW_SIZE },
};

#define MAX_BARS 64
static Region bar_ports[MAX_BARS], bar_mmio[MAX_BARS];
static unsigned n_bar_ports, n_bar_mmio;
/* BAR 4 of each virtio-pci device: its modern structures. */
static uint64_t virtio_bar[8];
static unsigned n_virtio;

static Machine *machine;
static QTestServer *server;
static size_t output_bytes;

static void discard(void *opaque, const char *text, size_t len)
{
    output_bytes += len;
}

static void qtest(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void qtest(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_autofree char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    qtest_server_feed(server, line, strlen(line));
    qtest_server_feed(server, "\n", 1);
}

/* ---- PCI set-up, as firmware does it ---- */

static uint32_t pci_cfg_read(int dev, int off)
{
    uint64_t v;

    address_space_st(&machine->as_io, 0xcf8, 4,
                     0x80000000u | dev << 11 | (off & 0xfc));
    address_space_ld(&machine->as_io, 0xcfc, 4, &v);
    return v;
}

static void pci_cfg_write(int dev, int off, uint32_t val)
{
    address_space_st(&machine->as_io, 0xcf8, 4,
                     0x80000000u | dev << 11 | (off & 0xfc));
    address_space_st(&machine->as_io, 0xcfc, 4, val);
}

static void assign_bars(void)
{
    uint64_t mmio = MMIO_BASE, pio = PIO_BASE;

    n_bar_ports = n_bar_mmio = n_virtio = 0;
    for (int dev = 0; dev < 32; dev++) {
        uint32_t id = pci_cfg_read(dev, 0);
        if ((id & 0xffff) == 0xffff) {
            continue;
        }
        for (int bar = 0; bar < 6; bar++) {
            int off = 0x10 + 4 * bar;
            pci_cfg_write(dev, off, 0xffffffff);
            uint32_t mask = pci_cfg_read(dev, off);
            if (!mask) {
                continue;
            }
            bool io = mask & 1;
            bool is64 = !io && (mask & 6) == 4;
            uint64_t size = io ? (~(mask & ~3u) & 0xffff) + 1
                               : (uint64_t)~(mask & ~0xfu) + 1;
            size &= io ? 0xffff : 0xffffffff;
            uint64_t *next = io ? &pio : &mmio;
            uint64_t base = (*next + size - 1) & ~(size - 1);
            *next = base + size;
            pci_cfg_write(dev, off, base);
            if (is64) {
                pci_cfg_write(dev, off + 4, 0);
            }
            if (io && n_bar_ports < MAX_BARS) {
                bar_ports[n_bar_ports++] = (Region){ base, size };
            } else if (!io && n_bar_mmio < MAX_BARS) {
                bar_mmio[n_bar_mmio++] = (Region){ base, size };
            }
            if ((id & 0xffff) == VIRTIO_PCI_VENDOR_ID &&
                bar == VIRTIO_PCI_MEM_BAR && n_virtio < 8) {
                virtio_bar[n_virtio++] = base;
            }
            bar += is64;
        }
        pci_cfg_write(dev, 0x04, 0x7);  /* I/O, memory, bus master */
    }
}

/* ---- the machine ---- */

static gint poll_unlocked(GPollFD *fds, guint nfds, gint timeout)
{
    bql_unlock();
    gint r = g_poll(fds, nfds, timeout);
    bql_lock();
    return r;
}

static void create_machine(void)
{
    static MachineConfig cfg = {
        .machine_type = "pc", .accel = "qtest", .cpu_model = "host",
        .ram_size = 64 << 20, .smp_cpus = 1, .smp_max_cpus = 1,
        .sockets = 1, .cores = 1, .threads = 1, .acpi = true,
        .nodefaults = true, .serial = { "fz-serial" }, .debugcon = "fz-con",
    };
    static const char *const devices[] = {
        "pci-testdev", "virtio-blk-pci,drive=fz-disk", "virtio-rng-pci",
        "virtio-net-pci,netdev=fz-net", "virtio-serial-pci,id=fz-vser",
        "virtconsole,chardev=fz-port", "virtserialport,chardev=fz-port2",
    };
    g_autoptr(GError) err = NULL;
    char disk[] = "/tmp/vireo-fuzz-disk-XXXXXX";
    int fd = mkstemp(disk);

    if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
        abort();
    }
    close(fd);
    g_autofree char *drive = g_strdup_printf(
        "file=%s,format=raw,if=none,id=fz-disk", disk);
    bql_lock();
    g_main_context_set_poll_func(NULL, poll_unlocked);
    timers_init();
    cfg.devices = g_ptr_array_new();
    for (size_t i = 0; i < G_N_ELEMENTS(devices); i++) {
        g_ptr_array_add(cfg.devices, (gpointer)devices[i]);
    }
    if (!chardev_new_from_spec("fz-serial", "null", &err) ||
        !chardev_new_from_spec("fz-con", "null", &err) ||
        !chardev_new_from_spec("fz-port", "null", &err) ||
        !chardev_new_from_spec("fz-port2", "null", &err) ||
        !blk_new_from_drive_opts(drive, &err) ||
        !netdev_new_from_opts("user,id=fz-net,restrict=on", &err) ||
        !(machine = machine_create(&cfg, &err))) {
        fprintf(stderr, "fuzz-qtest: %s\n", err->message);
        abort();
    }
    unlink(disk);   /* the open file lives on */
    machine_set_current(machine);
    server = qtest_server_new(machine, discard, NULL, NULL);
}

/* Lets completions (block I/O, ioeventfds, bottom halves) run. */
static void run_main_loop(void)
{
    for (int i = 0; i < 64 && g_main_context_iteration(NULL, FALSE); i++) {
    }
}

/* ---- operations ---- */

typedef struct Input {
    const uint8_t *p, *end;
} Input;

static uint64_t take(Input *in, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && in->p < in->end; i++) {
        v |= (uint64_t)*in->p++ << (8 * i);
    }
    return v;
}

static const Region *pick(const Region *fixed, unsigned nfixed,
                          const Region *bars, unsigned nbars, unsigned sel)
{
    sel %= nfixed + nbars;
    return sel < nfixed ? &fixed[sel] : &bars[sel - nfixed];
}

static const char size_suffix[] = "bwlq";

static unsigned access_log2(Input *in, unsigned max_log2)
{
    return take(in, 1) % (max_log2 + 1);
}

/* Modern virtio-pci bring-up of queue q with rings in the RAM window. */
static void virtio_setup(unsigned dev, unsigned q)
{
    uint64_t common = virtio_bar[dev] + VIRTIO_PCI_COMMON_OFFSET;
    uint64_t ring = RAM_WINDOW + (dev * 4 + q % 4) * 0x10000;

    qtest("writeb 0x%" PRIx64 " 0", common + VIRTIO_PCI_COMMON_STATUS);
    qtest("writeb 0x%" PRIx64 " 3", common + VIRTIO_PCI_COMMON_STATUS);
    qtest("writel 0x%" PRIx64 " 1", common + VIRTIO_PCI_COMMON_GFSELECT);
    qtest("writel 0x%" PRIx64 " 1", common + VIRTIO_PCI_COMMON_GF);
    qtest("writeb 0x%" PRIx64 " 0xb", common + VIRTIO_PCI_COMMON_STATUS);
    qtest("writew 0x%" PRIx64 " %u", common + VIRTIO_PCI_COMMON_Q_SELECT, q);
    qtest("writel 0x%" PRIx64 " 0x%" PRIx64,
          common + VIRTIO_PCI_COMMON_Q_DESCLO, ring);
    qtest("writel 0x%" PRIx64 " 0x%" PRIx64,
          common + VIRTIO_PCI_COMMON_Q_AVAILLO, ring + 0x8000);
    qtest("writel 0x%" PRIx64 " 0x%" PRIx64,
          common + VIRTIO_PCI_COMMON_Q_USEDLO, ring + 0xc000);
    qtest("writew 0x%" PRIx64 " 1", common + VIRTIO_PCI_COMMON_Q_ENABLE);
    qtest("writeb 0x%" PRIx64 " 0xf", common + VIRTIO_PCI_COMMON_STATUS);
}

/*
 * One operation; operands are little-endian and read as zero past the
 * end of the input:
 *   0 out:   region(1) offset(2) width(1) value(4)
 *   1 in:    region(1) offset(2) width(1)
 *   2 write: region(1) offset(4) width(1) value(8)
 *   3 read:  region(1) offset(4) width(1)
 *   4 clock_step: ns/1000 (2), or to the next deadline when 0
 *   5 RAM window write: offset(3) length(1) bytes
 *   6 virtio queue set-up: device(1) queue(1)
 *   7 virtio kick: device(1) queue(1)
 */
static void run_op(Input *in)
{
    const Region *r;
    uint64_t off, v;
    unsigned w, n;

    switch (take(in, 1) % 8) {
    case 0:
        r = pick(fixed_ports, G_N_ELEMENTS(fixed_ports), bar_ports,
                 n_bar_ports, take(in, 1));
        off = take(in, 2) % r->size;
        w = access_log2(in, 2);
        v = take(in, 4);
        qtest("out%c 0x%" PRIx64 " 0x%" PRIx64, size_suffix[w],
              r->base + off, v);
        break;
    case 1:
        r = pick(fixed_ports, G_N_ELEMENTS(fixed_ports), bar_ports,
                 n_bar_ports, take(in, 1));
        off = take(in, 2) % r->size;
        w = access_log2(in, 2);
        qtest("in%c 0x%" PRIx64, size_suffix[w], r->base + off);
        break;
    case 2:
        r = pick(fixed_mmio, G_N_ELEMENTS(fixed_mmio), bar_mmio, n_bar_mmio,
                 take(in, 1));
        off = take(in, 4) % r->size;
        w = access_log2(in, 3);
        v = take(in, 8);
        qtest("write%c 0x%" PRIx64 " 0x%" PRIx64, size_suffix[w],
              r->base + off, v);
        break;
    case 3:
        r = pick(fixed_mmio, G_N_ELEMENTS(fixed_mmio), bar_mmio, n_bar_mmio,
                 take(in, 1));
        off = take(in, 4) % r->size;
        w = access_log2(in, 3);
        qtest("read%c 0x%" PRIx64, size_suffix[w], r->base + off);
        break;
    case 4:
        v = take(in, 2);
        if (v) {
            qtest("clock_step %" PRIu64, v * 1000);
        } else {
            qtest("clock_step");
        }
        break;
    case 5: {
        off = take(in, 3) % RAM_WINDOW_SIZE;
        n = take(in, 1);
        n = MIN(n, (size_t)(in->end - in->p));
        g_autofree char *b64 = g_base64_encode(in->p, n);
        in->p += n;
        qtest("b64write 0x%" PRIx64 " %u %s", RAM_WINDOW + off, n, b64);
        break;
    }
    case 6:
        n = take(in, 1);
        if (n_virtio) {
            virtio_setup(n % n_virtio, take(in, 1) % 4);
        }
        break;
    case 7:
        n = take(in, 1);
        v = take(in, 1) % 4;
        if (n_virtio) {
            qtest("writew 0x%" PRIx64 " %" PRIu64, virtio_bar[n % n_virtio] +
                  VIRTIO_PCI_NOTIFY_OFFSET + v * VIRTIO_PCI_NOTIFY_MULT, v);
        }
        break;
    }
    run_main_loop();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in = { data, data + size };
    g_autoptr(GError) err = NULL;
    int status;

    if (!machine) {
        create_machine();
    }
    assign_bars();
    while (in.p < in.end) {
        run_op(&in);
    }
    run_main_loop();
    /* guest-requested resets and exits only leave requests behind */
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
    if (!machine_reset(machine, &err)) {
        fprintf(stderr, "fuzz-qtest: reset failed: %s\n", err->message);
        abort();
    }
    return 0;
}
