/*
 * gdb's breakpoints, watchpoints and single step under KVM (the KVM API's
 * KVM_SET_GUEST_DEBUG). Hardware breakpoints and watchpoints take the four
 * debug registers (KVM_GUESTDBG_USE_HW_BP); gdb's ordinary breakpoints
 * take the registers left over, so that they hold when the guest loads
 * code over them and change no guest memory, and only beyond those become
 * int3 bytes whose #BP KVM hands to us (KVM_GUESTDBG_USE_SW_BP; PVM's
 * KVM cannot deliver those, and fails the guest). A step is
 * KVM_GUESTDBG_SINGLESTEP, with interrupts held off where KVM can
 * (KVM_GUESTDBG_BLOCKIRQ). A #DB or #BP that none of ours explains is the
 * guest's own and goes back to it.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_int.h"
#include "system/vm.h"
#include "target/x86/inspect.h"
#include "util/log.h"
#include "util/opts.h"

/* An int3 in guest memory and the byte it replaced. */
typedef struct SwBreak {
    uint64_t lin, gpa;
    uint8_t orig;
} SwBreak;

/* The machine's set as armed (one machine per process). */
static struct {
    GuestDebug dbg;
    SwBreak sw[DEBUG_POINTS_MAX];
    int nsw;
    int hw[4];              /* DRn: index into dbg.points, or -1 */
} armed = { .dbg = { .step_cpu = -1 }, .hw = { -1, -1, -1, -1 } };

static void sw_remove_all(Machine *m)
{
    for (int i = 0; i < armed.nsw; i++) {
        uint8_t b;
        /* only our int3: code the guest loaded over it stays */
        if (address_space_read(&m->as_mem, armed.sw[i].gpa, &b, 1) ==
                MEMTX_OK && b == 0xcc) {
            address_space_write(&m->as_mem, armed.sw[i].gpa,
                                &armed.sw[i].orig, 1);
        }
    }
    armed.nsw = 0;
}

/*
 * Which point each debug register takes (-1: none): the hardware ones in
 * order, then software breakpoints while registers are free. False when
 * there are more than four hardware ones.
 */
static bool assign_registers(const GuestDebug *dbg, int hw[4],
                             GError **errp)
{
    int n = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < dbg->npoints; i++) {
            bool sw = dbg->points[i].type == DEBUG_BP_SW;
            if (sw != (pass == 1)) {
                continue;
            }
            if (n == 4 && !sw) {
                g_set_error(errp, VIREO_ERROR, 0, "KVM has 4 debug "
                            "registers for hardware breakpoints and "
                            "watchpoints");
                return false;
            }
            if (n < 4) {
                hw[n++] = i;
            }
        }
    }
    while (n < 4) {
        hw[n++] = -1;
    }
    return true;
}

static bool in_register(const int hw[4], int i)
{
    return hw[0] == i || hw[1] == i || hw[2] == i || hw[3] == i;
}

/* int3 at each software breakpoint without a register, through the first
 * vCPU's paging. */
static bool sw_insert_all(Machine *m, const GuestDebug *dbg,
                          const int hw[4], GError **errp)
{
    X86CPUSnapshot snap;

    for (int i = 0; i < dbg->npoints; i++) {
        const GuestDebugPoint *p = &dbg->points[i];
        SwBreak *b = &armed.sw[armed.nsw];
        static const uint8_t int3 = 0xcc;

        if (p->type != DEBUG_BP_SW || in_register(hw, i)) {
            continue;
        }
        if (!armed.nsw && !kvm_vcpu_get_state(m->cpus[0], &snap, errp)) {
            return false;
        }
        b->lin = p->addr;
        if (!x86_page_walk(&m->as_mem, &snap, p->addr, &b->gpa, NULL) ||
            address_space_read(&m->as_mem, b->gpa, &b->orig, 1) !=
                MEMTX_OK ||
            address_space_write(&m->as_mem, b->gpa, &int3, 1) != MEMTX_OK) {
            g_set_error(errp, VIREO_ERROR, 0, "no RAM at 0x%" PRIx64
                        " for a breakpoint", p->addr);
            return false;
        }
        armed.nsw++;
    }
    return true;
}

