/*
 * A minimal virtio 1.x driver transport for the benchmarks: virtio-mmio
 * version 2 (virtio 1.2, 4.2.2) devices found from the command line's
 * virtio_mmio.device=SIZE@ADDR:IRQ words, device initialization (3.1.1)
 * and split virtqueues (2.7) in identity-mapped kernel memory, completion
 * by polling the used ring. Device-agnostic: blk.c and exits.c build on it.
 */
#include "testkernel.h"

/* virtio 1.2, 4.2.2: the MMIO device register layout */
#define MMIO_MAGIC 0x000
#define MMIO_VERSION 0x004
#define MMIO_DEVICE_ID 0x008
#define MMIO_DEVICE_FEATURES 0x010
#define MMIO_DEVICE_FEATURES_SEL 0x014
#define MMIO_DRIVER_FEATURES 0x020
#define MMIO_DRIVER_FEATURES_SEL 0x024
#define MMIO_QUEUE_SEL 0x030
#define MMIO_QUEUE_NUM_MAX 0x034
#define MMIO_QUEUE_NUM 0x038
#define MMIO_QUEUE_READY 0x044
#define MMIO_QUEUE_NOTIFY 0x050
#define MMIO_INTERRUPT_STATUS 0x060
#define MMIO_INTERRUPT_ACK 0x064
#define MMIO_STATUS 0x070
#define MMIO_QUEUE_DESC_LOW 0x080
#define MMIO_QUEUE_DESC_HIGH 0x084
#define MMIO_QUEUE_DRIVER_LOW 0x090
#define MMIO_QUEUE_DRIVER_HIGH 0x094
#define MMIO_QUEUE_DEVICE_LOW 0x0a0
#define MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define MMIO_CONFIG 0x100
#define MMIO_MAGIC_VALUE 0x74726976 /* "virt" */

/* virtio 1.2, 2.1: device status bits */
#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 0x40
#define STATUS_FAILED 0x80

/* Queue memory: one 4 KiB page each for the descriptor table (256 * 16
 * bytes), the driver area and the device area, per queue. */
#define VIRTQ_POOL 8
static uint8_t virtq_mem[VIRTQ_POOL][3][4096] __attribute__((aligned(4096)));
static struct { uint64_t base; uint16_t index; } virtq_mem_owner[VIRTQ_POOL];
static int virtq_mem_used;

/* A queue set up again (after a reset) gets its memory back. */
static uint8_t (*virtq_mem_get(const struct virtio_dev *d, uint16_t index))[4096]
{
    for (int i = 0; i < virtq_mem_used; i++)
        if (virtq_mem_owner[i].base == d->base &&
            virtq_mem_owner[i].index == index)
            return virtq_mem[i];
    if (virtq_mem_used >= VIRTQ_POOL)
        return NULL;
    virtq_mem_owner[virtq_mem_used].base = d->base;
    virtq_mem_owner[virtq_mem_used].index = index;
    return virtq_mem[virtq_mem_used++];
}

static uint32_t reg_read(const struct virtio_dev *d, uint32_t off)
{
    return mmio_read32(d->base + off);
}

static void reg_write(const struct virtio_dev *d, uint32_t off, uint32_t v)
{
    mmio_write32(d->base + off, v);
}

/* "0x200", "512", "4K": Linux's memparse for the size and address parts. */
static bool parse_num(const char *s, size_t len, uint64_t *out)
{
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return parse_u64(s, len, 16, out);
    return parse_size(s, len, out);
}

