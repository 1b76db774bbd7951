#!/usr/bin/env bash
# Incremental builds: touching one .c re-graphs exactly that TU (+ the link),
# touching a header re-graphs exactly the TUs that include it, a no-op build
# runs no kcfm step.
BUILD=$1 WORK=$2 SRC=$3
. "$(dirname "$0")/lib.sh"
install_prefix "$BUILD" "$WORK/prefix"
rm -rf "$WORK/src" "$WORK/b"
cp -r "$SRC/tests/cmake/project" "$WORK/src"
cmake -S "$WORK/src" -B "$WORK/b" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix/toolchain" >/dev/null
cmake --build "$WORK/b" >/dev/null
count() { # count kcfm graph / kcfm link commands of a verbose rebuild
  cmake --build "$WORK/b" -- -v >"$WORK/log" 2>&1 || { cat "$WORK/log"; fail "rebuild"; }
  G=$(grep -c ' graph -p ' "$WORK/log" || true)
  L=$(grep -c 'kcfm link --arch\|/kcfm link --arch' "$WORK/log" || true)
}
count; [ "$G" = 0 ] && [ "$L" = 0 ] || fail "no-op rebuild ran $G graph and $L link steps"
sleep 1; touch "$WORK/src/app/util.c"
count; [ "$G" = 1 ] || fail "touching util.c ran $G graph steps, want 1"; [ "$L" = 1 ] || fail "touching util.c ran $L signature links, want 1"
sleep 1; touch "$WORK/src/parse/parse.h"
count; [ "$G" = 2 ] || fail "touching parse.h ran $G graph steps, want 2 (main.c, parse.c)"
count; [ "$G" = 0 ] || fail "second no-op rebuild ran $G graph steps"
echo "PASS cmake_incremental"
