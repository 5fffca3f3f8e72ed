/*
 * subprocess_pipeline.c - two programs in a pipeline, driven by a
 * coroutine, as asyncio's subprocesses do it:
 *
 *   async def main():
 *       seq = await asyncio.create_subprocess_exec(
 *           "seq", "1", "5", stdout=PIPE)
 *       sort = await asyncio.create_subprocess_exec(
 *           "sort", "-rn", stdin=PIPE, stdout=PIPE)
 *       sort.stdin.write(await seq.stdout.read()); sort.stdin.close()
 *       out, _ = await sort.communicate()
 *       print(out.decode(), end="")
 *       print("exit codes:", await seq.wait(), sort.returncode)
 *
 * The children's pipes are weft_streams; waiting for a child uses its
 * pidfd, so no SIGCHLD handler takes other code's children. A program that
 * does not exist fails at the start, as Python's FileNotFoundError.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

static int async_main(void *arg, void **result)
{
    const char *seq_argv[] = {"seq", "1", "5", NULL};
    const char *sort_argv[] = {"sort", "-rn", NULL};
    weft_subprocess *seq, *sort;
    CHECK(weft_subprocess_exec(&seq, seq_argv,
                               &(weft_subprocess_opts){.stdout_mode = WEFT_SUBPROCESS_PIPE}));
    CHECK(weft_subprocess_exec(&sort, sort_argv,
                               &(weft_subprocess_opts){.stdin_mode = WEFT_SUBPROCESS_PIPE,
                                                       .stdout_mode = WEFT_SUBPROCESS_PIPE}));
    /* seq's output, whole, into sort's input. */
    void *numbers;
    size_t len;
    CHECK(weft_stream_read_all(weft_subprocess_stdout(seq), &numbers, &len, 1 << 20, 10));
    void *out;
    size_t outlen;
    CHECK(weft_subprocess_communicate(sort, numbers, len, &out, &outlen, NULL, NULL, 10));
    free(numbers);
    fputs(out, stdout);
    free(out);
    int seq_code, sort_code;
    CHECK(weft_subprocess_wait(seq, &seq_code, 10));
    CHECK(weft_subprocess_returncode(sort, &sort_code));
    printf("exit codes: %d %d\n", seq_code, sort_code);
    weft_subprocess_free(seq);
    weft_subprocess_free(sort);

    const char *missing[] = {"no-such-program", NULL};
    int rc = weft_subprocess_exec(&seq, missing, NULL);
    printf("no-such-program: %s\n", weft_err_name(rc));
    return 0;
}

int main(void)
{
    CHECK(weft_run(async_main, NULL, NULL));
    return 0;
}

/* Output:
 * expect: ^5$
 * expect: ^4$
 * expect: ^3$
 * expect: ^2$
 * expect: ^1$
 * expect: ^exit codes: 0 0$
 * expect: ^no-such-program: ENOENT$
 */
