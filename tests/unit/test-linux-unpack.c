/*
 * Host-side decompression of a bzImage (hw/i386/linux_unpack.c) through
 * linux_boot_build: a synthetic vmlinux ELF with two loadable segments and
 * a relocation table, compressed as the kernel's build does (gzip, xz,
 * lzma, zstd with the length appended), laid out, relocated for KASLR and
 * remade; and every malformed payload refused with a clear error.
 */
#include <glib.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "../../hw/i386/x86_boot_internal.h"
#include "util/le.h"

#define MiB (1024ULL * 1024)

#define KMAP 0xffffffff80000000ULL  /* virtual minus physical */
#define A_PADDR 0x1000000ULL        /* segment A: text */
#define A_OFF 0x1000
#define A_SIZE 0x3000
/* segment B: data, then bss over where the payload had B and the table */
#define B_PADDR (A_PADDR + 0x3800)
#define B_OFF 0x4000
#define B_FILESZ 0x800
#define B_MEMSZ 0x2000
#define ELF_LEN (B_OFF + B_FILESZ)
#define IMG_LEN (B_PADDR + B_MEMSZ - A_PADDR)

/* Relocated fields: offsets from A_PADDR, and their link-time values. */
#define R32_AT 0x100
#define R32_VAL 0x81000500u
#define RINV_AT 0x200
#define RINV_VAL 0x12345678u
#define R64_AT (B_PADDR - A_PADDR + 0x10)
#define R64_VAL 0xffffffff81001000ULL

typedef enum { GZIP, XZ, LZMA, ZSTD } Format;

/* The vmlinux.bin the kernel's build compresses, with its relocations. */
static GByteArray *make_vmlinux(bool relocs)
{
    GByteArray *v = g_byte_array_new();
    uint8_t *d;

    g_byte_array_set_size(v, ELF_LEN);
    d = v->data;
    memset(d, 0, ELF_LEN);
    memcpy(d, "\x7f" "ELF\x02\x01\x01", 7);
    st16(d + 16, 2);                /* ET_EXEC */
    st16(d + 18, 62);               /* EM_X86_64 */
    st64(d + 24, A_PADDR);          /* e_entry: physical startup_64 */
    st64(d + 32, 64);               /* e_phoff */
    st16(d + 54, 56);
    st16(d + 56, 3);
    const uint64_t ph[3][6] = {
        /* type, offset, vaddr, paddr, filesz, memsz */
        { 1, A_OFF, KMAP + A_PADDR, A_PADDR, A_SIZE, A_SIZE },
        { 1, B_OFF, KMAP + B_PADDR, B_PADDR, B_FILESZ, B_MEMSZ },
        { 4, A_OFF, KMAP + A_PADDR, A_PADDR, 0x10, 0x10 },  /* PT_NOTE */
    };
    for (int i = 0; i < 3; i++) {
        uint8_t *p = d + 64 + i * 56;
        st32(p, ph[i][0]);
        st64(p + 8, ph[i][1]);
        st64(p + 16, ph[i][2]);
        st64(p + 24, ph[i][3]);
        st64(p + 32, ph[i][4]);
        st64(p + 40, ph[i][5]);
    }
    for (int i = 0; i < A_SIZE; i++) {
        d[A_OFF + i] = i * 3 + 1;
    }
    for (int i = 0; i < B_FILESZ; i++) {
        d[B_OFF + i] = i * 5 + 2;
    }
    st32(d + A_OFF + R32_AT, R32_VAL);
    st32(d + A_OFF + RINV_AT, RINV_VAL);
    st64(d + B_OFF + (R64_AT - (B_PADDR - A_PADDR)), R64_VAL);
    if (relocs) {
        /* [0] 64-bit [0] inverse 32-bit [0] 32-bit, read from the end */
        const uint32_t table[] = {
            0, (uint32_t)(KMAP + A_PADDR + R64_AT),
            0, (uint32_t)(KMAP + A_PADDR + RINV_AT),
            0, (uint32_t)(KMAP + A_PADDR + R32_AT),
        };
        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
            uint8_t w[4];
            st32(w, table[i]);
            g_byte_array_append(v, w, 4);
        }
    }
    return v;
}

