/*
 * What a bzImage's own decompressor (the kernel's "compressed" stage) does
 * before it jumps to the kernel proper, done on the host: decompress the
 * payload, lay the vmlinux ELF's segments out at their physical addresses,
 * and apply the relocation table for a random virtual offset (KASLR).
 * The boot CPU then enters the kernel proper's startup_64 directly, as the
 * comment on that entry point allows ("directly from a 64bit bootloader").
 *
 * Facts used (Documentation/arch/x86/boot.rst and the kernel's build):
 * - the setup header's payload_offset/payload_length locate the compressed
 *   vmlinux.bin, optionally followed by its relocation table; for every
 *   format but gzip the build appends the decompressed length as a
 *   little-endian u32 (gzip's own trailer ends with it);
 * - the relocation table is three zero-terminated lists of u32, read
 *   backwards from the end: 32-bit fields to add the offset to, 32-bit
 *   fields to subtract it from, 64-bit fields to add it to; each entry is
 *   the link-time virtual address, sign-extended from 32 bits;
 * - KERNEL_IMAGE_SIZE is 1 GiB on x86-64 with KASLR, and the virtual offset
 *   is a multiple of kernel_alignment.
 */
#include <inttypes.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "util/le.h"
#include "util/opts.h"
#include "x86_boot_internal.h"

#define HDR_SETUP_SECTS 0x1f1
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_END 0x250

#define KERNEL_IMAGE_SIZE (1ULL << 30)
/* Far more than any kernel; a hostile length field is refused, not
 * allocated. */
#define UNPACK_MAX (1ULL << 30)

#define ELF_HDR_SIZE 64
#define ELF_PHDR_SIZE 56
#define PT_LOAD 1

typedef enum Compression {
    COMP_NONE,
    COMP_GZIP,
    COMP_XZ,
    COMP_LZMA,
    COMP_ZSTD,
    COMP_OTHER,
} Compression;

/* The payload of a bzImage: compressed bytes, or NULL if the header has
 * none or it lies outside the file. */
static const uint8_t *payload(const uint8_t *k, size_t len, size_t *plen)
{
    unsigned setup_sects;
    uint64_t off, n;

    if (len < HDR_END) {
        return NULL;
    }
    setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
    off = (setup_sects + 1) * 512ULL + ld32(k + HDR_PAYLOAD_OFFSET);
    n = ld32(k + HDR_PAYLOAD_LENGTH);
    if (n < 8 || off > len || n > len - off) {
        return NULL;
    }
    *plen = n;
    return k + off;
}

static Compression compression(const uint8_t *p, size_t len)
{
    static const struct {
        Compression c;
        uint8_t n;
        uint8_t magic[6];
    } magics[] = {
        { COMP_GZIP, 2, { 0x1f, 0x8b } },
        { COMP_XZ, 6, { 0xfd, '7', 'z', 'X', 'Z', 0 } },
        { COMP_LZMA, 3, { 0x5d, 0, 0 } },
        { COMP_ZSTD, 4, { 0x28, 0xb5, 0x2f, 0xfd } },
        { COMP_OTHER, 3, { 'B', 'Z', 'h' } },            /* bzip2 */
        { COMP_OTHER, 4, { 0x89, 'L', 'Z', 'O' } },      /* lzop */
        { COMP_OTHER, 4, { 0x02, 0x21, 0x4c, 0x18 } },   /* lz4 legacy */
    };

    for (size_t i = 0; i < G_N_ELEMENTS(magics); i++) {
        if (len >= magics[i].n && !memcmp(p, magics[i].magic, magics[i].n)) {
            return magics[i].c;
        }
    }
    return COMP_NONE;
}

bool linux_unpack_supported(const uint8_t *kernel, size_t len)
{
    size_t plen;
    const uint8_t *p = payload(kernel, len, &plen);
    Compression c = p ? compression(p, plen) : COMP_NONE;

    return c != COMP_NONE && c != COMP_OTHER;
}

