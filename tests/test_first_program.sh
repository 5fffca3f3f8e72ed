#!/bin/sh
# test_first_program.sh PREFIX README: follow README.md's "Build your first
# program" against a weft installed in PREFIX. The program is the README's
# own (the C block after the "<!-- counter.c" marker), and each shell block
# after a "<!-- run: NAME -->" marker runs as written, in a directory
# holding counter.c, with $PREFIX set to the install. The rpath, the
# LD_LIBRARY_PATH and the static ways must all be there, and each must print
# 500000. Where the library directory is not lib (GNUInstallDirs chose
# another, as the README says), the blocks' $PREFIX/lib reads that one;
# where weft was built without HTTP, the static block drops -lcurl, as the
# README says. The install and ldconfig blocks are not run: the caller
# installed with cmake --install (what make install does), and ldconfig
# would change the machine.
set -eu
prefix=$1
readme=$2
fail() { echo "test_first_program: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-first.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The blocks, one file each: counter.c, and run-NAME.sh.
awk -v dir="$tmp" '
    /^<!-- counter\.c/ { want = dir "/counter.c"; next }
    /^<!-- run: [A-Za-z_]+ -->$/ { want = dir "/run-" $3 ".sh"; next }
    /^```/ { if (inside) { inside = 0; want = "" } else if (want != "") inside = 1; next }
    inside { print > want }
' "$readme"
[ -s "$tmp/counter.c" ] || fail "no C block after <!-- counter.c --> in $readme"
for way in rpath LD_LIBRARY_PATH static; do
    [ -s "$tmp/run-$way.sh" ] || fail "no shell block after <!-- run: $way --> in $readme"
done

pc=$(find "$prefix" -name weft.pc | head -n 1)
[ -n "$pc" ] || fail "no weft.pc under $prefix"
libdir=$(dirname "$(dirname "$pc")")
http=$(sed -n 's/^#define WEFT_HAVE_HTTP \([01]\)$/\1/p' "$prefix/include/weft/config.h")
[ -n "$http" ] || fail "no WEFT_HAVE_HTTP in the installed weft/config.h"

for way in rpath LD_LIBRARY_PATH static; do
    script=$tmp/run-$way.sh
    if [ "$libdir" != "$prefix/lib" ]; then
        sed -i "s|\\\$PREFIX/lib\\b|\\\$PREFIX/${libdir#"$prefix"/}|g" "$script"
    fi
    if [ "$way" = static ] && [ "$http" = 0 ]; then
        sed -i 's/ -lcurl//' "$script"
    fi
    work=$tmp/$way
    mkdir "$work"
    cp "$tmp/counter.c" "$work/"
    out=$(cd "$work" && env -u LD_LIBRARY_PATH PREFIX="$prefix" sh -eu "$script" 2>&1) ||
        fail "$way: the README's commands failed:
$(cat "$script")
$out"
    [ "$(printf '%s\n' "$out" | tail -n 1)" = 500000 ] || fail "$way: printed '$out', expected 500000"
    echo "first program, $way: ok ($(tr '\n' ';' <"$script"))"
done
# The static program carries weft in it.
if command -v ldd >/dev/null 2>&1 && ldd "$tmp/static/counter" | grep -q libweft; then
    fail "static: the program still loads libweft.so"
fi
