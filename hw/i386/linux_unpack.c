/*
 * What a bzImage's own decompressor (the kernel's "compressed" stage) does
 * before it jumps to the kernel proper, done on the host: decompress the
 * payload, lay the vmlinux ELF's segments out at their physical addresses,
 * and apply the relocation table for a random virtual offset (KASLR).
 * The boot CPU then enters the kernel proper's startup_64 directly, as the
 * comment on that entry point allows ("directly from a 64bit bootloader").
 *
 * The payload is decompressed in pieces straight into guest memory (a
 * LinuxUnpackSink), so the VMM never holds the decompressed kernel; only
 * the relocation table after the ELF file is kept while it is applied.
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
/* Decompressed in pieces of this size, straight to guest memory: the VMM
 * never holds the whole kernel. The ELF and program headers must lie in
 * the first piece. */
#define CHUNK (256 * 1024)
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

/* A streaming decompressor of one of the formats. */
typedef struct Stream {
    Compression c;
    z_stream z;
    lzma_stream x;
    ZSTD_DStream *zs;
    ZSTD_inBuffer zin;
    bool done;
} Stream;

static bool stream_init(Stream *st, Compression c, const uint8_t *in,
                        size_t in_len)
{
    memset(st, 0, sizeof(*st));
    st->c = c;
    switch (c) {
    case COMP_GZIP:
        if (inflateInit2(&st->z, 16 + MAX_WBITS) != Z_OK) {
            return false;
        }
        st->z.next_in = (Bytef *)in;
        st->z.avail_in = in_len;    /* below 4 GiB: checked by payload() */
        return true;
    case COMP_XZ:
    case COMP_LZMA:
        st->x = (lzma_stream)LZMA_STREAM_INIT;
        if ((c == COMP_XZ ? lzma_stream_decoder(&st->x, UINT64_MAX, 0)
                          : lzma_alone_decoder(&st->x, UINT64_MAX)) !=
            LZMA_OK) {
            return false;
        }
        st->x.next_in = in;
        st->x.avail_in = in_len;
        return true;
    default:
        st->zs = ZSTD_createDStream();
        st->zin = (ZSTD_inBuffer){ in, in_len, 0 };
        return st->zs && !ZSTD_isError(ZSTD_initDStream(st->zs));
    }
}

static void stream_end(Stream *st)
{
    switch (st->c) {
    case COMP_GZIP:
        inflateEnd(&st->z);
        break;
    case COMP_XZ:
    case COMP_LZMA:
        lzma_end(&st->x);
        break;
    default:
        ZSTD_freeDStream(st->zs);
        break;
    }
}

/* Up to cap more bytes into out: how many, or -1 on a corrupt stream.
 * st->done is set at the stream's end. */
static ssize_t stream_read(Stream *st, uint8_t *out, size_t cap)
{
    size_t n = 0;

    while (n < cap && !st->done) {
        if (st->c == COMP_GZIP) {
            st->z.next_out = out + n;
            st->z.avail_out = cap - n;
            int ret = inflate(&st->z, Z_NO_FLUSH);
            n = cap - st->z.avail_out;
            if (ret == Z_STREAM_END) {
                st->done = true;
            } else if (ret != Z_OK) {
                return -1;
            }
        } else if (st->c == COMP_ZSTD) {
            ZSTD_outBuffer o = { out, cap, n };
            size_t ret = ZSTD_decompressStream(st->zs, &o, &st->zin);
            if (ZSTD_isError(ret)) {
                return -1;
            }
            if (ret == 0) {
                st->done = true;    /* the frame is complete and flushed */
            } else if (o.pos == n && st->zin.pos == st->zin.size) {
                return -1;          /* input used up, the frame cut short */
            }
            n = o.pos;
        } else {
            st->x.next_out = out + n;
            st->x.avail_out = cap - n;
            lzma_ret ret = lzma_code(&st->x, LZMA_FINISH);
            n = cap - st->x.avail_out;
            if (ret == LZMA_STREAM_END) {
                st->done = true;
            } else if (ret == LZMA_BUF_ERROR && st->c == COMP_LZMA &&
                       !st->x.avail_in) {
                st->done = true;    /* .lzma without an end marker */
            } else if (ret != LZMA_OK) {
                return -1;
            }
        }
    }
    return n;
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
    uint64_t out_len;       /* the decompressed length */
    Segment seg[16];
    int nseg;
} Elf;

