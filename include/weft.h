/**
 * Python's concurrency toolbox for C. Includes every module.
 *
 * @file
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/executor.h"
#include "weft/future.h"
#include "weft/http.h"
#include "weft/ipc.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/process.h"
#include "weft/procpool.h"
#include "weft/queue.h"
#include "weft/shm.h"
#include "weft/stream.h"
#include "weft/subprocess.h"
#include "weft/sync.h"
#include "weft/thread.h"

#endif
