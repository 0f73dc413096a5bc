#include "blt/data/loader.h"

#include <nlohmann/json.hpp>

#include "blt/core/error.h"
#include "blt/data/byte_ids.h"

namespace blt::data {

std::string LoaderState::to_json() const {
  return nlohmann::json{{"next_sequence", next_sequence},
                        {"seed", seed},
                        {"seq_len", seq_len},
                        {"shuffle", shuffle},
                        {"corpus_fingerprint", corpus_fingerprint}}
      .dump();
}

LoaderState LoaderState::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    LoaderState s;
    s.next_sequence = j.at("next_sequence").get<uint64_t>();
    s.seed = j.at("seed").get<uint64_t>();
    s.seq_len = j.at("seq_len").get<int64_t>();
    s.shuffle = j.at("shuffle").get<bool>();
    s.corpus_fingerprint = j.at("corpus_fingerprint").get<uint64_t>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail("malformed data loader state: {}", e.what());
  }
}

Loader::Loader(std::shared_ptr<const ShardSet> corpus, LoaderOptions options)
    : options_(options), stream_(std::move(corpus), options.seed, options.shuffle) {
  if (options_.seq_len < 1) fail("loader: seq_len must be >= 1, got {}", options_.seq_len);
  if (options_.batch_size < 1) fail("loader: batch_size must be >= 1, got {}", options_.batch_size);
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size)
    fail("loader: rank {} is not in a world of {}", options_.rank, options_.world_size);
  if (options_.workers < 1 || options_.prefetch < 1) fail("loader: workers and prefetch must be >= 1");
}

Loader::~Loader() { stop_workers(); }

uint64_t Loader::sequences_per_epoch() const {
  // An epoch of T ids holds T - 1 targets, L per sequence.
  const uint64_t targets = stream_.epoch_ids() - 1;
  return (targets + options_.seq_len - 1) / options_.seq_len;
}

bool Loader::exhausted(uint64_t batch_index) const {
  if (options_.repeat) return false;
  const uint64_t step = uint64_t(options_.world_size) * options_.batch_size;
  return base_ + batch_index * step >= sequences_per_epoch();
}

Batch Loader::build(uint64_t batch_index) const {
  const int64_t b = options_.batch_size, L = options_.seq_len;
  const uint64_t first = base_ + (batch_index * options_.world_size + options_.rank) * b;
  auto tokens = torch::empty({b, L + 1}, torch::kLong);
  int64_t* out = tokens.data_ptr<int64_t>();
  const uint64_t limit = options_.repeat ? UINT64_MAX : stream_.epoch_ids();
  for (int64_t row = 0; row < b; ++row, out += L + 1) {
    const uint64_t start = (first + row) * uint64_t(L);
    const uint64_t have = start >= limit ? 0 : std::min<uint64_t>(L + 1, limit - start);
    if (have) stream_.read(start, have, out);
    std::fill(out + have, out + L + 1, kIgnoreId);
  }
  return {tokens, first};
}

void Loader::worker_loop(int worker) {
  try {
    for (uint64_t i = worker;; i += options_.workers) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || i < consumed_ + options_.prefetch; });
        if (stopping_ || exhausted(i)) return;
      }
      Batch batch = build(i);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(i, std::move(batch));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

void Loader::start_workers() {
  stopping_ = false;
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back(&Loader::worker_loop, this, w);
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  ready_.clear();
}

std::optional<Batch> Loader::next() {
  if (exhausted(consumed_)) return std::nullopt;
  if (threads_.empty()) start_workers();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return error_ || ready_.count(consumed_); });
  if (error_) std::rethrow_exception(error_);
  auto node = ready_.extract(consumed_);
  ++consumed_;
  changed_.notify_all();
  return std::move(node.mapped());
}

LoaderState Loader::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  LoaderState s;
  s.next_sequence = base_ + consumed_ * uint64_t(options_.world_size) * options_.batch_size;
  s.seed = options_.seed;
  s.seq_len = options_.seq_len;
  s.shuffle = options_.shuffle;
  s.corpus_fingerprint = stream_.corpus().fingerprint();
  return s;
}

void Loader::restore(const LoaderState& s) {
  const auto& corpus = stream_.corpus();
  if (s.corpus_fingerprint != corpus.fingerprint())
    fail("loader state was saved for other data than '{}' (corpus fingerprint {:#x}, saved {:#x})", corpus.spec(),
         corpus.fingerprint(), s.corpus_fingerprint);
  if (s.seq_len != options_.seq_len)
    fail("loader state was saved with seq_len {}, but data.seq_len is {}", s.seq_len, options_.seq_len);
  if (s.seed != options_.seed) fail("loader state was saved with seed {}, but the seed is {}", s.seed, options_.seed);
  if (s.shuffle != options_.shuffle) fail("loader state was saved with shuffle={}, now shuffle={}", s.shuffle, options_.shuffle);
  stop_workers();
  base_ = s.next_sequence;
  consumed_ = 0;
  error_ = nullptr;
}

}  // namespace blt::data
