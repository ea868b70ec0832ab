/*
 * The modern virtio-pci transport as a driver sees it: identity and the
 * vendor capabilities, feature negotiation and queue set-up through the
 * common configuration, notifications, interrupts by MSI-X vector or INTx
 * with the ISR, the PCI_CFG window, resets, and hostile register accesses.
 */
#include "virtio-pci-driver.h"

/* The vendor capability of cfg_type type, or 0. */
static uint8_t find_vndr_cap(Fixture *f, uint8_t type)
{
    uint8_t pos = cfg_read(f, DEVFN, PCI_CAPABILITY_LIST, 1);

    for (int n = 0; pos && n < 48; n++) {
        if (cfg_read(f, DEVFN, pos, 1) == PCI_CAP_ID_VNDR &&
            cfg_read(f, DEVFN, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1) == type) {
            return pos;
        }
        pos = cfg_read(f, DEVFN, pos + 1, 1);
    }
    return 0;
}

static void plug(Fixture *f, const char *opts)
{
    fixture_init(f);
    add_device(f, opts);
    map_bars(f);
}

/* Feature negotiation (VERSION_1 only) up to FEATURES_OK. */
static void negotiate(Fixture *f)
{
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    g_assert_cmphex(mem_ld(f, COMMON + VIRTIO_PCI_COMMON_DF, 4) & 1, ==, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_GF, 4, 1);    /* VERSION_1 */
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
           VIRTIO_CONFIG_S_FEATURES_OK);
    g_assert_cmphex(mem_ld(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1) &
                    VIRTIO_CONFIG_S_FEATURES_OK, !=, 0);
}

/* Sets up queue 0 with 8 entries and vector, then DRIVER_OK. */
static void setup_queue0(Fixture *f, uint16_t vector)
{
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_DESCLO, 4, DESC);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_AVAILLO, 4, AVAIL);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_USEDLO, 4, USED);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    g_assert_cmpuint(mem_ld(f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2), ==,
                     1);
    mem_st(f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1,
           VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
           VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Posts one 16-byte device-writable buffer on queue 0 and kicks it. */
static void post_buffer_and_notify(Fixture *f)
{
    uint16_t noff = mem_ld(f, COMMON + VIRTIO_PCI_COMMON_Q_NOFF, 2);
    uint16_t idx = mem_ld(f, AVAIL + 2, 2);

    mem_st(f, DESC, 8, BUF);
    mem_st(f, DESC + 8, 4, 16);
    mem_st(f, DESC + 12, 2, VIRTQ_DESC_F_WRITE);
    mem_st(f, DESC + 14, 2, 0);
    mem_st(f, AVAIL + 4 + 2 * (idx % 8), 2, 0);
    mem_st(f, AVAIL + 2, 2, idx + 1);
    mem_st(f, NOTIFY + noff * VIRTIO_PCI_NOTIFY_MULT, 2, 0);
    main_loop_run_pending();
}

static void test_identity_and_capabilities(void)
{
    Fixture f;
    uint8_t cap;

    plug(&f, "virtio-net-pci,mac=52:54:00:01:02:03");
    /* modern-only: 1af4:1041, revision 1, Ethernet class */
    g_assert_cmphex(cfg_read(&f, DEVFN, 0, 4), ==, 0x10411af4);
    g_assert_cmphex(cfg_read(&f, DEVFN, PCI_REVISION_ID, 1), ==, 1);
    g_assert_cmphex(cfg_read(&f, DEVFN, PCI_CLASS_DEVICE, 2), ==, 0x0200);
    g_assert_cmphex(cfg_read(&f, DEVFN, PCI_SUBSYSTEM_VENDOR_ID, 2), ==,
                    0x1af4);
    g_assert_cmphex(cfg_read(&f, DEVFN, PCI_INTERRUPT_PIN, 1), ==, 1);

    static const struct { uint8_t type; uint32_t offset; } caps[] = {
        { VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET },
        { VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET },
        { VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFFSET },
        { VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(caps); i++) {
        cap = find_vndr_cap(&f, caps[i].type);
        g_assert_cmpuint(cap, !=, 0);
        g_assert_cmpuint(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CAP_BAR, 1), ==,
                         VIRTIO_PCI_MEM_BAR);
        g_assert_cmphex(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CAP_OFFSET, 4),
                        ==, caps[i].offset);
    }
    cap = find_vndr_cap(&f, VIRTIO_PCI_CAP_NOTIFY_CFG);
    g_assert_cmpuint(cfg_read(&f, DEVFN, cap + 2, 1), ==,
                     VIRTIO_PCI_NOTIFY_CAP_LEN);
    g_assert_cmpuint(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_NOTIFY_CAP_MULT, 4),
                     ==, VIRTIO_PCI_NOTIFY_MULT);
    cap = find_vndr_cap(&f, VIRTIO_PCI_CAP_DEVICE_CFG);
    g_assert_cmpuint(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CAP_LENGTH, 4), ==,
                     8);     /* virtio-net: mac and status */
    g_assert_cmpuint(find_vndr_cap(&f, VIRTIO_PCI_CAP_PCI_CFG), !=, 0);

    /* the BAR is a 64-bit prefetchable 16 KiB window */
    cfg_write(&f, DEVFN, PCI_BASE_ADDRESS_0 + 16, 4, 0xffffffff);
    g_assert_cmphex(cfg_read(&f, DEVFN, PCI_BASE_ADDRESS_0 + 16, 4), ==,
                    (uint32_t)-VIRTIO_PCI_BAR_SIZE | 0xc);
    cfg_write(&f, DEVFN, PCI_BASE_ADDRESS_0 + 16, 4, (uint32_t)BAR4_ADDR);

    /* the common configuration and the device's */
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_NUMQ, 2), ==, 2);
    g_assert_cmphex(mem_ld(&f, DEVCFG, 4), ==, 0x01005452);
    g_assert_cmphex(mem_ld(&f, DEVCFG + 4, 2), ==, 0x0302);
    /* queue_size reads the maximum until the driver picks one */
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2), ==,
                     256);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2), ==,
                    VIRTIO_MSI_NO_VECTOR);
    fixture_fini(&f);
}

