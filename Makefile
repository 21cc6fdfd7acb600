# thinice: build, test, install. `make` builds the four libraries, libthinice.a and the apps;
# `make test` runs the unit suite; `make san` runs it under ASan+UBSan; `make bench` measures;
# `make check-data` runs the integration checks on Fashion-MNIST and CIFAR-10; `make check-mpi`
# the distributed runs (Open MPI); `make fuzz` the file parsers' fuzzers (clang's libFuzzer,
# see docs/fuzzing.md).
PREFIX ?= /usr/local
CC ?= cc
# The default build runs on any CPU of its architecture (an installed libthinice.a may be
# copied to another machine). NATIVE=1 compiles for this machine's CPU (-march=native: AVX2
# and FMA on a recent x86-64) into its own directory; `make bench` always measures that build.
# docs/PERFORMANCE.md says what the portable build gives up.
NATIVE ?= 0
# MPI=1 builds the apps on Open MPI (mpicc) into build-mpi/: `mpirun -n N thinice-attack ...`
# (docs/distributed.md). The libraries are the same either way: they know nothing of MPI.
MPI ?= 0
ifeq ($(MPI),1)
BUILD ?= build-mpi
APP_CC := mpicc
APP_PROCS := apps/common/procs/mpi.c
else
APP_CC = $(CC)
APP_PROCS := apps/common/procs/single.c
endif
ifeq ($(NATIVE),1)
BUILD ?= build-native
OPT ?= -O3 -march=native
else
BUILD ?= build
OPT ?= -O3
endif
PKGS := openblas zlib

DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS))
DEP_LIBS := $(shell pkg-config --libs $(PKGS)) -lm -lpthread
CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS := $(shell pkg-config --libs check)

LIBS := tensor stats attack prune
INCS := $(foreach l,$(LIBS),-Ilib$(l)/include)
WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
# -fno-trapping-math: the library never unmasks floating-point exceptions, so GCC may
# evaluate both sides of a float select and vectorise loops with them (clamps, projections);
# the values are the same bits
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) -ffp-contract=fast -fno-trapping-math -g $(WARN) -MMD -MP $(INCS) $(DEP_CFLAGS) $(CFLAGS)
# the apps' own files include the shared app helpers by name
$(BUILD)/obj/apps/%.o: CFLAGS_ALL += -Iapps/common
$(BUILD)/obj/apps/%.o: CC := $(APP_CC)
LDFLAGS_ALL := $(LDFLAGS)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_SRC = $(wildcard lib$(1)/*.c)
ARCHIVES := $(foreach l,$(LIBS),$(BUILD)/lib/lib$(l).a)
ALL_LIB_OBJS := $(foreach l,$(LIBS),$(call obj,$(call LIB_SRC,$(l))))

# apps/<name>/ holds thinice-<name> (main.c and its own files); apps/common/ the helpers every
# app shares.
APP_COMMON := $(wildcard apps/common/*.c) $(APP_PROCS)
APP_NAMES := $(filter-out common,$(notdir $(patsubst %/,%,$(wildcard apps/*/))))
APPS := $(patsubst %,$(BUILD)/bin/thinice-%,$(APP_NAMES))

TEST_SRC := $(wildcard tests/check_*.c)
TEST_SUPPORT := tests/runner.c tests/testutil.c
TEST_BIN := $(BUILD)/bin/check_thinice
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bin/%,$(BENCH_SRC))

.PHONY: FORCE all test san bench check-data check-mpi check-symbols install clean fuzz fuzz-build \
  fuzz-bins
all: $(ARCHIVES) $(BUILD)/lib/libthinice.a $(APPS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

define archive_rule
$(BUILD)/lib/lib$(1).a: $(call obj,$(call LIB_SRC,$(1)))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LIBS),$(eval $(call archive_rule,$(l))))

