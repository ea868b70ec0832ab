"""The virtqueue notification fast path (ioeventfd) seen from a guest, on
both virtio transports: virtio-mmio (a virtio-rng-device on microvm's first
slot) and virtio-pci (virtio-rng-pci at 00:02.0 of pc).

A small long-mode kernel that this test assembles finds the device, sets it
up as a driver would (virtio 1.2, 3.1.1): VERSION_1, one queue, DRIVER_OK.
Then KICKS times it makes one buffer available, writes the queue index to
the queue's notification address, and waits until the device has handed
the buffer back, so every round needs the device to have seen that kick.

Under KVM, Vireo registers the notification address with KVM_IOEVENTFD:
the kicks must not exit to Vireo. The proof is the vCPU's exit count that
`-d exec_stats` prints when the vCPU thread ends: with KICKS kicks it stays
far below KICKS, while the control kernel, which writes one more register
(queue select, a plain register) per round, shows at least KICKS MMIO
exits, so the count does see writes to that window; so does the kicking
kernel when the transport's ioeventfd property is off. Under the software
CPU no eventfd is registered (as in QEMU): the vCPU thread runs each kick
in place, and the device still sees every kick.
"""

import functools
import re
import subprocess
from dataclasses import dataclass

import pytest

from vmrun import kvm_usable, run_vm, vireo_binary

needs_kvm = pytest.mark.skipif(not kvm_usable()[0], reason=kvm_usable()[1])

KICKS = 400
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
EXIT_PASS = 1   # isa-debug-exit value 0


@dataclass(frozen=True)
class Transport:
    machine: str
    devices: list           # -device (and -global) arguments
    devices_no_ioeventfd: list
    nodev: str              # the kernel's complaint when probe fails
    probe: str              # finds the device; leaves its registers in rbx
    routines: str           # functions probe calls
    regs: dict              # virtio field -> (offset from rbx, width)


# virtio 1.2, 4.2.2: the register block at microvm's first virtio-mmio slot
MMIO = Transport(
    machine="microvm",
    devices=["-device", "virtio-rng-device"],
    devices_no_ioeventfd=["-device", "virtio-rng-device",
                          "-global", "virtio-mmio.ioeventfd=off"],
    nodev="no virtio-rng at 0xfeb00000",
    probe=r"""
 mov $0xfeb00000, %ebx
 lea s_nodev(%rip), %rsi
 cmpl $0x74726976, 0x00(%rbx)   /* MagicValue "virt" */
 jne fail
 cmpl $4, 0x08(%rbx)            /* DeviceID: entropy source */
 jne fail
""",
    routines="",
    regs={
        "device_feature": (0x10, 4), "device_feature_select": (0x14, 4),
        "driver_feature": (0x20, 4), "driver_feature_select": (0x24, 4),
        "queue_select": (0x30, 4), "queue_size": (0x38, 4),
        "queue_enable": (0x44, 4), "queue_notify": (0x50, 4),
        "status": (0x70, 4),
        "queue_desc_lo": (0x80, 4), "queue_desc_hi": (0x84, 4),
        "queue_driver_lo": (0x90, 4), "queue_driver_hi": (0x94, 4),
        "queue_device_lo": (0xa0, 4), "queue_device_hi": (0xa4, 4),
    })

