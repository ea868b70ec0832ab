/*
 * The migration state of virtio devices and their transports: a driver
 * brings virtio-rng-pci, virtio-blk-pci (a raw image) and
 * virtio-rng-device (virtio-mmio) to DRIVER_OK with a queue and completes
 * a request; the machine is saved and loaded, with its RAM, into a fresh
 * one, where the registers read back the same, the BARs decode at the same
 * place, the queue notifications reach their ioeventfds again and the
 * next request completes where the ring left off. Streams a hostile or
 * mismatched source could send (a queue over its maximum, rings outside
 * RAM, features not offered, read-only configuration bytes, another MSI-X
 * vector count) are refused with an error that says why.
 */
#include <stdio.h>
#include <unistd.h>

#include <glib.h>

#include "block/block.h"
#include "chardev/char.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio-rng.h"
#include "hw/virtio/virtio-serial.h"
#include "virtio-pci-driver.h"
#include "system/runstate.h"
#include "system/timer.h"
#include "vmstate-test.h"

#define RAM_SIZE    0x100000
#define QSIZE       8
#define HDR         0x14000
#define STATUS      0x15000
#define MMIO_BASE   0xfeb00000ULL
#define MMIO_GSI    5
#define DISK_SIZE   (64 * 1024)
#define SECTOR      512

/* ---- two machines side by side (pci-machine.h records in "current") ---- */

static Fixture *use(Fixture *f)
{
    current = f;
    return f;
}

static void fini(Fixture *f)
{
    fixture_fini(use(f));
}

static uint8_t *ram(Fixture *f)
{
    return memory_region_get_ram_ptr(&f->ram);
}

/* Guest RAM goes across before the devices, as a migration sends it. */
static void migrate(Fixture *from, Fixture *to, GByteArray **saved)
{
    *saved = vt_save(&use(from)->m);
    memcpy(ram(to), ram(from), RAM_SIZE);
    vt_load(&use(to)->m, *saved);
}

static VirtIOPCIProxy *proxy(Fixture *f)
{
    return (VirtIOPCIProxy *)pci_bus_get_device(pci_bus_find(&f->m, NULL),
                                                DEVFN);
}

/* ---- the driver of a virtio-pci device (as test-virtio-pci.c) ---- */

/* VERSION_1 only; config vector 0, queue 0 of QSIZE on vector 1. */
static void driver_init(Fixture *f)
{
    const uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1, s);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_GF, 4, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           s | VIRTIO_CONFIG_S_FEATURES_OK);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_DESCLO, 4, DESC);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_AVAILLO, 4, AVAIL);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_USEDLO, 4, USED);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert_cmphex(mem_ld(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1), ==, 0xf);
}

static void put_desc(Fixture *f, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags)
{
    uint64_t d = DESC + 16 * i;

    mem_st(f, d, 8, addr);
    mem_st(f, d + 8, 4, len);
    mem_st(f, d + 12, 2, flags | (i < 2 ? VIRTQ_DESC_F_NEXT : 0));
    mem_st(f, d + 14, 2, i + 1);
}

/* Makes descriptor 0's chain available (at the ring's own idx). */
static void make_avail(Fixture *f)
{
    uint16_t idx = mem_ld(f, AVAIL + 2, 2);

    mem_st(f, AVAIL + 4 + 2 * (idx % QSIZE), 2, 0);
    mem_st(f, AVAIL + 2, 2, (uint16_t)(idx + 1));
}

static void kick_pci(Fixture *f)
{
    mem_st(f, NOTIFY, 2, 0);        /* queue 0: queue_notify_off 0 */
    main_loop_run_pending();
}

static uint16_t used_idx(Fixture *f)
{
    return mem_ld(f, USED + 2, 2);
}

/* The used element of the request number n (0-based). */
static uint32_t used_len(Fixture *f, unsigned n)
{
    return mem_ld(f, USED + 4 + 8 * (n % QSIZE) + 4, 4);
}

/* One 16-byte entropy request. */
static void rng_request(Fixture *f)
{
    mem_st(f, DESC, 8, BUF);
    mem_st(f, DESC + 8, 4, 16);
    mem_st(f, DESC + 12, 2, VIRTQ_DESC_F_WRITE);
    make_avail(f);
}

