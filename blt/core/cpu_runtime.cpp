#include "blt/core/cpu_runtime.h"

#include <malloc.h>
#include <sched.h>
#include <unistd.h>

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

// OMP_NUM_THREADS when set (also when set after the OpenMP runtime started,
// as tests do for the programs they run); else this process's share of the CPUs.
int thread_count() {
  if (const char* value = std::getenv("OMP_NUM_THREADS")) {
    try {
      return std::max(1, std::stoi(value));
    } catch (const std::exception&) {
      // the OpenMP runtime itself warns about a malformed value
    }
  }
  return std::max(1, cpus_available() / local_ranks());
}

// Spins of an idle libgomp thread before it sleeps: libgomp's default is 300,000;
// 1,000 is what libgomp itself uses once it knows it has more threads than CPUs
// (docs/training.md: no loss alone on 2 cores, 5x faster beside another run).
constexpr const char* kOpenMpSpinCount = "1000";

void restart_with_short_openmp_spin(char** argv) {
  if (!argv || std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  setenv("GOMP_SPINCOUNT", kOpenMpSpinCount, /*overwrite=*/1);
  execv("/proc/self/exe", argv);
  // Only reached when the restart failed: run on with libgomp's default.
}

}  // namespace

void setup_cpu_runtime(char** argv) {
  restart_with_short_openmp_spin(argv);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: bigger blocks still come from mmap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, 1 << 30);
  at::set_num_threads(thread_count());
}

}  // namespace blt
