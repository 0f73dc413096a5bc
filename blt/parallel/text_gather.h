// Strings across ranks, for the start-up checks that compare or report what
// each rank has (its resolved config, an error of the main rank).
#pragma once
#include <string>
#include <vector>

#include "blt/parallel/comm.h"

namespace blt::parallel {

// Every rank's `text`, in rank order (one process: just `text`). Collective.
std::vector<std::string> all_gather_text(Comm& comm, const std::string& text);

}  // namespace blt::parallel
