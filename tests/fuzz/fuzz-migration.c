/*
 * libFuzzer target for incoming migration streams (docs/migration.md):
 * the header checks, RAM page records and the device and vCPU sections
 * (vmstate_load_devices, cpus_state_load) of a pc machine under qtest
 * with most device models, as migrate-incoming and loadvm read them.
 * A stream the input mutates at random seldom gets past its CRC, so the
 * first byte picks what the rest is:
 *   0: a whole stream, read as it is;
 *   1: patches to this machine's own stream, the CRC made to match;
 *   2: patches to its device section alone, loaded into the devices;
 *   3: patches to its vCPU section alone, loaded into the vCPU.
 * A patch is op(1) offset(4) length(1) then, to overwrite or insert,
 * length bytes: op 0 overwrites, 1 inserts, 2 deletes. The machine is
 * reset between inputs.
 */
#include <stdint.h>
#include <string.h>

#include "../../migration/stream.h"
#include "fuzz-qtest.h"
#include "migration/cpus.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "util/crc32c.h"
#include "system/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const FuzzDrive drives[] = {
    { "file=%s,format=raw,if=none,id=fz-disk", 1024, 0 },
    { "file=%s,format=raw,if=none,id=fz-cd,media=cdrom,readonly=on", 1024,
      0 },
    { "file=%s,format=raw,if=none,id=fz-vdisk", 1024, 0 },
    { NULL },
};
static const char *const devices[] = {
    "ide-hd,drive=fz-disk,bus=ide.0,unit=0",
    "ide-cd,drive=fz-cd,bus=ide.1,unit=0",
    "virtio-blk-pci,drive=fz-vdisk", "virtio-net-pci,netdev=fz-net",
    "e1000,netdev=fz-net2", "virtio-rng-pci", "virtio-balloon-pci",
    "virtio-serial-pci", "virtconsole,chardev=fz-port", "pci-testdev",
    "VGA,vgamem_mb=1",     /* its VRAM is in every stream */
    NULL,
};
static const FuzzProfile migration_machine = {
    .target = "fuzz-migration", .machine = "pc",
    .serial = true, .drives = drives, .devices = devices,
    .ram_mib = 8,   /* every input loads all of RAM */
};

static Machine *machine;
/* This machine's state at start-up: what modes 1-3 patch. */
static GByteArray *base_stream, *base_devices, *base_cpus;

static int stream_rw(void *opaque, bool is_write, uint64_t pos, void *buf,
                     size_t n)
{
    GByteArray *b = opaque;

    if (is_write) {
        if (pos + n > b->len) {
            g_byte_array_set_size(b, pos + n);
        }
        memcpy(b->data + pos, buf, n);
    } else {
        /* the channel reads no further than the size it was given */
        memcpy(buf, b->data + pos, n);
    }
    return 0;
}

static void save_baseline(void)
{
    g_autoptr(GError) err = NULL;
    MigRamCounts counts = { 0 };
    MigRam r;

    base_stream = g_byte_array_new();
    base_devices = g_byte_array_new();
    base_cpus = g_byte_array_new();
    if (!vmstate_save_devices(machine, base_devices, &err) ||
        !cpus_state_save(machine, base_cpus, &err)) {
        fuzz_fail("fuzz-migration", err);
    }
    mig_ram_init(&r);
    mig_ram_mark_all(&r);
    MigChannel *c = mig_channel_new_rw(stream_rw, base_stream, 0);
    if (!mig_header_write(c, machine, &r, 0, &err) ||
        !mig_stream_finish(c, &r, &counts, base_devices, base_cpus, &err)) {
        fuzz_fail("fuzz-migration", err);
    }
    mig_channel_free(c);
    mig_ram_clear(&r);
}

/* base with the patches in [p, end) applied; a new array. */
static GByteArray *patched(const GByteArray *base, const uint8_t *p,
                           const uint8_t *end)
{
    GByteArray *b = g_byte_array_sized_new(base->len);

    g_byte_array_append(b, base->data, base->len);
    while (end - p >= 6) {
        uint8_t op = p[0] % 3;
        uint32_t off = p[1] | p[2] << 8 | p[3] << 16 | (uint32_t)p[4] << 24;
        size_t n = p[5];
        p += 6;
        off %= b->len + 1;
        if (op == 2) {
            g_byte_array_remove_range(b, off, MIN(n, b->len - off));
            continue;
        }
        n = MIN(n, (size_t)(end - p));
        if (op == 0) {
            if (off + n > b->len) {
                g_byte_array_set_size(b, off + n);
            }
            memcpy(b->data + off, p, n);
        } else {
            g_byte_array_set_size(b, b->len + n);
            memmove(b->data + off + n, b->data + off, b->len - n - off);
            memcpy(b->data + off, p, n);
        }
        p += n;
    }
    return b;
}

/* The stream's end marker carries the CRC-32C of every byte before it. */
static void fix_crc(GByteArray *s)
{
    if (s->len >= 5) {
        uint32_t crc = crc32c(0, s->data, s->len - 4);
        uint8_t *p = s->data + s->len - 4;
        p[0] = crc >> 24;
        p[1] = crc >> 16;
        p[2] = crc >> 8;
        p[3] = crc;
    }
}

/* As loadvm reads the state from an image: every part, then the load. */
static bool load_stream(GByteArray *s, GError **errp)
{
    GByteArray *devs = NULL, *cpus = NULL;
    uint32_t flags;
    MigRam r;

    mig_ram_init(&r);
    MigChannel *c = mig_channel_new_rw(stream_rw, s, s->len);
    bool ok = mig_header_read(c, machine, &r, &flags, errp) &&
              mig_read_records(c, &r, &devs, &cpus, errp) &&
              cpus_state_load(machine, cpus->data, cpus->len, errp) &&
              vmstate_load_devices(machine, devs->data, devs->len, errp);
    mig_channel_free(c);
    mig_ram_clear(&r);
    if (devs) {
        g_byte_array_unref(devs);
    }
    if (cpus) {
        g_byte_array_unref(cpus);
    }
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GByteArray) b = NULL;
    const uint8_t *end = data + size;
    int status;

    if (!machine) {
        machine = fuzz_machine_create(&migration_machine);
        save_baseline();
        /* the patches start from a state that loads */
        if (!load_stream(base_stream, &err)) {
            fuzz_fail("fuzz-migration: the machine's own stream", err);
        }
    }
    if (!size) {
        return 0;
    }
    switch (data[0] % 4) {
    case 0:
        b = g_byte_array_new();
        g_byte_array_append(b, data + 1, size - 1);
        load_stream(b, &err);
        break;
    case 1:
        b = patched(base_stream, data + 1, end);
        fix_crc(b);
        load_stream(b, &err);
        break;
    case 2:
        b = patched(base_devices, data + 1, end);
        vmstate_load_devices(machine, b->data, b->len, &err);
        break;
    case 3:
        b = patched(base_cpus, data + 1, end);
        cpus_state_load(machine, b->data, b->len, &err);
        break;
    }
    /* post_load may have re-armed timers and raised lines */
    fuzz_main_loop_run();
    vm_take_shutdown_request(&status);
    vm_take_reset_request();
    g_clear_error(&err);
    if (!machine_reset(machine, &err)) {
        fuzz_fail("fuzz-migration", err);
    }
    return 0;
}
