# ipckit - the two commands a new user runs:
#   make bench   build, then benchmark every mechanism side by side
#   make test    build, then run every test
# Also: make (build), make asan (tests under ASan+UBSan), make tsan,
# make valgrind (the CLI under memcheck), make coverage (line and branch
# coverage of src/ by the test suite), make install, make clean. make tsan
# runs the tests labelled tsan (ring and thread tests) and the inproc
# contract cases under ThreadSanitizer.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CMAKE_FLAGS ?=
BENCH_FLAGS ?= --quick --json bench-results.json --plot bench-results.png \
  --html bench-results.html

.PHONY: all build test asan tsan bench install clean hooks hooks-list tidy \
  negative format format-check

all: build

$(BUILD)/Makefile:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/Makefile
	$(CMAKE) --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# make test as on a new user's plain machine (.ci/plain: no mqueue file
# system, optional programs and libraries hidden), in a build of its own.
.PHONY: test-plain
test-plain:
	.ci/plain $(MAKE) test BUILD=build-plain

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
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(JOBS) -L 'tsan|inproc' $(CTEST_FLAGS)

bench: build
	$(BUILD)/tools/ipckit/ipckit bench $(BENCH_FLAGS)

# A build with the crash sites and switchable checks of src/core/testhook.h.
hooks:
	$(CMAKE) -S . -B build-hooks -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DIPK_TEST_HOOKS=ON $(CMAKE_FLAGS)
	$(CMAKE) --build build-hooks -j $(JOBS)

# The CLI commands under valgrind memcheck, two real processes per
# transport (tests/valgrind/cli.sh; about 30 s).
.PHONY: valgrind
valgrind: build
	bash tests/valgrind/cli.sh $(BUILD)/tools/ipckit/ipckit

# Line and branch coverage of src/ by the whole test suite (gcovr): a
# summary on the terminal, build-cov/coverage.txt (lines),
# build-cov/branches.txt and build-cov/coverage.html (per file, annotated).
# Test failures are reported but do not stop the report; unoptimised and
# instrumented, tests get a longer timeout. About 7 minutes on 2 cores.
.PHONY: coverage
GCOVR_FLAGS = -r . --filter 'src/' --exclude-unreachable-branches -j $(JOBS)
coverage:
	$(CMAKE) -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_FLAGS='--coverage -O0 -g' \
	  -DCMAKE_EXE_LINKER_FLAGS=--coverage \
	  -DCMAKE_SHARED_LINKER_FLAGS=--coverage -DIPK_TEST_TIMEOUT=300 \
	  $(CMAKE_FLAGS)
	$(CMAKE) --build build-cov -j $(JOBS)
	find build-cov -name '*.gcda' -delete
	-cd build-cov && ctest -j $(JOBS) $(CTEST_FLAGS) >ctest.log 2>&1; \
	  tail -n 3 ctest.log
	gcovr $(GCOVR_FLAGS) --json build-cov/coverage.json build-cov
	gcovr -r . -a build-cov/coverage.json --txt build-cov/coverage.txt \
	  --html-details build-cov/coverage.html --print-summary
	gcovr -r . -a build-cov/coverage.json --branches \
	  --txt build-cov/branches.txt

# Every crash site and switchable check named in src/.
hooks-list:
	@grep -rhozE --exclude=testhook.h \
	  'IPK__(CRASH_SITE|CHECK)\([[:space:]]*"[^"]+"' src | tr '\n\0' ' \n' | \
	  sed -E 's/IPK__(CRASH_SITE|CHECK)\([[:space:]]*"(.*)"/\1 \2/' | sort -u

# clang-tidy over src/ and tools/ with the checks of .clang-tidy (bugprone-*,
# cert-*): any finding fails. Uses the build's compile_commands.json.
TIDY ?= $(shell command -v run-clang-tidy-14 || command -v run-clang-tidy)
# (compile flags gcc has and clang-tidy does not are left out of its copy)
tidy: $(BUILD)/Makefile
	mkdir -p $(BUILD)/tidy && sed 's/ -mtls-dialect=gnu2//g' \
	  $(BUILD)/compile_commands.json >$(BUILD)/tidy/compile_commands.json
	$(TIDY) -quiet -p $(BUILD)/tidy -j $(JOBS) '$(CURDIR)/(src|tools)/.*\.c$$' \
	  > $(BUILD)/tidy.log 2>&1; rc=$$?; \
	grep -E 'warning:|error:' $(BUILD)/tidy.log | sort -u; \
	n=$$(grep -cE 'warning:|error:' $(BUILD)/tidy.log); \
	echo "clang-tidy: $$n findings"; [ $$rc = 0 ] && [ $$n = 0 ]

