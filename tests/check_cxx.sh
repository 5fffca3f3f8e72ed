#!/bin/sh
# Every public header compiles alone as C++17 with -pedantic -Werror, under
# each C++ compiler present (g++, clang++). Usage: check_cxx.sh INCLUDE_DIR
# GENERATED_INCLUDE_DIR. At least one compiler must be found.
set -u
inc=$1
gen=$2
found=0
failed=0
for cxx in g++ clang++; do
    command -v "$cxx" >/dev/null 2>&1 || continue
    found=1
    for h in "$inc"/weft.h "$inc"/weft/*.h; do
        if ! printf '#include "%s"\nint main() { return 0; }\n' "$h" |
            "$cxx" -std=c++17 -pedantic -Werror -Wall -Wextra -I "$inc" -I "$gen" \
                -x c++ -fsyntax-only - 2>/tmp/weft-cxx.$$; then
            echo "$cxx: $h does not compile as C++17:"
            head -5 /tmp/weft-cxx.$$
            failed=1
        fi
    done
done
rm -f /tmp/weft-cxx.$$
[ "$found" = 1 ] || { echo "no C++ compiler (g++ or clang++) found"; exit 1; }
[ "$failed" = 0 ] && echo "every header compiles as C++17"
exit $failed
