/*
 * The memory side of the software CPU: the guest-physical map as the
 * vCPU threads see it, the x86 page walk in every paging mode (Intel SDM
 * vol. 3, chapter 4), the per-CPU TLB and its slow paths, and port I/O.
 */
#include <glib.h>
#include <pthread.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "system/runstate.h"
#include "int.h"
#include "sys-internal.h"

/* ---- the physical map ---- */

/* Code words of one RAM block; kept for the life of the process, since TLB
 * entries of any vCPU may still point into them after a map change. */
typedef struct PageWords {
    const uint8_t *ram;
    uint64_t npages;
    uint32_t *words;
    MemoryRegion *mr;   /* the region last mapped with this RAM */
    bool logged;        /* the words carry X86_PAGE_DIRTY_LOG */
} PageWords;

typedef struct PhysRange {
    uint64_t start;
    uint64_t size;
    uint8_t *host;      /* host address of start */
    uint32_t *words;    /* the region's words, indexed by region offset */
    uint64_t offset;    /* offset of start within the region */
    bool readonly;
} PhysRange;

static struct {
    pthread_rwlock_t lock;
    PhysRange *ranges;  /* sorted by start, non-overlapping */
    size_t nr;
    size_t cap;
    GPtrArray *blocks;  /* of PageWords */
    Machine *machine;
    MemoryListener listener;
} phys = { .lock = PTHREAD_RWLOCK_INITIALIZER };

typedef struct PhysPage {
    uint8_t *host;
    uint32_t *word;
    bool readonly;
} PhysPage;

/* Caller holds phys.lock; the range containing paddr or NULL. */
static const PhysRange *phys_find(uint64_t paddr)
{
    size_t lo = 0, hi = phys.nr;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const PhysRange *r = &phys.ranges[mid];
        if (paddr < r->start) {
            hi = mid;
        } else if (paddr - r->start >= r->size) {
            lo = mid + 1;
        } else {
            return r;
        }
    }
    return NULL;
}

/* RAM behind [paddr, paddr+len), all in one range: its host address. */
static bool phys_lookup(uint64_t paddr, uint64_t len, PhysPage *pp)
{
    bool found = false;

    pthread_rwlock_rdlock(&phys.lock);
    const PhysRange *r = phys_find(paddr);
    if (r && paddr - r->start + len <= r->size) {
        uint64_t off = r->offset + (paddr - r->start);
        pp->host = r->host + (paddr - r->start);
        pp->word = &r->words[off >> 12];
        pp->readonly = r->readonly;
        found = true;
    }
    pthread_rwlock_unlock(&phys.lock);
    return found;
}

/* Sets or clears X86_PAGE_DIRTY_LOG on every page as mr logs or not. */
static void page_words_sync_log(PageWords *pw, MemoryRegion *mr)
{
    if (pw->logged == mr->dirty_log) {
        return;
    }
    for (uint64_t i = 0; i < pw->npages; i++) {
        if (mr->dirty_log) {
            __atomic_fetch_or(&pw->words[i], X86_PAGE_DIRTY_LOG,
                              __ATOMIC_SEQ_CST);
        } else {
            __atomic_fetch_and(&pw->words[i], ~X86_PAGE_DIRTY_LOG,
                               __ATOMIC_SEQ_CST);
        }
    }
    pw->logged = mr->dirty_log;
}

/* Caller holds phys.lock for writing. */
static uint32_t *page_words_for(MemoryRegion *mr)
{
    uint64_t npages = (mr->size + 0xfff) >> 12;
    PageWords *pw = NULL;

    for (guint i = 0; i < phys.blocks->len && !pw; i++) {
        PageWords *o = g_ptr_array_index(phys.blocks, i);
        if (o->ram == mr->ram && o->npages == npages) {
            pw = o;
        }
    }
    if (!pw) {
        pw = g_new0(PageWords, 1);
        pw->ram = mr->ram;
        pw->npages = npages;
        pw->words = g_new0(uint32_t, npages ? npages : 1);
        g_ptr_array_add(phys.blocks, pw);
    }
    __atomic_store_n(&pw->mr, mr, __ATOMIC_RELEASE);
    page_words_sync_log(pw, mr);
    return pw->words;
}

