/*
 * fw_cfg on -M pc, as SeaBIOS and OVMF read it: the selector/data ports,
 * the file directory, the PC's items and files, and the DMA interface,
 * including hostile DMA descriptors. The ACPI loader script is run here the
 * way firmware runs it, and the SMBIOS entry point and tables are parsed.
 */
#include <string.h>

#include "libqtest.h"

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_IRQ0_OVERRIDE 0x8002

#define DMA_ERROR 0x01
#define DMA_READ 0x02
#define DMA_SKIP 0x04
#define DMA_SELECT 0x08
#define DMA_WRITE 0x10

#define DESC 0x10000 /* where the tests put FWCfgDmaAccess */
#define BUF 0x20000  /* and the data */

static void cfg_select(QTestState *s, uint16_t key)
{
    qtest_outw(s, 0x510, key);
}

static void cfg_read(QTestState *s, void *buf, size_t len)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        p[i] = qtest_inb(s, 0x511);
    }
}

static uint32_t cfg_read_le(QTestState *s, uint16_t key, unsigned size)
{
    uint8_t b[8] = {0};
    uint32_t v = 0;

    cfg_select(s, key);
    cfg_read(s, b, size);
    for (unsigned i = 0; i < size && i < 4; i++) {
        v |= (uint32_t)b[i] << (8 * i);
    }
    return v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A file's key and size from FW_CFG_FILE_DIR, or false. */
static bool find_file(QTestState *s, const char *name, uint16_t *select,
                      uint32_t *size)
{
    uint8_t count[4], rec[64];

    cfg_select(s, FW_CFG_FILE_DIR);
    cfg_read(s, count, 4);
    for (uint32_t i = 0; i < be32(count); i++) {
        cfg_read(s, rec, sizeof(rec));
        if (!strncmp((char *)rec + 8, name, 56)) {
            *select = rec[4] << 8 | rec[5];
            *size = be32(rec);
            return true;
        }
    }
    return false;
}

static uint32_t bswap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

/* Writes a FWCfgDmaAccess at desc and starts it; returns the control. */
static uint32_t dma_run(QTestState *s, uint64_t desc, uint32_t control,
                        uint32_t length, uint64_t addr)
{
    uint8_t d[16];

    for (int i = 0; i < 4; i++) {
        d[i] = control >> (24 - 8 * i);
        d[4 + i] = length >> (24 - 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        d[8 + i] = addr >> (56 - 8 * i);
    }
    qtest_memwrite(s, desc, d, sizeof(d));
    qtest_outl(s, 0x514, bswap32(desc >> 32));
    qtest_outl(s, 0x518, bswap32((uint32_t)desc));
    qtest_memread(s, desc, d, 4);
    return be32(d);
}

/* A whole file through DMA (select + read); caller frees. */
static uint8_t *dma_read_file(QTestState *s, const char *name, uint32_t *len)
{
    uint16_t select;
    uint8_t *buf;

    g_assert_true(find_file(s, name, &select, len));
    buf = g_malloc0(*len + 1);
    if (*len) {
        g_assert_cmphex(dma_run(s, DESC,
                                (uint32_t)select << 16 | DMA_SELECT | DMA_READ,
                                *len, BUF),
                        ==, 0);
        qtest_memread(s, BUF, buf, *len);
    }
    return buf;
}

static void test_signature_and_id(void)
{
    QTestState *s = qtest_init("-M pc");
    char sig[5] = {0};

    cfg_select(s, FW_CFG_SIGNATURE);
    cfg_read(s, sig, 4);
    g_assert_cmpstr(sig, ==, "QEMU");
    /* past the end: zeroes */
    g_assert_cmpuint(qtest_inb(s, 0x511), ==, 0);
    /* selecting again starts over */
    cfg_select(s, FW_CFG_SIGNATURE);
    g_assert_cmpuint(qtest_inb(s, 0x511), ==, 'Q');
    /* traditional interface and DMA */
    g_assert_cmphex(cfg_read_le(s, FW_CFG_ID, 4), ==, 3);
    /* the DMA register reads "QEMU CFG" in memory order */
    g_assert_cmphex(qtest_inl(s, 0x514), ==, 0x554d4551);
    g_assert_cmphex(qtest_inl(s, 0x518), ==, 0x47464320);
    /* a key nobody set reads as zeroes */
    cfg_select(s, 0x3ffe);
    g_assert_cmpuint(qtest_inb(s, 0x511), ==, 0);
    qtest_quit(s);
}

static void test_file_dir_sorted(void)
{
    QTestState *s = qtest_init("-M pc");
    uint8_t count[4], rec[64];
    char prev[57] = "";
    static const char *const want[] = {
        "bootorder",
        "etc/acpi/rsdp",
        "etc/acpi/tables",
        "etc/boot-fail-wait",
        "etc/e820",
        "etc/smbios/smbios-anchor",
        "etc/smbios/smbios-tables",
        "etc/table-loader",
    };
    unsigned found = 0;

    cfg_select(s, FW_CFG_FILE_DIR);
    cfg_read(s, count, 4);
    g_assert_cmpuint(be32(count), >=, G_N_ELEMENTS(want));
    for (uint32_t i = 0; i < be32(count); i++) {
        char name[57] = {0};
        cfg_read(s, rec, sizeof(rec));
        memcpy(name, rec + 8, 56);
        g_assert_cmpstr(prev, <, name);
        g_assert_cmpuint(rec[4] << 8 | rec[5], ==, 0x20 + i);
        strcpy(prev, name);
        for (unsigned j = 0; j < G_N_ELEMENTS(want); j++) {
            found += !strcmp(name, want[j]);
        }
    }
    g_assert_cmpuint(found, ==, G_N_ELEMENTS(want));
    /* no -boot reboot-timeout: -1, never reboot */
    uint16_t sel;
    uint32_t size;
    g_assert_true(find_file(s, "etc/boot-fail-wait", &sel, &size));
    g_assert_cmpuint(size, ==, 4);
    g_assert_cmphex(cfg_read_le(s, sel, 4), ==, 0xffffffff);
    g_assert_false(find_file(s, "etc/boot-menu-wait", &sel, &size));
    g_assert_false(find_file(s, "etc/tpm/log", &sel, &size));
    qtest_quit(s);
}

static void test_ram_and_e820(void)
{
    QTestState *s = qtest_init("-M pc -m 3584M");
    uint8_t e[40];
    uint16_t sel;
    uint32_t size;

    cfg_select(s, FW_CFG_RAM_SIZE);
    uint8_t ram[8];
    cfg_read(s, ram, 8);
    g_assert_cmphex(le64(ram), ==, 3584ULL << 20);
    g_assert_true(find_file(s, "etc/e820", &sel, &size));
    g_assert_cmpuint(size, ==, 40);
    cfg_select(s, sel);
    cfg_read(s, e, 40);
    /* 3 GiB below 4 GiB (the PCI hole above), the rest from 4 GiB */
    g_assert_cmphex(le64(e), ==, 0);
    g_assert_cmphex(le64(e + 8), ==, 3ULL << 30);
    g_assert_cmpuint(le32(e + 16), ==, 1);
    g_assert_cmphex(le64(e + 20), ==, 1ULL << 32);
    g_assert_cmphex(le64(e + 28), ==, 512ULL << 20);
    g_assert_cmpuint(le32(e + 36), ==, 1);
    g_assert_cmpuint(cfg_read_le(s, FW_CFG_IRQ0_OVERRIDE, 4), ==, 1);
    qtest_quit(s);
}

static void test_cpus(void)
{
    QTestState *s = qtest_init("-M pc -smp 2,maxcpus=4");

    g_assert_cmpuint(cfg_read_le(s, FW_CFG_NB_CPUS, 2), ==, 2);
    g_assert_cmpuint(cfg_read_le(s, FW_CFG_MAX_CPUS, 2), ==, 4);
    qtest_quit(s);
}

static void test_boot_options_and_user_files(void)
{
    g_autofree char *path = qtest_tmp_path("fwcfg-blob");
    g_file_set_contents(path, "\x01\x02\x03", 3, NULL);
    QTestState *s = qtest_initf(
        "-M pc -boot order=dc,menu=on,splash-time=2500,reboot-timeout=1000 "
        "-fw_cfg name=opt/vireo/str,string=hello "
        "-fw_cfg opt/vireo/file,file=%s "
        "-uuid 12345678-9abc-def0-1122-334455667788",
        path);
    uint16_t sel;
    uint32_t size;
    uint8_t buf[16];

    g_assert_cmpuint(cfg_read_le(s, FW_CFG_BOOT_MENU, 2), ==, 1);
    g_assert_true(find_file(s, "etc/boot-menu-wait", &sel, &size));
    g_assert_cmpuint(size, ==, 2);
    g_assert_cmpuint(cfg_read_le(s, sel, 2), ==, 2500);
    g_assert_true(find_file(s, "etc/boot-fail-wait", &sel, &size));
    g_assert_cmpuint(cfg_read_le(s, sel, 4), ==, 1000);

    g_assert_true(find_file(s, "opt/vireo/str", &sel, &size));
    g_assert_cmpuint(size, ==, 5);
    cfg_select(s, sel);
    cfg_read(s, buf, 6);
    g_assert_cmpmem(buf, 6, "hello\0", 6);
    g_assert_true(find_file(s, "opt/vireo/file", &sel, &size));
    g_assert_cmpuint(size, ==, 3);
    cfg_select(s, sel);
    cfg_read(s, buf, 3);
    g_assert_cmpmem(buf, 3, "\x01\x02\x03", 3);

    static const uint8_t uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
                                     0xde, 0xf0, 0x11, 0x22, 0x33, 0x44,
                                     0x55, 0x66, 0x77, 0x88};
    cfg_select(s, FW_CFG_UUID);
    cfg_read(s, buf, 16);
    g_assert_cmpmem(buf, 16, uuid, 16);
    qtest_quit(s);
}

static void test_bootorder(void)
{
    QTestState *s = qtest_init("-M pc -boot strict=on "
                               "-device e1000,bootindex=5,addr=0x5 -device "
                               "e1000,bootindex=2,addr=0x4");
    uint32_t len;
    g_autofree uint8_t *b = dma_read_file(s, "bootorder", &len);

    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(b[len - 1], ==, 0);
    g_auto(GStrv) lines = g_strsplit((char *)b, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 3);
    /* sorted by bootindex: the device at slot 4 first */
    g_assert_true(strstr(lines[0], "@4") != NULL);
    g_assert_true(strstr(lines[1], "@5") != NULL);
    g_assert_cmpstr(lines[2], ==, "HALT");
    qtest_quit(s);
}

static void test_dma_read_skip_select(void)
{
    QTestState *s = qtest_init("-M pc");
    uint8_t buf[8];

    /* select + read */
    g_assert_cmphex(dma_run(s, DESC,
                            FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4,
                            BUF),
                    ==, 0);
    qtest_memread(s, BUF, buf, 4);
    g_assert_cmpmem(buf, 4, "QEMU", 4);
    /* select + skip 2, then read the rest and past the end (zeroes) */
    g_assert_cmphex(
        dma_run(s, DESC, FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_SKIP, 2, 0),
        ==, 0);
    qtest_memset(s, BUF, 0xaa, 8);
    g_assert_cmphex(dma_run(s, DESC, DMA_READ, 4, BUF), ==, 0);
    qtest_memread(s, BUF, buf, 5);
    g_assert_cmpmem(buf, 5, "MU\0\0\xaa", 5);
    /* the PIO data port follows the DMA offset */
    cfg_select(s, FW_CFG_SIGNATURE);
    g_assert_cmphex(dma_run(s, DESC, DMA_SKIP, 3, 0), ==, 0);
    g_assert_cmpuint(qtest_inb(s, 0x511), ==, 'U');
    /* an unaligned descriptor works like any other */
    g_assert_cmphex(dma_run(s, DESC + 3,
                            FW_CFG_ID << 16 | DMA_SELECT | DMA_READ, 4,
                            BUF + 1),
                    ==, 0);
    g_assert_cmpuint(qtest_readl(s, BUF + 1), ==, 3);
    /* a descriptor written by hand: select key 0, read 4 to 0x30000 */
    qtest_memwrite(s, DESC,
                   "\x00\x00\x00\x0a\x00\x00\x00\x04"
                   "\x00\x00\x00\x00\x00\x03\x00\x00",
                   16);
    qtest_outl(s, 0x514, 0);
    qtest_outl(s, 0x518, bswap32(DESC));
    qtest_memread(s, 0x30000, buf, 4);
    g_assert_cmpmem(buf, 4, "QEMU", 4);
    qtest_quit(s);
}

static void test_dma_hostile(void)
{
    QTestState *s = qtest_init("-M pc -m 128M");
    uint8_t sig[4];

    /* data to an address beyond RAM, and to one that wraps */
    g_assert_cmphex(dma_run(s, DESC,
                            FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4,
                            0x100000000ULL),
                    ==, DMA_ERROR);
    g_assert_cmphex(dma_run(s, DESC,
                            FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_READ,
                            0x2000, 0xfffffffffffff000ULL),
                    ==, DMA_ERROR);
    /* a huge length zero-fills up to the end of RAM, then fails */
    g_assert_cmphex(dma_run(s, 0x7fff000,
                            FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_READ,
                            0xffffffff, BUF),
                    ==, DMA_ERROR);
    /* a descriptor outside RAM: nothing to write back, nothing breaks */
    qtest_outl(s, 0x514, bswap32(0x1));
    qtest_outl(s, 0x518, bswap32(0x0));
    qtest_outl(s, 0x514, bswap32(0));
    qtest_outl(s, 0x518, bswap32(0xfffffff8));
    /* writes: to a read-only item, and past an item's end */
    g_assert_cmphex(dma_run(s, DESC,
                            FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_WRITE, 4,
                            BUF),
                    ==, DMA_ERROR);
    g_assert_cmphex(
        dma_run(s, DESC, 0x3ffe << 16 | DMA_SELECT | DMA_WRITE, 4, BUF), ==,
        DMA_ERROR);
    /* odd access sizes to the DMA register do nothing */
    qtest_outb(s, 0x518, 0x12);
    qtest_outw(s, 0x516, 0x1234);
    /* the item is intact and the device still answers */
    cfg_select(s, FW_CFG_SIGNATURE);
    cfg_read(s, sig, 4);
    g_assert_cmpmem(sig, 4, "QEMU", 4);
    g_assert_cmphex(dma_run(s, DESC,
                            FW_CFG_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4,
                            BUF),
                    ==, 0);
    g_assert_true(qtest_alive(s));
    qtest_quit(s);
}

/* --- the ACPI loader script, run as firmware runs it --- */

typedef struct LoaderFile {
    const char *name;
    uint8_t *data;
    uint32_t len;
    uint64_t addr;
    bool allocated;
} LoaderFile;

static LoaderFile *loader_find(LoaderFile *f, unsigned n, const uint8_t *name)
{
    for (unsigned i = 0; i < n; i++) {
        if (!strncmp((const char *)name, f[i].name, 56)) {
            return &f[i];
        }
    }
    g_test_message("loader names unknown file %.56s", name);
    g_assert_not_reached();
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--) {
        s += *p++;
    }
    return s;
}

