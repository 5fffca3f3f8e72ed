/*
 * What the server needs of a stream beyond weft/stream.h.
 */
#ifndef WEFT_INTERNAL_STREAM_H
#define WEFT_INTERNAL_STREAM_H

#include "weft/stream.h"

/* Close the stream of a handler that returned: what it left queued is
 * sent for a bounded time (a peer that never reads cannot hold the
 * connection forever). */
int weft__stream_close_served(weft_stream *st);

#endif
