#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "blt/core/cpu_runtime.h"

int main(int argc, char** argv) {
  blt::setup_cpu_runtime();
  return Catch::Session().run(argc, argv);
}