# virtio 1.2, 4.1.4: Vireo's BAR 4 (include/hw/virtio/virtio-pci.h) holds
# the common configuration at +0 and the notifications at +0x3000 with
# notify_off_multiplier 4 and queue_notify_off = queue index. The kernel
# places BAR 4 at 0xe0000000, in pc's PCI hole and in its identity map.
PCI = Transport(
    machine="pc",
    devices=["-nodefaults", "-device", "virtio-rng-pci,addr=2"],
    devices_no_ioeventfd=["-nodefaults", "-device",
                          "virtio-rng-pci,addr=2,ioeventfd=off"],
    nodev="no virtio-rng-pci at 00:02.0",
    probe=r"""
 xor %edi, %edi
 call pci_select
 in %dx, %eax
 lea s_nodev(%rip), %rsi
 cmp $0x10441af4, %eax          /* device 0x1044 (rng), vendor 0x1af4 */
 jne fail
 mov $0x20, %edi                /* BAR 4, 64-bit: low dword */
 call pci_select
 mov $0xe0000000, %eax
 out %eax, %dx
 mov $0x24, %edi                /* and high dword */
 call pci_select
 xor %eax, %eax
 out %eax, %dx
 mov $0x04, %edi                /* command: memory space, bus master */
 call pci_select
 mov $0x6, %ax
 out %ax, %dx
 mov $0xe0000000, %ebx
""",
    routines=r"""
/* configuration mechanism #1 (PCI 3.0, 3.2.2.3.2): selects dword register
   edi of 00:02.0; returns dx = the data port */
pci_select:
 push %rax
 mov %edi, %eax
 or $(0x80000000 | (2 << 11)), %eax
 mov $0xcf8, %dx
 out %eax, %dx
 mov $0xcfc, %dx
 pop %rax
 ret
""",
    regs={
        "device_feature_select": (0x00, 4), "device_feature": (0x04, 4),
        "driver_feature_select": (0x08, 4), "driver_feature": (0x0c, 4),
        "status": (0x14, 1), "queue_select": (0x16, 2),
        "queue_size": (0x18, 2), "queue_enable": (0x1c, 2),
        "queue_desc_lo": (0x20, 4), "queue_desc_hi": (0x24, 4),
        "queue_driver_lo": (0x28, 4), "queue_driver_hi": (0x2c, 4),
        "queue_device_lo": (0x30, 4), "queue_device_hi": (0x34, 4),
        "queue_notify": (0x3000 + 0 * 4, 2),    # queue 0's notify_off
    })

TRANSPORTS = {"mmio": MMIO, "pci": PCI}
per_transport = pytest.mark.parametrize("transport", list(TRANSPORTS))

SUFFIX = {1: "b", 2: "w", 4: "l"}


def reg_write(t, field, value):
    offset, width = t.regs[field]
    return f" mov{SUFFIX[width]} ${value}, {offset:#x}(%rbx)"


def reg_check(t, field, mask, message):
    """Fails with the string `message` unless field & mask."""
    offset, width = t.regs[field]
    return (f" lea {message}(%rip), %rsi\n"
            f" test{SUFFIX[width]} ${mask}, {offset:#x}(%rbx)\n"
            f" jz fail")


def driver_init(t):
    """virtio 1.2, 3.1.1 and the queue set-up of 4.1.5.1.3 / 4.2.3.2, in the
    field names both transports share."""
    w = functools.partial(reg_write, t)
    return "\n".join([
        w("status", 0),                                 # reset
        w("status", "ACKNOWLEDGE"),
        w("status", "ACKNOWLEDGE | DRIVER"),
        w("device_feature_select", 1),
        reg_check(t, "device_feature", 1, "s_version"),  # VERSION_1: bit 32
        w("driver_feature_select", 1),
        w("driver_feature", 1),
        w("driver_feature_select", 0),
        w("driver_feature", 0),
        w("status", "ACKNOWLEDGE | DRIVER | FEATURES_OK"),
        reg_check(t, "status", "FEATURES_OK", "s_features"),
        w("queue_select", 0),
        w("queue_size", "QSIZE"),
        w("queue_desc_lo", "DESC"), w("queue_desc_hi", 0),
        w("queue_driver_lo", "AVAIL"), w("queue_driver_hi", 0),
        w("queue_device_lo", "USED"), w("queue_device_hi", 0),
        w("queue_enable", 1),
        w("status", "ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK"),
    ])


KERNEL = r"""
.set KICKS, {kicks}
.set QSIZE, 8
.set PML4, 0x200000
.set STACK, 0x210000
.set DESC, 0x300000
.set AVAIL, 0x301000
.set USED, 0x302000
.set BUF, 0x303000
.set ACKNOWLEDGE, 1
.set DRIVER, 2
.set DRIVER_OK, 4
.set FEATURES_OK, 8
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
{probe}
{init}
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
{kick}
{control}
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
{routines}
.balign 16
gdt:
 .quad 0
 .quad 0x00af9a000000ffff
 .quad 0x00cf92000000ffff
gdt_end:
gdtr:
 .word gdt_end - gdt - 1
 .long gdt
s_nodev: .asciz "FAIL {nodev}\n"
s_version: .asciz "FAIL the device does not offer VERSION_1\n"
s_features: .asciz "FAIL FEATURES_OK refused\n"
s_timeout: .asciz "FAIL the device did not serve a kick\n"
s_pass: .asciz "PASS every kick served\n"
"""

EXITS_RE = re.compile(r"vCPU 0: (\d+) exits to Vireo \((\d+) I/O port, "
                      r"(\d+) MMIO\)")


def build_kernel(outdir, name, control):
    """The kernel for transport `name`; the control kernel also writes
    queue select (0, the queue in use) after each kick."""
    t = TRANSPORTS[name]
    stem = f"evfd-{name}-control" if control else f"evfd-{name}"
    src, obj = outdir / f"{stem}.S", outdir / f"{stem}.o"
    binary = outdir / f"{stem}.bin"
    src.write_text(KERNEL.format(
        kicks=KICKS, probe=t.probe, init=driver_init(t),
        kick=reg_write(t, "queue_notify", 0),
        control=reg_write(t, "queue_select", 0) if control else "",
        routines=t.routines, nodev=t.nodev))
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    subprocess.run(["ld", "-m", "elf_x86_64", "-Ttext=0x100000", "-e", "0",
                    "--oformat", "binary", "-o", str(binary), str(obj)],
                   check=True)
    return binary


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    d = tmp_path_factory.mktemp("evfd")
    return {(name, control): build_kernel(d, name, control)
            for name in TRANSPORTS for control in (False, True)}


def run_guest(kernel, transport, accel, ioeventfd=True, timeout=60):
    t = TRANSPORTS[transport]
    devices = t.devices if ioeventfd else t.devices_no_ioeventfd
    args = [vireo_binary(), "-accel", accel, "-machine", t.machine,
            "-m", "64", "-display", "none", "-serial", "stdio",
            "-no-reboot", *DEBUG_EXIT, *devices,
            "-d", "exec_stats", "-kernel", kernel]
    return run_vm(args, timeout=timeout)


def assert_every_kick_served(r):
    assert not r.timed_out, r.describe()
    assert "PASS every kick served" in r.output, r.describe()
    assert r.returncode == EXIT_PASS, r.describe()


def mmio_exits(r):
    m = EXITS_RE.search(r.output)
    assert m, "no exit count from -d exec_stats\n" + r.describe()
    return int(m.group(3))


@needs_kvm
@per_transport
def test_kicks_do_not_exit_under_kvm(kernels, transport):
    r = run_guest(kernels[transport, False], transport, "kvm")
    assert_every_kick_served(r)
    # the driver's setup takes a few dozen exits; the kicks take none
    assert mmio_exits(r) < KICKS // 4, r.describe()


@needs_kvm
@per_transport
def test_exit_count_sees_register_writes(kernels, transport):
    """The control: one ordinary register write per round does exit, and
    the count shows it."""
    r = run_guest(kernels[transport, True], transport, "kvm")
    assert_every_kick_served(r)
    assert mmio_exits(r) >= KICKS, r.describe()


@needs_kvm
@per_transport
def test_kicks_exit_with_ioeventfd_off(kernels, transport):
    """The transport's ioeventfd property is what keeps kicks in KVM."""
    r = run_guest(kernels[transport, False], transport, "kvm",
                  ioeventfd=False)
    assert_every_kick_served(r)
    assert mmio_exits(r) >= KICKS, r.describe()


@per_transport
def test_kicks_served_under_tcg(kernels, transport):
    """The software CPU's writes go through the memory API, which signals
    the same eventfd: the device sees every kick there too."""
    r = run_guest(kernels[transport, False], transport, "tcg", timeout=120)
    assert_every_kick_served(r)
