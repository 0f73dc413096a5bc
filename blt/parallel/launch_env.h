// The process's place in a multi-process job, from torchrun's environment
// contract: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT. With none of them set, the job is one process.
#pragma once
#include <string>

namespace blt::parallel {

struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves the rendezvous store at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank, rank 0 included, joins it as a
  // client, under a prefix of its own per restart (TORCHELASTIC_RESTART_COUNT).
  bool agent_store = false;
  int restart_count = 0;
};

// Reads and validates the variables; a missing or malformed one is an error naming it.
LaunchEnv launch_env_from_environment();

}  // namespace blt::parallel
