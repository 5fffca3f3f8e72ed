#!/bin/sh
# check.sh SOURCE TAG PROGRAM [ARG...]
#
# Runs PROGRAM and checks its output (stdout and stderr together) against
# the lines of SOURCE that read " * TAG: <regex>": each extended regular
# expression must match a line of the output, in the order given (lines in
# between are skipped). Fails if the program exits non-zero or a sanitizer
# reported anything. The examples use TAG "expect"; tools/weft/main.c one
# tag per subcommand.
set -u
src=$1 tag=$2
shift 2
tmp=${TMPDIR:-/tmp}/weft-check.$$
trap 'rm -f "$tmp.out" "$tmp.want"' EXIT INT TERM

"$@" >"$tmp.out" 2>&1
rc=$?
cat "$tmp.out"
if [ "$rc" -ne 0 ]; then
    echo "check: $* exited with status $rc" >&2
    exit 1
fi
if grep -Eq 'Sanitizer|runtime error:' "$tmp.out"; then
    echo "check: a sanitizer reported an error" >&2
    exit 1
fi
sed -n "s/^ \* $tag: //p" "$src" >"$tmp.want"
if [ ! -s "$tmp.want" ]; then
    echo "check: no '$tag:' lines in $src" >&2
    exit 1
fi
awk 'NR == FNR { want[n++] = $0; next }
     i < n && $0 ~ want[i] { i++ }
     END { if (i < n) { print "check: no output line matches (in order): " want[i] > "/dev/stderr"; exit 1 } }' \
    "$tmp.want" "$tmp.out"
