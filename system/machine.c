/* Machine creation and reset, independent of the board and accelerator. */
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "hw/i386/x86.h"
#include "hw/ide/ide.h"
#include "hw/pci/pci.h"
#include "hw/rtc/mc146818rtc.h"
#include "system/vm.h"
#include "util/opts.h"

typedef struct RomBlob {
    char *name;
    hwaddr addr;
    void *data;             /* with a loader: its source */
    size_t len;
    RomLoader loader;
    uint64_t arg;
} RomBlob;

static void rom_blob_free(gpointer p)
{
    RomBlob *b = p;
    g_free(b->name);
    g_free(b->data);
    g_free(b);
}

void machine_add_rom_blob(Machine *m, const char *name, hwaddr addr,
                          const void *data, size_t len)
{
    RomBlob *b = g_new0(RomBlob, 1);

    b->name = g_strdup(name);
    b->addr = addr;
    b->data = g_memdup2(data, len);
    b->len = len;
    g_ptr_array_add(m->rom_blobs, b);
    address_space_write_rom(&m->as_mem, addr, data, len);
}

bool machine_add_rom_loader(Machine *m, const char *name, const void *src,
                            size_t src_len, RomLoader loader, uint64_t arg,
                            GError **errp)
{
    RomBlob *b = g_new0(RomBlob, 1);

    b->name = g_strdup(name);
    b->data = g_memdup2(src, src_len);
    b->len = src_len;
    b->loader = loader;
    b->arg = arg;
    g_ptr_array_add(m->rom_blobs, b);
    return loader(&m->as_mem, b->data, b->len, arg, errp);
}

void machine_load_rom_blobs(Machine *m)
{
    for (guint i = 0; i < m->rom_blobs->len; i++) {
        RomBlob *b = g_ptr_array_index(m->rom_blobs, i);
        g_autoptr(GError) err = NULL;

        if (!b->loader) {
            address_space_write_rom(&m->as_mem, b->addr, b->data, b->len);
        } else if (!b->loader(&m->as_mem, b->data, b->len, b->arg, &err)) {
            /* it worked at start-up, from the same source */
            fprintf(stderr, "vireo: reset: %s: %s\n", b->name, err->message);
        }
    }
}

bool machine_add_boot_device(Machine *m, int32_t bootindex,
                             const char *of_path, GError **errp)
{
    if (bootindex < 0) {
        return true;
    }
    for (guint i = 0; i < m->boot_devices->len; i++) {
        if (g_array_index(m->boot_devices, BootDevice, i).bootindex ==
            bootindex) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "bootindex %d has already been used", bootindex);
            return false;
        }
    }
    BootDevice b = { .bootindex = bootindex, .of_path = g_strdup(of_path) };
    g_array_append_val(m->boot_devices, b);
    return true;
}

/*
 * APIC IDs follow the topology: the thread, core and socket numbers each get
 * the bits their count needs, as CPUID leaf 0xB describes them.
 */
static unsigned bits_for(unsigned count)
{
    unsigned bits = 0;
    while ((1u << bits) < count) {
        bits++;
    }
    return bits;
}

uint32_t machine_apic_id(const MachineConfig *cfg, int index)
{
    unsigned tbits = bits_for(cfg->threads), cbits = bits_for(cfg->cores);
    unsigned thread = index % cfg->threads;
    unsigned core = (index / cfg->threads) % cfg->cores;
    unsigned socket = index / (cfg->threads * cfg->cores);

    return (socket << (tbits + cbits)) | (core << tbits) | thread;
}

/*
 * -drive if=virtio with no -device taking it: a virtio disk of the
 * machine's transport each, as QEMU adds them.
 */
static bool add_virtio_drive_devices(Machine *m, GError **errp)
{
    const char *suffix = m->cls->virtio_suffix ? m->cls->virtio_suffix
                                               : "-pci";
    g_autofree char *type = g_strconcat("virtio-blk", suffix, NULL);

    if (!device_class_find(type) ||
        (!m->cls->virtio_suffix && !pci_bus_find(m, NULL))) {
        return true;    /* main reports the drive no device serves */
    }
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (blk_get_if(blk) == IF_VIRTIO && !blk_get_attached_dev(blk)) {
            g_autofree char *opts = g_strdup_printf("%s,drive=%s", type,
                                                    blk_name(blk));
            if (!device_create_from_opts(m, opts, errp)) {
                return false;
            }
        }
    }
    return true;
}

/*
 * -drive if=ide (and -hda..-hdd, -cdrom): an ide-hd or ide-cd each on the
 * machine's IDE buses before -device takes units. The index was numbered
 * with the machine's units a bus (blk_set_ide_units_per_bus): bus * 2 +
 * unit on PATA, the port on q35's built-in AHCI (one unit a bus, as QEMU).
 */
static bool add_ide_drive_devices(Machine *m, GError **errp)
{
    if (!ide_bus_find(m, "ide.0")) {
        return true;    /* main reports the drive no device serves */
    }
    int units = blk_get_ide_units_per_bus();
    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        if (blk_get_if(blk) != IF_IDE || blk_get_attached_dev(blk)) {
            continue;
        }
        int index = blk_get_index(blk);
        g_autofree char *bus = g_strdup_printf("ide.%d", index / units);
        if (index < 0 || !ide_bus_find(m, bus)) {
            g_set_error(errp, VIREO_ERROR, 0, "machine type does not "
                        "support if=ide,bus=%d,unit=%d", index / units,
                        index % units);
            return false;
        }
        g_autofree char *opts = g_strdup_printf(
            "%s,drive=%s,bus=%s,unit=%d",
            blk_get_media(blk) == BLK_MEDIA_CDROM ? "ide-cd" : "ide-hd",
            blk_name(blk), bus, index % units);
        if (!device_create_from_opts(m, opts, errp)) {
            return false;
        }
    }
    return true;
}

Machine *machine_create(const MachineConfig *cfg, GError **errp)
{
    Machine *m = g_new0(Machine, 1);

    m->cfg = *cfg;
    m->cls = machine_class_find(cfg->machine_type);
    if (!m->cls) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "unsupported machine type '%s' (use -machine help to "
                    "list them)", cfg->machine_type);
        goto fail;
    }
    if (cfg->microvm_rtc != ON_OFF_AUTO_AUTO && strcmp(m->cls->name, "microvm")) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-machine rtc: only the microvm machine has this option "
                    "(%s always has its RTC)", m->cls->name);
        goto fail;
    }
    m->accel = accel_find(cfg->accel);
    if (!m->accel) {
        g_set_error(errp, VIREO_ERROR, 0, "-accel %s: no such accelerator",
                    cfg->accel);
        goto fail;
    }
    m->rom_blobs = g_ptr_array_new_with_free_func(rom_blob_free);
    m->e820 = g_array_new(FALSE, TRUE, sizeof(E820Entry));
    m->boot_devices = g_array_new(FALSE, TRUE, sizeof(BootDevice));
    m->sysmem = g_new0(MemoryRegion, 1);
    m->io = g_new0(MemoryRegion, 1);
    memory_region_init_container(m->sysmem, "system", UINT64_MAX);
    memory_region_init_container(m->io, "io", 0x10000);
    address_space_init(&m->as_mem, m->sysmem, "memory");
    address_space_init(&m->as_io, m->io, "I/O");

    if (!m->accel->init(m, errp)) {
        if (errp && *errp) {
            (*errp)->code = VIREO_ERROR_ACCEL_INIT;
        }
        goto fail;
    }
    int max = m->accel->max_cpus(m);
    if (cfg->smp_cpus > max) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "-smp %d: this host's %s allows at most %d vCPUs",
                    cfg->smp_cpus, m->accel->name, max);
        goto fail;
    }
    m->ncpus = m->cls->no_cpus ? 0 : cfg->smp_cpus;
    m->cpus = g_new0(CPUState *, m->ncpus);
    for (int i = 0; i < m->ncpus; i++) {
        CPUState *cpu = g_new0(CPUState, 1);
        cpu->machine = m;
        cpu->index = i;
        cpu->apic_id = machine_apic_id(cfg, i);
        m->cpus[i] = cpu;
    }
    m->accel->memory_listen(m, &m->as_mem);

    memory_transaction_begin();
    bool ok = m->cls->init(m, errp);
    ok = ok && add_ide_drive_devices(m, errp);
    for (guint i = 0; ok && cfg->devices && i < cfg->devices->len; i++) {
        ok = device_create_from_opts(m, g_ptr_array_index(cfg->devices, i),
                                     errp) != NULL;
    }
    ok = ok && add_virtio_drive_devices(m, errp);
    ok = ok && (!m->cls->devices_done || m->cls->devices_done(m, errp));
    memory_transaction_commit();
    if (!ok) {
        goto fail;
    }
    for (int i = 0; i < m->ncpus; i++) {
        if (!m->accel->vcpu_create(m->cpus[i], errp)) {
            goto fail;
        }
    }
    if (!machine_reset(m, errp)) {
        goto fail;
    }
    return m;
fail:
    machine_destroy(m);
    return NULL;
}

bool machine_reset(Machine *m, GError **errp)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls->reset) {
            d->cls->reset(d);
        }
    }
    machine_load_rom_blobs(m);
    for (int i = 0; i < m->ncpus; i++) {
        if (!m->accel->vcpu_reset(m->cpus[i], errp)) {
            return false;
        }
    }
    return true;
}

/*
 * The BIOS convention (IBM AT): CMOS register 0x0F, the shutdown status,
 * is 0 for a normal power-on start; other codes (5, 9, 0xA, 0xB: a 286
 * leaving protected mode by reset) make the BIOS skip POST and jump
 * back into memory the reset must not lose.
 */
#define CMOS_SHUTDOWN_STATUS    0x0f

void machine_discard_ram_for_reset(Machine *m)
{
    Device *rtc = mc146818_rtc_find(m);

    if (rtc && mc146818_rtc_get_cmos_data(rtc, CMOS_SHUTDOWN_STATUS)) {
        return;
    }
    /* where the guest sees its RAM: ROM-shadowed ranges are not the
     * guest's to lose (and ram_discard_range refuses them) */
    FlatView *v = m->as_mem.view;
    for (size_t i = 0; v && i < v->nr; i++) {
        const FlatRange *fr = &v->ranges[i];
        if (fr->mr == &m->ram && !fr->readonly) {
            ram_discard_range(&m->as_mem, &m->ram, fr->start, fr->size);
        }
    }
}

void machine_destroy(Machine *m)
{
    if (!m) {
        return;
    }
    /*
     * Take the address spaces down first: devices then leave the memory
     * tree one by one without the map being flattened through regions of
     * devices already freed.
     */
    if (m->sysmem) {
        address_space_destroy(&m->as_mem);
        address_space_destroy(&m->as_io);
    }
    while (m->devices) {
        Device *d = m->devices;
        m->devices = d->next;
        device_free(d);
    }
    if (m->accel && m->accel_state) {
        m->accel->destroy(m);
    }
    if (m->ram.ram) {
        memory_region_destroy(&m->ram_below_4g);
        if (m->above_4g_mem_size) {
            memory_region_destroy(&m->ram_above_4g);
        }
        memory_region_destroy(&m->ram);
    }
    if (m->bios) {
        memory_region_destroy(m->isa_bios);
        memory_region_destroy(m->bios);
        g_free(m->isa_bios);
        g_free(m->bios);
    }
    if (m->sysmem) {
        memory_region_destroy(m->sysmem);
        memory_region_destroy(m->io);
        g_free(m->sysmem);
        g_free(m->io);
    }
    for (int i = 0; m->cpus && i < m->ncpus; i++) {
        g_free(m->cpus[i]);
    }
    g_free(m->cpus);
    if (m->rom_blobs) {
        g_ptr_array_free(m->rom_blobs, TRUE);
    }
    if (m->e820) {
        g_array_free(m->e820, TRUE);
    }
    for (guint i = 0; m->boot_devices && i < m->boot_devices->len; i++) {
        g_free(g_array_index(m->boot_devices, BootDevice, i).of_path);
    }
    if (m->boot_devices) {
        g_array_free(m->boot_devices, TRUE);
    }
    g_free(m);
}
