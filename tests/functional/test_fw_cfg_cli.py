"""-boot, -smbios, -fw_cfg, -no-hpet: bad values end vireo with a clear
error naming the option (exit status 1), at parse time or when the machine
is built; good ones start the machine. Runs under -accel qtest: no guest
code and no KVM needed."""
import pytest

from vmrun import VMProcess, run_vm, vireo_binary

QTEST = ["-M", "pc", "-accel", "qtest", "-display", "none"]


def vireo(*args, timeout=30):
    return run_vm([vireo_binary(), *QTEST, *map(str, args)], timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["-boot", "order=cx"], "Invalid boot device for PC: 'x'"),
    (["-boot", "z"], "Invalid boot device for PC: 'z'"),
    (["-boot", "order=cc"], "Boot device 'c' was given twice"),
    (["-boot", "once=q"], "Invalid boot device for PC: 'q'"),
    (["-boot", "menu=maybe"], "menu"),
    (["-boot", "splash-time=70000"], "between 0 and 65535"),
    (["-boot", "splash-time=-1"], "between 0 and 65535"),
    (["-boot", "reboot-timeout=-2"], "between -1 and 65535"),
    (["-boot", "order=c,bogus=1"], "bogus"),
    (["-smbios", "type=1,bogus=x"], "bogus"),
    (["-smbios", "type=42"],
     "Don't know how to build fields for SMBIOS type 42"),
    (["-smbios", "type=1,uuid=xyz"], "Invalid UUID"),
    (["-smbios", "type=0,release=abc"], "MAJOR.MINOR"),
    (["-smbios", "vendor=x"], "expected type=N or file=FILE"),
    (["-smbios", "file=/nonexistent/smbios.bin"],
     "-smbios file=/nonexistent/smbios.bin"),
    (["-fw_cfg", "name=opt/x"], "exactly one of file and string"),
    (["-fw_cfg", "name=opt/x,file=/a,string=b"],
     "exactly one of file and string"),
    (["-fw_cfg", "file=/etc/hostname"], "exactly one of file and string"),
    (["-fw_cfg", "name=opt/" + "x" * 60 + ",string=y"], "name too long"),
    (["-fw_cfg", "name=opt/x,string=y,bogus=1"], "bogus"),
    (["-fw_cfg", "name=opt/x,file=/nonexistent/blob"],
     "can't load /nonexistent/blob"),
    (["-fw_cfg", "name=opt/x,string=a", "-fw_cfg", "name=opt/x,string=b"],
     "duplicate fw_cfg file name: opt/x"),
    (["-fw_cfg", "name=bootorder,string=a"],
     "duplicate fw_cfg file name: bootorder"),
    (["-machine", "pc,hpet=perhaps"], "hpet"),
])
def test_bad_values_fail_with_a_clear_error(args, message):
    r = vireo(*args)
    assert r.returncode == 1, r.describe()
    assert message in r.output, r.describe()
    assert "vireo:" in r.output


def test_non_opt_name_warns_like_qemu():
    with VMProcess([vireo_binary(), *QTEST, "-fw_cfg",
                    "name=etc/mine,string=x"]) as vm:
        r = vm.wait(timeout=3)
    assert 'should be prefixed with "opt/"' in r.output, r.describe()


def test_good_values_start_the_machine(tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(b"\0" * 100)
    with VMProcess([vireo_binary(), *QTEST,
                    "-boot", "order=dc,menu=on,splash-time=0,strict=on",
                    "-boot", "reboot-timeout=-1", "-no-hpet",
                    "-smbios", "type=1,serial=1", "-smbios", "type=11,value=a",
                    "-fw_cfg", f"opt/blob,file={blob}"]) as vm:
        r = vm.wait(timeout=3)
    # still running when the test stopped it, having said nothing else
    assert r.timed_out, r.describe()
    lines = [l for l in r.output.splitlines()
             if l and "terminating on signal" not in l]
    assert not lines, r.describe()
