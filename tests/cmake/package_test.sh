#!/usr/bin/env bash
# find_package(kcfm) against an install: a program with a static and a
# shared graph library, with both generators; the signature exists and
# accepts a recorded run.
BUILD=$1 WORK=$2 SRC=$3
. "$(dirname "$0")/lib.sh"
install_prefix "$BUILD" "$WORK/prefix"
KCFM=$WORK/prefix/toolchain/bin/kcfm
for gen in Ninja "Unix Makefiles"; do
  b="$WORK/build-${gen// /_}"
  rm -rf "$b"
  cmake -S "$SRC/tests/cmake/project" -B "$b" -G "$gen" -DCMAKE_PREFIX_PATH="$WORK/prefix/toolchain" >"$b.configure.log" 2>&1 \
    || { cat "$b.configure.log"; fail "configure ($gen)"; }
  cmake --build "$b" -j2 >"$b.build.log" 2>&1 || { cat "$b.build.log"; fail "build ($gen)"; }
  [ -f "$b/app.kcfm" ] || fail "$gen: app.kcfm not built"
  [ -f "$b/parse.kcfmlib" ] && [ -f "$b/net.kcfmlib" ] || fail "$gen: library graphs not built"
  "$KCFM" show "$b/app.kcfm" >"$b/show.txt"
  grep -q "entry: main" "$b/show.txt" || fail "$gen: show: no entry main"
  for fn in parse_pairs copy_token net_probe checksum; do
    "$KCFM" show --function "$fn" "$b/app.kcfm" >/dev/null || fail "$gen: $fn (from a graph library) missing in the signature"
  done
  echo hello >"$b/input.txt"
  "$KCFM" record -o "$b/run.trace" -- "$b/app" "x=1;y=2" "$b/input.txt" >"$b/run.out" || fail "$gen: recorded run failed"
  grep -q "x=1" "$b/run.out" || fail "$gen: program output wrong"
  "$KCFM" check "$b/app.kcfm" "$b/run.trace" || fail "$gen: kcfm check rejected a real run"
  grep -q '"sym":"net_probe"' "$b/run.trace" || fail "$gen: no function events from the shared library in the trace"
done
echo "PASS cmake_package"
