#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "blt/core/cpu_allocator.h"

int main(int argc, char** argv) {
  blt::keep_freed_memory_in_process();
  return Catch::Session().run(argc, argv);
}
