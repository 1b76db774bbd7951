#!/usr/bin/env bash
# Precision of the model for the examples, from a built tree:
#   - allowed syscalls and allowed transitions vs a plain allowlist (kcfm policy report),
#   - static average branching factor (kcfm show),
#   - dynamic average branching factor of a real recorded run (kcfm record + kcfm check),
#     with every syscall observed ("full") and with the default sensitive set,
#   - average number of targets per indirect call (kcfm link).
# Usage: bench/precision/run.sh [BUILD_DIR]   (default build/dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "${1:-build/dev}")
K=$B/bin/kcfm
W=$(mktemp -d /tmp/kcfm-precision.XXXXXX)
trap 'rm -rf "$W"; [ -n "${SP:-}" ] && kill "$SP" 2>/dev/null || true' EXIT


row() { # row NAME SIG TRACE GRAPHS...
  local name=$1 sig=$2 tr=$3; shift 3
  "$K" policy --signature "$sig" --report "$W/$name.report.txt"
  local allowed trans_prog allow2 sabf dabf_full icall
  allowed=$(sed -n 's/^allowed syscalls: *\([0-9]* of [0-9]*\).*/\1/p' "$W/$name.report.txt")
  allow2=$(sed -n 's/.*|S|² = \([0-9]*\).*/\1/p' "$W/$name.report.txt")
  trans_prog=$(sed -n 's/^ *program phase: *\([0-9]*\).*/\1/p' "$W/$name.report.txt")
  sabf=$("$K" show "$sig" | sed -n 's/^static average branching factor: //p')
  dabf_full=$("$K" check "$sig" "$tr" | sed -n 's/.*average branching factor //p')
  icall=$("$K" link -o "$W/$name.relink.kcfm" "$@" 2>&1 | sed -n 's/.*indirect calls \([0-9]*\) (avg \([0-9.]*\) targets.*/\1 calls, avg \2 targets/p')
  printf '| %s | %s | %s of %s | %s | %s | %s |\n' "$name" "$allowed" "$trans_prog" "$allow2" "$sabf" "$dabf_full" "$icall"
}

# kcfm_hello: one recorded run.
H=$B/examples/kcfm_hello
"$K" record -o "$W/hello.trace" -- "$H/kcfm_hello" -o "$W/log.txt" Alice BOB >/dev/null
# kcfm_http_server: recorded while serving 50 keep-alive requests.
S=$B/examples/kcfm_http_server
mkdir -p "$W/www"; echo hi >"$W/www/index.html"
PORT=$((20000 + RANDOM % 40000))
"$K" record -o "$W/server.trace" -- "$S/kcfm_http_server" --root "$W/www" --port "$PORT" >"$W/server.out" 2>&1 &
SP=$!
for _ in $(seq 1 100); do grep -q "listening on" "$W/server.out" 2>/dev/null && break; sleep 0.05; done
"$S/kcfm_http_get" -t 5 -q -n 25 127.0.0.1 "$PORT" /index.html /api/status
kill -TERM "$SP"; wait "$SP" || true; SP=""

echo "| program | allowed syscalls | allowed transitions (program phase) of a plain allowlist | static ABF | dynamic ABF (recorded run) | indirect calls |"
echo "|---|---|---|---|---|---|"
row kcfm_hello "$H/kcfm_hello.kcfm" "$W/hello.trace" $(find "$H/CMakeFiles/kcfm_hello.kcfm.dir" -name '*.kcfmtu')
row kcfm_http_server "$S/kcfm_http_server.kcfm" "$W/server.trace" $(find "$S/CMakeFiles/kcfm_http_server.kcfm.dir" -name '*.kcfmtu') "$S/httpparse.kcfmlib"
