/*
 * The PC's system flash (cfi.pflash01, -drive if=pflash): unit 0 ends at
 * 4 GiB and shows at 0xF0000 too, unit 1 sits below it; the Intel command
 * set as OVMF drives it (probe, byte program, block erase), buffered
 * program, the CFI query and identifier codes, status and error bits for
 * bad sequences, a read-only unit that refuses writes like a locked
 * block, writes that reach the image file, and the machine's errors for
 * bad flash configurations.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"

#define UNIT_SIZE   0x10000u                        /* 64 KiB each */
#define CODE_BASE   (0x100000000ull - UNIT_SIZE)    /* unit 0 */
#define VARS_BASE   (CODE_BASE - UNIT_SIZE)         /* unit 1 */
#define BLOCK       0x1000u

/* status register bits */
#define SR_READY    0x80
#define SR_ERASE    0x20
#define SR_PROGRAM  0x10
#define SR_LOCKED   0x02
#define SR_SEQ      0x30

typedef struct Fixture {
    char *code;
    char *vars;
    QTestState *s;
} Fixture;

static uint8_t pattern(unsigned unit, unsigned off)
{
    return (uint8_t)(off * 7 + unit * 0x55 + (off >> 8));
}

static char *make_image(const char *name, unsigned unit, unsigned size)
{
    char *path = qtest_tmp_path(name);
    g_autofree uint8_t *data = g_malloc(size);

    for (unsigned i = 0; i < size; i++) {
        data[i] = pattern(unit, i);
    }
    g_assert_true(g_file_set_contents(path, (char *)data, size, NULL));
    return path;
}

static QTestState *start_flash(const char *code, const char *vars)
{
    return qtest_initf("-M pc -drive if=pflash,format=raw,unit=0,"
                       "readonly=on,file=%s -drive if=pflash,format=raw,"
                       "unit=1,file=%s", code, vars);
}

static void setup(Fixture *f)
{
    f->code = make_image("pflash-code.fd", 0, UNIT_SIZE);
    f->vars = make_image("pflash-vars.fd", 1, UNIT_SIZE);
    f->s = start_flash(f->code, f->vars);
}

static void teardown(Fixture *f)
{
    if (f->s) {
        qtest_quit(f->s);
    }
    unlink(f->code);
    unlink(f->vars);
    g_free(f->code);
    g_free(f->vars);
}

static uint8_t read_status(QTestState *s, uint64_t addr)
{
    qtest_writeb(s, addr, 0x70);
    return qtest_readb(s, addr);
}

/* Both units read as their images; unit 0's end is also below 1 MiB. */
static void test_read_array(void)
{
    Fixture f;
    uint8_t buf[UNIT_SIZE];

    setup(&f);
    qtest_memread(f.s, CODE_BASE, buf, UNIT_SIZE);
    for (unsigned i = 0; i < UNIT_SIZE; i++) {
        g_assert_cmphex(buf[i], ==, pattern(0, i));
    }
    qtest_memread(f.s, VARS_BASE, buf, UNIT_SIZE);
    for (unsigned i = 0; i < UNIT_SIZE; i++) {
        g_assert_cmphex(buf[i], ==, pattern(1, i));
    }
    /* the isa-bios view: the last 64 KiB (all of unit 0) at 0xF0000 */
    g_assert_cmphex(qtest_readb(f.s, 0xffff0), ==, pattern(0, 0xfff0));
    g_assert_cmphex(qtest_readl(f.s, 0xf0000), ==,
                    qtest_readl(f.s, CODE_BASE));
    /* the monitor shows both units */
    g_autofree char *mtree = qtest_hmp(f.s, "info mtree");
    g_assert_nonnull(strstr(mtree, "system.flash0"));
    g_assert_nonnull(strstr(mtree, "system.flash1"));
    g_autofree char *qtree = qtest_hmp(f.s, "info qtree");
    g_assert_nonnull(strstr(qtree, "cfi.pflash01"));
    /* wide reads of the array are little-endian bytes */
    g_assert_cmphex(qtest_readw(f.s, VARS_BASE + 2), ==,
                    pattern(1, 2) | pattern(1, 3) << 8);
    teardown(&f);
}

