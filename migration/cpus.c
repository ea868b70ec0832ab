/*
 * The vCPUs' and the accelerator's state as one section of a snapshot or
 * a migration stream. The content of each part is the accelerator's
 * (AccelOps.state_save / vcpu_state_save); this file frames the parts,
 * records what they must fit (accelerator, vCPU count and APIC IDs), the
 * virtual clock that timers and the TSC are counted in, and makes a load
 * all or nothing.
 *
 * Format (integers big-endian, as in include/migration/vmstate.h):
 *
 *   cpus   := "VCPU" u32:format(1) u8:len accel-name u32:ncpus
 *             u64:virtual-clock-ns
 *             u32:length accel-state
 *             (u32:apic-id u32:length vcpu-state){ncpus}
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "migration/cpus.h"
#include "migration/vmstate.h"
#include "system/accel.h"
#include "system/timer.h"
#include "util/opts.h"

#define CPUS_MAGIC  0x56435055u     /* "VCPU" */
#define CPUS_FORMAT 1u

/* One part of a parsed stream: a window into the caller's bytes. */
typedef struct CpusPart {
    const uint8_t *data;
    uint32_t len;
} CpusPart;

typedef struct CpusStream {
    int64_t clock_ns;
    CpusPart accel;
    CpusPart *vcpus;            /* m->ncpus of them */
} CpusStream;

/*
 * A vCPU is parked once a pause asked it to stop and it said it did (the
 * flag alone lags behind a resume). qtest's vCPUs run nothing.
 */
static bool vcpus_parked(Machine *m, GError **errp)
{
    if (!m->accel->vcpu_state_save) {
        return true;
    }
    for (int i = 0; i < m->ncpus; i++) {
        CPUState *cpu = m->cpus[i];
        if (cpu->created && !(__atomic_load_n(&cpu->stop, __ATOMIC_SEQ_CST) && cpu->stopped)) {
            g_set_error(errp, VIREO_ERROR, 0, "vCPU %d is running: the VM "
                        "must be stopped to save or load vCPU state", i);
            return false;
        }
    }
    return true;
}

/* Appends a u32 length, then what fn wrote, and fills the length in. */
static size_t part_begin(GByteArray *out)
{
    vmstate_put_u32(out, 0);
    return out->len;
}

static void part_end(GByteArray *out, size_t start)
{
    uint32_t len = out->len - start;
    uint8_t *p = out->data + start - 4;

    p[0] = len >> 24;
    p[1] = len >> 16;
    p[2] = len >> 8;
    p[3] = len;
}

bool cpus_state_save(Machine *m, GByteArray *out, GError **errp)
{
    const AccelOps *ops = m->accel;
    size_t name_len = strlen(ops->name), start;
    guint old_len = out->len;

    if (!vcpus_parked(m, errp)) {
        return false;
    }
    vmstate_put_u32(out, CPUS_MAGIC);
    vmstate_put_u32(out, CPUS_FORMAT);
    vmstate_put_u8(out, name_len);
    g_byte_array_append(out, (const guint8 *)ops->name, name_len);
    vmstate_put_u32(out, m->ncpus);
    vmstate_put_u64(out, clock_get_ns(CLK_VIRTUAL));

    start = part_begin(out);
    if (ops->state_save && !ops->state_save(m, out, errp)) {
        goto fail;
    }
    part_end(out, start);
    for (int i = 0; i < m->ncpus; i++) {
        CPUState *cpu = m->cpus[i];
        vmstate_put_u32(out, cpu->apic_id);
        start = part_begin(out);
        if (ops->vcpu_state_save && !ops->vcpu_state_save(cpu, out, errp)) {
            g_prefix_error(errp, "vCPU %d: ", i);
            goto fail;
        }
        part_end(out, start);
    }
    return true;

fail:
    g_byte_array_set_size(out, old_len);
    return false;
}

static bool get_part(VMStateReader *in, CpusPart *p, GError **errp)
{
    if (!vmstate_get_u32(in, &p->len, errp)) {
        return false;
    }
    if (p->len > in->len - in->pos) {
        g_set_error(errp, VIREO_ERROR, 0, "truncated: a part of %u bytes "
                    "with %zu left", p->len, in->len - in->pos);
        return false;
    }
    p->data = in->data + in->pos;
    in->pos += p->len;
    return true;
}

