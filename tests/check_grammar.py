#!/usr/bin/env python3
"""Checks the API grammar written at the top of include/weft/common.h over
the public headers: the rules a script can judge from declarations.

Usage: check_grammar.py HEADER... (or a directory of headers). Exit status 0
when every rule holds; otherwise each breach is printed with its header,
the declaration and the rule, and the status is 1.

Each rule below names the paragraph of the grammar it checks. Where a
declaration is exempt from a rule, the exemption is listed here with its
reason, so that no exception goes unexplained.
"""
import os
import re
import sys

# Words that make a call a wait (the last word of its name): such a call
# must take `double timeout` as its last parameter (grammar: Waiting).
WAIT_VERBS = {
    'acquire', 'wait', 'join', 'get', 'put', 'recv', 'send', 'sendall', 'recvfrom', 'sendto',
    'read', 'readexactly', 'readuntil', 'readline', 'accept', 'connect', 'drain', 'poll',
    'await', 'fetch', 'apply', 'communicate', 'next',
}
# Waits whose last word is not a wait word.
WAITS_BY_NAME = {
    'weft_future_result', 'weft_future_exception', 'weft_executor_map', 'weft_pool_map',
    'weft_pool_map_fixed', 'weft_process_pool_map_fixed', 'weft_executor_shutdown',
    'weft_getaddrinfo', 'weft_create_connection', 'weft_open_connection',
    'weft_open_unix_connection', 'weft_server_wait_closed', 'weft_subprocess_close_stdin',
    'weft_conn_send_bytes', 'weft_conn_recv_bytes', 'weft_conn_recv_bytes_alloc',
    'weft_pqueue_get_alloc', 'weft_stream_read_all', 'weft_stream_close', 'weft_shutdown',
    'weft_pool_iter_next', 'weft_wait', 'weft_process_pool_map', 'weft_process_pool_result',
}

# Calls whose name ends in a wait word but that do not wait, or that run
# something to its end and take no timeout (grammar: Waiting), each with why.
NOT_WAITS = {
    'weft_local_get': 'a thread-local value: no wait',
    'weft_value_get': 'a shared value under its own short lock: no wait',
    'weft_array_get': 'a shared array element under its own short lock: no wait',
    'weft_pdict_get': 'a shared dict lookup under its own short lock: no wait',
    'weft_pdict_keys_get': 'an element of a snapshot: no wait',
    'weft_plist_get': 'a shared list element: no wait',
    'weft_task_group_wait': 'runs the group to its end (a timeout scope bounds it)',
}

# Cancels that are not weft_<object>_cancel, with why.
NOT_CANCELS = {
    'weft_future_set_running_or_notify_cancel':
        "Python's name; a status: 0 (running) or WEFT_ECANCELLED",
}

# Getters that return a value from a non-const object because they change
# it (grammar: Getters), each with why.
MUTATING_VALUE_CALLS = {
    'weft_future_ref': 'takes a reference',
    'weft_thread_ref': 'takes a reference',
    'weft_handle_ref': 'takes a reference',
    'weft_task_cancel_msg': 'cancels',
    'weft_task_group_cancel': 'cancels',
    'weft_shm_buf': None,  # const already; listed to document that it is a view
}

VALUE_TYPES = re.compile(
    r'^(const\s+)?(bool|size_t|unsigned|double|uint64_t|pid_t|char\s*\*|void\s*\*|'
    r'weft_\w+\s*\*|weft_\w+)$')


def declarations(text):
    """(return type, name, parameter text) of each WEFT_API function."""
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    for m in re.finditer(r'WEFT_API\s+([^;{]*?)\b(weft_\w+)\s*\(([^;]*?)\)\s*(?:__attribute__|;|#)',
                         text, flags=re.S):
        yield ' '.join(m.group(1).split()), m.group(2), ' '.join(m.group(3).split())


def split_params(params):
    out, depth, cur = [], 0, ''
    for c in params:
        if c == ',' and depth == 0:
            out.append(cur.strip())
            cur = ''
            continue
        depth += c == '('
        depth -= c == ')'
        cur += c
    if cur.strip():
        out.append(cur.strip())
    return [] if out == ['void'] else out