/*
 * A store of this process hit a page of a logging region: mark it. Stores
 * to VRAM come in runs, so each thread remembers the block it last found;
 * blocks are never freed, and only pw->mr may change under it.
 */
static void page_mark_dirty(uint32_t *word)
{
    static __thread PageWords *last;
    PageWords *pw = last;

    if (!pw || word < pw->words || word >= pw->words + pw->npages) {
        pw = NULL;
        pthread_rwlock_rdlock(&phys.lock);
        for (guint i = 0; i < phys.blocks->len && !pw; i++) {
            PageWords *o = g_ptr_array_index(phys.blocks, i);
            if (word >= o->words && word < o->words + o->npages) {
                pw = o;
            }
        }
        pthread_rwlock_unlock(&phys.lock);
        if (!pw) {
            return;
        }
        last = pw;
    }
    memory_region_set_dirty(__atomic_load_n(&pw->mr, __ATOMIC_ACQUIRE),
                            (uint64_t)(word - pw->words) << 12, 0x1000);
}

/* Every vCPU drops its translations before it next touches memory. */
static void phys_map_changed(void)
{
    Machine *m = phys.machine;

    for (int i = 0; m && m->cpus && i < m->ncpus; i++) {
        if (m->cpus[i]) {
            cpu_interrupt(m->cpus[i], CPU_INTERRUPT_TLB_FLUSH);
        }
    }
}

static void phys_region_add(MemoryListener *l, const FlatRange *fr)
{
    uint32_t *words;
    size_t i;

    pthread_rwlock_wrlock(&phys.lock);
    words = page_words_for(fr->mr);
    if (phys.nr == phys.cap) {
        phys.cap = phys.cap ? phys.cap * 2 : 16;
        phys.ranges = g_renew(PhysRange, phys.ranges, phys.cap);
    }
    for (i = 0; i < phys.nr && phys.ranges[i].start < fr->start; i++) {
    }
    memmove(&phys.ranges[i + 1], &phys.ranges[i],
            (phys.nr - i) * sizeof(PhysRange));
    phys.ranges[i] = (PhysRange){
        .start = fr->start, .size = fr->size,
        .host = fr->mr->ram + fr->offset, .words = words,
        .offset = fr->offset, .readonly = fr->readonly,
    };
    phys.nr++;
    pthread_rwlock_unlock(&phys.lock);
    phys_map_changed();
}

static void phys_region_del(MemoryListener *l, const FlatRange *fr)
{
    pthread_rwlock_wrlock(&phys.lock);
    for (size_t i = 0; i < phys.nr; i++) {
        if (phys.ranges[i].start == fr->start &&
            phys.ranges[i].size == fr->size) {
            memmove(&phys.ranges[i], &phys.ranges[i + 1],
                    (phys.nr - i - 1) * sizeof(PhysRange));
            phys.nr--;
            break;
        }
    }
    pthread_rwlock_unlock(&phys.lock);
    phys_map_changed();
}

void x86_phys_map_listen(Machine *m)
{
    for (MemoryListener *l = m->as_mem.listeners; l; l = l->next) {
        if (l == &phys.listener) {
            return;
        }
    }
    pthread_rwlock_wrlock(&phys.lock);
    phys.nr = 0;
    if (!phys.blocks) {
        phys.blocks = g_ptr_array_new();
    }
    pthread_rwlock_unlock(&phys.lock);
    phys.machine = m;
    phys.listener = (MemoryListener){
        .region_add = phys_region_add,
        .region_del = phys_region_del,
    };
    address_space_add_listener(&m->as_mem, &phys.listener);
}

