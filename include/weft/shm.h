/*
 * weft/shm.h - memory shared between processes: named segments
 * (multiprocessing.shared_memory.SharedMemory).
 *
 * Python to weft:
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

#ifdef __cplusplus
}
#endif

#endif
