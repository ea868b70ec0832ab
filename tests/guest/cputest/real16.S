/*
 * Real-mode (16-bit) part of the real-mode test kernel, linked at offset 0
 * of segment 0x1000: leave protected mode, point the IVT at our stubs, and
 * the checks that need exact instruction placement. Each rm_test_* is called
 * from real.c (gcc -m16: calll/retl, eax result) and returns 0 when all its
 * checks held, else the number of the first failed check (see EXPECT).
 */
#define RM_SEG 0x1000
#define SCRATCH_SEG 0x2000      /* free RAM at 0x20000 for wraparound tests */
#define PIT_VECTOR 0x20
#define EXIT_CODE_OFFSET 0

    .code16
    .section .text.entry, "ax"
    .globl rm_entry
rm_entry:
    /* 16-bit protected mode, CS base 0x10000: load 64 KiB data segments so
     * real mode inherits sane limits, then clear PE */
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov %cr0, %eax
    and $0x7ffffffe, %eax
    mov %eax, %cr0
    ljmp $RM_SEG, $1f
1:  mov $RM_SEG, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $0xfff0, %esp
    lidt ivt_desc
    /* every IVT entry -> our stub for that vector */
    xor %ax, %ax
    mov %ax, %es
    xor %di, %di
    mov $rm_stubs, %bx
    mov $256, %cx
2:  mov %bx, %es:(%di)
    movw $RM_SEG, %es:2(%di)
    add $4, %di
    add $8, %bx
    loop 2b
    mov $RM_SEG, %ax
    mov %ax, %es
    cld
    calll real_main
3:  cli
    hlt
    jmp 3b

ivt_desc:
    .word 0x3ff
    .long 0

    .text
/* 256 stubs of 8 bytes: push the vector, go to rm_common */
    .align 8
rm_stubs:
    .set vec, 0
    .rept 256
    .align 8
    pushw $vec
    jmp rm_common
    .set vec, vec + 1
    .endr

/*
 * Every interrupt and exception: record vector, pushed IP/CS/FLAGS and the
 * FLAGS inside the handler; acknowledge the PIT at the 8259; if a test set
 * rm_resume, return there instead of to the pushed IP. A fault no test
 * expected is reported (rm_unexpected does not return).
 */
rm_common:
    push %bp
    mov %sp, %bp
    pusha
    push %ds
    mov $RM_SEG, %ax
    mov %ax, %ds
    pushf
    pop rm_last_hflags
    mov 2(%bp), %ax
    mov %ax, rm_last_vector
    mov 4(%bp), %ax
    mov %ax, rm_last_ip
    mov 6(%bp), %ax
    mov %ax, rm_last_cs
    mov 8(%bp), %ax
    mov %ax, rm_last_flags
    incw rm_last_count
    cmpw $PIT_VECTOR, 2(%bp)
    jne 1f
    incl pit_count
    mov $0x20, %al
    out %al, $0x20              /* non-specific EOI */
    jmp 3f
1:  mov rm_resume, %ax
    test %ax, %ax
    jz 2f
    mov %ax, 4(%bp)
    movw $RM_SEG, 6(%bp)
    movw $0, rm_resume
    jmp 3f
    /* no resume point: only traps and software interrupts may return */
2:  cmpw $3, 2(%bp)
    je 3f
    cmpw $4, 2(%bp)
    je 3f
    cmpw $0x20, 2(%bp)
    jae 3f
    mov $RM_SEG, %ax
    mov %ax, %ss
    mov $0xfff0, %esp
    movzwl rm_last_ip, %eax
    pushl %eax
    movzwl rm_last_vector, %eax
    pushl %eax
    calll rm_unexpected
3:  pop %ds
    popa
    pop %bp
    add $2, %sp
    iret

/* test prologue/epilogue: save the C callee-saved registers and the stack */
.macro TEST name
    .globl \name
\name:
    pushl %ebx
    pushl %esi
    pushl %edi
    pushl %ebp
    mov %esp, rm_saved_sp
    movw $0, rm_last_count
.endm

.macro PASS
    xor %eax, %eax
    jmp rm_test_exit
