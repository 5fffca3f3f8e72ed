/*
 * What the weft program's files share.
 */
#ifndef WEFT_TOOL_CLI_H
#define WEFT_TOOL_CLI_H

#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed weft call in the program is a bug in weft: say which and stop. */
#define CHECK(call)                                                            \
    do {                                                                       \
        int check_rc_ = (call);                                                \
        if (check_rc_ < 0) {                                                   \
            fprintf(stderr, "weft: %s failed: %s (%s)\n", #call,               \
                    weft_err_name(check_rc_), weft_strerror(check_rc_));       \
            exit(EXIT_FAILURE);                                                \
        }                                                                      \
    } while (0)

int cmd_demo(void);

#endif
