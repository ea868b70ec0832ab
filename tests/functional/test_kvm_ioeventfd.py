"""The virtqueue notification fast path (ioeventfd) seen from a guest.

A small long-mode kernel that this test assembles drives the first
virtio-mmio slot of microvm, where a virtio-rng-device sits, as a driver
would (virtio 1.2, 4.2.3): features, one queue, DRIVER_OK. Then KICKS
times it makes one buffer available, writes the queue index to
QueueNotify, and waits until the device has handed the buffer back, so
every round needs the device to have seen that kick.

Under KVM, Vireo registers QueueNotify with KVM_IOEVENTFD: the kicks must
not exit to Vireo. The proof is the vCPU's exit count that `-d exec_stats`
prints when the vCPU thread ends: with KICKS kicks it stays far below
KICKS, while the control kernel, which writes one more virtio-mmio
register (QueueSel, a plain register) per round, shows at least KICKS MMIO
exits, so the count does see writes to that window. Under the software
CPU the memory API signals the same eventfd, and the device still sees
every kick.
"""

import re
import subprocess

import pytest

from vmrun import kvm_usable, run_vm, vireo_binary

needs_kvm = pytest.mark.skipif(not kvm_usable()[0], reason=kvm_usable()[1])

KICKS = 400
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
EXIT_PASS = 1   # isa-debug-exit value 0

KERNEL = r"""
.set KICKS, {kicks}
.set CONTROL, {control}
.set VMMIO, 0xfeb00000
.set QSIZE, 8
.set PML4, 0x200000
.set STACK, 0x210000
.set DESC, 0x300000
.set AVAIL, 0x301000
.set USED, 0x302000
.set BUF, 0x303000
.text
.code32
_start:
 .long 0x1BADB002
 .long 0x00010000
 .long -(0x1BADB002 + 0x00010000)
 .long _start
 .long _start
 .long 0
 .long 0
 .long entry32
entry32:
 cli
 lgdt gdtr
 /* identity map of the low 4 GiB with 2 MiB pages */
 mov $PML4, %edi
 xor %eax, %eax
 mov $(0x6000 / 4), %ecx
 rep stosl
 mov $(PML4 + 0x2000), %edi
 mov $0x83, %eax
 xor %ecx, %ecx
1: mov %eax, (%edi,%ecx,8)
 add $0x200000, %eax
 inc %ecx
 cmp $2048, %ecx
 jne 1b
 movl $(PML4 + 0x2003), PML4 + 0x1000
 movl $(PML4 + 0x3003), PML4 + 0x1008
 movl $(PML4 + 0x4003), PML4 + 0x1010
 movl $(PML4 + 0x5003), PML4 + 0x1018
 movl $(PML4 + 0x1003), PML4
 mov $PML4, %eax
 mov %eax, %cr3
 mov %cr4, %eax
 or $0x20, %eax
 mov %eax, %cr4
 mov $0xc0000080, %ecx
 rdmsr
 or $0x100, %eax
 wrmsr
 mov %cr0, %eax
 or $0x80000001, %eax
 mov %eax, %cr0
 ljmp $0x08, $entry64

.code64
entry64:
 mov $0x10, %ax
 mov %ax, %ds
 mov %ax, %es
 mov %ax, %ss
 mov $STACK, %rsp
 call main
 mov $0xf4, %dx
 out %al, %dx
9: cli
 hlt
 jmp 9b

/* rsi: string */
puts:
 push %rdx
 push %rax
 mov $0x3f8, %dx
1: lodsb
 test %al, %al
 jz 2f
 out %al, %dx
 jmp 1b
2: pop %rax
 pop %rdx
 ret

/* returns al = 0 when every kick was served, 1 otherwise */
main:
 mov $VMMIO, %ebx
 lea s_nodev(%rip), %rsi
 cmpl $0x74726976, 0x00(%rbx)
 jne fail
 cmpl $4, 0x08(%rbx)
 jne fail
 /* 4.2.3.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK */
 movl $0, 0x70(%rbx)
 movl $1, 0x70(%rbx)
 movl $3, 0x70(%rbx)
 movl $1, 0x24(%rbx)
 movl $1, 0x20(%rbx)
 movl $0, 0x24(%rbx)
 movl $0, 0x20(%rbx)
 movl $0xb, 0x70(%rbx)
 lea s_features(%rip), %rsi
 testl $8, 0x70(%rbx)
 jz fail
 /* 4.2.3.2: queue 0 */
 movl $0, 0x30(%rbx)
 movl $QSIZE, 0x38(%rbx)
 movl $DESC, 0x80(%rbx)
 movl $0, 0x84(%rbx)
 movl $AVAIL, 0x90(%rbx)
 movl $0, 0x94(%rbx)
 movl $USED, 0xa0(%rbx)
 movl $0, 0xa4(%rbx)
 movl $1, 0x44(%rbx)
 movl $0xf, 0x70(%rbx)
 /* descriptor 0: 16 device-writable bytes at BUF */
 movq $BUF, DESC
 movl $16, DESC + 8
 movw $2, DESC + 12
 movw $0, DESC + 14

 xor %r12d, %r12d
kick:
 mov %r12d, %eax
 and $(QSIZE - 1), %eax
 movw $0, AVAIL + 4(,%rax,2)
 lea 1(%r12), %ecx
 movw %cx, AVAIL + 2
 mfence
 movl $0, 0x50(%rbx)         /* QueueNotify: queue 0 */
.if CONTROL
 movl $0, 0x30(%rbx)         /* QueueSel: an ordinary register */
.endif
 mov $200000000, %edx
1: movzwl USED + 2, %eax
 cmp %ecx, %eax
 je 2f
 pause
 dec %edx
 jnz 1b
 lea s_timeout(%rip), %rsi
 jmp fail
2: inc %r12d
 cmp $KICKS, %r12d
 jne kick
 lea s_pass(%rip), %rsi
 call puts
 xor %eax, %eax
 ret

fail:
 call puts
 mov $1, %eax
 ret

.balign 16
gdt:
 .quad 0
 .quad 0x00af9a000000ffff
 .quad 0x00cf92000000ffff
gdt_end:
gdtr:
 .word gdt_end - gdt - 1
 .long gdt
s_nodev: .asciz "FAIL no virtio-rng at 0xfeb00000\n"
s_features: .asciz "FAIL FEATURES_OK refused\n"
s_timeout: .asciz "FAIL the device did not serve a kick\n"
s_pass: .asciz "PASS every kick served\n"
"""

EXITS_RE = re.compile(r"vCPU 0: (\d+) exits to Vireo \((\d+) I/O port, "
                      r"(\d+) MMIO\)")


def build_kernel(outdir, control):
    name = "evfd-control" if control else "evfd"
    src, obj = outdir / f"{name}.S", outdir / f"{name}.o"
    binary = outdir / f"{name}.bin"
    src.write_text(KERNEL.format(kicks=KICKS, control=int(control)))
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    subprocess.run(["ld", "-m", "elf_x86_64", "-Ttext=0x100000", "-e", "0",
                    "--oformat", "binary", "-o", str(binary), str(obj)],
                   check=True)
    return binary


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    d = tmp_path_factory.mktemp("evfd")
    return {"kick": build_kernel(d, False),
            "control": build_kernel(d, True)}


def run_guest(kernel, accel, timeout=60):
    args = [vireo_binary(), "-accel", accel, "-machine", "microvm",
            "-m", "64", "-display", "none", "-serial", "stdio",
            "-no-reboot", *DEBUG_EXIT, "-device", "virtio-rng-device",
            "-d", "exec_stats", "-kernel", kernel]
    return run_vm(args, timeout=timeout)


def mmio_exits(r):
    m = EXITS_RE.search(r.output)
    assert m, "no exit count from -d exec_stats\n" + r.describe()
    return int(m.group(3))


@needs_kvm
def test_kicks_do_not_exit_under_kvm(kernels):
    r = run_guest(kernels["kick"], "kvm")
    assert not r.timed_out, r.describe()
    assert "PASS every kick served" in r.output, r.describe()
    assert r.returncode == EXIT_PASS, r.describe()
    # the driver's setup takes a few dozen exits; the kicks take none
    assert mmio_exits(r) < KICKS // 4, r.describe()


@needs_kvm
def test_exit_count_sees_virtio_mmio_writes(kernels):
    """The control: one ordinary register write per round does exit, and
    the count shows it."""
    r = run_guest(kernels["control"], "kvm")
    assert not r.timed_out, r.describe()
    assert "PASS every kick served" in r.output, r.describe()
    assert r.returncode == EXIT_PASS, r.describe()
    assert mmio_exits(r) >= KICKS, r.describe()


def test_kicks_served_under_tcg(kernels):
    """The software CPU's writes go through the memory API, which signals
    the same eventfd: the device sees every kick there too."""
    r = run_guest(kernels["kick"], "tcg", timeout=120)
    assert not r.timed_out, r.describe()
    assert "PASS every kick served" in r.output, r.describe()
    assert r.returncode == EXIT_PASS, r.describe()
