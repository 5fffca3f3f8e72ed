#!/bin/sh
# Makes sure the Debian packages a make target needs are present.
# Usage: scripts/deps.sh build|test|bench|fuzz|docs
# As root, missing packages are installed with apt-get; otherwise the exact
# apt-get line is printed and the script fails.
set -eu

need=""
optional="" # peers of the benchmarks: skipped (with the reason) if missing
want_cmd() { command -v "$1" >/dev/null 2>&1 || need="$need $2"; }
want_pc() { pkg-config --exists "$1" 2>/dev/null || need="$need $2"; }
peer_cmd() { command -v "$1" >/dev/null 2>&1 || optional="$optional $2"; }
peer_pc() { pkg-config --exists "$1" 2>/dev/null || optional="$optional $2"; }

want_cmd cc gcc
want_cmd make make
want_cmd cmake cmake
want_cmd pkg-config pkg-config
# libcurl is optional for the library itself (weft/http.h is off without
# it), so it is installed where we can and only mentioned where we cannot.
peer_pc libcurl libcurl4-openssl-dev
case "${1:-build}" in
test)
    want_pc check check
    # The tour's test checks its JSON and SVG with Python's json and xml;
    # the grammar check is a Python script; the headers are compiled as C++.
    want_cmd python3 python3
    want_cmd g++ g++
    # The tour's chart (SVG and PNG) is drawn by gnuplot; its test draws both.
    want_cmd gnuplot gnuplot-nox
    # check_docs builds the API reference and fails on a doxygen warning
    # (it is skipped where doxygen is missing).
    want_cmd doxygen doxygen
    ;;
docs)
    want_cmd doxygen doxygen
    ;;
fuzz)
    # libFuzzer comes with clang's runtime libraries.
    want_cmd clang clang
    if ! command -v clang >/dev/null 2>&1 ||
        [ ! -e "$(clang -print-runtime-dir)/libclang_rt.fuzzer-$(uname -m).a" ]; then
        need="$need libclang-rt-dev"
    fi
    ;;
bench)
    # The peers the benchmarks compare against.
    peer_cmd python3 python3
    peer_pc glib-2.0 libglib2.0-dev
    peer_pc libuv libuv1-dev
    peer_cmd go golang-go
    # The network benchmarks' load generator for HTTP and their HTTP peer.
    peer_cmd wrk wrk
    [ -x /usr/sbin/nginx ] || optional="$optional nginx"
    # Boost.Context ships no pkg-config file: look for its header.
    [ -e /usr/include/boost/context/detail/fcontext.hpp ] || optional="$optional libboost-context-dev"
    ;;
esac

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    need="$need$optional"
elif [ -n "$optional" ]; then
    echo "weft: optional packages missing (benchmark peers: their rows will say skipped; libcurl: weft/http.h is off):$optional" >&2
    echo "  install them with: sudo apt-get install -y$optional" >&2
fi
[ -z "$need" ] && exit 0
# pkg-config may itself be missing, which makes every want_pc miss: dedupe.
need=$(echo $need | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "weft: installing missing packages:$need" >&2
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    # shellcheck disable=SC2086
    if apt-get update -qq >"$log" 2>&1 && apt-get install -y -qq $need >>"$log" 2>&1; then
        rm -f "$log"
        exit 0
    fi
    cat "$log" >&2
    rm -f "$log"
    echo "weft: apt-get failed (output above)" >&2
    exit 1
fi
echo "weft: missing packages. Install them with:" >&2
echo "  sudo apt-get install -y $need" >&2
exit 1
