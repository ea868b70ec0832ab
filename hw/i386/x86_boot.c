/*
 * Direct kernel boot without firmware: reads -kernel/-initrd, picks the Linux
 * boot protocol or multiboot, and queues what the builders produce as
 * boot blobs; also places the ACPI tables the direct-boot guest finds.
 */
#include <errno.h>
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-mmio.h"
#include "util/opts.h"
#include "x86_boot_internal.h"

static void boot_blob_free(gpointer p)
{
    BootBlob *b = p;

    g_free(b->name);
    g_free(b->data);
    g_free(b);
}

void boot_image_init(BootImage *img)
{
    memset(img, 0, sizeof(*img));
    img->blobs = g_ptr_array_new_with_free_func(boot_blob_free);
}

void boot_image_destroy(BootImage *img)
{
    if (img->blobs) {
        g_ptr_array_free(img->blobs, TRUE);
        img->blobs = NULL;
    }
}

void boot_image_add(BootImage *img, const char *name, hwaddr addr,
                    uint8_t *data, size_t len)
{
    BootBlob *b = g_new0(BootBlob, 1);

    b->name = g_strdup(name);
    b->addr = addr;
    b->data = data;
    b->len = len;
    g_ptr_array_add(img->blobs, b);
}

void boot_image_add_loader(BootImage *img, const char *name, uint8_t *src,
                           size_t src_len, RomLoader loader, uint64_t arg)
{
    boot_image_add(img, name, 0, src, src_len);
    BootBlob *b = g_ptr_array_index(img->blobs, img->blobs->len - 1);
    b->loader = loader;
    b->arg = arg;
}

const BootBlob *boot_image_find(const BootImage *img, hwaddr addr)
{
    for (guint i = 0; i < img->blobs->len; i++) {
        const BootBlob *b = g_ptr_array_index(img->blobs, i);
        if (!b->loader && addr >= b->addr && addr - b->addr < b->len) {
            return b;
        }
    }
    return NULL;
}

/*
 * Flat 4 GiB descriptors (Intel SDM vol. 3 section 3.4.5): code at 0x10 is
 * 64-bit (L=1) for the Linux 64-bit entry or 32-bit (D=1) for multiboot,
 * data at 0x18. The accessed bits are preset so the CPU never writes here.
 */
void boot_add_gdt(BootImage *img, bool long_mode)
{
    const uint64_t code64 = 0x00af9b000000ffffULL;
    const uint64_t code32 = 0x00cf9b000000ffffULL;
    const uint64_t data = 0x00cf93000000ffffULL;
    uint64_t gdt[4] = {0, 0, long_mode ? code64 : code32, data};
    uint8_t *buf = g_malloc(sizeof(gdt));

    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 8; j++) {
            buf[i * 8 + j] = gdt[i] >> (j * 8);
        }
    }
    boot_image_add(img, "boot gdt", BOOT_GDT_ADDR, buf, sizeof(gdt));
    img->boot.gdt_base = BOOT_GDT_ADDR;
    img->boot.gdt_limit = sizeof(gdt) - 1;
}

/* Reads a whole regular file; what names the option in error messages. */
static bool read_file(const char *what, const char *path, uint8_t **data,
                      size_t *len, GError **errp)
{
    g_autoptr(GError) err = NULL;
    gsize size;

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s '%s': %s", what, path,
                    g_strerror(ENOENT));
        return false;
    }
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s '%s': not a regular file", what,
                    path);
        return false;
    }
    if (!g_file_get_contents(path, (gchar **)data, &size, &err)) {
        g_set_error(errp, VIREO_ERROR, 0, "%s '%s': %s", what, path,
                    err->message);
        return false;
    }
    *len = size;
    return true;
}

static BootMemory machine_boot_memory(Machine *m)
{
    BootMemory mem = {
        .below_4g_mem_size = m->below_4g_mem_size,
        .above_4g_mem_size = m->above_4g_mem_size,
        .e820 = (const E820Entry *)m->e820->data,
        .e820_nr = m->e820->len,
        .acpi_rsdp_addr = m->acpi_rsdp_addr,
    };
    return mem;
}

static bool load_linux(Machine *m, const uint8_t *kernel, size_t len,
                       BootImage *img, GError **errp)
{
    g_autofree uint8_t *initrd = NULL;
    size_t initrd_len = 0;

    if (m->cfg.initrd &&
        !read_file("-initrd", m->cfg.initrd, &initrd, &initrd_len, errp)) {
        return false;
    }
    LinuxBootInput in = {
        .kernel = kernel,
        .kernel_len = len,
        .initrd = initrd,
        .initrd_len = initrd_len,
        .cmdline = m->cfg.append,
        .mem = machine_boot_memory(m),
        /* under KVM the guest's decompressor runs as fast as Vireo's */
        .unpack = m->cfg.kernel_decompress == ON_OFF_AUTO_ON ||
                  (m->cfg.kernel_decompress == ON_OFF_AUTO_AUTO &&
                   !strcmp(m->accel->name, "tcg") &&
                   linux_unpack_supported(kernel, len)),
    };
    return linux_boot_build(&in, img, errp);
}

/* Each -initrd entry is "path args..."; the whole entry is the string. */
static bool load_multiboot(Machine *m, const uint8_t *kernel, size_t len,
                           BootImage *img, GError **errp)
{
    g_auto(GStrv) entries = m->cfg.initrd
                                ? multiboot_split_modules(m->cfg.initrd)
                                : g_new0(char *, 1);
    size_t nr = g_strv_length(entries);
    MultibootModule *mods = g_new0(MultibootModule, nr + 1);
    bool ok = true;

    for (size_t i = 0; i < nr && ok; i++) {
        g_autofree char *path = g_strndup(entries[i], strcspn(entries[i], " "));
        uint8_t *data = NULL;
        ok = read_file("-initrd (multiboot module)", path, &data, &mods[i].len,
                       errp);
        mods[i].data = data;
        mods[i].cmdline = entries[i];
    }
    if (ok) {
        MultibootInput in = {
            .kernel = kernel,
            .kernel_len = len,
            .kernel_path = m->cfg.kernel,
            .cmdline = m->cfg.append,
            .modules = mods,
            .nr_modules = nr,
            .mem = machine_boot_memory(m),
        };
        ok = multiboot_build(&in, img, errp);
    }
    for (size_t i = 0; i < nr; i++) {
        g_free((uint8_t *)mods[i].data);
    }
    g_free(mods);
    return ok;
}

bool x86_load_kernel(Machine *m, GError **errp)
{
    g_autofree uint8_t *kernel = NULL;
    size_t len;
    BootImage img;
    bool ok;

    if (!read_file("-kernel", m->cfg.kernel, &kernel, &len, errp)) {
        return false;
    }
    boot_image_init(&img);
    if (linux_boot_probe(kernel, len)) {
        ok = load_linux(m, kernel, len, &img, errp);
    } else if (multiboot_find_header(kernel, len) >= 0) {
        ok = load_multiboot(m, kernel, len, &img, errp);
    } else {
        g_set_error(errp, VIREO_ERROR, 0,
                    "KERNEL: not a Linux bzImage or multiboot image: '%s'",
                    m->cfg.kernel);
        ok = false;
    }
    for (guint i = 0; ok && i < img.blobs->len; i++) {
        const BootBlob *b = g_ptr_array_index(img.blobs, i);
        if (b->loader) {
            ok = machine_add_rom_loader(m, b->name, b->data, b->len,
                                        b->loader, b->arg, errp);
        } else {
            machine_add_rom_blob(m, b->name, b->addr, b->data, b->len);
        }
    }
    if (ok) {
        m->boot = img.boot;
    }
    boot_image_destroy(&img);
    return ok;
}

bool x86_acpi_build(Machine *m, GError **errp)
{
    /*
     * These tables are for direct kernel boot only: with firmware, the area
     * at 0xe0000 is the BIOS image, and firmware gets its tables elsewhere.
     */
    if (!m->cfg.kernel) {
        return true;
    }
    g_autofree uint32_t *apic_ids = g_new0(uint32_t, MAX(m->ncpus, 1));
    for (int i = 0; i < m->ncpus; i++) {
        apic_ids[i] = m->cpus && m->cpus[i] ? m->cpus[i]->apic_id : i;
    }
    /* the board's virtio-mmio slots, filled or not, as QEMU's microvm */
    g_autoptr(GArray) mmio = g_array_new(FALSE, TRUE, sizeof(AcpiMmioDevice));
    for (Device *d = m->devices; d; d = d->next) {
        AcpiMmioDevice dev = { .hid = "LNRO0005", .size = VIRTIO_MMIO_SIZE };
        if (virtio_mmio_get_slot(d, &dev.addr, &dev.gsi)) {
            g_array_append_val(mmio, dev);
        }
    }
    AcpiBuildConfig cfg = {
        .ncpus = m->ncpus,
        .apic_ids = apic_ids,
        .pc_legacy =
            !m->cfg.machine_type || strcmp(m->cfg.machine_type, "microvm") != 0,
        .pm_base = X86_ACPI_PM_BASE,
        .mmio_devs = (const AcpiMmioDevice *)mmio->data,
        .nr_mmio_devs = mmio->len,
    };
    acpi_build_add_machine_devices(m, &cfg);
    hwaddr rsdp;
    GByteArray *tables = acpi_build_tables(&cfg, ACPI_TABLES_ADDR, &rsdp, errp);
    if (!tables) {
        return false;
    }
    if (tables->len > ACPI_TABLES_END - ACPI_TABLES_ADDR) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "ACPI: tables for %d vCPUs need %u bytes, more than the "
                    "%u bytes at 0x%x",
                    m->ncpus, tables->len, ACPI_TABLES_END - ACPI_TABLES_ADDR,
                    ACPI_TABLES_ADDR);
        g_byte_array_unref(tables);
        return false;
    }
    machine_add_rom_blob(m, "acpi tables", ACPI_TABLES_ADDR, tables->data,
                         tables->len);
    m->acpi_rsdp_addr = rsdp;
    g_byte_array_unref(tables);
    return true;
}
