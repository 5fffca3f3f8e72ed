/**
 * running programs: asyncio's create_subprocess_exec and
 * create_subprocess_shell for C.
 *
 * A child's standard streams are inherited, connected to /dev/null, or
 * pipes that the parent reads and writes as weft_streams (weft/stream.h):
 * proc.stdin is a writer, proc.stdout and proc.stderr readers. Every wait
 * suspends only the calling coroutine, or the calling thread outside one,
 * and takes a timeout.
 *
 * The child's exit is noticed through a pidfd (Linux 5.3 and later): no
 * SIGCHLD handler is installed and no other child of the program is ever
 * reaped by weft. Without pidfd_open, wait polls that one child with
 * waitid(WNOHANG), backing off up to 50 ms between looks.
 *
 * Python to weft:
 *
 *     p = await create_subprocess_exec(*argv, stdin=PIPE, stdout=PIPE)
 *                                     weft_subprocess_exec(&p, argv, &opts)
 *     await create_subprocess_shell(cmd)   weft_subprocess_shell(&p, cmd, &opts)
 *     subprocess.PIPE / DEVNULL / STDOUT    WEFT_SUBPROCESS_PIPE / _DEVNULL / _STDOUT
 *     p.stdin.write(b); await p.stdin.drain()
 *                                     weft_stream_write(weft_subprocess_stdin(p), b, n); ..._drain
 *     p.stdin.close()                 weft_subprocess_close_stdin(p, timeout)
 *     await p.stdout.readline()       weft_stream_readline(weft_subprocess_stdout(p), ...)
 *     await p.wait()  (asyncio.wait_for for a timeout)
 *                                     weft_subprocess_wait(p, &code, timeout)
 *     await p.communicate(input)      weft_subprocess_communicate(p, in, n, &out, &outlen, &err, &errlen, timeout)
 *     p.returncode                    weft_subprocess_returncode(p, &code)  (WEFT_ESTATE while running)
 *     p.pid                           weft_subprocess_pid(p)
 *     p.send_signal / terminate / kill   weft_subprocess_send_signal / _terminate / _kill
 *     start_new_session=True / process_group=0
 *                                     opts.start_new_session / opts.new_process_group
 *
 * Not mapped: text mode and encodings (bytes only), user=/group=/umask=,
 * pass_fds= (only fds 0, 1 and 2 reach the child) and a process_group
 * other than the child's own.
 *
 * @file
 */
#ifndef WEFT_SUBPROCESS_H
#define WEFT_SUBPROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "weft/common.h"
#include "weft/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a child's standard stream is connected to. */
typedef enum weft_subprocess_stdio {
    WEFT_SUBPROCESS_INHERIT = 0, /**< the parent's (the default) */
    WEFT_SUBPROCESS_PIPE,        /**< a pipe to the parent: a weft_stream */
    WEFT_SUBPROCESS_DEVNULL,     /**< /dev/null */
    WEFT_SUBPROCESS_STDOUT       /**< stderr only: where stdout goes */
} weft_subprocess_stdio;

/** Options; all-zero (or NULL) means every stream inherited, the
 *  parent's directory and environment. */
typedef struct weft_subprocess_opts {
    weft_subprocess_stdio stdin_mode, stdout_mode, stderr_mode;
    const char *cwd;          /**< NULL: the parent's */
    char *const *env;         /**< NULL-terminated "NAME=value" list; NULL: the parent's */
    weft_stream_opts stream;  /**< for the pipes' streams */
    bool start_new_session;   /**< Python's start_new_session=True: the child
                                   calls setsid() (a new session and process
                                   group, no controlling terminal) */
    bool new_process_group;   /**< Python's process_group=0: the child leads
                                   a new process group (its pid), in the
                                   parent's session; not with start_new_session
                                   (WEFT_EINVAL) */
} weft_subprocess_opts;

typedef struct weft_subprocess weft_subprocess;

/** Start argv[0] (looked up in PATH when it has no '/') with argv, a
 *  NULL-terminated list. Failures to start are reported here, as Python
 *  raises them: -ENOENT for a program that does not exist, -EACCES for one
 *  that may not run, -ENOENT for a cwd that does not exist. */
WEFT_API int weft_subprocess_exec(weft_subprocess **out, const char *const *argv,
                                  const weft_subprocess_opts *opts);
/** Run cmd with /bin/sh -c. */
WEFT_API int weft_subprocess_shell(weft_subprocess **out, const char *cmd,
                                   const weft_subprocess_opts *opts);

WEFT_API pid_t weft_subprocess_pid(const weft_subprocess *p);
/** The pipes' streams (borrowed; the process owns them), or NULL for a
 *  stream that is not a pipe (or stdin after close_stdin). */
WEFT_API weft_stream *weft_subprocess_stdin(const weft_subprocess *p);
WEFT_API weft_stream *weft_subprocess_stdout(const weft_subprocess *p);
WEFT_API weft_stream *weft_subprocess_stderr(const weft_subprocess *p);
/** Send what is queued on stdin (within timeout) and close it: the child
 *  reads the end of its input. */
WEFT_API int weft_subprocess_close_stdin(weft_subprocess *p, double timeout);

/** Wait for the child to exit: 0 and its return code in *code (if not
 *  NULL): the exit status, or minus the signal that killed it.
 *  WEFT_ETIMEDOUT or WEFT_ECANCELLED leave the child running and waitable. */
WEFT_API int weft_subprocess_wait(weft_subprocess *p, int *code, double timeout);
/** The return code once the child was waited for (0), else WEFT_ESTATE. */
WEFT_API int weft_subprocess_returncode(const weft_subprocess *p, int *code);

/** Send input (len bytes; the child's stdin must be a pipe if len > 0) and
 *  close stdin, read stdout and stderr to their end (those that are pipes;
 *  new buffers for the caller to free(), NUL-terminated for convenience),
 *  all at once so that a child filling one pipe never blocks, then wait
 *  for the exit. Any of out/outlen/err/errlen may be NULL. On a timeout
 *  (WEFT_ETIMEDOUT) or cancellation the child keeps running and what was
 *  read is dropped. A child that stops reading its input early is not an
 *  error (as Python). */
WEFT_API int weft_subprocess_communicate(weft_subprocess *p, const void *input, size_t len,
                                         void **out, size_t *outlen, void **err,
                                         size_t *errlen, double timeout);

/** Send a signal (0, nothing, once it was waited for: the pid may be
 *  another's by then). */
WEFT_API int weft_subprocess_send_signal(weft_subprocess *p, int sig);
WEFT_API int weft_subprocess_terminate(weft_subprocess *p); /**< SIGTERM */
WEFT_API int weft_subprocess_kill(weft_subprocess *p);      /**< SIGKILL */

/** Close the pipes and release. A child still running is killed
 *  (SIGKILL) and reaped, as asyncio's transport close() kills a child
 *  that has not exited; free waits a moment for it (up to 0.1 s: a child
 *  stuck in an uninterruptible wait is reaped in the background when it
 *  ends), so no zombie is left. A child that already exited is reaped and
 *  never signalled. To let a child run on, wait for it before freeing.
 *  NULL is allowed. */
WEFT_API void weft_subprocess_free(weft_subprocess *p);

#ifdef __cplusplus
}
#endif

#endif
