#!/bin/sh
# check_tour.sh WEFT: `weft tour --quick` writes JSON, CSV and (with gnuplot) an SVG chart;
# each is checked: every scenario and model present, every run ok with
# positive figures, each model's median and range those of its runs,
# serial's speed-up 1; each verdict (winner, runner-up, within noise or
# real, a spread too wide to call, a busy machine) recomputed from the
# runs by the rules the JSON states; no ratio printed as a fraction or
# 0.0x; the CSV has a line per run; the
# SVG (gnuplot's) is well-formed XML with an <svg> root and a labelled bar
# per model and scenario. Python's
# columns (python3 is on PATH, since this check runs it): every model's
# runs, medians and ranges, its fastest named in the "in Python" line, the
# GIL named where its threads gained nothing on CPU-bound work; the CSV
# carries its runs. Without Python ($WEFT_PYTHON names no program) the
# tour says so and shows weft alone; a malformed report from Python is an
# error that says so, not a crash. Where gnuplot is installed, --plot
# FILE.png writes a PNG; where it is not, --plot (SVG or PNG) says so and
# exits 2.
set -eu
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-tour.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
plot=
if command -v gnuplot >/dev/null 2>&1; then plot="--plot=$tmp/t.svg"; fi
"$1" tour --quick --json "$tmp/t.json" --csv "$tmp/t.csv" $plot >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; echo "check_tour: weft tour failed" >&2; exit 1; }
python3 - "$tmp" "$plot" <<'PY'
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

# The verdicts follow from the runs: recompute each scenario's winner,
# runner-up, margin and "within noise" call from its runs alone, by the
# rules the JSON states, and compare.
import re
assert t["busy"] == (t["load1"] >= t["cpus"]), t
def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
for s in t["scenarios"]:
    stats = {}
    for r in s["results"]:
        if all(x["ok"] for x in r["runs"]):
            w = [x["wall_s"] for x in r["runs"]]
            stats[r["model"]] = (median(w), min(w), max(w))
    order = sorted(stats, key=lambda m: (stats[m][0], models.index(m)))
    win, ru = order[0], order[1]
    (mw, lw, hw), (mr, lr, hr) = stats[win], stats[ru]
    overlap = hw >= lr and hr >= lw
    margin = mr / mw
    noise = overlap or margin < 1 + t["noise_margin"]
    wide = any(stats[m][2] > t["wide_spread"] * stats[m][1] for m in (win, ru))
    got = (s["winner"], s["runner_up"], s["ranges_overlap"], s["within_noise"], s["spread_too_wide"])
    want = (win, ru, overlap, noise, wide)
    assert got == want, (s["name"], "json says", got, "the runs say", want)
    assert abs(s["margin"] - margin) <= 1e-4 * margin, (s["name"], s["margin"], margin)
    text = s["verdict"]
    assert text.startswith(win), (s["name"], text)
    assert ("within noise" in text) == noise and ("a real difference" in text) == (not noise), (s["name"], text)
    assert ("too wide to call" in text) == wide, (s["name"], text)
    # A note saying a model ran slower (faster) than serial agrees with
    # the medians.
    for note in s["notes"]:
        m = re.match(r"(\w+) ran [0-9.]+x (slower|faster) than serial", note)
        assert m and m.group(1) in stats, (s["name"], note)
        slower = stats[m.group(1)][0] > stats["serial"][0]
        assert slower == (m.group(2) == "slower"), (s["name"], note)
    # Ratios read as "2.5x slower", never as a fraction or 0.0x.
    for line in [text, s["why"]] + s["notes"]:
        assert not re.search(r"(?<![0-9.])0(\.[0-9]*)?x", line), (s["name"], line)
out = open(d + "/out").read()
assert out.count("\n  verdict: ") == 6, out
assert not re.search(r"(?<![0-9.])0(\.[0-9]*)?x", out), out
# Python's columns, beside weft's.
py = t["python"]
pymodels = ["serial", "threads", "processes", "asyncio"]
assert py["ran"] is True and py["version"] and py["models"] == pymodels, py
assert out.count("\n  in Python: ") == 6, out
for s in t["scenarios"]:
    p = s["python"]
    assert [r["model"] for r in p["results"]] == pymodels, (s["name"], p)
    stats = {}
    for r in p["results"]:
        assert r["ok"] and len(r["runs"]) == 5, (s["name"], r)
        w = [x["wall_s"] for x in r["runs"]]
        assert all(x["ok"] and x["wall_s"] > 0 and x["cpu_s"] >= 0 for x in r["runs"]), (s["name"], r)
        assert abs(r["median_s"] - median(w)) <= 1e-5 * median(w), (s["name"], r)
        assert abs(r["min_s"] - min(w)) <= 1e-5 * min(w) and abs(r["max_s"] - max(w)) <= 1e-5 * max(w), (s["name"], r)
        stats[r["model"]] = (median(w), min(w), max(w))
    win = min(pymodels, key=lambda m: (stats[m][0], pymodels.index(m)))
    assert p["winner"] == win and p["says"].startswith(win + " was the fastest"), (s["name"], p)
    serial, threads = stats["serial"], stats["threads"]
    noise = (threads[2] >= serial[1] and serial[2] >= threads[1]) or \
        max(serial[0], threads[0]) / min(serial[0], threads[0]) < 1 + t["noise_margin"]
    gil = s["kind"] == "cpu" and (threads[0] >= serial[0] or noise)
    assert ("the GIL" in p["says"]) == gil, (s["name"], p["says"], stats)
    assert not re.search(r"(?<![0-9.])0(\.[0-9]*)?x", p["says"]), (s["name"], p["says"])
rows = open(d + "/t.csv").read().splitlines()
assert rows[0].startswith("scenario,kind,side,model,run,") and len(rows) == 1 + 2 * 6 * 4 * 5, len(rows)
assert sum(1 for r in rows if r.split(",")[2] == "python") == 6 * 4 * 5, rows
# The chart (gnuplot's): a bar label per model and scenario, its ratio as
# the table says it ("98x" for 98x faster, "2.5x slower"), the slower
# ones where the JSON has a speed-up under 1.
if sys.argv[2]:
    svg = ET.parse(d + "/t.svg").getroot()
    assert svg.tag.endswith("svg"), svg.tag
    texts = ["".join(e.itertext()).strip() for e in svg.iter() if e.tag.endswith("text")]
    labels = [x for x in texts if re.fullmatch(r"[0-9.]+x( slower)?|the same", x)]
    assert len(labels) == 6 * 4, labels
    slower = sum(1 for s in t["scenarios"] for r in s["results"] if r["speedup"] < 1 / 1.005)
    assert sum(1 for x in labels if x.endswith("slower")) == slower, (labels, slower)
    assert not any(re.match(r"0(\.[0-9]*)?x", x) for x in labels), labels
print("check_tour: json, csv and chart ok:", ", ".join(
    "%s %s (Python: %s)" % (s["name"], s["winner"], s["python"]["winner"]) for s in t["scenarios"]))
PY
# Without Python, the tour says so and shows weft alone.
WEFT_PYTHON="$tmp/none" "$1" tour --quick --json "$tmp/alone.json" >"$tmp/alone" 2>&1 ||
    { cat "$tmp/alone"; echo "check_tour: the tour without Python failed" >&2; exit 1; }
grep -q "^No Python columns: WEFT_PYTHON=.* is not a program" "$tmp/alone" &&
    ! grep -q "in Python: " "$tmp/alone" &&
    python3 -c "import json, sys; t = json.load(open(sys.argv[1])); sys.exit(t['python']['ran'] or t['scenarios'][0]['python'] is not None)" "$tmp/alone.json" ||
    { cat "$tmp/alone"; echo "check_tour: without Python, the tour should say so and show weft alone" >&2; exit 1; }
# A malformed report from Python: an error that says where, weft alone.
printf '#!/bin/sh\necho '"'"'{"python": "3.99.0"}'"'"'\necho '"'"'{"scenario": "io-sleep", "model": 7}'"'"'\n' >"$tmp/bad"
chmod +x "$tmp/bad"
rc=0
WEFT_PYTHON="$tmp/bad" "$1" tour --quick >"$tmp/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "malformed at line 2: expected a string" "$tmp/bad.out" &&
    ! grep -q "in Python: " "$tmp/bad.out" ||
    { cat "$tmp/bad.out"; echo "check_tour: a malformed Python report: exit $rc, expected 1 and a message" >&2; exit 1; }
echo "check_tour: without Python and with a malformed report: said so, weft alone"
if [ -n "$plot" ]; then
    WEFT_PYTHON="$tmp/none" "$1" tour --quick --plot "$tmp/t.png" >/dev/null 2>&1 || { echo "check_tour: --plot png failed" >&2; exit 1; }
    python3 -c "import sys; b = open(sys.argv[1], 'rb').read(8); sys.exit(b != b'\x89PNG\r\n\x1a\n')" "$tmp/t.png" ||
        { echo "check_tour: not a PNG" >&2; exit 1; }
    echo "check_tour: svg and png ok (gnuplot)"
else
    for f in t.png t.svg; do
        rc=0
        "$1" tour --quick --plot "$tmp/$f" >"$tmp/plot.out" 2>&1 || rc=$?
        [ "$rc" -eq 2 ] && grep -q "drawn by gnuplot, which is not installed" "$tmp/plot.out" ||
            { echo "check_tour: --plot $f without gnuplot exited $rc, expected 2 and a message" >&2; exit 1; }
    done
    echo "check_tour: the chart needs gnuplot, which is not installed: refused as it should be"
fi
