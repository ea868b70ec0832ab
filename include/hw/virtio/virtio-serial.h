/*
 * virtio console device (virtio 1.2 section 5.3) with multiple ports,
 * independent of the transport: virtio-serial-device (virtio-mmio) embeds
 * a VirtIOSerial, and so will virtio-serial-pci. The ports are separate
 * devices, virtconsole and virtserialport (QEMU's names), that attach to
 * the bus a VirtIOSerial provides, "ID.0" after the embedding device's id.
 */
#ifndef HW_VIRTIO_VIRTIO_SERIAL_H
#define HW_VIRTIO_VIRTIO_SERIAL_H

#include "hw/device.h"
#include "hw/virtio/virtio.h"

/* QEMU's limit: two queues per port plus the control pair, 1024 in all. */
#define VIRTIO_SERIAL_MAX_PORTS     511

/* DeviceClass.bus of virtconsole and virtserialport */
#define VIRTIO_SERIAL_BUS           "virtio-serial-bus"

typedef struct VirtIOSerialPort VirtIOSerialPort;

typedef struct VirtIOSerial {
    VirtIODevice vdev;
    uint32_t max_ports;             /* property: config max_nr_ports */
    /* the rest is virtio-serial.c's */
    VirtioDeviceOps ops;            /* the queue count follows max_ports */
    Machine *machine;
    char *bus_name;                 /* what bus= of a port names */
    VirtIOSerialPort **ports;       /* max_ports entries, by port number */
    GQueue ctrl_pending;            /* GByteArray messages for the driver */
    bool device_ready;              /* the driver sent DEVICE_READY */
    /* after a load: sends the control messages once the VM runs */
    struct VMStateChangeEntry *resume_entry;
} VirtIOSerial;

/* The properties, for a device struct that embeds a VirtIOSerial as field. */
#define VIRTIO_SERIAL_PROPS(type, field)                                \
    PROP_U32("max_ports", type, field.max_ports, 31,                   \
             "number of ports the guest may use (1-511)")

/*
 * Migration: the bus's state besides its virtio device (which the
 * transport saves): DEVICE_READY, the control messages waiting for the
 * driver's buffers, and per port (by number; the ports here must be those
 * of the stream) PORT_READY, whether the guest opened it, whether the host
 * side was connected, and the host input read but not yet delivered (at
 * most one 4 KiB read). Guest output the chardev has not taken yet is not
 * saved: saving fails with an error naming the port until it drained. A
 * host side whose connection differs after the load is announced to the
 * driver (PORT_OPEN) once the VM runs.
 */
extern const VMStateDescription vmstate_virtio_serial;

/*
 * Sets up the virtio device (not yet on a transport) and its port bus,
 * named "ID.0" after the embedding device's id (NULL: no id, then
 * "virtio-serial-bus.N"). Fails on a max_ports out of range.
 */
bool virtio_serial_init(VirtIOSerial *s, Machine *m, const char *id,
                        GError **errp);
/* Detaches the ports still on the bus (they go away later) and frees. */
void virtio_serial_fini(VirtIOSerial *s);

#endif