/* The ELF and program headers, from the first len decompressed bytes. */
static bool parse_elf(const uint8_t *d, size_t len, Elf *elf, GError **errp)
{
    uint64_t phoff, shoff;
    unsigned phnum, shnum;

    if (len < ELF_HDR_SIZE || memcmp(d, "\x7f" "ELF\x02\x01", 6) ||
        ld16(d + 18) != 62) {
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
        phnum > (len - phoff) / ELF_PHDR_SIZE || shoff > UNPACK_MAX) {
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
        if (elf->nseg == G_N_ELEMENTS(elf->seg) || s.offset > UNPACK_MAX ||
            s.filesz > UNPACK_MAX || s.filesz > s.memsz ||
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
    if (!elf->nseg || elf->entry < elf->base || elf->entry >= elf->end) {
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
 * laid-out kernel in sink. */
static bool relocate(const LinuxUnpackSink *sink, const Elf *elf,
                     const uint8_t *t, size_t lists[3][2], uint64_t delta,
                     GError **errp)
{
    uint64_t virt_base = elf->kernel_map + elf->base;
    uint64_t len = elf->end - elf->base;

    for (int l = 0; l < 3; l++) {
        size_t width = l == 0 ? 8 : 4;
        for (size_t i = lists[l][0]; i < lists[l][1]; i++) {
            uint64_t vaddr = (uint64_t)(int64_t)(int32_t)ld32(t + i * 4);
            uint64_t pos = vaddr - virt_base;
            uint8_t p[8];
            if (pos > len || len - pos < width) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "KERNEL: relocation at 0x%" PRIx64
                            " is outside the kernel image", vaddr);
                return false;
            }
            if (!delta) {
                continue;       /* checked all the same */
            }
            sink->read(sink->opaque, elf->base + pos, p, width);
            if (l == 0) {
                st64(p, ld64(p) + delta);
            } else if (l == 1) {
                st32(p, ld32(p) - (uint32_t)delta);
            } else {
                st32(p, ld32(p) + (uint32_t)delta);
            }
            sink->write(sink->opaque, elf->base + pos, p, width);
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

static void write_zeros(const LinuxUnpackSink *sink, uint64_t a, uint64_t end)
{
    static const uint8_t zeros[64 * 1024];

    while (a < end) {
        uint64_t n = MIN(end - a, sizeof(zeros));
        sink->write(sink->opaque, a, zeros, n);
        a += n;
    }
}

static int by_paddr(const void *a, const void *b)
{
    const Segment *x = a, *y = b;

    return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

/* Zeroes what no segment's file bytes cover in [base, end): the gaps and
 * each segment's memsz beyond filesz, as the kernel expects of its bss. */
static void zero_holes(const LinuxUnpackSink *sink, const Elf *elf)
{
    Segment seg[G_N_ELEMENTS(elf->seg)];
    uint64_t cursor = elf->base;

    memcpy(seg, elf->seg, sizeof(seg));
    qsort(seg, elf->nseg, sizeof(Segment), by_paddr);
    for (int i = 0; i < elf->nseg; i++) {
        write_zeros(sink, cursor, seg[i].paddr);
        cursor = MAX(cursor, seg[i].paddr + seg[i].filesz);
    }
    write_zeros(sink, cursor, elf->end);
}

/* Hands decompressed bytes at payload offset off to the segments that
 * hold them, and keeps those past the ELF file (the relocation table). */
static void place(const LinuxUnpackSink *sink, const Elf *elf, uint64_t off,
                  const uint8_t *buf, size_t n, GByteArray *tail)
{
    for (int i = 0; i < elf->nseg; i++) {
        const Segment *s = &elf->seg[i];
        uint64_t lo = MAX(off, s->offset);
        uint64_t hi = MIN(off + n, s->offset + s->filesz);
        if (lo < hi) {
            sink->write(sink->opaque, s->paddr + (lo - s->offset),
                        buf + (lo - off), hi - lo);
        }
    }
    if (off + n > elf->file_end) {
        uint64_t from = MAX(off, elf->file_end);
        g_byte_array_append(tail, buf + (from - off), off + n - from);
    }
}

/*
 * Decompresses the payload: the first piece always (the headers, into
 * elf), the rest too when sink is given. Returns false with errp set.
 */
static bool unpack(const uint8_t *k, size_t klen, uint64_t ram_end,
                   const LinuxUnpackSink *sink, Elf *elf, GByteArray *tail,
                   GError **errp)
{
    size_t plen;
    const uint8_t *p = payload(k, klen, &plen);
    Compression c = p ? compression(p, plen) : COMP_NONE;
    g_autofree uint8_t *buf = NULL;
    uint64_t n, off = 0;
    Stream st;
    ssize_t got;
    bool ok = false;

    if (c == COMP_NONE || c == COMP_OTHER) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: %s; kernel-decompress=on needs a gzip, xz, lzma "
                    "or zstd payload (kernel-decompress=off runs the "
                    "kernel's own decompressor)",
                    !p ? "the setup header locates no payload in the file"
                       : c == COMP_OTHER ? "the payload is compressed with "
                                           "bzip2, lzo or lz4"
                                         : "the payload format is unknown");
        return false;
    }
    n = ld32(p + plen - 4);
    if (n < ELF_HDR_SIZE || n > UNPACK_MAX) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the payload claims a decompressed size of %" PRIu64
                    " bytes", n);
        return false;
    }
    /* gzip's trailer holds the size; the others have it appended */
    if (!stream_init(&st, c, p, c == COMP_GZIP ? plen : plen - 4)) {
        g_set_error(errp, VIREO_ERROR, 0, "KERNEL: cannot start the %s "
                    "decompressor", c == COMP_GZIP ? "gzip" : c == COMP_ZSTD
                    ? "zstd" : "xz");
        return false;
    }
    buf = g_malloc(CHUNK);
    got = stream_read(&st, buf, MIN(CHUNK, n));
    if (got < 0) {
        goto corrupt;
    }
    if (!parse_elf(buf, got, elf, errp)) {
        goto out;
    }
    elf->out_len = n;
    if (elf->file_end > n) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the decompressed vmlinux has bad program "
                    "headers: its file ends at %" PRIu64 " of %" PRIu64
                    " bytes", elf->file_end, n);
        goto out;
    }
    if (elf->base < LINUX_KERNEL_ADDR || elf->end > ram_end) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: the decompressed kernel spans 0x%" PRIx64
                    "-0x%" PRIx64 ", outside guest RAM from 1 MiB to 0x%"
                    PRIx64, elf->base, elf->end, ram_end);
        goto out;
    }
    if (!sink) {
        ok = true;
        goto out;
    }
    zero_holes(sink, elf);
    while (got > 0) {
        if (off + got > n) {
            goto corrupt;
        }
        place(sink, elf, off, buf, got, tail);
        off += got;
        got = stream_read(&st, buf, CHUNK);
    }
    if (got < 0 || !st.done || off != n) {
        goto corrupt;
    }
    ok = true;
    goto out;
