/* Interrupt lines: a device raises a line, the board routes it to a GSI. */
#ifndef HW_IRQ_H
#define HW_IRQ_H

typedef void (*IRQHandler)(void *opaque, int n, int level);

typedef struct IRQLine {
    IRQHandler handler;
    void *opaque;
    int n;
} IRQLine;

static inline void irq_set(IRQLine *irq, int level)
{
    if (irq && irq->handler) {
        irq->handler(irq->opaque, irq->n, level);
    }
}
static inline void irq_raise(IRQLine *irq) { irq_set(irq, 1); }
static inline void irq_lower(IRQLine *irq) { irq_set(irq, 0); }
static inline void irq_pulse(IRQLine *irq)
{
    irq_set(irq, 1);
    irq_set(irq, 0);
}

#endif