/* What the driver reads back through the common configuration. */
static GString *read_common(Fixture *f)
{
    static const struct { unsigned off, size; } regs[] = {
        { VIRTIO_PCI_COMMON_DFSELECT, 4 }, { VIRTIO_PCI_COMMON_DF, 4 },
        { VIRTIO_PCI_COMMON_GFSELECT, 4 }, { VIRTIO_PCI_COMMON_GF, 4 },
        { VIRTIO_PCI_COMMON_MSIX, 2 }, { VIRTIO_PCI_COMMON_NUMQ, 2 },
        { VIRTIO_PCI_COMMON_STATUS, 1 },
        { VIRTIO_PCI_COMMON_CFGGENERATION, 1 },
        { VIRTIO_PCI_COMMON_Q_SELECT, 2 }, { VIRTIO_PCI_COMMON_Q_SIZE, 2 },
        { VIRTIO_PCI_COMMON_Q_MSIX, 2 }, { VIRTIO_PCI_COMMON_Q_ENABLE, 2 },
        { VIRTIO_PCI_COMMON_Q_NOFF, 2 }, { VIRTIO_PCI_COMMON_Q_DESCLO, 4 },
        { VIRTIO_PCI_COMMON_Q_AVAILLO, 4 }, { VIRTIO_PCI_COMMON_Q_USEDLO, 4 },
    };
    GString *s = g_string_new("common");

    use(f);
    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++) {
        g_string_append_printf(s, " %x", (uint32_t)mem_ld(
                                   f, COMMON + regs[i].off, regs[i].size));
    }
    g_string_append(s, "\nconfig");
    for (int reg = 0; reg < PCI_CONFIG_SPACE_SIZE; reg += 4) {
        g_string_append_printf(s, " %08x", cfg_read(f, DEVFN, reg, 4));
    }
    g_string_append(s, "\nmsix");
    for (int i = 0; i < 8; i++) {
        g_string_append_printf(s, " %08x",
                               (uint32_t)mem_ld(f, MSIX_ADDR + 4 * i, 4));
    }
    g_string_append_printf(s, " pba %02x bar4 %" G_GINT64_MODIFIER "x bar1 %"
                           G_GINT64_MODIFIER "x isr %x",
                           (uint32_t)mem_ld(f, MSIX_ADDR + 2048, 1),
                           pci_bar_address(&proxy(f)->pci, 4),
                           pci_bar_address(&proxy(f)->pci, 1),
                           (uint32_t)mem_ld(f, ISR, 1));
    return s;
}

static void rng_pci_source(Fixture *a)
{
    fixture_init(a);
    add_device(a, "virtio-rng-pci");
    map_bars(a);
    enable_msix(a, 2);
    driver_init(a);
    rng_request(a);
    kick_pci(a);
    g_assert_cmpuint(used_idx(a), ==, 1);
    g_assert_cmpuint(a->msis->len, ==, 1);
}

/* ---- virtio-rng-pci ---- */

static void test_rng_pci_round_trip(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;

    rng_pci_source(&a);
    fixture_init(&b);
    add_device(&b, "virtio-rng-pci");
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY), ==, 0);
    migrate(&a, &b, &sa);

    /* the same device, decoding at the same place, kicked by eventfd */
    g_assert_cmphex(pci_bar_address(&proxy(&b)->pci, 4), ==, BAR4_ADDR);
    g_assert_cmphex(pci_bar_address(&proxy(&b)->pci, 1), ==, MSIX_ADDR);
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY), ==, 1);
    g_assert_cmpuint(b.msis->len, ==, 0);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    ra = read_common(&a);
    rb = read_common(&b);
    g_test_message("%s", rb->str);
    g_assert_cmpstr(rb->str, ==, ra->str);

    /* the next request continues the ring, and interrupts by its vector */
    use(&b);
    rng_request(&b);
    kick_pci(&b);
    g_assert_cmpuint(used_idx(&b), ==, 2);
    g_assert_cmpuint(used_len(&b, 1), ==, 16);
    g_assert_cmpuint(b.msis->len, ==, 1);
    g_assert_cmphex(g_array_index(b.msis, Msi, 0).data, ==, 0x41);
    fini(&a);
    fini(&b);
}

static GByteArray *patched(GByteArray *s, const char *cls, const char *path,
                           int delta, size_t n, uint64_t v)
{
    GByteArray *c = g_byte_array_new();

    g_byte_array_append(c, s->data, s->len);
    vt_patch(c, vt_find(c, cls, 0, path) + delta, n, v);
    return c;
}

/* The patched stream is refused with what, and the device is at reset. */
static void expect_refused(Fixture *b, GByteArray *s, const char *cls,
                           const char *path, int delta, size_t n, uint64_t v,
                           const char *what)
{
    g_autoptr(GByteArray) c = patched(s, cls, path, delta, n, v);

    vt_load_fails(&use(b)->m, c, what);
}

