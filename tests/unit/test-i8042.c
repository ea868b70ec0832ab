/* The 8042 controller and port 0x92 as a guest drives them, and as a hostile
 * guest might: reset lines, the command byte, and arbitrary writes. */
#include "hw/device.h"
#include "io-machine.h"
#include "system/vm.h"

static int irq_level[X86_NUM_GSI];

static void gsi_handler(void *opaque, int n, int level)
{
    irq_level[n] = level;
}

static void setup(Machine *m, MemoryRegion *io)
{
    io_machine_init(m, io, gsi_handler);
    g_assert_nonnull(x86_create_device(m, "i8042", NULL, NULL));
    g_assert_nonnull(x86_create_device(m, "port92", NULL, NULL));
    vm_take_reset_request();
}

static uint8_t inb(Machine *m, uint16_t port)
{
    uint64_t v;
    address_space_ld(&m->as_io, port, 1, &v);
    return v;
}

static void outb(Machine *m, uint16_t port, uint8_t v)
{
    address_space_st(&m->as_io, port, 1, v);
}

static void test_self_test_and_command_byte(void)
{
    Machine m;
    MemoryRegion io;

    setup(&m, &io);
    outb(&m, 0x64, 0xaa);
    g_assert_cmphex(inb(&m, 0x64) & 0x01, ==, 0x01);
    g_assert_cmphex(inb(&m, 0x60), ==, 0x55);
    g_assert_cmphex(inb(&m, 0x64) & 0x01, ==, 0);

    /* write the command byte with the keyboard interrupt on, read it back */
    outb(&m, 0x64, 0x60);
    outb(&m, 0x60, 0x45);
    outb(&m, 0x64, 0x20);
    g_assert_cmpint(irq_level[1], ==, 1);
    g_assert_cmphex(inb(&m, 0x60), ==, 0x45);
    g_assert_cmpint(irq_level[1], ==, 0);

    /* the keyboard answers identify: ack, 0xab, 0x83 translated to 0x41 */
    outb(&m, 0x60, 0xf2);
    g_assert_cmphex(inb(&m, 0x64) & 0x41, ==, 0x01);
    g_assert_cmphex(inb(&m, 0x60), ==, 0xfa);
    g_assert_cmphex(inb(&m, 0x60), ==, 0xab);
    g_assert_cmphex(inb(&m, 0x60), ==, 0x41);
    g_assert_cmphex(inb(&m, 0x64) & 0x01, ==, 0);
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_NONE);
    io_machine_fini(&m, &io);
}

static void test_reset_lines(void)
{
    Machine m;
    MemoryRegion io;

    setup(&m, &io);
    outb(&m, 0x64, 0xfe);       /* pulse the reset line */
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_GUEST_RESET);
    outb(&m, 0x64, 0xd1);       /* output port with bit 0 low */
    outb(&m, 0x60, 0x02);
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_GUEST_RESET);
    outb(&m, 0x92, 0x02);       /* A20 only: no reset */
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_NONE);
    g_assert_cmphex(inb(&m, 0x92), ==, 0x02);
    outb(&m, 0x92, 0x03);       /* fast reset */
    g_assert_cmpint(vm_take_reset_request(), ==, SHUTDOWN_GUEST_RESET);
    io_machine_fini(&m, &io);
}

static void test_random_access_is_harmless(void)
{
    static const uint16_t ports[] = { 0x60, 0x64, 0x92 };
    Machine m;
    MemoryRegion io;
    GRand *r = g_rand_new_with_seed(42);

    setup(&m, &io);
    for (int i = 0; i < 100000; i++) {
        uint16_t port = ports[g_rand_int_range(r, 0, 3)];
        unsigned size = 1u << g_rand_int_range(r, 0, 3);
        uint64_t v = g_rand_int(r);
        if (g_rand_boolean(r)) {
            address_space_st(&m.as_io, port, size, v);
        } else {
            address_space_ld(&m.as_io, port, size, &v);
        }
        vm_take_reset_request();
    }
    g_rand_free(r);
    io_machine_fini(&m, &io);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/i8042/self-test-and-command-byte",
                    test_self_test_and_command_byte);
    g_test_add_func("/i8042/reset-lines", test_reset_lines);
    g_test_add_func("/i8042/random-access-is-harmless",
                    test_random_access_is_harmless);
    return g_test_run();
}
