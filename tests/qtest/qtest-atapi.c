/*
 * The ATAPI CD-ROM on pc's secondary IDE channel (ATA/ATAPI-6 chapter 9,
 * MMC-3, SPC-3): signature, PACKET over PIO with byte-count limits and
 * over bus-master DMA, INQUIRY, READ CAPACITY, READ(10)/(12), READ TOC,
 * MODE SENSE, GET CONFIGURATION, an empty drive, media change with UNIT
 * ATTENTION and events, the locked tray against QMP's eject.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"
#include "pci.h"

#define BASE            0x170
#define CTRL            0x376
#define IRQ_LINE        15

#define BSY             0x80
#define DRDY            0x40
#define DRQ             0x08
#define ERR             0x01

#define ISO_SECTORS     6
#define PRD_ADDR        0x100000
#define BUF_ADDR        0x200000

typedef struct Ctx {
    QTestState *s;
    char *iso, *iso2;
} Ctx;

/* Any file padded to 2048-byte sectors: sector n is filled with n + 1. */
static char *make_iso(const char *name, int sectors, uint8_t salt)
{
    char *path = qtest_tmp_path(name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    uint8_t sec[2048];

    g_assert_cmpint(fd, >=, 0);
    for (int i = 0; i < sectors; i++) {
        memset(sec, (i + 1) ^ salt, sizeof(sec));
        g_assert_cmpint(write(fd, sec, sizeof(sec)), ==, sizeof(sec));
    }
    close(fd);
    return path;
}

static void start(Ctx *c)
{
    c->iso = make_iso("atapi.iso", ISO_SECTORS, 0);
    c->iso2 = make_iso("atapi2.iso", ISO_SECTORS * 2, 0x80);
    /* ide1-cd0 holds the ISO, ide1-cd1 is empty */
    c->s = qtest_initf("-M pc -m 128M -cdrom %s "
                       "-drive if=ide,media=cdrom,index=3", c->iso);
    qtest_irq_intercept_in(c->s, "ioapic");
}

static void stop(Ctx *c)
{
    qtest_quit(c->s);
    unlink(c->iso);
    unlink(c->iso2);
    g_free(c->iso);
    g_free(c->iso2);
}

static uint8_t wait_ready(Ctx *c)
{
    for (int i = 0; i < 200000; i++) {
        uint8_t st = qtest_inb(c->s, CTRL);
        if (!(st & BSY)) {
            return st;
        }
        if (i > 100) {
            g_usleep(100);
        }
    }
    g_assert_not_reached();
}

static void select_unit(Ctx *c, int unit)
{
    qtest_outb(c->s, BASE + 6, unit ? 0xb0 : 0xa0);
}

/*
 * Sends a 12-byte packet by PIO with byte-count limit bcl and reads the
 * data-in phase; returns the final status, *len the bytes read and
 * *chunks the DRQ blocks they came in.
 */
static uint8_t packet(Ctx *c, int unit, const uint8_t *cdb, uint16_t bcl,
                      uint8_t *buf, size_t max, size_t *len, int *chunks)
{
    size_t got = 0;
    int n = 0;

    select_unit(c, unit);
    qtest_outb(c->s, BASE + 1, 0);
    qtest_outb(c->s, BASE + 4, bcl);
    qtest_outb(c->s, BASE + 5, bcl >> 8);
    qtest_outb(c->s, BASE + 7, 0xa0);
    uint8_t st = wait_ready(c);
    g_assert_cmphex(st & DRQ, ==, DRQ);
    g_assert_cmphex(qtest_inb(c->s, BASE + 2) & 3, ==, 1);   /* CoD */
    for (int i = 0; i < 6; i++) {
        qtest_outw(c->s, BASE, cdb[2 * i] | cdb[2 * i + 1] << 8);
    }
    for (;;) {
        st = wait_ready(c);
        if (!(st & DRQ)) {
            break;
        }
        /* data in: IO set, CoD clear, the byte count in the cylinder */
        g_assert_cmphex(qtest_inb(c->s, BASE + 2) & 3, ==, 2);
        uint16_t count = qtest_inb(c->s, BASE + 4) |
                         qtest_inb(c->s, BASE + 5) << 8;
        g_assert_cmpuint(count, >, 0);
        g_assert_cmpuint(count, <=, bcl ? bcl : 0xfffe);
        g_assert_true(qtest_get_irq(c->s, IRQ_LINE));
        qtest_inb(c->s, BASE + 7);
        for (unsigned i = 0; i < count; i += 2) {
            uint16_t w = qtest_inw(c->s, BASE);
            if (got < max) {
                buf[got] = w;
            }
            if (got + 1 < max) {
                buf[got + 1] = w >> 8;
            }
            got += 2;
        }
        n++;
        g_assert_cmpint(n, <, 10000);
    }
    /* the status phase: IO and CoD, an interrupt */
    g_assert_cmphex(qtest_inb(c->s, BASE + 2) & 3, ==, 3);
    g_assert_true(qtest_get_irq(c->s, IRQ_LINE));
    qtest_inb(c->s, BASE + 7);
    if (len) {
        *len = got;
    }
    if (chunks) {
        *chunks = n;
    }
    return st;
}

static uint8_t simple(Ctx *c, int unit, const uint8_t *cdb, uint8_t *buf,
                      size_t max, size_t *len)
{
    return packet(c, unit, cdb, 0xfffe, buf, max, len, NULL);
}

/* REQUEST SENSE: key << 16 | asc << 8 | ascq */
static uint32_t sense(Ctx *c, int unit)
{
    uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 };
    uint8_t buf[18];
    size_t len;

    g_assert_cmphex(simple(c, unit, cdb, buf, sizeof(buf), &len) & ERR,
                    ==, 0);
    g_assert_cmpuint(len, ==, 18);
    g_assert_cmphex(buf[0] & 0x7f, ==, 0x70);
    return (buf[2] & 0x0f) << 16 | buf[12] << 8 | buf[13];
}

