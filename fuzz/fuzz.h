/*
 * fuzz.h - the drivers behind weft's fuzz harnesses.
 *
 * Each driver takes arbitrary bytes, runs them against one part of weft and
 * checks the outcome against what must hold (a model of the bytes, or "a
 * whole message or a clear error"). It returns 0, or prints what went wrong
 * to stderr and returns -1. Three things call the drivers:
 *   - the libFuzzer entry points (fuzz/entry.c, built by `make fuzz`), which
 *     abort on -1 so the fuzzer keeps the input;
 *   - the corpus replay (fuzz/replay.c), which `make test` runs over every
 *     file in fuzz/corpus/<driver>/ so that a fixed bug stays fixed;
 *   - tests that feed a driver pseudo-random inputs.
 * A driver must not leak, hang or crash on any input: the sanitizer builds
 * check the first and the last, a per-driver time bound the second.
 */
#ifndef WEFT_FUZZ_H
#define WEFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The stream reader (weft/stream.h) against a byte model: writes split
 * anywhere, the end of the stream, readuntil with several separators and
 * limits, readline, readexactly, read, read_all, with time-outs, timeout
 * scopes and cancellations between and during the calls. */
int fz_stream(const uint8_t *data, size_t size);

/* The framing of pipes and process queues (weft/ipc.h) against a model of
 * their bytes: messages sent through weft_conn_send_bytes between raw
 * bytes a broken or hostile peer writes into the socket (garbage, lengths
 * past the cap, 2^63, messages cut short by the end of the stream),
 * received with recv_bytes, recv_bytes_alloc and poll; a process queue's
 * put, get and their variants in a small ring, and threads that die inside
 * a put, a get or a task_done with the lock held. Every receive is a whole
 * message the bytes framed or a documented error, and stays so after. */
int fz_framing(const uint8_t *data, size_t size);

/* The process pool's records (src/procpool/) against a worker that may be
 * buggy: the parent's real side with no worker process (the seam of
 * internal/procpool.h), whose task records the driver takes and checks
 * (tasks, bytes maps, fixed-size maps, large arguments in memfds) and
 * answers with right or wrong result records or raw bytes. Every record
 * is decoded to a valid result or error or rejected with a clear error;
 * no over-read, no write outside its task's destination, no leak, and
 * every future ends. */
int fz_procpool_records(const uint8_t *data, size_t size);

#include "weft/config.h"
#if WEFT_HAVE_HTTP
/* The HTTP client (weft/http.h) against a local server that answers with
 * the input's bytes (built with libcurl only). */
int fz_http(const uint8_t *data, size_t size);
#endif

/* A local TCP server on 127.0.0.1 for one connection: it reads the
 * request's head, sends `reply` (kept alive by the caller) and closes.
 * Every peer listens on the same port: one at a time. */
typedef struct fz_peer fz_peer;
int fz_peer_start(fz_peer **out, const void *reply, size_t len, int *port);
/* Waits for the connection to be served (at most some 15 s if no client
 * came) and frees the server. */
void fz_peer_stop(fz_peer *p);

typedef struct fz_driver {
    const char *name;
    int (*run)(const uint8_t *data, size_t size);
} fz_driver;

/* Every driver, ending with {NULL, NULL}. */
extern const fz_driver fz_drivers[];

#endif
