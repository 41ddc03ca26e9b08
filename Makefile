# trit — `make` builds build/trit, `make test` builds and runs every test,
# `make san` runs the tests under ASan + UBSan, `make fuzz` builds the
# libFuzzer targets (clang), `make bench` runs the benchmarks.
CC      ?= cc
# x86-64-v3 (AVX2, FMA, F16C): one binary for every machine since Haswell /
# Zen 1. The packed-weight kernels that use more (AVX-512) are compiled with
# their own flags and chosen at run time (src/kernels/qmatmul.c).
ARCH    ?= -march=x86-64-v3
OPT     ?= -O3
CFLAGS  ?= $(OPT) $(ARCH) -g
# OpenBLAS built for OpenMP (Debian's libopenblas-openmp-dev), so that BLAS
# and our own `omp parallel` loops share one thread pool instead of two pools
# fighting over 2 cores. A decode step's one-row products and attention run
# on src/base/pool instead (src/base/pool.h says why): a step enters no
# OpenMP region.
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
# CI treats every warning as an error.
ifeq ($(CI),true)
CFLAGS  += -Werror
endif
CFLAGS  += -std=c11 -Wall -Wextra -Wno-unused-parameter -fopenmp -D_GNU_SOURCE -Isrc -I$(BLAS_INC)
LDLIBS  += -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -ldnnl -lpcre2-8 -lutf8proc -lcjson -lmicrohttpd -lm
# OpenMPI (Debian's libopenmpi-dev) for data-parallel training, wherever
# mpicc is found; MPI=0 builds without it (every run is one process).
MPI     ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
CFLAGS  += -DTRIT_MPI $(shell mpicc --showme:compile)
LDLIBS  += $(shell mpicc --showme:link)
endif
BUILD   ?= build
DATA    ?= $(abspath ../shared/data)

LIB_SRC  := $(sort $(wildcard src/*/*.c src/kernels/cpu/*.c))
LIB_HDR  := $(wildcard src/*/*.h src/kernels/cpu/*.h)
APP_SRC  := $(sort $(wildcard apps/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
APP_OBJ  := $(APP_SRC:apps/%.c=$(BUILD)/apps/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/%)

.PHONY: all test san fuzz fuzz-long bench clean
all: $(BUILD)/trit

# Per-file instruction sets: a *_avx2.c / *_avx512.c file is compiled for
# that ISA and only called after a cpuid check. fp-contract=off because the
# kernels must round exactly as their plain-C reference (no fused multiply-add).
AVX2_FLAGS   := -mavx2 -mfma -mf16c -ffp-contract=off
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq
# The kernels read no floating-point exception flags; without
# -fno-trapping-math GCC will not vectorise a clamp (qact.c, the ternary
# projection's t = clamp(round(w / s)), run over every weight each step;
# vexpf's clamps in ops.c: SwiGLU and the softmax of attention).
isa_flags     = $(if $(findstring src/kernels/cpu/,$1)$(findstring src/kernels/ops.c,$1)$(findstring src/quant/ternary.c,$1),-fno-trapping-math) \
                $(if $(findstring _avx512.c,$1),$(AVX512_FLAGS),$(if $(findstring _avx2.c,$1),$(AVX2_FLAGS)))

$(BUILD)/src/%.o: src/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(BUILD)/gen $(call isa_flags,$<) -c $< -o $@
# trit serve's chat page, built into the binary as a C array.
$(BUILD)/src/serve/server.o: $(BUILD)/gen/chat_html.h
$(BUILD)/gen/chat_html.h: src/serve/chat.html tools/embed.py
	python3 tools/embed.py $< $@ chat_html
$(BUILD)/apps/%.o: apps/%.c $(LIB_HDR) $(wildcard apps/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/libtrit.a: $(LIB_OBJ)
	ar rcs $@ $^
$(BUILD)/trit: $(APP_OBJ) $(BUILD)/libtrit.a
	$(CC) $(CFLAGS) $(APP_OBJ) $(BUILD)/libtrit.a $(LDLIBS) -o $@
$(BUILD)/test_%: tests/test_%.c $(wildcard tests/*.h) $(BUILD)/libtrit.a
	$(CC) $(CFLAGS) -Itests $< $(BUILD)/libtrit.a $(LDLIBS) -o $@

# Every test binary prints "name: P passed, F failed" and exits non-zero on
# any failure; tests/run.sh sums them and fails if any binary failed. First
# the include check: no folder of src/ includes one above it, no cycles.
test: $(BUILD)/trit $(TESTS)
	python3 tools/check_layers.py
	TRIT_DATA=$(DATA) TRIT_BIN=$(abspath $(BUILD)/trit) tests/run.sh $(TESTS) $(wildcard tests/test_*.sh)

# Same tests, built with AddressSanitizer + UndefinedBehaviorSanitizer.
# The interop test runs once, in `make test`: under the sanitizers its
# Python clients would only slow it down (test_cli covers export and the
# packed runtime there).
# clang, because its UBSan also reports pointer arithmetic on NULL (NULL + 0
# included), which GCC's does not; every report stops the test. At -O1 no
# loop is vectorized, so clang's notes on `omp simd` loops are silenced.
san:
	TRIT_SAN=1 $(MAKE) test BUILD=build-san CC=clang \
	  OPT="-O1 -Wno-pass-failed -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# The library is compiled per file (each with its ISA flags) with the
# sanitizers and fuzzer coverage, then linked into every target. Any
# sanitizer report stops the run, so that scripts/fuzz.sh counts it.
FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_FLAGS := -std=c11 -O1 -g -Wno-pass-failed -D_GNU_SOURCE -Isrc -I$(BLAS_INC) -fopenmp
FUZZ_OBJ   := $(LIB_SRC:src/%.c=build-fuzz/obj/%.o)
fuzz: $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
build-fuzz/obj/%.o: src/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -Ibuild-fuzz/gen -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $(call isa_flags,$<) -c $< -o $@
build-fuzz/obj/serve/server.o: build-fuzz/gen/chat_html.h
build-fuzz/gen/chat_html.h: src/serve/chat.html tools/embed.py
	python3 tools/embed.py $< $@ chat_html
build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJ) $(LIB_HDR)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $< $(FUZZ_OBJ) $(LDLIBS) -o $@
.SECONDARY: $(FUZZ_OBJ)
# Every target for FUZZ_SECONDS from its corpus (kept in build-fuzz/corpus);
# fails on any finding.
FUZZ_SECONDS ?= 600
fuzz-long: fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/%)
$(BUILD)/bench_%: bench/bench_%.c bench/membw.h $(BUILD)/libtrit.a
	$(CC) $(CFLAGS) $< $(BUILD)/libtrit.a $(LDLIBS) -o $@
bench: $(BUILD)/trit $(BENCHES)
	bench/run.sh $(BUILD) $(DATA)

clean:
	rm -rf build build-san build-fuzz
