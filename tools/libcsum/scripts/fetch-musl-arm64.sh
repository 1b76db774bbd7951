#!/usr/bin/env bash
# Fetches Debian's musl:arm64 package (the aarch64 musl libc.so) without
# touching the host's dpkg/apt state: a private apt state directory with arm64
# as the only architecture (recipe from research/feasibility-qemu.md).
# Prints the path of the extracted libc.so on stdout.
#
# Usage: tools/libcsum/scripts/fetch-musl-arm64.sh [WORKDIR]
#        WORKDIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/kcfm/musl-arm64
set -euo pipefail

W="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/kcfm/musl-arm64}"
mkdir -p "$W"
W="$(cd "$W" && pwd)"
A="$W/apt"
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc"
[ -e "$A/status" ] || : > "$A/status"
cat > "$A/apt.conf" <<EOC
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State::Lists "$A/lists";
Dir::State::status "$A/status";
Dir::Cache "$A/cache";
Dir::Etc::SourceParts "$A/etc";
Dir::Etc::SourceList "/dev/null";
EOC
cp /etc/apt/sources.list.d/*.sources "$A/etc/" 2>/dev/null || true
if ! ls "$A/etc/"*.sources >/dev/null 2>&1; then
  echo "fetch-musl-arm64: no /etc/apt/sources.list.d/*.sources to copy" >&2
  exit 1
fi
export APT_CONFIG="$A/apt.conf"
if [ -z "$(ls -A "$A/lists" | grep -v partial || true)" ]; then
  apt-get -q update >&2
fi
cd "$W"
rm -f musl_*_arm64.deb
apt-get -q download musl:arm64 >&2 2>/dev/null || apt-get -q download musl >&2
deb="$(ls musl_*_arm64.deb | head -n1)"
rm -rf x && dpkg-deb -x "$deb" x
lib="$W/x/lib/aarch64-linux-musl/libc.so"
if [ ! -f "$lib" ]; then
  echo "fetch-musl-arm64: $deb has no lib/aarch64-linux-musl/libc.so" >&2
  exit 1
fi
echo "$lib"
