/*
 * libFuzzer targets for the device models: a machine under the qtest
 * accelerator driven by qtest protocol commands (through the real server,
 * accel/qtest/qtest.c) that the input encodes. Each target is this file
 * built with FUZZ_TARGET naming its profile (fuzz-qtest-profiles.c): the
 * machine, its devices, and the ports, MMIO ranges and PCI devices the
 * operations reach. fuzz-qtest has every device at once; fuzz-virtio-blk,
 * fuzz-ide and the others one each. PCI BARs are assigned as firmware
 * would, and virtio queues can be set up in a RAM window the input also
 * writes, so that hostile descriptors and DMA tables reach the devices.
 * The machine is reset between inputs. Input: a sequence of operations,
 * each an opcode byte and its operands (see run_op);
 * tests/fuzz/make-qtest-seeds.py writes seeds for each target.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-qtest.h"
#include "hw/virtio/virtio-pci.h"
#include "system/qtest.h"
#include "system/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_WINDOW      FUZZ_RAM_WINDOW
#define RAM_WINDOW_SIZE FUZZ_RAM_WINDOW_SIZE
#define MMIO_BASE       UINT64_C(0xe0000000) /* where BARs are assigned */
#define PIO_BASE        0xc000
#define VIRTQ_RINGS     16      /* 64 KiB ring slots in the RAM window */

static const FuzzProfile *profile;

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

static uint32_t pci_cfg_read(int devfn, int off)
{
    uint64_t v;

    address_space_st(&machine->as_io, 0xcf8, 4,
                     0x80000000u | devfn << 8 | (off & 0xfc));
    address_space_ld(&machine->as_io, 0xcfc, 4, &v);
    return v;
}

static void pci_cfg_write(int devfn, int off, uint32_t val)
{
    address_space_st(&machine->as_io, 0xcf8, 4,
                     0x80000000u | devfn << 8 | (off & 0xfc));
    address_space_st(&machine->as_io, 0xcfc, 4, val);
}

/*
 * Sizes and places every BAR of every function on bus 0; the BARs of the
 * profile's slots become regions the operations reach.
 */
static void assign_bars(void)
{
    uint64_t mmio = MMIO_BASE, pio = PIO_BASE;

    n_bar_ports = n_bar_mmio = n_virtio = 0;
    for (int devfn = 0; devfn < 256; devfn++) {
        uint32_t id = pci_cfg_read(devfn, 0);
        bool reach = profile->pci_slots & (1u << (devfn >> 3));
        if ((id & 0xffff) == 0xffff) {
            continue;
        }
        for (int bar = 0; bar < 6; bar++) {
            int off = 0x10 + 4 * bar;
            pci_cfg_write(devfn, off, 0xffffffff);
            uint32_t mask = pci_cfg_read(devfn, off);
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
            pci_cfg_write(devfn, off, base);
            if (is64) {
                pci_cfg_write(devfn, off + 4, 0);
            }
            if (reach && io && n_bar_ports < MAX_BARS) {
                bar_ports[n_bar_ports++] = (Region){ base, size };
            } else if (reach && !io && n_bar_mmio < MAX_BARS) {
                bar_mmio[n_bar_mmio++] = (Region){ base, size };
            }
            if (reach && (id & 0xffff) == VIRTIO_PCI_VENDOR_ID &&
                bar == VIRTIO_PCI_MEM_BAR && n_virtio < 8) {
                virtio_bar[n_virtio++] = base;
            }
            bar += is64;
        }
        pci_cfg_write(devfn, 0x04, 0x7);  /* I/O, memory, bus master */
    }
    if (getenv("FUZZ_VERBOSE")) {
        for (unsigned i = 0; i < n_bar_ports; i++) {
            fprintf(stderr, "port BAR %u: 0x%" PRIx64 " +0x%" PRIx64 "\n", i,
                    bar_ports[i].base, bar_ports[i].size);
        }
        for (unsigned i = 0; i < n_bar_mmio; i++) {
            fprintf(stderr, "MMIO BAR %u: 0x%" PRIx64 " +0x%" PRIx64 "\n", i,
                    bar_mmio[i].base, bar_mmio[i].size);
        }
    }
}

/* ---- the machine ---- */