.endm

/* fail with check number `code` unless the word/reg `a` equals `b` */
.macro EXPECT a, b, code
    cmp \b, \a
    je .Lok\@
    mov $\code, %eax
    jmp rm_test_exit
.Lok\@:
.endm

/* the same for a word in memory */
.macro EXPECTW a, b, code
    cmpw \b, \a
    je .Lok\@
    mov $\code, %eax
    jmp rm_test_exit
.Lok\@:
.endm

rm_test_exit:
    cli
    cld
    mov $RM_SEG, %bx
    mov %bx, %ss
    mov rm_saved_sp, %esp
    mov %bx, %ds
    mov %bx, %es
    mov %bx, %fs
    mov %bx, %gs
    movw $0, rm_resume
    popl %ebp
    popl %edi
    popl %esi
    popl %ebx
    retl

/* #DE: a fault, IP points at the div; both divide by zero and overflow */
TEST rm_test_de
    movw $1f, rm_resume
    xor %cx, %cx
    mov $1, %ax
    xor %dx, %dx
de_at:
    div %cx
1:  EXPECTW rm_last_count, $1, 1
    EXPECTW rm_last_vector, $0, 2
    EXPECTW rm_last_ip, $de_at, 3
    EXPECTW rm_last_cs, $RM_SEG, 4
    movw $0, rm_last_count
    movw $2f, rm_resume
    mov $2, %dx
    xor %ax, %ax
    mov $1, %cx
de2_at:
    div %cx                     /* quotient 0x20000 does not fit */
2:  EXPECTW rm_last_vector, $0, 5
    EXPECTW rm_last_ip, $de2_at, 6
    movw $0, rm_last_count
    movw $3f, rm_resume
    mov $-128, %ax
    mov $-1, %cl
de3_at:
    idiv %cl                    /* -128 / -1 = 128 overflows a byte */
3:  EXPECTW rm_last_count, $1, 7
    EXPECTW rm_last_ip, $de3_at, 8
    /* a valid division still works */
    mov $100, %ax
    xor %dx, %dx
    mov $7, %cx
    div %cx
    EXPECT %ax, $14, 9
    EXPECT %dx, $2, 10
    PASS

/* int3 and into are traps: the pushed IP is the next instruction */
TEST rm_test_bp
    int3
bp_after:
    EXPECTW rm_last_count, $1, 1
    EXPECTW rm_last_vector, $3, 2
    EXPECTW rm_last_ip, $bp_after, 3
    movw $0, rm_last_count
    int $3
    EXPECTW rm_last_vector, $3, 4
    movw $0, rm_last_count
    mov $0x7fff, %ax
    add $1, %ax                 /* OF=1 */
    into
into_after:
    EXPECTW rm_last_count, $1, 5
    EXPECTW rm_last_vector, $4, 6
    EXPECTW rm_last_ip, $into_after, 7
    movw $0, rm_last_count
    xor %ax, %ax                /* OF=0: no trap */
    into
    EXPECTW rm_last_count, $0, 8
    PASS

/* int n: FLAGS/CS/IP pushed, IF and TF cleared in the handler, DF kept;
 * iret restores FLAGS */
TEST rm_test_intn
    pushw $0x0603               /* CF, IF, DF */
    popf
    int $0x40
intn_after:
    pushf
    pop %bx
    cli
    cld
    EXPECTW rm_last_count, $1, 1
    EXPECTW rm_last_vector, $0x40, 2
    EXPECTW rm_last_ip, $intn_after, 3
    EXPECTW rm_last_cs, $RM_SEG, 4
    mov rm_last_flags, %ax
    and $0x0fff, %ax
    EXPECT %ax, $0x0603, 5
    mov rm_last_hflags, %ax
    and $0x0700, %ax
    EXPECT %ax, $0x0400, 6
    and $0x0fff, %bx
    EXPECT %bx, $0x0603, 7
    PASS

/* ud2 is a fault: IP points at it */
TEST rm_test_ud
    movw $1f, rm_resume
ud_at:
    ud2
