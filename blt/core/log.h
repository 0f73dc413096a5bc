// Logging for single- and multi-process runs: by default only rank 0 writes to
// the console; with a log directory every rank also writes its own file.
#pragma once
#include <string>

namespace blt {

struct LogOptions {
  int rank = 0;
  int world_size = 1;
  std::string dir;            // empty: no log files
  bool all_ranks_console = false;
  std::string level = "info";  // trace, debug, info, warn, error
};

void init_logging(const LogOptions& options);

}  // namespace blt
