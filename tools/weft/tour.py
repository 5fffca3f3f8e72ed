"""The tour's scenarios in Python, beside weft's: `weft tour` runs this
script as a child process, so that its table shows what Python's own
concurrency gives on the same work, measured on the same machine.

    python3 tour.py SPEC

SPEC is one JSON object that weft writes:

    {"runs": 5, "cpu_scale": 20, "scenarios": [
        {"name": "io-sleep", "items": 20, "workers": 20, "wait": 0.02,
         "work": 0, "port": 0, "dir": ""}, ...]}

Each scenario's items are run with every model, `runs` times, in rounds
that take the models in turn (as weft does):

    serial      one item after the other
    threads     concurrent.futures.ThreadPoolExecutor(workers)
    processes   concurrent.futures.ProcessPoolExecutor(workers), started by
                fork as weft's process pool is
    asyncio     a task per item on one loop (asyncio.run); CPU work and file
                reads leave the loop through asyncio.to_thread, as weft's
                coroutines do through weft_to_thread

The work is weft's, item for item: the same sleeps, the same requests to
weft's server on `port`, the same files in `dir`, the same sums and hashes
in pure Python, over `work // cpu_scale` terms or bytes (pure Python runs
such loops some hundreds of times slower than C; the ratios to serial are
what compare).

The report goes to stdout, one JSON object per line, each in this shape
and order, so that weft's reader can stay small and strict:

    {"python": "3.11.7"}
    {"scenario": "io-sleep", "model": "threads", "run": 1, "ok": true,
     "wall_s": 0.0213, "cpu_s": 0.0051, "error": ""}      (one per run)
    {"done": true}

CPU time is this process's and its waited-for children's (os.times), as
weft counts its own.
"""

import asyncio
import concurrent.futures as cf
import json
import multiprocessing
import os
import sys
import time
import http.client

MASK = (1 << 64) - 1
HTTP_BODY_LEN = 13  # "Hello, world!", what weft's server answers


# ------------------------------------------------------------- the work

def sum_terms(n, seed):
    """weft's xorshift sum, term for term."""
    total, x = 0, seed | 1
    for _ in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        total += x & 0xFF
    return total


def hash_chunk(nbytes, seed):
    """weft's chunk (xorshift bytes) and its FNV-1a hash."""
    x, buf = seed | 1, bytearray(nbytes)
    for i in range(0, nbytes, 8):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        buf[i:i + 8] = x.to_bytes(8, "little")[:nbytes - i]
    h = 1469598103934665603
    for b in buf:
        h = ((h ^ b) * 1099511628211) & MASK
    return h


def read_file(folder, index):
    with open("%s/%d.txt" % (folder, index), "rb") as f:
        return sum(f.read())


def http_get(port, index):
    """One GET to weft's server; the body's length."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/%d" % index)
        r = conn.getresponse()
        body = r.read()
        return len(body) if r.status == 200 else 0
    finally:
        conn.close()


# An item: (scenario name, index, wait, work, port, dir): plain data, as it
# crosses to a worker process.

def cpu_part(it):
    name, index, _, work, _, folder = it
    if name in ("cpu-sum", "mixed"):
        return sum_terms(work, index + 1)
    if name == "cpu-hash":
        return hash_chunk(work, index + 1)
    return read_file(folder, index)


def run_item(it):
    """An item in a thread or a process."""
    name, index, wait, _, port, _ = it
    if name == "io-sleep":
        time.sleep(wait)
        return 1
    if name == "io-http":
        return http_get(port, index)
    v = cpu_part(it)
    if name == "mixed":
        time.sleep(wait)
    return v


async def run_item_async(it):
    """An item in a coroutine: waits on the loop, the rest to a thread."""
    name, index, wait, _, port, _ = it
    if name == "io-sleep":
        await asyncio.sleep(wait)
        return 1
    if name == "io-http":
        # The standard library has no asyncio HTTP client: the request is
        # written over asyncio's streams, by hand.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /%d HTTP/1.0\r\n\r\n" % index)
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        head, _, body = answer.partition(b"\r\n\r\n")
        return len(body) if head.split(b" ")[1:2] == [b"200"] else 0
    v = await asyncio.to_thread(cpu_part, it)
    if name == "mixed":
        await asyncio.sleep(wait)
    return v


# ----------------------------------------------------------- the models

def serial(items, workers):
    return [run_item(it) for it in items]


def threads(items, workers):
    with cf.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(run_item, items))


def processes(items, workers):
    ctx = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        return list(ex.map(run_item, items))


def coroutines(items, workers):
    async def main():
        return await asyncio.gather(*(run_item_async(it) for it in items))
    return asyncio.run(main())


MODELS = [("serial", serial), ("threads", threads), ("processes", processes),
          ("asyncio", coroutines)]


def cpu_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(fn, items, workers, want):
    w0, c0 = time.monotonic(), cpu_seconds()
    try:
        got = fn(items, workers)
        error = ""
        if len(got) != len(items) or (want and any(v != want for v in got)):
            error = "wrong results"
    except Exception as e:  # a failed run is reported, not fatal
        error = "%s: %s" % (type(e).__name__, e)
    return time.monotonic() - w0, cpu_seconds() - c0, error


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tour.py SPEC (weft tour runs it)")
    spec = json.loads(sys.argv[1])
    scale = spec["cpu_scale"]
    emit({"python": "%d.%d.%d" % sys.version_info[:3]})
    for sc in spec["scenarios"]:
        name = sc["name"]
        work = sc["work"] // scale if name in ("cpu-sum", "cpu-hash", "mixed") else 0
        items = [(name, i, sc["wait"], work, sc["port"], sc["dir"])
                 for i in range(sc["items"])]
        want = {"io-sleep": 1, "io-http": HTTP_BODY_LEN}.get(name, 0)
        for run in range(1, spec["runs"] + 1):
            for model, fn in MODELS:
                wall, cpu, error = measure(fn, items, sc["workers"], want)
                emit({"scenario": name, "model": model, "run": run, "ok": not error,
                      "wall_s": wall, "cpu_s": cpu, "error": error})
    emit({"done": True})


if __name__ == "__main__":
    main()