static GByteArray *pack(Format f, const uint8_t *in, size_t len)
{
    size_t cap = len * 2 + 4096, n = 0;
    GByteArray *out = g_byte_array_sized_new(cap + 4);

    g_byte_array_set_size(out, cap);
    if (f == GZIP) {
        z_stream s = { 0 };
        g_assert_cmpint(deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                     Z_DEFAULT_STRATEGY), ==, Z_OK);
        s.next_in = (Bytef *)in;
        s.avail_in = len;
        s.next_out = out->data;
        s.avail_out = cap;
        g_assert_cmpint(deflate(&s, Z_FINISH), ==, Z_STREAM_END);
        n = s.total_out;
        deflateEnd(&s);
    } else if (f == XZ) {
        g_assert_cmpint(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in,
                                                len, out->data, &n, cap),
                        ==, LZMA_OK);
    } else if (f == LZMA) {
        lzma_stream s = LZMA_STREAM_INIT;
        lzma_options_lzma opt;
        lzma_lzma_preset(&opt, 6);
        g_assert_cmpint(lzma_alone_encoder(&s, &opt), ==, LZMA_OK);
        s.next_in = in;
        s.avail_in = len;
        s.next_out = out->data;
        s.avail_out = cap;
        g_assert_cmpint(lzma_code(&s, LZMA_FINISH), ==, LZMA_STREAM_END);
        n = s.total_out;
        lzma_end(&s);
    } else {
        n = ZSTD_compress(out->data, cap, in, len, 19);
        g_assert_false(ZSTD_isError(n));
    }
    g_byte_array_set_size(out, n);
    if (f != GZIP) {        /* gzip's trailer already ends with the size */
        uint8_t w[4];
        st32(w, len);
        g_byte_array_append(out, w, 4);
    }
    return out;
}

#define SETUP_SECTS 4
#define PM_OFFSET ((SETUP_SECTS + 1) * 512)
#define PAYLOAD_AT 0x200    /* payload_offset, from the protected-mode part */

/* A bzImage around the payload. */
static uint8_t *make_bzimage(const GByteArray *payload, size_t *len)
{
    size_t n = PM_OFFSET + PAYLOAD_AT + payload->len;
    uint8_t *k = g_malloc0(n);

    k[0x1f1] = SETUP_SECTS;
    st16(k + 0x1fe, 0xaa55);
    k[0x200] = 0xeb;
    k[0x201] = 0x6a;
    memcpy(k + 0x202, "HdrS", 4);
    st16(k + 0x206, 0x020f);
    k[0x211] = 0x01;
    st32(k + 0x22c, 0x7fffffff);
    st32(k + 0x230, 0x200000);      /* kernel_alignment */
    k[0x234] = 1;
    st16(k + 0x236, 0x3);
    st32(k + 0x238, 2047);
    st32(k + 0x248, PAYLOAD_AT);
    st32(k + 0x24c, payload->len);
    st64(k + 0x258, A_PADDR);
    st32(k + 0x260, 0x800000);      /* init_size */
    memcpy(k + PM_OFFSET + PAYLOAD_AT, payload->data, payload->len);
    *len = n;
    return k;
}

static uint8_t *make_kernel(Format f, bool relocs, size_t *len)
{
    g_autoptr(GByteArray) v = make_vmlinux(relocs);
    g_autoptr(GByteArray) c = pack(f, v->data, v->len);

    return make_bzimage(c, len);
}

typedef struct Env {
    GArray *e820;
    BootMemory mem;
} Env;

static void env_init(Env *env, uint64_t ram)
{
    env->e820 = g_array_new(FALSE, TRUE, sizeof(E820Entry));
    e820_table_add(env->e820, 0, 0x9fc00, E820_RAM);
    e820_table_add(env->e820, 0x100000, ram - 0x100000, E820_RAM);
    env->mem = (BootMemory){
        .below_4g_mem_size = ram,
        .e820 = (E820Entry *)env->e820->data,
        .e820_nr = env->e820->len,
    };
}

static bool build(const uint8_t *k, size_t len, const char *cmdline,
                  uint64_t ram, BootImage *img, GError **errp)
{
    Env env;
    bool ok;

    env_init(&env, ram);
    LinuxBootInput in = {
        .kernel = k,
        .kernel_len = len,
        .cmdline = cmdline,
        .mem = env.mem,
        .unpack = true,
    };
    boot_image_init(img);
    ok = linux_boot_build(&in, img, errp);
    g_array_free(env.e820, TRUE);
    return ok;
}

