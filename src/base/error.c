#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "weft/common.h"

const char *weft_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define WEFT__ERR_MSG(name, value, msg)                                        \
    case value:                                                                \
        return msg;
        WEFT_ERRNO_MAP(WEFT__ERR_MSG)
#undef WEFT__ERR_MSG
    }
    /* Other negated errno values come up from system calls (net, process). */
    if (code < 0 && code > -4000) {
        const char *s = strerrordesc_np(-code); /* thread-safe, unlike strerror */
        if (s)
            return s;
    }
    return "unknown error";
}

const char *weft_err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define WEFT__ERR_NAME(name, value, msg)                                       \
    case value:                                                                \
        return #name;
        WEFT_ERRNO_MAP(WEFT__ERR_NAME)
#undef WEFT__ERR_NAME
    }
    return "UNKNOWN";
}

int weft__errno_code(int e)
{
    switch (-e) {
#define WEFT__ERR_CASE(name, value, msg) case value:
        WEFT_ERRNO_MAP(WEFT__ERR_CASE)
#undef WEFT__ERR_CASE
        return e > 0 ? -e : WEFT_EIO;
    }
    return WEFT_EIO;
}

/* The thread's last message: a copy, since the future that held the
 * original may be gone when the call returns. Truncated to the buffer. */
static _Thread_local char last_msg[512];
static _Thread_local bool has_last_msg;

const char *weft_last_message(void)
{
    return has_last_msg ? last_msg : NULL;
}

void weft__set_last_message(const char *msg)
{
    has_last_msg = msg != NULL;
    if (msg)
        snprintf(last_msg, sizeof last_msg, "%s", msg);
}

unsigned weft_version(void)
{
    return WEFT_VERSION_HEX;
}

const char *weft_version_string(void)
{
    return WEFT_VERSION_STRING;
}
