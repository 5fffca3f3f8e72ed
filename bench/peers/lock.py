"""Python peer of bench_lock.c: threading.Lock, uncontended and contended."""
import threading
import time

from peer_common import main


def uncontended(n):
    lock = threading.Lock()
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter()
    for _ in range(n):
        acquire()
        release()
    return time.perf_counter() - t0, n


def contended(n):
    lock = threading.Lock()
    counter = [0]
    go = threading.Event()

    def worker():
        go.wait()
        for _ in range(n):
            with lock:
                counter[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    assert counter[0] == 2 * n
    return dt, 2 * n


main({"uncontended": uncontended, "contended": contended})