/* CFI query (0x98): "QRY", command set 1, geometry of a 64 KiB part. */
static void test_cfi_query(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    qtest_writeb(s, VARS_BASE + 0x55, 0x98);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x10), ==, 'Q');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x11), ==, 'R');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x12), ==, 'Y');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x13), ==, 0x01);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x14), ==, 0x00);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x15), ==, 0x31);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x27), ==, 16); /* 2^16 */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x28), ==, 0);  /* x8 */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2a), ==, 8);  /* 256 B */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2c), ==, 1);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2d), ==, 15); /* 16 blocks */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2e), ==, 0);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2f), ==, 0x10); /* 4 KiB */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x30), ==, 0x00);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x31), ==, 'P');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x32), ==, 'R');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x33), ==, 'I');
    /* past the table: 0; the code unit answers too */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x80), ==, 0);
    qtest_writeb(s, CODE_BASE, 0x98);
    g_assert_cmphex(qtest_readb(s, CODE_BASE + 0x10), ==, 'Q');
    /* read array returns to the data */
    qtest_writeb(s, VARS_BASE, 0xff);
    qtest_writeb(s, CODE_BASE, 0xff);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x10), ==, pattern(1, 0x10));
    g_assert_cmphex(qtest_readb(s, CODE_BASE + 0x10), ==, pattern(0, 0x10));
    teardown(&f);
}

/* Read identifier (0x90): Intel, the device code, per-block lock bit. */
static void test_identifier(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    qtest_writeb(s, VARS_BASE, 0x90);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, 0x89);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 1), ==, 0x18);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 3 * BLOCK + 2), ==, 0);
    qtest_writeb(s, CODE_BASE, 0x90);
    g_assert_cmphex(qtest_readb(s, CODE_BASE + 5 * BLOCK + 2), ==, 1);
    qtest_writeb(s, VARS_BASE, 0xff);
    qtest_writeb(s, CODE_BASE, 0xff);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 1), ==, pattern(1, 1));
    teardown(&f);
}

/*
 * OVMF's QemuFlashDetected: 0x50 leaves the array readable, then 0x70
 * reads the cleared status 0x00 ("behaves as FLASH").
 */
static void test_ovmf_probe(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    uint8_t orig = qtest_readb(s, VARS_BASE);
    qtest_writeb(s, VARS_BASE, 0x50);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, orig);
    qtest_writeb(s, VARS_BASE, 0x70);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, 0x00);
    qtest_writeb(s, VARS_BASE, 0xff);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, orig);
    teardown(&f);
}

/* Byte program (0x10, as OVMF) and word program (0x40, 4 bytes). */
static void test_program(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    uint64_t a = VARS_BASE + 0x1234;
    qtest_writeb(s, a, 0x10);
    qtest_writeb(s, a, 0x5a);
    /* after a program the device shows its status */
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY);
    qtest_writeb(s, a, 0x40);
    qtest_writel(s, a + 4, 0xcafef00d);
    g_assert_cmphex(read_status(s, a), ==, SR_READY);
    qtest_writeb(s, a, 0xff);
    g_assert_cmphex(qtest_readb(s, a), ==, 0x5a);
    g_assert_cmphex(qtest_readl(s, a + 4), ==, 0xcafef00d);
    g_assert_cmphex(qtest_readb(s, a + 1), ==, pattern(1, 0x1235));
    g_assert_cmphex(qtest_readb(s, a + 8), ==, pattern(1, 0x123c));
    teardown(&f);
}

/* Block erase (0x20, 0xd0): exactly the 4 KiB block becomes 0xff. */
static void test_erase(void)
{
    Fixture f;
    uint8_t buf[BLOCK];

    setup(&f);
    QTestState *s = f.s;
    qtest_writeb(s, VARS_BASE + 2 * BLOCK + 0x10, 0x20);
    qtest_writeb(s, VARS_BASE + 2 * BLOCK + 0x800, 0xd0);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, SR_READY);
    qtest_writeb(s, VARS_BASE, 0xff);
    qtest_memread(s, VARS_BASE + 2 * BLOCK, buf, BLOCK);
    for (unsigned i = 0; i < BLOCK; i++) {
        g_assert_cmphex(buf[i], ==, 0xff);
    }
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 2 * BLOCK - 1), ==,
                    pattern(1, 2 * BLOCK - 1));
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 3 * BLOCK), ==,
                    pattern(1, 3 * BLOCK));
    teardown(&f);
}

