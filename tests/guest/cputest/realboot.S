/*
 * Launcher of the real-mode test kernel: multiboot enters here in 32-bit
 * protected mode; copy the 16-bit image (real16.bin, linked at offset 0) to
 * 0x10000 and jump to it through a 16-bit code segment based there. The
 * image itself clears CR0.PE and continues at 0x1000:offset.
 */
#define RM_BASE 0x10000

    .text
    .code32
    .globl _start
_start:
    cli
    cld
    mov $real16_image, %esi
    mov $RM_BASE, %edi
    mov $real16_image_end - real16_image, %ecx
    rep movsb
    lgdt rb_gdt_desc
    ljmp $0x08, $0

    .data
    .align 8
rb_gdt:
    .quad 0
    .quad 0x00009a010000ffff    /* 0x08: 16-bit code, base 0x10000, 64 KiB */
    .quad 0x000092010000ffff    /* 0x10: 16-bit data, base 0x10000, 64 KiB */
rb_gdt_end:
rb_gdt_desc:
    .word rb_gdt_end - rb_gdt - 1
    .long rb_gdt

    .align 16
real16_image:
    .incbin "real16.bin"
real16_image_end:
