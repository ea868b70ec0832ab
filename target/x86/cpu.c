/*
 * The software CPU as an object: allocation, RESET/INIT state (Intel SDM
 * vol. 3, 9.1), CPUID (SDM vol. 2A, CPUID) and the model-specific
 * registers it implements (SDM vol. 4).
 */
#include <glib.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/intc/x86-irqchip.h"
#include "system/runstate.h"
#include "system/timer.h"
#include "int.h"
#include "sys-internal.h"

/* CPUID.1:EDX */
#define F1D_FPU     (1u << 0)
#define F1D_DE      (1u << 2)
#define F1D_PSE     (1u << 3)
#define F1D_TSC     (1u << 4)
#define F1D_MSR     (1u << 5)
#define F1D_PAE     (1u << 6)
#define F1D_MCE     (1u << 7)
#define F1D_CX8     (1u << 8)
#define F1D_APIC    (1u << 9)
#define F1D_SEP     (1u << 11)
#define F1D_MTRR    (1u << 12)
#define F1D_PGE     (1u << 13)
#define F1D_MCA     (1u << 14)
#define F1D_CMOV    (1u << 15)
#define F1D_PAT     (1u << 16)
#define F1D_PSE36   (1u << 17)
#define F1D_CLFSH   (1u << 19)
#define F1D_MMX     (1u << 23)
#define F1D_FXSR    (1u << 24)
#define F1D_SSE     (1u << 25)
#define F1D_SSE2    (1u << 26)
#define F1D_HTT     (1u << 28)
/* CPUID.1:ECX */
#define F1C_SSE3    (1u << 0)
#define F1C_SSSE3   (1u << 9)
#define F1C_CX16    (1u << 13)
#define F1C_SSE41   (1u << 19)
#define F1C_SSE42   (1u << 20)
#define F1C_POPCNT  (1u << 23)
#define F1C_TSC_DEADLINE (1u << 24)
#define F1C_HYPERVISOR (1u << 31)
/* CPUID.7.0:EDX */
#define F7D_ARCH_CAPABILITIES (1u << 29)
/* CPUID.80000001h */
#define F81C_LAHF_LM (1u << 0)
#define F81D_SYSCALL (1u << 11)
#define F81D_NX     (1u << 20)
#define F81D_PDPE1GB (1u << 26)
#define F81D_RDTSCP (1u << 27)
#define F81D_LM     (1u << 29)
/* CPUID.80000007h:EDX: the TSC runs at a constant rate in all states */
#define F87D_INVTSC (1u << 8)

#define CPUID_MAX_BASIC     0x16u
#define CPUID_MAX_HV        0x40000001u
#define CPUID_MAX_EXT       0x80000008u

#define MSR_PLATFORM_INFO   0xce
#define MSR_ARCH_CAPABILITIES 0x10a
/*
 * An interpreter does not execute speculatively, so none of the transient
 * execution attacks applies; saying so (Meltdown's RDCL_NO and the rest)
 * spares a guest its mitigations, page-table isolation first of all, which
 * would cost it a TLB flush on every kernel entry.
 */
