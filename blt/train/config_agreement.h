// The ranks of one job must run one config: a rank started with another lr,
// seed or seq_len would train silently wrong, or fail inside a collective with
// an error that says nothing about the cause. At start every rank's resolved
// config is compared (a hash; on a mismatch the whole text, key by key) and
// every rank fails with the same message naming the keys and the ranks.
#pragma once
#include <string>

#include "blt/parallel/comm.h"

namespace blt::train {

// `resolved_yaml` is this rank's config as saved (config::to_yaml). Collective.
void check_ranks_agree_on_config(const std::string& resolved_yaml, parallel::Comm& comm);

}  // namespace blt::train
