#!/usr/bin/env bash
# Prints the docs/policy.md comparison table (Markdown) for the given
# signatures: allowed syscalls and allowed transitions of each program's
# policy, next to the published anchors (research/anchors.md §2.1).
#
# Usage: tools/policy/scripts/compare.sh [-k KCFM] SIGNATURE.kcfm...
#   KCFM defaults to `kcfm` on PATH (e.g. build/.../toolchain/bin/kcfm).
set -euo pipefail

kcfm=kcfm
if [ "${1:-}" = "-k" ]; then kcfm=$2; shift 2; fi
if [ $# -eq 0 ]; then
  echo "usage: $0 [-k KCFM] SIGNATURE.kcfm..." >&2
  exit 2
fi
command -v "$kcfm" >/dev/null || { echo "$0: $kcfm not found (build kcfm or pass -k)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

field() { # field NAME FILE: a top-level number of the JSON report
  sed -n "s/^  \"$1\": \([0-9.e+-]*\),\{0,1\}$/\1/p" "$2" | head -n 1
}
sfield() {
  sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$2" | head -n 1
}

echo "| program | libc | allowed syscalls | checked | transitions, whole run | transitions, program phase | allowlist \|S\|² |"
echo "|---|---|---|---|---|---|---|"
for sig in "$@"; do
  rep="$tmp/$(basename "$sig").json"
  "$kcfm" policy --signature "$sig" --report "$rep"
  prog=$(sfield program "$rep")
  libc=$(sfield libc "$rep" | cut -d' ' -f1-2)
  allowed=$(field allowed "$rep")
  table=$(field arch_syscalls "$rep")
  checked=$(field checked "$rep")
  whole=$(field transitions "$rep")
  progt=$(field program_transitions "$rep")
  all=$(field allowlist_transitions "$rep")
  pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "0.0"; else printf "%.1f", 100 * (1 - a / b) }'; }
  echo "| $prog | $libc | $allowed of $table | $checked | $whole (−$(pct "$whole" "$all") %) | $progt (−$(pct "$progt" "$all") %) | $all |"
done
cat <<'ANCHORS'
| Docker default profile (x86_64, no added capabilities) | – | 297 of 362 [D] | – | – | – | – |
| sysfilter: nginx / redis / httpd / memcached | – | 115 / 104 / 98 / 104 | – | – | – | – |
| TSP serving phase: nginx / redis / httpd / memcached | – | 100 / 83 / 80 / 85 | – | – | – | – |
| SFIP syscall digraph vs seccomp allowlist | – | – | – | −38.6 % | – | – |
ANCHORS