/* Buffered program (0xe8, count - 1, data, 0xd0). */
static void test_buffered_program(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    uint64_t a = VARS_BASE + 0x3010;
    qtest_writeb(s, a, 0xe8);
    g_assert_cmphex(qtest_readb(s, a) & SR_READY, ==, SR_READY);
    qtest_writeb(s, a, 15);     /* 16 bytes */
    for (unsigned i = 0; i < 8; i++) {
        qtest_writeb(s, a + i, 0xa0 + i);
    }
    qtest_writel(s, a + 8, 0x03020100);
    qtest_writel(s, a + 12, 0x07060504);
    /* not programmed before the confirm */
    qtest_writeb(s, a, 0xd0);
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY);
    qtest_writeb(s, a, 0xff);
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmphex(qtest_readb(s, a + i), ==, 0xa0 + i);
        g_assert_cmphex(qtest_readb(s, a + 8 + i), ==, i);
    }
    g_assert_cmphex(qtest_readb(s, a + 16), ==, pattern(1, 0x3020));
    teardown(&f);
}

/* Bad sequences set SR.4/SR.5 and change nothing; 0x50 clears them. */
static void test_status_errors(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    uint64_t a = VARS_BASE + 0x4000;

    /* erase with a wrong confirm */
    qtest_writeb(s, a, 0x20);
    qtest_writeb(s, a, 0x33);
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY | SR_SEQ);
    qtest_writeb(s, a, 0x50);
    g_assert_cmphex(read_status(s, a), ==, 0);
    qtest_writeb(s, a, 0xff);
    g_assert_cmphex(qtest_readb(s, a), ==, pattern(1, 0x4000));

    /* a count larger than the 256-byte buffer */
    qtest_writeb(s, a, 0xe8);
    qtest_writel(s, a, 1000);
    g_assert_cmphex(qtest_readb(s, a) & SR_SEQ, ==, SR_SEQ);
    qtest_writeb(s, a, 0x50);

    /* data outside the announced range, and crossing a buffer window */
    qtest_writeb(s, a, 0xe8);
    qtest_writeb(s, a, 3);
    qtest_writeb(s, a + 0x10, 1);
    qtest_writeb(s, a + 0x20, 2);
    g_assert_cmphex(qtest_readb(s, a) & SR_SEQ, ==, SR_SEQ);
    qtest_writeb(s, a, 0x50);
    qtest_writeb(s, a, 0xe8);
    qtest_writeb(s, a, 7);
    qtest_writeb(s, a + 0xfc, 1);
    g_assert_cmphex(qtest_readb(s, a) & SR_SEQ, ==, SR_SEQ);
    qtest_writeb(s, a, 0x50);

    /* too many data bytes, then a missing confirm */
    qtest_writeb(s, a, 0xe8);
    qtest_writeb(s, a, 1);
    qtest_writel(s, a, 0x11223344);
    g_assert_cmphex(qtest_readb(s, a) & SR_SEQ, ==, SR_SEQ);
    qtest_writeb(s, a, 0x50);
    qtest_writeb(s, a, 0xe8);
    qtest_writeb(s, a, 0);
    qtest_writeb(s, a, 0x99);
    qtest_writeb(s, a, 0x42);   /* not 0xd0 */
    g_assert_cmphex(qtest_readb(s, a) & SR_SEQ, ==, SR_SEQ);
    qtest_writeb(s, a, 0xff);
    g_assert_cmphex(qtest_readb(s, a + 0x10), ==, pattern(1, 0x4010));
    g_assert_cmphex(qtest_readb(s, a + 0xfc), ==, pattern(1, 0x40fc));
    g_assert_cmphex(qtest_readb(s, a), ==, pattern(1, 0x4000));

    /* an unknown command: error bits, and the array stays readable */
    qtest_writeb(s, a, 0x50);
    qtest_writeb(s, a, 0x42);
    g_assert_cmphex(qtest_readb(s, a), ==, pattern(1, 0x4000));
    g_assert_cmphex(read_status(s, a), ==, SR_SEQ);
    /* lock setup with a bad second cycle */
    qtest_writeb(s, a, 0x50);
    qtest_writeb(s, a, 0x60);
    qtest_writeb(s, a, 0x77);
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY | SR_SEQ);
    qtest_writeb(s, a, 0x60);
    qtest_writeb(s, a, 0xd0);   /* unlock: accepted */
    qtest_writeb(s, a, 0xff);
    g_assert_cmphex(qtest_readb(s, a), ==, pattern(1, 0x4000));
    teardown(&f);
}

