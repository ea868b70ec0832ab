/*
 * The KVM accelerator: VM and vCPU file descriptors, memory slots from the
 * memory API's listener, the in-kernel irqchip and PIT (or Vireo's own,
 * kvm-irqchip.c), irqfds and ioeventfds (kvm-eventfd.c), CPUID and MSRs,
 * reset state, and the vCPU run loop. Follows Documentation/virt/kvm/api.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hw/i386/x86.h"
#include "hw/intc/x86-irqchip.h"
#include "system/accel.h"
#include "system/vm.h"
#include "util/log.h"
#include "util/opts.h"
#include "kvm_int.h"


int kvm_ioctl_retry(int fd, unsigned long req, void *arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r;
}

bool kvm_fail(GError **errp, const char *what)
{
    g_set_error(errp, VIREO_ERROR, 0, "KVM: %s failed: %s", what,
                g_strerror(errno));
    return false;
}

static int kvm_check_cap(KVMState *s, int cap)
{
    int r = ioctl(s->vm_fd >= 0 ? s->vm_fd : s->fd, KVM_CHECK_EXTENSION,
                  cap);
    return r < 0 ? 0 : r;
}

/* --- memory slots --- */

static void kvm_slot_commit(KVMState *s, int i)
{
    KVMSlot *slot = &s->slots[i];
    struct kvm_userspace_memory_region r = {
        .slot = i,
        .flags = slot->flags,
        .guest_phys_addr = slot->start,
        .memory_size = slot->used ? slot->size : 0,
        .userspace_addr = (uintptr_t)slot->host,
    };
    if (ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        log_error("KVM: cannot map guest memory 0x%" G_GINT64_MODIFIER
                  "x+0x%" G_GINT64_MODIFIER "x: %s",
                  slot->start, slot->size, g_strerror(errno));
        vm_request_shutdown(SHUTDOWN_HOST_ERROR, 1);
    }
}

static void kvm_region_add(MemoryListener *l, const FlatRange *fr)
{
    KVMState *s = container_of(l, KVMState, listener);

    if (fr->readonly && !s->readonly_mem) {
        return; /* stays MMIO: reads and writes exit to us */
    }
    for (int i = 0; i < s->nr_slots; i++) {
        if (!s->slots[i].used) {
            s->slots[i] = (KVMSlot){
                .used = true,
                .start = fr->start,
                .size = fr->size,
                .host = fr->mr->ram + fr->offset,
                .flags = (fr->readonly ? KVM_MEM_READONLY : 0) |
                         (fr->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0),
            };
            kvm_slot_commit(s, i);
            return;
        }
    }
    log_error("KVM: out of memory slots (%d)", s->nr_slots);
    vm_request_shutdown(SHUTDOWN_HOST_ERROR, 1);
}

/*
 * Fetches the pages the guest wrote in a slot with KVM_MEM_LOG_DIRTY_PAGES
 * since the last call (KVM_GET_DIRTY_LOG clears KVM's bitmap: we never
 * enable KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) and marks them in fr's region.
 */
