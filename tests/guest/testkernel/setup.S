/*
 * bzImage boot sector and real-mode setup (Linux boot protocol 2.15,
 * Documentation/arch/x86/boot.rst). A loader that starts us in real mode
 * (firmware option ROMs, GRUB's "linux16") enters at offset 0x200 with
 * ds = es = ss = setup segment; we read the BIOS e820 map into boot_params,
 * switch to protected mode and jump to code32_start with esi = boot_params.
 * 64-bit loaders skip all of this and use the entry at 0x100200.
 * mkbzimage.py fills setup_sects, syssize and init_size.
 */
#define SETUP_SECTS 2
#define E820_MAX 128
#define BOOT_PARAMS 0x1000 /* in the setup segment, past our code */

    .code16
    .section .text
    .globl _start
_start:
    /* Boot sector: we are not bootable from a disk by ourselves. */
    ljmp $0x07c0, $(bs_halt - _start)
bs_halt:
    cli
    hlt
    jmp bs_halt

    .org 0x1f1
setup_sects:    .byte SETUP_SECTS
root_flags:     .word 0
syssize:        .long 0
ram_size:       .word 0
vid_mode:       .word 0xffff        /* "normal" */
root_dev:       .word 0
boot_flag:      .word 0xaa55
    .org 0x200
    .byte 0xeb, start_of_setup - 1f  /* short jmp */
1:
header:         .ascii "HdrS"
version:        .word 0x020f
realmode_swtch: .long 0
start_sys_seg:  .word 0x1000
kernel_version: .word kernel_version_str - 0x200
type_of_loader: .byte 0
loadflags:      .byte 0x01          /* LOADED_HIGH */
setup_move_size: .word 0x8000
code32_start:   .long 0x100000
ramdisk_image:  .long 0
ramdisk_size:   .long 0
bootsect_kludge: .long 0
heap_end_ptr:   .word 0
ext_loader_ver: .byte 0
ext_loader_type: .byte 0
cmd_line_ptr:   .long 0
initrd_addr_max: .long 0x7fffffff
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 0
min_alignment:  .byte 21
xloadflags:     .word 0x0001        /* XLF_KERNEL_64: entry at 0x200 */
cmdline_size:   .long 4095
hardware_subarch: .long 0
hardware_subarch_data: .quad 0
payload_offset: .long 0
payload_length: .long 0
setup_data:     .quad 0
pref_address:   .quad 0x100000
init_size:      .long 0
handover_offset: .long 0
kernel_info_offset: .long 0

kernel_version_str:
    .asciz "vireo-testkernel"

start_of_setup:
    cli
    cld
    mov %ds, %ax
    mov %ax, %es
    /*
     * Build boot_params (the "zero page") at ds:BOOT_PARAMS, past this code:
     * zero it, copy the setup header the loader filled in, add the e820 map.
     */
    mov $BOOT_PARAMS, %di
    mov $(4096 / 2), %cx
    xor %ax, %ax
    rep stosw
    mov $0x1f1, %si
    mov $(BOOT_PARAMS + 0x1f1), %di
    mov $(kernel_version_str - 0x1f1), %cx
    rep movsb
    /* BIOS e820 (int 15h, ax=e820h) into boot_params.e820_table */
    xor %ebx, %ebx
    mov $(BOOT_PARAMS + 0x2d0), %di
    xor %bp, %bp
2:  mov $0xe820, %eax
    mov $20, %ecx
    mov $0x534d4150, %edx       /* "SMAP" */
    int $0x15
    jc 3f
    cmp $0x534d4150, %eax
    jne 3f
    add $20, %di
    inc %bp
    test %ebx, %ebx
    jz 3f
    cmp $E820_MAX, %bp
    jb 2b
3:  mov %bp, %ax
    movb %al, BOOT_PARAMS + 0x1e8
    /* linear addresses: boot_params, our GDT and the 32-bit code */
    xor %esi, %esi
    mov %ds, %si
    shl $4, %esi
    lea setup_gdt(%esi), %eax
    mov %eax, setup_gdt_base
    lea pm_entry(%esi), %eax
    mov %eax, pm_jump_off
    add $BOOT_PARAMS, %esi
    lgdtl setup_gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    .byte 0x66, 0xea            /* ljmpl $0x10, $pm_entry (linear) */
pm_jump_off:
    .long 0
    .word 0x10

    .code32
pm_entry:
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    xor %ebp, %ebp
    xor %edi, %edi
    xor %ebx, %ebx
    jmp *0x214(%esi)            /* hdr.code32_start */

    .align 8
setup_gdt:
    .quad 0
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x10: __BOOT_CS */
    .quad 0x00cf92000000ffff    /* 0x18: __BOOT_DS */
setup_gdt_desc:
    .word 31
setup_gdt_base:
    .long 0

    .org (SETUP_SECTS + 1) * 512
