#include "blt/core/cpu_runtime.h"

#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include <ATen/Parallel.h>

namespace blt {
namespace {

int cpus_available() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int local_ranks() {
  const char* value = std::getenv("LOCAL_WORLD_SIZE");
  if (!value) return 1;
  try {
    return std::max(1, std::stoi(value));
  } catch (const std::exception&) {
    return 1;  // launch_env reports a malformed value where it reads it
  }
}

}  // namespace

void setup_cpu_runtime() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: bigger blocks still come from mmap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, 1 << 30);
  if (!std::getenv("OMP_NUM_THREADS")) at::set_num_threads(std::max(1, cpus_available() / local_ranks()));
}

}  // namespace blt