static void test_queue_with_msix(void)
{
    Fixture f;

    plug(&f, "virtio-rng-pci");
    enable_msix(&f, 2);
    negotiate(&f);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2, 0);
    setup_queue0(&f, 1);
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2), ==, 1);
    /* the kick of the running queue goes to its eventfd (ioeventfd=on) */
    g_assert_cmpuint(view_eventfds_at(&f, NOTIFY), ==, 1);
    post_buffer_and_notify(&f);
    /* the buffer was filled and handed back with the queue's vector */
    g_assert_cmpuint(mem_ld(&f, USED + 2, 2), ==, 1);
    g_assert_cmpuint(mem_ld(&f, USED + 8, 4), ==, 16);
    g_assert_cmpuint(f.msis->len, ==, 1);
    g_assert_cmphex(g_array_index(f.msis, Msi, 0).addr, ==, MSI_ADDR);
    g_assert_cmphex(g_array_index(f.msis, Msi, 0).data, ==, 0x41);
    /* INTx stays quiet while MSI-X is on */
    for (int gsi = 0; gsi < X86_NUM_GSI; gsi++) {
        g_assert_cmpint(f.gsi_level[gsi], ==, 0);
    }
    fixture_fini(&f);
}

/* The software CPU has no ioeventfds: the notify write runs the queue. */
static void test_accel_without_ioeventfds(void)
{
    static const AccelOps plain = { .name = "plain",
                                    .send_msi = fake_send_msi };
    Fixture f;

    plug(&f, "virtio-rng-pci");
    f.m.accel = &plain;
    enable_msix(&f, 2);
    negotiate(&f);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2, 0);
    setup_queue0(&f, 1);
    g_assert_cmpuint(view_eventfds_at(&f, NOTIFY), ==, 0);
    post_buffer_and_notify(&f);
    g_assert_cmpuint(mem_ld(&f, USED + 2, 2), ==, 1);
    g_assert_cmpuint(f.msis->len, ==, 1);
    fixture_fini(&f);
}

static int asserted_gsi(Fixture *f)
{
    for (int gsi = 0; gsi < X86_NUM_GSI; gsi++) {
        if (f->gsi_level[gsi]) {
            return gsi;
        }
    }
    return -1;
}

static void test_intx_and_isr(void)
{
    Fixture f;

    plug(&f, "virtio-rng-pci,vectors=0,ioeventfd=off");
    g_assert_cmpuint(pci_find_capability(
                         pci_bus_get_device(pci_bus_find(&f.m, NULL), DEVFN),
                         PCI_CAP_ID_MSIX), ==, 0);
    negotiate(&f);
    setup_queue0(&f, VIRTIO_MSI_NO_VECTOR);
    g_assert_cmpuint(view_eventfds_at(&f, NOTIFY), ==, 0);
    post_buffer_and_notify(&f);
    g_assert_cmpuint(mem_ld(&f, USED + 2, 2), ==, 1);
    g_assert_cmpint(asserted_gsi(&f), >=, 0);
    /* reading the ISR returns the queue bit, clears it, lowers INTx */
    g_assert_cmphex(mem_ld(&f, ISR, 1), ==, VIRTIO_ISR_QUEUE);
    g_assert_cmpint(asserted_gsi(&f), ==, -1);
    g_assert_cmphex(mem_ld(&f, ISR, 1), ==, 0);
    g_assert_cmpuint(f.msis->len, ==, 0);
    fixture_fini(&f);
}

/* 4.1.5.1.2: a vector the function lacks reads back as NO_VECTOR. */
static void test_vector_out_of_range(void)
{
    Fixture f;

    plug(&f, "virtio-rng-pci,vectors=2");
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2, 2);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2), ==,
                    VIRTIO_MSI_NO_VECTOR);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2), ==, 1);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2, 0x7ff);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2), ==,
                    VIRTIO_MSI_NO_VECTOR);
    fixture_fini(&f);
}

static void window_set(Fixture *f, uint8_t cap, uint8_t bar, uint32_t offset,
                       uint32_t len)
{
    cfg_write(f, DEVFN, cap + VIRTIO_PCI_CAP_BAR, 1, bar);
    cfg_write(f, DEVFN, cap + VIRTIO_PCI_CAP_OFFSET, 4, offset);
    cfg_write(f, DEVFN, cap + VIRTIO_PCI_CAP_LENGTH, 4, len);
}

static void test_pci_cfg_window(void)
{
    Fixture f;
    uint8_t cap;

    plug(&f, "virtio-net-pci,mac=52:54:00:01:02:03");
    cap = find_vndr_cap(&f, VIRTIO_PCI_CAP_PCI_CFG);
    /* reads and writes through the window reach BAR 4, even unmapped */
    cfg_write(&f, DEVFN, PCI_COMMAND, 2, 0);
    window_set(&f, cap, VIRTIO_PCI_MEM_BAR, VIRTIO_PCI_COMMON_NUMQ, 2);
    g_assert_cmphex(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CFG_CAP_DATA, 2),
                    ==, 2);
    window_set(&f, cap, VIRTIO_PCI_MEM_BAR, VIRTIO_PCI_COMMON_STATUS, 1);
    cfg_write(&f, DEVFN, cap + VIRTIO_PCI_CFG_CAP_DATA, 4,
              VIRTIO_CONFIG_S_ACKNOWLEDGE);
    g_assert_cmphex(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CFG_CAP_DATA, 1),
                    ==, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    window_set(&f, cap, VIRTIO_PCI_MEM_BAR, VIRTIO_PCI_DEVICE_OFFSET, 4);
    g_assert_cmphex(cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CFG_CAP_DATA, 4),
                    ==, 0x01005452);

    /* a malformed window does nothing: wrong BAR, length, alignment, end */
    static const uint32_t bad[][3] = {
        { 0, VIRTIO_PCI_COMMON_STATUS, 1 },
        { VIRTIO_PCI_MEM_BAR, VIRTIO_PCI_COMMON_STATUS, 3 },
        { VIRTIO_PCI_MEM_BAR, VIRTIO_PCI_COMMON_NUMQ + 1, 2 },
        { VIRTIO_PCI_MEM_BAR, VIRTIO_PCI_BAR_SIZE, 1 },
        { VIRTIO_PCI_MEM_BAR, 0xfffffffc, 4 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        window_set(&f, cap, bad[i][0], bad[i][1], bad[i][2]);
        cfg_write(&f, DEVFN, cap + VIRTIO_PCI_CFG_CAP_DATA, 4, 0);
        cfg_read(&f, DEVFN, cap + VIRTIO_PCI_CFG_CAP_DATA, 4);
    }
    cfg_write(&f, DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1), ==,
                    VIRTIO_CONFIG_S_ACKNOWLEDGE);
    fixture_fini(&f);
}

