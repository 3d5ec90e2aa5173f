# Build entry points. The two commands a user needs (see README):
#   docker/install-deps.sh && make run          build, then serve the default config
#   docker/install-deps.sh --test && make test  the whole test suite
#
# `make build`, `run` and `install` build only what they ship or run (TARGETS), configured with
# GT_BUILD_TESTS=OFF, so they need none of the test-only packages (`install-deps.sh --test`).
# `make test` (tests/run-all.sh) reconfigures build/ with the tests, and runs `make run` itself.
#   make install [PREFIX=/usr/local] [DESTDIR=/staging] [BUILD_TYPE=Release]
# installs a stripped bin/glasstape, libexec/glasstape/glasstape-example-server, and the example
# configs and policies under share/glasstape/. The Dockerfile builds its image this way.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CONFIG ?= configs/default.yaml
PREFIX ?= /usr/local
DESTDIR ?=
CMAKE_ARGS ?=
TARGETS := glasstape glasstape-example-server

.PHONY: all build run install test bench format clean

all: build

build:
	@docker/install-deps.sh
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DGT_BUILD_TESTS=OFF \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target $(TARGETS)

run: build
	exec $(BUILD)/proxy/glasstape serve --config $(CONFIG)

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX) --strip

test:
	@tests/run-all.sh

bench:
	@docker/install-deps.sh --test
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DGT_BUILD_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	tests/bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build build-asan build-release