/* One "SIZE@ADDR:IRQ[:ID]" value (Linux's virtio_mmio.device syntax). */
static bool parse_mmio_word(const char *v, size_t len, struct virtio_dev *d)
{
    size_t at = 0, colon, end;
    uint64_t size, addr, irq;

    while (at < len && v[at] != '@')
        at++;
    colon = at;
    while (colon < len && v[colon] != ':')
        colon++;
    end = colon + 1;
    while (end < len && v[end] != ':')
        end++;
    if (at >= len || colon >= len ||
        !parse_num(v, at, &size) ||
        !parse_num(v + at + 1, colon - at - 1, &addr) ||
        !parse_u64(v + colon + 1, end - colon - 1, 10, &irq))
        return false;
    /* the registers must lie in the identity map (first 4 GiB) */
    if (size < MMIO_CONFIG || addr >= (4ull << 30) - size || irq > 255)
        return false;
    d->base = addr;
    d->size = (uint32_t)size;
    d->gsi = (uint32_t)irq;
    return true;
}

int virtio_mmio_find(struct virtio_dev *devs, int max)
{
    static const char key[] = "virtio_mmio.device=";
    const size_t kl = sizeof(key) - 1;
    const char *p = boot.cmdline;
    int n = 0;

    while (*p && n < max) {
        const char *w;
        size_t wl;
        struct virtio_dev d = { 0 };

        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        w = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        wl = p - w;
        if (wl <= kl || strncmp(w, key, kl))
            continue;
        if (!parse_mmio_word(w + kl, wl - kl, &d)) {
            printk("virtio: ignoring bad word '%.*s'\n", (int)wl, w);
            continue;
        }
        if (reg_read(&d, MMIO_MAGIC) != MMIO_MAGIC_VALUE) {
            printk("virtio: no virtio-mmio magic at %lx\n",
                   (unsigned long)d.base);
            continue;
        }
        d.version = reg_read(&d, MMIO_VERSION);
        d.device_id = reg_read(&d, MMIO_DEVICE_ID);
        if (!d.device_id)
            continue;   /* 4.2.3.1.1: an empty slot */
        devs[n++] = d;
    }
    return n;
}

bool virtio_mmio_find_device(uint32_t device_id, int nth, struct virtio_dev *d)
{
    struct virtio_dev devs[16];
    int n = virtio_mmio_find(devs, 16);

    for (int i = 0; i < n; i++) {
        if (devs[i].device_id == device_id && nth-- == 0) {
            *d = devs[i];
            return true;
        }
    }
    return false;
}

/*
 * virtio 1.2, 3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, feature
 * negotiation (VERSION_1 always, plus what the caller wants and the device
 * offers), FEATURES_OK read back. Queues come next (virtq_setup), then
 * virtio_driver_ok. On failure, the reason in *why.
 */