static void test_reset(void)
{
    Fixture f;

    plug(&f, "virtio-rng-pci");
    enable_msix(&f, 2);
    negotiate(&f);
    setup_queue0(&f, 1);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2, 0);
    g_assert_cmpuint(view_eventfds_at(&f, NOTIFY), ==, 1);
    /* status 0: the queue and the vectors are back to their reset values */
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1, 0);
    g_assert_cmpuint(view_eventfds_at(&f, NOTIFY), ==, 0);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1), ==, 0);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_MSIX, 2), ==,
                    VIRTIO_MSI_NO_VECTOR);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2), ==,
                    VIRTIO_MSI_NO_VECTOR);
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2), ==,
                     0);
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2), ==, 64);
    /* machine reset: decoding off and the device at status 0 */
    negotiate(&f);
    reset_all(&f);
    g_assert_cmphex(cfg_read(&f, DEVFN, PCI_COMMAND, 2), ==, 0);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_NUMQ, 2), !=, 1);
    map_bars(&f);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1), ==, 0);
    fixture_fini(&f);
}

static void test_hostile_accesses(void)
{
    Fixture f;

    plug(&f, "virtio-rng-pci");
    /* wrong widths are ignored */
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 4, 0);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 2,
           VIRTIO_CONFIG_S_ACKNOWLEDGE);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1), ==, 0);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_NUMQ, 1), ==, 0);
    g_assert_cmphex(mem_ld(&f, COMMON + 0x3e, 2), ==, 0);
    /* read-only fields stay */
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_NUMQ, 2, 9);
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_NUMQ, 2), ==, 1);
    /* a queue that does not exist: size 0, writes go nowhere */
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0xffff);
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2), ==, 0);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
    g_assert_cmpuint(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2), ==,
                     0);
    /* notifications of absent queues and before DRIVER_OK */
    for (unsigned q = 0; q < VIRTIO_PCI_REGION_SIZE; q += 2) {
        mem_st(&f, NOTIFY + q, 2, q);
    }
    mem_st(&f, ISR, 1, 0xff);
    /* a queue size over the maximum puts the device in NEEDS_RESET */
    negotiate(&f);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 2, 4096);
    mem_st(&f, COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    g_assert_cmphex(mem_ld(&f, COMMON + VIRTIO_PCI_COMMON_STATUS, 1) &
                    VIRTIO_CONFIG_S_NEEDS_RESET, !=, 0);
    fixture_fini(&f);
}

static void test_bad_properties(void)
{
    Fixture f;
    GError *err = NULL;

    fixture_init(&f);
    g_assert_null(device_create_from_opts(&f.m, "virtio-rng-pci,vectors=4096",
                                          &err));
    g_assert_nonnull(strstr(err->message, "vectors=4096"));
    g_clear_error(&err);
    g_assert_null(device_create_from_opts(&f.m, "virtio-rng-pci,addr=0",
                                          &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    fixture_fini(&f);
}

/* -global: a default every later device of the type takes. */
static void test_global_property(void)
{
    Fixture f;
    GError *err = NULL;

    g_assert_true(device_add_global("virtio-rng-pci.vectors=0", &err));
    g_assert_false(device_add_global("virtio-rng-pci.vectors=x", &err));
    g_assert_nonnull(strstr(err->message, "-global virtio-rng-pci.vectors=x"));
    g_clear_error(&err);
    g_assert_false(device_add_global("virtio-rng-pci", &err));
    g_clear_error(&err);
    plug(&f, "virtio-rng-pci");
    g_assert_cmpuint(pci_find_capability(
                         pci_bus_get_device(pci_bus_find(&f.m, NULL), DEVFN),
                         PCI_CAP_ID_MSIX), ==, 0);
    fixture_fini(&f);
    device_clear_globals();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-pci/identity-and-capabilities",
                    test_identity_and_capabilities);
    g_test_add_func("/virtio-pci/queue-with-msix", test_queue_with_msix);
    g_test_add_func("/virtio-pci/accel-without-ioeventfds",
                    test_accel_without_ioeventfds);
    g_test_add_func("/virtio-pci/intx-and-isr", test_intx_and_isr);
    g_test_add_func("/virtio-pci/vector-out-of-range",
                    test_vector_out_of_range);
    g_test_add_func("/virtio-pci/pci-cfg-window", test_pci_cfg_window);
    g_test_add_func("/virtio-pci/reset", test_reset);
    g_test_add_func("/virtio-pci/hostile-accesses", test_hostile_accesses);
    g_test_add_func("/virtio-pci/bad-properties", test_bad_properties);
    g_test_add_func("/virtio-pci/global-property", test_global_property);
    return g_test_run();
}