static void test_rng_pci_hostile_stream(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;
    const char *c = "virtio-rng-pci";

    rng_pci_source(&a);
    fixture_init(&b);
    add_device(&b, "virtio-rng-pci");
    memcpy(ram(&b), ram(&a), RAM_SIZE);
    s = vt_save(&use(&a)->m);

    expect_refused(&b, s, c, "proxy.vdev.queues[0].num", 0, 2, 65,
                   "queue 0: virtqueue: invalid state: ready with size 65, "
                   "not in 1..64");
    expect_refused(&b, s, c, "proxy.vdev.queues[0].used", 0, 8,
                   RAM_SIZE - 0x40, "are not all in guest RAM");
    expect_refused(&b, s, c, "proxy.vdev.queues[0].desc", 0, 8, DESC + 8,
                   "ready with misaligned rings");
    expect_refused(&b, s, c, "proxy.vdev.queues[0].last_avail_idx", 0, 2, 2,
                   "1 requests in flight");
    expect_refused(&b, s, c, "proxy.vdev.guest_features", 0, 8,
                   (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40),
                   "the driver accepted features 0x10000000000 that this "
                   "virtio-rng does not offer");
    expect_refused(&b, s, c, "proxy.vdev.guest_features", 0, 8, 0,
                   "FEATURES_OK with features 0x0");
    expect_refused(&b, s, c, "proxy.vdev.broken", 0, 1, 1,
                   "disagree on DEVICE_NEEDS_RESET");
    expect_refused(&b, s, c, "proxy.vdev.isr", 0, 1, 0x81,
                   "unknown interrupt status bits 0x80");
    expect_refused(&b, s, c, "proxy.pci.config[0]", 0, 1, 0x86,
                   "configuration byte 0x00 is 0x86 in the stream but 0xf4 "
                   "in this virtio-rng-pci");
    expect_refused(&b, s, c, "proxy.pci.config[52]", 0, 1, 0x40,
                   "configuration byte 0x34");
    expect_refused(&b, s, c, "proxy.pci.msix[0].addr", -8, 4, 3,
                   "the stream has 3 MSI-X vectors, this device 2");
    expect_refused(&b, s, c, "proxy.config_vector", 0, 2, 7,
                   "configuration vector 7: the function has 2 MSI-X "
                   "vectors");
    expect_refused(&b, s, c, "proxy.queue_vector[0].vector", 0, 2, 2,
                   "queue 0 vector 2: the function has 2 MSI-X vectors");
    /* each left the device at its reset state, not half-loaded */
    g_assert_cmphex(proxy(&b)->vdev->status, ==, 0);
    g_assert_false(proxy(&b)->vdev->vq[0].ready);
    g_assert_cmphex(cfg_read(&b, DEVFN, 0, 4), ==, 0x10441af4);
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY), ==, 0);

    /* a destination configured otherwise */
    fini(&b);
    fixture_init(&b);
    add_device(&b, "virtio-rng-pci,vectors=3");
    vt_load_fails(&b.m, s, "the stream has 2 MSI-X vectors, this device 3");

    /* after all that, the good stream loads */
    fini(&b);
    fixture_init(&b);
    add_device(&b, "virtio-rng-pci");
    memcpy(ram(&b), ram(&a), RAM_SIZE);
    vt_load(&b.m, s);
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY), ==, 1);
    fini(&a);
    fini(&b);
}

/*
 * What a misbehaving driver can leave on the source loads, into a device
 * in NEEDS_RESET that takes no more requests: the source would have failed
 * the same way at the next kick.
 */
static void test_rng_pci_loaded_broken(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;
    const char *c = "virtio-rng-pci";
    struct {
        const char *path;
        size_t n;
        uint64_t v;
    } cases[] = {
        { "proxy.vdev.queues[0].num", 2, 6 },     /* not a power of 2 */
        { "proxy.vdev.queues[0].last_avail_idx", 4, 0x80008000 },
    };

    rng_pci_source(&a);
    s = vt_save(&use(&a)->m);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        /* last_avail_idx and used_idx: the avail idx 1 is 0x8001 ahead */
        g_autoptr(GByteArray) p = patched(s, c, cases[i].path, 0, cases[i].n,
                                          cases[i].v);
        fixture_init(&b);
        add_device(&b, "virtio-rng-pci");
        memcpy(ram(&b), ram(&a), RAM_SIZE);
        vt_load(&b.m, p);
        g_assert_cmphex(mem_ld(&b, COMMON + VIRTIO_PCI_COMMON_STATUS, 1), ==,
                        0xf | VIRTIO_CONFIG_S_NEEDS_RESET);
        g_assert_cmpuint(b.msis->len, ==, 0);   /* nothing sent loading */
        rng_request(&b);
        kick_pci(&b);
        g_assert_cmpuint(used_idx(&b), ==, 1);
        g_assert_cmphex(mem_ld(&b, ISR, 1), ==,
                        VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG);
        fini(&b);
    }
    fini(&a);
}

