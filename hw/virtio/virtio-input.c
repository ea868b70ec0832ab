/*
 * virtio input device core (virtio 1.2 section 5.8): the configuration
 * space the driver walks with select/subsel, the event queue (device to
 * driver, one struct virtio_input_event per buffer) and the status queue
 * (driver to device, LED changes). The kinds of device are in
 * virtio-input-hid.c.
 */
#include <string.h>

#include "hw/i386/x86.h"
#include "hw/virtio/virtio-input.h"
#include "migration/vmstate.h"
#include "util/le.h"
#include "util/log.h"
#include "util/opts.h"

#define INPUT_QUEUE_SIZE        64
#define EVENTQ                  0
#define STATUSQ                 1
#define EVT                     VIRTIO_INPUT_EVENT_SIZE
#define QUEUE_BYTES             (VIRTIO_INPUT_QUEUE_EVENTS * EVT)

/* ---- configuration space (5.8.4, 5.8.6.1) ---- */

static VirtIOInputConfig *config_find(VirtIOInput *vi, uint8_t select,
                                      uint8_t subsel)
{
    for (unsigned i = 0; i < vi->ncfg; i++) {
        if (vi->cfg[i].select == select && vi->cfg[i].subsel == subsel) {
            return &vi->cfg[i];
        }
    }
    return NULL;
}

/* The answer for (select, subsel), made empty if there was none. */
static VirtIOInputConfig *config_get(VirtIOInput *vi, uint8_t select,
                                     uint8_t subsel)
{
    VirtIOInputConfig *c = config_find(vi, select, subsel);

    if (!c) {
        /* the device kinds add a fixed handful */
        g_assert(vi->ncfg < VIRTIO_INPUT_MAX_CONFIGS);
        c = &vi->cfg[vi->ncfg++];
        memset(c, 0, sizeof(*c));
        c->select = select;
        c->subsel = subsel;
    }
    return c;
}

void virtio_input_config_add(VirtIOInput *vi, uint8_t select, uint8_t subsel,
                             const void *data, uint8_t size)
{
    VirtIOInputConfig *c = config_get(vi, select, subsel);

    g_assert(size <= VIRTIO_INPUT_CFG_U_SIZE);
    memset(c->u, 0, sizeof(c->u));
    memcpy(c->u, data, size);
    c->size = size;
}

/* Strings are not NUL-terminated in the space: size says how long. */
void virtio_input_config_string(VirtIOInput *vi, uint8_t select,
                                const char *s)
{
    size_t len = MIN(strlen(s), VIRTIO_INPUT_CFG_U_SIZE);

    virtio_input_config_add(vi, select, 0, s, len);
}

/* A bitmap's size is the bytes up to its last set bit (5.8.6.1). */
void virtio_input_config_set_bit(VirtIOInput *vi, uint8_t select,
                                 uint8_t subsel, unsigned bit)
{
    VirtIOInputConfig *c = config_get(vi, select, subsel);

    g_assert(bit < VIRTIO_INPUT_CFG_U_SIZE * 8);
    c->u[bit / 8] |= 1u << (bit % 8);
    c->size = MAX(c->size, bit / 8 + 1);
}

/* struct virtio_input_absinfo: le32 min, max, fuzz, flat, res */
void virtio_input_config_abs(VirtIOInput *vi, uint16_t axis, int32_t min,
                             int32_t max)
{
    uint8_t abs[20] = { 0 };

    st32(abs, min);
    st32(abs + 4, max);
    virtio_input_config_add(vi, VIRTIO_INPUT_CFG_ABS_INFO, axis, abs,
                            sizeof(abs));
}

/* struct virtio_input_devids: le16 bustype, vendor, product, version */
void virtio_input_config_ids(VirtIOInput *vi, uint16_t bustype,
                             uint16_t vendor, uint16_t product,
                             uint16_t version)
{
    uint8_t ids[8];

    st16(ids, bustype);
    st16(ids + 2, vendor);
    st16(ids + 4, product);
    st16(ids + 6, version);
    virtio_input_config_add(vi, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, ids,
                            sizeof(ids));
}

/*
 * Only select and subsel are the driver's to write; everything else is
 * rebuilt from them here before each access, so writes elsewhere vanish.
 * A selection the device has no answer for reads as size 0 (5.8.6.1).
 */
