/*
 * KVM's share of a snapshot or migration: each vCPU's whole state as KVM
 * keeps it, and the VM-wide state of the in-kernel devices and clock
 * (Documentation/virt/kvm/api.rst). The kernel's structures travel as
 * they are (x86-64 to x86-64, as the ioctls define them); what varies
 * between hosts is checked on load: the XSAVE area's size and features,
 * the MSRs, the CPUID features the guest was shown, the irqchip mode.
 * KVM itself refuses values it cannot take; cpus_state_load then puts the
 * previous state back.
 *
 * Per vCPU: general registers, system registers (SREGS2 with the PAE
 * PDPTRs where KVM has it), XSAVE (its KVM_CAP_XSAVE2 size) and XCRs,
 * the MSRs KVM lists and takes back, debug registers, pending events,
 * and, with KVM's LAPIC, the LAPIC and the MP state; with Vireo's LAPIC
 * (kernel-irqchip=off) the halt and wait-for-SIPI state the vCPU thread
 * keeps instead.
 * VM-wide: kvmclock (KVM_GET/SET_CLOCK), one TSC value that every vCPU
 * gets back (so KVM keeps one TSC offset for all), and with
 * kernel-irqchip=on the in-kernel 8259s, IOAPIC and PIT.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_int.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/opts.h"

/* Room for the largest XSAVE area (AMX makes it about 11 KiB). */
#define XSAVE_MAX       (32 << 10)
/* MSRs per vCPU; KVM lists a few hundred. */
#define MSRS_MAX        4096
/* The kvmclock MSRs that write the guest's memory; the wall clock is
 * written again by the guest when it wants it. */
#define MSR_KVM_WALL_CLOCK      0x11
#define MSR_KVM_WALL_CLOCK_NEW  0x4b564d00

#define PENDING_EVENTS (CPU_INTERRUPT_NMI | CPU_INTERRUPT_INIT | \
                        CPU_INTERRUPT_SIPI)

enum { SREGS_PLAIN = 1, SREGS_V2 = 2 };

/* ---- what this host's KVM offers (probed once per VM) ---- */

typedef struct KVMStateCaps {
    bool probed;
    bool sregs2;
    bool clock;
    uint32_t xsave_size;        /* 0: no KVM_CAP_XSAVE */
    uint32_t *msrs;             /* indices KVM lists and takes back */
    uint32_t nmsrs;
} KVMStateCaps;

static GHashTable *caps_of;    /* KVMState -> KVMStateCaps */