static void exercise(Machine *m, GRand *r)
{
    Fixture *f = (Fixture *)m;
    static const unsigned sizes[] = { 1, 2, 4 };

    for (int i = 0; i < 16; i++) {
        uint32_t v = g_rand_int(r);
        unsigned size = sizes[g_rand_int_range(r, 0, 3)];
        switch (g_rand_int_range(r, 0, 6)) {
        case 0:
            mem_st(f, COMMON + g_rand_int_range(r, 0, 0x40), size, v);
            break;
        case 1:
            mem_ld(f, COMMON + g_rand_int_range(r, 0, 0x40), size);
            break;
        case 2:
            rng_request(f);
            kick_pci(f);
            break;
        case 3:
            mem_ld(f, ISR, 1);
            break;
        case 4:
            mem_st(f, MSIX_ADDR + g_rand_int_range(r, 0, 32), 4, v);
            break;
        default:
            cfg_write(f, DEVFN, g_rand_int_range(r, 0, 256), 1, v);
            break;
        }
    }
}

static void test_rng_pci_corrupt_streams_never_crash(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    rng_pci_source(&a);
    s = vt_save(&use(&a)->m);
    fixture_init(&b);
    add_device(&b, "virtio-rng-pci");
    for (int i = 0; i < 2; i++) {
        memcpy(ram(&b), ram(&a), RAM_SIZE);
        vt_fuzz(&b.m, s, 1000, exercise);
    }
    fini(&a);
    fini(&b);
}

/* ---- virtio-blk-pci on a raw image ---- */

static char *disk_path;

static void make_disk(void)
{
    g_autoptr(GError) err = NULL;
    uint8_t pattern[DISK_SIZE];
    int fd = g_file_open_tmp("vmstate-blk-XXXXXX.img", &disk_path, &err);

    g_assert_no_error(err);
    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = i * 7 + i / SECTOR;
    }
    g_assert_cmpint(write(fd, pattern, sizeof(pattern)), ==, sizeof(pattern));
    close(fd);
}

/* A machine with drive id on the image and virtio-blk-pci on it. */
static void blk_machine(Fixture *f, const char *id)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *drive = g_strdup_printf(
        "file=%s,format=raw,if=none,id=%s", disk_path, id);
    g_autofree char *dev = g_strdup_printf("virtio-blk-pci,drive=%s", id);

    BlockBackend *blk = blk_new_from_drive_opts(drive, &err);
    g_assert_no_error(err);
    g_assert_nonnull(blk);
    fixture_init(f);
    add_device(f, dev);
}

static void blk_machine_fini(Fixture *f, const char *id)
{
    BlockBackend *blk = blk_find(id);

    fini(f);
    blk_unref(blk);
}

/* Header, one sector of data, status: descriptors 0-2. */
static void blk_request(Fixture *f, uint32_t type, uint64_t sector)
{
    bool in = type == 0;

    mem_st(f, HDR, 4, type);
    mem_st(f, HDR + 4, 4, 0);
    mem_st(f, HDR + 8, 8, sector);
    mem_st(f, STATUS, 1, 0xee);
    put_desc(f, 0, HDR, 16, 0);
    put_desc(f, 1, BUF, SECTOR, in ? VIRTQ_DESC_F_WRITE : 0);
    put_desc(f, 2, STATUS, 1, VIRTQ_DESC_F_WRITE);
    make_avail(f);
}

static void blk_complete(Fixture *f)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    uint16_t want = mem_ld(f, AVAIL + 2, 2);

    while (used_idx(f) != want && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100);
    }
    g_assert_cmpuint(used_idx(f), ==, want);
    g_assert_cmpuint(mem_ld(f, STATUS, 1), ==, 0);
}

