#include "blt/parallel/launch_env.h"

#include <cstdlib>
#include <string>

#include "blt/core/error.h"

namespace blt::parallel {
namespace {

bool has(const char* name) { return std::getenv(name) != nullptr; }

int int_var(const char* name, int fallback, int lo, int hi) {
  const char* text = std::getenv(name);
  if (!text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < lo || value > hi)
    fail("environment variable {}='{}' must be an integer in [{}, {}]", name, text, lo, hi);
  return static_cast<int>(value);
}

}  // namespace

LaunchEnv launch_env_from_environment() {
  LaunchEnv env;
  if (!has("WORLD_SIZE") && !has("RANK")) return env;
  if (!has("WORLD_SIZE") || !has("RANK")) fail("set both RANK and WORLD_SIZE (torchrun sets them), or neither");
  env.world_size = int_var("WORLD_SIZE", 1, 1, 1 << 20);
  env.rank = int_var("RANK", 0, 0, env.world_size - 1);
  env.local_world_size = int_var("LOCAL_WORLD_SIZE", env.world_size, 1, env.world_size);
  env.local_rank = int_var("LOCAL_RANK", env.rank % env.local_world_size, 0, env.local_world_size - 1);
  if (const char* addr = std::getenv("MASTER_ADDR")) {
    env.master_addr = addr;
  } else if (env.world_size > 1) {
    fail("MASTER_ADDR is not set (needed when WORLD_SIZE > 1)");
  }
  if (env.world_size > 1 && !has("MASTER_PORT")) fail("MASTER_PORT is not set (needed when WORLD_SIZE > 1)");
  env.master_port = int_var("MASTER_PORT", 29500, 1, 65535);
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent && std::string(agent) == "True";
  env.restart_count = int_var("TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 20);
  return env;
}

}  // namespace blt::parallel
