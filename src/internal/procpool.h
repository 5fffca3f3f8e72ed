/*
 * What multiprocessing.Pool (pool.c) needs of the process pool beyond the
 * executor interface: a bytes map whose chunks it can wait for one by one,
 * in order (imap) or as they finish (imap_unordered). The records the
 * parent and its workers exchange, and a pool whose worker the caller
 * plays (the fuzz driver fuzz/procpool_records.c).
 */
#ifndef WEFT_INTERNAL_PROCPOOL_H
#define WEFT_INTERNAL_PROCPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/procpool.h"

/* ------------------------------------------------------------ records */

/* A ring (src/procpool/ring.c) holds records: a header, its payload,
 * padding to WEFT__REC_ALIGN. A record that would straddle the ring's end
 * is preceded by a pad record (WEFT__REC_PAD) that fills the ring to its
 * end. Tasks (the parent writes, a worker reads):
 *   WEFT__REC_TASK    fn(arg): count 0 for no argument, 1 with the argument
 *                     as the payload, WEFT__COUNT_LARGE with a
 *                     weft__large_ref to it as the payload.
 *   WEFT__REC_CHUNK   a fixed-size map's chunk: count items of len / count
 *                     bytes each; status holds the size of one output.
 *   WEFT__REC_MULTI   a bytes map's chunk: count items, each a u64 length
 *                     (WEFT__NO_ITEM for a NULL argument) and its bytes
 *                     padded to 8.
 * Results (a worker writes, the parent reads; each carries its task's id):
 *   WEFT__REC_RESULT  status 0 or the task's negative code. Success: count
 *                     0 for no result, 1 with the result as the payload,
 *                     WEFT__COUNT_LARGE with a weft__large_ref to it. A
 *                     failure's payload is its message (count 0).
 *   WEFT__REC_CHUNK_RESULT  count items done, their outputs as the payload
 *                     (count x the output size); status 0, or the code of
 *                     the item that failed after them.
 *   WEFT__REC_MULTI_RESULT  count entries, each a u32 status, a u32
 *                     has-result flag, a u64 length and the result (or the
 *                     failure's message) padded to 8; entries stop at the
 *                     first failure, which is the last entry.
 * The parent trusts no result record: a worker may be buggy. One that does
 * not frame (a size or a length that does not fit the ring) breaks the
 * pool; one that frames but says what its task cannot have produced fails
 * its task's future with WEFT_EBROKEN. */
enum {
    WEFT__REC_PAD,
    WEFT__REC_TASK,
    WEFT__REC_CHUNK,
    WEFT__REC_MULTI,
    WEFT__REC_RESULT,
    WEFT__REC_CHUNK_RESULT,
    WEFT__REC_MULTI_RESULT,
};

#define WEFT__REC_ALIGN 32
#define WEFT__COUNT_LARGE 2
#define WEFT__NO_ITEM UINT64_MAX

/* A record's header; its payload follows. */
typedef struct weft__rec {
    uint32_t size;  /* whole record, header and padding included */
    uint32_t kind;
    uint64_t id;    /* the task's */
    int32_t fn;     /* index in the function table */
    int32_t status; /* results: 0 or the task's error code */
    uint32_t len;   /* payload bytes */
    uint32_t count; /* see above */
} weft__rec;

/* Every weft_bytes weft makes or hands to a task sits right after a head
 * (src/procpool/bytes.c): `cap`, the bytes' room (len may be lowered, never
 * raised past it), and `magic`, which says whose the memory is, XORed
 * with the weft_bytes's own address (so that a copy of a head elsewhere
 * does not pass). */
typedef struct weft__bytes_head {
    uint64_t cap;
    uint64_t magic;
} weft__bytes_head;

/* An argument or a result too big for a quarter of its ring travels in a
 * memfd of the sender's, laid out as a weft_bytes's allocation (a
 * weft__bytes_head, whose contents the receiver ignores, then the
 * weft_bytes: its len, its bytes and a 0 byte); the receiver opens it as
 * /proc/<pid>/fd/<fd>. `worker` is the sending worker's index (its ack
 * word), for a result. */
typedef struct weft__large_ref {
    int32_t pid;
    int32_t fd;
    uint64_t len;
    uint32_t worker;
    uint32_t pad;
} weft__large_ref;

/* A map in flight. Chunk c covers items first[c] .. first[c+1] (first[nchunks]
 * == the items submitted); results[i] is written (a new weft_bytes, or left
 * NULL for a task that returned none) when its chunk's future completes,
 * until the run ends. A chunk stops at its first failing item: its future
 * fails with that item's error, and the items before it are ok. */