static void test_acpi_loader(void)
{
    QTestState *s = qtest_init("-M pc -smp 2 -device pvpanic");
    uint32_t lens[3];
    g_autofree uint8_t *script = dma_read_file(s, "etc/table-loader", &lens[0]);
    g_autofree uint8_t *tables = dma_read_file(s, "etc/acpi/tables", &lens[1]);
    g_autofree uint8_t *rsdp = dma_read_file(s, "etc/acpi/rsdp", &lens[2]);
    LoaderFile files[] = {
        {"etc/acpi/tables", tables, lens[1], 0x7f00000},
        {"etc/acpi/rsdp", rsdp, lens[2], 0xf5a30},
    };
    unsigned checksums = 0;

    g_assert_cmpuint(lens[0] % 128, ==, 0);
    g_assert_cmpuint(lens[0], >, 0);
    for (uint32_t off = 0; off < lens[0]; off += 128) {
        const uint8_t *e = script + off + 4;
        LoaderFile *f, *src;
        switch (le32(script + off)) {
        case 1: /* ALLOCATE */
            f = loader_find(files, 2, e);
            f->allocated = true;
            g_assert_cmpuint(f->addr % le32(e + 56), ==, 0);
            g_assert_cmpuint(e[60], ==,
                             !strcmp(f->name, "etc/acpi/rsdp") ? 2 : 1);
            break;
        case 2: { /* ADD_POINTER */
            f = loader_find(files, 2, e);
            src = loader_find(files, 2, e + 56);
            uint32_t at = le32(e + 112);
            uint8_t size = e[116];
            g_assert_true(f->allocated && src->allocated);
            g_assert_true(size == 4 || size == 8);
            g_assert_cmpuint(at + size, <=, f->len);
            uint64_t v = size == 4 ? le32(f->data + at) : le64(f->data + at);
            g_assert_cmpuint(v, <, src->len);
            v += src->addr;
            for (unsigned i = 0; i < size; i++) {
                f->data[at + i] = v >> (8 * i);
            }
            break;
        }
        case 3: { /* ADD_CHECKSUM */
            f = loader_find(files, 2, e);
            uint32_t res = le32(e + 56), start = le32(e + 60);
            uint32_t len = le32(e + 64);
            g_assert_true(f->allocated);
            g_assert_cmpuint(start + len, <=, f->len);
            g_assert_cmpuint(res, >=, start);
            g_assert_cmpuint(res, <, start + len);
            /* OVMF computes over a zero result byte */
            g_assert_cmpuint(f->data[res], ==, 0);
            f->data[res] = -sum(f->data + start, len);
            checksums++;
            break;
        }
        default:
            g_assert_not_reached();
        }
    }
    g_assert_cmpuint(checksums, >=, 6);

    /* RSDP -> XSDT -> FADT -> DSDT, every table summing to 0 */
    g_assert_cmpmem(rsdp, 8, "RSD PTR ", 8);
    g_assert_cmpuint(sum(rsdp, 20), ==, 0);
    g_assert_cmpuint(sum(rsdp, 36), ==, 0);
    uint64_t xsdt = le64(rsdp + 24) - files[0].addr;
    g_assert_cmpmem(tables + xsdt, 4, "XSDT", 4);
    uint32_t xlen = le32(tables + xsdt + 4);
    g_assert_cmpuint(sum(tables + xsdt, xlen), ==, 0);
    bool fadt = false, madt = false, hpet = false;
    for (uint32_t i = 36; i < xlen; i += 8) {
        uint64_t t = le64(tables + xsdt + i) - files[0].addr;
        g_assert_cmpuint(t, <, lens[1]);
        g_assert_cmpuint(sum(tables + t, le32(tables + t + 4)), ==, 0);
        if (!memcmp(tables + t, "FACP", 4)) {
            fadt = true;
            uint64_t dsdt = le32(tables + t + 40) - files[0].addr;
            g_assert_cmpmem(tables + dsdt, 4, "DSDT", 4);
            g_assert_cmpuint(sum(tables + dsdt, le32(tables + dsdt + 4)), ==,
                             0);
            g_assert_cmpuint(tables[t + 108], ==, 0x32); /* RTC century */
        }
        madt |= !memcmp(tables + t, "APIC", 4);
        hpet |= !memcmp(tables + t, "HPET", 4);
    }
    g_assert_true(fadt && madt && hpet);
    /* the pvpanic device in the DSDT */
    g_assert_nonnull(memmem(tables, lens[1], "QEMU0001", 8));
    uint64_t rsdt = le32(rsdp + 16) - files[0].addr;
    g_assert_cmpmem(tables + rsdt, 4, "RSDT", 4);
    g_assert_cmpuint(sum(tables + rsdt, le32(tables + rsdt + 4)), ==, 0);
    qtest_quit(s);
}