static void kvm_slot_sync_dirty(KVMState *s, int i, const FlatRange *fr)
{
    uint64_t npages = (s->slots[i].size + 0xfff) >> 12;
    /* a bit per page, in longs as the kernel writes it */
    uint64_t *bitmap = g_new0(uint64_t, (npages + 63) / 64);
    struct kvm_dirty_log log;

    memset(&log, 0, sizeof(log));   /* the padding too, as api.rst asks */
    log.slot = i;
    log.dirty_bitmap = bitmap;
    if (kvm_ioctl_retry(s->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
        /* the writes are unknown: all of it may have changed */
        log_error_once("KVM: KVM_GET_DIRTY_LOG failed: %s",
                       g_strerror(errno));
        memory_region_set_dirty(fr->mr, fr->offset, fr->size);
    } else {
        for (uint64_t p = 0; p < npages; p++) {
            if (bitmap[p / 64] & (1ULL << (p % 64))) {
                memory_region_set_dirty(fr->mr, fr->offset + (p << 12),
                                        0x1000);
            }
        }
    }
    g_free(bitmap);
}

static int kvm_slot_of(KVMState *s, const FlatRange *fr)
{
    for (int i = 0; i < s->nr_slots; i++) {
        if (s->slots[i].used && s->slots[i].start == fr->start &&
            s->slots[i].size == fr->size) {
            return i;
        }
    }
    return -1;
}

static void kvm_log_sync(MemoryListener *l, const FlatRange *fr)
{
    KVMState *s = container_of(l, KVMState, listener);
    int i = kvm_slot_of(s, fr);

    if (i >= 0 && (s->slots[i].flags & KVM_MEM_LOG_DIRTY_PAGES)) {
        kvm_slot_sync_dirty(s, i, fr);
    }
}

static void kvm_region_del(MemoryListener *l, const FlatRange *fr)
{
    KVMState *s = container_of(l, KVMState, listener);

    for (int i = 0; i < s->nr_slots; i++) {
        if (s->slots[i].used && s->slots[i].start == fr->start &&
            s->slots[i].size == fr->size) {
            if (s->slots[i].flags & KVM_MEM_LOG_DIRTY_PAGES) {
                /* what the slot logged would go with it */
                kvm_slot_sync_dirty(s, i, fr);
            }
            s->slots[i].used = false;
            kvm_slot_commit(s, i);
            return;
        }
    }
}

static void kvm_memory_listen(Machine *m, AddressSpace *as)
{
    KVMState *s = kvm_state(m);
    s->listener.region_add = kvm_region_add;
    s->listener.region_del = kvm_region_del;
    s->listener.log_sync = kvm_log_sync;
    kvm_ioeventfd_listen(s);
    address_space_add_listener(as, &s->listener);
}

/* --- VM creation --- */

static bool kvm_open(KVMState *s, GError **errp)
{
    s->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        if (errno == ENOENT) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "KVM is not available: /dev/kvm does not exist (is "
                        "the kvm module loaded, and does the CPU support "
                        "virtualization?)");
        } else if (errno == EACCES || errno == EPERM) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "no permission to open /dev/kvm: %s (add the user "
                        "to the 'kvm' group)", g_strerror(errno));
        } else {
            g_set_error(errp, VIREO_ERROR, 0, "cannot open /dev/kvm: %s",
                        g_strerror(errno));
        }
        return false;
    }
    int version = ioctl(s->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KVM API version %d, but Vireo needs %d", version,
                    KVM_API_VERSION);
        return false;
    }
    return true;
}

static bool kvm_require_caps(KVMState *s, GError **errp)
{
    /* the last ones only for the in-kernel irqchip (kernel-irqchip=on) */
    static const struct {
        int cap;
        const char *name;
        bool irqchip;
    } required[] = {
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", true },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2", true },
        { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", true },
        { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", true },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
        if (required[i].irqchip && s->irqchip != KERNEL_IRQCHIP_ON) {
            continue;
        }
        if (!kvm_check_cap(s, required[i].cap)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "this host's KVM lacks %s, which Vireo needs",
                        required[i].name);
            return false;
        }
    }
    return true;
}

