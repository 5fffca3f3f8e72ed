/*
 * The error table's closure: every code weft returns has a name. A system
 * call's errno becomes a code here, never by negating it in place.
 */
#ifndef WEFT_INTERNAL_ERROR_H
#define WEFT_INTERNAL_ERROR_H

/* -e when errno value e has its own code in the table (weft/common.h),
 * else WEFT_EIO: a system error weft has no name for is an I/O error. */
int weft__errno_code(int e);

/* Set (or with NULL clear) the calling thread's weft_last_message: a call
 * that reports a failure without a future to carry its text clears it
 * first, then sets it to that text. */
void weft__set_last_message(const char *msg);

#endif
