/*
 * The run loop of the software CPU and its per-vCPU cache of decoded
 * blocks. A block is a run of decoded instructions from one guest page,
 * keyed by the physical address of its first byte and the decoding mode;
 * it stays valid while its page's generation word is unchanged (see
 * X86_PAGE_HAS_CODE in cpu.h), which every write to the page bumps.
 */
#include <glib.h>

#include "int.h"

#define BLOCK_MAX_INSNS     64
#define CACHE_BUCKET_BITS   14
#define CACHE_BUCKETS       (1u << CACHE_BUCKET_BITS)
#define CACHE_BLOCKS        32768
#define CACHE_INSNS         (320 * 1024)

/*
 * A block remembers the blocks that ran after it, keyed by linear address,
 * so that a loop goes from block to block without the code TLB and the
 * hash table. A link holds within one cpu->code_epoch; the target's page
 * generation is checked on every use.
 */
typedef struct X86BlockLink {
    uint64_t lin;
    uint32_t epoch;
    int32_t block;          /* index in blocks, or -1 */
} X86BlockLink;

typedef struct X86Block {
    uint64_t paddr;         /* physical address of the first byte */
    uint32_t *page_word;
    uint32_t gen;           /* page generation when decoded */
    uint8_t code_size;
    bool long_mode;
    uint16_t count;
    uint32_t first;         /* index of the first instruction in insns */
    int32_t next;           /* hash chain */
    uint32_t link_victim;   /* which link a new successor replaces */
    X86BlockLink links[2];
} X86Block;

struct X86BlockCache {
    int32_t buckets[CACHE_BUCKETS];
    uint32_t nblocks;
    uint32_t ninsns;
    /* The page of the block being executed: a store of this CPU to it
     * ends the block (cpu->block_stop; self-modifying code). */
    uint32_t *running_page;
    X86Block blocks[CACHE_BLOCKS];
    X86Insn insns[CACHE_INSNS];
};

static void cache_reset(X86CPU *cpu, X86BlockCache *bc)
{
    cpu->code_epoch++;      /* links name blocks by index */
    bc->nblocks = 0;
    bc->ninsns = 0;
    memset(bc->buckets, 0xff, sizeof(bc->buckets));
}

void x86_block_cache_flush(X86CPU *cpu)
{
    if (cpu->blocks) {
        cache_reset(cpu, cpu->blocks);
    }
}

void x86_block_cache_free(X86CPU *cpu)
{
    g_free(cpu->blocks);
    cpu->blocks = NULL;
}