bool virtio_dev_init(struct virtio_dev *d, uint64_t wanted, const char **why)
{
    uint64_t offered;

    if (d->version != 2) {
        *why = "not a virtio-mmio version 2 device (QEMU: -global "
               "virtio-mmio.force-legacy=false)";
        return false;
    }
    reg_write(d, MMIO_STATUS, 0);
    if (reg_read(d, MMIO_STATUS) != 0) {
        *why = "device did not reset";
        return false;
    }
    reg_write(d, MMIO_STATUS, STATUS_ACKNOWLEDGE);
    reg_write(d, MMIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    reg_write(d, MMIO_DEVICE_FEATURES_SEL, 0);
    offered = reg_read(d, MMIO_DEVICE_FEATURES);
    reg_write(d, MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)reg_read(d, MMIO_DEVICE_FEATURES) << 32;
    if (!(offered & VIRTIO_F_VERSION_1)) {
        *why = "device does not offer VIRTIO_F_VERSION_1";
        return false;
    }
    d->features = offered & (wanted | VIRTIO_F_VERSION_1);
    reg_write(d, MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(d, MMIO_DRIVER_FEATURES, (uint32_t)d->features);
    reg_write(d, MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(d, MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    reg_write(d, MMIO_STATUS,
              STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    if (!(reg_read(d, MMIO_STATUS) & STATUS_FEATURES_OK)) {
        *why = "device refused FEATURES_OK";
        return false;
    }
    return true;
}

void virtio_driver_ok(struct virtio_dev *d)
{
    reg_write(d, MMIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER |
                              STATUS_FEATURES_OK | STATUS_DRIVER_OK);
}

void virtio_reset(struct virtio_dev *d)
{
    reg_write(d, MMIO_STATUS, 0);
}

uint32_t virtio_status(const struct virtio_dev *d)
{
    return reg_read(d, MMIO_STATUS);
}

/* Device configuration space (4.2.2: at 0x100), little-endian. */
uint32_t virtio_config_read32(const struct virtio_dev *d, uint32_t off)
{
    return reg_read(d, MMIO_CONFIG + off);
}

uint64_t virtio_config_read64(const struct virtio_dev *d, uint32_t off)
{
    return virtio_config_read32(d, off) |
           (uint64_t)virtio_config_read32(d, off + 4) << 32;
}

/* Interrupt status (bit 0: used buffer, bit 1: configuration change),
 * acknowledged so the device lowers its line (4.2.2). */
uint32_t virtio_irq_ack(const struct virtio_dev *d)
{
    uint32_t isr = reg_read(d, MMIO_INTERRUPT_STATUS);
    if (isr)
        reg_write(d, MMIO_INTERRUPT_ACK, isr);
    return isr;
}

/* virtio 1.2, 2.7.10: the rings' event index fields (EVENT_IDX), past
 * the last entry of each ring. */
static volatile uint16_t *used_event(struct virtq *vq)
{
    return (volatile uint16_t *)((uint8_t *)vq->avail + 4 + 2 * vq->size);
}

static volatile uint16_t *avail_event(struct virtq *vq)
{
    return (volatile uint16_t *)((uint8_t *)vq->used + 4 + 8 * vq->size);
}

/*
 * virtio 1.2, 4.2.3.2: set up queue index with at most size entries
 * (a power of 2, clamped to the device's QueueNumMax and VIRTQ_MAX).
 * interrupts=false asks the device not to interrupt for used buffers
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX a used_event it will
 * not reach soon), for drivers that poll.
 */
bool virtq_setup(struct virtio_dev *d, struct virtq *vq, uint16_t index,
                 uint16_t size, bool interrupts, const char **why)
{
    uint32_t max;
    uint8_t (*mem)[4096];

    reg_write(d, MMIO_QUEUE_SEL, index);
    if (reg_read(d, MMIO_QUEUE_READY)) {
        *why = "queue already ready after reset";
        return false;
    }
    max = reg_read(d, MMIO_QUEUE_NUM_MAX);
    if (!max) {
        *why = "queue not available";
        return false;
    }
    if (size > VIRTQ_MAX)
        size = VIRTQ_MAX;
    if (size > max)
        size = (uint16_t)max;
    while (size & (size - 1))       /* split rings need a power of 2 */
        size &= size - 1;
    mem = size ? virtq_mem_get(d, index) : NULL;
    if (!mem) {
        *why = "no queue memory";
        return false;
    }
    memset(mem, 0, 3 * 4096);

    memset(vq, 0, sizeof(*vq));
    vq->dev = d;
    vq->index = index;
    vq->size = size;
    vq->desc = (struct virtq_desc *)mem[0];
    vq->avail = (struct virtq_avail *)mem[1];
    vq->used = (struct virtq_used *)mem[2];
    vq->event_idx = d->features & VIRTIO_RING_F_EVENT_IDX;
    vq->interrupts = interrupts;
    if (vq->event_idx)
        *used_event(vq) = interrupts ? 0 : 0x8000;
    else
        vq->avail->flags = interrupts ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
    /* every descriptor on the free list, chained through next */
    for (uint16_t i = 0; i < size; i++)
        vq->desc[i].next = i + 1;
    vq->free_head = 0;
    vq->num_free = size;

    reg_write(d, MMIO_QUEUE_NUM, size);
    reg_write(d, MMIO_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)vq->desc);
    reg_write(d, MMIO_QUEUE_DESC_HIGH, (uint32_t)((uintptr_t)vq->desc >> 32));
    reg_write(d, MMIO_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)vq->avail);
    reg_write(d, MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((uintptr_t)vq->avail >> 32));
    reg_write(d, MMIO_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)vq->used);
    reg_write(d, MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((uintptr_t)vq->used >> 32));
    reg_write(d, MMIO_QUEUE_READY, 1);
    return true;
}

/*
 * Put a chain of n buffers on the available ring (2.7.13), device-readable
 * ones first as the spec requires; not yet visible to the device until
 * virtq_kick. Returns the head descriptor (the chain's id in the used
 * ring), or -1 when the queue has fewer than n free descriptors.
 */
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, int n)
{
    uint16_t head, i, last = 0;

    if (n <= 0 || n > vq->num_free)
        return -1;
    head = i = vq->free_head;
    for (int k = 0; k < n; k++) {
        struct virtq_desc *desc = &vq->desc[i];
        desc->addr = (uint64_t)(uintptr_t)bufs[k].addr;
        desc->len = bufs[k].len;
        desc->flags = (bufs[k].device_writes ? VIRTQ_DESC_F_WRITE : 0) |
                      (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        last = i;
        i = desc->next;
    }
    vq->free_head = vq->desc[last].next;
    vq->num_free -= n;
    vq->avail->ring[vq->avail_idx % vq->size] = head;
    vq->avail_idx++;
    return head;
}

/* Publish what virtq_add queued and notify the device unless it asked not
 * to be (VIRTQ_USED_F_NO_NOTIFY, or with EVENT_IDX an avail_event the new
 * entries do not pass: 2.7.10); true if it was notified. */
bool virtq_kick(struct virtq *vq)
{
    uint16_t old = vq->kicked_idx, new = vq->avail_idx;

    /* the ring entries before the index (x86 keeps stores in order) */
    barrier();
    *(volatile uint16_t *)&vq->avail->idx = new;
    vq->kicked_idx = new;
    /* the index store before the flags or event load: a full fence */
    __asm__ volatile("mfence" ::: "memory");
    if (vq->event_idx) {
        if ((uint16_t)(new - *avail_event(vq) - 1) >= (uint16_t)(new - old))
            return false;
    } else if (*(volatile uint16_t *)&vq->used->flags & VIRTQ_USED_F_NO_NOTIFY) {
        return false;
    }
    virtq_notify(vq);
    return true;
}

/* An unconditional notification (the doorbell write alone). */
void virtq_notify(struct virtq *vq)
{
    reg_write(vq->dev, MMIO_QUEUE_NOTIFY, vq->index);
}

bool virtq_has_used(const struct virtq *vq)
{
    return *(volatile uint16_t *)&vq->used->idx != vq->last_used;
}

/*
 * Take one chain the device has used: its head id (as virtq_add returned)
 * and the bytes it wrote in *len; the chain's descriptors go back on the
 * free list. -1 when none is waiting, or when the device returned an id
 * that is not a chain in flight (then the queue is left alone).
 */
int virtq_get_used(struct virtq *vq, uint32_t *len)
{
    struct virtq_used_elem e;
    uint16_t i, n = 1;

    if (!virtq_has_used(vq))
        return -1;
    barrier();   /* the index before the element (x86: loads in order) */
    e = ((volatile struct virtq_used *)vq->used)->ring[vq->last_used % vq->size];
    if (e.id >= vq->size)
        return -1;
    vq->last_used++;
    i = (uint16_t)e.id;
    while ((vq->desc[i].flags & VIRTQ_DESC_F_NEXT) && n < vq->size) {
        i = vq->desc[i].next;
        n++;
    }
    vq->desc[i].next = vq->free_head;
    vq->free_head = (uint16_t)e.id;
    vq->num_free += n;
    /* EVENT_IDX: an interrupt for the next used buffer, or none soon */
    if (vq->event_idx)
        *used_event(vq) = vq->last_used + (vq->interrupts ? 0 : 0x8000);
    if (len)
        *len = e.len;
    return (int)e.id;
}