#define ARCH_CAP_RDCL_NO        (1ull << 0)
#define ARCH_CAP_SKIP_L1DFL     (1ull << 3)
#define ARCH_CAP_SSB_NO         (1ull << 4)
#define ARCH_CAP_MDS_NO         (1ull << 5)
#define ARCH_CAP_PSCHANGE_MC_NO (1ull << 6)
#define ARCH_CAP_TAA_NO         (1ull << 8)
#define ARCH_CAP_SBDR_SSDP_NO   (1ull << 13)
#define ARCH_CAP_FBSDP_NO       (1ull << 14)
#define ARCH_CAP_PSDP_NO        (1ull << 15)
#define ARCH_CAP_BHI_NO         (1ull << 20)
#define ARCH_CAP_PBRSB_NO       (1ull << 24)
#define ARCH_CAP_GDS_NO         (1ull << 26)
#define ARCH_CAP_RFDS_NO        (1ull << 27)
#define ARCH_CAP_ITS_NO         (1ull << 62)
#define ARCH_CAP_VALUE                                                      \
    (ARCH_CAP_RDCL_NO | ARCH_CAP_SKIP_L1DFL | ARCH_CAP_SSB_NO |             \
     ARCH_CAP_MDS_NO | ARCH_CAP_PSCHANGE_MC_NO | ARCH_CAP_TAA_NO |          \
     ARCH_CAP_SBDR_SSDP_NO | ARCH_CAP_FBSDP_NO | ARCH_CAP_PSDP_NO |         \
     ARCH_CAP_BHI_NO | ARCH_CAP_PBRSB_NO | ARCH_CAP_GDS_NO |                \
     ARCH_CAP_RFDS_NO | ARCH_CAP_ITS_NO)
#define MSR_DEBUGCTL        0x1d9
#define MISC_ENABLE_FAST_STRING 1ull
#define PAT_POWER_ON        0x0007040600070406ull
/* MTRRcap: 8 variable ranges, fixed ranges, write-combining */
#define MTRRCAP_VALUE       0x508ull

X86CPU *x86_cpu_new(CPUState *cs)
{
    X86CPUPriv *p = g_new0(X86CPUPriv, 1);
    X86CPU *cpu = &p->cpu;

    cpu->cs = cs;
    x86_tlb_flush(cpu);
    return cpu;
}

void x86_cpu_free(X86CPU *cpu)
{
    if (!cpu) {
        return;
    }
    x86_block_cache_free(cpu);
    g_free(cpu->debug);
    g_free(x86_priv(cpu));
}

static void seg_real(SegmentCache *s, uint16_t sel, uint32_t type)
{
    s->selector = sel;
    s->base = (uint64_t)sel << 4;
    s->limit = 0xffff;
    s->flags = DESC_P_MASK | DESC_S_MASK | (type << DESC_TYPE_SHIFT);
}

void x86_cpu_init_state(X86CPU *cpu, bool power_on)
{
    memset(cpu->regs, 0, sizeof(cpu->regs));
    cpu->regs[R_EDX] = X86_CPUID_SIGNATURE;
    cpu->rip = cpu->next_rip = 0xfff0;
    cpu->eflags = 0x2;
    cpu->cc_op = 0;
    cpu->cc_dst = cpu->cc_src = cpu->cc_src2 = 0;
    x86_set_eflags(cpu, 0x2, ~0ull);

    for (int i = 0; i < 6; i++) {
        seg_real(&cpu->segs[i], 0, 0x3);
    }
    seg_real(&cpu->segs[R_CS], 0xf000, 0xb);
    cpu->segs[R_CS].base = 0xffff0000;
    cpu->ldt = (SegmentCache){ .limit = 0xffff,
                               .flags = DESC_P_MASK | (2 << 8) };
    cpu->tr = (SegmentCache){ .limit = 0xffff,
                              .flags = DESC_P_MASK | (0xb << 8) };
    cpu->gdt = (DescriptorTable){ 0, 0xffff };
    cpu->idt = (DescriptorTable){ 0, 0xffff };
    cpu->cr0 = 0x60000010;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = 0;
    cpu->efer = 0;
    memset(cpu->dr, 0, sizeof(cpu->dr));
    cpu->dr[6] = 0xffff0ff0;
    cpu->dr[7] = 0x400;

    cpu->star = cpu->lstar = cpu->cstar = cpu->fmask = 0;
    cpu->kernel_gs_base = 0;
    cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
    cpu->tsc_aux = 0;
    x86_priv(cpu)->debugctl = 0;

    /* INIT leaves x87/SSE, MTRRs, PAT and machine-check state alone. */
    if (power_on) {
        memset(cpu->fpregs, 0, sizeof(cpu->fpregs));
        cpu->fpuc = 0x37f;
        cpu->fpus = 0;
        cpu->fptags = 0xff;
        cpu->fpstt = 0;
        cpu->fpop = 0;
        cpu->fpip = cpu->fpdp = 0;
        memset(cpu->xmm, 0, sizeof(cpu->xmm));
        cpu->mxcsr = 0x1f80;
        cpu->pat = PAT_POWER_ON;
        cpu->misc_enable = MISC_ENABLE_FAST_STRING;
        cpu->spec_ctrl = 0;
        cpu->mtrr_deftype = 0;
        memset(cpu->mtrr_fixed, 0, sizeof(cpu->mtrr_fixed));
        memset(cpu->mtrr_var, 0, sizeof(cpu->mtrr_var));
        cpu->mcg_status = 0;
    }

    cpu->halted = false;
    cpu->wait_for_sipi = false;
    cpu->nmi_blocked = false;
    cpu->interrupt_shadow = false;
    cpu->triple_fault = false;
    cpu->exception_nesting = 0;
    cpu->exception_vector = -1;
    x86_update_mode(cpu);
    x86_cpu_flush_all(cpu);
}