1:  EXPECTW rm_last_count, $1, 1
    EXPECTW rm_last_vector, $6, 2
    EXPECTW rm_last_ip, $ud_at, 3
    PASS

/* BOUND: #BR (vector 5, a fault) outside [lower, upper] */
TEST rm_test_bound
    mov $15, %ax
    bound %ax, bounds16
    EXPECTW rm_last_count, $0, 1
    mov $20, %ax
    bound %ax, bounds16         /* upper bound is inclusive */
    EXPECTW rm_last_count, $0, 2
    movw $1f, rm_resume
    mov $21, %ax
br_at:
    bound %ax, bounds16
1:  EXPECTW rm_last_count, $1, 3
    EXPECTW rm_last_vector, $5, 4
    EXPECTW rm_last_ip, $br_at, 5
    movw $0, rm_last_count
    movw $2f, rm_resume
    mov $9, %ax
    bound %ax, bounds16
2:  EXPECTW rm_last_count, $1, 6
    /* operand-size prefix: 32-bit bounds */
    movw $0, rm_last_count
    mov $0x12345, %eax
    bound %eax, bounds32
    EXPECTW rm_last_count, $0, 7
    movw $3f, rm_resume
    mov $0x30000, %eax
    bound %eax, bounds32
3:  EXPECTW rm_last_count, $1, 8
    EXPECTW rm_last_vector, $5, 9
    PASS

/* iret from a hand-made frame: FLAGS restored, CS:IP loaded */
TEST rm_test_iret
    pushw $0x08d7               /* OF SF ZF AF PF CF */
    pushw %cs
    pushw $1f
    iret
    mov $1, %eax
    jmp rm_test_exit
1:  pushf
    pop %ax
    and $0x0fff, %ax
    EXPECT %ax, $0x08d7, 2
    /* to another CS naming the same bytes: 0x0fff:IP+0x10 */
    pushw $0x0002
    pushw $0x0fff
    pushw $(2f + 0x10)
    iret
2:  mov %cs, %ax
    EXPECT %ax, $0x0fff, 3
    ljmp $RM_SEG, $3f
3:  mov %cs, %ax
    EXPECT %ax, $RM_SEG, 4
    PASS

/* far call/ret, direct and through memory, lret imm16 */
TEST rm_test_far
    lcall $0x0fff, $(far_target + 0x10)
    EXPECT %bx, $0x0fff, 1
    mov %cs, %ax
    EXPECT %ax, $RM_SEG, 2
    mov %sp, %si
    pushw $0x1111
    pushw $0x2222
    lcall *far_ptr
    EXPECT %sp, %si, 3          /* lret $4 dropped the two words */
    EXPECT %bx, $RM_SEG, 4
    EXPECT %cx, $0x2222, 5
    /* 32-bit far return with the operand-size prefix */
    mov %sp, %si
    pushl $RM_SEG
    pushl $4f
    lretl
    mov $6, %eax
    jmp rm_test_exit
4:  EXPECT %sp, %si, 7
    PASS

far_target:
    mov %cs, %bx
    lret
far_target2:
    mov %cs, %bx
    mov %sp, %bp
    mov 4(%bp), %cx             /* the word pushed last before the call */
    lret $4

