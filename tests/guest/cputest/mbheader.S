/*
 * Multiboot v1 header (multiboot spec 0.6.96, section 3.1), ELF variant: the
 * loader takes the load addresses from the program headers and enters
 * _start in 32-bit protected mode with paging off.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* page-aligned modules, memory info */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