/* The flat entry state of a kernel started without firmware (as KVM's). */
static void boot_entry_state(X86CPU *cpu, const BootState *b)
{
    bool long64 = b->mode == BOOT_MODE_LONG64;
    uint32_t data = DESC_P_MASK | DESC_S_MASK | DESC_G_MASK | DESC_B_MASK |
                    (0x3 << DESC_TYPE_SHIFT);
    uint32_t code = DESC_P_MASK | DESC_S_MASK | DESC_G_MASK |
                    (0xb << DESC_TYPE_SHIFT) |
                    (long64 ? DESC_L_MASK : DESC_B_MASK);

    for (int i = 0; i < 6; i++) {
        cpu->segs[i] = (SegmentCache){ 0x18, 0, 0xffffffff, data };
    }
    cpu->segs[R_CS] = (SegmentCache){ 0x10, 0, 0xffffffff, code };
    cpu->tr = (SegmentCache){ 0, 0, 0x67, DESC_P_MASK | (0xb << 8) };
    cpu->ldt = (SegmentCache){ 0 };
    cpu->gdt = (DescriptorTable){ b->gdt_base, b->gdt_limit };
    cpu->idt = (DescriptorTable){ 0, 0 };
    cpu->cr0 = CR0_PE | CR0_ET;
    if (long64) {
        cpu->cr0 |= CR0_PG;
        cpu->cr3 = b->cr3;
        cpu->cr4 = CR4_PAE;
        cpu->efer = EFER_LME | EFER_LMA;
    }
    memset(cpu->regs, 0, sizeof(cpu->regs));
    cpu->rip = cpu->next_rip = b->rip;
    cpu->regs[R_ESP] = b->rsp;
    cpu->regs[R_EAX] = b->rax;
    cpu->regs[R_EBX] = b->rbx;
    cpu->regs[R_ESI] = b->rsi;
    x86_update_mode(cpu);
    x86_cpu_flush_all(cpu);
}

void x86_cpu_reset(X86CPU *cpu, const BootState *boot, bool bsp)
{
    x86_cpu_init_state(cpu, true);
    if (!bsp) {
        cpu->wait_for_sipi = true;
    } else if (boot && boot->mode != BOOT_MODE_REAL) {
        boot_entry_state(cpu, boot);
    }
}

bool x86_cpu_has_work(X86CPU *cpu)
{
    int req = __atomic_load_n(&cpu->cs->interrupt_request, __ATOMIC_SEQ_CST);

    if (cpu->wait_for_sipi) {
        return req & (CPU_INTERRUPT_INIT | CPU_INTERRUPT_SIPI);
    }
    if (req & (CPU_INTERRUPT_INIT | CPU_INTERRUPT_NMI)) {
        return true;
    }
    return (req & CPU_INTERRUPT_HARD) && (cpu->eflags & IF_MASK);
}

