// Collectives in one test process: Gloo ranks as threads.
#pragma once
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "blt/parallel/comm.h"

namespace blt::test {

// Runs body(comm) on `world` Gloo ranks, each a thread of this process.
template <class Body>
void on_ranks(int world, int port, Body body) {
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        blt::parallel::LaunchEnv env;
        env.rank = r;
        env.world_size = world;
        env.master_port = port;
        blt::parallel::Comm comm(env, torch::kCPU, std::chrono::seconds(30));
        body(comm);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    INFO("rank " << r << ": " << errors[r]);
    CHECK(errors[r].empty());
  }
}

}  // namespace blt::test
