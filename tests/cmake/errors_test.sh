#!/usr/bin/env bash
# Misuse of the CMake commands fails configuration with a message that says
# what is wrong and what to do.
BUILD=$1 WORK=$2 SRC=$3
. "$(dirname "$0")/lib.sh"
install_prefix "$BUILD" "$WORK/prefix"
check() { # check CASE EXPECTED-REGEX
  local b="$WORK/$1"
  rm -rf "$b"
  if cmake -S "$SRC/tests/cmake/errors" -B "$b" -G Ninja -DCASE="$1" -DCMAKE_PREFIX_PATH="$WORK/prefix/toolchain" >"$b.log" 2>&1; then
    cat "$b.log"; fail "$1: configuration succeeded"
  fi
  # CMake wraps messages: compare on the log with lines joined.
  flat=$(tr '\n' ' ' <"$b.log" | tr -s ' ')
  grep -Eq "$2" <<<"$flat" || { cat "$b.log"; fail "$1: message does not match /$2/"; }
  echo "ok $1: $(grep -oE "$2" <<<"$flat" | head -n 1)"
}
check not_executable "is a STATIC_LIBRARY; signatures are for executables"
check not_library "is a EXECUTABLE; it must be a STATIC or SHARED library"
check not_a_target "'nosuchtarget' is not a target; call it after add_executable"
check unsupported_language "is not C or C\+\+"
check output_not_writable "not writable"
check tool_missing "the kcfm tool was not found"
check policy_without_signature "call kcfm_generate_signature\(e\) first"
check unknown_keyword "unknown arguments: OUTPTU"
echo "PASS cmake_errors"
