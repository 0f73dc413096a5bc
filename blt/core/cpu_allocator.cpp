#include "blt/core/cpu_allocator.h"

#include <malloc.h>

#include <climits>

namespace blt {

void keep_freed_memory_in_process() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: bigger blocks still come from mmap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, 1 << 30);
}

}  // namespace blt
