#!/bin/sh
# test_no_http.sh SOURCE_DIR: weft built without libcurl (-DWEFT_HTTP=OFF,
# as on a machine where it is missing) still builds, its weft/config.h says
# WEFT_HAVE_HTTP 0, weft/http.h's functions return WEFT_ENOTSUP (test_http's
# feature_off case) and `weft info` says http is off.
set -eu
src=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-nohttp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "test_no_http: $*" >&2; exit 1; }

cmake -S "$src" -B "$tmp" -DWEFT_HTTP=OFF -DWEFT_BENCH=OFF -DWEFT_EXAMPLES=OFF >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log"; fail "configure failed"; }
cmake --build "$tmp" -j "$(nproc 2>/dev/null || echo 2)" --target test_http weft_cli >"$tmp/build.log" 2>&1 ||
    { tail -30 "$tmp/build.log"; fail "build without libcurl failed"; }
grep -q '#define WEFT_HAVE_HTTP 0' "$tmp/include/weft/config.h" || fail "config.h does not say 0"
"$tmp/tests/test_http" || fail "test_http (feature off) failed"
"$tmp/tools/weft/weft" info | grep -q '^http: *off' || fail "weft info does not say http is off"
echo "test_no_http: weft builds and says http is off without libcurl"