static bool inflate_gzip(const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t out_len)
{
    z_stream s = { 0 };
    int ret;

    if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) {
        return false;
    }
    s.next_in = (Bytef *)in;
    s.next_out = out;
    /* zlib counts in uInt; the payload and output are below 4 GiB */
    s.avail_in = in_len;
    s.avail_out = out_len;
    ret = inflate(&s, Z_FINISH);
    inflateEnd(&s);
    return ret == Z_STREAM_END && s.total_out == out_len;
}

static bool inflate_lzma(Compression c, const uint8_t *in, size_t in_len,
                         uint8_t *out, size_t out_len)
{
    lzma_stream s = LZMA_STREAM_INIT;
    lzma_ret ret;

    ret = c == COMP_XZ ? lzma_stream_decoder(&s, UINT64_MAX, 0)
                       : lzma_alone_decoder(&s, UINT64_MAX);
    if (ret != LZMA_OK) {
        return false;
    }
    s.next_in = in;
    s.avail_in = in_len;
    s.next_out = out;
    s.avail_out = out_len;
    ret = lzma_code(&s, LZMA_FINISH);
    lzma_end(&s);
    /* .lzma streams may carry no end marker: a full buffer ends them */
    return (ret == LZMA_STREAM_END || (c == COMP_LZMA && ret == LZMA_OK)) &&
           s.total_out == out_len;
}

/* The decompressed payload, *len bytes, or NULL with errp set. */
static uint8_t *decompress(const uint8_t *k, size_t klen, size_t *len,
                           GError **errp)
{
    size_t plen;
    const uint8_t *p = payload(k, klen, &plen);
    Compression c = p ? compression(p, plen) : COMP_NONE;
    uint64_t n;
    uint8_t *out;
    bool ok;

    if (c == COMP_NONE || c == COMP_OTHER) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: %s; kernel-decompress=on needs a gzip, xz, lzma "
                    "or zstd payload (kernel-decompress=off runs the "
                    "kernel's own decompressor)",
                    !p ? "the setup header locates no payload in the file"
                       : c == COMP_OTHER ? "the payload is compressed with "
                                           "bzip2, lzo or lz4"
                                         : "the payload format is unknown");
        return NULL;
    }
    n = ld32(p + plen - 4);
    if (n < ELF_HDR_SIZE || n > UNPACK_MAX) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the payload claims a decompressed size of %" PRIu64
                    " bytes", n);
        return NULL;
    }
    out = g_try_malloc(n);
    if (!out) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: no host memory to decompress %" PRIu64 " bytes",
                    n);
        return NULL;
    }
    switch (c) {
    case COMP_GZIP:
        ok = inflate_gzip(p, plen, out, n);
        break;
    case COMP_ZSTD:
        ok = ZSTD_decompress(out, n, p, plen - 4) == n;
        break;
    default:
        ok = inflate_lzma(c, p, plen - 4, out, n);
        break;
    }
    if (!ok) {
        g_free(out);
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the compressed payload is corrupt or not %" PRIu64
                    " bytes long as its trailer says",
                    n);
        return NULL;
    }
    *len = n;
    return out;
}

typedef struct Segment {
    uint64_t offset, paddr, filesz, memsz;
} Segment;

typedef struct Elf {
    uint64_t entry;
    uint64_t base;          /* lowest physical address */
    uint64_t end;           /* highest paddr + memsz */
    uint64_t kernel_map;    /* virtual minus physical, of the first load */
    uint64_t file_end;      /* where the ELF file ends in the payload */
    Segment seg[16];
    int nseg;
} Elf;

