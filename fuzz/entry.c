/* The libFuzzer entry point of one driver, named by FZ_DRIVER when this
 * file is compiled (fuzz/CMakeLists.txt builds it once per driver). */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (FZ_DRIVER(data, size) != 0)
        abort(); /* the driver said what went wrong; the fuzzer keeps the input */
    return 0;
}
