/*
 * Extends head.S's identity map (first 4 GiB) with 2 MiB pages up to a given
 * address, for RAM above 4 GiB. Page directories come from a static pool.
 */
#include "testkernel.h"

#define PD_POOL 60 /* 4 + 60 GiB mapped at most */
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80

extern uint64_t boot_pdpt[512];
static uint64_t pd_pool[PD_POOL][512] __attribute__((aligned(4096), section(".noinit")));
static int pd_used;

bool paging_map_identity(uint64_t end)
{
    uint64_t gib = (end + (1ull << 30) - 1) >> 30;

    if (gib > 4 + PD_POOL)
        return false;
    for (uint64_t g = 4; g < gib; g++) {
        uint64_t *pd;
        if (boot_pdpt[g] & PTE_P)
            continue;
        pd = pd_pool[pd_used++];
        for (int i = 0; i < 512; i++)
            pd[i] = (g << 30) + ((uint64_t)i << 21) + (PTE_P | PTE_W | PTE_PS);
        boot_pdpt[g] = (uint64_t)pd | PTE_P | PTE_W;
    }
    /* new entries only: no stale translations to flush, but be safe */
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
    return true;
}
