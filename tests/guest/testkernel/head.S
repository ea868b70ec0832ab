/*
 * Entry points of the test kernel, linked at 1 MiB:
 *   0x100000  32-bit Linux boot protocol entry (code32_start), esi = boot_params
 *   0x100200  64-bit Linux boot protocol entry, rsi = boot_params, paging on
 *   multiboot_entry: multiboot v1, eax = 0x2BADB002, ebx = multiboot info
 * Each path loads our GDT and identity page tables (static, first 4 GiB) and
 * calls kernel_main(kind, info, magic) in long mode.
 */
#include "testkernel.h"

#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20

    .section .head, "ax"
    .code32
    .globl linux32_entry
linux32_entry:
    cli
    mov $BOOT_LINUX32, %ebp
    mov %esi, %ebx
    xor %esi, %esi
    jmp entry32_common

    .org 0x200
    .code64
    .globl linux64_entry
linux64_entry:
    cli
    jmp entry64_linux

    .text
    .code32
    .globl multiboot_entry
multiboot_entry:
    cli
    mov $BOOT_MULTIBOOT, %ebp
    mov %eax, %esi              /* multiboot magic; ebx = info */
    /* fall through */

/* ebp = boot kind, ebx = info pointer, esi = magic */
entry32_common:
    cld
    lgdt gdt_desc
    ljmp $KERNEL_CS32, $1f
1:  mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %esp
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    call enter_long_mode32
    ljmp $KERNEL_CS64, $entry64_common

/* PAE + our page tables + EFER.LME + paging; used by the BSP and the APs */
    .globl enter_long_mode32
enter_long_mode32:
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0
    ret

    .code64
entry64_common:
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %ebp, %edi
    mov %esi, %edx
    mov %ebx, %esi
    jmp call_main

entry64_linux:
    cld
    mov %rsi, %rbx
    lgdt gdt_desc(%rip)
    lea boot_pml4(%rip), %rax
    mov %rax, %cr3
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    lea boot_stack_top(%rip), %rsp
    pushq $KERNEL_CS64
    lea 1f(%rip), %rax
    pushq %rax
    lretq
1:  lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    mov $BOOT_LINUX64, %edi
    mov %rbx, %rsi
    xor %edx, %edx
call_main:
    lea boot_stack_top(%rip), %rsp
    call kernel_main
2:  cli
    hlt
    jmp 2b

/* APs arrive here from the real-mode trampoline in 32-bit protected mode */
    .code32
    .globl ap_entry32
ap_entry32:
    /* ds still has its real-mode 64 KiB limit: reload before touching data */
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    lgdt gdt_desc
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0
    ljmp $KERNEL_CS64, $ap_entry64

    .code64
ap_entry64:
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $1, %eax
    lock xadd %eax, ap_stack_next(%rip)
    cmp $MAX_CPUS, %eax
    jae 3f
    inc %eax
    shl $13, %rax               /* 8 KiB per AP */
    lea ap_stacks(%rip), %rsp
    add %rax, %rsp
    call ap_main
3:  cli
    hlt
    jmp 3b

    .data
    .align 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
    .quad 0x00af9a000000ffff    /* 0x18: 64-bit code */
gdt_end:
    .globl gdt_desc
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

/*
 * Identity map of the first 4 GiB with 2 MiB pages; 0xfe000000 and up
 * (IOAPIC, LAPIC, HPET, firmware) uncached. paging.c adds more above 4 GiB.
 */
    .align 4096
    .globl boot_pml4, boot_pdpt
boot_pml4:
    .quad boot_pdpt + 3
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x0003
    .quad boot_pd + 0x1003
    .quad boot_pd + 0x2003
    .quad boot_pd + 0x3003
    .fill 508, 8, 0
boot_pd:
    .set i, 0
    .rept 2048
    .if i >= 0x7f0
    .quad (i << 21) | 0x9b
    .else
    .quad (i << 21) | 0x83
    .endif
    .set i, i + 1
    .endr

    .bss
    .globl ap_stack_next
    .align 4
ap_stack_next:
    .long 0

    .section .noinit, "aw", @nobits
    .align 4096
    .globl ap_stacks
ap_stacks:
    .skip 8192 * (MAX_CPUS + 1)
boot_stack:
    .skip 16384
boot_stack_top:
