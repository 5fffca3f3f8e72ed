#!/bin/sh
# test_install.sh BUILD_DIR: install a built tree into a temporary prefix
# and check that a program outside the tree can use it, the two ways users
# will: pkg-config, and CMake's find_package(weft) with weft::weft (and
# weft::weft_static). Each consumer is built, run, and must print its line.
# Then README.md's "Build your first program" is followed as written
# (test_first_program.sh), and the installed weft program is asked its
# version and for the benchmarks, which are not installed.
set -eu

build=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
fail() { echo "test_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install failed"; }

# The files a user needs, wherever GNUInstallDirs put the library dir.
pc=$(find "$prefix" -name weft.pc | head -n 1)
[ -n "$pc" ] || fail "no weft.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/weft.h" "$prefix/include/weft/common.h" \
         "$prefix/include/weft/sync.h" "$prefix/include/weft/thread.h" \
         "$libdir/libweft.so" "$libdir/libweft.a" \
         "$libdir/cmake/weft/weftConfig.cmake" "$libdir/cmake/weft/weftConfigVersion.cmake" \
         "$libdir/cmake/weft/weftTargets.cmake"; do
    [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
echo "installed: headers, libweft.so, libweft.a, ${pc#"$prefix"/}, ${libdir#"$prefix"/}/cmake/weft"
# Nothing internal leaks into the installed headers, and every installed
# header keeps the API's grammar.
if [ -e "$prefix/include/internal" ]; then fail "internal headers installed"; fi
python3 "$(dirname "$0")/check_grammar.py" "$prefix/include" || fail "the installed headers break the grammar"
version=$(sed -n 's/^#define WEFT_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/weft/common.h")
[ -n "$version" ] || fail "no WEFT_VERSION_STRING in the installed common.h"

mkdir -p "$tmp/app"
cat >"$tmp/app/consumer.c" <<'C'
#include <stdio.h>
#include <weft.h>

static weft_lock lock = WEFT_LOCK_INIT;
static long counter;

static void *add(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        weft_lock_acquire(&lock, WEFT_FOREVER);
        counter++;
        weft_lock_release(&lock);
    }
    return NULL;
}

int main(void)
{
    weft_thread *t[2];
    for (int i = 0; i < 2; i++)
        if (weft_thread_new(&t[i], add, NULL, NULL) || weft_thread_start(t[i]))
            return 1;
    for (int i = 0; i < 2; i++) {
        weft_thread_join(t[i], WEFT_FOREVER);
        weft_thread_unref(t[i]);
    }
    /* The headers' version and the library's must agree. */
    if (weft_version() != WEFT_VERSION_HEX)
        return 2;
    printf("consumer: weft %s, counter %ld\n", weft_version_string(), counter);
    return counter == 2000 ? 0 : 1;
}
C

expect() { # expect NAME COMMAND...: run, and check the consumer's line
    name=$1; shift
    out=$("$@") || fail "$name: exited with status $?"
    [ "$out" = "consumer: weft $version, counter 2000" ] || fail "$name: printed '$out'"
    echo "$name: ok ($out)"
}

# 1. pkg-config, shared library (found at run time through LD_LIBRARY_PATH).
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs weft) || fail "pkg-config --cflags --libs weft failed"
# shellcheck disable=SC2086
${CC:-cc} -o "$tmp/app/pc_shared" "$tmp/app/consumer.c" $flags ||
    fail "compiling with: pkg-config --cflags --libs weft -> $flags"
expect "pkg-config (shared)" env LD_LIBRARY_PATH="$libdir" "$tmp/app/pc_shared"

# 2. pkg-config for the flags, libweft.a named explicitly (both libraries
#    are libweft, and -lweft would pick the shared one).
sflags="$(pkg-config --cflags weft) $libdir/libweft.a $(pkg-config --static --libs-only-other weft)"
# shellcheck disable=SC2086
${CC:-cc} -o "$tmp/app/pc_static" "$tmp/app/consumer.c" $sflags ||
    fail "compiling against libweft.a with: $sflags"
expect "pkg-config (static)" "$tmp/app/pc_static"

# 3. CMake: find_package(weft) and the imported targets; a minor version
# breaks the API before 1.0, so the consumer asks for this one.
cat >"$tmp/app/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(weft_consumer C)
find_package(weft ${version%.*} REQUIRED)
add_executable(x consumer.c)
target_link_libraries(x weft::weft)
add_executable(x_static consumer.c)
target_link_libraries(x_static weft::weft_static)
CM
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; fail "find_package(weft) failed"; }
cmake --build "$tmp/app/build" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "building the CMake consumer failed"; }
expect "find_package weft::weft" "$tmp/app/build/x"
expect "find_package weft::weft_static" "$tmp/app/build/x_static"

# 4. README.md's "Build your first program", step by step.
sh "$(dirname "$0")/test_first_program.sh" "$prefix" "$(dirname "$0")/../README.md"

# The installed weft program: its version, and `weft bench`, whose
# benchmarks are not installed, says how to run them.
[ "$("$prefix/bin/weft" --version)" = "weft $version" ] || fail "weft --version from the prefix"
rc=0
"$prefix/bin/weft" bench >"$tmp/bench.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q 'make bench' "$tmp/bench.out" ||
    fail "weft bench from the prefix: status $rc, said: $(cat "$tmp/bench.out")"
echo "installed weft: --version ok; bench says: $(cat "$tmp/bench.out")"