static const uint8_t *loadflags(const BootImage *img)
{
    return boot_image_find(img, LINUX_BOOT_PARAMS_ADDR)->data + 0x211;
}

static const BootBlob *kernel_loader(const BootImage *img)
{
    for (guint i = 0; i < img->blobs->len; i++) {
        const BootBlob *b = g_ptr_array_index(img->blobs, i);
        if (b->loader) {
            return b;
        }
    }
    return NULL;
}

/* Guest RAM for linux_unpack: a buffer, every access checked. */
#define RAM (64 * MiB)

static void ram_write(void *opaque, uint64_t paddr, const void *buf,
                      size_t len)
{
    g_assert_cmpuint(paddr + len, <=, RAM);
    memcpy((uint8_t *)opaque + paddr, buf, len);
}

static void ram_read(void *opaque, uint64_t paddr, void *buf, size_t len)
{
    g_assert_cmpuint(paddr + len, <=, RAM);
    memcpy(buf, (uint8_t *)opaque + paddr, len);
}

/* Unpacks into a RAM whose kernel range holds garbage beforehand. */
static uint8_t *unpack_ram(const uint8_t *k, size_t len, bool randomize,
                           LinuxUnpacked *u, GError **errp)
{
    uint8_t *ram = g_malloc0(RAM);
    LinuxUnpackSink sink = { ram_write, ram_read, ram };

    memset(ram + A_PADDR, 0xaa, IMG_LEN);
    if (!linux_unpack(k, len, randomize, RAM, &sink, u, errp)) {
        g_free(ram);
        return NULL;
    }
    return ram;
}

/* The image as the vmlinux's segments say, relocated by delta. */
static void check_image(const uint8_t *ram, const LinuxUnpacked *u,
                        uint64_t delta)
{
    const uint8_t *img = ram + A_PADDR;

    g_assert_cmphex(u->paddr, ==, A_PADDR);
    g_assert_cmpuint(u->len, ==, IMG_LEN);
    g_assert_cmphex(u->entry, ==, A_PADDR);
    g_assert_cmphex(u->delta, ==, delta);
    for (size_t i = 0; i < A_SIZE; i++) {
        if (i >= R32_AT && i < R32_AT + 4) {
            continue;
        }
        if (i >= RINV_AT && i < RINV_AT + 4) {
            continue;
        }
        g_assert_cmphex(img[i], ==, (uint8_t)(i * 3 + 1));
    }
    /* the gap and the bss are zero */
    for (size_t i = A_SIZE; i < B_PADDR - A_PADDR; i++) {
        g_assert_cmphex(img[i], ==, 0);
    }
    for (size_t i = B_FILESZ; i < B_MEMSZ; i++) {
        g_assert_cmphex(img[B_PADDR - A_PADDR + i], ==, 0);
    }
    g_assert_cmphex(img[B_PADDR - A_PADDR + 1], ==, 7);
    g_assert_cmphex(ld32(img + R32_AT), ==, (uint32_t)(R32_VAL + delta));
    g_assert_cmphex(ld32(img + RINV_AT), ==, (uint32_t)(RINV_VAL - delta));
    g_assert_cmphex(ld64(img + R64_AT), ==, R64_VAL + delta);
    /* nothing written past the kernel */
    g_assert_cmphex(ram[A_PADDR + IMG_LEN], ==, 0);
}

static void test_formats(void)
{
    for (Format f = GZIP; f <= ZSTD; f++) {
        size_t len;
        g_autofree uint8_t *k = make_kernel(f, true, &len);
        g_autoptr(GError) err = NULL;
        LinuxUnpacked u;
        BootImage img;

        g_assert_true(linux_unpack_supported(k, len));
        g_assert_true(build(k, len, "console=ttyS0 nokaslr", 64 * MiB, &img,
                            &err));
        g_assert_no_error(err);
        /* nothing at 1 MiB: the compressed kernel is not loaded */
        g_assert_null(boot_image_find(&img, LINUX_KERNEL_ADDR));
        g_assert_cmphex(img.boot.rip, ==, A_PADDR);
        g_assert_cmphex(img.boot.rsi, ==, LINUX_BOOT_PARAMS_ADDR);
        g_assert_cmphex(*loadflags(&img) & 0x02, ==, 0);

        /* the kernel is loaded from the bzImage the blob keeps, anew at
         * every reset, without KASLR as the command line says */
        const BootBlob *b = kernel_loader(&img);
        g_assert_nonnull(b);
        g_assert_cmpuint(b->arg & 1, ==, 0);
        g_assert_cmpmem(b->data, b->len, k, len);
        g_autofree uint8_t *ram = unpack_ram(b->data, b->len, b->arg & 1,
                                             &u, &err);
        g_assert_no_error(err);
        check_image(ram, &u, 0);
        g_assert_true(u.relocatable);
        boot_image_destroy(&img);
    }
}

