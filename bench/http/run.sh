#!/usr/bin/env bash
# Load test of examples/kcfm_http_server with wrk: native vs monitored (`kcfm run`), same run.
#
# usage: bench/http/run.sh [options]
#   --build DIR        kcfm build tree (default build/test, as scripts/test.sh)
#   --rounds N         measured rounds, order alternating per round (default 3)
#   --duration SEC     minimum length of one measured wrk run (default 10); runs
#                      are lengthened so that each has >= --min-requests
#   --min-requests N   requests every measured run must reach (default 100000)
#   --connections N    wrk keep-alive connections (default 32)
#   --path PATH        URL path to load (default /index.html, a 1 KiB file)
#   --no-pin           do not pin the server (CPU 0) and wrk (CPU 1)
#   --out FILE         also write the result table (markdown) to FILE
#
# Three configurations per round:
#   plain      the server compiled here WITHOUT -finstrument-functions (reference)
#   native     the build's kcfm_http_server (instrumented), not monitored
#   monitored  the same binary under `kcfm run` (FlowMonitor + FlowChecker)
# The reported ratio is monitored / native from the same round (median over
# rounds); monitored / plain is shown too. Because throughput on a shared
# machine is noisy, the CPU time per request of the whole process tree (the
# server; under `kcfm run` also FlowMonitor and FlowChecker) is reported too. Every run must have 0 non-2xx
# answers and 0 socket errors, the monitored runs 0 incidents, and the server's
# own request counter (/api/status) must cover wrk's count. Method after
# research/anchor-nginx-monitors.md: server (and its monitor) on CPU 0, wrk on CPU 1.
# Until `kcfm run` exists the native half runs and the monitored half fails
# with a clear message (exit status 1).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$REPO/build/test
ROUNDS=3 DURATION=10 MIN_REQ=100000 CONNS=32 URLPATH=/index.html PIN=1 OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --min-requests) MIN_REQ=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --path) URLPATH=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "bench/http: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is not installed: run scripts/setup.sh"
SERVER=$BUILD/examples/kcfm_http_server/kcfm_http_server
CLIENT=$BUILD/examples/kcfm_http_server/kcfm_http_get
KCFM=$BUILD/bin/kcfm
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || die "no $SERVER: build first (scripts/test.sh, or cmake --build $BUILD)"
[ -x "$KCFM" ] || die "no kcfm tool at $KCFM: build first"
ncpu=$(nproc)
if [ "$PIN" = 1 ] && [ "$ncpu" -lt 2 ]; then echo "bench/http: 1 CPU: not pinning" >&2; PIN=0; fi
# CPU pinning prefixes (plain commands, so that `$!` is the started program itself)
ON0=() ON1=()
if [ "$PIN" = 1 ]; then ON0=(taskset -c 0) ON1=(taskset -c 1); fi

WORK=$(mktemp -d /tmp/kcfm-bench-http.XXXXXX)
CHILD=""      # pid of what we started (server or kcfm run)
SRV_PID=""    # pid of the server process itself (from /api/status)
cleanup() {
  for p in $CHILD $SRV_PID; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Document root: a 1 KiB page.
mkdir -p "$WORK/www"
head -c 1024 /dev/zero | tr '\0' x | sed 's/^/<!doctype html><p>/' >"$WORK/www/index.html"

# The uninstrumented reference build of the same sources.
SRC=$REPO/examples/kcfm_http_server
PLAIN=$WORK/kcfm_http_server.plain
cc -std=c11 -O2 -g -DKCFM_HTTP_VULNERABLE_DEMO -I"$SRC/httpparse" -o "$PLAIN" "$SRC"/src/*.c "$SRC/httpparse/httpparse.c" \
  || die "building the uninstrumented reference failed"

MONITOR_OK=1
MONITOR_WHY=""
if ! "$KCFM" run --help >/dev/null 2>&1; then
  MONITOR_OK=0
  MONITOR_WHY="'$KCFM run' is not available (the monitor is not built yet)"
fi

# start CONFIG: starts the server for CONFIG, sets PORT, CHILD, SRV_PID
start() {
  local cfg=$1 i
  : >"$WORK/out" ; : >"$WORK/err"
  rm -f "$WORK/incidents.jsonl"
  case $cfg in
    plain) "${ON0[@]}" "$PLAIN" --root "$WORK/www" --port 0 >"$WORK/out" 2>"$WORK/err" & ;;
    native) "${ON0[@]}" "$SERVER" --root "$WORK/www" --port 0 >"$WORK/out" 2>"$WORK/err" & ;;
    monitored) "${ON0[@]}" "$KCFM" run --restarts 0 --incidents "$WORK/incidents.jsonl" -- \
                 "$SERVER" --root "$WORK/www" --port 0 >"$WORK/out" 2>"$WORK/err" & ;;
  esac
  CHILD=$!
  PORT=""
  for i in $(seq 1 200); do
    PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$WORK/out" | tail -n 1)
    [ -n "$PORT" ] && break
    kill -0 "$CHILD" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$PORT" ] || { cat "$WORK/err" >&2; die "$cfg: the server did not start"; }
  SRV_PID=$(status | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
  [ -n "$SRV_PID" ] || die "$cfg: no pid from /api/status"
}
status() { "$CLIENT" -t 5 127.0.0.1 "$PORT" /api/status; }
stop() {
  local cfg=$1 i
  kill -TERM "$CHILD" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$CHILD" 2>/dev/null; then kill -KILL "$CHILD"; echo "bench/http: $cfg: had to kill $CHILD" >&2; fi
  wait "$CHILD" 2>/dev/null || true
  if kill -0 "$SRV_PID" 2>/dev/null; then kill -KILL "$SRV_PID" 2>/dev/null || true; echo "bench/http: $cfg: server $SRV_PID outlived its monitor" >&2; fi
  CHILD="" SRV_PID=""
}

# wrk_run SECONDS: one wrk run against $PORT; sets REQS RPS BAD ERRS
wrk_run() {
  local out
  out=$("${ON1[@]}" wrk -t1 -c"$CONNS" -d"${1}s" --timeout 5s "http://127.0.0.1:$PORT$URLPATH")
  echo "$out" >"$WORK/wrk.txt"
  REQS=$(sed -n 's/^ *\([0-9][0-9]*\) requests in.*/\1/p' <<<"$out")
  RPS=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
  BAD=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out"); BAD=${BAD:-0}
  ERRS=$(sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' <<<"$out")
  ERRS=$(( ${ERRS:-0} ))
  [ -n "$REQS" ] && [ -n "$RPS" ] || { echo "$out" >&2; die "cannot read wrk's output"; }
}

# tree_ticks PID: CPU time (clock ticks, user+system) of PID and all its
# descendants (the server; under `kcfm run` also the monitor and FlowChecker)
tree_ticks() {
  local todo=("$1") total=0 p stat
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    if stat=$(cat "/proc/$p/stat" 2>/dev/null); then
      stat=${stat##*) }   # drop "pid (comm) "
      total=$((total + $(awk '{ print $12 + $13 }' <<<"$stat")))
    fi
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do todo+=("$c"); done
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)

# measure CONFIG: warm-up, then a run long enough for MIN_REQ (the length
# comes from the rate seen so far; a run that still falls short is repeated,
# longer, up to 3 times); sets RPS_<cfg>
measure() {
  local cfg=$1 r0 r1 t0 t1 dur attempt
  start "$cfg"
  wrk_run 2 # warm-up, also the rate estimate
  for attempt in 1 2 3; do
    dur=$(awk -v d="$DURATION" -v m="$MIN_REQ" -v r="$RPS" 'BEGIN { x = 1.5 * m / (r > 0 ? r : 1); if (x < d) x = d; printf "%d", x + 0.999 }')
    r0=$(status | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
    t0=$(tree_ticks "$CHILD")
    wrk_run "$dur"
    t1=$(tree_ticks "$CHILD")
    r1=$(status | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
    [ "$BAD" = 0 ] || die "$cfg: $BAD non-2xx answers"
    [ "$ERRS" = 0 ] || die "$cfg: socket errors: $(grep 'Socket errors' "$WORK/wrk.txt")"
    [ $((r1 - r0)) -ge "$REQS" ] || die "$cfg: the server counted $((r1 - r0)) requests, wrk $REQS: wrk did not load our server?"
    [ "$REQS" -ge "$MIN_REQ" ] && break
    echo "  $cfg: only $REQS requests in ${dur}s (< $MIN_REQ): running again, longer" >&2
  done
  [ "$REQS" -ge "$MIN_REQ" ] || die "$cfg: only $REQS requests in ${dur}s (< $MIN_REQ) after 3 runs; the machine is too slow or busy"
  if [ "$cfg" = monitored ]; then
    [ ! -s "$WORK/incidents.jsonl" ] || die "monitored: anomalies on normal traffic: $(head -c 2000 "$WORK/incidents.jsonl")"
    kill -0 "$SRV_PID" 2>/dev/null || die "monitored: the server process $SRV_PID is gone"
  fi
  stop "$cfg"
  printf -v "RPS_$cfg" '%s' "$RPS"
  printf -v "REQS_$cfg" '%s' "$REQS"
  # CPU microseconds per request of the server (and its monitor)
  printf -v "CPU_$cfg" '%s' "$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$REQS" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
  local cpu_var=CPU_$cfg
  printf '  %-9s %9s req/s  %8s requests in %ss  %s us CPU/request\n' "$cfg" "$RPS" "$REQS" "$dur" "${!cpu_var}" >&2
}

echo "bench/http: $ROUNDS round(s), >= ${DURATION}s and >= $MIN_REQ requests per run, $CONNS connections, $URLPATH, pinned=$PIN" >&2
echo "bench/http: server $SERVER; $(wrk --version 2>&1 | head -1)" >&2
RATIOS=() PLAIN_RATIOS=() CPU_RATIOS=() ROWS=()
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round" >&2
  if [ $((round % 2)) = 1 ]; then order="plain native monitored"; else order="monitored native plain"; fi
  RPS_monitored="" REQS_monitored="" CPU_monitored=""
  for cfg in $order; do
    if [ "$cfg" = monitored ] && [ "$MONITOR_OK" = 0 ]; then
      echo "  monitored: skipped: $MONITOR_WHY" >&2
      continue
    fi
    measure "$cfg"
  done
  ratio="-" pratio="-"
  if [ -n "$RPS_monitored" ]; then
    ratio=$(awk -v a="$RPS_monitored" -v b="$RPS_native" 'BEGIN { printf "%.3f", a / b }')
    pratio=$(awk -v a="$RPS_monitored" -v b="$RPS_plain" 'BEGIN { printf "%.3f", a / b }')
    RATIOS+=("$ratio")
    PLAIN_RATIOS+=("$pratio")
    CPU_RATIOS+=("$(awk -v a="$CPU_monitored" -v b="$CPU_native" 'BEGIN { printf "%.3f", a / b }')")
  fi
  iratio=$(awk -v a="$RPS_native" -v b="$RPS_plain" 'BEGIN { printf "%.3f", a / b }')
  ROWS+=("| $round | $RPS_plain | $RPS_native | ${RPS_monitored:--} | $iratio | $ratio | $pratio | $CPU_plain / $CPU_native / ${CPU_monitored:--} |")
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
{
  echo "kcfm_http_server under wrk ($(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $ncpu CPUs, $CONNS keep-alive connections, $URLPATH, pinned=$PIN)"
  echo
  echo "| round | plain req/s | native req/s | monitored req/s | native/plain | monitored/native | monitored/plain | CPU µs/request plain / native / monitored |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  if [ "${#RATIOS[@]}" -gt 0 ]; then
    echo "median monitored/native throughput: $(median "${RATIOS[@]}") (min $(printf '%s\n' "${RATIOS[@]}" | sort -n | head -1), max $(printf '%s\n' "${RATIOS[@]}" | sort -n | tail -1))"
    echo "median monitored/plain throughput: $(median "${PLAIN_RATIOS[@]}")"
    echo "median monitored/native CPU per request (server + monitor + FlowChecker vs server): $(median "${CPU_RATIOS[@]}")"
  else
    echo "monitored: not measured: $MONITOR_WHY"
  fi
} | tee "${OUT:-/dev/null}"
if [ "$MONITOR_OK" = 0 ]; then
  echo "bench/http: FAIL: monitored half: $MONITOR_WHY" >&2
  exit 1
fi
