#!/usr/bin/env bash
# The main demo, on a fresh Debian 12:
#   1. installs the packages (scripts/setup.sh),
#   2. builds the tools and the examples with include(kcfm) (cmake --build),
#   3. runs kcfm_http_server monitored (kcfm run),
#   4. sends normal requests, then the exploit that hijacks a function pointer
#      into code that would spawn a shell: FlowChecker stops it before its
#      syscall, the incident is printed, the server is restarted and serves again;
#   5. boots the aarch64 KasperskyOS-style image and shows the same inside it.
# Usage: scripts/demo.sh [BUILD_DIR]   (default build/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/demo}
export PATH="/usr/local/go/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. packages"
bash scripts/setup.sh

say "2. build: tools, runtime library, examples (signatures and policies)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKCFM_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
KCFM=$BUILD/bin/kcfm
EX=$BUILD/examples/kcfm_http_server
SERVER=$EX/kcfm_http_server
GET=$EX/kcfm_http_get
EXPLOIT=$EX/kcfm_exploit
"$KCFM" show "$SERVER.kcfm" | head -5

WORK=$(mktemp -d /tmp/kcfm-demo.XXXXXX)
mkdir -p "$WORK/www"
echo '<p>hello from the monitored server</p>' >"$WORK/www/index.html"
PWNED=$WORK/pwned-by-exploit
INCIDENTS=$WORK/incidents.jsonl
MON_PID=""
cleanup() {
  if [ -n "$MON_PID" ] && kill -0 "$MON_PID" 2>/dev/null; then
    kill -TERM "$MON_PID" 2>/dev/null || true
    wait "$MON_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

say "3. kcfm run -- kcfm_http_server (FlowMonitor + FlowChecker)"
PORT=$((20000 + RANDOM % 40000))
"$KCFM" run --restarts 3 --incidents "$INCIDENTS" -- "$SERVER" --root "$WORK/www" --port "$PORT" >"$WORK/server.out" 2>"$WORK/server.err" &
MON_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.05; done
grep -q "listening on" "$WORK/server.out" || { cat "$WORK/server.err"; echo "server did not start"; exit 1; }
grep "listening on" "$WORK/server.out" | tail -1

say "4. normal requests (keep-alive): no anomaly"
"$GET" -t 5 127.0.0.1 "$PORT" /index.html
status1=$("$GET" -t 5 127.0.0.1 "$PORT" /api/status)
echo "$status1"
"$GET" -t 5 -q -n 200 127.0.0.1 "$PORT" /index.html /api/status && echo "200 more requests answered"

say "5. the exploit: overflow in POST /api/echo overwrites a function pointer -> run_hook('/bin/sh -c touch $PWNED')"
"$EXPLOIT" --binary "$SERVER" 127.0.0.1 "$PORT" shell "touch $PWNED" || true
for _ in $(seq 1 100); do [ -s "$INCIDENTS" ] && break; sleep 0.05; done

say "6. the incident (FlowChecker refused the syscall before it ran)"
if [ -s "$INCIDENTS" ]; then
  inc=$(grep '"anomaly"' "$INCIDENTS" | head -n 1)
  if command -v python3 >/dev/null; then
    python3 -c '
import json, sys
a = json.loads(sys.argv[1])
print("event:    ", a.get("event"), "(held syscall %s, verdict %s, action %s)" % (a.get("syscall"), a.get("verdict"), a.get("action")))
exp = a.get("expected") or []
calls = [e for e in exp if not e.startswith("syscall")]
print("expected: ", ", ".join(calls), "+ %d syscalls" % (len(exp) - len(calls)))
print("stack:")
for f in a.get("stack") or []:
    print("   ", f.get("function"), ("%s:%s" % (f.get("file"), f.get("line"))) if f.get("file") else "")
' "$inc"
  else
    echo "$inc"
  fi
else
  echo "NO INCIDENT RECORDED"; exit 1
fi
if [ -e "$PWNED" ]; then echo "FAIL: the exploit's command ran ($PWNED exists)"; exit 1; fi
echo "the exploit's command did not run: $PWNED does not exist"

say "7. the server was restarted and answers again"
for _ in $(seq 1 100); do "$GET" -t 2 -q 127.0.0.1 "$PORT" /api/status >/dev/null 2>&1 && break; sleep 0.05; done
status2=$("$GET" -t 5 127.0.0.1 "$PORT" /api/status)
echo "$status2"
pid1=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$status1")
pid2=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$status2")
[ -n "$pid2" ] && [ "$pid1" != "$pid2" ] && echo "new server process: pid $pid1 -> $pid2"
grep '"type":"restart"' "$INCIDENTS" | head -n 1 || true

say "8. SIGTERM: clean stop"
kill -TERM "$MON_PID"; rc=0; wait "$MON_PID" || rc=$?; MON_PID=""
echo "kcfm run exited with status $rc"
echo; echo "host demo done: attack stopped before its syscall, incident recorded, server restarted."

say "9. the same inside the aarch64 KasperskyOS-style QEMU image (einit, Klog, FlowChecker, ExecutionManager, FlowMonitor)"
KCFM_SKIP_SETUP=1 bash scripts/demo-image.sh "$BUILD"