static void test_kaslr(void)
{
    size_t len;
    g_autofree uint8_t *k = make_kernel(XZ, true, &len);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_int64_hash,
                                                  g_int64_equal);
    g_autoptr(GError) err = NULL;
    BootImage img;

    g_assert_true(build(k, len, "console=ttyS0", 64 * MiB, &img, &err));
    g_assert_cmphex(*loadflags(&img) & 0x02, ==, 0x02);
    g_assert_cmpuint(kernel_loader(&img)->arg & 1, ==, 1);
    boot_image_destroy(&img);

    static int64_t deltas[8];
    for (int i = 0; i < 8; i++) {
        LinuxUnpacked u;
        g_autofree uint8_t *ram = unpack_ram(k, len, true, &u, &err);
        g_assert_no_error(err);
        g_assert_cmphex(u.delta % 0x200000, ==, 0);
        g_assert_cmphex(A_PADDR + IMG_LEN + u.delta, <=, 1ULL << 30);
        check_image(ram, &u, u.delta);
        deltas[i] = u.delta;
        g_hash_table_add(seen, &deltas[i]);
    }
    /* 500 slots: eight draws that all agree would be a broken generator */
    g_assert_cmpuint(g_hash_table_size(seen), >, 1);
}

static void test_no_relocation_table(void)
{
    size_t len;
    g_autofree uint8_t *k = make_kernel(ZSTD, false, &len);
    g_autoptr(GError) err = NULL;
    LinuxUnpacked u;

    /* a kernel built without KASLR: no table, no offset */
    g_autofree uint8_t *ram = unpack_ram(k, len, true, &u, &err);
    g_assert_no_error(err);
    g_assert_false(u.relocatable);
    check_image(ram, &u, 0);
}

/* Builds the kernel made by edit from an xz payload of the vmlinux and
 * expects the error to contain expect. */
typedef void (*Edit)(GByteArray *vmlinux, GByteArray **payload);

static void check_refused(Edit edit, uint64_t ram, const char *cmdline,
                          const char *expect)
{
    g_autoptr(GByteArray) v = make_vmlinux(true);
    GByteArray *c = NULL;
    g_autoptr(GError) err = NULL;
    BootImage img;
    size_t len;

    edit(v, &c);
    if (!c) {
        c = pack(XZ, v->data, v->len);
        edit(NULL, &c);
    }
    g_autofree uint8_t *k = make_bzimage(c, &len);
    g_byte_array_unref(c);
    /* refused at start-up, or when the kernel is first loaded */
    if (build(k, len, cmdline, ram, &img, &err)) {
        LinuxUnpacked u;
        g_assert_null(unpack_ram(k, len, true, &u, &err));
    }
    g_assert_nonnull(err);
    if (!strstr(err->message, expect)) {
        g_error("expected \"%s\" in: %s", expect, err->message);
    }
    boot_image_destroy(&img);
}

static void edit_bzip2(GByteArray *v, GByteArray **c)
{
    if (!v) {
        memcpy((*c)->data, "BZh9", 4);
    }
}

static void edit_unknown(GByteArray *v, GByteArray **c)
{
    if (!v) {
        memset((*c)->data, 0x42, 8);
    }
}

static void edit_corrupt(GByteArray *v, GByteArray **c)
{
    if (!v) {
        (*c)->data[(*c)->len / 2] ^= 0x55;
    }
}

static void edit_size_off_by_one(GByteArray *v, GByteArray **c)
{
    if (!v) {
        uint8_t *t = (*c)->data + (*c)->len - 4;
        st32(t, ld32(t) + 1);
    }
}