/* ---- CPUID ---- */

static unsigned topo_bits(unsigned count)
{
    unsigned bits = 0;
    while ((1u << bits) < count) {
        bits++;
    }
    return bits;
}

static void machine_topology(X86CPU *cpu, unsigned *threads,
                             unsigned *cores)
{
    const Machine *m = cpu->cs ? cpu->cs->machine : NULL;

    *threads = m && m->cfg.threads > 0 ? m->cfg.threads : 1;
    *cores = m && m->cfg.cores > 0 ? m->cfg.cores : 1;
}

static void put_string(const char *s, uint32_t *a, uint32_t *b, uint32_t *c,
                       uint32_t *d)
{
    uint32_t *out[4] = { a, b, c, d };
    for (int i = 0; i < 4; i++) {
        memcpy(out[i], s + i * 4, 4);
    }
}

/* Deterministic cache parameters (leaf 4): L1d, L1i, L2, L3. */
static void cpuid_cache(unsigned idx, unsigned threads, unsigned cores,
                        uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                        uint32_t *edx)
{
    static const struct {
        uint8_t type, level, ways;
        uint32_t size;
    } caches[] = {
        { 1, 1, 8, 32 << 10 },      /* data */
        { 2, 1, 8, 32 << 10 },      /* instruction */
        { 3, 2, 8, 256 << 10 },     /* unified */
        { 3, 3, 16, 8 << 20 },      /* unified, shared by the package */
    };
    if (idx >= G_N_ELEMENTS(caches)) {
        *eax = *ebx = *ecx = *edx = 0;
        return;
    }
    unsigned sharing = caches[idx].level >= 3 ? threads * cores : threads;
    unsigned sets = caches[idx].size / (caches[idx].ways * 64);
    *eax = caches[idx].type | (caches[idx].level << 5) | (1u << 8) |
           ((sharing - 1) << 14) | ((MIN(cores, 64u) - 1) << 26);
    *ebx = 63 | ((uint32_t)(caches[idx].ways - 1) << 22);
    *ecx = sets - 1;
    *edx = caches[idx].level >= 3 ? 2 : 0;     /* L3 inclusive */
}

