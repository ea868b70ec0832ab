# Drives meson/ninja. ./configure first (make does it with defaults if not).
BUILD ?= build

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	./configure --builddir=$(BUILD)

check: all
	/usr/bin/python3 tests/run.py

# every functional module again under ASan, LSan and UBSan (build-san):
# about twice the suite's time, so CI runs only a part of it
check-san:
	[ -f build-san/build.ninja ] || ./configure --enable-asan --enable-ubsan --enable-werror --builddir=build-san
	ninja -C build-san
	VIREO_SAN_ALL=1 VIREO_SAN_BUILD_DIR=$(CURDIR)/build-san /usr/bin/python3 tests/run.py tests/functional/test_sanitizers.py -k asan

bench: all
	VIREO_WITH_QEMU=1 bash scripts/install-deps.sh
	/usr/bin/python3 tests/bench/boot --write
	/usr/bin/python3 tests/bench/boot --accel tcg -n 3 --write
	/usr/bin/python3 tests/bench/virtio -n 3 --machines pc,microvm --write
	/usr/bin/python3 tests/bench/blk -n 3 --write
	/usr/bin/python3 tests/bench/blk --accel tcg -n 3 --write
	/usr/bin/python3 tests/bench/exits -n 5 --write
	/usr/bin/python3 tests/bench/exits --accel tcg -n 3 --write
	/usr/bin/python3 tests/bench/img -n 3 --write
	/usr/bin/python3 tests/bench/pcboot -n 3 --write
	/usr/bin/python3 tests/bench/display -n 3 --write
	/usr/bin/python3 tests/bench/ovmf -n 3 --write
	/usr/bin/python3 tests/bench/migrate -n 3 --write
	/usr/bin/python3 tests/bench/scale -n 3 --write
	/usr/bin/python3 tests/bench/scale --accel tcg -n 3 --write
	/usr/bin/python3 tests/bench/summary

# the Debian guest under disk, network, console and timer load with the
# monitor queried in a loop, for SOAK_MINUTES (default 10): no leak, no error
SOAK_MINUTES ?= 10
soak: all
	/usr/bin/python3 tests/soak/soak.py --minutes $(SOAK_MINUTES)

# libFuzzer targets with ASan/UBSan for FUZZ_TIME seconds each (default 60):
# every one (tests/fuzz/run-fuzz.sh --list), or those in FUZZ_TARGETS
fuzz:
	bash tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)

install: all
	meson install -C $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

.PHONY: all check check-san bench soak fuzz install format clean
