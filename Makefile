# weft: the top-level entry points. CMake does the building; this file picks
# the build directories and makes sure the Debian packages are there.
#   make          build (release, build/release)
#   make run      run the main job (the weft program)
#   make test     build and run the test suite plain, under ASan+UBSan, under TSan
#   make bench    run the benchmarks and their peers; writes bench/results/latest.md
#   make fuzz     run each libFuzzer harness for FUZZ_TIME seconds (clang)
#   make fuzz-merge  add the inputs `make fuzz` found that widen coverage to fuzz/corpus
#   make install  install (PREFIX=/usr/local by default)
#   make docs     the API reference from the headers' comments (doxygen):
#                 build/docs/html/index.html and man pages in build/docs/man

BUILD   ?= build
MAKEFLAGS += --no-print-directory
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN = cmake -S . -DCMAKE_INSTALL_PREFIX=$(PREFIX)
# Test modes: plain -O2, ASan+UBSan, TSan. `make test MODES=plain` runs one.
MODES   ?= plain asan tsan
FUZZ_TIME ?= 60

.PHONY: all build run test bench fuzz fuzz-build fuzz-merge install docs clean deps-build deps-test deps-bench deps-fuzz deps-docs $(addprefix test-,plain asan tsan)

all: build

deps-build deps-test deps-bench deps-fuzz deps-docs: deps-%:
	@sh scripts/deps.sh $*

build: deps-build
	@$(CMAKE_GEN) -B $(BUILD)/release -DWEFT_TESTS=OFF >/dev/null
	@cmake --build $(BUILD)/release -j $(JOBS)

run: build
	@$(BUILD)/release/tools/weft/weft

test: deps-test
	@set -e; for m in $(MODES); do $(MAKE) --no-print-directory test-$$m; done

test-plain: SAN =
test-asan:  SAN = address
test-tsan:  SAN = thread
test-plain test-asan test-tsan: test-%:
	@echo "== weft tests: $* =="
	@$(CMAKE_GEN) -B $(BUILD)/$* -DWEFT_SANITIZE=$(SAN) -DWEFT_BENCH=OFF >/dev/null
	@cmake --build $(BUILD)/$* -j $(JOBS)
	@cd $(BUILD)/$* && ctest --output-on-failure -j $(JOBS) --timeout 300

bench: deps-bench build
	@$(BUILD)/release/bench/weft-bench --out bench/results/latest.md

fuzz-build: deps-fuzz
	@$(CMAKE_GEN) -B $(BUILD)/fuzz -DCMAKE_C_COMPILER=clang -DWEFT_FUZZ=ON -DWEFT_TESTS=OFF \
		-DWEFT_BENCH=OFF -DWEFT_EXAMPLES=OFF >/dev/null
	@cmake --build $(BUILD)/fuzz -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	@sh scripts/fuzz.sh $(BUILD)/fuzz $(FUZZ_TIME)

fuzz-merge: fuzz-build
	@for n in $$(cat $(BUILD)/fuzz/fuzz/names); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$n; \
		$(BUILD)/fuzz/fuzz/fuzz_$$n -merge=1 fuzz/corpus/$$n $(BUILD)/fuzz/corpus/$$n 2>&1 | tail -1; \
	done

install: build
	@cmake --install $(BUILD)/release

# Warnings are printed; the test suite's check_docs fails on them.
docs: deps-docs
	@rm -rf $(BUILD)/docs && mkdir -p $(BUILD)/docs
	@WEFT_DOCS_DIR=$(BUILD)/docs doxygen docs/Doxyfile
	@if [ -s $(BUILD)/docs/warnings.log ]; then cat $(BUILD)/docs/warnings.log >&2; fi
	@echo "API reference: $(BUILD)/docs/html/index.html; man pages: man -M $(BUILD)/docs/man weft_lock_acquire"

clean:
	rm -rf $(BUILD)
