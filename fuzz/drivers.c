/* The table of fuzz drivers (fuzz/fuzz.h): the replay and the tests find a
 * driver by its name, which is also its corpus folder's. */
#include "fuzz.h"

const fz_driver fz_drivers[] = {
    {"stream", fz_stream},
    {"framing", fz_framing},
    {"procpool_records", fz_procpool_records},
#if WEFT_HAVE_HTTP
    {"http", fz_http},
#endif
    {NULL, NULL},
};
