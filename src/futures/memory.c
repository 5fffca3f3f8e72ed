/* weft_trim_memory: the allocators that keep memory for the next burst
 * (the record allocator's slabs, coroutine stacks) give it back on
 * request. */
#include "internal/coro.h"
#include "internal/records.h"
#include "weft/common.h"

size_t weft_trim_memory(void)
{
    return weft__records_trim() + weft__stack_trim_all();
}