static void input_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIOInput *vi = (VirtIOInput *)vdev;
    VirtIOInputConfig *c = config_find(vi, vi->select, vi->subsel);

    memset(config, 0, VIRTIO_INPUT_CONFIG_SIZE);
    config[VIRTIO_INPUT_CFG_SELECT] = vi->select;
    config[VIRTIO_INPUT_CFG_SUBSEL] = vi->subsel;
    if (c && vi->select != VIRTIO_INPUT_CFG_UNSET) {
        config[VIRTIO_INPUT_CFG_SIZE] = c->size;
        memcpy(config + VIRTIO_INPUT_CFG_U, c->u, c->size);
    }
}

static void input_set_config(VirtIODevice *vdev, const uint8_t *config)
{
    VirtIOInput *vi = (VirtIOInput *)vdev;

    vi->select = config[VIRTIO_INPUT_CFG_SELECT];
    vi->subsel = config[VIRTIO_INPUT_CFG_SUBSEL];
}

/* ---- the event queue ---- */

/*
 * How many buffers the driver has made available and we have not taken.
 * Read through the bounds-checked RAM lookup; for a ring outside RAM it
 * says "plenty", so that virtq_pop finds and reports the broken ring.
 */
static unsigned eventq_avail(VirtIOInput *vi)
{
    VirtQueue *vq = &vi->vdev.vq[EVENTQ];
    uint8_t *idx;

    if (!vq->ready || vi->vdev.broken) {
        return 0;
    }
    idx = address_space_ram_ptr(vi->vdev.dma_as, vq->avail + 2, 2, false);
    if (!idx) {
        return vq->num;
    }
    return (uint16_t)(ld16(idx) - vq->last_avail_idx);
}

/* Bytes of the first complete group (up to and including its EV_SYN). */
static uint32_t first_group_len(VirtIOInput *vi)
{
    for (uint32_t off = 0; off < vi->complete_len; off += EVT) {
        if (vi->pending[off] == EV_SYN && vi->pending[off + 1] == 0) {
            return off + EVT;
        }
    }
    return vi->complete_len;    /* not reached: complete ends in EV_SYN */
}

static void queue_drop_front(VirtIOInput *vi, uint32_t len)
{
    memmove(vi->pending, vi->pending + len, vi->pending_len - len);
    vi->pending_len -= len;
    vi->complete_len -= len;
}

/*
 * Hands complete groups to the driver, each only when it has given
 * buffers for all of its events, one event per buffer. A group that needs
 * more buffers than the ring holds could never go: it is dropped.
 */
static void eventq_flush(VirtIOInput *vi)
{
    VirtQueue *vq = &vi->vdev.vq[EVENTQ];
    bool pushed = false;

    while (vi->complete_len) {
        uint32_t len = first_group_len(vi);
        unsigned n = len / EVT;
        if (vq->ready && n > vq->num) {
            queue_drop_front(vi, len);
            continue;
        }
        if (eventq_avail(vi) < n) {
            break;
        }
        for (unsigned i = 0; i < n; i++) {
            VirtQueueElement *elem = virtq_pop(vq);
            if (!elem) {
                break;      /* the ring is broken: NEEDS_RESET is set */
            }
            size_t done = virtq_elem_fill(elem, 0, vi->pending + i * EVT,
                                          EVT);
            if (done < EVT) {
                log_guest_error("virtio-input: event buffer of %zu bytes, "
                                "needs %d\n", elem->in_len, EVT);
            }
            virtq_push(vq, elem, done);
            g_free(elem);
            pushed = true;
        }
        queue_drop_front(vi, len);
        if (vi->vdev.broken) {
            break;
        }
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

/* Makes room for one event: the oldest complete group goes. */
static bool queue_make_room(VirtIOInput *vi, bool is_syn)
{
    /* the last slot is kept for the EV_SYN that ends a group */
    uint32_t limit = is_syn ? QUEUE_BYTES : QUEUE_BYTES - EVT;

    while (vi->pending_len + EVT > limit && vi->complete_len) {
        uint32_t len = first_group_len(vi);
        queue_drop_front(vi, len);
    }
    return vi->pending_len + EVT <= limit;
}

void virtio_input_send(VirtIOInput *vi, uint16_t type, uint16_t code,
                       uint32_t value)
{
    bool is_syn = type == EV_SYN;
    uint8_t *e;

    if (!vi->active) {
        return;
    }
    if (is_syn && vi->pending_len == vi->complete_len) {
        return;     /* an empty group: a key Linux has no code for */
    }
    if (!queue_make_room(vi, is_syn)) {
        log_error_once("virtio-input: event queue full, dropping events");
        return;
    }
    e = vi->pending + vi->pending_len;
    st16(e, type);
    st16(e + 2, code);
    st32(e + 4, value);
    vi->pending_len += EVT;
    if (is_syn) {
        vi->complete_len = vi->pending_len;
        eventq_flush(vi);
    }
}

/* ---- the status queue ---- */

/* Each buffer the driver sends carries one event (5.8.6.2). */
static void statusq_process(VirtIOInput *vi, VirtQueue *vq)
{
    VirtQueueElement *elem;
    bool pushed = false;

    while ((elem = virtq_pop(vq))) {
        uint8_t ev[EVT];
        if (virtq_elem_read(elem, 0, ev, EVT) == EVT) {
            if (vi->handle_status) {
                vi->handle_status(vi, ld16(ev), ld16(ev + 2),
                                  ld32(ev + 4));
            }
        } else {
            log_guest_error("virtio-input: status buffer of %zu bytes, "
                            "needs %d\n", elem->out_len, EVT);
        }
        virtq_push(vq, elem, 0);
        g_free(elem);
        pushed = true;
    }
    if (pushed) {
        virtq_notify(vq);
    }
}

static void input_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOInput *vi = (VirtIOInput *)vdev;

    if (vq->index == EVENTQ) {
        eventq_flush(vi);
    } else {
        statusq_process(vi, vq);
    }
}

/* ---- status ---- */

static void set_active(VirtIOInput *vi, bool active)
{
    if (vi->active == active) {
        return;
    }
    vi->active = active;
    if (!active) {
        vi->pending_len = vi->complete_len = 0;
    }
    if (vi->change_active) {
        vi->change_active(vi, active);
    }
}

static void input_set_status(VirtIODevice *vdev, uint8_t status)
{
    set_active((VirtIOInput *)vdev, status & VIRTIO_CONFIG_S_DRIVER_OK);
}

static void input_reset(VirtIODevice *vdev)
{
    VirtIOInput *vi = (VirtIOInput *)vdev;

    set_active(vi, false);
    vi->select = vi->subsel = 0;
}

static const VirtioDeviceOps virtio_input_ops = {
    .device_id = VIRTIO_ID_INPUT,
    .config_size = VIRTIO_INPUT_CONFIG_SIZE,
    .num_queues = 2,
    .queue_max_size = INPUT_QUEUE_SIZE,
    .get_config = input_get_config,
    .set_config = input_set_config,
    .handle_queue = input_handle_queue,
    .set_status = input_set_status,
    .reset = input_reset,
};

void virtio_input_init(VirtIOInput *vi, Machine *m, const char *name)
{
    virtio_init(&vi->vdev, &virtio_input_ops, name, &m->as_mem);
    if (vi->serial && *vi->serial) {
        virtio_input_config_string(vi, VIRTIO_INPUT_CFG_ID_SERIAL,
                                   vi->serial);
    }
}

void virtio_input_fini(VirtIOInput *vi)
{
    virtio_cleanup(&vi->vdev);
}

/* ---- migration ---- */

static bool input_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIOInput *vi = opaque;
    bool active = vi->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK;

    if (vi->pending_len % EVT || vi->complete_len % EVT ||
        vi->complete_len > vi->pending_len) {
        g_set_error(errp, VIREO_ERROR, 0, "event queue of %u bytes with %u "
                    "complete is not whole events", vi->pending_len,
                    vi->complete_len);
        return false;
    }
    if (vi->complete_len &&
        !(vi->pending[vi->complete_len - EVT] == EV_SYN &&
          vi->pending[vi->complete_len - EVT + 1] == 0)) {
        g_set_error(errp, VIREO_ERROR, 0, "event queue's complete part does "
                    "not end with EV_SYN");
        return false;
    }
    if (vi->pending_len && !active) {
        g_set_error(errp, VIREO_ERROR, 0, "events queued for a driver that "
                    "is not ready");
        return false;
    }
    /* the device kind puts its input handler in place (change_active) */
    vi->active = active;
    return true;
}

static const VMStateField virtio_input_fields[] = {
    VMSTATE_UINT8(select, VirtIOInput),
    VMSTATE_UINT8(subsel, VirtIOInput),
    VMSTATE_VBUFFER(pending, VirtIOInput, pending_len),
    VMSTATE_UINT32(complete_len, VirtIOInput),
    VMSTATE_END_OF_LIST(),
};

const VMStateDescription vmstate_virtio_input = {
    .name = "virtio-input",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = virtio_input_fields,
    .post_load = input_post_load,
};