void x86_code_page_written(X86CPU *cpu, uint32_t *page_word)
{
    uint32_t old = __atomic_load_n(page_word, __ATOMIC_RELAXED), new;

    do {
        new = ((old + 1) & X86_PAGE_GEN_MASK) | (old & X86_PAGE_DIRTY_LOG);
    } while (!__atomic_compare_exchange_n(page_word, &old, new, true,
                                          __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    if (cpu && cpu->blocks && cpu->blocks->running_page == page_word) {
        cpu->block_stop = true;
    }
}

static inline uint32_t block_hash(uint64_t paddr, int code_size)
{
    return ((paddr ^ code_size) * 0x9e3779b97f4a7c15ull) >>
           (64 - CACHE_BUCKET_BITS);
}

/*
 * Decodes the block at lin (physical paddr, host page bytes) into b.
 * Returns false if its first instruction crosses into the next page; that
 * one is then decoded every time it runs.
 */
static bool decode_block(X86CPU *cpu, X86BlockCache *bc, X86Block *b,
                         uint64_t lin, const uint8_t *host,
                         uint32_t *page_word)
{
    unsigned off = lin & 0xfff, pos = off;
    X86Insn *insns = &bc->insns[bc->ninsns];
    uint32_t gen;
    int n = 0;

    /* Mark the page before reading it: a store from now on bumps the
     * generation, so a block decoded from stale bytes never validates. */
    __atomic_fetch_or(page_word, X86_PAGE_HAS_CODE, __ATOMIC_SEQ_CST);
    gen = __atomic_load_n(page_word, __ATOMIC_SEQ_CST) & X86_PAGE_GEN_MASK;
    while (n < BLOCK_MAX_INSNS) {
        X86Insn *insn = &insns[n];
        if (!x86_decode_buf(insn, host + pos, 0x1000 - pos, cpu->code_size)) {
            break;
        }
        pos += insn->len;
        /* the previous instruction may run this one (int-fast.c) */
        if (n > 0) {
            insns[n - 1].thread_next = insn->threadable &&
                                       cpu->code_size == 8;
        }
        n++;
        if (x86_insn_ends_block(insn) || pos >= 0x1000) {
            break;
        }
    }
    if (n == 0) {
        return false;
    }
    /* only now: a stale entry that fails to decode must stay stale */
    b->gen = gen;
    b->page_word = page_word;
    b->links[0].block = b->links[1].block = -1;
    b->link_victim = 0;
    b->first = bc->ninsns;
    b->count = n;
    bc->ninsns += n;
    return true;
}

static X86Block *block_lookup(X86CPU *cpu, X86BlockCache *bc, uint64_t lin,
                              uint64_t paddr, const uint8_t *host,
                              uint32_t *page_word)
{
    uint32_t h = block_hash(paddr, cpu->code_size);
    X86Block *b;

    for (int32_t i = bc->buckets[h]; i >= 0; i = b->next) {
        b = &bc->blocks[i];
        if (b->paddr != paddr || b->code_size != cpu->code_size ||
            b->long_mode != cpu->long_mode) {
            continue;
        }
        if (likely(b->page_word == page_word &&
                   b->gen == (__atomic_load_n(page_word, __ATOMIC_RELAXED) &
                              X86_PAGE_GEN_MASK))) {
            return b;
        }
        /* stale: decode again into the same entry */
        if (bc->ninsns + BLOCK_MAX_INSNS <= CACHE_INSNS) {
            return decode_block(cpu, bc, b, lin, host, page_word) ? b : NULL;
        }
        break;
    }

    if (bc->nblocks == CACHE_BLOCKS ||
        bc->ninsns + BLOCK_MAX_INSNS > CACHE_INSNS) {
        cache_reset(cpu, bc);
    }
    b = &bc->blocks[bc->nblocks];
    b->paddr = paddr;
    b->code_size = cpu->code_size;
    b->long_mode = cpu->long_mode;
    if (!decode_block(cpu, bc, b, lin, host, page_word)) {
        return NULL;
    }
    b->next = bc->buckets[h];
    bc->buckets[h] = bc->nblocks++;
    return b;
}

static inline bool block_current(const X86Block *b)
{
    return b->gen == (__atomic_load_n(b->page_word, __ATOMIC_RELAXED) &
                      X86_PAGE_GEN_MASK);
}

/* The block that prev's links name for lin, if still valid. */
static inline X86Block *follow_link(X86CPU *cpu, X86BlockCache *bc,
                                    const X86Block *prev, uint64_t lin)
{
    for (int i = 0; i < 2; i++) {
        const X86BlockLink *l = &prev->links[i];
        if (l->lin == lin && l->epoch == cpu->code_epoch && l->block >= 0) {
            X86Block *b = &bc->blocks[l->block];
            return likely(block_current(b)) ? b : NULL;
        }
    }
    return NULL;
}

static void add_link(X86CPU *cpu, X86BlockCache *bc, X86Block *prev,
                     uint64_t lin, const X86Block *b)
{
    X86BlockLink *l = &prev->links[prev->link_victim];

    prev->link_victim ^= 1;
    l->lin = lin;
    l->epoch = cpu->code_epoch;
    l->block = b - bc->blocks;
}

static inline void run_block(X86CPU *cpu, X86BlockCache *bc,
                             const X86Block *b)
{
    const X86Insn *insn = &bc->insns[b->first];
    const X86Insn *end = insn + b->count;
    uint64_t mask = x86_addr_mask(b->code_size);
    uint64_t rip = cpu->rip;

    bc->running_page = b->page_word;
    cpu->block_stop = false;
    /* counted per block; an exception mid-block counts the whole block */
    cpu->icount += b->count;
    do {
        const X86Insn *last;

        cpu->next_rip = (rip + insn->len) & mask;
        cpu->thread_end = insn + 1;
        insn->exec(cpu, insn);
        /* The handler may have run on into later instructions; cpu->rip
         * is the address of the last one run. */
        last = cpu->thread_end;
        insn = last;
        rip = cpu->next_rip;
        /* a taken conditional branch leaves the block early */
        if (rip != ((cpu->rip + last[-1].len) & mask)) {
            cpu->rip = rip;
            break;
        }
        cpu->rip = rip;
    } while (insn < end && !cpu->block_stop);
    cpu->icount -= end - insn;
    bc->running_page = NULL;
}

/* One instruction decoded on the spot: page-crossing, MMIO, single-step. */
static void exec_uncached(X86CPU *cpu, uint64_t lin, const uint8_t *host)
{
    X86Insn insn;

    x86_decode_fetch(cpu, lin, host, &insn);
    cpu->next_rip = (cpu->rip + insn.len) & x86_addr_mask(cpu->code_size);
    insn.exec(cpu, &insn);
    cpu->rip = cpu->next_rip;
    cpu->icount++;
}

/*
 * The instruction after sti / mov ss / pop ss runs alone with interrupts
 * held, and so does every instruction while EFLAGS.TF is set, followed by
 * a single-step #DB trap (SDM vol. 3 17.3.1.4).
 */
static void exec_step(X86CPU *cpu, uint64_t lin)
{
    bool tf = cpu->eflags & TF_MASK;
    const uint8_t *host;
    uint32_t *page_word;

    cpu->interrupt_shadow = false;
    x86_translate_code(cpu, lin, &host, &page_word);
    exec_uncached(cpu, lin, host);
    if (tf) {
        cpu->dr[6] |= 1u << 14;     /* DR6.BS */
        x86_raise_exception(cpu, EXCP_DB);
    }
}

/* The physical page of a fetch at lin: the TLB entry when it allows the
 * fetch, else through the MMU (which fills it or faults). */
static inline uint64_t code_page(X86CPU *cpu, uint64_t lin,
                                 const uint8_t **host, uint32_t **page_word)
{
    X86TLBEntry *e = x86_tlb_entry(cpu, x86_mmu_index(cpu), lin);
    uint64_t page = lin & ~0xfffull;

    if (likely(e->tag_code == page)) {
        *host = (const uint8_t *)(e->addend + page);
        *page_word = e->page_word;
        return e->paddr & ~0xfffull;
    }
    return x86_translate_code(cpu, lin, host, page_word) & ~0xfffull;
}

static __attribute__((noinline)) X86ExitReason run(X86CPU *cpu)
{
    X86BlockCache *bc = cpu->blocks;
    /* the block that ran last, while cpu->code_epoch is prev_epoch */
    X86Block *prev = NULL;
    uint32_t prev_epoch = 0;

    for (;;) {
        const uint8_t *host;
        uint32_t *page_word;
        uint64_t lin, paddr;
        X86Block *b;
        int req;

        if (unlikely(__atomic_load_n(&cpu->exit_request, __ATOMIC_RELAXED))) {
            __atomic_store_n(&cpu->exit_request, 0, __ATOMIC_RELAXED);
            return X86_EXIT_REQUEST;
        }
        req = __atomic_load_n(&cpu->cs->interrupt_request, __ATOMIC_ACQUIRE);
        /* an interrupt held by IF=0 leaves the CPU running as it is; a
         * gdb single step runs the next instruction, not a handler */
        if (unlikely(req) && ((req & ~CPU_INTERRUPT_HARD) ||
                              (cpu->eflags & IF_MASK) || cpu->halted) &&
            (!cpu->debug || !cpu->debug->step || cpu->halted)) {
            x86_handle_interrupts(cpu);
        }
        if (unlikely(cpu->halted || cpu->wait_for_sipi)) {
            return X86_EXIT_HALT;
        }
        lin = x86_seg_linear_inline(cpu, R_CS, cpu->rip);
        if (unlikely(cpu->debug)) {
            X86DebugAction a = x86_debug_before(cpu, lin);
            if (a == X86_DEBUG_STOP) {
                return X86_EXIT_DEBUG;
            }
            prev = NULL;    /* no links: each block start is checked */
            if (a == X86_DEBUG_ONE) {
                exec_step(cpu, lin);
                continue;
            }
        }
        if (unlikely(cpu->interrupt_shadow || (cpu->eflags & TF_MASK))) {
            exec_step(cpu, lin);
            prev = NULL;
            continue;
        }
        if (prev && prev_epoch == cpu->code_epoch &&
            (b = follow_link(cpu, bc, prev, lin))) {
            run_block(cpu, bc, b);
            prev = b;
            continue;
        }
        paddr = code_page(cpu, lin, &host, &page_word);
        if (unlikely(!host || !page_word)) {
            exec_uncached(cpu, lin, host);
            prev = NULL;
            continue;
        }
        paddr |= lin & 0xfff;
        b = block_lookup(cpu, bc, lin, paddr, host, page_word);
        if (unlikely(!b)) {
            exec_uncached(cpu, lin, host);
            prev = NULL;
            continue;
        }
        /* the lookup may have reset the cache, and prev with it */
        if (prev && prev_epoch == cpu->code_epoch) {
            add_link(cpu, bc, prev, lin, b);
        }
        prev = b;
        prev_epoch = cpu->code_epoch;
        run_block(cpu, bc, b);
    }
}

X86ExitReason x86_cpu_exec(X86CPU *cpu)
{
    if (!cpu->blocks) {
        cpu->blocks = g_malloc(sizeof(*cpu->blocks));
        cache_reset(cpu, cpu->blocks);
        cpu->blocks->running_page = NULL;
    }
    if (sigsetjmp(cpu->exception_env, 0)) {
        cpu->blocks->running_page = NULL;
        x86_deliver_exception(cpu);
        if (cpu->triple_fault) {
            return X86_EXIT_TRIPLE_FAULT;
        }
    }
    return run(cpu);
}
