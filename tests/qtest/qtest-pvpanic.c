/*
 * pvpanic (QEMU's docs/specs/pvpanic.rst): the events register at port
 * 0x505 (or BAR0 of pvpanic-pci), and what a reported panic does under
 * each -action panic=, with QEMU's GUEST_PANICKED / GUEST_CRASHLOADED.
 */
#include <string.h>

#include "libqtest.h"
#include "pci.h"

#define PVPANIC_PORT 0x505

/* The event's "action", checked to be its only data besides it. */
static void assert_event(QTestState *s, const char *name,
                         const char *action)
{
    json_t *ev = qtest_qmp_eventwait_ref(s, name);
    json_t *data = json_object_get(ev, "data");

    g_assert_cmpstr(json_string_value(json_object_get(data, "action")), ==,
                    action);
    json_decref(ev);
}

static void assert_status(QTestState *s, const char *status)
{
    json_t *r = qtest_query_status(s);

    g_assert_cmpstr(json_string_value(json_object_get(r, "status")), ==,
                    status);
    json_decref(r);
}

static void test_read_events(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic");

    g_assert_cmphex(qtest_inb(s, PVPANIC_PORT), ==, 0x03);
    qtest_quit(s);
}

static void test_panic_pause(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic -action panic=pause");

    qtest_outb(s, PVPANIC_PORT, 1);
    assert_event(s, "GUEST_PANICKED", "pause");
    assert_status(s, "guest-panicked");
    g_assert_true(qtest_alive(s));
    qtest_quit(s);
}

/* QEMU's default, panic=shutdown: poweroff, and vireo exits with 0. */
static void test_panic_default_shutdown(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic");

    qtest_send(s, "outb 0x505 0x1");
    assert_event(s, "GUEST_PANICKED", "poweroff");
    g_assert_cmpint(qtest_wait_exit(s, QTEST_TIMEOUT_S * 1000), ==, 0);
    qtest_quit(s);
}

/* -no-shutdown turns panic=shutdown into a pause, as in QEMU. */
static void test_panic_no_shutdown(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic -no-shutdown");

    qtest_outb(s, PVPANIC_PORT, 1);
    assert_event(s, "GUEST_PANICKED", "pause");
    g_assert_true(qtest_alive(s));
    qtest_quit(s);
}

static void test_panic_exit_failure(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic "
                               "-action panic=exit-failure");

    qtest_send(s, "outb 0x505 0x1");
    assert_event(s, "GUEST_PANICKED", "poweroff");
    g_assert_cmpint(qtest_wait_exit(s, QTEST_TIMEOUT_S * 1000), ==, 1);
    qtest_quit(s);
}

static void test_panic_none(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic -action panic=none");
    json_t *before = qtest_query_status(s);
    const char *was = json_string_value(json_object_get(before, "status"));

    qtest_outb(s, PVPANIC_PORT, 1);
    assert_event(s, "GUEST_PANICKED", "run");
    assert_status(s, was);
    json_decref(before);
    qtest_quit(s);
}

static void test_crash_loaded(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic -action panic=pause");

    qtest_outb(s, PVPANIC_PORT, 2);
    assert_event(s, "GUEST_CRASHLOADED", "run");
    g_assert_true(qtest_alive(s));
    qtest_quit(s);
}

/*
 * Bits the device does not offer do nothing (events=1 offers PANICKED
 * only; 0xfc are no events at all); a panic after them still counts.
 */
static void test_unoffered_events_ignored(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic,ioport=0x600,events=1 "
                               "-action panic=pause");

    g_assert_cmphex(qtest_inb(s, 0x600), ==, 0x01);
    g_assert_cmphex(qtest_inb(s, PVPANIC_PORT), ==, 0xff);
    qtest_outb(s, 0x600, 0xfe);
    qtest_outb(s, 0x600, 0x02);
    qtest_clock_step(s, 1000000);
    qtest_outb(s, 0x600, 0x03);
    /* the first event to arrive is the panic, not a crash-loaded */
    json_t *ev = qtest_qmp_eventwait_ref(s, "GUEST_PANICKED");
    json_decref(ev);
    qtest_quit(s);
}

static void find_pvpanic_pci(QPCIDevice *dev, int devfn, void *data)
{
    *(QPCIDevice **)data = dev;
}

static void test_pci(void)
{
    QTestState *s = qtest_init("-M pc -device pvpanic-pci "
                               "-action panic=pause");
    QPCIBus *bus = qpci_new_pc(s);
    QPCIDevice *dev = NULL;
    QPCIBar bar;

    qpci_device_foreach(bus, 0x1b36, 0x0011, find_pvpanic_pci, &dev);
    g_assert_nonnull(dev);
    g_assert_cmphex(qpci_config_readw(dev, PCI_CLASS_DEVICE), ==, 0x0880);
    qpci_device_enable(dev);
    bar = qpci_iomap(dev, 0, NULL);
    g_assert_cmphex(qpci_io_readb(dev, bar, 0), ==, 0x03);
    qpci_io_writeb(dev, bar, 0, 1);
    assert_event(s, "GUEST_PANICKED", "pause");
    g_free(dev);
    qpci_free(bus);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/pvpanic/read-events", test_read_events);
    g_test_add_func("/qtest/pvpanic/panic-pause", test_panic_pause);
    g_test_add_func("/qtest/pvpanic/panic-default-shutdown",
                    test_panic_default_shutdown);
    g_test_add_func("/qtest/pvpanic/panic-no-shutdown",
                    test_panic_no_shutdown);
    g_test_add_func("/qtest/pvpanic/panic-exit-failure",
                    test_panic_exit_failure);
    g_test_add_func("/qtest/pvpanic/panic-none", test_panic_none);
    g_test_add_func("/qtest/pvpanic/crash-loaded", test_crash_loaded);
    g_test_add_func("/qtest/pvpanic/unoffered-events-ignored",
                    test_unoffered_events_ignored);
    g_test_add_func("/qtest/pvpanic/pci", test_pci);
    return g_test_run();
}