static uint8_t test_unit_ready(Ctx *c, int unit)
{
    uint8_t cdb[12] = { 0 };

    return simple(c, unit, cdb, NULL, 0, NULL);
}

static void read10_cdb(uint8_t *cdb, uint32_t lba, uint16_t n)
{
    memset(cdb, 0, 12);
    cdb[0] = 0x28;
    cdb[2] = lba >> 24;
    cdb[3] = lba >> 16;
    cdb[4] = lba >> 8;
    cdb[5] = lba;
    cdb[7] = n >> 8;
    cdb[8] = n;
}

static void test_signature_identify(void)
{
    Ctx c = { 0 };
    uint16_t id[256];

    start(&c);
    select_unit(&c, 0);
    g_assert_cmphex(qtest_inb(c.s, BASE + 4), ==, 0x14);
    g_assert_cmphex(qtest_inb(c.s, BASE + 5), ==, 0xeb);
    g_assert_cmphex(qtest_inb(c.s, BASE + 2), ==, 1);
    /* IDENTIFY DEVICE is aborted with the signature in place */
    qtest_outb(c.s, BASE + 7, 0xec);
    g_assert_cmphex(wait_ready(&c) & ERR, ==, ERR);
    g_assert_cmphex(qtest_inb(c.s, BASE + 4), ==, 0x14);
    g_assert_cmphex(qtest_inb(c.s, BASE + 5), ==, 0xeb);
    qtest_outb(c.s, BASE + 7, 0xa1);
    g_assert_cmphex(wait_ready(&c) & (DRQ | ERR), ==, DRQ);
    for (int i = 0; i < 256; i++) {
        id[i] = qtest_inw(c.s, BASE);
    }
    g_assert_cmphex(id[0] >> 14, ==, 2);            /* ATAPI */
    g_assert_cmphex((id[0] >> 8) & 0x1f, ==, 5);    /* CD-ROM */
    g_assert_true(id[0] & 0x80);                    /* removable */
    g_assert_true(id[49] & (1 << 8));               /* DMA */
    /* after SRST the signature is back */
    qtest_outb(c.s, CTRL, 0x04);
    qtest_outb(c.s, CTRL, 0x00);
    wait_ready(&c);
    g_assert_cmphex(qtest_inb(c.s, BASE + 4), ==, 0x14);
    g_assert_cmphex(qtest_inb(c.s, BASE + 5), ==, 0xeb);
    stop(&c);
}