static void test_blk_pci_round_trip(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;
    GError *err = NULL;
    GByteArray *out;
    uint8_t sector[SECTOR];

    make_disk();
    blk_machine(&a, "vd-a");
    map_bars(&a);
    enable_msix(&a, 2);
    driver_init(&a);
    /* the driver turns the write cache off (CONFIG_WCE) */
    mem_st(&a, DEVCFG + 32, 1, 0);
    g_assert_false(blk_enable_write_cache(blk_find("vd-a")));
    blk_request(&a, 0, 3);
    /* taken from the ring and not finished yet: not saved */
    virtio_queue_notify(proxy(&a)->vdev, 0);
    out = g_byte_array_new();
    g_assert_false(vmstate_save_devices(&a.m, out, &err));
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "virtio-blk: 1 requests are in "
                            "flight; the block layer must be drained"));
    g_clear_error(&err);
    g_byte_array_free(out, TRUE);
    blk_complete(&a);
    for (int i = 0; i < SECTOR; i++) {
        g_assert_cmpuint(ram(&a)[BUF + i], ==,
                         (uint8_t)((3 * SECTOR + i) * 7 + 3));
    }

    /* shared storage: the source lets go of the image, the destination
     * takes it (the image's lock allows one writer) */
    sa = vt_save(&a.m);
    ra = read_common(&a);
    g_autofree uint8_t *guest_ram = g_memdup2(ram(&a), RAM_SIZE);
    blk_machine_fini(&a, "vd-a");

    blk_machine(&b, "vd-b");
    g_assert_true(blk_enable_write_cache(blk_find("vd-b")));
    memcpy(ram(&b), guest_ram, RAM_SIZE);
    vt_load(&b.m, sa);
    g_assert_false(blk_enable_write_cache(blk_find("vd-b")));
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY), ==, 1);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    rb = read_common(&b);
    g_assert_cmpstr(rb->str, ==, ra->str);

    /* a write and a read on the loaded machine continue the ring */
    use(&b);
    memset(ram(&b) + BUF, 0x5a, SECTOR);
    blk_request(&b, 1, 9);
    kick_pci(&b);
    blk_complete(&b);
    memset(ram(&b) + BUF, 0, SECTOR);
    blk_request(&b, 0, 9);
    kick_pci(&b);
    blk_complete(&b);
    g_assert_cmpuint(used_idx(&b), ==, 3);
    g_assert_cmpuint(used_len(&b, 2), ==, SECTOR + 1);
    g_assert_cmpuint(ram(&b)[BUF], ==, 0x5a);
    g_assert_cmpuint(b.msis->len, ==, 2);
    FILE *fp = fopen(disk_path, "rb");
    g_assert_nonnull(fp);
    fseek(fp, 9 * SECTOR, SEEK_SET);
    g_assert_cmpuint(fread(sector, 1, SECTOR, fp), ==, SECTOR);
    fclose(fp);
    for (int i = 0; i < SECTOR; i++) {
        g_assert_cmpuint(sector[i], ==, 0x5a);
    }
    blk_machine_fini(&b, "vd-b");
    unlink(disk_path);
    g_clear_pointer(&disk_path, g_free);
}

/* ---- virtio-rng-device on a virtio-mmio transport ---- */

static uint32_t mmio_rd(Fixture *f, hwaddr reg)
{
    return mem_ld(f, MMIO_BASE + reg, 4);
}

static void mmio_wr(Fixture *f, hwaddr reg, uint32_t v)
{
    mem_st(f, MMIO_BASE + reg, 4, v);
}

/* A transport at MMIO_BASE and a rate-limited rng (16 bytes a second). */
static void mmio_machine(Fixture *f)
{
    GError *err = NULL;

    fixture_init(f);
    g_assert_nonnull(x86_create_device(&f->m, TYPE_VIRTIO_MMIO, &err,
                                       "addr", "0xfeb00000", "irq", "5",
                                       NULL));
    g_assert_no_error(err);
    add_device(f, "virtio-rng-device,max-bytes=16,period=1000");
}

static void mmio_driver_init(Fixture *f)
{
    mmio_wr(f, VIRTIO_MMIO_STATUS, 3);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0xb);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
    mmio_wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    mmio_wr(f, VIRTIO_MMIO_STATUS, 0xf);
    mmio_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
}

static void kick_mmio(Fixture *f)
{
    mmio_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    main_loop_run_pending();
}

static GString *read_mmio(Fixture *f)
{
    static const hwaddr regs[] = {
        VIRTIO_MMIO_DEVICE_ID, VIRTIO_MMIO_DEVICE_FEATURES,
        VIRTIO_MMIO_QUEUE_NUM_MAX, VIRTIO_MMIO_QUEUE_READY,
        VIRTIO_MMIO_INTERRUPT_STATUS, VIRTIO_MMIO_STATUS,
        VIRTIO_MMIO_CONFIG_GENERATION,
    };
    GString *s = g_string_new(NULL);

    use(f);
    g_string_append_printf(s, "irq=%d", f->gsi_level[MMIO_GSI]);
    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++) {
        g_string_append_printf(s, " %x", mmio_rd(f, regs[i]));
    }
    return s;
}

/* A request done, the quota spent, a second request waiting for it. */
static void rng_mmio_source(Fixture *a)
{
    mmio_machine(a);
    mmio_driver_init(a);
    rng_request(a);
    kick_mmio(a);
    g_assert_cmpuint(used_idx(a), ==, 1);
    g_assert_cmpuint(used_len(a, 0), ==, 16);
    g_assert_cmpint(a->gsi_level[MMIO_GSI], ==, 1);
    rng_request(a);
    kick_mmio(a);
    g_assert_cmpuint(used_idx(a), ==, 1);
}

