/*
 * MSI irqfds (accel_msi_irqfd_add/update/remove): an eventfd that raises
 * an MSI each time it is signalled. Without an accelerator that delivers
 * them itself (software CPU, KVM with kernel-irqchip=off) the main loop
 * reads the eventfd and calls send_msi; with KVM's LAPICs the kernel
 * delivers it through an MSI route and KVM_IRQFD, checked on a real VM
 * where /dev/kvm lets us create one.
 */
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "../../accel/kvm/kvm_int.h"   /* the vCPU's fd, for KVM_GET_LAPIC */
#include "hw/i386/x86.h"
#include "irqchip-machine.h"
#include "system/runstate.h"
#include "system/vm.h"

#define MSI_ADDR(apic_id) (0xfee00000ULL | ((uint64_t)(apic_id) << 12))
#define SVR     0xf0
#define IRR     0x200

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

static void main_loop_run_pending(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

/* --- the fallback, with an accelerator that only has send_msi --- */

typedef struct SentMSI {
    int count;
    uint64_t addr;
    uint32_t data;
} SentMSI;

static SentMSI sent;

static void record_msi(Machine *m, uint64_t addr, uint32_t data)
{
    sent.count++;
    sent.addr = addr;
    sent.data = data;
}

static const AccelOps send_msi_only = {
    .name = "test",
    .send_msi = record_msi,
};

static void test_fallback_calls_send_msi(void)
{
    Machine m = { .accel = &send_msi_only };
    GError *err = NULL;
    int fd = new_eventfd();

    sent = (SentMSI){ 0 };
    AccelIrqfd *irqfd = accel_msi_irqfd_add(&m, MSI_ADDR(1), 0x4031, fd,
                                            &err);
    g_assert_no_error(err);
    g_assert_nonnull(irqfd);
    g_assert_cmpint(irqfd->gsi, ==, -1);

    /* delivered by the main loop: nothing before it runs */
    eventfd_write(fd, 1);
    g_assert_cmpint(sent.count, ==, 0);
    main_loop_run_pending();
    g_assert_cmpint(sent.count, ==, 1);
    g_assert_cmphex(sent.addr, ==, MSI_ADDR(1));
    g_assert_cmphex(sent.data, ==, 0x4031);
    /* nothing signalled, nothing sent */
    main_loop_run_pending();
    g_assert_cmpint(sent.count, ==, 1);

    /* the driver moved the vector: the next one carries the new message */
    g_assert_true(accel_msi_irqfd_update(irqfd, MSI_ADDR(2), 0x45, &err));
    eventfd_write(fd, 1);
    main_loop_run_pending();
    g_assert_cmpint(sent.count, ==, 2);
    g_assert_cmphex(sent.addr, ==, MSI_ADDR(2));
    g_assert_cmphex(sent.data, ==, 0x45);

    /* removed: signals go nowhere, and fd stays the caller's */
    accel_msi_irqfd_remove(irqfd);
    eventfd_write(fd, 1);
    main_loop_run_pending();
    g_assert_cmpint(sent.count, ==, 2);
    eventfd_t left;
    g_assert_cmpint(eventfd_read(fd, &left), ==, 0);
    g_assert_cmpuint(left, ==, 1);
    close(fd);
}

/* The software CPU: the MSI reaches Vireo's LAPIC through send_msi. */
static void test_fallback_tcg_lapic(void)
{
    IrqTestMachine tm;
    Machine *m = itm_init(&tm, 1);
    GError *err = NULL;
    int fd = new_eventfd();

    m->accel = &tcg_accel_ops;
    lapic_write(m, 0, SVR, 0x1ff);
    AccelIrqfd *irqfd = accel_msi_irqfd_add(m, MSI_ADDR(0), 0x51, fd, &err);
    g_assert_no_error(err);
    g_assert_false(cpu_has(m, 0, CPU_INTERRUPT_HARD));
    eventfd_write(fd, 1);
    main_loop_run_pending();
    g_assert_true(cpu_has(m, 0, CPU_INTERRUPT_HARD));
    g_assert_cmphex(lapic_read(m, 0, IRR + 0x10 * (0x51 / 32)) &
                    (1u << (0x51 % 32)), !=, 0);
    g_assert_cmpint(apic_get_interrupt(m->cpus[0]->apic), ==, 0x51);
    accel_msi_irqfd_remove(irqfd);
    close(fd);
    itm_fini(&tm);
}

/* --- KVM --- */

/* A one-vCPU pc machine on KVM (halting multiboot kernel), or NULL. */
static Machine *kvm_machine(KernelIrqchip irqchip, char **kernel,
                            GError **errp)
{
    uint32_t image[12] = {
        0x1badb002, 0x10000, -(0x1badb002u + 0x10000),
        0x100000, 0x100000, 0, 0, 0x100020,    /* header, load, entry */
        0xfdebf4f4,                            /* hlt; hlt; jmp -3 */
    };
    int fd = g_file_open_tmp("vireo-irqfd-XXXXXX", kernel, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, image, sizeof(image)), ==, sizeof(image));
    close(fd);
    MachineConfig cfg = {
        .machine_type = "pc", .accel = "kvm", .cpu_model = "host",
        .ram_size = 32 << 20, .smp_cpus = 1, .smp_max_cpus = 1,
        .sockets = 1, .cores = 1, .threads = 1, .nodefaults = true,
        .kernel = *kernel, .kernel_irqchip = irqchip,
    };
    return machine_create(&cfg, errp);
}

static bool kvm_lapic(Machine *m, struct kvm_lapic_state *st, bool set)
{
    KVMVCPU *v = m->cpus[0]->accel;
    return ioctl(v->fd, set ? KVM_SET_LAPIC : KVM_GET_LAPIC, st) == 0;
}

