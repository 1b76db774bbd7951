#!/usr/bin/env bash
# Runs every test of the project: gofmt + go vet, the Go tests (with -race),
# then the CMake build of the tools, examples and integration tests, and ctest.
# Usage: scripts/test.sh [BUILD_DIR]     (default build/test)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build/test}
export PATH="/usr/local/go/bin:$PATH"

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './build/*'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

echo "== cmake build + ctest ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2
