#!/usr/bin/env bash
# Benchmark of `kcfm graph` against `clang-15 -fsyntax-only` on the same
# inputs: CPU time (user+sys, best of N runs, from rusage; the two commands
# alternate) and peak RSS. Both get -w (kcfm graph adds it anyway).
# Inputs: a generated ~200k-line C corpus (bench/graph/gencorpus), the
# SQLite amalgamation from the Go module cache (go-sqlite3 v1.14.53's
# sqlite3-binding.c, downloaded into a temporary module: never committed,
# never added to go.mod), and the example sources (examples/**/*.c|cpp).
# Results go to stdout as a Markdown table (paste into docs/performance.md).
#
# Usage: bench/graph/run.sh [RUNS]        (default 5)
# CLANG_W=default: the baseline is plain `clang-15 -fsyntax-only` with its
# default warnings (the issue's wording) instead of `-fsyntax-only -w`
# (the stricter default here: kcfm graph itself always parses with -w).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
RUNS=${1:-5}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

command -v clang-15 >/dev/null || { echo "clang-15 missing: run scripts/setup.sh" >&2; exit 1; }
go build -o "$TMP/kcfm" ./tools/cmd/kcfm
go build -o "$TMP/measure" ./bench/graph/measure
go run ./bench/graph/gencorpus -lines 200000 > "$TMP/corpus.c"

# SQLite from the module cache, through a throw-away module.
mkdir -p "$TMP/mod"
( cd "$TMP/mod" && go mod init kcfmbench >/dev/null 2>&1 &&
  GOFLAGS=-mod=mod go mod download -json github.com/mattn/go-sqlite3@v1.14.53 ) > "$TMP/mod.json"
SQLITE_DIR=$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' "$TMP/mod.json")
SQLITE="$SQLITE_DIR/sqlite3-binding.c"
[ -f "$SQLITE" ] || { echo "sqlite3-binding.c not found in $SQLITE_DIR" >&2; exit 1; }

CLANG_FLAGS=(-w)
[ "${CLANG_W:-}" = default ] && CLANG_FLAGS=()
echo "| input | lines | clang-15 -fsyntax-only${CLANG_FLAGS[*]:+ ${CLANG_FLAGS[*]}} CPU s | kcfm graph CPU s | CPU ratio | clang peak RSS MiB | kcfm peak RSS MiB | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|"
# row NAME LINES CLANG_CPU KCFM_CPU CLANG_RSS_KIB KCFM_RSS_KIB
row() {
  awk -v n="$1" -v l="$2" -v cc="$3" -v kc="$4" -v cr="$5" -v kr="$6" 'BEGIN {
    printf "| %s | %d | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f |\n", n, l, cc, kc, kc/cc, cr/1024, kr/1024, kr/cr }'
}
# measure_pair FILE FLAGS... -> "clang_cpu clang_rss kcfm_cpu kcfm_rss"
# The two commands alternate run by run (the machine may be shared: both
# see the same conditions); best CPU and largest RSS of each are kept.
measure_pair() {
  local f=$1; shift
  local bc=1e9 bk=1e9 rc=0 rk=0 c r
  for _ in $(seq "$RUNS"); do
    read -r c r < <("$TMP/measure" -n 1 -- clang-15 -fsyntax-only "${CLANG_FLAGS[@]}" "$@" "$f")
    bc=$(awk -v a="$bc" -v b="$c" 'BEGIN{print (b<a)?b:a}'); [ "$r" -gt "$rc" ] && rc=$r
    read -r c r < <("$TMP/measure" -n 1 -- "$TMP/kcfm" graph "$f" -o "$TMP/out.json" -- -w "$@")
    bk=$(awk -v a="$bk" -v b="$c" 'BEGIN{print (b<a)?b:a}'); [ "$r" -gt "$rk" ] && rk=$r
  done
  echo "$bc $rc $bk $rk"
}

read -r cc cr kc kr < <(measure_pair "$TMP/corpus.c")
row "generated corpus (gencorpus -lines 200000)" "$(wc -l < "$TMP/corpus.c")" "$cc" "$kc" "$cr" "$kr"
read -r cc cr kc kr < <(measure_pair "$SQLITE")
row "sqlite3-binding.c (SQLite 3.54.1 amalgamation)" "$(wc -l < "$SQLITE")" "$cc" "$kc" "$cr" "$kr"

# The example sources: each with the include directories of its project;
# CPU summed over the files, RSS the largest.
tc=0; tk=0; mr=0; mk=0; nl=0; nf=0
for f in $(find examples -name '*.c' -o -name '*.cpp' | sort); do
  proj=$(echo "$f" | cut -d/ -f1-2)
  incs=()
  while IFS= read -r d; do incs+=("-I$d"); done < <(find "$proj" -name '*.h' -exec dirname {} \; | sort -u)
  case "$f" in *.cpp) incs+=(-std=c++17) ;; esac
  read -r cc cr kc kr < <(measure_pair "$f" "${incs[@]}")
  tc=$(awk -v a="$tc" -v b="$cc" 'BEGIN{print a+b}'); tk=$(awk -v a="$tk" -v b="$kc" 'BEGIN{print a+b}')
  [ "$cr" -gt "$mr" ] && mr=$cr; [ "$kr" -gt "$mk" ] && mk=$kr
  nl=$((nl + $(wc -l < "$f"))); nf=$((nf + 1))
done
[ "$nf" -gt 0 ] && row "example sources ($nf files, CPU summed)" "$nl" "$tc" "$tk" "$mr" "$mk"
