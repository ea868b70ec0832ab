/*
 * Long-mode CPU test kernel: multiboot entry in 32-bit protected mode, own
 * GDT and identity page tables (4 GiB in 2 MiB pages, user-accessible so
 * ring-3 code can run from the image), switch to long mode; interrupt
 * stubs, the ring-3 round trip, the syscall entry, and the AP start-up path
 * (real-mode trampoline copied to 0x8000 -> 32-bit -> long mode).
 */
#define KCODE64 0x08
#define KDATA 0x10
#define UDATA 0x23
#define UCODE64 0x2b
#define KCODE32 0x40
#define MAX_CPUS 8

#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

    .text
    .code32
    .globl _start
_start:
    cli
    cld
    lgdt gdt_desc
    ljmp $KCODE32, $1f
1:  mov $KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov %ebx, mb_info
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $EFER_LME, %eax
    mov %eax, ap_efer
    jmp enter_long_mode32

/* BSP and APs: PAE, our page tables, EFER (ap_efer), paging, 64-bit code */
    .globl ap_entry32
ap_entry32:
    mov $KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
enter_long_mode32:
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    mov ap_efer, %eax
    xor %edx, %edx
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax        /* PG, WP, PE */
    mov %eax, %cr0
    ljmp $KCODE64, $entry64

    .code64
entry64:
    mov $KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $1, %eax
    lock xadd %eax, cpu_index_next(%rip)
    test %eax, %eax
    jnz ap_start64
    lea stack_top(%rip), %rsp
    mov mb_info(%rip), %edi
    call lm64_main
2:  cli
    hlt
    jmp 2b

ap_start64:
    cmp $MAX_CPUS, %eax
    jae 2b
    mov %eax, %edi
    mov %rax, %rsp
    inc %rsp
    shl $13, %rsp               /* 8 KiB per CPU */
    lea ap_stacks(%rip), %rax
    add %rax, %rsp
    lidt idtr64(%rip)
    call ap_main
    jmp 2b

/* 256 interrupt stubs of 16 bytes */
    .align 16
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .align 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    call trap_c
    cmpl $0, trap_return_to_kernel(%rip)
    jne user_return
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq

/*
 * enter_user(rip, rsp, rflags, arg): iretq to ring 3 with arg in rdi;
 * returns user rax when ring 3 does int 0x80 or faults.
 */
    .globl enter_user
enter_user:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, saved_kernel_rsp(%rip)
    pushq $UDATA
    push %rsi
    push %rdx
    pushq $UCODE64
    push %rdi
    mov %rcx, %rdi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    iretq

user_return:
    movl $0, trap_return_to_kernel(%rip)
    mov saved_kernel_rsp(%rip), %rsp
    mov user_last_rax(%rip), %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .globl probe_ret
probe_ret:
    ret

/*
 * syscall entry (LSTAR): swapgs to the per-CPU block (KERNEL_GS_BASE), switch
 * to its stack, record what the CPU gave us, sysretq back.
 * percpu: 0 kernel rsp, 8 user rsp, 16 magic.
 */
    .globl syscall_entry
syscall_entry:
    swapgs
    mov %rsp, %gs:8
    mov %gs:0, %rsp
    mov %rcx, sc_rcx(%rip)
    mov %r11, sc_r11(%rip)
    mov %rax, sc_rax(%rip)
    mov %gs:16, %rax
    mov %rax, sc_gs_magic(%rip)
    pushfq
    pop %rax
    mov %rax, sc_rflags(%rip)
    mov %cs, %eax
    mov %eax, sc_cs(%rip)
    mov %ss, %eax
    mov %eax, sc_ss(%rip)
    mov %rsp, sc_rsp(%rip)
    incl sc_count(%rip)
    mov %gs:8, %rsp
    swapgs
    mov $0x5ca11ed, %eax
    sysretq

/* Ring-3 routines: argument in rdi, leave with int 0x80 */
    .globl user_int80, user_int80_ret, user_hlt, user_int81, user_read
    .globl user_write, user_exec, user_syscall, user_syscall_ret
user_int80:
    mov $0x1234abcd, %eax
    mov %cs, %ebx
    mov %rsp, %rcx
    mov %ss, %edx
    int $0x80
user_int80_ret:
user_hlt:
    hlt
    int $0x80
user_int81:
    int $0x81
    int $0x80
user_read:
    mov (%rdi), %rax
    int $0x80
user_write:
    movl $0x5a5a5a5a, (%rdi)
    mov $1, %eax
    int $0x80
user_exec:
    call *%rdi
    int $0x80
/* syscall with DF set (FMASK clears it in the kernel, sysret restores) */
user_syscall:
    mov %rsp, %r12
    std
    mov $0x77, %eax
    syscall
user_syscall_ret:
    pushfq
    pop %rsi
    cld
    mov %cs, %ebx
    mov %ss, %edx
    mov %rsp, %rcx
    sub %r12, %rcx              /* 0 when sysret kept the user rsp */
    int $0x80

/*
 * AP trampoline, copied to 0x8000: the SIPI starts it at 0x0800:0000 in real
 * mode; load our GDT, protected mode, then ap_entry32.
 */
    .globl tramp_start, tramp_end
    .code16
tramp_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl tramp_gdt_desc - tramp_start
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $KCODE32, $ap_entry32
    .align 4
tramp_gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
tramp_end:
    .code64

    .data
    .align 16
    .globl gdt, gdt_tss, gdt_end
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08 ring-0 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10 ring-0 data */
    .quad 0x00cffa000000ffff    /* 0x18 ring-3 32-bit code (sysret base) */
    .quad 0x00cff2000000ffff    /* 0x20 ring-3 data */
    .quad 0x00affa000000ffff    /* 0x28 ring-3 64-bit code */
gdt_tss:
    .quad 0, 0                  /* 0x30 64-bit TSS, filled in by C */
    .quad 0x00cf9a000000ffff    /* 0x40 ring-0 32-bit code */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

    .globl mb_info, ap_efer, cpu_index_next, idtr64
mb_info:
    .long 0
ap_efer:
    .long 0
cpu_index_next:
    .long 0
    .align 16
idtr64:
    .word 0
    .quad 0

/* identity map of 4 GiB with 2 MiB pages, user-accessible; 0xfe000000 and
 * up (IOAPIC, LAPIC) uncached and supervisor-only */
    .align 4096
    .globl boot_pml4, boot_pdpt, boot_pd
boot_pml4:
    .quad boot_pdpt + 7
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x0007
    .quad boot_pd + 0x1007
    .quad boot_pd + 0x2007
    .quad boot_pd + 0x3007
    .fill 508, 8, 0
boot_pd:
    .set i, 0
    .rept 2048
    .if i >= 0x7f0
    .quad (i << 21) | 0x9b
    .else
    .quad (i << 21) | 0x87
    .endif
    .set i, i + 1
    .endr

    .bss
    .align 16
    .globl saved_kernel_rsp, user_last_rax, sc_rcx, sc_r11, sc_rax
    .globl sc_rflags, sc_cs, sc_ss, sc_rsp, sc_count, sc_gs_magic
saved_kernel_rsp: .quad 0
user_last_rax:  .quad 0
sc_rcx:         .quad 0
sc_r11:         .quad 0
sc_rax:         .quad 0
sc_rflags:      .quad 0
sc_rsp:         .quad 0
sc_gs_magic:    .quad 0
sc_cs:          .long 0
sc_ss:          .long 0
sc_count:       .long 0
    .align 4096
    .globl ap_stacks
ap_stacks:
    .skip 8192 * (MAX_CPUS + 1)
stack:
    .skip 16384
stack_top:
