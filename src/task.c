/*
 * task: coroutines run as tasks on an event loop (asyncio.Task), and the
 * coroutine parker that lets every weft primitive suspend a task instead of
 * its thread.
 */
#include "internal/loop.h"

void weft__tasks_loop_freeing(weft_loop *loop)
{
    /* No task can exist yet: tasks arrive with weft_create_task. */
    (void)loop;
}
