/*
 * my_thread.c - a thread "subclass": a struct that carries its own state
 * and a run function. Mirrors seed 003, "Thread Subclass":
 *
 *   class MyThread(threading.Thread):
 *       def __init__(self, name, delay):
 *           super().__init__(name=name)
 *           self.delay = delay
 *       def run(self):
 *           print(f"Starting {self.name}")
 *           time.sleep(self.delay)
 *           print(f"Finished {self.name}")
 *   t = MyThread("MyThread", 1)
 *   t.start()
 *   t.join()
 *
 * C has no classes; the usual shape is a struct that embeds (a pointer to)
 * the weft thread plus the subclass's fields, and a run function that gets
 * the struct as its argument. The delay is scaled from 1 s to 10 ms.
 */
#include <stdio.h>

#include "check.h"

struct my_thread {
    weft_thread *thread; /* the "base class" */
    double delay;        /* self.delay */
};

/* run(self) */
static void *my_thread_run(void *arg)
{
    struct my_thread *self = arg;
    /* self.name: the thread's name, set from the options at creation. */
    const char *name = weft_thread_name(weft_current_thread());
    printf("Starting %s\n", name);
    weft_sleep(self->delay);
    printf("Finished %s\n", name);
    return NULL;
}

/* __init__(self, name, delay): super().__init__(name=name) becomes the
 * name option; weft copies it. */
static int my_thread_init(struct my_thread *self, const char *name, double delay)
{
    weft_thread_opts opts = {.name = name};
    self->delay = delay;
    return weft_thread_new(&self->thread, my_thread_run, self, &opts);
}

int main(void)
{
    struct my_thread t;

    CHECK(my_thread_init(&t, "MyThread", 0.010)); /* t = MyThread("MyThread", 1) */
    CHECK(weft_thread_start(t.thread));           /* t.start() */
    CHECK(weft_thread_join(t.thread, WEFT_FOREVER)); /* t.join() */
    weft_thread_unref(t.thread);
    return 0;
}

/* Output:
 * expect: ^Starting MyThread$
 * expect: ^Finished MyThread$
 */