static void test_rng_mmio_round_trip(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    g_autoptr(GString) ra = NULL, rb = NULL;
    hwaddr notify = MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY;

    rng_mmio_source(&a);
    mmio_machine(&b);
    g_assert_cmpint(b.gsi_level[MMIO_GSI], ==, 0);
    g_assert_cmpuint(view_eventfds_at(&b, notify), ==, 0);
    migrate(&a, &b, &sa);
    /* the line follows the loaded ISR; the kicks go to the eventfd */
    g_assert_cmpint(b.gsi_level[MMIO_GSI], ==, 1);
    g_assert_cmpuint(view_eventfds_at(&b, notify), ==, 1);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    ra = read_mmio(&a);
    rb = read_mmio(&b);
    g_test_message("%s", rb->str);
    g_assert_cmpstr(rb->str, ==, ra->str);
    fini(&a);

    /* the refill timer came along: the waiting request completes */
    use(&b);
    mmio_wr(&b, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
    g_assert_cmpint(b.gsi_level[MMIO_GSI], ==, 0);
    clock_virtual_step(1000 * 1000000LL);
    g_assert_cmpuint(used_idx(&b), ==, 2);
    g_assert_cmpuint(used_len(&b, 1), ==, 16);
    g_assert_cmpint(b.gsi_level[MMIO_GSI], ==, 1);
    rng_request(&b);
    kick_mmio(&b);
    clock_virtual_step(1000 * 1000000LL);
    g_assert_cmpuint(used_idx(&b), ==, 3);
    fini(&b);
}

static void mmio_exercise(Machine *m, GRand *r)
{
    Fixture *f = (Fixture *)m;

    for (int i = 0; i < 16; i++) {
        uint32_t v = g_rand_int(r);
        hwaddr reg = g_rand_int_range(r, 0, 0x40) * 4;
        switch (g_rand_int_range(r, 0, 4)) {
        case 0:
            mmio_wr(f, reg, v);
            break;
        case 1:
            mmio_rd(f, reg);
            break;
        case 2:
            rng_request(f);
            kick_mmio(f);
            break;
        default:
            mmio_wr(f, VIRTIO_MMIO_INTERRUPT_ACK, v);
            break;
        }
    }
}

static void test_rng_mmio_corrupt_streams_never_crash(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    rng_mmio_source(&a);
    s = vt_save(&use(&a)->m);
    mmio_machine(&b);
    memcpy(ram(&b), ram(&a), RAM_SIZE);
    vt_fuzz(&b.m, s, 1000, mmio_exercise);
    fini(&a);
    fini(&b);
}

static void test_rng_mmio_hostile_stream(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    rng_mmio_source(&a);
    mmio_machine(&b);
    memcpy(ram(&b), ram(&a), RAM_SIZE);
    s = vt_save(&use(&a)->m);

    expect_refused(&b, s, "virtio-rng-device", "rng.quota", 0, 8, 17,
                   "quota 17 is over max-bytes 16");
    expect_refused(&b, s, "virtio-rng-device", "rng.refill_deadline", 0, 8,
                   UINT64_MAX, "quota 0 is short of max-bytes 16 with no "
                   "refill due");
    expect_refused(&b, s, "virtio-mmio",
                   "virtio-mmio/device.vdev.queues[0].num", 0, 2, 65,
                   "ready with size 65, not in 1..64");
    expect_refused(&b, s, "virtio-mmio",
                   "virtio-mmio/device.vdev.queues[0].avail", 0, 8,
                   0x7ffffffe, "are not all in guest RAM");
    expect_refused(&b, s, "virtio-mmio",
                   "virtio-mmio/device.vdev.guest_features", 0, 8,
                   (1ULL << VIRTIO_F_VERSION_1) | 2,
                   "the driver accepted features 0x2 that this virtio-rng "
                   "does not offer");
    /* the transport's failures reset it: the device is back at status 0 */
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_STATUS), ==, 0);
    vt_load(&b.m, s);
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_STATUS), ==, 0xf);
    fini(&a);
    fini(&b);
}

/* ---- virtio-net-pci: the MAC ---- */

