"""Python peer of bench_executor.c: ThreadPoolExecutor, tiny tasks and the
submit->result round trip."""
from concurrent.futures import ThreadPoolExecutor
import time

from peer_common import main


def nop():
    return None


def tiny_tasks(n):
    # Two workers; submit every task, then wait for every future.
    with ThreadPoolExecutor(max_workers=2) as ex:
        t0 = time.perf_counter()
        fs = [ex.submit(nop) for _ in range(n)]
        for f in fs:
            f.result()
        dt = time.perf_counter() - t0
    return dt, n


def roundtrip(n):
    with ThreadPoolExecutor(max_workers=1) as ex:
        ex.submit(nop).result()  # the worker exists before the clock starts
        t0 = time.perf_counter()
        for _ in range(n):
            ex.submit(nop).result()
        dt = time.perf_counter() - t0
    return dt, n


main({"tiny_tasks": tiny_tasks, "roundtrip": roundtrip})
