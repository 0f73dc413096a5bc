// The token baseline's BPE tokenizer as blt uses it: blt-tokenizer (next to this
// executable) in a child process, because SentencePiece cannot share a process
// with LibTorch (docs/sweeps.md). blt sweep trains and encodes with it; blt eval
// encodes a token_lm's held-out text, its noised versions and its task items.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace blt::data {

// blt-tokenizer beside the running blt; fails naming the path and the build target if missing.
std::string tokenizer_program();

// `blt-tokenizer train SHARDS --vocab V --sample-mb M --out MODEL`. Appends the tool's output
// to `log`; fails naming it if the tool fails (so do the functions below).
void train_tokenizer_model(const std::string& shards, int64_t vocab, int64_t sample_mb, const std::string& model,
                           const std::string& log);

// `blt-tokenizer encode MODEL --train TRAIN [--valid VALID] --out OUT`: token shards in OUT/train
// (and OUT/valid).
void encode_token_shards(const std::string& model, const std::string& train, const std::string& valid,
                         const std::string& out, const std::string& log);

// The ids of each text (no BOS), through `blt-tokenizer encode-texts`; `work_dir` (existing)
// holds the request, the answer and the tool's log.
std::vector<std::vector<int64_t>> encode_texts(const std::string& model, const std::vector<std::string>& texts,
                                               const std::string& work_dir);

}  // namespace blt::data