void x86_code_invalidate(uint64_t paddr, uint64_t len)
{
    if (!len) {
        return;
    }
    uint64_t end = paddr + len - 1;

    pthread_rwlock_rdlock(&phys.lock);
    for (size_t i = 0; i < phys.nr; i++) {
        const PhysRange *r = &phys.ranges[i];
        uint64_t last = r->start + r->size - 1;
        if (r->start > end || last < paddr) {
            continue;
        }
        uint64_t from = MAX(paddr, r->start) - r->start + r->offset;
        uint64_t to = MIN(end, last) - r->start + r->offset;
        for (uint64_t pg = from >> 12; pg <= to >> 12; pg++) {
            uint32_t *w = &r->words[pg];
            uint32_t old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
            while (old & X86_PAGE_HAS_CODE) {
                uint32_t new = ((old + 1) & X86_PAGE_GEN_MASK) |
                               (old & X86_PAGE_DIRTY_LOG);
                if (__atomic_compare_exchange_n(w, &old, new, false,
                                                __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE)) {
                    break;
                }
            }
        }
    }
    pthread_rwlock_unlock(&phys.lock);
}

/* ---- guest-physical accesses outside RAM ---- */

static uint64_t mmio_ld(X86CPU *cpu, uint64_t paddr, int size)
{
    uint64_t val = 0;

    bql_lock();
    address_space_ld(&cpu->cs->machine->as_mem, paddr, size, &val);
    bql_unlock();
    return val;
}

static void mmio_st(X86CPU *cpu, uint64_t paddr, int size, uint64_t val)
{
    bql_lock();
    address_space_st(&cpu->cs->machine->as_mem, paddr, size, val);
    bql_unlock();
    /*
     * A store that changed the memory map (a flash command switching it
     * out of read-array mode) must show in the very next access of this
     * block: drop the TLB now; the rest of the flush stays pending for
     * the block boundary.
     */
    if (__atomic_load_n(&cpu->cs->interrupt_request, __ATOMIC_ACQUIRE) &
        CPU_INTERRUPT_TLB_FLUSH) {
        x86_tlb_flush(cpu);
    }
}

/* ---- the page walk ---- */

enum { ACC_READ, ACC_WRITE, ACC_FETCH };

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)
#define PTE_XD  (1ull << 63)
#define PTE_ADDR_MASK (((1ull << X86_PHYS_BITS) - 1) & ~0xfffull)
/* Bits 51:MAXPHYADDR of every PAE and 4-level entry are reserved. */
#define PTE_RSVD_HIGH (((1ull << 52) - 1) & ~((1ull << X86_PHYS_BITS) - 1))

typedef struct Walk {
    uint64_t paddr;     /* physical address of the 4 KiB page */
    int shift;          /* size of the translation: 12, 21, 22 or 30 */
    bool writable, user, nx;
    bool dirty;         /* writes may use the translation as filled */
    /* the entries used, for the accessed and dirty bits */
    int n;
    void *entry_host[4];
    uint64_t entry[4];
    bool wide;
} Walk;

static noreturn void walk_fault(X86CPU *cpu, uint64_t lin, int acc,
                                bool user, uint32_t bits)
{
    uint32_t err = bits;

    if (acc == ACC_WRITE) {
        err |= PF_ERR_W;
    }
    if (user) {
        err |= PF_ERR_U;
    }
    if (acc == ACC_FETCH && (cpu->efer & EFER_NXE) && (cpu->cr4 & CR4_PAE)) {
        err |= PF_ERR_I;
    }
    x86_raise_page_fault(cpu, lin, err);
}

/* Reads a paging-structure entry; *host is where it lives if in RAM. */
static uint64_t pte_load(X86CPU *cpu, uint64_t paddr, bool wide,
                         void **host)
{
    PhysPage pp;
    int size = wide ? 8 : 4;

    if (phys_lookup(paddr, size, &pp)) {
        *host = pp.readonly ? NULL : pp.host;
        return wide ? __atomic_load_n((uint64_t *)pp.host, __ATOMIC_ACQUIRE)
                    : __atomic_load_n((uint32_t *)pp.host, __ATOMIC_ACQUIRE);
    }
    *host = NULL;
    return mmio_ld(cpu, paddr, size);
}