static void edit_size_huge(GByteArray *v, GByteArray **c)
{
    if (!v) {
        st32((*c)->data + (*c)->len - 4, 0xfffffff0);
    }
}

static void edit_not_elf(GByteArray *v, GByteArray **c)
{
    if (v) {
        v->data[1] = 'X';
    }
}

static void edit_segment_past_end(GByteArray *v, GByteArray **c)
{
    if (v) {
        st64(v->data + 64 + 56 + 32, 0x100000);     /* B's filesz */
        st64(v->data + 64 + 56 + 40, 0x100000);
    }
}

static void edit_entry_outside(GByteArray *v, GByteArray **c)
{
    if (v) {
        st64(v->data + 24, 0x9000);
    }
}

static void edit_low_paddr(GByteArray *v, GByteArray **c)
{
    if (v) {
        st64(v->data + 64 + 24, 0x7000);            /* A over boot_params */
        st64(v->data + 24, 0x7000);
    }
}

static void edit_bad_reloc(GByteArray *v, GByteArray **c)
{
    if (v) {                /* the 32-bit entry points past the image */
        st32(v->data + v->len - 4, (uint32_t)(KMAP + A_PADDR + IMG_LEN));
    }
}

static void test_bad_payloads(void)
{
    const char *kaslr = "console=ttyS0";

    check_refused(edit_bzip2, 64 * MiB, kaslr, "bzip2, lzo or lz4");
    check_refused(edit_unknown, 64 * MiB, kaslr, "format is unknown");
    check_refused(edit_corrupt, 64 * MiB, kaslr, "corrupt");
    check_refused(edit_size_off_by_one, 64 * MiB, kaslr, "corrupt");
    check_refused(edit_size_huge, 64 * MiB, kaslr, "decompressed size");
    check_refused(edit_not_elf, 64 * MiB, kaslr, "not an x86-64 ELF");
    check_refused(edit_segment_past_end, 64 * MiB, kaslr,
                  "bad program headers");
    check_refused(edit_entry_outside, 64 * MiB, kaslr, "bad program headers");
    check_refused(edit_low_paddr, 64 * MiB, kaslr, "outside guest RAM");
    check_refused(edit_bad_reloc, 64 * MiB, kaslr, "outside the kernel");

    /* a payload the header places outside the file */
    g_autoptr(GByteArray) c = g_byte_array_new();
    g_byte_array_set_size(c, 64);
    memset(c->data, 0, 64);
    size_t len;
    g_autofree uint8_t *k = make_bzimage(c, &len);
    st32(k + 0x24c, 0x7fffffff);
    g_assert_false(linux_unpack_supported(k, len));
    g_autoptr(GError) err = NULL;
    BootImage img;
    g_assert_false(build(k, len, kaslr, 64 * MiB, &img, &err));
    g_assert_nonnull(strstr(err->message, "locates no payload"));
    boot_image_destroy(&img);
}

static void test_too_little_ram(void)
{
    size_t len;
    g_autofree uint8_t *k = make_kernel(GZIP, true, &len);
    g_autoptr(GError) err = NULL;
    BootImage img;

    st32(k + 0x260, 0x1000);        /* init_size no longer covers it */
    g_assert_false(build(k, len, "nokaslr", A_PADDR + 0x4000, &img, &err));
    g_assert_nonnull(strstr(err->message, "outside guest RAM"));
    boot_image_destroy(&img);
}

static void test_unsupported_format_not_claimed(void)
{
    g_autoptr(GByteArray) c = g_byte_array_new();
    size_t len;

    g_byte_array_append(c, (const uint8_t *)"BZh91AY&SY\0\0\0\0", 14);
    g_autofree uint8_t *k = make_bzimage(c, &len);
    /* kernel-decompress=auto leaves such a kernel to its own code */
    g_assert_false(linux_unpack_supported(k, len));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/unpack/formats", test_formats);
    g_test_add_func("/unpack/kaslr", test_kaslr);
    g_test_add_func("/unpack/no-relocation-table", test_no_relocation_table);
    g_test_add_func("/unpack/bad-payloads", test_bad_payloads);
    g_test_add_func("/unpack/too-little-ram", test_too_little_ram);
    g_test_add_func("/unpack/unsupported-format-not-claimed",
                    test_unsupported_format_not_claimed);
    return g_test_run();
}
