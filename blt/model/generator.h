// Text generation from an incremental LM: the prompt is fed id by id (filling
// the caches), then ids are chosen by the sampler and fed back until a special
// id (EOS, or any id below the byte ids), max_bytes, or the model's context.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "blt/model/incremental_lm.h"
#include "blt/model/sampler.h"

namespace blt::model {

struct GenerationConfig {
  int64_t max_bytes = 256;  // new bytes at most
  SamplingConfig sampling;
};

struct GenerationResult {
  std::vector<int64_t> ids;  // the new byte ids (the stopping special id excluded)
  std::string stop;          // "eos", "special id N", "max-bytes" or "context"
  double prompt_seconds = 0;  // feeding the prompt
  double seconds = 0;         // producing the new bytes
  int64_t patches = 0;        // patches completed over prompt and output
};

// `prompt` holds the ids to start from (BOS, then byte ids); on_byte(id) is
// called for every new byte id as soon as it is chosen.
GenerationResult generate(IncrementalLM& lm, const std::vector<int64_t>& prompt, const GenerationConfig& config,
                          const std::function<void(int64_t)>& on_byte = {});

}  // namespace blt::model