static int check_cap(KVMState *s, int cap)
{
    int r = ioctl(s->vm_fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

/*
 * Whether this vCPU's MSR index can be saved and loaded: KVM reads it and
 * takes its own value back (some it lists only work with a feature this
 * VM lacks, e.g. async page faults without KVM's LAPIC). Writing the
 * value it has changes nothing.
 */
static bool msr_saveable(KVMVCPU *v, uint32_t index)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = { .hdr.nmsrs = 1, .e.index = index };

    return ioctl(v->fd, KVM_GET_MSRS, &m) == 1 &&
           ioctl(v->fd, KVM_SET_MSRS, &m) == 1;
}

static bool msr_skipped(uint32_t index)
{
    return index == MSR_IA32_TSC || index == MSR_KVM_WALL_CLOCK ||
           index == MSR_KVM_WALL_CLOCK_NEW;
}

static bool probe_msrs(KVMState *s, KVMVCPU *v, KVMStateCaps *c,
                       GError **errp)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    g_autofree struct kvm_msr_list *list = NULL;

    /* the first call says how many there are (E2BIG) */
    if (ioctl(s->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
        return kvm_fail(errp, "KVM_GET_MSR_INDEX_LIST");
    }
    list = g_malloc0(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
    list->nmsrs = probe.nmsrs;
    if (ioctl(s->fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        return kvm_fail(errp, "KVM_GET_MSR_INDEX_LIST");
    }
    if (list->nmsrs > MSRS_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "KVM lists %u MSRs, more than "
                    "the %u a vCPU state holds", list->nmsrs, MSRS_MAX);
        return false;
    }
    c->msrs = g_new(uint32_t, list->nmsrs);
    for (uint32_t i = 0; i < list->nmsrs; i++) {
        uint32_t index = list->indices[i];
        if (!msr_skipped(index) && msr_saveable(v, index)) {
            c->msrs[c->nmsrs++] = index;
        }
    }
    return true;
}

static KVMStateCaps *state_caps(Machine *m, GError **errp)
{
    KVMState *s = kvm_state(m);
    KVMStateCaps *c;

    if (!caps_of) {
        caps_of = g_hash_table_new(NULL, NULL);
    }
    c = g_hash_table_lookup(caps_of, s);
    if (c) {
        return c;
    }
    if (!m->ncpus || !m->cpus[0]->accel) {
        g_set_error(errp, VIREO_ERROR, 0, "the VM has no vCPUs yet");
        return NULL;
    }
    c = g_new0(KVMStateCaps, 1);
    c->sregs2 = check_cap(s, KVM_CAP_SREGS2);
    c->clock = check_cap(s, KVM_CAP_ADJUST_CLOCK);
    if (check_cap(s, KVM_CAP_XSAVE)) {
        c->xsave_size = MAX(check_cap(s, KVM_CAP_XSAVE2),
                            (int)sizeof(struct kvm_xsave));
    }
    if (!c->xsave_size || c->xsave_size > XSAVE_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "KVM: the XSAVE area (%u bytes) "
                    "cannot be saved", c->xsave_size);
        g_free(c);
        return NULL;
    }
    if (!probe_msrs(s, m->cpus[0]->accel, c, errp)) {
        g_free(c->msrs);
        g_free(c);
        return NULL;
    }
    g_hash_table_insert(caps_of, s, c);
    return c;
}

/* kvm_destroy's hook: the VM's probe results go with it. */
void kvm_state_forget(KVMState *s)
{
    KVMStateCaps *c = caps_of ? g_hash_table_lookup(caps_of, s) : NULL;

    if (c) {
        g_hash_table_remove(caps_of, s);
        g_free(c->msrs);
        g_free(c);
    }
}

/* ---- one vCPU ---- */

/* CPUID features a guest may have started to use: leaf, subleaf, reg. */
static const struct {
    uint32_t leaf, index;
    int reg;    /* 0 eax, 1 ebx, 2 ecx, 3 edx */
} feature_words[] = {
    { 1, 0, 2 }, { 1, 0, 3 }, { 7, 0, 1 }, { 7, 0, 2 }, { 7, 0, 3 },
    { 0xd, 0, 0 }, { 0xd, 1, 0 }, { 0x80000001, 0, 2 }, { 0x80000001, 0, 3 },
};
#define NFEATURES G_N_ELEMENTS(feature_words)

typedef struct KVMVCPUMig {
    uint8_t regs[sizeof(struct kvm_regs)];
    uint8_t sregs_kind;
    uint32_t sregs_len;
    uint8_t sregs[sizeof(struct kvm_sregs2) > sizeof(struct kvm_sregs)
                  ? sizeof(struct kvm_sregs2) : sizeof(struct kvm_sregs)];
    uint32_t xsave_len;
    uint8_t xsave[XSAVE_MAX];
    uint8_t xcrs[sizeof(struct kvm_xcrs)];
    uint32_t nmsrs;
    uint32_t msr_index[MSRS_MAX];
    uint64_t msr_value[MSRS_MAX];
    uint8_t debugregs[sizeof(struct kvm_debugregs)];
    uint8_t events[sizeof(struct kvm_vcpu_events)];
    uint32_t features[NFEATURES];
    /* the kernel's LAPIC (kernel-irqchip=on, split) */
    bool has_lapic;
    uint32_t mp_state;
    uint8_t lapic[sizeof(struct kvm_lapic_state)];
    /* Vireo's LAPIC (kernel-irqchip=off): what the vCPU thread keeps */
    bool has_user;
    bool halted, halt_if, wait_for_sipi;
    uint32_t pending;
    uint8_t sipi_vector;
} KVMVCPUMig;

static bool msrs_save(GByteArray *out, void *opaque, GError **errp)
{
    KVMVCPUMig *s = opaque;

    vmstate_put_u32(out, s->nmsrs);
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        vmstate_put_u32(out, s->msr_index[i]);
        vmstate_put_u64(out, s->msr_value[i]);
    }
    return true;
}

