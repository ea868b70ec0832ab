/*
 * Device state descriptions for snapshots and migration ("vmstate"), in the
 * spirit of QEMU's VMStateDescription at a fraction of its size: a device
 * class names the fields of its state struct once, and this code turns them
 * into a byte stream and back, checking every value the stream supplies.
 *
 * A description (VMStateDescription) has a name, a version and the oldest
 * version it can still load, a list of fields, optional hooks and optional
 * subsections. Each field records the version it appeared in: loading an
 * older stream leaves the newer fields as they were (the device's reset
 * values on a fresh machine). A subsection is a description of its own that
 * is saved only while its needed() says so; an absent subsection leaves its
 * fields alone. The incoming stream is hostile: every length is checked
 * against its maximum, bools must be 0 or 1, and post_load must reject any
 * value that indexes or sizes something before the device uses it.
 *
 * Wire format (all integers big-endian; str = u8 length + bytes, no NUL):
 *
 *   stream    := "VMST" u32:format(1) section* u8:0
 *   section   := u8:1 str:class u32:instance str:id u32:length state
 *                (instance: index among the machine's devices of that class
 *                 in creation order; id: -device id= or ""; length: bytes
 *                 of state)
 *   state     := u32:version payload
 *   payload   := field* (subsection)* u8:0
 *                (the fields whose version_id <= version, in list order)
 *   subsection:= u8:1 str:name state
 *
 *   field encodings:
 *     uint8/16/32/64, int32/64   1/2/4/8 bytes, two's complement
 *     bool                       1 byte, 0 or 1
 *     arrays of those            the elements in order (count not sent)
 *     buffer                     its bytes (fixed size)
 *     vbuffer                    u32 length, then length bytes
 *     struct, struct array       one state per element (its own version)
 *     custom                     whatever the field's VMStateInfo writes
 *
 * Host-side things (pointers to chardevs, timers, IRQ lines, memory
 * regions) are not state; timer deadlines are, as CLK_VIRTUAL nanoseconds,
 * and post_load re-arms the timers and re-drives the IRQ lines.
 */
#ifndef MIGRATION_VMSTATE_H
#define MIGRATION_VMSTATE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Machine Machine;
typedef struct VMStateDescription VMStateDescription;
typedef struct VMStateField VMStateField;
typedef struct VMStateInfo VMStateInfo;

typedef enum VMStateKind {
    VMS_UINT8,
    VMS_UINT16,
    VMS_UINT32,
    VMS_UINT64,
    VMS_INT32,
    VMS_INT64,
    VMS_BOOL,
    VMS_BUFFER,     /* fixed number of bytes */
    VMS_VBUFFER,    /* bytes counted by another field, up to max */
    VMS_STRUCT,     /* a nested description, or an array of them */
    VMS_CUSTOM,     /* VMStateInfo callbacks */
} VMStateKind;

/* A cursor over incoming bytes; reads past len fail with an error. */
typedef struct VMStateReader {
    const uint8_t *data;
    size_t len;
    size_t pos;
} VMStateReader;

/*
 * A field whose encoding no kind above covers (state spread over other
 * objects, such as the LAPIC of each vCPU). opaque is the described struct
 * plus the field's offset. vmsd, if set, describes what it saves for
 * -dump-vmstate.
 */
struct VMStateInfo {
    const char *name;
    bool (*save)(GByteArray *out, void *opaque, GError **errp);
    bool (*load)(VMStateReader *in, void *opaque, GError **errp);
    const VMStateDescription *vmsd;
};

struct VMStateField {
    const char *name;           /* NULL ends the list */
    VMStateKind kind;
    size_t offset;              /* in the described struct */
    size_t size;                /* one element: 1-8, buffer bytes, struct */
    uint32_t num;               /* elements; 1 for a single value */
    int version_id;             /* the version the field appeared in */
    bool pointer;               /* VMS_STRUCT: the member points to it */
    const VMStateDescription *vmsd;    /* VMS_STRUCT */
    const VMStateInfo *info;           /* VMS_CUSTOM */
    /* VMS_VBUFFER: the unsigned member holding the length, and the most
     * bytes the buffer takes (checked on load) */
    const char *len_name;
    size_t len_offset;
    size_t len_size;
    uint32_t max;
};

struct VMStateDescription {
    const char *name;
    int version_id;             /* what save writes, >= 1 */
    int minimum_version_id;     /* the oldest version load accepts */
    const VMStateField *fields; /* ends with VMSTATE_END_OF_LIST() */
    /* Before the fields are written (sync state kept elsewhere). */
    bool (*pre_save)(void *opaque, GError **errp);
    /* Before the fields are read (defaults for fields old streams lack). */
    bool (*pre_load)(void *opaque, GError **errp);
    /*
     * After the fields and subsections were read: check every invariant
     * the device's code relies on, then rebuild derived and host-side
     * state (IRQ levels, timers). Returning false must leave nothing
     * changed outside the struct. version_id is the stream's.
     */
    bool (*post_load)(void *opaque, int version_id, GError **errp);
    /* Subsections only: whether to save it; NULL: always. */
    bool (*needed)(void *opaque);
    const VMStateDescription *const *subsections;  /* NULL-terminated */
};

/* ---- field macros (st: the struct type, f: the member) ---- */

/* 0, and a compile error unless member f of st has type t. */
#define VMS_TYPE_CHECK(t, st, f)                                            \
    (sizeof(char[__builtin_types_compatible_p(t, __typeof__(((st *)0)->f))  \
                 ? 1 : -1]) - 1)
/* 0, and a compile error unless f is an array of t. */
#define VMS_ARRAY_CHECK(t, st, f)                                           \
    (sizeof(char[(__builtin_types_compatible_p(                             \
                     t, __typeof__(((st *)0)->f[0])) &&                     \
                 !__builtin_types_compatible_p(                             \
                     __typeof__(((st *)0)->f),                              \
                     __typeof__(&((st *)0)->f[0]))) ? 1 : -1]) - 1)
#define VMS_ARRAY_LEN(st, f)                                                \
    (sizeof(((st *)0)->f) / sizeof(((st *)0)->f[0]))

#define VMSTATE_SCALAR_V(f, st, v, k, t) {                                  \
    .name = #f, .kind = k, .offset = offsetof(st, f) + VMS_TYPE_CHECK(t, st, f), \
    .size = sizeof(t), .num = 1, .version_id = v }
#define VMSTATE_ARRAY_V(f, st, v, k, t) {                                   \
    .name = #f, .kind = k,                                                  \
    .offset = offsetof(st, f) + VMS_ARRAY_CHECK(t, st, f),                  \
    .size = sizeof(t), .num = VMS_ARRAY_LEN(st, f), .version_id = v }

#define VMSTATE_UINT8_V(f, st, v)  VMSTATE_SCALAR_V(f, st, v, VMS_UINT8, uint8_t)
#define VMSTATE_UINT16_V(f, st, v) VMSTATE_SCALAR_V(f, st, v, VMS_UINT16, uint16_t)
#define VMSTATE_UINT32_V(f, st, v) VMSTATE_SCALAR_V(f, st, v, VMS_UINT32, uint32_t)
#define VMSTATE_UINT64_V(f, st, v) VMSTATE_SCALAR_V(f, st, v, VMS_UINT64, uint64_t)
#define VMSTATE_INT32_V(f, st, v)  VMSTATE_SCALAR_V(f, st, v, VMS_INT32, int32_t)
#define VMSTATE_INT64_V(f, st, v)  VMSTATE_SCALAR_V(f, st, v, VMS_INT64, int64_t)
#define VMSTATE_BOOL_V(f, st, v)   VMSTATE_SCALAR_V(f, st, v, VMS_BOOL, bool)
#define VMSTATE_UINT8(f, st)  VMSTATE_UINT8_V(f, st, 1)
#define VMSTATE_UINT16(f, st) VMSTATE_UINT16_V(f, st, 1)
#define VMSTATE_UINT32(f, st) VMSTATE_UINT32_V(f, st, 1)
#define VMSTATE_UINT64(f, st) VMSTATE_UINT64_V(f, st, 1)
#define VMSTATE_INT32(f, st)  VMSTATE_INT32_V(f, st, 1)
#define VMSTATE_INT64(f, st)  VMSTATE_INT64_V(f, st, 1)
#define VMSTATE_BOOL(f, st)   VMSTATE_BOOL_V(f, st, 1)

/* Fixed arrays: the element count is the member's. */
#define VMSTATE_UINT8_ARRAY_V(f, st, v)  VMSTATE_ARRAY_V(f, st, v, VMS_UINT8, uint8_t)
#define VMSTATE_UINT16_ARRAY_V(f, st, v) VMSTATE_ARRAY_V(f, st, v, VMS_UINT16, uint16_t)
#define VMSTATE_UINT32_ARRAY_V(f, st, v) VMSTATE_ARRAY_V(f, st, v, VMS_UINT32, uint32_t)
#define VMSTATE_UINT64_ARRAY_V(f, st, v) VMSTATE_ARRAY_V(f, st, v, VMS_UINT64, uint64_t)
#define VMSTATE_INT32_ARRAY_V(f, st, v)  VMSTATE_ARRAY_V(f, st, v, VMS_INT32, int32_t)
#define VMSTATE_INT64_ARRAY_V(f, st, v)  VMSTATE_ARRAY_V(f, st, v, VMS_INT64, int64_t)
#define VMSTATE_BOOL_ARRAY_V(f, st, v)   VMSTATE_ARRAY_V(f, st, v, VMS_BOOL, bool)
#define VMSTATE_UINT8_ARRAY(f, st)  VMSTATE_UINT8_ARRAY_V(f, st, 1)
#define VMSTATE_UINT16_ARRAY(f, st) VMSTATE_UINT16_ARRAY_V(f, st, 1)
#define VMSTATE_UINT32_ARRAY(f, st) VMSTATE_UINT32_ARRAY_V(f, st, 1)
#define VMSTATE_UINT64_ARRAY(f, st) VMSTATE_UINT64_ARRAY_V(f, st, 1)
#define VMSTATE_INT32_ARRAY(f, st)  VMSTATE_INT32_ARRAY_V(f, st, 1)
#define VMSTATE_INT64_ARRAY(f, st)  VMSTATE_INT64_ARRAY_V(f, st, 1)
#define VMSTATE_BOOL_ARRAY(f, st)   VMSTATE_BOOL_ARRAY_V(f, st, 1)

/* A uint8_t array member saved whole. */
#define VMSTATE_BUFFER_V(f, st, v) {                                        \
    .name = #f, .kind = VMS_BUFFER,                                         \
    .offset = offsetof(st, f) + VMS_ARRAY_CHECK(uint8_t, st, f),            \
    .size = sizeof(((st *)0)->f), .num = 1, .version_id = v }
#define VMSTATE_BUFFER(f, st) VMSTATE_BUFFER_V(f, st, 1)

/*
 * The first lenf bytes of the uint8_t array member f; lenf is an unsigned
 * member (1-8 bytes) that load sets, after checking the length against max
 * (at most the array's size). Don't list lenf as a field of its own.
 */
#define VMSTATE_VBUFFER_MAX_V(f, st, lenf, max_, v) {                       \
    .name = #f, .kind = VMS_VBUFFER,                                        \
    .offset = offsetof(st, f) + VMS_ARRAY_CHECK(uint8_t, st, f) +           \
              sizeof(char[(max_) <= sizeof(((st *)0)->f) &&                 \
                          (__typeof__(((st *)0)->lenf))-1 > 0 ? 1 : -1]) - 1, \
    .size = 1, .num = 1, .version_id = v, .len_name = #lenf,               \
    .len_offset = offsetof(st, lenf), .len_size = sizeof(((st *)0)->lenf),  \
    .max = (max_) }
#define VMSTATE_VBUFFER_V(f, st, lenf, v)                                   \
    VMSTATE_VBUFFER_MAX_V(f, st, lenf, sizeof(((st *)0)->f), v)
#define VMSTATE_VBUFFER(f, st, lenf) VMSTATE_VBUFFER_V(f, st, lenf, 1)

/*
 * A member of struct type t described by vmsd_; arrays of them; or a
 * member that points to one (t *, never NULL while the device exists; t
 * may be an incomplete type there).
 */
#define VMSTATE_STRUCT_V(f, st, vmsd_, t, v) {                              \
    .name = #f, .kind = VMS_STRUCT,                                         \
    .offset = offsetof(st, f) + VMS_TYPE_CHECK(t, st, f),                   \
    .size = sizeof(t), .num = 1, .version_id = v, .vmsd = &(vmsd_) }
#define VMSTATE_STRUCT_ARRAY_V(f, st, vmsd_, t, v) {                        \
    .name = #f, .kind = VMS_STRUCT,                                         \
    .offset = offsetof(st, f) + VMS_ARRAY_CHECK(t, st, f),                  \
    .size = sizeof(t), .num = VMS_ARRAY_LEN(st, f), .version_id = v,        \
    .vmsd = &(vmsd_) }
#define VMSTATE_STRUCT_POINTER_V(f, st, vmsd_, t, v) {                      \
    .name = #f, .kind = VMS_STRUCT,                                         \
    .offset = offsetof(st, f) + VMS_TYPE_CHECK(t *, st, f),                 \
    .size = 0, .num = 1, .version_id = v, .pointer = true,                  \
    .vmsd = &(vmsd_) }
#define VMSTATE_STRUCT(f, st, vmsd_, t) VMSTATE_STRUCT_V(f, st, vmsd_, t, 1)
#define VMSTATE_STRUCT_ARRAY(f, st, vmsd_, t)                               \
    VMSTATE_STRUCT_ARRAY_V(f, st, vmsd_, t, 1)
#define VMSTATE_STRUCT_POINTER(f, st, vmsd_, t)                             \
    VMSTATE_STRUCT_POINTER_V(f, st, vmsd_, t, 1)

/* A field with its own encoding; info_ gets the whole struct. */
#define VMSTATE_CUSTOM_V(name_, info_, v) {                                 \
    .name = name_, .kind = VMS_CUSTOM, .num = 1, .version_id = v,           \
    .info = &(info_) }
#define VMSTATE_CUSTOM(name_, info_) VMSTATE_CUSTOM_V(name_, info_, 1)

#define VMSTATE_END_OF_LIST() { .name = NULL }

/* ---- saving and loading ---- */

/* Big-endian writers for VMStateInfo.save. */
void vmstate_put_u8(GByteArray *out, uint8_t v);
void vmstate_put_u16(GByteArray *out, uint16_t v);
void vmstate_put_u32(GByteArray *out, uint32_t v);
void vmstate_put_u64(GByteArray *out, uint64_t v);
/* Readers for VMStateInfo.load: false with "truncated" if bytes run out. */
bool vmstate_get_u8(VMStateReader *in, uint8_t *v, GError **errp);
bool vmstate_get_u16(VMStateReader *in, uint16_t *v, GError **errp);
bool vmstate_get_u32(VMStateReader *in, uint32_t *v, GError **errp);
bool vmstate_get_u64(VMStateReader *in, uint64_t *v, GError **errp);
bool vmstate_get_bytes(VMStateReader *in, void *buf, size_t n, GError **errp);

/* Appends the state (version + payload) of opaque as vmsd describes it. */
bool vmstate_save_state(GByteArray *out, const VMStateDescription *vmsd,
                        void *opaque, GError **errp);
/*
 * Reads a state written by vmstate_save_state into opaque. On error the
 * message names the description and field; opaque may be partly written
 * (vmstate_load_devices resets such a device).
 */
bool vmstate_load_state(VMStateReader *in, const VMStateDescription *vmsd,
                        void *opaque, GError **errp);

/*
 * Appends the stream of every device of m whose class has a vmsd, in
 * m->devices order. Devices without one have no state to save. Call with
 * the big lock held and the vCPUs stopped, as for the load below.
 */
bool vmstate_save_devices(Machine *m, GByteArray *out, GError **errp);
/*
 * Loads a stream from vmstate_save_devices into the devices of m, matched
 * by class name, instance number and id. The whole stream is checked for
 * matching devices (each device with a vmsd has exactly one section, every
 * section names a device here) before any device is touched. A section
 * that then fails to load resets its device and stops the load; devices
 * loaded before it keep their new state, so the caller resets the machine
 * (or does not start it) after an error.
 */
bool vmstate_load_devices(Machine *m, const uint8_t *data, size_t len,
                          GError **errp);

/*
 * Checks a description for mistakes its macros cannot catch (names,
 * versions, subsections, vbuffer lengths); for tests.
 */
bool vmstate_check_description(const VMStateDescription *vmsd,
                               GError **errp);

/*
 * QEMU's -dump-vmstate: a JSON object with, for every device class that
 * has a vmsd, its name, versions and description (fields with kind, size,
 * element count, version; nested descriptions; subsections).
 */
char *vmstate_dump_json(void);
bool vmstate_dump_json_file(const char *path, GError **errp);

#endif
