/*
 * weft/shm.h - memory shared between processes (the shared-memory part of
 * Python's multiprocessing):
 *   - named segments (multiprocessing.shared_memory.SharedMemory): weft_shm;
 *   - Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier
 *     that work across processes: weft_plock, weft_prlock, weft_psem,
 *     weft_pevent, weft_pcond, weft_pbarrier (robust locks: a holder that
 *     dies does not wedge the others);
 *   - Value and Array: weft_value, weft_array;
 *   - Manager().dict() and .list(): weft_pdict, weft_plist, with a fixed
 *     capacity.
 * Every object but weft_shm lives in memory weft shares with the children
 * it starts, under either start method (weft/process.h): pass its pointer
 * to a child, as Python passes these objects in a Process's args.
 *
 * Coroutines (weft/loop.h): every wait here is on words in shared memory,
 * which no loop can watch, so inside a coroutine it blocks the loop's
 * whole thread: an acquire, a wait or a barrier that must wait, and the
 * short waits for the internal locks of Value, Array, the dict and the
 * list. A segment (weft_shm) never waits. From a coroutine, poll (timeout
 * 0) or run the wait through weft_to_thread; a Pipe (weft/ipc.h) is the
 * cross-process channel a coroutine can wait on without blocking its loop.
 *
 * SharedMemory, Python to weft:
 *   SharedMemory(create=True, size=n)       weft_shm_create(&s, NULL, n)
 *   SharedMemory(name=nm, create=True, ...)  weft_shm_create(&s, nm, n)
 *   SharedMemory(name=nm)                    weft_shm_attach(&s, nm)
 *   shm.buf / shm.size / shm.name            weft_shm_buf / _size / _name
 *   shm.close() / shm.unlink()               weft_shm_close / _unlink
 *   (the object going away)                  weft_shm_free
 *   FileExistsError / FileNotFoundError      WEFT_EEXIST / WEFT_ENOENT
 */
#ifndef WEFT_SHM_H
#define WEFT_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"
#include "weft/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------- SharedMemory */

/**
 * A named shared memory segment (POSIX shm_open, under /dev/shm on Linux).
 *
 * Security: a segment is created exclusively (it never opens a name that
 * already exists: WEFT_EEXIST) with mode 0600, whatever the umask, so only
 * its owner's processes can open it. A random name (name NULL) is
 * "weft_" and 16 hex digits from getrandom(2), which no other process can
 * predict and so cannot pre-create.
 *
 * Names are "name" or "/name" (Python's form has no slash; both are
 * accepted), 1 to WEFT_SHM_NAME_MAX characters with no other '/', and not
 * "." or "..": anything else is WEFT_EINVAL. weft_shm_name gives it without
 * the slash.
 *
 * Lifetime, as POSIX and Python: the segment lives until it is unlinked
 * (by any process that can open it) and the last mapping is gone. Closing
 * unmaps it in this process only; unlinking removes the name, so later
 * attaches fail with WEFT_ENOENT, while processes that have it mapped keep
 * using it. Unlike Python, no resource tracker unlinks forgotten segments
 * at exit: unlink what you create.
 *
 * Processes: the handle is this process's own. A `fork` child inherits the
 * mapping (the handle and its buffer are valid there); with any start
 * method, the portable way is Python's: pass the name and attach in the
 * child. A weft_shm holds no fd (its fd is closed once mapped).
 *
 * A handle is not thread-safe against its own close or free: close a
 * segment when no thread of this process uses its buffer any more.
 */
typedef struct weft_shm weft_shm;

/** The longest name, without the leading slash. */
#define WEFT_SHM_NAME_MAX 250

/** Create a new segment of `size` bytes (zero-filled) and map it. `name`
 *  NULL picks a random one. WEFT_EEXIST if the name exists, WEFT_EINVAL for
 *  a bad name, size 0 or NULL `out`; WEFT_EMFILE, WEFT_ENOMEM or another
 *  negated errno if the system refuses. */
WEFT_API int weft_shm_create(weft_shm **out, const char *name, size_t size);
/** Map an existing segment, its whole size. WEFT_ENOENT if no such name,
 *  WEFT_EACCES if it belongs to someone else, WEFT_EINVAL for a bad name or
 *  an empty segment (size 0: nothing to map, as Python's ValueError). */
WEFT_API int weft_shm_attach(weft_shm **out, const char *name);
/** The mapped bytes; NULL once closed (or for NULL). */
WEFT_API void *weft_shm_buf(const weft_shm *shm);
/** The size in bytes (still given after close; 0 for NULL). */
WEFT_API size_t weft_shm_size(const weft_shm *shm);
/** The name without the leading slash (valid until free; NULL for NULL). */
WEFT_API const char *weft_shm_name(const weft_shm *shm);
/** Unmap the segment in this process (Python's close()): buf reads NULL
 *  after, the segment and its name stay. Closing again does nothing. */
WEFT_API int weft_shm_close(weft_shm *shm);
/** Remove the name (Python's unlink()), before or after close.
 *  WEFT_ENOENT if it is already gone. */
WEFT_API int weft_shm_unlink(weft_shm *shm);
/** Close if needed and free the handle (does not unlink). NULL allowed. */
WEFT_API void weft_shm_free(weft_shm *shm);

/* ------------------------------------------- Cross-process primitives */

/*
 * Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier
 * that work across processes (multiprocessing's), with the shape of weft/sync.h.
 *
 * Python to weft:
 *   multiprocessing.Lock()               weft_plock_new(&l)
 *   multiprocessing.RLock()              weft_prlock_new(&r)
 *   multiprocessing.Semaphore(n)         weft_psem_new(&s, n)
 *   multiprocessing.BoundedSemaphore(n)  weft_psem_new_bounded(&s, n)
 *   multiprocessing.Event()              weft_pevent_new(&e)
 *   multiprocessing.Condition(lock)      weft_pcond_new(&c, lock) / _new_rlock
 *   multiprocessing.Barrier(n)           weft_pbarrier_new(&b, n)
 *   acquire() / acquire(timeout=t) / acquire(False)
 *                                        _acquire(x, WEFT_FOREVER) / _acquire(x, t) / _acquire(x, 0)
 *
 * Memory: each object is allocated by the library in memory shared with
 * every child process weft starts (internal/share.h), whatever the start
 * method: pass the pointer to a child (as a process argument or inside
 * other shared data) and it designates the same object there. Create them
 * before starting the children that use them. _free in the process that
 * created the object releases it (destroying one that others still use is
 * undefined, as with pthreads); _free in any other process does nothing, so
 * a child's cleanup never pulls an object from under its parent. Objects
 * created in a child are that child's and are released when it exits.
 *
 * Cost: an uncontended acquire or release makes no system call (a
 * compare-and-swap on a shared word); a contended one sleeps on a shared
 * futex. Waits block the calling thread, inside a coroutine too (see
 * Coroutines at the top).
 *
 * Timeouts as everywhere in weft: WEFT_FOREVER waits without end, 0 polls
 * (WEFT_ETIMEDOUT if it cannot have it at once), NaN or negative is
 * WEFT_EINVAL. NULL objects are WEFT_EINVAL.
 *
 * Robustness: Lock and RLock are robust. If the thread or process holding
 * one dies (exits, crashes, is SIGKILLed) without releasing it, the lock is
 * not left held for ever: the next acquirer gets it, and its acquire
 * returns WEFT_EOWNERDEAD instead of 0, to say that the data the lock
 * protected may have been left half updated. The caller holds the lock
 * then, as after a pthread mutex's EOWNERDEAD, and must release it: it is
 * usable again at once (weft makes it consistent). Semaphores and Events have no owner, so a dead process cannot
 * hold them; a permit it took is simply gone, as in Python.
 *
 * Unlike multiprocessing.Lock, which is a semaphore any process may
 * release, a weft_plock has an owner (that is what makes it robust): only
 * the thread that acquired it may release it.
 */

/** A cross-process lock (multiprocessing.Lock), robust. Acquiring it again
 *  from the thread that holds it is WEFT_EDEADLK (WEFT_ETIMEDOUT for a
 *  poll, timeout 0). */
typedef struct weft_plock weft_plock;

WEFT_API int weft_plock_new(weft_plock **out);
/** NULL allowed; see Memory above. */
WEFT_API void weft_plock_free(weft_plock *lock);
/** 0 or WEFT_EOWNERDEAD once held; WEFT_ETIMEDOUT; WEFT_EDEADLK if the
 *  caller holds it and would wait. */
WEFT_API int weft_plock_acquire(weft_plock *lock, double timeout);
/** WEFT_ENOTOWNER if the calling thread does not hold it (whether or not
 *  someone else does). */
WEFT_API int weft_plock_release(weft_plock *lock);
/** Whether the calling thread holds it. */
WEFT_API bool weft_plock_is_owned(const weft_plock *lock);
/** Whether any thread of any process holds it now (a snapshot; Python
 *  3.14's Lock.locked()). A holder that died no longer counts. */
WEFT_API bool weft_plock_locked(const weft_plock *lock);

/** A cross-process reentrant lock (multiprocessing.RLock), robust: the
 *  holding thread may acquire it again and must release it as many times.
 *  After WEFT_EOWNERDEAD the new holder's depth is 1. */
typedef struct weft_prlock weft_prlock;

WEFT_API int weft_prlock_new(weft_prlock **out);
WEFT_API void weft_prlock_free(weft_prlock *rlock);
WEFT_API int weft_prlock_acquire(weft_prlock *rlock, double timeout);
/** WEFT_ENOTOWNER if the calling thread does not hold it. */
WEFT_API int weft_prlock_release(weft_prlock *rlock);
WEFT_API bool weft_prlock_is_owned(const weft_prlock *rlock);
/** Whether any thread of any process holds it now (Python 3.14's
 *  RLock.locked()). */
WEFT_API bool weft_prlock_locked(const weft_prlock *rlock);
/** The calling thread's depth (0 if it does not hold it). */
WEFT_API unsigned weft_prlock_count(const weft_prlock *rlock);

/** A cross-process counting semaphore (multiprocessing.Semaphore and
 *  BoundedSemaphore). Values up to WEFT_SEMAPHORE_MAX (weft/sync.h); a
 *  release past it, or past a bounded semaphore's initial value, is
 *  WEFT_EOVERFLOW and changes nothing. Waiters are woken in no particular
 *  order (as Python's). */
typedef struct weft_psem weft_psem;

/** value > WEFT_SEMAPHORE_MAX is WEFT_EINVAL. */
WEFT_API int weft_psem_new(weft_psem **out, unsigned value);
WEFT_API int weft_psem_new_bounded(weft_psem **out, unsigned value);
WEFT_API void weft_psem_free(weft_psem *sem);
WEFT_API int weft_psem_acquire(weft_psem *sem, double timeout);
WEFT_API int weft_psem_release(weft_psem *sem);
/** Release n permits (n == 0 is WEFT_EINVAL). */
WEFT_API int weft_psem_release_n(weft_psem *sem, unsigned n);
/** The current value (a snapshot; Python's get_value()). */
WEFT_API unsigned weft_psem_value(const weft_psem *sem);

/** A cross-process event flag (multiprocessing.Event). */
typedef struct weft_pevent weft_pevent;

WEFT_API int weft_pevent_new(weft_pevent **out);
WEFT_API void weft_pevent_free(weft_pevent *ev);
/** Set the flag and wake every waiter, in every process. */
WEFT_API int weft_pevent_set(weft_pevent *ev);
WEFT_API int weft_pevent_clear(weft_pevent *ev);
WEFT_API bool weft_pevent_is_set(const weft_pevent *ev);
/** 0 once the flag is set, WEFT_ETIMEDOUT if it was not in time. */
WEFT_API int weft_pevent_wait(weft_pevent *ev, double timeout);

/**
 * A cross-process condition variable (multiprocessing.Condition), bound to
 * a weft_plock or a weft_prlock (a private weft_prlock when none is given,
 * as Python).
 *
 * wait, wait_for and notify require the caller to hold the lock
 * (WEFT_ENOTOWNER otherwise). wait releases it (every level of an RLock),
 * sleeps, and takes it back before returning, whatever it returns; if the
 * lock's holder died meanwhile, wait returns WEFT_EOWNERDEAD (held, as
 * above), which wins over WEFT_ETIMEDOUT.
 *
 * Unlike weft_condition, wake-ups may be spurious (as pthread's and
 * Python's: notify(n) wakes at least n waiters if n wait, possibly more,
 * and a wait may return 0 without a notify), so wait in a loop on the
 * predicate, or use wait_for. A waiter that dies leaves nothing behind.
 */
typedef struct weft_pcond weft_pcond;

/** Bind to `lock`, or to a private RLock when `lock` is NULL. The lock
 *  must outlive the condition. */
WEFT_API int weft_pcond_new(weft_pcond **out, weft_plock *lock);
/** Bind to an RLock (not NULL). */
WEFT_API int weft_pcond_new_rlock(weft_pcond **out, weft_prlock *rlock);
WEFT_API void weft_pcond_free(weft_pcond *cond);
/** Acquire/release the bound lock (`with cond:`), with the lock's results. */
WEFT_API int weft_pcond_acquire(weft_pcond *cond, double timeout);
WEFT_API int weft_pcond_release(weft_pcond *cond);
/** Whether its lock is held now, by anyone (Python 3.14's Condition.locked()). */
WEFT_API bool weft_pcond_locked(const weft_pcond *cond);
/** 0 when woken (or spuriously), WEFT_ETIMEDOUT, WEFT_EOWNERDEAD, or
 *  WEFT_ENOTOWNER. */
WEFT_API int weft_pcond_wait(weft_pcond *cond, double timeout);
/** Wait until pred(arg) is true (checked under the lock, first before any
 *  wait): 0 (or WEFT_EOWNERDEAD if a re-acquire reported it) when true,
 *  WEFT_ETIMEDOUT if the time ran out with it false. `pred` runs in the
 *  calling process: it must read shared memory to see other processes. */
WEFT_API int weft_pcond_wait_for(weft_pcond *cond, weft_predicate pred, void *arg,
                                 double timeout);
/** Wake at least n waiters (if that many wait), in any process. */
WEFT_API int weft_pcond_notify(weft_pcond *cond, unsigned n);
WEFT_API int weft_pcond_notify_all(weft_pcond *cond);

/**
 * A cross-process barrier (multiprocessing.Barrier) for a fixed number of
 * parties, as weft_barrier: wait returns the arrival index (0 for the
 * first, parties-1 for the last), a wait that times out, an abort, or a
 * reset while parties wait breaks the barrier for every waiter
 * (WEFT_EBROKEN, the one that timed out included), and a broken barrier
 * stays broken until reset.
 *
 * There is no action: a function pointer does not mean the same function
 * in a forkserver child. Run the action in the party whose wait returns
 * parties-1 (the others are released at the same time).
 *
 * A party that dies while waiting is not noticed: the others wait for it
 * as for any late party, so give them timeouts. A party killed inside a
 * barrier call (holding its internal lock) breaks the barrier.
 */
typedef struct weft_pbarrier weft_pbarrier;

/** parties >= 1 (at most UINT32_MAX / 2). */
WEFT_API int weft_pbarrier_new(weft_pbarrier **out, unsigned parties);
WEFT_API void weft_pbarrier_free(weft_pbarrier *b);
/** 0 and the arrival index in *index (may be NULL), or WEFT_EBROKEN, or
 *  WEFT_EINVAL. */
WEFT_API int weft_pbarrier_wait(weft_pbarrier *b, unsigned *index, double timeout);
/** Break it: waiters get WEFT_EBROKEN, later waits too until reset. */
WEFT_API int weft_pbarrier_abort(weft_pbarrier *b);
/** Back to the empty, unbroken state; current waiters get WEFT_EBROKEN. */
WEFT_API int weft_pbarrier_reset(weft_pbarrier *b);
WEFT_API unsigned weft_pbarrier_parties(const weft_pbarrier *b);
/** Parties waiting now (a snapshot). */
WEFT_API unsigned weft_pbarrier_n_waiting(const weft_pbarrier *b);
WEFT_API bool weft_pbarrier_broken(const weft_pbarrier *b);

/* ------------------------------------------------------- Value and Array */

/*
 * Shared typed data (multiprocessing.Value and Array), with an optional
 * lock: a weft_prlock, as Python's default RLock.
 *
 * Python to weft:
 *   Value('i', 7)                     weft_value_new(&v, WEFT_CTYPE_I32, &(int32_t){7}, true)
 *   Value('d', lock=False)            weft_value_new(&v, WEFT_CTYPE_F64, NULL, false)
 *   v.value / v.value = x             weft_value_get / _set (or the _i64 / _f64 forms)
 *   with v.get_lock(): v.value += 1   weft_value_add_i64(v, 1, NULL) (one call, atomic)
 *   v.get_lock()                      weft_value_lock
 *   Array('i', 10) / Array('d', [..]) weft_array_new(&a, WEFT_CTYPE_I32, 10, NULL, true) / init
 *   a[i] / a[i] = x                   weft_array_get / _set (or _i64 / _f64 forms)
 *   len(a), a.get_obj()               weft_array_len, weft_array_data
 *
 * Memory, as for the primitives above: the object lives in memory shared
 * with every child weft starts, under either start method; pass the
 * pointer. _free in the creating process releases it; elsewhere it does
 * nothing.
 *
 * Atomicity: with a lock, each get, set and add takes the lock (as
 * Python's synchronized wrapper does), so they are atomic with respect to
 * each other and to code that holds the lock; hold the lock yourself around
 * a sequence of operations (read-modify-write of several elements). The
 * lock is recursive, so the calls work under it too. Without a lock, a
 * scalar or an element is still read and written whole (no torn values) and
 * add is an atomic read-modify-write, but nothing orders several
 * operations. A lock whose holder died (WEFT_EOWNERDEAD) is taken over
 * silently by these calls: a single value is never half written.
 *
 * Typed access: the _i64 forms work on the integer types, converting as C
 * does (a wider value is truncated to the type, a U64 above INT64_MAX
 * reads as negative); the _f64 forms on F32 and F64. The other kind of
 * type is WEFT_EINVAL. get/set copy weft_ctype_size(type) bytes.
 */

/** Element types (Python's typecodes in the comments). */
typedef enum weft_ctype {
    WEFT_CTYPE_I8 = 1, /**< 'b' */
    WEFT_CTYPE_U8,     /**< 'B' */
    WEFT_CTYPE_I16,    /**< 'h' */
    WEFT_CTYPE_U16,    /**< 'H' */
    WEFT_CTYPE_I32,    /**< 'i' */
    WEFT_CTYPE_U32,    /**< 'I' */
    WEFT_CTYPE_I64,    /**< 'q' (and 'l' on 64-bit Linux) */
    WEFT_CTYPE_U64,    /**< 'Q' (and 'L') */
    WEFT_CTYPE_F32,    /**< 'f' */
    WEFT_CTYPE_F64     /**< 'd' */
} weft_ctype;

/** Size in bytes of one element of `type`, 0 for an unknown type. */
WEFT_API size_t weft_ctype_size(weft_ctype type);

/** A shared typed scalar (multiprocessing.Value). */
typedef struct weft_value weft_value;

/** `init` points to one element of `type` (NULL: zero). `lock`: whether it
 *  has a lock. */
WEFT_API int weft_value_new(weft_value **out, weft_ctype type, const void *init, bool lock);
WEFT_API void weft_value_free(weft_value *v);
WEFT_API weft_ctype weft_value_type(const weft_value *v);
/** The lock (Python's get_lock()), NULL without one. It belongs to the
 *  value: do not free it. */
WEFT_API weft_prlock *weft_value_lock(const weft_value *v);
/** The raw storage, to use under the lock (Python's get_obj()). */
WEFT_API void *weft_value_ptr(const weft_value *v);
/** Copy the value to `out` (weft_ctype_size bytes). */
WEFT_API int weft_value_get(weft_value *v, void *out);
/** Copy `in` into the value. */
WEFT_API int weft_value_set(weft_value *v, const void *in);
WEFT_API int weft_value_get_i64(weft_value *v, int64_t *out);
WEFT_API int weft_value_set_i64(weft_value *v, int64_t x);
/** Add `delta` atomically; the new value to *result unless NULL. Wraps
 *  around at the type's width (as C's unsigned arithmetic; the signed types
 *  wrap too, no undefined behaviour). */
WEFT_API int weft_value_add_i64(weft_value *v, int64_t delta, int64_t *result);
WEFT_API int weft_value_get_f64(weft_value *v, double *out);
WEFT_API int weft_value_set_f64(weft_value *v, double x);
WEFT_API int weft_value_add_f64(weft_value *v, double delta, double *result);

/** A shared typed array (multiprocessing.Array) of a fixed length. */
typedef struct weft_array weft_array;

/** `n` elements (0 allowed) of `type`; `init` points to n elements (NULL:
 *  zeros). WEFT_ENOMEM if n is too big to allocate. */
WEFT_API int weft_array_new(weft_array **out, weft_ctype type, size_t n, const void *init,
                            bool lock);
WEFT_API void weft_array_free(weft_array *a);
WEFT_API weft_ctype weft_array_type(const weft_array *a);
/** The length (0 for NULL). */
WEFT_API size_t weft_array_len(const weft_array *a);
/** The lock, NULL without one (it belongs to the array: do not free it).
 *  Hold it around multi-element updates. */
WEFT_API weft_prlock *weft_array_lock(const weft_array *a);
/** The raw elements (aligned for the type), to use under the lock. */
WEFT_API void *weft_array_data(const weft_array *a);
/** Element i: WEFT_EINVAL if i >= len. */
WEFT_API int weft_array_get(weft_array *a, size_t i, void *out);
WEFT_API int weft_array_set(weft_array *a, size_t i, const void *in);
WEFT_API int weft_array_get_i64(weft_array *a, size_t i, int64_t *out);
WEFT_API int weft_array_set_i64(weft_array *a, size_t i, int64_t x);
WEFT_API int weft_array_get_f64(weft_array *a, size_t i, double *out);
WEFT_API int weft_array_set_f64(weft_array *a, size_t i, double x);

/* ------------------------------------------------ shared dict and list */

/*
 * A dictionary and a list of byte strings that many processes read and
 * write (what Python's Manager().dict() and Manager().list() give, without
 * a manager process: the data lives in shared memory).
 *
 * Python to weft:
 *   d = Manager().dict()           weft_pdict_new(&d, max_entries, bytes)
 *   d[k] = v / d[k] / k in d       weft_pdict_set / _get (_get_alloc) / _contains
 *   del d[k] / len(d) / d.keys()   weft_pdict_delete / _len / weft_pdict_keys_new
 *   d.pop(k) / d.clear()           weft_pdict_pop (_pop_alloc) / weft_pdict_clear
 *   l = Manager().list()           weft_plist_new(&l, max_items, bytes)
 *   l.append(x) / l[i] / l[i] = x  weft_plist_append / _get (_get_alloc) / _set
 *   l.pop(i) / len(l)              weft_plist_pop (_pop_alloc) / _len
 *   l.insert(i, x) / l.clear()     weft_plist_insert / weft_plist_clear
 *   KeyError / IndexError          WEFT_ENOENT / WEFT_EINVAL
 *
 * Keys and values are byte strings (a pointer and a length; a length of 0
 * is allowed, with NULL or not). Indices are Python's: negative ones count
 * from the end.
 *
 * Atomicity: every call is atomic (it runs under the structure's robust
 * lock), as each method call on a Manager proxy is. A sequence of calls is
 * not: another process may change the structure in between.
 *
 * Capacity policy: both sizes are fixed at creation and nothing ever grows.
 * `max_entries` (`max_items`) bounds the number of entries; `bytes` is the
 * storage for keys and values, cut in chunks of WEFT_PDICT_CHUNK bytes: an
 * entry takes ceil((8 + key length + value length) / WEFT_PDICT_CHUNK)
 * chunks (list items have no key). A set or append that would pass either
 * bound fails with WEFT_EFULL and changes nothing. Replacing a value needs
 * room for the new value while the old one is still held (it is released
 * after), so a nearly full structure may refuse a replacement it could
 * hold after a delete. The memory used is about bytes * 64/60, plus the
 * index: up to 64 bytes per dict entry, 8 per list item.
 *
 * Robustness: if a process dies while it holds the structure's lock (in
 * the middle of any call), the next caller repairs the structure before
 * its own operation: every change is published by one store, so the
 * interrupted operation either happened whole or not at all, and the
 * repair gives back the storage it had taken. No call reports the death;
 * nothing is lost but the dead process's unfinished call.
 *
 * Memory, as for the objects above: the structure lives in memory shared
 * with every child weft starts, whatever the start method; pass the
 * pointer. _free in the creating process releases it, elsewhere nothing.
 * Calls block the thread on the lock (briefly; inside a coroutine that
 * blocks the loop thread: see Coroutines at the top).
 *
 * Reading into a buffer: _get and _pop copy the value into buf (cap bytes)
 * and store its length in *len; if it does not fit they copy nothing, set
 * *len to the length needed and return WEFT_EMSGSIZE (_pop then leaves the
 * item in place). The _alloc forms malloc a buffer of the length plus one
 * (a terminating NUL, so text values are C strings): free() it.
 */

/** The chunk size of the capacity policy (payload bytes per chunk). */
#define WEFT_PDICT_CHUNK 60

/** A shared dictionary of byte strings. */
typedef struct weft_pdict weft_pdict;

/** max_entries >= 1 and bytes >= 1, at most 2^28 entries and 2^32 chunks
 *  (WEFT_EINVAL beyond); WEFT_ENOMEM if the memory cannot be had. */
WEFT_API int weft_pdict_new(weft_pdict **out, size_t max_entries, size_t bytes);
WEFT_API void weft_pdict_free(weft_pdict *d);
/** Insert or replace. WEFT_EFULL (see Capacity). */
WEFT_API int weft_pdict_set(weft_pdict *d, const void *key, size_t klen, const void *val,
                            size_t vlen);
/** WEFT_ENOENT if absent; WEFT_EMSGSIZE if cap is too small. */
WEFT_API int weft_pdict_get(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                            size_t *vlen);
WEFT_API int weft_pdict_get_alloc(weft_pdict *d, const void *key, size_t klen, void **val,
                                  size_t *vlen);
/** Remove the entry and give its value (Python's d.pop(k)), in one atomic
 *  call: WEFT_ENOENT if absent; WEFT_EMSGSIZE if cap is too small (the
 *  entry stays, as _get's). */
WEFT_API int weft_pdict_pop(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                            size_t *vlen);
WEFT_API int weft_pdict_pop_alloc(weft_pdict *d, const void *key, size_t klen, void **val,
                                  size_t *vlen);
/** WEFT_ENOENT if absent. */
WEFT_API int weft_pdict_delete(weft_pdict *d, const void *key, size_t klen);
/** False also for bad input. */
WEFT_API bool weft_pdict_contains(const weft_pdict *d, const void *key, size_t klen);
/** Entries now (0 for NULL). */
WEFT_API size_t weft_pdict_len(const weft_pdict *d);
WEFT_API int weft_pdict_clear(weft_pdict *d);

/** A snapshot of a dict's keys (Python's list(d.keys())), taken at once
 *  under the lock, in no particular order; private to the caller. */
typedef struct weft_pdict_keys weft_pdict_keys;

WEFT_API int weft_pdict_keys_new(weft_pdict *d, weft_pdict_keys **out);
WEFT_API size_t weft_pdict_keys_len(const weft_pdict_keys *keys);
/** Key i (NULL if i is out of range); its length to *len unless NULL.
 *  Valid until the snapshot is freed. */
WEFT_API const void *weft_pdict_keys_get(const weft_pdict_keys *keys, size_t i, size_t *len);
WEFT_API void weft_pdict_keys_free(weft_pdict_keys *keys);

/** A shared list of byte strings. */
typedef struct weft_plist weft_plist;

/** As weft_pdict_new, for up to max_items items. */
WEFT_API int weft_plist_new(weft_plist **out, size_t max_items, size_t bytes);
WEFT_API void weft_plist_free(weft_plist *l);
/** WEFT_EFULL (see Capacity). */
WEFT_API int weft_plist_append(weft_plist *l, const void *data, size_t len);
/** Item i (negative from the end): WEFT_EINVAL if out of range. */
WEFT_API int weft_plist_get(weft_plist *l, ptrdiff_t i, void *buf, size_t cap, size_t *len);
WEFT_API int weft_plist_get_alloc(weft_plist *l, ptrdiff_t i, void **data, size_t *len);
/** Replace item i. WEFT_EINVAL out of range, WEFT_EFULL. */
WEFT_API int weft_plist_set(weft_plist *l, ptrdiff_t i, const void *data, size_t len);
/** Insert before item i, as Python's insert: negative i counts from the
 *  end, and an index past either end inserts at that end. Moves the later
 *  items (O(n)). WEFT_EFULL (see Capacity). */
WEFT_API int weft_plist_insert(weft_plist *l, ptrdiff_t i, const void *data, size_t len);
/** Remove every item (Python 3.14's ListProxy.clear()). */
WEFT_API int weft_plist_clear(weft_plist *l);
/** Remove item i (-1: the last, Python's pop()) and give it: WEFT_EEMPTY
 *  if the list is empty, WEFT_EINVAL out of range. Removing from the middle
 *  moves the later items (O(n)), as Python's. */
WEFT_API int weft_plist_pop(weft_plist *l, ptrdiff_t i, void *buf, size_t cap, size_t *len);
WEFT_API int weft_plist_pop_alloc(weft_plist *l, ptrdiff_t i, void **data, size_t *len);
/** Items now (0 for NULL). */
WEFT_API size_t weft_plist_len(const weft_plist *l);

#ifdef __cplusplus
}
#endif

#endif
