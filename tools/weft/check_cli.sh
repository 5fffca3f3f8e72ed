#!/bin/sh
# check_cli.sh WEFT: the command line, without running the tour.
#   - `weft --version` and `weft COMMAND --help` (and `weft help COMMAND`)
#     print to stdout, nothing to stderr, and exit 0;
#   - a value is taken both as `--opt value` and as `--opt=value`;
#   - a missing value, an unknown option, a chart format other than .svg
#     and .png, and an output path that cannot be written are refused with
#     exit status 2, a message on stderr and nothing on stdout, at once:
#     each refusal must come within a few seconds, long before a tour's
#     first measurement would end.
set -u
weft=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0
fail() { echo "check_cli: $*" >&2; failed=1; }

# run ARGS...: run weft with a time limit; sets rc, out and err files.
run() {
    timeout 20 "$weft" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

# ok PATTERN ARGS...: exit 0, stdout's first line matches PATTERN, no stderr.
ok() {
    pattern=$1; shift
    run "$@"
    [ "$rc" -eq 0 ] || { fail "weft $*: exit status $rc, expected 0"; cat "$tmp/err" >&2; return; }
    head -n 1 "$tmp/out" | grep -Eq "$pattern" ||
        fail "weft $*: stdout begins '$(head -n 1 "$tmp/out")', expected /$pattern/"
    [ ! -s "$tmp/err" ] || fail "weft $*: unexpected stderr: $(cat "$tmp/err")"
    ! grep -qi seed "$tmp/out" || fail "weft $*: names a document that is not in the repository"
}

# refused PATTERN ARGS...: exit 2, stderr matches PATTERN, stdout empty
# (the tour prints its title before any work: empty means none started).
refused() {
    pattern=$1; shift
    run "$@"
    [ "$rc" -eq 2 ] || fail "weft $*: exit status $rc, expected 2"
    [ ! -s "$tmp/out" ] || fail "weft $*: work started: $(head -n 1 "$tmp/out")"
    grep -Eq -- "$pattern" "$tmp/err" || fail "weft $*: stderr '$(cat "$tmp/err")', expected /$pattern/"
}

ok '^weft [0-9]+\.[0-9]+\.[0-9]+$' --version
ok '^usage: weft ' --help
ok '^usage: weft ' help
for cmd in tour bench demo info help; do
    ok "^usage: weft $cmd( |\$)" "$cmd" --help
    ok "^usage: weft $cmd( |\$)" "$cmd" -h
    ok "^usage: weft $cmd( |\$)" help "$cmd"
done

# Both forms of a value: the refusal quotes the value it parsed.
missing=$tmp/no-such-dir
for opt in json csv; do
    refused "--$opt $missing/a: cannot write there" tour --quick "--$opt" "$missing/a"
    refused "--$opt $missing/b: cannot write there" tour --quick "--$opt=$missing/b"
done
refused "--plot $missing/c.svg: cannot write there" tour --quick --plot "$missing/c.svg"
refused "--plot $missing/d.svg: cannot write there" tour --quick --plot="$missing/d.svg"
refused "--out $missing/e.md: cannot write there" bench --quick --out "$missing/e.md"
refused "--out $missing/f.md: cannot write there" bench --quick --out="$missing/f.md"
# A directory is no file; a file in a read-only directory (not for root,
# who may write anywhere).
refused "--json $tmp: cannot write there" tour --quick --json "$tmp"
if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/ro" && chmod 0500 "$tmp/ro"
    refused "--csv $tmp/ro/x.csv: cannot write there" tour --quick --csv "$tmp/ro/x.csv"
fi

# Missing values, at the end or followed by another option.
for opt in json csv plot; do
    refused "option '--$opt' requires an argument" tour --quick "--$opt"
    refused "--$opt needs a value" tour "--$opt" --quick
    refused "--$opt needs a value" tour --quick "--$opt="
done
refused "option '--out' requires an argument" bench --out
# The chart's formats.
refused "FILE\.svg or FILE\.png" tour --quick --plot "$tmp/x.jpg"
refused "FILE\.svg or FILE\.png" tour --quick --plot="$tmp/chart"
[ ! -e "$tmp/x.jpg" ] || fail "--plot x.jpg wrote x.jpg"
# Unknown options and arguments, and a help for nothing.
refused "unrecognized option '--frob'" tour --frob
refused "unexpected argument 'extra'" tour extra
refused "unexpected argument 'x'" info x
refused "unexpected argument 'x'" demo x
refused "no command named 'nope'" help nope
refused "unknown option '--quick'" --quick
# Every refusal of a command shows its usage.
refused "^usage: weft tour" tour --json

[ "$failed" -eq 0 ] || exit 1
echo "check_cli: --version, --help of each command, both forms of a value, refusals before any work: ok"