static void test_net_pci_mac(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL;

    fixture_init(&a);
    add_device(&a, "virtio-net-pci,mac=52:54:00:aa:bb:01");
    map_bars(&a);
    enable_msix(&a, 3);
    driver_init(&a);
    fixture_init(&b);
    add_device(&b, "virtio-net-pci,mac=52:54:00:aa:bb:02");
    migrate(&a, &b, &sa);
    /* the guest keeps the MAC it knows, as with QEMU */
    g_assert_cmphex(mem_ld(&b, DEVCFG, 4), ==, 0xaa005452);
    g_assert_cmphex(mem_ld(&b, DEVCFG + 4, 2), ==, 0x01bb);
    g_assert_cmphex(mem_ld(&b, DEVCFG + 6, 2), ==, 1);    /* link up */
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY), ==, 1);

    expect_refused(&b, sa, "virtio-net-pci", "net.mac", 0, 1, 0x53,
                   "MAC address 53:54:00:aa:bb:01 is a multicast address");
    expect_refused(&b, sa, "virtio-net-pci", "net.link_status", 0, 2, 3,
                   "link status 0x3: only LINK_UP is defined");
    fini(&a);
    fini(&b);
}

/* ---- virtio-serial-pci: the port and the control queue ---- */

#define SQ_RING(q)      (0x40000 + (q) * 0x1000)
#define SQ_BUF(q, i)    (0x80000 + (q) * 0x1000 + ((i) % QSIZE) * 0x100)
#define SER_CTRL_RXQ    2
#define SER_CTRL_TXQ    3

static void sq_setup(Fixture *f, unsigned q)
{
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_DESCLO, 4, SQ_RING(q));
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_AVAILLO, 4, SQ_RING(q) + 0x400);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_USEDLO, 4, SQ_RING(q) + 0x800);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

/* One buffer of len bytes at SQ_BUF(q, idx) on queue q, kicked. */
static uint64_t sq_post(Fixture *f, unsigned q, uint32_t len, bool writable)
{
    uint64_t avail = SQ_RING(q) + 0x400;
    uint16_t idx = mem_ld(f, avail + 2, 2);
    unsigned d = idx % QSIZE;
    uint64_t buf = SQ_BUF(q, idx);

    mem_st(f, SQ_RING(q) + 16 * d, 8, buf);
    mem_st(f, SQ_RING(q) + 16 * d + 8, 4, len);
    mem_st(f, SQ_RING(q) + 16 * d + 12, 2,
           writable ? VIRTQ_DESC_F_WRITE : 0);
    mem_st(f, avail + 4 + 2 * d, 2, d);
    mem_st(f, avail + 2, 2, (uint16_t)(idx + 1));
    mem_st(f, NOTIFY + q * VIRTIO_PCI_NOTIFY_MULT, 2, q);
    main_loop_run_pending();
    return buf;
}

/* struct virtio_console_control (5.3.6.2) on the control transmitq. */
static void ctrl_msg(Fixture *f, uint32_t id, uint16_t event, uint16_t value)
{
    uint64_t avail = SQ_RING(SER_CTRL_TXQ) + 0x400;
    uint64_t buf = SQ_BUF(SER_CTRL_TXQ, mem_ld(f, avail + 2, 2));

    mem_st(f, buf, 4, id);
    mem_st(f, buf + 4, 2, event);
    mem_st(f, buf + 6, 2, value);
    sq_post(f, SER_CTRL_TXQ, 8, false);
}

static VirtIOSerial *vser(Fixture *f)
{
    return (VirtIOSerial *)proxy(f)->vdev;   /* its vdev comes first */
}

static void serial_machine(Fixture *f, const char *chardev, bool port)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *chr = g_strdup_printf("null,id=%s", chardev);
    g_autofree char *dev = g_strdup_printf(
        "virtserialport,chardev=%s,nr=1,name=org.test.0", chardev);

    if (!chardev_find(chardev)) {
        g_assert_nonnull(chardev_new_from_opts(chr, &err));
        g_assert_no_error(err);
    }
    fixture_init(f);
    add_device(f, "virtio-serial-pci,max_ports=2");
    if (port) {
        add_device(f, dev);
    }
}

/*
 * MULTIPORT negotiated, the control queues and port 1's up, and the
 * handshake done with no control receive buffers posted: the device's
 * answers wait in ctrl_pending.
 */
static void serial_source(Fixture *a)
{
    const uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

    serial_machine(a, "vs-a", true);
    map_bars(a);
    enable_msix(a, 2);
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_STATUS, 1, s);
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_GF, 4, 1u << 1);     /* MULTIPORT */
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_GF, 4, 1);
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           s | VIRTIO_CONFIG_S_FEATURES_OK);
    for (unsigned q = SER_CTRL_RXQ; q <= 5; q++) {
        sq_setup(a, q);
    }
    mem_st(a, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    ctrl_msg(a, 0, 0, 1);               /* DEVICE_READY */
    ctrl_msg(a, 1, 3, 1);               /* PORT_READY */
    ctrl_msg(a, 1, 6, 1);               /* PORT_OPEN */
    g_assert_true(vser(a)->device_ready);
}