def check_header(path, breaches):
    text = open(path).read()
    name_of = os.path.relpath(path)

    def breach(decl, rule):
        breaches.append(f'{name_of}: {decl}: {rule}')

    # Names: macros, typedefs and enum values carry the prefix.
    for m in re.finditer(r'^#define\s+(\w+)', text, flags=re.M):
        if not m.group(1).startswith('WEFT_'):
            breach(f'#define {m.group(1)}', 'a macro outside the WEFT_ prefix (Names)')
    for m in re.finditer(r'typedef\s+[^;]*?\b(\w+)\s*;', re.sub(r'\{[^{}]*\}', '', text)):
        if not m.group(1).startswith('weft_'):
            breach(f'typedef {m.group(1)}', 'a type outside the weft_ prefix (Names)')

    for ret, name, params in declarations(text):
        decl = f'{ret} {name}({params})'
        ps = split_params(params)
        last = ps[-1] if ps else ''
        words = name.split('_')
        verb = words[-1]
        if not name.startswith('weft_') or name.startswith('weft__'):
            breach(decl, 'an export outside the weft_ prefix (Names)')
        if re.search(r'(_timeout|_nowait)$|_try_', name):
            breach(decl, 'a _timeout, try_ or _nowait twin: the timeout is the form (Waiting)')
        if verb in ('free', 'destroy', 'unref') and ret != 'void':
            breach(decl, f'_{verb} returns void (Lifetime)')
        if verb == 'close' and ret != 'int':
            breach(decl, '_close returns int (Lifetime)')
        # A cancel (weft_<object>_cancel, or a form of it such as
        # weft_task_cancel_msg) returns bool and changes its object.
        cancels = 'cancel' in words[2:] and name not in NOT_CANCELS
        if cancels and ret != 'bool':
            breach(decl, 'cancel returns bool (Cancel)')
        if ret == 'int' and name.endswith('_pid'):
            breach(decl, 'a pid is a pid_t (Getters)')
        if any(p.split()[0] == 'int' and re.search(r'\*\s*pids?\b', p) for p in ps):
            breach(decl, 'pids are pid_t (Getters)')
        # Waiting: a wait takes `double timeout` last.
        if (verb in WAIT_VERBS or name in WAITS_BY_NAME) and name not in NOT_WAITS:
            if not re.fullmatch(r'double\s+timeout', last):
                breach(decl, 'a call that may wait takes `double timeout` last (Waiting)')
        if re.search(r'\bdouble\s+timeout\b', params) and \
                not re.fullmatch(r'double\s+timeout', last) and \
                name not in ('weft_timeout_enter', 'weft_timeout_exit', 'weft_timeout_reschedule',
                             'weft_as_completed_new'):
            breach(decl, 'a timeout parameter comes last (Waiting)')
        # Results: nothing but int, void, bool and values; codes are ints.
        # Getters: a value from an object takes a const pointer.
        if ps and ret not in ('int', 'void') and VALUE_TYPES.match(ret) and \
                name not in MUTATING_VALUE_CALLS and not cancels:
            first = ps[0]
            if re.match(r'weft_\w+\s*\*', first) and not first.startswith('const'):
                breach(decl, 'a getter takes a const pointer (Getters)')
        # Lists: (out, cap, &n).
        if re.search(r'\bsize_t\s+cap\b', params):
            if not re.search(r'\bsize_t\s+cap\s*,\s*size_t\s*\*\s*\w+', params) and \
                    not re.search(r'\bsize_t\s+cap\b.*\bsize_t\s*\*', params):
                breach(decl, 'a list or buffer with cap reports its size through a size_t * (Lists)')


def main(argv):
    paths = []
    for a in argv[1:]:
        if os.path.isdir(a):
            for root, _, files in os.walk(a):
                paths += [os.path.join(root, f) for f in sorted(files) if f.endswith('.h')]
        else:
            paths.append(a)
    if not paths:
        print(__doc__)
        return 2
    breaches = []
    for p in sorted(paths):
        check_header(p, breaches)
    for b in breaches:
        print(b)
    print(f'check_grammar: {len(paths)} headers, {len(breaches)} breaches')
    return 1 if breaches else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
