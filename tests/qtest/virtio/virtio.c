/*
 * The transport-independent half of the qtest virtio driver: status and
 * feature negotiation (virtio 1.2 3.1.1) and split virtqueues (2.7) laid
 * out in guest memory through qtest reads and writes.
 */
#include <string.h>

#include "virtio.h"

/* Offsets in the split ring areas (2.7.6, 2.7.8) */
#define AVAIL_FLAGS     0
#define AVAIL_IDX       2
#define AVAIL_RING      4
#define USED_FLAGS      0
#define USED_IDX        2
#define USED_RING       4
#define USED_ELEM_SIZE  8

void qvirtio_device_free(QVirtioDevice *d)
{
    if (d) {
        g_free(d->pdev);
        g_free(d);
    }
}

/* --- status and features --- */

uint8_t qvirtio_get_status(QVirtioDevice *d)
{
    return d->bus->get_status(d);
}

void qvirtio_set_status(QVirtioDevice *d, uint8_t status)
{
    d->bus->set_status(d, status);
}

/* 2.4.1: the device is reset once status reads back 0. */
void qvirtio_reset(QVirtioDevice *d)
{
    qvirtio_set_status(d, 0);
    g_assert_cmphex(qvirtio_get_status(d), ==, 0);
    d->features = 0;
}

static void add_status(QVirtioDevice *d, uint8_t bits)
{
    qvirtio_set_status(d, qvirtio_get_status(d) | bits);
}

