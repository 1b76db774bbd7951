#!/usr/bin/env bash
# Benchmark of `kcfm graph` against `clang-15 -fsyntax-only` on the same
# inputs: CPU time (user+sys, best of N runs, from rusage) and peak RSS.
# Inputs: a generated ~200k-line C corpus (bench/graph/gencorpus), the
# SQLite amalgamation from the Go module cache (go-sqlite3 v1.14.53's
# sqlite3-binding.c, downloaded into a temporary module: never committed,
# never added to go.mod), and the example sources (examples/**/*.c|cpp).
# Results go to stdout as a Markdown table (paste into docs/performance.md).
#
# Usage: bench/graph/run.sh [RUNS]        (default 5)
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

inputs=("$TMP/corpus.c" "$SQLITE")
while IFS= read -r f; do inputs+=("$f"); done < <(find examples -name '*.c' -o -name '*.cpp' 2>/dev/null | sort)

echo "| input | lines | clang-15 -fsyntax-only CPU s | kcfm graph CPU s | CPU ratio | clang peak RSS MiB | kcfm peak RSS MiB | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|"
for f in "${inputs[@]}"; do
  flags=()
  case "$f" in *.cpp) flags=(-std=c++17) ;; esac
  read -r ccpu crss < <("$TMP/measure" -n "$RUNS" -- clang-15 -fsyntax-only -w "${flags[@]}" "$f")
  read -r kcpu krss < <("$TMP/measure" -n "$RUNS" -- "$TMP/kcfm" graph "$f" -o "$TMP/out.json" -- -w "${flags[@]}")
  name=$(basename "$f")
  [ "$f" = "$SQLITE" ] && name="sqlite3-binding.c (SQLite 3.54.1)"
  awk -v n="$name" -v l="$(wc -l < "$f")" -v cc="$ccpu" -v kc="$kcpu" -v cr="$crss" -v kr="$krss" 'BEGIN {
    printf "| %s | %d | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f |\n", n, l, cc, kc, kc/cc, cr/1024, kr/1024, kr/cr }'
done