/* DR7's RW and LEN bits for a point in DRn (SDM vol. 3 17.2.4). */
static bool dr7_bits(const GuestDebugPoint *p, int n, uint64_t *dr7,
                     GError **errp)
{
    static const int len_bits[9] = { [1] = 0, [2] = 1, [4] = 3, [8] = 2 };
    bool exec = !debug_is_watch(p->type);
    uint64_t rw = exec ? 0 : p->type == DEBUG_WP_WRITE ? 1 : 3;   /* no RO */
    uint64_t len = exec ? 1 : p->len;

    if (len > 8 || (len & (len - 1)) || (p->addr & (len - 1))) {
        g_set_error(errp, VIREO_ERROR, 0, "a hardware watchpoint covers "
                    "1, 2, 4 or 8 aligned bytes, not %" PRIu64 " at 0x%"
                    PRIx64, p->len, p->addr);
        return false;
    }
    *dr7 |= (2ull << (n * 2)) | (rw << (16 + n * 4)) |
            ((uint64_t)len_bits[len] << (18 + n * 4));
    return true;
}

static bool set_guest_debug(CPUState *cpu, const GuestDebug *dbg,
                            const int hw[4], uint32_t extra, GError **errp)
{
    KVMState *s = kvm_state(cpu->machine);
    KVMVCPU *v = cpu->accel;
    struct kvm_guest_debug g = { 0 };
    uint64_t dr7 = 0x600;       /* GE, and bit 10 that is always set */
    int nhw = 0;

    for (int i = 0; i < dbg->npoints; i++) {
        if (dbg->points[i].type == DEBUG_BP_SW && !in_register(hw, i)) {
            g.control |= KVM_GUESTDBG_USE_SW_BP;
        }
    }
    for (; nhw < 4 && hw[nhw] >= 0; nhw++) {
        const GuestDebugPoint *p = &dbg->points[hw[nhw]];
        if (!dr7_bits(p, nhw, &dr7, errp)) {
            return false;
        }
        g.arch.debugreg[nhw] = p->addr;
    }
    if (nhw) {
        g.control |= KVM_GUESTDBG_USE_HW_BP;
        g.arch.debugreg[7] = dr7;
    }
    if (dbg->step_cpu == cpu->index) {
        g.control |= KVM_GUESTDBG_SINGLESTEP |
                     (s->guest_debug_flags & KVM_GUESTDBG_BLOCKIRQ);
    }
    if (g.control || extra) {
        g.control |= KVM_GUESTDBG_ENABLE | extra;
    }
    v->debug = g;
    /* the vCPU's own thread hands it over (PVM's KVM takes int3 only
     * then), except from that thread itself, giving an exception back */
    v->debug_pending = !extra;
    if (extra && ioctl(v->fd, KVM_SET_GUEST_DEBUG, &g) < 0) {
        return kvm_fail(errp, "KVM_SET_GUEST_DEBUG");
    }
    return true;
}

void kvm_debug_pre_run(CPUState *cpu)
{
    KVMVCPU *v = cpu->accel;

    if (v->debug_pending) {
        v->debug_pending = false;
        if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &v->debug) < 0) {
            log_error("KVM: vCPU %d: KVM_SET_GUEST_DEBUG: %s", cpu->index,
                      g_strerror(errno));
        }
    }
}

bool kvm_debug_update(Machine *m, const GuestDebug *dbg, GError **errp)
{
    KVMState *s = kvm_state(m);
    int hw[4];

    if (!s->guest_debug_flags) {
        g_set_error(errp, VIREO_ERROR, 0, "this host's KVM cannot debug "
                    "guests (no KVM_CAP_SET_GUEST_DEBUG)");
        return false;
    }
    if (!assign_registers(dbg, hw, errp)) {
        return false;
    }
    /* checked on the first vCPU: the others take the same (parked, they
     * hand it to KVM before they next run) */
    for (int i = 0; i < m->ncpus; i++) {
        if (m->cpus[i]->accel &&
            !set_guest_debug(m->cpus[i], dbg, hw, 0, errp)) {
            for (int k = 0; k < i; k++) {
                set_guest_debug(m->cpus[k], &armed.dbg, armed.hw, 0, NULL);
            }
            return false;
        }
    }
    sw_remove_all(m);
    if (!sw_insert_all(m, dbg, hw, errp)) {
        sw_remove_all(m);
        sw_insert_all(m, &armed.dbg, armed.hw, NULL);
        for (int i = 0; i < m->ncpus; i++) {
            if (m->cpus[i]->accel) {
                set_guest_debug(m->cpus[i], &armed.dbg, armed.hw, 0, NULL);
            }
        }
        return false;
    }
    armed.dbg = *dbg;
    memcpy(armed.hw, hw, sizeof(armed.hw));
    return true;
}

static bool stop_for(CPUState *cpu, GuestDebugStop why, int point)
{
    GuestDebugHit hit = { .cpu = cpu->index, .why = why };

    if (point >= 0) {
        hit.point = armed.dbg.points[point];
    }
    vm_request_debug(&hit);
    return true;
}

/* Ours (the vCPU stops) or the guest's own exception (given back). */
bool kvm_debug_exit(CPUState *cpu, const struct kvm_debug_exit_arch *a)
{
    if (a->exception == 1) {            /* #DB */
        if (armed.dbg.step_cpu == cpu->index) {
            return stop_for(cpu, DEBUG_STOP_STEP, -1);
        }
        for (int n = 0; n < 4; n++) {
            int i = armed.hw[n];
            if ((a->dr6 & (1u << n)) && i >= 0) {
                return stop_for(cpu, debug_is_watch(armed.dbg.points[i].type)
                                ? DEBUG_STOP_WATCH : DEBUG_STOP_BREAK, i);
            }
        }
    } else if (a->exception == 3) {     /* #BP */
        for (int i = 0; i < armed.dbg.npoints; i++) {
            if (armed.dbg.points[i].type == DEBUG_BP_SW &&
                armed.dbg.points[i].addr == a->pc) {
                return stop_for(cpu, DEBUG_STOP_BREAK, i);
            }
        }
    }
    g_autoptr(GError) err = NULL;
    if (!set_guest_debug(cpu, &armed.dbg, armed.hw, a->exception == 3
                         ? KVM_GUESTDBG_INJECT_BP : KVM_GUESTDBG_INJECT_DB,
                         &err)) {
        log_error_once("KVM: vCPU %d: giving the guest its #%s back: %s",
                       cpu->index, a->exception == 3 ? "BP" : "DB",
                       err->message);
    }
    return false;
}

bool kvm_vcpu_set_regs(CPUState *cpu, const X86CoreRegs *regs,
                       GError **errp)
{
    KVMVCPU *v = cpu->accel;
    struct kvm_regs r;

    if (!v) {
        g_set_error(errp, VIREO_ERROR, 0, "vCPU %d does not exist yet",
                    cpu->index);
        return false;
    }
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0) {
        return kvm_fail(errp, "KVM_GET_REGS");
    }
    __u64 *gprs[16] = {
        &r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
        &r.r8, &r.r9, &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15,
    };
    for (int i = 0; i < 16; i++) {
        *gprs[i] = regs->regs[i];
    }
    r.rip = regs->rip;
    r.rflags = regs->rflags | 2;
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
        return kvm_fail(errp, "KVM_SET_REGS");
    }
    return true;
}
