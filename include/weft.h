/*
 * weft.h - Python's concurrency toolbox for C. Includes every module.
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/sync.h"
#include "weft/thread.h"

#endif
