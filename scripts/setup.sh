#!/usr/bin/env bash
# Installs every Debian package the project needs (build, tests, images).
# Idempotent: packages already present are not fetched again.
# Usage: scripts/setup.sh            (needs root or sudo)
set -euo pipefail

PKGS=(
  # build: cgo against libclang-15, CMake + Ninja
  clang-15 libclang-15-dev llvm-15 cmake ninja-build make gcc g++ pkg-config
  # kernel headers: syscall tables are generated from them
  linux-libc-dev
  # tests: tracing, ELF inspection, graph rendering, load client, unit checks
  strace file graphviz wrk systemd curl
  # libc summaries: musl for x86-64, the arm64 cross libc
  musl musl-dev musl-tools
  # cross-compiling and images
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross
  qemu-system-arm qemu-system-x86
  # images: cross-check of our initramfs writer (tools/image/initramfs tests)
  cpio
  # libc summaries: glibc's debug symbols name internal code in rule checks (tools/libcsum)
  libc6-dbg
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "setup: note: add /usr/local/go/bin to PATH"
fi
