# Build entry points. The two commands a user needs (see README):
#   docker/install-deps.sh && make run          build, then serve the default config
#   docker/install-deps.sh --test && make test  the whole test suite
BUILD ?= build
JOBS ?= $(shell nproc)
CONFIG ?= configs/default.yaml

.PHONY: all build run test bench format clean

all: build

build:
	@docker/install-deps.sh
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	exec $(BUILD)/proxy/glasstape serve --config $(CONFIG)

test:
	@tests/run-all.sh

bench: build
	tests/bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build build-asan
