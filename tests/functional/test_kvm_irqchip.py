"""KVM with Vireo's own interrupt controllers: -machine kernel-irqchip=off
(Vireo's LAPICs, IOAPIC, 8259s and PIT; the vCPU thread injects, halts and
handles INIT/SIPI) and kernel-irqchip=split (KVM's LAPICs, Vireo's IOAPIC,
8259s and PIT; IOAPIC messages as MSIs, level-triggered EOIs back through
KVM_EXIT_IOAPIC_EOI), checked by guests from inside, plus the option's
command-line errors.

Guests: IRQ_KERNEL below (a small long-mode kernel this test assembles:
PIT through the IOAPIC, hlt woken by it, a level-triggered IOAPIC pin whose
Remote IRR only the EOI clears, fixed IPIs, INIT-SIPI-SIPI), the test kernel
(tests/guest/testkernel: LAPIC timer, COM1 interrupt through the IOAPIC,
SMP start) and, where this host's KVM runs it at all, the long-mode CPU test
kernel (tests/guest/cputest).
"""

import os
import signal
import subprocess

import pytest

import cputest
import minikernel
import testkernel
from vmrun import VMProcess, kvm_usable, run_vm, vireo_binary

needs_kvm = pytest.mark.skipif(not kvm_usable()[0], reason=kvm_usable()[1])

MODES = ("off", "split")
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]

# Assembled with the host's gcc/ld; {ncpus} is the -smp count. TPR=1 adds
# a CR8/TPR check and APIPI=1 fixed IPIs to the APs: both are left out
# here because on this project's hosts the nested KVM (kvm_pvm) hangs them
# with Debian's QEMU and kernel-irqchip=on too.
IRQ_KERNEL = r"""
.set NCPUS, {ncpus}
.set TPR, {tpr}
.set APIPI, {apipi}
.set LAPIC, 0xfee00000
.set IOAPIC, 0xfec00000
.set PML4, 0x200000
.set IDT, 0x206000
.set STACK, 0x210000
.set AP_STACKS, 0x220000
.set TRAMP, 0x8000
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
to_long:
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

/* eax: ok, rsi: name */
report:
 push %rsi
 test %eax, %eax
 jz 1f
 lea s_pass(%rip), %rsi
 call puts
 jmp 2f
1: lea s_fail(%rip), %rsi
 call puts
 incl fails(%rip)
2: pop %rsi
 call puts
 lea s_nl(%rip), %rsi
 call puts
 ret

/* rdi: counter, esi: target; eax = 1 if reached in time */
wait_ge:
 mov $20000000, %ecx
1: cmp %esi, (%rdi)
 jae 2f
 pause
 dec %ecx
 jnz 1b
 xor %eax, %eax
 ret
2: mov $1, %eax
 ret

delay:
 mov $2000000, %ecx
1: pause
 dec %ecx
 jnz 1b
 ret

/* edi: vector, rsi: handler */
set_gate:
 mov %edi, %eax
 shl $4, %rax
 add $IDT, %rax
 mov %rsi, %rdx
 mov %dx, (%rax)
 movw $0x08, 2(%rax)
 movw $0x8e00, 4(%rax)
 shr $16, %rdx
 mov %dx, 6(%rax)
 shr $16, %rdx
 mov %edx, 8(%rax)
 movl $0, 12(%rax)
 ret

/* edi: register, esi: value */
ioapic_w:
 mov $IOAPIC, %eax
 mov %edi, (%rax)
 mov %esi, 0x10(%rax)
 ret
ioapic_r:
 mov $IOAPIC, %eax
 mov %edi, (%rax)
 mov 0x10(%rax), %eax
 ret

.macro EOI
 push %rax
 mov $LAPIC, %eax
 movl $0, 0xb0(%rax)
 pop %rax
.endm

h_default:
 lea s_unexpected(%rip), %rsi
 call puts
 mov $1, %al
 mov $0xf4, %dx
 out %al, %dx
1: cli
 hlt
 jmp 1b
h_spurious:
 iretq
h_pit:
 lock incl pit_count(%rip)
 EOI
 iretq
h_serial:
 push %rax
 push %rdx
 mov $0x3fa, %dx
 in %dx, %al
 mov $0x3f9, %dx
 xor %eax, %eax
 out %al, %dx
 lock incl ser_count(%rip)
 pop %rdx
 pop %rax
 EOI
 iretq
h_ipi:
 lock incl ipi_count(%rip)
 EOI
 iretq
h_ap_ipi:
 lock incl ap_ipi_count(%rip)
 EOI
 iretq

main:
 lidt idtr(%rip)
 xor %ebx, %ebx
1: mov %ebx, %edi
 lea h_default(%rip), %rsi
 call set_gate
 inc %ebx
 cmp $256, %ebx
 jne 1b
 mov $0xff, %edi
 lea h_spurious(%rip), %rsi
 call set_gate
 mov $0x30, %edi
 lea h_pit(%rip), %rsi
 call set_gate
 mov $0x31, %edi
 lea h_serial(%rip), %rsi
 call set_gate
 mov $0x40, %edi
 lea h_ipi(%rip), %rsi
 call set_gate
 mov $0x41, %edi
 lea h_ap_ipi(%rip), %rsi
 call set_gate
 mov $0xff, %al
 out %al, $0x21
 out %al, $0xa1
 mov $LAPIC, %ebx
 movl $0x1ff, 0xf0(%rbx)
 movl $0, 0x80(%rbx)
 mov 0x20(%rbx), %r12d
 shr $24, %r12d

 /* --- PIT channel 0 through IOAPIC pin 2, edge; then hlt woken by it */
 mov $0x15, %edi
 mov %r12d, %esi
 shl $24, %esi
 call ioapic_w
 mov $0x14, %edi
 mov $0x30, %esi
 call ioapic_w
 mov $0x34, %al
 out %al, $0x43
 mov $(1193 & 0xff), %al
 out %al, $0x40
 mov $(1193 >> 8), %al
 out %al, $0x40
 sti
 lea pit_count(%rip), %rdi
 mov $20, %esi
 call wait_ge
 lea s_pit(%rip), %rsi
 call report
 mov pit_count(%rip), %r13d
 add $5, %r13d
 mov $5, %r14d
2: hlt
 dec %r14d
 jnz 2b
 xor %eax, %eax
 cmp %r13d, pit_count(%rip)
 setae %al
 lea s_hlt(%rip), %rsi
 call report
 cli
 mov $0x14, %edi
 mov $0x10000, %esi
 call ioapic_w

 /* --- COM1 THRE through IOAPIC pin 4, level-triggered: every round
  * needs the EOI to have cleared Remote IRR */
 xor %eax, %eax
 mov $0x3f9, %dx
 out %al, %dx
 mov $0x19, %edi
 mov %r12d, %esi
 shl $24, %esi
 call ioapic_w
 mov $0x18, %edi
 mov $0x8031, %esi
 call ioapic_w
 sti
 mov $1, %r13d
3: mov $0x3f9, %dx
 mov $2, %al
 out %al, %dx
 lea ser_count(%rip), %rdi
 mov %r13d, %esi
 call wait_ge
 test %eax, %eax
 jz 4f
 mov $0x18, %edi
 call ioapic_r
 test $0x4000, %eax
 jnz 5f
 inc %r13d
 cmp $6, %r13d
 jne 3b
 mov $1, %eax
 jmp 4f
5: xor %eax, %eax
4: cli
 lea s_level(%rip), %rsi
 call report
 mov $0x18, %edi
 mov $0x10000, %esi
 call ioapic_w

 /* --- fixed IPI to self: by APIC ID, then the self shorthand */
 sti
 mov %r12d, %eax
 shl $24, %eax
 mov %eax, 0x310(%rbx)
 movl $0x40, 0x300(%rbx)
 lea ipi_count(%rip), %rdi
 mov $1, %esi
 call wait_ge
 test %eax, %eax
 jz 6f
 movl $0x40040, 0x300(%rbx)
 lea ipi_count(%rip), %rdi
 mov $2, %esi
 call wait_ge
6: cli
 lea s_ipi(%rip), %rsi
 call report

 /* --- CR8 and the TPR are one register; TPR holds a vector back */
.if TPR
 mov $5, %eax
 mov %rax, %cr8
 xor %r13d, %r13d
 cmpl $0x50, 0x80(%rbx)
 jne 7f
 sti
 movl $0x40040, 0x300(%rbx)
 call delay
 cmpl $2, ipi_count(%rip)
 jne 7f
 xor %eax, %eax
 mov %rax, %cr8
 lea ipi_count(%rip), %rdi
 mov $3, %esi
 call wait_ge
 test %eax, %eax
 jz 7f
 cli
 movl $0x60, 0x80(%rbx)
 mov %cr8, %rax
 cmp $6, %rax
 jne 7f
 mov $1, %r13d
7: cli
 movl $0, 0x80(%rbx)
 mov %r13d, %eax
 lea s_tpr(%rip), %rsi
 call report
.endif

 /* --- SMP: INIT-SIPI-SIPI to all but self; fixed IPIs to each AP */
.if NCPUS > 1
 lea tramp_start(%rip), %rsi
 mov $TRAMP, %edi
 mov $(tramp_end - tramp_start), %ecx
 rep movsb
 movl $0, 0x310(%rbx)
 movl $0xc4500, 0x300(%rbx)
 call delay
 movl $0xc4600 | (TRAMP >> 12), 0x300(%rbx)
 call delay
 movl $0xc4600 | (TRAMP >> 12), 0x300(%rbx)
 lea ap_started(%rip), %rdi
 mov $(NCPUS - 1), %esi
 call wait_ge
 lea s_smp(%rip), %rsi
 call report
.if APIPI
 mov $1, %r13d
8: lea ap_ids(%rip), %rdx
 mov (%rdx,%r13,4), %eax
 shl $24, %eax
 mov %eax, 0x310(%rbx)
 movl $0x41, 0x300(%rbx)
 lea ap_ipi_count(%rip), %rdi
 mov %r13d, %esi
 call wait_ge
 test %eax, %eax
 jz 9f
 inc %r13d
 cmp $NCPUS, %r13d
 jne 8b
 movl $0xc0041, 0x300(%rbx)
 lea ap_ipi_count(%rip), %rdi
 mov $(2 * (NCPUS - 1)), %esi
 call wait_ge
9: lea s_apipi(%rip), %rsi
 call report
.endif
.endif

 lea s_done(%rip), %rsi
 call puts
 mov fails(%rip), %eax
 test %eax, %eax
 setnz %al
 ret

ap_entry64:
 mov $0x10, %ax
 mov %ax, %ds
 mov %ax, %es
 mov %ax, %ss
 mov $1, %eax
 lock xadd %eax, ap_next(%rip)
 mov %eax, %ecx
 mov %rax, %rsp
 shl $12, %rsp
 add $AP_STACKS, %rsp
 lidt idtr(%rip)
 mov $LAPIC, %ebx
 movl $0x1ff, 0xf0(%rbx)
 movl $0, 0x80(%rbx)
 mov 0x20(%rbx), %eax
 shr $24, %eax
 lea ap_ids(%rip), %rdx
 mov %eax, (%rdx,%rcx,4)
 lock incl ap_started(%rip)
 sti
1: hlt
 jmp 1b

.code16
tramp_start:
 cli
 xor %ax, %ax
 mov %ax, %ds
 lgdtl TRAMP + (tramp_gdtr - tramp_start)
 mov %cr0, %eax
 or $1, %eax
 mov %eax, %cr0
 ljmpl $0x18, $(TRAMP + (tramp32 - tramp_start))
.code32
tramp32:
 mov $0x10, %ax
 mov %ax, %ds
 mov %ax, %es
 mov %ax, %ss
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
 ljmp $0x08, $ap_entry64
.balign 8
tramp_gdtr:
 .word gdt_end - gdt - 1
 .long gdt
tramp_end:

.balign 16
gdt:
 .quad 0
 .quad 0x00af9a000000ffff
 .quad 0x00cf92000000ffff
 .quad 0x00cf9a000000ffff
gdt_end:
gdtr:
 .word gdt_end - gdt - 1
 .long gdt
idtr:
 .word 4095
 .quad IDT
.balign 4
fails: .long 0
pit_count: .long 0
ser_count: .long 0
ipi_count: .long 0
ap_ipi_count: .long 0
ap_started: .long 0
ap_next: .long 0
ap_ids: .fill 64, 4, 0
s_pass: .asciz "PASS "
s_fail: .asciz "FAIL "
s_nl: .asciz "\n"
s_pit: .asciz "pit-ioapic"
s_hlt: .asciz "hlt-wakeup"
s_level: .asciz "ioapic-level-eoi"
s_ipi: .asciz "ipi-self"
s_tpr: .asciz "tpr-cr8"
s_smp: .asciz "smp-init-sipi"
s_apipi: .asciz "ipi-to-aps"
s_done: .asciz "IRQTEST DONE\n"
s_unexpected: .asciz "FAIL unexpected-interrupt\n"
"""

IRQ_CHECKS = ("pit-ioapic", "hlt-wakeup", "ioapic-level-eoi", "ipi-self")


def build_irq_kernel(outdir, ncpus, tpr=0, apipi=0):
    """The kernel above for ncpus CPUs, as a multiboot flat binary."""
    src = outdir / f"irqk{ncpus}.S"
    obj = outdir / f"irqk{ncpus}.o"
    binary = outdir / f"irqk{ncpus}.bin"
    src.write_text(IRQ_KERNEL.format(ncpus=ncpus, tpr=tpr, apipi=apipi))
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    subprocess.run(["ld", "-m", "elf_x86_64", "-Ttext=0x100000", "-e", "0",
                    "--oformat", "binary", "-o", str(binary), str(obj)],
                   check=True)
    return binary


def kvm_vm(kernel, irqchip, smp=1, extra=(), timeout=60):
    args = [vireo_binary(), "-accel", "kvm",
            "-machine", f"pc,kernel-irqchip={irqchip}", "-m", "256",
            "-smp", str(smp), "-display", "none", "-serial", "stdio",
            "-no-reboot", *DEBUG_EXIT, "-kernel", kernel, *extra]
    return run_vm(args, timeout=timeout)


def skip_if_mode_unsupported(r, irqchip):
    if irqchip == "split" and "KVM_CAP_SPLIT_IRQCHIP" in r.output:
        pytest.skip("this host's KVM has no KVM_CAP_SPLIT_IRQCHIP: "
                    + r.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def irq_kernels(tmp_path_factory):
    d = tmp_path_factory.mktemp("irqk")
    return {n: build_irq_kernel(d, n) for n in (1, 2, 4)}


@needs_kvm
@pytest.mark.parametrize("smp", [1, 2, 4])
@pytest.mark.parametrize("irqchip", MODES)
def test_interrupts_reach_the_guest(irq_kernels, irqchip, smp):
    """PIT -> IOAPIC -> LAPIC, hlt woken by it, a level-triggered IOAPIC
    pin delivered again only after each EOI, IPIs to self, and on SMP the
    APs started with INIT-SIPI-SIPI and reporting distinct APIC IDs."""
    r = kvm_vm(irq_kernels[smp], irqchip, smp)
    skip_if_mode_unsupported(r, irqchip)
    assert not r.timed_out, r.describe()
    checks = IRQ_CHECKS + (("smp-init-sipi",) if smp > 1 else ())
    for name in checks:
        assert f"PASS {name}" in r.output, r.describe()
    assert "FAIL" not in r.output, r.describe()
    assert "IRQTEST DONE" in r.output and r.returncode == 1, r.describe()


@pytest.fixture(scope="module")
def tk_images():
    missing = testkernel.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the test kernel: {missing}")
    return testkernel.build()


@needs_kvm
@pytest.mark.parametrize("smp", [2, 4])
@pytest.mark.parametrize("irqchip", MODES)
def test_testkernel_timer_serial_irq_and_smp(tk_images, irqchip, smp):
    """The test kernel's LAPIC timer (one-shot and periodic), COM1's
    interrupt through the IOAPIC, and INIT-SIPI-SIPI of every AP."""
    r = kvm_vm(tk_images["elf"], irqchip, smp, timeout=90,
               extra=["-append", f"test=timer,serial-irq,cpus cpus={smp}"])
    skip_if_mode_unsupported(r, irqchip)
    for name in ("timer", "serial-irq", "cpus"):
        assert f"PASS {name}" in r.output, r.describe()
    assert "TESTKERNEL DONE pass=3 fail=0" in r.output, r.describe()
    assert r.returncode == testkernel.EXIT_PASS, r.describe()


@pytest.fixture(scope="module")
def lm64_kernel():
    missing = cputest.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the CPU test kernels: {missing}")
    kernel = cputest.build()["lm64"]
    # the kernel's exception checks need a KVM that delivers #BP etc. in
    # long mode; kvm_pvm fails there with Debian's QEMU too
    probe = run_vm(cputest.command(vireo_binary(), kernel, accel="kvm"),
                   timeout=120)
    if "CPUTEST DONE" not in probe.output:
        last = (probe.output.strip().splitlines() or ["no output"])[-1]
        pytest.skip("this host's KVM cannot run the lm64 CPU test kernel "
                    f"even with the in-kernel irqchip ({last})")
    return kernel


@needs_kvm
@pytest.mark.slow
@pytest.mark.parametrize("smp", [1, 2, 4])
@pytest.mark.parametrize("irqchip", MODES)
def test_cputest_lm64(lm64_kernel, irqchip, smp):
    """The long-mode CPU checks, LAPIC timer and SMP start/lock xadd."""
    r = run_vm(cputest.command(vireo_binary(), lm64_kernel, smp=smp,
                               accel="kvm",
                               extra=["-machine",
                                      f"kernel-irqchip={irqchip}"]),
               timeout=180)
    skip_if_mode_unsupported(r, irqchip)
    assert not cputest.problems(r, "lm64", smp), r.describe()


# A flat 32-bit guest (paging off) that writes pseudo-random values into
# every IOAPIC register and redirection entry and the LAPIC page (IPIs of
# every delivery mode, timer, LVTs, SVR), with the PIT running and IF set,
# for ever.
GARBAGE = minikernel.PUTS + r"""
 mov $0x34, %al
 out %al, $0x43
 mov $0x10, %al
 out %al, $0x40
 out %al, $0x40
 mov ${seed}, %ebx
1: imul $1103515245, %ebx, %ebx
 add $12345, %ebx
 mov %ebx, %eax
 shr $8, %eax
 and $0x3f, %eax
 mov %eax, 0xfec00000
 mov %ebx, %eax
 xor $0x5a5a5a5a, %eax
 mov %eax, 0xfec00010
 mov %ebx, %ecx
 shr $4, %ecx
 and $0xff0, %ecx
 mov %ebx, %eax
 rol $13, %eax
 mov %eax, 0xfee00000(%ecx)
 sti
 jmp 1b
"""


@needs_kvm
@pytest.mark.parametrize("seed", [1, 7, 42])
@pytest.mark.parametrize("irqchip", MODES)
def test_garbage_in_the_controllers(tmp_path, irqchip, seed):
    """Whatever the guest programs into the IOAPIC and LAPIC (INIT, SIPI,
    NMI, ExtINT, illegal vectors, storms), Vireo neither crashes nor stops
    answering: SIGTERM ends it in order."""
    kernel = minikernel.build(f"garbage{seed}", tmp_path,
                              GARBAGE.replace("{seed}", str(seed)))
    args = [vireo_binary(), "-accel", "kvm", "-machine",
            f"pc,kernel-irqchip={irqchip}", "-m", "64", "-smp", "2",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", kernel]
    with VMProcess(args) as vm:
        if not vm.expect("READY", timeout=20):
            r = vm.wait(timeout=10)
            skip_if_mode_unsupported(r, irqchip)
            pytest.fail(r.describe())
        vm.expect("never printed", timeout=3)
        if vm.proc.poll() is None:  # else it ended by itself (a reset)
            os.killpg(vm.proc.pid, signal.SIGTERM)
        r = vm.wait(timeout=15)
    assert not r.timed_out, r.describe()
    assert r.returncode == 0, r.describe()
    assert "Sanitizer" not in r.output, r.describe()


# --- the command line -------------------------------------------------------

@pytest.mark.parametrize("value", ["bogus", "", "onn", "Split"])
def test_bad_kernel_irqchip_value_is_a_clear_error(value):
    r = run_vm([vireo_binary(), "-machine", f"pc,kernel-irqchip={value}",
                "-display", "none"], timeout=30)
    assert r.returncode == 1, r.describe()
    assert "kernel-irqchip" in r.output, r.describe()
    assert "on, off or split" in r.output, r.describe()


def test_kernel_irqchip_is_ignored_by_the_software_cpu(tmp_path):
    """As in QEMU, -accel tcg accepts kernel-irqchip= and always uses
    Vireo's own controllers."""
    kernel = minikernel.build("exit", tmp_path)
    for value in ("on", "off", "split"):
        r = run_vm([vireo_binary(), "-accel", "tcg", "-machine",
                    f"pc,kernel-irqchip={value}", "-m", "64", "-display",
                    "none", "-serial", "stdio", *DEBUG_EXIT, "-kernel",
                    kernel], timeout=30)
        assert r.returncode == 1 and "READY" in r.output, r.describe()


def test_help_mentions_kernel_irqchip():
    r = run_vm([vireo_binary(), "-h"], timeout=30)
    assert "kernel-irqchip=on|off|split" in r.output, r.describe()
