"""Tiny multiboot kernels (a.out kludge, 32-bit) that the tests assemble
with the host's gcc, for command-line and process behaviour tests that need
a guest but not the full test kernel."""
import subprocess
from pathlib import Path

HEADER = """
.code32
.set BASE, 0x100000
_start:
 .long 0x1BADB002
 .long 0x00010000
 .long -(0x1BADB002 + 0x00010000)
 .long BASE
 .long BASE
 .long 0
 .long 0
 .long BASE + (entry - _start)
entry:
"""

PUTS = """
 mov $0x3f8, %dx
 mov $BASE + (msg - _start), %esi
1: lodsb
 test %al, %al
 jz 2f
 out %al, %dx
 jmp 1b
2:
"""

BODIES = {
    # prints READY and reports 0 through isa-debug-exit at 0xf4
    "exit": PUTS + " mov $0xf4, %dx\n xor %eax, %eax\n out %al, %dx\n"
            "3: hlt\n jmp 3b\n",
    # prints READY, then idles for ever
    "idle": PUTS + "3: hlt\n jmp 3b\n",
    # prints READY, then triple-faults: no IDT, then an invalid opcode
    "triple": PUTS + " lidt BASE + (idtr - _start)\n ud2\n"
              "idtr: .word 0\n .long 0\n",
    # prints READY, then spins for ever with interrupts off
    "spin": PUTS + " cli\n3: jmp 3b\n",
    # prints READY, then jumps into the IOAPIC's MMIO window
    "jump_mmio": PUTS + " mov $0xfec00000, %eax\n jmp *%eax\n",
    # prints READY, then jumps where nothing is mapped (reads as 0xff)
    "jump_unmapped": PUTS + " mov $0xe0000000, %eax\n jmp *%eax\n",
}


def build(kind, outdir, body=None):
    """Assemble the kernel `kind` (or, given, `body` under that name) into
    outdir; returns its path."""
    outdir = Path(outdir)
    src = outdir / f"mini-{kind}.S"
    obj = outdir / f"mini-{kind}.o"
    binary = outdir / f"mini-{kind}.bin"
    body = BODIES[kind] if body is None else body
    src.write_text(HEADER + body + 'msg: .asciz "READY\\n"\n')
    subprocess.run(["gcc", "-m32", "-c", str(src), "-o", str(obj)],
                   check=True)
    subprocess.run(["objcopy", "-O", "binary", str(obj), str(binary)],
                   check=True)
    return binary
