/*
 * A read-only guest page walk over a vCPU snapshot, for the monitor and the
 * gdb stub (Intel SDM vol. 3, chapter 4). Unlike the software CPU's walker
 * (mmu.c) it sets no accessed or dirty bits, checks no permissions and
 * raises nothing: it only says where a linear address goes.
 */
#include <string.h>

#include "target/x86/inspect.h"

#define CR0_PG      (1ull << 31)
#define CR4_PSE     (1ull << 4)
#define CR4_PAE     (1ull << 5)
#define CR4_LA57    (1ull << 12)
#define EFER_LMA    (1ull << 10)

#define PTE_P       (1ull << 0)
#define PTE_PS      (1ull << 7)
/* Bits 51:12 of PAE and 4/5-level entries hold the frame. */
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* One paging-structure entry; false if it is not in memory at all. */
static bool read_entry(AddressSpace *as, uint64_t pa, bool wide,
                       uint64_t *entry)
{
    uint8_t buf[8] = { 0 };

    if (address_space_read(as, pa, buf, wide ? 8 : 4) != MEMTX_OK) {
        return false;
    }
    *entry = 0;
    memcpy(entry, buf, wide ? 8 : 4);   /* little-endian host */
    return true;
}

/* 32-bit paging: 4 KiB pages, and 4 MiB pages with CR4.PSE (PSE-36). */
static bool walk_32(AddressSpace *as, const X86CPUSnapshot *s, uint64_t a20,
                    uint32_t lin, uint64_t *pa, uint64_t *size)
{
    uint64_t pde, pte;

    if (!read_entry(as, ((s->cr3 & 0xfffff000) + ((lin >> 22) << 2)) & a20,
                    false, &pde) || !(pde & PTE_P)) {
        return false;
    }
    if ((pde & PTE_PS) && (s->cr4 & CR4_PSE)) {
        /* PDE bits 20:13 are physical address bits 39:32 */
        *pa = (pde & 0xffc00000) | (((pde >> 13) & 0xff) << 32) |
              (lin & 0x3fffff);
        *size = 4ull << 20;
        return true;
    }
    if (!read_entry(as, ((pde & 0xfffff000) + (((lin >> 12) & 0x3ff) << 2)) &
                        a20, false, &pte) || !(pte & PTE_P)) {
        return false;
    }
    *pa = (pte & 0xfffff000) | (lin & 0xfff);
    *size = 4096;
    return true;
}

/*
 * From a table at level `shift` (39 or 48 in IA-32e mode, 21 below a
 * PAE PDPTE) down to the leaf: 1 GiB and 2 MiB pages end early.
 */
static bool walk_tables(AddressSpace *as, uint64_t a20, uint64_t table,
                        int shift, uint64_t lin, uint64_t *pa,
                        uint64_t *size)
{
    for (;;) {
        uint64_t e;
        uint64_t slot = table + ((lin >> shift) & 0x1ff) * 8;

        if (!read_entry(as, slot & a20, true, &e) || !(e & PTE_P)) {
            return false;
        }
        if (shift == 12 || ((shift == 21 || shift == 30) && (e & PTE_PS))) {
            uint64_t mask = (1ull << shift) - 1;
            *pa = (e & PTE_ADDR_MASK & ~mask) | (lin & mask);
            *size = 1ull << shift;
            return true;
        }
        table = e & PTE_ADDR_MASK;
        shift -= 9;
    }
}

bool x86_page_walk(AddressSpace *as, const X86CPUSnapshot *s, uint64_t gva,
                   uint64_t *gpa, uint64_t *page_size)
{
    uint64_t a20 = s->a20 ? ~0ull : ~(1ull << 20);
    uint64_t pa, size;
    bool ok;

    if (!(s->cr0 & CR0_PG)) {
        pa = gva;
        size = 4096;
        ok = true;
    } else if ((s->efer & EFER_LMA) && (s->cr4 & CR4_PAE)) {
        int bits = (s->cr4 & CR4_LA57) ? 57 : 48;
        int64_t high = (int64_t)gva >> (bits - 1);
        if (high != 0 && high != -1) {
            return false;   /* non-canonical */
        }
        ok = walk_tables(as, a20, s->cr3 & PTE_ADDR_MASK, bits - 9, gva,
                         &pa, &size);
    } else if (s->cr4 & CR4_PAE) {
        uint32_t lin = gva;
        uint64_t pdpte;
        uint64_t slot = (s->cr3 & 0xffffffe0) + ((lin >> 30) << 3);
        ok = read_entry(as, slot & a20, true, &pdpte) && (pdpte & PTE_P) &&
             walk_tables(as, a20, pdpte & PTE_ADDR_MASK, 21, lin, &pa,
                         &size);
    } else {
        ok = walk_32(as, s, a20, gva, &pa, &size);
    }
    if (!ok) {
        return false;
    }
    *gpa = pa & a20;
    if (page_size) {
        *page_size = size;
    }
    return true;
}