# libthinice.a is the four archives merged into one.
$(BUILD)/lib/libthinice.a: $(ALL_LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define app_rule
$(BUILD)/bin/thinice-$(1): $(call obj,$(wildcard apps/$(1)/*.c)) $(call obj,$(APP_COMMON)) $(BUILD)/lib/libthinice.a
	@mkdir -p $$(dir $$@)
	$$(APP_CC) $$(LDFLAGS_ALL) -o $$@ $$^ $$(DEP_LIBS)
endef
$(foreach a,$(APP_NAMES),$(eval $(call app_rule,$(a))))

# The test runner collects every tests/check_<module>.c: each defines suite_<module>(). The
# list is written on every run and replaces the old one only when it differs, so that a test
# file removed leaves the list too (and an unchanged list rebuilds nothing).
$(BUILD)/tests/suites.inc: FORCE
	@mkdir -p $(dir $@)
	@printf '$(foreach f,$(TEST_SRC),SUITE($(patsubst tests/check_%.c,%,$(f)))\n)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
FORCE:

$(BUILD)/obj/tests/runner.o: $(BUILD)/tests/suites.inc
$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -I$(BUILD)/tests -Itests -c $< -o $@

$(TEST_BIN): $(call obj,$(TEST_SRC) $(TEST_SUPPORT)) $(BUILD)/lib/libthinice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CHECK_LIBS) $(DEP_LIBS)

test: all $(TEST_BIN) check-symbols
	$(TEST_BIN)

# A library others link must not take their names: every global symbol libthinice.a
# defines starts with ti_ (internals shared between files with ti__; AddressSanitizer adds
# an __odr_asan.<name> twin of each global in the sanitizer build).
check-symbols: $(BUILD)/lib/libthinice.a
	@bad=$$(nm -g --defined-only $< | awk 'NF == 3 && $$3 !~ /^(ti_|__odr_asan[.]ti_)/ {print $$3}' | sort -u); \
	if [ -n "$$bad" ]; then echo "check-symbols: global symbols without the ti_ prefix:" $$bad; exit 1; fi; \
	echo "check-symbols: every global symbol of $< starts with ti_"

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
san:
	$(MAKE) BUILD=build-san OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

# The parsers' libFuzzer harnesses (tests/fuzz/fuzz_<parser>.c), built by clang with ASan and
# UBSan against the libraries built the same way in build-fuzz/ (the plain build never needs
# clang). `make fuzz` runs each for FUZZ_SECONDS over a copy of its seed corpus
# (tests/fuzz/corpus/<parser>/) and fails on any crash, leak, timeout or memory blow-up.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/bin/%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/bin/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/lib/libthinice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(BUILD)/lib/libthinice.a $(DEP_LIBS)
# the harnesses of the study configuration and of checkpoint opening link those app files
$(BUILD)/bin/fuzz_json: $(call obj,apps/study/config.c apps/study/config_models.c)
$(BUILD)/bin/fuzz_safetensors: $(call obj,$(APP_COMMON))
.SECONDARY: $(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,$(wildcard tests/fuzz/fuzz_*.c))

fuzz-bins: $(FUZZ_BINS)
fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) LDFLAGS="$(FUZZ_SAN)" \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh build-fuzz

$(BUILD)/bin/bench_%: $(BUILD)/obj/tests/bench/bench_%.o $(BUILD)/obj/tests/bench/util.o $(BUILD)/lib/libthinice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DEP_LIBS)

ifeq ($(NATIVE),1)
bench: all $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done
else
# The benchmarks measure the native build (build-native/), whatever the default build is.
bench:
	$(MAKE) NATIVE=1 bench
endif

check-data: all $(BUILD)/bin/bench_data
	bash tests/data/run.sh $(BUILD)

# The distributed runs: the MPI build's apps under mpirun, and shards merged, against one
# process (needs libopenmpi-dev and openmpi-bin).
check-mpi:
	$(MAKE) MPI=1 all
	bash tests/mpi/run.sh build-mpi $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/include/thinice $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(foreach l,$(LIBS),$(wildcard lib$(l)/include/thinice/*.h)) $(DESTDIR)$(PREFIX)/include/thinice/
	install -m 644 $(ARCHIVES) $(BUILD)/lib/libthinice.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(APPS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define TI_VERSION "\(.*\)"/\1/p' libtensor/include/thinice/core.h)|' \
	  thinice.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/thinice.pc

clean:
	rm -rf build build-san build-native build-mpi build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
