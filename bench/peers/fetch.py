"""Python peers of the fetch benchmark (bench_net.c): N GET requests to a
local HTTP/1.1 server (weft-http-hello, started here from WB_HTTP_SERVER),
50 at a time, the standard library's two ways: threads with urllib (a new
connection per request: urllib does not keep connections alive) and
asyncio with raw HTTP/1.1 over streams on 50 kept-alive connections
(aiohttp is not part of the standard library). The figure is the time per
1,000 URLs."""
import asyncio
import os
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from peer_common import main

CONCURRENCY = 50
BODY = 13  # "Hello, world!"


def start_server():
    p = subprocess.Popen([os.environ["WB_HTTP_SERVER"]], stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline().split()[1])
    return p, port


def threads(n):
    p, port = start_server()
    try:
        urls = ["http://127.0.0.1:%d/item/%d" % (port, i) for i in range(n)]

        def get(url):
            with urllib.request.urlopen(url, timeout=30) as r:
                return len(r.read())

        t0 = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as ex:
            total = sum(ex.map(get, urls))
        dt = time.perf_counter() - t0
        assert total == BODY * n
    finally:
        p.kill()
        p.wait()
    return dt, n / 1000


async def worker(port, paths, sizes):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while paths:
        path = paths.pop()
        writer.write(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        sizes.append(len(await reader.readexactly(length)))
    writer.close()
    await writer.wait_closed()


async def fetch_all(port, n):
    paths = ["/item/%d" % i for i in range(n)]
    sizes = []
    await asyncio.gather(*(worker(port, paths, sizes) for _ in range(CONCURRENCY)))
    return sizes


def aio(n):
    p, port = start_server()
    try:
        t0 = time.perf_counter()
        sizes = asyncio.run(fetch_all(port, n))
        dt = time.perf_counter() - t0
        assert sum(sizes) == BODY * n
    finally:
        p.kill()
        p.wait()
    return dt, n / 1000


if __name__ == "__main__":
    main({"threads": threads, "asyncio": aio})
