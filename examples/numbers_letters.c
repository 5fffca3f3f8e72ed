/*
 * numbers_letters.c - two threads printing at the same time. Mirrors
 * seed 001:
 *
 *   def print_numbers():
 *       for i in range(1, 11):
 *           print(i)
 *   def print_letters():
 *       for letter in ['a', 'b', 'c', 'd', 'e']:
 *           print(letter)
 *   t1 = threading.Thread(target=print_numbers)
 *   t2 = threading.Thread(target=print_letters)
 *   t1.start(); t2.start()
 *   t1.join();  t2.join()
 *
 * As the seed says, the output may interleave numbers and letters: the two
 * threads run concurrently (and, in C, truly in parallel on two cores).
 * Each printf is one line and stdio locks the stream around it, so lines
 * never mix mid-line.
 */
#include <stdio.h>

#include "check.h"

static void *print_numbers(void *arg)
{
    for (int i = 1; i < 11; i++)
        printf("%d\n", i);
    return NULL;
}

static void *print_letters(void *arg)
{
    static const char letters[] = {'a', 'b', 'c', 'd', 'e'};
    for (size_t i = 0; i < sizeof letters; i++)
        printf("%c\n", letters[i]);
    return NULL;
}

int main(void)
{
    weft_thread *t1, *t2;

    CHECK(weft_thread_new(&t1, print_numbers, NULL, NULL));
    CHECK(weft_thread_new(&t2, print_letters, NULL, NULL));
    CHECK(weft_thread_start(t1));
    CHECK(weft_thread_start(t2));
    CHECK(weft_thread_join(t1, WEFT_FOREVER));
    CHECK(weft_thread_join(t2, WEFT_FOREVER));
    weft_thread_unref(t1);
    weft_thread_unref(t2);
    printf("done\n");
    return 0;
}

/* Output: 1..10 and a..e, possibly interleaved; each thread's own lines stay
 * in order:
 * expect: ^1$
 * expect: ^10$
 * expect: ^done$
 */
