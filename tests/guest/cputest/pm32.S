/*
 * 32-bit protected-mode CPU test kernel: entry from multiboot, GDT with ring-0
 * and ring-3 segments and a TSS, one interrupt stub per vector, and the
 * ring-3 round trip (iret to CPL3, back through int 0x80 or a fault).
 */
#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23

    .text
    .code32
    .globl _start
_start:
    cli
    cld
    lgdt gdt_desc
    ljmp $KCODE, $1f
1:  mov $KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov %ebx, %esi              /* multiboot info */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $stack_top, %esp
    push %esi
    call pm32_main
2:  cli
    hlt
    jmp 2b

/*
 * Interrupt stubs, 16 bytes each, for all 256 vectors: push a zero error
 * code where the CPU pushes none, then the vector number.
 */
    .align 16
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .align 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    push $0
    .endif
    push $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    pusha
    push %ds
    push %es
    mov $KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    push %esp
    call trap_c
    add $4, %esp
    cmpl $0, trap_return_to_kernel
    jne user_return
    pop %es
    pop %ds
    popa
    add $8, %esp
    iret

/*
 * enter_user(eip, esp, eflags, esi): iret to ring 3 at eip with esi as the
 * argument; returns (eax = user eax) when the user code does int 0x80 or
 * takes a fault that trap_c sends back to the kernel.
 */
    .globl enter_user
enter_user:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov %esp, saved_kernel_esp
    mov 20(%esp), %eax
    mov 24(%esp), %ecx
    mov 28(%esp), %edx
    mov 32(%esp), %esi
    mov $UDATA, %ebx
    mov %ebx, %ds
    mov %ebx, %es
    push $UDATA
    push %ecx
    push %edx
    push $UCODE
    push %eax
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    iret

user_return:
    movl $0, trap_return_to_kernel
    mov saved_kernel_esp, %esp
    mov $KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov user_last_eax, %eax
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

/* A `ret` to resume at after a fault inside a called function. */
    .globl probe_ret
probe_ret:
    ret

/* Ring-3 routines: argument in esi, leave with int 0x80. */
    .globl user_int80, user_hlt, user_int81, user_read, user_write
    .globl user_popf_if, user_cli, user_regs
user_int80:
    mov $0x1234abcd, %eax
    mov %cs, %ebx
    mov %esp, %ecx
    mov %ss, %edx
    int $0x80
    .globl user_int80_ret
user_int80_ret:
user_hlt:
    hlt
    int $0x80
user_int81:
    int $0x81
    int $0x80
user_read:
    mov (%esi), %eax
    int $0x80
user_write:
    movl $0x5a5a5a5a, (%esi)
    mov $1, %eax
    int $0x80
/* popf at CPL3 with IOPL 0 must leave IF alone without faulting */
user_popf_if:
    pushf
    pop %ebx
    mov %ebx, %eax
    xor $0x200, %eax
    push %eax
    popf
    pushf
    pop %ecx
    mov %ebx, %eax
    int $0x80
/* with IOPL 3, cli works at CPL3 */
user_cli:
    cli
    pushf
    pop %ebx
    mov $2, %eax
    int $0x80

    .data
    .align 16
    .globl gdt, gdt_tss
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08 ring-0 code */
    .quad 0x00cf92000000ffff    /* 0x10 ring-0 data */
    .quad 0x00cffa000000ffff    /* 0x18 ring-3 code */
    .quad 0x00cff2000000ffff    /* 0x20 ring-3 data */
gdt_tss:
    .quad 0                     /* 0x28 TSS, filled in by pm32_main */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .bss
    .align 16
    .globl saved_kernel_esp, user_last_eax
saved_kernel_esp:
    .long 0
user_last_eax:
    .long 0
    .align 4096
stack:
    .skip 16384
stack_top:
