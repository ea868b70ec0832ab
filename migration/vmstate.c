/*
 * Device state descriptions to a byte stream and back, in the format
 * include/migration/vmstate.h documents; the device list of a machine as
 * one stream; and QEMU's -dump-vmstate JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"
#include "util/opts.h"

#define STREAM_MAGIC "VMST"
#define STREAM_FORMAT 1
#define TAG_END 0
#define TAG_ITEM 1      /* a section, or a subsection */

/* ---- primitive writers and readers ---- */

void vmstate_put_u8(GByteArray *out, uint8_t v)
{
    g_byte_array_append(out, &v, 1);
}

void vmstate_put_u16(GByteArray *out, uint16_t v)
{
    uint8_t b[2] = { v >> 8, v };

    g_byte_array_append(out, b, sizeof(b));
}

void vmstate_put_u32(GByteArray *out, uint32_t v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

    g_byte_array_append(out, b, sizeof(b));
}

void vmstate_put_u64(GByteArray *out, uint64_t v)
{
    vmstate_put_u32(out, v >> 32);
    vmstate_put_u32(out, v);
}

static void put_str(GByteArray *out, const char *s)
{
    size_t n = strlen(s);

    g_assert(n <= 255);     /* our own names and ids */
    vmstate_put_u8(out, n);
    g_byte_array_append(out, (const guint8 *)s, n);
}

bool vmstate_get_bytes(VMStateReader *in, void *buf, size_t n, GError **errp)
{
    if (in->len - in->pos < n) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "truncated stream: %zu bytes needed at offset %zu, "
                    "%zu left", n, in->pos, in->len - in->pos);
        return false;
    }
    memcpy(buf, in->data + in->pos, n);
    in->pos += n;
    return true;
}

static bool get_be(VMStateReader *in, size_t n, uint64_t *v, GError **errp)
{
    uint8_t b[8];

    if (!vmstate_get_bytes(in, b, n, errp)) {
        return false;
    }
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        *v = *v << 8 | b[i];
    }
    return true;
}

bool vmstate_get_u8(VMStateReader *in, uint8_t *v, GError **errp)
{
    uint64_t x;

    if (!get_be(in, 1, &x, errp)) {
        return false;
    }
    *v = x;
    return true;
}

bool vmstate_get_u16(VMStateReader *in, uint16_t *v, GError **errp)
{
    uint64_t x;

    if (!get_be(in, 2, &x, errp)) {
        return false;
    }
    *v = x;
    return true;
}

bool vmstate_get_u32(VMStateReader *in, uint32_t *v, GError **errp)
{
    uint64_t x;

    if (!get_be(in, 4, &x, errp)) {
        return false;
    }
    *v = x;
    return true;
}

bool vmstate_get_u64(VMStateReader *in, uint64_t *v, GError **errp)
{
    return get_be(in, 8, v, errp);
}

/* A str of the stream as a NUL-terminated string in buf[256]. */
static bool get_str(VMStateReader *in, char *buf, GError **errp)
{
    uint8_t n;

    if (!vmstate_get_u8(in, &n, errp) || !vmstate_get_bytes(in, buf, n, errp)) {
        return false;
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        g_set_error(errp, VIREO_ERROR, 0, "a name holds a NUL byte");
        return false;
    }
    return true;
}

/* ---- integers in host memory ---- */

static uint64_t mem_load(const void *p, size_t size)
{
    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: return *(const uint16_t *)p;
    case 4: return *(const uint32_t *)p;
    default: return *(const uint64_t *)p;
    }
}

static void mem_store(void *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1: *(uint8_t *)p = v; break;
    case 2: *(uint16_t *)p = v; break;
    case 4: *(uint32_t *)p = v; break;
    default: *(uint64_t *)p = v; break;
    }
}

/* The integer kinds come first in VMStateKind. */
static bool kind_is_int(VMStateKind k)
{
    return k <= VMS_INT64;
}

/* ---- save ---- */

static bool save_field(GByteArray *out, const VMStateField *f, void *opaque,
                       GError **errp)
{
    char *base = (char *)opaque + f->offset;
    uint64_t len;

    switch (f->kind) {
    case VMS_UINT8: case VMS_UINT16: case VMS_UINT32: case VMS_UINT64:
    case VMS_INT32: case VMS_INT64:
        for (uint32_t i = 0; i < f->num; i++) {
            uint64_t v = mem_load(base + i * f->size, f->size);
            for (size_t b = f->size; b-- > 0;) {
                vmstate_put_u8(out, v >> (b * 8));
            }
        }
        return true;
    case VMS_BOOL:
        for (uint32_t i = 0; i < f->num; i++) {
            vmstate_put_u8(out, ((bool *)base)[i]);
        }
        return true;
    case VMS_BUFFER:
        g_byte_array_append(out, (guint8 *)base, f->size);
        return true;
    case VMS_VBUFFER:
        len = mem_load((char *)opaque + f->len_offset, f->len_size);
        if (len > f->max) {
            /* our own device got it wrong; don't write what load refuses */
            g_set_error(errp, VIREO_ERROR, 0,
                        "length %" G_GUINT64_FORMAT " is over the maximum %u",
                        len, f->max);
            return false;
        }
        vmstate_put_u32(out, len);
        g_byte_array_append(out, (guint8 *)base, len);
        return true;
    case VMS_STRUCT:
        if (f->pointer) {
            base = *(char **)base;
            g_assert(base);     /* the macro's contract */
        }
        for (uint32_t i = 0; i < f->num; i++) {
            if (!vmstate_save_state(out, f->vmsd, base + i * f->size, errp)) {
                if (f->num > 1) {
                    g_prefix_error(errp, "[%u]: ", i);
                }
                return false;
            }
        }
        return true;
    case VMS_CUSTOM:
        return f->info->save(out, base, errp);
    }
    g_assert_not_reached();
}

static bool save_payload(GByteArray *out, const VMStateDescription *vmsd,
                         void *opaque, GError **errp)
{
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        if (!save_field(out, f, opaque, errp)) {
            g_prefix_error(errp, "field '%s': ", f->name);
            return false;
        }
    }
    for (const VMStateDescription *const *sub = vmsd->subsections;
         sub && *sub; sub++) {
        if ((*sub)->needed && !(*sub)->needed(opaque)) {
            continue;
        }
        vmstate_put_u8(out, TAG_ITEM);
        put_str(out, (*sub)->name);
        if (!vmstate_save_state(out, *sub, opaque, errp)) {
            return false;
        }
    }
    vmstate_put_u8(out, TAG_END);
    return true;
}

bool vmstate_save_state(GByteArray *out, const VMStateDescription *vmsd,
                        void *opaque, GError **errp)
{
    if (vmsd->pre_save && !vmsd->pre_save(opaque, errp)) {
        g_prefix_error(errp, "%s: ", vmsd->name);
        return false;
    }
    vmstate_put_u32(out, vmsd->version_id);
    if (!save_payload(out, vmsd, opaque, errp)) {
        g_prefix_error(errp, "%s: ", vmsd->name);
        return false;
    }
    return true;
}

/* ---- load ---- */

static bool load_field(VMStateReader *in, const VMStateField *f,
                       void *opaque, GError **errp)
{
    char *base = (char *)opaque + f->offset;
    uint64_t v;
    uint32_t len;

    switch (f->kind) {
    case VMS_UINT8: case VMS_UINT16: case VMS_UINT32: case VMS_UINT64:
    case VMS_INT32: case VMS_INT64:
        for (uint32_t i = 0; i < f->num; i++) {
            if (!get_be(in, f->size, &v, errp)) {
                return false;
            }
            mem_store(base + i * f->size, f->size, v);
        }
        return true;
    case VMS_BOOL:
        for (uint32_t i = 0; i < f->num; i++) {
            if (!get_be(in, 1, &v, errp)) {
                return false;
            }
            if (v > 1) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "invalid bool value %u", (unsigned)v);
                return false;
            }
            ((bool *)base)[i] = v;
        }
        return true;
    case VMS_BUFFER:
        return vmstate_get_bytes(in, base, f->size, errp);
    case VMS_VBUFFER:
        if (!vmstate_get_u32(in, &len, errp)) {
            return false;
        }
        if (len > f->max) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "length %u is over the maximum %u", len, f->max);
            return false;
        }
        if (!vmstate_get_bytes(in, base, len, errp)) {
            return false;
        }
        mem_store((char *)opaque + f->len_offset, f->len_size, len);
        return true;
    case VMS_STRUCT:
        if (f->pointer) {
            base = *(char **)base;
            g_assert(base);
        }
        for (uint32_t i = 0; i < f->num; i++) {
            if (!vmstate_load_state(in, f->vmsd, base + i * f->size, errp)) {
                if (f->num > 1) {
                    g_prefix_error(errp, "[%u]: ", i);
                }
                return false;
            }
        }
        return true;
    case VMS_CUSTOM:
        return f->info->load(in, base, errp);
    }
    g_assert_not_reached();
}

static const VMStateDescription *find_subsection(
    const VMStateDescription *vmsd, const char *name)
{
    for (const VMStateDescription *const *sub = vmsd->subsections;
         sub && *sub; sub++) {
        if (!strcmp((*sub)->name, name)) {
            return *sub;
        }
    }
    return NULL;
}

static bool load_subsections(VMStateReader *in,
                             const VMStateDescription *vmsd, void *opaque,
                             GError **errp)
{
    GPtrArray *seen = NULL;     /* made when a subsection shows up */
    bool ok = false;

    for (;;) {
        const VMStateDescription *sub;
        char name[256];
        uint8_t tag;

        if (!vmstate_get_u8(in, &tag, errp)) {
            break;
        }
        if (tag == TAG_END) {
            ok = true;
            break;
        }
        if (tag != TAG_ITEM) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "corrupt stream: tag %u where a subsection or the "
                        "end of the fields belongs (offset %zu)", tag,
                        in->pos - 1);
            break;
        }
        if (!get_str(in, name, errp)) {
            break;
        }
        sub = find_subsection(vmsd, name);
        if (!sub) {
            g_set_error(errp, VIREO_ERROR, 0, "unknown subsection '%s'",
                        name);
            break;
        }
        if (!seen) {
            seen = g_ptr_array_new();
        }
        if (g_ptr_array_find(seen, sub, NULL)) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "subsection '%s' appears twice", name);
            break;
        }
        g_ptr_array_add(seen, (gpointer)sub);
        if (!vmstate_load_state(in, sub, opaque, errp)) {
            break;
        }
    }
    if (seen) {
        g_ptr_array_free(seen, TRUE);
    }
    return ok;
}

bool vmstate_load_state(VMStateReader *in, const VMStateDescription *vmsd,
                        void *opaque, GError **errp)
{
    uint32_t version;

    if (!vmstate_get_u32(in, &version, errp)) {
        goto fail;
    }
    if (version > (uint32_t)vmsd->version_id) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "unknown version %u (this build saves version %d)",
                    version, vmsd->version_id);
        goto fail;
    }
    if (version < (uint32_t)vmsd->minimum_version_id) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "version %u is older than the oldest this build loads "
                    "(%d)", version, vmsd->minimum_version_id);
        goto fail;
    }
    if (vmsd->pre_load && !vmsd->pre_load(opaque, errp)) {
        goto fail;
    }
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        if ((uint32_t)f->version_id > version) {
            continue;   /* newer than the stream: keeps its value */
        }
        if (!load_field(in, f, opaque, errp)) {
            g_prefix_error(errp, "field '%s': ", f->name);
            goto fail;
        }
    }
    if (!load_subsections(in, vmsd, opaque, errp)) {
        goto fail;
    }
    if (vmsd->post_load && !vmsd->post_load(opaque, version, errp)) {
        g_prefix_error(errp, "invalid state: ");
        goto fail;
    }
    return true;

fail:
    g_prefix_error(errp, "%s: ", vmsd->name);
    return false;
}

/* ---- the devices of a machine ---- */

/* Index of dev among the devices of its class, in creation order. */
static uint32_t device_instance(Machine *m, Device *dev)
{
    uint32_t n = 0;

    for (Device *d = m->devices; d != dev; d = d->next) {
        if (!strcmp(d->cls->name, dev->cls->name)) {
            n++;
        }
    }
    return n;
}

bool vmstate_save_devices(Machine *m, GByteArray *out, GError **errp)
{
    g_byte_array_append(out, (const guint8 *)STREAM_MAGIC, 4);
    vmstate_put_u32(out, STREAM_FORMAT);
    for (Device *d = m->devices; d; d = d->next) {
        const VMStateDescription *vmsd = d->cls->vmsd;
        guint len_at;
        uint32_t len;

        if (!vmsd) {
            continue;
        }
        if (d->id && strlen(d->id) > 255) {
            g_set_error(errp, VIREO_ERROR, 0, "device '%s': the id '%.20s...' "
                        "is longer than the 255 bytes a stream holds",
                        d->cls->name, d->id);
            return false;
        }
        vmstate_put_u8(out, TAG_ITEM);
        put_str(out, d->cls->name);
        vmstate_put_u32(out, device_instance(m, d));
        put_str(out, d->id ? d->id : "");
        len_at = out->len;
        vmstate_put_u32(out, 0);
        if (!vmstate_save_state(out, vmsd, d, errp)) {
            g_prefix_error(errp, "device '%s': ", d->cls->name);
            return false;
        }
        len = out->len - len_at - 4;
        for (int i = 0; i < 4; i++) {
            out->data[len_at + i] = len >> (24 - 8 * i);
        }
    }
    vmstate_put_u8(out, TAG_END);
    return true;
}

typedef struct Section {
    Device *dev;
    size_t start;       /* of the state in the stream */
    uint32_t len;
} Section;

static Device *find_device(Machine *m, const char *cls, uint32_t instance)
{
    uint32_t n = 0;

    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls->vmsd && !strcmp(d->cls->name, cls) && n++ == instance) {
            return d;
        }
    }
    return NULL;
}

/* Reads one section header and finds its device; skips the state. */
static bool parse_section(Machine *m, VMStateReader *in, Section *s,
                          GError **errp)
{
    char cls[256], id[256];
    uint32_t instance;
    const char *here;

    if (!get_str(in, cls, errp) || !vmstate_get_u32(in, &instance, errp) ||
        !get_str(in, id, errp) || !vmstate_get_u32(in, &s->len, errp)) {
        return false;
    }
    s->start = in->pos;
    if (s->len > in->len - in->pos) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "truncated stream: the state of '%s' instance %u has "
                    "%u bytes, %zu left", cls, instance, s->len,
                    in->len - in->pos);
        return false;
    }
    in->pos += s->len;
    s->dev = find_device(m, cls, instance);
    if (!s->dev) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "the stream has state for '%s' instance %u, which this "
                    "machine does not have", cls, instance);
        return false;
    }
    here = s->dev->id ? s->dev->id : "";
    if (strcmp(here, id)) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "'%s' instance %u has id '%s' in the stream but '%s' "
                    "here", cls, instance, id, here);
        return false;
    }
    return true;
}

/* The sections of a whole stream, matched to m's devices one to one. */
static GArray *parse_stream(Machine *m, const uint8_t *data, size_t len,
                            GError **errp)
{
    VMStateReader in = { .data = data, .len = len };
    GArray *sections = g_array_new(FALSE, TRUE, sizeof(Section));
    char magic[4];
    uint32_t format;
    uint8_t tag;

    if (!vmstate_get_bytes(&in, magic, 4, errp) ||
        !vmstate_get_u32(&in, &format, errp)) {
        goto fail;
    }
    if (memcmp(magic, STREAM_MAGIC, 4)) {
        g_set_error(errp, VIREO_ERROR, 0, "not a device state stream");
        goto fail;
    }
    if (format != STREAM_FORMAT) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "unknown stream format %u (this build reads %d)",
                    format, STREAM_FORMAT);
        goto fail;
    }
    for (;;) {
        Section s;

        if (!vmstate_get_u8(&in, &tag, errp)) {
            goto fail;
        }
        if (tag == TAG_END) {
            break;
        }
        if (tag != TAG_ITEM) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "corrupt stream: tag %u at offset %zu", tag,
                        in.pos - 1);
            goto fail;
        }
        if (!parse_section(m, &in, &s, errp)) {
            goto fail;
        }
        for (guint i = 0; i < sections->len; i++) {
            if (g_array_index(sections, Section, i).dev == s.dev) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "the state of '%s' instance %u appears twice",
                            s.dev->cls->name, device_instance(m, s.dev));
                goto fail;
            }
        }
        g_array_append_val(sections, s);
    }
    if (in.pos != in.len) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%zu bytes after the end of the stream", in.len - in.pos);
        goto fail;
    }
    for (Device *d = m->devices; d; d = d->next) {
        guint i;
        for (i = 0; i < sections->len; i++) {
            if (g_array_index(sections, Section, i).dev == d) {
                break;
            }
        }
        if (d->cls->vmsd && i == sections->len) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "the stream has no state for '%s' instance %u",
                        d->cls->name, device_instance(m, d));
            goto fail;
        }
    }
    return sections;

fail:
    g_array_free(sections, TRUE);
    return NULL;
}

bool vmstate_load_devices(Machine *m, const uint8_t *data, size_t len,
                          GError **errp)
{
    GArray *sections = parse_stream(m, data, len, errp);

    if (!sections) {
        g_prefix_error(errp, "loading device state: ");
        return false;
    }
    for (guint i = 0; i < sections->len; i++) {
        Section *s = &g_array_index(sections, Section, i);
        VMStateReader in = { .data = data + s->start, .len = s->len };
        Device *d = s->dev;

        bool ok = vmstate_load_state(&in, d->cls->vmsd, d, errp);

        if (ok && in.pos != in.len) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "%zu bytes left after the state", in.len - in.pos);
            ok = false;
        }
        if (!ok) {
            /* a half-loaded device must not run: back to power-on */
            if (d->cls->reset) {
                d->cls->reset(d);
            }
            g_prefix_error(errp, "loading device state: '%s' instance %u: ",
                           d->cls->name, device_instance(m, d));
            g_array_free(sections, TRUE);
            return false;
        }
    }
    g_array_free(sections, TRUE);
    return true;
}

/* ---- checking descriptions ---- */

static bool check_field(const VMStateDescription *vmsd, const VMStateField *f,
                        GError **errp)
{
    const char *why = NULL;

    if (f->version_id < 1 || f->version_id > vmsd->version_id) {
        why = "its version is not within 1 and the description's";
    } else if (f->num < 1) {
        why = "it has no elements";
    } else if (kind_is_int(f->kind) &&
               f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8) {
        why = "an integer must be 1, 2, 4 or 8 bytes";
    } else if (f->kind == VMS_VBUFFER &&
               (!f->len_size || f->len_size > 8 ||
                (f->len_size & (f->len_size - 1)))) {
        why = "its length member is not 1, 2, 4 or 8 bytes";
    } else if (f->kind == VMS_VBUFFER && f->len_size < 4 &&
               f->max >= (1ull << (8 * f->len_size))) {
        why = "its length member cannot hold the maximum";
    } else if (f->kind == VMS_STRUCT && !f->vmsd) {
        why = "a struct field needs a description";
    } else if (f->kind == VMS_CUSTOM &&
               (!f->info || !f->info->save || !f->info->load)) {
        why = "a custom field needs save and load";
    }
    if (why) {
        g_set_error(errp, VIREO_ERROR, 0, "%s: field '%s': %s", vmsd->name,
                    f->name, why);
        return false;
    }
    if (f->kind == VMS_STRUCT) {
        return vmstate_check_description(f->vmsd, errp);
    }
    if (f->kind == VMS_CUSTOM && f->info->vmsd) {
        return vmstate_check_description(f->info->vmsd, errp);
    }
    return true;
}

bool vmstate_check_description(const VMStateDescription *vmsd, GError **errp)
{
    if (!vmsd->name || !*vmsd->name || strlen(vmsd->name) > 255) {
        g_set_error(errp, VIREO_ERROR, 0, "a description has no usable name");
        return false;
    }
    if (vmsd->minimum_version_id < 1 ||
        vmsd->version_id < vmsd->minimum_version_id) {
        g_set_error(errp, VIREO_ERROR, 0,
                    "%s: versions must be 1 <= minimum (%d) <= version (%d)",
                    vmsd->name, vmsd->minimum_version_id, vmsd->version_id);
        return false;
    }
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        for (const VMStateField *g = vmsd->fields; g != f; g++) {
            if (!strcmp(f->name, g->name)) {
                g_set_error(errp, VIREO_ERROR, 0,
                            "%s: field '%s' is listed twice", vmsd->name,
                            f->name);
                return false;
            }
        }
        if (!check_field(vmsd, f, errp)) {
            return false;
        }
    }
    for (const VMStateDescription *const *sub = vmsd->subsections;
         sub && *sub; sub++) {
        if (find_subsection(vmsd, (*sub)->name) != *sub) {
            g_set_error(errp, VIREO_ERROR, 0,
                        "%s: subsection '%s' is listed twice", vmsd->name,
                        (*sub)->name);
            return false;
        }
        if (!vmstate_check_description(*sub, errp)) {
            return false;
        }
    }
    return true;
}

/* ---- -dump-vmstate ---- */

static const char *const kind_names[] = {
    [VMS_UINT8] = "uint8", [VMS_UINT16] = "uint16", [VMS_UINT32] = "uint32",
    [VMS_UINT64] = "uint64", [VMS_INT32] = "int32", [VMS_INT64] = "int64",
    [VMS_BOOL] = "bool", [VMS_BUFFER] = "buffer", [VMS_VBUFFER] = "vbuffer",
    [VMS_STRUCT] = "struct", [VMS_CUSTOM] = "custom",
};

static json_t *describe(const VMStateDescription *vmsd);

static json_t *describe_field(const VMStateField *f)
{
    json_t *o = json_object();

    json_object_set_new(o, "field", json_string(f->name));
    json_object_set_new(o, "type", json_string(
        f->kind == VMS_CUSTOM ? f->info->name : kind_names[f->kind]));
    json_object_set_new(o, "version_id", json_integer(f->version_id));
    if (f->kind != VMS_CUSTOM) {
        if (!f->pointer) {      /* a pointer's struct may be opaque */
            json_object_set_new(o, "size", json_integer(f->size));
        }
        json_object_set_new(o, "num", json_integer(f->num));
    }
    if (f->kind == VMS_VBUFFER) {
        json_object_set_new(o, "length_field", json_string(f->len_name));
        json_object_set_new(o, "max_size", json_integer(f->max));
    }
    if (f->kind == VMS_STRUCT) {
        json_object_set_new(o, "pointer", json_boolean(f->pointer));
        json_object_set_new(o, "Description", describe(f->vmsd));
    }
    if (f->kind == VMS_CUSTOM && f->info->vmsd) {
        json_object_set_new(o, "Description", describe(f->info->vmsd));
    }
    return o;
}

static json_t *describe(const VMStateDescription *vmsd)
{
    json_t *o = json_object();
    json_t *fields = json_array();

    json_object_set_new(o, "Name", json_string(vmsd->name));
    json_object_set_new(o, "version_id", json_integer(vmsd->version_id));
    json_object_set_new(o, "minimum_version_id",
                        json_integer(vmsd->minimum_version_id));
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        json_array_append_new(fields, describe_field(f));
    }
    json_object_set_new(o, "Fields", fields);
    if (vmsd->subsections && vmsd->subsections[0]) {
        json_t *subs = json_array();
        for (const VMStateDescription *const *sub = vmsd->subsections; *sub;
             sub++) {
            json_array_append_new(subs, describe(*sub));
        }
        json_object_set_new(o, "Subsections", subs);
    }
    return o;
}

static int class_name_cmp(gconstpointer a, gconstpointer b)
{
    const DeviceClass *x = *(const DeviceClass *const *)a;
    const DeviceClass *y = *(const DeviceClass *const *)b;

    return strcmp(x->name, y->name);
}

char *vmstate_dump_json(void)
{
    GPtrArray *classes = g_ptr_array_new();
    json_t *root = json_object();
    char *text, *copy;

    for (const DeviceClass *c = device_class_first(); c; c = c->next) {
        if (c->vmsd) {
            g_ptr_array_add(classes, (gpointer)c);
        }
    }
    g_ptr_array_sort(classes, class_name_cmp);
    for (guint i = 0; i < classes->len; i++) {
        const DeviceClass *c = g_ptr_array_index(classes, i);
        json_t *o = json_object();
        json_object_set_new(o, "Name", json_string(c->name));
        json_object_set_new(o, "version_id", json_integer(c->vmsd->version_id));
        json_object_set_new(o, "minimum_version_id",
                            json_integer(c->vmsd->minimum_version_id));
        json_object_set_new(o, "Description", describe(c->vmsd));
        json_object_set_new(root, c->name, o);
    }
    g_ptr_array_free(classes, TRUE);
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    copy = g_strconcat(text, "\n", NULL);   /* g_free-able */
    free(text);
    return copy;
}

bool vmstate_dump_json_file(const char *path, GError **errp)
{
    g_autofree char *text = vmstate_dump_json();
    FILE *f = fopen(path, "w");

    if (!f) {
        g_set_error(errp, VIREO_ERROR, 0, "-dump-vmstate %s: %s", path,
                    g_strerror(errno));
        return false;
    }
    bool ok = fputs(text, f) != EOF;
    int err = errno;

    if (fclose(f) == EOF && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        g_set_error(errp, VIREO_ERROR, 0, "-dump-vmstate %s: %s", path,
                    g_strerror(err));
    }
    return ok;
}