static bool parse_elf(const uint8_t *d, size_t len, Elf *elf, GError **errp)
{
    uint64_t phoff, shoff;
    unsigned phnum, shnum;

    if (memcmp(d, "\x7f" "ELF\x02\x01", 6) || ld16(d + 18) != 62) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the decompressed payload is not an x86-64 ELF "
                    "image");
        return false;
    }
    memset(elf, 0, sizeof(*elf));
    elf->entry = ld64(d + 24);
    phoff = ld64(d + 32);
    shoff = ld64(d + 40);
    phnum = ld16(d + 56);
    shnum = ld16(d + 60);
    if (ld16(d + 54) != ELF_PHDR_SIZE || phoff > len ||
        phnum > (len - phoff) / ELF_PHDR_SIZE ||
        (shnum && (shoff > len || shnum > (len - shoff) / 64))) {
        goto bad;
    }
    elf->base = UINT64_MAX;
    elf->file_end = MAX(phoff + phnum * ELF_PHDR_SIZE, shoff + shnum * 64ULL);
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = d + phoff + i * ELF_PHDR_SIZE;
        Segment s = {
            .offset = ld64(ph + 8),
            .paddr = ld64(ph + 24),
            .filesz = ld64(ph + 32),
            .memsz = ld64(ph + 40),
        };
        if (ld32(ph) != PT_LOAD) {
            continue;
        }
        if (elf->nseg == G_N_ELEMENTS(elf->seg) || s.offset > len ||
            s.filesz > len - s.offset || s.filesz > s.memsz ||
            s.memsz > UNPACK_MAX || s.paddr > UNPACK_MAX) {
            goto bad;
        }
        if (elf->nseg == 0) {
            elf->kernel_map = ld64(ph + 16) - s.paddr;
        }
        elf->seg[elf->nseg++] = s;
        elf->base = MIN(elf->base, s.paddr);
        elf->end = MAX(elf->end, s.paddr + s.memsz);
        elf->file_end = MAX(elf->file_end, s.offset + s.filesz);
    }
    if (!elf->nseg || elf->entry < elf->base || elf->entry >= elf->end ||
        elf->file_end > len) {
        goto bad;
    }
    return true;
bad:
    g_set_error(errp, VIREO_ERROR, 0,
                "KERNEL: the decompressed vmlinux has bad program headers");
    return false;
}

/*
 * The relocation table t (the tlen bytes after the ELF file): lists[0]
 * 64-bit, lists[1] inverse 32-bit, lists[2] 32-bit fields, each as
 * [start, end) indices of u32 entries. False if the bytes are not exactly
 * such a table (a kernel built without KASLR has none).
 */
static bool find_relocs(const uint8_t *t, size_t tlen, size_t lists[3][2])
{
    size_t i = tlen / 4;

    if (!tlen || tlen % 4) {
        return false;
    }
    for (int l = 2; l >= 0; l--) {
        lists[l][1] = i;
        while (i > 0 && ld32(t + (i - 1) * 4)) {
            i--;
        }
        if (i == 0) {
            return false;       /* no terminator */
        }
        lists[l][0] = i;
        i--;                    /* the terminator */
    }
    return i == 0;
}

/* Applies the relocations in table t for a virtual offset of delta to the
 * laid-out image (physical elf->base, len bytes). */
static bool relocate(uint8_t *img, size_t len, const Elf *elf,
                     const uint8_t *t, size_t lists[3][2], uint64_t delta,
                     GError **errp)
{
    uint64_t virt_base = elf->kernel_map + elf->base;

    for (int l = 0; l < 3; l++) {
        size_t width = l == 0 ? 8 : 4;
        for (size_t i = lists[l][0]; i < lists[l][1]; i++) {
            uint64_t vaddr = (uint64_t)(int64_t)(int32_t)ld32(t + i * 4);
            uint64_t pos = vaddr - virt_base;
            uint8_t *p;
            if (pos > len || len - pos < width) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "KERNEL: relocation at 0x%" PRIx64
                            " is outside the kernel image", vaddr);
                return false;
            }
            p = img + pos;
            if (l == 0) {
                st64(p, ld64(p) + delta);
            } else if (l == 1) {
                st32(p, ld32(p) - (uint32_t)delta);
            } else {
                st32(p, ld32(p) + (uint32_t)delta);
            }
        }
    }
    return true;
}

/* A random multiple of align that keeps [base, base + size) plus it inside
 * KERNEL_IMAGE_SIZE (the kernel's find_random_virt_addr). */