/* Checks the framing against m and splits the stream into its parts. */
static bool parse_stream(Machine *m, const uint8_t *data, size_t len,
                         CpusStream *st, GError **errp)
{
    VMStateReader in = { .data = data, .len = len };
    uint32_t magic, format, ncpus;
    uint8_t name_len;
    char name[256];
    uint64_t clock_ns;

    if (!vmstate_get_u32(&in, &magic, errp) ||
        !vmstate_get_u32(&in, &format, errp)) {
        return false;
    }
    if (magic != CPUS_MAGIC) {
        g_set_error(errp, VIREO_ERROR, 0, "not a vCPU state section "
                    "(magic 0x%08x)", magic);
        return false;
    }
    if (format != CPUS_FORMAT) {
        g_set_error(errp, VIREO_ERROR, 0, "vCPU state format %u is not "
                    "known to this build (it reads %u)", format,
                    CPUS_FORMAT);
        return false;
    }
    if (!vmstate_get_u8(&in, &name_len, errp) ||
        !vmstate_get_bytes(&in, name, name_len, errp)) {
        return false;
    }
    name[name_len] = '\0';
    if (strlen(name) != name_len || strcmp(name, m->accel->name)) {
        g_autofree char *shown = g_strescape(name, "");
        g_set_error(errp, VIREO_ERROR, 0, "the vCPU state was saved under "
                    "accelerator '%s', this VM runs '%s'; state does not "
                    "move between accelerators", shown, m->accel->name);
        return false;
    }
    if (!vmstate_get_u32(&in, &ncpus, errp)) {
        return false;
    }
    if (ncpus != (uint32_t)m->ncpus) {
        g_set_error(errp, VIREO_ERROR, 0, "the stream has %u vCPUs, this VM "
                    "%d", ncpus, m->ncpus);
        return false;
    }
    if (!vmstate_get_u64(&in, &clock_ns, errp)) {
        return false;
    }
    if (clock_ns > (uint64_t)INT64_MAX / 2) {
        g_set_error(errp, VIREO_ERROR, 0, "virtual clock %" G_GUINT64_FORMAT
                    " ns is out of range", clock_ns);
        return false;
    }
    st->clock_ns = clock_ns;
    if (!get_part(&in, &st->accel, errp)) {
        g_prefix_error(errp, "accelerator state: ");
        return false;
    }
    st->vcpus = g_new0(CpusPart, m->ncpus);
    for (int i = 0; i < m->ncpus; i++) {
        uint32_t apic_id;
        if (!vmstate_get_u32(&in, &apic_id, errp) ||
            !get_part(&in, &st->vcpus[i], errp)) {
            g_prefix_error(errp, "vCPU %d: ", i);
            return false;
        }
        if (apic_id != m->cpus[i]->apic_id) {
            g_set_error(errp, VIREO_ERROR, 0, "vCPU %d has APIC ID %u in "
                        "the stream, %u here", i, apic_id,
                        m->cpus[i]->apic_id);
            return false;
        }
    }
    if (in.pos != in.len) {
        g_set_error(errp, VIREO_ERROR, 0, "%zu stray bytes after the vCPU "
                    "state", in.len - in.pos);
        return false;
    }
    return true;
}

/* An accelerator without the hook has nothing to say: an empty part. */
static bool load_vm_part(Machine *m, const CpusPart *p, bool apply,
                         GError **errp)
{
    if (!m->accel->state_load) {
        if (p->len) {
            g_set_error(errp, VIREO_ERROR, 0, "%u bytes of accelerator "
                        "state where '%s' keeps none", p->len,
                        m->accel->name);
            return false;
        }
        return true;
    }
    if (!m->accel->state_load(m, p->data, p->len, apply, errp)) {
        g_prefix_error(errp, "accelerator state: ");
        return false;
    }
    return true;
}

static bool load_vcpu_part(Machine *m, int i, const CpusPart *p, bool apply,
                           GError **errp)
{
    bool ok = true;

    if (!m->accel->vcpu_state_load) {
        if (p->len) {
            g_set_error(errp, VIREO_ERROR, 0, "%u bytes of state where '%s' "
                        "keeps none", p->len, m->accel->name);
            ok = false;
        }
    } else {
        ok = m->accel->vcpu_state_load(m->cpus[i], p->data, p->len, apply,
                                       errp);
    }
    if (!ok) {
        g_prefix_error(errp, "vCPU %d: ", i);
    }
    return ok;
}

static bool apply_stream(Machine *m, const CpusStream *st, GError **errp)
{
    clock_virtual_restore(st->clock_ns);
    if (!load_vm_part(m, &st->accel, true, errp)) {
        return false;
    }
    for (int i = 0; i < m->ncpus; i++) {
        if (!load_vcpu_part(m, i, &st->vcpus[i], true, errp)) {
            return false;
        }
    }
    return true;
}

bool cpus_state_load(Machine *m, const uint8_t *data, size_t len,
                     GError **errp)
{
    CpusStream st = { 0 }, old = { 0 };
    g_autoptr(GByteArray) backup = NULL;
    bool ok = false;

    if (!vcpus_parked(m, errp)) {
        return false;
    }
    if (!parse_stream(m, data, len, &st, errp)) {
        goto out;
    }
    /* everything is decoded and checked before anything changes */
    if (!load_vm_part(m, &st.accel, false, errp)) {
        goto out;
    }
    for (int i = 0; i < m->ncpus; i++) {
        if (!load_vcpu_part(m, i, &st.vcpus[i], false, errp)) {
            goto out;
        }
    }
    /*
     * The accelerator may still refuse a value when it is applied (KVM
     * checks some only then): keep the current state to put it back.
     */
    backup = g_byte_array_new();
    if (!cpus_state_save(m, backup, errp)) {
        g_prefix_error(errp, "saving the current state before the load: ");
        goto out;
    }
    if (!parse_stream(m, backup->data, backup->len, &old, errp)) {
        goto out;   /* our own stream: cannot happen */
    }
    ok = apply_stream(m, &st, errp);
    if (!ok) {
        g_autoptr(GError) err2 = NULL;
        if (apply_stream(m, &old, &err2)) {
            g_prefix_error(errp, "(the previous state was put back) ");
        } else {
            g_prefix_error(errp, "(putting the previous state back failed "
                           "too: %s) ", err2->message);
        }
    }

out:
    g_free(st.vcpus);
    g_free(old.vcpus);
    return ok;
}
