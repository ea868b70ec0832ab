/*
 * The vmstate core: every field kind survives a round trip, the wire format
 * is the documented one, old versions load into new descriptions with
 * defaults, subsections come and go, and a hostile stream (truncated,
 * corrupt, lengths over their maximum, values post_load rejects) gives an
 * error and never a crash. Then the device list of a machine as one stream.
 */
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "hw/device.h"
#include "io-machine.h"
#include "migration/vmstate.h"
#include "util/opts.h"
#include "vmstate-test.h"

/* ---- a struct with every kind of field ---- */

typedef struct Inner {
    uint16_t a;
    uint32_t b[2];
} Inner;

typedef struct Kinds {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    bool flag;
    uint8_t u8s[3];
    uint16_t u16s[2];
    uint32_t u32s[2];
    uint64_t u64s[2];
    int32_t i32s[2];
    int64_t i64s[2];
    bool flags[3];
    uint8_t buf[5];
    uint8_t vbuf[8];
    uint16_t vbuf_len;
    Inner inner;
    Inner inners[2];
    Inner *ptr;
    uint32_t custom;        /* saved by kinds_custom, inverted */
    uint32_t sub_value;     /* in a subsection */
    bool sub_needed;
} Kinds;

static const VMStateField inner_fields[] = {
    VMSTATE_UINT16(a, Inner),
    VMSTATE_UINT32_ARRAY(b, Inner),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_inner = {
    .name = "inner",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = inner_fields,
};

static bool custom_save(GByteArray *out, void *opaque, GError **errp)
{
    Kinds *k = opaque;

    vmstate_put_u32(out, ~k->custom);
    return true;
}

static bool custom_load(VMStateReader *in, void *opaque, GError **errp)
{
    Kinds *k = opaque;
    uint32_t v;

    if (!vmstate_get_u32(in, &v, errp)) {
        return false;
    }
    k->custom = ~v;
    return true;
}

static const VMStateInfo custom_info = {
    .name = "inverted-u32",
    .save = custom_save,
    .load = custom_load,
};

static bool sub_needed(void *opaque)
{
    return ((Kinds *)opaque)->sub_needed;
}

static const VMStateField sub_fields[] = {
    VMSTATE_UINT32(sub_value, Kinds),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kinds_sub = {
    .name = "kinds/sub",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = sub_fields,
    .needed = sub_needed,
};

static const VMStateField kinds_fields[] = {
    VMSTATE_UINT8(u8, Kinds),
    VMSTATE_UINT16(u16, Kinds),
    VMSTATE_UINT32(u32, Kinds),
    VMSTATE_UINT64(u64, Kinds),
    VMSTATE_INT32(i32, Kinds),
    VMSTATE_INT64(i64, Kinds),
    VMSTATE_BOOL(flag, Kinds),
    VMSTATE_UINT8_ARRAY(u8s, Kinds),
    VMSTATE_UINT16_ARRAY(u16s, Kinds),
    VMSTATE_UINT32_ARRAY(u32s, Kinds),
    VMSTATE_UINT64_ARRAY(u64s, Kinds),
    VMSTATE_INT32_ARRAY(i32s, Kinds),
    VMSTATE_INT64_ARRAY(i64s, Kinds),
    VMSTATE_BOOL_ARRAY(flags, Kinds),
    VMSTATE_BUFFER(buf, Kinds),
    VMSTATE_VBUFFER(vbuf, Kinds, vbuf_len),
    VMSTATE_STRUCT(inner, Kinds, vmstate_inner, Inner),
    VMSTATE_STRUCT_ARRAY(inners, Kinds, vmstate_inner, Inner),
    VMSTATE_STRUCT_POINTER(ptr, Kinds, vmstate_inner, Inner),
    VMSTATE_CUSTOM("custom", custom_info),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription *const kinds_subsections[] = {
    &vmstate_kinds_sub, NULL,
};

static const VMStateDescription vmstate_kinds = {
    .name = "kinds",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = kinds_fields,
    .subsections = kinds_subsections,
};

static void inner_fill(Inner *in, uint32_t seed)
{
    memset(in, 0, sizeof(*in));     /* padding too, for whole compares */
    in->a = 0xa000 + seed;
    in->b[0] = 0xb0000000 + seed;
    in->b[1] = 0xb1000000 + seed;
}

static void kinds_fill(Kinds *k, Inner *target)
{
    memset(k, 0, sizeof(*k));
    k->u8 = 0x81;
    k->u16 = 0x8216;
    k->u32 = 0x83333332;
    k->u64 = 0x8464646464646464ULL;
    k->i32 = -123456789;
    k->i64 = -1234567890123456789LL;
    k->flag = true;
    memcpy(k->u8s, "\x01\x02\xff", 3);
    k->u16s[0] = 0x1616;
    k->u16s[1] = 0xfffe;
    k->u32s[0] = 0x32323232;
    k->u32s[1] = 0xfffffffd;
    k->u64s[0] = 0x6464646464646464ULL;
    k->u64s[1] = UINT64_MAX;
    k->i32s[0] = INT32_MIN;
    k->i32s[1] = -1;
    k->i64s[0] = INT64_MIN;
    k->i64s[1] = INT64_MAX;
    k->flags[1] = true;
    memcpy(k->buf, "hello", 5);
    memcpy(k->vbuf, "abc", 3);
    k->vbuf_len = 3;
    inner_fill(&k->inner, 1);
    inner_fill(&k->inners[0], 2);
    inner_fill(&k->inners[1], 3);
    inner_fill(target, 4);
    k->ptr = target;
    k->custom = 0x12345678;
    k->sub_value = 0x5ab5ab;
    k->sub_needed = true;
}

static GByteArray *save(const VMStateDescription *vmsd, void *opaque)
{
    GByteArray *b = g_byte_array_new();
    GError *err = NULL;

    g_assert_true(vmstate_save_state(b, vmsd, opaque, &err));
    g_assert_no_error(err);
    return b;
}

static bool load(GByteArray *b, const VMStateDescription *vmsd, void *opaque,
                 GError **errp)
{
    VMStateReader in = { .data = b->data, .len = b->len };

    if (!vmstate_load_state(&in, vmsd, opaque, errp)) {
        return false;
    }
    g_assert_cmpuint(in.pos, ==, in.len);
    return true;
}

/* Loading fails, with an error message that contains what. */
static void load_fails(GByteArray *b, const VMStateDescription *vmsd,
                       void *opaque, const char *what)
{
    GError *err = NULL;

    g_assert_false(load(b, vmsd, opaque, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, what)) {
        g_error("'%s' does not say '%s'", err->message, what);
    }
    g_error_free(err);
}

static void test_round_trip_every_kind(void)
{
    Kinds src, dst;
    Inner src_target, dst_target = { 0 };
    GError *err = NULL;
    g_autoptr(GByteArray) b = NULL;

    kinds_fill(&src, &src_target);
    b = save(&vmstate_kinds, &src);
    memset(&dst, 0, sizeof(dst));
    dst.ptr = &dst_target;
    g_assert_true(load(b, &vmstate_kinds, &dst, &err));
    g_assert_no_error(err);

    g_assert_true(dst.ptr == &dst_target);  /* through it, not over it */
    g_assert_cmpmem(&dst_target, sizeof(Inner), &src_target, sizeof(Inner));
    dst.ptr = src.ptr;
    dst.sub_needed = src.sub_needed;        /* not state */
    g_assert_cmpmem(&dst, sizeof(dst), &src, sizeof(src));
}

/* The bytes are the ones include/migration/vmstate.h documents. */
typedef struct Small {
    uint8_t x;
    uint16_t y;
    bool z;
    int32_t n;
    uint8_t data[4];
    uint8_t data_len;
} Small;

static const VMStateField small_fields[] = {
    VMSTATE_UINT8(x, Small),
    VMSTATE_UINT16(y, Small),
    VMSTATE_BOOL(z, Small),
    VMSTATE_INT32(n, Small),
    VMSTATE_VBUFFER(data, Small, data_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_small = {
    .name = "small",
    .version_id = 3,
    .minimum_version_id = 1,
    .fields = small_fields,
};

static void test_wire_format(void)
{
    static const uint8_t expect[] = {
        0, 0, 0, 3,                 /* version */
        0xab,                       /* x */
        0x12, 0x34,                 /* y, big-endian */
        1,                          /* z */
        0xff, 0xff, 0xff, 0xfe,     /* n = -2 */
        0, 0, 0, 2, 'h', 'i',       /* data: length, bytes */
        0,                          /* no subsections */
    };
    Small s = { .x = 0xab, .y = 0x1234, .z = true, .n = -2,
                .data = "hi!", .data_len = 2 };
    g_autoptr(GByteArray) b = save(&vmstate_small, &s);

    g_assert_cmpmem(b->data, b->len, expect, sizeof(expect));
}

/* ---- versions ---- */

typedef struct Versioned {
    uint32_t a;
    uint32_t b;
    uint32_t c;     /* since version 2 */
} Versioned;

static const VMStateField versioned_v1_fields[] = {
    VMSTATE_UINT32(a, Versioned),
    VMSTATE_UINT32(b, Versioned),
    VMSTATE_END_OF_LIST(),
};

static const VMStateField versioned_v2_fields[] = {
    VMSTATE_UINT32(a, Versioned),
    VMSTATE_UINT32(b, Versioned),
    VMSTATE_UINT32_V(c, Versioned, 2),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_versioned_v1 = {
    .name = "versioned",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = versioned_v1_fields,
};

static const VMStateDescription vmstate_versioned_v2 = {
    .name = "versioned",
    .version_id = 2,
    .minimum_version_id = 1,
    .fields = versioned_v2_fields,
};

/* A build that dropped support for version 1 streams. */
static const VMStateDescription vmstate_versioned_min2 = {
    .name = "versioned",
    .version_id = 2,
    .minimum_version_id = 2,
    .fields = versioned_v2_fields,
};

static void test_versions(void)
{
    Versioned old = { 1, 2, 0 }, cur = { 4, 5, 6 };
    Versioned dst = { 0, 0, 0x77 };     /* c: the device's default */
    g_autoptr(GByteArray) v1 = save(&vmstate_versioned_v1, &old);
    g_autoptr(GByteArray) v2 = save(&vmstate_versioned_v2, &cur);
    GError *err = NULL;

    /* old -> new: the new field keeps its default */
    g_assert_true(load(v1, &vmstate_versioned_v2, &dst, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(dst.a, ==, 1);
    g_assert_cmpuint(dst.b, ==, 2);
    g_assert_cmpuint(dst.c, ==, 0x77);
    g_assert_cmpuint(v1->len, ==, 4 + 8 + 1);

    g_assert_true(load(v2, &vmstate_versioned_v2, &dst, &err));
    g_assert_cmpuint(dst.c, ==, 6);

    /* new -> old, and under the minimum: refused */
    load_fails(v2, &vmstate_versioned_v1, &dst, "unknown version 2");
    load_fails(v1, &vmstate_versioned_min2, &dst,
               "version 1 is older than the oldest this build loads (2)");
    vt_patch(v2, 0, 4, 0xffffffff);
    load_fails(v2, &vmstate_versioned_v2, &dst, "unknown version 4294967295");
}

/* ---- subsections ---- */

static void test_subsections(void)
{
    Kinds src, dst;
    Inner t1, t2;
    g_autoptr(GByteArray) with = NULL, without = NULL;
    GError *err = NULL;

    kinds_fill(&src, &t1);
    with = save(&vmstate_kinds, &src);
    src.sub_needed = false;
    without = save(&vmstate_kinds, &src);
    /* the subsection costs a tag, its name and its state */
    g_assert_cmpuint(with->len, ==,
                     without->len + 1 + 1 + strlen("kinds/sub") + 4 + 4 + 1);

    /* absent: the field keeps what it had */
    memset(&dst, 0, sizeof(dst));
    dst.ptr = &t2;
    dst.sub_value = 0xdefa;
    g_assert_true(load(without, &vmstate_kinds, &dst, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(dst.sub_value, ==, 0xdefa);
    g_assert_cmpuint(dst.custom, ==, 0x12345678);

    /* present: loaded */
    g_assert_true(load(with, &vmstate_kinds, &dst, &err));
    g_assert_cmpuint(dst.sub_value, ==, 0x5ab5ab);

    /* a subsection this build does not know */
    size_t name_at = without->len - 1 + 2;     /* after tag and length */
    memcpy(with->data + name_at, "kinds/bug", 9);
    load_fails(with, &vmstate_kinds, &dst, "unknown subsection 'kinds/bug'");
    memcpy(with->data + name_at, "kinds/sub", 9);

    /* the same one twice */
    g_byte_array_set_size(with, with->len - 1);
    g_autoptr(GByteArray) sub = g_byte_array_new();
    g_byte_array_append(sub, with->data + without->len - 1,
                        with->len - (without->len - 1));
    g_byte_array_append(with, sub->data, sub->len);
    vmstate_put_u8(with, 0);
    load_fails(with, &vmstate_kinds, &dst,
               "subsection 'kinds/sub' appears twice");

    /* a tag that is neither */
    without->data[without->len - 1] = 7;
    load_fails(without, &vmstate_kinds, &dst, "corrupt stream: tag 7");
}

/* ---- hostile streams ---- */

static void test_truncated_streams(void)
{
    Kinds src, dst;
    Inner t1, t2;
    g_autoptr(GByteArray) b = NULL;

    kinds_fill(&src, &t1);
    b = save(&vmstate_kinds, &src);
    for (guint len = 0; len < b->len; len++) {
        GByteArray *cut = g_byte_array_new();
        g_byte_array_append(cut, b->data, len);
        memset(&dst, 0, sizeof(dst));
        dst.ptr = &t2;
        load_fails(cut, &vmstate_kinds, &dst, "truncated stream");
        g_byte_array_free(cut, TRUE);
    }
}

static void test_corrupt_streams_never_crash(void)
{
    Kinds src, dst;
    Inner t1, t2;
    g_autoptr(GByteArray) b = NULL;
    GRand *r = g_rand_new_with_seed(1234);
    int failed = 0;

    kinds_fill(&src, &t1);
    b = save(&vmstate_kinds, &src);
    for (int i = 0; i < 20000; i++) {
        GByteArray *c = g_byte_array_new();
        GError *err = NULL;
        g_byte_array_append(c, b->data, b->len);
        for (int n = g_rand_int_range(r, 1, 4); n > 0; n--) {
            c->data[g_rand_int_range(r, 0, c->len)] = g_rand_int(r);
        }
        if (g_rand_boolean(r)) {
            g_byte_array_set_size(c, g_rand_int_range(r, 0, c->len));
        }
        memset(&dst, 0, sizeof(dst));
        dst.ptr = &t2;
        VMStateReader in = { .data = c->data, .len = c->len };
        if (!vmstate_load_state(&in, &vmstate_kinds, &dst, &err)) {
            g_assert_nonnull(err);
            g_assert_true(strstr(err->message, "kinds"));
            g_error_free(err);
            failed++;
        }
        g_assert_cmpuint(in.pos, <=, c->len);
        g_assert_true(dst.ptr == &t2);
        g_assert_cmpuint(dst.vbuf_len, <=, sizeof(dst.vbuf));
        g_byte_array_free(c, TRUE);
    }
    g_assert_cmpint(failed, >, 1000);
    g_rand_free(r);
}

static void test_vbuffer_over_maximum(void)
{
    Small s = { .data_len = 4, .data = "full" }, dst = { 0 };
    g_autoptr(GByteArray) b = save(&vmstate_small, &s);
    GError *err = NULL;
    size_t len_at = 4 + 1 + 2 + 1 + 4;

    /* exactly the maximum is fine */
    g_assert_true(load(b, &vmstate_small, &dst, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(dst.data_len, ==, 4);
    g_assert_cmpmem(dst.data, 4, "full", 4);

    /* one more, or a huge length, is refused before anything is read */
    dst.data_len = 1;
    vt_patch(b, len_at, 4, 5);
    g_byte_array_set_size(b, b->len + 1);
    load_fails(b, &vmstate_small, &dst,
               "small: field 'data': length 5 is over the maximum 4");
    g_assert_cmpuint(dst.data_len, ==, 1);
    vt_patch(b, len_at, 4, 0xffffffff);
    load_fails(b, &vmstate_small, &dst, "length 4294967295 is over");

    /* saving a length over the maximum is our bug, reported too */
    s.data_len = 9;
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_assert_false(vmstate_save_state(out, &vmstate_small, &s, &err));
    g_assert_nonnull(strstr(err->message, "length 9 is over the maximum 4"));
    g_clear_error(&err);
}

static void test_bad_bool(void)
{
    Small s = { .z = true }, dst;
    g_autoptr(GByteArray) b = save(&vmstate_small, &s);

    b->data[4 + 1 + 2] = 2;
    load_fails(b, &vmstate_small, &dst, "field 'z': invalid bool value 2");
}

/* ---- hooks ---- */

typedef struct Hooked {
    uint8_t index;      /* indexes table[] */
    uint8_t table[4];
    int pre_saves, pre_loads, post_loads;
    bool refuse_save;
} Hooked;

static bool hooked_pre_save(void *opaque, GError **errp)
{
    Hooked *h = opaque;

    h->pre_saves++;
    if (h->refuse_save) {
        g_set_error(errp, VIREO_ERROR, 0, "busy");
        return false;
    }
    return true;
}

static bool hooked_pre_load(void *opaque, GError **errp)
{
    ((Hooked *)opaque)->pre_loads++;
    return true;
}

static bool hooked_post_load(void *opaque, int version_id, GError **errp)
{
    Hooked *h = opaque;

    if (h->index >= sizeof(h->table)) {
        g_set_error(errp, VIREO_ERROR, 0, "index %u is outside the table",
                    h->index);
        return false;
    }
    h->post_loads++;
    return true;
}

static const VMStateField hooked_fields[] = {
    VMSTATE_UINT8(index, Hooked),
    VMSTATE_BUFFER(table, Hooked),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_hooked = {
    .name = "hooked",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = hooked_fields,
    .pre_save = hooked_pre_save,
    .pre_load = hooked_pre_load,
    .post_load = hooked_post_load,
};

static void test_hooks(void)
{
    Hooked h = { .index = 3, .table = { 1, 2, 3, 4 } }, dst = { 0 };
    g_autoptr(GByteArray) b = save(&vmstate_hooked, &h);
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *err = NULL;

    g_assert_cmpint(h.pre_saves, ==, 1);
    g_assert_true(load(b, &vmstate_hooked, &dst, &err));
    g_assert_cmpint(dst.pre_loads, ==, 1);
    g_assert_cmpint(dst.post_loads, ==, 1);

    b->data[4] = 4;
    load_fails(b, &vmstate_hooked, &dst,
               "hooked: invalid state: index 4 is outside the table");
    g_assert_cmpint(dst.post_loads, ==, 1);

    h.refuse_save = true;
    g_assert_false(vmstate_save_state(out, &vmstate_hooked, &h, &err));
    g_assert_cmpstr(err->message, ==, "hooked: busy");
    g_clear_error(&err);
}

/* ---- descriptions ---- */

static const VMStateField dup_fields[] = {
    VMSTATE_UINT8(x, Small),
    VMSTATE_UINT8(x, Small),
    VMSTATE_END_OF_LIST(),
};

static const VMStateField future_fields[] = {
    VMSTATE_UINT8_V(x, Small, 3),
    VMSTATE_END_OF_LIST(),
};

static void check_bad(const VMStateDescription *vmsd, const char *what)
{
    GError *err = NULL;

    g_assert_false(vmstate_check_description(vmsd, &err));
    g_assert_nonnull(strstr(err->message, what));
    g_error_free(err);
}

static void test_check_descriptions(void)
{
    GError *err = NULL;
    int n = 0;

    g_assert_true(vmstate_check_description(&vmstate_kinds, &err));
    for (const DeviceClass *c = device_class_first(); c; c = c->next) {
        if (c->vmsd) {
            if (!vmstate_check_description(c->vmsd, &err)) {
                g_error("%s: %s", c->name, err->message);
            }
            n++;
        }
    }
    g_assert_cmpint(n, >=, 6);

    check_bad(&(VMStateDescription){ .name = "d", .version_id = 1,
                                     .minimum_version_id = 1,
                                     .fields = dup_fields },
              "field 'x' is listed twice");
    check_bad(&(VMStateDescription){ .name = "f", .version_id = 2,
                                     .minimum_version_id = 1,
                                     .fields = future_fields },
              "its version is not within");
    check_bad(&(VMStateDescription){ .name = "m", .version_id = 1,
                                     .minimum_version_id = 2 },
              "versions must be");
}

static void test_dump_json(void)
{
    g_autofree char *text = vmstate_dump_json();
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr), *serial, *fields;

    g_assert_nonnull(root);
    serial = json_object_get(root, "isa-serial");
    g_assert_nonnull(serial);
    g_assert_cmpstr(json_string_value(json_object_get(serial, "Name")), ==,
                    "isa-serial");
    fields = json_object_get(json_object_get(serial, "Description"),
                             "Fields");
    g_assert_true(json_array_size(fields) > 5);
    g_assert_cmpstr(json_string_value(json_object_get(
                        json_array_get(fields, 0), "field")), ==, "divisor");
    g_assert_cmpint(json_integer_value(json_object_get(
                        json_array_get(fields, 0), "size")), ==, 2);
    json_decref(root);
}

/* ---- a machine's devices ---- */

typedef struct TestDev {
    Device dev;
    uint32_t value;
    uint8_t idx;        /* must stay below 4 */
    int resets;
} TestDev;

static bool testdev_post_load(void *opaque, int version_id, GError **errp)
{
    TestDev *t = opaque;

    if (t->idx >= 4) {
        g_set_error(errp, VIREO_ERROR, 0, "idx %u out of range", t->idx);
        return false;
    }
    return true;
}

static const VMStateField testdev_fields[] = {
    VMSTATE_UINT32(value, TestDev),
    VMSTATE_UINT8(idx, TestDev),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_testdev = {
    .name = "vmstate-testdev",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = testdev_fields,
    .post_load = testdev_post_load,
};

static void testdev_reset(Device *dev)
{
    TestDev *t = (TestDev *)dev;

    t->value = 0;
    t->idx = 0;
    t->resets++;
}

static DeviceClass testdev_class = {
    .name = "vmstate-testdev",
    .bus = "sys",
    .instance_size = sizeof(TestDev),
    .reset = testdev_reset,
    .vmsd = &vmstate_testdev,
};
DEVICE_REGISTER(testdev_class)

/* A class without state: not in the stream. */
static DeviceClass stateless_class = {
    .name = "vmstate-stateless",
    .bus = "sys",
    .instance_size = sizeof(Device),
};
DEVICE_REGISTER(stateless_class)

typedef struct DevMachine {
    Machine m;
    MemoryRegion io;
    TestDev *dev[3];
} DevMachine;

static void no_irq(void *opaque, int n, int level)
{
}

/* n test devices (the second with an id), and a stateless one. */
static void dm_init(DevMachine *dm, int n, const char *id)
{
    GError *err = NULL;

    memset(dm, 0, sizeof(*dm));
    io_machine_init(&dm->m, &dm->io, no_irq);
    for (int i = 0; i < n; i++) {
        Device *d = device_new("vmstate-testdev", &err);
        if (i == 1 && id) {
            device_set_prop(d, "id", id, &err);
        }
        g_assert_true(device_realize(d, &dm->m, &err));
        dm->dev[i] = (TestDev *)d;
        if (i == 0) {
            Device *s = device_new("vmstate-stateless", &err);
            g_assert_true(device_realize(s, &dm->m, &err));
        }
    }
    g_assert_no_error(err);
}

static void test_devices_round_trip(void)
{
    DevMachine a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;

    dm_init(&a, 2, "second");
    a.dev[0]->value = 0x1111;
    a.dev[0]->idx = 1;
    a.dev[1]->value = 0x2222;
    a.dev[1]->idx = 3;
    sa = vt_save(&a.m);
    dm_init(&b, 2, "second");
    vt_load(&b.m, sa);
    g_assert_cmpuint(b.dev[0]->value, ==, 0x1111);
    g_assert_cmpuint(b.dev[0]->idx, ==, 1);
    g_assert_cmpuint(b.dev[1]->value, ==, 0x2222);
    g_assert_cmpuint(b.dev[1]->idx, ==, 3);
    sb = vt_save(&b.m);
    vt_assert_same(sa, sb);
    g_assert_cmpuint(vt_be(sa->data + vt_find(sa, "vmstate-testdev", 1,
                                               "value"), 4), ==, 0x2222);
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void test_devices_mismatch(void)
{
    DevMachine a, b;
    g_autoptr(GByteArray) s = NULL;
    GByteArray *c;

    dm_init(&a, 2, "second");
    s = vt_save(&a.m);

    dm_init(&b, 3, "second");
    vt_load_fails(&b.m, s, "the stream has no state for 'vmstate-testdev' "
                  "instance 2");
    io_machine_fini(&b.m, &b.io);

    dm_init(&b, 1, NULL);
    vt_load_fails(&b.m, s, "the stream has state for 'vmstate-testdev' "
                  "instance 1, which this machine does not have");
    io_machine_fini(&b.m, &b.io);

    dm_init(&b, 2, "other");
    b.dev[0]->value = 77;
    vt_load_fails(&b.m, s, "'vmstate-testdev' instance 1 has id 'second' in "
                  "the stream but 'other' here");
    /* nothing was touched before the whole stream was matched */
    g_assert_cmpuint(b.dev[0]->value, ==, 77);
    io_machine_fini(&b.m, &b.io);

    dm_init(&b, 2, "second");
    c = g_byte_array_new();
    g_byte_array_append(c, s->data, s->len);
    c->data[0] = 'X';
    vt_load_fails(&b.m, c, "not a device state stream");
    c->data[0] = 'V';
    c->data[7] = 2;
    vt_load_fails(&b.m, c, "unknown stream format 2");
    c->data[7] = 1;
    vmstate_put_u8(c, 0);
    vt_load_fails(&b.m, c, "1 bytes after the end of the stream");
    /* the sections again, before the end tag */
    g_byte_array_set_size(c, s->len - 1);
    g_byte_array_append(c, s->data + 8, s->len - 8);
    vt_load_fails(&b.m, c, "appears twice");
    g_byte_array_free(c, TRUE);
    io_machine_fini(&b.m, &b.io);
    io_machine_fini(&a.m, &a.io);
}

static void test_devices_bad_state_resets_device(void)
{
    DevMachine a, b;
    g_autoptr(GByteArray) s = NULL;

    dm_init(&a, 2, NULL);
    a.dev[0]->value = 5;
    a.dev[1]->value = 6;
    s = vt_save(&a.m);
    vt_patch(s, vt_find(s, "vmstate-testdev", 1, "idx"), 1, 200);

    dm_init(&b, 2, NULL);
    b.dev[1]->value = 99;
    int resets = b.dev[1]->resets;
    vt_load_fails(&b.m, s, "'vmstate-testdev' instance 1: vmstate-testdev: "
                  "invalid state: idx 200 out of range");
    /* a device that failed half-way is back at power-on, not half-loaded */
    g_assert_cmpint(b.dev[1]->resets, ==, resets + 1);
    g_assert_cmpuint(b.dev[1]->idx, ==, 0);
    g_assert_cmpuint(b.dev[1]->value, ==, 0);
    g_assert_cmpuint(b.dev[0]->value, ==, 5);

    /* a section with bytes its description does not use */
    g_autoptr(GByteArray) t = vt_save(&a.m);
    size_t len_at = vt_find(t, "vmstate-testdev", 0, "value") - 4 - 4;
    size_t end = vt_find(t, "vmstate-testdev", 0, "idx") + 2;
    vt_patch(t, len_at, 4, vt_be(t->data + len_at, 4) + 1);
    g_autoptr(GByteArray) u = g_byte_array_new();
    g_byte_array_append(u, t->data, end);
    vmstate_put_u8(u, 0);
    g_byte_array_append(u, t->data + end, t->len - end);
    vt_load_fails(&b.m, u, "1 bytes left after the state");
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

static void test_devices_long_id(void)
{
    DevMachine a;
    g_autofree char *id = g_strnfill(300, 'x');
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *err = NULL;

    dm_init(&a, 2, id);
    g_assert_false(vmstate_save_devices(&a.m, out, &err));
    g_assert_nonnull(strstr(err->message, "longer than the 255 bytes"));
    g_error_free(err);
    io_machine_fini(&a.m, &a.io);
}

static void test_devices_truncated(void)
{
    DevMachine a, b;
    g_autoptr(GByteArray) s = NULL;

    dm_init(&a, 2, "second");
    dm_init(&b, 2, "second");
    s = vt_save(&a.m);
    for (guint len = 0; len < s->len; len++) {
        GError *err = NULL;
        g_assert_false(vmstate_load_devices(&b.m, s->data, len, &err));
        g_assert_nonnull(strstr(err->message, "truncated"));
        g_error_free(err);
    }
    io_machine_fini(&a.m, &a.io);
    io_machine_fini(&b.m, &b.io);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/round-trip-every-kind",
                    test_round_trip_every_kind);
    g_test_add_func("/vmstate/wire-format", test_wire_format);
    g_test_add_func("/vmstate/versions-old-to-new", test_versions);
    g_test_add_func("/vmstate/subsections", test_subsections);
    g_test_add_func("/vmstate/truncated-streams", test_truncated_streams);
    g_test_add_func("/vmstate/corrupt-streams-never-crash",
                    test_corrupt_streams_never_crash);
    g_test_add_func("/vmstate/vbuffer-over-maximum",
                    test_vbuffer_over_maximum);
    g_test_add_func("/vmstate/bad-bool", test_bad_bool);
    g_test_add_func("/vmstate/hooks", test_hooks);
    g_test_add_func("/vmstate/check-descriptions", test_check_descriptions);
    g_test_add_func("/vmstate/dump-json", test_dump_json);
    g_test_add_func("/vmstate/devices/round-trip", test_devices_round_trip);
    g_test_add_func("/vmstate/devices/mismatch", test_devices_mismatch);
    g_test_add_func("/vmstate/devices/bad-state-resets-device",
                    test_devices_bad_state_resets_device);
    g_test_add_func("/vmstate/devices/truncated", test_devices_truncated);
    g_test_add_func("/vmstate/devices/long-id", test_devices_long_id);
    return g_test_run();
}