static uint32_t lapic_reg(const struct kvm_lapic_state *st, unsigned reg)
{
    uint32_t v;
    memcpy(&v, st->regs + reg, 4);
    return v;
}

static bool kvm_irr_now(Machine *m, uint8_t vector)
{
    struct kvm_lapic_state st;

    g_assert_true(kvm_lapic(m, &st, false));
    return lapic_reg(&st, IRR + 0x10 * (vector / 32)) & (1u << (vector % 32));
}

/* Whether KVM's LAPIC of vCPU 0 has vector pending, within a second. */
static bool kvm_irr_has(Machine *m, uint8_t vector)
{
    for (int i = 0; i < 1000; i++) {
        if (kvm_irr_now(m, vector)) {
            return true;
        }
        g_usleep(1000);
    }
    return false;
}

/* Software-enables KVM's LAPIC of vCPU 0 with nothing pending. */
static void kvm_lapic_clear(Machine *m)
{
    struct kvm_lapic_state st;
    uint32_t svr = 0x1ff;

    g_assert_true(kvm_lapic(m, &st, false));
    memcpy(st.regs + SVR, &svr, 4);
    memset(st.regs + IRR, 0, 0x80);
    g_assert_true(kvm_lapic(m, &st, true));
}

/*
 * With KVM's LAPICs (kernel-irqchip=on or split) the kernel delivers: an
 * MSI route at a GSI above the IOAPIC's, and the vector lands in the
 * LAPIC's IRR with no Vireo thread (the main loop never runs here).
 */
static void test_kvm_in_kernel(gconstpointer data)
{
    GError *err = NULL;
    char *kernel = NULL;
    int fd = new_eventfd();

    bql_lock();
    Machine *m = kvm_machine(GPOINTER_TO_INT(data), &kernel, &err);
    g_unlink(kernel);
    g_free(kernel);
    if (!m) {
        g_test_skip(err->message);
        g_clear_error(&err);
        bql_unlock();
        close(fd);
        return;
    }
    kvm_lapic_clear(m);
    AccelIrqfd *irqfd = accel_msi_irqfd_add(m, MSI_ADDR(0), 0x61, fd, &err);
    g_assert_no_error(err);
    g_assert_cmpint(irqfd->gsi, >=, X86_NUM_GSI);
    g_assert_false(kvm_irr_now(m, 0x61));
    eventfd_write(fd, 1);
    g_assert_true(kvm_irr_has(m, 0x61));

    /* a second irqfd gets its own route */
    int fd2 = new_eventfd();
    AccelIrqfd *irqfd2 = accel_msi_irqfd_add(m, MSI_ADDR(0), 0x62, fd2,
                                             &err);
    g_assert_no_error(err);
    g_assert_cmpint(irqfd2->gsi, !=, irqfd->gsi);

    /* the route follows the message */
    kvm_lapic_clear(m);
    g_assert_true(accel_msi_irqfd_update(irqfd, MSI_ADDR(0), 0x71, &err));
    g_assert_no_error(err);
    eventfd_write(fd, 1);
    g_assert_true(kvm_irr_has(m, 0x71));
    eventfd_write(fd2, 1);
    g_assert_true(kvm_irr_has(m, 0x62));

    /* removed: the signal stays in the eventfd, no interrupt */
    kvm_lapic_clear(m);
    accel_msi_irqfd_remove(irqfd);
    eventfd_write(fd, 1);
    g_usleep(20000);
    g_assert_false(kvm_irr_now(m, 0x71));
    accel_msi_irqfd_remove(irqfd2);

    machine_destroy(m);
    bql_unlock();
    close(fd);
    close(fd2);
}

/* kernel-irqchip=off: Vireo's LAPICs, so the main loop delivers. */
static void test_kvm_irqchip_off_falls_back(void)
{
    GError *err = NULL;
    char *kernel = NULL;
    int fd = new_eventfd();

    bql_lock();
    Machine *m = kvm_machine(KERNEL_IRQCHIP_OFF, &kernel, &err);
    g_unlink(kernel);
    g_free(kernel);
    if (!m) {
        g_test_skip(err->message);
        g_clear_error(&err);
        bql_unlock();
        close(fd);
        return;
    }
    lapic_write(m, 0, SVR, 0x1ff);
    AccelIrqfd *irqfd = accel_msi_irqfd_add(m, MSI_ADDR(0), 0x55, fd, &err);
    g_assert_no_error(err);
    g_assert_cmpint(irqfd->gsi, ==, -1);
    eventfd_write(fd, 1);
    g_assert_false(cpu_has(m, 0, CPU_INTERRUPT_HARD));
    main_loop_run_pending();
    g_assert_true(cpu_has(m, 0, CPU_INTERRUPT_HARD));
    g_assert_cmpint(apic_get_interrupt(m->cpus[0]->apic), ==, 0x55);
    accel_msi_irqfd_remove(irqfd);
    machine_destroy(m);
    bql_unlock();
    close(fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/accel-irqfd/fallback/send-msi",
                    test_fallback_calls_send_msi);
    g_test_add_func("/accel-irqfd/fallback/tcg-lapic",
                    test_fallback_tcg_lapic);
    g_test_add_data_func("/accel-irqfd/kvm/in-kernel",
                         GINT_TO_POINTER(KERNEL_IRQCHIP_ON),
                         test_kvm_in_kernel);
    g_test_add_data_func("/accel-irqfd/kvm/split",
                         GINT_TO_POINTER(KERNEL_IRQCHIP_SPLIT),
                         test_kvm_in_kernel);
    g_test_add_func("/accel-irqfd/kvm/irqchip-off-falls-back",
                    test_kvm_irqchip_off_falls_back);
    return g_test_run();
}