/* Sets bits in a paging-structure entry the way the walker does: atomic,
 * and only when they are not set yet (SDM 4.8). */
static void pte_set_bits(const Walk *w, int i, uint64_t bits)
{
    if ((w->entry[i] & bits) == bits || !w->entry_host[i]) {
        return;
    }
    /* A and D are in the low dword in both entry formats */
    __atomic_fetch_or((uint32_t *)w->entry_host[i], (uint32_t)bits,
                      __ATOMIC_SEQ_CST);
}

static void walk_record(Walk *w, void *host, uint64_t e)
{
    w->entry_host[w->n] = host;
    w->entry[w->n] = e;
    w->n++;
    w->writable &= !!(e & PTE_RW);
    w->user &= !!(e & PTE_US);
}

/* 32-bit paging: 4 KiB pages and, with CR4.PSE, 4 MiB pages (PSE-36). */
static void walk_32(X86CPU *cpu, uint64_t lin, int acc, bool user, Walk *w)
{
    uint64_t pde_pa = (cpu->cr3 & 0xfffff000) + ((lin >> 22) & 0x3ff) * 4;
    void *pde_host, *pte_host;
    uint64_t pde = pte_load(cpu, pde_pa, false, &pde_host);

    w->wide = false;
    if (!(pde & PTE_P)) {
        walk_fault(cpu, lin, acc, user, 0);
    }
    if ((pde & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
        /* bits 20:13 are physical bits 39:32; bit 21 is reserved */
        if (pde & (1u << 21)) {
            walk_fault(cpu, lin, acc, user, PF_ERR_P | PF_ERR_RSVD);
        }
        walk_record(w, pde_host, pde);
        w->shift = 22;
        w->paddr = (pde & 0xffc00000) | (((pde >> 13) & 0xff) << 32) |
                   (lin & 0x3ff000);
        return;
    }
    walk_record(w, pde_host, pde);
    uint64_t pte_pa = (pde & 0xfffff000) + ((lin >> 12) & 0x3ff) * 4;
    uint64_t pte = pte_load(cpu, pte_pa, false, &pte_host);
    if (!(pte & PTE_P)) {
        walk_fault(cpu, lin, acc, user, 0);
    }
    walk_record(w, pte_host, pte);
    w->shift = 12;
    w->paddr = pte & 0xfffff000;
}

/* PAE paging (3 levels) and 4-level paging in IA-32e mode. */
static void walk_pae(X86CPU *cpu, uint64_t lin, int acc, bool user, Walk *w)
{
    bool nxe = cpu->efer & EFER_NXE;
    uint64_t rsvd_high = PTE_RSVD_HIGH | (nxe ? 0 : PTE_XD);
    uint64_t table;
    void *host;
    int shift;

    w->wide = true;
    if (cpu->efer & EFER_LMA) {
        table = cpu->cr3 & PTE_ADDR_MASK;
        shift = 39;
    } else {
        /* The PDPTEs: no R/W, U/S, A or XD bits; 2:1 and 8:5 reserved. */
        uint64_t pa = (cpu->cr3 & 0xffffffe0) + ((lin >> 30) & 3) * 8;
        uint64_t pdpte = pte_load(cpu, pa, true, &host);
        if (!(pdpte & PTE_P)) {
            walk_fault(cpu, lin, acc, user, 0);
        }
        if (pdpte & (PTE_RSVD_HIGH | PTE_XD | 0x1e6)) {
            walk_fault(cpu, lin, acc, user, PF_ERR_P | PF_ERR_RSVD);
        }
        table = pdpte & PTE_ADDR_MASK;
        shift = 21;
    }
    for (;;) {
        uint64_t pa = table + ((lin >> shift) & 0x1ff) * 8;
        uint64_t e = pte_load(cpu, pa, true, &host);
        uint64_t rsvd = rsvd_high;
        bool leaf = shift == 12;

        if (!(e & PTE_P)) {
            walk_fault(cpu, lin, acc, user, 0);
        }
        if (shift == 39) {
            rsvd |= PTE_PS;
        } else if (shift != 12 && (e & PTE_PS)) {
            leaf = true;
            /* the frame's low bits, 29:13 or 20:13, must be zero */
            rsvd |= ((1ull << shift) - 1) & ~0x1fffull;
        }
        if (e & rsvd) {
            walk_fault(cpu, lin, acc, user, PF_ERR_P | PF_ERR_RSVD);
        }
        walk_record(w, host, e);
        if (nxe && (e & PTE_XD)) {
            w->nx = true;
        }
        if (leaf) {
            uint64_t frame = e & PTE_ADDR_MASK & ~((1ull << shift) - 1);
            w->paddr = frame | (lin & ((1ull << shift) - 1) & ~0xfffull);
            w->shift = shift;
            return;
        }
        table = e & PTE_ADDR_MASK;
        shift -= 9;
    }
}

/*
 * Translates lin for one access; raises #PF if the access is not allowed.
 * On success the accessed bits (and the dirty bit for writes) are set.
 */
static void walk(X86CPU *cpu, uint64_t lin, int acc, bool user, Walk *w)
{
    memset(w, 0, sizeof(*w));
    w->writable = w->user = true;
    if (!(cpu->cr0 & CR0_PG)) {
        w->paddr = lin & 0xfffff000;
        w->shift = 12;
        w->dirty = true;
        return;
    }
    if (cpu->cr4 & CR4_PAE) {
        walk_pae(cpu, lin, acc, user, w);
    } else {
        walk_32(cpu, lin, acc, user, w);
    }

    bool wp = cpu->cr0 & CR0_WP;
    if ((user && !w->user) ||
        (acc == ACC_WRITE && !w->writable && (user || wp)) ||
        (acc == ACC_FETCH && w->nx)) {
        walk_fault(cpu, lin, acc, user, PF_ERR_P);
    }
    for (int i = 0; i < w->n; i++) {
        bool last = i == w->n - 1;
        pte_set_bits(w, i, PTE_A | (last && acc == ACC_WRITE ? PTE_D : 0));
    }
    w->dirty = acc == ACC_WRITE || (w->entry[w->n - 1] & PTE_D);
}

/* ---- the TLB ---- */

static X86TLBEntry *tlb_fill(X86CPU *cpu, uint64_t lin, int acc, int mmu_idx)
{
    X86CPUPriv *priv = x86_priv(cpu);
    bool user = mmu_idx == X86_MMU_USER;
    uint64_t page = lin & ~0xfffull;
    unsigned slot = (lin >> 12) & (X86_TLB_SIZE - 1);
    X86TLBEntry *e = &cpu->tlb[mmu_idx][slot];
    PhysPage pp;
    Walk w;

    walk(cpu, lin, acc, user, &w);
    bool can_write = (w.writable || (!user && !(cpu->cr0 & CR0_WP))) &&
                     w.dirty;
    bool can_exec = !w.nx;

    e->paddr = w.paddr;
    if (phys_lookup(w.paddr, 0x1000, &pp)) {
        e->addend = (uintptr_t)pp.host - (uintptr_t)page;
        e->page_word = pp.word;
        e->tag_read = page;
        e->tag_write = !can_write ? page | TLB_INVALID
                     : pp.readonly ? page | TLB_MMIO : page;
        e->tag_code = can_exec ? page : page | TLB_INVALID;
    } else {
        e->addend = 0;
        e->page_word = NULL;
        e->tag_read = page | TLB_MMIO;
        e->tag_write = can_write ? page | TLB_MMIO : page | TLB_INVALID;
        e->tag_code = can_exec ? page | TLB_MMIO : page | TLB_INVALID;
    }
    if (unlikely(cpu->debug)) {
        e->tag_read |= x86_debug_tlb_flags(cpu, page, false);
        e->tag_write |= x86_debug_tlb_flags(cpu, page, true);
    }
    priv->tlb_shift[mmu_idx][slot] = w.shift;
    if (w.shift > 12) {
        priv->tlb_large++;
    }
    return e;
}

/* Linear addresses are 32 bits outside IA-32e mode, canonical inside. */
static uint64_t lin_check(X86CPU *cpu, uint64_t lin)
{
    if (!cpu->long_mode) {
        return lin & 0xffffffff;
    }
    if (!x86_canonical(lin)) {
        x86_raise_exception_err(cpu, EXCP_GP, 0);
    }
    return lin;
}

static uint64_t lin_next(X86CPU *cpu, uint64_t lin, uint64_t n)
{
    return cpu->long_mode ? lin + n : (lin + n) & 0xffffffff;
}

/* The TLB entry for lin, filled for acc if it does not allow it yet. */
static X86TLBEntry *tlb_lookup(X86CPU *cpu, uint64_t lin, int acc,
                               int mmu_idx)
{
    X86TLBEntry *e = x86_tlb_entry(cpu, mmu_idx, lin);
    uint64_t page = lin & ~0xfffull;
    uint64_t tag = acc == ACC_READ ? e->tag_read
                 : acc == ACC_WRITE ? e->tag_write : e->tag_code;

    if ((tag & ~(TLB_MMIO | TLB_WATCH)) != page) {
        e = tlb_fill(cpu, lin, acc, mmu_idx);
    }
    return e;
}

/* The entry's tag for the access, a watchpoint on it checked first. */
static uint64_t tag_checked(X86CPU *cpu, const X86TLBEntry *e, uint64_t lin,
                            uint64_t len, bool write)
{
    uint64_t tag = write ? e->tag_write : e->tag_read;

    if (unlikely(tag & TLB_WATCH)) {
        x86_debug_access(cpu, lin, len, write);
        tag &= ~TLB_WATCH;
    }
    return tag;
}

static uint64_t host_ld(const void *p, int size)
{
    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void host_st(void *p, int size, uint64_t val)
{
    switch (size) {
    case 1: *(uint8_t *)p = val; break;
    case 2: { uint16_t v = val; memcpy(p, &v, 2); break; }
    case 4: { uint32_t v = val; memcpy(p, &v, 4); break; }
    default: memcpy(p, &val, 8); break;
    }
}

void x86_ram_page_written(X86CPU *cpu, uint32_t *word)
{
    uint32_t w = __atomic_load_n(word, __ATOMIC_RELAXED);

    if (w & X86_PAGE_DIRTY_LOG) {
        page_mark_dirty(word);
    }
    if (w & X86_PAGE_HAS_CODE) {
        x86_code_page_written(cpu, word);
    }
}

static void code_written(X86CPU *cpu, uint32_t *word)
{
    if (word && (__atomic_load_n(word, __ATOMIC_RELAXED) &
                 X86_PAGE_WRITE_HOOK)) {
        x86_ram_page_written(cpu, word);
    }
}

uint64_t x86_ld_slow(X86CPU *cpu, uint64_t lin, int size, int mmu_idx)
{
    lin = lin_check(cpu, lin);
    if ((lin & 0xfff) + size > 0x1000) {
        uint64_t val = 0;
        for (int i = 0; i < size; i++) {
            val |= x86_ld_mmu(cpu, lin_next(cpu, lin, i), 1, mmu_idx)
                   << (i * 8);
        }
        return val;
    }
    X86TLBEntry *e = tlb_lookup(cpu, lin, ACC_READ, mmu_idx);
    if (tag_checked(cpu, e, lin, size, false) == (lin & ~0xfffull)) {
        return host_ld((const void *)(e->addend + lin), size);
    }
    return mmio_ld(cpu, e->paddr | (lin & 0xfff), size);
}

void x86_st_slow(X86CPU *cpu, uint64_t lin, int size, uint64_t val,
                 int mmu_idx)
{
    lin = lin_check(cpu, lin);
    if ((lin & 0xfff) + size > 0x1000) {
        /* both pages must allow the store before any byte is written */
        uint64_t second = lin_check(cpu, lin_next(cpu, lin | 0xfff, 1));
        tlb_lookup(cpu, lin, ACC_WRITE, mmu_idx);
        tlb_lookup(cpu, second, ACC_WRITE, mmu_idx);
        for (int i = 0; i < size; i++) {
            x86_st_mmu(cpu, lin_next(cpu, lin, i), 1, val >> (i * 8),
                       mmu_idx);
        }
        return;
    }
    X86TLBEntry *e = tlb_lookup(cpu, lin, ACC_WRITE, mmu_idx);
    if (tag_checked(cpu, e, lin, size, true) == (lin & ~0xfffull)) {
        host_st((void *)(e->addend + lin), size, val);
        code_written(cpu, e->page_word);
    } else {
        /* MMIO, or ROM: the memory API drops the write, or hands it to a
         * ROM device (a flash's commands) */
        mmio_st(cpu, e->paddr | (lin & 0xfff), size, val);
    }
}

uint64_t x86_translate_code(X86CPU *cpu, uint64_t lin, const uint8_t **host,
                            uint32_t **page_word)
{
    lin = lin_check(cpu, lin);
    X86TLBEntry *e = tlb_lookup(cpu, lin, ACC_FETCH, x86_mmu_index(cpu));
    uint64_t page = lin & ~0xfffull;

    if (e->tag_code == page) {
        *host = (const uint8_t *)(e->addend + page);
        *page_word = e->page_word;
    } else {
        *host = NULL;
        *page_word = NULL;
    }
    return e->paddr;
}

uint8_t x86_ld_code_byte(X86CPU *cpu, uint64_t lin)
{
    const uint8_t *host;
    uint32_t *word;
    uint64_t paddr = x86_translate_code(cpu, lin, &host, &word);

    lin = lin_check(cpu, lin);
    if (host) {
        return host[lin & 0xfff];
    }
    return mmio_ld(cpu, paddr | (lin & 0xfff), 1);
}

void *x86_host_ptr(X86CPU *cpu, uint64_t lin, int size, bool write)
{
    lin = lin_check(cpu, lin);
    if ((lin & 0xfff) + size > 0x1000) {
        return NULL;
    }
    int acc = write ? ACC_WRITE : ACC_READ;
    X86TLBEntry *e = tlb_lookup(cpu, lin, acc, x86_mmu_index(cpu));
    uint64_t page = lin & ~0xfffull;

    if ((write ? e->tag_write : e->tag_read) != page) {
        return NULL;
    }
    /* the caller writes after we return: a logged page takes the plain
     * store path instead, which marks it dirty once the data is there */
    if (write && (__atomic_load_n(e->page_word, __ATOMIC_RELAXED) &
                  X86_PAGE_DIRTY_LOG)) {
        return NULL;
    }
    if (write) {
        code_written(cpu, e->page_word);
    }
    return (void *)(e->addend + lin);
}

void x86_read(X86CPU *cpu, uint64_t lin, void *buf, size_t len)
{
    uint8_t *out = buf;
    int mmu_idx = x86_mmu_index(cpu);

    while (len) {
        lin = lin_check(cpu, lin);
        size_t n = MIN(len, 0x1000 - (lin & 0xfff));
        X86TLBEntry *e = tlb_lookup(cpu, lin, ACC_READ, mmu_idx);
        if (tag_checked(cpu, e, lin, n, false) == (lin & ~0xfffull)) {
            memcpy(out, (const void *)(e->addend + lin), n);
        } else {
            for (size_t i = 0; i < n; i++) {
                out[i] = mmio_ld(cpu, e->paddr | ((lin + i) & 0xfff), 1);
            }
        }
        out += n;
        len -= n;
        lin = lin_next(cpu, lin, n);
    }
}

void x86_write(X86CPU *cpu, uint64_t lin, const void *buf, size_t len)
{
    const uint8_t *in = buf;
    int mmu_idx = x86_mmu_index(cpu);
    uint64_t a = lin;
    size_t left = len;

    /* every page first, so that a fault writes nothing */
    while (left) {
        a = lin_check(cpu, a);
        size_t n = MIN(left, 0x1000 - (a & 0xfff));
        tlb_lookup(cpu, a, ACC_WRITE, mmu_idx);
        left -= n;
        a = lin_next(cpu, a, n);
    }
    while (len) {
        lin = lin_check(cpu, lin);
        size_t n = MIN(len, 0x1000 - (lin & 0xfff));
        X86TLBEntry *e = tlb_lookup(cpu, lin, ACC_WRITE, mmu_idx);
        if (tag_checked(cpu, e, lin, n, true) == (lin & ~0xfffull)) {
            memcpy((void *)(e->addend + lin), in, n);
            code_written(cpu, e->page_word);
        } else if (!e->page_word) {
            for (size_t i = 0; i < n; i++) {
                mmio_st(cpu, e->paddr | ((lin + i) & 0xfff), 1, in[i]);
            }
        }
        in += n;
        len -= n;
        lin = lin_next(cpu, lin, n);
    }
}

void x86_tlb_flush(X86CPU *cpu)
{
    memset(cpu->tlb, 0xff, sizeof(cpu->tlb));
    x86_priv(cpu)->tlb_large = 0;
    cpu->code_epoch++;
}

static void tlb_entry_clear(X86TLBEntry *e)
{
    e->tag_read = e->tag_write = e->tag_code = ~0ull;
}

void x86_tlb_flush_page(X86CPU *cpu, uint64_t lin)
{
    X86CPUPriv *priv = x86_priv(cpu);

    cpu->code_epoch++;
    if (!cpu->long_mode) {
        lin &= 0xffffffff;
    }
    for (int idx = 0; idx < X86_MMU_COUNT; idx++) {
        tlb_entry_clear(x86_tlb_entry(cpu, idx, lin));
    }
    if (!priv->tlb_large) {
        return;
    }
    /* 4 KiB pieces of a large page live in other slots */
    for (int idx = 0; idx < X86_MMU_COUNT; idx++) {
        for (int i = 0; i < X86_TLB_SIZE; i++) {
            int shift = priv->tlb_shift[idx][i];
            X86TLBEntry *e = &cpu->tlb[idx][i];
            if (shift > 12 && e->tag_read != ~0ull &&
                (e->tag_read >> shift) == (lin >> shift)) {
                tlb_entry_clear(e);
            }
        }
    }
}

void x86_cpu_flush_all(X86CPU *cpu)
{
    x86_tlb_flush(cpu);
    x86_block_cache_flush(cpu);
}

/* ---- port I/O ---- */

void x86_check_io(X86CPU *cpu, uint16_t port, int size)
{
    if (!x86_protected(cpu) ||
        (!x86_vm86(cpu) && cpu->cpl <= x86_iopl(cpu))) {
        return;
    }
    /* the I/O permission bitmap of a 32-bit TSS (SDM vol. 1, 19.5.2) */
    uint32_t type = (cpu->tr.flags >> DESC_TYPE_SHIFT) & 0xf;
    if (!(cpu->tr.flags & DESC_P_MASK) || (type != 9 && type != 0xb) ||
        cpu->tr.limit < 0x67) {
        x86_raise_exception_err(cpu, EXCP_GP, 0);
    }
    uint32_t off = x86_ld_kernel(cpu, cpu->tr.base + 0x66, 2) + port / 8;
    if (off + 1 > cpu->tr.limit) {
        x86_raise_exception_err(cpu, EXCP_GP, 0);
    }
    uint32_t bits = x86_ld_kernel(cpu, cpu->tr.base + off, 2);
    if ((bits >> (port & 7)) & ((1u << size) - 1)) {
        x86_raise_exception_err(cpu, EXCP_GP, 0);
    }
}

uint64_t x86_port_in(X86CPU *cpu, uint16_t port, int size)
{
    uint64_t val = 0;

    bql_lock();
    address_space_ld(&cpu->cs->machine->as_io, port, size, &val);
    bql_unlock();
    return val;
}

void x86_port_out(X86CPU *cpu, uint16_t port, int size, uint64_t val)
{
    bql_lock();
    address_space_st(&cpu->cs->machine->as_io, port, size, val);
    bql_unlock();
}
