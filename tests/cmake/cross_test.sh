#!/usr/bin/env bash
# Cross-compiling: the test project with the aarch64 toolchain file gives
# aarch64 binaries and a signature with aarch64 syscall numbers.
BUILD=$1 WORK=$2 SRC=$3
. "$(dirname "$0")/lib.sh"
install_prefix "$BUILD" "$WORK/prefix"
P=$WORK/prefix/toolchain
[ -f "$WORK/prefix/sysroot-aarch64-linux/lib/libkcfm_rt.a" ] || fail "no aarch64 runtime library in the install"
rm -rf "$WORK/b"
cmake -S "$SRC/tests/cmake/project" -B "$WORK/b" -G Ninja -DCMAKE_PREFIX_PATH="$P" \
  -DCMAKE_TOOLCHAIN_FILE="$P/lib/cmake/kcfm_tool/toolchain-aarch64-linux-gnu.cmake" >"$WORK/configure.log" 2>&1 \
  || { cat "$WORK/configure.log"; fail configure; }
cmake --build "$WORK/b" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail build; }
file "$WORK/b/app" | grep -q "ARM aarch64" || fail "app is not an aarch64 binary: $(file "$WORK/b/app")"
"$P/bin/kcfm" show "$WORK/b/app.kcfm" >"$WORK/show.txt"
grep -q "(aarch64)" "$WORK/show.txt" || fail "signature is not for aarch64"
# openat is 56 on aarch64 (257 on x86_64); the JSON lists numbers.
"$P/bin/kcfm" show --json "$WORK/b/app.kcfm" | tr -d ' \n' | grep -q '"Syscalls":\[[0-9,]*\b56\b' || fail "no aarch64 openat (56) in the signature"
grep -qw open "$WORK/show.txt" && fail "x86_64-only syscall 'open' in an aarch64 signature"
echo "PASS cmake_cross_aarch64"
