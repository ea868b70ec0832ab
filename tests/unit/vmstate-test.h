/*
 * Helpers for the device vmstate tests: save a machine's devices, load
 * them into another, and find a field's bytes in a stream (by walking it
 * with the device's own description, in the format of migration/vmstate.h)
 * to corrupt it on purpose.
 */
#ifndef TESTS_UNIT_VMSTATE_TEST_H
#define TESTS_UNIT_VMSTATE_TEST_H

#include <string.h>

#include <glib.h>

#include "hw/device.h"
#include "hw/i386/x86.h"
#include "migration/vmstate.h"

static inline GByteArray *vt_save(Machine *m)
{
    GByteArray *b = g_byte_array_new();
    GError *err = NULL;

    g_assert_true(vmstate_save_devices(m, b, &err));
    g_assert_no_error(err);
    return b;
}

static inline void vt_load(Machine *m, GByteArray *b)
{
    GError *err = NULL;

    vmstate_load_devices(m, b->data, b->len, &err);
    g_assert_no_error(err);
}

/* Loading b into m fails, with an error that contains what. */
static inline void vt_load_fails(Machine *m, GByteArray *b, const char *what)
{
    GError *err = NULL;

    g_assert_false(vmstate_load_devices(m, b->data, b->len, &err));
    g_assert_nonnull(err);
    if (g_test_verbose()) {
        g_test_message("expected error: %s", err->message);
    }
    g_assert_nonnull(strstr(err->message, what));
    g_error_free(err);
}

static inline void vt_assert_same(GByteArray *a, GByteArray *b)
{
    g_assert_cmpmem(a->data, a->len, b->data, b->len);
}

static inline uint64_t vt_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static inline void vt_patch(GByteArray *b, size_t off, size_t n, uint64_t v)
{
    g_assert_cmpuint(off + n, <=, b->len);
    for (size_t i = 0; i < n; i++) {
        b->data[off + i] = v >> (8 * (n - 1 - i));
    }
}

/* One component "name" or "name[i]" of a path; returns the rest or NULL. */
static inline const char *vt_path_head(const char *path, char *name,
                                       uint32_t *idx)
{
    size_t n = strcspn(path, ".[");

    memcpy(name, path, n);
    name[n] = 0;
    *idx = 0;
    path += n;
    if (*path == '[') {
        *idx = strtoul(path + 1, (char **)&path, 10);
        g_assert_true(*path == ']');
        path++;
    }
    return *path == '.' ? path + 1 : NULL;
}

/*
 * Walks the state at pos (version + payload) of vmsd; if path names a
 * field in it ("rx_head", "ch[1].count", "lapics[0].tpr", a subsection's
 * name as a component), stores the offset of its first byte (of element
 * [i]) in *found. A custom field with info->vmsd is taken to be a u32
 * count and that many states, as the LAPICs are. Returns the end.
 */
static inline size_t vt_walk(const uint8_t *d, size_t pos,
                      const VMStateDescription *vmsd, const char *path,
                      size_t *found)
{
    uint32_t version = vt_be(d + pos, 4);
    char head[128] = "";
    const char *rest = NULL;
    uint32_t idx = 0;

    if (path) {
        rest = vt_path_head(path, head, &idx);
    }
    pos += 4;
    for (const VMStateField *f = vmsd->fields; f->name; f++) {
        bool match = path && !strcmp(head, f->name);
        uint32_t n;

        if (f->version_id > (int)version) {
            continue;
        }
        switch (f->kind) {
        case VMS_BUFFER:
        case VMS_VBUFFER:
            if (f->kind == VMS_VBUFFER) {
                n = vt_be(d + pos, 4);
                pos += 4;
            } else {
                n = f->size;
            }
            if (match) {
                *found = pos + idx;
            }
            pos += n;
            break;
        case VMS_STRUCT:
        case VMS_CUSTOM:
            n = f->num;
            if (f->kind == VMS_CUSTOM) {
                n = vt_be(d + pos, 4);
                pos += 4;
            }
            for (uint32_t i = 0; i < n; i++) {
                const VMStateDescription *sub =
                    f->kind == VMS_STRUCT ? f->vmsd : f->info->vmsd;
                bool here = match && i == idx;
                pos = vt_walk(d, pos, sub, here ? rest : NULL, found);
            }
            break;
        default:
            if (match) {
                *found = pos + idx * f->size;
            }
            pos += f->size * f->num;
            break;
        }
    }
    while (d[pos] == 1) {
        char name[256];
        uint8_t len = d[pos + 1];
        const VMStateDescription *sub = NULL;

        memcpy(name, d + pos + 2, len);
        name[len] = 0;
        pos += 2 + len;
        for (int i = 0; vmsd->subsections[i]; i++) {
            if (!strcmp(vmsd->subsections[i]->name, name)) {
                sub = vmsd->subsections[i];
            }
        }
        g_assert_nonnull(sub);
        pos = vt_walk(d, pos, sub,
                      path && !strcmp(head, name) ? rest : NULL, found);
    }
    g_assert_cmpint(d[pos], ==, 0);
    return pos + 1;
}

/* Offset in a device stream of a field of instance inst of class cls. */
static inline size_t vt_find(GByteArray *b, const char *cls, uint32_t inst,
                             const char *path)
{
    const uint8_t *d = b->data;
    size_t pos = 8;     /* magic, format */

    while (d[pos] == 1) {
        size_t clen = d[pos + 1];
        bool match = clen == strlen(cls) && !memcmp(d + pos + 2, cls, clen);
        const DeviceClass *c = device_class_find(cls);
        size_t found = 0;

        pos += 2 + clen;
        match = match && vt_be(d + pos, 4) == inst;
        pos += 4;
        pos += 1 + d[pos];      /* id */
        uint32_t len = vt_be(d + pos, 4);
        pos += 4;
        if (match) {
            g_assert_nonnull(c);
            g_assert_cmpuint(vt_walk(d, pos, c->vmsd, path, &found), ==,
                             pos + len);
            g_assert_cmpuint(found, !=, 0);
            return found;
        }
        pos += len;
    }
    g_assert_not_reached();
}

/*
 * Loads n randomly corrupted copies of s into m; each either loads or fails
 * with an error, and exercise() then drives the device through its
 * registers, where a value post_load let through would do harm (run this
 * under ASan). Some copies must load, or the corruption missed the values.
 */
typedef void VTExercise(Machine *m, GRand *r);

static inline void vt_fuzz(Machine *m, GByteArray *s, int n,
                           VTExercise *exercise)
{
    GRand *r = g_rand_new_with_seed(0x5eed);
    int loaded = 0;

    for (int i = 0; i < n; i++) {
        GByteArray *c = g_byte_array_new();
        GError *err = NULL;

        g_byte_array_append(c, s->data, s->len);
        for (int k = g_rand_int_range(r, 1, 4); k > 0; k--) {
            c->data[g_rand_int_range(r, 0, c->len)] ^=
                1u << g_rand_int_range(r, 0, 8);
        }
        if (vmstate_load_devices(m, c->data, c->len, &err)) {
            loaded++;
        } else {
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(err->message, "loading device state"));
            g_error_free(err);
        }
        exercise(m, r);
        g_byte_array_free(c, TRUE);
    }
    g_test_message("%d of %d corrupted streams loaded", loaded, n);
    g_assert_cmpint(loaded, >, n / 50);
    g_rand_free(r);
}

/* Random reads and writes of 1, 2 or 4 bytes at ports [base, base+len). */
static inline void vt_poke_ports(Machine *m, GRand *r, uint16_t base,
                                 unsigned len, int n)
{
    for (int i = 0; i < n; i++) {
        uint16_t port = base + g_rand_int_range(r, 0, len);
        unsigned size = 1u << g_rand_int_range(r, 0, 3);
        uint64_t v = g_rand_int(r);

        if (g_rand_boolean(r)) {
            address_space_st(&m->as_io, port, size, v);
        } else {
            address_space_ld(&m->as_io, port, size, &v);
        }
    }
}

#endif
