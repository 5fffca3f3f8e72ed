/**
 * processes (multiprocessing.Process and the multiprocessing module's
 * functions), with the `forkserver` (default) and `fork` start methods.
 *
 * Python to weft:
 *
 *     Process(target=f, args=(a,), name=n, daemon=d)  weft_process_new(&p, f, a, &opts)
 *     p.start() / p.join(timeout) / p.is_alive()      weft_process_start / _join / _is_alive
 *     p.exitcode / p.pid / p.name                     weft_process_exitcode / _pid / _name
 *     p.terminate() / p.kill() / p.close()            weft_process_terminate / _kill / _close
 *     p.interrupt()  (3.14: SIGINT)                   weft_process_interrupt
 *     p.sentinel                                      weft_process_sentinel(p, &fd)
 *     active_children()                               weft_active_children(out, cap, &n)
 *     current_process().name                          weft_current_process_name
 *     parent_process().pid                            weft_parent_pid
 *     cpu_count()                                     weft_cpu_count
 *
 *     set_start_method(m) / get_start_method()       weft_set_start_method / _get_start_method
 *     Process(args=(x,)): x pickled for the child     opts.arg_size: arg_size bytes at arg copied
 *
 * Start methods (Python's, with the same default as Python 3.14):
 *
 * - WEFT_START_FORKSERVER, the default: the child is forked from a server
 *   process, which weft starts the first time this process starts a child
 *   that way by re-executing the program itself (/proc/self/exe, the same
 *   argv[0], the environment of that moment), and which is single-threaded.
 *   So the child never inherits a lock held by a thread that does not exist
 *   in it: it may call anything (malloc, stdio, the program's own locks),
 *   however many threads the parent runs. What it gets of the parent:
 *     - fn: sent as the loaded object that contains it and the offset in it,
 *       so fn must be a function of the program or of a library the program
 *       was linked with. A function in a library the program dlopen'ed (the
 *       server does not have it) makes start fail with WEFT_ENOTSUP.
 *     - arg: with opts.arg_size, a copy of those bytes (fn gets a pointer to
 *       it); otherwise the pointer value itself, which means something in
 *       the child only if it is NULL, an integer cast to a pointer, or a
 *       pointer to a weft object made to cross processes (pipes, process
 *       queues, shared values, locks; their headers say so). A pointer into
 *       the parent's memory (a local, a malloc'ed struct, a global the
 *       parent changed) is not valid there: use arg_size.
 *     - fds 0, 1 and 2 as the parent has them at start (a redirection made
 *       by the parent is followed) and the fds weft objects registered;
 *       no other fd (every other fd of the parent stays out of the child).
 *     - the program's globals as a fresh run of the program has them: main()
 *       does not run in the server or in its children; fn runs in a process
 *       where only the program's constructors ran (those that run before
 *       weft's own), as Python's `if __name__ == "__main__":` guard keeps
 *       the main module's code from running in a forkserver child.
 *   Costs: the server's start (a few milliseconds, once per process that
 *   uses it), then per child a fork of the small server and the hand-over.
 *   Needs Linux 5.3 (pidfd_open); without it the default is fork and
 *   asking for forkserver is WEFT_ENOTSUP (as it is when /proc/self/exe
 *   cannot be executed). The server ignores SIGINT, as Python's does: a
 *   Ctrl-C is the parent's to handle. One server serves one process;
 *   a child that starts children has a server of its own (and a fork
 *   child does not share its parent's). The server ends when the process
 *   that started it ends (however it ends). It is a child of this process:
 *   code that reaps every child (waitpid(-1)) reaps it too once it exits.
 *   If somebody kills it, its daemon children die with it, its other
 *   children go on with their exit codes lost (they read as 255), and the
 *   next start starts a new server.
 *
 * - WEFT_START_FORK: the child is a copy of the parent made by fork(2)
 *   from the thread that calls weft_process_start; it runs fn(arg) and
 *   exits. Every pointer stays valid and every fd is inherited. If the
 *   program runs other threads when it starts a process, the child has
 *   only the forking thread, and any lock another thread held at the fork
 *   stays held for ever in the child (malloc's, stdio's, the program's
 *   own). Strictly, fn may then call only async-signal-safe functions; a
 *   single-threaded program may do anything. weft's own internal locks are
 *   held across the fork and reset in the child by its atfork handlers,
 *   so weft itself (threads, locks, queues) works in the child.
 *
 * Exit status: the child exits with fn's return value: r >= 0 gives status
 * r & 0xff (0 is success), r < 0 (a WEFT_E* code, as Python's uncaught
 * exception) gives status 1. stdio buffers are flushed first; atexit
 * handlers do not run in the child (as Python's os._exit). The exit code
 * read back is that status, or minus the number of the signal that killed
 * the child (SIGKILL gives -9), as Python.
 *
 * Reaping (fork): weft waits for each child it started exactly once, by its
 * pid (never waitpid(-1), so it does not steal other code's children), using a
 * pidfd where the kernel has pidfd_open (Linux 5.3), and otherwise a pipe
 * whose only write end the child holds (it ends with the child) followed by
 * a polling wait with short growing sleeps. A program that sets SIGCHLD to SIG_IGN or
 * reaps weft's children itself makes their exit codes unknown: they read
 * as 255. A forkserver child is the server's child: the server reaps it
 * and sends its exit code to the parent, whose SIGCHLD handling does not
 * matter; terminate and kill go through a pidfd, so they never reach
 * another process that got a recycled pid.
 *
 * Daemons: a daemon child is sent SIGKILL when its parent dies, even by
 * SIGKILL (PR_SET_PDEATHSIG; if the parent died before the child could set
 * it up, the child kills itself at once). The kernel ties this to the
 * thread that forked, not the whole parent process: a daemon started from a
 * thread that later exits is killed then (fork method). Under forkserver,
 * the server kills its daemon children when the parent dies, whichever
 * thread started them, and they die with the server too. A non-daemon
 * child is not killed when its parent dies; it goes on as an orphan.
 * Unlike Python, the parent does not terminate daemons nor join
 * non-daemons at exit (a C program's exit has no place to report a child
 * that will not end; join them, as weft_active_children lists them).
 *
 * Threads in the child: once fn returns, the child waits for the
 * non-daemon weft threads it started (weft_shutdown), then exits, as
 * Python's child runs threading._shutdown; daemon threads end with it.
 *
 * Another process's object: a fork child sees copies of its parent's
 * process objects, whose children are not its own. There start, join,
 * exitcode, terminate, kill, interrupt, sentinel and close are WEFT_ESTATE
 * and is_alive is false (Python: "can only join a child process"); pid,
 * name and daemon stay readable.
 *
 * After close (unlike Python, where most attributes raise ValueError), the
 * pid, name, daemon flag and exit code stay readable and is_alive is
 * false; join, terminate, kill, interrupt and sentinel are WEFT_ESTATE, as
 * Python's ValueError.
 *
 * @file
 */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_process weft_process;

