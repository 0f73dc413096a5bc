#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "blt/core/cpu_runtime.h"

#include <cstdlib>

int main(int argc, char** argv) {
  // ctest runs test cases side by side, one per core (ctest -jN): each test
  // process and the blt programs it starts (they inherit the variable) use one
  // thread, unless OMP_NUM_THREADS is set already.
  setenv("OMP_NUM_THREADS", "1", /*overwrite=*/0);
  blt::setup_cpu_runtime(argv);
  return Catch::Session().run(argc, argv);
}
