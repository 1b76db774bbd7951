#!/usr/bin/env bash
# Regenerates the four checked-in libc summaries in tools/libcsum/data from
# Debian 12's libcs (installed by scripts/setup.sh; musl:arm64 is fetched
# into a private apt state by fetch-musl-arm64.sh).
# Usage: tools/libcsum/scripts/generate.sh   (from anywhere in the repo)
set -euo pipefail
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
out=tools/libcsum/data
gen="$(mktemp -d)/libcsum-gen"
go build -o "$gen" ./tools/libcsum/gen   # the code behind `kcfm libc generate`
musl_arm64="$(tools/libcsum/scripts/fetch-musl-arm64.sh)"
"$gen" -arch x86_64  -libc glibc -o "$out/glibc-x86_64.json"  /lib/x86_64-linux-gnu/libc.so.6
"$gen" -arch aarch64 -libc glibc -o "$out/glibc-aarch64.json" /usr/aarch64-linux-gnu/lib/libc.so.6
"$gen" -arch x86_64  -libc musl  -o "$out/musl-x86_64.json"   /lib/x86_64-linux-musl/libc.so
"$gen" -arch aarch64 -libc musl  -o "$out/musl-aarch64.json"  "$musl_arm64"
ls -l "$out"
