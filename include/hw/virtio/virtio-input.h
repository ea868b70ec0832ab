/*
 * virtio input device (virtio 1.2 section 5.8), independent of the kind of
 * input: the configuration space that describes an evdev device (name,
 * IDs, event bitmaps, absolute axes), the event queue that carries
 * struct virtio_input_event to the driver and the status queue that brings
 * LED changes back. hw/virtio/virtio-input-hid.c builds the keyboard,
 * mouse and tablet on it.
 */
#ifndef HW_VIRTIO_VIRTIO_INPUT_H
#define HW_VIRTIO_VIRTIO_INPUT_H

#include "hw/device.h"
#include "hw/virtio/virtio.h"

#define VIRTIO_ID_INPUT                 18

/* enum virtio_input_config_select (5.8.5) */
#define VIRTIO_INPUT_CFG_UNSET          0x00
#define VIRTIO_INPUT_CFG_ID_NAME        0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL      0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS      0x03
#define VIRTIO_INPUT_CFG_PROP_BITS      0x10
#define VIRTIO_INPUT_CFG_EV_BITS        0x11
#define VIRTIO_INPUT_CFG_ABS_INFO       0x12

/* struct virtio_input_config: select, subsel, size, reserved[5], u */
#define VIRTIO_INPUT_CFG_SELECT         0
#define VIRTIO_INPUT_CFG_SUBSEL         1
#define VIRTIO_INPUT_CFG_SIZE           2
#define VIRTIO_INPUT_CFG_U              8
#define VIRTIO_INPUT_CFG_U_SIZE         128
#define VIRTIO_INPUT_CONFIG_SIZE        (VIRTIO_INPUT_CFG_U + \
                                         VIRTIO_INPUT_CFG_U_SIZE)

/* struct virtio_input_event: le16 type, le16 code, le32 value */
#define VIRTIO_INPUT_EVENT_SIZE         8

/* Linux's event types and the codes the devices use (input-event-codes.h) */
#define EV_SYN                          0x00
#define EV_KEY                          0x01
#define EV_REL                          0x02
#define EV_ABS                          0x03
#define EV_LED                          0x11
#define EV_REP                          0x14
#define SYN_REPORT                      0
#define REL_X                           0x00
#define REL_Y                           0x01
#define REL_HWHEEL                      0x06
#define REL_WHEEL                       0x08
#define ABS_X                           0x00
#define ABS_Y                           0x01
#define LED_NUML                        0x00
#define LED_CAPSL                       0x01
#define LED_SCROLLL                     0x02
#define BTN_LEFT                        0x110
#define BTN_RIGHT                       0x111
#define BTN_MIDDLE                      0x112
#define BTN_SIDE                        0x113
#define BTN_EXTRA                       0x114
#define BUS_VIRTUAL                     0x06

/*
 * Events wait in the device while the driver has no buffers for them, up
 * to this many (each group ends with EV_SYN); see virtio_input_send.
 */
#define VIRTIO_INPUT_QUEUE_EVENTS       256

/* One answer of the configuration space: what (select, subsel) shows. */
typedef struct VirtIOInputConfig {
    uint8_t select;
    uint8_t subsel;
    uint8_t size;
    uint8_t u[VIRTIO_INPUT_CFG_U_SIZE];
} VirtIOInputConfig;

#define VIRTIO_INPUT_MAX_CONFIGS        16

typedef struct VirtIOInput VirtIOInput;

struct VirtIOInput {
    VirtIODevice vdev;
    char *serial;               /* property: ID_SERIAL, NULL or "": none */

    /* what the device kind fills in before the driver comes */
    VirtIOInputConfig cfg[VIRTIO_INPUT_MAX_CONFIGS];
    unsigned ncfg;
    /* An event the driver sent on the status queue (EV_LED, EV_REP...). */
    void (*handle_status)(VirtIOInput *vi, uint16_t type, uint16_t code,
                          uint32_t value);
    /* The driver became ready (DRIVER_OK) or went away (reset). */
    void (*change_active)(VirtIOInput *vi, bool active);
    void *opaque;               /* the device kind's */

    /* state */
    bool active;                /* DRIVER_OK: events are kept for it */
    uint8_t select, subsel;     /* what the driver chose to read */
    /* events not yet given to the driver, as they go on the wire */
    uint8_t pending[VIRTIO_INPUT_QUEUE_EVENTS * VIRTIO_INPUT_EVENT_SIZE];
    uint32_t pending_len;       /* bytes */
    uint32_t complete_len;      /* bytes up to the last EV_SYN: ready */
};

/* Sets the virtio device up (not yet on a transport). */
void virtio_input_init(VirtIOInput *vi, Machine *m, const char *name);
void virtio_input_fini(VirtIOInput *vi);

/* The configuration space: adds an answer, or the bit of a bitmap one. */
void virtio_input_config_add(VirtIOInput *vi, uint8_t select, uint8_t subsel,
                             const void *data, uint8_t size);
void virtio_input_config_string(VirtIOInput *vi, uint8_t select,
                                const char *s);
void virtio_input_config_set_bit(VirtIOInput *vi, uint8_t select,
                                 uint8_t subsel, unsigned bit);
void virtio_input_config_abs(VirtIOInput *vi, uint16_t axis, int32_t min,
                             int32_t max);
void virtio_input_config_ids(VirtIOInput *vi, uint16_t bustype,
                             uint16_t vendor, uint16_t product,
                             uint16_t version);

/*
 * Queues an event for the driver; an EV_SYN ends a group, which goes to
 * the driver whole when it has given buffers for all of it, never in part.
 * Nothing is kept while the driver is not ready. When the queue is full,
 * the oldest complete groups make room (else the new event is dropped).
 */
void virtio_input_send(VirtIOInput *vi, uint16_t type, uint16_t code,
                       uint32_t value);

/*
 * Migration: the driver's config selection and the waiting events, for a
 * device kind's description to nest (after the transport's state, which
 * has the status). Loading sets active from DRIVER_OK without calling
 * change_active: the kind's own post_load puts its handler in place.
 */
extern const VMStateDescription vmstate_virtio_input;

/* -device properties every virtio input device has */
#define VIRTIO_INPUT_PROPS(type, field)                                 \
    PROP_STR("serial", type, field.serial, NULL,                        \
             "serial string the driver reads (ID_SERIAL)")

#endif