corrupt:
    g_set_error(errp, VIREO_ERROR, 0,
                "KERNEL: the compressed payload is corrupt or not %" PRIu64
                " bytes long as its trailer says", n);
out:
    stream_end(&st);
    return ok;
}

bool linux_unpack_probe(const uint8_t *kernel, size_t len, uint64_t ram_end,
                        LinuxUnpacked *out, GError **errp)
{
    Elf elf;

    if (!unpack(kernel, len, ram_end, NULL, &elf, NULL, errp)) {
        return false;
    }
    out->paddr = elf.base;
    out->len = elf.end - elf.base;
    out->entry = elf.entry;
    return true;
}

bool linux_unpack(const uint8_t *kernel, size_t len, bool randomize,
                  uint64_t ram_end, const LinuxUnpackSink *sink,
                  LinuxUnpacked *out, GError **errp)
{
    g_autoptr(GByteArray) tail = g_byte_array_new();
    size_t lists[3][2];
    bool relocs;
    Elf elf;

    if (!unpack(kernel, len, ram_end, sink, &elf, tail, errp)) {
        return false;
    }
    relocs = find_relocs(tail->data, tail->len, lists);
    out->paddr = elf.base;
    out->len = elf.end - elf.base;
    out->entry = elf.entry;
    out->relocatable = relocs;
    out->delta = 0;
    if (relocs && randomize) {
        out->delta = random_delta(elf.base, MAX(elf.out_len, out->len),
                                  ld32(kernel + HDR_KERNEL_ALIGNMENT));
        /* checked whenever KASLR is asked for, even if the offset is 0 */
        return relocate(sink, &elf, tail->data, lists, out->delta, errp);
    }
    return true;
}