/* -no-hpet: no HPET table, no HPET in FW_CFG_HPET, no pvpanic in DSDT */
static void test_no_hpet(void)
{
    QTestState *s = qtest_init("-M pc -no-hpet");
    uint32_t len;
    g_autofree uint8_t *tables = dma_read_file(s, "etc/acpi/tables", &len);

    g_assert_cmpuint(len, >, 0);
    g_assert_null(memmem(tables, len, "HPET", 4));
    g_assert_null(memmem(tables, len, "QEMU0001", 8));
    g_assert_cmpuint(cfg_read_le(s, 0x8004, 1), ==, 0);
    qtest_quit(s);

    s = qtest_init("-M pc");
    g_assert_cmpuint(cfg_read_le(s, 0x8004, 1), ==, 1);
    qtest_quit(s);
}

static void test_smbios(void)
{
    QTestState *s =
        qtest_init("-M pc -smp 2 -uuid 12345678-9abc-def0-1122-334455667788 "
                   "-smbios type=1,manufacturer=Acme,serial=S123,family=Birds "
                   "-smbios type=0,vendor=VireoBIOS,release=1.2");
    uint32_t alen, tlen;
    g_autofree uint8_t *anchor =
        dma_read_file(s, "etc/smbios/smbios-anchor", &alen);
    g_autofree uint8_t *t = dma_read_file(s, "etc/smbios/smbios-tables", &tlen);
    bool seen[128] = {false};

    g_assert_cmpuint(alen, ==, 24);
    g_assert_cmpmem(anchor, 5, "_SM3_", 5);
    g_assert_cmpuint(sum(anchor, 24), ==, 0);
    g_assert_cmpuint(anchor[7], ==, 3);
    g_assert_cmpuint(le32(anchor + 12), ==, tlen);
    for (uint32_t off = 0; off < tlen;) {
        uint8_t type = t[off], len = t[off + 1];
        const uint8_t *st = t + off;
        g_assert_cmpuint(len, >=, 4);
        g_assert_cmpuint(off + len + 2, <=, tlen);
        /* the string set */
        GPtrArray *strs = g_ptr_array_new();
        uint32_t p = off + len;
        if (t[p] == 0) {
            p += 2;
        } else {
            while (t[p]) {
                g_ptr_array_add(strs, t + p);
                p += strlen((char *)t + p) + 1;
                g_assert_cmpuint(p, <, tlen);
            }
            p++;
        }
        seen[type & 127] = true;
        if (type == 1) {
            g_assert_cmpstr(g_ptr_array_index(strs, st[4] - 1), ==, "Acme");
            g_assert_cmpstr(g_ptr_array_index(strs, st[7] - 1), ==, "S123");
            g_assert_cmpstr(g_ptr_array_index(strs, st[26] - 1), ==, "Birds");
            /* first three fields little-endian */
            g_assert_cmphex(st[8], ==, 0x78);
            g_assert_cmphex(st[12], ==, 0xbc);
            g_assert_cmphex(st[14], ==, 0xf0);
            g_assert_cmphex(st[16], ==, 0x11);
        }
        if (type == 0) {
            g_assert_cmpstr(g_ptr_array_index(strs, st[4] - 1), ==,
                            "VireoBIOS");
            g_assert_cmpuint(st[20], ==, 1);
            g_assert_cmpuint(st[21], ==, 2);
        }
        if (type == 4) {
            g_assert_cmpuint(len, ==, 0x30);
        }
        g_ptr_array_free(strs, TRUE);
        off = p;
        if (type == 127) {
            g_assert_cmpuint(off, ==, tlen);
        }
    }
    static const unsigned want[] = {0, 1, 3, 4, 16, 17, 19, 32, 127};
    for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
        g_assert_true(seen[want[i]]);
    }
    g_assert_false(seen[2]);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/fw_cfg/signature-and-id", test_signature_and_id);
    g_test_add_func("/qtest/fw_cfg/file-dir-sorted", test_file_dir_sorted);
    g_test_add_func("/qtest/fw_cfg/ram-and-e820", test_ram_and_e820);
    g_test_add_func("/qtest/fw_cfg/cpus", test_cpus);
    g_test_add_func("/qtest/fw_cfg/boot-options-and-user-files",
                    test_boot_options_and_user_files);
    g_test_add_func("/qtest/fw_cfg/bootorder", test_bootorder);
    g_test_add_func("/qtest/fw_cfg/dma-read-skip-select",
                    test_dma_read_skip_select);
    g_test_add_func("/qtest/fw_cfg/dma-hostile", test_dma_hostile);
    g_test_add_func("/qtest/fw_cfg/acpi-loader", test_acpi_loader);
    g_test_add_func("/qtest/fw_cfg/smbios", test_smbios);
    g_test_add_func("/qtest/fw_cfg/no-hpet", test_no_hpet);
    return g_test_run();
}
