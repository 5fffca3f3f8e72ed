"""Python peer of bench_task.c: the same coroutine workloads on asyncio.

    asyncio_peers.py CASE N RUNS

Time cases print "result MEDIAN_NS MIN_NS" per operation (peer_common).
The memory case (parked_rss) prints "result MEDIAN_MIB MIN_MIB": each run is
a fresh interpreter (a child of this one), so that memory a previous run
left in Python's allocator does not hide the next run's growth.
"""
import asyncio
import os
import statistics
import subprocess
import sys
import time

from peer_common import main


def spawn(n):
    """n tasks that each yield once (asyncio.sleep(0)), then gather."""

    async def t():
        await asyncio.sleep(0)

    async def run():
        t0 = time.perf_counter()
        await asyncio.gather(*[asyncio.create_task(t()) for _ in range(n)])
        return time.perf_counter() - t0

    return asyncio.run(run()), n


def pingpong(n):
    """Two coroutines bounce a token through two queues; n round trips."""

    async def run():
        there, back = asyncio.Queue(), asyncio.Queue()

        async def echo():
            get, put = there.get, back.put_nowait
            for _ in range(n):
                put(await get())

        task = asyncio.create_task(echo())
        await asyncio.sleep(0)  # the echo coroutine waits on its queue
        get, put = back.get, there.put_nowait
        total = 0
        t0 = time.perf_counter()
        for i in range(n):
            put(i)
            total += await get()
        dt = time.perf_counter() - t0
        await task
        assert total == n * (n - 1) // 2
        return dt

    return asyncio.run(run()), n


async def _park(n):
    """n tasks that each count themselves parked, then wait on one event.
    Returns (seconds from the first create_task until all are parked, the
    tasks, the event) for the caller to measure and then release."""
    ev = asyncio.Event()
    all_parked = asyncio.get_running_loop().create_future()
    left = n

    async def waiter():
        nonlocal left
        left -= 1
        if left == 0:
            all_parked.set_result(None)
        await ev.wait()

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(waiter()) for _ in range(n)]
    await all_parked
    return time.perf_counter() - t0, tasks, ev


def parked(n):
    """Time to create n tasks and have them all waiting on one Event."""

    async def run():
        dt, tasks, ev = await _park(n)
        ev.set()
        await asyncio.gather(*tasks)
        return dt

    return asyncio.run(run()), n


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/self/status" % key)


def _reset_hwm():
    # Writing 5 resets VmHWM to the current resident size (Linux 4.0+), so
    # the mark read later is the peak of the workload, not of start-up.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _parked_rss_child(n):
    """In a fresh interpreter: peak resident growth, in MiB, from before the
    loop runs until n tasks are parked on one Event."""

    async def run():
        _reset_hwm()
        before = _status_kib("VmRSS:")
        _, tasks, ev = await _park(n)
        peak = max(_status_kib("VmHWM:"), _status_kib("VmRSS:"))
        ev.set()
        await asyncio.gather(*tasks)
        return (peak - before) / 1024.0

    loop = asyncio.new_event_loop()
    try:
        print("mib %.3f" % loop.run_until_complete(run()))
    finally:
        loop.close()


def parked_rss(n):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "_parked_rss_child",
                          str(n)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("mib "):
            return float(line.split()[1])
    raise RuntimeError("parked_rss child printed no figure")


def quantity_main(fn):
    """As peer_common.main, for a case whose figure is a quantity (MiB):
    no warm-up (memory has nothing to warm), the figures printed as they
    are."""
    n, runs = int(sys.argv[2]), int(sys.argv[3])
    figs = [fn(n) for _ in range(runs)]
    print("result %.3f %.3f" % (statistics.median(figs), min(figs)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_parked_rss_child":
        _parked_rss_child(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "parked_rss":
        quantity_main(parked_rss)
    else:
        main({"spawn": spawn, "pingpong": pingpong, "parked": parked})
