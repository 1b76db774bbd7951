# Shared helpers for the CMake integration tests.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
# install_prefix BUILD PREFIX: install this kcfm build into PREFIX.
install_prefix() {
  rm -rf "$2"
  cmake --install "$1" --prefix "$2" >/dev/null
  for f in toolchain/bin/kcfm toolchain/lib/cmake/kcfm_tool/kcfmConfig.cmake toolchain/lib/cmake/kcfm_tool/kcfm.cmake \
           "sysroot-$(uname -m)-linux/lib/libkcfm_rt.a" "sysroot-$(uname -m)-linux/include/kcfm/kcfm_rt.h" \
           "sysroot-$(uname -m)-linux/bin/FlowChecker" "sysroot-$(uname -m)-linux/bin/FlowMonitor"; do
    [ -e "$2/$f" ] || fail "install layout: $f missing under $2"
  done
}