static void test_inquiry_capacity(void)
{
    Ctx c = { 0 };
    uint8_t buf[64];
    size_t len;

    start(&c);
    uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
    g_assert_cmphex(simple(&c, 0, inq, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 36);
    g_assert_cmphex(buf[0], ==, 0x05);
    g_assert_cmphex(buf[1], ==, 0x80);
    g_assert_cmpmem(buf + 8, 8, "QEMU    ", 8);
    g_assert_cmpmem(buf + 16, 12, "QEMU DVD-ROM", 12);
    /* a short and a zero allocation length */
    inq[4] = 5;
    simple(&c, 0, inq, buf, sizeof(buf), &len);
    g_assert_cmpuint(len, ==, 6);       /* 5, padded to words */
    inq[4] = 0;
    g_assert_cmphex(simple(&c, 0, inq, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 0);

    uint8_t cap[12] = { 0x25 };
    g_assert_cmphex(simple(&c, 0, cap, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 8);
    g_assert_cmpuint(buf[3], ==, ISO_SECTORS - 1);
    g_assert_cmpuint(buf[6] << 8 | buf[7], ==, 2048);
    stop(&c);
}

static void test_read(void)
{
    Ctx c = { 0 };
    g_autofree uint8_t *buf = g_malloc(ISO_SECTORS * 2048);
    uint8_t cdb[12];
    size_t len;
    int chunks;

    start(&c);
    read10_cdb(cdb, 1, 3);
    g_assert_cmphex(simple(&c, 0, cdb, buf, 3 * 2048, &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 3 * 2048);
    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(buf[i * 2048], ==, i + 2);
        g_assert_cmphex(buf[i * 2048 + 2047], ==, i + 2);
    }
    /* a byte count limit of 1000 splits it into pieces of <= 1000 */
    read10_cdb(cdb, 0, 2);
    packet(&c, 0, cdb, 1000, buf, 2 * 2048, &len, &chunks);
    g_assert_cmpuint(len, ==, 2 * 2048);
    g_assert_cmpint(chunks, >=, 5);
    g_assert_cmphex(buf[2047], ==, 1);
    g_assert_cmphex(buf[2048], ==, 2);
    /* READ(12) of the whole disc */
    uint8_t r12[12] = { 0xa8, 0, 0, 0, 0, 0, 0, 0, 0, ISO_SECTORS };
    g_assert_cmphex(simple(&c, 0, r12, buf, ISO_SECTORS * 2048, &len) & ERR,
                    ==, 0);
    g_assert_cmpuint(len, ==, ISO_SECTORS * 2048);
    g_assert_cmphex(buf[(ISO_SECTORS - 1) * 2048], ==, ISO_SECTORS);
    /* READ CD, user data only */
    uint8_t rcd[12] = { 0xbe, 0, 0, 0, 0, 2, 0, 0, 1, 0x10 };
    g_assert_cmphex(simple(&c, 0, rcd, buf, 2048, &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 2048);
    g_assert_cmphex(buf[0], ==, 3);
    /* past the end: ILLEGAL REQUEST, LBA out of range */
    read10_cdb(cdb, ISO_SECTORS - 1, 2);
    g_assert_cmphex(simple(&c, 0, cdb, buf, 0, &len) & ERR, ==, ERR);
    g_assert_cmphex(qtest_inb(c.s, BASE + 1) >> 4, ==, 5);
    g_assert_cmphex(sense(&c, 0), ==, 0x052100);
    read10_cdb(cdb, 0xffffffff, 1);
    g_assert_cmphex(simple(&c, 0, cdb, buf, 0, &len) & ERR, ==, ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x052100);
    /* an unknown command */
    uint8_t bad[12] = { 0xff };
    g_assert_cmphex(simple(&c, 0, bad, buf, 0, &len) & ERR, ==, ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x052000);
    stop(&c);
}

static void test_toc_mode_config(void)
{
    Ctx c = { 0 };
    uint8_t buf[256];
    size_t len;

    start(&c);
    uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 0xff };
    g_assert_cmphex(simple(&c, 0, toc, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 20);
    g_assert_cmpuint(buf[0] << 8 | buf[1], ==, 18);
    g_assert_cmpuint(buf[2], ==, 1);
    g_assert_cmpuint(buf[3], ==, 1);
    g_assert_cmphex(buf[6], ==, 1);         /* track 1 */
    g_assert_cmphex(buf[5] & 0x04, ==, 4);  /* data */
    g_assert_cmphex(buf[14], ==, 0xaa);     /* lead-out */
    g_assert_cmpuint(buf[19], ==, ISO_SECTORS);
    /* MSF: the lead-out at 00:02:06 */
    toc[1] = 2;
    simple(&c, 0, toc, buf, sizeof(buf), &len);
    g_assert_cmpuint(buf[17], ==, 0);
    g_assert_cmpuint(buf[18], ==, 2);
    g_assert_cmpuint(buf[19], ==, ISO_SECTORS);
    /* session info and raw TOC */
    toc[1] = 0;
    toc[2] = 1;
    simple(&c, 0, toc, buf, sizeof(buf), &len);
    g_assert_cmpuint(len, ==, 12);
    toc[2] = 2;
    simple(&c, 0, toc, buf, sizeof(buf), &len);
    g_assert_cmpuint(len, ==, 4 + 4 * 11);
    toc[2] = 5;
    g_assert_cmphex(simple(&c, 0, toc, buf, sizeof(buf), &len) & ERR, ==,
                    ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x052400);

    uint8_t ms[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0xff };
    g_assert_cmphex(simple(&c, 0, ms, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(len, ==, 28);
    g_assert_cmphex(buf[8], ==, 0x2a);
    g_assert_cmphex(buf[9], ==, 0x12);
    ms[2] = 0x3f;
    simple(&c, 0, ms, buf, sizeof(buf), &len);
    g_assert_cmpuint(len, ==, 8 + 8 + 20);
    ms[2] = 0x01;
    simple(&c, 0, ms, buf, sizeof(buf), &len);
    g_assert_cmphex(buf[8], ==, 0x01);
    uint8_t ms6[12] = { 0x1a, 0, 0x2a, 0, 0xff };
    simple(&c, 0, ms6, buf, sizeof(buf), &len);
    g_assert_cmpuint(len, ==, 24);
    g_assert_cmphex(buf[4], ==, 0x2a);
    /* saved values: not supported */
    ms[2] = 0xc0 | 0x2a;
    g_assert_cmphex(simple(&c, 0, ms, buf, sizeof(buf), &len) & ERR, ==,
                    ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x053900);

    uint8_t gc[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 0xff };
    g_assert_cmphex(simple(&c, 0, gc, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(buf[6] << 8 | buf[7], ==, 0x0008);     /* CD-ROM */
    g_assert_cmpuint(buf[8] << 8 | buf[9], ==, 0x0000);     /* profiles */
    /* a short allocation length cuts the reply */
    gc[8] = 8;
    simple(&c, 0, gc, buf, sizeof(buf), &len);
    g_assert_cmpuint(len, ==, 8);
    stop(&c);
}

static void test_empty_drive(void)
{
    Ctx c = { 0 };
    uint8_t buf[64];
    size_t len;

    start(&c);
    g_assert_cmphex(test_unit_ready(&c, 1) & ERR, ==, ERR);
    g_assert_cmphex(qtest_inb(c.s, BASE + 1) >> 4, ==, 2);
    g_assert_cmphex(sense(&c, 1) >> 8, ==, 0x023a);
    uint8_t cap[12] = { 0x25 };
    g_assert_cmphex(simple(&c, 1, cap, buf, sizeof(buf), &len) & ERR, ==,
                    ERR);
    uint8_t cdb[12];
    read10_cdb(cdb, 0, 1);
    g_assert_cmphex(simple(&c, 1, cdb, buf, sizeof(buf), &len) & ERR, ==,
                    ERR);
    g_assert_cmphex(sense(&c, 1) >> 8, ==, 0x023a);
    uint8_t gc[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 0xff };
    g_assert_cmphex(simple(&c, 1, gc, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmpuint(buf[6] << 8 | buf[7], ==, 0);
    /* INQUIRY works without a medium */
    uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
    g_assert_cmphex(simple(&c, 1, inq, buf, sizeof(buf), &len) & ERR, ==, 0);
    stop(&c);
}

static uint8_t gesn_media_event(Ctx *c, int unit, uint8_t *media_status)
{
    uint8_t cdb[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
    uint8_t buf[8];
    size_t len;

    g_assert_cmphex(simple(c, unit, cdb, buf, sizeof(buf), &len) & ERR, ==,
                    0);
    g_assert_cmpuint(len, ==, 8);
    g_assert_cmphex(buf[2], ==, 4);
    if (media_status) {
        *media_status = buf[5];
    }
    return buf[4] & 0x0f;
}

static void test_media_change(void)
{
    Ctx c = { 0 };
    uint8_t buf[2048];
    uint8_t ms;
    size_t len;

    start(&c);
    g_assert_cmpuint(gesn_media_event(&c, 1, &ms), ==, 0);
    g_assert_cmphex(ms, ==, 0);
    qtest_qmp_assert_success(c.s, "{'execute': 'blockdev-change-medium', "
                             "'arguments': {'device': 'ide1-cd1', "
                             "'filename': '%s', 'format': 'raw'}}", c.iso2);
    json_t *ev = qtest_qmp_eventwait_ref(c.s, "DEVICE_TRAY_MOVED");
    json_decref(ev);
    /* UNIT ATTENTION once, then the disc is there */
    g_assert_cmphex(test_unit_ready(&c, 1) & ERR, ==, ERR);
    g_assert_cmphex(qtest_inb(c.s, BASE + 1) >> 4, ==, 6);
    g_assert_cmphex(sense(&c, 1), ==, 0x062800);
    g_assert_cmphex(test_unit_ready(&c, 1) & ERR, ==, 0);
    g_assert_cmpuint(gesn_media_event(&c, 1, &ms), ==, 2);     /* new */
    g_assert_cmphex(ms, ==, 0x02);
    g_assert_cmpuint(gesn_media_event(&c, 1, NULL), ==, 0);
    uint8_t cdb[12];
    read10_cdb(cdb, ISO_SECTORS + 1, 1);
    g_assert_cmphex(simple(&c, 1, cdb, buf, sizeof(buf), &len) & ERR, ==, 0);
    g_assert_cmphex(buf[0], ==, (ISO_SECTORS + 2) ^ 0x80);

    /* HMP's eject and change */
    g_free(qtest_hmp(c.s, "eject ide1-cd1"));
    g_assert_cmphex(test_unit_ready(&c, 1) & ERR, ==, ERR);
    g_assert_cmphex(sense(&c, 1) >> 8, ==, 0x023a);
    g_free(qtest_hmp(c.s, "change ide1-cd1 %s raw", c.iso));
    test_unit_ready(&c, 1);
    g_assert_cmphex(test_unit_ready(&c, 1) & ERR, ==, 0);
    stop(&c);
}

static void test_locked_eject(void)
{
    Ctx c = { 0 };
    uint8_t buf[64];
    size_t len;

    start(&c);
    uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
    g_assert_cmphex(simple(&c, 0, prevent, buf, 0, &len) & ERR, ==, 0);
    json_t *r = qtest_qmp(c.s, "{'execute': 'query-block'}");
    json_t *b = json_array_get(json_object_get(r, "return"), 0);
    for (size_t i = 0; i < json_array_size(json_object_get(r, "return"));
         i++) {
        json_t *x = json_array_get(json_object_get(r, "return"), i);
        if (!strcmp(json_string_value(json_object_get(x, "device")),
                    "ide1-cd0")) {
            b = x;
        }
    }
    g_assert_true(json_is_true(json_object_get(b, "locked")));
    json_decref(r);

    r = qtest_qmp(c.s, "{'execute': 'eject', 'arguments': "
                  "{'device': 'ide1-cd0'}}");
    g_assert_cmpstr(json_string_value(json_object_get(
        json_object_get(r, "error"), "desc")), ==,
        "Device 'ide1-cd0' is locked and force was not specified, wait "
        "for tray to open and try again");
    json_decref(r);
    /* the guest was asked, and the disc is still readable */
    g_assert_cmpuint(gesn_media_event(&c, 0, NULL), ==, 1);
    g_assert_cmphex(test_unit_ready(&c, 0) & ERR, ==, 0);
    /* the guest's own eject is refused while it is locked */
    uint8_t eject[12] = { 0x1b, 0, 0, 0, 0x02 };
    g_assert_cmphex(simple(&c, 0, eject, buf, 0, &len) & ERR, ==, ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x055302);

    qtest_qmp_assert_success(c.s, "{'execute': 'eject', 'arguments': "
                             "{'device': 'ide1-cd0', 'force': true}}");
    json_t *ev = qtest_qmp_eventwait_ref(c.s, "DEVICE_TRAY_MOVED");
    g_assert_true(json_is_true(json_object_get(json_object_get(ev, "data"),
                                               "tray-open")));
    json_decref(ev);
    g_assert_cmphex(test_unit_ready(&c, 0) & ERR, ==, ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x023a02);
    /* the tray closes empty */
    qtest_qmp_assert_success(c.s, "{'execute': 'blockdev-close-tray', "
                             "'arguments': {'device': 'ide1-cd0'}}");
    g_assert_cmphex(sense(&c, 0), ==, 0);
    g_assert_cmphex(test_unit_ready(&c, 0) & ERR, ==, ERR);
    g_assert_cmphex(sense(&c, 0), ==, 0x023a01);
    r = qtest_qmp(c.s, "{'execute': 'blockdev-remove-medium', "
                  "'arguments': {'device': 'ide1-cd0'}}");
    g_assert_nonnull(json_object_get(r, "error"));
    json_decref(r);
    stop(&c);
}

static void test_dma_read(void)
{
    Ctx c = { 0 };
    uint8_t cdb[12];

    start(&c);
    QPCIBus *bus = qpci_new_pc(c.s);
    QPCIDevice *dev = qpci_device_find(bus, PCI_DEVFN(1, 1));
    qpci_device_enable(dev);
    QPCIBar bm = qpci_iomap(dev, 4, NULL);

    qtest_writel(c.s, PRD_ADDR, BUF_ADDR);
    qtest_writel(c.s, PRD_ADDR + 4, 0x80000000u | (2 * 2048));
    qpci_io_writel(dev, bm, 8 + 4, PRD_ADDR);
    select_unit(&c, 0);
    qtest_outb(c.s, BASE + 1, 1);           /* DMA */
    qtest_outb(c.s, BASE + 7, 0xa0);
    g_assert_cmphex(wait_ready(&c) & DRQ, ==, DRQ);
    read10_cdb(cdb, 3, 2);
    for (int i = 0; i < 6; i++) {
        qtest_outw(c.s, BASE, cdb[2 * i] | cdb[2 * i + 1] << 8);
    }
    qpci_io_writeb(dev, bm, 8, 0x09);
    uint8_t st = 0;
    for (int i = 0; i < 100000; i++) {
        st = qpci_io_readb(dev, bm, 8 + 2);
        if (st & 0x04) {
            break;
        }
        g_usleep(100);
    }
    g_assert_cmphex(st & 0x05, ==, 0x04);
    g_assert_cmphex(wait_ready(&c) & (ERR | DRQ), ==, 0);
    g_assert_cmphex(qtest_readb(c.s, BUF_ADDR), ==, 4);
    g_assert_cmphex(qtest_readb(c.s, BUF_ADDR + 4095), ==, 5);

    /* PRDs shorter than the transfer: an error, no hang */
    qtest_writel(c.s, PRD_ADDR + 4, 0x80000000u | 1024);
    qpci_io_writeb(dev, bm, 8, 0);
    qpci_io_writeb(dev, bm, 8 + 2, 0x06);
    qtest_inb(c.s, BASE + 7);
    qtest_outb(c.s, BASE + 1, 1);
    qtest_outb(c.s, BASE + 7, 0xa0);
    wait_ready(&c);
    for (int i = 0; i < 6; i++) {
        qtest_outw(c.s, BASE, cdb[2 * i] | cdb[2 * i + 1] << 8);
    }
    qpci_io_writeb(dev, bm, 8, 0x09);
    g_assert_cmphex(wait_ready(&c) & ERR, ==, ERR);
    qpci_io_writeb(dev, bm, 8, 0);
    g_assert_cmphex(test_unit_ready(&c, 0) & ERR, ==, 0);

    g_free(dev);
    qpci_free(bus);
    stop(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/atapi/signature-identify", test_signature_identify);
    g_test_add_func("/atapi/inquiry-capacity", test_inquiry_capacity);
    g_test_add_func("/atapi/read", test_read);
    g_test_add_func("/atapi/toc-mode-config", test_toc_mode_config);
    g_test_add_func("/atapi/empty-drive", test_empty_drive);
    g_test_add_func("/atapi/media-change", test_media_change);
    g_test_add_func("/atapi/locked-eject", test_locked_eject);
    g_test_add_func("/atapi/dma-read", test_dma_read);
    return g_test_run();
}