/* KVM_GET_SUPPORTED_CPUID into a buffer that grows until it fits. */
static bool kvm_get_supported_cpuid(KVMState *s, GError **errp)
{
    for (int n = 64;; n *= 2) {
        struct kvm_cpuid2 *c =
            g_malloc0(sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        if (ioctl(s->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            s->cpuid = c;
            return true;
        }
        g_free(c);
        if (errno != E2BIG || n > 4096) {
            return kvm_fail(errp, "KVM_GET_SUPPORTED_CPUID");
        }
    }
}

/*
 * GSI routing as on a PC: ISA IRQs 0-15 go to the 8259s and to the IOAPIC
 * pin of the same number, except IRQ0 (the PIT), which the MADT overrides to
 * IOAPIC pin 2; PCI GSIs 16-23 go to the IOAPIC only.
 */
static bool kvm_setup_irq_routing(KVMState *s, GError **errp)
{
    for (int gsi = 0; gsi < X86_NUM_GSI; gsi++) {
        if (gsi < 16 && gsi != 2) {
            kvm_route_add(s, &(struct kvm_irq_routing_entry){
                .gsi = gsi,
                .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = { gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
                                       : KVM_IRQCHIP_PIC_SLAVE, gsi % 8 },
            });
        }
        if (gsi != 2) {
            kvm_route_add(s, &(struct kvm_irq_routing_entry){
                .gsi = gsi,
                .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi ? gsi : 2 },
            });
        }
    }
    return kvm_routes_commit(s, errp);
}

static void kvm_set_irq(Machine *m, int gsi, int level)
{
    if (m->userspace_irqchip) {
        kvm_irqchip_set_irq(m, gsi, level);
        return;
    }
    struct kvm_irq_level irq = { .irq = gsi, .level = level };
    if (ioctl(kvm_state(m)->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        log_error_once("KVM: KVM_IRQ_LINE %d failed: %s", gsi,
                       g_strerror(errno));
    }
}

static void kvm_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    if (m->userspace_irqchip) {
        /* off: Vireo's LAPICs; split: KVM's, through kernel_lapic_msi */
        x86_irqchip_send_msi(m, addr, data);
        return;
    }
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr, .address_hi = addr >> 32, .data = data,
    };
    if (ioctl(kvm_state(m)->vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
        log_error_once("KVM: KVM_SIGNAL_MSI (address 0x%" G_GINT64_MODIFIER
                       "x, data 0x%x) failed: %s", addr, data,
                       g_strerror(errno));
    }
}

/* The HPET's legacy route silences the in-kernel PIT (level 0) or not. */
static void kvm_pit_enable_in(void *opaque, int n, int level)
{
    KVMState *s = opaque;
    struct kvm_pit_state2 pit;

    if (ioctl(s->vm_fd, KVM_GET_PIT2, &pit) < 0) {
        log_error_once("KVM: KVM_GET_PIT2 failed: %s", g_strerror(errno));
        return;
    }
    pit.flags = level ? pit.flags & ~KVM_PIT_FLAGS_HPET_LEGACY
                      : pit.flags | KVM_PIT_FLAGS_HPET_LEGACY;
    if (ioctl(s->vm_fd, KVM_SET_PIT2, &pit) < 0) {
        log_error_once("KVM: KVM_SET_PIT2 failed: %s", g_strerror(errno));
    }
}

/* The in-kernel irqchip and PIT, or (off, split) Vireo's in their place. */
static bool kvm_create_irqchip(KVMState *s, GError **errp)
{
    if (s->irqchip != KERNEL_IRQCHIP_ON) {
        return kvm_irqchip_init(s, errp);
    }
    if (ioctl(s->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        return kvm_fail(errp, "KVM_CREATE_IRQCHIP");
    }
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(s->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        return kvm_fail(errp, "KVM_CREATE_PIT2");
    }
    s->machine->pit_enable = (IRQLine){ kvm_pit_enable_in, s, 0 };
    return kvm_setup_irq_routing(s, errp);
}

static void kick_signal_handler(int sig)
{
    (void)sig;
}

static bool kvm_init(Machine *m, GError **errp)
{
    KVMState *s = g_new0(KVMState, 1);
    struct sigaction sa = { .sa_handler = kick_signal_handler };

    s->fd = s->vm_fd = -1;
    s->machine = m;
    s->irqchip = m->cfg.kernel_irqchip;
    m->accel_state = s;
    if (!kvm_open(s, errp)) {
        return false;
    }
    s->vm_fd = kvm_ioctl_retry(s->fd, KVM_CREATE_VM, 0);
    if (s->vm_fd < 0) {
        return kvm_fail(errp, "KVM_CREATE_VM");
    }
    if (!kvm_require_caps(s, errp)) {
        return false;
    }
    s->run_size = ioctl(s->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    s->max_vcpus = kvm_check_cap(s, KVM_CAP_MAX_VCPUS);
    if (!s->max_vcpus) {
        s->max_vcpus = kvm_check_cap(s, KVM_CAP_NR_VCPUS);
    }
    if (!s->max_vcpus) {
        s->max_vcpus = 4;   /* the API's documented default */
    }
    s->nr_slots = kvm_check_cap(s, KVM_CAP_NR_MEMSLOTS);
    if (!s->nr_slots) {
        s->nr_slots = 32;
    }
    s->slots = g_new0(KVMSlot, s->nr_slots);
    s->readonly_mem = kvm_check_cap(s, KVM_CAP_READONLY_MEM);
    s->tsc_deadline = kvm_check_cap(s, KVM_CAP_TSC_DEADLINE_TIMER);
    s->has_xcrs = kvm_check_cap(s, KVM_CAP_XCRS);
    /* the flags SET_GUEST_DEBUG takes (older kernels: the basic ones) */
    s->guest_debug_flags = kvm_check_cap(s, KVM_CAP_SET_GUEST_DEBUG2);
    if (!s->guest_debug_flags && kvm_check_cap(s, KVM_CAP_SET_GUEST_DEBUG)) {
        s->guest_debug_flags = KVM_GUESTDBG_ENABLE |
                               KVM_GUESTDBG_SINGLESTEP |
                               KVM_GUESTDBG_USE_SW_BP |
                               KVM_GUESTDBG_USE_HW_BP |
                               KVM_GUESTDBG_INJECT_DB |
                               KVM_GUESTDBG_INJECT_BP;
    }
    s->max_routes = kvm_check_cap(s, KVM_CAP_IRQ_ROUTING);
    s->ioeventfd = kvm_check_cap(s, KVM_CAP_IOEVENTFD);
    s->ioeventfd_any_length = kvm_check_cap(s, KVM_CAP_IOEVENTFD_ANY_LENGTH);
    kvm_routes_init(s);

    if (ioctl(s->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0) {
        return kvm_fail(errp, "KVM_SET_TSS_ADDR");
    }
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    if (kvm_check_cap(s, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
        ioctl(s->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        return kvm_fail(errp, "KVM_SET_IDENTITY_MAP_ADDR");
    }
    if (!kvm_create_irqchip(s, errp) || !kvm_get_supported_cpuid(s, errp)) {
        return false;
    }
    /* irqfds need KVM's LAPICs (on, split) and MSI routes */
    s->irqfd = s->irqchip != KERNEL_IRQCHIP_OFF &&
               s->max_routes > X86_NUM_GSI && kvm_check_cap(s, KVM_CAP_IRQFD);
    sigaction(SIG_KICK, &sa, NULL);
    return true;
}

static int kvm_max_cpus(Machine *m)
{
    return kvm_state(m)->max_vcpus;
}

static void kvm_destroy(Machine *m)
{
    KVMState *s = kvm_state(m);

    kvm_state_forget(s);
    for (int i = 0; i < m->ncpus; i++) {
        KVMVCPU *v = m->cpus[i]->accel;
        if (v) {
            if (v->run) {
                munmap(v->run, s->run_size);
            }
            close(v->fd);
            pthread_mutex_destroy(&v->lock);
            pthread_cond_destroy(&v->wake);
            g_free(v);
            m->cpus[i]->accel = NULL;
        }
    }
    if (s->vm_fd >= 0) {
        close(s->vm_fd);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    g_free(s->slots);
    g_free(s->cpuid);
    kvm_routes_free(s);
    g_free(s);
    m->accel_state = NULL;
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .ioeventfds = true,
    .init = kvm_init,
    .max_cpus = kvm_max_cpus,
    .vcpu_create = kvm_vcpu_create,
    .vcpu_reset = kvm_vcpu_reset,
    .vcpu_thread = kvm_vcpu_thread,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_get_state = kvm_vcpu_get_state,
    .debug_update = kvm_debug_update,
    .vcpu_set_regs = kvm_vcpu_set_regs,
    .state_save = kvm_state_save,
    .state_load = kvm_state_load,
    .vcpu_state_save = kvm_vcpu_state_save,
    .vcpu_state_load = kvm_vcpu_state_load,
    .set_irq = kvm_set_irq,
    .send_msi = kvm_send_msi,
    .msi_irqfd_add = kvm_msi_irqfd_add,
    .msi_irqfd_update = kvm_msi_irqfd_update,
    .msi_irqfd_remove = kvm_msi_irqfd_remove,
    .memory_listen = kvm_memory_listen,
    .destroy = kvm_destroy,
};