/* 16-bit offsets wrap at 64 KiB; segment:offset aliasing; SP wrap */
TEST rm_test_segwrap
    mov $SCRATCH_SEG, %ax
    mov %ax, %es
    movb $0xa5, %es:0x0000
    movb $0x5a, %es:0x0001
    mov $2, %bx
    mov %es:0xffff(%bx), %al    /* (0xffff + 2) mod 64K = 1 */
    EXPECT %al, $0x5a, 1
    mov $0xffff, %bx
    mov $1, %si
    mov %es:(%bx,%si), %al      /* bx + si wraps to 0 */
    EXPECT %al, $0xa5, 2
    mov $0xffff, %si
    movb $0x77, %es:0xffff
    es lodsb
    EXPECT %al, $0x77, 3
    EXPECT %si, $0, 4
    movw $0x1234, %es:0x10
    mov $(SCRATCH_SEG + 1), %ax
    mov %ax, %fs
    mov %fs:0, %ax              /* 0x2001:0 is 0x2000:0x10 */
    EXPECT %ax, $0x1234, 5
    /* a push at SP=0 wraps to 0xfffe */
    cli
    mov $SCRATCH_SEG, %ax
    mov %ax, %ss
    xor %esp, %esp
    pushw $0xbeef
    mov %sp, %dx
    mov $RM_SEG, %ax
    mov %ax, %ss
    mov rm_saved_sp, %esp
    EXPECT %dx, $0xfffe, 6
    EXPECTW %es:0xfffe, $0xbeef, 7
    /* with the address-size prefix the offset is 32-bit: no wrap at 64K
     * arithmetic for scaled indexes within the segment */
    movl $0x0ff0, %ebx
    movl $4, %ecx
    movw $0x4321, %es:0x1000
    addr32 mov %es:(%ebx,%ecx,4), %ax
    EXPECT %ax, $0x4321, 8
    PASS

/* operand-size (0x66) and address-size (0x67) prefixes in 16-bit code */
TEST rm_test_prefix
    mov $0x12345678, %eax
    mov %eax, %edx
    shr $16, %edx
    EXPECT %dx, $0x1234, 1
    mov $0xffffffff, %eax
    mov $0x1111, %ax            /* 16-bit write keeps bits 31:16 */
    shr $16, %eax
    EXPECT %ax, $0xffff, 2
    mov %sp, %bx
    pushl $0x11223344
    mov %sp, %cx
    sub %cx, %bx
    popl %eax
    EXPECT %bx, $4, 3
    cmp $0x11223344, %eax
    EXPECT %eax, $0x11223344, 4
    mov %sp, %bx
    pushw $0x5566
    mov %sp, %cx
    sub %cx, %bx
    pop %ax
    EXPECT %bx, $2, 5
    movl $table16, %ebx
    movl $2, %ecx
    addr32 mov (%ebx,%ecx,2), %ax
    EXPECT %ax, $0x3333, 6
    /* loop counts with CX, addr32 loop with ECX */
    mov $0x00010000, %ecx
    loop 1f
1:  cmp $0x0001ffff, %ecx
    EXPECT %ecx, $0x0001ffff, 7
    mov $0x00010000, %ecx
    addr32 loop 2f
2:  EXPECT %ecx, $0x0000ffff, 8
    /* rep movsb with addr32 uses ESI/EDI/ECX */
    movl $table16, %esi
    movl $copy16, %edi
    movl $8, %ecx
    addr32 rep movsb
    EXPECT %ecx, $0, 9
    EXPECTW copy16 + 6, $0x4444, 10
    mov $0x10000, %eax
    mul %eax                    /* 32-bit mul: EDX:EAX = 2^32 */
    EXPECT %edx, $1, 11
    EXPECT %eax, $0, 12
    mov $0x8000, %ax
    cwde
    EXPECT %eax, $0xffff8000, 13
    cltd
    EXPECT %edx, $0xffffffff, 14
    mov $0x80, %al
    cbw
    EXPECT %ax, $0xff80, 15
    mov $0x12345678, %eax
    bswap %eax
    EXPECT %eax, $0x78563412, 16
    movzbl %ah, %ecx
    EXPECT %ecx, $0x34, 17
    PASS

    .data
    .align 4
    .globl rm_last_vector, rm_last_ip, rm_last_cs, rm_last_flags
    .globl rm_last_hflags, rm_last_count, rm_resume, pit_count
rm_last_vector: .word 0
rm_last_ip:     .word 0
rm_last_cs:     .word 0
rm_last_flags:  .word 0
rm_last_hflags: .word 0
rm_last_count:  .word 0
rm_resume:      .word 0
    .align 4
pit_count:      .long 0
rm_saved_sp:    .long 0
bounds16:       .word 10, 20
bounds32:       .long 0x10000, 0x20000
far_ptr:        .word far_target2, RM_SEG
table16:        .word 0x1111, 0x2222, 0x3333, 0x4444
copy16:         .word 0, 0, 0, 0
