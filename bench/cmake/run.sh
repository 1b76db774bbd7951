#!/usr/bin/env bash
# Build time of a program with and without kcfm_generate_signature (and its
# graph library), from scratch, alternated ROUNDS times in the same run.
# The program is the kcfm_http_server example (server + httpparse library).
# Usage: bench/cmake/run.sh [KCFM_BUILD_DIR] [ROUNDS]
#   KCFM_BUILD_DIR: a configured and built kcfm tree (default build/dev);
#   its build-tree package is used through find_package(kcfm).
# Prints each round and the median ratio with/without. Extra configure
# options for the "with" project: KCFM_BENCH_CMAKE_ARGS (e.g.
# -DKCFM_INSTRUMENT_SILENT=ON: every function instrumented, so the compile
# does not wait for the graph and link steps).
set -euo pipefail
cd "$(dirname "$0")/../.."
KB=$(realpath "${1:-build/dev}")
ROUNDS=${2:-5}
SRC=$(realpath examples/kcfm_http_server)
W=$(mktemp -d /tmp/kcfm-bench-cmake.XXXXXX)
trap 'rm -rf "$W"' EXIT

mkproj() { # mkproj DIR WITH(0|1)
  mkdir -p "$1"
  cat >"$1/CMakeLists.txt" <<EOC
cmake_minimum_required(VERSION 3.20)
project(bench C)
find_package(kcfm REQUIRED)
add_library(httpparse STATIC $SRC/httpparse/httpparse.c)
target_include_directories(httpparse PUBLIC $SRC/httpparse)
add_executable(server $SRC/src/server.c $SRC/src/handlers.c $SRC/src/echo.c $SRC/src/maintenance.c)
target_link_libraries(server PRIVATE httpparse)
target_compile_definitions(server PRIVATE KCFM_HTTP_VULNERABLE_DEMO)
set_target_properties(server httpparse PROPERTIES C_STANDARD 11)
if($2)
  kcfm_make_graph_lib(httpparse)
  kcfm_generate_signature(server)
endif()
EOC
}
mkproj "$W/with" 1
mkproj "$W/without" 0
one() { # one VARIANT -> seconds
  local b="$W/b-$1"
  rm -rf "$b"
  local extra=()
  [ "$1" = with ] && read -r -a extra <<<"${KCFM_BENCH_CMAKE_ARGS:-}"
  cmake -S "$W/$1" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$KB/toolchain" "${extra[@]}" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  cmake --build "$b" -j2 >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  a=$(one with); b=$(one without)
  ratio=$(echo "scale=3; $a / $b" | bc)
  ratios+=("$ratio")
  printf 'round %d: with kcfm %.2f s, without %.2f s, ratio %s\n' "$r" "$a" "$b" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median build-time ratio with/without kcfm_generate_signature: $median"