/** A process's function, run in the child; its return value is the exit
 *  status (see Exit status above). */
typedef int (*weft_process_fn)(void *arg);

/** Start methods (see Start methods above). */
enum weft_start_method {
    WEFT_START_DEFAULT = 0,  /**< the process-wide default: forkserver unless
                                  weft_set_start_method said otherwise */
    WEFT_START_FORK,         /**< Python's "fork" */
    WEFT_START_FORKSERVER,   /**< Python's "forkserver" */
};

/** Options; a zero-initialised struct (or NULL) means "as Python does":
 *  name "Process-N", daemon inherited (a weft daemon child starts daemons by
 *  default; the main process does not), the default start method, arg
 *  passed as it is. */
typedef struct weft_process_opts {
    const char *name; /**< copied; NULL for "Process-N" (a forkserver start
                           refuses names of 4096 bytes or more: WEFT_EINVAL) */
    int daemon;       /**< WEFT_DAEMON_INHERIT (0), WEFT_DAEMON_YES or WEFT_DAEMON_NO
                           (from weft/thread.h) */
    int start_method; /**< an enum weft_start_method; 0 for the default at start */
    size_t arg_size;  /**< non-zero: arg points to arg_size bytes, copied by
                           weft_process_new; fn gets a pointer to the child's
                           copy (either method). 0: arg is passed unchanged. */
} weft_process_opts;

/** Python's set_start_method: the method used by processes whose options
 *  say WEFT_START_DEFAULT, from their next start on (DEFAULT restores
 *  forkserver). WEFT_EINVAL for anything else. Unlike Python, it may be
 *  called again. */
WEFT_API int weft_set_start_method(enum weft_start_method m);
/** Python's get_start_method: the method a default start uses now
 *  (WEFT_START_FORK or WEFT_START_FORKSERVER, never DEFAULT). */
WEFT_API enum weft_start_method weft_get_start_method(void);

/** Create a process object, not started. `fn` must not be NULL, nor `arg`
 *  when opts->arg_size is set; a start_method outside the enum is
 *  WEFT_EINVAL. The start method is looked up at start. */
WEFT_API int weft_process_new(weft_process **out, weft_process_fn fn, void *arg,
                              const weft_process_opts *opts);
/** Python's close(): release what watches the child (a finished child is
 *  reaped first); the object stays readable (pid, name, exit code) and may
 *  not be started. WEFT_ESTATE if the child is still running (nothing
 *  changes then); closing twice is 0; WEFT_EINVAL for NULL. */
