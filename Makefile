# ipckit - the two commands a new user runs:
#   make bench   build, then benchmark every mechanism side by side
#   make test    build, then run every test
# Also: make (build), make asan (tests under ASan+UBSan), make tsan,
# make install, make clean.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CMAKE_FLAGS ?=
BENCH_FLAGS ?= --quick --json bench-results.json --plot bench-results.png

.PHONY: all build test asan tsan bench install clean

all: build

$(BUILD)/Makefile:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/Makefile
	$(CMAKE) --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
	  -DIPK_SANITIZER=address,undefined $(CMAKE_FLAGS)
	$(CMAKE) --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug \
	  -DIPK_SANITIZER=thread $(CMAKE_FLAGS)
	$(CMAKE) --build build-tsan -j $(JOBS)
	cd build-tsan && ctest --output-on-failure -L tsan $(CTEST_FLAGS)

bench: build
	$(BUILD)/tools/ipckit/ipckit bench $(BENCH_FLAGS)

install: build
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan
