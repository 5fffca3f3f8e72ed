/*
 * Internal invariants, checked where they cannot cost: WEFT_ASSERT is
 * active in the sanitizer builds that `make test` runs (and wherever
 * WEFT_DEBUG is defined), and compiled out of the release build, whose hot
 * paths it would slow. It is for weft's own invariants (park's states, a
 * task's phases, a ring's head not past its tail); bad input from a user
 * gets an error code, never an assert.
 *
 * CONTAINER_OF: the record that holds `p` as its member `member`.
 */
#ifndef WEFT_INTERNAL_CHECK_H
#define WEFT_INTERNAL_CHECK_H

#include <stddef.h>

#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD) || defined(WEFT_DEBUG)
#include <stdio.h>
#include <stdlib.h>
#define WEFT_ASSERT(cond)                                                                      \
    ((cond) ? (void)0                                                                          \
            : (fprintf(stderr, "weft: %s:%d: invariant broken: %s\n", __FILE__, __LINE__,      \
                       #cond),                                                                 \
               abort()))
#else
/* Not evaluated, but still compiled: a broken expression fails every build. */
#define WEFT_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#endif
