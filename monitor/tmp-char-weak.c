/* TEMPORARY until the chardev work lands: weak fallbacks. */
#include "chardev/char.h"
void chardev_foreach(void (*fn)(Chardev *chr, void *opaque), void *opaque);
bool chardev_frontend_open(Chardev *chr);
void chardev_set_output_limit(Chardev *chr, size_t max);
__attribute__((weak)) void chardev_foreach(void (*fn)(Chardev *chr, void *opaque), void *opaque) {}
__attribute__((weak)) bool chardev_frontend_open(Chardev *chr) { return true; }
__attribute__((weak)) void chardev_set_output_limit(Chardev *chr, size_t max) {}
