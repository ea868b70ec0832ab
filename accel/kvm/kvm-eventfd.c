/*
 * KVM's eventfd fast paths (Documentation/virt/kvm/api.rst 4.52, 4.59,
 * 4.75): the GSI routing table with the MSI routes that irqfds raise
 * (KVM_SET_GSI_ROUTING, KVM_IRQFD), and the memory API's ioeventfds
 * registered with KVM_IOEVENTFD, so that neither a virtqueue notification
 * nor its completion interrupt passes through a Vireo thread.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_int.h"
#include "util/log.h"
#include "util/opts.h"

/* --- the routing table --- */

void kvm_routes_init(KVMState *s)
{
    s->routes = g_array_new(FALSE, TRUE,
                            sizeof(struct kvm_irq_routing_entry));
    s->irqfd_gsis = g_hash_table_new(NULL, NULL);
}

void kvm_routes_free(KVMState *s)
{
    if (s->routes) {
        g_array_free(s->routes, TRUE);
        s->routes = NULL;
    }
    g_clear_pointer(&s->irqfd_gsis, g_hash_table_destroy);
}

void kvm_route_add(KVMState *s, const struct kvm_irq_routing_entry *e)
{
    g_array_append_val(s->routes, *e);
}

static void route_del_gsi(KVMState *s, uint32_t gsi)
{
    for (guint i = s->routes->len; i-- > 0;) {
        if (g_array_index(s->routes, struct kvm_irq_routing_entry,
                          i).gsi == gsi) {
            g_array_remove_index(s->routes, i);
        }
    }
}

bool kvm_route_set_msi(KVMState *s, uint32_t gsi, uint64_t addr,
                       uint32_t data)
{
    struct kvm_irq_routing_entry e = {
        .gsi = gsi,
        .type = KVM_IRQ_ROUTING_MSI,
        .u.msi = { .address_lo = (uint32_t)addr,
                   .address_hi = addr >> 32, .data = data },
    };

    for (guint i = 0; i < s->routes->len; i++) {
        struct kvm_irq_routing_entry *r =
            &g_array_index(s->routes, struct kvm_irq_routing_entry, i);
        if (r->gsi == gsi) {
            if (!memcmp(r, &e, sizeof(e))) {
                return false;
            }
            *r = e;     /* an MSI GSI has this one route only */
            return true;
        }
    }
    kvm_route_add(s, &e);
    return true;
}

bool kvm_routes_commit(KVMState *s, GError **errp)
{
    size_t n = s->routes->len;
    struct kvm_irq_routing *r = g_malloc0(
        sizeof(*r) + n * sizeof(struct kvm_irq_routing_entry));
    int ret;

    r->nr = n;
    if (n) {
        memcpy(r->entries, s->routes->data,
               n * sizeof(struct kvm_irq_routing_entry));
    }
    ret = ioctl(s->vm_fd, KVM_SET_GSI_ROUTING, r);
    g_free(r);
    return ret == 0 || kvm_fail(errp, "KVM_SET_GSI_ROUTING");
}

/* --- MSI irqfds --- */

/* The lowest GSI above the IOAPIC's that no irqfd route uses, or -1. */
static int alloc_irqfd_gsi(KVMState *s)
{
    for (int gsi = X86_NUM_GSI; gsi < s->max_routes; gsi++) {
        if (!g_hash_table_contains(s->irqfd_gsis, GINT_TO_POINTER(gsi))) {
            g_hash_table_add(s->irqfd_gsis, GINT_TO_POINTER(gsi));
            return gsi;
        }
    }
    return -1;
}

static void free_irqfd_gsi(KVMState *s, int gsi)
{
    g_hash_table_remove(s->irqfd_gsis, GINT_TO_POINTER(gsi));
    route_del_gsi(s, gsi);
}

static int irqfd_assign(KVMState *s, int fd, int gsi, bool assign)
{
    struct kvm_irqfd req = {
        .fd = fd,
        .gsi = gsi,
        .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
    };
    return ioctl(s->vm_fd, KVM_IRQFD, &req);
}

bool kvm_msi_irqfd_add(AccelIrqfd *irqfd, GError **errp)
{
    KVMState *s = kvm_state(irqfd->machine);
    int gsi;

    if (!s->irqfd) {
        return false;   /* Vireo's LAPICs: the main loop delivers */
    }
    gsi = alloc_irqfd_gsi(s);
    if (gsi < 0) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KVM: no GSI left for an MSI route (%d in use)",
                    g_hash_table_size(s->irqfd_gsis));
        return false;
    }
    kvm_route_set_msi(s, gsi, irqfd->addr, irqfd->data);
    if (!kvm_routes_commit(s, errp)) {
        free_irqfd_gsi(s, gsi);
        return false;
    }
    if (irqfd_assign(s, irqfd->fd, gsi, true) < 0) {
        kvm_fail(errp, "KVM_IRQFD");
        free_irqfd_gsi(s, gsi);
        kvm_routes_commit(s, NULL);
        return false;
    }
    irqfd->gsi = gsi;
    return true;
}

bool kvm_msi_irqfd_update(AccelIrqfd *irqfd, uint64_t addr, uint32_t data,
                          GError **errp)
{
    KVMState *s = kvm_state(irqfd->machine);

    /* KVM re-reads the route of an assigned irqfd on every table change */
    if (kvm_route_set_msi(s, irqfd->gsi, addr, data) &&
        !kvm_routes_commit(s, errp)) {
        kvm_route_set_msi(s, irqfd->gsi, irqfd->addr, irqfd->data);
        return false;
    }
    return true;
}

void kvm_msi_irqfd_remove(AccelIrqfd *irqfd)
{
    KVMState *s = kvm_state(irqfd->machine);
    g_autoptr(GError) err = NULL;

    if (irqfd_assign(s, irqfd->fd, irqfd->gsi, false) < 0) {
        log_error_once("KVM: KVM_IRQFD deassign (GSI %d) failed: %s",
                       irqfd->gsi, g_strerror(errno));
    }
    free_irqfd_gsi(s, irqfd->gsi);
    if (!kvm_routes_commit(s, &err)) {
        log_error_once("%s", err->message);
    }
    irqfd->gsi = -1;
}

/* --- ioeventfds --- */

static void ioeventfd_set(KVMState *s, const MemoryRegionIoeventfd *e,
                          bool pio, bool assign)
{
    struct kvm_ioeventfd req = {
        .datamatch = e->match_data ? e->data : 0,
        .addr = e->addr,
        .len = e->size,
        .fd = e->fd,
        .flags = (e->match_data ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                 (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
                 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };

    if (!s->ioeventfd || (!e->size && (pio || !s->ioeventfd_any_length))) {
        return;     /* such writes exit, and the memory API signals fd */
    }
    if (ioctl(s->vm_fd, KVM_IOEVENTFD, &req) < 0 && assign) {
        static bool warned;
        /* as above: correct, only slower */
        if (!warned) {
            warned = true;
            log_warn("KVM: KVM_IOEVENTFD at %s 0x%" G_GINT64_MODIFIER "x "
                     "failed: %s; such writes exit to Vireo",
                     pio ? "port" : "address", e->addr, g_strerror(errno));
        }
    }
}

static void mmio_eventfd_add(MemoryListener *l, const MemoryRegionIoeventfd *e)
{
    ioeventfd_set(container_of(l, KVMState, listener), e, false, true);
}

static void mmio_eventfd_del(MemoryListener *l, const MemoryRegionIoeventfd *e)
{
    ioeventfd_set(container_of(l, KVMState, listener), e, false, false);
}

static void pio_eventfd_add(MemoryListener *l, const MemoryRegionIoeventfd *e)
{
    ioeventfd_set(container_of(l, KVMState, io_listener), e, true, true);
}

static void pio_eventfd_del(MemoryListener *l, const MemoryRegionIoeventfd *e)
{
    ioeventfd_set(container_of(l, KVMState, io_listener), e, true, false);
}

void kvm_ioeventfd_listen(KVMState *s)
{
    s->listener.eventfd_add = mmio_eventfd_add;
    s->listener.eventfd_del = mmio_eventfd_del;
    s->io_listener.eventfd_add = pio_eventfd_add;
    s->io_listener.eventfd_del = pio_eventfd_del;
    address_space_add_listener(&s->machine->as_io, &s->io_listener);
}
