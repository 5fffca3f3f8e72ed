#!/bin/sh
# Runs every libFuzzer harness of a `make fuzz` build for a bounded time.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]
# Each harness starts from its corpus in fuzz/corpus/<name>/ and writes the
# inputs it finds new into BUILD_DIR/corpus/<name>/ (`make fuzz-merge` adds
# the ones that widen coverage to the repository's corpus). An input that
# fails is saved as BUILD_DIR/artifacts/<name>-crash-*; the script then
# exits non-zero. A summary line per harness: executions, new inputs, time.
set -u
build=$1
seconds=$2
shift 2
names=${*:-$(cat "$build/fuzz/names")}
root=$(cd "$(dirname "$0")/.." && pwd)
failed=""
for name in $names; do
    mkdir -p "$build/corpus/$name" "$build/artifacts"
    log="$build/artifacts/$name.log"
    # Inputs as long as a harness can use: the stream's are programs,
    # and a few hundred steps reach every state.
    case $name in
    stream) max_len=512 ;;
    *) max_len=4096 ;;
    esac
    "$build/fuzz/fuzz_$name" -max_total_time="$seconds" -print_final_stats=1 -max_len=$max_len \
        -artifact_prefix="$build/artifacts/$name-" -timeout=20 -rss_limit_mb=4096 \
        "$build/corpus/$name" "$root/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    added=$(sed -n 's/^stat::new_units_added: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    if [ "$rc" -ne 0 ]; then
        failed="$failed $name"
        echo "fuzz $name: FAILED (exit $rc); the input and its log are in $build/artifacts/"
        grep -E "fz_|ERROR|runtime error" "$log" | head -5
    else
        echo "fuzz $name: ${runs:-?} executions (${rate:-?}/s) in ${seconds} s, ${added:-0} new inputs"
    fi
done
[ -z "$failed" ] || { echo "fuzz: failures in:$failed"; exit 1; }