void x86_cpu_cpuid(X86CPU *cpu, uint32_t leaf, uint32_t subleaf,
                   uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                   uint32_t *edx)
{
    unsigned threads, cores;
    uint32_t apic_id = cpu->cs ? cpu->cs->apic_id : 0;

    machine_topology(cpu, &threads, &cores);
    unsigned per_pkg = threads * cores;

    /* Intel: beyond the maximum, the highest basic leaf answers. */
    if ((leaf > CPUID_MAX_BASIC && leaf < 0x40000000) ||
        (leaf > CPUID_MAX_HV && leaf < 0x80000000) || leaf > CPUID_MAX_EXT) {
        leaf = CPUID_MAX_BASIC;
    }
    *eax = *ebx = *ecx = *edx = 0;
    switch (leaf) {
    case 0:
        *eax = CPUID_MAX_BASIC;
        put_string("GenuineIntel....", ebx, edx, ecx, eax);
        *eax = CPUID_MAX_BASIC;
        break;
    case 1:
        *eax = X86_CPUID_SIGNATURE;
        *ebx = (8u << 8) | (MIN(per_pkg, 255u) << 16) |
               ((apic_id & 0xff) << 24);
        *ecx = F1C_SSE3 | F1C_SSSE3 | F1C_CX16 | F1C_SSE41 | F1C_SSE42 |
               F1C_POPCNT | F1C_HYPERVISOR;
        *edx = F1D_FPU | F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE |
               F1D_MCE | F1D_CX8 | F1D_SEP | F1D_MTRR | F1D_PGE | F1D_MCA |
               F1D_CMOV | F1D_PAT | F1D_PSE36 | F1D_CLFSH | F1D_MMX |
               F1D_FXSR | F1D_SSE | F1D_SSE2;
        if (cpu->cs && cpu->cs->apic) {
            *ecx |= F1C_TSC_DEADLINE;
            *edx |= F1D_APIC;
        }
        if (per_pkg > 1) {
            *edx |= F1D_HTT;
        }
        break;
    case 2:
        *eax = 0x0000ff01;      /* descriptor 0xff: see leaf 4 */
        break;
    case 4:
        cpuid_cache(subleaf, threads, cores, eax, ebx, ecx, edx);
        break;
    case 7:
        if (subleaf == 0) {
            *edx = F7D_ARCH_CAPABILITIES;
        }
        break;
    case 0xb:
        *edx = apic_id;
        if (subleaf == 0) {
            *eax = topo_bits(threads);
            *ebx = threads;
            *ecx = 0 | (1 << 8);
        } else if (subleaf == 1) {
            *eax = topo_bits(threads) + topo_bits(cores);
            *ebx = per_pkg;
            *ecx = 1 | (2 << 8);
        } else {
            *ecx = subleaf & 0xff;
        }
        break;
    case 0x15:
        /* TSC = 25 MHz crystal * 40 / 1: exactly 1 GHz */
        *eax = 1;
        *ebx = 40;
        *ecx = 25000000;
        break;
    case 0x16:
        *eax = 1000;
        *ebx = 1000;
        *ecx = 100;
        break;
    case 0x40000000:
        *eax = CPUID_MAX_HV;
        put_string("VireoVireoVi....", ebx, ecx, edx, eax);
        *eax = CPUID_MAX_HV;
        break;
    case 0x80000000:
        *eax = CPUID_MAX_EXT;
        break;
    case 0x80000001:
        *ecx = F81C_LAHF_LM;
        *edx = F81D_SYSCALL | F81D_NX | F81D_PDPE1GB | F81D_RDTSCP | F81D_LM;
        break;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
        static const char brand[48] = "Vireo Virtual CPU @ 1.00GHz";
        put_string(brand + (leaf - 0x80000002) * 16, eax, ebx, ecx, edx);
        break;
    }
    case 0x80000006:
        *ecx = (256u << 16) | (6u << 12) | 64;     /* L2: 256K, 8-way */
        break;
    case 0x80000007:
        *edx = F87D_INVTSC;
        break;
    case 0x80000008:
        *eax = X86_PHYS_BITS | (48 << 8);
        break;
    default:
        /* 3, 5, 6, 8..0xa, 0xc..0x14, 0x40000001, 0x80000005: nothing */
        break;
    }
}

/* ---- MSRs ---- */

uint64_t x86_cpu_get_tsc(X86CPU *cpu)
{
    return clock_get_ns(CLK_VIRTUAL) + cpu->cs->tsc_offset;
}

bool x86_pat_valid(uint64_t pat)
{
    for (int i = 0; i < 8; i++) {
        uint8_t t = pat >> (i * 8);
        if (t == 2 || t == 3 || t > 7) {
            return false;
        }
    }
    return true;
}

bool x86_mtrr_type_valid(uint8_t t)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

/* Index into mtrr_fixed: 0x250, 0x258, 0x259, 0x268..0x26f; or -1. */
static int mtrr_fixed_index(uint32_t index)
{
    switch (index) {
    case 0x250: return 0;
    case 0x258: return 1;
    case 0x259: return 2;
    default:
        return index >= 0x268 && index <= 0x26f ? (int)(index - 0x268) + 3
                                                : -1;
    }
}

