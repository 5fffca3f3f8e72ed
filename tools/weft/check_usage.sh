#!/bin/sh
# check_usage.sh WEFT: an unknown subcommand prints the usage on stderr,
# nothing on stdout, and exits with status 2.
set -u
tmp=${TMPDIR:-/tmp}/weft-usage.$$
trap 'rm -f "$tmp.out" "$tmp.err"' EXIT INT TERM
"$1" frobnicate >"$tmp.out" 2>"$tmp.err"
rc=$?
cat "$tmp.err"
[ "$rc" -eq 2 ] || { echo "check: exit status $rc, expected 2" >&2; exit 1; }
[ ! -s "$tmp.out" ] || { echo "check: unexpected output on stdout" >&2; exit 1; }
grep -q '^usage: weft' "$tmp.err" || { echo "check: no usage on stderr" >&2; exit 1; }