static uint64_t random_delta(uint64_t base, uint64_t size, uint64_t align)
{
    uint64_t slots;

    if (!align || (align & (align - 1)) || base > KERNEL_IMAGE_SIZE ||
        size > KERNEL_IMAGE_SIZE - base) {
        return 0;
    }
    size = (size + align - 1) & ~(align - 1);
    slots = (KERNEL_IMAGE_SIZE - base - MIN(size, KERNEL_IMAGE_SIZE - base)) /
            align + 1;
    return (uint64_t)g_random_int_range(0, MIN(slots, G_MAXINT32)) * align;
}

static int by_offset(const void *a, const void *b)
{
    const Segment *x = a, *y = b;

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int by_paddr(const void *a, const void *b)
{
    const Segment *x = a, *y = b;

    return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

/*
 * Lays the segments of the payload d (len bytes) out from elf->base, in
 * place when every one moves down as in the kernel's own build, and zeroes
 * the gaps and each segment's memsz beyond filesz. Returns the image,
 * elf->end - elf->base bytes; d is consumed.
 */
static uint8_t *lay_out(uint8_t *d, size_t len, Elf *elf)
{
    uint64_t img_len = elf->end - elf->base, cursor = 0;
    uint8_t *img = d;

    qsort(elf->seg, elf->nseg, sizeof(Segment), by_offset);
    for (int i = 0; i < elf->nseg; i++) {
        if (elf->seg[i].paddr - elf->base > elf->seg[i].offset) {
            img = g_malloc(img_len);
            break;
        }
    }
    if (img == d && img_len > len) {
        img = d = g_realloc(d, img_len);
    }
    for (int i = 0; i < elf->nseg; i++) {
        const Segment *s = &elf->seg[i];
        memmove(img + (s->paddr - elf->base), d + s->offset, s->filesz);
    }
    if (img != d) {
        g_free(d);
    }
    qsort(elf->seg, elf->nseg, sizeof(Segment), by_paddr);
    for (int i = 0; i < elf->nseg; i++) {
        const Segment *s = &elf->seg[i];
        uint64_t start = s->paddr - elf->base;
        if (start > cursor) {
            memset(img + cursor, 0, start - cursor);
        }
        memset(img + start + s->filesz, 0, s->memsz - s->filesz);
        cursor = MAX(cursor, start + s->memsz);
    }
    return img;
}

bool linux_unpack(const uint8_t *kernel, size_t klen, bool randomize,
                  uint64_t ram_end, LinuxUnpacked *out, GError **errp)
{
    size_t len, tlen = 0, lists[3][2];
    uint8_t *d = decompress(kernel, klen, &len, errp);
    g_autofree uint8_t *table = NULL;
    uint64_t delta = 0;
    uint8_t *img;
    Elf elf;

    if (!d) {
        return false;
    }
    if (!parse_elf(d, len, &elf, errp)) {
        g_free(d);
        return false;
    }
    if (elf.base < LINUX_KERNEL_ADDR || elf.end > ram_end) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the decompressed kernel spans 0x%" PRIx64
                    "-0x%" PRIx64 ", outside guest RAM from 1 MiB to 0x%"
                    PRIx64, elf.base, elf.end, ram_end);
        g_free(d);
        return false;
    }
    if (find_relocs(d + elf.file_end, len - elf.file_end, lists)) {
        tlen = len - elf.file_end;
        table = g_memdup2(d + elf.file_end, tlen);
    }
    if (table && randomize) {
        delta = random_delta(elf.base, MAX(len, elf.end - elf.base),
                             ld32(kernel + HDR_KERNEL_ALIGNMENT));
    }
    img = lay_out(d, len, &elf);
    /* checked whenever KASLR is asked for, even if the offset is 0 */
    if (table && randomize && !relocate(img, elf.end - elf.base, &elf, table, lists,
                           delta, errp)) {
        g_free(img);
        return false;
    }
    out->image = img;
    out->len = elf.end - elf.base;
    out->paddr = elf.base;
    out->entry = elf.entry;
    out->relocatable = table != NULL;
    out->delta = delta;
    return true;
}