static bool msr_apic(X86CPU *cpu, uint32_t index, uint64_t *val, bool write)
{
    APICState *apic = cpu->cs->apic;
    bool ok = true;

    if (!apic) {
        return false;
    }
    bql_lock();
    if (index == MSR_IA32_APICBASE) {
        if (write) {
            ok = apic_set_base(apic, *val);
        } else {
            *val = apic_get_base(apic);
        }
    } else if (write) {
        apic_set_tsc_deadline(apic, *val);
    } else {
        *val = apic_get_tsc_deadline(apic);
    }
    bql_unlock();
    return ok;
}

bool x86_msr_read(X86CPU *cpu, uint32_t index, uint64_t *val)
{
    int fixed = mtrr_fixed_index(index);

    if (fixed >= 0) {
        *val = cpu->mtrr_fixed[fixed];
        return true;
    }
    if (index >= MSR_MTRRphysBase0 && index < MSR_MTRRphysBase0 + 16) {
        *val = cpu->mtrr_var[index - MSR_MTRRphysBase0];
        return true;
    }
    switch (index) {
    case MSR_IA32_TSC:
        *val = x86_cpu_get_tsc(cpu);
        return true;
    case MSR_IA32_APICBASE:
    case MSR_IA32_TSC_DEADLINE:
        return msr_apic(cpu, index, val, false);
    case MSR_IA32_FEATURE_CONTROL:
        *val = 1;       /* locked, VMX and SMX off */
        return true;
    case MSR_IA32_BIOS_SIGN_ID:
    case MSR_IA32_PLATFORM_ID:  /* read by firmware's microcode loaders */
    case MSR_MCG_CAP:   /* no banks */
        *val = 0;
        return true;
    case MSR_PLATFORM_INFO:
        *val = 10 << 8;     /* max non-turbo ratio 10 x 100 MHz */
        return true;
    case MSR_ARCH_CAPABILITIES:
        *val = ARCH_CAP_VALUE;
        return true;
    case MSR_MTRRcap:
        *val = MTRRCAP_VALUE;
        return true;
    case MSR_IA32_SYSENTER_CS: *val = cpu->sysenter_cs; return true;
    case MSR_IA32_SYSENTER_ESP: *val = cpu->sysenter_esp; return true;
    case MSR_IA32_SYSENTER_EIP: *val = cpu->sysenter_eip; return true;
    case MSR_MCG_STATUS: *val = cpu->mcg_status; return true;
    case MSR_IA32_MISC_ENABLE: *val = cpu->misc_enable; return true;
    case MSR_DEBUGCTL: *val = x86_priv(cpu)->debugctl; return true;
    case MSR_PAT: *val = cpu->pat; return true;
    case MSR_MTRRdefType: *val = cpu->mtrr_deftype; return true;
    case MSR_EFER: *val = cpu->efer; return true;
    case MSR_STAR: *val = cpu->star; return true;
    case MSR_LSTAR: *val = cpu->lstar; return true;
    case MSR_CSTAR: *val = cpu->cstar; return true;
    case MSR_FMASK: *val = cpu->fmask; return true;
    case MSR_FSBASE: *val = cpu->segs[R_FS].base; return true;
    case MSR_GSBASE: *val = cpu->segs[R_GS].base; return true;
    case MSR_KERNELGSBASE: *val = cpu->kernel_gs_base; return true;
    case MSR_TSC_AUX: *val = cpu->tsc_aux; return true;
    default:
        /* SPEC_CTRL and everything not advertised: #GP */
        return false;
    }
}

