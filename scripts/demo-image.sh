#!/usr/bin/env bash
# The attack demo inside the aarch64 KasperskyOS-style image:
#   1. installs the packages (scripts/setup.sh; skip with KCFM_SKIP_SETUP=1),
#   2. builds the kcfm tools (the top-level build in BUILD_DIR, as scripts/demo.sh),
#   3. builds the image kcfm_http_server_aarch64 (tests/image_monitor): the example
#      server, client and exploit cross-compiled for aarch64 with their signature and
#      policies, the Go entities (Klog, FlowChecker, ExecutionManager, FlowMonitor,
#      einit) and the test driver,
#   4. boots it under qemu-system-aarch64 (TCG) with the console on the terminal:
#      einit starts the entities from init.yaml, the driver sends normal requests,
#      shows that the exploit works against an unmonitored copy, then attacks the
#      monitored server: FlowChecker stops the hijacked call before its system call,
#      FlowMonitor writes the incident and restarts the server through ExecutionManager,
#      and the server answers again,
#   5. prints a summary of the markers.
# Usage: scripts/demo-image.sh [BUILD_DIR]   (default build/demo)
# Exit status: 0 when the image reached KCFM-RESULT: PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/demo}
export PATH="/usr/local/go/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "${KCFM_SKIP_SETUP:-0}" != 1 ]; then
  say "1. packages"
  bash scripts/setup.sh
fi

say "2. build: the kcfm tools"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKCFM_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target kcfm_tools
KCFM=$(cd "$BUILD" && pwd)/bin/kcfm
[ -x "$KCFM" ] || { echo "no kcfm tool at $KCFM"; exit 1; }

say "3. build: the aarch64 KasperskyOS-style image kcfm_http_server_aarch64"
IMG=$BUILD/image-demo
cmake -S tests/image_monitor -B "$IMG" -G Ninja -DKCFM_TOOL="$KCFM" >/dev/null
cmake --build "$IMG" --target image_kcfm_http_server_aarch64
echo
echo "init.yaml (from tests/image_monitor/einit/init.yaml.in):"
grep -E '^- name:|^  (task|path|env|args|connections|role|depends):' "$IMG/kcfm_http_server_aarch64.init.yaml" | sed 's/^/  /'
"$KCFM" image ls "$IMG/kcfm_http_server_aarch64.initrd.gz" | grep -E ' (bin|etc/kcfm)/' | sed 's/^/  /'

say "4. boot it (qemu-system-aarch64 -M virt -cpu cortex-a57, TCG)"
LOG=$IMG/demo-console.log
set +e
cmake --build "$IMG" --target sim_kcfm_http_server_aarch64 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e

say "5. what happened (markers from the serial console)"
grep -E 'Klog: (kernel|audit rules of)|ExecutionManager: (started|stopped)|KCFM-TEST: |KCFM-RESULT: |kcfm image run:' "$LOG" |
  sed -E 's/"expected":\[[^]]*\]/"expected":[…]/; s/"stack":.*$/"stack":[…]}/' || true
if [ "$rc" -ne 0 ] || ! grep -q 'KCFM-RESULT: PASS' "$LOG"; then
  echo "the image did not pass (console log: $LOG)"
  exit 1
fi
echo
echo "console log: $LOG"
