#!/usr/bin/env bash
# Whole-program slowdown under the monitor (issue: "a syscall-heavy and a
# call-heavy workload"): the two programs of this folder are built like any
# user program (find_package(kcfm) against an install of the given kcfm
# build: instrumentation, signature, silent/flat functions), then run
# natively and under `kcfm run` (FlowMonitor + FlowChecker, default mode),
# alternating, ROUNDS times. Each program times its own loop (start-up
# excluded); the ratio monitored/native is per round, median reported.
# A benchmark, not a test: numbers go to docs/performance.md.
#
# usage: bench/workload/run.sh [BUILD_DIR] [ROUNDS]    (default build/dev 5)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$REPO/build/dev}" && pwd)
ROUNDS=${2:-5}
SYS_ITERS=${SYS_ITERS:-200000}
CALL_ITERS=${CALL_ITERS:-20000}
WORK=$(mktemp -d /tmp/kcfm-bench-workload.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
die() { echo "bench/workload: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null || die "install of $BUILD failed (build it first)"
KCFM=$WORK/prefix/toolchain/bin/kcfm
cmake -S "$REPO/bench/workload" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/prefix/toolchain" >"$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log"; die "configure failed"; }
cmake --build "$WORK/build" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; die "build failed"; }
head -c 16384 /dev/urandom >"$WORK/file.bin"

# run NAME native|monitored ARGS... -> first number the program prints
run() {
  local prog=$WORK/build/$1 mode=$2; shift 2
  local out
  if [ "$mode" = native ]; then
    out=$("$prog" "$@")
  else
    out=$("$KCFM" run --restarts 0 --incidents "$WORK/incidents.jsonl" -- "$prog" "$@")
  fi
  echo "${out%% *}" | head -1
}

declare -A S
for r in $(seq "$ROUNDS"); do
  order="native monitored"; [ $((r % 2)) = 0 ] && order="monitored native"
  for m in $order; do
    S[sys,$m,$r]=$(run sysheavy "$m" "$WORK/file.bin" "$SYS_ITERS")
    S[call,$m,$r]=$(run callheavy "$m" "$CALL_ITERS")
  done
  echo "round $r: sysheavy native ${S[sys,native,$r]} / monitored ${S[sys,monitored,$r]} ns/iteration;" \
       "callheavy native ${S[call,native,$r]} / monitored ${S[call,monitored,$r]} ns/evaluation" >&2
done
[ ! -s "$WORK/incidents.jsonl" ] || { cat "$WORK/incidents.jsonl"; die "the monitored runs raised incidents"; }
calls=$("$WORK/build/callheavy" 1 | awk '{print $2}')

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
report() { # KEY LABEL UNIT
  local ratios extras
  ratios=$(for r in $(seq "$ROUNDS"); do awk -v m="${S[$1,monitored,$r]}" -v n="${S[$1,native,$r]}" 'BEGIN{printf "%.4f\n", m/n}'; done)
  extras=$(for r in $(seq "$ROUNDS"); do awk -v m="${S[$1,monitored,$r]}" -v n="${S[$1,native,$r]}" 'BEGIN{printf "%.1f\n", m-n}'; done)
  local nat mon
  nat=$(for r in $(seq "$ROUNDS"); do echo "${S[$1,native,$r]}"; done | median)
  mon=$(for r in $(seq "$ROUNDS"); do echo "${S[$1,monitored,$r]}"; done | median)
  printf "| %s | %s | %s | %.3f× (%s–%s) | %+.1f %s |\n" "$2" "$nat" "$mon" "$(echo "$ratios" | median)" \
    "$(echo "$ratios" | sort -g | head -1)" "$(echo "$ratios" | sort -g | tail -1)" "$(echo "$extras" | median)" "$3"
}
echo "kcfm workloads ($(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| workload | native ns | monitored ns | monitored / native (median, range) | extra per iteration (median) |"
echo "|---|---|---|---|---|"
report sys "syscall-heavy: open + fstat + 4×read + close + write, per iteration" "ns"
report call "call-heavy: recursive-descent evaluation of a 200-term expression ($calls calls, of which the mutually recursive parse_expr/term/factor are instrumented)" "ns"
