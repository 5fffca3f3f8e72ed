"""Python peer of bench_procpool.c: ProcessPoolExecutor round trip,
multiprocessing.Pool.map of small items, and the seeds' CPU-bound example
serially, with threads and with processes."""
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
import multiprocessing
import time

from peer_common import main


def nop():
    return None


def square(x):
    return x * x


def sum_range(_):
    return sum(range(10**7))


def roundtrip(n):
    with ProcessPoolExecutor(max_workers=2) as ex:
        for _ in range(4):
            ex.submit(nop).result()
        t0 = time.perf_counter()
        for _ in range(n):
            ex.submit(nop).result()
        dt = time.perf_counter() - t0
    return dt, n


def pool_map(n):
    with multiprocessing.Pool(2) as pool:
        pool.map(square, range(100))
        t0 = time.perf_counter()
        out = pool.map(square, range(n))
        dt = time.perf_counter() - t0
    assert out[-1] == (n - 1) ** 2
    return dt, n


def cpu_serial(n):
    t0 = time.perf_counter()
    for _ in range(n):
        for i in range(4):
            sum_range(i)
    return time.perf_counter() - t0, n


def cpu_threads(n):
    t0 = time.perf_counter()
    for _ in range(n):
        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(sum_range, range(4)))
    return time.perf_counter() - t0, n


def cpu_processes(n):
    t0 = time.perf_counter()
    for _ in range(n):
        with ProcessPoolExecutor(max_workers=4) as ex:
            list(ex.map(sum_range, range(4)))
    return time.perf_counter() - t0, n


if __name__ == "__main__":
    main({"roundtrip": roundtrip, "pool_map": pool_map, "cpu_serial": cpu_serial,
          "cpu_threads": cpu_threads, "cpu_processes": cpu_processes})