/* The read-only unit: program and erase fail as on a locked block. */
static void test_readonly_unit(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    uint64_t a = CODE_BASE + 0x2000;
    qtest_writeb(s, a, 0x10);
    qtest_writeb(s, a, 0x00);
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY | SR_PROGRAM | SR_LOCKED);
    qtest_writeb(s, a, 0x50);
    qtest_writeb(s, a, 0x20);
    qtest_writeb(s, a, 0xd0);
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY | SR_ERASE | SR_LOCKED);
    qtest_writeb(s, a, 0x50);
    qtest_writeb(s, a, 0xe8);
    qtest_writeb(s, a, 0);
    qtest_writeb(s, a, 0x00);
    qtest_writeb(s, a, 0xd0);
    g_assert_cmphex(qtest_readb(s, a), ==, SR_READY | SR_PROGRAM | SR_LOCKED);
    qtest_writeb(s, a, 0xff);
    g_assert_cmphex(qtest_readb(s, a), ==, pattern(0, 0x2000));
    g_assert_cmphex(qtest_readb(s, a + 0x10), ==, pattern(0, 0x2010));
    teardown(&f);
    /* and the image is untouched (checked after the process ended) */
}

/* Hostile accesses at the edges: the last bytes below 4 GiB, a 4-byte
 * program at the end of a unit, a buffer running off the end. */
static void test_edges(void)
{
    Fixture f;

    setup(&f);
    QTestState *s = f.s;
    uint64_t end = VARS_BASE + UNIT_SIZE;
    qtest_writeb(s, end - 2, 0x40);
    qtest_writel(s, end - 2, 0x11223344);   /* straddles into unit 0 */
    qtest_writeb(s, VARS_BASE, 0xff);
    qtest_writeb(s, CODE_BASE, 0xff);
    qtest_writeb(s, 0xffffffff, 0x40);
    qtest_writeq(s, 0xfffffffc, 0x1122334455667788ull);
    qtest_writeb(s, CODE_BASE, 0xff);
    g_assert_cmphex(qtest_readb(s, 0xffffffff), ==, pattern(0, 0xffff));
    qtest_writeb(s, end - 4, 0xe8);
    qtest_writeb(s, end - 4, 15);
    qtest_writeb(s, end - 4, 0x00);
    g_assert_cmphex(qtest_readb(s, end - 4) & SR_SEQ, ==, SR_SEQ);
    qtest_writeb(s, end - 4, 0xff);
    g_assert_cmphex(qtest_readb(s, end - 4), ==, pattern(1, UNIT_SIZE - 4));
    /* random commands everywhere: still alive, and back to data */
    for (unsigned i = 0; i < 512; i++) {
        qtest_writeb(s, VARS_BASE + (i * 0x97) % (2 * UNIT_SIZE),
                     (uint8_t)(i * 37 + 11));
    }
    qtest_writeb(s, VARS_BASE, 0xff);
    qtest_writeb(s, VARS_BASE, 0xff);   /* ends a pending data cycle */
    qtest_writeb(s, CODE_BASE, 0xff);
    qtest_writeb(s, CODE_BASE, 0xff);
    g_assert_true(qtest_alive(s));
    g_assert_cmphex(qtest_readb(s, CODE_BASE + 0x77), ==, pattern(0, 0x77));
    teardown(&f);
}

/* Programs and erases reach the image file, and a restart sees them. */
static void test_persistence(void)
{
    Fixture f;
    g_autofree char *data = NULL;
    g_autofree char *code = NULL;
    gsize len;

    setup(&f);
    QTestState *s = f.s;
    qtest_writeb(s, VARS_BASE + 0x100, 0x10);
    qtest_writeb(s, VARS_BASE + 0x100, 0x42);
    qtest_writeb(s, VARS_BASE + 5 * BLOCK, 0x20);
    qtest_writeb(s, VARS_BASE + 5 * BLOCK, 0xd0);
    qtest_writeb(s, VARS_BASE, 0xff);
    /* the file has it while the VM still runs */
    g_assert_true(g_file_get_contents(f.vars, &data, &len, NULL));
    g_assert_cmpuint(len, ==, UNIT_SIZE);
    g_assert_cmphex((uint8_t)data[0x100], ==, 0x42);
    g_assert_cmphex((uint8_t)data[0x101], ==, pattern(1, 0x101));
    for (unsigned i = 0; i < BLOCK; i++) {
        g_assert_cmphex((uint8_t)data[5 * BLOCK + i], ==, 0xff);
    }
    qtest_quit(s);
    f.s = start_flash(f.code, f.vars);
    g_assert_cmphex(qtest_readb(f.s, VARS_BASE + 0x100), ==, 0x42);
    g_assert_cmphex(qtest_readb(f.s, VARS_BASE + 5 * BLOCK + 9), ==, 0xff);
    /* the read-only image never changed */
    g_assert_true(g_file_get_contents(f.code, &code, &len, NULL));
    for (unsigned i = 0; i < UNIT_SIZE; i++) {
        g_assert_cmphex((uint8_t)code[i], ==, pattern(0, i));
    }
    teardown(&f);
}

