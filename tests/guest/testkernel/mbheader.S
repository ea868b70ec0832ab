/*
 * Multiboot v1 header (multiboot spec 0.6.96, section 3.1). Built twice: an
 * ELF variant (the loader reads the ELF program headers) and, with
 * -DMB_AOUT_KLUDGE, a flat-binary variant that gives the load addresses in the
 * header (flag bit 16).
 */
#define MB_MAGIC 0x1BADB002
#define MB_PAGE_ALIGN (1 << 0)
#define MB_MEMORY_INFO (1 << 1)
#define MB_AOUT_KLUDGE (1 << 16)

#ifdef MB_AOUT_KLUDGE_VARIANT
#define MB_FLAGS (MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_AOUT_KLUDGE)
#else
#define MB_FLAGS (MB_PAGE_ALIGN | MB_MEMORY_INFO)
#endif

    .section .head.multiboot, "a"
    .align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header         /* header_addr */
    .long __kernel_start    /* load_addr */
    .long __load_end        /* load_end_addr */
    .long __kernel_end      /* bss_end_addr */
    .long multiboot_entry   /* entry_addr */