# clang-format over every tracked C file: `make format` rewrites them,
# `make format-check` lists the files that differ and fails (CI).
CLANG_FORMAT ?= $(shell command -v clang-format || command -v clang-format-14)
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)
format-check:
	@bad=$$($(CLANG_FORMAT) --dry-run $(FORMAT_FILES) 2>&1 | \
	  sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: warning:.*/\1/p' | sort -u); \
	[ -z "$$bad" ] || { echo "not clang-formatted (make format):"; \
	  echo "$$bad"; exit 1; }; echo "clang-format: every file formatted"

# Negative controls: each IPK__CHECK switched off in turn must make a test
# fail (tests/negative/run.sh; NEG_CHECKS="name prefix ..." for a subset).
negative:
	JOBS=$(JOBS) tests/negative/run.sh $(NEG_CHECKS)

install: build
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-hooks build-cov build-neg \
	  build-plain \
	  build-neg-fuzz

# Fuzzing (clang + libFuzzer). FUZZ_SECONDS per target; the corpus in
# tests/fuzz/corpus/<target> grows as the fuzzer finds new inputs;
# tests/fuzz/<target>.dict, when present, is the target's dictionary.
# docs/fuzzing.md describes the targets.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 8
FUZZ_TARGETS = $(patsubst tests/fuzz/%_fuzz.c,%,$(wildcard tests/fuzz/*_fuzz.c))
# A small ASan quarantine keeps long runs under the RSS limit.
export ASAN_OPTIONS ?= quarantine_size_mb=16
FUZZ_FLAGS = -timeout=1 -rss_limit_mb=256 \
  $$(test -f tests/fuzz/$$t.dict && echo -dict=tests/fuzz/$$t.dict)
.PHONY: fuzz-build fuzz fuzz-smoke
fuzz-build:
	CC=clang $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug \
	  -DIPK_FUZZ=ON -DIPK_TESTS=OFF -DIPK_TOOLS=OFF -DIPK_EXAMPLES=OFF \
	  -DIPK_SANITIZER=address,undefined
	$(CMAKE) --build build-fuzz -j $(JOBS)

fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do mkdir -p tests/fuzz/corpus/$$t; \
	  build-fuzz/tests/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) \
	    $(FUZZ_FLAGS) tests/fuzz/corpus/$$t || exit 1; done

# Replays every committed input (regressions included), then fuzzes each
# target briefly into a scratch corpus.
fuzz-smoke: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  build-fuzz/tests/fuzz/$${t}_fuzz $(FUZZ_FLAGS) \
	    tests/fuzz/corpus/$$t/* >/dev/null 2>&1 || { \
	    echo "fuzz $$t: a committed input fails:"; \
	    build-fuzz/tests/fuzz/$${t}_fuzz $(FUZZ_FLAGS) \
	      tests/fuzz/corpus/$$t/*; exit 1; }; \
	  d=$$(mktemp -d /tmp/ipk-fuzz-$$t.XXXXXX); \
	  build-fuzz/tests/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SMOKE_SECONDS) \
	    $(FUZZ_FLAGS) $$d tests/fuzz/corpus/$$t >$$d.log 2>&1; \
	  rc=$$?; echo "fuzz $$t: $$(grep -E '^#[0-9]+[[:space:]]+DONE' $$d.log | tr '\t' ' ')"; \
	  [ "$$rc" = 0 ] || { tail -60 $$d.log; rm -rf $$d $$d.log; \
	    echo "fuzz $$t failed ($$rc)"; exit 1; }; \
	  rm -rf $$d $$d.log; done

# Reliability runs (see docs/reliability.md). `make crash` is the long crash
# matrix: CRASH_TRIALS kills per variant and role, CRASH_MSGS messages per
# trial, CRASH_STOPS frozen-peer and CRASH_RESTARTS kill-and-restart trials,
# and kills at the N-th send/receive system call for N = 1..CRASH_SYSCALL_SWEEP
# (strace). `make crash-sites` builds the test-hook library (make hooks) and
# kills each role at every in-library crash site, hits 1..CRASH_SITE_HITS.
# The variants are those the transport tables give the crash matrix
# (crash_matrix --variants); CRASH_VARIANTS="fifo shm/futex" picks some.
# `make soak DURATION=s` streams checksummed messages over several
# transports at once and reports messages checked, RSS and descriptors.
CRASH_TRIALS ?= 200
CRASH_MSGS ?= 20000
CRASH_STOPS ?= 20
CRASH_RESTARTS ?= 200
CRASH_SYSCALL_SWEEP ?= 200
CRASH_SITE_HITS ?= 20
CRASH_SITE_MSGS ?= 2000
DURATION ?= 30
SOAK_VARIANTS ?= fifo unix mq sysv tcp shm/futex
CRASH_VARIANTS ?=
.PHONY: crash crash-sites soak
# Each line of `crash_matrix --variants` is NAME SCHEME SITES [QUERY];
# $(1) is the build, $(2) a shell test on $$sites.
crash_each = $(1)/tests/crash_matrix --variants | \
	while read -r v scheme sites q; do \
	  [ -z "$(CRASH_VARIANTS)" ] || case " $(CRASH_VARIANTS) " in \
	    *" $$v "*) ;; *) continue;; esac; \
	  $(2) || continue;
crash: build
	$(call crash_each,$(BUILD),true) \
	  IPK_CRASH_TRIALS=$(CRASH_TRIALS) IPK_CRASH_MSGS=$(CRASH_MSGS) \
	  IPK_CRASH_STOPS=$(CRASH_STOPS) IPK_CRASH_RESTARTS=$(CRASH_RESTARTS) \
	  IPK_CRASH_SYSCALL_SWEEP=$(CRASH_SYSCALL_SWEEP) \
	    $(BUILD)/tests/crash_matrix $$v $$q </dev/null || exit 1; done
	cd $(BUILD) && ctest --output-on-failure -R 'crash_' $(CTEST_FLAGS)

crash-sites: hooks
	$(call crash_each,build-hooks,[ $$sites = 1 ]) \
	  IPK_CRASH_SITES=$(CRASH_SITE_HITS) IPK_CRASH_MSGS=$(CRASH_SITE_MSGS) \
	    build-hooks/tests/crash_matrix $$v $$q </dev/null || exit 1; done

# The crash matrix finds each variant's query in the transport tables.
soak: build
	pids=""; for v in $(SOAK_VARIANTS); do \
	  IPK_CRASH_SOAK=$(DURATION) IPK_CRASH_MSGS=$${SOAK_MSGS:-20000} \
	    $(BUILD)/tests/crash_matrix $$v & pids="$$pids $$!"; done; \
	rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

# Fault-injection loops (tests/fault/run.sh): fail the N-th system call
# (strace -e inject, each call x errno, N = 1, 2, ... once and for ever) and
# the N-th library allocation (IPK_TEST_FAIL_ALLOC, under ASan + LSan).
# `make fault` is the whole matrix; `make fault-ci` the CI subset.
.PHONY: fault fault-ci fault-asan-build
fault-asan-build:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
	  -DIPK_SANITIZER=address,undefined $(CMAKE_FLAGS)
	$(CMAKE) --build build-asan -j $(JOBS) --target fault_op

fault: build fault-asan-build
	tests/fault/run.sh --full --syscalls-only --build $(BUILD)
	tests/fault/run.sh --full --malloc-only --build build-asan

fault-ci: build fault-asan-build
	tests/fault/run.sh --ci --syscalls-only --build $(BUILD) shm/futex & \
	  p=$$!; tests/fault/run.sh --ci --syscalls-only --build $(BUILD) \
	  unix; r=$$?; wait $$p && [ $$r = 0 ]
	FAULT_ERRNOS=ENOSPC FAULT_SYSCALLS=openat \
	  tests/fault/run.sh --ci --syscalls-only --build $(BUILD) fifo
	$(BUILD)/tests/fault_op unix - accept4:error=EINTR:when=1+; \
	  test $$? = 2 # a timed accept under endless EINTR times out
	tests/fault/run.sh --ci --malloc-only --build build-asan