static bool msrs_load(VMStateReader *in, void *opaque, GError **errp)
{
    KVMVCPUMig *s = opaque;

    if (!vmstate_get_u32(in, &s->nmsrs, errp)) {
        return false;
    }
    if (s->nmsrs > MSRS_MAX) {
        g_set_error(errp, VIREO_ERROR, 0, "%u MSRs, at most %u", s->nmsrs,
                    MSRS_MAX);
        return false;
    }
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        if (!vmstate_get_u32(in, &s->msr_index[i], errp) ||
            !vmstate_get_u64(in, &s->msr_value[i], errp)) {
            return false;
        }
    }
    return true;
}

static const VMStateInfo vmstate_info_kvm_msrs = {
    .name = "kvm-msrs",
    .save = msrs_save,
    .load = msrs_load,
};

static bool lapic_needed(void *opaque)
{
    return ((KVMVCPUMig *)opaque)->has_lapic;
}

static bool lapic_pre_load(void *opaque, GError **errp)
{
    ((KVMVCPUMig *)opaque)->has_lapic = true;
    return true;
}

static const VMStateField lapic_fields[] = {
    VMSTATE_UINT32(mp_state, KVMVCPUMig),
    VMSTATE_BUFFER(lapic, KVMVCPUMig),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvm_lapic = {
    .name = "kvm-lapic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = lapic_fields,
    .needed = lapic_needed,
    .pre_load = lapic_pre_load,
};

static bool user_needed(void *opaque)
{
    return ((KVMVCPUMig *)opaque)->has_user;
}

static bool user_pre_load(void *opaque, GError **errp)
{
    ((KVMVCPUMig *)opaque)->has_user = true;
    return true;
}

static bool user_post_load(void *opaque, int version_id, GError **errp)
{
    KVMVCPUMig *s = opaque;

    if (s->pending & ~(uint32_t)PENDING_EVENTS) {
        g_set_error(errp, VIREO_ERROR, 0, "unknown pending events 0x%x",
                    s->pending);
        return false;
    }
    return true;
}

static const VMStateField user_fields[] = {
    VMSTATE_BOOL(halted, KVMVCPUMig),
    VMSTATE_BOOL(halt_if, KVMVCPUMig),
    VMSTATE_BOOL(wait_for_sipi, KVMVCPUMig),
    VMSTATE_UINT32(pending, KVMVCPUMig),
    VMSTATE_UINT8(sipi_vector, KVMVCPUMig),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvm_user_lapic = {
    .name = "kvm-userspace-lapic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = user_fields,
    .needed = user_needed,
    .pre_load = user_pre_load,
    .post_load = user_post_load,
};

static const VMStateDescription *const vcpu_subsections[] = {
    &vmstate_kvm_lapic,
    &vmstate_kvm_user_lapic,
    NULL,
};

static const VMStateField vcpu_fields[] = {
    VMSTATE_UINT32_ARRAY(features, KVMVCPUMig),
    VMSTATE_BUFFER(regs, KVMVCPUMig),
    VMSTATE_UINT8(sregs_kind, KVMVCPUMig),
    VMSTATE_VBUFFER(sregs, KVMVCPUMig, sregs_len),
    VMSTATE_VBUFFER(xsave, KVMVCPUMig, xsave_len),
    VMSTATE_BUFFER(xcrs, KVMVCPUMig),
    VMSTATE_CUSTOM("msrs", vmstate_info_kvm_msrs),
    VMSTATE_BUFFER(debugregs, KVMVCPUMig),
    VMSTATE_BUFFER(events, KVMVCPUMig),
    VMSTATE_END_OF_LIST(),
};

static bool vcpu_post_load(void *opaque, int version_id, GError **errp)
{
    KVMVCPUMig *s = opaque;
    struct kvm_xcrs xcrs;

    if (!((s->sregs_kind == SREGS_PLAIN &&
           s->sregs_len == sizeof(struct kvm_sregs)) ||
          (s->sregs_kind == SREGS_V2 &&
           s->sregs_len == sizeof(struct kvm_sregs2)))) {
        g_set_error(errp, VIREO_ERROR, 0, "system registers of kind %u and "
                    "%u bytes are not known", s->sregs_kind, s->sregs_len);
        return false;
    }
    if (s->xsave_len < sizeof(struct kvm_xsave)) {
        g_set_error(errp, VIREO_ERROR, 0, "the XSAVE area is %u bytes, "
                    "less than its legacy %zu", s->xsave_len,
                    sizeof(struct kvm_xsave));
        return false;
    }
    memcpy(&xcrs, s->xcrs, sizeof(xcrs));
    if (xcrs.nr_xcrs > KVM_MAX_XCRS) {
        g_set_error(errp, VIREO_ERROR, 0, "%u XCRs, at most %d",
                    xcrs.nr_xcrs, KVM_MAX_XCRS);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_kvm_vcpu = {
    .name = "kvm-vcpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vcpu_fields,
    .subsections = vcpu_subsections,
    .post_load = vcpu_post_load,
};

/* The feature words of the CPUID this vCPU was given. */
static bool vcpu_features(KVMVCPU *v, uint32_t *out, GError **errp)
{
    g_autofree struct kvm_cpuid2 *c = NULL;
    int n = 256;

    for (;; n *= 2) {
        g_free(c);
        c = g_malloc0(sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        if (ioctl(v->fd, KVM_GET_CPUID2, c) == 0) {
            break;
        }
        if (errno != E2BIG || n > 4096) {
            return kvm_fail(errp, "KVM_GET_CPUID2");
        }
    }
    memset(out, 0, NFEATURES * sizeof(uint32_t));
    for (size_t f = 0; f < NFEATURES; f++) {
        for (uint32_t i = 0; i < c->nent; i++) {
            const struct kvm_cpuid_entry2 *e = &c->entries[i];
            if (e->function == feature_words[f].leaf &&
                e->index == feature_words[f].index) {
                const uint32_t regs[4] = { e->eax, e->ebx, e->ecx, e->edx };
                out[f] = regs[feature_words[f].reg];
            }
        }
    }
    return true;
}

static bool get_msrs(KVMVCPU *v, const KVMStateCaps *c, KVMVCPUMig *s,
                     GError **errp)
{
    g_autofree struct kvm_msrs *m =
        g_malloc0(sizeof(*m) + c->nmsrs * sizeof(struct kvm_msr_entry));
    int r;

    m->nmsrs = c->nmsrs;
    for (uint32_t i = 0; i < c->nmsrs; i++) {
        m->entries[i].index = c->msrs[i];
    }
    r = ioctl(v->fd, KVM_GET_MSRS, m);
    if (r < 0) {
        return kvm_fail(errp, "KVM_GET_MSRS");
    }
    if ((uint32_t)r != c->nmsrs) {
        g_set_error(errp, VIREO_ERROR, 0, "KVM: KVM_GET_MSRS stopped at "
                    "MSR 0x%x", c->msrs[r]);
        return false;
    }
    s->nmsrs = c->nmsrs;
    for (uint32_t i = 0; i < c->nmsrs; i++) {
        s->msr_index[i] = m->entries[i].index;
        s->msr_value[i] = m->entries[i].data;
    }
    return true;
}

static bool vcpu_get(CPUState *cpu, const KVMStateCaps *c, KVMVCPUMig *s,
                     GError **errp)
{
    KVMState *ks = kvm_state(cpu->machine);
    KVMVCPU *v = cpu->accel;
    struct kvm_xsave *xs = (struct kvm_xsave *)s->xsave;

    if (!vcpu_features(v, s->features, errp)) {
        return false;
    }
    if (ioctl(v->fd, KVM_GET_REGS, s->regs) < 0) {
        return kvm_fail(errp, "KVM_GET_REGS");
    }
    if (c->sregs2) {
        s->sregs_kind = SREGS_V2;
        s->sregs_len = sizeof(struct kvm_sregs2);
        if (ioctl(v->fd, KVM_GET_SREGS2, s->sregs) < 0) {
            return kvm_fail(errp, "KVM_GET_SREGS2");
        }
    } else {
        s->sregs_kind = SREGS_PLAIN;
        s->sregs_len = sizeof(struct kvm_sregs);
        if (ioctl(v->fd, KVM_GET_SREGS, s->sregs) < 0) {
            return kvm_fail(errp, "KVM_GET_SREGS");
        }
    }
    s->xsave_len = c->xsave_size;
    if (ioctl(v->fd, c->xsave_size > sizeof(struct kvm_xsave)
                     ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xs) < 0) {
        return kvm_fail(errp, "KVM_GET_XSAVE");
    }
    memset(s->xcrs, 0, sizeof(s->xcrs));
    if (ks->has_xcrs && ioctl(v->fd, KVM_GET_XCRS, s->xcrs) < 0) {
        return kvm_fail(errp, "KVM_GET_XCRS");
    }
    if (!get_msrs(v, c, s, errp)) {
        return false;
    }
    if (ioctl(v->fd, KVM_GET_DEBUGREGS, s->debugregs) < 0) {
        return kvm_fail(errp, "KVM_GET_DEBUGREGS");
    }
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, s->events) < 0) {
        return kvm_fail(errp, "KVM_GET_VCPU_EVENTS");
    }
    if (ks->irqchip != KERNEL_IRQCHIP_OFF) {
        struct kvm_mp_state mp;
        s->has_lapic = true;
        if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0) {
            return kvm_fail(errp, "KVM_GET_MP_STATE");
        }
        s->mp_state = mp.mp_state;
        if (ioctl(v->fd, KVM_GET_LAPIC, s->lapic) < 0) {
            return kvm_fail(errp, "KVM_GET_LAPIC");
        }
    } else {
        s->has_user = true;
        s->halted = v->halted;
        s->halt_if = v->halt_if;
        s->wait_for_sipi = v->wait_for_sipi;
        s->pending = __atomic_load_n(&cpu->interrupt_request,
                                     __ATOMIC_SEQ_CST) & PENDING_EVENTS;
        s->sipi_vector = cpu->sipi_vector;
    }
    return true;
}

bool kvm_vcpu_state_save(CPUState *cpu, GByteArray *out, GError **errp)
{
    const KVMStateCaps *c = state_caps(cpu->machine, errp);
    g_autofree KVMVCPUMig *s = g_new0(KVMVCPUMig, 1);

    if (!c || !vcpu_get(cpu, c, s, errp)) {
        return false;
    }
    return vmstate_save_state(out, &vmstate_kvm_vcpu, s, errp);
}

/* What this vCPU can take of a decoded state, before anything is set. */
static bool vcpu_check(CPUState *cpu, const KVMStateCaps *c,
                       const KVMVCPUMig *s, GError **errp)
{
    KVMState *ks = kvm_state(cpu->machine);
    uint32_t here[NFEATURES];
    bool kernel_lapic = ks->irqchip != KERNEL_IRQCHIP_OFF;
    struct kvm_xcrs xcrs;

    if (!vcpu_features(cpu->accel, here, errp)) {
        return false;
    }
    for (size_t f = 0; f < NFEATURES; f++) {
        uint32_t missing = s->features[f] & ~here[f];
        if (missing) {
            g_set_error(errp, VIREO_ERROR, 0, "the guest was given CPU "
                        "features this host lacks: CPUID 0x%x.%u %s bits "
                        "0x%08x", feature_words[f].leaf,
                        feature_words[f].index,
                        (const char *[]){ "EAX", "EBX", "ECX", "EDX" }
                            [feature_words[f].reg], missing);
            return false;
        }
    }
    if (s->sregs_kind == SREGS_V2 && !c->sregs2) {
        g_set_error(errp, VIREO_ERROR, 0, "the state has KVM_GET_SREGS2's "
                    "registers; this host's KVM lacks KVM_CAP_SREGS2");
        return false;
    }
    if (s->xsave_len > c->xsave_size) {
        /* the extra components must be unused (KVM checks XSTATE_BV) */
        for (uint32_t i = c->xsave_size; i < s->xsave_len; i++) {
            if (s->xsave[i]) {
                g_set_error(errp, VIREO_ERROR, 0, "the XSAVE area is %u "
                            "bytes with state beyond the %u this host "
                            "has", s->xsave_len, c->xsave_size);
                return false;
            }
        }
    }
    memcpy(&xcrs, s->xcrs, sizeof(xcrs));
    if (xcrs.nr_xcrs && !ks->has_xcrs) {
        g_set_error(errp, VIREO_ERROR, 0, "the state has XCRs; this host's "
                    "KVM lacks KVM_CAP_XCRS");
        return false;
    }
    if (s->has_lapic != kernel_lapic || s->has_user == kernel_lapic) {
        g_set_error(errp, VIREO_ERROR, 0, "the state is from a VM with %s "
                    "LAPIC; this one has %s (-machine kernel-irqchip)",
                    s->has_lapic ? "KVM's" : "Vireo's",
                    kernel_lapic ? "KVM's" : "Vireo's");
        return false;
    }
    return true;
}

static bool set_msrs(KVMVCPU *v, const KVMVCPUMig *s, GError **errp)
{
    g_autofree struct kvm_msrs *m =
        g_malloc0(sizeof(*m) + s->nmsrs * sizeof(struct kvm_msr_entry));
    int r;

    m->nmsrs = s->nmsrs;
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        m->entries[i].index = s->msr_index[i];
        m->entries[i].data = s->msr_value[i];
    }
    r = ioctl(v->fd, KVM_SET_MSRS, m);
    if (r < 0) {
        return kvm_fail(errp, "KVM_SET_MSRS");
    }
    if ((uint32_t)r != s->nmsrs) {
        /* KVM sets them in order and stops at the first it refuses */
        g_set_error(errp, VIREO_ERROR, 0, "KVM refused MSR 0x%x = 0x%"
                    G_GINT64_MODIFIER "x", s->msr_index[r],
                    s->msr_value[r]);
        return false;
    }
    return true;
}

/*
 * In the order KVM's checks need: CR4/EFER and the APIC base (SREGS)
 * first, XCR0 before the XSAVE area it governs, the LAPIC before the
 * TSC-deadline MSR it times with, events and MP state last.
 */
static bool vcpu_put(CPUState *cpu, const KVMStateCaps *c, KVMVCPUMig *s,
                     GError **errp)
{
    KVMState *ks = kvm_state(cpu->machine);
    KVMVCPU *v = cpu->accel;
    struct kvm_vcpu_events ev;
    g_autofree uint8_t *xsave = g_malloc0(MAX(s->xsave_len, c->xsave_size));
    struct kvm_xcrs xcrs;

    if (s->sregs_kind == SREGS_V2) {
        if (ioctl(v->fd, KVM_SET_SREGS2, s->sregs) < 0) {
            return kvm_fail(errp, "KVM_SET_SREGS2");
        }
    } else if (ioctl(v->fd, KVM_SET_SREGS, s->sregs) < 0) {
        return kvm_fail(errp, "KVM_SET_SREGS");
    }
    if (ioctl(v->fd, KVM_SET_REGS, s->regs) < 0) {
        return kvm_fail(errp, "KVM_SET_REGS");
    }
    memcpy(&xcrs, s->xcrs, sizeof(xcrs));
    if (xcrs.nr_xcrs && ioctl(v->fd, KVM_SET_XCRS, &xcrs) < 0) {
        return kvm_fail(errp, "KVM_SET_XCRS");
    }
    memcpy(xsave, s->xsave, s->xsave_len);
    if (ioctl(v->fd, KVM_SET_XSAVE, xsave) < 0) {
        return kvm_fail(errp, "KVM_SET_XSAVE");
    }
    if (s->has_lapic && ioctl(v->fd, KVM_SET_LAPIC, s->lapic) < 0) {
        return kvm_fail(errp, "KVM_SET_LAPIC");
    }
    if (!set_msrs(v, s, errp)) {
        return false;
    }
    memcpy(&ev, s->events, sizeof(ev));
    /* GET leaves these out; SET takes them when flagged */
    ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING |
                KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
        return kvm_fail(errp, "KVM_SET_VCPU_EVENTS");
    }
    if (ioctl(v->fd, KVM_SET_DEBUGREGS, s->debugregs) < 0) {
        return kvm_fail(errp, "KVM_SET_DEBUGREGS");
    }
    if (s->has_lapic) {
        struct kvm_mp_state mp = { s->mp_state };
        if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0) {
            return kvm_fail(errp, "KVM_SET_MP_STATE");
        }
    } else if (ks->irqchip == KERNEL_IRQCHIP_OFF) {
        v->halted = s->halted;
        v->halt_if = s->halt_if;
        v->wait_for_sipi = s->wait_for_sipi;
        cpu->sipi_vector = s->sipi_vector;
        cpu_reset_interrupt(cpu, PENDING_EVENTS);
        __atomic_or_fetch(&cpu->interrupt_request, s->pending,
                          __ATOMIC_SEQ_CST);
    }
    return true;
}

bool kvm_vcpu_state_load(CPUState *cpu, const uint8_t *data, size_t len,
                         bool apply, GError **errp)
{
    const KVMStateCaps *c = state_caps(cpu->machine, errp);
    g_autofree KVMVCPUMig *s = g_new0(KVMVCPUMig, 1);
    VMStateReader in = { .data = data, .len = len };

    if (!c) {
        return false;
    }
    if (!vmstate_load_state(&in, &vmstate_kvm_vcpu, s, errp)) {
        return false;
    }
    if (in.pos != in.len) {
        g_set_error(errp, VIREO_ERROR, 0, "%zu stray bytes after the "
                    "vCPU's state", in.len - in.pos);
        return false;
    }
    if (!vcpu_check(cpu, c, s, errp)) {
        return false;
    }
    return !apply || vcpu_put(cpu, c, s, errp);
}

/* ---- the VM ---- */

typedef struct KVMVMMig {
    uint8_t irqchip_mode;
    bool has_clock;
    uint64_t clock;
    uint64_t tsc;
    bool has_chips;
    uint8_t pic_master[sizeof(((struct kvm_irqchip *)0)->chip)];
    uint8_t pic_slave[sizeof(((struct kvm_irqchip *)0)->chip)];
    uint8_t ioapic[sizeof(((struct kvm_irqchip *)0)->chip)];
    uint8_t pit[sizeof(struct kvm_pit_state2)];
} KVMVMMig;

