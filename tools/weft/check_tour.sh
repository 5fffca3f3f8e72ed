#!/bin/sh
# check_tour.sh WEFT: `weft tour --quick` writes JSON, CSV and an SVG chart;
# each is checked: every scenario and model present, every run ok with
# positive figures, each model's median and range those of its runs,
# serial's speed-up 1; the CSV has a line per run; the
# SVG is well-formed XML with an <svg> root and a bar per run. Where
# gnuplot is installed, --plot FILE.png writes a PNG; where it is not, it
# says so and exits 2.
set -eu
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-tour.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
"$1" tour --quick --json "$tmp/t.json" --csv "$tmp/t.csv" --plot "$tmp/t.svg" >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; echo "check_tour: weft tour failed" >&2; exit 1; }
python3 - "$tmp" <<'PY'
import json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
t = json.load(open(d + "/t.json"))
names = ["io-sleep", "io-http", "io-files", "cpu-sum", "cpu-hash", "mixed"]
models = ["serial", "threads", "processes", "coroutines"]
assert t["quick"] is True and t["cpus"] >= 1, t
assert [s["name"] for s in t["scenarios"]] == names, [s["name"] for s in t["scenarios"]]
for s in t["scenarios"]:
    assert [r["model"] for r in s["results"]] == models, s
    for r in s["results"]:
        runs = r["runs"]
        assert len(runs) == 5, (s["name"], r)
        assert r["ok"] and r["speedup"] > 0, (s["name"], r)
        for x in runs:
            assert x["ok"] and x["wall_s"] > 0 and x["cpu_s"] >= 0, (s["name"], r)
        walls = sorted(x["wall_s"] for x in runs)
        close = lambda a, b: abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1e-9)
        assert close(r["median_s"], walls[len(walls) // 2]), (s["name"], r)
        assert close(r["min_s"], walls[0]) and close(r["max_s"], walls[-1]), (s["name"], r)
    assert abs(s["results"][0]["speedup"] - 1) < 1e-9, s
    assert s["winner"] in models and s["verdict"] and s["why"], s
rows = open(d + "/t.csv").read().splitlines()
assert rows[0].startswith("scenario,kind,model,run,") and len(rows) == 1 + 6 * 4 * 5, rows
svg = ET.parse(d + "/t.svg").getroot()
assert svg.tag.endswith("svg"), svg.tag
bars = [e for e in svg.iter() if e.tag.endswith("rect") and e.find("{http://www.w3.org/2000/svg}title") is not None]
assert len(bars) == 6 * 4, len(bars)
print("check_tour: json, csv and svg ok:", ", ".join(
    "%s %s" % (s["name"], s["winner"]) for s in t["scenarios"]))
PY
if command -v gnuplot >/dev/null 2>&1; then
    "$1" tour --quick --plot "$tmp/t.png" >/dev/null 2>&1 || { echo "check_tour: --plot png failed" >&2; exit 1; }
    python3 -c "import sys; b = open(sys.argv[1], 'rb').read(8); sys.exit(b != b'\x89PNG\r\n\x1a\n')" "$tmp/t.png" ||
        { echo "check_tour: not a PNG" >&2; exit 1; }
    echo "check_tour: png ok (gnuplot)"
else
    rc=0
    "$1" tour --quick --plot "$tmp/t.png" >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || { echo "check_tour: --plot png without gnuplot exited $rc, expected 2" >&2; exit 1; }
    echo "check_tour: png needs gnuplot, which is not installed: refused as it should be"
fi