void qvirtio_set_acknowledge(QVirtioDevice *d)
{
    add_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    g_assert_cmphex(qvirtio_get_status(d), ==, VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

void qvirtio_set_driver(QVirtioDevice *d)
{
    add_status(d, VIRTIO_CONFIG_S_DRIVER);
    g_assert_cmphex(qvirtio_get_status(d), ==,
                    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
}

bool qvirtio_set_features_ok(QVirtioDevice *d)
{
    add_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
    return qvirtio_get_status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

void qvirtio_set_features_ok_checked(QVirtioDevice *d)
{
    g_assert_true(qvirtio_set_features_ok(d));
}

void qvirtio_set_driver_ok(QVirtioDevice *d)
{
    add_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert_cmphex(qvirtio_get_status(d), ==,
                    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

uint64_t qvirtio_get_features(QVirtioDevice *d)
{
    return d->bus->get_features(d);
}

void qvirtio_set_features(QVirtioDevice *d, uint64_t features)
{
    d->features = features;
    d->bus->set_features(d, features);
}

uint64_t qvirtio_get_guest_features(QVirtioDevice *d)
{
    return d->bus->get_guest_features(d);
}

uint32_t qvirtio_get_config_generation(QVirtioDevice *d)
{
    return d->bus->get_config_generation(d);
}

bool qvirtio_needs_reset(QVirtioDevice *d)
{
    return qvirtio_get_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

uint64_t qvirtio_start_device(QVirtioDevice *d, uint64_t wanted)
{
    uint64_t offered, accepted;

    qvirtio_reset(d);
    qvirtio_set_acknowledge(d);
    qvirtio_set_driver(d);
    offered = qvirtio_get_features(d);
    g_assert_true(offered & (1ULL << VIRTIO_F_VERSION_1));
    accepted = (offered & wanted) | (1ULL << VIRTIO_F_VERSION_1);
    qvirtio_set_features(d, accepted);
    qvirtio_set_features_ok_checked(d);
    return accepted;
}

/* --- configuration space (2.5), little-endian in virtio 1.x --- */

uint8_t qvirtio_config_readb(QVirtioDevice *d, uint64_t off)
{
    return d->bus->config_readb(d, off);
}

uint16_t qvirtio_config_readw(QVirtioDevice *d, uint64_t off)
{
    return d->bus->config_readw(d, off);
}

uint32_t qvirtio_config_readl(QVirtioDevice *d, uint64_t off)
{
    return d->bus->config_readl(d, off);
}

/* 2.5.1: a 64-bit field is read in halves, retried across a change. */
uint64_t qvirtio_config_readq(QVirtioDevice *d, uint64_t off)
{
    uint32_t gen;
    uint64_t val;

    do {
        gen = qvirtio_get_config_generation(d);
        val = qvirtio_config_readl(d, off) |
              (uint64_t)qvirtio_config_readl(d, off + 4) << 32;
    } while (gen != qvirtio_get_config_generation(d));
    return val;
}

void qvirtio_config_writeb(QVirtioDevice *d, uint64_t off, uint8_t val)
{
    d->bus->config_writeb(d, off, val);
}

/* --- interrupts --- */

bool qvirtio_queue_isr(QVirtioDevice *d, QVirtQueue *vq)
{
    return d->bus->get_queue_isr_status(d, vq);
}

bool qvirtio_config_isr(QVirtioDevice *d)
{
    return d->bus->get_config_isr_status(d);
}

void qvirtio_wait_config_isr(QTestState *qts, QVirtioDevice *d,
                             int64_t timeout_us)
{
    int64_t end = g_get_monotonic_time() + timeout_us;

    while (!qvirtio_config_isr(d)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        qtest_clock_step(qts, 100);
    }
}

/* --- virtqueues --- */

uint16_t qvirtio_queue_max_size(QVirtioDevice *d, uint16_t index)
{
    d->bus->queue_select(d, index);
    return d->bus->get_queue_size(d);
}

/* Bytes of the three areas of a queue of size n (2.7), used page-aligned. */
static uint64_t ring_bytes(uint16_t n, uint64_t *used_off)
{
    uint64_t avail_end = VRING_DESC_SIZE * n + AVAIL_RING + 2 * n + 2;

    *used_off = (avail_end + 4095) & ~4095ULL;
    return *used_off + USED_RING + USED_ELEM_SIZE * n + 2;
}

QVirtQueue *qvirtqueue_setup_size(QVirtioDevice *d, QGuestAllocator *alloc,
                                  uint16_t index, uint16_t size)
{
    QVirtQueue *vq = g_new0(QVirtQueue, 1);
    uint16_t max = qvirtio_queue_max_size(d, index);
    uint64_t used_off, bytes;

    g_assert_cmpuint(max, !=, 0);   /* 0: the queue does not exist */
    g_assert_cmpuint(size, >=, 1);
    g_assert_cmpuint(size, <=, max);
    g_assert_false(d->bus->queue_ready(d));
    vq->vdev = d;
    vq->alloc = alloc;
    vq->index = index;
    vq->size = size;
    vq->indirect = d->features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    vq->event = d->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
    vq->msix_entry = VIRTIO_MSI_NO_VECTOR;
    bytes = ring_bytes(size, &used_off);
    vq->desc = guest_alloc(alloc, bytes);
    vq->avail = vq->desc + VRING_DESC_SIZE * size;
    vq->used = vq->desc + used_off;
    qtest_memset(d->qts, vq->desc, 0, bytes);

    d->bus->set_queue_size(d, size);
    d->bus->set_queue_address(d, vq);
    d->bus->queue_enable(d);
    g_assert_true(d->bus->queue_ready(d));
    return vq;
}

QVirtQueue *qvirtqueue_setup(QVirtioDevice *d, QGuestAllocator *alloc,
                             uint16_t index)
{
    return qvirtqueue_setup_size(d, alloc, index,
                                 qvirtio_queue_max_size(d, index));
}

void qvirtqueue_cleanup(QVirtQueue *vq)
{
    if (vq) {
        guest_free(vq->alloc, vq->desc);
        g_free(vq);
    }
}

void qvring_desc_write(QTestState *qts, uint64_t desc, uint16_t i,
                       uint64_t addr, uint32_t len, uint16_t flags,
                       uint16_t next)
{
    uint8_t d[VRING_DESC_SIZE];
    uint64_t a = GUINT64_TO_LE(addr);
    uint32_t l = GUINT32_TO_LE(len);
    uint16_t f = GUINT16_TO_LE(flags), n = GUINT16_TO_LE(next);

    memcpy(d, &a, 8);
    memcpy(d + 8, &l, 4);
    memcpy(d + 12, &f, 2);
    memcpy(d + 14, &n, 2);
    qtest_memwrite(qts, desc + (uint64_t)VRING_DESC_SIZE * i, d, sizeof(d));
}

uint32_t qvirtqueue_add(QTestState *qts, QVirtQueue *vq, uint64_t data,
                        uint32_t len, bool write, bool next)
{
    uint16_t i = vq->free_head;
    uint16_t following = (i + 1) % vq->size;
    uint16_t flags = (write ? VRING_DESC_F_WRITE : 0) |
                     (next ? VRING_DESC_F_NEXT : 0);

    qvring_desc_write(qts, vq->desc, i, data, len, flags,
                      next ? following : 0);
    vq->free_head = following;
    return i;
}

QVRingIndirectDesc *qvring_indirect_desc_setup(QTestState *qts,
                                               QVirtioDevice *d,
                                               QGuestAllocator *alloc,
                                               uint16_t elem)
{
    QVRingIndirectDesc *indirect = g_new0(QVRingIndirectDesc, 1);

    g_assert_cmpuint(elem, >, 0);
    indirect->elem = elem;
    indirect->desc = guest_alloc(alloc, (size_t)VRING_DESC_SIZE * elem);
    /* chained in order; the last one's NEXT is cleared when it is added */
    for (uint16_t i = 0; i < elem; i++) {
        qvring_desc_write(qts, indirect->desc, i, 0, 0, VRING_DESC_F_NEXT,
                          i + 1);
    }
    return indirect;
}

void qvring_indirect_desc_add(QTestState *qts, QVRingIndirectDesc *indirect,
                              uint64_t data, uint32_t len, bool write)
{
    uint16_t i = indirect->index;
    bool last = i + 1 == indirect->elem;

    g_assert_cmpuint(i, <, indirect->elem);
    qvring_desc_write(qts, indirect->desc, i, data, len,
                      (write ? VRING_DESC_F_WRITE : 0) |
                      (last ? 0 : VRING_DESC_F_NEXT),
                      last ? 0 : i + 1);
    indirect->index++;
}

void qvring_indirect_desc_free(QGuestAllocator *alloc,
                               QVRingIndirectDesc *indirect)
{
    guest_free(alloc, indirect->desc);
    g_free(indirect);
}

uint32_t qvirtqueue_add_indirect(QTestState *qts, QVirtQueue *vq,
                                 QVRingIndirectDesc *indirect)
{
    uint16_t i = vq->free_head;

    g_assert_true(vq->indirect);
    g_assert_cmpuint(indirect->index, ==, indirect->elem);
    qvring_desc_write(qts, vq->desc, i, indirect->desc,
                      (uint32_t)VRING_DESC_SIZE * indirect->elem,
                      VRING_DESC_F_INDIRECT, 0);
    vq->free_head = (i + 1) % vq->size;
    return i;
}

void qvirtqueue_set_avail_idx(QTestState *qts, QVirtQueue *vq, uint16_t idx)
{
    vq->avail_idx = idx;
    qtest_writew(qts, vq->avail + AVAIL_IDX, idx);
}

void qvirtqueue_publish(QTestState *qts, QVirtQueue *vq, uint32_t head)
{
    uint16_t slot = vq->avail_idx % vq->size;

    qtest_writew(qts, vq->avail + AVAIL_RING + 2 * slot, head);
    /* the entry is in memory before the index moves: qtest is in order */
    qvirtqueue_set_avail_idx(qts, vq, vq->avail_idx + 1);
}

void qvirtio_notify(QVirtioDevice *d, uint16_t index)
{
    d->bus->notify(d, index);
}

/* 2.7.10: with EVENT_IDX, whether the device's avail_event asks a kick. */
static bool device_wants_kick(QTestState *qts, QVirtQueue *vq,
                              uint16_t old_idx)
{
    uint16_t new_idx = vq->avail_idx;

    if (vq->event) {
        uint16_t event = qtest_readw(qts, vq->used + USED_RING +
                                          USED_ELEM_SIZE * vq->size);
        return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
    }
    return !(qtest_readw(qts, vq->used + USED_FLAGS) &
             VRING_USED_F_NO_NOTIFY);
}

void qvirtqueue_kick(QTestState *qts, QVirtioDevice *d, QVirtQueue *vq,
                     uint32_t free_head)
{
    uint16_t old_idx = vq->avail_idx;

    qvirtqueue_publish(qts, vq, free_head);
    if (device_wants_kick(qts, vq, old_idx)) {
        qvirtio_notify(d, vq->index);
    }
}

uint16_t qvirtqueue_used_idx(QTestState *qts, QVirtQueue *vq)
{
    return qtest_readw(qts, vq->used + USED_IDX);
}

bool qvirtqueue_get_buf(QTestState *qts, QVirtQueue *vq, uint32_t *desc_idx,
                        uint32_t *len)
{
    uint64_t elem;

    if (qvirtqueue_used_idx(qts, vq) == vq->last_used_idx) {
        return false;
    }
    elem = vq->used + USED_RING +
           USED_ELEM_SIZE * (uint64_t)(vq->last_used_idx % vq->size);
    if (desc_idx) {
        *desc_idx = qtest_readl(qts, elem);
    }
    if (len) {
        *len = qtest_readl(qts, elem + 4);
    }
    vq->last_used_idx++;
    return true;
}

void qvirtio_wait_used_elem(QTestState *qts, QVirtioDevice *d,
                            QVirtQueue *vq, uint32_t desc_idx, uint32_t *len,
                            int64_t timeout_us)
{
    int64_t end = g_get_monotonic_time() + timeout_us;
    uint32_t got;

    for (;;) {
        if (qvirtqueue_get_buf(qts, vq, &got, len)) {
            g_assert_cmpuint(got, ==, desc_idx);
            return;
        }
        if (g_get_monotonic_time() >= end) {
            g_error("virtio: no used element for descriptor %u of queue %u "
                    "(device status 0x%x)", desc_idx, vq->index,
                    qvirtio_get_status(d));
        }
        qtest_clock_step(qts, 100);
        g_usleep(50);
    }
}

void qvirtio_assert_no_used(QTestState *qts, QVirtQueue *vq, int64_t wait_us)
{
    int64_t end = g_get_monotonic_time() + wait_us;

    do {
        qtest_clock_step(qts, 1000);
        g_usleep(1000);
    } while (g_get_monotonic_time() < end);
    g_assert_cmpuint(qvirtqueue_used_idx(qts, vq), ==, vq->last_used_idx);
}

void qvirtio_wait_needs_reset(QTestState *qts, QVirtioDevice *d,
                              int64_t timeout_us)
{
    int64_t end = g_get_monotonic_time() + timeout_us;

    while (!qvirtio_needs_reset(d)) {
        if (g_get_monotonic_time() >= end) {
            g_error("virtio: device did not set DEVICE_NEEDS_RESET "
                    "(status 0x%x)", qvirtio_get_status(d));
        }
        qtest_clock_step(qts, 100);
        g_usleep(50);
    }
}

void qvirtio_assert_vmm_alive(QTestState *qts)
{
    g_autofree char *reply = NULL;
    json_t *st;

    g_assert_true(qtest_alive(qts));
    reply = qtest_command(qts, "endianness");
    g_assert_cmpstr(reply, ==, "OK little");
    st = qtest_query_status(qts);
    g_assert_cmpstr(json_string_value(json_object_get(st, "status")), ==,
                    "running");
    g_assert_true(json_is_true(json_object_get(st, "running")));
    json_decref(st);
}
