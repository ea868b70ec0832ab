/*
 * Real-mode AP start-up code. smp.c copies it to TRAMPOLINE_BASE (a page
 * below 1 MiB) and sends a SIPI with that page; the AP switches to protected
 * mode and jumps to ap_entry32 in head.S.
 */
#include "testkernel.h"

#define T(x) (TRAMPOLINE_BASE + (x) - trampoline_start)

    .section .rodata
    .code16
    .globl trampoline_start, trampoline_end
trampoline_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl T(tramp_gdt_desc)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $KERNEL_CS32, $ap_entry32

    .align 8
tramp_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
tramp_gdt_desc:
    .word 31
    .long T(tramp_gdt)
trampoline_end:
    .code64
