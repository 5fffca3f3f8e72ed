#!/bin/sh
# check_docs.sh DOXYGEN SOURCE_DIR OUT: build the API reference as `make
# docs` does (docs/Doxyfile over the public headers) into OUT, and fail on
# any warning doxygen gives (a broken comment command, an unknown tag) or
# if the HTML index or a function's man page is missing.
set -eu
doxygen=$1
src=$2
out=$3
rm -rf "$out"
mkdir -p "$out"
(cd "$src" && WEFT_DOCS_DIR="$out" "$doxygen" docs/Doxyfile) || {
    echo "check_docs: doxygen failed" >&2
    exit 1
}
if [ -s "$out/warnings.log" ]; then
    cat "$out/warnings.log" >&2
    echo "check_docs: doxygen warned ($(wc -l <"$out/warnings.log") lines above)" >&2
    exit 1
fi
for f in html/index.html man/man3/weft_lock_acquire.3 man/man3/sync.h.3; do
    [ -s "$out/$f" ] || { echo "check_docs: $f not generated" >&2; exit 1; }
done
echo "check_docs: html and man pages, no warning ($(ls "$out/man/man3" | wc -l) man pages)"