static void test_serial_pci_round_trip(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    guint pending;

    serial_source(&a);
    pending = g_queue_get_length(&vser(&a)->ctrl_pending);
    g_assert_cmpuint(pending, >=, 2);   /* DEVICE_ADD, PORT_NAME, ... */

    serial_machine(&b, "vs-b", true);
    migrate(&a, &b, &sa);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    g_assert_true(vser(&b)->device_ready);
    g_assert_cmpuint(g_queue_get_length(&vser(&b)->ctrl_pending), ==,
                     pending);
    g_assert_cmpuint(view_eventfds_at(&b, NOTIFY + 4 * SER_CTRL_TXQ), ==, 1);

    /* the driver posts a buffer: the first message waiting is its own */
    use(&b);
    uint64_t buf = sq_post(&b, SER_CTRL_RXQ, 0x100, true);
    g_assert_cmpuint(mem_ld(&b, SQ_RING(SER_CTRL_RXQ) + 0x800 + 2, 2), ==, 1);
    g_assert_cmpuint(mem_ld(&b, buf, 4), ==, 1);            /* port 1 */
    g_assert_cmpuint(mem_ld(&b, buf + 4, 2), ==, 1);        /* DEVICE_ADD */
    g_assert_cmpuint(g_queue_get_length(&vser(&b)->ctrl_pending), ==,
                     pending - 1);

    /* the ports here must be the stream's */
    fini(&b);
    serial_machine(&b, "vs-b", false);
    vt_load_fails(&b.m, sa, "the stream has 1 ports, virtio-serial-bus.");
    fini(&b);
    serial_machine(&b, "vs-b", true);
    expect_refused(&b, sa, "virtio-serial-pci", "vser.ports[0].nr", 0, 4, 0,
                   "the stream's port 0 is not a port of");
    fini(&a);
    fini(&b);
}

static void serial_exercise(Machine *m, GRand *r)
{
    Fixture *f = (Fixture *)m;

    for (int i = 0; i < 8; i++) {
        uint32_t v = g_rand_int(r);
        switch (g_rand_int_range(r, 0, 4)) {
        case 0:
            ctrl_msg(f, v & 3, (v >> 8) % 8, (v >> 16) & 1);
            break;
        case 1:
            sq_post(f, g_rand_int_range(r, SER_CTRL_RXQ, 6),
                    g_rand_int_range(r, 0, 0x100), v & 1);
            break;
        case 2:
            mem_st(f, COMMON + g_rand_int_range(r, 0, 0x40), 2, v);
            break;
        default:
            mem_ld(f, ISR, 1);
            break;
        }
    }
}

static void test_serial_pci_corrupt_streams_never_crash(void)
{
    Fixture a, b;
    g_autoptr(GByteArray) s = NULL;

    serial_source(&a);
    s = vt_save(&use(&a)->m);
    serial_machine(&b, "vs-b", true);
    memcpy(ram(&b), ram(&a), RAM_SIZE);
    vt_fuzz(&b.m, s, 1000, serial_exercise);
    fini(&a);
    fini(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bql_lock();
    timers_init();
    clock_virtual_set_manual(true);
    g_test_add_func("/virtio-vmstate/rng-pci/round-trip",
                    test_rng_pci_round_trip);
    g_test_add_func("/virtio-vmstate/rng-pci/hostile-stream",
                    test_rng_pci_hostile_stream);
    g_test_add_func("/virtio-vmstate/rng-pci/loaded-broken",
                    test_rng_pci_loaded_broken);
    g_test_add_func("/virtio-vmstate/rng-pci/corrupt-streams-never-crash",
                    test_rng_pci_corrupt_streams_never_crash);
    g_test_add_func("/virtio-vmstate/blk-pci/round-trip",
                    test_blk_pci_round_trip);
    g_test_add_func("/virtio-vmstate/rng-mmio/round-trip",
                    test_rng_mmio_round_trip);
    g_test_add_func("/virtio-vmstate/rng-mmio/hostile-stream",
                    test_rng_mmio_hostile_stream);
    g_test_add_func("/virtio-vmstate/rng-mmio/corrupt-streams-never-crash",
                    test_rng_mmio_corrupt_streams_never_crash);
    g_test_add_func("/virtio-vmstate/net-pci/mac", test_net_pci_mac);
    g_test_add_func("/virtio-vmstate/serial-pci/round-trip",
                    test_serial_pci_round_trip);
    g_test_add_func("/virtio-vmstate/serial-pci/corrupt-streams-never-crash",
                    test_serial_pci_corrupt_streams_never_crash);
    return g_test_run();
}