static bool chips_needed(void *opaque)
{
    return ((KVMVMMig *)opaque)->has_chips;
}

static bool chips_pre_load(void *opaque, GError **errp)
{
    ((KVMVMMig *)opaque)->has_chips = true;
    return true;
}

static const VMStateField chips_fields[] = {
    VMSTATE_BUFFER(pic_master, KVMVMMig),
    VMSTATE_BUFFER(pic_slave, KVMVMMig),
    VMSTATE_BUFFER(ioapic, KVMVMMig),
    VMSTATE_BUFFER(pit, KVMVMMig),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvm_chips = {
    .name = "kvm-in-kernel-irqchip",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = chips_fields,
    .needed = chips_needed,
    .pre_load = chips_pre_load,
};

static const VMStateDescription *const vm_subsections[] = {
    &vmstate_kvm_chips,
    NULL,
};

static const VMStateField vm_fields[] = {
    VMSTATE_UINT8(irqchip_mode, KVMVMMig),
    VMSTATE_BOOL(has_clock, KVMVMMig),
    VMSTATE_UINT64(clock, KVMVMMig),
    VMSTATE_UINT64(tsc, KVMVMMig),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvm_vm = {
    .name = "kvm-vm",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vm_fields,
    .subsections = vm_subsections,
};

static bool get_chip(KVMState *s, uint32_t id, uint8_t *out, GError **errp)
{
    struct kvm_irqchip chip = { .chip_id = id };

    if (ioctl(s->vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
        return kvm_fail(errp, "KVM_GET_IRQCHIP");
    }
    memcpy(out, &chip.chip, sizeof(chip.chip));
    return true;
}

static bool set_chip(KVMState *s, uint32_t id, const uint8_t *in,
                     GError **errp)
{
    struct kvm_irqchip chip = { .chip_id = id };

    memcpy(&chip.chip, in, sizeof(chip.chip));
    if (ioctl(s->vm_fd, KVM_SET_IRQCHIP, &chip) < 0) {
        return kvm_fail(errp, "KVM_SET_IRQCHIP");
    }
    return true;
}

static bool vcpu_tsc(KVMVCPU *v, uint64_t *tsc, bool write, GError **errp)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = { .hdr.nmsrs = 1, .e.index = MSR_IA32_TSC, .e.data = *tsc };

    if (ioctl(v->fd, write ? KVM_SET_MSRS : KVM_GET_MSRS, &m) != 1) {
        return kvm_fail(errp, write ? "setting the TSC" : "reading the TSC");
    }
    *tsc = m.e.data;
    return true;
}

bool kvm_state_save(Machine *m, GByteArray *out, GError **errp)
{
    KVMState *ks = kvm_state(m);
    const KVMStateCaps *c = state_caps(m, errp);
    KVMVMMig s = { .irqchip_mode = ks->irqchip };

    if (!c || !vcpu_tsc(m->cpus[0]->accel, &s.tsc, false, errp)) {
        return false;
    }
    if (c->clock) {
        struct kvm_clock_data clk = { 0 };
        if (ioctl(ks->vm_fd, KVM_GET_CLOCK, &clk) < 0) {
            return kvm_fail(errp, "KVM_GET_CLOCK");
        }
        s.has_clock = true;
        s.clock = clk.clock;
    }
    if (ks->irqchip == KERNEL_IRQCHIP_ON) {
        s.has_chips = true;
        if (!get_chip(ks, KVM_IRQCHIP_PIC_MASTER, s.pic_master, errp) ||
            !get_chip(ks, KVM_IRQCHIP_PIC_SLAVE, s.pic_slave, errp) ||
            !get_chip(ks, KVM_IRQCHIP_IOAPIC, s.ioapic, errp)) {
            return false;
        }
        if (ioctl(ks->vm_fd, KVM_GET_PIT2, s.pit) < 0) {
            return kvm_fail(errp, "KVM_GET_PIT2");
        }
    }
    return vmstate_save_state(out, &vmstate_kvm_vm, &s, errp);
}

bool kvm_state_load(Machine *m, const uint8_t *data, size_t len, bool apply,
                    GError **errp)
{
    KVMState *ks = kvm_state(m);
    const KVMStateCaps *c = state_caps(m, errp);
    KVMVMMig s = { 0 };
    VMStateReader in = { .data = data, .len = len };

    if (!c || !vmstate_load_state(&in, &vmstate_kvm_vm, &s, errp)) {
        return false;
    }
    if (in.pos != in.len) {
        g_set_error(errp, VIREO_ERROR, 0, "%zu stray bytes after the VM's "
                    "state", in.len - in.pos);
        return false;
    }
    if (s.irqchip_mode != ks->irqchip ||
        s.has_chips != (ks->irqchip == KERNEL_IRQCHIP_ON)) {
        g_set_error(errp, VIREO_ERROR, 0, "the state is from a VM with "
                    "another -machine kernel-irqchip (mode %u, here %u)",
                    s.irqchip_mode, ks->irqchip);
        return false;
    }
    if (s.has_clock && !c->clock) {
        g_set_error(errp, VIREO_ERROR, 0, "the state has kvmclock; this "
                    "host's KVM lacks KVM_CAP_ADJUST_CLOCK");
        return false;
    }
    if (!apply) {
        return true;
    }
    if (s.has_chips) {
        if (!set_chip(ks, KVM_IRQCHIP_PIC_MASTER, s.pic_master, errp) ||
            !set_chip(ks, KVM_IRQCHIP_PIC_SLAVE, s.pic_slave, errp) ||
            !set_chip(ks, KVM_IRQCHIP_IOAPIC, s.ioapic, errp)) {
            return false;
        }
        if (ioctl(ks->vm_fd, KVM_SET_PIT2, s.pit) < 0) {
            return kvm_fail(errp, "KVM_SET_PIT2");
        }
    }
    if (s.has_clock) {
        struct kvm_clock_data clk = { .clock = s.clock };
        if (ioctl(ks->vm_fd, KVM_SET_CLOCK, &clk) < 0) {
            return kvm_fail(errp, "KVM_SET_CLOCK");
        }
    }
    /* the same value everywhere: KVM then keeps one offset for all */
    for (int i = 0; i < m->ncpus; i++) {
        uint64_t tsc = s.tsc;
        if (!vcpu_tsc(m->cpus[i]->accel, &tsc, true, errp)) {
            return false;
        }
    }
    return true;
}
