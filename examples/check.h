/*
 * check.h - the one helper the examples share.
 *
 * Every weft call that can fail returns 0 (or a non-negative result) on
 * success and a negative WEFT_E* code on failure. Python would raise; an
 * example has nothing better to do than say which call failed and stop.
 */
#ifndef WEFT_EXAMPLES_CHECK_H
#define WEFT_EXAMPLES_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

#define CHECK(call)                                                            \
    do {                                                                       \
        int check_rc_ = (call);                                                \
        if (check_rc_ < 0) {                                                   \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, \
                    #call, weft_err_name(check_rc_), weft_strerror(check_rc_)); \
            exit(EXIT_FAILURE);                                                \
        }                                                                      \
    } while (0)

#endif
