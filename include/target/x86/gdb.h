/*
 * The x86-64 registers as gdb sees them through the gdb stub: one table
 * gives both the target description XML (qXfer:features:read) and the
 * byte layout of the g and p packets, so the two cannot disagree.
 */
#ifndef TARGET_X86_GDB_H
#define TARGET_X86_GDB_H

#include <glib.h>
#include <stdbool.h>

#include "target/x86/inspect.h"

/* The whole description, target.xml (no includes). */
const char *x86_gdb_target_xml(void);
int x86_gdb_register_count(void);
/* Register n's value in target byte order, as hex, appended to out;
 * false for an n gdb does not know. */
bool x86_gdb_read_register(const X86CPUSnapshot *s, int n, GString *out);
/* Every register in order: the g packet's reply. */
void x86_gdb_read_registers(const X86CPUSnapshot *s, GString *out);

/* The registers a debugger may write, as they are in s. */
void x86_gdb_core_regs(const X86CPUSnapshot *s, X86CoreRegs *r);
/*
 * Register n's new value from the hex at *p (its width in target byte
 * order, *p moves past it) into r: the general registers, rip and eflags.
 * Any other register must come with its current value (gdb's G sends
 * them all). False for an unknown n, bad or short hex, or a change to a
 * register that cannot be written.
 */
bool x86_gdb_write_register(const X86CPUSnapshot *s, X86CoreRegs *r, int n,
                            const char **p, const char *end);

#endif
