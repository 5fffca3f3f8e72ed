/* weft_trim_memory: the allocators that keep memory for the next burst
 * (future and task records, coroutine stacks) give it back on request. */
#include "internal/coro.h"
#include "internal/future.h"
#include "weft/common.h"

size_t weft_trim_memory(void)
{
    return weft__future_trim() + weft__stack_trim_all();
}
