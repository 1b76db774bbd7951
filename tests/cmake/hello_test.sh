#!/usr/bin/env bash
# The kcfm_hello example built by this tree has a signature whose entry is
# main and whose syscalls include what greeting and logging need.
KCFM=$1 HELLO=$2
. "$(dirname "$0")/lib.sh"
[ -f "$HELLO.kcfm" ] || fail "no signature next to $HELLO"
out=$("$KCFM" show "$HELLO.kcfm")
echo "$out"
grep -q "entry: main" <<<"$out" || fail "entry is not main"
grep -q "syscalls allowed" <<<"$out" || fail "no syscall list"
for s in write openat close; do grep -qw "$s" <<<"$out" || fail "syscall $s missing"; done
echo "PASS kcfm_hello_signature"