static void create_machine(void)
{
    profile = fuzz_profile_find(FUZZ_TARGET);
    if (!profile) {
        fprintf(stderr, "%s: no such profile\n", FUZZ_TARGET);
        abort();
    }
    machine = fuzz_machine_create(profile);
    server = qtest_server_new(machine, discard, NULL, NULL);
    /* the device under test must be where the profile says */
    assign_bars();
    if (profile->pci_slots && !n_bar_ports && !n_bar_mmio) {
        fprintf(stderr, "%s: no BARs in the profile's PCI slots\n",
                profile->target);
        abort();
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

/* Region sel of the fixed ones then the BARs, or NULL if there is none. */
static const Region *pick(const Region *fixed, unsigned nfixed,
                          const Region *bars, unsigned nbars, unsigned sel)
{
    if (!nfixed && !nbars) {
        return NULL;
    }
    sel %= nfixed + nbars;
    return sel < nfixed ? &fixed[sel] : &bars[sel - nfixed];
}

static const Region *pick_port(Input *in)
{
    return pick(profile->ports, profile->nports, bar_ports, n_bar_ports,
                take(in, 1));
}

static const Region *pick_mmio(Input *in)
{
    return pick(profile->mmio, profile->nmmio, bar_mmio, n_bar_mmio,
                take(in, 1));
}

static const char size_suffix[] = "bwlq";

static unsigned access_log2(Input *in, unsigned max_log2)
{
    return take(in, 1) % (max_log2 + 1);
}

/*
 * Modern virtio-pci bring-up of queue q with rings in the RAM window:
 * ring slot (dev * 8 + q) % VIRTQ_RINGS, descriptors at its start, the
 * available ring at +0x8000, the used ring at +0xc000. features: the
 * driver's low 32 feature bits (VIRTIO_F_VERSION_1 is always offered).
 */
static void virtio_setup(unsigned dev, unsigned q, uint32_t features)
{
    uint64_t common = virtio_bar[dev] + VIRTIO_PCI_COMMON_OFFSET;
    uint64_t ring = RAM_WINDOW + (dev * 8 + q) % VIRTQ_RINGS * 0x10000;

    qtest("writeb 0x%" PRIx64 " 0", common + VIRTIO_PCI_COMMON_STATUS);
    qtest("writeb 0x%" PRIx64 " 3", common + VIRTIO_PCI_COMMON_STATUS);
    qtest("writel 0x%" PRIx64 " 0", common + VIRTIO_PCI_COMMON_GFSELECT);
    qtest("writel 0x%" PRIx64 " 0x%x", common + VIRTIO_PCI_COMMON_GF,
          features);
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
 * end of the input. Regions are numbered as the profile lists them, then
 * the reachable BARs in the order assign_bars found them:
 *   0 out:   region(1) offset(2) width(1) value(4)
 *   1 in:    region(1) offset(2) width(1)
 *   2 write: region(1) offset(4) width(1) value(8)
 *   3 read:  region(1) offset(4) width(1)
 *   4 clock_step: ns/1000 (2), or to the next deadline when 0
 *   5 RAM window write: offset(3) length(1) bytes
 *   6 virtio queue set-up: device(1) queue(1) features(4)
 *   7 virtio kick: device(1) queue(1)
 */
static void run_op(Input *in)
{
    const Region *r;
    uint64_t off, v;
    unsigned w, n, q;

    switch (take(in, 1) % 8) {
    case 0:
        r = pick_port(in);
        off = take(in, 2);
        w = access_log2(in, 2);
        v = take(in, 4);
        if (r) {
            qtest("out%c 0x%" PRIx64 " 0x%" PRIx64, size_suffix[w],
                  r->base + off % r->size, v);
        }
        break;
    case 1:
        r = pick_port(in);
        off = take(in, 2);
        w = access_log2(in, 2);
        if (r) {
            qtest("in%c 0x%" PRIx64, size_suffix[w], r->base + off % r->size);
        }
        break;
    case 2:
        r = pick_mmio(in);
        off = take(in, 4);
        w = access_log2(in, 3);
        v = take(in, 8);
        if (r) {
            qtest("write%c 0x%" PRIx64 " 0x%" PRIx64, size_suffix[w],
                  r->base + off % r->size, v);
        }
        break;
    case 3:
        r = pick_mmio(in);
        off = take(in, 4);
        w = access_log2(in, 3);
        if (r) {
            qtest("read%c 0x%" PRIx64, size_suffix[w],
                  r->base + off % r->size);
        }
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
        n = MIN(n, RAM_WINDOW_SIZE - off);
        g_autofree char *b64 = g_base64_encode(in->p, n);
        in->p += n;
        qtest("b64write 0x%" PRIx64 " %u %s", RAM_WINDOW + off, n, b64);
        break;
    }
    case 6:
        n = take(in, 1);
        q = take(in, 1) % 8;
        v = take(in, 4);
        if (n_virtio) {
            virtio_setup(n % n_virtio, q, v);
        }
        break;
    case 7:
        n = take(in, 1);
        q = take(in, 1) % 8;
        if (n_virtio) {
            qtest("writew 0x%" PRIx64 " %u", virtio_bar[n % n_virtio] +
                  VIRTIO_PCI_NOTIFY_OFFSET + q * VIRTIO_PCI_NOTIFY_MULT, q);
        }
        break;
    }
    fuzz_main_loop_run();
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
    fuzz_main_loop_run();
    /* guest-requested resets and exits only leave requests behind */
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
    if (!machine_reset(machine, &err)) {
        fuzz_fail(profile->target, err);
    }
    return 0;
}