WEFT_API int weft_process_close(weft_process *p);
/** Free it, NULL allowed. A child still running is waited for first (as
 *  weft_process_join with WEFT_FOREVER), so it is reaped and nothing leaks;
 *  close it first to be refused instead, or terminate it. It leaves the
 *  list of weft_active_children. */
WEFT_API void weft_process_free(weft_process *p);

/** Start the child, which runs fn(arg). A second start is WEFT_ESTATE; a
 *  system refusal is WEFT_EAGAIN (or WEFT_ENOMEM), a function the
 *  forkserver cannot find (or no forkserver support) WEFT_ENOTSUP, and the
 *  object stays unstarted. Under forkserver it returns once the child is
 *  set up and about to run fn. */
WEFT_API int weft_process_start(weft_process *p);
/** Wait for the child to exit: 0, WEFT_ETIMEDOUT, WEFT_ESTATE if never
 *  started or closed, WEFT_EINVAL for a bad timeout (Python takes a
 *  negative one as 0; the grammar refuses it). Inside a coroutine it
 *  suspends only the coroutine (its loop watches the sentinel), and the
 *  coroutine's cancellation ends it with WEFT_ECANCELLED, the child left
 *  running. Joining a finished child returns
 *  0 at once; many threads may join the same process. */
WEFT_API int weft_process_join(weft_process *p, double timeout);
/** True from start until the child has exited (checked now, without
 *  waiting). */
WEFT_API bool weft_process_is_alive(const weft_process *p);
/** The exit code (see Exit status): 0 and *code set once the child has
 *  exited, WEFT_ESTATE while it runs or before start. */
WEFT_API int weft_process_exitcode(const weft_process *p, int *code);
/** The child's pid once started, 0 before. */
WEFT_API pid_t weft_process_pid(const weft_process *p);
/** The name (valid until the object is freed). */
WEFT_API const char *weft_process_name(const weft_process *p);
WEFT_API bool weft_process_daemon(const weft_process *p);
/** Send SIGTERM (terminate) or SIGKILL (kill). WEFT_ESTATE before start
 *  and after close; 0 without sending anything once the child has exited
 *  and was reaped. The exit code then reads -SIGTERM or -SIGKILL. */
WEFT_API int weft_process_terminate(weft_process *p);
WEFT_API int weft_process_kill(weft_process *p);
/** Python 3.14's interrupt(): send SIGINT, as terminate and kill (the
 *  exit code of a child that does not handle it reads -SIGINT). A fork
 *  child inherits the parent's SIGINT disposition; a forkserver child has
 *  the default. */
WEFT_API int weft_process_interrupt(weft_process *p);
/** Python's sentinel: *fd becomes readable once the child has ended, for
 *  poll(2), select(2) or epoll, to wait for many children and other
 *  descriptors at once. Owned by p: do not close it nor read it; it stays
 *  valid until p is closed or freed. Once it is readable, weft_process_join
 *  returns at once. It is a pidfd for a fork child (Linux 5.3); without
 *  pidfd_open, a pipe held by the child only (it also becomes readable if
 *  the child execs another program, or stays unreadable while a process
 *  the child forked without exec lives on, as Python's). For a forkserver
 *  child, the socket on which the server sends the exit code. WEFT_ESTATE
 *  before start or after close (*fd is -1); WEFT_EMFILE if the system had
 *  no descriptor to spare at start; WEFT_EINVAL for NULL. */
WEFT_API int weft_process_sentinel(const weft_process *p, int *fd);

/** Python's multiprocessing.active_children(): the children this process
 *  started (and has not freed) that are still running. Those that ended
 *  are reaped on the way (their exit code is ready), as Python's joins
 *  finished children. The first `cap` go into out[] (borrowed: valid until
 *  the caller frees that process), their number into *n. A fork child
 *  starts with none of its parent's children. WEFT_EINVAL for a NULL n,
 *  or a NULL out with cap > 0. */
WEFT_API int weft_active_children(weft_process **out, size_t cap, size_t *n);

/** The calling process's name: "MainProcess", or in a child started by
 *  weft, that child's name. */
WEFT_API const char *weft_current_process_name(void);
/** The pid of the process that started this one with weft, or 0 in a
 *  process weft did not start (Python's parent_process() is None there). */
WEFT_API pid_t weft_parent_pid(void);
/** CPUs this process may run on (its affinity mask), at least 1: Python
 *  3.13's os.process_cpu_count(). Python's multiprocessing.cpu_count()
 *  counts every CPU of the machine, which oversizes a pool confined by an
 *  affinity mask or a container's cpuset. */
WEFT_API unsigned weft_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif
