#!/usr/bin/env bash
# Tests of kcfm_http_server (ctest label `example`), one case per call:
#   server_test.sh CASE SERVER CLIENT EXPLOIT WORKDIR [KCFM]
# Unmonitored cases: files errors keepalive idle json echo echo_safe shutdown sigusr1 on_start
#                    exploit_file exploit_shell
# With the kcfm tool: signature, monitored_normal, monitored_exploit (`kcfm run`).
# Every fact is measured against the running server: file contents are
# compared byte for byte, counters are read from /api/status.
set -euo pipefail
CASE=$1 SERVER=$2 CLIENT=$3 EXPLOIT=$4 WORK=$5 KCFM=${6:-}

fail() { echo "FAIL [$CASE]: $*" >&2; [ -f "$WORK/server.err" ] && sed 's/^/  server: /' "$WORK/server.err" >&2; exit 1; }
pass() { echo "PASS [$CASE] $*"; }

rm -rf "$WORK"
mkdir -p "$WORK/www/sub" "$WORK/www/noindex"
SERVER_PID=""
cleanup() {
  # SIGTERM first: under `kcfm run` it stops the monitored server too.
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# The document root.
WWW=$WORK/www
printf '<!doctype html><title>kcfm</title><p>hello from kcfm_http_server</p>\n' >"$WWW/index.html"
printf 'plain text\n' >"$WWW/sub/a.txt"
printf '{"k": [1, 2, 3]}\n' >"$WWW/data.json"
printf 'body { color: red }\n' >"$WWW/style.CSS"
printf 'spaced\n' >"$WWW/a b.txt"
head -c 300000 /dev/urandom >"$WWW/big.bin"   # above SMALL_FILE_MAX: the sendfile path
head -c 40000 /dev/urandom >"$WWW/mid.bin"    # below it: the one-write path
: >"$WWW/empty.txt"
printf 'x\n' >"$WWW/noindex/file.txt"
ln -s /etc/passwd "$WWW/passwd-link"
mkfifo "$WWW/fifo"

# start_server [ARGS...]: starts the server on a free port (--port 0) and
# reads the port from its "listening on" line.
start_server() {
  "$SERVER" --root "$WWW" --port 0 --state-file "$WORK/state.txt" "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  wait_listening
}
wait_listening() {
  local i
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$WORK/server.out" 2>/dev/null | tail -n 1)
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited during start-up"
    sleep 0.05
  done
  fail "server did not report its port"
}
get() { "$CLIENT" -t 5 "$@"; }
status_of() { get -s "$@"; }
# json_field NAME JSON: the number after "NAME":
json_field() { sed -n "s/.*\"$1\":\([0-9.][0-9.]*\).*/\1/p" <<<"$2"; }
stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  return $rc
}

case "$CASE" in
files)
  start_server
  for f in index.html sub/a.txt data.json big.bin mid.bin empty.txt "a b.txt"; do
    url=/${f// /%20}
    get 127.0.0.1 "$PORT" "$url" >"$WORK/got" || fail "GET $url"
    cmp -s "$WORK/got" "$WWW/$f" || fail "GET $url: body differs from the file"
  done
  get 127.0.0.1 "$PORT" / | cmp -s - "$WWW/index.html" || fail "GET / is not index.html"
  # headers: Content-Type by extension, Content-Length = file size
  check_head() { # PATH TYPE FILE
    local h len
    h=$(get -i -q 127.0.0.1 "$PORT" "$1"; get -X HEAD -i 127.0.0.1 "$PORT" "$1")
    grep -qi "^Content-Type: $2" <<<"$h" || fail "$1: Content-Type is not $2: $h"
    len=$(stat -c %s "$3")
    [ "$(grep -ci "^Content-Length: $len" <<<"$h")" = 2 ] || fail "$1: Content-Length is not $len (GET and HEAD): $h"
  }
  check_head /index.html "text/html" "$WWW/index.html"
  check_head /data.json "application/json" "$WWW/data.json"
  check_head /style.CSS "text/css" "$WWW/style.CSS"
  check_head /sub/a.txt "text/plain" "$WWW/sub/a.txt"
  check_head /big.bin "application/octet-stream" "$WWW/big.bin"
  # HEAD has no body: the next response on the connection must parse
  out=$(get -X HEAD -s 127.0.0.1 "$PORT" /big.bin /index.html) || fail "HEAD then GET on one connection"
  [ "$out" = $'200\n200' ] || fail "HEAD + GET statuses: $out"
  [ "$(get -X HEAD 127.0.0.1 "$PORT" /big.bin | wc -c)" = 0 ] || fail "HEAD returned a body"
  # query strings are ignored for files
  get 127.0.0.1 "$PORT" "/sub/a.txt?x=1" | cmp -s - "$WWW/sub/a.txt" || fail "query string"
  pass "files, types, lengths, HEAD"
  ;;

errors)
  start_server
  expect() { # STATUS ARGS...
    local want=$1 got
    shift
    got=$(status_of "$@") || fail "request $(head -c 200 <<<"$*") failed"
    [ "$got" = "$want" ] || fail "$(head -c 200 <<<"$*"): status $got, want $want"
  }
  expect 404 127.0.0.1 "$PORT" /missing.html
  expect 404 127.0.0.1 "$PORT" /noindex/
  expect 404 127.0.0.1 "$PORT" /passwd-link      # symlink as the last component: not followed
  expect 404 127.0.0.1 "$PORT" /fifo             # not a regular file (and no hang)
  expect 404 127.0.0.1 "$PORT" /sub/a.txt/x
  expect 400 -r 'GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n' 127.0.0.1 "$PORT"
  expect 400 -r 'GET /sub/../../x HTTP/1.1\r\nHost: x\r\n\r\n' 127.0.0.1 "$PORT"
  expect 400 127.0.0.1 "$PORT" /%2e%2e/%2e%2e/etc/passwd
  expect 400 127.0.0.1 "$PORT" /sub%2f..%2f..%2fx
  expect 400 127.0.0.1 "$PORT" /a%00b
  expect 400 -r 'GET / HTTP/1.1\r\n\r\n' 127.0.0.1 "$PORT"                 # no Host
  expect 400 -r 'GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n' 127.0.0.1 "$PORT"
  expect 400 -r 'GARBAGE\r\n\r\n' 127.0.0.1 "$PORT"
  expect 505 -r 'GET / HTTP/2.0\r\nHost: x\r\n\r\n' 127.0.0.1 "$PORT"
  expect 501 -r 'POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' 127.0.0.1 "$PORT"
  expect 413 -r 'POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n' 127.0.0.1 "$PORT"
  expect 405 -X POST -d x 127.0.0.1 "$PORT" /index.html
  expect 405 -X DELETE 127.0.0.1 "$PORT" /index.html
  expect 405 -X GET 127.0.0.1 "$PORT" /api/echo
  expect 405 -X PUT -d x 127.0.0.1 "$PORT" /api/status
  h=$(get -X DELETE -i -q 127.0.0.1 "$PORT" /index.html; get -X DELETE -i 127.0.0.1 "$PORT" /x)
  grep -q "^Allow: GET, HEAD" <<<"$h" || fail "405 without Allow: $h"
  # a header section larger than the limit: 431
  long=$(head -c 9000 /dev/zero | tr '\0' a)
  expect 431 -H "X-Long: $long" 127.0.0.1 "$PORT" /
  # the server is still fine
  expect 200 127.0.0.1 "$PORT" /index.html
  pass "404 400 405 413 431 501 505 and unsafe paths"
  ;;

keepalive)
  start_server
  a0=$(json_field accepted "$(get 127.0.0.1 "$PORT" /api/status)")
  get -q -v -n 10 127.0.0.1 "$PORT" /index.html /sub/a.txt /big.bin 2>"$WORK/ka.log" || fail "keep-alive run"
  grep -q "^30 response(s) on 1 connection(s)" "$WORK/ka.log" || fail "not one connection: $(tail -1 "$WORK/ka.log")"
  a1=$(json_field accepted "$(get 127.0.0.1 "$PORT" /api/status)")
  # the status requests took one connection each, the 30 requests one
  [ "$a1" = $((a0 + 2)) ] || fail "server accepted $((a1 - a0)) connections, want 2 (1 for 30 requests + 1 status)"
  # Connection: close on the last request: the server closes (the client reports it)
  get -q -v -c -n 3 127.0.0.1 "$PORT" / 2>"$WORK/close.log" || fail "Connection: close run"
  h=$(get -i -q -c 127.0.0.1 "$PORT" /)
  grep -q "^Connection: close" <<<"$h" || fail "no Connection: close in the answer: $h"
  # HTTP/1.0 without keep-alive: answered, then closed
  h=$(get -i -r 'GET /sub/a.txt HTTP/1.0\r\n\r\n' 127.0.0.1 "$PORT")
  grep -q "^Connection: close" <<<"$h" && grep -q "^plain text" <<<"$h" || fail "HTTP/1.0: $h"
  # pipelining: three requests in one packet, three answers in order
  out=$(get -s -n 3 -r 'GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /api/status HTTP/1.1\r\nHost: x\r\n\r\n' 127.0.0.1 "$PORT") || fail "pipelined requests"
  [ "$out" = $'200\n404\n200' ] || fail "pipelined statuses: $out"
  pass "30 requests on one connection; close; HTTP/1.0; pipelining"
  ;;

idle)
  # idle keep-alive connections are closed after --idle-timeout
  start_server --idle-timeout 1
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n' >&3
  start=$(date +%s%N)
  rc=0
  timeout 5 cat <&3 >"$WORK/idle.out" || rc=$?
  took=$(( ($(date +%s%N) - start) / 1000000 ))
  exec 3>&-
  [ $rc = 0 ] || fail "the idle connection was not closed within 5 s"
  grep -q "^plain text" "$WORK/idle.out" || fail "no answer before the close: $(cat "$WORK/idle.out")"
  [ "$took" -ge 700 ] || fail "closed after ${took} ms, before the idle timeout"
  [ "$(status_of 127.0.0.1 "$PORT" /index.html)" = 200 ] || fail "not serving after closing an idle connection"
  pass "idle connection closed after ${took} ms (timeout 1 s)"
  ;;

json)
  start_server
  s1=$(get 127.0.0.1 "$PORT" /api/status)
  grep -q '^{.*}$' <<<"$s1" || fail "not a JSON object: $s1"
  pid=$(json_field pid "$s1")
  [ "$pid" = "$SERVER_PID" ] || fail "pid $pid, want $SERVER_PID"
  r1=$(json_field requests "$s1")
  get -q -n 7 127.0.0.1 "$PORT" /index.html
  s2=$(get 127.0.0.1 "$PORT" /api/status)
  r2=$(json_field requests "$s2")
  [ "$r2" = $((r1 + 8)) ] || fail "requests went from $r1 to $r2, want +8"
  u=$(json_field uptime_s "$s2")
  [[ "$u" =~ ^[0-9]+\.[0-9]{3}$ ]] || fail "uptime_s: '$u'"
  h=$(get -i -q 127.0.0.1 "$PORT" /api/status)
  grep -q "^Content-Type: application/json" <<<"$h" || fail "content type: $h"
  pass "status: pid $pid, requests $r1 -> $r2, uptime $u"
  ;;

echo)
  start_server
  out=$(get -X POST -d 'hello, echo' 127.0.0.1 "$PORT" /api/echo) || fail "POST /api/echo"
  [ "$out" = "hello, echo" ] || fail "echo returned '$out'"
  out=$(get -X POST -d '' -s 127.0.0.1 "$PORT" /api/echo)
  [ "$out" = 200 ] || fail "empty echo: $out"
  # Expect: 100-continue is honoured
  out=$(get -X POST -d 'cont' -H 'Expect: 100-continue' 127.0.0.1 "$PORT" /api/echo)
  [ "$out" = "cont" ] || fail "echo with 100-continue: '$out'"
  pass "echo"
  ;;

echo_safe)
  # built with KCFM_HTTP_VULNERABLE_DEMO=OFF: bounded echo, no leak
  start_server
  big=$(head -c 300 /dev/zero | tr '\0' A)
  [ "$(get -s -X POST -d "$big" 127.0.0.1 "$PORT" /api/echo)" = 413 ] || fail "safe echo accepted 300 bytes"
  [ "$(get -X POST -d ok 127.0.0.1 "$PORT" /api/echo)" = ok ] || fail "safe echo of 2 bytes"
  get 127.0.0.1 "$PORT" /api/status | grep -q diagnostics && fail "the safe build leaks an address"
  rc=0
  "$EXPLOIT" 127.0.0.1 "$PORT" leak >"$WORK/exploit.out" 2>&1 || rc=$?
  [ $rc = 1 ] || fail "exploit against the safe build: exit $rc"
  pass "safe echo: 413 above the buffer, no leak, exploit fails at step 1"
  ;;

shutdown)
  start_server
  # An idle keep-alive connection and a request in flight (half of its body).
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  exec 4<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n' >&3
  IFS= read -r -t 5 line <&3 || fail "no answer on the idle connection"
  printf 'POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello' >&4
  sleep 0.3
  kill -TERM "$SERVER_PID"
  sleep 0.3
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited with a request in flight"
  # the listening socket is closed: new connections are refused
  if "$CLIENT" -t 2 -s 127.0.0.1 "$PORT" / >/dev/null 2>&1; then fail "still accepting after SIGTERM"; fi
  # the request in flight completes, with Connection: close
  printf 'world' >&4
  resp=$(timeout 5 cat <&4) || fail "reading the in-flight answer"
  grep -q "^HTTP/1.1 200" <<<"$resp" && grep -q "Connection: close" <<<"$resp" && grep -q "helloworld" <<<"$resp" \
    || fail "in-flight answer: $resp"
  exec 3>&- 4>&-
  rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [ $rc = 0 ] || fail "exit status $rc after SIGTERM"
  grep -q "stopped after" "$WORK/server.err" || fail "no shutdown message"
  # SIGINT too
  start_server
  get -q 127.0.0.1 "$PORT" /
  kill -INT "$SERVER_PID"
  rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [ $rc = 0 ] || fail "exit status $rc after SIGINT"
  pass "SIGTERM: in-flight request finished, listener closed, exit 0; SIGINT exit 0"
  ;;

sigusr1)
  start_server
  get -q -n 3 127.0.0.1 "$PORT" /
  kill -USR1 "$SERVER_PID"
  for i in $(seq 1 50); do [ -s "$WORK/state.txt" ] && break; sleep 0.05; done
  grep -q "^pid=$SERVER_PID$" "$WORK/state.txt" && grep -q "^requests=3$" "$WORK/state.txt" \
    || fail "state file: $(cat "$WORK/state.txt" 2>&1)"
  pass "SIGUSR1 state dump"
  ;;

on_start)
  start_server --on-start "echo hook-ran > '$WORK/hook.txt'"
  [ "$(cat "$WORK/hook.txt")" = hook-ran ] || fail "start-up hook did not run"
  [ "$(status_of 127.0.0.1 "$PORT" /)" = 200 ] || fail "not serving after the hook"
  pass "--on-start hook"
  ;;

exploit_file | exploit_shell)
  # The attack against the UNMONITORED server really hijacks control flow.
  start_server
  target=$WORK/pwned
  rm -f "$target"
  if [ "$CASE" = exploit_file ]; then
    "$EXPLOIT" --binary "$SERVER" 127.0.0.1 "$PORT" file "$target" >"$WORK/exploit.out" 2>&1 \
      || fail "exploit exit $?: $(cat "$WORK/exploit.out")"
    [ -f "$target" ] || fail "the hijack did not create $target: $(cat "$WORK/exploit.out")"
    # dump_state wrote it: the server's own counters and pid
    grep -q "^pid=$SERVER_PID$" "$target" || fail "$target was not written by the server: $(cat "$target")"
  else
    "$EXPLOIT" --binary "$SERVER" 127.0.0.1 "$PORT" shell "echo uid=\$(id -u) ppid=\$PPID > $target" \
      >"$WORK/exploit.out" 2>&1 || fail "exploit exit $?: $(cat "$WORK/exploit.out")"
    [ -f "$target" ] || fail "the hijack did not run the shell command: $(cat "$WORK/exploit.out")"
    # the shell's parent is the server: run_hook forked it
    grep -q "ppid=$SERVER_PID\$" "$target" || fail "the command did not run as the server's child: $(cat "$target")"
  fi
  cat "$WORK/exploit.out"
  grep -q "answered 500" "$WORK/exploit.out" || fail "unexpected exploit outcome"
  # the hijacked server keeps serving
  [ "$(status_of 127.0.0.1 "$PORT" /index.html)" = 200 ] || fail "server not serving after the hijack"
  pass "control flow hijacked, $target: $(tr "\n" " " <"$target" | head -c 100)"
  ;;

signature)
  [ -n "$KCFM" ] || fail "no kcfm tool given"
  sig=$SERVER.kcfm
  [ -f "$sig" ] || fail "no signature next to the server ($sig)"
  "$KCFM" show "$sig" >"$WORK/show.txt" || fail "kcfm show"
  grep -q "entry: main" "$WORK/show.txt" || fail "entry is not main"
  for fn in main api_echo dump_state run_hook hp_parse_request hp_target_to_path; do
    "$KCFM" show --function "$fn" "$sig" >/dev/null || fail "function $fn missing in the signature"
  done
  pass "signature with the httpparse graph library"
  ;;

monitored_normal | monitored_exploit)
  # Under `kcfm run`: normal traffic raises no anomaly; the exploit is
  # stopped before its syscall, an incident is written, the server restarts.
  [ -n "$KCFM" ] || fail "no kcfm tool given"
  "$KCFM" run --help >/dev/null 2>&1 || fail "'kcfm run' is not available in $KCFM (the monitor is not built yet)"
  inc=$WORK/incidents.jsonl
  restarts=0
  [ "$CASE" = monitored_exploit ] && restarts=2
  # The restarted server must come back on the same port: pick a free one.
  for attempt in $(seq 1 20); do
    PORT=$((20000 + RANDOM % 40000))
    : >"$WORK/server.out"
    "$KCFM" run --restarts "$restarts" --incidents "$inc" -- "$SERVER" --root "$WWW" --port "$PORT" \
      --state-file "$WORK/state.txt" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for i in $(seq 1 100); do
      grep -q "listening on" "$WORK/server.out" && break
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.05
    done
    grep -q "listening on" "$WORK/server.out" && break
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    grep -q "bind" "$WORK/server.err" || fail "monitored server did not start: $(cat "$WORK/server.err")"
  done
  [ -n "$SERVER_PID" ] || fail "no free port found"
  pid1=$(json_field pid "$(get 127.0.0.1 "$PORT" /api/status)")
  get -q -n 50 127.0.0.1 "$PORT" /index.html /big.bin /api/status || fail "normal requests under the monitor"
  [ "$(get -X POST -d hello 127.0.0.1 "$PORT" /api/echo)" = hello ] || fail "echo under the monitor"
  if [ "$CASE" = monitored_normal ]; then
    [ ! -s "$inc" ] || fail "anomalies on normal traffic: $(cat "$inc")"
    # SIGTERM to kcfm run stops the server, which shuts down cleanly; kcfm
    # run itself reports either the program's status or 128+SIGTERM.
    kill -TERM "$SERVER_PID"
    rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    [ $rc = 0 ] || [ $rc = 143 ] || fail "kcfm run exit status $rc after SIGTERM"
    grep -q "stopped after" "$WORK/server.err" || fail "the monitored server did not shut down cleanly"
    [ ! -s "$inc" ] || fail "anomalies at shutdown: $(cat "$inc")"
    pass "152 normal requests monitored, no anomaly, clean shutdown (kcfm run exit $rc)"
    exit 0
  fi
  # Three attacks with two restarts allowed: file (dump_state -> openat
  # O_CREAT), shell (run_hook -> clone/execve), file again: the last one
  # leaves no restart, so kcfm run ends with status 3.
  pids=$pid1
  n=0
  for mode in file shell file; do
    n=$((n + 1))
    target=$WORK/pwned-$n
    if [ $mode = file ]; then arg=$target; else arg="echo hijacked > $target"; fi
    rc=0
    "$EXPLOIT" --binary "$SERVER" 127.0.0.1 "$PORT" $mode "$arg" >"$WORK/exploit-$n.out" 2>&1 || rc=$?
    cat "$WORK/exploit-$n.out"
    [ $rc = 3 ] || fail "attack $n ($mode): exploit exit $rc, want 3 (no answer: server stopped)"
    sleep 0.2
    [ ! -e "$target" ] || fail "attack $n ($mode): the hijacked call created $target under the monitor"
    [ "$(grep -c '"type":"anomaly"' "$inc")" = $n ] || fail "attack $n: want $n anomaly line(s) in $inc: $(cat "$inc" 2>&1)"
    if [ $n = 3 ]; then break; fi
    # restarted: answering again, as a new process
    s=""
    for i in $(seq 1 100); do
      s=$(get -t 1 127.0.0.1 "$PORT" /api/status 2>/dev/null) && break
      sleep 0.1
    done
    pid=$(json_field pid "$s")
    [ -n "$pid" ] || fail "attack $n: the server did not come back after the anomaly"
    case " $pids " in *" $pid "*) fail "attack $n: pid $pid seen before: not restarted" ;; esac
    pids="$pids $pid"
    [ "$(status_of 127.0.0.1 "$PORT" /index.html)" = 200 ] || fail "attack $n: restarted server not serving"
  done
  grep -q '"event":"call dump_state"' "$inc" && grep -q '"event":"call run_hook"' "$inc" \
    || fail "the incidents do not name the hijacked calls: $(cat "$inc")"
  rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [ $rc = 3 ] || fail "kcfm run exit status $rc after the last anomaly, want 3"
  pass "3 hijacks stopped before their syscall (files not created), 3 incidents, restarted twice (pids $pids), then exit 3"
  ;;

*)
  fail "unknown case"
  ;;
esac
