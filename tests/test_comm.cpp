#include <fmt/format.h>

#include "blt/parallel/comm.h"
#include "gloo_ranks.h"
#include "helpers.h"

using blt::parallel::Comm;
using blt::parallel::LaunchEnv;
using blt::test::on_ranks;
using Catch::Matchers::Contains;

TEST_CASE("comm: collectives over Gloo agree with their definitions", "[dist][gloo]") {
  const int world = 3;
  std::vector<torch::Tensor> reduced(world), gathered(world), scattered(world), broadcast(world);
  on_ranks(world, 29611, [&](Comm& comm) {
    const int r = comm.rank();
    auto t = torch::arange(6, torch::kFloat) * (r + 1);
    comm.all_reduce_sum_(t);
    reduced[r] = t;
    gathered[r] = comm.all_gather(torch::full({2}, float(r)));
    scattered[r] = comm.reduce_scatter_sum(torch::arange(6, torch::kFloat) + r);
    auto b = torch::full({3}, float(r + 10));
    comm.broadcast_(b, 1);
    broadcast[r] = b;
    comm.barrier();
  });
  for (int r = 0; r < world; ++r) {
    CHECK(torch::equal(reduced[r], torch::arange(6, torch::kFloat) * 6));
    CHECK(torch::equal(gathered[r], torch::tensor({0.f, 0.f, 1.f, 1.f, 2.f, 2.f})));
    // Sum over ranks of (arange(6) + r) = 3 * arange(6) + 3; rank r keeps elements [2r, 2r + 2).
    CHECK(torch::equal(scattered[r], (torch::arange(6, torch::kFloat) * 3 + 3).narrow(0, 2 * r, 2)));
    CHECK(torch::equal(broadcast[r], torch::full({3}, 11.f)));
  }
}

TEST_CASE("comm: a rank whose peers never start names the address, rank, world size and timeout",
          "[dist][gloo][trust-io]") {
  // Rank 1 alone waits for rank 0's store; rank 0 alone waits for rank 1. Each gives up
  // after dist.timeout_s (1 s here) with what it waited for.
  for (const int rank : {1, 0}) {
    LaunchEnv env;
    env.rank = rank;
    env.world_size = 2;
    env.master_port = 29917 + rank;
    INFO("rank " << rank << " alone");
    REQUIRE_THROWS_WITH(Comm(env, torch::kCPU, std::chrono::seconds(1)),
                        Contains(fmt::format("rank {} of world size 2", rank)) &&
                            Contains(fmt::format("127.0.0.1:{}", env.master_port)) &&
                            Contains("dist.timeout_s = 1 s"));
  }
}

TEST_CASE("comm: one process needs no process group", "[dist]") {
  Comm comm;
  auto t = torch::ones({4});
  comm.all_reduce_sum_(t);
  CHECK(torch::equal(t, torch::ones({4})));
  CHECK(torch::equal(comm.reduce_scatter_sum(torch::arange(4)), torch::arange(4)));
  CHECK_FALSE(comm.distributed());
}

TEST_CASE("launch env: torchrun variables are read and checked", "[dist]") {
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "29123", 1);
  unsetenv("LOCAL_RANK");
  unsetenv("LOCAL_WORLD_SIZE");
  auto env = blt::parallel::launch_env_from_environment();
  CHECK(env.rank == 1);
  CHECK(env.world_size == 2);
  CHECK(env.local_rank == 1);
  CHECK(env.master_port == 29123);
  setenv("RANK", "2", 1);
  REQUIRE_THROWS_WITH(blt::parallel::launch_env_from_environment(), Contains("RANK='2' must be an integer in [0, 1]"));
  setenv("RANK", "0", 1);
  unsetenv("MASTER_PORT");
  REQUIRE_THROWS_WITH(blt::parallel::launch_env_from_environment(), Contains("MASTER_PORT is not set"));
  for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR"}) unsetenv(v);
  env = blt::parallel::launch_env_from_environment();
  CHECK(env.world_size == 1);
}