typedef struct weft__map_run {
    weft_future **fs;
    size_t *first;
    unsigned char *ok; /* ok[i] is set once item i succeeded */
    size_t nchunks;
    void *job;  /* map.c's weft__map_job */
    void *pool; /* the pool's weft__procpool */
} weft__map_run;

/* Submit fn over args[0..n) in chunks of up to `chunksize` items (0: 1).
 * results[0..n) are set to NULL first. 0 when every chunk was submitted;
 * else the error (WEFT_EBROKEN, WEFT_ESHUTDOWN, WEFT_EMSGSIZE, WEFT_ENOMEM,
 * WEFT_EINVAL for a thread pool) and run holds the chunks submitted before
 * it. Every argument is checked first (a weft_bytes made by weft_bytes_new,
 * or NULL): WEFT_EINVAL with weft_last_message set, and nothing submitted,
 * for one that is not. Either way the run must be ended. */
int weft__procpool_map_start(weft_executor *ex, weft_task_fn fn, const weft_bytes *const *args,
                             weft_bytes **results, size_t n, size_t chunksize,
                             weft__map_run *run);
/* Stop writing results, cancel the chunks not started when `cancel`, and
 * let the futures go. */
void weft__procpool_map_end(weft__map_run *run, bool cancel);
/* Stop writing results now (a chunk that completes later writes nowhere);
 * the run goes on and must still be ended. */
void weft__procpool_map_detach(weft__map_run *run);

/* Pool.starmap's start: call i is fn(args[i * nargs .. (i + 1) * nargs)),
 * each argument a weft_bytes made by weft_bytes_new or NULL (checked
 * first, as weft__procpool_map_start's), packed into one item per call.
 * Otherwise as weft__procpool_map_start. */
int weft__procpool_starmap_start(weft_executor *ex, weft_star_fn fn,
                                 const weft_bytes *const *args, size_t nargs,
                                 weft_bytes **results, size_t n, size_t chunksize,
                                 weft__map_run *run);

/* The chunk whose failure the parent saw first (multiprocessing.Pool.map
 * reports that one), or run->nchunks when none failed through a result
 * (a start that failed part way). */
size_t weft__procpool_map_first_failed(const weft__map_run *run);

/* weft_process_pool_map_fixed; with wait_all, as multiprocessing.Pool.map:
 * every chunk runs whatever fails, and the error is that of the first
 * chunk the parent saw fail. */
int weft__procpool_map_fixed(weft_executor *ex, weft_item_fn fn, const void *in, size_t in_size,
                             void *out, size_t out_size, size_t n, size_t chunksize,
                             double timeout, bool wait_all);

/* A future of the pool's that no task backs, for pool.c's AsyncResult
 * (completed by its maker after the callbacks ran): one reference; it
 * cannot be cancelled; a thread waiting on it helps take the pool's
 * results. weft_process_pool_result reads it. */
int weft__procpool_future_new(weft_executor *ex, weft_future **out);

/* Pool.terminate: refuse new work, cancel the tasks no worker has taken,
 * kill the workers now and fail the futures of the tasks they ran with
 * WEFT_ECANCELLED. WEFT_EINVAL for a thread pool. */
int weft__procpool_terminate(weft_executor *ex);

/* ------------------------------------------- a pool played by hand */

/* For the fuzz driver fuzz/procpool_records.c, which plays a worker (a
 * buggy one) against the parent's real side: its rings, slots, futures,
 * overflow and result decoding.
 *
 * weft__procpool_new_bare: a process pool as weft_process_pool_new makes
 * it, with opts->max_workers worker slots (0: one), but no process and no
 * collector thread: results come in only through weft__procpool_drain
 * (or a thread waiting on a future, which helps). Free it with
 * weft_executor_free after weft__procpool_terminate, which fails what is
 * still pending (nothing else would). */
int weft__procpool_new_bare(weft_executor **out, const weft_process_pool_opts *opts);

/* As a worker: copy the oldest task record out of the task ring (its
 * header into *h, its payload into buf, cap bytes) and remove it. 0,
 * WEFT_EEMPTY, or WEFT_EMSGSIZE (the record stays; h->len is its size). */
int weft__procpool_take_task(weft_executor *ex, weft__rec *h, void *buf, size_t cap);

/* As a worker writing a result, rightly or not: data[0..n) (a header, then
 * its payload, whatever they say) goes to the result ring's tail, which
 * moves by n rounded up to WEFT__REC_ALIGN (at least one header's size);
 * a pad record goes first where a worker's push would put one. WEFT_EFULL
 * when there is no room (nothing is written). */
int weft__procpool_push_result(weft_executor *ex, const void *data, size_t n);

/* One turn of the collector: take every result off the ring and complete
 * its future, then move overflow into the task ring. */
void weft__procpool_drain(weft_executor *ex);

#endif
