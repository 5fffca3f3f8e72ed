"""Python peer of bench_process.c: Process start + join with a given start
method (fork or forkserver). The forkserver is started by the warm-up run,
so its own start is not counted, as in the C workload."""
import multiprocessing
import time

from peer_common import main


def nothing():
    pass


def start_join(method):
    ctx = multiprocessing.get_context(method)

    def run(n):
        t0 = time.perf_counter()
        for _ in range(n):
            p = ctx.Process(target=nothing)
            p.start()
            p.join()
            assert p.exitcode == 0
        return time.perf_counter() - t0, n

    return run


# A forkserver child imports this file as __mp_main__ to find `nothing`:
# the guard keeps it from running the benchmark again.
if __name__ == "__main__":
    main({"fork": start_join("fork"), "forkserver": start_join("forkserver")})