static bool efer_write(X86CPU *cpu, uint64_t val)
{
    uint64_t old = cpu->efer;

    if (val & ~(uint64_t)(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) {
        return false;
    }
    if ((cpu->cr0 & CR0_PG) && ((val ^ old) & EFER_LME)) {
        return false;
    }
    /* LMA follows CR0.PG and LME; software cannot set it */
    cpu->efer = (val & ~(uint64_t)EFER_LMA) | (old & EFER_LMA);
    if ((val ^ old) & EFER_NXE) {
        x86_tlb_flush(cpu);
    }
    x86_update_mode(cpu);
    return true;
}

static bool var_mtrr_write(X86CPU *cpu, uint32_t index, uint64_t val)
{
    uint64_t phys_mask = ((1ull << X86_PHYS_BITS) - 1) & ~0xfffull;

    if ((index & 1) == 0) {     /* PhysBase: type, base */
        if ((val & ~(phys_mask | 0xff)) || !x86_mtrr_type_valid(val & 0xff)) {
            return false;
        }
    } else if (val & ~(phys_mask | 0x800)) {    /* PhysMask: mask, valid */
        return false;
    }
    cpu->mtrr_var[index - MSR_MTRRphysBase0] = val;
    return true;
}

bool x86_msr_write(X86CPU *cpu, uint32_t index, uint64_t val)
{
    int fixed = mtrr_fixed_index(index);

    if (fixed >= 0) {
        for (int i = 0; i < 8; i++) {
            if (!x86_mtrr_type_valid(val >> (i * 8))) {
                return false;
            }
        }
        cpu->mtrr_fixed[fixed] = val;
        return true;
    }
    if (index >= MSR_MTRRphysBase0 && index < MSR_MTRRphysBase0 + 16) {
        return var_mtrr_write(cpu, index, val);
    }
    switch (index) {
    case MSR_IA32_TSC:
        cpu->cs->tsc_offset = (int64_t)(val - clock_get_ns(CLK_VIRTUAL));
        return true;
    case MSR_IA32_APICBASE:
    case MSR_IA32_TSC_DEADLINE:
        return msr_apic(cpu, index, &val, true);
    case MSR_IA32_BIOS_SIGN_ID:
        return true;    /* writing 0 before CPUID is how the id is read */
    case MSR_IA32_SYSENTER_CS:
        cpu->sysenter_cs = val & 0xffff;
        return true;
    case MSR_IA32_SYSENTER_ESP:
    case MSR_IA32_SYSENTER_EIP:
        if (!x86_canonical(val)) {
            return false;
        }
        if (index == MSR_IA32_SYSENTER_ESP) {
            cpu->sysenter_esp = val;
        } else {
            cpu->sysenter_eip = val;
        }
        return true;
    case MSR_MCG_STATUS:
        if (val) {
            return false;
        }
        cpu->mcg_status = 0;
        return true;
    case MSR_IA32_MISC_ENABLE:
        cpu->misc_enable = val;
        return true;
    case MSR_DEBUGCTL:
        /* LBR, BTF and friends are not implemented; accept them cleared */
        if (val & ~0x3ull) {
            return false;
        }
        x86_priv(cpu)->debugctl = val;
        return true;
    case MSR_PAT:
        if (!x86_pat_valid(val)) {
            return false;
        }
        cpu->pat = val;
        return true;
    case MSR_MTRRdefType:
        if ((val & ~0xcffull) || !x86_mtrr_type_valid(val & 0xff)) {
            return false;
        }
        cpu->mtrr_deftype = val;
        return true;
    case MSR_EFER:
        return efer_write(cpu, val);
    case MSR_STAR:
        cpu->star = val;
        return true;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FSBASE:
    case MSR_GSBASE:
    case MSR_KERNELGSBASE:
        if (!x86_canonical(val)) {
            return false;
        }
        switch (index) {
        case MSR_LSTAR: cpu->lstar = val; break;
        case MSR_CSTAR: cpu->cstar = val; break;
        case MSR_FSBASE: cpu->segs[R_FS].base = val; break;
        case MSR_GSBASE: cpu->segs[R_GS].base = val; break;
        default: cpu->kernel_gs_base = val; break;
        }
        return true;
    case MSR_FMASK:
        cpu->fmask = val & 0xffffffff;
        return true;
    case MSR_TSC_AUX:
        if (val >> 32) {
            return false;
        }
        cpu->tsc_aux = val;
        return true;
    default:
        return false;
    }
}