/* vireo's exit status and stderr for a -M pc command line that fails. */
static int run_vireo(const char *args, char **err)
{
    g_autofree char *all = g_strdup_printf("-M pc %s", args);

    return qtest_run_vireo(all, err);
}

static void expect_error(const char *args, const char *msg)
{
    g_autofree char *err = NULL;

    g_assert_cmpint(run_vireo(args, &err), !=, 0);
    if (!strstr(err, msg)) {
        g_printerr("vireo %s\nsaid: %s\nwanted: %s\n", args, err, msg);
    }
    g_assert_nonnull(strstr(err, msg));
}

static void test_config_errors(void)
{
    g_autofree char *odd = qtest_tmp_path("pflash-odd.fd");
    g_autofree char *big = qtest_tmp_path("pflash-big.fd");
    g_autofree char *ok = make_image("pflash-ok.fd", 0, UNIT_SIZE);
    g_autofree char *sb = qtest_tmp_path("OVMF_CODE_4M.secboot.fd");
    g_autofree char *ms = qtest_tmp_path("OVMF_CODE_4M.ms.fd");
    char *a;

    g_assert_true(g_file_set_contents(odd, "", 0, NULL));
    g_assert_cmpint(truncate(odd, 5000), ==, 0);
    g_assert_true(g_file_set_contents(big, "", 0, NULL));
    g_assert_cmpint(truncate(big, 6u << 20), ==, 0);
    g_assert_true(g_file_set_contents(sb, "", 0, NULL));
    g_assert_cmpint(truncate(sb, UNIT_SIZE), ==, 0);
    g_assert_cmpint(symlink(sb, ms) == 0 || errno == EEXIST, ==, 1);

    a = g_strdup_printf("-drive if=pflash,format=raw,file=%s", odd);
    expect_error(a, "pflash0 has invalid size 5120");
    g_free(a);
    a = g_strdup_printf("-drive if=pflash,format=raw,unit=0,readonly=on,"
                        "file=%s -drive if=pflash,format=raw,unit=1,"
                        "readonly=on,file=%s", big, big);
    expect_error(a, "combined size of system firmware exceeds 8388608");
    g_free(a);
    a = g_strdup_printf("-drive if=pflash,format=raw,unit=1,file=%s", ok);
    expect_error(a, "pflash1 requires pflash0");
    g_free(a);
    a = g_strdup_printf("-drive if=pflash,format=raw,unit=2,file=%s", ok);
    expect_error(a, "does not support if=pflash,bus=0,unit=2");
    g_free(a);
    a = g_strdup_printf("-bios %s -drive if=pflash,format=raw,file=%s", ok,
                        ok);
    expect_error(a, "cannot be used with -drive if=pflash,unit=0");
    g_free(a);
    a = g_strdup_printf("-drive if=pflash,format=raw,readonly=on,file=%s",
                        sb);
    expect_error(a, "needs SMM");
    g_free(a);
    a = g_strdup_printf("-drive if=pflash,format=raw,readonly=on,file=%s",
                        ms);
    expect_error(a, "needs SMM");
    g_free(a);
    a = g_strdup_printf("-bios %s", ms);
    expect_error(a, "needs SMM");
    g_free(a);
    expect_error("-bios OVMF_NOT_THERE.fd", "'ovmf'");
    expect_error("-bios /nonexistent/OVMF_CODE_4M.fd", "'ovmf'");
    expect_error("-drive if=pflash,format=raw,readonly=on,"
                 "file=/nonexistent/OVMF_CODE_4M.fd", "'ovmf' package");
    unlink(odd);
    unlink(big);
    unlink(ms);
    unlink(sb);
    unlink(ok);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pflash/read-array", test_read_array);
    g_test_add_func("/pflash/cfi-query", test_cfi_query);
    g_test_add_func("/pflash/identifier", test_identifier);
    g_test_add_func("/pflash/ovmf-probe", test_ovmf_probe);
    g_test_add_func("/pflash/program", test_program);
    g_test_add_func("/pflash/erase", test_erase);
    g_test_add_func("/pflash/buffered-program", test_buffered_program);
    g_test_add_func("/pflash/status-errors", test_status_errors);
    g_test_add_func("/pflash/readonly-unit", test_readonly_unit);
    g_test_add_func("/pflash/edges", test_edges);
    g_test_add_func("/pflash/persistence", test_persistence);
    g_test_add_func("/pflash/config-errors", test_config_errors);
    return g_test_run();
}
